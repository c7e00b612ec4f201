"""Issue 29 ("first contact, round three"), the two-stage items: one test per finding,
each failed before its fix."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from bayes_ipd.cli import main
from bayes_ipd.data import IPD
from bayes_ipd.datasets import load_bp_ipd
from bayes_ipd.errors import PoolingError
from bayes_ipd.families.regression import Unfittable, check_design
from bayes_ipd.two_stage import fit_per_study, pool

# --- item 16: the rank check does not depend on a covariate's unit ------------------------


def test_rank_check_is_unit_free_at_large_magnitudes() -> None:
    rng = np.random.default_rng(1)
    n = 200
    age = rng.normal(60, 10, n) * 1e12
    treat = rng.integers(0, 2, n).astype(float)
    x = np.column_stack([np.ones(n), treat, age, treat * age])
    check_design(x, ["const", "treat", "age", "treat:age"], min_residual_df=1)
    # a true linear combination is still found, whatever the unit
    with pytest.raises(Unfittable, match="'twice'"):
        check_design(
            np.column_stack([x, 2e-9 * age]),
            ["const", "treat", "age", "treat:age", "twice"],
            min_residual_df=1,
        )


def test_two_stage_age_in_other_units_gives_the_same_trials_and_scaled_effects() -> None:
    frame = load_bp_ipd().to_frame()
    scaled = frame.assign(age=frame["age"] * 1e12)
    kwargs = dict(study="trial", treatment="treat", outcome="sbp_final", covariates=["age"])
    base = fit_per_study(IPD.from_frame(frame, **kwargs), covariates=["age"], pool_var="treat:age")
    big = fit_per_study(IPD.from_frame(scaled, **kwargs), covariates=["age"], pool_var="treat:age")
    assert all(reason is None for reason in big.excluded)
    np.testing.assert_allclose(np.asarray(big.estimate) * 1e12, base.estimate, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(big.se) * 1e12, base.se, rtol=1e-6)


# --- item 20: pooling refuses overflowing estimates and needs no k x k matrix --------------


def test_pool_refuses_estimates_whose_spread_overflows() -> None:
    with pytest.raises(PoolingError, match=r"-1e\+308 \(trial 'B'\)"):
        pool([1e308, -1e308, 0.5], [0.1, 0.2, 0.3], studies=["A", "B", "C"])


def test_pool_cli_overflowing_estimates_exit_2(tmp_path, capsys) -> None:
    path = tmp_path / "huge.csv"
    path.write_text("study,est,se\nA,1e308,0.1\nB,-1e308,0.2\nC,0.5,0.3\n")
    code = main(["pool", str(path), "--estimate", "est", "--se", "se", "--study", "study"])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert last.startswith("error:") and "'A'" in last


# the pooled results on the BCG trials before pooling lost its k x k matrices (full
# precision): estimate, se, tau2, tau2 CI, I2, H2, Q, PI
BCG_SNAPSHOT = {
    ("FE", False): (
        -0.4302851632570888,
        0.04049875175294988,
        0.0,
        0.11971836113652799,
        1.111479084075417,
        92.11734684690664,
        12.686083994544054,
        152.23300793452864,
        math.nan,
        math.nan,
    ),
    ("FE", True): (
        -0.4302851632570888,
        0.14424654805955153,
        0.0,
        0.11971836113652799,
        1.111479084075417,
        92.11734684690664,
        12.686083994544054,
        152.23300793452864,
        math.nan,
        math.nan,
    ),
    ("DL", False): (
        -0.7141172221039302,
        0.17874208961976681,
        0.3087602632076802,
        0.11971836113652799,
        1.111479084075417,
        92.11734684690663,
        12.686083994544054,
        152.23300793452864,
        -1.9988384964907056,
        0.570604052282845,
    ),
    ("DL", True): (
        -0.7141172221039302,
        0.1806966283465724,
        0.3087602632076802,
        0.11971836113652799,
        1.111479084075417,
        92.11734684690663,
        12.686083994544054,
        152.23300793452864,
        -2.000162352494545,
        0.5719279082866846,
    ),
    ("REML", False): (
        -0.7145323483638614,
        0.17978153178576511,
        0.31324332598702787,
        0.11971836113652799,
        1.111479084075417,
        92.22138605952051,
        12.855760777586024,
        152.23300793452864,
        -2.008376050704397,
        0.579311353976674,
    ),
    ("REML", True): (
        -0.7145323483638614,
        0.18079174552282942,
        0.31324332598702787,
        0.11971836113652799,
        1.111479084075417,
        92.22138605952051,
        12.855760777586024,
        152.23300793452864,
        -2.0090577844984776,
        0.579993087770755,
    ),
    ("PM", False): (
        -0.7149704056303415,
        0.18089798412939456,
        0.31809371186128343,
        0.11971836113652799,
        1.111479084075417,
        92.33090027446192,
        13.03934015449041,
        152.23300793452864,
        -2.01861113364013,
        0.5886703223794468,
    ),
    ("PM", True): (
        -0.7149704056303415,
        0.18089271222649325,
        0.31809371186128343,
        0.11971836113652799,
        1.111479084075417,
        92.33090027446192,
        13.03934015449041,
        152.23300793452864,
        -2.0186075898197564,
        0.5886667785590735,
    ),
    ("ML", False): (
        -0.7111991391903196,
        0.17189681702845855,
        0.28002817105592376,
        0.11971836113652799,
        1.111479084075417,
        91.3782847229083,
        11.598620087316585,
        152.23300793452864,
        -1.9358188302799413,
        0.513420551899302,
    ),
    ("ML", True): (
        -0.7111991391903196,
        0.18004222296705283,
        0.28002817105592376,
        0.11971836113652799,
        1.111479084075417,
        91.3782847229083,
        11.598620087316585,
        152.23300793452864,
        -1.941475766108507,
        0.5190774877278677,
    ),
    ("EB", False): (
        -0.7149681591592482,
        0.18089220611856455,
        0.31806851576945927,
        0.11971836113652799,
        1.111479084075417,
        92.33033935395599,
        13.038386522561444,
        152.23300793452864,
        -2.0185581877595817,
        0.5886218694410853,
    ),
    ("EB", True): (
        -0.7149681591592482,
        0.18089219285153216,
        0.31806851576945927,
        0.11971836113652799,
        1.111479084075417,
        92.33033935395599,
        13.038386522561444,
        152.23300793452864,
        -2.0185581788411837,
        0.5886218605226875,
    ),
    ("SJ", False): (
        -0.7172485925550149,
        0.1870594584206407,
        0.34551570160057254,
        0.11971836113652799,
        1.111479084075417,
        92.8963240812405,
        14.07721877287762,
        152.23300793452864,
        -2.0749316765363934,
        0.6404344914263638,
    ),
    ("SJ", True): (
        -0.7172485925550149,
        0.18142845153119752,
        0.34551570160057254,
        0.11971836113652799,
        1.111479084075417,
        92.8963240812405,
        14.07721877287762,
        152.23300793452864,
        -2.071224797538476,
        0.636727612428446,
    ),
}


_SNAPSHOT_FIELDS = ("estimate", "se", "tau2", "tau2_ci_low", "tau2_ci_high", "i2", "h2", "q")
_SNAPSHOT_FIELDS += ("pi_low", "pi_high")


@pytest.mark.parametrize(("method", "hksj"), sorted(BCG_SNAPSHOT))
def test_pooling_without_k_by_k_matrices_gives_the_same_numbers(method, hksj) -> None:
    from test_pooling import BCG_SE, BCG_YI

    result = pool(BCG_YI, BCG_SE, method=method, hksj=hksj)
    for field, expected in zip(_SNAPSHOT_FIELDS, BCG_SNAPSHOT[(method, hksj)], strict=True):
        got = getattr(result, field)
        if math.isnan(expected):
            assert math.isnan(got), field
        else:
            assert got == pytest.approx(expected, rel=1e-10, abs=1e-12), field


@pytest.mark.parametrize("method", ["REML", "DL", "PM"])
def test_pooling_memory_grows_linearly_in_k(method) -> None:
    rng = np.random.default_rng(3)
    k = 20_000
    se = rng.uniform(0.1, 0.5, k)
    y = rng.normal(0.0, np.sqrt(se**2 + 0.04))
    tracemalloc.start()
    try:
        result = pool(y, se, method=method)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # a k x k matrix of doubles would be 3.2 GB; vectors of k doubles are 160 kB each
    assert peak < 100 * 8 * k
    assert result.tau2 == pytest.approx(0.04, abs=0.01)


# --- item 4: a wide prediction interval from few trials is printed with a note -----------


def _lanza_ipd() -> IPD:
    from bayes_ipd.datasets import load_lanza

    return IPD.from_frame(
        load_lanza(),
        study="study",
        treatment="treatment",
        outcome="classification",
        family="ordinal",
        experimental="Misoprostol",
    )


def test_small_k_prediction_interval_is_printed_with_a_note() -> None:
    from bayes_ipd.two_stage import two_stage

    with pytest.warns(UserWarning, match="'IV' excluded"):
        text = str(two_stage(_lanza_ipd()).pooled)
    assert "ratio 0.0000 to" not in text  # an odds ratio of 8e-08 is not printed as 0
    assert "Note: the prediction interval" in text and "k = 3 trials" in text
    plain = str(pool([0.1, 0.3, 0.2, 0.5, 0.4, 0.0], [0.1] * 6, method="DL"))
    assert "Note:" not in plain  # six trials on the MD scale: no note


# --- item 10: an interaction's table heading names what it is -----------------------------


def test_interaction_table_heading_names_the_change_per_unit() -> None:
    from bayes_ipd.two_stage import two_stage

    text = str(two_stage(load_bp_ipd(), covariates=["age"], pool_var="treat:age"))
    assert "MD [95% CI]" not in text
    assert "MD change per unit of age [95% CI]" in text


# --- item 4: Firth's penalised proportional-odds estimate for a separated ordinal trial ---


def test_ordinal_firth_with_two_levels_is_the_binary_firth_estimate() -> None:
    from bayes_ipd.families.sparse import firth_logistic, firth_proportional_odds

    treat = np.r_[np.zeros(20), np.ones(20)]
    high = np.r_[np.zeros(10), np.ones(10), np.ones(20)]  # every treated participant high
    ordinal = firth_proportional_odds(treat[:, None], high.astype(int))
    binary = firth_logistic(np.column_stack([np.ones(40), treat]), high)
    # published identity (Firth 1993): no covariates, 0.5 added to every cell
    haldane = np.log((20.5 * 10.5) / (0.5 * 10.5))
    assert ordinal.params[-1] == pytest.approx(haldane, rel=1e-5)
    assert ordinal.bse[-1] == pytest.approx(binary.bse[1], rel=1e-4)


def _penalised_loglik_by_finite_differences(theta: np.ndarray, treat, codes, n_cat) -> float:
    """Independent: cumulative-logit log-likelihood plus ½ log det of the expected
    information, that from central-difference scores of log P(y = j)."""
    from scipy.special import expit

    def log_probs(t: np.ndarray) -> np.ndarray:
        alpha, beta = t[: n_cat - 1], t[n_cat - 1]
        cdf = np.column_stack(
            [np.zeros(2), expit(alpha[None, :] - beta * np.array([[0.0], [1.0]])), np.ones(2)]
        )
        return np.log(np.diff(cdf, axis=1))  # rows: control, treated

    if np.any(np.diff(theta[: n_cat - 1]) <= 0):
        return -np.inf
    lp = log_probs(theta)
    h = 1e-6
    scores = np.stack(
        [
            (log_probs(theta + h * e) - log_probs(theta - h * e)) / (2 * h)
            for e in np.eye(len(theta))
        ],
        axis=-1,
    )
    info = np.zeros((len(theta), len(theta)))
    for arm in (0, 1):
        n_arm = np.sum(treat == arm)
        for j in range(n_cat):
            info += n_arm * np.exp(lp[arm, j]) * np.outer(scores[arm, j], scores[arm, j])
    counts = np.zeros((2, n_cat))
    np.add.at(counts, (treat.astype(int), codes), 1.0)
    loglik = np.sum(counts * lp)
    return float(loglik + 0.5 * np.linalg.slogdet(info)[1])


def test_ordinal_firth_agrees_with_a_direct_penalised_optimisation_on_lanza_iv() -> None:
    from scipy.optimize import minimize

    from bayes_ipd.datasets import load_lanza
    from bayes_ipd.families.sparse import firth_proportional_odds

    frame = load_lanza()
    trial = frame[frame["study"] == "IV"]
    treat = (trial["treatment"] == "Misoprostol").to_numpy(float)
    codes = np.unique(trial["classification"], return_inverse=True)[1]
    fit = firth_proportional_odds(treat[:, None], codes)
    n_cat = codes.max() + 1
    start = np.r_[np.linspace(-2, 2, n_cat - 1), 0.0]
    direct = minimize(
        lambda t: -_penalised_loglik_by_finite_differences(t, treat, codes, n_cat),
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 20000, "maxfev": 20000},
    )
    assert np.isfinite(fit.params[-1]) and fit.params[-1] < -3  # finite under separation
    np.testing.assert_allclose(fit.params, direct.x, atol=2e-3)


def test_ordinal_two_stage_keeps_a_separated_trial_with_sparse_firth(tmp_path) -> None:
    from bayes_ipd.two_stage import two_stage

    with pytest.warns(UserWarning, match="--sparse firth"):
        plain = two_stage(_lanza_ipd())
    assert plain.per_study.n_excluded == 1
    firth = two_stage(_lanza_ipd(), sparse="firth")
    assert firth.per_study.n_excluded == 0 and firth.pooled.k == 4


# --- item 10: the bubble plot names its scale and keys its bubble sizes -------------------


def test_bubble_plot_names_the_scale_and_has_a_size_key() -> None:
    from bayes_ipd.datasets import load_bcg_aggregate
    from bayes_ipd.two_stage.metareg import meta_regression_frame

    fit = meta_regression_frame(
        load_bcg_aggregate(), estimate="yi", var="vi", mods=["ablat"], scale="logRR"
    )
    ax = fit.plot_bubble("ablat").axes[0]
    assert ax.get_ylabel() == "risk ratio (RR, log axis)"
    legend = ax.get_legend()
    assert legend is not None and "weight" in legend.get_title().get_text()
    assert all("%" in t.get_text() for t in legend.get_texts())
    unnamed = meta_regression_frame(load_bcg_aggregate(), estimate="yi", var="vi", mods=["ablat"])
    assert "estimate" in unnamed.plot_bubble("ablat").axes[0].get_ylabel()
    assert "scale" in unnamed.plot_bubble("ablat").axes[0].get_ylabel()


# --- item 10: pool --label gives the trials readable names ---------------------------------


def test_pool_label_columns_name_the_trials_in_table_and_figure(tmp_path, capsys) -> None:
    from bayes_ipd.datasets import dataset_path

    out = tmp_path / "forest.png"
    args = ["pool", str(dataset_path("bcg.csv")), "--estimate", "yi", "--var", "vi"]
    args += ["--study", "trial", "--label", "author,year", "--forest", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Aronson 1948" in text and "Comstock & Webster 1969" in text
    assert out.exists()
