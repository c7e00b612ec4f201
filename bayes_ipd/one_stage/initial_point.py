"""PyMC's seeded initial-point function, compiled with PyTensor's Python linker.

``pymc.initial_point.make_initial_point_fn`` compiles the initial-point graph (support
points, a U(-1, 1) jitter on the unconstrained scale) in PyTensor's ``FAST_COMPILE`` mode,
whose C thunks are looked up in (or written to) PyTensor's C cache: about 0.3 s per model
on a 2-core machine, once per fit in a fresh process and up to three times per compile
(nutpie builds one for the model and one for its shapes). The function is called once per
chain, so its speed does not matter; this module builds the same graph, with the same
random generators reseeded the same way, and compiles it for PyTensor's Python
implementations (``Mode(linker="py")``, about 0.08 s). Same seed, same initial point
(``tests/test_initial_point.py`` checks it against PyMC's own function).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["initial_point_fn", "python_mode"]


def python_mode() -> Any:
    """PyTensor's compile mode with the Python linker and the ``fast_compile`` rewrites."""
    from pytensor.compile.mode import Mode

    return Mode(linker="py", optimizer="fast_compile")


def _value_names(model: Any) -> list[str]:
    from pymc.util import get_transformed_name

    names = []
    for var in model.free_RVs:
        transform = model.rvs_to_transforms[var]
        names.append(get_transformed_name(var.name, transform) if transform else var.name)
    return names


def initial_point_fn(model: Any, jitter: bool = True) -> Callable[[Any], dict[str, np.ndarray]]:
    """``seed -> {value variable name: initial value}`` on the unconstrained scale.

    Parameters
    ----------
    model : pymc.Model
    jitter : bool
        Add PyMC's U(-1, 1) jitter to every free variable (nutpie's default); without it,
        the support points themselves.

    Returns
    -------
    callable
        What ``make_initial_point_fn(model=model, default_strategy="support_point",
        jitter_rvs=set(model.free_RVs) if jitter else None, return_transformed=True)``
        returns, with its PyTensor function as ``__wrapped__``.
    """
    from pymc.initial_point import make_initial_point_expression
    from pymc.pytensorf import compile as compile_pymc
    from pymc.pytensorf import find_rng_nodes, replace_rng_nodes, reseed_rngs

    expressions = make_initial_point_expression(
        free_rvs=model.free_RVs,
        rvs_to_transforms=model.rvs_to_transforms,
        initval_strategies=dict(model.rvs_to_initial_values),
        jitter_rvs=set(model.free_RVs) if jitter else None,
        default_strategy="support_point",
        return_transformed=True,
    )
    function = compile_pymc(inputs=[], outputs=replace_rng_nodes(expressions), mode=python_mode())
    names = _value_names(model)
    rngs = find_rng_nodes(function.maker.fgraph.outputs)

    @functools.wraps(function)
    def point(seed: Any, *args: Any, **kwargs: Any) -> dict[str, np.ndarray]:
        reseed_rngs(rngs, seed)
        return dict(zip(names, function(*args, **kwargs), strict=True))

    return point
