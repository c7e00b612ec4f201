"""Harmonisation as data: rules applied to participant rows, every one written to a log.

:func:`harmonise` takes the rows as they arrive (one frame, all trials stacked) and the
rules of :class:`~bayes_ipd.data.harmonise_rules.HarmoniseRules`, and returns a new frame and
a :class:`HarmonisationLog` with one row per rule and trial: the column, the rule, the rows it
changed and summaries of the values before and after. The input frame is never modified.

A rule that matches nothing is an error naming it: a trial the study column does not hold,
a column the rows do not hold (or hold no value of in that trial), a recode level absent from
the trial's rows (or a level present without a code). So is a rule that would be applied
twice: two renames of one column in one trial, a rename onto a column already holding values
in that trial, or two value changes (convert, crosswalk, standardise) of one column in one
trial (a rule for every trial counts for each trial).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.data.harmonise_rules import (
    Convert,
    Crosswalk,
    HarmoniseRules,
    Recode,
    Rename,
    Rule,
    Standardise,
    read_rules,
)
from bayes_ipd.data.messages import quoted
from bayes_ipd.errors import IPDDataError

__all__ = ["LOG_COLUMNS", "HarmonisationLog", "Harmonised", "LogEntry", "harmonise"]

LOG_COLUMNS = ("trial", "column", "rule", "rows", "before", "after")
"""The columns of the harmonisation log (CSV header, report table)."""

ALL_TRIALS = "(all trials)"
"""The log's trial cell of a rename applied to the whole frame."""


@dataclass(frozen=True)
class LogEntry:
    """One rule applied to one trial: the rows it changed, the values before and after."""

    trial: str
    column: str
    rule: str
    rows: int
    before: str
    after: str

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in LOG_COLUMNS}


@dataclass(frozen=True)
class HarmonisationLog:
    """Every rule applied, one entry per rule and trial, in the order applied.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"trial": ["A", "A", "B", "B"], "w": [150.0, 170.0, 70.0, 80.0]})
    >>> out = harmonise(rows, {"convert": [{"trial": "A", "column": "w", "units": "lb -> kg"}]},
    ...                 study="trial")
    >>> out.log.entries[0].rows
    2
    """

    entries: tuple[LogEntry, ...] = ()

    def __len__(self) -> int:
        return len(self.entries)

    def to_frame(self) -> pd.DataFrame:
        """The log as a table (columns :data:`LOG_COLUMNS`)."""
        return pd.DataFrame([e.to_dict() for e in self.entries], columns=list(LOG_COLUMNS))

    def to_dict(self) -> list[dict[str, Any]]:
        """The entries as plain values (the ``harmonisation`` member of the JSON)."""
        return [e.to_dict() for e in self.entries]

    def to_csv(self, path: str | Path) -> Path:
        """Write the log as CSV (UTF-8, header :data:`LOG_COLUMNS`); returns the path."""
        path = Path(path)
        self.to_frame().to_csv(path, index=False, encoding="utf-8")
        return path

    def __str__(self) -> str:
        if not self.entries:
            return "Harmonisation log: no rule applied."
        rows = [LOG_COLUMNS, *((str(v) for v in e.to_dict().values()) for e in self.entries)]
        rows = [tuple(r) for r in rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(LOG_COLUMNS))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        return f"Harmonisation log ({len(self.entries)} rule applications)\n" + "\n".join(lines)


@dataclass(frozen=True)
class Harmonised:
    """The harmonised rows and their log (unpacks as ``frame, log``)."""

    frame: pd.DataFrame
    log: HarmonisationLog

    def __iter__(self) -> Any:
        return iter((self.frame, self.log))


# ---------------------------------------------------------------------------- summaries


