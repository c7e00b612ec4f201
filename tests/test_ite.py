"""The two-stage ITE framework (bayes_ipd/ite/): learners, stage-2 poolers, predictions,
internal-external cross-validation, the simulation runner, and ``bayes-ipd ite``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.cli import main
from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.ite import (
    Method,
    Scenario,
    TrialNotFittable,
    c_for_benefit,
    fit_ite,
    get_learner,
    internal_external,
    ite_data,
    run_grid,
    simulate_ite,
)
from bayes_ipd.ite.learners import OLSLearner, linear_design
from bayes_ipd.ite.simulation import evaluate_replicate, new_patients, true_ite

COVS = ["x1", "x2"]
LINEAR = Scenario(n_trials=8, n_per_trial=400, tau=0.1)
PROFILES = np.array([[-1.0, 0.5], [0.0, 0.0], [1.5, -1.0], [0.5, 1.0]])


def _data(frame):
    return ite_data(frame, study="trial", treatment="treat", outcome="y", covariates=COVS)


@pytest.fixture(scope="module")
def linear_data():
    frame, truth = simulate_ite(LINEAR, seed=20)
    return _data(frame), truth


# ------------------------------------------------------------------------ stage 1


def test_ols_matches_the_closed_form_least_squares(linear_data):
    data, _ = linear_data
    trial = data.trials[0]
    fit = OLSLearner().fit(trial)
    x = linear_design(trial)
    beta, *_ = np.linalg.lstsq(x, trial.y, rcond=None)
    resid = trial.y - x @ beta
    s2 = resid @ resid / (trial.n - x.shape[1])
    cov = s2 * np.linalg.inv(x.T @ x)
    np.testing.assert_allclose(fit.coefficients, beta[3:], rtol=1e-10)
    np.testing.assert_allclose(fit.covariance, cov[3:, 3:], rtol=1e-8)


def test_conjugate_bayes_is_ols_shrunk_by_g_over_g_plus_1(linear_data):
    data, _ = linear_data
    trial = data.trials[1]
    ols = OLSLearner().fit(trial)
    bayes = get_learner("bayes").fit(trial)
    g = trial.n
    np.testing.assert_allclose(bayes.coefficients, g / (g + 1) * ols.coefficients, rtol=1e-10)
    # posterior covariance ~ OLS covariance (same residual variance up to the prior and df)
    np.testing.assert_allclose(np.diag(bayes.covariance), np.diag(ols.covariance), rtol=0.02)
    draws = bayes.draws(PROFILES, 4000, np.random.default_rng(1))
    mc_se = draws.std(axis=0) / np.sqrt(4000)
    assert np.all(np.abs(draws.mean(axis=0) - bayes.predict(PROFILES)) < 5 * mc_se)


@pytest.mark.parametrize("name", ["ridge", "lasso", "forest", "boosting"])
def test_every_learner_predicts_one_finite_ite_per_row(linear_data, name):
    data, _ = linear_data
    for meta in ("T", "S") if name in ("forest", "boosting") else ("T",):
        fit = get_learner(name, meta).fit(data.trials[2], 5)
        ite = fit.predict(PROFILES)
        assert ite.shape == (len(PROFILES),) and np.isfinite(ite).all()
        assert fit.coefficients is None


def test_unfittable_trials_are_named_or_excluded_with_their_reason(linear_data):
    data, _ = linear_data
    one_arm = data.trials[0].take(np.flatnonzero(data.trials[0].treat == 1))
    tiny = data.trials[1].take(np.arange(5))
    broken = type(data)((one_arm, tiny, *data.trials[2:]), data.covariates, data.treatment)
    with pytest.raises(TrialNotFittable, match=r"trial 'T01'.*control"):
        fit_ite(broken, "ols", "mvma")
    result = fit_ite(broken, "ols", "mvma", on_unfittable="exclude")
    assert result.k == LINEAR.n_trials - 2
    assert set(result.excluded) == {"T01", "T02"}
    assert "rows for 6 parameters" in result.excluded["T02"]


def test_infeasible_combinations_are_refused(linear_data):
    data, _ = linear_data
    with pytest.raises(SpecError, match="mvma"):
        fit_ite(data, "forest", "mvma")
    with pytest.raises(SpecError, match="Bayesian"):
        fit_ite(data, "ols", "mixing")
    with pytest.raises(SpecError, match="unknown stage-1"):
        fit_ite(data, "svm", "weighted")


# ------------------------------------------------- stage 2 recovers a linear surface

STAGE2 = [
    Method("ols", "mvma"),
    Method("ols", "mvma", random="treatment"),
    Method("ols", "weighted"),
    Method("ols", "weighted", weights="bootstrap"),
    Method("bayes", "mvbayes"),
    Method("bayes", "mixing"),
]


@pytest.mark.parametrize("method", STAGE2, ids=lambda m: m.label + "/" + m.random)
def test_every_stage2_method_recovers_the_planted_linear_surface(linear_data, method):
    data, _ = linear_data
    result = fit_ite(
        data,
        method.stage1,
        method.stage2,
        random=method.random,
        weights=method.weights,
        n_boot=10,
        seed=3,
    )
    pred = result.predict(PROFILES)
    truth = true_ite(LINEAR, PROFILES)
    # the target (the average trial's ITE) is estimated with SE pred.se: 4 SE covers it
    # unless the method is biased
    assert np.all(np.abs(pred.ite - truth) < 4 * pred.se)
    assert np.all(pred.ci_low < pred.ite) and np.all(pred.ite < pred.ci_high)
    assert np.all(pred.pi_high - pred.pi_low >= pred.ci_high - pred.ci_low - 1e-12)
    assert np.all(pred.se < 0.15)  # informative: 8 trials x 400 rows, sigma 1


def test_mvma_coefficients_cover_the_planted_ones(linear_data):
    data, _ = linear_data
    out = fit_ite(data, "ols", "mvma").coefficients()
    planted = {"treat": LINEAR.mu, "treat:x1": LINEAR.gamma[0], "treat:x2": LINEAR.gamma[1]}
    for term, value in planted.items():
        node = out["pooled"][term]
        assert abs(node["estimate"] - value) < 4 * node["se"]


def test_results_do_not_depend_on_which_trials_are_fitted_together(linear_data):
    data, _ = linear_data
    a = fit_ite(data, "bayes", "mixing", seed=9).predict(PROFILES)
    b = fit_ite(data, "bayes", "mixing", seed=9).predict(PROFILES)
    assert np.array_equal(a.pi_low, b.pi_low)


# ------------------------------------------------------------- validation


def test_c_for_benefit_closed_forms():
    treat = np.array([1, 1, 0, 0])
    # pairs (by rank): (t 0.1, c 0.1) obs 0-0 = 0; (t 0.9, c 0.9) obs 1-0 = 1: concordant
    assert c_for_benefit(np.array([0.1, 0.9, 0.1, 0.9]), treat, np.array([0, 1, 0, 0])) == 1.0
    assert c_for_benefit(np.array([0.9, 0.1, 0.9, 0.1]), treat, np.array([0, 1, 0, 0])) == 0.0
    # equal predictions: every comparison is a tie
    assert c_for_benefit(np.zeros(4), treat, np.array([0, 1, 0, 0])) == 0.5


def test_internal_external_tables(linear_data):
    data, _ = linear_data
    small = data.select(data.studies[:4])
    iecv = internal_external(small, [Method("ols", "mvma"), Method("ols", "weighted")], groups=3)
    cal = iecv.calibration()
    assert len(cal) == 2 * 4 * 3
    assert {"method", "study", "group", "predicted", "observed", "observed_se"} <= set(cal)
    summary = iecv.summary()
    assert list(summary.index) == ["ols+mvma", "ols+weighted (auxiliary)"]
    assert np.isnan(summary["c_for_benefit"]).all()  # continuous outcome
    # a linear surface fitted by linear models: calibrated within a few group SEs
    assert (summary["calibration_mae"] < 3 * cal["observed_se"].mean()).all()
    fig = iecv.plot()
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2


def test_binary_outcome_reports_c_for_benefit():
    rng = np.random.default_rng(4)
    frame, _ = simulate_ite(Scenario(n_trials=3, n_per_trial=300), seed=5)
    frame = frame.assign(y=(rng.random(len(frame)) < 1 / (1 + np.exp(-frame["y"]))).astype(int))
    data = _data(frame)
    assert data.binary
    summary = internal_external(data, [Method("ols", "weighted")], groups=2).summary()
    assert 0.0 <= summary["c_for_benefit"].iloc[0] <= 1.0


# ------------------------------------------------------------- simulation runner

TINY = Scenario(n_trials=3, n_per_trial=60)
TINY_METHODS = (Method("ols", "mvma", random="treatment"), Method("ols", "weighted"))


def test_grid_rows_are_identical_however_split():
    grid = run_grid([TINY], TINY_METHODS, replicates=2, seed=7, n_test=50)
    whole = grid.table
    assert list(grid.summary()["replicates"]) == [2, 2]
    assert len(grid.plot().axes) == 1
    second = pd.DataFrame(evaluate_replicate(0, TINY, 1, TINY_METHODS, 7, n_test=50))
    cols = ["scenario", "replicate", "method", "mae"]
    pd.testing.assert_frame_equal(
        whole[whole["replicate"] == 1][cols].reset_index(drop=True), second[cols]
    )


def test_grid_on_dask_matches_in_process():
    distributed = pytest.importorskip("distributed")
    local = run_grid([TINY], TINY_METHODS, replicates=2, seed=7, n_test=50).table
    with distributed.Client(
        processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None
    ) as client:
        remote = run_grid(
            [TINY], TINY_METHODS, replicates=2, seed=7, n_test=50, client=client
        ).table
    cols = ["scenario", "replicate", "method", "mae"]
    pd.testing.assert_frame_equal(local[cols], remote[cols])


@pytest.mark.slow
def test_ml_beats_ols_on_a_nonlinear_surface_with_large_n():
    scenario = Scenario(n_trials=5, n_per_trial=2000, surface="nonlinear")
    methods = (Method("ols", "mvma"), Method("forest", "weighted"), Method("boosting", "weighted"))
    summary = run_grid([scenario], methods, replicates=3, seed=1).summary().set_index("method")
    ols = summary.loc["ols+mvma", "mae_median"]
    assert summary.loc["forest+weighted (auxiliary)", "mae_median"] < ols
    assert summary.loc["boosting+weighted (auxiliary)", "mae_median"] < ols


# ------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("ite")
    frame, _ = simulate_ite(Scenario(n_trials=5, n_per_trial=150), seed=8)
    frame.drop(columns="true_ite").to_csv(root / "ipd.csv", index=False)
    pd.DataFrame({"id": [3, 1, 2], "x1": [-1.0, 0.0, 1.5], "x2": [0.5, 0.0, -1.0]}).to_csv(
        root / "new.csv", index=False
    )
    return root


def _cli(files, *extra, new="new.csv"):
    return [
        str(files / "ipd.csv"),
        "--study",
        "trial",
        "--treatment",
        "treat",
        "--outcome",
        "y",
        "--covariates",
        "x1,x2",
        "--new",
        str(files / new),
        *extra,
    ]


def test_cli_json_contract(files, capsys):
    assert main(["ite", *_cli(files), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == [
        "stage1",
        "stage2",
        "k",
        "pooled",
        "between_trial_sd",
        "between_trial_cor",
        "predictions",
    ]
    assert (out["stage1"], out["stage2"], out["k"]) == ("ols", "mvma", 5)
    assert list(out["pooled"]) == ["treat", "treat:x1", "treat:x2"]
    assert set(out["pooled"]["treat"]) == {"estimate", "se"}
    assert np.shape(out["between_trial_cor"]) == (3, 3)
    preds = out["predictions"]
    assert [p["x1"] for p in preds] == [-1.0, 0.0, 1.5]  # the file's order
    assert list(preds[0]) == ["x1", "x2", "ite", "se", "ci_low", "ci_high", "pi_low", "pi_high"]


def test_cli_ml_stage1_has_no_coefficients(files, capsys):
    assert main(["ite", *_cli(files), "--stage1", "ridge", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["stage1", "stage2", "k", "predictions"]
    assert out["stage2"] == "weighted"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pd.DataFrame({"x1": [0.0]}), "lack covariate column 'x2'"),
        (pd.DataFrame({"x1": [0.0, 1.0], "x2": [0.0, "high"]}), "'x2'.*'high' in row 2"),
    ],
)
def test_cli_bad_patients(files, capsys, table, message):
    table.to_csv(files / "bad.csv", index=False)
    assert main(["ite", *_cli(files, new="bad.csv"), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error:")
    assert pytest.importorskip("re").search(message, err)


def test_cli_unfittable_trial_is_named(files, tmp_path, capsys):
    frame = pd.read_csv(files / "ipd.csv")
    frame = frame[~((frame["trial"] == "T03") & (frame["treat"] == 0))]
    frame.to_csv(tmp_path / "one_arm.csv", index=False)
    args = _cli(files)
    args[0] = str(tmp_path / "one_arm.csv")
    assert main(["ite", *args]) == 2
    assert "trial 'T03'" in capsys.readouterr().err


def test_patient_matrix_refuses_an_empty_table(linear_data):
    data, _ = linear_data
    result = fit_ite(data, "ols", "weighted")
    with pytest.raises(IPDDataError, match="no rows"):
        result.predict(pd.DataFrame({"x1": [], "x2": []}))
    x, _ = new_patients(LINEAR, 3, 1)
    assert result.predict(x).ite.shape == (3,)
