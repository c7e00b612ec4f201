"""Table-and-plot layout engine shared by the two forest plots.

A :class:`Table` is a list of :class:`Slot` lines with text columns left and right of a plot
area. :func:`draw_table_figure` measures every text, sizes the figure so that nothing
overlaps, writes the columns, draws each slot's marks (squares, circles, diamonds,
prediction bars, with :mod:`bayes_ipd.plots.marks`), the "favours" labels under the axis
and the footer lines, and returns the figure.

Font size, row height and mark sizes shrink with the number of lines (:func:`table_metrics`),
so that a forest of fifty trials keeps the proportions of one of ten.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.marks import Mark, Slot, draw_marks
from bayes_ipd.plots.style import FONT_SIZE, INK

__all__ = [
    "DEFAULT_FAVOURS",
    "Column",
    "Group",
    "Mark",
    "Metrics",
    "Slot",
    "Table",
    "draw_table_figure",
    "table_metrics",
]

_ROW_HEIGHT_IN = 0.24
_COLUMN_GAP_IN = 0.16
_PLOT_WIDTH_IN = 3.4
_FULL_SIZE_ROWS = 30
_SMALLEST_FONT = 6.5

DEFAULT_FAVOURS: tuple[str, str] = ("Favours treatment", "Favours control")
"""Labels written under the axis, left and right of the null line: for effects where lower
is better (a ratio below 1 or a negative difference in a harmful outcome favours the
treatment). Swap them for a beneficial outcome; pass ``favours=None`` to leave them out."""


@dataclass(frozen=True)
class Column:
    """A text column: its header and one cell per slot."""

    header: str
    cells: tuple[str, ...]
    align: str = "left"


@dataclass(frozen=True)
class Group:
    """A header spanning right-hand columns ``first`` to ``last`` (inclusive)."""

    header: str
    first: int
    last: int
    colour: str = INK


@dataclass(frozen=True)
class Table:
    """Slots, the text columns left and right of the plot, and the right-hand header groups.

    ``square_scale`` shrinks the weight squares (below 1 where two marks share a line)."""

    slots: tuple[Slot, ...]
    left: tuple[Column, ...]
    right: tuple[Column, ...]
    groups: tuple[Group, ...] = ()
    square_scale: float = 1.0


@dataclass(frozen=True)
class Metrics:
    """Font size (points), row height (inches) and mark scale of a table's figure."""

    font: float
    row_h: float
    mark_scale: float


def table_metrics(n_lines: int) -> Metrics:
    """Full size up to 30 lines; beyond, font and row height shrink as ``sqrt(30 / n)``.

    The figure then grows as ``sqrt(n)`` rather than ``n`` (a 50-trial forest is 1.3
    times, not 1.7 times, the height of a 30-trial one) and the font stays at 6.5 points
    or more, readable in print.
    """
    factor = 1.0 if n_lines <= _FULL_SIZE_ROWS else math.sqrt(_FULL_SIZE_ROWS / n_lines)
    font = max(_SMALLEST_FONT, FONT_SIZE * factor)
    factor = font / FONT_SIZE
    return Metrics(font=font, row_h=_ROW_HEIGHT_IN * factor, mark_scale=factor)


# --------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------

_TEXT_TO_PATH = TextToPath()


def _text_width_in(text: str, bold: bool = False, size: float = FONT_SIZE) -> float:
    """Rendered width of ``text`` in inches (independent of any canvas)."""
    if not text:
        return 0.0
    prop = FontProperties(size=size, weight="bold" if bold else "normal")
    width, _, _ = _TEXT_TO_PATH.get_text_width_height_descent(text, prop, ismath=False)
    return width / 72.0


def _column_widths(
    table: Table, columns: tuple[Column, ...], right: bool, size: float
) -> list[float]:
    widths = []
    for column in columns:
        cells = [
            _text_width_in(text, slot.bold, size)
            for text, slot in zip(column.cells, table.slots, strict=True)
            if not (right and slot.span)
        ]
        widths.append(max([_text_width_in(column.header, True, size), *cells]))
    if right:
        for group in table.groups:
            inner = sum(widths[group.first : group.last + 1])
            inner += _COLUMN_GAP_IN * 0.4 * (group.last - group.first)
            shortfall = _text_width_in(group.header, True, size) - inner
            if shortfall > 0:
                widths[group.first] += shortfall
    return widths


def _column_positions(widths: list[float], gaps: list[float], start: float) -> list[float]:
    """Left edge of each column, in inches from the left of its axes."""
    positions, x = [], start
    for width, gap in zip(widths, gaps, strict=True):
        x += gap
        positions.append(x)
        x += width
    return positions


def _right_gaps(table: Table) -> list[float]:
    """Narrow gaps inside a header group (the interval's three numbers), wide elsewhere."""
    gaps = []
    for j in range(len(table.right)):
        inside = any(g.first < j <= g.last for g in table.groups)
        gaps.append(_COLUMN_GAP_IN * 0.4 if inside else _COLUMN_GAP_IN)
    return gaps


