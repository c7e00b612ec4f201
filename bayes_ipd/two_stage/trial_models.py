"""Each trial's stage-one model inputs (responses and design), for the analyses that refit
or test the stage-one model: the proportionality test and the per-period effects.

The design is the stage one's own (:func:`bayes_ipd.two_stage.stage1.fit_per_study`):
treatment, then the adjustment covariates (centred within the trial, categorical ones
dummy coded, constant ones left out), each column divided by a power of two.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bayes_ipd.data import IPD
from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.families import Family, get_family
from bayes_ipd.families.regression import Unfittable
from bayes_ipd.two_stage.stage1 import (
    _adjustment_covariates,
    _trial_design,
    _unit_scaled,
    check_arms,
    parse_pool_var,
    trial_responses,
)

__all__ = ["TrialModel", "survival_family", "trial_models"]


@dataclass(frozen=True)
class TrialModel:
    """One trial's stage-one inputs, or why it has none.

    Attributes
    ----------
    study : str
        The trial's label.
    responses : dict
        The family's response arrays of the trial's rows.
    x : numpy.ndarray or None
        The design (no intercept), columns scaled by :attr:`unit`.
    names : tuple of str
        Its column names.
    term : int
        The treatment column.
    unit : numpy.ndarray or None
        The divisor of each column (a coefficient of ``x`` divided by it is on the data's
        units).
    reason : str or None
        Why the trial's model cannot be fitted (one arm only, no events in an arm, ...).
    """

    study: str
    responses: dict[str, np.ndarray]
    x: np.ndarray | None
    names: tuple[str, ...]
    term: int
    unit: np.ndarray | None
    reason: str | None = None


def survival_family(ipd: IPD, what: str) -> Family:
    """The IPD's family, refused (naming ``what``) unless it has a time-to-event outcome."""
    family = get_family(ipd.family, IPDDataError)
    if not family.supports_time_effects:
        raise SpecError(
            f"{what} needs a time-to-event outcome (family 'survival'); the data are "
            f"{family.name!r}"
        )
    return family


def trial_models(
    ipd: IPD,
    family: Family,
    covariates: Sequence[str] = (),
    pool_var: str = "treat",
    excluded: Mapping[str, str] | None = None,
) -> Iterator[TrialModel]:
    """Each trial's stage-one inputs, in the IPD's trial order (warnings as stage one's,
    e.g. a covariate constant within a trial, are not repeated). A trial named in
    ``excluded`` (study -> reason: excluded at stage one) has no design, its reason kept."""
    excluded = excluded or {}
    term = parse_pool_var(ipd, pool_var)
    adjust = _adjustment_covariates(ipd, covariates, term)
    for code, label in enumerate(ipd.studies):
        rows = np.flatnonzero(ipd.study == code)
        responses = trial_responses(ipd, family, rows)
        if label in excluded:
            yield TrialModel(label, responses, None, (), 0, None, excluded[label])
            continue
        try:
            check_arms(ipd.treat[rows])
            family.check_trial_events(responses, ipd.treat[rows])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                design = _trial_design(ipd, rows, label, adjust, term)
        except Unfittable as exc:
            yield TrialModel(label, responses, None, (), 0, None, str(exc))
            continue
        x, unit = _unit_scaled(design.x)
        yield TrialModel(label, responses, x, design.names, design.term_index, unit)
