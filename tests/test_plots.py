"""Tests of bayes_ipd.plots: every figure's artists, labels and files.

Result objects are faked with SimpleNamespace so that these tests do not depend on the
pooling code; the numbers come from the BCG trials (Colditz et al. 1994, metafor's
``dat.bcg``, log risk ratios) and from metafor 3.8 ``rma(yi, vi, method = "REML",
test = "knha")`` as listed in the project's reference-data notes.
"""

from __future__ import annotations

import math
import subprocess
import sys
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon, Rectangle
from matplotlib.text import Text
from PIL import Image
from scipy import stats

from bayes_ipd.plots import (
    ForestRow,
    comparison_forest_plot,
    forest_plot,
    km_ppc_plot,
    ppc_plot,
    prior_posterior_plot,
    save_figure,
)
from bayes_ipd.two_stage.forest_rows import heterogeneity_lines, two_stage_forest, two_stage_rows

# First five BCG trials: author, year, absolute latitude, log risk ratio yi and its
# variance vi (metafor escalc(measure = "RR") on dat.bcg; Colditz et al. 1994).
BCG = pd.DataFrame(
    {
        "author": [
            "Aronson",
            "Ferguson & Simes",
            "Rosenthal et al",
            "Hart & Sutherland",
            "Frimodt-Moller et al",
        ],
        "year": [1948, 1949, 1960, 1977, 1973],
        "ablat": [44, 55, 42, 52, 13],
        "yi": [-0.8893113339, -1.5853886572, -1.3480731483, -1.44155119, -0.2175473222],
        "vi": [0.325584765, 0.1945811214, 0.4153679654, 0.0200100319, 0.0512101722],
        "n": [262, 609, 451, 26465, 10877],  # tpos + tneg + cpos + cneg in dat.bcg
    }
)
Z975 = 1.959963984540054  # standard normal 97.5% quantile


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def fake_aggregate(k: int = 5, excluded: tuple = (), scale: str | None = "logRR"):
    rows = BCG.head(k)
    return SimpleNamespace(
        studies=tuple(rows.author),
        estimate=rows.yi.to_numpy(),
        se=np.sqrt(rows.vi.to_numpy()),
        n=rows.n.to_numpy(),
        events=None,
        excluded=excluded,
        term="treat",
        scale=scale,
    )


def fake_pooled(k: int = 5, scale: str | None = "logRR", pi: bool = True, method="REML"):
    """Pooled result with metafor's BCG REML + HKSJ numbers (13 trials)."""
    studies = tuple(BCG.author.head(k))
    weights = np.full(k, 100.0 / k)
    weights[0] = weights[0] / 2  # unequal, so square sizes must differ
    weights = 100 * weights / weights.sum()
    return SimpleNamespace(
        method=method,
        hksj=True,
        k=k,
        level=0.95,
        estimate=-0.7145,
        se=0.1808,
        ci_low=-1.1084,
        ci_high=-0.3206,
        stat=-3.95,
        p=0.0019,
        dist="t",
        df=12,
        tau2=0.3132,
        tau2_ci_low=math.nan,
        tau2_ci_high=math.nan,
        i2=92.22,
        h2=12.86,
        q=152.2330,
        q_df=12,
        q_p=1e-26,
        pi_low=-2.0 if pi else math.nan,
        pi_high=0.6 if pi else math.nan,
        studies=studies,
        weights=weights,
        scale=scale,
    )


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def by_gid(fig: Figure, gid: str, kind: type = matplotlib.artist.Artist) -> list:
    return [a for a in fig.findobj(kind) if a.get_gid() == gid]


def plot_axes(fig: Figure):
    """The forest plot's middle axes, the one holding the marks."""
    return next(ax for ax in fig.axes if ax.axison)


# ------------------------------------------------------------------------- forest_plot


def test_forest_plot_draws_one_square_per_trial_and_one_diamond():
    fig = two_stage_forest(fake_pooled(), fake_aggregate(), title="BCG")
    assert isinstance(fig, Figure)
    squares = by_gid(fig, "study-square", Line2D)
    assert len(squares) == 5
    assert all(sq.get_marker() == "s" for sq in squares)
    diamonds = by_gid(fig, "pooled-diamond", Polygon)
    assert len(diamonds) == 1
    assert len(by_gid(fig, "prediction-interval", Rectangle)) == 1


