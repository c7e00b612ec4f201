"""OneStageResult: the posterior of a one-stage fit and what a review needs from it.

A :class:`OneStageResult` holds the ArviZ ``InferenceData`` of a fit with the model it came
from and the sampler's diagnostics, and derives every report from them without changing
them: the posterior summary (pooled effect, τ, the effect in a new trial, covariate and
interaction coefficients), the shrunken per-trial effects, posterior and prior predictive
checks per trial and arm, leave-one-trial-out PSIS-LOO, the τ prior-vs-posterior figure,
and JSON / netCDF output.

Conventions
-----------
* Effect scale: mean difference (gaussian), log odds ratio (binomial), log hazard ratio
  (survival); on the log-ratio scales the effect, new-trial and interaction rows are also
  given exponentiated (``exp_*`` columns, ratios per unit of the covariate for interactions).
* The effect in a new trial is ``theta_new ~ Normal(mu, tau)`` drawn once per posterior
  draw, at the average trial's covariate means (where the across-trial interaction term is
  zero).
* Intervals are equal-tailed posterior quantiles (``q025`` and ``q975`` at 95%).
* Random numbers for derived draws (new trial, replicated data) come from
  ``numpy.random.default_rng(seed)`` with, by default, the sampler's seed plus a fixed
  offset per method (+1 new trial, +2 posterior predictive, +3 prior predictive), so that
  every report is reproducible.

Posterior predictive checks
---------------------------
Replicated data are drawn in numpy, once per posterior draw, for the observed design
(same trials, arms, covariate values and exposure), and summarised per trial and arm:

* gaussian: the arm mean and the arm SD, replicated exactly from the per-arm sufficient
  statistics. With coefficients ``b``, residual SD ``sigma`` and the arm's ``Z'Z``, the
  replicated arm mean is ``Normal(1'Z b / n, sigma / sqrt(n))`` and, independently, the
  within-arm sum of squares about the arm mean is ``sigma² · chi²'(n - 1, lambda)``
  (noncentral chi-squared) with ``lambda = b'(Z'Z - Z'1 1'Z / n) b / sigma²`` — the
  centred sum of squares of the arm's fitted values over ``sigma²`` (Cochran's theorem:
  ``1'y`` and ``y'(I - J/n)y`` are independent for ``y ~ N(Zb, sigma² I)``);
* binomial: the event proportion per arm (events drawn per cell of identical design rows,
  ``Binomial(n_c, expit(z_c'b_k))``, then summed per trial and arm);
* survival: the total events per arm (``Poisson(E_c exp(log h_kj + z_c'b_k))`` per cell
  of identical interval and design row). A Kaplan-Meier overlay needs event times, which
  the design's exposure cells do not hold; it belongs to a survival module built on
  :func:`coefficient_draws` and :func:`log_hazard_draws`.

The Bayesian p-value is ``P(rep >= obs)`` over the replicates (Gelman, Meng & Stern 1996);
values near 0 or 1 flag misfit. The table also gives the two-sided version
``min(1, 2 min(P(rep >= obs), P(rep <= obs)))``, which treats ties symmetrically for the
discrete statistics.
"""

from __future__ import annotations

import html
import json
import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from scipy import sparse
from scipy.special import expit

from bayes_ipd.builder import BuiltModel
from bayes_ipd.design import Design
from bayes_ipd.sampling import SamplingDiagnostics

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "LooResult",
    "OneStageResult",
    "PPCResult",
    "coefficient_draws",
    "gaussian_marginal_loglik",
    "log_hazard_draws",
    "observed_statistics",
    "ppc_table",
    "quantile_labels",
    "replicate_binomial",
    "replicate_gaussian",
    "replicate_survival",
]

EFFECT_SCALES: dict[str, str] = {"gaussian": "MD", "binomial": "logOR", "survival": "logHR"}
SCALE_NAMES: dict[str, str] = {
    "MD": "mean difference",
    "logOR": "log odds ratio",
    "logHR": "log hazard ratio",
}
RATIO_LABELS: dict[str, str] = {"logOR": "OR", "logHR": "HR"}
RATIO_NAMES: dict[str, str] = {"logOR": "odds ratio", "logHR": "hazard ratio"}
ARMS: tuple[str, str] = ("control", "treated")
NODE_KEYS: tuple[str, ...] = ("mean", "sd", "median", "q025", "q975", "ess_bulk", "r_hat")
"""Keys of every posterior summary node in :meth:`OneStageResult.to_dict`."""

PARETO_K_THRESHOLD = 0.7  # Vehtari, Gelman & Gabry (2017), Stat Comput 27:1413, sec. 2.1
STATISTIC_LABELS: dict[str, str] = {
    "mean": "Arm mean of the outcome",
    "sd": "Arm SD of the outcome",
    "event_rate": "Event proportion",
    "events": "Events",
}
SEED_OFFSETS: dict[str, int] = {"new_study": 1, "ppc": 2, "prior_predictive": 3}
_POISSON_RATE_MAX = 1e15  # numpy's Poisson sampler refuses rates near 2**63
_CELL_BLOCK = 2_000_000  # draws x cells replicated at once (memory bound)


# ------------------------------------------------------------------------- small helpers


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


def _chain_draw(da: xr.DataArray) -> np.ndarray:
    """A scalar variable's draws as a float (chain, draw) array."""
    return np.asarray(da.transpose("chain", "draw").values, dtype=np.float64)


def _flat(da: xr.DataArray, *dims: str) -> np.ndarray:
    """Draws as (S, *dims) with S = chains x draws (chain-major)."""
    values = np.asarray(da.transpose("chain", "draw", *dims).values, dtype=np.float64)
    return values.reshape(-1, *values.shape[2:])


def _n_samples(params: xr.Dataset) -> int:
    return int(params.sizes["chain"] * params.sizes["draw"])


def _ess_rhat(x: np.ndarray) -> tuple[float, float]:
    """Bulk ESS and rank-normalised R-hat of (chain, draw) draws (R-hat NaN for one chain)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ess = float(az.ess(x, method="bulk"))
        rhat = float(az.rhat(x)) if x.shape[0] > 1 else math.nan
    return ess, rhat


def _node(x: np.ndarray, level: float = 0.95) -> dict[str, float]:
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


def _json_ready(value: Any) -> Any:
    """Python scalars, lists and dicts; NaN and infinities as None."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_json_ready(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ------------------------------------------------------ coefficients from parameter draws


