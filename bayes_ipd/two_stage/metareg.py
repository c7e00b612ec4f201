"""Meta-regression of per-trial estimates on trial-level covariates (moderators).

The mixed-effects model ``y_i = x_i' beta + u_i + e_i`` with ``u_i ~ N(0, tau2)`` and
``e_i ~ N(0, v_i)``, fitted as R's ``metafor::rma(yi, vi, mods = ~ ..., method = M,
test = "z" | "knha")`` does (Viechtbauer 2010; metafor ``R/rma.uni.r``):

* ``tau2`` by ``"FE"`` (0), ``"DL"`` (the generalised DerSimonian-Laird moment estimator,
  ``(QE - (k - p)) / tr(P)``), ``"PM"`` (the generalised Q at ``tau2`` equal to ``k - p``),
  ``"ML"`` or ``"REML"`` (roots of the likelihood score), all truncated at 0;
* coefficients by weighted least squares with weights ``1 / (v_i + tau2)``; Wald tests on
  the normal distribution, or with ``hksj=True`` (Knapp & Hartung 2003) the covariance
  scaled by ``sum w r² / (k - p)`` and t tests on ``k - p`` df;
* ``QE`` (residual heterogeneity, inverse-variance weights, ``k - p`` df); ``QM`` (the
  moderators, intercept excluded; chi-squared on ``m`` df, or ``F(m, k - p)`` with HKSJ);
* residual I² and H² from the typical within-trial variance ``(k - p) / tr(P)``
  (from ``QE`` for ``"FE"``); R² as ``(tau2_RE - tau2) / tau2_RE`` in percent, ``tau2_RE``
  from the model without moderators by the same method (for ``"FE"``, the adjusted R² of
  the weighted linear model), truncated at 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from bayes_ipd.conventions import METAREG_METHODS, SCALES, json_ready, method_label, readonly
from bayes_ipd.data.reading import duplicate_header_names, raw_header, text_read_options
from bayes_ipd.errors import PoolingError
from bayes_ipd.plots.bubble import bubble_plot
from bayes_ipd.two_stage.aggregate import AggregateData
from bayes_ipd.two_stage.metareg_estimators import (
    EPS,
    metareg_tau2,
    r2_percent,
    residual_i2_h2,
    trace_p,
    wls,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "INTERCEPT",
    "METAREG_METHODS",
    "MetaRegression",
    "meta_regression",
    "meta_regression_frame",
    "read_trial_table",
]

INTERCEPT = "intercept"
"""Name of the intercept among the coefficients."""

"""τ² estimators of the meta-regression."""


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

    def _crit(self) -> float:
        alpha = (1.0 - self.level) / 2.0
        if self.hksj:
            return float(stats.t.isf(alpha, self.k - self.n_params))
        return float(stats.norm.isf(alpha))

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
        crit = self._crit()
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
        kw.setdefault("ylabel", self.scale or "estimate")
        kw.setdefault("exponentiate", self.scale in SCALES and SCALES[self.scale].is_ratio)
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


# --- fitting --------------------------------------------------------------------------------


def meta_regression(
    data: AggregateData,
    moderators: pd.DataFrame | Mapping[str, Sequence[float]],
    *,
    method: str = "REML",
    hksj: bool = False,
    level: float = 0.95,
) -> MetaRegression:
    """Meta-regression of per-trial estimates on trial-level moderators.

    Parameters
    ----------
    data : AggregateData
        Per-trial estimates and SEs; trials carrying an exclusion reason are left out (and
        listed in :attr:`MetaRegression.excluded`).
    moderators : DataFrame or mapping of str to sequence
        One numeric column per moderator, one value per trial of ``data`` in its order
        (excluded trials included).
    method : {"FE", "DL", "REML", "PM", "ML"}
        τ² estimator.
    hksj : bool
        Knapp-Hartung covariance with t tests and the F test of the moderators.
    level : float
        Confidence level.

    Returns
    -------
    MetaRegression

    Raises
    ------
    PoolingError
        Unknown method; no moderator; a moderator that is not numeric, has a missing value
        (the trial is named), is constant across the trials, or is a linear combination of
        the others; ``k <= p``.

    Examples
    --------
    >>> from bayes_ipd.datasets import load_bcg_aggregate
    >>> bcg = load_bcg_aggregate()
    >>> fit = meta_regression_frame(bcg, estimate="yi", var="vi", mods=["ablat"], hksj=True)
    >>> round(float(fit.coef[1]), 4), round(fit.tau2, 4)
    (-0.0291, 0.0764)
    """
    method = _checked_method(method)
    if not 0.0 < level < 1.0:
        raise PoolingError(f"level must be in (0, 1), got {level}")
    columns = _moderator_columns(moderators, data.k)
    keep = np.array([reason is None for reason in data.excluded], dtype=bool)
    used = data.included()
    names, design = _design(columns, keep, used.studies)
    k, p = design.shape
    if k <= p:
        raise PoolingError(
            f"meta-regression with {p} coefficient(s) (intercept, {', '.join(names[1:])}) "
            f"needs more than {p} trials; {k} given"
        )
    y = used.estimate.astype(np.float64)
    v = used.se.astype(np.float64) ** 2
    return _fit(y, v, design, names, used.studies, method, hksj, level, data, keep)


def meta_regression_frame(
    df: pd.DataFrame,
    *,
    estimate: str,
    mods: Sequence[str],
    se: str | None = None,
    var: str | None = None,
    study: str | None = None,
    excluded: str | None = None,
    scale: str | None = None,
    method: str = "REML",
    hksj: bool = False,
    level: float = 0.95,
) -> MetaRegression:
    """:func:`meta_regression` on a table with one row per trial.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per trial; only read.
    estimate : str
        Estimate column.
    mods : sequence of str
        Moderator columns (numeric, trial-level).
    se, var : str
        Standard-error or sampling-variance column (exactly one).
    study, excluded, scale
        As in :meth:`AggregateData.from_frame`.
    method, hksj, level
        As in :func:`meta_regression`.

    Raises
    ------
    PoolingError
        Neither or both of ``se`` / ``var``; an unknown moderator column (the table's
        columns are listed); the errors of :meth:`AggregateData.from_frame` and
        :func:`meta_regression`.
    """
    if (se is None) == (var is None):
        raise PoolingError("give exactly one of se= (standard errors) or var= (variances)")
    mods = list(mods)
    if not mods:
        raise PoolingError("meta-regression needs at least one moderator")
    unknown = [m for m in mods if m not in df.columns]
    if unknown:
        raise PoolingError(
            f"moderator column(s) {', '.join(map(repr, unknown))} not found; the table has: "
            f"{', '.join(map(str, df.columns))}"
        )
    if len(set(mods)) != len(mods):
        raise PoolingError(f"a moderator is named twice: {', '.join(mods)}")
    agg = AggregateData.from_frame(
        df, estimate=estimate, se=se, var=var, study=study, excluded=excluded, scale=scale
    )
    return meta_regression(agg, df[mods], method=method, hksj=hksj, level=level)


def read_trial_table(path: str | PathLike[str], study: str | None = None) -> pd.DataFrame:
    """Read a CSV of one row per trial, the ``study`` column as text exactly as written.

    Raises
    ------
    PoolingError
        The file is missing, empty, unreadable or names a column twice.
    """
    try:
        problem = duplicate_header_names(path, raw_header(path, sep=","))
        if problem:
            raise PoolingError(problem)
        header = pd.read_csv(path, nrows=0)
        text = (study,) if study else ()
        return pd.read_csv(path, **text_read_options(header.columns, text))
    except FileNotFoundError as exc:
        raise PoolingError(f"{path}: file not found") from exc
    except pd.errors.EmptyDataError as exc:
        raise PoolingError(f"{path}: the file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, IsADirectoryError) as exc:
        raise PoolingError(f"{path}: cannot be read as CSV ({exc})") from exc


def _checked_method(method: str) -> str:
    method = str(method).upper()
    if method not in METAREG_METHODS:
        raise PoolingError(
            f"unknown method {method!r}; expected one of {', '.join(METAREG_METHODS)}"
        )
    return method


def _as_columns(values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {str(k): np.atleast_1d(np.asarray(v)) for k, v in values.items()}


def _moderator_columns(
    moderators: pd.DataFrame | Mapping[str, Sequence[float]], k: int
) -> dict[str, pd.Series]:
    if isinstance(moderators, pd.DataFrame):
        items = {str(c): moderators[c].reset_index(drop=True) for c in moderators.columns}
    else:
        items = {str(c): pd.Series(list(v)) for c, v in dict(moderators).items()}
    if not items:
        raise PoolingError("meta-regression needs at least one moderator")
    for name, col in items.items():
        if len(col) != k:
            raise PoolingError(
                f"moderator {name!r} has {len(col)} values; expected {k}, one per trial"
            )
    return items


def _design(
    columns: Mapping[str, pd.Series], keep: np.ndarray, studies: tuple[str, ...]
) -> tuple[tuple[str, ...], np.ndarray]:
    """The design matrix (intercept first) of the included trials, every column checked."""
    parts = [np.ones(int(keep.sum()))]
    for name, col in columns.items():
        if name == INTERCEPT:
            raise PoolingError(f"a moderator may not be called {INTERCEPT!r}")
        values = pd.to_numeric(col, errors="coerce")
        bad = values.isna() & col.notna()
        if bad.any():
            raise PoolingError(
                f"moderator {name!r} is not numeric: it holds {col[bad].iloc[0]!r} "
                "(code a categorical moderator as 0/1 columns)"
            )
        used = values.to_numpy(dtype=np.float64)[keep]
        for label, value in zip(studies, used, strict=True):
            if not np.isfinite(value):
                raise PoolingError(f"moderator {name!r}: trial {label!r} has a missing value")
        if len(used) and np.ptp(used) == 0:
            raise PoolingError(
                f"moderator {name!r} is constant across the trials ({used[0]:g}); "
                "it cannot be separated from the intercept"
            )
        parts.append(used)
    design = np.column_stack(parts)
    names = (INTERCEPT, *columns)
    if design.shape[0] >= design.shape[1] and np.linalg.matrix_rank(design) < design.shape[1]:
        raise PoolingError(
            f"the moderators ({', '.join(names[1:])}) are linearly dependent "
            "(with the intercept); drop one"
        )
    return names, design


def _fit(
    y: np.ndarray,
    v: np.ndarray,
    x: np.ndarray,
    names: tuple[str, ...],
    studies: tuple[str, ...],
    method: str,
    hksj: bool,
    level: float,
    data: AggregateData,
    keep: np.ndarray,
) -> MetaRegression:
    k, p = x.shape
    tau2 = metareg_tau2(y, v, x, method)
    fit = wls(y, v, x, tau2)
    vb = fit.vb
    if hksj:
        s2w = fit.rss / (k - p)
        vb = (0.0 if s2w <= EPS else s2w) * vb
    se = np.sqrt(np.diag(vb))
    alpha = (1.0 - level) / 2.0
    m = p - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = fit.beta / se
        wald = float(fit.beta[1:] @ np.linalg.solve(vb[1:, 1:], fit.beta[1:]))
    if hksj:
        pval = 2.0 * stats.t.sf(np.abs(stat), k - p)
        crit = float(stats.t.isf(alpha, k - p))
        qm = wald / m
        qm_p = float(stats.f.sf(qm, m, k - p))
    else:
        pval = 2.0 * stats.norm.sf(np.abs(stat))
        crit = float(stats.norm.isf(alpha))
        qm = wald
        qm_p = float(stats.chi2.sf(qm, m))
    fe = wls(y, v, x, 0.0)
    qe = max(0.0, fe.rss)
    i2, h2 = residual_i2_h2(method, tau2, qe, k - p, trace_p(v, x, 0.0))
    return MetaRegression(
        method=method,
        hksj=hksj,
        level=level,
        names=names,
        coef=fit.beta,
        se=se,
        stat=stat,
        p=pval,
        ci_low=fit.beta - crit * se,
        ci_high=fit.beta + crit * se,
        vcov=vb,
        tau2=tau2,
        i2=i2,
        h2=h2,
        r2=r2_percent(y, v, x, method, tau2),
        qe=qe,
        qe_df=k - p,
        qe_p=float(stats.chi2.sf(qe, k - p)),
        qm=qm,
        qm_df=m,
        qm_p=qm_p,
        studies=studies,
        y=y,
        v=v,
        x=x,
        excluded=tuple(s for s, kept in zip(data.studies, keep, strict=True) if not kept),
        scale=data.scale,
    )


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
