"""B5: seconds per 1,000 bulk-ESS of tau, survival IPD, bayes_ipd vs a row-level PyMC model.

Data: ``simulate_survival`` with 10 trials x 2,000 participants (20,000 rows; Weibull shape
1.5, true log HR -0.29, tau 0.15, 5 years of follow-up with 10% dropout) and two continuous
prognostic covariates, systolic blood pressure (mmHg) and age (years); the other simulated
covariates have no effect. Model: piecewise-exponential proportional hazards on 6 intervals
cut at the event-time quantiles, stratified baseline (``alpha_k`` plus a random walk of
``hazard_smoothing * log_hazard_step`` over the intervals), common covariate effects
(centred within trial), ``theta_k ~ Normal(mu, tau)``. Sampler: 2 chains x 1,000 draws after
1,000 tuning steps (the benchmark machine has 2 cores).

* ours: ``bayes_ipd.fit`` (exact collapsed piecewise-exponential likelihood on cells of
  (trial, interval, design row), nutpie), timed from the DataFrame (``IPD.from_frame``) to
  the posterior, compile included; parameterisation ``auto`` and ``noncentred``, each in a
  fresh process. With continuous covariates almost every person-interval is its own cell,
  so the collapse saves little here: the comparison is of everything else.
* baseline: the plain row-level PyMC model a user would write without bayes_ipd — the
  "Poisson trick" over person-interval rows (one ``pm.Poisson`` term per participant and
  interval at risk, log exposure as offset), the same cut points, priors
  (``bayes_ipd.one_stage.builder.priors_for``) and random-walk baseline, non-centred trial effects,
  sampled with ``pm.sample`` (PyMC's NUTS, default settings), timed from the DataFrame to the
  posterior, compile included. Its log density equals bayes_ipd's non-centred model's up to
  the constant ``sum d log E`` of the Poisson kernel (``tests/test_survival.py`` checks it).

Figure: ``1000 * seconds / bulk-ESS(tau)``; ratio = baseline / ours.
Run: ``python benchmarks/b5_survival_ess.py`` (``--smoke`` for a seconds-long check).
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.common import Row

NAME = "b5_survival"
COVARIATES = ("sbp", "age")
INTERVALS = 6
TARGET_RHAT = 1.01


@dataclass(frozen=True)
class Config:
    """Sizes and sampler settings of one B5 run."""

    n_studies: int = 10
    n_per_study: int = 2000
    data_seed: int = 505
    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    seed: int = 20240601
    backend: str = "auto"
    parameterisations: tuple[str, ...] = ("auto", "noncentred")
    run_baseline: bool = True


FULL = Config()
SMOKE = Config(
    n_studies=3,
    n_per_study=60,
    draws=50,
    tune=50,
    chains=1,
    backend="pymc",
    parameterisations=("auto",),
    run_baseline=False,
)


# --------------------------------------------------------------------------- data, model


def simulated_survival(n_studies: int, n_per_study: int, seed: int) -> Any:
    """Simulated survival trials; only ``sbp`` and ``age`` affect the hazard."""
    from bayes_ipd.simulate import simulate_survival

    frame, _ = simulate_survival(n_studies, n_per_study, beta_smoking=0.0, beta_bmi=0.0, seed=seed)
    return frame


def survival_ipd(frame: Any) -> Any:
    """The frame as a validated survival IPD with ``sbp`` and ``age`` as covariates."""
    from bayes_ipd.data import IPD

    return IPD.from_frame(
        frame,
        study="trial",
        treatment="treat",
        time="time",
        event="event",
        covariates=COVARIATES,
        family="survival",
    )


def survival_spec(parameterisation: str = "auto") -> Any:
    """The benchmark model (piecewise exponential, 6 intervals, sbp and age).

    The coefficient prior is given per raw unit (``normal(0, 2.5)``), as the row-level
    baseline writes it, so that both sides fit the same model (the default would be per SD
    of each covariate).
    """
    from bayes_ipd.spec import ModelSpec

    return ModelSpec(
        "survival",
        covariates=COVARIATES,
        intervals=INTERVALS,
        parameterisation=parameterisation,
        priors={"coefficients": "normal(0, 2.5)"},
    )


def person_interval_rows(
    time_: np.ndarray, event: np.ndarray, cutpoints: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Episode splitting: (participant, interval, exposure, event) per interval at risk."""
    edges = np.concatenate([[0.0], np.asarray(cutpoints, dtype=np.float64), [np.inf]])
    exposure = np.clip(np.minimum(time_[:, None], edges[None, 1:]) - edges[None, :-1], 0, None)
    person, interval = np.nonzero(exposure > 0)
    last = np.searchsorted(edges, time_, side="left") - 1
    died = (interval == last[person]) & (event[person] > 0)
    return person, interval, exposure[person, interval], died.astype(np.int64)


