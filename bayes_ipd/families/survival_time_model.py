"""The PyMC graph of a survival model beyond proportional hazards (one-stage).

What :mod:`bayes_ipd.families.survival_time` describes, as model variables:

* per-period effect: ``mu_later``, ``tau_later`` [later_period] and the non-centred
  ``theta_later_z`` [study, later_period] for periods 2.. (period 1 is the model's ``mu``,
  ``tau``, ``theta``); ``mu_period``, ``tau_period`` [period] and ``theta_period``
  [study, period] the deterministic collections of every period (coordinate ``period`` =
  each period's start time);
* log-time interaction: ``gamma_log_time``;
* both: ``log_hr_interval`` [study, interval], the log hazard ratio per trial and baseline
  interval;
* piecewise baseline under a time-varying effect: ``log_hazard_offset`` [study, step],
  independent offsets of each interval's log hazard from the first (:func:`free_walk`; not
  the proportional-hazards model's shrunken random walk) and ``log_hazard_walk``;
* spline baseline: ``baseline_spline_mean`` [spline_term], ``baseline_spline_sd``,
  ``baseline_spline_z`` [study, spline_term] and ``log_hazard_walk`` [study, interval]
  (``log h_kj - alpha_k``, 0 in the first interval).

Data containers besides the design's: ``log_time_centred`` (J,) the intervals'
representative log times minus the reference, ``baseline_spline_basis`` (J, m) the spline
basis at them (minus its first row), and ``arm_<name>`` the arm-split exposure rows. The
numbers of periods, knots and intervals are fixed dimensions, so the compiled program (and
its cache key, :mod:`bayes_ipd.one_stage.fingerprint`) changes with them.

The likelihood is the same exact Poisson kernel on cells of (trial, interval, design row)
as the proportional-hazards model. With a time-varying effect a treated row's baseline
hazard is ``h_kj exp(d_kj)`` (``d_kj`` the log hazard ratio minus ``theta_k``), so the
exposure of each design row is weighted by an arm-specific hazard: the fast path of
:mod:`bayes_ipd.families.survival_exposure` runs on groups (trial, arm) instead of trials
(:func:`arm_exposure_rows`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bayes_ipd.families.survival_exposure import exposure_rows, weighted_exposure
from bayes_ipd.families.survival_time import (
    TimeSettings,
    empty_periods,
    interval_periods,
    knot_log_times,
    log_time_reference,
    representative_log_times,
)
from bayes_ipd.prior_values import tau_to_pymc
from bayes_ipd.spline_basis import rcs_basis

if TYPE_CHECKING:
    from bayes_ipd.families.protocols import DesignLike
    from bayes_ipd.prior_values import Prior, PriorSet

__all__ = [
    "arm_exposure_rows",
    "free_walk",
    "log_time_offset",
    "period_offset",
    "spline_walk",
    "time_varying_loglik",
]

ARM_PREFIX = "arm_"
"""Data containers of the arm-split exposure rows are named ``arm_<name>``."""


def slot_params(slot: str, prior: Prior) -> list[Any]:
    """The numbers of ``prior`` from the model's ``prior_<slot>`` data container (created
    when the model has none yet), as the builder shares them between a slot's variables."""
    import pymc as pm

    model = pm.modelcontext(None)
    name = f"prior_{slot}"
    box = model.named_vars.get(name)
    if box is None:
        box = pm.Data(name, np.asarray(prior.params, dtype=float))
    return [box[i] for i in range(len(prior.params))]


def arm_exposure_rows(
    stats: Mapping[str, np.ndarray], k: int, j: int, cutpoints: Sequence[float]
) -> dict[str, np.ndarray]:
    """:func:`~bayes_ipd.families.survival_exposure.exposure_rows` on (trial, arm) groups.

    The group of a cell is ``2 k + arm`` (``cell_z``'s column 1 is the 0/1 treatment), so
    ``prefix_study`` / ``pair_study`` index a (2K, J) hazard table; ``row_study`` is mapped
    back to the trial (for ``z'b_k``); ``interval_events`` is (2K, J), control and treated
    rows of each trial interleaved.
    """
    arm = stats["cell_z"][:, 1].astype(np.int64)
    grouped = dict(stats)
    grouped["cell_study"] = 2 * stats["cell_study"] + arm
    out = exposure_rows(grouped, 2 * k, j, cutpoints)
    out["row_study"] = out["row_study"] // 2
    return out


