"""The ``bayes-ipd`` command line.

Subcommands::

    bayes-ipd pool FILE --estimate COL (--se COL | --var COL) [--method M] [--hksj] ...
    bayes-ipd two-stage FILE --study COL --treatment COL --family F (--outcome COL |
              --time COL --event COL) [--covariates a,b] [--pool-var TERM] ...
    bayes-ipd demo [--out DIR] [--json]

Contracts: with ``--json`` the only thing on standard output is one JSON object (warnings
and library output go to standard error). On bad input the process exits with status 2 and
the last line on standard error starts with ``error:`` and names the column, trial or value
at fault; no traceback is shown. Input files are only read.

A subcommand is a :class:`Command` in :data:`COMMANDS`: a function adding its arguments to
its parser and a function running it, which prints its readable report itself (unless
``--json``) and returns the JSON payload.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import matplotlib
import numpy as np

from bayes_ipd.conventions import METHODS, SCALE_CODES, json_ready
from bayes_ipd.errors import BayesIPDError
from bayes_ipd.families import FAMILY_NAMES, get_family
from bayes_ipd.plots import SAVE_FORMATS, save_figure

if TYPE_CHECKING:
    from bayes_ipd.two_stage import TwoStageResult

__all__ = ["COMMANDS", "Command", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

PROG = "bayes-ipd"
DEFAULT_DEMO_DIR = Path("bayes_ipd_demo")
METHOD_CHOICES = METHODS
SCALE_CHOICES = SCALE_CODES
FAMILY_CHOICES = FAMILY_NAMES

Payload = dict[str, Any]

QUIET_WARNINGS = (
    ".*could not link to a BLAS.*",  # PyTensor's C backend; the samplers do not need it
    ".*ArviZ is undergoing a major refactor.*",
)
"""Library notices that say nothing about the analysis, kept off the terminal."""


class _UsageError(Exception):
    """Bad command-line usage (argparse's complaint, or a rule it cannot express)."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing and exiting, so that :func:`main`
    writes every error the same way."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message, self.format_usage())


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


# --- shared pieces -----------------------------------------------------------------------


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object on standard output and nothing else",
    )


def _add_pooling(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method",
        default="REML",
        type=str.upper,
        choices=METHOD_CHOICES,
        help="estimator of the between-trial variance tau^2 (default REML; FE: common effect)",
    )
    parser.add_argument(
        "--hksj",
        action="store_true",
        help="Hartung-Knapp-Sidik-Jonkman confidence interval (t on k-1 df)",
    )
    parser.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    parser.add_argument("--forest", metavar="PATH", help="write a forest plot to PATH")


def _say(args: argparse.Namespace, text: str) -> None:
    """Print the readable report, unless the output is JSON."""
    if not getattr(args, "json", False):
        print(text)


def _forest_path(output: str | None, inputs: Sequence[str | Path]) -> Path | None:
    """The forest plot's path, checked before any work: a known figure format, and not
    one of the input files (inputs are only read)."""
    if output is None:
        return None
    path = Path(output)
    for source in inputs:
        if path.resolve() == Path(source).resolve():
            raise _UsageError(f"--forest {output!r} is the input file; choose another path")
    if path.suffix.lower() not in SAVE_FORMATS:
        raise _UsageError(
            f"--forest {output!r}: the figure format follows the extension, one of "
            f"{', '.join(SAVE_FORMATS)}"
        )
    return path


def _write_forest(result: TwoStageResult, path: Path, title: str | None = None) -> str:
    return str(save_figure(result.plot_forest(title=title), path))


def _report(args: argparse.Namespace, result: TwoStageResult, forest: Path | None) -> Payload:
    """Print a two-stage result (unless JSON), write its forest plot; the JSON payload."""
    payload: Payload = result.to_dict()
    _say(args, str(result))
    if forest is not None:
        payload["forest_plot"] = _write_forest(result, forest)
        _say(args, f"\nForest plot written to {forest}")
    return payload


# --- pool --------------------------------------------------------------------------------


def _configure_pool(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="CSV with one row per trial")
    parser.add_argument("--estimate", required=True, metavar="COL", help="estimate column")
    spread = parser.add_mutually_exclusive_group(required=True)
    spread.add_argument("--se", metavar="COL", help="standard-error column")
    spread.add_argument("--var", metavar="COL", help="sampling-variance column (e.g. vi)")
    parser.add_argument("--study", metavar="COL", help="trial-label column (default: row number)")
    parser.add_argument(
        "--scale", choices=SCALE_CHOICES, help="effect scale (log scales are also exponentiated)"
    )
    _add_pooling(parser)
    _add_json(parser)


def _run_pool(args: argparse.Namespace) -> Payload:
    from bayes_ipd.two_stage import AggregateData, TwoStageResult, pool_aggregate

    forest = _forest_path(args.forest, [args.file])
    agg = AggregateData.read_csv(
        args.file,
        estimate=args.estimate,
        se=args.se or args.var,
        study=args.study,
        scale=args.scale,
    )
    if args.var is not None:
        # AggregateData checked the variances as it checks SEs: positive and finite.
        agg = dataclasses.replace(agg, se=np.sqrt(agg.se))
    pooled = pool_aggregate(agg, method=args.method, hksj=args.hksj, level=args.level)
    result = TwoStageResult(per_study=agg, pooled=pooled)
    return _report(args, result, forest)