def row_level_survival_model(frame: Any, priors: Any, cutpoints: Sequence[float]) -> Any:
    """Plain PyMC piecewise-exponential model with one Poisson term per person-interval.

    ``d_ij ~ Poisson(E_ij exp(log h_{k j} + theta_k t_i + beta'(x_i - xbar_k)))`` with
    ``log h_kj = alpha_k + sum_{l <= j} hazard_smoothing * log_hazard_step_kl``,
    non-centred ``theta_k = mu + tau z_k``, and the priors of ``priors`` (a
    :class:`bayes_ipd.priors.PriorSet`).
    """
    import pandas as pd
    import pymc as pm
    import pytensor.tensor as pt

    from bayes_ipd.priors import tau_to_pymc

    codes, labels = pd.factorize(frame["trial"], sort=True)
    k, n_int = len(labels), len(cutpoints) + 1
    x = np.column_stack(
        [
            common.within_trial_centring(frame[c].to_numpy(np.float64), codes, k)[0]
            for c in COVARIATES
        ]
    )
    person, interval, exposure, died = person_interval_rows(
        frame["time"].to_numpy(np.float64), frame["event"].to_numpy(np.int64), cutpoints
    )
    study = codes[person]
    treat = frame["treat"].to_numpy(np.float64)[person]
    coords = {"study": list(labels), "covariate": list(COVARIATES), "step": list(range(1, n_int))}
    with pm.Model(coords=coords) as model:
        mu = priors.effect.to_pymc("mu")
        tau = tau_to_pymc(priors.tau, name="tau")
        theta_z = pm.Normal("theta_z", 0.0, 1.0, dims="study")
        theta = pm.Deterministic("theta", mu + tau * theta_z, dims="study")
        alpha = priors.intercept.to_pymc("alpha", dims="study")
        beta = priors.coefficients.to_pymc("beta", dims="covariate")
        smooth = pm.HalfNormal("hazard_smoothing", 1.0)
        step = pm.Normal("log_hazard_step", 0.0, 1.0, dims=("study", "step"))
        walk = pt.concatenate([pt.zeros((k, 1)), pt.cumsum(smooth * step, axis=1)], axis=1)
        log_rate = (
            alpha[study]
            + walk[study, interval]
            + theta[study] * treat
            + pt.dot(x[person], beta)
            + np.log(exposure)
        )
        pm.Poisson("d", mu=pt.exp(log_rate), observed=died)
    return model


# --------------------------------------------------------------------------- cases


