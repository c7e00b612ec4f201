"""The two-stage result: per-trial estimates with their pooled summary, and its report.

:class:`TwoStageResult` holds stage one's :class:`~bayes_ipd.two_stage.aggregate.AggregateData`
and stage two's :class:`~bayes_ipd.two_stage.pooling.PooledResult`; it prints an
ipdmetan-like table, gives a summary frame and JSON, and draws its forest plot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from bayes_ipd.conventions import SCALES, json_ready, method_label
from bayes_ipd.families import get_family
from bayes_ipd.two_stage.aggregate import AggregateData
from bayes_ipd.two_stage.forest_rows import two_stage_forest
from bayes_ipd.two_stage.pooling import PooledResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TwoStageResult"]

_CELL = 32  # width of an "estimate [low, high]" cell


@dataclass(frozen=True, eq=False)
class TwoStageResult:
    """Per-trial estimates and their pooled summary.

    Attributes
    ----------
    per_study : AggregateData
        Stage-one estimates, excluded trials included with their reasons.
    pooled : PooledResult
        Stage-two pooling of the included trials.
    family : str or None
        Outcome family of the participant rows (``"gaussian"``, ``"binomial"``,
        ``"survival"``); None when the per-trial results were given, not fitted.
    dropped : Mapping[str, int]
        Participant rows left out before stage one, counted by reason.

    Examples
    --------
    >>> from bayes_ipd.datasets import load_bcg_ipd
    >>> from bayes_ipd.two_stage import two_stage
    >>> res = two_stage(load_bcg_ipd(), method="REML", hksj=True)
    >>> res.pooled.k
    13
    """

    per_study: AggregateData
    pooled: PooledResult
    family: str | None = None
    dropped: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dropped", MappingProxyType(dict(self.dropped)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result, NaN as None.

        Keys ``pooled`` (:meth:`PooledResult.to_dict`), ``per_study`` (one record per
        trial: ``study, estimate, se, n, events, excluded``), ``term``, ``family`` and
        ``dropped``.
        """
        return {
            "pooled": self.pooled.to_dict(),
            "per_study": _per_study_records(self.per_study),
            "term": self.per_study.term,
            "family": self.family,
            "dropped": {str(k): int(v) for k, v in self.dropped.items()},
        }

    def summary_frame(self) -> pd.DataFrame:
        """One row per trial, then the pooled row.

        Columns ``study, n, events, estimate, se, ci_low, ci_high`` (normal-based
        per-trial intervals at the pooled result's level), on a log-ratio scale also
        ``exp_estimate, exp_ci_low, exp_ci_high``, then ``weight`` (percent; NaN for
        excluded trials) and ``excluded`` (the reason, or None).
        """
        return _summary_frame(self.per_study, self.pooled)

    def __str__(self) -> str:
        return _format_report(self.per_study, self.pooled, self.family, self.dropped)

    def __repr__(self) -> str:
        return self.__str__()

    def plot_forest(self, **kw: Any) -> Figure:
        """Forest plot of the per-trial estimates and the pooled one.

        Keywords are passed to
        :func:`bayes_ipd.two_stage.forest_rows.two_stage_forest`; the intervals' level
        defaults to the pooled result's.
        """
        kw.setdefault("level", self.pooled.level)
        return two_stage_forest(self.pooled, self.per_study, **kw)


# --- the result's tables and report ---------------------------------------------------


def _per_study_records(agg: AggregateData) -> list[dict[str, Any]]:
    """One JSON-ready record per trial: ``study, estimate, se, n, events, excluded``."""
    return [json_ready(row) for row in agg.to_frame().to_dict(orient="records")]


