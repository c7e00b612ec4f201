"""Aggregate-data trials in a network (bayes_ipd/data/network_aggregate.py, the AD paths of
two_stage/network_contrasts.py, one_stage/network_summaries.py and network_model.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit

import bayes_ipd as bi
from bayes_ipd.cli import main
from bayes_ipd.data.network import network_from_frame
from bayes_ipd.datasets import load_hasselblad1998, load_hasselblad1998_rows
from bayes_ipd.errors import IPDDataError
from bayes_ipd.one_stage.network_model import build_network_model
from bayes_ipd.one_stage.network_summaries import network_arms
from bayes_ipd.two_stage.network import fit_network_data

GAUSSIAN = Path(__file__).parent / "data" / "network_gaussian.csv"
COUNTS = Path(__file__).parent / "data" / "network_counts.csv"
KW = {"study": "study", "treatment": "treatment", "reference": "no_contact", "outcome": "quit"}
# AD arms: a two-arm trial, a three-arm trial, a trial with a zero-event arm, and one arm
# of an IPD trial (Sanders: no_contact as rows, ind_counseling as AD); contrasts: the
# three-arm Mothersill trial against self_help and Hilleman (two arms)
AD_TRIALS = ["Reid et al. 1974", "Cottraux et al. 1983", "Rabkin et al. 1984"]
MIXED = ("Sanders et al. 1989", "ind_counseling")
GIVEN = ["Mothersill et al. 1988", "Hilleman et al. 1993"]

# R, tests/data/network_aggregate_reference.R (metafor 3.8-1): Hasselblad, --sparse cc,
# Mothersill's contrasts against self_help (yi = l_j - l_self, vi = v_j + v_self, cov
# v_self), the rest against each trial's reference arm:
#   rma.mv(yi, V, mods = ~ grp_counseling + ind_counseling + self_help - 1,
#          random = ~ comp | study, rho = 1/2, data = dat, method = m)
HASSELBLAD_R = {
    "REML": ([0.8687333472, 0.7090092801, 0.3971685199],
             [0.3720731704, 0.1952505446, 0.3286392241], 0.4502296205),
    "ML": ([0.8495418928, 0.6946360106, 0.385553186],
           [0.3503802849, 0.1820419908, 0.3069774846], 0.3763924964),
}  # fmt: skip
# R, same script: network_gaussian.csv, G4 (three arms) and G7 as AD (mean, sd, n;
#   escalc(measure = "MD", ...) per arm vs the trial's first arm, covariance sd_1^2 / n_1),
#   the others as rows (lm(score ~ factor(arm)) per trial); rma.mv as above (mods ~ B + C + D - 1)
GAUSSIAN_R = {
    "REML": ([-0.9264977469, -2.728186027, -1.293026048],
             [0.5130692221, 0.5591390914, 0.6306051557], 0.5082246771),
    "ML": ([-0.9314304229, -2.712188966, -1.274831675],
           [0.4192527349, 0.4762916437, 0.5252716344], 0.1472412957),
    "FE": ([-0.9357916859, -2.700475574, -1.262570755],
           [0.3731823753, 0.4377466274, 0.4747715686], 0.0),
}  # fmt: skip


def _arm_counts() -> pd.DataFrame:
    arms = load_hasselblad1998()
    return pd.DataFrame({"study": arms.authors + " " + arms.year.astype(str),
                         "treatment": arms.trt, "events": arms.xi, "n": arms.ni})  # fmt: skip


def _log_odds(counts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    a, n = counts.events.to_numpy(float), counts.n.to_numpy(float)
    return np.log(a / (n - a)), 1 / a + 1 / (n - a)


def _given_contrasts(counts: pd.DataFrame) -> pd.DataFrame:
    """Mothersill against self_help (multi-arm: cov_with_base = v_self) and Hilleman against
    ind_counseling, as a published paper would give them (closed-form log ORs)."""
    out = []
    for study, base in zip(GIVEN, ["self_help", "ind_counseling"], strict=True):
        trial = counts[counts.study == study].set_index("treatment")
        logit, v = _log_odds(trial)
        lab = dict(zip(trial.index, zip(logit, v, strict=True), strict=True))
        for t in trial.index.drop(base):
            out.append({"study": study, "treatment": t, "comparator": base,
                        "estimate": lab[t][0] - lab[base][0],
                        "se": np.sqrt(lab[t][1] + lab[base][1]),
                        "cov_with_base": lab[base][1] if len(trial) > 2 else np.nan})  # fmt: skip
    return pd.DataFrame(out)


@pytest.fixture(scope="module")
def hasselblad() -> dict[str, pd.DataFrame]:
    rows, counts = load_hasselblad1998_rows(), _arm_counts()
    in_ad = counts.study.isin(AD_TRIALS) | (
        (counts.study == MIXED[0]) & (counts.treatment == MIXED[1])
    )
    as_ad = rows.study.isin(AD_TRIALS + GIVEN) | (
        (rows.study == MIXED[0]) & (rows.treatment == MIXED[1])
    )
    return {"all": rows, "ipd": rows[~as_ad], "arms": counts[in_ad],
            "contrasts": _given_contrasts(counts), "counts": counts}  # fmt: skip


def _mixed(h, **extra):
    return network_from_frame(h["ipd"], aggregate_arms=h["arms"],
                              aggregate_contrasts=h["contrasts"], **KW, **extra)  # fmt: skip


# --------------------------------------------------------------------------- two-stage


@pytest.mark.parametrize("method", ["REML", "ML", "FE"])
def test_two_stage_ad_equals_all_rows_and_metafor(hasselblad, method):
    mixed = fit_network_data(_mixed(hasselblad), method=method, sparse="cc")
    rows = fit_network_data(network_from_frame(hasselblad["all"], **KW), method=method,
                            sparse="cc")  # fmt: skip
    # exactness: a saturated logistic regression on a trial's rows is the closed-form log OR
    np.testing.assert_allclose(mixed.fit.estimate, rows.fit.estimate, rtol=0, atol=1e-6)
    np.testing.assert_allclose(mixed.fit.covariance, rows.fit.covariance, rtol=0, atol=1e-6)
    assert mixed.fit.tau2 == pytest.approx(rows.fit.tau2, abs=1e-6)
    assert mixed.inconsistency.q_between == pytest.approx(rows.inconsistency.q_between, abs=1e-6)
    if method in HASSELBLAD_R:
        est, se, tau2 = HASSELBLAD_R[method]
        np.testing.assert_allclose(mixed.fit.estimate, est, rtol=0, atol=1e-4)
        np.testing.assert_allclose(np.sqrt(np.diag(mixed.fit.covariance)), se, rtol=0, atol=1e-4)
        assert mixed.fit.tau2 == pytest.approx(tau2, abs=1e-4)


def test_given_contrasts_are_re_expressed_against_the_trial_reference(hasselblad):
    stage = fit_network_data(_mixed(hasselblad), sparse="cc").stage_one
    moth = next(t for t in stage.trials if t.study == GIVEN[0])
    treatments = ("no_contact", "grp_counseling", "ind_counseling", "self_help")
    assert [treatments[c] for c in moth.design] == ["grp_counseling", "ind_counseling",
                                                    "self_help"]  # fmt: skip
    trial = hasselblad["counts"].set_index(["study", "treatment"]).loc[GIVEN[0]]
    logit, v = _log_odds(trial.reset_index())
    lab = dict(zip(trial.index, zip(logit, v, strict=True), strict=True))
    g = lab["grp_counseling"]
    want = [lab["ind_counseling"][0] - g[0], lab["self_help"][0] - g[0]]
    np.testing.assert_allclose(moth.estimate, want, atol=1e-12)
    cov = [[lab["ind_counseling"][1] + g[1], g[1]], [g[1], lab["self_help"][1] + g[1]]]
    np.testing.assert_allclose(moth.covariance, cov, atol=1e-12)


def test_zero_event_ad_arm_follows_sparse(hasselblad):
    net = _mixed(hasselblad)
    with pytest.raises(IPDDataError, match=r"Rabkin et al\. 1984.*no_contact.*0 of 33"):
        fit_network_data(net)
    res = fit_network_data(net, sparse="none")
    excluded = res.to_dict()["excluded"]
    assert {e["study"] for e in excluded} == {"Rabkin et al. 1984", "Williams and Hall 1988"}
    assert res.to_dict()["k"] == 22


@pytest.mark.parametrize("method", ["REML", "ML", "FE"])
def test_gaussian_ad_arms_match_metafor_escalc_md(method):
    d = pd.read_csv(GAUSSIAN)
    ad = (d[d.trial.isin(["G4", "G7"])].groupby(["trial", "arm"]).score
          .agg(mean="mean", sd="std", n="size").reset_index()
          .rename(columns={"trial": "study", "arm": "treatment"}))  # fmt: skip
    net = network_from_frame(d[~d.trial.isin(["G4", "G7"])], study="trial", treatment="arm",
                             reference="A", family="gaussian", outcome="score",
                             aggregate_arms=ad)  # fmt: skip
    fit = fit_network_data(net, method=method).fit
    est, se, tau2 = GAUSSIAN_R[method]
    np.testing.assert_allclose(fit.estimate, est, rtol=0, atol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.covariance)), se, rtol=0, atol=1e-4)
    assert fit.tau2 == pytest.approx(tau2, abs=1e-4)


def test_gaussian_arm_as_ad_beside_rows_of_its_trial_equals_the_rows():
    d = pd.read_csv(GAUSSIAN)
    part = (d.trial == "G4") & (d.arm == "B")  # one arm of a three-arm trial as AD
    ad = (d[part].groupby(["trial", "arm"]).score.agg(mean="mean", sd="std", n="size")
          .reset_index().rename(columns={"trial": "study", "arm": "treatment"}))  # fmt: skip
    kw = {"study": "trial", "treatment": "arm", "reference": "A", "family": "gaussian",
          "outcome": "score"}  # fmt: skip
    mixed = network_from_frame(d[~part], aggregate_arms=ad, **kw)
    assert dict(zip(mixed.studies, mixed.trial_sources(), strict=True))["G4"] == "IPD+AD"
    got = fit_network_data(mixed).stage_one.trials
    want = fit_network_data(network_from_frame(d, **kw)).stage_one.trials
    for g, w in zip(got, want, strict=True):  # OLS on the trial's rows, pooled variance
        np.testing.assert_allclose(g.estimate, w.estimate, rtol=0, atol=1e-10)
        np.testing.assert_allclose(g.covariance, w.covariance, rtol=0, atol=1e-10)


def test_survival_trial_as_contrasts_equals_its_rows():
    d = pd.read_csv(Path(__file__).parent / "data" / "network_survival.csv")
    kw = {"study": "trial", "treatment": "arm", "family": "survival", "time": "months",
          "event": "died"}  # fmt: skip
    reference = sorted(d.arm.unique())[0]
    full = fit_network_data(network_from_frame(d, reference=reference, **kw))
    # each of two trials given as its own Cox contrasts (R coxph's, as a paper reports them)
    given = []
    for trial in full.stage_one.trials[:2]:
        names = full.data.treatments
        var = np.diag(trial.covariance)
        cov = trial.covariance[0, 1] if len(trial.arms) > 1 else np.nan
        base = names[trial.reference]
        given += [{"study": trial.study, "treatment": names[t], "comparator": base,
                   "estimate": e, "se": np.sqrt(v), "cov_with_base": cov}
                  for t, e, v in zip(trial.arms, trial.estimate, var, strict=True)]  # fmt: skip
    given = pd.DataFrame(given)
    rows = d[~d.trial.isin(given.study)]
    mixed = fit_network_data(network_from_frame(rows, reference=reference,
                                                aggregate_contrasts=given, **kw))  # fmt: skip
    np.testing.assert_allclose(mixed.fit.estimate, full.fit.estimate, rtol=0, atol=1e-10)
    assert mixed.fit.tau2 == pytest.approx(full.fit.tau2, abs=1e-10)
    with pytest.raises(IPDDataError, match="arm-level aggregate data are read for the famil"):
        network_from_frame(rows, reference=reference, aggregate_arms=given, **kw)


def test_poisson_ad_arms_equal_their_rows():
    d = pd.read_csv(COUNTS)
    study, arm, y, e = d.columns[:4] if len(d.columns) >= 4 else (None,) * 4
    first = d[study].unique()[:2]
    ad = (d[d[study].isin(first)].groupby([study, arm])
          .agg(events=(y, "sum"), exposure=(e, "sum")).reset_index()
          .rename(columns={study: "study", arm: "treatment"}))  # fmt: skip
    kw = {"study": study, "treatment": arm, "reference": sorted(d[arm].unique())[0],
          "family": "poisson", "outcome": y, "time": e}  # fmt: skip
    mixed = fit_network_data(network_from_frame(d[~d[study].isin(first)], aggregate_arms=ad, **kw))
    rows = fit_network_data(network_from_frame(d, **kw))
    np.testing.assert_allclose(mixed.fit.estimate, rows.fit.estimate, rtol=0, atol=1e-8)
    assert mixed.fit.tau2 == pytest.approx(rows.fit.tau2, abs=1e-8)


# --------------------------------------------------------------------------- data layer


def test_network_reports_ad_trials(hasselblad):
    net = _mixed(hasselblad)
    sources = dict(zip(net.studies, net.trial_sources(), strict=True))
    assert sources["Reid et al. 1974"] == "AD" and sources[MIXED[0]] == "IPD+AD"
    assert sources[GIVEN[0]] == "AD contrasts" and sources["Slama et al. 1990"] == "IPD"
    designs = net.design_table().set_index("design")
    assert designs.loc["no_contact:grp_counseling:ind_counseling", "ad_trials"] == 1
    assert (designs.ipd_trials + designs.ad_trials == designs.trials).all()
    assert "trials by source: IPD 18, IPD+AD 1, AD 3, AD contrasts 2" in net.summary()
    full = network_from_frame(hasselblad["all"], **KW)
    # participants per treatment: the AD arms' n counted (contrast-level trials have none)
    given = hasselblad["counts"][hasselblad["counts"].study.isin(GIVEN)]
    want = pd.Series(full.participants_per_treatment()).sub(
        given.groupby("treatment").n.sum(), fill_value=0)  # fmt: skip
    assert net.participants_per_treatment() == want.astype(int).to_dict()
    # without AD the tables keep their columns
    assert list(full.design_table()) == ["design", "arms", "trials", "studies"]
    assert list(full.arm_table()) == ["study", "treatment", "n"]


def _arms(changes: dict | None = None) -> pd.DataFrame:
    base = pd.DataFrame({"study": ["X1", "X1"], "treatment": ["no_contact", "self_help"],
                         "events": [3, 5], "n": [40, 41]})  # fmt: skip
    base = base.astype(object)
    for (i, col), value in (changes or {}).items():
        base.loc[i, col] = value
    return base


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            _arms({(0, "treatment"): "Placebo", (1, "treatment"): "Self help"}),
            r"disconnected.*'Placebo', 'Self help'.* appear only in the aggregate data",
        ),
        (pd.concat([_arms(), _arms().iloc[[1]]]), r"trial 'X1', arm 'self_help' twice"),
        (_arms().iloc[[0]], r"one arm.*'X1' \(only 'no_contact'\)"),
        (_arms({(0, "events"): -1}), r"'events' is negative at trial 'X1', treatment 'no_c"),
        (_arms({(1, "events"): 50}), r"more events than participants at trial 'X1', treatm"),
        (_arms({(1, "n"): 0}), r"'n' is zero.*trial 'X1', treatment 'self_help'"),
        (_arms({(1, "events"): 2.5}), r"'events' is not a whole number"),
        (_arms().drop(columns="n"), r"no column\(s\) 'n'"),
    ],
)
def test_bad_aggregate_arms_are_refused(hasselblad, table, message):
    with pytest.raises(IPDDataError, match=message):
        network_from_frame(hasselblad["all"], aggregate_arms=table, **KW)


def test_overlap_refused_unless_allowed(hasselblad):
    rows = hasselblad["all"]
    extra = pd.DataFrame({"study": ["Slama et al. 1990"], "treatment": ["no_contact"],
                          "events": [1], "n": [10]})  # fmt: skip
    with pytest.raises(IPDDataError, match=r"trial 'Slama et al\. 1990' treatment 'no_contact'"):
        network_from_frame(rows, aggregate_arms=extra, **KW)
    net = network_from_frame(rows, aggregate_arms=extra, allow_overlap=True, **KW)
    arms = network_arms(net)
    k = net.studies.index("Slama et al. 1990")
    first = np.flatnonzero(arms.arm_study == k)[0]  # no_contact: 2 of 106 as rows, + 1 of 10
    assert (arms.stats["events"][first], arms.stats["n"][first]) == (3.0, 116.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"comparator": ["self_help", "ind_counseling", "ind_counseling"]},
         "several comparators"),
        ({"cov_with_base": [np.nan, np.nan, np.nan]}, "no cov_with_base"),
        ({"cov_with_base": [0.1, 0.2, np.nan]}, "cov_with_base differs"),
        ({"cov_with_base": [5.0, 5.0, np.nan]}, "not positive definite"),
        ({"se": [0.3, -0.1, 0.2]}, "'se' is negative"),
    ],
)  # fmt: skip
def test_bad_aggregate_contrasts_are_refused(hasselblad, change, message):
    table = hasselblad["contrasts"].copy()
    for col, values in change.items():
        table[col] = values
    with pytest.raises(IPDDataError, match=message):
        network_from_frame(hasselblad["ipd"], aggregate_arms=hasselblad["arms"],
                           aggregate_contrasts=table, **KW)  # fmt: skip


def test_trial_as_contrasts_and_rows_is_refused(hasselblad):
    with pytest.raises(IPDDataError, match="given as contrasts and also as participant rows"):
        network_from_frame(hasselblad["all"], aggregate_contrasts=hasselblad["contrasts"], **KW)


# --------------------------------------------------------------------------- one-stage


def _point_loglik(built, rng):
    """``loglik_trial`` and ``delta`` at a random point (RVs replaced by their values)."""
    import pytensor

    model = built.model
    outs = model.replace_rvs_by_values([model["loglik_trial"], model["delta"]])
    fn = pytensor.function(model.value_vars, outs, on_unused_input="ignore")
    point = {}
    for v in model.value_vars:
        shape = model.initial_point()[v.name].shape
        point[v.name] = rng.normal(0.0, 0.7, shape)
    return fn(*[point[v.name] for v in model.value_vars]), point


def test_one_stage_ad_arms_give_the_row_level_bernoulli_loglik(hasselblad):
    net = _mixed(hasselblad)
    arms = network_arms(net)
    built = build_network_model(arms, {"tau": "half_normal(1)"})
    (loglik, delta), point = _point_loglik(built, np.random.default_rng(5))
    alpha = point["alpha"]
    offset = np.zeros(arms.n_arms)
    offset[arms.contrast_arm] = delta
    eta = alpha[arms.arm_study] + offset
    # participant rows of every trial with arm-level data (AD arms expanded to rows)
    all_rows = hasselblad["all"]
    pairs = zip(arms.arm_study, arms.arm_treatment, strict=True)
    lookup = {(arms.studies[s], arms.treatments[t]): i for i, (s, t) in enumerate(pairs)}
    want = np.zeros(arms.k)
    for (study, treatment), y in all_rows.groupby(["study", "treatment"]).quit:
        if study in GIVEN:
            continue
        i = lookup[(study, treatment)]
        want[arms.arm_study[i]] += stats.bernoulli.logpmf(y.to_numpy(), expit(eta[i])).sum()
    # contrast-level trials: the multivariate normal of their given contrasts
    for study in GIVEN:
        k = arms.studies.index(study)
        rows = hasselblad["contrasts"][hasselblad["contrasts"].study == study]
        base = lookup[(study, rows.comparator.iloc[0])]
        mean = [offset[lookup[(study, t)]] - offset[base] for t in rows.treatment]
        cov = np.diag(rows.se.to_numpy() ** 2)
        if len(rows) > 1:
            c = rows.cov_with_base.iloc[0]
            cov = cov + c * (1 - np.eye(len(rows)))
        want[k] = stats.multivariate_normal.logpdf(rows.estimate.to_numpy(), mean, cov)
    np.testing.assert_allclose(loglik, want, rtol=0, atol=1e-8)


def test_one_stage_gaussian_ad_arms_give_the_row_level_normal_loglik():
    d = pd.read_csv(GAUSSIAN)
    ad_trials = ["G4", "G7"]
    ad = (d[d.trial.isin(ad_trials)].groupby(["trial", "arm"]).score
          .agg(mean="mean", sd="std", n="size").reset_index()
          .rename(columns={"trial": "study", "arm": "treatment"}))  # fmt: skip
    kw = {"study": "trial", "treatment": "arm", "reference": "A", "family": "gaussian",
          "outcome": "score"}  # fmt: skip
    mixed = network_arms(network_from_frame(d[~d.trial.isin(ad_trials)], aggregate_arms=ad, **kw))
    built = build_network_model(mixed, {"tau": "half_normal(1)", "sigma": "half_normal(5)"})
    (loglik, delta), point = _point_loglik(built, np.random.default_rng(6))
    sigma = np.exp(point["sigma_log__"])
    offset = np.zeros(mixed.n_arms)
    offset[mixed.contrast_arm] = delta
    eta = point["alpha"][mixed.arm_study] + offset
    want = np.zeros(mixed.k)
    for i, (s, t) in enumerate(zip(mixed.arm_study, mixed.arm_treatment, strict=True)):
        y = d[(d.trial == mixed.studies[s]) & (d.arm == mixed.treatments[t])].score.to_numpy()
        want[s] += stats.norm.logpdf(y, eta[i], sigma[s]).sum()
    np.testing.assert_allclose(loglik, want, rtol=0, atol=1e-8)


def test_one_stage_fit_with_ad_agrees_with_all_rows():
    counts = pd.read_csv(Path(__file__).parent / "data" / "network_binary_fe.csv")
    rows = pd.concat(
        [pd.DataFrame({"study": r.study, "treatment": r.treatment,
                       "y": np.r_[np.ones(r.events), np.zeros(r.n - r.events)].astype(int)})
         for r in counts.itertuples()], ignore_index=True)  # fmt: skip
    ad_trials = ["T01", "T07"]  # T07 has three arms
    kw = {"study": "study", "treatment": "treatment", "reference": "A", "outcome": "y",
          "route": "one-stage", "method": "FE",
          "priors": {"effect": "normal(0, 100)", "intercept": "normal(0, 100)"},
          "sampler": bi.SamplerSettings(draws=400, tune=400, chains=2, seed=4,
                                        progress=False)}  # fmt: skip
    # T02 as a published log odds ratio (contrast-level AD: the normal approximation of
    # its binomial likelihood, 96/300 vs 135/300, differs from the exact one by < 0.01)
    t02 = counts[counts.study == "T02"]
    logit = np.log(t02.events / (t02.n - t02.events)).to_numpy()
    var = (1 / t02.events + 1 / (t02.n - t02.events)).to_numpy()
    given = pd.DataFrame({"study": ["T02"], "treatment": [t02.treatment.iloc[1]],
                          "comparator": [t02.treatment.iloc[0]],
                          "estimate": [logit[1] - logit[0]],
                          "se": [np.sqrt(var.sum())]})  # fmt: skip
    mixed = bi.fit_network(rows[~rows.study.isin([*ad_trials, "T02"])],
                           aggregate_arms=counts[counts.study.isin(ad_trials)],
                           aggregate_contrasts=given, **kw)  # fmt: skip
    full = bi.fit_network(rows, **kw)
    a, b = mixed.to_dict(), full.to_dict()
    assert list(a) == list(b) and a["k"] == b["k"] == 9
    for t in ("B", "C", "D"):
        x, y = a["effects"][t], b["effects"][t]
        mcse = np.hypot(x["sd"] / np.sqrt(x["ess_bulk"]), y["sd"] / np.sqrt(y["ess_bulk"]))
        # the same posterior up to T02's normal approximation: within Monte Carlo error
        assert abs(x["mean"] - y["mean"]) < 4 * mcse + 0.01, t
        assert x["sd"] == pytest.approx(y["sd"], rel=0.15), t
        assert x["r_hat"] < 1.02
    # the predictive check covers the arms with arm-level data (T02's contrast has none)
    ppc = mixed.ppc()
    assert "T02" not in set(ppc.study) and len(ppc) == len(counts) - 2


# --------------------------------------------------------------------------- CLI


def test_cli_aggregate_arms_and_contrasts(tmp_path, hasselblad, capsys):
    rows_csv, arms_csv, con_csv = (tmp_path / f for f in ("r.csv", "a.csv", "c.csv"))
    hasselblad["ipd"].to_csv(rows_csv, index=False)
    hasselblad["arms"].to_csv(arms_csv, index=False)
    hasselblad["contrasts"].to_csv(con_csv, index=False)
    base = ["network", str(rows_csv), "--study", "study", "--treatment", "treatment",
            "--reference", "no_contact", "--outcome", "quit",
            "--aggregate-arms", str(arms_csv), "--aggregate-contrasts", str(con_csv)]  # fmt: skip
    assert main([*base, "--sparse", "cc", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    keys = ["route", "reference", "treatments", "k", "effects", "tau", "tau2", "league",
            "ranking", "inconsistency", "node_split", "excluded"]  # fmt: skip
    assert list(out) == keys
    assert out["k"] == 24
    est = [out["effects"][t]["estimate"] for t in ("grp_counseling", "ind_counseling", "self_help")]
    np.testing.assert_allclose(est, HASSELBLAD_R["REML"][0], atol=1e-4)
    assert main(base) == 2
    assert "error:" in capsys.readouterr().err
    bad = hasselblad["arms"].copy()
    bad.loc[bad.index[0], "events"] = 10_000
    bad.to_csv(arms_csv, index=False)
    assert main([*base, "--sparse", "cc"]) == 2
    assert "more events than participants" in capsys.readouterr().err
