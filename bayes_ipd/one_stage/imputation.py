"""Missing covariates imputed inside the one-stage model (``missing="impute"``): the data.

Rows whose covariates are all present keep the package's exact per-trial sufficient
statistics (:mod:`~bayes_ipd.one_stage.summaries`); each row with a missing covariate (and
every row of a trial without complete rows in both arms, e.g. a trial that never recorded
the covariate) enters the likelihood one by one, so the cost grows with the number of
incomplete rows. This module prepares those numbers as an :class:`ImputationData` value
carried by the :class:`~bayes_ipd.one_stage.design.Design`; the PyMC graph is
:mod:`~bayes_ipd.one_stage.imputation_model`.

Centring. The analysis model centres every covariate within trial at a centre ``c_k``: a
fully observed covariate at the trial's mean over *all* its rows; an imputed one at the
trial's modelled mean (a model parameter: the trial mean ``m_k`` of a continuous covariate,
``expit(a_k)`` of a binary one). The complete rows' statistics are centred at their own
means ``d_k``; since ``x - c_k = (x - d_k) + (d_k - c_k)``, their intercept and treatment
effect are shifted by ``beta'(d_k - c_k)`` and ``gamma'(d_k - c_k)``, which keeps the
statistics exact and every interaction within trial. The across-trial interaction uses the
same centres.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_ipd.conventions import readonly
from bayes_ipd.covariates import check_spec_columns, expand_covariates
from bayes_ipd.errors import AnalysisNote, IPDDataError
from bayes_ipd.families import get_family
from bayes_ipd.one_stage.design import Design, design_from_summaries
from bayes_ipd.one_stage.summaries import TrialSummary, summarise_trial, trial_level_values

if TYPE_CHECKING:
    from bayes_ipd.data import IPD
    from bayes_ipd.spec import ModelSpec

__all__ = [
    "MAX_BINARY",
    "ImputationData",
    "imputation_design",
    "missing_covariates",
    "missing_summary",
    "note_model_complete",
]

MAX_BINARY = 6
"""Most binary covariates marginalised at once (the rows sum over 2**B combinations)."""


@dataclass(frozen=True, eq=False)
class ImputationData:
    """The numbers of the covariate model and of the rows that enter one by one.

    Attributes
    ----------
    imputed : tuple of str
        Covariates with a missing value, in the spec's order.
    kinds : tuple of str
        ``"continuous"`` (normal model) or ``"binary"`` (0/1, marginalised) per imputed one.
    columns : tuple of int
        Each imputed covariate's column among the design's covariate terms.
    regressors : tuple of int
        Design columns of the fully observed terms (the covariate model's regressors).
    centre : ndarray (K, p)
        The trial's mean over all its rows of each fully observed term (0 in imputed columns:
        their centre is modelled).
    stat_centre : ndarray (K, p)
        The means the complete rows' statistics are centred at.
    complete : ndarray (K,)
        1 where the trial's complete rows are in the statistics, 0 where all its rows enter
        one by one (its statistics are then placeholders and weigh nothing).
    study, regressor_values, values : ndarray
        Every row: trial index (n,), fully observed terms centred within trial (n, r),
        imputed covariates (n, J) with NaN where missing.
    rows : ndarray (R,)
        The rows entering one by one (indices into all rows).
    treat : ndarray (R,)
    terms : ndarray (R, p)
        Their covariate terms, uncentred, 0 where missing.
    responses : Mapping of str to ndarray (R,)
    systematic : Mapping of str to tuple of str
        Per imputed covariate, the trials that never recorded it.
    counts : Mapping of str to int
        Missing values per imputed covariate.
    n_rows : int
        Rows in the analysis (complete and incomplete).
    """

    imputed: tuple[str, ...]
    kinds: tuple[str, ...]
    columns: tuple[int, ...]
    regressors: tuple[int, ...]
    centre: np.ndarray
    stat_centre: np.ndarray
    complete: np.ndarray
    study: np.ndarray
    regressor_values: np.ndarray
    values: np.ndarray
    rows: np.ndarray
    treat: np.ndarray
    terms: np.ndarray
    responses: Mapping[str, np.ndarray]
    systematic: Mapping[str, tuple[str, ...]]
    counts: Mapping[str, int]
    n_rows: int

    @property
    def missing(self) -> np.ndarray:
        """(n, J) True where an imputed covariate is missing."""
        return np.isnan(self.values)

    def row_missing(self) -> np.ndarray:
        """(R, J) True where a row entering one by one misses an imputed covariate."""
        return self.missing[self.rows]

    def indices(self, kind: str) -> tuple[int, ...]:
        """Positions (among ``imputed``) of the covariates of one kind."""
        return tuple(j for j, k in enumerate(self.kinds) if k == kind)

    def observed_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Pooled mean and SD (1 where undefined or 0) of each imputed covariate's values."""
        mean = np.array([np.nanmean(v) for v in self.values.T])
        sd = np.array([np.nanstd(v) if np.sum(~np.isnan(v)) > 1 else 0.0 for v in self.values.T])
        return mean, np.where(sd > 0, sd, 1.0)

    def regressor_scale(self) -> np.ndarray:
        """Pooled within-trial SD of each regressor (1 where it is 0)."""
        if not self.regressor_values.shape[1]:
            return np.ones(0)
        sd = self.regressor_values.std(axis=0)
        return np.where(sd > 0, sd, 1.0)