def coefficient_draws(result: OneStageResult, draws: xr.Dataset | None = None) -> np.ndarray:
    """Per-trial coefficient vectors ``b_k`` for every draw, as the model builds them.

    Row ``k`` of draw ``s`` is ``[alpha_k, theta_k, beta_k, gamma_w(k)]`` on the design row
    ``[1, t, x - xbar_k, t (z - zbar_k)]`` (:mod:`bayes_ipd.builder`): ``theta_k`` already
    carries the across-trial interaction, ``beta`` is common or trial-specific, and
    ``gamma_w`` is ``gamma_within`` or, with random interactions, ``gamma_within_trial``.

    Parameters
    ----------
    result : OneStageResult
    draws : xarray.Dataset, optional
        Parameter draws with ``chain`` and ``draw`` dims (the posterior by default; e.g. a
        prior group from :func:`pymc.sample_prior_predictive`).

    Returns
    -------
    numpy.ndarray
        (S, K, m) with S = chains x draws (chain-major), K trials and m design columns.
    """
    params = result.idata.posterior if draws is None else draws
    design = result.built.design
    spec = result.built.spec
    s, k = _n_samples(params), design.k
    columns = [
        _flat(params["alpha"], "study")[:, :, None],
        _flat(params["theta"], "study")[:, :, None],
    ]
    if design.covariate_terms:
        beta = params["beta"]
        if "study" in beta.dims:
            columns.append(_flat(beta, "study", "covariate"))
        else:
            common = _flat(beta, "covariate")
            columns.append(np.broadcast_to(common[:, None, :], (s, k, common.shape[1])))
    if design.interaction_terms:
        if spec.random_interactions:
            columns.append(_flat(params["gamma_within_trial"], "study", "interaction"))
        else:
            common = _flat(params["gamma_within"], "interaction")
            columns.append(np.broadcast_to(common[:, None, :], (s, k, common.shape[1])))
    return np.concatenate(columns, axis=2)


def _hazard_walk(params: xr.Dataset, design: Design) -> np.ndarray:
    """(S, K, J) deviation of each interval's log hazard from the first (0 for the first)."""
    s, k = _n_samples(params), design.k
    if design.n_intervals == 1:
        return np.zeros((s, k, 1))
    smooth = _flat(params["hazard_smoothing"])[:, None, None]
    steps = _flat(params["log_hazard_step"], "study", "step")
    walk = np.cumsum(smooth * steps, axis=2)
    return np.concatenate([np.zeros((s, k, 1)), walk], axis=2)


def log_hazard_draws(result: OneStageResult, draws: xr.Dataset | None = None) -> np.ndarray:
    """Survival: the baseline log hazard of every trial and interval, for every draw.

    ``log h_kj = alpha_k + sum_{l <= j} hazard_smoothing * log_hazard_step_kl``, with nothing
    added in the first interval (:func:`bayes_ipd.builder.baseline_log_hazard_steps`).

    Parameters
    ----------
    result : OneStageResult
        A survival fit.
    draws : xarray.Dataset, optional
        Parameter draws (the posterior by default).

    Returns
    -------
    numpy.ndarray
        (S, K, J) for J intervals.
    """
    design = result.built.design
    if design.family != "survival":
        raise ValueError(f"log_hazard_draws needs a survival fit; this one is {design.family}")
    params = result.idata.posterior if draws is None else draws
    alpha = _flat(params["alpha"], "study")
    return alpha[:, :, None] + _hazard_walk(params, design)


def _sigma_draws(params: xr.Dataset, design: Design) -> np.ndarray:
    """(S, K) residual SD per trial (a common SD repeated)."""
    sigma = params["sigma"]
    if "study" in sigma.dims:
        return _flat(sigma, "study")
    return np.repeat(_flat(sigma)[:, None], design.k, axis=1)


# --------------------------------------------------------------------- replicated data


