"""Exact sufficient statistics of repeated-measures trials, per trial, arm and visit pattern.

A participant ``i`` of trial ``k`` and arm ``a`` attends the visits ``O`` (its *missing-visit
pattern*) and has outcome vector ``y_i`` (``|O| = d``) and baseline covariates ``x_i``
(``p``, centred on the trial's participant mean). Under the MMRM

    y_i ~ N(m + G x_i, S),   m = (mu_k + a theta_k)_O,  G = (beta)_O,  S = (Sigma_k)_{O,O}

the log-likelihood of the ``n`` participants sharing ``(k, a, O)`` is

    -1/2 [ n d log(2 pi) + n log|S| + tr(S^-1 A) ],   A = sum_i r_i r_i',  r_i = y_i - m - G x_i

and, with ``s = sum y_i``, ``C = sum y_i y_i'``, ``s_x = sum x_i``, ``C_xx = sum x_i x_i'``,
``C_yx = sum y_i x_i'``,

    A = C - s m' - m s' + n m m' - C_yx G' - G C_yx' + G C_xx G' + m s_x' G' + G s_x m'

(without covariates ``sum_i (y_i - m)' S^-1 (y_i - m) = tr(S^-1 [C - s m' - m s' + n m m'])``).
The formula holds for any ``G`` shared by the group, so a treatment-covariate interaction
needs no further statistic: the treated arm's ``G`` is ``beta + gamma_within`` at the
visits where the interaction acts, and its across-trial part (on the trial's covariate
mean ``covariate_means``) moves ``m``.
So :class:`RepeatedSummaries` (``n, s, C, s_x, C_xx, C_yx`` per group) carry all the data
say about the model: the cost of a log-likelihood does not grow with participants, and a
site can share its summaries (:meth:`RepeatedSummaries.to_dict`) instead of rows.

Statistics are stored *padded* to all ``V`` visits (zeros at the visits a pattern lacks,
with the pattern's ``mask``), the outcome taken about its trial-and-visit mean ``centre``
(the mean is added back to the model's intercepts; exact, and free of the cancellation of
large ``n c^2`` terms).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.conventions import readonly
from bayes_ipd.data.visits import RepeatedIPD
from bayes_ipd.errors import IPDDataError

__all__ = [
    "RepeatedSummaries",
    "constant_within_trials",
    "pattern_loglik_numpy",
    "summarise_repeated",
    "wide_outcomes",
]

_ARRAYS = ("trial", "arm", "mask", "n", "sy", "syy", "sx", "sxx", "syx", "centre")


@dataclass(frozen=True, eq=False)
class RepeatedSummaries:
    """Exact per-(trial, arm, pattern) statistics of repeated-measures trials.

    Attributes
    ----------
    studies, visits, covariates : tuple of str
    trial, arm : ndarray (G,) of int64
        Each group's trial index and arm (0 control, 1 treated).
    mask : ndarray (G, V) of bool
        The visits the group's participants attend.
    n : ndarray (G,)
        Participants in the group.
    sy, syy : ndarray (G, V), (G, V, V)
        Sums of the centred outcome vectors and of their cross-products (zero off-pattern).
    sx, sxx, syx : ndarray (G, p), (G, p, p), (G, V, p)
        Sums of the centred covariates, their cross-products, outcome-covariate products.
    centre : ndarray (K, V)
        The outcome's mean per trial and visit (taken out of ``sy``, ``syy``, ``syx``).
    outcome_mean, outcome_sd : float
        Grand mean and pooled SD within trial, arm and visit (the priors' scale).
    covariate_means : ndarray (K, p), optional
        Each trial's participant mean of the raw covariates (the centres taken out of
        ``sx``, ``sxx``, ``syx``): the across-trial part of a treatment-covariate
        interaction. None in summaries shared without it (then no interactions).
    """

    studies: tuple[str, ...]
    visits: tuple[str, ...]
    covariates: tuple[str, ...]
    trial: np.ndarray
    arm: np.ndarray
    mask: np.ndarray
    n: np.ndarray
    sy: np.ndarray
    syy: np.ndarray
    sx: np.ndarray
    sxx: np.ndarray
    syx: np.ndarray
    centre: np.ndarray
    outcome_mean: float
    outcome_sd: float
    covariate_means: np.ndarray | None = None

    def __post_init__(self) -> None:
        kinds = {"trial": np.int64, "arm": np.int64, "mask": bool}
        for name in _ARRAYS:
            object.__setattr__(self, name, readonly(getattr(self, name), kinds.get(name)))
        g, v = self.mask.shape
        if self.sy.shape != (g, v) or self.centre.shape != (len(self.studies), v):
            raise IPDDataError("repeated-measures summaries: array shapes do not agree")
        if self.covariate_means is not None:
            means = np.asarray(self.covariate_means, dtype=np.float64).reshape(
                len(self.studies), len(self.covariates)
            )
            object.__setattr__(self, "covariate_means", readonly(means))

    @property
    def k(self) -> int:
        """Trials."""
        return len(self.studies)

    @property
    def n_participants(self) -> int:
        """Participants summarised."""
        return int(self.n.sum())

    @property
    def n_observations(self) -> int:
        """Participant-visits summarised."""
        return int((self.n * self.mask.sum(axis=1)).sum())

    def counts(self) -> pd.DataFrame:
        """Observed participants per trial, arm and visit (``study, arm, visit, n``)."""
        cells = np.zeros((self.k, 2, len(self.visits)))
        np.add.at(cells, (self.trial, self.arm), self.mask * self.n[:, None])
        index = pd.MultiIndex.from_product(
            [list(self.studies), ["control", "treated"], list(self.visits)],
            names=["study", "arm", "visit"],
        )
        return pd.Series(cells.ravel().astype(np.int64), index=index, name="n").reset_index()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (what a site shares instead of its rows)."""
        out: dict[str, Any] = {
            "studies": list(self.studies),
            "visits": list(self.visits),
            "covariates": list(self.covariates),
            "outcome_mean": self.outcome_mean,
            "outcome_sd": self.outcome_sd,
        }
        out.update({name: getattr(self, name).tolist() for name in _ARRAYS})
        if self.covariate_means is not None:
            out["covariate_means"] = self.covariate_means.tolist()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RepeatedSummaries:
        """Inverse of :meth:`to_dict`."""
        try:
            arrays = {name: np.asarray(data[name], dtype=np.float64) for name in _ARRAYS}
            p = len(data["covariates"])
            g = arrays["n"].size
            v = len(data["visits"])
            for name, shape in (("sx", (g, p)), ("sxx", (g, p, p)), ("syx", (g, v, p))):
                arrays[name] = arrays[name].reshape(shape)
            return cls(
                studies=tuple(map(str, data["studies"])),
                visits=tuple(map(str, data["visits"])),
                covariates=tuple(map(str, data["covariates"])),
                outcome_mean=float(data["outcome_mean"]),
                outcome_sd=float(data["outcome_sd"]),
                covariate_means=data.get("covariate_means"),
                **arrays,
            )
        except KeyError as missing:
            raise IPDDataError(f"repeated-measures summaries lack {missing}") from None


