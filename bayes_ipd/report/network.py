"""The HTML report of a network spec (``bayes-ipd run SPEC --report FILE`` with ``[data]
reference``).

The sections of :data:`NETWORK_SECTIONS`, from what a
:class:`~bayes_ipd.one_stage.network_analysis.NetworkAnalysis` holds: the analysis plan
(spec and the one-stage priors in use), the harmonisation log and the PRISMA-IPD flow when
the spec has them, the network (graph, participants per arm, designs, comparisons), each
treatment vs the reference on each route with both routes on one forest plot, the
covariates and treatment-covariate interactions when the spec has covariates
(:mod:`~bayes_ipd.report.network_covariates`), the league tables, the ranking
(P-scores; SUCRA, mean rank, rank probabilities, rankogram), inconsistency (the
design-by-treatment Q decomposition and node-splits of the two-stage route; the
unrelated-mean-effects comparison, node-splits and leave-one-trial-out LOO of the
one-stage route when fitted), a new trial's effects, the posterior predictive check
per trial and arm, and the diagnostics (sampler, trace and rank plots; trials excluded or
corrected on the two-stage route).

The same template and environment as :mod:`bayes_ipd.report.html` (autoescaping on):
every text, treatment and trial name is passed as text and escaped when rendered; tables
are text cells a reviewer can copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from bayes_ipd.errors import BayesIPDError
from bayes_ipd.families import get_family
from bayes_ipd.one_stage.network_analysis import network_forest
from bayes_ipd.plots.network import network_forest_plot, network_graph_plot
from bayes_ipd.plots.rankogram import posterior_forest_plot, rankogram_plot
from bayes_ipd.plots.trace import trace_rank_plot
from bayes_ipd.report.html import (
    Figures,
    Section,
    Table,
    cell_text,
    flow_section,
    harmonisation_sections,
    render_page,
    write_whole,
)
from bayes_ipd.report.meta import diagnostic_rows
from bayes_ipd.report.network_covariates import covariate_sections

__all__ = ["NETWORK_SECTIONS", "network_sections", "render_network_report", "write_network_report"]

NETWORK_SECTIONS: tuple[tuple[str, str], ...] = (
    ("plan", "Analysis plan"),
    ("flow", "PRISMA-IPD flow"),
    ("network", "The network"),
    ("effects", "Each treatment vs the reference"),
    ("league", "League tables"),
    ("ranking", "Ranking"),
    ("inconsistency", "Inconsistency"),
    ("prediction", "A new trial"),
    ("ppc", "Posterior predictive check"),
    ("diagnostics", "Diagnostics"),
)
"""Every section of a network report, in order, as ``(id, heading)`` (the harmonisation
log follows the plan when the spec has ``[harmonise]`` rules; the covariate section,
:data:`~bayes_ipd.report.network_covariates.COVARIATES_SECTION`, follows the effects when
it has ``[model] covariates``)."""

_TWO, _ONE = "Two-stage", "One-stage"
_MODEL_KEYS = ("covariates", "interactions", "covariate_effects")


def _title(sid: str) -> str:
    return dict(NETWORK_SECTIONS)[sid]


def _scale(analysis: Any) -> str:
    return get_family(analysis.spec.data.family).scale.name


def _reference(analysis: Any) -> str:
    return str(analysis.spec.data.reference)


def _joined(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells holding several names (a design's trials) as one text, ``T01, T02``."""
    return frame.apply(
        lambda column: column.map(
            lambda v: ", ".join(map(str, v)) if isinstance(v, tuple | list) else v
        )
    )


def _nodes(frame: pd.DataFrame) -> pd.DataFrame:
    """Posterior nodes for a reader: mean, SD, median, 95% CrI, ESS, R-hat."""
    return frame[
        [
            c
            for c in ("mean", "sd", "median", "q025", "q975", "ess_bulk", "r_hat")
            if c in frame.columns
        ]
    ]


# ----------------------------------------------------------------------------- sections


