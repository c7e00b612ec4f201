"""Survival outcomes: Kaplan-Meier, predictive survival curves, interval-event checks, and
one-stage survival fits against simulation truths and the two-stage Cox route.

MCMC budget: three data sets, two compiled model structures (the event-free-trial fit reuses
the compiled model of the Weibull fit, the summary fit that of the exponential fit), each
sampled with 2 chains x 300 draws after 400 tuning steps. Monte Carlo tolerances follow
tests/test_fitting.py: a posterior mean is compared within 4 x MCSE plus a stated bound.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from matplotlib.figure import Figure

from bayes_ipd.checks.survival import (
    cumulative_baseline_hazard,
    event_free_trials,
    hazard_ratio_summary,
    interval_event_ppc,
    interval_event_ppc_plot,
    interval_labels,
    kaplan_meier,
    km_ppc,
    participant_design_rows,
    predictive_survival,
    warn_event_free_trials,
)
from bayes_ipd.data import IPD
from bayes_ipd.datasets import load_survival_ipd
from bayes_ipd.errors import IPDDataError
from bayes_ipd.one_stage.design import build_design
from bayes_ipd.one_stage.fitting import fit
from bayes_ipd.one_stage.summaries import TrialSummary, summarise
from bayes_ipd.simulate import simulate_survival
from bayes_ipd.spec import ModelSpec, SamplerSettings
from bayes_ipd.two_stage import two_stage

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # benchmarks/ is not an installed package
    sys.path.insert(0, str(REPO))

SAMPLER = SamplerSettings(draws=300, tune=400, chains=2, seed=11, progress=False)

# Weibull data set: large trials, no prognostic covariates (their effects are set to 0 so
# that the covariate-free model is correctly specified apart from the baseline shape).
WEIBULL_MU, WEIBULL_TAU, WEIBULL_SHAPE = -0.29, 0.15, 1.5  # simulation truth
WEIBULL_CUTS = (0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 4.0)  # 8 intervals over 5 years
WEAK_PRIORS = {"effect": "normal(0, 10)", "tau": "half_normal(2)"}

# Exponential data set: constant hazard, one binary covariate (smoking).
EXP_CUTS = (1.0, 2.0, 3.0)
EXP_BETA_SMOKING = 0.5


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _mcse(result, name: str) -> float:
    return float(az.mcse(result.idata, var_names=[name])[name])


def _survival_ipd(frame: pd.DataFrame, covariates: tuple[str, ...] = ()) -> IPD:
    return IPD.from_frame(
        frame,
        study="trial",
        treatment="treat",
        time="time",
        event="event",
        covariates=covariates,
        family="survival",
    )


# --------------------------------------------------------------------------- Kaplan-Meier


def test_kaplan_meier_hand_computed():
    # At t=1: 4 at risk, 1 event -> 3/4; t=2: 3 at risk (the censoring at 2 counts as at
    # risk), 1 event -> 3/4 * 2/3 = 1/2; t=3: 1 at risk, 1 event -> 0.
    times, surv = kaplan_meier([2.0, 1.0, 2.0, 3.0], [1, 1, 0, 1])
    np.testing.assert_array_equal(times, [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(surv, [1.0, 0.75, 0.5, 0.0], rtol=0, atol=1e-15)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kaplan_meier_matches_lifelines(seed):
    rng = np.random.default_rng(seed)
    n = 300
    # Rounded times give ties among events and between events and censorings.
    time = np.round(rng.exponential(2.0, n), 1) + 0.1
    event = (rng.uniform(size=n) < 0.7).astype(int)
    times, surv = kaplan_meier(time, event)
    kmf = KaplanMeierFitter().fit(time, event)
    expected = kmf.survival_function_.iloc[:, 0]
    np.testing.assert_allclose(times, expected.index.to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(surv, expected.to_numpy(), rtol=1e-12, atol=1e-14)


def test_kaplan_meier_matches_lifelines_on_shipped_trials():
    ipd = load_survival_ipd()
    rows = (ipd.study == 0) & (ipd.treat == 1)
    times, surv = kaplan_meier(ipd.time[rows], ipd.event[rows])
    expected = KaplanMeierFitter().fit(ipd.time[rows], ipd.event[rows]).survival_function_
    np.testing.assert_allclose(times, expected.index.to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(surv, expected.iloc[:, 0].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    ("time", "event", "message"),
    [
        ([1.0, 0.0], [1, 0], "time must be finite and > 0; value 0.0"),
        ([1.0, -2.0], [1, 0], "value -2.0"),
        ([1.0, np.nan], [1, 0], "value nan"),
        ([1.0, 2.0], [1, 2], "event must be 0 or 1; value 2.0"),
        ([1.0, 2.0], [1], "time has 2 values but event has 1"),
        ([], [], "no survival times"),
    ],
)
def test_kaplan_meier_refuses_bad_input(time, event, message):
    with pytest.raises(IPDDataError, match=message.replace("(", r"\(")):
        kaplan_meier(time, event)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [("time", 0.0, r"'time' must be > 0"), ("event", 2, r"event 'event' must be 0 or 1")],
)
def test_participant_data_refuses_bad_survival_values(column, value, message):
    frame, _ = simulate_survival(n_studies=2, n_per_study=20, seed=5)
    frame.loc[3, column] = value
    with pytest.raises(IPDDataError, match=message):
        _survival_ipd(frame)


# ------------------------------------------------------------------- piecewise hazard


def test_cumulative_baseline_hazard_closed_form():
    # Hazards 0.1, 0.2, 0.4 on [0, 1), [1, 2), [2, inf):
    # H(0.5) = 0.05; H(1.5) = 0.1 + 0.5 * 0.2 = 0.2; H(3) = 0.1 + 0.2 + 0.4 = 0.7.
    log_h = np.log([[0.1, 0.2, 0.4]])
    out = cumulative_baseline_hazard(log_h, (1.0, 2.0), np.array([0.0, 0.5, 1.5, 3.0]))
    np.testing.assert_allclose(out, [[0.0, 0.05, 0.2, 0.7]], rtol=1e-12)


def test_interval_labels():
    assert interval_labels((0.75, 2.0)) == ("[0, 0.75)", "[0.75, 2)", "[2, inf)")


# ============================================================================ fits
# --------------------------------------------------------------------- Weibull, large


@pytest.fixture(scope="module")
def weibull_data():
    frame, truth = simulate_survival(
        n_studies=10,
        n_per_study=1500,
        mu=WEIBULL_MU,
        tau=WEIBULL_TAU,
        shape=WEIBULL_SHAPE,
        beta_smoking=0.0,
        beta_sbp=0.0,
        beta_age=0.0,
        beta_bmi=0.0,
        seed=20240611,
    )
    return frame, truth


@pytest.fixture(scope="module")
def weibull_spec():
    # Centred form fixed (not "auto") so that the event-free variant of these data compiles
    # to the same program and reuses it.
    return ModelSpec(
        family="survival", intervals=WEIBULL_CUTS, priors=WEAK_PRIORS, parameterisation="centred"
    )


@pytest.fixture(scope="module")
def weibull_fit(weibull_data, weibull_spec):
    ipd = _survival_ipd(weibull_data[0])
    return ipd, _quiet(fit, ipd, weibull_spec, SAMPLER)


@pytest.fixture(scope="module")
def weibull_cox(weibull_fit):
    return two_stage(weibull_fit[0], method="REML", hksj=True)


def test_recovers_true_mu_and_tau(weibull_fit, weibull_data):
    """Truth inside the 95% posterior intervals (Weibull shape 1.5: rising hazard).

    For a calibrated posterior each interval misses its truth with probability 0.05 over
    data sets; the seed is fixed, so the check is deterministic. It would fail for a sign
    error in the treatment column or a baseline that cannot follow the rising hazard (which
    biases the log HR when arms differ in follow-up).
    """
    _, result = weibull_fit
    table = result.summary()
    assert table.loc["effect", "q025"] < WEIBULL_MU < table.loc["effect", "q975"]
    assert table.loc["tau", "q025"] < WEIBULL_TAU < table.loc["tau", "q975"]
    # Per trial: if each 95% interval covers with probability 0.95, fewer than 8 of 10
    # covering has probability P(Bin(10, 0.95) <= 7) = 0.012.
    effects = result.study_effects()
    theta = weibull_data[1].theta
    covered = (effects["q025"].to_numpy() < theta) & (theta < effects["q975"].to_numpy())
    assert covered.sum() >= 8


def test_pooled_log_hr_agrees_with_two_stage_cox(weibull_fit, weibull_cox):
    """mu's posterior mean is within 0.2 SE of the REML pooled Cox log HR (+ 4 MCSE).

    With equal trial sizes the trials' weights hardly depend on tau, so the Bayesian mean
    (which averages over tau) and REML (which plugs in its estimate) weight the trials
    alike; what remains is the piecewise-exponential likelihood against Cox's partial
    likelihood (both consistent for the same log HR under proportional hazards; with 8
    intervals over a smooth hazard their difference is a small fraction of a trial's SE,
    Laird & Olivier 1981) and the weak priors, whose pull is negligible.
    """
    _, result = weibull_fit
    pooled = weibull_cox.pooled
    mu = float(result.idata.posterior["mu"].mean())
    assert abs(mu - pooled.estimate) < 0.2 * pooled.se + 4 * _mcse(result, "mu")
    tau = result.summary().loc["tau"]
    assert tau["q025"] < np.sqrt(pooled.tau2) < tau["q975"]


def test_trial_effects_near_cox_estimates(weibull_fit, weibull_cox):
    """Each shrunken log HR lies within 2 Cox SEs of its trial's Cox estimate.

    Shrinkage moves trial k by B_k (y_k - mu) with B_k = se_k² / (se_k² + tau²); as
    |y_k - mu| is rarely above 2.5 sqrt(se_k² + tau²), the move is below
    2.5 se_k · se_k / sqrt(se_k² + tau²) < 2.5 se_k · 0.6 here (se about 0.09, tau 0.15),
    i.e. 1.5 se_k; the 0.5 se_k left covers the likelihood difference and Monte Carlo
    error (MCSE about 0.005).
    """
    _, result = weibull_fit
    cox = weibull_cox.per_study
    theta = result.idata.posterior["theta"].mean(("chain", "draw"))
    for study, est, se in zip(cox.studies, cox.estimate, cox.se, strict=True):
        assert abs(float(theta.sel(study=study)) - est) < 2 * se, study


def test_interval_event_ppc_calibrated_and_has_power(weibull_fit, weibull_spec):
    ipd, result = weibull_fit
    table = interval_event_ppc(result)
    design = result.built.design
    assert len(table) == design.k * design.n_intervals * 2
    # The observed counts and exposures regroup the data exactly.
    events = table.groupby("study", sort=False)["observed"].sum()
    assert events.to_dict() == {s: float(e) for s, e in ipd.events_per_study.items()}
    exposure = table.groupby("study", sort=False)["exposure"].sum().to_numpy()
    per_trial_time = np.bincount(ipd.study, weights=ipd.time)
    np.testing.assert_allclose(exposure, per_trial_time, rtol=1e-12)
    # Summed over intervals, the replicates agree with the per-arm check of results.py
    # (independent code: Poisson draws per cell) within 4 Monte Carlo SEs of the difference.
    per_arm = table.groupby(["study", "arm"], sort=False)["rep_mean"].sum().to_numpy()
    check = result.ppc().table
    rep_sd = (check["rep_q975"] - check["rep_q025"]).to_numpy() / (2 * 1.96)
    n_draws = result.idata.posterior.sizes["draw"] * result.idata.posterior.sizes["chain"]
    bound = 4 * rep_sd * np.sqrt(2 / n_draws)
    assert np.all(np.abs(per_arm - check["rep_mean"].to_numpy()) < bound)
    # A well-specified model: posterior predictive p-values pile up near the middle
    # (Gelman, Meng & Stern 1996), so at most 10% of the 160 two-sided p-values below 0.05.
    assert (table["p_two_sided"] < 0.05).mean() <= 0.10
    # Power: the same posterior against data with a differently shaped hazard (times
    # t -> t³ / 25 keep follow-up in [0, 5] but crowd events early) misfits many intervals,
    # where the well-specified fit above had none with p < 0.05.
    frame = ipd.to_frame().assign(time=lambda d: d["time"] ** 3 / 25)
    steep = build_design(_survival_ipd(frame), weibull_spec)
    wrong = dataclasses.replace(result, built=dataclasses.replace(result.built, design=steep))
    assert (interval_event_ppc(wrong)["p_two_sided"] < 0.01).mean() > 0.25


def test_interval_event_ppc_plot(weibull_fit):
    table = interval_event_ppc(weibull_fit[1])
    fig = interval_event_ppc_plot(table, studies=["T01", "T02"])
    assert isinstance(fig, Figure)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "T01  [0, 0.75)" and len(labels) == 2 * len(WEIBULL_CUTS) + 2


def test_hazard_ratio_summary(weibull_fit):
    result = weibull_fit[1]
    hr = hazard_ratio_summary(result)
    mu = result.idata.posterior["mu"].values.ravel()
    # Quantiles commute with exp() up to the interpolation between neighbouring draws.
    np.testing.assert_allclose(hr.loc["pooled HR", "median"], np.exp(np.median(mu)), rtol=2e-3)
    assert hr.loc["pooled HR", "mean"] == pytest.approx(np.exp(mu).mean())
    assert hr.loc["pooled HR", "p_lt_1"] == pytest.approx(np.mean(mu < 0))
    effects = result.study_effects()
    np.testing.assert_allclose(
        hr.loc["HR in T03", ["q025", "q975"]].to_numpy(float),
        effects.loc["T03", ["exp_q025", "exp_q975"]].to_numpy(float),
        rtol=2e-3,
    )
    new = np.exp(result.predict_new_study().values.ravel())
    assert hr.loc["HR in a new trial", "mean"] == pytest.approx(new.mean())


# ---------------------------------------------------------------- a trial with no events


@pytest.fixture(scope="module")
def event_free_fit(weibull_data, weibull_spec):
    frame = weibull_data[0].copy()
    frame.loc[frame["trial"] == "T04", "event"] = 0  # everyone censored at their time
    with pytest.warns(UserWarning, match="T04"):
        ipd = _survival_ipd(frame)
    return ipd, _quiet(fit, ipd, weibull_spec, SAMPLER)


def test_event_free_trial_is_named(event_free_fit):
    ipd, result = event_free_fit
    assert event_free_trials(result.built.design) == ("T04",)
    with pytest.warns(UserWarning, match=r"'T04' have no events.*prior"):
        warn_event_free_trials(result.built.design)
    # The two-stage route cannot fit a Cox model to the trial and excludes it, naming it.
    excluded = dict(zip(*_quiet(lambda: _cox_exclusions(ipd)), strict=True))
    assert excluded["T04"] is not None


def _cox_exclusions(ipd):
    per_study = two_stage(ipd, method="REML").per_study
    return per_study.studies, per_study.excluded


def test_event_free_trial_is_prior_driven(event_free_fit):
    """The trial's baseline drifts into its prior's lower tail; its log HR follows N(mu, tau).

    Without events the likelihood exp(-E exp(alpha)) (E about 4,000 person-years) is flat
    for alpha below about -log(E) - 2 = -10 and vanishes above -6, so alpha_T04 lies far
    below the other trials' log hazards (about -3.5). Its theta then barely enters the
    likelihood, so its posterior is the new-trial distribution N(mu, tau): means agree
    within 4 MCSE of each plus 0.05 for the slight truncation of large theta.
    """
    _, result = event_free_fit
    post = result.idata.posterior
    alpha = post["alpha"]
    others = alpha.drop_sel(study="T04")
    assert float(alpha.sel(study="T04").quantile(0.975)) < -6.0
    assert float(others.quantile(0.025)) > -6.0
    theta = post["theta"].sel(study="T04").values.ravel()
    new = result.predict_new_study().values.ravel()
    mc = 4 * (np.std(theta) + np.std(new)) / np.sqrt(result.diagnostics.ess_bulk_min)
    assert abs(theta.mean() - new.mean()) < mc + 0.05
    assert np.std(theta) > 0.5 * np.std(new)


# ------------------------------------------------------------- exponential, rows vs sums


@pytest.fixture(scope="module")
def exponential_data():
    return simulate_survival(
        n_studies=3,
        n_per_study=400,
        mu=-0.4,
        tau=0.1,
        shape=1.0,
        log_scale_mean=-1.6,
        log_scale_sd=0.2,
        beta_smoking=EXP_BETA_SMOKING,
        beta_sbp=0.0,
        beta_age=0.0,
        beta_bmi=0.0,
        follow_up=4.0,
        seed=7031,
    )


@pytest.fixture(scope="module")
def exponential_fit(exponential_data):
    ipd = _survival_ipd(exponential_data[0], covariates=("smoking",))
    spec = ModelSpec(family="survival", covariates=("smoking",), intervals=EXP_CUTS)
    return ipd, spec, _quiet(fit, ipd, spec, SAMPLER)


def _true_arm_survival(frame, truth, trial_index, arm, times):
    """Exponential truth: mean over the arm's participants of exp(-lambda_k t exp(lp_i))."""
    label = truth.studies[trial_index]
    rows = frame[frame["trial"] == label]
    smoking_c = rows["smoking"] - rows["smoking"].mean()
    lp = EXP_BETA_SMOKING * smoking_c + rows["treat"] * truth.theta[trial_index]
    lp = lp[rows["treat"] == arm].to_numpy()
    rate = np.exp(truth.log_scale[trial_index] + lp)
    return np.exp(-np.outer(times, rate)).mean(axis=1)


