"""``bayes-ipd ite``: individualised treatment effects for new patients (two-stage ITE).

``bayes-ipd ite FILE --study COL --treatment COL --outcome COL --covariates a,b
--new PATIENTS.csv [--stage1 ols|ridge|lasso|forest|boosting|bayes]
[--stage2 mvma|weighted|mvbayes|mixing] [--random all|treatment]
[--weights auxiliary|bootstrap] [--seed N] [--json]``

``--json`` prints ``{"stage1", "stage2", "k", "pooled": {TERM: {"estimate", "se"}},
"between_trial_sd": {TERM: sd}, "between_trial_cor": [[...]], "predictions": [{<covariates>,
"ite", "se", "ci_low", "ci_high", "pi_low", "pi_high"}]}``; ``pooled``,
``between_trial_sd`` and ``between_trial_cor`` only for the stage-2 methods with
coefficients (mvma, mvbayes). One prediction per row of PATIENTS.csv, in its order.
``"warnings": [...]`` only when a new patient's covariate lies outside the range of the
trials' rows (the patient row and covariate named; also printed on stderr).
"""

from __future__ import annotations

import argparse
import sys

from bayes_ipd.cli.common import Command, Payload, UsageError, add_json, say, split_names

__all__ = ["COMMAND"]

STAGE1 = ("ols", "ridge", "lasso", "forest", "boosting", "bayes")
STAGE2 = ("mvma", "weighted", "mvbayes", "mixing")


def _configure_ite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="CSV with one row per participant")
    parser.add_argument("--study", required=True, metavar="COL", help="trial column")
    parser.add_argument("--treatment", required=True, metavar="COL", help="treatment column")
    parser.add_argument("--outcome", required=True, metavar="COL", help="outcome column")
    parser.add_argument(
        "--covariates", required=True, metavar="A,B", help="comma-separated numeric covariates"
    )
    parser.add_argument(
        "--new", required=True, metavar="PATIENTS.csv", help="CSV of new patients' covariates"
    )
    parser.add_argument("--stage1", choices=STAGE1, default="ols", help="per-trial model")
    parser.add_argument(
        "--stage2",
        choices=STAGE2,
        help="pooling (default: mvma for ols/bayes, weighted for the others)",
    )
    parser.add_argument(
        "--random",
        choices=("all", "treatment"),
        default="all",
        help="random between-trial effects on all coefficients or the treatment effect only",
    )
    parser.add_argument(
        "--weights",
        choices=("auxiliary", "bootstrap"),
        default="auxiliary",
        help="variances of the trials' predictions for --stage2 weighted",
    )
    parser.add_argument("--meta", choices=("T", "S"), default="T", help="ML meta-learner")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--level", type=float, default=0.95, help="interval level (0.95)")
    parser.add_argument(
        "--experimental", metavar="LEVEL", help="treatment level of the experimental arm"
    )
    parser.add_argument(
        "--missing", choices=("error", "drop"), default="error", help="rows with missing values"
    )
    add_json(parser)


SEED_LIMIT = 2**32
"""Seeds run from 0 to 2**32 - 1 (numpy's legacy seeding and scikit-learn's random_state)."""


def _progress(args: argparse.Namespace, text: str) -> None:
    if not args.json:
        print(text, file=sys.stderr)


def _run_ite(args: argparse.Namespace) -> Payload:
    from bayes_ipd.ite.section import ite_report, read_patients, read_rows

    covariates = split_names(args.covariates)
    if not covariates:
        raise UsageError("--covariates names no column")
    if not 0 < args.level < 1:
        raise UsageError(f"--level {args.level}: must be between 0 and 1")
    if not 0 <= args.seed < SEED_LIMIT:  # the learners' random_state takes 32-bit seeds
        raise UsageError(f"--seed {args.seed}: must be a whole number from 0 to {SEED_LIMIT - 1}")
    report = ite_report(
        read_rows(args.file, args.study),
        read_patients(args.new),
        study=args.study,
        treatment=args.treatment,
        outcome=args.outcome,
        covariates=covariates,
        stage1=args.stage1,
        stage2=args.stage2,
        random=args.random,
        weights=args.weights,
        meta=args.meta,
        seed=args.seed,
        level=args.level,
        experimental=args.experimental,
        missing=args.missing,
        progress=lambda text: _progress(args, text),
    )
    say(args, str(report))
    return report.to_dict()


COMMAND = Command(
    "ite",
    "individualised treatment effects for new patients (two-stage ITE framework)",
    _configure_ite,
    _run_ite,
)
