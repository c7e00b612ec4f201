"""Leave-one-trial-out PSIS-LOO of a one-stage fit, one log-likelihood term per trial.

Two per-trial terms are available. The *conditional* one, computed while sampling, is each
trial's log-likelihood given its own parameters. The *marginal* one integrates each trial's
own intercept and treatment effect out, so that ``p(y_k | y_-k)`` depends on shared
parameters only: in closed form for gaussian, by adaptive Gauss-Hermite quadrature
(:mod:`bayes_ipd.families.quadrature`) for every family that provides a numpy per-trial
log-likelihood (:meth:`~bayes_ipd.families.base.Family.trial_loglik`). The marginal one is
the default wherever the family has it, and :func:`loo_idata` puts it in the
``log_likelihood`` group that :meth:`OneStageResult.to_netcdf` writes, so ``arviz.loo`` on
the saved file gives the same answer as :func:`leave_one_trial_out`.

Aggregate-data (AD) trials, known by an estimate ``y_k`` and SE ``s_k``, have one term each
too (:func:`aggregate_loglik_terms`): conditional ``log N(y_k; theta_k, s_k²)``, marginal
``log N(y_k; mu + gamma_moderator'(w_k - wbar), s_k² + tau²)`` (theta_k integrated out in
closed form). Their labels join the ``study`` coordinate after the IPD trials'.
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
from scipy import stats

from bayes_ipd.conventions import json_ready
from bayes_ipd.draws import coefficient_draws
from bayes_ipd.families.base import draw_count, flat_draws
from bayes_ipd.families.quadrature import TrialDraws

if TYPE_CHECKING:
    from bayes_ipd.draws import Fit

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
    ad_trials : tuple of str
        The trials among ``pareto_k`` known only by aggregate data (marked ``(AD)``).
    """

    elpd: float
    se: float
    p_loo: float
    pareto_k: pd.Series
    influential: tuple[str, ...]
    threshold: float = PARETO_K_THRESHOLD
    n_draws: int = 0
    method: str = "conditional"
    ad_trials: tuple[str, ...] = ()

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
                "ad_trials": list(self.ad_trials),
            }
        )

    def __str__(self) -> str:
        lines = [
            f"Leave-one-trial-out PSIS-LOO ({len(self.pareto_k)} trials, {self.n_draws} draws, "
            f"{self.method} per-trial log-likelihood)",
            f"elpd_loo = {self.elpd:.2f} (SE {self.se:.2f}), p_loo = {self.p_loo:.2f}",
            "Pareto k by trial:",
        ]
        labels = {s: f"{s} (AD)" if s in self.ad_trials else str(s) for s in self.pareto_k.index}
        width = max(len(v) for v in labels.values())
        for study, k in self.pareto_k.items():
            flag = "  influential" if study in self.influential else ""
            lines.append(f"  {labels[study]:<{width}}  {k:6.3f}{flag}")
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


def leave_one_trial_out(result: Fit, marginal: bool | None = None) -> LooResult:
    """Leave-one-trial-out PSIS-LOO, one log-likelihood term per trial.

    Parameters
    ----------
    result : Fit
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
    adaptive Gauss-Hermite quadrature, :mod:`bayes_ipd.families.quadrature`), so that
    ``p(y_k | y_-k)`` depends on shared parameters only and a large ``k`` marks a trial
    that moves them (e.g. one with a very different effect). Parameters that stay
    trial-specific (per-trial residual SDs, trial-specific covariate effects, random
    interactions) are still conditioned on; the survival baseline hazard's walk steps are
    integrated out too (Laplace, :mod:`bayes_ipd.families.survival_marginal`);
    use ``residual_sd="common"`` and common covariate effects for a clean
    leave-one-trial-out check. For an exact answer for a flagged trial, refit without it.
    """
    if marginal is None:
        marginal = marginal_by_default(result)
    if marginal:
        terms = marginal_loglik(result)
    else:
        terms = conditional_loglik(result)
    idata = az.InferenceData(
        posterior=result.idata.posterior, log_likelihood=terms.to_dataset(name="trial")
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
        ad_trials=_ad_labels(result),
    )


def _ad_labels(result: Fit) -> tuple[str, ...]:
    ad = result.built.design.aggregate
    return () if ad is None else tuple(ad.labels)


def trial_draws(result: Fit) -> TrialDraws:
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
    if built.spec.moderators and k:
        w = design.moderator_values(built.spec.moderators).ipd
        t_loc = t_loc + flat_draws(post["gamma_moderator"], "moderator") @ w.T
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


def marginal_loglik(result: Fit) -> xr.DataArray:
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
    columns = []
    if design.k:
        draws = trial_draws(result)
        columns = [plugin.marginal_trial_loglik(design, t, draws) for t in range(design.k)]
    ad_labels, ad_values = aggregate_loglik_terms(result, marginal=True)
    out = _trial_terms(result, columns, ad_labels, ad_values, "marginal")
    _MARGINAL_CACHE[result] = out
    return out


