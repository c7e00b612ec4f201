"""``bayes-ipd run``: the one-stage model and the two-stage route from a TOML spec."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from bayes_ipd.cli.common import Command, Payload, UsageError, add_json, say

__all__ = ["COMMAND"]


def _configure_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="analysis spec (TOML), e.g. models/X.toml")
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="write summary.json, posterior.nc, comparison_forest.png and ppc.png into DIR",
    )
    for name in ("draws", "tune", "chains", "seed"):
        parser.add_argument(
            f"--{name}", type=int, metavar="N", help=f"override the spec's sampler {name}"
        )
    add_json(parser)


def _sampler_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out = {n: getattr(args, n) for n in ("draws", "tune", "chains", "seed")}
    out = {k: v for k, v in out.items() if v is not None}
    if args.json:
        out["progress"] = False
    return out


def _check_out_dir(out_dir: str | None, spec_path: str, spec: Any) -> None:
    """Before any fitting: no file ``run --out`` would write is an input (the data file,
    a summaries file, the spec itself). Inputs are only read."""
    if out_dir is None:
        return
    from bayes_ipd.analysis import output_paths

    inputs = [Path(spec_path), *([spec.data.path] if spec.data.path is not None else [])]
    inputs += list(spec.data.summaries)
    resolved = {Path(p).resolve(): Path(p) for p in inputs}
    for path in output_paths(out_dir).values():
        source = resolved.get(path.resolve())
        if source is not None:
            raise UsageError(
                f"--out {out_dir!r}: would overwrite the input file {str(source)!r} "
                f"(it writes {path.name}); choose another folder"
            )


def _run_run(args: argparse.Namespace) -> Payload:
    from bayes_ipd.analysis import run_analysis
    from bayes_ipd.spec import SamplerSettings, read_analysis_spec

    spec = read_analysis_spec(args.spec)
    _check_out_dir(args.out, args.spec, spec)
    overrides = _sampler_overrides(args)
    if overrides:
        sampler = SamplerSettings.from_dict({**spec.sampler.to_dict(), **overrides})
        spec = dataclasses.replace(spec, sampler=sampler)
    result = run_analysis(spec)
    payload = result.to_dict()
    say(args, repr(result.one_stage))
    if result.two_stage is not None:
        say(args, "\nTwo-stage route (same data)\n" + str(result.two_stage))
    if result.comparison is not None:
        say(args, "\nOne-stage vs two-stage\n" + repr(result.comparison))
    if args.out:
        written = result.write(args.out)
        payload["files"] = {kind: str(path) for kind, path in written.items()}
        say(args, "\nWritten: " + ", ".join(str(p) for p in written.values()))
    return payload


COMMAND = Command(
    "run",
    "one-stage Bayesian model and two-stage route from a TOML analysis spec",
    _configure_run,
    _run_run,
)
