"""Table cells a reviewer reads: readable headers and formatted numbers.

The HTML report shows pandas frames as text cells. These rules turn them into a document:
no integer ``index`` column, headers in words (``ci_low`` -> ``CI low``, ``p_lt_0`` ->
``P(< 0)``), a missing value as an en dash, fixed decimals per column (never
``-1.409e-07``), probabilities as ``>0.999`` / ``<0.001`` at the extremes, counts with
thousands separators.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import pandas as pd

from bayes_ipd.plots.text import fmt_fixed, fmt_probability

__all__ = ["MISSING", "column_cells", "frame_cells", "readable_header"]

MISSING = "\u2013"
"""What a missing value (None, NaN, ``pd.NA``) is shown as: an en dash."""

_HEADERS: dict[str, str] = {
    "q025": "2.5%",
    "q975": "97.5%",
    "q05": "5%",
    "q95": "95%",
    "p_lt_0": "P(< 0)",
    "p_gt_0": "P(> 0)",
    "p_value": "p",
    "r_hat": "R-hat",
    "rhat": "R-hat",
    "ess_bulk": "ESS bulk",
    "ess_tail": "ESS tail",
    "k": "k",
    "k_ad": "k (AD only)",
    "tau": "\u03c4",
    "tau2": "\u03c4\u00b2",
    "i2": "I\u00b2",
    "n": "n",
    "p_two_sided": "p (two-sided)",
}
_WORDS: dict[str, str] = {
    "ci": "CI",
    "pi": "PI",
    "se": "SE",
    "sd": "SD",
    "ad": "AD",
    "ipd": "IPD",
    "ess": "ESS",
    "mcse": "MCSE",
    "hksj": "HKSJ",
    "reml": "REML",
    "loo": "LOO",
    "ppc": "PPC",
    "q025": "2.5%",
    "q975": "97.5%",
}
_PROBABILITY = ("p_lt_0", "p_gt_0", "p_value", "p", "probability", "pareto_p")
_THREE_DECIMALS = ("r_hat", "rhat")


def readable_header(name: Any) -> str:
    """A column name in words: ``ci_low`` -> ``CI low``, ``two_stage_estimate`` ->
    ``Two-stage estimate``, ``p_lt_0`` -> ``P(< 0)``; unknown names lose their underscores."""
    text = str(name)
    if text in _HEADERS:
        return _HEADERS[text]
    if text.startswith("exp_"):  # exp_median -> exp(median): the ratio-scale columns
        inner = readable_header(text[4:])
        if inner[:1].isupper() and not inner[:2].isupper():  # "Median", not "CI low"
            inner = inner[:1].lower() + inner[1:]
        return f"exp({inner})"
    text = text.replace("one_stage", "one-stage").replace("two_stage", "two-stage")
    words = [_WORDS.get(w.lower(), w) for w in text.split("_") if w]
    if not words:
        return ""
    first = words[0]
    words[0] = first[:1].upper() + first[1:] if first.islower() else first
    return " ".join(words)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isnan(value)


def _decimals(name: str, values: Sequence[float]) -> int:
    """Decimals of a float column from its largest value: 3 below 10, 2 below 100, else 1;
    4 when every value is below 0.01 (R-hat: 3; effective sample sizes: 0)."""
    if name in _THREE_DECIMALS:
        return 3
    if name.startswith("ess"):
        return 0
    finite = [abs(v) for v in values if math.isfinite(v)]
    largest = max(finite, default=0.0)
    # one rule for every column of effects, so that neighbouring columns align: three
    # decimals, fewer for large numbers, four when the whole column is below 0.01
    if largest >= 100:
        return 1
    if largest >= 10:
        return 2
    return 4 if 0 < largest < 0.01 else 3


def _integer(value: float, name: str) -> str:
    number = int(value)
    # thousands separators for counts; a seed or a year is an identifier, kept as written
    return str(number) if name in ("seed", "year") else f"{number:,}"


def column_cells(name: Any, values: Sequence[Any]) -> tuple[str, ...]:
    """The cells of one column (``name`` chooses probability and R-hat formats)."""
    key = str(name)
    present = [v for v in values if not _missing(v)]
    reals = [float(v) for v in present if isinstance(v, numbers.Real) and not isinstance(v, bool)]
    numeric = bool(present) and len(reals) == len(present)
    if not numeric:
        return tuple(MISSING if _missing(v) else _text(v) for v in values)
    if key in _PROBABILITY:
        return tuple(MISSING if _missing(v) else fmt_probability(float(v)) for v in values)
    integral = all(math.isfinite(v) and v == int(v) and abs(v) < 1e15 for v in reals)
    if integral and (key not in _THREE_DECIMALS):
        return tuple(MISSING if _missing(v) else _integer(float(v), key) for v in values)
    decimals = _decimals(key, reals)
    return tuple(MISSING if _missing(v) else fmt_fixed(float(v), decimals) for v in values)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return fmt_fixed(value, 4)
    return str(value)


def frame_cells(
    frame: pd.DataFrame, *, index: bool = True
) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Readable headers and formatted rows of ``frame``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Only read.
    index : bool
        Show the index as the first column, unless it is the default ``0, 1, ...``
        (a row number says nothing to a reader).

    Returns
    -------
    (headers, rows)
        Text only; the template escapes it.
    """
    plain = isinstance(frame.index, pd.RangeIndex) and frame.index.name is None
    df = frame
    if index and not plain:
        # an unnamed index (e.g. parameter names) gets an empty header, never "index"
        names = [n if n is not None else "" for n in frame.index.names]
        df = frame.reset_index(names=names)
    columns = [column_cells(c, list(df[c])) for c in df.columns]
    headers = tuple(readable_header(c) for c in df.columns)
    rows = tuple(zip(*columns, strict=True)) if columns else ()
    return headers, tuple(tuple(r) for r in rows)
