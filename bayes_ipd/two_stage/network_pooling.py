"""Stage two of a network meta-analysis: the consistency model on every trial's contrasts.

Stacking every trial's contrasts ``y`` (trial ``k`` contributes ``m_k = arms - 1`` of them,
against its reference arm) with their block-diagonal within-trial covariance ``V``:

``y = X d + delta + e,  e ~ N(0, V),  delta ~ N(0, tau^2 B)``

``X`` holds the basic parameters ``d_t`` (treatment ``t`` vs the network reference): the
row of contrast ``j vs r`` is ``e_j - e_r`` (the reference's column dropped). ``B`` is 1 on
the diagonal and 1/2 between two contrasts of the same trial (one common ``tau^2``; the
multi-arm correlation 1/2, Higgins & Whitehead 1996). This is R
``metafor::rma.mv(yi, V, mods = ~ <basic parameter columns> - 1, random = ~ comparison |
study, rho = 1/2)`` (struct ``"CS"`` with ``rho`` fixed). Given ``tau^2``, ``d`` is the GLS
estimate with ``M = V + tau^2 B``; ``tau^2`` maximises the restricted (REML) or full (ML)
log-likelihood

``l(tau^2) = -1/2 [log|M| + r' M^{-1} r] - 1/2 log|X' M^{-1} X| (REML only)``

by Brent's bounded search (``tau^2 = 0`` checked on its own); ``FE`` sets ``tau^2 = 0``.
The same GLS with other columns of ``X`` gives the design-by-treatment decomposition
(:mod:`bayes_ipd.two_stage.network_inconsistency`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from bayes_ipd.conventions import readonly
from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage.network_contrasts import TrialContrasts

__all__ = ["NETWORK_METHODS", "Contrasts", "GLSFit", "NetworkFit", "gls", "pool_network", "stack"]

NETWORK_METHODS = ("REML", "ML", "FE")
MULTI_ARM_CORRELATION = 0.5


@dataclass(frozen=True, eq=False)
class Contrasts:
    """Every trial's contrasts stacked, as blocks of equal size for batched algebra.

    Attributes
    ----------
    y : numpy.ndarray
        (N,) contrasts.
    x : numpy.ndarray
        (N, T - 1) basic-parameter rows (``e_j - e_r``, reference column dropped).
    blocks : tuple of numpy.ndarray
        Row indices of each trial (its ``m_k`` contrasts).
    within : tuple of numpy.ndarray
        Each trial's (m_k, m_k) within-trial covariance.
    """

    y: np.ndarray
    x: np.ndarray
    blocks: tuple[np.ndarray, ...]
    within: tuple[np.ndarray, ...]

    @property
    def k(self) -> int:
        return len(self.blocks)


def stack(trials: Sequence[TrialContrasts], n_treatments: int) -> Contrasts:
    """Stack trials' contrasts (treatment codes index the columns; code 0 is the reference).

    Parameters
    ----------
    trials : sequence of TrialContrasts
    n_treatments : int

    Returns
    -------
    Contrasts
    """
    rows, ys, blocks, start = [], [], [], 0
    for trial in trials:
        for arm in trial.arms:
            row = np.zeros(n_treatments)
            row[arm] += 1.0
            row[trial.reference] -= 1.0
            rows.append(row[1:])
        ys.append(trial.estimate)
        blocks.append(readonly(np.arange(start, start + len(trial.arms)), np.int64))
        start += len(trial.arms)
    return Contrasts(
        readonly(np.concatenate(ys)),
        readonly(np.vstack(rows)),
        tuple(blocks),
        tuple(t.covariance for t in trials),
    )


@dataclass(frozen=True, eq=False)
class GLSFit:
    """Generalised least squares of the stacked contrasts for one ``tau^2``.

    Attributes
    ----------
    beta, covariance : numpy.ndarray
        (p,) coefficients and (p, p) their covariance ``(X' M^-1 X)^-1``.
    q : float
        ``r' M^-1 r`` (with ``tau^2 = 0``: the residual heterogeneity ``Q_E``).
    logdet_m, logdet_xwx : float
        ``log|M|`` and ``log|X' M^-1 X|``.
    """

    beta: np.ndarray
    covariance: np.ndarray
    q: float
    logdet_m: float
    logdet_xwx: float


def _weights(contrasts: Contrasts, tau2: float) -> tuple[list[np.ndarray], float]:
    """Each block's ``M_k^-1`` and ``log|M|``."""
    inverses, logdet = [], 0.0
    for cov in contrasts.within:
        m = cov.shape[0]
        between = np.full((m, m), MULTI_ARM_CORRELATION) + np.eye(m) * (1 - MULTI_ARM_CORRELATION)
        chol = np.linalg.cholesky(cov + tau2 * between)
        logdet += 2.0 * float(np.log(np.diag(chol)).sum())
        inv_chol = np.linalg.inv(chol)
        inverses.append(inv_chol.T @ inv_chol)
    return inverses, logdet


def gls(contrasts: Contrasts, tau2: float, x: np.ndarray | None = None) -> GLSFit:
    """The GLS fit of ``y`` on ``x`` (default: the basic parameters) given ``tau^2``.

    Parameters
    ----------
    contrasts : Contrasts
    tau2 : float
    x : numpy.ndarray, optional
        (N, p) columns; must be of full column rank.

    Returns
    -------
    GLSFit
    """
    x = contrasts.x if x is None else x
    inverses, logdet_m = _weights(contrasts, tau2)
    xwx = np.zeros((x.shape[1],) * 2)
    xwy = np.zeros(x.shape[1])
    for rows, w in zip(contrasts.blocks, inverses, strict=True):
        xk = x[rows]
        xwx += xk.T @ w @ xk
        xwy += xk.T @ w @ contrasts.y[rows]
    covariance = np.linalg.inv(xwx)
    beta = covariance @ xwy
    q = 0.0
    for rows, w in zip(contrasts.blocks, inverses, strict=True):
        r = contrasts.y[rows] - x[rows] @ beta
        q += float(r @ w @ r)
    return GLSFit(beta, covariance, q, logdet_m, float(np.linalg.slogdet(xwx)[1]))


def loglik(contrasts: Contrasts, tau2: float, method: str) -> float:
    """The restricted (REML) or full (ML) log-likelihood of ``tau^2``, without constants."""
    fit = gls(contrasts, tau2)
    value = -0.5 * (fit.logdet_m + fit.q)
    return value - 0.5 * fit.logdet_xwx if method == "REML" else value


def _upper_bound(contrasts: Contrasts) -> float:
    spread = float(np.var(contrasts.y)) if contrasts.y.size > 1 else 1.0
    within = float(np.mean([np.mean(np.diag(c)) for c in contrasts.within]))
    return max(10.0 * (spread + within), 10.0)


def estimate_tau2(contrasts: Contrasts, method: str) -> tuple[float, float]:
    """``tau^2`` maximising the (restricted) likelihood, and the maximum."""
    if method == "FE":
        return 0.0, loglik(contrasts, 0.0, "ML")
    upper = _upper_bound(contrasts)
    # on tau (not tau^2): the likelihood is smooth in tau and flat at 0, Brent converges
    found = optimize.minimize_scalar(
        lambda tau: -loglik(contrasts, tau * tau, method),
        bounds=(0.0, math.sqrt(upper)),
        method="bounded",
        options={"xatol": 1e-10, "maxiter": 500},
    )
    tau2, best = float(found.x) ** 2, -float(found.fun)
    at_zero = loglik(contrasts, 0.0, method)
    if at_zero >= best:
        return 0.0, at_zero
    if tau2 > 0.99 * upper:
        raise PoolingError(f"tau^2 reached the search bound {upper:.3g}; the fit is unstable")
    return tau2, best


@dataclass(frozen=True, eq=False)
class NetworkFit:
    """The fitted consistency model.

    Attributes
    ----------
    estimate, covariance : numpy.ndarray
        (T - 1,) basic parameters ``d_t`` (t vs the reference) and their covariance.
    tau2 : float
    method : str
    loglik : float
    k, n_contrasts : int
        Trials and contrasts pooled.
    scale : float
        The Hartung-Knapp-Sidik-Jonkman factor ``s^2`` that ``covariance`` includes (1
        without ``hksj``).
    df : int or None
        Degrees of freedom of the t intervals (``hksj``: ``N - (T - 1)``); None: z.
    """

    estimate: np.ndarray
    covariance: np.ndarray
    tau2: float
    method: str
    loglik: float
    k: int
    n_contrasts: int
    scale: float = 1.0
    df: int | None = None

    @property
    def tau(self) -> float:
        return math.sqrt(self.tau2)

    @property
    def model_covariance(self) -> np.ndarray:
        """The covariance without the HKSJ factor ``(X' M^-1 X)^-1``."""
        return self.covariance / self.scale

    @property
    def critical_value(self) -> float:
        """The 97.5% quantile of the interval's distribution (z, or t on ``df``)."""
        return float(stats.norm.ppf(0.975) if self.df is None else stats.t.ppf(0.975, self.df))


def pool_network(contrasts: Contrasts, method: str = "REML", hksj: bool = False) -> NetworkFit:
    """Fit the consistency model (REML, ML or fixed effect).

    Parameters
    ----------
    contrasts : Contrasts
    method : {"REML", "ML", "FE"}
    hksj : bool
        Hartung-Knapp-Sidik-Jonkman: the covariance times ``s^2 = r' M^-1 r / (N - p)``
        (not truncated at 1, as metafor's ``test = "knha"``) and t intervals on ``N - p``
        df. With two-arm trials only this is metafor ``rma(yi, vi, mods = ..., test =
        "knha")``; with multi-arm trials the same generalised residual quadratic form.

    Returns
    -------
    NetworkFit
    """
    if method not in NETWORK_METHODS:
        raise PoolingError(f"method {method!r} is not one of {', '.join(NETWORK_METHODS)}")
    if np.linalg.matrix_rank(contrasts.x) < contrasts.x.shape[1]:
        raise PoolingError("the basic parameters are not all estimable (network not connected)")
    tau2, best = estimate_tau2(contrasts, method)
    fit = gls(contrasts, tau2)
    scale, df = 1.0, None
    if hksj:
        df = int(contrasts.y.size - contrasts.x.shape[1])
        if df < 1:
            raise PoolingError("--hksj needs more contrasts than basic parameters")
        scale = fit.q / df
    return NetworkFit(
        readonly(fit.beta),
        readonly(fit.covariance * scale),
        tau2,
        method,
        best,
        contrasts.k,
        int(contrasts.y.size),
        scale,
        df,
    )
