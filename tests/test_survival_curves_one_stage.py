"""One-stage survival estimands: RMST differences, survival curves per arm for each trial
and a new trial, the hazard ratio over time, median survival, the log-cumulative-hazard
check.

The closed forms are checked against numerical integration (scipy) and exponential
formulas; the fitted quantities against a constant-hazard (exponential) simulation whose
truth is known. MCMC budget: one fit, 3 trials x 300 participants, 2 chains x 200 draws
after 300 tuning steps (a few seconds).
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import integrate

from bayes_ipd.checks.arm_hazards import arm_hazards, new_trial_arm_hazards
from bayes_ipd.checks.piecewise_survival import median_time, restricted_mean, survival_function
from bayes_ipd.checks.rmst import (
    AVERAGE,
    check_horizons,
    follow_up_times,
    rmst_difference,
    rmst_difference_draws,
)
from bayes_ipd.data import IPD
from bayes_ipd.errors import SpecError
from bayes_ipd.one_stage.fitting import fit
from bayes_ipd.simulate import simulate_survival
from bayes_ipd.spec import ModelSpec, SamplerSettings

SAMPLER = SamplerSettings(draws=200, tune=300, chains=2, seed=5, progress=False)
CUTS = (1.0, 2.0, 3.0)
MU = -0.5  # simulation truth: log hazard ratio
LOG_RATE = -1.2  # log lambda_k mean (exponential: shape 1)


# ----------------------------------------------------------------- closed forms


@pytest.mark.parametrize("horizon", [0.5, 1.0, 2.7, 3.0, 7.5])
def test_restricted_mean_equals_numerical_integral(horizon):
    rng = np.random.default_rng(1)
    log_h = rng.normal(-1.0, 0.8, size=(5, 4))
    cuts = (1.0, 2.0, 3.0)
    closed = restricted_mean(log_h, cuts, horizon)
    for row, value in zip(log_h, closed, strict=True):
        numeric, _err = integrate.quad(
            lambda t, r=row: float(survival_function(r, cuts, np.array([t]))[0]),
            0.0,
            horizon,
            points=[c for c in cuts if c < horizon],
            epsabs=1e-13,
            epsrel=1e-12,
        )
        assert value == pytest.approx(numeric, abs=1e-10)


def test_restricted_mean_exponential_closed_form():
    # S(t) = exp(-l t): RMST(h) = (1 - exp(-l h)) / l, whatever the cut points
    for rate, h in [(0.1, 10.0), (2.0, 0.3), (1e-14, 5.0)]:
        expected = -math.expm1(-rate * h) / rate
        for cuts in [(), (0.1, 4.0), (1.0, 2.0, 3.0)]:
            log_h = np.full(len(cuts) + 1, math.log(rate))
            assert float(restricted_mean(log_h, cuts, h)) == pytest.approx(expected, rel=1e-12)
    # the zero-hazard limit: RMST(h) = h
    assert float(restricted_mean(np.array([-800.0]), (), 5.0)) == pytest.approx(5.0)


def test_median_time_piecewise_hand_computed():
    # H(2) = 0.2, H(5) = 0.8 > log 2: median = 2 + (log 2 - 0.2) / 0.2
    log_h = np.log([0.1, 0.2, 0.05])
    assert float(median_time(log_h, (2.0, 5.0))) == pytest.approx(2 + (math.log(2) - 0.2) / 0.2)
    assert float(median_time(np.log([0.1]), ())) == pytest.approx(math.log(2) / 0.1)
    assert np.isinf(median_time(np.log([0.1]), (), until=5.0))


@pytest.mark.parametrize("bad", [0, -1.0, [24, 0], [24, 24], math.inf, []])
def test_bad_horizons_are_refused(bad):
    with pytest.raises(SpecError, match="horizon"):
        check_horizons(bad)


def test_spec_horizons():
    spec = ModelSpec("survival", rmst_horizons=[24, 36])
    assert spec.rmst_horizons == (24.0, 36.0)
    assert spec.to_dict()["rmst_horizons"] == [24.0, 36.0]
    assert "rmst_horizons" not in ModelSpec("survival").to_dict()  # unchanged JSON
    with pytest.raises(SpecError, match=r"model.rmst_horizons: horizon 0 must be > 0"):
        ModelSpec("survival", rmst_horizons=[0])
    with pytest.raises(SpecError, match="survival outcome"):
        ModelSpec("gaussian", rmst_horizons=[1.0])


# ------------------------------------------------------------------ a fitted model


@pytest.fixture(scope="module")
def exponential_data():
    return simulate_survival(
        n_studies=3,
        n_per_study=300,
        mu=MU,
        tau=0.05,
        shape=1.0,
        log_scale_mean=LOG_RATE,
        log_scale_sd=0.2,
        beta_smoking=0.0,
        beta_sbp=0.0,
        beta_age=0.0,
        beta_bmi=0.0,
        follow_up=4.0,
        seed=2611,
    )


@pytest.fixture(scope="module")
def fitted(exponential_data):
    frame, _ = exponential_data
    ipd = IPD.from_frame(
        frame, study="trial", treatment="treat", time="time", event="event", family="survival"
    )
    spec = ModelSpec("survival", intervals=CUTS, rmst_horizons=[2.0, 3.5])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(ipd, spec, SAMPLER)
    return ipd, result


def _true_rmst_difference(log_rate: float, theta: float, h: float) -> float:
    rate0, rate1 = math.exp(log_rate), math.exp(log_rate + theta)
    return -math.expm1(-rate1 * h) / rate1 + math.expm1(-rate0 * h) / rate0


def test_rmst_difference_recovers_exponential_truth(fitted, exponential_data):
    """Each trial's posterior RMST difference covers its exponential truth.

    The model is correctly specified (a constant hazard is piecewise constant); 3 trials x
    2 horizons inside 99.9% intervals (6 strongly correlated checks) fail by chance with
    probability below 1%.
    """
    _, truth = exponential_data
    _, result = fitted
    table = rmst_difference(result, [2.0, 3.5], level=0.998)
    for k, study in enumerate(truth.studies):
        for h in (2.0, 3.5):
            row = table[(table["study"] == study) & (table["horizon"] == h)].iloc[0]
            true = _true_rmst_difference(truth.log_scale[k], truth.theta[k], h)
            assert row["q001"] <= true <= row["q999"], (study, h, true)
            assert row["r_hat"] < 1.05
    # the average row is the equal-weight mean of the trials, draw by draw
    hazards = arm_hazards(result)
    draws = rmst_difference_draws(hazards, [2.0])
    avg = table[(table["study"] == AVERAGE) & (table["horizon"] == 2.0)].iloc[0]
    assert avg["mean"] == pytest.approx(draws[:, :, 0].mean(), rel=1e-12)


def test_rmst_difference_is_the_difference_of_arm_integrals(fitted):
    _, result = fitted
    hazards = arm_hazards(result)
    draws = rmst_difference_draws(hazards, [3.5])
    s, k = 7, 1
    log_h = hazards.log_hazard[s, k]
    numeric = [
        integrate.quad(
            lambda t, a=a: float(survival_function(log_h[a], CUTS, np.array([t]))[0]),
            0,
            3.5,
            points=CUTS,
        )[0]
        for a in (0, 1)
    ]
    assert draws[s, k, 0] == pytest.approx(numeric[1] - numeric[0], abs=1e-9)


def test_rmst_json_nodes_and_extrapolation_warning(fitted):
    ipd, result = fitted
    doc = json.loads(result.to_json())
    nodes = doc["posterior"]["rmst_difference"]
    assert [n["horizon"] for n in nodes] == [2.0, 3.5]
    assert set(nodes[0]) == {"horizon", "mean", "sd", "median", "q025", "q975", "ess_bulk", "r_hat"}
    by_study = doc["posterior"]["rmst_difference_by_study"]
    assert list(by_study) == list(result.built.design.studies)
    assert [n["horizon"] for n in by_study["T01"]] == [2.0, 3.5]
    assert "RMST difference (experimental minus control" in repr(result)
    assert "  up to 3.5: median" in repr(result)
    follow = follow_up_times(ipd, result.built.design.studies)
    assert max(follow.values()) <= 4.0
    with pytest.warns(UserWarning, match=r"RMST horizon 6 is beyond the last follow-up"):
        table = result.rmst_difference([6.0], ipd=ipd)
    assert table["extrapolated"].all()
    with pytest.raises(SpecError, match="must be > 0"):
        result.rmst_difference([-1])


def test_survival_curves_cover_truth_and_new_trial(fitted, exponential_data):
    _, truth = exponential_data
    _, result = fitted
    times = np.linspace(0.0, 4.0, 21)
    curves = result.survival_curves(times=times, level=0.998)
    assert set(curves["study"]) == {*truth.studies, "new trial"}
    for k, study in enumerate(truth.studies):
        for a, arm in enumerate(("control", "treated")):
            rows = curves[(curves["study"] == study) & (curves["arm"] == arm)]
            rate = math.exp(truth.log_scale[k] + a * truth.theta[k])
            true = np.exp(-rate * times)
            assert np.all(rows["q001"].to_numpy() <= true + 1e-12)
            assert np.all(true <= rows["q999"].to_numpy() + 1e-12)
            assert np.all(np.diff(rows["median"].to_numpy()) <= 1e-12)
    new = curves[curves["study"] == "new trial"]
    assert new["time"].iloc[0] == 0 and new["median"].iloc[0] == 1.0


def test_new_trial_baselines(fitted):
    _, result = fitted
    base = arm_hazards(result).log_hazard[:, :, 0, :]
    average = new_trial_arm_hazards(result).log_hazard[:, 0, 0, :]
    np.testing.assert_allclose(average, base.mean(axis=1))
    sampled = new_trial_arm_hazards(result, baseline="sampled").log_hazard[:, 0, 0, :]
    hit = (np.abs(base - sampled[:, None, :]).max(axis=2) == 0).any(axis=1)
    assert hit.all()  # every draw's baseline is one trial's
    theta_new = result.predict_new_study().values.reshape(-1)
    hr = new_trial_arm_hazards(result).log_hazard_ratio[:, 0, :]
    np.testing.assert_allclose(hr, np.repeat(theta_new[:, None], len(CUTS) + 1, axis=1))
    with pytest.raises(ValueError, match="baseline"):
        new_trial_arm_hazards(result, baseline="mean")


def test_hazard_ratio_curve_is_flat_under_ph(fitted):
    _, result = fitted
    curve = result.hazard_ratio_curve()
    pooled = curve[curve["kind"] == "pooled"]
    assert pooled["start"].tolist() == [0.0, *CUTS]
    assert np.isinf(pooled["end"].iloc[-1])
    mu = result.idata.posterior["mu"].values.reshape(-1)
    assert pooled["median"].nunique() == 1
    assert pooled["median"].iloc[0] == pytest.approx(math.exp(np.median(mu)), rel=1e-12)
    new = curve[curve["kind"] == "new trial"]
    assert (new["q975"] >= pooled["q975"].to_numpy() - 1e-12).all()


def test_median_survival_reached_or_not(fitted, exponential_data):
    _, truth = exponential_data
    _, result = fitted
    table = result.median_survival(level=0.998, until=100.0)
    for k, study in enumerate(truth.studies):
        for a, arm in enumerate(("control", "treated")):
            row = table[(table["study"] == study) & (table["arm"] == arm)].iloc[0]
            true = math.log(2) / math.exp(truth.log_scale[k] + a * truth.theta[k])
            assert row["reached"] and row["q001"] <= true <= row["q999"]
    short = result.median_survival(until=0.5)  # medians are ~2.3 and ~3.8 years
    assert not short["reached"].any() and short["median"].isna().all()


def test_figures(fitted):
    ipd, result = fitted
    for fig in (
        result.survival_curves_plot(),
        result.hazard_ratio_plot(),
        result.log_cumulative_hazard_ppc(ipd, draws=50),
    ):
        assert isinstance(fig, Figure)
    fig = result.survival_curves_plot()
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_visible()]
    assert titles[:4] == ["T01", "T02", "T03", "new trial"]


# ------------------------------------------- a model whose effect changes with time


@pytest.fixture(scope="module")
def per_period(fitted):
    ipd, _ = fitted
    spec = ModelSpec(
        "survival", intervals=CUTS, treatment_by_interval=(2.0,), rmst_horizons=[2.0, 3.5]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(ipd, spec, SAMPLER)


def test_per_period_model_hazard_ratio_steps_and_rmst(per_period, exponential_data):
    """With one log HR per period (helper C's model), the pooled HR curve steps at the
    period cut (its medians are those of ``mu_period``), and each draw's RMST difference
    integrates the treated arm with the log HR of each interval (``log_hr_interval``)."""
    _, truth = exponential_data
    result = per_period
    post = result.idata.posterior
    curve = result.hazard_ratio_curve(new_trial=False)
    mu_p = post["mu_period"].values.reshape(-1, 2)
    # intervals [0, 1) and [1, 2) lie in period 0, [2, 3) and [3, inf) in period 1
    expected = np.exp(np.median(mu_p, axis=0))[[0, 0, 1, 1]]
    np.testing.assert_allclose(curve["median"].to_numpy(), expected, rtol=1e-12)
    log_hr = post["log_hr_interval"].transpose("chain", "draw", "study", "interval").values
    hazards = arm_hazards(result)
    np.testing.assert_allclose(hazards.log_hazard_ratio, log_hr.reshape(-1, 3, 4), atol=1e-12)
    # truth is proportional (one log HR): the per-period RMST still covers it
    table = result.rmst_difference(level=0.998)
    for k, study in enumerate(truth.studies):
        row = table[(table["study"] == study) & (table["horizon"] == 3.5)].iloc[0]
        true = _true_rmst_difference(truth.log_scale[k], truth.theta[k], 3.5)
        assert row["q001"] <= true <= row["q999"]


def test_run_outputs_and_report_section(fitted, tmp_path):
    """``run --out`` writes the survival figures and the report shows them with the median
    and RMST tables (an AnalysisResult around the fitted model; the spec's data are not
    read again)."""
    from bayes_ipd.analysis import AnalysisResult
    from bayes_ipd.report import render_report
    from bayes_ipd.spec import parse_analysis_spec

    ipd, result = fitted
    text = (
        '[data]\npath = "dataset:survival_trials.csv"\nstudy = "trial"\ntreatment = "treat"\n'
        'time = "time"\nevent = "event"\nfamily = "survival"\n'
        "[model]\nintervals = [1.0, 2.0, 3.0]\nrmst_horizons = [2.0, 3.5]\n"
    )
    spec = parse_analysis_spec(text, tmp_path)
    analysis = AnalysisResult(spec, result, None, None, ipd=ipd)
    written = analysis.write(tmp_path / "out")
    for kind in ("survival_curves", "hazard_ratio", "km_ppc", "log_cumulative_hazard"):
        assert written[kind].name == f"{kind}.png" and written[kind].stat().st_size > 0
    html = render_report(analysis)
    section = html[html.index('id="survival"') :]
    assert "Median survival per arm" in section and "RMST difference" in section
    assert "average of trials" in section
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [n["horizon"] for n in summary["posterior"]["rmst_difference"]] == [2.0, 3.5]


def test_saved_result_keeps_its_horizons(fitted, tmp_path):
    from bayes_ipd.one_stage.result import load

    _, result = fitted
    again = load(result.save(tmp_path / "fit.nc"))
    assert again.built.spec.rmst_horizons == (2.0, 3.5)
    before = result.to_dict()["posterior"]["rmst_difference"]
    assert again.to_dict()["posterior"]["rmst_difference"] == before


# ------------------------------------------------------- coverage (slow, >= 200 replicates)

COVERAGE_HORIZONS = (12.0, 36.0, 60.0)


def _true_period_rmst_difference(truth, k: int, h: float) -> float:
    """Trial k's true RMST difference up to h: Weibull control hazard times exp(theta_kp)."""
    edges = np.r_[0.0, truth.period_cuts, np.inf]
    lo, hi = edges[:-1], edges[1:]

    def survival(t, theta):
        pieces = np.clip(np.minimum(t, hi), lo, None) ** truth.shape - lo**truth.shape
        return math.exp(-math.exp(truth.log_scale[k]) * float(np.sum(np.exp(theta) * pieces)))

    points = [c for c in truth.period_cuts if c < h]

    def area(theta):
        return integrate.quad(lambda t: survival(t, theta), 0, h, points=points)[0]

    return area(truth.theta[k]) - area(np.zeros(len(edges) - 1))


def rmst_coverage_replicate(r: int) -> list[bool]:
    """One crossing-hazards meta-analysis (6 trials of 300; truth mu = (-0.5, 0, 0.5) in
    months [0, 12), [12, 36), [36, 60], tau = 0.1, Weibull shape 1.2): whether the 95%
    interval of the average-of-trials RMST difference covers its truth (the mean of the six
    trials' true differences) at 12, 36 and 60 months."""
    from bayes_ipd.simulate import simulate_survival_periods

    frame, truth = simulate_survival_periods(n_studies=6, n_per_study=300, seed=5000 + r)
    ipd = IPD.from_frame(
        frame, study="trial", treatment="treat", time="time", event="event", family="survival"
    )
    spec = ModelSpec(
        "survival",
        intervals=(6.0, 12.0, 24.0, 36.0, 48.0),
        treatment_by_interval=(12.0, 36.0),
        rmst_horizons=COVERAGE_HORIZONS,
    )
    sampler = SamplerSettings(draws=500, tune=500, chains=2, seed=r, target_accept=0.95)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(ipd, spec, dataclasses.replace(sampler, progress=False))
    nodes = result.to_dict()["posterior"]["rmst_difference"]
    true = [
        np.mean([_true_period_rmst_difference(truth, k, h) for k in range(len(truth.studies))])
        for h in COVERAGE_HORIZONS
    ]
    return [bool(n["q025"] <= t <= n["q975"]) for n, t in zip(nodes, true, strict=True)]


@pytest.mark.slow
def test_rmst_coverage_over_200_replicates():
    """Coverage of the one-stage per-period model's 95% intervals of the average RMST
    difference over 200 crossing-hazards meta-analyses. Run with
    ``python -m pytest -q -n 0 -m slow tests/test_survival_curves_one_stage.py``; measured
    0.945 / 0.945 / 0.940 at 12 / 36 / 60 months (docs/survival.md)."""
    inside = np.array([rmst_coverage_replicate(r) for r in range(200)])
    coverage = inside.mean(axis=0)
    mc_se = math.sqrt(0.95 * 0.05 / len(inside))
    print(f"RMST coverage at {COVERAGE_HORIZONS}: {coverage}, MC SE {mc_se:.4f}")
    assert np.all(np.abs(coverage - 0.95) < 3.5 * mc_se), coverage


def test_single_interval_model_without_rows(fitted):
    """One baseline interval and no participant rows: no time scale for the curves' default
    grid, so the figures are the hazard ratio only; curves need ``times=``."""
    from bayes_ipd.one_stage.survival_estimands import survival_figures, survival_tables

    ipd, _ = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(ipd, ModelSpec("survival", intervals=1), SAMPLER)
    assert list(survival_figures(result)) == ["hazard_ratio"]
    with pytest.raises(ValueError, match="needs times="):
        result.survival_curves()
    curves = result.survival_curves(times=[0.0, 1.0, 2.0], new_trial=False)
    assert len(curves) == 3 * 2 * 3
    assert survival_tables(result)["median"]["reached"].all()  # constant hazard: extrapolated
    assert set(survival_figures(result, ipd)) == {
        "survival_curves",
        "hazard_ratio",
        "km_ppc",
        "log_cumulative_hazard",
    }
