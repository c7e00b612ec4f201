"""Ordinal outcomes: cumulative-logit proportional odds with trial-specific cut points.

Expected values: a direct maximum-likelihood fit of the proportional-odds model written out
here (scipy.optimize on ``logit P(Y <= j) = c_j - x'beta``, R's sign convention), a
row-by-row log-likelihood, and simulation truth.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special

from bayes_ipd.analysis import run_analysis
from bayes_ipd.cli import main
from bayes_ipd.data import IPD
from bayes_ipd.datasets import load_lanza
from bayes_ipd.errors import IPDDataError
from bayes_ipd.one_stage.builder import build_model
from bayes_ipd.one_stage.design import design_from_summaries
from bayes_ipd.one_stage.summaries import summarise_trial
from bayes_ipd.spec import ModelSpec, SamplerSettings, read_analysis_spec
from bayes_ipd.two_stage import fit_per_study

MODELS = Path(__file__).resolve().parents[1] / "models"


def _lanza(**kw) -> IPD:
    return IPD.from_frame(
        load_lanza(),
        study="study",
        treatment="treatment",
        outcome="classification",
        family="ordinal",
        experimental="Misoprostol",
        **kw,
    )


def _po_negloglik(params: np.ndarray, y: np.ndarray, x: np.ndarray, j: int) -> float:
    """Proportional odds, logit P(Y <= c) = cut_c - x'beta; cut_c = cut_0 + cumsum(exp(.))."""
    p = x.shape[1]
    beta, first, log_gaps = params[:p], params[p], params[p + 1 :]
    cuts = np.concatenate([[first], first + np.cumsum(np.exp(log_gaps))])
    cdf = special.expit(cuts[None, :] - (x @ beta)[:, None])
    cdf = np.column_stack([np.zeros(len(y)), cdf, np.ones(len(y))])
    prob = cdf[np.arange(len(y)), y + 1] - cdf[np.arange(len(y)), y]
    return -float(np.sum(np.log(prob)))


