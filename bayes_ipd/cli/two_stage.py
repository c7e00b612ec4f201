"""``bayes-ipd two-stage``: one regression per trial, then pooling."""

from __future__ import annotations

import argparse

from bayes_ipd.cli.aggregate_io import (
    add_aggregate_options,
    check_save_path,
    read_aggregate,
    save_stage_one,
)
from bayes_ipd.cli.common import (
    Command,
    Payload,
    add_json,
    add_pooling,
    configure_data_columns,
    forest_path,
    read_ipd,
    report,
    say,
    split_names,
)
from bayes_ipd.families.sparse import SPARSE_METHODS

__all__ = ["COMMAND"]


def _configure_two_stage(parser: argparse.ArgumentParser) -> None:
    configure_data_columns(parser)
    parser.add_argument(
        "--pool-var",
        default="treat",
        metavar="TERM",
        help="pooled term: 'treat' (default) or 'treat:COVARIATE' (within-trial interaction)",
    )
    parser.add_argument(
        "--sparse",
        choices=tuple(SPARSE_METHODS),
        default="none",
        help="binomial trials with a zero cell: none (default: excluded), cc (0.5 added to "
        "each cell), tacc (treatment-arm / opposite-arm correction, Sweeting 2004), firth "
        "(Firth-penalised logistic regression in every trial); a trial with no events in "
        "either arm is always excluded",
    )
    add_pooling(parser)
    add_aggregate_options(parser)
    add_json(parser)


def _interaction_covariate(pool_var: str) -> str | None:
    _, sep, covariate = pool_var.partition(":")
    if not sep:
        return None
    return covariate.strip() or None


def _run_two_stage(args: argparse.Namespace) -> Payload:
    from bayes_ipd.two_stage import two_stage

    forest = forest_path(args.forest, [args.file])
    save_path = check_save_path(args)
    adjust = split_names(args.covariates)
    modifier = _interaction_covariate(args.pool_var)
    ipd = read_ipd(args, adjust + ([modifier] if modifier and modifier not in adjust else []))
    result = two_stage(
        ipd,
        covariates=adjust,
        pool_var=args.pool_var,
        method=args.method,
        hksj=args.hksj,
        level=args.level,
        aggregate=read_aggregate(args),
        overlap=args.overlap,
        sparse=args.sparse,
    )
    if args.sparse != "none":
        say(args, f"Sparse trials: {args.sparse} ({SPARSE_METHODS[args.sparse]})\n")
    payload = report(args, result, forest)
    if save_path is not None:
        roles = [args.treatment, args.outcome, args.time, args.event, args.exposure, *adjust]
        payload["saved_aggregate"] = save_stage_one(args, result, save_path, roles)
    return payload


COMMAND = Command(
    "two-stage",
    "two-stage IPD meta-analysis: one regression per trial, then pooling",
    _configure_two_stage,
    _run_two_stage,
)
