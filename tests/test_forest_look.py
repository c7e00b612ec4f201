"""How the forest plots and the PPC plot look (issue item 18), measured on the rendered figure.

Text and marker extents come from matplotlib's Agg renderer (``get_window_extent``), so
the checks are about what a reader sees: the "favours" labels sit under the axis on either
side of the null line, no text overlaps another, the one-stage circle is not covered by a
two-stage square, a 50-trial forest keeps a readable font at a bounded height, and BCG arm
proportions below 1% are spread out rather than stacked on zero.

Counts are those of the published BCG 2x2 tables (Colditz et al. 1994; metafor's
``dat.bcg``: tpos, tneg, cpos, cneg), read from the shipped ``bcg.csv``, not from the code
under test.
"""

from __future__ import annotations

import itertools
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from scipy import stats

from bayes_ipd.datasets import load_bcg_aggregate, load_bcg_ipd
from bayes_ipd.plots import ForestRow, comparison_forest_plot, forest_plot, ppc_plot
from bayes_ipd.two_stage import AggregateData, pool_aggregate
from bayes_ipd.two_stage.forest_rows import two_stage_forest

Z975 = 1.959963984540054  # standard normal 97.5% quantile
BCG = load_bcg_aggregate()


def _renderer(fig: Figure):
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _texts(fig: Figure) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _find(fig: Figure, text: str) -> list[Text]:
    return [t for t in _texts(fig) if t.get_text() == text]


def _plot_axes(fig: Figure):
    return next(ax for ax in fig.axes if ax.axison)


def _bcg_rows(k: int = 13) -> list[ForestRow]:
    rows = []
    for rec in BCG.head(k).itertuples(index=False):
        se = math.sqrt(rec.vi)
        n = rec.tpos + rec.tneg + rec.cpos + rec.cneg
        rows.append(
            ForestRow(rec.author, rec.yi, rec.yi - Z975 * se, rec.yi + Z975 * se, 1 / rec.vi, n)
        )
    rows.append(ForestRow("Pooled (REML)", -0.7145, -1.0669, -0.3622, 100.0, style="pooled"))
    return rows


# ------------------------------------------------------------------- favours labels


def test_favours_labels_sit_under_the_axis_either_side_of_the_null():
    fig = forest_plot(_bcg_rows(), exponentiate=True, measure="Risk ratio")
    renderer = _renderer(fig)
    ax = _plot_axes(fig)
    (left,) = _find(fig, "\u2190 Favours treatment")
    (right,) = _find(fig, "Favours control \u2192")
    null_x = ax.transData.transform((1.0, 0.0))[0]
    axis_y = ax.transAxes.transform((0.0, 0.0))[1]
    lb, rb = left.get_window_extent(renderer), right.get_window_extent(renderer)
    assert lb.x1 <= null_x <= rb.x0  # treatment left of RR = 1, control right of it
    assert lb.y1 < axis_y and rb.y1 < axis_y  # under the axis line
    ticks = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
    assert max(lb.y1, rb.y1) <= min(t.y0 for t in ticks)  # and under the tick labels
    xlabel = ax.xaxis.label.get_window_extent(renderer)
    assert xlabel.y1 <= min(lb.y0, rb.y0)  # the axis label comes below them


def test_favours_labels_can_be_changed_or_turned_off():
    fig = forest_plot(_bcg_rows(), exponentiate=True, favours=("Favours BCG", "Favours none"))
    assert _find(fig, "\u2190 Favours BCG") and _find(fig, "Favours none \u2192")
    fig = forest_plot(_bcg_rows(), exponentiate=True, favours=None)
    assert not [t for t in _texts(fig) if "Favours" in t.get_text()]
    fig = comparison_forest_plot(_bcg_rows(), _bcg_rows(), exponentiate=True, favours=None)
    assert not [t for t in _texts(fig) if "Favours" in t.get_text()]


def _aggregate(term: str = "treat") -> AggregateData:
    n = (BCG[["tpos", "tneg", "cpos", "cneg"]]).sum(axis=1).to_numpy()
    return AggregateData(
        tuple(BCG["author"] + " " + BCG["year"].astype(str)),
        BCG["yi"].to_numpy(),
        np.sqrt(BCG["vi"].to_numpy()),
        n=n,
        events=(BCG["tpos"] + BCG["cpos"]).to_numpy(),
        term=term,
        scale="logRR",
    )


def test_interaction_forest_has_no_favours_labels():
    agg = _aggregate(term="treat:ablat")
    fig = two_stage_forest(pool_aggregate(agg), agg)
    assert not [t for t in _texts(fig) if "Favours" in t.get_text()]


