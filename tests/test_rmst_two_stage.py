"""Two-stage RMST: per-arm Kaplan-Meier RMST, the difference, pooling, several horizons.

Reference numbers come from R 4 with survival 3.5.3 and metafor, on the shipped simulated
survival trials with two follow-ups cut short (:func:`_truncated`): trial T03 censored at
time 3 in both arms, trial T07's experimental arm at 3.5. The R script (run on the CSV
written by ``_truncated().to_csv("surv_trunc.csv", index=False)``)::

    library(survival); library(metafor)
    d <- read.csv("surv_trunc.csv"); hs <- c(2, 3.25, 4)
    armfit <- function(s) {   # RMST at hs and their covariance (Wei et al. 2015), from R's rmean
      f <- survfit(Surv(time, event) ~ 1, data = s)
      rm <- function(x) unname(survival:::survmean(f, rmean = x)$matrix["rmean"])
      ev <- f$n.event > 0; tj <- f$time[ev]; dj <- f$n.event[ev]; nj <- f$n.risk[ev]
      g <- ifelse(nj > dj, dj / (nj * (nj - dj)), 0)
      A <- sapply(hs, function(h) ifelse(tj <= h, rm(h) - sapply(tj, rm), 0))
      list(rmean = sapply(hs, rm), V = t(A) %*% (g * A), last = max(s$time))
    }
    # per trial: ARM lines = survmean(survfit(Surv(time, event) ~ treat), rmean = h)$matrix
    #   (rmean, se(rmean)) of treat=1 then treat=0 -- what print(fit, rmean = h) shows;
    # V = e$V + c0$V (COV lines); a trial enters horizon h when h <= min(last of each arm)
    rma(yi, vi, data = subset(dat, horizon == h), method = m)           # UNI lines
    rma(yi, vi, data = ..., method = "REML", test = "knha")             # HKSJ
    rma.mv(yi, bldiag(Vs), mods = ~ factor(horizon) - 1,
           random = ~ factor(horizon) | study, struct = "UN", data = dat)  # MV lines
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.cli import main
from bayes_ipd.data import IPD
from bayes_ipd.datasets import load_bcg_ipd, load_survival_trials
from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage import two_stage
from bayes_ipd.two_stage.mvma import mvma
from bayes_ipd.two_stage.rmst import check_horizons, km_rmst, rmst_per_study
from bayes_ipd.two_stage.rmst_pooling import two_stage_rmst

HORIZONS = (2.0, 3.25, 4.0)

# R: trial, horizon, rmean (treat=1), se(rmean) (treat=1), rmean (treat=0), se(rmean) (treat=0)
R_ARMS = """
T01 2 1.914384132561 0.024337991454 1.877073052822 0.029729964916
T01 3.25 2.980091958575 0.053681113347 2.898643269004 0.061325120821
T01 4 3.555895599417 0.074121465813 3.437011572897 0.083105810151
T02 2 1.918368863303 0.018035815891 1.814591285986 0.030389731853
T02 3.25 2.949046930027 0.045042213363 2.706988726995 0.061269531663
T02 4 3.516039254268 0.063600778755 3.151079377579 0.081309133832
T03 2 1.870720638695 0.018846633080 1.918327770242 0.015396798965
T03 3.25 2.879931269162 0.040137821942 2.976848214042 0.033787399865
T03 4 3.461414327288 0.054794557388 3.578472762665 0.047458188909
T04 2 1.916384014321 0.018803138917 1.924226819871 0.017633971928
T04 3.25 2.953379904428 0.042847214289 2.966565085943 0.041440479710
T04 4 3.500279309475 0.060125877353 3.538192915533 0.058720863473
T05 2 1.885445845426 0.027458704534 1.851101101309 0.033323473873
T05 3.25 2.843247422115 0.062529907312 2.770267254215 0.068302931873
T05 4 3.330050668619 0.086582950717 3.213435740623 0.092303991963
T06 2 1.918144875181 0.016063903015 1.870827038224 0.020547846745
T06 3.25 2.943889490643 0.037867833255 2.833094951766 0.044698886455
T06 4 3.501482205902 0.053392986678 3.343136742660 0.061180185454
T07 2 1.936531134502 0.018032949653 1.969030993670 0.011231308136
T07 3.25 3.045261534634 0.041969813615 3.108161955657 0.032465845736
T07 4 3.686830627077 0.058877281526 3.747705533096 0.048232247523
T08 2 1.920332504863 0.019139957208 1.946008911772 0.013829774978
T08 3.25 3.020443130655 0.039142205018 3.044930480967 0.034143346097
T08 4 3.633077240725 0.053341519867 3.653367061778 0.048855160139
T09 2 1.914557770817 0.016076734855 1.901615466478 0.017812198225
T09 3.25 3.010697145675 0.034950065862 2.936848958579 0.037844299396
T09 4 3.613504062001 0.047784680407 3.482256883417 0.052026415753
T10 2 1.953276719488 0.017017491447 1.972087107706 0.011075970254
T10 3.25 3.083130065401 0.039332025854 3.128685155206 0.032136011113
T10 4 3.719037059526 0.056734756831 3.773530063857 0.048395083654
"""

# R: V = e$V + c0$V of the script (the within-trial covariance across HORIZONS), row-major
R_COV = {
    "T03": [5.922569968200e-04, 1.158867323811e-03, 1.483567353266e-03,
            1.158867323811e-03, 2.752633139916e-03, 3.754303369195e-03,
            1.483567353266e-03, 3.754303369195e-03, 5.254723213876e-03],
    "T07": [4.513295556404e-04, 9.871905754299e-04, 1.294170694442e-03,
            9.871905754299e-04, 2.815496394228e-03, 3.955110187651e-03,
            1.294170694442e-03, 3.955110187651e-03, 5.792883981026e-03],
    "T08": [5.576006378578e-04, 1.087956248833e-03, 1.382610592407e-03,
            1.087956248833e-03, 2.697880296344e-03, 3.665350411125e-03,
            1.382610592407e-03, 3.665350411125e-03, 5.232144413947e-03],
}  # fmt: skip

# R metafor rma(): horizon -> method -> (b, se, tau2); HKSJ (test = "knha"): (b, se, lb, ub)
R_POOLED = {
    2.0: {
        "REML": (0.0042535752, 0.0135810037, 0.0010850860),
        "DL": (0.0039672850, 0.0132118062, 0.0009901204),
        "ML": (0.0035528913, 0.0127156776, 0.0008671516),
        "PM": (0.0046081950, 0.0140728078, 0.0012161469),
    },
    3.25: {
        "REML": (0.0382227887, 0.0309840670, 0.0047235927),
        "DL": (0.0380074417, 0.0306157217, 0.0045267045),
        "ML": (0.0369499889, 0.0289488985, 0.0036686750),
        "PM": (0.0384696853, 0.0314199511, 0.0049599690),
    },
    4.0: {
        "REML": (0.0867859236, 0.0478075621, 0.0103750257),
        "DL": (0.0865424179, 0.0472077566, 0.0099329820),
        "ML": (0.0852849119, 0.0443877613, 0.0079375574),
        "PM": (0.0868670474, 0.0480117573, 0.0105269171),
    },
}
R_HKSJ = {
    2.0: (0.0042535752, 0.0139828264, -0.0273777757, 0.0358849262),
    3.25: (0.0382227887, 0.0313580651, -0.0340890391, 0.1105346166),
    4.0: (0.0867859236, 0.0480375954, -0.0268049395, 0.2003767867),
}
# R metafor rma.mv(..., struct = "UN"): b, se, cov2cor(vcov(mv)), tau2
R_MV_B = (0.0056023797, 0.0289947480, 0.0513586784)
R_MV_SE = (0.0140423220, 0.0324438292, 0.0478246656)
R_MV_COR = ((1.0, 0.9567758656, 0.9270587086), (0.9567758656, 1.0, 0.9893347957),
            (0.9270587086, 0.9893347957, 1.0))  # fmt: skip
R_MV_TAU2 = (0.0012413298, 0.0067047663, 0.0152271345)


def _truncated() -> pd.DataFrame:
    """The shipped survival trials, T03 censored at 3 and T07's experimental arm at 3.5."""
    d = load_survival_trials()
    for rows, cut in (
        (d["trial"] == "T03", 3.0),
        ((d["trial"] == "T07") & (d["treat"] == 1), 3.5),
    ):
        late = rows & (d["time"] > cut)
        d.loc[late, "event"] = 0
        d.loc[late, "time"] = cut
    return d


