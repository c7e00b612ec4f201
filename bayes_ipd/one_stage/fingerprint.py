"""The key of a compiled program: a fingerprint of a model's graphs and of what generates code.

Two models get one key exactly when they compile to the same program: the log density's and
the traced variables' graphs (every operation, every constant's bytes, the type of every data
container but not its values), the sampler backend, and the versions of Python, the code
generators and the CPU (:func:`versions`). Used by :mod:`bayes_ipd.one_stage.cache` (the
stores) and :mod:`bayes_ipd.one_stage.storage` (a saved result's model is checked against it).
"""

from __future__ import annotations

import hashlib
import platform
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from bayes_ipd.conventions import distribution_version

__all__ = [
    "FORMAT",
    "entry_key",
    "graph_fingerprint",
    "model_fingerprint",
    "variable_layout",
    "versions",
]

FORMAT = 1
"""The disk-entry format; part of every key, so a new format never reads an old entry."""
_VERSIONED = ("numpy", "pymc", "pytensor", "nutpie", "numba", "llvmlite", "bayes_ipd")


def versions() -> dict[str, str]:
    """Everything an entry's machine code depends on besides the model: Python, the
    libraries that generate it, the CPU it was optimised for and numba's options."""
    import llvmlite.binding as llvm
    import numba

    out = {"python": sys.version, "machine": platform.machine(), "format": str(FORMAT)}
    out.update({name: distribution_version(name, missing="absent") for name in _VERSIONED})
    out["cpu"] = llvm.get_host_cpu_name()
    out["cpu_features"] = llvm.get_host_cpu_features().flatten()
    out["numba_opt"] = str(numba.config.OPT)
    try:
        import pytensor

        out["fastmath"] = str(pytensor.config.numba__fastmath)
    except AttributeError:  # pragma: no cover - older PyTensor
        out["fastmath"] = "default"
    return out


def _op_signature(op: Any) -> str:
    kind = f"{type(op).__module__}.{type(op).__qualname__}"
    props = getattr(op, "__props__", None)
    if props:
        return f"{kind}{[(p, repr(getattr(op, p))) for p in props]}"
    return f"{kind}:{op}"


def _input_signature(var: Any) -> str:
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant

    if isinstance(var, Constant):
        data = np.asarray(var.data)
        # an object constant (None of a slice, as in x[:, idx]) by its repr: its bytes are
        # a pointer, which differs between processes
        if data.dtype.hasobject:
            raw = repr(var.data).encode()
        else:
            raw = np.ascontiguousarray(data).tobytes()
        digest = hashlib.sha256(raw).hexdigest()
        return f"const {var.type} {data.dtype.str} {data.shape} {digest}"
    if isinstance(var, SharedVariable):
        return f"data {var.name} {var.type}"
    return f"input {var.name} {var.type}"


def graph_fingerprint(outputs: Iterable[Any], names: Iterable[str]) -> str:
    """SHA-256 of a graph's operations, constants and input types, in topological order.

    Data containers enter by name and type only (their values are data); every constant
    enters with its bytes, so a data-dependent number left in the graph changes the key.
    """
    from pytensor.graph.traversal import graph_inputs, io_toposort

    outputs = list(outputs)
    inputs = list(graph_inputs(outputs))
    ids: dict[Any, int] = {}
    h = hashlib.sha256()
    for var in inputs:
        ids[var] = len(ids)
        h.update(_input_signature(var).encode())
    for node in io_toposort(inputs, outputs):
        args = [ids.setdefault(v, len(ids)) for v in node.inputs]
        for out in node.outputs:
            ids[out] = len(ids)
        h.update(f"|{_op_signature(node.op)}{args}{[str(o.type) for o in node.outputs]}".encode())
    h.update(repr([ids.get(v) for v in outputs]).encode())
    h.update(repr(list(names)).encode())
    return h.hexdigest()


def _dim_length(length: Any) -> int | str:
    """A dimension's length as a number (a data container's or a constant's value)."""
    value = getattr(length, "get_value", None)
    if value is not None:
        return int(np.asarray(value()))
    data = getattr(length, "data", None)
    return int(np.asarray(data)) if data is not None else str(length)


def variable_layout(model: Any) -> list[tuple[str, tuple[int | str, ...]]]:
    """Each free and deterministic variable's dimension lengths, in model order.

    A compiled program's layout (the number of parameters, the traced shapes) is fixed when
    it is compiled, while a dimension's length may be a data container that the graph does
    not hold: two models that differ only in, say, the number of baseline intervals must
    not share a program.
    """
    dims = model.named_vars_to_dims
    return [
        (var.name, tuple(_dim_length(model.dim_lengths[d]) for d in dims.get(var.name, ())))
        for var in [*model.free_RVs, *model.deterministics]
    ]


def model_fingerprint(model: Any) -> str:
    """:func:`graph_fingerprint` of the log density and of every traced variable, with the
    variables' dimension lengths (:func:`variable_layout`)."""
    traced = list(model.unobserved_value_vars)
    names = [v.name for v in model.value_vars] + [v.name for v in traced]
    names.append(repr(variable_layout(model)))
    return graph_fingerprint([model.logp(), *traced], names)


def entry_key(model: Any, backend: str) -> str:
    """The key of ``model``'s compiled program under ``backend`` (hex SHA-256)."""
    parts = [backend, model_fingerprint(model), repr(sorted(versions().items()))]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