def test_predictive_survival_covers_true_curve(exponential_fit, exponential_data):
    """The true expected survival curve of each arm lies in its 95% predictive band.

    The model is correctly specified (a constant hazard is piecewise constant), so at each
    time the truth is inside the pointwise 95% band with probability about 0.95. Points
    along one curve are strongly correlated, so a whole curve can sit just outside: we ask
    for 80% of the (trial, arm, time) points inside, and nowhere more than 0.02 outside (the
    bands are about 0.12 wide at mid follow-up, a posterior SD of 0.03, so 0.02 outside is
    beyond 2.6 posterior SDs).
    """
    frame, truth = exponential_data
    ipd, _, result = exponential_fit
    times = np.linspace(0.05, 4.0, 40)
    curves = predictive_survival(result, ipd, times=times, draws=300, seed=3)
    inside, worst = [], 0.0
    for k, label in enumerate(truth.studies):
        for a, arm in enumerate(("control", "treated")):
            t, median, low, high = curves[label][arm]
            np.testing.assert_array_equal(t, times)
            true = _true_arm_survival(frame, truth, k, a, times)
            inside.append((low <= true) & (true <= high))
            worst = max(worst, float(np.max(np.maximum(low - true, true - high))))
            assert np.all(np.diff(median) <= 1e-12)  # survival never rises
    assert np.mean(inside) >= 0.8
    assert worst <= 0.02


