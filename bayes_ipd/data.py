"""Participant rows to a validated, typed, immutable :class:`IPD` value.

:meth:`IPD.from_frame` (and :meth:`IPD.read_csv`) is the only way participant data enters the
package. It checks every column it is told to use, codes the treatment 0/1 (1 = experimental),
indexes the trials in order of first appearance and applies the missing-data policy. Every
refusal raises :class:`~bayes_ipd.errors.IPDDataError` naming the column, trial, value or row at
fault. The caller's DataFrame is never modified; rows are never dropped silently.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.errors import IPDDataError

__all__ = ["FAMILIES", "IPD", "MISSING_POLICIES", "Columns"]

FAMILIES = ("gaussian", "binomial", "survival")
MISSING_POLICIES = ("error", "drop")

_MISSING_STUDY = "<missing trial label>"
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar")
_LIST_LIMIT = 8

RowName = Callable[[int], str]


# --------------------------------------------------------------------------------------------
# small formatting helpers


def _quoted(values: Iterable[Any], limit: int = _LIST_LIMIT) -> str:
    """``'a', 'b', 'c'`` (at most ``limit`` items, then ``... (n in all)``)."""
    items = list(values)
    shown = ", ".join(repr(v) for v in items[:limit])
    return shown if len(items) <= limit else f"{shown}, ... ({len(items)} in all)"


def _counts_text(counts: Mapping[str, int], limit: int = _LIST_LIMIT) -> str:
    """``'T1' 2, 'T3' 1`` from a mapping of label to count."""
    items = list(counts.items())
    shown = ", ".join(f"{label!r} {count}" for label, count in items[:limit])
    return shown if len(items) <= limit else f"{shown}, ... ({len(items)} in all)"


def _value_label(value: Any) -> str:
    """``str(value)``, with integral floats written without a decimal point (1.0 -> '1')."""
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def _number_text(value: float) -> str:
    return _value_label(float(value))


def _index_row_name(index: pd.Index) -> RowName:
    def row_name(position: int) -> str:
        return f"row {index[position]!r}"

    return row_name


def _file_row_name(path: Path) -> RowName:
    def row_name(position: int) -> str:
        return f"data row {position + 1} (line {position + 2} of {path})"

    return row_name


# --------------------------------------------------------------------------------------------
# argument checks


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise IPDDataError(f"unknown family {family!r}; valid families are {_quoted(FAMILIES)}")


def _check_missing_policy(missing: str) -> None:
    if missing not in MISSING_POLICIES:
        raise IPDDataError(
            f"missing={missing!r} is not a missing-data policy; use one of "
            f"{_quoted(MISSING_POLICIES)}"
        )


def _check_roles(family: str, outcome: str | None, time: str | None, event: str | None) -> None:
    if family == "survival":
        for name, value, what in (
            ("time", time, "the follow-up time column"),
            ("event", event, "the 0/1 event indicator column"),
        ):
            if value is None:
                raise IPDDataError(f"family 'survival' needs {name}= ({what}); it was not given")
        if outcome is not None:
            raise IPDDataError(
                f"family 'survival' takes time= and event=, not outcome= (got outcome={outcome!r})"
            )
        return
    if outcome is None:
        raise IPDDataError(
            f"family {family!r} needs outcome= (the outcome column); it was not given"
        )
    given = [name for name, value in (("time", time), ("event", event)) if value is not None]
    if given:
        raise IPDDataError(
            f"family {family!r} takes outcome=, not {'/'.join(n + '=' for n in given)}; "
            "use family='survival' for time-to-event data"
        )


def _covariate_tuple(covariates: str | Iterable[str]) -> tuple[str, ...]:
    names = (covariates,) if isinstance(covariates, str) else tuple(covariates)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise IPDDataError(f"covariate {name!r} is listed more than once")
        seen.add(name)
    return names


def _check_column_names(roles: Mapping[str, str]) -> None:
    """Every used column is a string and plays one role only."""
    for role, name in roles.items():
        if not isinstance(name, str):
            raise IPDDataError(f"{role}= must be a column name (str); got {name!r}")
    by_name: dict[str, list[str]] = {}
    for role, name in roles.items():
        by_name.setdefault(name, []).append(role)
    for name, used_as in by_name.items():
        if len(used_as) > 1:
            raise IPDDataError(
                f"column {name!r} is used for more than one role ({', '.join(used_as)})"
            )


def _check_columns_exist(df: pd.DataFrame, roles: Mapping[str, str]) -> None:
    absent = [f"{name!r} ({role})" for role, name in roles.items() if name not in df.columns]
    if absent:
        raise IPDDataError(
            f"column(s) not found: {', '.join(absent)}; the data have columns "
            f"{_quoted(map(str, df.columns), limit=40)}"
        )
    duplicated = [name for name in roles.values() if int((df.columns == name).sum()) > 1]
    if duplicated:
        raise IPDDataError(f"column(s) {_quoted(duplicated)} appear more than once in the data")


# --------------------------------------------------------------------------------------------
# column parsing (all rows, before the missing-data policy)


def _missing_mask(values: pd.Series) -> np.ndarray:
    """True where a value is missing: NA/NaN/None, or a blank string."""
    mask = values.isna().to_numpy()
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        stripped = values.astype(object).where(values.map(lambda v: isinstance(v, str)))
        stripped = stripped.str.strip()
        mask = mask | (stripped == "").to_numpy()
    return mask


def _coerce_numbers(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype(np.float64)
    return pd.to_numeric(values, errors="coerce").astype(np.float64)


def _text_positions(values: pd.Series, missing: np.ndarray) -> tuple[np.ndarray, pd.Series]:
    parsed = _coerce_numbers(values)
    bad = ~missing & parsed.isna().to_numpy()
    return np.flatnonzero(bad), parsed


def _non_numeric_error(
    values: pd.Series, column: str, role: str, bad: np.ndarray, row_name: RowName
) -> IPDDataError:
    first = int(bad[0])
    return IPDDataError(
        f"column {column!r} ({role}) must be numeric but holds text: {values.iloc[first]!r} at "
        f"{row_name(first)} ({bad.size} non-numeric value(s) in all)"
    )


def _numeric_column(
    values: pd.Series, column: str, role: str, missing: np.ndarray, row_name: RowName
) -> np.ndarray:
    """float64 values (NaN where missing); any text that is not a number is refused."""
    bad, parsed = _text_positions(values, missing)
    if bad.size:
        raise _non_numeric_error(values, column, role, bad, row_name)
    out = parsed.to_numpy(dtype=np.float64, copy=True)
    out[missing] = np.nan
    return out


def _mostly_numeric(values: pd.Series, missing: np.ndarray) -> bool:
    """More than half of the present values parse as numbers."""
    present = int((~missing).sum())
    if present == 0:
        return True
    numbers = int((~missing & _coerce_numbers(values).notna().to_numpy()).sum())
    return numbers * 2 > present


def _text_labels(values: pd.Series, missing: np.ndarray) -> np.ndarray:
    """``str`` label per row (object array), None where missing; one ``str`` call per value."""
    codes, uniques = pd.factorize(values.astype(object).where(~missing, None))
    table = np.array([_value_label(u) for u in np.asarray(uniques, dtype=object)] + [None], object)
    return table[codes]  # code -1 (missing) picks the trailing None


@dataclass(frozen=True)
class _Treatment:
    kind: str  # "numeric" or "text"
    values: np.ndarray  # float64 (numeric, NaN = missing) or object labels (text, None = missing)


def _parse_treatment(
    values: pd.Series, column: str, missing: np.ndarray, row_name: RowName
) -> _Treatment:
    if pd.api.types.is_bool_dtype(values.dtype) or _mostly_numeric(values, missing):
        return _Treatment(
            "numeric", _numeric_column(values, column, "treatment", missing, row_name)
        )
    return _Treatment("text", _text_labels(values, missing))


@dataclass(frozen=True)
class _Covariate:
    numeric: np.ndarray | None  # float64 with NaN, or None for categorical
    categorical: pd.Categorical | None


def _parse_covariate(
    values: pd.Series, column: str, missing: np.ndarray, row_name: RowName
) -> _Covariate:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return _Covariate(
            None,
            pd.Categorical(
                values.astype(object).where(~missing, None),
                categories=values.cat.categories,
                ordered=values.cat.ordered,
            ),
        )
    if pd.api.types.is_bool_dtype(values.dtype) or _mostly_numeric(values, missing):
        role = "covariate, mostly numeric"
        return _Covariate(_numeric_column(values, column, role, missing, row_name), None)
    labels = _text_labels(values, missing)
    levels = sorted({label for label in labels.tolist() if label is not None})
    return _Covariate(None, pd.Categorical(labels, categories=levels))


def _study_codes(values: pd.Series, missing: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer code per row (-1 where missing) and labels, in order of first appearance.

    Distinct source values with the same label (``1`` and ``1.0``) share one trial.
    """
    raw = values.astype(object).where(~missing, None)
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    labels = [_value_label(u) for u in np.asarray(uniques, dtype=object)]
    merged, label_uniques = pd.factorize(np.array(labels, dtype=object))
    merged = np.asarray(merged, dtype=np.int64)
    row_codes = np.where(codes >= 0, merged[np.maximum(codes, 0)], -1).astype(np.int64)
    return row_codes, [str(u) for u in label_uniques]


