"""Where the time of a short one-stage fit goes: imports, graph building, numba compile, sampling.

Not a benchmark against a baseline: a profile that backs the figures of B1-B4. Each part
runs in a fresh process:

* ``imports``: ``import pymc``, ``import nutpie``, ``import bayes_ipd`` in turn;
* ``nutpie_compile``: nutpie's compile of bayes_ipd's BCG model (357,347 rows, 52 cells),
  split into PyTensor graph functions, the numba compile of the log density + gradient, and
  the numba compile of the "expand" function (constrained values and deterministics,
  including ``loglik_trial``); once as built, once with the expanded variables limited to
  the free parameters (``var_names``, no ``loglik_trial``);
* ``nutpie_compile_lean_*``: the same posterior written as a leaner graph (one sum over
  cells, no per-trial scatter, no ``loglik_trial``), with integer indexing or a one-hot
  product to take each cell's trial coefficients; its log density is checked equal to the
  built model's;
* ``pymc_backend``: the same fit with ``backend="pymc"`` (PyTensor C code, whose modules
  are cached on disk, and PyMC's NUTS), 4 chains x 1,000 draws;
* ``cli_*``: ``bayes-ipd run`` on the BCG spec with ``backend`` set to nutpie, to pymc, and
  to pymc with an empty PyTensor compile cache (a first run after installation);
* ``b1_gaussian_pymc_backend``: B1's fit (20 x 5,000 rows) with ``backend="pymc"``.

Run: ``python benchmarks/profile_compile.py``; writes ``benchmarks/results/profile_compile.json``.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common

NAME = "profile_compile"


def imports_case() -> dict[str, float]:
    """Seconds to import pymc, then nutpie, then bayes_ipd (each on top of the previous)."""
    out = {}
    for module in ("pymc", "nutpie", "bayes_ipd"):
        t0 = time.perf_counter()
        __import__(module)
        out[f"import_{module}_seconds"] = time.perf_counter() - t0
    return out


def _bcg_built(parameterisation: str = "auto") -> Any:
    from bayes_ipd.datasets import load_bcg_ipd
    from bayes_ipd.one_stage.builder import build_model
    from bayes_ipd.one_stage.design import build_design
    from bayes_ipd.spec import ModelSpec

    spec = ModelSpec("binomial", parameterisation=parameterisation)
    return build_model(build_design(load_bcg_ipd(), spec), spec)


def nutpie_compile_case(limit_expanded: bool) -> dict[str, Any]:
    """nutpie's compile of the BCG model, with each numba ``cfunc`` compile timed."""
    import numba
    import nutpie
    import nutpie.compile_pymc as ncp

    built = _bcg_built()
    cfunc_seconds: list[float] = []
    original_cfunc = numba.cfunc

    def timed_cfunc(*args: Any, **kwargs: Any) -> Any:
        decorate = original_cfunc(*args, **kwargs)

        def wrapper(fn: Any) -> Any:
            t0 = time.perf_counter()
            out = decorate(fn)
            cfunc_seconds.append(time.perf_counter() - t0)
            return out

        return wrapper

    original_make = ncp._make_functions
    make_seconds: list[float] = []

    def timed_make(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = original_make(*args, **kwargs)
        make_seconds.append(time.perf_counter() - t0)
        return out

    var_names = [v.name for v in built.model.free_RVs] if limit_expanded else None
    numba.cfunc = timed_cfunc
    ncp._make_functions = timed_make
    try:
        t0 = time.perf_counter()
        compiled = nutpie.compile_pymc_model(built.model, var_names=var_names)
        total = time.perf_counter() - t0
    finally:
        numba.cfunc = original_cfunc
        ncp._make_functions = original_make
    t1 = time.perf_counter()
    nutpie.sample(compiled, draws=1000, tune=1000, chains=4, cores=2, seed=1, progress_bar=False)
    return {
        "expanded_variables": "free parameters only" if limit_expanded else "all (as built)",
        "compile_seconds": total,
        "pytensor_functions_seconds": sum(make_seconds),
        "numba_logp_seconds": cfunc_seconds[0] if cfunc_seconds else None,
        "numba_expand_seconds": cfunc_seconds[1] if len(cfunc_seconds) > 1 else None,
        "sampling_seconds": time.perf_counter() - t1,
    }


def _lean_bcg_model(built: Any, gather: str) -> Any:
    """The BCG model of ``built`` (centred theta) written leaner for the numba compile.

    Same priors and the same log density, but the likelihood enters as one sum over cells
    (no per-trial ``inc_subtensor`` and no ``loglik_trial`` deterministic), and each cell's
    trial coefficients are taken by integer indexing (``gather="index"``) or by a product
    with a constant one-hot (cells x trials) matrix (``gather="onehot"``).
    """
    import numpy as np
    import pymc as pm
    import pytensor.tensor as pt

    from bayes_ipd.priors import tau_to_pymc

    d, priors = built.design, built.priors
    with pm.Model(coords={"study": list(d.studies)}) as model:
        mu = priors.effect.to_pymc("mu")
        tau = tau_to_pymc(priors.tau, name="tau")
        theta = pm.Normal("theta", mu, tau, dims="study")
        alpha = priors.intercept.to_pymc("alpha", dims="study")
        if gather == "onehot":
            onehot = np.eye(d.k)[d.stats["cell_study"]]
            a_cell, t_cell = pt.dot(onehot, alpha), pt.dot(onehot, theta)
        else:
            a_cell, t_cell = alpha[d.stats["cell_study"]], theta[d.stats["cell_study"]]
        eta = a_cell + t_cell * d.stats["cell_z"][:, 1]
        pm.Potential(
            "likelihood",
            (d.stats["cell_events"] * eta - d.stats["cell_n"] * pt.softplus(eta)).sum(),
        )
    return model


def lean_compile_case(gather: str) -> dict[str, Any]:
    """nutpie compile of a leaner BCG graph; its log density checked against the built one."""
    import numpy as np
    import nutpie

    built = _bcg_built("centred")
    lean = _lean_bcg_model(built, gather)
    point = built.model.initial_point()
    rng = np.random.default_rng(1)
    point = {k: v + rng.normal(0, 0.2, np.shape(v)) for k, v in point.items()}
    same = bool(np.isclose(built.model.compile_logp()(point), lean.compile_logp()(point)))
    t0 = time.perf_counter()
    compiled = nutpie.compile_pymc_model(lean)
    compile_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    nutpie.sample(compiled, draws=1000, tune=1000, chains=4, cores=2, seed=1, progress_bar=False)
    return {
        "gather": gather,
        "same_log_density_as_built": same,
        "compile_seconds": compile_seconds,
        "sampling_seconds": time.perf_counter() - t1,
    }


def pymc_backend_case(draws: int, tune: int, chains: int) -> dict[str, Any]:
    """``bayes_ipd.fit`` of the BCG rows with ``backend="pymc"``."""
    from bayes_ipd.datasets import load_bcg_ipd
    from bayes_ipd.one_stage.fitting import fit
    from bayes_ipd.spec import ModelSpec

    ipd = load_bcg_ipd()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(
            ipd,
            ModelSpec("binomial"),
            common.sampler_settings(draws, tune, chains, 20240601, backend="pymc"),
        )
    d = result.diagnostics
    return {
        "fit_seconds": time.perf_counter() - t0,
        "sampling_seconds_incl_c_compile": d.sampling_seconds,
        "r_hat_max": d.r_hat_max,
        "ess_bulk_min": d.ess_bulk_min,
    }


def cli_backend_case(backend: str, cold_c_cache: bool = False) -> dict[str, Any]:
    """Wall time of ``bayes-ipd run`` on the BCG spec with the sampler backend set.

    The spec is ``models/bcg_binary.toml`` with ``backend`` added to ``[sampler]`` and the
    data path made absolute, written to a temporary folder. ``cold_c_cache`` gives the
    process an empty PyTensor compile directory (a first run after installation).
    """
    import json
    import tempfile
    import tomllib

    import tomli_w

    doc = tomllib.loads((common.REPO_ROOT / "models" / "bcg_binary.toml").read_text())
    doc["sampler"]["backend"] = backend
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "bcg.toml"
        spec.write_text(tomli_w.dumps(doc))
        env = {"PYTENSOR_FLAGS": f"base_compiledir={tmp}/pytensor"} if cold_c_cache else None
        argv = [sys.executable, "-m", "bayes_ipd.cli", "run", str(spec), "--json"]
        run = common.run_process(argv, env=env)
    if run.returncode != 0:
        raise RuntimeError(f"bayes-ipd run failed: {run.stderr.splitlines()[-3:]}")
    diag = json.loads(run.stdout)["diagnostics"]
    return {
        "backend": backend,
        "cold_c_cache": cold_c_cache,
        "process_wall_seconds": run.wall_seconds,
        "compile_seconds": diag["compile_seconds"],
        "sampling_seconds": diag["sampling_seconds"],
        "r_hat_max": diag["r_hat_max"],
        "ess_bulk_min": diag["ess_bulk_min"],
        "load_average_after": common.load_average(),
    }


def gaussian_pymc_backend_case() -> dict[str, Any]:
    """B1's fit of ours (20 x 5,000 rows, auto) with ``backend="pymc"``."""
    from benchmarks import b1_continuous_ess as b1

    c = b1.FULL
    return b1.ours_case(
        c.n_studies, c.n_per_study, c.data_seed, "auto", c.draws, c.tune, c.chains, c.seed, "pymc"
    )


def run(isolate: bool = True, results_dir: Path | None = None, verbose: bool = True) -> dict:
    """Run every part and write ``<results_dir>/profile_compile.json``."""
    info = common.machine_info()
    target = f"benchmarks.{NAME}"
    parts = {
        "imports": common.call_case(f"{target}:imports_case", {}, isolate),
        "nutpie_compile_as_built": common.call_case(
            f"{target}:nutpie_compile_case", {"limit_expanded": False}, isolate
        ),
        "nutpie_compile_free_only": common.call_case(
            f"{target}:nutpie_compile_case", {"limit_expanded": True}, isolate
        ),
        "nutpie_compile_lean_index": common.call_case(
            f"{target}:lean_compile_case", {"gather": "index"}, isolate
        ),
        "nutpie_compile_lean_onehot": common.call_case(
            f"{target}:lean_compile_case", {"gather": "onehot"}, isolate
        ),
        "pymc_backend": common.call_case(
            f"{target}:pymc_backend_case", {"draws": 1000, "tune": 1000, "chains": 4}, isolate
        ),
    }
    parts["cli_nutpie"] = cli_backend_case("nutpie")
    parts["cli_pymc_backend"] = cli_backend_case("pymc")
    parts["cli_pymc_backend_cold_c_cache"] = cli_backend_case("pymc", cold_c_cache=True)
    parts["b1_gaussian_pymc_backend"] = common.call_case(
        f"{target}:gaussian_pymc_backend_case", {}, isolate
    )
    payload = {
        "benchmark": NAME,
        "machine": info,
        "load_average_at_end": common.load_average(),
        **parts,
    }
    path = common.write_results(NAME, payload, results_dir)
    if verbose:
        for name, part in parts.items():
            shown = {k: round(v, 2) if isinstance(v, float) else v for k, v in part.items()}
            print(f"{name}: {shown}")
        print(f"written {path}")
    return payload


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line: ``python benchmarks/profile_compile.py [--no-isolate]``."""
    args = common.parser(__doc__.splitlines()[0]).parse_args(argv)
    return run(isolate=not args.no_isolate, results_dir=common.results_dir_for(args))


if __name__ == "__main__":
    main()
