"""The written form of priors: known distributions, their parameters, aliases and checks.

Used by :class:`bayes_ipd.priors.Prior` and :func:`bayes_ipd.priors.parse_prior` (the module
docstring there tabulates the distributions); kept apart so that the grammar's tables and
the model-slot logic each stay one readable module.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
from scipy import stats

from bayes_ipd.errors import PriorError

__all__ = [
    "CALL_PATTERN",
    "DISTRIBUTIONS",
    "NUMBER_PATTERN",
    "POSITIVE_SUPPORT",
    "VARIANCE_PRIORS",
    "HalfT",
    "canonical_name",
    "float_params",
    "format_number",
    "parameter_problem",
    "signature",
    "unknown_distribution",
]

#: Parameter names of each canonical distribution, in the order they are written.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "normal": ("mu", "sigma"),
    "student_t": ("nu", "mu", "sigma"),
    "half_normal": ("sigma",),
    "half_cauchy": ("scale",),
    "half_t": ("nu", "sigma"),
    "exponential": ("rate",),
    "uniform": ("lo", "hi"),
    "log_normal": ("mu", "sigma"),
    "log_student_t": ("nu", "mu", "sigma"),
}

# Parameters that must be strictly positive.
_POSITIVE_PARAMS = frozenset({"sigma", "scale", "nu", "rate"})

POSITIVE_SUPPORT = frozenset(DISTRIBUTIONS) - {"normal", "student_t", "uniform"}
VARIANCE_PRIORS = frozenset({"log_normal", "log_student_t"})  # on tau² in the tau slot

# Alias table keyed by the lower-case name with "_" and "-" removed.
_ALIASES = {
    "normal": "normal",
    "studentt": "student_t",
    "t": "student_t",
    "halfnormal": "half_normal",
    "halfcauchy": "half_cauchy",
    "halft": "half_t",
    "halfstudentt": "half_t",
    "exponential": "exponential",
    "uniform": "uniform",
    "lognormal": "log_normal",
    "logstudentt": "log_student_t",
    "logt": "log_student_t",
}

CALL_PATTERN = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_\-]*)\s*\((.*)\)\s*$", re.DOTALL)
NUMBER_PATTERN = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def canonical_name(name: str) -> str | None:
    """The canonical distribution name of ``name`` or an alias of it; None if unknown."""
    return _ALIASES.get(name.lower().replace("_", "").replace("-", ""))


def signature(dist: str) -> str:
    """``"normal(mu, sigma)"``: how a distribution is written."""
    return f"{dist}({', '.join(DISTRIBUTIONS[dist])})"


def format_number(x: float) -> str:
    """Shortest text that reads back as exactly ``x`` (``10.0`` -> ``"10"``)."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def unknown_distribution(name: str) -> str:
    known = ", ".join(DISTRIBUTIONS)
    return f"unknown distribution {name!r}; known distributions: {known}"


def parameter_problem(dist: str, params: tuple[float, ...]) -> str | None:
    """What is wrong with ``params`` for ``dist`` (canonical), or None if they are valid."""
    names = DISTRIBUTIONS[dist]
    if len(params) != len(names):
        return (
            f"{dist} takes {len(names)} parameter{'s' if len(names) > 1 else ''}, "
            f"{signature(dist)}; got {len(params)}"
        )
    for pname, value in zip(names, params, strict=True):
        if not math.isfinite(value):
            return f"{pname} must be a finite number, got {value!r}"
        if pname in _POSITIVE_PARAMS and value <= 0:
            return f"{pname} must be > 0, got {format_number(value)}"
    if dist == "uniform" and not params[0] < params[1]:
        lo, hi = (format_number(p) for p in params)
        return f"uniform needs lo < hi, got lo={lo}, hi={hi}"
    return None


def float_params(dist: str, params: Any) -> tuple[float, ...]:
    """``params`` as a tuple of floats, or PriorError if any is not a real number."""
    try:
        items = tuple(params)
    except TypeError:
        raise PriorError(
            f"prior {dist}: parameters must be a sequence of numbers, got {params!r}"
        ) from None
    out = []
    for value in items:
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise PriorError(
                f"prior {dist}{items!r}: parameter {value!r} is not a number "
                f"(expected {signature(dist)})"
            )
        out.append(float(value))
    return tuple(out)


class HalfT:
    """Half Student-t with ``nu`` degrees of freedom and scale ``sigma`` (scipy has none)."""

    def __init__(self, nu: float, sigma: float) -> None:
        self._t = stats.t(nu, loc=0.0, scale=sigma)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, np.log(2.0) + self._t.logpdf(x), -np.inf)

    def ppf(self, q: np.ndarray) -> np.ndarray:
        return self._t.ppf((1.0 + np.asarray(q, dtype=float)) / 2.0)

    def rvs(self, size: Any, random_state: np.random.Generator) -> np.ndarray:
        return np.abs(self._t.rvs(size=size, random_state=random_state))
