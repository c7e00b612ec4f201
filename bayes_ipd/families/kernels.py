"""Fused log-likelihood kernels with their gradients, compiled once per installation.

A cell family's log-likelihood is a sum over cells (or design rows) ``r`` of trial ``k(r)``
of a kernel of the linear predictor ``eta_r = z_r' b_{k(r)}``: for the survival fast path
``D_r eta_r - exp(eta_r) H_r``, for the binomial ``y_r eta_r - n_r log(1 + exp(eta_r))``.
Written as PyTensor operations it is a gather of each row's coefficients, products, a sum
over columns, the kernel and a scatter into trials, each with its own temporary array, and
as many again in the gradient. Here it is one loop over the rows (:class:`CellKernel`) and
one for its gradient (:class:`CellKernelGrad`), numba-compiled with ``cache=True``: the
machine code is written to numba's cache the first time and loaded afterwards, the model's
graph is smaller (less to compile for a new structure), and a gradient reads each row once.

The numbers are the same sums as the PyTensor expression (the order of additions within a
trial is the rows' order, as in a scatter-add), checked in ``tests/test_fast_paths.py``
against that expression and against finite differences.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from pytensor.gradient import disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key
from pytensor.tensor import TensorType, as_tensor_variable

__all__ = [
    "DIFFERENTIABLE_LAST",
    "KINDS",
    "CellKernel",
    "CellKernelGrad",
    "exposure_kernel",
    "logistic_kernel",
]


@numba.njit(cache=True, inline="always")
def _eta(coef, z, k, r):  # pragma: no cover - numba compiles it
    eta = 0.0
    for j in range(z.shape[1]):
        eta += z[r, j] * coef[k, j]
    return eta


@numba.njit(cache=True, inline="always")
def _softplus(x):  # pragma: no cover - numba
    return np.log1p(np.exp(-abs(x))) + max(x, 0.0)


@numba.njit(cache=True, inline="always")
def _expit(x):  # pragma: no cover - numba
    if x >= 0.0:
        return 1.0 / (1.0 + np.exp(-x))
    e = np.exp(x)
    return e / (1.0 + e)


@numba.njit(cache=True)
def _exposure_kernel(coef, z, study, events, exposure):  # pragma: no cover - numba
    out = np.zeros(coef.shape[0])
    for r in range(z.shape[0]):
        k = study[r]
        eta = _eta(coef, z, k, r)
        out[k] += events[r] * eta - np.exp(eta) * exposure[r]
    return out


@numba.njit(cache=True)
def _exposure_grad(coef, z, study, events, exposure, g):  # pragma: no cover - numba
    d_coef = np.zeros(coef.shape)
    d_exposure = np.empty(z.shape[0])
    for r in range(z.shape[0]):
        k = study[r]
        rate = np.exp(_eta(coef, z, k, r))
        d_eta = g[k] * (events[r] - rate * exposure[r])
        for j in range(z.shape[1]):
            d_coef[k, j] += d_eta * z[r, j]
        d_exposure[r] = -g[k] * rate
    return d_coef, d_exposure


@numba.njit(cache=True)
def _logistic_kernel(coef, z, study, events, n):  # pragma: no cover - numba
    out = np.zeros(coef.shape[0])
    for r in range(z.shape[0]):
        k = study[r]
        eta = _eta(coef, z, k, r)
        out[k] += events[r] * eta - n[r] * _softplus(eta)
    return out


@numba.njit(cache=True)
def _logistic_grad(coef, z, study, events, n, g):  # pragma: no cover - numba
    d_coef = np.zeros(coef.shape)  # the only output: n is data, never differentiated
    for r in range(z.shape[0]):
        k = study[r]
        d_eta = g[k] * (events[r] - n[r] * _expit(_eta(coef, z, k, r)))
        for j in range(z.shape[1]):
            d_coef[k, j] += d_eta * z[r, j]
    return d_coef


KINDS = {
    "exposure": (_exposure_kernel, _exposure_grad),
    "logistic": (_logistic_kernel, _logistic_grad),
}
"""The kernels by kind: ``exposure`` ``D eta - exp(eta) H`` (differentiable in ``H``; its
gradient returns ``(d_coef, d_H)``) and ``logistic`` ``y eta - n log(1 + exp(eta))`` (``n``
is data; its gradient returns ``d_coef`` alone)."""

DIFFERENTIABLE_LAST = {"exposure": True, "logistic": False}
"""Whether a kind's last input is differentiated (one gradient output more)."""


