"""Repeated-measures trials: several visits per participant, planted visit effects, dropout.

For trial ``k = 1..K``, participant ``i`` (``t_ik`` 1:1 at random), visit ``v = 1..V``::

    x_ik          ~ Normal(m_k, 1),  m_k ~ Normal(0, covariate_shift)   ``baseline``
    alpha_kv      = visit_means[v] + a_k,   a_k ~ Normal(0, trial_sd)
    theta_k       ~ MVN(effects, diag(tau) R(tau_correlation) diag(tau))   per-visit effects
    y_ik          = alpha_k + theta_k t_ik + x_ik * covariate_effects + e_ik
                    + t_ik [(x_ik - m_k) interaction + m_k across_interaction] at the last visit
    e_ik          ~ MVN(0, diag(sd) R(residual_correlation) diag(sd))

``interaction`` is the within-trial treatment-covariate interaction planted at the last
visit (a treated participant's outcome there moves by ``interaction`` per unit of
``baseline`` about its trial's centre ``m_k``) and ``across_interaction`` (default: equal to
``interaction``, no ecological bias) the across-trial one, how the trials' effects at the
last visit move with their covariate centre ``m_k`` (``covariate_shift > 0`` lets the
centres differ). With the defaults (no interaction, no shift) the draws are those the
simulator always made.

``R(r)`` is the exchangeable correlation matrix with off-diagonal ``r``. Dropout is
monotone and missing at random: after each visit but the last a participant leaves with
probability ``expit(logit(dropout) + dropout_slope * (y_prev - mean) / sd)`` given the
outcome just observed (``dropout_slope = 0``: completely at random); with ``intermittent``
a visit after the first is also missed completely at random. Rows after dropout are
absent (long data), so trials have participants with some visits missing.

The truth (:class:`RepeatedTruth`) holds the planted mean effects per visit, the trials'
own effects, the between-trial covariance and the residual covariance.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from bayes_ipd.errors import SpecError

__all__ = ["RepeatedTruth", "simulate_repeated"]


@dataclass(frozen=True, eq=False)
class RepeatedTruth:
    """The planted values of :func:`simulate_repeated`.

    Attributes
    ----------
    visits : tuple of float
    effects : ndarray
        (V,) mean treatment effect per visit.
    between : ndarray
        (V, V) between-trial covariance of the per-visit effects.
    theta : ndarray
        (K, V) each trial's own effects.
    residual : ndarray
        (V, V) residual covariance of a participant's visits.
    covariate_effects : ndarray
        (V,) effect of ``baseline`` per visit.
    interaction, across_interaction : float
        The planted within- and across-trial treatment-``baseline`` interactions at the
        last visit.
    covariate_centres : ndarray
        (K,) each trial's population mean of ``baseline`` (``m_k``).
    """

    visits: tuple[float, ...]
    effects: np.ndarray
    between: np.ndarray
    theta: np.ndarray
    residual: np.ndarray
    covariate_effects: np.ndarray
    interaction: float = 0.0
    across_interaction: float = 0.0
    covariate_centres: np.ndarray | None = None


def _exchangeable(sd: np.ndarray, correlation: float) -> np.ndarray:
    d = sd.size
    cor = np.full((d, d), correlation) + (1.0 - correlation) * np.eye(d)
    return cor * np.outer(sd, sd)


def _vector(value: float | Sequence[float], size: int, name: str) -> np.ndarray:
    out = np.broadcast_to(np.asarray(value, dtype=np.float64), (size,)).copy()
    if not np.isfinite(out).all():
        raise SpecError(f"{name} must be finite")
    return out


def simulate_repeated(
    n_studies: int = 6,
    n_per_study: int | Sequence[int] = 80,
    *,
    visits: Sequence[float] = (4, 8, 12),
    effects: float | Sequence[float] = (-1.0, -2.0, -3.0),
    tau: float | Sequence[float] = (0.3, 0.4, 0.5),
    tau_correlation: float = 0.6,
    visit_means: float | Sequence[float] = (10.0, 9.0, 8.0),
    trial_sd: float = 1.0,
    covariate_effects: float | Sequence[float] = (0.5, 0.6, 0.7),
    sd: float | Sequence[float] = (2.0, 2.5, 3.0),
    residual_correlation: float = 0.5,
    dropout: float = 0.1,
    dropout_slope: float = 0.0,
    intermittent: float = 0.0,
    seed: int = 0,
    interaction: float = 0.0,
    across_interaction: float | None = None,
    covariate_shift: float = 0.0,
) -> tuple[pd.DataFrame, RepeatedTruth]:
    """Simulate long data of repeated-measures trials (module docstring).

    Parameters
    ----------
    n_studies : int
    n_per_study : int or sequence of int
        Participants per trial.
    visits : sequence of float
        Visit times (the ``visit`` column), increasing.
    effects, tau, visit_means, covariate_effects, sd : float or sequence of float
        Per visit (a scalar applies to every visit).
    tau_correlation, residual_correlation : float
        Exchangeable correlations between visits (between trials; within participants).
    trial_sd : float
        SD of the trials' shift of the control means.
    dropout : float
        Probability of leaving after a visit (at the mean outcome).
    dropout_slope : float
        Log-odds of leaving per SD of the outcome just observed (MAR; 0: MCAR).
    intermittent : float
        Probability that a visit after the first, before dropout, is missed (completely
        at random): non-monotone missing patterns.
    seed : int
    interaction : float
        Within-trial treatment-``baseline`` interaction at the last visit.
    across_interaction : float, optional
        Across-trial interaction at the last visit (default ``interaction``).
    covariate_shift : float
        SD of the trials' centres ``m_k`` of ``baseline`` (0: every trial centred at 0).

    Returns
    -------
    frame : DataFrame
        Columns ``study, id, treat, visit, baseline, y``, one row per observed visit.
    truth : RepeatedTruth

    Examples
    --------
    >>> frame, truth = simulate_repeated(3, 20, seed=1)
    >>> list(frame.columns)
    ['study', 'id', 'treat', 'visit', 'baseline', 'y']
    """
    times = tuple(float(v) for v in visits)
    d = len(times)
    if d < 1 or any(b <= a for a, b in itertools.pairwise(times)):
        raise SpecError(f"visits {visits!r} must be increasing")
    if not 0.0 <= dropout < 1.0:
        raise SpecError(f"dropout {dropout!r} must be in [0, 1)")
    rng = np.random.default_rng(seed)
    sizes = _vector(n_per_study, n_studies, "n_per_study").astype(np.int64)
    mu = _vector(effects, d, "effects")
    between = _exchangeable(_vector(tau, d, "tau"), tau_correlation)
    residual = _exchangeable(_vector(sd, d, "sd"), residual_correlation)
    means = _vector(visit_means, d, "visit_means")
    gamma = _vector(covariate_effects, d, "covariate_effects")
    theta = rng.multivariate_normal(mu, between, size=n_studies)
    across = interaction if across_interaction is None else float(across_interaction)
    centres = np.zeros(n_studies)
    if covariate_shift > 0:  # drawn only when asked: the default stream stays as it was
        centres = rng.normal(scale=covariate_shift, size=n_studies)
    chunks = []
    for k in range(n_studies):
        n = int(sizes[k])
        treat = rng.permutation(np.arange(n) < n // 2).astype(np.int64)
        x = centres[k] + rng.normal(size=n)
        alpha = means + rng.normal(scale=trial_sd)
        y = alpha + np.outer(treat, theta[k]) + np.outer(x, gamma)
        y[:, -1] += treat * ((x - centres[k]) * interaction + centres[k] * across)
        y += rng.multivariate_normal(np.zeros(d), residual, size=n)
        last = _last_visits(y, dropout, dropout_slope, rng)
        ids = np.array([f"T{k + 1}-{i + 1:03d}" for i in range(n)], dtype=object)
        keep = np.arange(d)[None, :] <= last[:, None]
        keep[:, 1:] &= rng.uniform(size=(n, d - 1)) >= intermittent
        rows, cols = np.nonzero(keep)
        chunks.append(
            pd.DataFrame(
                {
                    "study": f"T{k + 1}",
                    "id": ids[rows],
                    "treat": treat[rows],
                    "visit": np.asarray(times)[cols],
                    "baseline": np.round(x[rows], 6),
                    "y": np.round(y[rows, cols], 6),
                }
            )
        )
    truth = RepeatedTruth(
        times, mu, between, theta, residual, gamma, float(interaction), across, centres
    )
    return pd.concat(chunks, ignore_index=True), truth


def _last_visits(
    y: np.ndarray, dropout: float, slope: float, rng: np.random.Generator
) -> np.ndarray:
    """Index of each participant's last observed visit (monotone dropout, MAR on y)."""
    n, d = y.shape
    last = np.full(n, d - 1)
    active = np.ones(n, dtype=bool)
    base = special.logit(dropout) if dropout > 0 else -np.inf
    for v in range(d - 1):
        z = (y[:, v] - y[:, v].mean()) / max(float(y[:, v].std()), 1e-12)
        leave = active & (rng.uniform(size=n) < special.expit(base + slope * z))
        last[leave] = v
        active &= ~leave
    return last
