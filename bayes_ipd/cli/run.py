"""``bayes-ipd run``: the one-stage model and the two-stage route from a TOML spec."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bayes_ipd.cli.common import (
    Command,
    Payload,
    UsageError,
    add_json,
    say,
)

__all__ = ["COMMAND"]


def _configure_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "spec",
        metavar="SPEC",
        help="analysis spec (TOML file), or the name of a shipped one (e.g. bcg_binary)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="write summary.json, posterior.nc, comparison_forest.png and ppc.png into DIR "
        "(and harmonisation_log.csv when the spec has a [harmonise] section)",
    )
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="write one self-contained HTML report (plan, flow, integrity, both routes, "
        "hybrid table, forest plots, PPC, diagnostics) to FILE",
    )
    parser.add_argument(
        "--sensitivity",
        action="store_true",
        help="also refit over the prior grid of SPEC's [sensitivity] section "
        "(bayes_ipd.sensitivity; with --out: sensitivity.csv and sensitivity.png)",
    )
    for name in ("draws", "tune", "chains", "seed"):
        parser.add_argument(
            f"--{name}", type=int, metavar="N", help=f"override the spec's sampler {name}"
        )
    add_json(parser)


def _sampler_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out = {n: getattr(args, n) for n in ("draws", "tune", "chains", "seed")}
    out = {k: v for k, v in out.items() if v is not None}
    if args.json or not sys.stderr.isatty():
        out["progress"] = False  # nutpie's bar on a terminal only
    return out


def _spec_inputs(spec_path: str, spec: Any) -> list[Path]:
    """Every file a run reads: the spec itself, the ``[data]`` files (rows, summaries,
    aggregate data), the ``[report]`` files (flow, published results) and the ``[ite]`` new
    patients. Inputs are only read; ``--out`` and ``--report`` must not name one."""
    data = spec.data
    inputs = [spec_path, data.path, *data.summaries, data.aggregate]
    inputs += [data.aggregate_arms, data.aggregate_contrasts]  # a network's AD trials
    inputs += [spec.report.flow, spec.report.published, spec.report.trials]
    inputs += [spec.ite.new] if spec.ite is not None else []
    return [Path(p) for p in inputs if p is not None]


def _check_out_dir(out_dir: str | None, inputs: list[Path]) -> None:
    """Before any fitting: no file ``run --out`` would write is an input."""
    if out_dir is None:
        return
    from bayes_ipd.analysis import output_paths

    resolved = {p.resolve(): p for p in inputs}
    for path in output_paths(out_dir).values():
        source = resolved.get(path.resolve())
        if source is not None:
            raise UsageError(
                f"--out {out_dir!r}: would overwrite the input file {str(source)!r} "
                f"(it writes {path.name}); choose another folder"
            )


def _two_stage_header(spec: Any) -> str:
    """``Two-stage route (same data; adjusted for age, sex)``: the run's two-stage route
    adjusts for the model's covariates (:func:`bayes_ipd.analysis.run_analysis`)."""
    covariates = tuple(spec.model.covariates)
    adjusted = f"adjusted for {', '.join(covariates)}" if covariates else "unadjusted"
    return f"Two-stage route (same data; {adjusted})"


def _check_report_path(report: str | None, inputs: list[Path]) -> None:
    """Before any fitting: the report file is not one of the inputs."""
    if report is None:
        return
    if any(p.resolve() == Path(report).resolve() for p in inputs):
        raise UsageError(f"--report {report!r} is an input file; choose another name")


def _announcer(args: argparse.Namespace) -> Callable[[str], None] | None:
    """Where the fit says what it is doing ("compiling the model ..."): standard error,
    in a terminal and in a log alike (a redirected run must say why it waits too);
    nothing under ``--json``."""
    if args.json:
        return None
    return lambda message: print(message, file=sys.stderr, flush=True)


