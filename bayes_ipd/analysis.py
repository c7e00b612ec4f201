"""A whole analysis from an :class:`~bayes_ipd.spec.AnalysisSpec`: the one-stage model and the
two-stage route on the same data, their comparison, and the files ``--out`` writes; and the
demo (:func:`run_demo`), both routes on the shipped BCG trials.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayes_ipd.checks.rmst import follow_up_times, warn_extrapolation
from bayes_ipd.compare import Comparison, compare
from bayes_ipd.conventions import json_ready
from bayes_ipd.data import IPD, Columns
from bayes_ipd.data.missing import IMPUTE
from bayes_ipd.datasets import load_bcg_ipd
from bayes_ipd.errors import AnalysisNote, SpecError
from bayes_ipd.hybrid import HybridComparison, hybrid_comparison
from bayes_ipd.one_stage.aggregate_trials import (
    AggregateTrials,
    ArmCounts,
    read_moderator_columns,
)
from bayes_ipd.one_stage.fitting import fit
from bayes_ipd.one_stage.network_analysis import (
    NETWORK_FIGURES,
    NetworkAnalysis,
    run_network_analysis,
)
from bayes_ipd.one_stage.repeated_run import (
    REPEATED_FILES,
    RepeatedAnalysisResult,
    run_repeated_analysis,
)
from bayes_ipd.one_stage.result import OneStageResult
from bayes_ipd.one_stage.summaries import TrialSummary, read_summaries
from bayes_ipd.one_stage.survival_estimands import SURVIVAL_FIGURES, survival_figures
from bayes_ipd.output_folder import check_free_space
from bayes_ipd.output_folder import staged_folder as stage_folder
from bayes_ipd.plots import save_figure
from bayes_ipd.plots.save import png_bytes
from bayes_ipd.spec import AnalysisSpec, DataSection, ModelSpec, SamplerSettings
from bayes_ipd.two_stage import AggregateData, TwoStageResult, fit_per_study, two_stage
from bayes_ipd.two_stage.forest_rows import arm_count_columns
from bayes_ipd.two_stage.imputation import DEFAULT_IMPUTATIONS

if TYPE_CHECKING:
    import pandas as pd

    from bayes_ipd.checks.ppc import PPCResult
    from bayes_ipd.data.harmonise import HarmonisationLog


@dataclass(frozen=True)
class AnalysisData:
    """What an analysis spec's ``[data]`` section points at.

    Attributes
    ----------
    ipd : IPD or None
        Participant rows (``data.path``).
    summaries : tuple of TrialSummary
        Per-trial summaries (``data.summaries``), trials without rows here.
    aggregate : AggregateData, ArmCounts or None
        Published estimates of trials without rows (``data.aggregate``), or their 2x2
        counts (``data.aggregate_counts = true``).
    aggregate_moderators : pandas.DataFrame or None
        The model's moderator columns (``model.moderators``) of the aggregate file,
        indexed by trial (:func:`bayes_ipd.one_stage.aggregate_trials.read_moderator_columns`).
    """

    ipd: IPD | None
    summaries: tuple[TrialSummary, ...]
    aggregate: AggregateData | ArmCounts | None = None
    aggregate_moderators: Any = None

    def for_fit(self, *, with_aggregate: bool = True) -> list[Any]:
        """Rows, summaries (and AD) as :func:`~bayes_ipd.one_stage.fitting.fit` takes them."""
        parts: list[Any] = list(self.summaries)
        if self.ipd is not None:
            parts.append(self.ipd)
        if with_aggregate and self.aggregate_moderators is not None:
            parts.append(AggregateTrials.from_aggregate(self.aggregate, self.aggregate_moderators))
        elif with_aggregate and self.aggregate is not None:
            parts.append(self.aggregate)
        return parts

    @property
    def is_hybrid(self) -> bool:
        """Both trials with rows (or summaries) and aggregate-data trials."""
        return self.aggregate is not None and bool(self.summaries or self.ipd is not None)


OUTPUT_FILES: dict[str, str] = {
    "summary": "summary.json",
    "posterior": "posterior.nc",
    "ppc": "ppc.png",
    "comparison_forest": "comparison_forest.png",
    "harmonisation_log": "harmonisation_log.csv",
    **{kind: f"{kind}.png" for kind in SURVIVAL_FIGURES},
    **NETWORK_FIGURES,
    **REPEATED_FILES,
}
"""The files :meth:`AnalysisResult.write` may write into its folder, by kind (the CLI checks
them against the inputs before any fitting)."""


def output_paths(out_dir: str | Path) -> dict[str, Path]:
    """Every path :meth:`AnalysisResult.write` may write into ``out_dir``, by kind."""
    return {kind: Path(out_dir) / name for kind, name in OUTPUT_FILES.items()}


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
    one_stage_ipd, two_stage_ipd : OneStageResult, TwoStageResult or None
        Hybrid IPD + AD analyses: the IPD-only fits (``one_stage`` and ``two_stage`` then
        include the AD trials).
    hybrid : HybridComparison or None
        IPD-only vs IPD + AD, both routes (hybrid analyses only).
    flow, integrity : PrismaFlow, IntegrityResult or None
        The PRISMA-IPD flow and the data-integrity check, when ``[report]`` names their
        files (:mod:`bayes_ipd.prisma`, :mod:`bayes_ipd.two_stage.integrity`).
    responders : ResponderComparison or None
        Trials that supplied IPD beside those that did not (:mod:`bayes_ipd.responders`),
        when ``[report] trials`` or the flow's ``[[trial]]`` tables give their
        characteristics.
    ite : ITEReport or None
        The individualised treatment effects of the spec's ``[ite]`` section
        (:mod:`bayes_ipd.ite.section`), fitted on the same participant rows.
    harmonisation : HarmonisationLog or None
        Every ``[harmonise]`` rule applied to the rows before anything else
        (:func:`bayes_ipd.data.harmonise.harmonise`); None without the section.
    ipd : IPD or None
        The participant rows fitted (survival: the Kaplan-Meier and log-cumulative-hazard
        checks of :attr:`survival_pngs` read them).

    The posterior predictive check (:attr:`ppc`) is computed on first use and kept, so the
    report and :meth:`write` draw the same replicates once; the figures both of them show
    (:attr:`ppc_png`, :attr:`comparison_png`) are drawn and rendered once.
    """

    spec: AnalysisSpec
    one_stage: OneStageResult
    two_stage: TwoStageResult | None
    comparison: Comparison | None
    one_stage_ipd: OneStageResult | None = None
    two_stage_ipd: TwoStageResult | None = None
    hybrid: HybridComparison | None = None
    flow: Any = None
    integrity: Any = None
    ite: Any = None
    harmonisation: Any = None
    ipd: Any = None
    responders: Any = None

    def to_dict(self) -> dict[str, Any]:
        """``{"spec", "posterior", "diagnostics", "two_stage", ...}`` (the ``run --json``
        document); ``"ite"``, with a ``[ite]`` section, is the ``bayes-ipd ite --json``
        object."""
        one = self.one_stage.to_dict()
        return (
            {
                "spec": self.spec.to_dict(),
                "model": one["model"],
                "priors": one["priors"],
                "posterior": one["posterior"],
                "diagnostics": one["diagnostics"],
                "two_stage": None if self.two_stage is None else self.two_stage.to_dict(),
            }
            | ({"hybrid": self.hybrid.to_dict()} if self.hybrid is not None else {})
            | ({"ite": self.ite.to_dict()} if self.ite is not None else {})
            | (
                {"harmonisation": self.harmonisation.to_dict()}
                if self.harmonisation is not None
                else {}
            )
        )

    @cached_property
    def ppc(self) -> PPCResult | None:
        """The one-stage posterior predictive check (:meth:`OneStageResult.ppc`, its default
        seed and draws), computed once; None for aggregate data only (no rows to
        replicate). Kept beside the one-stage result, which is immutable."""
        if not self.one_stage.built.design.k:
            return None
        if self.one_stage.built.design.imputation is not None:  # refused by ppc(): a note
            warnings.warn(
                "missing='impute': no posterior predictive check (it replicates the complete "
                "rows' trial statistics, which a fit with imputed covariates does not have)",
                AnalysisNote,
                stacklevel=2,
            )
            return None
        return self.one_stage.ppc()

    @cached_property
    def ppc_png(self) -> bytes | None:
        """The PPC figure as PNG bytes (:func:`~bayes_ipd.plots.save.png_bytes`), drawn and
        rendered once for the report and ``ppc.png``; None for aggregate data only."""
        return None if self.ppc is None else png_bytes(self.ppc.plot())

    @cached_property
    def comparison_png(self) -> bytes | None:
        """The one- vs two-stage forest as PNG bytes, drawn and rendered once for the report
        and ``comparison_forest.png``; None without a comparison."""
        return None if self.comparison is None else png_bytes(self.comparison.plot())

    @cached_property
    def survival_pngs(self) -> dict[str, bytes]:
        """A survival fit's figures as PNG bytes by kind
        (:func:`~bayes_ipd.one_stage.survival_estimands.survival_figures`: curves per arm in
        each trial and a new trial, the hazard ratio over time, the Kaplan-Meier and
        log-cumulative-hazard checks), drawn once for the report and ``run --out``; empty
        for other families."""
        figures = survival_figures(self.one_stage, self.ipd)
        return {kind: png_bytes(fig) for kind, fig in figures.items()}

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write summary.json, posterior.nc, comparison_forest.png and ppc.png into
        ``out_dir``, all together: into a temporary folder beside it, moved into place at
        the end (:func:`staged_folder`). A failed or interrupted write leaves the previous
        run's files or none, never a mixture.

        Returns the paths written, by kind.
        """
        with staged_folder(out_dir) as stage:
            written = self.write_files(stage)
        return {kind: Path(out_dir) / path.name for kind, path in written.items()}

    def write_files(self, folder: Path) -> dict[str, Path]:
        """Write the output files into the existing ``folder`` as they are (no staging:
        :meth:`write` stages them); the paths written, by kind."""
        target = output_paths(folder)
        summary = json.dumps(json_ready(self.to_dict()), indent=2, allow_nan=False) + "\n"
        shared = {"ppc": self.ppc_png, "comparison_forest": self.comparison_png}
        shared |= self.survival_pngs
        pngs = {kind: png for kind, png in shared.items() if png is not None}
        idata = getattr(self.one_stage, "idata", None)
        size = len(summary) + sum(len(png) for png in pngs.values())
        # netCDF holds the draws plus the LOO terms: HDF5 crashes on a full disk, so
        # refuse before writing rather than leave the process to die mid-file
        size += 2 * sum(idata[g].nbytes for g in idata.groups()) if idata is not None else 0
        check_free_space(folder, size)
        paths = {"summary": target["summary"]}
        paths["summary"].write_text(summary, encoding="utf-8")
        if self.harmonisation is not None:
            paths["harmonisation_log"] = self.harmonisation.to_csv(target["harmonisation_log"])
        paths["posterior"] = self.one_stage.to_netcdf(target["posterior"])
        for kind, png in pngs.items():  # absent: no rows to replicate / no comparison
            target[kind].write_bytes(png)
            paths[kind] = target[kind]
        return paths


RUN_OUTPUTS = frozenset(OUTPUT_FILES.values()) | {"sensitivity.csv", "sensitivity.png"}
"""The files of ``run --out`` (a staged folder replaces exactly these; the user's others stay)."""


def staged_folder(out_dir: str | Path, own: Collection[str] | None = None) -> Any:
    """:func:`bayes_ipd.output_folder.staged_folder` for ``run --out`` (``own`` defaults
    to :data:`RUN_OUTPUTS`): a context manager giving the temporary folder to write into."""
    return stage_folder(out_dir, RUN_OUTPUTS if own is None else own)


def read_rows(data: DataSection) -> pd.DataFrame | None:
    """The participant-rows file ``data.path`` as read, before any check (the study column as
    text, as :meth:`IPD.read_csv` reads it); None without one. A run reads it once: the IPD
    and the ``[ite]`` section are both built from these rows."""
    if data.path is None:
        return None
    from bayes_ipd.data.reading import read_rows as read_rows_csv

    return read_rows_csv(data.path, data.study)


def load_analysis_data(
    data: DataSection, model: ModelSpec, *, rows: pd.DataFrame | None = None
) -> AnalysisData:
    """Read the participant rows and/or trial summaries named by a ``[data]`` section.

    The rows are read with the model's covariates (and interaction covariates); ``rows``,
    when given, is ``data.path`` already read (:func:`read_rows`), not read again.
    """
    ipd = None
    if data.path is not None:
        ipd = _ipd_from_rows(data, read_rows(data) if rows is None else rows, model)
    return _with_trial_level_data(data, model, ipd)


def _ipd_from_rows(data: DataSection, rows: pd.DataFrame, model: ModelSpec) -> IPD:
    """What ``IPD.read_csv(data.path, ...)`` returns, built from its rows already read (error
    messages name the file's lines as read_csv's do)."""
    from bayes_ipd.data.messages import file_row_name
    from bayes_ipd.data.missing import DROP_HINT
    from bayes_ipd.data.reading import build_ipd
    from bayes_ipd.errors import IPDDataError

    if data.visit is not None:
        raise SpecError(
            f"[data] visit = {data.visit!r}: long data are not participant rows of one "
            "visit; run_analysis fits them on both routes (repeated measures, "
            "bayes_ipd.one_stage.repeated_run; docs/longitudinal.md)"
        )
    try:
        return build_ipd(
            IPD,
            Columns,
            rows,
            row_name=file_row_name(Path(data.path)),
            study=data.study,
            treatment=data.treatment,
            outcome=data.outcome,
            time=data.time,
            event=data.event,
            covariates=list(
                dict.fromkeys((*model.covariates, *model.interactions, *model.moderators))
            ),
            family=data.family,
            missing=data.missing,
            experimental=data.experimental,
            levels=data.levels,
            participant=data.participant,
        )
    except IPDDataError as exc:
        # the data layer speaks Python (missing='drop'); a spec's reader sets it in the spec
        if DROP_HINT not in str(exc):
            raise
        hint = 'set [data] missing = "drop" in the spec'
        raise IPDDataError(str(exc).replace(DROP_HINT, hint)) from exc


def _with_trial_level_data(data: DataSection, model: ModelSpec, ipd: IPD | None) -> AnalysisData:
    """``ipd`` with the summaries and aggregate-data trials of the ``[data]`` section."""
    summaries: list[TrialSummary] = []
    for path in data.summaries:
        summaries.extend(read_summaries(path))
    aggregate: AggregateData | ArmCounts | None = None
    if data.aggregate is not None and data.aggregate_counts:
        aggregate = read_arm_counts(data)
    elif data.aggregate is not None:
        columns = {"estimate": data.aggregate_estimate, "se": data.aggregate_se}
        aggregate = AggregateData.read_csv(data.aggregate, study="study", **columns)
    mods = None
    if model.moderators and aggregate is not None:
        mods = read_moderator_columns(data.aggregate, model.moderators, "study")
        if isinstance(aggregate, ArmCounts):
            aggregate, mods = aggregate.with_moderators(mods), None
    return AnalysisData(
        ipd=ipd, summaries=tuple(summaries), aggregate=aggregate, aggregate_moderators=mods
    )


def read_arm_counts(data: DataSection) -> ArmCounts:
    """The 2x2 counts file of ``data.aggregate`` (``aggregate_counts = true``): one row per
    trial, columns ``study`` and the four ``aggregate_*`` count columns."""
    from bayes_ipd.data.reading import read_table

    frame = read_table(Path(data.aggregate), sep=",", text_columns=("study",))
    return ArmCounts.from_frame(
        frame,
        study="study",
        events_control=data.aggregate_events_control,
        n_control=data.aggregate_n_control,
        events_treated=data.aggregate_events_treated,
        n_treated=data.aggregate_n_treated,
    )


def counts_stage_one(counts: ArmCounts, family: str) -> AggregateData:
    """Stage one of the two-stage route for arm-count trials: each 2x2 table expanded into
    its participant rows and fitted by the family's own per-trial model (for a binomial
    outcome, the logistic regression's log odds ratio and SE, i.e. the log of the crude odds
    ratio and Woolf's SE; a trial it cannot estimate is excluded with its reason)."""
    import numpy as np
    import pandas as pd

    parts = []
    for label, events, n in zip(counts.studies, counts.events, counts.n, strict=True):
        for arm in (0, 1):
            e, m = int(events[arm]), int(n[arm])
            outcome = np.r_[np.ones(e), np.zeros(m - e)]
            parts.append(pd.DataFrame({"study": label, "treat": arm, "event": outcome}))
    ipd = IPD.from_frame(
        pd.concat(parts, ignore_index=True),
        study="study",
        treatment="treat",
        outcome="event",
        family=family,
        min_trials=1,
    )
    return fit_per_study(ipd)


def _two_stage_aggregate(aggregate: AggregateData | ArmCounts, family: str) -> AggregateData:
    if isinstance(aggregate, ArmCounts):
        return counts_stage_one(aggregate, family)
    return aggregate


def run_analysis(
    spec: AnalysisSpec, *, progress: bool | None = None
) -> AnalysisResult | NetworkAnalysis | RepeatedAnalysisResult:
    """Fit the one-stage model and the two-stage route of an analysis spec (and, with an
    ``[ite]`` section, the individualised treatment effects on the same rows).

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

    Notes
    -----
    Each input is read once and each trial's stage-one regression is fitted once: the
    IPD-only and the IPD + AD two-stage analyses pool the same stage one, and the
    integrity check reads it for a published analysis with the model's covariates.

    A spec with ``[data] reference`` is a network of treatments: it returns a
    :class:`~bayes_ipd.one_stage.network_analysis.NetworkAnalysis` (``docs/network.md``).
    A spec with ``[data] visit`` holds repeated measures: it returns a
    :class:`~bayes_ipd.one_stage.repeated_run.RepeatedAnalysisResult`
    (``docs/longitudinal.md``).
    """
    if spec.data.reference is not None:
        rows, log = harmonised_rows(spec)
        flow = None
        if spec.report.flow is not None:  # the counts alone (read before any fit)
            from bayes_ipd.prisma import read_flow

            flow = read_flow(spec.report.flow)
        result = run_network_analysis(spec, rows, harmonisation=log, progress=progress)
        return replace(result, flow=flow)
    if spec.data.visit is not None:  # long data: repeated measures on both routes
        rows, log = harmonised_rows(spec)
        return run_repeated_analysis(spec, rows, harmonisation=log, progress=progress)
    patients = _ite_patients(spec)  # a bad new-patients file fails before any fit
    rows, log = harmonised_rows(spec)
    data = load_analysis_data(spec.data, spec.model, rows=rows)
    sampler = spec.sampler
    if progress is not None and progress != sampler.progress:
        sampler = replace(sampler, progress=progress)
    one = fit(data.for_fit(), spec.model, sampler)
    if spec.model.rmst_horizons and data.ipd is not None:  # beyond follow-up: said once
        studies = [s for s in one.built.design.studies if s in data.ipd.studies]
        warn_extrapolation(spec.model.rmst_horizons, follow_up_times(data.ipd, studies))
    one_ipd = None
    if data.is_hybrid:
        one_ipd = fit(data.for_fit(with_aggregate=False), spec.model, sampler)
    two = two_ipd = comparison = hybrid = stage_one = None
    if data.ipd is not None:
        options = {"covariates": spec.model.covariates, "method": spec.two_stage.method}
        options |= {"hksj": spec.two_stage.hksj}
        if spec.data.missing == IMPUTE:  # stage one: Rubin's rules over M completed data sets
            imputing = {"imputations": DEFAULT_IMPUTATIONS, "seed": spec.sampler.seed}
            two = two_ipd = two_stage(data.ipd, **options, **imputing)
            stage_one = two.per_study
        else:
            stage_one = fit_per_study(data.ipd, covariates=spec.model.covariates)
            two = two_ipd = two_stage(data.ipd, **options, stage_one=stage_one)
        options["stage_one"] = stage_one
        if data.aggregate is not None:
            ad = _two_stage_aggregate(data.aggregate, spec.data.family)
            two = replace(two_stage(data.ipd, aggregate=ad, **options), missing=two_ipd.missing)
        if not data.summaries:
            comparison = compare(one_ipd or one, two_ipd)
    if data.is_hybrid:
        notes = () if data.ipd is not None else ("Two-stage route: needs participant rows.",)
        two_full = two if data.ipd is not None else None
        hybrid = hybrid_comparison(one, one_ipd, two_full, two_ipd, notes)
    return AnalysisResult(
        spec=spec,
        one_stage=one,
        two_stage=two,
        comparison=comparison,
        one_stage_ipd=one_ipd,
        two_stage_ipd=two_ipd if data.is_hybrid else None,
        hybrid=hybrid,
        ite=_ite_section(spec, rows, patients),
        harmonisation=log,
        ipd=data.ipd,
        **review_checks(spec, data.ipd, two, stage_one=stage_one, two_ipd=two_ipd),
    )


def harmonised_rows(spec: AnalysisSpec) -> tuple[pd.DataFrame | None, HarmonisationLog | None]:
    """The participant rows of ``data.path`` with the spec's ``[harmonise]`` rules applied
    (before anything else reads them), and the log of the rules; ``(rows, None)`` without
    the section."""
    rows = read_rows(spec.data)
    if spec.harmonise is None or rows is None:
        return rows, None
    from bayes_ipd.data.harmonise import harmonise

    out = harmonise(rows, spec.harmonise, study=spec.data.study, treatment=spec.data.treatment)
    return out.frame, out.log


def _ite_patients(spec: AnalysisSpec) -> pd.DataFrame | None:
    """The ``[ite]`` section's new patients, read and checked (None without the section)."""
    if spec.ite is None:
        return None
    from bayes_ipd.ite.section import ite_patients

    return ite_patients(spec)


def _ite_section(spec: AnalysisSpec, rows: pd.DataFrame | None, patients: Any) -> Any:
    """The ``[ite]`` section run on the rows and new patients the analysis already read."""
    if spec.ite is None:
        return None
    from bayes_ipd.ite.section import run_ite_section

    return run_ite_section(spec, rows=rows, patients=patients)


def review_checks(
    spec: AnalysisSpec,
    ipd: IPD | None,
    two: TwoStageResult | None,
    *,
    stage_one: AggregateData | None = None,
    two_ipd: TwoStageResult | None = None,
) -> dict:
    """The ``[report]`` section's flow, integrity check and comparison of the trials that
    supplied IPD with those that did not (``{}`` for those not named).

    ``stage_one``, the two-stage route's per-trial fits of ``ipd`` (adjusted for the model's
    covariates), is reused by the integrity check rather than fitted again; ``two_ipd``, the
    two-stage result of the IPD trials alone, gives the pooled line of the responders'
    funnel figure.
    """
    out: dict[str, Any] = {}
    if spec.report.flow is not None:
        from bayes_ipd.prisma import read_flow

        out["flow"] = read_flow(spec.report.flow, ipd=ipd, two_stage=two)
    responders = _responders(spec, ipd, out.get("flow"), two_ipd)
    if responders is not None:
        out["responders"] = responders
    if spec.report.published is not None:
        if ipd is None:
            raise SpecError("report.published: the integrity check needs participant rows")
        from bayes_ipd.two_stage.integrity import check_integrity

        threshold = spec.report.integrity_threshold
        kw: dict[str, Any] = {} if threshold is None else {"threshold": threshold}
        if stage_one is not None:
            kw["stage_one"] = {tuple(spec.model.covariates): stage_one}
        out["integrity"] = check_integrity(ipd, spec.report.published, **kw)
    return out


def _responders(
    spec: AnalysisSpec, ipd: IPD | None, flow: Any, two_ipd: TwoStageResult | None
) -> Any:
    """Trials that supplied IPD vs those that did not, from ``[report] trials`` or the flow
    TOML's ``[[trial]]`` tables (None when neither is given)."""
    from bayes_ipd.responders import compare_responders, flow_has_trials

    source = spec.report.trials
    if source is None and spec.report.flow is not None and flow_has_trials(spec.report.flow):
        source = spec.report.flow
    if source is None:
        return None
    pooled = None if two_ipd is None else float(two_ipd.pooled.estimate)
    return compare_responders(source, ipd=ipd, flow=flow, pooled=pooled)


# --- the demo ----------------------------------------------------------------------------


Say = Callable[[str], None] | None
"""Where the demo prints its reports as it goes (None: nothing is printed)."""


def _demo_two_stage(ipd: IPD, two: TwoStageResult, out_dir: Path, say: Say) -> dict[str, Any]:
    """Two-stage analysis of the BCG trials: logistic regression per trial, REML + HKSJ."""
    forest = save_figure(
        two.plot_forest(
            title="BCG vaccine and tuberculosis: two-stage",
            extra_columns=arm_count_columns(ipd),
        ),
        out_dir / "bcg_forest.png",
    )
    if say is not None:
        say(
            f"BCG vaccine trials (Colditz et al. 1994): {ipd.n:,} participants in {ipd.k} "
            "trials, rebuilt from the published 2x2 counts.\n"
            "Stage one: a logistic regression per trial; stage two: REML pooling with the "
            "Hartung-Knapp-Sidik-Jonkman interval.\n"
        )
        say(str(two))
        say(f"\nForest plot written to {forest}")
    return {**two.to_dict(), "forest_plot": str(forest)}


def _demo_one_stage(ipd: IPD, two: TwoStageResult, out_dir: Path, say: Say) -> dict[str, Any]:
    """One-stage Bayesian logistic model of the BCG rows, beside the two-stage route."""
    sampler = SamplerSettings(draws=1000, tune=1000, chains=4, seed=20240601, progress=False)
    result = fit(ipd, ModelSpec(family="binomial"), sampler)
    comparison = compare(result, two)
    files = {
        "comparison_forest": save_figure(
            comparison.plot(title="BCG vaccine: one-stage vs two-stage"),
            out_dir / "bcg_comparison_forest.png",
        ),
        "ppc": save_figure(result.ppc().plot(), out_dir / "bcg_ppc.png"),
    }
    if say is not None:
        say(
            "One-stage Bayesian model of the same rows: logistic regression with stratified "
            "trial intercepts and a random treatment effect theta_k ~ Normal(mu, tau), NUTS.\n"
            "Published one-stage GLMM (metafor rma.glmm UM.FS): log OR -0.7450 (SE 0.1756), "
            "tau^2 0.2949.\n"
        )
        say(repr(result))
        say("\nOne-stage vs two-stage\n" + repr(comparison))
        say("\nFigures written to " + ", ".join(str(p) for p in files.values()))
    payload = result.to_dict()
    return {
        "posterior": payload["posterior"],
        "diagnostics": payload["diagnostics"],
        "priors": payload["priors"],
        "files": {kind: str(path) for kind, path in files.items()},
    }


DEMO_PARTS: list[tuple[str, Callable[[IPD, TwoStageResult, Path, Say], dict[str, Any]]]] = [
    ("two_stage", _demo_two_stage),
    ("one_stage", _demo_one_stage),
]
"""The demo's parts, run in order; each says its report (when a ``say`` is given), writes
its files into the output folder and returns its part of the JSON payload."""


def run_demo(out_dir: str | Path, say: Say = None) -> dict[str, Any]:
    """Run every part of the demo on the shipped BCG trials (rows and two-stage fit shared).

    Parameters
    ----------
    out_dir : str or Path
        Folder for the figures (created if needed).
    say : callable, optional
        Receives each report as it is ready (e.g. ``print``); None prints nothing.

    Returns
    -------
    dict
        One entry per part of :data:`DEMO_PARTS` (``"two_stage"``, ``"one_stage"``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ipd = load_bcg_ipd()
    two = two_stage(ipd, method="REML", hksj=True)
    payload: dict[str, Any] = {}
    for key, part in DEMO_PARTS:
        if payload and say is not None:
            say("")
        payload[key] = part(ipd, two, out, say)
    return payload
