"""Stage one of the two-stage route: one regression per trial.

Each trial's outcome is regressed on the treatment (and covariates) on its own, with
statsmodels: ordinary least squares (gaussian), logistic maximum likelihood (binomial) or a
Cox proportional-hazards model with Efron's method for ties (survival). The estimate of one
term and its model-based standard error (classical OLS, inverse information for maximum
likelihood) per trial make an :class:`~bayes_ipd.two_stage.aggregate.AggregateData` for
stage-two pooling.

A trial whose model cannot be fitted (one arm only, an arm without events or with events
only, separation, a singular design, too few rows, no convergence) is kept in the table with
its reason and NaN estimate, and a warning names it; it is never dropped silently.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.optimize import linprog
from statsmodels.duration.hazard_regression import PHReg

from bayes_ipd.data import IPD
from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.two_stage.aggregate import AggregateData

__all__ = ["PoolTerm", "fit_per_study", "parse_pool_var"]

SCALE_BY_FAMILY: dict[str, str] = {"gaussian": "MD", "binomial": "logOR", "survival": "logHR"}
"""Effect scale of the per-trial estimates (interaction terms keep the family's scale)."""

_TREAT = "treat"
_R = TypeVar("_R")
_MAX_SEPARATION_CONSTRAINTS = 200_000
"""Largest linear programme solved to detect a monotone Cox partial likelihood; beyond it
the fit's own convergence check decides."""


class _Unfittable(Exception):
    """A trial's model cannot be fitted; the message is the reason, in words."""


@dataclass(frozen=True)
class PoolTerm:
    """The term whose per-trial estimate is pooled.

    Attributes
    ----------
    name : str
        ``"treat"`` or ``"treat:<covariate>"``.
    modifier : str or None
        The covariate of a treatment-covariate interaction, None for the treatment effect.
    """

    name: str
    modifier: str | None = None


@dataclass(frozen=True)
class _TrialDesign:
    """A trial's design matrix (no intercept column) and the position of the pooled term."""

    x: np.ndarray
    names: tuple[str, ...]
    term_index: int


@dataclass(frozen=True)
class _TrialFit:
    estimate: float
    se: float
    reason: str | None


def parse_pool_var(ipd: IPD, pool_var: str) -> PoolTerm:
    """Read ``pool_var`` as the treatment or a treatment-covariate interaction.

    Parameters
    ----------
    ipd : IPD
        The data the term refers to.
    pool_var : str
        ``"treat"`` (or the treatment column's own name) for the treatment effect, or
        ``"treat:<covariate>"`` for the within-trial treatment-covariate interaction.

    Returns
    -------
    PoolTerm

    Raises
    ------
    SpecError
        ``pool_var`` is neither form.
    IPDDataError
        The covariate is not a covariate column of ``ipd``, or is categorical with more than
        two levels (one interaction term per level cannot be pooled as one).
    """
    treat_names = {_TREAT, ipd.columns.treatment}
    head, sep, modifier = str(pool_var).partition(":")
    head, modifier = head.strip(), modifier.strip()
    if head not in treat_names or (sep and not modifier):
        raise SpecError(
            f"pool_var {pool_var!r}: expected 'treat' or 'treat:<covariate>' "
            f"(the treatment column {ipd.columns.treatment!r} may stand for 'treat')"
        )
    if not sep:
        return PoolTerm(_TREAT)
    _check_covariate_columns(ipd, [modifier], what=f"pool_var {pool_var!r}")
    column = ipd.covariates[modifier]
    if isinstance(column.dtype, pd.CategoricalDtype) and len(column.cat.categories) > 2:
        raise IPDDataError(
            f"pool_var {pool_var!r}: covariate {modifier!r} is categorical with "
            f"{len(column.cat.categories)} levels; an interaction is pooled for a continuous "
            "or two-level covariate only"
        )
    return PoolTerm(f"{_TREAT}:{modifier}", modifier)


def fit_per_study(
    ipd: IPD, *, covariates: Sequence[str] = (), pool_var: str = "treat"
) -> AggregateData:
    """Fit one regression per trial and collect the estimate of one term.

    Parameters
    ----------
    ipd : IPD
        Validated participant rows.
    covariates : sequence of str
        Covariate columns of ``ipd`` to adjust for (source names). Categorical ones are
        dummy coded within the trial, its first present level as reference. A covariate
        constant within a trial is left out of that trial's model, with a warning.
    pool_var : str
        ``"treat"`` (the treatment effect; the treatment column's name also works) or
        ``"treat:<covariate>"``: the within-trial treatment-covariate interaction, the
        model then holding the covariate's main effect and its product with the treatment.
        For a two-level categorical covariate the product is with the indicator of its
        second level.

    Returns
    -------
    AggregateData
        One row per trial: estimate and model-based SE of the term, participants ``n``,
        ``events`` (binomial and survival) and the exclusion reason of trials that could
        not be fitted (estimate and SE NaN). Scale ``"MD"``, ``"logOR"`` or ``"logHR"``.

    Raises
    ------
    IPDDataError
        A covariate is not a covariate column of ``ipd``.
    SpecError
        ``pool_var`` is malformed.

    Warns
    -----
    UserWarning
        For each excluded trial (naming it and the reason) and each covariate left out of
        a trial's model.

    Examples
    --------
    >>> from bayes_ipd.datasets import load_bcg_ipd
    >>> agg = fit_per_study(load_bcg_ipd())
    >>> agg.scale, agg.k
    ('logOR', 13)
    """
    term = parse_pool_var(ipd, pool_var)
    adjust = _adjustment_covariates(ipd, covariates, term)
    fitter = _FITTERS[ipd.family]
    fits = []
    for code, label in enumerate(ipd.studies):  # a loop, not a comprehension: warning stacklevel
        fits.append(_fit_one_trial(ipd, code, label, adjust, term, fitter))
    return AggregateData(
        studies=ipd.studies,
        estimate=np.array([f.estimate for f in fits]),
        se=np.array([f.se for f in fits]),
        n=np.bincount(ipd.study, minlength=len(ipd.studies)),
        events=_events_per_trial(ipd),
        excluded=tuple(f.reason for f in fits),
        term=term.name,
        scale=SCALE_BY_FAMILY[ipd.family],
    )


def _check_covariate_columns(ipd: IPD, names: Sequence[str], *, what: str) -> None:
    missing = [c for c in names if c not in ipd.covariates.columns]
    if missing:
        known = ", ".join(map(repr, ipd.covariates.columns)) or "none"
        raise IPDDataError(
            f"{what}: covariate(s) {', '.join(map(repr, missing))} not among the data's "
            f"covariates ({known}); name them when building the IPD"
        )


def _adjustment_covariates(ipd: IPD, covariates: Sequence[str], term: PoolTerm) -> list[str]:
    if isinstance(covariates, str):
        covariates = [covariates]
    names = list(dict.fromkeys(covariates))
    _check_covariate_columns(ipd, names, what="covariates")
    if term.modifier is not None and term.modifier not in names:
        names.append(term.modifier)
    return names


def _events_per_trial(ipd: IPD) -> np.ndarray | None:
    counts = {"binomial": ipd.outcome, "survival": ipd.event}.get(ipd.family)
    if counts is None:
        return None
    return np.bincount(ipd.study, weights=counts, minlength=len(ipd.studies)).round()


def _fit_one_trial(
    ipd: IPD,
    code: int,
    label: str,
    adjust: list[str],
    term: PoolTerm,
    fitter: Callable[[IPD, np.ndarray, _TrialDesign], tuple[float, float]],
) -> _TrialFit:
    rows = np.flatnonzero(ipd.study == code)
    try:
        _check_arms(ipd, rows)
        design = _trial_design(ipd, rows, label, adjust, term)
        estimate, se = fitter(ipd, rows, design)
    except _Unfittable as exc:
        reason = str(exc)
        warnings.warn(f"trial {label!r} excluded from pooling: {reason}", UserWarning, stacklevel=3)
        return _TrialFit(np.nan, np.nan, reason)
    return _TrialFit(estimate, se, None)


def _arm_name(treated: bool) -> str:
    return "treated" if treated else "control"


def _check_arms(ipd: IPD, rows: np.ndarray) -> None:
    treat = ipd.treat[rows]
    for arm in (0.0, 1.0):
        if not np.any(treat == arm):
            raise _Unfittable(f"no participants in the {_arm_name(arm == 1.0)} arm")
    if ipd.family == "gaussian":
        return
    flags = ipd.outcome if ipd.family == "binomial" else ipd.event
    for arm in (0.0, 1.0):
        in_arm = flags[rows][treat == arm]
        if not np.any(in_arm == 1.0):
            raise _Unfittable(f"no events in the {_arm_name(arm == 1.0)} arm")
        if ipd.family == "binomial" and np.all(in_arm == 1.0):
            raise _Unfittable(f"every participant in the {_arm_name(arm == 1.0)} arm had the event")


def _trial_design(
    ipd: IPD, rows: np.ndarray, label: str, adjust: list[str], term: PoolTerm
) -> _TrialDesign:
    treat = ipd.treat[rows]
    columns: list[np.ndarray] = [treat]
    names: list[str] = [_TREAT]
    frame = ipd.covariates.iloc[rows]
    for name in adjust:
        block, block_names = _covariate_block(frame[name], name)
        if not block_names:
            if name == term.modifier:
                raise _Unfittable(
                    f"covariate {name!r} is constant within the trial, so the interaction "
                    f"{term.name} cannot be estimated"
                )
            warnings.warn(
                f"trial {label!r}: covariate {name!r} is constant within the trial and is "
                "left out of its model",
                UserWarning,
                stacklevel=4,
            )
            continue
        columns.extend(block.T)
        names.extend(block_names)
    if term.modifier is not None:
        columns.append(treat * _modifier_values(frame[term.modifier]))
        names.append(term.name)
    x = np.column_stack(columns).astype(np.float64)
    return _TrialDesign(x=x, names=tuple(names), term_index=names.index(term.name))


def _covariate_block(column: pd.Series, name: str) -> tuple[np.ndarray, list[str]]:
    """Design columns of one covariate within a trial; none when it is constant there."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        present = [level for level in column.cat.categories if (column == level).any()]
        if len(present) < 2:
            return np.empty((len(column), 0)), []
        block = np.column_stack([(column == level).to_numpy(float) for level in present[1:]])
        return block, [f"{name}[{level}]" for level in present[1:]]
    values = column.to_numpy(np.float64)
    if np.ptp(values) == 0:
        return np.empty((len(column), 0)), []
    # Centring within the trial leaves every pooled coefficient unchanged and conditions
    # the design better.
    return (values - values.mean())[:, None], [name]


def _modifier_values(column: pd.Series) -> np.ndarray:
    """The interaction's covariate values: the second-level indicator if categorical."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return (column == column.cat.categories[-1]).to_numpy(float)
    values = column.to_numpy(np.float64)
    return values - values.mean()


def _with_intercept(x: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(x)), x])