def wide_outcomes(data: RepeatedIPD) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Participants in wide form: ``(Y, X, trial, arm)``, ``Y`` (N, V) with NaN where a
    visit is missing, ``X`` (N, p) raw baseline covariates, trial and arm per participant."""
    ids, first, row_of = np.unique(data.participant, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # participants in order of first row
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    who = rank[row_of]
    y = np.full((ids.size, len(data.visits)), np.nan)
    y[who, data.visit] = np.asarray(data.ipd.outcome, dtype=np.float64)
    rows = first[order]
    x = _covariate_matrix(data)[rows]
    return y, x, data.ipd.study[rows].astype(np.int64), data.ipd.treat[rows].astype(np.int64)


def _covariate_matrix(data: RepeatedIPD) -> np.ndarray:
    covs = data.ipd.covariates
    try:
        return covs.to_numpy(np.float64).reshape(len(covs), -1)
    except (TypeError, ValueError):
        raise IPDDataError(
            "the one-stage repeated-measures model takes numeric baseline covariates "
            f"({', '.join(map(str, covs.columns))}); code categorical ones as 0/1 columns"
        ) from None


def summarise_repeated(data: RepeatedIPD) -> RepeatedSummaries:
    """The exact statistics of :class:`~bayes_ipd.data.visits.RepeatedIPD` rows (module
    docstring): covariates centred on their trial's participant mean, the outcome on its
    trial-and-visit mean.

    Raises
    ------
    IPDDataError
        A trial with no participant in one arm, or non-numeric covariates.
    """
    y, x, trial, arm = wide_outcomes(data)
    k, v = data.ipd.k, len(data.visits)
    _check_arms(trial, arm, data.studies)
    observed = np.isfinite(y)
    covariate_means = _group_means(x, trial, k)
    x = x - covariate_means[trial]
    centre = _visit_centres(y, observed, trial, k)
    yc = np.where(observed, y - centre[trial], 0.0)
    bits = observed @ (1 << np.arange(v))
    keys = np.stack([trial, arm, bits], axis=1)
    groups, group_of = np.unique(keys, axis=0, return_inverse=True)
    group_of = group_of.ravel()
    n_groups, p = groups.shape[0], x.shape[1]
    n = np.bincount(group_of, minlength=n_groups).astype(np.float64)
    sy = _group_sum(yc, group_of, n_groups)
    syy = _group_sum(yc[:, :, None] * yc[:, None, :], group_of, n_groups)
    sx = _group_sum(x, group_of, n_groups).reshape(n_groups, p)
    sxx = _group_sum(x[:, :, None] * x[:, None, :], group_of, n_groups).reshape(n_groups, p, p)
    syx = _group_sum(yc[:, :, None] * x[:, None, :], group_of, n_groups).reshape(n_groups, v, p)
    mask = (groups[:, 2:3] >> np.arange(v)) & 1
    return RepeatedSummaries(
        studies=data.studies,
        visits=data.visits,
        covariates=tuple(map(str, data.ipd.covariates.columns)),
        trial=groups[:, 0],
        arm=groups[:, 1],
        mask=mask.astype(bool),
        n=n,
        sy=sy,
        syy=syy,
        sx=sx,
        sxx=sxx,
        syx=syx,
        centre=centre,
        outcome_mean=float(np.nanmean(y)),
        outcome_sd=_pooled_sd(y, observed, trial, arm),
        covariate_means=covariate_means,
    )


def _check_arms(trial: np.ndarray, arm: np.ndarray, studies: tuple[str, ...]) -> None:
    for k, name in enumerate(studies):
        arms = np.unique(arm[trial == k])
        if arms.size < 2:
            raise IPDDataError(
                f"trial {name!r} has participants in one arm only; the one-stage "
                "repeated-measures model needs both arms in every trial"
            )


def _group_sum(values: np.ndarray, group_of: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.zeros((n_groups, *values.shape[1:]))
    np.add.at(out, group_of, values)
    return out


def _group_means(x: np.ndarray, trial: np.ndarray, k: int) -> np.ndarray:
    counts = np.bincount(trial, minlength=k).astype(np.float64)
    return _group_sum(x, trial, k) / np.maximum(counts, 1.0)[:, None]


def _visit_centres(y: np.ndarray, observed: np.ndarray, trial: np.ndarray, k: int) -> np.ndarray:
    sums = _group_sum(np.where(observed, y, 0.0), trial, k)
    counts = _group_sum(observed.astype(np.float64), trial, k)
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)


def _pooled_sd(y: np.ndarray, observed: np.ndarray, trial: np.ndarray, arm: np.ndarray) -> float:
    cell = trial * 2 + arm
    frame = pd.DataFrame(y).assign(cell=cell)
    centred = frame.groupby("cell").transform(lambda c: c - c.mean()).to_numpy()
    counts = pd.DataFrame(observed).assign(cell=cell).groupby("cell").sum().to_numpy()
    dof = float(np.maximum(counts - 1, 0).sum())
    ss = float(np.nansum(centred**2))
    sd = np.sqrt(ss / dof) if dof > 0 else float(np.nanstd(y))
    return float(sd) if sd > 0 else 1.0


def constant_within_trials(
    summaries: RepeatedSummaries, names: tuple[str, ...]
) -> dict[str, list[str]]:
    """The trials in which each covariate of ``names`` takes one value (no within-trial
    information on its interaction with treatment): ``{covariate: [study, ...]}``, only
    covariates with such trials."""
    s = summaries
    within = np.zeros((s.k, len(s.covariates)))
    if s.covariates:
        np.add.at(within, s.trial, np.diagonal(s.sxx, axis1=1, axis2=2))
    counts = np.bincount(s.trial, weights=s.n, minlength=s.k)
    variance = within / np.maximum(counts, 1.0)[:, None]
    centre = s.covariate_means if s.covariate_means is not None else np.zeros_like(variance)
    flat = variance <= 1e-10 * (1.0 + centre**2)  # rounding of x - xbar_k only
    out: dict[str, list[str]] = {}
    for name in names:
        j = s.covariates.index(name)
        trials = [s.studies[k] for k in np.flatnonzero(flat[:, j])]
        if trials:
            out[name] = trials
    return out


def pattern_loglik_numpy(
    summaries: RepeatedSummaries,
    mean: np.ndarray,
    beta: np.ndarray,
    covariance: np.ndarray,
    treated_beta: np.ndarray | None = None,
) -> np.ndarray:
    """Log-likelihood of each group from its statistics (numpy; the module's formula).

    Parameters
    ----------
    summaries : RepeatedSummaries
    mean : ndarray (K, 2, V)
        Visit means per trial and arm at the trial's mean covariates (on the outcome's own
        scale: the ``centre`` is taken out here).
    beta : ndarray (V, p)
        Covariate effects per visit.
    covariance : ndarray (K, V, V)
        Residual covariance per trial.
    treated_beta : ndarray (V, p), optional
        What the treated arm adds to ``beta`` (the within-trial treatment-covariate
        interactions by visit; zero where there is none).

    Returns
    -------
    ndarray (G,)
    """
    s = summaries
    out = np.empty(s.n.size)
    for g in range(s.n.size):
        o = np.flatnonzero(s.mask[g])
        k, a, n = int(s.trial[g]), int(s.arm[g]), float(s.n[g])
        m = (mean[k, a] - s.centre[k])[o]
        gm = (beta + a * treated_beta)[o] if treated_beta is not None else beta[o]
        sy, syx, sx = s.sy[g, o], s.syx[g][o], s.sx[g]
        a_mat = (
            s.syy[g][np.ix_(o, o)]
            - np.outer(sy, m)
            - np.outer(m, sy)
            + n * np.outer(m, m)
            - syx @ gm.T
            - gm @ syx.T
            + gm @ s.sxx[g] @ gm.T
            + np.outer(m, gm @ sx)
            + np.outer(gm @ sx, m)
        )
        cov = covariance[k][np.ix_(o, o)]
        _, logdet = np.linalg.slogdet(cov)
        quad = float(np.trace(np.linalg.solve(cov, a_mat)))
        out[g] = -0.5 * (n * o.size * np.log(2 * np.pi) + n * logdet + quad)
    return out