def _slot_y(table: Table) -> list[float]:
    ys, y = [], 0.0
    for slot in table.slots:
        y -= 1.0 + slot.gap_above
        ys.append(y)
    return ys


# --------------------------------------------------------------------------------------
# The figure
# --------------------------------------------------------------------------------------


def draw_table_figure(
    table: Table,
    *,
    exponentiate: bool,
    xlabel: str,
    title: str | None,
    footer: tuple[str, ...],
    xlim: tuple[float, float] | None,
    legend: Sequence[Any] = (),
    favours: tuple[str, str] | None = None,
) -> Figure:
    """Draw ``table``: left columns, the plot with every slot's marks, right columns.

    Parameters
    ----------
    table : Table
        What to write and draw.
    exponentiate : bool
        Ratio scale: log axis with ratio ticks, marks at ``exp`` of the row values.
    xlabel : str
        Axis label.
    title : str or None
        Figure title, top left.
    footer : tuple of str
        Lines written under the axis (heterogeneity, test of the pooled effect).
    xlim : (float, float) or None
        Axis limits on the drawn scale; by default every interval and the null value.
    legend : sequence of artists
        Legend handles, placed in one row under the footer.
    favours : (str, str) or None
        Labels under the axis, left and right of the null line (e.g.
        :data:`DEFAULT_FAVOURS`); None writes none.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        A non-positive lower limit on a ratio scale.
    """
    m = table_metrics(len(table.slots))
    left_widths = _column_widths(table, table.left, right=False, size=m.font)
    left_gaps = [0.0] + [_COLUMN_GAP_IN] * (len(left_widths) - 1)
    right_widths = _column_widths(table, table.right, right=True, size=m.font)
    right_gaps = _right_gaps(table)
    left_w = sum(left_widths) + sum(left_gaps) + _COLUMN_GAP_IN
    right_w = sum(right_widths) + sum(right_gaps)
    span_w = max((_text_width_in(s.span, False, m.font) for s in table.slots), default=0.0)
    right_w = max(right_w, span_w + _COLUMN_GAP_IN) + 0.05
    ys = _slot_y(table)
    rows_h = (-ys[-1] + 1.2) * m.row_h if ys else 1.2 * m.row_h
    line_h = 0.19 * m.font / FONT_SIZE
    favours_h = 0.2 * m.font / FONT_SIZE if favours else 0.0
    pad_side, top_h = 0.15, 0.15 + (0.35 if title else 0.0)
    axis_h = 0.55 * m.font / FONT_SIZE + favours_h
    bottom_h = axis_h + line_h * len(footer) + (0.3 if legend else 0.0) + 0.17
    width = pad_side * 2 + left_w + _PLOT_WIDTH_IN + right_w
    height = top_h + rows_h + bottom_h

    fig = new_figure(figsize=(width, height))
    grid = fig.add_gridspec(
        1,
        3,
        width_ratios=[left_w, _PLOT_WIDTH_IN, right_w],
        left=pad_side / width,
        right=1 - pad_side / width,
        top=1 - top_h / height,
        bottom=bottom_h / height,
        wspace=0,
    )
    ax_left = fig.add_subplot(grid[0])
    ax = fig.add_subplot(grid[1], sharey=ax_left)
    ax_right = fig.add_subplot(grid[2], sharey=ax_left)
    y_bottom = (ys[-1] if ys else -1.0) - 0.7
    ax_left.set_ylim(y_bottom, 0.5)
    for text_ax, w in ((ax_left, left_w), (ax_right, right_w)):
        text_ax.set_xlim(0, w)
        text_ax.set_axis_off()

    _draw_left_columns(ax_left, table, ys, left_widths, left_gaps, m.font)
    _draw_right_columns(ax_right, table, ys, right_widths, right_gaps, m.font)
    _draw_rules(table, ys, (ax_left, ax, ax_right))
    _style_plot_axes(ax, xlabel, m.font, favours_h)
    draw_marks(ax, table.slots, ys, exponentiate, xlim, m.mark_scale * table.square_scale)
    if favours:
        _draw_favours(ax, favours, exponentiate, m.font)

    x0 = pad_side / width
    if title:
        fig.suptitle(
            title, x=x0, y=1 - 0.12 / height, ha="left", va="top", fontsize=11, fontweight="bold"
        )
    footer_top = (bottom_h - axis_h - 0.07) / height
    for i, line in enumerate(footer):
        fig.text(
            x0,
            footer_top - i * line_h / height,
            line,
            ha="left",
            va="top",
            fontsize=m.font,
            color=INK,
        )
    if legend:
        y_legend = footer_top - len(footer) * line_h / height
        fig.legend(
            handles=list(legend),
            loc="upper left",
            bbox_to_anchor=(x0, y_legend),
            ncol=len(legend),
            frameon=False,
            fontsize=m.font,
            borderaxespad=0,
            handletextpad=0.5,
            columnspacing=1.5,
        )
    return fig


