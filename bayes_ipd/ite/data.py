"""Participant rows for individualised treatment effects: one array bundle per trial.

The ITE route works on numeric covariates entered uncentred (as in Mainetti et al.), so a
prediction for a covariate profile does not depend on any common centring. Rows are
validated by :meth:`bayes_ipd.data.IPD.from_frame` (treatment coding, missing values,
non-numeric values named with their row); categorical covariates are refused here, since
a new patient's profile must be a vector of numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_ipd.conventions import readonly
from bayes_ipd.errors import IPDDataError

__all__ = ["ITEData", "TrialData", "ite_data", "ite_data_from_ipd", "patient_matrix"]


@dataclass(frozen=True, eq=False)
class TrialData:
    """One trial's rows as arrays (read-only).

    Attributes
    ----------
    study : str
        Trial label.
    x : numpy.ndarray
        (n, p) covariates, uncentred.
    treat : numpy.ndarray
        (n,) 1 = experimental, 0 = control.
    y : numpy.ndarray
        (n,) outcome.
    """

    study: str
    x: np.ndarray
    treat: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", readonly(np.atleast_2d(self.x), np.float64))
        object.__setattr__(self, "treat", readonly(self.treat, np.float64))
        object.__setattr__(self, "y", readonly(self.y, np.float64))

    @property
    def n(self) -> int:
        """Participants."""
        return int(self.y.shape[0])

    @property
    def n_arm(self) -> tuple[int, int]:
        """(control, treated) participants."""
        treated = int(self.treat.sum())
        return self.n - treated, treated

    def take(self, index: np.ndarray) -> TrialData:
        """The rows at ``index`` (a bootstrap resample, say)."""
        return TrialData(self.study, self.x[index], self.treat[index], self.y[index])


@dataclass(frozen=True, eq=False)
class ITEData:
    """Every trial's rows, with the names that label coefficients and predictions.

    Attributes
    ----------
    trials : tuple of TrialData
    covariates : tuple of str
        Covariate names (the columns of every ``TrialData.x``).
    treatment : str
        Treatment column name; the ITE terms are ``treatment`` and ``treatment:covariate``.
    binary : bool
        Whether every outcome is 0/1 (the c-for-benefit applies).
    """

    trials: tuple[TrialData, ...]
    covariates: tuple[str, ...]
    treatment: str = "treat"
    binary: bool = False

    @property
    def k(self) -> int:
        """Number of trials."""
        return len(self.trials)

    @property
    def studies(self) -> tuple[str, ...]:
        """Trial labels."""
        return tuple(t.study for t in self.trials)

    @property
    def terms(self) -> tuple[str, ...]:
        """ITE coefficient names: the main effect and one interaction per covariate."""
        return (self.treatment, *(f"{self.treatment}:{c}" for c in self.covariates))

    def select(self, studies: Iterable[str]) -> ITEData:
        """The trials named in ``studies``, in this object's order."""
        keep = set(studies)
        unknown = keep - set(self.studies)
        if unknown:
            raise IPDDataError(f"unknown trial(s) {sorted(unknown)}; trials: {list(self.studies)}")
        trials = tuple(t for t in self.trials if t.study in keep)
        return ITEData(trials, self.covariates, self.treatment, self.binary)

    def without(self, study: str) -> ITEData:
        """Every trial but ``study`` (internal-external cross-validation)."""
        return self.select(s for s in self.studies if s != study)

    def pooled_x(self) -> np.ndarray:
        """All trials' covariate rows stacked."""
        return np.vstack([t.x for t in self.trials])


def ite_data_from_ipd(ipd, treatment: str | None = None) -> ITEData:
    """:class:`ITEData` from a validated :class:`~bayes_ipd.data.IPD` with an outcome.

    Raises
    ------
    IPDDataError
        The IPD has no outcome column, or a covariate is categorical.
    """
    if ipd.outcome is None:
        raise IPDDataError("individualised effects need an outcome column (gaussian or binary)")
    categorical = list(getattr(ipd, "categorical_covariates", ()))
    if categorical:
        raise IPDDataError(
            f"covariate {categorical[0]!r} is categorical; individualised effects take numeric "
            "covariates (code it as 0/1 columns)"
        )
    names = tuple(ipd.covariate_names)
    x_all = ipd.covariates[list(names)].to_numpy(dtype=np.float64) if names else None
    trials = []
    for index, label in enumerate(ipd.studies):
        rows = np.flatnonzero(ipd.study == index)
        x = x_all[rows] if x_all is not None else np.zeros((rows.size, 0))
        trials.append(TrialData(label, x, ipd.treat[rows], ipd.outcome[rows]))
    outcome = np.asarray(ipd.outcome)
    binary = bool(np.isin(outcome, (0.0, 1.0)).all())
    name = treatment or ipd.columns.treatment
    return ITEData(tuple(trials), names, str(name), binary)


def ite_data(
    frame: pd.DataFrame,
    *,
    study: str,
    treatment: str,
    outcome: str,
    covariates: Sequence[str],
    experimental: object = None,
    missing: str = "error",
) -> ITEData:
    """Validate participant rows for the ITE route.

    Parameters
    ----------
    frame : DataFrame
        One row per participant; never modified.
    study, treatment, outcome : str
        Column names (treatment 0/1, or two levels with ``experimental`` naming one).
    covariates : sequence of str
        Numeric effect-modifier / prognostic columns (each enters as main effect and
        treatment interaction).
    experimental, missing
        As for :meth:`bayes_ipd.data.IPD.from_frame`.

    Returns
    -------
    ITEData

    Examples
    --------
    >>> from bayes_ipd.ite.simulation import Scenario, simulate_ite
    >>> frame, _ = simulate_ite(Scenario(n_trials=3, n_per_trial=60), seed=1)
    >>> ite_data(frame, study="trial", treatment="treat", outcome="y",
    ...          covariates=["x1", "x2"]).k
    3
    """
    from bayes_ipd.data import IPD

    ipd = IPD.from_frame(
        frame,
        study=study,
        treatment=treatment,
        outcome=outcome,
        covariates=list(covariates),
        family="gaussian",
        missing=missing,
        experimental=experimental,
    )
    return ite_data_from_ipd(ipd, treatment)


def patient_matrix(patients: pd.DataFrame, covariates: Sequence[str]) -> np.ndarray:
    """New patients' covariate profiles as an (n, p) matrix, in ``covariates`` order.

    Raises
    ------
    IPDDataError
        A covariate column is missing, or holds a non-numeric, missing or infinite value
        (the column and row are named).
    """
    if len(patients) == 0:
        raise IPDDataError("the new-patient table has no rows")
    blocks = []
    for name in covariates:
        if name not in patients.columns:
            raise IPDDataError(
                f"new patients lack covariate column {name!r}; columns: {list(patients.columns)}"
            )
        values = pd.to_numeric(patients[name], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            row = int(bad[0])
            raise IPDDataError(
                f"new patients: covariate {name!r} has a non-numeric or missing value "
                f"{patients[name].iloc[row]!r} in row {row + 1}"
            )
        blocks.append(values)
    if not blocks:
        return np.zeros((len(patients), 0))
    return np.column_stack(blocks)
