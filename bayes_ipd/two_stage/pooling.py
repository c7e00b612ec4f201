"""Stage two: inverse-variance pooling of per-trial (estimate, SE) pairs.

Estimators of the between-trial variance τ² (all truncated at 0):

* ``"FE"``: common (fixed) effect, τ² = 0;
* ``"DL"``: DerSimonian & Laird (1986), method of moments;
* ``"REML"``: restricted maximum likelihood (root of the REML score equation);
* ``"PM"``: Paule & Mandel (1982), generalised Q equal to its expectation k - 1;
* ``"ML"``: maximum likelihood.

Conventions follow R's ``metafor::rma`` (Viechtbauer 2010), so the results agree with it:
the Wald test uses the normal distribution, or with ``hksj=True`` the Hartung-Knapp-
Sidik-Jonkman variance with a t distribution on k - 1 degrees of freedom (metafor
``test="knha"``, not truncated). Cochran's Q uses the common-effect weights. I² and H² come
from τ² and the typical within-trial variance s² of Higgins & Thompson (2002); for ``"FE"``
they come from Q. The τ² confidence interval is the Q-profile interval (Viechtbauer 2007).
The prediction interval is that of Higgins, Thompson & Spiegelhalter (2009).

The result value, :class:`PooledResult`, and its report live in
:mod:`bayes_ipd.two_stage.pooled_result`; it is re-exported here.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from bayes_ipd.conventions import METHODS
from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage.aggregate import AggregateData, check_scale
from bayes_ipd.two_stage.estimators import (
    generalised_q,
    i2_from_tau2,
    i2_h2,
    qprofile_ci,
    typical_within_variance,
    weighted_mean,
)
from bayes_ipd.two_stage.estimators import tau2 as tau2_by_method
from bayes_ipd.two_stage.pooled_result import TO_DICT_KEYS, PooledResult

__all__ = [
    "METHODS",
    "TO_DICT_KEYS",
    "PooledResult",
    "estimate_tau2",
    "pool",
    "pool_aggregate",
    "tau2_qprofile_ci",
]


def pool(
    estimates: Sequence[float] | np.ndarray,
    ses: Sequence[float] | np.ndarray,
    *,
    method: str = "REML",
    hksj: bool = False,
    studies: Sequence[str] | None = None,
    level: float = 0.95,
    scale: str | None = None,
    convergence: str = "metafor",
) -> PooledResult:
    """Pool per-trial estimates by inverse-variance weighting.

    Parameters
    ----------
    estimates, ses : array_like
        Per-trial estimates and standard errors (positive, finite), in the same order.
    method : {"FE", "DL", "REML", "PM", "ML", "EB", "SJ"}
        τ² estimator (case-insensitive); ``"FE"`` fixes τ² = 0. ``"EB"`` (empirical
        Bayes) solves the PM equation by Fisher scoring; ``"SJ"`` is Sidik-Jonkman's.
    hksj : bool
        Use the Hartung-Knapp-Sidik-Jonkman variance
        ``Σw(y - μ)² / ((k - 1) Σw)`` (not truncated) with a t test on k - 1 df.
    studies : sequence of str, optional
        Trial labels; ``"1"``, ``"2"``, ... when omitted.
    level : float
        Confidence level of all intervals, in (0, 1).
    scale : {"MD", "logOR", "logRR", "logHR", None}
        Effect scale, carried into the result; log-ratio results are also shown
        exponentiated.
    convergence : {"metafor", "exact"}
        Where the iterative τ² estimators (PM, REML, ML, EB) stop: at metafor's absolute
        tolerances (default; figures agree with ``rma`` digit for digit) or at the exact
        root (scale-equivariant; differs from metafor around the fifth significant digit).

    Returns
    -------
    PooledResult

    Raises
    ------
    PoolingError
        No trials; lengths differ; a non-finite estimate or a non-positive / non-finite SE
        (the trial and value are named); an unknown method or scale; a level outside
        (0, 1); ``hksj=True`` with a single trial.

    Notes
    -----
    Small k:

    * k = 1: the estimate and SE are those of the trial; τ² = 0, Q = 0 on 0 df; the Q
      p-value, I², H², the τ² and I² intervals and the prediction interval are NaN.
      HKSJ is refused (it needs at least 2 trials).
    * k = 2: everything is reported except the prediction interval (it needs k ≥ 3).

    For ``"FE"`` the prediction interval is NaN (a common-effect model predicts no
    between-trial spread) and I² = max(0, (Q - df) / Q) · 100, H² = Q / df, as metafor
    reports them. The Q-profile τ² interval does not depend on the estimator and is
    reported for every method, ``"FE"`` included.

    Examples
    --------
    >>> res = pool([0.1, 0.5, 0.9], [0.2, 0.2, 0.2], method="DL", studies=["A", "B", "C"])
    >>> round(res.estimate, 4), round(res.tau2, 4)  # by hand: Q = 8, tau2 = (8 - 2) / 50
    (0.5, 0.12)
    """
    method = _check_method(method)
    y, v, labels = _check_inputs(estimates, ses, studies)
    level = _check_level(level)
    check_scale(scale)
    if hksj and len(y) < 2:
        raise PoolingError("HKSJ needs at least 2 trials; got 1 (pool without HKSJ)")
    if hksj and np.ptp(y) == 0:
        warnings.warn(
            f"HKSJ with {len(y)} identical estimates ({y[0]:g}): the HKSJ standard error is "
            "0, so the interval has zero width and p = 0 (metafor gives the same); the "
            "unadjusted interval (without HKSJ) is the meaningful one here",
            stacklevel=2,
        )
    # one trial goes the same way: τ² = 0, no Q test, heterogeneity and PI undefined (NaN)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = _pooled_values(y, v, labels, method, hksj, level, scale, convergence)
    _check_finite(result, v)
    return result


def pool_aggregate(
    agg: AggregateData, *, method: str = "REML", hksj: bool = False, level: float = 0.95
) -> PooledResult:
    """Pool the included trials of an :class:`AggregateData`.

    Trials carrying an exclusion reason are left out (``agg.n_excluded`` counts them);
    labels and the effect scale are carried into the result. Other arguments as in
    :func:`pool`.

    Raises
    ------
    PoolingError
        Every trial is excluded (the reasons are listed), or as in :func:`pool`.
    """
    kept = agg.included()
    if kept.k == 0:
        reasons = "; ".join(f"{s}: {r}" for s, r in zip(agg.studies, agg.excluded, strict=True))
        raise PoolingError(f"no trial left to pool: every trial is excluded ({reasons})")
    pooled = pool(
        kept.estimate,
        kept.se,
        method=method,
        hksj=hksj,
        studies=kept.studies,
        level=level,
        scale=kept.scale,
    )
    return dataclasses.replace(pooled, term=kept.term)


def tau2_qprofile_ci(
    estimates: Sequence[float] | np.ndarray,
    ses: Sequence[float] | np.ndarray,
    level: float = 0.95,
) -> tuple[float, float]:
    """Q-profile confidence interval of τ² (Viechtbauer 2007).

    The bounds solve ``Q(τ²) = χ²_{k-1}(1 - α/2)`` (lower) and ``Q(τ²) = χ²_{k-1}(α/2)``
    (upper), where ``Q(τ²) = Σ (y - μ̂(τ²))² / (v + τ²)`` is the generalised Q statistic,
    decreasing in τ². A bound whose equation has no non-negative root is 0. The interval
    does not depend on the τ² estimator.

    Returns
    -------
    tuple of float
        ``(low, high)``; ``(nan, nan)`` for a single trial.

    Examples
    --------
    >>> low, high = tau2_qprofile_ci([0.0, 1.0, 2.0], [0.1, 0.1, 0.1])
    >>> low > 0
    True
    """
    y, v, _ = _check_inputs(estimates, ses, None)
    return qprofile_ci(y, v, _check_level(level))


def estimate_tau2(
    estimates: Sequence[float] | np.ndarray,
    ses: Sequence[float] | np.ndarray,
    method: str = "REML",
) -> float:
    """Between-trial variance τ² by one of :data:`METHODS` (0 for a single trial)."""
    y, v, _ = _check_inputs(estimates, ses, None)
    return tau2_by_method(y, v, _check_method(method))


# --- input checks -------------------------------------------------------------------------


def _check_method(method: str) -> str:
    canonical = str(method).upper()
    if canonical not in METHODS:
        raise PoolingError(f"unknown pooling method {method!r}; expected one of {METHODS}")
    return canonical


def _check_level(level: float) -> float:
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise PoolingError(f"level must be in (0, 1), got {level!r}")
    return float(level)


def _check_inputs(
    estimates: Any, ses: Any, studies: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    y = _as_vector(estimates, "estimates")
    se = _as_vector(ses, "ses")
    if len(y) != len(se):
        raise PoolingError(f"{len(y)} estimates but {len(se)} standard errors")
    if len(y) == 0:
        raise PoolingError("no trials to pool (k = 0)")
    labels = _labels(studies, len(y))
    for label, est, s in zip(labels, y, se, strict=True):
        if not np.isfinite(est):
            raise PoolingError(f"trial {label!r}: estimate is {est}; it must be finite")
        if not (np.isfinite(s) and s > 0):
            raise PoolingError(f"trial {label!r}: se is {s}; it must be positive and finite")
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            variance = s * s
            weight = 1.0 / variance
        if variance == 0 or not np.isfinite(weight):
            raise PoolingError(
                f"trial {label!r}: se is {s:g}; its inverse-variance weight 1/se² "
                f"{'divides by zero (se² underflows)' if variance == 0 else 'overflows'}; "
                "rescale the estimates and SEs"
            )
    _check_span(y, se**2, labels)
    return y, se**2, labels


def _check_span(y: np.ndarray, v: np.ndarray, labels: tuple[str, ...]) -> None:
    """Refuse estimates whose differences, or products with the weights, overflow: every
    estimator works on residuals ``y_i - y_j`` weighted by ``1/v``."""
    low, high = int(np.argmin(y)), int(np.argmax(y))
    with np.errstate(over="ignore", invalid="ignore"):
        span = y[high] - y[low]
        weighted = span / float(np.min(v))
    if not (np.isfinite(span) and np.isfinite(weighted)):
        raise PoolingError(
            f"estimates from {y[low]:g} (trial {labels[low]!r}) to {y[high]:g} (trial "
            f"{labels[high]!r}): their difference{'' if np.isfinite(span) else ' overflows'}"
            f"{' times the largest weight 1/se² overflows' if np.isfinite(span) else ''} in "
            "double precision; check these values (or rescale the estimates and SEs)"
        )


def _as_vector(values: Any, name: str) -> np.ndarray:
    try:
        a = np.array(values, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise PoolingError(f"{name} must be numeric: {exc}") from exc
    if a.ndim != 1:
        raise PoolingError(f"{name} must be one-dimensional, got shape {a.shape}")
    return a


def _labels(studies: Sequence[str] | None, k: int) -> tuple[str, ...]:
    if studies is None:
        return tuple(str(i) for i in range(1, k + 1))
    labels = tuple(str(s) for s in studies)
    if len(labels) != k:
        raise PoolingError(f"{len(labels)} study labels for {k} trials")
    if len(set(labels)) != k:
        duplicate = next(s for s in labels if labels.count(s) > 1)
        raise PoolingError(f"study label {duplicate!r} appears more than once")
    return labels


# --- assembling the result ----------------------------------------------------------------


def _wald(estimate: float, se: float, df: float | None, level: float) -> tuple[float, ...]:
    """Statistic, p-value and interval half-width for estimate = 0 (z, or t on ``df``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = float(np.float64(estimate) / np.float64(se))
    dist = stats.norm if df is None else stats.t(df)
    p = float(2.0 * dist.sf(abs(stat))) if not math.isnan(stat) else math.nan
    crit = float(dist.isf((1.0 - level) / 2.0))
    return stat, p, crit * se


def _prediction_interval(
    method: str, estimate: float, se: float, tau2: float, k: int, level: float
) -> tuple[float, float]:
    # Higgins, Thompson & Spiegelhalter 2009, eq. 12: t on k - 2 df, sqrt(tau2 + se²)
    if method == "FE" or k < 3:
        return math.nan, math.nan
    half = float(stats.t.isf((1.0 - level) / 2.0, k - 2)) * math.sqrt(tau2 + se**2)
    return estimate - half, estimate + half


def _check_finite(result: PooledResult, v: np.ndarray) -> None:
    """Refuse a result whose arithmetic overflowed (weights spanning too many orders of
    magnitude), naming the estimator, the data size and the trial with the largest weight."""
    names = ["estimate", "se", "tau2", "q"]
    if result.k > 1:
        names += ["tau2_ci_low", "tau2_ci_high", "i2", "h2"]
    bad = [n for n in names if not math.isfinite(getattr(result, n))]
    if not np.all(np.isfinite(result.weights)):
        bad.append("weights")
    if bad:
        top = int(np.argmin(v))
        raise PoolingError(
            f"pooling by {result.method} (k = {result.k}) overflowed ({', '.join(bad)} not "
            f"finite): trial {result.studies[top]!r} has se {math.sqrt(v[top]):g}, weight "
            f"1/se² = {1.0 / v[top]:g}; rescale the estimates and SEs"
        )


def _pooled_values(
    y: np.ndarray,
    v: np.ndarray,
    labels: tuple[str, ...],
    method: str,
    hksj: bool,
    level: float,
    scale: str | None,
    convergence: str = "metafor",
) -> PooledResult:
    k = len(y)
    tau2 = tau2_by_method(y, v, method, convergence)
    w = 1.0 / (v + tau2)
    estimate = weighted_mean(y, w)
    if hksj:
        # Hartung & Knapp 2001; Sidik & Jonkman 2002 (metafor test="knha", untruncated)
        se = math.sqrt(generalised_q(y, v, tau2) / ((k - 1) * float(np.sum(w))))
        df: float | None = float(k - 1)
    else:
        se = math.sqrt(1.0 / float(np.sum(w)))
        df = None
    stat, p, half = _wald(estimate, se, df, level)
    q = generalised_q(y, v, 0.0)
    s2 = typical_within_variance(v)
    i2, h2 = i2_h2(method, tau2, s2, q, k - 1)
    tau2_low, tau2_high = qprofile_ci(y, v, level)
    pi_low, pi_high = _prediction_interval(method, estimate, se, tau2, k, level)
    return PooledResult(
        method=method,
        hksj=hksj,
        k=k,
        level=level,
        estimate=estimate,
        se=se,
        ci_low=estimate - half,
        ci_high=estimate + half,
        stat=stat,
        p=p,
        dist="t" if hksj else "z",
        df=df,
        tau2=tau2,
        tau2_ci_low=tau2_low,
        tau2_ci_high=tau2_high,
        i2=i2,
        i2_ci_low=i2_from_tau2(tau2_low, s2),
        i2_ci_high=i2_from_tau2(tau2_high, s2),
        h2=h2,
        q=q,
        q_df=k - 1,
        q_p=float(stats.chi2.sf(q, k - 1)) if k > 1 else math.nan,
        pi_low=pi_low,
        pi_high=pi_high,
        studies=labels,
        weights=100.0 * w / np.sum(w),
        scale=scale,
    )
