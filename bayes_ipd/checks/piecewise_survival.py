"""Survival functions of a piecewise-constant hazard, as arrays of draws: the curve, the
restricted mean survival time (closed form) and the median.

Everything here is a function of a log hazard per interval, ``(..., J)`` arrays whose
leading axes are anything (draws, trials, arms), and the J - 1 interior cut points, so the
same code serves the proportional-hazards model (the treated arm's log hazard is the
baseline's plus one log hazard ratio) and models whose log hazard ratio changes from one
interval to the next (the treated arm's log hazard is then the baseline's plus the log
hazard ratio of each interval). The last interval extends to infinity: beyond the last cut
point, and beyond a trial's follow-up, the hazard is the last interval's constant hazard.

Closed forms (interval ``j`` = ``[a_j, b_j)``, hazard ``l_j``, ``H(a_j)`` the cumulative
hazard at its start):

* ``S(t) = exp(-H(t))`` with ``H(t) = sum_j l_j |[0, t] ∩ [a_j, b_j)|``;
* ``RMST(h) = int_0^h S(t) dt = sum_j exp(-H(a_j)) (1 - exp(-l_j w_j)) / l_j`` with
  ``w_j = |[0, h] ∩ [a_j, b_j)|`` (``w_j`` itself when ``l_j w_j`` is 0);
* the median: the ``t`` where ``H(t) = log 2``, ``a_j + (log 2 - H(a_j)) / l_j`` in the
  interval where ``H`` crosses ``log 2``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from bayes_ipd.checks.baseline_hazard import cumulative_baseline_hazard, interval_edges
from bayes_ipd.families.survival import EXP_MAX

__all__ = ["median_time", "restricted_mean", "survival_function"]

_SMALL = 1e-10  # below this l_j w_j, (1 - exp(-x)) / x is 1 - x / 2 to double precision


def survival_function(
    log_hazard: np.ndarray, cutpoints: Sequence[float], times: np.ndarray
) -> np.ndarray:
    """``S(t) = exp(-H(t))`` of a piecewise-constant hazard.

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

    Examples
    --------
    >>> round(float(survival_function(np.log([0.1]), [], np.array([10.0]))[0]), 10)  # exp(-1)
    0.3678794412
    """
    return np.exp(-cumulative_baseline_hazard(log_hazard, cutpoints, times))


def _widths_and_starts(
    log_hazard: np.ndarray, cutpoints: Sequence[float], horizon: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hazards ``l_j``, widths ``w_j`` within ``[0, horizon]`` and ``H(a_j)``."""
    edges = interval_edges(cutpoints)
    width = np.clip(np.minimum(edges[1:], horizon) - edges[:-1], 0.0, None)  # (J,)
    rate = np.exp(np.minimum(np.asarray(log_hazard, dtype=np.float64), EXP_MAX))
    used = rate * width
    start = np.cumsum(used, axis=-1) - used  # H at the start of each interval
    return rate, width, start


def restricted_mean(
    log_hazard: np.ndarray, cutpoints: Sequence[float], horizon: float
) -> np.ndarray:
    """Restricted mean survival time ``int_0^h S(t) dt`` of a piecewise-constant hazard.

    Exact (the integral of each exponential piece in closed form; see the module notes).

    Parameters
    ----------
    log_hazard : numpy.ndarray
        (..., J) log hazard of each interval.
    cutpoints : sequence of float
        The J - 1 interior cut points; the last interval's hazard holds beyond the last.
    horizon : float
        ``h > 0``.

    Returns
    -------
    numpy.ndarray
        (...,).

    Raises
    ------
    ValueError
        ``horizon`` is not a finite number > 0.

    Examples
    --------
    Exponential with rate 0.1: ``(1 - exp(-0.1 h)) / 0.1``.

    >>> round(float(restricted_mean(np.log([0.1]), [], 10.0)), 10)
    6.3212055883
    """
    real = isinstance(horizon, numbers.Real) and not isinstance(horizon, bool)
    if not (real and math.isfinite(horizon) and horizon > 0):
        raise ValueError(f"horizon must be a finite time > 0, got {horizon!r}")
    rate, width, start = _widths_and_starts(log_hazard, cutpoints, float(horizon))
    x = rate * width
    safe = np.where(x > _SMALL, x, 1.0)
    fraction = np.where(x > _SMALL, -np.expm1(-safe) / safe, 1.0 - x / 2.0)  # (1 - e^-x) / x
    return np.sum(np.exp(-start) * width * fraction, axis=-1)


def median_time(
    log_hazard: np.ndarray, cutpoints: Sequence[float], until: float = math.inf
) -> np.ndarray:
    """The time where ``S(t) = 1/2`` (``inf`` where it is not reached by ``until``).

    Parameters
    ----------
    log_hazard : numpy.ndarray
        (..., J) log hazard of each interval.
    cutpoints : sequence of float
        The J - 1 interior cut points.
    until : float
        Medians later than this (e.g. the end of follow-up, beyond which the curve is an
        extrapolation) are ``inf``: "not reached".

    Returns
    -------
    numpy.ndarray
        (...,) median times, ``inf`` where not reached.

    Examples
    --------
    >>> round(float(median_time(np.log([0.1]), [])), 10)  # log(2) / 0.1
    6.9314718056
    """
    edges = interval_edges(cutpoints)
    rate = np.exp(np.minimum(np.asarray(log_hazard, dtype=np.float64), EXP_MAX))
    width = edges[1:] - edges[:-1]  # the last is inf
    used = np.where(np.isinf(width), np.inf, rate * np.where(np.isinf(width), 0.0, width))
    end = np.cumsum(used, axis=-1)  # H at the end of each interval (inf for the last)
    start = np.concatenate([np.zeros_like(end[..., :1]), end[..., :-1]], axis=-1)
    target = math.log(2.0)
    crossing = (start <= target) & (end >= target) & (rate > 0)
    first = np.argmax(crossing, axis=-1)
    found = crossing.any(axis=-1)
    lo = edges[:-1][first]
    h_start = np.take_along_axis(start, first[..., None], axis=-1)[..., 0]
    l_j = np.take_along_axis(rate, first[..., None], axis=-1)[..., 0]
    t = lo + (target - h_start) / np.where(found, l_j, 1.0)
    return np.where(found & (t <= until), t, np.inf)
