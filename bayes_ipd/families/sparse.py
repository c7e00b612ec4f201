"""Stage-one estimates for sparse binary trials: continuity corrections and Firth's
penalised logistic regression; and Firth's penalised proportional-odds regression for
ordinal trials whose design orders the categories perfectly
(:func:`firth_proportional_odds`).

Continuity corrections apply to the 2x2 table of a trial without covariates, and only to a
trial with a zero cell (a trial without a zero cell gets the ordinary logistic estimate,
which equals the 2x2 log odds ratio):

* ``cc``: 0.5 added to every cell;
* ``tacc``: the *treatment-arm* correction of Sweeting, Sutton & Lambert (2004, Stat Med
  23:1351-1375), proportional to the reciprocal of the size of the opposite arm and summing
  to 1 over the arms: ``k_T = n_T / (n_T + n_C)`` added to both cells of the treated arm and
  ``k_C = n_C / (n_T + n_C)`` to both cells of the control arm (with equal arms it is the
  0.5 correction). It is also known as the *opposite-arm* correction.

The log odds ratio of the corrected table is ``log(a d / (b c))`` with SE
``sqrt(1/a + 1/b + 1/c + 1/d)`` (Woolf).

Firth (1993, Biometrika 80:27-38; Heinze & Schemper 2002, Stat Med 21:2409-2419) maximises
``l(b) + ½ log|X'WX|`` (the Jeffreys-prior penalty), which is finite under separation. It is
fitted to every trial (covariates allowed) by the modified-score Newton iteration, with the
SE from the inverse of ``X'WX`` at the penalised estimate, as R's ``logistf`` reports (Wald).
For a trial without covariates the Firth estimate equals the log odds ratio with 0.5 added
to every cell. statsmodels has no Firth logistic regression, hence this module.

A trial with no events in either arm (or events only) is excluded by every method: it holds
no information on the odds ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from bayes_ipd.families.regression import Unfittable, with_intercept

__all__ = [
    "SPARSE_METHODS",
    "FirthFit",
    "corrected_log_odds_ratio",
    "firth_logistic",
    "firth_penalised_loglik",
    "firth_proportional_odds",
    "proportional_odds_information",
]

SPARSE_METHODS: dict[str, str] = {
    "none": "logistic maximum likelihood; trials with a zero cell are excluded",
    "cc": "0.5 added to every cell of a trial with a zero cell",
    "tacc": "treatment-arm (opposite-arm) continuity correction, Sweeting et al. 2004",
    "firth": "Firth-penalised regression in every trial (logistic; proportional-odds for "
    "ordinal outcomes)",
}
"""Stage-one methods for sparse binary trials, with their descriptions."""


def corrected_log_odds_ratio(
    events: tuple[float, float], n: tuple[float, float], method: str
) -> tuple[float, float]:
    """Log odds ratio (treated vs control) of a corrected 2x2 table and its Woolf SE.

    Parameters
    ----------
    events, n : tuple of float
        Events and participants of the (control, treated) arms.
    method : {"cc", "tacc"}
    """
    n0, n1 = n
    if method == "cc":
        k0 = k1 = 0.5
    elif method == "tacc":
        k0, k1 = n0 / (n0 + n1), n1 / (n0 + n1)
    else:
        raise ValueError(f"unknown continuity correction {method!r}")
    a, b = events[1] + k1, n1 - events[1] + k1  # treated: events, non-events
    c, d = events[0] + k0, n0 - events[0] + k0  # control
    return float(np.log(a * d / (b * c))), float(np.sqrt(1 / a + 1 / b + 1 / c + 1 / d))


def firth_penalised_loglik(beta: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """``l(b) + ½ log|X'WX|`` of logistic regression (``x`` with its intercept column)."""
    eta = x @ beta
    loglik = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
    p = expit(eta)
    info = x.T @ (x * (p * (1 - p))[:, None])
    return loglik + 0.5 * float(np.linalg.slogdet(info)[1])


@dataclass(frozen=True)
class FirthFit:
    """A Firth-penalised logistic fit.

    Attributes
    ----------
    params, bse : numpy.ndarray
        Coefficients and their SEs (inverse of ``X'WX`` at the estimate).
    iterations : int
    """

    params: np.ndarray
    bse: np.ndarray
    iterations: int


