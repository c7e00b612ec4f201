"""Time-to-event outcomes: Kaplan-Meier curves, predictive survival curves and checks.

The one-stage survival model (:mod:`bayes_ipd.one_stage.builder`) is a piecewise-exponential
proportional-hazards model: in trial ``k`` and interval ``j`` the hazard of a participant
with design row ``z`` is ``h_kj exp(z'b_k)``, with ``log h_kj = alpha_k + sum_{l <= j}
hazard_smoothing * log_hazard_step_kl``. This module turns its posterior into what a
time-to-event analysis is judged by:

* :func:`kaplan_meier` — the Kaplan-Meier estimate (no dependency on lifelines);
* :func:`predictive_survival` — per trial and arm, the posterior of the arm's expected
  survival curve ``S_arm(t) = mean_i exp(-H_k(t) exp(z_i'b_k))`` over the arm's own
  participants (their covariates), ``H_k`` the cumulative piecewise baseline hazard;
* :func:`km_ppc` — Kaplan-Meier curves drawn over those bands;
* :func:`interval_event_ppc` — observed against replicated events per trial, interval and
  arm (works from exposure cells, so also for trials given as summaries), and
  :func:`interval_event_ppc_plot`;
* :func:`hazard_ratio_summary` — pooled, new-trial, per-trial hazard ratios and
  interaction ratios on the hazard-ratio scale in one table;
* :func:`event_free_trials` / :func:`warn_event_free_trials` — trials without events.

Trials without events
---------------------
A trial with no events is kept in a one-stage fit. Its likelihood is
``-sum_c E_c exp(eta_c)``, which only says that its hazard is small: the trial's baseline
(``alpha_k``) is then driven by its prior (it drifts into the lower tail of the intercept
prior), its treatment effect ``theta_k`` is close to the new-trial distribution
``Normal(mu, tau)``, and it adds next to nothing to ``mu`` and ``tau`` through the shared
parameters. The fit runs, but the trial's own estimates mean little; the two-stage route
cannot fit a Cox model to it at all and excludes it. :meth:`bayes_ipd.data.IPD.from_frame`
warns naming such trials; for trials given as summaries, :func:`warn_event_free_trials` on
the design does the same.

Predictive bands
----------------
The band of :func:`predictive_survival` is the posterior uncertainty of the arm's *expected*
survival curve given its participants' covariates. It is not the spread of replicated
Kaplan-Meier curves (that would also need a censoring model), so a Kaplan-Meier curve from a
small arm may stray outside the band by its own sampling noise; a systematic departure
(e.g. the curve leaving the band in the same direction over a long stretch, or crossing arms)
points at a baseline hazard that the intervals cannot follow or at non-proportional hazards.
:func:`interval_event_ppc` is the formal check, with Bayesian p-values.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from scipy import sparse

from bayes_ipd.conventions import ARMS, SEED_OFFSETS, readonly
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families import REGISTRY
from bayes_ipd.families.cells import arm_totals
from bayes_ipd.families.survival import EXP_MAX
from bayes_ipd.one_stage.design import Design
from bayes_ipd.one_stage.draws import coefficient_draws, log_hazard_draws, quantile_labels
from bayes_ipd.one_stage.summaries import check_spec_columns, expand_covariates
from bayes_ipd.plots import km_ppc_plot, ppc_plot

if TYPE_CHECKING:
    from bayes_ipd.data import IPD
    from bayes_ipd.one_stage.result import OneStageResult

__all__ = [
    "SEED_OFFSETS",
    "cumulative_baseline_hazard",
    "event_free_trials",
    "expected_interval_events",
    "hazard_ratio_summary",
    "interval_edges",
    "interval_event_ppc",
    "interval_event_ppc_plot",
    "interval_labels",
    "kaplan_meier",
    "km_ppc",
    "observed_km",
    "participant_design_rows",
    "predictive_survival",
    "warn_event_free_trials",
]


GRID_POINTS = 101  # default time grid of a predictive curve: 0 to the trial's last time
_BLOCK = 2_000_000  # floats held at once when averaging over draws x participants x times


# ----------------------------------------------------------------------------- Kaplan-Meier


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


def _trial_rows(ipd: IPD, label: str) -> np.ndarray:
    if label not in ipd.studies:
        raise IPDDataError(
            f"trial {label!r} has no participant rows in the data given, so its survival curves "
            "are unavailable: they need each participant's time, event and covariates, which a "
            "trial given only as a summary (exposure cells) does not hold"
        )
    return np.flatnonzero(ipd.study == ipd.studies.index(label))


def observed_km(
    ipd: IPD, studies: Sequence[str] | None = None
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Kaplan-Meier curve of every trial and arm: ``out[trial][arm] = (times, survival)``.

    Arms are ``"control"`` and ``"treated"``; trials are those of ``studies`` (all of the
    data's by default).
    """
    _check_survival_ipd(ipd)
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for label in ipd.studies if studies is None else studies:
        rows = _trial_rows(ipd, label)
        out[label] = {}
        for a, arm in enumerate(ARMS):
            sel = rows[ipd.treat[rows] == a]
            out[label][arm] = kaplan_meier(ipd.time[sel], ipd.event[sel])
    return out