def missing_covariates(ipd: IPD, spec: ModelSpec) -> tuple[str, ...]:
    """The spec's covariates with at least one missing value in ``ipd`` (spec order)."""
    return tuple(
        name
        for name in spec.covariates
        if name in ipd.covariates.columns and bool(ipd.covariates[name].isna().any())
    )


def note_model_complete(parts: Sequence[Any], spec: ModelSpec) -> None:
    """A note (:class:`~bayes_ipd.errors.AnalysisNote`, not an error) when rows read with
    ``missing="impute"`` hold missing values, but none in a covariate of the model: nothing
    is imputed and the fit is the complete-data one."""
    for part in parts:
        covariates = getattr(part, "covariates", None)
        if not isinstance(covariates, pd.DataFrame) or not covariates.isna().to_numpy().any():
            continue
        holes = [c for c in covariates.columns if covariates[c].isna().any()]
        used = ", ".join(spec.covariates) or "none"
        warnings.warn(
            f"missing='impute': no covariate of the model ({used}) has a missing value, so "
            f"nothing is imputed ({', '.join(map(repr, holes))}, with missing values, are not "
            "in the model)",
            AnalysisNote,
            stacklevel=5,
        )


def _check_family(ipd: IPD) -> None:
    family = get_family(ipd.family, IPDDataError)
    if not family.supports_row_loglik:
        raise IPDDataError(
            f"missing='impute' in the one-stage model needs a row-level likelihood, which the "
            f"{family.name!r} family does not have (supported: gaussian, binomial); use "
            "missing='drop', or the two-stage route's multiple imputation"
        )


def _check_responses(ipd: IPD) -> None:
    for role in ("outcome", "time", "event"):
        values = getattr(ipd, role)
        if values is not None and np.isnan(values).any():
            column = getattr(ipd.columns, role, role)
            raise IPDDataError(
                f"{int(np.isnan(values).sum())} missing value(s) in the {role} {column!r}: "
                "an outcome is never imputed (the data layer drops and counts such rows)"
            )