def _plan(analysis: Any) -> Section:
    rows = []
    for section, values in analysis.spec.to_dict().items():
        # [model] keys other than the defaults are refused for a network: not shown, but
        # for the covariate keys of a spec with covariates
        if section == "model" and analysis.spec.model.covariates:
            values = {k: values[k] for k in _MODEL_KEYS}
        elif section in ("priors", "model") or not isinstance(values, dict):
            continue
        rows += [(f"{section}.{key}", cell_text(v)) for key, v in values.items()]
    blocks = ()
    one = analysis.one_stage
    if one is not None:
        from bayes_ipd.one_stage.network_model import network_slots

        slots = network_slots(one.built.priors, one.effects_model)
        described = one.built.priors.describe(slots).replace("effect (mu)", "effect (each d_t)")
        blocks = ("\n".join(["One-stage priors in use:", *described.splitlines()]),)
    source = analysis.spec.source
    routes = ", ".join(analysis.settings.routes)
    paragraphs = (
        f"Spec file: {source}" if source else "Spec given in code.",
        f"Network meta-analysis of a treatment factor against {_reference(analysis)}; "
        f"routes fitted: {routes}.",
    )
    table = Table(("Setting", "Value"), tuple(rows))
    return Section("plan", _title("plan"), paragraphs, blocks, (("Analysis spec", table),))


def _network(analysis: Any, figures: Figures) -> Section:
    net = analysis.network
    if net is None:
        return Section("network", _title("network"), missing="The network was not kept.")
    comparisons = net.comparison_table()
    figures.add(
        "Network graph: nodes sized by participants, edges as wide as their trials",
        network_graph_plot(net.treatments, net.participants_per_treatment(), comparisons),
    )
    tables = (
        ("Participants per arm", Table.from_frame(net.arm_table(), index=False)),
        (
            "Designs (sets of treatments compared in a trial)",
            Table.from_frame(_joined(net.design_table()), index=False),
        ),
        ("Trials and participants per comparison", Table.from_frame(comparisons, index=False)),
    )
    return Section(
        "network", _title("network"), blocks=(net.summary(),), tables=tables, figures=figures.take()
    )


def _effects(analysis: Any, figures: Figures) -> Section:
    two, one = analysis.two_stage, analysis.one_stage
    reference, scale = _reference(analysis), _scale(analysis)
    tables = []
    paragraphs = []
    if two is not None:
        fit = two.fit
        kind = f"t on {fit.df} df (HKSJ)" if fit.df is not None else "z"
        tables.append(
            (
                f"{_TWO} ({fit.method}, consistency model; 95% CI, {kind}): {two.k} trials pooled",
                Table.from_frame(two.effects()),
            )
        )
        paragraphs.append(f"Two-stage τ² = {fit.tau2:.4f} (τ = {fit.tau:.4f}).")
    if one is not None:
        frame = _nodes(one.effects())
        tau = one.tau_node()
        if tau is not None:
            frame = pd.concat([frame, _nodes(pd.DataFrame([tau], index=["τ (between-trial SD)"]))])
        frame.index.name = "treatment"
        caption = f"{_ONE} (posterior, {one.effects_model} effects; 95% CrI): {one.k} trials"
        tables.append((caption, Table.from_frame(frame)))
    if two is not None and one is not None:
        caption = (
            f"Each treatment vs {reference}: two-stage estimate and 95% CI (squares), "
            "one-stage posterior median and 95% CrI (circles); dashed: a new trial, 95%"
        )
        figures.add(caption, network_forest(two, one))
    elif two is not None:
        figures.add(
            f"{_TWO}: each treatment vs {reference}",
            network_forest_plot(two.effects(), reference, scale),
        )
    elif one is not None:
        figures.add(
            f"{_ONE}: each treatment vs {reference}",
            posterior_forest_plot(one.effects(), reference, scale),
        )
    paragraphs.insert(0, f"Effects on the {scale} scale, each treatment vs {reference}.")
    return Section(
        "effects",
        _title("effects"),
        paragraphs=tuple(paragraphs),
        tables=tuple(tables),
        figures=figures.take(),
    )


def _league(analysis: Any) -> Section:
    tables = []
    if analysis.two_stage is not None:
        tables.append(
            (f"{_TWO}: estimate (95% CI)", Table.from_frame(analysis.two_stage.league_table()))
        )
    if analysis.one_stage is not None:
        tables.append(
            (
                f"{_ONE}: posterior mean (95% CrI)",
                Table.from_frame(analysis.one_stage.league_table()),
            )
        )
    text = (
        f"Each cell is the row treatment vs the column treatment ({_scale(analysis)}, row minus "
        "column); the diagonal names the treatment."
    )
    return Section("league", _title("league"), paragraphs=(text,), tables=tuple(tables))