def _check_design(x: np.ndarray, names: Sequence[str], *, min_residual_df: int) -> None:
    n, p = x.shape
    if n < p + min_residual_df:
        extra = " and a residual degree of freedom" if min_residual_df else ""
        raise _Unfittable(f"{n} rows are too few for {p} parameters{extra}")
    for j in range(1, p + 1):
        if np.linalg.matrix_rank(x[:, :j]) < j:
            raise _Unfittable(
                f"singular design: {names[j - 1]!r} is a linear combination of the "
                "columns before it"
            )


def _fit_gaussian(ipd: IPD, rows: np.ndarray, design: _TrialDesign) -> tuple[float, float]:
    x = _with_intercept(design.x)
    _check_design(x, ("intercept", *design.names), min_residual_df=1)
    y = ipd.outcome[rows]
    fit = sm.OLS(y, x).fit()
    # relative to the outcome's spread, so that rounding noise does not pass for a residual
    if not fit.ssr > 1e-12 * np.sum((y - y.mean()) ** 2):
        raise _Unfittable("zero residual variance: the model reproduces every outcome exactly")
    return _term_estimate(fit.params, fit.bse, design.term_index + 1)


def _fit_binomial(ipd: IPD, rows: np.ndarray, design: _TrialDesign) -> tuple[float, float]:
    x = _with_intercept(design.x)
    y = ipd.outcome[rows]
    _check_design(x, ("intercept", *design.names), min_residual_df=0)
    signs = np.where(y == 1.0, 1.0, -1.0)
    if _separable(signs[:, None] * x):
        raise _Unfittable(
            "separation: the design predicts the outcome perfectly, so the maximum "
            "likelihood estimate does not exist"
        )
    fit = _quietly(lambda: sm.Logit(y, x).fit(disp=0, method="newton", maxiter=100))
    if not fit.mle_retvals.get("converged", False):
        raise _Unfittable("the logistic regression did not converge")
    return _term_estimate(fit.params, fit.bse, design.term_index + 1)


