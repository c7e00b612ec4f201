"""An ordinal trial's likelihood with its cut-point gaps integrated out.

Trial ``k``'s cut points are ``c_0 = 0``, ``c_i = g_1 + ... + g_i`` (i = 1 ... J - 2) with
gaps ``g_m ~ HalfNormal(5)`` (the builder's ``cutpoint_gap``), trial-specific nuisance
parameters like the survival family's walk steps. Leaving the trial out sends them back to
that prior, so the marginal leave-one-trial-out term needs, at every point ``(alpha_k,
theta_k)`` of the quadrature, ``log ∫ p(y_k | alpha, theta, g, shared) prod_m HN(g_m; 5) dg``.

On ``r = log g`` the integrand is ``exp(l(c(e^r)) + sum_m [log HN(e^{r_m}; 5) + r_m])``
(Jacobian included); it is integrated by the Laplace approximation (Tierney & Kadane 1986),
Newton's method finding the mode ``r*`` with exact derivatives (vectorised over draws and
quadrature points, :func:`bayes_ipd.families.laplace.newton_mode`):

``log ∫ ≈ h(r*) + (P/2) log 2π - ½ log det(-∇²h(r*))``,  ``P = J - 2``.

With J = 2 there is no gap and the result is the cells' log-likelihood itself.
"""

from __future__ import annotations

import numpy as np

from bayes_ipd.families.laplace import newton_mode

__all__ = [
    "counts_eta_derivatives",
    "gaps_marginal_loglik",
    "log_category_probabilities",
    "ordinal_cells_loglik",
]

_LOG_2PI = float(np.log(2.0 * np.pi))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def log_category_probabilities(u: np.ndarray) -> np.ndarray:
    """(..., J) ``log P(Y = j)`` from (..., J - 1) ``u = cuts - eta``, stable in both tails.

    For a middle category with bounds ``a > b``: ``log(F(a) - F(b)) = a + log1mexp(b - a)
    - softplus(a) - softplus(b)``.
    """
    logp = [-_softplus(-u[..., :1])]
    if u.shape[-1] > 1:
        a, b = u[..., 1:], u[..., :-1]
        gap = np.log(-np.expm1(np.minimum(b - a, -1e-300)))
        logp.append(a + gap - _softplus(a) - _softplus(b))
    logp.append(-_softplus(u[..., -1:]))
    return np.concatenate(logp, axis=-1)


