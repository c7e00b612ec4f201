"""The missing-data policy: count missing values per column and trial, then refuse or drop.

Rows are never dropped silently: under ``missing="drop"`` a warning counts them by column and
by trial, and :attr:`bayes_ipd.data.IPD.dropped` keeps the count per trial.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_ipd.data.messages import counts_text
from bayes_ipd.errors import AnalysisNote, IPDDataError

__all__ = [
    "DROP_HINT",
    "IMPUTE",
    "MISSING_POLICIES",
    "MISSING_STUDY",
    "MissingReport",
    "apply_missing_policy",
    "covariate_missing",
    "missing_report",
    "note_nothing_to_impute",
    "refuse_missing_covariates",
    "systematically_missing",
]

MISSING_POLICIES = ("error", "drop", "impute")
"""What :meth:`~bayes_ipd.data.IPD.from_frame` may do with rows holding a missing value:
refuse them, drop them (counted per trial), or keep a missing covariate value as missing
(``NaN``) for a route that imputes it; under ``"impute"`` a missing trial label, treatment or
response is still refused (an outcome is never imputed)."""

IMPUTE = "impute"
"""The policy that keeps missing covariate values for imputation."""

DROP_HINT = "pass missing='drop'"
"""How the refusal of missing values names the drop policy (the CLI says ``--missing drop``)."""

MISSING_STUDY = "<missing trial label>"
"""The trial label under which rows without a trial label are counted."""


@dataclass(frozen=True)
class MissingReport:
    """Rows with a missing value in a used column.

    Attributes
    ----------
    keep : ndarray of bool
        Rows without any missing value.
    by_column : dict of str to int
        Missing values per column (columns without any are left out).
    by_trial : dict of str to int
        Rows with a missing value per trial label.
    """

    keep: np.ndarray
    by_column: dict[str, int]
    by_trial: dict[str, int]


def missing_report(
    masks: Mapping[str, np.ndarray], row_codes: np.ndarray, labels: list[str]
) -> MissingReport:
    """Count the missing values per column and the rows holding them per trial.

    Parameters
    ----------
    masks : Mapping[str, ndarray of bool]
        :func:`missing_mask` per used column.
    row_codes : ndarray of int64
        Trial code per row, -1 where the trial label is missing.
    labels : list of str
        Trial labels of the codes.

    Returns
    -------
    MissingReport
    """
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
            by_trial[MISSING_STUDY] = unlabelled
    return MissingReport(~any_missing, by_column, by_trial)


def apply_missing_policy(report: MissingReport, missing: str, n_rows: int) -> None:
    """Refuse missing values (``"error"``) or warn that their rows are dropped (``"drop"``).

    Parameters
    ----------
    report : MissingReport
    missing : {"error", "drop", "impute"}
        Under ``"impute"`` the report holds only the columns never imputed (trial label,
        treatment, responses): any missing value there is refused.
    n_rows : int
        Rows in the input.
    """
    if not report.by_column:
        return
    n_missing = n_rows - int(report.keep.sum())
    detail = (
        f"by column: {counts_text(report.by_column)}; rows by trial: {counts_text(report.by_trial)}"
    )
    if missing == IMPUTE:
        raise IPDDataError(
            f"{n_missing} of {n_rows} rows have a missing trial label, treatment or outcome "
            f"({detail}); missing='impute' imputes covariates only, an outcome is never "
            f"imputed: remove those rows, or {DROP_HINT} to drop them (counted per trial)"
        )
    if missing == "error":
        raise IPDDataError(
            f"{n_missing} of {n_rows} rows have missing values in the columns used ({detail}); "
            f"fill them in, or {DROP_HINT} to drop those rows (counted per trial)"
        )
    # stacklevel 5: here, the builder's validation, the builder, IPD.from_frame, its caller
    warnings.warn(
        f"dropped {n_missing} of {n_rows} rows with missing values ({detail})",
        UserWarning,
        stacklevel=5,
    )


def covariate_missing(
    covariates: pd.DataFrame, study: np.ndarray, studies: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Missing covariate values per column and trial (kept under ``missing="impute"``).

    Parameters
    ----------
    covariates : DataFrame
        An IPD's covariate frame (``NaN`` / missing category where a value is missing).
    study : ndarray of int64
        Trial code per row.
    studies : sequence of str
        Trial labels of the codes.

    Returns
    -------
    dict of str to dict of str to int
        ``{column: {trial: missing values}}``; columns and trials without any are left out.
    """
    out: dict[str, dict[str, int]] = {}
    for column in covariates.columns:
        mask = covariates[column].isna().to_numpy()
        if mask.any():
            counts = np.bincount(study[mask], minlength=len(studies))
            out[str(column)] = {studies[i]: int(c) for i, c in enumerate(counts) if c}
    return out


def systematically_missing(
    covariates: pd.DataFrame, study: np.ndarray, studies: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """The trials that never recorded a covariate (every value missing), per column.

    Parameters are those of :func:`covariate_missing`.

    Returns
    -------
    dict of str to tuple of str
        ``{column: trials}``; columns recorded (at least once) in every trial are left out.
    """
    sizes = np.bincount(study, minlength=len(studies))
    out: dict[str, tuple[str, ...]] = {}
    for column, by_trial in covariate_missing(covariates, study, studies).items():
        trials = tuple(s for s in studies if by_trial.get(s, 0) == sizes[studies.index(s)])
        if trials:
            out[column] = trials
    return out


def refuse_missing_covariates(covariates: pd.DataFrame, names: Sequence[str], what: str) -> None:
    """Refuse missing values in the covariates a route uses without imputing them.

    Parameters
    ----------
    covariates : DataFrame
        An IPD's covariate frame.
    names : sequence of str
        The covariates used.
    what : str
        The route, named in the message (``"two-stage stage one"``).

    Raises
    ------
    IPDDataError
        A used covariate holds a missing value (kept by ``missing="impute"``).
    """
    counts = {n: int(covariates[n].isna().sum()) for n in names if n in covariates.columns}
    counts = {n: c for n, c in counts.items() if c}
    if counts:
        raise IPDDataError(
            f"{what}: covariates hold missing values ({counts_text(counts)}) kept by "
            "missing='impute'; impute them first (two-stage: imputations=M)"
        )


NOTHING_TO_IMPUTE = (
    "missing='impute': no covariate has a missing value, so nothing is imputed "
    "(the analysis is the complete-data one)"
)
"""The note of :func:`note_nothing_to_impute`."""


def note_nothing_to_impute(covariates: pd.DataFrame, missing: str) -> None:
    """Under ``missing="impute"``, a note (:class:`~bayes_ipd.errors.AnalysisNote`, never an
    error) when no covariate column holds a missing value."""
    if missing == IMPUTE and not bool(covariates.isna().to_numpy().any()):
        warnings.warn(NOTHING_TO_IMPUTE, AnalysisNote, stacklevel=5)
