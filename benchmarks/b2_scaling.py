"""B2: how the one-stage fit scales with participants: 10,000 vs 1,000,000 rows.

The B1 model (gaussian, age as covariate and effect modifier, 20 trials) fitted by
``bayes_ipd.fit`` to 10,000 and to 1,000,000 participant rows, each in a fresh process,
4 chains x 1,000 draws (tune 1,000). Timed from the DataFrame (``IPD.from_frame``) to the
posterior, compile included; the data are simulated before the clock starts.

Figures: the wall-time ratio (1M / 10k; target at most 1.5: the exact collapsed likelihood
does not grow with participants, only the one pass that summarises the rows does), and the
peak resident memory of the 1M process up to the posterior (``getrusage`` ``ru_maxrss``
read right after ``fit``), with the resident memory after the imports and with the
simulated frame, and the ``tracemalloc`` peak of the data path (``IPD.from_frame`` +
``build_design``, measured afterwards in an untimed second pass) beside it. There is no
other baseline: the "baseline" column holds the 10k figure.
Run: ``python benchmarks/b2_scaling.py``.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.common import Row

NAME = "b2_scaling"
TARGET_WALL_RATIO = 1.5


@dataclass(frozen=True)
class Config:
    """Sizes and sampler settings of one B2 run."""

    n_studies: int = 20
    n_small: int = 10_000
    n_large: int = 1_000_000
    repeats: int = 1
    data_seed: int = 202
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int = 20240601
    backend: str = "auto"


FULL = Config()
SMOKE = Config(n_studies=3, n_small=150, n_large=1500, draws=50, tune=50, chains=1, backend="pymc")


def scaling_case(
    n_studies: int,
    n_total: int,
    data_seed: int,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    backend: str,
) -> dict[str, Any]:
    """One fit of ``n_total`` rows in ``n_studies`` equal trials; times and memory."""
    t0 = time.perf_counter()
    from bayes_ipd.one_stage.design import build_design
    from bayes_ipd.one_stage.fitting import fit
    from bayes_ipd.one_stage.sampling import clear_compiled_cache

    import_seconds = time.perf_counter() - t0
    clear_compiled_cache()
    rss_before_data = common.current_rss_mib()
    frame = common.simulated_continuous(n_studies, n_total // n_studies, data_seed)
    rss_with_data = common.current_rss_mib()
    spec = common.continuous_spec()
    t1 = time.perf_counter()
    ipd = common.continuous_ipd(frame)
    t2 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(ipd, spec, common.sampler_settings(draws, tune, chains, seed, backend))
    t3 = time.perf_counter()
    peak_rss = common.peak_rss_mib()
    del ipd
    # Untimed: the memory of the data path alone (it is the part that grows with rows).
    tracemalloc.start()
    build_design(common.continuous_ipd(frame), spec)
    _, data_path_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    d = result.diagnostics
    return {
        "rows": len(frame),
        "parameterisation": dict(result.built.parameterisation),
        "import_seconds": import_seconds,
        "ipd_seconds": t2 - t1,
        "fit_seconds": t3 - t2,
        "compile_seconds": d.compile_seconds,
        "sampling_seconds": d.sampling_seconds,
        "design_build_diagnostics_seconds": t3 - t2 - d.compile_seconds - d.sampling_seconds,
        "total_seconds": t3 - t1,
        "r_hat_max": d.r_hat_max,
        "ess_bulk_min": d.ess_bulk_min,
        "rss_before_data_mib": rss_before_data,
        "rss_with_data_mib": rss_with_data,
        "peak_rss_in_fit_mib": peak_rss,
        "data_path_tracemalloc_peak_mib": data_path_peak / 2**20,
        "frame_mib": float(frame.memory_usage(deep=True).sum()) / 2**20,
    }


def best(runs: Sequence[dict]) -> dict:
    """The run with the smallest total time (the least disturbed by other load)."""
    return min(runs, key=lambda r: r["total_seconds"])


def table_rows(small: dict, large: dict, n_small: int, n_large: int) -> list[Row]:
    """case | ours (1M) | baseline (10k) | ratio lines of B2."""
    pairs = [
        ("wall, DataFrame to posterior", "total_seconds"),
        ("compile", "compile_seconds"),
        ("sampling", "sampling_seconds"),
        ("IPD.from_frame", "ipd_seconds"),
        ("summarise + build + diagnostics", "design_build_diagnostics_seconds"),
    ]
    tag = f"{n_large:,} vs {n_small:,} rows"
    rows = [
        Row(f"{label}, {tag}", large[key], small[key], common.ratio(large[key], small[key]))
        for label, key in pairs
    ]
    key = "peak_rss_in_fit_mib"
    rows.append(
        Row(
            f"peak RSS up to the posterior, {tag}",
            large[key],
            small[key],
            common.ratio(large[key], small[key]),
            "MiB",
        )
    )
    return rows


def run(
    config: Config = FULL,
    *,
    isolate: bool = True,
    results_dir: Path | None = None,
    wait_load: float | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run B2 and write ``<results_dir>/b2_scaling.json``; returns the payload."""
    info = common.machine_info()
    base = {
        "n_studies": config.n_studies,
        "data_seed": config.data_seed,
        "draws": config.draws,
        "tune": config.tune,
        "chains": config.chains,
        "seed": config.seed,
        "backend": config.backend,
    }
    runs: dict[int, list[dict]] = {config.n_small: [], config.n_large: []}
    for _ in range(config.repeats):
        for n in runs:
            common.wait_for_quiet(wait_load)
            out = common.call_case(
                f"benchmarks.{NAME}:scaling_case", {**base, "n_total": n}, isolate
            )
            out.setdefault("process_maxrss_mib", out["maxrss_mib"])
            runs[n].append(out)
    small, large = best(runs[config.n_small]), best(runs[config.n_large])
    rows = table_rows(small, large, config.n_small, config.n_large)
    wall_ratio = rows[0].ratio
    payload = common.result_payload(
        NAME,
        config,
        info,
        rows,
        runs={str(n): r for n, r in runs.items()},
        targets={
            "wall_ratio_max": TARGET_WALL_RATIO,
            "wall_ratio": wall_ratio,
            "wall_ratio_met": wall_ratio is not None and wall_ratio <= TARGET_WALL_RATIO,
            "peak_rss_mib_at_large": large["peak_rss_in_fit_mib"],
        },
    )
    path = common.write_results(NAME, payload, results_dir)
    if verbose:
        title = (
            f"B2 scaling, {config.n_studies} trials, {config.chains} chains x {config.draws} "
            f"draws: ours = {config.n_large:,} rows, baseline = {config.n_small:,} rows, "
            "ratio = ours / baseline (lower is better)"
        )
        note = (
            f"\n{config.n_large:,} rows: RSS {large['rss_before_data_mib']:.0f} MiB after imports, "
            f"{large['rss_with_data_mib']:.0f} MiB with the simulated frame "
            f"({large['frame_mib']:.0f} MiB), peak {large['peak_rss_in_fit_mib']:.0f} MiB up to "
            "the posterior; "
            f"data path (IPD + design) tracemalloc peak "
            f"{large['data_path_tracemalloc_peak_mib']:.0f} MiB"
        )
        headers = ("case", "large", "small", "large/small")
        common.print_report(title, rows, payload, path, [note], headers)
    return payload


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line: ``python benchmarks/b2_scaling.py [--smoke] [--no-isolate] [--repeats N]``."""
    counts = {"repeats": "runs per size (the fastest counts)"}
    return common.standard_main(run, SMOKE, FULL, __doc__.splitlines()[0], argv, counts)


if __name__ == "__main__":
    main()
