"""B6: a first fit in a fresh process, with an empty vs a warm compiled-model cache.

Every case is a fresh process, run one after the other in this run (so that they share the
machine's load):

* ``import``: ``python -c "import bayes_ipd, pymc"`` — the floor a one-stage run cannot beat;
* ``cold``: ``bayes-ipd run models/bcg_binary.toml --json`` after emptying the cache folder
  (``BAYES_IPD_CACHE_DIR`` set to a fresh temporary folder): the model is compiled and
  written to the cache;
* ``warm``: the same command on *other data of the same structure* (the BCG events
  resampled within each trial and arm: same trials, same cells, other counts), in a new
  process: the compiled model is loaded from the cache;
* ``old_cold`` (with ``--old PATH``): the cold case run by another checkout of the package
  (e.g. ``git archive HEAD | tar -x -C /tmp/old``), for the old-vs-new compile ratio.

Figures: process wall seconds; compile (or load) and sampling seconds from the run's JSON.
Ratios: cold / warm wall; warm wall / import wall (target <= 1.6); warm sampling / warm
load (target > 1); old compile / new cold compile.
With ``--repeats N`` every case runs N times in rounds (the fastest of each counts; the
new/old compile ratio of every round is listed too).
Run: ``python benchmarks/b6_first_fit_cache.py [--old /tmp/old] [--draws N] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from benchmarks import common
from benchmarks.common import Row

NAME = "b6_first_fit_cache"
WARM_OVER_IMPORT_MAX = 1.6


def _resampled_bcg(folder: Path, seed: int = 1) -> Path:
    """The BCG rows with ``event`` resampled with replacement within each trial and arm:
    same trials and cells, other counts (and the same ``auto`` parameterisation: a
    permutation across arms would remove the effect and switch it, another structure)."""
    frame = pd.read_csv(common.REPO_ROOT / "bayes_ipd" / "datasets" / "bcg_ipd.csv.gz")
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for _, index in frame.groupby(["trial", "treat"]).groups.items():
        out.loc[index, "event"] = rng.choice(frame.loc[index, "event"].to_numpy(), len(index))
    path = folder / "bcg_resampled.csv"
    out.to_csv(path, index=False)
    return path


def _spec_file(folder: Path, data: Path, name: str, draws: int | None) -> Path:
    """``models/bcg_binary.toml`` with an absolute data path (TOML written by hand: flat)."""
    doc = tomllib.loads((common.REPO_ROOT / "models" / "bcg_binary.toml").read_text())
    doc["data"]["path"] = str(data)
    if draws is not None:
        doc["sampler"]["draws"] = doc["sampler"]["tune"] = draws
    lines = []
    for section, values in doc.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _old_process(argv: list[str], root: str) -> common.ProcessRun:
    """``argv`` run from another checkout's root, with only that checkout importable."""
    env = {**os.environ, "PYTHONPATH": root, "MPLBACKEND": "Agg"}
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    return common.ProcessRun(wall, float("nan"), done.returncode, done.stdout, done.stderr)


def _run_case(spec: Path, cache_dir: Path, old_root: str | None = None) -> dict[str, Any]:
    env = {"BAYES_IPD_CACHE_DIR": str(cache_dir)}
    argv = [sys.executable, "-m", "bayes_ipd.cli", "run", str(spec), "--json"]
    run = _old_process(argv, old_root) if old_root else common.run_process(argv, env=env)
    if run.returncode != 0:
        raise RuntimeError(f"bayes-ipd run failed: {run.stderr.splitlines()[-5:]}")
    diag = json.loads(run.stdout)["diagnostics"]
    return {
        "process_wall_seconds": run.wall_seconds,
        "compile_seconds": diag["compile_seconds"],
        "sampling_seconds": diag["sampling_seconds"],
        "compiled_from": diag.get("compiled_from", "compiled"),
        "load_average_after": common.load_average(),
    }


def _import_case() -> dict[str, Any]:
    run = common.run_process([sys.executable, "-c", "import bayes_ipd, pymc"])
    return {"process_wall_seconds": run.wall_seconds, "load_average_after": common.load_average()}


