"""Posterior predictive check of the visit means of a one-stage MMRM, per trial and arm.

The statistic is the mean outcome of the participants observed at visit ``v`` in arm ``t``
of trial ``k`` (``n`` of them). A replicate keeps the participants and the visits each
attended and draws their outcomes from the model; given the parameters, participant
``i``'s outcome at ``v`` is normal with mean ``mu_kv + t theta_kv + beta_v' (x_i - xbar_k)``
(plus, for the treated at the primary visit, ``gamma_within' (z_i - zbar_k)`` with
interactions) and variance ``Sigma_k[v, v]``, independently across participants, so the
replicated mean is exactly

    N( mu_kv + t theta_kv + beta_v' (xbar_ktv - xbar_k) [+ t gamma_within' (...)],
       Sigma_k[v, v] / n )

with ``xbar_ktv - xbar_k`` the mean of the centred covariates of those observed, read from
the pattern statistics (:class:`~bayes_ipd.one_stage.repeated_summaries.RepeatedSummaries`:
``sx`` sums the covariates centred on the trial's participant mean). One replicate per
posterior draw; the observed mean is ``sum(sy) / n`` plus the trial-and-visit centre.

Under MAR dropout the participants still observed at a late visit are selected on their
earlier outcomes, so their observed mean may sit off the replicates' centre (which
replicates the same participants from the model's marginal) even when the model is right;
read a gap at late visits with that in mind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.one_stage.repeated_summaries import RepeatedSummaries

__all__ = ["CellMeans", "cell_means", "predictive_moments", "visit_means_ppc"]

ARM_LABELS = ("control", "treated")


@dataclass(frozen=True)
class CellMeans:
    """Per (trial, arm, visit) cell: observed count, observed mean, centred covariate mean.

    Attributes
    ----------
    n : ndarray (K, 2, V)
        Participants observed.
    observed : ndarray (K, 2, V)
        Their mean outcome (NaN where nobody is observed).
    xbar : ndarray (K, 2, V, p)
        Their mean covariates, centred on the trial's participant mean.
    se : ndarray (K, 2, V)
        The observed mean's standard error (sample SD / sqrt(n); NaN for n < 2).
    """

    n: np.ndarray
    observed: np.ndarray
    xbar: np.ndarray
    se: np.ndarray


def cell_means(s: RepeatedSummaries) -> CellMeans:
    """The observed count, mean and centred covariate mean of every cell, from the
    pattern statistics alone (exact)."""
    k, v, p = s.k, len(s.visits), len(s.covariates)
    n = np.zeros((k, 2, v))
    sy = np.zeros((k, 2, v))
    sx = np.zeros((k, 2, v, p))
    ss = np.zeros((k, 2, v))
    weight = s.mask * s.n[:, None]  # (G, V) participants of each group observed at v
    np.add.at(n, (s.trial, s.arm), weight)
    np.add.at(sy, (s.trial, s.arm), s.sy * s.mask)
    np.add.at(sx, (s.trial, s.arm), s.mask[:, :, None] * s.sx[:, None, :])
    np.add.at(ss, (s.trial, s.arm), np.einsum("gvv->gv", s.syy) * s.mask)
    with np.errstate(invalid="ignore", divide="ignore"):
        centred = sy / n
        observed = centred + s.centre[:, None, :]
        xbar = sx / n[..., None]
        variance = np.clip(ss - n * centred**2, 0.0, None) / (n - 1)
        se = np.where(n > 1, np.sqrt(variance / n), np.nan)
    observed = np.where(n > 0, observed, np.nan)
    xbar = np.where(n[..., None] > 0, xbar, 0.0)
    return CellMeans(n=n, observed=observed, xbar=xbar, se=se)


def predictive_moments(
    cells: CellMeans,
    mu: np.ndarray,
    theta: np.ndarray,
    beta: np.ndarray | None,
    sigma: np.ndarray,
    within: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD of each cell's replicated visit mean at given parameter values.

    Parameters
    ----------
    cells : CellMeans
    mu, theta : ndarray (..., K, V)
        Control visit means and trial effects (``mu`` on the outcome's scale).
    beta : ndarray (..., V, p) or None
        Covariate effects by visit.
    sigma : ndarray (..., K, V)
        Residual SD of each trial and visit (``sqrt(Sigma_k[v, v])``).
    within : ndarray (..., V, p) or None
        The treated arm's extra covariate slope per visit (the within-trial interaction at
        the primary visit, zero elsewhere).

    Returns
    -------
    mean, sd : ndarray (..., K, 2, V)
    """
    arm = np.array([0.0, 1.0])[:, None]  # (2, 1)
    mean = mu[..., :, None, :] + arm * theta[..., :, None, :]
    if beta is not None and cells.xbar.shape[-1]:
        mean = mean + np.einsum("...vp,kavp->...kav", beta, cells.xbar)
    if within is not None:
        mean = mean + arm * np.einsum("...vp,kavp->...kav", within, cells.xbar)
    with np.errstate(divide="ignore"):
        sd = sigma[..., :, None, :] / np.sqrt(cells.n)
    return mean, sd


def visit_means_ppc(
    s: RepeatedSummaries,
    params: dict[str, Any],
    *,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """The tidy PPC frame from flat posterior draws of the parameters.

    ``params`` holds ``mu``, ``theta``, ``sigma`` (S, K, V), ``beta`` (S, V, p) or None and
    ``within`` (S, V, p) or None. One replicate per draw (seeded).

    Returns
    -------
    DataFrame
        ``study, arm, visit, n, observed, se, predictive_mean, predictive_sd, lower,
        upper, p_value`` (``se`` the observed mean's; ``predictive_*``, ``lower``,
        ``upper`` of the replicates; ``p_value`` the share of replicates at or below the
        observed mean), cells nobody attended left out.
    """
    cells = cell_means(s)
    mean, sd = predictive_moments(
        cells, params["mu"], params["theta"], params.get("beta"), params["sigma"],
        params.get("within"),
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    observed = cells.n > 0
    safe_sd = np.where(observed, sd, 0.0)
    draws = mean + safe_sd * rng.standard_normal(mean.shape)  # (S, K, 2, V)
    lower, upper = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    p_value = (draws <= cells.observed).mean(axis=0)
    rows = []
    for ki, study in enumerate(s.studies):
        for a, arm in enumerate(ARM_LABELS):
            for vi, visit in enumerate(s.visits):
                if not observed[ki, a, vi]:
                    continue
                rows.append(
                    {
                        "study": study,
                        "arm": arm,
                        "visit": visit,
                        "n": int(cells.n[ki, a, vi]),
                        "observed": float(cells.observed[ki, a, vi]),
                        "se": float(cells.se[ki, a, vi]),
                        "predictive_mean": float(draws[:, ki, a, vi].mean()),
                        "predictive_sd": float(draws[:, ki, a, vi].std(ddof=1)),
                        "lower": float(lower[ki, a, vi]),
                        "upper": float(upper[ki, a, vi]),
                        "p_value": float(p_value[ki, a, vi]),
                    }
                )
    return pd.DataFrame(rows)
