"""B1: seconds per 1,000 bulk-ESS of tau, continuous IPD, bayes_ipd vs a row-level PyMC model.

Data: ``simulate_continuous`` with 20 trials x 5,000 participants (100,000 rows), age as
prognostic covariate and effect modifier (within/across-trial interaction split). Sampler:
4 chains x 1,000 draws after 1,000 tuning steps.

* ours: ``bayes_ipd.fit`` (exact collapsed gaussian likelihood, nutpie), timed from the
  DataFrame (``IPD.from_frame``) to the posterior, compile included; once per
  parameterisation (``auto``, ``centred``, ``noncentred``), each in a fresh process.
* baseline: the plain row-level PyMC model (``pm.Normal("y", mu=eta,
  sigma=sigma[study_idx], observed=y)`` over every row, non-centred trial effects) with the
  same priors (``bayes_ipd.one_stage.builder.priors_for``), sampled with ``pm.sample`` (PyMC's NUTS,
  default settings), timed from the DataFrame to the posterior, compile included.

Figure: ``1000 * seconds / bulk-ESS(tau)``; ratio = baseline / ours (target >= 20, with
R-hat <= 1.01 for ours). Run: ``python benchmarks/b1_continuous_ess.py``.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.common import Row

NAME = "b1_continuous_ess"
TARGET_RATIO = 20.0
TARGET_RHAT = 1.01


@dataclass(frozen=True)
class Config:
    """Sizes and sampler settings of one B1 run."""

    n_studies: int = 20
    n_per_study: int = 5000
    data_seed: int = 101
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int = 20240601
    backend: str = "auto"
    parameterisations: tuple[str, ...] = ("auto", "centred", "noncentred")
    run_baseline: bool = True


FULL = Config()
SMOKE = Config(
    n_studies=3,
    n_per_study=50,
    draws=50,
    tune=50,
    chains=1,
    backend="pymc",
    parameterisations=("auto",),
    run_baseline=False,
)


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
    frame = common.simulated_continuous(n_studies, n_per_study, data_seed)
    t1 = time.perf_counter()
    ipd = common.continuous_ipd(frame)
    t2 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(
            ipd,
            common.continuous_spec(parameterisation),
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

    import_seconds = time.perf_counter() - t0
    frame = common.simulated_continuous(n_studies, n_per_study, data_seed)
    priors = common.resolved_priors(common.continuous_ipd(frame), common.continuous_spec())
    t1 = time.perf_counter()
    model = common.row_level_gaussian_model(frame, priors, parameterisation="noncentred")
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
        "import_seconds": import_seconds,
        "build_seconds": t2 - t1,
        "sample_seconds": t3 - t2,
        "total_seconds": total,
        "ess_bulk_tau": ess,
        "r_hat_tau": common.r_hat(idata, "tau"),
        "divergences": common.divergences(idata),
        "seconds_per_1000_ess_tau": common.seconds_per_kess(total, ess),
        "mu_mean": float(idata.posterior["mu"].mean()),
        "tau_mean": float(idata.posterior["tau"].mean()),
    }


def table_rows(ours: dict[str, dict], baseline: dict | None) -> list[Row]:
    """case | ours | baseline | ratio lines of B1."""
    return common.ess_table_rows(ours, baseline)


def detail_lines(ours: dict[str, dict], baseline: dict | None) -> str:
    """Where the time goes, per case."""
    head = (
        f"{'case':<20} {'total':>7} {'compile':>8} {'sample':>7} {'other':>6} {'ESS tau':>8} "
        f"{'Rhat tau':>8} {'Rhat max':>8} {'div':>4} {'RSS MiB':>8}"
    )
    lines = [head, "-" * len(head)]
    for param, r in ours.items():
        other = r["ipd_seconds"] + r["design_build_diagnostics_seconds"]
        lines.append(
            f"{'ours ' + param:<20} {r['total_seconds']:7.1f} {r['compile_seconds']:8.1f} "
            f"{r['sampling_seconds']:7.1f} {other:6.1f} {r['ess_bulk_tau']:8.0f} "
            f"{r['r_hat_tau']:8.4f} {r['r_hat_max']:8.4f} {r['divergences']:4d} "
            f"{r['maxrss_mib']:8.0f}"
        )
    if baseline:
        b = baseline
        lines.append(
            f"{'row-level PyMC':<20} {b['total_seconds']:7.1f} {'(in sample)':>8} "
            f"{b['sample_seconds']:7.1f} {b['build_seconds']:6.1f} {b['ess_bulk_tau']:8.0f} "
            f"{b['r_hat_tau']:8.4f} {'':>8} {b['divergences']:4d} {b['maxrss_mib']:8.0f}"
        )
    return "\n".join(lines)


def run(
    config: Config = FULL,
    *,
    isolate: bool = True,
    results_dir: Path | None = None,
    wait_load: float | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run B1 and write ``<results_dir>/b1_continuous_ess.json``; returns the payload."""
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
            f"benchmarks.{NAME}:ours_case",
            {**data, **sampler, "parameterisation": param, "backend": config.backend},
            isolate,
        )
    baseline = None
    if config.run_baseline:
        common.wait_for_quiet(wait_load)
        baseline = common.call_case(
            f"benchmarks.{NAME}:baseline_case", {**data, **sampler}, isolate
        )
    rows = table_rows(ours, baseline)
    first = next(iter(ours.values()))
    payload = common.result_payload(
        NAME,
        config,
        info,
        rows,
        ours=ours,
        baseline=baseline,
        targets={
            "ratio_min": TARGET_RATIO,
            "ratio": rows[0].ratio,
            "ratio_met": None if rows[0].ratio is None else rows[0].ratio >= TARGET_RATIO,
            "r_hat_max": TARGET_RHAT,
            "r_hat_met": first["r_hat_max"] <= TARGET_RHAT,
        },
    )
    path = common.write_results(NAME, payload, results_dir)
    if verbose:
        title = (
            f"B1 continuous IPD {config.n_studies} x {config.n_per_study:,}, "
            f"{config.chains} chains x {config.draws} draws (tune {config.tune})"
        )
        common.print_report(title, rows, payload, path, ["", detail_lines(ours, baseline), ""])
    return payload


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line: ``python benchmarks/b1_continuous_ess.py [--smoke] [--no-isolate]``."""
    return common.standard_main(run, SMOKE, FULL, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
