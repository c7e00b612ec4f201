"""Shared pieces of the benchmarks: tables, results files, process isolation, baselines.

The baselines are the plain row-level PyMC models a user would write without bayes_ipd: one
likelihood term per participant row, with the priors bayes_ipd uses for the same data
(:func:`bayes_ipd.one_stage.builder.priors_for`), so that both sides fit the same posterior and only
the way the likelihood is evaluated (and, where stated, the parameterisation) differs.

Each timed case can run in a fresh Python process (:func:`run_isolated`): nothing is then
shared between cases (no compiled model, no warm numba or PyTensor in-memory cache), and
the process's peak resident memory is measured with ``wait4``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bayes_ipd.conventions import json_ready

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
RESULT_MARKER = "BENCHMARK_RESULT "

# Columns of bayes_ipd.simulate.simulate_continuous (see its docstring).
CONTINUOUS_COLUMNS: Mapping[str, Any] = {
    "study": "trial",
    "treatment": "treat",
    "outcome": "sbp_final",
    "covariates": ("age",),
}
# Treatment-by-age interaction within trials (mmHg per year) in the simulated data: a
# moderate effect modifier, so that gamma_within is identified but tau is not swamped.
INTERACTION_WITHIN = -0.1


# --------------------------------------------------------------------------- table rows


@dataclass(frozen=True)
class Row:
    """One printed line of a benchmark: the case, our figure, the baseline's, their ratio.

    ``ratio`` is oriented so that larger is better for bayes_ipd (``baseline / ours`` for
    times), and is ``None`` where there is no baseline.
    """

    case: str
    ours: float | None
    baseline: float | None
    ratio: float | None
    unit: str = "s"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (NaN written as None)."""
        return json_ready(asdict(self))


def ratio(baseline: float | None, ours: float | None) -> float | None:
    """``baseline / ours``, or None when either is missing or ours is zero."""
    if baseline is None or ours is None or ours == 0:
        return None
    return float(baseline) / float(ours)


def _cell(value: float | None, width: int) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-".rjust(width)
    if abs(value) >= 1000:
        return f"{value:,.0f}".rjust(width)
    return f"{value:.3g}".rjust(width)


