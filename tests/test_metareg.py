"""Meta-regression (two-stage route): metafor's published figures, independent estimators,
bad input, the CLI's JSON contract and the bubble plot."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from matplotlib.figure import Figure
from scipy import optimize

from bayes_ipd.cli import main
from bayes_ipd.datasets import dataset_path, load_bcg_aggregate
from bayes_ipd.errors import PoolingError
from bayes_ipd.plots.bubble import bubble_plot
from bayes_ipd.two_stage import AggregateData
from bayes_ipd.two_stage.metareg import meta_regression, meta_regression_frame

BCG_CSV = str(dataset_path("bcg.csv"))


@pytest.fixture(scope="module")
def bcg() -> pd.DataFrame:
    table = load_bcg_aggregate()
    table["random"] = (table["alloc"] == "random").astype(float)
    table["systematic"] = (table["alloc"] == "systematic").astype(float)
    # metafor escalc(measure = "OR"): log odds ratio and its variance from the 2x2 counts
    table["lor"] = np.log(table["tpos"] * table["cneg"] / (table["tneg"] * table["cpos"]))
    table["vlor"] = 1 / table["tpos"] + 1 / table["tneg"] + 1 / table["cpos"] + 1 / table["cneg"]
    return table


def _fit(bcg: pd.DataFrame, mods: list[str], **kw):
    return meta_regression_frame(bcg, estimate="yi", var="vi", mods=mods, **kw)


# --- metafor's published figures ----------------------------------------------------------


def test_reml_knha_ablat_reproduces_metafor_readme(bcg):
    # metafor README / ../shared/data/REFERENCES.md: rma(yi, vi, mods = ~ ablat,
    # test = "knha"), REML: intercept 0.2515 (SE 0.2839), ablat -0.0291 (SE 0.0082),
    # tau2 0.0764, I2 68.39%, R2 75.62%, QE(11) 30.7331, F(1, 11) 12.5905
    fit = _fit(bcg, ["ablat"], method="REML", hksj=True)
    assert [round(c, 4) for c in fit.coef] == [0.2515, -0.0291]
    assert [round(s, 4) for s in fit.se] == [0.2839, 0.0082]
    assert round(fit.tau2, 4) == 0.0764
    assert round(fit.i2, 2) == 68.39
    assert round(fit.r2, 2) == 75.62
    assert (fit.qe_df, round(fit.qe, 4)) == (11, 30.7331)
    assert (fit.qm_df, fit.df, round(fit.qm, 4)) == (1, 11, 12.5905)
    # metafor tests/testthat/test_misc_calc_q.r: QEp 0.001214
    assert round(fit.qe_p, 6) == 0.001214


def test_ml_ablat_on_log_odds_ratios_reproduces_van_houwelingen(bcg):
    # metafor tests/testthat/test_analysis_example_vanhouwelingen2002.r (van Houwelingen
    # et al. 2002, pp. 608-609): rma(yi, vi, mods = ~ ablat, method = "ML") on log ORs:
    # coefficients 0.3710, -0.0327; SEs 0.1061, 0.0034; tau2 0.0040; R2 98.6691
    fit = meta_regression_frame(bcg, estimate="lor", var="vlor", mods=["ablat"], method="ML")
    assert [round(c, 4) for c in fit.coef] == [0.3710, -0.0327]
    assert [round(s, 4) for s in fit.se] == [0.1061, 0.0034]
    assert round(fit.tau2, 4) == 0.0040
    assert round(fit.r2, 4) == 98.6691


def test_predictions_reproduce_metafor_anova_contrasts(bcg):
    # metafor tests/testthat/test_misc_anova.r: rma(yi, vi, mods = ~ ablat + alloc) (REML),
    # anova(X = rbind(c(1,10,0,0), c(1,30,0,0), c(1,50,0,0))) gives z = 0.0588, -1.7964,
    # -3.1210; with test = "knha", X = (ablat 10; alternate, random, systematic) gives
    # t = 0.0568, -0.8252, 0.2517. alloc's reference level is "alternate".
    fit = _fit(bcg, ["ablat", "random", "systematic"])
    pred = fit.predict({"ablat": [10, 30, 50], "random": [0, 0, 0], "systematic": [0, 0, 0]})
    assert list((pred["pred"] / pred["se"]).round(4)) == [0.0588, -1.7964, -3.1210]
    knha = _fit(bcg, ["ablat", "random", "systematic"], hksj=True)
    pred = knha.predict({"ablat": [10, 10, 10], "random": [0, 1, 0], "systematic": [0, 0, 1]})
    assert list((pred["pred"] / pred["se"]).round(4)) == [0.0568, -0.8252, 0.2517]


# --- independent computations -----------------------------------------------------------------


def _design(bcg: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return bcg["yi"].to_numpy(), bcg["vi"].to_numpy(), np.column_stack([np.ones(13), bcg["ablat"]])


def _gls(y, v, x, tau2):
    w = 1.0 / (v + tau2)
    xtwx = x.T @ (w[:, None] * x)
    beta = np.linalg.solve(xtwx, x.T @ (w * y))
    return beta, np.linalg.inv(xtwx), w, y - x @ beta


def test_reml_and_ml_agree_with_the_likelihood_maximised_by_scipy(bcg):
    y, v, x = _design(bcg)

    def neg_loglik(t: float, restricted: bool) -> float:
        _, vb, w, r = _gls(y, v, x, t)
        value = np.sum(np.log(v + t)) + np.sum(w * r**2)
        return 0.5 * (value - (np.linalg.slogdet(vb)[1] if restricted else 0.0))

    for method, restricted in (("REML", True), ("ML", False)):
        best = optimize.minimize_scalar(
            neg_loglik,
            bounds=(0, 5),
            args=(restricted,),
            method="bounded",
            options={"xatol": 1e-12},
        )
        fit = _fit(bcg, ["ablat"], method=method)
        # metafor's Fisher scoring stops when tau2 moves by < 1e-5: within 1e-4 of the max
        assert fit.tau2 == pytest.approx(best.x, abs=1e-4)
        beta, vb, *_ = _gls(y, v, x, best.x)
        np.testing.assert_allclose(fit.coef, beta, rtol=1e-3)
        np.testing.assert_allclose(fit.se, np.sqrt(np.diag(vb)), rtol=1e-3)


def test_dl_matches_the_generalised_moment_estimator_written_out(bcg):
    # Raudenbush (2009) / metafor: tau2 = (QE - (k - p)) / (tr W - tr((X'WX)^-1 X'W²X))
    y, v, x = _design(bcg)
    w = 1.0 / v
    _, vb, _, r = _gls(y, v, x, 0.0)
    qe = np.sum(w * r**2)
    trace = np.sum(w) - np.trace(vb @ (x.T @ ((w**2)[:, None] * x)))
    expected = max(0.0, (qe - 11) / trace)
    fit = _fit(bcg, ["ablat"], method="DL")
    assert fit.tau2 == pytest.approx(expected, rel=1e-10)
    beta, vb, *_ = _gls(y, v, x, expected)
    np.testing.assert_allclose(fit.coef, beta, rtol=1e-10)
    np.testing.assert_allclose(fit.se, np.sqrt(np.diag(vb)), rtol=1e-10)
    assert fit.qe == pytest.approx(qe, rel=1e-12)


def test_pm_solves_generalised_qe_equal_to_k_minus_p(bcg):
    y, v, x = _design(bcg)

    def excess(t: float) -> float:
        _, _, w, r = _gls(y, v, x, t)
        return np.sum(w * r**2) - 11

    root = optimize.brentq(excess, 0.0, 10.0, xtol=1e-14)
    # metafor's uniroot tolerance is .Machine$double.eps^0.25 (about 1.2e-4)
    assert _fit(bcg, ["ablat"], method="PM").tau2 == pytest.approx(root, abs=1.3e-4)


def test_fe_matches_statsmodels_weighted_least_squares(bcg):
    y, v, x = _design(bcg)
    wls = sm.WLS(y, x, weights=1.0 / v).fit(cov_type="fixed scale")
    fit = _fit(bcg, ["ablat"], method="FE")
    np.testing.assert_allclose(fit.coef, wls.params, rtol=1e-10)
    np.testing.assert_allclose(fit.se, wls.bse, rtol=1e-10)
    assert fit.tau2 == 0.0
    # metafor (R/rma.uni.r): for FE, R2 is the adjusted R² of lm(yi ~ X, weights = 1/vi)
    assert fit.r2 == pytest.approx(100 * wls.rsquared_adj, rel=1e-10)
    # and I² = (QE - (k - p)) / QE, H² = QE / (k - p)
    assert fit.i2 == pytest.approx(100 * (fit.qe - 11) / fit.qe)
    assert fit.h2 == pytest.approx(fit.qe / 11)


def test_prediction_interval_adds_tau2_and_uses_the_tests_distribution(bcg):
    fit = _fit(bcg, ["ablat"], hksj=True)
    row = fit.predict({"ablat": 30.0}).iloc[0]
    from scipy import stats

    crit = stats.t.isf(0.025, 11)
    half = crit * np.sqrt(row["se"] ** 2 + fit.tau2)
    assert (row["pi_low"], row["pi_high"]) == pytest.approx(
        (row["pred"] - half, row["pred"] + half)
    )
    assert row["pred"] == pytest.approx(fit.coef[0] + 30 * fit.coef[1])


def test_excluded_trials_are_left_out_and_named(bcg):
    reasons = tuple("no SE" if i == 0 else None for i in range(13))
    agg = AggregateData(
        tuple(bcg["trial"].astype(str)),
        bcg["yi"].to_numpy(),
        np.sqrt(bcg["vi"].to_numpy()),
        excluded=reasons,
    )
    fit = meta_regression(agg, bcg[["ablat"]])
    assert fit.k == 12 and fit.excluded == ("1",)
    direct = _fit(bcg.iloc[1:], ["ablat"])
    np.testing.assert_allclose(fit.coef, direct.coef)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mods", "message"),
    [
        (["latitude"], "'latitude' not found"),
        (["const"], "constant across the trials"),
        (["alloc"], "not numeric"),
        (["ablat", "ablat2"], "linearly dependent"),
        (["gap"], "trial '3' has a missing value"),
    ],
)
def test_bad_moderators_are_refused_by_name(bcg, mods, message):
    table = bcg.assign(const=1.0, ablat2=2 * bcg["ablat"], gap=bcg["ablat"].where(bcg.index != 2))
    with pytest.raises(PoolingError, match=message):
        meta_regression_frame(table, estimate="yi", var="vi", mods=mods, study="trial")


def test_k_not_above_p_is_refused(bcg):
    with pytest.raises(PoolingError, match="needs more than 2 trials; 2 given"):
        _fit(bcg.iloc[:2], ["ablat"])


def test_unknown_method_is_refused(bcg):
    with pytest.raises(PoolingError, match="unknown method 'EB'"):
        _fit(bcg, ["ablat"], method="EB")


def test_input_frame_is_not_modified(bcg):
    before = bcg.copy()
    _fit(bcg, ["ablat", "year"], hksj=True).predict({"ablat": [20], "year": [1960]})
    pd.testing.assert_frame_equal(bcg, before)


# --- CLI -----------------------------------------------------------------------------------


def test_cli_json_contract(capsys):
    code = main(
        [
            "metareg",
            BCG_CSV,
            "--estimate",
            "yi",
            "--var",
            "vi",
            "--mods",
            "ablat",
            "--study",
            "trial",
            "--hksj",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert list(out) == [
        "k",
        "p",
        "method",
        "hksj",
        "coefficients",
        "tau2",
        "i2",
        "h2",
        "r2",
        "qe",
        "qe_df",
        "qe_p",
        "qm",
        "qm_df",
        "qm_p",
    ]
    assert list(out["coefficients"]) == ["intercept", "ablat"]
    assert list(out["coefficients"]["ablat"]) == [
        "estimate",
        "se",
        "stat",
        "p",
        "ci_low",
        "ci_high",
    ]
    assert (out["k"], out["p"], out["method"], out["hksj"]) == (13, 2, "REML", True)
    assert round(out["r2"], 2) == 75.62 and round(out["i2"], 2) == 68.39  # percent
    assert out["qm_df"] == [1, 11]


def _cli_error(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert err.startswith("error: ")
    return err


def test_cli_bad_input_exits_2(capsys, tmp_path):
    base = ["metareg", BCG_CSV, "--estimate", "yi", "--var", "vi", "--study", "trial"]
    assert "'nope' not found" in _cli_error(capsys, [*base, "--mods", "nope"])
    table = load_bcg_aggregate().assign(const=3)
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    argv = ["metareg", str(path), "--estimate", "yi", "--var", "vi", "--mods"]
    assert "constant" in _cli_error(capsys, [*argv, "const"])
    table.iloc[:2].to_csv(path, index=False)
    assert "needs more than 2 trials" in _cli_error(capsys, [*argv, "ablat"])
    table.assign(vi=table["vi"].where(table.index != 4, -0.1)).to_csv(path, index=False)
    assert "trial '5'" in _cli_error(capsys, [*argv, "ablat"])
    assert "--at" in _cli_error(capsys, [*base, "--mods", "ablat", "--at", "ablat"])


def test_cli_predictions_and_bubble_plot(capsys, tmp_path):
    bubble = tmp_path / "bubble.png"
    code = main(
        [
            "metareg",
            BCG_CSV,
            "--estimate",
            "yi",
            "--var",
            "vi",
            "--mods",
            "ablat",
            "--at",
            "ablat=20",
            "--bubble",
            str(bubble),
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and bubble.stat().st_size > 0
    assert out["bubble_plot"] == str(bubble)
    assert [p["ablat"] for p in out["predictions"]] == [20.0]


def test_bubble_plot_draws_one_bubble_per_trial(bcg):
    fig = _fit(bcg, ["ablat"]).plot_bubble()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.collections[-1].get_offsets()) == 13
    assert ax.get_yscale() == "linear"
    with pytest.raises(ValueError, match="se must be positive"):
        bubble_plot([1, 2], [0.1, 0.2], [0.1, 0.0])
