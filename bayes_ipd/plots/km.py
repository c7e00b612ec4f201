"""Survival posterior predictive check: Kaplan-Meier curves over predictive survival bands."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, arm_colours, ordered_arms

__all__ = ["finish_panels", "km_ppc_plot", "trial_panels"]


def trial_panels(
    observed: Mapping[str, Mapping[str, Any]],
    predicted: Mapping[str, Mapping[str, Any]],
    figure_name: str,
) -> tuple[list[str], list[str], dict[str, Any], Figure, np.ndarray]:
    """The grid of a per-trial survival check: one panel per trial (observed or predicted),
    four to a row, shared axes; returns ``(trials, arms, colours, figure, axes)``.

    Raises
    ------
    ValueError
        There is no trial at all (``figure_name`` says which figure).
    """
    trials = list(dict.fromkeys([*observed, *predicted]))
    if not trials:
        raise ValueError(f"{figure_name} needs at least one trial")
    arms = ordered_arms(a for t in trials for a in [*observed.get(t, {}), *predicted.get(t, {})])
    ncols = min(4, len(trials))
    nrows = math.ceil(len(trials) / ncols)
    fig = new_figure(figsize=(2.5 * ncols + 2.0, 2.1 * nrows + 0.9), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
    return trials, arms, arm_colours(arms), fig, axes


def finish_panels(axes: np.ndarray, n_trials: int) -> None:
    """Hide the grid's unused panels; a panel with an empty one below carries the time
    axis labels."""
    ncols = axes.shape[1]
    for i, ax in enumerate(axes.flat):
        if i >= n_trials:
            ax.set_visible(False)
        elif i + ncols >= n_trials:
            # the panel below is empty: this one carries the time axis labels
            ax.tick_params(axis="x", labelbottom=True)


def km_ppc_plot(
    observed: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
    predicted: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]],
    *,
    title: str | None = None,
) -> Figure:
    """Kaplan-Meier curves per trial and arm over the posterior predictive survival band.

    Parameters
    ----------
    observed : mapping
        ``observed[trial][arm] = (times, survival)``: the Kaplan-Meier estimate, drawn
        as a step function (S(0) = 1 is added when the times start after 0).
    predicted : mapping
        ``predicted[trial][arm] = (times, median, low, high)``: the posterior predictive
        survival curve and its band.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per trial, four to a row, with a shared legend.

    Raises
    ------
    ValueError
        Arrays of one curve differ in length (the trial and arm are named), or there is
        no trial at all.
    """
    trials, arms, colours, fig, axes = trial_panels(observed, predicted, "km_ppc_plot")
    for ax, trial in zip(axes.flat, trials, strict=False):
        for arm in arms:
            if arm in predicted.get(trial, {}):
                _draw_band(ax, trial, arm, predicted[trial][arm], colours[arm])
            if arm in observed.get(trial, {}):
                _draw_km(ax, trial, arm, observed[trial][arm], colours[arm])
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
    # On the right: an "outside upper" legend would collide with the suptitle.
    fig.legend(
        handles=_km_handles(arms, colours),
        loc="outside right upper",
        frameon=False,
        fontsize=FONT_SIZE - 0.5,
    )
    return fig


def _curve_arrays(curve: Sequence[Any], n: int, trial: str, arm: str, what: str) -> list[Any]:
    if len(curve) != n:
        raise ValueError(f"{what} curve of trial {trial!r}, arm {arm!r}: expected {n} arrays")
    arrays = [np.asarray(a, dtype=float).ravel() for a in curve]
    if len({a.size for a in arrays}) != 1:
        sizes = ", ".join(str(a.size) for a in arrays)
        raise ValueError(
            f"{what} curve of trial {trial!r}, arm {arm!r}: arrays of unequal length ({sizes})"
        )
    return arrays


def _draw_km(ax: Axes, trial: str, arm: str, curve: Sequence[Any], colour: str) -> None:
    times, surv = _curve_arrays(curve, 2, trial, arm, "observed")
    if times.size and times[0] > 0:
        times, surv = np.r_[0.0, times], np.r_[1.0, surv]
    ax.step(times, surv, where="post", color=colour, lw=1.3, gid="km-curve")


def _draw_band(ax: Axes, trial: str, arm: str, curve: Sequence[Any], colour: str) -> None:
    times, median, low, high = _curve_arrays(curve, 4, trial, arm, "predicted")
    ax.fill_between(times, low, high, color=colour, alpha=0.2, lw=0, gid="predictive-band")
    ax.plot(times, median, color=colour, lw=1.0, ls="--", gid="predictive-median")


def _km_handles(arms: list[str], colours: Mapping[str, str]) -> list[Any]:
    handles: list[Any] = [Patch(color=colours[a], alpha=0.6, label=a) for a in arms]
    handles.append(
        Line2D([], [], color="0.3", lw=1.3, drawstyle="steps-post", label="Kaplan-Meier")
    )
    handles.append(
        Line2D([], [], color="0.3", lw=1.0, ls="--", label="posterior predictive\nmedian, 95% band")
    )
    return handles
