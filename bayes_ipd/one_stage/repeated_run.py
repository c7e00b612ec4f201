"""``bayes-ipd run`` of a spec with ``[data] visit``: repeated measures on both routes.

The long rows are read and checked once (:func:`~bayes_ipd.data.visits.repeated_from_frame`);
the one-stage Bayesian MMRM (:func:`~bayes_ipd.one_stage.repeated_result.fit_repeated`,
the spec's sampler and priors) and the two-stage route (an MMRM per trial, each visit
pooled by ``[two_stage] method``, the visits jointly:
:func:`~bayes_ipd.two_stage.repeated.two_stage_repeated`) are fitted on them, and compared
visit by visit. :class:`RepeatedAnalysisResult` answers as
:class:`~bayes_ipd.analysis.AnalysisResult` does for ``run`` (``to_dict``, ``write_files``,
the printed reports); its figures are the effect over visits of both routes, a forest plot
per visit, the observed means per trial and arm, and the PPC of those means.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from bayes_ipd.conventions import json_ready
from bayes_ipd.data.visits import RepeatedIPD, repeated_from_frame
from bayes_ipd.one_stage.repeated_model import RepeatedOptions
from bayes_ipd.one_stage.repeated_result import RepeatedOneStageResult, fit_repeated
from bayes_ipd.output_folder import check_free_space, staged_folder
from bayes_ipd.plots.save import png_bytes
from bayes_ipd.spec import AnalysisSpec
from bayes_ipd.spec_repeated import RESIDUAL_OF_SD, repeated_prior_scales
from bayes_ipd.two_stage.repeated import two_stage_repeated
from bayes_ipd.two_stage.repeated_result import RepeatedTwoStageResult

__all__ = [
    "REPEATED_FILES",
    "RepeatedAnalysisResult",
    "RepeatedComparison",
    "repeated_options",
    "run_repeated_analysis",
]

REPEATED_FILES: dict[str, str] = {
    "summary": "summary.json",
    "posterior": "posterior.nc",
    "effect_over_visits": "effect_over_visits.png",
    "forest_by_visit": "forest_by_visit.png",
    "visit_means": "visit_means.png",
    "ppc_visit_means": "ppc_visit_means.png",
}
"""The files ``run --out`` writes for a repeated-measures spec, by kind."""


@dataclass(frozen=True, eq=False)
class RepeatedComparison:
    """The one-stage posterior beside the two-stage estimates, visit by visit.

    ``frame``: ``visit, one_stage, one_stage_lower, one_stage_upper`` (posterior mean and
    95% interval), ``two_stage, two_stage_lower, two_stage_upper`` (per-visit pooling),
    ``multivariate, multivariate_se`` (joint REML), ``tau_one_stage`` (posterior mean of
    tau) and ``tau_two_stage`` (square root of the per-visit tau2).
    """

    frame: pd.DataFrame

    def __repr__(self) -> str:
        return self.frame.round(3).to_string(index=False)


def compare_repeated(
    one: RepeatedOneStageResult, two: RepeatedTwoStageResult
) -> RepeatedComparison:
    """Both routes' effects per visit (:class:`RepeatedComparison`)."""
    effect = one.effect_frame()
    tau = one.summary().loc["tau"]["mean"]
    rows = two.summary_by_visit()
    frame = pd.DataFrame(
        {
            "visit": list(one.visits),
            "one_stage": effect["estimate"].to_numpy(),
            "one_stage_lower": effect["lower"].to_numpy(),
            "one_stage_upper": effect["upper"].to_numpy(),
            "two_stage": rows["estimate"].to_numpy(),
            "two_stage_lower": rows["ci_low"].to_numpy(),
            "two_stage_upper": rows["ci_high"].to_numpy(),
            "multivariate": rows["mv_estimate"].to_numpy(),
            "multivariate_se": rows["mv_se"].to_numpy(),
            "tau_one_stage": tau.reindex(list(one.visits)).to_numpy(),
            "tau_two_stage": rows["tau2"].to_numpy() ** 0.5,
        }
    )
    return RepeatedComparison(frame)