def _inputs(coef: Any, z: Any, study: Any, events: Any, exposure: Any) -> list[Any]:
    return [
        as_tensor_variable(coef).astype("float64"),
        as_tensor_variable(z).astype("float64"),
        as_tensor_variable(study).astype("int64"),
        as_tensor_variable(events).astype("float64"),
        as_tensor_variable(exposure).astype("float64"),
    ]


class CellKernelGrad(Op):
    """Gradient of :class:`CellKernel` with respect to ``coef`` (and its last input when
    :data:`DIFFERENTIABLE_LAST`), given the gradient ``g`` (K,) of its output: outputs
    ``d_coef`` (and ``d_last``). Its own gradient is not defined (NUTS needs the first
    derivative only)."""

    __props__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def make_node(self, coef: Any, z: Any, study: Any, events: Any, last: Any, g: Any):
        inputs = [*_inputs(coef, z, study, events, last), as_tensor_variable(g)]
        types = [inputs[0].type()]
        if DIFFERENTIABLE_LAST[self.kind]:
            types.append(inputs[4].type())
        return Apply(self, inputs, types)

    def perform(self, node: Apply, inputs: list[np.ndarray], outputs: list[list]) -> None:
        result = KINDS[self.kind][1](*inputs)
        for out, value in zip(outputs, result if len(outputs) > 1 else (result,), strict=True):
            out[0] = value

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        raise NotImplementedError("second derivatives of the cell kernels are not defined")


class CellKernel(Op):
    """(K,) per-trial sums of a cell log-likelihood kernel, ``eta_r = z_r' coef_{k(r)}``.

    ``kind="exposure"``: ``sum_{r in k} D_r eta_r - exp(eta_r) H_r``; ``kind="logistic"``:
    ``sum_{r in k} y_r eta_r - n_r log(1 + exp(eta_r))``. Inputs: ``coef`` (K, m), ``z``
    (R, m), ``study`` (R,) int, ``events`` (R,) and the last (R,) (``H`` or ``n``).
    Differentiable in ``coef``, and for ``exposure`` in ``H``; the others are data.
    """

    __props__ = ("kind",)

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown cell kernel {kind!r}; known: {sorted(KINDS)}")
        self.kind = kind

    def make_node(self, coef: Any, z: Any, study: Any, events: Any, last: Any) -> Apply:
        inputs = _inputs(coef, z, study, events, last)
        return Apply(self, inputs, [TensorType("float64", shape=(None,))()])

    def perform(self, node: Apply, inputs: list[np.ndarray], outputs: list[list]) -> None:
        outputs[0][0] = KINDS[self.kind][0](*inputs)

    def infer_shape(self, fgraph: Any, node: Apply, shapes: list) -> list:
        return [(shapes[0][0],)]

    def L_op(self, inputs: list, outputs: list, output_grads: list) -> list:
        grads = CellKernelGrad(self.kind)(*inputs, output_grads[0], return_list=True)
        d_last = grads[1] if DIFFERENTIABLE_LAST[self.kind] else disconnected_type()
        return [grads[0], *(disconnected_type() for _ in range(3)), d_last]

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        return [[True], [False], [False], [False], [DIFFERENTIABLE_LAST[self.kind]]]


def exposure_kernel(coef: Any, z: Any, study: Any, events: Any, exposure: Any) -> Any:
    """(K,) ``sum_{r in k} D_r eta_r - exp(eta_r) H_r`` (:class:`CellKernel`)."""
    return CellKernel("exposure")(coef, z, study, events, exposure)


def logistic_kernel(coef: Any, z: Any, study: Any, events: Any, n: Any) -> Any:
    """(K,) ``sum_{r in k} y_r eta_r - n_r log(1 + exp(eta_r))`` (:class:`CellKernel`)."""
    return CellKernel("logistic")(coef, z, study, events, n)


@register_funcify_default_op_cache_key(CellKernel)
def _funcify_kernel(op: CellKernel, node: Any = None, **kwargs: Any) -> Any:
    return KINDS[op.kind][0]


@register_funcify_default_op_cache_key(CellKernelGrad)
def _funcify_kernel_grad(op: CellKernelGrad, node: Any = None, **kwargs: Any) -> Any:
    return KINDS[op.kind][1]
