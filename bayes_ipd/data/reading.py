"""Participant rows to the fields of an :class:`~bayes_ipd.data.IPD`: the builder behind
:meth:`~bayes_ipd.data.IPD.from_frame` and :meth:`~bayes_ipd.data.IPD.read_csv`, and the
reading of delimited text files.

The builder checks the arguments, parses every used column on all rows, applies the
missing-data policy, codes the treatment 0/1, indexes the trials in order of first appearance
and checks the kept rows. What differs between outcome families is asked of the family
plug-in (:func:`bayes_ipd.families.get_family`). The caller's DataFrame is never modified.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, TypeVar

import numpy as np
import pandas as pd

from bayes_ipd.data.checks import (
    KeptRows,
    arm_names,
    check_both_arms,
    check_column_names,
    check_columns_exist,
    check_enough_trials,
    check_finite,
    check_missing_policy,
    check_responses,
    check_roles,
    covariate_tuple,
    treatment_levels,
    warn_event_free_trials,
)
from bayes_ipd.data.columns import Columns
from bayes_ipd.data.levels import ordinal_codes
from bayes_ipd.data.messages import RowName, index_row_name, value_label
from bayes_ipd.data.missing import (
    IMPUTE,
    apply_missing_policy,
    missing_report,
    note_nothing_to_impute,
)
from bayes_ipd.data.parsing import (
    Covariate,
    Treatment,
    missing_mask,
    numeric_column,
    parse_covariate,
    parse_label,
    parse_treatment,
    study_codes,
)
from bayes_ipd.data.participants import check_one_row_per_participant, warn_repeated_profiles
from bayes_ipd.data.sources import COMPRESSED_SUFFIXES, read_source_text, rereadable
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families import Family, get_family

__all__ = [
    "COMPRESSED_SUFFIXES",
    "PANDAS_NA_TEXT",
    "build_ipd",
    "duplicate_header_names",
    "raw_header",
    "read_rows",
    "read_source_text",
    "read_table",
    "rereadable",
    "text_read_options",
]

PANDAS_NA_TEXT: tuple[str, ...] = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)
"""The cells pandas reads as missing by default; every column but a text column uses them."""


# --------------------------------------------------------------------------------------------
# the builder behind from_frame / read_csv


Data = TypeVar("Data")
"""The value built: :class:`~bayes_ipd.data.IPD` (ipd.py imports this module, never the
reverse, so the builder is given the class)."""


def build_ipd(
    cls: Callable[..., Data],
    columns_type: type[Columns],
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
    min_trials: int = 2,
    levels: str | Iterable[Any] | None = None,
    participant: str | None = None,
) -> Data:
    """Validate participant rows and build an :class:`~bayes_ipd.data.IPD`.

    Parameters
    ----------
    cls : type of IPD
        The class to build (:meth:`~bayes_ipd.data.IPD.from_frame`'s ``cls``).
    columns_type : type of Columns
        The class recording the source column names.
    df : DataFrame
        One row per participant. Never modified.
    study, treatment, outcome, time, event, covariates, family, missing, experimental, levels
        As in :meth:`~bayes_ipd.data.IPD.from_frame`.
    participant : str, optional
        As in :meth:`~bayes_ipd.data.IPD.from_frame`: a participant-identifier column,
        unique within each trial (checked, then left out of the value).
    row_name : RowName, optional
        Names a source row in messages; by default by the frame's index label.
    min_trials : int, optional
        Fewest trials accepted (2; 1 for a site summarising its own trial).

    Returns
    -------
    IPD

    Raises
    ------
    IPDDataError
        On any refusal listed in :meth:`~bayes_ipd.data.IPD.from_frame`.
    """
    if not isinstance(df, pd.DataFrame):
        raise IPDDataError(f"expected a pandas DataFrame of participant rows; got {type(df)!r}")
    plugin = get_family(family, IPDDataError)
    check_missing_policy(missing)
    check_roles(plugin, {"outcome": outcome, "time": time, "event": event})
    covariate_names = covariate_tuple(covariates)
    roles = {"study": study, "treatment": treatment}
    responses = (("outcome", outcome), ("time", time), ("event", event))
    roles.update({role: name for role, name in responses if name is not None})
    roles.update({f"covariate {name!r}": name for name in covariate_names})
    if participant is not None:
        roles["participant"] = participant
    check_column_names(roles)
    check_columns_exist(df, roles)
    if len(df) == 0:
        raise IPDDataError("the data have no rows")
    row_name = row_name or index_row_name(df.index)
    columns = columns_type(study, treatment, outcome, time, event, covariate_names)
    return _validated(
        cls, df, columns, plugin, missing, experimental, row_name, min_trials, levels, participant
    )


def _validated(
    cls: Callable[..., Data],
    df: pd.DataFrame,
    cols: Columns,
    family: Family,
    missing: str,
    experimental: Any,
    row_name: RowName,
    min_trials: int = 2,
    levels: Any = None,
    participant: str | None = None,
) -> Data:
    n_rows = len(df)
    response_columns: dict[str, str] = {
        r.role: getattr(cols, r.role) for r in family.responses if getattr(cols, r.role)
    }
    ordinal = {r.role for r in family.responses if r.coded_from_levels}
    if levels is not None and not ordinal:
        raise IPDDataError(f"levels= is for an ordinal outcome, not family {family.name!r}")
    used = [cols.study, cols.treatment, *response_columns.values(), *cols.covariates]
    masks = {name: missing_mask(df[name]) for name in used}

    # Parse every column on all rows first, so text is never mistaken for a missing value.
    treatment = parse_treatment(df[cols.treatment], cols.treatment, masks[cols.treatment], row_name)
    roles = {r.role: r for r in family.responses}
    responses = {
        name: numeric_column(df[name], name, parse_label(roles[role]), masks[name], row_name)
        for role, name in response_columns.items()
        if role not in ordinal
    }
    level_names = None
    for role in ordinal:
        name = response_columns[role]
        responses[name], level_names = ordinal_codes(df[name], name, masks[name], row_name, levels)
    parsed_covariates = {
        name: parse_covariate(df[name], name, masks[name], row_name) for name in cols.covariates
    }
    row_codes, labels = study_codes(df[cols.study], masks[cols.study])

    kept_missing = cols.covariates if missing == IMPUTE else ()  # imputed later, by a route
    policed = {name: mask for name, mask in masks.items() if name not in kept_missing}
    report = missing_report(policed, row_codes, labels)
    apply_missing_policy(report, missing, n_rows)
    kept = np.flatnonzero(report.keep)
    if kept.size == 0:
        raise IPDDataError(f"no rows left: all {n_rows} rows have a missing value")

    codes, kept_uniques = pd.factorize(row_codes[kept])
    codes = np.asarray(codes, dtype=np.int64)
    studies = tuple(labels[int(i)] for i in kept_uniques)

    kept_treatment = Treatment(treatment.kind, treatment.values[kept])
    level_1, level_0 = treatment_levels(
        kept_treatment, cols.treatment, experimental, (codes, studies)
    )
    treat = (kept_treatment.values == level_1).astype(np.float64)
    names_of_arms = arm_names(treatment.kind, level_1, level_0, experimental)

    check_enough_trials(studies, cols.study, min_trials)
    dropped = dict(report.by_trial) if missing == "drop" else {}
    check_both_arms(treat, codes, studies, names_of_arms, dropped)
    rows = KeptRows(codes, studies, row_name, kept)
    kept_responses = {name: values[kept] for name, values in responses.items()}
    check_responses(family, response_columns, kept_responses, rows)
    covariate_frame = _covariate_frame(parsed_covariates, rows, keep_missing=missing == IMPUTE)
    note_nothing_to_impute(covariate_frame, missing)
    if participant is not None:
        check_one_row_per_participant(df[participant], participant, codes, studies, kept)
    else:
        warn_repeated_profiles(covariate_frame, treat, codes, studies)
    by_role = {role: kept_responses[name] for role, name in response_columns.items()}
    if family.event_role is not None:
        warn_event_free_trials(family, by_role[family.event_role], codes, studies)

    return cls(
        family=family.name,
        studies=studies,
        study=codes,
        treat=treat,
        outcome=by_role.get("outcome"),
        time=by_role.get("time"),
        event=by_role.get("event"),
        covariates=covariate_frame,
        columns=cols,
        dropped=MappingProxyType(dropped),
        n_input_rows=n_rows,
        experimental=None if experimental is None else value_label(experimental),
        levels=level_names,
    )


def _covariate_frame(
    parsed: Mapping[str, Covariate], rows: KeptRows, *, keep_missing: bool = False
) -> pd.DataFrame:
    """The kept rows of every covariate; a numeric one must be finite (``keep_missing``:
    finite where present, NaN where missing, for ``missing="impute"``)."""
    data: dict[str, Any] = {}
    for name, covariate in parsed.items():
        if covariate.numeric is not None:
            values = covariate.numeric[rows.kept]
            present = ~np.isnan(values) if keep_missing else np.ones(values.shape, dtype=bool)
            check_finite(np.where(present, values, 0.0), name, "covariate", rows)
            data[name] = values
        else:
            assert covariate.categorical is not None
            data[name] = covariate.categorical[rows.kept]
    return pd.DataFrame(data, index=pd.RangeIndex(rows.kept.size))


# --------------------------------------------------------------------------------------------
# reading files


def read_table(path: Path, *, sep: str, text_columns: tuple[Hashable, ...]) -> pd.DataFrame:
    """A delimited text file as a DataFrame.

    The file is read once, as bytes, before anything looks at it: a pipe or process
    substitution (``<(cat rows.csv)``, ``/dev/stdin``) cannot be read twice. See
    :func:`read_source_text` for compression and encodings.

    Parameters
    ----------
    path : Path
        The file (``.gz``, ``.bz2``, ``.xz``, ``.zip`` and ``.tar`` are decompressed).
    sep : str
        Field delimiter.
    text_columns : tuple
        Columns read as text exactly as written, when present: trial labels such as
        ``"001"``, ``"1e3"``, ``"NA"`` or ``"None"`` are kept, not read as numbers or as
        missing (an empty cell is still missing).

    Returns
    -------
    DataFrame

    Raises
    ------
    IPDDataError
        If the file does not exist, is a directory, cannot be read or decompressed, is not
        text, is empty, cannot be parsed or its header names a column twice.
    """
    text = read_source_text(path)
    try:
        problem = duplicate_header_names(path, raw_header(io.StringIO(text), sep=sep))
        if problem:
            raise IPDDataError(problem)
        header = pd.read_csv(io.StringIO(text), sep=sep, nrows=0)
        options = text_read_options(header.columns, text_columns)
        return pd.read_csv(io.StringIO(text), sep=sep, **options)
    except IPDDataError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise IPDDataError(f"{path} is empty (no header, no rows)") from exc
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise IPDDataError(f"{path} could not be parsed as delimited text: {exc}") from exc


def read_rows(path: str | PathLike[str], study: str) -> pd.DataFrame:
    """A participant-rows CSV as read, before any check: the ``study`` column as text,
    exactly as written (as :meth:`~bayes_ipd.data.IPD.read_csv` reads it). The one reader
    the CLI, an analysis run and the ITE step share, so a run reads its file once."""
    return read_table(Path(path), sep=",", text_columns=(study,))


def raw_header(path: str | PathLike[str] | IO[str], *, sep: str) -> list[str]:
    """The names on a file's header line as written (pandas renames ``y,y`` to ``y, y.1``).

    Parameters
    ----------
    path : path-like or text stream
        The file (compression inferred from the suffix, as pandas does), or its text.
    sep : str
        Field delimiter.

    Returns
    -------
    list of str
        One name per field; an empty field is ``""``.

    Raises
    ------
    pandas.errors.EmptyDataError, pandas.errors.ParserError, UnicodeDecodeError, OSError
        As :func:`pandas.read_csv` does; the callers turn them into their own errors.
    """
    first = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False)
    return [str(name) for name in first.iloc[0].tolist()] if len(first) else []


def duplicate_header_names(path: str | PathLike[str], names: Iterable[str]) -> str | None:
    """The refusal message when a header names a column more than once, else None.

    Empty names are not compared (pandas names them ``Unnamed: i``).

    Examples
    --------
    >>> duplicate_header_names("f.csv", ["y", "x", "y"])
    "f.csv: the header names column 'y' twice; column names must be unique"
    """
    counts = Counter(name for name in names if name != "")
    repeated = [
        f"column {name!r} {'twice' if count == 2 else f'{count} times'}"
        for name, count in counts.items()
        if count > 1
    ]
    if not repeated:
        return None
    return f"{path}: the header names {', '.join(repeated)}; column names must be unique"


def text_read_options(
    columns: Iterable[Hashable], text_columns: Iterable[Hashable]
) -> dict[str, Any]:
    """:func:`pandas.read_csv` keywords reading ``text_columns`` as text with no NA parsing.

    The other columns keep pandas' default missing values (:data:`PANDAS_NA_TEXT`); a text
    column keeps every cell as written, the empty cell as ``""`` (which the data layer and
    :class:`~bayes_ipd.two_stage.AggregateData` treat as missing).

    Parameters
    ----------
    columns : iterable
        The column names pandas gives the file (``pandas.read_csv(..., nrows=0).columns``).
    text_columns : iterable
        Columns to read as text; names not in ``columns`` are ignored.

    Returns
    -------
    dict
        ``dtype``, ``keep_default_na`` and ``na_values`` keywords.
    """
    names = list(columns)
    text = [c for c in text_columns if c in names]
    if not text:
        return {}
    return {
        "dtype": dict.fromkeys(text, str),
        "keep_default_na": False,
        "na_values": {c: list(PANDAS_NA_TEXT) for c in names if c not in text},
    }
