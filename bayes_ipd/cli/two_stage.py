"""``bayes-ipd two-stage``: one regression per trial, then pooling."""

from __future__ import annotations

import argparse

from bayes_ipd.cli.common import (
    Command,
    Payload,
    add_json,
    add_pooling,
    configure_data_columns,
    forest_path,
    read_ipd,
    report,
    split_names,
)

__all__ = ["COMMAND"]


def _configure_two_stage(parser: argparse.ArgumentParser) -> None:
    configure_data_columns(parser)
    parser.add_argument(
        "--pool-var",
        default="treat",
        metavar="TERM",
        help="pooled term: 'treat' (default) or 'treat:COVARIATE' (within-trial interaction)",
    )
    add_pooling(parser)
    add_json(parser)


def _interaction_covariate(pool_var: str) -> str | None:
    _, sep, covariate = pool_var.partition(":")
    if not sep:
        return None
    return covariate.strip() or None


def _run_two_stage(args: argparse.Namespace) -> Payload:
    from bayes_ipd.two_stage import two_stage

    forest = forest_path(args.forest, [args.file])
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
    )
    return report(args, result, forest)


COMMAND = Command(
    "two-stage",
    "two-stage IPD meta-analysis: one regression per trial, then pooling",
    _configure_two_stage,
    _run_two_stage,
)
