"""Posterior predictive check: observed statistic per trial and arm over its replicated range.

The axis is chosen from the data (:func:`choose_xscale`): linear by default, logarithmic
for positive statistics spanning orders of magnitude, logit for proportions that do so
(the BCG arms run from 0.1% to 26%: on a linear axis most would sit on zero).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, INK, arm_colours, ordered_arms

__all__ = ["PPC_COLUMNS", "XSCALES", "checked_table", "choose_xscale", "ppc_plot"]

XSCALES: tuple[str, ...] = ("auto", "linear", "log", "logit")
"""Axis scales of :func:`ppc_plot`."""

_SPAN_FOR_LOG = 20.0  # largest / smallest positive value beyond which a linear axis crowds

PPC_COLUMNS: tuple[str, ...] = ("study", "arm", "observed", "rep_mean", "rep_q025", "rep_q975")
"""Columns :func:`ppc_plot` needs (``p_value`` is optional)."""


def choose_xscale(values: pd.Series | list[float]) -> str:
    """The axis for these statistics: ``"linear"``, ``"log"`` or ``"logit"``.

    Non-negative values whose positive part spans more than a factor of 20 would crowd
    near zero on a linear axis: they get a log axis, or a logit axis when they all lie in
    [0, 1] and some exceed 0.5 (the logit spreads both ends of a proportion). Anything
    else, negative values included, keeps a linear axis.

    Examples
    --------
    >>> choose_xscale([0.0016, 0.003, 0.08, 0.26]), choose_xscale([120.5, 131.0])
    ('log', 'linear')
    """
    x = pd.to_numeric(pd.Series(values, dtype=float), errors="coerce").dropna()
    x = x[x.map(math.isfinite)]
    positive = x[x > 0]
    if x.empty or (x < 0).any() or positive.empty:
        return "linear"
    if positive.max() / positive.min() <= _SPAN_FOR_LOG:
        return "linear"
    return "logit" if x.max() <= 1 and positive.max() > 0.5 else "log"


def ppc_plot(
    table: pd.DataFrame,
    *,
    statistic_label: str,
    title: str | None = None,
    xscale: str = "auto",
) -> Figure:
    """Observed statistic per trial and arm over its replicated 95% interval.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per trial and arm with columns ``study, arm, observed, rep_mean,
        rep_q025, rep_q975`` and optionally ``p_value`` (the Bayesian p-value, written at
        the right of each row). It is only read.
    statistic_label : str
        Name of the statistic, the axis label (e.g. ``"Event rate"``).
    title : str, optional
        Figure title.
    xscale : {"auto", "linear", "log", "logit"}
        Axis scale; ``"auto"`` chooses it from the observed and replicated values
        (:func:`choose_xscale`). On a log or logit axis, values of 0 (or 1) are drawn at
        the axis edge and a note under the axis says so.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        A column is missing, a numeric column holds a non-numeric value, or ``xscale`` is
        unknown.
    """
    if xscale not in XSCALES:
        raise ValueError(f"xscale must be one of {XSCALES}, got {xscale!r}")
    frame = _ppc_frame(table)
    values = frame[["observed", "rep_mean", "rep_q025", "rep_q975"]].stack()
    scale = choose_xscale(values) if xscale == "auto" else xscale
    lo, hi = _axis_limits(values, scale)
    clip = _clipper(lo, hi, scale)
    studies = list(dict.fromkeys(frame["study"]))
    arms = ordered_arms(frame["arm"])
    offsets = _arm_offsets(len(arms))
    colours = arm_colours(arms)
    height = 1.4 + 0.22 * len(studies) * max(len(arms), 2)
    fig = new_figure(figsize=(6.4, height), layout="constrained")
    ax = fig.subplots()
    p_ticks, p_labels, p_colours = [], [], []
    for row in frame.itertuples(index=False):
        y = studies.index(row.study) + offsets[arms.index(row.arm)]
        colour = colours[row.arm]
        ax.plot(
            [clip(row.rep_q025), clip(row.rep_q975)],
            [y, y],
            color=colour,
            lw=6,
            alpha=0.35,
            solid_capstyle="butt",
            gid="replicated-interval",
        )
        ax.plot(
            [clip(row.rep_mean)],
            [y],
            marker="|",
            markersize=10,
            mew=1.5,
            color=colour,
            linestyle="none",
            gid="replicated-mean",
        )
        ax.plot(
            [clip(row.observed)],
            [y],
            marker="o",
            markersize=5,
            color=INK,
            linestyle="none",
            zorder=3,
            gid="observed",
        )
        if "p_value" in frame.columns and math.isfinite(row.p_value):
            p_ticks.append(y)
            p_labels.append(f"{row.p_value:.2f}")
            p_colours.append(colour)
    ax.set_yticks(range(len(studies)), studies)
    ax.set_ylim(len(studies) - 0.5, -0.5)
    ax.tick_params(axis="y", length=0, labelsize=FONT_SIZE)
    ax.tick_params(axis="x", labelsize=FONT_SIZE - 0.5)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="0.9", lw=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel(_axis_label(statistic_label, scale, values, lo, hi), fontsize=FONT_SIZE)
    _set_scale(ax, scale, lo, hi)
    if p_ticks:
        _p_value_axis(ax, p_ticks, p_labels, p_colours)
    ax.legend(
        handles=_ppc_handles(arms, colours),
        loc="lower left",
        bbox_to_anchor=(0, 1.0),
        ncol=2,
        frameon=False,
        fontsize=FONT_SIZE - 0.5,
        borderaxespad=0.3,
    )
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold")
    return fig


def _axis_limits(values: pd.Series, scale: str) -> tuple[float, float]:
    """Limits covering the values; on log / logit axes from the positive (and < 1) ones."""
    x = values[values.map(math.isfinite)]
    if scale == "linear" or x.empty:
        return (math.nan, math.nan)
    inside = x[(x > 0) & (x < 1)] if scale == "logit" else x[x > 0]
    if inside.empty:
        return (math.nan, math.nan)
    lo, hi = float(inside.min()) / 1.5, float(inside.max()) * 1.5
    if scale == "logit":
        hi = 1 - (1 - float(inside.max())) / 1.5
    return lo, hi


def _clipper(lo: float, hi: float, scale: str) -> Any:
    """Values outside a log / logit axis's domain drawn at its edge."""
    if scale == "linear" or not math.isfinite(lo):
        return float

    def clip(v: float) -> float:
        return v if not math.isfinite(v) else min(max(v, lo), hi)

    return clip


