"""B3: the BCG trials as 357,347 participant rows: ``bayes-ipd run`` vs a row-level Bernoulli model.

* ours: total wall time of ``python -m bayes_ipd.cli run models/bcg_binary.toml --json``
  (process start to exit: imports, reading the rows, the one-stage fit with the spec's
  4 chains x 1,000 draws (tune 1,000), the two-stage route, the JSON report). Target
  <= 15 s on the 2-core benchmark machine; run 3 times, the fastest counts (the machine is
  shared). Where the ``run`` subcommand is missing, the same
  steps run in a fresh process through the library (``load_bcg_ipd``, ``fit``, ``two_stage``)
  and the table says so.
* where the time goes: the same analysis in a fresh process with each step timed (imports,
  reading the spec and the rows, compile, sampling, two-stage).
* baseline: a fresh process running the plain row-level PyMC model (``pm.Bernoulli(logit_p=
  alpha[trial] + theta[trial] * treat)`` over all 357,347 rows) with the same priors and
  draws and the parameterisation bayes_ipd chose, sampled with ``pm.sample`` (PyMC's NUTS,
  default settings); process start to exit. Target: ratio (baseline / ours) >= 20.

Run: ``python benchmarks/b3_bcg_cli.py``.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.common import Row

NAME = "b3_bcg_cli"
SPEC_FILE = "models/bcg_binary.toml"
TARGET_SECONDS = 15.0
TARGET_RATIO = 20.0


@dataclass(frozen=True)
class Config:
    """What B3 runs. ``None`` sampler fields keep the spec file's values."""

    draws: int | None = None
    tune: int | None = None
    chains: int | None = None
    backend: str | None = None
    cli_repeats: int = 3
    run_cli: bool = True
    run_baseline: bool = True


FULL = Config()
SMOKE = Config(draws=50, tune=50, chains=1, backend="pymc", run_cli=False, run_baseline=False)


def cli_has_run() -> bool:
    """Whether ``bayes-ipd run`` exists (its ``--help`` exits 0)."""
    return (
        common.run_process([sys.executable, "-m", "bayes_ipd.cli", "run", "--help"]).returncode == 0
    )


def _overrides(draws: int | None, tune: int | None, chains: int | None) -> list[str]:
    pairs = (("--draws", draws), ("--tune", tune), ("--chains", chains))
    return [x for flag, v in pairs if v is not None for x in (flag, str(v))]


def _posterior_mean(doc: Mapping[str, Any], node: str) -> float | None:
    """``doc["posterior"][node]["mean"]`` of the ``run --json`` document, if present."""
    value = (doc.get("posterior") or {}).get(node) or {}
    return value.get("mean") if isinstance(value, Mapping) else None


def cli_case(draws: int | None, tune: int | None, chains: int | None) -> dict[str, Any]:
    """Time ``python -m bayes_ipd.cli run models/bcg_binary.toml --json`` as a whole."""
    argv = [sys.executable, "-m", "bayes_ipd.cli", "run", SPEC_FILE, "--json"]
    run = common.run_process([*argv, *_overrides(draws, tune, chains)])
    if run.returncode != 0:
        tail = "\n".join(run.stderr.splitlines()[-10:])
        raise RuntimeError(f"bayes-ipd run failed (exit {run.returncode}):\n{tail}")
    doc = json.loads(run.stdout)
    diag = doc.get("diagnostics") or {}
    return {
        "command": " ".join(["python", *argv[1:]]),
        "process_wall_seconds": run.wall_seconds,
        "process_maxrss_mib": run.maxrss_mib,
        "compile_seconds": diag.get("compile_seconds"),
        "sampling_seconds": diag.get("sampling_seconds"),
        "r_hat_max": diag.get("r_hat_max"),
        "ess_bulk_min": diag.get("ess_bulk_min"),
        "divergences": diag.get("divergences"),
        "mu_mean": _posterior_mean(doc, "effect"),
        "tau_mean": _posterior_mean(doc, "tau"),
        "load_average_after": common.load_average(),
    }


def _spec(draws: int | None, tune: int | None, chains: int | None, backend: str | None) -> Any:
    """The analysis spec of ``models/bcg_binary.toml`` with the sampler overrides applied."""
    import dataclasses

    from bayes_ipd.spec import SamplerSettings, read_analysis_spec

    spec = read_analysis_spec(common.REPO_ROOT / SPEC_FILE)
    changes = {"draws": draws, "tune": tune, "chains": chains, "backend": backend}
    changes = {k: v for k, v in changes.items() if v is not None}
    sampler = SamplerSettings.from_dict({**spec.sampler.to_dict(), **changes, "progress": False})
    return dataclasses.replace(spec, sampler=sampler)


