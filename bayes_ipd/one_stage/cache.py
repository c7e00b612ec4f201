"""Compiled models, kept in memory and on disk across processes.

Compiling a model for nutpie (PyTensor graph -> numba -> LLVM machine code) is the
expensive, data-independent part of a fit. A compiled model is kept under a key that is
equal exactly when two models compile to the same program: a fingerprint of the model's
log-density and trace graphs (every operation, every constant's bytes, the type of every
data container — but not the containers' values), the sampler backend and the versions of
everything that generates the code. The data of a model — participant summaries *and* the
priors' numbers (``prior_<slot>`` containers) — live in ``pm.Data`` containers, so a new
data set or a new prior scale is the same program with other data: a refit, not a compile.

Two stores:

* in memory, the last :data:`MEMORY_SIZE` compiled programs of this process;
* on disk, one file per program in :func:`cache_dir` (the platform's user cache folder,
  or ``$BAYES_IPD_CACHE_DIR``): numba's relocatable object code of the log-density and
  trace functions and the layout nutpie needs, so a second process of the same structure
  loads the program (about a second) instead of compiling it.

A disk entry is ``MAGIC``, the SHA-256 of its payload, then the payload; the payload names
its key and the library versions. An entry whose digest, key or versions do not match
(corrupt, truncated, written by another numba or on another CPU) is deleted and the model
compiled again, never used. Entries are written to a temporary file in the same folder and
moved into place with :func:`os.replace`, so concurrent writers of one entry cannot leave a
torn file. The files are Python pickles: the cache folder must be writable by its user
only (it is by default).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

# the key of a program lives in fingerprint.py; re-exported, as the cache's own vocabulary
from bayes_ipd.one_stage.fingerprint import FORMAT as FORMAT
from bayes_ipd.one_stage.fingerprint import entry_key as entry_key
from bayes_ipd.one_stage.fingerprint import graph_fingerprint as graph_fingerprint
from bayes_ipd.one_stage.fingerprint import model_fingerprint as model_fingerprint
from bayes_ipd.one_stage.fingerprint import versions as versions

ENV_VAR = "BAYES_IPD_CACHE_DIR"
MAGIC = b"BAYES-IPD-COMPILED 1\n"
MEMORY_SIZE = 8
SUFFIX = ".nutpie"

_MEMORY: OrderedDict[str, CompiledCore] = OrderedDict()
_LOCK = threading.Lock()
_COUNTS = {"hits": 0, "disk_hits": 0, "misses": 0, "compiles": 0, "rejected": 0}


@dataclass(frozen=True)
class CacheStats:
    """Counters of the compiled-model cache of this process (since the last reset).

    Attributes
    ----------
    hits : int
        Fits that reused a compiled model held in memory.
    disk_hits : int
        Fits that loaded a compiled model from the disk cache.
    misses : int
        Fits that found no compiled model in memory (``disk_hits + compiles`` of them).
    compiles : int
        Fits that compiled the model.
    rejected : int
        Disk entries found stale or corrupt (deleted; the model was compiled instead).
    """

    hits: int
    disk_hits: int
    misses: int
    compiles: int
    rejected: int

    def to_dict(self) -> dict[str, int]:
        """JSON-ready dictionary."""
        return {
            "hits": self.hits,
            "disk_hits": self.disk_hits,
            "misses": self.misses,
            "compiles": self.compiles,
            "rejected": self.rejected,
        }


def cache_stats() -> CacheStats:
    """The cache counters of this process (a sensitivity sweep shows ``compiles == 1``)."""
    with _LOCK:
        return CacheStats(**_COUNTS)


def reset_cache_stats() -> None:
    """Set every counter of :func:`cache_stats` to zero."""
    with _LOCK:
        for name in _COUNTS:
            _COUNTS[name] = 0


def count(name: str) -> None:
    """Add one to the counter ``name`` of :class:`CacheStats`."""
    with _LOCK:
        _COUNTS[name] += 1


# --------------------------------------------------------------------------- where, what


def cache_dir() -> Path:
    """The disk cache folder: ``$BAYES_IPD_CACHE_DIR``, else the user cache folder's
    ``bayes_ipd/compiled`` (``~/.cache/bayes_ipd/compiled`` on Linux)."""
    given = os.environ.get(ENV_VAR)
    if given:
        return Path(given).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("bayes_ipd", appauthor=False)) / "compiled"


# --------------------------------------------------------------------------- the program


class NativeFunction:
    """A C callback loaded from numba object code (what nutpie needs: ``address``).

    Its numba environments (the constant Python objects the code refers to, such as a
    dtype) are rebuilt and bound as numba's own cache does when it loads a function.
    """

    def __init__(
        self, library: Any, wrapper_name: str, environments: tuple[tuple[str, list], ...]
    ) -> None:
        from numba.core.environment import Environment, lookup_environment

        self._library = library  # keeps the machine code alive
        self._environments = []
        for name, consts in environments:
            env = lookup_environment(name)
            if env is None:
                env = Environment({"__name__": __name__})
                env.consts[:] = consts
                env.env_name = name
                Environment._memo[name] = env
            library.codegen.set_env(name, env)
            self._environments.append(env)
        self.native_name = wrapper_name
        self.address = library.get_pointer_to_function(wrapper_name)


@dataclass(frozen=True)
class CompiledCore:
    """The data-independent part of a nutpie compiled model: machine code and layout.

    Attributes
    ----------
    logp, expand : object
        The log density + gradient and the trace ("expand") C callbacks (``.address``).
    n_dim, n_expanded : int
        Unconstrained parameters; values written to the trace per draw.
    shape_info : tuple
        (names, slices, shapes) of the traced variables, nutpie's layout.
    shared : tuple of (str, int, str)
        Name, rank and dtype of each data container, in the order the code reads them.
    """

    logp: Any
    expand: Any
    n_dim: int
    n_expanded: int
    shape_info: tuple[Any, ...]
    shared: tuple[tuple[str, int, str], ...]


def core_of(compiled: Any) -> CompiledCore:
    """The :class:`CompiledCore` of a ``nutpie.compile_pymc_model`` result."""
    return CompiledCore(
        logp=compiled.compiled_logp_func,
        expand=compiled.compiled_expand_func,
        n_dim=int(compiled.n_dim),
        n_expanded=int(compiled.n_expanded),
        shape_info=tuple(compiled.shape_info),
        shared=tuple((k, int(v.ndim), v.dtype.str) for k, v in compiled.shared_data.items()),
    )


class _Rank:
    def __init__(self, ndim: int) -> None:
        self.ndim = ndim


class _InitialPoints:
    """PyMC's seeded initial-point function of the first model of a structure, run on
    another model's data: under a lock (nutpie calls it from several chains), its data
    containers hold that model's values for the call and their own again afterwards."""

    def __init__(self, function: Any, shared: dict[str, Any]) -> None:
        self._function = function
        self._shared = shared
        self._lock = threading.Lock()

    def bind(self, containers: dict[str, Any]) -> Any | None:
        """The initial-point function of the model with these data containers, or None
        when it lacks one the function reads."""
        if any(name not in containers for name in self._shared):
            return None
        values = {name: np.array(containers[name].get_value()) for name in self._shared}

        def point(seed: Any) -> dict[str, np.ndarray]:
            with self._lock:
                own = {name: var.get_value() for name, var in self._shared.items()}
                try:
                    for name, var in self._shared.items():
                        var.set_value(values[name])
                    return self._function(seed)
                finally:  # the first model keeps its own data
                    for name, var in self._shared.items():
                        var.set_value(own[name])

        return point