def format_table(title: str, rows: Sequence[Row], headers: Sequence[str] = ()) -> str:
    """The rows as a fixed-width text table with columns case, ours, baseline, ratio."""
    names = list(headers) or ["case", "ours", "baseline", "ratio"]
    width = max([len(names[0]), *(len(f"{r.case} [{r.unit}]") for r in rows)])
    lines = [title, f"{names[0]:<{width}}  {names[1]:>10}  {names[2]:>10}  {names[3]:>8}"]
    lines.append("-" * len(lines[-1]))
    for r in rows:
        label = f"{r.case} [{r.unit}]"
        lines.append(
            f"{label:<{width}}  {_cell(r.ours, 10)}  {_cell(r.baseline, 10)}  "
            f"{_cell(r.ratio, 7)}{'x' if r.ratio is not None else ' '}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- machine, load


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (as ``uptime`` shows them)."""
    return [round(x, 2) for x in os.getloadavg()]


def wait_for_quiet(max_load: float | None, timeout: float = 600.0, poll: float = 10.0) -> float:
    """Sleep until the 1-minute load is below ``max_load`` (or ``timeout`` passes).

    Returns the seconds waited. ``max_load=None`` returns at once.
    """
    if max_load is None:
        return 0.0
    t0 = time.monotonic()
    while os.getloadavg()[0] >= max_load and time.monotonic() - t0 < timeout:
        time.sleep(poll)
    return time.monotonic() - t0


def package_versions() -> dict[str, str]:
    """Versions of the packages whose speed is measured."""
    out = {"python": platform.python_version()}
    for name in ("numpy", "pytensor", "pymc", "nutpie", "numba", "arviz"):
        try:
            out[name] = importlib.import_module(name).__version__
        except ImportError:  # pragma: no cover - reported, not needed
            out[name] = "not installed"
    return out


def machine_info() -> dict[str, Any]:
    """Date, host description, CPU count, load and package versions of this run."""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": load_average(),
        "versions": package_versions(),
    }


def write_results(name: str, payload: Mapping[str, Any], results_dir: Path | None = None) -> Path:
    """Write ``payload`` as ``<results_dir>/<name>.json`` (default ``benchmarks/results``)."""
    folder = Path(results_dir) if results_dir is not None else RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(_with_rows_as_dicts(payload), indent=2, allow_nan=False) + "\n")
    return path


def result_payload(
    name: str, config: Any, info: Mapping[str, Any], rows: Sequence[Row], **parts: Any
) -> dict[str, Any]:
    """The JSON document of one benchmark run: its name, configuration (a dataclass), the
    machine at the start (:func:`machine_info`), the load at the end, the table rows, then
    the benchmark's own ``parts`` (cases, targets, ...)."""
    return {
        "benchmark": name,
        "config": asdict(config),
        "machine": info,
        "load_average_at_end": load_average(),
        "rows": [r.to_dict() for r in rows],
        **parts,
    }


def print_report(
    title: str,
    rows: Sequence[Row],
    payload: Mapping[str, Any],
    path: Path,
    notes: Sequence[str] = (),
    headers: Sequence[str] = (),
) -> None:
    """Print a finished run: the table (:func:`format_table`), the ``notes`` lines, the load
    average at start and end, and the results file written."""
    print(format_table(title, rows, headers))
    for line in notes:
        print(line)
    start = payload["machine"]["load_average_at_start"]
    print(f"load average {start} -> {payload['load_average_at_end']}")
    print(f"written {path}")


def single_case(
    name: str, case: str, config: Any, isolate: bool, wait_load: float | None
) -> tuple[dict[str, Any], Any]:
    """(:func:`machine_info`, output) of a benchmark made of one timed case: after waiting
    for a quiet machine, ``benchmarks.<name>:<case>`` called with the configuration's
    fields (:func:`call_case`)."""
    info = machine_info()
    wait_for_quiet(wait_load)
    return info, call_case(f"benchmarks.{name}:{case}", asdict(config), isolate)


def _with_rows_as_dicts(value: Any) -> Any:
    """``value`` made JSON-ready (:func:`bayes_ipd.conventions.json_ready`), rows as dicts."""
    if isinstance(value, Mapping):
        return json_ready({k: _with_rows_as_dicts(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return [_with_rows_as_dicts(v) for v in value]
    if isinstance(value, Row):
        return value.to_dict()
    return json_ready(value)


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class ProcessRun:
    """A finished subprocess: wall seconds, peak resident memory, exit code, output."""

    wall_seconds: float
    maxrss_mib: float
    returncode: int
    stdout: str
    stderr: str


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a benchmark subprocess: the repository importable, plots headless."""
    env = {**os.environ, **(extra or {})}
    paths = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_process(argv: Sequence[str], env: Mapping[str, str] | None = None) -> ProcessRun:
    """Run ``argv`` from the repository root; time it and read its peak memory (``wait4``).

    ``env`` adds to (or overrides) this process's environment.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), cwd=REPO_ROOT, env=child_env(env), stdout=out, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ProcessRun(wall, usage.ru_maxrss / 1024.0, proc.returncode, out.read(), err.read())


_CHILD_CODE = "from benchmarks.common import child_main; child_main()"


def run_isolated(target: str, kwargs: Mapping[str, Any]) -> dict:
    """Call ``module:function(**kwargs)`` in a fresh Python process and return its dict.

    The function's dict gains ``process_wall_seconds`` (from process start to exit, imports
    included, measured here), ``process_maxrss_mib`` (the child's peak resident memory, from
    ``wait4``) and ``load_average_after``.

    Raises
    ------
    RuntimeError
        If the child fails; the message holds the tail of its standard error.
    """
    run = run_process([sys.executable, "-c", _CHILD_CODE, target, json.dumps(dict(kwargs))])
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith(RESULT_MARKER)]
    if run.returncode != 0 or not lines:
        tail = "\n".join(run.stderr.splitlines()[-15:])
        raise RuntimeError(f"{target} failed (exit {run.returncode}):\n{tail}")
    out = json.loads(lines[-1][len(RESULT_MARKER) :])
    out["process_wall_seconds"] = run.wall_seconds
    out["process_maxrss_mib"] = run.maxrss_mib
    out["load_average_after"] = load_average()
    return out


def call_case(target: str, kwargs: Mapping[str, Any], isolate: bool) -> dict:
    """Run one case, in a fresh process (``isolate``) or in this one."""
    if isolate:
        return run_isolated(target, kwargs)
    module, name = target.split(":")
    out = dict(getattr(importlib.import_module(module), name)(**kwargs))
    out["maxrss_mib"] = peak_rss_mib()
    out["load_average_after"] = load_average()
    return out


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (MiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mib() -> float:
    """This process's resident memory now (MiB; Linux ``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) / 1024.0
    except OSError:  # pragma: no cover - not Linux
        pass
    return float("nan")


def child_main() -> None:
    """Entry point of :func:`run_isolated`'s child: ``argv = [target, json kwargs]``."""
    t_start = time.perf_counter()
    target, kwargs = sys.argv[1], json.loads(sys.argv[2])
    module, name = target.split(":")
    function = getattr(importlib.import_module(module), name)
    out = dict(function(**kwargs))
    out["child_seconds"] = time.perf_counter() - t_start
    out["maxrss_mib"] = peak_rss_mib()
    sys.stdout.flush()
    print(RESULT_MARKER + json.dumps(_with_rows_as_dicts(out), allow_nan=False), flush=True)


# --------------------------------------------------------------------------- data


def simulated_continuous(n_studies: int, n_per_study: int, seed: int) -> Any:
    """Simulated blood-pressure trials (``simulate_continuous``) with an age interaction."""
    from bayes_ipd.simulate import simulate_continuous

    frame, _ = simulate_continuous(
        n_studies, n_per_study, interaction_within=INTERACTION_WITHIN, seed=seed
    )
    return frame


def continuous_ipd(frame: Any) -> Any:
    """The simulated frame as a validated gaussian IPD with ``age`` as covariate."""
    from bayes_ipd.data import IPD

    return IPD.from_frame(frame, family="gaussian", **CONTINUOUS_COLUMNS)


def continuous_spec(parameterisation: str = "auto", priors: Mapping[str, str] | None = None) -> Any:
    """The benchmark model: age as covariate and as effect modifier (within/across split)."""
    from bayes_ipd.spec import ModelSpec

    return ModelSpec(
        "gaussian",
        covariates=("age",),
        interactions=("age",),
        parameterisation=parameterisation,
        priors=dict(priors or {}),
    )


def sampler_settings(draws: int, tune: int, chains: int, seed: int, backend: str = "auto") -> Any:
    """bayes_ipd sampler settings without a progress bar."""
    from bayes_ipd.spec import SamplerSettings

    return SamplerSettings(
        draws=draws, tune=tune, chains=chains, seed=seed, backend=backend, progress=False
    )


def resolved_priors(ipd: Any, spec: Any) -> Any:
    """The priors bayes_ipd uses for ``ipd`` under ``spec`` (defaults filled in), each per
    raw unit of its covariate, as a row-level baseline model writes them.

    A default coefficient prior is stated per SD of the covariate (``PER_SD_SLOTS``):
    ``beta_std ~ normal(m, s)`` with ``beta = beta_std / c``, which is
    ``beta ~ normal(m / c, s / c)`` for the covariate's pooled within-trial SD ``c``. The
    benchmark models have one covariate (age), so one ``c`` serves both slots; a model
    without covariates returns its priors as they are (the per-SD slots are unused), one with
    more than one covariate term is refused (``ValueError``).
    """
    import dataclasses

    from bayes_ipd.one_stage.builder import priors_for
    from bayes_ipd.one_stage.design import build_design
    from bayes_ipd.priors import Prior

    design = build_design(ipd, spec)
    priors = priors_for(design, spec)
    scales = np.asarray(design.term_scales(), dtype=float).reshape(-1)
    if not priors.per_sd or scales.size == 0:  # no covariate: the per-SD slots are unused
        return priors
    if scales.size > 1:
        raise ValueError(
            f"resolved_priors rescales by one covariate SD; this design has {scales.size} "
            "covariate terms"
        )
    c = float(scales[0])
    raw = {}
    for slot in priors.per_sd:
        prior = getattr(priors, slot)
        m, s = prior.params
        raw[slot] = Prior("normal", (m / c, s / c))
    return dataclasses.replace(priors, per_sd=(), **raw)


def within_trial_centring(
    values: np.ndarray, study_idx: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(values minus their trial mean, the trial means)."""
    means = np.bincount(study_idx, weights=values, minlength=k) / np.bincount(
        study_idx, minlength=k
    )
    return values - means[study_idx], means


# --------------------------------------------------------------------------- baselines


def _random_effect(name: str, mean: Any, sd: Any, parameterisation: str) -> Any:
    import pymc as pm

    if parameterisation == "centred":
        return pm.Normal(name, mean, sd, dims="study")
    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims="study")
    return pm.Deterministic(name, mean + sd * z, dims="study")


def row_level_gaussian_model(
    frame: Any, priors: Any, *, parameterisation: str = "noncentred"
) -> Any:
    """Plain PyMC model with one ``pm.Normal`` term per participant row.

    The same model as bayes_ipd's gaussian one-stage model with ``age`` as covariate and
    effect modifier: stratified intercepts, common age effect, residual SD per trial,
    ``theta_k ~ Normal(mu + gamma_across (abar_k - abar), tau)`` (non-centred by default),
    within-trial interaction ``gamma_within t (age - abar_k)``; priors from ``priors``
    (a :class:`bayes_ipd.priors.PriorSet`).
    """
    import pandas as pd
    import pymc as pm

    from bayes_ipd.priors import tau_to_pymc

    codes, labels = pd.factorize(frame[CONTINUOUS_COLUMNS["study"]], sort=True)
    k = len(labels)
    t = frame[CONTINUOUS_COLUMNS["treatment"]].to_numpy(np.float64)
    y = frame[CONTINUOUS_COLUMNS["outcome"]].to_numpy(np.float64)
    age_c, age_means = within_trial_centring(frame["age"].to_numpy(np.float64), codes, k)
    across = age_means - age_means.mean()
    with pm.Model(coords={"study": list(labels)}) as model:
        mu = priors.effect.to_pymc("mu")
        tau = tau_to_pymc(priors.tau, name="tau")
        gamma_w = priors.interactions.to_pymc("gamma_within")
        gamma_a = priors.interactions.to_pymc("gamma_across")
        theta = _random_effect("theta", mu + gamma_a * across, tau, parameterisation)
        alpha = priors.intercept.to_pymc("alpha", dims="study")
        beta = priors.coefficients.to_pymc("beta")
        sigma = priors.sigma.to_pymc("sigma", dims="study")
        eta = alpha[codes] + theta[codes] * t + beta * age_c + gamma_w * t * age_c
        pm.Normal("y", mu=eta, sigma=sigma[codes], observed=y)
    return model


def row_level_bernoulli_model(
    frame: Any,
    priors: Any,
    *,
    study: str = "trial",
    treatment: str = "treat",
    outcome: str = "event",
    parameterisation: str = "noncentred",
) -> Any:
    """Plain PyMC logistic model with one ``pm.Bernoulli`` term per participant row.

    Stratified intercepts and ``theta_k ~ Normal(mu, tau)``: bayes_ipd's binomial one-stage
    model without covariates, with the priors of ``priors``.
    """
    import pandas as pd
    import pymc as pm

    from bayes_ipd.priors import tau_to_pymc

    codes, labels = pd.factorize(frame[study], sort=True)
    t = frame[treatment].to_numpy(np.float64)
    y = frame[outcome].to_numpy(np.int64)
    with pm.Model(coords={"study": list(labels)}) as model:
        mu = priors.effect.to_pymc("mu")
        tau = tau_to_pymc(priors.tau, name="tau")
        theta = _random_effect("theta", mu, tau, parameterisation)
        alpha = priors.intercept.to_pymc("alpha", dims="study")
        pm.Bernoulli("y", logit_p=alpha[codes] + theta[codes] * t, observed=y)
    return model


def sample_pymc_default(model: Any, draws: int, tune: int, chains: int, seed: int) -> Any:
    """``pm.sample`` with PyMC's own NUTS and its defaults (target_accept 0.8)."""
    import pymc as pm

    with model:
        return pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=min(chains, os.cpu_count() or 1),
            random_seed=seed,
            progressbar=False,
            compute_convergence_checks=False,
        )


def ess_bulk(idata: Any, name: str) -> float:
    """Bulk ESS of a scalar posterior variable."""
    import arviz as az

    return float(az.ess(idata, var_names=[name], method="bulk")[name])


def r_hat(idata: Any, name: str) -> float:
    """Rank-normalised split R-hat of a variable (max over its elements; NaN for 1 chain)."""
    import arviz as az

    if idata.posterior.sizes["chain"] < 2:
        return float("nan")
    return float(az.rhat(idata, var_names=[name])[name].max())


def divergences(idata: Any) -> int:
    """Divergent transitions after tuning."""
    stats = idata.sample_stats
    return int(stats["diverging"].sum()) if "diverging" in stats else 0


def seconds_per_kess(seconds: float, ess: float) -> float:
    """Seconds per 1,000 effective draws."""
    return float("inf") if ess <= 0 else 1000.0 * seconds / ess


# --------------------------------------------------------------------------- command line


def results_dir_for(args: argparse.Namespace) -> Path:
    """``--results-dir``, or ``benchmarks/results`` (``benchmarks/results/smoke`` with --smoke)."""
    if args.results_dir is not None:
        return Path(args.results_dir)
    return RESULTS_DIR / "smoke" if args.smoke else RESULTS_DIR


def parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark script takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--smoke", action="store_true", help="tiny configuration (seconds; for the CI test)"
    )
    p.add_argument(
        "--no-isolate",
        action="store_true",
        help="run every case in this process (default: a fresh process per case)",
    )
    p.add_argument("--results-dir", type=Path, default=None, help="where to write the JSON")
    p.add_argument(
        "--wait-load",
        type=float,
        default=None,
        metavar="L",
        help="before each timed case, wait (up to 10 min) until the 1-minute load is below L",
    )
    return p


def standard_main(
    run: Any,
    smoke: Any,
    full: Any,
    description: str,
    argv: Sequence[str] | None,
    counts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The command line shared by the benchmarks: ``[--smoke] [--no-isolate] ...``.

    ``counts`` maps integer fields of the configuration to their help text; each becomes an
    option ``--<field> N`` that overrides the field (e.g. ``{"repeats": "runs per size"}``).
    """
    p = parser(description)
    for name, text in (counts or {}).items():
        p.add_argument(f"--{name}", type=int, default=None, metavar="N", help=text)
    args = p.parse_args(argv)
    config = smoke if args.smoke else full
    given = {name: getattr(args, name) for name in counts or {}}
    config = dataclasses.replace(config, **{k: v for k, v in given.items() if v})
    return run(
        config,
        isolate=not args.no_isolate,
        results_dir=results_dir_for(args),
        wait_load=args.wait_load,
    )


def ess_table_rows(ours: Mapping[str, Mapping[str, Any]], baseline: Mapping | None) -> list[Row]:
    """case | ours | baseline | ratio lines of an ESS-of-tau benchmark (B1, B5): seconds
    per 1,000 bulk-ESS, bulk ESS and wall time, one line per parameterisation."""
    base = baseline or {}
    rows = []
    for param, r in ours.items():
        label = f"{param} -> {r['resolved'].get('theta', '?')}" if param == "auto" else param
        b = base.get("seconds_per_1000_ess_tau")
        rows.append(
            Row(
                f"s per 1000 ESS(tau), ours {label}",
                r["seconds_per_1000_ess_tau"],
                b,
                ratio(b, r["seconds_per_1000_ess_tau"]),
            )
        )
    for param, r in ours.items():
        b = base.get("ess_bulk_tau")
        rows.append(
            Row(
                f"bulk ESS(tau), ours {param}",
                r["ess_bulk_tau"],
                b,
                ratio(r["ess_bulk_tau"], b),
                "draws",
            )
        )
    for param, r in ours.items():
        b = base.get("total_seconds")
        rows.append(
            Row(
                f"wall, compile included, ours {param}",
                r["total_seconds"],
                b,
                ratio(b, r["total_seconds"]),
            )
        )
    return rows