def test_predictive_survival_default_grid_and_shape(exponential_fit):
    ipd, _, result = exponential_fit
    curves = predictive_survival(result, ipd, draws=50)
    t, median, low, high = curves["T02"]["treated"]
    rows = ipd.study == ipd.studies.index("T02")
    assert t[0] == 0.0 and t[-1] == pytest.approx(ipd.time[rows].max())
    assert median[0] == 1.0 and np.all(low <= median) and np.all(median <= high)
    with pytest.raises(ValueError, match="finite times >= 0"):
        predictive_survival(result, ipd, times=[-1.0, 1.0])


def test_predictive_survival_needs_the_trials_rows(exponential_fit, exponential_data):
    ipd, _, result = exponential_fit
    with pytest.raises(IPDDataError, match=r"trial 'T03' has no participant rows"):
        predictive_survival(result, ipd.select_studies(["T01", "T02"]))
    # Rows of other participants under the same labels are refused, naming the trial.
    other, _ = simulate_survival(n_studies=3, n_per_study=400, shape=1.0, seed=99)
    with pytest.raises(IPDDataError, match=r"trial 'T01'.*rows the model was fitted to"):
        predictive_survival(result, _survival_ipd(other, covariates=("smoking",)))


def test_participant_rows_reproduce_the_fitted_cells(exponential_fit):
    ipd, _, result = exponential_fit
    design = result.built.design
    for k, label in enumerate(design.studies):
        z = participant_design_rows(result, ipd, label)
        fitted = np.unique(design.stats["cell_z"][design.stats["cell_study"] == k], axis=0)
        np.testing.assert_allclose(np.unique(z, axis=0), fitted, rtol=0, atol=1e-12)


