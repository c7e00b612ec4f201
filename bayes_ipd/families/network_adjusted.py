"""Covariate-adjusted two-stage network stage one for the closed-form families.

Without covariates the binomial, gaussian and poisson factor regressions are saturated and
their contrasts closed forms of per-arm sums (:mod:`bayes_ipd.families.network_contrasts`).
With covariates (:class:`~bayes_ipd.families.network_contrasts.TrialCovariates`, centred at
the trial's means) they are the families' own stage-one regressions (the models and checks
of ``Family.fit_trial``: statsmodels binomial ``GLM``, ``OLS``, Poisson ``GLM`` with a
log-exposure offset) on :func:`~bayes_ipd.families.network_contrasts.adjusted_columns`,
returning the factor's coefficients (then the factor x covariate interactions) and their
inverse-information (OLS: classical) covariance. Arm-level aggregate data cannot be
adjusted; zero-event arms have no continuity correction in a regression with covariates
(the trial is refused with ``sparse=None``, else excluded).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayes_ipd.families.network_contrasts import (
    ExcludedTrial,
    TrialArms,
    TrialCovariates,
    ZeroArms,
    adjusted_columns,
    refuse_or_exclude_eventless,
)
from bayes_ipd.families.regression import (
    Unfittable,
    check_design,
    quietly,
    separable,
    with_intercept,
)

__all__ = ["adjusted_logistic", "adjusted_ols", "adjusted_poisson"]


def _design(trial: TrialArms, covariates: TrialCovariates, min_residual_df: int) -> np.ndarray:
    """The intercept and :func:`adjusted_columns`, checked (full rank); rows only."""
    if trial.aggregate is not None:
        raise ExcludedTrial("arm-level aggregate data: a covariate-adjusted fit needs the rows")
    xi = with_intercept(adjusted_columns(trial, covariates))
    names = [f"column {j}" for j in range(xi.shape[1] - 1)]
    try:
        check_design(xi, ("intercept", *names), min_residual_df=min_residual_df)
    except Unfittable as reason:
        raise ExcludedTrial(f"covariate-adjusted regression: {reason}") from None
    return xi


def _terms(
    fit: Any, trial: TrialArms, covariates: TrialCovariates, model: str
) -> tuple[np.ndarray, np.ndarray, bool]:
    """The factor (and interaction) coefficients after the intercept, and their covariance."""
    k = covariates.terms(len(trial.arms))
    estimate = np.asarray(fit.params, dtype=float)[1 : k + 1]
    cov = np.asarray(fit.cov_params(), dtype=float)[1 : k + 1, 1 : k + 1]
    if not (np.isfinite(estimate).all() and np.isfinite(cov).all()):
        raise ExcludedTrial(f"the {model} gave non-finite estimates")
    return estimate, cov, False


def _refuse_or_exclude_extreme_arms(
    trial: TrialArms, events: np.ndarray, sizes: np.ndarray, sparse: str | None
) -> None:
    """Arms with no events or only events: the trial excluded when every arm is so,
    :class:`ZeroArms` (with the arms' counts) with ``sparse=None``, else excluded (no
    continuity correction applies to a regression with covariates)."""
    extreme = (events == 0) | (events == sizes)
    if extreme.all():
        raise ExcludedTrial("every arm has no events (or only events): no odds ratio is estimable")
    if not extreme.any():
        return
    if sparse is None:
        raise ZeroArms(
            [
                (arm, int(e), int(n))
                for arm, e, n, z in zip(trial.arms, events, sizes, extreme, strict=True)
                if z
            ]
        )
    named = ", ".join(
        f"{label!r} ({int(e)} of {int(n)})"
        for label, e, n, z in zip(trial.labels, events, sizes, extreme, strict=True)
        if z
    )
    raise ExcludedTrial(
        f"arm(s) with no events (or only events): {named}; no continuity correction applies "
        "to a covariate-adjusted regression, so the trial is excluded"
    )


def adjusted_logistic(
    trial: TrialArms, sparse: str | None, covariates: TrialCovariates
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Logistic regression (statsmodels binomial ``GLM``, Newton) of the 0/1 outcome on the
    treatment factor and the centred covariates (R ``glm(y ~ factor(trt) * I(x - mean(x)),
    binomial)``); separation excludes the trial with the reason."""
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    y = trial.responses["outcome"]
    m = len(trial.arms)
    events = np.bincount(trial.arm_index, weights=y, minlength=m)
    sizes = np.bincount(trial.arm_index, minlength=m)
    _refuse_or_exclude_extreme_arms(trial, events, sizes, sparse)
    xi = _design(trial, covariates, 0)
    if separable(np.vstack([xi[y > 0], -xi[y == 0]])):
        raise ExcludedTrial(
            "separation: the covariate-adjusted design predicts the outcome perfectly"
        )
    model = GLM(y, xi, family=families.Binomial())
    try:
        fit = quietly(lambda: model.fit(method="newton", maxiter=100))
    except Unfittable as reason:
        raise ExcludedTrial(str(reason)) from None
    if not fit.mle_retvals.get("converged", False):
        raise ExcludedTrial("the covariate-adjusted logistic regression did not converge")
    return _terms(fit, trial, covariates, "logistic regression")


def adjusted_ols(
    trial: TrialArms, sparse: str | None, covariates: TrialCovariates
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Ordinary least squares (statsmodels ``OLS``, classical covariance) of the outcome on
    the treatment factor and the centred covariates (R ``lm``); ``sparse`` does not apply."""
    from statsmodels.regression.linear_model import OLS

    y = trial.responses["outcome"]
    fit = OLS(y, _design(trial, covariates, 1)).fit()
    if fit.ssr <= 1e-20 * max(float(np.sum(y * y)), 1e-300):
        raise ExcludedTrial("the covariate-adjusted linear regression fits exactly: no residual")
    return _terms(fit, trial, covariates, "linear regression")


def adjusted_poisson(
    trial: TrialArms, sparse: str | None, covariates: TrialCovariates
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Poisson regression (statsmodels ``GLM``, log link, log-exposure offset) of the counts
    on the treatment factor and the centred covariates (R ``glm(..., poisson, offset =
    log(exposure))``)."""
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    y = trial.responses["outcome"]
    exposure = trial.responses.get("time")
    if exposure is None:
        exposure = np.ones_like(y, dtype=np.float64)
    events = np.bincount(trial.arm_index, weights=y, minlength=len(trial.arms))
    refuse_or_exclude_eventless(
        trial, events, sparse, effect="rate ratio", model="a covariate-adjusted regression"
    )
    model = GLM(
        y, _design(trial, covariates, 0), family=families.Poisson(), offset=np.log(exposure)
    )
    try:
        fit = quietly(lambda: model.fit(maxiter=100))
    except Unfittable as reason:
        raise ExcludedTrial(str(reason)) from None
    if not fit.converged:
        raise ExcludedTrial("the covariate-adjusted Poisson regression did not converge")
    return _terms(fit, trial, covariates, "Poisson regression")
