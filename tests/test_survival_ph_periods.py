"""Issue 26, two-stage route: the proportional-hazards test per trial (R ``cox.zph``), one
log hazard ratio per period (R ``coxph`` on ``survSplit`` data, pooled as ``metafor::rma``)
and the Kaplan-Meier / Schoenfeld figures.

Reference numbers from R 4.x, survival 3.5.3, metafor 3.8.1 on the shipped
``survival_trials.csv`` (``d <- read.csv(".../bayes_ipd/datasets/survival_trials.csv")``);
the R lines are beside the numbers.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_ipd as bi
from bayes_ipd.cli import main
from bayes_ipd.datasets import load_bp_ipd, load_survival_ipd, load_survival_trials
from bayes_ipd.errors import PoolingError, SpecError
from bayes_ipd.families import get_family
from bayes_ipd.families.cox_periods import fit_periods, split_episodes
from bayes_ipd.families.cox_zph import cox_zph, km_transform
from bayes_ipd.plots.kaplan_meier import km_steps, numbers_at_risk
from bayes_ipd.two_stage.km_overlay import km_overlay
from bayes_ipd.two_stage.periods import effects_by_interval, parse_cut_points
from bayes_ipd.two_stage.ph_test import proportionality_tests

ADJUST = ["age", "smoking"]

# for (tr in sort(unique(d$trial))) {
#   s <- d[d$trial == tr, ]
#   z <- cox.zph(coxph(Surv(time, event) ~ treat + age + smoking, data = s, ties = "efron"),
#                transform = "km")
#   z$table["GLOBAL", "chisq"], z$table["GLOBAL", "p"], z$table["treat", "p"] }
R_ZPH = {
    "T01": (4.9984716071, 0.1719090949, 0.5313578706),
    "T02": (1.6035180411, 0.6585923908, 0.4369020182),
    "T03": (9.2478129443, 0.0261712291, 0.0029919322),
    "T04": (4.2937093303, 0.2314456693, 0.3611634074),
    "T05": (2.3984955755, 0.4939147323, 0.7155114562),
    "T06": (0.6050793773, 0.8952685878, 0.7825017468),
    "T07": (3.9216004667, 0.2700552574, 0.0509851949),
    "T08": (5.0986977423, 0.1647110377, 0.0310820762),
    "T09": (3.0153574128, 0.3892634207, 0.1693147808),
    "T10": (3.2857376577, 0.3496326354, 0.1410566811),
}

# sp <- survSplit(Surv(time, event) ~ ., data = s, cut = c(1, 3), episode = "period")
# ok <- periods with events in both arms (T10: none in the control arm in period 1);
# sp <- sp[sp$period %in% which(ok), ]; tk <- treat * (period == k) for k in which(ok)
# f <- coxph(Surv(tstart, time, event) ~ t1 + t2 + t3 + age + smoking, sp, ties = "efron")
# coef(f)[tk], sqrt(diag(vcov(f)))[tk]
R_PERIOD_EST = [
    [-0.3372753570, -1.0970025251, 0.4910711813, 0.1162698975, -0.7253219375,
     -0.7303233947, 1.3362951946, 0.6967069341, -0.1293090643, math.nan],
    [-0.3237217732, -0.4999778403, 0.0723110954, 0.0194077459, -0.1154818381,
     -0.2706090572, 0.0854773677, -0.2760330219, -0.4892215503, 0.2254554179],
    [-0.3341782668, -0.8401345302, -0.4029556009, 0.4129073902, -0.3392967512,
     -0.4302368394, -0.6314910279, -0.4971230127, 0.0684668024, -0.7005972618],
]  # fmt: skip
R_PERIOD_SE = [
    [0.4647159574, 0.4396178851, 0.3389934342, 0.4860457815, 0.5479622158,
     0.3723951101, 1.1181366926, 0.5000438877, 0.3394705906, math.nan],
    [0.3120279688, 0.2177527279, 0.1811211550, 0.2239079125, 0.2296724267,
     0.1852138932, 0.3093511055, 0.2719808736, 0.2203994715, 0.3359120230],
    [0.2629216095, 0.2469167606, 0.1724946933, 0.2224497425, 0.2786782504,
     0.1948656253, 0.2969288159, 0.2306198194, 0.1920553534, 0.3878707187],
]  # fmt: skip

# ok <- !is.na(est[, k]); rma(est[ok, k], sei = se[ok, k], method = M [, test = "knha"])
# (b, se, tau2) for REML and DL; (b, se, ci.lb, ci.ub) for REML + knha
R_POOLED = {
    "REML": [
        (-0.1541669419, 0.2189229437, 0.2107966873),
        (-0.1757007323, 0.0798928243, 0.0081698215),
        (-0.3408412868, 0.1197803365, 0.0840624395),
    ],
    "DL": [
        (-0.1536584138, 0.2211397576, 0.2188704461),
        (-0.1759098902, 0.0771611252, 0.0043602509),
        (-0.3404934558, 0.1188714794, 0.0819649126),
    ],
}
R_KNHA = [
    (-0.1541669419, 0.2243557943, -0.6715323314, 0.3631984476),
    (-0.1757007323, 0.0770294607, -0.3499534787, -0.0014479860),
    (-0.3408412868, 0.1176204457, -0.6069172204, -0.0747653531),
]


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@pytest.fixture(scope="module")
def ipd():
    return load_survival_ipd()


@pytest.fixture(scope="module")
def checks(ipd):
    return _quiet(proportionality_tests, ipd, covariates=ADJUST)


@pytest.fixture(scope="module")
def plain(ipd):
    """Today's analysis (no new option): stage one fitted once for the module."""
    return _quiet(bi.fit_two_stage, ipd, covariates=ADJUST, hksj=True)


