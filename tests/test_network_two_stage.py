"""Two-stage network meta-analysis against R metafor (two_stage/network*.py, cli/network.py).

Every reference number comes from ``tests/data/network_reference.R`` (metafor 3.8-1,
metadat; run ``Rscript tests/data/network_reference.R`` from the repository root). Its
essential lines are pasted beside the numbers. Hasselblad (1998) enters as participant
rows expanded from the arm counts of ``metadat::dat.hasselblad1998``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_ipd as bi
from bayes_ipd.cli import main
from bayes_ipd.datasets import load_hasselblad1998_rows
from bayes_ipd.errors import IPDDataError, PoolingError, SpecError
from bayes_ipd.families import REGISTRY
from bayes_ipd.two_stage.network import fit_network

TOL = 1e-4
GAUSSIAN = Path(__file__).parent / "data" / "network_gaussian.csv"
TREATMENTS = ["no_contact", "grp_counseling", "ind_counseling", "self_help"]

# R (tests/data/network_reference.R), per trial: arms in network order (reference first,
# then sorted), the trial's reference arm first; a trial with a zero-event arm gets 0.5 on
# every cell (cc) or is dropped (none):
#   l <- log(a / (n - a)); v <- 1 / a + 1 / (n - a)
#   yi <- l[-1] - l[1]; V <- matrix(v[1], m, m); diag(V) <- v[-1] + v[1]
#   res <- rma.mv(yi, V, mods = ~ grp_counseling + ind_counseling + self_help - 1,
#                 random = ~ comp | study, rho = 1/2, data = dat, method = m)
HASSELBLAD = {
    ("cc", "REML"): (
        [0.8687333471, 0.70900928, 0.3971685199],
        [0.3720731703, 0.1952505446, 0.3286392241],
        0.4502296202,
    ),
    ("cc", "ML"): (
        [0.8495418928, 0.6946360106, 0.385553186],
        [0.3503802849, 0.1820419908, 0.3069774846],
        0.3763924965,
    ),
    # rma.mv(yi, V, mods = ~ ... - 1, data = dat)   (no random effects)
    ("cc", "FE"): (
        [0.7168193144, 0.6524277907, 0.1997625049],
        [0.1879173493, 0.05895001972, 0.1259807412],
        0.0,
    ),
    ("none", "REML"): (
        [0.701257478, 0.6483195835, 0.3397540219],
        [0.3753641192, 0.1932827124, 0.3231693153],
        0.4272705295,
    ),
    ("none", "ML"): (
        [0.6968705558, 0.6402025575, 0.3338465615],
        [0.3534962422, 0.1804348574, 0.3025428539],
        0.3589949976,
    ),
    ("none", "FE"): (
        [0.6695930198, 0.646068527, 0.1918773057],
        [0.1894223288, 0.0590178658, 0.1260385041],
        0.0,
    ),
}

# fe  <- rma.mv(yi, V, mods = ~ grp_counseling + ind_counseling + self_help - 1, data = dat)
# inc <- rma.mv(yi, V, mods = ~ factor(paste(design, comp)) - 1, data = dat)
# q_total = fe$QE; q_within = inc$QE; q_between = fe$QE - inc$QE,
# df = (fe$k - fe$p) - (inc$k - inc$p); p = pchisq(q_between, df, lower.tail = FALSE)
Q_DECOMPOSITION = {
    "cc": (202.6188712, 187.3985342, 15.22033702, 7, 0.03327647245),
    "none": (196.9462022, 185.3107773, 11.63542491, 6, 0.07061407952),
}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return load_hasselblad1998_rows()


def hasselblad(rows, sparse="cc", method="REML", small_values="undesirable"):
    return fit_network(
        rows,
        study="study",
        treatment="treatment",
        reference="no_contact",
        outcome="quit",
        sparse=sparse,
        method=method,
        small_values=small_values,
    )


@pytest.mark.parametrize(("sparse", "method"), sorted(HASSELBLAD))
def test_hasselblad_equals_metafor_rma_mv(rows, sparse, method):
    estimate, se, tau2 = HASSELBLAD[(sparse, method)]
    res = hasselblad(rows, sparse, method)
    np.testing.assert_allclose(res.fit.estimate, estimate, atol=TOL)
    np.testing.assert_allclose(np.sqrt(np.diag(res.fit.covariance)), se, atol=TOL)
    assert res.fit.tau2 == pytest.approx(tau2, abs=TOL)
    assert res.k == (24 if sparse == "cc" else 22)


@pytest.mark.parametrize("sparse", ["cc", "none"])
def test_q_decomposition_equals_metafor_fixed_effect_models(rows, sparse):
    q_total, q_within, q_between, df, p = Q_DECOMPOSITION[sparse]
    got = hasselblad(rows, sparse).inconsistency
    assert got.q_total == pytest.approx(q_total, abs=TOL)
    assert got.q_within == pytest.approx(q_within, abs=TOL)
    assert got.q_between == pytest.approx(q_between, abs=TOL)
    assert got.df_between == df
    assert got.p_between == pytest.approx(p, abs=TOL)


def test_sparse_options_name_the_trials(rows):
    corrected = hasselblad(rows, "cc")
    assert corrected.stage_one.corrected == ("Rabkin et al. 1984", "Williams and Hall 1988")
    assert corrected.excluded() == []
    dropped = hasselblad(rows, "none").excluded()
    assert [e["study"] for e in dropped] == ["Rabkin et al. 1984", "Williams and Hall 1988"]
    assert "'no_contact' (0 of 33)" in dropped[0]["reason"]
    with pytest.raises(IPDDataError, match=r"Rabkin et al. 1984.*0 of 33.*--sparse"):
        hasselblad(rows, None)


def test_league_and_p_scores_equal_r(rows):
    res = hasselblad(rows)
    # d <- c(0, coef(res)); S[-1, -1] <- vcov(res)
    # d[2] - d[4]; sqrt(S[2, 2] + S[4, 4] - 2 * S[2, 4])
    cell = res.league()["grp_counseling"]["self_help"]
    assert cell["estimate"] == pytest.approx(0.4715648273, abs=TOL)
    assert cell["se"] == pytest.approx(0.4054510966, abs=TOL)
    assert cell["ci_low"] == pytest.approx(0.4715648273 - 1.959963985 * 0.4054510966, abs=TOL)
    assert res.league()["self_help"]["grp_counseling"]["estimate"] == pytest.approx(
        -cell["estimate"]
    )
    # P_i = mean_j pnorm((d_i - d_j) / se_ij)   (Ruecker & Schwarzer 2015; large desirable)
    scores = res.to_dict()["ranking"]
    np.testing.assert_allclose(
        [scores[t]["p_score"] for t in TREATMENTS],
        [0.0411131889, 0.8474079334, 0.7155240844, 0.3959547933],
        atol=TOL,
    )
    flipped = hasselblad(rows, small_values="desirable").to_dict()["ranking"]
    for t in TREATMENTS:  # the other orientation is its complement
        assert flipped[t]["p_score"] == pytest.approx(1 - scores[t]["p_score"])


def test_node_split_direct_equals_r_and_back_calculation_holds(rows):
    res = hasselblad(rows)
    split = {(s.first, s.second): s for s in res.splits}
    assert len(split) == 6  # every comparison has direct and indirect evidence
    s = split[("grp_counseling", "ind_counseling")]
    # each trial holding both: its own ind - grp contrast; rma(yi, vi, tau2 = res$tau2)
    assert s.k_direct == 4
    assert s.direct == pytest.approx(0.07542198707, abs=TOL)
    assert s.direct_se == pytest.approx(0.4083128192, abs=TOL)
    for s in split.values():  # network = inverse-variance mix of direct and indirect
        w_d, w_i = 1 / s.direct_se**2, 1 / s.indirect_se**2
        assert s.network_se**2 == pytest.approx(1 / (w_d + w_i))
        assert s.network == pytest.approx((w_d * s.direct + w_i * s.indirect) / (w_d + w_i))
        z = s.difference / math.hypot(s.direct_se, s.indirect_se)
        assert s.p == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))


def test_hksj_equals_knapp_hartung_on_a_two_arm_network(rows):
    # two-arm trials only (three-arm Cottraux 1983 and Mothersill 1988 dropped): the model
    # is a meta-regression, so metafor's Knapp-Hartung step is the reference:
    # mv <- rma.mv(yi, vi, mods = f, random = ~ comp | study, rho = 1/2, data = two)
    # kh <- rma(yi, vi, mods = f, data = two, tau2 = mv$tau2, test = "knha")
    two_arm = rows[~rows.study.isin(["Cottraux et al. 1983", "Mothersill et al. 1988"])]
    res = fit_network(
        two_arm,
        study="study",
        treatment="treatment",
        reference="no_contact",
        outcome="quit",
        sparse="cc",
        hksj=True,
    )
    assert res.fit.tau2 == pytest.approx(0.493240081, abs=TOL)
    assert res.fit.df == 19
    effects = res.effects()
    np.testing.assert_allclose(effects.estimate, [1.349964195, 0.719037912, 0.4200464257], atol=TOL)
    np.testing.assert_allclose(effects.se, [0.5392746268, 0.2208462051, 0.3874079582], atol=TOL)
    np.testing.assert_allclose(
        effects.ci_low, [0.2212494294, 0.2568014923, -0.3908077497], atol=TOL
    )
    plain = fit_network(
        two_arm,
        study="study",
        treatment="treatment",
        reference="no_contact",
        outcome="quit",
        sparse="cc",
    )
    assert plain.fit.df is None and plain.fit.scale == 1.0
    # node-splitting uses the model covariance, with or without the HKSJ factor
    assert [s.indirect for s in res.splits] == pytest.approx([s.indirect for s in plain.splits])


# per trial: lm(score ~ factor(arm, levels = arms)) -> coef(fit)[-1], vcov(fit)[-1, -1];
# then rma.mv(yi, V, mods = ~ B + C + D - 1, random = ~ comp | study, rho = 1/2, method = m)
GAUSSIAN_R = {
    "REML": (
        [-0.9403117694, -2.701552709, -1.299233333],
        [0.5183295741, 0.5669154584, 0.6356789564],
        0.5355760165,
    ),
    "ML": (
        [-0.9473954073, -2.675191084, -1.281065436],
        [0.4245317196, 0.4838942676, 0.5303588266],
        0.1694007735,
    ),
    "FE": (
        [-0.9530762209, -2.65336281, -1.266233696],
        [0.3720428821, 0.4398119377, 0.4728477195],
        0.0,
    ),
}


@pytest.mark.parametrize("method", sorted(GAUSSIAN_R))
def test_gaussian_network_equals_lm_then_rma_mv(method):
    estimate, se, tau2 = GAUSSIAN_R[method]
    res = bi.fit_network(
        pd.read_csv(GAUSSIAN),
        study="trial",
        treatment="arm",
        reference="A",
        family="gaussian",
        outcome="score",
        method=method,
    )
    np.testing.assert_allclose(res.fit.estimate, estimate, atol=TOL)
    np.testing.assert_allclose(np.sqrt(np.diag(res.fit.covariance)), se, atol=TOL)
    assert res.fit.tau2 == pytest.approx(tau2, abs=TOL)
    # Q total 13.88595682, within 5.454982926, between 8.430973896 on 6 df, p 0.208197963
    q = res.inconsistency
    assert (q.q_total, q.q_within, q.q_between) == pytest.approx(
        (13.88595682, 5.454982926, 8.430973896), abs=TOL
    )
    assert q.df_between == 6 and q.p_between == pytest.approx(0.208197963, abs=TOL)


SURVIVAL = Path(__file__).parent / "data" / "network_survival.csv"


@pytest.mark.parametrize("method", ["REML", "FE"])
def test_survival_network_equals_coxph_then_rma_mv(method):
    # per trial: coxph(Surv(months, died) ~ factor(arm, levels = arms), ties = "efron");
    # then rma.mv as above (REML tau2 1.5e-10: the boundary, so REML equals FE here)
    res = fit_network(
        pd.read_csv(SURVIVAL),
        study="trial",
        treatment="arm",
        reference="P",
        family="survival",
        time="months",
        event="died",
        method=method,
    )
    np.testing.assert_allclose(
        res.fit.estimate, [-0.5612706785, -0.4708906186, -0.165909587], atol=TOL
    )
    np.testing.assert_allclose(
        np.sqrt(np.diag(res.fit.covariance)), [0.1645608426, 0.1854205496, 0.1873603104], atol=TOL
    )
    assert res.fit.tau2 == pytest.approx(0.0, abs=TOL)
    # Q total 8.362484893, within 2.926010766, between 5.436474127 on 6 df, p 0.4891676775
    q = res.inconsistency
    assert (q.q_total, q.q_within, q.q_between, q.df_between) == pytest.approx(
        (8.362484893, 2.926010766, 5.436474127, 6), abs=TOL
    )


COUNTS = Path(__file__).parent / "data" / "network_counts.csv"

# per trial: glm(attacks ~ factor(arm, levels = arms) + offset(log(years)), poisson,
#                control = glm.control(epsilon = 1e-12)); then rma.mv as above
COUNTS_R = {
    "REML": ([0.005791486385, -0.626757414], [0.2108030149, 0.2405874203], 0.1165916512),
    "ML": ([0.01316518242, -0.6129394985], [0.1824125071, 0.2097632241], 0.06583393803),
    "FE": ([0.03710627499, -0.5738102198], [0.1354286261, 0.1588066393], 0.0),
}


@pytest.mark.parametrize("method", sorted(COUNTS_R))
def test_poisson_network_equals_glm_then_rma_mv(method):
    estimate, se, tau2 = COUNTS_R[method]
    res = fit_network(
        pd.read_csv(COUNTS),
        study="trial",
        treatment="arm",
        reference="P",
        family="poisson",
        outcome="attacks",
        time="years",
        method=method,
    )
    np.testing.assert_allclose(res.fit.estimate, estimate, atol=TOL)
    np.testing.assert_allclose(np.sqrt(np.diag(res.fit.covariance)), se, atol=TOL)
    assert res.fit.tau2 == pytest.approx(tau2, abs=TOL)
    # Q total 13.41227706, within 6.922840592, between 6.489436469 on 3 df
    q = res.inconsistency
    assert (q.q_total, q.q_within, q.q_between, q.df_between) == pytest.approx(
        (13.41227706, 6.922840592, 6.489436469, 3), abs=TOL
    )


def test_survival_arm_without_events_refused_or_excluded():
    data = pd.read_csv(SURVIVAL)
    data.loc[(data.trial == "S2") & (data.arm == "X"), "died"] = 0
    kwargs = dict(
        study="trial",
        treatment="arm",
        reference="P",
        family="survival",
        time="months",
        event="died",
    )
    with pytest.raises(IPDDataError, match="trial 'S2' arm 'X'"):
        fit_network(data, **kwargs)
    for sparse in ("none", "cc"):
        res = fit_network(data, sparse=sparse, **kwargs)
        assert [e["study"] for e in res.excluded()] == ["S2"]
        assert "no continuity correction applies" in res.excluded()[0]["reason"]


def test_row_order_and_input_untouched(rows):
    before = rows.copy()
    first = hasselblad(rows)
    shuffled = hasselblad(rows.sample(frac=1.0, random_state=7))
    np.testing.assert_allclose(shuffled.fit.estimate, first.fit.estimate, rtol=1e-9)
    pd.testing.assert_frame_equal(rows, before)


def test_unsupported_family_method_and_orientation_refused(monkeypatch):
    data = pd.read_csv(GAUSSIAN).assign(count=1)
    # every family now has a network stage one: refusal shown on one with the hook removed
    without = dataclasses.replace(REGISTRY["negative_binomial"], network_contrasts=None)
    monkeypatch.setitem(REGISTRY, "negative_binomial", without)
    with pytest.raises(IPDDataError, match="supports the families binomial, gaussian"):
        fit_network(
            data,
            study="trial",
            treatment="arm",
            reference="A",
            family="negative_binomial",
            outcome="count",
        )
    with pytest.raises(PoolingError, match="method 'DL'"):
        fit_network(
            data,
            study="trial",
            treatment="arm",
            reference="A",
            family="gaussian",
            outcome="score",
            method="DL",
        )
    with pytest.raises(SpecError, match="small_values"):
        fit_network(
            data,
            study="trial",
            treatment="arm",
            reference="A",
            family="gaussian",
            outcome="score",
            small_values="low",
        )


def test_exclusion_that_disconnects_the_network_is_refused():
    rows = pd.DataFrame(
        [("T1", "A", 0)] * 5
        + [("T1", "B", 0)] * 5  # no events in either arm
        + [("T2", "A", 1), ("T2", "A", 0), ("T2", "C", 1), ("T2", "C", 0)],
        columns=["s", "t", "y"],
    )
    with pytest.raises(IPDDataError, match=r"after excluding trial\(s\) 'T1'.*disconnected"):
        fit_network(rows, study="s", treatment="t", reference="A", outcome="y", sparse="cc")


# ---------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def rows_csv(tmp_path_factory, rows) -> str:
    path = tmp_path_factory.mktemp("network") / "hasselblad.csv"
    rows.to_csv(path, index=False)
    return str(path)


BASE = [
    "--study",
    "study",
    "--treatment",
    "treatment",
    "--reference",
    "no_contact",
    "--outcome",
    "quit",
]


def test_cli_json_contract(rows_csv, capsys, tmp_path):
    plot = tmp_path / "network.png"
    argv = [
        "network",
        rows_csv,
        *BASE,
        "--sparse",
        "cc",
        "--small-values",
        "undesirable",
        "--plot",
        str(plot),
        "--json",
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == [
        "route",
        "reference",
        "treatments",
        "k",
        "effects",
        "tau",
        "tau2",
        "league",
        "ranking",
        "inconsistency",
        "node_split",
        "excluded",
    ]
    assert out["route"] == "two-stage" and out["treatments"] == TREATMENTS and out["k"] == 24
    assert set(out["effects"]) == set(TREATMENTS[1:])
    assert list(out["effects"]["self_help"]) == ["estimate", "se", "ci_low", "ci_high"]
    assert out["effects"]["self_help"]["estimate"] == pytest.approx(0.3971685199, abs=TOL)
    assert out["tau2"] == pytest.approx(0.4502296202, abs=TOL)
    assert out["tau"] == pytest.approx(math.sqrt(0.4502296202), abs=TOL)
    assert list(out["league"]["no_contact"]["self_help"]) == ["estimate", "se", "ci_low", "ci_high"]
    assert list(out["ranking"]["self_help"]) == ["p_score"]
    assert list(out["inconsistency"]) == [
        "q_total",
        "q_within",
        "q_between",
        "df_between",
        "p_between",
    ]
    assert list(out["node_split"][0]) == ["comparison", "direct", "indirect", "difference", "p"]
    assert out["node_split"][0]["comparison"] == "grp_counseling vs no_contact"
    assert out["excluded"] == []
    assert plot.stat().st_size > 10_000


def test_cli_sparse_none_lists_excluded(rows_csv, capsys):
    assert main(["network", rows_csv, *BASE, "--sparse", "none", "--method", "fe", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["k"] == 22 and [e["study"] for e in out["excluded"]] == [
        "Rabkin et al. 1984",
        "Williams and Hall 1988",
    ]
    assert out["effects"]["grp_counseling"]["estimate"] == pytest.approx(0.6695930198, abs=TOL)


def test_cli_readable_report(rows_csv, capsys):
    assert main(["network", rows_csv, *BASE, "--sparse", "cc"]) == 0
    text = capsys.readouterr().out
    assert "designs: no_contact:ind_counseling (14)" in text
    assert "tau^2 = 0.4502" in text and "between designs 15.220 (df 7" in text


def _bad_file(tmp_path: Path, name: str, designs: dict) -> str:
    frame = pd.DataFrame(
        [(s, t, y) for s, arms in designs.items() for t in arms for y in (0, 1)],
        columns=["study", "treatment", "quit"],
    )
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    ("name", "designs", "extra", "words"),
    [
        ("one_arm", {"T1": ("A", "B"), "T2": ("A",)}, [], "'T2' (only 'A')"),
        ("disconnected", {"T1": ("A", "B"), "T2": ("C", "D")}, [], "network is disconnected"),
        ("unknown_ref", {"T1": ("A", "B")}, ["--reference", "X"], "reference 'X'"),
    ],
)
def test_cli_bad_input_exit_2(tmp_path, capsys, name, designs, extra, words):
    path = _bad_file(tmp_path, name, designs)
    argv = [
        "network",
        path,
        "--study",
        "study",
        "--treatment",
        "treatment",
        "--reference",
        "A",
        "--outcome",
        "quit",
        *extra,
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and words in err


def test_cli_zero_event_arm_without_sparse_exit_2(rows_csv, capsys):
    assert main(["network", rows_csv, *BASE]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "'Rabkin et al. 1984' arm 'no_contact'" in err


def test_cli_survival(capsys):
    argv = [
        "network",
        str(SURVIVAL),
        "--study",
        "trial",
        "--treatment",
        "arm",
        "--reference",
        "P",
        "--family",
        "survival",
        "--time",
        "months",
        "--event",
        "died",
        "--json",
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["effects"]["X"]["estimate"] == pytest.approx(-0.5612706785, abs=TOL)


def test_cli_poisson_exposure(capsys):
    argv = [
        "network",
        str(COUNTS),
        "--study",
        "trial",
        "--treatment",
        "arm",
        "--reference",
        "P",
        "--family",
        "poisson",
        "--outcome",
        "attacks",
        "--exposure",
        "years",
        "--json",
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["effects"]["Y"]["estimate"] == pytest.approx(-0.626757414, abs=TOL)


def test_cli_one_stage_route_refuses_two_stage_options(rows_csv, capsys):
    # the one-stage route is built (tests/test_network_one_stage.py); --sparse is two-stage
    assert main(["network", rows_csv, *BASE, "--route", "one-stage", "--sparse", "cc"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "--sparse" in err and "two-stage options" in err
