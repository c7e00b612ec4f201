"""One-stage Bayesian meta-regression on trial-level covariates (moderators of theta_k).

With ``ModelSpec(moderators=("ablat",))`` the trials' effects (IPD and aggregate-data
trials alike) are

``theta_k = mu + sum_j gamma_j (w_kj - wbar_j) + tau z_k``,  ``z_k ~ Normal(0, 1)``

with each moderator centred at its mean over the trials in the model, so ``mu`` is the
pooled effect at the mean moderator values and ``tau`` the residual between-trial SD
(:mod:`bayes_ipd.one_stage.builder`, variable ``gamma_moderator`` [moderator]).

``gamma_j`` is an **across-trial (ecological) association**: trials with a higher ``w``
have a different average effect. It is not a treatment-covariate interaction, which
compares participants within trials (``gamma_within``); trial-level associations can be
confounded by anything else that differs between trials (Berlin et al. 2002, Stat Med
21:371; Riley et al. 2020, BMJ 369:m1235).

This module reads the fitted model: the moderator coefficients' draws, the pooled effect
at given moderator values (:func:`predict_theta`), the text block of the printed summary,
and the forest rows of every trial with its data source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_ipd.draws import chain_draw, posterior_node, quantile_labels
from bayes_ipd.errors import IPDDataError
from bayes_ipd.one_stage.design import ModeratorValues, moderator_arrays
from bayes_ipd.plots.rows import ForestRow

if TYPE_CHECKING:
    from bayes_ipd.one_stage.posterior import Posterior

__all__ = [
    "ECOLOGICAL_NOTE",
    "forest_rows",
    "metareg_lines",
    "moderator_draws",
    "moderator_values",
    "predict_theta",
]

ECOLOGICAL_NOTE = (
    "an across-trial (ecological) association of the trials' effects with trial-level "
    "covariates, not a within-trial treatment-covariate interaction"
)


def moderator_values(result: Posterior) -> ModeratorValues:
    """The fit's moderators, centred across trials (empty without moderators)."""
    return moderator_arrays(result.built.design, result.built.spec.moderators)


def moderator_draws(result: Posterior) -> dict[str, np.ndarray]:
    """``{moderator: (chain, draw) draws of gamma}``; empty without moderators
    (:meth:`Posterior.moderator_draws`)."""
    return result.moderator_draws()


