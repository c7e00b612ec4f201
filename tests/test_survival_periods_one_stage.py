"""One-stage survival beyond proportional hazards (issue 26): a random treatment effect per
period, a treatment-by-log-time interaction and a spline baseline hazard.

References are closed forms (exact per-cell Poisson kernels, Weibull survival) and the
truths of planted simulations (``bayes_ipd.simulate.simulate_survival_periods``; the
shipped ``survival_crossing.csv``). MCMC runs are small; their tolerances are posterior
SDs plus Monte Carlo error.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

from bayes_ipd.data import IPD
from bayes_ipd.datasets import _generate, dataset_path
from bayes_ipd.errors import SpecError
from bayes_ipd.families.survival import split_exposure
from bayes_ipd.families.survival_time import (
    interval_periods,
    log_time_reference,
    period_labels,
    representative_log_times,
)
from bayes_ipd.one_stage.builder import build_model
from bayes_ipd.one_stage.design import build_design
from bayes_ipd.one_stage.fingerprint import model_fingerprint
from bayes_ipd.one_stage.fitting import fit
from bayes_ipd.simulate import simulate_survival, simulate_survival_periods
from bayes_ipd.spec import ModelSpec, SamplerSettings, parse_analysis_spec

CUTS = (12.0, 36.0)
GRID = (6.0, 12.0, 24.0, 36.0, 48.0)  # explicit baseline cuts: one compiled program
SAMPLER = SamplerSettings(draws=500, tune=500, chains=2, seed=7, target_accept=0.95, progress=False)


def _ipd(frame: pd.DataFrame) -> IPD:
    return IPD.from_frame(
        frame, study="trial", treatment="treat", time="time", event="event", family="survival"
    )


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _mcse(draws: np.ndarray) -> float:
    """Monte Carlo SE of a mean from (chain, draw) draws (batch means over 10 batches)."""
    flat = np.asarray(draws).reshape(-1)
    batches = flat[: flat.size // 10 * 10].reshape(10, -1).mean(axis=1)
    return float(batches.std(ddof=1) / np.sqrt(10))


# ----------------------------------------------------------------------- spec and input


def test_spec_keys_parse_round_trip_and_stay_out_of_default_dicts(tmp_path: Path):
    spec = ModelSpec("survival", treatment_by_interval=[12, 36])
    assert spec.treatment_by_interval == CUTS
    assert spec.to_dict()["treatment_by_interval"] == [12.0, 36.0]
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    smooth = ModelSpec("survival", treatment_time="log", baseline="spline", knots=[2, 10, 30])
    assert smooth.knots == (2.0, 10.0, 30.0)
    assert ModelSpec.from_dict(smooth.to_dict()) == smooth
    default = ModelSpec("survival").to_dict()
    assert not {"treatment_by_interval", "treatment_time", "baseline", "knots"} & set(default)
    model = {"treatment_by_interval": [12, 36], "intervals": 4}
    data = {"path": "x.csv", "study": "trial", "treatment": "treat", "time": "t",
            "event": "e", "family": "survival"}  # fmt: skip
    parsed = parse_analysis_spec(tomli_w.dumps({"data": data, "model": model}), tmp_path)
    assert parsed.model.treatment_by_interval == CUTS


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"treatment_by_interval": [36, 12]}, "must increase, but 12 follows 36"),
        ({"treatment_by_interval": [12, 12]}, "lists cut point 12 more than once"),
        ({"treatment_by_interval": [0, 12]}, "cut point 0 must be > 0"),
        ({"treatment_by_interval": [-3]}, "cut point -3 must be > 0"),
        ({"treatment_by_interval": [float("nan")]}, "cut point nan is not a finite number"),
        ({"treatment_by_interval": "12"}, "model.treatment_by_interval = '12'"),
        ({"treatment_time": "linear"}, "model.treatment_time = 'linear' is not allowed"),
        ({"baseline": "weibull"}, "model.baseline = 'weibull' is not allowed"),
        ({"knots": 7}, "model.knots = 7"),
        ({"knots": [1, 2], "baseline": "spline"}, "at least 3 knot times"),
        ({"knots": 3}, "needs model.baseline = 'spline'"),
        ({"treatment_by_interval": [12], "treatment_time": "log"}, "choose one"),
    ],
)
def test_bad_time_settings_are_refused_naming_the_value(changes, fragment):
    with pytest.raises(SpecError, match="model\\.") as info:
        ModelSpec("survival", **changes)
    assert fragment in str(info.value)


def test_cli_refuses_unsorted_cut_points_with_an_error_line(tmp_path: Path, capsys):
    from bayes_ipd.cli import main

    data = {"path": "dataset:survival_crossing.csv", "study": "trial", "treatment": "treat",
            "time": "time", "event": "event", "family": "survival"}  # fmt: skip
    spec = tmp_path / "bad.toml"
    spec.write_text(tomli_w.dumps({"data": data, "model": {"treatment_by_interval": [36, 12]}}))
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "but 12 follows 36" in err


def test_time_settings_need_a_survival_family_and_no_interactions():
    with pytest.raises(SpecError, match="not family 'gaussian'"):
        ModelSpec("gaussian", treatment_by_interval=[12])
    with pytest.raises(SpecError, match="interactions or moderators"):
        ModelSpec("survival", covariates=("age",), interactions=("age",), treatment_time="log")
    ModelSpec("survival", covariates=("age",), interactions=("age",), baseline="spline")


# ------------------------------------------------------------------ grids (closed forms)


def test_representative_times_and_periods_closed_form():
    x = representative_log_times((6.0, 12.0, 48.0))
    np.testing.assert_allclose(np.exp(x), [3.0, np.sqrt(72.0), 24.0, 48.0], rtol=1e-15)
    np.testing.assert_array_equal(interval_periods((6.0, 12.0, 24.0, 36.0, 48.0), CUTS),
                                  [0, 0, 1, 1, 2, 2])  # fmt: skip
    assert period_labels(CUTS) == [(0.0, 12.0), (12.0, 36.0), (36.0, None)]


@pytest.fixture(scope="module")
def crossing() -> tuple[pd.DataFrame, object]:
    shipped = pd.read_csv(dataset_path("survival_crossing.csv"))
    regenerated, truth = _generate.survival_crossing()
    pd.testing.assert_frame_equal(shipped, regenerated, check_exact=False, atol=1e-9, rtol=0)
    return shipped, truth


def test_period_cuts_join_the_baseline_cuts_and_cells_stay_exact(crossing):
    frame, _ = crossing
    ipd = _ipd(frame)
    design = build_design(ipd, ModelSpec("survival", intervals=4, treatment_by_interval=CUTS))
    assert set(CUTS) <= set(design.cutpoints)
    assert len(design.cutpoints) == len(set(design.cutpoints)) == 3 + 2  # 3 quantiles + 2
    st = design.stats
    for k, study in enumerate(design.studies):
        rows = frame["trial"] == study
        _, interval, expo_ev = split_exposure(
            frame.loc[rows, "time"].to_numpy(), frame.loc[rows, "event"].to_numpy(),
            design.cutpoints,
        )  # fmt: skip
        sel = st["cell_study"] == k
        for j in range(design.n_intervals):
            cells = sel & (st["cell_interval"] == j)
            assert st["cell_events"][cells].sum() == expo_ev[interval == j, 1].sum()
            np.testing.assert_allclose(
                st["cell_n"][cells].sum(), expo_ev[interval == j, 0].sum(), rtol=1e-12
            )


def test_spline_grid_has_forty_quantile_intervals_plus_period_cuts(crossing):
    design = build_design(_ipd(crossing[0]), ModelSpec("survival", baseline="spline"))
    assert design.n_intervals == 40
    both = ModelSpec("survival", baseline="spline", treatment_by_interval=[12.5])
    assert 12.5 in build_design(_ipd(crossing[0]), both).cutpoints


# ------------------------------------------------------------ simulator (closed forms)


def test_simulator_inverts_the_piecewise_cumulative_hazard_exactly():
    """Without censoring, the empirical survival of each arm equals the closed form
    ``exp(-lambda sum_p exp(a theta_p) (min(t, b_p)^rho - a_p^rho)+)`` within 4 binomial SEs."""
    frame, truth = simulate_survival_periods(
        n_studies=1, n_per_study=40_000, tau=0.0, dropout=0.0, follow_up=np.inf, seed=11
    )
    lam, rho = np.exp(truth.log_scale[0]), truth.shape
    edges = np.array([0.0, 12.0, 36.0, np.inf])
    for arm in (0, 1):
        times = frame.loc[frame["treat"] == arm, "time"].to_numpy()
        for t in (6.0, 20.0, 50.0):
            pieces = np.clip(np.minimum(t, edges[1:]) ** rho - edges[:-1] ** rho, 0, None)
            surv = np.exp(-lam * np.sum(np.exp(arm * truth.theta[0]) * pieces))
            se = np.sqrt(surv * (1 - surv) / times.size)
            assert abs(np.mean(times > t) - surv) < 4 * se


# ---------------------------------------------------- the graph: exact per-cell kernel


def _point_values(built, names, seed=0):
    model = built.model
    rng = np.random.default_rng(seed)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in model.initial_point().items()}
    outs = model.replace_rvs_by_values([model[n] for n in names])
    fn = model.compile_fn(outs, inputs=model.value_vars, mode="FAST_COMPILE",
                          on_unused_input="ignore")  # fmt: skip
    return dict(zip(names, fn(point), strict=True))


def _cell_loglik(design, alpha, walk, log_hr, beta=None):
    """The per-cell Poisson kernel ``d eta - E exp(eta)`` summed per trial (numpy)."""
    st = design.stats
    treat = st["cell_z"][:, 1]
    eta = alpha[st["cell_study"]] + walk[st["cell_study"], st["cell_interval"]]
    eta = eta + treat * log_hr[st["cell_study"], st["cell_interval"]]
    if beta is not None:
        eta = eta + st["cell_z"][:, 2:] @ beta
    terms = st["cell_events"] * eta - st["cell_n"] * np.exp(eta)
    return np.bincount(st["cell_study"], weights=terms, minlength=design.k)


def test_per_period_loglik_is_the_exact_cell_kernel():
    frame, _ = simulate_survival(n_studies=3, n_per_study=80, seed=4, follow_up=5.0)
    ipd = IPD.from_frame(frame, study="trial", treatment="treat", time="time", event="event",
                         covariates=("age",), family="survival")  # fmt: skip
    spec = ModelSpec("survival", covariates=("age",), intervals=(0.5, 1.0, 2.0, 3.0),
                     treatment_by_interval=(1.0, 3.0))  # fmt: skip
    built = _quiet(build_model, build_design(ipd, spec), spec)
    names = ["loglik_trial", "alpha", "beta", "log_hazard_offset", "log_hazard_walk",
             "log_hr_interval", "theta_period", "theta"]  # fmt: skip
    v = _point_values(built, names)
    design = built.design
    walk = np.concatenate([np.zeros((design.k, 1)), v["log_hazard_offset"]], 1)
    np.testing.assert_allclose(v["log_hazard_walk"], walk, rtol=1e-12)
    assert "hazard_smoothing" not in built.model.named_vars  # no shrunken walk under periods
    np.testing.assert_allclose(v["theta_period"][:, 0], v["theta"], rtol=1e-12)
    np.testing.assert_allclose(
        v["log_hr_interval"], v["theta_period"][:, [0, 0, 1, 1, 2]], rtol=1e-12
    )
    expected = _cell_loglik(design, v["alpha"], walk, v["log_hr_interval"], v["beta"])
    np.testing.assert_allclose(v["loglik_trial"], expected, rtol=1e-10)


def test_log_time_spline_loglik_is_the_exact_cell_kernel():
    frame, _ = simulate_survival_periods(n_studies=3, n_per_study=80, seed=5)
    ipd = _ipd(frame)
    spec = ModelSpec("survival", treatment_time="log", baseline="spline", knots=3)
    built = build_model(build_design(ipd, spec), spec)
    names = ["loglik_trial", "alpha", "theta", "log_hazard_walk", "log_hr_interval",
             "gamma_log_time"]  # fmt: skip
    v = _point_values(built, names, seed=1)
    design = built.design
    x = representative_log_times(design.cutpoints) - log_time_reference(design)
    np.testing.assert_allclose(
        v["log_hr_interval"], v["theta"][:, None] + v["gamma_log_time"] * x, rtol=1e-12
    )
    np.testing.assert_allclose(v["log_hazard_walk"][:, 0], 0.0, atol=1e-12)
    expected = _cell_loglik(design, v["alpha"], v["log_hazard_walk"], v["log_hr_interval"])
    np.testing.assert_allclose(v["loglik_trial"], expected, rtol=1e-10)


def test_compiled_model_key_changes_with_each_setting(crossing):
    ipd = _ipd(crossing[0])
    specs = [
        ModelSpec("survival", intervals=GRID),
        ModelSpec("survival", intervals=GRID, treatment_by_interval=CUTS),
        ModelSpec("survival", intervals=GRID, treatment_by_interval=(12.0,)),
        ModelSpec("survival", intervals=GRID, treatment_time="log"),
        ModelSpec("survival", baseline="spline"),
        ModelSpec("survival", baseline="spline", knots=5),
    ]
    keys = [model_fingerprint(build_model(build_design(ipd, s), s).model) for s in specs]
    assert len(set(keys)) == len(keys)
    code = (
        "import warnings, pandas as pd; warnings.simplefilter('ignore');"
        "from bayes_ipd.data import IPD; from bayes_ipd.spec import ModelSpec;"
        "from bayes_ipd.one_stage.builder import build_model;"
        "from bayes_ipd.one_stage.design import build_design;"
        "from bayes_ipd.one_stage.fingerprint import model_fingerprint;"
        f"f = pd.read_csv({str(dataset_path('survival_crossing.csv'))!r});"
        "ipd = IPD.from_frame(f, study='trial', treatment='treat', time='time', event='event',"
        " family='survival');"
        f"s = ModelSpec('survival', intervals={GRID!r}, treatment_by_interval={CUTS!r});"
        "print(model_fingerprint(build_model(build_design(ipd, s), s).model))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == keys[1]  # the same key in another process
    ph = build_model(build_design(ipd, specs[0]), specs[0]).model
    assert not {"log_hr_interval", "mu_period", "log_hazard_walk"} & set(ph.named_vars)


def test_a_period_without_events_is_reported_and_kept(crossing):
    frame = crossing[0].copy()
    late = (frame["trial"] == "T02") & (frame["time"] > 30.0)
    frame.loc[late, ["time", "event"]] = [30.0, 0]  # T02 censored at 30 months
    ipd = _ipd(frame)
    spec = ModelSpec("survival", intervals=GRID, treatment_by_interval=CUTS)
    design = build_design(ipd, spec)
    with pytest.warns(UserWarning, match=r"trial 'T02' in \[36, inf\).*hierarchy"):
        built = build_model(design, spec)
    assert "theta_period" in built.model.named_vars
    lines = design.plugin.spec_lines(design, spec)
    assert any("Periods without events" in line and "'T02'" in line for line in lines)


# -------------------------------------------------------------------- fits (small MCMC)


@pytest.fixture(scope="module")
def period_fit(crossing):
    spec = ModelSpec("survival", intervals=GRID, treatment_by_interval=CUTS)
    return _quiet(fit, _ipd(crossing[0]), spec, SAMPLER)


def test_per_period_model_recovers_the_planted_effects(period_fit, crossing):
    _, truth = crossing
    out = period_fit.to_dict()["posterior"]
    nodes = out["effect_by_interval"]
    assert [(n["start"], n["end"]) for n in nodes] == [(0.0, 12.0), (12.0, 36.0), (36.0, None)]
    assert [(n["start"], n["end"]) for n in out["tau_by_interval"]] == [
        (n["start"], n["end"]) for n in nodes
    ]
    first = {k: v for k, v in nodes[0].items() if k not in ("start", "end")}
    assert out["effect"] == first  # 'effect' is the first period's
    post = period_fit.idata.posterior
    for p, node in enumerate(nodes):
        mcse = _mcse(post["mu_period"].isel(period=p).values)
        # the trials' own mean effect: what 6 trials can tell about mu_p
        target = float(np.mean(truth.theta[:, p]))
        assert abs(node["mean"] - target) < 3 * node["sd"] + 4 * mcse, (p, node, target)
    assert nodes[0]["q975"] < 0 < nodes[2]["q025"]  # benefit early, harm late


def test_checks_of_a_per_period_fit_use_its_effects(period_fit):
    """The interval-event check replicates the treated arm with each period's own log HR:
    summed over trials and the period's intervals, the treated arm's expected events match
    the observed ones (each period has its own effects; with theta alone, the late ones
    would be about exp(-0.65) too low)."""
    from bayes_ipd.checks.survival import interval_event_ppc

    table = interval_event_ppc(period_fit, draws=200)
    treated = table[table["arm"] == table["arm"].iloc[1]]
    period = interval_periods(GRID, CUTS)[treated["interval"].to_numpy()]
    sums = treated.groupby(period)[["rep_mean", "observed"]].sum()
    ratio = sums["rep_mean"] / sums["observed"]
    assert np.all(np.abs(ratio - 1.0) < 0.1), ratio
    loo = period_fit.loo()
    assert loo.method == "conditional" and np.isfinite(loo.elpd)  # the marginal does not apply
    assert period_fit.ppc(draws=200).table["p_two_sided"].min() > 0.01


def test_proportional_hazards_give_equal_period_effects():
    frame, _ = simulate_survival_periods(
        n_studies=6, n_per_study=(240, 320, 280, 400, 260, 300), mu=-0.3, tau=0.1, seed=8
    )
    spec = ModelSpec("survival", intervals=GRID, treatment_by_interval=CUTS)
    result = _quiet(fit, _ipd(frame), spec, SAMPLER)  # reuses the compiled program
    mu = result.idata.posterior["mu_period"].values  # (chain, draw, period)
    for p in (1, 2):
        diff = mu[..., p] - mu[..., 0]
        assert abs(diff.mean()) < 3 * diff.std() + 4 * _mcse(diff)
        assert np.quantile(diff, 0.005) < 0 < np.quantile(diff, 0.995)


def test_log_time_interaction_and_spline_baseline_on_crossing_hazards(crossing):
    frame, _ = crossing
    spec = ModelSpec("survival", treatment_time="log", baseline="spline")
    result = _quiet(fit, _ipd(frame), spec, SAMPLER)
    out = result.to_dict()["posterior"]
    gamma = out["effect_log_time"]
    assert gamma["q025"] > 0  # the log HR rises with time, as planted
    assert 5.0 < gamma["reference_time"] < 40.0
    from bayes_ipd.draws import log_hazard_ratio_draws

    log_hr = log_hazard_ratio_draws(result).mean(axis=(0, 1))  # (J,)
    assert log_hr[0] < -0.3 and log_hr[-1] > 0.3
    assert any("restricted cubic spline" in line for line in result._model_lines())


def test_spline_baseline_recovers_a_weibull_hazard():
    """Weibull shape 1.5: log h(t) rises by 0.5 per unit of log t; the pooled spline walk's
    slope on the grid's representative log times recovers it, and the effect its truth."""
    frame, truth = simulate_survival(
        n_studies=6, n_per_study=300, mu=-0.3, tau=0.1, shape=1.5, beta_smoking=0.0,
        beta_sbp=0.0, beta_age=0.0, beta_bmi=0.0, dropout=0.0, seed=21,
    )  # fmt: skip
    result = _quiet(fit, _ipd(frame), ModelSpec("survival", baseline="spline", knots=3), SAMPLER)
    design = result.built.design
    walk = result.idata.posterior["log_hazard_walk"].mean(("chain", "draw", "study")).values
    x = representative_log_times(design.cutpoints)
    inner = slice(1, design.n_intervals - 1)  # the open ends are held flat by design
    slope = np.polyfit(x[inner], walk[inner], 1)[0]
    assert abs(slope - 0.5) < 0.2
    node = result.to_dict()["posterior"]["effect"]
    assert abs(node["mean"] - truth.mu) < 3 * node["sd"] + 0.05


