"""Words and numbers shared by the figures: scale labels, number formats, table cells.

One formatter per job: :func:`fmt` (fixed decimals), :func:`fmt_sig` (significant digits),
:func:`fmt_p` (p-values) and :func:`interval_cells` (estimate and interval as three cells).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from bayes_ipd.conventions import SCALES
from bayes_ipd.plots.rows import ForestRow

__all__ = [
    "LINEAR_SCALES",
    "MINUS",
    "RATIO_SCALES",
    "all_numeric",
    "fmt",
    "fmt_p",
    "fmt_sig",
    "interval_cells",
    "level_text",
    "measure_name",
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


def all_numeric(cells: Iterable[str]) -> bool:
    """True when every non-empty cell reads as a number (such columns are right-aligned)."""
    filled = [c for c in cells if c]
    try:
        [float(c.replace(MINUS, "-")) for c in filled]
    except ValueError:
        return False
    return bool(filled)
