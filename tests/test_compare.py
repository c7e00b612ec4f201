"""Tests of bayes_ipd.compare: one-stage vs two-stage on the same simulated binary trials.

The two-stage route is computed here from the 2x2 tables (Woolf's log odds ratio and SE,
then REML + HKSJ pooling), independently of the stage-one regressions; the one-stage
numbers are checked against quantiles of the raw posterior draws.
"""

from __future__ import annotations

import json
import math
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from bayes_ipd.compare import TABLE_COLUMNS, compare
from bayes_ipd.errors import PoolingError
from bayes_ipd.one_stage.fitting import fit
from bayes_ipd.one_stage.summaries import summarise_trial
from bayes_ipd.spec import ModelSpec, SamplerSettings
from bayes_ipd.two_stage import AggregateData, TwoStageResult, pool_aggregate

K, N = 5, 300
STUDIES = tuple(f"C{i}" for i in range(K))
Z975 = 1.959963984540054  # standard normal 97.5% quantile


def _trials(seed: int = 21):
    """Binary trials with logit P(event) = -0.8 + theta_k t, theta_k ~ N(-0.6, 0.3²)."""
    rng = np.random.default_rng(seed)
    sums, tables = [], []
    for label in STUDIES:
        t = np.tile([0.0, 1.0], N // 2)
        theta = -0.6 + rng.normal(0, 0.3)
        y = rng.binomial(1, 1 / (1 + np.exp(-(-0.8 + theta * t)))).astype(float)
        sums.append(
            summarise_trial(label, "binomial", t, pd.DataFrame(index=range(N)), [], [], outcome=y)
        )
        tables.append([y[t == a].sum() for a in (0, 1)])
    return sums, np.array(tables)


def _woolf(events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log odds ratio (treated vs control) and its SE from the 2x2 counts (Woolf 1955)."""
    n_arm = N / 2
    c, a = events[:, 0], events[:, 1]
    d, b = n_arm - c, n_arm - a
    return np.log(a * d / (b * c)), np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)


def _two_stage(estimate, se, excluded=(), scale="logOR", term="treat") -> TwoStageResult:
    agg = AggregateData(
        STUDIES, estimate, se, n=np.full(K, N), excluded=excluded, term=term, scale=scale
    )
    pooled = pool_aggregate(agg, method="REML", hksj=True)
    return TwoStageResult(per_study=agg, pooled=pooled, family="binomial")


@pytest.fixture(scope="module")
def routes():
    sums, events = _trials()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = fit(
            sums,
            ModelSpec(family="binomial"),
            SamplerSettings(draws=300, tune=300, chains=2, seed=5, progress=False),
        )
    est, se = _woolf(events)
    return one, _two_stage(est, se), est, se


def test_table_rows_and_two_stage_columns(routes):
    one, two, est, se = routes
    table = compare(one, two).table
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert list(table["row"]) == ["pooled effect", "tau", "prediction interval", *STUDIES]
    assert list(table["kind"]) == ["pooled", "tau", "prediction", *["study"] * K]
    pooled = two.pooled
    by_row = table.set_index("row")
    cols = ["two_stage_estimate", "two_stage_low", "two_stage_high"]
    assert by_row.loc["pooled effect", cols].tolist() == [
        pooled.estimate,
        pooled.ci_low,
        pooled.ci_high,
    ]
    # tau and its interval: square roots of tau² and of its Q-profile bounds.
    np.testing.assert_allclose(
        by_row.loc["tau", cols].astype(float),
        np.sqrt([pooled.tau2, pooled.tau2_ci_low, pooled.tau2_ci_high]),
    )
    assert by_row.loc["prediction interval", cols].tolist() == [
        pooled.estimate,
        pooled.pi_low,
        pooled.pi_high,
    ]
    # Per-trial Wald intervals est ± z(0.975) se.
    trials = by_row.loc[list(STUDIES)]
    np.testing.assert_allclose(trials["two_stage_estimate"], est)
    np.testing.assert_allclose(trials["two_stage_low"], est - Z975 * se)
    np.testing.assert_allclose(trials["two_stage_high"], est + Z975 * se)
    np.testing.assert_allclose(trials["weight"], pooled.weights)
    assert trials["note"].isna().all() and (trials["n"] == N).all()


def test_one_stage_columns_are_posterior_quantiles(routes):
    one, two, _, _ = routes
    by_row = compare(one, two).table.set_index("row")
    cols = ["one_stage_estimate", "one_stage_low", "one_stage_high"]
    post = one.idata.posterior
    for row, draws in (
        ("pooled effect", post["mu"].values),
        ("tau", post["tau"].values),
        ("prediction interval", one.predict_new_study().values),
        ("C2", post["theta"].sel(study="C2").values),
    ):
        want = np.quantile(draws.ravel(), [0.5, 0.025, 0.975])
        np.testing.assert_allclose(by_row.loc[row, cols].astype(float), want, rtol=1e-12)


def test_routes_agree_on_simulated_trials(routes):
    one, two, _, _ = routes
    by_row = compare(one, two).table.set_index("row")
    pooled = by_row.loc["pooled effect"]
    # Both routes estimate the same mean log OR from the same 1500 participants; their
    # difference is a small fraction of the two-stage SE (REML vs posterior median, and
    # the logistic likelihood vs Woolf's normal approximation).
    half_width = (pooled["two_stage_high"] - pooled["two_stage_low"]) / 2
    assert abs(pooled["one_stage_estimate"] - pooled["two_stage_estimate"]) < half_width / 2
    # Shrinkage pulls each trial towards the pooled effect, never past its own CI.
    trials = by_row.loc[list(STUDIES)]
    assert (trials["one_stage_estimate"] > trials["two_stage_low"]).all()
    assert (trials["one_stage_estimate"] < trials["two_stage_high"]).all()
    # Simulation truth -0.6 inside both pooled intervals.
    assert pooled["two_stage_low"] < -0.6 < pooled["two_stage_high"]
    assert pooled["one_stage_low"] < -0.6 < pooled["one_stage_high"]


def test_excluded_trial_keeps_its_one_stage_row(routes):
    one, _, est, se = routes
    est = est.copy()
    est[1] = np.nan
    two = _two_stage(est, se, excluded=(None, "no events in one arm", None, None, None))
    row = compare(one, two).table.set_index("row").loc["C1"]
    assert np.isnan(row["two_stage_estimate"]) and np.isnan(row["weight"])
    assert row["note"] == "no events in one arm"
    assert math.isfinite(row["one_stage_estimate"])
    assert "excluded: no events in one arm" in repr(compare(one, two))


def test_incomparable_routes_are_refused(routes):
    one, _, est, se = routes
    with pytest.raises(PoolingError, match="MD"):
        compare(one, _two_stage(est, se, scale="MD"))
    with pytest.raises(PoolingError, match="treat:age"):
        compare(one, _two_stage(est, se, term="treat:age"))


def test_to_dict_repr_and_plot(routes):
    one, two, _, _ = routes
    comparison = compare(one, two)
    d = comparison.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["scale"] == "logOR" and d["two_stage_method"] == "REML + HKSJ"
    assert len(d["rows"]) == 3 + K and set(d["rows"][0]) == set(TABLE_COLUMNS)
    text = repr(comparison)
    assert "OR two-stage" in text and "pooled effect" in text and "C4" in text
    fig = comparison.plot(title="Simulated trials")
    assert isinstance(fig, Figure)
    assert any(ax.get_xscale() == "log" for ax in fig.axes)  # odds ratios on a log axis


# ------------------------------------------------- issue 29, item 2: trials labelled


def test_comparison_names_its_trials_in_table_text_and_figure(routes):
    one, two, _, _ = routes
    comparison = compare(one, two)
    assert comparison.data == "IPD only" and comparison.k == K
    assert comparison.trials_label == f"Trials: IPD only, k = {K}"
    assert comparison.trials_label in repr(comparison).splitlines()
    d = comparison.to_dict()
    assert d["data"] == "IPD only" and d["k"] == K
    fig = comparison.plot()
    shown = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    assert comparison.trials_label in shown
    assert any("IPD only" in t and f"k = {K}" in t for t in shown if "One-stage vs" in t)


def test_an_ipd_only_route_beside_an_ipd_plus_ad_route_is_refused(routes):
    """Like with like: the one-stage fit here has rows only, the two-stage one adds a
    published estimate; the pooled effects would describe different trial sets."""
    one, _, est, se = routes
    labels = (*STUDIES, "Published")
    agg = AggregateData(labels, np.r_[est, -0.5], np.r_[se, 0.2], scale="logOR")
    two = TwoStageResult(
        per_study=agg,
        pooled=pool_aggregate(agg, method="REML", hksj=True),
        family="binomial",
        sources={**dict.fromkeys(STUDIES, "IPD"), "Published": "AD"},
    )
    with pytest.raises(PoolingError, match=r"'Published'.*IPD only or both on IPD \+ AD"):
        compare(one, two)
