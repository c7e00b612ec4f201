"""Figures display as matplotlib users expect (issue 29, item 6).

Every public plot path makes its figure through pyplot (bayes_ipd/plots/figure.py), so
``fig.show()`` works, ``plt.show()`` shows it and a notebook cell displays it; the
package's own writers (save_figure, png_bytes) close what they write.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayes_ipd
from bayes_ipd.plots import (
    ForestRow,
    comparison_forest_plot,
    forest_plot,
    km_ppc_plot,
    ppc_plot,
    prior_posterior_plot,
    rootogram_plot,
    save_figure,
)
from bayes_ipd.plots.bubble import bubble_plot
from bayes_ipd.plots.save import png_bytes
from bayes_ipd.plots.sbc import rank_histogram_plot

PACKAGE = Path(bayes_ipd.__file__).parent


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _rows() -> list[ForestRow]:
    return [ForestRow("A", 0.1, -0.2, 0.4), ForestRow("B", -0.3, -0.6, 0.0)]


def _figures():
    """One figure from each kind of public plot path."""
    ppc = pd.DataFrame(
        {
            "study": ["T1", "T1"],
            "arm": ["control", "treated"],
            "observed": [0.2, 0.1],
            "rep_mean": [0.21, 0.12],
            "rep_q025": [0.15, 0.08],
            "rep_q975": [0.27, 0.16],
        }
    )
    root = pd.DataFrame(
        {
            "study": "T1",
            "arm": "control",
            "category": ["0", "1", "2+"],
            "observed": [0.5, 0.3, 0.2],
            "rep_mean": [0.45, 0.35, 0.2],
        }
    )
    t = np.array([0.5, 1.0, 2.0])
    g = np.linspace(0, 3, 10)
    km_obs = {"T1": {"control": (t, np.exp(-0.3 * t))}}
    km_pred = {"T1": {"control": (g, np.exp(-0.3 * g), np.exp(-0.4 * g), np.exp(-0.2 * g))}}
    draws = np.abs(np.random.default_rng(1).normal(size=200))
    return {
        "forest": forest_plot(_rows()),
        "comparison": comparison_forest_plot(_rows(), [ForestRow("A", 0, -1, 1, style="shrunken")]),
        "ppc": ppc_plot(ppc, statistic_label="Event proportion"),
        "prior_posterior": prior_posterior_plot(stats.halfnorm.logpdf, draws),
        "rootogram": rootogram_plot(root),
        "km": km_ppc_plot(km_obs, km_pred),
        "bubble": bubble_plot([1.0, 2.0, 3.0], [0.1, 0.2, 0.3], [0.1, 0.1, 0.1]),
        "sbc": rank_histogram_plot({"mu": np.ones(10)}),
    }


def test_every_public_plot_path_makes_a_pyplot_figure():
    for name, fig in _figures().items():
        assert plt.fignum_exists(fig.number), name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Agg: "non-interactive"
            fig.show()  # raised AttributeError on a bare Figure


def test_no_figure_is_made_outside_the_one_helper():
    """Every figure goes through plots/figure.py's new_figure (so every plot path above
    and the result objects' plot methods are pyplot-managed)."""
    direct = re.compile(r"(?<![\w.])Figure\(")
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "figure.py" and direct.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_package_writers_close_what_they_write(tmp_path):
    fig = forest_plot(_rows())
    save_figure(fig, tmp_path / "f.png")
    assert not plt.fignum_exists(fig.number)
    fig = forest_plot(_rows())
    assert png_bytes(fig).startswith(b"\x89PNG")
    assert not plt.fignum_exists(fig.number)
    fig = forest_plot(_rows())
    save_figure(fig, tmp_path / "g.svg", close=False)  # a user keeping it for plt.show()
    assert plt.fignum_exists(fig.number)


def test_rootogram_axis_says_count_for_counts_and_category_for_levels():
    counts = pd.DataFrame(
        {
            "study": "T1",
            "arm": "control",
            "statistic": ["count_0", "count_1", "count_2", "count_3plus"],
            "category": ["0", "1", "2", "3+"],
            "observed": [0.4, 0.3, 0.2, 0.1],
            "rep_mean": [0.4, 0.3, 0.2, 0.1],
        }
    )
    assert rootogram_plot(counts)._supxlabel.get_text() == "count"
    levels = counts.assign(
        statistic=[f"category_{i}" for i in range(1, 5)], category=["1", "2", "3", "4"]
    )
    assert rootogram_plot(levels)._supxlabel.get_text() == "category"
