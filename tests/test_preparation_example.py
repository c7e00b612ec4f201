"""The shipped data-preparation example (issue 28 item 6): depression_trials.csv, its flow
with [[trial]] tables, bcg_hybrid_trials.csv, and models/depression_preparation.toml.

The truths are the generator's (bayes_ipd/simulate/preparation.py): the tests check that
the raw rows are the clean rows seen through the stated unit errors, scale and coding, that
the spec's [harmonise] rules undo exactly those, and that the unit check finds the two
planted unit differences and nothing once harmonised.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.data.harmonise import harmonise
from bayes_ipd.data.harmonise_rules import read_rules
from bayes_ipd.data.unit_check import check_units
from bayes_ipd.datasets import dataset_path, load_depression_trials
from bayes_ipd.datasets._generate import (
    bcg_hybrid_trials,
    depression_flow,
    depression_trials,
)
from bayes_ipd.models import resolve_spec
from bayes_ipd.prisma import read_flow
from bayes_ipd.responders import compare_responders
from bayes_ipd.simulate.preparation import CROSSWALK, simulate_depression_trials
from bayes_ipd.spec import read_analysis_spec


@pytest.fixture(scope="module")
def example():
    return simulate_depression_trials(seed=20261211)


@pytest.fixture(scope="module")
def harmonised():
    raw = load_depression_trials()
    with resolve_spec("depression_preparation").open("rb") as handle:
        rules = tomllib.load(handle)["harmonise"]
    return harmonise(raw, rules, study="trial")


def test_shipped_files_match_their_recipes():
    shipped = pd.read_csv(dataset_path("depression_trials.csv"))
    again = depression_trials()
    pd.testing.assert_frame_equal(
        shipped, pd.read_csv(pd.io.common.StringIO(again.to_csv(index=False)))
    )
    assert dataset_path("depression_flow.toml").read_text() == depression_flow()
    trials = pd.read_csv(dataset_path("bcg_hybrid_trials.csv"))
    rebuilt = pd.read_csv(pd.io.common.StringIO(bcg_hybrid_trials().to_csv(index=False)))
    pd.testing.assert_frame_equal(trials, rebuilt)


def test_raw_rows_are_the_clean_rows_seen_through_the_stated_errors(example):
    raw, clean = example.raw, example.clean
    assert len(raw) == len(clean) == 930
    assert list(raw.groupby("trial").size()) == [160, 140, 180, 150, 170, 130]
    d3 = raw["trial"] == "D3"
    kept = d3 & raw["weight"].notna()
    # pounds, rounded to 0.1 lb: back in kg within 0.05 lb
    assert np.allclose(raw.loc[kept, "weight"] * 0.45359237, clean.loc[kept, "weight"], atol=0.03)
    d4 = (raw["trial"] == "D4") & raw["duration"].notna()
    assert np.allclose(
        raw.loc[d4, "duration"] / (365.25 / 12), clean.loc[d4, "duration"], atol=0.02
    )
    beck = raw["trial"].isin(["D5", "D6"])
    back = CROSSWALK["a"] + CROSSWALK["b"] * raw.loc[beck, "score"].astype(float)
    assert np.abs(back - clean.loc[beck, "hamd"]).max() <= 0.5 * CROSSWALK["b"] + 1e-9
    hamd = ~beck
    assert np.abs(raw.loc[hamd, "score"] - clean.loc[hamd, "hamd"]).max() <= 0.5
    d2 = raw["trial"] == "D2"
    assert raw.loc[d2, "sex"].isna().all() and raw.loc[~d2, "gender"].isna().all()
    assert ((raw.loc[d2, "gender"] == "F") == (clean.loc[d2, "sex"] == 1)).all()
    assert (raw["score"] >= 0).all()  # no negative score in the shipped seed


def test_weight_missing_at_random_given_the_outcome_and_never_in_d6(example):
    raw, clean = example.raw, example.clean
    gone = raw["weight"].isna()
    assert gone[raw["trial"] == "D6"].all()
    sporadic = gone[raw["trial"] != "D6"]
    assert 0.15 < sporadic.mean() < 0.25  # about 20%
    # MAR on the outcome (logit slope 1 per SD): the missing have the higher scores
    hamd = clean.loc[raw["trial"] != "D6", "hamd"]
    assert hamd[sporadic].mean() - hamd[~sporadic].mean() > 1.5


def test_spec_rules_undo_the_errors(example, harmonised):
    out, clean = harmonised.frame, example.clean
    assert out["sex"].notna().all() and (out["sex"] == clean["sex"]).all()
    observed = out["weight"].notna()
    assert np.abs(out.loc[observed, "weight"] - clean.loc[observed, "weight"]).max() < 0.03
    dur = out["duration"].notna()
    assert np.abs(out.loc[dur, "duration"] - clean.loc[dur, "duration"]).max() < 0.02
    # rounding: half a HAM-D point (D1-D4), half a BDI-II point = 0.3 HAM-D (D5, D6)
    beck = out["trial"].isin(["D5", "D6"])
    assert np.abs(out.loc[beck, "score"] - clean.loc[beck, "hamd"]).max() <= 0.3 + 1e-9
    assert np.abs(out["score"] - clean["hamd"]).max() <= 0.5
    entries = {(e.trial, e.column): e.rows for e in harmonised.log.entries}
    assert entries[("D3", "weight")] == 150  # 180 rows, 30 weights missing
    assert entries[("D5", "score")] == 170 and entries[("D6", "score")] == 130
    assert entries[("D2", "sex")] == 140


def test_unit_check_finds_the_pounds_and_the_days_and_nothing_after(harmonised):
    flags = {(f.study, f.column): f for f in check_units(load_depression_trials(), "trial").flags}
    assert set(flags) == {("D3", "weight"), ("D4", "duration")}
    assert "lb" in flags[("D3", "weight")].detail and "days" in flags[("D4", "duration")].detail
    assert check_units(harmonised.frame, "trial").flags == ()


def test_flow_trial_tables_compare_responders():
    path = dataset_path("depression_flow.toml")
    flow = read_flow(path)
    result = compare_responders(path, flow=flow, ipd=["D1", "D2", "D3", "D4", "D5", "D6"])
    assert (result.n_ipd, result.n_no_ipd) == (6, 3)
    # the planted difference: industry sponsors 1 of 6 IPD trials, 3 of 3 others
    assert result.row("sponsor: industry").values["count"] == (1, 3)
    assert result.row("published effect").missing == "0 / 1"  # D9: no published effect


def test_spec_reads_with_its_rules_and_impute():
    spec = read_analysis_spec(resolve_spec("depression_preparation"))
    assert spec.data.missing == "impute" and spec.harmonise is not None
    # the shipped rules file holds the spec's [harmonise] section
    rules = read_rules(dataset_path("depression_rules.toml"))
    assert rules.to_dict() == spec.harmonise.to_dict() and len(rules.to_dict()["crosswalk"]) == 2
    assert spec.report.flow == dataset_path("depression_flow.toml")
