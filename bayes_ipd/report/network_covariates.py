"""The covariate section of a network report (``run --report`` of a network spec with
``[model] covariates``).

One section, :data:`COVARIATES_SECTION`, after the effects: the covariates the effects are
adjusted for, per interaction covariate a table of each non-reference treatment's
within-trial interaction vs the reference on each route fitted (two-stage estimate, SE and
95% CI; one-stage within-trial posterior median and 95% CrI, and the one-stage across-trial
part, ecological, in its own columns), the treatment classes when given, the one-stage
covariate coefficients, and the trials the two-stage route left out of an interaction.
A spec without covariates has no such section (its report is unchanged).

Values come from the results (``NetworkResult.interaction_effects``,
``CovariateNetworkPosterior.interaction_effects("within" | "across")``); every name is
passed as text and escaped by the report's autoescaping template.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bayes_ipd.families import get_family
from bayes_ipd.report.cells import column_cells
from bayes_ipd.report.html import Section, Table

__all__ = ["COVARIATES_SECTION", "covariate_sections", "interaction_frame"]

COVARIATES_SECTION = ("covariates", "Covariates and treatment-covariate interactions")
"""``(id, heading)`` of the section; only in the report of a network spec with
``[model] covariates`` (not in ``NETWORK_SECTIONS``, whose sections every report has)."""

_TWO = ("Two-stage estimate", "Two-stage SE", "Two-stage 95% CI low", "Two-stage 95% CI high")
_WITHIN = (
    "One-stage within-trial median",
    "One-stage within-trial 2.5%",
    "One-stage within-trial 97.5%",
)
_ACROSS = (
    "One-stage across-trial (ecological) median",
    "One-stage across-trial (ecological) 2.5%",
    "One-stage across-trial (ecological) 97.5%",
)


def _classes(analysis: Any) -> tuple[str, ...]:
    """One class label per treatment (reference first), or ``()`` without classes."""
    two, one = analysis.two_stage, analysis.one_stage
    if two is not None and two.classes:
        return tuple(two.classes)
    if one is not None and one.layout.classes:
        return tuple(one.layout.classes)
    return ()


def _treatments(analysis: Any) -> tuple[str, ...]:
    return tuple((analysis.two_stage or analysis.one_stage).treatments)


def interaction_frame(analysis: Any, covariate: str) -> pd.DataFrame:
    """Each non-reference treatment's interaction with ``covariate`` vs the reference, one
    row per treatment: its class (with classes), the two-stage estimate, SE and 95% CI,
    the one-stage within-trial and across-trial (ecological) median and 95% CrI, for the
    routes fitted."""
    two, one = analysis.two_stage, analysis.one_stage
    treatments = _treatments(analysis)[1:]
    frame = pd.DataFrame(index=pd.Index(treatments, name="Treatment"))
    classes = _classes(analysis)
    if classes:
        frame["Class"] = list(classes[1:])
    if two is not None:
        table = two.interaction_effects()[covariate]
        for name, key in zip(_TWO, ("estimate", "se", "ci_low", "ci_high"), strict=True):
            frame[name] = [float(table.loc[t, key]) for t in treatments]
    if one is not None:
        for which, names in (("within", _WITHIN), ("across", _ACROSS)):
            table = one.interaction_effects(which).loc[covariate]
            for name, key in zip(names, ("median", "q025", "q975"), strict=True):
                frame[name] = [float(table.loc[t, key]) for t in treatments]
    return frame


def _interaction_table(frame: pd.DataFrame) -> Table:
    """The cells of :func:`interaction_frame`: every number with the same decimals (one
    rule over the whole table, so the routes' columns align), names as text."""
    numeric = [c for c in frame.columns if c != "Class"]
    flat = column_cells("interaction", [float(v) for c in numeric for v in frame[c]])
    n = len(frame)
    cells = {c: flat[i * n : (i + 1) * n] for i, c in enumerate(numeric)}
    rows = tuple(
        (str(t), *([str(frame["Class"].iloc[r])] if "Class" in frame else []),
         *(cells[c][r] for c in numeric))
        for r, t in enumerate(frame.index)
    )  # fmt: skip
    return Table((frame.index.name, *frame.columns), rows)


def _route_notes(analysis: Any) -> list[str]:
    two, one = analysis.two_stage, analysis.one_stage
    notes = []
    if two is not None:
        notes.append(
            f"Two-stage ({two.fit.method}): each trial's regression has its own "
            "(trial-specific) covariate coefficients, the covariates centred at the trial's "
            "means; the pooled interaction is within-trial only (no across-trial part)."
        )
    else:
        notes.append("Two-stage route not fitted.")
    if one is not None:
        kind = (
            "one per trial (stratified)"
            if one.built.covariate_effects == "stratified"
            else "common to every trial"
        )
        notes.append(
            f"One-stage: covariate coefficients {kind}; each d_t is the effect at the mean of "
            "the trials' covariate means. The within-trial interaction is the one to "
            "interpret; the across-trial part (trial means: ecological) can be confounded "
            "by trial-level characteristics."
        )
    else:
        notes.append("One-stage route not fitted.")
    return notes


def _pooling_note(two: Any, covariate: str) -> str:
    fit = two.interactions[covariate]
    kind = f"t on {fit.df} df (HKSJ)" if fit.df is not None else "z"
    return (
        f"Two-stage interaction with {covariate}: {fit.k} trials pooled, τ² = {fit.tau2:.4g} "
        f"(95% CI: {kind})."
    )


def _convergence_note(one: Any) -> str:
    """The worst R-hat and the smallest bulk ESS of the one-stage interactions' draws."""
    nodes = pd.concat([one.interaction_effects(w) for w in ("within", "across")])
    return (
        f"One-stage interactions (within and across): largest R-hat "
        f"{nodes['r_hat'].max():.3f}, smallest bulk ESS {nodes['ess_bulk'].min():,.0f}."
    )


def _class_table(analysis: Any) -> Table:
    classes = _classes(analysis)
    rows = tuple(
        (t, c, "0 (the reference's class)" if c == classes[0] else "estimated")
        for t, c in zip(_treatments(analysis), classes, strict=True)
    )
    return Table(("Treatment", "Class", "Interaction"), rows)


def _left_out(two: Any) -> Table | None:
    rows = tuple(
        (str(study), str(covariate), str(reason))
        for covariate, trials in two.stage_one.interaction_excluded.items()
        for study, reason in trials.items()
    )
    return Table(("Trial", "Covariate", "Reason"), rows) if rows else None


def _coefficients(one: Any) -> Table:
    frame = one.coefficients()
    frame = frame[[c for c in ("mean", "sd", "median", "q025", "q975") if c in frame.columns]]
    return Table.from_frame(frame)


def covariate_sections(analysis: Any) -> list[Section]:
    """The covariate section of a network report (``[]`` without ``[model] covariates``).

    Parameters
    ----------
    analysis : NetworkAnalysis
        From :func:`bayes_ipd.analysis.run_analysis` on a spec with ``[data] reference``.

    Returns
    -------
    list of Section
        One section (:data:`COVARIATES_SECTION`) or none.
    """
    model = analysis.spec.model
    if not model.covariates:
        return []
    two, one = analysis.two_stage, analysis.one_stage
    reference = str(analysis.spec.data.reference)
    scale = get_family(analysis.spec.data.family).scale.name
    paragraphs = [
        "Effects adjusted for (centred within each trial): " + ", ".join(model.covariates) + ".",
        *_route_notes(analysis),
    ]
    tables: list[tuple[str, Table]] = []
    if model.interactions:
        paragraphs.append(
            f"Interactions: the change of each treatment's effect vs {reference} ({scale} "
            "scale) per unit of the covariate, within trials."
        )
    else:
        paragraphs.append("No treatment-covariate interactions asked for ([model] interactions).")
    if _classes(analysis):
        paragraphs.append(
            "Treatment classes: the treatments of a class share one interaction per covariate."
        )
        tables.append(("Treatment classes", _class_table(analysis)))
    for covariate in model.interactions:
        if two is not None:
            paragraphs.append(_pooling_note(two, covariate))
        caption = f"Interaction of each treatment vs {reference} with {covariate}"
        tables.append((caption, _interaction_table(interaction_frame(analysis, covariate))))
    if one is not None and model.interactions:
        paragraphs.append(_convergence_note(one))
    if one is not None:
        kind = "mean over trials; " if one.built.covariate_effects == "stratified" else ""
        caption = f"One-stage covariate coefficients (β; {kind}in the reference's class)"
        tables.append((caption, _coefficients(one)))
    if two is not None and model.interactions:
        left = _left_out(two)
        if left is None:
            paragraphs.append("Two-stage: every pooled trial enters each interaction.")
        else:
            caption = "Two-stage: trials left out of an interaction (main contrasts pooled)"
            tables.append((caption, left))
    sid, title = COVARIATES_SECTION
    return [Section(sid, title, paragraphs=tuple(paragraphs), tables=tuple(tables))]
