"""The estimators behind :mod:`bayes_ipd.two_stage.metareg`, as metafor's ``rma.uni``.

Plain functions of the estimates ``y``, sampling variances ``v`` and design matrix ``x``
(intercept column first): weighted least squares at a given τ², ``tr(P)``, the τ²
estimators (FE, DL, PM, ML, REML), residual I² / H² and the pseudo-R².
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage.estimators import (
    FISHER_MAXITER,
    FISHER_THRESHOLD,
    fisher_scoring,
    paule_mandel_root,
)

__all__ = [
    "EPS",
    "FISHER_THRESHOLD",
    "metareg_tau2",
    "r2_percent",
    "residual_i2_h2",
    "trace_p",
    "wls",
]

EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class WLS:
    beta: np.ndarray
    vb: np.ndarray  # (X'WX)^-1
    w: np.ndarray
    resid: np.ndarray

    @property
    def rss(self) -> float:
        """``sum w r²``: the generalised Q at this τ² (``y'Py``)."""
        return float(np.sum(self.w * self.resid**2))


def wls(y: np.ndarray, v: np.ndarray, x: np.ndarray, tau2: float) -> WLS:
    w = 1.0 / (v + tau2)
    root = np.sqrt(w)
    beta, *_ = np.linalg.lstsq(x * root[:, None], y * root, rcond=None)
    vb = np.linalg.inv(x.T @ (w[:, None] * x))
    return WLS(beta=beta, vb=vb, w=w, resid=y - x @ beta)


def trace_p(v: np.ndarray, x: np.ndarray, tau2: float) -> float:
    """``tr(P)``, ``P = W - W X (X'WX)^-1 X' W``, ``W = diag(1 / (v + tau2))``."""
    w = 1.0 / (v + tau2)
    vb = np.linalg.inv(x.T @ (w[:, None] * x))
    xw2x = x.T @ ((w**2)[:, None] * x)
    return float(np.sum(w) - np.trace(vb @ xw2x))


def metareg_tau2(y: np.ndarray, v: np.ndarray, x: np.ndarray, method: str) -> float:
    """Residual τ² of the meta-regression with design ``x`` by ``method`` (truncated at 0).

    ``"ML"`` and ``"REML"`` use metafor's Fisher scoring (start at the Hedges estimate,
    step-halving at 0, stop when τ² changes by less than ``1e-5``, then the check that
    τ² = 0 has not the larger likelihood), so the results agree with metafor's to the
    decimals it prints; ``"PM"`` is the root of the generalised ``QE(τ²) = k - p`` found as
    metafor's ``uniroot`` finds it (:func:`bayes_ipd.two_stage.rootfinding.brent_zeroin` on
    ``[0, max(100, 10 mad(y)²)]``, doubled while it does not bracket the root).
    """
    k, p = x.shape
    if method == "FE":
        return 0.0
    if method == "DL":
        qe = wls(y, v, x, 0.0).rss
        return max(0.0, (qe - (k - p)) / trace_p(v, x, 0.0))
    if method == "PM":
        return _paule_mandel(y, v, x)
    return fisher_scoring(y, v, x, method, lambda: _not_converged(method, k, p))


def _not_converged(method: str, k: int, p: int) -> float:
    raise PoolingError(
        f"{method}: the Fisher scoring for tau2 did not converge in {FISHER_MAXITER} "
        f"iterations (k = {k}, p = {p})"
    )


def _paule_mandel(y: np.ndarray, v: np.ndarray, x: np.ndarray) -> float:
    k, p = x.shape
    return paule_mandel_root(
        lambda t: wls(y, v, x, t).rss - (k - p),
        y,
        lambda upper: f"PM: no root of QE(tau2) = k - p found in [0, {upper:g}]",
    )


def residual_i2_h2(
    method: str, tau2: float, qe: float, df: int, trace_p0: float
) -> tuple[float, float]:
    if method == "FE":
        return (max(0.0, 100.0 * (qe - df) / qe) if qe > 0 else 0.0), qe / df
    vt = df / trace_p0  # typical within-trial variance (metafor i2def "1")
    return 100.0 * tau2 / (vt + tau2), tau2 / vt + 1.0


def r2_percent(y: np.ndarray, v: np.ndarray, x: np.ndarray, method: str, tau2: float) -> float:
    """Pseudo-R² in percent, as metafor's default (``r2def = "1"``)."""
    if method == "FE":
        return _weighted_adjusted_r2(y, 1.0 / v, x)
    tau2_re = metareg_tau2(y, v, np.ones((len(y), 1)), method)
    if tau2_re <= 0.0:
        return 0.0
    return max(0.0, 100.0 * (tau2_re - tau2) / tau2_re)


def _weighted_adjusted_r2(y: np.ndarray, w: np.ndarray, x: np.ndarray) -> float:
    """``max(0, 100 * adj. R²)`` of the weighted linear model (R's ``lm(weights=)``)."""
    k, p = x.shape
    if np.ptp(y) == 0:
        return 0.0
    fit = wls(y, 1.0 / w, x, 0.0)
    centred = y - np.sum(w * y) / np.sum(w)
    r2 = 1.0 - fit.rss / float(np.sum(w * centred**2))
    return max(0.0, 100.0 * (1.0 - (1.0 - r2) * (k - 1) / (k - p)))