def summarise_values(values: pd.Series) -> str:
    """A short description of values: ``n=120, median 70.2, IQR 62.1 to 80.3`` (numeric),
    or ``n=120: F: 60; M: 60`` (levels, the six most frequent)."""
    kept = values.dropna()
    if kept.empty:
        return "n=0"
    numeric = pd.to_numeric(kept, errors="coerce")
    if numeric.notna().all() and not pd.api.types.is_bool_dtype(kept):
        q1, med, q3 = np.quantile(numeric.to_numpy(float), [0.25, 0.5, 0.75])
        if kept.nunique() <= 2:
            counts = "; ".join(
                f"{k:g}: {v}" for k, v in numeric.value_counts().sort_index().items()
            )
            return f"n={len(kept)}: {counts}"
        return f"n={len(kept)}, median {med:.4g}, IQR {q1:.4g} to {q3:.4g}"
    counts = kept.astype(str).value_counts()
    counts = counts.iloc[
        sorted(range(len(counts)), key=lambda i: (-counts.iloc[i], counts.index[i]))
    ]
    shown = "; ".join(f"{k}: {v}" for k, v in counts.head(6).items())
    more = f", ... ({len(counts)} levels)" if len(counts) > 6 else ""
    return f"n={len(kept)}: {shown}{more}"


# ---------------------------------------------------------------------------- the rules


@dataclass(frozen=True)
class _Context:
    """What every rule reads: the trial labels of each row (as text), in order of first
    appearance, and the study and treatment columns' names."""

    labels: pd.Series
    trials: tuple[str, ...]
    study: str
    treatment: str | None

    def masks(self, rule: Rule) -> list[tuple[str, pd.Series]]:
        """``(trial, row mask)`` of every trial the rule applies to."""
        if rule.trial is None:
            return [(t, self.labels == t) for t in self.trials]
        if rule.trial not in self.trials:
            raise IPDDataError(
                f"harmonise rule {rule.label}: no trial {rule.trial!r} in column "
                f"{self.study!r} (trials: {quoted(self.trials)})"
            )
        return [(rule.trial, self.labels == rule.trial)]


def _column(frame: pd.DataFrame, rule: Rule, column: str) -> pd.Series:
    if column not in frame.columns:
        raise IPDDataError(
            f"harmonise rule {rule.label}: no column {column!r} in the rows "
            f"(columns: {quoted(list(map(str, frame.columns)))})"
        )
    return frame[column]


def _nothing(rule: Rule, column: str, trial: str) -> IPDDataError:
    return IPDDataError(
        f"harmonise rule {rule.label}: column {column!r} holds no value in trial {trial!r}; "
        "the rule matches nothing"
    )


def _rename(
    frame: pd.DataFrame, rule: Rename, ctx: _Context
) -> tuple[pd.DataFrame, list[LogEntry]]:
    source = _column(frame, rule, rule.source)
    if ctx.study in (rule.source, rule.target):
        raise IPDDataError(
            f"harmonise rule {rule.label}: the trial column {ctx.study!r} is not renamed "
            "(name it as it is in the file)"
        )
    if rule.trial is None:
        summary = summarise_values(source)
        if rule.target in frame.columns:
            raise IPDDataError(
                f"harmonise rule {rule.label}: column {rule.target!r} is already present"
            )
        entry = LogEntry(ALL_TRIALS, rule.target, rule.text, len(frame), summary, summary)
        return frame.rename(columns={rule.source: rule.target}), [entry]
    ((trial, mask),) = ctx.masks(rule)
    moved = mask & source.notna()
    if not moved.any():
        raise _nothing(rule, rule.source, trial)
    if rule.target in frame.columns and (mask & frame[rule.target].notna()).any():
        raise IPDDataError(
            f"harmonise rule {rule.label}: column {rule.target!r} already holds values in "
            f"trial {trial!r}"
        )
    out = frame.copy()
    target = out[rule.target] if rule.target in out.columns else pd.Series(np.nan, out.index)
    out[rule.target] = source.where(mask, target)
    remaining = source.where(~mask)
    if remaining.notna().any():
        out[rule.source] = remaining
    else:
        out = out.drop(columns=[rule.source])
    summary = summarise_values(source[mask])
    return out, [LogEntry(trial, rule.target, rule.text, int(moved.sum()), summary, summary)]


def _level_matches(value: Any, level: str) -> bool:
    if str(value) == level:
        return True
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        try:
            return float(level) == float(value)
        except ValueError:
            return False
    return False


def _recode_values(rule: Recode, trial: str, values: pd.Series) -> pd.Series:
    """The trial's non-missing values of the column, each replaced by its level's code."""
    present = pd.unique(values)
    codes: dict[Any, Any] = {}
    for level, code in rule.levels.items():
        hits = [v for v in present if _level_matches(v, level)]
        if not hits:
            raise IPDDataError(
                f"harmonise rule {rule.label}: level {level!r} is absent from column "
                f"{rule.column!r} in trial {trial!r} (levels there: {quoted(map(str, present))})"
            )
        codes.update(dict.fromkeys(hits, code))
    uncoded = [str(v) for v in present if v not in codes]
    if uncoded:
        raise IPDDataError(
            f"harmonise rule {rule.label}: level {quoted(uncoded)} of column {rule.column!r} in "
            f"trial {trial!r} has no code (give every level present a code)"
        )
    return values.map(codes)


