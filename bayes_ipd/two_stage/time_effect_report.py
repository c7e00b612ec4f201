"""The proportional-hazards tests and per-period effects in a two-stage result's JSON and
text report (:class:`~bayes_ipd.two_stage.result.TwoStageResult`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from bayes_ipd.conventions import method_label
from bayes_ipd.plots.text import TextColumn, fmt_fixed, text_table

__all__ = ["time_effect_json", "time_effect_text"]


def time_effect_json(
    per_study: list[dict[str, Any]], ph_tests: Any, by_interval: Sequence[Any]
) -> dict[str, Any]:
    """The members to add to the result's JSON: ``per_study`` records with ``ph_test``
    (global ``{"statistic", "df", "p"}``, None for an untested trial) and ``ph_test_terms``
    when tested; ``by_interval`` when periods were asked for. Empty otherwise."""
    out: dict[str, Any] = {}
    if ph_tests is not None:
        records = []
        for record in per_study:
            test = ph_tests.for_study(record["study"])
            extra = {"ph_test": None, "ph_test_terms": None}
            if test is not None:
                extra = {"ph_test": test.global_dict(), "ph_test_terms": test.terms_dict()}
            records.append(record | extra)
        out["per_study"] = records
    if by_interval:
        out["by_interval"] = [interval.to_dict() for interval in by_interval]
    return out


def time_effect_text(ph_tests: Any, by_interval: Sequence[Any]) -> str:
    """The report's sections on proportionality and per-period effects ("" if neither)."""
    text = ""
    if ph_tests is not None:
        text += "\n\n" + ph_tests.table()
    if by_interval:
        text += "\n\n" + "\n".join(_interval_lines(by_interval))
    return text


def _interval_lines(by_interval: Sequence[Any]) -> list[str]:
    first = by_interval[0].pooled
    pct = f"{100 * first.level:g}%"
    method = method_label(first.method, first.hksj)
    head = (
        "Treatment effect by period: one log hazard ratio per period in each trial (Cox "
        f"model on episode-split data), pooled per period ({method})"
    )
    periods = [r.label for r in by_interval]
    pooled_cols = [
        TextColumn("period", tuple(periods), "left"),
        TextColumn("trials", tuple(str(r.pooled.k) for r in by_interval)),
        TextColumn("events", tuple(_events(r) for r in by_interval)),
        TextColumn(
            f"logHR [{pct} CI]",
            tuple(
                _interval(r.pooled.estimate, r.pooled.ci_low, r.pooled.ci_high) for r in by_interval
            ),
        ),
        TextColumn(
            f"HR [{pct} CI]",
            tuple(
                _interval(*np.exp([r.pooled.estimate, r.pooled.ci_low, r.pooled.ci_high]))
                for r in by_interval
            ),
        ),
        TextColumn("tau2", tuple(fmt_fixed(float(r.pooled.tau2), 4) for r in by_interval)),
    ]
    studies = by_interval[0].per_study.studies
    trial_cols = [TextColumn("study", tuple(studies), "left")]
    for r in by_interval:
        agg = r.per_study
        cells = tuple(
            "excluded"
            if agg.excluded[i] is not None
            else f"{fmt_fixed(agg.estimate[i], 3)} ({fmt_fixed(agg.se[i], 3)})"
            for i in range(agg.k)
        )
        trial_cols.append(TextColumn(r.label, cells))
    lines = [
        head,
        "",
        *text_table(pooled_cols),
        "",
        "Per trial: logHR (SE)",
        *text_table(trial_cols),
    ]
    excluded = [
        (s, r.label, reason)
        for r in by_interval
        for s, reason in zip(r.per_study.studies, r.per_study.excluded, strict=True)
        if reason is not None
    ]
    if excluded:
        lines += ["", f"Excluded from a period ({len(excluded)}):"]
        lines += [f"  {s} in {label}: {reason}" for s, label, reason in excluded]
    return lines


def _events(r: Any) -> str:
    agg = r.per_study
    kept = [e for e, x in zip(agg.events, agg.excluded, strict=True) if x is None]
    return str(int(sum(kept)))


def _interval(estimate: float, low: float, high: float) -> str:
    if not math.isfinite(estimate):
        return "-"
    return f"{fmt_fixed(estimate, 3)} [{fmt_fixed(low, 3)}, {fmt_fixed(high, 3)}]"
