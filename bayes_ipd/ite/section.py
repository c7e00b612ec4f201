"""Individualised effects of new patients from participant rows, as one report: what
``bayes-ipd ite`` prints and what ``bayes-ipd run`` adds for a spec's ``[ite]`` section.

:func:`ite_report` reads nothing: it takes the participant rows and the new patients'
covariate profiles as frames, checks the profiles before any fitting, fits the stage-1
learner in every trial, pools by the stage-2 method (:func:`~bayes_ipd.ite.fit.fit_ite`)
and predicts. :func:`run_ite_section` does the same for an
:class:`~bayes_ipd.spec.AnalysisSpec` whose ``ite`` is set, on the spec's data file (its
rows as the analysis read them, when given, so the file is read once per run).

This module sits below :mod:`bayes_ipd.spec`: it reads a spec's ``ite`` and ``data``
sections by their attributes (:class:`ITESpec`) and never imports the spec modules.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from bayes_ipd.data.reading import read_rows
from bayes_ipd.ite.data import ite_data, patient_matrix
from bayes_ipd.ite.fit import ITEResult, fit_ite
from bayes_ipd.ite.learners import get_learner
from bayes_ipd.ite.prediction import extrapolation_warnings
from bayes_ipd.ite.stage2 import default_ite_stage2

__all__ = [
    "ITEReport",
    "ITESpec",
    "check_ite_section",
    "ite_patients",
    "ite_report",
    "read_patients",
    "read_rows",
    "run_ite_section",
]


class ITESpec(Protocol):
    """What the ``[ite]`` functions read of an analysis spec
    (:class:`~bayes_ipd.spec.AnalysisSpec` is one): ``ite``, the section
    (:class:`~bayes_ipd.spec.ITESettings` or None), and ``data``, the ``[data]`` section
    (:class:`~bayes_ipd.spec.DataSection`: ``path``, the column names, ``experimental``,
    ``missing``)."""

    @property
    def ite(self) -> Any: ...

    @property
    def data(self) -> Any: ...


@dataclass(frozen=True, eq=False)
class ITEReport:
    """A fitted two-stage ITE model and its predictions for the new patients.

    Attributes
    ----------
    result : ITEResult
    patients : pandas.DataFrame
        The new patients' covariate profiles (one prediction per row, in its order).
    level : float
        Interval level of the CIs and PIs.
    warnings : tuple of str
        New patients whose covariates lie outside the trials' rows (extrapolated ITEs).
    """

    result: ITEResult
    patients: pd.DataFrame
    level: float = 0.95
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The ``bayes-ipd ite --json`` object (:meth:`ITEResult.to_dict`), with a member
        ``warnings`` (list of str) only when there is one."""
        d = self.result.to_dict(self.patients, level=self.level)
        if self.warnings:
            d["warnings"] = list(self.warnings)
        return d

    def table(self) -> pd.DataFrame:
        """One row per new patient: covariates, ``ite, se, ci_low, ci_high, pi_low,
        pi_high``."""
        prediction = self.result.predict(self.patients, level=self.level)
        return prediction.to_frame(self.result.data.covariates)

    def __str__(self) -> str:
        table = self.table().to_string(index=False, float_format=lambda v: f"{v:.4g}")
        heading = f"Predicted individualised effects ({self.level:.0%} CI and PI):"
        return f"{self.result}\n\n{heading}\n{table}"


def read_patients(path: str | Path) -> pd.DataFrame:
    """The new patients' CSV (``--new PATIENTS.csv`` / ``ite.new``)."""
    from bayes_ipd.data.reading import read_table

    return read_table(Path(path), sep=",", text_columns=())


