"""``bayes-ipd check-integrity``: do the IPD reproduce each trial's published result?"""

from __future__ import annotations

import argparse

from bayes_ipd.cli.common import (
    Command,
    Payload,
    add_json,
    configure_data_columns,
    read_ipd,
    say,
    split_names,
)

__all__ = ["COMMAND"]


def _configure(parser: argparse.ArgumentParser) -> None:
    configure_data_columns(parser)
    parser.add_argument(
        "--published",
        required=True,
        metavar="CSV",
        help="published results, one row per trial: study, estimate, se (or ci_low, ci_high "
        "[, level]), scale (e.g. logOR, or OR on the natural scale), adjusted_for "
        "(covariates separated by ';', empty: unadjusted), n (optional)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        metavar="SE",
        help="flag a trial whose recomputed estimate differs from the published one by more "
        "than this many published SEs (default 0.5)",
    )
    parser.add_argument(
        "--level",
        type=float,
        default=0.95,
        help="coverage of published intervals without a level column (default 0.95)",
    )
    add_json(parser)


def _run(args: argparse.Namespace) -> Payload:
    from bayes_ipd.two_stage.integrity import check_integrity, read_published

    published = read_published(args.published, level=args.level)
    covariates = split_names(args.covariates)
    for entry in published:
        covariates += [c for c in entry.adjusted_for if c not in covariates]
    ipd = read_ipd(args, covariates)
    result = check_integrity(ipd, published, threshold=args.threshold)
    say(args, str(result))
    return result.to_dict()


COMMAND = Command(
    "check-integrity",
    "data-integrity check: recompute each trial's published result from its IPD",
    _configure,
    _run,
)