def _summary_frame(agg: AggregateData, pooled: PooledResult) -> pd.DataFrame:
    """Per-trial rows and the pooled row of a forest-plot table (see
    :meth:`TwoStageResult.summary_frame`)."""
    frame = agg.to_frame()
    half = float(stats.norm.isf((1.0 - pooled.level) / 2.0)) * frame["se"]
    frame.insert(3, "ci_low", frame["estimate"] - half)
    frame.insert(4, "ci_high", frame["estimate"] + half)
    weights = dict(zip(pooled.studies, pooled.weights, strict=True))
    frame["weight"] = [weights.get(s, math.nan) for s in frame["study"]]
    pooled_row = {
        "study": _pooled_label(pooled),
        "estimate": pooled.estimate,
        "se": pooled.se,
        "ci_low": pooled.ci_low,
        "ci_high": pooled.ci_high,
        "n": _total(frame["n"], frame["excluded"]),
        "events": _total(frame["events"], frame["excluded"]),
        "weight": 100.0,
        "excluded": None,
    }
    frame = pd.concat([frame, pd.DataFrame([pooled_row])], ignore_index=True)
    if pooled.is_ratio:
        for column in ("estimate", "ci_low", "ci_high"):
            frame[f"exp_{column}"] = np.exp(frame[column].astype(float))
    order = ["study", "n", "events", "estimate", "se", "ci_low", "ci_high"]
    order += [c for c in frame.columns if c.startswith("exp_")] + ["weight", "excluded"]
    return frame[order]


def _format_report(
    agg: AggregateData,
    pooled: PooledResult,
    family: str | None = None,
    dropped: Mapping[str, int] | None = None,
) -> str:
    """An ipdmetan-like report: per-trial table, excluded trials, dropped rows, pooling."""
    lines = [_title(agg, pooled, family), ""]
    lines += _table_lines(_summary_frame(agg, pooled), pooled)
    excluded = [(s, r) for s, r in zip(agg.studies, agg.excluded, strict=True) if r is not None]
    if excluded:
        lines += ["", f"Excluded from pooling ({len(excluded)} trial(s)):"]
        lines += [f"  {study}: {reason}" for study, reason in excluded]
    if dropped:
        total = sum(dropped.values())
        detail = ", ".join(f"{reason}: {count}" for reason, count in dropped.items())
        lines += ["", f"Participant rows dropped for missing values: {total} ({detail})"]
    lines += ["", str(pooled)]
    return "\n".join(lines)


def _title(agg: AggregateData, pooled: PooledResult, family: str | None) -> str:
    k = agg.k
    if family is None:
        head = f"Meta-analysis of per-trial results, term {agg.term!r}"
    else:
        head = (
            f"Two-stage IPD meta-analysis ({family} outcome; stage one: "
            f"{get_family(family).stage_one_model}), term {agg.term!r}"
        )
    return f"{head}: {k} trial(s), {pooled.k} pooled, {agg.n_excluded} excluded"


def _table_lines(frame: pd.DataFrame, pooled: PooledResult) -> list[str]:
    pct = f"{100 * pooled.level:g}%"
    scale = pooled.scale or "estimate"
    width = max(12, *(len(str(s)) for s in frame["study"])) + 2
    ratio = SCALES[str(pooled.scale)].ratio_label if pooled.is_ratio else None
    header = f"{'study':<{width}}{'n':>9}{'events':>8}  {f'{scale:>9} [{pct} CI]':<{_CELL}}"
    if ratio:
        header += f"  {f'{ratio:>9} [{pct} CI]':<{_CELL}}"
    header += f"{'weight %':>9}"
    rule = "-" * len(header)
    lines = [header, rule]
    for i, row in frame.iterrows():
        if i == len(frame) - 1:
            lines.append(rule)
        text = (
            f"{row['study']!s:<{width}}{_count(row['n']):>9}{_count(row['events']):>8}  "
            f"{_interval(row['estimate'], row['ci_low'], row['ci_high'])}"
        )
        if ratio:
            text += "  " + _interval(row["exp_estimate"], row["exp_ci_low"], row["exp_ci_high"])
        weight = "excluded" if isinstance(row["excluded"], str) else _fixed(row["weight"], 2)
        lines.append(f"{text}{weight:>9}")
    lines.append(rule)
    return lines


def _pooled_label(pooled: PooledResult) -> str:
    return f"pooled ({method_label(pooled.method, pooled.hksj)})"


def _total(counts: pd.Series, excluded: pd.Series) -> Any:
    kept = counts[excluded.isna()]
    return pd.NA if kept.isna().any() else int(kept.sum())


def _count(value: Any) -> str:
    return "" if pd.isna(value) else str(int(value))


def _fixed(value: float, digits: int = 3) -> str:
    return "" if pd.isna(value) else f"{value:.{digits}f}"


def _interval(estimate: float, low: float, high: float) -> str:
    if pd.isna(estimate):
        return " " * _CELL
    return f"{estimate:>9.3f} [{low:>8.3f}, {high:>8.3f}]".ljust(_CELL)
