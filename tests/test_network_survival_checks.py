"""Checks of the one-stage survival network model: deviance, DIC, predictive check, UME and
node-splitting (issue 25 items 2 and 5).

The piecewise-exponential likelihood in its Poisson form (events and person-time per arm and
baseline interval): the numpy log-likelihood must equal the PyTensor graph at a point, the
residual deviance the closed-form Poisson deviance ``2 sum [d log(d / mu) - (d - mu)]``,
and the replicated events have mean ``sum_j E_j e^eta_j``. The inconsistency models run on a
tiny network cut from ``tests/data/network_survival.csv``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pymc.pytensorf import compile as compile_fn

import bayes_ipd as bi
from bayes_ipd.data.network import network_from_frame
from bayes_ipd.one_stage.network_deviance import arm_eta_draws, deviance_summary
from bayes_ipd.one_stage.network_model import build_network_model
from bayes_ipd.one_stage.network_summaries import network_arms, replicate_arm_statistic

DATA = Path(__file__).parent / "data" / "network_survival.csv"
KWARGS = {"study": "trial", "treatment": "arm", "reference": "P", "family": "survival",
          "time": "months", "event": "died"}  # fmt: skip


@pytest.fixture(scope="module")
def arms():
    return network_arms(network_from_frame(pd.read_csv(DATA), **KWARGS))


def _point_posterior(alpha: np.ndarray, delta: np.ndarray) -> xr.Dataset:
    """One draw of ``alpha`` [study, interval] and ``delta`` [contrast]."""
    return xr.Dataset(
        {
            "alpha": (("chain", "draw", "study", "interval"), alpha[None, None]),
            "delta": (("chain", "draw", "contrast"), delta[None, None]),
        }
    )


def test_numpy_loglik_equals_the_pytensor_graph_at_a_point(arms):
    model = build_network_model(arms).model
    outs = model.replace_rvs_by_values([model["loglik_trial"], model["alpha"], model["delta"]])
    f = compile_fn(model.value_vars, outs, on_unused_input="ignore")
    rng = np.random.default_rng(7)
    start = model.initial_point(random_seed=7)
    point = {k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in start.items()}
    per_trial, alpha, delta = f(*[point[v.name] for v in model.value_vars])
    assert alpha.shape == (arms.k, 4)
    eta = arm_eta_draws(_point_posterior(alpha, delta), arms)[0]  # (A, J)
    assert eta.shape == (arms.n_arms, 4)
    per_arm = arms.model.loglik_numpy(arms.stats, arms.arm_study, eta, None)
    want = np.bincount(arms.arm_study, weights=per_arm, minlength=arms.k)
    np.testing.assert_allclose(per_trial, want, rtol=1e-10)


def test_residual_deviance_is_the_closed_form_poisson_deviance(arms):
    rng = np.random.default_rng(3)
    alpha = rng.normal(-3.0, 0.4, (arms.k, 4))
    delta = rng.normal(0.0, 0.3, arms.n_contrasts)
    posterior = _point_posterior(alpha, delta)
    eta = arm_eta_draws(posterior, arms)[0]
    d, e = arms.stats["events"], arms.stats["exposure"]
    mu = e * np.exp(eta)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(d > 0, d * np.log(d / mu), 0.0)
    closed = 2.0 * np.sum(term - (d - mu))
    out = deviance_summary(posterior, arms)
    assert out["deviance"] == "residual"
    assert out["dbar"] == pytest.approx(closed, rel=1e-10)
    assert out["pd"] == pytest.approx(0.0, abs=1e-8)  # one draw: the plug-in is the draw
    assert out["n_data"] == arms.n_arms * 4  # one data point per arm and interval
    # the saturated model's own deviance is zero
    sat = arms.model.saturated(arms.stats)
    at_rate = arms.model.loglik_numpy(arms.stats, arms.arm_study, np.log(np.maximum(d, 1e-300) / e),
                                      None)  # fmt: skip
    np.testing.assert_allclose(at_rate, sat, rtol=1e-10)


def test_replicated_events_have_the_expected_mean(arms):
    rng = np.random.default_rng(11)
    eta = rng.normal(-3.0, 0.3, (arms.n_arms, 4))
    draws = 20_000
    name, observed, reps = replicate_arm_statistic(
        arms, np.broadcast_to(eta, (draws, *eta.shape)), None, rng
    )
    assert name == "events" and reps.shape == (draws, arms.n_arms)
    np.testing.assert_array_equal(observed, arms.stats["events"].sum(axis=1))
    expected = (arms.stats["exposure"] * np.exp(eta)).sum(axis=1)
    mcse = np.sqrt(expected / draws)  # Poisson: variance = mean
    assert np.all(np.abs(reps.mean(axis=0) - expected) < 4 * mcse)


def test_ume_and_node_splitting_run_on_a_tiny_survival_network():
    rows = pd.read_csv(DATA)
    rows = rows[rows.trial.isin(["S1", "S3", "S4", "S10"])]  # P-X, P-Y, P-X-Y, P-Y
    sampler = bi.SamplerSettings(draws=100, tune=100, chains=1, seed=5, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bi.fit_network_bayes(rows, **KWARGS, sampler=sampler, inconsistency=True)
    out = res.to_dict()
    block = out["inconsistency"]
    arms = res.built.arms
    assert block["deviance"] == "residual" and block["n_data"] == arms.n_arms * 4
    assert {"dbar", "pd", "dic"} <= set(block["consistency"]) and block["ume_effects"]
    # only Y vs X has direct (S4) and indirect (via P) evidence: without S1 and S4 (or S3,
    # S4, S10) X (or Y) is cut off from P
    assert [s["comparison"] for s in out["node_split"]] == ["Y vs X"]
    assert all(0.0 <= s["p"] <= 1.0 for s in out["node_split"])
    assert block["loo"]["terms"] == "marginal"
    assert list(block["loo"]["node_split"]) == ["Y vs X"]
    ppc = res.network()["ppc"]
    want = rows.groupby(["trial", "arm"])["died"].sum()
    got = ppc.set_index(["study", "treatment"])["observed"]
    assert len(ppc) == arms.n_arms and (ppc["statistic"] == "events").all()
    for key, value in got.items():
        assert value == want[key]
    assert ((ppc["p_value"] >= 0) & (ppc["p_value"] <= 1)).all()
    assert "data points" in res.summary()
