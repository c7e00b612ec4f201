"""``bayes-ipd two-stage``: one regression per trial, then pooling."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from bayes_ipd.cli.aggregate_io import (
    add_aggregate_options,
    check_save_path,
    read_aggregate,
    save_stage_one,
)
from bayes_ipd.cli.common import (
    Command,
    Payload,
    UsageError,
    add_json,
    add_pooling,
    configure_data_columns,
    figure_path,
    forest_path,
    read_ipd,
    read_rows,
    report,
    response_columns,
    say,
    split_names,
)
from bayes_ipd.cli.two_stage_missing import add_missing_options, imputation_options
from bayes_ipd.cli.two_stage_repeated import (
    add_repeated_options,
    repeated_requested,
    run_repeated,
)
from bayes_ipd.cli.two_stage_rmst import add_rmst_options, rmst_requested, run_rmst
from bayes_ipd.cli.two_stage_survival import (
    add_survival_options,
    survival_options,
    write_figures,
)
from bayes_ipd.families.sparse import SPARSE_METHODS

__all__ = ["COMMAND", "SPLINE_DEFAULT_KNOTS", "SPLINE_PERCENTILES"]

SPLINE_DEFAULT_KNOTS = 4
"""Knots of ``--spline COVARIATE`` without ``:KNOTS``."""
SPLINE_PERCENTILES = (5, 25, 50, 75, 95)
"""Percentiles of the pooled covariate at which the curve is printed by default."""


def _configure_two_stage(parser: argparse.ArgumentParser) -> None:
    configure_data_columns(parser)
    parser.add_argument(
        "--pool-var",
        default="treat",
        metavar="TERM",
        help="pooled term: 'treat' (default) or 'treat:COVARIATE' (within-trial interaction)",
    )
    parser.add_argument(
        "--sparse",
        choices=tuple(SPARSE_METHODS),
        default="none",
        help="binomial trials with a zero cell: none (default: excluded), cc (0.5 added to "
        "each cell), tacc (treatment-arm / opposite-arm correction, Sweeting 2004), firth "
        "(Firth-penalised logistic regression in every trial); a trial with no events in "
        "either arm is always excluded",
    )
    add_pooling(parser)
    add_missing_options(parser)
    add_rmst_options(parser)
    add_repeated_options(parser)
    add_survival_options(parser)
    _add_spline_options(parser)
    add_aggregate_options(parser)
    add_json(parser)


def _add_spline_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spline",
        metavar="COVARIATE[:KNOTS]",
        help="also the pooled effect against COVARIATE, a restricted cubic spline with 3, 4 "
        f"or 5 knots (default {SPLINE_DEFAULT_KNOTS}) at Harrell's quantiles: per-trial "
        "spline interactions (within trials) pooled by multivariate REML, Wald intervals at "
        "--level, whatever --method and --hksj say of the single pooled effect",
    )
    parser.add_argument(
        "--spline-at",
        metavar="X,Y",
        help="covariate values at which the curve is printed (default: the 5th, 25th, 50th, "
        "75th and 95th percentiles of the pooled values)",
    )
    parser.add_argument(
        "--curve", metavar="PATH", help="write the --spline effect curve plot to PATH"
    )


def _spline_option(text: str | None) -> tuple[str, int] | None:
    """``"age:3"`` -> ``("age", 3)``; ``"age"`` -> ``("age", SPLINE_DEFAULT_KNOTS)``."""
    if text is None:
        return None
    covariate, sep, knots = text.rpartition(":")
    if not sep or not knots.strip().isdigit():
        covariate, knots = text, str(SPLINE_DEFAULT_KNOTS)
    covariate = covariate.strip()
    if not covariate:
        raise UsageError(f"--spline {text!r} names no covariate")
    from bayes_ipd.splines import KNOT_QUANTILES  # numpy, pandas: only when --spline is given

    if int(knots) not in KNOT_QUANTILES:
        *first, last = (str(n) for n in KNOT_QUANTILES)
        allowed = f"{', '.join(first)} or {last}"
        raise UsageError(f"--spline {text!r}: a restricted cubic spline takes {allowed} knots")
    return covariate, int(knots)


def _spline_values(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in split_names(text)]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) for v in values):
        raise UsageError(f"--spline-at {text!r}: expected finite numbers separated by commas")
    return values


def _check_spline_usage(args: argparse.Namespace, spline: tuple[str, int] | None) -> None:
    if spline is None:
        for option, value in (("--spline-at", args.spline_at), ("--curve", args.curve)):
            if value is not None:
                raise UsageError(f"{option} is for the effect curve of --spline COVARIATE")
    elif args.aggregate is not None:
        raise UsageError(
            "--spline needs participant rows in every trial; the --aggregate trials (one "
            "published estimate each) cannot enter the effect curve"
        )


def _interaction_covariate(pool_var: str) -> str | None:
    _, sep, covariate = pool_var.partition(":")
    if not sep:
        return None
    return covariate.strip() or None


def _run_two_stage(args: argparse.Namespace) -> Payload:
    from bayes_ipd.two_stage import two_stage

    if repeated_requested(args):
        return run_repeated(args)
    survival = survival_options(args)
    if rmst_requested(args):
        return run_rmst(args)
    forest = forest_path(args.forest, [args.file])
    spline = _spline_option(args.spline)
    _check_spline_usage(args, spline)
    values = _spline_values(args.spline_at)
    curve_path = figure_path(args.curve, [args.file], "--curve")
    save_path = check_save_path(args)
    imputing = imputation_options(args)
    adjust = split_names(args.covariates)
    modifier = _interaction_covariate(args.pool_var)
    extra = [c for c in (modifier, spline[0] if spline else None) if c and c not in adjust]
    response_columns(args)  # a usage error before the file is read
    rows = read_rows(args)  # once: FILE may be a pipe, and --save-aggregate reads it too
    ipd = read_ipd(args, adjust + list(dict.fromkeys(extra)), rows=rows)
    result = two_stage(
        ipd,
        covariates=adjust,
        pool_var=args.pool_var,
        method=args.method,
        hksj=args.hksj,
        level=args.level,
        aggregate=read_aggregate(args),
        overlap=args.overlap,
        sparse=args.sparse,
        **imputing,
        ph_test=survival.ph_test,
        effect_intervals=survival.effect_intervals,
    )
    if args.sparse != "none":
        say(args, f"Sparse trials: {args.sparse} ({SPARSE_METHODS[args.sparse]})\n")
    payload = report(args, result, forest)
    write_figures(args, survival, result, ipd, payload)
    if spline is not None:
        payload["effect_curve"] = _effect_curve(args, ipd, spline, adjust, values, curve_path)
    if save_path is not None:
        roles = [args.treatment, args.outcome, args.time, args.event, args.exposure, *adjust]
        payload["saved_aggregate"] = save_stage_one(args, result, save_path, roles, rows)
    return payload


def _effect_curve(
    args: argparse.Namespace,
    ipd: Any,
    spline: tuple[str, int],
    adjust: list[str],
    values: list[float] | None,
    curve_path: Path | None,
) -> Payload:
    """Fit, print and plot the ``--spline`` curve. JSON: :meth:`TwoStageEffectCurve.to_dict`
    at the printed values, plus ``"at"``: ``"given"`` (``--spline-at``) or ``"percentiles"``
    (with ``"percentiles"``: :data:`SPLINE_PERCENTILES`)."""
    import numpy as np

    from bayes_ipd.two_stage.splines import two_stage_effect_curve

    covariate, knots = spline
    curve = two_stage_effect_curve(
        ipd, covariate, knots, covariates=[c for c in adjust if c != covariate], level=args.level
    )
    choice: Payload = {"at": "given"}
    if values is None:
        pooled = ipd.covariates[covariate].to_numpy(np.float64)
        values = np.percentile(pooled, SPLINE_PERCENTILES).tolist()
        choice = {"at": "percentiles", "percentiles": list(SPLINE_PERCENTILES)}
    table = curve.at(values)
    say(args, f"\n{table}")
    if choice["at"] == "percentiles":
        listed = ", ".join(f"{p}th" for p in SPLINE_PERCENTILES)
        say(args, f"(at the {listed} percentiles of the pooled {covariate!r} values)")
    payload: Payload = {**table.to_dict(), **choice}
    if curve_path is not None:
        from bayes_ipd.plots.save import save_figure

        payload["curve_plot"] = str(save_figure(curve.plot(), curve_path))
        say(args, f"\nEffect curve plot written to {curve_path}")
    return payload


COMMAND = Command(
    "two-stage",
    "two-stage IPD meta-analysis: one regression per trial, then pooling",
    _configure_two_stage,
    _run_two_stage,
)
