"""Survival curves per arm with their bands (one panel per trial), and the hazard ratio over
time as steps with its band: frames in, figures out."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.km import finish_panels, trial_panels
from bayes_ipd.plots.style import FONT_SIZE, GREY, PALETTE

__all__ = ["hazard_ratio_curve_plot", "survival_curves_plot"]


def _band_columns(frame: pd.DataFrame) -> tuple[str, str]:
    """The lower and upper band columns (``q025``/``q975`` or another level's)."""
    qs = sorted(c for c in frame.columns if len(c) == 4 and c[0] == "q" and c[1:].isdigit())
    if len(qs) != 2:
        raise ValueError(f"the frame needs two band columns qLLL and qHHH; it has {list(frame)}")
    return qs[0], qs[1]


def survival_curves_plot(
    frame: pd.DataFrame, *, title: str | None = None, band_label: str = "95% band"
) -> Figure:
    """Posterior survival curve of each arm, one panel per trial.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``study, arm, time, median`` and two band columns (``q025``, ``q975``), as
        :func:`bayes_ipd.checks.survival_estimands.survival_curves` gives; only read.
    title : str, optional
    band_label : str
        Legend text of the band.

    Returns
    -------
    matplotlib.figure.Figure
        Panels in the frame's trial order, four to a row, shared axes and legend.
    """
    if frame.empty:
        raise ValueError("survival_curves_plot needs at least one curve")
    lo, hi = _band_columns(frame)
    curves = {
        trial: dict.fromkeys(rows["arm"]) for trial, rows in frame.groupby("study", sort=False)
    }
    trials, arms, colours, fig, axes = trial_panels(curves, {}, "survival_curves_plot")
    for ax, trial in zip(axes.flat, trials, strict=False):
        for arm in arms:
            rows = frame[(frame["study"] == trial) & (frame["arm"] == arm)]
            if rows.empty:
                continue
            t = rows["time"].to_numpy(dtype=float)
            ax.fill_between(t, rows[lo], rows[hi], color=colours[arm], alpha=0.2, lw=0)
            ax.plot(t, rows["median"], color=colours[arm], lw=1.3, gid="survival-median")
        ax.set_title(trial, fontsize=FONT_SIZE, loc="left")
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=FONT_SIZE - 1)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    finish_panels(axes, len(trials))
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold")
    fig.supxlabel("Time", fontsize=FONT_SIZE)
    fig.supylabel("Survival probability", fontsize=FONT_SIZE)
    handles: list = [Line2D([], [], color=colours[a], lw=1.3, label=a) for a in arms]
    handles.append(Patch(color=GREY, alpha=0.4, label=f"posterior median,\n{band_label}"))
    fig.legend(handles=handles, loc="outside right upper", frameon=False, fontsize=FONT_SIZE - 0.5)
    return fig


def hazard_ratio_curve_plot(
    frame: pd.DataFrame,
    *,
    end: float | None = None,
    title: str | None = None,
    band_label: str = "95% band",
) -> Figure:
    """The hazard ratio over time: a step per interval, its band shaded, on a log axis.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``kind, start, end, median`` and two band columns of the hazard ratio, as
        :func:`bayes_ipd.checks.survival_estimands.hazard_ratio_curve` gives; only read.
    end : float, optional
        Where the last (open) interval is drawn to; default: its start plus the widest
        closed interval (or 1 with a single interval).
    title : str, optional
    band_label : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    if frame.empty:
        raise ValueError("hazard_ratio_curve_plot needs at least one interval")
    lo, hi = _band_columns(frame)
    closed = (
        frame.loc[np.isfinite(frame["end"]), "end"] - frame.loc[np.isfinite(frame["end"]), "start"]
    )
    last = float(frame["start"].max())
    stop = end if end is not None else last + (float(closed.max()) if len(closed) else 1.0)
    fig = new_figure(figsize=(6.0, 3.4), layout="constrained")
    ax = fig.subplots()
    kinds = list(dict.fromkeys(frame["kind"]))
    # the first kind (pooled) is drawn last, on top of the wider new-trial band
    for i, kind in reversed(list(enumerate(kinds))):
        rows = frame[frame["kind"] == kind].sort_values("start")
        edges = np.r_[rows["start"].to_numpy(float), stop]
        colour = PALETTE[i % len(PALETTE)]
        step = {"step": "post", "color": colour}
        alpha = 0.25 if i == 0 else 0.12
        ax.fill_between(
            edges,
            np.r_[rows[lo], rows[lo].iloc[-1]],
            np.r_[rows[hi], rows[hi].iloc[-1]],
            alpha=alpha,
            lw=0,
            **step,
        )
        ax.step(
            edges,
            np.r_[rows["median"], rows["median"].iloc[-1]],
            where="post",
            color=colour,
            lw=1.5,
            label=f"{kind} (median, {band_label})",
            gid="hr-median",
        )
    ax.axhline(1.0, color=GREY, lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(_minor_label))
    ax.set_xlim(0, stop)
    ax.set_xlabel("Time", fontsize=FONT_SIZE)
    ax.set_ylabel("Hazard ratio (treated / control)", fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE - 1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], frameon=False, fontsize=FONT_SIZE - 0.5)
    if title:
        ax.set_title(title, fontsize=11, fontweight="bold", loc="left")
    return fig


def _minor_label(y: float, _pos: int) -> str:
    """Minor ticks of a log axis labelled at 2, 3 and 5 times a power of ten only."""
    if y <= 0:
        return ""
    leading = round(y / 10 ** math.floor(math.log10(y)), 6)
    return f"{y:g}" if leading in (2.0, 3.0, 5.0) else ""
