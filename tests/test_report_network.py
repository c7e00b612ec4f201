"""The HTML report of a network spec (``bayes-ipd run SPEC --report FILE``; issue 25,
items 6 and 7): the network section through the autoescaping jinja2 report.

What is checked: the file is written and holds every section of ``NETWORK_SECTIONS``, the
tables a reviewer copies (league, P-scores, SUCRA, Q decomposition, node-splits, a new
trial, arms and designs, the PRISMA-IPD flow) with the numbers of the results they come
from, and every user text escaped: a treatment named ``<script>alert(1)</script>`` and a
trial named ``<b>T01</b>`` stay text. MCMC tiny (2 x 100 draws): no value is asserted
beyond "the report shows the number the result holds".
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.analysis import run_analysis
from bayes_ipd.cli import main
from bayes_ipd.report.network import NETWORK_SECTIONS, render_network_report
from bayes_ipd.spec import read_analysis_spec

DATA = Path(__file__).parent / "data"
EVIL = "<script>alert(1)</script>"
EVIL_TRIAL = "<b>T01</b>"

SPEC = """
[data]
path = "{rows}"
study = "study"
treatment = "treatment"
reference = "A"
outcome = "y"
family = "binomial"

[network]
route = "{route}"
small_values = "undesirable"

[sampler]
draws = 100
tune = 100
chains = 2
seed = 5

[report]
flow = "{flow}"
"""

FLOW = """
[trials]
identified = 11
ipd_sought = 10
ipd_obtained = 9
aggregate_only = 0
neither = 1

[not_obtained]
"data destroyed" = 1
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """tests/data/network_binary_fe.csv as participant rows, treatment D renamed to a
    script tag and trial T01 to a bold tag; a flow file."""
    folder = tmp_path_factory.mktemp("report")
    arms = pd.read_csv(DATA / "network_binary_fe.csv")
    arms["treatment"] = arms.treatment.replace({"D": EVIL})
    arms["study"] = arms.study.replace({"T01": EVIL_TRIAL})
    parts = [
        pd.DataFrame({"study": r.study, "treatment": r.treatment,
                      "y": np.r_[np.ones(r.events), np.zeros(r.n - r.events)].astype(int)})
        for r in arms.itertuples()
    ]  # fmt: skip
    pd.concat(parts, ignore_index=True).to_csv(folder / "rows.csv", index=False)
    (folder / "flow.toml").write_text(FLOW, encoding="utf-8")
    return folder


def _spec(folder: Path, route: str) -> Path:
    path = folder / f"spec_{route}.toml"
    text = SPEC.format(rows=folder / "rows.csv", route=route, flow=folder / "flow.toml")
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def both(folder):
    """The run of ``run SPEC --report FILE --json`` on both routes, and its analysis."""
    report = folder / "report.html"
    spec = _spec(folder, "both")
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["run", str(spec), "--report", str(report), "--json"]) == 0
    analysis = run_analysis(read_analysis_spec(spec), progress=False)
    return json.loads(out.getvalue()), report.read_text(encoding="utf-8"), analysis


def _tables(text: str) -> list[str]:
    return re.findall(r"<table>.*?</table>", text, re.S)


def _cells(table: str) -> list[str]:
    return [html.unescape(c) for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", table, re.S)]


def test_run_report_writes_every_network_section(both, folder):
    doc, text, _ = both
    assert doc["report"] == str(folder / "report.html")
    assert text.startswith("<!DOCTYPE html>")
    for sid, title in NETWORK_SECTIONS:
        assert f'<section id="{sid}">' in text and f"<h2>{title}</h2>" in text
    assert text.count("data:image/png;base64,") >= 6  # flow, graph, forest, rankogram, PPC, trace


def test_user_text_is_escaped(both):
    _, text, _ = both
    assert EVIL not in text and "<b>T01" not in text
    assert html.escape(EVIL) in text and html.escape(EVIL_TRIAL) in text
    assert "<script" not in text.lower()


def test_league_tables_are_the_results_league(both):
    _, text, analysis = both
    two, one = analysis.two_stage, analysis.one_stage
    tables = _tables(text)
    for league in (two.league_table(), one.league_table()):
        expected = [str(c) for row in league.to_numpy() for c in row]
        assert any(all(c in _cells(t) for c in expected) for t in tables)
    cell = two.league_table().loc["B", "A"]  # B vs A: estimate (95% CI)
    assert html.escape(cell) in text


def test_ranking_inconsistency_and_prediction_tables(both):
    _, text, analysis = both
    two, one = analysis.two_stage, analysis.one_stage
    cells = [c for t in _tables(text) for c in _cells(t)]
    for treatment, score in two.ranking().p_score.items():
        assert f"{score:.3f}" in cells and treatment in cells
    for score in one.ranking().sucra:
        assert f"{score:.3f}" in cells
    q = two.inconsistency
    assert "between designs" in cells and f"{q.q_between:.3f}" in cells
    splits = two.node_split_table()
    assert len(splits) and all(c in cells for c in splits.comparison)
    pred = two.prediction()
    assert f"{pred.loc['B', 'pi_low']:.3f}" in cells and "PI low" in cells
    assert "Participants per arm" in text and "A:B:C" in cells
    assert "data destroyed" in text  # the PRISMA-IPD flow table
    assert "Divergent transitions" in cells


def test_a_two_stage_only_report_says_what_is_not_fitted(folder):
    analysis = run_analysis(read_analysis_spec(_spec(folder, "two-stage")))
    text = render_network_report(analysis)
    assert '<section id="ppc">' in text and "One-stage route not fitted." in text
    assert "P-scores" in text and "SUCRA" not in text
    assert html.escape(EVIL) in text and EVIL not in text


def test_report_path_may_not_be_an_input(folder, capsys):
    spec = _spec(folder, "two-stage")
    assert main(["run", str(spec), "--report", str(folder / "rows.csv")]) == 2
    assert "input file" in capsys.readouterr().err


def test_other_report_keys_are_refused_for_a_network(folder, tmp_path, capsys):
    text = _spec(folder, "two-stage").read_text() + 'published = "pub.csv"\n'
    spec = tmp_path / "spec.toml"
    spec.write_text(text, encoding="utf-8")
    assert main(["run", str(spec)]) == 2
    assert "report.published" in capsys.readouterr().err
