"""Compile seconds of the BCG model: nutpie's own callbacks vs bayes_ipd's lean ones vs JAX.

Each case is a fresh process that builds the BCG binomial model (``models/bcg_binary.toml``'s
model, 357,347 rows in 26 cells), compiles it and samples 4 chains x 1,000 draws
(1,000 tuning, seed 1):

* ``stock``: ``nutpie.compile_pymc_model`` (numba, nutpie's C callbacks) — the baseline;
* ``lean``: :func:`bayes_ipd.one_stage.callbacks.lean_compile` (numba, the lean callbacks);
* ``jax`` (when JAX is installed): ``nutpie.compile_pymc_model(backend="jax",
  gradient_backend="jax")``.

``stock`` and ``lean`` run in turn ``--repeats`` times (so that they share the machine's
load); ``jax`` once. Figures: compile and sampling seconds, bulk ESS(tau), and whether the
``lean`` draws equal the ``stock`` draws exactly (same seed). Ratios: lean / stock and
jax / stock compile seconds (smaller is better), medians over the repeats.

Run: ``python benchmarks/profile_callbacks.py [--repeats N]``; writes
``benchmarks/results/profile_callbacks.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.common import Row

NAME = "profile_callbacks"


def compile_case(kind: str) -> dict[str, Any]:
    """Build, compile (timed) and sample the BCG model with callbacks ``kind``."""
    import numpy as np
    import nutpie

    from bayes_ipd.datasets import load_bcg_ipd
    from bayes_ipd.one_stage.builder import build_model
    from bayes_ipd.one_stage.callbacks import lean_compile
    from bayes_ipd.one_stage.design import build_design
    from bayes_ipd.spec import ModelSpec

    spec = ModelSpec("binomial")
    built = build_model(build_design(load_bcg_ipd(), spec), spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        if kind == "lean":
            compiled = lean_compile(built.model)
        elif kind == "jax":
            compiled = nutpie.compile_pymc_model(built.model, backend="jax", gradient_backend="jax")
        else:
            compiled = nutpie.compile_pymc_model(built.model)
        t1 = time.perf_counter()
        idata = nutpie.sample(
            compiled, draws=1000, tune=1000, chains=4, cores=2, seed=1, progress_bar=False
        )
        t2 = time.perf_counter()
    draws = np.concatenate(
        [idata.posterior[n].values.ravel() for n in ("mu", "tau", "theta", "alpha")]
    )
    return {
        "kind": kind,
        "compile_seconds": t1 - t0,
        "sampling_seconds": t2 - t1,
        "ess_bulk_tau": common.ess_bulk(idata, "tau"),
        "draws_sha256": hashlib.sha256(np.ascontiguousarray(draws).tobytes()).hexdigest(),
    }


def run(repeats: int = 2, results_dir: Path | None = None) -> dict[str, Any]:
    """Every case in fresh processes; writes ``<results_dir>/profile_callbacks.json``."""
    info = common.machine_info()
    target = f"benchmarks.{NAME}:compile_case"
    cases: dict[str, list[dict[str, Any]]] = {"stock": [], "lean": []}
    for _ in range(repeats):
        for kind in ("stock", "lean"):
            cases[kind].append(common.run_isolated(target, {"kind": kind}))
    if importlib.util.find_spec("jax") is not None:
        cases["jax"] = [common.run_isolated(target, {"kind": "jax"})]

    def median(kind: str, field: str) -> float:
        return statistics.median(c[field] for c in cases[kind])

    stock = median("stock", "compile_seconds")
    rows = [
        Row(
            f"compile: {kind} vs stock",
            median(kind, "compile_seconds"),
            stock,
            common.ratio(stock, median(kind, "compile_seconds")),
        )
        for kind in cases
        if kind != "stock"
    ]
    rows += [
        Row(f"sampling: {kind}", median(kind, "sampling_seconds"), None, None) for kind in cases
    ]
    same = {c["draws_sha256"] for c in cases["stock"] + cases["lean"]}
    payload = {
        "benchmark": NAME,
        "machine": info,
        "cases": cases,
        "lean_draws_equal_stock": len(same) == 1,
        "rows": [r.to_dict() for r in rows],
        "load_average_at_end": common.load_average(),
    }
    path = common.write_results(NAME, payload, results_dir)
    print(common.format_table("Compile of the BCG model: callbacks and backends", rows))
    print(f"lean draws equal stock draws: {len(same) == 1}")
    print(f"written {path}")
    return payload


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line: ``python benchmarks/profile_callbacks.py [--repeats N]``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--results-dir", type=Path, default=None)
    args = p.parse_args(argv)
    return run(args.repeats, args.results_dir)


if __name__ == "__main__":
    main()