# ---------------------------------------------------------------- coverage (slow, >= 200)


@pytest.mark.slow
def test_per_period_coverage_over_200_replicates():
    """Coverage of the 95% intervals of mu_p over 200 crossing-hazards meta-analyses
    (truth mu = (-0.5, 0, 0.5), tau = 0.1, six trials of 300). Run with
    ``python -m pytest -q -o addopts="" -m slow -s tests/test_survival_periods_one_stage.py``
    (one line per replicate; the result is in docs/survival.md)."""
    spec = ModelSpec("survival", intervals=GRID, treatment_by_interval=CUTS)
    sampler = SamplerSettings(draws=500, tune=500, chains=2, target_accept=0.95, progress=False)
    mu = np.array([-0.5, 0.0, 0.5])
    inside = []
    for r in range(200):
        frame, _ = simulate_survival_periods(n_studies=6, n_per_study=300, seed=1000 + r)
        result = _quiet(fit, _ipd(frame), spec, dataclasses.replace(sampler, seed=r))
        nodes = result.to_dict()["posterior"]["effect_by_interval"]
        inside.append([n["q025"] <= m <= n["q975"] for n, m in zip(nodes, mu, strict=True)])
        print(r, inside[-1], [round(n["mean"], 3) for n in nodes], flush=True)
    coverage = np.mean(inside, axis=0)
    mc_se = np.sqrt(0.95 * 0.05 / len(inside))
    print(
        f"coverage of the mu_p 95% intervals over {len(inside)} replicates: {coverage}, "
        f"MC SE {mc_se:.4f}"
    )
    assert np.all(np.abs(coverage - 0.95) < 3.5 * mc_se), coverage


def test_models_differing_only_in_interval_count_do_not_share_a_program(crossing):
    # two baseline grids give the same graph (a dimension's length is a data container),
    # but a compiled program's parameter layout is fixed: before the layout entered the key,
    # the second fit reused the first program and nutpie refused it ("dimension 'step' has
    # inconsistent size")
    ipd = _ipd(crossing[0])
    specs = [ModelSpec("survival", intervals=(12.0, 24.0)),
             ModelSpec("survival", intervals=(12.0, 24.0, 36.0, 48.0))]  # fmt: skip
    keys = {model_fingerprint(build_model(build_design(ipd, s), s).model) for s in specs}
    assert len(keys) == 2
