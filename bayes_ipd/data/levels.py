"""Ordered levels of an ordinal outcome: coding the column 0..J-1 on all rows.

An ordinal outcome's levels are given in order (``levels=``), or, for a numeric column,
are its distinct values in numeric order. The column is coded on every row before the
missing-data policy, so a value outside the levels is refused with its row named.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.data.messages import RowName, quoted, value_label
from bayes_ipd.errors import IPDDataError

__all__ = ["level_labels", "ordinal_codes"]


def level_labels(levels: str | Sequence[Any] | None) -> tuple[str, ...] | None:
    """Levels as labels (``"a,b,c"`` is three levels; numbers as :func:`value_label`)."""
    if levels is None:
        return None
    items = levels.split(",") if isinstance(levels, str) else list(levels)
    labels = tuple(value_label(v).strip() for v in items)
    if any(not label for label in labels):
        raise IPDDataError(f"levels={levels!r} holds an empty level")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise IPDDataError(f"levels={levels!r} lists {quoted(repeated)} more than once")
    return labels


def _row_labels(values: pd.Series, missing: np.ndarray) -> tuple[np.ndarray, bool]:
    """The label of each row (None where missing) and whether every present value is a number."""
    present = values[~missing]
    numbers = pd.to_numeric(present.astype(object), errors="coerce")
    numeric = bool(numbers.notna().all())
    labels = np.full(len(values), None, dtype=object)
    if numeric:
        labels[~missing] = [value_label(float(v)) for v in numbers]
    else:
        labels[~missing] = [value_label(v).strip() for v in present]
    return labels, numeric


def ordinal_codes(
    values: pd.Series,
    column: str,
    missing: np.ndarray,
    row_name: RowName,
    levels: str | Sequence[Any] | None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Code an ordinal outcome 0..J-1 (NaN where missing) in the order of its levels.

    Parameters
    ----------
    values : Series
        The outcome column.
    column : str
        Its name, for messages.
    missing : ndarray of bool
        Where a value is missing.
    row_name : RowName
        Names the source row of a position.
    levels : str, sequence or None
        The levels in order (``"mild,moderate,severe"``); None for a numeric column's
        distinct values in numeric order.

    Returns
    -------
    codes : ndarray of float64
    levels : tuple of str
        The level labels, in order.

    Raises
    ------
    IPDDataError
        A value outside ``levels``; a text outcome without ``levels``; fewer than two
        observed levels; a given level that no row takes.
    """
    labels, numeric = _row_labels(values, missing)
    present = labels[~missing]
    given = level_labels(levels)
    if given is None:
        if not numeric:
            raise IPDDataError(
                f"ordinal outcome {column!r} holds text; give its levels in order "
                "(levels='low,mid,high' / --levels low,mid,high)"
            )
        given = tuple(value_label(v) for v in sorted({float(v) for v in present}))
    index = {label: j for j, label in enumerate(given)}
    outside = np.array([label is not None and label not in index for label in labels])
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise IPDDataError(
            f"ordinal outcome {column!r}: value {labels[first]!r} at {row_name(first)} is not "
            f"one of the levels {quoted(given)} ({int(outside.sum())} such row(s))"
        )
    seen = {label for label in present}
    if len(seen) < 2:
        raise IPDDataError(
            f"ordinal outcome {column!r} takes {len(seen)} level(s) ({quoted(sorted(seen))}); "
            "an ordinal outcome needs at least two"
        )
    unused = [label for label in given if label not in seen]
    if unused:
        raise IPDDataError(
            f"ordinal outcome {column!r}: level(s) {quoted(unused)} of {quoted(given)} occur in "
            "no row; their cut points would not be identified, so leave them out of the levels"
        )
    codes = np.array([np.nan if label is None else index[label] for label in labels], float)
    return codes, given
