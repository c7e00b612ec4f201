"""Figures of a network meta-analysis: the network graph and a forest plot vs the reference.

Frames in, ``Figure`` out; nothing here computes a statistic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import GREY, INK, TWO_STAGE_COLOUR

__all__ = ["network_figure", "network_forest_plot", "network_graph_plot"]


def _positions(treatments: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """Treatments on a circle, the first (the reference) at the top."""
    n = len(treatments)
    return {
        t: (
            math.cos(math.pi / 2 - 2 * math.pi * i / n),
            math.sin(math.pi / 2 - 2 * math.pi * i / n),
        )
        for i, t in enumerate(treatments)
    }


def network_graph_plot(
    treatments: tuple[str, ...],
    participants: Mapping[str, int],
    comparisons: pd.DataFrame,
    ax: Axes | None = None,
) -> Figure:
    """The network graph: nodes sized by participants, edges as wide as their trials.

    Parameters
    ----------
    treatments : tuple of str
    participants : Mapping[str, int]
        Participants per treatment.
    comparisons : DataFrame
        Columns ``first, second, trials`` (:meth:`Network.comparison_table`).
    ax : matplotlib Axes, optional

    Returns
    -------
    Figure
    """
    if ax is None:
        fig = new_figure((5.5, 5.0))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    pos = _positions(treatments)
    most_trials = max(int(comparisons.trials.max()), 1)
    for row in comparisons.itertuples():
        (x0, y0), (x1, y1) = pos[row.first], pos[row.second]
        ax.plot([x0, x1], [y0, y1], color=GREY, lw=1 + 7 * row.trials / most_trials, zorder=1)
        # a third of the way along: crossing edges of a square meet at their midpoints
        ax.text(
            x0 + (x1 - x0) / 3,
            y0 + (y1 - y0) / 3,
            str(row.trials),
            fontsize=8,
            color=INK,
            ha="center",
            va="center",
            bbox={"fc": "white", "ec": "none", "pad": 0.5},
        )
    most = max(participants.values())
    for t in treatments:
        x, y = pos[t]
        ax.scatter(
            [x],
            [y],
            s=100 + 1400 * participants[t] / most,
            color=TWO_STAGE_COLOUR,
            zorder=2,
            edgecolors="white",
        )
        ax.text(
            x * 1.45,
            y * 1.32,
            f"{t}\n(n = {participants[t]:,})",
            ha="center",
            va="center",
            fontsize=9,
            color=INK,
        )
    ax.set_xlim(-1.9, 1.9)
    ax.set_ylim(-1.65, 1.65)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("Network (edge labels: trials)")
    return fig


def network_forest_plot(
    effects: pd.DataFrame,
    reference: str,
    scale: str,
    ax: Axes | None = None,
) -> Figure:
    """Each treatment vs the reference: estimate and 95% CI.

    Parameters
    ----------
    effects : DataFrame
        Indexed by treatment, columns ``estimate, ci_low, ci_high``.
    reference : str
    scale : str
        The effect scale's name (x-axis label).
    ax : matplotlib Axes, optional

    Returns
    -------
    Figure
    """
    if ax is None:
        fig = new_figure((6.0, 1.0 + 0.45 * len(effects)))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    y = np.arange(len(effects))[::-1]
    ax.hlines(y, effects.ci_low, effects.ci_high, color=TWO_STAGE_COLOUR, lw=1.5)
    ax.plot(effects.estimate, y, "s", color=TWO_STAGE_COLOUR)
    ax.axvline(0.0, color=GREY, lw=0.8, ls="--")
    ax.set_yticks(y, [str(t) for t in effects.index])
    ax.set_xlabel(f"{scale} vs {reference} (95% CI)")
    ax.set_title(f"Treatments vs {reference}")
    return fig


def network_figure(
    treatments: tuple[str, ...],
    participants: Mapping[str, int],
    comparisons: pd.DataFrame,
    effects: pd.DataFrame,
    scale: str,
) -> Figure:
    """The network graph beside the forest plot vs the reference (``network --plot``)."""
    fig = new_figure((11.0, 5.0), layout="constrained")
    graph, forest = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1.0]})
    network_graph_plot(treatments, participants, comparisons, ax=graph)
    network_forest_plot(effects, treatments[0], scale, ax=forest)
    return fig
