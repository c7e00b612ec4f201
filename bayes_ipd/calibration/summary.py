"""From replicate rows to the study's tables: rank uniformity, coverage, failures.

* Rank uniformity: the ranks ``0..L`` of each parameter are counted in ``rank_bins``
  equal-width bins; Pearson's chi-square test of equal bin probabilities
  (:func:`scipy.stats.chisquare`, ``rank_bins - 1`` df) gives ``rank_chi2_p``.
  ``mean_rank`` is the mean of ``rank / L`` (0.5 under uniformity).
* Coverage: the share of replicates whose 95% interval holds the truth, with its Monte
  Carlo SE ``sqrt(p (1 - p) / n)`` over the ``n`` replicates where the interval exists.
* Simultaneous ECDF bands (Säilynoja, Bürkner & Vehtari 2022, Stat Comput 32:32): the
  95% band of the ECDF of ``rank / (L + 1)`` under uniformity, from
  :func:`arviz.stats.ecdf_utils.ecdf_confidence_band` (their optimised method).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayes_ipd.calibration.replicate import PARAMETERS, TWO_STAGE_METHODS

__all__ = ["coverage", "ecdf_band", "rank_counts", "rank_summary", "study_summary"]

R_HAT_FAIL = 1.01


def rank_counts(ranks: np.ndarray, draws: int, bins: int) -> np.ndarray:
    """Counts of ranks ``0..draws`` in ``bins`` equal-width bins (``bins`` divides draws + 1)."""
    ranks = np.asarray(ranks, dtype=np.int64)
    width = (draws + 1) // bins
    return np.bincount(ranks // width, minlength=bins)[:bins]


def rank_chi2_p(ranks: np.ndarray, draws: int, bins: int) -> float:
    """Chi-square p-value of uniform ranks (NaN for fewer than two replicates)."""
    if len(ranks) < 2:
        return math.nan
    return float(stats.chisquare(rank_counts(ranks, draws, bins)).pvalue)


def coverage(flags: Any) -> tuple[float, float, int]:
    """(share of 1s, Monte Carlo SE, n) over the finite entries of ``flags``."""
    x = np.asarray(flags, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, 0
    p = float(x.mean())
    return p, math.sqrt(p * (1 - p) / n), n


def rank_summary(table: pd.DataFrame, draws: int, bins: int) -> dict[str, dict[str, float]]:
    """``{parameter: {rank_chi2_p, coverage_95, coverage_mcse, mean_rank, n}}``."""
    out = {}
    for p in PARAMETERS:
        ranks = table[f"rank_{p}"].to_numpy()
        cov, mcse, n = coverage(table[f"covered_{p}"])
        out[p] = {
            "rank_chi2_p": rank_chi2_p(ranks, draws, bins),
            "coverage_95": cov,
            "coverage_mcse": mcse,
            "mean_rank": float(np.mean(ranks / draws)) if len(ranks) else math.nan,
            "n": n,
        }
    return out


def study_summary(table: pd.DataFrame, draws: int, bins: int) -> dict[str, Any]:
    """The contract's numbers (without ``engine``, ``workers``, ``seconds``)."""
    two = {}
    for m in TWO_STAGE_METHODS:
        cov, mcse, n = coverage(table[f"ts_{m}"])
        two[m] = {"coverage_95": cov, "coverage_mcse": mcse, "n": n}
    return {
        "replications": len(table),
        "parameters": rank_summary(table, draws, bins),
        "two_stage": two,
        "divergent_replications": int((table["divergences"] > 0).sum()),
        "rhat_failures": int((table["r_hat_max"] > R_HAT_FAIL).sum()),
        "excluded_trials": int(table["excluded_trials"].sum()),
    }


def ecdf_band(n: int, draws: int, prob: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluation points ``z`` and the simultaneous band of ``ECDF(z) - z`` for ``n``
    uniform ranks on ``0..draws`` (lower, upper)."""
    from arviz.stats.ecdf_utils import ecdf_confidence_band

    z = np.arange(1, draws + 2) / (draws + 1)
    lower, upper = ecdf_confidence_band(n, z, z, prob=prob, method="optimized")
    return z, lower - z, upper - z