def _as_numbers(column: pd.Series) -> pd.Series:
    """``column`` as numbers where every value is one, else as it is."""
    numbers = pd.to_numeric(column, errors="coerce")
    return numbers if (numbers.notna() == column.notna()).all() else column


def _recode(
    frame: pd.DataFrame, rule: Recode, ctx: _Context
) -> tuple[pd.DataFrame, list[LogEntry]]:
    column = _column(frame, rule, rule.column)
    new = column.astype(object)
    entries = []
    for trial, mask in ctx.masks(rule):
        kept = mask & column.notna()
        if not kept.any():
            if rule.trial is None:
                continue
            raise _nothing(rule, rule.column, trial)
        new[kept] = _recode_values(rule, trial, column[kept])
        before, after = summarise_values(column[kept]), summarise_values(new[kept])
        entries.append(LogEntry(trial, rule.column, rule.text, int(kept.sum()), before, after))
    out = frame.copy()
    out[rule.column] = _as_numbers(new)
    return out, entries


def _numbers(rule: Rule, column: pd.Series, mask: pd.Series, trial: str) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce")
    bad = mask & column.notna() & values.isna()
    if bad.any():
        raise IPDDataError(
            f"harmonise rule {rule.label}: column {rule.column!r} holds {column[bad].iloc[0]!r} "
            f"in trial {trial!r}, not a number"
        )
    return values.astype(float)  # converted values are not whole numbers in general


def pooled_within_arm_sd(values: pd.Series, arms: pd.Series) -> float:
    """``sqrt(sum_g (n_g - 1) s_g^2 / (N - G))`` over the arms ``g`` of one trial (rows
    without a value or an arm left out): the SD that turns a mean difference into Cohen's d
    (no small-sample correction)."""
    kept = values.notna() & arms.notna()
    groups = values[kept].astype(float).groupby(arms[kept].astype(str))
    n, var = groups.count(), groups.var(ddof=1).fillna(0.0)
    df = int(n.sum() - len(n))
    if len(n) < 2 or df < 1:
        return math.nan
    return math.sqrt(float(((n - 1) * var).sum()) / df)


def _linear(rule: Convert | Crosswalk, x: pd.Series) -> pd.Series:
    if isinstance(rule, Convert):
        return rule.factor * x + rule.offset
    return rule.a + rule.b * x


def _scale(
    frame: pd.DataFrame, rule: Convert | Crosswalk | Standardise, ctx: _Context
) -> tuple[pd.DataFrame, list[LogEntry]]:
    column = _column(frame, rule, rule.column)
    new, entries = None, []
    for trial, mask in ctx.masks(rule):
        kept = mask & column.notna()
        if not kept.any():
            if rule.trial is None:
                continue
            raise _nothing(rule, rule.column, trial)
        values = _numbers(rule, column, mask, trial)
        new = values.copy() if new is None else new
        text = rule.text
        if isinstance(rule, Standardise):
            sd = _standardising_sd(frame, rule, ctx, trial, values[mask], mask)
            new[kept] = values[kept] / sd
            text = f"standardise: x / {sd:.6g} (pooled within-arm SD; effect becomes an SMD)"
        else:
            new[kept] = _linear(rule, values[kept])
        before, after = summarise_values(values[kept]), summarise_values(new[kept])
        entries.append(LogEntry(trial, rule.column, text, int(kept.sum()), before, after))
    if new is None:
        raise IPDDataError(f"harmonise rule {rule.label}: column {rule.column!r} holds no value")
    out = frame.copy()
    if pd.api.types.is_numeric_dtype(column):
        out[rule.column] = new
    else:
        changed = column.astype(object)
        touched = new.notna() & column.notna()
        changed[touched] = new[touched]
        out[rule.column] = _as_numbers(changed)
    return out, entries


