"""Marks in the plot area of a forest plot: squares, circles, diamonds, prediction bars.

Also the axis: limits covering every interval, the null line, ratio ticks on a log axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.patches import Polygon, Rectangle
from matplotlib.ticker import NullLocator

from bayes_ipd.plots.rows import ForestRow
from bayes_ipd.plots.style import INK
from bayes_ipd.plots.text import transform

__all__ = ["Mark", "Slot", "draw_marks"]

_MAX_SQUARE_PT = 11.0
_MIN_SQUARE_PT = 3.0
_DIAMOND_HALF_HEIGHT = 0.32


@dataclass(frozen=True)
class Mark:
    """A row drawn in the plot area, shifted vertically by ``offset`` rows."""

    row: ForestRow
    offset: float = 0.0
    colour: str = INK


@dataclass(frozen=True)
class Slot:
    """One line of the table: its texts come from the columns, its marks are drawn."""

    marks: tuple[Mark, ...] = ()
    colour: str = INK
    bold: bool = False
    span: str = ""
    rule_above: bool = False
    gap_above: float = 0.0


def draw_marks(
    ax: Axes,
    slots: Sequence[Slot],
    ys: Sequence[float],
    exponentiate: bool,
    xlim: tuple[float, float] | None,
    mark_scale: float = 1.0,
) -> None:
    """Draw every slot's marks at its height ``ys[i]``, the null line and the x axis.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        The plot axes.
    slots : sequence of Slot
        The table's lines; a slot with marks or a span gets the null line behind it.
    ys : sequence of float
        Height of each slot.
    exponentiate : bool
        Ratio scale: marks at ``exp`` of the row values, log axis with ratio ticks.
    xlim : (float, float) or None
        Axis limits on the drawn scale; by default every interval and the null value.
        Intervals beyond them end in an arrow.
    mark_scale : float
        Scale of squares and circles (below 1 for small rows or two marks per row).

    Notes
    -----
    Circles (shrunken estimates) are drawn above squares, with a white rim, so that a
    large square of another route on the same line never hides them.

    Raises
    ------
    ValueError
        A non-positive lower limit on a ratio scale.
    """
    marks = [(m, y + m.offset) for slot, y in zip(slots, ys, strict=True) for m in slot.marks]
    f = transform(exponentiate)
    lo, hi = (
        xlim
        if xlim is not None
        else _auto_limits(
            [f(m.row.ci_low) for m, _ in marks] + [f(m.row.ci_high) for m, _ in marks],
            exponentiate,
        )
    )
    if exponentiate and lo <= 0:
        raise ValueError(f"xlim must be positive on a ratio scale, got {xlim}")
    null = 1.0 if exponentiate else 0.0
    study_ys = [y for slot, y in zip(slots, ys, strict=True) if slot.marks or slot.span]
    if lo <= null <= hi and study_ys:
        ax.plot(
            [null, null],
            [ys[-1] - 0.7, max(study_ys) + 0.5],
            color="0.35",
            lw=0.8,
            zorder=1,
            gid="null-line",
        )
    max_weight = max(
        (m.row.weight for m, _ in marks if m.row.style == "study" and m.row.weight), default=None
    )
    for mark, y in marks:
        _draw_mark(ax, mark, y, f, (lo, hi), max_weight, mark_scale)
    if exponentiate:
        ax.set_xscale("log")
        ticks = _log_ticks(lo, hi)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(lo, hi)


def _auto_limits(values: list[float], exponentiate: bool) -> tuple[float, float]:
    """Cover every interval and the null value, with a small margin."""
    null = 1.0 if exponentiate else 0.0
    finite = [v for v in values if math.isfinite(v) and (v > 0 or not exponentiate)]
    lo, hi = min([*finite, null]), max([*finite, null])
    if exponentiate:
        llo, lhi = math.log(lo), math.log(hi)
        pad = 0.04 * (lhi - llo) or 0.1
        return math.exp(llo - pad), math.exp(lhi + pad)
    pad = 0.04 * (hi - lo) or 0.5
    return lo - pad, hi + pad


def _log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 style ticks inside [lo, hi]: the coarsest series giving at least four."""
    series = (
        (1,),
        (1, 2, 5),
        (1, 2.5, 5),
        (1, 1.5, 2, 3, 5, 7),
        (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8),
    )
    e0, e1 = math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1
    best: list[float] = []
    for mantissas in series:
        ticks = sorted(
            {
                float(f"{m * 10.0**e:.10g}")
                for e in range(e0, e1 + 1)
                for m in mantissas
                if lo <= m * 10.0**e <= hi
            }
        )
        best = ticks
        if len(ticks) >= 4:
            break
    if len(best) > 9:
        best = best[:: math.ceil(len(best) / 7)]
    return best


def _draw_mark(
    ax: Axes,
    mark: Mark,
    y: float,
    f: Callable[[float], float],
    limits: tuple[float, float],
    max_weight: float | None,
    mark_scale: float = 1.0,
) -> None:
    row, colour = mark.row, mark.colour
    low, high, est = f(row.ci_low), f(row.ci_high), f(row.estimate)
    lo, hi = limits
    c_low, c_high = max(low, lo), min(high, hi)
    if row.style == "pooled":
        diamond = Polygon(
            [
                (c_low, y),
                (est, y + _DIAMOND_HALF_HEIGHT),
                (c_high, y),
                (est, y - _DIAMOND_HALF_HEIGHT),
            ],
            closed=True,
            facecolor=colour,
            edgecolor=colour,
            lw=0.8,
            zorder=3,
            gid="pooled-diamond",
        )
        ax.add_patch(diamond)
        return
    if row.style == "prediction":
        bar = Rectangle(
            (c_low, y - 0.09),
            c_high - c_low,
            0.18,
            facecolor=colour,
            alpha=0.35,
            edgecolor=colour,
            lw=0.8,
            zorder=2,
            gid="prediction-interval",
        )
        ax.add_patch(bar)
        return
    ax.plot(
        [c_low, c_high],
        [y, y],
        color=colour,
        lw=0.9,
        zorder=3.5 if row.style == "shrunken" else 2,
        gid="ci-line",
        solid_capstyle="butt",
    )
    if low < lo:
        ax.plot([lo], [y], marker="<", color=colour, markersize=4, zorder=2, gid="ci-arrow")
    if high > hi:
        ax.plot([hi], [y], marker=">", color=colour, markersize=4, zorder=2, gid="ci-arrow")
    if not lo <= est <= hi:
        return
    if row.style == "shrunken":
        ax.plot(
            [est],
            [y],
            marker="o",
            color=colour,
            markersize=5.5 * max(mark_scale, 0.8),
            markeredgecolor="white",
            markeredgewidth=0.7,
            linestyle="none",
            zorder=4,
            gid="shrunken-circle",
        )
        return
    ax.plot(
        [est],
        [y],
        marker="s",
        color=colour,
        markersize=mark_scale * _square_size(row.weight, max_weight),
        linestyle="none",
        zorder=3,
        gid="study-square",
    )


def _square_size(weight: float | None, max_weight: float | None) -> float:
    """Marker side in points, so that the square's area is proportional to the weight."""
    if weight is None or not max_weight:
        return 6.0
    return max(_MIN_SQUARE_PT, _MAX_SQUARE_PT * math.sqrt(max(weight, 0.0) / max_weight))
