"""The one-stage estimation: data (rows and/or trial summaries) + spec + sampler -> Posterior.

:func:`estimate` is the whole fit below its public face: the design of the data
(:func:`design_for`), the model (:mod:`~bayes_ipd.one_stage.builder`) and its NUTS draws
(:mod:`~bayes_ipd.one_stage.sampling`), returned as a
:class:`~bayes_ipd.one_stage.posterior.Posterior`. :func:`bayes_ipd.one_stage.fitting.fit`
wraps it into a :class:`~bayes_ipd.one_stage.result.OneStageResult`; refits that need only
the value (the prior sensitivity sweep) call it directly.

Each kind of input answers for itself how it becomes a design or trial summaries: a
``Design`` is used as it is, a list or tuple is a sequence of parts, participant rows are
summarised exactly, a trial summary (or its dict) is used as given (:func:`trial_summaries`,
a dispatch on the part's type that a new kind of input joins by registering).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import singledispatch
from typing import Any

from bayes_ipd.data import IPD
from bayes_ipd.errors import IPDDataError
from bayes_ipd.one_stage.aggregate_trials import drop_duplicates, label_aggregate, split_aggregate
from bayes_ipd.one_stage.builder import aggregate_only_design, build_aggregate_model, build_model
from bayes_ipd.one_stage.design import Design, design_from_summaries
from bayes_ipd.one_stage.imputation import (
    imputation_design,
    missing_covariates,
    note_model_complete,
)
from bayes_ipd.one_stage.posterior import Posterior
from bayes_ipd.one_stage.sampling import sample
from bayes_ipd.one_stage.summaries import TrialSummary, summarise
from bayes_ipd.priors import PriorSet
from bayes_ipd.spec import ModelSpec, SamplerSettings
from bayes_ipd.splines import expand_spline_parts

__all__ = ["FitData", "design_for", "estimate", "trial_summaries"]

FitData = IPD | TrialSummary | Design | Mapping[str, Any] | Sequence[Any]
"""What :func:`estimate` takes: rows, trial summaries (or their dicts), a design, or a list."""


# ------------------------------------------------------------ one part -> summaries


@singledispatch
def trial_summaries(
    part: Any, spec: ModelSpec, cutpoints: Sequence[float] | None
) -> list[TrialSummary]:
    """The exact trial summaries of one part of a fit's data, for the model ``spec``.

    Participant rows (:class:`~bayes_ipd.data.IPD`) are summarised on ``cutpoints`` (the
    survival intervals of the summaries given beside them, so that all trials agree); a
    :class:`TrialSummary` is used as it is. Another kind of part registers its own rule
    (``@trial_summaries.register``).

    Raises
    ------
    IPDDataError
        A part of no registered kind, or a summary of another family than the model's.
    """
    raise IPDDataError(
        f"cannot fit {type(part).__name__}: give an IPD, TrialSummary objects, or a list"
    )


@trial_summaries.register(IPD)
def _rows_summaries(
    part: IPD, spec: ModelSpec, cutpoints: Sequence[float] | None
) -> list[TrialSummary]:
    return summarise(part, spec, cutpoints=cutpoints)


@trial_summaries.register(TrialSummary)
def _given_summary(
    part: TrialSummary, spec: ModelSpec, cutpoints: Sequence[float] | None
) -> list[TrialSummary]:
    if part.family != spec.family:
        raise IPDDataError(
            f"trial summary {part.study!r} is {part.family!r}, the model {spec.family!r}"
        )
    return [part]


@singledispatch
def _as_part(part: Any) -> Any:
    """A part as the fit uses it: a summary's dict (e.g. read from JSON) becomes the summary;
    every other part is itself."""
    return part


@_as_part.register(Mapping)
def _summary_of_dict(part: Mapping) -> TrialSummary:
    return TrialSummary.from_dict(part)


# --------------------------------------------------------------- data -> design


@singledispatch
def _design_of(data: Any, spec: ModelSpec, duplicates: str) -> Design:
    """One part of any kind: the design of that part alone."""
    return _stacked_design([data], spec, duplicates)


@_design_of.register(list)
@_design_of.register(tuple)
def _design_of_parts(data: Sequence[Any], spec: ModelSpec, duplicates: str) -> Design:
    return _stacked_design(list(data), spec, duplicates)


@_design_of.register(Design)
def _given_design(data: Design, spec: ModelSpec, duplicates: str) -> Design:
    if data.family != spec.family:
        raise IPDDataError(
            f"the model is for family {spec.family!r} but the design is {data.family!r}"
        )
    return data


def _stacked_design(parts: list[Any], spec: ModelSpec, duplicates: str) -> Design:
    """The design of several parts: IPD trials first, then the aggregate-data trials."""
    if any(isinstance(p, IPD) and missing_covariates(p, spec) for p in parts):
        return _imputed_design(parts, spec)
    if spec.splines:  # basis columns on knots pooled over all rows (bayes_ipd.splines)
        parts, flat, bases = expand_spline_parts(parts, spec)
        return replace(_stacked_design(list(parts), flat, duplicates), splines=bases)
    note_model_complete(parts, spec)
    split = split_aggregate([_as_part(p) for p in parts], spec)
    parts = [*split.parts, *split.count_summaries]
    if not parts and split.aggregate is not None:
        return aggregate_only_design(spec, split.aggregate)
    # rows are summarised on the cut points of the given summaries, so that all trials agree
    cutpoints = next((p.cutpoints for p in parts if isinstance(p, TrialSummary)), None)
    summaries = [s for part in parts for s in trial_summaries(part, spec, cutpoints)]
    if split.aggregate is None:
        return design_from_summaries(summaries)
    ad = drop_duplicates(split.aggregate, [s.study for s in summaries], duplicates)
    design = design_from_summaries(summaries, minimum=1 if ad.k else 2)
    return replace(design, aggregate=ad)


def _imputed_design(parts: list[Any], spec: ModelSpec) -> Design:
    """Rows with missing covariates (read with ``missing="impute"``): imputed in the model."""
    if len(parts) != 1:
        raise IPDDataError(
            "covariates imputed in the one-stage model (missing='impute') need the participant "
            "rows alone: no trial summaries or aggregate-data trials beside them"
        )
    return imputation_design(parts[0], spec)


def design_for(data: FitData, spec: ModelSpec, duplicates: str = "error") -> Design:
    """The one-stage design of participant rows, trial summaries, or a mix of both.

    Parameters
    ----------
    data : IPD, TrialSummary, Design, or a sequence of IPD, TrialSummary and summary dicts
        Also aggregate-data trials (``AggregateData``, ``AggregateTrials``, ``ArmCounts``
        of :mod:`~bayes_ipd.one_stage.aggregate_trials`). Rows are summarised exactly
        (:func:`~bayes_ipd.one_stage.summaries.summarise`); summaries
        (objects, or the dicts of :meth:`TrialSummary.to_dict`, e.g. read from JSON) are used
        as they are. Trials are ordered as given.
    spec : ModelSpec
    duplicates : {"error", "prefer_ipd"}
        A trial given both with rows (or a summary) and as aggregate data: refuse, or keep
        the rows and drop the aggregate entry (listed in ``design.aggregate.dropped``).

    Returns
    -------
    Design
    """
    return _design_of(data, spec, duplicates)


# ------------------------------------------------------------------- the estimate


def _first_part(data: FitData) -> Any:
    return data[0] if isinstance(data, (list, tuple)) else data


def estimate(
    data: FitData,
    spec: ModelSpec | None = None,
    sampler: SamplerSettings | None = None,
    *,
    priors: PriorSet | None = None,
    duplicates: str = "error",
) -> Posterior:
    """Sample the posterior of a one-stage Bayesian IPD meta-analysis with NUTS.

    The parameters are those of :func:`bayes_ipd.one_stage.fitting.fit`, which returns the
    same posterior as a :class:`~bayes_ipd.one_stage.result.OneStageResult`.

    Returns
    -------
    Posterior
        Immutable; same seed, data and spec give identical draws. A compiled model is reused
        when the same spec is fitted to new data of the same shape.
    """
    if spec is None:
        family = getattr(data, "family", None) or getattr(_first_part(data), "family", None)
        spec = ModelSpec(family=family)
    sampler = sampler if sampler is not None else SamplerSettings()
    design = design_for(data, spec, duplicates)
    builder = build_model if design.k else build_aggregate_model
    built = builder(design, spec, priors=priors)
    idata, diagnostics = sample(built, sampler)
    idata = label_aggregate(idata, design)
    return Posterior(idata=idata, built=built, sampler=sampler, diagnostics=diagnostics)
