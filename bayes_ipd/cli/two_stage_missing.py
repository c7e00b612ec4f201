"""``bayes-ipd two-stage --missing impute --imputations M --seed S``: the options of
multiple imputation on the two-stage route (:mod:`bayes_ipd.two_stage.imputation`)."""

from __future__ import annotations

import argparse
from typing import Any

from bayes_ipd.cli.common import UsageError

__all__ = ["DEFAULT_IMPUTATIONS", "add_missing_options", "imputation_options"]

DEFAULT_IMPUTATIONS = 20
"""M without ``--imputations`` (the package's ``imputation.DEFAULT_IMPUTATIONS``)."""


def add_missing_options(parser: argparse.ArgumentParser) -> None:
    """``--imputations`` and ``--seed`` (``--missing`` itself is a data-column option)."""
    parser.add_argument(
        "--imputations",
        type=int,
        metavar="M",
        help="with --missing impute: number of imputations, a whole number >= 2 (default "
        f"{DEFAULT_IMPUTATIONS}); each trial's estimates combined by Rubin's rules",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="with --missing impute: seed of the imputations (default 0)",
    )


def imputation_options(args: argparse.Namespace) -> dict[str, Any]:
    """``{"imputations": M, "seed": S}`` for ``two_stage`` under ``--missing impute``, else
    ``{}``; a usage error for ``--imputations`` < 2 or without ``--missing impute``."""
    if args.missing != "impute":
        if args.imputations is not None:
            raise UsageError("--imputations is for --missing impute")
        return {}
    m = DEFAULT_IMPUTATIONS if args.imputations is None else args.imputations
    if m < 2:
        raise UsageError(f"--imputations {m}: multiple imputation needs a whole number >= 2")
    if getattr(args, "spline", None) is not None:
        raise UsageError("--spline is not available with --missing impute")
    return {"imputations": m, "seed": args.seed}
