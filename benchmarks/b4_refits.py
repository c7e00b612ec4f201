"""B4: refitting one spec to new data sets reuses the compiled model.

One :class:`~bayes_ipd.spec.ModelSpec` (the B1 model, gaussian, age as covariate and effect
modifier) fitted by ``bayes_ipd.fit`` to 1 + 20 simulated data sets of the same shape
(20 trials x 5,000 rows), 4 chains x 1,000 draws (tune 1,000), all in one fresh process.
Every prior and the parameterisation are pinned in the spec, so the model structure (and
the compiled-model cache key: spec, resolved priors, parameterisation, labels, shapes) is
the same for every data set; only the data containers change.

Figures: the first fit (compile included) vs the mean of the 20 refits, each timed around
``fit`` from a validated ``IPD`` (simulation and ``IPD.from_frame`` outside the clock).
Ratio = first / mean refit (target >= 3). Run: ``python benchmarks/b4_refits.py``.
"""

from __future__ import annotations

import statistics
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

NAME = "b4_refits"
TARGET_RATIO = 3.0
# Pinned priors on the scale of the simulated outcome (final SBP, residual SD 10 mmHg, see
# bayes_ipd.simulate.simulate_continuous): bayes_ipd's gaussian default rules with s = 10
# and m = 145, fixed so that they do not move with each data set's outcome SD.
PINNED_PRIORS = {
    "intercept": "normal(145, 100)",
    "effect": "normal(0, 100)",
    "tau": "half_normal(10)",
    "coefficients": "normal(0, 100)",
    "interactions": "normal(0, 100)",
    "sigma": "half_normal(50)",
}
PINNED_PARAMETERISATION = "centred"


@dataclass(frozen=True)
class Config:
    """Sizes and sampler settings of one B4 run."""

    n_studies: int = 20
    n_per_study: int = 5000
    refits: int = 20
    first_seed: int = 404
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int = 20240601
    backend: str = "auto"


FULL = Config()
SMOKE = Config(n_studies=3, n_per_study=50, refits=2, draws=50, tune=50, chains=1, backend="pymc")


def _timed_fit(fit: Any, ipd: Any, spec: Any, settings: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(ipd, spec, settings)
    return result, time.perf_counter() - t0


def _fit_record(result: Any, seconds: float, data_seed: int) -> dict[str, Any]:
    d = result.diagnostics
    return {
        "data_seed": data_seed,
        "seconds": seconds,
        "compile_seconds": d.compile_seconds,
        "sampling_seconds": d.sampling_seconds,
        "other_seconds": seconds - d.compile_seconds - d.sampling_seconds,
        "reused_compiled": d.reused_compiled,
        "r_hat_max": d.r_hat_max,
        "ess_bulk_min": d.ess_bulk_min,
        "divergences": d.divergences,
        "mu_mean": float(result.idata.posterior["mu"].mean()),
    }


def refits_case(
    n_studies: int,
    n_per_study: int,
    refits: int,
    first_seed: int,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    backend: str,
) -> dict[str, Any]:
    """The first fit and ``refits`` refits of one spec, in this process."""
    t0 = time.perf_counter()
    from bayes_ipd.one_stage.fitting import fit
    from bayes_ipd.one_stage.sampling import clear_compiled_cache

    import_seconds = time.perf_counter() - t0
    clear_compiled_cache()
    spec = common.continuous_spec(PINNED_PARAMETERISATION, PINNED_PRIORS)
    settings = common.sampler_settings(draws, tune, chains, seed, backend)
    records = []
    data_seconds = []
    for i in range(refits + 1):
        t1 = time.perf_counter()
        frame = common.simulated_continuous(n_studies, n_per_study, first_seed + i)
        ipd = common.continuous_ipd(frame)
        data_seconds.append(time.perf_counter() - t1)
        result, seconds = _timed_fit(fit, ipd, spec, settings)
        records.append(_fit_record(result, seconds, first_seed + i))
    return {
        "import_seconds": import_seconds,
        "simulate_and_ipd_seconds_mean": statistics.fmean(data_seconds),
        "first": records[0],
        "refits": records[1:],
    }


def summary(out: dict[str, Any]) -> dict[str, float]:
    """Mean and spread of the refit times, and how many reused the compiled model."""
    times = [r["seconds"] for r in out["refits"]]
    return {
        "first_seconds": out["first"]["seconds"],
        "refit_mean_seconds": statistics.fmean(times),
        "refit_min_seconds": min(times),
        "refit_max_seconds": max(times),
        "refit_sampling_mean_seconds": statistics.fmean(
            r["sampling_seconds"] for r in out["refits"]
        ),
        "refit_other_mean_seconds": statistics.fmean(r["other_seconds"] for r in out["refits"]),
        "refits_reusing_compiled": sum(r["reused_compiled"] for r in out["refits"]),
        "refits": len(times),
    }


def table_rows(s: dict[str, float], first: dict[str, Any]) -> list[Row]:
    """case | ours (mean refit) | baseline (first fit) | ratio lines of B4."""
    return [
        Row(
            f"seconds per fit: mean of {s['refits']} refits vs first fit",
            s["refit_mean_seconds"],
            s["first_seconds"],
            common.ratio(s["first_seconds"], s["refit_mean_seconds"]),
        ),
        Row(
            "  of which sampling", s["refit_sampling_mean_seconds"], first["sampling_seconds"], None
        ),
        Row("  of which compile", 0.0, first["compile_seconds"], None),
        Row(
            "  of which summarise + build + diagnostics",
            s["refit_other_mean_seconds"],
            first["other_seconds"],
            None,
        ),
    ]


def run(
    config: Config = FULL,
    *,
    isolate: bool = True,
    results_dir: Path | None = None,
    wait_load: float | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run B4 and write ``<results_dir>/b4_refits.json``; returns the payload."""
    info, out = common.single_case(NAME, "refits_case", config, isolate, wait_load)
    s = summary(out)
    rows = table_rows(s, out["first"])
    payload = common.result_payload(
        NAME,
        config,
        info,
        rows,
        pinned_priors=PINNED_PRIORS,
        pinned_parameterisation=PINNED_PARAMETERISATION,
        summary=s,
        fits=out,
        targets={
            "ratio_min": TARGET_RATIO,
            "ratio": rows[0].ratio,
            "ratio_met": rows[0].ratio is not None and rows[0].ratio >= TARGET_RATIO,
        },
    )
    path = common.write_results(NAME, payload, results_dir)
    if verbose:
        title = (
            f"B4 refits, {config.n_studies} x {config.n_per_study:,} rows, {config.chains} chains "
            f"x {config.draws} draws: ours = mean refit, baseline = first fit (compile included)"
        )
        note = (
            f"\n{s['refits_reusing_compiled']}/{s['refits']} refits reused the compiled model; "
            f"refit range {s['refit_min_seconds']:.2f}-{s['refit_max_seconds']:.2f} s"
        )
        common.print_report(title, rows, payload, path, [note])
    return payload


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line: ``python benchmarks/b4_refits.py [--smoke] [--no-isolate]``."""
    return common.standard_main(run, SMOKE, FULL, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