def _has_baseline_hazard(family: Any) -> bool:
    """Whether ``family`` names a registered family with a piecewise baseline hazard."""
    plugin = REGISTRY.get(family) if isinstance(family, str) else None
    return plugin is not None and plugin.has_baseline_hazard


def _require_survival(family: str, what: str, kind: str = "fit") -> None:
    if not _has_baseline_hazard(family):
        raise ValueError(f"{what} needs a survival {kind}; this one is {family}")


def _check_survival_ipd(ipd: IPD) -> None:
    if not _has_baseline_hazard(getattr(ipd, "family", None)):
        raise IPDDataError(
            f"survival curves need survival participant data; got {type(ipd).__name__} of "
            f"family {getattr(ipd, 'family', None)!r}"
        )


# ------------------------------------------------------------------- piecewise hazard


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


# ------------------------------------------------------------------- design rows


def participant_design_rows(result: OneStageResult, ipd: IPD, label: str) -> np.ndarray:
    """Design rows ``[1, t, x - xbar_k, t (z - zbar_k)]`` of one trial's participants.

    The columns are those of the fitted design (``design.column_names``); covariates are
    centred at the trial's own means, as in the fit.

    Raises
    ------
    IPDDataError
        The trial has no rows in ``ipd``, or its rows are not those the model was fitted to
        (different arm sizes or covariate means).
    """
    design = result.built.design
    spec = result.built.spec
    k = design.studies.index(label)
    rows = _trial_rows(ipd, label)
    treat = ipd.treat[rows]
    covariates = ipd.covariates.iloc[rows].reset_index(drop=True)
    x_local, terms, _ = expand_covariates(covariates, spec.covariates, rows.size)
    index = {t: i for i, t in enumerate(terms)}
    columns = [
        x_local[:, index[t]] if t in index else np.zeros(rows.size) for t in design.covariate_terms
    ]
    x = np.column_stack(columns) if columns else np.zeros((rows.size, 0))
    means = x.mean(axis=0)
    _check_same_trial(design, k, label, treat, means)
    xc = x - means
    inter = [design.covariate_terms.index(t) for t in design.interaction_terms]
    z = np.column_stack([np.ones(rows.size), treat, xc, treat[:, None] * xc[:, inter]])
    return z


