"""``bayes-ipd pool``: pool per-trial estimates and standard errors."""

from __future__ import annotations

import argparse

from bayes_ipd.cli.common import (
    Command,
    Payload,
    add_json,
    add_pooling,
    forest_path,
    report,
    split_names,
)
from bayes_ipd.conventions import SCALE_CODES

__all__ = ["COMMAND"]


def _configure_pool(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="CSV with one row per trial")
    parser.add_argument("--estimate", required=True, metavar="COL", help="estimate column")
    spread = parser.add_mutually_exclusive_group(required=True)
    spread.add_argument("--se", metavar="COL", help="standard-error column")
    spread.add_argument("--var", metavar="COL", help="sampling-variance column (e.g. vi)")
    parser.add_argument("--study", metavar="COL", help="trial-label column (default: row number)")
    parser.add_argument(
        "--label",
        metavar="COL[,COL]",
        help="columns whose values, joined by spaces, label the trials in the table and the "
        "figure (e.g. author,year), in place of --study's ids",
    )
    parser.add_argument(
        "--scale", choices=SCALE_CODES, help="effect scale (log scales are also exponentiated)"
    )
    add_pooling(parser)
    add_json(parser)


def _run_pool(args: argparse.Namespace) -> Payload:
    from bayes_ipd.two_stage import AggregateData, TwoStageResult, pool_aggregate

    forest = forest_path(args.forest, [args.file])
    agg = AggregateData.read_csv(
        args.file,
        estimate=args.estimate,
        se=args.se,
        var=args.var,
        study=args.study,
        scale=args.scale,
        label=split_names(args.label) if args.label else None,
    )
    pooled = pool_aggregate(agg, method=args.method, hksj=args.hksj, level=args.level)
    result = TwoStageResult(per_study=agg, pooled=pooled)
    return report(args, result, forest)


COMMAND = Command(
    "pool",
    "pool per-trial estimates and standard errors (FE, DL, REML, PM, ML; HKSJ)",
    _configure_pool,
    _run_pool,
)
