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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_ipd.data import IPD
from bayes_ipd.data.missing import refuse_missing_covariates
from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.families import Family, get_family
from bayes_ipd.families.regression import MAGNITUDE_LIMIT, Unfittable, arm_name
from bayes_ipd.two_stage.aggregate import AggregateData

__all__ = [
    "PoolTerm",
    "check_arms",
    "check_covariate_columns",
    "covariate_block",
    "fit_per_study",
    "parse_pool_var",
    "trial_responses",
]

_TREAT = "treat"


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
    check_covariate_columns(ipd, [modifier], what=f"pool_var {pool_var!r}")
    column = ipd.covariates[modifier]
    if isinstance(column.dtype, pd.CategoricalDtype) and len(column.cat.categories) > 2:
        raise IPDDataError(
            f"pool_var {pool_var!r}: covariate {modifier!r} is categorical with "
            f"{len(column.cat.categories)} levels; an interaction is pooled for a continuous "
            "or two-level covariate only"
        )
    return PoolTerm(f"{_TREAT}:{modifier}", modifier)


def fit_per_study(
    ipd: IPD,
    *,
    covariates: Sequence[str] = (),
    pool_var: str = "treat",
    sparse: str = "none",
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
    sparse : {"none", "cc", "tacc", "firth"}
        Binomial only: how trials with sparse data are estimated
        (:data:`~bayes_ipd.families.sparse.SPARSE_METHODS`): ``"none"`` (default) excludes a
        trial with a zero cell; ``"cc"`` / ``"tacc"`` continuity-correct its 2x2 table;
        ``"firth"`` fits Firth's penalised logistic regression to every trial. A trial with
        no events in either arm is excluded by every method.

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
    family = get_family(ipd.family, IPDDataError)
    if sparse != "none" and sparse not in family.sparse_methods:
        offered = ", ".join(repr(m) for m in ("none", *family.sparse_methods))
        raise SpecError(
            f"sparse={sparse!r} is not a stage-one method of the {family.name} family "
            f"(it offers {offered})"
        )
    fits = []
    for code, label in enumerate(ipd.studies):  # a loop, not a comprehension: warning stacklevel
        fits.append(_fit_one_trial(ipd, code, label, adjust, term, family, sparse))
    return AggregateData(
        studies=ipd.studies,
        estimate=np.array([f.estimate for f in fits]),
        se=np.array([f.se for f in fits]),
        n=np.bincount(ipd.study, minlength=len(ipd.studies)),
        events=_events_per_trial(ipd, family),
        excluded=tuple(f.reason for f in fits),
        term=term.name,
        scale=family.scale.code,
    )


def check_covariate_columns(ipd: IPD, names: Sequence[str], *, what: str) -> None:
    """Raise :class:`IPDDataError` naming any of ``names`` the IPD does not hold.

    ``what`` says which request named them (e.g. ``"covariates"``).
    """
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
    check_covariate_columns(ipd, names, what="covariates")
    if term.modifier is not None and term.modifier not in names:
        names.append(term.modifier)
    refuse_missing_covariates(ipd.covariates, names, "two-stage stage one")
    return names


def _events_per_trial(ipd: IPD, family: Family) -> np.ndarray | None:
    if family.event_role is None:
        return None
    counts = getattr(ipd, family.event_role)
    return np.bincount(ipd.study, weights=counts, minlength=len(ipd.studies)).round()


def trial_responses(ipd: IPD, family: Family, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The family's response columns of one trial's rows."""
    given = {name: getattr(ipd, name) for name in family.response_names}
    return {name: values[rows] for name, values in given.items() if values is not None}


def _fit_one_trial(
    ipd: IPD,
    code: int,
    label: str,
    adjust: list[str],
    term: PoolTerm,
    family: Family,
    sparse: str = "none",
) -> _TrialFit:
    rows = np.flatnonzero(ipd.study == code)
    try:
        responses = trial_responses(ipd, family, rows)
        treat = ipd.treat[rows]
        check_arms(treat)
        if sparse == "none":
            family.check_trial_events(responses, treat)
        design = _trial_design(ipd, rows, label, adjust, term)
        x, unit = _unit_scaled(design.x)
        if sparse == "none":
            estimate, se = family.fit_trial(responses, x, design.names, design.term_index)
        else:
            estimate, se = family.fit_sparse_trial(
                responses, treat, x, design.names, design.term_index, sparse
            )
        # the coefficient of x_j / u is u times that of x_j
        estimate, se = estimate / unit[design.term_index], se / unit[design.term_index]
    except Unfittable as exc:
        reason = str(exc)
        warnings.warn(f"trial {label!r} excluded from pooling: {reason}", UserWarning, stacklevel=3)
        return _TrialFit(np.nan, np.nan, reason)
    return _TrialFit(estimate, se, None)


def _unit_scaled(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x`` with each column divided by the power of two nearest its largest magnitude,
    and those divisors.

    So a covariate's unit (age in years or in 1e-12 years) does not change which trials are
    fitted nor their estimates: the solvers' tolerances are relative to the largest column
    and would otherwise treat a column in small units as negligible. Dividing by a power
    of two is exact, so designs in ordinary units give the same numbers as before.
    Columns holding values too large to square (refused by the families, naming them)
    are left as they are.
    """
    largest = np.max(np.abs(x), axis=0) if len(x) else np.ones(x.shape[1])
    usable = (largest > 0) & (largest <= MAGNITUDE_LIMIT)
    unit = np.ones(x.shape[1])
    unit[usable] = np.exp2(np.round(np.log2(largest[usable])))
    return x / unit, unit


def check_arms(treat: np.ndarray) -> None:
    """Raise :class:`Unfittable` when one trial's 0/1 ``treat`` has an empty arm."""
    for arm in (0.0, 1.0):
        if not np.any(treat == arm):
            raise Unfittable(f"no participants in the {arm_name(arm == 1.0)} arm")


def _trial_design(
    ipd: IPD, rows: np.ndarray, label: str, adjust: list[str], term: PoolTerm
) -> _TrialDesign:
    treat = ipd.treat[rows]
    columns: list[np.ndarray] = [treat]
    names: list[str] = [_TREAT]
    frame = ipd.covariates.iloc[rows]
    for name in adjust:
        block, block_names = covariate_block(frame[name], name)
        if not block_names:
            if name == term.modifier:
                raise Unfittable(
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


def covariate_block(column: pd.Series, name: str) -> tuple[np.ndarray, list[str]]:
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