# --------------------------------------------------------------------------------------------
# missing-data policy


@dataclass(frozen=True)
class _MissingReport:
    keep: np.ndarray
    by_column: dict[str, int]
    by_trial: dict[str, int]


def _missing_report(
    masks: Mapping[str, np.ndarray], row_codes: np.ndarray, labels: list[str]
) -> _MissingReport:
    any_missing = np.zeros(row_codes.shape[0], dtype=bool)
    by_column: dict[str, int] = {}
    for column, mask in masks.items():
        if mask.any():
            by_column[column] = int(mask.sum())
            any_missing |= mask
    by_trial: dict[str, int] = {}
    if any_missing.any():
        missing_codes = row_codes[any_missing]
        unlabelled = int((missing_codes < 0).sum())
        counts = np.bincount(missing_codes[missing_codes >= 0], minlength=len(labels))
        by_trial = {labels[i]: int(c) for i, c in enumerate(counts) if c}
        if unlabelled:
            by_trial[_MISSING_STUDY] = unlabelled
    return _MissingReport(~any_missing, by_column, by_trial)


def _apply_missing_policy(report: _MissingReport, missing: str, n_rows: int) -> None:
    if not report.by_column:
        return
    n_missing = n_rows - int(report.keep.sum())
    detail = (
        f"by column: {_counts_text(report.by_column)}; "
        f"rows by trial: {_counts_text(report.by_trial)}"
    )
    if missing == "error":
        raise IPDDataError(
            f"{n_missing} of {n_rows} rows have missing values in the columns used ({detail}); "
            "fill them in, or pass missing='drop' to drop those rows (counted per trial)"
        )
    warnings.warn(
        f"dropped {n_missing} of {n_rows} rows with missing values ({detail})",
        UserWarning,
        stacklevel=5,
    )


