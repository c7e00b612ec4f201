"""B10: calibration replicates per minute with 1 and 2 Dask workers (same study, same table).

Runs a calibration spec (default ``calibration_binomial``, the main binomial design of
docs/calibration.md: 5 trials of 200, 2 chains x 500 draws after 300 tuning steps) for N
replicates on a LocalCluster of 1 and then 2 worker processes. A warm-up run (2 replicates,
not timed) first compiles the model into the disk cache so that both timed runs start
equal: each worker then loads the compiled model once and refits it for every replicate.
Each worker's nutpie runs its chains in threads (up to the cores), so on a 2-core machine one
worker already uses both cores while it samples; the second worker overlaps the per-replicate
Python work (data, two-stage fits, diagnostics) with the other's sampling.
Reported: replicates per minute for 1 and 2 workers (``ratio`` = speed-up of 2 over 1)
and whether the two replicate tables are identical (they must be: seeds come from the study
seed and the replicate index only).

Run: ``python benchmarks/b10_calibration_workers.py [--replications N] [--spec NAME]``
(default 20, ``calibration_binomial``).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.common import Row

NAME = "b10_calibration_workers"
SPEC = "calibration_binomial"


def _timed(study, n: int, workers: int):
    from bayes_ipd.calibration import run_calibration

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_calibration(study, n, workers=workers)
    return time.perf_counter() - t0, result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--spec", default=SPEC, help="calibration spec file or shipped name")
    args = parser.parse_args(argv)
    from bayes_ipd.calibration import read_calibration_spec

    study = read_calibration_spec(args.spec)
    _timed(study, 2, 1)  # warm-up: compile into the disk cache
    one_s, one = _timed(study, args.replications, 1)
    two_s, two = _timed(study, args.replications, 2)
    per_min = {w: args.replications / s * 60 for w, s in ((1, one_s), (2, two_s))}
    drop = ["seconds"]
    identical = one.table.drop(columns=drop).equals(two.table.drop(columns=drop))
    rows = [
        Row("replicates per minute, 1 worker", per_min[1], None, None, "1/min"),
        Row(
            "replicates per minute, 2 workers",
            per_min[2],
            per_min[1],
            per_min[2] / per_min[1],  # speed-up (larger is better)
            "1/min",
        ),
    ]
    print(common.format_table(f"{NAME}: {args.replications} replicates of {args.spec}", rows))
    print(f"identical tables (1 vs 2 workers): {identical}; load {common.load_average()}")
    payload = {
        "rows": rows,
        "identical_tables": identical,
        "replications": args.replications,
        "spec": args.spec,
        "seconds": {"1": one_s, "2": two_s},
        "machine": common.machine_info(),
    }
    common.write_results(NAME, payload)
    return payload


if __name__ == "__main__":
    main()
