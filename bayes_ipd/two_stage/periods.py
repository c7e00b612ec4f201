"""Two-stage treatment effects that change in time: one log hazard ratio per period.

Cut points ``c_1 < ... < c_m`` make the periods ``[0, c_1), [c_1, c_2), ..., [c_m, inf)``.
In each trial a Cox model with one treatment coefficient per period is fitted on
episode-split data (:mod:`bayes_ipd.families.cox_periods`; the covariates as in the usual
stage one; an event at exactly a cut point belongs to the period ending there, as R
``survSplit`` counts it); then each period's log hazard ratios are pooled across trials with
the route's method. A trial without events in a period, or without events in one arm
there, is excluded from that period (named, with the reason) and its other periods kept.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayes_ipd.conventions import json_ready
from bayes_ipd.data import IPD
from bayes_ipd.errors import PoolingError, SpecError
from bayes_ipd.families.cox_periods import PeriodFit, period_label
from bayes_ipd.families.regression import Unfittable
from bayes_ipd.two_stage.aggregate import AggregateData
from bayes_ipd.two_stage.pooling import PooledResult, pool_aggregate
from bayes_ipd.two_stage.trial_models import survival_family, trial_models

__all__ = ["IntervalResult", "effects_by_interval", "parse_cut_points"]


@dataclass(frozen=True)
class IntervalResult:
    """One period's per-trial log hazard ratios and their pooled value.

    Attributes
    ----------
    start, end : float
        The period ``[start, end)``; ``end`` is ``inf`` for the last.
    per_study : AggregateData
        Per trial: the estimate and SE, ``n`` at risk when the period starts, ``events`` in
        it, and the reason of a trial excluded from this period.
    pooled : PooledResult
        The pooled log hazard ratio of the period.
    """

    start: float
    end: float
    per_study: AggregateData
    pooled: PooledResult

    @property
    def label(self) -> str:
        """``"[12, 36)"``."""
        return period_label(self.start, self.end)

    def to_dict(self) -> dict[str, Any]:
        """``{"start", "end", "pooled", "per_study"}`` (``end`` None for the open last
        period; ``pooled`` and ``per_study`` shaped as the two-stage result's own)."""
        records = self.per_study.to_frame().to_dict(orient="records")
        return {
            "start": self.start,
            "end": self.end if math.isfinite(self.end) else None,
            "pooled": self.pooled.to_dict(),
            "per_study": [json_ready(r) for r in records],
        }


def parse_cut_points(values: str | Sequence[Any]) -> tuple[float, ...]:
    """Cut points from ``"12,36"`` or a sequence: finite, positive, strictly increasing.

    Raises
    ------
    SpecError
        A value is not a number, not finite, not positive, or the values are not strictly
        increasing (a duplicate or an unsorted pair is named).
    """
    items = [v.strip() for v in values.split(",")] if isinstance(values, str) else list(values)
    if not items or items == [""]:
        raise SpecError("effect intervals: no cut point given (e.g. 12,36)")
    cuts = []
    for item in items:
        try:
            value = float(item)
        except (TypeError, ValueError):
            raise SpecError(f"effect intervals: cut point {item!r} is not a number") from None
        if isinstance(item, bool) or not math.isfinite(value) or value <= 0:
            raise SpecError(f"effect intervals: cut point {item!r} must be a positive finite time")
        cuts.append(value)
    for before, after in itertools.pairwise(cuts):
        if after == before:
            raise SpecError(f"effect intervals: cut point {after:g} is given twice")
        if after < before:
            raise SpecError(
                f"effect intervals: cut points must increase ({before:g} comes before {after:g})"
            )
    return tuple(cuts)


def effects_by_interval(
    ipd: IPD,
    cuts: str | Sequence[float],
    *,
    covariates: Sequence[str] = (),
    method: str = "REML",
    hksj: bool = False,
    level: float = 0.95,
    excluded: Mapping[str, str] | None = None,
) -> tuple[IntervalResult, ...]:
    """One log hazard ratio per period in each trial, pooled per period.

    Parameters
    ----------
    ipd : IPD
        Survival participant rows.
    cuts : str or sequence of float
        Cut points (``"12,36"`` or ``[12, 36]``): periods ``[0, 12), [12, 36), [36, inf)``.
    covariates : sequence of str
        Adjustment covariates, as in stage one.
    method, hksj, level
        Pooling, as in :func:`bayes_ipd.two_stage.pooling.pool_aggregate`.
    excluded : mapping, optional
        Trials excluded at stage one (study -> reason): excluded from every period with it.

    Returns
    -------
    tuple of IntervalResult
        One per period, in time order.

    Raises
    ------
    SpecError
        Bad cut points, or an outcome that is not time to event.
    PoolingError
        A period in which no trial can be estimated (named).

    Warns
    -----
    UserWarning
        For each trial excluded from a period, naming both and the reason.

    Examples
    --------
    >>> from bayes_ipd.datasets import load_survival_ipd
    >>> by = effects_by_interval(load_survival_ipd(), [1, 3])
    >>> [r.label for r in by]
    ['[0, 1)', '[1, 3)', '[3, inf)']
    """
    cut_points = parse_cut_points(cuts)
    family = survival_family(ipd, "effect intervals")
    fits: list[tuple[PeriodFit, ...]] = []
    bounds = [0.0, *cut_points, math.inf]
    for model in trial_models(ipd, family, covariates, excluded=excluded):
        fits.append(_trial_periods(family, model, bounds, cut_points))
    out = []
    for p in range(len(bounds) - 1):
        agg = _period_aggregate(ipd, fits, p, family.scale.code)
        for study, reason in zip(agg.studies, agg.excluded, strict=True):
            if reason is not None:
                warnings.warn(
                    f"trial {study!r} excluded from period {period_label(bounds[p], bounds[p + 1])}"
                    f": {reason}",
                    UserWarning,
                    stacklevel=2,
                )
        if agg.n_excluded == agg.k:
            raise PoolingError(
                f"effect intervals: no trial can be estimated in period "
                f"{period_label(bounds[p], bounds[p + 1])} (no events in both arms in any "
                "trial); choose other cut points"
            )
        pooled = pool_aggregate(agg, method=method, hksj=hksj, level=level)
        out.append(IntervalResult(bounds[p], bounds[p + 1], agg, pooled))
    return tuple(out)


def _trial_periods(
    family: Any, model: Any, bounds: list[float], cuts: tuple[float, ...]
) -> tuple[PeriodFit, ...]:
    """A trial's per-period fits; every period carries the reason when none can be fitted."""
    reason = model.reason
    if model.x is not None:
        try:
            fits = family.fit_trial_by_period(
                model.responses, model.x, model.names, model.term, cuts
            )
        except Unfittable as exc:
            reason = str(exc)
        else:
            unit = float(model.unit[model.term])
            return tuple(
                PeriodFit(f.start, f.end, f.estimate / unit, f.se / unit, f.n, f.events, f.reason)
                for f in fits
            )
    time, event = model.responses["time"], model.responses["event"]
    return tuple(
        PeriodFit(
            lo,
            hi,
            math.nan,
            math.nan,
            int(np.sum(time > lo)),
            int(np.sum((time > lo) & (time <= hi) & (event == 1))),
            reason,
        )
        for lo, hi in itertools.pairwise(bounds)
    )


def _period_aggregate(
    ipd: IPD, fits: list[tuple[PeriodFit, ...]], p: int, scale: str
) -> AggregateData:
    rows = [trial[p] for trial in fits]
    return AggregateData(
        studies=ipd.studies,
        estimate=np.array([r.estimate for r in rows]),
        se=np.array([r.se for r in rows]),
        n=np.array([r.n for r in rows]),
        events=np.array([r.events for r in rows], dtype=float),
        excluded=tuple(r.reason for r in rows),
        term=f"treat in {period_label(rows[0].start, rows[0].end)}",
        scale=scale,
    )