_INITIAL: OrderedDict[str, _InitialPoints] = OrderedDict()


def _template(function: Any) -> _InitialPoints | None:
    """``function`` as a reusable template: every shared input it reads is a named data
    container (or a dimension's shared length) or a random generator (reseeded on each
    call); else None."""
    from pytensor.tensor.random.type import RandomType

    inner = getattr(function, "__wrapped__", None)
    if inner is None or not hasattr(inner, "get_shared"):
        return None
    shared = {}
    for var in inner.get_shared():
        if isinstance(var.type, RandomType):
            continue
        if not var.name:
            return None
        shared[var.name] = var
    return _InitialPoints(function, shared)


def initial_point_function(model: Any, key: str | None = None) -> Any:
    """PyMC's seeded initial-point function of ``model`` (support points, jittered), as
    nutpie builds it, compiled for PyTensor's Python linker
    (:func:`~bayes_ipd.one_stage.initial_point.initial_point_fn`). With ``key`` (the
    model's structure key), the function compiled for the first model of that structure in
    this process is reused on ``model``'s data containers (the priors' numbers among them):
    the same graph on the same values, so the same initial points, without compiling a
    PyTensor function per fit."""
    from pytensor.compile.sharedvalue import SharedVariable

    from bayes_ipd.one_stage.initial_point import initial_point_fn

    containers = {v.name: v for v in model.data_vars}
    for name, length in model.dim_lengths.items():  # a dimension's length may be shared too
        if isinstance(length, SharedVariable):
            if name in containers:  # the same name twice: do not guess which is read
                key = None
            containers[name] = length
    if key is not None:
        with _LOCK:
            template = _INITIAL.get(key)
        bound = template.bind(containers) if template is not None else None
        if bound is not None:
            return bound
    function = initial_point_fn(model)
    template = _template(function) if key is not None else None
    if template is not None:
        with _LOCK:
            _INITIAL[key] = template
            while len(_INITIAL) > MEMORY_SIZE:
                _INITIAL.popitem(last=False)
        return template.bind(containers) or function
    return function


