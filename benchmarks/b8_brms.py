"""B8: seconds to a first posterior with 1,000 ESS(tau): brms, plain PyMC rows, bayes_ipd.

The BCG model of ``models/bcg_binary.toml`` (logistic, stratified trial intercepts, random
treatment effect ``theta_k ~ Normal(mu, tau)``; priors ``normal(0, 10)`` on the intercepts,
``normal(0, 2.5)`` on ``mu``, ``half_normal(1)`` on ``tau``) fitted three ways, each in a
fresh process started from nothing (interpreter start, library loading, data, compile,
sampling: everything a user waits for), 2 chains x 1,000 draws after 1,000 warm-up steps:

* ``brms``: R + brms (Debian's ``r-cran-brms``, Stan through rstan) on the 26 (trial, arm)
  binomial cells, ``events | trials(n) ~ 0 + trial + treat + (0 + treat | trial)`` with
  ``prior(normal(0, 10), class = b)``, ``prior(normal(0, 2.5), class = b, coef = treat)``,
  ``prior(normal(0, 1), class = sd)`` (a half-normal: brms bounds ``sd`` below at 0) — the
  same model and priors (the binomial likelihood of the cells equals the Bernoulli
  likelihood of the rows up to a constant). Stan's C++ compile is part of the wall time;
* ``pymc_rows`` (the baseline): the plain row-level PyMC model a user would write
  (``pm.Bernoulli`` over all 357,347 rows, :func:`benchmarks.common.row_level_bernoulli_model`,
  centred as bayes_ipd's ``auto`` chooses), ``pm.sample`` with PyMC's NUTS;
* ``ours_cold`` / ``ours_warm``: ``bayes_ipd.fit`` on the rows (nutpie), with an empty
  compiled-model cache, then again in a new process with the cache it left.

Figures: process wall seconds, bulk ESS(tau), and ``1000 * wall / ESS(tau)`` ("seconds per
1,000 ESS(tau)", a first posterior with 1,000 effective draws of tau). Ratios: baseline /
each.

R is needed for the brms case only (never by the package or its tests). Debian's
``r-cran-bh`` ships an empty ``BH`` package (the Boost headers live in ``/usr/include``), and
rstan then stops with "Boost not found"; the benchmark gives R a private library folder
holding a copy of ``BH`` whose ``include`` links to ``/usr/include/boost``.

Run: ``python benchmarks/b8_brms.py [--parts ours,pymc_rows,brms] [--results-dir D]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.common import Row

NAME = "b8_brms"
DRAWS = 1000
TUNE = 1000
CHAINS = 2
SEED = 20240601

R_CODE = r"""
suppressMessages(library(brms))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$trial <- factor(d$trial)
pr <- c(prior(normal(0, 10), class = b),
        prior(normal(0, 2.5), class = b, coef = treat),
        prior(normal(0, 1), class = sd))
t0 <- Sys.time()
fit <- brm(events | trials(n) ~ 0 + trial + treat + (0 + treat | trial), data = d,
           family = binomial(), prior = pr, chains = as.integer(args[2]),
           iter = as.integer(args[3]) + as.integer(args[4]), warmup = as.integer(args[4]),
           cores = as.integer(args[2]), seed = as.integer(args[5]), refresh = 0,
           backend = "rstan")
t1 <- Sys.time()
el <- rstan::get_elapsed_time(fit$fit)
tau <- as_draws_array(fit, variable = "sd_trial__treat")
mu <- as_draws_array(fit, variable = "b_treat")
np <- nuts_params(fit)
cat(sprintf(paste0(
  "B8JSON {\"brm_seconds\": %f, \"sampling_seconds\": %f, \"ess_bulk_tau\": %f, ",
  "\"r_hat_tau\": %f, \"tau_mean\": %f, \"mu_mean\": %f, \"divergences\": %d, ",
  "\"brms\": \"%s\", \"rstan\": \"%s\"}\n"),
  as.numeric(t1 - t0, units = "secs"), max(rowSums(el)), posterior::ess_bulk(tau),
  posterior::rhat(tau), mean(tau), mean(mu),
  as.integer(sum(np$Value[np$Parameter == "divergent__"])),
  as.character(packageVersion("brms")), as.character(packageVersion("rstan"))))
