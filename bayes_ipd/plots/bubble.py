"""Bubble plot of a meta-regression: per-trial estimates against a moderator."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, GREY, INK, TWO_STAGE_COLOUR

__all__ = ["bubble_plot"]

_MAX_AREA = 900.0  # points², the largest bubble


def bubble_plot(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    se: Sequence[float] | np.ndarray,
    *,
    weights: Sequence[float] | np.ndarray | None = None,
    labels: Sequence[str] | None = None,
    line: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    xlabel: str = "moderator",
    ylabel: str = "estimate",
    exponentiate: bool = False,
    title: str | None = None,
) -> Figure:
    """Estimates against a moderator, bubble area proportional to the weight.

    Parameters
    ----------
    x, y, se : array-like
        Moderator value, estimate and its standard error per trial (analysis scale).
    weights : array-like, optional
        Weights (any positive scale); by default ``1 / se²``.
    labels : sequence of str, optional
        Trial labels written beside the bubbles.
    line : (grid, pred, ci_low, ci_high), optional
        The fitted line and its confidence band over ``grid``.
    xlabel, ylabel : str
        Axis labels.
    exponentiate : bool
        Draw the y axis on the ratio scale (log axis, values ``exp(y)``).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        Unequal lengths, non-finite values, or a non-positive SE or weight.

    Examples
    --------
    >>> fig = bubble_plot([10, 30, 50], [-0.1, -0.5, -1.2], [0.2, 0.3, 0.25])
    >>> fig.axes[0].get_xlabel()
    'moderator'
    """
    xs, ys, ses = (np.asarray(a, dtype=np.float64) for a in (x, y, se))
    if not (xs.shape == ys.shape == ses.shape) or xs.ndim != 1:
        raise ValueError(
            f"x, y and se must be equal-length vectors: {xs.shape}, {ys.shape}, {ses.shape}"
        )
    if not (np.isfinite(xs).all() and np.isfinite(ys).all() and np.isfinite(ses).all()):
        raise ValueError("x, y and se must be finite")
    if (ses <= 0).any():
        raise ValueError("every se must be positive")
    w = 1.0 / ses**2 if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != xs.shape or not (w > 0).all():
        raise ValueError("weights must be positive, one per trial")
    if labels is not None and len(labels) != len(xs):
        raise ValueError(f"{len(labels)} labels for {len(xs)} trials")
    transform = np.exp if exponentiate else (lambda a: a)
    fig = new_figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    if line is not None:
        grid, pred, low, high = (np.asarray(a, dtype=np.float64) for a in line)
        ax.fill_between(
            grid, transform(low), transform(high), color=TWO_STAGE_COLOUR, alpha=0.15, lw=0
        )
        ax.plot(grid, transform(pred), color=TWO_STAGE_COLOUR, lw=1.5)
    area = _MAX_AREA * w / w.max()
    ax.scatter(xs, transform(ys), s=area, facecolor="none", edgecolor=INK, linewidth=0.9, zorder=3)
    if labels is not None:
        for xi, yi, label in zip(xs, ys, labels, strict=True):
            ax.annotate(
                str(label),
                (xi, transform(yi)),
                fontsize=FONT_SIZE - 2,
                color=GREY,
                xytext=(4, 4),
                textcoords="offset points",
            )
    _size_key(ax, w)
    if exponentiate:
        ax.set_yscale("log")
        ax.axhline(1.0, color=GREY, lw=0.8, ls="--")
    else:
        ax.axhline(0.0, color=GREY, lw=0.8, ls="--")
    ax.set_xlabel(xlabel, fontsize=FONT_SIZE)
    ax.set_ylabel(ylabel, fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE)
    if title:
        ax.set_title(title, fontsize=FONT_SIZE + 1)
    return fig


def _size_key(ax: Axes, w: np.ndarray) -> None:
    """A legend of reference bubbles: the largest and about half and a tenth of its area,
    labelled by their share of the total weight (area is proportional to weight)."""
    share = 100.0 * w / w.sum()
    top = float(share.max())
    # legend-only markers (not drawn on the axes); a marker's size is its diameter, the
    # square root of a scatter's area
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=float(np.sqrt(_MAX_AREA * fraction)),
            markerfacecolor="none",
            markeredgecolor=INK,
            markeredgewidth=0.9,
        )
        for fraction in (1.0, 0.5, 0.1)
    ]
    labels = [f"{top * fraction:.2g}%" for fraction in (1.0, 0.5, 0.1)]
    ax.legend(
        handles,
        labels,
        title="weight (area ∝ weight)",
        fontsize=FONT_SIZE - 2,
        title_fontsize=FONT_SIZE - 2,
        frameon=False,
        labelspacing=1.6,
        handletextpad=1.8,
        borderpad=1.0,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
    )
