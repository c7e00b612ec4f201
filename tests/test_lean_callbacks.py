"""The lean nutpie callbacks (:mod:`bayes_ipd.one_stage.callbacks`) compute what PyMC
computes: the log density and its gradient at random points equal PyMC's own ``logp`` and
``dlogp`` compiled with PyTensor's Python implementations (an independent code path); a
wrong dimension returns nutpie's error code. One tiny model (a covariate, so data
containers of ranks 1 and 2), compiled once for the module.
"""

from __future__ import annotations

import ctypes
import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.data import IPD
from bayes_ipd.one_stage.builder import build_model
from bayes_ipd.one_stage.callbacks import _extraction_source, lean_compile, lean_supported
from bayes_ipd.one_stage.design import build_design
from bayes_ipd.spec import ModelSpec

pytest.importorskip("nutpie")
pytestmark = pytest.mark.skipif(not lean_supported(), reason="nutpie without the known builders")


@pytest.fixture(scope="module")
def compiled():
    rng = np.random.default_rng(11)
    rows = []
    for k in range(3):
        for t in (0, 1):
            age = rng.normal(50, 10, 40)
            p = 1 / (1 + np.exp(-(-1 + 0.3 * t + 0.02 * (age - 50))))
            rows += [
                {"trial": f"t{k}", "treat": t, "age": a, "y": int(rng.random() < q)}
                for a, q in zip(age, p, strict=True)
            ]
    ipd = IPD.from_frame(
        pd.DataFrame(rows),
        study="trial",
        treatment="treat",
        outcome="y",
        covariates=["age"],
        family="binomial",
    )
    spec = ModelSpec("binomial", covariates=("age",))
    built = build_model(build_design(ipd, spec), spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return built, lean_compile(built.model)


def _call_logp(compiled_model, x: np.ndarray) -> tuple[int, float, np.ndarray]:
    fn = compiled_model.compiled_logp_func
    proto = ctypes.CFUNCTYPE(
        ctypes.c_int64,
        ctypes.c_uint64,
        ctypes.POINTER(ctypes.c_double),
        ctypes.POINTER(ctypes.c_double),
        ctypes.POINTER(ctypes.c_double),
        ctypes.c_void_p,
    )(fn.address)
    grad = np.zeros_like(x)
    logp = np.zeros(1)
    code = proto(
        x.size,
        x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        grad.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        logp.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
        compiled_model.user_data.ctypes.data,
    )
    return int(code), float(logp[0]), grad


def test_log_density_and_gradient_equal_pymc(compiled):
    built, model = compiled
    pm_model = built.model
    # PyTensor's Python implementations (no numba, no C): an independent evaluation
    logp_fn = pm_model.compile_logp(jacobian=True, mode="FAST_COMPILE")
    dlogp_fn = pm_model.compile_dlogp(jacobian=True, mode="FAST_COMPILE")
    names, slices, shapes = model.shape_info
    n_free = len(pm_model.value_vars)
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.normal(0, 0.5, model.n_dim)
        point = {
            name: x[sl].reshape(shape)
            for name, sl, shape in zip(
                names[:n_free], slices[:n_free], shapes[:n_free], strict=True
            )
        }
        code, logp, grad = _call_logp(model, x)
        assert code == 0
        np.testing.assert_allclose(logp, float(logp_fn(point)), rtol=1e-10)
        order = [v.name for v in pm_model.value_vars]
        assert order == list(names[:n_free])
        np.testing.assert_allclose(grad, dlogp_fn(point), rtol=1e-8, atol=1e-10)


def test_wrong_dimension_returns_nutpie_error_code(compiled):
    _, model = compiled
    proto = ctypes.CFUNCTYPE(
        ctypes.c_int64,
        ctypes.c_uint64,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
    )(model.compiled_logp_func.address)
    assert proto(model.n_dim + 1, None, None, None, None) == -1


def test_non_finite_log_density_or_gradient_returns_nutpie_codes(compiled):
    """nutpie's codes: 3 for a non-finite gradient, 4 for a finite gradient but a
    non-finite log density; the values are written either way (the reference is PyMC's
    log density at the same point, -inf or NaN)."""
    built, model = compiled
    logp_fn = built.model.compile_logp(jacobian=True, mode="FAST_COMPILE")
    names, slices, shapes = model.shape_info
    n_free = len(built.model.value_vars)
    x = np.zeros(model.n_dim)
    tau_log = dict(zip(names[:n_free], slices[:n_free], strict=True))["tau_log__"]
    x[tau_log] = 1e4  # tau = exp(1e4) overflows: the density is not finite
    point = {
        name: x[sl].reshape(shape)
        for name, sl, shape in zip(names[:n_free], slices[:n_free], shapes[:n_free], strict=True)
    }
    reference = float(logp_fn(point))
    assert not np.isfinite(reference)
    code, logp, grad = _call_logp(model, x)
    assert code == (3 if not np.all(np.isfinite(grad)) else 4)
    assert not np.isfinite(logp)


def test_extraction_source_reads_every_container_with_its_rank():
    data = {"a": np.zeros(()), "b": np.zeros(3), "c": np.zeros((2, 3))}
    source = _extraction_source(data, ["a", "b", "c"])
    assert "data0 = flat0.reshape(())" in source
    assert "data1 = flat1\n" in source
    assert "data2 = flat2.reshape((int(shape2[0]), int(shape2[1]),))" in source
    assert source.rstrip().endswith("return inner(x, data0, data1, data2)")


def test_sparse_only_rewrites_leave_the_model_graph_unchanged(compiled):
    """The NUMBA mode without :data:`SPARSE_ONLY_REWRITES` rewrites the model's log density
    and gradient to the same nodes (operation, input and output types, with their counts)
    as PyTensor's own NUMBA mode. (Not the same fingerprint: two rewrites of one graph
    in one process may number its nodes in another topological order.)"""
    import pytensor
    from pytensor.compile import mode as modes

    from bayes_ipd.one_stage.callbacks import SPARSE_ONLY_REWRITES

    built, _ = compiled
    model = built.model
    logp = model.logp()
    outputs = [logp, *pytensor.grad(logp, model.value_vars)]
    nodes = [
        _node_signatures(_rewritten(model.value_vars, outputs, mode))
        for mode in (
            modes.predefined_modes["NUMBA"],
            modes.predefined_modes["NUMBA"].excluding(*SPARSE_ONLY_REWRITES),
        )
    ]
    assert nodes[0] == nodes[1]
    unfused = _node_signatures(
        _rewritten(model.value_vars, outputs, modes.predefined_modes["NUMBA"].excluding("fusion"))
    )
    assert unfused != nodes[0]  # the comparison sees a rewrite that does change the graph


def _node_signatures(fgraph) -> Counter:
    """Each node's operation with its input and output types, counted."""
    from bayes_ipd.one_stage.fingerprint import _op_signature

    return Counter(
        (
            _op_signature(node.op),
            tuple(str(v.type) for v in node.inputs),
            tuple(str(v.type) for v in node.outputs),
        )
        for node in fgraph.apply_nodes
    )


def _rewritten(inputs, outputs, mode):
    """The function graph ``mode``'s rewrites make of ``outputs`` (nothing compiled)."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.fg import FunctionGraph
    from pytensor.graph.traversal import graph_inputs

    free = [v for v in graph_inputs(outputs) if not isinstance(v, Constant)]
    fgraph = FunctionGraph([*inputs, *(v for v in free if v not in inputs)], outputs, clone=True)
    mode.optimizer.rewrite(fgraph)
    return fgraph
