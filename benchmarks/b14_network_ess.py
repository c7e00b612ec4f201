"""B14: the one-stage network model on exact arm sums vs the same model written on rows.

Data (:func:`simulated_network`): a network of 5 treatments (``A`` the reference) in 24
trials (20 two-arm, 4 three-arm; 52 arms), ``per_arm`` participants per arm (1,000 by
default: 52,000 participant rows), random effects with ``tau = 0.3`` and the multi-arm
correlation 1/2; binomial (0/1 outcome) and gaussian (residual SD per trial) families.

Both models are the model of :mod:`bayes_ipd.one_stage.network_model` with the same priors
(:func:`~bayes_ipd.one_stage.network_model.network_priors`, the family's defaults), the
same stratified baselines ``alpha_k`` and the same non-centred random effects ``delta``
with the multi-arm correlation 1/2 (built by the same function): ours evaluates the
likelihood from each arm's sufficient statistics; the baseline writes one likelihood term
per participant row (``pm.Bernoulli(logit_p=eta)`` / ``pm.Normal(eta, sigma_k)``,
``observed=y``). Both are sampled by the package's sampler (nutpie when installed) with the
same settings, one after the other in this process; compile and sampling are timed
separately. ``tests/test_b14_network_ess.py`` checks that both have the same log density.

Reported per family: compile and sampling seconds, bulk ESS of ``tau``, sampling seconds
per 1,000 bulk ESS of ``tau``; ``ratio`` = baseline / ours.

First fit (:func:`first_fit`), each a fresh process, one after the other: ``python -c
"import bayes_ipd, pymc"``; ``bayes-ipd network --route one-stage`` on the shipped
Hasselblad rows with an empty cache folder (cold: compile and write the cache); the same on
other data of the same shape (each arm's outcomes resampled) with that cache (warm). Ratio:
warm wall / import wall.

Run: ``python benchmarks/b14_network_ess.py [--per-arm 1000] [--draws 1000] [--tune 1000]
[--chains 2] [--families binomial,gaussian] [--first-fit-draws 1000]``
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

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from scipy.special import expit

from bayes_ipd.convergence import convergence
from bayes_ipd.data.network import Network, network_from_frame
from bayes_ipd.one_stage.builder import BuiltModel, hyperparameters
from bayes_ipd.one_stage.network_model import (
    build_network_model,
    contrast_deltas,
    contrast_mean,
    network_priors,
)
from bayes_ipd.one_stage.network_summaries import NetworkArms, network_arms
from bayes_ipd.one_stage.sampling import sample
from bayes_ipd.spec import SamplerSettings
from benchmarks import common
from benchmarks.common import Row

NAME = "b14_network_ess"
TREATMENTS = ("A", "B", "C", "D", "E")
EFFECTS = {"A": 0.0, "B": 0.4, "C": 0.7, "D": 0.2, "E": 0.5}
TAU = 0.3
TWO_ARM = [("A", "B")] * 5 + [("A", "C")] * 4 + [("A", "D")] * 3 + [("A", "E")] * 3
TWO_ARM += [("B", "C")] * 2 + [("C", "D")] * 2 + [("B", "E")]
THREE_ARM = [("A", "B", "C"), ("A", "C", "D"), ("A", "B", "E"), ("B", "C", "D")]
DESIGNS = TWO_ARM + THREE_ARM
"""24 trials: 20 two-arm, 4 three-arm (52 arms)."""
FAMILIES = ("binomial", "gaussian")


def simulated_network(
    family: str, per_arm: int, n_trials: int = 24, seed: int = 14
) -> pd.DataFrame:
    """Participant rows ``study, treatment, y`` of a random-effects network (module
    docstring); ``n_trials`` takes the first designs (cycled beyond 24)."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(n_trials):
        design = DESIGNS[k % len(DESIGNS)]
        m = len(design) - 1
        cov = TAU**2 * (0.5 * np.ones((m, m)) + 0.5 * np.eye(m))
        mean = [EFFECTS[t] - EFFECTS[design[0]] for t in design[1:]]
        delta = np.r_[0.0, rng.multivariate_normal(mean, cov)]
        if family == "binomial":
            alpha = rng.normal(-1.0, 0.5)
            draw = [rng.binomial(1, expit(alpha + e), per_arm) for e in delta]
        else:
            alpha, sigma = rng.normal(10.0, 2.0), rng.uniform(3.0, 6.0)
            draw = [rng.normal(alpha + e, sigma, per_arm) for e in delta]
        for t, y in zip(design, draw, strict=True):
            parts.append(pd.DataFrame({"study": f"T{k:02d}", "treatment": t, "y": y}))
    return pd.concat(parts, ignore_index=True)


def network_of(rows: pd.DataFrame, family: str) -> Network:
    """The network value of :func:`simulated_network`'s rows."""
    return network_from_frame(
        rows, study="study", treatment="treatment", reference="A", family=family, outcome="y"
    )


