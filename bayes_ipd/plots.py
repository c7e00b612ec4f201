"""Figures: forest plots, one-stage vs two-stage comparison, posterior predictive checks.

Every function takes result objects or plain arrays and returns a
:class:`matplotlib.figure.Figure`; none calls ``pyplot.show`` or touches pyplot's global
state (figures are built with :class:`~matplotlib.figure.Figure` directly, so a notebook
shows the returned figure once and nothing has to be closed). :func:`save_figure` writes a
figure by its file extension.

The forest plot follows the layout of metafor's ``forest()``: trial labels (and optional
columns such as year) on the left, the estimate with its interval and the weight as aligned
numbers on the right, squares of area proportional to the weight, the pooled diamond and the
prediction interval below, the heterogeneity statistics under the axis. On a ratio scale
(log odds, risk or hazard ratio) the axis is logarithmic and labelled with ratios.

The drawing works on :class:`ForestRow` values (plain numbers); :func:`two_stage_rows`
turns a pooled result and its per-trial table into rows, so rows from any source (a
one-stage posterior, published figures) can be drawn the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle
from matplotlib.textpath import TextToPath
from matplotlib.ticker import NullLocator
from scipy import stats

__all__ = [
    "RATIO_SCALES",
    "ForestRow",
    "comparison_forest_plot",
    "forest_plot",
    "km_ppc_plot",
    "ppc_plot",
    "prior_posterior_plot",
    "save_figure",
    "two_stage_rows",
]

RATIO_SCALES: dict[str, str] = {
    "logOR": "Odds ratio",
    "logRR": "Risk ratio",
    "logHR": "Hazard ratio",
}
"""Log-ratio effect scales and the name of the exponentiated measure."""

LINEAR_SCALES: dict[str, str] = {
    "MD": "Mean difference",
    "logOR": "Log odds ratio",
    "logRR": "Log risk ratio",
    "logHR": "Log hazard ratio",
}
"""Axis label of each effect scale when it is drawn without exponentiating."""

ROW_STYLES: tuple[str, ...] = ("study", "pooled", "prediction", "shrunken", "excluded")
"""How a :class:`ForestRow` is drawn: square with whisker, diamond, interval bar, circle with
whisker (a shrunken trial effect), or nothing (a trial left out, listed with its reason)."""

SAVE_FORMATS: tuple[str, ...] = (".png", ".pdf", ".svg")

_FONT_SIZE = 9.0
_ROW_HEIGHT_IN = 0.24
_COLUMN_GAP_IN = 0.16
_PLOT_WIDTH_IN = 3.4
_MAX_SQUARE_PT = 11.0
_MIN_SQUARE_PT = 3.0
_DIAMOND_HALF_HEIGHT = 0.32
_GREY = "0.55"
_INK = "0.1"
# Okabe & Ito (2008) colour-blind-safe palette.
_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
_TWO_STAGE_COLOUR = "#0072B2"
_ONE_STAGE_COLOUR = "#D55E00"
_MINUS = "\u2212"


# --------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForestRow:
    """One row of a forest plot, on the analysis scale (log scale for ratios).

    Parameters
    ----------
    label : str
        Text in the first column (trial name, ``"Pooled (REML)"``, ...).
    estimate, ci_low, ci_high : float
        Point estimate and interval bounds. A ``"prediction"`` row may have a NaN
        estimate; an ``"excluded"`` row needs no numbers at all.
    weight : float, optional
        Weight in percent; the square's area is proportional to it.
    n : int, optional
        Participants, shown in the ``N`` column.
    extra : tuple of str
        Values of the extra label columns, in the order of their headers.
    style : {"study", "pooled", "prediction", "shrunken", "excluded"}
        How the row is drawn (see :data:`ROW_STYLES`).
    note : str, optional
        For an ``"excluded"`` row: the reason it was left out.

    Raises
    ------
    ValueError
        Unknown style, or interval bounds in the wrong order (the label is named).

    Examples
    --------
    >>> ForestRow("Trial A", -0.3, -0.7, 0.1, weight=12.5).style
    'study'
    """

    label: str
    estimate: float
    ci_low: float
    ci_high: float
    weight: float | None = None
    n: int | None = None
    extra: tuple[str, ...] = ()
    style: str = "study"
    note: str | None = None

    def __post_init__(self) -> None:
        if self.style not in ROW_STYLES:
            raise ValueError(
                f"row {self.label!r}: unknown style {self.style!r}; expected one of {ROW_STYLES}"
            )
        object.__setattr__(self, "label", str(self.label))
        for field in ("estimate", "ci_low", "ci_high"):
            object.__setattr__(self, field, float(getattr(self, field)))
        if self.weight is not None:
            object.__setattr__(self, "weight", float(self.weight))
        if self.n is not None:
            object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "extra", tuple(str(v) for v in self.extra))
        if self.ci_low > self.ci_high:
            raise ValueError(
                f"row {self.label!r}: ci_low ({self.ci_low}) exceeds ci_high ({self.ci_high})"
            )

    @property
    def drawn(self) -> bool:
        """True when the row has an interval to draw."""
        return self.style != "excluded" and math.isfinite(self.ci_low + self.ci_high)


@dataclass(frozen=True)
class _Mark:
    """A row drawn in the plot area, shifted vertically by ``offset`` rows."""

    row: ForestRow
    offset: float = 0.0
    colour: str = _INK


@dataclass(frozen=True)
class _Slot:
    """One line of the table: its texts come from the columns, its marks are drawn."""

    marks: tuple[_Mark, ...] = ()
    colour: str = _INK
    bold: bool = False
    span: str = ""
    rule_above: bool = False
    gap_above: float = 0.0


@dataclass(frozen=True)
class _Column:
    """A text column: its header and one cell per slot."""

    header: str
    cells: tuple[str, ...]
    align: str = "left"


@dataclass(frozen=True)
class _Group:
    """A header spanning right-hand columns ``first`` to ``last`` (inclusive)."""

    header: str
    first: int
    last: int
    colour: str = _INK


@dataclass(frozen=True)
class _Table:
    slots: tuple[_Slot, ...]
    left: tuple[_Column, ...]
    right: tuple[_Column, ...]
    groups: tuple[_Group, ...] = ()


# --------------------------------------------------------------------------------------
# Number formatting
# --------------------------------------------------------------------------------------


def _fmt(x: float, digits: int = 2) -> str:
    """Fixed decimals with a typographic minus; blank for NaN."""
    if not math.isfinite(x):
        return "" if math.isnan(x) else ("\u221e" if x > 0 else f"{_MINUS}\u221e")
    text = f"{x:.{digits}f}"
    if float(text) == 0.0:
        text = text.lstrip("-")
    return text.replace("-", _MINUS)


def _as_float(value: Any) -> float:
    """NaN for a missing value (None), else the value as float."""
    return math.nan if value is None else float(value)


def _fmt_sig(x: float, sig: int = 3) -> str:
    """Significant digits, without scientific notation for the usual range."""
    if not math.isfinite(x):
        return "NA"
    if x == 0:
        return "0"
    if abs(x) < 10 ** -(sig + 1):
        return f"< {10 ** -(sig + 1):g}"
    digits = max(0, sig - 1 - math.floor(math.log10(abs(x))))
    return _fmt(x, digits)


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "p = NA"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def _level_text(level: float) -> str:
    return f"{100 * level:g}%"


def _method_label(pooled: Any) -> str:
    """``"REML + HKSJ"`` style name of the pooling method."""
    method = str(getattr(pooled, "method", "") or "")
    if getattr(pooled, "hksj", False):
        method = f"{method} + HKSJ" if method else "HKSJ"
    return method


def _interval_cells(row: ForestRow, exponentiate: bool, digits: int) -> tuple[str, str, str]:
    """Estimate, ``[low,`` and ``high]`` as three right-aligned cells."""
    if not row.drawn:
        return ("", "", "")
    f = _transform(exponentiate)
    return (
        _fmt(f(row.estimate), digits),
        f"[{_fmt(f(row.ci_low), digits)},",
        f"{_fmt(f(row.ci_high), digits)}]",
    )


def _transform(exponentiate: bool) -> Callable[[float], float]:
    return math.exp if exponentiate else float


# --------------------------------------------------------------------------------------
# Rows from result objects
# --------------------------------------------------------------------------------------


def two_stage_rows(
    pooled: Any,
    per_study: Any = None,
    *,
    labels: Sequence[str] | Mapping[str, str] | None = None,
    extra_columns: Mapping[str, Sequence[Any]] | None = None,
    level: float = 0.95,
    show_prediction: bool = True,
) -> list[ForestRow]:
    """Forest rows of a two-stage analysis: trials, the pooled estimate, the prediction.

    Parameters
    ----------
    pooled : PooledResult
        Read by attribute: ``method, hksj, estimate, ci_low, ci_high, pi_low, pi_high,
        studies, weights``.
    per_study : AggregateData, optional
        Read by attribute: ``studies, estimate, se, n, excluded``. Without it only the
        pooled rows are returned.
    labels : sequence or mapping of str, optional
        Display labels: one per trial of ``per_study`` in its order, or a mapping from
        trial label to display label (trials not in it keep their own label).
    extra_columns : mapping of str to sequence, optional
        Extra label columns (header -> one value per trial of ``per_study``).
    level : float
        Coverage of the per-trial Wald intervals ``estimate ± z * se``.
    show_prediction : bool
        Add the prediction-interval row when the interval exists.

    Returns
    -------
    list of ForestRow
        Trial rows (style ``"study"``, or ``"excluded"`` with the reason in ``note``), then
        the ``"pooled"`` row and, when there is one, the ``"prediction"`` row.

    Raises
    ------
    ValueError
        ``labels`` or an extra column has the wrong length, or extra columns are given
        without ``per_study``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    rows: list[ForestRow] = []
    if per_study is not None:
        rows.extend(_trial_rows(pooled, per_study, labels, extra_columns, level))
    elif extra_columns:
        raise ValueError("extra_columns need per_study: their values are given per trial")
    n_total = _pooled_n(per_study)
    rows.append(
        ForestRow(
            label=f"Pooled ({_method_label(pooled)})" if _method_label(pooled) else "Pooled",
            estimate=pooled.estimate,
            ci_low=pooled.ci_low,
            ci_high=pooled.ci_high,
            weight=100.0,
            n=n_total,
            extra=("",) * len(extra_columns or {}),
            style="pooled",
        )
    )
    pi_low = _as_float(getattr(pooled, "pi_low", None))
    pi_high = _as_float(getattr(pooled, "pi_high", None))
    if show_prediction and math.isfinite(pi_low) and math.isfinite(pi_high):
        rows.append(
            ForestRow(
                label="Prediction interval",
                estimate=pooled.estimate,
                ci_low=pi_low,
                ci_high=pi_high,
                extra=("",) * len(extra_columns or {}),
                style="prediction",
            )
        )
    return rows