def firth_logistic(
    x: np.ndarray, y: np.ndarray, *, tol: float = 1e-10, max_iter: int = 100
) -> FirthFit:
    """Firth-penalised logistic regression by the modified-score Newton iteration.

    The modified score is ``X'(y - p + h (½ - p))`` with ``h`` the diagonal of the hat
    matrix ``W^½ X (X'WX)⁻¹ X' W^½``; steps are halved while the penalised log-likelihood
    does not increase (as ``logistf`` does).

    Parameters
    ----------
    x : numpy.ndarray
        (n, p) design with its intercept column.
    y : numpy.ndarray
        0/1 outcome.
    tol : float
        Stop when the largest step is below ``tol``.
    max_iter : int

    Returns
    -------
    FirthFit

    Raises
    ------
    Unfittable
        The iteration does not converge or the information is singular.
    """
    beta = np.zeros(x.shape[1])
    current = firth_penalised_loglik(beta, x, y)
    for iteration in range(1, max_iter + 1):
        p = expit(x @ beta)
        w = p * (1 - p)
        info = x.T @ (x * w[:, None])
        try:
            cov = np.linalg.inv(info)
        except np.linalg.LinAlgError as exc:
            raise Unfittable("Firth regression: singular information matrix") from exc
        h = np.einsum("ij,jk,ik->i", x, cov, x) * w
        step = cov @ (x.T @ (y - p + h * (0.5 - p)))
        for _ in range(30):
            trial = firth_penalised_loglik(beta + step, x, y)
            if trial >= current - 1e-12:
                break
            step = step / 2
        beta, current = beta + step, trial
        if np.max(np.abs(step)) < tol:
            p = expit(x @ beta)
            info = x.T @ (x * (p * (1 - p))[:, None])
            bse = np.sqrt(np.diag(np.linalg.inv(info)))
            return FirthFit(beta, bse, iteration)
    raise Unfittable(f"Firth regression did not converge in {max_iter} iterations")


