"""One row per participant: the check of a participant-identifier column and, without one,
the warning that rows repeat participants' covariates (repeated measures are not yet
modelled; every row counts as a participant).

Rule of the warning (no participant column given): a trial *repeats profiles* when it has a
continuous covariate and every row's profile (treatment and every covariate, exactly) occurs
at least twice in the trial. A numeric covariate is continuous in a trial when it takes more
than :data:`CONTINUOUS_LEVELS` distinct values there and at least one per
:data:`ROWS_PER_VALUE` rows (so a whole-year age in a trial of 10,000 is not, and long data
of up to that many visits per participant are caught). With a continuous covariate such
exact repeats do not happen by chance between different people; they are what long data (one
row per visit) look like.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayes_ipd.data.messages import quoted
from bayes_ipd.data.parsing import missing_mask
from bayes_ipd.errors import IPDDataError

__all__ = [
    "CONTINUOUS_LEVELS",
    "REPEATED_MEASURES_NOTE",
    "ROWS_PER_VALUE",
    "check_one_row_per_participant",
    "warn_repeated_profiles",
]

CONTINUOUS_LEVELS = 10
"""A continuous covariate takes more distinct values than this within a trial."""

ROWS_PER_VALUE = 10
"""A continuous covariate takes at least one distinct value per this many rows of a trial."""

REPEATED_MEASURES_NOTE = (
    "repeated measures are not yet modelled here: for long data also name the visit "
    "column (two-stage, gaussian: --visit COL, or bi.fit_two_stage_repeated(..., visit=); "
    "see docs/longitudinal.md), or keep one row per participant (e.g. the final visit, "
    "with baseline values as covariates, or a per-participant summary)"
)
"""Where a refusal or warning about repeated participants points."""


def check_one_row_per_participant(
    ids: pd.Series, column: str, codes: np.ndarray, studies: Sequence[str], kept: np.ndarray
) -> None:
    """Refuse a participant identifier that repeats within a trial, or that is missing.

    Parameters
    ----------
    ids : Series
        The participant-identifier column, all source rows.
    column : str
        Its name, for the message.
    codes : ndarray of int64
        Trial code of each kept row.
    studies : sequence of str
        Trial labels of the codes.
    kept : ndarray of int64
        Positions of the kept rows in ``ids``.
    """
    values = ids.iloc[kept].astype(object)
    absent = missing_mask(values)
    if absent.any():
        raise IPDDataError(
            f"participant column {column!r} is missing in {int(absent.sum())} kept row(s); "
            "every row needs its participant's identifier"
        )
    labels = np.array([str(v).strip() for v in values.tolist()], dtype=object)
    frame = pd.DataFrame({"trial": codes, "id": labels})
    repeated = frame[frame.duplicated(keep=False)]
    if repeated.empty:
        return
    counts = repeated.groupby(["trial", "id"], sort=False).size()
    (trial_code, first_id), times = next(iter(counts.items()))
    trials = [studies[int(c)] for c in dict.fromkeys(counts.index.get_level_values(0))]
    raise IPDDataError(
        f"participant {first_id!r} appears in {times} rows of trial {studies[int(trial_code)]!r} "
        f"(column {column!r}); {len(counts)} participant(s) repeat in trial(s) "
        f"{quoted(trials, 5)}. Rows are counted as participants, so repeated rows would count "
        f"one person several times and make the standard errors too small; "
        f"{REPEATED_MEASURES_NOTE}"
    )


def warn_repeated_profiles(
    covariates: pd.DataFrame, treat: np.ndarray, codes: np.ndarray, studies: Sequence[str]
) -> None:
    """Warn when whole trials look like several rows per participant (rule in the module
    docstring); silent without a continuous covariate.

    Parameters
    ----------
    covariates : DataFrame
        The kept rows' covariates (float64 or categorical).
    treat : ndarray of float64
        Treatment (0/1) per kept row.
    codes : ndarray of int64
        Trial code per kept row.
    studies : sequence of str
        Trial labels.
    """
    numeric = [
        c for c in covariates.columns if not isinstance(covariates[c].dtype, pd.CategoricalDtype)
    ]
    if not numeric:
        return
    profiles = covariates.assign(_trial=codes, _treat=treat)
    repeated = profiles.duplicated(keep=False).to_numpy()  # the trial is part of a profile
    single = np.bincount(codes, weights=~repeated, minlength=len(studies))
    flagged: list[str] = []
    for code in np.flatnonzero(single == 0).tolist():  # trials with no one-off profile only
        rows = codes == code
        if any(_continuous(covariates.loc[rows, c].to_numpy()) for c in numeric):
            flagged.append(studies[code])
    if not flagged:
        return
    warnings.warn(
        f"rows repeat participants' covariate values exactly in {len(flagged)} trial(s) "
        f"({quoted(flagged, 5)}): every combination of treatment and covariates occurs at "
        "least twice, as in long data with one row per visit. Each row counts as a "
        "participant, which would count people several times and make the standard errors "
        f"too small. If these rows are repeated measures: {REPEATED_MEASURES_NOTE}. Naming "
        "a participant column (participant=, --participant) has this checked.",
        UserWarning,
        stacklevel=5,
    )


def _continuous(values: np.ndarray) -> bool:
    """Many distinct values, absolutely and per row (rule in the module docstring)."""
    distinct = np.unique(values).size
    return distinct > CONTINUOUS_LEVELS and distinct * ROWS_PER_VALUE >= values.size