# --------------------------------------------------------------------------------------------
# checks on the kept rows


def _trial_of(position: int, codes: np.ndarray, studies: tuple[str, ...]) -> str:
    return studies[int(codes[position])]


def _first_bad(
    bad: np.ndarray,
    values: np.ndarray,
    codes: np.ndarray,
    studies: tuple[str, ...],
    row_name: RowName,
    kept: np.ndarray,
) -> str:
    """``2 in trial 'T3' (row 17; 4 such rows)`` for the first offending row."""
    positions = np.flatnonzero(bad)
    first = int(positions[0])
    return (
        f"{_number_text(values[first])} in trial {_trial_of(first, codes, studies)!r} "
        f"({row_name(int(kept[first]))}; {positions.size} such row(s))"
    )


def _check_finite(
    values: np.ndarray,
    column: str,
    role: str,
    codes: np.ndarray,
    studies: tuple[str, ...],
    row_name: RowName,
    kept: np.ndarray,
) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        where = _first_bad(bad, values, codes, studies, row_name, kept)
        raise IPDDataError(f"column {column!r} ({role}) holds a non-finite value: {where}")


def _check_binary(
    values: np.ndarray,
    column: str,
    role: str,
    codes: np.ndarray,
    studies: tuple[str, ...],
    row_name: RowName,
    kept: np.ndarray,
) -> None:
    bad = (values != 0.0) & (values != 1.0)
    if bad.any():
        where = _first_bad(bad, values, codes, studies, row_name, kept)
        raise IPDDataError(f"{role} {column!r} must be 0 or 1; found {where}")


def _check_positive_time(
    values: np.ndarray,
    column: str,
    codes: np.ndarray,
    studies: tuple[str, ...],
    row_name: RowName,
    kept: np.ndarray,
) -> None:
    _check_finite(values, column, "survival time", codes, studies, row_name, kept)
    bad = values <= 0.0
    if bad.any():
        where = _first_bad(bad, values, codes, studies, row_name, kept)
        raise IPDDataError(f"survival time {column!r} must be > 0; found {where}")


