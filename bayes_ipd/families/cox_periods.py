"""One log hazard ratio per period of follow-up: a Cox model on episode-split data.

Cut points ``c_1 < ... < c_m`` make the periods ``(0, c_1], (c_1, c_2], ..., (c_m, inf)``.
Each participant's follow-up is split at the cut points into episodes (counting-process
rows ``(start, stop]``, R ``survSplit``): an episode ends in an event only if the
participant's event falls in it, so an event at exactly ``c_j`` belongs to the period that
ends at ``c_j``. The model holds one treatment coefficient per period (the treatment
indicator times the period's indicator) and the covariates as in the ordinary stage one
(constant in time); it is R's ``coxph(Surv(tstart, time, event) ~ t1 + ... + tP + x)``
with Efron's ties on the split data, where a participant is at risk at ``t`` in an episode
with ``start < t <= stop``.

A period without events, or without events in one arm, has no finite estimate in that trial:
its episodes are left out of the trial's model (the trial is excluded from that period's
pooling, with the reason), and the other periods are estimated without them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bayes_ipd.families.regression import Unfittable, check_design, quietly, term_estimate

__all__ = ["Episodes", "PeriodFit", "fit_periods", "period_label", "split_episodes"]


@dataclass(frozen=True)
class Episodes:
    """Episode-split rows: each the part of one participant's follow-up in one period.

    Attributes
    ----------
    start, stop : numpy.ndarray
        The episode's ``(start, stop]``.
    status : numpy.ndarray
        1 if the participant's event ends this episode.
    period : numpy.ndarray
        The period's index (0 for the first).
    row : numpy.ndarray
        The participant's row in the trial.
    """

    start: np.ndarray
    stop: np.ndarray
    status: np.ndarray
    period: np.ndarray
    row: np.ndarray


@dataclass(frozen=True)
class PeriodFit:
    """One trial's log hazard ratio in one period.

    Attributes
    ----------
    start, end : float
        The period (``end`` is ``inf`` for the last one).
    estimate, se : float
        Its estimate and model-based SE (NaN when excluded).
    n : int
        Participants at risk when the period starts.
    events : int
        Events in the period.
    reason : str or None
        Why the trial has no estimate in this period.
    """

    start: float
    end: float
    estimate: float
    se: float
    n: int
    events: int
    reason: str | None = None


def period_label(start: float, end: float) -> str:
    """``"[12, 36)"``, ``"[36, inf)"``: a period in words."""
    return f"[{start:g}, {end:g})" if math.isfinite(end) else f"[{start:g}, inf)"


def split_episodes(time: np.ndarray, event: np.ndarray, cuts: Sequence[float]) -> Episodes:
    """Split follow-up at ``cuts`` (increasing, positive) into episodes, as R
    ``survSplit(Surv(time, event) ~ ., cut = cuts)``."""
    bounds = np.concatenate([[0.0], np.asarray(cuts, float), [np.inf]])
    parts = []
    for p in range(len(bounds) - 1):
        rows = np.flatnonzero(time > bounds[p])
        ends_here = time[rows] <= bounds[p + 1]
        parts.append(
            (
                np.full(len(rows), bounds[p]),
                np.minimum(time[rows], bounds[p + 1]),
                np.where(ends_here, event[rows], 0.0),
                np.full(len(rows), p),
                rows,
            )
        )
    start, stop, status, period, row = (np.concatenate(c) for c in zip(*parts, strict=True))
    return Episodes(start, stop, status, period.astype(int), row)


def _period_problem(status: np.ndarray, treat: np.ndarray) -> str | None:
    """Why a period's episodes cannot give a log hazard ratio, or None."""
    missing = [arm for arm in (0.0, 1.0) if not np.any(status[treat == arm] == 1.0)]
    if len(missing) == 2:
        return "no events in the period"
    if missing:
        return f"no events in the {'treated' if missing[0] == 1.0 else 'control'} arm in the period"
    return None


def fit_periods(
    time: np.ndarray,
    event: np.ndarray,
    x: np.ndarray,
    names: Sequence[str],
    term: int,
    cuts: Sequence[float],
) -> tuple[PeriodFit, ...]:
    """The log hazard ratio of design column ``term`` (the 0/1 treatment) in each period.

    Parameters
    ----------
    time, event : numpy.ndarray
        One trial's follow-up times and 0/1 events.
    x : numpy.ndarray
        Its design (no intercept) as in the ordinary stage one.
    names : sequence of str
        Column names.
    term : int
        The treatment column.
    cuts : sequence of float
        Increasing positive cut points.

    Returns
    -------
    tuple of PeriodFit
        One per period, in time order.

    Raises
    ------
    Unfittable
        No period can be estimated, or the model cannot be fitted.
    """
    from statsmodels.duration.hazard_regression import PHReg

    bounds = [0.0, *map(float, cuts), math.inf]
    ep = split_episodes(time, event, cuts)
    treat = x[ep.row, term]
    n_periods = len(bounds) - 1
    problems = [
        _period_problem(ep.status[ep.period == p], treat[ep.period == p] != 0)
        for p in range(n_periods)
    ]
    kept = [p for p in range(n_periods) if problems[p] is None]
    if not kept:
        raise Unfittable("no period has events in both arms")
    use = np.isin(ep.period, kept)
    others = [j for j in range(x.shape[1]) if j != term]
    columns = [np.where(ep.period[use] == p, treat[use], 0.0) for p in kept]
    design = np.column_stack([*columns, *(x[ep.row[use], j] for j in others)])
    design_names = [f"{names[term]}@{period_label(bounds[p], bounds[p + 1])}" for p in kept]
    design_names += [names[j] for j in others]
    check_design(design, design_names, min_residual_df=0)
    # statsmodels counts a row at risk from its entry time on (entry <= t); R's
    # counting-process rows (start, stop] from just after it: the next double is exactly that
    entry = np.nextafter(ep.start[use], np.inf)
    fit = quietly(
        lambda: PHReg(ep.stop[use], design, status=ep.status[use], entry=entry, ties="efron").fit()
    )
    out = []
    for p in range(n_periods):
        in_p = ep.period == p
        n, events = int(in_p.sum()), int(ep.status[in_p].sum())
        if p in kept:
            estimate, se = term_estimate(fit.params, fit.bse, kept.index(p))
            out.append(PeriodFit(bounds[p], bounds[p + 1], estimate, se, n, events))
        else:
            out.append(
                PeriodFit(bounds[p], bounds[p + 1], math.nan, math.nan, n, events, problems[p])
            )
    return tuple(out)
