"""One trial's mixed model for repeated measures (MMRM), fitted by REML.

Participant ``i`` has outcome vector ``y_i`` over the visits ``O_i`` it attended and a
baseline design row ``z_i = [1, t_i, x_i']`` (q columns). The mean at visit ``v`` is
``B[v] . z_i``: visit-specific intercepts, treatment effects (treatment x visit) and
covariate effects (covariate x visit). ``y_i ~ N(B_{O_i} z_i, Sigma_{O_i})``, with
``Sigma_{O_i}`` the rows and columns of the visit covariance ``Sigma`` that ``i`` attended,
so missing visits are left out of the likelihood exactly (valid under MAR). Structures of
``Sigma``:

* ``"unstructured"`` — any positive-definite matrix, ``Sigma = L L'`` with ``L``
  lower-triangular and a log diagonal (R ``nlme::gls(..., correlation = corSymm(form =
  ~ vnum | id), weights = varIdent(form = ~ 1 | visit))``);
* ``"cs"`` — compound symmetry, ``s2 [(1 - r) I + r J]`` (``corCompSymm``);
* ``"ar1"`` — first-order autoregressive in the visit's position, ``s2 r^|u - v|``
  (``corAR1(form = ~ vnum | id)``).

The restricted log-likelihood (Harville 1977) is computed from the exact sufficient
statistics of each missing-visit pattern ``P`` (``n_P``, ``Z'Z``, ``Y'Z``, ``Y'Y`` with the
missing cells zero), so the cost does not grow with participants::

    -2 l_R(Sigma) = sum_P n_P log|Sigma_P| + r' V^-1 r + log|X' V^-1 X|   (+ const)

with ``X' V^-1 X = sum_P kron(W_P, Z_P'Z_P)``, ``W_P`` the inverse of ``Sigma_P`` embedded
in V x V. Its exact gradient with respect to ``Sigma`` is ``sum_P [n_P W_P - W_P (R_P + M_P)
W_P]`` (``R_P`` the residual cross-products, ``M_P`` the ``X'V^-1X`` inverse contracted with
``Z_P'Z_P``); BFGS maximises it on the unconstrained parameters, the outcome scaled to unit
SD. The coefficients are the GLS estimate at the REML ``Sigma`` and their covariance
``(X' V^-1 X)^-1``, as ``vcov(gls)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from bayes_ipd.conventions import readonly
from bayes_ipd.errors import PoolingError

__all__ = ["COVARIANCES", "MMRMFit", "PatternStatistics", "fit_mmrm", "pattern_statistics"]

COVARIANCES: dict[str, str] = {
    "unstructured": "unstructured (a variance per visit and a correlation per pair)",
    "cs": "compound symmetry (one variance, one correlation)",
    "ar1": "first-order autoregressive in the visit's position (one variance, r^lag)",
}
"""Residual covariance structures of a participant's visits."""


@dataclass(frozen=True, eq=False)
class PatternStatistics:
    """Exact sufficient statistics of the participants sharing one missing-visit pattern.

    Attributes
    ----------
    observed : ndarray of bool
        (V,) the visits attended.
    n : int
        Participants.
    zz : ndarray
        (q, q) ``Z'Z``.
    yz : ndarray
        (V, q) ``Y'Z`` (missing cells of ``Y`` are 0).
    yy : ndarray
        (V, V) ``Y'Y``.
    """

    observed: np.ndarray
    n: int
    zz: np.ndarray
    yz: np.ndarray
    yy: np.ndarray


def pattern_statistics(y: np.ndarray, z: np.ndarray) -> tuple[PatternStatistics, ...]:
    """Group participants by missing-visit pattern and sum their statistics.

    Parameters
    ----------
    y : ndarray
        (n, V) outcomes, NaN where a visit is missing (every row has one visit at least).
    z : ndarray
        (n, q) baseline design rows.

    Returns
    -------
    tuple of PatternStatistics
    """
    seen = ~np.isnan(y)
    filled = np.where(seen, y, 0.0)
    keys, inverse = np.unique(seen, axis=0, return_inverse=True)
    out = []
    for p, key in enumerate(keys):
        rows = np.asarray(inverse).reshape(-1) == p
        yp, zp = filled[rows], z[rows]
        out.append(
            PatternStatistics(
                observed=readonly(key, np.bool_),
                n=int(rows.sum()),
                zz=readonly(zp.T @ zp),
                yz=readonly(yp.T @ zp),
                yy=readonly(yp.T @ yp),
            )
        )
    return tuple(out)