def _trial_rows(
    pooled: Any,
    agg: Any,
    labels: Sequence[str] | Mapping[str, str] | None,
    extra_columns: Mapping[str, Sequence[Any]] | None,
    level: float,
) -> list[ForestRow]:
    studies = tuple(str(s) for s in agg.studies)
    k = len(studies)
    display = _display_labels(studies, labels)
    extras = _extra_values(extra_columns, k)
    reasons = tuple(getattr(agg, "excluded", ()) or ()) or (None,) * k
    n = getattr(agg, "n", None)
    weights = dict(
        zip(
            (str(s) for s in getattr(pooled, "studies", ())),
            np.asarray(getattr(pooled, "weights", ()), dtype=float),
            strict=False,
        )
    )
    z = float(stats.norm.ppf(0.5 + level / 2))
    rows = []
    for i, study in enumerate(studies):
        est, se = float(agg.estimate[i]), float(agg.se[i])
        reason = reasons[i]
        if reason is None and not (math.isfinite(est) and math.isfinite(se)):
            reason = "not estimable"
        rows.append(
            ForestRow(
                label=display[i],
                estimate=est if reason is None else math.nan,
                ci_low=est - z * se if reason is None else math.nan,
                ci_high=est + z * se if reason is None else math.nan,
                weight=weights.get(study) if reason is None else None,
                n=None if n is None else int(n[i]),
                extra=extras[i],
                style="study" if reason is None else "excluded",
                note=None if reason is None else str(reason),
            )
        )
    return rows


