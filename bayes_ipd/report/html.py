"""One self-contained HTML report of an analysis (``bayes-ipd run SPEC --report FILE``).

The report assembles what an :class:`~bayes_ipd.analysis.AnalysisResult` already holds:
the analysis plan (spec and priors in use), the PRISMA-IPD flow diagram and table and the
data-integrity table (when the spec's ``[report]`` section names their files), both
routes' results, the one-stage vs two-stage comparison, the hybrid IPD-only vs IPD + AD
table, forest plots, the posterior predictive check and the sampler's diagnostics.
Figures are embedded as base64 PNG, so the file needs nothing beside it.

Every text goes through jinja2 with autoescaping (a trial called ``<script>`` is shown
as text); tables are passed as cells, never as pre-rendered HTML.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import pandas as pd
from matplotlib.figure import Figure

from bayes_ipd.conventions import distribution_version
from bayes_ipd.hybrid import one_stage_trials, two_stage_trials
from bayes_ipd.one_stage.aggregate_trials import trial_effects
from bayes_ipd.one_stage.survival_estimands import SURVIVAL_FIGURES, survival_tables
from bayes_ipd.plots.flow import flow_diagram
from bayes_ipd.plots.save import png_bytes
from bayes_ipd.plots.trace import trace_rank_plot
from bayes_ipd.report.cells import MISSING, frame_cells
from bayes_ipd.report.meta import diagnostic_rows, run_date, software_versions

if TYPE_CHECKING:
    from bayes_ipd.analysis import AnalysisResult

__all__ = [
    "SECTIONS",
    "Figures",
    "Section",
    "Table",
    "cell_text",
    "flow_section",
    "harmonisation_sections",
    "render_page",
    "render_report",
    "write_report",
    "write_whole",
]

SECTIONS: tuple[tuple[str, str], ...] = (
    ("plan", "Analysis plan"),
    ("flow", "PRISMA-IPD flow"),
    ("responders", "Trials that supplied IPD and trials that did not"),
    ("integrity", "Data integrity"),
    ("one-stage", "One-stage Bayesian model"),
    ("two-stage", "Two-stage route"),
    ("comparison", "One-stage vs two-stage"),
    ("hybrid", "Hybrid sensitivity analysis: IPD only vs IPD + aggregate data"),
    ("forest", "Forest plots"),
    ("ppc", "Posterior predictive check"),
    ("survival", "Survival curves, median survival and RMST"),
    ("diagnostics", "Sampler diagnostics"),
)
"""Every section of the report, in order, as ``(id, heading)``; a section without its
input says why it is empty."""

HARMONISATION_SECTION = ("harmonisation", "Harmonisation log")
"""The section after the plan listing every ``[harmonise]`` rule applied; only in the report
of a spec with rules (not in :data:`SECTIONS`, whose sections every report has)."""

TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class Table:
    """A table as text cells (formatted numbers), escaped when rendered."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, index: bool = True) -> Table:
        """Cells of a DataFrame: readable headers, formatted numbers
        (:func:`~bayes_ipd.report.cells.frame_cells`; the index as the first column when
        ``index``, unless it is the default row number)."""
        columns, rows = frame_cells(frame, index=index)
        return cls(columns=columns, rows=rows)


@dataclass(frozen=True)
class Section:
    """One report section: paragraphs, preformatted text blocks, tables and figures."""

    id: str
    title: str
    paragraphs: tuple[str, ...] = ()
    blocks: tuple[str, ...] = ()
    tables: tuple[tuple[str, Table], ...] = ()
    figures: tuple[tuple[str, str], ...] = ()  # (caption, data URI)
    missing: str | None = None


@dataclass
class Figures:
    """Collects figures as PNG data URIs (the report's only mutable helper)."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, caption: str, figure: Figure) -> None:
        """Encode ``figure`` as a base64 PNG data URI under ``caption``."""
        self.add_png(caption, png_bytes(figure))

    def add_png(self, caption: str, png: bytes) -> None:
        """A figure already rendered (:func:`~bayes_ipd.plots.save.png_bytes`) under
        ``caption``."""
        data = base64.b64encode(png).decode("ascii")
        self.items.append((caption, f"data:image/png;base64,{data}"))

    def take(self) -> tuple[tuple[str, str], ...]:
        """The figures collected since the last call."""
        out = tuple(self.items)
        self.items.clear()
        return out


def cell_text(value: Any) -> str:
    """A table cell's text: a float to four significant figures, a missing value as
    :data:`MISSING`, a bool as yes/no, anything else as written (the template escapes it)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