def arm_table(y: np.ndarray, treat: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """(events, participants) of the (control, treated) arms."""
    events = (float(y[treat == 0].sum()), float(y[treat == 1].sum()))
    n = (float((treat == 0).sum()), float((treat == 1).sum()))
    return events, n


def has_zero_cell(events: tuple[float, float], n: tuple[float, float]) -> bool:
    """Whether some arm has no events or only events."""
    return any(e == 0 or e == m for e, m in zip(events, n, strict=True))


def sparse_estimate(
    y: np.ndarray, treat: np.ndarray, x: np.ndarray, term: int, method: str
) -> tuple[float, float] | None:
    """Estimate and SE by ``method`` ("cc", "tacc", "firth"), or None when the trial has no
    zero cell and a correction would not change it (fit it the ordinary way).

    Raises
    ------
    Unfittable
        No events in either arm, or events only; a continuity correction asked for a model
        with covariates; Firth not converging.
    """
    events, n = arm_table(y, treat)
    if events == (0.0, 0.0):
        raise Unfittable("no events in either arm")
    if events == n:
        raise Unfittable("every participant in both arms had the event")
    if method == "firth":
        fit = firth_logistic(with_intercept(x), y)
        return float(fit.params[term + 1]), float(fit.bse[term + 1])
    if not has_zero_cell(events, n):
        return None
    if x.shape[1] > 1 or term != 0:
        raise Unfittable(
            f"a continuity correction ({method}) applies to a trial's 2x2 table, not to a "
            "model with covariates; use firth"
        )
    return corrected_log_odds_ratio(events, n, method)


# --- Firth's penalty for the proportional-odds model (ordinal outcomes) -------------------


def _po_cells(alpha: np.ndarray, beta: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Category probabilities ``p`` (n x J) and the densities ``f`` of the logistic at the
    cutpoints (n x J+1, zero at ±∞) of ``P(y <= j) = F(alpha_j - x beta)``."""
    c = alpha[None, :] - (x @ beta)[:, None]
    cdf = np.column_stack([np.zeros(len(x)), expit(c), np.ones(len(x))])
    dens = np.column_stack([np.zeros(len(x)), expit(c) * expit(-c), np.zeros(len(x))])
    return np.diff(cdf, axis=1), dens


def proportional_odds_information(alpha: np.ndarray, beta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Expected (Fisher) information of the cumulative-logit model in ``(alpha, beta)``.

    ``Σ_i Σ_j D_ij D_ij' / p_ij`` with ``D_ij = ∂p_ij/∂(alpha, beta)``:
    ``f(c_j) e_j - f(c_{j-1}) e_{j-1}`` for the cutpoints and
    ``-x_i (f(c_j) - f(c_{j-1}))`` for the coefficients.
    """
    p, dens = _po_cells(alpha, beta, x)
    n, n_cat = p.shape
    d_alpha = np.zeros((n, n_cat, n_cat - 1))
    for j in range(n_cat):
        if j < n_cat - 1:
            d_alpha[:, j, j] = dens[:, j + 1]
        if j > 0:
            d_alpha[:, j, j - 1] = -dens[:, j]
    d_beta = -(dens[:, 1:] - dens[:, :-1])[:, :, None] * x[:, None, :]
    d = np.concatenate([d_alpha, d_beta], axis=2)
    return np.einsum("ija,ijb->ab", d / np.maximum(p, 1e-300)[:, :, None], d)


def firth_proportional_odds(x: np.ndarray, codes: np.ndarray) -> FirthFit:
    """Firth-penalised proportional-odds (cumulative logit) regression.

    Maximises ``l(alpha, beta) + ½ log|I(alpha, beta)|`` (the Jeffreys prior; Firth 1993,
    applied to the cumulative-logit model by e.g. Lipsitz et al. 2013), which is finite
    when a trial's design orders the categories perfectly (separation), so that such a
    trial is kept with a finite, shrunken cumulative log odds ratio. The cutpoints are
    optimised as the first and the logs of the gaps (keeping them ordered); the penalty
    is that of ``(alpha, beta)``, so the maximiser does not depend on this choice. SEs
    from the inverse information at the estimate (Wald, as for binary Firth). With two
    categories and no covariates it gives the binary Firth estimate, the log odds ratio
    of the table with 0.5 added to every cell.

    Parameters
    ----------
    x : numpy.ndarray
        Design without intercept (n x p).
    codes : numpy.ndarray
        Categories coded 0, ..., J-1, every one present.

    Returns
    -------
    FirthFit
        ``params``: ``(alpha_1, ..., alpha_{J-1}, beta)``; ``bse`` alike.

    Raises
    ------
    Unfittable
        The optimisation fails or the information is singular.
    """
    codes = np.asarray(codes, dtype=np.int64)
    n_cat = int(codes.max()) + 1
    onehot = np.eye(n_cat)[codes]

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        alpha = theta[0] + np.concatenate([[0.0], np.cumsum(np.exp(theta[1 : n_cat - 1]))])
        return alpha, theta[n_cat - 1 :]

    def objective(theta: np.ndarray) -> float:
        alpha, beta = unpack(theta)
        p, _ = _po_cells(alpha, beta, x)
        loglik = float(np.sum(onehot * np.log(np.maximum(p, 1e-300))))
        sign, logdet = np.linalg.slogdet(proportional_odds_information(alpha, beta, x))
        return np.inf if sign <= 0 else -(loglik + 0.5 * logdet)

    # start: the marginal cumulative proportions, no effect
    cum = np.clip(np.cumsum(np.bincount(codes, minlength=n_cat))[:-1] / len(codes), 0.01, 0.99)
    start_alpha = np.log(cum / (1 - cum))
    gaps = np.log(np.maximum(np.diff(start_alpha), 0.05))
    start = np.concatenate([[start_alpha[0]], gaps, np.zeros(x.shape[1])])
    result = minimize(objective, start, method="BFGS", options={"gtol": 1e-8, "maxiter": 2000})
    if not np.isfinite(result.fun):
        raise Unfittable("Firth proportional-odds regression: the optimisation failed")
    alpha, beta = unpack(result.x)
    try:
        cov = np.linalg.inv(proportional_odds_information(alpha, beta, x))
    except np.linalg.LinAlgError as exc:
        raise Unfittable("Firth proportional-odds regression: singular information") from exc
    params = np.concatenate([alpha, beta])
    return FirthFit(params, np.sqrt(np.diag(cov)), int(result.nit))
