"""Covariates and treatment-covariate interactions on the one-stage network route.

* the model's per-trial log-likelihood at a random point equals an independent row-level
  computation (numpy / scipy on the participant rows) for every family, to 1e-8;
* a fixed-effect binomial fit with wide priors agrees with statsmodels' logistic GLM on
  all rows (trial dummies, treatment columns, centred covariates, within-trial and
  trial-mean interaction columns of each class) within Monte Carlo error + a tolerance;
* treatments of one class share their interaction draws;
* refusals.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayes_ipd as bi
from bayes_ipd.data.network import network_from_frame
from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.one_stage.network_covariate_design import covariate_design, treatment_classes
from bayes_ipd.one_stage.network_covariate_model import build_covariate_network_model
from bayes_ipd.one_stage.network_summaries import network_arms

DESIGNS = (("A", "B"), ("A", "C"), ("B", "C"), ("A", "B", "C"), ("A", "D"), ("C", "D"),
           ("A", "B", "D"), ("B", "D"))  # fmt: skip
EFFECT = {"A": 0.0, "B": 0.5, "C": -0.4, "D": 0.2}
WITHIN = {"A": 0.0, "B": 0.3, "C": 0.3, "D": -0.25}  # B and C: one class


def simulate(family: str, seed: int, n: int = 40, tau: float = 0.0) -> pd.DataFrame:
    """Participant rows of a network with planted within-trial interactions with age (no
    across-trial interaction); ``tau > 0``: random effects, an arm effect ``N(0, tau^2 / 2)``
    per arm (contrasts: variance ``tau^2``, correlation 1/2)."""
    rng = np.random.default_rng(seed)
    out = []
    for k, design in enumerate(DESIGNS):
        centre = rng.normal(0.0, 0.6)
        for t in design:
            age = rng.normal(centre, 1.0, n)
            sex = rng.integers(0, 2, n).astype(float)
            eta = -0.2 + 0.1 * k + EFFECT[t] + 0.4 * age - 0.3 * sex + WITHIN[t] * (age - centre)
            if tau > 0:
                eta = eta + rng.normal(0.0, tau / math.sqrt(2.0))
            if family == "binomial":
                y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta))).astype(float)
            elif family == "gaussian":
                y = eta + rng.normal(0.0, 1.0, n)
            elif family in ("poisson", "negative_binomial"):
                y = rng.poisson(np.exp(eta)).astype(float)
            else:  # ordinal
                y = np.digitize(eta + rng.logistic(size=n), [-0.5, 0.5, 1.5]).astype(float)
            time = rng.exponential(1.0 / np.exp(eta))
            cens = rng.uniform(0.3, 3.0, n)
            out.append(pd.DataFrame({
                "study": f"S{k}", "trt": t, "y": y, "age": age, "sex": sex,
                "years": rng.uniform(0.5, 2.0, n), "time": np.minimum(time, cens),
                "event": (time < cens).astype(float),
            }))  # fmt: skip
    return pd.concat(out, ignore_index=True)


RESPONSES = {
    "binomial": {"outcome": "y"},
    "gaussian": {"outcome": "y"},
    "poisson": {"outcome": "y", "time": "years"},
    "negative_binomial": {"outcome": "y", "time": "years"},
    "ordinal": {"outcome": "y"},
    "survival": {"time": "time", "event": "event"},
}


def _build(family: str, rows: pd.DataFrame, classes: tuple[str, ...] = (), **kw):
    network = network_from_frame(rows, study="study", treatment="trt", reference="A",
                                 family=family, **RESPONSES[family])  # fmt: skip
    arms = network_arms(network)
    design, layout = covariate_design(network, arms, rows[["age", "sex"]].to_numpy(),
                                      ("age", "sex"), ("age",), classes)  # fmt: skip
    built = build_covariate_network_model(arms, design, layout, {"tau": "half_normal(1)"}, **kw)
    return network, arms, built


def _at_random_point(built, names, rng):
    """Values of ``names`` (``loglik_trial`` first) at a random point (RVs replaced by their
    values before compiling)."""
    import pytensor

    model = built.model
    outs = model.replace_rvs_by_values([model[n] for n in names])
    fn = pytensor.function(model.value_vars, outs, on_unused_input="ignore")
    start = model.initial_point()
    point = [rng.normal(0.0, 0.5, start[v.name].shape) for v in model.value_vars]
    return dict(zip(names, fn(*point), strict=True))


def _row_eta(rows, network, arms, v, classes=()):
    """Each row's linear predictor from the model's parameter values (independently)."""
    codes, _ = treatment_classes(network.treatments, classes)
    study, treat = network.study_codes, network.treatment_codes
    x = rows[["age", "sex"]].to_numpy()
    xc = x - rows.groupby("study", sort=False)[["age", "sex"]].transform("mean").to_numpy()
    delta = np.zeros(len(rows))
    for c, (s, t) in enumerate(zip(arms.contrast_study, arms.contrast_treatment, strict=True)):
        delta[(study == s) & (treat == t)] = v["delta"][c]
    g = np.r_[0.0, v["gamma_within"][:, 0]]
    inter = g[codes[treat]] * xc[:, 0]  # the covariate's slope in arm t: beta + gW_c(t)
    return v["alpha"][study] + delta + xc @ v["beta"] + inter


def _row_loglik(family, rows, network, arms, v):
    eta = _row_eta(rows, network, arms, v)
    y, k = rows["y"].to_numpy(), network.study_codes
    if family == "binomial":
        per = y * eta - np.logaddexp(0.0, eta)
    elif family == "gaussian":
        per = stats.norm.logpdf(y, eta, v["sigma"][k])
    elif family == "poisson":
        per = stats.poisson.logpmf(y, rows["years"].to_numpy() * np.exp(eta))
    elif family == "negative_binomial":
        size = 1.0 / v["dispersion"][k]
        mean = rows["years"].to_numpy() * np.exp(eta)
        per = stats.nbinom.logpmf(y, size, size / (size + mean))
    elif family == "ordinal":
        gaps = v["cutpoint_gap"]
        cuts = np.column_stack([np.zeros(network.k), np.cumsum(gaps, axis=1)])[k]
        cdf = np.column_stack([np.zeros(len(y)), 1 / (1 + np.exp(-(cuts - eta[:, None]))),
                               np.ones(len(y))])  # fmt: skip
        j = y.astype(int)
        per = np.log(cdf[np.arange(len(y)), j + 1] - cdf[np.arange(len(y)), j])
    else:  # survival: piecewise exponential, baseline walk on the network's cut points
        steps = np.cumsum(v["hazard_smoothing"] * v["log_hazard_step"], axis=1)
        walk = np.column_stack([np.zeros(network.k), steps])
        edges = np.r_[0.0, arms.cutpoints, np.inf]
        t, d = rows["time"].to_numpy(), rows["event"].to_numpy()
        per = np.zeros(len(t))
        for j in range(len(edges) - 1):
            expo = np.clip(np.minimum(t, edges[j + 1]) - edges[j], 0.0, None)
            ev = d * ((t >= edges[j]) & (t < edges[j + 1]))
            log_h = eta + walk[k, j]
            per += ev * log_h - expo * np.exp(log_h)
    return np.bincount(k, weights=per, minlength=network.k)


NUISANCE = {
    "gaussian": ["sigma"],
    "negative_binomial": ["dispersion"],
    "ordinal": ["cutpoint_gap"],
    "survival": ["hazard_smoothing", "log_hazard_step"],
}


@pytest.mark.parametrize("family", list(RESPONSES))
def test_model_loglik_equals_the_row_level_loglik(family):
    rows = simulate(family, seed=3, n=12)
    network, arms, built = _build(family, rows)
    names = ["loglik_trial", "alpha", "delta", "beta", "gamma_within", *NUISANCE.get(family, [])]
    v = _at_random_point(built, names, np.random.default_rng(7))
    want = _row_loglik(family, rows, network, arms, v)
    np.testing.assert_allclose(v["loglik_trial"], want, rtol=0, atol=1e-8)


def test_across_trial_part_enters_the_contrast_mean():
    rows = simulate("binomial", seed=4, n=10)
    _, arms, built = _build("binomial", rows, effects="fixed")
    v = _at_random_point(built, ["delta", "d", "gamma_across"], np.random.default_rng(2))
    means = rows.groupby("study", sort=False)["age"].mean().to_numpy()
    across = means - means.mean()
    d = np.r_[0.0, v["d"]]
    ga = np.r_[0.0, v["gamma_across"][:, 0]]
    t, b, s = arms.contrast_treatment, arms.contrast_base, arms.contrast_study
    np.testing.assert_allclose(v["delta"], d[t] - d[b] + (ga[t] - ga[b]) * across[s], atol=1e-12)


# ------------------------------------------------------------- fixed effects vs GLM

CLASSES = {"B": "drug", "C": "drug"}
KW = {"study": "study", "treatment": "trt", "reference": "A", "outcome": "y"}


@pytest.fixture(scope="module")
def fe_rows() -> pd.DataFrame:
    return simulate("binomial", seed=11, n=150)


@pytest.fixture(scope="module")
def fe_fit(fe_rows):
    return bi.fit_network(
        fe_rows, **KW, route="one-stage", method="FE", covariates=["age", "sex"],
        interactions=["age"], classes=CLASSES,
        priors={"effect": "normal(0, 100)", "intercept": "normal(0, 100)",
                "coefficients": "normal(0, 100)", "interactions": "normal(0, 100)"},
        sampler=bi.SamplerSettings(draws=600, tune=400, chains=2, seed=5, progress=False),
    )  # fmt: skip


def reference_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """Every row's columns of the fixed-effect model: trial dummies, treatment columns
    (``d_t``), centred covariates, within-trial interaction columns ``xc 1[c(t)=u]`` and
    trial-mean ones ``(xbar_k - xbar) (1[c(t)=u] - 1[c(b)=u])`` per non-reference class
    ``u`` (B and C: class ``drug``)."""
    cls = {"A": "A", "B": "drug", "C": "drug", "D": "D"}
    base = rows.groupby("study", sort=False)["trt"].transform(lambda s: sorted(s.unique())[0])
    means = rows.groupby("study", sort=False)[["age", "sex"]].transform("mean")
    xc = rows[["age", "sex"]] - means
    trial_age = rows.groupby("study", sort=False)["age"].mean()
    across = rows["study"].map(trial_age - trial_age.mean())
    x = pd.get_dummies(rows["study"], dtype=float)
    for t in ("B", "C", "D"):
        x[f"d_{t}"] = (rows["trt"] == t).astype(float)
    x[["age", "sex"]] = xc
    for u in ("drug", "D"):
        sign = (rows["trt"].map(cls) == u).astype(float) - (base.map(cls) == u).astype(float)
        x[f"w_{u}"] = xc["age"] * (rows["trt"].map(cls) == u).astype(float)
        x[f"a_{u}"] = across * sign
    return x


def glm_reference(rows: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """statsmodels logistic GLM on every row (:func:`reference_columns`)."""
    import statsmodels.api as sm

    x = reference_columns(rows)
    fit = sm.GLM(rows["y"], x, family=sm.families.Binomial()).fit()
    return {
        name: (fit.params[name], fit.bse[name]) for name in x.columns if not name.startswith("S")
    }


def _mcse(node):
    return node["sd"] / math.sqrt(node["ess_bulk"])


def _fit_nodes(fit) -> dict[str, dict]:
    """The fit's nodes under the reference columns' names."""
    out = fit.to_dict()
    within, across = out["interactions"]["age"], out["interactions_across"]["age"]
    nodes = {f"d_{t}": out["effects"][t] for t in ("B", "C", "D")}
    nodes |= {"w_drug": within["B"], "w_D": within["D"], "a_drug": across["C"], "a_D": across["D"]}
    beta = fit.coefficients()
    return nodes | {c: dict(beta.loc[c]) for c in ("age", "sex")}


def test_fixed_effect_fit_agrees_with_the_logistic_glm(fe_fit, fe_rows):
    ref = glm_reference(fe_rows)
    for name, node in _fit_nodes(fe_fit).items():
        mle, se = ref[name]
        # vague priors, 150 per arm: the posterior mean is the MLE up to O(1/n) skew
        assert abs(node["mean"] - mle) < 4 * _mcse(node) + 0.05 * se, name
        assert node["sd"] == pytest.approx(se, rel=0.15), name


def test_treatments_of_a_class_share_their_interaction_draws(fe_fit):
    g = fe_fit.interaction_draws("within")
    t = {name: i for i, name in enumerate(fe_fit.treatments)}
    np.testing.assert_array_equal(g[:, :, t["B"]], g[:, :, t["C"]])
    assert not np.array_equal(g[:, :, t["B"]], g[:, :, t["D"]])
    out = fe_fit.to_dict()
    assert out["interactions"]["age"]["B"] == out["interactions"]["age"]["C"]
    assert out["classes"] == {"A": "A", "B": "drug", "C": "drug", "D": "D"}


def test_json_keys_and_tables(fe_fit):
    out = fe_fit.to_dict()
    assert list(out)[:10] == ["route", "reference", "treatments", "k", "effects", "tau",
                              "league", "ranking", "inconsistency", "node_split"]  # fmt: skip
    assert out["covariates"] == ["age", "sex"]
    node_keys = {"mean", "sd", "median", "q025", "q975", "ess_bulk", "r_hat"}
    assert set(out["interactions"]["age"]) == {"B", "C", "D"}
    assert set(out["interactions_across"]["age"]["D"]) == node_keys
    tables = fe_fit.network()
    assert {"coefficients", "interactions", "interactions_across"} <= set(tables)
    assert "within-trial interaction D x age" in fe_fit.summary()
    loo = fe_fit.loo()
    assert loo["terms"] == "conditional" and len(loo["pareto_k"]) == len(DESIGNS)


def test_refusals_of_a_fit(fe_fit):
    # the per-arm predictive check is built (tests/test_network_covariate_ppc.py)
    assert len(fe_fit.ppc()) == sum(len(d) for d in DESIGNS)
    with pytest.raises(SpecError, match="marginal"):
        fe_fit.loo(marginal=True)


# ------------------------------------------------------------------------- refusals


def test_refusals():
    rows = simulate("binomial", seed=1, n=8)
    sampler = bi.SamplerSettings(draws=10, tune=10, chains=1, progress=False)
    common = {**KW, "route": "one-stage", "sampler": sampler}
    arms = pd.DataFrame({"study": ["X", "X"], "treatment": ["A", "B"], "events": [3, 5],
                         "n": [20, 20]})  # fmt: skip
    with pytest.raises(IPDDataError, match="aggregate"):
        bi.fit_network(rows, **common, covariates=["age"], aggregate_arms=arms)
    flat = rows.assign(site=rows.groupby("study")["age"].transform("mean"))
    with pytest.raises(IPDDataError, match="constant within every trial"):
        bi.fit_network(flat, **common, covariates=["site"])
    with pytest.raises(IPDDataError, match="interaction"):
        bi.fit_network(rows, **common, covariates=["age"], interactions=["sex"])
    with pytest.raises(SpecError, match="covariate_effects"):
        bi.fit_network_bayes(rows, **KW, sampler=sampler, covariates=["age"],
                             covariate_effects="random")  # fmt: skip


def test_classes_need_one_label_per_treatment():
    with pytest.raises(IPDDataError, match="labels"):
        treatment_classes(("A", "B", "C"), ("A", "B"))


# ------------------------------------------------- simulation recovery (slow, in docs)


def coverage_study(replicates: int, seed: int = 2026, family: str = "binomial") -> dict:
    """Share of 95% CrIs of each planted within-trial interaction (and of the across-trial
    one, planted 0) that cover the truth, random-effects fits of networks simulated with
    tau 0.3 (8 trials, two three-arm, 60 per arm), with its Monte Carlo SE."""
    sampler = bi.SamplerSettings(draws=500, tune=500, chains=2, seed=seed, progress=False)
    hits: dict[str, list[bool]] = {}
    for r in range(replicates):
        rows = simulate(family, seed=seed + r, n=60, tau=0.3)
        fit = bi.fit_network(
            rows, study="study", treatment="trt", reference="A", family=family,
            **RESPONSES[family], route="one-stage", covariates=["age", "sex"],
            interactions=["age"], sampler=sampler,
        )  # fmt: skip
        within = fit.interaction_effects("within")
        across = fit.interaction_effects("across")
        for t in ("B", "C", "D"):
            w, a = within.loc[("age", t)], across.loc[("age", t)]
            hits.setdefault(f"within {t}", []).append(w.q025 <= WITHIN[t] <= w.q975)
            hits.setdefault(f"across {t}", []).append(a.q025 <= 0.0 <= a.q975)
    return {
        name: (float(np.mean(h)), float(np.sqrt(np.mean(h) * (1 - np.mean(h)) / len(h))))
        for name, h in hits.items()
    }


@pytest.mark.slow
def test_coverage_of_planted_interactions():
    # measured numbers and the command: docs/network.md
    cover = coverage_study(200)
    for name, (share, mcse) in cover.items():
        assert abs(share - 0.95) < 3 * max(mcse, 0.02), (name, share)


@pytest.mark.slow
def test_gaussian_fixed_effects_agree_with_weighted_least_squares():
    """Flat priors: given the trials' residual SDs the posterior mean is the WLS estimate
    with weights ``1 / sigma_k^2``; at their posterior means it agrees within Monte Carlo
    error + 0.1 SE (measured numbers in docs/network.md)."""
    import statsmodels.api as sm

    rows = simulate("gaussian", seed=11, n=150)
    fit = bi.fit_network(
        rows, **KW, family="gaussian", route="one-stage", method="FE",
        covariates=["age", "sex"], interactions=["age"], classes=CLASSES,
        priors={"effect": "normal(0, 100)", "intercept": "normal(0, 100)",
                "coefficients": "normal(0, 100)", "interactions": "normal(0, 100)"},
        sampler=bi.SamplerSettings(draws=600, tune=400, chains=2, seed=5, progress=False),
    )  # fmt: skip
    sigma = fit.idata.posterior["sigma"].mean(("chain", "draw")).to_series()
    x = reference_columns(rows)
    wls = sm.WLS(rows["y"], x, weights=1.0 / rows["study"].map(sigma) ** 2).fit()
    for name, node in _fit_nodes(fit).items():
        assert abs(node["mean"] - wls.params[name]) < 4 * _mcse(node) + 0.1 * wls.bse[name], name
