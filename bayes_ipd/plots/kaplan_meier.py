"""Kaplan-Meier curves of both arms per trial, small multiples, with the numbers at risk
printed under each panel's time axis as journals print them."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, arm_colours, ordered_arms

__all__ = ["km_overlay_plot", "km_steps", "numbers_at_risk"]

ArmData = tuple[np.ndarray, np.ndarray]
"""``(time, event)`` of one arm's participants."""

_ROW_HEIGHT = 0.17
"""Height of one numbers-at-risk row, in inches."""


def km_steps(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Kaplan-Meier estimate as steps: ``(times, survival)`` from ``(0, 1)``, one step
    at each distinct event time, and a last point at the largest follow-up time."""
    time, event = np.asarray(time, float), np.asarray(event, float)
    death_times, deaths = np.unique(time[event == 1], return_counts=True)
    at_risk = len(time) - np.searchsorted(np.sort(time), death_times, side="left")
    surv = np.cumprod(1.0 - deaths / at_risk)
    end = float(time.max()) if len(time) else 0.0
    last = surv[-1] if len(surv) else 1.0
    return np.r_[0.0, death_times, end], np.r_[1.0, surv, last]


def numbers_at_risk(time: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Participants still followed (time >= t) at each ``t`` of ``at``."""
    ordered = np.sort(np.asarray(time, float))
    return len(ordered) - np.searchsorted(ordered, np.asarray(at, float), side="left")


def km_overlay_plot(
    trials: Mapping[str, Mapping[str, ArmData]],
    *,
    title: str | None = None,
    time_label: str = "Time",
) -> Figure:
    """Kaplan-Meier curves of every arm of every trial, one panel per trial.

    Parameters
    ----------
    trials : mapping
        ``trials[trial][arm] = (time, event)``: each arm's follow-up times and 0/1 events.
    title : str, optional
        Figure title.
    time_label : str
        The time axis's label.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per trial, three to a row, sharing the time axis; censoring marked by
        ticks; under each panel the numbers at risk per arm at the axis's tick times.

    Raises
    ------
    ValueError
        No trial, or an arm whose arrays differ in length (named).
    """
    if not trials:
        raise ValueError("km_overlay_plot needs at least one trial")
    arms = ordered_arms(a for arm_data in trials.values() for a in arm_data)
    colours = arm_colours(arms)
    longest = max(float(np.max(t)) for data in trials.values() for t, _ in data.values())
    ticks = [v for v in MaxNLocator(5).tick_values(0.0, longest) if 0.0 <= v <= longest]
    ncols = min(3, len(trials))
    nrows = math.ceil(len(trials) / ncols)
    table_height = _ROW_HEIGHT * (len(arms) + 1.5)
    fig = new_figure(
        figsize=(3.4 * ncols + 0.8, (2.1 + table_height) * nrows + 0.7), layout="constrained"
    )
    grid = fig.add_gridspec(2 * nrows, ncols, height_ratios=[2.1, table_height] * nrows)
    for i, (trial, data) in enumerate(trials.items()):
        row, col = divmod(i, ncols)
        ax = fig.add_subplot(grid[2 * row, col])
        table = fig.add_subplot(grid[2 * row + 1, col], sharex=ax)
        _draw_trial(ax, trial, data, arms, colours, ticks, time_label)
        _risk_table(table, data, arms, colours, ticks)
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold")
    handles = [Line2D([], [], color=colours[a], lw=1.4, label=a) for a in arms]
    fig.legend(handles=handles, loc="outside right upper", frameon=False, fontsize=FONT_SIZE)
    return fig


def _draw_trial(
    ax: Axes,
    trial: str,
    data: Mapping[str, ArmData],
    arms: list[str],
    colours: Mapping[str, str],
    ticks: list[float],
    time_label: str,
) -> None:
    for arm in arms:
        if arm not in data:
            continue
        time, event = (np.asarray(a, float).ravel() for a in data[arm])
        if len(time) != len(event):
            raise ValueError(f"trial {trial!r}, arm {arm!r}: time and event differ in length")
        steps, surv = km_steps(time, event)
        ax.step(steps, surv, where="post", color=colours[arm], lw=1.3, gid="km-curve")
        censored = np.sort(time[event == 0])
        if len(censored):
            height = surv[np.searchsorted(steps, censored, side="right") - 1]
            ax.plot(censored, height, "|", color=colours[arm], ms=3, mew=0.6, gid="censored")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, ticks[-1] if ticks else None)
    ax.set_xticks(ticks)
    ax.set_xlabel(time_label, fontsize=FONT_SIZE - 0.5, labelpad=1)
    ax.set_ylabel("Survival", fontsize=FONT_SIZE - 0.5)
    ax.set_title(trial, fontsize=FONT_SIZE, loc="left")
    ax.tick_params(labelsize=FONT_SIZE - 1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _risk_table(
    ax: Axes,
    data: Mapping[str, ArmData],
    arms: list[str],
    colours: Mapping[str, str],
    ticks: list[float],
) -> None:
    """The numbers at risk under the curve's axis: one row per arm, the arm's name as the
    row's label, the counts at the time axis's ticks."""
    present = [a for a in arms if a in data]
    for i, arm in enumerate(present):
        counts = numbers_at_risk(np.asarray(data[arm][0], float), np.asarray(ticks))
        for tick, count in zip(ticks, counts, strict=True):
            ax.text(
                tick,
                i,
                f"{count:d}",
                fontsize=FONT_SIZE - 1.5,
                va="center",
                ha="center",
                gid="at-risk",
            )
    ax.set_ylim(len(present) - 0.5, -0.5)
    ax.set_yticks(range(len(present)), present)
    for label, arm in zip(ax.get_yticklabels(), present, strict=True):
        label.set_color(colours[arm])
    ax.tick_params(axis="y", length=0, pad=14, labelsize=FONT_SIZE - 1.5)
    ax.tick_params(axis="x", bottom=False, labelbottom=False)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title("Number at risk", fontsize=FONT_SIZE - 1.5, loc="left", pad=2)
