"""Parsing of participant columns, on all rows, before the missing-data policy.

Every column is parsed on every row first, so that text is never mistaken for a missing
value: a numeric column holding text is refused with the value and its row named.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_ipd.data.messages import RowName, value_label
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families import REGISTRY, ResponseRole

__all__ = [
    "Covariate",
    "Treatment",
    "missing_mask",
    "numeric_column",
    "parse_covariate",
    "parse_label",
    "parse_treatment",
    "study_codes",
]


def missing_mask(values: pd.Series) -> np.ndarray:
    """True where a value is missing: NA/NaN/None, or a blank string.

    Parameters
    ----------
    values : Series

    Returns
    -------
    ndarray of bool
    """
    mask = values.isna().to_numpy()
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        mask = mask | _blank_strings(values.astype(object))
    return mask


def _blank_strings(values: pd.Series) -> np.ndarray:
    """True where a value is a string of only whitespace (other values: False).

    Each distinct value is looked at once (a trial column of 357,347 rows has 13).
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    blank = np.array([isinstance(u, str) and not u.strip() for u in uniques], dtype=bool)
    return np.append(blank, False)[codes]  # the NA code -1 picks the appended False


def _coerce_numbers(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype(np.float64)
    return pd.to_numeric(values, errors="coerce").astype(np.float64)


def numeric_column(
    values: pd.Series,
    column: str,
    role: str,
    missing: np.ndarray,
    row_name: RowName,
    hint: str = "",
) -> np.ndarray:
    """float64 values (NaN where missing); any text that is not a number is refused.

    Parameters
    ----------
    values : Series
        The source column.
    column, role : str
        Its name and what it holds, for the message.
    missing : ndarray of bool
        :func:`missing_mask` of ``values``.
    row_name : RowName
        Names the source row of a position.
    hint : str
        Appended to the refusal message.

    Returns
    -------
    ndarray of float64
    """
    parsed = _coerce_numbers(values)
    bad = np.flatnonzero(~missing & parsed.isna().to_numpy())
    if bad.size:
        first = int(bad[0])
        check_comma_numbers(values, column, missing, row_name)
        raise IPDDataError(
            f"column {column!r} ({role}) must be numeric but holds text: {values.iloc[first]!r} "
            f"at {row_name(first)} ({bad.size} non-numeric value(s) in all){hint}"
        )
    out = parsed.to_numpy(dtype=np.float64, copy=True)
    out[missing] = np.nan
    return out


_COMMA_NUMBER = re.compile(r"\s*[+-]?[\d.,]*\d[\d.,]*\s*")
"""Digits with commas (and perhaps points): ``"1,000"``, ``"60,1232"``, ``"1.000,5"``."""


def check_comma_numbers(
    values: pd.Series, column: str, missing: np.ndarray, row_name: RowName
) -> None:
    """Refuse a text column whose values are all numbers, some written with a comma.

    A comma is a thousands separator (``"1,000"``) or a decimal mark (``"60,1232"``);
    which one cannot be told from the value (``"1,000"`` is also 1.000 with a decimal comma),
    so neither is guessed: read as text, such a column would become a categorical covariate
    with one level per value, or be refused without the reason.

    Parameters
    ----------
    values : Series
        The source column.
    column : str
        Its name, for the message.
    missing : ndarray of bool
        :func:`missing_mask` of ``values``.
    row_name : RowName
        Names the source row of a position.
    """
    if values.dtype != object and not pd.api.types.is_string_dtype(values.dtype):
        return
    present = values.astype(object)[~missing]
    codes, uniques = pd.factorize(present)
    texts = [u for u in uniques.tolist() if isinstance(u, str)]
    if len(texts) != len(uniques) or not texts:
        return
    if not all(_COMMA_NUMBER.fullmatch(t) for t in texts):
        return
    with_comma = [i for i, t in enumerate(uniques.tolist()) if "," in t]
    if not with_comma:
        return
    first = int(np.flatnonzero(~missing)[int(np.flatnonzero(codes == with_comma[0])[0])])
    raise IPDDataError(
        f"column {column!r} holds numbers written with a comma, e.g. {values.iloc[first]!r} at "
        f"{row_name(first)}: a comma as thousands separator ('1,000') or as decimal mark "
        "('60,1232') is not read; write plain numbers with a decimal point ('1000', "
        "'60.1232'), e.g. by exporting the file with English number settings"
    )


def parse_label(role: ResponseRole) -> str:
    """A response column's name in parsing messages.

    Its label when every family reading the keyword labels it alike (``"survival time"``),
    else the keyword itself (``"outcome"``, which is a gaussian ``"outcome"`` and a
    ``"binomial outcome"``): whether a column is numeric does not depend on the family.
    """
    labels = {
        r.label
        for f in REGISTRY.values()
        for r in f.responses
        if r.role == role.role and r.option_name == role.option_name
    }
    return role.label if len(labels) == 1 else role.role


def _mostly_numeric(values: pd.Series, missing: np.ndarray) -> bool:
    """More than half of the present values parse as numbers."""
    present = int((~missing).sum())
    if present == 0:
        return True
    numbers = int((~missing & _coerce_numbers(values).notna().to_numpy()).sum())
    return numbers * 2 > present


def _any_number(values: pd.Series, missing: np.ndarray) -> bool:
    """Some present value parses as a number (or there is no present value)."""
    if not (~missing).any():
        return True
    return bool((~missing & _coerce_numbers(values).notna().to_numpy()).any())


def _text_labels(values: pd.Series, missing: np.ndarray) -> np.ndarray:
    """``str`` label per row (object array), None where missing; one ``str`` call per value."""
    codes, uniques = pd.factorize(values.astype(object).where(~missing, None))
    table = np.array([value_label(u) for u in np.asarray(uniques, dtype=object)] + [None], object)
    return table[codes]  # code -1 (missing) picks the trailing None


@dataclass(frozen=True)
class Treatment:
    """A parsed treatment column.

    Attributes
    ----------
    kind : {"numeric", "text"}
    values : ndarray
        float64 (numeric, NaN = missing) or object labels (text, None = missing).
    """

    kind: str
    values: np.ndarray


def parse_treatment(
    values: pd.Series, column: str, missing: np.ndarray, row_name: RowName
) -> Treatment:
    """Numeric (bool or mostly numbers) or text treatment values, per row."""
    if pd.api.types.is_bool_dtype(values.dtype) or _mostly_numeric(values, missing):
        return Treatment("numeric", numeric_column(values, column, "treatment", missing, row_name))
    return Treatment("text", _text_labels(values, missing))


@dataclass(frozen=True)
class Covariate:
    """A parsed covariate column: numeric, or categorical.

    Attributes
    ----------
    numeric : ndarray of float64 or None
        Values with NaN where missing, or None for a categorical covariate.
    categorical : pandas.Categorical or None
    """

    numeric: np.ndarray | None
    categorical: pd.Categorical | None


def parse_covariate(
    values: pd.Series, column: str, missing: np.ndarray, row_name: RowName
) -> Covariate:
    """Categorical when pandas says so or when all text (sorted levels), else numeric.

    A column (not of pandas ``category`` dtype) in which some values parse as numbers and
    some do not is refused, naming the first text value and its row: it is a numeric
    covariate with text in it, not a categorical one whose levels are the numbers.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        return Covariate(
            None,
            pd.Categorical(
                values.astype(object).where(~missing, None),
                categories=values.cat.categories,
                ordered=values.cat.ordered,
            ),
        )
    if pd.api.types.is_bool_dtype(values.dtype) or _any_number(values, missing):
        role = "covariate, partly numbers"
        hint = (
            "; a covariate is numeric (numbers throughout) or categorical (text levels, or "
            "a pandas 'category' dtype column)"
        )
        return Covariate(numeric_column(values, column, role, missing, row_name, hint), None)
    check_comma_numbers(values, column, missing, row_name)
    labels = _text_labels(values, missing)
    levels = sorted({label for label in labels.tolist() if label is not None})
    return Covariate(None, pd.Categorical(labels, categories=levels))


def study_codes(values: pd.Series, missing: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer code per row (-1 where missing) and labels, in order of first appearance.

    Distinct source values with the same label (``1`` and ``1.0``, ``"A"`` and ``" A "``:
    surrounding whitespace is stripped) share one trial, and so do two Unicode spellings of
    one label (``"Zu\u0308rich"`` and ``"Z\u00fcrich"``: labels are normalised to NFC). A
    label holding a control character (a newline, an ANSI escape) is refused: printed, it
    would break or recolour tables and messages.

    Parameters
    ----------
    values : Series
        The study column.
    missing : ndarray of bool

    Returns
    -------
    codes : ndarray of int64
    labels : list of str
    """
    raw = values.astype(object).where(~missing, None)
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    labels = [
        unicodedata.normalize("NFC", value_label(u).strip())
        for u in np.asarray(uniques, dtype=object)
    ]
    for label in labels:
        if any(unicodedata.category(ch) == "Cc" for ch in label):
            raise IPDDataError(
                f"trial label {label!r} holds a control character (a newline, tab, escape, "
                "...); trial labels must be printable text"
            )
    merged, label_uniques = pd.factorize(np.array(labels, dtype=object))
    merged = np.asarray(merged, dtype=np.int64)
    row_codes = np.where(codes >= 0, merged[np.maximum(codes, 0)], -1).astype(np.int64)
    return row_codes, [str(u) for u in label_uniques]
