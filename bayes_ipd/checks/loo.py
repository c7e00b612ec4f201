"""Leave-one-trial-out PSIS-LOO of a one-stage fit, one log-likelihood term per trial.

Two per-trial terms are available. The *conditional* one, kept in the ``log_likelihood``
group of the fit's InferenceData, is each trial's log-likelihood given its own parameters.
The *marginal* one integrates each trial's own intercept and treatment effect out, so that
``p(y_k | y_-k)`` depends on shared parameters only; the family provides it where it has a
closed form (gaussian) and it is then the default (:func:`leave_one_trial_out`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayes_ipd.conventions import json_ready
from bayes_ipd.one_stage.draws import coefficient_draws

if TYPE_CHECKING:
    from bayes_ipd.one_stage.result import OneStageResult

__all__ = ["PARETO_K_THRESHOLD", "LooResult", "leave_one_trial_out", "marginal_loglik"]

PARETO_K_THRESHOLD = 0.7  # Vehtari, Gelman & Gabry (2017), Stat Comput 27:1413, sec. 2.1


@dataclass(frozen=True, eq=False)
class LooResult:
    """Leave-one-trial-out PSIS-LOO (Vehtari, Gelman & Gabry 2017), one term per trial.

    Attributes
    ----------
    elpd, se, p_loo : float
        Expected log predictive density of a left-out trial (summed over trials), its SE,
        and the effective number of parameters.
    pareto_k : pandas.Series
        Pareto shape estimate per trial (index: trial label).
    influential : tuple of str
        Trials with ``k > threshold``: for them the importance-sampling estimate is not
        reliable, i.e. the posterior moves far when the trial is left out.
    threshold : float
        0.7 (Vehtari et al. 2017).
    n_draws : int
        Posterior draws used.
    method : {"conditional", "marginal"}
        Per-trial log-likelihood given the trial's own parameters, or with its intercept
        and treatment effect integrated out (:meth:`OneStageResult.loo`).
    """

    elpd: float
    se: float
    p_loo: float
    pareto_k: pd.Series
    influential: tuple[str, ...]
    threshold: float = PARETO_K_THRESHOLD
    n_draws: int = 0
    method: str = "conditional"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (NaN as None)."""
        return json_ready(
            {
                "elpd": self.elpd,
                "se": self.se,
                "p_loo": self.p_loo,
                "pareto_k": {str(k): float(v) for k, v in self.pareto_k.items()},
                "influential": list(self.influential),
                "threshold": self.threshold,
                "method": self.method,
            }
        )

    def __str__(self) -> str:
        lines = [
            f"Leave-one-trial-out PSIS-LOO ({len(self.pareto_k)} trials, {self.n_draws} draws, "
            f"{self.method} per-trial log-likelihood)",
            f"elpd_loo = {self.elpd:.2f} (SE {self.se:.2f}), p_loo = {self.p_loo:.2f}",
            "Pareto k by trial:",
        ]
        width = max(len(str(s)) for s in self.pareto_k.index)
        for study, k in self.pareto_k.items():
            flag = "  influential" if study in self.influential else ""
            lines.append(f"  {study!s:<{width}}  {k:6.3f}{flag}")
        if self.influential:
            lines.append(
                f"Influential trial(s) (k > {self.threshold}): {', '.join(self.influential)}. "
                "Leaving such a trial out changes the posterior too much for importance "
                "sampling; refit without it for an exact leave-one-trial-out comparison."
            )
        else:
            lines.append(f"No trial has k > {self.threshold}.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()


def leave_one_trial_out(result: OneStageResult, marginal: bool | None = None) -> LooResult:
    """Leave-one-trial-out PSIS-LOO, one log-likelihood term per trial.

    Parameters
    ----------
    result : OneStageResult
    marginal : bool, optional
        ``False``: the ``log_likelihood`` group of :attr:`idata`, i.e. each trial's
        log-likelihood given its own parameters (``alpha_k``, ``theta_k``, ...).
        ``True`` (gaussian only): each trial's log-likelihood with its intercept and
        treatment effect integrated out over their distributions given the other
        parameters (:func:`gaussian_marginal_loglik`). Default: ``True`` for gaussian
        fits, ``False`` otherwise (see Notes).

    Returns
    -------
    LooResult
        ``elpd``, ``se``, ``p_loo``, Pareto ``k`` per trial and the trials with
        ``k > 0.7`` (Vehtari, Gelman & Gabry 2017).

    Notes
    -----
    Leaving out trial ``k`` sends its own parameters back to their prior (stratified
    intercepts, per-trial SDs) or population distribution. With the conditional terms,
    whenever a trial's data pin its own parameters down much more tightly than that,
    the importance weights are heavy-tailed and ``k > 0.7`` for most trials: a large
    ``k`` then says that the trial identifies its own parameters, not that it is an
    outlier. The marginal terms integrate ``alpha_k`` and ``theta_k`` out exactly, so
    that ``p(y_k | y_-k)`` depends on shared parameters only and a large ``k`` marks a
    trial that moves them (e.g. one with a very different effect). Parameters that stay
    trial-specific (per-trial residual SDs, trial-specific covariate effects, random
    interactions) are still conditioned on; use ``residual_sd="common"`` and common
    covariate effects for a clean leave-one-trial-out check. For an exact answer for
    a flagged trial, refit without it.
    """
    idata = result.idata
    if marginal is None:
        marginal = result.built.design.plugin.marginal_loo
    if marginal:
        loglik = marginal_loglik(result)
        idata = az.InferenceData(
            posterior=result.idata.posterior, log_likelihood=loglik.to_dataset(name="trial")
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = az.loo(idata, pointwise=True, var_name="trial")
    k = res["pareto_k"]
    studies = [str(s) for s in k["study"].values]
    pareto_k = pd.Series(np.asarray(k.values, dtype=float), index=studies, name="pareto_k")
    pareto_k.index.name = "study"
    influential = tuple(s for s, v in pareto_k.items() if v > PARETO_K_THRESHOLD)
    return LooResult(
        elpd=float(res["elpd_loo"]),
        se=float(res["se"]),
        p_loo=float(res["p_loo"]),
        pareto_k=pareto_k,
        influential=influential,
        n_draws=int(res["n_samples"]),
        method="marginal" if marginal else "conditional",
    )


def marginal_loglik(result: OneStageResult) -> xr.DataArray:
    """Each trial's log-likelihood with ``alpha_k`` and ``theta_k`` integrated out.

    Available where the family integrates them in closed form (gaussian: ``alpha_k`` over
    its prior, or ``Normal(alpha_mu, alpha_sd)`` with random intercepts, and ``theta_k``
    over ``Normal(mu + gamma_across'(zbar_k - zbar), tau)``, at every posterior draw of the
    other parameters).

    Returns
    -------
    xarray.DataArray
        (chain, draw, study).
    """
    built = result.built
    design = built.design
    if not design.plugin.marginal_loo:
        raise ValueError(
            f"the marginal per-trial log-likelihood is available for the gaussian family "
            f"only; this fit is {design.family}"
        )
    post = result.idata.posterior
    values = design.plugin.marginal_loglik(
        design, built.spec, built.priors, post, coefficient_draws(result)
    )
    shape = (post.sizes["chain"], post.sizes["draw"], design.k)
    return xr.DataArray(
        values.reshape(shape),
        dims=("chain", "draw", "study"),
        coords={
            "chain": post["chain"].values,
            "draw": post["draw"].values,
            "study": list(design.studies),
        },
        name="trial",
    )
