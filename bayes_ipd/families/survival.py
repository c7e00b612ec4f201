"""The survival family: time to event, piecewise-exponential proportional hazards,
effect = log hazard ratio.

In trial ``k`` and interval ``j`` the hazard of a participant with design row ``z`` is
``h_kj exp(z'b_k)``; the baseline log hazard follows a random walk across intervals,
``log h_kj = alpha_k + sum_{l<=j} hazard_smoothing * step_kl`` with standard-normal steps and
``hazard_smoothing ~ half_normal(1)``, which shrinks neighbouring intervals together. Cut
points default to quantiles of the event times, so intervals hold similar numbers of events.

Sufficient statistics: per cell of identical (interval, design row) within a trial, the
events and the exposure time (exact). The log-likelihood is the Poisson kernel
``sum d (log h + z'b) - E exp(log h + z'b)`` without its ``d log E`` constant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from bayes_ipd.conventions import SCALES
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families.arm_replicates import ArmReplicates, cell_arm_replicates
from bayes_ipd.families.base import ResponseRole, draw_count, flat_draws
from bayes_ipd.families.binomial import LOG_SCALE_PRIORS
from bayes_ipd.families.cells import (
    CellFamily,
    arm_totals,
    cell_eta,
    draw_blocks,
    per_trial_sum,
    sum_arms,
    unique_cells,
)
from bayes_ipd.families.cox_periods import PeriodFit, fit_periods
from bayes_ipd.families.cox_zph import ZphResult, cox_zph
from bayes_ipd.families.network_arms import NetworkArmModel
from bayes_ipd.families.network_contrasts import (
    ExcludedTrial,
    TrialArms,
    TrialCovariates,
    adjusted_columns,
    factor_columns,
    refuse_or_exclude_eventless,
)
from bayes_ipd.families.regression import (
    Unfittable,
    check_design,
    quietly,
    separable,
    term_estimate,
)
from bayes_ipd.families.survival_exposure import (
    default_cutpoints,
    exposure_rows,
    weighted_exposure,
)
from bayes_ipd.families.survival_marginal import interval_sums, steps_marginal_loglik
from bayes_ipd.families.survival_time import (
    describe_settings,
    model_cutpoints,
    time_posterior_blocks,
    time_settings,
    treated_offset,
)

if TYPE_CHECKING:
    import xarray as xr

    from bayes_ipd.families.protocols import DesignLike, ModelSpecLike
    from bayes_ipd.families.quadrature import TrialDraws
    from bayes_ipd.prior_values import PriorSet

__all__ = [
    "SURVIVAL",
    "SurvivalFamily",
    "default_cutpoints",
    "hazard_walk",
    "replicate_survival",
    "split_exposure",
]

_POISSON_RATE_MAX = 1e15  # numpy's Poisson sampler refuses rates near 2**63
EXP_MAX = 700.0  # exp() of a larger number overflows float64
_MAX_SEPARATION_CONSTRAINTS = 200_000
"""Largest linear programme solved to detect a monotone Cox partial likelihood; beyond it
the fit's own convergence check decides."""