def for_model(core: CompiledCore, model: Any, key: str | None = None) -> Any:
    """A nutpie compiled model that runs ``core``'s code on ``model``'s data.

    The data containers' values, the initial-point function (which depends on the priors'
    numbers), the coordinates and dims are all taken from ``model``; only the machine code
    and its layout come from the cache (and, with ``key``, the initial-point function
    compiled for an earlier model of the same structure: :func:`initial_point_function`).
    A fresh compile goes through here too, so a reused program samples exactly as a
    freshly compiled one.
    """
    from nutpie.compile_pymc import (
        CompiledPyMCModel,
        _prepare_dims_and_coords,
        _rv_dict_to_flat_array_wrapper,
        _wrap_with_lock,
        make_user_data,
    )

    containers = {v.name: v for v in model.data_vars}
    missing = [name for name, _, _ in core.shared if name not in containers]
    if missing:
        raise KeyError(f"the model has no data container {missing[0]!r}")
    shared_data = {}
    for name, ndim, dtype in core.shared:
        value = np.array(containers[name].get_value(), dtype=dtype, order="C", copy=True)
        if value.ndim != ndim:
            raise KeyError(f"data container {name!r} has rank {value.ndim}, the code {ndim}")
        value.flags.writeable = False
        shared_data[name] = value
    user_data = make_user_data({n: _Rank(d) for n, d, _ in core.shared}, shared_data)
    point = initial_point_function(model, key)
    names, _, shapes = core.shape_info
    n_free = len(model.free_RVs)
    initial = _rv_dict_to_flat_array_wrapper(
        _wrap_with_lock(point), names=list(names[:n_free]), shapes=list(shapes[:n_free])
    )
    dims, coords = _prepare_dims_and_coords(model, core.shape_info)
    return CompiledPyMCModel(
        _n_dim=core.n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*core.shape_info, strict=True)},
        compiled_logp_func=core.logp,
        compiled_expand_func=core.expand,
        initial_point_func=initial,
        shared_data=shared_data,
        user_data=user_data,
        n_expanded=core.n_expanded,
        shape_info=core.shape_info,
        logp_func=None,
        expand_func=None,
    )


# --------------------------------------------------------------------------- memory


def memory_get(key: str) -> CompiledCore | None:
    """The program of ``key`` held in memory, or None."""
    with _LOCK:
        core = _MEMORY.get(key)
        if core is not None:
            _MEMORY.move_to_end(key)
        return core


def memory_put(key: str, core: CompiledCore) -> None:
    """Hold ``core`` in memory (the least recently used program beyond the size goes)."""
    with _LOCK:
        _MEMORY[key] = core
        _MEMORY.move_to_end(key)
        while len(_MEMORY) > MEMORY_SIZE:
            _MEMORY.popitem(last=False)


def clear_memory() -> None:
    """Forget every program (and initial-point function) held in memory."""
    with _LOCK:
        _MEMORY.clear()
        _INITIAL.clear()


# --------------------------------------------------------------------------- disk


def entry_path(key: str, folder: Path | None = None) -> Path:
    """The file of entry ``key``."""
    return (folder or cache_dir()) / f"{key}{SUFFIX}"


def _environments(library: Any) -> tuple[tuple[str, list], ...]:
    """Name and constants of each numba environment the code refers to, pickled with the
    entry as numba's cache does (an environment numba would not cache is bound empty)."""
    from numba.core.environment import lookup_environment

    found = []
    for var in library._final_module.global_variables:
        if var.name.startswith("_ZN08NumbaEnv"):
            env = lookup_environment(var.name)
            usable = env is not None and env.can_cache()
            found.append((var.name, list(env.consts) if usable else []))
    return tuple(found)


