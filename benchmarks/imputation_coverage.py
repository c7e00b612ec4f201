"""Coverage of the one-stage imputation (``missing="impute"``) against complete-case analysis.

Each replicate simulates trials with a planted within-trial interaction (0.4), a covariate
``x`` missing at random given the outcome (``bayes_ipd.simulate.missing_covariates``) and one
trial that never recorded it, then fits the same one-stage model twice: ``missing="impute"``
(x imputed inside the model) and ``missing="drop"`` (complete cases; the trial without x
drops out). It records, per route, the posterior mean and SD of ``gamma_within`` and whether
the central 95% interval covers the truth, and writes one CSV row per replicate.

Run (resumable: replicates already in the CSV are skipped), e.g. in two processes over
disjoint seeds, then merged::

    python -m benchmarks.imputation_coverage --first-seed 1000 --replicates 100 --out a.csv
    python -m benchmarks.imputation_coverage --first-seed 1100 --replicates 100 --out b.csv
    python -m benchmarks.imputation_coverage --merge a.csv b.csv \
        --out benchmarks/results/imputation_coverage.csv

The model's parameterisation is fixed (``noncentred``) so that every replicate has the same
structure: the program is compiled once and reused (only the data change). The residual SD
is common to the trials (as simulated): with one SD per trial, the trial that never recorded
x separates its residual SD from x's SD only through the difference between its arms.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_ipd as bi
from bayes_ipd.simulate.missing_covariates import simulate_missing_covariates

SETTINGS = {
    "n_trials": 8,
    "n_per_trial": 150,
    "missing_slope": 3.0,
    "missing_rate": 0.5,
    "z_missing_rate": 0.0,
    "systematic": 1,
}
"""The simulation of every replicate (strong MAR on the outcome, one trial without x)."""

SPEC = bi.ModelSpec(
    family="gaussian",
    covariates=("x", "z"),
    interactions=("x",),
    residual_sd="common",
    parameterisation="noncentred",
)


def replicate(seed: int, draws: int = 500, tune: int = 500) -> dict[str, float]:
    """Fit one simulated data set both ways; the interaction's posterior per route."""
    sim = simulate_missing_covariates(seed=seed, **SETTINGS)
    truth = sim.truth["interaction"]
    read = {"study": "study", "treatment": "treat", "outcome": "y", "covariates": ["x", "z"]}
    sampler = bi.SamplerSettings(draws=draws, tune=tune, chains=2, seed=seed, progress=False)
    row: dict[str, float] = {"seed": seed, "truth": truth}
    for route, policy in (("imputed", "impute"), ("complete", "drop")):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ipd = bi.IPD.from_frame(sim.data, missing=policy, **read)
            result = bi.fit(ipd, SPEC, sampler)
        g = result.idata.posterior["gamma_within"].values.ravel()
        lo, hi = np.quantile(g, [0.025, 0.975])
        row |= {
            f"{route}_mean": float(g.mean()),
            f"{route}_sd": float(g.std()),
            f"{route}_covers": float(lo <= truth <= hi),
            f"{route}_divergences": float(result.diagnostics.divergences),
            f"{route}_rhat": float(result.diagnostics.r_hat_max),
            f"{route}_seconds": time.perf_counter() - t0,
        }
    return row


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Coverage and bias per route with their Monte Carlo standard errors."""
    n = len(table)
    out = {}
    for route in ("imputed", "complete"):
        cover = table[f"{route}_covers"].mean()
        bias = (table[f"{route}_mean"] - table["truth"]).to_numpy()
        out[route] = {
            "replicates": n,
            "coverage": cover,
            "coverage_mcse": float(np.sqrt(cover * (1 - cover) / n)),
            "bias": float(bias.mean()),
            "bias_mcse": float(bias.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan,
            "mean_posterior_sd": float(table[f"{route}_sd"].mean()),
        }
    return pd.DataFrame(out).T


def merge(paths: list[Path]) -> pd.DataFrame:
    """The rows of several runs (e.g. two processes over disjoint seeds), one per seed, in
    seed order, with the columns of one run."""
    table = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    table = table.drop_duplicates("seed").sort_values("seed", ignore_index=True)
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("imputation_coverage.csv"))
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="CSV",
        help="write these runs' rows (one per seed) to --out and summarise, fitting nothing",
    )
    args = parser.parse_args(argv)
    if args.merge:
        merged = merge(args.merge)
        merged.to_csv(args.out, index=False)
        print(summarise(merged).to_string())
        return
    done = pd.read_csv(args.out) if args.out.exists() else pd.DataFrame()
    seen = set(done["seed"].astype(int)) if len(done) else set()
    for seed in range(args.first_seed, args.first_seed + args.replicates):
        if seed in seen:
            continue
        row = replicate(seed, draws=args.draws, tune=args.draws)
        done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
        done.to_csv(args.out, index=False)
        print(f"seed {seed}: {row}", flush=True)
    print(summarise(done).to_string())


if __name__ == "__main__":
    main()
