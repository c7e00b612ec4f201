"""The two-stage counterpart of the one-stage spline effect curve.

Stage one, per trial: the family's regression (:meth:`Family.fit_trial`: OLS, logistic,
Cox, ...) of the outcome on the treatment, the restricted cubic spline basis ``B(x)`` of the
effect modifier centred within the trial (``Bc = B(x) - mean_k B``), any other adjustment
covariates, and the products ``treat * Bc``. The vector ``b_k = (theta_k, gamma_k)`` of the
treatment coefficient and the ``p`` interaction coefficients is kept with its within-trial
covariance. Because the basis is centred within each trial, ``gamma_k`` holds within-trial
information only: an association between trial mean covariate and trial effect cannot enter
it (the across-trial part sits in ``theta_k``, the effect at the trial's own mean).

Stage two: the vectors are pooled by multivariate REML (:func:`bayes_ipd.two_stage.mvma.mvma`;
by default only ``theta`` varies between trials, as in the one-stage model with common
interactions). The effect at covariate value ``x0`` is ``c(x0)' beta`` with ``c(x0) = (1,
B(x0) - centre)`` and ``centre`` the mean of the trial means of ``B`` (the average trial,
as :func:`bayes_ipd.splines.within_trial_curve` uses); its standard error
``sqrt(c' V c)`` (delta method; exact, the curve is linear in ``beta``) gives the Wald
interval.

``Family.fit_trial`` returns one coefficient and its SE. The covariance of the ``d``
pooled coefficients comes from refits on reparameterised designs: replacing column ``j`` by
``x_j - x_i`` makes the coefficient of column ``i`` equal ``b_i + b_j``, whose variance gives
``cov(b_i, b_j) = (var(b_i + b_j) - var b_i - var b_j) / 2`` (maximum likelihood and OLS are
equivariant under such a linear change of design, and so is the inverse information).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from bayes_ipd.conventions import json_ready, readonly
from bayes_ipd.data import IPD
from bayes_ipd.errors import IPDDataError, PoolingError, SpecError
from bayes_ipd.families import Family, get_family
from bayes_ipd.families.regression import Unfittable
from bayes_ipd.plots.effect_curve import effect_curve_plot
from bayes_ipd.plots.style import TWO_STAGE_COLOUR
from bayes_ipd.spline_basis import SplineBasis, place_knots
from bayes_ipd.two_stage.stage1 import (
    check_arms,
    check_covariate_columns,
    covariate_block,
    trial_responses,
)

__all__ = [
    "CURVE_METHOD",
    "TwoStageEffectCurve",
    "trial_spline_coefficients",
    "two_stage_effect_curve",
]

_TREAT = "treat"
CURVE_METHOD = "multivariate REML"
"""How the per-trial spline coefficients are pooled (:func:`bayes_ipd.two_stage.mvma.mvma`)."""


@dataclass(frozen=True, eq=False)
class TwoStageEffectCurve:
    """The pooled treatment effect against a spline effect modifier, with its Wald interval.

    Attributes
    ----------
    covariate : str
    x : numpy.ndarray
        (G,) covariate values.
    estimate, se, lower, upper : numpy.ndarray
        (G,) pooled effect at ``x``, its SE, and the ``level`` Wald interval.
    level : float
    scale : str
        The effect's scale (e.g. ``"log odds ratio"``).
    knots : tuple of float
    terms : tuple of str
        The pooled coefficients: ``treat`` then ``treat:<basis term>``.
    coefficients, covariance : numpy.ndarray
        (d,) pooled coefficients and (d, d) their covariance.
    between : numpy.ndarray
        (d, d) between-trial covariance (REML).
    centre : numpy.ndarray
        (d - 1,) the mean of the trial means of the basis terms.
    studies : tuple of str
        Trials pooled.
    excluded : mapping
        Trial -> reason, for trials whose stage-one model could not be fitted.
    """

    covariate: str
    x: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float
    scale: str
    knots: tuple[float, ...]
    terms: tuple[str, ...]
    coefficients: np.ndarray
    covariance: np.ndarray
    between: np.ndarray
    centre: np.ndarray
    studies: tuple[str, ...]
    excluded: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def to_frame(self) -> pd.DataFrame:
        """Columns ``x, estimate, se, lower, upper`` (``median`` = ``estimate`` too, so
        :func:`bayes_ipd.plots.effect_curve.effect_curve_plot` draws it as it draws the
        one-stage curve)."""
        return pd.DataFrame(
            {
                "x": self.x,
                "estimate": self.estimate,
                "se": self.se,
                "lower": self.lower,
                "upper": self.upper,
                "median": self.estimate,
            }
        )

    def at(self, x: Sequence[float] | np.ndarray) -> TwoStageEffectCurve:
        """The same pooled curve at other covariate values (no refit: the pooled
        coefficients and their covariance are evaluated at ``x``).

        Examples
        --------
        >>> from bayes_ipd.datasets import load_bp_ipd
        >>> curve = two_stage_effect_curve(load_bp_ipd(), "sbp_baseline", 3, points=5)
        >>> curve.at([150.0, 160.0]).x
        array([150., 160.])
        """
        grid = np.asarray(x, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(grid)):
            raise SpecError(f"effect-curve values of {self.covariate!r} must be finite numbers")
        points = _curve_points(
            SplineBasis(self.covariate, self.knots),
            self.centre,
            self.coefficients,
            self.covariance,
            grid,
            self.level,
        )
        return replace(self, **points)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready curve, NaN as None.

        Keys ``covariate, knots, level, scale, method`` (``"multivariate REML"``),
        ``terms, coefficients, covariance, between, centre`` (the pooled fit), ``studies,
        excluded`` (trial -> reason) and ``points``: one ``{x, estimate, se, lower, upper}``
        per covariate value.
        """
        frame = self.to_frame().drop(columns="median")
        return json_ready(
            {
                "covariate": self.covariate,
                "knots": list(self.knots),
                "level": self.level,
                "scale": self.scale,
                "method": CURVE_METHOD,
                "terms": list(self.terms),
                "coefficients": dict(zip(self.terms, self.coefficients.tolist(), strict=True)),
                "covariance": self.covariance.tolist(),
                "between": self.between.tolist(),
                "centre": self.centre.tolist(),
                "studies": list(self.studies),
                "excluded": dict(self.excluded),
                "points": frame.to_dict(orient="records"),
            }
        )

    def plot(self, *, title: str | None = None) -> Figure:
        """The curve and its Wald band (:func:`bayes_ipd.plots.effect_curve.effect_curve_plot`;
        give it ``{"one-stage": ..., "two-stage": curve.to_frame()}`` to overlay)."""
        return effect_curve_plot(
            {"two-stage (REML)": self.to_frame()},
            covariate=self.covariate,
            effect_label=self.scale or "treatment effect",
            level=self.level,
            knots=self.knots,
            title=title,
            colours=(TWO_STAGE_COLOUR,),
        )

    def __repr__(self) -> str:
        head = (
            f"Two-stage effect curve of {self.covariate!r} ({len(self.knots)}-knot restricted "
            f"cubic spline, {len(self.studies)} trials, {CURVE_METHOD}; "
            f"{self.level:.0%} Wald interval)" + (f"; effect: {self.scale}" if self.scale else "")
        )
        lines = [head, "Knots: " + ", ".join(f"{k:.4g}" for k in self.knots)]
        if self.excluded:
            lines.append("Excluded: " + "; ".join(f"{s}: {r}" for s, r in self.excluded.items()))
        frame = self.to_frame().drop(columns="median").rename(columns={"x": self.covariate})
        lines.append(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        return "\n".join(lines)


@dataclass(frozen=True)
class TrialCoefficients:
    """One trial's ``(theta_k, gamma_k)`` with their covariance and the trial's mean basis."""

    estimate: np.ndarray
    covariance: np.ndarray
    basis_mean: np.ndarray


def _trial_design(
    frame: pd.DataFrame, treat: np.ndarray, basis: SplineBasis, adjust: Sequence[str]
) -> tuple[np.ndarray, list[str], list[int], np.ndarray]:
    """Design (no intercept), names, pooled columns and the trial's mean basis."""
    b = basis.evaluate(frame[basis.covariate].to_numpy(np.float64))
    mean = b.mean(axis=0)
    bc = b - mean
    if np.any(np.ptp(bc, axis=0) == 0):
        raise Unfittable(
            f"covariate {basis.covariate!r} takes too few distinct values within the trial "
            "for its spline interaction"
        )
    columns = [treat, *bc.T]
    names = [_TREAT, *basis.terms]
    for name in adjust:
        block, block_names = covariate_block(frame[name], name)
        columns.extend(block.T)
        names.extend(block_names)
    pooled = [0]
    for j, term in enumerate(basis.terms):
        pooled.append(len(columns))
        columns.append(treat * bc[:, j])
        names.append(f"{_TREAT}:{term}")
    return np.column_stack(columns).astype(np.float64), names, pooled, mean


def trial_spline_coefficients(
    family: Family,
    responses: dict[str, np.ndarray],
    x: np.ndarray,
    names: Sequence[str],
    pooled: Sequence[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Estimates (d,) and covariance (d, d) of the design columns ``pooled``, from
    :meth:`Family.fit_trial` on the design and on its reparameterisations (module
    docstring).

    Raises
    ------
    Unfittable
        The trial's model cannot be fitted, or the covariance is not positive definite.
    """
    d = len(pooled)
    est, var = np.empty(d), np.empty(d)
    for a, i in enumerate(pooled):
        est[a], se = family.fit_trial(responses, x, names, i)
        var[a] = se**2
    cov = np.diag(var)
    for a in range(d):
        for b in range(a + 1, d):
            xr = x.copy()
            xr[:, pooled[b]] -= x[:, pooled[a]]
            _, se = family.fit_trial(responses, xr, names, pooled[a])
            cov[a, b] = cov[b, a] = (se**2 - var[a] - var[b]) / 2
    if np.linalg.eigvalsh(cov).min() <= 0:
        raise Unfittable("the spline coefficients' covariance is not positive definite")
    return est, cov


def two_stage_effect_curve(
    ipd: IPD,
    covariate: str,
    knots: int = 4,
    *,
    covariates: Sequence[str] = (),
    x: np.ndarray | None = None,
    points: int = 101,
    level: float = 0.95,
    structure: str = "treatment",
    basis: SplineBasis | None = None,
) -> TwoStageEffectCurve:
    """The pooled treatment effect against a spline effect modifier (two-stage route).

    Parameters
    ----------
    ipd : IPD
        Participant rows; ``covariate`` one of its numeric covariates.
    covariate : str
        The effect modifier.
    knots : int
        3, 4 or 5 knots at Harrell's quantiles of the pooled values (as the one-stage
        ``splines={covariate: knots}``); ignored when ``basis`` is given.
    covariates : sequence of str
        Other covariates to adjust for (prognostic terms, within each trial).
    x : numpy.ndarray, optional
        Covariate values; by default ``points`` values over the pooled range.
    level : float
        Of the Wald interval.
    structure : {"treatment", "diagonal", "unstructured"}
        Between-trial covariance of the pooled vector (:func:`bayes_ipd.two_stage.mvma.mvma`);
        ``"treatment"``: only the treatment effect is random, as in the one-stage model
        with common interactions.
    basis : SplineBasis, optional
        Knots to use (e.g. the one-stage fit's ``built.design.splines``).

    Returns
    -------
    TwoStageEffectCurve

    Raises
    ------
    IPDDataError
        ``covariate`` or an adjustment covariate is not a covariate column.
    SpecError
        ``covariate`` is not numeric, or has too few distinct values for the knots.
    PoolingError
        Fewer trials could be fitted than the pooled coefficients need.

    Warns
    -----
    UserWarning
        For each trial excluded (naming it and the reason).

    Examples
    --------
    >>> from bayes_ipd.datasets import load_bp_ipd
    >>> curve = two_stage_effect_curve(load_bp_ipd(), "sbp_baseline", 3, points=5)
    >>> curve.to_frame().shape, len(curve.studies)
    ((5, 6), 10)
    """
    check_covariate_columns(ipd, [covariate, *covariates], what="two-stage effect curve")
    column = ipd.covariates[covariate]
    if isinstance(column.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(column):
        raise SpecError(f"spline covariate {covariate!r} is not numeric")
    if basis is None:
        basis = place_knots(column.to_numpy(np.float64), int(knots), covariate)
    adjust = [c for c in dict.fromkeys(covariates) if c != covariate]
    family = get_family(ipd.family, IPDDataError)
    fitted: dict[str, TrialCoefficients] = {}
    excluded: dict[str, str] = {}
    for code, label in enumerate(ipd.studies):
        rows = np.flatnonzero(ipd.study == code)
        try:
            treat = ipd.treat[rows]
            check_arms(treat)
            responses = trial_responses(ipd, family, rows)
            family.check_trial_events(responses, treat)
            design, names, pooled, mean = _trial_design(
                ipd.covariates.iloc[rows], treat, basis, adjust
            )
            est, cov = trial_spline_coefficients(family, responses, design, names, pooled)
        except Unfittable as exc:
            excluded[label] = str(exc)
            warnings.warn(
                f"trial {label!r} excluded from the two-stage effect curve: {exc}",
                UserWarning,
                stacklevel=2,
            )
            continue
        fitted[label] = TrialCoefficients(est, cov, mean)
    return _pooled_curve(basis, fitted, excluded, family, x, points, level, structure)


def _pooled_curve(
    basis: SplineBasis,
    fitted: dict[str, TrialCoefficients],
    excluded: dict[str, str],
    family: Family,
    x: np.ndarray | None,
    points: int,
    level: float,
    structure: str,
) -> TwoStageEffectCurve:
    from bayes_ipd.two_stage.mvma import mvma  # not at import: keeps the two-stage import light

    if len(fitted) < 2:
        raise PoolingError(
            f"the two-stage effect curve of {basis.covariate!r} needs at least 2 fitted "
            f"trials; {len(fitted)} could be fitted"
        )
    terms = (_TREAT, *(f"{_TREAT}:{t}" for t in basis.terms))
    pooled: Any = mvma(
        np.stack([f.estimate for f in fitted.values()]),
        np.stack([f.covariance for f in fitted.values()]),
        structure=structure,
        terms=terms,
    )
    centre = np.mean([f.basis_mean for f in fitted.values()], axis=0)
    grid = np.linspace(basis.lower, basis.upper, points) if x is None else np.asarray(x, float)
    return TwoStageEffectCurve(
        covariate=basis.covariate,
        **_curve_points(basis, centre, pooled.estimate, pooled.covariance, grid, level),
        level=level,
        scale=family.scale.name,
        knots=basis.knots,
        terms=terms,
        coefficients=pooled.estimate,
        covariance=pooled.covariance,
        between=pooled.between,
        centre=readonly(centre),
        studies=tuple(fitted),
        excluded=MappingProxyType(dict(excluded)),
    )


def _curve_points(
    basis: SplineBasis,
    centre: np.ndarray,
    coefficients: np.ndarray,
    covariance: np.ndarray,
    grid: np.ndarray,
    level: float,
) -> dict[str, np.ndarray]:
    """``x, estimate, se, lower, upper`` of the curve ``c(x)' beta`` at ``grid`` (module
    docstring), read-only."""
    c = np.column_stack([np.ones(grid.size), basis.evaluate(grid) - centre])
    estimate = c @ coefficients
    se = np.sqrt(np.einsum("gi,ij,gj->g", c, covariance, c))
    z = float(stats.norm.ppf((1 + level) / 2))
    return {
        "x": readonly(grid),
        "estimate": readonly(estimate),
        "se": readonly(se),
        "lower": readonly(estimate - z * se),
        "upper": readonly(estimate + z * se),
    }
