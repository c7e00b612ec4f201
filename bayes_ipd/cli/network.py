"""``bayes-ipd network``: network meta-analysis of participant rows (two-stage route, or
the one-stage Bayesian model with ``--route one-stage``, or both with ``--route both``)."""

from __future__ import annotations

import argparse
from typing import Any

from bayes_ipd.cli.common import (
    Command,
    Payload,
    UsageError,
    add_json,
    figure_path,
    progress_reporter,
    say,
)

__all__ = ["COMMAND"]

ROUTES = ("two-stage", "one-stage", "both")


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="CSV with one row per participant")
    parser.add_argument("--study", required=True, metavar="COL", help="trial column")
    parser.add_argument(
        "--treatment", required=True, metavar="COL", help="treatment column (any number of levels)"
    )
    parser.add_argument(
        "--reference", required=True, metavar="LEVEL", help="the network's common comparator"
    )
    parser.add_argument(
        "--family",
        default="binomial",
        choices=("binomial", "gaussian", "poisson", "survival", "negative_binomial", "ordinal"),
        help="outcome family (default binomial: log odds ratios; gaussian: mean differences; "
        "poisson, negative_binomial: log rate ratios; survival: log hazard ratios; ordinal: "
        "log cumulative odds ratios, proportional odds)",
    )
    parser.add_argument(
        "--outcome",
        metavar="COL",
        help="outcome column (binomial, gaussian, poisson, negative_binomial, ordinal)",
    )
    parser.add_argument(
        "--exposure",
        metavar="COL",
        help="person-time column (poisson, negative_binomial; default 1 per row)",
    )
    parser.add_argument("--time", metavar="COL", help="follow-up time column (survival)")
    parser.add_argument("--event", metavar="COL", help="event indicator column (survival)")
    parser.add_argument(
        "--aggregate-arms",
        metavar="CSV",
        help="aggregate-data arms: study, treatment and binomial events, n; gaussian mean, "
        "sd, n; poisson events, exposure (docs/network.md)",
    )
    parser.add_argument(
        "--aggregate-contrasts",
        metavar="CSV",
        help="aggregate-data contrasts: study, treatment, comparator, estimate, se "
        "(cov_with_base for multi-arm trials; docs/network.md)",
    )
    parser.add_argument(
        "--covariates",
        metavar="A,B",
        help="numeric columns the model adjusts for, centred at the trial's means (not with "
        "aggregate-data trials)",
    )
    parser.add_argument(
        "--interactions",
        metavar="A",
        help="covariates (among --covariates) whose within-trial interaction with each "
        "treatment is estimated vs the reference (per treatment, or per class: --classes)",
    )
    parser.add_argument(
        "--classes",
        metavar="LEVEL=CLASS,...",
        help="treatment classes: the treatments of a class share one interaction per "
        "covariate, the reference's class has none (needs --interactions; treatments not "
        "named are their own class)",
    )
    parser.add_argument(
        "--allow-overlap",
        action="store_true",
        help="accept an arm given both as rows and as aggregate data (other participants)",
    )
    parser.add_argument(
        "--route",
        default="two-stage",
        choices=ROUTES,
        help="analysis route (default two-stage; both: the two routes on the same network)",
    )
    parser.add_argument(
        "--method",
        default="REML",
        type=str.upper,
        choices=("REML", "ML", "FE"),
        help="estimator of tau^2 (default REML; FE: common effect)",
    )
    parser.add_argument(
        "--sparse",
        choices=("none", "cc"),
        help="arms with no events: 'none' excludes their trials, 'cc' adds 0.5 to every "
        "cell of those trials (default: refuse them)",
    )
    parser.add_argument(
        "--small-values",
        default="desirable",
        choices=("desirable", "undesirable"),
        help="orientation of the P-scores (one-stage: SUCRA and rank probabilities), as R "
        "netmeta's small.values (default desirable)",
    )
    parser.add_argument(
        "--hksj",
        action="store_true",
        help="Hartung-Knapp-Sidik-Jonkman intervals (t on contrasts - basic parameters df)",
    )
    parser.add_argument(
        "--plot",
        metavar="PATH",
        help="write the network graph and the forest plot to PATH (one-stage: the forest "
        "plot and the rankogram; both: the network graph and the two-stage forest plot)",
    )
    parser.add_argument(
        "--forest",
        metavar="PATH",
        help="--route both: write the forest plot of both routes overlaid (each treatment vs "
        "the reference, with a new trial's intervals) to PATH",
    )
    sampling = parser.add_argument_group(
        "one-stage route (NUTS; --method FE gives fixed effects, else random effects)"
    )
    for name, default, text in (
        ("draws", 1000, "posterior draws per chain"),
        ("tune", 1000, "tuning steps per chain"),
        ("chains", 4, "chains"),
        ("seed", 20240601, "random seed"),
    ):
        sampling.add_argument(
            f"--{name}", type=int, default=default, metavar="N", help=f"{text} (default {default})"
        )
    sampling.add_argument(
        "--covariate-effects",
        choices=("common", "stratified"),
        help="covariate coefficients of the one-stage model: common to every trial "
        "(default) or one per trial (the two-stage stage one always has one per trial)",
    )
    sampling.add_argument(
        "--inconsistency",
        action="store_true",
        help="also fit the unrelated-mean-effects model (residual deviance and DIC; NICE DSU "
        "TSD4) and split each comparison with direct and indirect evidence (one fit each); "
        "all compared by leave-one-trial-out PSIS-LOO too",
    )
    add_json(parser)


