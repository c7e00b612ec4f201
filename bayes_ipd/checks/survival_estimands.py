"""Survival curves a clinician reads, from a survival fit's draws: per arm in each trial and
in a new trial, the pooled hazard ratio over time, and median survival per arm.

Every curve is the survival of a participant at the trial's covariate means (covariates are
centred within trial, so the baseline hazard is theirs): ``S_k0(t) = exp(-H_k(t))`` and
``S_k1(t) = exp(-int_0^t h_k(u) exp(theta_k(u)) du)`` with the arms' log hazards of
:mod:`~bayes_ipd.checks.arm_hazards` (where the new trial is defined). This differs from the
posterior predictive curves of :func:`~bayes_ipd.checks.survival_curves.predictive_survival`,
which average over each arm's own participants to be compared with its Kaplan-Meier curve.

Bands are pointwise equal-tailed posterior intervals. Beyond the last cut point the hazard
is the last interval's constant hazard; beyond a trial's follow-up the curve is an
extrapolation on it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_ipd.checks.arm_hazards import (
    ArmHazards,
    arm_hazards,
    new_trial_arm_hazards,
    pooled_log_hazard_ratio,
)
from bayes_ipd.checks.baseline_hazard import interval_edges
from bayes_ipd.checks.piecewise_survival import median_time, survival_function
from bayes_ipd.conventions import ARMS
from bayes_ipd.draws import quantile_labels

if TYPE_CHECKING:
    from bayes_ipd.draws import Fit

__all__ = [
    "default_times",
    "hazard_ratio_curve",
    "median_survival",
    "survival_curves",
]

_POINTS = 101
_NOT_REACHED = 1e300


def default_times(cutpoints: tuple[float, ...], end: float | None = None) -> np.ndarray:
    """101 times from 0 to ``end`` (default: the last cut point plus a quarter of it, or
    plus the last closed interval's width if wider).

    Raises
    ------
    ValueError
        No cut point and no ``end`` (a single interval says nothing about the time scale).
    """
    if end is None:
        if not cutpoints:
            raise ValueError("a model with one baseline interval needs times= (or until=)")
        last = cutpoints[-1]
        width = last - (cutpoints[-2] if len(cutpoints) > 1 else 0.0)
        end = last + max(0.25 * last, width)
    if not (math.isfinite(end) and end > 0):
        raise ValueError(f"the end of the time grid must be a finite time > 0, got {end!r}")
    return np.linspace(0.0, float(end), _POINTS)


def _grid(times: Any, cutpoints: tuple[float, ...], end: float | None) -> np.ndarray:
    if times is None:
        return default_times(cutpoints, end)
    grid = np.asarray(times, dtype=np.float64).ravel()
    if grid.size == 0 or not np.all(np.isfinite(grid)) or (grid < 0).any():
        raise ValueError("times must be a non-empty array of finite times >= 0")
    return grid


def _hazard_sets(fit: Fit, new_trial: bool, baseline: str, seed: int | None) -> list[ArmHazards]:
    sets = [arm_hazards(fit)]
    if new_trial:
        sets.append(new_trial_arm_hazards(fit, baseline=baseline, seed=seed))
    return sets


def survival_curves(
    fit: Fit,
    *,
    times: Any = None,
    level: float = 0.95,
    new_trial: bool = True,
    baseline: str = "average",
    seed: int | None = None,
    end: float | None = None,
) -> pd.DataFrame:
    """Posterior survival curve of each arm in each trial (and in a new trial).

    Parameters
    ----------
    fit : Fit
        A survival fit.
    times : array_like, optional
        Times >= 0; by default 101 from 0 to ``end``.
    level : float
        Coverage of the pointwise band.
    new_trial : bool
        Add the ``"new trial"`` curves (:mod:`~bayes_ipd.checks.arm_hazards`).
    baseline : {"average", "sampled"}
        The new trial's baseline hazard.
    seed : int, optional
        Seed of the new-trial draws (default: the sampler's seed + 1).
    end : float, optional
        End of the default grid (:func:`default_times`).

    Returns
    -------
    pandas.DataFrame
        ``study, arm, time, mean, median, q025, q975`` (``arm`` ``"control"`` or
        ``"treated"``).
    """
    lo, hi = quantile_labels(level)
    frames = []
    for hazards in _hazard_sets(fit, new_trial, baseline, seed):
        grid = _grid(times, hazards.cutpoints, end)
        surv = survival_function(hazards.log_hazard, hazards.cutpoints, grid)  # (S, K, 2, T)
        q = np.quantile(surv, [(1 - level) / 2, 0.5, (1 + level) / 2], axis=0)
        mean = surv.mean(axis=0)
        for k, study in enumerate(hazards.labels):
            for a, arm in enumerate(ARMS):
                frames.append(
                    pd.DataFrame(
                        {
                            "study": study,
                            "arm": arm,
                            "time": grid,
                            "mean": mean[k, a],
                            "median": q[1, k, a],
                            lo: q[0, k, a],
                            hi: q[2, k, a],
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)


def hazard_ratio_curve(
    fit: Fit, *, level: float = 0.95, new_trial: bool = True, seed: int | None = None
) -> pd.DataFrame:
    """The pooled hazard ratio in each baseline-hazard interval, with its band.

    Flat under proportional hazards (``exp(mu)`` everywhere); a step per interval where the
    model lets the effect change with time.

    Returns
    -------
    pandas.DataFrame
        ``kind`` (``"pooled"``; ``"new trial"``: the hazard ratio in a new trial), ``start``,
        ``end`` (``inf`` for the last interval), ``median, q025, q975`` of the hazard ratio
        and ``p_lt_1`` (posterior probability of a lower hazard on treatment).
    """
    lo, hi = quantile_labels(level)
    edges = interval_edges(fit.built.design.cutpoints)
    sets = {"pooled": pooled_log_hazard_ratio(fit)}
    if new_trial:
        sets["new trial"] = new_trial_arm_hazards(fit, seed=seed).log_hazard_ratio[:, 0, :]
    rows = []
    for kind, log_hr in sets.items():
        q = np.quantile(log_hr, [(1 - level) / 2, 0.5, (1 + level) / 2], axis=0)
        for j in range(log_hr.shape[1]):
            rows.append(
                {
                    "kind": kind,
                    "start": float(edges[j]),
                    "end": float(edges[j + 1]),
                    "median": math.exp(q[1, j]),
                    lo: math.exp(q[0, j]),
                    hi: math.exp(q[2, j]),
                    "p_lt_1": float(np.mean(log_hr[:, j] < 0)),
                }
            )
    return pd.DataFrame.from_records(rows)


def _until(until: float | Mapping[str, float] | None, study: str, fallback: float) -> float:
    if until is None:
        return fallback
    if isinstance(until, Mapping):
        return float(until.get(study, fallback))
    return float(until)


def median_survival(
    fit: Fit,
    *,
    level: float = 0.95,
    until: float | Mapping[str, float] | None = None,
    new_trial: bool = True,
    baseline: str = "average",
    seed: int | None = None,
) -> pd.DataFrame:
    """Posterior median survival time per arm, in each trial and a new trial.

    Per draw, the time where the arm's curve reaches 1/2, "not reached" (``inf``) when
    later than ``until``; the posterior median and interval of those times.

    Parameters
    ----------
    until : float or mapping of str to float, optional
        The end of follow-up (one time, or per trial; a trial not in the mapping, and the
        new trial, take the largest); default: the end of :func:`default_times`' grid
        (infinite for a model with a single baseline interval: never "not reached").

    Returns
    -------
    pandas.DataFrame
        ``study, arm, until, median, q025, q975, p_reached, reached``: ``median`` is NaN
        and ``reached`` False when the posterior probability that the median survival
        time falls before ``until`` (``p_reached``) is below 1/2; an interval bound is NaN
        when not reached in that tail.
    """
    lo, hi = quantile_labels(level)
    cuts = fit.built.design.cutpoints
    fallback = float(default_times(cuts)[-1]) if cuts else math.inf
    if isinstance(until, Mapping) and until:
        fallback = max(float(v) for v in until.values())
    elif until is not None and not isinstance(until, Mapping):
        fallback = float(until)
    rows = []
    for hazards in _hazard_sets(fit, new_trial, baseline, seed):
        for k, study in enumerate(hazards.labels):
            end = _until(until, study, fallback)
            times = median_time(hazards.log_hazard[:, k], hazards.cutpoints, end)  # (S, 2)
            # "not reached" as a huge time: quantiles interpolate, inf - inf would be NaN
            capped = np.where(np.isfinite(times), times, _NOT_REACHED)
            q = np.quantile(capped, [(1 - level) / 2, 0.5, (1 + level) / 2], axis=0)
            for a, arm in enumerate(ARMS):
                finite = np.where(q[:, a] <= end, q[:, a], math.nan)
                rows.append(
                    {
                        "study": study,
                        "arm": arm,
                        "until": end,
                        "median": finite[1],
                        lo: finite[0],
                        hi: finite[2],
                        "p_reached": float(np.mean(np.isfinite(times[:, a]))),
                        "reached": bool(q[1, a] <= end),
                    }
                )
    return pd.DataFrame.from_records(rows)