@pytest.fixture(scope="module")
def full(ipd, plain):
    """Every new option; stage one reused (``stage_one=``), so fitted once."""
    return _quiet(
        bi.fit_two_stage, ipd, covariates=ADJUST, hksj=True, ph_test=True,
        effect_intervals="1,3", stage_one=plain.per_study,
    )  # fmt: skip


@pytest.fixture(scope="module")
def by_interval(ipd):
    return _quiet(effects_by_interval, ipd, [1, 3], covariates=ADJUST)


# --- the proportional-hazards test ---------------------------------------------------


def test_ph_test_equals_cox_zph_in_every_trial(checks):
    assert [t.study for t in checks.trials] == list(R_ZPH)
    for test in checks.trials:
        chisq, p, p_treat = R_ZPH[test.study]
        assert test.result is not None
        g = test.result.global_test
        assert g.df == 3
        assert g.statistic == pytest.approx(chisq, abs=1e-4)
        assert g.p == pytest.approx(p, abs=1e-5)
        assert test.result.term("treat").p == pytest.approx(p_treat, abs=1e-5)
    assert checks.rejected() == ["T03"]


def _rounded_t03() -> pd.DataFrame:
    """Trial T03 with times rounded up to quarters (tied event times, events at the cut
    points) and age in three groups (a term of two columns)."""
    d = load_survival_trials()
    d = d[d["trial"] == "T03"].copy()
    d["time"] = np.ceil(d["time"] * 4) / 4
    d["grp"] = np.where(d["age"] < 55, "a", np.where(d["age"] < 65, "b", "c"))
    return d