def _check_same_trial(
    design: Design, k: int, label: str, treat: np.ndarray, means: np.ndarray
) -> None:
    n_arm = np.bincount(treat.astype(np.int64), minlength=2)
    if not np.array_equal(n_arm, design.n_arm[k]):
        raise IPDDataError(
            f"trial {label!r}: the rows given have {n_arm[0]} control and {n_arm[1]} treated "
            f"participants, the fitted data {design.n_arm[k][0]} and {design.n_arm[k][1]}; "
            "pass the rows the model was fitted to"
        )
    fitted = design.term_means[k]
    scale = np.maximum(np.abs(fitted), 1.0)
    off = np.abs(means - fitted) > 1e-8 * scale
    if off.any():
        j = int(np.flatnonzero(off)[0])
        raise IPDDataError(
            f"trial {label!r}: mean of {design.covariate_terms[j]!r} is {means[j]:.6g} in the "
            f"rows given but {fitted[j]:.6g} in the fitted data; pass the rows the model was "
            "fitted to"
        )


# ----------------------------------------------------------------- predictive survival


def _draw_index(n_samples: int, draws: int | None, rng: np.random.Generator) -> np.ndarray:
    if draws is None or draws >= n_samples:
        return np.arange(n_samples)
    if draws < 1:
        raise ValueError(f"draws must be a positive number of posterior draws, got {draws!r}")
    return np.sort(rng.choice(n_samples, size=draws, replace=False))


