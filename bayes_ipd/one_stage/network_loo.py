"""Leave-one-trial-out PSIS-LOO of one-stage network models, and their comparison.

Each fit's ``log_likelihood`` group holds one term per trial (variable ``trial``, dim
``study``): the trial's log-likelihood summed exactly from its arm statistics
(:func:`~bayes_ipd.one_stage.network_model.build_network_model`'s ``loglik_trial``), given
the trial's own baseline ``alpha_k`` and random effects ``delta_k`` (the *conditional*
term). ``arviz.loo`` (Pareto-smoothed importance sampling, Vehtari, Gelman & Gabry 2017)
on these terms estimates the expected log predictive density of a left-out **trial**
(``elpd``), its SE and the effective number of parameters ``p_loo``.

Models fitted to the same trials (consistency, unrelated mean effects, node-splits) are
compared by the difference of their pointwise ``elpd`` (model minus consistency) and its SE
``sqrt(K var(diff))`` over the ``K`` trials, as ``arviz.compare`` computes it; a positive
difference favours the other model over consistency.

Leaving a trial out sends its stratified baseline back to its prior and its random
effects to their population distribution. The importance weights of the conditional terms
capture that badly when a trial pins them down (Pareto ``k`` above 0.7 for most trials), so
by default (:func:`loo_terms`) each trial's term is its *marginal* log-likelihood, baseline
and random effects integrated out
(:func:`~bayes_ipd.one_stage.network_marginal.marginal_trial_loglik`; every family with an
arm-level network model, binomial, poisson, gaussian, negative binomial, ordinal and
survival, with a normal intercept prior and no contrast-level aggregate data), which depends
on the shared parameters (and a trial's own nuisance parameter at its draws) only; the
conditional terms remain otherwise. Each trial's ``k`` is kept and
``pareto_k_high`` lists those above 0.7: their terms are unreliable (refit without the
trial for an exact answer).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

__all__ = [
    "LOO_METHOD",
    "MARGINAL_METHOD",
    "PARETO_K_THRESHOLD",
    "loo_comparison",
    "loo_line",
    "loo_table",
    "loo_terms",
    "pointwise_loo",
    "trial_loo",
]

PARETO_K_THRESHOLD = 0.7  # Vehtari, Gelman & Gabry (2017), Stat Comput 27:1413
LOO_METHOD = (
    "leave-one-trial-out PSIS-LOO (arviz.loo), one term per trial: its exact log-likelihood "
    "given its own baseline and random effects (conditional)"
)
MARGINAL_METHOD = (
    "leave-one-trial-out PSIS-LOO (arviz.loo), one term per trial: its exact log-likelihood "
    "with its own baseline and random effects integrated out (marginal; adaptive "
    "Gauss-Hermite)"
)


def loo_terms(built: Any, idata: Any, marginal: bool | None = None) -> tuple[Any, bool]:
    """``(idata, marginal)``: the fit's draws with the per-trial terms LOO should use.

    ``marginal=None`` takes the marginal terms
    (:func:`~bayes_ipd.one_stage.network_marginal.marginal_trial_loglik`) wherever they
    are available (:func:`~bayes_ipd.one_stage.network_marginal.supports_marginal`:
    normal intercept prior, no contrast-level AD), else the conditional ones stored while
    sampling.
    """
    from bayes_ipd.one_stage.network_marginal import marginal_trial_loglik, supports_marginal

    if marginal is None:
        marginal = supports_marginal(built)
    if not marginal:
        return idata, False
    terms = marginal_trial_loglik(built, idata.posterior)
    out = az.InferenceData(posterior=idata.posterior, log_likelihood=terms.to_dataset(name="trial"))
    return out, True


def pointwise_loo(idata: Any) -> Any:
    """``arviz.loo(idata, pointwise=True)`` on the per-trial terms (``var_name="trial"``);
    ArviZ's own warning about large Pareto ``k`` is silenced: the ``k`` are reported."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.loo(idata, pointwise=True, var_name="trial")


def _summary(res: Any) -> dict[str, Any]:
    k = np.asarray(res["pareto_k"].values, dtype=float)
    studies = [str(s) for s in res["pareto_k"]["study"].values]
    return {
        "elpd": float(res["elpd_loo"]),
        "se": float(res["se"]),
        "p_loo": float(res["p_loo"]),
        "pareto_k_max": float(np.max(k)),
        "pareto_k_high": [s for s, v in zip(studies, k, strict=True) if v > PARETO_K_THRESHOLD],
        "pareto_k": dict(zip(studies, k.tolist(), strict=True)),
    }