_SURVIVAL_ONLY = ("intervals", "rmst_horizons")
"""Spec keys of the ``[model]`` section that only a survival model reads."""


# ----------------------------------------------------------------------------- sections


def _plan(result: AnalysisResult) -> Section:
    spec = result.spec.to_dict()
    # only a time-to-event analysis (a time column) reads the baseline-hazard keys
    survival = getattr(result.spec.data, "time", None) is not None
    rows = []
    for section, values in spec.items():
        if section == "priors" or not isinstance(values, dict):
            continue
        rows += [
            (f"{section}.{key}", cell_text(v))
            for key, v in values.items()
            if survival or section != "model" or key not in _SURVIVAL_ONLY
        ]
    one = result.one_stage
    priors = one.built.priors.describe(one.built.prior_slots).splitlines()
    source = result.spec.source
    return Section(
        id="plan",
        title=dict(SECTIONS)["plan"],
        paragraphs=(f"Spec file: {source}" if source else "Spec given in code.",),
        tables=(("Analysis spec", Table(("Setting", "Value"), tuple(rows))),),
        blocks=("\n".join(["Priors in use:", *priors]),),
    )


def harmonisation_sections(result: AnalysisResult) -> list[Section]:
    """The harmonisation log as a table (no section without ``[harmonise]`` rules)."""
    log = getattr(result, "harmonisation", None)
    if log is None:
        return []
    entries = log.to_dict()
    columns = ("Trial", "Column", "Rule", "Rows changed", "Before", "After")
    rows = tuple(tuple(cell_text(v) for v in entry.values()) for entry in entries)
    text = (
        f"{len(entries)} rule application(s), in the order applied (renames, recodes, "
        "conversions, crosswalks, standardisations), before any other step of the analysis. "
        "Also written as harmonisation_log.csv by run --out."
    )
    sid, title = HARMONISATION_SECTION
    return [Section(sid, title, paragraphs=(text,), tables=(("", Table(columns, rows)),))]


def flow_section(result: AnalysisResult, figures: Figures) -> Section:
    """The PRISMA-IPD flow diagram and its counts (or why there are none)."""
    title = dict(SECTIONS)["flow"]
    if result.flow is None:
        return Section("flow", title, missing="No flow counts given ([report] flow = FILE).")
    figures.add("PRISMA-IPD flow diagram", flow_diagram(result.flow))
    tables = [("Flow", Table.from_frame(result.flow.table(), index=False))]
    return Section("flow", title, tables=tuple(tables), figures=figures.take())


def _responders(result: AnalysisResult, figures: Figures) -> Section:
    title = dict(SECTIONS)["responders"]
    comparison = getattr(result, "responders", None)
    if comparison is None:
        return Section(
            "responders",
            title,
            missing="No trial characteristics given ([report] trials = FILE, or [[trial]] "
            "tables in the flow file).",
        )
    if comparison.has_effects:
        line = "" if comparison.pooled is None else " (line: pooled estimate of the IPD trials)"
        figures.add(f"Published effects by IPD availability{line}", comparison.plot())
    table = Table.from_frame(comparison.report_frame(), index=False)
    return Section(
        "responders",
        title,
        paragraphs=comparison.notes(),
        tables=((f"Characteristics ({Path(comparison.source).name})", table),),
        figures=figures.take(),
    )


def _integrity(result: AnalysisResult) -> Section:
    title = dict(SECTIONS)["integrity"]
    if result.integrity is None:
        return Section(
            "integrity", title, missing="No published results given ([report] published = FILE)."
        )
    table = Table.from_frame(result.integrity.table(), index=False)
    return Section("integrity", title, blocks=(str(result.integrity),), tables=(("", table),))


