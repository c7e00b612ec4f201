"""The families' arm-level network plug-ins (families/network_arms.py and each family's
``network_arms``): the one-stage network model for negative binomial counts and ordinal
outcomes, and the plug-in contract.

References: row-level log-likelihoods by scipy (``scipy.stats.nbinom``, the cumulative
logit by ``scipy.special.expit``), evaluated participant by participant; simulation truths
for the fits (planted ``d_t``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit

import bayes_ipd as bi
from bayes_ipd import families
from bayes_ipd.data.network import network_from_frame
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families.network_arms import NetworkArmModel
from bayes_ipd.one_stage.network_deviance import deviance_summary
from bayes_ipd.one_stage.network_model import build_network_model
from bayes_ipd.one_stage.network_summaries import arm_loglik, network_arms, saturated_loglik

DESIGNS = [("A", "B"), ("A", "C"), ("B", "C"), ("A", "B", "C"), ("A", "B"), ("A", "C")]
CUTS = np.array([0.0, 1.0, 2.2])  # ordinal: 4 categories, c_k = CUTS in every trial


def _network_rows(family: str, rng: np.random.Generator, n_arm: int, d: dict) -> pd.DataFrame:
    """A 3-treatment network (one three-arm trial), fixed effects ``d`` vs A."""
    rows = []
    for k, design in enumerate(DESIGNS):
        alpha = rng.normal(0.5, 0.3)
        for t in design:
            eta = alpha + d.get(t, 0.0) - d.get(design[0], 0.0)
            e = rng.uniform(0.5, 2.0, n_arm)
            if family == "negative_binomial":
                a = 0.6  # NB2 dispersion: variance mu + a mu^2
                mu = e * np.exp(eta)
                y = rng.negative_binomial(1.0 / a, 1.0 / (1.0 + a * mu))
            else:
                cum = expit(CUTS[None, :] - eta)  # P(Y <= j)
                u = rng.uniform(size=n_arm)
                y = (u[:, None] > cum).sum(axis=1)
            rows.append(pd.DataFrame({"s": f"S{k}", "t": t, "y": y, "e": e}))
    return pd.concat(rows, ignore_index=True)


def _network(family: str, rows: pd.DataFrame):
    time = "e" if family == "negative_binomial" else None
    return network_from_frame(rows, study="s", treatment="t", reference="A", family=family,
                              outcome="y", time=time)  # fmt: skip


def _row_eta(network, alpha, d, tau, z):
    """Each row's linear predictor, the random effects built here: ``delta = (d_t - d_b) +
    tau L z`` with ``L`` the Cholesky factor of 1 on / 1/2 off the diagonal."""
    d_full = np.r_[0.0, d]
    eta = np.empty(network.n)
    pos = 0
    for k, arms in enumerate(network.trial_treatments):
        base, others = arms[0], arms[1:]
        chol = np.linalg.cholesky(np.full((len(others),) * 2, 0.5) + 0.5 * np.eye(len(others)))
        delta = d_full[list(others)] - d_full[base] + tau * chol @ z[pos : pos + len(others)]
        pos += len(others)
        at = network.study_codes == k
        offset = dict(zip(others, delta, strict=True))
        eta[at] = alpha[k] + np.array([offset.get(t, 0.0) for t in network.treatment_codes[at]])
    return eta


def _row_loglik(family, rows, network, eta, nuisance):
    """Each trial's log-likelihood summed over participant rows (scipy)."""
    y = rows["y"].to_numpy(dtype=float)
    k = network.study_codes
    if family == "negative_binomial":
        size = 1.0 / nuisance[k]
        mu = rows["e"].to_numpy() * np.exp(eta)
        per_row = stats.nbinom.logpmf(y, size, size / (size + mu))
    else:
        cuts = nuisance[k]  # (R, J - 1)
        upper = np.c_[expit(cuts - eta[:, None]), np.ones(len(y))]
        lower = np.c_[np.zeros(len(y)), expit(cuts - eta[:, None])]
        code = y.astype(int)
        rows_i = np.arange(len(y))
        per_row = np.log(upper[rows_i, code] - lower[rows_i, code])
    return np.bincount(k, weights=per_row, minlength=network.k)


def _point(model, values: dict) -> dict:
    """A point of the model's value variables (log-transformed where the model is)."""
    point = model.initial_point()
    for name, value in values.items():
        key = name if name in point else f"{name}_log__"
        point[key] = np.log(value) if key.endswith("_log__") else np.asarray(value, dtype=float)
    return point


