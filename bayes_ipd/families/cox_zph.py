"""The Grambsch-Therneau test of proportional hazards on a fitted Cox model, as R
``survival::cox.zph(fit, transform = "km")`` computes it (survival >= 3.0).

For each event time ``t`` let ``g(t)`` be one minus the Kaplan-Meier survival of the whole
trial just before ``t``, centred at its mean over the events. The test asks whether the
coefficients change along ``g``: it is the score test, at the fitted coefficients, of the
``p`` extra terms ``x g(t)`` in the model ``x beta + x g(t) gamma``. Its score is
``U = sum_events g(t) (x_i - xbar(t))`` and its variance is taken from the full ``2p x 2p``
information matrix of ``(beta, gamma)``, so the statistic is ``U' [I^{-1}]_{gamma gamma} U``
on ``p`` degrees of freedom (one term: the rows and columns of its own ``gamma`` only).
Ties are handled as the fit handles them (Efron; Breslow available), the risk-set means and
variances being those of R's C routine ``zph1``.

The scaled Schoenfeld residuals (``cox.zph(...)$y``) are ``r_i V^{-1} + beta`` with ``r_i``
the Schoenfeld residual of event ``i`` and ``V`` the information of ``beta`` divided by the
number of events; plotted against ``g(t)`` they show how the log hazard ratio moves in time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from bayes_ipd.conventions import readonly

__all__ = ["TermTest", "ZphResult", "cox_zph", "km_transform", "term_groups"]


@dataclass(frozen=True)
class TermTest:
    """One row of the test's table: a term (or ``"GLOBAL"``), its statistic, df and p."""

    term: str
    statistic: float
    df: int
    p: float

    def to_dict(self) -> dict[str, float | int]:
        """``{"statistic", "df", "p"}``."""
        return {"statistic": self.statistic, "df": self.df, "p": self.p}


@dataclass(frozen=True)
class ZphResult:
    """The test of one trial's Cox model.

    Attributes
    ----------
    global_test : TermTest
        All coefficients at once (R's ``GLOBAL`` row).
    terms : tuple of TermTest
        One per model term (a categorical covariate's columns form one term).
    names : tuple of str
        The terms, in the order of :attr:`scaled_residuals`' columns.
    coefficients : numpy.ndarray
        The fitted coefficients ``beta`` the test was computed at.
    transformed_time : numpy.ndarray
        ``1 - KM(t-)`` at each event, in time order (R's ``$x``).
    event_time : numpy.ndarray
        The event times, in the same order (R's ``$time``).
    scaled_residuals : numpy.ndarray
        Events x terms: the scaled Schoenfeld residuals (R's ``$y``; a term of several
        columns is their combination weighted by the coefficients, centred at 1).
    """

    global_test: TermTest
    terms: tuple[TermTest, ...]
    names: tuple[str, ...]
    coefficients: np.ndarray
    transformed_time: np.ndarray
    event_time: np.ndarray
    scaled_residuals: np.ndarray

    def term(self, name: str) -> TermTest:
        """The row of term ``name``."""
        for row in self.terms:
            if row.term == name:
                return row
        raise KeyError(name)


def term_groups(names: Sequence[str]) -> dict[str, list[int]]:
    """Design columns grouped into terms: ``"x[b]"`` and ``"x[c]"`` (a categorical
    covariate's indicator columns) form the term ``"x"``; every other column is its own."""
    groups: dict[str, list[int]] = {}
    for j, name in enumerate(names):
        head, sep, _ = name.partition("[")
        key = head if sep and name.endswith("]") else name
        groups.setdefault(key, []).append(j)
    return groups