def _axis_label(label: str, scale: str, values: pd.Series, lo: float, hi: float) -> str:
    if scale == "linear" or not math.isfinite(lo):
        return label
    outside = ((values < lo) | (values > hi)).any()
    name = "log scale" if scale == "log" else "logit scale"
    note = "; values beyond the axis drawn at its edge" if outside else ""
    return f"{label} ({name}{note})"


def _set_scale(ax: Axes, scale: str, lo: float, hi: float) -> None:
    if scale == "linear" or not math.isfinite(lo):
        return
    ax.set_xscale(scale)
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _ppc_frame(table: pd.DataFrame) -> pd.DataFrame:
    return checked_table(table, PPC_COLUMNS[:2], (*PPC_COLUMNS[2:], "p_value"), "PPC")


def checked_table(
    table: pd.DataFrame,
    text: Sequence[str],
    numeric: Sequence[str],
    what: str,
    *,
    required: int | None = None,
    nonnegative: bool = False,
) -> pd.DataFrame:
    """A copy of a figure's input table: ``text`` columns as str, ``numeric`` ones as float.

    ``text`` and the first ``required`` of ``numeric`` (all but the last one by default) must
    be present; the others are kept when present. Messages start with ``what`` (the table's
    name).

    Raises
    ------
    ValueError
        Not a DataFrame, a missing column, a non-numeric (or, with ``nonnegative``, a
        negative) value, naming the column and the value.
    """
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"expected a pandas DataFrame, got {type(table).__name__}")
    required = len(numeric) - 1 if required is None else required
    needed = [*text, *numeric[:required]]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(
            f"{what} table lacks column(s) {', '.join(map(repr, missing))}; "
            f"it has: {', '.join(map(str, table.columns))}"
        )
    present = [c for c in numeric if c in table.columns]
    frame = table[[*text, *present]].copy()
    for column in present:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            raise ValueError(
                f"{what} column {column!r} is not numeric: it holds {frame[column][bad].iloc[0]!r}"
            )
        if nonnegative and (values < 0).any():
            raise ValueError(
                f"{what} column {column!r} must hold non-negative numbers: it holds "
                f"{frame[column][values < 0].iloc[0]!r}"
            )
        frame[column] = values.astype(float)
    for column in text:
        frame[column] = frame[column].astype(str)
    return frame


def _arm_offsets(n_arms: int) -> list[float]:
    if n_arms == 1:
        return [0.0]
    spread = 0.36
    return [-spread / 2 + spread * i / (n_arms - 1) for i in range(n_arms)]


def _p_value_axis(ax: Axes, ticks: list[float], labels: list[str], colours: list[str]) -> None:
    """Bayesian p-values as right-hand tick labels, so the layout makes room for them."""
    right = ax.secondary_yaxis("right")
    right.set_yticks(ticks, labels)
    right.tick_params(length=0, labelsize=FONT_SIZE - 0.5)
    right.spines["right"].set_visible(False)
    right.set_ylabel("Bayesian p-value", fontsize=FONT_SIZE - 0.5, rotation=270, labelpad=12)
    for label, colour in zip(right.get_yticklabels(), colours, strict=True):
        label.set_color(colour)
        value = float(label.get_text())
        if value < 0.05 or value > 0.95:
            label.set_fontweight("bold")


def _ppc_handles(arms: list[str], colours: Mapping[str, str]) -> list[Any]:
    handles: list[Any] = [
        Line2D([], [], color=colours[a], lw=6, alpha=0.35, label=f"{a}: replicated 95%")
        for a in arms
    ]
    handles.append(
        Line2D(
            [],
            [],
            color="0.4",
            marker="|",
            markersize=10,
            mew=1.5,
            linestyle="none",
            label="replicated mean",
        )
    )
    handles.append(
        Line2D([], [], color=INK, marker="o", markersize=5, linestyle="none", label="observed")
    )
    return handles