def _weighted(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``counts * values`` with 0 wherever the count is 0 (values may be infinite there)."""
    return np.where(counts > 0, counts * np.where(counts > 0, values, 0.0), 0.0)


def counts_eta_derivatives(counts: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivatives in ``eta`` of ``sum_j n_j log P(Y = j)``, ``u = cuts -
    eta`` (..., J - 1), ``counts`` (..., J) (broadcast).

    ``P_j = F(u_j) - F(u_{j-1})`` (``F`` logistic, ``u_{-1} = -inf``, ``u_{J-1} = inf``), so
    ``P_j' = f(u_{j-1}) - f(u_j)`` and ``P_j'' = f'(u_j) - f'(u_{j-1})`` with ``f = F(1 - F)``
    and ``f' = f (1 - 2F)``; the result is ``sum_j n_j P_j' / P_j`` and ``sum_j n_j [P_j'' /
    P_j - (P_j' / P_j)^2]``, the ratios taken on the log scale (stable in the tails).
    """
    logp = log_category_probabilities(u)
    logf = -_softplus(u) - _softplus(-u)
    tail = np.full((*u.shape[:-1], 1), -np.inf)
    zero = np.zeros((*u.shape[:-1], 1))
    up_f, lo_f = np.concatenate([logf, tail], -1), np.concatenate([tail, logf], -1)
    sign = np.tanh(-u / 2)  # 1 - 2F
    up_s, lo_s = np.concatenate([sign, zero], -1), np.concatenate([zero, sign], -1)
    up, lo = np.exp(up_f - logp), np.exp(lo_f - logp)  # f(u_j) / P_j, f(u_{j-1}) / P_j
    first = lo - up
    second = up * up_s - lo * lo_s - first**2
    return _weighted(counts, first).sum(-1), _weighted(counts, second).sum(-1)


def ordinal_cells_loglik(eta: np.ndarray, counts: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """(...) ``sum_c sum_j counts_cj log P(Y = j)``; ``eta`` (..., C), ``counts`` (C, J),
    ``cuts`` (..., J - 1)."""
    logp = log_category_probabilities(cuts[..., None, :] - eta[..., None])
    return _weighted(counts, logp).sum(axis=(-1, -2))


def _cuts(r: np.ndarray) -> np.ndarray:
    zero = np.zeros((*r.shape[:-1], 1))
    return np.concatenate([zero, np.cumsum(np.exp(r), axis=-1)], axis=-1)


def _log_prior(r: np.ndarray, scale: float) -> np.ndarray:
    """``sum_m log HalfNormal(e^{r_m}; scale) + r_m``."""
    g = np.exp(r)
    const = np.log(2.0) - 0.5 * _LOG_2PI - np.log(scale)
    return (const - 0.5 * (g / scale) ** 2 + r).sum(axis=-1)


def _objective(r, eta, counts, scale):
    return ordinal_cells_loglik(eta, counts, _cuts(r)) + _log_prior(r, scale)


def _derivatives(r, eta, counts, scale, floor=True):
    """Gradient (..., P) and ``-Hessian`` (..., P, P) of :func:`_objective` in ``r``."""
    g = np.exp(r)
    u = _cuts(r)[..., None, :] - eta[..., None]  # (..., C, J - 1)
    logp = log_category_probabilities(u)  # (..., C, J)
    logf = -_softplus(u) - _softplus(-u)  # log density of the logistic at u
    f = np.exp(logf)
    fprime = f * np.tanh(-u / 2)  # f (1 - 2F)
    up, lo = counts[:, :-1], counts[:, 1:]  # cut i bounds category i above, i + 1 below
    r_up = _weighted(up, np.exp(-logp[..., :-1]))  # n_i / p_i
    r_lo = _weighted(lo, np.exp(-logp[..., 1:]))  # n_{i+1} / p_{i+1}
    q_up = _weighted(up, np.exp(2 * (logf - logp[..., :-1])))  # n_i f_i² / p_i²
    q_lo = _weighted(lo, np.exp(2 * (logf - logp[..., 1:])))
    grad_c = (f * (r_up - r_lo)).sum(axis=-2)
    diag = (fprime * (r_up - r_lo) - q_up - q_lo).sum(axis=-2)  # (..., J - 1)
    # category i + 1 has bounds c_{i+1} (above) and c_i (below)
    cross = _weighted(
        counts[:, 1:-1],
        np.exp(logf[..., :-1] + logf[..., 1:] - 2 * logp[..., 1:-1]),
    ).sum(axis=-2)  # (..., J - 2): d² l / dc_i dc_{i+1}
    n = diag.shape[-1]
    hess_c = np.zeros((*diag.shape, n))
    idx = np.arange(n)
    hess_c[..., idx, idx] = diag
    hess_c[..., idx[:-1], idx[1:]] = cross
    hess_c[..., idx[1:], idx[:-1]] = cross
    grad_c, hess_c = grad_c[..., 1:], hess_c[..., 1:, 1:]  # c_0 = 0 is fixed
    tri = np.tril(np.ones((n - 1, n - 1)))  # dc/dg
    grad_g = grad_c @ tri
    hess_g = tri.T @ hess_c @ tri
    grad = g * grad_g + 1.0 - (g / scale) ** 2
    hess = g[..., :, None] * g[..., None, :] * hess_g
    hess = hess + np.eye(n - 1) * (g * grad_g - 2 * (g / scale) ** 2)[..., None, :]
    curv = -hess
    if floor:
        w, q = np.linalg.eigh(curv)
        w = np.maximum(w, np.maximum(np.abs(w).max(axis=-1, keepdims=True) * 1e-10, 1e-12))
        curv = np.einsum("...ij,...j,...kj->...ik", q, w, q)
    return grad, curv


def gaps_marginal_loglik(
    eta: np.ndarray, counts: np.ndarray, start: np.ndarray, scale: float
) -> np.ndarray:
    """(...) log-likelihood of a trial's cells with its cut-point gaps integrated out.

    Parameters
    ----------
    eta : numpy.ndarray
        (..., C) each cell's linear predictor (intercept and treatment included).
    counts : numpy.ndarray
        (C, J) participants per cell and category, J >= 3.
    start : numpy.ndarray
        (..., J - 2) log gaps where Newton's method starts (e.g. the drawn ones).
    scale : float
        Scale of the gaps' half-normal prior.

    Returns
    -------
    numpy.ndarray
        Laplace approximation of ``log ∫ p(counts | eta, g) prod_m HN(g_m; scale) dg``.
    """
    start = np.broadcast_to(start, (*eta.shape[:-1], counts.shape[1] - 2))
    with np.errstate(over="ignore", invalid="ignore"):  # a rejected trial step may overflow
        r, value = newton_mode(
            lambda x: _objective(x, eta, counts, scale),
            lambda x: _derivatives(x, eta, counts, scale),
            start,
        )
        _, curv = _derivatives(r, eta, counts, scale, floor=False)
    sign, log_det = np.linalg.slogdet(curv)
    log_det = np.where(sign > 0, log_det, np.inf)
    return value + 0.5 * r.shape[-1] * _LOG_2PI - 0.5 * log_det