def _standardising_sd(
    frame: pd.DataFrame,
    rule: Standardise,
    ctx: _Context,
    trial: str,
    values: pd.Series,
    mask: pd.Series,
) -> float:
    if ctx.treatment is None:
        raise IPDDataError(
            f"harmonise rule {rule.label}: standardising needs the treatment column "
            "(treatment=...; in a spec, data.treatment)"
        )
    arms = _column(frame, rule, ctx.treatment)[mask]
    sd = pooled_within_arm_sd(values, arms)
    if not (sd > 0):
        raise IPDDataError(
            f"harmonise rule {rule.label}: trial {trial!r} has no pooled within-arm SD of "
            f"{rule.column!r} (needs two arms, one of them with two values, and a spread)"
        )
    return sd


_APPLY = {
    Rename: _rename,
    Recode: _recode,
    Convert: _scale,
    Crosswalk: _scale,
    Standardise: _scale,
}


# ---------------------------------------------------------------------------- twice


def _check_twice(rules: HarmoniseRules, trials: tuple[str, ...]) -> None:
    """Refuse a rule that would be applied twice to one column of one trial."""
    slots: dict[tuple[str, str, str], Rule] = {}
    for rule in rules.rules:
        group = {"rename": "rename", "recode": "recode"}.get(rule.kind, "value")
        scope = trials if rule.trial is None else (rule.trial,)
        keys = [(group, t, rule.column) for t in scope]
        if isinstance(rule, Rename):
            keys += [("rename-to", t, rule.target) for t in scope]
        for key in keys:
            first = slots.setdefault(key, rule)
            if first is not rule:
                what = "renamed onto" if key[0] == "rename-to" else "changed"
                raise IPDDataError(
                    f"harmonise rule {rule.label}: column {key[2]!r} of trial {key[1]!r} would "
                    f"be {what} twice (also by rule {first.label})"
                )


# ---------------------------------------------------------------------------- entry


def harmonise(
    frame: pd.DataFrame,
    rules: HarmoniseRules | Mapping[str, Any] | str | os.PathLike[str],
    *,
    study: str,
    treatment: str | None = None,
) -> Harmonised:
    """Apply harmonisation rules to participant rows and log each one.

    Parameters
    ----------
    frame : pandas.DataFrame
        Participant rows of every trial, as they arrive (never modified).
    rules : HarmoniseRules, mapping or path
        The rules; a ``[harmonise]`` table as plain values (``{"convert": [{...}]}``; see
        :mod:`bayes_ipd.data.harmonise_rules` for every key); or a TOML file holding one
        (:func:`~bayes_ipd.data.harmonise_rules.read_rules`).
    study : str
        The trial column; rules name trials by its values as text.
    treatment : str, optional
        The treatment column (needed by ``standardise``: the SD is pooled within arms).

    Returns
    -------
    Harmonised
        ``.frame`` (a new frame) and ``.log`` (:class:`HarmonisationLog`); unpacks as
        ``frame, log``.

    Raises
    ------
    IPDDataError
        A rule that matches nothing (unknown trial or column, a level absent, a column
        without a value in the trial) or would be applied twice, naming the rule.
    SpecError
        Malformed rules (as a ``[harmonise]`` section would be refused).

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"trial": ["A", "A", "B", "B"], "w": [150.0, 170.0, 70.0, 80.0]})
    >>> frame, log = harmonise(
    ...     rows, {"convert": [{"trial": "A", "column": "w", "units": "lb -> kg"}]}, study="trial"
    ... )
    >>> frame["w"].round(2).tolist()
    [68.04, 77.11, 70.0, 80.0]
    """
    if isinstance(rules, str | os.PathLike):
        rules = read_rules(rules)
    elif not isinstance(rules, HarmoniseRules):
        rules = HarmoniseRules.from_dict(rules)
    if study not in frame.columns:
        raise IPDDataError(f"harmonise: no study column {study!r} in the rows")
    labels = frame[study].astype(str)
    ctx = _Context(labels, tuple(pd.unique(labels)), study, treatment)
    _check_twice(rules, ctx.trials)
    out = frame.copy()
    entries: list[LogEntry] = []
    for rule in rules.rules:
        out, applied = _APPLY[type(rule)](out, rule, ctx)
        if not applied or not any(e.rows for e in applied):
            raise IPDDataError(f"harmonise rule {rule.label}: matches no value")
        entries += applied
    return Harmonised(out, HarmonisationLog(tuple(entries)))
