"""Issue 29 ("first contact, round three"), item 9: the HTML report as a document.

The pieces are tested without a fit: the cell and header rules, the software and date
lines, the diagnostics labels, the plan's survival-only keys, the trace and rank plot, the
CSS for a 1280 px screen and for print. A full report is rendered in tests/test_report.py
(test_report_reads_as_a_document) and, where a browser is installed, screenshot at 1280 px
and printed to PDF here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from bayes_ipd.report.cells import MISSING, frame_cells, readable_header
from bayes_ipd.report.html import TEMPLATE, Section, Table, environment
from bayes_ipd.report.meta import diagnostic_rows, run_date, software_versions

EVIL = "<script>alert('x')</script>"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_tables_have_no_index_column_and_readable_headers():
    frame = pd.DataFrame(
        {"estimate": [-0.88], "ci_low": [-1.2], "ci_high": [-0.5], "p_lt_0": [1.0]}
    )
    headers, _rows = frame_cells(frame)
    assert headers == ("Estimate", "CI low", "CI high", "P(< 0)")
    assert "index" not in [h.lower() for h in headers]
    assert readable_header("two_stage_estimate") == "Two-stage estimate"
    assert readable_header("ess_bulk") == "ESS bulk" and readable_header("r_hat") == "R-hat"
    assert readable_header("exp_median") == "exp(median)"
    assert readable_header("exp_ci_low") == "exp(CI low)"
    assert all("_" not in readable_header(c) for c in ("k_ad", "pi_high", "one_stage_low"))


def test_named_index_kept_and_unnamed_index_has_empty_header():
    frame = pd.DataFrame({"median": [0.1, 0.2]}, index=["effect", "tau"])
    headers, rows = frame_cells(frame)
    assert headers == ("", "Median") and rows[0][0] == "effect"


def test_cells_missing_fixed_decimals_and_probability_bounds():
    frame = pd.DataFrame(
        {
            "estimate": [-1.409e-07, 0.53219, np.nan],
            "p_lt_0": [1.0, 0.0, 0.8728],
            "note": [None, pd.NA, "x"],
            "n": [357347.0, 12.0, 5.0],
            "r_hat": [1.0, 1.0123, 1.0],
        }
    )
    _headers, rows = frame_cells(frame)
    text = " ".join(c for row in rows for c in row)
    assert "e-0" not in text and "<NA>" not in text and "nan" not in text.lower()
    columns = list(zip(*rows, strict=True))
    assert columns[0] == ("0.000", "0.532", MISSING)  # one number of decimals per column
    assert columns[1] == (">0.999", "<0.001", "0.873")
    assert columns[2] == (MISSING, MISSING, "x")
    assert columns[3] == ("357,347", "12", "5")
    assert columns[4] == ("1.000", "1.012", "1.000")


def test_software_versions_and_run_date():
    names = [n for n, _ in software_versions()]
    assert names == ["python", "bayes_ipd", "pymc", "nutpie", "arviz", "numpy"]
    assert run_date(datetime(2026, 12, 7, 8, 45, tzinfo=UTC)) == "2026-12-07 08:45 UTC"


def test_diagnostics_say_where_the_compiled_model_came_from():
    d = {
        "backend": "nutpie",
        "r_hat_max": 1.0042,
        "reused_compiled": False,
        "compiled_from": "disk",
        "warnings": [],
    }
    rows = dict(diagnostic_rows(d))
    assert "reused_compiled" not in rows and "compiled_from" not in rows
    assert rows["Compiled model"].startswith("loaded from the disk cache")
    assert rows["Largest R-hat"] == "1.004" and rows["Warnings"] == MISSING


def test_trace_rank_plot_draws_every_chain():
    from bayes_ipd.plots.trace import trace_rank_plot

    rng = np.random.default_rng(3)
    fig = trace_rank_plot({"mu": rng.normal(size=(2, 100)), "tau": rng.gamma(2, size=(2, 100))})
    assert plt.fignum_exists(fig.number)
    traces = [a for a in fig.findobj() if a.get_gid() == "trace"]
    ranks = [a for a in fig.findobj() if a.get_gid() == "rank"]
    assert len(traces) == 4 and len(ranks) == 4
    with pytest.raises(ValueError, match="'tau'"):
        trace_rank_plot({"tau": np.array([1.0, np.nan])})


def _render(sections, **extra) -> str:
    return environment().get_template(TEMPLATE).render(sections=sections, **extra)


def test_template_wraps_tables_for_1280px_and_print_and_escapes():
    table = Table((EVIL, "b"), ((EVIL, "1.000"),))
    section = Section(id="plan", title=EVIL, tables=((EVIL, table),))
    html = _render(
        [section],
        title=EVIL,
        version="0",
        written="2026-12-07 08:45 UTC",
        software=(("python", "3.12"), ("pymc", EVIL)),
    )
    assert EVIL not in html and "<script>" not in html
    assert '<div class="table-wrap"><table>' in html
    css = html[html.index("<style>") : html.index("</style>")]
    wrap = re.search(r"\.table-wrap \{([^}]*)\}", css).group(1)
    assert "max-width: 100%" in wrap and "overflow-x: auto" in wrap
    assert "@media print" in css and "break-inside: avoid" in css
    assert "on 2026-12-07 08:45 UTC" in html and "python 3.12" in html


def _chromium() -> str | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.skipif(_chromium() is None, reason="no headless chromium installed")
def test_wide_table_does_not_scroll_the_page_at_1280px_nor_cut_in_print(tmp_path):
    """A 30-column table: the page is no wider than the window; the PDF is written."""
    wide = Table(tuple(f"Column {i}" for i in range(30)), (tuple("-0.1234" for _ in range(30)),))
    html = _render([Section(id="plan", title="Wide", tables=(("", wide),))], title="t", version="0")
    probe = html.replace(
        "</body>",
        '<p id="w"></p><script>document.getElementById("w").textContent = '
        "String(document.documentElement.scrollWidth)</script></body>",
    )
    page = tmp_path / "r.html"
    page.write_text(probe, encoding="utf-8")
    args = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1280,900",
        # no network here: Chromium's background connections would only be refused
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [*args, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    width = int(re.search(r'<p id="w">(\d+)</p>', dom.stdout).group(1))
    assert width <= 1280
    pdf = tmp_path / "r.pdf"
    done = subprocess.run(
        [*args, f"--print-to-pdf={pdf}", page.as_uri()], capture_output=True, timeout=120
    )
    assert done.returncode == 0 and pdf.read_bytes().startswith(b"%PDF")
    png = tmp_path / "r.png"
    subprocess.run([*args, f"--screenshot={png}", page.as_uri()], capture_output=True, timeout=120)
    assert Path(png).exists()