def _treatment_levels(treatment: _Treatment, column: str, experimental: Any) -> tuple[Any, Any]:
    """(experimental level, control level) among the present values, or an error."""
    values = treatment.values
    if treatment.kind == "numeric":
        levels = sorted(set(np.unique(values).tolist()))
        shown = [_number_text(v) for v in levels]
    else:
        levels = sorted(set(values.tolist()))
        shown = list(levels)
    if len(levels) != 2:
        raise IPDDataError(
            f"treatment {column!r} must take exactly two values (0 = control, 1 = experimental); "
            f"found {len(levels)}: {_quoted(shown)}"
        )
    if experimental is not None:
        wanted = _value_label(experimental)
        if wanted not in shown:
            raise IPDDataError(
                f"experimental={experimental!r} is not a level of treatment {column!r}; "
                f"its two levels are {_quoted(shown)}"
            )
        position = shown.index(wanted)
        return levels[position], levels[1 - position]
    if treatment.kind == "numeric" and levels == [0.0, 1.0]:
        return 1.0, 0.0
    kind = "text levels" if treatment.kind == "text" else "values"
    raise IPDDataError(
        f"treatment {column!r} has two {kind} {shown[0]!r} and {shown[1]!r}, not 0/1; say which "
        f"is the experimental arm with experimental={shown[0]!r} or experimental={shown[1]!r} "
        "(the other level is the control)"
    )


def _check_both_arms(
    treat: np.ndarray,
    codes: np.ndarray,
    studies: tuple[str, ...],
    arm_names: Mapping[int, str],
    dropped: Mapping[str, int],
) -> None:
    k = len(studies)
    n = np.bincount(codes, minlength=k)
    n_treated = np.bincount(codes, weights=treat, minlength=k).astype(np.int64)
    for index in range(k):
        if n_treated[index] in (0, n[index]):
            label = studies[index]
            arm = 1 if n_treated[index] else 0
            after = f" after dropping {dropped[label]} row(s)" if dropped.get(label) else ""
            raise IPDDataError(
                f"trial {label!r} has only one arm{after}: all {n[index]} participant(s) are "
                f"in the {arm_names[arm]}; every trial needs both a treated and a control arm"
            )


def _check_enough_trials(studies: tuple[str, ...], column: str) -> None:
    if len(studies) < 2:
        raise IPDDataError(
            f"an IPD meta-analysis needs at least two trials; column {column!r} holds "
            f"{len(studies)} ({_quoted(studies)})"
        )


def _warn_event_free_trials(event: np.ndarray, codes: np.ndarray, studies: tuple[str, ...]) -> None:
    events = np.bincount(codes, weights=event, minlength=len(studies))
    empty = [studies[i] for i in np.flatnonzero(events == 0)]
    if empty:
        warnings.warn(
            f"trial(s) {_quoted(empty)} have no events; a survival model may not estimate "
            "their effects",
            UserWarning,
            stacklevel=5,
        )


