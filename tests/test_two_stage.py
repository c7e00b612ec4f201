"""The two-stage facade: both stages in one call, and the result's tables and report."""

from __future__ import annotations

import json
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayes_ipd.two_stage as two_stage_module
from bayes_ipd.data import IPD
from bayes_ipd.datasets import load_bcg_aggregate, load_bcg_ipd
from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage import TwoStageResult, two_stage


@pytest.fixture(scope="module")
def bcg_ipd() -> IPD:
    return load_bcg_ipd()


@pytest.fixture(scope="module")
def bcg_counts() -> tuple[np.ndarray, np.ndarray]:
    """Closed-form per-trial log odds ratios and Woolf variances from the 2x2 counts."""
    t = load_bcg_aggregate()
    a, b, c, d = (t[col].to_numpy(float) for col in ("tpos", "tneg", "cpos", "cneg"))
    return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d


def _dersimonian_laird(y: np.ndarray, v: np.ndarray) -> tuple[float, float, float]:
    """DerSimonian & Laird (1986): tau2 = max(0, (Q - (k-1)) / (Σw - Σw²/Σw))."""
    w = 1 / v
    mu_fe = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mu_fe) ** 2)
    tau2 = max(0.0, (q - (len(y) - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    w_re = 1 / (v + tau2)
    return float(np.sum(w_re * y) / np.sum(w_re)), float(np.sqrt(1 / np.sum(w_re))), tau2


def test_public_names_are_re_exported():
    for name in (
        "AggregateData",
        "PooledResult",
        "pool",
        "pool_aggregate",
        "fit_per_study",
        "two_stage",
        "TwoStageResult",
    ):
        assert hasattr(two_stage_module, name), name


def test_bcg_dl_pooling_of_logistic_estimates_matches_hand_computation(bcg_ipd, bcg_counts):
    y, v = bcg_counts
    res = two_stage(bcg_ipd, method="DL")
    estimate, se, tau2 = _dersimonian_laird(y, v)
    assert res.pooled.estimate == pytest.approx(estimate, abs=1e-6)
    assert res.pooled.se == pytest.approx(se, abs=1e-6)
    assert res.pooled.tau2 == pytest.approx(tau2, abs=1e-6)
    assert res.family == "binomial" and res.pooled.scale == "logOR" and res.pooled.k == 13


def test_hksj_interval_matches_hand_computation(bcg_ipd, bcg_counts):
    # Hartung & Knapp (2001): var = Σw(y - mu)² / ((k - 1) Σw), t on k - 1 df
    y, v = bcg_counts
    res = two_stage(bcg_ipd, method="DL", hksj=True, level=0.9)
    estimate, _, tau2 = _dersimonian_laird(y, v)
    w = 1 / (v + tau2)
    se = math.sqrt(np.sum(w * (y - estimate) ** 2) / ((len(y) - 1) * np.sum(w)))
    half = stats.t.ppf(0.95, len(y) - 1) * se
    assert (res.pooled.ci_low, res.pooled.ci_high) == pytest.approx(
        (estimate - half, estimate + half), abs=1e-6
    )


def _trials_with_one_unfittable() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    frames = []
    for label, n in (("A", 60), ("B", 80), ("C", 70)):
        treat = np.tile([0, 1], n // 2)
        y = (rng.random(n) < np.where(treat == 1, 0.3, 0.45)).astype(float)
        frames.append(pd.DataFrame({"trial": label, "arm": treat, "y": y}))
    # trial D: no events among its controls, so its log odds ratio is not estimable
    frames.append(pd.DataFrame({"trial": "D", "arm": [0] * 8 + [1] * 8, "y": [0] * 8 + [1, 0] * 4}))
    df = pd.concat(frames, ignore_index=True)
    df.loc[[3, 70], "y"] = np.nan  # two rows with a missing outcome, in trials A and B
    return df


@pytest.fixture(scope="module")
def with_exclusion() -> TwoStageResult:
    with pytest.warns(UserWarning, match="dropped 2 of 226 rows"):
        ipd = IPD.from_frame(
            _trials_with_one_unfittable(),
            study="trial",
            treatment="arm",
            outcome="y",
            family="binomial",
            missing="drop",
        )
    with pytest.warns(UserWarning, match="trial 'D' excluded"):
        return two_stage(ipd, method="REML")


def test_excluded_trial_is_kept_in_per_study_and_left_out_of_pooling(with_exclusion):
    res = with_exclusion
    assert res.per_study.studies == ("A", "B", "C", "D")
    assert res.per_study.excluded[3] == "no events in the control arm"
    assert res.pooled.k == 3 and res.pooled.studies == ("A", "B", "C")
    assert dict(res.dropped) == {"A": 1, "B": 1}


def test_to_dict_is_json_ready_with_nan_as_none(with_exclusion):
    d = with_exclusion.to_dict()
    json.dumps(d, allow_nan=False)  # raises on NaN
    assert set(d) >= {"pooled", "per_study"}
    assert d["pooled"]["k"] == 3
    records = d["per_study"]
    assert [r["study"] for r in records] == ["A", "B", "C", "D"]
    assert set(records[0]) == {"study", "estimate", "se", "n", "events", "excluded"}
    assert records[3]["estimate"] is None and records[3]["se"] is None
    assert records[3]["excluded"] == "no events in the control arm"
    assert records[0]["n"] == 59 and isinstance(records[0]["n"], int)
    assert d["dropped"] == {"A": 1, "B": 1}


def test_summary_frame_rows_intervals_and_weights(with_exclusion):
    res = with_exclusion
    frame = res.summary_frame()
    assert list(frame["study"]) == ["A", "B", "C", "D", "pooled (REML)"]
    z = stats.norm.ppf(0.975)
    per_trial = frame.iloc[:3]
    np.testing.assert_allclose(per_trial["ci_low"], per_trial["estimate"] - z * per_trial["se"])
    np.testing.assert_allclose(per_trial["exp_estimate"], np.exp(per_trial["estimate"]))
    # random-effects weights 1 / (se² + tau²), in percent
    w = 1 / (per_trial["se"].to_numpy() ** 2 + res.pooled.tau2)
    np.testing.assert_allclose(per_trial["weight"], 100 * w / w.sum())
    assert math.isnan(frame.loc[3, "weight"])
    assert frame.loc[4, "estimate"] == res.pooled.estimate
    assert frame.loc[4, "n"] == 59 + 79 + 70  # pooled trials only


def test_report_lists_trials_exclusions_and_dropped_rows(with_exclusion):
    text = str(with_exclusion)
    for label in ("A", "B", "C"):
        assert f"\n{label} " in text
    assert "OR [95% CI]" in text and "logOR" in text
    assert "D: no events in the control arm" in text
    assert "rows dropped for missing values: 2 (A: 1, B: 1)" in text
    assert "Random-effects meta-analysis (k = 3" in text


def test_mean_difference_report_has_no_exponentiated_columns():
    rng = np.random.default_rng(2)
    df = pd.DataFrame(
        {
            "trial": np.repeat(["X", "Y", "Z"], 20),
            "arm": np.tile([0, 1], 30),
            "y": rng.normal(0, 1, 60),
        }
    )
    res = two_stage(IPD.from_frame(df, study="trial", treatment="arm", outcome="y"))
    assert res.pooled.scale == "MD"
    assert not any(c.startswith("exp_") for c in res.summary_frame().columns)
    assert "OR [" not in str(res) and "MD [95% CI]" in str(res)


def test_every_trial_excluded_raises_pooling_error():
    df = pd.DataFrame(
        {"trial": np.repeat(["P", "Q"], 8), "arm": np.tile([0, 1], 8), "y": np.tile([0, 1], 8)}
    )
    ipd = IPD.from_frame(df, study="trial", treatment="arm", outcome="y", family="binomial")
    with pytest.warns(UserWarning), pytest.raises(PoolingError, match="every trial is excluded"):
        two_stage(ipd)


def test_plot_forest_returns_a_figure(with_exclusion):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = with_exclusion.plot_forest(title="binary trials")
    try:
        assert isinstance(fig, Figure)
    finally:
        plt.close(fig)
