"""Trials that supplied IPD vs trials that did not (bayes_ipd/responders.py, issue 28 item 5).

Reference values: R 4.x (``wilcox.test``, ``chisq.test``, metafor 3.8-1 ``rma``) on the
shipped ``bcg_hybrid_trials.csv`` (script beside each number), and in the small cases the
tests computed by hand here (all rank orders enumerated, hypergeometric tables summed).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.data import IPD
from bayes_ipd.datasets import dataset_path
from bayes_ipd.errors import SpecError
from bayes_ipd.prisma import read_flow
from bayes_ipd.responders import RESPONDER_COLUMNS, compare_responders, read_trial_characteristics

TRIALS = dataset_path("bcg_hybrid_trials.csv")


@pytest.fixture(scope="module")
def hybrid_ipd() -> IPD:
    rows = pd.read_csv(dataset_path("bcg_hybrid_ipd.csv.gz"))
    return IPD.from_frame(
        rows, study="trial", treatment="treat", outcome="event", family="binomial"
    )


@pytest.fixture(scope="module")
def bcg(hybrid_ipd):
    flow = read_flow(dataset_path("bcg_hybrid_flow.toml"), ipd=hybrid_ipd)
    return compare_responders(TRIALS, ipd=hybrid_ipd, flow=flow, pooled=-0.8)


# --- the shipped example against R ------------------------------------------------------------
# R:  d <- read.csv("bcg_hybrid_trials.csv"); d <- d[!is.na(d$year), ]; g <- d$ipd == "yes"
#     wilcox.test(d$v[g], d$v[!g])   (exact without ties, else with continuity correction)


def test_counts_by_hand(bcg):
    # nine trials in bcg_hybrid_ipd.csv.gz; four aggregate-only + two with neither (flow)
    assert (bcg.n_ipd, bcg.n_no_ipd) == (9, 6)
    assert bcg.row("Trials").supplied_ipd == "9" and bcg.row("Trials").no_ipd == "6"
    # allocation of the nine IPD trials (bcg.csv): 7 random, 2 alternate; the four AD
    # trials are the systematic ones; the two unavailable trials have no value
    assert bcg.row("alloc: random").values["count"] == (7, 0)
    assert bcg.row("alloc: alternate").values["count"] == (2, 0)
    assert bcg.row("alloc: systematic").values["count"] == (0, 4)
    assert bcg.row("alloc").missing == "0 / 2"
    assert bcg.row("alloc: random").supplied_ipd == "7 (78%)"


@pytest.mark.parametrize(
    ("name", "w", "p"),
    [
        ("year", 13, 0.4868542551),  # with continuity correction (ties: 1973 twice)
        ("participants", 10, 0.2601398601),  # exact
        ("latitude", 21.5, 0.6415915735),  # with continuity correction (ties)
        ("published effect", 9, 0.1986013986),  # exact
        ("published SE", 15, 0.7104895105),  # exact
    ],
)
def test_mann_whitney_matches_r(bcg, name, w, p):
    row = bcg.row(name)
    assert row.statistic == w
    assert row.p_value == pytest.approx(p, abs=1e-9)
    assert ("exact" in row.test) == (name in ("participants", "published effect", "published SE"))


def test_quartiles_match_r_type_7(bcg):
    # R quantile(d$year[g], c(.25, .5, .75)): 1953 1968 1973; not: 1967 1971.5 1974.5
    year = bcg.row("year").values
    assert (year["q1"], year["median"], year["q3"]) == (
        (1953, 1967),
        (1968, 1971.5),
        (1973, 1974.5),
    )
    assert bcg.row("year").supplied_ipd == "1968 [1953, 1973]"
    # participants, not: 4474.5 19803 45568.25
    people = bcg.row("participants").values
    assert people["q1"][1] == 4474.5 and people["q3"][1] == 45568.25


def test_chi_square_matches_r(bcg):
    # R: chisq.test(table(d$alloc, g), correct = FALSE): X-squared = 13, df = 2, p = 0.001503
    row = bcg.row("alloc")
    assert row.statistic == pytest.approx(13.0, abs=1e-12)
    assert row.p_value == pytest.approx(math.exp(-13 / 2), rel=1e-12)  # chi2(2) sf = exp(-x/2)
    assert row.test.startswith("Pearson chi-square") and "expected counts < 5" in row.test


def test_subgroup_difference_matches_metafor(bcg):
    # R: a <- rma(yi=estimate, sei=se, data=d[g,], method="DL"); b <- same on d[!g,]
    #    a$b, a$se: -0.900774746668 0.259957557602; b: -0.444876740745 0.318736994219
    #    rma(yi=c(a$b, b$b), sei=c(a$se, b$se), method="FE")$QE = 1.22859557552, p 0.267680339136
    row = bcg.row("published effect, pooled (DL) [95% CI]")
    assert row.values["estimate"] == pytest.approx((-0.900774746668, -0.444876740745), abs=1e-9)
    assert row.values["se"] == pytest.approx((0.259957557602, 0.318736994219), abs=1e-9)
    assert row.statistic == pytest.approx(1.22859557552, abs=1e-9)
    assert row.p_value == pytest.approx(0.267680339136, abs=1e-9)


def test_table_and_markdown(bcg):
    table = bcg.table()
    assert tuple(table.columns) == RESPONDER_COLUMNS
    assert table["characteristic"].iloc[0] == "Trials"
    text = bcg.to_markdown()
    lines = text.splitlines()
    assert lines[0].startswith(
        "| Characteristic | Supplied IPD (n = 9) | Did not supply IPD (n = 6) |"
    )
    assert lines[1] == "|---|---|---|---|---|---|"
    assert "| alloc: systematic | 0 (0%) | 4 (100%) |" in text
    assert "Mann-Whitney" in text and "Fisher" in text and str(bcg) == text


def test_input_frame_is_not_modified():
    frame = pd.read_csv(TRIALS)
    before = frame.copy()
    compare_responders(frame)
    pd.testing.assert_frame_equal(frame, before)


# --- small cases computed by hand ---------------------------------------------------------------


def _exact_two_sided_u(a, b) -> tuple[float, float]:
    """U of ``a`` and the exact two-sided p by enumerating every assignment of ranks."""
    u = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    pooled = sorted([*a, *b])
    n, m = len(a), len(b)
    centre = n * m / 2
    us = []
    for chosen in itertools.combinations(range(n + m), n):
        ranks = [i + 1 for i in chosen]
        us.append(sum(ranks) - n * (n + 1) / 2)
    assert len(pooled) == n + m
    p = sum(abs(x - centre) >= abs(u - centre) - 1e-12 for x in us) / len(us)
    return u, min(1.0, p)


def test_exact_mann_whitney_by_enumeration():
    a, b = [3.1, 7.4, 9.0, 12.5], [1.2, 2.8, 4.4, 5.0, 6.1]
    frame = pd.DataFrame({"study": list("ABCDEFGHI"), "ipd": [1] * 4 + [0] * 5, "x": a + b})
    row = compare_responders(frame).row("x")
    u, p = _exact_two_sided_u(a, b)
    assert row.statistic == u == 17
    assert row.p_value == pytest.approx(p, rel=1e-12)


def test_normal_approximation_with_ties_by_hand():
    a, b = [1, 2, 2, 3, 5], [2, 3, 3, 4]
    frame = pd.DataFrame({"study": list("ABCDEFGHI"), "ipd": [1] * 5 + [0] * 4, "x": a + b})
    row = compare_responders(frame).row("x")
    n, m = 5, 4
    u = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    ties = [3, 3]  # the value 2 three times, the value 3 three times
    big_n = n + m
    var = n * m / 12 * ((big_n + 1) - sum(t**3 - t for t in ties) / (big_n * (big_n - 1)))
    z = (abs(u - n * m / 2) - 0.5) / math.sqrt(var)
    p = math.erfc(z / math.sqrt(2))
    assert row.statistic == u and row.p_value == pytest.approx(p, rel=1e-12)
    assert row.test == "Mann-Whitney U, normal approx."


def test_fisher_exact_by_hypergeometric_sum():
    # sponsor: IPD trials 5 industry / 1 public; others 1 industry / 4 public
    frame = pd.DataFrame(
        {
            "study": [f"T{i}" for i in range(11)],
            "ipd": ["yes"] * 6 + ["no"] * 5,
            "sponsor": ["industry"] * 5 + ["public"] + ["industry"] + ["public"] * 4,
        }
    )
    row = compare_responders(frame).row("sponsor")

    # rows: industry (5, 1), public (1, 4); margins: industry 6, IPD 6, N 11
    def prob(k: int) -> float:  # P(industry & IPD = k)
        return math.comb(6, k) * math.comb(5, 6 - k) / math.comb(11, 6)

    observed = prob(5)
    p = sum(prob(k) for k in range(1, 7) if prob(k) <= observed * (1 + 1e-7))
    assert row.test == "Fisher's exact"
    assert row.p_value == pytest.approx(p, rel=1e-12)
    assert row.statistic == pytest.approx(5 * 4 / (1 * 1))  # sample odds ratio


def test_flow_toml_trial_tables(tmp_path):
    flow_text = dataset_path("bcg_flow.toml").read_text()
    flow_text += "\n".join(
        f'[[trial]]\nstudy = "S{i}"\nipd = {"true" if i < 13 else "false"}\nyear = {1950 + i}\n'
        for i in range(15)
    )
    path = tmp_path / "flow.toml"
    path.write_text(flow_text)
    flow = read_flow(path)  # the [[trial]] tables are not flow counts and are accepted
    result = compare_responders(path, flow=flow)
    assert (result.n_ipd, result.n_no_ipd) == (13, 2)
    assert result.row("year").values["median"] == (1956.0, 1963.5)
    assert len(read_trial_characteristics(path)) == 15


# --- bad input ------------------------------------------------------------------------------------


def _frame(**extra):
    base = {"study": ["A", "B", "C", "D"], "ipd": ["yes", "yes", "no", "no"]}
    return pd.DataFrame(base | extra)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"trial": ["A"], "ipd": ["yes"]}), "needs a 'study' column"),
        (_frame(study=["A", "A", "C", "D"]), "listed twice: 'A'"),
        (_frame(ipd=["yes", "maybe", "no", "no"]), "trial 'B': ipd = 'maybe' is not yes/no"),
        (_frame(ipd=["yes"] * 4), "every trial supplied IPD"),
        (_frame(estimate=[0.1, 0.2, 0.3, 0.4]), "need both 'estimate' and 'se'"),
        (_frame(estimate=[0.1, 0.2, 0.3, 0.4], se=[0.1, 0.0, 0.2, 0.2]), "trial 'B': se must be"),
        (_frame(estimate=[0.1, None, 0.3, 0.4], se=[0.1, 0.1, 0.2, 0.2]), "trial 'B': a published"),
        (_frame(estimate=["x", 0.2, 0.3, 0.4], se=[0.1, 0.1, 0.2, 0.2]), "'A': estimate is not"),
    ],
)
def test_bad_characteristics_are_refused(frame, message):
    with pytest.raises(SpecError, match=message):
        compare_responders(frame)


def test_without_ipd_column_the_data_decide():
    result = compare_responders(_frame().drop(columns="ipd"), ipd=["A", "C"])
    assert list(result.trials["ipd"]) == [True, False, True, False]
    with pytest.raises(SpecError, match="needs an 'ipd' column"):
        compare_responders(_frame().drop(columns="ipd"))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["A", "B", "E"], "in the participant data but not listed: 'E'"),
        (["A"], "marked ipd = yes without participant rows: 'B'"),
        (["A", "B", "C"], "marked ipd = no but present in the participant data: 'C'"),
    ],
)
def test_disagreement_with_the_data_names_the_trial(labels, message):
    with pytest.raises(SpecError, match=message):
        compare_responders(_frame(), ipd=labels)


def test_disagreement_with_the_flow(hybrid_ipd):
    flow = read_flow(dataset_path("bcg_hybrid_flow.toml"), ipd=hybrid_ipd)
    short = pd.read_csv(TRIALS).iloc[:-1]
    with pytest.raises(SpecError, match=r"lists 14 trial.*15 eligible trials"):
        compare_responders(short, flow=flow)
    wrong = pd.read_csv(TRIALS)
    wrong.loc[9, "ipd"] = "yes"  # Rosenthal et al 1961 had no IPD in the flow's count
    with pytest.raises(SpecError, match=r"10 trial.*ipd_obtained = 9"):
        compare_responders(wrong, flow=flow)
    fake = SimpleNamespace(identified=15, ipd_obtained=9, aggregate_trials=("Aronson 1948",))
    with pytest.raises(SpecError, match="'Aronson 1948' must be listed with ipd = no"):
        compare_responders(TRIALS, flow=fake)


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        compare_responders(tmp_path / "nope.csv")
    (tmp_path / "f.toml").write_text("[trials]\nidentified = 1\n")
    with pytest.raises(SpecError, match=r"no \[\[trial\]\] tables"):
        read_trial_characteristics(tmp_path / "f.toml")


# --- figure, spec and report ---------------------------------------------------------------


def test_funnel_figure(bcg):
    fig = bcg.plot(labels=True)
    ax = fig.axes[0]
    assert ax.yaxis_inverted()
    ipd_points, other_points = ax.collections[:2]
    assert len(ipd_points.get_offsets()) == 9 and len(other_points.get_offsets()) == 4
    assert [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "-"] == [-0.8]
    texts = {t.get_text() for t in ax.texts}
    assert "Comstock & Webster 1969" in texts and "Unavailable trial A" not in texts
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_report_trials_key_and_section(hybrid_ipd, tmp_path):
    from bayes_ipd.analysis import review_checks
    from bayes_ipd.models import resolve_spec
    from bayes_ipd.report.html import Figures, _responders
    from bayes_ipd.spec import read_analysis_spec, write_analysis_spec

    text = resolve_spec("bcg_hybrid").read_text()
    # the flow and the characteristics only (no integrity check: it fits stage one)
    text = text.replace('published = "dataset:bcg_published.csv"', "")
    text = text.replace("[report]", '[report]\ntrials = "dataset:bcg_hybrid_trials.csv"')
    (tmp_path / "hybrid.toml").write_text(text)
    spec = read_analysis_spec(tmp_path / "hybrid.toml")
    assert spec.report.trials == Path(TRIALS) and spec.report.published is None
    out = review_checks(spec, hybrid_ipd, None)
    assert out["responders"].pooled is None and out["flow"].ipd_obtained == 9
    section = _responders(SimpleNamespace(responders=out["responders"]), Figures())
    assert section.tables[0][0] == "Characteristics (bcg_hybrid_trials.csv)"
    assert len(section.figures) == 1 and section.missing is None
    empty = _responders(SimpleNamespace(responders=None), Figures())
    assert "[report] trials = FILE" in empty.missing
    write_analysis_spec(spec, tmp_path / "spec.toml")
    assert read_analysis_spec(tmp_path / "spec.toml").report.trials == Path(TRIALS)
    # the flow's [[trial]] tables serve when [report] trials is not given
    depression = read_analysis_spec(resolve_spec("depression_preparation"))
    rows = pd.read_csv(dataset_path("depression_trials.csv"))["trial"].unique()
    found = review_checks(
        depression, SimpleNamespace(studies=rows, n_per_study={}, dropped={}), None
    )
    assert found["responders"].n_ipd == 6 and found["responders"].source.endswith("flow.toml")


def test_pooled_figure_rows_stay_numeric(bcg):
    assert np.isnan(bcg.table()["p_value"].iloc[0])


def test_report_section_escapes_trial_names():
    from bayes_ipd.report.html import TEMPLATE, Figures, _responders, environment

    frame = _frame(sponsor=["<script>x</script>", "a", "b", "b"])
    section = _responders(SimpleNamespace(responders=compare_responders(frame)), Figures())
    html = environment().get_template(TEMPLATE).render(title="t", sections=[section], version="0")
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
