"""The posterior predictive check per trial and arm of the one-stage network model with
covariates.

* at a FIXED parameter point (a posterior of identical draws), the mean of many replicates
  of each arm's statistic equals its expectation computed independently from the
  participant rows (numpy on each row's own linear predictor ``alpha_k + delta_{k,t} +
  beta' xc + gW_{c(t)} xc_age``, from the model's formula, not from the design's cells),
  within Monte Carlo error (|z| < 4.5 over every arm), for every family;
* the observed column equals the arm statistic computed from the rows, exactly;
* gaussian with a vanishing residual SD: the replicate IS the arm's mean linear predictor
  (the coefficient rows and the ``Z'Z`` arm rows exact), common and stratified ``beta``;
* a tiny fit's ``ppc()`` has one row per trial and arm and the columns of the check of
  the model without covariates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import expit

import bayes_ipd as bi
from bayes_ipd.data.network import network_from_frame
from bayes_ipd.one_stage.network_covariate_design import covariate_design
from bayes_ipd.one_stage.network_covariate_model import build_covariate_network_model
from bayes_ipd.one_stage.network_covariate_ppc import covariate_arm_replicates
from bayes_ipd.one_stage.network_summaries import network_arms

# a trial without the reference, and a three-arm one whose base is not the reference
DESIGNS = (("A", "B"), ("A", "C"), ("B", "C"), ("A", "B", "C"), ("B", "C", "D"), ("A", "D"))
RESPONSES = {
    "binomial": {"outcome": "y"},
    "gaussian": {"outcome": "y"},
    "poisson": {"outcome": "y", "time": "years"},
    "negative_binomial": {"outcome": "y", "time": "years"},
    "ordinal": {"outcome": "y"},
    "survival": {"time": "time", "event": "event"},
}
FAMILIES = tuple(RESPONSES)
DRAWS = 4000


def simulate(seed: int, n: int = 25) -> pd.DataFrame:
    """Rows with a trial-level shift in age and every family's response columns."""
    rng = np.random.default_rng(seed)
    out = []
    for k, design in enumerate(DESIGNS):
        centre = rng.normal(0.0, 0.6)
        for t in design:
            age = rng.normal(centre, 1.0, n)
            eta = -0.3 + 0.4 * age + {"A": 0.0, "B": 0.4, "C": -0.3, "D": 0.2}[t]
            time = rng.exponential(1.0 / np.exp(eta))
            cens = rng.uniform(0.3, 3.0, n)
            out.append(pd.DataFrame({
                "study": f"S{k}", "trt": t, "age": age,
                "sex": rng.integers(0, 2, n).astype(float),
                "y_bin": rng.binomial(1, expit(eta)).astype(float),
                "y_norm": eta + rng.normal(0.0, 1.0, n),
                "y_count": rng.poisson(np.exp(eta)).astype(float),
                "y_ord": np.digitize(eta + rng.logistic(size=n), [-0.5, 0.5, 1.5]).astype(float),
                "years": rng.uniform(0.5, 2.0, n), "time": np.minimum(time, cens),
                "event": (time < cens).astype(float),
            }))  # fmt: skip
    return pd.concat(out, ignore_index=True)


OUTCOME = {"binomial": "y_bin", "gaussian": "y_norm", "poisson": "y_count",
           "negative_binomial": "y_count", "ordinal": "y_ord"}  # fmt: skip


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return simulate(3)


def _build(family: str, rows: pd.DataFrame, **kw):
    frame = rows.assign(y=rows[OUTCOME.get(family, "y_bin")])
    network = network_from_frame(frame, study="study", treatment="trt", reference="A",
                                 family=family, **RESPONSES[family])  # fmt: skip
    arms = network_arms(network)
    design, layout = covariate_design(network, arms, frame[["age", "sex"]].to_numpy(),
                                      ("age", "sex"), ("age",))  # fmt: skip
    built = build_covariate_network_model(arms, design, layout, **kw)
    return frame, network, arms, built


