"""Each arm's piecewise-constant log hazard, draw by draw, for every trial and a new trial.

The one-stage survival model's hazard in trial ``k``, interval ``j`` is ``h_kj exp(z'b_k)``
with covariates centred within trial, so ``h_kj`` is the control arm's hazard at the trial's
covariate means and ``h_kj exp(theta_kj)`` the experimental arm's, ``theta_kj`` the trial's
log hazard ratio in interval ``j`` (the same in every interval under proportional hazards).
The derived quantities of :mod:`~bayes_ipd.checks.rmst` and
:mod:`~bayes_ipd.checks.survival_estimands` are functions of these arrays only (log hazard
per draw, trial, arm and interval, and the cut points), so they hold for any model that
gives a log hazard ratio per interval.

A new trial
-----------
Its control arm's log hazard is, per posterior draw, the mean of the fitted trials' baseline
log hazards in each interval (``baseline="average"``: a trial with a typical baseline
hazard, the geometric mean of theirs), or the baseline of one fitted trial drawn at random
per posterior draw (``baseline="sampled"``: the spread of baselines between trials is then
in the band). Its log hazard ratio is the new-trial effect ``theta_new ~ Normal(mu, tau)``
of ``predict_new_study`` (:class:`~bayes_ipd.one_stage.posterior.Posterior`; the same
draws, seed + 1 by default), at the average trial's covariate means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bayes_ipd.checks.baseline_hazard import require_survival
from bayes_ipd.draws import log_hazard_draws
from bayes_ipd.families.base import flat_draws
from bayes_ipd.families.survival_time import (
    interval_log_hazard_ratio,
    interval_periods,
    log_time_reference,
    new_trial_log_hazard_ratio,
    period_cuts,
    representative_log_times,
)

if TYPE_CHECKING:
    from bayes_ipd.draws import Fit

__all__ = [
    "NEW_TRIAL_BASELINES",
    "ArmHazards",
    "arm_hazards",
    "new_trial_arm_hazards",
    "pooled_log_hazard_ratio",
    "trial_log_hazard_ratio",
]

NEW_TRIAL_BASELINES = ("average", "sampled")
"""How a new trial's baseline hazard is formed (see the module notes)."""


@dataclass(frozen=True, eq=False)
class ArmHazards:
    """Log hazards per draw, trial, arm and interval.

    Attributes
    ----------
    labels : tuple of str
        Trial labels (``"new trial"`` for the prediction).
    log_hazard : numpy.ndarray
        (S, K, 2, J): control (arm 0) and experimental (arm 1) log hazard.
    cutpoints : tuple of float
        The J - 1 interior cut points.
    chains : int
        Chains the S draws came from (chain-major), for ESS and R-hat.
    """

    labels: tuple[str, ...]
    log_hazard: np.ndarray
    cutpoints: tuple[float, ...]
    chains: int

    @property
    def log_hazard_ratio(self) -> np.ndarray:
        """(S, K, J) experimental minus control log hazard."""
        return self.log_hazard[:, :, 1, :] - self.log_hazard[:, :, 0, :]

    def by_chain(self, x: np.ndarray) -> np.ndarray:
        """(S, ...) draws as (chains, draws, ...)."""
        return x.reshape(self.chains, -1, *x.shape[1:])


def _chains(fit: Fit) -> int:
    return int(fit.idata.posterior.sizes["chain"])


def trial_log_hazard_ratio(fit: Fit) -> np.ndarray:
    """(S, K, J) log hazard ratio of each trial in each baseline-hazard interval.

    Under proportional hazards ``theta_k`` (the trial's effect at its covariate means) in
    every interval; with a per-period effect or a treatment-by-log-time interaction, the
    model's own (:func:`bayes_ipd.families.survival_time.interval_log_hazard_ratio`).
    """
    return interval_log_hazard_ratio(fit.idata.posterior, fit.built.design)


def pooled_log_hazard_ratio(fit: Fit) -> np.ndarray:
    """(S, J) the pooled (mean-trial) log hazard ratio in each interval: ``mu`` in every
    interval under proportional hazards, ``mu_p`` of the interval's period with a
    per-period effect, ``mu + gamma (log t_j - log t0)`` with a log-time interaction
    (``t_j`` the interval's representative time,
    :func:`bayes_ipd.families.survival_time.representative_log_times`)."""
    params, design = fit.idata.posterior, fit.built.design
    if "mu_period" in params:
        mu_p = flat_draws(params["mu_period"], "period")
        return mu_p[:, interval_periods(design.cutpoints, period_cuts(params))]
    out = np.repeat(flat_draws(params["mu"])[:, None], design.n_intervals, axis=1)
    if "gamma_log_time" in params:
        x = representative_log_times(design.cutpoints) - log_time_reference(design)
        out = out + flat_draws(params["gamma_log_time"])[:, None] * x[None, :]
    return out


def _new_trial_log_hazard_ratio(fit: Fit, seed: int | None) -> np.ndarray:
    """(S, J) the new-trial log hazard ratio in each interval
    (:func:`bayes_ipd.families.survival_time.new_trial_log_hazard_ratio`, seeded as
    ``predict_new_study``: under proportional hazards the same draws)."""
    rng = np.random.default_rng(fit.derived_seed("new_study", seed))
    return new_trial_log_hazard_ratio(fit.idata.posterior, fit.built.design, rng)


def arm_hazards(fit: Fit) -> ArmHazards:
    """Every fitted trial's control and experimental log hazard, per draw and interval.

    Raises
    ------
    ValueError
        The fit is not a survival fit.
    """
    design = fit.built.design
    require_survival(design.family, "arm_hazards")
    base = log_hazard_draws(fit)
    treated = base + trial_log_hazard_ratio(fit)
    return ArmHazards(
        tuple(design.studies), np.stack([base, treated], axis=2), design.cutpoints, _chains(fit)
    )


def new_trial_arm_hazards(
    fit: Fit, *, baseline: str = "average", seed: int | None = None
) -> ArmHazards:
    """A new trial's control and experimental log hazard (see the module notes).

    Parameters
    ----------
    fit : Fit
        A survival fit.
    baseline : {"average", "sampled"}
        The new trial's baseline log hazard: the mean of the trials' per draw, or one
        trial's drawn at random per draw.
    seed : int, optional
        Seed of the new-trial effect (default: the sampler's seed + 1, as
        ``predict_new_study``); the random trial of ``"sampled"`` uses ``seed`` + 1.

    Returns
    -------
    ArmHazards
        With one trial, ``"new trial"``.

    Raises
    ------
    ValueError
        Not a survival fit, or an unknown ``baseline``.
    """
    if baseline not in NEW_TRIAL_BASELINES:
        raise ValueError(f"baseline = {baseline!r}: choose one of {', '.join(NEW_TRIAL_BASELINES)}")
    design = fit.built.design
    require_survival(design.family, "new_trial_arm_hazards")
    base_all = log_hazard_draws(fit)
    if baseline == "average":
        base = base_all.mean(axis=1)
    else:
        rng = np.random.default_rng(fit.derived_seed("new_study", seed) + 1)
        pick = rng.integers(0, design.k, size=base_all.shape[0])
        base = base_all[np.arange(base_all.shape[0]), pick]
    treated = base + _new_trial_log_hazard_ratio(fit, seed)
    log_hazard = np.stack([base, treated], axis=1)[:, None]
    return ArmHazards(("new trial",), log_hazard, design.cutpoints, _chains(fit))
