"""Lean C callbacks for nutpie: the same log density and trace, a third of numba's work.

nutpie compiles a PyMC model into two numba ``cfunc`` C callbacks (log density + gradient,
and the trace "expand" function) around the model's PyTensor graph function. Profiling the
BCG model (``docs/performance.md``) showed most of their numba compile time is spent not on
the model but on nutpie's generic glue, compiled again in every process:

* reading each data container from nutpie's user-data record goes through an ``@overload``
  unrolled with ``literal_unroll`` — one overload implementation typed and lowered per
  container;
* ``out[...] = grad`` lowers numba's fancy slice assignment, whose shape-mismatch error
  path formats its message with ``str`` of integers (numba's unicode machinery);
* ``logp[()] = value`` goes through a 0-d array cast.

The callbacks here do the same things in straight-line code generated per model: one
``carray`` per container (its size and shape read from the same user-data record, so a
program runs on any data of the same types), element-wise copies into the output buffers,
the log density written through a length-1 view. Their signatures, return codes and the
user-data layout are nutpie's, and the graph function they call is nutpie's own: the values
computed, and therefore the draws, are the same (``tests/test_lean_callbacks.py``).

:func:`lean_compile` runs the numba route of ``nutpie.compile_pymc_model`` with these two
callback builders in place of nutpie's (under a lock, restored afterwards), and with the
initial points and trace shapes evaluated by PyTensor's Python linker
(:mod:`bayes_ipd.one_stage.initial_point`) instead of functions compiled with C thunks that
the program does not keep. When nutpie's builders do not have the
signatures this module was written against (another nutpie), it falls back to nutpie's
own callbacks, so a fit never depends on the patch.
"""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["CALLBACKS", "lean_compile", "lean_supported"]

_PATCH_LOCK = threading.Lock()
_EXPECTED = {
    "_compile_pymc_model_numba": ["model", "pymc_initial_point_fn", "var_names", "kwargs"],
    "_compute_shapes": ["model"],
    "_make_c_logp_func": ["n_dim", "logp_fn", "user_data", "shared_logp", "shared_data"],
    "_make_c_expand_func": [
        "n_dim",
        "n_expanded",
        "expand_fn",
        "user_data",
        "shared_vars",
        "shared_data",
    ],
}


def _callbacks_name() -> str:
    return "nutpie+lean-callbacks-2" if lean_supported() else "nutpie"


def lean_supported() -> bool:
    """Whether the installed nutpie has the builders (names and parameters) replaced here."""
    try:
        import nutpie.compile_pymc as ncp
    except ImportError:
        return False
    for name, params in _EXPECTED.items():
        function = getattr(ncp, name, None)
        if function is None or list(inspect.signature(function).parameters) != params:
            return False
    return hasattr(ncp, "address_as_void_pointer") and hasattr(ncp, "_wrap_with_lock")


def _extraction_source(shared_data: dict[str, np.ndarray], names: Sequence[str]) -> str:
    """Python source of ``extract_shared(x, user_data_)``: one view per data container,
    then the graph function called on them."""
    lines = [
        "def extract_shared(x, user_data_):",
        "    shared = numba.carray(user_data_, (), record_dtype)['shared']",
    ]
    args = []
    for i, name in enumerate(names):
        key = repr(name)
        ndim = np.asarray(shared_data[name]).ndim
        lines.append(
            f"    flat{i} = numba.carray(as_pointer(shared['data'][{key}][()]), "
            f"int(shared['size'][{key}][()]), dtype{i})"
        )
        if ndim == 0:
            lines.append(f"    data{i} = flat{i}.reshape(())")
        elif ndim == 1:
            lines.append(f"    data{i} = flat{i}")
        else:
            lines.append(f"    shape{i} = shared['shape'][{key}]")
            dims = ", ".join(f"int(shape{i}[{j}])" for j in range(ndim))
            lines.append(f"    data{i} = flat{i}.reshape(({dims},))")
        args.append(f"data{i}")
    lines.append(f"    return inner(x{''.join(', ' + a for a in args)})")
    return "\n".join(lines) + "\n"


def lean_extraction(
    inner: Any, shared_data: dict[str, np.ndarray], shared_vars: Sequence[str], record_dtype: Any
) -> Any:
    """A numba function ``(x, user_data_) -> inner(x, *containers)`` (nutpie's
    ``make_extraction_fn``, written out per container)."""
    import numba
    from nutpie.compile_pymc import address_as_void_pointer

    names = list(shared_vars)
    scope: dict[str, Any] = {
        "numba": numba,
        "inner": inner,
        "record_dtype": record_dtype,
        "as_pointer": address_as_void_pointer,
    }
    for i, name in enumerate(names):
        scope[f"dtype{i}"] = np.dtype(np.asarray(shared_data[name]).dtype)
    code = compile(_extraction_source(shared_data, names), "<bayes_ipd extract_shared>", "exec")
    exec(code, scope)  # generated above from container names (repr) and ranks only
    return numba.njit(inline="always")(scope["extract_shared"])


def lean_logp_callback(
    n_dim: int, logp_fn: Any, user_data: Any, shared_logp: Sequence[str], shared_data: dict
) -> tuple[Callable[..., int], Any]:
    """nutpie's log density + gradient callback (same signature and return codes)."""
    import numba

    extract = lean_extraction(logp_fn, shared_data, shared_logp, user_data.dtype)
    c_sig = numba.types.int64(
        numba.types.uint64,
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.voidptr,
    )

    def logp_numba(dim, x_, out_, logp_, user_data_):  # pragma: no cover - numba compiles it
        if dim != n_dim:
            return -1
        x = numba.carray(x_, (n_dim,))
        out = numba.carray(out_, (n_dim,))
        logp = numba.carray(logp_, (1,))
        try:  # only the model can raise; a narrow try compiles in half the time
            logp_val, grad = extract(x, user_data_)
        except Exception:  # nutpie's contract: an error code
            return 1
        value = logp_val[()]
        logp[0] = value
        finite = True
        for i in range(n_dim):
            out[i] = grad[i]
            if not math.isfinite(grad[i]):
                finite = False
        if not finite:
            return 3
        if not math.isfinite(value):
            return 4
        return 0

    return logp_numba, c_sig


