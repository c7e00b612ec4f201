"""Checks that catch what harmonisation missed: a trial whose covariate looks recorded in
another unit, and categorical codings whose levels differ between trials.

**Units.** For each numeric column and trial with at least :data:`MIN_ROWS` values, the
trial's median and interquartile range are set beside the others': the median of the other
trials' medians and the median of their IQRs (robust to the odd trial out, including the one
being checked). The trial is flagged when *both* agree with one unit pair of
:func:`bayes_ipd.data.units.unit_pairs` (pounds vs kilograms, days vs months, Fahrenheit vs
Celsius, ...), in either direction:

* spread: ``IQR_k / IQR_others`` and the same ratio of the 10-90 % ranges each within a
  factor :data:`SPREAD_TOLERANCE` (30 %) of the pair's factor;
* location: ``median_k`` within a factor :data:`LOCATION_TOLERANCE` (20 %) of the others'
  median converted by the pair (``factor * m + offset``: an offset for F vs C).

Why these tolerances: the IQR of ``n`` normal values has a relative standard error of
about ``1.17 / sqrt(n)`` (0.12 at n = 100, 0.26 at n = 20, hence :data:`MIN_ROWS`: below 20
values a trial's IQR alone strays beyond the band), so 30 % is two standard errors of a
trial of 80; the 10-90 % range is estimated a little more precisely (``0.89 / sqrt(n)``).
Trial populations differ as well: means of one covariate commonly differ by 10-20 % between
trials, hence 20 % on the median. A unit error rescales the *whole* distribution, median,
quartiles and tails alike; a population or follow-up difference moves parts of it (a centre
with better survival has a later median but the same longest follow-up), so asking median,
IQR and 10-90 % range to agree with the *same* pair is what keeps clean data quiet. Values
that are not positive (a median <= 0) are not checked for units.

Measured (``docs/data_preparation.md``): six simulated trials of one population, one in
pounds and one with follow-up in days, 150 replicates: the pounds trial is flagged in 95 %,
98 % and 100 % at 50, 100 and 300 participants per trial, the days trial in 73 %, 87 % and
98 % (follow-up lengths differ between trials), no other trial is ever flagged; nothing is
flagged on any shipped data set.

``factor`` is the ratio of the trial's scale to the others' (2.2046 for pounds against
kilograms, 1 / 30.44 for months against days), estimated as the geometric mean of the IQR
ratio, the 10-90 % range ratio and, for a pure factor, the median ratio
(:func:`implied_factor`); ``detail`` names the pairs it matches, closest first, and the
ratios.

**Levels.** Non-numeric columns, and numeric columns with at most two distinct values in
every trial (binary codings), are compared as level sets: a trial holding a level that no
other trial holds is flagged (``M``/``F`` against ``0``/``1``, or ``1``/``2`` against
``0``/``1``). A column constant within every trial is a trial-level characteristic (year,
sponsor) whose values differ between trials by nature, and is not checked; nor is a column
with more than :data:`MAX_LEVELS` levels (free text or an identifier), a numeric column of
whole numbers all distinct (an identifier), or a numeric column with at most
:data:`MAX_DISCRETE` distinct values that is not binary (scores and counts, no unit to
compare).

``checked`` counts, per column, the trials compared (those with enough values); a column is
listed only when at least two trials were compared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.data.messages import quoted
from bayes_ipd.data.units import Conversion, unit_pairs
from bayes_ipd.errors import IPDDataError

__all__ = [
    "LOCATION_TOLERANCE",
    "MAX_DISCRETE",
    "MAX_LEVELS",
    "MIN_ROWS",
    "SPREAD_TOLERANCE",
    "UnitCheck",
    "UnitFlag",
    "check_units",
]

MIN_ROWS = 20
"""Values a trial needs in a numeric column to be compared (quartiles of fewer are noise)."""

LOCATION_TOLERANCE = 1.2
"""Largest ratio between a trial's median and the others' median converted by a unit pair."""

SPREAD_TOLERANCE = 1.3
"""Largest ratio between a trial's IQR ratio and a unit pair's factor."""

MAX_LEVELS = 20
"""More levels than this: free text or identifiers, not a coding."""

MAX_DISCRETE = 10
"""A non-binary numeric column with at most this many distinct values is a score or count."""


@dataclass(frozen=True)
class UnitFlag:
    """One finding: ``kind`` is ``"unit"`` (``factor`` the trial's scale over the others',
    :func:`implied_factor`) or ``"levels"`` (``factor`` None)."""

    study: str
    column: str
    kind: str
    factor: float | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "column": self.column,
            "kind": self.kind,
            "factor": self.factor,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class UnitCheck:
    """The findings of :func:`check_units` and the trials compared per column."""

    flags: tuple[UnitFlag, ...]
    checked: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def to_dict(self) -> dict[str, Any]:
        """``{"flags": [{"study", "column", "kind", "factor", "detail"}], "checked":
        {COLUMN: trials compared}}`` (the ``check-data --json`` object)."""
        return {"flags": [f.to_dict() for f in self.flags], "checked": dict(self.checked)}

    def table(self) -> pd.DataFrame:
        """The flags as a table."""
        columns = ["study", "column", "kind", "factor", "detail"]
        return pd.DataFrame([f.to_dict() for f in self.flags], columns=columns)

    def __str__(self) -> str:
        checked = ", ".join(f"{c} ({k} trials)" for c, k in self.checked.items()) or "none"
        head = f"Columns compared across trials: {checked}"
        if not self.flags:
            return f"{head}\nNo trial looks recorded in another unit or coding."
        lines = [head, f"{len(self.flags)} finding(s):"]
        for f in self.flags:
            factor = "" if f.factor is None else f" factor {f.factor:.4g}"
            lines.append(f"  {f.study} / {f.column}: {f.kind}{factor}: {f.detail}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- units


@dataclass(frozen=True)
class _Spread:
    """One trial's median and IQR of a column."""

    n: int
    median: float
    iqr: float
    idr: float