def row_arm_index(network: Network, arms: NetworkArms) -> np.ndarray:
    """Each participant row's arm (index into ``arms``)."""
    lookup = np.full((arms.k, len(arms.treatments)), -1, dtype=np.int64)
    lookup[arms.arm_study, arms.arm_treatment] = np.arange(arms.n_arms)
    return lookup[network.study_codes, network.treatment_codes]


def row_level_model(network: Network, arms: NetworkArms, effects: str = "random") -> BuiltModel:
    """The network model with one likelihood term per participant row (the baseline):
    same priors, baselines and random effects as
    :func:`~bayes_ipd.one_stage.network_model.build_network_model`."""
    priors = network_priors(arms)
    row_arm = row_arm_index(network, arms)
    y = np.asarray(network.responses[network.columns["outcome"]], dtype=float)
    coords = {
        "study": list(arms.studies),
        "treatment": list(arms.treatments[1:]),
        "contrast": arms.contrast_labels(),
    }
    with pm.Model(coords=coords) as model:
        names = ("contrast_treatment", "contrast_base", "chol_rows", "chol_cols", "chol_values")
        data = {name: pm.Data(name, np.asarray(getattr(arms, name))) for name in names}
        alpha = priors.intercept.to_pymc(
            "alpha", dims="study", params=hyperparameters("intercept", priors.intercept)
        )
        delta = contrast_deltas(arms, contrast_mean(data, priors), data, priors, effects)
        offset = pt.set_subtensor(pt.zeros(arms.n_arms)[arms.contrast_arm], delta)
        arm = pm.Data("row_arm", row_arm)
        eta = alpha[pm.Data("row_study", network.study_codes)] + offset[arm]
        if arms.family == "binomial":
            pm.Bernoulli("y", logit_p=eta, observed=y)
        else:
            sigma = priors.sigma.to_pymc(
                "sigma", dims="study", params=hyperparameters("sigma", priors.sigma)
            )
            pm.Normal("y", eta, sigma[network.study_codes], observed=y)
    forms = {"delta": "noncentred"} if effects == "random" else {}
    return BuiltModel(model=model, design=None, spec=None, priors=priors, parameterisation=forms)


def _timed(built: BuiltModel, sampler: SamplerSettings) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata, diag = sample(built, sampler)
    tau = np.asarray(idata.posterior["tau"].transpose("chain", "draw").values)
    d = np.asarray(idata.posterior["d"].transpose("chain", "draw", "treatment").values)
    ess = float(convergence(tau[None]).ess_bulk[0])
    return {
        "compile_seconds": diag.compile_seconds,
        "compiled_from": diag.compiled_from,
        "sampling_seconds": diag.sampling_seconds,
        "ess_bulk_tau": ess,
        "sampling_seconds_per_1000_ess_tau": common.seconds_per_kess(diag.sampling_seconds, ess),
        "divergences": diag.divergences,
        "r_hat_max": diag.r_hat_max,
        "tau_mean": float(tau.mean()),
        "d_mean": d.mean(axis=(0, 1)).tolist(),
    }


def ess_case(family: str, per_arm: int, n_trials: int, sampler: SamplerSettings) -> dict:
    """Ours and the row-level baseline on one simulated network."""
    rows = simulated_network(family, per_arm, n_trials)
    network = network_of(rows, family)
    t0 = time.perf_counter()
    arms = network_arms(network)
    summary_seconds = time.perf_counter() - t0
    ours = _timed(build_network_model(arms).as_built(), sampler)
    ours["summary_seconds"] = summary_seconds
    baseline = _timed(row_level_model(network, arms), sampler)
    return {
        "family": family,
        "trials": arms.k,
        "arms": arms.n_arms,
        "three_arm_trials": int(sum(np.bincount(arms.arm_study) == 3)),
        "participant_rows": int(network.n),
        "ours": ours,
        "row_level": baseline,
        "ratio_seconds_per_1000_ess_tau": common.ratio(
            baseline["sampling_seconds_per_1000_ess_tau"],
            ours["sampling_seconds_per_1000_ess_tau"],
        ),
    }


def _resampled_rows(path: Path, seed: int = 1) -> pd.DataFrame:
    """Hasselblad rows with each arm's outcomes resampled (same trials and arms)."""
    from bayes_ipd.datasets import load_hasselblad1998_rows

    frame = load_hasselblad1998_rows()
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for _, index in frame.groupby(["study", "treatment"]).groups.items():
        out.loc[index, "quit"] = rng.choice(frame.loc[index, "quit"].to_numpy(), len(index))
    return out