def _value_table(values: Mapping[str, Any] | pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    table = (
        values
        if isinstance(values, pd.DataFrame)
        else pd.DataFrame(
            {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in dict(values).items()}
        )
    )
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise IPDDataError(
            f"predict_theta: no value for moderator {missing[0]!r}; the model's moderators "
            f"are {list(names)}"
        )
    extra = [c for c in table.columns if c not in names]
    if extra:
        raise IPDDataError(
            f"predict_theta: {extra[0]!r} is not a moderator of the model {list(names)}"
        )
    out = table[list(names)].apply(pd.to_numeric, errors="coerce").astype(float)
    if not np.all(np.isfinite(out.to_numpy())):
        raise IPDDataError("predict_theta: every moderator value must be a finite number")
    return out.reset_index(drop=True)


def predict_theta(
    result: Posterior,
    values: Mapping[str, Any] | pd.DataFrame,
    *,
    level: float = 0.95,
    seed: int | None = None,
) -> pd.DataFrame:
    """The pooled treatment effect at given moderator values: mean trial and new trial.

    ``mu + gamma'(w - wbar)`` (the mean effect of trials with moderators ``w``) and, for a
    new trial with those moderators, that plus ``tau z`` with one standard-normal draw per
    posterior draw (seed: the sampler's + 1, as :meth:`Posterior.predict_new_study`).

    Parameters
    ----------
    result : Posterior
        A fit with ``spec.moderators``.
    values : mapping of moderator to value(s), or DataFrame
        Raw (uncentred) values of every moderator, one row per point.
    level : float
        Interval coverage.
    seed : int, optional

    Returns
    -------
    pandas.DataFrame
        One row per point: the moderator values, ``median, <lo>, <hi>`` of the mean-trial
        effect, ``new_<lo>, new_<hi>`` of the new-trial effect and, on a log-ratio scale,
        the same exponentiated (``exp_*``).

    Raises
    ------
    IPDDataError
        A fit without moderators, or a missing, unknown or non-numeric moderator value.
    """
    names = result.built.spec.moderators
    if not names:
        raise IPDDataError("predict_theta needs a fit with moderators (ModelSpec.moderators)")
    table = _value_table(values, names)
    lo, hi = quantile_labels(level)
    centred = table.to_numpy() - moderator_values(result).center
    post = result.idata.posterior
    mu = chain_draw(post["mu"]).ravel()
    tau = chain_draw(post["tau"]).ravel()
    gamma = np.column_stack([d.ravel() for d in moderator_draws(result).values()])
    rng = np.random.default_rng(result.derived_seed("new_study", seed))
    z = rng.standard_normal(mu.shape)
    q = [(1 - level) / 2, 0.5, (1 + level) / 2]
    records = []
    for row, w in zip(table.itertuples(index=False), centred, strict=True):
        mean = mu + gamma @ w
        m_lo, med, m_hi = np.quantile(mean, q)
        n_lo, _, n_hi = np.quantile(mean + tau * z, q)
        rec: dict[str, float] = dict(zip(names, map(float, row), strict=True))
        rec.update({"median": med, lo: m_lo, hi: m_hi, f"new_{lo}": n_lo, f"new_{hi}": n_hi})
        if result.is_ratio:
            for key in ("median", lo, hi, f"new_{lo}", f"new_{hi}"):
                rec[f"exp_{key}"] = math.exp(rec[key])
        records.append(rec)
    return pd.DataFrame.from_records(records)


def metareg_lines(result: Posterior, level: float = 0.95) -> list[str]:
    """The "Meta-regression on trial-level covariates" block of the printed summary."""
    names = result.built.spec.moderators
    if not names:
        return []
    values = moderator_values(result)
    lo, hi = quantile_labels(level)
    k = len(values.ipd) + len(values.ad)
    lines = [
        f"Meta-regression on trial-level covariates (k = {k} trials; {ECOLOGICAL_NOTE}):",
        "  theta_k = mu + sum_j gamma_j (w_kj - mean_j) + tau z_k; mu is the effect at the "
        "mean moderator values",
    ]
    ratio = result.ratio_label if result.is_ratio else None
    for (name, x), centre in zip(moderator_draws(result).items(), values.center, strict=True):
        node = posterior_node(x, level)
        text = (
            f"  gamma {name} (per unit; mean {centre:.4g}): median {node['median']:.4g}, "
            f"{int(level * 100)}% CrI [{node[lo]:.4g}, {node[hi]:.4g}]"
        )
        if ratio:
            text += (
                f"; ratio of {ratio}s per unit {math.exp(node['median']):.4g} "
                f"[{math.exp(node[lo]):.4g}, {math.exp(node[hi]):.4g}]"
            )
        lines.append(text + f", P(gamma < 0) = {float(np.mean(x < 0)):.3f}")
    tau = posterior_node(chain_draw(result.idata.posterior["tau"]), level)
    lines.append(
        f"  residual heterogeneity tau (given the moderators): median {tau['median']:.4g}, "
        f"{int(level * 100)}% CrI [{tau[lo]:.4g}, {tau[hi]:.4g}]"
    )
    lines.append("  Effect at given moderator values: result.predict_theta({name: value})")
    return lines


def forest_rows(result: Posterior, level: float = 0.95) -> list[ForestRow]:
    """Forest rows of a one-stage fit: each trial's shrunken effect with its data source
    (the extra column ``Data``: ``IPD``, ``AD`` or ``AD counts``), then the pooled effect
    and the new-trial (prediction) interval; intervals at ``level``."""
    from bayes_ipd.one_stage.aggregate_trials import trial_effects

    lo, hi = quantile_labels(level)
    design = result.built.design
    n_by_study = dict(zip(design.studies, design.n_arm.sum(axis=1).tolist(), strict=True))
    rows = [
        ForestRow(
            f"{study} (AD)" if rec["source"] != "IPD" else str(study),
            rec["median"],
            rec[lo],
            rec[hi],
            n=n_by_study.get(study) if rec["source"] != "AD" else None,
            extra=(rec["source"],),
            style="shrunken",
        )
        for study, rec in trial_effects(result, level).iterrows()
    ]
    summary = result.summary(level=level)
    pooled = summary.loc["effect"]
    rows.append(ForestRow("Pooled (mu)", pooled["median"], pooled[lo], pooled[hi],
                          extra=("",), style="pooled"))  # fmt: skip
    new = summary.loc["new-trial effect"]
    rows.append(ForestRow("New trial", math.nan, new[lo], new[hi], extra=("",),
                          style="prediction"))  # fmt: skip
    return rows
