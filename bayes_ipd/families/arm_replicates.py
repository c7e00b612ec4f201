"""Replicates of each arm's checked statistic from a design whose rows carry **arm dummy
columns** (the predictive check per trial and arm of the one-stage network model with
covariates, :mod:`bayes_ipd.one_stage.network_covariate_ppc`).

A design row ``z`` of trial ``k`` belongs to arm ``g = 0`` when every column in
``arm_columns`` is 0 and to arm ``g = 1 + i`` when column ``arm_columns[i]`` is 1 (the
network model's slot dummies; the two-arm model's treatment column is the case of one
column). Each participant (cell of identical rows) keeps its own linear predictor
``z' b_k``, so covariates that differ within an arm are respected; the family's
:meth:`~bayes_ipd.families.base.Family.arm_replicates` draws each cell's outcome from it
and these helpers sum the cells into arms:

* cell families (binomial, poisson, negative binomial, survival, ordinal): a replicate per
  cell from its own ``eta``, summed per trial and arm (:func:`replicate_cell_sums`);
* gaussian: the arm's sum of ``z`` over its rows is its row of ``Z'Z`` (the dummy's row;
  the base arm's by difference from the intercept's row), so the replicated arm mean is
  ``N(mean eta over the arm's rows, sigma_k^2 / n_a)`` exactly (:func:`arm_rows`).

The statistic is the one the family's arm-level network model checks
(:attr:`~bayes_ipd.families.network_arms.NetworkArmModel.replicated`: events, the arm
mean, the mean level), so both network models give the same table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

__all__ = [
    "ArmReplicates",
    "arm_rows",
    "cell_arm_replicates",
    "cell_arms",
    "group_sums",
    "mean_or_nan",
    "replicate_cell_sums",
    "row_arms",
]

_BLOCK = 2_000_000  # draws x cells replicated at once (memory bound)


@dataclass(frozen=True, eq=False)
class ArmReplicates:
    """Observed and replicated arm statistic per trial and arm of a design.

    Attributes
    ----------
    statistic : str
        Its name (``"events"``, ``"mean"``, ``"mean_level"``).
    observed : numpy.ndarray
        (K, G) per trial and arm (``G = 1 + len(arm_columns)``; NaN where a trial has no
        such arm for a mean).
    replicates : numpy.ndarray
        (S, K, G) one replicate per draw.
    """

    statistic: str
    observed: np.ndarray
    replicates: np.ndarray


def row_arms(z: np.ndarray, arm_columns: Sequence[int]) -> np.ndarray:
    """(C,) arm of each design row: 0 where every arm dummy is 0, else 1 + the dummy set.

    Examples
    --------
    >>> row_arms(np.array([[1.0, 0, 0], [1, 0, 1], [1, 1, 0]]), (1, 2)).tolist()
    [0, 2, 1]
    """
    d = np.asarray(z)[:, list(arm_columns)]
    return np.where(d.any(axis=1), 1 + d.argmax(axis=1), 0).astype(np.int64)


def cell_arms(stats: Any, arm_columns: Sequence[int]) -> np.ndarray:
    """(C,) index ``k G + g`` of each cell's trial and arm (``stats``: ``cell_z``,
    ``cell_study``)."""
    g = 1 + len(arm_columns)
    return np.asarray(stats["cell_study"]) * g + row_arms(stats["cell_z"], arm_columns)


def group_sums(values: np.ndarray, groups: np.ndarray, k: int, g: int) -> np.ndarray:
    """(..., K, G) sums of (..., C) cell values over the cells of each trial and arm."""
    values = np.asarray(values, dtype=np.float64)
    cells = groups.size
    indicator = sparse.csr_matrix(
        (np.ones(cells), (np.arange(cells), groups)), shape=(cells, k * g)
    )
    flat = values.reshape(-1, cells)
    summed = np.asarray((indicator.T @ flat.T).T)
    return summed.reshape(*values.shape[:-1], k, g)


def replicate_cell_sums(
    stats: Any,
    coef: np.ndarray,
    arm_columns: Sequence[int],
    draw: Callable[[np.ndarray, slice], np.ndarray],
    k: int,
    finish: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """(S, K, G) per-cell replicates summed per trial and arm.

    Parameters
    ----------
    stats : Mapping
        The cells (``cell_z`` (C, m), ``cell_study`` (C,)).
    coef : numpy.ndarray
        (S, K, m) coefficient rows per draw.
    arm_columns : sequence of int
    draw : callable
        ``draw(eta, block)``: (s, C) replicated cell values given the cells' linear
        predictor ``eta`` (s, C) of the draws ``block`` (a slice).
    k : int
        Trials.
    finish : callable, optional
        Applied to each block's (s, K, G) arm sums: a Poisson family's ``draw`` returns
        the cells' expected counts and ``finish`` draws one Poisson count per arm (a sum
        of independent Poisson counts is Poisson with the summed mean: the same
        distribution, one draw per arm instead of one per cell).
    """
    z, study = np.asarray(stats["cell_z"]), np.asarray(stats["cell_study"])
    groups, g = cell_arms(stats, arm_columns), 1 + len(arm_columns)
    s = coef.shape[0]
    out = np.empty((s, k, g))
    size = max(1, _BLOCK // max(len(study), 1))
    order = np.argsort(study, kind="stable")  # stacked trials: already in order
    z, starts = z[order], np.searchsorted(study[order], np.arange(k + 1))
    trials = [(t, slice(starts[t], starts[t + 1])) for t in range(k)]
    back = np.argsort(order)
    for start in range(0, s, size):
        block = slice(start, min(start + size, s))
        eta = np.empty((block.stop - block.start, len(study)))
        for t, cells in trials:  # z_c' b_k per trial: no (draws, cells, m) array
            eta[:, cells] = np.ascontiguousarray(coef[block, t, :]) @ z[cells].T  # BLAS
        eta = eta[:, back] if np.any(order != back) else eta
        summed = group_sums(draw(eta, block), groups, k, g)
        out[block] = summed if finish is None else finish(summed)
    return out


def arm_rows(matrix: np.ndarray, arm_columns: Sequence[int]) -> np.ndarray:
    """(K, G, ...) each arm's row of per-trial cross-products ``Z'[Z y]`` (K, m, ...):
    the dummy's row for arm ``1 + i``, the intercept's row minus the dummies' for arm 0
    (column 0 of ``Z`` is the intercept, so the row is the sum over the arm's rows).

    Examples
    --------
    >>> z = np.array([[1.0, 0.0, 2.0], [1.0, 1.0, 3.0], [1.0, 1.0, 5.0]])
    >>> arm_rows((z.T @ z)[None], (1,))[0].tolist()
    [[1.0, 0.0, 2.0], [2.0, 2.0, 8.0]]
    """
    cols = list(arm_columns)
    dummies = matrix[:, cols]
    base = matrix[:, :1] - dummies.sum(axis=1, keepdims=True)
    return np.concatenate([base, dummies], axis=1)


def mean_or_nan(total: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``total / n``, NaN where ``n`` is 0 (an arm a trial does not have)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, total / np.where(n > 0, n, 1.0), np.nan)


def cell_arm_replicates(
    statistic: str,
    stats: Any,
    coef: np.ndarray,
    arm_columns: Sequence[int],
    draw: Callable[[np.ndarray, slice], np.ndarray],
    k: int,
    observed: np.ndarray,
    n: np.ndarray | None = None,
    finish: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ArmReplicates:
    """The check of a cell family: ``observed`` (C,) and the replicates of
    :func:`replicate_cell_sums` (``draw``, ``finish``) summed per trial and arm; with ``n``
    (C,) participants per cell, both divided by the arm's participants (a mean per
    participant)."""
    groups, g = cell_arms(stats, arm_columns), 1 + len(arm_columns)
    obs = group_sums(observed, groups, k, g)
    reps = replicate_cell_sums(stats, coef, arm_columns, draw, k, finish)
    if n is not None:
        size = group_sums(n, groups, k, g)
        obs, reps = mean_or_nan(obs, size), mean_or_nan(reps, size)
    return ArmReplicates(statistic, obs, reps)