@pytest.mark.parametrize("family", ["negative_binomial", "ordinal"])
def test_arm_statistics_give_the_row_level_loglik(family):
    rng = np.random.default_rng(31)
    rows = _network_rows(family, rng, 9, {"B": 0.4, "C": -0.3})
    network = _network(family, rows)
    arms = network_arms(network)
    model = build_network_model(arms, {"tau": "half_normal(1)"}).model
    values = {
        "alpha": rng.normal(0, 1, network.k),
        "d": rng.normal(0, 1, 2),
        "tau": rng.uniform(0.2, 1.5),
        "delta_z": rng.normal(0, 1, arms.n_contrasts),
    }
    if family == "negative_binomial":
        values["dispersion"] = rng.uniform(0.2, 2.0, network.k)
        nuisance = values["dispersion"]
    else:
        gaps = rng.uniform(0.3, 1.5, (network.k, 2))
        values["cutpoint_gap"] = gaps
        nuisance = np.c_[np.zeros(network.k), np.cumsum(gaps, axis=1)]
    [out] = model.replace_rvs_by_values([model["loglik_trial"]])
    got = model.compile_fn(out, point_fn=True)(_point(model, values))
    eta = _row_eta(network, values["alpha"], values["d"], values["tau"], values["delta_z"])
    want = _row_loglik(family, rows, network, eta, nuisance)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8)
    # the numpy arm log-likelihood (deviance, DIC) is the same sum
    arm_eta = np.array(
        [eta[(network.study_codes == s) & (network.treatment_codes == t)][0]
         for s, t in zip(arms.arm_study, arms.arm_treatment, strict=True)]
    )  # fmt: skip
    per_arm = arm_loglik(arms, arm_eta, nuisance)
    np.testing.assert_allclose(
        np.bincount(arms.arm_study, weights=per_arm, minlength=network.k), want, atol=1e-8
    )


def test_negative_binomial_arms_are_cells_of_equal_count_and_exposure():
    rows = pd.DataFrame({"s": ["1"] * 5 + ["2"] * 3, "t": list("AABBB") + list("ABB"),
                         "y": [0, 0, 3, 3, 1, 2, 2, 5], "e": [1.0] * 8})  # fmt: skip
    arms = network_arms(_network("negative_binomial", rows))
    assert arms.stats["events"].tolist() == [0.0, 7.0, 2.0, 7.0]
    # arm 1 (trial 1, B): counts 3 (twice) and 1 -> two cells
    at = arms.stats["cell_arm"] == 1
    assert dict(zip(arms.stats["cell_value"][at], arms.stats["cell_n"][at], strict=True)) == {
        1.0: 1.0,
        3.0: 2.0,
    }
    assert arms.stats["cell_arm"].dtype == np.int64


def test_ordinal_arms_count_each_category():
    rows = pd.DataFrame({"s": ["1"] * 5 + ["2"] * 3, "t": list("AABBB") + list("ABB"),
                         "y": [0, 2, 1, 1, 2, 0, 2, 2]})  # fmt: skip
    arms = network_arms(_network("ordinal", rows))
    np.testing.assert_array_equal(
        arms.stats["counts"], [[1, 0, 1], [0, 2, 1], [1, 0, 0], [0, 0, 2]]
    )
    np.testing.assert_allclose(arms.stats["mean_level"], [2.0, 2 + 1 / 3, 1.0, 3.0])
    # saturated: the arm's own proportions, -2 log(1/2) for arm 0
    np.testing.assert_allclose(saturated_loglik(arms)[0], 2 * np.log(0.5))


def test_a_family_without_arm_level_model_is_refused_by_name(monkeypatch):
    bare = dataclasses.replace(families.REGISTRY["ordinal"], network_arms=None)
    monkeypatch.setitem(families.REGISTRY, "ordinal", bare)
    rows = pd.DataFrame({"s": ["1", "1", "2", "2"], "t": list("ABAB"), "y": [0, 1, 1, 0]})
    with pytest.raises(IPDDataError, match="not 'ordinal' yet"):
        network_arms(_network("ordinal", rows))


def test_every_family_has_an_arm_level_network_model():
    for name, family in families.REGISTRY.items():
        hooks = family.network_arms
        assert isinstance(hooks, NetworkArmModel), name
        assert hooks.family == name
        assert hooks.replicated in hooks.statistics


# Fits: fixed effects on a simulated network of 6 trials (one three-arm), 200 rows per
# arm. Tolerance: |posterior mean - truth| < 4 MCSE + 3 posterior SD (the posterior SD is
# the data's own sampling error of the estimate; 3 SD: about 0.3% per parameter).
PLANTED = {"B": 0.5, "C": -0.4}


@pytest.mark.parametrize("family", ["negative_binomial", "ordinal"])
def test_fit_recovers_planted_effects(family):
    rng = np.random.default_rng(7 if family == "ordinal" else 5)
    rows = _network_rows(family, rng, 200, PLANTED)
    sampler = bi.SamplerSettings(draws=400, tune=400, chains=2, seed=3)
    post = bi.fit_network_bayes(rows, study="s", treatment="t", reference="A", family=family,
                                outcome="y", time="e" if family == "negative_binomial" else None,
                                effects="fixed", sampler=sampler)  # fmt: skip
    effects = post.effects()
    for t, truth in PLANTED.items():
        node = effects.loc[t]
        mcse = node["sd"] / np.sqrt(node["ess_bulk"])
        assert abs(node["mean"] - truth) < 4 * mcse + 3 * node["sd"], (t, node.to_dict())
        assert node["r_hat"] < 1.05
    ppc = post.ppc()
    assert ppc["statistic"].iloc[0] == families.REGISTRY[family].network_arms.replicated
    assert len(ppc) == sum(len(d) for d in DESIGNS)
    fit = deviance_summary(post.idata.posterior, post.built.arms)
    assert np.isfinite(fit["dic"]) and fit["pd"] > 0