def _point(family: str, arms, built, rng, stratified: bool = False) -> dict[str, np.ndarray]:
    """Fixed parameter values by name (with their dims)."""
    k, c, t = arms.k, arms.n_contrasts, len(arms.treatments)
    v = {
        "alpha": (("study",), rng.normal(-0.5, 0.3, k)),
        "delta": (("contrast",), rng.normal(0.0, 0.4, c)),
        "beta": ((("study", "covariate"), rng.normal(0.2, 0.3, (k, 2))) if stratified
                 else (("covariate",), np.array([0.3, -0.2]))),
        "gamma_within": (("treatment_class", "interaction"), rng.normal(0.0, 0.4, (t - 1, 1))),
    }  # fmt: skip
    if family == "gaussian":
        v["sigma"] = (("study",), rng.uniform(0.5, 1.5, k))
    if family == "negative_binomial":
        v["dispersion"] = (("study",), rng.uniform(0.2, 0.8, k))
    if family == "ordinal":
        v["cutpoint_gap"] = (("study", "gap"), rng.uniform(0.5, 1.5, (k, 2)))
    if family == "survival":
        j = len(built.design.cutpoints) + 1
        v["hazard_smoothing"] = ((), np.array(0.4))
        v["log_hazard_step"] = (("study", "step"), rng.normal(0.0, 1.0, (k, j - 1)))
    return v


def _posterior(values: dict, draws: int) -> xr.Dataset:
    """A posterior of ``draws`` identical draws at the point ``values``."""
    out = {}
    for name, (dims, value) in values.items():
        value = np.asarray(value, dtype=float)
        out[name] = (("chain", "draw", *dims), np.broadcast_to(value, (1, draws, *value.shape)))
    return xr.Dataset(out)


def _row_eta(frame, network, arms, v) -> np.ndarray:
    """Each row's linear predictor from the model's formula (independent of the design)."""
    study, treat = network.study_codes, network.treatment_codes
    x = frame[["age", "sex"]].to_numpy()
    xc = x - frame.groupby("study", sort=False)[["age", "sex"]].transform("mean").to_numpy()
    delta = np.zeros(len(frame))
    for c, (s, t) in enumerate(zip(arms.contrast_study, arms.contrast_treatment, strict=True)):
        delta[(study == s) & (treat == t)] = v["delta"][1][c]
    beta = v["beta"][1]
    slope = (beta[study] * xc).sum(axis=1) if beta.ndim == 2 else xc @ beta
    g = np.r_[0.0, v["gamma_within"][1][:, 0]]  # each treatment its own class
    return v["alpha"][1][study] + delta + slope + g[treat] * xc[:, 0]


def _exposure(time: np.ndarray, cutpoints) -> np.ndarray:
    """(R, J) time at risk of each row in each baseline interval."""
    edges = np.r_[0.0, np.asarray(cutpoints, dtype=float), np.inf]
    return np.clip(np.minimum(time[:, None], edges[1:]) - edges[:-1], 0.0, None)


def _expected(family, frame, network, arms, built, v):
    """Per row: expected contribution to its arm's statistic and its variance; the
    observed contribution; whether the statistic is a mean over the arm's rows."""
    eta = _row_eta(frame, network, arms, v)
    k = network.study_codes
    if family == "binomial":
        p = expit(eta)
        return p, p * (1 - p), frame["y"].to_numpy(), False
    if family == "gaussian":
        return eta, v["sigma"][1][k] ** 2, frame["y"].to_numpy(), True
    if family in ("poisson", "negative_binomial"):
        mu = frame["years"].to_numpy() * np.exp(eta)
        var = mu if family == "poisson" else mu + v["dispersion"][1][k] * mu**2
        return mu, var, frame["y"].to_numpy(), False
    if family == "ordinal":
        cuts = np.c_[np.zeros(arms.k), np.cumsum(v["cutpoint_gap"][1], axis=1)][k]
        cum = np.c_[expit(cuts - eta[:, None]), np.ones(eta.size)]
        probs = np.diff(np.c_[np.zeros(eta.size), cum], axis=1)
        levels = np.arange(1, 5)
        mean = probs @ levels
        codes = np.unique(frame["y"], return_inverse=True)[1] + 1.0
        return mean, probs @ levels**2 - mean**2, codes, True
    # survival: Poisson events per row and interval, person-time held fixed
    step = 0.4 * v["log_hazard_step"][1]
    walk = np.c_[np.zeros(arms.k), np.cumsum(step, axis=1)][k]
    rate = (_exposure(frame["time"].to_numpy(), built.design.cutpoints)
            * np.exp(eta[:, None] + walk)).sum(axis=1)  # fmt: skip
    return rate, rate, frame["event"].to_numpy(), False