def _readonly(values: Any, dtype: type) -> np.ndarray:
    out = np.array(values, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


# --------------------------------------------------------------------------------------------
# the value


@dataclass(frozen=True)
class Columns:
    """Names of the source columns, for labelling output.

    Attributes
    ----------
    study, treatment : str
        Trial identifier and treatment columns.
    outcome : str or None
        Outcome column (gaussian, binomial).
    time, event : str or None
        Follow-up time and event indicator columns (survival).
    covariates : tuple of str
        Covariate columns, in the order given.
    """

    study: str
    treatment: str
    outcome: str | None
    time: str | None
    event: str | None
    covariates: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class IPD:
    """Validated individual-participant data of several randomised trials.

    Build it with :meth:`from_frame` or :meth:`read_csv`. All arrays are read-only; the
    covariates frame is the object's own copy.

    Attributes
    ----------
    family : str
        ``"gaussian"``, ``"binomial"`` or ``"survival"``.
    studies : tuple of str
        Trial labels (``str`` of the source value) in order of first appearance.
    study : ndarray of int64, shape (n,)
        Index into ``studies`` per participant.
    treat : ndarray of float64, shape (n,)
        1 = experimental arm, 0 = control.
    outcome : ndarray of float64 or None
        Outcome (gaussian; 0/1 for binomial).
    time, event : ndarray of float64 or None
        Follow-up time (> 0) and event indicator (0/1) for survival.
    covariates : DataFrame
        One column per covariate (source names), float64 or pandas Categorical.
    columns : Columns
        Source column names.
    dropped : Mapping[str, int]
        Rows dropped per trial under ``missing="drop"`` (empty if none).
    n_input_rows : int
        Rows in the input before dropping.
    experimental : str or None
        The source level coded 1 when ``experimental=`` was given.
    """

    family: str
    studies: tuple[str, ...]
    study: np.ndarray
    treat: np.ndarray
    outcome: np.ndarray | None
    time: np.ndarray | None
    event: np.ndarray | None
    covariates: pd.DataFrame
    columns: Columns
    dropped: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    n_input_rows: int = -1
    experimental: str | None = None

    def __post_init__(self) -> None:
        _check_family(self.family)
        set_ = object.__setattr__
        set_(self, "studies", tuple(str(s) for s in self.studies))
        set_(self, "study", _readonly(self.study, np.int64))
        set_(self, "treat", _readonly(self.treat, np.float64))
        for name in ("outcome", "time", "event"):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, _readonly(value, np.float64))
        covariates = pd.DataFrame(self.covariates).copy(deep=True)
        covariates.index = pd.RangeIndex(len(covariates))
        set_(self, "covariates", covariates)
        set_(self, "dropped", MappingProxyType({str(k): int(v) for k, v in self.dropped.items()}))
        if self.n_input_rows < 0:
            set_(self, "n_input_rows", int(self.study.shape[0]) + sum(self.dropped.values()))
        self._check_shapes()

    def _check_shapes(self) -> None:
        n = self.study.shape[0]
        arrays = {"treat": self.treat, "outcome": self.outcome, "time": self.time}
        arrays["event"] = self.event
        for name, value in arrays.items():
            if value is not None and value.shape != (n,):
                raise IPDDataError(f"IPD.{name} has shape {value.shape}; expected ({n},)")
        if len(self.covariates) != n:
            raise IPDDataError(f"IPD.covariates has {len(self.covariates)} rows; expected {n}")
        if n and (self.study.min() < 0 or self.study.max() >= len(self.studies)):
            raise IPDDataError("IPD.study holds codes outside 0..k-1")

    # ---------------------------------------------------------------------------- building

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        study: str,
        treatment: str,
        outcome: str | None = None,
        time: str | None = None,
        event: str | None = None,
        covariates: str | Iterable[str] = (),
        family: str = "gaussian",
        missing: str = "error",
        experimental: Any = None,
    ) -> IPD:
        """Validate participant rows and return an :class:`IPD`.

        Parameters
        ----------
        df : DataFrame
            One row per participant. Never modified.
        study, treatment : str
            Trial identifier column, and treatment column: 0/1 or bool (1/True =
            experimental), or two levels of which ``experimental`` names the experimental one.
        outcome : str, optional
            Outcome column, for ``family="gaussian"`` or ``"binomial"`` (0/1).
        time, event : str, optional
            Follow-up time (> 0) and event (0/1) columns, for ``family="survival"``.
        covariates : str or sequence of str
            Covariate columns. A covariate whose values are text is categorical (sorted
            levels); one that is mostly numeric must be numeric throughout.
        family : {"gaussian", "binomial", "survival"}
        missing : {"error", "drop"}
            What to do with rows that have a missing value in a used column: refuse, or drop
            them (counted per trial in :attr:`dropped`, with a warning).
        experimental : str or number, optional
            The treatment level coded 1. Required when the treatment is not coded 0/1.

        Returns
        -------
        IPD

        Raises
        ------
        IPDDataError
            On any of: absent columns, unknown family, wrong outcome arguments for the
            family, missing values (with ``missing="error"``), a treatment that is not two
            valued, a trial with one arm, fewer than two trials, a binomial outcome or event
            outside {0, 1}, a survival time <= 0, text in a numeric column, no rows.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"trial": ["A", "A", "B", "B"], "arm": [0, 1, 0, 1],
        ...                    "y": [1.0, 2.0, 3.0, 5.0]})
        >>> ipd = IPD.from_frame(df, study="trial", treatment="arm", outcome="y")
        >>> ipd.studies, ipd.n
        (('A', 'B'), 4)
        """
        return _build_ipd(
            cls,
            df,
            study=study,
            treatment=treatment,
            outcome=outcome,
            time=time,
            event=event,
            covariates=covariates,
            family=family,
            missing=missing,
            experimental=experimental,
            row_name=_index_row_name(df.index) if isinstance(df, pd.DataFrame) else None,
        )

    @classmethod
    def read_csv(cls, path: str | Path, *, sep: str = ",", **kwargs: Any) -> IPD:
        """Read a delimited text file of participant rows and validate it.

        Parameters
        ----------
        path : str or Path
            The file (UTF-8 text; ``.gz`` and other compressions pandas infers are fine).
        sep : str
            Field delimiter.
        **kwargs
            The keyword arguments of :meth:`from_frame` (``study=``, ``treatment=``, ...).

        Returns
        -------
        IPD

        Raises
        ------
        IPDDataError
            If the file does not exist, is not text, is empty or fails validation. Error
            messages name rows as ``data row i (line j of path)``.
        """
        path = Path(path)
        study = kwargs.get("study")
        frame = _read_table(path, sep=sep, text_columns=(study,) if isinstance(study, str) else ())
        return _build_ipd(cls, frame, row_name=_file_row_name(path), **kwargs)

    # ---------------------------------------------------------------------------- views

    @property
    def n(self) -> int:
        """Number of participants (rows)."""
        return int(self.study.shape[0])

    @property
    def k(self) -> int:
        """Number of trials."""
        return len(self.studies)

    @property
    def n_per_study(self) -> dict[str, int]:
        """Participants per trial."""
        counts = np.bincount(self.study, minlength=self.k)
        return {label: int(c) for label, c in zip(self.studies, counts, strict=True)}

    @property
    def events_per_study(self) -> dict[str, int]:
        """Events per trial (binomial outcome = 1, or survival event = 1)."""
        indicator = self._event_indicator()
        counts = np.bincount(self.study, weights=indicator, minlength=self.k)
        return {label: round(float(c)) for label, c in zip(self.studies, counts, strict=True)}

    @property
    def covariate_names(self) -> tuple[str, ...]:
        """Covariate column names, in the order given."""
        return tuple(str(c) for c in self.covariates.columns)

    @property
    def categorical_covariates(self) -> tuple[str, ...]:
        """The covariates held as pandas Categorical."""
        return tuple(
            str(c)
            for c in self.covariates.columns
            if isinstance(self.covariates[c].dtype, pd.CategoricalDtype)
        )

    def _event_indicator(self) -> np.ndarray:
        if self.family == "binomial":
            assert self.outcome is not None
            return self.outcome
        if self.family == "survival":
            assert self.event is not None
            return self.event
        raise IPDDataError(f"a {self.family} outcome has no events")

    def to_frame(self) -> pd.DataFrame:
        """Participant rows with the source column names (treatment coded 0/1).

        Returns
        -------
        DataFrame
            Columns: study label, treatment (int 0/1), outcome or time and event, covariates.
        """
        cols = self.columns
        data: dict[str, Any] = {
            cols.study: np.asarray(self.studies, dtype=object)[self.study],
            cols.treatment: self.treat.astype(np.int64),
        }
        if self.family == "survival":
            assert cols.time is not None and cols.event is not None
            data[cols.time] = self.time
            data[cols.event] = np.asarray(self.event).astype(np.int64)
        else:
            assert cols.outcome is not None and self.outcome is not None
            binary = self.family == "binomial"
            data[cols.outcome] = self.outcome.astype(np.int64) if binary else self.outcome
        frame = pd.DataFrame(data)
        for name in self.covariates.columns:
            frame[name] = self.covariates[name].to_numpy(copy=True)
        return frame

    def select_studies(self, labels: str | Iterable[str]) -> IPD:
        """The participants of the named trials, as a new :class:`IPD`.

        Trials keep their original order. At least two trials must remain.

        Parameters
        ----------
        labels : str or iterable of str
            Trial labels as in :attr:`studies`.
        """
        wanted = [labels] if isinstance(labels, str) else [str(x) for x in labels]
        unknown = [label for label in wanted if label not in self.studies]
        if unknown:
            raise IPDDataError(
                f"unknown trial(s) {_quoted(unknown)}; the trials are {_quoted(self.studies, 40)}"
            )
        kept_codes = [i for i, label in enumerate(self.studies) if label in set(wanted)]
        studies = tuple(self.studies[i] for i in kept_codes)
        _check_enough_trials(studies, self.columns.study)
        remap = np.full(self.k, -1, dtype=np.int64)
        remap[kept_codes] = np.arange(len(kept_codes))
        rows = remap[self.study] >= 0
        dropped = {label: count for label, count in self.dropped.items() if label in studies}
        return IPD(
            family=self.family,
            studies=studies,
            study=remap[self.study][rows],
            treat=self.treat[rows],
            outcome=None if self.outcome is None else self.outcome[rows],
            time=None if self.time is None else self.time[rows],
            event=None if self.event is None else self.event[rows],
            covariates=self.covariates.loc[rows].reset_index(drop=True),
            columns=self.columns,
            dropped=MappingProxyType(dropped),
            n_input_rows=int(rows.sum()) + sum(dropped.values()),
            experimental=self.experimental,
        )

    def summary_frame(self) -> pd.DataFrame:
        """One row per trial: ``n, n_treated, n_control``, ``events`` (binomial, survival),
        ``dropped``.
        """
        n = np.bincount(self.study, minlength=self.k).astype(np.int64)
        n_treated = np.bincount(self.study, weights=self.treat, minlength=self.k)
        n_treated = np.rint(n_treated).astype(np.int64)
        data: dict[str, np.ndarray] = {"n": n, "n_treated": n_treated, "n_control": n - n_treated}
        if self.family != "gaussian":
            data["events"] = np.array(list(self.events_per_study.values()), dtype=np.int64)
        data["dropped"] = np.array([self.dropped.get(s, 0) for s in self.studies], dtype=np.int64)
        return pd.DataFrame(data, index=pd.Index(self.studies, name="study"))

    def __repr__(self) -> str:
        cols = self.columns
        if self.family == "survival":
            response = f"time={cols.time!r}, event={cols.event!r}"
        else:
            response = f"outcome={cols.outcome!r}"
        covariates = ", ".join(cols.covariates) if cols.covariates else "none"
        n_dropped = sum(self.dropped.values())
        dropped = f"{n_dropped} row(s) dropped for missing values" if n_dropped else "none dropped"
        return (
            f"IPD({self.family}: {self.k} trials, {self.n:,} participants; "
            f"study={cols.study!r}, treatment={cols.treatment!r}, {response}; "
            f"covariates: {covariates}; {dropped})"
        )


