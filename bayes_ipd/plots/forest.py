"""Forest plot of one route, laid out as metafor's ``forest()``.

Trial labels (and optional columns such as year) on the left, the estimate with its
interval and the weight as aligned numbers on the right, squares of area proportional to
the weight, the pooled diamond and the prediction interval below, given text lines (the
heterogeneity statistics) under the axis. On a ratio scale the axis is logarithmic and
labelled with ratios; "favours" labels sit under the axis either side of the null line.
Nothing here computes a statistic: the rows and lines come ready.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bayes_ipd.plots.layout import (
    DEFAULT_FAVOURS,
    Column,
    Group,
    Slot,
    Table,
    draw_table_figure,
)
from bayes_ipd.plots.marks import Mark
from bayes_ipd.plots.rows import ForestRow, checked_rows
from bayes_ipd.plots.style import GREY, INK
from bayes_ipd.plots.text import (
    all_numeric,
    fmt_count,
    interval_cells,
    level_text,
    measure_name,
    weight_text,
)

__all__ = ["forest_plot"]


def forest_plot(
    rows: Sequence[ForestRow],
    *,
    heterogeneity: Sequence[str] = (),
    extra_headers: Sequence[str] = (),
    title: str | None = None,
    exponentiate: bool = False,
    measure: str | None = None,
    xlabel: str | None = None,
    show_weights: bool = True,
    level: float = 0.95,
    xlim: tuple[float, float] | None = None,
    digits: int = 2,
    favours: tuple[str, str] | None = DEFAULT_FAVOURS,
) -> Figure:
    """Forest plot of ready-made rows: trials, then the pooled and prediction rows.

    Parameters
    ----------
    rows : sequence of ForestRow
        Trial rows (style ``"study"`` or ``"shrunken"``), the ``"pooled"`` row, optionally
        the ``"prediction"`` row, and ``"excluded"`` trials, which are listed greyed with
        their reason (``note``) after the others. Values are on the analysis scale.
        For a two-stage result, :func:`bayes_ipd.two_stage.forest_rows.two_stage_rows`
        makes them (and :func:`~bayes_ipd.two_stage.forest_rows.two_stage_forest` draws
        them in one call).
    heterogeneity : sequence of str
        Lines written under the axis, e.g. the heterogeneity statistics and the test of
        the pooled effect.
    extra_headers : sequence of str
        Headers of the extra label columns left of the plot; row ``r`` fills them with
        ``r.extra``. Columns whose cells all read as numbers are right-aligned.
    title : str, optional
        Figure title.
    exponentiate : bool
        Draw on the ratio scale: log axis with ratio tick labels and exponentiated numbers.
    measure : str, optional
        Name of the measure in the header of the interval column (``"Risk ratio"``);
        ``"exp(estimate)"`` or ``"Estimate"`` by default.
    xlabel : str, optional
        Axis label; ``measure`` by default.
    show_weights : bool
        Show the weight column.
    level : float
        Coverage of the intervals, written in the interval column's header.
    xlim : (float, float), optional
        Axis limits on the drawn scale (ratios when exponentiated); intervals running
        beyond them end in an arrow. By default the axis covers every interval.
    digits : int
        Decimals of the numbers on the right.
    favours : (str, str) or None
        Labels under the axis, left and right of the null line. The default,
        ``("Favours treatment", "Favours control")``, suits effects where lower is better
        (ratios below 1, negative differences of a harmful outcome); give
        ``("Favours control", "Favours treatment")`` when higher is better, other words,
        or None for no labels.

    Returns
    -------
    matplotlib.figure.Figure
        Rows of style ``"shrunken"`` add a legend naming them shrunken posterior medians.
        Counts (the ``N`` column) are written with thousands separators.

    Raises
    ------
    ValueError
        ``level`` outside (0, 1), an item of ``rows`` is not a :class:`ForestRow`, or a
        non-positive lower limit in ``xlim`` on a ratio scale.

    Examples
    --------
    >>> rows = [ForestRow("A", -0.5, -0.9, -0.1, weight=69.2),
    ...         ForestRow("B", -0.2, -0.8, 0.4, weight=30.8),
    ...         ForestRow("Pooled (FE)", -0.41, -0.73, -0.08, weight=100, style="pooled")]
    >>> fig = forest_plot(rows, exponentiate=True, measure="Risk ratio", title="Two trials")
    >>> fig.axes[1].get_xscale()
    'log'
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    rows = checked_rows(rows)
    measure = measure or measure_name(None, exponentiate)
    table = _forest_table(
        rows,
        extra_headers=tuple(str(h) for h in extra_headers),
        interval_header=f"{measure} [{level_text(level)} CI]",
        show_weights=show_weights,
        exponentiate=exponentiate,
        digits=digits,
    )
    return draw_table_figure(
        table,
        exponentiate=exponentiate,
        xlabel=xlabel or measure,
        title=title,
        footer=tuple(str(line) for line in heterogeneity),
        xlim=xlim,
        legend=_shrunken_legend(rows, level),
        favours=favours,
    )


def _shrunken_legend(rows: Sequence[ForestRow], level: float) -> tuple[Line2D, ...]:
    """A legend entry for shrunken trial effects, when there are any."""
    if not any(r.style == "shrunken" and r.drawn for r in rows):
        return ()
    label = f"Shrunken trial effect: posterior median ({level_text(level)} CrI)"
    return (Line2D([], [], color=INK, marker="o", lw=0.9, label=label),)


def _forest_table(
    rows: Sequence[ForestRow],
    *,
    extra_headers: tuple[str, ...],
    interval_header: str,
    show_weights: bool,
    exponentiate: bool,
    digits: int,
) -> Table:
    """Single-route table: label, extra columns, N | estimate [CI], weight."""
    trials = [r for r in rows if r.style in ("study", "shrunken")]
    excluded = [r for r in rows if r.style == "excluded"]
    summary = [r for r in rows if r.style in ("pooled", "prediction")]
    ordered = [*trials, *summary, *excluded]
    slots = []
    for i, row in enumerate(ordered):
        first_summary = bool(summary) and row is summary[0]
        first_excluded = bool(excluded) and row is excluded[0]
        slots.append(
            Slot(
                marks=(Mark(row),) if row.drawn else (),
                colour=GREY if row.style == "excluded" else INK,
                bold=row.style == "pooled",
                span=f"excluded: {row.note}" if row.style == "excluded" else "",
                rule_above=first_summary and i > 0,
                gap_above=0.4 if (first_summary and i > 0) or first_excluded else 0.0,
            )
        )
    left = [Column("Study", tuple(r.label for r in ordered))]
    for j, header in enumerate(extra_headers):
        cells = tuple(r.extra[j] if j < len(r.extra) else "" for r in ordered)
        left.append(Column(header, cells, "right" if all_numeric(cells) else "left"))
    if any(r.n is not None for r in ordered):
        left.append(Column("N", tuple(fmt_count(r.n) for r in ordered), "right"))
    cells = [interval_cells(r, exponentiate, digits) for r in ordered]
    right = [Column("", tuple(c[j] for c in cells), "right") for j in range(3)]
    if show_weights:
        right.append(Column("Weight", tuple(weight_text(r) for r in ordered), "right"))
    return Table(tuple(slots), tuple(left), tuple(right), (Group(interval_header, 0, 2),))
