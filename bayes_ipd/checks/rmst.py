"""The posterior of the restricted mean survival time (RMST) difference of a survival fit.

For posterior draw ``s``, trial ``k`` and horizon ``h``, the RMST difference is
``int_0^h S_k1(t) dt - int_0^h S_k0(t) dt`` (experimental minus control), each arm's curve
the piecewise-exponential survival of its log hazard per interval
(:mod:`~bayes_ipd.checks.arm_hazards`: the trial's baseline hazard at its covariate means,
and that plus the trial's log hazard ratio of each interval), integrated in closed form
(:func:`~bayes_ipd.checks.piecewise_survival.restricted_mean`). The average over trials
gives every trial the same weight, draw by draw.

Beyond the last cut point the hazard is the last interval's constant hazard; a horizon
beyond a trial's follow-up is an extrapolation on that constant hazard, said in a warning
when the follow-up is known (participant rows given).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_ipd.checks.arm_hazards import ArmHazards, arm_hazards
from bayes_ipd.checks.kaplan_meier import trial_rows
from bayes_ipd.checks.piecewise_survival import restricted_mean
from bayes_ipd.conventions import NODE_KEYS
from bayes_ipd.draws import posterior_node
from bayes_ipd.errors import SpecError

if TYPE_CHECKING:
    from bayes_ipd.data import IPD
    from bayes_ipd.draws import Fit

__all__ = [
    "AVERAGE",
    "check_horizons",
    "follow_up_times",
    "rmst_difference",
    "rmst_difference_draws",
    "rmst_json",
    "warn_extrapolation",
]

AVERAGE = "average of trials"
"""The ``study`` label of the equal-weight average over trials."""


def check_horizons(horizons: Any) -> tuple[float, ...]:
    """Horizons as distinct finite floats > 0 (one number counts as one horizon).

    Raises
    ------
    SpecError
        Naming the bad horizon (``<= 0``, not finite, repeated) or an empty list.
    """
    if isinstance(horizons, numbers.Real) and not isinstance(horizons, bool):
        horizons = [horizons]
    values = []
    for h in horizons:
        if isinstance(h, bool) or not isinstance(h, numbers.Real) or not math.isfinite(h):
            raise SpecError(f"RMST horizon {h!r} is not a finite number")
        if h <= 0:
            raise SpecError(f"RMST horizon {h!r} must be > 0")
        if float(h) in values:
            raise SpecError(f"RMST horizon {h!r} is given more than once")
        values.append(float(h))
    if not values:
        raise SpecError("no RMST horizon given: need at least one time > 0")
    return tuple(values)


def rmst_difference_draws(hazards: ArmHazards, horizons: Sequence[float]) -> np.ndarray:
    """(S, K, H) RMST of the experimental minus the control arm per draw, trial, horizon."""
    out = [
        restricted_mean(hazards.log_hazard[:, :, 1, :], hazards.cutpoints, h)
        - restricted_mean(hazards.log_hazard[:, :, 0, :], hazards.cutpoints, h)
        for h in check_horizons(horizons)
    ]
    return np.stack(out, axis=2)


def follow_up_times(ipd: IPD, studies: Sequence[str]) -> dict[str, float]:
    """Each trial's last follow-up time (event or censoring) in the participant rows."""
    times = np.asarray(ipd.time, dtype=np.float64)
    return {s: float(times[trial_rows(ipd, s)].max()) for s in studies if s in ipd.studies}


def warn_extrapolation(horizons: Sequence[float], follow_up: Mapping[str, float]) -> list[str]:
    """Warn (``UserWarning``) for each horizon beyond some trials' follow-up; the messages.

    Such an RMST uses the last interval's constant hazard beyond the follow-up.
    """
    messages = []
    for h in horizons:
        beyond = [f"{s} ({t:g})" for s, t in follow_up.items() if h > t]
        if beyond:
            messages.append(
                f"RMST horizon {h:g} is beyond the last follow-up of trial(s) "
                f"{', '.join(beyond)}: their survival curves are extrapolated there with "
                "the last interval's constant hazard"
            )
    for message in messages:
        warnings.warn(message, UserWarning, stacklevel=3)
    return messages


def rmst_difference(
    fit: Fit,
    horizons: Any,
    *,
    level: float = 0.95,
    follow_up: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Posterior of the RMST difference (experimental minus control) up to each horizon.

    Parameters
    ----------
    fit : Fit
        A survival fit.
    horizons : float or sequence of float
        Times ``h > 0`` (the time unit of the data).
    level : float
        Coverage of the equal-tailed interval.
    follow_up : mapping of str to float, optional
        Each trial's last follow-up time (:func:`follow_up_times`); horizons beyond it are
        named in a warning and flagged in the ``extrapolated`` column.

    Returns
    -------
    pandas.DataFrame
        One row per trial (and ``"average of trials"``, equal weights) and horizon:
        ``study, horizon, mean, sd, median, q025, q975, ess_bulk, r_hat, p_gt_0``
        (posterior probability that the experimental arm lives longer on average up to
        ``h``) and ``extrapolated`` (None where the follow-up is unknown).

    Raises
    ------
    SpecError
        A horizon ``<= 0``, not finite or repeated.
    ValueError
        The fit is not a survival fit.
    """
    hs = check_horizons(horizons)
    if follow_up:
        warn_extrapolation(hs, follow_up)
    hazards = arm_hazards(fit)
    diff = rmst_difference_draws(hazards, hs)
    rows = []
    per_trial = dict(zip(hazards.labels, np.moveaxis(diff, 1, 0), strict=True))
    for study, draws in {**per_trial, AVERAGE: diff.mean(axis=1)}.items():
        for i, h in enumerate(hs):
            node = posterior_node(hazards.by_chain(draws[:, i]), level)
            extrapolated: bool | None = None
            if follow_up is not None:
                ends = list(follow_up.values()) if study == AVERAGE else [follow_up.get(study)]
                known = [t for t in ends if t is not None]
                extrapolated = bool(known) and any(h > t for t in known)
            rows.append(
                {
                    "study": study,
                    "horizon": h,
                    **node,
                    "p_gt_0": float(np.mean(draws[:, i] > 0)),
                    "extrapolated": extrapolated,
                }
            )
    return pd.DataFrame.from_records(rows)


def rmst_json(fit: Fit, horizons: Sequence[float]) -> dict[str, Any]:
    """``{"rmst_difference": [{"horizon", ...node}], "rmst_difference_by_study": {STUDY:
    [{"horizon", ...node}]}}``: the posterior nodes (:data:`~bayes_ipd.conventions.NODE_KEYS`,
    95% intervals) of :func:`rmst_difference` for the one-stage JSON."""
    table = rmst_difference(fit, horizons)
    by_study: dict[str, list[dict[str, Any]]] = {}
    average: list[dict[str, Any]] = []
    for row in table.to_dict(orient="records"):
        node = {"horizon": float(row["horizon"]), **{key: row[key] for key in NODE_KEYS}}
        (average if row["study"] == AVERAGE else by_study.setdefault(row["study"], [])).append(node)
    return {"rmst_difference": average, "rmst_difference_by_study": by_study}
