"""Funnel-style figure of published effects, marked by whether the trial supplied IPD.

Trials that supplied participant data and trials that did not (aggregate data only, or
nothing but a publication) are drawn on the same axes: published effect against its
standard error (SE axis inverted, as funnel plots are drawn; Sterne et al. 2011, BMJ
343:d4002), with the pooled estimate of the IPD trials as a vertical line and its pseudo
95% limits (``pooled ± 1.96 SE``). A cluster of non-IPD trials on one side of the line is
what availability bias looks like (Ahmed et al. 2012, BMJ 344:d7762).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, GREY, INK, ONE_STAGE_COLOUR, TWO_STAGE_COLOUR

__all__ = ["availability_funnel_plot"]

_Z = 1.959963984540054  # standard normal 97.5% quantile


def availability_funnel_plot(
    estimates: Sequence[float] | np.ndarray,
    ses: Sequence[float] | np.ndarray,
    supplied_ipd: Sequence[bool] | np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    pooled: float | None = None,
    pooled_label: str = "pooled estimate of the IPD trials",
    xlabel: str = "published effect",
    title: str | None = None,
) -> Figure:
    """Published effect against its SE, trials that supplied IPD and those that did not.

    Parameters
    ----------
    estimates, ses : array-like
        Published effect and its standard error per trial (analysis scale, e.g. log OR).
    supplied_ipd : array-like of bool
        True for a trial that supplied participant data.
    labels : sequence of str, optional
        Trial labels written beside the points.
    pooled : float, optional
        The pooled estimate of the IPD trials: a vertical line and pseudo 95% limits.
    pooled_label, xlabel : str
        Legend entry of the pooled line; x-axis label.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        Unequal lengths, non-finite values, a non-positive SE or no trial at all.

    Examples
    --------
    >>> fig = availability_funnel_plot([-0.5, -0.2, -0.9], [0.2, 0.4, 0.3],
    ...                                [True, True, False], pooled=-0.4)
    >>> fig.axes[0].yaxis_inverted()
    True
    """
    ys = np.asarray(estimates, dtype=np.float64)
    ses_ = np.asarray(ses, dtype=np.float64)
    ipd = np.asarray(supplied_ipd, dtype=bool)
    if not (ys.shape == ses_.shape == ipd.shape) or ys.ndim != 1 or not ys.size:
        raise ValueError(
            f"estimates, ses and supplied_ipd must be equal-length non-empty vectors: "
            f"{ys.shape}, {ses_.shape}, {ipd.shape}"
        )
    if not (np.isfinite(ys).all() and np.isfinite(ses_).all()):
        raise ValueError("every estimate and se must be finite")
    if (ses_ <= 0).any():
        raise ValueError("every se must be positive")
    if labels is not None and len(labels) != len(ys):
        raise ValueError(f"{len(labels)} labels for {len(ys)} trials")
    fig = new_figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.subplots()
    top = float(ses_.max()) * 1.08
    if pooled is not None:
        grid = np.array([0.0, top])
        ax.plot(pooled - _Z * grid, grid, color=GREY, lw=0.8, ls="--")
        ax.plot(pooled + _Z * grid, grid, color=GREY, lw=0.8, ls="--", label="pseudo 95% limits")
        ax.axvline(pooled, color=TWO_STAGE_COLOUR, lw=1.2, label=pooled_label)
    ax.scatter(
        ys[ipd], ses_[ipd], marker="o", s=36, color=TWO_STAGE_COLOUR, zorder=3,
        label=f"supplied IPD ({int(ipd.sum())})",
    )  # fmt: skip
    ax.scatter(
        ys[~ipd], ses_[~ipd], marker="^", s=42, facecolor="none", edgecolor=ONE_STAGE_COLOUR,
        linewidth=1.2, zorder=3, label=f"did not supply IPD ({int((~ipd).sum())})",
    )  # fmt: skip
    if labels is not None:
        for x, y, label in zip(ys, ses_, labels, strict=True):
            ax.annotate(
                str(label), (x, y), fontsize=FONT_SIZE - 2, color=GREY,
                xytext=(4, 3), textcoords="offset points",
            )  # fmt: skip
    ax.set_ylim(top, 0.0)
    ax.set_xlabel(xlabel, fontsize=FONT_SIZE)
    ax.set_ylabel("standard error", fontsize=FONT_SIZE, color=INK)
    ax.tick_params(labelsize=FONT_SIZE)
    ax.legend(fontsize=FONT_SIZE - 1, frameon=True, framealpha=0.85, loc="best")
    if title:
        ax.set_title(title, fontsize=FONT_SIZE + 1)
    return fig