def test_forest_plot_is_a_pyplot_figure_and_never_shown():
    """Made through pyplot (plt.show() and notebooks display it), one figure per call."""
    before = plt.get_fignums()
    fig = two_stage_forest(fake_pooled(), fake_aggregate())
    assert plt.get_fignums() == [*before, fig.number]


def test_forest_plot_ratio_scale_is_log_axis_with_ratio_ticks():
    fig = two_stage_forest(fake_pooled(), fake_aggregate())
    ax = plot_axes(fig)
    assert ax.get_xscale() == "log"
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert "1" in ticks and "0.5" in ticks
    # the squares sit at the risk ratio, exp(yi)
    xs = sorted(sq.get_xdata()[0] for sq in by_gid(fig, "study-square", Line2D))
    np.testing.assert_allclose(xs, sorted(np.exp(BCG.yi)), rtol=1e-12)
    null = by_gid(fig, "null-line", Line2D)
    assert len(null) == 1 and null[0].get_xdata()[0] == 1.0


def test_forest_plot_numbers_are_exponentiated_wald_intervals():
    fig = two_stage_forest(fake_pooled(), fake_aggregate())
    shown = texts(fig)
    yi, se = BCG.yi[0], math.sqrt(BCG.vi[0])
    # Aronson: RR exp(-0.889) = 0.41, 95% CI exp(yi -/+ 1.96 se) = 0.13 to 1.26
    assert f"{math.exp(yi):.2f}" in shown
    assert f"[{math.exp(yi - Z975 * se):.2f}," in shown
    assert f"{math.exp(yi + Z975 * se):.2f}]" in shown
    # pooled: exp(-0.7145) = 0.49 [exp(-1.1084), exp(-0.3206)] = [0.33, 0.73]
    assert "0.49" in shown and "[0.33," in shown and "0.73]" in shown
    assert "Risk ratio [95% CI]" in shown


def test_forest_plot_linear_scale_for_mean_difference():
    fig = two_stage_forest(fake_pooled(scale="MD"), fake_aggregate(scale="MD"))
    ax = plot_axes(fig)
    assert ax.get_xscale() == "linear"
    assert ax.get_xlabel() == "Mean difference"
    assert by_gid(fig, "null-line", Line2D)[0].get_xdata()[0] == 0.0
    # negative numbers use the typographic minus: yi = -0.889 -> "−0.89"
    assert "\u22120.89" in texts(fig)


def test_forest_plot_exponentiate_false_overrides_ratio_scale():
    fig = two_stage_forest(fake_pooled(), fake_aggregate(), exponentiate=False)
    assert plot_axes(fig).get_xscale() == "linear"
    assert plot_axes(fig).get_xlabel() == "Log risk ratio"


def test_square_area_is_proportional_to_weight():
    pooled = fake_pooled()
    fig = two_stage_forest(pooled, fake_aggregate())
    squares = sorted(by_gid(fig, "study-square"), key=lambda sq: -sq.get_ydata()[0])
    areas = np.array([sq.get_markersize() ** 2 for sq in squares])  # trials top to bottom
    np.testing.assert_allclose(areas / areas.max(), pooled.weights / pooled.weights.max())


def test_forest_plot_labels_weights_method_and_heterogeneity():
    fig = two_stage_forest(fake_pooled(), fake_aggregate(), title="BCG vaccine")
    shown = texts(fig)
    assert "BCG vaccine" in shown
    assert "Pooled (REML + HKSJ)" in shown
    assert "Prediction interval" in shown
    assert all(name in shown for name in BCG.author)
    assert "11.1%" in shown and "22.2%" in shown  # weights 10/90 and 20/90 of 100
    assert "100%" in shown
    assert "N" in shown and "26,465" in shown  # thousands separated
    footer = next(t for t in shown if t.startswith("Heterogeneity"))
    # metafor REML: tau^2 = 0.3132, I^2 = 92.22%, Q = 152.2330 on 12 df
    assert "τ² = 0.313" in footer
    assert "I² = 92.2%" in footer
    assert "Q = 152.23 (df 12, p < 0.001)" in footer
    assert any(t.startswith("Test for overall effect: t = ") for t in shown)


def test_forest_plot_without_weights_column():
    fig = two_stage_forest(fake_pooled(), fake_aggregate(), show_weights=False)
    assert "Weight" not in texts(fig)


