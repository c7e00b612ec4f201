"""The HTML report (bayes_ipd/report/) and the hybrid table (bayes_ipd/hybrid.py).

One small hybrid fit (4 simulated gaussian trials with rows + 4 published estimates, one
of them labelled ``<script>...``) feeds every test; the fit has the structure of
tests/test_one_stage_ad.py's hybrid fit, so a compiled model is reused when both run.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_ipd as bi
from bayes_ipd.analysis import AnalysisResult
from bayes_ipd.hybrid import COLUMNS
from bayes_ipd.one_stage.aggregate_trials import AggregateTrials
from bayes_ipd.report import SECTIONS, hybrid_comparison, render_report, write_report
from bayes_ipd.spec import AnalysisSpec, DataSection, ReportSettings
from bayes_ipd.two_stage import two_stage

EVIL = "<script>alert('x')</script>"
PRIORS = {"effect": "normal(0, 50)", "tau": "half_cauchy(25)"}
# non-centred throughout: every AD-only fit then has one graph (one compile)
SPEC = bi.ModelSpec(family="gaussian", priors=PRIORS, parameterisation="noncentred")
SAMPLER = bi.SamplerSettings(draws=300, tune=300, chains=2, seed=20240601, progress=False)


def _simulate(seed: int = 11, k: int = 8, n: int = 100, mu: float = 10.0, tau: float = 5.0):
    """As tests/test_one_stage_ad.py: k trials, n per arm, outcome SD 40."""
    rng = np.random.default_rng(seed)
    frames, est, se = [], [], []
    for i in range(k):
        theta = mu + tau * rng.standard_normal()
        treat = np.repeat([0, 1], n)
        y = 100 + 10 * rng.standard_normal() + theta * treat + 40 * rng.standard_normal(2 * n)
        frames.append(pd.DataFrame({"trial": f"S{i + 1:02d}", "treat": treat, "y": y}))
        y0, y1 = y[treat == 0], y[treat == 1]
        pooled = math.sqrt((y0.var(ddof=1) + y1.var(ddof=1)) / 2)
        est.append(y1.mean() - y0.mean())
        se.append(pooled * math.sqrt(2 / n))
    return pd.concat(frames, ignore_index=True), np.array(est), np.array(se)


def _flow(ipd, two):
    """The other engineer's PRISMA flow, when this checkout has it."""
    try:
        from bayes_ipd.prisma import flow_from_counts
    except ImportError:
        return None
    counts = {
        "trials": {
            "identified": 9,
            "ipd_sought": 9,
            "ipd_obtained": 4,
            "aggregate_only": 4,
            "neither": 1,
        },
        "not_obtained": {"no reply": 5},
    }
    return flow_from_counts(counts, ipd=ipd, two_stage=two)


@pytest.fixture(scope="module")
def result() -> AnalysisResult:
    rows, est, se = _simulate()
    ipd_rows = rows[rows["trial"].isin(["S01", "S02", "S03", "S04"])]
    ipd = bi.IPD.from_frame(
        ipd_rows, study="trial", treatment="treat", outcome="y", family="gaussian"
    )
    labels = ("S05", "S06", EVIL, "S08")
    ad = AggregateTrials(labels, est[4:], se[4:])
    one = bi.fit([ipd, ad], SPEC, SAMPLER)
    agg = bi.AggregateData(labels, est[4:], se[4:], scale="MD")
    two_ipd = two_stage(ipd, method="REML")
    two_full = two_stage(ipd, method="REML", aggregate=agg)
    data = DataSection(
        path=Path("rows.csv"),
        summaries=(),
        study="trial",
        treatment="treat",
        outcome="y",
        time=None,
        event=None,
        family="gaussian",
        aggregate=Path("published.csv"),
    )
    spec = AnalysisSpec(data=data, model=SPEC, sampler=SAMPLER, report=ReportSettings())
    return AnalysisResult(
        spec=spec,
        one_stage=one,
        two_stage=two_full,
        comparison=None,
        two_stage_ipd=two_ipd,
        hybrid=hybrid_comparison(one, None, two_full, two_ipd),
        flow=_flow(ipd, two_full),
    )