def _draw_left_columns(
    ax: Axes, table: Table, ys: list[float], widths: list[float], gaps: list[float], size: float
) -> None:
    positions = _column_positions(widths, gaps, 0.0)
    for column, x, w in zip(table.left, positions, widths, strict=True):
        x_text = x + w if column.align == "right" else x
        _cell(ax, x_text, 0.0, column.header, column.align, size, bold=True)
        for text, slot, y in zip(column.cells, table.slots, ys, strict=True):
            _cell(ax, x_text, y, text, column.align, size, bold=slot.bold, colour=slot.colour)


def _draw_right_columns(
    ax: Axes, table: Table, ys: list[float], widths: list[float], gaps: list[float], size: float
) -> None:
    positions = _column_positions(widths, gaps, 0.0)
    for column, x, w in zip(table.right, positions, widths, strict=True):
        x_text = x + w if column.align == "right" else x
        _cell(ax, x_text, 0.0, column.header, column.align, size, bold=True)
        for text, slot, y in zip(column.cells, table.slots, ys, strict=True):
            if not slot.span:
                _cell(ax, x_text, y, text, column.align, size, bold=slot.bold, colour=slot.colour)
    for group in table.groups:
        x_end = positions[group.last] + widths[group.last]
        _cell(ax, x_end, 0.0, group.header, "right", size, bold=True, colour=group.colour)
    x_start = positions[0] if positions else _COLUMN_GAP_IN
    for slot, y in zip(table.slots, ys, strict=True):
        if slot.span:
            _cell(ax, x_start, y, slot.span, "left", size, colour=slot.colour, italic=True)


def _cell(
    ax: Axes,
    x: float,
    y: float,
    text: str,
    align: str,
    size: float,
    *,
    bold: bool = False,
    colour: str = INK,
    italic: bool = False,
) -> None:
    if not text:
        return
    ax.text(
        x,
        y,
        text,
        ha=align,
        va="center_baseline",
        fontsize=size,
        fontweight="bold" if bold else "normal",
        fontstyle="italic" if italic else "normal",
        color=colour,
        clip_on=False,
    )


def _draw_rules(table: Table, ys: list[float], axes: Iterable[Axes]) -> None:
    """Horizontal rules across the whole table: under the header, above the summary."""
    rule_ys = [-0.5]
    rule_ys += [
        y + 0.5 + slot.gap_above / 2
        for slot, y in zip(table.slots, ys, strict=True)
        if slot.rule_above
    ]
    for ax in axes:
        for y in rule_ys:
            ax.plot(
                [0, 1],
                [y, y],
                transform=ax.get_yaxis_transform(),
                color=INK,
                lw=0.6,
                clip_on=False,
                solid_capstyle="butt",
            )


def _style_plot_axes(ax: Axes, xlabel: str, size: float, favours_h: float) -> None:
    ax.patch.set_visible(False)
    for side in ("top", "left", "right"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_linewidth(0.8)
    ax.tick_params(axis="y", left=False, labelleft=False)
    ax.tick_params(axis="x", labelsize=size - 0.5, width=0.8, length=3)
    ax.set_xlabel(xlabel, fontsize=size, labelpad=4.0 + 72.0 * favours_h)


def _draw_favours(ax: Axes, favours: tuple[str, str], exponentiate: bool, size: float) -> None:
    """``← Favours treatment`` left of the null line, ``Favours control →`` right of it,
    under the tick labels; never overlapping, kept inside the figure when the null is near
    an edge."""
    lo, hi = ax.get_xlim()
    null = 1.0 if exponentiate else 0.0
    if not lo < null < hi:
        return
    if exponentiate:
        frac = (math.log(null) - math.log(lo)) / (math.log(hi) - math.log(lo))
    else:
        frac = (null - lo) / (hi - lo)
    left, right = f"\u2190 {favours[0]}", f"{favours[1]} \u2192"
    gap = 0.05 / _PLOT_WIDTH_IN
    left_w = _text_width_in(left, False, size - 0.5) / _PLOT_WIDTH_IN
    right_w = _text_width_in(right, False, size - 0.5) / _PLOT_WIDTH_IN
    # Each label stays on its own side of the null line, so the two never overlap; near an
    # edge a label runs on under the text columns beside the plot (empty below the rows),
    # kept inside the figure. Clamping to the plot's own width made them collide.
    box = ax.get_position()
    fig_w = ax.figure.get_figwidth()
    room_left = box.x0 * fig_w / _PLOT_WIDTH_IN
    room_right = (1.0 - box.x1) * fig_w / _PLOT_WIDTH_IN
    x_left = max(frac - gap, left_w - room_left)
    x_right = min(frac + gap, 1.0 + room_right - right_w)
    y = -(3.0 + 2.0 + size + 3.0) / 72.0  # below the ticks and their labels, in inches
    for text, x, align, gid in (
        (left, x_left, "right", "favours-left"),
        (right, x_right, "left", "favours-right"),
    ):
        ax.annotate(
            text,
            xy=(x, 0.0),
            xycoords="axes fraction",
            xytext=(0.0, 72.0 * y),
            textcoords="offset points",
            ha=align,
            va="top",
            fontsize=size - 0.5,
            color="0.3",
            annotation_clip=False,
            gid=gid,
        )