def km_transform(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """``1 - S(t-)`` for every row: one minus the trial's Kaplan-Meier survival just before
    its time (R ``cox.zph``'s ``transform = "km"``)."""
    death_times, deaths = np.unique(time[event == 1], return_counts=True)
    at_risk = len(time) - np.searchsorted(np.sort(time), death_times, side="left")
    surv = np.cumprod(1.0 - deaths / at_risk)
    before = np.searchsorted(death_times, time, side="left")  # event times strictly < t
    return 1.0 - np.concatenate([[1.0], surv])[before]


def cox_zph(
    time: np.ndarray,
    event: np.ndarray,
    x: np.ndarray,
    beta: np.ndarray,
    names: Sequence[str],
    *,
    ties: str = "efron",
) -> ZphResult:
    """The Grambsch-Therneau test with the Kaplan-Meier time transform.

    Parameters
    ----------
    time, event : numpy.ndarray
        Follow-up times and 0/1 event indicators of one trial (right-censored).
    x : numpy.ndarray
        The design (rows x columns, no intercept) the Cox model was fitted on.
    beta : numpy.ndarray
        Its fitted coefficients.
    names : sequence of str
        Column names; categorical indicator columns ``"x[level]"`` form one term.
    ties : {"efron", "breslow"}
        The fit's handling of tied event times.

    Returns
    -------
    ZphResult
    """
    time = np.asarray(time, float)
    event = np.asarray(event, float)
    x = np.asarray(x, float)
    x = x - x.mean(axis=0)  # as zph1 recentres: every quantity is unchanged, rounding less
    beta = np.asarray(beta, float)
    eta = x @ beta
    risk = np.exp(eta - eta.max())
    ttimes = km_transform(time, event)
    g = ttimes - ttimes[event == 1].mean()
    u2, imat, schoen, order = _score_and_information(time, event, x, risk, g, ties == "efron")
    p = x.shape[1]
    groups = term_groups(names)
    terms = tuple(_test(name, u2, imat, np.asarray(cols), p) for name, cols in groups.items())
    global_test = _test("GLOBAL", u2, imat, np.arange(p), p)
    scaled = _scaled_residuals(schoen, imat[:p, :p] / int(event.sum()), beta, groups)
    events_in_order = order[event[order] == 1]
    return ZphResult(
        global_test=global_test,
        terms=terms,
        names=tuple(groups),
        coefficients=readonly(beta.copy()),
        transformed_time=readonly(ttimes[events_in_order]),
        event_time=readonly(time[events_in_order]),
        scaled_residuals=readonly(scaled),
    )


def _scaled_residuals(
    schoen: np.ndarray, vmean: np.ndarray, beta: np.ndarray, groups: dict[str, list[int]]
) -> np.ndarray:
    """R's ``$y`` with ``terms = TRUE``: the columns of a term of several columns combined
    with the coefficients as weights (R's ``temp`` matrix), then scaled by the information
    per event and shifted by the coefficient (a combined term: by 1)."""
    combine = np.zeros((len(beta), len(groups)))
    shift = np.ones(len(groups))
    for i, cols in enumerate(groups.values()):
        if len(cols) == 1:
            combine[cols[0], i], shift[i] = 1.0, beta[cols[0]]
        else:
            combine[cols, i] = beta[cols]
    v = combine.T @ vmean @ combine
    return np.linalg.solve(v, (schoen @ combine).T).T + shift


def _test(name: str, u2: np.ndarray, imat: np.ndarray, cols: np.ndarray, p: int) -> TermTest:
    keep = np.concatenate([np.arange(p), cols + p])
    u = np.concatenate([np.zeros(p), u2[cols]])
    statistic = float(u @ np.linalg.solve(imat[np.ix_(keep, keep)], u))
    df = len(cols)
    return TermTest(name, statistic, df, float(stats.chi2.sf(statistic, df)))


def _score_and_information(
    time: np.ndarray,
    event: np.ndarray,
    x: np.ndarray,
    risk: np.ndarray,
    g: np.ndarray,
    efron: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The time-weighted score, the ``2p x 2p`` information and the Schoenfeld residuals
    (events in time order), summing over the distinct event times as R's ``zph1`` does."""
    n, p = x.shape
    order = np.argsort(time, kind="stable")
    ts, ds, xs, rs, gs = time[order], event[order], x[order], risk[order], g[order]
    # risk-set sums over rows with time >= t: reverse cumulative sums
    w1 = rs[:, None] * xs
    w2 = w1[:, :, None] * xs[:, None, :]
    s0 = np.cumsum(rs[::-1])[::-1]
    s1 = np.cumsum(w1[::-1], axis=0)[::-1]
    s2 = np.cumsum(w2[::-1], axis=0)[::-1]
    u2 = np.zeros(p)
    imat = np.zeros((2 * p, 2 * p))
    schoen = np.zeros((int(ds.sum()), p))
    starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]])
    ends = np.r_[starts[1:], n]
    row = 0
    for lo, hi in zip(starts, ends, strict=True):
        dead = lo + np.flatnonzero(ds[lo:hi] == 1)
        nd = len(dead)
        if nd == 0:
            continue
        d0, d1, d2 = rs[dead].sum(), w1[dead].sum(axis=0), w2[dead].sum(axis=0)
        # the risk set without this time's deaths, which Efron's method adds back in steps
        o0, o1, o2 = s0[lo] - d0, s1[lo] - d1, s2[lo] - d2
        fractions = np.arange(1, nd + 1) / nd if efron else np.ones(1)
        weight = 1.0 if efron else float(nd)
        v = np.zeros((p, p))
        mean_sum = np.zeros(p)
        for f in fractions:
            den = o0 + f * d0
            mean = (o1 + f * d1) / den
            mean_sum += weight * mean
            v += weight * ((o2 + f * d2) / den - np.outer(mean, mean))
        gt = gs[lo]
        u2 += gt * (xs[dead].sum(axis=0) - mean_sum)
        imat[:p, :p] += v
        imat[:p, p:] += gt * v
        imat[p:, p:] += gt * gt * v
        schoen[row : row + nd] = xs[dead] - mean_sum / nd
        row += nd
    imat[p:, :p] = imat[:p, p:].T
    return u2, imat, schoen, order