def observed_statistics(design: Design) -> dict[str, np.ndarray]:
    """The observed per-trial, per-arm statistics the predictive checks compare.

    Returns
    -------
    dict of str to numpy.ndarray
        (K, 2) arrays (control, treated): gaussian ``mean`` and ``sd``; binomial
        ``event_rate``; survival ``events``.
    """
    n = design.n_arm.astype(np.float64)
    if design.family == "gaussian":
        sums = design.zty[:, :, 0]
        ss = np.maximum(design.yty - sums**2 / n, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.where(n > 1, np.sqrt(ss / (n - 1)), np.nan)
        return {"mean": sums / n, "sd": sd}
    if design.family == "binomial":
        return {"event_rate": design.events_arm() / design.exposure_arm()}
    return {"events": design.events_arm()}


def replicate_gaussian(
    design: Design, coef: np.ndarray, sigma: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Replicated arm means and arm SDs, exactly, from per-arm sufficient statistics.

    Parameters
    ----------
    design : Design
        A gaussian design (per-arm ``ztz``).
    coef : numpy.ndarray
        (S, K, m) coefficient draws (:func:`coefficient_draws`).
    sigma : numpy.ndarray
        (S, K) residual SD draws.
    rng : numpy.random.Generator

    Returns
    -------
    dict
        ``mean`` and ``sd``, each (S, K, 2). The SD of a one-participant arm is NaN.

    Notes
    -----
    For an arm with ``n`` rows ``Z``, ``y ~ N(Z b, sigma² I)`` gives the arm mean
    ``N(1'Z b / n, sigma² / n)`` and, independently, ``sum (y - ybar)² = sigma² chi²'(n - 1,
    b'C b / sigma²)`` with ``C = Z'Z - Z'1 1'Z / n`` (see the module docstring).
    """
    n = design.n_arm.astype(np.float64)  # (K, 2)
    ztz = design.ztz  # (K, 2, m, m); row 0 is 1'Z because column 0 is the intercept
    ones_z = ztz[:, :, 0, :]
    centred = ztz - ones_z[..., :, None] * ones_z[..., None, :] / n[..., None, None]
    lin = np.einsum("kam,skm->ska", ones_z, coef)
    spread = np.einsum("skm,kamn,skn->ska", coef, centred, coef)
    sig = sigma[:, :, None]
    mean = rng.normal(lin / n, sig / np.sqrt(n))
    nonc = np.clip(spread / sig**2, 0.0, None)
    df = np.broadcast_to(np.maximum(n - 1, 1), nonc.shape)
    ss = sig**2 * rng.noncentral_chisquare(df, nonc)
    sd = np.where(n > 1, np.sqrt(ss / np.maximum(n - 1, 1)), np.nan)
    return {"mean": mean, "sd": sd}


def _arm_sum_matrix(design: Design) -> sparse.csr_matrix:
    """(cells, 2K) indicator matrix summing cells into trial x arm."""
    arm = design.cell_z[:, 1].astype(np.int64)
    group = design.cell_study * 2 + arm
    cells = len(group)
    return sparse.csr_matrix(
        (np.ones(cells), (np.arange(cells), group)), shape=(cells, 2 * design.k)
    )


def _cell_eta(design: Design, coef: np.ndarray) -> np.ndarray:
    """(S, C) linear predictor ``z_c'b_{k(c)}`` of every cell."""
    return np.einsum("cm,scm->sc", design.cell_z, coef[:, design.cell_study, :])


def _draw_blocks(n_samples: int, n_cells: int) -> list[slice]:
    size = max(1, _CELL_BLOCK // max(n_cells, 1))
    return [slice(i, min(i + size, n_samples)) for i in range(0, n_samples, size)]


def _sum_arms(values: np.ndarray, design: Design) -> np.ndarray:
    """(S, C) cell values -> (S, K, 2) trial-arm sums."""
    summed = np.asarray((_arm_sum_matrix(design).T @ values.T).T)
    return summed.reshape(values.shape[0], design.k, 2)


def replicate_binomial(
    design: Design, coef: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Replicated event proportion per trial and arm.

    Events are drawn per cell, ``Binomial(n_c, expit(z_c'b_k))``, and summed per trial and
    arm. Returns ``{"event_rate": (S, K, 2)}``.
    """
    counts = np.rint(design.cell_n).astype(np.int64)
    out = np.empty((coef.shape[0], design.k, 2))
    for block in _draw_blocks(coef.shape[0], len(counts)):
        p = expit(_cell_eta(design, coef[block]))
        out[block] = _sum_arms(rng.binomial(counts, p).astype(np.float64), design)
    return {"event_rate": out / design.exposure_arm()}


def replicate_survival(
    design: Design, coef: np.ndarray, walk: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Replicated total events per trial and arm (piecewise-exponential model).

    Parameters
    ----------
    design : Design
        A survival design (exposure cells by interval).
    coef : numpy.ndarray
        (S, K, m) coefficient draws (the intercept is the first interval's log hazard).
    walk : numpy.ndarray
        (S, K, J) deviation of each interval's log hazard from the first.
    rng : numpy.random.Generator

    Returns
    -------
    dict
        ``{"events": (S, K, 2)}``. Rates are capped at 1e15 so that draws from a wide
        prior stay finite.
    """
    out = np.empty((coef.shape[0], design.k, 2))
    for block in _draw_blocks(coef.shape[0], len(design.cell_n)):
        eta = _cell_eta(design, coef[block])
        eta = eta + walk[block][:, design.cell_study, design.cell_interval]
        rate = design.cell_n * np.exp(np.minimum(eta, 700.0))
        events = rng.poisson(np.minimum(rate, _POISSON_RATE_MAX)).astype(np.float64)
        out[block] = _sum_arms(events, design)
    return {"events": out}


def ppc_table(
    studies: tuple[str, ...],
    observed: Mapping[str, np.ndarray],
    replicated: Mapping[str, np.ndarray],
) -> pd.DataFrame:
    """Observed statistic per trial and arm against its replicates.

    Parameters
    ----------
    studies : tuple of str
        Trial labels, in design order.
    observed : mapping of str to (K, 2) arrays
    replicated : mapping of str to (S, K, 2) arrays (non-finite replicates are ignored)

    Returns
    -------
    pandas.DataFrame
        Columns ``study, arm, statistic, observed, rep_mean, rep_q025, rep_q975, p_value,
        p_two_sided``; one row per statistic, trial and arm.
    """
    frames = []
    for statistic, obs in observed.items():
        rep = np.asarray(replicated[statistic], dtype=np.float64)
        valid = np.isfinite(rep)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            q = np.nanquantile(np.where(valid, rep, np.nan), [0.025, 0.975], axis=0)
            mean = np.nanmean(np.where(valid, rep, np.nan), axis=0)
        count = valid.sum(axis=0)
        ge = np.where(valid, rep >= obs, False).sum(axis=0) / np.maximum(count, 1)
        le = np.where(valid, rep <= obs, False).sum(axis=0) / np.maximum(count, 1)
        p_value = np.where(count > 0, ge, np.nan)
        two_sided = np.where(count > 0, np.minimum(1.0, 2 * np.minimum(ge, le)), np.nan)
        k = len(studies)
        frames.append(
            pd.DataFrame(
                {
                    "study": np.repeat(np.asarray(studies, dtype=object), 2),
                    "arm": np.tile(np.asarray(ARMS, dtype=object), k),
                    "statistic": statistic,
                    "observed": obs.ravel(),
                    "rep_mean": mean.ravel(),
                    "rep_q025": q[0].ravel(),
                    "rep_q975": q[1].ravel(),
                    "p_value": p_value.ravel(),
                    "p_two_sided": two_sided.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


LOG_2PI = math.log(2 * math.pi)


def gaussian_marginal_loglik(
    design: Design,
    coef: np.ndarray,
    sigma: np.ndarray,
    u_mean: np.ndarray,
    u_sd: np.ndarray,
) -> np.ndarray:
    """Per-trial gaussian log-likelihood with intercept and treatment effect integrated out.

    For trial ``k``, ``y = Z b + e`` with ``e ~ N(0, sigma² I)``; the first two
    coefficients ``u = (alpha_k, theta_k)`` are taken as independent
    ``Normal(u_mean, u_sd²)`` and integrated out, the others are held at ``coef``.

    Parameters
    ----------
    design : Design
        A gaussian design (per-arm sufficient statistics, summed over arms here).
    coef : numpy.ndarray
        (S, K, m) coefficients; columns 0 and 1 are ignored.
    sigma : numpy.ndarray
        (S, K) residual SDs.
    u_mean, u_sd : numpy.ndarray
        (S, K, 2) means and SDs of ``(alpha_k, theta_k)``.

    Returns
    -------
    numpy.ndarray
        (S, K) log densities ``log p(y_k | other parameters)``.

    Notes
    -----
    With ``b0`` = ``coef`` with ``u`` at its mean, ``A = Z_u'Z_u``, ``g = Z_u'(y - Z b0)``,
    ``D = diag(u_sd²)`` and ``M = I + D^½ A D^½ / sigma²``:
    ``log p = log N(y | Z b0, sigma² I) - ½ log|M| + ½ v'M⁻¹v``, ``v = D^½ g / sigma²``
    (the Gaussian integral over ``u``; the matrix determinant lemma and Woodbury
    identity applied to ``cov(y) = sigma² I + Z_u D Z_u'``). Written with ``D^½`` so that
    ``u_sd -> 0`` (τ = 0) is exact.
    """
    n = design.n_arm.sum(axis=1).astype(np.float64)
    ztz = design.ztz.sum(axis=1)
    zty = design.zty.sum(axis=1)
    yty = design.yty.sum(axis=1)
    b0 = np.array(coef, dtype=np.float64, copy=True)
    b0[:, :, :2] = u_mean
    rss = yty - 2.0 * np.einsum("skm,km->sk", b0, zty) + np.einsum("skm,kmn,skn->sk", b0, ztz, b0)
    var = sigma**2
    ll0 = -0.5 * n * LOG_2PI - n * np.log(sigma) - rss / (2.0 * var)
    a = ztz[:, :2, :2]
    g = zty[:, :2] - np.einsum("kum,skm->sku", ztz[:, :2, :], b0)
    root = np.asarray(u_sd, dtype=np.float64)
    m = np.eye(2) + root[..., :, None] * a[None] * root[..., None, :] / var[..., None, None]
    v = root * g / var[..., None]
    _, logdet = np.linalg.slogdet(m)
    quad = np.einsum("sku,sku->sk", v, np.linalg.solve(m, v[..., None])[..., 0])
    return ll0 - 0.5 * logdet + 0.5 * quad


def _thin(n_samples: int, draws: int | None) -> np.ndarray:
    """Evenly spaced draw indices (all draws when ``draws`` is None or too large)."""
    if draws is None or draws >= n_samples:
        return np.arange(n_samples)
    if draws < 1:
        raise ValueError(f"draws must be a positive number of draws, got {draws!r}")
    return np.unique(np.linspace(0, n_samples - 1, draws).round().astype(np.int64))


def _replicates(
    result: OneStageResult, params: xr.Dataset, index: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    design = result.built.design
    coef = coefficient_draws(result, params)[index]
    if design.family == "gaussian":
        return replicate_gaussian(design, coef, _sigma_draws(params, design)[index], rng)
    if design.family == "binomial":
        return replicate_binomial(design, coef, rng)
    return replicate_survival(design, coef, _hazard_walk(params, design)[index], rng)


# ------------------------------------------------------------------------ value objects


@dataclass(frozen=True, eq=False)
class PPCResult:
    """A posterior (or prior) predictive check per trial and arm.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``study, arm, statistic, observed, rep_mean, rep_q025, rep_q975, p_value,
        p_two_sided`` (see :func:`ppc_table`).
    statistic : str
        The statistic drawn by default (``"mean"``, ``"event_rate"`` or ``"events"``).
    kind : {"posterior", "prior"}
        Where the parameter draws came from.
    draws : int
        Replicated data sets per trial and arm.
    seed : int
        Seed of the replication.
    """

    table: pd.DataFrame
    statistic: str
    kind: str = "posterior"
    draws: int = 0
    seed: int = 0

    @property
    def statistics(self) -> tuple[str, ...]:
        """The statistics in :attr:`table`."""
        return tuple(dict.fromkeys(self.table["statistic"]))

    def plot(self, statistic: str | None = None, *, title: str | None = None) -> Figure:
        """Observed statistic over its replicated 95% interval (:func:`plots.ppc_plot`)."""
        from bayes_ipd.plots import ppc_plot

        statistic = statistic or self.statistic
        if statistic not in self.statistics:
            raise ValueError(
                f"statistic {statistic!r} is not in this check; choose one of "
                f"{', '.join(map(repr, self.statistics))}"
            )
        rows = self.table[self.table["statistic"] == statistic]
        default = f"{self.kind.capitalize()} predictive check"
        return ppc_plot(
            rows, statistic_label=STATISTIC_LABELS.get(statistic, statistic), title=title or default
        )

    def __repr__(self) -> str:
        head = (
            f"{self.kind.capitalize()} predictive check: {self.draws} replicated data sets, "
            f"seed {self.seed}; p_value = P(rep >= obs)"
        )
        body = self.table.to_string(index=False, float_format=lambda x: f"{x:.4g}")
        return f"{head}\n{body}"


@dataclass(frozen=True, eq=False)
class LooResult:
    """Leave-one-trial-out PSIS-LOO (Vehtari, Gelman & Gabry 2017), one term per trial.

    Attributes
    ----------
    elpd, se, p_loo : float
        Expected log predictive density of a left-out trial (summed over trials), its SE,
        and the effective number of parameters.
    pareto_k : pandas.Series
        Pareto shape estimate per trial (index: trial label).
    influential : tuple of str
        Trials with ``k > threshold``: for them the importance-sampling estimate is not
        reliable, i.e. the posterior moves far when the trial is left out.
    threshold : float
        0.7 (Vehtari et al. 2017).
    n_draws : int
        Posterior draws used.
    method : {"conditional", "marginal"}
        Per-trial log-likelihood given the trial's own parameters, or with its intercept
        and treatment effect integrated out (:meth:`OneStageResult.loo`).
    """

    elpd: float
    se: float
    p_loo: float
    pareto_k: pd.Series
    influential: tuple[str, ...]
    threshold: float = PARETO_K_THRESHOLD
    n_draws: int = 0
    method: str = "conditional"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (NaN as None)."""
        return _json_ready(
            {
                "elpd": self.elpd,
                "se": self.se,
                "p_loo": self.p_loo,
                "pareto_k": {str(k): float(v) for k, v in self.pareto_k.items()},
                "influential": list(self.influential),
                "threshold": self.threshold,
                "method": self.method,
            }
        )

    def __str__(self) -> str:
        lines = [
            f"Leave-one-trial-out PSIS-LOO ({len(self.pareto_k)} trials, {self.n_draws} draws, "
            f"{self.method} per-trial log-likelihood)",
            f"elpd_loo = {self.elpd:.2f} (SE {self.se:.2f}), p_loo = {self.p_loo:.2f}",
            "Pareto k by trial:",
        ]
        width = max(len(str(s)) for s in self.pareto_k.index)
        for study, k in self.pareto_k.items():
            flag = "  influential" if study in self.influential else ""
            lines.append(f"  {study!s:<{width}}  {k:6.3f}{flag}")
        if self.influential:
            lines.append(
                f"Influential trial(s) (k > {self.threshold}): {', '.join(self.influential)}. "
                "Leaving such a trial out changes the posterior too much for importance "
                "sampling; refit without it for an exact leave-one-trial-out comparison."
            )
        else:
            lines.append(f"No trial has k > {self.threshold}.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()


# ---------------------------------------------------------------------- OneStageResult


@dataclass(frozen=True, eq=False, repr=False)
class OneStageResult:
    """Posterior of a one-stage model (ArviZ InferenceData) with its model and diagnostics.

    Every method derives a new value; the result itself never changes.

    Attributes
    ----------
    idata : arviz.InferenceData
        ``posterior``, ``sample_stats`` and ``log_likelihood`` (variable ``trial``, one term
        per trial) groups; variables and dims as in :mod:`bayes_ipd.builder`.
    built : BuiltModel
        The PyMC model with its design, spec and priors in use.
    sampler : SamplerSettings
        The settings the fit was sampled with.
    diagnostics : SamplingDiagnostics
        Divergences, R-hat, ESS, timings and warnings.

    Examples
    --------
    >>> result = fit(ipd, spec, SamplerSettings(draws=500, chains=2))  # doctest: +SKIP
    >>> result.summary(threshold=-0.1)  # doctest: +SKIP
    >>> result.study_effects()  # doctest: +SKIP
    >>> result.ppc().plot()  # doctest: +SKIP
    """

    idata: az.InferenceData
    built: BuiltModel
    sampler: Any
    diagnostics: SamplingDiagnostics

    # ---------------------------------------------------------------- scales and seeds

    @property
    def family(self) -> str:
        """Outcome family."""
        return self.built.design.family

    @property
    def effect_scale(self) -> str:
        """``"MD"`` (gaussian), ``"logOR"`` (binomial) or ``"logHR"`` (survival)."""
        return EFFECT_SCALES[self.family]

    @property
    def is_ratio(self) -> bool:
        """Whether the effect is a log ratio (then also reported exponentiated)."""
        return self.effect_scale in RATIO_LABELS

    @property
    def ratio_label(self) -> str | None:
        """``"OR"`` or ``"HR"`` on a log-ratio scale, else None."""
        return RATIO_LABELS.get(self.effect_scale)

    @property
    def seed(self) -> int:
        """The sampler's seed (the base of every derived random draw)."""
        seed = getattr(self.sampler, "seed", None)
        return int(seed if seed is not None else self.diagnostics.seed)

    def _seed(self, what: str, seed: int | None) -> int:
        return int(seed) if seed is not None else self.seed + SEED_OFFSETS[what]

    # ------------------------------------------------------------------ new trial

    def predict_new_study(self, seed: int | None = None) -> xr.DataArray:
        """The treatment effect in a new trial, one draw per posterior draw.

        ``theta_new ~ Normal(mu, tau)``: the effect at the average trial's covariate
        means (where the across-trial interaction term vanishes).

        Parameters
        ----------
        seed : int, optional
            Seed of the normal draws; by default the sampler's seed + 1, so the result is
            reproducible.

        Returns
        -------
        xarray.DataArray
            ``theta_new`` with dims (chain, draw).
        """
        post = self.idata.posterior
        mu = post["mu"].transpose("chain", "draw")
        tau = post["tau"].transpose("chain", "draw")
        rng = np.random.default_rng(self._seed("new_study", seed))
        z = rng.standard_normal(mu.shape)
        out = mu + tau * xr.DataArray(z, dims=("chain", "draw"), coords=mu.coords)
        return out.rename("theta_new")

    # ------------------------------------------------------------------ summaries

    def _blocks(self) -> dict[str, Any]:
        """Named (chain, draw) draw arrays: scalars, or dicts of them by term or trial."""
        post = self.idata.posterior
        design = self.built.design
        blocks: dict[str, Any] = {
            "effect": _chain_draw(post["mu"]),
            "tau": _chain_draw(post["tau"]),
            "new_study_effect": _chain_draw(self.predict_new_study()),
            "coefficients": {},
            "interactions_within": {},
            "interactions_across": {},
        }
        for term in design.covariate_terms:
            beta = post["beta"].sel(covariate=term)
            if "study" in beta.dims:
                for study in design.studies:
                    key = f"{term} [{study}]"
                    blocks["coefficients"][key] = _chain_draw(beta.sel(study=study))
            else:
                blocks["coefficients"][term] = _chain_draw(beta)
        for term in design.interaction_terms:
            within = post["gamma_within"].sel(interaction=term)
            across = post["gamma_across"].sel(interaction=term)
            blocks["interactions_within"][term] = _chain_draw(within)
            blocks["interactions_across"][term] = _chain_draw(across)
        if "tau_interaction" in post:
            blocks["tau_interaction"] = {
                t: _chain_draw(post["tau_interaction"].sel(interaction=t))
                for t in design.interaction_terms
            }
        if "alpha_mu" in post:
            blocks["intercept_mean"] = _chain_draw(post["alpha_mu"])
            blocks["intercept_sd"] = _chain_draw(post["alpha_sd"])
        if "sigma" in post:
            sigma = post["sigma"]
            if "study" in sigma.dims:
                blocks["sigma"] = {s: _chain_draw(sigma.sel(study=s)) for s in design.studies}
            else:
                blocks["sigma"] = _chain_draw(sigma)
        return blocks

    def _summary_rows(self) -> list[tuple[str, str, np.ndarray]]:
        """(label, kind, draws) per summary row; kind decides the extra columns."""
        b = self._blocks()
        rows = [
            ("effect", "effect", b["effect"]),
            ("tau", "sd", b["tau"]),
            ("new-trial effect", "effect", b["new_study_effect"]),
        ]
        rows += [(f"coefficient: {t}", "coefficient", x) for t, x in b["coefficients"].items()]
        rows += [
            (f"interaction within: {t}", "interaction", x)
            for t, x in b["interactions_within"].items()
        ]
        rows += [
            (f"interaction across: {t}", "interaction", x)
            for t, x in b["interactions_across"].items()
        ]
        rows += [
            (f"tau interaction: {t}", "sd", x) for t, x in b.get("tau_interaction", {}).items()
        ]
        if "intercept_mean" in b:
            rows += [
                ("intercept mean", "coefficient", b["intercept_mean"]),
                ("intercept SD", "sd", b["intercept_sd"]),
            ]
        if isinstance(b.get("sigma"), np.ndarray):
            rows.append(("sigma", "sd", b["sigma"]))
        return rows

    def summary(self, threshold: float | None = None, level: float = 0.95) -> pd.DataFrame:
        """Posterior summary of the model's main parameters.

        Parameters
        ----------
        threshold : float, optional
            An effect on the analysis scale (e.g. ``log(0.8)`` for an odds ratio of 0.8);
            adds ``p_lt_threshold`` = P(effect < threshold).
        level : float
            Coverage of the equal-tailed interval (0.95 gives ``q025`` and ``q975``; see
            :func:`quantile_labels`).

        Returns
        -------
        pandas.DataFrame
            Index ``parameter``: ``effect`` (mu), ``tau``, ``new-trial effect``
            (theta_new), ``coefficient: <term>`` per covariate term (``<term> [<trial>]``
            with trial-specific effects), ``interaction within: <term>`` and
            ``interaction across: <term>``, and when in the model ``tau interaction: <term>``,
            ``intercept mean`` / ``intercept SD`` and a common ``sigma`` (per-trial SDs are
            in :meth:`to_dict` and :attr:`idata`). Columns ``mean, sd, median, q025, q975,
            ess_bulk, r_hat``; on a log-ratio scale ``exp_median, exp_q025, exp_q975`` on
            the effect, new-trial and interaction rows; ``p_lt_0`` (and ``p_lt_threshold``)
            on the effect and new-trial rows.
        """
        lo, hi = quantile_labels(level)
        records = []
        for label, kind, x in self._summary_rows():
            rec: dict[str, Any] = {"parameter": label, **_node(x, level)}
            if self.is_ratio:
                exp = kind in ("effect", "interaction")
                for col in ("median", lo, hi):
                    rec[f"exp_{col}"] = math.exp(rec[col]) if exp else math.nan
            rec["p_lt_0"] = float(np.mean(x < 0)) if kind == "effect" else math.nan
            if threshold is not None:
                rec["p_lt_threshold"] = (
                    float(np.mean(x < threshold)) if kind == "effect" else math.nan
                )
            records.append(rec)
        return pd.DataFrame.from_records(records).set_index("parameter")

    def study_effects(self, level: float = 0.95) -> pd.DataFrame:
        """Shrunken treatment effect of each trial (``theta``, at the trial's covariate means).

        Returns
        -------
        pandas.DataFrame
            Index ``study``; columns ``mean, sd, median, q025, q975, ess_bulk, r_hat`` and,
            on a log-ratio scale, ``exp_median, exp_q025, exp_q975``.
        """
        lo, hi = quantile_labels(level)
        theta = self.idata.posterior["theta"]
        records = []
        for study in self.built.design.studies:
            draws = _chain_draw(theta.sel(study=study))
            rec: dict[str, Any] = {"study": study, **_node(draws, level)}
            if self.is_ratio:
                for col in ("median", lo, hi):
                    rec[f"exp_{col}"] = math.exp(rec[col])
            records.append(rec)
        return pd.DataFrame.from_records(records).set_index("study")

    # ------------------------------------------------------------ predictive checks

    def ppc(self, seed: int | None = None, draws: int | None = None) -> PPCResult:
        """Posterior predictive check per trial and arm (statistics in the module docstring).

        Parameters
        ----------
        seed : int, optional
            Seed of the replication; by default the sampler's seed + 2.
        draws : int, optional
            Use this many evenly spaced posterior draws (all by default).

        Returns
        -------
        PPCResult
        """
        seed = self._seed("ppc", seed)
        params = self.idata.posterior
        index = _thin(_n_samples(params), draws)
        rep = _replicates(self, params, index, np.random.default_rng(seed))
        table = ppc_table(self.built.design.studies, observed_statistics(self.built.design), rep)
        return PPCResult(table, next(iter(rep)), "posterior", len(index), seed)

    def prior_draws(self, draws: int = 500, seed: int | None = None) -> xr.Dataset:
        """Parameter draws from the model's prior (:func:`pymc.sample_prior_predictive`).

        The likelihood is a ``pm.Potential``, which prior sampling leaves out, so these are
        draws from the prior alone.
        """
        import pymc as pm

        seed = self._seed("prior_predictive", seed)
        logger = logging.getLogger("pymc")
        level = logger.level
        logger.setLevel(logging.WARNING)  # not the "Sampling: [...]" line
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*[Pp]otential.*")
                prior = pm.sample_prior_predictive(
                    model=self.built.model, draws=draws, random_seed=seed
                )
        finally:
            logger.setLevel(level)
        return prior.prior

    def prior_predictive(self, draws: int = 500, seed: int | None = None) -> PPCResult:
        """Prior predictive check: data replicated from parameter draws of the prior.

        Parameters
        ----------
        draws : int
            Prior draws.
        seed : int, optional
            Seed of the prior draws and of the replication; by default the sampler's
            seed + 3.

        Returns
        -------
        PPCResult
            With ``kind="prior"``; the observed statistics are those of the data, so the
            table shows whether the prior allows (or wildly exceeds) data like them.
        """
        seed = self._seed("prior_predictive", seed)
        params = self.prior_draws(draws, seed)
        index = np.arange(_n_samples(params))
        rep = _replicates(self, params, index, np.random.default_rng(seed))
        table = ppc_table(self.built.design.studies, observed_statistics(self.built.design), rep)
        return PPCResult(table, next(iter(rep)), "prior", len(index), seed)

    # ------------------------------------------------------------------ model checks

    def loo(self, marginal: bool | None = None) -> LooResult:
        """Leave-one-trial-out PSIS-LOO, one log-likelihood term per trial.

        Parameters
        ----------
        marginal : bool, optional
            ``False``: the ``log_likelihood`` group of :attr:`idata`, i.e. each trial's
            log-likelihood given its own parameters (``alpha_k``, ``theta_k``, ...).
            ``True`` (gaussian only): each trial's log-likelihood with its intercept and
            treatment effect integrated out over their distributions given the other
            parameters (:func:`gaussian_marginal_loglik`). Default: ``True`` for gaussian
            fits, ``False`` otherwise (see Notes).

        Returns
        -------
        LooResult
            ``elpd``, ``se``, ``p_loo``, Pareto ``k`` per trial and the trials with
            ``k > 0.7`` (Vehtari, Gelman & Gabry 2017).

        Notes
        -----
        Leaving out trial ``k`` sends its own parameters back to their prior (stratified
        intercepts, per-trial SDs) or population distribution. With the conditional terms,
        whenever a trial's data pin its own parameters down much more tightly than that,
        the importance weights are heavy-tailed and ``k > 0.7`` for most trials: a large
        ``k`` then says that the trial identifies its own parameters, not that it is an
        outlier. The marginal terms integrate ``alpha_k`` and ``theta_k`` out exactly, so
        that ``p(y_k | y_-k)`` depends on shared parameters only and a large ``k`` marks a
        trial that moves them (e.g. one with a very different effect). Parameters that stay
        trial-specific (per-trial residual SDs, trial-specific covariate effects, random
        interactions) are still conditioned on; use ``residual_sd="common"`` and common
        covariate effects for a clean leave-one-trial-out check. For an exact answer for
        a flagged trial, refit without it.
        """
        idata = self.idata
        if marginal is None:
            marginal = self.family == "gaussian"
        if marginal:
            loglik = self.marginal_loglik()
            idata = az.InferenceData(
                posterior=self.idata.posterior, log_likelihood=loglik.to_dataset(name="trial")
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = az.loo(idata, pointwise=True, var_name="trial")
        k = res["pareto_k"]
        studies = [str(s) for s in k["study"].values]
        pareto_k = pd.Series(np.asarray(k.values, dtype=float), index=studies, name="pareto_k")
        pareto_k.index.name = "study"
        influential = tuple(s for s, v in pareto_k.items() if v > PARETO_K_THRESHOLD)
        return LooResult(
            elpd=float(res["elpd_loo"]),
            se=float(res["se"]),
            p_loo=float(res["p_loo"]),
            pareto_k=pareto_k,
            influential=influential,
            n_draws=int(res["n_samples"]),
            method="marginal" if marginal else "conditional",
        )

    def marginal_loglik(self) -> xr.DataArray:
        """Gaussian: each trial's log-likelihood with ``alpha_k`` and ``theta_k`` integrated out.

        ``alpha_k`` is integrated over its prior (stratified intercepts, which must then
        have a ``normal`` prior) or ``Normal(alpha_mu, alpha_sd)`` (random intercepts), and
        ``theta_k`` over ``Normal(mu + gamma_across'(zbar_k - zbar), tau)``, at every
        posterior draw of the other parameters (:func:`gaussian_marginal_loglik`).

        Returns
        -------
        xarray.DataArray
            (chain, draw, study).
        """
        design, spec = self.built.design, self.built.spec
        if design.family != "gaussian":
            raise ValueError(
                f"the marginal per-trial log-likelihood is available for the gaussian family "
                f"only; this fit is {design.family}"
            )
        post = self.idata.posterior
        s, k = _n_samples(post), design.k
        if spec.intercepts == "random":
            a_mean = np.repeat(_flat(post["alpha_mu"])[:, None], k, axis=1)
            a_sd = np.repeat(_flat(post["alpha_sd"])[:, None], k, axis=1)
        else:
            prior = self.built.priors.intercept
            if prior.dist != "normal":
                raise ValueError(
                    f"the intercept prior {prior} is not normal, so the intercepts cannot be "
                    "integrated out in closed form; use loo(marginal=False)"
                )
            a_mean, a_sd = np.full((s, k), prior.params[0]), np.full((s, k), prior.params[1])
        t_mean = np.repeat(_flat(post["mu"])[:, None], k, axis=1)
        if design.interaction_terms:
            t_mean = t_mean + _flat(post["gamma_across"], "interaction") @ design.across.T
        t_sd = np.repeat(_flat(post["tau"])[:, None], k, axis=1)
        values = gaussian_marginal_loglik(
            design,
            coefficient_draws(self),
            _sigma_draws(post, design),
            np.stack([a_mean, t_mean], axis=2),
            np.stack([a_sd, t_sd], axis=2),
        )
        shape = (post.sizes["chain"], post.sizes["draw"], k)
        return xr.DataArray(
            values.reshape(shape),
            dims=("chain", "draw", "study"),
            coords={
                "chain": post["chain"].values,
                "draw": post["draw"].values,
                "study": list(design.studies),
            },
            name="trial",
        )

    def tau_plot(self, *, title: str | None = None) -> Figure:
        """Prior density of τ over its posterior draws (:func:`plots.prior_posterior_plot`)."""
        from bayes_ipd.plots import prior_posterior_plot
        from bayes_ipd.priors import tau_scale_prior

        prior = tau_scale_prior(self.built.priors.tau)
        return prior_posterior_plot(
            prior.logpdf,
            self.idata.posterior["tau"].values,
            name="τ",
            title=title or f"Between-trial SD τ: prior {prior} and posterior",
        )

    # ------------------------------------------------------------------------ output

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready result; every posterior node is ``{mean, sd, median, q025, q975,
        ess_bulk, r_hat}`` (NaN as None).

        Keys ``model``, ``spec``, ``priors``, ``sampler``, ``posterior`` (``effect``,
        ``tau``, ``new_study_effect``, ``coefficients``, ``interactions_within``,
        ``interactions_across``, ``study_effects``; when in the model also ``sigma``,
        ``tau_interaction``, ``intercept_mean``, ``intercept_sd``) and ``diagnostics``.
        """
        posterior: dict[str, Any] = {}
        for key, value in self._blocks().items():
            if isinstance(value, dict):
                posterior[key] = {name: _node(x) for name, x in value.items()}
            else:
                posterior[key] = _node(value)
        theta = self.idata.posterior["theta"]
        posterior["study_effects"] = {
            s: _node(_chain_draw(theta.sel(study=s))) for s in self.built.design.studies
        }
        design = self.built.design
        sampler = self.sampler.to_dict() if hasattr(self.sampler, "to_dict") else None
        return _json_ready(
            {
                "model": {
                    "family": self.family,
                    "effect_scale": self.effect_scale,
                    "k": design.k,
                    "n": design.n,
                    "studies": list(design.studies),
                    "parameterisation": dict(self.built.parameterisation),
                },
                "spec": self.built.spec.to_dict(),
                "priors": self.built.priors.to_dict(),
                "sampler": sampler,
                "posterior": posterior,
                "diagnostics": self.diagnostics.to_dict(),
            }
        )

    def to_json(self, path: str | Path | None = None) -> str:
        """:meth:`to_dict` as JSON text (strict: no NaN); written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def to_netcdf(self, path: str | Path) -> Path:
        """Write :attr:`idata` to a netCDF file (h5netcdf engine); read back with
        :func:`arviz.from_netcdf`."""
        path = Path(path)
        self.idata.to_netcdf(str(path), engine="h5netcdf")
        return path

    # ------------------------------------------------------------------------ report

    def _model_lines(self) -> list[str]:
        design, spec = self.built.design, self.built.spec
        scale = SCALE_NAMES[self.effect_scale]
        if self.is_ratio:
            scale += f"; also as {RATIO_NAMES[self.effect_scale]}"
        forms = ", ".join(f"{k} {v}" for k, v in self.built.parameterisation.items())
        model = f"{spec.intercepts} intercepts, random treatment effect"
        if design.covariate_terms:
            model += f", {spec.covariate_effects} covariate effects"
        if self.family == "gaussian":
            model += f", residual SD {spec.residual_sd.replace('_', ' ')}"
        if spec.random_interactions:
            model += ", random interactions"
        lines = [
            f"One-stage Bayesian IPD meta-analysis: {self.family} outcome, effect = {scale}",
            f"Trials: k = {design.k}; participants: n = {design.n:,}",
            f"Model: {model}; parameterisation: {forms}",
        ]
        if design.covariate_terms:
            lines.append(f"Covariates (centred within trial): {', '.join(design.covariate_terms)}")
        if design.interaction_terms:
            lines.append(
                "Interactions (split within / across trials): "
                + ", ".join(design.interaction_terms)
            )
        if self.family == "survival":
            lines.append(f"Baseline hazard: piecewise constant on {design.n_intervals} intervals")
        return lines

    def _diagnostic_lines(self) -> list[str]:
        d = self.diagnostics
        lines = [
            f"Sampling: {d.backend}, {d.chains} chains x {d.draws} draws ({d.tune} tuning), "
            f"seed {d.seed}; compile {d.compile_seconds:.1f} s"
            f"{' (reused)' if d.reused_compiled else ''}, sampling {d.sampling_seconds:.1f} s",
            f"Diagnostics: {d.divergences} divergent transitions, max R-hat {d.r_hat_max:.3f}, "
            f"min ESS bulk {d.ess_bulk_min:.0f} / tail {d.ess_tail_min:.0f}",
        ]
        lines += [f"Warning: {w}" for w in d.warnings]
        return lines

    def _display_summary(self) -> pd.DataFrame:
        table = self.summary()
        columns = ["mean", "sd", "median", "q025", "q975"]
        if self.is_ratio:
            columns += ["exp_median", "exp_q025", "exp_q975"]
        columns += ["p_lt_0", "ess_bulk", "r_hat"]
        table = table[columns]
        if self.is_ratio:
            label = self.ratio_label
            table = table.rename(
                columns={
                    "exp_median": f"{label} median",
                    "exp_q025": f"{label} q025",
                    "exp_q975": f"{label} q975",
                }
            )
        return table.rename(columns={"p_lt_0": "P(<0)"})

    def __repr__(self) -> str:
        table = self._display_summary()
        body = table.to_string(float_format=_fmt, na_rep="")
        lines = [*self._model_lines(), "", "Priors:"]
        lines += [f"  {line}" for line in self.built.priors.describe().splitlines()]
        lines += ["", "Posterior (95% equal-tailed credible intervals):", body, ""]
        lines += self._diagnostic_lines()
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        parts = [f"<p><b>{esc(self._model_lines()[0])}</b><br>"]
        parts += [f"{esc(line)}<br>" for line in self._model_lines()[1:]]
        parts.append("</p><p><b>Priors</b></p><ul>")
        parts += [f"<li>{esc(line)}</li>" for line in self.built.priors.describe().splitlines()]
        parts.append("</ul><p><b>Posterior</b> (95% equal-tailed credible intervals)</p>")
        parts.append(self._display_summary().to_html(float_format=_fmt, na_rep=""))
        parts.append("<p>" + "<br>".join(esc(x) for x in self._diagnostic_lines()) + "</p>")
        return "\n".join(parts)


def _fmt(x: float) -> str:
    """Four significant digits for the report tables."""
    return f"{x:.4g}"