"""


def bcg_cells(folder: Path) -> Path:
    """The 26 (trial, arm) cells of the BCG rows: events and participants."""
    from bayes_ipd.datasets import bcg_participant_rows

    rows = bcg_participant_rows()
    cells = rows.groupby(["trial", "treat"], sort=True)["event"].agg(events="sum", n="size")
    path = folder / "bcg_cells.csv"
    cells.reset_index().to_csv(path, index=False)
    return path


def r_library(folder: Path) -> Path | None:
    """A private R library with a ``BH`` whose ``include`` holds the system Boost headers
    (None when Debian's ``BH`` stub or the headers are absent: R's own ``BH`` is used)."""
    stub, boost = Path("/usr/lib/R/site-library/BH"), Path("/usr/include/boost")
    if not stub.is_dir() or (stub / "include").exists() or not boost.is_dir():
        return None
    lib = folder / "rlib"
    shutil.copytree(stub, lib / "BH")
    (lib / "BH" / "include").mkdir()
    (lib / "BH" / "include" / "boost").symlink_to(boost)
    return lib


def brms_case(folder: Path) -> dict[str, Any]:
    """brms in a fresh ``Rscript``: wall seconds from process start to exit."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return {"error": "Rscript not found (apt-get install r-cran-brms)"}
    script = folder / "b8.R"
    script.write_text(R_CODE)
    cells = bcg_cells(folder)
    env = dict(os.environ)
    lib = r_library(folder)
    if lib is not None:
        env["R_LIBS"] = os.pathsep.join(filter(None, [str(lib), env.get("R_LIBS", "")]))
    argv = [rscript, str(script), str(cells), str(CHAINS), str(DRAWS), str(TUNE), str(SEED)]
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("B8JSON ")]
    if done.returncode != 0 or not lines:
        return {"error": "\n".join((done.stderr or done.stdout).splitlines()[-8:])}
    out = json.loads(lines[-1][len("B8JSON ") :])
    out["process_wall_seconds"] = wall
    out["compile_seconds"] = out["brm_seconds"] - out["sampling_seconds"]
    out["load_average_after"] = common.load_average()
    return out


def pymc_rows_case() -> dict[str, Any]:
    """The plain row-level PyMC model (runs in a child process)."""
    import warnings

    from bayes_ipd.datasets import bcg_participant_rows, load_bcg_ipd
    from bayes_ipd.one_stage.builder import priors_for
    from bayes_ipd.one_stage.design import build_design
    from bayes_ipd.spec import ModelSpec

    rows = bcg_participant_rows()
    spec = ModelSpec("binomial")  # no covariates: the priors bayes_ipd fills in, as they are
    priors = priors_for(build_design(load_bcg_ipd(), spec), spec)
    model = common.row_level_bernoulli_model(rows, priors, parameterisation="centred")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = common.sample_pymc_default(model, DRAWS, TUNE, CHAINS, SEED)
    return _posterior_figures(idata, {"build_and_sample_seconds": time.perf_counter() - t0})


def ours_case() -> dict[str, Any]:
    """``bayes_ipd.fit`` on the BCG rows (runs in a child process)."""
    import bayes_ipd as bi

    ipd = bi.datasets.load_bcg_ipd()
    spec = bi.ModelSpec("binomial")
    settings = bi.SamplerSettings(
        draws=DRAWS, tune=TUNE, chains=CHAINS, seed=SEED, target_accept=0.9, progress=False
    )
    result = bi.fit(ipd, spec, settings)
    d = result.diagnostics
    return _posterior_figures(
        result.idata,
        {
            "compile_seconds": d.compile_seconds,
            "sampling_seconds": d.sampling_seconds,
            "compiled_from": d.compiled_from,
        },
    )


def _posterior_figures(idata: Any, out: dict[str, Any]) -> dict[str, Any]:
    out.update(
        ess_bulk_tau=common.ess_bulk(idata, "tau"),
        r_hat_tau=common.r_hat(idata, "tau"),
        tau_mean=float(idata.posterior["tau"].mean()),
        mu_mean=float(idata.posterior["mu"].mean()),
        divergences=common.divergences(idata),
    )
    return out


