"""Families whose sufficient statistics are cells of identical design rows (binomial,
survival): stacking, scales, crude arm totals and the cell-wise kernels they share.

A cell is a distinct design row of one trial (for survival: of one trial and interval); its
statistics are the participants or exposure time (``cell_n``) and the events
(``cell_events``) it holds. With only categorical covariates the cells are covariate
patterns; with a continuous covariate every participant is a cell of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from bayes_ipd.families.base import Family, take_columns
from bayes_ipd.families.regression import Unfittable, arm_name

if TYPE_CHECKING:
    from bayes_ipd.families.protocols import DesignLike
    from bayes_ipd.families.quadrature import TrialDraws

__all__ = [
    "CellFamily",
    "TrialCells",
    "arm_totals",
    "cell_eta",
    "draw_blocks",
    "sum_arms",
    "unique_cells",
]

_CELL_BLOCK = 2_000_000  # draws x cells replicated at once (memory bound)


@dataclass(frozen=True, eq=False)
class TrialCells:
    """One trial's cells for its numpy log-likelihood at given ``(alpha_k, theta_k)``.

    ``fixed`` (S, C) is the linear predictor without the intercept and treatment terms
    (covariates, interactions and any offset such as a baseline-hazard walk), ``treat``
    (C,) the cells' treatment column, ``n`` and ``events`` (C,) their statistics.
    """

    fixed: np.ndarray
    treat: np.ndarray
    n: np.ndarray
    events: np.ndarray


def unique_cells(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique rows (sorted) and, per input row, the index of its unique row.

    The same rows in the same (lexicographic) order as ``np.unique(keys, axis=0,
    return_inverse=True)``, found by a stable sort on the columns instead of on rows viewed
    as records, several times faster on many rows. ``keys`` must hold no NaN (validated
    data does not).
    """
    keys = np.asarray(keys)
    if keys.ndim != 2:
        raise ValueError(f"keys must be 2-D, got shape {keys.shape}")
    n = keys.shape[0]
    if n == 0:
        return keys.copy(), np.zeros(0, dtype=np.intp)
    order = np.lexsort(keys.T[::-1])
    ordered = keys[order]
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.any(ordered[1:] != ordered[:-1], axis=1, out=starts[1:])
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.cumsum(starts) - 1
    return ordered[starts], inverse


def arm_totals(design: DesignLike, statistic: str) -> np.ndarray:
    """(K, 2) sum of a cell statistic (``cell_events``, ``cell_n``) per trial and arm."""
    st = design.stats
    idx = st["cell_study"] * 2 + st["cell_z"][:, 1].astype(np.int64)
    return np.bincount(idx, weights=st[statistic], minlength=2 * design.k).reshape(design.k, 2)


def cell_eta(design: DesignLike, coef: np.ndarray) -> np.ndarray:
    """(S, C) linear predictor ``z_c'b_{k(c)}`` of every cell, for (S, K, m) draws."""
    st = design.stats
    return np.einsum("cm,scm->sc", st["cell_z"], coef[:, st["cell_study"], :])