def _arm_hazard(walk: Any, offset: Any, j: int) -> Any:
    """(2K, J) ``exp(walk)`` (control) and ``exp(walk + offset)`` (treated), interleaved."""
    import pytensor.tensor as pt

    return pt.stack([pt.exp(walk), pt.exp(walk + offset)], axis=1).reshape((-1, j))


def period_offset(
    design: DesignLike, priors: PriorSet, theta: Any, period_cuts: Sequence[float], studies: Any
) -> Any:
    """(K, J) each trial's log hazard ratio in each interval minus ``theta_k`` (the first
    period's effect), with the per-period variables added to the current model."""
    import pymc as pm
    import pytensor.tensor as pt

    model = pm.modelcontext(None)
    starts = [0.0, *period_cuts]
    model.add_coord("period", starts)
    model.add_coord("later_period", starts[1:])
    mu_later = priors.effect.to_pymc(
        "mu_later", dims="later_period", params=slot_params("effect", priors.effect)
    )
    tau_later = tau_to_pymc(
        priors.tau, name="tau_later", dims="later_period", params=slot_params("tau", priors.tau)
    )
    z = pm.Normal("theta_later_z", 0.0, 1.0, dims=("study", "later_period"))
    later = mu_later[None, :] + tau_later[None, :] * z
    every = pt.concatenate([theta[:, None], later], axis=1)
    pm.Deterministic("mu_period", pt.concatenate([model["mu"][None], mu_later]), dims="period")
    pm.Deterministic("tau_period", pt.concatenate([model["tau"][None], tau_later]), dims="period")
    pm.Deterministic("theta_period", every, dims=("study", "period"))
    periods = interval_periods(design.cutpoints, period_cuts)
    log_hr = every[:, periods]
    pm.Deterministic("log_hr_interval", log_hr, dims=("study", "interval"))
    empty = empty_periods(design, studies, period_cuts)
    if empty:
        warnings.warn(
            "periods without events: "
            + "; ".join(empty)
            + ". Their effects are identified through the hierarchy alone (shrunk to the "
            "period's mean mu_p, itself informed by the other trials)",
            UserWarning,
            stacklevel=2,
        )
    return log_hr - theta[:, None]


def log_time_offset(design: DesignLike, priors: PriorSet, theta: Any) -> Any:
    """(K, J) ``gamma (x_j - x0)``: the log-time interaction at each interval's
    representative log time ``x_j`` (:func:`~bayes_ipd.families.survival_time.
    representative_log_times`), ``x0`` the reference (``log_time_reference``)."""
    import pymc as pm
    import pytensor.tensor as pt

    prior = priors.interactions
    gamma = prior.to_pymc("gamma_log_time", params=slot_params("interactions", prior))
    x = representative_log_times(design.cutpoints) - log_time_reference(design)
    offset = gamma * pm.Data("log_time_centred", x)[None, :] * pt.ones((theta.shape[0], 1))
    pm.Deterministic("log_hr_interval", theta[:, None] + offset, dims=("study", "interval"))
    return offset


FREE_STEP_SD = 2.5
"""Prior SD of each interval's log hazard relative to the trial's first interval, when a
time-varying effect sits on a piecewise baseline (:func:`free_walk`)."""


def free_walk(design: DesignLike) -> Any:
    """(K, J) ``log h_kj - alpha_k`` with independent ``Normal(0, 2.5)`` offsets per trial
    and interval (``log_hazard_offset`` [study, step]; 0 in the first interval).

    The proportional-hazards model's random walk shrinks neighbouring intervals together
    (one ``hazard_smoothing`` for all trials); under a time-varying effect that shrinkage
    leaks into the effects: a baseline pulled toward flat is too high early and too low
    late for a rising hazard, and the per-period effects absorb it (measured on the
    crossing-hazards design: the first period's posterior mean 0.13 below the maximum
    likelihood estimate on average, the last 0.06 above; docs/survival.md). Free offsets
    make each period's effect a within-interval comparison of the arms, as in a Poisson
    regression with one baseline per trial and interval.
    """
    import pymc as pm
    import pytensor.tensor as pt

    k = design.k
    if design.n_intervals == 1:
        return pm.Deterministic("log_hazard_walk", pt.zeros((k, 1)), dims=("study", "interval"))
    offset = pm.Normal("log_hazard_offset", 0.0, FREE_STEP_SD, dims=("study", "step"))
    walk = pt.concatenate([pt.zeros((k, 1)), offset], axis=1)
    return pm.Deterministic("log_hazard_walk", walk, dims=("study", "interval"))