def _fit_survival(ipd: IPD, rows: np.ndarray, design: _TrialDesign) -> tuple[float, float]:
    time, event, x = ipd.time[rows], ipd.event[rows], design.x
    _check_design(x, design.names, min_residual_df=0)
    differences = _risk_set_differences(time, event, x)
    if differences is not None and _separable(differences):
        raise _Unfittable(
            "monotone partial likelihood (separation): the hazard ratio estimate is infinite"
        )
    fit = _quietly(lambda: PHReg(time, x, status=event, ties="efron").fit())
    return _term_estimate(fit.params, fit.bse, design.term_index)


_FITTERS: dict[str, Callable[[IPD, np.ndarray, _TrialDesign], tuple[float, float]]] = {
    "gaussian": _fit_gaussian,
    "binomial": _fit_binomial,
    "survival": _fit_survival,
}


def _quietly(fit: Callable[[], _R]) -> _R:
    """Run a statsmodels fit, turning its warnings and failures into an exclusion reason."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fit()
        except (np.linalg.LinAlgError, ValueError, OverflowError) as exc:
            raise _Unfittable(f"the model could not be fitted ({exc})") from exc
    for warning in caught:
        kind = warning.category.__name__
        if kind == "PerfectSeparationWarning":
            raise _Unfittable("separation: the design predicts the outcome perfectly")
        if kind in {"ConvergenceWarning", "HessianInversionWarning"}:
            raise _Unfittable(f"the model did not converge ({warning.message})")
    return result


def _term_estimate(params: np.ndarray, bse: np.ndarray, index: int) -> tuple[float, float]:
    estimate, se = float(np.asarray(params)[index]), float(np.asarray(bse)[index])
    if not (np.isfinite(estimate) and np.isfinite(se) and se > 0):
        raise _Unfittable(f"the fit gave estimate {estimate} with standard error {se}")
    return estimate, se


def _separable(d: np.ndarray) -> bool:
    """Whether some direction ``b != 0`` has ``d @ b >= 0`` with at least one row ``> 0``.

    For logistic regression the rows of ``d`` are ``(2y - 1) x``; for the Cox partial
    likelihood they are ``x_i - x_j`` for each event ``i`` and each ``j`` at risk then. Such
    a direction exists exactly when the likelihood increases without bound along it (the
    maximum likelihood estimate does not exist), Albert & Anderson (1984); the linear
    programme is that of Konis (2007), with ``b`` in the unit box.
    """
    d = np.unique(d[np.any(d != 0, axis=1)], axis=0)
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


def _risk_set_differences(time: np.ndarray, event: np.ndarray, x: np.ndarray) -> np.ndarray | None:
    """Rows ``x_i - x_j`` (event ``i``, ``j`` at risk at its time) on distinct design rows.

    None when there would be more than ``_MAX_SEPARATION_CONSTRAINTS`` of them.
    """
    blocks: list[np.ndarray] = []
    total = 0
    for t in np.unique(time[event == 1.0]):
        failing = np.unique(x[(time == t) & (event == 1.0)], axis=0)
        at_risk = np.unique(x[time >= t], axis=0)
        total += len(failing) * len(at_risk)
        if total > _MAX_SEPARATION_CONSTRAINTS:
            return None
        blocks.append((failing[:, None, :] - at_risk[None, :, :]).reshape(-1, x.shape[1]))
    return np.concatenate(blocks)
