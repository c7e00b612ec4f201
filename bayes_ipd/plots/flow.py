"""PRISMA-IPD flow diagram: boxes of trials (and participants) joined by arrows.

:func:`flow_diagram` reads a flow value by attribute (``identified, ipd_sought,
ipd_obtained, aggregate_only, neither, not_sought, not_obtained, records,
participants_supplied, rows_dropped, excluded_trials, analysed_trials,
analysed_participants``; see :class:`bayes_ipd.prisma.PrismaFlow`) and computes nothing
but the box texts.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from bayes_ipd.plots.figure import new_figure
from bayes_ipd.plots.style import FONT_SIZE, INK

__all__ = ["flow_diagram"]

_MAIN_X, _SIDE_X = 0.27, 0.76
_BOX = {"boxstyle": "round,pad=0.5", "facecolor": "white", "edgecolor": INK, "linewidth": 0.9}
_WRAP = 44


def _count(n: Any, what: str) -> str:
    return f"{n:,} {what}" if n is not None else ""


def _reason_lines(reasons: Mapping[str, int]) -> list[str]:
    return [f"• {reason}: {count}" for reason, count in reasons.items()]


def _wrap(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        out.extend(textwrap.wrap(line, _WRAP, subsequent_indent="  ") or [""])
    return "\n".join(out)


def _main_boxes(flow: Any) -> list[str]:
    boxes = []
    records = dict(getattr(flow, "records", {}) or {})
    if records:
        boxes.append(
            _wrap(
                ["Records identified by the search"] + [f"{k}: {v:,}" for k, v in records.items()]
            )
        )
    boxes.append(_wrap([f"Eligible trials identified: {flow.identified}"]))
    boxes.append(_wrap([f"IPD sought: {flow.ipd_sought} trial(s)"]))
    supplied = getattr(flow, "participants_supplied", None)
    obtained = [f"IPD obtained: {flow.ipd_obtained} trial(s)"]
    if supplied is not None:
        obtained.append(_count(supplied, "participants"))
    boxes.append(_wrap(obtained))
    analysed = [f"Included in the IPD analysis: {flow.analysed_trials} trial(s)"]
    participants = getattr(flow, "analysed_participants", None)
    if participants is not None:
        analysed.append(_count(participants, "participants"))
    if flow.aggregate_only:
        analysed.append(f"plus {flow.aggregate_only} trial(s) as aggregate data")
    boxes.append(_wrap(analysed))
    return boxes


def _side_boxes(flow: Any, n_main: int) -> dict[int, str]:
    """Side box text by the index of the main box it leaves from."""
    first = 1 if getattr(flow, "records", None) else 0
    side: dict[int, str] = {}
    not_sought = flow.identified - flow.ipd_sought
    if not_sought:
        side[first] = _wrap(
            [f"IPD not sought: {not_sought} trial(s)", *_reason_lines(flow.not_sought)]
        )
    missing = flow.aggregate_only + flow.neither
    if missing:
        side[first + 1] = _wrap(
            [
                f"IPD not obtained: {missing} trial(s)",
                f"aggregate data used: {flow.aggregate_only}",
                f"neither IPD nor aggregate data: {flow.neither}",
                *_reason_lines(flow.not_obtained),
            ]
        )
    dropped = sum(dict(flow.rows_dropped).values()) if flow.rows_dropped else 0
    excluded = dict(flow.excluded_trials or {})
    if dropped or excluded:
        lines = []
        if dropped:
            lines.append(f"Rows dropped for missing values: {dropped:,}")
        if excluded:
            lines.append(f"Trials excluded from stage one: {len(excluded)}")
            lines += [f"• {study}: {reason}" for study, reason in excluded.items()]
        side[n_main - 2] = _wrap(lines)
    return side


def flow_diagram(flow: Any, *, title: str | None = "PRISMA-IPD flow diagram") -> Figure:
    """Draw a PRISMA-IPD flow diagram.

    Parameters
    ----------
    flow : PrismaFlow
        The flow counts (read by attribute; see the module docstring).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from bayes_ipd.prisma import PrismaFlow
    >>> fig = flow_diagram(PrismaFlow(identified=5, ipd_sought=5, ipd_obtained=4,
    ...                               aggregate_only=1, neither=0))
    >>> len(fig.axes)
    1
    """
    main = _main_boxes(flow)
    side = _side_boxes(flow, len(main))
    fig = new_figure(figsize=(8.0, 1.0 + 1.05 * len(main)), layout="constrained")
    ax = fig.subplots()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    step = 1.0 / len(main)
    ys = [1.0 - step * (i + 0.5) for i in range(len(main))]
    for i, (text, y) in enumerate(zip(main, ys, strict=True)):
        ax.text(_MAIN_X, y, text, ha="center", va="center", fontsize=FONT_SIZE, bbox=_BOX)
        if i + 1 < len(main):
            ax.annotate(
                "",
                xy=(_MAIN_X, ys[i + 1] + step * 0.28),
                xytext=(_MAIN_X, y - step * 0.28),
                arrowprops={"arrowstyle": "->", "color": INK, "lw": 0.9},
            )
    for i, text in side.items():
        y = (ys[i] + ys[i + 1]) / 2.0 if i + 1 < len(ys) else ys[i]
        # the arrow runs from the main column to the side box's edge
        ax.annotate(
            text,
            xy=(_MAIN_X, y),
            xytext=(_SIDE_X, y),
            ha="center",
            va="center",
            fontsize=FONT_SIZE - 1,
            bbox=_BOX,
            arrowprops={"arrowstyle": "<-", "color": INK, "lw": 0.9, "shrinkA": 0, "shrinkB": 0},
        )
    if title:
        ax.set_title(title, fontsize=FONT_SIZE + 2)
    return fig
