"""Shared machinery of the families' stage-one regressions (one trial at a time).

A family's :meth:`~bayes_ipd.families.base.Family.fit_trial` raises :class:`Unfittable`
with the reason in words when a trial's model cannot be fitted; the two-stage route then
keeps the trial with that reason and a NaN estimate.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import pandas as pd
from scipy.optimize import linprog

__all__ = [
    "Unfittable",
    "arm_name",
    "check_design",
    "quietly",
    "separable",
    "term_estimate",
    "with_intercept",
]

_R = TypeVar("_R")


class Unfittable(Exception):
    """A trial's model cannot be fitted; the message is the reason, in words."""


def arm_name(treated: bool) -> str:
    """``"treated"`` or ``"control"``."""
    return "treated" if treated else "control"


def with_intercept(x: np.ndarray) -> np.ndarray:
    """``x`` with a leading column of ones."""
    return np.column_stack([np.ones(len(x)), x])


MAGNITUDE_LIMIT = 1e145
"""Largest absolute value a regression column may hold: sums of squares of up to 1e8 such
values stay below the double-precision maximum (about 1.8e308)."""


def check_magnitude(values: np.ndarray, name: str) -> None:
    """Refuse a column whose squares would overflow, naming it and its largest value."""
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    if largest > MAGNITUDE_LIMIT:
        raise Unfittable(
            f"{name!r} holds values up to {largest:g}: too large for a regression in double "
            "precision (their squares overflow); rescale it, e.g. to other units"
        )


def check_design(x: np.ndarray, names: Sequence[str], *, min_residual_df: int) -> None:
    """Enough rows for the parameters, values that do not overflow, and no column a
    combination of those before it."""
    n, p = x.shape
    for j in range(p):
        check_magnitude(x[:, j], names[j])
    if n < p + min_residual_df:
        extra = " and a residual degree of freedom" if min_residual_df else ""
        raise Unfittable(f"{n} rows are too few for {p} parameters{extra}")
    # Scale each column to unit largest magnitude first: matrix_rank's tolerance is relative
    # to the largest singular value, so a column in large units (age in 1e-12 years) would
    # otherwise make every other column look negligible and the design falsely singular.
    # The rank of a column-scaled matrix is the rank of the design, whatever the units.
    largest = np.max(np.abs(x), axis=0) if n else np.ones(p)
    scaled = x / np.where(largest > 0, largest, 1.0)
    for j in range(1, p + 1):
        if np.linalg.matrix_rank(scaled[:, :j]) < j:
            raise Unfittable(
                f"singular design: {names[j - 1]!r} is a linear combination of the "
                "columns before it"
            )


def quietly(fit: Callable[[], _R]) -> _R:
    """Run a statsmodels fit, turning its warnings and failures into an exclusion reason."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fit()
        except (np.linalg.LinAlgError, ValueError, OverflowError) as exc:
            raise Unfittable(f"the model could not be fitted ({exc})") from exc
    for warning in caught:
        kind = warning.category.__name__
        if kind == "PerfectSeparationWarning":
            raise Unfittable("separation: the design predicts the outcome perfectly")
        if kind in {"ConvergenceWarning", "HessianInversionWarning"}:
            raise Unfittable(f"the model did not converge ({warning.message})")
    return result


def term_estimate(params: np.ndarray, bse: np.ndarray, index: int) -> tuple[float, float]:
    """Estimate and SE of coefficient ``index``, refusing non-finite or zero SEs."""
    estimate, se = float(np.asarray(params)[index]), float(np.asarray(bse)[index])
    if not (np.isfinite(estimate) and np.isfinite(se) and se > 0):
        raise Unfittable(f"the fit gave estimate {estimate} with standard error {se}")
    return estimate, se


def separable(d: np.ndarray) -> bool:
    """Whether some direction ``b != 0`` has ``d @ b >= 0`` with at least one row ``> 0``.

    For logistic regression the rows of ``d`` are ``(2y - 1) x``; for the Cox partial
    likelihood they are ``x_i - x_j`` for each event ``i`` and each ``j`` at risk then. Such
    a direction exists exactly when the likelihood increases without bound along it (the
    maximum likelihood estimate does not exist), Albert & Anderson (1984); the linear
    programme is that of Konis (2007), with ``b`` in the unit box.
    """
    # distinct rows (hashing: much faster than np.unique's sort on large trials; the
    # linear programme does not depend on the rows' order)
    d = pd.DataFrame(d[np.any(d != 0, axis=1)]).drop_duplicates().to_numpy()
    if d.size == 0:
        return False
    scale = np.abs(d).max(axis=0)
    scale[scale == 0] = 1.0
    d = d / scale
    result = linprog(
        c=-d.sum(axis=0),
        A_ub=-d,
        b_ub=np.zeros(len(d)),
        bounds=[(-1.0, 1.0)] * d.shape[1],
        method="highs",
    )
    return bool(result.status == 0 and -result.fun > 1e-7 * len(d))