@pytest.mark.parametrize(
    ("ties", "expected"),
    [
        # d$time <- ceiling(d$time * 4) / 4; s <- d[d$trial == "T03", ]
        # s$grp <- factor(ifelse(s$age < 55, "a", ifelse(s$age < 65, "b", "c")))
        # z <- cox.zph(coxph(Surv(time, event) ~ treat + grp + sbp, s, ties = T), "km")
        # z$table[, "chisq"] (treat, grp, sbp, GLOBAL)
        ("efron", (9.2802273770, 0.6302048407, 1.9364223183, 11.8527427030)),
        ("breslow", (9.0005624035, 0.6194244818, 1.8083833893, 11.4218866283)),
    ],
)
def test_ph_test_with_ties_and_a_two_column_term(ties, expected):
    from statsmodels.duration.hazard_regression import PHReg

    s = _rounded_t03()
    x = np.column_stack([s["treat"], s["grp"] == "b", s["grp"] == "c", s["sbp"]]).astype(float)
    time, event = s["time"].to_numpy(float), s["event"].to_numpy(float)
    beta = PHReg(time, x, status=event, ties=ties).fit().params
    z = cox_zph(time, event, x, beta, ["treat", "grp[b]", "grp[c]", "sbp"], ties=ties)
    got = [z.term("treat").statistic, z.term("grp").statistic, z.term("sbp").statistic]
    assert [z.term("grp").df, z.global_test.df] == [2, 4]
    np.testing.assert_allclose([*got, z.global_test.statistic], expected, atol=1e-5)
    if ties == "efron":
        # z$y[1:4, "treat"]; z$x[1:4] are 0 (KM is 1 before the first event time, 0.25)
        np.testing.assert_allclose(
            z.scaled_residuals[:4, 0], [-2.1038508, -2.0023872, -2.0047482, 1.9005845], atol=1e-6
        )
        assert np.all(z.transformed_time[:4] == 0) and np.all(z.event_time[:4] == 0.25)


