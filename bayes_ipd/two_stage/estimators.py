"""Estimators of the between-trial variance τ² and the heterogeneity summaries built on it.

Plain functions of the estimates ``y`` and their within-trial variances ``v`` (numpy
arrays, already checked): DerSimonian-Laird, Paule-Mandel, REML and ML (metafor's
estimating equations), the Q-profile interval for τ², the Higgins-Thompson typical
within-trial variance, I² and H². Nothing here imports a sampler, so the one-stage
parameterisation rule can use :func:`dl_tau2` without loading the two-stage route's
reports.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import optimize, stats

from bayes_ipd.errors import PoolingError

__all__ = [
    "dl_tau2",
    "generalised_q",
    "i2_from_tau2",
    "i2_h2",
    "qprofile_ci",
    "tau2",
    "typical_within_variance",
    "weight_spread",
    "weighted_mean",
    "weighted_residuals",
]

_MAX_DOUBLINGS = 200


def dl_tau2(est: np.ndarray, se: np.ndarray) -> float:
    """DerSimonian-Laird τ² of per-trial effects and SEs (SEs floored at 1e-12).

    Used by the one-stage parameterisation rule on crude per-trial effects.
    """
    se = np.maximum(np.asarray(se, dtype=np.float64), 1e-12)
    y = np.asarray(est, dtype=np.float64)
    return tau2(y, se**2, "DL")


# --- estimators of tau² -------------------------------------------------------------------


def tau2(y: np.ndarray, v: np.ndarray, method: str) -> float:
    """τ² by ``method`` (``FE``: 0; 0 for a single trial)."""
    if len(y) < 2 or method == "FE":
        return 0.0
    estimators: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "DL": _tau2_dl,
        "REML": _tau2_reml,
        "PM": _tau2_pm,
        "ML": _tau2_ml,
    }
    return estimators[method](y, v)


def weighted_mean(y: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean of ``y`` with weights ``w``."""
    return float(np.sum(w * y) / np.sum(w))


