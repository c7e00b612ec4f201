"""Prior density of a parameter over its posterior draws (histogram and boundary-aware KDE)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, PALETTE

__all__ = ["prior_posterior_plot"]


def prior_posterior_plot(
    prior_logpdf: Callable[[np.ndarray], np.ndarray],
    draws: np.ndarray,
    *,
    name: str = "τ",
    xlim: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Posterior draws of a parameter (histogram and KDE) with its prior density.

    Parameters
    ----------
    prior_logpdf : callable
        Log prior density, vectorised over a 1-d array.
    draws : numpy.ndarray
        Posterior draws (any shape; flattened), all finite.
    name : str
        Parameter name for the axis and legend.
    xlim : (float, float), optional
        Axis range. By default from 0 (when every draw is non-negative, as for τ) or the
        0.1% quantile to beyond the 99.9% quantile.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        Fewer than two draws, a non-finite draw (counted), or a prior density that is NaN
        or of the wrong shape.

    Notes
    -----
    The KDE is scipy's Gaussian KDE (Scott's bandwidth); for a non-negative parameter
    it is reflected at zero so that the density does not leak below the boundary
    (Silverman 1986, sec. 2.10).

    Examples
    --------
    >>> from scipy import stats
    >>> draws = np.abs(np.random.default_rng(1).normal(0.3, 0.1, 500))
    >>> fig = prior_posterior_plot(stats.halfnorm(scale=0.5).logpdf, draws)
    >>> fig.axes[0].get_xlabel()
    'τ'
    """
    x = np.asarray(draws, dtype=float).ravel()
    bad = int(np.sum(~np.isfinite(x)))
    if bad:
        raise ValueError(f"draws of {name}: {bad} of {x.size} are not finite")
    if x.size < 2:
        raise ValueError(f"draws of {name}: need at least 2, got {x.size}")
    lo, hi = xlim if xlim is not None else _draw_limits(x)
    if not lo < hi:
        raise ValueError(f"xlim must be increasing, got {(lo, hi)}")
    grid = np.linspace(lo, hi, 400)
    prior = _prior_density(prior_logpdf, grid, name)
    fig = new_figure(figsize=(5.6, 3.6), layout="constrained")
    ax = fig.subplots()
    edges = np.linspace(lo, hi, int(np.clip(np.sqrt(x.size), 15, 60)) + 1)
    counts, _ = np.histogram(x, bins=edges)
    # Normalised by all draws, so draws outside the window are not re-spread inside it.
    ax.stairs(
        counts / (x.size * np.diff(edges)),
        edges,
        fill=True,
        color=PALETTE[0],
        alpha=0.2,
        label=f"posterior draws ({x.size})",
    )
    if np.ptp(x) > 0:
        ax.plot(
            grid,
            _kde(x, grid, reflect=bool(x.min() >= 0 and lo >= 0)),
            color=PALETTE[0],
            lw=1.8,
            label=f"posterior of {name} (KDE)",
        )
    ax.plot(grid, prior, color=PALETTE[1], lw=1.6, ls="--", label=f"prior on {name}")
    ax.set_xlim(lo, hi)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(name, fontsize=FONT_SIZE + 1)
    ax.set_ylabel("Density", fontsize=FONT_SIZE)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=FONT_SIZE - 0.5)
    ax.legend(frameon=False, fontsize=FONT_SIZE - 0.5)
    if title:
        ax.set_title(title, fontsize=11, fontweight="bold", loc="left")
    return fig


def _draw_limits(x: np.ndarray) -> tuple[float, float]:
    q_lo, q_hi = np.quantile(x, [0.001, 0.999])
    span = (q_hi - q_lo) or max(abs(q_hi), 1.0)
    lo = 0.0 if x.min() >= 0 else q_lo - 0.1 * span
    return float(lo), float(q_hi + 0.15 * span)


def _prior_density(
    prior_logpdf: Callable[[np.ndarray], np.ndarray], grid: np.ndarray, name: str
) -> np.ndarray:
    density = np.exp(np.asarray(prior_logpdf(grid), dtype=float))
    if density.shape != grid.shape:
        raise ValueError(
            f"prior log-density of {name} returned shape {density.shape} for {grid.shape} points"
        )
    if np.isnan(density).any():
        raise ValueError(f"prior log-density of {name} is NaN at some points of the axis")
    return density


def _kde(x: np.ndarray, grid: np.ndarray, reflect: bool) -> np.ndarray:
    """Gaussian KDE on ``grid``; with ``reflect``, the mass below 0 is folded back above it."""
    kde = stats.gaussian_kde(x)
    density = kde(grid)
    if reflect:
        density = density + kde(-grid)
    return density
