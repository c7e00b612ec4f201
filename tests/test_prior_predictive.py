"""``prior_predictive(data, spec)``: prior draws and replicated outcomes without a fit."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats

import bayes_ipd as bi
from bayes_ipd.data import IPD
from bayes_ipd.simulate import simulate_binary


@pytest.fixture(scope="module")
def check():
    frame, _ = simulate_binary(n_studies=4, n_per_study=80, seed=3)
    ipd = IPD.from_frame(
        frame, study="trial", treatment="treat", outcome="event", family="binomial"
    )
    spec = bi.ModelSpec("binomial", priors={"tau": "turner()", "effect": "normal(0, 1.5)"})
    return bi.prior_predictive(ipd, spec, draws=1000, seed=11), ipd, spec


def test_tau_draws_follow_the_closed_form_on_tau(check):
    pp, _, _ = check
    # Turner 2015 marginal: log tau² ~ N(-2.56, 1.74), so tau = exp(X / 2) is
    # LN(-1.28, 0.87) on tau. A KS test with 1000 draws; the wrong convention (the
    # log-normal read as a prior on tau itself) must be rejected by the same test.
    right = stats.kstest(pp.tau, stats.lognorm(s=0.87, scale=np.exp(-1.28)).cdf)
    wrong = stats.kstest(pp.tau, stats.lognorm(s=1.74, scale=np.exp(-2.56)).cdf)
    assert right.pvalue > 1e-3
    assert wrong.pvalue < 1e-6
    effect = stats.kstest(pp.effect, stats.norm(0, 1.5).cdf)
    assert effect.pvalue > 1e-3


def test_summary_quantiles_and_outcome_table(check):
    pp, ipd, _ = check
    s = pp.summary()
    assert list(s.index) == ["tau", "effect"]
    # quantiles of the draws, within Monte Carlo error of the closed form (1000 draws):
    # median of tau: exp(-1.28) = 0.278
    assert s.loc["tau", "median"] == pytest.approx(np.exp(-1.28), rel=0.15)
    table = pp.check.table
    assert pp.check.kind == "prior"
    assert set(table["study"]) == set(ipd.studies)
    assert len(table) == 2 * len(ipd.studies) * len(pp.check.statistics)
    assert (table["rep_q025"] <= table["rep_q975"]).all()
    assert isinstance(pp.plot(), Figure)
    assert "Prior predictive check: 1000 prior draws, seed 11" in repr(pp)


def test_same_seed_same_draws(check):
    pp, ipd, spec = check
    again = bi.prior_predictive(ipd, spec, draws=1000, seed=11)
    np.testing.assert_array_equal(again.tau, pp.tau)
    np.testing.assert_array_equal(again.check.table["rep_mean"], pp.check.table["rep_mean"])
