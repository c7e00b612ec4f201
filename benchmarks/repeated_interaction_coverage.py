"""Coverage of the one-stage MMRM's 95% intervals for a planted within-trial interaction.

The design of ``tests/test_repeated_interactions.py::test_coverage_of_the_interaction``:
8 trials of 80, visits 4 and 12 (primary 12), mean effects -1, -3, tau 0.3, 0.5, dropout
0.15 (completely at random); ``baseline`` centred at ``m_k ~ N(0, 0.5)`` per trial, a within-trial
treatment-``baseline`` interaction of 1.0 at week 12 and no across-trial one (0.0: the
trials' effects do not move with their covariate centre), so the two parts differ and a
model that pooled them would be biased; 2 chains x 500 draws after 500 tuning steps. One
compile, then each replicate refits the same program. Prints the coverage of
``gamma_within``, ``gamma_across`` and the mean effect per visit with the binomial Monte
Carlo error, and the mean posterior mean minus truth (bias).

Run: ``python benchmarks/repeated_interaction_coverage.py --replicates 100``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bayes_ipd.one_stage.repeated_result import fit_repeated
from bayes_ipd.simulate.repeated import simulate_repeated
from bayes_ipd.spec import SamplerSettings

COLUMNS = {"study": "study", "treatment": "treat", "outcome": "y", "participant": "id"}
DESIGN: dict[str, Any] = {
    "visits": (4, 12),
    "effects": (-1.0, -3.0),
    "tau": (0.3, 0.5),
    "visit_means": (10.0, 8.0),
    "covariate_effects": (0.5, 0.7),
    "sd": (2.0, 2.5),
    "dropout": 0.15,
    "interaction": 1.0,
    "across_interaction": 0.0,
    "covariate_shift": 0.5,
}


def replicate(seed: int, sampler: SamplerSettings) -> dict[str, Any]:
    """One simulated data set and fit: intervals and means of the planted quantities."""
    rows, truth = simulate_repeated(8, 80, seed=seed, **DESIGN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_repeated(
            rows,
            **COLUMNS,
            visit="visit",
            covariates=["baseline"],
            interactions=["baseline"],
            sampler=sampler,
        )
    post = res.to_json()["posterior"]
    nodes = [
        post["interactions_within"]["baseline"],
        post["interactions_across"]["baseline"],
        *post["effect_by_visit"],
    ]
    planted = np.array([truth.interaction, truth.across_interaction, *truth.effects])
    lo, hi, mean = (np.array([n[q] for n in nodes]) for q in ("q025", "q975", "mean"))
    return {
        "hit": (lo <= planted) & (planted <= hi),
        "error": mean - planted,
        "divergences": res.diagnostics.divergences,
    }


def coverage(replicates: int, draws: int = 500, first_seed: int = 2000) -> dict[str, Any]:
    """Coverage over ``replicates`` data sets (module docstring)."""
    sampler = SamplerSettings(draws=draws, tune=draws, chains=2, progress=False)
    hits, errors, divergences = [], [], 0
    t0 = time.perf_counter()
    for rep in range(replicates):
        out = replicate(first_seed + rep, sampler)
        hits.append(out["hit"])
        errors.append(out["error"])
        divergences += out["divergences"]
        print(f"replicate {rep + 1}: covered {out['hit'].astype(int).tolist()}", flush=True)
    names = ["gamma_within", "gamma_across", *(f"effect {v}" for v in DESIGN["visits"])]
    n = len(hits)
    return {
        "replicates": n,
        "quantities": names,
        "coverage": dict(zip(names, np.mean(hits, axis=0).tolist(), strict=True)),
        "mc_error": float(np.sqrt(0.95 * 0.05 / max(n, 1))),
        "bias": dict(zip(names, np.mean(errors, axis=0).tolist(), strict=True)),
        "divergences_total": divergences,
        "seconds": time.perf_counter() - t0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--first-seed", type=int, default=2000)
    args = parser.parse_args(argv)
    print(json.dumps(coverage(args.replicates, args.draws, args.first_seed), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
