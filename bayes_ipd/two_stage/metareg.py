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

The estimators are in :mod:`bayes_ipd.two_stage.metareg_estimators`; the result value,
:class:`MetaRegression`, with its report and plot in
:mod:`bayes_ipd.two_stage.metareg_result` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike

import numpy as np
import pandas as pd
from scipy import stats

from bayes_ipd.conventions import METAREG_METHODS
from bayes_ipd.data.reading import (
    duplicate_header_names,
    raw_header,
    rereadable,
    text_read_options,
)
from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage.aggregate import AggregateData
from bayes_ipd.two_stage.metareg_estimators import (
    EPS,
    metareg_tau2,
    r2_percent,
    residual_i2_h2,
    trace_p,
    wls,
)
from bayes_ipd.two_stage.metareg_result import INTERCEPT, MetaRegression, critical_value

__all__ = [
    "INTERCEPT",
    "METAREG_METHODS",
    "MetaRegression",
    "meta_regression",
    "meta_regression_frame",
    "read_trial_table",
]


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
    source = rereadable(path, PoolingError)  # a pipe (/dev/stdin) is read once
    try:
        problem = duplicate_header_names(path, raw_header(source(), sep=","))
        if problem:
            raise PoolingError(problem)
        header = pd.read_csv(source(), nrows=0)
        text = (study,) if study else ()
        return pd.read_csv(source(), **text_read_options(header.columns, text))
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
    m = p - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = fit.beta / se
        wald = float(fit.beta[1:] @ np.linalg.solve(vb[1:, 1:], fit.beta[1:]))
    if hksj:
        pval = 2.0 * stats.t.sf(np.abs(stat), k - p)
        qm = wald / m
        qm_p = float(stats.f.sf(qm, m, k - p))
    else:
        pval = 2.0 * stats.norm.sf(np.abs(stat))
        qm = wald
        qm_p = float(stats.chi2.sf(qm, m))
    crit = critical_value(level, k - p if hksj else None)
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