def spline_walk(design: DesignLike, knots: int | tuple[float, ...]) -> Any:
    """(K, J) ``log h_kj - alpha_k`` of a restricted-cubic-spline baseline in log time.

    ``s_k'(B(x_j) - B(x_1))`` with ``B`` :func:`~bayes_ipd.spline_basis.rcs_basis` at the
    knots (:func:`~bayes_ipd.families.survival_time.knot_log_times`), ``x_j`` the intervals'
    representative log times, ``s_k = s + sd * z_k`` (``s ~ Normal(0, 1)`` per term,
    ``sd ~ half_normal(1)``, ``z_k`` standard normal): trials share a shape and deviate
    from it as much as their events say.
    """
    import pymc as pm
    import pytensor.tensor as pt

    x = representative_log_times(design.cutpoints)
    basis = rcs_basis(x, knot_log_times(design, knots))
    basis = basis - basis[:1]
    model = pm.modelcontext(None)
    model.add_coord("spline_term", list(range(basis.shape[1])))
    mean = pm.Normal("baseline_spline_mean", 0.0, 1.0, dims="spline_term")
    sd = pm.HalfNormal("baseline_spline_sd", 1.0)
    z = pm.Normal("baseline_spline_z", 0.0, 1.0, dims=("study", "spline_term"))
    # the number of spline terms is structure: a fixed shape, so it enters the cache key
    values = pt.specify_shape(pm.Data("baseline_spline_basis", basis), (None, basis.shape[1]))
    walk = pt.dot(mean[None, :] + sd * z, values.T)
    return pm.Deterministic("log_hazard_walk", walk, dims=("study", "interval"))


def time_varying_loglik(
    design: DesignLike,
    settings: TimeSettings,
    priors: PriorSet,
    coef: Any,
    data: Mapping[str, Any],
    walk: Any,
) -> Any:
    """Per-trial log-likelihood with the baseline walk ``walk`` (K, J) and, when the
    settings make it time-varying, the treatment offsets of :func:`period_offset` or
    :func:`log_time_offset`.

    ``sum_r [D_r eta_r - exp(eta_r) H_r] + sum_kj D_kj w_kj + sum_kj D1_kj d_kj`` with
    ``H_r`` the row's exposure weighted by its arm's hazard and ``D1`` the treated arm's
    events: the Poisson kernel of every (trial, interval, design row) cell, exactly.
    """
    import pymc as pm

    from bayes_ipd.families.kernels import exposure_kernel

    rows_of = data
    theta = coef[:, 1]
    if settings.treatment_by_interval:
        studies = pm.modelcontext(None).coords["study"]
        offset = period_offset(design, priors, theta, settings.treatment_by_interval, studies)
    elif settings.treatment_time == "log":
        offset = log_time_offset(design, priors, theta)
    else:
        offset = None
    j = design.n_intervals
    if offset is None:
        hazard = pm.math.exp(walk)
        treated_term = 0.0
    else:
        arrays = arm_exposure_rows(design.stats, design.k, j, design.cutpoints)
        rows_of = {name: pm.Data(f"{ARM_PREFIX}{name}", v) for name, v in arrays.items()}
        hazard = _arm_hazard(walk, offset, j)
        treated_term = (rows_of["interval_events"][1::2] * offset).sum(axis=1)
    exposure = weighted_exposure(hazard, rows_of, rows_of["row_study"].shape[0])
    rows = exposure_kernel(
        coef, rows_of["row_z"], rows_of["row_study"], rows_of["row_events"], exposure
    )
    return rows + (data["interval_events"] * walk).sum(axis=1) + treated_term
