"""Exact arm-level sufficient statistics of a network's participant rows (one-stage NMA).

Without covariates, every row of one arm of one trial shares the linear predictor
``eta_{k,a} = alpha_k + delta_{k,a}``, so the row-level log-likelihood of the arm is a
function of a few sums (exact, not an approximation). The family's plug-in says which
(:attr:`bayes_ipd.families.Family.network_arms`, a
:class:`~bayes_ipd.families.network_arms.NetworkArmModel`; this module never names a
family), e.g.:

* binomial: ``n`` and the events ``r``: ``sum_i [y_i eta - log(1 + e^eta)] = r eta - n
  log(1 + e^eta)``;
* gaussian: ``n``, the arm mean ``ybar`` and the within-arm sum of squares ``ss`` (computed
  about the arm mean, so no cancellation): ``sum_i log N(y_i | eta, sigma_k) = -n/2 log(2 pi
  sigma_k^2) - (ss + n (ybar - eta)^2) / (2 sigma_k^2)``; ``total`` (``sum y``) and
  ``squares`` (``sum y^2``) are kept as well;
* poisson: the events ``r``, the exposure ``E = sum e_i`` (1 per row when no exposure column)
  and the constant ``c = sum_i [y_i log e_i - log y_i!]``: ``sum_i log Pois(y_i | e_i
  e^eta) = r eta - E e^eta + c``;
* negative binomial: the arm's cells of equal (count value, exposure), their
  participants and constant (the NB2 kernel is not linear in ``y``; exact);
* ordinal: the participants per category and arm (exact for proportional odds with an
  arm-level linear predictor).

Random effects with the multi-arm correlation 1/2 (common ``tau``): the trial's contrasts
against its reference arm have covariance ``tau^2 B``, ``B = 1`` on the diagonal and ``1/2``
off it. :class:`NetworkArms` carries the lower Cholesky factor of each trial's ``B`` as
triplets (``chol_rows, chol_cols, chol_values`` over the stacked contrasts), so the model
writes ``delta = (d_t - d_b) + tau L z`` with ``z`` standard normal (non-centred); this is
the sequential conditional construction of Dias et al. (NICE DSU TSD2, 2011), written as
one block-triangular matrix.

The arm order is the network's: trials in order, each trial's arms in network order, its
reference arm first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bayes_ipd.conventions import readonly
from bayes_ipd.data.network import Network
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families import REGISTRY, get_family
from bayes_ipd.families.network_arms import NetworkArmModel
from bayes_ipd.one_stage.network_ad import given_contrast_layout, with_aggregate_arms

__all__ = [
    "ARM_STATISTICS",
    "NetworkArms",
    "arm_loglik",
    "arm_model",
    "multi_arm_cholesky",
    "network_arms",
    "rebased",
    "replicate_arm_statistic",
    "saturated_loglik",
]

ARM_STATISTICS: dict[str, tuple[str, ...]] = {
    name: ("n", *family.network_arms.statistics)
    for name, family in REGISTRY.items()
    if family.network_arms is not None
}
"""The per-arm sums the one-stage network model reads, per family that has an arm-level
network model (from the families' plug-ins; survival: events and exposure per arm and
baseline interval, (A, J))."""


def arm_model(family: str) -> NetworkArmModel:
    """The arm-level network model of the family called ``family``.

    Raises
    ------
    IPDDataError
        The family has none (its plug-in's ``network_arms`` is None).
    """
    hooks = get_family(family, IPDDataError).network_arms
    if hooks is None:
        raise IPDDataError(
            f"the one-stage network model supports the families {', '.join(ARM_STATISTICS)}; "
            f"not {family!r} yet (use the two-stage route)"
        )
    return hooks


MULTI_ARM_CORRELATION = 0.5
_EMPTY_INT = readonly(np.zeros(0, dtype=np.int64), np.int64)
_EMPTY_FLOAT = readonly(np.zeros(0))


@dataclass(frozen=True, eq=False)
class NetworkArms:
    """Arm-level sufficient statistics and the contrast layout of a network (read-only).

    Attributes
    ----------
    family, reference : str
    treatments, studies : tuple of str
        As the :class:`~bayes_ipd.data.network.Network` (reference first).
    arm_study, arm_treatment : numpy.ndarray
        (A,) int: each arm's trial and treatment code.
    stats : dict of str to numpy.ndarray
        (A,) float per statistic of :data:`ARM_STATISTICS` of the family.
    contrast_arm : numpy.ndarray
        (C,) int: the arm (index into the arms) of each non-reference arm of a trial.
    contrast_study, contrast_treatment, contrast_base : numpy.ndarray
        (C,) int: its trial, its treatment and its trial's reference treatment.
    chol_rows, chol_cols : numpy.ndarray
        (M,) int: entries of the block-diagonal lower Cholesky factor of ``B``.
    chol_values : numpy.ndarray
        (M,) float: their values.
    cutpoints : tuple of float
        Survival: interior cut points of the piecewise-constant baseline hazard (else
        empty).
    given_arm, given_base, given_study : numpy.ndarray
        (G,) int: contrast-level aggregate data, each given contrast's arm, its trial's
        base arm (indices into the arms) and its trial (empty without such trials; their
        arms hold zero sums).
    given_estimate : numpy.ndarray
        (G,) the given contrasts ``arm - base``.
    given_rows, given_cols, given_values : numpy.ndarray
        Triplets of the block upper-triangular ``U`` with ``U'U = V^-1`` (each trial's
        covariance ``V``): the likelihood is ``-|U (y - delta)|^2 / 2 + const``.
    given_const : numpy.ndarray
        (G,) each contrast's share of its trial's ``-(m log 2 pi + log det V) / 2``.
    """

    family: str
    reference: str
    treatments: tuple[str, ...]
    studies: tuple[str, ...]
    arm_study: np.ndarray
    arm_treatment: np.ndarray
    stats: dict[str, np.ndarray]
    contrast_arm: np.ndarray
    contrast_study: np.ndarray
    contrast_treatment: np.ndarray
    contrast_base: np.ndarray
    chol_rows: np.ndarray
    chol_cols: np.ndarray
    chol_values: np.ndarray
    cutpoints: tuple[float, ...] = ()
    given_arm: np.ndarray = field(default_factory=lambda: _EMPTY_INT)
    given_base: np.ndarray = field(default_factory=lambda: _EMPTY_INT)
    given_study: np.ndarray = field(default_factory=lambda: _EMPTY_INT)
    given_estimate: np.ndarray = field(default_factory=lambda: _EMPTY_FLOAT)
    given_rows: np.ndarray = field(default_factory=lambda: _EMPTY_INT)
    given_cols: np.ndarray = field(default_factory=lambda: _EMPTY_INT)
    given_values: np.ndarray = field(default_factory=lambda: _EMPTY_FLOAT)
    given_const: np.ndarray = field(default_factory=lambda: _EMPTY_FLOAT)

    @property
    def n_given(self) -> int:
        """Contrasts given as aggregate data."""
        return int(self.given_arm.size)

    @property
    def k(self) -> int:
        """Trials."""
        return len(self.studies)

    @property
    def n_arms(self) -> int:
        return int(self.arm_study.size)

    @property
    def n_contrasts(self) -> int:
        return int(self.contrast_arm.size)

    def contrast_labels(self) -> list[str]:
        """``"study: treatment vs base"`` per contrast (the model's ``contrast`` coordinate)."""
        return [
            f"{self.studies[s]}: {self.treatments[t]} vs {self.treatments[b]}"
            for s, t, b in zip(
                self.contrast_study, self.contrast_treatment, self.contrast_base, strict=True
            )
        ]

    @property
    def model(self) -> NetworkArmModel:
        """The family's arm-level network model (:func:`arm_model`)."""
        return arm_model(self.family)

    def outcome_scale(self) -> tuple[float, float] | None:
        """Gaussian: the outcome's mean and pooled within-arm SD (the scale of the default
        priors); other families: None (the family's plug-in says)."""
        return self.model.outcome_scale(self.stats)


def multi_arm_cholesky(m: int) -> np.ndarray:
    """Lower Cholesky factor of the ``m x m`` matrix with 1 on the diagonal and 1/2 off it.

    Examples
    --------
    >>> L = multi_arm_cholesky(2)
    >>> np.allclose(L @ L.T, [[1, 0.5], [0.5, 1]])
    True
    """
    b = np.full((m, m), MULTI_ARM_CORRELATION) + (1 - MULTI_ARM_CORRELATION) * np.eye(m)
    return np.linalg.cholesky(b)


def _arm_sums(
    network: Network,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], tuple[float, ...]]:
    """Arm index of each row, and per-arm sums (arms in network order)."""
    n_t = len(network.treatments)
    pairs = [(s, t) for s, arms in enumerate(network.trial_treatments) for t in arms]
    arm_study = np.array([p[0] for p in pairs], dtype=np.int64)
    arm_treatment = np.array([p[1] for p in pairs], dtype=np.int64)
    lookup = np.full((network.k, n_t), -1, dtype=np.int64)
    lookup[arm_study, arm_treatment] = np.arange(len(pairs))
    row_arm = lookup[network.study_codes, network.treatment_codes]
    a = len(pairs)
    roles = {role: network.responses[col] for role, col in network.columns.items()}
    stats = {"n": np.bincount(row_arm, minlength=a).astype(float)}
    stats |= arm_model(network.family).sums(row_arm, a, roles)
    cutpoints = tuple(stats.pop("cutpoints", ()))
    if network.aggregate_arms is not None:
        ad_study, ad_treatment = network.aggregate_arm_codes()
        ad_arm = lookup[ad_study, ad_treatment]
        stats = with_aggregate_arms(stats, ad_arm, network.aggregate_arms.sums())
    if "mean" in stats:  # arms without rows or AD (contrast-level trials): no mean
        stats["mean"] = np.where(stats["n"] > 0, stats["mean"], 0.0)
    return arm_study, arm_treatment, stats, cutpoints


