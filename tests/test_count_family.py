"""Count outcomes: the Poisson and negative binomial (NB2) families.

Expected values come from closed forms (a trial's Poisson log rate ratio ``log((d1/E1) /
(d0/E0))`` with SE ``sqrt(1/d1 + 1/d0)``), an independent REML computation written here
(scipy, the restricted likelihood of the normal-normal model), a row-by-row log-likelihood
(scipy.stats) and simulation truth.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from bayes_ipd.analysis import run_analysis
from bayes_ipd.cli import main
from bayes_ipd.data import IPD
from bayes_ipd.datasets import load_huber2000
from bayes_ipd.errors import IPDDataError
from bayes_ipd.one_stage.builder import build_model
from bayes_ipd.one_stage.design import design_from_summaries
from bayes_ipd.one_stage.summaries import summarise_trial
from bayes_ipd.spec import ModelSpec, SamplerSettings, read_analysis_spec
from bayes_ipd.two_stage import two_stage

MODELS = Path(__file__).resolve().parents[1] / "models"


def _huber(family: str = "poisson") -> IPD:
    return IPD.from_frame(
        load_huber2000(),
        study="study",
        treatment="treatment",
        outcome="recurrences",
        family=family,
        experimental="Uro-Vaxom",
    )


def _closed_form(frame: pd.DataFrame, exposure: str | None = None) -> pd.DataFrame:
    """Per trial: log of the ratio of the arm rates and sqrt(1/d1 + 1/d0)."""
    frame = frame.assign(_e=1.0 if exposure is None else frame[exposure])
    rows = []
    for study, g in frame.groupby("study", sort=False):
        d = g.groupby("arm")["y"].sum()
        e = g.groupby("arm")["_e"].sum()
        est = np.log((d[1] / e[1]) / (d[0] / e[0]))
        rows.append((study, est, np.sqrt(1 / d[1] + 1 / d[0])))
    return pd.DataFrame(rows, columns=["study", "estimate", "se"]).set_index("study")


def _reml(y: np.ndarray, v: np.ndarray) -> tuple[float, float, float]:
    """Independent REML: maximise the restricted log-likelihood over tau² >= 0."""

    def negative(t2: float) -> float:
        w = 1 / (v + t2)
        mu = np.sum(w * y) / np.sum(w)
        return 0.5 * (np.sum(np.log(v + t2)) + np.log(np.sum(w)) + np.sum(w * (y - mu) ** 2))

    t2 = optimize.minimize_scalar(negative, bounds=(0.0, 10.0), method="bounded").x
    t2 = 0.0 if negative(0.0) <= negative(t2) else t2
    w = 1 / (v + t2)
    return float(np.sum(w * y) / np.sum(w)), float(np.sqrt(1 / np.sum(w))), float(t2)


def test_two_stage_poisson_equals_the_closed_form_and_reml():
    result = two_stage(_huber(), method="REML")
    got = result.per_study.to_frame().set_index("study")
    rows = load_huber2000().rename(columns={"recurrences": "y"})
    rows["arm"] = (rows["treatment"] == "Uro-Vaxom").astype(int)
    expected = _closed_form(rows)
    np.testing.assert_allclose(got["estimate"], expected.loc[got.index, "estimate"], atol=1e-7)
    np.testing.assert_allclose(got["se"], expected.loc[got.index, "se"], rtol=1e-6)
    mu, se, t2 = _reml(expected["estimate"].to_numpy(), expected["se"].to_numpy() ** 2)
    assert result.pooled.tau2 == pytest.approx(t2, abs=1e-4)
    assert result.pooled.estimate == pytest.approx(mu, abs=1e-4)
    assert result.pooled.se == pytest.approx(se, abs=1e-4)
    assert result.pooled.scale == "logIRR"


def _nb2_ml(y: np.ndarray, treat: np.ndarray) -> tuple[float, float, float]:
    """Independent NB2 ML (scipy): treatment coefficient, its SE, dispersion."""

    def negative(par):
        mean = np.exp(par[0] + par[1] * treat)
        a = np.exp(par[2])
        return -np.sum(stats.nbinom.logpmf(y, 1 / a, 1 / (1 + a * mean)))

    res = optimize.minimize(negative, [0.0, 0.0, -1.0], method="BFGS", options={"gtol": 1e-9})
    h, step = np.zeros((3, 3)), 1e-4
    for i in range(3):
        for j in range(3):
            ei, ej = np.eye(3)[i] * step, np.eye(3)[j] * step
            h[i, j] = (
                negative(res.x + ei + ej)
                - negative(res.x + ei - ej)
                - negative(res.x - ei + ej)
                + negative(res.x - ei - ej)
            ) / (4 * step**2)
    return float(res.x[1]), float(np.sqrt(np.linalg.inv(h)[1, 1])), float(np.exp(res.x[2]))


def test_two_stage_negative_binomial_equals_direct_ml_or_poisson_at_the_boundary():
    got = two_stage(_huber("negative_binomial")).per_study.to_frame().set_index("study")
    rows = load_huber2000().rename(columns={"recurrences": "y"})
    rows["arm"] = (rows["treatment"] == "Uro-Vaxom").astype(int)
    poisson = _closed_form(rows)
    for study, g in rows.groupby("study"):
        y, treat = g["y"].to_numpy(float), g["arm"].to_numpy(float)
        mu = np.where(treat == 1, y[treat == 1].mean(), y[treat == 0].mean())
        if np.sum((y - mu) ** 2 - y) <= 0:  # no overdispersion: the NB2 maximum is Poisson
            assert got.loc[study, "estimate"] == pytest.approx(poisson.loc[study, "estimate"])
            assert got.loc[study, "se"] == pytest.approx(poisson.loc[study, "se"], rel=1e-6)
        else:
            est, se, _ = _nb2_ml(y, treat)
            assert got.loc[study, "estimate"] == pytest.approx(est, abs=1e-4)
            assert got.loc[study, "se"] == pytest.approx(se, rel=1e-3)


def _count_rows(seed: int, k: int = 4, exposure: bool = True) -> list[tuple]:
    rng = np.random.default_rng(seed)
    out = []
    for j in range(k):
        n = 50 + 10 * j
        treat = rng.integers(0, 2, n).astype(float)
        treat[:2] = [0.0, 1.0]
        age = rng.normal(50 + 2 * j, 8, n).round()
        smoker = rng.integers(0, 2, n).astype(float)
        expo = rng.choice([0.5, 1.0, 2.0], n) if exposure else None
        mean = np.exp(0.2 - 0.5 * treat + 0.02 * (age - 50)) * (1.0 if expo is None else expo)
        y = rng.negative_binomial(2.0, 2.0 / (2.0 + mean)).astype(float)
        cov = pd.DataFrame({"age": age, "smoker": smoker})
        out.append((treat, cov, y, expo))
    return out


def test_two_stage_poisson_with_exposure_matches_closed_form():
    frames = []
    for j, (treat, _, y, expo) in enumerate(_count_rows(5)):
        frames.append(pd.DataFrame({"study": f"T{j}", "arm": treat, "y": y, "years": expo}))
    frame = pd.concat(frames, ignore_index=True)
    ipd = IPD.from_frame(
        frame, study="study", treatment="arm", outcome="y", time="years", family="poisson"
    )
    got = two_stage(ipd).per_study.to_frame().set_index("study")
    expected = _closed_form(frame, exposure="years")
    np.testing.assert_allclose(got["estimate"], expected["estimate"], atol=1e-7)
    np.testing.assert_allclose(got["se"], expected["se"], rtol=1e-6)


def _row_loglik(family, rows, vals):
    out = []
    for j, (treat, cov, y, expo) in enumerate(rows):
        x = cov.to_numpy(float)
        xc = x - x.mean(axis=0)
        eta = vals["alpha"][j] + vals["theta"][j] * treat + xc @ vals["beta"]
        eta = eta + treat * xc[:, 0] * vals["gamma_within"][0]
        mean = np.exp(eta) * expo
        if family == "poisson":
            out.append(stats.poisson.logpmf(y, mean).sum())
        else:
            a = np.broadcast_to(vals["dispersion"], (len(rows),))[j]
            out.append(stats.nbinom.logpmf(y, 1 / a, 1 / (1 + a * mean)).sum())
    return np.array(out)


@pytest.mark.parametrize(
    ("family", "options"),
    [
        ("poisson", {}),
        ("negative_binomial", {}),
        ("negative_binomial", {"residual_sd": "common"}),
    ],
)
def test_collapsed_loglik_equals_row_level(family, options):
    rows = _count_rows(11)
    spec = ModelSpec(family=family, covariates=("age", "smoker"), interactions=("age",), **options)
    summaries = [
        summarise_trial(
            f"T{j}", family, t, cov, spec.covariates, spec.interactions, outcome=y, time=e
        )
        for j, (t, cov, y, e) in enumerate(rows)
    ]
    model = build_model(design_from_summaries(summaries), spec).model
    names = ["loglik_trial", "alpha", "theta", "beta", "gamma_within"]
    names += ["dispersion"] if family == "negative_binomial" else []
    outs = model.replace_rvs_by_values([model[n] for n in names])
    fn = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")
    rng = np.random.default_rng(1)
    for _ in range(5):
        point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in model.initial_point().items()}
        vals = dict(zip(names, fn(point), strict=True))
        np.testing.assert_allclose(vals["loglik_trial"], _row_loglik(family, rows, vals), rtol=1e-8)


def _simulated_counts(family: str, seed: int, k: int = 10, mu: float = -0.4, tau: float = 0.3):
    rng = np.random.default_rng(seed)
    theta = rng.normal(mu, tau, k)
    frames = []
    for j in range(k):
        n = 300
        treat = np.repeat([0.0, 1.0], n // 2)
        mean = np.exp(rng.normal(0.3, 0.3) + theta[j] * treat)
        if family == "poisson":
            y = rng.poisson(mean)
        else:
            y = rng.negative_binomial(2.0, 2.0 / (2.0 + mean))  # dispersion 0.5
        frames.append(pd.DataFrame({"study": f"S{j}", "treat": treat, "y": y}))
    return pd.concat(frames, ignore_index=True)


def _recovers(result, name, truth):
    post = result.idata.posterior[name]
    summary = az.summary(post, kind="all")
    mean, sd, mcse = (float(summary[c].iloc[0]) for c in ("mean", "sd", "mcse_mean"))
    assert abs(mean - truth) < 3 * np.hypot(sd, mcse), (name, mean, sd, truth)


@pytest.mark.slow  # ~4 min wall each on the shared box; the model-file test runs in CI
@pytest.mark.parametrize("family", ["poisson", "negative_binomial"])
def test_one_stage_recovers_planted_effect_and_tau(family):
    from bayes_ipd.one_stage.fitting import fit

    frame = _simulated_counts(family, seed=7)
    ipd = IPD.from_frame(frame, study="study", treatment="treat", outcome="y", family=family)
    sampler = SamplerSettings(draws=300, tune=300, chains=2, seed=3, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(ipd, ModelSpec(family=family), sampler)
    _recovers(result, "mu", -0.4)
    _recovers(result, "tau", 0.3)
    if family == "negative_binomial":
        dispersion = result.idata.posterior["dispersion"].mean(("chain", "draw")).values
        assert np.all(np.abs(dispersion - 0.5) < 0.25)
    _check_loo_hooks(result)
    ppc = result.ppc(draws=100)
    table = ppc.table
    assert {"count_0", "count_1", "count_2", "count_3plus", "mean"} == set(table["statistic"])
    shares = table[table["statistic"] != "mean"].groupby(["study", "arm"])["observed"].sum()
    np.testing.assert_allclose(shares, 1.0)
    assert table["p_value"].between(0, 1).all()


def test_huber_model_file_runs():
    spec = read_analysis_spec(MODELS / "huber2000_counts.toml")
    small = SamplerSettings(draws=150, tune=150, chains=2, seed=spec.sampler.seed, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_analysis(dataclasses.replace(spec, sampler=small), progress=False)
    assert result.two_stage.pooled.scale == "logIRR"
    rows = load_huber2000().rename(columns={"recurrences": "y"})
    rows["arm"] = (rows["treatment"] == "Uro-Vaxom").astype(int)
    closed = _closed_form(rows)
    mu_reml, _, _ = _reml(closed["estimate"].to_numpy(), closed["se"].to_numpy() ** 2)
    assert result.two_stage.pooled.estimate == pytest.approx(mu_reml, abs=1e-4)
    mu = float(result.one_stage.idata.posterior["mu"].mean())
    assert -1.2 < mu < -0.2
    _check_loo_hooks(result.one_stage)


@pytest.mark.parametrize(
    ("values", "exposure", "needle"),
    [
        ([0, 1, -1, 2], None, "must be a count"),
        ([0, 1, 1.5, 2], None, "must be a count"),
        ([0, 1, 2, 3], [1.0, 0.0, 1.0, 1.0], "must be > 0"),
        ([0, 1, 2, 3], [1.0, -2.0, 1.0, 1.0], "must be > 0"),
    ],
)
def test_bad_counts_and_exposure_are_refused(tmp_path, capsys, values, exposure, needle):
    frame = pd.DataFrame({"study": list("AABB"), "arm": [0, 1, 0, 1], "y": values})
    argv = ["two-stage", "", "--study", "study", "--treatment", "arm", "--family", "poisson"]
    argv += ["--outcome", "y"]
    if exposure is not None:
        frame["years"] = exposure
        argv += ["--exposure", "years"]
    path = tmp_path / "counts.csv"
    frame.to_csv(path, index=False)
    argv[1] = str(path)
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:") and needle in last
    assert ("'years'" if exposure is not None else "'y'") in last


def test_exposure_is_optional_but_only_for_count_families():
    frame = pd.DataFrame({"s": list("AABB"), "t": [0, 1, 0, 1], "y": [0, 1, 0, 1], "e": 1.0})
    with pytest.raises(IPDDataError, match="not time="):
        IPD.from_frame(frame, study="s", treatment="t", outcome="y", time="e", family="binomial")
    ipd = IPD.from_frame(frame, study="s", treatment="t", outcome="y", family="poisson")
    assert ipd.time is None


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
