"""Predicted individualised treatment effects with their uncertainty, for new patients."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from bayes_ipd.conventions import readonly

__all__ = ["ITEPrediction", "from_draws", "from_normal"]


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
