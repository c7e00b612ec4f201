"""``bayes-ipd two-stage --effect rmst --horizon H[,H2,...]``: pooled RMST differences.

The options are added to ``two-stage`` by :func:`add_rmst_options`; :func:`rmst_requested`
tells ``two-stage`` to hand the run to :func:`run_rmst`.
"""

from __future__ import annotations

import argparse
import math

from bayes_ipd.cli.common import (
    Payload,
    UsageError,
    first_given,
    forest_path,
    read_ipd,
    read_rows,
    report,
    response_columns,
    say,
    split_names,
)

__all__ = ["add_rmst_options", "rmst_requested", "run_rmst"]

EFFECT_CHOICES = ("coefficient", "rmst")
"""``--effect``: the family's regression coefficient (default), or the RMST difference."""

# options of two-stage that have no meaning for an RMST difference, with their defaults
_REFUSED = (
    ("--covariates", "covariates", ""),
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
)


def add_rmst_options(parser: argparse.ArgumentParser) -> None:
    """``--effect`` and ``--horizon`` of ``two-stage``."""
    parser.add_argument(
        "--effect",
        choices=EFFECT_CHOICES,
        default="coefficient",
        help="what is pooled: the family's regression coefficient (default; log hazard ratio "
        "for survival), or rmst: the difference in restricted mean survival time "
        "(experimental - control) from each arm's Kaplan-Meier curve (survival; no covariates)",
    )
    parser.add_argument(
        "--horizon",
        metavar="H[,H2,...]",
        help="RMST horizon(s) on the time column's scale, increasing (--effect rmst); a trial "
        "whose follow-up (either arm's last observed time) ends before a horizon is excluded "
        "at that horizon; several horizons are also pooled jointly (multivariate REML)",
    )


def rmst_requested(args: argparse.Namespace) -> bool:
    """Whether ``--effect rmst`` was given; ``--horizon`` without it is a usage error."""
    if args.effect != "rmst":
        if args.horizon is not None:
            raise UsageError("--horizon is for --effect rmst")
        return False
    return True


def run_rmst(args: argparse.Namespace) -> Payload:
    """Read the rows, pool the RMST differences, print and return the JSON payload."""
    from bayes_ipd.two_stage.rmst_pooling import two_stage_rmst

    _check_usage(args)
    horizons = _horizons(args.horizon)
    forest = forest_path(args.forest, [args.file])
    response_columns(args)
    ipd = read_ipd(args, [], rows=read_rows(args))
    result = two_stage_rmst(ipd, horizons, method=args.method, hksj=args.hksj, level=args.level)
    payload = report(args, result, forest)
    if len(horizons) > 1 and forest is not None:
        say(args, f"(the forest plot shows the first horizon, {horizons[0]:g})")
    return payload


def _check_usage(args: argparse.Namespace) -> None:
    if args.horizon is None:
        raise UsageError("--effect rmst needs --horizon H[,H2,...] (e.g. --horizon 24,36)")
    option = first_given(args, _REFUSED)
    if option is not None:
        why = (
            "each arm's restricted mean comes from its unadjusted Kaplan-Meier curve"
            if option == "--covariates"
            else "it has no meaning for an RMST difference"
        )
        raise UsageError(f"--effect rmst does not take {option} ({why})")


def _horizons(text: str) -> list[float]:
    """``"24,36"`` -> ``[24.0, 36.0]``: positive, finite, strictly increasing."""
    values: list[float] = []
    for item in split_names(text) or [text]:
        try:
            value = float(item)
        except ValueError:
            raise UsageError(f"--horizon {text!r}: {item!r} is not a number") from None
        if not (math.isfinite(value) and value > 0):
            raise UsageError(f"--horizon {text!r}: {item!r} is not a positive, finite time")
        if values and value <= values[-1]:
            what = "repeats" if value == values[-1] else "is smaller than the one before"
            raise UsageError(
                f"--horizon {text!r}: {item} {what}; give distinct horizons in increasing order"
            )
        values.append(value)
    return values
