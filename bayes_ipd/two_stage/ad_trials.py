"""Aggregate-data (AD) trials pooled beside the IPD trials' stage-one results.

As Stata's ``ipdmetan ..., ad()``: a trial known only by its published estimate and SE
enters stage two next to the estimates that stage one computed from participant rows. A
trial present both as IPD and as AD is refused unless the caller says which to keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage.aggregate import AggregateData

__all__ = ["AD", "IPD_SOURCE", "OVERLAP_RULES", "Combined", "combine_with_aggregate"]

IPD_SOURCE = "IPD"
"""Source label of a trial whose estimate comes from its participant rows."""

AD = "AD"
"""Source label of a trial known only by its published (aggregate) estimate."""

OVERLAP_RULES: tuple[str, ...] = ("error", "ipd", "aggregate")
"""What to do with a trial given both as IPD and as AD: refuse (default), keep the IPD
estimate, or keep the published one. The trial dropped from the other source is named in
:attr:`Combined.overlap`."""


@dataclass(frozen=True, eq=False)
class Combined:
    """Stage-one estimates of the IPD trials and the AD trials, as one table.

    Attributes
    ----------
    per_study : AggregateData
        IPD trials first (in their order), then the AD trials.
    sources : Mapping[str, str]
        ``"IPD"`` or ``"AD"`` per trial label.
    overlap : tuple of str
        Trials given both ways; the rule kept one of the two.
    """

    per_study: AggregateData
    sources: Mapping[str, str]
    overlap: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))


def combine_with_aggregate(
    stage_one: AggregateData, aggregate: AggregateData, *, overlap: str = "error"
) -> Combined:
    """Put AD trials beside the IPD trials' stage-one estimates.

    Parameters
    ----------
    stage_one : AggregateData
        Stage-one results of the IPD trials.
    aggregate : AggregateData
        Published estimates and SEs of the AD trials, on the same effect scale and for the
        same term (a missing scale is taken to be stage one's).
    overlap : {"error", "ipd", "aggregate"}
        A trial in both: refuse, keep its IPD estimate, or keep its published one.

    Returns
    -------
    Combined

    Raises
    ------
    PoolingError
        The scales or terms differ, ``overlap`` is unknown, or (with ``"error"``) a trial is
        in both (the trials are named).
    """
    if overlap not in OVERLAP_RULES:
        raise PoolingError(f"unknown overlap rule {overlap!r}; expected one of {OVERLAP_RULES}")
    if aggregate.scale is not None and aggregate.scale != stage_one.scale:
        raise PoolingError(
            f"the aggregate-data trials are on the {aggregate.scale} scale, the IPD trials' "
            f"stage-one estimates on the {stage_one.scale} scale; give both on one scale"
        )
    if aggregate.term != stage_one.term:
        raise PoolingError(
            f"the aggregate-data trials estimate {aggregate.term!r}, stage one pools "
            f"{stage_one.term!r}; give the published estimates of the same term"
        )
    both = tuple(s for s in aggregate.studies if s in set(stage_one.studies))
    if both and overlap == "error":
        raise PoolingError(
            f"trial(s) {', '.join(map(repr, both))} given both as IPD and as aggregate data; "
            "remove one, or choose which to keep (overlap='ipd' or 'aggregate'; CLI "
            "--overlap ipd|aggregate)"
        )
    keep_ipd = [s not in both or overlap == "ipd" for s in stage_one.studies]
    keep_ad = [s not in both or overlap == "aggregate" for s in aggregate.studies]
    ipd_part, ad_part = _subset(stage_one, keep_ipd), _subset(aggregate, keep_ad)
    merged = AggregateData(
        studies=ipd_part.studies + ad_part.studies,
        estimate=np.concatenate([ipd_part.estimate, ad_part.estimate]),
        se=np.concatenate([ipd_part.se, ad_part.se]),
        n=_join_counts(ipd_part.n, ad_part.n),
        events=_join_counts(ipd_part.events, ad_part.events),
        excluded=ipd_part.excluded + ad_part.excluded,
        term=stage_one.term,
        scale=stage_one.scale,
    )
    sources = {s: IPD_SOURCE for s in ipd_part.studies} | {s: AD for s in ad_part.studies}
    return Combined(per_study=merged, sources=sources, overlap=both)


def _subset(agg: AggregateData, keep: list[bool]) -> AggregateData:
    mask = np.array(keep, dtype=bool)
    return AggregateData(
        studies=tuple(s for s, k in zip(agg.studies, keep, strict=True) if k),
        estimate=agg.estimate[mask],
        se=agg.se[mask],
        n=None if agg.n is None else agg.n[mask],
        events=None if agg.events is None else agg.events[mask],
        excluded=tuple(r for r, k in zip(agg.excluded, keep, strict=True) if k),
        term=agg.term,
        scale=agg.scale,
    )


def _join_counts(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Counts of both parts, or None when one part does not know them."""
    if a is None or b is None:
        return None
    return np.concatenate([a, b])