def _one_stage(result: AnalysisResult) -> Section:
    one = result.one_stage
    trials = f"trials: {one_stage_trials(one)}"
    tables = [(f"Posterior summary ({trials})", Table.from_frame(one.summary()))]
    tables.append(("Trial effects (shrunken)", Table.from_frame(trial_effects(one))))
    if result.one_stage_ipd is not None:
        ipd_only = f"IPD-only fit (trials: {one_stage_trials(result.one_stage_ipd)})"
        tables.append((ipd_only, Table.from_frame(result.one_stage_ipd.summary())))
    title = dict(SECTIONS)["one-stage"]
    return Section("one-stage", title, blocks=(repr(one),), tables=tuple(tables))


def _two_stage(result: AnalysisResult) -> Section:
    title = dict(SECTIONS)["two-stage"]
    two = result.two_stage
    if two is None:
        return Section("two-stage", title, missing="No participant rows: no stage-one regressions.")
    caption = f"Per trial and pooled (trials pooled: {two_stage_trials(two)})"
    tables = [(caption, Table.from_frame(two.summary_frame(), index=False))]
    return Section("two-stage", title, blocks=(str(two),), tables=tuple(tables))


def _comparison(result: AnalysisResult) -> Section:
    title = dict(SECTIONS)["comparison"]
    if result.comparison is None:
        return Section(
            "comparison", title, missing="Needs both routes on the same trials (participant rows)."
        )
    comparison = result.comparison
    table = Table.from_frame(comparison.table, index=False)
    caption = f"{comparison.trials_label} ({comparison.two_stage_method} beside the posterior)"
    return Section("comparison", title, tables=((caption, table),))


def _hybrid(result: AnalysisResult) -> Section:
    title = dict(SECTIONS)["hybrid"]
    if result.hybrid is None:
        return Section("hybrid", title, missing="No aggregate-data trials beside the IPD ones.")
    ad = [t[0] for t in result.hybrid.trials if t[1] != "IPD"]
    paragraphs = [f"Trials with a published estimate only (AD): {', '.join(ad) or 'none'}."]
    paragraphs += [result.hybrid.trials_line(), *result.hybrid.notes]
    table = Table.from_frame(result.hybrid.table(), index=False)
    return Section("hybrid", title, paragraphs=tuple(paragraphs), tables=(("", table),))


def _forest(result: AnalysisResult, figures: Figures) -> Section:
    if result.two_stage is not None:
        caption = f"Two-stage forest plot (trials pooled: {two_stage_trials(result.two_stage)})"
        figures.add(caption, result.two_stage.plot_forest())
    if result.comparison_png is not None:  # rendered once, shared with AnalysisResult.write
        label = "" if result.comparison is None else f" ({result.comparison.trials_label})"
        figures.add_png(f"One-stage vs two-stage{label}", result.comparison_png)
    if result.hybrid is not None:
        caption = (
            f"IPD only vs IPD + AD (Data column: IPD or AD only). {result.hybrid.trials_line()}"
        )
        figures.add(caption, result.hybrid.plot())
    found = figures.take()
    missing = None if found else "No forest plot for this analysis."
    return Section("forest", dict(SECTIONS)["forest"], figures=found, missing=missing)


def _ppc(result: AnalysisResult, figures: Figures) -> Section:
    title = dict(SECTIONS)["ppc"]
    ppc = result.ppc  # computed once, shared with AnalysisResult.write
    if ppc is None:
        return Section("ppc", title, missing="Aggregate data only: no rows to replicate.")
    figures.add_png("Posterior predictive check per trial and arm", result.ppc_png)
    table = Table.from_frame(ppc.table, index=False)
    return Section("ppc", title, tables=(("", table),), figures=figures.take())


def _median_display(table: pd.DataFrame) -> pd.DataFrame:
    """Median survival per arm with "not reached" where the posterior says so."""
    shown = table[["study", "arm", "until", "median", "q025", "q975", "p_reached"]].copy()
    shown["median"] = [
        f"{m:.3f}" if reached else "not reached"
        for m, reached in zip(table["median"], table["reached"], strict=True)
    ]
    return shown.rename(columns={"until": "follow-up", "p_reached": "P(reached)"})