def _load_rows(spec: Any) -> tuple[Any, str]:
    """The participant rows as the CLI reads them, or ``load_bcg_ipd()`` without ``analysis``."""
    try:
        from bayes_ipd.analysis import load_analysis_data
    except ImportError:
        from bayes_ipd.datasets import load_bcg_ipd

        return load_bcg_ipd(), "bayes_ipd.datasets.load_bcg_ipd"
    return load_analysis_data(spec.data, spec.model).ipd, f"IPD.read_csv({spec.data.path.name})"


def steps_case(
    draws: int | None, tune: int | None, chains: int | None, backend: str | None
) -> dict[str, Any]:
    """The ``run`` analysis through the library, each step timed (imports first)."""
    t0 = time.perf_counter()
    import pymc  # noqa: F401

    t_pymc = time.perf_counter()
    from bayes_ipd.one_stage.fitting import fit
    from bayes_ipd.two_stage import two_stage

    t_import = time.perf_counter()
    spec = _spec(draws, tune, chains, backend)
    ipd, source = _load_rows(spec)
    t_data = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = fit(ipd, spec.model, spec.sampler)
    t_fit = time.perf_counter()
    two = two_stage(ipd, method=spec.two_stage.method, hksj=spec.two_stage.hksj)
    t_two = time.perf_counter()
    d = one.diagnostics
    return {
        "rows": int(ipd.n),
        "rows_from": source,
        "sampler": spec.sampler.to_dict(),
        "parameterisation": dict(one.built.parameterisation),
        "import_pymc_seconds": t_pymc - t0,
        "import_bayes_ipd_seconds": t_import - t_pymc,
        "read_spec_and_rows_seconds": t_data - t_import,
        "fit_seconds": t_fit - t_data,
        "compile_seconds": d.compile_seconds,
        "sampling_seconds": d.sampling_seconds,
        "summarise_build_diagnostics_seconds": t_fit
        - t_data
        - d.compile_seconds
        - d.sampling_seconds,
        "two_stage_seconds": t_two - t_fit,
        "steps_seconds": t_two - t0,
        "r_hat_max": d.r_hat_max,
        "ess_bulk_min": d.ess_bulk_min,
        "divergences": d.divergences,
        "mu_mean": float(one.idata.posterior["mu"].mean()),
        "tau_mean": float(one.idata.posterior["tau"].mean()),
        "two_stage_estimate": float(two.pooled.estimate) if hasattr(two, "pooled") else None,
    }


def baseline_case(
    draws: int | None, tune: int | None, chains: int | None, parameterisation: str
) -> dict[str, Any]:
    """Row-level Bernoulli model over every BCG participant, default ``pm.sample``."""
    t0 = time.perf_counter()
    import pymc  # noqa: F401

    from bayes_ipd.datasets import bcg_participant_rows

    t_import = time.perf_counter()
    spec = _spec(draws, tune, chains, None)
    rows = bcg_participant_rows()
    t_data = time.perf_counter()
    from bayes_ipd.datasets import load_bcg_ipd

    priors = common.resolved_priors(load_bcg_ipd(), spec.model)  # untimed: the same priors
    t1 = time.perf_counter()
    model = common.row_level_bernoulli_model(rows, priors, parameterisation=parameterisation)
    s = spec.sampler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = common.sample_pymc_default(model, s.draws, s.tune, s.chains, s.seed)
    t2 = time.perf_counter()
    return {
        "rows": len(rows),
        "parameterisation": parameterisation,
        "priors": priors.to_dict(),
        "import_seconds": t_import - t0,
        "rows_seconds": t_data - t_import,
        "build_and_sample_seconds": t2 - t1,
        "timed_seconds": (t_data - t0) + (t2 - t1),
        "untimed_prior_seconds": t1 - t_data,
        "r_hat_tau": common.r_hat(idata, "tau"),
        "ess_bulk_tau": common.ess_bulk(idata, "tau"),
        "divergences": common.divergences(idata),
        "mu_mean": float(idata.posterior["mu"].mean()),
        "tau_mean": float(idata.posterior["tau"].mean()),
    }