def _contrasts(
    k: int, arm_study: np.ndarray, arm_treatment: np.ndarray, bases: Mapping[int, int]
) -> dict:
    """Contrasts vs each trial's reference arm (its first, or the treatment ``bases[trial]``)."""
    arm, study, treat, base = [], [], [], []
    rows, cols, values = [], [], []
    for s in range(k):
        idx = np.flatnonzero(arm_study == s)
        if s in bases:
            idx = np.r_[idx[arm_treatment[idx] == bases[s]], idx[arm_treatment[idx] != bases[s]]]
        others = idx[1:]
        offset = len(arm)
        chol = multi_arm_cholesky(others.size)
        r, c = np.tril_indices(others.size)
        rows += list(offset + r)
        cols += list(offset + c)
        values += list(chol[r, c])
        arm += list(others)
        study += [s] * others.size
        treat += list(arm_treatment[others])
        base += [int(arm_treatment[idx[0]])] * others.size
    as_int = {"dtype": np.int64}
    return {
        "contrast_arm": readonly(np.array(arm, **as_int), np.int64),
        "contrast_study": readonly(np.array(study, **as_int), np.int64),
        "contrast_treatment": readonly(np.array(treat, **as_int), np.int64),
        "contrast_base": readonly(np.array(base, **as_int), np.int64),
        "chol_rows": readonly(np.array(rows, **as_int), np.int64),
        "chol_cols": readonly(np.array(cols, **as_int), np.int64),
        "chol_values": readonly(np.array(values, dtype=float)),
    }


