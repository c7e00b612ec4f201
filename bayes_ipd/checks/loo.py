"""Leave-one-trial-out PSIS-LOO of a one-stage fit, one log-likelihood term per trial.

Two per-trial terms are available. The *conditional* one, computed while sampling, is each
trial's log-likelihood given its own parameters. The *marginal* one integrates each trial's
own intercept and treatment effect out, so that ``p(y_k | y_-k)`` depends on shared
parameters only: in closed form for gaussian, by adaptive Gauss-Hermite quadrature
(:mod:`bayes_ipd.checks.marginal`) for every family that provides a numpy per-trial
log-likelihood (:meth:`~bayes_ipd.families.base.Family.trial_loglik`). The marginal one is
the default wherever the family has it, and :func:`loo_idata` puts it in the
``log_likelihood`` group that :meth:`OneStageResult.to_netcdf` writes, so ``arviz.loo`` on
the saved file gives the same answer as :func:`leave_one_trial_out`.
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayes_ipd.checks.marginal import TrialDraws
from bayes_ipd.conventions import json_ready
from bayes_ipd.families.base import flat_draws
from bayes_ipd.one_stage.draws import coefficient_draws

if TYPE_CHECKING:
    from bayes_ipd.one_stage.result import OneStageResult

__all__ = [
    "PARETO_K_THRESHOLD",
    "LooResult",
    "leave_one_trial_out",
    "loo_idata",
    "marginal_loglik",
    "trial_draws",
]

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


_MARGINAL_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
CONDITIONAL_GROUP = "conditional_log_likelihood"
"""Group of :func:`loo_idata` that keeps the conditional per-trial terms."""


def leave_one_trial_out(result: OneStageResult, marginal: bool | None = None) -> LooResult:
    """Leave-one-trial-out PSIS-LOO, one log-likelihood term per trial.

    Parameters
    ----------
    result : OneStageResult
    marginal : bool, optional
        ``False``: the conditional terms (the ``log_likelihood`` group written while
        sampling), each trial's log-likelihood given its own parameters (``alpha_k``,
        ``theta_k``, ...). ``True``: each trial's log-likelihood with its intercept and
        treatment effect integrated out over their distributions given the other
        parameters (:func:`marginal_loglik`). Default: ``True`` for every family that
        provides the integral (:attr:`Family.supports_marginal_loo`: gaussian, binomial,
        survival and any family with a numpy ``trial_loglik``).

    Returns
    -------
    LooResult
        ``elpd``, ``se``, ``p_loo``, Pareto ``k`` per trial and the trials with
        ``k > 0.7`` (Vehtari, Gelman & Gabry 2017).

    Notes
    -----
    Leaving out trial ``k`` sends its own parameters back to their prior (stratified
    intercepts) or population distribution. With the conditional terms, whenever a
    trial's data pin its own parameters down much more tightly than that, the importance
    weights are heavy-tailed and ``k > 0.7`` for most trials: a large ``k`` then says that
    the trial identifies its own parameters, not that it is an outlier. The marginal terms
    integrate ``alpha_k`` and ``theta_k`` out (gaussian exactly, other families by
    adaptive Gauss-Hermite quadrature, :mod:`bayes_ipd.checks.marginal`), so that
    ``p(y_k | y_-k)`` depends on shared parameters only and a large ``k`` marks a trial
    that moves them (e.g. one with a very different effect). Parameters that stay
    trial-specific (per-trial residual SDs, trial-specific covariate effects, random
    interactions, the survival baseline hazard's walk steps) are still conditioned on;
    use ``residual_sd="common"`` and common covariate effects for a clean
    leave-one-trial-out check. For an exact answer for a flagged trial, refit without it.
    """
    if marginal is None:
        marginal = result.built.design.plugin.supports_marginal_loo
    if marginal:
        idata = az.InferenceData(
            posterior=result.idata.posterior,
            log_likelihood=marginal_loglik(result).to_dataset(name="trial"),
        )
    else:
        idata = result.idata
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


def trial_draws(result: OneStageResult) -> TrialDraws:
    """The posterior draws with each trial's ``(alpha_k, theta_k)`` distribution.

    ``theta_k ~ Normal(mu + gamma_across'(zbar_k - zbar), tau)``; ``alpha_k ~
    Normal(alpha_mu, alpha_sd)`` (random intercepts) or its prior (stratified), used as a
    density of its own when it is not normal.
    """
    built = result.built
    design = built.design
    post = result.idata.posterior
    coef = coefficient_draws(result)
    s, k = coef.shape[0], design.k
    t_loc = np.repeat(flat_draws(post["mu"])[:, None], k, axis=1)
    if design.interaction_terms:
        t_loc = t_loc + flat_draws(post["gamma_across"], "interaction") @ design.across.T
    t_scale = np.repeat(flat_draws(post["tau"])[:, None], k, axis=1)
    intercept_prior = None
    if built.spec.intercepts == "random":
        a_loc = np.repeat(flat_draws(post["alpha_mu"])[:, None], k, axis=1)
        a_scale = np.repeat(flat_draws(post["alpha_sd"])[:, None], k, axis=1)
    elif built.priors.intercept.dist == "normal":
        mean, sd = built.priors.intercept.params
        a_loc, a_scale = np.full((s, k), mean), np.full((s, k), sd)
    else:
        intercept_prior = built.priors.intercept
        a_loc, a_scale = np.zeros((s, k)), np.ones((s, k))
    return TrialDraws(
        params=post,
        coef=coef,
        loc=np.stack([a_loc, t_loc], axis=2),
        scale=np.stack([a_scale, t_scale], axis=2),
        intercept_prior=intercept_prior,
    )


def marginal_loglik(result: OneStageResult) -> xr.DataArray:
    """Each trial's log-likelihood with ``alpha_k`` and ``theta_k`` integrated out.

    At every posterior draw of the other parameters, ``alpha_k`` is integrated over its
    prior (stratified intercepts) or ``Normal(alpha_mu, alpha_sd)`` (random intercepts)
    and ``theta_k`` over ``Normal(mu + gamma_across'(zbar_k - zbar), tau)``
    (:meth:`Family.marginal_trial_loglik`: closed form for gaussian, adaptive
    Gauss-Hermite quadrature otherwise). Computed once per result.

    Returns
    -------
    xarray.DataArray
        (chain, draw, study), named ``trial``.

    Raises
    ------
    ValueError
        When the family provides no integral (no numpy ``trial_loglik``).
    """
    cached = _MARGINAL_CACHE.get(result)
    if cached is not None:
        return cached
    design = result.built.design
    plugin = design.plugin
    draws = trial_draws(result)
    values = np.column_stack(
        [plugin.marginal_trial_loglik(design, trial, draws) for trial in range(design.k)]
    )
    post = result.idata.posterior
    shape = (post.sizes["chain"], post.sizes["draw"], design.k)
    out = xr.DataArray(
        values.reshape(shape),
        dims=("chain", "draw", "study"),
        coords={
            "chain": post["chain"].values,
            "draw": post["draw"].values,
            "study": list(design.studies),
        },
        name="trial",
        attrs={"method": "marginal"},
    )
    _MARGINAL_CACHE[result] = out
    return out


def loo_idata(result: OneStageResult) -> az.InferenceData:
    """The fit's InferenceData with the default leave-one-trial-out terms as its
    ``log_likelihood`` group (variable ``trial``).

    Where the family has the marginal terms they take the ``log_likelihood`` group and the
    conditional ones move to a ``conditional_log_likelihood`` group, so ``arviz.loo`` on
    the returned (or saved) data gives :func:`leave_one_trial_out`'s default answer.
    """
    idata = result.idata
    if not result.built.design.plugin.supports_marginal_loo:
        return idata
    groups = {g: idata[g] for g in idata.groups() if g != "log_likelihood"}
    if "log_likelihood" in idata.groups():
        groups[CONDITIONAL_GROUP] = idata["log_likelihood"]
    loglik = marginal_loglik(result).to_dataset(name="trial")
    loglik.attrs["trial_terms"] = "marginal: each trial's alpha_k and theta_k integrated out"
    return az.InferenceData(log_likelihood=loglik, **groups)
