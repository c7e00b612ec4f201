"""Simulation-based calibration figures: rank histograms and ECDF differences with bands."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, GREY, PALETTE

__all__ = ["coverage_plot", "ecdf_difference_plot", "rank_histogram_plot"]


def rank_histogram_plot(counts: Mapping[str, np.ndarray], *, title: str | None = None) -> Figure:
    """One panel per parameter: rank counts per bin, with the 99% range of a bin's count
    under uniformity (binomial, n replicates, p = 1 / bins).

    Parameters
    ----------
    counts : mapping of parameter name to bin counts
    title : str, optional
    """
    fig = new_figure(figsize=(3.3 * len(counts), 2.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(counts)))
    for ax, (name, c) in zip(axes, counts.items(), strict=True):
        c = np.asarray(c)
        n, b = int(c.sum()), len(c)
        lo, hi = stats.binom.ppf([0.005, 0.995], n, 1.0 / b)
        ax.axhspan(lo, hi, color=GREY, alpha=0.2, lw=0, label="99% range if uniform")
        ax.axhline(n / b, color=GREY, lw=1)
        ax.bar(np.arange(b), c, width=0.9, color=PALETTE[0])
        ax.set_title(name, fontsize=FONT_SIZE + 1, loc="left")
        ax.set_xlabel("rank bin", fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE - 1)
    axes[0].set_ylabel("replicates", fontsize=FONT_SIZE)
    axes[0].legend(frameon=False, fontsize=FONT_SIZE - 1)
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold", x=0.01, ha="left")
    return fig


def ecdf_difference_plot(
    ecdfs: Mapping[str, np.ndarray],
    z: np.ndarray,
    band: tuple[np.ndarray, np.ndarray],
    *,
    title: str | None = None,
) -> Figure:
    """ECDF of the normalised ranks minus the uniform CDF, per parameter, inside the
    simultaneous 95% band (Säilynoja et al. 2022).

    Parameters
    ----------
    ecdfs : mapping of parameter name to ECDF values at ``z``
    z : numpy.ndarray
        Evaluation points in (0, 1].
    band : (lower, upper)
        The band of ``ECDF - z``.
    title : str, optional
    """
    fig = new_figure(figsize=(3.3 * len(ecdfs), 2.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(ecdfs), sharey=True))
    for ax, (name, f) in zip(axes, ecdfs.items(), strict=True):
        ax.fill_between(
            z,
            band[0],
            band[1],
            step="post",
            color=GREY,
            alpha=0.25,
            lw=0,
            label="95% simultaneous band",
        )
        ax.step(z, np.asarray(f) - z, where="post", color=PALETTE[1], lw=1.5)
        ax.axhline(0, color=GREY, lw=0.8)
        ax.set_title(name, fontsize=FONT_SIZE + 1, loc="left")
        ax.set_xlabel("normalised rank", fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE - 1)
    axes[0].set_ylabel("ECDF − uniform", fontsize=FONT_SIZE)
    axes[0].legend(frameon=False, fontsize=FONT_SIZE - 1)
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold", x=0.01, ha="left")
    return fig


def coverage_plot(
    rows: Mapping[str, Mapping[str, tuple[float, float]]],
    *,
    nominal: float = 0.95,
    columns: int = 3,
    title: str | None = None,
) -> Figure:
    """Coverage of 95% intervals by design: one panel per design (``columns`` to a row), a
    dot per interval with ±2 Monte Carlo SE, and the nominal level.

    Parameters
    ----------
    rows : mapping of design name to {interval name: (coverage, MCSE)}
    nominal : float
        Drawn as a vertical line.
    columns : int
        Panels per row.
    title : str, optional
    """
    ncols = min(columns, len(rows))
    nrows = -(-len(rows) // ncols)
    height = 0.3 * max(map(len, rows.values())) + 1.0
    fig = new_figure(figsize=(3.1 * ncols, height * nrows + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharey=True, sharex=True)).ravel()
    for ax in axes[len(rows) :]:
        ax.set_visible(False)
    for ax, (design, intervals) in zip(axes, rows.items(), strict=False):
        names = list(intervals)
        y = np.arange(len(names))[::-1]
        cov = np.array([intervals[n][0] for n in names])
        se = np.array([intervals[n][1] for n in names])
        ax.axvline(nominal, color=GREY, lw=1)
        ax.errorbar(cov, y, xerr=2 * se, fmt="o", color=PALETTE[0], ms=4, capsize=2)
        ax.set_yticks(y, names, fontsize=FONT_SIZE - 1)
        ax.set_title(design, fontsize=FONT_SIZE, loc="left")
        ax.set_xlabel("coverage (±2 MCSE)", fontsize=FONT_SIZE)
        ax.tick_params(axis="x", labelsize=FONT_SIZE - 1)
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold", x=0.01, ha="left")
    return fig
