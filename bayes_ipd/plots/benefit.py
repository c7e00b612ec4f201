"""Individualised effects: calibration for benefit, and median absolute errors of a grid."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, GREY, PALETTE

__all__ = ["calibration_benefit_plot", "ite_grid_plot"]

CALIBRATION_COLUMNS = ("method", "predicted", "observed", "observed_se")
GRID_COLUMNS = ("scenario", "method", "mae")


def _require(table: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{what} needs columns {list(columns)}; missing {missing}")


def calibration_benefit_plot(
    table: pd.DataFrame, *, title: str | None = None, columns: int = 3
) -> Figure:
    """Observed vs predicted treatment effect in groups of predicted benefit, one panel per
    method, with 95% error bars and the line of perfect calibration.

    Parameters
    ----------
    table : DataFrame
        One row per group: ``method``, ``predicted`` (mean predicted ITE), ``observed``
        (difference in arm means) and ``observed_se``; rows with a NaN observed effect are
        skipped. :meth:`bayes_ipd.ite.IECVResult.calibration` makes it.
    title : str, optional
    columns : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> t = pd.DataFrame({"method": ["a", "a"], "predicted": [0.1, 0.5],
    ...                   "observed": [0.2, 0.4], "observed_se": [0.1, 0.1]})
    >>> fig = calibration_benefit_plot(t)
    """
    _require(table, CALIBRATION_COLUMNS, "calibration_benefit_plot")
    methods = list(dict.fromkeys(table["method"]))
    if not methods:
        raise ValueError("calibration_benefit_plot: the table has no rows")
    ncol = max(1, min(columns, len(methods)))
    nrow = math.ceil(len(methods) / ncol)
    fig = new_figure(figsize=(3.2 * ncol, 3.0 * nrow + 0.4), layout="constrained")
    axes = fig.subplots(nrow, ncol, squeeze=False)
    finite = table[np.isfinite(table["observed"].astype(float))]
    values = np.concatenate([finite["predicted"], finite["observed"]]) if len(finite) else [0, 1]
    lo, hi = float(np.min(values)), float(np.max(values))
    pad = 0.1 * (hi - lo or 1.0)
    for i, method in enumerate(methods):
        ax = axes[i // ncol][i % ncol]
        rows = finite[finite["method"] == method]
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=GREY, lw=0.8, ls="--")
        ax.errorbar(
            rows["predicted"],
            rows["observed"],
            yerr=1.96 * rows["observed_se"].astype(float),
            fmt="o",
            ms=4,
            color=PALETTE[i % len(PALETTE)],
            ecolor=GREY,
            elinewidth=0.8,
        )
        ax.set_title(str(method), fontsize=FONT_SIZE)
        ax.set_xlim(lo - pad, hi + pad)
        ax.tick_params(labelsize=FONT_SIZE - 1)
        ax.set_xlabel("predicted effect", fontsize=FONT_SIZE)
        ax.set_ylabel("observed effect", fontsize=FONT_SIZE)
    for j in range(len(methods), nrow * ncol):
        axes[j // ncol][j % ncol].set_visible(False)
    fig.suptitle(title or "Calibration for benefit (held-out trials)", fontsize=FONT_SIZE + 1)
    return fig


def ite_grid_plot(table: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Median absolute error of the predicted ITEs per method (box over replicates), one
    panel per scenario.

    Parameters
    ----------
    table : DataFrame
        ``scenario``, ``method``, ``mae`` (one row per replicate and method), as
        :func:`bayes_ipd.ite.run_grid` returns.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require(table, GRID_COLUMNS, "ite_grid_plot")
    scenarios = list(dict.fromkeys(table["scenario"]))
    if not scenarios:
        raise ValueError("ite_grid_plot: the table has no rows")
    methods = list(dict.fromkeys(table["method"]))
    fig = new_figure(figsize=(4.2 * len(scenarios), 0.3 * len(methods) + 1.6), layout="constrained")
    axes = fig.subplots(1, len(scenarios), squeeze=False)[0]
    for ax, scenario in zip(axes, scenarios, strict=True):
        rows = table[table["scenario"] == scenario]
        data = [rows.loc[rows["method"] == m, "mae"].to_numpy(dtype=float) for m in methods]
        ax.boxplot(data, orientation="horizontal", widths=0.6)
        ax.set_yticks(range(1, len(methods) + 1), methods, fontsize=FONT_SIZE - 1)
        ax.invert_yaxis()
        ax.set_xlabel("median absolute error of ITE", fontsize=FONT_SIZE)
        ax.set_title(str(scenario), fontsize=FONT_SIZE)
        ax.tick_params(axis="x", labelsize=FONT_SIZE - 1)
    fig.suptitle(title or "Individualised effects: error against the truth", fontsize=FONT_SIZE + 1)
    return fig