def _ipd(frame: pd.DataFrame | None = None) -> IPD:
    return IPD.from_frame(
        _truncated() if frame is None else frame,
        study="trial",
        treatment="treat",
        time="time",
        event="event",
        family="survival",
    )


@pytest.fixture(scope="module")
def ipd() -> IPD:
    return _ipd()


@pytest.fixture(scope="module")
def result(ipd: IPD):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = two_stage_rmst(ipd, HORIZONS)
    assert sorted(str(w.message)[:11] for w in caught) == ["trial 'T03'", "trial 'T07'"]
    return out


def _r_arms() -> dict[tuple[str, float], tuple[float, ...]]:
    rows = (line.split() for line in R_ARMS.strip().splitlines())
    return {(r[0], float(r[1])): tuple(float(v) for v in r[2:]) for r in rows}


# --- stage one ------------------------------------------------------------------------


def test_km_rmst_closed_form() -> None:
    # S = 2/3 after t = 1: RMST(2.5) = 1 + 1.5 * 2/3 = 2; Var = A^2 d/(n(n-d)) = 1^2 / 6
    # R: survmean(survfit(Surv(c(1,2,3), c(1,0,1)) ~ 1), rmean = 2.5): 2, 0.408248290464
    arm = km_rmst(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 1.0]), [2.5])
    assert arm.rmst[0] == pytest.approx(2.0, abs=1e-12)
    assert arm.se[0] == pytest.approx(0.408248290464, abs=1e-12)


