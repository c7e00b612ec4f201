"""The rankogram of a Bayesian network meta-analysis, and its figure beside the forest plot.

Frames in, ``Figure`` out; nothing here computes a statistic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import GREY, ONE_STAGE_COLOUR

__all__ = ["posterior_forest_plot", "rankogram_figure", "rankogram_plot"]


def rankogram_plot(
    probabilities: pd.DataFrame, small_values: str, ax: Axes | None = None
) -> Figure:
    """Rank probabilities per treatment: one small bar chart row per treatment.

    Parameters
    ----------
    probabilities : DataFrame
        Rows treatments, columns ranks 1..T (each row sums to 1).
    small_values : str
        ``"desirable"`` or ``"undesirable"`` (said in the title: which rank is best).
    ax : matplotlib Axes, optional
    """
    if ax is None:
        fig = new_figure((6.0, 1.0 + 0.6 * len(probabilities)))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    t = probabilities.shape[1]
    width = 0.8 / t
    ranks = np.arange(len(probabilities))[::-1]
    for r in range(t):
        ax.barh(ranks + (t / 2 - r - 0.5) * width, probabilities.iloc[:, r], height=width,
                color=ONE_STAGE_COLOUR, alpha=1.0 - 0.7 * r / max(t - 1, 1),
                label=f"rank {r + 1}")  # fmt: skip
    ax.set_yticks(ranks, [str(i) for i in probabilities.index])
    ax.set_xlim(0, 1)
    ax.set_xlabel("posterior probability")
    best = "smallest" if small_values == "desirable" else "largest"
    ax.set_title(f"Rank probabilities (rank 1: {best} effect)")
    ax.legend(fontsize="small", frameon=False)
    return fig


def posterior_forest_plot(
    effects: pd.DataFrame, reference: str, scale: str, ax: Axes | None = None
) -> Figure:
    """Each treatment vs the reference: posterior mean and 95% credible interval
    (``effects`` indexed by treatment, columns ``mean, q025, q975``)."""
    if ax is None:
        fig = new_figure((6.0, 1.0 + 0.45 * len(effects)))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    y = np.arange(len(effects))[::-1]
    ax.hlines(y, effects.q025, effects.q975, color=ONE_STAGE_COLOUR, lw=1.5)
    ax.plot(effects["mean"], y, "o", color=ONE_STAGE_COLOUR)
    ax.axvline(0.0, color=GREY, lw=0.8, ls="--")
    ax.set_yticks(y, [str(t) for t in effects.index])
    ax.set_xlabel(f"{scale} vs {reference} (95% CrI)")
    ax.set_title(f"Treatments vs {reference} (one-stage)")
    return fig


def rankogram_figure(
    effects: pd.DataFrame,
    probabilities: pd.DataFrame,
    reference: str,
    scale: str,
    small_values: str,
) -> Figure:
    """The forest plot of the posterior effects beside the rankogram."""
    fig = new_figure((11.0, 1.5 + 0.6 * len(probabilities)), layout="constrained")
    forest, ranks = fig.subplots(1, 2)
    posterior_forest_plot(effects, reference, scale, ax=forest)
    rankogram_plot(probabilities, small_values, ax=ranks)
    return fig