# --------------------------------------------------------------------------------------------
# the builder behind from_frame / read_csv


def _build_ipd(
    cls: type[IPD],
    df: pd.DataFrame,
    *,
    study: str,
    treatment: str,
    outcome: str | None = None,
    time: str | None = None,
    event: str | None = None,
    covariates: str | Iterable[str] = (),
    family: str = "gaussian",
    missing: str = "error",
    experimental: Any = None,
    row_name: RowName | None = None,
) -> IPD:
    if not isinstance(df, pd.DataFrame):
        raise IPDDataError(f"expected a pandas DataFrame of participant rows; got {type(df)!r}")
    _check_family(family)
    _check_missing_policy(missing)
    _check_roles(family, outcome, time, event)
    covariate_names = _covariate_tuple(covariates)
    roles = {"study": study, "treatment": treatment}
    responses = (("outcome", outcome), ("time", time), ("event", event))
    roles.update({role: name for role, name in responses if name is not None})
    roles.update({f"covariate {name!r}": name for name in covariate_names})
    _check_column_names(roles)
    _check_columns_exist(df, roles)
    if len(df) == 0:
        raise IPDDataError("the data have no rows")
    row_name = row_name or _index_row_name(df.index)
    columns = Columns(study, treatment, outcome, time, event, covariate_names)
    return _validated(cls, df, columns, family, missing, experimental, row_name)