def ours_case(
    n_studies: int,
    n_per_study: int,
    data_seed: int,
    parameterisation: str,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    backend: str,
) -> dict[str, Any]:
    """One bayes_ipd fit of the simulated data; timings from the DataFrame on."""
    t0 = time.perf_counter()
    from bayes_ipd.one_stage.fitting import fit
    from bayes_ipd.one_stage.sampling import clear_compiled_cache

    import_seconds = time.perf_counter() - t0
    clear_compiled_cache()  # compile included, even when cases share a process
    frame = simulated_survival(n_studies, n_per_study, data_seed)
    t1 = time.perf_counter()
    ipd = survival_ipd(frame)
    t2 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(
            ipd,
            survival_spec(parameterisation),
            common.sampler_settings(draws, tune, chains, seed, backend),
        )
    t3 = time.perf_counter()
    d = result.diagnostics
    total = t3 - t1
    ess = common.ess_bulk(result.idata, "tau")
    return {
        "parameterisation": parameterisation,
        "resolved": dict(result.built.parameterisation),
        "backend": d.backend,
        "rows": int(ipd.n),
        "cells": len(result.built.design.stats["cell_n"]),
        "cutpoints": list(result.built.design.cutpoints),
        "import_seconds": import_seconds,
        "ipd_seconds": t2 - t1,
        "fit_seconds": t3 - t2,
        "compile_seconds": d.compile_seconds,
        "sampling_seconds": d.sampling_seconds,
        "design_build_diagnostics_seconds": t3 - t2 - d.compile_seconds - d.sampling_seconds,
        "total_seconds": total,
        "ess_bulk_tau": ess,
        "r_hat_tau": common.r_hat(result.idata, "tau"),
        "r_hat_max": d.r_hat_max,
        "ess_bulk_min": d.ess_bulk_min,
        "divergences": d.divergences,
        "mean_tree_steps": _mean_steps(result.idata),
        "seconds_per_1000_ess_tau": common.seconds_per_kess(total, ess),
        "mu_mean": float(result.idata.posterior["mu"].mean()),
        "tau_mean": float(result.idata.posterior["tau"].mean()),
    }


def baseline_case(
    n_studies: int, n_per_study: int, data_seed: int, draws: int, tune: int, chains: int, seed: int
) -> dict[str, Any]:
    """The row-level PyMC model (non-centred) with bayes_ipd's priors, default ``pm.sample``."""
    t0 = time.perf_counter()
    import pymc  # noqa: F401  (timed: the import a user pays)

    from bayes_ipd.families.survival import default_cutpoints

    import_seconds = time.perf_counter() - t0
    frame = simulated_survival(n_studies, n_per_study, data_seed)
    priors = common.resolved_priors(survival_ipd(frame), survival_spec())
    t1 = time.perf_counter()
    times, events = frame["time"].to_numpy(np.float64), frame["event"].to_numpy(np.int64)
    cuts = default_cutpoints(times[events > 0], INTERVALS)
    model = row_level_survival_model(frame, priors, cuts)
    n_rows = int(person_interval_rows(times, events, cuts)[0].size)
    t2 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = common.sample_pymc_default(model, draws, tune, chains, seed)
    t3 = time.perf_counter()
    total = t3 - t1
    ess = common.ess_bulk(idata, "tau")
    return {
        "parameterisation": "noncentred",
        "priors": priors.to_dict(),
        "rows": len(frame),
        "person_interval_rows": n_rows,
        "cutpoints": list(cuts),
        "import_seconds": import_seconds,
        "build_seconds": t2 - t1,
        "sample_seconds": t3 - t2,
        "total_seconds": total,
        "ess_bulk_tau": ess,
        "r_hat_tau": common.r_hat(idata, "tau"),
        "divergences": common.divergences(idata),
        "mean_tree_steps": _mean_steps(idata),
        "seconds_per_1000_ess_tau": common.seconds_per_kess(total, ess),
        "mu_mean": float(idata.posterior["mu"].mean()),
        "tau_mean": float(idata.posterior["tau"].mean()),
    }


def _mean_steps(idata: Any) -> float | None:
    stats = idata.sample_stats
    for name in ("n_steps", "tree_size"):
        if name in stats:
            return float(stats[name].mean())
    return None


# --------------------------------------------------------------------------- report


def table_rows(ours: dict[str, dict], baseline: dict | None) -> list[Row]:
    """case | ours | baseline | ratio lines of B5."""
    return common.ess_table_rows(ours, baseline)


