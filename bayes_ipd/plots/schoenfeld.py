"""Scaled Schoenfeld residuals of one term against time, one panel per trial: the log hazard
ratio over time as R's ``plot(cox.zph(fit))`` shows it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, GREY, TWO_STAGE_COLOUR
from bayes_ipd.plots.text import fmt_p

__all__ = ["SchoenfeldPanel", "schoenfeld_plot"]


@dataclass(frozen=True)
class SchoenfeldPanel:
    """One trial's residuals of the term.

    Attributes
    ----------
    transformed_time : numpy.ndarray
        The event times on the test's scale (``1 - KM(t-)``), the x positions.
    event_time : numpy.ndarray
        The same events' times (the x axis is labelled in time).
    residuals : numpy.ndarray
        The scaled Schoenfeld residuals of the term (its coefficient over time).
    coefficient : float
        The proportional-hazards estimate (a horizontal line).
    p : float
        The test's p-value for the term.
    """

    transformed_time: np.ndarray
    event_time: np.ndarray
    residuals: np.ndarray
    coefficient: float
    p: float


def schoenfeld_plot(
    panels: Mapping[str, SchoenfeldPanel], *, term: str = "treat", title: str | None = None
) -> Figure:
    """Scaled Schoenfeld residuals against time per trial, with a lowess smooth.

    Parameters
    ----------
    panels : mapping
        ``panels[trial]``: the trial's :class:`SchoenfeldPanel`.
    term : str
        The term's name, for the axis label.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per trial, four to a row; a flat smooth near the dashed line (the
        proportional-hazards estimate) is what proportionality looks like.

    Raises
    ------
    ValueError
        No trial, or a trial's arrays of unequal length (named).
    """
    if not panels:
        raise ValueError("schoenfeld_plot needs at least one trial")
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = new_figure(figsize=(2.6 * ncols + 0.8, 2.2 * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, (trial, panel) in zip(axes.flat, panels.items(), strict=False):
        _draw_panel(ax, trial, panel)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold")
    fig.supxlabel("Time (axis spaced by 1 - Kaplan-Meier, as cox.zph's 'km')", fontsize=FONT_SIZE)
    fig.supylabel(f"Beta(t) for {term} (scaled Schoenfeld residual)", fontsize=FONT_SIZE)
    return fig


def _draw_panel(ax: Axes, trial: str, panel: SchoenfeldPanel) -> None:
    x = np.asarray(panel.transformed_time, float)
    y = np.asarray(panel.residuals, float)
    t = np.asarray(panel.event_time, float)
    if not (len(x) == len(y) == len(t)):
        raise ValueError(f"trial {trial!r}: residual arrays of unequal length")
    ax.scatter(x, y, s=5, color=GREY, alpha=0.6, lw=0, gid="scaled-residuals")
    if len(x) >= 4:
        from statsmodels.nonparametric.smoothers_lowess import lowess

        smooth = lowess(y, x, frac=2 / 3, return_sorted=True)
        ax.plot(smooth[:, 0], smooth[:, 1], color=TWO_STAGE_COLOUR, lw=1.5, gid="lowess")
    ax.axhline(panel.coefficient, color="0.2", lw=0.9, ls="--", gid="ph-estimate")
    ax.axhline(0.0, color=GREY, lw=0.6, ls=":")
    _time_ticks(ax, x, t)
    ax.set_title(f"{trial} ({fmt_p(panel.p)})", fontsize=FONT_SIZE, loc="left")
    ax.tick_params(labelsize=FONT_SIZE - 1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _time_ticks(ax: Axes, x: np.ndarray, t: np.ndarray) -> None:
    """Ticks at the positions of round times (the axis is the transformed time)."""
    if len(t) < 2 or np.ptp(t) == 0:
        return
    times = [v for v in MaxNLocator(4).tick_values(t.min(), t.max()) if t.min() <= v <= t.max()]
    positions = np.interp(times, t, x)
    ax.set_xticks(positions, [f"{v:g}" for v in times])
