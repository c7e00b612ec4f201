"""One-stage Bayesian meta-regression on trial-level moderators, and AD trials in the
one-stage printout, forest rows and LOO table (issue 10).

Reference figures: metafor's ML/REML meta-regression of ``dat.bcg`` on ``ablat``
(``../shared/data/REFERENCES.md``: ablat -0.0291, SE 0.0082) and, as the independent method
for the Bayesian posterior with the same priors, the normal-normal model's exact posterior of
gamma by quadrature over tau (closed-form Gaussian integral over mu and gamma at each tau).
"""

from __future__ import annotations

import math
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, stats

import bayes_ipd as bi
from bayes_ipd.errors import IPDDataError, PriorError, SpecError
from bayes_ipd.one_stage.aggregate_trials import AggregateTrials
from bayes_ipd.one_stage.design import moderator_arrays
from bayes_ipd.one_stage.fitting import design_for
from bayes_ipd.spec import parse_analysis_spec

SAMPLER = bi.SamplerSettings(draws=300, tune=300, chains=2, seed=11, progress=False)
METAFOR_ABLAT = -0.0291  # REML/ML + knha, dat.bcg, mods = ~ ablat (REFERENCES.md)
METAFOR_ABLAT_SE = 0.0082


def _bcg_ad() -> AggregateTrials:
    t = bi.datasets.load_bcg_aggregate()
    labels = tuple(t["author"] + " " + t["year"].astype(str))
    return AggregateTrials(
        labels, t["yi"].to_numpy(), np.sqrt(t["vi"].to_numpy()), moderators={"ablat": t["ablat"]}
    )