def test_km_ppc_figure(exponential_fit):
    ipd, _, result = exponential_fit
    fig = km_ppc(result, ipd, draws=50)
    assert isinstance(fig, Figure)
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.get_title(loc="left")]
    assert [ax.get_title(loc="left") for ax in visible] == ["T01", "T02", "T03"]
    km_lines = [ln for ax in visible for ln in ax.get_lines() if ln.get_gid() == "km-curve"]
    assert len(km_lines) == 6


def test_summaries_give_identical_draws(exponential_fit):
    """Trial summaries (through JSON) instead of rows: the same posterior, draw for draw."""
    ipd, spec, from_rows = exponential_fit
    sent = [json.loads(json.dumps(s.to_dict())) for s in summarise(ipd, spec)]
    summaries = [TrialSummary.from_dict(d) for d in sent]
    from_sums = _quiet(fit, summaries, spec, SAMPLER)
    for name, values in from_rows.idata.posterior.data_vars.items():
        np.testing.assert_array_equal(from_sums.idata.posterior[name].values, values.values)
    # Checks that work from exposure cells are the same too; curves still need rows.
    pd.testing.assert_frame_equal(interval_event_ppc(from_sums), interval_event_ppc(from_rows))
    with pytest.raises(IPDDataError, match="no participant rows"):
        predictive_survival(from_sums, ipd.select_studies(["T02", "T03"]))


