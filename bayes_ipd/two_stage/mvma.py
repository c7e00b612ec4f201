"""Multivariate random-effects meta-analysis of coefficient vectors (REML or ML).

Trial ``k`` reports a vector ``y_k`` (d) with within-trial covariance ``S_k``; the model is
``y_k ~ N(beta, S_k + Psi)`` with between-trial covariance ``Psi``, as R ``mvmeta`` and
``metafor::rma.mv(yi, V, mods = ~ outcome - 1, random = ~ outcome | trial)`` fit it.
Structures of ``Psi``:

* ``"unstructured"`` — any positive semi-definite matrix (``struct = "UN"``),
  parameterised as ``L L'`` with ``L`` lower-triangular;
* ``"diagonal"`` — independent random effects (``struct = "DIAG"``);
* ``"treatment"`` — only the first element (the treatment main effect) random; the
  interactions are common to all trials.

Given ``Psi``, ``beta`` is the generalised-least-squares estimate ``(sum W_k)^{-1} sum W_k
y_k`` with ``W_k = (S_k + Psi)^{-1}``, and its covariance ``(sum W_k)^{-1}``. ``Psi`` maximises
the restricted (REML) or full (ML) log-likelihood

``l(Psi) = -1/2 sum_k [log|S_k + Psi| + r_k' W_k r_k] - 1/2 log|sum W_k| (REML only)``

(Jackson, Riley & White 2011, Stat Med 30:2481, eq. 5), maximised by BFGS on the
unconstrained parameters after rescaling every dimension by its typical within-trial SE.

It sits in the two-stage layer because several analyses pool coefficient vectors with it:
the ITE stage 2 (:mod:`bayes_ipd.ite.stage2`), the two-stage spline effect curve
(:mod:`bayes_ipd.two_stage.splines`) and network meta-analysis. ``bayes_ipd.ite.mvma``
re-exports it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize

from bayes_ipd.conventions import readonly
from bayes_ipd.errors import PoolingError

__all__ = ["STRUCTURES", "MultivariateMA", "mvma", "restricted_loglik"]

STRUCTURES = ("unstructured", "diagonal", "treatment")


@dataclass(frozen=True, eq=False)
class MultivariateMA:
    """A fitted multivariate random-effects meta-analysis.

    Attributes
    ----------
    terms : tuple of str
        Names of the d elements.
    estimate : numpy.ndarray
        (d,) pooled vector ``beta``.
    covariance : numpy.ndarray
        (d, d) its covariance.
    between : numpy.ndarray
        (d, d) between-trial covariance ``Psi``.
    structure, method : str
    k : int
        Trials.
    loglik : float
        Maximised log-likelihood (REML: restricted), without the ``2 pi`` constant.
    converged : bool
    """

    terms: tuple[str, ...]
    estimate: np.ndarray
    covariance: np.ndarray
    between: np.ndarray
    structure: str
    method: str
    k: int
    loglik: float
    converged: bool

    @property
    def se(self) -> np.ndarray:
        """Standard errors of the pooled vector."""
        return np.sqrt(np.diag(self.covariance))

    @property
    def between_sd(self) -> np.ndarray:
        """Between-trial SDs (``sqrt`` of the diagonal of ``Psi``)."""
        return np.sqrt(np.clip(np.diag(self.between), 0.0, None))

    @property
    def between_cor(self) -> np.ndarray:
        """Between-trial correlations (NaN where an SD is 0; 1 on the diagonal)."""
        sd = self.between_sd
        with np.errstate(invalid="ignore", divide="ignore"):
            cor = self.between / np.outer(sd, sd)
        np.fill_diagonal(cor, 1.0)
        return cor

    def to_dict(self) -> dict[str, Any]:
        return {
            "pooled": {
                t: {"estimate": float(e), "se": float(s)}
                for t, e, s in zip(self.terms, self.estimate, self.se, strict=True)
            },
            "between_trial_sd": {
                t: float(s) for t, s in zip(self.terms, self.between_sd, strict=True)
            },
            "between_trial_cor": self.between_cor.tolist(),
        }


def _gls(
    y: np.ndarray, s: np.ndarray, psi: np.ndarray, observed: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """beta, (sum W)^{-1}, W (K, d, d), log|S_k + Psi| (K,) for a given ``Psi``.

    With ``observed`` (K, d) boolean, trial k's missing elements are left out exactly: its
    ``S_k + Psi`` is restricted to the observed rows and columns (the missing ones replaced
    by the identity, so the determinant and inverse are those of the observed block) and
    its weight is zero on them (``y`` must be 0 there)."""
    m = s + psi[None, :, :]
    if observed is not None:
        both = observed[:, :, None] & observed[:, None, :]
        eye = np.eye(m.shape[1], dtype=bool)[None] & ~observed[:, :, None]
        m = np.where(both, m, 0.0) + eye
    chol = np.linalg.cholesky(m)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    w = np.linalg.inv(m)
    if observed is not None:
        w = np.where(both, w, 0.0)
    a = w.sum(axis=0)
    b = np.einsum("kij,kj->i", w, y)
    a_inv = np.linalg.inv(a)
    return a_inv @ b, a_inv, w, logdet


def restricted_loglik(
    y: np.ndarray,
    s: np.ndarray,
    psi: np.ndarray,
    method: str = "REML",
    observed: np.ndarray | None = None,
) -> float:
    """The (restricted) log-likelihood of ``Psi`` (module docstring), ``-inf`` where
    ``S_k + Psi`` is not positive definite; ``observed`` as in :func:`mvma`."""
    try:
        beta, a_inv, w, logdet = _gls(y, s, psi, observed)
    except np.linalg.LinAlgError:
        return -math.inf
    r = y - beta
    if observed is not None:
        r = np.where(observed, r, 0.0)
    value = -0.5 * (logdet.sum() + np.einsum("ki,kij,kj->", r, w, r))
    if method == "REML":
        _, logdet_a_inv = np.linalg.slogdet(a_inv)
        value += 0.5 * logdet_a_inv
    return float(value)


def _n_params(structure: str, d: int) -> int:
    return {"unstructured": d * (d + 1) // 2, "diagonal": d, "treatment": 1}[structure]


def _psi(theta: np.ndarray, structure: str, d: int) -> np.ndarray:
    if structure == "unstructured":
        lower = np.zeros((d, d))
        lower[np.tril_indices(d)] = theta
        return lower @ lower.T
    psi = np.zeros((d, d))
    if structure == "diagonal":
        psi[np.diag_indices(d)] = theta**2
    else:
        psi[0, 0] = theta[0] ** 2
    return psi


def _start(
    y: np.ndarray, s: np.ndarray, structure: str, observed: np.ndarray | None = None
) -> np.ndarray:
    """Method-of-moments-like start: excess spread over the mean within variance."""
    d = y.shape[1]
    if observed is None:
        spread = y.var(axis=0, ddof=1) if y.shape[0] > 1 else np.ones(d)
        within = np.diagonal(s, axis1=1, axis2=2).mean(axis=0)
    else:
        seen = np.where(observed, y, np.nan)
        spread = np.where(observed.sum(axis=0) > 1, np.nanvar(seen, axis=0, ddof=1), 1.0)
        within = np.nanmean(np.where(observed, np.diagonal(s, axis1=1, axis2=2), np.nan), 0)
    sd = np.sqrt(np.maximum(spread - within, 0.1 * within) + 1e-12)
    if structure == "unstructured":
        lower = np.diag(sd)
        return lower[np.tril_indices(d)]
    return sd if structure == "diagonal" else sd[:1]


def _observed_mask(observed: Any, y: np.ndarray) -> np.ndarray | None:
    """``observed`` as a (K, d) boolean mask, None when every element is observed."""
    if observed is None:
        return None
    mask = np.asarray(observed, dtype=bool)
    if mask.shape != y.shape:
        raise PoolingError(f"observed has shape {mask.shape}; expected {y.shape}")
    lacking = np.flatnonzero(mask.sum(axis=0) < 2)
    if lacking.size:
        raise PoolingError(
            f"element {int(lacking[0]) + 1} is observed in fewer than two trials; a "
            "multivariate meta-analysis needs at least two per element"
        )
    return None if mask.all() else mask


def _check_inputs(y: np.ndarray, s: np.ndarray, structure: str, method: str) -> None:
    if structure not in STRUCTURES:
        raise PoolingError(f"between-trial structure {structure!r}: use one of {STRUCTURES}")
    if method not in ("REML", "ML"):
        raise PoolingError(f"multivariate estimator {method!r}: use 'REML' or 'ML'")
    k, d = y.shape
    if s.shape != (k, d, d):
        raise PoolingError(f"covariances have shape {s.shape}; expected ({k}, {d}, {d})")
    if not (np.isfinite(y).all() and np.isfinite(s).all()):
        raise PoolingError("estimates and covariances must be finite")
    if k < 2:
        raise PoolingError(f"a multivariate meta-analysis needs at least two trials, got {k}")
    if k <= d and method == "REML" and structure == "unstructured":
        raise PoolingError(
            f"{k} trials cannot estimate an unstructured {d}x{d} between-trial covariance "
            "with REML; use structure='diagonal' or 'treatment'"
        )
    for i in range(k):
        if np.linalg.eigvalsh(s[i]).min() <= 0:
            raise PoolingError(f"within-trial covariance of trial {i + 1} is not positive definite")


def mvma(
    estimates: np.ndarray,
    covariances: np.ndarray,
    *,
    structure: str = "unstructured",
    method: str = "REML",
    terms: Sequence[str] | None = None,
    observed: np.ndarray | None = None,
) -> MultivariateMA:
    """Pool coefficient vectors with their full within-trial covariance matrices.

    Parameters
    ----------
    estimates : array_like
        (K, d) one vector per trial.
    covariances : array_like
        (K, d, d) within-trial covariance of each vector.
    structure : {"unstructured", "diagonal", "treatment"}
        Between-trial covariance (module docstring).
    method : {"REML", "ML"}
    terms : sequence of str, optional
        Names of the d elements (default ``"b0", "b1", ...``).
    observed : array_like of bool, optional
        (K, d): which elements each trial reports (default: all). A trial's missing
        elements are left out of its likelihood exactly (the rows ``rma.mv`` would not
        have); their values in ``estimates`` and ``covariances`` are ignored. Each element
        must be observed in at least two trials.

    Returns
    -------
    MultivariateMA

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[0.47, -0.32], [0.20, -0.60], [0.40, -0.12], [0.26, -0.31], [0.56, -0.39]])
    >>> v = np.array([[[0.0075, 0.0030], [0.0030, 0.0077]], [[0.0057, 0.0009], [0.0009, 0.0008]],
    ...               [[0.0021, 0.0007], [0.0007, 0.0014]], [[0.0029, 0.0009], [0.0009, 0.0015]],
    ...               [[0.0148, 0.0072], [0.0072, 0.0304]]])
    >>> fit = mvma(y, v, method="ML", terms=["PD", "AL"])   # Berkey et al. 1998
    >>> [round(float(b), 3) for b in fit.estimate]
    [0.345, -0.338]
    """
    y = np.asarray(estimates, dtype=np.float64)
    s = np.asarray(covariances, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if s.ndim == 1:
        s = s[:, None, None]
    method = method.upper()
    mask = _observed_mask(observed, y)
    if mask is not None:
        y, s = _fill_missing(y, s, mask)
    _check_inputs(y, s, structure, method)
    k, d = y.shape
    diagonals = np.diagonal(s, axis1=1, axis2=2)
    if mask is None:
        scale = np.sqrt(np.median(diagonals, axis=0))
    else:
        scale = np.sqrt(np.nanmedian(np.where(mask, diagonals, np.nan), axis=0))
    ys, ss = y / scale, s / np.outer(scale, scale)[None]

    def objective(theta: np.ndarray) -> float:
        value = restricted_loglik(ys, ss, _psi(theta, structure, d), method, mask)
        return -value if math.isfinite(value) else 1e300

    best = None
    for start in (_start(ys, ss, structure, mask), np.full(_n_params(structure, d), 0.05)):
        res = optimize.minimize(objective, start, method="BFGS", options={"gtol": 1e-9})
        polish = optimize.minimize(
            objective, res.x, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-13}
        )
        cand = polish if polish.fun <= res.fun else res
        if best is None or cand.fun < best.fun:
            best = cand
    assert best is not None
    psi_s = _psi(best.x, structure, d)
    beta_s, cov_s, _, _ = _gls(ys, ss, psi_s, mask)
    outer = np.outer(scale, scale)
    names = tuple(terms) if terms is not None else tuple(f"b{i}" for i in range(d))
    if len(names) != d:
        raise PoolingError(f"{len(names)} term names for {d} coefficients")
    return MultivariateMA(
        terms=names,
        estimate=readonly(beta_s * scale),
        covariance=readonly(cov_s * outer),
        between=readonly(psi_s * outer),
        structure=structure,
        method=method,
        k=k,
        loglik=restricted_loglik(y, s, psi_s * outer, method, mask),
        converged=bool(best.success),
    )


def _fill_missing(y: np.ndarray, s: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """Missing elements set to 0 in ``y`` and to the identity in ``s`` (they carry no
    weight; this keeps the input checks on the observed blocks)."""
    both = mask[:, :, None] & mask[:, None, :]
    eye = np.eye(y.shape[1], dtype=bool)[None] & ~mask[:, :, None]
    return np.where(mask, y, 0.0), np.where(both, s, 0.0) + eye
