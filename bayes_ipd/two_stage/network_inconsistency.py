"""Inconsistency in a network: the design-by-treatment Q decomposition and node-splitting.

**Q decomposition** (Higgins et al. 2012, Res Synth Methods 3:98; R ``netmeta``'s
``decomp.design`` under fixed effects). With ``tau^2 = 0``:

* ``q_total``: the residual ``Q`` of the consistency model (``y`` on the basic parameters),
  on ``N - (T - 1)`` df;
* ``q_within``: the residual ``Q`` of the full design-by-treatment interaction model, one
  free parameter per design and contrast (heterogeneity between trials of the same
  design), on ``N - (number of design-contrast pairs)`` df;
* ``q_between = q_total - q_within``: inconsistency between designs, on the difference of
  the df, with its chi-square ``p_between``.

Each is the ``QE`` of a fixed-effect ``metafor::rma.mv(yi, V, mods = ...)`` on the same
contrasts.

**Node-splitting** by back-calculation (Dias et al. 2010, Stat Med 29:932; ``netmeta``'s
``netsplit`` default method). For a pair ``A, B`` (B vs A), the *direct* estimate pools the
``B - A`` contrast of every trial holding both (a multi-arm trial's own ``B - A`` with
variance ``V_BB + V_AA - 2 V_AB``) by inverse variance with the network's ``tau^2`` added
(the common ``tau^2``, as ``netmeta``); the network estimate ``n`` (variance ``v_n``) comes
from the consistency model (without an HKSJ factor); the *indirect* estimate is back-calculated,
``v_i = 1 / (1/v_n - 1/v_d)``, ``i = v_i (n / v_n - d / v_d)``; ``difference = d - i`` with
variance ``v_d + v_i`` and a two-sided z test. A pair is split when it has direct evidence
and the network still joins A and B once every trial holding both is removed. With
multi-arm trials, direct and indirect evidence are not independent, so this is the usual
approximation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from bayes_ipd.data.network import comparison_label
from bayes_ipd.two_stage.network_contrasts import TrialContrasts
from bayes_ipd.two_stage.network_pooling import Contrasts, NetworkFit, gls

__all__ = ["Decomposition", "NodeSplit", "decompose_q", "node_split"]


@dataclass(frozen=True)
class Decomposition:
    """The design-by-treatment decomposition of ``Q`` (fixed effects).

    Attributes
    ----------
    q_total, q_within, q_between : float
    df_total, df_within, df_between : int
    p_total, p_within, p_between : float
    """

    q_total: float
    df_total: int
    q_within: float
    df_within: int
    q_between: float
    df_between: int

    @staticmethod
    def _p(q: float, df: int) -> float:
        return float(stats.chi2.sf(q, df)) if df > 0 else math.nan

    @property
    def p_total(self) -> float:
        return self._p(self.q_total, self.df_total)

    @property
    def p_within(self) -> float:
        return self._p(self.q_within, self.df_within)

    @property
    def p_between(self) -> float:
        return self._p(self.q_between, self.df_between)

    def to_dict(self) -> dict[str, float | int]:
        """The JSON ``inconsistency`` member."""
        return {
            "q_total": self.q_total,
            "q_within": self.q_within,
            "q_between": self.q_between,
            "df_between": self.df_between,
            "p_between": self.p_between,
        }


def _design_columns(trials: tuple[TrialContrasts, ...]) -> np.ndarray:
    """One indicator column per (design, contrast) pair."""
    keys = [(t.design, arm) for t in trials for arm in t.arms]
    levels = list(dict.fromkeys(keys))
    x = np.zeros((len(keys), len(levels)))
    x[np.arange(len(keys)), [levels.index(k) for k in keys]] = 1.0
    return x


def decompose_q(contrasts: Contrasts, trials: tuple[TrialContrasts, ...]) -> Decomposition:
    """Split the fixed-effect ``Q`` into within- and between-design parts.

    Parameters
    ----------
    contrasts : Contrasts
        The stacked contrasts of ``trials``.
    trials : tuple of TrialContrasts

    Returns
    -------
    Decomposition
    """
    n = contrasts.y.size
    total = gls(contrasts, 0.0)
    design_x = _design_columns(trials)
    within = gls(contrasts, 0.0, design_x)
    df_total = n - contrasts.x.shape[1]
    df_within = n - design_x.shape[1]
    return Decomposition(
        total.q,
        df_total,
        within.q,
        df_within,
        max(total.q - within.q, 0.0),
        df_total - df_within,
    )


@dataclass(frozen=True)
class NodeSplit:
    """Direct and indirect evidence on one comparison (``second vs first``)."""

    first: str
    second: str
    k_direct: int
    direct: float
    direct_se: float
    indirect: float
    indirect_se: float
    network: float
    network_se: float

    @property
    def difference(self) -> float:
        return self.direct - self.indirect

    @property
    def difference_se(self) -> float:
        return math.hypot(self.direct_se, self.indirect_se)

    @property
    def p(self) -> float:
        return float(2.0 * stats.norm.sf(abs(self.difference / self.difference_se)))

    def to_dict(self) -> dict[str, float | str]:
        """One element of the JSON ``node_split`` list."""
        return {
            "comparison": comparison_label(self.first, self.second),
            "direct": self.direct,
            "indirect": self.indirect,
            "difference": self.difference,
            "p": self.p,
        }


def _pair_contrast(trial: TrialContrasts, a: int, b: int) -> tuple[float, float]:
    """Trial's ``b - a`` contrast and its variance (``a`` may be its reference arm)."""
    arms = list(trial.arms)
    vec = np.zeros(len(arms))
    vec[arms.index(b)] += 1.0
    if a != trial.reference:
        vec[arms.index(a)] -= 1.0
    return float(vec @ trial.estimate), float(vec @ trial.covariance @ vec)


