"""Kaplan-Meier curves of time-to-event participant data (no dependency on lifelines).

:func:`kaplan_meier` is the estimate of one sample; :func:`observed_km` gives it for every
trial and arm of survival participant data, the curves the predictive bands of
:mod:`bayes_ipd.checks.survival_curves` are drawn against.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bayes_ipd.checks.baseline_hazard import has_baseline_hazard
from bayes_ipd.conventions import ARMS, readonly
from bayes_ipd.errors import IPDDataError

if TYPE_CHECKING:
    from bayes_ipd.data import IPD

__all__ = ["check_survival_ipd", "kaplan_meier", "observed_km", "trial_rows"]


def _survival_arrays(time: Any, event: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated float time (> 0, finite) and 0/1 event arrays of equal length."""
    t = np.asarray(time, dtype=np.float64).ravel()
    d = np.asarray(event, dtype=np.float64).ravel()
    if t.size != d.size:
        raise IPDDataError(f"time has {t.size} values but event has {d.size}")
    if t.size == 0:
        raise IPDDataError("no survival times: the Kaplan-Meier estimate needs at least one")
    bad_t = ~np.isfinite(t) | (t <= 0)
    if bad_t.any():
        i = int(np.flatnonzero(bad_t)[0])
        raise IPDDataError(
            f"survival time must be finite and > 0; value {float(t[i])!r} at position {i}"
        )
    bad_d = ~np.isin(d, (0.0, 1.0))
    if bad_d.any():
        i = int(np.flatnonzero(bad_d)[0])
        raise IPDDataError(f"event must be 0 or 1; value {float(d[i])!r} at position {i}")
    return t, d


def kaplan_meier(time: Any, event: Any) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier estimate of the survival function.

    Parameters
    ----------
    time : array_like
        Follow-up times (> 0).
    event : array_like
        1 = event at ``time``, 0 = censored at ``time``. An event and a censoring at the
        same time count the censored participant as at risk at that time (the usual
        convention, as in lifelines and R's ``survfit``).

    Returns
    -------
    times : numpy.ndarray
        0 followed by the distinct observed times (events and censorings), increasing.
    survival : numpy.ndarray
        ``S(t)`` at each time, right-continuous: ``prod_{t_j <= t} (1 - d_j / n_j)`` with
        ``d_j`` events and ``n_j`` at risk at ``t_j``. Draw it as a step function
        (``where="post"``).

    Raises
    ------
    IPDDataError
        A time not finite or not > 0, an event not 0/1, unequal lengths, no data.

    Examples
    --------
    >>> t, s = kaplan_meier([1.0, 2.0, 2.0, 3.0], [1, 1, 0, 1])
    >>> t.tolist(), s.round(3).tolist()
    ([0.0, 1.0, 2.0, 3.0], [1.0, 0.75, 0.5, 0.0])
    """
    t, d = _survival_arrays(time, event)
    times, inverse = np.unique(t, return_inverse=True)
    deaths = np.bincount(inverse, weights=d, minlength=times.size)
    leaving = np.bincount(inverse, minlength=times.size).astype(np.float64)
    at_risk = t.size - np.concatenate([[0.0], np.cumsum(leaving)[:-1]])
    survival = np.cumprod(1.0 - deaths / at_risk)
    return readonly(np.concatenate([[0.0], times])), readonly(np.concatenate([[1.0], survival]))


def trial_rows(ipd: IPD, label: str) -> np.ndarray:
    """Row indices of one trial's participants in ``ipd``.

    Raises
    ------
    IPDDataError
        The trial has no participant rows in ``ipd``.
    """
    if label not in ipd.studies:
        raise IPDDataError(
            f"trial {label!r} has no participant rows in the data given, so its survival curves "
            "are unavailable: they need each participant's time, event and covariates, which a "
            "trial given only as a summary (exposure cells) does not hold"
        )
    return np.flatnonzero(ipd.study == ipd.studies.index(label))


def check_survival_ipd(ipd: IPD) -> None:
    """Refuse participant data of a family without a baseline hazard.

    Raises
    ------
    IPDDataError
        ``ipd`` is not survival participant data.
    """
    if not has_baseline_hazard(getattr(ipd, "family", None)):
        raise IPDDataError(
            f"survival curves need survival participant data; got {type(ipd).__name__} of "
            f"family {getattr(ipd, 'family', None)!r}"
        )


def observed_km(
    ipd: IPD, studies: Sequence[str] | None = None
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Kaplan-Meier curve of every trial and arm: ``out[trial][arm] = (times, survival)``.

    Arms are ``"control"`` and ``"treated"``; trials are those of ``studies`` (all of the
    data's by default).
    """
    check_survival_ipd(ipd)
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for label in ipd.studies if studies is None else studies:
        rows = trial_rows(ipd, label)
        out[label] = {}
        for a, arm in enumerate(ARMS):
            sel = rows[ipd.treat[rows] == a]
            out[label][arm] = kaplan_meier(ipd.time[sel], ipd.event[sel])
    return out