def _display_labels(
    studies: tuple[str, ...], labels: Sequence[str] | Mapping[str, str] | None
) -> tuple[str, ...]:
    if labels is None:
        return studies
    if isinstance(labels, Mapping):
        return tuple(str(labels.get(s, s)) for s in studies)
    labels = tuple(str(v) for v in labels)
    if len(labels) != len(studies):
        raise ValueError(
            f"labels has {len(labels)} entries; expected {len(studies)}, one per trial"
        )
    return labels


def _extra_values(
    extra_columns: Mapping[str, Sequence[Any]] | None, k: int
) -> list[tuple[str, ...]]:
    if not extra_columns:
        return [()] * k
    columns = []
    for header, values in extra_columns.items():
        values = [_cell_text(v) for v in values]
        if len(values) != k:
            raise ValueError(
                f"extra column {header!r} has {len(values)} values; expected {k}, one per trial"
            )
        columns.append(values)
    return [tuple(col[i] for col in columns) for i in range(k)]


def _cell_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _pooled_n(agg: Any) -> int | None:
    if agg is None or getattr(agg, "n", None) is None:
        return None
    reasons = tuple(getattr(agg, "excluded", ()) or ()) or (None,) * len(agg.studies)
    return int(sum(int(n) for n, r in zip(agg.n, reasons, strict=True) if r is None))


# --------------------------------------------------------------------------------------
# Forest plot
# --------------------------------------------------------------------------------------


def forest_plot(
    pooled: Any,
    per_study: Any = None,
    *,
    title: str | None = None,
    labels: Sequence[str] | Mapping[str, str] | None = None,
    extra_columns: Mapping[str, Sequence[Any]] | None = None,
    exponentiate: bool | None = None,
    xlabel: str | None = None,
    show_weights: bool = True,
    show_prediction: bool = True,
    level: float = 0.95,
    xlim: tuple[float, float] | None = None,
    digits: int = 2,
) -> Figure:
    """Forest plot of a two-stage meta-analysis, laid out as metafor's ``forest()``.

    Parameters
    ----------
    pooled : PooledResult
        The pooled result (read by attribute; see :func:`two_stage_rows`). Its ``tau2,
        i2, q, q_df, q_p`` give the heterogeneity line and ``stat, p, dist, df`` the test
        of the pooled effect.
    per_study : AggregateData, optional
        The per-trial estimates and standard errors; trials carrying an exclusion reason
        are listed greyed, with the reason, after the pooled ones.
    title : str, optional
        Figure title.
    labels : sequence or mapping of str, optional
        Display labels of the trials (see :func:`two_stage_rows`).
    extra_columns : mapping of str to sequence, optional
        Extra label columns shown left of the plot, e.g. ``{"Year": years}``.
    exponentiate : bool, optional
        Draw on the ratio scale: log axis with ratio tick labels and exponentiated numbers.
        By default, True when the scale is a log ratio (see :data:`RATIO_SCALES`).
    xlabel : str, optional
        Axis label; by default the name of the measure (``"Risk ratio"``, ...).
    show_weights : bool
        Show the weight column.
    show_prediction : bool
        Draw the prediction interval below the diamond when it exists (k >= 3).
    level : float
        Coverage of the per-trial intervals.
    xlim : (float, float), optional
        Axis limits on the drawn scale (ratios when exponentiated); intervals running
        beyond them end in an arrow. By default the axis covers every interval.
    digits : int
        Decimals of the numbers on the right.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> agg = SimpleNamespace(studies=("A", "B"), estimate=np.array([-0.5, -0.2]),
    ...                       se=np.array([0.2, 0.3]), n=None, excluded=(), scale="logRR")
    >>> res = SimpleNamespace(method="FE", hksj=False, k=2, level=0.95, estimate=-0.41,
    ...     se=0.17, ci_low=-0.73, ci_high=-0.08, stat=-2.5, p=0.01, dist="z", df=math.nan,
    ...     tau2=0.0, i2=0.0, q=0.69, q_df=1, q_p=0.41, pi_low=math.nan, pi_high=math.nan,
    ...     studies=("A", "B"), weights=np.array([69.2, 30.8]), scale="logRR")
    >>> fig = forest_plot(res, agg, title="Two trials")
    >>> fig.axes[1].get_xscale()
    'log'
    """
    scale = getattr(pooled, "scale", None) or getattr(per_study, "scale", None)
    if exponentiate is None:
        exponentiate = scale in RATIO_SCALES
    measure = _measure_name(scale, exponentiate)
    rows = two_stage_rows(
        pooled,
        per_study,
        labels=labels,
        extra_columns=extra_columns,
        level=level,
        show_prediction=show_prediction,
    )
    table = _forest_table(
        rows,
        extra_headers=tuple(extra_columns or {}),
        interval_header=f"{measure} [{_level_text(level)} CI]",
        show_weights=show_weights,
        exponentiate=exponentiate,
        digits=digits,
    )
    footer = _heterogeneity_lines(pooled)
    return _draw_table_figure(
        table,
        exponentiate=exponentiate,
        xlabel=xlabel or measure,
        title=title,
        footer=footer,
        xlim=xlim,
    )


def _measure_name(scale: str | None, exponentiate: bool) -> str:
    if exponentiate:
        return RATIO_SCALES.get(scale or "", "exp(estimate)")
    return LINEAR_SCALES.get(scale or "", "Estimate")


