"""``bayes-ipd two-stage --participant ID --visit VISIT``: repeated measures (long data).

The options are added to ``two-stage`` by :func:`add_repeated_options`;
:func:`repeated_requested` tells ``two-stage`` to hand the run to :func:`run_repeated`:
a per-trial MMRM, each visit pooled, the visits pooled jointly
(:func:`bayes_ipd.two_stage.repeated.two_stage_repeated`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bayes_ipd.cli.common import (
    Payload,
    UsageError,
    figure_path,
    first_given,
    forest_path,
    read_rows,
    report,
    say,
    split_names,
)
from bayes_ipd.families import get_family

if TYPE_CHECKING:
    from bayes_ipd.two_stage.repeated_result import RepeatedTwoStageResult

__all__ = ["add_repeated_options", "repeated_requested", "run_repeated"]

COVARIANCE_CHOICES = ("unstructured", "cs", "ar1")
"""``--covariance``: a participant's visits in each trial's MMRM."""

BETWEEN_CHOICES = ("unstructured", "cs")
"""``--between``: the per-visit effects across trials in the joint pooling."""

# options of two-stage that have no meaning for repeated measures, with their defaults
_REFUSED = (
    ("--pool-var", "pool_var", "treat"),
    ("--sparse", "sparse", "none"),
    ("--spline", "spline", None),
    ("--aggregate", "aggregate", None),
    ("--save-aggregate", "save_aggregate", None),
    ("--effect-intervals", "effect_intervals", None),
    ("--ph-test", "ph_test", False),
    ("--ph-plot", "ph_plot", None),
    ("--km-plot", "km_plot", None),
    ("--imputations", "imputations", None),
    ("--horizon", "horizon", None),
    ("--levels", "levels", None),
)


def add_repeated_options(parser: argparse.ArgumentParser) -> None:
    """``--visit``, ``--visit-order``, ``--primary-visit``, ``--covariance``, ``--between``,
    ``--plot``, ``--means-plot``."""
    parser.add_argument(
        "--visit",
        metavar="COL",
        help="visit column of long data (one row per participant and visit; needs "
        "--participant; gaussian): an MMRM per trial, then each visit pooled and the visits "
        "pooled jointly (multivariate REML)",
    )
    parser.add_argument(
        "--visit-order",
        metavar="A,B,C",
        help="the order of named visits (required for names; numeric visits are ordered by value)",
    )
    parser.add_argument(
        "--primary-visit",
        metavar="V",
        help="the visit reported as the main result (default: the last)",
    )
    parser.add_argument(
        "--covariance",
        choices=COVARIANCE_CHOICES,
        default=None,
        help="covariance of a participant's visits in each trial's MMRM: unstructured "
        "(default), cs (compound symmetry) or ar1",
    )
    parser.add_argument(
        "--between",
        choices=BETWEEN_CHOICES,
        default=None,
        help="between-trial covariance of the per-visit effects in the joint pooling: "
        "unstructured (default) or cs (compound symmetric)",
    )
    parser.add_argument(
        "--plot",
        metavar="PATH",
        help="with --visit: write the pooled effect over visits (per-visit estimates with "
        "their CI band, the multivariate estimates, each trial's effects) to PATH",
    )
    parser.add_argument(
        "--means-plot",
        metavar="PATH",
        help="with --visit: write the observed mean outcome over visits per arm, one panel "
        "per trial, to PATH",
    )


def repeated_requested(args: argparse.Namespace) -> bool:
    """Whether ``--visit`` was given; its companion options without it are usage errors."""
    if args.visit is not None:
        return True
    for option, name in (
        ("--visit-order", "visit_order"),
        ("--primary-visit", "primary_visit"),
        ("--covariance", "covariance"),
        ("--between", "between"),
        ("--plot", "plot"),
        ("--means-plot", "means_plot"),
    ):
        if getattr(args, name) is not None:
            raise UsageError(f"{option} is for repeated measures (--visit COL)")
    return False


def run_repeated(args: argparse.Namespace) -> Payload:
    """Read the long rows, fit and pool; print and return the JSON payload."""
    from bayes_ipd.data.messages import file_row_name
    from bayes_ipd.data.visits import repeated_from_frame
    from bayes_ipd.two_stage.repeated import two_stage_repeated

    _check_usage(args)
    forest = forest_path(args.forest, [args.file])
    figures = {
        "effect_plot": figure_path(args.plot, [args.file], "--plot"),
        "means_plot": figure_path(args.means_plot, [args.file], "--means-plot"),
    }
    data = repeated_from_frame(
        read_rows(args),
        study=args.study,
        treatment=args.treatment,
        outcome=args.outcome,
        participant=args.participant,
        visit=args.visit,
        covariates=split_names(args.covariates),
        visit_order=args.visit_order,
        missing=args.missing,
        experimental=args.experimental,
        row_name=file_row_name(Path(args.file)),
    )
    result = two_stage_repeated(
        data,
        covariance=args.covariance or "unstructured",
        between=args.between or "unstructured",
        primary_visit=args.primary_visit,
        method=args.method,
        hksj=args.hksj,
        level=args.level,
    )
    payload = report(args, result, None)
    if forest is not None:
        figures = {"forest_plot": forest, **figures}
    return payload | _write_figures(args, result, figures)


def _write_figures(
    args: argparse.Namespace, result: RepeatedTwoStageResult, paths: dict[str, Path | None]
) -> Payload:
    """Draw and write the asked-for figures; their paths by JSON key."""
    from bayes_ipd.plots.save import save_figure

    visit = str(args.visit)
    draw = {
        "forest_plot": (
            "Forest plot per visit",
            lambda: result.plot_forest_by_visit(visit_title=visit + " {visit}"),
        ),
        "effect_plot": ("Effect over visits", lambda: result.plot_effect(visit_label=visit)),
        "means_plot": (
            "Observed means over visits",
            lambda: result.plot_means(visit_label=visit, outcome_label=f"mean {args.outcome}"),
        ),
    }
    written: Payload = {}
    for key, path in paths.items():
        if path is None:
            continue
        name, plot = draw[key]
        written[key] = str(save_figure(plot(), path))
        say(args, f"\n{name} written to {path}")
    return written


def _check_usage(args: argparse.Namespace) -> None:
    if not get_family(args.family).repeated_measures:
        raise UsageError(
            f"--visit (repeated measures) is for --family gaussian, not {args.family!r}"
        )
    if args.participant is None:
        raise UsageError("--visit needs --participant COL (whose visits the rows are)")
    if args.outcome is None:
        raise UsageError("--visit needs --outcome COL")
    if args.missing == "impute":
        raise UsageError(
            "--missing impute is not for repeated measures: a missing visit is left out of "
            "the likelihood (valid under MAR); use --missing error or drop"
        )
    if getattr(args, "effect", "coefficient") != "coefficient":
        raise UsageError("--visit does not take --effect rmst (a survival effect)")
    option = first_given(args, _REFUSED)
    if option is not None:
        raise UsageError(f"--visit (repeated measures) does not take {option}")
