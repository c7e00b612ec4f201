"""``bayes-ipd run SPEC`` for a spec with ``[data] reference``: a network of treatments.

The routes of the spec's ``[network]`` section are fitted
(:func:`bayes_ipd.analysis.run_analysis` returns a
:class:`~bayes_ipd.one_stage.network_analysis.NetworkAnalysis`), their reports printed, the
JSON document returned (``"network"``: the object of ``bayes-ipd network --json``), and
with ``--out DIR``: ``summary.json`` and the figures (``network.png``: graph and two-stage
forest; ``network_forest.png``: both routes on one forest plot; ``rankogram.png``);
with ``--report FILE`` the HTML report (:mod:`bayes_ipd.report.network`); with
``--sensitivity`` the prior sweep of the one-stage fit over the spec's ``[sensitivity]``
grid (:mod:`bayes_ipd.one_stage.network_sensitivity`: printed, under ``"sensitivity"`` in
the JSON, ``sensitivity.csv`` and ``sensitivity.png`` with ``--out``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bayes_ipd.cli.common import Payload, say

__all__ = ["run_network"]


def run_network(
    args: argparse.Namespace, spec: Any, announcer: Callable[[str], None] | None
) -> Payload:
    """Run a network spec (module docstring); a ``--sensitivity`` the spec cannot take
    (no one-stage route, a grid slot the model lacks) is refused before any fitting."""
    if args.sensitivity:
        from bayes_ipd.one_stage.network_sensitivity import check_network_sweep

        check_network_sweep(spec)
    from bayes_ipd.analysis import run_analysis, staged_folder
    from bayes_ipd.conventions import json_ready
    from bayes_ipd.one_stage.sampling import reporting

    with reporting(announcer):
        result = run_analysis(spec)
    payload = result.to_dict()
    if result.harmonisation is not None:
        say(args, f"{result.harmonisation}\n")
    say(args, result.summary())
    sweep = _sweep(args, result) if args.sensitivity else None
    if sweep is not None:
        payload["sensitivity"] = sweep.to_dict()
    if args.report:
        from bayes_ipd.report.network import write_network_report

        payload["report"] = str(write_network_report(result, args.report))
        say(args, f"\nReport written to {args.report}")
    if args.out:
        from bayes_ipd.plots.save import save_figure

        with staged_folder(args.out) as stage:
            summary = stage / "summary.json"
            text = json.dumps(json_ready(payload), indent=2, allow_nan=False) + "\n"
            summary.write_text(text, encoding="utf-8")
            written = {"summary": summary.name}
            if result.harmonisation is not None:
                written["harmonisation_log"] = result.harmonisation.to_csv(
                    stage / "harmonisation_log.csv"
                ).name
            for kind, figure in result.figures().items():
                name = f"{kind}.png"
                save_figure(figure, stage / name)
                written[kind] = name
            if sweep is not None:  # as the two-arm sweep writes them
                sweep.table.to_csv(stage / "sensitivity.csv", index=False)
                save_figure(sweep.plot(), stage / "sensitivity.png")
                payload["sensitivity"]["files"] = {
                    "table": str(Path(args.out) / "sensitivity.csv"),
                    "figure": str(Path(args.out) / "sensitivity.png"),
                }
        payload["files"] = {kind: str(Path(args.out) / name) for kind, name in written.items()}
        say(args, "\nWritten: " + ", ".join(payload["files"].values()))
    return payload


def _sweep(args: argparse.Namespace, result: Any) -> Any:
    """The prior sweep of the one-stage fit, progress on standard error (one line per
    scenario, as the two-arm sweep gives it), the table printed."""
    import sys

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    sweep = result.sensitivity(say=progress)
    say(args, "\n" + repr(sweep))
    return sweep