def _inputs(args: argparse.Namespace) -> list[str]:
    """Every file the command reads (a figure may not overwrite one)."""
    extra = (args.aggregate_arms, args.aggregate_contrasts)
    return [args.file, *(f for f in extra if f is not None)]


def _aggregate(args: argparse.Namespace) -> dict:
    """The aggregate-data tables the options name (read as written; checked by the data
    layer)."""
    from bayes_ipd.data.reading import read_rows

    return {
        "aggregate_arms": None
        if args.aggregate_arms is None
        else read_rows(args.aggregate_arms, "study"),
        "aggregate_contrasts": None
        if args.aggregate_contrasts is None
        else read_rows(args.aggregate_contrasts, "study"),
        "allow_overlap": args.allow_overlap,
    }


def _network_columns(args: argparse.Namespace) -> dict:
    """The network's columns, family and reference as the options name them (``--exposure``
    is the time column of a count family), with the aggregate-data tables."""
    return {
        "study": args.study,
        "treatment": args.treatment,
        "reference": args.reference,
        "family": args.family,
        "outcome": args.outcome,
        "time": args.time if args.exposure is None else args.exposure,
        "event": args.event,
        **_aggregate(args),
    }


def _run_one_stage(args: argparse.Namespace) -> Payload:
    """``--route one-stage``: the Bayesian network model (docs/network.md)."""
    refused = [o for o, v in (("--sparse", args.sparse), ("--hksj", args.hksj)) if v]
    if refused:
        raise UsageError(
            f"{', '.join(refused)}: two-stage options; the one-stage route uses the exact "
            "likelihood of every arm (zero-event arms included)"
        )
    plot_path = figure_path(args.plot, _inputs(args), "--plot")
    from bayes_ipd.data.reading import read_rows
    from bayes_ipd.one_stage.network_fit import fit_network
    from bayes_ipd.one_stage.sampling import reporting

    sampler = _sampler(args)
    rows = read_rows(args.file, args.study)
    with reporting(progress_reporter(args)):
        result = fit_network(
            rows,
            **_network_columns(args),
            route="one-stage",
            method=args.method,
            small_values=args.small_values,
            sampler=sampler,
            inconsistency=args.inconsistency,
            **_covariate_options(args),
        )
    say(args, result.summary())
    if plot_path is not None:
        from bayes_ipd.plots.save import save_figure

        save_figure(result.plot(), plot_path)
        say(args, f"\nForest plot and rankogram written to {plot_path}")
    return result.to_dict()


def _covariate_options(args: argparse.Namespace) -> dict[str, Any]:
    """``covariates``, ``interactions`` and ``classes`` as given (none: no keyword, so a
    fit without covariates is called exactly as before)."""
    given = {
        "covariates": args.covariates,
        "interactions": args.interactions,
        "classes": args.classes,
        "covariate_effects": args.covariate_effects,
    }
    return {k: v for k, v in given.items() if v is not None}


def _sampler(args: argparse.Namespace) -> Any:
    """The one-stage NUTS settings of the options (no progress bar)."""
    from bayes_ipd.spec import SamplerSettings

    return SamplerSettings(
        draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed, progress=False
    )


