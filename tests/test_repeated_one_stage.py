"""The one-stage Bayesian MMRM: exact pattern statistics, the LKJ construction, the
equivalence with the gaussian one-stage model at one visit, recovery of planted effects."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytensor.tensor as pt
import pytest
from scipy import stats

import bayes_ipd as bi
from bayes_ipd.data.visits import repeated_from_frame
from bayes_ipd.families.gaussian import GAUSSIAN, gaussian_loglik
from bayes_ipd.one_stage.fitting import design_for
from bayes_ipd.one_stage.repeated_model import (
    RepeatedOptions,
    corr_cholesky,
    cpc_beta_parameters,
    pattern_loglik,
)
from bayes_ipd.one_stage.repeated_summaries import (
    RepeatedSummaries,
    pattern_loglik_numpy,
    summarise_repeated,
    wide_outcomes,
)
from bayes_ipd.simulate.repeated import simulate_repeated

COLUMNS = {"study": "study", "treatment": "treat", "outcome": "y", "participant": "id"}


def _data(seed: int = 3, covariates: tuple[str, ...] = ("baseline", "b2")):
    rows, _ = simulate_repeated(4, 30, dropout=0.2, intermittent=0.2, seed=seed)
    rows = rows.assign(b2=rows["baseline"] ** 2 + 100.0)  # an off-centre covariate
    return repeated_from_frame(rows, **COLUMNS, visit="visit", covariates=list(covariates))


def _random_parameters(k: int, v: int, p: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    mean = rng.normal(10.0, 2.0, (k, 2, v))
    beta = rng.normal(size=(v, p))
    a = rng.normal(size=(k, v, v))
    return mean, beta, a @ a.transpose(0, 2, 1) + np.eye(v)


def _row_level_loglik(data, mean, beta, cov) -> float:
    """Every participant's MVN log density over its observed visits (scipy)."""
    y, x, trial, arm = wide_outcomes(data)
    xbar = np.stack([x[trial == k].mean(axis=0) for k in range(data.ipd.k)])
    total = 0.0
    for i in range(y.shape[0]):
        o, k = np.isfinite(y[i]), trial[i]
        m = mean[k, arm[i]][o] + beta[o] @ (x[i] - xbar[k])
        total += stats.multivariate_normal(m, cov[k][np.ix_(o, o)]).logpdf(y[i][o])
    return float(total)


def _pytensor_loglik(s: RepeatedSummaries, mean, beta, cov) -> np.ndarray:
    arrays = {
        "mask": s.mask.astype(float),
        "n": s.n,
        "n_obs": s.n * s.mask.sum(axis=1),
        "sy": s.sy,
        "syy": s.syy,
        "sx": s.sx,
        "sxx": s.sxx,
        "syx": s.syx,
    }
    tensors = {name: pt.as_tensor(value) for name, value in arrays.items()}
    m = pt.as_tensor(mean[s.trial, s.arm] - s.centre[s.trial])
    b = pt.as_tensor(beta) if beta.shape[1] else None
    return pattern_loglik(tensors, m, b, pt.as_tensor(cov[s.trial]), s.mask.shape[1]).eval()


@pytest.mark.parametrize("covariates", [(), ("baseline", "b2")])
def test_summary_loglik_equals_row_level_mvn(covariates):
    data = _data(covariates=covariates)
    s = summarise_repeated(data)
    assert s.n.size > 2 * s.k  # several missing-visit patterns per trial and arm
    assert s.n_observations == data.ipd.n
    for seed in (1, 2, 3):
        mean, beta, cov = _random_parameters(s.k, len(s.visits), len(covariates), seed)
        reference = _row_level_loglik(data, mean, beta, cov)
        assert pattern_loglik_numpy(s, mean, beta, cov).sum() == pytest.approx(reference, abs=1e-8)
        assert _pytensor_loglik(s, mean, beta, cov).sum() == pytest.approx(reference, abs=1e-8)


def test_summaries_round_trip_through_json():
    s = summarise_repeated(_data())
    again = RepeatedSummaries.from_dict(json.loads(json.dumps(s.to_dict())))
    mean, beta, cov = _random_parameters(s.k, len(s.visits), 2)
    assert pattern_loglik_numpy(again, mean, beta, cov).sum() == pytest.approx(
        pattern_loglik_numpy(s, mean, beta, cov).sum(), abs=1e-9
    )
    pd.testing.assert_frame_equal(again.counts(), s.counts())