def test_km_transform_is_one_minus_survival_just_before_each_time():
    # events at 1, 2 (n = 4, then 3): S(1-) = 1, S(2-) = 3/4, S(3-) = 3/4 * 2/3 = 1/2
    time = np.array([1.0, 2.0, 3.0, 3.0])
    event = np.array([1.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(km_transform(time, event), [0.0, 0.25, 0.5, 0.5])


def test_ph_warning_names_the_rejecting_trial(ipd):
    with pytest.warns(UserWarning, match=r"trial 'T03': proportional hazards rejected at 0.05"):
        proportionality_tests(ipd, covariates=ADJUST)


def test_ph_test_in_the_json_per_study_records_only_when_asked(plain, full):
    tested = full
    before, after = plain.to_dict(), full.to_dict()
    assert "ph_test" not in before["per_study"][0] and "by_interval" not in before
    assert after["pooled"] == before["pooled"]
    for old, new in zip(before["per_study"], after["per_study"], strict=True):
        assert {k: new[k] for k in old} == old
        assert set(new["ph_test"]) == {"statistic", "df", "p"}
    assert after["per_study"][2]["ph_test"]["statistic"] == pytest.approx(R_ZPH["T03"][0], abs=1e-4)
    assert set(after["per_study"][0]["ph_test_terms"]) == {"treat", "age", "smoking"}
    assert "Proportional hazards, per trial" in str(tested)
    assert "Rejected at 0.05: T03" in str(tested)


def test_proportionality_is_refused_for_other_families():
    bp = load_bp_ipd()
    with pytest.raises(SpecError, match="time-to-event"):
        proportionality_tests(bp)
    assert not get_family("gaussian").supports_time_effects
    assert get_family("survival").supports_time_effects


# --- one log hazard ratio per period -------------------------------------------------


def test_episode_split_is_survsplit():
    # survSplit(Surv(time, event) ~ ., data.frame(time = c(0.5, 1, 2, 4), event = c(1, 1, 0, 1)),
    #           cut = c(1, 3)): 7 rows; the event at exactly 1 ends the first episode
    ep = split_episodes(np.array([0.5, 1.0, 2.0, 4.0]), np.array([1.0, 1.0, 0.0, 1.0]), [1, 3])
    assert ep.start.tolist() == [0, 0, 0, 0, 1, 1, 3]
    assert ep.stop.tolist() == [0.5, 1, 1, 1, 2, 3, 4]
    assert ep.status.tolist() == [1, 1, 0, 0, 0, 0, 1]
    assert ep.row.tolist() == [0, 1, 2, 3, 2, 3, 3]


def test_per_period_log_hrs_equal_coxph_on_split_data(by_interval):
    assert [r.label for r in by_interval] == ["[0, 1)", "[1, 3)", "[3, inf)"]
    for p, result in enumerate(by_interval):
        agg = result.per_study
        np.testing.assert_allclose(agg.estimate, R_PERIOD_EST[p], atol=1e-6)
        np.testing.assert_allclose(agg.se, R_PERIOD_SE[p], atol=1e-6)
    first = by_interval[0].per_study
    assert first.excluded[-1] == "no events in the control arm in the period"
    assert first.n_excluded == 1 and by_interval[1].per_study.n_excluded == 0


def test_events_at_the_cut_points_belong_to_the_period_ending_there():
    # the rounded T03 (11 events at exactly t = 1):
    # coxph(Surv(tstart, time, event) ~ t1 + t2 + t3 + age + smoking, split, ties = "efron")
    s = _rounded_t03()
    x = np.column_stack([s["treat"], s["age"] - s["age"].mean(), s["smoking"]]).astype(float)
    fits = fit_periods(
        s["time"].to_numpy(float), s["event"].to_numpy(float), x, ["treat", "age", "smoking"],
        0, [1, 3],
    )  # fmt: skip
    np.testing.assert_allclose(
        [f.estimate for f in fits], [0.4925332427, 0.0752535941, -0.4046000886], atol=1e-6
    )
    np.testing.assert_allclose(
        [f.se for f in fits], [0.3389910022, 0.1811226534, 0.1725046978], atol=1e-6
    )
    assert [f.events for f in fits] == [
        int(((s["time"] <= 1) & (s["event"] == 1)).sum()),
        int(((s["time"] > 1) & (s["time"] <= 3) & (s["event"] == 1)).sum()),
        int(((s["time"] > 3) & (s["event"] == 1)).sum()),
    ]


@pytest.mark.parametrize("method", ["REML", "DL"])
def test_pooled_per_period_equals_metafor(ipd, method):
    by = _quiet(effects_by_interval, ipd, [1, 3], covariates=ADJUST, method=method)
    for result, (b, se, tau2) in zip(by, R_POOLED[method], strict=True):
        assert result.pooled.estimate == pytest.approx(b, abs=1e-4)
        assert result.pooled.se == pytest.approx(se, abs=1e-4)
        assert result.pooled.tau2 == pytest.approx(tau2, abs=1e-4)
    assert by[0].pooled.k == 9


def test_pooled_per_period_hksj_equals_metafor_knha(full):
    for result, (b, se, lo, hi) in zip(full.by_interval, R_KNHA, strict=True):
        pooled = result.pooled
        got = (pooled.estimate, pooled.se, pooled.ci_low, pooled.ci_high)
        np.testing.assert_allclose(got, (b, se, lo, hi), atol=1e-4)


def test_by_interval_json_shape_and_the_single_hr_unchanged(plain, full):
    plain = plain.to_dict()
    out = json.loads(json.dumps(full.to_dict()))
    assert out["pooled"] == plain["pooled"]
    assert [{k: r[k] for k in plain["per_study"][0]} for r in out["per_study"]] == plain[
        "per_study"
    ]
    assert [(b["start"], b["end"]) for b in out["by_interval"]] == [(0, 1), (1, 3), (3, None)]
    first = out["by_interval"][0]
    assert set(first) == {"start", "end", "pooled", "per_study"}
    assert set(first["pooled"]) == set(plain["pooled"])
    assert set(first["per_study"][0]) == set(plain["per_study"][0])
    t10 = first["per_study"][-1]
    assert t10["study"] == "T10" and t10["estimate"] is None and "control arm" in t10["excluded"]


def test_a_period_without_events_in_an_arm_excludes_the_trial_with_a_warning(ipd):
    with pytest.warns(UserWarning, match=r"trial 'T10' excluded from period \[0, 1\)"):
        effects_by_interval(ipd, [1, 3])


@pytest.mark.parametrize(
    ("cuts", "message"),
    [
        ("3,1", "must increase"),
        ("1,1", "given twice"),
        ("0,1", "positive"),
        ("-2", "positive"),
        ("a,2", "not a number"),
        ("1,inf", "positive finite"),
        ("", "no cut point"),
    ],
)
def test_bad_cut_points_are_refused(cuts, message):
    with pytest.raises(SpecError, match=message):
        parse_cut_points(cuts)


def test_cut_points_beyond_every_trial_are_refused(ipd):
    with pytest.raises(PoolingError, match=r"period \[10, inf\)"):
        _quiet(effects_by_interval, ipd, [10])


def test_proportional_hazards_give_equal_period_effects():
    # a planted truth: exponential hazards, log HR -0.5 in every period, 6 trials
    rng = np.random.default_rng(26)
    frames = []
    for k in range(6):
        n = 600
        treat = np.repeat([0.0, 1.0], n // 2)
        t = rng.exponential(1 / (0.3 * np.exp(-0.5 * treat)))
        c = rng.uniform(2, 6, n)
        frames.append(
            pd.DataFrame({"trial": f"S{k}", "treat": treat, "time": np.minimum(t, c),
                          "event": (t <= c).astype(int)})
        )  # fmt: skip
    data = bi.IPD.from_frame(
        pd.concat(frames), study="trial", treatment="treat", time="time", event="event",
        family="survival",
    )  # fmt: skip
    by = effects_by_interval(data, [1, 2.5], method="FE")
    est = np.array([r.pooled.estimate for r in by])
    se = np.array([r.pooled.se for r in by])
    assert np.all(np.abs(est + 0.5) < 3 * se)


# --- figures and the CLI --------------------------------------------------------------


def test_km_steps_and_numbers_at_risk():
    time = np.array([1.0, 2.0, 2.0, 3.0, 5.0])
    event = np.array([1.0, 1.0, 0.0, 1.0, 0.0])
    steps, surv = km_steps(time, event)
    np.testing.assert_allclose(steps, [0, 1, 2, 3, 5])
    np.testing.assert_allclose(surv, [1, 0.8, 0.6, 0.3, 0.3])
    assert numbers_at_risk(time, [0, 2, 2.5, 6]).tolist() == [5, 4, 2, 0]


def test_km_overlay_prints_the_numbers_at_risk(ipd):
    import matplotlib.pyplot as plt

    fig = km_overlay(ipd)
    assert plt.fignum_exists(fig.number)  # pyplot-managed, as every package figure
    texts = [t for ax in fig.axes for t in ax.texts if t.get_gid() == "at-risk"]
    assert len(fig.axes) == 20  # a curve panel and a numbers-at-risk row per trial
    # T01 control: 160 participants at time 0, at risk at the ticks 0, 1, ..., 5 years
    t01 = load_survival_trials().query("trial == 'T01' and treat == 0")["time"]
    expected = [str(int((t01 >= v).sum())) for v in range(6)]
    assert [t.get_text() for t in texts[:6]] == expected and expected[0] == "160"
    plt.close(fig)


def test_schoenfeld_figure_has_a_panel_per_tested_trial(checks):
    import matplotlib.pyplot as plt

    fig = checks.plot()
    assert plt.fignum_exists(fig.number)
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title(loc="left")]
    assert [ax.get_title(loc="left").split()[0] for ax in panels] == list(R_ZPH)
    assert all(any(line.get_gid() == "lowess" for line in ax.lines) for ax in panels)
    plt.close(fig)


def test_cli_writes_the_figures_and_json(tmp_path, capsys):
    data = tmp_path / "surv.csv"
    load_survival_trials().query("trial in ['T01', 'T03', 'T10']").to_csv(data, index=False)
    argv = [
        "two-stage", str(data), "--study", "trial", "--treatment", "treat", "--family",
        "survival", "--time", "time", "--event", "event", "--covariates", "age,smoking",
        "--effect-intervals", "1,3", "--ph-plot", str(tmp_path / "zph.png"), "--km-plot",
        str(tmp_path / "km.png"), "--json",
    ]  # fmt: skip
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0
    payload = json.loads(out)
    assert payload["per_study"][1]["ph_test"]["statistic"] == pytest.approx(
        R_ZPH["T03"][0], abs=1e-4
    )
    # the T03 per-period estimates do not depend on the other trials
    assert payload["by_interval"][0]["per_study"][1]["estimate"] == pytest.approx(
        R_PERIOD_EST[0][2], abs=1e-6
    )
    assert len(payload["by_interval"]) == 3
    assert (tmp_path / "zph.png").stat().st_size > 0 and (tmp_path / "km.png").stat().st_size > 0
    assert "warning: trial 'T03': proportional hazards rejected" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--effect-intervals", "3,1"], "error: effect intervals: cut points must increase"),
        (["--effect-intervals", "x"], "error: effect intervals: cut point 'x' is not a number"),
    ],
)
def test_cli_refuses_bad_cut_points(tmp_path, capsys, extra, message):
    data = tmp_path / "surv.csv"
    load_survival_trials().to_csv(data, index=False)
    argv = [
        "two-stage", str(data), "--study", "trial", "--treatment", "treat", "--family",
        "survival", "--time", "time", "--event", "event", *extra,
    ]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == message + (
        " (3 comes before 1)" if "increase" in message else ""
    )