def ite_report(
    frame: pd.DataFrame,
    patients: pd.DataFrame,
    *,
    study: str,
    treatment: str,
    outcome: str,
    covariates: Sequence[str],
    stage1: str = "ols",
    stage2: str | None = None,
    random: str = "all",
    weights: str = "auxiliary",
    meta: str = "T",
    seed: int = 0,
    level: float = 0.95,
    experimental: object = None,
    missing: str = "error",
    progress: Callable[[str], None] | None = None,
) -> ITEReport:
    """Fit the two-stage ITE model on ``frame`` and predict for ``patients``.

    Parameters
    ----------
    frame : DataFrame
        One row per participant (never modified).
    patients : DataFrame
        The new patients: a column per covariate (checked before any fitting).
    study, treatment, outcome, covariates, experimental, missing
        As for :func:`~bayes_ipd.ite.data.ite_data`.
    stage1, stage2, random, weights, meta, seed
        As for :func:`~bayes_ipd.ite.fit.fit_ite`; ``stage2=None`` is ``mvma`` for a
        learner with coefficients (ols, bayes), else ``weighted``.
    level : float
        Interval level.
    progress : callable, optional
        Told what is being fitted.

    Returns
    -------
    ITEReport

    Warns
    -----
    UserWarning
        A new patient's covariate lies outside the range of the trials' rows (the patient
        row and covariate named; also in :attr:`ITEReport.warnings`).

    Raises
    ------
    IPDDataError
        A covariate missing or non-numeric in ``patients`` or ``frame`` (named), or a
        trial a learner cannot fit.
    SpecError
        A stage-1 x stage-2 combination the method cannot do.
    """
    stage2 = stage2 or default_ite_stage2(get_learner(stage1, meta))
    patient_matrix(patients, covariates)  # refuse bad profiles before any fitting
    data = ite_data(
        frame,
        study=study,
        treatment=treatment,
        outcome=outcome,
        covariates=covariates,
        experimental=experimental,
        missing=missing,
    )
    if progress is not None:
        progress(f"fitting {stage1} in {data.k} trials, pooling by {stage2} ...")
    result = fit_ite(data, stage1, stage2, random=random, weights=weights, meta=meta, seed=seed)
    x_rows = np.vstack([trial.x for trial in data.trials])
    names = data.covariates
    notes = extrapolation_warnings(patient_matrix(patients, names), x_rows, names)
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return ITEReport(result, patients, level, notes)


def ite_patients(spec: ITESpec) -> pd.DataFrame | None:
    """The ``[ite]`` section's new patients, read and checked before any fitting: the file is
    readable and holds every covariate, numeric and complete (errors name the column and
    row). None without an ``[ite]`` section. A run passes them on to
    :func:`run_ite_section`, which then does not read the file again."""
    if spec.ite is None:
        return None
    patients = read_patients(spec.ite.new)
    patient_matrix(patients, spec.ite.covariates)
    return patients


def check_ite_section(spec: ITESpec) -> None:
    """Before any fitting: the ``[ite]`` section's new-patients file is readable and holds
    every covariate, numeric and complete (:func:`ite_patients`, the table dropped)."""
    ite_patients(spec)


def run_ite_section(
    spec: ITESpec,
    progress: Callable[[str], None] | None = None,
    *,
    rows: pd.DataFrame | None = None,
    patients: pd.DataFrame | None = None,
) -> ITEReport:
    """The ITE analysis of a spec's ``[ite]`` section on its participant rows
    (``data.path``, with the ``[data]`` columns, experimental arm and missing-data policy).

    Parameters
    ----------
    spec : ITESpec
        An :class:`~bayes_ipd.spec.AnalysisSpec` with an ``[ite]`` section.
    progress : callable, optional
        Told what is being fitted.
    rows : DataFrame, optional
        ``data.path`` already read (:func:`~bayes_ipd.data.reading.read_rows`); read here
        when not given.
    patients : DataFrame, optional
        The new patients already read (:func:`ite_patients`); read here when not given.

    Raises
    ------
    ValueError
        ``spec.ite`` is None.
    """
    ite, data = spec.ite, spec.data
    if ite is None:
        raise ValueError("the spec has no [ite] section")
    frame = read_rows(data.path, data.study) if rows is None else rows
    return ite_report(
        frame,
        read_patients(ite.new) if patients is None else patients,
        study=data.study,
        treatment=data.treatment,
        outcome=data.outcome,
        covariates=ite.covariates,
        stage1=ite.stage1,
        stage2=ite.stage2,
        random=ite.random,
        weights=ite.weights,
        meta=ite.meta,
        seed=ite.seed,
        level=ite.level,
        experimental=data.experimental,
        missing=data.missing,
        progress=progress,
    )
