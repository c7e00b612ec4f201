"""B7: a sensitivity sweep of 8 tau priors vs one first fit and vs 8 fresh fits, BCG binomial.

Two readings, both run by default:

* **CLI** (the "first fit" of B6 and of the warm-cache goal: a fresh-process
  ``bayes-ipd run models/bcg_binary.toml``). Each case is a fresh process with an empty
  compiled-model cache (``BAYES_IPD_CACHE_DIR`` a new folder), run one after the other:

  - ``first``: ``bayes-ipd run models/bcg_binary.toml --json`` (B6's command);
  - ``sweep``: the same spec with a ``[sensitivity]`` section of the 8 tau priors, run
    with ``--sensitivity --json``: the spec's own fit (it compiles), then 8 refits (none
    compiles: the sweep's ``compiles == 0`` and ``refits == 8`` are checked) and the
    sweep's table.

  No ``--out`` in either: writing the files (posterior, plots) is the same fixed cost in
  both and would only dilute the ratio.

  Ratio: sweep wall / first wall (target <= 1.5). With ``--repeats N`` both run N times
  in rounds; the fastest of each counts, and every round's ratio is listed.
* **In-process** (stricter: no imports or data reading in either side). One fresh process
  fits the BCG rows with ``tau ~ half_normal(s)`` for the 8 scales ``s``, memory cache only
  (``BAYES_IPD_NO_DISK_CACHE=1``): the first compiles, the prior's scale is data
  (``prior_tau`` container), so the other 7 reuse the compiled program
  (``cache_stats().compiles == 1`` is checked). Baseline: 8 fresh fits, each compiling —
  the first fit times 8, or with ``--full-baseline`` 8 fits each after
  :func:`~bayes_ipd.one_stage.sampling.clear_compiled_cache`. Figures: seconds around
  ``fit``. Ratios: baseline / sweep; sweep / first fit.

Run: ``python benchmarks/b7_prior_sweep.py [--repeats N] [--full-baseline] [--draws N]
[--no-cli] [--no-in-process]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.common import Row

NAME = "b7_prior_sweep"
SCALES = (0.1, 0.25, 0.5, 0.75, 1.25, 1.5, 2.0, 4.0)
"""Eight half-normal scales of tau, none the spec's own (1): a sweep takes a combination
equal to the fit's priors from the fit itself, and every one of the 8 must be a refit."""
SWEEP_OVER_FIRST_MAX = 1.5


def sweep_case(draws: int, full_baseline: bool) -> dict[str, Any]:
    """The sweep (and the fresh-fit baseline) in this process."""
    import os

    os.environ["BAYES_IPD_NO_DISK_CACHE"] = "1"
    from bayes_ipd.datasets import load_bcg_ipd
    from bayes_ipd.one_stage.design import build_design
    from bayes_ipd.one_stage.fitting import fit
    from bayes_ipd.one_stage.sampling import cache_stats, clear_compiled_cache, reset_cache_stats
    from bayes_ipd.spec import ModelSpec, SamplerSettings

    sampler = SamplerSettings(draws=draws, tune=draws, chains=4, seed=20240601, progress=False)
    ipd = load_bcg_ipd()

    def one(scale: float) -> tuple[float, Any]:
        spec = ModelSpec("binomial", priors={"tau": f"half_normal({scale})"})
        design = build_design(ipd, spec)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fit(design, spec, sampler)
        return time.perf_counter() - t0, result

    clear_compiled_cache()
    reset_cache_stats()
    sweep = [one(s) for s in SCALES]
    compiles = cache_stats().compiles
    out: dict[str, Any] = {
        "scales": list(SCALES),
        "sweep_seconds": [t for t, _ in sweep],
        "compiled_from": [r.diagnostics.compiled_from for _, r in sweep],
        "tau_posterior_mean": [float(r.idata.posterior["tau"].mean()) for _, r in sweep],
        "sweep_compiles": compiles,
    }
    if full_baseline:
        fresh = []
        for s in SCALES:
            clear_compiled_cache()
            fresh.append(one(s)[0])
        out["fresh_seconds"] = fresh
    return out


def _sweep_spec(folder: Path) -> Path:
    """``models/bcg_binary.toml`` with a ``[sensitivity]`` section listing :data:`SCALES`."""
    text = (common.REPO_ROOT / "models" / "bcg_binary.toml").read_text(encoding="utf-8")
    priors = ", ".join(f'"half_normal({s:g})"' for s in SCALES)
    path = folder / "bcg_sweep8.toml"
    path.write_text(f"{text.rstrip()}\n\n[sensitivity]\ntau = [{priors}]\n", encoding="utf-8")
    return path