# --- two-stage ---------------------------------------------------------------------------


def _configure_data_columns(parser: argparse.ArgumentParser) -> None:
    """The participant-data file and its columns (shared by two-stage and summarise)."""
    parser.add_argument("file", metavar="FILE", help="CSV with one row per participant")
    parser.add_argument("--study", required=True, metavar="COL", help="trial column")
    parser.add_argument("--treatment", required=True, metavar="COL", help="treatment column")
    parser.add_argument("--family", required=True, choices=FAMILY_CHOICES, help="outcome type")
    parser.add_argument("--outcome", metavar="COL", help="outcome column (gaussian, binomial)")
    parser.add_argument("--time", metavar="COL", help="follow-up time column (survival)")
    parser.add_argument("--event", metavar="COL", help="0/1 event column (survival)")
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
        choices=("error", "drop"),
        default="error",
        help="rows with missing values: refuse (default) or drop them, counted per trial",
    )


def _configure_two_stage(parser: argparse.ArgumentParser) -> None:
    _configure_data_columns(parser)
    parser.add_argument(
        "--pool-var",
        default="treat",
        metavar="TERM",
        help="pooled term: 'treat' (default) or 'treat:COVARIATE' (within-trial interaction)",
    )
    _add_pooling(parser)
    _add_json(parser)


def _read_ipd(args: argparse.Namespace, covariates: Sequence[str]) -> Any:
    """The participant data named by the data-column arguments."""
    from bayes_ipd.data import IPD

    return IPD.read_csv(
        args.file,
        study=args.study,
        treatment=args.treatment,
        covariates=list(covariates),
        family=args.family,
        missing=args.missing,
        experimental=args.experimental,
        **_response_columns(args),
    )


_RESPONSE_OPTIONS = ("outcome", "time", "event")


def _response_columns(args: argparse.Namespace) -> dict[str, str]:
    """The family's response columns from ``--outcome`` / ``--time`` / ``--event``."""
    needed = get_family(args.family).response_names
    given = {name: getattr(args, name) for name in _RESPONSE_OPTIONS}
    if any(given[n] is None for n in needed) or any(
        given[n] is not None for n in _RESPONSE_OPTIONS if n not in needed
    ):
        wanted = " and ".join(f"--{n}" for n in needed)
        others = " / ".join(f"--{n}" for n in _RESPONSE_OPTIONS if n not in needed)
        raise _UsageError(f"--family {args.family} needs {wanted} (and no {others})")
    return {name: given[name] for name in needed}


def _split_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _interaction_covariate(pool_var: str) -> str | None:
    _, sep, covariate = pool_var.partition(":")
    if not sep:
        return None
    return covariate.strip() or None


def _run_two_stage(args: argparse.Namespace) -> Payload:
    from bayes_ipd.two_stage import two_stage

    forest = _forest_path(args.forest, [args.file])
    adjust = _split_names(args.covariates)
    modifier = _interaction_covariate(args.pool_var)
    ipd = _read_ipd(args, adjust + ([modifier] if modifier and modifier not in adjust else []))
    result = two_stage(
        ipd,
        covariates=adjust,
        pool_var=args.pool_var,
        method=args.method,
        hksj=args.hksj,
        level=args.level,
    )
    return _report(args, result, forest)


# --- run (one-stage + two-stage from a TOML analysis spec) ---------------------------------


def _configure_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="analysis spec (TOML), e.g. models/X.toml")
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="write summary.json, posterior.nc, comparison_forest.png and ppc.png into DIR",
    )
    for name in ("draws", "tune", "chains", "seed"):
        parser.add_argument(
            f"--{name}", type=int, metavar="N", help=f"override the spec's sampler {name}"
        )
    _add_json(parser)


def _sampler_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out = {n: getattr(args, n) for n in ("draws", "tune", "chains", "seed")}
    out = {k: v for k, v in out.items() if v is not None}
    if args.json:
        out["progress"] = False
    return out


def _check_out_dir(out_dir: str | None, spec_path: str, spec: Any) -> None:
    """Before any fitting: no file ``run --out`` would write is an input (the data file,
    a summaries file, the spec itself). Inputs are only read."""
    if out_dir is None:
        return
    from bayes_ipd.analysis import output_paths

    inputs = [Path(spec_path), *([spec.data.path] if spec.data.path is not None else [])]
    inputs += list(spec.data.summaries)
    resolved = {Path(p).resolve(): Path(p) for p in inputs}
    for path in output_paths(out_dir).values():
        source = resolved.get(path.resolve())
        if source is not None:
            raise _UsageError(
                f"--out {out_dir!r}: would overwrite the input file {str(source)!r} "
                f"(it writes {path.name}); choose another folder"
            )