def test_per_arm_rmst_and_se_equal_r(ipd: IPD) -> None:
    stage = rmst_per_study(ipd, HORIZONS)
    for (study, h), (rm_e, se_e, rm_c, se_c) in _r_arms().items():
        i, j = stage.studies.index(study), stage.horizons.index(h)
        assert stage.rmst_experimental[i, j] == pytest.approx(rm_e, abs=1e-6)
        assert stage.se_experimental[i, j] == pytest.approx(se_e, abs=1e-6)
        assert stage.rmst_control[i, j] == pytest.approx(rm_c, abs=1e-6)
        assert stage.se_control[i, j] == pytest.approx(se_c, abs=1e-6)


def test_difference_and_its_se_from_independent_arms(result) -> None:
    r = _r_arms()
    for j, h in enumerate(HORIZONS):
        records = result.to_dict()["by_horizon"][j]["per_study"]
        for rec in records:
            rm_e, se_e, rm_c, se_c = r[(rec["study"], h)]
            if rec["excluded"] is not None:
                assert rec["estimate"] is None and rec["rmst_control"] is None
                continue
            assert rec["estimate"] == pytest.approx(rm_e - rm_c, abs=1e-6)
            assert rec["se"] == pytest.approx(np.hypot(se_e, se_c), abs=1e-6)
            assert rec["rmst_experimental"] == pytest.approx(rm_e, abs=1e-6)
            assert rec["se_rmst_control"] == pytest.approx(se_c, abs=1e-6)


def test_covariance_across_horizons_equals_r(ipd: IPD) -> None:
    stage = rmst_per_study(ipd, HORIZONS)
    for study, values in R_COV.items():
        got = stage.covariance[stage.studies.index(study)].ravel()
        np.testing.assert_allclose(got, values, rtol=1e-8, atol=1e-12)