def _ours_total(cli: dict | None, steps: dict) -> tuple[float, str]:
    """Our end-to-end seconds and what they are."""
    if cli is not None:
        return cli["process_wall_seconds"], "bayes-ipd run (CLI process)"
    return steps["process_wall_seconds"], "library steps in a fresh process (no CLI run)"


def _baseline_total(baseline: dict) -> float:
    """Baseline process wall time, less the untimed prior resolution done for fairness."""
    return baseline["process_wall_seconds"] - baseline["untimed_prior_seconds"]


def table_rows(cli: dict | None, steps: dict, baseline: dict | None) -> list[Row]:
    """case | ours | baseline | ratio lines of B3."""
    ours, label = _ours_total(cli, steps)
    b_total = _baseline_total(baseline) if baseline else None
    rows = [
        Row(f"wall, process start to exit: {label}", ours, b_total, common.ratio(b_total, ours))
    ]
    parts = [
        ("import pymc", "import_pymc_seconds", "import_seconds"),
        ("import bayes_ipd", "import_bayes_ipd_seconds", None),
        ("read spec + rows", "read_spec_and_rows_seconds", "rows_seconds"),
        ("compile", "compile_seconds", None),
        ("sampling (baseline: compile + sampling)", "sampling_seconds", "build_and_sample_seconds"),
        ("summarise + build + diagnostics", "summarise_build_diagnostics_seconds", None),
        ("two-stage route", "two_stage_seconds", None),
    ]
    for name, ours_key, base_key in parts:
        b = baseline.get(base_key) if (baseline and base_key) else None
        rows.append(Row(f"  step: {name}", steps[ours_key], b, common.ratio(b, steps[ours_key])))
    return rows


def run(
    config: Config = FULL,
    *,
    isolate: bool = True,
    results_dir: Path | None = None,
    wait_load: float | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run B3 and write ``<results_dir>/b3_bcg_cli.json``; returns the payload."""
    info = common.machine_info()
    sizes = {"draws": config.draws, "tune": config.tune, "chains": config.chains}
    has_run = config.run_cli and cli_has_run()
    cli = None
    cli_runs: list[dict] = []
    if has_run:
        for _ in range(config.cli_repeats):
            common.wait_for_quiet(wait_load)
            cli_runs.append(cli_case(**sizes))
        cli = min(cli_runs, key=lambda r: r["process_wall_seconds"])
    common.wait_for_quiet(wait_load)
    steps = common.call_case(
        f"benchmarks.{NAME}:steps_case", {**sizes, "backend": config.backend}, isolate
    )
    steps.setdefault("process_wall_seconds", steps["steps_seconds"])
    baseline = None
    if config.run_baseline:
        common.wait_for_quiet(wait_load)
        baseline = common.call_case(
            f"benchmarks.{NAME}:baseline_case",
            {**sizes, "parameterisation": steps["parameterisation"]["theta"]},
            isolate,
        )
        baseline.setdefault("process_wall_seconds", baseline["timed_seconds"])
    rows = table_rows(cli, steps, baseline)
    total = rows[0].ours
    payload = common.result_payload(
        NAME,
        config,
        info,
        rows,
        cli_run_available=has_run,
        cli=cli,
        cli_runs=cli_runs,
        steps=steps,
        baseline=baseline,
        targets={
            "seconds_max": TARGET_SECONDS,
            "seconds": total,
            "seconds_met": total is not None and total <= TARGET_SECONDS,
            "ratio_min": TARGET_RATIO,
            "ratio": rows[0].ratio,
            "ratio_met": None if rows[0].ratio is None else rows[0].ratio >= TARGET_RATIO,
        },
    )
    path = common.write_results(NAME, payload, results_dir)
    if verbose:
        s = steps["sampler"]
        title = (
            f"B3 BCG, {steps['rows']:,} participant rows, {s['chains']} chains x {s['draws']} "
            f"draws (tune {s['tune']}), theta {steps['parameterisation'].get('theta')}"
        )
        notes = []
        if cli_runs:
            walls = ", ".join(f"{r['process_wall_seconds']:.1f}" for r in cli_runs)
            notes.append(f"bayes-ipd run wall times (s): {walls}; the fastest is shown")
        if not has_run and config.run_cli:
            notes.append("note: `bayes-ipd run` is not available; ours = the library steps")
        common.print_report(title, rows, payload, path, notes)
    return payload


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line: ``python benchmarks/b3_bcg_cli.py [--smoke] [--no-isolate]``."""
    return common.standard_main(run, SMOKE, FULL, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
