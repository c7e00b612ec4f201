"""The unit and coding check (bayes_ipd.data.unit_check) and `bayes-ipd check-data`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_ipd as bi
from bayes_ipd.cli import main
from bayes_ipd.data.reading import read_rows
from bayes_ipd.data.unit_check import check_units
from bayes_ipd.datasets.catalogue import CATALOGUE, get_dataset
from bayes_ipd.errors import IPDDataError

PLANTED = {"depression_trials"}
"""Shipped on purpose with a trial in pounds and one in days (the issue-28 example)."""

STUDY_COLUMNS = ("trial", "study", "Center")
"""The trial column of a shipped participant-rows file: the first of these it has."""

CLEAN = sorted(e.name for e in CATALOGUE if e.rows == "participant" and e.name not in PLANTED)
"""Every other shipped participant-rows data set (bcg_ipd, bcg_hybrid_ipd, bp_trials,
survival_trials, huber2000, lanza, ovarian, ...)."""


def shipped_rows(name: str) -> tuple[pd.DataFrame, str]:
    path = get_dataset(name).path
    header = pd.read_csv(path, nrows=0).columns
    study = next(c for c in STUDY_COLUMNS if c in header)
    return read_rows(path, study), study


def planted(seed: int = 3, n: int = 150) -> pd.DataFrame:
    """Six trials of one population with some heterogeneity (trial mean weights 75 +- 4 kg,
    SDs 12 +- 10 %, follow-up to 24-36 months); trial T3 recorded its weights in pounds and
    trial T5 its follow-up in days; T4 codes sex M/F where the others code 1/0."""
    rng = np.random.default_rng(seed)
    parts = []
    for j in range(6):
        weight = rng.normal(rng.normal(75, 4), 12 * rng.uniform(0.9, 1.1), n)
        time = np.minimum(rng.exponential(30, n), rng.uniform(0, rng.uniform(24, 36), n))
        sex = rng.integers(0, 2, n)
        if j == 3:
            weight = weight / 0.45359237  # pounds
        if j == 5:
            time = time * 30.4375  # days
        frame = pd.DataFrame({"trial": f"T{j}", "weight": weight, "time": time, "sex": sex})
        if j == 4:
            frame["sex"] = np.where(sex == 1, "M", "F")
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def test_planted_pounds_and_days_are_flagged_naming_the_factor():
    result = check_units(planted(), "trial")
    unit = [f for f in result.flags if f.kind == "unit"]
    assert [(f.study, f.column) for f in unit] == [("T3", "weight"), ("T5", "time")]
    pounds, days = unit
    # factor: the flagged trial's IQR over the others' (truth 2.2046 and 30.4375; the IQR
    # of 150 values has a relative SE of about 1.17 / sqrt(150) = 0.10)
    assert pounds.factor == pytest.approx(2.2046, rel=0.25)
    assert "lb vs kg (2.2046)" in pounds.detail
    assert days.factor == pytest.approx(30.44, rel=0.25)
    assert "days vs months (30.438)" in days.detail
    levels = [f for f in result.flags if f.kind == "levels"]
    assert [(f.study, f.column, f.factor) for f in levels] == [("T4", "sex", None)]
    assert "'F', 'M'" in levels[0].detail
    assert result.checked == {"weight": 6, "time": 6, "sex": 6}


def test_a_trial_with_age_in_months_and_one_in_fahrenheit():
    rows = pd.read_csv(get_dataset("bp_trials").path, dtype={"trial": str})
    rows.loc[rows.trial == "T03", "age"] *= 12
    flags = check_units(rows, "trial", ["age"]).flags
    assert [(f.study, f.kind) for f in flags] == [("T03", "unit")]
    assert "months vs years (12)" in flags[0].detail
    # temperature: an offset, not a pure factor (F = 1.8 C + 32)
    rng = np.random.default_rng(0)
    temp = pd.DataFrame({"trial": np.repeat(list("ABCD"), 100), "temp": rng.normal(37.0, 0.6, 400)})
    temp.loc[temp.trial == "D", "temp"] = 1.8 * temp.loc[temp.trial == "D", "temp"] + 32
    flags = bi.check_units(temp, study="trial").flags
    assert [(f.study, f.column) for f in flags] == [("D", "temp")]
    assert "F vs C (1.8 + 32)" in flags[0].detail


def test_codings_whose_levels_differ():
    rows = pd.DataFrame(
        {
            "trial": np.repeat(["A", "B", "C"], 4),
            "sex": [0, 1, 0, 1, 0, 1, 1, 0, 1, 2, 2, 1],  # C codes 1/2
        }
    )
    flags = check_units(rows, "trial").flags
    assert [(f.study, f.kind) for f in flags] == [("C", "levels")]
    assert "'2' in no other trial" in flags[0].detail


def test_every_clean_shipped_set_is_checked():
    assert {"bcg_ipd", "bp_trials", "survival_trials", "huber2000", "lanza", "ovarian"} <= set(
        CLEAN
    )


@pytest.mark.parametrize("name", CLEAN)
def test_nothing_flagged_on_the_shipped_data(name):
    rows, study = shipped_rows(name)
    result = check_units(rows, study)
    assert result.flags == ()
    assert result.checked  # something was compared


@pytest.mark.skipif(
    "depression_trials" not in {e.name for e in CATALOGUE}, reason="example not shipped"
)
def test_the_shipped_example_with_planted_errors():
    rows, study = shipped_rows("depression_trials")
    unit = [(f.study, f.column) for f in check_units(rows, study).flags if f.kind == "unit"]
    assert unit == [("D3", "weight"), ("D4", "duration")]


def test_input_kept_and_bad_columns_refused():
    rows = planted()
    kept = rows.copy()
    check_units(rows, "trial")
    pd.testing.assert_frame_equal(rows, kept)
    with pytest.raises(IPDDataError, match="no column 'bmi'"):
        check_units(rows, "trial", ["bmi"])
    with pytest.raises(IPDDataError, match="no study column 'centre'"):
        check_units(rows, "centre")


# --------------------------------------------------------------------------- command line


def test_check_data_json_contract_and_exit_0_with_flags(tmp_path, capsys):
    path = tmp_path / "planted.csv"
    planted().to_csv(path, index=False)
    assert main(["check-data", str(path), "--study", "trial", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"flags", "checked"}
    assert doc["checked"] == {"weight": 6, "time": 6, "sex": 6}
    for flag in doc["flags"]:
        assert set(flag) == {"study", "column", "kind", "factor", "detail"}
    assert [(f["study"], f["column"], f["kind"]) for f in doc["flags"]] == [
        ("T3", "weight", "unit"),
        ("T5", "time", "unit"),
        ("T4", "sex", "levels"),
    ]
    assert main(["check-data", str(path), "--study", "trial", "--columns", "weight"]) == 0
    out = capsys.readouterr().out
    assert "T3 / weight: unit factor 2." in out and "time" not in out


def test_check_data_clean_file_prints_no_finding(capsys):
    path = Path(get_dataset("bp_trials").path)
    assert main(["check-data", str(path), "--study", "trial"]) == 0
    assert "No trial looks recorded in another unit or coding." in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--study", "trial", "--columns", "bmi"], "no column 'bmi'"),
        (["--study", "centre"], "centre"),
    ],
)
def test_check_data_bad_input_exit_2(capsys, argv, words):
    path = str(get_dataset("bp_trials").path)
    assert main(["check-data", path, *argv]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:") and words in last


def test_check_data_missing_file_exit_2(tmp_path, capsys):
    assert main(["check-data", str(tmp_path / "nope.csv"), "--study", "trial"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:") and "nope.csv" in last


@pytest.mark.slow
def test_power_and_false_alarms_over_replicates():
    """The table of docs/data_preparation.md: 150 replicates of :func:`planted` per size;
    the pounds trial flagged in 95 / 98 / 100 %, the days trial in 73 / 87 / 98 %, no other
    trial ever (binomial SE of a proportion near 0.9 over 150 replicates: 0.025)."""
    expected = {50: (0.95, 0.73), 100: (0.98, 0.87), 300: (1.0, 0.98)}
    for n, (pounds, days) in expected.items():
        found = {"pounds": 0, "days": 0, "other": 0}
        for seed in range(150):
            flags = check_units(planted(seed, n), "trial", ["weight", "time"]).flags
            got = {(f.study, f.column) for f in flags}
            found["pounds"] += ("T3", "weight") in got
            found["days"] += ("T5", "time") in got
            found["other"] += bool(got - {("T3", "weight"), ("T5", "time")})
        assert found["pounds"] / 150 == pytest.approx(pounds, abs=0.01)
        assert found["days"] / 150 == pytest.approx(days, abs=0.01)
        assert found["other"] == 0


def test_trial_level_columns_are_not_compared():
    rows = pd.DataFrame(
        {
            "trial": np.repeat(["A", "B", "C"], 30),
            "year": np.repeat([1990, 1995, 2001], 30),  # constant within each trial
            "sponsor": np.repeat(["industry", "public", "public"], 30),
        }
    )
    result = check_units(rows, "trial")
    assert result.flags == () and result.checked == {}
    with pytest.raises(IPDDataError, match="'trial' is the trial column"):
        check_units(rows, "trial", ["trial"])
