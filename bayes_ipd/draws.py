"""Posterior draws as arrays: per-trial coefficient vectors, baseline hazards, summary nodes.

The one-stage model's parameters are rebuilt here, draw by draw, in the layout the builder
uses (:mod:`bayes_ipd.one_stage.builder`), so that predictive checks, LOO and reports work
on the same per-trial coefficient matrix as the likelihood. Each reader takes a fit (any
value with the :class:`Fit` members: :class:`~bayes_ipd.one_stage.posterior.Posterior` and
:class:`~bayes_ipd.one_stage.result.OneStageResult` have them), or a model and parameter
draws of any origin (:func:`model_coefficients`, e.g. prior draws). Posterior summary nodes
(``mean, sd, median, q025, q975, ess_bulk, r_hat``) are computed here for every report.

This module sits below the checks and the one-stage route alike (both read draws through
it), so it imports neither: a fit is typed on the :class:`Fit` protocol.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import xarray as xr

from bayes_ipd.convergence import convergence
from bayes_ipd.families.base import draw_count, flat_draws
from bayes_ipd.families.survival import hazard_walk
from bayes_ipd.families.survival_time import interval_log_hazard_ratio

__all__ = [
    "Fit",
    "chain_draw",
    "coefficient_draws",
    "log_hazard_draws",
    "log_hazard_ratio_draws",
    "model_coefficients",
    "posterior_node",
    "quantile_labels",
    "thin",
]


class Fit(Protocol):
    """What the draw readers and the checks read of a one-stage fit.

    ``built`` carries the ``design``, ``spec`` and ``priors`` of the model
    (:class:`~bayes_ipd.one_stage.builder.BuiltModel`); ``idata`` is its ArviZ
    ``InferenceData``. :class:`~bayes_ipd.one_stage.posterior.Posterior` satisfies it.
    """

    idata: Any
    built: Any
    sampler: Any
    diagnostics: Any

    @property
    def family(self) -> str: ...

    def derived_seed(self, what: str, seed: int | None = None) -> int: ...

    def predict_new_study(self, seed: int | None = None) -> xr.DataArray: ...


def quantile_labels(level: float) -> tuple[str, str]:
    """Column names of the equal-tailed interval at ``level``, in per mille.

    Examples
    --------
    >>> quantile_labels(0.95)
    ('q025', 'q975')
    >>> quantile_labels(0.9)
    ('q050', 'q950')
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    permille = (1 - level) / 2 * 1000
    whole = round(permille)
    if whole < 1 or abs(permille - whole) > 1e-6:
        raise ValueError(
            f"level = {level!r}: the interval's tail probabilities must be whole per mille "
            "(e.g. 0.95, 0.9, 0.8, 0.99)"
        )
    return f"q{whole:03d}", f"q{1000 - whole:03d}"


def chain_draw(da: xr.DataArray) -> np.ndarray:
    """A scalar variable's draws as a float (chain, draw) array."""
    return np.asarray(da.transpose("chain", "draw").values, dtype=np.float64)


def _ess_rhat(x: np.ndarray) -> tuple[float, float]:
    """Bulk ESS and rank-normalised R-hat of (chain, draw) draws (R-hat NaN for one chain)."""
    conv = convergence(x[None])
    rhat = float(conv.rhat[0]) if x.shape[0] > 1 else math.nan
    return float(conv.ess_bulk[0]), rhat


