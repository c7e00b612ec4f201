"""Stage one on M completed data sets, each trial's estimates combined by Rubin's rules.

The completed data sets are made here (:func:`~bayes_ipd.two_stage.imputation.impute_covariates`,
two-level chained equations) or given (``imputations=[frame, ...]``: data sets completed
elsewhere, e.g. by R ``mice``). Each is analysed by the ordinary stage one
(:func:`~bayes_ipd.two_stage.stage1.fit_per_study`); each trial's M estimates and SEs are then
combined by Rubin's rules (:mod:`bayes_ipd.two_stage.rubin`), giving one estimate and SE per
trial for stage two. A trial that cannot be fitted on some completed data set is excluded (its
reason names the imputation). The complete-data degrees of freedom of a trial, for the
Barnard-Rubin df, are its rows (events, for a model without intercept such as Cox's) minus its
coefficients, as ``mice::pool`` reads them from ``lm``, ``glm`` and ``coxph`` fits.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayes_ipd.data import IPD
from bayes_ipd.data.missing import covariate_missing
from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.families import get_family
from bayes_ipd.two_stage.aggregate import AggregateData
from bayes_ipd.two_stage.imputation import METHOD, check_imputations, impute_covariates
from bayes_ipd.two_stage.rubin import ImputationSummary, RubinEstimate, rubin_pool
from bayes_ipd.two_stage.stage1 import covariate_block, fit_per_study, parse_pool_var

__all__ = ["GIVEN", "completed_from_frames", "imputed_stage_one", "stage_one_on_completed"]

GIVEN = "given"
"""The method named when the completed data sets were passed in."""


def imputed_stage_one(
    ipd: IPD,
    *,
    covariates: Sequence[str],
    pool_var: str,
    sparse: str,
    imputations: int | Sequence[pd.DataFrame],
    seed: int = 0,
) -> tuple[AggregateData, ImputationSummary | None]:
    """Stage one of a two-stage analysis with missing covariates.

    Parameters
    ----------
    ipd : IPD
        Participant rows; built with ``missing="impute"`` when values are to be imputed here.
    covariates, pool_var, sparse
        As in :func:`~bayes_ipd.two_stage.stage1.fit_per_study`.
    imputations : int or sequence of DataFrame
        M (impute here) or the completed data sets (each with ``ipd``'s source columns).
    seed : int
        Seed of the imputations made here.

    Returns
    -------
    AggregateData
        One Rubin's-rules estimate and SE per trial.
    ImputationSummary or None
        None when M was given and no used covariate has a missing value (a warning notes that
        the analysis is the complete-data one).
    """
    used = _used_covariates(ipd, covariates, pool_var)
    if isinstance(imputations, pd.DataFrame):
        raise SpecError("imputations: pass a list of completed data sets (M >= 2), not one")
    if isinstance(imputations, (str, bytes)) or not isinstance(imputations, Sequence):
        m = check_imputations(imputations)
        missing = covariate_missing(ipd.covariates[used], ipd.study, ipd.studies)
        if not missing:
            warnings.warn(
                "missing='impute': no covariate of the analysis has a missing value, so "
                "nothing was imputed (complete-data analysis)",
                UserWarning,
                stacklevel=3,
            )
            return fit_per_study(ipd, covariates=covariates, pool_var=pool_var, sparse=sparse), None
        frames = impute_covariates(ipd, used, imputations=m, seed=seed)
        completed = [dataclasses.replace(ipd, covariates=f) for f in frames]
        per_study, by_study = stage_one_on_completed(
            ipd, completed, covariates=covariates, pool_var=pool_var, sparse=sparse
        )
        return per_study, ImputationSummary(METHOD, m, by_study, missing, seed)
    completed = completed_from_frames(ipd, imputations)
    per_study, by_study = stage_one_on_completed(
        ipd, completed, covariates=covariates, pool_var=pool_var, sparse=sparse
    )
    return per_study, ImputationSummary(GIVEN, len(completed), by_study)


def completed_from_frames(ipd: IPD, frames: Sequence[pd.DataFrame]) -> list[IPD]:
    """Data sets completed elsewhere, read with ``ipd``'s columns (each must be complete).

    Raises
    ------
    SpecError
        Fewer than two data sets.
    IPDDataError
        A data set is not a DataFrame, still holds a missing value, or holds other trials.
    """
    check_imputations(len(frames), "imputations (completed data sets)")
    cols = ipd.columns
    out = []
    for i, frame in enumerate(frames, start=1):
        if not isinstance(frame, pd.DataFrame):
            raise IPDDataError(f"imputations[{i - 1}]: expected a DataFrame, got {type(frame)!r}")
        try:
            one = IPD.from_frame(
                frame,
                study=cols.study,
                treatment=cols.treatment,
                outcome=cols.outcome,
                time=cols.time,
                event=cols.event,
                covariates=cols.covariates,
                family=ipd.family,
                experimental=ipd.experimental,
                levels=ipd.levels,
            )
        except IPDDataError as exc:
            raise IPDDataError(f"completed data set {i}: {exc}") from exc
        if set(one.studies) != set(ipd.studies):
            raise IPDDataError(
                f"completed data set {i} holds trials {', '.join(one.studies)}; expected "
                f"{', '.join(ipd.studies)}"
            )
        out.append(one)
    return out


def stage_one_on_completed(
    ipd: IPD,
    completed: Sequence[IPD],
    *,
    covariates: Sequence[str],
    pool_var: str,
    sparse: str = "none",
) -> tuple[AggregateData, dict[str, RubinEstimate]]:
    """Stage one on each completed data set, each trial's estimates combined by Rubin's rules.

    Returns
    -------
    AggregateData
        In ``ipd``'s trial order; a trial excluded on any completed data set is excluded.
    dict of str to RubinEstimate
        The combination per included trial.
    """
    fits, notes = [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for one in completed:
            fits.append(fit_per_study(one, covariates=covariates, pool_var=pool_var, sparse=sparse))
    for note in dict.fromkeys(str(w.message) for w in caught):
        notes.append(note)
    for note in notes:  # each distinct warning once, not once per imputation
        warnings.warn(f"{note} (in a completed data set)", UserWarning, stacklevel=3)
    estimate, se, excluded = [], [], []
    by_study: dict[str, RubinEstimate] = {}
    for label in ipd.studies:
        rows = [
            (
                f.estimate[f.studies.index(label)],
                f.se[f.studies.index(label)],
                f.excluded[f.studies.index(label)],
            )
            for f in fits
        ]
        reasons = [(i, r) for i, (_, _, r) in enumerate(rows, start=1) if r is not None]
        if reasons:
            i, reason = reasons[0]
            estimate.append(math.nan)
            se.append(math.nan)
            excluded.append(f"completed data set {i}: {reason}")
            continue
        dfcom = _complete_data_df(completed[0], label, covariates, pool_var)
        combined = rubin_pool([r[0] for r in rows], [r[1] for r in rows], dfcom)
        by_study[label] = combined
        estimate.append(combined.estimate)
        se.append(combined.se)
        excluded.append(None)
    first = fits[0]
    order = [first.studies.index(s) for s in ipd.studies]
    return (
        AggregateData(
            studies=ipd.studies,
            estimate=np.array(estimate),
            se=np.array(se),
            n=None if first.n is None else first.n[order],
            events=None if first.events is None else first.events[order],
            excluded=tuple(excluded),
            term=first.term,
            scale=first.scale,
        ),
        by_study,
    )


def _used_covariates(ipd: IPD, covariates: Sequence[str], pool_var: str) -> list[str]:
    names = [covariates] if isinstance(covariates, str) else list(covariates)
    modifier = parse_pool_var(ipd, pool_var).modifier
    return list(dict.fromkeys([*names, *([modifier] if modifier else [])]))


def _complete_data_df(one: IPD, label: str, covariates: Sequence[str], pool_var: str) -> float:
    """Rows (events without an intercept: a baseline hazard) minus coefficients."""
    code = one.studies.index(label)
    rows = np.flatnonzero(one.study == code)
    frame = one.covariates.iloc[rows]
    coefficients = 1  # the treatment
    for name in _used_covariates(one, covariates, pool_var):
        coefficients += len(covariate_block(frame[name], name)[1])
    if ":" in pool_var:
        coefficients += 1
    family = get_family(one.family, IPDDataError)
    if family.has_baseline_hazard and family.event_role is not None:
        return float(max(getattr(one, family.event_role)[rows].sum() - coefficients, 1))
    return float(max(rows.size - coefficients - 1, 1))
