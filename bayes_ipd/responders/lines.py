"""The lines of the responders table: a numeric characteristic (median [IQR],
Mann-Whitney U), a categorical one (counts and percent, Fisher's exact or Pearson's
chi-square) and the published effects pooled per group with the test for subgroup
differences; cells as text, the numbers behind them kept (:class:`CharacteristicRow`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from bayes_ipd.two_stage.pooling import pool

__all__ = [
    "EXACT_MAX_TRIALS",
    "CharacteristicRow",
    "categorical_rows",
    "is_numeric",
    "markdown_cell",
    "numeric_row",
    "p_text",
    "published_effects",
    "subgroup_row",
]

EXACT_MAX_TRIALS = 50
"""The Mann-Whitney test is exact up to this many trials (and without ties)."""

_Z = 1.959963984540054  # standard normal 97.5% quantile


@dataclass(frozen=True)
class CharacteristicRow:
    """One line of the comparison: a characteristic, one of its levels, or a count.

    ``supplied_ipd`` / ``no_ipd`` are the cells as text; ``values`` keeps the numbers
    behind them (e.g. ``{"median": (1968.0, 1973.0), "q1": ..., "q3": ...}`` or
    ``{"count": (7, 0)}``), group order: supplied IPD, did not.
    """

    characteristic: str
    supplied_ipd: str
    no_ipd: str
    test: str = ""
    statistic: float = math.nan
    p_value: float = math.nan
    missing: str = ""
    values: Mapping[str, tuple[float, float]] | None = None


def is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _split(series: pd.Series, ipd: pd.Series) -> tuple[pd.Series, pd.Series]:
    return series[ipd].dropna(), series[~ipd].dropna()


def _missing(series: pd.Series, ipd: pd.Series) -> str:
    a, b = int(series[ipd].isna().sum()), int(series[~ipd].isna().sum())
    return "" if a == b == 0 else f"{a} / {b}"


def numeric_row(column: str, series: pd.Series, ipd: pd.Series) -> CharacteristicRow:
    a, b = (np.asarray(x, dtype=np.float64) for x in _split(series.astype(float), ipd))
    q = [np.percentile(x, [25, 50, 75]) if x.size else np.full(3, math.nan) for x in (a, b)]
    cells = [_median_iqr(qx) if x.size else "-" for qx, x in zip(q, (a, b), strict=True)]
    values = {
        "q1": (float(q[0][0]), float(q[1][0])),
        "median": (float(q[0][1]), float(q[1][1])),
        "q3": (float(q[0][2]), float(q[1][2])),
    }
    test, statistic, p = _mann_whitney(a, b)
    return CharacteristicRow(
        column, cells[0], cells[1], test, statistic, p, _missing(series, ipd), values
    )


def _mann_whitney(a: np.ndarray, b: np.ndarray) -> tuple[str, float, float]:
    if not (a.size and b.size):
        return "not tested (a group has no values)", math.nan, math.nan
    pooled = np.concatenate([a, b])
    ties = len(np.unique(pooled)) < pooled.size
    exact = not ties and pooled.size <= EXACT_MAX_TRIALS
    method = "exact" if exact else "asymptotic"
    result = stats.mannwhitneyu(a, b, alternative="two-sided", method=method)
    label = "Mann-Whitney U, exact" if exact else "Mann-Whitney U, normal approx."
    return label, float(result.statistic), float(result.pvalue)


def categorical_rows(column: str, series: pd.Series, ipd: pd.Series) -> list[CharacteristicRow]:
    text = series.map(lambda v: v if pd.isna(v) else str(v))
    a, b = _split(text, ipd)
    levels = sorted(set(a) | set(b))
    table = np.array([[int((a == lv).sum()), int((b == lv).sum())] for lv in levels])
    test, statistic, p = _association(table)
    head = CharacteristicRow(column, "", "", test, statistic, p, _missing(series, ipd))
    rows = [head]
    for level, (na, nb) in zip(levels, table, strict=True):
        rows.append(
            CharacteristicRow(
                f"{column}: {level}",
                _count_pct(na, a.size),
                _count_pct(nb, b.size),
                values={"count": (float(na), float(nb))},
            )
        )
    return rows


def _association(table: np.ndarray) -> tuple[str, float, float]:
    if table.shape[0] < 2 or (table.sum(axis=0) == 0).any():
        return "not tested (one level, or a group without values)", math.nan, math.nan
    if table.shape[0] == 2:
        result = stats.fisher_exact(table, alternative="two-sided")
        return "Fisher's exact", float(result.statistic), float(result.pvalue)
    chi2, p, _, expected = stats.chi2_contingency(table, correction=False)
    label = "Pearson chi-square" + (" (expected counts < 5)" if (expected < 5).any() else "")
    return label, float(chi2), float(p)


def published_effects(frame: pd.DataFrame) -> pd.DataFrame | None:
    if "estimate" not in frame.columns:
        return None
    return frame.loc[frame["estimate"].notna(), ["study", "ipd", "estimate", "se"]]


def subgroup_row(effects: pd.DataFrame) -> CharacteristicRow:
    pooled = [_dl_pooled(effects[effects["ipd"] == flag]) for flag in (True, False)]
    cells = [
        "-" if m is None else f"{_num(m[0])} [{_num(m[0] - _Z * m[1])}, {_num(m[0] + _Z * m[1])}]"
        for m in pooled
    ]
    name = "published effect, pooled (DL) [95% CI]"
    if pooled[0] is None or pooled[1] is None:
        return CharacteristicRow(name, cells[0], cells[1], "not tested (a group has no effects)")
    est = np.array([m[0] for m in pooled])
    w = 1.0 / np.array([m[1] for m in pooled]) ** 2
    centre = float(np.sum(w * est) / np.sum(w))
    q = float(np.sum(w * (est - centre) ** 2))
    values = {"estimate": (pooled[0][0], pooled[1][0]), "se": (pooled[0][1], pooled[1][1])}
    return CharacteristicRow(
        name, cells[0], cells[1], "subgroup difference Q (1 df)", q, float(stats.chi2.sf(q, 1)),
        values=values,
    )  # fmt: skip


def _dl_pooled(effects: pd.DataFrame) -> tuple[float, float] | None:
    if effects.empty:
        return None
    if len(effects) == 1:
        return float(effects["estimate"].iloc[0]), float(effects["se"].iloc[0])
    result = pool(effects["estimate"].to_numpy(), effects["se"].to_numpy(), method="DL")
    return float(result.estimate), float(result.se)


# --- text ----------------------------------------------------------------------------------------


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    return f"{x:.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _median_iqr(q: Sequence[float]) -> str:
    return f"{_num(q[1])} [{_num(q[0])}, {_num(q[2])}]"


def _count_pct(count: int, total: int) -> str:
    return f"{count} ({100.0 * count / total:.0f}%)" if total else "-"


def p_text(p: float) -> str:
    if not math.isfinite(p):
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def markdown_cell(cell: str) -> str:
    return cell.replace("|", "\\|")