def _forest_table(
    rows: Sequence[ForestRow],
    *,
    extra_headers: tuple[str, ...],
    interval_header: str,
    show_weights: bool,
    exponentiate: bool,
    digits: int,
) -> _Table:
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
            _Slot(
                marks=(_Mark(row),) if row.drawn else (),
                colour=_GREY if row.style == "excluded" else _INK,
                bold=row.style == "pooled",
                span=f"excluded: {row.note}" if row.style == "excluded" else "",
                rule_above=first_summary and i > 0,
                gap_above=0.4 if (first_summary and i > 0) or first_excluded else 0.0,
            )
        )
    left = [_Column("Study", tuple(r.label for r in ordered))]
    for j, header in enumerate(extra_headers):
        cells = tuple(r.extra[j] if j < len(r.extra) else "" for r in ordered)
        left.append(_Column(header, cells, "right" if _all_numeric(cells) else "left"))
    if any(r.n is not None for r in ordered):
        left.append(_Column("N", tuple("" if r.n is None else str(r.n) for r in ordered), "right"))
    cells = [_interval_cells(r, exponentiate, digits) for r in ordered]
    if any(r.style == "prediction" for r in ordered):
        cells = [
            ("", *c[1:]) if r.style == "prediction" else c
            for r, c in zip(ordered, cells, strict=True)
        ]
    right = [_Column("", tuple(c[j] for c in cells), "right") for j in range(3)]
    if show_weights:
        weights = tuple(_weight_text(r) for r in ordered)
        right.append(_Column("Weight", weights, "right"))
    return _Table(tuple(slots), tuple(left), tuple(right), (_Group(interval_header, 0, 2),))


def _all_numeric(cells: Iterable[str]) -> bool:
    """True when every non-empty cell reads as a number (such columns are right-aligned)."""
    filled = [c for c in cells if c]
    try:
        [float(c.replace(_MINUS, "-")) for c in filled]
    except ValueError:
        return False
    return bool(filled)


def _weight_text(row: ForestRow) -> str:
    if row.weight is None or row.style not in ("study", "pooled"):
        return ""
    return f"{row.weight:.1f}%" if row.weight < 99.95 else "100%"


def _heterogeneity_lines(pooled: Any) -> tuple[str, ...]:
    lines = []
    q_df = _as_float(getattr(pooled, "q_df", None))
    q = _as_float(getattr(pooled, "q", None))
    if math.isfinite(q) and q_df >= 1:
        parts = []
        if str(getattr(pooled, "method", "")).upper() != "FE":
            parts.append(f"τ² = {_fmt_sig(float(pooled.tau2))}")
        parts.append(f"I² = {_fmt(float(pooled.i2), 1)}%")
        q_p = _as_float(getattr(pooled, "q_p", None))
        parts.append(f"Q = {_fmt(q, 2)} (df {q_df:g}, {_fmt_p(q_p)})")
        lines.append("Heterogeneity: " + ", ".join(parts))
    stat = _as_float(getattr(pooled, "stat", None))
    if math.isfinite(stat):
        dist = str(getattr(pooled, "dist", "z") or "z")
        df = _as_float(getattr(pooled, "df", None))
        df_text = f"df {df:g}, " if dist == "t" and math.isfinite(df) else ""
        p = _as_float(getattr(pooled, "p", None))
        lines.append(f"Test for overall effect: {dist} = {_fmt(stat, 2)} ({df_text}{_fmt_p(p)})")
    return tuple(lines)


# --------------------------------------------------------------------------------------
# One-stage vs two-stage
# --------------------------------------------------------------------------------------


def comparison_forest_plot(
    rows_two_stage: Sequence[ForestRow],
    rows_one_stage: Sequence[ForestRow],
    *,
    title: str | None = None,
    exponentiate: bool = False,
    xlabel: str | None = None,
    xlim: tuple[float, float] | None = None,
    digits: int = 2,
) -> Figure:
    """Trial by trial, the two-stage estimate beside the one-stage shrunken estimate.

    Parameters
    ----------
    rows_two_stage : sequence of ForestRow
        Per-trial rows (style ``"study"``; ``"excluded"`` rows are listed without a mark),
        the ``"pooled"`` row and optionally the ``"prediction"`` row (e.g. from
        :func:`two_stage_rows`).
    rows_one_stage : sequence of ForestRow
        Per-trial shrunken effects with credible intervals (style ``"shrunken"`` or
        ``"study"``), the posterior of the mean effect (``"pooled"``) and optionally the
        predictive interval of a new trial's effect (``"prediction"``). Trials are matched
        to the two-stage rows by label.
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

    Returns
    -------
    matplotlib.figure.Figure
        A square and a circle per trial, slightly offset, then for each route its pooled
        diamond and its prediction bar; a legend names the routes.
    """
    table = _comparison_table(rows_two_stage, rows_one_stage, exponentiate, digits)
    handles = [
        Line2D([], [], color=_TWO_STAGE_COLOUR, marker="s", lw=1, label="Two-stage (95% CI)"),
        Line2D([], [], color=_ONE_STAGE_COLOUR, marker="o", lw=1, label="One-stage (95% CrI)"),
    ]
    return _draw_table_figure(
        table,
        exponentiate=exponentiate,
        xlabel=xlabel or ("Ratio" if exponentiate else "Effect"),
        title=title,
        footer=(),
        xlim=xlim,
        legend=handles,
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
) -> _Table:
    two, two_summary = _split_rows(rows_two_stage)
    one, one_summary = _split_rows(rows_one_stage)
    pairs = _paired_trials(two, one)
    slots: list[_Slot] = []
    left: list[str] = []
    cells_two: list[tuple[str, str, str]] = []
    cells_one: list[tuple[str, str, str]] = []
    blank = ("", "", "")
    for label, r2, r1 in pairs:
        marks = []
        if r2 is not None and r2.drawn:
            marks.append(_Mark(r2, 0.17, _TWO_STAGE_COLOUR))
        if r1 is not None and r1.drawn:
            marks.append(_Mark(_as_style(r1, "shrunken"), -0.17, _ONE_STAGE_COLOUR))
        excluded = r2 is not None and r2.style == "excluded"
        slots.append(_Slot(tuple(marks), colour=_GREY if excluded else _INK))
        left.append(label)
        cells_two.append(_comparison_cells(r2, exponentiate, digits))
        cells_one.append(_comparison_cells(r1, exponentiate, digits))
    for route, summary, colour in (
        ("two", two_summary, _TWO_STAGE_COLOUR),
        ("one", one_summary, _ONE_STAGE_COLOUR),
    ):
        for j, row in enumerate(summary):
            first = j == 0
            slots.append(
                _Slot(
                    (_Mark(row, 0.0, colour),) if row.drawn else (),
                    bold=row.style == "pooled",
                    rule_above=first and route == "two" and bool(pairs),
                    gap_above=0.4 if first and bool(slots) else 0.0,
                )
            )
            left.append(row.label)
            cells = _comparison_cells(row, exponentiate, digits)
            cells_two.append(cells if route == "two" else blank)
            cells_one.append(cells if route == "one" else blank)
    left_columns = (_Column("Study", tuple(left)),)
    right = tuple(
        _Column("", tuple(c[j] for c in cells), "right")
        for cells in (cells_two, cells_one)
        for j in range(3)
    )
    groups = (
        _Group("Two-stage [95% CI]", 0, 2, _TWO_STAGE_COLOUR),
        _Group("One-stage [95% CrI]", 3, 5, _ONE_STAGE_COLOUR),
    )
    return _Table(tuple(slots), left_columns, right, groups)