def _run_run(args: argparse.Namespace) -> Payload:
    from bayes_ipd.analysis import run_analysis
    from bayes_ipd.spec import SamplerSettings, read_analysis_spec

    spec = read_analysis_spec(args.spec)
    _check_out_dir(args.out, args.spec, spec)
    overrides = _sampler_overrides(args)
    if overrides:
        sampler = SamplerSettings.from_dict({**spec.sampler.to_dict(), **overrides})
        spec = dataclasses.replace(spec, sampler=sampler)
    result = run_analysis(spec)
    payload = result.to_dict()
    _say(args, repr(result.one_stage))
    if result.two_stage is not None:
        _say(args, "\nTwo-stage route (same data)\n" + str(result.two_stage))
    if result.comparison is not None:
        _say(args, "\nOne-stage vs two-stage\n" + repr(result.comparison))
    if args.out:
        written = result.write(args.out)
        payload["files"] = {kind: str(path) for kind, path in written.items()}
        _say(args, "\nWritten: " + ", ".join(str(p) for p in written.values()))
    return payload


# --- summarise (per-trial exact summaries, no participant rows) --------------------------


def _configure_summarise(parser: argparse.ArgumentParser) -> None:
    _configure_data_columns(parser)
    parser.add_argument(
        "--interactions", default="", metavar="A,B", help="covariates that modify the effect"
    )
    parser.add_argument(
        "--cutpoints",
        default=None,
        metavar="T1,T2",
        help="survival: interior cut points of the baseline hazard (needed to combine "
        "summaries from several sites)",
    )
    parser.add_argument("--out", required=True, metavar="PATH", help="summary file (JSON)")
    _add_json(parser)


def _run_summarise(args: argparse.Namespace) -> Payload:
    from bayes_ipd.one_stage.summaries import summarise, write_summaries
    from bayes_ipd.spec import ModelSpec

    out = Path(args.out)
    if out.resolve() == Path(args.file).resolve():
        raise _UsageError(f"--out {args.out!r} is the input file; choose another path")
    covariates = _split_names(args.covariates)
    interactions = _split_names(args.interactions)
    ipd = _read_ipd(args, list(dict.fromkeys((*covariates, *interactions))))
    cuts = None
    if args.cutpoints:
        try:
            cuts = tuple(float(c) for c in _split_names(args.cutpoints))
        except ValueError:
            raise _UsageError(f"--cutpoints {args.cutpoints!r}: give numbers, e.g. 1,2.5") from None
    spec = ModelSpec(
        family=ipd.family,
        covariates=tuple(dict.fromkeys((*covariates, *interactions))),
        interactions=tuple(interactions),
        **({"intervals": cuts} if cuts else {}),
    )
    summaries = summarise(ipd, spec)
    write_summaries(summaries, out)
    _say(
        args,
        f"{len(summaries)} trial summaries ({ipd.n:,} participants, no participant rows) "
        f"written to {out}",
    )
    return {"file": str(out), "trials": [s.study for s in summaries], "n": ipd.n}


# --- demo --------------------------------------------------------------------------------


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default=str(DEFAULT_DEMO_DIR),
        metavar="DIR",
        help=f"folder for the figures (default ./{DEFAULT_DEMO_DIR}/)",
    )
    _add_json(parser)


def _run_demo(args: argparse.Namespace) -> Payload:
    from bayes_ipd.analysis import run_demo

    return run_demo(args.out, say=None if args.json else print)


# --- the registry and the entry point ----------------------------------------------------

COMMANDS: list[Command] = [
    Command(
        "pool",
        "pool per-trial estimates and standard errors (FE, DL, REML, PM, ML; HKSJ)",
        _configure_pool,
        _run_pool,
    ),
    Command(
        "two-stage",
        "two-stage IPD meta-analysis: one regression per trial, then pooling",
        _configure_two_stage,
        _run_two_stage,
    ),
    Command(
        "run",
        "one-stage Bayesian model and two-stage route from a TOML analysis spec",
        _configure_run,
        _run_run,
    ),
    Command(
        "summarise",
        "exact per-trial summaries for a one-stage model (no participant rows leave)",
        _configure_summarise,
        _run_summarise,
    ),
    Command(
        "demo",
        "two-stage and one-stage analyses of the shipped BCG vaccine trials, with figures",
        _configure_demo,
        _run_demo,
    ),
]
"""Subcommands in the order ``--help`` lists them; a new one is appended here."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand in :data:`COMMANDS`."""
    parser = _Parser(
        prog=PROG,
        description="Individual-participant-data meta-analysis of randomised trials.",
    )
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
    print(f"warning: {_one_line(str(message))}", file=sys.stderr)


@contextlib.contextmanager
def _quiet_run(json_mode: bool) -> Iterator[None]:
    """Warnings as ``warning:`` lines on stderr; with JSON, stray output to stderr too."""
    matplotlib.use("Agg")
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
    except _UsageError as exc:
        return _error(str(exc), exc.usage)
    except BayesIPDError as exc:
        return _error(str(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _error(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the contract: an error line, never a traceback
        print(
            f"error: unexpected failure ({type(exc).__name__}): {_one_line(str(exc))}",
            file=sys.stderr,
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