def _mean_survival(cum_h: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """(S, T) mean over participants of ``exp(-H(t) exp(eta_i))``; cum_h (S, T), eta (S, n)."""
    s, t = cum_h.shape
    n = eta.shape[1]
    out = np.empty((s, t))
    risk = np.exp(np.minimum(eta, EXP_MAX))
    size = max(1, _BLOCK // max(n * t, 1))
    for start in range(0, s, size):
        block = slice(start, min(start + size, s))
        out[block] = np.exp(-cum_h[block, :, None] * risk[block, None, :]).mean(axis=2)
    return out


def _default_times(ipd: IPD, rows: np.ndarray) -> np.ndarray:
    return np.linspace(0.0, float(ipd.time[rows].max()), GRID_POINTS)


def predictive_survival(
    result: OneStageResult,
    ipd: IPD,
    *,
    times: Any = None,
    draws: int | None = 200,
    seed: int | None = None,
    level: float = 0.95,
    studies: Sequence[str] | None = None,
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]]:
    """Posterior of each trial's and arm's expected survival curve.

    For posterior draw ``s``, trial ``k`` and arm ``a``,
    ``S_ka(t) = mean_{i in arm a of trial k} exp(-H_k(t) exp(z_i'b_k))`` with ``H_k`` the
    cumulative piecewise-constant baseline hazard and ``z_i`` participant ``i``'s design row
    (its own covariates, centred as in the fit): the survival curve the model expects for
    the arm's participants, to be compared with the arm's Kaplan-Meier curve.

    Parameters
    ----------
    result : OneStageResult
        A survival fit.
    ipd : IPD
        The participant rows the model was fitted to (trials not in the fit are ignored).
    times : array_like, optional
        Times (>= 0) at which to evaluate the curves; by default 101 points from 0 to each
        trial's last follow-up time.
    draws : int or None
        Number of posterior draws used, a random subsample without replacement (all draws
        when None or larger than the posterior).
    seed : int, optional
        Seed of the subsample; by default the sampler's seed + 5.
    level : float
        Coverage of the pointwise equal-tailed band.
    studies : sequence of str, optional
        Trials to compute (all of the fit's by default).

    Returns
    -------
    dict
        ``out[trial][arm] = (times, median, low, high)``, arms ``"control"`` and
        ``"treated"``: pointwise posterior median and band of ``S_ka(t)``.

    Raises
    ------
    IPDDataError
        A trial of the fit has no participant rows in ``ipd`` (fitted from a summary): its
        curve is unavailable; or the rows are not those of the fit.
    ValueError
        The fit is not a survival fit, or ``times`` holds a negative or non-finite value.
    """
    design = result.built.design
    _require_survival(design.family, "predictive_survival")
    _check_survival_ipd(ipd)
    check_spec_columns(ipd, result.built.spec)
    grid = None if times is None else _time_grid(times)
    labels = list(design.studies if studies is None else studies)
    unknown = [s for s in labels if s not in design.studies]
    if unknown:
        raise IPDDataError(f"trial {unknown[0]!r} is not in the fit; its trials: {design.studies}")
    rng = np.random.default_rng(result.derived_seed("predictive_survival", seed))
    coef_all = coefficient_draws(result)
    index = _draw_index(coef_all.shape[0], draws, rng)
    coef = coef_all[index]
    log_h = log_hazard_draws(result)[index]
    q = ((1 - level) / 2, 0.5, (1 + level) / 2)
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {}
    for label in labels:
        k = design.studies.index(label)
        z = participant_design_rows(result, ipd, label)
        t_grid = grid if grid is not None else _default_times(ipd, _trial_rows(ipd, label))
        cum_h = cumulative_baseline_hazard(log_h[:, k, :], design.cutpoints, t_grid)
        # The intercept column (alpha_k) is already the first interval's log hazard.
        eta = coef[:, k, 1:] @ z[:, 1:].T  # (S, n)
        out[label] = {}
        for a, arm in enumerate(ARMS):
            surv = _mean_survival(cum_h, eta[:, z[:, 1] == a])
            low, median, high = np.quantile(surv, q, axis=0)
            out[label][arm] = tuple(readonly(v) for v in (t_grid, median, low, high))
    return out


def _time_grid(times: Any) -> np.ndarray:
    grid = np.asarray(times, dtype=np.float64).ravel()
    if grid.size == 0 or not np.all(np.isfinite(grid)) or (grid < 0).any():
        raise ValueError("times must be a non-empty array of finite times >= 0")
    return grid


def km_ppc(
    result: OneStageResult,
    ipd: IPD,
    *,
    times: Any = None,
    draws: int | None = 200,
    seed: int | None = None,
    level: float = 0.95,
    studies: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Kaplan-Meier curves of every trial and arm over their posterior predictive bands.

    Parameters are those of :func:`predictive_survival`; ``title`` is the figure's title.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per trial (:func:`bayes_ipd.plots.km_ppc_plot`).
    """
    predicted = predictive_survival(
        result, ipd, times=times, draws=draws, seed=seed, level=level, studies=studies
    )
    observed = observed_km(ipd, list(predicted))
    pct = f"{100 * level:g}%"
    default = f"Kaplan-Meier curves over the posterior expected survival ({pct} band)"
    return km_ppc_plot(observed, predicted, title=title or default)


# ------------------------------------------------------------------- interval events


def _group_matrix(design: Design) -> sparse.csr_matrix:
    """(cells, K·J·2) indicator summing cells into trial x interval x arm."""
    j = design.n_intervals
    arm = design.stats["cell_z"][:, 1].astype(np.int64)
    group = (design.stats["cell_study"] * j + design.stats["cell_interval"]) * 2 + arm
    cells = group.size
    return sparse.csr_matrix(
        (np.ones(cells), (np.arange(cells), group)), shape=(cells, design.k * j * 2)
    )


def expected_interval_events(
    design: Design, coef: np.ndarray, log_hazard: np.ndarray
) -> np.ndarray:
    """(S, K·J·2) expected events per trial, interval and arm, for each draw.

    ``sum_c E_c exp(log h_kj + z_c'b_k)`` over the cells of the group, where ``b_k`` leaves
    out the intercept: ``coef`` is (S, K, m) from
    :func:`~bayes_ipd.one_stage.draws.coefficient_draws`
    (its intercept column, ``alpha_k``, is ignored) and ``log_hazard`` (S, K, J) from
    :func:`~bayes_ipd.one_stage.draws.log_hazard_draws` (which already holds ``alpha_k``).
    """
    groups = _group_matrix(design)
    s = coef.shape[0]
    out = np.empty((s, groups.shape[1]))
    size = max(1, _BLOCK // max(len(design.stats["cell_n"]), 1))
    for start in range(0, s, size):
        block = slice(start, min(start + size, s))
        b = coef[block][:, design.stats["cell_study"], 1:]
        eta = np.einsum("cm,scm->sc", design.stats["cell_z"][:, 1:], b)
        eta = eta + log_hazard[block][:, design.stats["cell_study"], design.stats["cell_interval"]]
        rate = design.stats["cell_n"] * np.exp(np.minimum(eta, EXP_MAX))
        out[block] = np.asarray((groups.T @ rate.T).T)
    return out


def interval_event_ppc(
    result: OneStageResult,
    seed: int | None = None,
    *,
    draws: int | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Posterior predictive check of the events per trial, interval and arm.

    For each posterior draw the events of every (trial, interval, arm) are replicated as
    ``Poisson(sum_c E_c exp(log h_kj + z_c'b_k))`` over the group's exposure cells (a sum
    of independent Poisson counts is Poisson with the summed rate), for the observed
    exposure. It needs only the design's cells, so trials given as summaries are checked
    too. A misfitting baseline shows as p-values near 0 in some intervals and near 1 in
    others; non-proportional hazards as opposite patterns in the two arms.

    Parameters
    ----------
    result : OneStageResult
        A survival fit.
    seed : int, optional
        Seed of the replication; by default the sampler's seed + 4.
    draws : int, optional
        Use this many evenly spaced posterior draws (all by default).
    level : float
        Coverage of the replicated interval.

    Returns
    -------
    pandas.DataFrame
        One row per trial, interval and arm: ``study, interval`` (0-based),
        ``interval_label`` (``"[a, b)"``), ``arm, exposure, observed, rep_mean,
        rep_q025, rep_q975`` (with ``level=0.95``; the columns of
        :meth:`OneStageResult.ppc`), ``p_value`` = P(rep >= obs) and
        ``p_two_sided`` = min(1, 2 min(P(rep >= obs), P(rep <= obs))) (Gelman, Meng &
        Stern 1996).
    """
    design = result.built.design
    _require_survival(design.family, "interval_event_ppc")
    lo, hi = quantile_labels(level)
    rng = np.random.default_rng(result.derived_seed("interval_ppc", seed))
    coef = coefficient_draws(result)
    n = coef.shape[0]
    index = (
        np.arange(n)
        if draws is None or draws >= n
        else np.unique(np.linspace(0, n - 1, max(int(draws), 1)).round().astype(np.int64))
    )
    expected = expected_interval_events(design, coef[index], log_hazard_draws(result)[index])
    rep = rng.poisson(np.minimum(expected, 1e15)).astype(np.float64)
    groups = _group_matrix(design)
    observed = groups.T @ design.stats["cell_events"]
    exposure = groups.T @ design.stats["cell_n"]
    q_lo, q_hi = np.quantile(rep, [(1 - level) / 2, (1 + level) / 2], axis=0)
    ge = (rep >= observed).mean(axis=0)
    le = (rep <= observed).mean(axis=0)
    k, j = design.k, design.n_intervals
    labels = interval_labels(design.cutpoints)
    return pd.DataFrame(
        {
            "study": np.repeat(np.asarray(design.studies, dtype=object), j * 2),
            "interval": np.tile(np.repeat(np.arange(j), 2), k),
            "interval_label": np.tile(np.repeat(np.asarray(labels, dtype=object), 2), k),
            "arm": np.tile(np.asarray(ARMS, dtype=object), k * j),
            "exposure": exposure,
            "observed": observed,
            "rep_mean": rep.mean(axis=0),
            f"rep_{lo}": q_lo,
            f"rep_{hi}": q_hi,
            "p_value": ge,
            "p_two_sided": np.minimum(1.0, 2 * np.minimum(ge, le)),
        }
    )


def interval_event_ppc_plot(
    table: pd.DataFrame,
    *,
    studies: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Observed events per trial and interval over their replicated 95% intervals.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`interval_event_ppc` (with its default ``level``); only read.
    studies : sequence of str, optional
        Trials to draw (all by default; a few keep the figure short).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        :func:`bayes_ipd.plots.ppc_plot` with one row per trial and interval, the two
        arms side by side and the Bayesian p-values on the right.
    """
    rows = table if studies is None else table[table["study"].isin(list(studies))]
    if rows.empty:
        raise ValueError(f"no rows to draw for trials {list(studies or [])!r}")
    frame = rows.assign(study=rows["study"].astype(str) + "  " + rows["interval_label"])
    return ppc_plot(
        frame,
        statistic_label="Events in the interval",
        title=title or "Posterior predictive check: events per trial, interval and arm",
    )


# ------------------------------------------------------------------ hazard-ratio scale


def hazard_ratio_summary(
    result: OneStageResult, level: float = 0.95, seed: int | None = None
) -> pd.DataFrame:
    """Posterior summaries on the hazard-ratio scale, in one table.

    Parameters
    ----------
    result : OneStageResult
        A survival fit.
    level : float
        Coverage of the equal-tailed intervals.
    seed : int, optional
        Seed of the new-trial draws (:meth:`OneStageResult.predict_new_study`).

    Returns
    -------
    pandas.DataFrame
        Index ``parameter``: ``pooled HR`` (``exp(mu)``), ``HR in a new trial``
        (``exp(theta_new)``), ``HR ratio within: <term>`` and ``HR ratio across: <term>``
        (the factor by which the hazard ratio changes per unit of the effect modifier), and
        ``HR in <trial>`` (the shrunken ``exp(theta_k)``). Columns ``median, mean`` (of the
        hazard ratio itself), the interval (e.g. ``q025, q975``) and ``p_lt_1`` =
        P(ratio < 1).
    """
    _require_survival(result.family, "hazard_ratio_summary")
    post = result.idata.posterior
    design = result.built.design
    rows: list[tuple[str, np.ndarray]] = [
        ("pooled HR", _values(post["mu"])),
        ("HR in a new trial", _values(result.predict_new_study(seed))),
    ]
    for term in design.interaction_terms:
        for part in ("within", "across"):
            draws = post[f"gamma_{part}"].sel(interaction=term)
            rows.append((f"HR ratio {part}: {term}", _values(draws)))
    for study in design.studies:
        rows.append((f"HR in {study}", _values(post["theta"].sel(study=study))))
    lo, hi = quantile_labels(level)
    records = []
    for label, log_draws in rows:
        ratio = np.exp(log_draws)
        q = np.quantile(ratio, [(1 - level) / 2, 0.5, (1 + level) / 2])
        records.append(
            {
                "parameter": label,
                "median": float(q[1]),
                "mean": float(ratio.mean()),
                lo: float(q[0]),
                hi: float(q[2]),
                "p_lt_1": float(np.mean(log_draws < 0)),
            }
        )
    return pd.DataFrame.from_records(records).set_index("parameter")


def _values(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.values, dtype=np.float64).ravel()


# ------------------------------------------------------------------ event-free trials


def event_free_trials(design: Design) -> tuple[str, ...]:
    """Labels of the trials of a survival design without any event."""
    _require_survival(design.family, "event_free_trials", "design")
    events = arm_totals(design, "cell_events").sum(axis=1)
    return tuple(s for s, e in zip(design.studies, events, strict=True) if e == 0)


def warn_event_free_trials(design: Design) -> tuple[str, ...]:
    """Warn, naming them, about trials without events (see the module docstring).

    Returns the labels of those trials (empty when there are none).
    """
    empty = event_free_trials(design)
    if empty:
        names = ", ".join(repr(s) for s in empty)
        warnings.warn(
            f"trial(s) {names} have no events: in the one-stage model their baseline hazard "
            "is driven by its prior and their treatment effect by Normal(mu, tau); they add "
            "almost no information on the pooled log hazard ratio",
            UserWarning,
            stacklevel=2,
        )
    return empty
