"""What the generators share: trial sizes and labels, the 1:1 allocation, covariates drawn
around trial-specific means or shares, and every trial's treatment effect.

Every draw is taken from the generator's own :class:`numpy.random.Generator` in the order
the generator asks for it, so the same seed gives the same participant rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.errors import SpecError

__all__ = [
    "Effects",
    "Seed",
    "Trials",
    "centred",
    "check_non_negative",
    "check_positive",
    "check_share",
    "indicator_around_trial_shares",
    "normal_around_trial_means",
    "treatment_effects",
    "trial_sizes",
    "truth_fields",
]

Seed = int | np.random.Generator | None


# --------------------------------------------------------------------------------------------
# argument checks


def trial_sizes(n_studies: int, n_per_study: int | Sequence[int]) -> tuple[int, ...]:
    """Participants per trial: one value for every trial, or one value each (checked)."""
    if int(n_studies) != n_studies or n_studies < 1:
        raise SpecError(f"n_studies must be a positive integer; got {n_studies!r}")
    if isinstance(n_per_study, int | np.integer):
        counts = (int(n_per_study),) * int(n_studies)
    else:
        counts = tuple(int(n) for n in n_per_study)
        if len(counts) != n_studies:
            raise SpecError(f"n_per_study has {len(counts)} entries but n_studies is {n_studies}")
    small = [n for n in counts if n < 2]
    if small:
        raise SpecError(f"every trial needs at least 2 participants; got n_per_study {small[0]}")
    return counts


def check_non_negative(**values: float) -> None:
    """Refuse a value that is not a finite number >= 0 (a spread, a probability)."""
    for name, value in values.items():
        if not np.isfinite(value) or value < 0:
            raise SpecError(f"{name} must be a finite number >= 0; got {value!r}")


def check_positive(**values: float) -> None:
    """Refuse a value that is not > 0."""
    for name, value in values.items():
        if not value > 0:
            raise SpecError(f"{name} must be > 0; got {value!r}")


def check_share(name: str, share: tuple[float, float]) -> tuple[float, float]:
    """The ``(low, high)`` range of the trials' shares of a 0/1 covariate, within [0, 1]."""
    low, high = share
    if not 0 <= low <= high <= 1:
        raise SpecError(f"{name} must be (low, high) within [0, 1]; got {share!r}")
    return low, high


# --------------------------------------------------------------------------------------------
# the trials and their participants


def _labels(n_studies: int) -> tuple[str, ...]:
    width = max(2, len(str(n_studies)))
    return tuple(f"T{k:0{width}d}" for k in range(1, n_studies + 1))


def _allocation(rng: np.random.Generator, n: int) -> np.ndarray:
    """1:1 allocation: a random permutation of floor(n/2) ones and the rest zeros."""
    return rng.permutation(np.arange(n) < n // 2).astype(np.int64)


@dataclass(frozen=True, eq=False)
class Trials:
    """The skeleton every generator starts from.

    Attributes
    ----------
    sizes : tuple of int
        Participants per trial.
    studies : tuple of str
        Trial labels ``T01, T02, ...``.
    index : ndarray, shape (N,)
        Each participant's trial, 0-based.
    treat : ndarray, shape (N,)
        Each participant's arm (1:1 within a trial).
    """

    sizes: tuple[int, ...]
    studies: tuple[str, ...]
    index: np.ndarray
    treat: np.ndarray

    @classmethod
    def allocate(cls, rng: np.random.Generator, sizes: tuple[int, ...]) -> Trials:
        """Label the trials and allocate each trial's participants 1:1 at random."""
        index = np.repeat(np.arange(len(sizes)), sizes)
        treat = np.concatenate([_allocation(rng, n) for n in sizes])
        return cls(sizes, _labels(len(sizes)), index, treat)

    @property
    def k(self) -> int:
        """Number of trials."""
        return len(self.sizes)

    def frame(self, columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """Participant rows: ``trial`` and ``treat``, then ``columns`` in their order."""
        trial = np.asarray(self.studies, dtype=object)[self.index]
        return pd.DataFrame({"trial": trial, "treat": self.treat, **columns})


def _group_mean(values: np.ndarray, index: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(index, weights=values, minlength=k) / np.bincount(index, minlength=k)


def centred(values: np.ndarray, index: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(values minus their trial sample mean, the trial means)."""
    means = _group_mean(values, index, k)
    return values - means[index], means


def normal_around_trial_means(
    rng: np.random.Generator, index: np.ndarray, mean: float, between_sd: float, within_sd: float
) -> np.ndarray:
    """A covariate drawn around each trial's own mean, the means around ``mean``."""
    k = int(index.max()) + 1
    trial_means = rng.normal(mean, between_sd, size=k)
    return rng.normal(trial_means[index], within_sd)


def indicator_around_trial_shares(
    rng: np.random.Generator, index: np.ndarray, low: float, high: float
) -> np.ndarray:
    """A 0/1 covariate: each trial's share uniform on ``(low, high)``, then each participant."""
    k = int(index.max()) + 1
    share = rng.uniform(low, high, size=k)
    return (rng.uniform(size=index.size) < share[index]).astype(np.int64)


# --------------------------------------------------------------------------------------------
# treatment effects and the truth


@dataclass(frozen=True)
class Effects:
    """The trials' treatment effects (see :class:`bayes_ipd.simulate.Truth`)."""

    u: np.ndarray
    theta: np.ndarray
    modifier_mean: np.ndarray
    per_person: np.ndarray  # treatment effect for each participant, if treated


def treatment_effects(
    rng: np.random.Generator,
    age: np.ndarray,
    index: np.ndarray,
    mu: float,
    tau: float,
    interaction_within: float,
    interaction_across: float,
) -> Effects:
    """Draw ``u_k``; each trial's effect at its mean age and each participant's effect."""
    k = int(index.max()) + 1
    age_within, age_means = centred(age, index, k)
    u = rng.normal(0.0, tau, size=k) if tau > 0 else np.zeros(k)
    theta = mu + u + interaction_across * (age_means - age_means.mean())
    per_person = theta[index] + interaction_within * age_within
    return Effects(u, theta, age_means, per_person)


def _seed_value(seed: Seed) -> int | None:
    return int(seed) if isinstance(seed, int | np.integer) else None


def truth_fields(
    trials: Trials,
    mu: float,
    tau: float,
    effects: Effects,
    beta: Mapping[str, float],
    interaction_within: float,
    interaction_across: float,
    seed: Seed,
) -> dict[str, Any]:
    """The fields of :class:`bayes_ipd.simulate.Truth` every generator fills alike."""
    return {
        "studies": trials.studies,
        "mu": float(mu),
        "tau": float(tau),
        "u": effects.u,
        "theta": effects.theta,
        "beta": dict(beta),
        "interaction_within": float(interaction_within),
        "interaction_across": float(interaction_across),
        "modifier": "age",
        "modifier_mean": effects.modifier_mean,
        "n_per_study": trials.sizes,
        "seed": _seed_value(seed),
    }