def split_exposure(
    time: np.ndarray, event: np.ndarray, cutpoints: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split follow-up into intervals: (row index, interval, exposure, event) per piece.

    Returns ``row`` (P,), ``interval`` (P,), and a (P, 2) array of exposure and event.
    """
    edges = np.concatenate([[0.0], np.asarray(cutpoints, dtype=np.float64), [np.inf]])
    n_int = edges.size - 1
    start = edges[:-1][None, :]
    stop = edges[1:][None, :]
    exposure = np.clip(np.minimum(time[:, None], stop) - start, 0.0, None)
    last = np.searchsorted(edges, time, side="left") - 1
    last = np.clip(last, 0, n_int - 1)
    at_risk = exposure > 0
    row, interval = np.nonzero(at_risk)
    ev = ((interval == last[row]) & (event[row] > 0)).astype(np.float64)
    return row, interval, np.column_stack([exposure[row, interval], ev])


def hazard_walk(params: xr.Dataset, design: DesignLike) -> np.ndarray:
    """(S, K, J) deviation of each interval's log hazard from the first (0 for the first):
    the random walk, or a spline baseline's ``log_hazard_walk``."""
    if "log_hazard_walk" in params:
        return flat_draws(params["log_hazard_walk"], "study", "interval")
    s, k = draw_count(params), design.k
    if design.n_intervals == 1:
        return np.zeros((s, k, 1))
    smooth = flat_draws(params["hazard_smoothing"])[:, None, None]
    steps = flat_draws(params["log_hazard_step"], "study", "step")
    walk = np.cumsum(smooth * steps, axis=2)
    return np.concatenate([np.zeros((s, k, 1)), walk], axis=2)


def baseline_log_hazard_steps(design: DesignLike) -> Any:
    """Random-walk deviations of each interval's log hazard from the first (K x J; PyMC)."""
    import pymc as pm
    import pytensor.tensor as pt

    k = design.k
    if design.n_intervals == 1:
        return pt.zeros((k, 1))
    smooth = pm.HalfNormal("hazard_smoothing", 1.0)
    step = pm.Normal("log_hazard_step", 0.0, 1.0, dims=("study", "step"))
    walk = pt.cumsum(smooth * step, axis=1)
    return pt.concatenate([pt.zeros((k, 1)), walk], axis=1)


def poisson_exposure_loglik(eta: Any, exposure: Any, events: Any, cell_study: Any, k: int) -> Any:
    """Piecewise-exponential log-likelihood per trial: ``d eta - E exp(eta)`` over cells."""
    import pytensor.tensor as pt

    return per_trial_sum(events * eta - exposure * pt.exp(eta), cell_study, k)


def replicate_survival(
    design: DesignLike,
    coef: np.ndarray,
    walk: np.ndarray,
    rng: np.random.Generator,
    offset: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Replicated total events per trial and arm (piecewise-exponential model).

    Parameters
    ----------
    design : DesignLike
        A survival design (exposure cells by interval).
    coef : numpy.ndarray
        (S, K, m) coefficient draws (the intercept is the first interval's log hazard).
    walk : numpy.ndarray
        (S, K, J) deviation of each interval's log hazard from the first.
    rng : numpy.random.Generator
    offset : numpy.ndarray, optional
        (S, K, J) what a treated cell adds to ``z'b`` in each interval (a time-varying
        effect: :func:`~bayes_ipd.families.survival_time.treated_offset`).

    Returns
    -------
    dict
        ``{"events": (S, K, 2)}``. Rates are capped at 1e15 so that draws from a wide
        prior stay finite.
    """
    st = design.stats
    out = np.empty((coef.shape[0], design.k, 2))
    for block in draw_blocks(coef.shape[0], len(st["cell_n"])):
        eta = cell_eta(design, coef[block])
        eta = eta + walk[block][:, st["cell_study"], st["cell_interval"]]
        if offset is not None:
            cell = offset[block][:, st["cell_study"], st["cell_interval"]]
            eta = eta + cell * st["cell_z"][:, 1]
        rate = st["cell_n"] * np.exp(np.minimum(eta, EXP_MAX))
        events = rng.poisson(np.minimum(rate, _POISSON_RATE_MAX)).astype(np.float64)
        out[block] = sum_arms(events, design)
    return {"events": out}


def _interval_groups(design: DesignLike) -> sparse.csr_matrix:
    """(cells, K·J·2) indicator summing cells into trial x interval x arm."""
    st = design.stats
    j = design.n_intervals
    group = (st["cell_study"] * j + st["cell_interval"]) * 2 + st["cell_z"][:, 1].astype(np.int64)
    cells = group.size
    return sparse.csr_matrix(
        (np.ones(cells), (np.arange(cells), group)), shape=(cells, design.k * j * 2)
    )


def _risk_set_differences(time: np.ndarray, event: np.ndarray, x: np.ndarray) -> np.ndarray | None:
    """Rows ``x_i - x_j`` (event ``i``, ``j`` at risk at its time) on distinct design rows.

    None when there would be more than ``_MAX_SEPARATION_CONSTRAINTS`` of them.
    """
    blocks: list[np.ndarray] = []
    total = 0
    for t in np.unique(time[event == 1.0]):
        failing = np.unique(x[(time == t) & (event == 1.0)], axis=0)
        at_risk = np.unique(x[time >= t], axis=0)
        total += len(failing) * len(at_risk)
        if total > _MAX_SEPARATION_CONSTRAINTS:
            return None
        blocks.append((failing[:, None, :] - at_risk[None, :, :]).reshape(-1, x.shape[1]))
    return np.concatenate(blocks)


def _beyond_ph(params: xr.Dataset) -> bool:
    """Draws of a time-varying effect or a spline baseline."""
    return "log_hr_interval" in params or "log_hazard_walk" in params


def _refuse_marginal(params: xr.Dataset) -> None:
    """A time-varying effect or a spline baseline has more own parameters per trial than
    the quadrature over ``(alpha_k, theta_k)`` integrates out."""
    if _beyond_ph(params):
        raise NotImplementedError(
            "the marginal leave-one-trial-out LOO integrates (alpha_k, theta_k) and a random "
            "walk; a time-varying effect or a spline baseline has other per-trial "
            "parameters: use loo(marginal=False)"
        )


def _check_cox_design(time: np.ndarray, event: np.ndarray, x: np.ndarray, names: Any) -> None:
    """Refuse a singular design or a monotone partial likelihood (separation)."""
    check_design(x, names, min_residual_df=0)
    differences = _risk_set_differences(time, event, x)
    if differences is not None and separable(differences):
        raise Unfittable(
            "monotone partial likelihood (separation): the hazard ratio estimate is infinite"
        )


def _crude_log_rates(events: np.ndarray, exposure: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ev = events + 0.5
    return np.log(ev / exposure), 1 / ev


@dataclass(frozen=True)
class SurvivalFamily(CellFamily):
    """Time-to-event outcome; piecewise-constant baseline hazard per trial."""

    def cutpoints(self, event_times: np.ndarray, intervals: Any) -> tuple[float, ...]:
        """Explicit cut points, or ``intervals`` event-time quantiles."""
        if isinstance(intervals, int):
            return default_cutpoints(event_times, intervals)
        return tuple(float(c) for c in intervals)

    def model_cutpoints(self, event_times: np.ndarray, spec: ModelSpecLike) -> tuple[float, ...]:
        """:meth:`cutpoints` (or a spline baseline's grid) with the period cut points
        added (:func:`~bayes_ipd.families.survival_time.model_cutpoints`)."""
        settings = time_settings(spec)
        base = () if settings.baseline == "spline" else self.cutpoints(event_times, spec.intervals)
        return model_cutpoints(base, event_times, settings)

    def trial_statistics(
        self,
        z: np.ndarray,
        arm: np.ndarray,
        responses: Mapping[str, np.ndarray],
        cutpoints: Sequence[float],
    ) -> dict[str, np.ndarray]:
        """Events and exposure per cell of identical (interval, design row)."""
        row, interval, expo_ev = split_exposure(responses["time"], responses["event"], cutpoints)
        keys = np.column_stack([interval.astype(np.float64), z[row]])
        cells, inverse = unique_cells(keys)
        return {
            "cell_z": cells[:, 1:],
            "cell_n": np.bincount(inverse, weights=expo_ev[:, 0], minlength=len(cells)),
            "cell_events": np.bincount(inverse, weights=expo_ev[:, 1], minlength=len(cells)),
            "cell_interval": cells[:, 0].astype(np.int64),
        }

    def crude_arm_levels(
        self, events: np.ndarray, at_risk: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Log event rate with 0.5 added to every event count (crude log rate ratio)."""
        return _crude_log_rates(events, at_risk)

    def default_prior_params(
        self, outcome_sd: float | None, outcome_mean: float | None
    ) -> dict[str, tuple[str, tuple[float, ...]]]:
        """Log-hazard-scale defaults (:data:`~bayes_ipd.families.binomial.LOG_SCALE_PRIORS`)."""
        return dict(LOG_SCALE_PRIORS)

    def coords(self, design: DesignLike) -> dict[str, list]:
        """``interval`` and ``step`` (the random walk's steps)."""
        j = design.n_intervals
        return {"interval": list(range(j)), "step": list(range(1, j))}

    def data_arrays(self, design: DesignLike) -> dict[str, np.ndarray]:
        """The exposure cells grouped by design row
        (:func:`~bayes_ipd.families.survival_exposure.exposure_rows`)."""
        return exposure_rows(design.stats, design.k, design.n_intervals, design.cutpoints)

    def loglik(
        self, design: DesignLike, spec: ModelSpecLike, priors: PriorSet, coef: Any, data: Mapping
    ) -> Any:
        """Piecewise-exponential log-likelihood per trial, by design row (fast path).

        With ``eta_r = z_r'b_k`` and the walk ``w_kj`` of the baseline log hazard, the
        Poisson kernel over cells ``(r, j)`` is ``sum_r [D_r eta_r - exp(eta_r) H_r] +
        sum_j D_kj w_kj`` with ``H_r = sum_j E_rj exp(w_kj)``: one ``exp(z'b)`` per design
        row (participant, with a continuous covariate) instead of one per person-interval,
        and ``H_r`` from the cumulative baseline hazard wherever the row's follow-up allows
        (:mod:`~bayes_ipd.families.survival_exposure`); the sum over rows is one fused
        kernel with its gradient (:mod:`~bayes_ipd.families.kernels`).
        """
        import pytensor.tensor as pt

        from bayes_ipd.families.kernels import exposure_kernel

        settings = time_settings(spec)
        aggregate = getattr(design, "aggregate", None)  # a hybrid design's AD trials
        if settings.time_varying and aggregate is not None and aggregate.k:
            raise IPDDataError(
                "aggregate-data trials report one hazard ratio, which a treatment effect "
                "that changes with time (model.treatment_by_interval or model.treatment_time) "
                "cannot pool; fit the trials with participant rows or summaries alone"
            )
        if not settings.is_default:
            from bayes_ipd.families.survival_time_model import (
                free_walk,
                spline_walk,
                time_varying_loglik,
            )

            if settings.baseline == "spline":
                walk = spline_walk(design, settings.knots)
            else:  # a time-varying effect: free offsets, not the shrunken walk
                walk = free_walk(design)
            return time_varying_loglik(design, settings, priors, coef, data, walk)
        walk = baseline_log_hazard_steps(design)
        exposure = weighted_exposure(pt.exp(walk), data, data["row_study"].shape[0])
        rows = exposure_kernel(coef, data["row_z"], data["row_study"], data["row_events"], exposure)
        return rows + (data["interval_events"] * walk).sum(axis=1)

    def cell_kernel(self, eta: np.ndarray, n: np.ndarray, events: np.ndarray) -> np.ndarray:
        """``d eta - E exp(eta)`` (numpy; for the marginal leave-one-trial-out LOO)."""
        return events * eta - n * np.exp(np.minimum(eta, EXP_MAX))

    def cell_offset(self, design: DesignLike, trial: int, draws: TrialDraws) -> np.ndarray:
        """(S, C) the baseline log hazard's walk from the first interval, at its draws
        (:meth:`trial_loglik` conditions on the walk steps; :meth:`marginal_trial_loglik`
        integrates them out)."""
        _refuse_marginal(draws.params)
        sel = design.stats["cell_study"] == trial
        walk = hazard_walk(draws.params, design)[:, trial, :]
        return walk[:, design.stats["cell_interval"][sel]]

    def marginal_trial_loglik(
        self, design: DesignLike, trial: int, draws: TrialDraws
    ) -> np.ndarray:
        """(S,) the trial's log-likelihood with ``(alpha_k, theta_k)`` and its baseline
        hazard's walk steps integrated out: Laplace over the steps (their standard-normal
        prior, :mod:`bayes_ipd.families.survival_marginal`) inside the adaptive
        Gauss-Hermite quadrature over ``(alpha_k, theta_k)``."""
        _refuse_marginal(draws.params)
        st = design.stats
        sel = st["cell_study"] == trial
        z = st["cell_z"][sel]
        sums = interval_sums(
            draws.coef[:, trial, 2:] @ z[:, 2:].T,
            z[:, 1],
            st["cell_n"][sel],
            st["cell_events"][sel],
            st["cell_interval"][sel].astype(np.int64),
            design.n_intervals,
        )
        if design.n_intervals == 1:
            smooth = np.zeros(draws.n_draws)
        else:
            smooth = flat_draws(draws.params["hazard_smoothing"])
        return draws.integrate(trial, lambda own: steps_marginal_loglik(sums, smooth, own))

    def design_lines(self, design: DesignLike) -> list[str]:
        """The baseline hazard's intervals."""
        return [f"Baseline hazard: piecewise constant on {design.n_intervals} intervals"]

    def spec_lines(self, design: DesignLike, spec: ModelSpecLike) -> list[str]:
        """A time-varying effect, a spline baseline, periods without events
        (:func:`~bayes_ipd.families.survival_time.describe_settings`)."""
        return describe_settings(design, time_settings(spec))

    def marginal_loo_fits(self, posterior: xr.Dataset) -> bool:
        """Not with a time-varying effect or a spline baseline (their other per-trial
        parameters are not integrated out): ``loo()`` is then conditional."""
        return not _beyond_ph(posterior)

    def posterior_blocks(
        self, design: DesignLike, spec: ModelSpecLike, posterior: xr.Dataset
    ) -> dict[str, Any]:
        """``effect_by_interval`` and ``tau_by_interval`` of a per-period model; the
        log-time interaction as ``effect_log_time`` (with its ``reference_time``)."""
        return time_posterior_blocks(design, posterior)

    def observed_statistics(self, design: DesignLike) -> dict[str, np.ndarray]:
        """Total events per trial and arm."""
        return {"events": arm_totals(design, "cell_events")}

    def replicate(
        self, design: DesignLike, params: xr.Dataset, coef: np.ndarray, index: np.ndarray, rng: Any
    ) -> dict[str, np.ndarray]:
        """Replicated events per trial and arm (:func:`replicate_survival`)."""
        offset = treated_offset(params, design)
        offset = None if offset is None else offset[index]
        return replicate_survival(design, coef, hazard_walk(params, design)[index], rng, offset)

    def arm_replicates(
        self,
        design: DesignLike,
        params: xr.Dataset,
        coef: np.ndarray,
        arm_columns: Sequence[int],
        rng: np.random.Generator,
    ) -> ArmReplicates:
        """Events per trial and arm (summed over the baseline intervals): the sum over the
        arm's cells of (interval, design row) of ``Poisson(E_c exp(z_c'b_k + w_kj))``, the
        person-time ``E_c`` held fixed (``w``: the baseline's walk; proportional hazards),
        drawn as one Poisson count of the summed mean
        (:mod:`~bayes_ipd.families.arm_replicates`)."""
        st = design.stats
        walk = hazard_walk(params, design)  # (S, K, J), indexed per block of draws

        def mean(eta: np.ndarray, block: slice) -> np.ndarray:
            eta = eta + walk[block][:, st["cell_study"], st["cell_interval"]]
            return st["cell_n"] * np.exp(np.minimum(eta, EXP_MAX))

        def draw(total: np.ndarray) -> np.ndarray:
            return rng.poisson(np.minimum(total, _POISSON_RATE_MAX)).astype(np.float64)

        return cell_arm_replicates(
            "events", st, coef, arm_columns, mean, design.k, st["cell_events"], finish=draw
        )

    def interval_totals(self, design: DesignLike) -> tuple[np.ndarray, np.ndarray]:
        """Observed events and exposure per trial, interval and arm.

        Returns
        -------
        tuple of numpy.ndarray
            Events and exposure, each (K·J·2,): trial-major, then interval, then arm
            (control, treated); the order of :meth:`expected_interval_events`.
        """
        groups = _interval_groups(design)
        return groups.T @ design.stats["cell_events"], groups.T @ design.stats["cell_n"]

    def expected_interval_events(
        self,
        design: DesignLike,
        coef: np.ndarray,
        log_hazard: np.ndarray,
        offset: np.ndarray | None = None,
    ) -> np.ndarray:
        """(S, K·J·2) expected events per trial, interval and arm, for each draw.

        ``sum_c E_c exp(log h_kj + z_c'b_k)`` over the cells of the group, where ``b_k``
        leaves out the intercept: ``coef`` is (S, K, m) coefficient draws (its intercept
        column, ``alpha_k``, is ignored) and ``log_hazard`` (S, K, J) the baseline log
        hazards (which already hold ``alpha_k``); ``offset`` (S, K, J) what a treated cell
        adds in each interval under a time-varying effect
        (:func:`~bayes_ipd.families.survival_time.treated_offset`).
        """
        st = design.stats
        groups = _interval_groups(design)
        out = np.empty((coef.shape[0], groups.shape[1]))
        for block in draw_blocks(coef.shape[0], len(st["cell_n"])):
            b = coef[block][:, st["cell_study"], 1:]
            eta = np.einsum("cm,scm->sc", st["cell_z"][:, 1:], b)
            eta = eta + log_hazard[block][:, st["cell_study"], st["cell_interval"]]
            if offset is not None:
                cell = offset[block][:, st["cell_study"], st["cell_interval"]]
                eta = eta + cell * st["cell_z"][:, 1]
            rate = st["cell_n"] * np.exp(np.minimum(eta, EXP_MAX))
            out[block] = np.asarray((groups.T @ rate.T).T)
        return out

    def fit_trial(
        self, responses: Mapping[str, np.ndarray], x: np.ndarray, names: Sequence[str], term: int
    ) -> tuple[float, float]:
        """Cox regression with Efron's ties (statsmodels ``PHReg``), inverse-information SE."""
        from statsmodels.duration.hazard_regression import PHReg

        time, event = responses["time"], responses["event"]
        _check_cox_design(time, event, x, names)
        fit = quietly(lambda: PHReg(time, x, status=event, ties="efron").fit())
        return term_estimate(fit.params, fit.bse, term)

    def proportionality_test(
        self, responses: Mapping[str, np.ndarray], x: np.ndarray, names: Sequence[str]
    ) -> ZphResult:
        """Grambsch-Therneau test (R ``cox.zph(fit, transform = "km")``) of the stage-one
        Cox model (Efron ties)."""
        from statsmodels.duration.hazard_regression import PHReg

        time, event = responses["time"], responses["event"]
        check_design(x, names, min_residual_df=0)  # separation: stage one's check decides
        fit = quietly(lambda: PHReg(time, x, status=event, ties="efron").fit())
        try:
            return cox_zph(time, event, x, fit.params, names, ties="efron")
        except np.linalg.LinAlgError as exc:
            raise Unfittable(
                f"the proportional-hazards test is undefined here (singular information: {exc}; "
                "e.g. every event at one time)"
            ) from exc

    def fit_trial_by_period(
        self,
        responses: Mapping[str, np.ndarray],
        x: np.ndarray,
        names: Sequence[str],
        term: int,
        cuts: Sequence[float],
    ) -> tuple[PeriodFit, ...]:
        """One log hazard ratio per period: Cox on episode-split data (Efron ties)."""
        return fit_periods(responses["time"], responses["event"], x, names, term, cuts)


NETWORK_INTERVALS = 4
"""Baseline intervals of the survival network model: cut at the quartiles of the event
times (:func:`default_cutpoints`)."""


@dataclass(frozen=True)
class SurvivalArms(NetworkArmModel):
    """Network arms of time-to-event data: events and exposure per arm and interval of a
    piecewise-exponential baseline, ``sum_j [d_j eta_j - E_j e^eta_j]`` (exact; the
    baseline ``alpha`` [study, interval])."""

    def sums(self, row_arm: np.ndarray, a: int, roles: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """(A, J) events and exposure, and the interior ``cutpoints``."""
        time, event = roles["time"], roles["event"]
        cuts = default_cutpoints(time[event > 0], NETWORK_INTERVALS)
        row, interval, pieces = split_exposure(time, event, cuts)
        j = len(cuts) + 1
        cell = row_arm[row] * j + interval
        shape = (a, j)
        return {
            "events": np.bincount(cell, weights=pieces[:, 1], minlength=a * j).reshape(shape),
            "exposure": np.bincount(cell, weights=pieces[:, 0], minlength=a * j).reshape(shape),
            "cutpoints": cuts,
        }

    def coords(self, stats: Mapping[str, np.ndarray], cutpoints: tuple[float, ...]) -> dict:
        """``interval``: ``"[a, b)"`` per baseline interval."""
        edges = [0.0, *cutpoints]
        ends = [*edges[1:], np.inf]
        return {"interval": [f"[{a:g}, {b:g})" for a, b in zip(edges, ends, strict=True)]}

    def loglik(self, eta: Any, data: Mapping[str, Any], priors: Any, hyper: Any) -> Any:
        """``sum_j [d_j eta_j - E_j e^eta_j]`` per arm (``eta`` (A, J))."""
        import pytensor.tensor as pt

        return (data["events"] * eta - data["exposure"] * pt.exp(eta)).sum(axis=1)

    def loglik_numpy(
        self, stats: Mapping[str, np.ndarray], arm_study: np.ndarray, eta: np.ndarray, nuisance: Any
    ) -> np.ndarray:
        """(..., A) ``sum_j [d_j eta_j - E_j e^eta_j]`` from ``eta`` (..., A, J)."""
        return (stats["events"] * eta - stats["exposure"] * np.exp(eta)).sum(axis=-1)

    def saturated(self, stats: Mapping[str, np.ndarray]) -> np.ndarray:
        """The Poisson form at each arm's and interval's observed rate ``d_j / E_j``:
        ``sum_j [d_j log(d_j / E_j) - d_j]`` (``0`` where ``d_j = 0``)."""
        d, e = stats["events"], stats["exposure"]
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.where(d > 0, d * np.log(d / e), 0.0) - d).sum(axis=-1)

    def replicate(
        self,
        stats: Mapping[str, np.ndarray],
        arm_study: np.ndarray,
        eta: np.ndarray,
        nuisance: Any,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """(S, A) events per arm: ``sum_j Poisson(E_j e^eta_j)``, the observed person-time
        ``E_j`` held fixed (the Poisson form of the piecewise-exponential likelihood)."""
        return rng.poisson(stats["exposure"] * np.exp(eta)).sum(axis=-1).astype(float)

    def observed(self, stats: Mapping[str, np.ndarray]) -> np.ndarray:
        """(A,) events per arm, summed over the intervals."""
        return np.asarray(stats["events"]).sum(axis=-1)

    def eta_derivatives(
        self, stats: Mapping[str, np.ndarray], eta: np.ndarray, nuisance: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """``d_j - E_j e^eta_j`` and ``-E_j e^eta_j`` per arm and interval."""
        rate = stats["exposure"] * np.exp(eta)
        return stats["events"] - rate, -rate

    def mean_link(self) -> tuple[Any, Any]:
        """The hazard per arm and interval: ``exp`` and ``log``."""
        return np.exp, np.log


SURVIVAL_ARMS = SurvivalArms(
    "survival", ("events", "exposure"), replicated="events", baseline_dims=("interval",)
)
"""The survival family's arm-level network model."""


def network_log_hazard_ratios(
    trial: TrialArms, sparse: str | None, covariates: TrialCovariates | None = None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Cox regression on the treatment factor (Efron ties, statsmodels ``PHReg``, as the
    two-arm stage one): log hazard ratios and their inverse-information covariance. An arm
    without events has no finite log hazard ratio: refused (``sparse=None``) or its trial
    excluded (no correction applies). With covariates (centred within the trial) the same
    Cox model on :func:`~bayes_ipd.families.network_contrasts.adjusted_columns`: the factor's
    and the interactions' coefficients."""
    from statsmodels.duration.hazard_regression import PHReg

    time, event = trial.responses["time"], trial.responses["event"]
    events = np.bincount(trial.arm_index, weights=event, minlength=len(trial.arms))
    refuse_or_exclude_eventless(trial, events, sparse, effect="hazard ratio", model="a Cox model")
    if covariates is None:
        fit = PHReg(time, factor_columns(trial), status=event, ties="efron").fit()
        return np.asarray(fit.params, dtype=float), np.asarray(fit.cov_params(), dtype=float), False
    k = covariates.terms(len(trial.arms))
    fit = PHReg(time, adjusted_columns(trial, covariates), status=event, ties="efron").fit()
    estimate = np.asarray(fit.params, dtype=float)[:k]
    cov = np.asarray(fit.cov_params(), dtype=float)[:k, :k]
    if not (np.isfinite(estimate).all() and np.isfinite(cov).all()):
        raise ExcludedTrial("the covariate-adjusted Cox regression gave non-finite estimates")
    return estimate, cov, False


SURVIVAL = SurvivalFamily(
    name="survival",
    data_kind="time-to-event data",
    scale=SCALES["logHR"],
    responses=(
        ResponseRole("time", "the follow-up time column", "survival time", "positive"),
        ResponseRole("event", "the 0/1 event indicator column", "event", "binary", integer=True),
    ),
    event_role="event",
    warn_event_free=True,
    statistics=("cell_z", "cell_n", "cell_events", "cell_interval"),
    integer_statistics=("cell_interval",),
    stage_one_model="Cox regression (Efron ties)",
    ppc_statistics=(("events", "Events"),),
    has_baseline_hazard=True,
    network_arms=SURVIVAL_ARMS,
    network_contrasts=network_log_hazard_ratios,
)
