"""Data-generating processes for multi-trial participant data, with their true parameters.

Each generator returns ``(frame, truth)``: participant rows ready for
:meth:`bayes_ipd.data.IPD.from_frame`, and a frozen :class:`Truth` holding the parameters
that generated them, including every trial's own treatment effect. The same ``seed`` gives an
identical frame.

All three share the structure of the one-stage model (see ``ARCHITECTURE.md``). For trial
``k = 1..K`` with ``n_k`` participants, treatment ``t`` allocated 1:1 at random (a random
permutation of ``floor(n_k / 2)`` ones), covariates drawn around trial-specific means, and
``age`` as the effect modifier::

    abar_k  = sample mean of age in trial k,   abar = mean of abar_1..abar_K
    u_k     ~ Normal(0, tau)
    theta_k = mu + u_k + gamma_a * (abar_k - abar)       trial k's effect at its mean age
    effect of treatment on participant i in trial k = theta_k + gamma_w * (age_ik - abar_k)

``gamma_w`` (``interaction_within``) is the within-trial treatment-age interaction and
``gamma_a`` (``interaction_across``) the across-trial (ecological) association; either can be
zero while the other is not. Prognostic covariates enter centred at their sample trial means,
so each trial's intercept is its control-arm value at its own mean covariates.

The package: :mod:`~bayes_ipd.simulate.generators` holds the three generators,
:mod:`~bayes_ipd.simulate.truth` their :class:`Truth` values, and
:mod:`~bayes_ipd.simulate.trials` the pieces they share (trial sizes, 1:1 allocation,
covariates drawn around trial means, the trials' treatment effects).
"""

from __future__ import annotations

from bayes_ipd.simulate.generators import (
    simulate_binary,
    simulate_continuous,
    simulate_survival,
)
from bayes_ipd.simulate.time_varying import PeriodSurvivalTruth, simulate_survival_periods
from bayes_ipd.simulate.trials import Seed as Seed  # the seed argument's type
from bayes_ipd.simulate.truth import BinaryTruth, ContinuousTruth, SurvivalTruth, Truth

__all__ = [
    "BinaryTruth",
    "ContinuousTruth",
    "PeriodSurvivalTruth",
    "SurvivalTruth",
    "Truth",
    "simulate_binary",
    "simulate_continuous",
    "simulate_survival",
    "simulate_survival_periods",
]
