"""``[data]`` keys for arm-count aggregate data and ordinal levels, and ``[sensitivity]``
checked when the spec is read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.analysis import counts_stage_one, load_analysis_data, read_arm_counts
from bayes_ipd.cli import main
from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.one_stage.aggregate_trials import ArmCounts
from bayes_ipd.spec import parse_analysis_spec, read_analysis_spec, write_analysis_spec

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "bayes_ipd" / "datasets"
AD_FILE = DATASETS / "bcg_hybrid_ad.csv"

BCG_COUNTS = """
[data]
path = "dataset:bcg_hybrid_ipd.csv.gz"
aggregate = "dataset:bcg_hybrid_ad.csv"
aggregate_counts = true
study = "trial"
treatment = "treat"
outcome = "event"
family = "binomial"
"""

LANZA = """
[data]
path = "dataset:lanza.csv"
study = "study"
treatment = "treatment"
outcome = "classification"
family = "ordinal"
experimental = "Misoprostol"
{levels}
"""


# --------------------------------------------------------------------------- arm counts


def test_aggregate_counts_reads_the_2x2_columns(tmp_path):
    spec = parse_analysis_spec(BCG_COUNTS, tmp_path)
    assert spec.data.aggregate_counts
    counts = load_analysis_data(spec.data, spec.model).aggregate
    assert isinstance(counts, ArmCounts)
    table = pd.read_csv(AD_FILE)
    assert counts.studies == tuple(table["study"])
    np.testing.assert_array_equal(counts.events, table[["events_control", "events_treated"]])
    np.testing.assert_array_equal(counts.n, table[["n_control", "n_treated"]])


def test_count_columns_can_be_renamed(tmp_path):
    table = pd.read_csv(AD_FILE).rename(columns={"events_treated": "d1", "n_treated": "n1"})
    table.to_csv(tmp_path / "ad.csv", index=False)
    text = BCG_COUNTS.replace("dataset:bcg_hybrid_ad.csv", "ad.csv")
    text += 'aggregate_events_treated = "d1"\naggregate_n_treated = "n1"\n'
    spec = parse_analysis_spec(text, tmp_path)
    counts = read_arm_counts(spec.data)
    np.testing.assert_array_equal(counts.events[:, 1], table["d1"])
    # a count column the file lacks is named
    spec = parse_analysis_spec(BCG_COUNTS.replace("dataset:bcg_hybrid_ad.csv", "ad.csv"), tmp_path)
    with pytest.raises(IPDDataError, match="'events_treated'"):
        read_arm_counts(spec.data)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('aggregate_estimate = "estimate"\n', "data.aggregate_estimate is not used"),
        ('aggregate_se = "se"\n', "data.aggregate_se is not used"),
        ("aggregate_counts = 1\n", "data.aggregate_counts = 1 must be true or false"),
    ],
)
def test_counts_refuse_estimate_columns_and_non_flags(tmp_path, extra, message):
    text = BCG_COUNTS.replace("aggregate_counts = true\n", "") + extra
    if "aggregate_counts" not in extra:
        text += "aggregate_counts = true\n"
    with pytest.raises(SpecError, match=message):
        parse_analysis_spec(text, tmp_path)


def test_count_columns_without_counts_flag_are_refused(tmp_path):
    text = BCG_COUNTS.replace("aggregate_counts = true\n", 'aggregate_n_treated = "n1"\n')
    with pytest.raises(SpecError, match=r"need data\.aggregate_counts = true"):
        parse_analysis_spec(text, tmp_path)
    no_file = BCG_COUNTS.replace('aggregate = "dataset:bcg_hybrid_ad.csv"\n', "")
    with pytest.raises(SpecError, match=r"needs data\.aggregate"):
        parse_analysis_spec(no_file, tmp_path)


def test_aggregate_counts_round_trip(tmp_path):
    text = BCG_COUNTS + 'aggregate_n_control = "nc"\n'
    spec = parse_analysis_spec(text, tmp_path)
    write_analysis_spec(spec, tmp_path / "copy.toml")
    written = (tmp_path / "copy.toml").read_text()
    assert "aggregate_counts = true" in written and "aggregate_estimate" not in written
    assert read_analysis_spec(tmp_path / "copy.toml").data == spec.data


def test_counts_stage_one_is_woolfs_log_odds_ratio():
    # Reference: the 2x2 closed form, log OR = log(a d / (b c)), SE = sqrt(1/a+1/b+1/c+1/d)
    # (Woolf 1955), which the per-trial logistic regression of the expanded rows equals.
    table = pd.read_csv(AD_FILE)
    names = ("events_control", "n_control", "events_treated", "n_treated")
    counts = ArmCounts.from_frame(table, study="study", **dict(zip(names, names, strict=True)))
    a, c = table["events_treated"], table["events_control"]
    b, d = table["n_treated"] - a, table["n_control"] - c
    agg = counts_stage_one(counts, "binomial")
    assert agg.scale == "logOR" and agg.studies == tuple(table["study"])
    np.testing.assert_allclose(agg.estimate, np.log(a * d / (b * c)), rtol=0, atol=1e-6)
    np.testing.assert_allclose(agg.se, np.sqrt(1 / a + 1 / b + 1 / c + 1 / d), rtol=1e-6)
    np.testing.assert_array_equal(agg.n, table["n_treated"] + table["n_control"])


def test_hybrid_two_stage_with_counts_equals_the_all_rows_two_stage(tmp_path):
    # Independent route: the four count trials' own participant rows (the full BCG IPD,
    # bcg_ipd.csv.gz) in the same two-stage model give the same pooled figures.
    from bayes_ipd.analysis import _two_stage_aggregate
    from bayes_ipd.data import IPD
    from bayes_ipd.two_stage import two_stage

    spec = parse_analysis_spec(BCG_COUNTS, tmp_path)
    data = load_analysis_data(spec.data, spec.model)
    ad = _two_stage_aggregate(data.aggregate, "binomial")
    hybrid = two_stage(data.ipd, aggregate=ad, method="REML", hksj=True).pooled
    rows = IPD.read_csv(
        DATASETS / "bcg_ipd.csv.gz", study="trial", treatment="treat", outcome="event",
        family="binomial",
    )  # fmt: skip
    full = two_stage(rows, method="REML", hksj=True).pooled
    assert hybrid.k == full.k == 13
    assert hybrid.estimate == pytest.approx(full.estimate, abs=1e-6)
    assert hybrid.se == pytest.approx(full.se, rel=1e-5)
    assert hybrid.tau2 == pytest.approx(full.tau2, rel=1e-5)


# --------------------------------------------------------------------------- levels


def test_levels_key_orders_the_ordinal_outcome(tmp_path):
    spec = parse_analysis_spec(LANZA.format(levels="levels = [5, 4, 3, 2, 1]"), tmp_path)
    assert spec.data.levels == ("5", "4", "3", "2", "1")  # numbers labelled as the data layer
    ipd = load_analysis_data(spec.data, spec.model).ipd
    assert ipd.levels == ("5", "4", "3", "2", "1")
    default = parse_analysis_spec(LANZA.format(levels=""), tmp_path)
    assert load_analysis_data(default.data, default.model).ipd.levels == ("1", "2", "3", "4", "5")


@pytest.mark.filterwarnings("ignore:trial 'IV' excluded from pooling")
def test_reversed_levels_flip_the_sign_of_the_two_stage_effect(tmp_path):
    # Reversing the categories of a proportional-odds model negates its log cumulative OR
    # exactly (logit P(Y <= j) = c_j - beta t  <=>  logit P(Y' <= j') = -c_j + beta t).
    from bayes_ipd.two_stage import two_stage

    fits = {}
    for name, levels in (("up", ""), ("down", 'levels = ["5", "4", "3", "2", "1"]')):
        spec = parse_analysis_spec(LANZA.format(levels=levels), tmp_path)
        ipd = load_analysis_data(spec.data, spec.model).ipd
        fits[name] = two_stage(ipd, method="REML", hksj=False).pooled
    assert fits["up"].k == fits["down"].k == 3  # trial IV separated either way
    assert fits["down"].estimate == pytest.approx(-fits["up"].estimate, abs=1e-4)
    assert fits["down"].se == pytest.approx(fits["up"].se, rel=1e-3)


def test_a_level_outside_the_list_is_named(tmp_path):
    spec = parse_analysis_spec(LANZA.format(levels='levels = ["1", "2", "3", "4"]'), tmp_path)
    with pytest.raises(IPDDataError, match=r"value '5' .* is not one of the levels"):
        load_analysis_data(spec.data, spec.model)


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ('levels = "1,2,3"', "must be a list of at least two levels"),
        ('levels = ["1"]', "must be a list of at least two levels"),
        ('levels = ["1", "2", "1"]', "more than once"),
        ('levels = ["1", ""]', "empty level"),
        ("levels = [1, true]", "level True must be a string or a number"),
    ],
)
def test_bad_levels_are_refused_when_read(tmp_path, levels, message):
    with pytest.raises(SpecError, match=r"data\.levels") as err:
        parse_analysis_spec(LANZA.format(levels=levels), tmp_path)
    assert message in str(err.value)


def test_levels_for_a_non_ordinal_family_are_refused(tmp_path):
    text = BCG_COUNTS + 'levels = ["0", "1"]\n'
    with pytest.raises(SpecError, match=r"data\.levels is for an ordinal outcome, not family"):
        parse_analysis_spec(text, tmp_path)


def test_levels_round_trip(tmp_path):
    spec = parse_analysis_spec(LANZA.format(levels='levels = ["1", "2", "3", "4", "5"]'), tmp_path)
    write_analysis_spec(spec, tmp_path / "copy.toml")
    assert read_analysis_spec(tmp_path / "copy.toml").data.levels == spec.data.levels


# --------------------------------------------------------------------------- sensitivity


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('taus = ["half_normal(1)"]', "unknown key sensitivity.taus"),
        ('tau = "half_normal(1)"', "must be a non-empty list of priors"),
        ('tau = ["normal(0, 1)"]', "sensitivity.tau"),
        ('tau = ["half_normal(1"]', "sensitivity.tau"),
    ],
)
def test_sensitivity_section_is_checked_when_read(tmp_path, section, message):
    text = LANZA.format(levels="") + f"\n[sensitivity]\n{section}\n"
    with pytest.raises(SpecError, match=message):
        parse_analysis_spec(text, tmp_path)


def test_run_without_sensitivity_flag_still_refuses_a_bad_grid(tmp_path, capsys):
    path = tmp_path / "spec.toml"
    path.write_text(LANZA.format(levels="") + '\n[sensitivity]\ntaus = ["half_normal(1)"]\n')
    assert main(["run", str(path), "--draws", "10"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "sensitivity.taus" in err and str(path) in err


@pytest.mark.slow
def test_counts_spec_one_stage_equals_the_all_rows_fit(tmp_path):
    # The count trials enter with the exact binomial likelihood of their 2x2 cells, so the
    # hybrid spec's one-stage posterior is that of all 13 BCG trials as rows; the posterior
    # means of mu agree within Monte Carlo error (4 combined MCSEs).
    import dataclasses

    import arviz as az

    from bayes_ipd.analysis import run_analysis
    from bayes_ipd.data import IPD
    from bayes_ipd.one_stage.fitting import fit
    from bayes_ipd.spec import ModelSpec, SamplerSettings

    sampler = SamplerSettings(draws=1000, tune=1000, chains=2, seed=7, progress=False)
    spec = dataclasses.replace(parse_analysis_spec(BCG_COUNTS, tmp_path), sampler=sampler)
    result = run_analysis(spec)
    assert result.hybrid is not None and result.two_stage.pooled.k == 13
    rows = IPD.read_csv(
        DATASETS / "bcg_ipd.csv.gz", study="trial", treatment="treat", outcome="event",
        family="binomial",
    )  # fmt: skip
    full = fit(rows, ModelSpec("binomial"), sampler)
    means, errors = [], []
    for fitted in (result.one_stage, full):
        mu = fitted.idata.posterior["mu"]
        means.append(float(mu.mean()))
        errors.append(float(az.mcse(fitted.idata, var_names=["mu"])["mu"]))
    assert abs(means[0] - means[1]) < 4 * float(np.hypot(*errors))