def _serialised(function: Any) -> tuple[Any, str, tuple[tuple[str, list], ...]] | None:
    """numba's relocatable object code of a C callback, or None when it cannot move
    between processes (addresses or objects of this process baked in)."""
    library = getattr(function, "_library", None)
    name = getattr(function, "_wrapper_name", None) or getattr(function, "native_name", None)
    if library is None or name is None or library.has_dynamic_globals:
        return None
    return library.serialize_using_object_code(), name, _environments(library)


def write_entry(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file, then :func:`os.replace`)."""
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    digest = hashlib.sha256(body).hexdigest().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:16]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(MAGIC + digest + b"\n" + body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_entry(path: Path, key: str) -> dict[str, Any] | None:
    """The payload at ``path`` when it is whole and was written for ``key`` by these
    library versions; None when absent. A stale or corrupt entry is deleted (None)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    payload = _checked(raw, key)
    if payload is None:
        count("rejected")
        path.unlink(missing_ok=True)
    return payload


def _checked(raw: bytes, key: str) -> dict[str, Any] | None:
    head = len(MAGIC) + 65
    if not raw.startswith(MAGIC) or len(raw) < head:
        return None
    digest, body = raw[len(MAGIC) : head - 1], raw[head:]
    if hashlib.sha256(body).hexdigest().encode() != digest:
        return None
    try:
        payload = pickle.loads(body)  # the user's own cache folder
    except Exception:  # any failure means: not usable
        return None
    if not isinstance(payload, dict) or payload.get("key") != key:
        return None
    if payload.get("versions") != versions():
        return None
    return payload


def save_core(key: str, core: CompiledCore, folder: Path | None = None) -> bool:
    """Write ``core`` to the disk cache; False when its code cannot move between processes
    or the folder is not writable (the fit goes on; the next process compiles again)."""
    logp, expand = _serialised(core.logp), _serialised(core.expand)
    if logp is None or expand is None:
        return False
    layout = replace(core, logp=None, expand=None)
    payload = {"key": key, "versions": versions(), "logp": logp, "expand": expand, "core": layout}
    try:
        write_entry(entry_path(key, folder), payload)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        return False  # not writable, or a constant that does not pickle
    return True


def load_core(key: str, folder: Path | None = None) -> CompiledCore | None:
    """The program of ``key`` from the disk cache, or None (absent, stale or corrupt)."""
    path = entry_path(key, folder)
    payload = read_entry(path, key)
    if payload is None:
        return None
    try:
        from numba.core.registry import cpu_target

        codegen = cpu_target.target_context.codegen()
        functions = []
        for part in ("logp", "expand"):
            code, name, environments = payload[part]
            library = codegen.unserialize_library(code)
            functions.append(NativeFunction(library, name, environments))
        return replace(payload["core"], logp=functions[0], expand=functions[1])
    except Exception:  # an entry that does not load is not used
        count("rejected")
        path.unlink(missing_ok=True)
        return None


@dataclass(frozen=True)
class DiskInfo:
    """What the disk cache holds: folder, number of entries, their total size in bytes."""

    folder: str
    entries: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"folder": self.folder, "entries": self.entries, "bytes": self.bytes}


_OWN_NAME = re.compile(
    r"[0-9a-f]{64}"
    + re.escape(SUFFIX)  # an entry: its key (sha256) and the suffix
    + r"|\.[0-9a-f]{16}\.[A-Za-z0-9_]+\.tmp"  # an unfinished write_entry temporary file
)
"""The names this package gives its files (:func:`entry_path`, :func:`write_entry`): the
folder may hold other files (it can be any folder named by ``BAYES_IPD_CACHE_DIR``), which
are never counted or deleted."""


def _entries(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _OWN_NAME.fullmatch(p.name) and not p.is_dir())


def disk_info(folder: Path | None = None) -> DiskInfo:
    """Entries and bytes in the disk cache folder."""
    folder = folder or cache_dir()
    files = [p for p in _entries(folder) if p.suffix == SUFFIX]
    return DiskInfo(str(folder), len(files), sum(p.stat().st_size for p in files))


def clear_disk(folder: Path | None = None) -> int:
    """Delete every entry (and leftover temporary file) of the disk cache; how many."""
    removed = 0
    for path in _entries(folder or cache_dir()):
        path.unlink(missing_ok=True)
        removed += 1
    return removed
