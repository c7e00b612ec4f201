"""``bayes-ipd summarise``: exact per-trial summaries, no participant rows."""

from __future__ import annotations

import argparse
from pathlib import Path

from bayes_ipd.cli.common import (
    Command,
    Payload,
    UsageError,
    add_json,
    configure_data_columns,
    read_ipd,
    say,
    split_names,
)

__all__ = ["COMMAND"]


def _configure_summarise(parser: argparse.ArgumentParser) -> None:
    configure_data_columns(parser)
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
    parser.add_argument(
        "--out", required=True, metavar="PATH", help="summary file (JSON; refused if it exists)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    add_json(parser)


def _run_summarise(args: argparse.Namespace) -> Payload:
    from bayes_ipd.one_stage.summaries import summarise, write_summaries
    from bayes_ipd.spec import ModelSpec

    out = Path(args.out)
    if out.resolve() == Path(args.file).resolve():
        raise UsageError(f"--out {args.out!r} is the input file; choose another path")
    # Checked before reading the data: a mistyped --out must not replace earlier summaries.
    if out.is_dir():
        raise UsageError(f"--out {args.out!r} is a folder; give a file path")
    if (out.exists() or out.is_symlink()) and not args.overwrite:
        raise UsageError(
            f"--out {args.out!r} exists; choose another path, or replace it (--overwrite)"
        )
    covariates = split_names(args.covariates)
    interactions = split_names(args.interactions)
    ipd = read_ipd(args, list(dict.fromkeys((*covariates, *interactions))), min_trials=1)
    cuts = None
    if args.cutpoints:
        try:
            cuts = tuple(float(c) for c in split_names(args.cutpoints))
        except ValueError:
            raise UsageError(f"--cutpoints {args.cutpoints!r}: give numbers, e.g. 1,2.5") from None
    spec = ModelSpec(
        family=ipd.family,
        covariates=tuple(dict.fromkeys((*covariates, *interactions))),
        interactions=tuple(interactions),
        **({"intervals": cuts} if cuts else {}),
    )
    summaries = summarise(ipd, spec)
    write_summaries(summaries, out)
    say(
        args,
        f"{len(summaries)} trial summaries ({ipd.n:,} participants, no participant rows) "
        f"written to {out}",
    )
    return {"file": str(out), "trials": [s.study for s in summaries], "n": ipd.n}


COMMAND = Command(
    "summarise",
    "exact per-trial summaries for a one-stage model (no participant rows leave)",
    _configure_summarise,
    _run_summarise,
)