def _run_run(args: argparse.Namespace) -> Payload:
    from bayes_ipd.analysis import run_analysis
    from bayes_ipd.models import resolve_spec
    from bayes_ipd.spec import SamplerSettings, read_analysis_spec

    # a shipped spec may be named instead of a file: `bayes-ipd run bcg_binary`
    args = argparse.Namespace(**{**vars(args), "spec": str(resolve_spec(args.spec))})
    spec = read_analysis_spec(args.spec)
    inputs = _spec_inputs(args.spec, spec)
    _check_out_dir(args.out, inputs)
    _check_report_path(args.report, inputs)
    overrides = _sampler_overrides(args)
    if overrides:
        sampler = SamplerSettings.from_dict({**spec.sampler.to_dict(), **overrides})
        spec = dataclasses.replace(spec, sampler=sampler)
    if spec.data.reference is not None:  # a network of treatments (docs/network.md)
        from bayes_ipd.cli.run_network import run_network

        return run_network(args, spec, _announcer(args))
    if spec.data.visit is not None:  # repeated measures (docs/longitudinal.md)
        _check_repeated_options(args)
    from bayes_ipd.one_stage.sampling import reporting

    with reporting(_announcer(args)):
        result = run_analysis(spec)
    payload = result.to_dict()
    if result.harmonisation is not None:  # applied first, so shown first
        say(args, f"{result.harmonisation}\n")
    say(args, repr(result.one_stage))
    if result.two_stage is not None:
        say(args, f"\n{_two_stage_header(spec)}\n" + str(result.two_stage))
    if result.comparison is not None:
        say(args, "\nOne-stage vs two-stage\n" + repr(result.comparison))
    if result.hybrid is not None:
        say(args, "\n" + repr(result.hybrid))
    if result.ite is not None:
        say(args, "\nIndividualised treatment effects ([ite], same rows)\n" + str(result.ite))
    with _staged(args.out) as stage:
        if args.sensitivity:
            from bayes_ipd.sensitivity import cli_sweep

            sweep = cli_sweep(spec, result.one_stage, stage, lambda m: say(args, m))
            if "files" in sweep:
                sweep["files"] = {k: _final(args.out, p) for k, p in sweep["files"].items()}
            payload["sensitivity"] = sweep
        if args.report:
            from bayes_ipd.report import render_repeated_report, render_report, write_whole

            render = render_report if spec.data.visit is None else render_repeated_report
            payload["report"] = str(write_whole(Path(args.report), render(result)))
            say(args, f"\nReport written to {args.report}")
        written = result.write_files(stage) if stage is not None else {}
    if args.out:
        payload["files"] = {kind: _final(args.out, path) for kind, path in written.items()}
        say(args, "\nWritten: " + ", ".join(payload["files"].values()))
    return payload


def _check_repeated_options(args: argparse.Namespace) -> None:
    """A repeated-measures spec (``[data] visit``): the prior sweep is not built for it."""
    if args.sensitivity:
        raise UsageError(
            "--sensitivity is not available for repeated measures ([data] visit); "
            "change [priors] and run again"
        )


def _staged(out_dir: str | None) -> contextlib.AbstractContextManager[Path | None]:
    """Where ``--out`` files are written: a temporary folder moved into place as a whole
    when every file is written (:func:`bayes_ipd.analysis.staged_folder`), so that an
    interrupted or failed run leaves the previous run's folder or nothing; None without
    ``--out``."""
    if out_dir is None:
        return contextlib.nullcontext(None)
    from bayes_ipd.analysis import staged_folder

    return staged_folder(out_dir)


def _final(out_dir: str, written: str | Path) -> str:
    """The path a file written into the staging folder has once the folder is in place."""
    return str(Path(out_dir) / Path(written).name)


COMMAND = Command(
    "run",
    "one-stage Bayesian model and two-stage route from a TOML analysis spec",
    _configure_run,
    _run_run,
)