def _as_style(row: ForestRow, style: str) -> ForestRow:
    if row.style != "study":
        return row
    return ForestRow(
        row.label, row.estimate, row.ci_low, row.ci_high, row.weight, row.n, row.extra, style
    )


def _comparison_cells(row: ForestRow | None, exponentiate: bool, digits: int) -> tuple[str, ...]:
    if row is None or not row.drawn:
        return ("", "", "")
    cells = _interval_cells(row, exponentiate, digits)
    return ("", *cells[1:]) if row.style == "prediction" else cells


# --------------------------------------------------------------------------------------
# Table-and-plot drawing engine shared by the two forest plots
# --------------------------------------------------------------------------------------


_TEXT_TO_PATH = TextToPath()


def _text_width_in(text: str, bold: bool = False, size: float = _FONT_SIZE) -> float:
    """Rendered width of ``text`` in inches (independent of any canvas)."""
    if not text:
        return 0.0
    prop = FontProperties(size=size, weight="bold" if bold else "normal")
    width, _, _ = _TEXT_TO_PATH.get_text_width_height_descent(text, prop, ismath=False)
    return width / 72.0


def _column_widths(table: _Table, columns: tuple[_Column, ...], right: bool) -> list[float]:
    widths = []
    for column in columns:
        cells = [
            _text_width_in(text, slot.bold)
            for text, slot in zip(column.cells, table.slots, strict=True)
        ]
        widths.append(max([_text_width_in(column.header, True), *cells]))
    if right:
        for group in table.groups:
            inner = sum(widths[group.first : group.last + 1])
            inner += _COLUMN_GAP_IN * 0.4 * (group.last - group.first)
            shortfall = _text_width_in(group.header, True) - inner
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


def _right_gaps(table: _Table) -> list[float]:
    """Narrow gaps inside a header group (the interval's three numbers), wide elsewhere."""
    gaps = []
    for j in range(len(table.right)):
        inside = any(g.first < j <= g.last for g in table.groups)
        gaps.append(_COLUMN_GAP_IN * 0.4 if inside else _COLUMN_GAP_IN)
    return gaps


def _slot_y(table: _Table) -> list[float]:
    ys, y = [], 0.0
    for slot in table.slots:
        y -= 1.0 + slot.gap_above
        ys.append(y)
    return ys


def _draw_table_figure(
    table: _Table,
    *,
    exponentiate: bool,
    xlabel: str,
    title: str | None,
    footer: tuple[str, ...],
    xlim: tuple[float, float] | None,
    legend: Sequence[Any] = (),
) -> Figure:
    left_widths = _column_widths(table, table.left, right=False)
    left_gaps = [0.0] + [_COLUMN_GAP_IN] * (len(left_widths) - 1)
    right_widths = _column_widths(table, table.right, right=True)
    right_gaps = _right_gaps(table)
    left_w = sum(left_widths) + sum(left_gaps) + _COLUMN_GAP_IN
    right_w = sum(right_widths) + sum(right_gaps)
    span_w = max((_text_width_in(s.span) for s in table.slots), default=0.0)
    right_w = max(right_w, span_w + _COLUMN_GAP_IN) + 0.05
    ys = _slot_y(table)
    rows_h = (-ys[-1] + 1.2) * _ROW_HEIGHT_IN if ys else 1.2 * _ROW_HEIGHT_IN
    pad_side, top_h = 0.15, 0.15 + (0.35 if title else 0.0)
    bottom_h = 0.55 + 0.19 * len(footer) + (0.3 if legend else 0.0) + 0.1
    width = pad_side * 2 + left_w + _PLOT_WIDTH_IN + right_w
    height = top_h + rows_h + bottom_h

    fig = Figure(figsize=(width, height))
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

    _draw_left_columns(ax_left, table, ys, left_widths, left_gaps)
    _draw_right_columns(ax_right, table, ys, right_widths, right_gaps)
    _draw_rules(table, ys, (ax_left, ax, ax_right))
    _style_plot_axes(ax, xlabel)
    _draw_marks(ax, table, ys, exponentiate, xlim)

    x0 = pad_side / width
    if title:
        fig.suptitle(
            title, x=x0, y=1 - 0.12 / height, ha="left", va="top", fontsize=11, fontweight="bold"
        )
    footer_top = (bottom_h - 0.62) / height
    for i, line in enumerate(footer):
        fig.text(
            x0,
            footer_top - i * 0.19 / height,
            line,
            ha="left",
            va="top",
            fontsize=_FONT_SIZE,
            color=_INK,
        )
    if legend:
        y_legend = footer_top - len(footer) * 0.19 / height
        fig.legend(
            handles=list(legend),
            loc="upper left",
            bbox_to_anchor=(x0, y_legend),
            ncol=len(legend),
            frameon=False,
            fontsize=_FONT_SIZE,
            borderaxespad=0,
            handletextpad=0.5,
            columnspacing=1.5,
        )
    return fig


def _draw_left_columns(
    ax: Axes, table: _Table, ys: list[float], widths: list[float], gaps: list[float]
) -> None:
    positions = _column_positions(widths, gaps, 0.0)
    for column, x, w in zip(table.left, positions, widths, strict=True):
        x_text = x + w if column.align == "right" else x
        _cell(ax, x_text, 0.0, column.header, column.align, bold=True)
        for text, slot, y in zip(column.cells, table.slots, ys, strict=True):
            _cell(ax, x_text, y, text, column.align, bold=slot.bold, colour=slot.colour)


