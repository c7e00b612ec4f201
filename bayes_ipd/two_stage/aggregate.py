"""Per-trial (estimate, SE) tables: the input of stage-two pooling.

An :class:`AggregateData` holds one row per trial: the estimate of the pooled term on its
effect scale, its standard error and, optionally, the trial size, its event count and a
reason for leaving the trial out of the pooling. It comes from the per-trial regressions of
stage one or from published trial results (:meth:`AggregateData.from_frame`,
:meth:`AggregateData.read_csv`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.conventions import SCALE_CODES, readonly
from bayes_ipd.data.reading import (
    duplicate_header_names,
    raw_header,
    rereadable,
    text_read_options,
)
from bayes_ipd.errors import PoolingError

SCALES: tuple[str | None, ...] = (*SCALE_CODES, None)
"""Effect scales: mean difference, log odds / risk / hazard ratio, or unspecified.

Estimates on a log scale are also reported exponentiated.
"""

FRAME_COLUMNS: tuple[str, ...] = ("study", "estimate", "se", "n", "events", "excluded")


@dataclass(frozen=True, eq=False)
class AggregateData:
    """One estimate and standard error per trial, with the trial labels.

    Parameters
    ----------
    studies : tuple of str
        Unique trial labels.
    estimate : numpy.ndarray
        Estimate of ``term`` per trial (float64, shape ``(k,)``). NaN is allowed only for
        excluded trials.
    se : numpy.ndarray
        Standard error per trial; positive and finite for included trials.
    n : numpy.ndarray or None
        Participants per trial (int64), or None when not known.
    events : numpy.ndarray or None
        Events per trial (binary and survival outcomes), or None.
    excluded : tuple of (str or None)
        Reason for leaving each trial out of the pooling, None for an included trial.
        The empty tuple means that no trial is excluded (it is stored as all None).
    term : str
        The pooled term, e.g. ``"treat"`` or ``"treat:age"``.
    scale : {"MD", "logOR", "logRR", "logHR", None}
        Effect scale of ``estimate``.

    Raises
    ------
    PoolingError
        On unequal lengths, duplicate labels, an unknown scale, or a non-finite estimate or
        non-positive / non-finite SE for an included trial; the message names the trial.

    Notes
    -----
    The arrays are copied and made read-only. Equality compares every field by value.

    Examples
    --------
    >>> agg = AggregateData(("A", "B"), np.array([-0.2, -0.5]), np.array([0.1, 0.2]))
    >>> agg.k
    2
    """

    studies: tuple[str, ...]
    estimate: np.ndarray
    se: np.ndarray
    n: np.ndarray | None = None
    events: np.ndarray | None = None
    excluded: tuple[str | None, ...] = ()
    term: str = "treat"
    scale: str | None = None

    def __post_init__(self) -> None:
        studies = tuple(str(s) for s in self.studies)
        k = len(studies)
        object.__setattr__(self, "studies", studies)
        object.__setattr__(self, "estimate", _float_vector(self.estimate, "estimate", k))
        object.__setattr__(self, "se", _float_vector(self.se, "se", k))
        object.__setattr__(self, "n", _count_vector(self.n, "n", studies))
        object.__setattr__(self, "events", _count_vector(self.events, "events", studies))
        object.__setattr__(self, "excluded", _exclusion_reasons(self.excluded, k))
        _check_unique(studies)
        check_scale(self.scale)
        if not isinstance(self.term, str) or not self.term:
            raise PoolingError(f"term must be a non-empty string, got {self.term!r}")
        self._check_included_rows()
        self._check_events_within_n()

    def _check_included_rows(self) -> None:
        for label, est, se, reason in zip(
            self.studies, self.estimate, self.se, self.excluded, strict=True
        ):
            if reason is not None:
                continue
            if not np.isfinite(est):
                raise PoolingError(
                    f"trial {label!r}: estimate is {est}; an included trial needs a finite "
                    "estimate; correct it, or remove the trial"
                )
            if not (np.isfinite(se) and se > 0):
                raise PoolingError(
                    f"trial {label!r}: se is {se}; an included trial needs a positive, finite "
                    "standard error; correct it, or remove the trial"
                )

    def _check_events_within_n(self) -> None:
        if self.n is None or self.events is None:
            return
        for label, n, events in zip(self.studies, self.n, self.events, strict=True):
            if events > n:
                raise PoolingError(f"trial {label!r}: events ({events}) exceed n ({n})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AggregateData):
            return NotImplemented
        return (
            self.studies == other.studies
            and np.array_equal(self.estimate, other.estimate, equal_nan=True)
            and np.array_equal(self.se, other.se, equal_nan=True)
            and _optional_equal(self.n, other.n)
            and _optional_equal(self.events, other.events)
            and self.excluded == other.excluded
            and self.term == other.term
            and self.scale == other.scale
        )

    __hash__ = None  # type: ignore[assignment]  # holds arrays, so not hashable

    @property
    def k(self) -> int:
        """Number of trials, excluded ones included."""
        return len(self.studies)

    @property
    def n_excluded(self) -> int:
        """Number of trials carrying an exclusion reason."""
        return sum(reason is not None for reason in self.excluded)

    def __len__(self) -> int:
        return self.k

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        estimate: str,
        se: str | None = None,
        study: str | None = None,
        n: str | None = None,
        events: str | None = None,
        scale: str | None = None,
        excluded: str | None = None,
        term: str = "treat",
        var: str | None = None,
    ) -> AggregateData:
        """Build from a DataFrame with one row per trial.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per trial; it is only read.
        estimate : str
            Column holding the estimates.
        se : str, optional
            Column of their standard errors; ``se`` or ``var`` is required.
        study : str, optional
            Column of trial labels (turned into ``str``, surrounding whitespace stripped;
            labels equal after stripping are duplicates). Without it, trials are labelled
            ``"1"``, ``"2"``, ... in row order.
        n, events : str, optional
            Columns of participant and event counts.
        scale : {"MD", "logOR", "logRR", "logHR", None}
            Effect scale of the estimates.
        excluded : str, optional
            Column of exclusion reasons; empty or missing cells mean included.
        term : str
            Name of the pooled term.
        var : str, optional
            Column of sampling variances (e.g. metafor's ``vi``), instead of ``se``; each
            included trial's must be positive and finite (errors name this column).

        Returns
        -------
        AggregateData

        Raises
        ------
        PoolingError
            A named column is missing (the message lists the existing ones), holds a
            non-numeric value (column and value named) or a missing value (trial named),
            or the frame has no rows.

        Examples
        --------
        >>> df = pd.DataFrame({"yi": [-0.89, -1.59], "sei": [0.57, 0.44]})
        >>> AggregateData.from_frame(df, estimate="yi", se="sei", scale="logRR").studies
        ('1', '2')
        """
        if not isinstance(df, pd.DataFrame):
            raise PoolingError(f"expected a pandas DataFrame, got {type(df).__name__}")
        if (se is None) == (var is None):
            raise PoolingError("give the standard-error column or the variance column (one)")
        spread = se if se is not None else str(var)
        named = {"estimate": estimate, "se": spread, "study": study, "n": n, "events": events}
        named["excluded"] = excluded
        _check_columns_exist(df, [c for c in named.values() if c is not None])
        if len(df) == 0:
            raise PoolingError("the table of trial results has no rows")
        labels = _study_labels(df, study)
        reasons = _reasons_column(df, excluded)
        return cls(
            studies=labels,
            estimate=_numeric_column(df, estimate, labels, reasons),
            se=_standard_errors(df, spread, labels, reasons, is_variance=var is not None),
            n=None if n is None else _count_column(df, n, labels),
            events=None if events is None else _count_column(df, events, labels),
            excluded=reasons,
            term=term,
            scale=scale,
        )

    @classmethod
    def read_csv(cls, path: str | PathLike[str], **kw: Any) -> AggregateData:
        """Read a CSV of trial results; keywords as in :meth:`from_frame`, and ``label``.

        ``label`` (a column name or a sequence of them) gives the trials readable labels
        for tables and figures: the values of those columns joined by spaces (e.g.
        ``("author", "year")`` gives ``"Aronson 1948"``), in place of the ``study``
        column's (which may hold bare ids 1, 2, ...). Each label must be present and unique.

        The ``study`` column is read as text exactly as written: ``"007"`` and ``"7"`` are
        two trials, ``"1e3"`` stays ``"1e3"``, and ``"NA"`` or ``"None"`` are labels, not
        missing values (an empty cell is missing).

        Raises
        ------
        PoolingError
            The file is missing, empty or cannot be parsed, or its header names a column
            twice (the path is named), or its content fails :meth:`from_frame`.
        """
        label = kw.pop("label", None)
        label_columns = (label,) if isinstance(label, str) else tuple(label or ())
        study = kw.get("study")
        source = rereadable(path, PoolingError)  # a pipe (/dev/stdin) is read once
        try:
            problem = duplicate_header_names(path, raw_header(source(), sep=","))
            if problem:
                raise PoolingError(problem)
            header = pd.read_csv(source(), nrows=0)
            text = ((study,) if isinstance(study, str) else ()) + label_columns
            text = tuple(c for c in dict.fromkeys(text) if c in header.columns)
            df = pd.read_csv(source(), **text_read_options(header.columns, text))
        except FileNotFoundError as exc:
            raise PoolingError(f"{path}: file not found") from exc
        except pd.errors.EmptyDataError as exc:
            raise PoolingError(f"{path}: the file is empty") from exc
        except (pd.errors.ParserError, UnicodeDecodeError, IsADirectoryError) as exc:
            raise PoolingError(f"{path}: cannot be read as CSV ({exc})") from exc
        try:
            if label_columns:
                df, kw["study"] = _with_labels(df, label_columns)
            return cls.from_frame(df, **kw)
        except PoolingError as exc:
            raise PoolingError(f"{path}: {exc}") from exc

    def included(self) -> AggregateData:
        """The trials without an exclusion reason, in the same order."""
        keep = np.array([reason is None for reason in self.excluded], dtype=bool)
        return AggregateData(
            studies=tuple(s for s, kept in zip(self.studies, keep, strict=True) if kept),
            estimate=self.estimate[keep],
            se=self.se[keep],
            n=None if self.n is None else self.n[keep],
            events=None if self.events is None else self.events[keep],
            excluded=(),
            term=self.term,
            scale=self.scale,
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per trial: ``study, estimate, se, n, events, excluded``.

        ``n`` and ``events`` are nullable integers (missing when not known); ``excluded``
        holds the reason or None.
        """
        return pd.DataFrame(
            {
                "study": list(self.studies),
                "estimate": self.estimate.copy(),
                "se": self.se.copy(),
                "n": _nullable_ints(self.n, self.k),
                "events": _nullable_ints(self.events, self.k),
                "excluded": pd.Series(list(self.excluded), dtype=object),
            },
            columns=list(FRAME_COLUMNS),
        )


def _standard_errors(
    df: pd.DataFrame,
    column: str,
    labels: tuple[str, ...],
    reasons: tuple[str | None, ...],
    *,
    is_variance: bool,
) -> np.ndarray:
    """The SE column, or the square root of a variance column checked as variances."""
    values = _numeric_column(df, column, labels, reasons)
    if not is_variance:
        return values
    for label, value, reason in zip(labels, values, reasons, strict=True):
        if reason is None and not (np.isfinite(value) and value > 0):
            raise PoolingError(
                f"trial {label!r}: the sampling variance (column {column!r}) is {value}; "
                "an included trial needs a positive, finite variance; correct it, or "
                "remove the trial"
            )
    return np.sqrt(values)


def _float_vector(values: Any, field: str, k: int) -> np.ndarray:
    try:
        a = readonly(values)
    except (TypeError, ValueError) as exc:
        raise PoolingError(f"{field} must be numeric: {exc}") from exc
    if a.ndim != 1 or a.shape[0] != k:
        raise PoolingError(f"{field} has shape {a.shape}; expected ({k},), one value per trial")
    return a


def _count_vector(values: Any, field: str, studies: tuple[str, ...]) -> np.ndarray | None:
    if values is None:
        return None
    a = _float_vector(values, field, len(studies))
    for label, value in zip(studies, a, strict=True):
        if not (np.isfinite(value) and value >= 0 and value == np.floor(value)):
            raise PoolingError(
                f"trial {label!r}: {field} is {value}; expected a non-negative whole number"
            )
    return readonly(a, np.int64)


def _exclusion_reasons(reasons: Sequence[str | None], k: int) -> tuple[str | None, ...]:
    reasons = tuple(reasons)
    if not reasons:
        return (None,) * k
    if len(reasons) != k:
        raise PoolingError(f"excluded has {len(reasons)} entries; expected {k}, one per trial")
    return tuple(None if r is None else str(r) for r in reasons)


def _check_unique(studies: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for label in studies:
        if label in seen:
            raise PoolingError(f"trial label {label!r} appears more than once")
        seen.add(label)


def check_scale(scale: str | None) -> None:
    """Refuse an effect scale the package does not know (None = not named)."""
    if scale not in SCALES:
        raise PoolingError(f"unknown effect scale {scale!r}; expected one of {SCALES}")


def _optional_equal(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(a, b)


def _nullable_ints(values: np.ndarray | None, k: int) -> pd.Series:
    if values is None:
        return pd.Series([pd.NA] * k, dtype="Int64")
    return pd.Series(values, dtype="Int64")


def _check_columns_exist(df: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        existing = ", ".join(map(str, df.columns))
        raise PoolingError(
            f"column(s) {', '.join(map(repr, missing))} not found; the table has: {existing}"
        )


def _study_labels(df: pd.DataFrame, study: str | None) -> tuple[str, ...]:
    if study is None:
        return tuple(str(i) for i in range(1, len(df) + 1))
    labels = []
    for row, value in enumerate(df[study], start=1):
        label = None if pd.isna(value) else str(value).strip()
        if not label:
            raise PoolingError(f"column {study!r}: row {row} has no trial label")
        labels.append(label)
    return tuple(labels)


def _reasons_column(df: pd.DataFrame, excluded: str | None) -> tuple[str | None, ...]:
    if excluded is None:
        return (None,) * len(df)
    return tuple(None if pd.isna(r) or str(r).strip() == "" else str(r) for r in df[excluded])


def _as_numbers(df: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(df[column], errors="coerce")
    bad = values.isna() & df[column].notna()
    if bad.any():
        example = df[column][bad].iloc[0]
        raise PoolingError(f"column {column!r} is not numeric: it holds {example!r}")
    return values.to_numpy(dtype=np.float64)


def _numeric_column(
    df: pd.DataFrame, column: str, labels: tuple[str, ...], reasons: tuple[str | None, ...]
) -> np.ndarray:
    values = _as_numbers(df, column)
    for label, value, reason in zip(labels, values, reasons, strict=True):
        if reason is None and np.isnan(value):
            raise PoolingError(f"column {column!r}: trial {label!r} has a missing value")
    return values


def _count_column(df: pd.DataFrame, column: str, labels: tuple[str, ...]) -> np.ndarray:
    values = _as_numbers(df, column)
    for label, value in zip(labels, values, strict=True):
        if np.isnan(value):
            raise PoolingError(f"column {column!r}: trial {label!r} has a missing value")
    return values


def _with_labels(df: pd.DataFrame, columns: tuple[str, ...]) -> tuple[pd.DataFrame, str]:
    """``df`` (a copy) with a column of labels joined from ``columns``, and its name."""
    for column in columns:
        if column not in df.columns:
            raise PoolingError(f"label column {column!r} is not in the file")
        missing = np.flatnonzero(df[column].isna().to_numpy())
        if missing.size:
            raise PoolingError(
                f"label column {column!r} is empty in row {int(missing[0]) + 1} (data rows)"
            )
    name = "label"
    while name in df.columns:
        name = f"_{name}"
    joined = df[list(columns)].astype(str).agg(" ".join, axis=1)
    return df.assign(**{name: joined}), name
