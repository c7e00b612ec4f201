"""The value a meta-regression returns: :class:`MetaRegression`, its frames, predictions,
bubble plot and printed report (metafor's ``print.rma.uni`` layout).

:func:`bayes_ipd.two_stage.metareg.meta_regression` fits it (and re-exports it); this
module holds the fitted numbers and what is read off them, apart from the fitting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from bayes_ipd.conventions import SCALES, json_ready, method_label, readonly
from bayes_ipd.errors import PoolingError
from bayes_ipd.plots.bubble import bubble_plot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["INTERCEPT", "MetaRegression", "critical_value"]

INTERCEPT = "intercept"
"""Name of the intercept among the coefficients."""


@dataclass(frozen=True, eq=False, repr=False)
class MetaRegression:
    """A fitted meta-regression.

    Attributes
    ----------
    method : str
        τ² estimator, one of :data:`bayes_ipd.conventions.METHODS`.
    hksj : bool
        Knapp-Hartung covariance and t / F tests on ``k - p`` df.
    level : float
        Confidence level of every interval.
    names : tuple of str
        Coefficient names: ``"intercept"``, then the moderators.
    coef, se, stat, p, ci_low, ci_high : numpy.ndarray
        Per coefficient: estimate, standard error, z or t statistic, two-sided p-value
        and confidence interval.
    vcov : numpy.ndarray
        Covariance of the coefficients (``p x p``; Knapp-Hartung scaled with ``hksj``).
    tau2, i2, h2 : float
        Residual between-trial variance, residual I² (percent) and H².
    r2 : float
        Percent of τ² accounted for by the moderators (NaN when not defined).
    qe, qe_df, qe_p : float, int, float
        Test of residual heterogeneity.
    qm, qm_df, qm_p : float, int, float
        Omnibus test of the moderators (chi-squared on ``qm_df``, or F on ``(qm_df, k - p)``
        with ``hksj``).
    studies : tuple of str
        Labels of the trials in the fit; ``y``, ``v`` their estimates and sampling
        variances, ``x`` the design matrix (intercept column first).
    excluded : tuple of str
        Trials of the input left out because they carried an exclusion reason.
    scale : str or None
        Effect scale of the estimates.
    """

    method: str
    hksj: bool
    level: float
    names: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    p: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    vcov: np.ndarray
    tau2: float
    i2: float
    h2: float
    r2: float
    qe: float
    qe_df: int
    qe_p: float
    qm: float
    qm_df: int
    qm_p: float
    studies: tuple[str, ...]
    y: np.ndarray
    v: np.ndarray
    x: np.ndarray
    excluded: tuple[str, ...] = ()
    scale: str | None = None

    def __post_init__(self) -> None:
        for name in ("coef", "se", "stat", "p", "ci_low", "ci_high", "vcov", "y", "v", "x"):
            object.__setattr__(self, name, readonly(getattr(self, name)))

    @property
    def k(self) -> int:
        """Number of trials in the fit."""
        return len(self.studies)

    @property
    def n_params(self) -> int:
        """Number of coefficients ``p`` (intercept included)."""
        return len(self.names)

    @property
    def moderators(self) -> tuple[str, ...]:
        """The moderator names (coefficients after the intercept)."""
        return self.names[1:]

    @property
    def df(self) -> int | None:
        """Residual degrees of freedom ``k - p`` of the t and F tests (None for z)."""
        return self.k - self.n_params if self.hksj else None

    @property
    def weights(self) -> np.ndarray:
        """Percent weight of each trial, ``1 / (v_i + tau2)`` normalised."""
        w = 1.0 / (self.v + self.tau2)
        return 100.0 * w / w.sum()

    def coefficient_frame(self) -> pd.DataFrame:
        """One row per coefficient: ``estimate, se, stat, p, ci_low, ci_high``."""
        return pd.DataFrame(
            {
                "estimate": self.coef,
                "se": self.se,
                "stat": self.stat,
                "p": self.p,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
            },
            index=pd.Index(list(self.names), name="term"),
        )

    def predict(self, values: Mapping[str, float | Sequence[float]] | pd.DataFrame) -> pd.DataFrame:
        """Predicted average effect at given moderator values (metafor ``predict``).

        Parameters
        ----------
        values : mapping or DataFrame
            A value (or equal-length sequence of values) for every moderator, by name.

        Returns
        -------
        pandas.DataFrame
            The moderator values, then ``pred, se, ci_low, ci_high, pi_low, pi_high``: the
            confidence interval of the average effect and the prediction interval of a new
            trial's effect, ``pred ± crit * sqrt(se² + tau2)`` (z or t as the fit's tests).

        Raises
        ------
        PoolingError
            A moderator is missing, an unknown name is given, or a value is not finite.
        """
        frame = pd.DataFrame(
            values if isinstance(values, pd.DataFrame) else _as_columns(values)
        ).reset_index(drop=True)
        unknown = [c for c in frame.columns if c not in self.moderators]
        missing = [m for m in self.moderators if m not in frame.columns]
        if unknown or missing:
            raise PoolingError(
                f"predict needs a value for each moderator ({', '.join(self.moderators)}); "
                + (f"missing: {', '.join(missing)}" if missing else "")
                + ("; " if missing and unknown else "")
                + (f"not in the model: {', '.join(map(str, unknown))}" if unknown else "")
            )
        mods = frame[list(self.moderators)].apply(pd.to_numeric, errors="coerce")
        if not np.isfinite(mods.to_numpy(dtype=float)).all():
            raise PoolingError("predict: every moderator value must be a finite number")
        design = np.column_stack([np.ones(len(mods)), mods.to_numpy(dtype=float)])
        pred = design @ self.coef
        se = np.sqrt(np.einsum("ij,jk,ik->i", design, self.vcov, design))
        crit = critical_value(self.level, self.df)
        spread = np.sqrt(se**2 + self.tau2)
        out = mods.copy()
        out["pred"] = pred
        out["se"] = se
        out["ci_low"], out["ci_high"] = pred - crit * se, pred + crit * se
        out["pi_low"], out["pi_high"] = pred - crit * spread, pred + crit * spread
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result, NaN as None.

        Keys ``k, p, method, hksj, coefficients`` (``{name: {estimate, se, stat, p,
        ci_low, ci_high}}``, intercept named ``intercept``), ``tau2, i2, h2, r2`` (I² and
        R² in percent), ``qe, qe_df, qe_p, qm, qm_df, qm_p``. ``qm_df`` is metafor's
        ``QMdf``: ``[m, k - p]`` for the F test (``hksj``), ``[m, None]`` for chi-squared.
        """
        coefficients = {
            name: {
                "estimate": self.coef[i],
                "se": self.se[i],
                "stat": self.stat[i],
                "p": self.p[i],
                "ci_low": self.ci_low[i],
                "ci_high": self.ci_high[i],
            }
            for i, name in enumerate(self.names)
        }
        return json_ready(
            {
                "k": self.k,
                "p": self.n_params,
                "method": self.method,
                "hksj": self.hksj,
                "coefficients": coefficients,
                "tau2": self.tau2,
                "i2": self.i2,
                "h2": self.h2,
                "r2": self.r2,
                "qe": self.qe,
                "qe_df": self.qe_df,
                "qe_p": self.qe_p,
                "qm": self.qm,
                "qm_df": [self.qm_df, self.df],
                "qm_p": self.qm_p,
            }
        )

    def __str__(self) -> str:
        return "\n".join(_report_lines(self))

    def __repr__(self) -> str:
        return self.__str__()

    def plot_bubble(self, moderator: str | None = None, **kw: Any) -> Figure:
        """Bubble plot of the estimates against one moderator, with the fitted line.

        Other moderators are held at their weighted means (as metafor's ``regplot``).
        Keywords go to :func:`bayes_ipd.plots.bubble.bubble_plot`.
        """
        name = moderator or self.moderators[0]
        if name not in self.moderators:
            raise PoolingError(
                f"moderator {name!r} is not in the model ({', '.join(self.moderators)})"
            )
        j = self.names.index(name)
        x = self.x[:, j]
        grid = np.linspace(x.min(), x.max(), 101)
        w = 1.0 / (self.v + self.tau2)
        held = {
            m: float(np.sum(w * self.x[:, i + 1]) / w.sum()) for i, m in enumerate(self.moderators)
        }
        values = {m: (grid if m == name else np.full(grid.shape, held[m])) for m in self.moderators}
        line = self.predict(values)
        kw.setdefault("xlabel", name)
        kw.setdefault("exponentiate", self.scale in SCALES and SCALES[self.scale].is_ratio)
        kw.setdefault("ylabel", _axis_label(self.scale, kw["exponentiate"]))
        return bubble_plot(
            x,
            self.y,
            np.sqrt(self.v),
            weights=self.weights,
            labels=self.studies,
            line=(
                grid,
                line["pred"].to_numpy(),
                line["ci_low"].to_numpy(),
                line["ci_high"].to_numpy(),
            ),
            **kw,
        )