# ----------------------------------------------------------------------- counts


def test_two_stage_forest_shows_events_over_n_with_thousands_separators():
    agg = _aggregate()
    fig = two_stage_forest(pool_aggregate(agg), agg)
    words = {t.get_text() for t in _texts(fig)}
    assert "Events/N" in words
    # TPT Madras 1980: 505 + 499 cases among 88,391 + 88,391 participants.
    assert "1,004/176,782" in words
    # all 13 trials: 2,575 cases among 357,347 participants
    assert "2,575/357,347" in words


def test_forest_plot_n_column_has_thousands_separators():
    fig = forest_plot(_bcg_rows(), exponentiate=True)
    words = {t.get_text() for t in _texts(fig)}
    assert "176,782" in words and "176782" not in words


def test_arm_count_columns_are_the_published_two_by_two_tables():
    from bayes_ipd.two_stage.forest_rows import arm_count_columns

    columns = arm_count_columns(load_bcg_ipd())
    treated = [f"{a:,}/{a + b:,}" for a, b in zip(BCG["tpos"], BCG["tneg"], strict=True)]
    control = [f"{c:,}/{c + d:,}" for c, d in zip(BCG["cpos"], BCG["cneg"], strict=True)]
    assert columns == {"Treated events/N": treated, "Control events/N": control}


# ------------------------------------------------------------------- comparison


def _marker_box(line: Line2D, renderer) -> tuple[float, float, float]:
    """Centre (x, y) in pixels and half the marker size in pixels."""
    x, y = line.get_xydata()[0]
    px, py = line.axes.transData.transform((x, y))
    half = line.get_markersize() * renderer.points_to_pixels(1.0) / 2
    return px, py, half


def test_one_stage_circles_are_never_under_a_two_stage_square():
    two = _bcg_rows()
    # One-stage estimates on top of the two-stage ones: the worst case for hiding.
    one = [
        ForestRow(r.label, r.estimate, r.ci_low, r.ci_high, style="shrunken")
        if r.style == "study"
        else r
        for r in two
    ]
    fig = comparison_forest_plot(two, one, exponentiate=True)
    renderer = _renderer(fig)
    squares = [a for a in fig.findobj(Line2D) if a.get_gid() == "study-square"]
    circles = [a for a in fig.findobj(Line2D) if a.get_gid() == "shrunken-circle"]
    assert len(squares) == len(circles) == 13
    clearance = []
    for square, circle in zip(squares, circles, strict=True):
        sx, sy, s_half = _marker_box(square, renderer)
        cx, cy, c_half = _marker_box(circle, renderer)
        assert abs(sx - cx) < 1e-6  # same estimate
        clearance.append(abs(sy - cy) - (s_half + c_half))
    assert min(clearance) >= 0  # vertical clearance: no square reaches its circle
    assert all(c.get_zorder() > s.get_zorder() for s, c in zip(squares, circles, strict=True))


def test_one_stage_estimates_are_named_shrunken_posterior_medians():
    fig = comparison_forest_plot(_bcg_rows(), _bcg_rows(), exponentiate=True)
    legend = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    assert "shrunken posterior median" in legend
    rows = [*_bcg_rows()[:3], ForestRow("x", -0.2, -0.5, 0.1, style="shrunken")]
    fig = forest_plot(rows, exponentiate=True)
    legend = " ".join(t.get_text() for legend in fig.legends for t in legend.get_texts())
    assert "posterior median" in legend


# ------------------------------------------------------------------- 50 trials


def _fifty_trials() -> list[ForestRow]:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(50):
        label = f"Multicentre trial number {i}"
        if i % 10 == 4:
            note = "no events in either arm: the log odds ratio is not estimable"
            rows.append(ForestRow(label, math.nan, math.nan, math.nan, style="excluded", note=note))
            continue
        est, se = rng.normal(-0.3, 0.4), rng.uniform(0.05, 0.8)
        rows.append(
            ForestRow(label, est, est - Z975 * se, est + Z975 * se, 1 / se**2, 10**5 + 7 * i)
        )
    rows.append(ForestRow("Pooled (REML)", -0.3, -0.4, -0.2, 100.0, 5_000_350, style="pooled"))
    rows.append(ForestRow("Prediction interval", -0.3, -1.1, 0.5, style="prediction"))
    return rows