def _per_kess(case: dict[str, Any]) -> float | None:
    if "process_wall_seconds" not in case or not case.get("ess_bulk_tau"):
        return None
    return common.seconds_per_kess(case["process_wall_seconds"], case["ess_bulk_tau"])


PARTS = ("ours", "pymc_rows", "brms")


def run(parts: Sequence[str] = PARTS, results_dir: Path | None = None) -> dict[str, Any]:
    """The cases of ``parts`` in turn (ours, the PyMC baseline, brms: the slowest to start
    last); writes ``<results_dir>/b8_brms.json`` after each case, so a stopped run keeps
    what it measured. With a subset of :data:`PARTS`, the cases already in that file are
    kept (and say when they were measured)."""
    info = common.machine_info()
    cases: dict[str, Any] = {}
    if set(parts) != set(PARTS):
        cases = _earlier_cases(results_dir)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {"BAYES_IPD_CACHE_DIR": str(folder / "cache")}
        if "ours" in parts:
            for name in ("ours_cold", "ours_warm"):
                cases[name] = _isolated("benchmarks.b8_brms:ours_case", env)
                payload = _payload(info, cases, results_dir)
        if "pymc_rows" in parts:
            cases["pymc_rows"] = _isolated("benchmarks.b8_brms:pymc_rows_case", {})
            payload = _payload(info, cases, results_dir)
        if "brms" in parts:
            cases["brms"] = brms_case(folder)
            payload = _payload(info, cases, results_dir)
    print(
        common.format_table(
            "B8: seconds per 1,000 ESS(tau), BCG, process start to exit",
            [Row(**r) for r in payload["rows"]],
        )
    )
    for name, case in cases.items():
        print(name, {k: round(v, 2) if isinstance(v, float) else v for k, v in case.items()})
    return payload


def _earlier_cases(results_dir: Path | None) -> dict[str, Any]:
    path = Path(results_dir or common.RESULTS_DIR) / f"{NAME}.json"
    if not path.is_file():
        return {}
    earlier = json.loads(path.read_text())
    when = earlier.get("machine", {}).get("date")
    return {k: {**v, "measured": v.get("measured", when)} for k, v in earlier["cases"].items()}


def _payload(info: dict[str, Any], cases: dict[str, Any], results_dir: Path | None) -> dict:
    """The JSON document of the cases run so far (written to the results folder)."""
    base = _per_kess(cases.get("pymc_rows", {}))
    rows = [
        Row(
            f"s per 1000 ESS(tau), {name} vs PyMC rows",
            _per_kess(case),
            base,
            common.ratio(base, _per_kess(case)),
        )
        for name, case in cases.items()
        if name != "pymc_rows"
    ]
    if "brms" in cases and "ours_cold" in cases:
        brms, ours = _per_kess(cases["brms"]), _per_kess(cases["ours_cold"])
        rows.append(
            Row("s per 1000 ESS(tau), ours cold vs brms", ours, brms, common.ratio(brms, ours))
        )
    payload = {
        "benchmark": NAME,
        "config": {"draws": DRAWS, "tune": TUNE, "chains": CHAINS, "seed": SEED},
        "machine": info,
        "cases": cases,
        "rows": [r.to_dict() for r in rows],
        "load_average_at_end": common.load_average(),
    }
    path = common.write_results(NAME, payload, results_dir)
    print(f"written {path} ({', '.join(cases)})", flush=True)
    return payload


def _isolated(target: str, env: dict[str, str]) -> dict[str, Any]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return common.run_isolated(target, {})
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line: ``python benchmarks/b8_brms.py [--parts ours,pymc_rows,brms]``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated subset of {','.join(PARTS)} (default: all)",
    )
    p.add_argument("--results-dir", type=Path, default=None)
    args = p.parse_args(argv)
    parts = [x for x in args.parts.split(",") if x]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        p.error(f"unknown part {unknown[0]!r}; choose from {', '.join(PARTS)}")
    return run(parts, args.results_dir)


if __name__ == "__main__":
    main()
