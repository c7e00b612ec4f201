"""The gaussian family: a continuous outcome, effect = mean difference.

Sufficient statistics per trial and arm: ``n``, ``Z'Z``, ``Z'y``, ``y'y`` (exact). The
collapsed log-likelihood is ``sum_i log N(y_i | z_i'b_k, sigma_k)`` written with them; the
residual SD is per trial or common. The likelihood reads the sums about each trial's own
outcome mean (:func:`centred_sums`, an exact reparameterisation), so its value and the fit do
not depend on the outcome's origin (``y + 1e8`` fits as ``y`` does, intercepts moved by 1e8).
Default priors are scale-aware (module
:mod:`bayes_ipd.priors`): with ``s`` the pooled within-trial-and-arm SD of the outcome and
``m`` its mean, intercept ``normal(m, 10 s)``, effect ``normal(0, 10 s)``, τ
``half_normal(s)``, coefficients and interactions ``normal(0, 2.5 s)`` per SD of each
covariate (its pooled within-trial SD; rstanarm's autoscaling rule), σ ``half_normal(5 s)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bayes_ipd.conventions import SCALES
from bayes_ipd.families.arm_replicates import ArmReplicates, arm_rows, mean_or_nan
from bayes_ipd.families.base import (
    Family,
    ResponseRole,
    flat_draws,
    take_columns,
)
from bayes_ipd.families.network_adjusted import adjusted_ols
from bayes_ipd.families.network_arms import NetworkArmModel, study_draws
from bayes_ipd.families.network_contrasts import ArmSums, ExcludedTrial, independent_arms
from bayes_ipd.families.regression import (
    Unfittable,
    check_design,
    check_magnitude,
    term_estimate,
    with_intercept,
)

if TYPE_CHECKING:
    import xarray as xr

    from bayes_ipd.families.protocols import DesignLike, ModelSpecLike
    from bayes_ipd.families.quadrature import TrialDraws
    from bayes_ipd.prior_values import PriorSet

__all__ = ["GAUSSIAN", "GaussianFamily", "gaussian_marginal_loglik", "replicate_gaussian"]

LOG_2PI = math.log(2 * math.pi)


def _round4(x: float) -> float:
    """``x`` rounded to 4 significant digits."""
    return float(f"{x:.4g}")


def _round_mean(mean: float, sd: float) -> float:
    """``mean`` to 4 significant digits, or finer when that would move it by more than
    0.1% of ``sd`` (a mean of 1e8 + 140 is not 1e8 for an SD of 150)."""
    rounded = _round4(mean)
    if not sd > 0 or abs(rounded - mean) <= 1e-3 * sd:
        return rounded
    step = 10.0 ** (math.floor(math.log10(sd)) - 3)
    return float(round(mean / step) * step)


def outcome_moments(design: DesignLike) -> tuple[float, float]:
    """Grand mean and pooled within-trial-arm SD of the outcome of a gaussian design."""
    zty, yty = design.stats["zty"], design.stats["yty"]
    sums = zty[:, :, 0]
    n = design.n_arm.astype(np.float64)
    ss = yty - np.divide(sums**2, n, out=np.zeros_like(sums), where=n > 0)
    df = n.sum() - np.count_nonzero(n)
    sd = float(np.sqrt(max(ss.sum(), 0.0) / max(df, 1.0)))
    return float(sums.sum() / n.sum()), sd


def sigma_draws(params: xr.Dataset, k: int) -> np.ndarray:
    """(S, K) residual SD per trial (a common SD repeated)."""
    sigma = params["sigma"]
    if "study" in sigma.dims:
        return flat_draws(sigma, "study")
    return np.repeat(flat_draws(sigma)[:, None], k, axis=1)


def replicate_gaussian(
    design: DesignLike, coef: np.ndarray, sigma: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Replicated arm means and arm SDs, exactly, from per-arm sufficient statistics.

    Parameters
    ----------
    design : DesignLike
        A gaussian design (per-arm ``ztz``).
    coef : numpy.ndarray
        (S, K, m) coefficient draws.
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
    b'C b / sigma²)`` with ``C = Z'Z - Z'1 1'Z / n`` (Cochran's theorem: ``1'y`` and
    ``y'(I - J/n)y`` are independent for ``y ~ N(Zb, sigma² I)``).
    """
    n = design.n_arm.astype(np.float64)  # (K, 2)
    ztz = design.stats["ztz"]  # (K, 2, m, m); row 0 is 1'Z because column 0 is the intercept
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