def posterior_node(x: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Posterior summary of (chain, draw) draws: the keys of :data:`NODE_KEYS`."""
    lo, hi = quantile_labels(level)
    flat = x.ravel()
    q_lo, median, q_hi = np.quantile(flat, [(1 - level) / 2, 0.5, (1 + level) / 2])
    ess, rhat = _ess_rhat(x)
    return {
        "mean": float(flat.mean()),
        "sd": float(flat.std(ddof=1)) if flat.size > 1 else math.nan,
        "median": float(median),
        lo: float(q_lo),
        hi: float(q_hi),
        "ess_bulk": ess,
        "r_hat": rhat,
    }


def coefficient_draws(result: Fit, draws: xr.Dataset | None = None) -> np.ndarray:
    """Per-trial coefficient vectors ``b_k`` for every draw, as the model builds them.

    Row ``k`` of draw ``s`` is ``[alpha_k, theta_k, beta_k, gamma_w(k)]`` on the design row
    ``[1, t, x - xbar_k, t (z - zbar_k)]`` (:mod:`bayes_ipd.one_stage.builder`): ``theta_k`` already
    carries the across-trial interaction, ``beta`` is common or trial-specific, and
    ``gamma_w`` is ``gamma_within`` or, with random interactions, ``gamma_within_trial``.

    Parameters
    ----------
    result : Fit
    draws : xarray.Dataset, optional
        Parameter draws with ``chain`` and ``draw`` dims (the posterior by default; e.g. a
        prior group from :func:`pymc.sample_prior_predictive`).

    Returns
    -------
    numpy.ndarray
        (S, K, m) with S = chains x draws (chain-major), K trials and m design columns.
    """
    params = result.idata.posterior if draws is None else draws
    return model_coefficients(result.built.design, result.built.spec, params)


def model_coefficients(design: Any, spec: Any, params: xr.Dataset) -> np.ndarray:
    """:func:`coefficient_draws` of a model's design and spec and parameter draws of any
    origin (posterior or prior), before any fit exists."""
    s, k = draw_count(params), design.k
    columns = [
        flat_draws(params["alpha"], "study")[:, :, None],
        flat_draws(params["theta"], "study")[:, :, None],
    ]
    if design.covariate_terms:
        beta = params["beta"]
        if "study" in beta.dims:
            columns.append(flat_draws(beta, "study", "covariate"))
        else:
            common = flat_draws(beta, "covariate")
            columns.append(np.broadcast_to(common[:, None, :], (s, k, common.shape[1])))
    if design.interaction_terms:
        if spec.random_interactions:
            columns.append(flat_draws(params["gamma_within_trial"], "study", "interaction"))
        else:
            common = flat_draws(params["gamma_within"], "interaction")
            columns.append(np.broadcast_to(common[:, None, :], (s, k, common.shape[1])))
    return np.concatenate(columns, axis=2)


def log_hazard_draws(result: Fit, draws: xr.Dataset | None = None) -> np.ndarray:
    """Survival: the baseline log hazard of every trial and interval, for every draw.

    ``log h_kj = alpha_k + sum_{l <= j} hazard_smoothing * log_hazard_step_kl``, with nothing
    added in the first interval (:func:`bayes_ipd.families.survival.baseline_log_hazard_steps`).

    Parameters
    ----------
    result : Fit
        A survival fit.
    draws : xarray.Dataset, optional
        Parameter draws (the posterior by default).

    Returns
    -------
    numpy.ndarray
        (S, K, J) for J intervals.
    """
    design = result.built.design
    if not design.plugin.has_baseline_hazard:
        raise ValueError(f"log_hazard_draws needs a survival fit; this one is {design.family}")
    params = result.idata.posterior if draws is None else draws
    alpha = flat_draws(params["alpha"], "study")
    return alpha[:, :, None] + hazard_walk(params, design)


def log_hazard_ratio_draws(result: Fit, draws: xr.Dataset | None = None) -> np.ndarray:
    """Survival: the log hazard ratio of every trial in every baseline interval, per draw.

    A per-period effect or a treatment-by-log-time interaction gives ``log_hr_interval``;
    under proportional hazards ``theta`` is repeated over the intervals
    (:func:`bayes_ipd.families.survival_time.interval_log_hazard_ratio`). The intervals are
    those of :func:`log_hazard_draws` (``result.built.design.cutpoints``).

    Returns
    -------
    numpy.ndarray
        (S, K, J), draws chain-major.
    """
    design = result.built.design
    if not design.plugin.has_baseline_hazard:
        raise ValueError(
            f"log_hazard_ratio_draws needs a survival fit; this one is {design.family}"
        )
    params = result.idata.posterior if draws is None else draws
    return interval_log_hazard_ratio(params, design)


def thin(n_samples: int, draws: int | None) -> np.ndarray:
    """Evenly spaced draw indices (all draws when ``draws`` is None or too large)."""
    if draws is None or draws >= n_samples:
        return np.arange(n_samples)
    if draws < 1:
        raise ValueError(f"draws must be a positive number of draws, got {draws!r}")
    return np.unique(np.linspace(0, n_samples - 1, draws).round().astype(np.int64))
