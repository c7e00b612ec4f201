"""The recipes of the two simulated data sets shipped in this folder.

``bp_trials.csv`` and ``survival_trials.csv`` were written once by running::

    python -m bayes_ipd.datasets._generate

The recipes (generator, arguments, seed, rounding) live here so the files can be rebuilt and
checked: the package tests regenerate both frames and compare them with the shipped files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


CROSSING_SEED = 20261207
CROSSING_SIZES = (240, 320, 280, 400, 260, 300)
CROSSING_SETTINGS = {
    "n_studies": len(CROSSING_SIZES),
    "n_per_study": CROSSING_SIZES,
    "period_cuts": (12.0, 36.0),
    "mu": (-0.5, 0.0, 0.5),
    "tau": 0.1,
    "shape": 1.2,
    "log_scale_mean": -4.7,
    "log_scale_sd": 0.2,
    "follow_up": 60.0,
    "dropout": 0.1,
}
"""``survival_crossing.csv``: early benefit, late harm (months; crossing hazards)."""


def survival_crossing() -> tuple[pd.DataFrame, Any]:
    """The shipped crossing-hazards set (rounded to 4 decimals, times >= 1e-4) and its
    truth (:func:`bayes_ipd.simulate.simulate_survival_periods`)."""
    from bayes_ipd.simulate import simulate_survival_periods

    frame, truth = simulate_survival_periods(**CROSSING_SETTINGS, seed=CROSSING_SEED)  # type: ignore[arg-type]
    frame = _rounded(frame)
    frame["time"] = frame["time"].clip(lower=MIN_TIME)
    return frame, truth


def write_bcg_rows(folder: Path) -> None:
    """Write the BCG participant rows as ``bcg_ipd.csv.gz`` (gzip without a timestamp)."""
    from bayes_ipd.datasets import bcg_participant_rows

    bcg_participant_rows().to_csv(
        folder / "bcg_ipd.csv.gz", index=False, compression={"method": "gzip", "mtime": 0}
    )


BCG_HYBRID_UNAVAILABLE = ("Unavailable trial A", "Unavailable trial B")
"""The two eligible trials of ``bcg_hybrid_flow.toml`` with neither IPD nor aggregate data
(invented for illustration, like the flow counts; every characteristic unknown)."""


def bcg_hybrid_trials() -> pd.DataFrame:
    """``bcg_hybrid_trials.csv``: one row per eligible trial of the hybrid BCG review (the
    15 of ``bcg_hybrid_flow.toml``): ``study, ipd`` (yes when the trial's rows are in
    ``bcg_hybrid_ipd.csv.gz``), ``year, participants, alloc, latitude`` from ``bcg.csv``
    and the published log odds ratio ``estimate, se`` from ``bcg_published.csv``."""
    from bayes_ipd.datasets import load_bcg_aggregate, load_bcg_published

    table = load_bcg_aggregate()
    published = load_bcg_published().set_index("study")
    study = table["author"].astype(str) + " " + table["year"].astype(str)
    frame = pd.DataFrame(
        {
            "study": study,
            "ipd": np.where(table["alloc"] == "systematic", "no", "yes"),
            "year": table["year"],
            "participants": table[["tpos", "tneg", "cpos", "cneg"]].sum(axis=1),
            "alloc": table["alloc"],
            "latitude": table["ablat"],
            "estimate": published.loc[study, "estimate"].to_numpy(),
            "se": published.loc[study, "se"].to_numpy(),
        }
    )
    unknown = pd.DataFrame({"study": BCG_HYBRID_UNAVAILABLE, "ipd": "no"})
    return pd.concat([frame, unknown], ignore_index=True).astype(
        {"year": "Int64", "participants": "Int64", "latitude": "Int64"}
    )


DEPRESSION_SEED = 20261211


def depression_trials() -> pd.DataFrame:
    """``depression_trials.csv``: the data-preparation example as the trials deliver it
    (:func:`bayes_ipd.simulate.preparation.simulate_depression_trials`, seed
    :data:`DEPRESSION_SEED`)."""
    from bayes_ipd.simulate.preparation import simulate_depression_trials

    return simulate_depression_trials(seed=DEPRESSION_SEED).raw


DEPRESSION_FLOW_HEADER = """\
# PRISMA-IPD flow of the simulated depression review (the data-preparation example).
#
# SIMULATED: nine eligible trials; D1-D6 supplied IPD (depression_trials.csv), D7 and D8
# only their published mean difference, D9 neither. The [[trial]] tables give every
# eligible trial's characteristics for the comparison of trials that supplied IPD with
# those that did not (bayes_ipd.responders); `estimate, se`: the published mean difference
# of the week-8 HAM-D-17 (treated minus control). Written by
# `python -m bayes_ipd.datasets._generate` (bayes_ipd.simulate.preparation, seed 20261211).