def detail_lines(ours: dict[str, dict], baseline: dict | None) -> str:
    """Where the time goes, per case."""
    head = (
        f"{'case':<20} {'total':>7} {'compile':>8} {'sample':>7} {'other':>6} {'ESS tau':>8} "
        f"{'Rhat tau':>8} {'Rhat max':>8} {'div':>4} {'steps':>6} {'RSS MiB':>8}"
    )
    lines = [head, "-" * len(head)]
    for param, r in ours.items():
        other = r["ipd_seconds"] + r["design_build_diagnostics_seconds"]
        lines.append(
            f"{'ours ' + param:<20} {r['total_seconds']:7.1f} {r['compile_seconds']:8.1f} "
            f"{r['sampling_seconds']:7.1f} {other:6.1f} {r['ess_bulk_tau']:8.0f} "
            f"{r['r_hat_tau']:8.4f} {r['r_hat_max']:8.4f} {r['divergences']:4d} "
            f"{_num(r['mean_tree_steps']):>6} {r['maxrss_mib']:8.0f}"
        )
    if baseline:
        b = baseline
        lines.append(
            f"{'row-level PyMC':<20} {b['total_seconds']:7.1f} {'(in sample)':>8} "
            f"{b['sample_seconds']:7.1f} {b['build_seconds']:6.1f} {b['ess_bulk_tau']:8.0f} "
            f"{b['r_hat_tau']:8.4f} {'':>8} {b['divergences']:4d} "
            f"{_num(b['mean_tree_steps']):>6} {b['maxrss_mib']:8.0f}"
        )
    return "\n".join(lines)


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def run(
    config: Config = FULL,
    *,
    isolate: bool = True,
    results_dir: Path | None = None,
    wait_load: float | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run B5 and write ``<results_dir>/b5_survival.json``; returns the payload."""
    info = common.machine_info()
    data = {
        "n_studies": config.n_studies,
        "n_per_study": config.n_per_study,
        "data_seed": config.data_seed,
    }
    sampler = {
        "draws": config.draws,
        "tune": config.tune,
        "chains": config.chains,
        "seed": config.seed,
    }
    ours: dict[str, dict] = {}
    for param in config.parameterisations:
        common.wait_for_quiet(wait_load)
        ours[param] = common.call_case(
            f"benchmarks.{Path(__file__).stem}:ours_case",
            {**data, **sampler, "parameterisation": param, "backend": config.backend},
            isolate,
        )
    baseline = None
    if config.run_baseline:
        common.wait_for_quiet(wait_load)
        baseline = common.call_case(
            f"benchmarks.{Path(__file__).stem}:baseline_case", {**data, **sampler}, isolate
        )
    rows = table_rows(ours, baseline)
    first = next(iter(ours.values()))
    payload = {
        "benchmark": NAME,
        "config": asdict(config),
        "machine": info,
        "load_average_at_end": common.load_average(),
        "rows": [r.to_dict() for r in rows],
        "ours": ours,
        "baseline": baseline,
        "targets": {
            "ratio": rows[0].ratio,
            "r_hat_max": TARGET_RHAT,
            "r_hat_met": first["r_hat_max"] <= TARGET_RHAT,
        },
    }
    path = common.write_results(NAME, payload, results_dir)
    if verbose:
        title = (
            f"B5 survival IPD {config.n_studies} x {config.n_per_study:,} (sbp, age; "
            f"{INTERVALS} intervals), {config.chains} chains x {config.draws} draws "
            f"(tune {config.tune})"
        )
        print(common.format_table(title, rows))
        print()
        print(detail_lines(ours, baseline))
        print(f"\nload average {info['load_average_at_start']} -> {payload['load_average_at_end']}")
        print(f"written {path}")
    return payload


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line: ``python benchmarks/b5_survival_ess.py [--smoke] [--no-isolate]``."""
    return common.standard_main(run, SMOKE, FULL, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