@pytest.fixture(scope="module")
def bcg_fit() -> bi.OneStageResult:
    """AD-only fit of the 13 BCG log risk ratios with moderator ablat, default priors:
    effect normal(0, 2.5), tau half_normal(1), moderator normal(0, 2.5) per SD of ablat."""
    spec = bi.ModelSpec(family="binomial", moderators=("ablat",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bi.fit(_bcg_ad(), spec, SAMPLER)


def _quadrature_gamma_median() -> float:
    """Posterior median of gamma in y_k ~ N(mu + gamma (w_k - wbar), v_k + tau²) with
    mu ~ N(0, 2.5²), gamma ~ N(0, (2.5 / sd(w))²), tau ~ half_normal(1): at each tau the
    posterior of (mu, gamma) is Gaussian and p(y | tau) a Gaussian density, so the posterior
    of gamma is a mixture of normals over a fine tau grid."""
    t = bi.datasets.load_bcg_aggregate()
    y, v = t["yi"].to_numpy(), t["vi"].to_numpy()
    w = t["ablat"].to_numpy(dtype=float)
    x = np.column_stack([np.ones_like(y), w - w.mean()])
    prior_var = np.array([2.5**2, (2.5 / w.std(ddof=1)) ** 2])
    taus = np.linspace(1e-4, 3.0, 1500)
    log_w, means, sds = [], [], []
    for tau in taus:
        cov = np.diag(v + tau**2) + x @ np.diag(prior_var) @ x.T
        log_w.append(
            stats.multivariate_normal(np.zeros_like(y), cov).logpdf(y) + stats.halfnorm.logpdf(tau)
        )
        prec = x.T @ np.diag(1 / (v + tau**2)) @ x + np.diag(1 / prior_var)
        s = np.linalg.inv(prec)
        means.append((s @ x.T @ (y / (v + tau**2)))[1])
        sds.append(math.sqrt(s[1, 1]))
    wt = np.exp(np.array(log_w) - max(log_w))
    wt /= wt.sum()
    m, sd = np.array(means), np.array(sds)
    return optimize.brentq(lambda g: np.sum(wt * stats.norm.cdf(g, m, sd)) - 0.5, -1.0, 1.0)


def test_bcg_gamma_matches_quadrature_and_metafor(bcg_fit):
    draws = bcg_fit.idata.posterior["gamma_moderator"].sel(moderator="ablat")
    median = float(np.median(draws.values))
    mcse = float(az.mcse(draws.values, method="median"))
    exact = _quadrature_gamma_median()
    # the sampler reproduces the exact posterior median within Monte Carlo error
    assert abs(median - exact) < 4 * mcse + 1e-4, (median, exact, mcse)
    # the weakly informative priors shrink gamma by a small fraction of metafor's SE
    # (exact posterior median vs the REML estimate)
    assert abs(exact - METAFOR_ABLAT) < 0.1 * METAFOR_ABLAT_SE, exact
    assert abs(median - METAFOR_ABLAT) < 0.25 * METAFOR_ABLAT_SE, median


def test_summary_block_and_predict_theta(bcg_fit):
    text = repr(bcg_fit)
    assert "Meta-regression on trial-level covariates" in text
    assert "ecological" in text and "not a within-trial treatment-covariate interaction" in text
    assert "residual heterogeneity tau" in text
    assert "moderator: ablat" in bcg_fit.summary().index
    assert "13 aggregate-data (AD)" in text
    # at the mean moderator the mean-trial effect is mu itself; linear in the moderator
    centre = float(moderator_arrays(bcg_fit.built.design, ("ablat",)).center[0])
    table = bcg_fit.predict_theta({"ablat": [centre, centre + 10.0]})
    mu = bcg_fit.idata.posterior["mu"].values.ravel()
    gamma = bcg_fit.idata.posterior["gamma_moderator"].values.ravel()
    assert table.loc[0, "median"] == pytest.approx(np.median(mu))
    assert table.loc[1, "median"] == pytest.approx(np.median(mu + 10.0 * gamma))
    assert table.loc[0, "new_q025"] < table.loc[0, "q025"]
    with pytest.raises(IPDDataError, match="no value for moderator 'ablat'"):
        bcg_fit.predict_theta({"year": [1950]})


def test_ad_trials_in_loo_and_forest_rows(bcg_fit):
    loo = bcg_fit.loo()
    ad = _bcg_ad()
    assert list(loo.pareto_k.index) == list(ad.studies)
    assert set(loo.ad_trials) == set(ad.studies)
    assert "Aronson 1948 (AD)" in str(loo)
    # the marginal AD term integrates theta out: compare with numerical integration over
    # theta of N(y; theta, se) N(theta; mu + gamma w, tau) at one draw
    ll = bcg_fit.marginal_loglik().isel(chain=0, draw=5)
    post = bcg_fit.idata.posterior.isel(chain=0, draw=5)
    wc = moderator_arrays(bcg_fit.built.design, ("ablat",)).ad[:, 0]
    loc = float(post["mu"]) + float(post["gamma_moderator"].sel(moderator="ablat")) * wc[0]
    tau, y, se = float(post["tau"]), ad.estimate[0], ad.se[0]
    dens, _ = integrate.quad(
        lambda th: stats.norm.pdf(y, th, se) * stats.norm.pdf(th, loc, tau), -10, 10, points=[y]
    )
    assert float(ll.sel(study=ad.studies[0])) == pytest.approx(math.log(dens), rel=1e-6)
    conditional = bcg_fit.loo(marginal=False)
    assert list(conditional.pareto_k.index) == list(ad.studies)
    rows = bcg_fit.forest_rows()
    assert [r.label for r in rows[:2]] == [f"{s} (AD)" for s in ad.studies[:2]]
    assert rows[0].extra == ("AD",)
    assert rows[-2].style == "pooled" and rows[-1].style == "prediction"


# ------------------------------------------------------------- planted simulation (IPD + AD)

TRUE_GAMMA = 0.5  # per unit of the moderator w
ECOLOGICAL_SLOPE = 0.5 / 0.8  # across-trial slope of theta_k on the trial mean of x


@pytest.fixture(scope="module")
def planted():
    """14 gaussian trials: 10 with rows (n = 120), 4 as AD (estimate, SE 0.15).

    theta_k = 1 + 0.5 (w_k - wbar) + u_k, u_k ~ N(0, 0.1); the trial mean of the covariate x
    follows w (xbar_k = 0.8 (w_k - 5) + N(0, 0.5)), so x's across-trial association with
    theta is strong (slope about 0.5 / 0.8), while its within-trial interaction is zero.
    """
    rng = np.random.default_rng(2024)
    k_ipd, k_ad, n = 10, 4, 120
    w = rng.uniform(0, 10, k_ipd + k_ad)
    theta = 1 + TRUE_GAMMA * (w - w.mean()) + rng.normal(0, 0.1, len(w))
    xbar = 0.8 * (w - 5) + rng.normal(0, 0.5, len(w))
    frames = []
    for k in range(k_ipd):
        treat = np.repeat([0, 1], n // 2)
        x = xbar[k] + rng.normal(0, 1, n)
        y = 10 + 0.7 * (x - xbar[k]) + theta[k] * treat + rng.normal(0, 1, n)
        frames.append(pd.DataFrame({"trial": f"T{k}", "treat": treat, "y": y, "x": x, "w": w[k]}))
    ipd = bi.IPD.from_frame(
        pd.concat(frames), study="trial", treatment="treat", outcome="y",
        family="gaussian", covariates=["x", "w"],
    )  # fmt: skip
    ad = AggregateTrials(
        tuple(f"A{k}" for k in range(k_ad)),
        theta[k_ipd:] + rng.normal(0, 0.15, k_ad),
        np.full(k_ad, 0.15),
        moderators={"w": w[k_ipd:]},
    )
    spec = bi.ModelSpec(
        "gaussian", covariates=("x",), interactions=("x",), moderators=("w",),
        residual_sd="common",
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bi.fit([ipd, ad], spec, SAMPLER), ipd, ad


def test_planted_moderator_recovered_and_within_interaction_stays_zero(planted):
    result, _, _ = planted
    post = result.idata.posterior
    gamma = post["gamma_moderator"].sel(moderator="w").values.ravel()
    lo, hi = np.quantile(gamma, [0.005, 0.995])
    assert lo < TRUE_GAMMA < hi and lo > 0, (lo, hi)
    within = post["gamma_within"].sel(interaction="x").values.ravel()
    w_lo, w_hi = np.quantile(within, [0.005, 0.995])
    assert w_lo < 0 < w_hi, (w_lo, w_hi)  # the planted zero
    assert w_hi < ECOLOGICAL_SLOPE / 2  # not pulled towards the across-trial slope
    text = repr(result)
    assert "10 with participant rows (IPD)" in text and "4 aggregate-data (AD)" in text
    sources = [r.extra[0] for r in result.forest_rows()[:14]]
    assert sources == ["IPD"] * 10 + ["AD"] * 4
    loo = result.loo()
    assert list(loo.pareto_k.index) == [*(f"T{k}" for k in range(10)), "A0", "A1", "A2", "A3"]


def test_trial_level_values_reach_the_summaries(planted):
    _, ipd, ad = planted
    spec = bi.ModelSpec("gaussian", covariates=("x",), moderators=("w",))
    from bayes_ipd.one_stage.summaries import TrialSummary, summarise

    summaries = summarise(ipd, spec)
    back = TrialSummary.from_dict(summaries[0].to_dict())
    assert back.trial_level == summaries[0].trial_level
    w0 = float(ipd.covariates["w"].to_numpy()[ipd.study == 0][0])
    assert back.trial_level["w"] == w0
    design = design_for([*summaries, ad], spec)
    values = moderator_arrays(design, ("w",))
    every = np.r_[values.ipd[:, 0], values.ad[:, 0]]
    assert every.mean() == pytest.approx(0.0, abs=1e-12)  # centred across all 14 trials


# ------------------------------------------------------------------------------ bad input


def test_moderator_not_constant_within_trial_is_refused():
    frame = pd.DataFrame(
        {"trial": ["a"] * 4 + ["b"] * 4, "treat": [0, 1] * 4, "y": np.arange(8.0),
         "w": [1.0, 1.0, 2.0, 1.0, 3.0, 3.0, 3.0, 3.0]}
    )  # fmt: skip
    ipd = bi.IPD.from_frame(
        frame, study="trial", treatment="treat", outcome="y", family="gaussian", covariates=["w"]
    )
    with pytest.raises(IPDDataError, match="'w' is not constant within trial 'a'"):
        design_for(ipd, bi.ModelSpec("gaussian", moderators=("w",)))


def test_moderator_problems_are_named():
    spec = bi.ModelSpec("binomial", moderators=("ablat",))
    ad = _bcg_ad()
    no_mod = AggregateTrials(ad.studies, ad.estimate, ad.se)
    design = design_for(no_mod, spec)
    with pytest.raises(IPDDataError, match="moderator 'ablat': no value for the aggregate-data"):
        moderator_arrays(design, ("ablat",))
    flat = AggregateTrials(ad.studies, ad.estimate, ad.se, moderators={"ablat": np.ones(13)})
    with pytest.raises(IPDDataError, match="constant across trials"):
        moderator_arrays(design_for(flat, spec), ("ablat",))
    two = AggregateTrials(ad.studies[:2], ad.estimate[:2], ad.se[:2], moderators={"ablat": [1, 2]})
    with pytest.raises(IPDDataError, match="k <= p"):
        moderator_arrays(design_for(two, spec), ("ablat",))
    with pytest.raises(SpecError, match=r"also in model\.covariates"):
        bi.ModelSpec("binomial", covariates=("ablat",), moderators=("ablat",))


def test_toml_moderators_and_prior_slot(tmp_path):
    text = """
[data]
aggregate = "ad.csv"
study = "study"
treatment = "treat"
outcome = "y"
family = "gaussian"
[model]
moderators = ["ablat"]
[priors]
effect = "normal(0, 1)"
tau = "half_normal(0.5)"
moderator = "normal(0, 0.1)"
"""
    spec = parse_analysis_spec(text, tmp_path)
    assert spec.model.moderators == ("ablat",)
    assert str(spec.model.priors["moderator"]) == "normal(0, 0.1)"
    assert spec.model.to_dict()["moderators"] == ["ablat"]
    assert "moderators" not in bi.ModelSpec("gaussian").to_dict()
    # an AD-only gaussian model has no outcome SD: the moderator prior must be given
    ad = _bcg_ad()
    from bayes_ipd.one_stage.builder import build_aggregate_model

    bare = bi.ModelSpec(
        "gaussian",
        moderators=("ablat",),
        priors={"effect": "normal(0, 1)", "tau": "half_normal(1)"},
    )
    with pytest.raises(PriorError, match=r"priors\.moderator"):
        build_aggregate_model(design_for(ad, bare), bare)


def test_arm_count_trials_carry_moderators():
    t = bi.datasets.load_bcg_aggregate()
    labels = tuple(t["author"] + " " + t["year"].astype(str))
    counts = bi.ArmCounts(
        labels[:5],
        events=t[["cpos", "tpos"]].to_numpy()[:5],
        n=(t[["cpos", "tpos"]].to_numpy() + t[["cneg", "tneg"]].to_numpy())[:5],
    ).with_moderators(t.assign(study=labels).set_index("study")[["ablat"]])
    ad = _bcg_ad()
    rest = AggregateTrials(
        ad.studies[5:], ad.estimate[5:], ad.se[5:], moderators={"ablat": t["ablat"][5:]}
    )
    spec = bi.ModelSpec("binomial", moderators=("ablat",))
    values = moderator_arrays(design_for([counts, rest], spec), ("ablat",))
    assert values.center[0] == pytest.approx(t["ablat"].mean())
    assert values.scale[0] == pytest.approx(t["ablat"].std(ddof=1))
    assert values.ipd[:, 0] + values.center[0] == pytest.approx(t["ablat"][:5].to_numpy())