def _fastest(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the smallest process wall time (the machine is shared), with every
    run's wall time listed."""
    best = dict(min(runs, key=lambda r: r["process_wall_seconds"]))
    best["all_process_wall_seconds"] = [r["process_wall_seconds"] for r in runs]
    return best


def run(
    old: str | None = None,
    draws: int | None = None,
    results_dir: Path | None = None,
    repeats: int = 1,
) -> dict:
    """All cases in order (``repeats`` rounds of import / cold / warm / old cold, each a
    fresh process and a fresh cache folder; the fastest of each counts); writes
    ``<results_dir>/b6_first_fit_cache.json``."""
    info = common.machine_info()
    rounds: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bcg = common.REPO_ROOT / "bayes_ipd" / "datasets" / "bcg_ipd.csv.gz"
        first = _spec_file(folder, bcg, "bcg.toml", draws)
        other = _spec_file(folder, _resampled_bcg(folder), "bcg_other.toml", draws)
        for i in range(repeats):
            rounds.setdefault("import", []).append(_import_case())
            rounds.setdefault("cold", []).append(_run_case(first, folder / f"cache{i}"))
            rounds.setdefault("warm", []).append(_run_case(other, folder / f"cache{i}"))
            rounds.setdefault("import_again", []).append(_import_case())
            if old is not None:
                rounds.setdefault("old_cold", []).append(
                    _run_case(first, folder / f"old_cache{i}", old_root=old)
                )
    cases = {name: _fastest(runs) for name, runs in rounds.items()}
    imp = min(
        cases["import"]["process_wall_seconds"], cases["import_again"]["process_wall_seconds"]
    )
    cold, warm = cases["cold"], cases["warm"]
    rows = [
        Row(
            "wall: cold cache vs warm cache",
            warm["process_wall_seconds"],
            cold["process_wall_seconds"],
            common.ratio(cold["process_wall_seconds"], warm["process_wall_seconds"]),
        ),
        Row(
            "wall: import bayes_ipd, pymc vs warm run",
            warm["process_wall_seconds"],
            imp,
            common.ratio(imp, warm["process_wall_seconds"]),
        ),
        Row(
            "warm: load vs sampling",
            warm["compile_seconds"],
            warm["sampling_seconds"],
            common.ratio(warm["sampling_seconds"], warm["compile_seconds"]),
        ),
    ]
    if "old_cold" in cases:
        o = min(r["compile_seconds"] for r in rounds["old_cold"])
        n = min(r["compile_seconds"] for r in rounds["cold"])
        rows.append(Row("compile: old checkout vs new, cold (fastest)", n, o, common.ratio(o, n)))
        pairs = [
            r_new["compile_seconds"] / r_old["compile_seconds"]
            for r_new, r_old in zip(rounds["cold"], rounds["old_cold"], strict=True)
        ]
    payload = {
        "benchmark": NAME,
        "machine": info,
        "cases": cases,
        "repeats": repeats,
        "new_over_old_compile_per_round": pairs if "old_cold" in cases else None,
        "warm_over_import": warm["process_wall_seconds"] / imp,
        "warm_over_import_target": WARM_OVER_IMPORT_MAX,
        "rows": [r.to_dict() for r in rows],
        "load_average_at_end": common.load_average(),
    }
    path = common.write_results(NAME, payload, results_dir)
    rounded = {
        name: {k: round(v, 2) if isinstance(v, float) else v for k, v in case.items()}
        for name, case in cases.items()
    }
    notes = [f"{name} {values}" for name, values in rounded.items()]
    common.print_report("B6 first fit, cold vs warm cache", rows, payload, path, notes)
    return payload


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line: ``python benchmarks/b6_first_fit_cache.py [--old PATH] [--repeats N]``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old", help="another checkout's root, run as the old_cold case")
    p.add_argument("--draws", type=int, help="draws and tune (default: the spec's 1,000)")
    p.add_argument("--results-dir", type=Path, default=None)
    p.add_argument("--repeats", type=int, default=1, help="rounds of all cases (fastest counts)")
    args = p.parse_args(argv)
    return run(args.old, args.draws, args.results_dir, args.repeats)


if __name__ == "__main__":
    main()
