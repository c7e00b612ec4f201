"""Damped Newton search for the mode of a concave-ish objective, vectorised over a batch.

Shared by the families that integrate a trial's nuisance parameters out by the Laplace
approximation (Tierney & Kadane 1986) inside the quadrature over ``(alpha_k, theta_k)``:
:mod:`bayes_ipd.families.survival_marginal` (baseline-hazard walk steps) and
:mod:`bayes_ipd.families.ordinal_marginal` (cut-point gaps).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["newton_mode"]

_NEWTON_STEPS = 60
_HALVINGS = 40
_TOLERANCE = 1e-11

Objective = Callable[[np.ndarray], np.ndarray]
"""(..., P) points -> (...) objective."""
Derivatives = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""(..., P) points -> gradient (..., P) and positive-definite ``-Hessian`` (..., P, P)."""


def newton_mode(
    objective: Objective, derivatives: Derivatives, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mode (..., P) of ``objective`` and the objective there (...).

    Newton steps ``x + C^-1 g`` (``C`` the curvature returned by ``derivatives``), each
    halved up to 40 times while it lowers the objective; stops when every step is below
    1e-11 or after 60 steps.
    """
    x = np.array(start, dtype=np.float64, copy=True)
    value = objective(x)
    for _ in range(_NEWTON_STEPS):
        grad, curv = derivatives(x)
        move = np.linalg.solve(curv, grad[..., None])[..., 0]
        size = np.ones(x.shape[:-1])
        for _ in range(_HALVINGS):
            trial = x + size[..., None] * move
            new = objective(trial)
            worse = ~(new >= value - 1e-12 * np.abs(value))
            if not worse.any():
                break
            size = np.where(worse, size / 2, size)
        x = np.where(worse[..., None], x, trial)
        value = np.where(worse, value, new)
        if np.all(np.abs(size[..., None] * move) < _TOLERANCE):
            break
    return x, value