def test_extra_columns_and_labels_appear():
    fig = two_stage_forest(
        fake_pooled(),
        fake_aggregate(),
        labels=["A", "B", "C", "D", "E"],
        extra_columns={"Year": BCG.year.tolist(), "Latitude": BCG.ablat.tolist()},
    )
    shown = texts(fig)
    assert {"Year", "Latitude", "1948", "1977", "55", "13"} <= set(shown)
    assert {"A", "E"} <= set(shown) and "Aronson" not in shown


def test_extra_column_of_wrong_length_is_named():
    with pytest.raises(ValueError, match="'Year'"):
        two_stage_forest(fake_pooled(), fake_aggregate(), extra_columns={"Year": [1948]})


def test_excluded_trial_is_listed_grey_with_reason_and_not_drawn():
    agg = fake_aggregate(excluded=(None, None, None, None, "no events in either arm"))
    pooled = fake_pooled(k=4)
    fig = two_stage_forest(pooled, agg)
    assert len(by_gid(fig, "study-square", Line2D)) == 4
    shown = {t.get_text(): t for t in fig.findobj(Text) if t.get_text()}
    assert "excluded: no events in either arm" in shown
    label = shown["Frimodt-Moller et al"]
    assert matplotlib.colors.to_rgb(label.get_color()) != matplotlib.colors.to_rgb("black")
    assert label.get_color() == shown["excluded: no events in either arm"].get_color()
    # the excluded trial's 10877 participants are not in the pooled N
    assert f"{BCG.n.head(4).sum():,}" in shown


def test_k1_has_no_prediction_interval_and_no_heterogeneity_line():
    pooled = fake_pooled(k=1, pi=False, method="FE")
    pooled.q, pooled.q_df, pooled.q_p = 0.0, 0, math.nan
    fig = two_stage_forest(pooled, fake_aggregate(k=1))
    assert len(by_gid(fig, "study-square", Line2D)) == 1
    assert len(by_gid(fig, "pooled-diamond", Polygon)) == 1
    assert by_gid(fig, "prediction-interval") == []
    assert not any(t.startswith("Heterogeneity") for t in texts(fig))


def test_k2_works_without_prediction_interval():
    fig = two_stage_forest(fake_pooled(k=2, pi=False), fake_aggregate(k=2))
    assert len(by_gid(fig, "study-square", Line2D)) == 2
    assert by_gid(fig, "prediction-interval") == []
    assert "Prediction interval" not in texts(fig)


def test_pooled_only_without_per_study_table():
    fig = two_stage_forest(fake_pooled(), None)
    assert by_gid(fig, "study-square") == []
    assert len(by_gid(fig, "pooled-diamond", Polygon)) == 1


def test_figure_height_grows_with_rows():
    small = two_stage_forest(fake_pooled(k=2, pi=False), fake_aggregate(k=2))
    large = two_stage_forest(fake_pooled(k=5), fake_aggregate(k=5))
    assert large.get_figheight() > small.get_figheight()


def test_xlim_clips_interval_with_arrow():
    fig = two_stage_forest(fake_pooled(), fake_aggregate(), xlim=(0.2, 2.0))
    assert plot_axes(fig).get_xlim() == pytest.approx((0.2, 2.0))
    # lower limits exp(yi - 1.96 se): Aronson 0.13, Ferguson & Simes 0.09, Rosenthal 0.07,
    # Hart & Sutherland 0.18 run below 0.2; Frimodt-Moller (0.52 to 1.25) and every
    # upper limit stay inside
    assert len(by_gid(fig, "ci-arrow", Line2D)) == 4


def test_pooled_diamond_spans_the_confidence_interval():
    fig = two_stage_forest(fake_pooled(), fake_aggregate())
    xs = by_gid(fig, "pooled-diamond", Polygon)[0].get_xy()[:, 0]
    np.testing.assert_allclose(
        [xs.min(), xs.max()], [math.exp(-1.1084), math.exp(-0.3206)], rtol=1e-12
    )


# -------------------------------------------------------------------------- rows


def test_two_stage_rows_order_and_styles():
    rows = two_stage_rows(fake_pooled(), fake_aggregate(), level=0.9)
    assert [r.style for r in rows] == ["study"] * 5 + ["pooled", "prediction"]
    z90 = 1.6448536269514722  # standard normal 95% quantile
    assert rows[0].ci_high == pytest.approx(BCG.yi[0] + z90 * math.sqrt(BCG.vi[0]))