def lean_expand_callback(
    n_dim: int,
    n_expanded: int,
    expand_fn: Any,
    user_data: Any,
    shared_vars: Sequence[str],
    shared_data: dict,
) -> tuple[Callable[..., int], Any]:
    """nutpie's trace ("expand") callback (same signature and return codes)."""
    import numba

    extract = lean_extraction(expand_fn, shared_data, shared_vars, user_data.dtype)
    c_sig = numba.types.int64(
        numba.types.uint64,
        numba.types.uint64,
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.voidptr,
    )

    def expand_numba(dim, expanded, x_, out_, user_data_):  # pragma: no cover - numba
        if dim != n_dim:
            return -1
        if expanded != n_expanded:
            return -1
        x = numba.carray(x_, (n_dim,))
        out = numba.carray(out_, (n_expanded,))
        try:
            (values,) = extract(x, user_data_)
        except Exception:  # nutpie's contract: an error code
            return -2
        for i in range(n_expanded):
            out[i] = values[i]
        return 0

    return expand_numba, c_sig


def lean_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    """nutpie's ``_compute_shapes``: the shape of every traced variable at the model's
    support point, evaluated with PyTensor's Python linker (no C thunks to look up)."""
    import pytensor
    from pytensor.tensor import as_tensor

    from bayes_ipd.one_stage.initial_point import initial_point_fn, python_mode

    point = initial_point_fn(model, jitter=False)(0)
    hidden = model.observed_RVs + model.potentials
    trace_vars = {
        var.name: var
        for var in model.value_vars + model.free_RVs + model.deterministics
        if var not in hidden
    }
    givens = [(obs, model.rvs_to_values[obs]) for obs in model.observed_RVs]
    givens += [(trace_vars[name], point[name]) for name in trace_vars if name in point]
    shape_func = pytensor.function(
        inputs=[],
        outputs=[as_tensor(var.shape) for var in trace_vars.values()],
        givens=givens,
        mode=python_mode(),
        on_unused_input="ignore",
    )
    return dict(zip(trace_vars, shape_func(), strict=True))


SPARSE_ONLY_REWRITES = ("local_usmm",)
"""PyTensor rewrites left out of the ``NUMBA`` mode while a model compiles here. They
apply to sparse matrix products only, which no model of this package has, so the program
is the same; ``local_usmm``'s pattern constraint reads ``config.blas__ldflags``, whose
first evaluation in a process probes the C compiler and the BLAS libraries (about 0.5 s)."""


@contextmanager
def _numba_mode_without_sparse_rewrites() -> Iterator[None]:
    from pytensor.compile import mode as modes

    saved = modes.predefined_modes["NUMBA"]
    modes.predefined_modes["NUMBA"] = saved.excluding(*SPARSE_ONLY_REWRITES)
    try:
        yield
    finally:
        modes.predefined_modes["NUMBA"] = saved


@contextmanager
def _lean_builders() -> Iterator[None]:
    import nutpie.compile_pymc as ncp

    replacements = {
        "_compute_shapes": lean_shapes,
        "_make_c_logp_func": lean_logp_callback,
        "_make_c_expand_func": lean_expand_callback,
    }
    with _PATCH_LOCK, _numba_mode_without_sparse_rewrites():
        saved = {name: getattr(ncp, name) for name in replacements}
        for name, function in replacements.items():
            setattr(ncp, name, function)
        try:
            yield
        finally:
            for name, function in saved.items():
                setattr(ncp, name, function)


def lean_compile(model: Any, **kwargs: Any) -> Any:
    """``nutpie.compile_pymc_model(model, **kwargs)`` with the lean callbacks (nutpie's own
    when :func:`lean_supported` is False).

    Without ``kwargs``, the numba route of ``compile_pymc_model`` is entered directly,
    with the initial-point function of :mod:`bayes_ipd.one_stage.initial_point` (PyMC's
    graph, the Python linker) in place of the one ``compile_pymc_model`` would compile:
    the compiled program keeps only the machine code and layout
    (:func:`~bayes_ipd.one_stage.cache.core_of`), and every fit makes its own
    initial-point function (:func:`~bayes_ipd.one_stage.cache.initial_point_function`).
    """
    import nutpie

    if not lean_supported():
        return nutpie.compile_pymc_model(model, **kwargs)
    import nutpie.compile_pymc as ncp

    from bayes_ipd.one_stage.initial_point import initial_point_fn

    with _lean_builders():
        if kwargs:  # nutpie's own handling of its options (backend, var_names, ...)
            return nutpie.compile_pymc_model(model, **kwargs)
        return ncp._compile_pymc_model_numba(
            model=model,
            pymc_initial_point_fn=ncp._wrap_with_lock(initial_point_fn(model)),
            var_names=None,
        )


CALLBACKS = _callbacks_name()
"""Which callbacks :func:`lean_compile` builds: part of a compiled program's cache key
(``"nutpie+lean-callbacks-2"``, or ``"nutpie"`` for nutpie's own), so that programs
compiled with other callbacks are never loaded."""