def test_horizon_beyond_follow_up_excludes_the_trial(result) -> None:
    reasons = {h: dict(zip(r.per_study.studies, r.per_study.excluded, strict=True))
               for h, r in zip(HORIZONS, result.by_horizon, strict=True)}  # fmt: skip
    assert reasons[2.0]["T03"] is None
    assert "horizon 3.25 is beyond the trial's follow-up" in reasons[3.25]["T03"]
    assert "last observed time 3.5 in the experimental arm" in reasons[4.0]["T07"]
    assert [r.per_study.n_excluded for r in result.by_horizon] == [0, 1, 2]
    assert [r.pooled.k for r in result.by_horizon] == [10, 9, 8]


def test_horizon_equal_to_last_follow_up_is_kept(ipd: IPD) -> None:
    stage = rmst_per_study(ipd, [3.0])
    assert stage.excluded[stage.studies.index("T03")] == (None,)


def test_trial_without_events_up_to_horizon_is_excluded() -> None:
    d = load_survival_trials()
    early = (d["trial"] == "T01") & (d["time"] <= 0.5)
    d.loc[early, "time"] = 0.6  # no event before 0.6 in T01
    d.loc[early, "event"] = 0
    stage = rmst_per_study(_ipd(d), [0.5, 2.0])
    assert "no events up to horizon 0.5" in str(stage.excluded[0][0])
    assert stage.excluded[0][1] is None


# --- pooling --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["REML", "DL", "ML", "PM"])
def test_pooled_equals_metafor(ipd: IPD, method: str) -> None:
    with pytest.warns(UserWarning):
        res = two_stage(ipd, effect="rmst", horizons=HORIZONS, method=method)
    for h, by in zip(HORIZONS, res.by_horizon, strict=True):
        b, se, tau2 = R_POOLED[h][method]
        assert by.pooled.estimate == pytest.approx(b, abs=1e-6)
        assert by.pooled.se == pytest.approx(se, abs=1e-6)
        assert by.pooled.tau2 == pytest.approx(tau2, abs=1e-6)
        assert by.pooled.scale == "RMST difference"


def test_hksj_equals_metafor_knha(ipd: IPD) -> None:
    with pytest.warns(UserWarning):
        res = two_stage_rmst(ipd, HORIZONS, hksj=True)
    for h, by in zip(HORIZONS, res.by_horizon, strict=True):
        got = (by.pooled.estimate, by.pooled.se, by.pooled.ci_low, by.pooled.ci_high)
        np.testing.assert_allclose(got, R_HKSJ[h], atol=1e-6)


def test_multivariate_equals_metafor_rma_mv(result) -> None:
    mv = result.to_dict()["multivariate"]
    assert mv["horizons"] == list(HORIZONS)
    np.testing.assert_allclose(mv["estimates"], R_MV_B, atol=1e-4)
    np.testing.assert_allclose(mv["se"], R_MV_SE, atol=1e-4)
    np.testing.assert_allclose(mv["correlation"], R_MV_COR, atol=1e-4)
    np.testing.assert_allclose(np.square(mv["between_trial_sd"]), R_MV_TAU2, atol=1e-4)


def test_mvma_ignores_unobserved_values(ipd: IPD) -> None:
    stage = rmst_per_study(ipd, HORIZONS)
    observed = np.ones((10, 3), dtype=bool)
    observed[2, 1:] = observed[6, 2] = False
    fits = []
    for junk in (0.0, 99.0):
        y = np.where(observed, stage.difference, junk)
        fits.append(mvma(y, stage.covariance, observed=observed))
    np.testing.assert_array_equal(fits[0].estimate, fits[1].estimate)
    np.testing.assert_allclose(fits[0].estimate, R_MV_B, atol=1e-4)
    complete = mvma(stage.difference, stage.covariance, observed=np.ones((10, 3), dtype=bool))
    assert not np.allclose(complete.estimate, fits[0].estimate, atol=1e-4)


