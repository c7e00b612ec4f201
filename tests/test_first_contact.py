"""A new user's first steps and awkward input (one test per finding, each failed before
its fix): one-site summaries, metafor's PM/EB/SJ estimators, labels and messages."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.cli import main
from bayes_ipd.data import IPD
from bayes_ipd.one_stage.summaries import read_summaries, summarise
from bayes_ipd.spec import ModelSpec

# --- one site summarises its own trial ---------------------------------------------------


def _two_sites(tmp_path):
    rng = np.random.default_rng(7)
    frames = []
    for label, shift in (("S1", 0.0), ("S2", 1.0)):
        treat = np.r_[np.zeros(15), np.ones(15)]
        frames.append(
            pd.DataFrame(
                {
                    "trial": label,
                    "treat": treat,
                    "y": rng.normal(shift + 0.5 * treat, 1.0),
                    "age": rng.normal(50, 8, 30),
                }
            )
        )
    paths = []
    for frame in frames:
        path = tmp_path / f"{frame['trial'].iloc[0]}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    joint = tmp_path / "both.csv"
    pd.concat(frames).to_csv(joint, index=False)
    return paths, joint


_SITE_ARGS = ["--study", "trial", "--treatment", "treat", "--family", "gaussian"]
_SITE_ARGS += ["--outcome", "y", "--covariates", "age"]


def test_summarise_accepts_a_file_holding_one_trial(tmp_path):
    paths, joint = _two_sites(tmp_path)
    outs = []
    for path in paths:
        out = tmp_path / f"{path.stem}.json"
        assert main(["summarise", str(path), *_SITE_ARGS, "--out", str(out)]) == 0
        outs.append(out)
    combined = [s for out in outs for s in read_summaries(out)]
    spec = ModelSpec(family="gaussian", covariates=("age",))
    ipd = IPD.read_csv(joint, study="trial", treatment="treat", outcome="y", covariates=["age"])
    expected = summarise(ipd, spec)
    assert [s.study for s in combined] == [s.study for s in expected]
    for site, whole in zip(combined, expected, strict=True):
        assert site.stats.keys() == whole.stats.keys()
        for key in whole.stats:
            np.testing.assert_allclose(site.stats[key], whole.stats[key], rtol=1e-12)


def test_a_meta_analysis_still_needs_two_trials(tmp_path):
    paths, _ = _two_sites(tmp_path)
    with pytest.raises(Exception, match="at least two trials"):
        IPD.read_csv(paths[0], study="trial", treatment="treat", outcome="y")


# --- τ² estimators as metafor computes them (dat.hackshaw1998) -------------------------

# metafor 3.8.1 (Debian r-cran-metafor), rma(yi, vi, data = dat.hackshaw1998, method = M),
# with yi = log(or) and vi = ((log(ci.ub) - log(ci.lb)) / (2 qnorm(0.975)))^2 as metadat
# builds them; printed with sprintf("%.10f") on 2026-12-01. The report: PM I²
# 19.4726 (a tight root gives 19.4466, which is EB's value: metafor's PM stops at uniroot's
# tolerance).
_HACKSHAW_METAFOR = {
    #        tau2          estimate      se            I2 (%)
    "DL": (0.0170364443, 0.2138889357, 0.0471226394, 24.2072485008),
    "REML": (0.0223951749, 0.2188897743, 0.0493957945, 29.5699817685),
    "PM": (0.0128985730, 0.2091980566, 0.0451924314, 19.4726070627),
    "ML": (0.0203580706, 0.2171080444, 0.0485574003, 27.6232369126),
    "EB": (0.0128771989, 0.2091714752, 0.0451819754, 19.4466142812),
    "SJ": (0.0523352414, 0.2357563768, 0.0594907553, 49.5241292320),
}


def _hackshaw():
    from importlib.resources import files

    from scipy import stats

    frame = pd.read_csv(files("bayes_ipd.datasets") / "hackshaw1998.csv")
    y = np.log(frame["or"].to_numpy())
    half_width = (np.log(frame["ci_ub"]) - np.log(frame["ci_lb"])) / (2 * stats.norm.ppf(0.975))
    return y, half_width.to_numpy()


@pytest.mark.parametrize("method", sorted(_HACKSHAW_METAFOR))
def test_tau2_estimators_match_metafor_in_every_printed_digit(method):
    from bayes_ipd.two_stage.pooling import pool

    y, se = _hackshaw()
    res = pool(y, se, method=method)
    tau2, estimate, pooled_se, i2 = _HACKSHAW_METAFOR[method]
    assert res.tau2 == pytest.approx(tau2, abs=5e-9)
    assert res.estimate == pytest.approx(estimate, abs=5e-9)
    assert res.se == pytest.approx(pooled_se, abs=5e-9)
    assert res.i2 == pytest.approx(i2, abs=5e-7)


def test_pm_prediction_interval_matches_metafor():
    # the figure from metafor: PM prediction interval upper bound 0.45734
    from bayes_ipd.two_stage.pooling import pool

    y, se = _hackshaw()
    assert round(pool(y, se, method="PM").pi_high, 5) == 0.45734


def test_brent_zeroin_stops_at_r_tolerance_not_machine_precision():
    # f(x) = x^3 - 2 on [0, 100]: the exact root is 2^(1/3); R's uniroot(tol = eps^0.25)
    # stops within tol of it, not at machine precision
    from bayes_ipd.two_stage.rootfinding import R_UNIROOT_TOL, brent_zeroin

    root = brent_zeroin(lambda x: x**3 - 2.0, 0.0, 100.0)
    assert abs(root - 2 ** (1 / 3)) < R_UNIROOT_TOL
    tight = brent_zeroin(lambda x: x**3 - 2.0, 0.0, 100.0, tol=1e-15)
    assert tight == pytest.approx(2 ** (1 / 3), abs=1e-14)


# --- single trial, identical estimates, variance columns --------------------------------


def test_single_trial_report_does_not_claim_a_random_effects_estimate():
    from bayes_ipd.two_stage.pooling import pool

    text = str(pool([0.1], [0.1], method="REML", studies=["A"]))
    assert "Random-effects" not in text and "τ² (between-trial variance)" not in text
    assert "Single trial" in text and "not estimable" in text


def test_hksj_with_identical_estimates_warns_of_a_zero_width_interval():
    from bayes_ipd.two_stage.pooling import pool

    with pytest.warns(UserWarning, match="HKSJ standard error is 0"):
        res = pool([0.3, 0.3, 0.3], [0.1, 0.2, 0.3], hksj=True)
    assert res.se == 0.0  # metafor's value, kept; the warning says what it means


def test_single_trial_hksj_hint_names_no_api_keyword():
    from bayes_ipd.errors import PoolingError
    from bayes_ipd.two_stage.pooling import pool

    with pytest.raises(PoolingError) as info:
        pool([0.1], [0.1], hksj=True)
    assert "hksj=" not in str(info.value)


def test_pool_var_errors_speak_of_the_variance_column(tmp_path, capsys):
    path = tmp_path / "v.csv"
    path.write_text("study,yi,vi\nA,0.1,0\nB,0.2,0.01\nC,0.3,0.02\n")
    code = main(["pool", str(path), "--estimate", "yi", "--var", "vi", "--study", "study"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert "variance (column 'vi')" in err and "se is" not in err
    assert "exclusion reason" not in err  # an option the command line does not have


def test_pool_var_gives_the_square_root_as_se(tmp_path, capsys):
    path = tmp_path / "v.csv"
    path.write_text("study,yi,vi\nA,0.1,0.04\nB,0.2,0.01\nC,0.3,0.09\n")
    assert main(["pool", str(path), "--estimate", "yi", "--var", "vi", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    ses = [row["se"] for row in payload["per_study"]]
    assert ses == pytest.approx([0.2, 0.1, 0.3], rel=1e-12)


# --- an interaction term is labelled as one ---------------------------------------------


def _bp_csv(tmp_path):
    from bayes_ipd.datasets import load_bp_trials

    path = tmp_path / "bp.csv"
    load_bp_trials().to_csv(path, index=False)
    return path


_BP_INTERACTION = [
    "--study", "trial", "--treatment", "treat", "--family", "gaussian",
    "--outcome", "sbp_final", "--covariates", "age", "--pool-var", "treat:age",
]  # fmt: skip


def test_interaction_report_names_the_change_per_unit(tmp_path, capsys):
    assert main(["two-stage", str(_bp_csv(tmp_path)), *_BP_INTERACTION]) == 0
    out = capsys.readouterr().out
    assert "Pooled change in mean difference per unit of age" in out
    assert "Pooled mean difference" not in out


def test_interaction_forest_axis_names_the_change_per_unit(tmp_path):
    from bayes_ipd.data import IPD
    from bayes_ipd.two_stage import two_stage

    ipd = IPD.read_csv(
        _bp_csv(tmp_path), study="trial", treatment="treat", outcome="sbp_final",
        covariates=["age"],
    )  # fmt: skip
    fig = two_stage(ipd, covariates=["age"], pool_var="treat:age").plot_forest()
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert "Change in mean difference per unit of age" in labels


# --- no stray library warnings on the terminal --------------------------------------------


def test_library_notices_do_not_reach_the_terminal(capsys):
    import warnings

    from bayes_ipd.cli import _quiet_run

    with _quiet_run(json_mode=False):
        warnings.warn(
            "`pytensor.graph.basic.io_toposort` was moved to "
            "`pytensor.graph.traversal.io_toposort`.",
            FutureWarning,
            stacklevel=1,
        )
        warnings.warn("a warning about the analysis", UserWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert "was moved to" not in err
    assert "warning: a warning about the analysis" in err


def test_huge_values_give_a_named_reason_not_numpy_overflow_warnings(tmp_path, capsys):
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "trial": np.repeat(["A", "B", "C"], 20),
            "treat": np.tile([0, 1], 30),
            "y": rng.normal(size=60),
            "age": rng.normal(50, 5, 60) * 1e300,
        }
    )
    path = tmp_path / "huge.csv"
    frame.to_csv(path, index=False)
    args = ["two-stage", str(path), "--study", "trial", "--treatment", "treat"]
    args += ["--family", "gaussian", "--outcome", "y", "--covariates", "age"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "overflow encountered" not in err and "singular design" not in err
    assert "'age' holds values up to" in err and "rescale" in err


# --- default priors are stated per outcome SD and per covariate SD ------------------------


def test_default_priors_read_per_outcome_sd_and_per_covariate_sd():
    from bayes_ipd.priors import default_priors, resolve_priors

    text = default_priors("gaussian", outcome_sd=12.71, outcome_mean=140.0).describe()
    assert "effect (mu) ~ normal(0, 127.1)  [scale 10 × outcome SD" in text
    assert "coefficients (beta) ~ normal(0, 31.78) per SD of each covariate" in text
    # a prior the user gives is per raw unit, and is not described as per SD
    mine = resolve_priors("binomial", {"coefficients": "normal(0, 1)"})
    assert "coefficients (beta) ~ normal(0, 1)\n" in mine.describe() + "\n"
    assert mine.per_sd == ("interactions",)


def _beta_prior_sd_per_raw_unit(unit: float) -> float:
    """SD of the default prior of the age coefficient per raw unit, ages in ``unit``s."""
    import pymc as pm

    from bayes_ipd.one_stage.builder import build_model
    from bayes_ipd.one_stage.design import build_design

    rng = np.random.default_rng(11)
    n = 200
    frame = pd.DataFrame(
        {
            "trial": np.repeat(["A", "B"], n // 2),
            "treat": np.tile([0, 1], n // 2),
            "event": rng.integers(0, 2, n),
            "age": rng.normal(50, 10, n) * unit,
        }
    )
    ipd = IPD.from_frame(
        frame, study="trial", treatment="treat", outcome="event", covariates=["age"],
        family="binomial",
    )  # fmt: skip
    spec = ModelSpec(family="binomial", covariates=("age",))
    built = build_model(build_design(ipd, spec), spec)
    draws = pm.draw(built.model["beta"], draws=4000, random_seed=1)
    return float(np.std(draws))


def test_default_coefficient_prior_follows_the_covariate_unit():
    # per SD of age: in days instead of years, the prior per raw unit is 365 times tighter
    years, days = _beta_prior_sd_per_raw_unit(1.0), _beta_prior_sd_per_raw_unit(365.0)
    assert years / days == pytest.approx(365.0, rel=0.05)
