"""Pieces shared by the subcommands: the :class:`Command` record, usage errors, common
options, the participant-data columns and the two-stage report."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayes_ipd.conventions import METHODS
from bayes_ipd.families import FAMILY_NAMES, REGISTRY, get_family

if TYPE_CHECKING:
    from bayes_ipd.two_stage import TwoStageResult

__all__ = [
    "Command",
    "OptionDefault",
    "Payload",
    "UsageError",
    "add_json",
    "add_pooling",
    "configure_data_columns",
    "first_given",
    "forest_path",
    "progress_reporter",
    "read_ipd",
    "read_rows",
    "report",
    "response_columns",
    "say",
    "split_names",
]

Payload = dict[str, Any]


class UsageError(Exception):
    """Bad command-line usage (argparse's complaint, or a rule it cannot express)."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class Command:
    """One subcommand.

    Attributes
    ----------
    name : str
        The word after ``bayes-ipd``.
    help : str
        One line for ``bayes-ipd --help``.
    configure : callable
        Adds the subcommand's arguments to its parser.
    run : callable
        Runs it on the parsed arguments: prints the readable report (unless
        ``args.json``) and returns the JSON payload.
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Payload]


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object on standard output and nothing else",
    )


def add_pooling(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method",
        default="REML",
        type=str.upper,
        choices=METHODS,
        help="estimator of the between-trial variance tau^2 (default REML; FE: common effect)",
    )
    parser.add_argument(
        "--hksj",
        action="store_true",
        help="Hartung-Knapp-Sidik-Jonkman confidence interval (t on k-1 df)",
    )
    parser.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    parser.add_argument("--forest", metavar="PATH", help="write a forest plot to PATH")


def say(args: argparse.Namespace, text: str) -> None:
    """Print the readable report, unless the output is JSON."""
    if not getattr(args, "json", False):
        print(text)


def progress_reporter(args: argparse.Namespace) -> Callable[[str], None] | None:
    """Where a one-stage fit says what it is doing before a long step ("compiling the
    model ...", "sampling 4 chains ..."): standard error on a terminal; nothing under
    ``--json`` or when standard error is not a terminal."""
    if getattr(args, "json", False) or not sys.stderr.isatty():
        return None
    return lambda message: print(message, file=sys.stderr, flush=True)


def figure_path(output: str | None, inputs: Sequence[str | Path], option: str) -> Path | None:
    """The path a figure option (``--forest``, ``--bubble``) names, checked before any work:
    a known figure format, and not one of the input files (inputs are only read)."""
    if output is None:
        return None
    from bayes_ipd.plots.save import SAVE_FORMATS  # matplotlib: only when a figure is asked for

    path = Path(output)
    for source in inputs:
        if path.resolve() == Path(source).resolve():
            raise UsageError(f"{option} {output!r} is the input file; choose another path")
    if path.suffix.lower() not in SAVE_FORMATS:
        raise UsageError(
            f"{option} {output!r}: the figure format follows the extension, one of "
            f"{', '.join(SAVE_FORMATS)}"
        )
    return path


def forest_path(output: str | None, inputs: Sequence[str | Path]) -> Path | None:
    """The ``--forest`` path, checked as :func:`figure_path` checks it."""
    return figure_path(output, inputs, "--forest")


def write_forest(result: TwoStageResult, path: Path, title: str | None = None) -> str:
    from bayes_ipd.plots.save import save_figure

    return str(save_figure(result.plot_forest(title=title), path))


def report(args: argparse.Namespace, result: TwoStageResult, forest: Path | None) -> Payload:
    """Print a two-stage result (unless JSON), write its forest plot; the JSON payload."""
    payload: Payload = result.to_dict()
    say(args, str(result))
    if forest is not None:
        payload["forest_plot"] = write_forest(result, forest)
        say(args, f"\nForest plot written to {forest}")
    return payload


def configure_data_columns(parser: argparse.ArgumentParser) -> None:
    """The participant-data file and its columns (shared by two-stage and summarise)."""
    parser.add_argument("file", metavar="FILE", help="CSV with one row per participant")
    parser.add_argument("--study", required=True, metavar="COL", help="trial column")
    parser.add_argument("--treatment", required=True, metavar="COL", help="treatment column")
    parser.add_argument("--family", required=True, choices=FAMILY_NAMES, help="outcome type")
    parser.add_argument(
        "--outcome", metavar="COL", help=f"outcome column ({_families_taking('outcome')})"
    )
    parser.add_argument(
        "--time", metavar="COL", help=f"follow-up time column ({_families_taking('time')})"
    )
    parser.add_argument(
        "--event", metavar="COL", help=f"0/1 event column ({_families_taking('event')})"
    )
    parser.add_argument(
        "--exposure",
        metavar="COL",
        help="exposure (person-time) column of a count outcome (poisson, negative_binomial; "
        "default: every participant has exposure 1)",
    )
    parser.add_argument(
        "--levels",
        metavar="A,B,C",
        help="ordinal outcome's levels, lowest first (default: numeric order of its values)",
    )
    parser.add_argument(
        "--covariates", default="", metavar="A,B", help="comma-separated adjustment covariates"
    )
    parser.add_argument(
        "--experimental",
        metavar="LEVEL",
        help="treatment level of the experimental arm, when the treatment is not coded 0/1",
    )
    parser.add_argument(
        "--missing",
        choices=("error", "drop", "impute"),
        default="error",
        help="rows with missing values: refuse (default) or drop them, counted per trial; "
        "impute: keep missing covariate values for multiple imputation (two-stage; a missing "
        "trial, treatment or outcome is still refused)",
    )
    parser.add_argument(
        "--participant",
        metavar="COL",
        help="participant identifier column, checked unique within each trial (one row per "
        "participant) and otherwise unused; with two-stage --visit COL: the participant of "
        "each row of long data (repeated measures)",
    )


def _families_taking(option: str) -> str:
    """The families whose response is given by ``--option`` (``"gaussian, binomial, ..."``),
    read from the registry so that the help follows the families."""
    return ", ".join(
        f.name for f in REGISTRY.values() if any(r.option_name == option for r in f.responses)
    )


def read_rows(args: argparse.Namespace) -> Any:
    """The rows of ``args.file`` as read (the study column as text), read once: a pipe or
    ``<(...)`` cannot be read again for ``--save-aggregate``."""
    from bayes_ipd.data.reading import read_rows as read_rows_csv

    return read_rows_csv(args.file, args.study)


def read_ipd(
    args: argparse.Namespace, covariates: Sequence[str], min_trials: int = 2, rows: Any = None
) -> Any:
    """The participant data named by the data-column arguments (at least ``min_trials``
    trials: one for a site summarising its own trial); ``rows``, when given, is
    :func:`read_rows` of ``args`` already read."""
    from bayes_ipd.data import IPD, Columns
    from bayes_ipd.data.messages import file_row_name
    from bayes_ipd.data.missing import DROP_HINT
    from bayes_ipd.data.reading import build_ipd
    from bayes_ipd.errors import IPDDataError

    responses = response_columns(args)  # a usage error before the file is read
    try:
        return build_ipd(
            IPD,
            Columns,
            read_rows(args) if rows is None else rows,
            row_name=file_row_name(Path(args.file)),
            study=args.study,
            treatment=args.treatment,
            covariates=list(covariates),
            family=args.family,
            missing=args.missing,
            experimental=args.experimental,
            min_trials=min_trials,
            levels=getattr(args, "levels", None),
            participant=getattr(args, "participant", None),
            **responses,
        )
    except IPDDataError as exc:
        # the data layer speaks Python (missing='drop'); on the command line it is an option
        message = str(exc)
        if DROP_HINT not in message:
            raise
        raise IPDDataError(message.replace(DROP_HINT, "pass --missing drop")) from exc


_RESPONSE_OPTIONS = ("outcome", "time", "event", "exposure")


def response_columns(args: argparse.Namespace) -> dict[str, str]:
    """The family's response columns from ``--outcome`` / ``--time`` / ``--event`` /
    ``--exposure`` (an option may name a role of another keyword: ``--exposure`` is a
    count family's ``time=``)."""
    roles = get_family(args.family).responses
    needed = [r.option_name for r in roles if not r.optional]
    takes = {r.option_name for r in roles}
    given = {name: getattr(args, name, None) for name in _RESPONSE_OPTIONS}
    if any(given[n] is None for n in needed) or any(
        given[n] is not None for n in _RESPONSE_OPTIONS if n not in takes
    ):
        wanted = " and ".join(f"--{n}" for n in needed)
        optional = "".join(f" (optionally --{r.option_name})" for r in roles if r.optional)
        others = " / ".join(f"--{n}" for n in _RESPONSE_OPTIONS if n not in takes)
        raise UsageError(f"--family {args.family} needs {wanted}{optional} (and no {others})")
    return {r.role: given[r.option_name] for r in roles if given[r.option_name] is not None}


def split_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


OptionDefault = tuple[str, str, Any]
"""An option as ``(flag, attribute, default)``, e.g. ``("--sparse", "sparse", "none")``."""


def first_given(args: argparse.Namespace, options: Sequence[OptionDefault]) -> str | None:
    """The flag of the first of ``options`` given a value other than its default, if any.

    A mode of a command (``--effect rmst``, ``--visit``) refuses the options that have no
    meaning for it; this finds the one the user gave. An option the parser does not have
    counts as left at its default; an empty value (``--covariates ""``) as not given.
    """
    for flag, name, default in options:
        value = getattr(args, name, default)
        if value != default and value:
            return flag
    return None