def _run_both(args: argparse.Namespace) -> Payload:
    """``--route both``: the two routes on one network; the JSON is the routes' part of
    ``run --json`` for a network spec (``"network"`` the one-stage object, ``"two_stage"``
    the two-stage one, ``"diagnostics"``, ``"prediction"``; docs/network.md)."""
    inputs = _inputs(args)
    plot_path = figure_path(args.plot, inputs, "--plot")
    forest = figure_path(args.forest, inputs, "--forest")
    if plot_path is not None and forest is not None and plot_path.resolve() == forest.resolve():
        raise UsageError("--plot and --forest name the same file; give two paths")
    from bayes_ipd.data.network import network_from_frame
    from bayes_ipd.data.reading import read_rows
    from bayes_ipd.one_stage.network_analysis import (
        fit_routes,
        network_forest,
        routes_document,
        routes_summary,
    )
    from bayes_ipd.one_stage.sampling import reporting
    from bayes_ipd.two_stage.network_covariates import network_covariates

    rows = read_rows(args.file, args.study)
    network = network_from_frame(rows, **_network_columns(args))
    covariates = network_covariates(rows, network, args.covariates, args.interactions, args.classes)
    with reporting(progress_reporter(args)):
        two, one = fit_routes(
            network,
            ("two-stage", "one-stage"),
            method=args.method,
            sparse=args.sparse,
            small_values=args.small_values,
            hksj=args.hksj,
            sampler=_sampler(args),
            inconsistency=args.inconsistency,
            covariates=covariates,
            covariate_effects=args.covariate_effects or "common",
        )
    say(args, routes_summary(two, one))
    from bayes_ipd.plots.save import save_figure

    if plot_path is not None:
        save_figure(two.plot(), plot_path)
        say(args, f"\nNetwork figure written to {plot_path}")
    if forest is not None:
        save_figure(network_forest(two, one), forest)
        say(args, f"Forest plot of both routes written to {forest}")
    return routes_document(two, one)


def _run(args: argparse.Namespace) -> Payload:
    if args.time is not None and args.exposure is not None:
        raise UsageError("give --time (survival) or --exposure (poisson), not both")
    if args.classes is not None and not args.interactions:
        raise UsageError(
            "--classes needs --interactions: treatment classes share treatment-covariate "
            "interactions (give --covariates and --interactions too)"
        )
    if args.covariate_effects is not None and not args.covariates:
        raise UsageError("--covariate-effects needs --covariates")
    if args.covariate_effects is not None and args.route == "two-stage":
        raise UsageError(
            "--covariate-effects belongs to the one-stage route (--route one-stage or both): "
            "the two-stage stage one always has trial-specific covariate coefficients"
        )
    if args.forest is not None and args.route != "both":
        raise UsageError(
            "--forest draws both routes on one forest plot: it needs --route both "
            "(--plot writes this route's figure)"
        )
    if args.route == "both":
        return _run_both(args)
    if args.route == "one-stage":
        return _run_one_stage(args)
    if args.inconsistency:
        raise UsageError(
            "--inconsistency belongs to --route one-stage (the two-stage route always reports "
            "the design-by-treatment decomposition and node-splitting)"
        )
    plot_path = figure_path(args.plot, _inputs(args), "--plot")
    from bayes_ipd.data.reading import read_rows
    from bayes_ipd.two_stage.network import fit_network

    rows = read_rows(args.file, args.study)
    result = fit_network(
        rows,
        **_network_columns(args),
        method=args.method,
        sparse=args.sparse,
        small_values=args.small_values,
        hksj=args.hksj,
        covariates=args.covariates,
        interactions=args.interactions,
        classes=args.classes,
    )
    say(args, result.data.summary())
    say(args, result.summary())
    payload = result.to_dict()
    if plot_path is not None:
        from bayes_ipd.plots.save import save_figure

        save_figure(result.plot(), plot_path)
        say(args, f"\nNetwork figure written to {plot_path}")
    return payload


COMMAND = Command(
    "network",
    "network meta-analysis of trials comparing several treatments (two-stage: consistency "
    "model, league table, P-scores, inconsistency; one-stage: Bayesian model, SUCRA)",
    _configure,
    _run,
)