def _kinds(ipd: IPD, spec: ModelSpec, imputed: Sequence[str]) -> tuple[str, ...]:
    """Binary (observed values 0/1) or continuous; categorical and spline covariates and
    moderators are refused."""
    kinds = []
    for name in imputed:
        col = ipd.covariates[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            raise IPDDataError(
                f"covariate {name!r} is categorical with missing values; missing='impute' "
                "imputes continuous and binary (0/1) covariates: code it as 0/1 columns"
            )
        if name in spec.splines:
            raise IPDDataError(
                f"covariate {name!r} has missing values and is a spline covariate; "
                "missing='impute' does not impute spline covariates"
            )
        observed = col.dropna().to_numpy(dtype=np.float64)
        if observed.size == 0:
            raise IPDDataError(f"covariate {name!r} has no observed value in any trial")
        kinds.append("binary" if np.isin(observed, (0.0, 1.0)).all() else "continuous")
    if kinds.count("binary") > MAX_BINARY:
        raise IPDDataError(
            f"{kinds.count('binary')} binary covariates with missing values; at most "
            f"{MAX_BINARY} are marginalised at once"
        )
    return tuple(kinds)


def _trial_summary(
    ipd: IPD, spec: ModelSpec, rows: np.ndarray, label: str, frame: pd.DataFrame
) -> TrialSummary:
    """The summary of ``rows`` of one trial (covariates taken from ``frame``)."""
    names = {r: getattr(ipd.columns, r) for r in ("outcome", "time", "event")}
    summary = summarise_trial(
        label,
        ipd.family,
        ipd.treat[rows],
        frame.iloc[rows].reset_index(drop=True),
        spec.covariates,
        spec.interactions,
        outcome=None if ipd.outcome is None else ipd.outcome[rows],
        time=None if ipd.time is None else ipd.time[rows],
        event=None if ipd.event is None else ipd.event[rows],
        columns={k: v for k, v in names.items() if v is not None},
    )
    level = trial_level_values(
        ipd, np.flatnonzero(ipd.study == ipd.study[rows[0]]), label, spec.moderators
    )
    return replace(summary, trial_level=level) if level else summary


def _design(ipd: IPD, spec: ModelSpec, complete: np.ndarray) -> tuple[Design, np.ndarray]:
    """The design of the complete rows; a trial without complete rows in both arms gets a
    placeholder summary (its rows with missing values filled by the pooled mean), weighed 0."""
    filled = ipd.covariates.copy()
    for name in missing_covariates(ipd, spec):
        filled[name] = filled[name].fillna(float(filled[name].mean()))
    summaries, weight, placeholders = [], [], []
    for k, label in enumerate(ipd.studies):
        in_trial = ipd.study == k
        rows = np.flatnonzero(in_trial & complete)
        both_arms = len(np.unique(ipd.treat[rows])) == 2
        if not both_arms:
            rows = np.flatnonzero(in_trial)
            placeholders.append(label)
        summaries.append(_trial_summary(ipd, spec, rows, label, filled))
        weight.append(1.0 if both_arms else 0.0)
    with warnings.catch_warnings():
        for label in placeholders:  # their filled covariates are constant by construction
            warnings.filterwarnings(
                "ignore", message=f"covariate .* is constant within trial {re.escape(repr(label))}"
            )
        design = design_from_summaries(summaries)
    return design, np.array(weight)


def _term_matrix(ipd: IPD, spec: ModelSpec, terms: Sequence[str]) -> np.ndarray:
    """(n, p) values of the design's covariate terms on every row (NaN where missing)."""
    x, names, _ = expand_covariates(ipd.covariates, spec.covariates, len(ipd.study))
    index = {t: i for i, t in enumerate(names)}
    out = x[:, [index[t] for t in terms]] if terms else np.zeros((len(ipd.study), 0))
    return out


def _trial_means(x: np.ndarray, study: np.ndarray, k: int) -> np.ndarray:
    """(K, p) mean of each column per trial over the rows where it is present."""
    out = np.zeros((k, x.shape[1]))
    for j in range(k):
        rows = x[study == j]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[j] = np.nan_to_num(np.nanmean(rows, axis=0)) if rows.size else 0.0
    return out


def imputation_design(ipd: IPD, spec: ModelSpec) -> Design:
    """The one-stage design of rows with missing covariates to impute inside the model.

    Parameters
    ----------
    ipd : IPD
        Rows read with ``missing="impute"`` (covariates may be missing; responses may not).
    spec : ModelSpec

    Returns
    -------
    Design
        The complete rows' exact statistics, with :attr:`Design.imputation` set.

    Raises
    ------
    IPDDataError
        A family without a row-level likelihood (the family is named), a missing outcome,
        a categorical, spline or never-observed covariate with missing values, too many
        binary ones.
    """
    check_spec_columns(ipd, spec)
    imputed = missing_covariates(ipd, spec)
    if not imputed:
        raise IPDDataError("no covariate of the model has a missing value: nothing to impute")
    _check_family(ipd)
    _check_responses(ipd)
    kinds = _kinds(ipd, spec, imputed)
    values = ipd.covariates[list(imputed)].to_numpy(dtype=np.float64)
    complete = ~np.isnan(values).any(axis=1)
    design, weight = _design(ipd, spec, complete)
    terms = design.covariate_terms
    x = _term_matrix(ipd, spec, terms)
    source_imputed = [t in imputed for t in terms]
    centre = _trial_means(x, ipd.study, design.k)
    centre[:, source_imputed] = 0.0
    regressors = tuple(j for j, s in enumerate(source_imputed) if not s)
    reg = x[:, list(regressors)] - centre[ipd.study][:, list(regressors)]
    in_rows = ~complete | (weight[ipd.study] == 0.0)
    rows = np.flatnonzero(in_rows)
    responses = {
        role: getattr(ipd, role)[rows]
        for role in ("outcome", "time", "event")
        if getattr(ipd, role) is not None
    }
    systematic = {
        name: tuple(
            s for k, s in enumerate(ipd.studies) if np.isnan(values[ipd.study == k, j]).all()
        )
        for j, name in enumerate(imputed)
    }
    data = ImputationData(
        imputed=imputed,
        kinds=kinds,
        columns=tuple(terms.index(name) for name in imputed),
        regressors=regressors,
        centre=readonly(centre),
        stat_centre=readonly(design.term_means),
        complete=readonly(weight),
        study=readonly(ipd.study, np.int64),
        regressor_values=readonly(reg),
        values=readonly(values),
        rows=readonly(rows, np.int64),
        treat=readonly(ipd.treat[rows]),
        terms=readonly(np.nan_to_num(x[rows], nan=0.0)),
        responses=MappingProxyType({k: readonly(v) for k, v in responses.items()}),
        systematic=MappingProxyType({k: v for k, v in systematic.items() if v}),
        counts=MappingProxyType(
            {name: int(np.isnan(values[:, j]).sum()) for j, name in enumerate(imputed)}
        ),
        n_rows=len(ipd.study),
    )
    return replace(design, imputation=data)


def missing_summary(imputation: Any) -> dict[str, Any]:
    """The ``missing`` member of the one-stage JSON: ``{"method": "model", "imputed":
    {COLUMN: count}, "systematic": {COLUMN: [STUDY, ...]}, "kinds": {COLUMN: kind},
    "rows_one_by_one": R}``."""
    return {
        "method": "model",
        "imputed": dict(imputation.counts),
        "systematic": {k: list(v) for k, v in imputation.systematic.items()},
        "kinds": dict(zip(imputation.imputed, imputation.kinds, strict=True)),
        "rows_one_by_one": len(imputation.rows),
    }
