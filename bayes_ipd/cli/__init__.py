"""The ``bayes-ipd`` command line.

Subcommands::

    bayes-ipd pool FILE --estimate COL (--se COL | --var COL) [--method M] [--hksj] ...
    bayes-ipd two-stage FILE --study COL --treatment COL --family F (--outcome COL |
              --time COL --event COL) [--covariates a,b] [--pool-var TERM] ...
    bayes-ipd demo [--out DIR] [--json]
    bayes-ipd network FILE --study COL --treatment COL --reference LEVEL [--family F]
              (--outcome COL | --time COL --event COL) [--method REML|ML|FE] ...
    bayes-ipd harmonise (SPEC | FILE --rules TOML --study COL) [--out CSV] [--log CSV] [--json]
    bayes-ipd check-data FILE --study COL [--columns a,b] [--json]

Contracts: with ``--json`` the only thing on standard output is one JSON object (warnings
and library output go to standard error). On bad input the process exits with status 2 and
the last line on standard error starts with ``error:`` and names the column, trial or value
at fault; no traceback is shown. Input files are only read.

A subcommand is one module of this package holding a :class:`~bayes_ipd.cli.common.Command`
named ``COMMAND``: a function adding its arguments to its parser and a function running it,
which prints its readable report itself (unless ``--json``) and returns the JSON payload.
A new subcommand is a new module and one entry in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from bayes_ipd.cli import cache as cache_cli
from bayes_ipd.cli import calibrate as calibrate_cli
from bayes_ipd.cli import check_data as check_data_cli
from bayes_ipd.cli import check_integrity as check_integrity_cli
from bayes_ipd.cli import datasets as datasets_cli
from bayes_ipd.cli import demo, pool, run, summarise, two_stage
from bayes_ipd.cli import harmonise as harmonise_cli
from bayes_ipd.cli import ite as ite_cli
from bayes_ipd.cli import metareg as metareg_cli
from bayes_ipd.cli import network as network_cli
from bayes_ipd.cli.common import Command, UsageError
from bayes_ipd.conventions import json_ready
from bayes_ipd.errors import AnalysisNote, BayesIPDError

__all__ = ["COMMANDS", "Command", "build_parser", "main", "package_version"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

PROG = "bayes-ipd"

QUIET_WARNINGS = (
    ".*could not link to a BLAS.*",  # PyTensor's C backend; the samplers do not need it
    ".*ArviZ is undergoing a major refactor.*",
    ".*`pytensor\\.graph\\..*` was moved to.*",  # nutpie calling PyTensor's old names
)
"""Library notices that say nothing about the analysis, kept off the terminal."""

COMMANDS: list[Command] = [
    pool.COMMAND,
    two_stage.COMMAND,
    network_cli.COMMAND,
    run.COMMAND,
    summarise.COMMAND,
    demo.COMMAND,
    metareg_cli.COMMAND,
    check_integrity_cli.COMMAND,
    harmonise_cli.COMMAND,
    check_data_cli.COMMAND,
    ite_cli.COMMAND,
    cache_cli.COMMAND,
    datasets_cli.COMMAND,
    calibrate_cli.COMMAND,
]
"""Subcommands in the order ``--help`` lists them; a new one is appended here."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing and exiting, so that :func:`main`
    writes every error the same way."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.format_usage())


def package_version() -> str:
    """The installed version of ``bayes_ipd`` (``"unknown"`` when run from a source tree
    that was never installed)."""
    from bayes_ipd.conventions import distribution_version

    return distribution_version("bayes_ipd")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand in :data:`COMMANDS`."""
    parser = _Parser(
        prog=PROG,
        description="Individual-participant-data meta-analysis of randomised trials.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {package_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
        sub.set_defaults(_run=command.run)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    kind = "note" if issubclass(category, AnalysisNote) else "warning"
    print(f"{kind}: {_one_line(str(message))}", file=sys.stderr)


@contextlib.contextmanager
def _quiet_run(json_mode: bool) -> Iterator[None]:
    """Warnings as ``warning:`` lines on stderr; with JSON, stray output to stderr too.

    Figures are drawn off-screen (Agg); matplotlib itself is imported only by a command
    that draws one."""
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].use("Agg")
    else:
        os.environ["MPLBACKEND"] = "Agg"
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        for text in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=text)
        warnings.showwarning = _show_warning
        if json_mode:
            with contextlib.redirect_stdout(sys.stderr):
                yield
        else:
            yield


def _error(message: str, usage: str = "") -> int:
    if usage:
        print(usage.rstrip(), file=sys.stderr)
    print(f"error: {_one_line(message)}", file=sys.stderr)
    return EXIT_BAD_INPUT


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bayes-ipd`` with ``argv`` (default: the process arguments).

    Returns
    -------
    int
        0 on success, 2 on bad input or usage, 1 on an unexpected failure, 130 when
        interrupted.
    """
    try:
        args = build_parser().parse_args(argv)
        json_mode = bool(getattr(args, "json", False))
        with _quiet_run(json_mode):
            payload = args._run(args)
        if json_mode:
            print(json.dumps(json_ready(payload), allow_nan=False))
        return EXIT_OK
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_BAD_INPUT
    except UsageError as exc:
        return _error(str(exc), exc.usage)
    except BayesIPDError as exc:
        return _error(str(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _error(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt as exc:  # a partial run writes nothing (run --out is staged)
        detail = _one_line(str(exc))
        print(f"error: interrupted{': ' + detail if detail else ''}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the contract: an error line, never a traceback
        print(
            f"error: unexpected failure ({type(exc).__name__}): {_one_line(str(exc))}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