def _validated(
    cls: type[IPD],
    df: pd.DataFrame,
    cols: Columns,
    family: str,
    missing: str,
    experimental: Any,
    row_name: RowName,
) -> IPD:
    n_rows = len(df)
    response_names = [c for c in (cols.outcome, cols.time, cols.event) if c is not None]
    used = [cols.study, cols.treatment, *response_names, *cols.covariates]
    masks = {name: _missing_mask(df[name]) for name in used}

    # Parse every column on all rows first, so text is never mistaken for a missing value.
    treatment = _parse_treatment(
        df[cols.treatment], cols.treatment, masks[cols.treatment], row_name
    )
    response_roles = {cols.outcome: "outcome", cols.time: "survival time", cols.event: "event"}
    responses = {
        name: _numeric_column(df[name], name, response_roles[name], masks[name], row_name)
        for name in response_names
    }
    parsed_covariates = {
        name: _parse_covariate(df[name], name, masks[name], row_name) for name in cols.covariates
    }
    row_codes, labels = _study_codes(df[cols.study], masks[cols.study])

    report = _missing_report(masks, row_codes, labels)
    _apply_missing_policy(report, missing, n_rows)
    kept = np.flatnonzero(report.keep)
    if kept.size == 0:
        raise IPDDataError(f"no rows left: all {n_rows} rows have a missing value")

    codes, kept_uniques = pd.factorize(row_codes[kept])
    codes = np.asarray(codes, dtype=np.int64)
    studies = tuple(labels[int(i)] for i in kept_uniques)

    kept_treatment = _Treatment(treatment.kind, treatment.values[kept])
    level_1, level_0 = _treatment_levels(kept_treatment, cols.treatment, experimental)
    treat = (kept_treatment.values == level_1).astype(np.float64)
    arm_names = _arm_names(treatment.kind, level_1, level_0, experimental)

    _check_enough_trials(studies, cols.study)
    dropped = dict(report.by_trial) if missing == "drop" else {}
    _check_both_arms(treat, codes, studies, arm_names, dropped)
    kept_responses = {name: values[kept] for name, values in responses.items()}
    _check_responses(family, cols, kept_responses, codes, studies, row_name, kept)
    covariate_frame = _covariate_frame(parsed_covariates, kept, codes, studies, row_name)

    if family == "survival":
        _warn_event_free_trials(kept_responses[cols.event], codes, studies)  # type: ignore[index]

    return cls(
        family=family,
        studies=studies,
        study=codes,
        treat=treat,
        outcome=kept_responses.get(cols.outcome) if cols.outcome else None,
        time=kept_responses.get(cols.time) if cols.time else None,
        event=kept_responses.get(cols.event) if cols.event else None,
        covariates=covariate_frame,
        columns=cols,
        dropped=MappingProxyType(dropped),
        n_input_rows=n_rows,
        experimental=None if experimental is None else _value_label(experimental),
    )