@dataclass(frozen=True, eq=False)
class RepeatedAnalysisResult:
    """Both routes' answers to a repeated-measures spec (``run`` reads it as it reads
    :class:`~bayes_ipd.analysis.AnalysisResult`).

    Attributes
    ----------
    spec : AnalysisSpec
    one_stage : RepeatedOneStageResult
    two_stage : RepeatedTwoStageResult
    comparison : RepeatedComparison
    harmonisation : HarmonisationLog or None
        The ``[harmonise]`` rules applied to the rows first.
    data : RepeatedIPD
        The long rows as checked.
    """

    spec: AnalysisSpec
    one_stage: RepeatedOneStageResult
    two_stage: RepeatedTwoStageResult
    comparison: RepeatedComparison
    harmonisation: Any = None
    data: Any = None
    # what `run` and the shipped-spec check read from an ordinary result
    one_stage_ipd: None = None
    hybrid: None = None
    ite: None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``run --json`` document: ``spec``, ``model`` (the one-stage MMRM's layout:
        visits, options, counts), ``priors``, ``posterior`` (``effect``, ``tau`` of the
        primary visit, ``effect_by_visit``, ``tau_by_visit``), ``diagnostics`` and
        ``two_stage`` (the ``two-stage --visit --json`` object: ``by_visit``,
        ``multivariate``, ...)."""
        one = self.one_stage.to_json()
        model = {k: v for k, v in one.items() if k not in ("priors", "posterior", "sampler")}
        out = {
            "spec": self.spec.to_dict(),
            "model": model,
            "priors": one["priors"],
            "posterior": one["posterior"],
            "diagnostics": one["sampler"],
            "two_stage": self.two_stage.to_dict(),
        }
        if self.harmonisation is not None:
            out["harmonisation"] = self.harmonisation.to_dict()
        return out

    @cached_property
    def pngs(self) -> dict[str, bytes]:
        """The figures as PNG bytes by kind (drawn once): ``effect_over_visits`` (both
        routes), ``forest_by_visit``, ``visit_means`` (observed), ``ppc_visit_means``."""
        one, two, data = self.one_stage, self.two_stage, self.spec.data
        visit, outcome = str(data.visit), f"mean {data.outcome}"
        figures = {
            "effect_over_visits": lambda: two.plot_effect(
                overlay={"one-stage posterior": one.effect_frame()}, visit_label=visit
            ),
            "forest_by_visit": lambda: two.plot_forest_by_visit(visit_title=visit + " {visit}"),
            "visit_means": lambda: two.plot_means(visit_label=visit, outcome_label=outcome),
            "ppc_visit_means": lambda: one.plot_ppc_visit_means(
                visit_label=visit, outcome_label=outcome
            ),
        }
        return {kind: png_bytes(draw()) for kind, draw in figures.items()}

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write :meth:`write_files` into ``out_dir`` as a whole (a temporary folder beside
        it moved into place at the end; other files there stay); the paths, by kind."""
        own = {*REPEATED_FILES.values(), "harmonisation_log.csv"}
        with staged_folder(out_dir, own) as stage:
            written = self.write_files(stage)
        return {kind: Path(out_dir) / path.name for kind, path in written.items()}

    def write_files(self, folder: Path) -> dict[str, Path]:
        """Write summary.json, posterior.nc and the figures into the existing ``folder``
        (``run --out`` stages it); the paths written, by kind."""
        folder = Path(folder)
        summary = json.dumps(json_ready(self.to_dict()), indent=2, allow_nan=False) + "\n"
        idata = self.one_stage.idata
        size = len(summary) + sum(len(png) for png in self.pngs.values())
        size += 2 * sum(idata[g].nbytes for g in idata.groups())
        check_free_space(folder, size)
        paths = {kind: folder / name for kind, name in REPEATED_FILES.items()}
        paths["summary"].write_text(summary, encoding="utf-8")
        if self.harmonisation is not None:
            paths["harmonisation_log"] = self.harmonisation.to_csv(folder / "harmonisation_log.csv")
        self.one_stage.to_netcdf(paths["posterior"])
        for kind, png in self.pngs.items():
            paths[kind].write_bytes(png)
        return paths


def repeated_options(spec: AnalysisSpec) -> RepeatedOptions:
    """The one-stage MMRM's options of a spec: ``[model] effect_time``, ``eta``,
    ``residual_sd`` (``per_study``: a residual covariance per trial), ``interactions``,
    ``[data] primary_visit`` and the prior scales of ``[priors]``."""
    settings = spec.repeated
    assert settings is not None  # a spec with data.visit always has them
    values: dict[str, Any] = {
        "effect_time": settings.effect_time,
        "residual": RESIDUAL_OF_SD[spec.model.residual_sd],
        "eta": settings.eta,
        "primary_visit": spec.data.primary_visit,
        **repeated_prior_scales(spec.model.priors),
    }
    if spec.model.interactions:
        values["interactions"] = tuple(spec.model.interactions)
    return RepeatedOptions(**values)


def read_repeated(spec: AnalysisSpec, rows: pd.DataFrame) -> RepeatedIPD:
    """The spec's long rows, checked (errors name the file's lines)."""
    from bayes_ipd.data.messages import file_row_name

    data = spec.data
    assert data.visit is not None and data.participant is not None and data.outcome is not None
    return repeated_from_frame(
        rows,
        study=data.study,
        treatment=str(data.treatment),
        outcome=data.outcome,
        participant=data.participant,
        visit=data.visit,
        covariates=list(spec.model.covariates),
        visit_order=data.visit_order,
        missing=data.missing,
        experimental=data.experimental,
        row_name=file_row_name(Path(str(data.path))),
    )


def run_repeated_analysis(
    spec: AnalysisSpec,
    rows: pd.DataFrame,
    *,
    progress: bool | None = None,
    harmonisation: Any = None,
) -> RepeatedAnalysisResult:
    """Fit both routes of a repeated-measures spec on its rows (read once).

    Parameters
    ----------
    spec : AnalysisSpec
        With ``[data] visit`` (:mod:`bayes_ipd.spec_repeated`).
    rows : DataFrame
        ``data.path`` as read (and harmonised).
    progress : bool, optional
        Override the sampler's progress bar setting.
    harmonisation : HarmonisationLog, optional
        The log of the rules already applied to ``rows``.

    Returns
    -------
    RepeatedAnalysisResult
    """
    data = read_repeated(spec, rows)
    sampler = spec.sampler
    if progress is not None and progress != sampler.progress:
        sampler = replace(sampler, progress=progress)
    settings = spec.repeated
    assert settings is not None
    two = two_stage_repeated(
        data,
        covariance=settings.covariance,
        between=settings.between,
        primary_visit=spec.data.primary_visit,
        method=spec.two_stage.method,
        hksj=spec.two_stage.hksj,
    )
    one = fit_repeated(data, options=repeated_options(spec), sampler=sampler)
    return RepeatedAnalysisResult(
        spec=spec,
        one_stage=one,
        two_stage=two,
        comparison=compare_repeated(one, two),
        harmonisation=harmonisation,
        data=data,
    )
