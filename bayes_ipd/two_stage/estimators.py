"""Estimators of the between-trial variance τ² and the heterogeneity summaries built on it.

Plain functions of the estimates ``y`` and their within-trial variances ``v`` (numpy
arrays, already checked): DerSimonian-Laird, Paule-Mandel, REML, ML, empirical Bayes and
Sidik-Jonkman (metafor's estimating equations; PM and EB also with metafor's search and
stopping rule, so that they agree in every printed digit), the Q-profile interval for τ²,
the Higgins-Thompson typical
within-trial variance, I² and H². Nothing here imports a sampler, so the one-stage
parameterisation rule can use :func:`dl_tau2` without loading the two-stage route's
reports.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy import optimize, stats

from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage.rootfinding import R_UNIROOT_TOL, brent_zeroin

__all__ = [
    "CONVERGENCE",
    "dl_tau2",
    "generalised_q",
    "i2_from_tau2",
    "i2_h2",
    "paule_mandel_root",
    "qprofile_ci",
    "tau2",
    "typical_within_variance",
    "weight_spread",
    "weighted_mean",
    "weighted_residuals",
]

_MAX_DOUBLINGS = 200
PM_TAU2_MAX = 100.0
"""metafor's ``control$tau2.max`` (widened to ``10 mad(y)²`` when larger) for Paule-Mandel."""
FISHER_THRESHOLD = 1e-5
"""metafor's ``control$threshold``: Fisher scoring stops when τ² changes by no more."""
FISHER_MAXITER = 100
"""metafor's ``control$maxiter`` for Fisher scoring."""


def dl_tau2(est: np.ndarray, se: np.ndarray) -> float:
    """DerSimonian-Laird τ² of per-trial effects and SEs (SEs floored at 1e-12).

    Used by the one-stage parameterisation rule on crude per-trial effects.
    """
    se = np.maximum(np.asarray(se, dtype=np.float64), 1e-12)
    y = np.asarray(est, dtype=np.float64)
    return tau2(y, se**2, "DL")


# --- estimators of tau² -------------------------------------------------------------------


CONVERGENCE = ("metafor", "exact")
"""How iterative τ² estimators stop: as metafor does (default), or at the exact root."""


def tau2(y: np.ndarray, v: np.ndarray, method: str, convergence: str = "metafor") -> float:
    """τ² by ``method`` (``FE``: 0; 0 for a single trial).

    ``convergence="metafor"`` stops PM, REML, ML and EB where metafor's ``rma`` stops
    (absolute tolerances: uniroot's 1.2e-4 for PM, a Fisher-scoring step of 1e-5 for the
    others), so printed figures agree digit for digit; these tolerances are absolute, so
    on data of a very small scale (within-trial variances far below 1e-4) they are loose,
    as they are in metafor. ``"exact"`` solves each estimating equation to machine
    precision, which is equivariant under any rescaling of the estimates.
    """
    if len(y) < 2 or method == "FE":
        return 0.0
    if convergence == "exact":
        return _exact_tau2(y, v, method)
    if convergence != "metafor":
        raise PoolingError(f"convergence = {convergence!r}; expected one of {CONVERGENCE}")
    estimators: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
        "DL": _tau2_dl,
        "REML": _tau2_reml,
        "PM": _tau2_pm,
        "ML": _tau2_ml,
        "EB": _tau2_eb,
        "SJ": _tau2_sj,
    }
    return estimators[method](y, v)


def _exact_tau2(y: np.ndarray, v: np.ndarray, method: str) -> float:
    """The root of each estimator's equation to machine precision (closed forms as is)."""
    k = len(y)
    equations: dict[str, Callable[[float], float]] = {
        "REML": lambda t: _reml_score(y, v, t),
        "ML": lambda t: _ml_score(y, v, t),
        "PM": lambda t: generalised_q(y, v, t) - (k - 1),
        "EB": lambda t: generalised_q(y, v, t) - (k - 1),
    }
    if method not in equations:
        return tau2(y, v, method)
    return _decreasing_root(equations[method], v, method)


def weighted_mean(y: np.ndarray, w: np.ndarray) -> float:
    """Weighted mean of ``y`` with weights ``w``."""
    return float(np.sum(w * y) / np.sum(w))