def draw_blocks(n_samples: int, n_cells: int) -> list[slice]:
    """Slices of draws small enough that draws x cells stay within the memory bound."""
    size = max(1, _CELL_BLOCK // max(n_cells, 1))
    return [slice(i, min(i + size, n_samples)) for i in range(0, n_samples, size)]


def _arm_sum_matrix(design: DesignLike) -> sparse.csr_matrix:
    """(cells, 2K) indicator matrix summing cells into trial x arm."""
    st = design.stats
    group = st["cell_study"] * 2 + st["cell_z"][:, 1].astype(np.int64)
    cells = len(group)
    return sparse.csr_matrix(
        (np.ones(cells), (np.arange(cells), group)), shape=(cells, 2 * design.k)
    )


def sum_arms(values: np.ndarray, design: DesignLike) -> np.ndarray:
    """(S, C) cell values -> (S, K, 2) trial-arm sums."""
    summed = np.asarray((_arm_sum_matrix(design).T @ values.T).T)
    return summed.reshape(values.shape[0], design.k, 2)


def per_trial_sum(values: Any, cell_study: Any, k: int) -> Any:
    """Sum cell terms into trials (PyTensor; duplicate indices accumulate)."""
    import pytensor.tensor as pt

    return pt.inc_subtensor(pt.zeros(k)[cell_study], values)


def cell_linear_predictor(coef: Any, cell_z: Any, cell_study: Any) -> Any:
    """Linear predictor of each cell, ``z_c' b_{k(c)}`` (PyTensor)."""
    return (cell_z * coef[cell_study]).sum(axis=1)


@dataclass(frozen=True)
class CellFamily(Family):
    """A family whose statistics are cells: ``cell_z``, ``cell_n``, ``cell_events`` (and
    whatever else its :attr:`statistics` name, e.g. ``cell_interval``)."""

    def stack_statistics(
        self, per_trial: Sequence[Mapping[str, np.ndarray]], columns: Sequence[np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Concatenated cells with their trial index ``cell_study``."""
        out = {
            "cell_study": np.concatenate(
                [np.full(len(s["cell_n"]), i, dtype=np.int64) for i, s in enumerate(per_trial)]
            ),
            "cell_z": np.concatenate(
                [
                    take_columns(s["cell_z"], c, (1,))
                    for s, c in zip(per_trial, columns, strict=True)
                ]
            ),
        }
        for name in self.statistics:
            if name != "cell_z":
                out[name] = np.concatenate([s[name] for s in per_trial])
        return out

    def term_sums_of_squares(self, stats: Mapping[str, np.ndarray], p: int) -> np.ndarray:
        """Largest squared centred value of each term over the trial's cells."""
        if not p:
            return np.zeros(0)
        return (stats["cell_z"][:, 2 : 2 + p] ** 2).max(axis=0)

    def term_scales(self, design: DesignLike) -> np.ndarray:
        """Pooled within-trial SD of each term, weighted by participants or exposure."""
        p = len(design.covariate_terms)
        st = design.stats
        w = st["cell_n"] / st["cell_n"].sum()
        sd = np.sqrt((w[:, None] * st["cell_z"][:, 2 : 2 + p] ** 2).sum(axis=0))
        return np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)

    def data_arrays(self, design: DesignLike) -> dict[str, np.ndarray]:
        """The cells: ``cell_study``, ``cell_z``, ``cell_n``, ``cell_events`` and the
        family's other statistics."""
        names = ("cell_study", "cell_z", *(s for s in self.statistics if s != "cell_z"))
        return {name: design.stats[name] for name in names}

    def crude_arm_levels(
        self, events: np.ndarray, at_risk: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(K, 2) crude level of each trial and arm on the effect's scale, and its variance,
        from the arm totals of events and participants (or exposure)."""
        raise NotImplementedError

    # ------------------------------------------------- numpy per-trial log-likelihood

    def cell_kernel(self, eta: np.ndarray, n: np.ndarray, events: np.ndarray) -> np.ndarray:
        """Elementwise numpy log-likelihood of cells at linear predictor ``eta``."""
        raise NotImplementedError

    def cell_offset(self, design: DesignLike, trial: int, draws: TrialDraws) -> np.ndarray:
        """(S, C) offset of the trial's cells beyond ``z'b`` (0; survival: the hazard walk)."""
        return np.zeros((draws.n_draws, int(np.sum(design.stats["cell_study"] == trial))))

    def trial_cells(self, design: DesignLike, trial: int, draws: TrialDraws) -> TrialCells:
        """The trial's cells with every parameter but ``(alpha_k, theta_k)`` at its draws."""
        st = design.stats
        sel = st["cell_study"] == trial
        z = st["cell_z"][sel]
        fixed = draws.coef[:, trial, 2:] @ z[:, 2:].T + self.cell_offset(design, trial, draws)
        return TrialCells(fixed, z[:, 1], st["cell_n"][sel], st["cell_events"][sel])

    def cells_loglik(self, cells: TrialCells, own: np.ndarray) -> np.ndarray:
        """(S, N) log-likelihood of the cells at (S, N, 2) points ``(alpha_k, theta_k)``."""
        s, nodes, _ = own.shape
        if s * nodes * cells.fixed.shape[1] <= _CELL_BLOCK:
            eta = cells.fixed[:, None, :] + own[..., :1] + own[..., 1:] * cells.treat
            return self.cell_kernel(eta, cells.n, cells.events).sum(axis=-1)
        out = np.empty((s, nodes))
        for j in range(nodes):
            eta = cells.fixed + own[:, j, :1] + own[:, j, 1:] * cells.treat
            out[:, j] = self.cell_kernel(eta, cells.n, cells.events).sum(axis=-1)
        return out

    def trial_loglik(
        self, design: DesignLike, trial: int, draws: TrialDraws, own: np.ndarray
    ) -> np.ndarray:
        """(S, N) log-likelihood of trial ``trial`` from its cells (:meth:`cell_kernel`)."""
        return self.cells_loglik(self.trial_cells(design, trial, draws), own)

    def marginal_trial_loglik(
        self, design: DesignLike, trial: int, draws: TrialDraws
    ) -> np.ndarray:
        """Quadrature of :meth:`trial_loglik`, with the trial's cells assembled once."""
        cells = self.trial_cells(design, trial, draws)
        return draws.integrate(trial, lambda own: self.cells_loglik(cells, own))

    def _crude_levels(self, design: DesignLike) -> tuple[np.ndarray, np.ndarray]:
        return self.crude_arm_levels(
            arm_totals(design, "cell_events"), arm_totals(design, "cell_n")
        )

    def crude_effects(self, design: DesignLike) -> tuple[np.ndarray, np.ndarray]:
        """Treated minus control crude level, with the SD of that difference."""
        level, var = self._crude_levels(design)
        return level[:, 1] - level[:, 0], np.sqrt(var.sum(axis=1))

    def control_levels(self, design: DesignLike) -> tuple[np.ndarray, np.ndarray]:
        """The control arm's crude level and its SE."""
        level, var = self._crude_levels(design)
        return level[:, 0], np.sqrt(var[:, 0])

    def check_trial_events(self, responses: Mapping[str, np.ndarray], treat: np.ndarray) -> None:
        """Both arms need events."""
        flags = responses[str(self.event_role)]
        missing = [arm for arm in (0.0, 1.0) if not np.any(flags[treat == arm] == 1.0)]
        if len(missing) == 2:
            raise Unfittable("no events in either arm")
        if missing:
            raise Unfittable(f"no events in the {arm_name(missing[0] == 1.0)} arm")
