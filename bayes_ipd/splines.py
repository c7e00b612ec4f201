"""Restricted cubic splines of a continuous covariate (Harrell's parameterisation).

A spline of covariate ``x`` with knots ``t_1 < ... < t_k`` (3 to 5, at Harrell's quantiles
of the pooled values of all trials) replaces the covariate's one linear term by ``k - 1``
terms: ``x`` itself and, for ``j = 1 .. k - 2``,

``x'j = [(x - t_j)+³ - (x - t_{k-1})+³ (t_k - t_j)/(t_k - t_{k-1})
        + (x - t_k)+³ (t_{k-1} - t_j)/(t_k - t_{k-1})] / (t_k - t_1)²``

(Harrell 2015, *Regression Modeling Strategies*, 2nd ed., sec. 2.4.5, eq. 2.25; the
``(t_k - t_1)²`` normalisation of R's ``Hmisc::rcspline.eval(norm = 2)``), linear beyond
the outer knots. The terms are ordinary numeric covariates from then on: the one-stage
design centres each of them within trial, so a spline effect modifier splits into a
within-trial curve (``gamma_within`` of every term) and an across-trial part
(``gamma_across``), exactly as a linear one does.

In a :class:`~bayes_ipd.spec.ModelSpec`, ``splines={"age": 4}`` makes covariate ``age`` a
4-knot spline (as a prognostic covariate, and as an effect modifier when ``age`` is also in
``interactions``). The two-stage counterpart (per-trial spline interactions pooled by
multivariate REML, with a Wald band) is
:func:`bayes_ipd.two_stage.splines.two_stage_effect_curve`; both curves draw with
:func:`bayes_ipd.plots.effect_curve.effect_curve_plot`, overlaid when given together.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_ipd.errors import SpecError

if TYPE_CHECKING:
    from bayes_ipd.data import IPD
    from bayes_ipd.spec import ModelSpec

__all__ = [
    "KNOT_QUANTILES",
    "EffectCurve",
    "SplineBasis",
    "check_splines",
    "effect_curve_draws",
    "expand_spline_parts",
    "expand_splines",
    "place_knots",
    "rcs_basis",
    "within_trial_curve",
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


def _expanded_names(names: Sequence[str], bases: Mapping[str, SplineBasis]) -> tuple[str, ...]:
    out: list[str] = []
    for name in names:
        out.extend(bases[name].terms if name in bases else (name,))
    return tuple(out)


def expand_splines(
    ipd: IPD, spec: ModelSpec, bases: Mapping[str, SplineBasis] | None = None
) -> tuple[IPD, ModelSpec, tuple[SplineBasis, ...]]:
    """The data with each spline covariate's basis columns added, and the spec on them.

    Knots are placed on the values of ``ipd`` (:func:`place_knots`) unless ``bases`` gives
    them (pooled over several parts). The returned spec lists the basis terms in place of
    each spline covariate (in ``covariates`` and, for an effect modifier,
    ``interactions``) and has no splines; the input data and spec are not modified.

    Raises
    ------
    SpecError
        A spline covariate that is not numeric, or too few distinct values for the knots.
    """
    if not spec.splines:
        return ipd, spec, ()
    frame = ipd.covariates.copy()
    used: dict[str, SplineBasis] = {}
    for name, n_knots in spec.splines.items():
        col = frame[name]
        _numeric(col, name)
        values = col.to_numpy(dtype=np.float64)
        basis = bases[name] if bases else place_knots(values, int(n_knots), name)
        columns = basis.evaluate(values)
        for j, term in enumerate(basis.terms[1:], start=1):
            if term in frame.columns:
                raise SpecError(f"model.splines.{name}: the data already have a column {term!r}")
            frame[term] = columns[:, j]
        used[name] = basis
    new_spec = spec.with_(
        covariates=_expanded_names(spec.covariates, used),
        interactions=_expanded_names(spec.interactions, used),
        splines={},
    )
    return dataclasses.replace(ipd, covariates=frame), new_spec, tuple(used.values())


def effect_curve_draws(
    basis: SplineBasis, mu: np.ndarray, gamma_within: np.ndarray, centre: np.ndarray, x: np.ndarray
) -> np.ndarray:
    """(S, G) within-trial treatment effect at covariate values ``x``.

    ``mu + gamma_within'(B(x) - centre)``: the effect in a trial whose mean basis values
    are ``centre`` (the mean of the trial means: the average trial, where the across-trial
    part is 0), as the covariate moves *within* it. ``gamma_within`` is (S, k - 1), one
    column per basis term; other effect modifiers are held at their trial means.
    """
    shift = basis.evaluate(x) - np.asarray(centre, dtype=np.float64)[None, :]
    return np.asarray(mu, dtype=np.float64)[:, None] + gamma_within @ shift.T


@dataclass(frozen=True, eq=False)
class EffectCurve:
    """The treatment effect against a covariate, with its credible band.

    Attributes
    ----------
    covariate : str
    x : numpy.ndarray
        Covariate values (G,).
    median, lower, upper : numpy.ndarray
        Posterior median and equal-tailed ``level`` interval of the effect at ``x``.
    level : float
    scale : str
        The effect's scale (``"log odds ratio"``).
    knots : tuple of float
        The spline's knots (empty for a linear effect modifier).
    """

    covariate: str
    x: np.ndarray
    median: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float = 0.95
    scale: str = ""
    knots: tuple[float, ...] = ()

    @classmethod
    def from_draws(
        cls, covariate: str, x: np.ndarray, draws: np.ndarray, level: float, **kw: Any
    ) -> EffectCurve:
        """Summarise (S, G) draws of the effect at ``x``."""
        lo, mid, hi = np.quantile(draws, [(1 - level) / 2, 0.5, (1 + level) / 2], axis=0)
        return cls(covariate, np.asarray(x, dtype=np.float64), mid, lo, hi, level, **kw)

    def to_frame(self) -> pd.DataFrame:
        """Columns ``x, median, lower, upper``."""
        return pd.DataFrame(
            {"x": self.x, "median": self.median, "lower": self.lower, "upper": self.upper}
        )


def within_trial_curve(
    design: Any,
    posterior: Any,
    covariate: str,
    x: np.ndarray | None = None,
    level: float = 0.95,
    points: int = 101,
) -> EffectCurve:
    """The within-trial treatment effect against an effect modifier, from a posterior.

    Parameters
    ----------
    design : Design
        The one-stage design (its ``splines``, ``interaction_terms``, ``term_means``).
    posterior : xarray.Dataset
        Draws of ``mu`` and ``gamma_within``.
    covariate : str
        An effect modifier: a spline one (every basis term interacts) or a linear one.
    x : numpy.ndarray, optional
        Covariate values; by default ``points`` values over the pooled range of a spline
        covariate (required for a linear one).
    level : float
        Of the equal-tailed credible band.

    Raises
    ------
    SpecError
        ``covariate`` is not an effect modifier of the model, or ``x`` is missing for a
        linear one.
    """
    bases = {b.covariate: b for b in design.splines}
    basis = bases.get(covariate)
    if basis is None:
        basis = SplineBasis(covariate, (0.0, 1.0))  # two "knots": the linear term alone
        if x is None:
            raise SpecError(
                f"the effect curve of the linear effect modifier {covariate!r} needs x values"
            )
    missing = [t for t in basis.terms if t not in design.interaction_terms]
    if missing:
        raise SpecError(
            f"{covariate!r} is not an effect modifier of the model (interaction terms: "
            f"{list(design.interaction_terms)}); add it to interactions"
        )
    grid = np.linspace(basis.lower, basis.upper, points) if x is None else np.asarray(x, float)
    cols = [design.covariate_terms.index(t) for t in basis.terms]
    centre = np.asarray(design.term_means)[:, cols].mean(axis=0)
    gamma = posterior["gamma_within"].sel(interaction=list(basis.terms))
    gamma = np.asarray(gamma.transpose("chain", "draw", "interaction").values, float)
    mu = np.asarray(posterior["mu"].transpose("chain", "draw").values, float).reshape(-1)
    draws = effect_curve_draws(basis, mu, gamma.reshape(-1, len(basis.terms)), centre, grid)
    knots = basis.knots if covariate in bases else ()
    return EffectCurve.from_draws(covariate, grid, draws, level, knots=knots)


def expand_spline_parts(
    parts: Sequence[Any], spec: ModelSpec
) -> tuple[list[Any], ModelSpec, tuple[SplineBasis, ...]]:
    """:func:`expand_splines` over every participant-data part of a fit, knots pooled over
    all of them; other parts (aggregate data) pass through.

    Raises
    ------
    SpecError
        Splines with trial summaries (their basis would need the pooled knots before they
        were made): give the participant rows.
    """
    rows = [p for p in parts if hasattr(p, "studies") and hasattr(p, "covariates")]
    if any(hasattr(p, "stats") or isinstance(p, Mapping) for p in parts):
        raise SpecError(
            "model.splines needs participant rows (the knots are pooled quantiles); trial "
            "summaries cannot be expanded"
        )
    if not rows:
        return list(parts), spec, ()
    frame = pd.concat([p.covariates for p in rows], ignore_index=True)
    pooled = {
        name: place_knots(frame[name].to_numpy(dtype=np.float64), int(n), name)
        for name, n in spec.splines.items()
        if _numeric(frame[name], name)
    }
    out: list[Any] = []
    flat = spec
    for part in parts:
        if any(part is r for r in rows):
            part, flat, _ = expand_splines(part, spec, pooled)
        out.append(part)
    return out, flat, tuple(pooled.values())


def _numeric(col: pd.Series, name: str) -> bool:
    if isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(col):
        raise SpecError(f"model.splines.{name}: covariate {name!r} is not numeric")
    return True
