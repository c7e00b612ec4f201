"""``two-stage`` options for aggregate-data trials (``--aggregate``) and for saving the
stage-one results (``--save-aggregate``); shared by the subcommands that run stage one."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bayes_ipd.cli.common import UsageError, say, split_names

if TYPE_CHECKING:
    import pandas as pd

    from bayes_ipd.two_stage import AggregateData, TwoStageResult

__all__ = ["add_aggregate_options", "check_save_path", "read_aggregate", "save_stage_one"]


def add_aggregate_options(parser: argparse.ArgumentParser) -> None:
    """``--aggregate FILE`` (with its column names and ``--overlap``), ``--save-aggregate``."""
    parser.add_argument(
        "--aggregate",
        metavar="FILE",
        help="CSV of trials known only by a published estimate and SE, pooled beside the "
        "IPD trials (on the stage-one scale)",
    )
    parser.add_argument(
        "--aggregate-estimate", default="estimate", metavar="COL", help="(default: estimate)"
    )
    parser.add_argument("--aggregate-se", default="se", metavar="COL", help="(default: se)")
    parser.add_argument(
        "--aggregate-study", default="study", metavar="COL", help="(default: study)"
    )
    parser.add_argument(
        "--aggregate-n",
        metavar="COL",
        help="participants column of --aggregate (then every trial keeps its n in the table)",
    )
    parser.add_argument("--aggregate-events", metavar="COL", help="events column of --aggregate")
    parser.add_argument(
        "--overlap",
        choices=("error", "ipd", "aggregate"),
        default="error",
        help="a trial both in FILE and in --aggregate: refuse (default), keep the IPD, or "
        "keep the published estimate",
    )
    parser.add_argument(
        "--save-aggregate",
        metavar="PATH.csv",
        help="write the per-trial estimates, SEs, n, events and trial-level columns to a CSV "
        "that `pool` and `metareg` read (--estimate estimate --se se --study study)",
    )
    parser.add_argument(
        "--trial-columns",
        metavar="A,B",
        help="trial-level columns of FILE to save (default: every column constant within "
        "each trial)",
    )


def check_save_path(args: argparse.Namespace) -> Path | None:
    """The ``--save-aggregate`` path, checked before any work (CSV, not an input file)."""
    if args.save_aggregate is None:
        return None
    path = Path(args.save_aggregate)
    inputs = [args.file] + ([args.aggregate] if args.aggregate else [])
    if any(path.resolve() == Path(source).resolve() for source in inputs):
        raise UsageError(f"--save-aggregate {args.save_aggregate!r} is an input file")
    if path.suffix.lower() != ".csv":
        raise UsageError(f"--save-aggregate {args.save_aggregate!r}: the file must end in .csv")
    return path


def read_aggregate(args: argparse.Namespace) -> AggregateData | None:
    """The ``--aggregate`` trials (SE checked positive and finite per trial), or None."""
    if args.aggregate is None:
        return None
    from bayes_ipd.two_stage import AggregateData

    return AggregateData.read_csv(
        args.aggregate,
        estimate=args.aggregate_estimate,
        se=args.aggregate_se,
        study=args.aggregate_study,
        n=args.aggregate_n,
        events=args.aggregate_events,
    )


def save_stage_one(
    args: argparse.Namespace,
    result: TwoStageResult,
    path: Path,
    skip: list[str],
    rows: pd.DataFrame | None = None,
) -> str:
    """Write the stage-one table with the trial-level columns of ``args.file`` (``rows``:
    the file as already read, so that a pipe is not read twice)."""
    from bayes_ipd.data.reading import read_table
    from bayes_ipd.two_stage.saving import trial_level_frame

    columns = split_names(args.trial_columns) if args.trial_columns else None
    if rows is None:
        rows = read_table(Path(args.file), sep=",", text_columns=(args.study,))
    trial_columns = trial_level_frame(rows, args.study, columns, skip=skip)
    written = result.save_aggregate(path, trial_columns)
    agg = result.per_study
    excluded = [s for s, r in zip(agg.studies, agg.excluded, strict=True) if r is not None]
    note = f" ({len(excluded)} excluded trial(s) not written: {', '.join(excluded)})"
    say(args, f"\nStage-one results written to {written}" + (note if excluded else ""))
    return str(written)
