"""Predictive survival curves of a survival fit, per trial and arm.

For posterior draw ``s``, trial ``k`` and arm ``a``, the arm's expected survival curve is
``S_ka(t) = mean_{i in arm a of trial k} exp(-H_k(t) exp(z_i'b_k))`` over the arm's own
participants (their covariates), ``H_k`` the cumulative piecewise baseline hazard
(:func:`~bayes_ipd.checks.baseline_hazard.cumulative_baseline_hazard`).

Predictive bands
----------------
The band of :func:`predictive_survival` is the posterior uncertainty of the arm's *expected*
survival curve given its participants' covariates. It is not the spread of replicated
Kaplan-Meier curves (that would also need a censoring model), so a Kaplan-Meier curve from a
small arm may stray outside the band by its own sampling noise; a systematic departure
(e.g. the curve leaving the band in the same direction over a long stretch, or crossing arms)
points at a baseline hazard that the intervals cannot follow or at non-proportional hazards.
:func:`~bayes_ipd.checks.interval_events.interval_event_ppc` is the formal check, with
Bayesian p-values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bayes_ipd.checks.baseline_hazard import cumulative_baseline_hazard, require_survival
from bayes_ipd.checks.design_rows import participant_design_rows
from bayes_ipd.checks.kaplan_meier import check_survival_ipd, trial_rows
from bayes_ipd.conventions import ARMS, readonly
from bayes_ipd.covariates import check_spec_columns
from bayes_ipd.draws import coefficient_draws, log_hazard_draws
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families.survival import EXP_MAX
from bayes_ipd.families.survival_time import treated_offset

if TYPE_CHECKING:
    from bayes_ipd.data import IPD
    from bayes_ipd.draws import Fit

__all__ = ["GRID_POINTS", "predictive_survival"]

GRID_POINTS = 101  # default time grid of a predictive curve: 0 to the trial's last time
_BLOCK = 2_000_000  # floats held at once when averaging over draws x participants x times


def _draw_index(n_samples: int, draws: int | None, rng: np.random.Generator) -> np.ndarray:
    if draws is None or draws >= n_samples:
        return np.arange(n_samples)
    if draws < 1:
        raise ValueError(f"draws must be a positive number of posterior draws, got {draws!r}")
    return np.sort(rng.choice(n_samples, size=draws, replace=False))


def _mean_survival(cum_h: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """(S, T) mean over participants of ``exp(-H(t) exp(eta_i))``; cum_h (S, T), eta (S, n)."""
    s, t = cum_h.shape
    n = eta.shape[1]
    out = np.empty((s, t))
    risk = np.exp(np.minimum(eta, EXP_MAX))
    size = max(1, _BLOCK // max(n * t, 1))
    for start in range(0, s, size):
        block = slice(start, min(start + size, s))
        out[block] = np.exp(-cum_h[block, :, None] * risk[block, None, :]).mean(axis=2)
    return out


def _default_times(ipd: IPD, rows: np.ndarray) -> np.ndarray:
    return np.linspace(0.0, float(ipd.time[rows].max()), GRID_POINTS)


def _time_grid(times: Any) -> np.ndarray:
    grid = np.asarray(times, dtype=np.float64).ravel()
    if grid.size == 0 or not np.all(np.isfinite(grid)) or (grid < 0).any():
        raise ValueError("times must be a non-empty array of finite times >= 0")
    return grid


def predictive_survival(
    result: Fit,
    ipd: IPD,
    *,
    times: Any = None,
    draws: int | None = 200,
    seed: int | None = None,
    level: float = 0.95,
    studies: Sequence[str] | None = None,
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]]:
    """Posterior of each trial's and arm's expected survival curve.

    For posterior draw ``s``, trial ``k`` and arm ``a``,
    ``S_ka(t) = mean_{i in arm a of trial k} exp(-H_k(t) exp(z_i'b_k))`` with ``H_k`` the
    cumulative piecewise-constant baseline hazard and ``z_i`` participant ``i``'s design row
    (its own covariates, centred as in the fit): the survival curve the model expects for
    the arm's participants, to be compared with the arm's Kaplan-Meier curve.

    Parameters
    ----------
    result : Fit
        A survival fit.
    ipd : IPD
        The participant rows the model was fitted to (trials not in the fit are ignored).
    times : array_like, optional
        Times (>= 0) at which to evaluate the curves; by default 101 points from 0 to each
        trial's last follow-up time.
    draws : int or None
        Number of posterior draws used, a random subsample without replacement (all draws
        when None or larger than the posterior).
    seed : int, optional
        Seed of the subsample; by default the sampler's seed + 5.
    level : float
        Coverage of the pointwise equal-tailed band.
    studies : sequence of str, optional
        Trials to compute (all of the fit's by default).

    Returns
    -------
    dict
        ``out[trial][arm] = (times, median, low, high)``, arms ``"control"`` and
        ``"treated"``: pointwise posterior median and band of ``S_ka(t)``.

    Raises
    ------
    IPDDataError
        A trial of the fit has no participant rows in ``ipd`` (fitted from a summary): its
        curve is unavailable; or the rows are not those of the fit.
    ValueError
        The fit is not a survival fit, or ``times`` holds a negative or non-finite value.
    """
    design = result.built.design
    require_survival(design.family, "predictive_survival")
    check_survival_ipd(ipd)
    check_spec_columns(ipd, result.built.spec)
    grid = None if times is None else _time_grid(times)
    labels = list(design.studies if studies is None else studies)
    unknown = [s for s in labels if s not in design.studies]
    if unknown:
        raise IPDDataError(f"trial {unknown[0]!r} is not in the fit; its trials: {design.studies}")
    rng = np.random.default_rng(result.derived_seed("predictive_survival", seed))
    coef_all = coefficient_draws(result)
    index = _draw_index(coef_all.shape[0], draws, rng)
    coef = coef_all[index]
    log_h = log_hazard_draws(result)[index]
    offset = treated_offset(result.idata.posterior, design)  # a time-varying effect
    q = ((1 - level) / 2, 0.5, (1 + level) / 2)
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {}
    for label in labels:
        k = design.studies.index(label)
        z = participant_design_rows(result, ipd, label)
        t_grid = grid if grid is not None else _default_times(ipd, trial_rows(ipd, label))
        cum_h = cumulative_baseline_hazard(log_h[:, k, :], design.cutpoints, t_grid)
        treated_h = cum_h
        if offset is not None:
            treated_log_h = log_h[:, k, :] + offset[index, k, :]
            treated_h = cumulative_baseline_hazard(treated_log_h, design.cutpoints, t_grid)
        # The intercept column (alpha_k) is already the first interval's log hazard.
        eta = coef[:, k, 1:] @ z[:, 1:].T  # (S, n)
        out[label] = {}
        for a, arm in enumerate(ARMS):
            surv = _mean_survival(treated_h if a else cum_h, eta[:, z[:, 1] == a])
            low, median, high = np.quantile(surv, q, axis=0)
            out[label][arm] = tuple(readonly(v) for v in (t_grid, median, low, high))
    return out