def _cli_case(spec: Path, cache_dir: Path | None, draws: int, sweep: bool) -> dict[str, Any]:
    """One fresh-process ``bayes-ipd run`` (with ``--sensitivity`` when ``sweep``)."""
    argv = [sys.executable, "-m", "bayes_ipd.cli", "run", str(spec), "--json"]
    argv += ["--draws", str(draws), "--tune", str(draws)]
    argv += ["--sensitivity"] if sweep else []
    env = {"BAYES_IPD_CACHE_DIR": str(cache_dir)} if cache_dir is not None else None
    done = common.run_process(argv, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"bayes-ipd run failed: {done.stderr.splitlines()[-5:]}")
    payload = json.loads(done.stdout)
    diag = payload["diagnostics"]
    out: dict[str, Any] = {
        "process_wall_seconds": done.wall_seconds,
        "compile_seconds": diag["compile_seconds"],
        "sampling_seconds": diag["sampling_seconds"],
        "compiled_from": diag.get("compiled_from"),
        "load_average_after": common.load_average(),
    }
    if sweep:
        rows = payload["sensitivity"]["rows"]
        out["sweep_priors"] = len({r["prior"] for r in rows})
        out["sweep_compiles"] = payload["sensitivity"]["compiles"]
        out["sweep_refits"] = payload["sensitivity"]["refits"]
        expected = (len(SCALES), 0, len(SCALES))
        if (out["sweep_priors"], out["sweep_compiles"], out["sweep_refits"]) != expected:
            raise RuntimeError(f"the sweep was not 8 refits of one compiled model: {out}")
    return out


def cli_rounds(draws: int, repeats: int, cold: bool = True) -> dict[str, Any]:
    """``repeats`` rounds of the CLI first fit and the CLI sweep, each a fresh process
    (with ``cold``, each with a new, empty cache folder; else the inherited cache)."""
    rounds: dict[str, list[dict[str, Any]]] = {"first": [], "sweep": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        first_spec = common.REPO_ROOT / "models" / "bcg_binary.toml"
        sweep_spec = _sweep_spec(folder)
        for i in range(repeats):
            for name, spec in (("first", first_spec), ("sweep", sweep_spec)):
                cache = folder / f"cache_{name}{i}" if cold else None
                rounds[name].append(_cli_case(spec, cache, draws, name == "sweep"))
    walls = {n: [r["process_wall_seconds"] for r in runs] for n, runs in rounds.items()}
    best = {
        n: dict(min(runs, key=lambda r: r["process_wall_seconds"])) for n, runs in rounds.items()
    }
    return {
        "cases": best,
        "all_process_wall_seconds": walls,
        "sweep_over_first_per_round": [
            s / f for s, f in zip(walls["sweep"], walls["first"], strict=True)
        ],
        "cold": cold,
    }


def run(
    draws: int = 1000,
    full_baseline: bool = False,
    results_dir: Path | None = None,
    repeats: int = 1,
    cli: bool = True,
    in_process: bool = True,
    cold: bool = True,
) -> dict:
    """The CLI rounds and the in-process sweep; writes ``<results_dir>/b7_prior_sweep.json``."""
    info = common.machine_info()
    rows: list[Row] = []
    payload: dict[str, Any] = {"benchmark": NAME, "machine": info, "repeats": repeats}
    if cli:
        found = cli_rounds(draws, repeats, cold)
        first = found["cases"]["first"]["process_wall_seconds"]
        sweep = found["cases"]["sweep"]["process_wall_seconds"]
        rows.append(
            Row(
                "CLI: run --sensitivity (8 priors) vs run (target <= 1.5)",
                sweep,
                first,
                sweep / first,
                unit="x",
            )
        )
        payload["cli"] = found
    if in_process:
        case = common.run_isolated(
            f"benchmarks.{NAME}:sweep_case", {"draws": draws, "full_baseline": full_baseline}
        )
        first, sweep = case["sweep_seconds"][0], sum(case["sweep_seconds"])
        baseline = sum(case["fresh_seconds"]) if full_baseline else first * len(SCALES)
        rows += [
            Row(
                "in-process: 8 tau priors, sweep vs 8 fresh fits",
                sweep,
                baseline,
                common.ratio(baseline, sweep),
            ),
            Row("in-process: sweep vs one first fit", sweep, first, sweep / first, unit="x"),
        ]
        payload["case"] = case
        payload["baseline"] = "measured" if full_baseline else "first fit x 8"
        print({k: v for k, v in case.items() if k != "tau_posterior_mean"})
    payload["sweep_over_first_target"] = SWEEP_OVER_FIRST_MAX
    payload["rows"] = [r.to_dict() for r in rows]
    payload["load_average_at_end"] = common.load_average()
    path = common.write_results(NAME, payload, results_dir)
    notes = [f"CLI walls {json.dumps(payload['cli']['all_process_wall_seconds'])}"] if cli else []
    common.print_report("B7 prior sweep, BCG binomial", rows, payload, path, notes)
    return payload


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line: ``python benchmarks/b7_prior_sweep.py [--repeats N] [--full-baseline]``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--draws", type=int, default=1000, help="draws and tune per chain")
    p.add_argument("--full-baseline", action="store_true", help="time 8 compiling fits too")
    p.add_argument("--results-dir", type=Path, default=None)
    p.add_argument(
        "--repeats", type=int, default=1, help="rounds of the CLI cases (fastest counts)"
    )
    p.add_argument("--no-cli", action="store_true", help="skip the fresh-process CLI reading")
    p.add_argument("--no-in-process", action="store_true", help="skip the in-process reading")
    args = p.parse_args(argv)
    return run(
        args.draws,
        args.full_baseline,
        args.results_dir,
        args.repeats,
        cli=not args.no_cli,
        in_process=not args.no_in_process,
    )


if __name__ == "__main__":
    main()