def test_cpc_construction_has_lkj_marginals():
    # LKJ(eta) in d dimensions: each correlation is Beta(eta - 1 + d/2) on (-1, 1), variance
    # 1 / (2 (eta - 1 + d/2) + 1) (Lewandowski, Kurowicka & Joe 2009); 40,000 draws give the
    # variance to ~1% (SE of a variance ~ var * sqrt(2/n) ~ 0.001 here; tolerance 5 SE)
    d, eta = 4, 2.0
    b = cpc_beta_parameters(d, eta)
    z = 2.0 * np.random.default_rng(0).beta(b, b, size=(40_000, b.size)) - 1.0
    low = corr_cholesky(pt.as_tensor(z), d).eval()
    r = low @ low.transpose(0, 2, 1)
    np.testing.assert_allclose(np.diagonal(r, axis1=1, axis2=2), 1.0, atol=1e-12)
    expected = 1.0 / (2.0 * (eta - 1.0 + d / 2.0) + 1.0)
    for i, j in ((1, 0), (2, 1), (3, 0), (3, 2)):
        assert r[:, i, j].var() == pytest.approx(expected, abs=5 * expected * np.sqrt(2 / 40_000))


def test_one_visit_equals_the_gaussian_one_stage_likelihood():
    rows, _ = simulate_repeated(
        5,
        40,
        visits=(12,),
        effects=-2.0,
        tau=0.5,
        visit_means=10.0,
        covariate_effects=0.5,
        sd=2.0,
        seed=7,
    )
    repeated = repeated_from_frame(rows, **COLUMNS, visit="visit", covariates=["baseline"])
    s = summarise_repeated(repeated)
    ipd = bi.IPD.from_frame(
        rows, study="study", treatment="treat", outcome="y", covariates=["baseline"]
    )
    design = design_for(ipd, bi.ModelSpec(family="gaussian", covariates=("baseline",)))
    arrays = GAUSSIAN.data_arrays(design)
    rng = np.random.default_rng(5)
    alpha, theta = rng.normal(10, 1, s.k), rng.normal(-2, 0.5, s.k)
    beta, sigma = rng.normal(size=1), rng.uniform(1.0, 3.0, s.k)
    coef = np.column_stack([alpha - arrays["y_centre"], theta, np.full(s.k, beta[0])])
    gaussian = gaussian_loglik(
        coef, pt.as_tensor(sigma), arrays["n"], arrays["ztz"], arrays["zty"], arrays["yty"]
    ).eval()
    mean = np.stack([alpha, alpha + theta], axis=1)[:, :, None]
    mmrm = pattern_loglik_numpy(s, mean, beta[None, :], (sigma**2)[:, None, None])
    assert mmrm.sum() == pytest.approx(float(np.sum(gaussian)), abs=1e-8)


def test_options_are_checked():
    with pytest.raises(bi.errors.SpecError, match="effect_time"):
        RepeatedOptions(effect_time="spline")
    with pytest.raises(bi.errors.SpecError, match="eta"):
        RepeatedOptions(eta=0.0)


TINY = {"draws": 300, "tune": 300, "chains": 2, "progress": False, "seed": 11}


