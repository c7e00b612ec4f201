"""Prior sensitivity of a network: each treatment's effect vs the reference and τ under each
prior scenario (one panel per treatment, one row per scenario), with two-stage reference
lines. Treatment names and prior labels are drawn as plain text (no mathtext)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, GREY, PALETTE

__all__ = ["network_sensitivity_plot"]

MAX_COLUMNS = 4


def _panels(table: pd.DataFrame, reference_name: str) -> list[tuple[str, str | None, str]]:
    """``(parameter, treatment, axis label)`` per panel: each treatment, then τ if fitted."""
    effects = table[table["parameter"] == "effect"]
    panels: list[tuple[str, str | None, str]] = [
        ("effect", str(t), f"{t} vs {reference_name}") for t in dict.fromkeys(effects["treatment"])
    ]
    if (table["parameter"] == "tau").any():
        panels.append(("tau", None, "τ"))
    return panels


def network_sensitivity_plot(
    table: pd.DataFrame,
    reference: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    reference_name: str = "reference",
    title: str | None = None,
) -> Figure:
    """One panel per treatment (its effect vs the reference) and one for τ; one row per
    prior scenario: posterior median and 95% interval.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy rows with columns ``prior, parameter, treatment, median, q025, q975``
        (``parameter`` ``effect`` with a treatment, or ``tau``); rows in drawing order.
    reference : mapping, optional
        Two-stage values by treatment, drawn as vertical lines: ``estimate`` (and
        ``ci_low``, ``ci_high``, shaded) on the treatment's panel, ``tau`` on the τ panel;
        ``label`` names them.
    reference_name : str
        The network's reference treatment (axis labels).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    priors = list(dict.fromkeys(table["prior"]))
    panels = _panels(table, reference_name)
    columns = min(len(panels), MAX_COLUMNS)
    lines = math.ceil(len(panels) / columns)
    height = lines * (1.2 + 0.3 * len(priors)) + 0.8
    fig = new_figure(figsize=(3.2 * columns + 2.0, height), layout="constrained")
    axes = np.atleast_1d(fig.subplots(lines, columns, sharey=True, squeeze=False)).ravel()
    y = np.arange(len(priors))
    ref = {str(k): dict(v) for k, v in (reference or {}).items()}
    for ax, (parameter, treatment, name) in zip(axes, panels, strict=False):
        chosen = table["parameter"] == parameter
        if treatment is not None:
            chosen &= table["treatment"].astype(str) == treatment
        rows = table[chosen].set_index("prior").reindex(priors)
        ax.hlines(y, rows["q025"], rows["q975"], color=PALETTE[1], lw=2)
        ax.plot(rows["median"], y, "o", color=PALETTE[1], ms=4, label="posterior median, 95% CrI")
        _reference(ax, parameter, treatment, ref)
        ax.set_xlabel(name, fontsize=FONT_SIZE, parse_math=False)  # names as plain text
        ax.tick_params(labelsize=FONT_SIZE - 1)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    for ax in axes[::columns]:
        ax.set_yticks(y, priors, fontsize=FONT_SIZE - 1)
        for tick in ax.get_yticklabels():
            tick.set_parse_math(False)
    axes[0].invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="outside lower center", ncols=3, frameon=False, fontsize=FONT_SIZE - 1
    )
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold", x=0.01, ha="left")
    return fig


def _reference(
    ax: Any, parameter: str, treatment: str | None, ref: Mapping[str, Mapping[str, Any]]
) -> None:
    """The two-stage estimate and CI on a treatment's panel, its τ on the τ panel."""
    if parameter == "tau":
        values = next(iter(ref.values()), {})
        if np.isfinite(values.get("tau", np.nan)):
            ax.axvline(values["tau"], color=GREY, ls="--", lw=1)
        return
    values = ref.get(str(treatment), {})
    if not np.isfinite(values.get("estimate", np.nan)):
        return
    label = str(values.get("label", "two-stage"))
    ax.axvline(values["estimate"], color=GREY, ls="--", lw=1, label=f"{label} estimate")
    if np.isfinite(values.get("ci_low", np.nan)):
        ax.axvspan(
            values["ci_low"], values["ci_high"], color=GREY, alpha=0.12, lw=0,
            label=f"{label} 95% CI",
        )  # fmt: skip