@pytest.fixture(scope="module")
def html(result) -> str:
    return render_report(result)


class _Collector(HTMLParser):
    """Section ids, images, scripts and the text of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[str] = []
        self.scripts = 0
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id", ""))
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        self.text.append(data)


def _parse(html: str) -> _Collector:
    parser = _Collector()
    parser.feed(html)
    parser.close()
    return parser


def test_report_parses_and_holds_every_section(result, tmp_path):
    path = write_report(result, tmp_path / "report.html")
    doc = _parse(path.read_text(encoding="utf-8"))
    assert doc.sections == [sid for sid, _ in SECTIONS]
    text = "".join(doc.text)
    for _, heading in SECTIONS:
        assert heading in text
    # both routes, the hybrid table, priors in use
    assert "Posterior summary" in text and "Per trial and pooled" in text
    assert "IPD + AD" in text and "IPD only" in text
    assert "effect (mu) ~ normal(0, 50)" in text and "half_cauchy(25)" in text


def test_figures_are_embedded_as_png(html):
    doc = _parse(html)
    assert len(doc.images) >= 4  # two-stage forest, hybrid forest, PPC, tau
    assert all(src.startswith("data:image/png;base64,") for src in doc.images)
    assert not any(src.startswith(("http", "file:", "/")) for src in doc.images)


def test_a_trial_named_script_stays_text(html):
    doc = _parse(html)
    assert doc.scripts == 0
    assert EVIL not in html
    assert "&lt;script&gt;" in html
    assert EVIL in "".join(doc.text)  # shown, as text


def test_flow_section_when_the_flow_module_exists(result, html):
    text = "".join(_parse(html).text)
    if result.flow is None:
        assert "No flow counts given" in text
    else:
        assert "No flow counts given" not in text and "no reply" in text


def test_missing_inputs_are_said_not_hidden(html):
    text = "".join(_parse(html).text)
    assert "No published results given" in text  # integrity not configured
    assert "Needs both routes on the same trials" in text  # no comparison in this result


def test_hybrid_table_marks_ad_trials(result):
    hybrid = result.hybrid
    table = hybrid.table()
    assert tuple(table.columns) == COLUMNS
    assert list(zip(table["route"], table["data"], strict=True)) == [
        ("one-stage", "IPD + AD"),
        ("two-stage", "IPD only"),
        ("two-stage", "IPD + AD"),
    ]
    assert list(table["k_ad"]) == [4, 0, 4]
    marks = {label: data for label, data, *_ in hybrid.trials}
    assert marks["S01"] == "IPD" and marks[EVIL] == "AD only"
    assert hybrid.to_dict()["ad_only_trials"] == ["S05", "S06", EVIL, "S08"]
    # the two-stage IPD + AD row is the pooled result it was built from
    p = result.two_stage.pooled
    assert table.iloc[2]["estimate"] == p.estimate and table.iloc[2]["tau"] == math.sqrt(p.tau2)


def test_template_escapes_every_user_text():
    """No fit needed: a section whose every text field holds markup renders it as text."""
    from bayes_ipd.report.html import TEMPLATE, Section, Table, environment

    section = Section(
        id="plan",
        title=EVIL,
        paragraphs=(EVIL,),
        blocks=(EVIL,),
        tables=((EVIL, Table((EVIL,), ((EVIL,),))),),
        figures=((EVIL, "data:image/png;base64,AAAA"),),
        missing=EVIL,
    )
    html = environment().get_template(TEMPLATE).render(title=EVIL, sections=[section], version="0")
    doc = _parse(html)
    assert doc.scripts == 0 and EVIL not in html
    assert "".join(doc.text).count(EVIL) >= 7


def test_templates_ship_with_the_package():
    template = resources.files("bayes_ipd.report").joinpath("templates/report.html.j2")
    assert template.is_file()


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.skipif(_browser() is None, reason="no headless chromium installed")
def test_report_renders_in_headless_chromium(result, tmp_path):
    path = write_report(result, tmp_path / "report.html")
    proc = subprocess.run(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = _parse(proc.stdout)
    assert doc.sections == [sid for sid, _ in SECTIONS]
    assert doc.scripts == 0


def test_hybrid_comparison_is_like_with_like_and_labelled(result):
    """Issue 29, item 2: a hybrid run's one- vs two-stage comparison uses the same trials
    in both routes, and every table and figure says which (IPD only / IPD + AD, k)."""
    from bayes_ipd.compare import compare
    from bayes_ipd.errors import PoolingError

    both = compare(result.one_stage, result.two_stage)
    assert both.data == "IPD + AD" and both.k == 8
    assert both.trials_label in repr(both)
    ad_rows = both.table[both.table["row"].isin(["S05", "S06", EVIL, "S08"])]
    assert len(ad_rows) == 4 and ad_rows["one_stage_estimate"].notna().all()
    with pytest.raises(PoolingError, match="aggregate-data trials"):
        compare(result.one_stage, result.two_stage_ipd)
    hybrid = result.hybrid
    assert "Trials: IPD only: 4 trials; IPD + AD: 8 trials (4 AD only)" in repr(hybrid)
    labels = [r.label for r in hybrid.rows]
    assert labels[0] == "One-stage, IPD + AD (k = 8)" and "Two-stage, IPD only (k = 4)" in labels
    fig = hybrid.plot()
    shown = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    assert hybrid.trials_line() in shown and "Two-stage, IPD only (k = 4)" in shown


def test_report_reads_as_a_document(html):
    """Issue 29, item 9: headers in words, no index column, no <NA> or e-notation, p
    bounds, run date and software versions, trace/rank plots, labelled diagnostics, no
    survival-only key for a gaussian spec."""
    import re

    doc = _parse(html)
    headers = re.findall(r"<th>(.*?)</th>", html)
    assert "index" not in headers and not any("_" in h for h in headers), headers
    cells = re.findall(r"<td>(.*?)</td>", html)
    assert not any(re.search(r"\d[eE][+-]\d", c) for c in cells)
    assert "&lt;NA&gt;" not in html and "<NA>" not in html and "nan" not in cells
    text = "".join(doc.text)
    for name in ("python", "bayes_ipd", "pymc", "nutpie", "arviz", "numpy"):
        assert re.search(rf"\b{name} [\w.+]+", text), name
    assert re.search(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC", text)
    assert "Trace and rank plots of mu and tau" in text
    assert "reused_compiled" not in text and "compiled_from" not in text
    assert "Compiled model" in text
    assert "model.intervals" not in text
    assert "Trials: IPD only: 4 trials; IPD + AD: 8 trials (4 AD only)" in text


def test_every_table_and_figure_of_a_hybrid_report_names_its_trials(html):
    """Issue 29, item 2: IPD only / IPD + AD and k on the one- and two-stage tables and
    the forest plots of a hybrid report."""
    text = "".join(_parse(html).text)
    assert "Posterior summary (trials: IPD + AD, k = 8 (4 AD only))" in text
    assert "Per trial and pooled (trials pooled: IPD + AD, k = 8 (4 AD only))" in text
    assert "Two-stage forest plot (trials pooled: IPD + AD, k = 8 (4 AD only))" in text
    from bayes_ipd.hybrid import trials_text

    assert trials_text(9, 0) == "IPD only, k = 9" and trials_text(4, 4) == "AD only, k = 4"


def test_rendering_the_report_leaves_no_figure_open(result):
    """Issue 29, item 6: the package's figures are pyplot's, so the report closes what it
    draws."""
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    render_report(result)
    assert set(plt.get_fignums()) == before
