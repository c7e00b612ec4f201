"""Exact arm-level sufficient statistics of a network's participant rows (one-stage NMA).

Without covariates, every row of one arm of one trial shares the linear predictor
``eta_{k,a} = alpha_k + delta_{k,a}``, so the row-level log-likelihood of the arm is a
function of a few sums (exact, not an approximation):

* binomial: ``n`` and the events ``r``: ``sum_i [y_i eta - log(1 + e^eta)] = r eta - n
  log(1 + e^eta)``;
* gaussian: ``n``, the arm mean ``ybar`` and the within-arm sum of squares ``ss`` (computed
  about the arm mean, so no cancellation): ``sum_i log N(y_i | eta, sigma_k) = -n/2 log(2 pi
  sigma_k^2) - (ss + n (ybar - eta)^2) / (2 sigma_k^2)``; ``total`` (``sum y``) and
  ``squares`` (``sum y^2``) are kept as well;
* poisson: the events ``r``, the exposure ``E = sum e_i`` (1 per row when no exposure column)
  and the constant ``c = sum_i [y_i log e_i - log y_i!]``: ``sum_i log Pois(y_i | e_i
  e^eta) = r eta - E e^eta + c``.

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.special import gammaln

from bayes_ipd.conventions import readonly
from bayes_ipd.data.network import Network
from bayes_ipd.errors import IPDDataError

__all__ = [
    "ARM_STATISTICS",
    "NetworkArms",
    "arm_loglik",
    "multi_arm_cholesky",
    "network_arms",
    "rebased",
    "replicate_arm_statistic",
    "saturated_loglik",
]

ARM_STATISTICS: dict[str, tuple[str, ...]] = {
    "binomial": ("n", "events"),
    "gaussian": ("n", "mean", "ss", "total", "squares"),
    "poisson": ("n", "events", "exposure", "const"),
    "survival": ("n", "events", "exposure"),
}
"""The per-arm sums the one-stage network model reads, per family it supports (survival:
events and exposure per arm and baseline interval, (A, J))."""

SURVIVAL_INTERVALS = 4
"""Baseline intervals of the survival network model: cut at the quartiles of the event
times (:func:`bayes_ipd.families.survival.default_cutpoints`)."""

MULTI_ARM_CORRELATION = 0.5


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

    def outcome_scale(self) -> tuple[float, float] | None:
        """Gaussian: the outcome's mean and pooled within-arm SD (the scale of the default
        priors); other families: None."""
        if "ss" not in self.stats:  # only a normal outcome has a residual SD
            return None
        n, ss = self.stats["n"], self.stats["ss"]
        df = float(n.sum()) - n.size
        if df < 1 or float(ss.sum()) <= 0:
            raise IPDDataError("the outcome has no spread within the arms: no residual SD")
        mean = float(np.sum(self.stats["total"]) / n.sum())
        return mean, float(np.sqrt(ss.sum() / df))


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


def _binomial_sums(row_arm: np.ndarray, a: int, roles: dict) -> dict[str, np.ndarray]:
    return {"events": np.bincount(row_arm, weights=roles["outcome"], minlength=a)}


def _gaussian_sums(row_arm: np.ndarray, a: int, roles: dict) -> dict[str, np.ndarray]:
    y = roles["outcome"]
    n = np.bincount(row_arm, minlength=a).astype(float)
    total = np.bincount(row_arm, weights=y, minlength=a)
    mean = total / n
    return {
        "mean": mean,
        "ss": np.bincount(row_arm, weights=(y - mean[row_arm]) ** 2, minlength=a),
        "total": total,
        "squares": np.bincount(row_arm, weights=y * y, minlength=a),
    }


def _poisson_sums(row_arm: np.ndarray, a: int, roles: dict) -> dict[str, np.ndarray]:
    y = roles["outcome"]
    e = roles.get("time", np.ones(y.size))
    return {
        "events": np.bincount(row_arm, weights=y, minlength=a),
        "exposure": np.bincount(row_arm, weights=e, minlength=a),
        "const": np.bincount(row_arm, weights=y * np.log(e) - gammaln(y + 1), minlength=a),
    }


def _survival_sums(row_arm: np.ndarray, a: int, roles: dict) -> dict[str, Any]:
    """Events and exposure per arm and interval of a piecewise-exponential baseline: the
    row-level likelihood ``sum_j [d_ij log h_j - t_ij h_j]`` summed exactly per arm."""
    from bayes_ipd.families.survival import default_cutpoints, split_exposure

    time, event = roles["time"], roles["event"]
    cuts = default_cutpoints(time[event > 0], SURVIVAL_INTERVALS)
    row, interval, pieces = split_exposure(time, event, cuts)
    j = len(cuts) + 1
    cell = row_arm[row] * j + interval
    shape = (a, j)
    return {
        "events": np.bincount(cell, weights=pieces[:, 1], minlength=a * j).reshape(shape),
        "exposure": np.bincount(cell, weights=pieces[:, 0], minlength=a * j).reshape(shape),
        "cutpoints": cuts,
    }


_SUMS = {
    "binomial": _binomial_sums,
    "gaussian": _gaussian_sums,
    "poisson": _poisson_sums,
    "survival": _survival_sums,
}
"""Per family: the arm sums of :data:`ARM_STATISTICS` (besides ``n``) from the rows."""


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
    stats |= _SUMS[network.family](row_arm, a, roles)
    cutpoints = tuple(stats.pop("cutpoints", ()))
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
        A family the one-stage network model does not support yet.

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
    if network.family not in ARM_STATISTICS:
        raise IPDDataError(
            f"the one-stage network model supports the families {', '.join(ARM_STATISTICS)}; "
            f"not {network.family!r} yet (use the two-stage route)"
        )
    arm_study, arm_treatment, stats, cutpoints = _arm_sums(network)
    return NetworkArms(
        family=network.family,
        reference=network.reference,
        treatments=network.treatments,
        studies=network.studies,
        arm_study=readonly(arm_study, np.int64),
        arm_treatment=readonly(arm_treatment, np.int64),
        stats={name: readonly(v) for name, v in stats.items()},
        **_contrasts(network.k, arm_study, arm_treatment, {}),
        cutpoints=cutpoints,
    )


def _binomial_arm_loglik(arms: NetworkArms, eta: np.ndarray, sigma: Any) -> np.ndarray:
    r, n = arms.stats["events"], arms.stats["n"]
    return r * eta - n * np.logaddexp(0.0, eta)


def _gaussian_arm_loglik(arms: NetworkArms, eta: np.ndarray, sigma: Any) -> np.ndarray:
    n, s = arms.stats["n"], np.asarray(sigma)[..., arms.arm_study]
    quad = arms.stats["ss"] + n * (arms.stats["mean"] - eta) ** 2
    return -0.5 * n * (np.log(2.0 * np.pi) + 2.0 * np.log(s)) - quad / (2.0 * s**2)


def _poisson_arm_loglik(arms: NetworkArms, eta: np.ndarray, sigma: Any) -> np.ndarray:
    st = arms.stats
    return st["events"] * eta - st["exposure"] * np.exp(eta) + st["const"]


def _binomial_saturated(arms: NetworkArms) -> np.ndarray | None:
    r, n = arms.stats["events"], arms.stats["n"]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(r > 0, r * np.log(r / n), 0.0)
        terms += np.where(n - r > 0, (n - r) * np.log((n - r) / n), 0.0)
    return terms


def _poisson_saturated(arms: NetworkArms) -> np.ndarray | None:
    r, e = arms.stats["events"], arms.stats["exposure"]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, r * np.log(r / e), 0.0) - r + arms.stats["const"]


_ARM_LOGLIK_NP: dict[str, Callable[[NetworkArms, np.ndarray, Any], np.ndarray]] = {
    "binomial": _binomial_arm_loglik,
    "gaussian": _gaussian_arm_loglik,
    "poisson": _poisson_arm_loglik,
}
_SATURATED: dict[str, Callable[[NetworkArms], np.ndarray | None]] = {
    "binomial": _binomial_saturated,
    "gaussian": lambda arms: None,  # no saturated model with an unknown residual SD
    "poisson": _poisson_saturated,
}


def arm_loglik(arms: NetworkArms, eta: np.ndarray, sigma: Any = None) -> np.ndarray:
    """Each arm's log-likelihood (numpy; the model's, summed over the arm's rows).

    Parameters
    ----------
    arms : NetworkArms
    eta : numpy.ndarray
        (..., A) linear predictor per arm.
    sigma : numpy.ndarray, optional
        (..., K) residual SD per trial (gaussian).
    """
    _check_available(arms, _ARM_LOGLIK_NP, "the deviance")
    return _ARM_LOGLIK_NP[arms.family](arms, eta, sigma)


def _check_available(arms: NetworkArms, table: Mapping[str, Any], what: str) -> None:
    if arms.family not in table:
        raise IPDDataError(
            f"{what} of the {arms.family} network model is not available yet; families: "
            + ", ".join(table)
        )


def saturated_loglik(arms: NetworkArms) -> np.ndarray | None:
    """Each arm's log-likelihood at its own observed rate (binomial, poisson: the
    saturated model of the residual deviance); None for a normal outcome."""
    _check_available(arms, _SATURATED, "the residual deviance")
    return _SATURATED[arms.family](arms)


def _replicate_binomial(arms: NetworkArms, eta: np.ndarray, sigma: Any, rng: Any) -> np.ndarray:
    n = np.broadcast_to(arms.stats["n"], eta.shape).astype(np.int64)
    return rng.binomial(n, 1.0 / (1.0 + np.exp(-eta))).astype(float)


def _replicate_gaussian(arms: NetworkArms, eta: np.ndarray, sigma: Any, rng: Any) -> np.ndarray:
    s = np.asarray(sigma)[..., arms.arm_study] / np.sqrt(arms.stats["n"])
    return eta + s * rng.standard_normal(eta.shape)


def _replicate_poisson(arms: NetworkArms, eta: np.ndarray, sigma: Any, rng: Any) -> np.ndarray:
    return rng.poisson(arms.stats["exposure"] * np.exp(eta)).astype(float)


_REPLICATE: dict[str, tuple[str, Callable[..., np.ndarray]]] = {
    "binomial": ("events", _replicate_binomial),
    "gaussian": ("mean", _replicate_gaussian),
    "poisson": ("events", _replicate_poisson),
}
"""Per family: the arm statistic a predictive check compares (events; the arm mean) and
its replication given the linear predictor."""


def replicate_arm_statistic(
    arms: NetworkArms, eta: np.ndarray, sigma: Any, rng: np.random.Generator
) -> tuple[str, np.ndarray, np.ndarray]:
    """Posterior predictive replicates of each arm's statistic (events, or the arm mean of
    a normal outcome): its name, the observed values (A,) and the replicates (S, A)."""
    _check_available(arms, _REPLICATE, "the predictive check")
    name, replicate = _REPLICATE[arms.family]
    return name, arms.stats[name], replicate(arms, eta, sigma, rng)


def rebased(arms: NetworkArms, bases: Mapping[int, int]) -> NetworkArms:
    """``arms`` with trial ``k``'s contrasts taken against treatment ``bases[k]`` (one of
    its arms) instead of its reference arm (node-splitting)."""
    for k, t in bases.items():
        if t not in arms.arm_treatment[arms.arm_study == k]:
            raise ValueError(f"trial {arms.studies[k]!r} has no arm {arms.treatments[t]!r}")
    layout = _contrasts(arms.k, arms.arm_study, arms.arm_treatment, bases)
    return replace(arms, **layout)
