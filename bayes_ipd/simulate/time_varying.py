"""Time-to-event trials whose treatment effect changes with time (crossing hazards).

The data-generating process of the one-stage per-period model
(:mod:`bayes_ipd.families.survival_time`), with every trial's effect per period known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from bayes_ipd.conventions import readonly
from bayes_ipd.errors import SpecError
from bayes_ipd.simulate.trials import (
    Seed,
    Trials,
    check_non_negative,
    check_positive,
    trial_sizes,
)

__all__ = ["PeriodSurvivalTruth", "simulate_survival_periods"]


@dataclass(frozen=True, eq=False)
class PeriodSurvivalTruth:
    """Truth of :func:`simulate_survival_periods`.

    Attributes
    ----------
    studies : tuple of str
        Trial labels as in the frame's ``trial`` column.
    period_cuts : tuple of float
        Interior cut points of the periods (``[0, c_1), ..., [c_last, inf)``).
    mu, tau : ndarray, shape (P,)
        Mean and between-trial SD of the log hazard ratio in each period.
    theta : ndarray, shape (K, P)
        Every trial's log hazard ratio in each period.
    shape : float
        Weibull shape of the control arm's hazard.
    log_scale : ndarray, shape (K,)
        Log Weibull scale of each trial's control arm.
    follow_up, dropout : float
        Administrative censoring time; probability of dropping out before it.
    n_per_study : tuple of int
    seed : int or None
    """

    studies: tuple[str, ...]
    period_cuts: tuple[float, ...]
    mu: np.ndarray
    tau: np.ndarray
    theta: np.ndarray
    shape: float
    log_scale: np.ndarray
    follow_up: float
    dropout: float
    n_per_study: tuple[int, ...]
    seed: int | None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, np.ndarray):
                object.__setattr__(self, item.name, readonly(value))


def _period_vector(name: str, value: float | Sequence[float], n: int) -> np.ndarray:
    out = (
        np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()
        if np.ndim(value) == 0
        else np.asarray(value, dtype=np.float64)
    )
    if out.shape != (n,):
        raise SpecError(f"{name} needs one value per period ({n}), got {len(out)}")
    return out


def _event_times(
    exponential: np.ndarray, scale: np.ndarray, log_hr: np.ndarray, edges: np.ndarray, shape: float
) -> np.ndarray:
    """Invert ``H(t) = scale * sum_p exp(log_hr_p) ((min(t, b_p))^shape - a_p^shape)+``.

    ``exponential`` (N,) standard exponential draws, ``scale`` (N,), ``log_hr`` (N, P) each
    person's log hazard ratio per period (0 in the control arm), ``edges`` (P + 1,).
    """
    lower = edges[:-1] ** shape
    upper = edges[1:] ** shape  # inf for the last period
    rate = scale[:, None] * np.exp(log_hr)
    width = rate * (upper - lower)[None, :]
    cumulative = np.concatenate([np.zeros((len(scale), 1)), np.cumsum(width, axis=1)], axis=1)
    period = (exponential[:, None] >= cumulative[:, 1:]).sum(axis=1)
    rows = np.arange(len(scale))
    remaining = exponential - cumulative[rows, period]
    return (lower[period] + remaining / rate[rows, period]) ** (1.0 / shape)


def simulate_survival_periods(
    n_studies: int = 6,
    n_per_study: int | Sequence[int] = 300,
    period_cuts: Sequence[float] = (12.0, 36.0),
    mu: float | Sequence[float] = (-0.5, 0.0, 0.5),
    tau: float | Sequence[float] = 0.1,
    *,
    shape: float = 1.2,
    log_scale_mean: float = -4.7,
    log_scale_sd: float = 0.2,
    follow_up: float = 60.0,
    dropout: float = 0.1,
    seed: Seed = None,
) -> tuple[pd.DataFrame, PeriodSurvivalTruth]:
    """Trials with a log hazard ratio that is constant within periods and differs between
    them (the default: early benefit, late harm, crossing hazards).

    Data-generating process, trial ``k``, period ``p``, participant ``i``::

        theta_kp   ~ Normal(mu_p, tau_p)                 (independent across k and p)
        log lambda_k ~ Normal(log_scale_mean, log_scale_sd)
        h_ik(t)    = lambda_k shape t^(shape - 1) exp(t_ik theta_{k, p(t)})
        T_ik       : H_ik(T_ik) = E_ik,  E_ik ~ Exponential(1)   (exact inversion)
        D_ik       ~ Uniform(0, follow_up / dropout)      (none if dropout = 0)
        time_ik    = min(T_ik, D_ik, follow_up),  event_ik = 1 if T_ik <= min(D_ik, follow_up)

    Parameters
    ----------
    n_studies, n_per_study
        Number of trials and participants per trial (int or ``K`` values; 1:1 allocation).
    period_cuts : sequence of float
        Interior cut points of the periods (increasing, > 0).
    mu, tau : float or sequence of float
        Mean and between-trial SD of the log hazard ratio in each period (a number: the
        same in every period; ``mu`` constant gives proportional hazards).
    shape : float
        Weibull shape of the baseline hazard.
    log_scale_mean, log_scale_sd : float
        Distribution of the trials' log Weibull scales.
    follow_up : float
        Administrative censoring time.
    dropout : float
        Probability, in ``[0, 1)``, of dropping out before ``follow_up``.
    seed : int or numpy Generator, optional

    Returns
    -------
    frame : DataFrame
        Columns ``trial, treat, time, event``.
    truth : PeriodSurvivalTruth

    Examples
    --------
    >>> frame, truth = simulate_survival_periods(n_studies=2, n_per_study=50, seed=1)
    >>> truth.theta.shape, bool((frame["time"] > 0).all())
    ((2, 3), True)
    """
    sizes = trial_sizes(n_studies, n_per_study)
    cuts = np.asarray(period_cuts, dtype=np.float64)
    if cuts.ndim != 1 or np.any(cuts <= 0) or np.any(np.diff(cuts) <= 0):
        raise SpecError(f"period_cuts must increase and be > 0, got {list(period_cuts)}")
    n_periods = cuts.size + 1
    mu_p, tau_p = _period_vector("mu", mu, n_periods), _period_vector("tau", tau, n_periods)
    check_non_negative(log_scale_sd=log_scale_sd, dropout=dropout, tau=float(tau_p.min()))
    check_positive(shape=shape, follow_up=follow_up)
    if dropout >= 1:
        raise SpecError(f"dropout must lie in [0, 1); got {dropout!r}")
    rng = np.random.default_rng(seed)
    trials = Trials.allocate(rng, sizes)
    k, index, treat = trials.k, trials.index, trials.treat
    theta = rng.normal(mu_p[None, :], tau_p[None, :], size=(k, n_periods))
    log_scale = rng.normal(log_scale_mean, log_scale_sd, size=k)
    edges = np.concatenate([[0.0], cuts, [np.inf]])
    log_hr = treat[:, None] * theta[index]
    event_time = _event_times(
        rng.exponential(size=index.size), np.exp(log_scale[index]), log_hr, edges, shape
    )
    dropout_time = (
        rng.uniform(0.0, follow_up / dropout, size=index.size)
        if dropout > 0
        else np.full(index.size, np.inf)
    )
    censor_time = np.minimum(dropout_time, follow_up)
    event = (event_time <= censor_time).astype(np.int64)
    frame = trials.frame({"time": np.minimum(event_time, censor_time), "event": event})
    truth = PeriodSurvivalTruth(
        studies=trials.studies,
        period_cuts=tuple(float(c) for c in cuts),
        mu=mu_p,
        tau=tau_p,
        theta=theta,
        shape=float(shape),
        log_scale=log_scale,
        follow_up=float(follow_up),
        dropout=float(dropout),
        n_per_study=trials.sizes,
        seed=int(seed) if isinstance(seed, int | np.integer) else None,
    )
    return frame, truth
