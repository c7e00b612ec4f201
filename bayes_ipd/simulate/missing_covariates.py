"""Trials with missing covariates: a planted within-trial interaction, a covariate missing at
random given the outcome, and trials that never recorded it (systematically missing).

For trial ``k = 1..K`` with ``n`` participants::

    mu_k    ~ Normal(0, 0.5)            trial mean of x
    x_ik    ~ Normal(mu_k, 1)           continuous effect modifier
    z_ik    ~ Bernoulli(expit(-0.3 + 0.5 x_ik))
    t_ik    ~ 1:1 (a random permutation of floor(n/2) ones)
    alpha_k ~ Normal(0, 0.5),  b_k ~ Normal(0, 0.1)
    eta_ik  = alpha_k + (treatment + b_k) t_ik + x_effect x_ik + z_effect z_ik
              + interaction t_ik x_ik
    gaussian: y_ik = eta_ik + Normal(0, 1);   binomial: y_ik ~ Bernoulli(expit(eta_ik))

The interaction is the same within every trial, and x's trial means do not modify the effect,
so the within-trial interaction (``truth["interaction"]``) is what a correct analysis
estimates. Missingness is MAR given the outcome (and so biases a complete-case analysis of a
model for y given x): ``logit P(x missing) = a + missing_slope * s_ik`` with ``s`` the
outcome standardised over all rows and ``a`` set so that about ``missing_rate`` of x is
missing; z is missing the same way at ``z_missing_rate``. In the last ``systematic`` trials x
is never recorded (all missing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy import optimize, special

__all__ = ["MissingCovariateData", "simulate_missing_covariates"]


def _normal_outcome(rng: np.random.Generator, eta: np.ndarray) -> np.ndarray:
    """A continuous outcome: the linear predictor plus standard-normal noise."""
    return eta + rng.normal(0.0, 1.0, eta.shape[0])


def _bernoulli_outcome(rng: np.random.Generator, eta: np.ndarray) -> np.ndarray:
    """A binary outcome drawn with probability ``expit(eta)``."""
    return rng.binomial(1, special.expit(eta)).astype(np.float64)


_OUTCOMES = {"gaussian": _normal_outcome, "binomial": _bernoulli_outcome}
_FAMILIES = tuple(_OUTCOMES)


@dataclass(frozen=True, eq=False)
class MissingCovariateData:
    """Simulated trials with missing covariates, the complete rows and the truth.

    Attributes
    ----------
    data : DataFrame
        Columns ``study, treat, y, x, z``; missing covariate values are NaN.
    complete : DataFrame
        The same rows before any value was removed.
    truth : Mapping[str, float]
        ``interaction`` (within-trial treat:x), ``treatment`` (effect at x = 0),
        ``x_effect``, ``z_effect``.
    systematic : tuple of str
        The trials that never recorded x.
    """

    data: pd.DataFrame
    complete: pd.DataFrame
    truth: Mapping[str, float] = field(default_factory=dict)
    systematic: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "truth", MappingProxyType(dict(self.truth)))


def simulate_missing_covariates(
    *,
    family: str = "gaussian",
    n_trials: int = 8,
    n_per_trial: int = 150,
    treatment: float = 0.5,
    interaction: float = 0.4,
    x_effect: float = 0.5,
    z_effect: float = 0.5,
    missing_slope: float = 1.5,
    missing_rate: float = 0.3,
    z_missing_rate: float = 0.1,
    systematic: int = 1,
    seed: int | np.random.SeedSequence = 0,
) -> MissingCovariateData:
    """Simulate trials whose covariate x is MAR on the outcome and absent from some trials.

    Parameters
    ----------
    family : {"gaussian", "binomial"}
    n_trials, n_per_trial : int
        Trials and participants per trial.
    treatment, interaction, x_effect, z_effect : float
        True coefficients (mean difference or log odds ratio scale).
    missing_slope : float
        Log-odds of x (and z) being missing per SD of the outcome.
    missing_rate, z_missing_rate : float
        About this share of x (z) is missing in the trials that recorded it.
    systematic : int
        The last ``systematic`` trials never recorded x.
    seed : int or SeedSequence

    Returns
    -------
    MissingCovariateData

    Examples
    --------
    >>> sim = simulate_missing_covariates(n_trials=4, n_per_trial=50, seed=1)
    >>> sim.systematic, int(sim.data["x"].isna().sum()) > 50
    (('T4',), True)
    """
    if family not in _FAMILIES:
        raise ValueError(f"family={family!r}: the simulator offers {', '.join(_FAMILIES)}")
    if not 0 <= systematic < n_trials:
        raise ValueError(f"systematic={systematic}: expected 0..{n_trials - 1}")
    rng = np.random.default_rng(seed)
    labels = [f"T{k + 1}" for k in range(n_trials)]
    frames = [
        _trial(rng, label, n_per_trial, family, treatment, interaction, x_effect, z_effect)
        for label in labels
    ]
    complete = pd.concat(frames, ignore_index=True)
    data = complete.copy()
    s = _standardised(complete["y"].to_numpy(np.float64))
    data["x"] = _holes(rng, complete["x"].to_numpy(), s, missing_slope, missing_rate)
    data["z"] = _holes(rng, complete["z"].to_numpy(), s, missing_slope, z_missing_rate)
    never = tuple(labels[n_trials - systematic :])
    data.loc[data["study"].isin(never), "x"] = np.nan
    truth = {
        "interaction": interaction,
        "treatment": treatment,
        "x_effect": x_effect,
        "z_effect": z_effect,
    }
    return MissingCovariateData(data=data, complete=complete, truth=truth, systematic=never)


def _trial(
    rng: np.random.Generator,
    label: str,
    n: int,
    family: str,
    treatment: float,
    interaction: float,
    x_effect: float,
    z_effect: float,
) -> pd.DataFrame:
    mu, alpha, b = rng.normal(0.0, 0.5), rng.normal(0.0, 0.5), rng.normal(0.0, 0.1)
    x = rng.normal(mu, 1.0, n)
    z = rng.binomial(1, special.expit(-0.3 + 0.5 * x)).astype(np.float64)
    t = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)])
    eta = alpha + (treatment + b) * t + x_effect * x + z_effect * z + interaction * t * x
    y = _OUTCOMES[family](rng, eta)
    return pd.DataFrame({"study": label, "treat": t.astype(int), "y": y, "x": x, "z": z})


def _standardised(y: np.ndarray) -> np.ndarray:
    sd = y.std()
    return (y - y.mean()) / (sd if sd > 0 else 1.0)


def _holes(
    rng: np.random.Generator, values: np.ndarray, s: np.ndarray, slope: float, rate: float
) -> np.ndarray:
    """``values`` with NaN where a MAR draw (log-odds linear in ``s``) says missing."""
    out = values.astype(np.float64).copy()
    if rate <= 0:
        return out
    intercept = optimize.brentq(lambda a: special.expit(a + slope * s).mean() - rate, -30.0, 30.0)
    out[rng.random(s.shape[0]) < special.expit(intercept + slope * s)] = np.nan
    return out
