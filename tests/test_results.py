"""Tests of bayes_ipd.one_stage.result: summaries, new-trial prediction, checks, LOO, output.

References are independent of the code under test: closed forms (law of total variance,
Gaussian integrals checked against scipy's multivariate normal), brute-force simulation
from participant rows, the model's own log-likelihood as PyMC computes it, and simulation
truths. Monte Carlo tolerances are stated where they are used.

Three small MCMC fits are shared through module-scoped fixtures (each new model structure
costs a nutpie compile): a gaussian fit with one covariate and its interaction, a binomial
fit, and a gaussian fit with a planted outlier trial. Other model structures are checked
on draws from their prior, which needs no MCMC.
"""

from __future__ import annotations

import json
import math
import warnings

import matplotlib

matplotlib.use("Agg")

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest
from matplotlib.figure import Figure
from scipy import stats

from bayes_ipd.conventions import NODE_KEYS
from bayes_ipd.draws import coefficient_draws, log_hazard_draws, quantile_labels
from bayes_ipd.families.base import Family
from bayes_ipd.families.cells import arm_totals
from bayes_ipd.families.gaussian import gaussian_marginal_loglik, replicate_gaussian
from bayes_ipd.families.survival import replicate_survival
from bayes_ipd.one_stage.builder import build_model
from bayes_ipd.one_stage.design import design_from_summaries
from bayes_ipd.one_stage.fitting import fit
from bayes_ipd.one_stage.result import OneStageResult
from bayes_ipd.one_stage.summaries import design_rows, summarise_trial
from bayes_ipd.spec import ModelSpec, SamplerSettings

# Simulation truth of the gaussian data sets.
MU, TAU, SIGMA, AGE_EFFECT = -5.0, 2.0, 10.0, 0.3
SETTINGS = SamplerSettings(draws=300, tune=300, chains=2, seed=11, progress=False)
OUTLIER = "T3"


def _quiet_fit(data, spec, settings=SETTINGS):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(data, spec, settings)


