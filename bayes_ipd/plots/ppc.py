"""Posterior predictive check: observed statistic per trial and arm over its replicated range."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bayes_ipd.plots.style import FONT_SIZE, INK, arm_colours, ordered_arms

__all__ = ["PPC_COLUMNS", "ppc_plot"]

PPC_COLUMNS: tuple[str, ...] = ("study", "arm", "observed", "rep_mean", "rep_q025", "rep_q975")
"""Columns :func:`ppc_plot` needs (``p_value`` is optional)."""


def ppc_plot(table: pd.DataFrame, *, statistic_label: str, title: str | None = None) -> Figure:
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

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        A column is missing, or a numeric column holds a non-numeric value.
    """
    frame = _ppc_frame(table)
    studies = list(dict.fromkeys(frame["study"]))
    arms = ordered_arms(frame["arm"])
    offsets = _arm_offsets(len(arms))
    colours = arm_colours(arms)
    height = 1.4 + 0.22 * len(studies) * max(len(arms), 2)
    fig = Figure(figsize=(6.4, height), layout="constrained")
    ax = fig.subplots()
    p_ticks, p_labels, p_colours = [], [], []
    for row in frame.itertuples(index=False):
        y = studies.index(row.study) + offsets[arms.index(row.arm)]
        colour = colours[row.arm]
        ax.plot(
            [row.rep_q025, row.rep_q975],
            [y, y],
            color=colour,
            lw=6,
            alpha=0.35,
            solid_capstyle="butt",
            gid="replicated-interval",
        )
        ax.plot(
            [row.rep_mean],
            [y],
            marker="|",
            markersize=10,
            mew=1.5,
            color=colour,
            linestyle="none",
            gid="replicated-mean",
        )
        ax.plot(
            [row.observed],
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
    ax.set_xlabel(statistic_label, fontsize=FONT_SIZE)
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


def _ppc_frame(table: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"expected a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in PPC_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"PPC table lacks column(s) {', '.join(map(repr, missing))}; "
            f"it has: {', '.join(map(str, table.columns))}"
        )
    numeric = [c for c in (*PPC_COLUMNS[2:], "p_value") if c in table.columns]
    frame = table[[*PPC_COLUMNS[:2], *numeric]].copy()
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            raise ValueError(
                f"PPC column {column!r} is not numeric: it holds {frame[column][bad].iloc[0]!r}"
            )
        frame[column] = values.astype(float)
    frame["study"] = frame["study"].astype(str)
    frame["arm"] = frame["arm"].astype(str)
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
