"""Node-splitting on the one-stage route: direct vs indirect evidence per comparison.

For each comparison ``y vs x`` (``x`` earlier in network order) that has direct evidence
(trials holding both) and indirect evidence (``x`` and ``y`` still joined once those trials
are removed), the model of :func:`~bayes_ipd.one_stage.network_model.build_network_model`
with ``split=(x, y)`` is fitted (Dias et al. 2010, Stat Med 29:932; the SIDE split of R
``multinma``): ``d_direct`` is the direct estimate, ``d_y - d_x`` from the rest of the
network the indirect one, their difference ``direct - indirect`` and the two-sided
posterior p-value ``2 min(P(diff > 0), P(diff < 0))``. One NUTS run per comparison, with the
fit's sampler settings, priors and effects.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from bayes_ipd.data.network import comparison_label
from bayes_ipd.draws import chain_draw, posterior_node
from bayes_ipd.one_stage.network_model import NetworkModel, build_network_model
from bayes_ipd.one_stage.network_summaries import NetworkArms, rebased
from bayes_ipd.priors import PriorSet

__all__ = ["node_splits", "split_fits", "split_label", "split_pairs", "split_summary"]


def _designs(arms: NetworkArms) -> list[set[int]]:
    return [set(arms.arm_treatment[arms.arm_study == k].tolist()) for k in range(arms.k)]


def split_pairs(arms: NetworkArms) -> list[tuple[int, int]]:
    """The comparisons ``(x, y)`` with direct and indirect evidence, in network order."""
    designs = _designs(arms)
    n_t = len(arms.treatments)
    found = []
    for x, y in combinations(range(n_t), 2):
        if not any({x, y} <= d for d in designs):
            continue
        pairs = [p for d in designs if not {x, y} <= d for p in combinations(sorted(d), 2)]
        if not pairs:
            continue
        rows, cols = zip(*pairs, strict=True)
        graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_t, n_t))
        _, label = connected_components(graph, directed=False)
        if label[x] == label[y]:
            found.append((x, y))
    return found


def _p_value(difference: np.ndarray) -> float:
    return float(min(1.0, 2.0 * min((difference > 0).mean(), (difference < 0).mean())))


def split_fits(
    arms: NetworkArms, priors: PriorSet, effects: str, settings: Any
) -> list[tuple[tuple[int, int], NetworkModel, Any]]:
    """One node-split fit per comparison of :func:`split_pairs`: ``[((x, y), model,
    idata)]``."""
    from bayes_ipd.one_stage.sampling import sample

    designs = _designs(arms)
    fits = []
    for x, y in split_pairs(arms):
        bases = {k: x for k, d in enumerate(designs) if {x, y} <= d}
        built = build_network_model(rebased(arms, bases), priors, effects, split=(x, y))
        idata, _ = sample(built.as_built(), settings)
        fits.append(((x, y), built, idata))
    return fits


def split_label(arms: NetworkArms, pair: tuple[int, int]) -> str:
    """``"y vs x"`` of a split pair ``(x, y)``."""
    return comparison_label(arms.treatments[pair[0]], arms.treatments[pair[1]])


def split_summary(arms: NetworkArms, pair: tuple[int, int], idata: Any) -> dict[str, Any]:
    """``{"comparison", "direct", "indirect", "difference", "p"}`` of one node-split fit."""
    x, y = pair
    direct = chain_draw(idata.posterior["d_direct"])
    d = idata.posterior["d"].transpose("chain", "draw", "treatment").values
    d_full = np.concatenate([np.zeros((*d.shape[:2], 1)), d], axis=2)
    indirect = d_full[:, :, y] - d_full[:, :, x]
    return {
        "comparison": split_label(arms, pair),
        "direct": posterior_node(direct),
        "indirect": posterior_node(indirect),
        "difference": posterior_node(direct - indirect),
        "p": _p_value(direct - indirect),
    }


def node_splits(
    arms: NetworkArms, priors: PriorSet, effects: str, settings: Any
) -> list[dict[str, Any]]:
    """``[{"comparison", "direct", "indirect", "difference", "p"}]`` (posterior nodes and
    the p-value) for every comparison of :func:`split_pairs`."""
    return [
        split_summary(arms, pair, idata)
        for pair, _, idata in split_fits(arms, priors, effects, settings)
    ]