def _network_process(csv: Path, cache: Path, draws: int, chains: int) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bayes_ipd.cli", "network", str(csv), "--study", "study"]
    argv += ["--treatment", "treatment", "--reference", "no_contact", "--outcome", "quit"]
    argv += ["--route", "one-stage", "--json", "--draws", str(draws), "--tune", str(draws)]
    argv += ["--chains", str(chains), "--seed", "1"]
    run = common.run_process(argv, env={"BAYES_IPD_CACHE_DIR": str(cache)})
    if run.returncode != 0:
        raise RuntimeError(f"bayes-ipd network failed: {run.stderr.splitlines()[-5:]}")
    out = json.loads(run.stdout)
    return {
        "process_wall_seconds": run.wall_seconds,
        "cache_files_after": sum(1 for p in cache.rglob("*") if p.is_file()),
        "tau_mean": out["tau"]["mean"],
        "load_average_after": common.load_average(),
    }


def first_fit(draws: int, chains: int) -> dict[str, Any]:
    """import / cold / warm processes (module docstring)."""
    from bayes_ipd.datasets import load_hasselblad1998_rows

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        first, other, cache = folder / "rows.csv", folder / "other.csv", folder / "cache"
        load_hasselblad1998_rows().to_csv(first, index=False)
        _resampled_rows(folder).to_csv(other, index=False)
        imp = common.run_process([sys.executable, "-c", "import bayes_ipd, pymc"])
        cold = _network_process(first, cache, draws, chains)
        warm = _network_process(other, cache, draws, chains)
        imp_again = common.run_process([sys.executable, "-c", "import bayes_ipd, pymc"])
    import_wall = min(imp.wall_seconds, imp_again.wall_seconds)
    return {
        "import_wall_seconds": [imp.wall_seconds, imp_again.wall_seconds],
        "cold": cold,
        "warm": warm,
        "warm_reused_cache": warm["cache_files_after"] == cold["cache_files_after"],
        "warm_over_import": warm["process_wall_seconds"] / import_wall,
        "draws": draws,
        "chains": chains,
    }


def _rows(cases: list[dict], first: dict | None) -> list[Row]:
    rows = []
    for c in cases:
        o, b = c["ours"], c["row_level"]
        f = c["family"]
        key = "sampling_seconds_per_1000_ess_tau"
        rows.append(
            Row(f"{f}: s per 1000 bulk-ESS(tau)", o[key], b[key], common.ratio(b[key], o[key]))
        )
        rows.append(
            Row(
                f"{f}: sampling",
                o["sampling_seconds"],
                b["sampling_seconds"],
                common.ratio(b["sampling_seconds"], o["sampling_seconds"]),
            )
        )
        rows.append(
            Row(
                f"{f}: compile",
                o["compile_seconds"],
                b["compile_seconds"],
                common.ratio(b["compile_seconds"], o["compile_seconds"]),
            )
        )
    if first is not None:
        warm = first["warm"]["process_wall_seconds"]
        imp = min(first["import_wall_seconds"])
        rows.append(Row("first fit, warm cache vs import bayes_ipd, pymc", warm, imp, imp / warm))
        cold = first["cold"]["process_wall_seconds"]
        rows.append(Row("first fit, warm vs cold cache", warm, cold, cold / warm))
    return rows


def run(
    per_arm: int = 1000,
    n_trials: int = 24,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    families: Sequence[str] = FAMILIES,
    first_fit_draws: int | None = 1000,
    first_fit_chains: int = 4,
    results_dir: Path | None = None,
    backend: str = "auto",
) -> dict[str, Any]:
    """Every case in order; writes ``<results_dir>/b14_network_ess.json``."""
    info = common.machine_info()
    sampler = SamplerSettings(
        draws=draws, tune=tune, chains=chains, seed=14, progress=False, backend=backend
    )
    cases = [ess_case(f, per_arm, n_trials, sampler) for f in families]
    first = None if first_fit_draws is None else first_fit(first_fit_draws, first_fit_chains)
    rows = _rows(cases, first)
    payload = {
        "benchmark": NAME,
        "config": {
            "per_arm": per_arm,
            "n_trials": n_trials,
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "families": list(families),
            "backend": backend,
        },
        "machine": info,
        "cases": cases,
        "first_fit": first,
        "rows": [r.to_dict() for r in rows],
        "load_average_at_end": common.load_average(),
    }
    path = common.write_results(NAME, payload, results_dir)
    common.print_report("B14 one-stage network: arm sums vs row-level PyMC", rows, payload, path)
    return payload


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line (module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-arm", type=int, default=1000)
    p.add_argument("--trials", type=int, default=24)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--first-fit-draws", type=int, default=1000, help="0: skip the first fit")
    p.add_argument("--first-fit-chains", type=int, default=4)
    p.add_argument("--results-dir", type=Path, default=None)
    args = p.parse_args(argv)
    return run(
        per_arm=args.per_arm,
        n_trials=args.trials,
        draws=args.draws,
        tune=args.tune,
        chains=args.chains,
        families=tuple(args.families.split(",")),
        first_fit_draws=args.first_fit_draws or None,
        first_fit_chains=args.first_fit_chains,
        results_dir=args.results_dir,
    )


if __name__ == "__main__":
    main()
