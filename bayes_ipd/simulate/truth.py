"""The true parameters a generator returns beside its participant rows.

:class:`Truth` holds what every generator shares (the treatment effect's mean, spread and
every trial's own value, the prognostic coefficients, the interactions); one subclass per
generator adds its outcome's parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType

import numpy as np

from bayes_ipd.conventions import readonly

__all__ = ["BinaryTruth", "ContinuousTruth", "SurvivalTruth", "Truth"]


@dataclass(frozen=True, eq=False)
class Truth:
    """True parameters common to every generator.

    Attributes
    ----------
    studies : tuple of str
        Trial labels as in the frame's ``trial`` column.
    mu, tau : float
        Mean and between-trial SD of the treatment effect (model scale).
    u : ndarray, shape (K,)
        Drawn random deviations ``u_k``.
    theta : ndarray, shape (K,)
        Trial treatment effects at the trial's mean age,
        ``mu + u_k + interaction_across * (abar_k - abar)``.
    beta : Mapping[str, float]
        Prognostic covariate coefficients (model scale, per unit), by column name.
    interaction_within, interaction_across : float
        Within-trial and across-trial treatment-by-``modifier`` interactions.
    modifier : str
        The effect-modifying covariate (``"age"``).
    modifier_mean : ndarray, shape (K,)
        Sample trial means ``abar_k`` of the modifier.
    n_per_study : tuple of int
        Participants per trial.
    seed : int or None
        The seed, when an int was given.
    """

    studies: tuple[str, ...]
    mu: float
    tau: float
    u: np.ndarray
    theta: np.ndarray
    beta: Mapping[str, float]
    interaction_within: float
    interaction_across: float
    modifier: str
    modifier_mean: np.ndarray
    n_per_study: tuple[int, ...]
    seed: int | None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, np.ndarray):
                object.__setattr__(self, item.name, readonly(value))
        object.__setattr__(self, "beta", MappingProxyType(dict(self.beta)))


@dataclass(frozen=True, eq=False)
class ContinuousTruth(Truth):
    """Truth of :func:`simulate_continuous`.

    Attributes
    ----------
    alpha : ndarray, shape (K,)
        Control-arm mean final SBP at the trial's mean covariates.
    sigma : float
        Residual SD.
    """

    alpha: np.ndarray
    sigma: float


@dataclass(frozen=True, eq=False)
class BinaryTruth(Truth):
    """Truth of :func:`simulate_binary`.

    Attributes
    ----------
    alpha : ndarray, shape (K,)
        Control-arm log odds of the event at the trial's mean covariates.
    """

    alpha: np.ndarray


@dataclass(frozen=True, eq=False)
class SurvivalTruth(Truth):
    """Truth of :func:`simulate_survival`.

    Attributes
    ----------
    shape : float
        Weibull shape ``rho`` (1 = constant hazard).
    log_scale : ndarray, shape (K,)
        ``log lambda_k``: log of the trial's Weibull scale at its mean covariates, control arm.
    follow_up : float
        Administrative censoring time.
    dropout : float
        Probability of dropping out before ``follow_up`` (in the absence of an event).
    """

    shape: float
    log_scale: np.ndarray
    follow_up: float
    dropout: float
