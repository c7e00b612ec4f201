"""Trace and rank plots of a few scalar parameters (the report's mu and tau).

Left, each chain's draws in order (a trace); right, the rank plot of Vehtari et al.
(2021): the draws of all chains ranked together, then a histogram of each chain's ranks.
Chains that mix give flat, overlapping histograms; a chain stuck apart sits high at one
end.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, PALETTE

__all__ = ["trace_rank_plot"]


def trace_rank_plot(
    draws: Mapping[str, np.ndarray], *, bins: int = 20, title: str | None = None
) -> Figure:
    """One row per parameter: the trace per chain and the rank histogram per chain.

    Parameters
    ----------
    draws : mapping of str to array of shape (chains, draws)
        Posterior draws of scalar parameters, by label (e.g. ``{"mu": ..., "tau": ...}``).
    bins : int
        Rank histogram bins.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Trace lines carry ``gid="trace"``, rank histograms ``gid="rank"``.

    Raises
    ------
    ValueError
        No parameter, or an array that is not (chains, draws) with finite values (named).
    """
    if not draws:
        raise ValueError("trace_rank_plot: no parameter to draw")
    arrays = {name: _checked(name, values) for name, values in draws.items()}
    fig = new_figure(figsize=(7.2, 1.9 * len(arrays) + 0.5), layout="constrained")
    axes = fig.subplots(len(arrays), 2, squeeze=False)
    for (name, x), (ax_trace, ax_rank) in zip(arrays.items(), axes, strict=True):
        chains, n = x.shape
        ranks = np.argsort(np.argsort(x.ravel())).reshape(x.shape)
        edges = np.linspace(0, chains * n, bins + 1)
        for c in range(chains):
            colour = PALETTE[c % len(PALETTE)]
            ax_trace.plot(x[c], color=colour, lw=0.6, alpha=0.8, gid="trace")
            counts, _ = np.histogram(ranks[c], bins=edges)
            ax_rank.stairs(counts, edges, color=colour, lw=1.0, gid="rank")
        ax_rank.axhline(n / bins, color="0.4", lw=0.8, ls="--")  # what a flat histogram holds
        ax_trace.set_ylabel(name, fontsize=FONT_SIZE)
        ax_trace.set_xlabel("draw", fontsize=FONT_SIZE - 0.5)
        ax_rank.set_xlabel("rank of the draw among all chains", fontsize=FONT_SIZE - 0.5)
        ax_rank.set_ylabel("draws per bin", fontsize=FONT_SIZE - 0.5)
        for ax in (ax_trace, ax_rank):
            ax.tick_params(labelsize=FONT_SIZE - 1)
    axes[0][0].set_title("Trace (one colour per chain)", fontsize=FONT_SIZE)
    axes[0][1].set_title("Rank histogram (flat when the chains mix)", fontsize=FONT_SIZE)
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold")
    return fig


def _checked(name: str, values: np.ndarray) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2 or not np.isfinite(x).all():
        raise ValueError(
            f"trace_rank_plot: {name!r} must be finite draws of shape (chains, draws); "
            f"got shape {x.shape}"
        )
    return x
