"""``bayes-ipd demo``: both routes on the shipped BCG vaccine trials, with figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from bayes_ipd.cli.common import Command, Payload, add_json, progress_reporter

__all__ = ["COMMAND"]

DEFAULT_DEMO_DIR = Path("bayes_ipd_demo")


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default=str(DEFAULT_DEMO_DIR),
        metavar="DIR",
        help=f"folder for the figures (default ./{DEFAULT_DEMO_DIR}/)",
    )
    add_json(parser)


def _run_demo(args: argparse.Namespace) -> Payload:
    from bayes_ipd.analysis import run_demo
    from bayes_ipd.one_stage.sampling import reporting

    with reporting(progress_reporter(args)):
        return run_demo(args.out, say=None if args.json else print)


COMMAND = Command(
    "demo",
    "two-stage and one-stage analyses of the shipped BCG vaccine trials, with figures",
    _configure_demo,
    _run_demo,
)
