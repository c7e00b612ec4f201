"""Words and numbers shared by the figures: scale labels, number formats, table cells.

One formatter per job: :func:`fmt` (fixed decimals), :func:`fmt_sig` (significant digits),
:func:`fmt_p` (p-values) and :func:`interval_cells` (estimate and interval as three cells).

The printed reports (two-stage table, one-stage summary, the comparison) share the plain
text helpers: :func:`decimals_for` chooses one number of decimals per column from the
data, :func:`fmt_fixed`, :func:`fmt_count`, :func:`fmt_probability`, :func:`fmt_rhat`
write the cells and :func:`text_table` aligns them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bayes_ipd.conventions import SCALES
from bayes_ipd.plots.rows import ForestRow

__all__ = [
    "LINEAR_SCALES",
    "MINUS",
    "RATIO_SCALES",
    "TextColumn",
    "all_numeric",
    "decimals_for",
    "fmt",
    "fmt_count",
    "fmt_fixed",
    "fmt_p",
    "fmt_probability",
    "fmt_rhat",
    "fmt_sig",
    "interval_cells",
    "level_text",
    "measure_name",
    "text_table",
    "transform",
    "weight_text",
]

MINUS = "\u2212"


def _capitalised(words: str) -> str:
    return words[:1].upper() + words[1:]


RATIO_SCALES: dict[str, str] = {
    code: _capitalised(scale.ratio_name or "") for code, scale in SCALES.items() if scale.is_ratio
}
"""Log-ratio effect scales and the name of the exponentiated measure (``"Risk ratio"``)."""

LINEAR_SCALES: dict[str, str] = {code: _capitalised(scale.name) for code, scale in SCALES.items()}
"""Axis label of each effect scale when it is drawn without exponentiating."""


def measure_name(scale: str | None, exponentiate: bool) -> str:
    """Name of the drawn measure: ``"Risk ratio"``, ``"Log risk ratio"``, ``"Estimate"``..."""
    if exponentiate:
        return RATIO_SCALES.get(scale or "", "exp(estimate)")
    return LINEAR_SCALES.get(scale or "", "Estimate")


def fmt(x: float, digits: int = 2) -> str:
    """Fixed decimals with a typographic minus; blank for NaN."""
    if not math.isfinite(x):
        return "" if math.isnan(x) else ("\u221e" if x > 0 else f"{MINUS}\u221e")
    text = f"{x:.{digits}f}"
    if float(text) == 0.0:
        text = text.lstrip("-")
    return text.replace("-", MINUS)


def fmt_sig(x: float, sig: int = 3) -> str:
    """Significant digits, without scientific notation for the usual range."""
    if not math.isfinite(x):
        return "NA"
    if x == 0:
        return "0"
    if abs(x) < 10 ** -(sig + 1):
        return f"< {10 ** -(sig + 1):g}"
    digits = max(0, sig - 1 - math.floor(math.log10(abs(x))))
    return fmt(x, digits)


def fmt_p(p: float) -> str:
    """``"p = 0.042"``, ``"p < 0.001"``, ``"p = NA"``."""
    if not math.isfinite(p):
        return "p = NA"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def level_text(level: float) -> str:
    """Coverage as a percentage: ``0.95 -> "95%"``."""
    return f"{100 * level:g}%"


def transform(exponentiate: bool) -> Callable[[float], float]:
    """The map from the analysis scale to the drawn scale."""
    return math.exp if exponentiate else float


def interval_cells(row: ForestRow | None, exponentiate: bool, digits: int) -> tuple[str, str, str]:
    """Estimate, ``[low,`` and ``high]`` as three right-aligned cells.

    Blank for a missing or undrawn row; a prediction row shows its interval only.
    """
    if row is None or not row.drawn:
        return ("", "", "")
    f = transform(exponentiate)
    estimate = "" if row.style == "prediction" else fmt(f(row.estimate), digits)
    return (
        estimate,
        f"[{fmt(f(row.ci_low), digits)},",
        f"{fmt(f(row.ci_high), digits)}]",
    )


def weight_text(row: ForestRow) -> str:
    """Weight cell of a trial or pooled row (``"12.5%"``, ``"100%"``); blank otherwise."""
    if row.weight is None or row.style not in ("study", "pooled"):
        return ""
    return f"{row.weight:.1f}%" if row.weight < 99.95 else "100%"


_NUMBER = r"[-\u2212+]?[\d,]*\.?\d+(?:[eE][-+]?\d+)?%?"
_NUMERIC_CELL = re.compile(rf"{_NUMBER}(?:\s*/\s*{_NUMBER})?")


def all_numeric(cells: Iterable[str]) -> bool:
    """True when every non-empty cell reads as a number (such columns are right-aligned).

    Thousands separators (``357,347``), a percent sign and counts written ``events/N``
    (``4/123``) count as numbers.
    """
    filled = [c.strip() for c in cells if c and c.strip()]
    return bool(filled) and all(_NUMERIC_CELL.fullmatch(c) for c in filled)


# --------------------------------------------------------------------------------------
# Plain-text reports
# --------------------------------------------------------------------------------------


def decimals_for(spreads: Iterable[float], sig: int = 2, least: int = 2, most: int = 6) -> int:
    """One number of decimals for a column, chosen from the data.

    The smallest positive, finite spread (standard error, posterior SD, interval
    half-width) is shown with ``sig`` significant digits, so that the least uncertain
    number of the column keeps its precision and no number shows more digits than its
    uncertainty supports; the result lies in ``[least, most]``.

    Examples
    --------
    >>> decimals_for([0.18, 0.21]), decimals_for([0.063, 0.57]), decimals_for([1.35])
    (2, 3, 2)
    """
    positive = [float(s) for s in spreads if math.isfinite(float(s)) and float(s) > 0]
    if not positive:
        return least
    digits = sig - 1 - math.floor(math.log10(min(positive)))
    return int(min(most, max(least, digits)))


def fmt_fixed(x: float, decimals: int) -> str:
    """Fixed decimals with an ASCII minus for the text reports; blank for NaN or None."""
    if x is None or not math.isfinite(float(x)):
        return "" if x is None or math.isnan(float(x)) else ("inf" if x > 0 else "-inf")
    text = f"{float(x):.{decimals}f}"
    return text.lstrip("-") if float(text) == 0.0 else text


def fmt_count(n: float | None) -> str:
    """A count with thousands separators (``357,347``); blank when missing."""
    if n is None:
        return ""
    try:
        value = float(n)
    except (TypeError, ValueError):
        return ""
    return "" if not math.isfinite(value) else f"{round(value):,}"


def fmt_probability(p: float, decimals: int = 3) -> str:
    """A probability with ``decimals`` decimals, ``">0.999"`` / ``"<0.001"`` at the ends.

    A posterior probability estimated from draws is never exactly 0 or 1, so the ends
    are written as bounds; blank for NaN.

    Examples
    --------
    >>> fmt_probability(1.0), fmt_probability(0.0), fmt_probability(0.8728)
    ('>0.999', '<0.001', '0.873')
    """
    if p is None or not math.isfinite(float(p)):
        return ""
    edge = 10.0**-decimals
    if p > 1 - edge:
        return f">{1 - edge:.{decimals}f}"
    if p < edge:
        return f"<{edge:.{decimals}f}"
    return f"{float(p):.{decimals}f}"


def fmt_rhat(r_hat: float) -> str:
    """R-hat with three decimals (``1.000``, ``1.012``); blank for NaN."""
    return fmt_fixed(r_hat, 3)


@dataclass(frozen=True)
class TextColumn:
    """A column of a plain-text table: header, one cell per row, ``"left"``/``"right"``."""

    header: str
    cells: tuple[str, ...]
    align: str = "right"


def text_table(columns: Sequence[TextColumn], rules: Sequence[int] = (), gap: int = 2) -> list[str]:
    """Align columns into lines: the header, a rule, the rows.

    Parameters
    ----------
    columns : sequence of TextColumn
        All with the same number of cells.
    rules : sequence of int
        Row indices above which a rule is drawn (besides the one under the header).
    gap : int
        Spaces between columns.

    Returns
    -------
    list of str
        Lines without trailing blanks.
    """
    if not columns:
        return []
    widths = [max(len(c.header), *(len(x) for x in c.cells)) for c in columns]

    def line(texts: Sequence[str]) -> str:
        parts = [
            t.ljust(w) if c.align == "left" else t.rjust(w)
            for t, w, c in zip(texts, widths, columns, strict=True)
        ]
        return (" " * gap).join(parts).rstrip()

    header = line([c.header for c in columns])
    rule = "-" * (sum(widths) + gap * (len(widths) - 1))
    lines = [header, rule]
    for i in range(len(columns[0].cells)):
        if i in rules:
            lines.append(rule)
        lines.append(line([c.cells[i] for c in columns]))
    return lines
