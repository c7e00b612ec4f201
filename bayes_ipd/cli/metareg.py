"""``bayes-ipd metareg``: meta-regression of per-trial estimates on trial-level moderators."""

from __future__ import annotations

import argparse

from bayes_ipd.cli.common import (
    Command,
    Payload,
    UsageError,
    add_json,
    figure_path,
    say,
    split_names,
)
from bayes_ipd.conventions import METAREG_METHODS, SCALE_CODES

__all__ = ["COMMAND"]


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="CSV with one row per trial")
    parser.add_argument("--estimate", required=True, metavar="COL", help="estimate column")
    spread = parser.add_mutually_exclusive_group(required=True)
    spread.add_argument("--se", metavar="COL", help="standard-error column")
    spread.add_argument("--var", metavar="COL", help="sampling-variance column (e.g. vi)")
    parser.add_argument(
        "--mods", required=True, metavar="A,B", help="comma-separated moderator columns"
    )
    parser.add_argument("--study", metavar="COL", help="trial-label column (default: row number)")
    parser.add_argument(
        "--excluded",
        metavar="COL",
        help="column of exclusion reasons (non-empty: the trial is left out, and listed)",
    )
    parser.add_argument("--scale", choices=SCALE_CODES, help="effect scale of the estimates")
    parser.add_argument(
        "--method",
        default="REML",
        type=str.upper,
        choices=METAREG_METHODS,
        help="estimator of the residual tau^2 (default REML; FE: no random effect)",
    )
    parser.add_argument(
        "--hksj",
        action="store_true",
        help="Knapp-Hartung: t tests and F test of the moderators on (m, k-p) df",
    )
    parser.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    parser.add_argument(
        "--at",
        action="append",
        default=[],
        metavar="NAME=VALUE,...",
        help="predict the average effect at these moderator values (repeatable)",
    )
    parser.add_argument(
        "--bubble", metavar="PATH", help="write a bubble plot (first moderator) to PATH"
    )
    add_json(parser)


def _parse_at(texts: list[str]) -> list[dict[str, float]]:
    points = []
    for text in texts:
        point: dict[str, float] = {}
        for item in split_names(text):
            name, sep, value = item.partition("=")
            try:
                point[name.strip()] = float(value)
            except ValueError:
                sep = ""
            if not sep or not name.strip():
                raise UsageError(f"--at {text!r}: expected NAME=NUMBER pairs separated by commas")
        points.append(point)
    return points


def _run(args: argparse.Namespace) -> Payload:
    import pandas as pd

    from bayes_ipd.two_stage.metareg import meta_regression_frame, read_trial_table

    mods = split_names(args.mods)
    if not mods:
        raise UsageError("--mods names no column")
    bubble = figure_path(args.bubble, [args.file], "--bubble")
    points = _parse_at(args.at)
    table = read_trial_table(args.file, args.study)
    fit = meta_regression_frame(
        table,
        estimate=args.estimate,
        se=args.se,
        var=args.var,
        mods=mods,
        study=args.study,
        excluded=args.excluded,
        scale=args.scale,
        method=args.method,
        hksj=args.hksj,
        level=args.level,
    )
    payload: Payload = fit.to_dict()
    say(args, str(fit))
    if points:
        predictions = fit.predict(pd.DataFrame(points))
        payload["predictions"] = predictions.to_dict(orient="records")
        say(args, "\nPredicted average effect:\n" + predictions.to_string(index=False))
    if bubble is not None:
        from bayes_ipd.plots.save import save_figure

        payload["bubble_plot"] = str(save_figure(fit.plot_bubble(), bubble))
        say(args, f"\nBubble plot written to {bubble}")
    return payload


COMMAND = Command(
    "metareg",
    "meta-regression of per-trial estimates on trial-level moderators (Knapp-Hartung)",
    _configure,
    _run,
)
