"""What a family's two-stage network stage one receives and returns (``Family.network_contrasts``).

Stage one of the two-stage network meta-analysis
(:mod:`bayes_ipd.two_stage.network_contrasts`) asks each trial's family for its regression
on a treatment factor, the trial's first arm the reference: the contrasts
``arm - reference`` and their within-trial covariance. The family's hook,
:attr:`bayes_ipd.families.base.Family.network_contrasts`, is a :data:`TrialContrastFit`
taking a :class:`TrialArms`, the ``sparse`` option and, optionally, the trial's
:class:`TrialCovariates` (centred at the trial's means; the fit then adjusts for them and
returns the factor x covariate interactions too, :func:`adjusted_columns`; ``None``: the
factor alone, as before); a family without one (``None``) is
refused by name. A trial the family cannot fit raises :class:`ExcludedTrial` (left out,
with the reason) or :class:`ZeroArms` (arms without events and no ``sparse`` option: the
route refuses them together, naming trial and arm).

Saturated factor regressions are closed forms of per-arm sums (:class:`ArmSums`,
:func:`arm_sums`, :func:`independent_arms`); the others (Cox, negative binomial,
proportional odds) fit the factor's coefficients by maximum likelihood.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CONTINUITY",
    "ArmSums",
    "ExcludedTrial",
    "TrialArms",
    "TrialContrastFit",
    "TrialCovariates",
    "ZeroArms",
    "adjusted_columns",
    "arm_sums",
    "factor_columns",
    "independent_arms",
    "refuse_or_exclude_eventless",
]

CONTINUITY = 0.5
"""The continuity correction of ``sparse="cc"``."""


@dataclass(frozen=True)
class TrialArms:
    """One trial's rows: each row's arm (position in ``arms``) and response values by role.

    Attributes
    ----------
    study : str
    arms : tuple of int
        Treatment codes of the trial's arms, in network order (the first is the reference).
    labels : tuple of str
        Their treatment names.
    arm_index : numpy.ndarray
        (n,) each row's arm, a position in ``arms``.
    responses : Mapping[str, numpy.ndarray]
        Response values by role (``outcome``; survival ``time``, ``event``).
    aggregate : Mapping[str, numpy.ndarray] or None
        Arm-level AD sums per arm (``n, total, squares``, poisson ``exposure``, gaussian
        AD-only ``variance``; zero for an arm without AD), added to the rows' sums.
    """

    study: str
    arms: tuple[int, ...]
    labels: tuple[str, ...]
    arm_index: np.ndarray
    responses: Mapping[str, np.ndarray]
    aggregate: Mapping[str, np.ndarray] | None = None

    @property
    def aggregate_only(self) -> bool:
        """Whether the trial has AD arms and no rows."""
        return self.aggregate is not None and self.arm_index.size == 0


@dataclass(frozen=True)
class ArmSums:
    """Per-arm sums of one trial's rows and AD arms (arms in network order)."""

    study: str
    arms: tuple[int, ...]
    labels: tuple[str, ...]
    n: np.ndarray
    total: np.ndarray
    squares: np.ndarray
    arm_variance: np.ndarray | None = None
    """An AD-only gaussian trial: each arm's ``sd^2`` (the variance of its mean is then
    ``sd^2 / n``, R ``escalc(measure = "MD")``, not the pooled OLS one)."""


class ExcludedTrial(Exception):
    """A trial left out of the pooling; the message is the reason."""


class ZeroArms(Exception):
    """Arms with no events (or only events) and no ``sparse`` option chosen."""

    def __init__(self, arms: list[tuple[int, int, int]]) -> None:
        super().__init__("zero-event arms")
        self.arms = arms  # (arm code, events, n)


@dataclass(frozen=True)
class TrialCovariates:
    """One trial's covariates, centred at the trial's means (the third argument of a
    :data:`TrialContrastFit`; ``None`` there: no covariates).

    Attributes
    ----------
    matrix : numpy.ndarray
        (n, p) covariate values of the trial's rows minus the trial's means.
    names : tuple of str
        The p covariate names.
    interacting : tuple of int
        Columns of ``matrix`` that interact with the treatment factor (q of them).
    """

    matrix: np.ndarray
    names: tuple[str, ...]
    interacting: tuple[int, ...] = ()

    def terms(self, arms: int) -> int:
        """The coefficients a fit returns for a trial of ``arms`` arms: ``(arms - 1)(1 + q)``
        (the factor's, then the factor x each interacting covariate)."""
        return (arms - 1) * (1 + len(self.interacting))


