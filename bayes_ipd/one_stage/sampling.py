"""NUTS sampling (nutpie when installed, else PyMC), seeds, diagnostics, compiled-model reuse.

Compilation is the expensive, data-independent part of a fit. A compiled model is kept per
*structure* (spec, priors in use, parameterisation, trial labels, terms and array shapes);
fitting the same structure to new data replaces the model's data containers and samples
again without recompiling (simulation studies, bootstrap, sensitivity runs).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pymc as pm

from bayes_ipd.one_stage.builder import BuiltModel, data_arrays, intercept_sd_scale

if TYPE_CHECKING:
    from bayes_ipd.spec import SamplerSettings

CACHE_SIZE = 8
R_HAT_MAX = 1.01  # Vehtari et al. 2021
ESS_MIN_PER_CHAIN = 100  # Vehtari et al. 2021: bulk and tail ESS > 100 per chain

_COMPILED: OrderedDict[str, Any] = OrderedDict()


@dataclass(frozen=True)
class SamplingDiagnostics:
    """What happened in a NUTS run.

    Attributes
    ----------
    backend : str
        ``"nutpie"`` or ``"pymc"``.
    draws, tune, chains, seed : int
        Sampler settings used.
    divergences : int
        Divergent transitions after tuning.
    r_hat_max : float
        Largest rank-normalised split R-hat over the model's parameters.
    ess_bulk_min, ess_tail_min : float
        Smallest bulk and tail ESS over the model's parameters.
    compile_seconds : float
        Time to compile the model (0 when a compiled model was reused).
    sampling_seconds : float
        Time spent sampling.
    reused_compiled : bool
        Whether a compiled model was reused.
    warnings : tuple of str
        Diagnostic warnings raised (also emitted with :func:`warnings.warn`).
    """

    backend: str
    draws: int
    tune: int
    chains: int
    seed: int
    divergences: int
    r_hat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    compile_seconds: float
    sampling_seconds: float
    reused_compiled: bool
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "backend": self.backend,
            "draws": self.draws,
            "tune": self.tune,
            "chains": self.chains,
            "seed": self.seed,
            "divergences": self.divergences,
            "r_hat_max": self.r_hat_max,
            "ess_bulk_min": self.ess_bulk_min,
            "ess_tail_min": self.ess_tail_min,
            "compile_seconds": self.compile_seconds,
            "sampling_seconds": self.sampling_seconds,
            "seconds": self.compile_seconds + self.sampling_seconds,
            "reused_compiled": self.reused_compiled,
            "warnings": list(self.warnings),
        }


def nutpie_available() -> bool:
    """Whether nutpie can be imported."""
    return importlib.util.find_spec("nutpie") is not None


def resolve_backend(backend: str) -> str:
    """``"auto"`` -> nutpie when installed, else pymc."""
    if backend == "auto":
        return "nutpie" if nutpie_available() else "pymc"
    if backend == "nutpie" and not nutpie_available():
        raise ImportError("backend='nutpie' but nutpie is not installed (pip install nutpie)")
    return backend


def structure_key(built: BuiltModel, backend: str) -> str:
    """A key that is equal exactly when two built models compile to the same program."""
    d = built.design
    shapes = {name: np.shape(v) for name, v in data_arrays(d).items()}
    parts = [
        backend,
        repr(built.spec),
        repr(priors_in_use(built)),
        repr(sorted(built.parameterisation.items())),
        repr(d.studies),
        repr(d.covariate_terms),
        repr(d.interaction_terms),
        repr(d.cutpoints),
        repr(sorted(shapes.items())),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def priors_in_use(built: BuiltModel) -> dict[str, str]:
    """The priors the model actually contains (a slot without parameters is left out)."""
    d = built.design
    used = set(d.plugin.prior_slots)
    if not d.covariate_terms:
        used.discard("coefficients")
    if not d.interaction_terms:
        used.discard("interactions")
    out = {slot: text for slot, text in built.priors.to_dict().items() if slot in used}
    if built.spec.intercepts == "random":
        out["alpha_sd"] = f"half_normal({intercept_sd_scale(d)!r})"
    return out


def clear_compiled_cache() -> None:
    """Forget every compiled model (the next fit compiles again)."""
    _COMPILED.clear()


def _cache_put(key: str, value: Any) -> None:
    _COMPILED[key] = value
    _COMPILED.move_to_end(key)
    while len(_COMPILED) > CACHE_SIZE:
        _COMPILED.popitem(last=False)


def _run_settings(settings: SamplerSettings) -> dict[str, Any]:
    """The run settings both samplers take under the same names (and ``seed``)."""
    return {
        "draws": settings.draws,
        "tune": settings.tune,
        "chains": settings.chains,
        "cores": min(settings.chains, os.cpu_count() or 1),
        "target_accept": settings.target_accept,
        "seed": settings.seed,
    }


def _sample_nutpie(
    built: BuiltModel, settings: SamplerSettings
) -> tuple[az.InferenceData, float, bool]:
    import nutpie

    key = structure_key(built, "nutpie")
    t0 = time.perf_counter()
    cached = _COMPILED.get(key)
    if cached is None:
        compiled = nutpie.compile_pymc_model(built.model)
        _cache_put(key, compiled)
        reused = False
    else:
        compiled = cached.with_data(**data_arrays(built.design))
        reused = True
    compile_seconds = 0.0 if reused else time.perf_counter() - t0
    run = _run_settings(settings)
    idata = nutpie.sample(
        compiled, seed=run.pop("seed"), progress_bar=settings.progress, save_warmup=False, **run
    )
    return idata, compile_seconds, reused


def _sample_pymc(
    built: BuiltModel, settings: SamplerSettings
) -> tuple[az.InferenceData, float, bool]:
    with built.model:
        run = _run_settings(settings)
        idata = pm.sample(
            random_seed=run.pop("seed"),
            progressbar=settings.progress,
            compute_convergence_checks=False,
            return_inferencedata=True,
            **run,
        )
    return idata, 0.0, False


def _free_variable_names(built: BuiltModel) -> list[str]:
    names = [v.name for v in built.model.free_RVs]
    return [n for n in names if n != "loglik_trial"]


def _move_loglik(idata: az.InferenceData) -> az.InferenceData:
    """Move the per-trial log-likelihood from the posterior to a log_likelihood group."""
    if "loglik_trial" not in idata.posterior:
        return idata
    ll = idata.posterior["loglik_trial"].rename("trial")
    posterior = idata.posterior.drop_vars("loglik_trial")
    groups = {g: idata[g] for g in idata.groups() if g not in ("posterior", "log_likelihood")}
    return az.InferenceData(posterior=posterior, log_likelihood=ll.to_dataset(), **groups)


def diagnose(
    idata: az.InferenceData, var_names: list[str], chains: int
) -> tuple[int, float, float, float, tuple[str, ...]]:
    """Divergences, max R-hat, min bulk/tail ESS, and the warnings they call for."""
    names = [v for v in var_names if v in idata.posterior]
    div = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    if chains > 1:
        rhat = float(az.rhat(idata, var_names=names).to_array().max())
    else:
        rhat = float("nan")
    ess_b = float(az.ess(idata, var_names=names, method="bulk").to_array().min())
    ess_t = float(az.ess(idata, var_names=names, method="tail").to_array().min())
    found: list[str] = []
    if div:
        found.append(
            f"{div} divergent transitions after tuning: the posterior may be biased. Raise "
            "target_accept (e.g. 0.95-0.99), try parameterisation='noncentred' (or 'centred'), "
            "or use a more informative tau prior."
        )
    if rhat > R_HAT_MAX:
        found.append(
            f"R-hat up to {rhat:.3f} (> {R_HAT_MAX}): chains disagree. Run more tune and draws."
        )
    floor = ESS_MIN_PER_CHAIN * chains
    if ess_b < floor or ess_t < floor:
        found.append(
            f"low effective sample size (bulk {ess_b:.0f}, tail {ess_t:.0f}; want > {floor}): "
            "increase draws before trusting intervals."
        )
    return div, rhat, ess_b, ess_t, tuple(found)


def sample(
    built: BuiltModel, settings: SamplerSettings
) -> tuple[az.InferenceData, SamplingDiagnostics]:
    """Run NUTS on a built model.

    Parameters
    ----------
    built : BuiltModel
    settings : SamplerSettings
        draws, tune, chains, seed, target_accept, backend, progress.

    Returns
    -------
    (arviz.InferenceData, SamplingDiagnostics)
        The InferenceData has ``posterior``, ``sample_stats`` and ``log_likelihood`` (one
        term per trial, variable ``trial``) groups. Same seed, data and spec give identical
        draws.
    """
    backend = resolve_backend(settings.backend)
    runner = _sample_nutpie if backend == "nutpie" else _sample_pymc
    t0 = time.perf_counter()
    idata, compile_seconds, reused = runner(built, settings)
    sampling_seconds = time.perf_counter() - t0 - compile_seconds
    idata = _move_loglik(idata)
    div, rhat, ess_b, ess_t, found = diagnose(idata, _free_variable_names(built), settings.chains)
    for message in found:
        warnings.warn(message, stacklevel=2)
    diag = SamplingDiagnostics(
        backend=backend,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        seed=settings.seed,
        divergences=div,
        r_hat_max=rhat,
        ess_bulk_min=ess_b,
        ess_tail_min=ess_t,
        compile_seconds=compile_seconds,
        sampling_seconds=sampling_seconds,
        reused_compiled=reused,
        warnings=found,
    )
    return idata, diag