def _draw_right_columns(
    ax: Axes, table: _Table, ys: list[float], widths: list[float], gaps: list[float]
) -> None:
    positions = _column_positions(widths, gaps, 0.0)
    for column, x, w in zip(table.right, positions, widths, strict=True):
        x_text = x + w if column.align == "right" else x
        _cell(ax, x_text, 0.0, column.header, column.align, bold=True)
        for text, slot, y in zip(column.cells, table.slots, ys, strict=True):
            if not slot.span:
                _cell(ax, x_text, y, text, column.align, bold=slot.bold, colour=slot.colour)
    for group in table.groups:
        x_end = positions[group.last] + widths[group.last]
        _cell(ax, x_end, 0.0, group.header, "right", bold=True, colour=group.colour)
    x_start = positions[0] if positions else _COLUMN_GAP_IN
    for slot, y in zip(table.slots, ys, strict=True):
        if slot.span:
            _cell(ax, x_start, y, slot.span, "left", colour=slot.colour, italic=True)


def _cell(
    ax: Axes,
    x: float,
    y: float,
    text: str,
    align: str,
    *,
    bold: bool = False,
    colour: str = _INK,
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
        fontsize=_FONT_SIZE,
        fontweight="bold" if bold else "normal",
        fontstyle="italic" if italic else "normal",
        color=colour,
        clip_on=False,
    )


def _draw_rules(table: _Table, ys: list[float], axes: Iterable[Axes]) -> None:
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
                color=_INK,
                lw=0.6,
                clip_on=False,
                solid_capstyle="butt",
            )


def _style_plot_axes(ax: Axes, xlabel: str) -> None:
    ax.patch.set_visible(False)
    for side in ("top", "left", "right"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_linewidth(0.8)
    ax.tick_params(axis="y", left=False, labelleft=False)
    ax.tick_params(axis="x", labelsize=_FONT_SIZE - 0.5, width=0.8, length=3)
    ax.set_xlabel(xlabel, fontsize=_FONT_SIZE)


def _draw_marks(
    ax: Axes,
    table: _Table,
    ys: list[float],
    exponentiate: bool,
    xlim: tuple[float, float] | None,
) -> None:
    marks = [(m, y + m.offset) for slot, y in zip(table.slots, ys, strict=True) for m in slot.marks]
    f = _transform(exponentiate)
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
    study_ys = [y for slot, y in zip(table.slots, ys, strict=True) if slot.marks or slot.span]
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
        _draw_mark(ax, mark, y, f, (lo, hi), max_weight)
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
    mark: _Mark,
    y: float,
    f: Callable[[float], float],
    limits: tuple[float, float],
    max_weight: float | None,
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
        zorder=2,
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
            markersize=5,
            linestyle="none",
            zorder=3,
            gid="shrunken-circle",
        )
        return
    ax.plot(
        [est],
        [y],
        marker="s",
        color=colour,
        markersize=_square_size(row.weight, max_weight),
        linestyle="none",
        zorder=3,
        gid="study-square",
    )


def _square_size(weight: float | None, max_weight: float | None) -> float:
    """Marker side in points, so that the square's area is proportional to the weight."""
    if weight is None or not max_weight:
        return 6.0
    return max(_MIN_SQUARE_PT, _MAX_SQUARE_PT * math.sqrt(max(weight, 0.0) / max_weight))


