"""Predicted individualised treatment effects with their uncertainty, for new patients."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from bayes_ipd.conventions import readonly

__all__ = ["ITEPrediction", "extrapolation_warnings", "from_draws", "from_normal"]


@dataclass(frozen=True, eq=False)
class ITEPrediction:
    """ITE per patient: estimate, SE, confidence interval (the average trial) and
    prediction interval (a patient in a new trial, between-trial variation added).

    Attributes
    ----------
    x : numpy.ndarray
        (n, p) covariate profiles.
    ite, se, ci_low, ci_high, pi_low, pi_high : numpy.ndarray
        (n,) each.
    level : float
        Coverage of both intervals.
    """

    x: np.ndarray
    ite: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    level: float = 0.95

    def __post_init__(self) -> None:
        for name in ("x", "ite", "se", "ci_low", "ci_high", "pi_low", "pi_high"):
            object.__setattr__(self, name, readonly(getattr(self, name)))

    def to_frame(self, covariates: Sequence[str]) -> pd.DataFrame:
        """One row per patient: the covariates, then ``ite, se, ci_low, ci_high, pi_low,
        pi_high``."""
        frame = pd.DataFrame(self.x, columns=list(covariates))
        for name in ("ite", "se", "ci_low", "ci_high", "pi_low", "pi_high"):
            frame[name] = getattr(self, name)
        return frame

    def records(self, covariates: Sequence[str]) -> list[dict[str, float]]:
        """The rows of :meth:`to_frame` as dicts (the CLI's ``predictions``)."""
        return [
            {k: float(v) for k, v in row.items()}
            for row in self.to_frame(covariates).to_dict(orient="records")
        ]


def z_value(level: float) -> float:
    """Two-sided standard-normal quantile of ``level``."""
    return float(stats.norm.ppf(0.5 + level / 2.0))


def from_normal(
    x: np.ndarray, ite: np.ndarray, se: np.ndarray, pi_sd: np.ndarray, level: float
) -> ITEPrediction:
    """Normal intervals: ``ite +/- z se`` and ``ite +/- z pi_sd``."""
    z = z_value(level)
    return ITEPrediction(
        x, ite, se, ite - z * se, ite + z * se, ite - z * pi_sd, ite + z * pi_sd, level
    )


def from_draws(
    x: np.ndarray, mean_draws: np.ndarray, new_draws: np.ndarray, level: float
) -> ITEPrediction:
    """Equal-tailed intervals from (draws, patients) arrays: the average trial's effect and
    the effect in a new trial."""
    tail = (1.0 - level) / 2.0
    ci = np.quantile(mean_draws, [tail, 1.0 - tail], axis=0)
    pi = np.quantile(new_draws, [tail, 1.0 - tail], axis=0)
    return ITEPrediction(
        x,
        mean_draws.mean(axis=0),
        mean_draws.std(axis=0, ddof=1),
        ci[0],
        ci[1],
        pi[0],
        pi[1],
        level,
    )


_ROWS_NAMED = 5
"""Patient rows named per covariate in an extrapolation warning (then "and N more")."""


def extrapolation_warnings(
    x_new: np.ndarray, x_rows: np.ndarray, covariates: Sequence[str]
) -> tuple[str, ...]:
    """One message per covariate on which new patients lie outside the trials' rows.

    An ITE there rests on the model's form alone (a linear term carried to age 1e300), not on
    any participant like the patient, so it must not be given without a word.

    Parameters
    ----------
    x_new : numpy.ndarray
        (n, p) new patients' covariate profiles.
    x_rows : numpy.ndarray
        (m, p) covariates of the trials' participant rows (all trials together).
    covariates : sequence of str
        The p covariate names.

    Returns
    -------
    tuple of str
        Empty when every new patient lies within the observed range of every covariate;
        patient rows are numbered from 1, as in the new-patients file's data rows.
    """
    x_new, x_rows = np.atleast_2d(x_new), np.atleast_2d(x_rows)
    messages = []
    for j, name in enumerate(covariates):
        low, high = float(np.min(x_rows[:, j])), float(np.max(x_rows[:, j]))
        outside = np.flatnonzero((x_new[:, j] < low) | (x_new[:, j] > high))
        if outside.size == 0:
            continue
        named = ", ".join(f"{i + 1} ({x_new[i, j]:.6g})" for i in outside[:_ROWS_NAMED])
        more = f" and {outside.size - _ROWS_NAMED} more" if outside.size > _ROWS_NAMED else ""
        messages.append(
            f"new patient row{'s' if outside.size > 1 else ''} {named}{more}: covariate "
            f"{name!r} lies outside the range of the trials' rows ({low:.6g} to {high:.6g}); "
            "the ITE there is an extrapolation of the model, not supported by the data"
        )
    return tuple(messages)
