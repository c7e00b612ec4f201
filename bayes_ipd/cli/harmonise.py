"""``bayes-ipd harmonise``: apply ``[harmonise]`` rules to participant rows and write the
harmonised rows and the log.

Two forms: ``bayes-ipd harmonise SPEC`` takes the rows, the trial and treatment columns and
the rules from an analysis spec (a file, or a shipped spec's name), exactly as ``run``
applies them; ``bayes-ipd harmonise FILE --rules TOML --study COL`` takes a rows CSV and the
``[harmonise]`` table of a TOML file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bayes_ipd.cli.common import Command, Payload, UsageError, add_json, say

__all__ = ["COMMAND"]


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        metavar="SPEC-or-FILE",
        help="an analysis spec with a [harmonise] section (file or shipped name), or, with "
        "--rules, a CSV with one row per participant",
    )
    parser.add_argument(
        "--rules",
        metavar="TOML",
        help="TOML file with a [harmonise] table (a rules file or an analysis spec), applied "
        "to the CSV FILE",
    )
    parser.add_argument("--study", metavar="COL", help="trial column (FILE form; required)")
    parser.add_argument(
        "--treatment", metavar="COL", help="treatment column (needed by standardise rules)"
    )
    parser.add_argument("--out", metavar="CSV", help="write the harmonised rows to CSV")
    parser.add_argument("--log", metavar="CSV", help="write the harmonisation log to CSV")
    add_json(parser)


def _inputs(args: argparse.Namespace) -> tuple[Any, Any, str, str | None, list[Path]]:
    """``(rows path, rules, study, treatment, every input)`` of either form."""
    if args.rules is None:
        from bayes_ipd.errors import SpecError
        from bayes_ipd.models import resolve_spec
        from bayes_ipd.spec import read_analysis_spec

        path = resolve_spec(args.source)
        spec = read_analysis_spec(path)
        if spec.harmonise is None:
            raise SpecError(f"{args.source}: no [harmonise] section (or give FILE --rules TOML)")
        study = args.study or spec.data.study
        treatment = args.treatment or spec.data.treatment
        return spec.data.path, spec.harmonise, study, treatment, [path, Path(spec.data.path)]
    from bayes_ipd.data.harmonise_rules import read_rules

    if args.study is None:
        raise UsageError("FILE --rules TOML needs --study COL (the trial column)")
    rules = read_rules(args.rules)
    inputs = [Path(args.source), Path(args.rules)]
    return args.source, rules, args.study, args.treatment, inputs


def _check_outputs(args: argparse.Namespace, inputs: list[Path]) -> None:
    """No output names an input, and the two outputs differ."""
    resolved = {p.resolve() for p in inputs}
    named = [(opt, getattr(args, opt)) for opt in ("out", "log") if getattr(args, opt)]
    for option, path in named:
        if Path(path).resolve() in resolved:
            raise UsageError(f"--{option} {path!r} is an input file; choose another path")
    if len(named) == 2 and Path(args.out).resolve() == Path(args.log).resolve():
        raise UsageError("--out and --log name the same file")


def _run(args: argparse.Namespace) -> Payload:
    from bayes_ipd.data.harmonise import harmonise
    from bayes_ipd.data.reading import read_rows

    rows_path, rules, study, treatment, inputs = _inputs(args)
    _check_outputs(args, inputs)
    rows = read_rows(rows_path, study)
    frame, log = harmonise(rows, rules, study=study, treatment=treatment)
    say(args, str(log))
    payload: Payload = {"log": log.to_dict(), "rows": len(frame), "out": None, "log_file": None}
    if args.out:
        frame.to_csv(args.out, index=False, encoding="utf-8")
        payload["out"] = args.out
        say(args, f"\nHarmonised rows written to {args.out}")
    if args.log:
        payload["log_file"] = str(log.to_csv(args.log))
        say(args, f"Log written to {args.log}")
    return payload


COMMAND = Command(
    "harmonise",
    "apply [harmonise] rules (rename, recode, convert units, crosswalk, standardise) of a "
    "spec, or of a rules file to a rows CSV; print and write the log",
    _configure,
    _run,
)