def gaussian_marginal_loglik(
    design: DesignLike,
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
    design : DesignLike
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
    ztz = design.stats["ztz"].sum(axis=1)
    centre, zty, yty = centred_sums(
        n, ztz, design.stats["zty"].sum(axis=1), design.stats["yty"].sum(axis=1)
    )
    b0 = np.array(coef, dtype=np.float64, copy=True)
    b0[:, :, :2] = u_mean
    b0 = shift_intercept(b0, centre)  # sums about each trial's mean (centred_sums)
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


_GRAM_TOLERANCE = 1e-8
"""Smallest eigenvalue of a correlation-scaled Gram matrix taken as rounding, not a flaw."""


def _arm_problem(a: int, ztz: np.ndarray, zty: np.ndarray, yty: float, n: int) -> str | None:
    """What makes one arm's ``Z'Z``, ``Z'y``, ``y'y`` impossible for ``n`` rows, or None."""
    arm = ("control", "treated")[a]
    if ztz[0, 0] != n:
        return (
            f"ztz[{a}][0][0] (the {arm} arm's count in Z'Z) is {ztz[0, 0]:g} but n_arm[{a}] is {n}"
        )
    if ztz[0, 1] != a * n:
        return f"ztz[{a}][0][1] (the {arm} arm's treatment sum) is {ztz[0, 1]:g}, not {a * n}"
    if not np.allclose(ztz, ztz.T, rtol=1e-12, atol=0.0):
        return f"ztz[{a}] (the {arm} arm's Z'Z) is not symmetric"
    if n == 0:
        empty = np.any(ztz != 0) or np.any(zty != 0) or yty != 0
        return f"the {arm} arm has no participants but non-zero ztz, zty or yty" if empty else None
    if yty < zty[0] ** 2 / n * (1 - 1e-12):
        return (
            f"yty[{a}] = {yty:g} is below (Z'y)^2 / n = {zty[0] ** 2 / n:g} in the {arm} arm "
            "(a negative variance)"
        )
    if np.any(np.diagonal(ztz) < 0):
        return f"ztz[{a}] has a negative sum of squares on its diagonal (the {arm} arm)"
    gram = np.block([[ztz, zty[:, None]], [zty[None, :], np.array([[yty]])]])
    diag = np.sqrt(np.diagonal(gram))
    scale = np.where(diag > 0, diag, 1.0)
    smallest = float(np.linalg.eigvalsh(gram / np.outer(scale, scale))[0])
    if smallest < -_GRAM_TOLERANCE:
        return (
            f"ztz[{a}], zty[{a}] and yty[{a}] are not the cross-products of any data (in the "
            f"{arm} arm, [Z y]'[Z y] has a negative eigenvalue: an impossible variance or "
            "correlation)"
        )
    return None


def centred_sums(
    n: np.ndarray, ztz: np.ndarray, zty: np.ndarray, yty: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-trial sums taken about the trial's own outcome mean ``c`` (summed over arms).

    ``y = Z b + e`` is ``y - c 1 = Z (b - c e_0) + e`` (column 0 of ``Z`` is the
    intercept), so ``Z'(y - c) = Z'y - c Z'1`` and ``(y - c)'(y - c) = y'y - (1'y)² / n``.
    The residual sum of squares written with these is the same number without the
    cancellation of terms of size ``n c²`` (an outcome of 1e8 gives ``y'y`` ~ 1e18, whose
    rounding swamped the residuals and broke sampling): the likelihood no longer depends
    on the outcome's origin. Callers subtract ``c`` from the intercept (:func:`shift_intercept`).

    Parameters
    ----------
    n : (..., ) participants; ztz : (..., m, m); zty : (..., m); yty : (...,).

    Returns
    -------
    centre, zty_c, yty_c : numpy.ndarray
        ``c`` (0 for a trial without rows), ``Z'(y - c)`` and ``(y - c)'(y - c)``.
    """
    n = np.asarray(n, dtype=np.float64)
    sums = zty[..., 0]
    centre = np.divide(sums, n, out=np.zeros_like(sums, dtype=np.float64), where=n > 0)
    zty_c = zty - centre[..., None] * ztz[..., 0, :]
    yty_c = np.maximum(yty - centre * sums, 0.0)
    return centre, zty_c, yty_c


def shift_intercept(coef: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """``coef`` (..., K, m) with ``centre`` (K,) taken from its intercept column."""
    out = np.array(coef, dtype=np.float64, copy=True)
    out[..., 0] -= centre
    return out


def gaussian_loglik(coef: Any, sigma: Any, n: Any, ztz: Any, zty: Any, yty: Any) -> Any:
    """Gaussian log-likelihood per trial from sufficient statistics (PyTensor).

    Parameters
    ----------
    coef : (K, m) coefficients per trial.
    sigma : (K,) residual SD per trial.
    n : (K,) participants; ztz : (K, m, m); zty : (K, m); yty : (K,) summed over arms.
    """
    import pytensor.tensor as pt

    quad = (coef[:, :, None] * ztz * coef[:, None, :]).sum(axis=(1, 2))
    lin = (coef * zty).sum(axis=1)
    rss = yty - 2.0 * lin + quad
    return -0.5 * n * LOG_2PI - n * pt.log(sigma) - rss / (2.0 * sigma**2)


@dataclass(frozen=True)
class GaussianFamily(Family):
    """Continuous outcome; identity link, residual SD per trial or common."""

    def trial_statistics(
        self,
        z: np.ndarray,
        arm: np.ndarray,
        responses: Mapping[str, np.ndarray],
        cutpoints: Sequence[float],
    ) -> dict[str, np.ndarray]:
        """Per arm ``Z'Z`` (2, m, m), ``Z'y`` (2, m) and ``y'y`` (2,)."""
        y = responses["outcome"]
        return {
            "ztz": np.stack([z[arm == a].T @ z[arm == a] for a in (0, 1)]),
            "zty": np.stack([z[arm == a].T @ y[arm == a] for a in (0, 1)]),
            "yty": np.array([y[arm == a] @ y[arm == a] for a in (0, 1)]),
        }

    def statistics_problem(
        self, stats: Mapping[str, np.ndarray], n_arm: np.ndarray, width: int
    ) -> str | None:
        """The base checks, then the identities of per-arm cross-products of ``[Z, y]``:
        shapes, ``Z'Z[0, 0]`` (the count) equal to ``n_arm``, the treatment column's sum,
        symmetry, and ``[Z y]'[Z y]`` positive semi-definite (so ``y'y >= (1'y)² / n``: no
        negative variance)."""
        problem = super().statistics_problem(stats, n_arm, width)
        if problem is not None:
            return problem
        shapes = {"ztz": (2, width, width), "zty": (2, width), "yty": (2,)}
        for name, shape in shapes.items():
            if np.shape(stats[name]) != shape:
                return f"{name} has shape {np.shape(stats[name])}, expected {shape}"
        ztz, zty, yty = (np.asarray(stats[k], dtype=np.float64) for k in ("ztz", "zty", "yty"))
        for a in (0, 1):
            problem = _arm_problem(a, ztz[a], zty[a], float(yty[a]), int(n_arm[a]))
            if problem is not None:
                return problem
        return None

    def stack_statistics(
        self, per_trial: Sequence[Mapping[str, np.ndarray]], columns: Sequence[np.ndarray]
    ) -> dict[str, np.ndarray]:
        """(K, 2, m, m), (K, 2, m) and (K, 2) arrays on the global design columns."""
        pairs = list(zip(per_trial, columns, strict=True))
        return {
            "ztz": np.stack([take_columns(s["ztz"], c, (1, 2)) for s, c in pairs]),
            "zty": np.stack([take_columns(s["zty"], c, (1,)) for s, c in pairs]),
            "yty": np.stack([s["yty"] for s in per_trial]),
        }

    def term_sums_of_squares(self, stats: Mapping[str, np.ndarray], p: int) -> np.ndarray:
        """Within-trial sum of squares of each centred term (diagonal of ``Z'Z``)."""
        return np.diagonal(stats["ztz"].sum(axis=0))[2 : 2 + p]

    def term_scales(self, design: DesignLike) -> np.ndarray:
        """Pooled within-trial SD of each covariate term, weighted by participants."""
        p = len(design.covariate_terms)
        sq = np.diagonal(design.stats["ztz"].sum(axis=(0, 1)))[2 : 2 + p]
        sd = np.sqrt(sq / design.n)
        return np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)

    def crude_effects(self, design: DesignLike) -> tuple[np.ndarray, np.ndarray]:
        """Difference in arm means with the pooled SD."""
        n = design.n_arm.astype(np.float64)
        sums = design.stats["zty"][:, :, 0]
        mean = sums / n
        ss = design.stats["yty"] - sums**2 / n
        s2 = ss.sum(axis=1) / np.maximum(n.sum(axis=1) - 2, 1)
        return mean[:, 1] - mean[:, 0], np.sqrt(s2 * (1 / n[:, 0] + 1 / n[:, 1]))

    def control_levels(self, design: DesignLike) -> tuple[np.ndarray, np.ndarray]:
        """Control-arm mean and its SE."""
        n = design.n_arm[:, 0].astype(np.float64)
        s = design.stats["zty"][:, 0, 0]
        var = np.maximum(design.stats["yty"][:, 0] - s**2 / n, 0) / np.maximum(n - 1, 1)
        return s / n, np.sqrt(var / n)

    def outcome_scale(self, design: DesignLike) -> tuple[float, float] | None:
        """Grand mean and pooled within-trial-arm SD of the outcome."""
        return outcome_moments(design)

    @property
    def needs_outcome_scale(self) -> bool:
        """Gaussian defaults are per outcome SD."""
        return True

    def default_prior_params(
        self, outcome_sd: float | None, outcome_mean: float | None
    ) -> dict[str, tuple[str, tuple[float, ...]]]:
        """Scale-aware defaults (module docstring); ``outcome_sd`` is required."""
        s = float(outcome_sd)  # type: ignore[arg-type]
        wide = _round4(10.0 * s)
        m = _round_mean(float(outcome_mean or 0.0), wide)
        return {
            "intercept": ("normal", (m, wide)),
            "effect": ("normal", (0.0, wide)),
            "tau": ("half_normal", (_round4(s),)),
            "coefficients": ("normal", (0.0, _round4(2.5 * s))),  # per SD of the covariate
            "interactions": ("normal", (0.0, _round4(2.5 * s))),
            "sigma": ("half_normal", (_round4(5.0 * s),)),
        }

    def data_arrays(self, design: DesignLike) -> dict[str, np.ndarray]:
        """Sufficient statistics summed over arms, about each trial's outcome mean
        (:func:`centred_sums`): ``n, ztz, zty, yty`` and the means ``y_centre``."""
        n = design.n_arm.sum(axis=1).astype(np.float64)
        ztz = design.stats["ztz"].sum(axis=1)
        centre, zty, yty = centred_sums(
            n, ztz, design.stats["zty"].sum(axis=1), design.stats["yty"].sum(axis=1)
        )
        return {"n": n, "ztz": ztz, "zty": zty, "yty": yty, "y_centre": centre}

    def loglik(
        self, design: DesignLike, spec: ModelSpecLike, priors: PriorSet, coef: Any, data: Mapping
    ) -> Any:
        """Gaussian log-likelihood per trial, with ``sigma`` per trial or common."""
        import pytensor.tensor as pt

        h = data.get("prior_sigma")  # the prior's numbers as model data (the builder's)
        if spec.residual_sd == "common":
            sigma = priors.sigma.to_pymc("sigma", params=h) * pt.ones(design.k)
        else:
            sigma = priors.sigma.to_pymc("sigma", dims="study", params=h)
        # the sums are about each trial's outcome mean: the intercept moves with them
        shifted = pt.concatenate([coef[:, :1] - data["y_centre"][:, None], coef[:, 1:]], axis=1)
        return gaussian_loglik(shifted, sigma, data["n"], data["ztz"], data["zty"], data["yty"])

    def row_loglik(
        self, eta: Any, responses: Mapping[str, Any], study: Any, extra_var: Any = None
    ) -> Any:
        """``log N(y | eta, sqrt(sigma_k² + extra_var))`` per row, ``sigma`` the model's
        (per trial or common; :meth:`loglik` creates it). ``extra_var`` is the variance of
        ``eta`` over normally distributed covariates integrated out: ``y = eta + b x + e``
        with ``x ~ N(m, s²)`` gives ``y ~ N(eta + b m, sigma² + b² s²)``."""
        import pymc as pm
        import pytensor.tensor as pt

        sigma = pm.modelcontext(None)["sigma"]
        sd = sigma[study] if sigma.ndim else sigma * pt.ones_like(eta)
        var = sd**2 if extra_var is None else sd**2 + extra_var
        resid = responses["outcome"] - eta
        return -0.5 * LOG_2PI - 0.5 * pt.log(var) - resid**2 / (2.0 * var)

    @property
    def integrates_normal_covariates(self) -> bool:
        """Missing normal covariates are integrated out in closed form (:meth:`row_loglik`)."""
        return True

    def model_description(self, spec: ModelSpecLike) -> str:
        """The residual SD option."""
        return f", residual SD {spec.residual_sd.replace('_', ' ')}"

    def observed_statistics(self, design: DesignLike) -> dict[str, np.ndarray]:
        """Arm mean and arm SD of the outcome."""
        n = design.n_arm.astype(np.float64)
        sums = design.stats["zty"][:, :, 0]
        ss = np.maximum(design.stats["yty"] - sums**2 / n, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.where(n > 1, np.sqrt(ss / (n - 1)), np.nan)
        return {"mean": sums / n, "sd": sd}

    def replicate(
        self, design: DesignLike, params: xr.Dataset, coef: np.ndarray, index: np.ndarray, rng: Any
    ) -> dict[str, np.ndarray]:
        """Exact replicated arm means and SDs (:func:`replicate_gaussian`)."""
        return replicate_gaussian(design, coef, sigma_draws(params, design.k)[index], rng)

    def arm_replicates(
        self,
        design: DesignLike,
        params: xr.Dataset,
        coef: np.ndarray,
        arm_columns: Sequence[int],
        rng: np.random.Generator,
    ) -> ArmReplicates:
        """The arm mean per trial and arm, exactly: the arm's rows ``Z_a`` give
        ``N(1'Z_a b_k / n_a, sigma_k^2 / n_a)``, with ``1'Z_a`` the arm dummy's row of
        ``Z'Z`` (the base arm's by difference;
        :func:`~bayes_ipd.families.arm_replicates.arm_rows`)."""
        ztz = design.stats["ztz"].sum(axis=1)  # (K, m, m) over the stored arms
        zty = design.stats["zty"].sum(axis=1)
        rows = arm_rows(ztz, arm_columns)  # (K, G, m): sum of z over each arm's rows
        n = rows[..., 0]
        lin = mean_or_nan(np.einsum("kgm,skm->skg", rows, coef), n)
        sd = sigma_draws(params, design.k)[:, :, None] / np.sqrt(np.where(n > 0, n, 1.0))
        replicates = lin + sd * rng.standard_normal(lin.shape)
        return ArmReplicates("mean", mean_or_nan(arm_rows(zty, arm_columns), n), replicates)

    def trial_loglik(
        self, design: DesignLike, trial: int, draws: TrialDraws, own: np.ndarray
    ) -> np.ndarray:
        """(S, N) gaussian log-likelihood of trial ``trial`` at points ``(alpha_k, theta_k)``
        from its sufficient statistics (summed over arms)."""
        n = float(design.n_arm[trial].sum())
        ztz = design.stats["ztz"][trial].sum(axis=0)
        centre, zty, yty = centred_sums(
            np.array(n),
            ztz,
            design.stats["zty"][trial].sum(axis=0),
            design.stats["yty"][trial].sum(),
        )
        b = np.broadcast_to(draws.coef[:, trial, None, :], (*own.shape[:2], design.width))
        b = shift_intercept(np.concatenate([own, b[..., 2:]], axis=-1), centre)
        rss = yty - 2.0 * b @ zty + np.einsum("snm,mq,snq->sn", b, ztz, b)
        sigma = sigma_draws(draws.params, design.k)[:, trial, None]
        return -0.5 * n * LOG_2PI - n * np.log(sigma) - rss / (2.0 * sigma**2)

    def marginal_trial_loglik(
        self, design: DesignLike, trial: int, draws: TrialDraws
    ) -> np.ndarray:
        """(S,) exact: ``alpha_k`` and ``theta_k`` integrated out in closed form
        (:func:`gaussian_marginal_loglik`); by quadrature when the intercept prior is not
        normal."""
        if draws.intercept_prior is not None:
            return super().marginal_trial_loglik(design, trial, draws)
        sigma = sigma_draws(draws.params, design.k)
        return gaussian_marginal_loglik(design, draws.coef, sigma, draws.loc, draws.scale)[:, trial]

    def fit_trial(
        self, responses: Mapping[str, np.ndarray], x: np.ndarray, names: Sequence[str], term: int
    ) -> tuple[float, float]:
        """Ordinary least squares (statsmodels), classical SE."""
        from statsmodels.regression.linear_model import OLS

        y = responses["outcome"]
        if np.all(y == y[0]):
            # no spread to explain: OLS would return a zero effect with an SE of rounding
            # noise (~1e-15), which would dominate any inverse-variance pool
            raise Unfittable(
                f"the outcome is constant within the trial (every value is {float(y[0])!r}), "
                "so its effect is not estimable"
            )
        check_magnitude(y, "outcome")
        xi = with_intercept(x)
        check_design(xi, ("intercept", *names), min_residual_df=1)
        fit = OLS(y, xi).fit()
        # An exact fit leaves ssr at rounding noise, not 0. Two scales, so that noise does
        # not pass for a residual: (a) the outcome's spread, sum((y - ybar)^2): an R² within
        # 1e-12 of 1 is an exact fit; (b) the outcome's magnitude, sum(y^2), which is not 0
        # when the spread comes only from between-arm differences (y constant within each
        # arm) and which bounds the noise even when the level dwarfs the spread: each
        # residual is exact up to a few multiples of eps * |y| (eps ~ 2.2e-16), so the noise
        # in ssr is ~1e-30 * sum(y^2); 1e-20 (residuals below 1e-10 of the outcome's size)
        # sits far above that noise and far below any real measurement precision.
        zero = max(1e-12 * np.sum((y - y.mean()) ** 2), 1e-20 * np.sum(y**2))
        if not fit.ssr > zero:
            raise Unfittable("zero residual variance: the model reproduces every outcome exactly")
        return term_estimate(fit.params, fit.bse, term + 1)


@dataclass(frozen=True)
class GaussianArms(NetworkArmModel):
    """Network arms of a normal outcome: ``n``, the arm mean ``ybar`` and the within-arm
    sum of squares ``ss`` (about the arm mean: no cancellation), ``-n/2 log(2 pi sigma_k^2)
    - (ss + n (ybar - eta)^2) / (2 sigma_k^2)`` (exact); ``total`` and ``squares`` kept."""

    def sums(self, row_arm: np.ndarray, a: int, roles: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Mean, SS, sum and sum of squares per arm (arms without rows: 0)."""
        y = roles["outcome"]
        n = np.bincount(row_arm, minlength=a).astype(float)
        total = np.bincount(row_arm, weights=y, minlength=a)
        mean = np.divide(total, n, out=np.zeros_like(total), where=n > 0)  # AD-only arms
        return {
            "mean": mean,
            "ss": np.bincount(row_arm, weights=(y - mean[row_arm]) ** 2, minlength=a),
            "total": total,
            "squares": np.bincount(row_arm, weights=y * y, minlength=a),
        }

    def loglik(self, eta: Any, data: Mapping[str, Any], priors: PriorSet, hyper: Any) -> Any:
        """The normal log-likelihood per arm, ``sigma`` [study] from the ``sigma`` slot."""
        import pytensor.tensor as pt

        prior = priors.sigma
        if prior is None:
            raise ValueError("a normal outcome needs a prior in the sigma slot")
        sigma = prior.to_pymc("sigma", dims="study", params=hyper("sigma", prior))[
            data["arm_study"]
        ]
        n = data["n"]
        quad = data["ss"] + n * (data["mean"] - eta) ** 2
        return -0.5 * n * (LOG_2PI + 2.0 * pt.log(sigma)) - quad / (2.0 * sigma**2)

    def loglik_numpy(
        self, stats: Mapping[str, np.ndarray], arm_study: np.ndarray, eta: np.ndarray, nuisance: Any
    ) -> np.ndarray:
        """The normal log-likelihood per arm, ``nuisance`` (..., K) the residual SDs."""
        n, s = stats["n"], np.asarray(nuisance)[..., arm_study]
        quad = stats["ss"] + n * (stats["mean"] - eta) ** 2
        return -0.5 * n * (np.log(2.0 * np.pi) + 2.0 * np.log(s)) - quad / (2.0 * s**2)

    def saturated(self, stats: Mapping[str, np.ndarray]) -> None:
        """None: no saturated model with an unknown residual SD."""
        return None

    def replicate(
        self,
        stats: Mapping[str, np.ndarray],
        arm_study: np.ndarray,
        eta: np.ndarray,
        nuisance: Any,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """The arm mean, ``Normal(eta, sigma_k / sqrt(n))``."""
        s = np.asarray(nuisance)[..., arm_study] / np.sqrt(stats["n"])
        return eta + s * rng.standard_normal(eta.shape)

    def eta_derivatives(
        self, stats: Mapping[str, np.ndarray], eta: np.ndarray, nuisance: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """``n (ybar - eta) / sigma^2`` and ``-n / sigma^2`` (``nuisance``: sigma per arm)."""
        prec = stats["n"] / nuisance**2
        return prec * (stats["mean"] - eta), -prec * np.ones_like(eta)

    def nuisance_draws(self, posterior: Any) -> np.ndarray:
        """(S, K) residual SDs."""
        return study_draws(posterior, "sigma")

    def outcome_scale(self, stats: Mapping[str, np.ndarray]) -> tuple[float, float]:
        """The outcome's mean and pooled within-arm SD (the scale of the default priors)."""
        from bayes_ipd.errors import IPDDataError

        n, ss = stats["n"], stats["ss"]
        df = float(n.sum()) - int(np.count_nonzero(n))
        if df < 1 or float(ss.sum()) <= 0:
            raise IPDDataError("the outcome has no spread within the arms: no residual SD")
        mean = float(np.sum(stats["total"]) / n.sum())
        return mean, float(np.sqrt(ss.sum() / df))


GAUSSIAN_ARMS = GaussianArms(
    "gaussian",
    ("mean", "ss", "total", "squares"),
    replicated="mean",
    aggregate_columns=("mean", "sd", "n"),
)
"""The gaussian family's arm-level network model."""


def network_arm_means(sums: ArmSums, sparse: str | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Each arm's mean and its variance: the pooled within-trial residual variance ``s2 =
    sum_j SS_j / (N - J)`` over ``n_j`` (the OLS fit on a treatment factor), or ``sd_j^2 /
    n_j`` for an AD-only trial (R ``escalc(measure = "MD")``); ``sparse`` does not apply."""
    n = sums.n
    means = sums.total / n
    if sums.arm_variance is not None:
        return means, sums.arm_variance / n, False
    within = float(np.sum(sums.squares - n * means**2))
    df = float(n.sum()) - n.size
    scale = max(float(np.sum(sums.squares)), 1e-300)
    if df < 1 or within <= 1e-12 * scale:
        raise ExcludedTrial("no spread of the outcome within the arms: no residual variance")
    return means, (within / df) / n, False


GAUSSIAN = GaussianFamily(
    name="gaussian",
    data_kind="continuous outcomes",
    scale=SCALES["MD"],
    responses=(ResponseRole("outcome", "the outcome column", "outcome", "finite"),),
    statistics=("ztz", "zty", "yty"),
    prior_slots=("intercept", "effect", "tau", "coefficients", "interactions", "sigma"),
    stage_one_model="linear regression (OLS)",
    ppc_statistics=(("mean", "Arm mean of the outcome"), ("sd", "Arm SD of the outcome")),
    marginal_loo=True,
    repeated_measures=True,
    network_arms=GAUSSIAN_ARMS,
    network_contrasts=independent_arms(network_arm_means, adjusted_ols),
)
