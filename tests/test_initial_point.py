"""The initial points and trace shapes evaluated with PyTensor's Python linker
(:mod:`bayes_ipd.one_stage.initial_point`, :func:`~bayes_ipd.one_stage.callbacks.lean_shapes`)
equal PyMC's ``make_initial_point_fn`` and nutpie's ``_compute_shapes`` (the reference: the
functions nutpie itself would use) on models with transforms, deterministics and data
containers of several ranks. No model is compiled for sampling.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.data import IPD
from bayes_ipd.one_stage.builder import build_model
from bayes_ipd.one_stage.design import build_design
from bayes_ipd.one_stage.initial_point import initial_point_fn
from bayes_ipd.simulate import simulate_survival
from bayes_ipd.spec import ModelSpec


def _binary(seed: int) -> IPD:
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(3):
        for t in (0, 1):
            age = rng.normal(50, 10, 30)
            rows += [
                {"trial": f"t{k}", "treat": t, "age": a, "y": int(rng.random() < 0.3)} for a in age
            ]
    return IPD.from_frame(
        pd.DataFrame(rows),
        study="trial",
        treatment="treat",
        outcome="y",
        covariates=["age"],
        family="binomial",
    )


def _models():
    binary = _binary(3)
    yield build_model(
        build_design(binary, ModelSpec("binomial")),
        ModelSpec("binomial", priors={"tau": "half_cauchy(0.5)"}, parameterisation="centred"),
    )
    spec = ModelSpec(
        "binomial",
        covariates=("age",),
        interactions=("age",),
        random_interactions=True,
        priors={"tau": "log_normal(-2.56, 1.74)"},
        parameterisation="noncentred",
    )
    yield build_model(build_design(binary, spec), spec)
    frame, _ = simulate_survival(n_studies=3, n_per_study=40, seed=8)
    survival = IPD.from_frame(
        frame,
        study="trial",
        treatment="treat",
        time="time",
        event="event",
        covariates=("age",),
        family="survival",
    )
    spec = ModelSpec("survival", covariates=("age",), intervals=3, intercepts="random")
    yield build_model(build_design(survival, spec), spec)


@pytest.fixture(scope="module")
def models():
    return list(_models())


@pytest.fixture(params=[0, 1, 2], ids=["centred", "noncentred-ri", "survival"])
def built(request, models):
    return models[request.param]


@pytest.mark.parametrize("jitter", [True, False])
def test_initial_points_equal_pymc_make_initial_point_fn(built, jitter):
    from pymc.initial_point import make_initial_point_fn

    model = built.model
    reference = make_initial_point_fn(
        model=model,
        default_strategy="support_point",
        jitter_rvs=set(model.free_RVs) if jitter else None,
        return_transformed=True,
    )
    ours = initial_point_fn(model, jitter=jitter)
    for seed in (0, 1, 20240601):
        got, want = ours(seed), reference(seed)
        assert list(got) == list(want)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
    points = [ours(seed) for seed in (1, 2)]
    differ = any(not np.array_equal(points[0][n], points[1][n]) for n in points[0])
    assert differ == jitter  # the jitter depends on the seed, the support point does not


def test_trace_shapes_equal_nutpie_compute_shapes(built):
    pytest.importorskip("nutpie")
    from nutpie.compile_pymc import _compute_shapes

    from bayes_ipd.one_stage.callbacks import lean_shapes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = _compute_shapes(built.model)
    got = lean_shapes(built.model)
    assert list(got) == list(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
