"""B7: a sensitivity sweep of 8 tau priors vs 8 fresh fits, BCG binomial model.

One fresh process fits the BCG rows (``models/bcg_binary.toml``'s model, 4 chains x 1,000
draws) with ``tau ~ half_normal(s)`` for 8 scales ``s``. The compiled-model cache is in
memory only (``BAYES_IPD_NO_DISK_CACHE=1``, so nothing is loaded from an earlier run):

* sweep: the 8 fits in a row; the first compiles, the prior's scale is data
  (``prior_tau`` container), so the other 7 reuse the compiled program
  (``cache_stats().compiles == 1`` is checked);
* baseline: 8 fresh fits, each compiling its model — measured as the first fit of the
  sweep (compile included) times 8, or, with ``--full-baseline``, as 8 fits each after
  :func:`~bayes_ipd.one_stage.sampling.clear_compiled_cache`.

Figures: seconds around ``fit`` (data read and summarised outside the clock).
Ratios: baseline / sweep; sweep / first fit (target <= 1.5).
Run: ``python benchmarks/b7_prior_sweep.py [--full-baseline] [--draws N]``.
"""

from __future__ import annotations

import argparse
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

NAME = "b7_prior_sweep"
SCALES = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0)
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


def run(draws: int = 1000, full_baseline: bool = False, results_dir: Path | None = None) -> dict:
    """The sweep in a fresh process; writes ``<results_dir>/b7_prior_sweep.json``."""
    info = common.machine_info()
    case = common.run_isolated(
        f"benchmarks.{NAME}:sweep_case", {"draws": draws, "full_baseline": full_baseline}
    )
    first, sweep = case["sweep_seconds"][0], sum(case["sweep_seconds"])
    baseline = sum(case["fresh_seconds"]) if full_baseline else first * len(SCALES)
    rows = [
        Row("8 tau priors: sweep vs 8 fresh fits", sweep, baseline, common.ratio(baseline, sweep)),
        Row("sweep vs one first fit (target <= 1.5)", sweep, first, sweep / first, unit="x"),
    ]
    payload = {
        "benchmark": NAME,
        "machine": info,
        "case": case,
        "baseline": "measured" if full_baseline else "first fit x 8",
        "rows": [r.to_dict() for r in rows],
        "load_average_at_end": common.load_average(),
    }
    path = common.write_results(NAME, payload, results_dir)
    print({k: v for k, v in case.items() if k != "tau_posterior_mean"})
    for row in rows:
        print(row)
    print(f"written {path}")
    return payload


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line: ``python benchmarks/b7_prior_sweep.py [--full-baseline] [--draws N]``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--draws", type=int, default=1000, help="draws and tune per chain")
    p.add_argument("--full-baseline", action="store_true", help="time 8 compiling fits too")
    p.add_argument("--results-dir", type=Path, default=None)
    args = p.parse_args(argv)
    return run(args.draws, args.full_baseline, args.results_dir)


if __name__ == "__main__":
    main()
