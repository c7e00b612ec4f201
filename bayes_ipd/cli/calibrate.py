"""``bayes-ipd calibrate``: simulation-based calibration and coverage on Dask."""

from __future__ import annotations

import argparse
import sys

from bayes_ipd.cli.common import Command, Payload, UsageError, add_json, say

__all__ = ["COMMAND"]


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "spec",
        metavar="SPEC",
        help="calibration spec (TOML with [design]), or a shipped one by name "
        "(calibration_binomial, calibration_gaussian, calibration_survival, calibration_poisson)",
    )
    parser.add_argument(
        "--replications", type=int, required=True, metavar="N", help="simulated meta-analyses"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        metavar="W",
        help="local Dask worker processes (default: the machine's cores)",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="address of a running Dask scheduler (tcp://host:8786); unreachable within "
        "10 s is an error",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="write replicates.csv, summary.json, ranks.png, ecdf.png into DIR",
    )
    add_json(parser)


def _run(args: argparse.Namespace) -> Payload:
    from bayes_ipd.calibration import read_calibration_spec, run_calibration

    if args.replications < 1:
        raise UsageError(f"--replications {args.replications}: must be >= 1")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers}: must be >= 1")
    study = read_calibration_spec(args.spec)

    def progress(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    result = run_calibration(
        study, args.replications, workers=args.workers, scheduler=args.scheduler, say=progress
    )
    payload = result.summary()
    say(args, repr(result))
    if args.out:
        from bayes_ipd.calibration.output import write_outputs

        payload["files"] = write_outputs(result, args.out)
    return payload


COMMAND = Command(
    "calibrate",
    "simulation-based calibration and interval coverage of a design, on Dask",
    _configure,
    _run,
)
