"""Restricted cubic spline bases (Harrell's parameterisation): the knots and the basis.

A spline of covariate ``x`` with knots ``t_1 < ... < t_k`` (3 to 5, at Harrell's quantiles
of the pooled values of all trials) replaces the covariate's one linear term by ``k - 1``
terms: ``x`` itself and, for ``j = 1 .. k - 2``,

``x'j = [(x - t_j)+³ - (x - t_{k-1})+³ (t_k - t_j)/(t_k - t_{k-1})
        + (x - t_k)+³ (t_{k-1} - t_j)/(t_k - t_{k-1})] / (t_k - t_1)²``

(Harrell 2015, *Regression Modeling Strategies*, 2nd ed., sec. 2.4.5, eq. 2.25; the
``(t_k - t_1)²`` normalisation of R's ``Hmisc::rcspline.eval(norm = 2)``), linear beyond
the outer knots.

This module is the bottom layer of the spline code: numbers and names only, importable by
the spec (``model.splines``), the two-stage curve and the one-stage design alike.
:mod:`bayes_ipd.splines` re-exports it and adds what works on data, specs and posteriors
(expanding a data set, the within-trial effect curve).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from bayes_ipd.errors import SpecError

__all__ = [
    "KNOT_QUANTILES",
    "SplineBasis",
    "check_splines",
    "place_knots",
    "rcs_basis",
]

KNOT_QUANTILES: Mapping[int, tuple[float, ...]] = {
    3: (0.10, 0.50, 0.90),
    4: (0.05, 0.35, 0.65, 0.95),
    5: (0.05, 0.275, 0.50, 0.725, 0.95),
}
"""Harrell (2015), Regression Modeling Strategies, 2nd ed., Table 2.3: knot quantiles."""


def check_splines(value: Any, covariates: tuple[str, ...]) -> MappingProxyType:
    """``model.splines`` checked: covariate -> number of knots (3, 4 or 5), each covariate
    one of the model's (a read-only mapping)."""
    if not isinstance(value, Mapping):
        raise SpecError(f"model.splines = {value!r} must be a table of covariate = knots")
    out: dict[str, int] = {}
    for name, knots in value.items():
        if name not in covariates:
            raise SpecError(
                f"model.splines: {name!r} is not in model.covariates {list(covariates)}; "
                "a spline covariate must also be a covariate"
            )
        if isinstance(knots, bool) or not isinstance(knots, numbers.Integral):
            raise SpecError(f"model.splines.{name} = {knots!r} must be 3, 4 or 5 knots")
        if knots not in (3, 4, 5):
            raise SpecError(
                f"model.splines.{name} = {knots!r}: a restricted cubic spline takes 3, 4 or 5 knots"
            )
        out[str(name)] = int(knots)
    return MappingProxyType(out)


def rcs_basis(x: np.ndarray, knots: Sequence[float]) -> np.ndarray:
    """(n, k - 1) restricted cubic spline basis ``[x, x'1, ..., x'(k-2)]`` (module docstring).

    Examples
    --------
    >>> rcs_basis(np.array([0.0, 5.0, 10.0]), (1.0, 5.0, 9.0)).round(4).tolist()
    [[0.0, 0.0], [5.0, 1.0], [10.0, 7.5]]
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(knots, dtype=np.float64)
    k = t.size
    last, prev = t[-1], t[-2]
    norm = (last - t[0]) ** 2

    def cube(a: Any) -> np.ndarray:
        return np.clip(x - a, 0.0, None) ** 3

    cols = [x]
    for j in range(k - 2):
        cols.append(
            (
                cube(t[j])
                - cube(prev) * (last - t[j]) / (last - prev)
                + cube(last) * (prev - t[j]) / (last - prev)
            )
            / norm
        )
    return np.column_stack(cols)


@dataclass(frozen=True)
class SplineBasis:
    """A restricted cubic spline of one covariate.

    Attributes
    ----------
    covariate : str
        The covariate (a numeric column).
    knots : tuple of float
        Strictly increasing knots.
    lower, upper : float
        The pooled range of the covariate (the default range of an effect curve).
    """

    covariate: str
    knots: tuple[float, ...]
    lower: float = np.nan
    upper: float = np.nan

    @property
    def terms(self) -> tuple[str, ...]:
        """Names of the basis terms: the covariate, then ``covariate'1``, ``covariate'2``..."""
        return (self.covariate, *(f"{self.covariate}'{j}" for j in range(1, len(self.knots) - 1)))

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """(n, k - 1) basis at ``x`` (:func:`rcs_basis`)."""
        return rcs_basis(x, self.knots)


def place_knots(values: np.ndarray, n_knots: int, covariate: str) -> SplineBasis:
    """Knots at Harrell's quantiles of the pooled values of a covariate.

    Raises
    ------
    SpecError
        ``n_knots`` is not 3, 4 or 5, or the covariate has fewer distinct values than
        knots (or the quantiles tie), naming the covariate.
    """
    if n_knots not in KNOT_QUANTILES:
        raise SpecError(
            f"model.splines.{covariate} = {n_knots!r}: a restricted cubic spline takes "
            f"3, 4 or 5 knots"
        )
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    distinct = np.unique(values).size
    if distinct < n_knots:
        raise SpecError(
            f"model.splines.{covariate} = {n_knots}: covariate {covariate!r} has "
            f"{distinct} distinct value(s), fewer than the {n_knots} knots; use fewer knots "
            "or a linear term"
        )
    knots = np.quantile(values, KNOT_QUANTILES[n_knots])
    if np.any(np.diff(knots) <= 0):
        raise SpecError(
            f"model.splines.{covariate} = {n_knots}: the knot quantiles of {covariate!r} "
            f"tie ({', '.join(f'{k:g}' for k in knots)}); use fewer knots"
        )
    return SplineBasis(
        covariate, tuple(float(k) for k in knots), float(values.min()), float(values.max())
    )