@dataclass(frozen=True, eq=False)
class MMRMFit:
    """A fitted MMRM of one trial.

    Attributes
    ----------
    terms : tuple of str
        The q columns of the baseline design (``"(Intercept)", "treat", covariates``).
    coef : ndarray
        (V, q) coefficient per visit and term.
    covariance : ndarray
        (V q, V q) covariance of ``coef.ravel()`` (visit-major).
    sigma : ndarray
        (V, V) residual covariance of a participant's visits.
    structure : str
    loglik : float
        Restricted log-likelihood without constants.
    converged : bool
    n : ndarray of int64
        (V,) participants observed at each visit.
    """

    terms: tuple[str, ...]
    coef: np.ndarray
    covariance: np.ndarray
    sigma: np.ndarray
    structure: str
    loglik: float
    converged: bool
    n: np.ndarray

    def term(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """A term's (V,) estimates across visits and their (V, V) covariance."""
        j = self.terms.index(name)
        q = len(self.terms)
        v = self.coef.shape[0]
        index = np.arange(v) * q + j
        return self.coef[:, j].copy(), self.covariance[np.ix_(index, index)].copy()


# ---------------------------------------------------------------- covariance structures


def _n_params(structure: str, d: int) -> int:
    return {"unstructured": d * (d + 1) // 2, "cs": 2 if d > 1 else 1, "ar1": 2 if d > 1 else 1}[
        structure
    ]


def _sigma_and_jacobian(
    theta: np.ndarray, structure: str, d: int, positions: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``Sigma`` (d, d) and ``dSigma / dtheta`` (p, d, d)."""
    if structure == "unstructured":
        rows, cols = np.tril_indices(d)
        lower = np.zeros((d, d))
        lower[rows, cols] = theta
        diag = rows == cols
        lower[rows[diag], cols[diag]] = np.exp(theta[diag])
        jac = np.zeros((theta.size, d, d))
        for p, (a, b) in enumerate(zip(rows, cols, strict=True)):
            unit = np.zeros((d, d))
            unit[a, b] = lower[a, b] if a == b else 1.0
            jac[p] = unit @ lower.T + lower @ unit.T
        return lower @ lower.T, jac
    s2 = math.exp(theta[0])
    if d == 1:
        return np.array([[s2]]), np.array([[[s2]]])
    if structure == "cs":
        low = -1.0 / (d - 1)
        e = special.expit(theta[1])
        r = low + (1.0 - low) * e
        cor = np.full((d, d), r) + (1.0 - r) * np.eye(d)
        dcor = (1.0 - low) * e * (1.0 - e) * (np.ones((d, d)) - np.eye(d))
    else:
        r = math.tanh(theta[1])
        where = np.arange(d) if positions is None else positions
        lag = np.abs(np.subtract.outer(where, where))
        cor = r**lag
        with np.errstate(divide="ignore", invalid="ignore"):
            dcor = np.where(lag > 0, lag * r ** np.maximum(lag - 1, 0), 0.0) * (1.0 - r * r)
    return s2 * cor, np.stack([s2 * cor, s2 * dcor])


def _start(structure: str, d: int, variances: np.ndarray) -> np.ndarray:
    if structure == "unstructured":
        rows, cols = np.tril_indices(d)
        theta = np.zeros(rows.size)
        theta[rows == cols] = 0.5 * np.log(variances)
        return theta
    return np.array([math.log(float(variances.mean()))] + ([0.3] if d > 1 else []))


# ------------------------------------------------------------------ restricted likelihood


@dataclass(frozen=True)
class _GLS:
    value: float  # -2 l_R
    gradient: np.ndarray  # d(-2 l_R) / dSigma
    coef: np.ndarray  # (V, q)
    a_inv: np.ndarray  # (V q, V q)


def _gls(stats: Sequence[PatternStatistics], sigma: np.ndarray, q: int) -> _GLS:
    d = sigma.shape[0]
    a = np.zeros((d * q, d * q))
    b = np.zeros((d, q))
    value = 0.0
    weights = []
    for s in stats:
        m = s.observed
        chol = np.linalg.cholesky(sigma[np.ix_(m, m)])
        w_obs = np.linalg.inv(sigma[np.ix_(m, m)])
        w = np.zeros((d, d))
        w[np.ix_(m, m)] = w_obs
        weights.append(w)
        value += s.n * 2.0 * float(np.log(np.diag(chol)).sum()) + float((w * s.yy).sum())
        a += np.kron(w, s.zz)
        b += w @ s.yz
    a_chol = np.linalg.cholesky(a)
    a_inv = np.linalg.inv(a)
    coef = (a_inv @ b.ravel()).reshape(d, q)
    value += -float(b.ravel() @ coef.ravel()) + 2.0 * float(np.log(np.diag(a_chol)).sum())
    blocks = a_inv.reshape(d, q, d, q)
    grad = np.zeros((d, d))
    for s, w in zip(stats, weights, strict=True):
        cross = coef @ s.yz.T
        resid = s.yy - cross - cross.T + coef @ s.zz @ coef.T
        h = resid + np.einsum("vjuk,jk->vu", blocks, s.zz)
        grad += s.n * w - w @ h @ w
    return _GLS(value, grad, coef, a_inv)


def fit_mmrm(
    y: np.ndarray,
    z: np.ndarray,
    *,
    structure: str = "unstructured",
    terms: Sequence[str] | None = None,
    positions: Sequence[int] | None = None,
) -> MMRMFit:
    """Fit one trial's MMRM by REML (module docstring).

    Parameters
    ----------
    y : ndarray
        (n, V) outcomes per participant and visit, NaN where missing; every participant
        has at least one visit and every visit at least one participant.
    z : ndarray
        (n, q) baseline design rows; the columns must be linearly independent.
    structure : {"unstructured", "cs", "ar1"}
    terms : sequence of str, optional
        Names of z's columns (default ``"z0", "z1", ...``).
    positions : sequence of int, optional
        Each visit's position among all visits (AR(1) lags; default ``0..V-1``): a trial
        without some visit keeps the lags of the full schedule.

    Returns
    -------
    MMRMFit

    Raises
    ------
    PoolingError
        An unknown structure, a visit nobody attended, or a design whose coefficients are
        not estimable.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.repeat([0.0, 1.0], 20)
    >>> y = np.c_[t, 2 * t] + rng.normal(size=(40, 2))
    >>> fit = fit_mmrm(y, np.c_[np.ones(40), t], terms=["(Intercept)", "treat"])
    >>> fit.coef.shape
    (2, 2)
    """
    if structure not in COVARIANCES:
        raise PoolingError(f"covariance {structure!r}: use one of {', '.join(COVARIANCES)}")
    y = np.asarray(y, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    d = y.shape[1]
    q = z.shape[1]
    counts = (~np.isnan(y)).sum(axis=0)
    if (counts == 0).any():
        raise PoolingError(f"visit {int(np.argmin(counts)) + 1} has no observation")
    scale = float(np.nanstd(y)) or 1.0
    stats = pattern_statistics(y / scale, z)
    variances = np.maximum(np.nanvar(y / scale, axis=0), 1e-3)
    per_value = 1.0 / float(counts.sum())  # -2 l_R per observation: tolerances free of n

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            sigma, jac = _sigma_and_jacobian(theta, structure, d, where)
            fit = _gls(stats, sigma, q)
        except np.linalg.LinAlgError:
            return 1e300, np.zeros_like(theta)
        gradient = np.einsum("uv,puv->p", fit.gradient, jac)
        return fit.value * per_value, gradient * per_value

    where = None if positions is None else np.asarray(positions, dtype=np.int64)
    _check_estimable(stats, d, q)
    theta = _start(structure, d, variances)
    for _ in range(3):  # a restart resets BFGS's curvature after a stall (precision loss)
        res = optimize.minimize(
            objective, theta, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 2000}
        )
        theta = res.x
        grad_ok = float(np.abs(objective(theta)[1]).max()) < 1e-6
        if grad_ok:
            break
    sigma, _ = _sigma_and_jacobian(theta, structure, d, where)
    fit = _gls(stats, sigma, q)
    names = tuple(terms) if terms is not None else tuple(f"z{j}" for j in range(q))
    return MMRMFit(
        terms=names,
        coef=readonly(fit.coef * scale),
        covariance=readonly(0.5 * (fit.a_inv + fit.a_inv.T) * scale**2),
        sigma=readonly(sigma * scale**2),
        structure=structure,
        loglik=-0.5 * fit.value,
        converged=bool(grad_ok),
        n=readonly(counts.astype(np.int64)),
    )


def _check_estimable(stats: Sequence[PatternStatistics], d: int, q: int) -> None:
    """Every visit's coefficients need linearly independent design rows among its
    attendees."""
    for v in range(d):
        zz = sum((s.zz for s in stats if s.observed[v]), np.zeros((q, q)))
        if np.linalg.matrix_rank(zz) < q:
            raise PoolingError(
                f"visit {v + 1}: the design's {q} columns are not estimable from the "
                "participants observed there (too few, one arm only, or a constant covariate)"
            )
