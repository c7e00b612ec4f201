"""The HTML report of a repeated-measures analysis (``bayes-ipd run SPEC --report FILE`` for a
spec with ``[data] visit``).

The same self-contained page as :mod:`bayes_ipd.report.html` (its template, sections,
tables as text cells, figures as base64 PNG, autoescaping jinja2), filled from a
:class:`~bayes_ipd.one_stage.repeated_run.RepeatedAnalysisResult`: the plan, both routes,
the comparison by visit, the figures over visits (drawn once, shared with ``run --out``),
the posterior predictive check of the visit means and the sampler's diagnostics.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayes_ipd.report.html import (
    Figures,
    Section,
    Table,
    render_page,
    write_whole,
)
from bayes_ipd.report.meta import diagnostic_rows

if TYPE_CHECKING:
    from bayes_ipd.one_stage.repeated_run import RepeatedAnalysisResult

__all__ = ["REPEATED_SECTIONS", "render_repeated_report", "repeated_sections"]

REPEATED_SECTIONS: tuple[tuple[str, str], ...] = (
    ("plan", "Analysis plan"),
    ("counts", "Observed participants per trial, arm and visit"),
    ("one-stage", "One-stage Bayesian MMRM"),
    ("two-stage", "Two-stage route: an MMRM per trial, pooled per visit and jointly"),
    ("comparison", "One-stage vs two-stage, by visit"),
    ("figures", "Effect over visits and forest plots per visit"),
    ("ppc", "Posterior predictive check of the visit means"),
    ("diagnostics", "Sampler diagnostics"),
)
"""The sections of a repeated-measures report, in order, as ``(id, heading)``."""

_TITLES = dict(REPEATED_SECTIONS)


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _plan(result: RepeatedAnalysisResult) -> Section:
    spec = result.spec.to_dict()
    rows = tuple(
        (f"{section}.{key}", _text(value))
        for section, values in spec.items()
        if section != "priors" and isinstance(values, dict)
        for key, value in values.items()
    )
    priors = [
        f"{name}: {', '.join(f'{v:.4g}' for v in numbers)}"
        for name, numbers in result.one_stage.priors.items()
    ]
    source = result.spec.source
    return Section(
        "plan",
        _TITLES["plan"],
        paragraphs=(f"Spec file: {source}" if source else "Spec given in code.",),
        tables=(("Analysis spec", Table(("Setting", "Value"), rows)),),
        blocks=(
            "\n".join(
                [
                    "Priors in use (normal: mean, SD; half-normal: scale; "
                    "coefficients: SD per covariate; lkj: eta):",
                    *priors,
                ]
            ),
        ),
    )


def _counts(result: RepeatedAnalysisResult) -> Section:
    table = result.two_stage.counts.pivot_table(
        index=["study", "arm"], columns="visit", values="n", sort=False
    )
    table.columns = [f"visit {v}" for v in table.columns]
    return Section(
        "counts",
        _TITLES["counts"],
        tables=(("", Table.from_frame(table.reset_index(), index=False)),),
    )


def _one_stage(result: RepeatedAnalysisResult) -> Section:
    one = result.one_stage
    summary = one.summary().reset_index()
    return Section(
        "one-stage",
        _TITLES["one-stage"],
        blocks=(repr(one),),
        tables=(("Posterior summary", Table.from_frame(summary, index=False)),),
    )


def _two_stage(result: RepeatedAnalysisResult) -> Section:
    two = result.two_stage
    table = Table.from_frame(two.summary_by_visit(), index=False)
    return Section(
        "two-stage", _TITLES["two-stage"], blocks=(str(two),), tables=(("By visit", table),)
    )


def _comparison(result: RepeatedAnalysisResult) -> Section:
    table = Table.from_frame(result.comparison.frame, index=False)
    text = (
        "Posterior mean and 95% interval of the one-stage model; the two-stage per-visit "
        "pooling with its CI; the joint (multivariate REML) estimate and SE; tau of both."
    )
    return Section("comparison", _TITLES["comparison"], paragraphs=(text,), tables=(("", table),))


def _figures(result: RepeatedAnalysisResult, figures: Figures) -> Section:
    pngs = result.pngs  # drawn once, shared with run --out
    figures.add_png("The effect over visits: both routes with their 95% bands",
                    pngs["effect_over_visits"])  # fmt: skip
    figures.add_png("A forest plot per visit (two-stage)", pngs["forest_by_visit"])
    figures.add_png("Observed mean outcome over visits per arm", pngs["visit_means"])
    return Section("figures", _TITLES["figures"], figures=figures.take())


def _ppc(result: RepeatedAnalysisResult, figures: Figures) -> Section:
    frame = result.one_stage.ppc_visit_means()
    inside = ((frame.observed >= frame.lower) & (frame.observed <= frame.upper)).mean()
    text = (
        f"{inside:.0%} of the {len(frame)} observed visit means lie in their 95% posterior "
        "predictive interval. Under MAR dropout the participants still observed at a late "
        "visit are selected on their earlier outcomes, so a late mean may sit off the "
        "interval's centre even when the model is right."
    )
    figures.add_png("Observed visit means over their posterior predictive intervals",
                    result.pngs["ppc_visit_means"])  # fmt: skip
    return Section(
        "ppc",
        _TITLES["ppc"],
        paragraphs=(text,),
        tables=(("", Table.from_frame(frame, index=False)),),
        figures=figures.take(),
    )


def _diagnostics(result: RepeatedAnalysisResult) -> Section:
    diagnostics = result.one_stage.diagnostics
    rows = diagnostic_rows(diagnostics.to_dict())
    return Section(
        "diagnostics",
        _TITLES["diagnostics"],
        paragraphs=tuple(f"Warning: {w}" for w in diagnostics.warnings),
        tables=(("", Table(("Diagnostic", "Value"), rows)),),
    )


def repeated_sections(result: RepeatedAnalysisResult) -> list[Section]:
    """Every section of :data:`REPEATED_SECTIONS` for ``result``, in order."""
    figures = Figures()
    return [
        _plan(result),
        _counts(result),
        _one_stage(result),
        _two_stage(result),
        _comparison(result),
        _figures(result, figures),
        _ppc(result, figures),
        _diagnostics(result),
    ]


def render_repeated_report(result: RepeatedAnalysisResult, *, title: str | None = None) -> str:
    """The report of a repeated-measures analysis as HTML text (one document, figures
    embedded)."""
    source = result.spec.source
    heading = title or f"Repeated-measures IPD meta-analysis{f': {source.name}' if source else ''}"
    return render_page(heading, repeated_sections(result))


def write_repeated_report(
    result: RepeatedAnalysisResult, path: str | Path, *, title: str | None = None
) -> Path:
    """Write :func:`render_repeated_report` to ``path``
    (:func:`~bayes_ipd.report.html.write_whole`); returns the path."""
    return write_whole(path, render_repeated_report(result, title=title))
