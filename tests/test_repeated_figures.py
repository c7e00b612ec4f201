"""Figures of repeated measures (means over visits, effect over visits, forest per visit),
their wiring into the two-stage result and CLI, and the shipped ``hamd_visits.csv``.

The planted values of the shipped set are those of ``_generate.HAMD_SETTINGS`` (seed
``HAMD_SEED``); the tolerances come from the standard errors of the estimates.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.patches import Polygon

from bayes_ipd.cli import main
from bayes_ipd.data.visit_means import observed_visit_means
from bayes_ipd.data.visits import repeated_from_frame
from bayes_ipd.datasets import _generate, dataset_path, load_hamd_visits
from bayes_ipd.datasets.catalogue import get_dataset
from bayes_ipd.plots.rows import ForestRow
from bayes_ipd.plots.visits import (
    effect_over_visits_plot,
    visit_forest_plot,
    visit_means_plot,
    visit_positions,
)
from bayes_ipd.two_stage.repeated import two_stage_repeated

matplotlib.use("Agg")

DATA = Path(__file__).parent / "data" / "repeated_visits.csv"  # T10 has no visit 8
LONG = {"study": "study", "treatment": "treat", "outcome": "y", "participant": "id"}
HAMD = {"study": "study", "treatment": "treat", "outcome": "hamd_change", "participant": "id"}
ODD = "<b>x</b>"  # a trial name that must stay text (no markup, no mathtext)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    matplotlib.pyplot.close("all")


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return pd.read_csv(DATA)


@pytest.fixture(scope="module")
def result(rows):
    return two_stage_repeated(rows, **LONG, visit="visit", covariates=["baseline"])


def _means_frame(studies=("A", ODD, "$x^2$")) -> pd.DataFrame:
    records = []
    for s in studies:
        for arm, shift in (("control", 0.0), ("treated", -1.0)):
            for v, m in (("2", 10.0), ("4", 9.0), ("8", 8.0)):
                records.append({"study": s, "arm": arm, "visit": v, "mean": m + shift, "se": 0.5})
    return pd.DataFrame(records)


def _series(shift: float = 0.0) -> pd.DataFrame:
    est = np.array([-1.0, -2.0, -3.0]) + shift
    return pd.DataFrame({"visit": ["2", "4", "8"], "estimate": est, "lower": est - 0.5,
                         "upper": est + 0.5})  # fmt: skip


# ------------------------------------------------------------------- plot functions


def test_visit_positions_are_times_when_numeric():
    assert visit_positions(["2", "4", "8", "12"]).tolist() == [2.0, 4.0, 8.0, 12.0]
    assert visit_positions(["base", "mid", "end"]).tolist() == [0.0, 1.0, 2.0]
    assert visit_positions(["8", "4"]).tolist() == [0.0, 1.0]  # not increasing: by order


def test_means_plot_one_panel_per_trial_one_bar_series_per_arm():
    fig = visit_means_plot(_means_frame(), columns=2)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(fig.axes) == 4 and len(shown) == 3  # 2 x 2 grid, the fourth hidden
    assert [ax.get_title() for ax in shown] == ["A", ODD, "$x^2$"]
    assert not any(ax.title.get_parse_math() for ax in shown)
    for ax in shown:
        assert len(ax.containers) == 2  # control, treated
        control = ax.containers[0].lines[0]
        assert control.get_xdata().tolist() == [2.0, 4.0, 8.0]
        assert control.get_ydata().tolist() == [10.0, 9.0, 8.0]
        # the error bars are mean +- 1.96 se
        segments = ax.containers[0].lines[2][0].get_segments()
        assert segments[0][:, 1] == pytest.approx([10 - 1.959964 * 0.5, 10 + 1.959964 * 0.5])


def test_means_plot_draws_predicted_bands_per_arm():
    means = _means_frame(("A", "B"))
    predicted = means.assign(lower=means["mean"] - 1.0, upper=means["mean"] + 1.0)
    fig = visit_means_plot(means, predicted=predicted[predicted.study == "A"])
    bands = [[c for c in ax.collections if isinstance(c, PolyCollection)] for ax in fig.axes]
    assert [len(b) for b in bands] == [2, 0]  # A: one band per arm; B: none given
    top = bands[0][0].get_paths()[0].vertices[:, 1]
    assert top.min() == pytest.approx(7.0) and top.max() == pytest.approx(11.0)  # control


def test_means_plot_refuses_a_frame_without_its_columns():
    with pytest.raises(ValueError, match=r"means: missing column\(s\) \['se'\]"):
        visit_means_plot(_means_frame().drop(columns="se"))


def test_effect_plot_bands_points_trials_and_an_overlay():
    trials = pd.DataFrame({"study": ["A"] * 3 + ["B"] * 3, "visit": ["2", "4", "8"] * 2,
                           "estimate": [-1, -2, -3, -0.5, -1.5, -2.5]})  # fmt: skip
    fig = effect_over_visits_plot(
        {"two-stage": _series(), "one-stage posterior": _series(0.2)},
        points={"multivariate": _series(-0.1)},
        trials=trials,
        title=ODD,
    )
    (ax,) = fig.axes
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2  # one band per series
    assert len(ax.containers) == 1  # the point series
    labels = [line.get_label() for line in ax.lines]
    assert labels.count("two-stage") == 1 and labels.count("one-stage posterior") == 1
    assert labels.count("trials") == 1 and len(ax.lines) == 2 + 2 + 1 + 3  # + bar lines
    main_line = ax.lines[labels.index("two-stage")]
    assert main_line.get_xdata().tolist() == [2.0, 4.0, 8.0]
    assert main_line.get_ydata().tolist() == [-1.0, -2.0, -3.0]
    assert ax.get_title() == ODD and not ax.title.get_parse_math()


def test_effect_plot_refuses_unknown_visits_and_non_finite_values():
    with pytest.raises(ValueError, match=r"visit\(s\) \['8'\] are not among the visits"):
        effect_over_visits_plot(_series(), visits=["2", "4", "16"])
    bad = _series()
    bad.loc[1, "upper"] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        effect_over_visits_plot({"s": bad})


def test_visit_forest_plot_panels_squares_and_diamonds():
    def rows(drawn_b: bool) -> list[ForestRow]:
        b = ForestRow(ODD, -0.5, -1.5, 0.5, weight=40.0) if drawn_b else ForestRow(
            ODD, np.nan, np.nan, np.nan, style="excluded", note="no visit")  # fmt: skip
        return [ForestRow("A", -1.0, -2.0, 0.0, weight=60.0), b,
                ForestRow("Pooled (REML)", -0.8, -1.4, -0.2, style="pooled")]  # fmt: skip

    fig = visit_forest_plot({"4": rows(True), "8": rows(False)}, notes={"4": "tau2 = 0"})
    assert [ax.get_title() for ax in fig.axes] == ["visit 4", "visit 8"]
    squares = [[ln for ln in ax.lines if ln.get_marker() == "s"] for ax in fig.axes]
    assert [len(s) for s in squares] == [2, 1]  # the excluded trial leaves its row empty
    assert [sum(isinstance(p, Polygon) for p in ax.patches) for ax in fig.axes] == [1, 1]
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == ["A", ODD, "Pooled (REML)"]
    assert not any(t.get_parse_math() for t in fig.axes[0].get_yticklabels())
    assert "tau2 = 0" in [t.get_text() for t in fig.axes[0].texts]


# ------------------------------------------------------------------ result and CLI


def test_observed_means_match_a_groupby(rows):
    data = repeated_from_frame(rows, **LONG, visit="visit")
    means = observed_visit_means(data)
    assert means.shape == (10 * 2 * 3, 7)
    arm = np.where(rows["treat"] == 1, "treated", "control")
    ref = rows.assign(arm=arm).groupby(["study", "arm", "visit"])["y"].agg(["mean", "std", "size"])
    row = means[(means.study == "T3") & (means.arm == "treated") & (means.visit == "8")].iloc[0]
    expected = ref.loc[("T3", "treated", 8)]
    assert row["n"] == expected["size"]
    assert row["mean"] == pytest.approx(expected["mean"], rel=1e-12)
    assert row["se"] == pytest.approx(expected["std"] / np.sqrt(expected["size"]), rel=1e-12)
    t10 = means[(means.study == "T10") & (means.visit == "8")]
    assert (t10["n"] == 0).all() and t10["mean"].isna().all()


def test_result_methods_draw_every_visit_and_trial(result):
    fig = result.plot_forest_by_visit()
    assert [ax.get_title() for ax in fig.axes] == ["visit 4", "visit 8", "visit 12"]
    squares = [sum(ln.get_marker() == "s" for ln in ax.lines) for ax in fig.axes]
    assert squares == [10, 9, 10]  # T10 has no visit 8
    means = result.plot_means()
    titles = [ax.get_title() for ax in means.axes if ax.get_visible()]
    assert titles == list(result.stage_one.studies)


def test_result_effect_plot_draws_the_pooled_and_joint_estimates(result):
    overlay = {"one-stage posterior": _series().assign(visit=["4", "8", "12"])}
    fig = result.plot_effect(overlay=overlay)
    (ax,) = fig.axes
    line = next(ln for ln in ax.lines if ln.get_label().startswith("two-stage, per visit"))
    table = result.summary_by_visit()
    np.testing.assert_allclose(line.get_ydata(), table["estimate"])
    assert line.get_xdata().tolist() == [4.0, 8.0, 12.0]
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2
    (points,) = ax.containers
    np.testing.assert_allclose(points.lines[0].get_ydata(), table["mv_estimate"])
    assert sum(ln.get_label() == "trials" for ln in ax.lines) == 1


def test_cli_writes_the_three_figures(tmp_path, capsys):
    paths = {k: tmp_path / f"{k}.png" for k in ("forest", "plot", "means")}
    argv = ["two-stage", str(DATA), "--study", "study", "--treatment", "treat", "--family",
            "gaussian", "--outcome", "y", "--participant", "id", "--visit", "visit",
            "--between", "cs", "--forest", str(paths["forest"]), "--plot", str(paths["plot"]),
            "--means-plot", str(paths["means"]), "--json"]  # fmt: skip
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["forest_plot"] == str(paths["forest"])
    assert payload["effect_plot"] == str(paths["plot"])
    assert payload["means_plot"] == str(paths["means"])
    assert all(p.stat().st_size > 10_000 for p in paths.values())


def test_cli_figure_options_need_visit(capsys):
    argv = ["two-stage", str(DATA), "--study", "study", "--treatment", "treat", "--family",
            "gaussian", "--outcome", "y", "--plot", "x.png"]  # fmt: skip
    assert main(argv) == 2
    assert "--plot is for repeated measures" in capsys.readouterr().err


# ------------------------------------------------------------------ the shipped set


def test_hamd_visits_is_shipped_as_its_recipe_writes_it():
    shipped = load_hamd_visits()
    assert shipped.shape == (5700, 6)
    assert list(shipped.columns) == ["study", "id", "treat", "week", "baseline", "hamd_change"]
    assert shipped["id"].nunique() == sum(_generate.HAMD_SIZES) == 1700
    assert sorted(shipped["week"].unique()) == [2, 4, 8, 12]
    regenerated, _ = _generate.hamd_visits()
    pd.testing.assert_frame_equal(shipped, regenerated, check_dtype=False)
    assert get_dataset("hamd_visits").path == dataset_path("hamd_visits.csv")
    sources = (dataset_path("SOURCES.md")).read_text(encoding="utf-8")
    assert "hamd_visits.csv" in sources and str(_generate.HAMD_SEED) in sources


def test_two_stage_on_hamd_visits_recovers_the_planted_effects():
    _, truth = _generate.hamd_visits()
    res = two_stage_repeated(load_hamd_visits(), **HAMD, visit="week", covariates=["baseline"])
    table = res.summary_by_visit()
    assert table["visit"].tolist() == ["2", "4", "8", "12"]
    # pooled per visit vs the planted mean effect: within 3 SE (SE includes tau)
    z = (table["estimate"] - truth.effects) / table["se"]
    assert np.abs(z).max() < 3.0
    # each trial's MMRM effect vs its own planted effect: within 4 SE (32 estimates)
    stage = res.stage_one
    se = np.sqrt(np.diagonal(stage.covariance, axis1=1, axis2=2))
    assert np.abs((stage.estimate - truth.theta) / se).max() < 4.0
