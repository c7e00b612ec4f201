"""Fast paths that must give what the slow, obvious computation gives.

* ``unique_cells`` (a stable column sort) against ``np.unique(axis=0)``: the same rows, in
  the same order, with the same inverse — so cell sums are unchanged bit for bit;
* the survival kernel's prefix rows (cumulative baseline hazard) against the sum over every
  (row, interval) cell of the Poisson kernel, computed here in numpy from the design's own
  cells, on designs where prefix rows, general rows and both occur.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayes_ipd.data import IPD
from bayes_ipd.families.cells import unique_cells
from bayes_ipd.families.survival_exposure import interval_widths, prefix_rows
from bayes_ipd.one_stage.builder import build_model
from bayes_ipd.one_stage.design import build_design
from bayes_ipd.simulate import simulate_survival
from bayes_ipd.spec import ModelSpec


@pytest.mark.parametrize("seed", range(40))
def test_unique_cells_is_numpys_unique(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(0, 400)), int(rng.integers(1, 5))
    if seed % 2:
        keys = rng.integers(0, 3, (n, m)).astype(np.float64)
    else:
        keys = rng.normal(size=(n, m)).round(int(rng.integers(0, 3)))
    uniq, inverse = unique_cells(keys)
    expected, expected_inverse = np.unique(keys, axis=0, return_inverse=True)
    np.testing.assert_array_equal(uniq, expected)
    np.testing.assert_array_equal(inverse, expected_inverse.reshape(-1))
    np.testing.assert_array_equal(uniq[inverse], keys)


def test_unique_cells_refuses_a_vector():
    with pytest.raises(ValueError, match="2-D"):
        unique_cells(np.arange(3.0))


def test_prefix_rows_by_hand():
    """Cut points 1 and 3 (widths 1, 2; a third, open interval). Row 0: one participant to
    t = 3.5 (cells 1, 2, 0.5: prefix, c = 1); row 1: two participants to t = 2 (cells 2, 2:
    prefix, c = 2, partial 2); row 2: participants to t = 0.5 and t = 2 (cells 1.5, 1: not
    a multiple of the widths); row 3: one participant to t = 0.4 (prefix with c = 0)."""
    widths = interval_widths([1.0, 3.0])
    np.testing.assert_array_equal(widths, [1.0, 2.0])
    row = np.array([0, 0, 0, 1, 1, 2, 2, 3])
    interval = np.array([0, 1, 2, 0, 1, 0, 1, 0])
    exposure = np.array([1.0, 2.0, 0.5, 2.0, 2.0, 1.5, 1.0, 0.4])
    out = prefix_rows(row, interval, exposure, 4, widths)
    np.testing.assert_array_equal(out["is_prefix"], [True, True, False, True])
    np.testing.assert_array_equal(out["count"][[0, 1, 3]], [1, 2, 0])
    np.testing.assert_array_equal(out["last"], [2, 1, 1, 0])
    np.testing.assert_array_equal(out["partial"][[0, 1, 3]], [0.5, 2.0, 0.4])


def _survival_design(covariates: tuple[str, ...], n: int, seed: int, intervals: int):
    frame, _ = simulate_survival(4, n, seed=seed)
    if "stage" in covariates:
        frame = frame.assign(stage=(frame["age"] > frame["age"].median()).astype(float))
    # ties at a cut point and a participant leaving at time 0+: edge cases of the prefix
    frame.loc[frame.index[:5], "time"] = float(np.round(frame["time"].median(), 1))
    ipd = IPD.from_frame(
        frame,
        study="trial",
        treatment="treat",
        time="time",
        event="event",
        covariates=covariates,
        family="survival",
    )
    spec = ModelSpec("survival", covariates=covariates, intervals=intervals)
    return build_design(ipd, spec), spec


def _cell_kernel_by_numpy(design, coef: np.ndarray, walk: np.ndarray) -> np.ndarray:
    """(K,) sum over every (row, interval) cell of d (eta + w) - E exp(eta + w)."""
    st = design.stats
    study = st["cell_study"]
    eta = np.einsum("cm,cm->c", st["cell_z"], coef[study]) + walk[study, st["cell_interval"]]
    terms = st["cell_events"] * eta - st["cell_n"] * np.exp(eta)
    return np.bincount(study, weights=terms, minlength=design.k)


@pytest.mark.parametrize(
    ("covariates", "intervals", "kinds"),
    [
        (("age",), 5, {"prefix"}),
        (("stage",), 5, {"prefix", "pairs"}),
        ((), 4, {"pairs"}),
        (("stage",), 1, {"prefix"}),
    ],
)
def test_survival_kernel_equals_the_sum_over_cells(covariates, intervals, kinds):
    import pytensor
    import pytensor.tensor as pt

    design, spec = _survival_design(covariates, 80, seed=11, intervals=intervals)
    family = design.plugin
    data = family.data_arrays(design)
    present = {"prefix"} if "prefix_study" in data else set()
    present |= {"pairs"} if "pair_row" in data else set()
    assert present == kinds
    built = build_model(design, spec)
    m = design.stats["cell_z"].shape[1]
    j = design.n_intervals
    rng = np.random.default_rng(3)
    coef_in = pt.dmatrix("coef")
    walk_in = pt.dmatrix("walk")
    eta = (data["row_z"] * coef_in[data["row_study"]]).sum(axis=1)
    from bayes_ipd.families.survival_exposure import weighted_exposure

    exposure = weighted_exposure(pt.exp(walk_in), data, eta.shape[0])
    rows = data["row_events"] * eta - pt.exp(eta) * exposure
    kernel = pt.inc_subtensor(pt.zeros(design.k)[data["row_study"]], rows) + (
        data["interval_events"] * walk_in
    ).sum(axis=1)
    f = pytensor.function([coef_in, walk_in], kernel, mode="FAST_COMPILE")
    for _ in range(3):
        coef = rng.normal(0, 0.4, (design.k, m))
        walk = np.concatenate([np.zeros((design.k, 1)), rng.normal(0, 0.5, (design.k, j - 1))], 1)
        np.testing.assert_allclose(
            f(coef, walk), _cell_kernel_by_numpy(design, coef, walk), rtol=1e-11
        )
    assert built.model.compile_logp()(built.model.initial_point()) < 0


def test_survival_prefix_rows_cover_every_row_with_a_continuous_covariate():
    design, _ = _survival_design(("age",), 60, seed=2, intervals=6)
    data = design.plugin.data_arrays(design)
    assert len(data["prefix_study"]) == len(data["row_study"])
    assert "pair_row" not in data and "prefix_row" not in data
    cells = len(design.stats["cell_n"])
    assert cells > 2 * len(data["row_study"])  # the kernel's terms fall from cells to rows


def _kernel_case(seed: int):
    rng = np.random.default_rng(seed)
    k, m, r = 4, 3, 60
    coef = rng.normal(0, 0.3, (k, m))
    z = np.column_stack([np.ones(r), rng.integers(0, 2, r), rng.normal(0, 1, r)])
    study = np.sort(rng.integers(0, k, r)).astype(np.int64)
    events = rng.integers(0, 3, r).astype(np.float64)
    exposure = rng.uniform(0.1, 2.0, r)
    return coef, z, study, events, exposure


def _plain_kernel(kind: str, c, z, study, events, last, k: int):
    """The PyTensor expression a kernel replaces: gather, product, kernel, scatter."""
    import pytensor.tensor as pt

    eta = (z * c[study]).sum(axis=1)
    term = pt.exp(eta) * last if kind == "exposure" else last * pt.softplus(eta)
    return pt.inc_subtensor(pt.zeros(k)[study], events * eta - term)


@pytest.mark.parametrize("kind", ["exposure", "logistic"])
def test_cell_kernel_equals_the_pytensor_expression(kind):
    """The fused kernel against the gather / product / scatter expression it replaces, in
    value and in gradient (PyTensor's symbolic gradient of that expression), compiled by
    PyTensor's Python and numba backends."""
    import pytensor
    import pytensor.tensor as pt

    from bayes_ipd.families.kernels import CellKernel

    coef, z, study, events, exposure = _kernel_case(1)
    if kind == "logistic":
        exposure = np.rint(exposure * 3) + events  # trials n >= events y
    c, h, g = pt.dmatrix("c"), pt.dvector("h"), pt.dvector("g")
    wrt = [c, h] if kind == "exposure" else [c]
    outputs = []
    for expr in (
        _plain_kernel(kind, c, z, study, events, h, coef.shape[0]),
        CellKernel(kind)(c, z, study, events, h),
    ):
        outputs.append([expr, *pytensor.grad((expr * g).sum(), wrt)])
    weights = np.array([0.5, -1.0, 2.0, 1.5])
    for mode in ("FAST_COMPILE", "NUMBA"):
        f = pytensor.function([c, h, g], outputs[0] + outputs[1], mode=mode)
        values = f(coef, exposure, weights)
        half = len(values) // 2
        for a, b in zip(values[:half], values[half:], strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["exposure", "logistic"])
def test_cell_kernel_gradient_by_finite_differences(kind):
    from pytensor.gradient import verify_grad

    from bayes_ipd.families.kernels import CellKernel

    coef, z, study, events, exposure = _kernel_case(2)
    rng = np.random.default_rng(0)
    if kind == "exposure":
        verify_grad(
            lambda c, h: CellKernel(kind)(c, z, study, events, h),
            [coef, exposure],
            rng=rng,
            mode="FAST_COMPILE",
        )
    else:
        n = np.rint(exposure * 3) + events
        verify_grad(
            lambda c: CellKernel(kind)(c, z, study, events, n), [coef], rng=rng, mode="FAST_COMPILE"
        )


def test_cell_kernel_refuses_an_unknown_kind_and_second_derivatives():
    import pytensor
    import pytensor.tensor as pt

    from bayes_ipd.families.kernels import CellKernel, exposure_kernel

    with pytest.raises(ValueError, match="unknown cell kernel 'probit'"):
        CellKernel("probit")
    _, z, study, events, exposure = _kernel_case(3)
    c = pt.dmatrix("c")
    first = pytensor.grad(exposure_kernel(c, z, study, events, exposure).sum(), c)
    with pytest.raises(NotImplementedError, match="second derivatives"):
        pytensor.grad(first.sum(), c)


@pytest.mark.parametrize(("kind", "outputs"), [("exposure", 2), ("logistic", 1)])
def test_cell_kernel_gradient_has_an_output_per_differentiated_input(kind, outputs):
    """The logistic kernel's trials n are data: its gradient node has no d_n output (no
    array allocated and discarded at every gradient call)."""
    import pytensor.tensor as pt

    from bayes_ipd.families.kernels import CellKernelGrad

    _, z, study, events, last = _kernel_case(4)
    node = CellKernelGrad(kind).make_node(pt.dmatrix("c"), z, study, events, last, pt.dvector())
    assert len(node.outputs) == outputs
