"""One-stage vs two-stage forest plot: per trial a square and a circle, per route a diamond.

The square (two-stage estimate, area proportional to its weight) sits above the line's
centre and the circle (one-stage shrunken posterior median) below it; squares are drawn at
two thirds of their single-route size and circles on top, so no square hides a circle.
"""

from __future__ import annotations

import dataclasses
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
from bayes_ipd.plots.style import GREY, INK, ONE_STAGE_COLOUR, TWO_STAGE_COLOUR
from bayes_ipd.plots.text import interval_cells

__all__ = ["comparison_forest_plot"]

_OFFSET = 0.22  # rows between a line's centre and each route's mark
_SQUARE_SCALE = 0.67
TWO_STAGE_LABEL = "Two-stage: trial estimate (95% CI)"
ONE_STAGE_LABEL = "One-stage: shrunken posterior median (95% CrI)"


def comparison_forest_plot(
    rows_two_stage: Sequence[ForestRow],
    rows_one_stage: Sequence[ForestRow],
    *,
    title: str | None = None,
    exponentiate: bool = False,
    xlabel: str | None = None,
    xlim: tuple[float, float] | None = None,
    digits: int = 2,
    favours: tuple[str, str] | None = DEFAULT_FAVOURS,
    footer: Sequence[str] = (),
) -> Figure:
    """Trial by trial, the two-stage estimate beside the one-stage shrunken estimate.

    Parameters
    ----------
    rows_two_stage : sequence of ForestRow
        Per-trial rows (style ``"study"``; ``"excluded"`` rows are listed without a mark),
        the ``"pooled"`` row and optionally the ``"prediction"`` row (e.g. from
        :func:`bayes_ipd.two_stage.forest_rows.two_stage_rows`).
    rows_one_stage : sequence of ForestRow
        Per-trial shrunken effects with credible intervals (style ``"shrunken"`` or
        ``"study"``), the posterior of the mean effect (``"pooled"``) and optionally the
        predictive interval of a new trial's effect (``"prediction"``). Trials are matched
        to the two-stage rows by position when both routes list the same labels in the
        same order, else by label.
    title : str, optional
        Figure title.
    exponentiate : bool
        Draw on the ratio scale (log axis, exponentiated numbers).
    xlabel : str, optional
        Axis label; ``"Effect"`` (``"Ratio"`` when exponentiated) by default.
    xlim : (float, float), optional
        Axis limits on the drawn scale.
    digits : int
        Decimals of the numbers on the right.
    favours : (str, str) or None
        Labels under the axis, left and right of the null line; the default suits effects
        where lower is better (see :func:`bayes_ipd.plots.forest_plot`); None for none.
    footer : sequence of str
        Lines under the figure (e.g. which trials the routes use).

    Returns
    -------
    matplotlib.figure.Figure
        A square and a circle per trial, offset so that neither hides the other, then for
        each route its pooled diamond and its prediction bar; a legend names the routes
        and calls the one-stage trial estimates shrunken posterior medians.

    Raises
    ------
    ValueError
        An item is not a :class:`ForestRow`, or trials must be matched by label and a
        route repeats a label (the label is named).
    """
    table = _comparison_table(
        checked_rows(rows_two_stage, "rows_two_stage"),
        checked_rows(rows_one_stage, "rows_one_stage"),
        exponentiate,
        digits,
    )
    handles = [
        Line2D([], [], color=TWO_STAGE_COLOUR, marker="s", lw=1, label=TWO_STAGE_LABEL),
        Line2D([], [], color=ONE_STAGE_COLOUR, marker="o", lw=1, label=ONE_STAGE_LABEL),
    ]
    return draw_table_figure(
        table,
        exponentiate=exponentiate,
        xlabel=xlabel or ("Ratio" if exponentiate else "Effect"),
        title=title,
        footer=tuple(footer),
        xlim=xlim,
        legend=handles,
        favours=favours,
    )


