"""``bayes-ipd two-stage --family survival``: the proportional-hazards test, per-period
effects and the Kaplan-Meier and Schoenfeld-residual figures (``--ph-test``,
``--ph-plot``, ``--effect-intervals``, ``--km-plot``)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bayes_ipd.cli.common import Payload, UsageError, figure_path, say
from bayes_ipd.families import get_family

__all__ = ["SurvivalOptions", "add_survival_options", "survival_options", "write_figures"]


@dataclass(frozen=True)
class SurvivalOptions:
    """The survival options of one run, checked before the data are read."""

    ph_test: bool
    effect_intervals: tuple[float, ...] | None
    ph_plot: Path | None
    km_plot: Path | None


def add_survival_options(parser: argparse.ArgumentParser) -> None:
    """The time-to-event options of ``two-stage``."""
    parser.add_argument(
        "--ph-test",
        action="store_true",
        help="survival: test proportional hazards in each trial's Cox model (Grambsch-"
        "Therneau, as R cox.zph with transform='km'); a warning names each trial that "
        "rejects at 0.05; JSON per_study[i].ph_test",
    )
    parser.add_argument(
        "--ph-plot",
        metavar="PATH",
        help="survival: write the scaled Schoenfeld residuals of the treatment per trial to "
        "PATH (implies --ph-test)",
    )
    parser.add_argument(
        "--effect-intervals",
        metavar="T1,T2",
        help="survival: cut points of follow-up periods [0,T1), [T1,T2), [T2,inf): one log "
        "hazard ratio per period per trial (Cox on episode-split data), pooled per period "
        "(JSON by_interval); the main result stays the single hazard ratio",
    )
    parser.add_argument(
        "--km-plot",
        metavar="PATH",
        help="survival: write the Kaplan-Meier curves of both arms per trial, with numbers "
        "at risk, to PATH",
    )


def survival_options(args: argparse.Namespace) -> SurvivalOptions:
    """The options checked: survival family only, figure paths, cut points."""
    from bayes_ipd.two_stage.periods import parse_cut_points

    given = {
        "--ph-test": args.ph_test,
        "--ph-plot": args.ph_plot,
        "--effect-intervals": args.effect_intervals,
        "--km-plot": args.km_plot,
    }
    asked = [name for name, value in given.items() if value]
    family = get_family(args.family, UsageError)
    if asked and not family.supports_time_effects:
        raise UsageError(f"{', '.join(asked)}: for a time-to-event outcome (--family survival)")
    if asked and getattr(args, "effect", None) == "rmst":
        raise UsageError(f"{', '.join(asked)}: for the hazard-ratio analysis, not --effect rmst")
    if asked and args.aggregate is not None and args.effect_intervals is not None:
        raise UsageError(
            "--effect-intervals needs participant rows in every trial; the --aggregate "
            "trials (one published hazard ratio each) have no periods"
        )
    if args.effect_intervals is not None and ":" in args.pool_var:
        raise UsageError(
            f"--effect-intervals pools the treatment effect per period; not with --pool-var "
            f"{args.pool_var}"
        )
    cuts = None if args.effect_intervals is None else parse_cut_points(args.effect_intervals)
    return SurvivalOptions(
        ph_test=bool(args.ph_test or args.ph_plot),
        effect_intervals=cuts,
        ph_plot=figure_path(args.ph_plot, [args.file], "--ph-plot"),
        km_plot=figure_path(args.km_plot, [args.file], "--km-plot"),
    )


def write_figures(
    args: argparse.Namespace, options: SurvivalOptions, result: Any, ipd: Any, payload: Payload
) -> None:
    """Write ``--ph-plot`` and ``--km-plot``; their paths into ``payload``."""
    from bayes_ipd.plots.save import save_figure

    if options.ph_plot is not None and result.ph_tests is not None:
        fig = result.ph_tests.plot(title="Scaled Schoenfeld residuals of the treatment")
        payload["ph_plot"] = str(save_figure(fig, options.ph_plot))
        say(args, f"\nProportional-hazards plot written to {options.ph_plot}")
    if options.km_plot is not None:
        from bayes_ipd.two_stage.km_overlay import km_overlay

        payload["km_plot"] = str(save_figure(km_overlay(ipd), options.km_plot))
        say(args, f"\nKaplan-Meier plot written to {options.km_plot}")
