"""NUTS sampling (nutpie when installed, else PyMC), seeds, diagnostics, compiled-model reuse.

Compilation is the expensive, data-independent part of a fit. A compiled program is kept
per *structure* (a fingerprint of the model's graphs, :mod:`bayes_ipd.one_stage.cache`),
in memory and on disk: fitting the same structure to new data, or with other prior
numbers, swaps the model's data containers and samples again without recompiling
(simulation studies, bootstrap, sensitivity sweeps), in this process or the next.

Before each long step a fit says what it is doing, one line on standard error
(``compiling the model ...``, ``sampling 2 chains x 1000 draws ...``), in a terminal and in
a notebook alike; ``SamplerSettings(progress=False)`` keeps it quiet, :func:`reporting`
sends the lines elsewhere (the CLI).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pymc as pm

from bayes_ipd.convergence import convergence
from bayes_ipd.one_stage.builder import BuiltModel
from bayes_ipd.one_stage.cache import (
    CacheStats,
    CompiledCore,
    cache_stats,
    clear_disk,
    clear_memory,
    core_of,
    count,
    entry_key,
    for_model,
    load_core,
    memory_get,
    memory_put,
    reset_cache_stats,
    save_core,
)

if TYPE_CHECKING:
    from bayes_ipd.spec import SamplerSettings

__all__ = [
    "CacheStats",
    "SamplingDiagnostics",
    "SamplingInterrupted",
    "cache_stats",
    "clear_compiled_cache",
    "reporting",
    "reset_cache_stats",
    "sample",
]

R_HAT_MAX = 1.01  # Vehtari et al. 2021
ESS_MIN_PER_CHAIN = 100  # Vehtari et al. 2021: bulk and tail ESS > 100 per chain
NO_DISK_ENV = "BAYES_IPD_NO_DISK_CACHE"
COMPILING_MESSAGE = (
    "compiling the model (first fit of this structure; later fits reuse it; "
    "10 s to a few minutes) ..."
)


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


_REPORTER: ContextVar[Callable[[str], None] | None] = ContextVar(
    "bayes_ipd_reporter", default=_to_stderr
)
"""Who hears what a fit is doing: by default a line on standard error (the Python API in a
terminal or a notebook), unless the sampler's ``progress`` is off; :func:`reporting`
replaces it (the CLI), and ``reporting(None)`` silences it."""


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
        Time to compile the model, or to load it from the disk cache (0 when the compiled
        model was held in memory).
    sampling_seconds : float
        Time spent sampling.
    reused_compiled : bool
        Whether a compiled model held in memory was reused (this process; a program
        loaded from the disk cache is ``compiled_from == "disk"``).
    warnings : tuple of str
        Diagnostic warnings raised (also emitted with :func:`warnings.warn`).
    compiled_from : str
        ``"memory"``, ``"disk"`` or ``"compiled"`` (nutpie); ``""`` for the pymc backend.
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
    compiled_from: str = ""

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
            "compiled_from": self.compiled_from,
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
    """A key that is equal exactly when two built models compile to the same program.

    A fingerprint of the model's graphs (:func:`~bayes_ipd.one_stage.cache.entry_key`):
    operations, constants and the types of the data containers, not their values — so
    new data or new prior numbers (held in ``prior_<slot>`` containers) keep the key.
    """
    return entry_key(built.model, backend)


def clear_compiled_cache(disk: bool = False) -> None:
    """Forget every compiled model held in memory (and, with ``disk``, on disk): the next
    fit compiles again."""
    clear_memory()
    if disk:
        clear_disk()


def disk_cache_enabled() -> bool:
    """Whether compiled models are read from and written to disk (``BAYES_IPD_NO_DISK_CACHE``
    set to a non-empty value other than ``0`` turns it off)."""
    return os.environ.get(NO_DISK_ENV, "0") in ("", "0")


@contextmanager
def reporting(callback: Callable[[str], None] | None) -> Iterator[None]:
    """Within the block, :func:`sample` tells ``callback`` what it is doing before each
    long step (``"compiling the model ..."``, ``"sampling 4 chains ..."``), whatever the
    sampler's ``progress``; ``None`` silences it. Outside any block the messages go to
    standard error when ``progress`` is on."""
    token = _REPORTER.set(_Chosen(callback))
    try:
        yield
    finally:
        _REPORTER.reset(token)


@dataclass(frozen=True)
class _Chosen:
    """A reporter set by :func:`reporting` (heard whatever the sampler's ``progress``)."""

    callback: Callable[[str], None] | None

    def __call__(self, message: str) -> None:
        if self.callback is not None:
            self.callback(message)


def notify(message: str, progress: bool = True) -> None:
    """Pass ``message`` to the callback of :func:`reporting`; without one, print it on
    standard error when ``progress`` (the sampler's setting) is on."""
    callback = _REPORTER.get()
    if callback is not None and (progress or isinstance(callback, _Chosen)):
        callback(message)


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


def compiled_program(built: BuiltModel, progress: bool = True) -> tuple[CompiledCore, str, str]:
    """The compiled program of ``built``: from memory, from disk, or compiled now (said
    first through :func:`notify`, ``progress`` as the sampler's setting).

    Returns the program, where it came from (``"memory"``, ``"disk"``, ``"compiled"``) and
    its key; :func:`~bayes_ipd.one_stage.cache.cache_stats` counts each.
    """
    from bayes_ipd.one_stage.callbacks import CALLBACKS, lean_compile

    key = structure_key(built, CALLBACKS)
    core = memory_get(key)
    if core is not None:
        count("hits")
        return core, "memory", key
    count("misses")
    use_disk = disk_cache_enabled()
    core = load_core(key) if use_disk else None
    source = "disk"
    if core is None:
        notify(COMPILING_MESSAGE, progress)
        core = core_of(lean_compile(built.model))
        count("compiles")
        source = "compiled"
        if use_disk:
            save_core(key, core)
    else:
        count("disk_hits")
    memory_put(key, core)
    return core, source, key


def _sample_nutpie(
    built: BuiltModel, settings: SamplerSettings
) -> tuple[az.InferenceData, float, str]:
    import nutpie

    t0 = time.perf_counter()
    core, source, key = compiled_program(built, settings.progress)
    compile_seconds = 0.0 if source == "memory" else time.perf_counter() - t0
    compiled = for_model(core, built.model, key)
    run = _run_settings(settings)
    notify(_sampling_message(settings), settings.progress)
    idata = nutpie.sample(
        compiled, seed=run.pop("seed"), progress_bar=settings.progress, save_warmup=False, **run
    )
    return idata, compile_seconds, source


def _sampling_message(settings: SamplerSettings) -> str:
    return (
        f"sampling {settings.chains} chain{'s' if settings.chains != 1 else ''} x "
        f"{settings.draws} draws ({settings.tune} tuning) ..."
    )


def _sample_pymc(
    built: BuiltModel, settings: SamplerSettings
) -> tuple[az.InferenceData, float, str]:
    with built.model:
        run = _run_settings(settings)
        notify(_sampling_message(settings), settings.progress)
        idata = pm.sample(
            random_seed=run.pop("seed"),
            progressbar=settings.progress,
            compute_convergence_checks=False,
            return_inferencedata=True,
            **run,
        )
    return idata, 0.0, ""


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


def parameter_draws(idata: az.InferenceData, var_names: list[str]) -> np.ndarray:
    """The posterior draws of ``var_names`` (those present), one row per scalar:
    shape ``(parameter, chain, draw)``."""
    blocks = []
    for name in var_names:
        if name not in idata.posterior:
            continue
        da = idata.posterior[name]
        other = [d for d in da.dims if d not in ("chain", "draw")]
        values = np.asarray(da.transpose("chain", "draw", *other).values, dtype=np.float64)
        blocks.append(np.moveaxis(values.reshape(values.shape[0], values.shape[1], -1), 2, 0))
    return np.concatenate(blocks) if blocks else np.empty((0, 1, 0))


def _extreme(values: np.ndarray, pick: Callable[[np.ndarray], float]) -> float:
    finite = values[~np.isnan(values)]
    return float(pick(finite)) if finite.size else float("nan")


def divergence_advice(divergences: int, forms: Mapping[str, str]) -> str:
    """The warning after ``divergences`` divergent transitions, suggesting only a
    parameterisation other than the one in use (``forms``: the form of each random
    effect, :attr:`BuiltModel.parameterisation`)."""
    in_use = set(forms.values())
    if in_use == {"noncentred"}:
        switch = "try parameterisation='centred' (the model is non-centred now; centred suits "
        switch += "trials with many participants), "
    elif in_use == {"centred"}:
        switch = "try parameterisation='noncentred' (the model is centred now), "
    elif in_use:
        now = ", ".join(f"{name} {form}" for name, form in sorted(forms.items()))
        switch = f"try one parameterisation for every random effect (now: {now}), "
    else:
        switch = ""
    return (
        f"{divergences} divergent transitions after tuning: the posterior may be biased. Raise "
        f"target_accept (e.g. 0.95-0.99), {switch}or use a more informative tau prior."
    )


def diagnose(
    idata: az.InferenceData,
    var_names: list[str],
    chains: int,
    forms: Mapping[str, str] | None = None,
) -> tuple[int, float, float, float, tuple[str, ...]]:
    """Divergences, max R-hat, min bulk/tail ESS, and the warnings they call for.

    R-hat and ESS are those of ``arviz.rhat`` and ``arviz.ess``, for all parameters at
    once (:mod:`~bayes_ipd.convergence`). ``forms``, the parameterisation of each random
    effect, keeps the divergence advice from suggesting the one in use.
    """
    div = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    conv = convergence(parameter_draws(idata, var_names))
    rhat = _extreme(conv.rhat, np.max) if chains > 1 else float("nan")
    ess_b = _extreme(conv.ess_bulk, np.min)
    ess_t = _extreme(conv.ess_tail, np.min)
    found: list[str] = []
    if div:
        found.append(divergence_advice(div, forms or {}))
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


class SamplingInterrupted(KeyboardInterrupt):
    """Sampling stopped before every chain drew every draw (Ctrl-C: nutpie and PyMC then
    return the draws made so far). A :class:`KeyboardInterrupt`, so that an interrupted
    fit stops the caller as Ctrl-C anywhere else does; the partial draws are never used."""


def check_complete(idata: az.InferenceData, settings: SamplerSettings, names: list[str]) -> None:
    """Raise :class:`SamplingInterrupted` unless ``idata`` holds ``settings.chains`` chains
    of ``settings.draws`` finite draws of every parameter in ``names``."""
    posterior = idata.posterior if "posterior" in idata.groups() else None
    chains = int(posterior.sizes.get("chain", 0)) if posterior is not None else 0
    draws = int(posterior.sizes.get("draw", 0)) if posterior is not None else 0
    # an aborted chain is padded with NaN up to the longest one
    padded = draws > 0 and bool(np.isnan(parameter_draws(idata, names)).any())
    if chains < settings.chains or draws < settings.draws or padded:
        raise SamplingInterrupted(
            f"sampling was interrupted ({chains} chain(s) x {draws} of {settings.chains} x "
            f"{settings.draws} draws{', some missing' if padded else ''}); no result was kept"
        )


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

    Raises
    ------
    SamplingInterrupted
        When sampling stopped early (Ctrl-C): the partial draws are not returned.
    """
    backend = resolve_backend(settings.backend)
    runner = _sample_nutpie if backend == "nutpie" else _sample_pymc
    t0 = time.perf_counter()
    idata, compile_seconds, source = runner(built, settings)
    sampling_seconds = time.perf_counter() - t0 - compile_seconds
    check_complete(idata, settings, _free_variable_names(built))
    idata = _move_loglik(idata)
    div, rhat, ess_b, ess_t, found = diagnose(
        idata, _free_variable_names(built), settings.chains, built.parameterisation
    )
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
        reused_compiled=source == "memory",
        compiled_from=source,
        warnings=found,
    )
    return idata, diag
