"""Tests of bayes_ipd.two_stage.pooling against metafor's published BCG figures."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage.aggregate import AggregateData
from bayes_ipd.two_stage.pooling import METHODS, pool, pool_aggregate, tau2_qprofile_ci

# BCG vaccine trials, Colditz et al. (1994): log risk ratios yi and sampling variances vi from
# metafor escalc(measure = "RR") on metadat::dat.bcg (/work/shared/data/bcg.csv, trials 1-13).
BCG_YI = np.array(
    [
        -0.8893113339,
        -1.5853886572,
        -1.3480731483,
        -1.44155119,
        -0.2175473222,
        -0.7861155858,
        -1.6208982236,
        0.0119523335,
        -0.4694176487,
        -1.3713448035,
        -0.3393588283,
        0.4459134006,
        -0.0173139482,
    ]
)
BCG_VI = np.array(
    [
        0.325584765,
        0.1945811214,
        0.4153679654,
        0.0200100319,
        0.0512101722,
        0.0069056185,
        0.2230172476,
        0.0039615793,
        0.0564342105,
        0.0730247936,
        0.012412214,
        0.5325058452,
        0.0714046597,
    ]
)
BCG_SE = np.sqrt(BCG_VI)

# metafor 3.8 rma(yi, vi, method = ..., test = "z" / "knha"), 95% intervals, as tabulated in
# /work/shared/data/REFERENCES.md. Columns: estimate, se, ci_low, ci_high (4 decimals),
# tau2 (4), I2 (2), H2 (2), Q (4).
BCG_METAFOR = {
    ("FE", False): (-0.4303, 0.0405, -0.5097, -0.3509, 0.0, 92.12, 12.69, 152.2330),
    ("DL", False): (-0.7141, 0.1787, -1.0644, -0.3638, 0.3088, 92.12, 12.69, 152.2330),
    ("REML", False): (-0.7145, 0.1798, -1.0669, -0.3622, 0.3132, 92.22, 12.86, 152.2330),
    ("PM", False): (-0.7150, 0.1809, -1.0695, -0.3604, 0.3181, 92.33, 13.04, 152.2330),
    ("ML", False): (-0.7112, 0.1719, -1.0481, -0.3743, 0.2800, 91.38, 11.60, 152.2330),
    ("REML", True): (-0.7145, 0.1808, -1.1084, -0.3206, 0.3132, 92.22, 12.86, 152.2330),
    ("DL", True): (-0.7141, 0.1807, -1.1078, -0.3204, 0.3088, 92.12, 12.69, 152.2330),
}
FIELDS_AND_DECIMALS = (
    ("estimate", 4),
    ("se", 4),
    ("ci_low", 4),
    ("ci_high", 4),
    ("tau2", 4),
    ("i2", 2),
    ("h2", 2),
    ("q", 4),
)


def assert_rounds_to(value: float, published: float, decimals: int, name: str) -> None:
    """The value agrees with a published figure on its displayed decimals."""
    tolerance = 0.5 * 10.0 ** (-decimals) + 1e-12
    assert abs(value - published) <= tolerance, f"{name}: {value} vs published {published}"


@pytest.mark.parametrize(("method", "hksj"), list(BCG_METAFOR))
def test_bcg_matches_metafor(method: str, hksj: bool) -> None:
    result = pool(BCG_YI, BCG_SE, method=method, hksj=hksj, scale="logRR")
    for (field, decimals), published in zip(
        FIELDS_AND_DECIMALS, BCG_METAFOR[(method, hksj)], strict=True
    ):
        assert_rounds_to(getattr(result, field), published, decimals, f"{method} {field}")
    assert result.q_df == 12
    assert result.k == 13
    assert result.dist == ("t" if hksj else "z")
    assert result.df == (12.0 if hksj else None)


@pytest.mark.parametrize("method", METHODS)
def test_bcg_tau2_and_i2_qprofile_ci(method: str) -> None:
    # metafor confint(rma(yi, vi, method = "DL")): tau2 (0.1197, 1.1115), I2 (81.92, 97.68);
    # the Q-profile interval does not depend on the estimator.
    result = pool(BCG_YI, BCG_SE, method=method)
    assert_rounds_to(result.tau2_ci_low, 0.1197, 4, "tau2 low")
    assert_rounds_to(result.tau2_ci_high, 1.1115, 4, "tau2 high")
    assert_rounds_to(result.i2_ci_low, 81.92, 2, "I2 low")
    assert_rounds_to(result.i2_ci_high, 97.68, 2, "I2 high")


def test_tau2_qprofile_ci_function_matches_metafor() -> None:
    low, high = tau2_qprofile_ci(BCG_YI, BCG_SE)  # metafor confint: (0.1197, 1.1115)
    assert_rounds_to(low, 0.1197, 4, "tau2 low")
    assert_rounds_to(high, 1.1115, 4, "tau2 high")


def test_qprofile_bounds_solve_the_generalised_q_equation() -> None:
    # Viechtbauer 2007: Q(tau2_low) = chi2_{k-1}(0.975) = 23.33666, Q(tau2_high) =
    # chi2_{k-1}(0.025) = 4.403789 (k - 1 = 12; quantiles from standard chi-squared tables).
    low, high = tau2_qprofile_ci(BCG_YI, BCG_SE)
    for tau2, target in ((low, 23.33666), (high, 4.403789)):
        w = 1.0 / (BCG_VI + tau2)
        mu = np.sum(w * BCG_YI) / np.sum(w)
        assert np.sum(w * (BCG_YI - mu) ** 2) == pytest.approx(target, rel=1e-6)


def test_qprofile_ci_is_zero_when_there_is_no_heterogeneity() -> None:
    low, high = tau2_qprofile_ci([0.1, 0.1, 0.1], [0.2, 0.3, 0.4])
    assert (low, high) == (0.0, 0.0)


def test_dl_matches_closed_form_and_pi_hand_computation() -> None:
    # Three trials y = (0.1, 0.5, 0.9), v = 0.04 each. By hand: w = 25, mu_FE = 0.5,
    # Q = 25 * (0.16 + 0 + 0.16) = 8, C = 75 - 1875/75 = 50, tau2_DL = (8 - 2)/50 = 0.12;
    # RE weights equal so mu = 0.5, se² = (0.04 + 0.12)/3. PI (Higgins et al. 2009, eq. 12):
    # mu ± t_{1, 0.975} sqrt(tau2 + se²), with t_{1,p} = tan(pi (p - 1/2)) (Cauchy quantile).
    result = pool([0.1, 0.5, 0.9], [0.2, 0.2, 0.2], method="DL")
    se2 = 0.16 / 3
    half = math.tan(math.pi * 0.475) * math.sqrt(0.12 + se2)
    assert result.tau2 == pytest.approx(0.12, rel=1e-12)
    assert result.estimate == pytest.approx(0.5, rel=1e-12)
    assert result.se == pytest.approx(math.sqrt(se2), rel=1e-12)
    assert result.q == pytest.approx(8.0, rel=1e-12)
    assert result.q_p == pytest.approx(math.exp(-8.0 / 2), rel=1e-10)  # chi2 on 2 df: e^(-q/2)
    assert result.pi_low == pytest.approx(0.5 - half, rel=1e-10)
    assert result.pi_high == pytest.approx(0.5 + half, rel=1e-10)
    np.testing.assert_allclose(result.weights, [100 / 3] * 3)


def test_pi_uses_the_hksj_se_under_hksj() -> None:
    # Same three trials, unequal variances; HKSJ se² = Σw(y-mu)²/((k-1)Σw) by hand from the
    # DL tau2 (closed form, DerSimonian & Laird 1986).
    y = np.array([0.1, 0.5, 1.2])
    v = np.array([0.04, 0.09, 0.01])
    w0 = 1 / v
    q = np.sum(w0 * (y - np.sum(w0 * y) / np.sum(w0)) ** 2)
    tau2 = max(0.0, (q - 2) / (np.sum(w0) - np.sum(w0**2) / np.sum(w0)))
    w = 1 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    se = math.sqrt(np.sum(w * (y - mu) ** 2) / (2 * np.sum(w)))
    half = math.tan(math.pi * 0.475) * math.sqrt(tau2 + se**2)
    result = pool(y, np.sqrt(v), method="DL", hksj=True)
    assert result.se == pytest.approx(se, rel=1e-12)
    assert result.pi_low == pytest.approx(mu - half, rel=1e-10)
    assert result.pi_high == pytest.approx(mu + half, rel=1e-10)
    # t on k - 1 = 2 df: t_{2,p} = (2p - 1) sqrt(2 / (1 - (2p - 1)²)) (closed form)
    t2 = 0.95 * math.sqrt(2 / (1 - 0.95**2))
    assert result.ci_high - result.estimate == pytest.approx(t2 * se, rel=1e-10)


def test_dl_and_pm_agree_with_statsmodels() -> None:
    from statsmodels.stats.meta_analysis import combine_effects

    for method, sm_method in (("DL", "chi2"), ("PM", "iterated")):
        ours = pool(BCG_YI, BCG_SE, method=method)
        theirs = combine_effects(BCG_YI, BCG_VI, method_re=sm_method)
        assert ours.tau2 == pytest.approx(theirs.tau2, rel=1e-4)
        assert ours.estimate == pytest.approx(theirs.mean_effect_re, rel=1e-4)


def test_fe_has_no_prediction_interval() -> None:
    result = pool(BCG_YI, BCG_SE, method="FE")
    assert math.isnan(result.pi_low) and math.isnan(result.pi_high)


# --- small k ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_single_trial(method: str) -> None:
    result = pool([-0.3], [0.2], method=method, studies=["only"])
    assert (result.estimate, result.se, result.tau2, result.q, result.q_df) == (
        -0.3,
        0.2,
        0.0,
        0.0,
        0,
    )
    assert result.ci_low == pytest.approx(-0.3 - 1.959963985 * 0.2)  # z_0.975 (tables)
    for field in ("q_p", "i2", "h2", "pi_low", "pi_high", "tau2_ci_low", "tau2_ci_high"):
        assert math.isnan(getattr(result, field)), field
    np.testing.assert_array_equal(result.weights, [100.0])


def test_single_trial_refuses_hksj() -> None:
    with pytest.raises(PoolingError, match="HKSJ needs at least 2 trials"):
        pool([-0.3], [0.2], hksj=True)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("hksj", [False, True])
def test_two_trials_report_everything_but_the_pi(method: str, hksj: bool) -> None:
    result = pool([-0.3, 0.4], [0.2, 0.25], method=method, hksj=hksj)
    assert math.isnan(result.pi_low) and math.isnan(result.pi_high)
    finite = ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "h2", "q", "q_p")
    for field in (*finite, "tau2_ci_low", "tau2_ci_high"):
        assert math.isfinite(getattr(result, field)), field
    assert result.q_df == 1


def test_no_trials_is_an_error() -> None:
    with pytest.raises(PoolingError, match="no trials"):
        pool([], [])


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad_se", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_se_names_the_trial(bad_se: float) -> None:
    with pytest.raises(PoolingError, match=r"trial 'B'.*se is"):
        pool([0.1, 0.2, 0.3], [0.1, bad_se, 0.1], studies=["A", "B", "C"])


def test_nan_estimate_names_the_trial() -> None:
    with pytest.raises(PoolingError, match=r"trial '3'.*estimate is nan"):
        pool([0.1, 0.2, float("nan")], [0.1, 0.1, 0.1])


def test_mismatched_lengths() -> None:
    with pytest.raises(PoolingError, match="3 estimates but 2 standard errors"):
        pool([0.1, 0.2, 0.3], [0.1, 0.1])
    with pytest.raises(PoolingError, match="2 study labels for 3 trials"):
        pool([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], studies=["a", "b"])


def test_unknown_method_and_scale_and_level() -> None:
    with pytest.raises(PoolingError, match="unknown pooling method 'HS'"):
        pool(BCG_YI, BCG_SE, method="HS")
    with pytest.raises(PoolingError, match="unknown effect scale 'RR'"):
        pool(BCG_YI, BCG_SE, scale="RR")
    with pytest.raises(PoolingError, match="level"):
        pool(BCG_YI, BCG_SE, level=95)


def test_method_is_case_insensitive() -> None:
    assert pool(BCG_YI, BCG_SE, method="reml").method == "REML"


# --- result object ------------------------------------------------------------------------

EXPECTED_KEYS = {
    "method",
    "hksj",
    "k",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "stat",
    "p",
    "tau2",
    "tau2_ci_low",
    "tau2_ci_high",
    "i2",
    "i2_ci_low",
    "i2_ci_high",
    "h2",
    "q",
    "q_df",
    "q_p",
    "pi_low",
    "pi_high",
    "scale",
}


def test_to_dict_keys_and_json() -> None:
    d = pool(BCG_YI, BCG_SE, method="REML", hksj=True, scale="logRR").to_dict()
    assert set(d) == EXPECTED_KEYS
    assert d["method"] == "REML" and d["hksj"] is True and d["scale"] == "logRR"
    assert type(d["k"]) is int and type(d["q_df"]) is int and type(d["estimate"]) is float
    json.dumps(d, allow_nan=False)


def test_to_dict_nan_becomes_none() -> None:
    d = pool([0.1, 0.3], [0.1, 0.2]).to_dict()
    assert d["pi_low"] is None and d["pi_high"] is None
    json.dumps(d, allow_nan=False)


def test_weights_are_read_only_percentages() -> None:
    result = pool(BCG_YI, BCG_SE, method="REML", studies=[f"T{i}" for i in range(1, 14)])
    assert result.weights.sum() == pytest.approx(100.0)
    assert not result.weights.flags.writeable
    assert result.studies[0] == "T1"


def test_report_labels_each_quantity() -> None:
    result = pool(BCG_YI, BCG_SE, method="REML", scale="logRR")
    text = str(result)
    for label in ("REML", "k = 13", "τ²", "I²", "H²", "Q(12 df)", "prediction interval"):
        assert label in text, label
    assert "risk ratio" in text
    assert "-0.7145" in text and "0.3132" in text  # metafor REML figures
    assert repr(result) == text
    assert "<table" in result._repr_html_()


def test_summary_frame_exponentiates_log_ratios() -> None:
    result = pool(BCG_YI, BCG_SE, method="DL", scale="logRR")
    frame = result.summary_frame()
    row = frame.loc["exp(estimate)"]
    # exp of metafor's DL estimate -0.7141 and lower bound -1.0644 (REFERENCES.md table)
    assert row["value"] == pytest.approx(math.exp(-0.7141), abs=1e-4)
    assert row["ci_low"] == pytest.approx(math.exp(-1.0644), abs=1e-4)
    assert frame.loc["tau2", "ci_high"] == pytest.approx(1.1115, abs=5e-5)
    no_ratio = pool(BCG_YI, BCG_SE, method="DL", scale="MD").summary_frame()
    assert "exp(estimate)" not in no_ratio.index


def test_pool_aggregate_pools_included_trials() -> None:
    labels = tuple(f"T{i}" for i in range(1, 15))
    agg = AggregateData(
        studies=labels,
        estimate=np.append(BCG_YI, np.nan),
        se=np.append(BCG_SE, np.nan),
        excluded=(None,) * 13 + ("no events",),
        scale="logRR",
    )
    result = pool_aggregate(agg, method="REML")
    assert result.k == 13 and result.studies == labels[:13] and result.scale == "logRR"
    assert_rounds_to(result.estimate, -0.7145, 4, "REML estimate")  # metafor, as above


def test_pool_aggregate_with_everything_excluded() -> None:
    agg = AggregateData(("A",), np.array([np.nan]), np.array([np.nan]), excluded=("separation",))
    with pytest.raises(PoolingError, match="A: separation"):
        pool_aggregate(agg)


# --- properties ---------------------------------------------------------------------------

estimates_st = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False)
ses_st = st.floats(min_value=0.05, max_value=2.0, allow_nan=False)


@st.composite
def meta_data(draw: st.DrawFn, min_k: int = 2, max_k: int = 8) -> tuple[list, list]:
    k = draw(st.integers(min_value=min_k, max_value=max_k))
    y = draw(st.lists(estimates_st, min_size=k, max_size=k))
    s = draw(st.lists(ses_st, min_size=k, max_size=k))
    return y, s


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _close(a: float, b: float, rel: float = 1e-7, abs_: float = 1e-9) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == pytest.approx(b, rel=rel, abs=abs_)


@settings(max_examples=40, deadline=None)
@given(
    data=meta_data(), method=st.sampled_from(METHODS), hksj=st.booleans(), seed=st.integers(0, 99)
)
def test_invariant_to_study_order(data, method, hksj, seed) -> None:
    y, s = data
    order = np.random.default_rng(seed).permutation(len(y))
    a = pool(y, s, method=method, hksj=hksj)
    b = pool(np.array(y)[order], np.array(s)[order], method=method, hksj=hksj)
    b_dict = b.to_dict()
    for key, value in a.to_dict().items():
        if isinstance(value, float) or value is None:
            other = b_dict[key]
            assert _close(_nan(value), _nan(other)), key
    np.testing.assert_allclose(a.weights[order], b.weights, rtol=1e-7)


@settings(max_examples=30, deadline=None)
@given(value=estimates_st, s=st.lists(ses_st, min_size=2, max_size=8))
def test_fe_equals_reml_when_estimates_are_equal(value, s) -> None:
    y = [value] * len(s)
    fe = pool(y, s, method="FE")
    reml = pool(y, s, method="REML")
    assert reml.tau2 == 0.0
    for field in ("estimate", "se", "ci_low", "ci_high", "i2"):
        assert _close(getattr(fe, field), getattr(reml, field), rel=1e-12), field


@settings(max_examples=40, deadline=None)
@given(
    data=meta_data(),
    c=st.floats(min_value=1e-6, max_value=1e6),
    method=st.sampled_from(METHODS),
    hksj=st.booleans(),
)
def test_scaling_estimates_and_ses(data, c, method, hksj) -> None:
    # metafor's stopping rules are absolute, so equivariance holds for the exact roots
    y, s = data
    a = pool(y, s, method=method, hksj=hksj, convergence="exact")
    b = pool(np.array(y) * c, np.array(s) * c, method=method, hksj=hksj, convergence="exact")
    assert _close(b.estimate, c * a.estimate, rel=1e-6, abs_=1e-9 * c)
    assert _close(b.se, c * a.se, rel=1e-6)
    assert _close(b.tau2, c**2 * a.tau2, rel=1e-6, abs_=1e-10 * c**2)
    assert _close(b.i2, a.i2, rel=1e-6, abs_=1e-6)
    assert _close(b.q, a.q, rel=1e-6, abs_=1e-9)


@settings(max_examples=30, deadline=None)
@given(data=meta_data(min_k=3), method=st.sampled_from(METHODS[1:]), hksj=st.booleans())
def test_intervals_are_ordered(data, method, hksj) -> None:
    y, s = data
    r = pool(y, s, method=method, hksj=hksj)
    assert r.ci_low <= r.estimate <= r.ci_high
    assert r.pi_low <= r.ci_low + 1e-12 and r.ci_high <= r.pi_high + 1e-12
    assert 0.0 <= r.tau2_ci_low <= r.tau2_ci_high
    assert 0.0 <= r.i2 <= 100.0


# --- numerically extreme SEs ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["FE", "DL", "REML", "PM", "ML"])
@pytest.mark.parametrize("tiny", [1e-300, 1e-160, 1e-155])
def test_se_whose_weight_overflows_names_the_trial(method: str, tiny: float) -> None:
    # se² underflows to 0 (1e-300) or 1/se² overflows (1e-160, 1e-155): a PoolingError
    # naming the trial and the SE, not a ValueError from the root finder.
    with pytest.raises(PoolingError, match=rf"trial 'B'.*se is {tiny:g}"):
        pool([0.1, 0.5, 0.9], [0.2, tiny, 0.3], method=method, studies=["A", "B", "C"])
    with pytest.raises(PoolingError, match=rf"trial '2'.*se is {tiny:g}"):
        tau2_qprofile_ci([0.1, 0.5, 0.9], [0.2, tiny, 0.3])


@pytest.mark.parametrize("method", ["FE", "DL", "REML", "PM", "ML"])
@pytest.mark.parametrize("tiny", [1e-100, 1e-50, 1e-20])
def test_tiny_but_representable_se_is_pooled_correctly_or_refused(method, tiny) -> None:
    # Weights 1/se² up to 1e200: either a correct, finite answer or a PoolingError that
    # names the trial; never a ValueError, a ZeroDivisionError, or a silently wrong τ².
    w_a, w_c = 1 / 0.2**2, 1 / 0.3**2
    try:
        res = pool([0.1, 0.5, 0.9], [0.2, tiny, 0.3], method=method, studies=["A", "B", "C"])
    except PoolingError as exc:
        assert "'B'" in str(exc)
        return
    for key in ("estimate", "se", "tau2", "tau2_ci_low", "tau2_ci_high", "i2", "h2", "q"):
        assert math.isfinite(getattr(res, key)), key
    w = 1 / (np.array([0.2, tiny, 0.3]) ** 2 + res.tau2)
    assert res.estimate == pytest.approx(np.sum(w * [0.1, 0.5, 0.9]) / np.sum(w), rel=1e-9)
    q = w_a * 0.4**2 + w_c * 0.4**2  # trial B is the pooled estimate
    assert res.q == pytest.approx(q, rel=1e-9)
    if method == "DL":
        # as w_B -> inf, Σw - Σw²/Σw -> 2 (w_A + w_C)
        assert res.tau2 == pytest.approx((q - 2) / (2 * (w_a + w_c)), rel=1e-6)


def test_no_root_message_names_the_estimator_and_the_data_size(monkeypatch) -> None:
    from bayes_ipd.two_stage import estimators

    monkeypatch.setattr(estimators, "_MAX_DOUBLINGS", 1)
    with pytest.raises(PoolingError, match=r"no root found for tau2.*REML.*k = 3"):
        estimators.tau2(np.array([0.0, 10.0, 20.0]), np.array([0.01, 0.01, 0.01]), "REML", "exact")