def network_arms(network: Network) -> NetworkArms:
    """The arm-level sufficient statistics of ``network`` (module docstring).

    Parameters
    ----------
    network : Network
        Participant rows of a connected network (binomial, gaussian or poisson).

    Returns
    -------
    NetworkArms

    Raises
    ------
    IPDDataError
        A family without an arm-level network model (``family.network_arms`` None).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_ipd.data.network import network_from_frame
    >>> rows = pd.DataFrame({"s": [1, 1, 1, 2, 2], "t": ["A", "B", "B", "B", "C"],
    ...                      "y": [0, 1, 0, 1, 1]})
    >>> arms = network_arms(network_from_frame(rows, study="s", treatment="t",
    ...                                        reference="A", outcome="y"))
    >>> arms.stats["events"].tolist(), arms.stats["n"].tolist()
    ([0.0, 1.0, 1.0, 1.0], [1.0, 2.0, 1.0, 1.0])
    """
    arm_model(network.family)
    arm_study, arm_treatment, stats, cutpoints = _arm_sums(network)
    return NetworkArms(
        family=network.family,
        reference=network.reference,
        treatments=network.treatments,
        studies=network.studies,
        arm_study=readonly(arm_study, np.int64),
        arm_treatment=readonly(arm_treatment, np.int64),
        stats={name: readonly(v, np.asarray(v).dtype) for name, v in stats.items()},
        **_contrasts(network.k, arm_study, arm_treatment, {}),
        cutpoints=cutpoints,
        **given_contrast_layout(network, arm_study, arm_treatment),
    )


def arm_loglik(arms: NetworkArms, eta: np.ndarray, sigma: Any = None) -> np.ndarray:
    """Each arm's log-likelihood (numpy; the model's, summed over the arm's rows).

    Parameters
    ----------
    arms : NetworkArms
    eta : numpy.ndarray
        (..., A) linear predictor per arm.
    sigma : numpy.ndarray, optional
        The family's nuisance draws (:meth:`NetworkArmModel.nuisance_draws`): (..., K)
        residual SD (gaussian) or dispersion (negative binomial), (..., K, J - 1) cut
        points (ordinal).
    """
    return arms.model.loglik_numpy(arms.stats, arms.arm_study, eta, sigma)


def saturated_loglik(arms: NetworkArms) -> np.ndarray | None:
    """Each arm's log-likelihood at its own observed rate (binomial, poisson: the
    saturated model of the residual deviance; ordinal: the arm's observed category
    proportions); None for a normal outcome or a negative binomial count."""
    return arms.model.saturated(arms.stats)


def replicate_arm_statistic(
    arms: NetworkArms, eta: np.ndarray, sigma: Any, rng: np.random.Generator
) -> tuple[str, np.ndarray, np.ndarray]:
    """Posterior predictive replicates of each arm's statistic (events, survival's summed
    over the intervals; the arm mean of a normal outcome, an ordinal outcome's mean level):
    its name, the observed values (A,) and the replicates (S, A)."""
    model = arms.model
    name, observed = model.replicated, model.observed(arms.stats)
    return name, observed, model.replicate(arms.stats, arms.arm_study, eta, sigma, rng)


def rebased(arms: NetworkArms, bases: Mapping[int, int]) -> NetworkArms:
    """``arms`` with trial ``k``'s contrasts taken against treatment ``bases[k]`` (one of
    its arms) instead of its reference arm (node-splitting)."""
    for k, t in bases.items():
        if t not in arms.arm_treatment[arms.arm_study == k]:
            raise ValueError(f"trial {arms.studies[k]!r} has no arm {arms.treatments[t]!r}")
    layout = _contrasts(arms.k, arms.arm_study, arms.arm_treatment, bases)
    return replace(arms, **layout)