[records]
identified = 240
screened = 61
excluded = 52

[trials]
identified = 9
ipd_sought = 9
ipd_obtained = 6
aggregate_only = 2
neither = 1

[not_obtained]
"industry sponsor declined to share" = 2
"data no longer available" = 1

"""


def depression_flow() -> str:
    """``depression_flow.toml``: the example review's flow counts and its ``[[trial]]``
    tables (missing values left out; ``ipd`` as a boolean)."""
    import tomli_w

    from bayes_ipd.simulate.preparation import simulate_depression_trials

    trials = simulate_depression_trials(seed=DEPRESSION_SEED).trials
    tables = []
    for record in trials.to_dict("records"):
        table = {k: v for k, v in record.items() if not (isinstance(v, float) and np.isnan(v))}
        table["ipd"] = table["ipd"] == "yes"
        tables.append({k: v.item() if hasattr(v, "item") else v for k, v in table.items()})
    return DEPRESSION_FLOW_HEADER + tomli_w.dumps({"trial": tables})


HAMD_SEED = 20261227
HAMD_SIZES = (180, 240, 150, 300, 210, 160, 260, 200)
HAMD_SETTINGS: dict[str, Any] = {
    "n_studies": len(HAMD_SIZES),
    "n_per_study": HAMD_SIZES,
    "visits": (2, 4, 8, 12),
    "effects": (-0.8, -1.5, -2.2, -2.8),
    "tau": (0.4, 0.5, 0.6, 0.7),
    "tau_correlation": 0.7,
    "visit_means": (-4.0, -6.5, -9.0, -10.5),
    "trial_sd": 1.5,
    "covariate_effects": (-1.0, -1.2, -1.4, -1.5),
    "sd": (4.0, 4.5, 5.0, 5.5),
    "residual_correlation": 0.6,
    "dropout": 0.08,
    "dropout_slope": 0.6,
    "intermittent": 0.05,
}
HAMD_COLUMNS = {"visit": "week", "y": "hamd_change"}


def hamd_visits() -> tuple[pd.DataFrame, Any]:
    """``hamd_visits.csv``: change from baseline in HAM-D-17 at weeks 2, 4, 8, 12 of eight
    simulated trials, MAR dropout (:func:`bayes_ipd.simulate.repeated.simulate_repeated`
    with :data:`HAMD_SETTINGS`, seed :data:`HAMD_SEED`, rounded to 4 decimals, weeks as
    integers, columns renamed by :data:`HAMD_COLUMNS`) and its ``RepeatedTruth``."""
    from bayes_ipd.simulate.repeated import simulate_repeated

    frame, truth = simulate_repeated(**HAMD_SETTINGS, seed=HAMD_SEED)
    frame = _rounded(frame)
    frame["visit"] = frame["visit"].astype(np.int64)
    return frame.rename(columns=HAMD_COLUMNS), truth


def write_all(folder: Path) -> None:
    """Write ``bp_trials.csv``, ``survival_trials.csv`` and ``bcg_ipd.csv.gz`` into ``folder``."""
    bp_trials()[0].to_csv(folder / "bp_trials.csv", index=False)
    survival_trials()[0].to_csv(folder / "survival_trials.csv", index=False)
    survival_crossing()[0].to_csv(folder / "survival_crossing.csv", index=False)
    write_bcg_rows(folder)
    bcg_hybrid_trials().to_csv(folder / "bcg_hybrid_trials.csv", index=False)
    depression_trials().to_csv(folder / "depression_trials.csv", index=False)
    (folder / "depression_flow.toml").write_text(depression_flow(), encoding="utf-8")
    hamd_visits()[0].to_csv(folder / "hamd_visits.csv", index=False)


if __name__ == "__main__":
    write_all(Path(__file__).resolve().parent)
