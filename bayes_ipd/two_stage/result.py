"""The two-stage result: per-trial estimates with their pooled summary, and its report.

:class:`TwoStageResult` holds stage one's :class:`~bayes_ipd.two_stage.aggregate.AggregateData`
and stage two's :class:`~bayes_ipd.two_stage.pooling.PooledResult`; it prints an
ipdmetan-like table, gives a summary frame and JSON, and draws its forest plot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from bayes_ipd.conventions import SCALES, json_ready, method_label
from bayes_ipd.families import get_family
from bayes_ipd.plots.text import TextColumn, decimals_for, fmt_count, fmt_fixed, text_table
from bayes_ipd.two_stage.aggregate import AggregateData
from bayes_ipd.two_stage.forest_rows import two_stage_forest
from bayes_ipd.two_stage.pooling import PooledResult
from bayes_ipd.two_stage.rubin import ImputationSummary
from bayes_ipd.two_stage.saving import aggregate_frame, write_aggregate
from bayes_ipd.two_stage.time_effect_report import time_effect_json, time_effect_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TwoStageResult"]


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
    sources : Mapping[str, str]
        ``"IPD"`` or ``"AD"`` per trial when aggregate-data trials were pooled beside the
        IPD ones (:func:`bayes_ipd.two_stage.two_stage` with ``aggregate=``); empty otherwise.
    missing : ImputationSummary or None
        Missing covariates multiply imputed: M, the method and each trial's Rubin's-rules
        combination (its fraction of missing information); None without imputation.
    ph_tests : ProportionalityChecks or None
        Survival with ``ph_test=True``: each trial's proportional-hazards test
        (:mod:`bayes_ipd.two_stage.ph_test`); in JSON each ``per_study`` record's
        ``ph_test`` (global ``{"statistic", "df", "p"}``) and ``ph_test_terms`` (per term).
    by_interval : tuple of IntervalResult
        Survival with ``effect_intervals``: the per-period analyses
        (:mod:`bayes_ipd.two_stage.periods`), JSON ``by_interval``; empty otherwise.

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
    sources: Mapping[str, str] = field(default_factory=dict)
    missing: ImputationSummary | None = None
    ph_tests: Any = None
    by_interval: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "dropped", MappingProxyType(dict(self.dropped)))
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))

    def to_aggregate_frame(
        self, trial_columns: pd.DataFrame | None = None, *, include_excluded: bool = False
    ) -> pd.DataFrame:
        """Stage-one results as a table (see :func:`bayes_ipd.two_stage.saving.aggregate_frame`).

        Columns ``study, estimate, se, n, events, term, scale``, ``source`` when AD trials
        were pooled, ``excluded`` with ``include_excluded``, then ``trial_columns`` (a
        frame with a ``study`` column, e.g. from
        :func:`bayes_ipd.two_stage.saving.trial_level_frame`).
        """
        return aggregate_frame(
            self.per_study,
            sources=self.sources,
            trial_columns=trial_columns,
            include_excluded=include_excluded,
        )

    def save_aggregate(
        self,
        path: str | PathLike[str],
        trial_columns: pd.DataFrame | None = None,
        *,
        include_excluded: bool = False,
    ) -> Path:
        """Write :meth:`to_aggregate_frame` as CSV, readable by ``bayes-ipd pool`` and
        ``bayes-ipd metareg`` (``--estimate estimate --se se --study study``); the path."""
        frame = self.to_aggregate_frame(trial_columns, include_excluded=include_excluded)
        return write_aggregate(frame, path)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result, NaN as None.

        Keys ``pooled`` (:meth:`PooledResult.to_dict`), ``per_study`` (one record per
        trial: ``study, estimate, se, n, events, excluded``), ``term``, ``family`` and
        ``dropped``; ``missing`` (``{"method", "imputations", "fmi": {STUDY: value}}``)
        only when missing covariates were imputed.
        """
        out = (
            {
                "pooled": self.pooled.to_dict(),
                "per_study": _per_study_records(self.per_study),
                "term": self.per_study.term,
                "family": self.family,
                "dropped": {str(k): int(v) for k, v in self.dropped.items()},
            }
            | ({"sources": dict(self.sources)} if self.sources else {})
            | ({} if self.missing is None else {"missing": self.missing.to_dict()})
        )
        return out | time_effect_json(out["per_study"], self.ph_tests, self.by_interval)

    def summary_frame(self) -> pd.DataFrame:
        """One row per trial, then the pooled row.

        Columns ``study, n, events, estimate, se, ci_low, ci_high`` (normal-based
        per-trial intervals at the pooled result's level), on a log-ratio scale also
        ``exp_estimate, exp_ci_low, exp_ci_high``, then ``weight`` (percent; NaN for
        excluded trials) and ``excluded`` (the reason, or None).
        """
        return _summary_frame(self.per_study, self.pooled)

    def __str__(self) -> str:
        text = _format_report(self.per_study, self.pooled, self.family, self.dropped)
        ad = self._aggregate_only()
        if ad:
            text += f"\n\nAggregate data only (no participant rows): {', '.join(ad)}"
        if self.missing is not None:
            text += "\n\n" + "\n".join(self.missing.lines())
        return text + time_effect_text(self.ph_tests, self.by_interval)

    def _aggregate_only(self) -> list[str]:
        """Trials pooled from a published estimate, not from participant rows."""
        return [s for s in self.per_study.studies if self.sources.get(s, "IPD") != "IPD"]

    def source_labels(self) -> list[str]:
        """``"IPD"`` or ``"AD only"`` per trial of :attr:`per_study`, in its order (the
        forest plot's ``Data`` column when aggregate-data trials were pooled)."""
        ad = set(self._aggregate_only())
        return ["AD only" if s in ad else "IPD" for s in self.per_study.studies]

    def __repr__(self) -> str:
        return self.__str__()

    def plot_forest(self, **kw: Any) -> Figure:
        """Forest plot of the per-trial estimates and the pooled one.

        Keywords are passed to
        :func:`bayes_ipd.two_stage.forest_rows.two_stage_forest`; the intervals' level
        defaults to the pooled result's.
        """
        kw.setdefault("level", self.pooled.level)
        if self._aggregate_only():
            kw.setdefault("extra_columns", {"Data": self.source_labels()})
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
    """The per-trial table: count columns only when some trial has them, one number of
    decimals per interval column chosen from the standard errors (:func:`decimals_for`)."""
    pct = f"{100 * pooled.level:g}%"
    scale = pooled.scale or "estimate"
    per_unit = _per_unit(pooled.term)
    excluded = frame["excluded"].map(lambda r: isinstance(r, str))
    columns = [TextColumn("study", tuple(str(s) for s in frame["study"]), "left")]
    for name in ("n", "events"):
        if frame[name].iloc[:-1].notna().any():
            columns.append(TextColumn(name, tuple(fmt_count(_na_none(v)) for v in frame[name])))
    se = frame["se"].astype(float).where(~excluded)
    columns.append(
        TextColumn(
            f"{scale}{' change' if per_unit else ''}{per_unit} [{pct} CI]",
            _interval_cells(frame[["estimate", "ci_low", "ci_high"]], decimals_for(se)),
        )
    )
    if pooled.is_ratio:
        ratio = SCALES[str(pooled.scale)].ratio_label
        exp_cols = frame[["exp_estimate", "exp_ci_low", "exp_ci_high"]]
        exp_se = (exp_cols["exp_estimate"].astype(float) * se).tolist()
        exp_cells = _interval_cells(exp_cols, decimals_for(exp_se))
        ratio_head = f"ratio of {ratio}s{per_unit}" if per_unit else str(ratio)
        columns.append(TextColumn(f"{ratio_head} [{pct} CI]", exp_cells))
    weights = tuple(
        "excluded" if out else fmt_fixed(float(w), 2)
        for w, out in zip(frame["weight"], excluded, strict=True)
    )
    columns.append(TextColumn("weight %", weights))
    lines = text_table(columns, rules=(len(frame) - 1,))
    return [*lines, lines[1]]


def _per_unit(term: str | None) -> str:
    """``" per unit of age"`` for an interaction ``treat:age`` (its coefficient is the
    change in the treatment effect per unit of the covariate), else ``""``."""
    if not term or ":" not in term:
        return ""
    return f" per unit of {term.split(':', 1)[1]}"


def _interval_cells(values: pd.DataFrame, decimals: int) -> tuple[str, ...]:
    """``estimate [low, high]`` cells with the three numbers aligned down the column."""
    rows = values.itertuples(index=False)
    texts = [[fmt_fixed(float(v), decimals) for v in row] for row in rows]
    widths = [max(len(t[j]) for t in texts) for j in range(3)]
    return tuple(
        "" if not t[0] else f"{t[0]:>{widths[0]}} [{t[1]:>{widths[1]}}, {t[2]:>{widths[2]}}]"
        for t in texts
    )


def _na_none(value: Any) -> Any:
    return None if pd.isna(value) else value


def _pooled_label(pooled: PooledResult) -> str:
    return f"pooled ({method_label(pooled.method, pooled.hksj)})"


def _total(counts: pd.Series, excluded: pd.Series) -> Any:
    kept = counts[excluded.isna()]
    return pd.NA if kept.isna().any() else int(kept.sum())
