"""Stage-one results as a table with trial-level columns (ipdmetan's ``saving()``).

The saved CSV has one row per trial: ``study, estimate, se, n, events, term, scale``, the
``source`` (``IPD`` / ``AD``) when aggregate-data trials were pooled too, ``excluded`` when
asked for, then the trial-level columns. ``bayes-ipd pool FILE --estimate estimate --se se
--study study`` and ``bayes-ipd metareg FILE --estimate estimate --se se --study study
--mods ...`` read it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path

import pandas as pd

from bayes_ipd.errors import IPDDataError
from bayes_ipd.two_stage.aggregate import AggregateData

__all__ = ["SAVED_COLUMNS", "aggregate_frame", "trial_level_frame"]

SAVED_COLUMNS: tuple[str, ...] = ("study", "estimate", "se", "n", "events", "term", "scale")
"""The first columns of a saved stage-one table."""


def trial_level_frame(
    df: pd.DataFrame,
    study: str,
    columns: Sequence[str] | None = None,
    *,
    skip: Sequence[str] = (),
) -> pd.DataFrame:
    """The columns of participant rows that hold one value per trial.

    Parameters
    ----------
    df : pandas.DataFrame
        Participant rows; only read.
    study : str
        Trial column.
    columns : sequence of str, optional
        The trial-level columns wanted; each must be constant within every trial. By
        default every column constant within every trial (``study`` and ``skip`` left out).
    skip : sequence of str
        Columns never taken by default (the outcome, treatment, ...).

    Returns
    -------
    pandas.DataFrame
        One row per trial, column ``study`` (text) first.

    Raises
    ------
    IPDDataError
        A named column is missing or varies within a trial (the trial is named).
    """
    if study not in df.columns:
        raise IPDDataError(f"trial column {study!r} not found")
    groups = df.groupby(df[study].astype(str).str.strip(), sort=False)
    if columns is None:
        candidates = [c for c in df.columns if c != study and c not in set(skip)]
        chosen = [c for c in candidates if bool((groups[c].nunique(dropna=False) <= 1).all())]
    else:
        chosen = list(columns)
        missing = [c for c in chosen if c not in df.columns]
        if missing:
            raise IPDDataError(
                f"trial-level column(s) {', '.join(map(repr, missing))} not found; the file "
                f"has: {', '.join(map(str, df.columns))}"
            )
        for column in chosen:
            counts = groups[column].nunique(dropna=False)
            varying = counts[counts > 1]
            if len(varying):
                raise IPDDataError(
                    f"column {column!r} is not trial-level: it takes {int(varying.iloc[0])} "
                    f"values within trial {varying.index[0]!r}"
                )
    out = groups[chosen].first().reset_index(names="study") if chosen else None
    if out is None:
        return pd.DataFrame({"study": list(groups.groups)})
    return out


def aggregate_frame(
    per_study: AggregateData,
    *,
    sources: Mapping[str, str] | None = None,
    trial_columns: pd.DataFrame | None = None,
    include_excluded: bool = False,
) -> pd.DataFrame:
    """The table a saved stage-one CSV holds (see the module docstring).

    Parameters
    ----------
    per_study : AggregateData
        Per-trial estimates.
    sources : mapping of str to str, optional
        ``"IPD"`` / ``"AD"`` per trial; adds a ``source`` column.
    trial_columns : pandas.DataFrame, optional
        Trial-level columns with a ``study`` column (e.g. :func:`trial_level_frame`);
        trials missing from it get empty cells.
    include_excluded : bool
        Also write the trials excluded at stage one, with an ``excluded`` column holding
        the reason (empty for the others); read back with ``excluded="excluded"``.

    Raises
    ------
    IPDDataError
        ``trial_columns`` has no ``study`` column, or repeats a trial, or a trial-level
        column would overwrite one of the saved columns.
    """
    frame = per_study.to_frame()
    frame.insert(5, "term", per_study.term)
    frame.insert(6, "scale", per_study.scale)
    if sources:
        frame.insert(7, "source", [sources.get(s, "IPD") for s in frame["study"]])
    if not include_excluded:
        frame = frame[frame["excluded"].isna()].drop(columns="excluded")
    if trial_columns is not None:
        frame = _merge_trial_columns(frame, trial_columns)
    return frame.reset_index(drop=True)


def write_aggregate(frame: pd.DataFrame, path: str | PathLike[str]) -> Path:
    """Write a table of :func:`aggregate_frame` as CSV (parent folders created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    return out


def _merge_trial_columns(frame: pd.DataFrame, trial_columns: pd.DataFrame) -> pd.DataFrame:
    if "study" not in trial_columns.columns:
        raise IPDDataError("the trial-level table needs a 'study' column")
    table = trial_columns.copy()
    table["study"] = table["study"].astype(str).str.strip()
    repeated = table["study"][table["study"].duplicated()]
    if len(repeated):
        raise IPDDataError(f"the trial-level table repeats trial {repeated.iloc[0]!r}")
    clash = [c for c in table.columns if c != "study" and c in frame.columns]
    if clash:
        raise IPDDataError(
            f"trial-level column(s) {', '.join(map(repr, clash))} would overwrite saved columns"
        )
    return frame.merge(table, on="study", how="left", validate="one_to_one")
