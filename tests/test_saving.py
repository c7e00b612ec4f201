"""Saving, loading and pickling one-stage results (issue 29, item 8), and printing a
summary whole (item 10).

A loaded or unpickled result must answer as the fitted one: equal summaries, study effects,
posterior predictive tables, leave-one-trial-out LOO and JSON output (same seed, same
numbers: derived draws are seeded from the stored sampler settings), and working figures.
Two small fits are shared: a gaussian IPD fit with a covariate and its interaction, and a
binomial hybrid fit (trial summaries plus estimate-and-SE aggregate-data trials).
"""

from __future__ import annotations

import json
import pickle
import warnings

import matplotlib

matplotlib.use("Agg")

import arviz as az
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import bayes_ipd as bi
from bayes_ipd.one_stage.aggregate_trials import AggregateTrials, trial_effects
from bayes_ipd.one_stage.fitting import fit
from bayes_ipd.one_stage.result import OneStageResult
from bayes_ipd.one_stage.storage import GROUP, ResultFileError
from bayes_ipd.one_stage.summaries import summarise_trial
from bayes_ipd.spec import ModelSpec, SamplerSettings

SETTINGS = SamplerSettings(draws=150, tune=150, chains=2, seed=5, progress=False)


def _quiet_fit(data, spec):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(data, spec, SETTINGS)


def _gaussian_trials(k: int = 5, n: int = 80) -> list:
    rng = np.random.default_rng(3)
    out = []
    for i in range(k):
        t = np.tile([0.0, 1.0], n // 2)
        age = rng.normal(50 + 2 * i, 10, n)
        y = 120 - 5 * t + 0.3 * (age - 50) + rng.normal(0, 10, n)
        frame = pd.DataFrame({"age": age})
        out.append(summarise_trial(f"T{i}", "gaussian", t, frame, ["age"], ["age"], outcome=y))
    return out


def _binomial_parts(k: int = 4, n: int = 120) -> list:
    rng = np.random.default_rng(4)
    out: list = []
    for i in range(k):
        t = np.tile([0.0, 1.0], n // 2)
        y = rng.binomial(1, 1 / (1 + np.exp(1.0 + 0.5 * t))).astype(float)
        frame = pd.DataFrame(index=range(n))
        out.append(summarise_trial(f"B{i}", "binomial", t, frame, [], [], outcome=y))
    out.append(AggregateTrials(("A1", "A2"), np.array([-0.4, -0.7]), np.array([0.3, 0.25])))
    return out


@pytest.fixture(scope="module")
def gaussian_fit() -> OneStageResult:
    spec = ModelSpec(family="gaussian", covariates=("age",), interactions=("age",))
    return _quiet_fit(_gaussian_trials(), spec)


@pytest.fixture(scope="module")
def hybrid_fit() -> OneStageResult:
    return _quiet_fit(_binomial_parts(), ModelSpec(family="binomial"))


@pytest.fixture(scope="module")
def ad_only_fit() -> OneStageResult:
    ad = AggregateTrials(
        ("A1", "A2", "A3", "A4"), np.array([-0.4, -0.7, -0.1, -0.5]), np.full(4, 0.25)
    )
    return _quiet_fit([ad], ModelSpec(family="binomial"))


def _assert_same_result(a: OneStageResult, b: OneStageResult) -> None:
    """Every reader gives the same numbers (the draws and seeds are the same)."""
    pd.testing.assert_frame_equal(a.summary(threshold=-0.1), b.summary(threshold=-0.1))
    pd.testing.assert_frame_equal(trial_effects(a), trial_effects(b))
    if a.built.design.k:  # an AD-only fit has no participant-row trials to check
        pd.testing.assert_frame_equal(a.study_effects(), b.study_effects())
        pd.testing.assert_frame_equal(a.ppc(draws=40).table, b.ppc(draws=40).table)
    loo_a, loo_b = a.loo(), b.loo()
    assert (loo_a.elpd, loo_a.se, loo_a.p_loo) == (loo_b.elpd, loo_b.se, loo_b.p_loo)
    pd.testing.assert_series_equal(loo_a.pareto_k, loo_b.pareto_k)
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())
    assert repr(a) == repr(b)
    assert dict(b.built.parameterisation) == dict(a.built.parameterisation)
    da, db = a.built.design, b.built.design
    assert list(da.stats) == list(db.stats)
    for name, value in da.stats.items():
        assert db.stats[name].dtype == value.dtype
        np.testing.assert_array_equal(db.stats[name], value)
    for name in ("across", "term_means", "n_arm"):
        np.testing.assert_array_equal(getattr(db, name), getattr(da, name))
    assert (db.studies, db.covariate_terms, db.cutpoints) == (
        da.studies,
        da.covariate_terms,
        da.cutpoints,
    )


# ------------------------------------------------------------------------- pickling


@pytest.mark.parametrize("name", ["gaussian_fit", "hybrid_fit"])
def test_pickle_round_trip_gives_an_equal_working_result(name, request):
    result = request.getfixturevalue(name)
    back = pickle.loads(pickle.dumps(result))
    assert isinstance(back, OneStageResult)
    _assert_same_result(result, back)
    assert isinstance(back.tau_plot(), Figure)
    # the rebuilt PyMC model is a working one (prior draws come from it)
    assert back.prior_draws(draws=20, seed=1)["mu"].size == 20


# ------------------------------------------------------------------ save and load


@pytest.mark.parametrize("name", ["gaussian_fit", "hybrid_fit", "ad_only_fit"])
def test_save_and_load_give_back_an_equal_working_result(name, request, tmp_path):
    result = request.getfixturevalue(name)
    path = result.save(tmp_path / "fit.nc")
    back = bi.load(path)
    assert isinstance(back, OneStageResult)
    _assert_same_result(result, back)
    if back.built.design.k:
        assert isinstance(back.ppc(draws=40).plot(), Figure)
    assert isinstance(back.tau_plot(), Figure)
    # the file holds no participant rows, only the design's per-trial statistics
    with az.rc_context({"data.load": "eager"}):
        assert set(az.from_netcdf(str(path)).groups()) >= {"posterior", "log_likelihood"}


def test_run_out_posterior_file_loads_and_arviz_still_reads_it(gaussian_fit, tmp_path):
    # `run --out` writes posterior.nc with to_netcdf (analysis.py)
    path = gaussian_fit.to_netcdf(tmp_path / "posterior.nc")
    back = bi.load(str(path))
    pd.testing.assert_frame_equal(back.summary(), gaussian_fit.summary())
    with az.rc_context({"data.load": "eager"}):
        idata = az.from_netcdf(str(path))
    loo = az.loo(idata, var_name="trial")
    assert loo.elpd_loo == pytest.approx(gaussian_fit.loo().elpd, rel=1e-12)
    # the loaded InferenceData is the fit's: conditional terms back in log_likelihood
    np.testing.assert_array_equal(
        back.idata.log_likelihood["trial"].values, gaussian_fit.idata.log_likelihood["trial"].values
    )
    assert GROUP not in back.idata.groups()


def test_load_reads_the_posterior_file_of_run_out(tmp_path, capsys):
    from pathlib import Path

    from bayes_ipd.cli import main

    data = Path(__file__).resolve().parents[1] / "bayes_ipd" / "datasets" / "bp_trials.csv"
    (tmp_path / "spec.toml").write_text(
        f"""
[data]
path = "{data.as_posix()}"
study = "trial"
treatment = "treat"
outcome = "sbp_final"
family = "gaussian"

[model]
covariates = ["age"]

[sampler]
seed = 3
""",
        encoding="utf-8",
    )
    small = ["--draws", "100", "--tune", "100", "--chains", "2"]
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "spec.toml"), "--json", "--out", str(out), *small]) == 0
    capsys.readouterr()
    saved = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    back = bi.load(out / "posterior.nc")
    assert json.loads(back.to_json())["posterior"] == saved["posterior"]
    assert back.loo().pareto_k.index.tolist() == list(back.built.design.studies)


