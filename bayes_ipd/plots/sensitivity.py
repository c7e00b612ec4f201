"""Prior sensitivity: posterior intervals of the pooled effect, τ and the new-trial effect
under each prior, with a two-stage reference line."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, GREY, PALETTE

__all__ = ["PANELS", "sensitivity_plot"]

PANELS = (("effect", "pooled effect μ"), ("tau", "τ"), ("new-trial effect", "new-trial effect"))


def sensitivity_plot(
    table: pd.DataFrame,
    reference: Mapping[str, float] | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """One row per prior, one panel per parameter: posterior median and 95% interval.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy rows with columns ``prior, parameter, median, q025, q975`` (``parameter`` one
        of ``effect``, ``tau``, ``new-trial effect``); rows in drawing order.
    reference : mapping, optional
        Two-stage values drawn as vertical lines: ``estimate`` (and ``ci_low``,
        ``ci_high``, shaded) on the effect panel, ``tau`` on the τ panel, ``pi_low`` /
        ``pi_high`` on the new-trial panel; ``label`` names them.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    priors = list(dict.fromkeys(table["prior"]))
    fig = new_figure(figsize=(11.0, 1.8 + 0.32 * len(priors)), layout="constrained")
    axes = fig.subplots(1, len(PANELS), sharey=True)
    y = np.arange(len(priors))
    ref = dict(reference or {})
    label = str(ref.get("label", "two-stage"))
    for ax, (parameter, name) in zip(axes, PANELS, strict=True):
        rows = table[table["parameter"] == parameter].set_index("prior").reindex(priors)
        ax.hlines(y, rows["q025"], rows["q975"], color=PALETTE[1], lw=2)
        ax.plot(rows["median"], y, "o", color=PALETTE[1], ms=4, label="posterior median, 95% CrI")
        _reference(ax, parameter, ref, label)
        ax.set_xlabel(name, fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE - 1)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].set_yticks(y, priors, fontsize=FONT_SIZE - 1)
    axes[0].invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="outside lower center", ncols=3, frameon=False, fontsize=FONT_SIZE - 1
    )
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold", x=0.01, ha="left")
    return fig


def _reference(ax, parameter: str, ref: Mapping[str, float], label: str) -> None:
    if not ref:
        return
    if parameter == "effect" and np.isfinite(ref.get("estimate", np.nan)):
        ax.axvline(ref["estimate"], color=GREY, ls="--", lw=1, label=f"{label} estimate")
        if np.isfinite(ref.get("ci_low", np.nan)):
            ax.axvspan(
                ref["ci_low"], ref["ci_high"], color=GREY, alpha=0.12, lw=0, label=f"{label} 95% CI"
            )
    elif parameter == "tau" and np.isfinite(ref.get("tau", np.nan)):
        ax.axvline(ref["tau"], color=GREY, ls="--", lw=1)
    elif parameter == "new-trial effect" and np.isfinite(ref.get("pi_low", np.nan)):
        for key in ("pi_low", "pi_high"):
            ax.axvline(ref[key], color=GREY, ls=":", lw=1)
