"""Coverage of the one-stage MMRM's 95% intervals for the planted mean effect per visit.

The design of ``tests/test_repeated_one_stage.py::test_coverage_of_visit_effects_over_replicates``
(8 trials of 60, visits 4, 8, 12, MAR dropout 0.15, intermittent 0.1, no covariates; 2 chains
x 500 draws after 500 tuning steps), for any number of replicates: one compile, then each
replicate refits the same program. Prints the coverage per visit with its binomial Monte
Carlo error, and the mean posterior mean minus truth (bias).

Run: ``python benchmarks/repeated_coverage.py --replicates 200``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bayes_ipd.one_stage.repeated_result import fit_repeated
from bayes_ipd.simulate.repeated import simulate_repeated
from bayes_ipd.spec import SamplerSettings

COLUMNS = {"study": "study", "treatment": "treat", "outcome": "y", "participant": "id"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--draws", type=int, default=500)
    args = parser.parse_args(argv)
    sampler = SamplerSettings(draws=args.draws, tune=args.draws, chains=2, progress=False)
    hits, errors, divergences = [], [], 0
    t0 = time.perf_counter()
    for rep in range(args.replicates):
        rows, truth = simulate_repeated(8, 60, dropout=0.15, intermittent=0.1, seed=1000 + rep)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fit_repeated(rows, **COLUMNS, visit="visit", sampler=sampler)
        nodes = res.to_json()["posterior"]["effect_by_visit"]
        lo, hi = (np.array([n[q] for n in nodes]) for q in ("q025", "q975"))
        hits.append((lo <= truth.effects) & (truth.effects <= hi))
        errors.append(np.array([n["mean"] for n in nodes]) - truth.effects)
        divergences += res.diagnostics.divergences
        print(f"replicate {rep + 1}: covered {hits[-1].astype(int).tolist()}", flush=True)
    n = len(hits)
    coverage = np.mean(hits, axis=0)
    out = {
        "replicates": n,
        "coverage_by_visit": coverage.tolist(),
        "mc_error": float(np.sqrt(0.95 * 0.05 / n)),
        "bias_by_visit": np.mean(errors, axis=0).tolist(),
        "divergences_total": divergences,
        "seconds": time.perf_counter() - t0,
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