def _ranking(analysis: Any, figures: Figures) -> Section:
    two, one = analysis.two_stage, analysis.one_stage
    small = analysis.settings.small_values
    tables = []
    if two is not None:
        scores = two.ranking().rename(columns={"p_score": "P-score"})
        caption = f"{_TWO}: P-scores (Rücker & Schwarzer 2015)"
        tables.append((caption, Table.from_frame(scores)))
    if one is not None:
        ranking = one.ranking().rename(columns={"sucra": "SUCRA"})
        tables.append((f"{_ONE}: SUCRA and mean rank", Table.from_frame(ranking)))
        probs = one.rank_probabilities()
        probs = probs.set_axis([f"rank {r}" for r in probs.columns], axis=1)
        tables.append((f"{_ONE}: probability of each rank", Table.from_frame(probs)))
        figures.add(
            "Rankogram: probability of each rank (one-stage)",
            rankogram_plot(one.rank_probabilities(), small),
        )
    text = f"Small values are {small} (rank 1 is the best treatment, as R netmeta's small.values)."
    return Section(
        "ranking",
        _title("ranking"),
        paragraphs=(text,),
        tables=tuple(tables),
        figures=figures.take(),
    )


def _q_table(two: Any) -> Table:
    q = two.inconsistency
    frame = pd.DataFrame(
        {
            "Q": [q.q_total, q.q_within, q.q_between],
            "df": [q.df_total, q.df_within, q.df_between],
            "p": [q.p_total, q.p_within, q.p_between],
        },
        index=pd.Index(["total", "within designs", "between designs"], name="source"),
    )
    return Table.from_frame(frame)


def _one_stage_splits(one: Any) -> pd.DataFrame:
    rows = []
    for split in one.splits:
        row: dict[str, Any] = {"comparison": split["comparison"]}
        for part in ("direct", "indirect", "difference"):
            node = split[part]
            row |= {f"{part}_mean": node["mean"], f"{part}_sd": node["sd"]}
        row["p"] = split["p"]
        rows.append(row)
    return pd.DataFrame(rows)


def _ume_table(block: Any) -> Table:
    frame = pd.DataFrame(
        {name: block[key] for name, key in (("consistency", "consistency"), ("UME", "ume"))}
    ).T.rename(columns={"dbar": "Dbar (residual deviance)", "pd": "pD", "dic": "DIC"})
    frame.index.name = "model"
    return Table.from_frame(frame)


def _inconsistency(analysis: Any) -> Section:
    two, one = analysis.two_stage, analysis.one_stage
    tables, paragraphs = [], []
    if two is not None:
        paragraphs.append(
            "Two-stage: the design-by-treatment decomposition of Q (Higgins et al. 2012; "
            "fixed effects, as netmeta's decomp.design) and node-splitting by "
            "back-calculation (Dias et al. 2010; netmeta's netsplit)."
        )
        tables.append((f"{_TWO}: Q decomposition", _q_table(two)))
        splits = two.node_split_table()
        if len(splits):
            tables.append((f"{_TWO}: node-splitting", Table.from_frame(splits, index=False)))
    if one is not None and one.inconsistency is None:
        paragraphs.append(
            "One-stage: not fitted ([network] inconsistency = true fits the unrelated-mean-"
            "effects model and a node-split per comparison)."
        )
    elif one is not None:
        tables.append(
            (f"{_ONE}: consistency vs unrelated mean effects", _ume_table(one.inconsistency))
        )
        if one.splits:
            tables.append(
                (
                    f"{_ONE}: node-splitting (posterior mean, SD; p)",
                    Table.from_frame(_one_stage_splits(one), index=False),
                )
            )
        if "loo" in one.inconsistency:
            from bayes_ipd.one_stage.network_loo import loo_table

            tables.append(
                (
                    f"{_ONE}: leave-one-trial-out PSIS-LOO",
                    Table.from_frame(loo_table(one.inconsistency["loo"])),
                )
            )
    return Section(
        "inconsistency",
        _title("inconsistency"),
        paragraphs=tuple(paragraphs),
        tables=tuple(tables),
    )