def _direct_fit(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ML estimates and inverse-Hessian SEs (numerical Hessian of the written-out model)."""
    y = np.unique(y, return_inverse=True)[1]
    j = y.max() + 1
    start = np.concatenate([np.zeros(x.shape[1]), [-1.0], np.zeros(j - 2)])
    res = optimize.minimize(
        _po_negloglik, start, args=(y, x, j), method="BFGS", options={"gtol": 1e-9}
    )
    h = np.zeros((len(res.x), len(res.x)))
    step = 1e-4
    for a in range(len(res.x)):
        for b in range(len(res.x)):
            e_a, e_b = np.eye(len(res.x))[a] * step, np.eye(len(res.x))[b] * step
            f = lambda d: _po_negloglik(res.x + d, y, x, j)  # noqa: E731
            h[a, b] = (f(e_a + e_b) - f(e_a - e_b) - f(-e_a + e_b) + f(-e_a - e_b)) / (4 * step**2)
    return res.x, np.sqrt(np.diag(np.linalg.inv(h)))


def test_two_stage_per_trial_equals_direct_ml_fit_with_rs_sign():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agg = fit_per_study(_lanza()).to_frame().set_index("study")
    rows = load_lanza()
    for study in ("I", "II", "III"):
        g = rows[rows["study"] == study]
        x = (g["treatment"] == "Misoprostol").to_numpy(float)[:, None]
        params, se = _direct_fit(g["classification"].to_numpy(), x)
        assert agg.loc[study, "estimate"] == pytest.approx(params[0], abs=1e-4)
        assert agg.loc[study, "se"] == pytest.approx(se[0], rel=1e-3)
        assert agg.loc[study, "estimate"] < 0  # Misoprostol: less damage (lower grades)
    assert agg.loc["IV", "excluded"].startswith("complete separation")
    assert agg["excluded"].notna().sum() == 1


def test_two_stage_with_a_covariate_equals_direct_fit():
    rng = np.random.default_rng(2)
    n = 160
    treat = np.repeat([0.0, 1.0], n // 2)
    age = rng.normal(0, 1, n)
    latent = 0.8 * treat + 0.5 * age + rng.logistic(size=n)
    y = np.digitize(latent, [-0.5, 0.7, 1.8])
    frame = pd.DataFrame({"s": np.repeat(["A", "B"], n // 2), "t": treat, "age": age, "y": y})
    frame["t"] = np.tile(np.repeat([0.0, 1.0], n // 4), 2)
    ipd = IPD.from_frame(frame, study="s", treatment="t", outcome="y", covariates=["age"],
                         family="ordinal")  # fmt: skip
    agg = fit_per_study(ipd, covariates=["age"]).to_frame().set_index("study")
    for study, g in frame.groupby("s"):
        x = np.column_stack([g["t"], g["age"] - g["age"].mean()])
        params, se = _direct_fit(g["y"].to_numpy(), x)
        assert agg.loc[study, "estimate"] == pytest.approx(params[0], abs=1e-4)
        assert agg.loc[study, "se"] == pytest.approx(se[0], rel=1e-3)


def test_reversed_levels_flip_the_sign():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        up = fit_per_study(_lanza()).to_frame().set_index("study")
        down = fit_per_study(_lanza(levels="5,4,3,2,1")).to_frame().set_index("study")
    np.testing.assert_allclose(up["estimate"][:3], -down["estimate"][:3], atol=1e-6)


def _ordinal_rows(seed: int, k: int = 4) -> list[tuple]:
    rng = np.random.default_rng(seed)
    out = []
    for j in range(k):
        n = 60 + 10 * j
        treat = rng.integers(0, 2, n).astype(float)
        treat[:2] = [0.0, 1.0]
        age = rng.normal(50 + 2 * j, 8, n).round()
        smoker = rng.integers(0, 2, n).astype(float)
        latent = 0.7 * treat + 0.03 * (age - 50) + rng.logistic(size=n)
        y = np.digitize(latent, [-0.5, 0.5, 1.5]).astype(float)
        if j == 0:
            y = np.minimum(y, 2.0)  # this trial lacks the top category
        out.append((treat, pd.DataFrame({"age": age, "smoker": smoker}), y))
    return out


def test_collapsed_loglik_equals_row_level():
    rows = _ordinal_rows(11)
    spec = ModelSpec(family="ordinal", covariates=("age", "smoker"), interactions=("age",))
    summaries = [
        summarise_trial(f"T{j}", "ordinal", t, cov, spec.covariates, spec.interactions, outcome=y)
        for j, (t, cov, y) in enumerate(rows)
    ]
    model = build_model(design_from_summaries(summaries), spec).model
    names = ["loglik_trial", "alpha", "theta", "beta", "gamma_within", "cutpoint_gap"]
    outs = model.replace_rvs_by_values([model[n] for n in names])
    fn = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")
    rng = np.random.default_rng(1)
    for _ in range(5):
        point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in model.initial_point().items()}
        vals = dict(zip(names, fn(point), strict=True))
        expected = []
        for j, (t, cov, y) in enumerate(rows):
            x = cov.to_numpy(float)
            xc = x - x.mean(axis=0)
            eta = vals["alpha"][j] + vals["theta"][j] * t + xc @ vals["beta"]
            eta = eta + t * xc[:, 0] * vals["gamma_within"][0]
            cuts = np.concatenate([[0.0], np.cumsum(vals["cutpoint_gap"][j])])
            cdf = special.expit(cuts[None, :] - eta[:, None])
            cdf = np.column_stack([np.zeros(len(y)), cdf, np.ones(len(y))])
            idx = y.astype(int)
            expected.append(
                np.log(cdf[np.arange(len(y)), idx + 1] - cdf[np.arange(len(y)), idx]).sum()
            )
        np.testing.assert_allclose(vals["loglik_trial"], expected, rtol=1e-8)


@pytest.mark.slow
def test_one_stage_recovers_planted_effect_and_tau():
    from bayes_ipd.one_stage.fitting import fit

    rng = np.random.default_rng(21)
    mu, tau, k = 0.6, 0.3, 10
    theta = rng.normal(mu, tau, k)
    frames = []
    for j in range(k):
        treat = np.repeat([0.0, 1.0], 150)
        latent = rng.normal(0, 0.3) + theta[j] * treat + rng.logistic(size=300)
        y = np.digitize(latent, [-0.8, 0.4, 1.6]) + 1
        frames.append(pd.DataFrame({"s": f"S{j}", "t": treat, "y": y}))
    frame = pd.concat(frames, ignore_index=True)
    ipd = IPD.from_frame(frame, study="s", treatment="t", outcome="y", family="ordinal")
    sampler = SamplerSettings(draws=300, tune=300, chains=2, seed=5, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(ipd, ModelSpec(family="ordinal"), sampler)
    for name, truth in (("mu", mu), ("tau", tau)):
        s = az.summary(result.idata.posterior[name], kind="all")
        mean, sd, mcse = (float(s[c].iloc[0]) for c in ("mean", "sd", "mcse_mean"))
        assert abs(mean - truth) < 3 * np.hypot(sd, mcse), (name, mean, sd)
    _check_loo_hooks(result)
    table = result.ppc(draws=100).table
    cats = table[table["statistic"].str.startswith("category_")]
    np.testing.assert_allclose(cats.groupby(["study", "arm"])["observed"].sum(), 1.0)
    assert set(table["statistic"]) == {"mean_level", *(f"category_{c}" for c in range(1, 5))}


def test_lanza_model_file_runs():
    spec = read_analysis_spec(MODELS / "lanza_ordinal.toml")
    small = SamplerSettings(draws=150, tune=150, chains=2, seed=spec.sampler.seed, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_analysis(dataclasses.replace(spec, sampler=small), progress=False)
    pooled = result.two_stage.pooled
    assert pooled.scale == "logCOR" and pooled.k == 3  # trial IV separated
    assert float(result.one_stage.idata.posterior["mu"].mean()) < -1.0
    _check_loo_hooks(result.one_stage)


def test_levels_order_and_errors():
    frame = pd.DataFrame(
        {"s": list("AAAABBBB"), "t": [0, 1] * 4, "y": ["lo", "hi", "mid", "hi"] * 2}
    )
    ipd = IPD.from_frame(
        frame, study="s", treatment="t", outcome="y", family="ordinal", levels="lo,mid,hi"
    )
    assert ipd.levels == ("lo", "mid", "hi")
    np.testing.assert_array_equal(ipd.outcome, [0, 2, 1, 2] * 2)
    with pytest.raises(IPDDataError, match="give its levels"):
        IPD.from_frame(frame, study="s", treatment="t", outcome="y", family="ordinal")


@pytest.mark.parametrize(
    ("values", "levels", "needle"),
    [
        ([3, 3, 3, 3], None, "needs at least two"),
        ([1, 2, 7, 2], "1,2,3", "is not one of the levels"),
        ([1, 2, 1, 2], "1,2,3", "occur in no row"),
    ],
)
def test_bad_ordinal_input_exits_2(tmp_path, capsys, values, levels, needle):
    frame = pd.DataFrame({"study": list("AABB"), "arm": [0, 1, 0, 1], "grade": values})
    path = tmp_path / "ord.csv"
    frame.to_csv(path, index=False)
    argv = ["two-stage", str(path), "--study", "study", "--treatment", "arm"]
    argv += ["--family", "ordinal", "--outcome", "grade"]
    if levels:
        argv += ["--levels", levels]
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:") and needle in last and "'grade'" in last


def _check_loo_hooks(result):
    """The family's numpy trial log-likelihood (marginal-LOO hook) at each draw's own
    (alpha_k, theta_k) equals the model's per-trial log-likelihood; the marginal LOO runs."""
    from bayes_ipd.checks.loo import trial_draws
    from bayes_ipd.families.base import flat_draws

    design = result.built.design
    draws = trial_draws(result)
    conditional = flat_draws(result.idata.log_likelihood["trial"], "study")
    for k in range(design.k):
        own = draws.coef[:, k, None, :2]
        got = design.plugin.trial_loglik(design, k, draws, own)[:, 0]
        np.testing.assert_allclose(got, conditional[:, k], rtol=1e-8)
    loo = result.loo()
    assert loo.method == "marginal" and np.isfinite(loo.elpd)
