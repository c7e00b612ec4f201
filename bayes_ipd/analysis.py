"""A whole analysis from an :class:`~bayes_ipd.spec.AnalysisSpec`: the one-stage model and the
two-stage route on the same data, their comparison, and the files ``--out`` writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bayes_ipd.compare import Comparison, compare
from bayes_ipd.data import IPD
from bayes_ipd.fitting import fit
from bayes_ipd.results import OneStageResult
from bayes_ipd.spec import AnalysisSpec, DataSection, ModelSpec
from bayes_ipd.summaries import TrialSummary, read_summaries
from bayes_ipd.two_stage import TwoStageResult, two_stage


@dataclass(frozen=True)
class AnalysisData:
    """What an analysis spec's ``[data]`` section points at.

    Attributes
    ----------
    ipd : IPD or None
        Participant rows (``data.path``).
    summaries : tuple of TrialSummary
        Per-trial summaries (``data.summaries``), trials without rows here.
    """

    ipd: IPD | None
    summaries: tuple[TrialSummary, ...]

    def for_fit(self) -> list[Any]:
        """Rows and summaries as :func:`~bayes_ipd.fitting.fit` takes them."""
        parts: list[Any] = list(self.summaries)
        if self.ipd is not None:
            parts.append(self.ipd)
        return parts


@dataclass(frozen=True)
class AnalysisResult:
    """One-stage and two-stage answers to one analysis spec.

    Attributes
    ----------
    spec : AnalysisSpec
    one_stage : OneStageResult
    two_stage : TwoStageResult or None
        None when no trial has participant rows (summaries only).
    comparison : Comparison or None
    """

    spec: AnalysisSpec
    one_stage: OneStageResult
    two_stage: TwoStageResult | None
    comparison: Comparison | None

    def to_dict(self) -> dict[str, Any]:
        """``{"spec", "posterior", "diagnostics", "two_stage", ...}`` (the ``run --json``
        document)."""
        one = self.one_stage.to_dict()
        return {
            "spec": self.spec.to_dict(),
            "model": one["model"],
            "priors": one["priors"],
            "posterior": one["posterior"],
            "diagnostics": one["diagnostics"],
            "two_stage": None if self.two_stage is None else self.two_stage.to_dict(),
        }

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write summary.json, posterior.nc, comparison_forest.png and ppc.png.

        Returns the paths written, by kind.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        from bayes_ipd.plots import save_figure

        paths = {"summary": out / "summary.json"}
        paths["summary"].write_text(
            json.dumps(_spec_paths_as_text(self.to_dict()), indent=2, allow_nan=False) + "\n",
            encoding="utf-8",
        )
        paths["posterior"] = self.one_stage.to_netcdf(out / "posterior.nc")
        ppc = self.one_stage.ppc()
        paths["ppc"] = save_figure(ppc.plot(), out / "ppc.png")
        if self.comparison is not None:
            paths["comparison_forest"] = save_figure(
                self.comparison.plot(), out / "comparison_forest.png"
            )
        return paths


def _spec_paths_as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _spec_paths_as_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_spec_paths_as_text(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def load_analysis_data(data: DataSection, model: ModelSpec) -> AnalysisData:
    """Read the participant rows and/or trial summaries named by a ``[data]`` section.

    The rows are read with the model's covariates (and interaction covariates).
    """
    ipd = None
    if data.path is not None:
        ipd = IPD.read_csv(
            data.path,
            study=data.study,
            treatment=data.treatment,
            outcome=data.outcome,
            time=data.time,
            event=data.event,
            covariates=list(dict.fromkeys((*model.covariates, *model.interactions))),
            family=data.family,
            missing=data.missing,
            experimental=data.experimental,
        )
    summaries: list[TrialSummary] = []
    for path in data.summaries:
        summaries.extend(read_summaries(path))
    return AnalysisData(ipd=ipd, summaries=tuple(summaries))


def run_analysis(spec: AnalysisSpec, *, progress: bool | None = None) -> AnalysisResult:
    """Fit the one-stage model and the two-stage route of an analysis spec.

    Parameters
    ----------
    spec : AnalysisSpec
        From :func:`~bayes_ipd.spec.read_analysis_spec`.
    progress : bool, optional
        Override the sampler's progress bar setting.

    Returns
    -------
    AnalysisResult
        The two-stage route uses the trials with participant rows, adjusting for the
        model's covariates; it is None when every trial is given as a summary.
    """
    data = load_analysis_data(spec.data, spec.model)
    sampler = spec.sampler
    if progress is not None and progress != sampler.progress:
        from dataclasses import replace

        sampler = replace(sampler, progress=progress)
    one = fit(data.for_fit(), spec.model, sampler)
    two = None
    comparison = None
    if data.ipd is not None:
        two = two_stage(
            data.ipd,
            covariates=spec.model.covariates,
            method=spec.two_stage.method,
            hksj=spec.two_stage.hksj,
        )
        if not data.summaries:
            comparison = compare(one, two)
    return AnalysisResult(spec=spec, one_stage=one, two_stage=two, comparison=comparison)