def _trial_terms(
    result: Fit,
    ipd_columns: list[np.ndarray],
    ad_labels: tuple[str, ...],
    ad_values: np.ndarray,
    method: str,
) -> xr.DataArray:
    """(chain, draw, study) terms: the IPD trials' columns, then the AD trials'."""
    post = result.idata.posterior
    n = post.sizes["chain"] * post.sizes["draw"]
    values = (
        np.column_stack([*ipd_columns, ad_values])
        if ad_labels
        else np.column_stack(ipd_columns or [np.zeros((n, 0))])
    )
    studies = [*result.built.design.studies, *ad_labels]
    return xr.DataArray(
        values.reshape(post.sizes["chain"], post.sizes["draw"], len(studies)),
        dims=("chain", "draw", "study"),
        coords={"chain": post["chain"].values, "draw": post["draw"].values, "study": studies},
        name="trial",
        attrs={"method": method},
    )


def aggregate_loglik_terms(result: Fit, *, marginal: bool) -> tuple[tuple[str, ...], np.ndarray]:
    """Each estimate-and-SE AD trial's log-likelihood term, for every draw.

    Conditional: ``log N(y_k; theta_ad_k, s_k²)``; marginal (``theta_ad_k`` integrated
    out): ``log N(y_k; mu + gamma_moderator'(w_k - wbar), s_k² + tau²)``. Arm-count AD
    trials are trial summaries and have their terms among the IPD trials'.

    Returns
    -------
    tuple
        The AD trial labels and an (S, K_ad) array (S = chains x draws, chain-major);
        empty without such trials.
    """
    built = result.built
    ad = built.design.aggregate
    post = result.idata.posterior
    if ad is None or not ad.k:
        return (), np.zeros((draw_count(post), 0))
    y, se = np.asarray(ad.estimate), np.asarray(ad.se)
    if marginal:
        loc = np.repeat(flat_draws(post["mu"])[:, None], ad.k, axis=1)
        if built.spec.moderators:
            w = built.design.moderator_values(built.spec.moderators).ad
            loc = loc + flat_draws(post["gamma_moderator"], "moderator") @ w.T
        sd = np.sqrt(se[None, :] ** 2 + flat_draws(post["tau"])[:, None] ** 2)
    else:
        loc = flat_draws(post["theta_ad"].sel(ad_study=list(ad.studies)), "ad_study")
        sd = np.broadcast_to(se[None, :], loc.shape)
    return tuple(ad.studies), stats.norm.logpdf(y[None, :], loc, sd)


def conditional_loglik(result: Fit) -> xr.DataArray:
    """Each trial's log-likelihood given its own parameters: the IPD trials' terms
    computed while sampling, then the AD trials' (:func:`aggregate_loglik_terms`)."""
    columns = []
    if result.built.design.k:
        ll = result.idata.log_likelihood["trial"]
        columns = [flat_draws(ll.sel(study=s)) for s in result.built.design.studies]
    ad_labels, ad_values = aggregate_loglik_terms(result, marginal=False)
    return _trial_terms(result, columns, ad_labels, ad_values, "conditional")


def marginal_by_default(result: Fit) -> bool:
    """Whether the fit's default leave-one-trial-out terms are the marginal ones: the family
    integrates its trials' own parameters out (:attr:`Family.supports_marginal_loo`) and
    that integral covers this fit (:meth:`Family.marginal_loo_fits`; not a survival fit
    with a time-varying effect or a spline baseline, nor a fit whose covariates were imputed
    in the model, ``missing="impute"``: the integral covers complete rows only, while the
    conditional terms are the model's own per-trial likelihood of every row)."""
    design = result.built.design
    if getattr(design, "imputation", None) is not None:
        return False
    plugin = design.plugin
    return plugin.supports_marginal_loo and plugin.marginal_loo_fits(result.idata.posterior)


def loo_idata(result: Fit) -> az.InferenceData:
    """The fit's InferenceData with the default leave-one-trial-out terms as its
    ``log_likelihood`` group (variable ``trial``).

    Where the family has the marginal terms they take the ``log_likelihood`` group and the
    conditional ones move to a ``conditional_log_likelihood`` group, so ``arviz.loo`` on
    the returned (or saved) data gives :func:`leave_one_trial_out`'s default answer.
    """
    idata = result.idata
    if not marginal_by_default(result):
        return idata
    groups = {g: idata[g] for g in idata.groups() if g != "log_likelihood"}
    if "log_likelihood" in idata.groups():
        groups[CONDITIONAL_GROUP] = idata["log_likelihood"]
    loglik = marginal_loglik(result).to_dataset(name="trial")
    loglik.attrs["trial_terms"] = "marginal: each trial's alpha_k and theta_k integrated out"
    return az.InferenceData(log_likelihood=loglik, **groups)
