"""The recipes of the two simulated data sets shipped in this folder.

``bp_trials.csv`` and ``survival_trials.csv`` were written once by running::

    python -m bayes_ipd.datasets._generate

The recipes (generator, arguments, seed, rounding) live here so the files can be rebuilt and
checked: the package tests regenerate both frames and compare them with the shipped files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bayes_ipd.simulate import (
    ContinuousTruth,
    SurvivalTruth,
    simulate_continuous,
    simulate_survival,
)

DECIMALS = 4
MIN_TIME = 10.0**-DECIMALS  # so a rounded follow-up time stays > 0

BP_SEED = 20240611
BP_SIZES = (150, 220, 180, 300, 120, 260, 200, 240, 160, 170)
BP_SETTINGS = {
    "n_studies": len(BP_SIZES),
    "n_per_study": BP_SIZES,
    "mu": -5.0,
    "tau": 2.0,
    "sigma": 10.0,
    "beta_baseline": 0.5,
    "beta_age": 0.3,
    "interaction_within": 0.0,
    "interaction_across": -0.3,
}

SURVIVAL_SEED = 19940302
SURVIVAL_SIZES = (320, 450, 780, 510, 300, 640, 400, 560, 720, 350)
SURVIVAL_SETTINGS = {
    "n_studies": len(SURVIVAL_SIZES),
    "n_per_study": SURVIVAL_SIZES,
    "mu": -0.29,
    "tau": 0.15,
    "shape": 1.5,
    "log_scale_mean": -3.2,
    "log_scale_sd": 0.3,
    "beta_smoking": 0.4,
    "beta_sbp": 0.01,
    "beta_age": 0.03,
    "beta_bmi": 0.02,
    "follow_up": 5.0,
    "dropout": 0.1,
}


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for name in out.columns:
        if out[name].dtype == np.float64:
            out[name] = out[name].round(DECIMALS)
    return out


def bp_trials() -> tuple[pd.DataFrame, ContinuousTruth]:
    """The shipped blood-pressure set (rounded to 4 decimals) and its truth."""
    frame, truth = simulate_continuous(**BP_SETTINGS, seed=BP_SEED)  # type: ignore[arg-type]
    return _rounded(frame), truth


def survival_trials() -> tuple[pd.DataFrame, SurvivalTruth]:
    """The shipped survival set (rounded to 4 decimals, times >= 1e-4) and its truth."""
    frame, truth = simulate_survival(**SURVIVAL_SETTINGS, seed=SURVIVAL_SEED)  # type: ignore[arg-type]
    frame = _rounded(frame)
    frame["time"] = frame["time"].clip(lower=MIN_TIME)
    return frame, truth


def write_bcg_rows(folder: Path) -> None:
    """Write the BCG participant rows as ``bcg_ipd.csv.gz`` (gzip without a timestamp)."""
    from bayes_ipd.datasets import bcg_participant_rows

    bcg_participant_rows().to_csv(
        folder / "bcg_ipd.csv.gz", index=False, compression={"method": "gzip", "mtime": 0}
    )


def write_all(folder: Path) -> None:
    """Write ``bp_trials.csv``, ``survival_trials.csv`` and ``bcg_ipd.csv.gz`` into ``folder``."""
    bp_trials()[0].to_csv(folder / "bp_trials.csv", index=False)
    survival_trials()[0].to_csv(folder / "survival_trials.csv", index=False)
    write_bcg_rows(folder)


if __name__ == "__main__":
    write_all(Path(__file__).resolve().parent)
