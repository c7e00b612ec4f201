"""Figures of repeated measures: means over visits, the effect over visits, a forest per visit.

* :func:`visit_means_plot`: observed mean outcome over visits per arm, one panel per trial
  (small multiples), with error bars (the mean's confidence interval).
* :func:`effect_over_visits_plot`: the pooled treatment effect at each visit joined over
  time with its interval band; further series (e.g. the one-stage posterior's band) are
  overlaid, point series (e.g. the multivariate estimates) are drawn as dodged points with
  whiskers, and trials' own effects as faint lines.
* :func:`visit_forest_plot`: one forest panel per visit, the trials on shared rows and the
  pooled diamond at the bottom.

Every function takes frames or :class:`~bayes_ipd.plots.rows.ForestRow` values (plain
numbers) and computes no statistic. Visits are labels in order; when every label reads as a
number the x axis is spaced in time (weeks 2, 4, 8, 12), otherwise evenly. Trial names are
drawn as plain text (no mathtext, no markup).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from scipy import stats

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.rows import ForestRow, checked_rows
from bayes_ipd.plots.style import (
    FONT_SIZE,
    GREY,
    INK,
    ONE_STAGE_COLOUR,
    PALETTE,
    TWO_STAGE_COLOUR,
    arm_colours,
    ordered_arms,
)
from bayes_ipd.plots.text import level_text

__all__ = [
    "effect_over_visits_plot",
    "visit_forest_plot",
    "visit_means_plot",
    "visit_positions",
]

_SERIES_COLUMNS = ("visit", "estimate", "lower", "upper")
_MEANS_COLUMNS = ("study", "arm", "visit", "mean", "se")


def visit_positions(visits: Sequence[str]) -> np.ndarray:
    """x positions of the visits: their values when every label is a number, else 0..V-1.

    Examples
    --------
    >>> visit_positions(["2", "4", "8"]).tolist()
    [2.0, 4.0, 8.0]
    >>> visit_positions(["base", "end"]).tolist()
    [0.0, 1.0]
    """
    try:
        values = np.array([float(v) for v in visits], dtype=np.float64)
    except ValueError:
        return np.arange(len(visits), dtype=np.float64)
    if not np.isfinite(values).all() or np.any(np.diff(values) <= 0):
        return np.arange(len(visits), dtype=np.float64)
    return values


def _checked_frame(frame: object, columns: Sequence[str], name: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}")
    return frame


def _visit_order(visits: Sequence[str] | None, *frames: pd.DataFrame) -> list[str]:
    if visits is not None:
        return [str(v) for v in visits]
    seen: list[str] = []
    for frame in frames:
        seen += [str(v) for v in frame["visit"]]
    return list(dict.fromkeys(seen))


def _x_of(labels: pd.Series, order: Sequence[str], positions: np.ndarray, name: str) -> np.ndarray:
    index = {v: i for i, v in enumerate(order)}
    text = [str(v) for v in labels]
    unknown = [v for v in dict.fromkeys(text) if v not in index]
    if unknown:
        raise ValueError(f"{name}: visit(s) {unknown} are not among the visits {list(order)}")
    return positions[[index[v] for v in text]]


def _visit_axis(ax: Axes, order: Sequence[str], positions: np.ndarray, label: str) -> None:
    ax.set_xticks(positions, list(order))
    ax.set_xlabel(label, fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE)
    pad = 0.06 * (positions[-1] - positions[0]) if positions.size > 1 else 0.5
    ax.set_xlim(positions[0] - pad, positions[-1] + pad)


def _grid(n: int, columns: int | None) -> tuple[int, int]:
    cols = columns or min(n, 4)
    cols = max(1, min(cols, n))
    return math.ceil(n / cols), cols


# ------------------------------------------------------------------- means over visits


def visit_means_plot(
    means: pd.DataFrame,
    *,
    visits: Sequence[str] | None = None,
    level: float = 0.95,
    outcome_label: str = "mean outcome",
    visit_label: str = "visit",
    columns: int | None = None,
    title: str | None = None,
    predicted: pd.DataFrame | None = None,
    predicted_label: str = "predicted",
) -> Figure:
    """Observed mean outcome over visits per arm, one panel per trial (shared y axis).

    Parameters
    ----------
    means : DataFrame
        Columns ``study, arm, visit, mean, se`` (e.g.
        :func:`bayes_ipd.data.visit_means.observed_visit_means`); rows with a NaN mean
        (nobody observed) are left out, a NaN ``se`` draws no error bar.
    visits : sequence of str, optional
        The visits in order (default: as they first appear in ``means``).
    level : float
        The error bars are ``mean +- z se`` at this level.
    outcome_label, visit_label : str
        Axis labels.
    columns : int, optional
        Panels per row (default: up to four).
    title : str, optional
        Figure title.
    predicted : DataFrame, optional
        Columns ``study, arm, visit, lower, upper``: an interval per trial, arm and visit
        drawn as a band in the arm's colour behind the observed means (e.g. the posterior
        predictive interval of the visit means, a PPC).
    predicted_label : str
        The bands' legend label.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per trial (in order of first appearance), titled with the trial's name,
        one line with error bars per arm (``control`` first), and with ``predicted`` one
        band (``PolyCollection``) per arm.

    Raises
    ------
    ValueError
        A missing column, an empty frame, a visit not in ``visits``.

    Examples
    --------
    >>> frame = pd.DataFrame({"study": ["A"] * 4, "arm": ["control", "control",
    ...     "treated", "treated"], "visit": ["4", "8", "4", "8"],
    ...     "mean": [10.0, 9.5, 9.0, 8.0], "se": [0.3, 0.3, 0.3, 0.4]})
    >>> visit_means_plot(frame).axes[0].get_title()
    'A'
    """
    means = _checked_frame(means, _MEANS_COLUMNS, "means")
    if means.empty:
        raise ValueError("means: no rows")
    if predicted is not None:
        predicted = _checked_frame(predicted, _PREDICTED_COLUMNS, "predicted")
    order = _visit_order(visits, means)
    positions = visit_positions(order)
    studies = list(dict.fromkeys(str(s) for s in means["study"]))
    arms = ordered_arms(str(a) for a in means["arm"])
    colours = arm_colours(arms)
    z = float(stats.norm.isf((1.0 - level) / 2.0))
    nrows, ncols = _grid(len(studies), columns)
    fig = new_figure(figsize=(2.6 * ncols + 0.6, 2.2 * nrows + 0.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False))
    flat = list(axes.ravel())
    for ax, study in zip(flat, studies, strict=False):
        rows = means[means["study"].astype(str) == study]
        if predicted is not None:
            _predicted_bands(ax, predicted, study, arms, colours, order, positions, predicted_label)
        for arm in arms:
            part = rows[(rows["arm"].astype(str) == arm) & rows["mean"].notna()]
            if part.empty:
                continue
            x = _x_of(part["visit"], order, positions, "means")
            ax.errorbar(
                x,
                part["mean"].to_numpy(float),
                yerr=z * part["se"].to_numpy(float),
                color=colours[arm],
                marker="o",
                markersize=3.5,
                linewidth=1.4,
                capsize=2.5,
                label=arm,
            )
        ax.set_title(study, fontsize=FONT_SIZE + 0.5, parse_math=False)
        bottom = flat.index(ax) + ncols >= len(studies)
        _visit_axis(ax, order, positions, visit_label if bottom else "")
        if bottom:
            ax.xaxis.set_tick_params(labelbottom=True)
        ax.grid(axis="y", color="0.92", linewidth=0.6)
    for ax in flat[len(studies) :]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel(outcome_label, fontsize=FONT_SIZE)
    handles, labels = flat[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=max(1, len(arms)),
        frameon=False,
        fontsize=FONT_SIZE,
        title=f"observed mean, {level_text(level)} CI",
        title_fontsize=FONT_SIZE,
    )
    if title:
        fig.suptitle(title, fontsize=FONT_SIZE + 1, parse_math=False)
    return fig


_PREDICTED_COLUMNS = ("study", "arm", "visit", "lower", "upper")


def _predicted_bands(
    ax: Axes,
    predicted: pd.DataFrame,
    study: str,
    arms: Sequence[str],
    colours: Mapping[str, str],
    order: Sequence[str],
    positions: np.ndarray,
    label: str,
) -> None:
    rows = predicted[predicted["study"].astype(str) == study]
    for arm in arms:
        part = rows[rows["arm"].astype(str) == arm]
        if part.empty:
            continue
        x = _x_of(part["visit"], order, positions, "predicted")
        rank = np.argsort(x)
        lo = part["lower"].to_numpy(float)[rank]
        hi = part["upper"].to_numpy(float)[rank]
        ax.fill_between(x[rank], lo, hi, color=colours[arm], alpha=0.15, linewidth=0,
                        label=f"{arm}: {label}")  # fmt: skip


# ------------------------------------------------------------------ effect over visits


def effect_over_visits_plot(
    series: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    points: Mapping[str, pd.DataFrame] | None = None,
    trials: pd.DataFrame | None = None,
    visits: Sequence[str] | None = None,
    level: float = 0.95,
    effect_label: str = "treatment effect (mean difference)",
    visit_label: str = "visit",
    reference: float | None = 0.0,
    title: str | None = None,
    colours: Sequence[str] | None = None,
) -> Figure:
    """The treatment effect at each visit joined over time, with its interval band.

    Parameters
    ----------
    series : DataFrame or mapping of str to DataFrame
        Columns ``visit, estimate, lower, upper``. Each series is a line through its
        estimates with a shaded band between ``lower`` and ``upper``; a mapping of legend
        label to frame overlays several (e.g. ``{"two-stage, per visit": ...,
        "one-stage posterior": ...}``), each in its own colour.
    points : mapping of str to DataFrame, optional
        Further estimates with the same columns drawn as points with whiskers, dodged
        sideways (e.g. ``{"multivariate REML": ...}``).
    trials : DataFrame, optional
        Columns ``study, visit, estimate``: each trial's own effects, drawn as faint grey
        lines.
    visits : sequence of str, optional
        The visits in order (default: as they first appear).
    level : float
        Level of the bands, for the legend.
    effect_label, visit_label : str
        Axis labels.
    reference : float or None
        Horizontal line of no effect.
    title : str, optional
    colours : sequence of str, optional
        Colours of the series then the point series, in order (default: two-stage,
        one-stage, then the palette).

    Returns
    -------
    matplotlib.figure.Figure
        One axes: a line and a band (``PolyCollection``) per series, an error-bar
        container per point series, a line per trial.

    Raises
    ------
    ValueError
        A missing column, a non-finite value, a visit not in ``visits``.

    Examples
    --------
    >>> frame = pd.DataFrame({"visit": ["4", "8"], "estimate": [-1.0, -2.0],
    ...                       "lower": [-1.5, -2.6], "upper": [-0.5, -1.4]})
    >>> len(effect_over_visits_plot(frame).axes[0].collections)
    1
    """
    lines = {"": series} if isinstance(series, pd.DataFrame) else dict(series)
    dots = dict(points or {})
    for label, frame in (lines | dots).items():
        _series_values(frame, label)
    frames = [*lines.values(), *dots.values()]
    if trials is not None:
        frames.append(_checked_frame(trials, ("study", "visit", "estimate"), "trials"))
    order = _visit_order(visits, *frames)
    positions = visit_positions(order)
    palette = tuple(colours) if colours else (TWO_STAGE_COLOUR, ONE_STAGE_COLOUR, *PALETTE[2:])
    fig = new_figure(figsize=(5.6, 3.6), layout="constrained")
    ax = fig.subplots()
    if trials is not None:
        _trial_lines(ax, trials, order, positions)
    for i, (label, frame) in enumerate(lines.items()):
        colour = palette[i % len(palette)]
        x = _x_of(frame["visit"], order, positions, f"series {label!r}")
        est, lo, hi = _series_values(frame, label)
        band = f"{label}: {level_text(level)} band" if label else f"{level_text(level)} CI"
        ax.fill_between(x, lo, hi, color=colour, alpha=0.2, linewidth=0, label=band)
        ax.plot(x, est, color=colour, marker="o", markersize=4, linewidth=1.8,
                label=label or "pooled estimate")  # fmt: skip
    spacing = float(np.min(np.diff(positions))) if positions.size > 1 else 1.0
    for j, (label, frame) in enumerate(dots.items()):
        colour = palette[(len(lines) + j) % len(palette)]
        shift = spacing * 0.06 * (j + 1)
        x = _x_of(frame["visit"], order, positions, f"points {label!r}") + shift
        est, lo, hi = _series_values(frame, label)
        ax.errorbar(x, est, yerr=np.vstack([est - lo, hi - est]), fmt="s", markersize=4,
                    color=colour, capsize=2.5, linewidth=1.2, label=label)  # fmt: skip
    if reference is not None:
        ax.axhline(reference, color=GREY, linewidth=0.8, linestyle="--")
    _visit_axis(ax, order, positions, visit_label)
    ax.set_ylabel(effect_label, fontsize=FONT_SIZE)
    fig.legend(loc="outside lower center", ncols=2, fontsize=FONT_SIZE - 0.5, frameon=False)
    if title:
        ax.set_title(title, fontsize=FONT_SIZE + 1, parse_math=False)
    return fig


def _series_values(frame: object, label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    name = f"series {label!r}" if label else "series"
    checked = _checked_frame(frame, _SERIES_COLUMNS, name)
    values = checked[["estimate", "lower", "upper"]].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError(f"{name}: non-finite estimate or interval")
    return values[:, 0], values[:, 1], values[:, 2]


def _trial_lines(
    ax: Axes, trials: pd.DataFrame, order: Sequence[str], positions: np.ndarray
) -> None:
    first = True
    for _, part in trials.groupby(trials["study"].astype(str), sort=False):
        part = part[np.isfinite(part["estimate"].to_numpy(float))]
        x = _x_of(part["visit"], order, positions, "trials")
        rank = np.argsort(x)
        ax.plot(x[rank], part["estimate"].to_numpy(float)[rank], color=GREY, alpha=0.45,
                linewidth=0.8, label="trials" if first else None)  # fmt: skip
        first = False


# --------------------------------------------------------------------- forest per visit


def visit_forest_plot(
    rows_by_visit: Mapping[str, Sequence[ForestRow]],
    *,
    level: float = 0.95,
    xlabel: str = "Mean difference",
    visit_title: str = "visit {visit}",
    notes: Mapping[str, str] | None = None,
    reference: float | None = 0.0,
    title: str | None = None,
) -> Figure:
    """One forest panel per visit: the trials on shared rows, the pooled diamond below.

    Parameters
    ----------
    rows_by_visit : mapping of str to sequence of ForestRow
        Visit label (in order) to its rows (as
        :func:`bayes_ipd.two_stage.forest_rows.two_stage_rows` makes them): trial rows
        (``"study"``; ``"excluded"`` ones, e.g. a trial without the visit, leave their row
        empty), then the ``"pooled"`` row and optionally the ``"prediction"`` row. Trials
        are matched across visits by label; the first panel names them.
    level : float
        Level of the intervals, for the axis label.
    xlabel : str
        The measure's name.
    visit_title : str
        Panel title, ``{visit}`` replaced by the visit.
    notes : mapping of str to str, optional
        A line above each panel (e.g. the pooled estimate and tau2), by visit.
    reference : float or None
        Vertical line of no effect.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes per visit, sharing the y axis: a square (area by weight) and whisker per
        drawn trial, a diamond (``Polygon``) per pooled row, a bar per prediction row.

    Raises
    ------
    ValueError
        No visit, or a row that is not a ForestRow.

    Examples
    --------
    >>> rows = [ForestRow("A", -1.0, -2.0, 0.0, weight=60.0),
    ...         ForestRow("B", -0.5, -1.5, 0.5, weight=40.0),
    ...         ForestRow("Pooled", -0.8, -1.4, -0.2, style="pooled")]
    >>> fig = visit_forest_plot({"4": rows, "8": rows})
    >>> [ax.get_title() for ax in fig.axes]
    ['visit 4', 'visit 8']
    """
    panels = {str(v): checked_rows(r, f"rows_by_visit[{v!r}]") for v, r in rows_by_visit.items()}
    if not panels:
        raise ValueError("rows_by_visit: no visit")
    trials = list(
        dict.fromkeys(r.label for rows in panels.values() for r in rows if r.style in _TRIAL)
    )
    summary = max(sum(r.style not in _TRIAL for r in rows) for rows in panels.values())
    height = len(trials) + summary + 1
    fig = new_figure(figsize=(1.6 + 2.4 * len(panels), 0.8 + 0.26 * height), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True, squeeze=False)).ravel()
    ypos = {label: float(len(trials) - i + summary + 0.5) for i, label in enumerate(trials)}
    for ax, (visit, rows) in zip(axes, panels.items(), strict=True):
        _forest_panel(ax, rows, ypos, summary)
        head = visit_title.format(visit=visit)
        note = (notes or {}).get(visit)
        ax.set_title(head, fontsize=FONT_SIZE + 0.5, parse_math=False, pad=14 if note else 6)
        if note:
            ax.text(0.5, 1.01, note, transform=ax.transAxes, ha="center", va="bottom",
                    fontsize=FONT_SIZE - 1.5, color=GREY, parse_math=False)  # fmt: skip
        ax.set_xlabel(f"{xlabel} ({level_text(level)} CI)", fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE)
        if reference is not None:
            ax.axvline(reference, color=GREY, linewidth=0.8, linestyle="--")
    labels = {**ypos, **_summary_labels(panels, summary)}
    ticks = sorted(labels.items(), key=lambda item: -item[1])
    axes[0].set_yticks([y for _, y in ticks], [name for name, _ in ticks])
    for tick in axes[0].get_yticklabels():
        tick.set_parse_math(False)
    axes[0].set_ylim(0.3, height + 0.2)
    if title:
        fig.suptitle(title, fontsize=FONT_SIZE + 1, parse_math=False)
    return fig


_TRIAL = ("study", "shrunken", "excluded")


def _summary_labels(panels: Mapping[str, list[ForestRow]], summary: int) -> dict[str, float]:
    """y of the summary rows, labelled as the panel with the most of them labels them."""
    rows = max(panels.values(), key=lambda r: sum(x.style not in _TRIAL for x in r))
    below = [r for r in rows if r.style not in _TRIAL]
    return {r.label: float(summary - i) for i, r in enumerate(below)}


def _forest_panel(
    ax: Axes, rows: Sequence[ForestRow], ypos: Mapping[str, float], summary: int
) -> None:
    weights = [r.weight for r in rows if r.style == "study" and r.weight]
    top = max(weights) if weights else 1.0
    below = [r for r in rows if r.style not in _TRIAL]
    for row in rows:
        if row.style in _TRIAL:
            if not row.drawn:
                continue
            y = ypos[row.label]
            ax.plot([row.ci_low, row.ci_high], [y, y], color=INK, linewidth=0.9)
            size = 3.0 + 6.0 * math.sqrt((row.weight or top) / top)
            marker = "o" if row.style == "shrunken" else "s"
            ax.plot([row.estimate], [y], marker=marker, markersize=size, color=TWO_STAGE_COLOUR,
                    markeredgecolor=INK, markeredgewidth=0.4, linestyle="none")  # fmt: skip
    for i, row in enumerate(below):
        y = float(summary - i)
        if not row.drawn:
            continue
        if row.style == "pooled":
            corners = [(row.ci_low, y), (row.estimate, y + 0.3), (row.ci_high, y),
                       (row.estimate, y - 0.3)]  # fmt: skip
            ax.add_patch(Polygon(corners, closed=True, facecolor=INK, edgecolor=INK))
        else:
            ax.plot([row.ci_low, row.ci_high], [y, y], color=GREY, linewidth=3.0,
                    solid_capstyle="butt")  # fmt: skip
    ax.axhline(summary + 0.5, color="0.85", linewidth=0.6)