TrialContrastFit = Callable[..., tuple[np.ndarray, np.ndarray, bool]]
"""``fit(trial, sparse, covariates=None)``: a trial's rows, the ``sparse`` option and its
:class:`TrialCovariates` (``None``: the factor alone, the saturated regression) ->
contrasts vs its first arm (with covariates: then each interacting covariate's ``arm x
(x - mean)`` coefficients, arm-major within a covariate; see :func:`adjusted_columns`), their
covariance, whether a continuity correction was applied."""


def adjusted_columns(trial: TrialArms, covariates: TrialCovariates | None) -> np.ndarray:
    """Regression columns without the intercept: the treatment factor's ``m - 1``
    indicators, then per interacting covariate the indicators times its centred values,
    then the centred covariates (``None``: the factor's indicators alone). The first
    :meth:`TrialCovariates.terms` coefficients are the ones a fit returns. Raises
    :class:`ExcludedTrial` when the columns and an intercept are not of full rank."""
    factor = factor_columns(trial)
    if covariates is None:
        return factor
    x = covariates.matrix
    products = [factor * x[:, [j]] for j in covariates.interacting]
    columns = np.column_stack([factor, *products, x])
    with_ones = np.column_stack([np.ones(len(columns)), columns])
    if np.linalg.matrix_rank(with_ones) < with_ones.shape[1]:
        raise ExcludedTrial(
            "the covariates (and their interactions with the arms) are collinear with the "
            f"arms or each other in this trial ({', '.join(covariates.names)}): the adjusted "
            "regression is not estimable"
        )
    return columns


def arm_sums(trial: TrialArms) -> ArmSums:
    """Count, total and sum of squares of ``outcome`` per arm, AD arms' sums added."""
    y = trial.responses["outcome"]
    m = len(trial.arms)
    n = np.bincount(trial.arm_index, minlength=m).astype(float)
    total = np.bincount(trial.arm_index, weights=y, minlength=m)
    squares = np.bincount(trial.arm_index, weights=y * y, minlength=m)
    ad = trial.aggregate
    if ad is None:
        return ArmSums(trial.study, trial.arms, trial.labels, n, total, squares)
    variance = ad.get("variance") if trial.aggregate_only else None
    return ArmSums(
        trial.study,
        trial.arms,
        trial.labels,
        n + ad["n"],
        total + ad["total"],
        squares + ad["squares"],
        variance,
    )


def independent_arms(
    arm_estimates: Callable[[ArmSums, str | None], tuple[np.ndarray, np.ndarray, bool]],
    adjusted: TrialContrastFit | None = None,
) -> TrialContrastFit:
    """A trial fit from per-arm estimates and variances (independent arms): contrasts
    ``l_j - l_ref`` with covariance ``v_ref`` off the diagonal and ``v_j + v_ref`` on it;
    with covariates, the family's ``adjusted`` regression (rows only)."""

    def fit(
        trial: TrialArms, sparse: str | None, covariates: TrialCovariates | None = None
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        if covariates is not None and adjusted is not None:
            return adjusted(trial, sparse, covariates)
        estimate, variance, corrected = arm_estimates(arm_sums(trial), sparse)
        contrasts = estimate[1:] - estimate[0]
        cov = np.full((contrasts.size, contrasts.size), variance[0]) + np.diag(variance[1:])
        return contrasts, cov, corrected

    return fit


def factor_columns(trial: TrialArms) -> np.ndarray:
    """(n, m - 1) indicator columns of the non-reference arms (treatment coding)."""
    m = len(trial.arms)
    return (trial.arm_index[:, None] == np.arange(1, m)[None, :]).astype(float)


def refuse_or_exclude_eventless(
    trial: TrialArms, events: np.ndarray, sparse: str | None, *, effect: str, model: str
) -> None:
    """Arms without events where no continuity correction applies: the trial excluded when
    no arm has events, else :class:`ZeroArms` with ``sparse=None`` and
    :class:`ExcludedTrial` naming the arms otherwise (``effect``: ``"hazard ratio"``;
    ``model``: the regression in words, ``"a Cox model"``)."""
    if not events.any():
        raise ExcludedTrial(f"no events in any arm: no {effect} is estimable")
    if not (events == 0).any():
        return
    if sparse is None:
        sizes = np.bincount(trial.arm_index, minlength=len(trial.arms))
        raise ZeroArms(
            [(a, 0, int(n)) for a, e, n in zip(trial.arms, events, sizes, strict=True) if e == 0]
        )
    named = ", ".join(repr(label) for label, e in zip(trial.labels, events, strict=True) if e == 0)
    raise ExcludedTrial(
        f"arm(s) without events: {named}; the log {effect} is not finite and no continuity "
        f"correction applies to {model}, so the trial is excluded"
    )
