"""Two-stage repeated measures (issue 27, items 1-2): per-trial MMRM, per-visit and joint
pooling, the CLI and its JSON, refusals.

Reference numbers from R 4.x (nlme, metafor) on ``tests/data/repeated_visits.csv``: made by
``simulate_repeated(10, 50, tau=(0.8, 1.0, 1.2), tau_correlation=0.5, dropout=0.15,
intermittent=0.1, dropout_slope=0.5, seed=4)`` with visit as int and the visit-8 rows of T10
removed (T10 has visits 4 and 12 only; monotone MAR dropout and intermittent missed visits).

R, stage one (per trial ``x``; ``vnum`` the visit's position among the trial's own visits,
``gpos`` among all visits)::

    library(nlme)
    d <- read.csv("tests/data/repeated_visits.csv"); V <- sort(unique(d$visit))
    x <- d[d$study == s, ]; x$visitf <- factor(x$visit)
    x$vnum <- match(x$visit, sort(unique(x$visit))); x$gpos <- match(x$visit, V)
    ctl <- glsControl(tolerance = 1e-10, msTol = 1e-12, opt = "optim")
    un  <- gls(y ~ 0 + visitf + visitf:treat + visitf:baseline, data = x,
               correlation = corSymm(form = ~ vnum | id),
               weights = varIdent(form = ~ 1 | visitf), method = "REML", control = ctl)
    cs  <- gls(..., correlation = corCompSymm(form = ~ 1 | id), method = "REML")
    ar1 <- gls(..., correlation = corAR1(form = ~ gpos | id), method = "REML")
    # T10 (a gap in gpos): corAR1 falls back to corARMA with phi stuck at 0 (logLik -163.56);
    # corCAR1(form = ~ gpos | id), phi^|lag| on integer positions, is the AR(1) model
    # (logLik -160.85) and equals ours
    i <- grep(":treat", names(coef(un))); coef(un)[i]; vcov(un)[i, i]

(``y ~ 0 + visit + visit:treat + visit:baseline`` is ``y ~ visit*treat + visit*baseline``
reparameterised so that the treatment coefficients are the per-visit effects.)

R, stage two (``long``: one row per trial and visit with ``yi`` the UN effects, ``Vblk``
their block-diagonal covariance)::

    library(metafor)
    rma(yi, vi, method = "REML")        # per visit; also "DL", "PM", test = "knha"
    rma.mv(yi, Vblk, mods = ~ visit - 1, random = ~ visit | study, struct = "UN",
           data = long, method = "REML",
           control = list(optimizer = "optim", optmethod = "BFGS", reltol = 1e-14))
    # struct = "CS" likewise (Nelder-Mead and BFGS agree to 2e-6)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.cli import main
from bayes_ipd.data.visits import repeated_from_frame
from bayes_ipd.errors import PoolingError
from bayes_ipd.simulate.repeated import simulate_repeated
from bayes_ipd.two_stage.mmrm import fit_mmrm
from bayes_ipd.two_stage.repeated import two_stage_repeated

DATA = Path(__file__).parent / "data" / "repeated_visits.csv"
COLUMNS = {
    "study": "study",
    "treatment": "treat",
    "outcome": "y",
    "participant": "id",
    "visit": "visit",
    "covariates": ["baseline"],
}
TOL = 1e-4

# R nlme::gls: treatment effect per visit, then vcov's upper triangle column by column
# (v11, v12, v22, v13, v23, v33; T10: v11, v12, v22 over visits 4 and 12)
R_STAGE_ONE = {
    "unstructured": {
        "T1": (
            [0.8099459, -0.7033728, -2.5224026],
            [0.26942834, 0.22031271, 0.58012157, 0.27731575, 0.38799670, 1.27913296],
        ),
        "T9": (
            [-2.0569518, -3.8724870, -3.4129054],
            [0.43874520, 0.36823466, 0.75581811, -0.02795641, 0.27963968, 1.50890538],
        ),
        "T10": ([-2.5210656, -2.8600030], [0.32644045, 0.15470583, 0.60684326]),
    },
    "cs": {
        "T1": (
            [0.8099459, -0.6926627, -2.6610256],
            [0.50864140, 0.25041023, 0.63924031, 0.25041023, 0.27462831, 0.69908520],
        ),
        "T9": (
            [-2.0569518, -3.8595618, -3.1343270],
            [0.62042780, 0.19339428, 0.80768175, 0.19339428, 0.21618604, 0.98409003],
        ),
        "T10": ([-2.5210656, -2.8626738], [0.34055972, 0.14906417, 0.56089640]),
    },
    "ar1": {
        "T1": (
            [0.8099459, -0.6387470, -2.7025695],
            [0.51918741, 0.28831431, 0.63493248, 0.16010624, 0.32712227, 0.73343182],
        ),
        "T9": (
            [-2.0569518, -3.8795377, -3.1709737],
            [0.62015937, 0.28422090, 0.77685910, 0.13025929, 0.32380153, 0.97393548],
        ),
        # corCAR1 (see the module docstring)
        "T10": ([-2.5210656, -2.8626738], [0.3405597, 0.1490642, 0.5608964]),
    },
}

# R metafor::rma per visit on the UN stage one: (estimate, se, tau2)
R_POOLED = {
    "REML": {
        "4": (-1.5908474, 0.3813545, 1.1489749),
        "8": (-2.7331068, 0.4912016, 1.5222433),
        "12": (-3.6280995, 0.3872967, 0.4656026),
    },
    "DL": {
        "4": (-1.5915234, 0.3945347, 1.2510441),
        "8": (-2.7329780, 0.4930859, 1.5389014),
        "12": (-3.6282784, 0.3876332, 0.4681230),
    },
    "PM": {
        "4": (-1.5905800, 0.3764551, 1.1119243),
        "8": (-2.7331954, 0.4899166, 1.5109197),
        "12": (-3.6288766, 0.3887648, 0.4766166),
    },
}
R_KNHA_SE = {"4": 0.3763340, "8": 0.4899124, "12": 0.3887002}  # rma(..., test = "knha")

# R metafor::rma.mv, struct "UN" and "CS": b, se, tau2, rho (UN: rho12, rho13, rho23)
R_MV = {
    "unstructured": (
        [-1.6041117, -2.8808021, -3.6833505],
        [0.3799578, 0.4755454, 0.4170812],
        [1.1475740, 1.5077397, 0.7314018],
        [0.7902351, 0.6343551, 0.0275667],
    ),
    "cs": (
        [-1.5971643, -2.7449288, -3.6813060],
        [0.3787693, 0.4348568, 0.4649698],
        [1.1381619] * 3,
        [0.5887572] * 3,
    ),
}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return pd.read_csv(DATA)


@pytest.fixture(scope="module")
def data(rows):
    return repeated_from_frame(rows, **COLUMNS)


@pytest.fixture(scope="module")
def results(data) -> dict:
    return {
        cov: two_stage_repeated(data, covariance=cov, method="REML")
        for cov in ("unstructured", "cs", "ar1")
    }


def _upper(matrix: np.ndarray) -> np.ndarray:
    rows, cols = np.triu_indices(matrix.shape[0])
    order = np.lexsort((rows, cols))  # column by column, as R's upper.tri
    return matrix[rows[order], cols[order]]


@pytest.mark.parametrize("covariance", ["unstructured", "cs", "ar1"])
def test_stage_one_equals_nlme_gls(results, covariance):
    stage = results[covariance].stage_one
    for study, (est, cov) in R_STAGE_ONE[covariance].items():
        k = stage.studies.index(study)
        seen = stage.observed[k]
        np.testing.assert_allclose(stage.estimate[k][seen], est, atol=TOL)
        block = stage.covariance[k][np.ix_(seen, seen)]
        np.testing.assert_allclose(_upper(block), cov, atol=TOL)


def test_trial_without_a_visit_is_excluded_there(results):
    res = results["unstructured"]
    k = res.stage_one.studies.index("T10")
    assert res.stage_one.observed[k].tolist() == [True, False, True]
    eight = res.by_visit[1]
    assert eight.per_study.excluded[k] == "no observation at visit 8"
    assert eight.pooled.k == 9 and res.by_visit[0].pooled.k == 10


@pytest.mark.parametrize("method", ["REML", "DL", "PM"])
def test_per_visit_pooling_equals_metafor_rma(data, results, method):
    res = results["unstructured"] if method == "REML" else two_stage_repeated(data, method=method)
    for visit, result in zip(res.visits, res.by_visit, strict=True):
        est, se, tau2 = R_POOLED[method][visit]
        assert result.pooled.estimate == pytest.approx(est, abs=TOL)
        assert result.pooled.se == pytest.approx(se, abs=TOL)
        assert result.pooled.tau2 == pytest.approx(tau2, abs=TOL)


def test_per_visit_hksj_equals_metafor_knha(data):
    res = two_stage_repeated(data, hksj=True)
    for visit, result in zip(res.visits, res.by_visit, strict=True):
        assert result.pooled.se == pytest.approx(R_KNHA_SE[visit], abs=TOL)


@pytest.mark.parametrize("between", ["unstructured", "cs"])
def test_multivariate_equals_metafor_rma_mv(data, results, between):
    res = (
        results["unstructured"]
        if between == "unstructured"
        else two_stage_repeated(data, between=between)
    )
    fit = res.multivariate
    est, se, tau2, rho = R_MV[between]
    np.testing.assert_allclose(fit.estimate, est, atol=TOL)
    np.testing.assert_allclose(fit.se, se, atol=TOL)
    np.testing.assert_allclose(np.diag(fit.between), tau2, atol=TOL)
    np.testing.assert_allclose(fit.between_cor[np.triu_indices(3, 1)], rho, atol=TOL)
    assert res.multivariate_note is None


def test_primary_visit_is_the_last_or_the_named_one(data, results):
    res = results["unstructured"]
    assert res.primary_visit == "12" and res.pooled is res.by_visit[2].pooled
    assert two_stage_repeated(data, primary_visit=8).pooled.estimate == pytest.approx(
        R_POOLED["REML"]["8"][0], abs=TOL
    )


def test_mmrm_without_missing_visits_is_per_visit_ols_for_the_effects():
    # complete data, unstructured Sigma, same design at every visit: GLS = OLS per visit
    # (Kruskal's condition), so the effects equal separate regressions per visit
    rng = np.random.default_rng(3)
    t = np.repeat([0.0, 1.0], 30)
    x = rng.normal(size=60)
    y = (
        np.c_[t, 2 * t, 3 * t]
        + 0.5 * x[:, None]
        + rng.multivariate_normal(
            np.zeros(3), [[1, 0.5, 0.3], [0.5, 1, 0.5], [0.3, 0.5, 1]], size=60
        )
    )
    z = np.c_[np.ones(60), t, x]
    fit = fit_mmrm(y, z, terms=["(Intercept)", "treat", "x"])
    ols = np.linalg.lstsq(z, y, rcond=None)[0]
    np.testing.assert_allclose(fit.coef, ols.T, atol=1e-8)


def test_simulator_plants_the_visit_effects():
    rows, truth = simulate_repeated(2, 3000, tau=0.0, dropout=0.2, dropout_slope=1.0, seed=11)
    res = two_stage_repeated(rows, **COLUMNS)
    err = res.stage_one.estimate - truth.effects
    se = np.sqrt(np.diagonal(res.stage_one.covariance, axis1=1, axis2=2))
    assert np.all(np.abs(err) < 4 * se)  # MAR dropout: the likelihood keeps MMRM unbiased


def test_visit_counts_and_report(results, rows):
    res = results["unstructured"]
    assert res.counts["n"].sum() == len(rows)
    text = str(res)
    assert "Observed participants per trial, arm and visit" in text
    assert "Visit 12 (primary)" in text and "Multivariate REML pooling across visits" in text


# ---------------------------------------------------------------------------------- CLI

ARGS = [
    "--study",
    "study",
    "--treatment",
    "treat",
    "--family",
    "gaussian",
    "--outcome",
    "y",
    "--participant",
    "id",
    "--visit",
    "visit",
    "--covariates",
    "baseline",
]


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_json_contract(capsys):
    code, out, _ = _run(["two-stage", str(DATA), *ARGS, "--json"], capsys)
    assert code == 0
    payload = json.loads(out)
    assert payload["visit"] == "12"
    assert payload["pooled"]["estimate"] == pytest.approx(R_POOLED["REML"]["12"][0], abs=TOL)
    assert [b["visit"] for b in payload["by_visit"]] == ["4", "8", "12"]
    record = payload["by_visit"][0]["per_study"][0]
    assert {"study", "estimate", "se", "n", "covariance"} <= set(record)
    np.testing.assert_allclose(
        _upper(np.array(record["covariance"])), R_STAGE_ONE["unstructured"]["T1"][1], atol=TOL
    )
    t10 = payload["by_visit"][1]["per_study"][9]
    assert t10["n"] == 0 and t10["excluded"] and t10["covariance"][1] == [None] * 3
    mv = payload["multivariate"]
    assert set(mv["estimates"]) == {"4", "8", "12"} and set(mv["estimates"]["4"]) == {
        "estimate",
        "se",
    }
    assert mv["tau2"]["8"] == pytest.approx(R_MV["unstructured"][2][1], abs=TOL)
    assert mv["correlation"][0][1] == pytest.approx(R_MV["unstructured"][3][0], abs=TOL)


def test_cli_options_reach_the_fit(capsys):
    code, out, _ = _run(
        [
            "two-stage",
            str(DATA),
            *ARGS,
            "--primary-visit",
            "8",
            "--between",
            "cs",
            "--covariance",
            "cs",
            "--json",
        ],
        capsys,
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["visit"] == "8" and payload["residual_covariance"] == "cs"
    assert payload["multivariate"]["structure"] == "cs"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--family", "binomial"], "--family gaussian"),
        (["--spline", "baseline"], "does not take --spline"),
        (["--primary-visit", "7"], "primary visit '7' is not a visit"),
        (["--visit-order", "4,8,12"], "visit_order is for named visits"),
        (["--missing", "impute"], "--missing impute is not for repeated measures"),
    ],
)
def test_cli_refusals_exit_2(capsys, extra, needle):
    code, _, err = _run(["two-stage", str(DATA), *ARGS, *extra], capsys)
    assert code == 2
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith("error:") and needle in last


def test_cli_companion_options_need_visit(capsys):
    argv = [
        "two-stage",
        str(DATA),
        "--study",
        "study",
        "--treatment",
        "treat",
        "--family",
        "gaussian",
        "--outcome",
        "y",
        "--covariance",
        "cs",
    ]
    code, _, err = _run(argv, capsys)
    assert code == 2 and "--covariance is for repeated measures" in err


def test_few_trials_unstructured_joint_pooling_is_missing_with_its_reason():
    rows, _ = simulate_repeated(3, 40, seed=1)
    kw = {**COLUMNS, "covariates": None}
    res = two_stage_repeated(rows, **kw)
    mv = res.to_dict()["multivariate"]
    assert mv["estimates"] is None and "--between cs" in mv["note"]
    cs = two_stage_repeated(rows, between="cs", **kw).to_dict()["multivariate"]
    assert set(cs["tau2"]) == {"4", "8", "12"} and cs["note"] is None


def test_cli_named_visits_with_their_order(tmp_path, capsys, rows):
    names = {4: "wk4", 8: "wk8", 12: "wk12"}
    path = tmp_path / "named.csv"
    rows.assign(visit=rows["visit"].map(names)).to_csv(path, index=False)
    code, _, err = _run(["two-stage", str(path), *ARGS], capsys)
    assert code == 2 and "named visits" in err and "--visit-order" in err
    code, out, _ = _run(
        ["two-stage", str(path), *ARGS, "--visit-order", "wk4,wk8,wk12", "--json"], capsys
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["visits"] == ["wk4", "wk8", "wk12"] and payload["visit"] == "wk12"
    assert payload["pooled"]["estimate"] == pytest.approx(R_POOLED["REML"]["12"][0], abs=TOL)


def test_cli_participant_without_visit_points_to_visit(capsys):
    argv = ["two-stage", str(DATA), *ARGS[:10], "--covariates", "baseline"]
    code, _, err = _run(argv, capsys)
    assert code == 2 and "--visit COL" in err


def test_unestimable_trials_are_refused_naming_trial_and_visit(rows):
    kw = {**COLUMNS, "covariates": None}
    one_arm = rows[~((rows["study"] == "T2") & (rows["visit"] == 12) & (rows["treat"] == 1))]
    with pytest.raises(PoolingError, match=r"trial 'T2', visit '12': observed in one arm only"):
        two_stage_repeated(one_arm, **kw)
    constant = rows.assign(c=np.where(rows["study"] == "T3", 1.0, rows["baseline"]))
    with pytest.raises(PoolingError, match=r"trial 'T3': visit '4': .*not estimable"):
        two_stage_repeated(constant, **{**kw, "covariates": ["c"]})


def test_categorical_baseline_covariate_enters_by_visit(rows):
    ids = rows["id"].unique()
    sex = dict(zip(ids, np.random.default_rng(1).choice(["F", "M"], ids.size), strict=True))
    res = two_stage_repeated(
        rows.assign(sex=rows["id"].map(sex)), **{**COLUMNS, "covariates": ["baseline", "sex"]}
    )
    assert res.stage_one.fits[0].terms == ("(Intercept)", "treat", "baseline", "sex[M]")


def test_summary_by_visit_frame(results):
    frame = results["unstructured"].summary_by_visit()
    assert frame["visit"].tolist() == ["4", "8", "12"]
    np.testing.assert_allclose(
        frame["estimate"], [R_POOLED["REML"][v][0] for v in frame["visit"]], atol=TOL
    )
    np.testing.assert_allclose(frame["mv_tau2"], R_MV["unstructured"][2], atol=TOL)