def _prediction(analysis: Any) -> Section:
    tables = []
    for route, frame in analysis.prediction().items():
        if route == "two-stage":
            caption = f"{_TWO}: estimate ± crit √(se² + τ²), 95% prediction interval"
            tables.append((caption, Table.from_frame(frame)))
        else:
            caption = f"{_ONE}: posterior predictive d_t + δ_new, δ_new ~ N(0, τ²)"
            tables.append((caption, Table.from_frame(_nodes(frame))))
    text = f"Each treatment vs {_reference(analysis)} in a new trial of the same population."
    return Section("prediction", _title("prediction"), paragraphs=(text,), tables=tuple(tables))


def _ppc(analysis: Any, figures: Figures) -> Section:
    one = analysis.one_stage
    title = _title("ppc")
    if one is None:
        return Section("ppc", title, missing="One-stage route not fitted.")
    try:  # not built for the model with covariates: said in its place
        table = Table.from_frame(one.ppc(), index=False)
    except BayesIPDError as err:
        return Section("ppc", title, missing=f"Not available: {err}.")
    figures.add(
        "Observed statistic per trial and arm over its replicates' 95% interval", one.ppc_plot()
    )
    return Section("ppc", title, tables=(("", table),), figures=figures.take())


def _diagnostics(analysis: Any, figures: Figures) -> Section:
    two, one = analysis.two_stage, analysis.one_stage
    tables, paragraphs = [], []
    if one is not None:
        paragraphs += [f"Warning: {w}" for w in one.diagnostics.warnings]
        rows = diagnostic_rows(one.diagnostics.to_dict())
        tables.append((f"{_ONE} sampler", Table(("Diagnostic", "Value"), rows)))
        d = one.d_draws()
        draws = {f"d[{t}]": d[:, :, i] for i, t in enumerate(one.treatments) if i > 0}
        tau = one.tau_draws()
        if tau is not None:
            draws["tau"] = tau
        if d.shape[1] >= 2:
            figures.add(
                "Trace and rank plots of the basic parameters and tau", trace_rank_plot(draws)
            )
    if two is not None:
        excluded = two.excluded()
        if excluded:
            frame = pd.DataFrame(excluded)
            tables.append((f"{_TWO}: trials excluded", Table.from_frame(frame, index=False)))
        if two.stage_one.corrected:
            paragraphs.append(
                "Two-stage: 0.5 added to every cell of trial(s) with a zero-event arm: "
                + ", ".join(two.stage_one.corrected)
            )
        if not excluded and not two.stage_one.corrected:
            paragraphs.append(
                "Two-stage: every trial pooled as given (none excluded or corrected)."
            )
    return Section(
        "diagnostics",
        _title("diagnostics"),
        paragraphs=tuple(paragraphs),
        tables=tuple(tables),
        figures=figures.take(),
    )


def network_sections(analysis: Any) -> list[Section]:
    """Every section of :data:`NETWORK_SECTIONS` for ``analysis`` (a ``NetworkAnalysis``),
    in order."""
    figures = Figures()
    return [
        _plan(analysis),
        *harmonisation_sections(analysis),
        flow_section(analysis, figures),
        _network(analysis, figures),
        _effects(analysis, figures),
        *covariate_sections(analysis),
        _league(analysis),
        _ranking(analysis, figures),
        _inconsistency(analysis),
        _prediction(analysis),
        _ppc(analysis, figures),
        _diagnostics(analysis, figures),
    ]


def render_network_report(analysis: Any, *, title: str | None = None) -> str:
    """The report of a network spec as HTML text.

    Parameters
    ----------
    analysis : NetworkAnalysis
        From :func:`bayes_ipd.analysis.run_analysis` on a spec with ``[data] reference``.
    title : str, optional
        Heading; by default names the spec file.

    Returns
    -------
    str
        One HTML document; figures embedded as base64 PNG.
    """
    source = analysis.spec.source
    heading = title or f"Network meta-analysis report{f': {source.name}' if source else ''}"
    return render_page(heading, network_sections(analysis))


def write_network_report(analysis: Any, path: str | Path, *, title: str | None = None) -> Path:
    """Write :func:`render_network_report` to ``path`` (:func:`~bayes_ipd.report.html.write_whole`:
    an interrupted write leaves the previous file or none). Returns the path."""
    return write_whole(path, render_network_report(analysis, title=title))
