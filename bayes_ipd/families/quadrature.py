"""Each trial's own intercept and treatment effect integrated out, by adaptive quadrature.

Leaving trial ``k`` out of a one-stage model sends its own parameters ``u_k = (alpha_k,
theta_k)`` back to their prior or population distribution, so the leave-one-trial-out
predictive density needs, at every posterior draw of the shared parameters,

``p(y_k | shared) = ∫∫ p(y_k | alpha, theta, shared) p(alpha) N(theta | m_k, tau) dalpha dtheta``

with ``m_k = mu + gamma_across'(zbar_k - zbar)`` and ``p(alpha)`` the intercept prior
(stratified intercepts) or ``Normal(alpha_mu, alpha_sd)`` (random intercepts). The
integral is two-dimensional; :class:`TrialDraws` evaluates it by adaptive Gauss-Hermite
quadrature (Liu & Pierce 1994; Pinheiro & Bates 1995): the integrand is centred at its mode
and scaled by its curvature there (a Laplace approximation), then integrated on an
``n x n`` tensor grid of Gauss-Hermite nodes, vectorised over draws. A family supplies only
the numpy log-likelihood of one trial at given ``(alpha, theta)``
(:meth:`bayes_ipd.families.base.Family.trial_loglik`); the gaussian family overrides the
integral with its closed form, and the survival family integrates its trial's baseline-hazard
walk steps out by a Laplace approximation at every quadrature point
(:mod:`bayes_ipd.families.survival_marginal`).

Both coordinates are written ``u = loc + scale * v`` with ``v`` standard normal (a normal
prior or population distribution) or ``v = u`` under a non-normal intercept prior, so that
``tau -> 0`` is exact and the mode search works on comparable scales.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import logsumexp

if TYPE_CHECKING:
    from bayes_ipd.prior_values import Prior

__all__ = ["QUADRATURE_NODES", "LogDensity", "TrialDraws", "adaptive_gauss_hermite", "find_mode"]

QUADRATURE_NODES = 11
"""Gauss-Hermite nodes per dimension (121 evaluations of the trial's log-likelihood)."""

_NEWTON_STEPS = 40
_LOG_2PI = float(np.log(2.0 * np.pi))

LogDensity = Callable[[np.ndarray], np.ndarray]
"""(S, N, 2) points -> (S, N) log density."""


def _standard_normal_logpdf(v: np.ndarray) -> np.ndarray:
    return -0.5 * v**2 - 0.5 * _LOG_2PI


def _derivatives(
    logf: LogDensity, v: np.ndarray, step: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value, gradient (S, 2) and Hessian (S, 2, 2) of ``logf`` at (S, 2) points by central
    differences with per-draw, per-coordinate steps (S, 2)."""
    e0 = np.stack([step[:, 0], np.zeros_like(step[:, 0])], axis=1)
    e1 = np.stack([np.zeros_like(step[:, 1]), step[:, 1]], axis=1)
    offsets = [0 * e0, e0, -e0, e1, -e1, e0 + e1, e0 - e1, -e0 + e1, -e0 - e1]
    f = logf(np.stack([v + o for o in offsets], axis=1))
    f0, fp0, fm0, fp1, fm1, fpp, fpm, fmp, fmm = (f[:, i] for i in range(9))
    h0, h1 = step[:, 0], step[:, 1]
    grad = np.stack([(fp0 - fm0) / (2 * h0), (fp1 - fm1) / (2 * h1)], axis=1)
    d00 = (fp0 - 2 * f0 + fm0) / h0**2
    d11 = (fp1 - 2 * f0 + fm1) / h1**2
    d01 = (fpp - fpm - fmp + fmm) / (4 * h0 * h1)
    hess = np.stack([np.stack([d00, d01], -1), np.stack([d01, d11], -1)], -2)
    return f0, grad, hess


def _curvature(hess: np.ndarray) -> np.ndarray:
    """``-hess`` made positive definite (eigenvalues floored), (S, 2, 2)."""
    w, q = np.linalg.eigh(-hess)
    floor = np.maximum(np.abs(w).max(axis=1, keepdims=True) * 1e-10, 1e-12)
    w = np.where(np.isfinite(w), np.maximum(w, floor), 1.0)
    return np.einsum("sij,sj,skj->sik", q, w, q)


def find_mode(logf: LogDensity, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mode (S, 2) of a log density and its curvature ``-H`` there (S, 2, 2).

    Damped Newton with finite-difference derivatives, vectorised over draws; the
    differencing step follows the current curvature (a thousandth of the local SD), so
    that a sharply peaked integrand is differenced on its own scale. A step that lowers the
    density is halved (up to 30 times).
    """
    v = np.array(start, dtype=np.float64, copy=True)
    step = np.full_like(v, 1e-3)
    f, grad, hess = _derivatives(logf, v, step)
    for _ in range(_NEWTON_STEPS):
        curv = _curvature(hess)
        move = np.linalg.solve(curv, grad[..., None])[..., 0]
        size = np.ones(len(v))
        for _ in range(30):
            trial = v + size[:, None] * move
            ft = logf(trial[:, None, :])[:, 0]
            worse = ~(ft >= f - 1e-12)
            if not worse.any():
                break
            size = np.where(worse, size / 2, size)
        v = np.where(worse[:, None], v, trial)
        sd = np.sqrt(np.diagonal(np.linalg.inv(curv), axis1=1, axis2=2))
        step = np.clip(1e-3 * sd, 1e-9, 1e-2)
        f, grad, hess = _derivatives(logf, v, step)
        scaled = np.abs(move * size[:, None]) / np.maximum(sd, 1e-300)
        if np.all(scaled < 1e-9):
            break
    return v, _curvature(hess)


def adaptive_gauss_hermite(
    logf: LogDensity, start: np.ndarray, nodes: int = QUADRATURE_NODES
) -> np.ndarray:
    """``log ∫∫ exp(logf(v)) dv`` over R², per draw, by adaptive Gauss-Hermite quadrature.

    Parameters
    ----------
    logf : callable
        (S, N, 2) points -> (S, N) log integrand.
    start : numpy.ndarray
        (S, 2) starting points of the mode search.
    nodes : int
        Nodes per dimension.

    Returns
    -------
    numpy.ndarray
        (S,) log integrals.

    Notes
    -----
    With mode ``v*``, ``-H`` the curvature there and ``L`` the Cholesky factor of
    ``(-H)^-1``, ``v = v* + sqrt(2) L x`` gives ``∫ e^f dv = 2 |L| ∫ e^{f(v(x)) + |x|²}
    e^{-|x|²} dx ≈ 2 |L| sum_ij w_i w_j e^{f(v(x_ij)) + |x_ij|²}``; exact for a Gaussian
    integrand at any ``nodes``, and the error falls fast with ``nodes`` for smooth,
    unimodal ones.
    """
    x, w = np.polynomial.hermite.hermgauss(nodes)
    gx = np.stack(np.meshgrid(x, x, indexing="ij"), axis=-1).reshape(-1, 2)  # (N, 2)
    logw = (np.log(w)[:, None] + np.log(w)[None, :]).reshape(-1) + (gx**2).sum(axis=1)
    mode, curv = find_mode(logf, start)
    chol = np.linalg.cholesky(np.linalg.inv(curv))  # (S, 2, 2)
    points = mode[:, None, :] + np.sqrt(2.0) * np.einsum("sij,nj->sni", chol, gx)
    log_det = np.log(np.abs(np.diagonal(chol, axis1=1, axis2=2))).sum(axis=1)
    return np.log(2.0) + log_det + logsumexp(logf(points) + logw[None, :], axis=1)


@dataclass(frozen=True, eq=False)
class TrialDraws:
    """Posterior draws of a fit, with each trial's ``(alpha_k, theta_k)`` distribution.

    Built by :func:`bayes_ipd.checks.loo.trial_draws` (this module sits below the checks,
    in the families, because every family's LOO method takes it); passed to
    :meth:`~bayes_ipd.families.base.Family.marginal_trial_loglik`.

    Attributes
    ----------
    params : xarray.Dataset
        The posterior (every variable; chain-major draws ``S = chains x draws``).
    coef : numpy.ndarray
        (S, K, m) per-trial coefficient draws ``[alpha_k, theta_k, beta_k, gamma_w]``.
    loc, scale : numpy.ndarray
        (S, K, 2) location and scale of ``(alpha_k, theta_k)``: ``(alpha_mu, alpha_sd)`` or
        the intercept prior's, and ``(mu + gamma_across'(zbar_k - zbar), tau)``.
    intercept_prior : Prior or None
        A non-normal stratified intercept prior, used as the intercept's density directly
        (``loc`` 0, ``scale`` 1 then); None when the intercept is normal.
    nodes : int
        Gauss-Hermite nodes per dimension.
    """

    params: Any
    coef: np.ndarray
    loc: np.ndarray
    scale: np.ndarray
    intercept_prior: Prior | None = None
    nodes: int = QUADRATURE_NODES

    @property
    def n_draws(self) -> int:
        """Number of draws S."""
        return int(self.coef.shape[0])

    def to_own(self, trial: int, v: np.ndarray) -> np.ndarray:
        """(S, N, 2) standardised points -> ``(alpha_k, theta_k)`` of trial ``trial``."""
        return self.loc[:, trial, None, :] + self.scale[:, trial, None, :] * v

    def log_base(self, v: np.ndarray) -> np.ndarray:
        """(S, N) log density of the standardised points."""
        theta = _standard_normal_logpdf(v[..., 1])
        if self.intercept_prior is None:
            return theta + _standard_normal_logpdf(v[..., 0])
        return theta + np.asarray(self.intercept_prior.logpdf(v[..., 0]), dtype=np.float64)

    def start(self, trial: int) -> np.ndarray:
        """(S, 2) the draws of ``(alpha_k, theta_k)`` in standardised form (0 where the
        scale is 0)."""
        sc = self.scale[:, trial, :]
        safe = np.where(sc > 0, sc, 1.0)
        return np.where(sc > 0, (self.coef[:, trial, :2] - self.loc[:, trial, :]) / safe, 0.0)

    def integrate(self, trial: int, loglik: LogDensity) -> np.ndarray:
        """(S,) ``log ∫∫ p(y_k | alpha, theta, ...) p(alpha) N(theta | m_k, tau)``.

        ``loglik`` maps (S, N, 2) points ``(alpha_k, theta_k)`` to the trial's (S, N)
        log-likelihood with every other parameter at its draw.
        """

        def logf(v: np.ndarray) -> np.ndarray:
            return loglik(self.to_own(trial, v)) + self.log_base(v)

        return adaptive_gauss_hermite(logf, self.start(trial), self.nodes)
