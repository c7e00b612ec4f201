"""``bayes-ipd calibrate``: simulation-based calibration and coverage on Dask."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from bayes_ipd.cli.common import Command, Payload, UsageError, add_json, say

__all__ = ["COMMAND"]


def shipped_calibration_names() -> list[str]:
    """The names of the calibration designs shipped in ``bayes_ipd/models/calibration/``
    (read from the folder, so that ``--help`` lists every one; the same folder
    :func:`bayes_ipd.calibration.design.shipped_calibration_specs` reads, without importing
    the calibration engine at start-up)."""
    folder = resources.files("bayes_ipd.models") / "calibration"
    if not folder.is_dir():
        return []
    return sorted(e.name[: -len(".toml")] for e in folder.iterdir() if e.name.endswith(".toml"))


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "spec",
        metavar="SPEC",
        help="calibration spec (TOML with [design]), or a shipped one by name "
        f"({', '.join(shipped_calibration_names())})",
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
    if args.out:  # written beside, moved into place whole: no mixture with an earlier run
        from bayes_ipd.calibration.output import CALIBRATION_FILES, write_outputs
        from bayes_ipd.output_folder import staged_folder

        with staged_folder(args.out, own=CALIBRATION_FILES.values()) as stage:
            written = write_outputs(result, stage)
        payload["files"] = {k: str(Path(args.out) / Path(p).name) for k, p in written.items()}
    return payload


COMMAND = Command(
    "calibrate",
    "simulation-based calibration and interval coverage of a design, on Dask",
    _configure,
    _run,
)
