"""The log-cumulative-hazard check: ``log(-log S(t))`` against ``log t`` per trial and arm,
observed (Kaplan-Meier) over the posterior predictive band.

Under proportional hazards the two arms' curves are parallel (a constant vertical gap, the
log hazard ratio); curves that converge, diverge or cross show a hazard ratio that changes
with time; a straight line is a Weibull baseline (slope = its shape).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from bayes_ipd.plots.km import finish_panels, trial_panels
from bayes_ipd.plots.style import FONT_SIZE

__all__ = ["log_cumulative_hazard", "log_cumulative_hazard_plot"]


def log_cumulative_hazard(times: Any, survival: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(log t, log(-log S))`` at the points where both are finite (``0 < t``,
    ``0 < S < 1``)."""
    t = np.asarray(times, dtype=float).ravel()
    s = np.asarray(survival, dtype=float).ravel()
    keep = (t > 0) & (s > 0) & (s < 1)
    return np.log(t[keep]), np.log(-np.log(s[keep]))


def log_cumulative_hazard_plot(
    observed: Mapping[str, Mapping[str, Sequence[Any]]],
    predicted: Mapping[str, Mapping[str, Sequence[Any]]],
    *,
    title: str | None = None,
    band_label: str = "95% band",
) -> Figure:
    """``log(-log S)`` against ``log t`` per trial and arm: Kaplan-Meier steps over the
    posterior predictive band.

    Parameters
    ----------
    observed : mapping
        ``observed[trial][arm] = (times, survival)``, a Kaplan-Meier estimate.
    predicted : mapping
        ``predicted[trial][arm] = (times, median, low, high)``, predictive survival.
    title : str, optional
    band_label : str

    Returns
    -------
    matplotlib.figure.Figure
        One panel per trial, four to a row, shared legend.
    """
    trials, arms, colours, fig, axes = trial_panels(
        observed, predicted, "log_cumulative_hazard_plot"
    )
    for ax, trial in zip(axes.flat, trials, strict=False):
        for arm in arms:
            if arm in predicted.get(trial, {}):
                t, _median, low, high = (np.asarray(a, dtype=float) for a in predicted[trial][arm])
                keep = (t > 0) & (high < 1) & (low > 0)
                # S decreasing in its band: log(-log) is decreasing in S, so high S -> low line
                ax.fill_between(
                    np.log(t[keep]),
                    np.log(-np.log(high[keep])),
                    np.log(-np.log(low[keep])),
                    color=colours[arm],
                    alpha=0.2,
                    lw=0,
                    gid="predictive-band",
                )
            if arm in observed.get(trial, {}):
                x, y = log_cumulative_hazard(*observed[trial][arm])
                ax.step(x, y, where="post", color=colours[arm], lw=1.2, gid="km-curve")
        ax.set_title(trial, fontsize=FONT_SIZE, loc="left")
        ax.tick_params(labelsize=FONT_SIZE - 1)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    finish_panels(axes, len(trials))
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold")
    fig.supxlabel("log time", fontsize=FONT_SIZE)
    fig.supylabel("log cumulative hazard, log(-log S)", fontsize=FONT_SIZE)
    handles: list[Any] = [Patch(color=colours[a], alpha=0.6, label=a) for a in arms]
    handles.append(
        Line2D([], [], color="0.3", lw=1.2, drawstyle="steps-post", label="Kaplan-Meier")
    )
    handles.append(Patch(color="0.3", alpha=0.2, label=f"posterior predictive\n{band_label}"))
    fig.legend(handles=handles, loc="outside right upper", frameon=False, fontsize=FONT_SIZE - 0.5)
    return fig