# --------------------------------------------------------------- files it refuses


def test_load_refuses_a_missing_corrupt_or_foreign_file_clearly(gaussian_fit, tmp_path):
    with pytest.raises(ResultFileError, match="no such file"):
        bi.load(tmp_path / "absent.nc")
    corrupt = tmp_path / "corrupt.nc"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(ResultFileError, match=r"corrupt\.nc: not a netCDF file"):
        bi.load(corrupt)
    foreign = tmp_path / "foreign.nc"
    az.from_dict(posterior={"mu": np.zeros((2, 10))}).to_netcdf(str(foreign), engine="h5netcdf")
    with pytest.raises(ResultFileError, match="not a saved bayes_ipd one-stage result"):
        bi.load(foreign)
    truncated = tmp_path / "truncated.nc"
    whole = gaussian_fit.save(tmp_path / "whole.nc").read_bytes()
    truncated.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(ResultFileError, match=r"truncated\.nc"):
        bi.load(truncated)


def test_load_refuses_a_record_whose_model_does_not_rebuild(gaussian_fit, tmp_path):
    from bayes_ipd.one_stage.storage import ResultRecord, posterior_of, record_of

    record = record_of(gaussian_fit)
    meta = json.loads(record.meta)
    meta["fingerprint"] = "0" * 16
    tampered = ResultRecord(meta=json.dumps(meta), arrays=record.arrays)
    with pytest.raises(ResultFileError, match="does not rebuild to the same model"):
        posterior_of(gaussian_fit.idata, tampered)
    meta.pop("spec")
    with pytest.raises(ResultFileError, match="record cannot be read"):
        posterior_of(gaussian_fit.idata, ResultRecord(json.dumps(meta), record.arrays))


# ----------------------------------------------------------- printing (item 10)


def test_printed_summary_shows_every_column(hybrid_fit, gaussian_fit):
    for result in (hybrid_fit, gaussian_fit):
        table = result.summary(threshold=-0.1)
        text = str(table)
        assert "rows x" not in text and "..." not in text
        for column in table.columns:
            assert column in text
        assert repr(table) == text
        assert all(c in table._repr_html_() for c in table.columns)
        # a plain DataFrame's values and columns
        assert isinstance(table, pd.DataFrame)
        pd.testing.assert_frame_equal(pd.DataFrame(table), table, check_frame_type=False)
    assert "rows x" not in str(hybrid_fit.study_effects())