def _survival(result: AnalysisResult, figures: Figures) -> Section:
    title = dict(SECTIONS)["survival"]
    pngs = result.survival_pngs  # drawn once, shared with AnalysisResult.write
    if not pngs:
        return Section("survival", title, missing="Not a survival outcome (or no IPD trial).")
    for kind, png in pngs.items():
        figures.add_png(SURVIVAL_FIGURES[kind], png)
    tables = survival_tables(result.one_stage, result.ipd)
    shown = [
        (
            "Median survival per arm (posterior median, 95% interval)",
            Table.from_frame(_median_display(tables["median"]), index=False),
        )
    ]
    if "rmst" in tables:
        rmst = tables["rmst"].drop(columns=["ess_bulk", "r_hat"])
        shown.append(
            (
                "RMST difference, experimental minus control, up to each horizon",
                Table.from_frame(rmst, index=False),
            )
        )
    notes = (
        "Curves are for a participant at each trial's covariate means; the new trial has the "
        "trials' average baseline hazard and the new-trial effect (mu + tau e). Beyond the "
        "last cut point the hazard is the last interval's constant hazard; beyond a trial's "
        "follow-up the curves, medians and RMST are extrapolations on it.",
    )
    return Section("survival", title, paragraphs=notes, tables=tuple(shown), figures=figures.take())


def _diagnostics(result: AnalysisResult, figures: Figures) -> Section:
    one = result.one_stage
    figures.add("τ: prior density and posterior draws", one.tau_plot())
    post = one.idata.posterior
    draws = {name: post[name].values for name in ("mu", "tau") if name in post}
    if draws and post.sizes.get("draw", 0) >= 2:
        figures.add("Trace and rank plots of mu and tau", trace_rank_plot(draws))
    rows = diagnostic_rows(one.diagnostics.to_dict())
    return Section(
        "diagnostics",
        dict(SECTIONS)["diagnostics"],
        paragraphs=tuple(f"Warning: {w}" for w in one.diagnostics.warnings),
        tables=(("", Table(("Diagnostic", "Value"), rows)),),
        figures=figures.take(),
    )


def report_sections(result: AnalysisResult) -> list[Section]:
    """Every section of :data:`SECTIONS` for ``result``, in order."""
    figures = Figures()
    return [
        _plan(result),
        *harmonisation_sections(result),
        flow_section(result, figures),
        _responders(result, figures),
        _integrity(result),
        _one_stage(result),
        _two_stage(result),
        _comparison(result),
        _hybrid(result),
        _forest(result, figures),
        _ppc(result, figures),
        _survival(result, figures),
        _diagnostics(result, figures),
    ]


# ------------------------------------------------------------------------------ output


def environment() -> jinja2.Environment:
    """The jinja2 environment of the package's templates (autoescaping on, always)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bayes_ipd.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render_report(result: AnalysisResult, *, title: str | None = None) -> str:
    """The report as HTML text.

    Parameters
    ----------
    result : AnalysisResult
        From :func:`bayes_ipd.analysis.run_analysis`.
    title : str, optional
        Heading; by default names the spec file.

    Returns
    -------
    str
        One HTML document; figures embedded as base64 PNG.
    """
    sections = report_sections(result)
    source = result.spec.source
    heading = title or f"IPD meta-analysis report{f': {source.name}' if source else ''}"
    return render_page(heading, sections)


def render_page(heading: str, sections: Sequence[Section]) -> str:
    """One HTML document of ``sections`` under ``heading`` through the shipped autoescaping
    template, with the package version, the date and the software versions."""
    return (
        environment()
        .get_template(TEMPLATE)
        .render(
            title=heading,
            sections=sections,
            version=package_version(),
            written=run_date(),
            software=software_versions(),
        )
    )


def package_version() -> str:
    """The installed bayes_ipd's version (``bayes_ipd.__version__``), from its distribution
    metadata: the report sits below the package's root and does not import it."""
    return distribution_version("bayes_ipd")


def write_whole(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` (UTF-8) through a temporary file beside it: an interrupted
    write leaves the previous file or none, never half a report. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")  # the usual permissions
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_report(result: AnalysisResult, path: str | Path, *, title: str | None = None) -> Path:
    """Write :func:`render_report` to ``path`` (:func:`write_whole`); returns the path."""
    return write_whole(path, render_report(result, title=title))


def section_ids(sections: Sequence[Section]) -> tuple[str, ...]:
    """The ids of ``sections`` (for checks)."""
    return tuple(s.id for s in sections)
