"""How values, lists and rows are written in the data layer's messages.

Every refusal of :mod:`bayes_ipd.data` names the value, column, trial or row at fault; the
helpers here write those names the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "LIST_LIMIT",
    "RowName",
    "counts_text",
    "file_row_name",
    "index_row_name",
    "number_text",
    "quoted",
    "value_label",
]

LIST_LIMIT = 8
"""Items shown of a long list before ``... (n in all)``."""

RowName = Callable[[int], str]
"""Names the source row at a position (``"row 17"``, ``"data row 3 (line 4 of f.csv)"``)."""


def quoted(values: Iterable[Any], limit: int = LIST_LIMIT) -> str:
    """``'a', 'b', 'c'`` (at most ``limit`` items, then ``... (n in all)``).

    Parameters
    ----------
    values : iterable
        The items, written with ``repr``.
    limit : int
        Items shown.

    Returns
    -------
    str
    """
    items = list(values)
    shown = ", ".join(repr(v) for v in items[:limit])
    return shown if len(items) <= limit else f"{shown}, ... ({len(items)} in all)"


def counts_text(counts: Mapping[str, int], limit: int = LIST_LIMIT) -> str:
    """``'T1' 2, 'T3' 1`` from a mapping of label to count.

    Parameters
    ----------
    counts : Mapping[str, int]
    limit : int
        Items shown.

    Returns
    -------
    str
    """
    items = list(counts.items())
    shown = ", ".join(f"{label!r} {count}" for label, count in items[:limit])
    return shown if len(items) <= limit else f"{shown}, ... ({len(items)} in all)"


def value_label(value: Any) -> str:
    """``str(value)``, with integral floats written without a decimal point (1.0 -> '1').

    Parameters
    ----------
    value : object

    Returns
    -------
    str
    """
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        return str(value.item())
    return str(value)


def number_text(value: float) -> str:
    """A number as :func:`value_label` writes it (``2.0`` -> ``'2'``, ``-1.5`` -> ``'-1.5'``)."""
    return value_label(float(value))


def index_row_name(index: pd.Index) -> RowName:
    """Rows named by a DataFrame's index label (``row 17``).

    Parameters
    ----------
    index : pandas.Index
        The index of the caller's frame.

    Returns
    -------
    RowName
    """

    def row_name(position: int) -> str:
        return f"row {index[position]!r}"

    return row_name


def file_row_name(path: Path) -> RowName:
    """Rows named by their place in a file (``data row 5 (line 6 of path)``).

    Parameters
    ----------
    path : Path
        The file read (its first line is the header).

    Returns
    -------
    RowName
    """

    def row_name(position: int) -> str:
        return f"data row {position + 1} (line {position + 2} of {path})"

    return row_name