def test_one_horizon_has_no_by_horizon(ipd: IPD) -> None:
    out = two_stage_rmst(ipd, [2.0]).to_dict()
    assert out["horizon"] == 2.0 and out["pooled"]["scale"] == "RMST difference"
    assert "by_horizon" not in out and "multivariate" not in out


def test_top_level_is_the_first_horizon(result) -> None:
    out = result.to_dict()
    assert out["pooled"] == out["by_horizon"][0]["pooled"]
    assert out["per_study"] == out["by_horizon"][0]["per_study"]
    assert [b["horizon"] for b in out["by_horizon"]] == list(HORIZONS)
    assert out["effect"] == "rmst" and out["family"] == "survival"
    assert "RMST difference" in str(result) and "Multivariate REML" in str(result)


# --- refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("horizons", "message"),
    [
        ([0], "positive"),
        ([-1, 2], "positive"),
        ([float("nan")], "positive"),
        (["x"], "not a number"),
        ([4, 2], "increasing"),
        ([2, 2], "repeated"),
        ([], "at least one"),
    ],
)
def test_bad_horizons_refused(horizons: list, message: str) -> None:
    with pytest.raises(PoolingError, match=message):
        check_horizons(horizons)


def test_horizon_beyond_every_trial_refused(ipd: IPD) -> None:
    with pytest.raises(PoolingError, match="beyond every trial's follow-up"):
        two_stage_rmst(ipd, [2.0, 6.0])


def test_covariates_and_cox_options_refused(ipd: IPD) -> None:
    with pytest.raises(PoolingError, match=r"covariates \(age\) are not used"):
        two_stage(ipd, effect="rmst", horizons=[2.0], covariates=["age"])
    with pytest.raises(PoolingError, match="pool_var"):
        two_stage(ipd, effect="rmst", horizons=[2.0], pool_var="treat:age")
    with pytest.raises(PoolingError, match="horizons are for effect='rmst'"):
        two_stage(ipd, horizons=[2.0])
    with pytest.raises(PoolingError, match=r"time-to-event outcome.*'binomial'"):
        two_stage(load_bcg_ipd(), effect="rmst", horizons=[2.0])


# --- command line ---------------------------------------------------------------------


def _cli(tmp_path: Path, *extra: str) -> list[str]:
    path = tmp_path / "trunc.csv"
    if not path.exists():
        _truncated().to_csv(path, index=False)
    base = [
        "two-stage", str(path), "--study", "trial", "--treatment", "treat", "--time", "time",
        "--event", "event", "--family", "survival",
    ]  # fmt: skip
    return [*base, *extra]


def test_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _cli(tmp_path, "--effect", "rmst", "--horizon", "2,3.25,4", "--hksj", "--json")
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pooled"]["scale"] == "RMST difference" and out["pooled"]["hksj"] is True
    assert out["pooled"]["estimate"] == pytest.approx(R_HKSJ[2.0][0], abs=1e-6)
    assert [b["pooled"]["k"] for b in out["by_horizon"]] == [10, 9, 8]
    assert set(out["multivariate"]) >= {"estimates", "se", "correlation"}
    t03 = out["by_horizon"][2]["per_study"][2]
    assert t03["study"] == "T03" and "beyond the trial's follow-up" in t03["excluded"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--effect", "rmst", "--horizon", "0"], "positive"),
        (["--effect", "rmst", "--horizon", "4,2"], "increasing"),
        (["--effect", "rmst", "--horizon", "2,2"], "repeats"),
        (["--effect", "rmst", "--horizon", "two"], "not a number"),
        (["--effect", "rmst", "--horizon", "9"], "beyond every trial's follow-up"),
        (["--effect", "rmst"], "needs --horizon"),
        (["--horizon", "2"], "--horizon is for --effect rmst"),
        (["--effect", "rmst", "--horizon", "2", "--covariates", "age"], "--covariates"),
    ],
)
def test_cli_refusals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(_cli(tmp_path, *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err
