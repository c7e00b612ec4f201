"""The forest plot of every treatment against the network's reference, both routes overlaid.

One row per treatment: the two-stage estimate with its 95% confidence interval (square,
blue) just above the one-stage posterior median with its 95% credible interval (circle,
orange); when given, each route's 95% interval for a new trial (prediction) is drawn as a
thin dashed line behind its mark. Frames in, ``Figure`` out; nothing here computes a
statistic. Treatment names are drawn as plain text (no mathtext).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bayes_ipd.errors import IPDDataError
from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, GREY, ONE_STAGE_COLOUR, TWO_STAGE_COLOUR

__all__ = ["ROUTE_COLUMNS", "network_overlay_forest_plot"]

ROUTE_COLUMNS = {
    "two-stage": ("estimate", "ci_low", "ci_high"),
    "one-stage": ("median", "q025", "q975"),
}
"""The columns of each route's effects frame: point, lower and upper end."""

_PREDICTION_COLUMNS = {"two-stage": ("pi_low", "pi_high"), "one-stage": ("q025", "q975")}
_MARKS = {"two-stage": ("s", TWO_STAGE_COLOUR, 0.14), "one-stage": ("o", ONE_STAGE_COLOUR, -0.14)}
_LABELS = {
    "two-stage": "two-stage: estimate, 95% CI",
    "one-stage": "one-stage: posterior median, 95% CrI",
}


def _checked(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise IPDDataError(f"{what}: missing column(s) {', '.join(missing)}")
    return frame


def _treatments(frames: list[pd.DataFrame]) -> list[str]:
    """Treatments of every frame, in the order they first appear."""
    return list(dict.fromkeys(str(t) for frame in frames for t in frame.index))


def network_overlay_forest_plot(
    two_stage: pd.DataFrame,
    one_stage: pd.DataFrame,
    reference: str,
    scale: str,
    *,
    two_stage_prediction: pd.DataFrame | None = None,
    one_stage_prediction: pd.DataFrame | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Each treatment vs the reference on both routes (module docstring).

    Parameters
    ----------
    two_stage : DataFrame
        Indexed by treatment, columns ``estimate, ci_low, ci_high``
        (``NetworkResult.effects()``).
    one_stage : DataFrame
        Indexed by treatment, columns ``median, q025, q975`` (``NetworkPosterior.effects()``).
    reference : str
    scale : str
        The effect scale's name (x-axis label).
    two_stage_prediction, one_stage_prediction : DataFrame, optional
        A new trial's intervals: columns ``pi_low, pi_high`` (``NetworkResult.prediction()``)
        and ``q025, q975`` (``NetworkPosterior.prediction()``).
    ax : matplotlib Axes, optional

    Returns
    -------
    Figure
        One y tick per treatment (labels: the treatments), two marks per row.

    Examples
    --------
    >>> two = pd.DataFrame({"estimate": [0.5], "ci_low": [0.1], "ci_high": [0.9]}, index=["B"])
    >>> one = pd.DataFrame({"median": [0.6], "q025": [0.0], "q975": [1.1]}, index=["B"])
    >>> fig = network_overlay_forest_plot(two, one, "A", "log odds ratio")
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['B']
    """
    frames = {
        "two-stage": _checked(two_stage, ROUTE_COLUMNS["two-stage"], "two-stage effects"),
        "one-stage": _checked(one_stage, ROUTE_COLUMNS["one-stage"], "one-stage effects"),
    }
    predictions = {"two-stage": two_stage_prediction, "one-stage": one_stage_prediction}
    treatments = _treatments(list(frames.values()))
    if ax is None:
        fig = new_figure((8.0, 1.8 + 0.55 * len(treatments)), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    rows = {t: float(i) for i, t in enumerate(reversed(treatments))}
    handles = []
    for route, frame in frames.items():
        marker, colour, offset = _MARKS[route]
        point, low, high = ROUTE_COLUMNS[route]
        index = [str(t) for t in frame.index]
        y = np.array([rows[t] + offset for t in index])
        pred = predictions[route]
        if pred is not None:
            p_low, p_high = _PREDICTION_COLUMNS[route]
            pred = _checked(pred, (p_low, p_high), f"{route} prediction")
            pred_y = np.array([rows[str(t)] + offset for t in pred.index])
            ax.hlines(pred_y, pred[p_low], pred[p_high], color=colour, lw=0.9, ls="--",
                      alpha=0.7, zorder=1)  # fmt: skip
        ax.hlines(y, frame[low], frame[high], color=colour, lw=1.8, zorder=2)
        ax.plot(frame[point], y, marker, color=colour, ms=6, ls="none", zorder=3)
        handles.append(Line2D([], [], color=colour, marker=marker, lw=1.8, label=_LABELS[route]))
    if any(p is not None for p in predictions.values()):
        handles.append(Line2D([], [], color=GREY, lw=0.9, ls="--", label="a new trial, 95%"))
    ax.axvline(0.0, color=GREY, lw=0.8, ls=":")
    ax.set_yticks(list(rows.values()), list(rows))
    for tick in ax.get_yticklabels():
        tick.set_parse_math(False)
    ax.set_ylim(-0.7, len(treatments) - 0.3)
    ax.set_xlabel(f"{scale} vs {reference}", parse_math=False)
    ax.set_title(f"Each treatment vs {reference}: both routes", fontsize=FONT_SIZE + 1,
                 parse_math=False)  # fmt: skip
    # below the axes: inside, it would cover a row's marks
    ax.legend(handles=handles, fontsize="small", frameon=False, loc="upper center",
              bbox_to_anchor=(0.5, -0.16), ncol=len(handles))  # fmt: skip
    return fig
