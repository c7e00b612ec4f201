"""``bayes-ipd check-data``: does a trial look recorded in another unit or coding?"""

from __future__ import annotations

import argparse

from bayes_ipd.cli.common import Command, Payload, add_json, say, split_names

__all__ = ["COMMAND"]


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="CSV with one row per participant")
    parser.add_argument("--study", required=True, metavar="COL", help="trial column")
    parser.add_argument(
        "--columns",
        default="",
        metavar="A,B",
        help="comma-separated columns to compare across trials (default: every column but "
        "the trial column)",
    )
    add_json(parser)


def _run(args: argparse.Namespace) -> Payload:
    from bayes_ipd.data.reading import read_rows
    from bayes_ipd.data.unit_check import check_units

    rows = read_rows(args.file, args.study)
    columns = split_names(args.columns) or None
    result = check_units(rows, args.study, columns)
    say(args, str(result))
    return result.to_dict()


COMMAND = Command(
    "check-data",
    "compare covariates across trials: flag a trial in another unit (lb vs kg, days vs "
    "months, ...) or another coding (findings, exit 0)",
    _configure,
    _run,
)