def test_forest_plot_draws_given_rows_and_lines_only():
    rows = [
        ForestRow("A", -0.5, -0.9, -0.1, weight=60.0, extra=("1990",)),
        ForestRow("B", -0.2, -0.8, 0.4, weight=40.0, extra=("2001",)),
        ForestRow("Pooled", -0.38, -0.7, -0.06, weight=100.0, style="pooled"),
    ]
    fig = forest_plot(
        rows,
        heterogeneity=("Heterogeneity: given by the caller",),
        extra_headers=("Year",),
        exponentiate=True,
        measure="Odds ratio",
        level=0.9,
    )
    shown = texts(fig)
    assert "Heterogeneity: given by the caller" in shown
    assert "Odds ratio [90% CI]" in shown and {"Year", "1990", "2001"} <= set(shown)
    assert plot_axes(fig).get_xlabel() == "Odds ratio"
    assert len(by_gid(fig, "study-square", Line2D)) == 2
    assert not any(t.startswith("Test for overall effect") for t in shown)
    with pytest.raises(ValueError, match="ForestRow"):
        forest_plot([fake_pooled()])


def test_heterogeneity_lines_of_a_pooled_result():
    lines = heterogeneity_lines(fake_pooled())
    assert lines[0] == "Heterogeneity: τ² = 0.313, I² = 92.2%, Q = 152.23 (df 12, p < 0.001)"
    assert lines[1] == "Test for overall effect: t = \u22123.95 (df 12, p = 0.002)"


def test_importing_plots_loads_no_result_code_nor_pymc():
    code = (
        "import sys, bayes_ipd.plots; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pymc' "
        "or m.startswith(('bayes_ipd.two_stage', 'bayes_ipd.one_stage', 'bayes_ipd.compare'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_forest_row_rejects_bad_style_and_reversed_interval():
    with pytest.raises(ValueError, match="style"):
        ForestRow("T1", 0.0, -1.0, 1.0, style="bar")
    with pytest.raises(ValueError, match="'T1'"):
        ForestRow("T1", 0.0, 1.0, -1.0)


# ------------------------------------------------------------------------- save_figure


@pytest.mark.parametrize(
    ("suffix", "magic"), [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")]
)
def test_save_figure_writes_each_format(tmp_path, suffix, magic):
    fig = two_stage_forest(fake_pooled(), fake_aggregate())
    path = save_figure(fig, tmp_path / "sub" / f"forest{suffix}")
    assert path.exists() and path.stat().st_size > 1000
    assert path.read_bytes()[: len(magic)] == magic


def test_save_figure_png_at_150_dpi(tmp_path):
    path = save_figure(two_stage_forest(fake_pooled(), fake_aggregate()), tmp_path / "f.png")
    with Image.open(path) as image:
        assert image.info["dpi"] == pytest.approx((150, 150), abs=0.1)


def test_save_figure_refuses_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match="jpgx"):
        save_figure(two_stage_forest(fake_pooled(), fake_aggregate()), tmp_path / "f.jpgx")
    assert not (tmp_path / "f.jpgx").exists()


# ------------------------------------------------------------------ comparison plot


def one_stage_rows():
    rows = [
        ForestRow(name, 0.7 * y, 0.7 * y - 0.3, 0.7 * y + 0.3, style="shrunken")
        for name, y in zip(BCG.author, BCG.yi, strict=True)
    ]
    rows.append(ForestRow("One-stage μ", -0.74, -1.09, -0.40, style="pooled"))
    rows.append(ForestRow("New-trial prediction", -0.74, -1.9, 0.4, style="prediction"))
    return rows


def test_comparison_plot_pairs_squares_and_circles():
    two = two_stage_rows(fake_pooled(), fake_aggregate())
    fig = comparison_forest_plot(two, one_stage_rows(), title="Routes", exponentiate=True)
    assert len(by_gid(fig, "study-square", Line2D)) == 5
    circles = by_gid(fig, "shrunken-circle", Line2D)
    assert len(circles) == 5 and all(c.get_marker() == "o" for c in circles)
    assert len(by_gid(fig, "pooled-diamond", Polygon)) == 2
    assert len(by_gid(fig, "prediction-interval", Rectangle)) == 2
    assert plot_axes(fig).get_xscale() == "log"
    legend_texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("Two-stage" in t for t in legend_texts)
    assert any("One-stage" in t for t in legend_texts)
    assert "Routes" in texts(fig)


def test_comparison_plot_offsets_the_pair_within_a_trial():
    two = two_stage_rows(fake_pooled(), fake_aggregate())
    fig = comparison_forest_plot(two, one_stage_rows())
    square = by_gid(fig, "study-square", Line2D)[0]
    circle = by_gid(fig, "shrunken-circle", Line2D)[0]
    assert square.get_xdata()[0] == pytest.approx(BCG.yi[0])
    assert circle.get_xdata()[0] == pytest.approx(0.7 * BCG.yi[0])
    gap = square.get_ydata()[0] - circle.get_ydata()[0]
    assert 0 < gap < 0.5  # same trial row, slightly apart


def test_comparison_plot_matches_by_label_and_refuses_ambiguous_labels():
    two = [ForestRow("A", 0.1, -0.1, 0.3), ForestRow("B", 0.2, 0.0, 0.4)]
    one = [ForestRow("B", 0.15, 0.0, 0.3, style="shrunken")]
    fig = comparison_forest_plot(two, one)
    assert len(by_gid(fig, "shrunken-circle", Line2D)) == 1
    two_dup = [ForestRow("A", 0.1, -0.1, 0.3), ForestRow("A", 0.2, 0.0, 0.4)]
    with pytest.raises(ValueError, match="'A'"):
        comparison_forest_plot(two_dup, one)


# ------------------------------------------------------------------------ ppc_plot


def ppc_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "study": ["T1", "T1", "T2", "T2", "T3", "T3"],
            "arm": ["control", "treated"] * 3,
            "observed": [0.20, 0.15, 0.31, 0.22, 0.10, 0.09],
            "rep_mean": [0.21, 0.14, 0.30, 0.24, 0.11, 0.10],
            "rep_q025": [0.15, 0.10, 0.25, 0.18, 0.06, 0.05],
            "rep_q975": [0.27, 0.19, 0.36, 0.30, 0.16, 0.15],
            "p_value": [0.42, 0.61, 0.55, 0.30, 0.01, 0.47],
        }
    )


