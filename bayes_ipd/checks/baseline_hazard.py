"""The piecewise-constant baseline hazard of a survival fit: its intervals, their labels,
the cumulative hazard, and the check that a fit or design has one.

In trial ``k`` and interval ``j`` the hazard of a participant with design row ``z`` is
``h_kj exp(z'b_k)`` (:mod:`bayes_ipd.families.survival`); the intervals are cut at the
design's interior cut points.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from bayes_ipd.families import REGISTRY
from bayes_ipd.families.survival import EXP_MAX

__all__ = [
    "cumulative_baseline_hazard",
    "has_baseline_hazard",
    "interval_edges",
    "interval_labels",
    "require_survival",
]


def has_baseline_hazard(family: Any) -> bool:
    """Whether ``family`` names a registered family with a piecewise baseline hazard."""
    plugin = REGISTRY.get(family) if isinstance(family, str) else None
    return plugin is not None and plugin.has_baseline_hazard


def require_survival(family: str, what: str, kind: str = "fit") -> None:
    """Refuse a fit (or design, ``kind``) of a family without a baseline hazard.

    Raises
    ------
    ValueError
        ``"<what> needs a survival <kind>; this one is <family>"``.
    """
    if not has_baseline_hazard(family):
        raise ValueError(f"{what} needs a survival {kind}; this one is {family}")


def interval_edges(cutpoints: Sequence[float]) -> np.ndarray:
    """``[0, c_1, ..., c_{J-1}, inf]``: the edges of the J baseline-hazard intervals."""
    return np.concatenate([[0.0], np.asarray(cutpoints, dtype=np.float64), [np.inf]])


def interval_labels(cutpoints: Sequence[float], digits: int = 3) -> tuple[str, ...]:
    """``"[a, b)"`` for every interval, with ``b = inf`` for the last one.

    Examples
    --------
    >>> interval_labels([1.0, 2.5])
    ('[0, 1)', '[1, 2.5)', '[2.5, inf)')
    """
    edges = interval_edges(cutpoints)
    return tuple(
        f"[{lo:.{digits}g}, {'inf' if math.isinf(hi) else f'{hi:.{digits}g}'})"
        for lo, hi in itertools.pairwise(edges)
    )


def cumulative_baseline_hazard(
    log_hazard: np.ndarray, cutpoints: Sequence[float], times: np.ndarray
) -> np.ndarray:
    """Cumulative piecewise-constant hazard ``H(t) = sum_j h_j |[0, t] ∩ interval j|``.

    Parameters
    ----------
    log_hazard : numpy.ndarray
        (..., J) log hazard of each interval.
    cutpoints : sequence of float
        The J - 1 interior cut points.
    times : numpy.ndarray
        (T,) times >= 0.

    Returns
    -------
    numpy.ndarray
        (..., T).
    """
    edges = interval_edges(cutpoints)
    t = np.asarray(times, dtype=np.float64)[:, None]
    overlap = np.clip(np.minimum(t, edges[None, 1:]) - edges[None, :-1], 0.0, None)  # (T, J)
    return np.exp(np.minimum(log_hazard, EXP_MAX)) @ overlap.T