def trial_loo(idata: Any) -> dict[str, Any]:
    """Leave-one-trial-out PSIS-LOO of one fit.

    Parameters
    ----------
    idata : arviz.InferenceData
        A network fit's draws with the per-trial ``log_likelihood`` group (the conditional
        terms, or the marginal ones of :func:`loo_terms`).

    Returns
    -------
    dict
        ``elpd``, ``se``, ``p_loo``, ``pareto_k_max``, ``pareto_k_high`` (trials with
        ``k > 0.7``) and ``pareto_k`` (by trial).
    """
    return _summary(pointwise_loo(idata))


def _difference(a: Any, b: Any) -> tuple[float, float]:
    """``sum(a_k - b_k)`` and its SE ``sqrt(K var(diff))`` (``arviz.compare``'s ``dse``)."""
    diff = np.asarray(a["loo_i"].values, dtype=float) - np.asarray(b["loo_i"].values, dtype=float)
    return float(diff.sum()), float(np.sqrt(diff.size * np.var(diff)))


def loo_comparison(
    consistency: Any,
    ume: Any | None = None,
    splits: Mapping[str, Any] | None = None,
    marginal: bool = False,
) -> dict[str, Any]:
    """Leave-one-trial-out LOO of the consistency model and, fitted to the same trials, the
    unrelated-mean-effects model and node-split models, each against consistency.

    Parameters
    ----------
    consistency : arviz.InferenceData
        The consistency fit (per-trial ``log_likelihood`` group).
    ume : arviz.InferenceData, optional
        The unrelated-mean-effects fit.
    splits : mapping of comparison label to arviz.InferenceData, optional
        Node-split fits (``"y vs x"``).
    marginal : bool
        Whether the fits' ``log_likelihood`` terms are the marginal ones
        (:func:`loo_terms`); only names the method.

    Returns
    -------
    dict
        ``{"method", "terms", "threshold", "consistency": {...}, "ume": {...}, "elpd_diff",
        "se_diff", "node_split": {label: {...}}}``; each model's entry holds ``elpd, se,
        p_loo, pareto_k_max, pareto_k_high, pareto_k`` and (not consistency) ``elpd_diff,
        se_diff``, its elpd minus the consistency model's (positive favours it). The
        top-level ``elpd_diff, se_diff`` are UME's (only with ``ume``).
    """
    base = pointwise_loo(consistency)

    def entry(idata: Any) -> dict[str, Any]:
        res = pointwise_loo(idata)
        diff, se = _difference(res, base)
        return {**_summary(res), "elpd_diff": diff, "se_diff": se}

    out: dict[str, Any] = {
        "method": MARGINAL_METHOD if marginal else LOO_METHOD,
        "terms": "marginal" if marginal else "conditional",
        "threshold": PARETO_K_THRESHOLD,
        "consistency": _summary(base),
    }
    if ume is not None:
        out["ume"] = entry(ume)
        out["elpd_diff"], out["se_diff"] = out["ume"]["elpd_diff"], out["ume"]["se_diff"]
    if splits:
        out["node_split"] = {label: entry(idata) for label, idata in splits.items()}
    return out


def _models(comparison: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    models = {"consistency": {**comparison["consistency"], "elpd_diff": 0.0, "se_diff": 0.0}}
    if "ume" in comparison:
        models["ume"] = comparison["ume"]
    for label, entry in comparison.get("node_split", {}).items():
        models[f"node split {label}"] = entry
    return models


def loo_table(comparison: Mapping[str, Any]) -> pd.DataFrame:
    """One row per model of :func:`loo_comparison` (consistency, ume, ``node split y vs
    x``): ``elpd, se, p_loo, elpd_diff, se_diff, pareto_k_max, n_pareto_k_high``
    (``elpd_diff`` vs the consistency model)."""
    keys = ("elpd", "se", "p_loo", "elpd_diff", "se_diff", "pareto_k_max")
    rows = {
        name: {**{k: m[k] for k in keys}, "n_pareto_k_high": len(m["pareto_k_high"])}
        for name, m in _models(comparison).items()
    }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "model"
    return frame


def loo_line(comparison: Mapping[str, Any]) -> str:
    """One summary line: elpd of consistency and UME, their difference, Pareto k flags."""
    c, u = comparison["consistency"], comparison.get("ume")
    text = (
        f"leave-one-trial-out LOO ({comparison['terms']} terms): consistency elpd "
        f"{c['elpd']:.1f} (SE {c['se']:.1f})"
    )
    if u is not None:
        text += (
            f", UME {u['elpd']:.1f} (SE {u['se']:.1f}); UME - consistency "
            f"{comparison['elpd_diff']:.1f} (SE {comparison['se_diff']:.1f})"
        )
    high = sorted({s for m in _models(comparison).values() for s in m["pareto_k_high"]})
    if high:
        text += (
            f"; Pareto k > {comparison['threshold']} for {len(high)} trial(s) in some model: "
            "those LOO terms are unreliable"
        )
    return text