def test_ppc_plot_one_point_and_interval_per_trial_arm():
    table = ppc_table()
    fig = ppc_plot(table, statistic_label="Event proportion", title="PPC")
    observed = by_gid(fig, "observed", Line2D)
    assert len(observed) == 6
    assert sorted(o.get_xdata()[0] for o in observed) == sorted(table.observed)
    intervals = by_gid(fig, "replicated-interval", Line2D)
    assert len(intervals) == 6
    assert {tuple(i.get_xdata()) for i in intervals} == set(
        zip(table.rep_q025, table.rep_q975, strict=True)
    )
    shown = texts(fig)
    assert "PPC" in shown and "0.42" in shown and "0.01" in shown
    assert {"T1", "T2", "T3"} <= set(shown)
    assert fig.axes[0].get_xlabel() == "Event proportion"


def test_ppc_plot_does_not_modify_its_input_and_needs_columns():
    table = ppc_table()
    copy = table.copy()
    ppc_plot(table.drop(columns="p_value"), statistic_label="Mean")
    pd.testing.assert_frame_equal(table, copy)
    with pytest.raises(ValueError, match="'rep_q975'"):
        ppc_plot(table.drop(columns="rep_q975"), statistic_label="Mean")


# ------------------------------------------------------------ prior_posterior_plot


def line_by_label(fig: Figure, prefix: str) -> Line2D:
    return next(
        line for line in fig.axes[0].get_lines() if str(line.get_label()).startswith(prefix)
    )


def test_prior_curve_is_the_prior_density():
    draws = np.abs(np.random.default_rng(7).normal(0.3, 0.1, 800))
    scale = 0.5
    fig = prior_posterior_plot(
        stats.halfnorm(scale=scale).logpdf, draws, name="τ", title="Between-trial SD"
    )
    prior = line_by_label(fig, "prior")
    x, y = prior.get_xdata(), prior.get_ydata()
    # half-normal density: sqrt(2 / pi) / s * exp(-x^2 / (2 s^2)), x >= 0
    np.testing.assert_allclose(y, np.sqrt(2 / np.pi) / scale * np.exp(-(x**2) / (2 * scale**2)))
    assert x.min() == 0.0
    assert "Between-trial SD" in texts(fig)
    assert fig.axes[0].get_xlabel() == "τ"


