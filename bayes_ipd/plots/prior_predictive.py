"""Prior predictive check before fitting: implied τ, pooled effect and per-trial outcomes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, INK, PALETTE, arm_colours, ordered_arms

__all__ = ["prior_predictive_plot"]


def _density_panel(
    ax, draws: np.ndarray, logpdf: Callable[[np.ndarray], np.ndarray], name: str
) -> None:
    x = np.asarray(draws, dtype=float).ravel()
    lo, hi = np.quantile(x, [0.005, 0.995])
    lo = 0.0 if x.min() >= 0 else lo
    edges = np.linspace(lo, hi, 41)
    counts, _ = np.histogram(x, bins=edges)
    ax.stairs(
        counts / (x.size * np.diff(edges)),
        edges,
        fill=True,
        color=PALETTE[0],
        alpha=0.3,
        label=f"prior draws ({x.size})",
    )
    grid = np.linspace(lo, hi, 300)
    ax.plot(grid, np.exp(logpdf(grid)), color=PALETTE[1], lw=1.5, ls="--", label="prior density")
    q = np.quantile(x, [0.025, 0.5, 0.975])
    ax.set_title(
        f"{name}: 2.5/50/97.5% = {q[0]:.3g} / {q[1]:.3g} / {q[2]:.3g}",
        fontsize=FONT_SIZE,
        loc="left",
    )
    ax.set_xlabel(name, fontsize=FONT_SIZE)
    ax.set_ylabel("Density", fontsize=FONT_SIZE)
    ax.legend(frameon=False, fontsize=FONT_SIZE - 1)


def _outcome_panel(ax, table: pd.DataFrame, label: str) -> None:
    studies = list(dict.fromkeys(table["study"]))
    arms = ordered_arms(table["arm"])
    colours = arm_colours(arms)
    for row in table.itertuples(index=False):
        y = studies.index(row.study) + (0.15 if row.arm == arms[-1] else -0.15)
        ax.plot([row.rep_q025, row.rep_q975], [y, y], color=colours[row.arm], lw=2)
        ax.plot([row.observed], [y], "o", color=INK, ms=3)
    ax.set_yticks(range(len(studies)), studies, fontsize=FONT_SIZE - 1)
    ax.invert_yaxis()
    ax.set_xlabel(f"{label}: prior predictive 95% range (observed: dot)", fontsize=FONT_SIZE)
    for arm in arms:
        ax.plot([], [], color=colours[arm], lw=2, label=arm)
    ax.legend(frameon=False, fontsize=FONT_SIZE - 1)


def prior_predictive_plot(
    tau: np.ndarray,
    tau_logpdf: Callable[[np.ndarray], np.ndarray],
    effect: np.ndarray,
    effect_logpdf: Callable[[np.ndarray], np.ndarray],
    outcomes: pd.DataFrame,
    *,
    outcome_label: str,
    title: str | None = None,
) -> Figure:
    """Three panels: prior draws of τ and of the pooled effect (with their densities), and
    each trial's and arm's outcome statistic replicated from the prior.

    Parameters
    ----------
    tau, effect : numpy.ndarray
        Prior draws.
    tau_logpdf, effect_logpdf : callable
        Log prior densities (on τ, on the effect).
    outcomes : pandas.DataFrame
        Columns ``study, arm, observed, rep_q025, rep_q975`` (one statistic).
    outcome_label : str
        Name of the outcome statistic.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    k = outcomes["study"].nunique()
    fig = new_figure(figsize=(11.0, max(3.4, 1.2 + 0.3 * k)), layout="constrained")
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.3]})
    _density_panel(axes[0], tau, tau_logpdf, "τ")
    _density_panel(axes[1], effect, effect_logpdf, "pooled effect μ")
    _outcome_panel(axes[2], outcomes, outcome_label)
    for ax in axes:
        ax.tick_params(labelsize=FONT_SIZE - 1)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold", x=0.01, ha="left")
    return fig