def _axis_label(scale: str | None, exponentiate: bool) -> str:
    """The bubble plot's y-axis label: the effect measure in words and its code."""
    if scale not in SCALES:
        return "estimate (effect scale not given)"
    measure = SCALES[str(scale)]
    if exponentiate and measure.is_ratio:
        return f"{measure.ratio_name} ({measure.ratio_label}, log axis)"
    return f"{measure.name} ({measure.code})"


def critical_value(level: float, df: int | None) -> float:
    """Two-sided critical value at ``level``: t on ``df`` degrees of freedom, or the normal
    one when ``df`` is None (the fit's coefficient tests and its predictions share it)."""
    alpha = (1.0 - level) / 2.0
    if df is not None:
        return float(stats.t.isf(alpha, df))
    return float(stats.norm.isf(alpha))


def _as_columns(values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {str(k): np.atleast_1d(np.asarray(v)) for k, v in values.items()}


# --- the report ------------------------------------------------------------------------------


def _report_lines(fit: MetaRegression) -> list[str]:
    kind = "Fixed-effects" if fit.method == "FE" else "Mixed-effects"
    lines = [
        f"{kind} meta-regression (k = {fit.k}; {method_label(fit.method, fit.hksj)}; "
        f"moderators: {', '.join(fit.moderators)})",
        "",
    ]
    if fit.excluded:
        lines += [
            f"Left out ({len(fit.excluded)} trial(s) with an exclusion reason): "
            f"{', '.join(fit.excluded)}",
            "",
        ]
    if fit.method != "FE":
        lines.append(f"tau^2 (estimated amount of residual heterogeneity): {fit.tau2:.4f}")
    lines.append(f"I^2 (residual heterogeneity / unaccounted variability): {fit.i2:.2f}%")
    lines.append(f"H^2 (unaccounted variability / sampling variability):   {fit.h2:.2f}")
    if not math.isnan(fit.r2):
        lines.append(f"R^2 (amount of heterogeneity accounted for):            {fit.r2:.2f}%")
    lines += [
        "",
        f"Test for residual heterogeneity: QE(df = {fit.qe_df}) = {fit.qe:.4f}, p = {_p(fit.qe_p)}",
    ]
    if fit.hksj:
        test = f"F(df1 = {fit.qm_df}, df2 = {fit.df}) = {fit.qm:.4f}"
    else:
        test = f"QM(df = {fit.qm_df}) = {fit.qm:.4f}"
    lines += [f"Test of moderators: {test}, p = {_p(fit.qm_p)}", ""]
    frame = fit.coefficient_frame()
    stat = "tval" if fit.hksj else "zval"
    pct = f"{100 * fit.level:g}%"
    lines.append(f"{'':<12}{'estimate':>10}{'se':>10}{stat:>10}{'p':>10}   {pct} CI")
    for name, row in frame.iterrows():
        lines.append(
            f"{name!s:<12}{row['estimate']:>10.4f}{row['se']:>10.4f}{row['stat']:>10.4f}"
            f"{_p(row['p']):>10}   [{row['ci_low']:.4f}, {row['ci_high']:.4f}]"
        )
    return lines


def _p(value: float) -> str:
    return "<.0001" if value < 1e-4 else f"{value:.4f}"