def test_a_trial_whose_test_is_undefined_is_reported_not_tested():
    # trial B: every event at one time, so g(t) - mean g = 0 and the information is singular
    a = load_survival_trials().query("trial == 'T01'").assign(trial="A")
    b = pd.DataFrame(
        {"trial": "B", "treat": [0, 1] * 6, "time": [2.0] * 4 + [3.0, 4.0, 5.0, 6.0] * 2,
         "event": [1] * 4 + [0] * 8}
    )  # fmt: skip
    data = bi.IPD.from_frame(
        pd.concat([a, b]), study="trial", treatment="treat", time="time", event="event",
        family="survival",
    )  # fmt: skip
    res = _quiet(bi.fit_two_stage, data, ph_test=True)
    records = res.to_dict()["per_study"]
    assert records[1]["ph_test"] is None and records[0]["ph_test"]["df"] == 1
    assert "B: not tested (the proportional-hazards test is undefined" in str(res)


def _crossing_trials(seed: int = 7, k: int = 4, n: int = 800) -> bi.IPD:
    """Planted crossing hazards: control hazard 0.3; log HR +0.7 before t = 1, -0.7 after
    (inverse of the piecewise cumulative hazard); uniform censoring on (2, 4)."""
    rng = np.random.default_rng(seed)
    frames = []
    for j in range(k):
        treat = np.repeat([0.0, 1.0], n // 2)
        early, late = 0.3 * np.exp(0.7 * treat), 0.3 * np.exp(-0.7 * treat)
        e = rng.exponential(1.0, n)
        t = np.where(e <= early, e / early, 1.0 + (e - early) / late)
        c = rng.uniform(2, 4, n)
        frames.append(
            pd.DataFrame({"trial": f"X{j}", "treat": treat, "time": np.minimum(t, c),
                          "event": (t <= c).astype(int)})
        )  # fmt: skip
    return bi.IPD.from_frame(
        pd.concat(frames), study="trial", treatment="treat", time="time", event="event",
        family="survival",
    )  # fmt: skip


def test_planted_crossing_hazards_are_detected_and_recovered():
    data = _crossing_trials()
    checks = _quiet(proportionality_tests, data)
    assert checks.rejected() == ["X0", "X1", "X2", "X3"]
    by = effects_by_interval(data, [1], method="FE")
    for result, truth in zip(by, (0.7, -0.7), strict=True):
        assert abs(result.pooled.estimate - truth) < 3 * result.pooled.se
