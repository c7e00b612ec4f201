"""The treatment effect against a covariate, with its credible band (spline or linear)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, GREY, INK, ONE_STAGE_COLOUR, PALETTE, TWO_STAGE_COLOUR

__all__ = ["effect_curve_plot"]


def effect_curve_plot(
    curve: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    covariate: str,
    effect_label: str = "treatment effect",
    level: float = 0.95,
    knots: Sequence[float] = (),
    reference: float | None = 0.0,
    rug: np.ndarray | None = None,
    title: str | None = None,
    colours: Sequence[str] | None = None,
) -> Figure:
    """Posterior median of the effect against the covariate, with its credible band.

    Parameters
    ----------
    curve : pandas.DataFrame or mapping of str to DataFrame
        Columns ``x``, ``median``, ``lower``, ``upper`` (increasing ``x``). A mapping of
        legend label to frame overlays several curves (e.g. ``{"one-stage": ...,
        "two-stage": ...}``), each with its own colour and band.
    covariate : str
        The covariate's name (x axis).
    effect_label : str
        The effect's scale (y axis).
    level : float
        The band's level, for the legend.
    knots : sequence of float
        Spline knots, marked on the x axis.
    reference : float or None
        A horizontal reference line (no effect; 0 on a log or difference scale).
    rug : numpy.ndarray, optional
        Observed covariate values, drawn as a rug.
    title : str, optional
    colours : sequence of str, optional
        One colour per curve, in order; by default the one-stage colour, then the
        two-stage one, then the palette.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        A missing column, or a non-finite value.

    Examples
    --------
    >>> frame = pd.DataFrame({"x": [0.0, 1.0], "median": [0.1, 0.3],
    ...                       "lower": [-0.1, 0.1], "upper": [0.3, 0.5]})
    >>> effect_curve_plot(frame, covariate="age").axes[0].get_xlabel()
    'age'
    """
    curves = {"": curve} if isinstance(curve, pd.DataFrame) else dict(curve)
    fig = new_figure(figsize=(5.6, 3.6), layout="constrained")
    ax = fig.subplots()
    colours = tuple(colours) if colours else (ONE_STAGE_COLOUR, TWO_STAGE_COLOUR, *PALETTE[2:])
    for i, (label, frame) in enumerate(curves.items()):
        x, mid, lo, hi = _curve_values(frame, label)
        colour = colours[i % len(colours)]
        band = f"{label}: {level:.0%} band" if label else f"{level:.0%} credible band"
        ax.fill_between(x, lo, hi, color=colour, alpha=0.22, linewidth=0, label=band)
        ax.plot(x, mid, color=colour, linewidth=1.8, label=label or "posterior median")
    if reference is not None:
        ax.axhline(reference, color=GREY, linewidth=0.8, linestyle="--")
    for k in knots:
        ax.axvline(k, color=GREY, linewidth=0.6, linestyle=":")
    if rug is not None and len(rug):
        r = np.asarray(rug, dtype=float)
        ax.plot(r, np.full(r.shape, 0.0), "|", color=INK, alpha=0.3, markersize=6,
                transform=ax.get_xaxis_transform())  # fmt: skip
    ax.set_xlabel(covariate, fontsize=FONT_SIZE)
    ax.set_ylabel(effect_label, fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE)
    ax.legend(fontsize=FONT_SIZE, frameon=False)
    if title:
        ax.set_title(title, fontsize=FONT_SIZE + 1)
    if knots:
        ax.text(
            0.99, 0.02, "dotted: knots", transform=ax.transAxes, ha="right", va="bottom",
            fontsize=FONT_SIZE - 1, color=GREY,
        )  # fmt: skip
    return fig


def _curve_values(frame: pd.DataFrame, label: str) -> np.ndarray:
    """(4, G) ``x, median, lower, upper`` of one curve, checked."""
    name = f"effect curve {label!r}" if label else "effect curve"
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in ("x", "median", "lower", "upper") if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}")
    values = frame[["x", "median", "lower", "upper"]].to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name}: non-finite values")
    return values.T