def _row_arm(network, arms) -> np.ndarray:
    pairs = enumerate(zip(arms.arm_study, arms.arm_treatment, strict=True))
    lookup = {(int(s), int(t)): a for a, (s, t) in pairs}
    pairs = zip(network.study_codes, network.treatment_codes, strict=True)
    return np.array([lookup[(int(s), int(t))] for s, t in pairs])


@pytest.mark.parametrize("family", FAMILIES)
def test_replicates_at_a_fixed_point_match_the_rows(family, rows):
    frame, network, arms, built = _build(family, rows)
    v = _point(family, arms, built, np.random.default_rng(7))
    name, observed, reps = covariate_arm_replicates(
        built, _posterior(v, DRAWS), np.random.default_rng(11)
    )
    assert name == arms.model.replicated and reps.shape == (DRAWS, arms.n_arms)
    mean, var, obs, is_mean = _expected(family, frame, network, arms, built, v)
    row_arm = _row_arm(network, arms)
    n = np.bincount(row_arm, minlength=arms.n_arms)
    expected = np.bincount(row_arm, weights=mean, minlength=arms.n_arms)
    variance = np.bincount(row_arm, weights=var, minlength=arms.n_arms)
    truth = np.bincount(row_arm, weights=obs, minlength=arms.n_arms)
    if is_mean:
        expected, variance, truth = expected / n, variance / n**2, truth / n
    # the observed column is the arm statistic of the rows (and the no-covariate check's)
    np.testing.assert_allclose(observed, truth, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(observed, arms.model.observed(arms.stats), rtol=1e-12)
    # the replicates' mean and SD: expectation and variance summed over the arm's rows
    z = (reps.mean(axis=0) - expected) / np.sqrt(variance / DRAWS)
    assert np.abs(z).max() < 4.5, (family, z)
    np.testing.assert_allclose(reps.var(axis=0), variance, rtol=0.15)


@pytest.mark.parametrize("effects", ["common", "stratified"])
def test_gaussian_replicate_is_the_arm_mean_of_the_rows_eta(effects, rows):
    frame, network, arms, built = _build("gaussian", rows, covariate_effects=effects)
    v = _point("gaussian", arms, built, np.random.default_rng(3), effects == "stratified")
    v["sigma"] = (("study",), np.full(arms.k, 1e-9))
    _, _, reps = covariate_arm_replicates(built, _posterior(v, 2), np.random.default_rng(1))
    row_arm = _row_arm(network, arms)
    eta = _row_eta(frame, network, arms, v)
    n = np.bincount(row_arm, minlength=arms.n_arms)
    np.testing.assert_allclose(reps[0], np.bincount(row_arm, weights=eta) / n, atol=1e-7)


def test_a_fit_gives_the_table_of_the_model_without_covariates(rows):
    frame = rows.assign(y=rows["y_bin"])
    sampler = bi.SamplerSettings(draws=60, tune=60, chains=1, seed=2, progress=False)
    fit = bi.fit_network(frame, study="study", treatment="trt", reference="A", outcome="y",
                         route="one-stage", method="FE", covariates=["age"],
                         interactions=["age"], sampler=sampler)  # fmt: skip
    table = fit.ppc()
    # the columns of NetworkPosterior.ppc (the model without covariates)
    assert list(table.columns) == ["study", "treatment", "statistic", "observed", "mean",
                                   "q025", "q975", "p_value"]  # fmt: skip
    arms = fit.built.arms
    assert len(table) == arms.n_arms == sum(len(d) for d in DESIGNS)
    assert list(table["study"]) == [arms.studies[s] for s in arms.arm_study]
    assert list(table["treatment"]) == [arms.treatments[t] for t in arms.arm_treatment]
    events = frame.groupby(["study", "trt"], sort=False)["y"].sum()
    for row in table.itertuples():
        assert row.observed == events[(row.study, row.treatment)]
    assert set(table["statistic"]) == {"events"}
    assert (table["q025"] <= table["q975"]).all() and table["p_value"].between(0, 1).all()
    assert "ppc" in fit.network()
    assert fit.ppc_plot() is not None