def _overlaps(boxes) -> list[tuple[int, int]]:
    out = []
    for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2):
        if min(a.x1, b.x1) - max(a.x0, b.x0) > 0.5 and min(a.y1, b.y1) - max(a.y0, b.y0) > 0.5:
            out.append((i, j))
    return out


def test_fifty_trial_forest_is_readable():
    rows = _fifty_trials()
    heterogeneity = ["Heterogeneity: τ² = 0.1, I² = 50.0%", "Test for overall effect: z = −5.00"]
    fig = forest_plot(rows, exponentiate=True, heterogeneity=heterogeneity)
    renderer = _renderer(fig)
    texts = _texts(fig)
    sizes = {t.get_text(): t.get_fontsize() for t in texts}
    # font shrinks with the number of rows, but stays readable in print
    assert 6.5 <= sizes["Multicentre trial number 0"] < 9.0
    # the figure grows less than in proportion to the rows (0.24 in per row at full size)
    assert fig.get_size_inches()[1] < 0.24 * len(rows)
    boxes = [t.get_window_extent(renderer) for t in texts]
    clashes = [(texts[i].get_text(), texts[j].get_text()) for i, j in _overlaps(boxes)]
    assert not clashes
    figure_box = fig.bbox
    for text, box in zip(texts, boxes, strict=True):
        assert box.x0 >= figure_box.x0 - 0.5 and box.x1 <= figure_box.x1 + 0.5, text.get_text()
        assert box.y0 >= figure_box.y0 - 0.5 and box.y1 <= figure_box.y1 + 0.5, text.get_text()
    # the reasons stay right of the plot and inside the right-hand table
    weight_header = _find(fig, "Weight")[0].get_window_extent(renderer)
    reasons = [b for t, b in zip(texts, boxes, strict=True) if t.get_text().startswith("excl")]
    assert len(reasons) == 5
    plot_right = _plot_axes(fig).get_window_extent(renderer).x1
    assert all(b.x0 >= plot_right for b in reasons)
    assert weight_header.x1 <= figure_box.x1


# ------------------------------------------------------------------------- PPC


def _bcg_ppc_table() -> pd.DataFrame:
    """Observed arm proportions of the BCG trials with binomial 95% ranges around them."""
    records = []
    for rec in BCG.itertuples(index=False):
        for arm, events, total in (
            ("control", rec.cpos, rec.cpos + rec.cneg),
            ("treated", rec.tpos, rec.tpos + rec.tneg),
        ):
            p = events / total
            lo, hi = stats.binom.ppf([0.025, 0.975], total, p) / total
            records.append((rec.author, arm, p, p, lo, hi))
    return pd.DataFrame(
        records, columns=["study", "arm", "observed", "rep_mean", "rep_q025", "rep_q975"]
    )


def test_ppc_of_small_proportions_is_not_collapsed_onto_zero():
    table = _bcg_ppc_table()
    # 20 of the 26 arm proportions lie below 5%, the smallest at 0.12% (Comstock & Webster
    # treated: 5/2,498 = 0.2%; control 3/2,341 = 0.13%), the largest at 25.6%.
    assert (table["observed"] < 0.05).sum() >= 18
    fig = ppc_plot(table, statistic_label="Event proportion")
    ax = fig.axes[0]
    assert ax.get_xscale() in ("log", "logit")
    _renderer(fig)
    observed = sorted(table["observed"])
    px = ax.transData.transform(np.column_stack([observed, np.zeros(len(observed))]))[:, 0]
    width = ax.get_window_extent().width
    # the smallest and the 10th smallest proportions (0.13% and 0.6%) are well apart on
    # screen: on a linear axis to 0.3 they would be 1.6% of the width apart
    assert (px[9] - px[0]) / width > 0.15
    linear = ppc_plot(table, statistic_label="Event proportion", xscale="linear")
    assert linear.axes[0].get_xscale() == "linear"


def test_ppc_of_ordinary_values_keeps_a_linear_axis():
    table = pd.DataFrame(
        {
            "study": ["A", "A", "B", "B"],
            "arm": ["control", "treated"] * 2,
            "observed": [120.0, 115.0, 131.0, 126.0],
            "rep_mean": [121.0, 114.0, 130.0, 127.0],
            "rep_q025": [117.0, 110.0, 126.0, 122.0],
            "rep_q975": [125.0, 118.0, 134.0, 131.0],
        }
    )
    assert ppc_plot(table, statistic_label="Mean").axes[0].get_xscale() == "linear"
    with pytest.raises(ValueError, match="xscale"):
        ppc_plot(table, statistic_label="Mean", xscale="sqrt")