# --------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path``; the format follows the extension.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or Path
        Ends in ``.png`` (150 dpi), ``.pdf`` or ``.svg``. Missing parent folders are
        created.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    ValueError
        The extension is not one of :data:`SAVE_FORMATS` (it is named).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise ValueError(
            f"cannot save a figure as {suffix or 'a file without extension'!r} "
            f"({path.name}); use one of {', '.join(SAVE_FORMATS)}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"bbox_inches": "tight", "format": suffix[1:]}
    if suffix == ".png":
        options["dpi"] = 150
    fig.savefig(path, **options)
    return path


# --------------------------------------------------------------------------------------
# Posterior predictive checks
# --------------------------------------------------------------------------------------

PPC_COLUMNS: tuple[str, ...] = ("study", "arm", "observed", "rep_mean", "rep_q025", "rep_q975")


def ppc_plot(table: pd.DataFrame, *, statistic_label: str, title: str | None = None) -> Figure:
    """Observed statistic per trial and arm over its replicated 95% interval.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per trial and arm with columns ``study, arm, observed, rep_mean,
        rep_q025, rep_q975`` and optionally ``p_value`` (the Bayesian p-value, written at
        the right of each row). It is only read.
    statistic_label : str
        Name of the statistic, the axis label (e.g. ``"Event rate"``).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        A column is missing, or a numeric column holds a non-numeric value.
    """
    frame = _ppc_frame(table)
    studies = list(dict.fromkeys(frame["study"]))
    arms = _ordered_arms(frame["arm"])
    offsets = _arm_offsets(len(arms))
    colours = {arm: _PALETTE[i % len(_PALETTE)] for i, arm in enumerate(arms)}
    height = 1.4 + 0.22 * len(studies) * max(len(arms), 2)
    fig = Figure(figsize=(6.4, height), layout="constrained")
    ax = fig.subplots()
    p_ticks, p_labels, p_colours = [], [], []
    for row in frame.itertuples(index=False):
        y = studies.index(row.study) + offsets[arms.index(row.arm)]
        colour = colours[row.arm]
        ax.plot(
            [row.rep_q025, row.rep_q975],
            [y, y],
            color=colour,
            lw=6,
            alpha=0.35,
            solid_capstyle="butt",
            gid="replicated-interval",
        )
        ax.plot(
            [row.rep_mean],
            [y],
            marker="|",
            markersize=10,
            mew=1.5,
            color=colour,
            linestyle="none",
            gid="replicated-mean",
        )
        ax.plot(
            [row.observed],
            [y],
            marker="o",
            markersize=5,
            color=_INK,
            linestyle="none",
            zorder=3,
            gid="observed",
        )
        if "p_value" in frame.columns and math.isfinite(row.p_value):
            p_ticks.append(y)
            p_labels.append(f"{row.p_value:.2f}")
            p_colours.append(colour)
    ax.set_yticks(range(len(studies)), studies)
    ax.set_ylim(len(studies) - 0.5, -0.5)
    ax.tick_params(axis="y", length=0, labelsize=_FONT_SIZE)
    ax.tick_params(axis="x", labelsize=_FONT_SIZE - 0.5)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="0.9", lw=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel(statistic_label, fontsize=_FONT_SIZE)
    if p_ticks:
        _p_value_axis(ax, p_ticks, p_labels, p_colours)
    ax.legend(
        handles=_ppc_handles(arms, colours),
        loc="lower left",
        bbox_to_anchor=(0, 1.0),
        ncol=2,
        frameon=False,
        fontsize=_FONT_SIZE - 0.5,
        borderaxespad=0.3,
    )
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold")
    return fig


def _ppc_frame(table: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"expected a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in PPC_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"PPC table lacks column(s) {', '.join(map(repr, missing))}; "
            f"it has: {', '.join(map(str, table.columns))}"
        )
    numeric = [c for c in (*PPC_COLUMNS[2:], "p_value") if c in table.columns]
    frame = table[[*PPC_COLUMNS[:2], *numeric]].copy()
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            raise ValueError(
                f"PPC column {column!r} is not numeric: it holds {frame[column][bad].iloc[0]!r}"
            )
        frame[column] = values.astype(float)
    frame["study"] = frame["study"].astype(str)
    frame["arm"] = frame["arm"].astype(str)
    return frame


def _ordered_arms(arms: Iterable[str]) -> list[str]:
    seen = list(dict.fromkeys(arms))
    preferred = [a for a in ("control", "treated") if a in seen]
    return preferred + [a for a in seen if a not in preferred]


def _arm_offsets(n_arms: int) -> list[float]:
    if n_arms == 1:
        return [0.0]
    spread = 0.36
    return [-spread / 2 + spread * i / (n_arms - 1) for i in range(n_arms)]


def _p_value_axis(ax: Axes, ticks: list[float], labels: list[str], colours: list[str]) -> None:
    """Bayesian p-values as right-hand tick labels, so the layout makes room for them."""
    right = ax.secondary_yaxis("right")
    right.set_yticks(ticks, labels)
    right.tick_params(length=0, labelsize=_FONT_SIZE - 0.5)
    right.spines["right"].set_visible(False)
    right.set_ylabel("Bayesian p-value", fontsize=_FONT_SIZE - 0.5, rotation=270, labelpad=12)
    for label, colour in zip(right.get_yticklabels(), colours, strict=True):
        label.set_color(colour)
        value = float(label.get_text())
        if value < 0.05 or value > 0.95:
            label.set_fontweight("bold")


def _ppc_handles(arms: list[str], colours: Mapping[str, str]) -> list[Any]:
    handles: list[Any] = [
        Line2D([], [], color=colours[a], lw=6, alpha=0.35, label=f"{a}: replicated 95%")
        for a in arms
    ]
    handles.append(
        Line2D(
            [],
            [],
            color="0.4",
            marker="|",
            markersize=10,
            mew=1.5,
            linestyle="none",
            label="replicated mean",
        )
    )
    handles.append(
        Line2D([], [], color=_INK, marker="o", markersize=5, linestyle="none", label="observed")
    )
    return handles


# --------------------------------------------------------------------------------------
# Prior and posterior
# --------------------------------------------------------------------------------------


def prior_posterior_plot(
    prior_logpdf: Callable[[np.ndarray], np.ndarray],
    draws: np.ndarray,
    *,
    name: str = "τ",
    xlim: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Posterior draws of a parameter (histogram and KDE) with its prior density.

    Parameters
    ----------
    prior_logpdf : callable
        Log prior density, vectorised over a 1-d array.
    draws : numpy.ndarray
        Posterior draws (any shape; flattened), all finite.
    name : str
        Parameter name for the axis and legend.
    xlim : (float, float), optional
        Axis range. By default from 0 (when every draw is non-negative, as for τ) or the
        0.1% quantile to beyond the 99.9% quantile.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        Fewer than two draws, a non-finite draw (counted), or a prior density that is NaN
        or of the wrong shape.

    Notes
    -----
    The KDE is scipy's Gaussian KDE (Scott's bandwidth); for a non-negative parameter
    it is reflected at zero so that the density does not leak below the boundary
    (Silverman 1986, sec. 2.10).

    Examples
    --------
    >>> from scipy import stats
    >>> draws = np.abs(np.random.default_rng(1).normal(0.3, 0.1, 500))
    >>> fig = prior_posterior_plot(stats.halfnorm(scale=0.5).logpdf, draws)
    >>> fig.axes[0].get_xlabel()
    'τ'
    """
    x = np.asarray(draws, dtype=float).ravel()
    bad = int(np.sum(~np.isfinite(x)))
    if bad:
        raise ValueError(f"draws of {name}: {bad} of {x.size} are not finite")
    if x.size < 2:
        raise ValueError(f"draws of {name}: need at least 2, got {x.size}")
    lo, hi = xlim if xlim is not None else _draw_limits(x)
    if not lo < hi:
        raise ValueError(f"xlim must be increasing, got {(lo, hi)}")
    grid = np.linspace(lo, hi, 400)
    prior = _prior_density(prior_logpdf, grid, name)
    fig = Figure(figsize=(5.6, 3.6), layout="constrained")
    ax = fig.subplots()
    edges = np.linspace(lo, hi, int(np.clip(np.sqrt(x.size), 15, 60)) + 1)
    counts, _ = np.histogram(x, bins=edges)
    # Normalised by all draws, so draws outside the window are not re-spread inside it.
    ax.stairs(
        counts / (x.size * np.diff(edges)),
        edges,
        fill=True,
        color=_PALETTE[0],
        alpha=0.2,
        label=f"posterior draws ({x.size})",
    )
    if np.ptp(x) > 0:
        ax.plot(
            grid,
            _kde(x, grid, reflect=bool(x.min() >= 0 and lo >= 0)),
            color=_PALETTE[0],
            lw=1.8,
            label=f"posterior of {name} (KDE)",
        )
    ax.plot(grid, prior, color=_PALETTE[1], lw=1.6, ls="--", label=f"prior on {name}")
    ax.set_xlim(lo, hi)
    ax.set_ylim(bottom=0)
    ax.set_xlabel(name, fontsize=_FONT_SIZE + 1)
    ax.set_ylabel("Density", fontsize=_FONT_SIZE)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=_FONT_SIZE - 0.5)
    ax.legend(frameon=False, fontsize=_FONT_SIZE - 0.5)
    if title:
        ax.set_title(title, fontsize=11, fontweight="bold", loc="left")
    return fig


def _draw_limits(x: np.ndarray) -> tuple[float, float]:
    q_lo, q_hi = np.quantile(x, [0.001, 0.999])
    span = (q_hi - q_lo) or max(abs(q_hi), 1.0)
    lo = 0.0 if x.min() >= 0 else q_lo - 0.1 * span
    return float(lo), float(q_hi + 0.15 * span)


def _prior_density(
    prior_logpdf: Callable[[np.ndarray], np.ndarray], grid: np.ndarray, name: str
) -> np.ndarray:
    density = np.exp(np.asarray(prior_logpdf(grid), dtype=float))
    if density.shape != grid.shape:
        raise ValueError(
            f"prior log-density of {name} returned shape {density.shape} for {grid.shape} points"
        )
    if np.isnan(density).any():
        raise ValueError(f"prior log-density of {name} is NaN at some points of the axis")
    return density


def _kde(x: np.ndarray, grid: np.ndarray, reflect: bool) -> np.ndarray:
    kde = stats.gaussian_kde(x)
    density = kde(grid)
    if reflect:
        density = density + kde(-grid)
    return density


# --------------------------------------------------------------------------------------
# Survival posterior predictive check
# --------------------------------------------------------------------------------------


def km_ppc_plot(
    observed: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
    predicted: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]],
    *,
    title: str | None = None,
) -> Figure:
    """Kaplan-Meier curves per trial and arm over the posterior predictive survival band.

    Parameters
    ----------
    observed : mapping
        ``observed[trial][arm] = (times, survival)``: the Kaplan-Meier estimate, drawn
        as a step function (S(0) = 1 is added when the times start after 0).
    predicted : mapping
        ``predicted[trial][arm] = (times, median, low, high)``: the posterior predictive
        survival curve and its band.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per trial, four to a row, with a shared legend.

    Raises
    ------
    ValueError
        Arrays of one curve differ in length (the trial and arm are named), or there is
        no trial at all.
    """
    trials = list(dict.fromkeys([*observed, *predicted]))
    if not trials:
        raise ValueError("km_ppc_plot needs at least one trial")
    arms = _ordered_arms(a for t in trials for a in [*observed.get(t, {}), *predicted.get(t, {})])
    colours = {arm: _PALETTE[i % len(_PALETTE)] for i, arm in enumerate(arms)}
    ncols = min(4, len(trials))
    nrows = math.ceil(len(trials) / ncols)
    fig = Figure(figsize=(2.5 * ncols + 2.0, 2.1 * nrows + 0.9), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
    for ax, trial in zip(axes.flat, trials, strict=False):
        for arm in arms:
            if arm in predicted.get(trial, {}):
                _draw_band(ax, trial, arm, predicted[trial][arm], colours[arm])
            if arm in observed.get(trial, {}):
                _draw_km(ax, trial, arm, observed[trial][arm], colours[arm])
        ax.set_title(trial, fontsize=_FONT_SIZE, loc="left")
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=_FONT_SIZE - 1)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for i, ax in enumerate(axes.flat):
        if i >= len(trials):
            ax.set_visible(False)
        elif i + ncols >= len(trials):
            # the panel below is empty: this one carries the time axis labels
            ax.tick_params(axis="x", labelbottom=True)
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold")
    fig.supxlabel("Time", fontsize=_FONT_SIZE)
    fig.supylabel("Survival probability", fontsize=_FONT_SIZE)
    # On the right: an "outside upper" legend would collide with the suptitle.
    fig.legend(
        handles=_km_handles(arms, colours),
        loc="outside right upper",
        frameon=False,
        fontsize=_FONT_SIZE - 0.5,
    )
    return fig


def _curve_arrays(curve: Sequence[Any], n: int, trial: str, arm: str, what: str) -> list[Any]:
    if len(curve) != n:
        raise ValueError(f"{what} curve of trial {trial!r}, arm {arm!r}: expected {n} arrays")
    arrays = [np.asarray(a, dtype=float).ravel() for a in curve]
    if len({a.size for a in arrays}) != 1:
        sizes = ", ".join(str(a.size) for a in arrays)
        raise ValueError(
            f"{what} curve of trial {trial!r}, arm {arm!r}: arrays of unequal length ({sizes})"
        )
    return arrays


def _draw_km(ax: Axes, trial: str, arm: str, curve: Sequence[Any], colour: str) -> None:
    times, surv = _curve_arrays(curve, 2, trial, arm, "observed")
    if times.size and times[0] > 0:
        times, surv = np.r_[0.0, times], np.r_[1.0, surv]
    ax.step(times, surv, where="post", color=colour, lw=1.3, gid="km-curve")


def _draw_band(ax: Axes, trial: str, arm: str, curve: Sequence[Any], colour: str) -> None:
    times, median, low, high = _curve_arrays(curve, 4, trial, arm, "predicted")
    ax.fill_between(times, low, high, color=colour, alpha=0.2, lw=0, gid="predictive-band")
    ax.plot(times, median, color=colour, lw=1.0, ls="--", gid="predictive-median")


def _km_handles(arms: list[str], colours: Mapping[str, str]) -> list[Any]:
    handles: list[Any] = [Patch(color=colours[a], alpha=0.6, label=a) for a in arms]
    handles.append(
        Line2D([], [], color="0.3", lw=1.3, drawstyle="steps-post", label="Kaplan-Meier")
    )
    handles.append(
        Line2D([], [], color="0.3", lw=1.0, ls="--", label="posterior predictive\nmedian, 95% band")
    )
    return handles