def _spread(values: np.ndarray) -> _Spread:
    q10, q1, med, q3, q90 = np.quantile(values, [0.1, 0.25, 0.5, 0.75, 0.9])
    return _Spread(len(values), float(med), float(q3 - q1), float(q90 - q10))


def _within(ratio: float, target: float, tolerance: float) -> bool:
    return ratio > 0 and target > 0 and abs(math.log(ratio / target)) <= math.log(tolerance)


def _matches(trial: _Spread, ref: _Spread) -> list[Conversion]:
    """The unit pairs that map the others' median, IQR and 10-90 % range onto the trial's,
    best first."""
    ratio, tails = trial.iqr / ref.iqr, trial.idr / ref.idr
    found = []
    for pair in unit_pairs():
        located = pair.factor * ref.median + pair.offset
        if (
            _within(ratio, pair.factor, SPREAD_TOLERANCE)
            and _within(tails, pair.factor, SPREAD_TOLERANCE)
            and _within(trial.median, located, LOCATION_TOLERANCE)
        ):
            found.append(pair)
    return sorted(found, key=lambda p: abs(math.log(implied_factor(trial, ref, p) / p.factor)))


def implied_factor(trial: _Spread, ref: _Spread, pair: Conversion) -> float:
    """The trial's scale over the others': the geometric mean of the IQR ratio, the 10-90 %
    range ratio and, for a pure factor (no offset), the median ratio."""
    ratios = [trial.iqr / ref.iqr, trial.idr / ref.idr]
    if not pair.offset:
        ratios.append(trial.median / ref.median)
    return math.exp(sum(math.log(r) for r in ratios) / len(ratios))


def _pair_text(pair: Conversion) -> str:
    """``"months vs years (12)"``: this trial's unit, the others', and the factor between
    them (``pair`` maps the others' values onto this trial's)."""
    what = f"{pair.target} vs {pair.source}" + (f" ({pair.substance})" if pair.substance else "")
    factor = 1 / pair.factor if pair.factor < 1 else pair.factor
    shown = f"{factor:.5g}" if pair.factor >= 1 else f"1/{factor:.5g}"
    affine = f" {'-' if pair.offset < 0 else '+'} {abs(pair.offset):.4g}" if pair.offset else ""
    return f"{what} ({shown}{affine})"


def _unit_flags(column: str, spreads: Mapping[str, _Spread]) -> list[UnitFlag]:
    flags = []
    for study, trial in spreads.items():
        others = [s for k, s in spreads.items() if k != study]
        ref = _Spread(
            len(others),
            float(np.median([s.median for s in others])),
            float(np.median([s.iqr for s in others])),
            float(np.median([s.idr for s in others])),
        )
        ref_median, ref_iqr = ref.median, ref.iqr
        if not (min(trial.iqr, ref.iqr, trial.idr, ref.idr) > 0 and trial.median > 0):
            continue
        if not ref_median > 0:
            continue
        pairs = _matches(trial, ref)
        if not pairs:
            continue
        factor = implied_factor(trial, ref, pairs[0])
        detail = (
            f"median {trial.median:.4g} vs {ref_median:.4g} in the other trials "
            f"(ratio {trial.median / ref_median:.4g}), IQR {trial.iqr:.4g} vs {ref_iqr:.4g} "
            f"(ratio {trial.iqr / ref_iqr:.4g}), 10-90% range ratio {trial.idr / ref.idr:.4g}: "
            "as if this trial used another unit (this trial's vs the others'): "
            f"{' or '.join(_pair_text(p) for p in pairs)}"
        )
        flags.append(UnitFlag(study, column, "unit", round(factor, 6), detail))
    return flags


