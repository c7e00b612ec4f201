"""Hanging rootogram: observed frequencies of a discrete outcome against their replicates.

One panel per trial (rows) and arm (columns). For each category (a count 0, 1, 2, 3+ or an
ordinal level) the bar of height ``sqrt(observed)`` hangs from the point ``sqrt(expected)``
(the replicated mean), so a bar ending above 0 means the category is observed less often
than the model predicts, below 0 more often (Kleiber & Zeileis 2016, "Visualizing count
data regressions using rootograms", The American Statistician 70:296). The square root
puts deviations of rare and common categories on a comparable scale. The replicated 95%
interval is drawn as a line through each point.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.ppc import checked_table
from bayes_ipd.plots.style import FONT_SIZE, GREY, INK, arm_colours, ordered_arms

__all__ = ["ROOTOGRAM_COLUMNS", "rootogram_plot"]

ROOTOGRAM_COLUMNS: tuple[str, ...] = ("study", "arm", "category", "observed", "rep_mean")
"""Columns :func:`rootogram_plot` needs (``rep_q025`` and ``rep_q975`` are optional)."""

_NUMERIC = ("observed", "rep_mean", "rep_q025", "rep_q975")


def rootogram_plot(
    table: pd.DataFrame,
    *,
    value_label: str = "proportion of participants",
    title: str | None = None,
    category_label: str | None = None,
) -> Figure:
    """Hanging rootogram per trial and arm.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per trial, arm and category with columns ``study, arm, category,
        observed, rep_mean`` and optionally ``rep_q025, rep_q975`` (the replicated 95%
        interval). Frequencies must be non-negative (proportions or counts). Categories are
        drawn in the order they first appear. It is only read.
    value_label : str
        What the frequencies are; the axis reads ``sqrt(<value_label>)``.
    title : str, optional
        Figure title.
    category_label : str, optional
        The x-axis label. By default ``"count"`` when the table's ``statistic`` column names
        count frequencies (``count_0``, ..., as the count families' predictive check
        writes) or a category reads like ``3+``, else ``"category"`` (ordinal levels).

    Returns
    -------
    matplotlib.figure.Figure
        The observed bars carry ``gid="observed"``, the replicated means
        ``gid="replicated-mean"`` and their intervals ``gid="replicated-interval"``.

    Raises
    ------
    ValueError
        A column is missing, or a frequency is non-numeric or negative.

    Examples
    --------
    >>> rows = pd.DataFrame({"study": "T1", "arm": "control", "category": ["0", "1", "2+"],
    ...                      "observed": [0.5, 0.3, 0.2], "rep_mean": [0.45, 0.35, 0.2]})
    >>> fig = rootogram_plot(rows)
    """
    frame = _rootogram_frame(table)
    studies = list(dict.fromkeys(frame["study"]))
    arms = ordered_arms(frame["arm"])
    categories = list(dict.fromkeys(frame["category"]))
    colours = arm_colours(arms)
    fig = new_figure(
        figsize=(2.6 * len(arms) + 1.0, 0.9 + 1.35 * len(studies)), layout="constrained"
    )
    axes = fig.subplots(len(studies), len(arms), sharex=True, sharey=True, squeeze=False)
    x_of = {c: i for i, c in enumerate(categories)}
    for (study, arm), rows in frame.groupby(["study", "arm"], sort=False):
        ax = axes[studies.index(study), arms.index(arm)]
        x = rows["category"].map(x_of).to_numpy(dtype=float)
        obs = np.sqrt(rows["observed"].to_numpy())
        exp = np.sqrt(rows["rep_mean"].to_numpy())
        bars = ax.bar(x, obs, bottom=exp - obs, width=0.7, color=colours[arm], alpha=0.45)
        for patch in bars.patches:
            patch.set_gid("observed")
        if {"rep_q025", "rep_q975"} <= set(rows.columns):
            ax.vlines(
                x,
                np.sqrt(rows["rep_q025"].to_numpy()),
                np.sqrt(rows["rep_q975"].to_numpy()),
                color=INK,
                lw=1.0,
                gid="replicated-interval",
            )
        ax.plot(x, exp, color=INK, marker="o", markersize=3.5, lw=1.0, gid="replicated-mean")
    for i, study in enumerate(studies):
        for j, arm in enumerate(arms):
            ax = axes[i, j]
            ax.axhline(0.0, color=GREY, lw=0.8)
            ax.tick_params(labelsize=FONT_SIZE - 1)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
            if i == 0:
                ax.set_title(arm, fontsize=FONT_SIZE, color=colours[arm])
            if j == 0:
                ax.set_ylabel(study, fontsize=FONT_SIZE)
    axes[-1, 0].set_xticks(range(len(categories)), [str(c) for c in categories])
    fig.supxlabel(category_label or _category_axis(table), fontsize=FONT_SIZE)
    fig.supylabel(
        f"sqrt({value_label}); bars hang from the replicated mean (line, 95% interval)",
        fontsize=FONT_SIZE - 0.5,
    )
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold")
    return fig


def _rootogram_frame(table: pd.DataFrame) -> pd.DataFrame:
    frame = checked_table(
        table, ROOTOGRAM_COLUMNS[:3], _NUMERIC, "rootogram", required=2, nonnegative=True
    )
    unknown = frame["observed"].isna() | frame["rep_mean"].isna()
    if unknown.any():
        row = frame[unknown].iloc[0]
        raise ValueError(
            f"rootogram row study={row['study']!r}, arm={row['arm']!r}, "
            f"category={row['category']!r} has no observed or replicated frequency"
        )
    return frame


def _category_axis(frame: pd.DataFrame) -> str:
    """``"count"`` for count frequencies (the x-axis then shows counts 0, 1, 2, 3+), else
    ``"category"``: a count outcome's bins are not categories to a reader."""
    if "statistic" in frame.columns:
        names = [str(s) for s in frame["statistic"]]
        if names and all(n.startswith("count_") for n in names):
            return "count"
    if any(str(c).endswith("+") for c in frame["category"]):
        return "count"
    return "category"
