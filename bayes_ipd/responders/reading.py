"""Trial characteristics read (a CSV, or the ``[[trial]]`` tables of a flow TOML) and
checked: one row per trial, the ``ipd`` flag as yes/no, published effects with their SEs,
agreement with the participant data and the PRISMA-IPD flow counts."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.errors import SpecError

__all__ = ["check_flow", "checked_characteristics", "flow_has_trials", "read_trial_characteristics"]

_RESERVED = ("study", "ipd", "estimate", "se")
_YES = {"yes", "true", "1", "y", "ipd"}
_NO = {"no", "false", "0", "n"}


def read_trial_characteristics(path: str | PathLike[str]) -> pd.DataFrame:
    """The trial characteristics of a CSV file, or of the ``[[trial]]`` tables of a
    PRISMA-IPD flow TOML (:mod:`bayes_ipd.prisma`), as a frame (not yet checked: that is
    :func:`compare_responders`).

    Raises
    ------
    SpecError
        The file is missing, unreadable, or a TOML without ``[[trial]]`` tables.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: trial-characteristics file not found")
    if path.suffix.lower() == ".toml":
        try:
            with path.open("rb") as handle:
                document = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"{path}: not valid TOML ({exc})") from exc
        tables = document.get("trial")
        if not isinstance(tables, list) or not tables:
            raise SpecError(f"{path}: no [[trial]] tables of trial characteristics")
        return pd.DataFrame.from_records(tables)
    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot be read as CSV ({exc})") from exc


def flow_has_trials(path: str | PathLike[str]) -> bool:
    """True when a flow TOML file holds ``[[trial]]`` tables."""
    path = Path(path)
    if path.suffix.lower() != ".toml" or not path.is_file():
        return False
    with path.open("rb") as handle:
        return bool(tomllib.load(handle).get("trial"))


def checked_characteristics(trials: pd.DataFrame, source: str, ipd: Any) -> pd.DataFrame:
    frame = trials.copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    if "study" not in frame.columns:
        raise SpecError(f"{source}: needs a 'study' column (one row per eligible trial)")
    if frame["study"].isna().any():
        raise SpecError(f"{source}: a row has no study label")
    frame["study"] = frame["study"].astype(str).str.strip()
    repeated = sorted(set(frame["study"][frame["study"].duplicated()]))
    if repeated:
        raise SpecError(f"{source}: trial(s) listed twice: {', '.join(map(repr, repeated))}")
    labels = None if ipd is None else _ipd_labels(ipd)
    if "ipd" in frame.columns:
        frame["ipd"] = [
            _yes_no(v, s, source) for v, s in zip(frame["ipd"], frame["study"], strict=True)
        ]
        if labels is not None:
            _check_against_data(frame, labels, source)
    elif labels is not None:
        _check_against_data(frame.assign(ipd=frame["study"].isin(labels)), labels, source)
        frame["ipd"] = frame["study"].isin(labels)
    else:
        raise SpecError(
            f"{source}: needs an 'ipd' column (yes/no) saying which trials supplied IPD, "
            "or the participant data to tell"
        )
    frame["ipd"] = frame["ipd"].astype(bool)
    _check_effects(frame, source)
    if frame["ipd"].all() or not frame["ipd"].any():
        group = "every" if frame["ipd"].all() else "no"
        raise SpecError(f"{source}: {group} trial supplied IPD: there are no two groups to compare")
    ordered = ["study", "ipd"] + [c for c in frame.columns if c not in _RESERVED]
    return frame[ordered + [c for c in ("estimate", "se") if c in frame.columns]]


def _ipd_labels(ipd: Any) -> set[str]:
    studies = getattr(ipd, "studies", ipd)
    if isinstance(studies, str) or not isinstance(studies, Iterable):
        raise SpecError("ipd must be participant data (IPD) or a sequence of trial labels")
    return {str(s) for s in studies}


def _yes_no(value: Any, study: str, source: str) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    text = str(value).strip().lower()
    if isinstance(value, int | float | np.integer | np.floating) and not pd.isna(value):
        text = {1.0: "1", 0.0: "0"}.get(float(value), text)
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise SpecError(f"{source}: trial {study!r}: ipd = {value!r} is not yes/no (true/false, 1/0)")


def _check_against_data(frame: pd.DataFrame, labels: set[str], source: str) -> None:
    listed = set(frame["study"])
    absent = sorted(labels - listed)
    if absent:
        raise SpecError(
            f"{source}: trial(s) in the participant data but not listed: "
            f"{', '.join(map(repr, absent))}"
        )
    said_yes = set(frame["study"][frame["ipd"]])
    no_rows = sorted(said_yes - labels)
    if no_rows:
        raise SpecError(
            f"{source}: trial(s) marked ipd = yes without participant rows: "
            f"{', '.join(map(repr, no_rows))}"
        )
    said_no = sorted(labels - said_yes)
    if said_no:
        raise SpecError(
            f"{source}: trial(s) marked ipd = no but present in the participant data: "
            f"{', '.join(map(repr, said_no))}"
        )


def _check_effects(frame: pd.DataFrame, source: str) -> None:
    present = [c for c in ("estimate", "se") if c in frame.columns]
    if len(present) == 1:
        raise SpecError(f"{source}: published effects need both 'estimate' and 'se' columns")
    if not present:
        return
    for column in present:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = frame["study"][values.isna() & frame[column].notna()]
        if len(bad):
            raise SpecError(f"{source}: trial {bad.iloc[0]!r}: {column} is not a number")
        frame[column] = values
    lone = frame["study"][frame["estimate"].isna() != frame["se"].isna()]
    if len(lone):
        raise SpecError(
            f"{source}: trial {lone.iloc[0]!r}: a published estimate needs its se and vice versa"
        )
    bad_se = frame["study"][~(frame["se"] > 0) & frame["se"].notna()]
    if len(bad_se) or not np.isfinite(frame["estimate"].dropna()).all():
        trial = bad_se.iloc[0] if len(bad_se) else "?"
        raise SpecError(f"{source}: trial {trial!r}: se must be a finite number > 0")


def check_flow(frame: pd.DataFrame, flow: Any, source: str) -> None:
    if len(frame) != flow.identified:
        raise SpecError(
            f"{source}: lists {len(frame)} trial(s), but the flow counts {flow.identified} "
            "eligible trials identified; list every eligible trial, with IPD or not"
        )
    if int(frame["ipd"].sum()) != flow.ipd_obtained:
        raise SpecError(
            f"{source}: {int(frame['ipd'].sum())} trial(s) supplied IPD, but the flow counts "
            f"ipd_obtained = {flow.ipd_obtained}"
        )
    said_yes = set(frame["study"][frame["ipd"]])
    wrong = [
        s
        for s in getattr(flow, "aggregate_trials", ())
        if s in said_yes or s not in set(frame["study"])
    ]
    if wrong:
        raise SpecError(
            f"{source}: aggregate-data trial(s) {', '.join(map(repr, wrong))} must be listed "
            "with ipd = no"
        )