# --------------------------------------------------------------------------- levels


def _level_flags(column: str, levels: Mapping[str, frozenset[str]]) -> list[UnitFlag]:
    flags = []
    for study, own in levels.items():
        others = frozenset().union(*(v for k, v in levels.items() if k != study))
        extra = sorted(own - others)
        if extra:
            detail = (
                f"levels {quoted(sorted(own))} here; the other trials use "
                f"{quoted(sorted(others))} ({quoted(extra)} in no other trial)"
            )
            flags.append(UnitFlag(study, column, "levels", None, detail))
    return flags


def _level_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------- columns


def _column_kind(values: pd.Series, labels: pd.Series) -> str | None:
    """``"numeric"``, ``"levels"`` or None (not compared) for one column."""
    kept = values.dropna()
    if kept.empty:
        return None
    per_trial = kept.groupby(labels[kept.index]).nunique()
    if (per_trial == 1).all():
        return None  # constant within every trial: a trial-level characteristic
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        whole = bool(np.all(np.mod(kept.to_numpy(float), 1) == 0))
        if whole and kept.nunique() == len(kept) > MAX_LEVELS:
            return None  # whole numbers, every one distinct: an identifier
        if (per_trial <= 2).all():
            return "levels"
        return "numeric" if kept.nunique() > MAX_DISCRETE else None
    return "levels" if kept.nunique() <= MAX_LEVELS else None


def _check_column(column: str, values: pd.Series, labels: pd.Series) -> tuple[list, int]:
    kind = _column_kind(values, labels)
    if kind is None:
        return [], 0
    kept = values.notna()
    groups = values[kept].groupby(labels[kept], sort=False)
    if kind == "levels":
        sets = {k: frozenset(map(_level_text, g.unique())) for k, g in groups}
        return (_level_flags(column, sets) if len(sets) >= 2 else []), len(sets)
    spreads = {k: _spread(g.to_numpy(float)) for k, g in groups if g.size >= MIN_ROWS}
    return (_unit_flags(column, spreads) if len(spreads) >= 2 else []), len(spreads)


def check_units(frame: pd.DataFrame, study: str, columns: Sequence[str] | None = None) -> UnitCheck:
    """Compare each column's distribution across trials; flag unit and coding mismatches.

    Parameters
    ----------
    frame : pandas.DataFrame
        Participant rows of every trial (never modified).
    study : str
        The trial column.
    columns : sequence of str, optional
        Columns to compare (default: every column but ``study``).

    Returns
    -------
    UnitCheck
        ``flags`` (one per trial and column found, unit or levels) and ``checked``
        (trials compared per column). Findings are not errors.

    Raises
    ------
    IPDDataError
        ``study`` or a named column not in the rows.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> weight = rng.normal(75, 12, 600)
    >>> weight[400:] *= 2.20462  # trial C recorded in pounds
    >>> rows = pd.DataFrame({"trial": np.repeat(["A", "B", "C"], 200), "weight": weight})
    >>> [(f.study, f.kind) for f in check_units(rows, "trial").flags]
    [('C', 'unit')]
    """
    if study not in frame.columns:
        raise IPDDataError(f"check_units: no study column {study!r} in the rows")
    names = [c for c in frame.columns if c != study] if columns is None else list(columns)
    for name in names:
        if name == study:
            raise IPDDataError(f"check_units: {name!r} is the trial column, not one to compare")
        if name not in frame.columns:
            raise IPDDataError(
                f"check_units: no column {name!r} to compare (columns: "
                f"{quoted([str(c) for c in frame.columns if c != study])})"
            )
    labels = frame[study].astype(str)
    flags: list[UnitFlag] = []
    checked: dict[str, int] = {}
    for name in names:
        found, compared = _check_column(str(name), frame[name], labels)
        flags += found
        if compared >= 2:
            checked[str(name)] = compared
    return UnitCheck(tuple(flags), MappingProxyType(checked))