def weighted_residuals(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``y - weighted_mean(y, w)``, computed pairwise as ``Σ_j w_j (y_i - y_j) / Σw``.

    Subtracting the mean loses every digit of the residual of a trial whose weight
    dominates; the pairwise form keeps them, so ``w * r`` stays exact when weights span
    many orders of magnitude.
    """
    return np.sum(w[None, :] * (y[:, None] - y[None, :]), axis=1) / np.sum(w)


def weight_spread(w: np.ndarray) -> float:
    """``Σw - Σw²/Σw`` without cancellation: ``Σ_i w_i (Σ_{j≠i} w_j) / Σw``."""
    others = np.sum(w[None, :] * (1.0 - np.eye(len(w))), axis=1)
    return float(np.sum(w * (others / np.sum(w))))


def generalised_q(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """Generalised Cochran Q at ``tau2`` (Q itself at 0)."""
    w = 1.0 / (v + tau2)
    return float(np.sum(w * weighted_residuals(y, w) ** 2))


def _tau2_dl(y: np.ndarray, v: np.ndarray) -> float:
    # DerSimonian & Laird 1986: tau2 = (Q - (k - 1)) / (Σw - Σw²/Σw), truncated at 0
    c = weight_spread(1.0 / v)
    return max(0.0, (generalised_q(y, v, 0.0) - (len(y) - 1)) / c)


def _tau2_pm(y: np.ndarray, v: np.ndarray) -> float:
    # Paule & Mandel 1982: the generalised Q equals its expectation k - 1
    k = len(y)
    return _decreasing_root(lambda t: generalised_q(y, v, t) - (k - 1), v, "PM")


def _reml_score(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    # derivative of the restricted log-likelihood in tau2 (Viechtbauer 2005, eq. 10)
    w = 1.0 / (v + tau2)
    wr = w * weighted_residuals(y, w)
    return float(-weight_spread(w) + np.sum(wr**2)) / 2.0


def _ml_score(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    # derivative of the log-likelihood in tau2 (Viechtbauer 2005, eq. 7)
    w = 1.0 / (v + tau2)
    wr = w * weighted_residuals(y, w)
    return float(-np.sum(w) + np.sum(wr**2)) / 2.0


def _tau2_reml(y: np.ndarray, v: np.ndarray) -> float:
    return _decreasing_root(lambda t: _reml_score(y, v, t), v, "REML")


def _tau2_ml(y: np.ndarray, v: np.ndarray) -> float:
    return _decreasing_root(lambda t: _ml_score(y, v, t), v, "ML")


def _decreasing_root(f: Callable[[float], float], v: np.ndarray, what: str) -> float:
    """Smallest τ² ≥ 0 where ``f`` crosses from positive to non-positive; 0 if f(0) ≤ 0.

    For a likelihood score this is the first local maximum on [0, ∞), the point Fisher
    scoring started at 0 would reach; for a decreasing function it is the unique root.
    ``what`` names the estimator (or interval bound) in error messages.
    """
    where = f"{what} (k = {len(v)} trials, within-trial variances {np.min(v):g} to {np.max(v):g})"

    def checked(t: float) -> float:
        with np.errstate(all="ignore"):
            value = float(f(t))
        if not math.isfinite(value):
            raise PoolingError(
                f"tau2 by {where}: the estimating equation is {value} at tau2 = {t:g}; "
                "the weights 1/se² overflow, rescale the estimates and SEs"
            )
        return value

    if checked(0.0) <= 0:
        return 0.0
    unit = float(np.median(v))
    low, high = 0.0, unit
    for _ in range(_MAX_DOUBLINGS):
        if checked(high) <= 0:
            break
        low, high = high, 2.0 * high
    else:
        raise PoolingError(
            f"no root found for tau2 by {where} in [0, {high:g}]: the estimates may be degenerate"
        )
    return float(optimize.brentq(checked, low, high, xtol=1e-14 * unit, rtol=1e-13, maxiter=500))


def qprofile_ci(y: np.ndarray, v: np.ndarray, level: float) -> tuple[float, float]:
    """Q-profile confidence interval for τ² (Viechtbauer 2007); NaN for k < 2."""
    k = len(y)
    if k < 2:
        return math.nan, math.nan
    alpha = 1.0 - level
    q_for_low = stats.chi2.isf(alpha / 2, k - 1)
    q_for_high = stats.chi2.ppf(alpha / 2, k - 1)
    low = _decreasing_root(lambda t: generalised_q(y, v, t) - q_for_low, v, "Q-profile (lower)")
    high = _decreasing_root(lambda t: generalised_q(y, v, t) - q_for_high, v, "Q-profile (upper)")
    return low, high


# --- heterogeneity summaries --------------------------------------------------------------


def typical_within_variance(v: np.ndarray) -> float:
    """Higgins-Thompson typical within-trial variance s²."""
    # Higgins & Thompson 2002, eq. 9: s² = (k - 1) Σw / ((Σw)² - Σw²)
    #                                   = (k - 1) / (Σw - Σw²/Σw), without cancellation
    k = len(v)
    if k < 2:
        return math.nan
    return (k - 1) / weight_spread(1.0 / v)


def i2_from_tau2(tau2: float, s2: float) -> float:
    """I² (percent) from τ² and the typical within-trial variance."""
    return 100.0 * tau2 / (tau2 + s2)


def i2_h2(method: str, tau2: float, s2: float, q: float, q_df: int) -> tuple[float, float]:
    """I² (percent) and H² as metafor reports them."""
    if q_df < 1:
        return math.nan, math.nan
    if method == "FE":
        # metafor reports I² and H² from Q for a common-effect model
        i2 = 0.0 if q <= q_df else 100.0 * (q - q_df) / q
        return i2, q / q_df
    return i2_from_tau2(tau2, s2), (tau2 + s2) / s2
