"""Posterior predictive check of a survival fit's events per trial, interval and arm.

It works from the design's exposure cells, which the survival family sums into trial x
interval x arm groups (:meth:`~bayes_ipd.families.survival.SurvivalFamily.interval_totals`,
:meth:`~bayes_ipd.families.survival.SurvivalFamily.expected_interval_events`), so trials
given as summaries are checked too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayes_ipd.checks.baseline_hazard import interval_labels, require_survival
from bayes_ipd.conventions import ARMS
from bayes_ipd.draws import coefficient_draws, log_hazard_draws, quantile_labels
from bayes_ipd.families.survival_time import treated_offset

if TYPE_CHECKING:
    from bayes_ipd.draws import Fit
    from bayes_ipd.families.protocols import DesignLike as Design

__all__ = ["expected_interval_events", "interval_event_ppc"]


def expected_interval_events(
    design: Design, coef: np.ndarray, log_hazard: np.ndarray, offset: np.ndarray | None = None
) -> np.ndarray:
    """(S, K·J·2) expected events per trial, interval and arm, for each draw.

    ``sum_c E_c exp(log h_kj + z_c'b_k)`` over the cells of the group, where ``b_k`` leaves
    out the intercept: ``coef`` is (S, K, m) from
    :func:`~bayes_ipd.draws.coefficient_draws`
    (its intercept column, ``alpha_k``, is ignored) and ``log_hazard`` (S, K, J) from
    :func:`~bayes_ipd.draws.log_hazard_draws` (which already holds ``alpha_k``).
    The survival family computes it
    (:meth:`~bayes_ipd.families.survival.SurvivalFamily.expected_interval_events`);
    ``offset`` (S, K, J): a time-varying effect's addition to treated cells
    (:func:`~bayes_ipd.families.survival_time.treated_offset`).
    """
    return design.plugin.expected_interval_events(design, coef, log_hazard, offset)


def interval_event_ppc(
    result: Fit,
    seed: int | None = None,
    *,
    draws: int | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Posterior predictive check of the events per trial, interval and arm.

    For each posterior draw the events of every (trial, interval, arm) are replicated as
    ``Poisson(sum_c E_c exp(log h_kj + z_c'b_k))`` over the group's exposure cells (a sum
    of independent Poisson counts is Poisson with the summed rate), for the observed
    exposure. It needs only the design's cells, so trials given as summaries are checked
    too. A misfitting baseline shows as p-values near 0 in some intervals and near 1 in
    others; non-proportional hazards as opposite patterns in the two arms.

    Parameters
    ----------
    result : Fit
        A survival fit.
    seed : int, optional
        Seed of the replication; by default the sampler's seed + 4.
    draws : int, optional
        Use this many evenly spaced posterior draws (all by default).
    level : float
        Coverage of the replicated interval.

    Returns
    -------
    pandas.DataFrame
        One row per trial, interval and arm: ``study, interval`` (0-based),
        ``interval_label`` (``"[a, b)"``), ``arm, exposure, observed, rep_mean,
        rep_q025, rep_q975`` (with ``level=0.95``; the columns of
        :meth:`OneStageResult.ppc`), ``p_value`` = P(rep >= obs) and
        ``p_two_sided`` = min(1, 2 min(P(rep >= obs), P(rep <= obs))) (Gelman, Meng &
        Stern 1996).
    """
    design = result.built.design
    require_survival(design.family, "interval_event_ppc")
    lo, hi = quantile_labels(level)
    rng = np.random.default_rng(result.derived_seed("interval_ppc", seed))
    coef = coefficient_draws(result)
    n = coef.shape[0]
    index = (
        np.arange(n)
        if draws is None or draws >= n
        else np.unique(np.linspace(0, n - 1, max(int(draws), 1)).round().astype(np.int64))
    )
    offset = treated_offset(result.idata.posterior, design)
    offset = None if offset is None else offset[index]
    log_h = log_hazard_draws(result)[index]
    expected = expected_interval_events(design, coef[index], log_h, offset)
    rep = rng.poisson(np.minimum(expected, 1e15)).astype(np.float64)
    observed, exposure = design.plugin.interval_totals(design)
    q_lo, q_hi = np.quantile(rep, [(1 - level) / 2, (1 + level) / 2], axis=0)
    ge = (rep >= observed).mean(axis=0)
    le = (rep <= observed).mean(axis=0)
    k, j = design.k, design.n_intervals
    labels = interval_labels(design.cutpoints)
    return pd.DataFrame(
        {
            "study": np.repeat(np.asarray(design.studies, dtype=object), j * 2),
            "interval": np.tile(np.repeat(np.arange(j), 2), k),
            "interval_label": np.tile(np.repeat(np.asarray(labels, dtype=object), 2), k),
            "arm": np.tile(np.asarray(ARMS, dtype=object), k * j),
            "exposure": exposure,
            "observed": observed,
            "rep_mean": rep.mean(axis=0),
            f"rep_{lo}": q_lo,
            f"rep_{hi}": q_hi,
            "p_value": ge,
            "p_two_sided": np.minimum(1.0, 2 * np.minimum(ge, le)),
        }
    )