def _arm_names(kind: str, level_1: Any, level_0: Any, experimental: Any) -> dict[int, str]:
    if experimental is None and kind == "numeric":
        return {1: "treated arm (treatment = 1)", 0: "control arm (treatment = 0)"}
    shown_1 = _number_text(level_1) if kind == "numeric" else level_1
    shown_0 = _number_text(level_0) if kind == "numeric" else level_0
    return {1: f"experimental arm ({shown_1!r})", 0: f"control arm ({shown_0!r})"}


def _check_responses(
    family: str,
    cols: Columns,
    responses: Mapping[str | None, np.ndarray],
    codes: np.ndarray,
    studies: tuple[str, ...],
    row_name: RowName,
    kept: np.ndarray,
) -> None:
    where = (codes, studies, row_name, kept)
    if family == "gaussian":
        _check_finite(responses[cols.outcome], str(cols.outcome), "outcome", *where)
    elif family == "binomial":
        _check_binary(responses[cols.outcome], str(cols.outcome), "binomial outcome", *where)
    else:
        _check_positive_time(responses[cols.time], str(cols.time), *where)
        _check_binary(responses[cols.event], str(cols.event), "event", *where)


def _covariate_frame(
    parsed: Mapping[str, _Covariate],
    kept: np.ndarray,
    codes: np.ndarray,
    studies: tuple[str, ...],
    row_name: RowName,
) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for name, covariate in parsed.items():
        if covariate.numeric is not None:
            values = covariate.numeric[kept]
            _check_finite(values, name, "covariate", codes, studies, row_name, kept)
            data[name] = values
        else:
            assert covariate.categorical is not None
            data[name] = covariate.categorical[kept]
    return pd.DataFrame(data, index=pd.RangeIndex(kept.size))


# --------------------------------------------------------------------------------------------
# reading files


def _read_table(path: Path, *, sep: str, text_columns: tuple[Hashable, ...]) -> pd.DataFrame:
    if not path.exists():
        raise IPDDataError(f"file not found: {path}")
    if path.is_dir():
        raise IPDDataError(f"{path} is a directory, not a data file")
    _check_text_file(path)
    try:
        header = pd.read_csv(path, sep=sep, nrows=0)
        dtype = {c: str for c in text_columns if c in header.columns}
        return pd.read_csv(path, sep=sep, dtype=dtype)  # type: ignore[arg-type]
    except pd.errors.EmptyDataError as exc:
        raise IPDDataError(f"{path} is empty (no header, no rows)") from exc
    except UnicodeDecodeError as exc:
        raise IPDDataError(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise IPDDataError(f"{path} could not be parsed as delimited text: {exc}") from exc


def _check_text_file(path: Path) -> None:
    if path.suffix.lower() in _COMPRESSED_SUFFIXES:
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(65536)
    except OSError as exc:
        raise IPDDataError(f"{path} could not be read: {exc}") from exc
    if b"\x00" in head:
        raise IPDDataError(f"{path} is not a text file (it holds NUL bytes)")
