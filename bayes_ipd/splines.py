"""Restricted cubic splines of a continuous covariate in a model (Harrell's parameterisation).

A spline of covariate ``x`` with ``k`` knots replaces the covariate's one linear term by
``k - 1`` terms (the basis and its knots: :mod:`bayes_ipd.spline_basis`, Harrell 2015, eq.
2.25). The terms are ordinary numeric covariates from then on: the one-stage
design centres each of them within trial, so a spline effect modifier splits into a
within-trial curve (``gamma_within`` of every term) and an across-trial part
(``gamma_across``), exactly as a linear one does.

In a :class:`~bayes_ipd.spec.ModelSpec`, ``splines={"age": 4}`` makes covariate ``age`` a
4-knot spline (as a prognostic covariate, and as an effect modifier when ``age`` is also in
``interactions``). The two-stage counterpart (per-trial spline interactions pooled by
multivariate REML, with a Wald band) is
:func:`bayes_ipd.two_stage.splines.two_stage_effect_curve`; both curves draw with
:func:`bayes_ipd.plots.effect_curve.effect_curve_plot`, overlaid when given together.

The basis and its knots (:class:`SplineBasis`, :func:`rcs_basis`, :func:`place_knots`,
:func:`check_splines`) live in :mod:`bayes_ipd.spline_basis`, the bottom layer the spec and
the two-stage curve import; they are re-exported here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_ipd.errors import SpecError
from bayes_ipd.spline_basis import (
    KNOT_QUANTILES,
    SplineBasis,
    check_splines,
    place_knots,
    rcs_basis,
)

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