def _split_rows(rows: Sequence[ForestRow]) -> tuple[list[ForestRow], list[ForestRow]]:
    trials = [r for r in rows if r.style not in ("pooled", "prediction")]
    summary = [r for r in rows if r.style in ("pooled", "prediction")]
    return trials, summary


def _paired_trials(
    two: list[ForestRow], one: list[ForestRow]
) -> list[tuple[str, ForestRow | None, ForestRow | None]]:
    """Pair the routes' trial rows: by position when the label sequences agree, else by label.

    Published labels repeat (two "Rosenthal et al" among the BCG trials), so identical
    sequences are paired row by row; otherwise every label must be unique.
    """
    if [r.label for r in two] == [r.label for r in one]:
        return [(r2.label, r2, r1) for r2, r1 in zip(two, one, strict=True)]
    for route, rows in (("two-stage", two), ("one-stage", one)):
        labels = [r.label for r in rows]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(
                f"{route} trial label(s) {', '.join(map(repr, repeated))} appear more than "
                "once, so the trials cannot be matched by label; make the labels unique or "
                "give both routes the trials in the same order"
            )
    by_two = {r.label: r for r in two}
    by_one = {r.label: r for r in one}
    labels = list(dict.fromkeys([*by_two, *by_one]))
    return [(label, by_two.get(label), by_one.get(label)) for label in labels]


def _comparison_table(
    rows_two_stage: Sequence[ForestRow],
    rows_one_stage: Sequence[ForestRow],
    exponentiate: bool,
    digits: int,
) -> Table:
    two, two_summary = _split_rows(rows_two_stage)
    one, one_summary = _split_rows(rows_one_stage)
    pairs = _paired_trials(two, one)
    slots: list[Slot] = []
    left: list[str] = []
    cells_two: list[tuple[str, str, str]] = []
    cells_one: list[tuple[str, str, str]] = []
    blank = ("", "", "")
    for label, r2, r1 in pairs:
        marks = []
        if r2 is not None and r2.drawn:
            marks.append(Mark(r2, _OFFSET, TWO_STAGE_COLOUR))
        if r1 is not None and r1.drawn:
            marks.append(Mark(_as_shrunken(r1), -_OFFSET, ONE_STAGE_COLOUR))
        excluded = r2 is not None and r2.style == "excluded"
        slots.append(Slot(tuple(marks), colour=GREY if excluded else INK))
        left.append(label)
        cells_two.append(interval_cells(r2, exponentiate, digits))
        cells_one.append(interval_cells(r1, exponentiate, digits))
    for route, summary, colour in (
        ("two", two_summary, TWO_STAGE_COLOUR),
        ("one", one_summary, ONE_STAGE_COLOUR),
    ):
        for j, row in enumerate(summary):
            first = j == 0
            slots.append(
                Slot(
                    (Mark(row, 0.0, colour),) if row.drawn else (),
                    bold=row.style == "pooled",
                    rule_above=first and route == "two" and bool(pairs),
                    gap_above=0.4 if first and bool(slots) else 0.0,
                )
            )
            left.append(row.label)
            cells = interval_cells(row, exponentiate, digits)
            cells_two.append(cells if route == "two" else blank)
            cells_one.append(cells if route == "one" else blank)
    left_columns = (Column("Study", tuple(left)),)
    right = tuple(
        Column("", tuple(c[j] for c in cells), "right")
        for cells in (cells_two, cells_one)
        for j in range(3)
    )
    groups = (
        Group("Two-stage [95% CI]", 0, 2, TWO_STAGE_COLOUR),
        Group("One-stage, shrunken [95% CrI]", 3, 5, ONE_STAGE_COLOUR),
    )
    return Table(tuple(slots), left_columns, right, groups, square_scale=_SQUARE_SCALE)


def _as_shrunken(row: ForestRow) -> ForestRow:
    """A one-stage ``"study"`` row drawn as a circle, like a shrunken estimate."""
    return dataclasses.replace(row, style="shrunken") if row.style == "study" else row
