"""Restricted mean survival time (RMST) from each arm's Kaplan-Meier curve: stage one.

The RMST up to a horizon ``h`` is the area under the Kaplan-Meier curve from 0 to ``h``,
``mu(h) = int_0^h S(u) du``. Its variance is the Greenwood-type estimate R ``survival``
reports as ``se(rmean)`` (``print(survfit(Surv(time, event) ~ arm), rmean = h)``;
``survival:::survmean``)::

    Var mu(h) = sum_{t_j <= h} A_j(h)^2 d_j / (n_j (n_j - d_j)),   A_j(h) = int_{t_j}^h S(u) du

over the distinct event times ``t_j`` with ``d_j`` events among ``n_j`` at risk (a term with
``n_j = d_j`` is 0, as in R). The same delta-method argument gives the covariance of the
areas at two horizons ``h1 <= h2`` (Greenwood's covariance of ``S(s)`` and ``S(t)``
integrated twice; Wei, Royston, Tierney & Parmar 2015, BMC Med Res Methodol 15:35, Appendix;
Tian et al. 2014)::

    Cov(mu(h1), mu(h2)) = sum_{t_j <= h1} A_j(h1) A_j(h2) d_j / (n_j (n_j - d_j)),

which equals the variance above when ``h1 = h2``. The difference experimental minus control
has the sum of the two arms' (co)variances (independent arms).

A trial is excluded at a horizon beyond its follow-up: beyond the last observed time (event
or censoring) of either arm, where that arm's curve is not estimated. Covariates play no
part: the curve is each arm's unadjusted Kaplan-Meier estimate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayes_ipd.conventions import readonly
from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage.aggregate import AggregateData

__all__ = [
    "RMST_SCALE",
    "ArmRMST",
    "RMSTStageOne",
    "check_horizons",
    "km_rmst",
    "rmst_per_study",
]

RMST_SCALE = "RMST difference"
"""The effect scale code of a pooled RMST difference (``pooled.scale``)."""


@dataclass(frozen=True, eq=False)
class ArmRMST:
    """One arm's RMST at each horizon, from its Kaplan-Meier curve.

    Attributes
    ----------
    rmst : numpy.ndarray
        (H,) area under the curve up to each horizon.
    covariance : numpy.ndarray
        (H, H) Greenwood-type covariance of those areas (module docstring).
    last_time : float
        Last observed time (event or censoring) of the arm.
    """

    rmst: np.ndarray
    covariance: np.ndarray
    last_time: float

    @property
    def se(self) -> np.ndarray:
        """Standard errors of :attr:`rmst` (R's ``se(rmean)``)."""
        return np.sqrt(np.diag(self.covariance))


def check_horizons(horizons: Sequence[float] | float) -> tuple[float, ...]:
    """Horizons as floats: at least one, each finite and positive, strictly increasing.

    Raises
    ------
    PoolingError
        Naming the offending value.

    Examples
    --------
    >>> check_horizons([24, 36])
    (24.0, 36.0)
    """
    values = [horizons] if isinstance(horizons, int | float | str) else list(horizons)
    if not values:
        raise PoolingError("RMST needs at least one horizon (e.g. horizons=(24,))")
    out: list[float] = []
    for value in values:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise PoolingError(f"RMST horizon {value!r} is not a number") from None
        if not math.isfinite(number) or number <= 0:
            raise PoolingError(f"RMST horizon {value!r}: a horizon must be positive and finite")
        if out and number <= out[-1]:
            what = "repeated" if number == out[-1] else "not in increasing order"
            raise PoolingError(
                f"RMST horizons {', '.join(f'{v:g}' for v in (*out, number))}: {number:g} is "
                f"{what}; give distinct horizons in increasing order"
            )
        out.append(number)
    return tuple(out)


def km_rmst(time: np.ndarray, event: np.ndarray, horizons: Sequence[float]) -> ArmRMST:
    """RMST and its covariance across ``horizons`` from one arm's Kaplan-Meier curve.

    Parameters
    ----------
    time, event : numpy.ndarray
        Follow-up times (> 0) and 0/1 event indicators of the arm's participants.
    horizons : sequence of float
        Increasing horizons (not checked against follow-up here).

    Returns
    -------
    ArmRMST

    Examples
    --------
    >>> arm = km_rmst(np.array([1.0, 2.0, 3.0]), np.array([1, 0, 1]), [2.5])
    >>> float(arm.rmst[0])  # 1 + (2.5 - 1) * 2/3
    2.0
    """
    t = np.asarray(time, dtype=np.float64)
    d = np.asarray(event, dtype=np.float64)
    h = np.asarray(horizons, dtype=np.float64)
    times, deaths, at_risk = _event_table(t, d)
    surv = np.cumprod(1.0 - deaths / at_risk)
    knots = np.concatenate(([0.0], times))
    levels = np.concatenate(([1.0], surv))  # S on [knots[j], knots[j + 1])
    area_at_knots = np.concatenate(([0.0], np.cumsum(np.diff(knots) * levels[:-1])))
    area_h = _area(h, knots, levels, area_at_knots)
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.where(at_risk > deaths, deaths / (at_risk * (at_risk - deaths)), 0.0)
    # A_j(h): area from event time t_j to h, 0 for t_j beyond h (it does not enter)
    tail = area_h[None, :] - area_at_knots[1:, None]
    tail = np.where(times[:, None] <= h[None, :], tail, 0.0)
    covariance = tail.T @ (greenwood[:, None] * tail)
    return ArmRMST(
        rmst=readonly(area_h),
        covariance=readonly(covariance),
        last_time=float(t.max()) if t.size else math.nan,
    )


def _event_table(t: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct event times, events at each, participants at risk just before each."""
    times = np.unique(t[d > 0])
    deaths = np.array([d[t == u].sum() for u in times], dtype=np.float64)
    order = np.sort(t)
    at_risk = (t.size - np.searchsorted(order, times, side="left")).astype(np.float64)
    return times, deaths, at_risk


def _area(
    h: np.ndarray, knots: np.ndarray, levels: np.ndarray, area_at_knots: np.ndarray
) -> np.ndarray:
    """Area under the step curve from 0 to each ``h``."""
    j = np.searchsorted(knots, h, side="right") - 1
    return area_at_knots[j] + levels[j] * (h - knots[j])


@dataclass(frozen=True, eq=False)
class RMSTStageOne:
    """Per-trial RMST differences (experimental minus control) at each horizon.

    Attributes
    ----------
    horizons : tuple of float
    studies : tuple of str
    difference : numpy.ndarray
        (K, H) RMST difference per trial and horizon (NaN where excluded).
    covariance : numpy.ndarray
        (K, H, H) within-trial covariance of a trial's differences across horizons.
    rmst_experimental, rmst_control, se_experimental, se_control : numpy.ndarray
        (K, H) each arm's RMST and its SE (R's ``rmean`` and ``se(rmean)``).
    last_time : numpy.ndarray
        (K,) follow-up of each trial: the earlier of its two arms' last observed times.
    n, events : numpy.ndarray
        (K,) participants and events per trial.
    excluded : tuple of tuple of (str or None)
        Per trial, per horizon: the reason for leaving it out, or None.
    """

    horizons: tuple[float, ...]
    studies: tuple[str, ...]
    difference: np.ndarray
    covariance: np.ndarray
    rmst_experimental: np.ndarray
    rmst_control: np.ndarray
    se_experimental: np.ndarray
    se_control: np.ndarray
    last_time: np.ndarray
    n: np.ndarray
    events: np.ndarray
    excluded: tuple[tuple[str | None, ...], ...]

    def aggregate(self, index: int) -> AggregateData:
        """The per-trial (estimate, SE) table at ``horizons[index]``, scale
        :data:`RMST_SCALE`, term ``"treat"``."""
        reasons = tuple(row[index] for row in self.excluded)
        se = np.sqrt(self.covariance[:, index, index])
        keep = np.array([r is None for r in reasons])
        return AggregateData(
            studies=self.studies,
            estimate=np.where(keep, self.difference[:, index], np.nan),
            se=np.where(keep, se, np.nan),
            n=self.n,
            events=self.events,
            excluded=reasons,
            term="treat",
            scale=RMST_SCALE,
        )

    def arm_records(self, index: int) -> list[dict[str, Any]]:
        """Per trial at ``horizons[index]``: each arm's RMST and SE (None where excluded)."""
        records = []
        for i, reasons in enumerate(self.excluded):
            out = reasons[index] is not None
            records.append(
                {
                    key: None if out else float(values[i, index])
                    for key, values in (
                        ("rmst_experimental", self.rmst_experimental),
                        ("se_rmst_experimental", self.se_experimental),
                        ("rmst_control", self.rmst_control),
                        ("se_rmst_control", self.se_control),
                    )
                }
            )
        return records


def rmst_per_study(ipd: Any, horizons: Sequence[float]) -> RMSTStageOne:
    """Stage one of the RMST route: each trial's RMST difference at every horizon.

    Parameters
    ----------
    ipd : IPD
        Survival participant rows (``ipd.time``, ``ipd.event``); covariates are not used.
    horizons : sequence of float
        Checked by :func:`check_horizons`.

    Returns
    -------
    RMSTStageOne

    Raises
    ------
    PoolingError
        Not survival rows, bad horizons, or a horizon beyond every trial's follow-up.
    """
    if ipd.time is None or ipd.event is None:
        raise PoolingError(
            "RMST needs a time-to-event outcome (follow-up time and event indicator: "
            f"family 'survival'); the rows are {ipd.family!r}"
        )
    hs = check_horizons(horizons)
    k, n_h = len(ipd.studies), len(hs)
    diff, cov = np.full((k, n_h), np.nan), np.zeros((k, n_h, n_h))
    arms = {name: (np.full((k, n_h), np.nan), np.full((k, n_h), np.nan)) for name in ("e", "c")}
    last = np.full(k, np.nan)
    reasons: list[tuple[str | None, ...]] = []
    for i in range(k):
        rows = ipd.study == i
        t, d, treat = ipd.time[rows], ipd.event[rows], ipd.treat[rows]
        fits = {"e": km_rmst(t[treat == 1], d[treat == 1], hs)}
        fits["c"] = km_rmst(t[treat == 0], d[treat == 0], hs)
        for name, fit in fits.items():
            arms[name][0][i], arms[name][1][i] = fit.rmst, fit.se
        last[i] = min(fits["e"].last_time, fits["c"].last_time)
        diff[i] = fits["e"].rmst - fits["c"].rmst
        cov[i] = fits["e"].covariance + fits["c"].covariance
        reasons.append(tuple(_exclusion(h, fits, cov[i, j, j]) for j, h in enumerate(hs)))
    _check_some_followup(hs, last, ipd.studies)
    return RMSTStageOne(
        horizons=hs,
        studies=tuple(ipd.studies),
        difference=readonly(diff),
        covariance=readonly(cov),
        rmst_experimental=readonly(arms["e"][0]),
        rmst_control=readonly(arms["c"][0]),
        se_experimental=readonly(arms["e"][1]),
        se_control=readonly(arms["c"][1]),
        last_time=readonly(last),
        n=np.bincount(ipd.study, minlength=k).astype(np.int64),
        events=np.bincount(ipd.study, weights=ipd.event, minlength=k).round().astype(np.int64),
        excluded=tuple(reasons),
    )


_ARM_NAMES = {"e": "experimental", "c": "control"}


def _exclusion(h: float, fits: dict[str, ArmRMST], variance: float) -> str | None:
    """Why a trial cannot give an RMST difference at horizon ``h`` (None: it can)."""
    for name, fit in fits.items():
        if math.isnan(fit.last_time):
            return f"no participants in the {_ARM_NAMES[name]} arm"
    for name, fit in fits.items():
        if h > fit.last_time:
            return (
                f"horizon {h:g} is beyond the trial's follow-up (last observed time "
                f"{fit.last_time:g} in the {_ARM_NAMES[name]} arm)"
            )
    if not variance > 0:
        return f"no events up to horizon {h:g} in either arm (the RMST difference has SE 0)"
    return None


def _check_some_followup(hs: tuple[float, ...], last: np.ndarray, studies: Sequence[str]) -> None:
    longest = float(np.nanmax(last)) if np.isfinite(last).any() else math.nan
    beyond = [h for h in hs if not h <= longest]
    if beyond:
        best = studies[int(np.nanargmax(last))] if np.isfinite(last).any() else "none"
        raise PoolingError(
            f"RMST horizon {beyond[0]:g} is beyond every trial's follow-up (the longest, "
            f"{longest:g} in trial {best!r}, is the earlier of its arms' last observed times); "
            "choose a shorter horizon"
        )