# ------------------------------------------------------ row-level Poisson formulation


def test_row_level_poisson_model_is_the_collapsed_model():
    """The benchmark's row-level "Poisson trick" model (one Poisson term per person-interval,
    log exposure as offset) has bayes_ipd's log density up to the constant sum d log E of
    the Poisson kernel (Holford 1980; Laird & Olivier 1981), at random parameter values."""
    import pytensor

    from bayes_ipd.one_stage.builder import build_model
    from benchmarks.b5_survival_ess import (
        person_interval_rows,
        row_level_survival_model,
        simulated_survival,
        survival_ipd,
        survival_spec,
    )

    frame = simulated_survival(3, 60, seed=4)
    spec = survival_spec("noncentred")
    built = build_model(build_design(survival_ipd(frame), spec), spec)
    cuts = built.design.cutpoints
    baseline = row_level_survival_model(frame, built.priors, cuts)
    _, _, exposure, died = person_interval_rows(
        frame["time"].to_numpy(float), frame["event"].to_numpy(int), cuts
    )
    constant = float(np.sum(died * np.log(exposure)))
    ours_f = pytensor.function(built.model.value_vars, built.model.logp(), mode="FAST_COMPILE")
    base_f = pytensor.function(baseline.value_vars, baseline.logp(), mode="FAST_COMPILE")
    names = [v.name for v in baseline.value_vars]
    # bayes_ipd samples coefficients per covariate SD (builder.scaled_coefficients):
    # beta_std = beta * scale, with log Jacobian sum(log scale) added back below.
    assert sorted(names) == sorted(v.name.removesuffix("_std") for v in built.model.value_vars)
    design = built.design
    scales = design.term_scales()
    inter = [design.covariate_terms.index(t) for t in design.interaction_terms]
    rng = np.random.default_rng(8)
    start = baseline.initial_point(random_seed=8)
    for _ in range(3):
        point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in start.items()}
        args, jacobian = [], 0.0
        for v in built.model.value_vars:
            value = np.asarray(point[v.name.removesuffix("_std")])
            if v.name.endswith("_std"):
                c = scales if v.name.startswith("beta") else scales[inter]
                c = np.broadcast_to(c, value.shape)
                value = value * c
                jacobian += float(np.sum(np.log(c)))
            args.append(value)
        ours = float(ours_f(*args)) + jacobian
        base = float(base_f(*[point[n] for n in names]))
        assert base - ours == pytest.approx(constant, rel=1e-9, abs=1e-6)