def test_posterior_kde_keeps_its_mass_at_the_zero_boundary():
    # Half-normal draws pile up at 0. A KDE not reflected there loses about
    # f(0) h / sqrt(2 pi) = 1.6 * 0.065 * 0.4 = 4% of its mass below 0 (f(0) the
    # half-normal density at 0, h = 0.3 * 2000^(-1/5) Scott's bandwidth).
    draws = np.abs(np.random.default_rng(3).normal(0.0, 0.5, 2000))
    fig = prior_posterior_plot(stats.halfcauchy(scale=1.0).logpdf, draws)
    kde = line_by_label(fig, "posterior")
    mass = np.trapezoid(kde.get_ydata(), kde.get_xdata())
    assert mass == pytest.approx(1.0, abs=0.01)


def test_prior_posterior_plot_refuses_non_finite_draws():
    with pytest.raises(ValueError, match="1 of 3"):
        prior_posterior_plot(stats.norm.logpdf, np.array([0.1, np.nan, 0.3]))


# ---------------------------------------------------------------------- km_ppc_plot


def km_inputs(n_trials: int):
    observed, predicted = {}, {}
    for i in range(n_trials):
        trial = f"Trial {i + 1}"
        observed[trial], predicted[trial] = {}, {}
        for arm, rate in (("control", 0.3), ("treated", 0.2)):
            t = np.array([0.5, 1.0, 2.0, 4.0])
            observed[trial][arm] = (t, np.exp(-rate * t))
            g = np.linspace(0, 5, 20)
            s = np.exp(-rate * g)
            predicted[trial][arm] = (g, s, s**1.2, s**0.8)
    return observed, predicted


def test_km_ppc_plot_one_panel_per_trial_and_one_legend():
    observed, predicted = km_inputs(5)
    fig = km_ppc_plot(observed, predicted, title="Survival check")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(fig.axes) == 8  # 2 rows of 4
    assert len(visible) == 5
    assert [ax.get_title(loc="left") for ax in visible] == list(observed)
    assert len(by_gid(fig, "km-curve", Line2D)) == 10
    assert len(by_gid(fig, "predictive-band")) == 10
    assert len(fig.legends) == 1
    assert "Survival check" in texts(fig)


def test_km_curve_starts_at_survival_one():
    observed, predicted = km_inputs(1)
    fig = km_ppc_plot(observed, predicted)
    curve = by_gid(fig, "km-curve", Line2D)[0]
    assert curve.get_xdata()[0] == 0.0 and curve.get_ydata()[0] == 1.0


def test_km_ppc_plot_names_the_curve_with_unequal_lengths():
    observed, predicted = km_inputs(2)
    t, s = observed["Trial 2"]["treated"]
    observed["Trial 2"]["treated"] = (t, s[:-1])
    with pytest.raises(ValueError, match="'Trial 2', arm 'treated'"):
        km_ppc_plot(observed, predicted)


def test_favours_labels_never_overlap_when_the_null_is_near_an_edge():
    """Issue 29, item 9: BCG-like odds ratios put 1 near the right edge of the axis."""
    two = [ForestRow(f"T{i}", -1.5 + 0.1 * i, -2.5 + 0.1 * i, -0.05) for i in range(6)]
    two.append(ForestRow("Pooled", -1.2, -1.6, -0.8, style="pooled"))
    one = [ForestRow(f"T{i}", -1.4 + 0.1 * i, -2.3, -0.1, style="shrunken") for i in range(6)]
    one.append(ForestRow("Pooled (one-stage)", -1.2, -1.6, -0.8, style="pooled"))
    for exponentiate in (True, False):
        fig = comparison_forest_plot(two, one, exponentiate=exponentiate)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        (left,) = by_gid(fig, "favours-left", Text)
        (right,) = by_gid(fig, "favours-right", Text)
        a, b = left.get_window_extent(renderer), right.get_window_extent(renderer)
        assert a.x1 <= b.x0, (a, b)
        width = fig.bbox.width
        assert a.x0 >= 0 and b.x1 <= width