def weighted_residuals(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``y - weighted_mean(y, w)``, i.e. ``Σ_j w_j (y_i - y_j) / Σw``, in O(k) memory.

    Subtracting the mean loses every digit of the residual of a trial whose weight
    dominates. Measuring every estimate from that trial's (``d = y - y_top``) keeps them:
    its residual is then ``-Σ_j w_j d_j / Σw``, the pairwise sum itself, so ``w * r`` stays
    exact when weights span many orders of magnitude; no k x k matrix is formed.
    """
    d = y - y[int(np.argmax(w))]
    return d - float(np.sum(w * d)) / float(np.sum(w))


def sum_of_others(a: np.ndarray) -> np.ndarray:
    """``Σ_{j≠i} a_j`` for each ``i`` (non-negative ``a``), without the cancellation of
    ``Σa - a_i``: the sums before and after ``i``, in O(k) memory."""
    before = np.concatenate([[0.0], np.cumsum(a[:-1])])
    after = np.concatenate([np.cumsum(a[::-1][:-1])[::-1], [0.0]])
    return before + after


def weight_spread(w: np.ndarray) -> float:
    """``Σw - Σw²/Σw`` without cancellation: ``Σ_i w_i (Σ_{j≠i} w_j) / Σw``."""
    return float(np.sum(w * (sum_of_others(w) / np.sum(w))))


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
    return paule_mandel_root(
        lambda t: generalised_q(y, v, t) - (k - 1),
        y,
        lambda upper: (
            f"no root found for tau2 by PM (k = {k} trials) in [0, {upper:g}]: "
            "the estimates may be degenerate"
        ),
    )


def paule_mandel_root(
    excess: Callable[[float], float], y: np.ndarray, failure: Callable[[float], str]
) -> float:
    """The Paule-Mandel τ²: the root of ``excess`` (a residual Q less its expectation),
    searched as metafor does, on ``[0, max(100, 10 mad(y)²)]`` with uniroot's tolerance
    (:mod:`~bayes_ipd.two_stage.rootfinding`); 0 when ``excess(0) < 0``.

    Where metafor stops ("tau2.max too low"), the interval is doubled instead; ``failure``
    words the error when no doubling brackets a root. Shared by pooling and
    meta-regression.
    """
    if excess(0.0) < 0:
        return 0.0
    upper = max(PM_TAU2_MAX, 10.0 * _mad(y) ** 2)
    for _ in range(_MAX_DOUBLINGS):
        if excess(upper) <= 0:
            break
        upper *= 2.0
    else:
        raise PoolingError(failure(upper))
    return max(0.0, brent_zeroin(excess, 0.0, upper))


def _mad(y: np.ndarray) -> float:
    """R's ``mad``: the median absolute deviation scaled by 1.4826."""
    return 1.4826 * float(np.median(np.abs(y - np.median(y))))


def _tau2_sj(y: np.ndarray, v: np.ndarray) -> float:
    # Sidik & Jonkman 2005, as metafor: tau0 = var(y) (k-1)/k, tau2 = tau0 Q(tau0) / (k-1)
    k = len(y)
    tau0 = float(np.sum((y - y.mean()) ** 2) / k)
    if tau0 <= 0:
        return 0.0
    return tau0 * generalised_q(y, v, tau0) / (k - 1)


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
    def root() -> float:
        return _decreasing_root(lambda t: _reml_score(y, v, t), v, "REML")

    return fisher_scoring(y, v, _intercept(y), "REML", root)


def _tau2_ml(y: np.ndarray, v: np.ndarray) -> float:
    def root() -> float:
        return _decreasing_root(lambda t: _ml_score(y, v, t), v, "ML")

    return fisher_scoring(y, v, _intercept(y), "ML", root)


def _tau2_eb(y: np.ndarray, v: np.ndarray) -> float:
    # Morris 1983 empirical Bayes: Q(tau2) k/(k-1) = k, the PM equation, solved by scoring
    def equation(t: float) -> float:
        return generalised_q(y, v, t) - (len(y) - 1)

    return fisher_scoring(y, v, _intercept(y), "EB", lambda: _decreasing_root(equation, v, "EB"))


def _intercept(y: np.ndarray) -> np.ndarray:
    return np.ones((len(y), 1))


def projection(v: np.ndarray, x: np.ndarray, tau2: float) -> np.ndarray:
    """``P = W - W X (X'WX)^-1 X'W`` with ``W = diag(1 / (v + tau2))``."""
    w = 1.0 / (v + tau2)
    wx = w[:, None] * x
    return np.diag(w) - wx @ np.linalg.solve(x.T @ wx, wx.T)


def _is_intercept(x: np.ndarray) -> bool:
    """Whether the design is a single column of ones (pooling, not meta-regression)."""
    return x.shape[1] == 1 and bool(np.all(x == 1.0))


def hedges_tau2(y: np.ndarray, v: np.ndarray, x: np.ndarray) -> float:
    """Hedges' estimator (metafor ``"HE"``), the start of metafor's Fisher scoring.

    The residual sum of squares of the unweighted fit on ``x`` less its expectation
    under τ² = 0, over ``k - p``; not truncated.
    """
    k, p = x.shape
    if _is_intercept(x):
        # the hat matrix is 11'/k: residuals from the mean, diagonal 1/k (O(k) memory)
        resid = y - float(np.mean(y))
        return float(resid @ resid - (np.sum(v) - np.sum(v) / k)) / (k - p)
    hat = x @ np.linalg.pinv(x)
    resid = y - hat @ y
    return float(resid @ resid - (np.sum(v) - np.sum(np.diag(hat) * v))) / (k - p)


def scoring_step(y: np.ndarray, v: np.ndarray, x: np.ndarray, tau2: float, method: str) -> float:
    """metafor's Fisher-scoring step for ML, REML or EB (``rma.uni`` with design ``x``).

    With ``w = 1/(v + tau2)`` and ``P`` of :func:`projection`: ML steps by
    ``(y'PPy - Σw) / Σw²``, REML by ``(y'PPy - tr P) / tr PP``, EB by
    ``(y'Py k/(k-p) - k) / Σw``.
    """
    k, p = x.shape
    w = 1.0 / (v + tau2)
    if _is_intercept(x):
        return _pooling_scoring_step(y, w, method)
    proj = projection(v, x, tau2)
    py = proj @ y
    if method == "EB":
        return (float(y @ py) * k / (k - p) - k) / float(np.sum(w))
    yppy = float(py @ py)
    if method == "ML":
        return (yppy - float(np.sum(w))) / float(np.sum(w**2))
    return (yppy - float(np.trace(proj))) / float(np.sum(proj * proj))


def _pooling_scoring_step(y: np.ndarray, w: np.ndarray, method: str) -> float:
    """:func:`scoring_step` for an intercept-only design in O(k) memory.

    There ``P = W - w w'/Σw``, so ``Py = w r`` (``r`` the weighted residuals),
    ``tr P = Σw - Σw²/Σw`` and ``tr PP = Σ_i w_i² (1 - w_i/Σw)² + Σ_i w_i² Σ_{j≠i} w_j² / (Σw)²``,
    each summed without cancellation.
    """
    k = len(y)
    total = float(np.sum(w))
    wr = w * weighted_residuals(y, w)
    if method == "EB":
        return (float(np.sum(wr * wr / w)) * k / (k - 1) - k) / total
    yppy = float(np.sum(wr * wr))
    if method == "ML":
        return (yppy - total) / float(np.sum(w**2))
    w2 = w * w
    trace_pp = float(np.sum(w2 * (sum_of_others(w) / total) ** 2))
    trace_pp += float(np.sum(w2 * sum_of_others(w2))) / total**2
    return (yppy - weight_spread(w)) / trace_pp


def fisher_scoring(
    y: np.ndarray, v: np.ndarray, x: np.ndarray, method: str, fallback: Callable[[], float]
) -> float:
    """τ² of the (meta-regression) model with design ``x`` by metafor's Fisher scoring.

    As ``rma.uni``: start at ``max(0, HE)``; halve a step that would make τ² negative;
    stop when τ² changes by at most :data:`FISHER_THRESHOLD`; for ML and REML, fall back to
    τ² = 0 (with a warning, as metafor) when the log-likelihood is larger there. So ML,
    REML and EB agree with metafor in every digit it prints. Where scoring does not
    converge in :data:`FISHER_MAXITER` steps (metafor stops with an error), ``fallback()``
    is returned (the pooling route: the root of the estimating equation).
    """
    with np.errstate(all="ignore"):
        t = max(0.0, hedges_tau2(y, v, x))
        for _ in range(FISHER_MAXITER):
            step = scoring_step(y, v, x, t, method)
            if not math.isfinite(step):
                break
            while t + step < 0:
                step /= 2.0
            t += step
            if abs(step) <= FISHER_THRESHOLD:
                return _at_least_the_boundary(y, v, x, t, method)
    return fallback()


def _at_least_the_boundary(
    y: np.ndarray, v: np.ndarray, x: np.ndarray, tau2: float, method: str
) -> float:
    """metafor's ``ll0check``: τ² = 0 when its (restricted) log-likelihood is larger."""
    if method == "EB" or tau2 <= FISHER_THRESHOLD:
        return tau2
    if _loglik(y, v, x, 0.0, method) - _loglik(y, v, x, tau2, method) > R_UNIROOT_TOL:
        warnings.warn(
            f"{method}: Fisher scoring may have stopped at a local maximum (tau2 = "
            f"{tau2:g}); the likelihood is larger at tau2 = 0, which is used (as metafor)",
            stacklevel=4,
        )
        return 0.0
    return tau2


def _loglik(y: np.ndarray, v: np.ndarray, x: np.ndarray, tau2: float, method: str) -> float:
    """(Restricted) log-likelihood of the model with design ``x``, constants dropped."""
    w = 1.0 / (v + tau2)
    wx = w[:, None] * x
    xwx = x.T @ wx
    resid = y - x @ np.linalg.solve(xwx, wx.T @ y)
    ll = -0.5 * float(np.sum(np.log(v + tau2))) - 0.5 * float(np.sum(w * resid**2))
    if method == "REML":
        ll -= 0.5 * float(np.linalg.slogdet(xwx)[1])
    return ll


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
