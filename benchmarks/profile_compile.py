"""Where the time of a short one-stage fit goes: imports, graph building, numba compile, sampling.

Not a benchmark against a baseline: a profile that backs the figures of B1-B4. Each part
runs in a fresh process:

* ``imports``: ``import pymc``, ``import nutpie``, ``import bayes_ipd`` in turn;
* ``nutpie_compile``: nutpie's compile of bayes_ipd's BCG model (357,347 rows, 52 cells),
  split into PyTensor graph functions, the numba compile of the log density + gradient, and
  the numba compile of the "expand" function (constrained values and deterministics,
  including ``loglik_trial``); once as built, once with the expanded variables limited to
  the free parameters (``var_names``, no ``loglik_trial``);
* ``pymc_backend``: the same fit with ``backend="pymc"`` (PyTensor C code, whose modules
  are cached on disk, and PyMC's NUTS), 4 chains x 1,000 draws.

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
    from bayes_ipd.builder import build_model
    from bayes_ipd.datasets import load_bcg_ipd
    from bayes_ipd.design import build_design
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


def pymc_backend_case(draws: int, tune: int, chains: int) -> dict[str, Any]:
    """``bayes_ipd.fit`` of the BCG rows with ``backend="pymc"``."""
    from bayes_ipd.datasets import load_bcg_ipd
    from bayes_ipd.fitting import fit
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
        "pymc_backend": common.call_case(
            f"{target}:pymc_backend_case", {"draws": 1000, "tune": 1000, "chains": 4}, isolate
        ),
    }
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