@pytest.fixture(scope="module")
def fitted():
    rows, truth = simulate_repeated(6, 60, dropout=0.15, intermittent=0.1, seed=1)
    res = bi.fit_repeated(
        rows,
        **COLUMNS,
        visit="visit",
        covariates=["baseline"],
        sampler=bi.SamplerSettings(**TINY),
    )
    return res, truth


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fit_recovers_planted_visit_effects(fitted):
    res, truth = fitted
    effect = res.draws("effect").reshape(-1, 3)
    # the posterior of the mean effect: planted value within 3 posterior SD + 4 MCSE
    # (MCSE = sd / sqrt(ESS), ESS >= 100 checked)
    ess = np.array([n["ess_bulk"] for n in res.to_json()["posterior"]["effect_by_visit"]])
    assert (ess > 100).all()
    sd = effect.std(axis=0)
    assert np.all(np.abs(effect.mean(axis=0) - truth.effects) < 3 * sd + 4 * sd / np.sqrt(ess))
    theta = res.draws("theta").reshape(-1, 6, 3)
    z = (theta.mean(axis=0) - truth.theta) / theta.std(axis=0)
    assert np.mean(np.abs(z) < 2.5) > 0.85  # trials' own effects: most within 2.5 SD


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_json_face(fitted):
    res, _ = fitted
    out = json.loads(json.dumps(res.to_json()))
    post = out["posterior"]
    assert [n["visit"] for n in post["effect_by_visit"]] == ["4", "8", "12"]
    assert [n["visit"] for n in post["tau_by_visit"]] == ["4", "8", "12"]
    node_keys = set(bi.conventions.NODE_KEYS)
    assert set(post["effect"]) == node_keys
    assert set(post["effect_by_visit"][0]) == node_keys | {"visit"}
    assert post["effect"] == {k: v for k, v in post["effect_by_visit"][-1].items() if k != "visit"}
    assert out["visit"] == "12" and out["n_observations"] == res.summaries.n_observations
    assert list(res.summary().index.get_level_values("parameter").unique()) == ["effect", "tau"]
    assert "primary visit: 12" in repr(res)
    frame = res.effect_frame()
    assert list(frame.columns) == ["visit", "estimate", "lower", "upper"]
    np.testing.assert_allclose(frame["estimate"], [n["mean"] for n in post["effect_by_visit"]])


@pytest.mark.slow
def test_coverage_of_visit_effects_over_replicates():
    """>= 200 replicates: coverage of the 95% intervals of the mean effect per visit.

    Binomial MC error of a coverage from 200 replicates: sqrt(.95 * .05 / 200) = 0.015;
    accepted above 0.95 - 3 MC errors (0.905). Over-coverage is expected and accepted: the
    planted effects are fixed values, and with 8 trials the half-normal prior on tau keeps
    the between-trial SDs (planted 0.3-0.5) away from zero, widening the intervals.
    ``benchmarks/repeated_coverage.py`` runs the same design and prints the figures.
    """
    sampler = bi.SamplerSettings(draws=500, tune=500, chains=2, progress=False)
    hits = []
    for rep in range(200):
        rows, truth = simulate_repeated(8, 60, dropout=0.15, intermittent=0.1, seed=1000 + rep)
        res = bi.fit_repeated(rows, **COLUMNS, visit="visit", sampler=sampler)
        nodes = res.to_json()["posterior"]["effect_by_visit"]
        lo = np.array([n["q025"] for n in nodes])
        hi = np.array([n["q975"] for n in nodes])
        hits.append((lo <= truth.effects) & (truth.effects <= hi))
    coverage = np.mean(hits, axis=0)
    assert np.all(coverage > 0.95 - 3 * np.sqrt(0.95 * 0.05 / 200))


def test_model_options_build_their_variables():
    from bayes_ipd.one_stage.repeated_model import build_repeated_model

    s = summarise_repeated(_data(covariates=("baseline",)))
    visit = build_repeated_model(s).model
    assert {"effect", "tau", "theta", "sigma", "beta", "tau_corr_raw", "resid_corr_raw"} <= set(
        visit.named_vars
    )
    assert visit.named_vars_to_dims["sigma"] == ("study", "visit")
    line = build_repeated_model(s, RepeatedOptions(effect_time="slope", residual="common")).model
    assert {"effect_line", "tau_line", "effect", "tau"} <= set(line.named_vars)
    assert line.named_vars_to_dims["sigma"] == ("visit",)
    assert line.named_vars_to_dims["effect"] == ("visit",)


def test_bad_input_is_refused_with_names():
    rows, _ = simulate_repeated(3, 20, seed=2)
    with pytest.raises(bi.errors.IPDDataError, match="participant, visit"):
        bi.fit_repeated(rows, study="study", treatment="treat", outcome="y")
    one_arm = rows[~((rows["study"] == "T2") & (rows["treat"] == 1))]
    with pytest.raises(bi.errors.IPDDataError, match="'T2' has only one arm"):
        bi.fit_repeated(one_arm, **COLUMNS, visit="visit")
    with pytest.raises(bi.errors.SpecError, match="primary visit '5'"):
        bi.fit_repeated(rows, **COLUMNS, visit="visit", primary_visit="5")