def _joined_without(trials: tuple[TrialContrasts, ...], a: int, b: int, n_t: int) -> bool:
    others = [t.design for t in trials if not {a, b} <= set(t.design)]
    pairs = [(p, q) for design in others for p, q in combinations(design, 2)]
    if not pairs:
        return False
    rows, cols = zip(*pairs, strict=True)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_t, n_t))
    _, label = connected_components(graph, directed=False)
    return bool(label[a] == label[b])


def _network_pair(fit: NetworkFit, a: int, b: int) -> tuple[float, float]:
    vec = np.zeros(fit.estimate.size + 1)
    vec[b] += 1.0
    vec[a] -= 1.0
    vec = vec[1:]
    return float(vec @ fit.estimate), float(vec @ fit.model_covariance @ vec)


def node_split(
    trials: tuple[TrialContrasts, ...], fit: NetworkFit, treatments: tuple[str, ...]
) -> tuple[NodeSplit, ...]:
    """Back-calculated direct vs indirect evidence of every comparison that has both.

    Parameters
    ----------
    trials : tuple of TrialContrasts
        The pooled trials.
    fit : NetworkFit
        The consistency model (its ``tau^2`` is added to the direct trials' variances).
    treatments : tuple of str

    Returns
    -------
    tuple of NodeSplit
        In network order of the pairs.
    """
    splits = []
    for a, b in combinations(range(len(treatments)), 2):
        holding = [t for t in trials if {a, b} <= set(t.design)]
        if not holding or not _joined_without(trials, a, b, len(treatments)):
            continue
        pairs = np.array([_pair_contrast(t, a, b) for t in holding])
        weights = 1.0 / (pairs[:, 1] + fit.tau2)
        v_direct = 1.0 / weights.sum()
        direct = float(v_direct * (weights * pairs[:, 0]).sum())
        net, v_net = _network_pair(fit, a, b)
        precision = 1.0 / v_net - 1.0 / v_direct
        if precision <= 1e-12 / v_net:
            continue
        v_indirect = 1.0 / precision
        indirect = float(v_indirect * (net / v_net - direct / v_direct))
        splits.append(
            NodeSplit(
                treatments[a],
                treatments[b],
                len(holding),
                direct,
                math.sqrt(v_direct),
                indirect,
                math.sqrt(v_indirect),
                net,
                math.sqrt(v_net),
            )
        )
    return tuple(splits)
