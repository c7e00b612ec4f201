"""The one-stage fit: data (rows and/or trial summaries) + spec + sampler -> OneStageResult."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from bayes_ipd.data import IPD
from bayes_ipd.errors import IPDDataError
from bayes_ipd.one_stage.aggregate_trials import (
    aggregate_only_design,
    build_aggregate_model,
    drop_duplicates,
    label_aggregate,
    split_aggregate,
)
from bayes_ipd.one_stage.builder import build_model
from bayes_ipd.one_stage.design import Design, design_from_summaries
from bayes_ipd.one_stage.result import OneStageResult
from bayes_ipd.one_stage.sampling import sample
from bayes_ipd.one_stage.summaries import TrialSummary, summarise
from bayes_ipd.priors import PriorSet
from bayes_ipd.spec import ModelSpec, SamplerSettings
from bayes_ipd.splines import expand_spline_parts

FitData = IPD | TrialSummary | Design | Mapping[str, Any] | Sequence[Any]
"""What :func:`fit` takes: rows, trial summaries (or their dicts), a design, or a list."""


def _parts(data: FitData) -> list[Any]:
    if isinstance(data, (list, tuple)):
        return list(data)
    return [data]


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
    if isinstance(data, Design):
        if data.family != spec.family:
            raise IPDDataError(
                f"the model is for family {spec.family!r} but the design is {data.family!r}"
            )
        return data
    if spec.splines:  # basis columns on knots pooled over all rows (bayes_ipd.splines)
        parts, flat, bases = expand_spline_parts(_parts(data), spec)
        return replace(design_for(parts, flat, duplicates), splines=bases)
    parts = [TrialSummary.from_dict(p) if isinstance(p, Mapping) else p for p in _parts(data)]
    split = split_aggregate(parts, spec)
    parts = [*split.parts, *split.count_summaries]
    if not parts and split.aggregate is not None:
        return aggregate_only_design(spec, split.aggregate)
    given = [p for p in parts if isinstance(p, TrialSummary)]
    # rows are summarised on the cut points of the given summaries, so that all trials agree
    cutpoints: Sequence[float] | None = given[0].cutpoints if given else None
    summaries: list[TrialSummary] = []
    for part in parts:
        if isinstance(part, TrialSummary):
            if part.family != spec.family:
                raise IPDDataError(
                    f"trial summary {part.study!r} is {part.family!r}, the model {spec.family!r}"
                )
            summaries.append(part)
        elif hasattr(part, "studies") and hasattr(part, "covariates"):
            summaries.extend(summarise(part, spec, cutpoints=cutpoints))
        else:
            raise IPDDataError(
                f"cannot fit {type(part).__name__}: give an IPD, TrialSummary objects, or a list"
            )
    if split.aggregate is None:
        return design_from_summaries(summaries)
    ad = drop_duplicates(split.aggregate, [s.study for s in summaries], duplicates)
    design = design_from_summaries(summaries, minimum=1 if ad.k else 2)
    return replace(design, aggregate=ad)


def fit(
    data: FitData,
    spec: ModelSpec | None = None,
    sampler: SamplerSettings | None = None,
    *,
    priors: PriorSet | None = None,
    duplicates: str = "error",
) -> OneStageResult:
    """Fit a one-stage Bayesian IPD meta-analysis with NUTS.

    Parameters
    ----------
    data : IPD, TrialSummary, Design, or a sequence of IPD and TrialSummary
        Participant rows and/or exact per-trial summaries (identical posteriors either way).
    spec : ModelSpec, optional
        The model; by default ``ModelSpec(family=data.family)`` with no covariates.
    sampler : SamplerSettings, optional
        NUTS settings (draws, tune, chains, seed, target_accept, backend, progress).
    priors : PriorSet, optional
        Priors in use; by default the spec's, with scale-aware defaults elsewhere.
    duplicates : {"error", "prefer_ipd"}
        A trial given both with rows and as aggregate data (:func:`design_for`).

    Returns
    -------
    OneStageResult
        Immutable; same seed, data and spec give identical draws. A compiled model is reused
        when the same spec is fitted to new data of the same shape.

    Examples
    --------
    >>> import bayes_ipd as bi
    >>> ipd = bi.datasets.load_bp_ipd()
    >>> spec = bi.ModelSpec(family="gaussian", covariates=("age",), interactions=("age",))
    >>> result = bi.fit(ipd, spec, bi.SamplerSettings(draws=200, tune=200, chains=2,
    ...                                                progress=False))  # doctest: +SKIP
    >>> result.summary()  # doctest: +SKIP
    """
    if spec is None:
        family = getattr(data, "family", None) or getattr(_parts(data)[0], "family", None)
        spec = ModelSpec(family=family)
    sampler = sampler if sampler is not None else SamplerSettings()
    design = design_for(data, spec, duplicates)
    builder = build_model if design.k else build_aggregate_model
    built = builder(design, spec, priors=priors)
    idata, diagnostics = sample(built, sampler)
    idata = label_aggregate(idata, design)
    return OneStageResult(idata=idata, built=built, sampler=sampler, diagnostics=diagnostics)