def gaussian_trials(seed: int = 1, k: int = 6, n: int = 120) -> list:
    """Trials with y = 120 + theta_k t + 0.3 (age - 50) + N(0, 10²), theta_k ~ N(-5, 2²)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(k):
        t = np.tile([0.0, 1.0], n // 2)
        age = rng.normal(50 + 2 * i, 10, n)
        theta = MU + rng.normal(0, TAU)
        y = 120 + theta * t + AGE_EFFECT * (age - 50) + rng.normal(0, SIGMA, n)
        out.append(
            summarise_trial(
                f"T{i}", "gaussian", t, pd.DataFrame({"age": age}), ["age"], ["age"], outcome=y
            )
        )
    return out


def binomial_trials(seed: int = 2, k: int = 6, n: int = 200) -> list:
    """Trials with logit P(event) = -1 + theta_k t, theta_k ~ N(-0.5, 0.3²)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(k):
        t = np.tile([0.0, 1.0], n // 2)
        theta = -0.5 + rng.normal(0, 0.3)
        y = rng.binomial(1, 1 / (1 + np.exp(-(-1.0 + theta * t)))).astype(float)
        out.append(
            summarise_trial(f"B{i}", "binomial", t, pd.DataFrame(index=range(n)), [], [], outcome=y)
        )
    return out


def outlier_trials(seed: int = 11, k: int = 8, n: int = 40) -> list:
    """Eight similar trials (effect -5 ± 1) but trial T3, whose effect is +25 (6 SE away)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(k):
        t = np.tile([0.0, 1.0], n // 2)
        theta = 25.0 if f"T{i}" == OUTLIER else -5.0 + rng.normal(0, 1)
        y = 100 + rng.normal(0, 3) + theta * t + rng.normal(0, SIGMA, n)
        out.append(
            summarise_trial(f"T{i}", "gaussian", t, pd.DataFrame(index=range(n)), [], [], outcome=y)
        )
    return out


GAUSSIAN_SPEC = ModelSpec(family="gaussian", covariates=("age",), interactions=("age",))


@pytest.fixture(scope="module")
def gaussian_fit() -> OneStageResult:
    return _quiet_fit(gaussian_trials(), GAUSSIAN_SPEC)


@pytest.fixture(scope="module")
def binomial_fit() -> OneStageResult:
    return _quiet_fit(binomial_trials(), ModelSpec(family="binomial"))


@pytest.fixture(scope="module")
def outlier_fit() -> OneStageResult:
    return _quiet_fit(outlier_trials(), ModelSpec(family="gaussian", residual_sd="common"))


def _flat(result: OneStageResult, name: str) -> np.ndarray:
    return result.idata.posterior[name].transpose("chain", "draw", ...).values.reshape(-1)


# ------------------------------------------------------------------------------ summary


def test_summary_rows_and_columns_gaussian(gaussian_fit):
    table = gaussian_fit.summary()
    assert list(table.index) == [
        "effect",
        "tau",
        "new-trial effect",
        "coefficient: age",
        "interaction within: age",
        "interaction across: age",
    ]
    # A mean difference is not exponentiated; P(<0) only on the two effect rows.
    assert list(table.columns) == [*NODE_KEYS, "p_lt_0"]
    assert table.loc[["tau", "coefficient: age"], "p_lt_0"].isna().all()
    # Independent recomputation from the raw draws.
    mu = _flat(gaussian_fit, "mu")
    assert table.loc["effect", "mean"] == pytest.approx(mu.mean(), rel=1e-12)
    assert table.loc["effect", "q975"] == pytest.approx(np.quantile(mu, 0.975), rel=1e-12)
    assert table.loc["effect", "p_lt_0"] == pytest.approx(np.mean(mu < 0))
    assert (table["q025"] < table["median"]).all() and (table["median"] < table["q975"]).all()
    # The simulation truths lie inside the 95% intervals (fixed seed; 6 trials of 120).
    assert table.loc["effect", "q025"] < MU < table.loc["effect", "q975"]
    assert (
        table.loc["coefficient: age", "q025"] < AGE_EFFECT < table.loc["coefficient: age", "q975"]
    )
    # Within-trial interaction: truth 0.
    assert (
        table.loc["interaction within: age", "q025"]
        < 0
        < table.loc["interaction within: age", "q975"]
    )


def test_summary_threshold_and_level(gaussian_fit):
    mu = _flat(gaussian_fit, "mu")
    table = gaussian_fit.summary(threshold=-4.0, level=0.9)
    assert {"q050", "q950", "p_lt_threshold"} <= set(table.columns)
    assert table.loc["effect", "p_lt_threshold"] == pytest.approx(np.mean(mu < -4.0))
    assert table.loc["effect", "q050"] == pytest.approx(np.quantile(mu, 0.05), rel=1e-12)
    assert np.isnan(table.loc["tau", "p_lt_threshold"])
    assert quantile_labels(0.95) == ("q025", "q975")
    with pytest.raises(ValueError, match="per mille"):
        quantile_labels(0.9999)


def test_summary_ratio_scale_binomial(binomial_fit):
    assert binomial_fit.effect_scale == "logOR" and binomial_fit.ratio_label == "OR"
    table = binomial_fit.summary()
    assert list(table.index) == ["effect", "tau", "new-trial effect"]
    assert {"exp_median", "exp_q025", "exp_q975", "p_lt_0"} <= set(table.columns)
    # exp is monotone, so the exponentiated quantiles are the quantiles of exp(draws).
    assert table.loc["effect", "exp_median"] == pytest.approx(
        math.exp(table.loc["effect", "median"])
    )
    assert table.loc["effect", "exp_q025"] == pytest.approx(math.exp(table.loc["effect", "q025"]))
    assert np.isnan(table.loc["tau", "exp_median"])
    # Truth: log OR -0.5 (binomial_trials).
    assert table.loc["effect", "q025"] < -0.5 < table.loc["effect", "q975"]


def test_study_effects(gaussian_fit, binomial_fit):
    effects = gaussian_fit.study_effects()
    assert list(effects.index) == [f"T{i}" for i in range(6)]
    assert list(effects.columns) == list(NODE_KEYS)
    theta = gaussian_fit.idata.posterior["theta"].sel(study="T2").values.ravel()
    assert effects.loc["T2", "median"] == pytest.approx(np.median(theta), rel=1e-12)
    ratio = binomial_fit.study_effects()
    assert np.allclose(ratio["exp_median"], np.exp(ratio["median"]))


# ------------------------------------------------------------------- new-trial effect


def test_predict_new_study_law_of_total_variance(gaussian_fit):
    new = gaussian_fit.predict_new_study()
    assert new.dims == ("chain", "draw") and new.name == "theta_new"
    x = new.values.reshape(-1)
    mu, tau = _flat(gaussian_fit, "mu"), _flat(gaussian_fit, "tau")
    s = x.size
    z = (x - mu) / tau  # the standard normal draws, independent of (mu, tau)
    # E[theta_new] = E[mu]: the difference of the sample means is mean(tau z), whose SE is
    # sd(tau z) / sqrt(S) because the z are iid and independent of the draws.
    se_mean = np.std(tau * z, ddof=1) / math.sqrt(s)
    assert abs(x.mean() - mu.mean()) < 4 * se_mean
    # Var[theta_new] = E[tau²] + Var[mu] (law of total variance). The sample difference is
    # the mean of tau²(z² - 1) + 2 (mu - mean mu) tau z (exact algebra up to O(1/S)), so
    # its SE is the SD of that term over sqrt(S).
    err = tau**2 * (z**2 - 1) + 2 * (mu - mu.mean()) * tau * z
    target = np.mean(tau**2) + np.var(mu)
    assert abs(np.var(x) - target) < 4 * np.std(err, ddof=1) / math.sqrt(s) + 1e-9
    # z must look standard normal (a sampler that forgot tau would fail here).
    assert stats.kstest(z, "norm").pvalue > 0.001


def test_predict_new_study_is_reproducible(gaussian_fit):
    a = gaussian_fit.predict_new_study()
    b = gaussian_fit.predict_new_study()
    assert np.array_equal(a.values, b.values)
    default = gaussian_fit.predict_new_study(seed=SETTINGS.seed + 1)  # documented default
    assert np.array_equal(a.values, default.values)
    assert not np.array_equal(a.values, gaussian_fit.predict_new_study(seed=1).values)


# ------------------------------------------------------- coefficient reconstruction


def _gaussian_loglik(design, coef, sigma):
    """Per-trial gaussian log-likelihood from sufficient statistics (numpy, row-free)."""
    n = design.n_arm.sum(axis=1)
    ztz, zty, yty = (
        design.stats["ztz"].sum(axis=1),
        design.stats["zty"].sum(axis=1),
        design.stats["yty"].sum(axis=1),
    )
    rss = (
        yty - 2 * np.einsum("skm,km->sk", coef, zty) + np.einsum("skm,kmn,skn->sk", coef, ztz, coef)
    )
    return -0.5 * n * np.log(2 * np.pi) - n * np.log(sigma) - rss / (2 * sigma**2)


def _sigma(params, k):
    sigma = params["sigma"].transpose("chain", "draw", ...).values
    return sigma.reshape(-1, k) if sigma.ndim == 3 else np.repeat(sigma.reshape(-1, 1), k, axis=1)


def test_coefficient_draws_reproduce_the_models_log_likelihood(gaussian_fit, binomial_fit):
    # The log_likelihood group is PyMC's value of the model's own likelihood at each draw;
    # recomputing it from coefficient_draws checks the reconstruction column by column.
    design = gaussian_fit.built.design
    coef = coefficient_draws(gaussian_fit)
    ll = gaussian_fit.idata.log_likelihood["trial"].transpose("chain", "draw", "study").values
    got = _gaussian_loglik(design, coef, _sigma(gaussian_fit.idata.posterior, design.k))
    np.testing.assert_allclose(got, ll.reshape(got.shape), rtol=1e-9)

    design = binomial_fit.built.design
    coef = coefficient_draws(binomial_fit)
    eta = np.einsum("cm,scm->sc", design.stats["cell_z"], coef[:, design.stats["cell_study"], :])
    cell = design.stats["cell_events"] * eta - design.stats["cell_n"] * np.logaddexp(0, eta)
    got = np.stack(
        [cell[:, design.stats["cell_study"] == k].sum(axis=1) for k in range(design.k)], 1
    )
    ll = binomial_fit.idata.log_likelihood["trial"].transpose("chain", "draw", "study").values
    np.testing.assert_allclose(got, ll.reshape(got.shape), rtol=1e-9)


def _prior_result(design, spec, draws=40) -> tuple[OneStageResult, np.ndarray]:
    """A result whose 'posterior' is a sample of the prior (no MCMC), and PyMC's loglik."""
    built = build_model(design, spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior = pm.sample_prior_predictive(model=built.model, draws=draws, random_seed=5).prior
    ll = prior["loglik_trial"].transpose("chain", "draw", "study").values.reshape(draws, -1)
    idata = az.InferenceData(posterior=prior.drop_vars("loglik_trial"))
    sampler = SamplerSettings(seed=5, progress=False)
    return OneStageResult(idata=idata, built=built, sampler=sampler, diagnostics=None), ll


def test_coefficient_draws_with_every_option():
    # Random intercepts, trial-specific covariate effects, random interactions and a
    # common residual SD: every branch of the reconstruction, checked on prior draws.
    spec = GAUSSIAN_SPEC.with_(
        intercepts="random",
        covariate_effects="stratified",
        random_interactions=True,
        residual_sd="common",
    )
    design = design_from_summaries(gaussian_trials(k=4, n=20))
    result, ll = _prior_result(design, spec)
    coef = coefficient_draws(result)
    assert coef.shape == (40, 4, design.width)
    got = _gaussian_loglik(design, coef, _sigma(result.idata.posterior, design.k))
    np.testing.assert_allclose(got, ll, rtol=1e-9)


def survival_trials(seed: int = 3, k: int = 3, n: int = 80, cuts=(0.5, 1.0)) -> list:
    """Piecewise-exponential data: hazards 0.6, 0.9, 1.2 on [0, .5), [.5, 1), [1, inf)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(k):
        t = np.tile([0.0, 1.0], n // 2)
        age = rng.normal(60, 8, n)
        rate = np.exp(-0.4 * t + 0.02 * (age - 60))
        time = _piecewise_exponential(rng, rate, np.array([0.6, 0.9, 1.2]), np.array(cuts))
        censor = rng.uniform(0.5, 2.5, n)
        out.append(
            summarise_trial(
                f"S{i}",
                "survival",
                t,
                pd.DataFrame({"age": age}),
                ["age"],
                ["age"],
                time=np.minimum(time, censor),
                event=(time <= censor).astype(float),
                cutpoints=cuts,
            )
        )
    return out


def _piecewise_exponential(rng, rate, hazards, cuts):
    """Event times with hazard hazards[j] * rate on interval j (inversion of the cumulative)."""
    edges = np.concatenate([[0.0], cuts, [np.inf]])
    target = rng.exponential(1.0, rate.size)
    time = np.empty(rate.size)
    for i, (r, e) in enumerate(zip(rate, target, strict=True)):
        acc = 0.0
        for j in range(hazards.size):
            width = edges[j + 1] - edges[j]
            step = hazards[j] * r * width
            if acc + step >= e:
                time[i] = edges[j] + (e - acc) / (hazards[j] * r)
                break
            acc += step
    return time


def test_log_hazard_draws_reproduce_the_survival_log_likelihood():
    spec = ModelSpec(
        family="survival", covariates=("age",), interactions=("age",), intervals=(0.5, 1.0)
    )
    design = design_from_summaries(survival_trials())
    result, ll = _prior_result(design, spec)
    coef = coefficient_draws(result)
    log_h = log_hazard_draws(result)
    assert log_h.shape == (40, design.k, 3)
    # log h includes alpha_k, so the intercept column is left out of z'b here.
    zb = np.einsum(
        "cm,scm->sc", design.stats["cell_z"][:, 1:], coef[:, design.stats["cell_study"], 1:]
    )
    eta = zb + log_h[:, design.stats["cell_study"], design.stats["cell_interval"]]
    cell = design.stats["cell_events"] * eta - design.stats["cell_n"] * np.exp(eta)
    got = np.stack(
        [cell[:, design.stats["cell_study"] == k].sum(axis=1) for k in range(design.k)], 1
    )
    np.testing.assert_allclose(got, ll, rtol=1e-8)
    table = result.ppc().table
    assert set(table["statistic"]) == {"events"} and len(table) == 2 * design.k


# --------------------------------------------------------------------- predictive checks


def _tiny_gaussian():
    """Two trials of 12 rows with a strong covariate, and their design rows."""
    rng = np.random.default_rng(7)
    sums, rows = [], []
    for i in range(2):
        t = np.tile([0.0, 1.0], 6)
        age = rng.normal(50, 10, 12)
        y = rng.normal(100, 5, 12)
        sums.append(
            summarise_trial(
                f"T{i}", "gaussian", t, pd.DataFrame({"age": age}), ["age"], ["age"], outcome=y
            )
        )
        rows.append((design_rows(t, age[:, None], [0])[0], t, y))
    return design_from_summaries(sums), rows


def test_gaussian_replication_matches_brute_force_from_rows():
    design, rows = _tiny_gaussian()
    b = np.array([[100.0, -3.0, 2.0, 0.5], [90.0, 1.0, 2.0, 0.5]])
    sigma = np.array([3.0, 4.0])
    reps = 4000
    route = replicate_gaussian(
        design,
        np.broadcast_to(b, (reps, 2, 4)),
        np.broadcast_to(sigma, (reps, 2)),
        np.random.default_rng(1),
    )
    rng = np.random.default_rng(2)
    for k, (z, t, _) in enumerate(rows):
        y = z @ b[k] + sigma[k] * rng.standard_normal((reps, len(t)))
        for a in (0, 1):
            arm = y[:, t == a]
            brute = {"mean": arm.mean(axis=1), "sd": arm.std(axis=1, ddof=1)}
            for stat in ("mean", "sd"):
                # Two-sample KS at a fixed seed; 0.001 leaves room for the 8 comparisons.
                p = stats.ks_2samp(route[stat][:, k, a], brute[stat]).pvalue
                assert p > 0.001, (k, a, stat, p)
    # The check has power: the covariate makes the noncentrality large, so a central
    # chi-squared (sd ≈ sigma) would be far off the brute-force arm SD.
    assert route["sd"][:, 0, 0].mean() > 2 * sigma[0]


def test_gaussian_replication_flags_a_wrong_model():
    design, _ = _tiny_gaussian()
    observed = design.plugin.observed_statistics(design)
    # Coefficients that put every arm mean 40 units away from the observed one.
    coef = np.zeros((500, 2, 4))
    coef[:, :, 0] = observed["mean"][:, 0] + 40.0
    rep = replicate_gaussian(design, coef, np.full((500, 2), 5.0), np.random.default_rng(3))
    assert np.all(np.mean(rep["mean"] >= observed["mean"], axis=0) > 0.99)


def test_ppc_gaussian_on_data_from_the_model(gaussian_fit):
    check = gaussian_fit.ppc()
    table = check.table
    assert list(table.columns) == [
        "study", "arm", "statistic", "observed", "rep_mean", "rep_q025", "rep_q975",
        "p_value", "p_two_sided",
    ]  # fmt: skip
    assert check.statistics == ("mean", "sd") and len(table) == 2 * 2 * 6
    assert check.draws == 600
    # Observed arm mean and SD recomputed from the sufficient statistics.
    d = gaussian_fit.built.design
    n = d.n_arm.astype(float)
    means = table[table["statistic"] == "mean"]["observed"].to_numpy().reshape(6, 2)
    np.testing.assert_allclose(means, d.stats["zty"][:, :, 0] / n)
    # The data come from the model: most observed statistics sit inside their replicated
    # 95% intervals, and the p-values are not piled up at 0 or 1.
    inside = (table["rep_q025"] <= table["observed"]) & (table["observed"] <= table["rep_q975"])
    assert inside.mean() >= 0.8
    assert table["p_value"].between(0.025, 0.975).mean() >= 0.8
    assert isinstance(check.plot(), Figure) and isinstance(check.plot("sd"), Figure)
    # Same seed, same replicates; another seed, other replicates.
    assert gaussian_fit.ppc().table.equals(table)
    assert not gaussian_fit.ppc(seed=99).table.equals(table)
    assert len(gaussian_fit.ppc(draws=100).table) == len(table)


def test_ppc_binomial_on_data_from_the_model(binomial_fit):
    table = binomial_fit.ppc().table
    d = binomial_fit.built.design
    np.testing.assert_allclose(
        table["observed"].to_numpy().reshape(d.k, 2),
        arm_totals(d, "cell_events") / arm_totals(d, "cell_n"),
    )
    assert set(table["statistic"]) == {"event_rate"}
    assert table["rep_q025"].between(0, 1).all() and table["rep_q975"].between(0, 1).all()
    inside = (table["rep_q025"] <= table["observed"]) & (table["observed"] <= table["rep_q975"])
    assert inside.mean() >= 0.8
    assert table["p_value"].between(0.025, 0.975).mean() >= 0.8


def test_survival_replication_at_the_truth():
    # Piecewise-exponential data without covariates, replicated at the true parameters:
    # observed events per arm should fall inside the replicated intervals.
    design = _truth_survival_design()
    reps = 2000
    coef = np.broadcast_to(np.array([math.log(0.6), -0.4]), (reps, design.k, 2))
    walk = np.broadcast_to(np.log([1.0, 1.5, 2.0]), (reps, design.k, 3))
    rep = replicate_survival(design, coef, walk, np.random.default_rng(4))["events"]
    obs = design.plugin.observed_statistics(design)["events"]
    low, high = np.quantile(rep, [0.025, 0.975], axis=0)
    assert np.mean((low <= obs) & (obs <= high)) >= 0.75


def _truth_survival_design():
    rng = np.random.default_rng(8)
    sums = []
    for i in range(4):
        t = np.tile([0.0, 1.0], 100)
        time = _piecewise_exponential(
            rng, np.exp(-0.4 * t), np.array([0.6, 0.9, 1.2]), np.array([0.5, 1.0])
        )
        censor = rng.uniform(0.5, 2.5, t.size)
        sums.append(
            summarise_trial(
                f"S{i}", "survival", t, pd.DataFrame(index=range(t.size)), [], [],
                time=np.minimum(time, censor), event=(time <= censor).astype(float),
                cutpoints=(0.5, 1.0),
            )
        )  # fmt: skip
    return design_from_summaries(sums)


def test_prior_predictive_is_wider_than_posterior_predictive(binomial_fit):
    prior = binomial_fit.prior_predictive(draws=200)
    post = binomial_fit.ppc()
    assert prior.kind == "prior" and prior.draws == 200
    assert list(prior.table.columns) == list(post.table.columns)
    # normal(0, 10) intercepts put most prior mass near event proportions 0 and 1, so the
    # prior predictive interval of each arm spans far more than the posterior one.
    width = lambda t: (t["rep_q975"] - t["rep_q025"]).to_numpy()  # noqa: E731
    assert np.all(width(prior.table) > 3 * width(post.table))
    again = binomial_fit.prior_predictive(draws=200)
    assert again.table.equals(prior.table)


# ---------------------------------------------------------------------------------- LOO


def test_loo_conditional_reports_every_trial(outlier_fit):
    loo = outlier_fit.loo(marginal=False)
    studies = list(outlier_fit.built.design.studies)
    assert list(loo.pareto_k.index) == studies and len(loo.pareto_k) == 8
    assert loo.influential == tuple(s for s in studies if loo.pareto_k[s] > 0.7)
    assert loo.method == "conditional" and math.isfinite(loo.elpd)
    text = str(loo)
    assert all(s in text for s in studies)
    json.dumps(loo.to_dict(), allow_nan=False)


def test_loo_marginal_flags_the_planted_outlier(outlier_fit):
    loo = outlier_fit.loo(marginal=True)
    assert loo.method == "marginal" and len(loo.pareto_k) == 8
    # Leaving the +25 trial out moves mu and tau far, so its k is the largest and above
    # 0.7; the seven similar trials barely move them (k well below 0.7).
    assert loo.pareto_k.idxmax() == OUTLIER
    assert loo.influential == (OUTLIER,)
    assert f"{OUTLIER}" in str(loo) and "influential" in str(loo)


def test_gaussian_marginal_loglik_matches_multivariate_normal():
    # Integrating (alpha, theta) ~ N(m, diag(s²)) out of y ~ N(Z b, sigma² I) gives
    # y ~ N(Z b0, sigma² I + Z_u diag(s²) Z_u'), evaluated here by scipy from the rows.
    design, rows = _tiny_gaussian()
    rng = np.random.default_rng(9)
    coef = rng.normal(0, 1, (3, 2, 4))
    sigma = rng.uniform(3, 6, (3, 2))
    u_mean = rng.normal(100, 3, (3, 2, 2))
    u_sd = rng.uniform(0.5, 4, (3, 2, 2))
    u_sd[0, 0, 1] = 0.0  # tau = 0 must be exact
    got = gaussian_marginal_loglik(design, coef, sigma, u_mean, u_sd)
    for s in range(3):
        for k, (z, _, y) in enumerate(rows):
            b0 = coef[s, k].copy()
            b0[:2] = u_mean[s, k]
            cov = sigma[s, k] ** 2 * np.eye(12) + z[:, :2] @ np.diag(u_sd[s, k] ** 2) @ z[:, :2].T
            want = stats.multivariate_normal(z @ b0, cov).logpdf(y)
            assert got[s, k] == pytest.approx(want, rel=1e-10)


def test_loo_marginal_needs_a_family_integral(binomial_fit, monkeypatch):
    # binomial integrates by quadrature (tests/test_marginal_loo.py); a family without a
    # numpy trial_loglik falls back to the conditional terms and refuses the marginal ones
    assert binomial_fit.loo(marginal=True).method == "marginal"
    plugin = binomial_fit.built.design.plugin
    monkeypatch.setattr(type(plugin), "marginal_trial_loglik", Family.marginal_trial_loglik)
    monkeypatch.setattr(type(plugin), "trial_loglik", Family.trial_loglik)
    assert binomial_fit.loo().method == "conditional"


# ------------------------------------------------------------------------------- output


def test_to_dict_nodes_and_json(gaussian_fit):
    d = gaussian_fit.to_dict()
    text = json.dumps(d, allow_nan=False)  # strict JSON: NaN must have become None
    assert json.loads(text) == d
    post = d["posterior"]
    nodes = [post["effect"], post["tau"], post["new_study_effect"]]
    for group in ("coefficients", "interactions_within", "interactions_across", "study_effects"):
        nodes += list(post[group].values())
    nodes += list(post["sigma"].values())
    for node in nodes:
        assert set(node) == set(NODE_KEYS)
    assert list(post["coefficients"]) == ["age"]
    assert list(post["interactions_within"]) == ["age"] == list(post["interactions_across"])
    assert list(post["study_effects"]) == [f"T{i}" for i in range(6)]
    assert d["spec"] == GAUSSIAN_SPEC.to_dict()
    assert d["priors"] == gaussian_fit.built.priors.to_dict()
    for key in ("divergences", "r_hat_max", "ess_bulk_min", "seconds"):
        assert key in d["diagnostics"]
    assert post["effect"]["mean"] == pytest.approx(gaussian_fit.summary().loc["effect", "mean"])


def test_same_seed_gives_identical_posterior_numbers(gaussian_fit):
    again = _quiet_fit(gaussian_trials(), GAUSSIAN_SPEC)
    assert again.to_dict()["posterior"] == gaussian_fit.to_dict()["posterior"]


def test_to_netcdf_round_trip(gaussian_fit, tmp_path):
    path = gaussian_fit.to_netcdf(tmp_path / "fit.nc")
    back = az.from_netcdf(path)
    np.testing.assert_array_equal(
        back.posterior["mu"].values, gaussian_fit.idata.posterior["mu"].values
    )
    # the file's log_likelihood group holds the marginal terms (so that az.loo on it is
    # result.loo()); the conditional ones are kept in their own group
    np.testing.assert_array_equal(
        back.conditional_log_likelihood["trial"].values,
        gaussian_fit.idata.log_likelihood["trial"].values,
    )
    assert list(back.posterior["theta"]["study"].values) == list(gaussian_fit.built.design.studies)


def test_to_json_writes_the_file(binomial_fit, tmp_path):
    text = binomial_fit.to_json(tmp_path / "fit.json")
    assert json.loads((tmp_path / "fit.json").read_text()) == json.loads(text)


def test_report_and_figures(gaussian_fit, binomial_fit):
    text = repr(gaussian_fit)
    for piece in ("gaussian outcome", "k = 6", "n = 720", "Priors:", "tau ~ half_normal",
                  "interaction within: age", "Sampling: nutpie", "divergent"):  # fmt: skip
        assert piece in text, piece
    ratio = repr(binomial_fit)
    assert "OR median" in ratio and "odds ratio" in ratio
    html = gaussian_fit._repr_html_()
    assert "<table" in html and "interaction within: age" in html
    assert isinstance(gaussian_fit.tau_plot(), Figure)


def test_loo_default_is_marginal_for_every_shipped_family(outlier_fit, binomial_fit):
    assert outlier_fit.loo().method == "marginal"
    assert binomial_fit.loo().method == "marginal"
