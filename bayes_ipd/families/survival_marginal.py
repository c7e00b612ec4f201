"""A survival trial's likelihood with its baseline hazard's walk steps integrated out.

In the piecewise-exponential model the baseline log hazard of trial ``k`` in interval ``j``
is ``alpha_k + w_kj`` with ``w_k0 = 0`` and ``w_kj = hazard_smoothing * sum_{l<=j} u_kl``,
``u_kl ~ Normal(0, 1)`` (the builder's ``log_hazard_step``; the smoothing is shared by all
trials). Leaving the trial out sends its ``J - 1`` steps back to that prior, so the marginal
leave-one-trial-out term needs, at every point ``(alpha_k, theta_k)`` of the quadrature,

``log ∫ p(y_k | alpha, theta, u, shared) N(u | 0, I) du``.

Per interval the trial's data enter only through its events ``D_j`` and ``A_j = sum_c E_c
exp(alpha + theta t_c + x_c'beta)`` (the expected events at ``w = 0``), so the integrand is
``exp(sum_j D_j w_j - A_j e^{w_j}) N(u | 0, I)`` up to a factor free of ``u``: log-concave
in ``u`` (a concave function of a linear map of ``u`` plus the normal log density). It is
integrated by the Laplace approximation (Tierney & Kadane 1986): Newton's method finds the
mode ``u*`` (vectorised over draws and quadrature points), and

``log ∫ ≈ g(u*) - ½ log det(I + s² L' diag(A e^{w*}) L)``

with ``g`` the log integrand without the normal constant and ``L`` the cumulative-sum map
``u -> w / s``. ``A_j`` is computed from per-(interval, arm) sums that do not depend on
``(alpha, theta)``, so each quadrature point costs O(J) whatever the number of cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from bayes_ipd.families.laplace import newton_mode

__all__ = ["IntervalSums", "interval_sums", "log_integral_over_steps", "steps_marginal_loglik"]

_EXP_MAX = 700.0  # exp() of a larger number overflows float64


@dataclass(frozen=True, eq=False)
class IntervalSums:
    """One trial's cells summed per interval and treatment value, at each draw.

    Attributes
    ----------
    log_exposure : numpy.ndarray
        (S, J, V) ``log sum_c E_c exp(x_c'beta)`` over the cells of interval ``j`` with
        treatment value ``arm_values[v]`` (``-inf`` for none).
    arm_values : numpy.ndarray
        (V,) the distinct treatment values of the trial's cells.
    events : numpy.ndarray
        (J,) events per interval ``D_j``.
    fixed_events : numpy.ndarray
        (S,) ``sum_c d_c x_c'beta``.
    treated_events : float
        ``sum_c d_c t_c``.
    """

    log_exposure: np.ndarray
    arm_values: np.ndarray
    events: np.ndarray
    fixed_events: np.ndarray
    treated_events: float

    @property
    def n_intervals(self) -> int:
        """Number of baseline-hazard intervals J."""
        return int(self.events.size)


def interval_sums(
    fixed: np.ndarray,
    treat: np.ndarray,
    exposure: np.ndarray,
    events: np.ndarray,
    interval: np.ndarray,
    n_intervals: int,
) -> IntervalSums:
    """Per-(interval, arm) sums of a trial's cells (:class:`IntervalSums`).

    Parameters
    ----------
    fixed : numpy.ndarray
        (S, C) each cell's linear predictor without intercept, treatment and hazard walk.
    treat, exposure, events : numpy.ndarray
        (C,) the cells' treatment value, exposure time and events.
    interval : numpy.ndarray
        (C,) the cells' interval index, 0 ... ``n_intervals - 1``.
    n_intervals : int
    """
    arm_values, arm = np.unique(treat, return_inverse=True)
    s = fixed.shape[0]
    log_e = np.full((s, n_intervals, arm_values.size), -np.inf)
    with np.errstate(divide="ignore"):
        terms = np.log(exposure)[None, :] + fixed
    for j in range(n_intervals):
        for v in range(arm_values.size):
            sel = (interval == j) & (arm == v)
            if sel.any():
                log_e[:, j, v] = logsumexp(terms[:, sel], axis=1)
    return IntervalSums(
        log_exposure=log_e,
        arm_values=arm_values.astype(np.float64),
        events=np.bincount(interval, weights=events, minlength=n_intervals).astype(np.float64),
        fixed_events=fixed @ events,
        treated_events=float(treat @ events),
    )


def _walk(u: np.ndarray, smooth: np.ndarray) -> np.ndarray:
    """(..., J) walk ``w`` from (..., J - 1) steps; ``smooth`` broadcast on the last axis."""
    zero = np.zeros((*u.shape[:-1], 1))
    return smooth[..., None] * np.concatenate([zero, np.cumsum(u, axis=-1)], axis=-1)


def _objective(u: np.ndarray, log_a: np.ndarray, d: np.ndarray, smooth: np.ndarray) -> np.ndarray:
    w = _walk(u, smooth)
    mean = np.exp(np.minimum(log_a + w, _EXP_MAX))
    return (d * w - mean).sum(axis=-1) - 0.5 * (u**2).sum(axis=-1)


def _tail_sums(x: np.ndarray) -> np.ndarray:
    """(..., J - 1) ``sum_{j >= l} x_j`` for l = 1 ... J - 1 (the map ``L'``)."""
    return np.cumsum(x[..., :0:-1], axis=-1)[..., ::-1]


def _gradient_and_curvature(
    u: np.ndarray, log_a: np.ndarray, d: np.ndarray, smooth: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient (..., P) and ``-Hessian`` (..., P, P) of :func:`_objective` in ``u``."""
    w = _walk(u, smooth)
    mean = np.exp(np.minimum(log_a + w, _EXP_MAX))
    s = smooth[..., None]
    grad = s * _tail_sums(d - mean) - u
    tail = _tail_sums(mean)  # (L' diag(mean) L)_{lm} = tail[max(l, m)]
    p = u.shape[-1]
    index = np.maximum.outer(np.arange(p), np.arange(p))
    curv = (s[..., None] ** 2) * tail[..., index] + np.eye(p)
    return grad, curv


def log_integral_over_steps(
    log_a: np.ndarray, events: np.ndarray, smooth: np.ndarray
) -> np.ndarray:
    """Laplace approximation of ``log ∫ exp(sum_j D_j w_j - A_j e^{w_j}) N(u | 0, I) du``.

    Parameters
    ----------
    log_a : numpy.ndarray
        (..., J) ``log A_j``, the log expected events per interval at ``w = 0``.
    events : numpy.ndarray
        (J,) events per interval.
    smooth : numpy.ndarray
        (...) the walk's scale (``hazard_smoothing``), broadcast against ``log_a[..., 0]``.

    Returns
    -------
    numpy.ndarray
        (...) log integrals; with one interval (no step) exactly ``-A_0``.
    """
    smooth = np.broadcast_to(np.asarray(smooth, dtype=np.float64), log_a.shape[:-1])
    p = log_a.shape[-1] - 1
    if p == 0:
        return -np.exp(np.minimum(log_a[..., 0], _EXP_MAX))
    u, value = newton_mode(
        lambda x: _objective(x, log_a, events, smooth),
        lambda x: _gradient_and_curvature(x, log_a, events, smooth),
        np.zeros((*log_a.shape[:-1], p)),
    )
    _, curv = _gradient_and_curvature(u, log_a, events, smooth)
    _, log_det = np.linalg.slogdet(curv)
    return value - 0.5 * log_det


def steps_marginal_loglik(sums: IntervalSums, smooth: np.ndarray, own: np.ndarray) -> np.ndarray:
    """(S, N) a trial's log-likelihood at (S, N, 2) points ``(alpha_k, theta_k)`` with its
    walk steps integrated out (:func:`log_integral_over_steps`); ``smooth`` (S,).

    Equals the cell-wise Poisson kernel ``sum_c d_c eta_c - E_c e^{eta_c}`` (no ``d log E``
    constant) integrated over the steps' standard-normal prior.
    """
    alpha, theta = own[..., 0], own[..., 1]
    arms = theta[..., None, None] * sums.arm_values + sums.log_exposure[:, None, :, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_a = alpha[..., None] + logsumexp(arms, axis=-1)  # (S, N, J); -inf: no exposure
    linear = sums.fixed_events[:, None] + alpha * sums.events.sum() + theta * sums.treated_events
    smooth = np.broadcast_to(np.asarray(smooth, dtype=np.float64)[:, None], alpha.shape)
    return linear + log_integral_over_steps(log_a, sums.events, smooth)
