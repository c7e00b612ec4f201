"""Each trial's log-likelihood with its own baseline and random effects integrated out.

Leaving trial ``k`` out of a network model sends its stratified baseline ``alpha_k`` back
to its prior ``N(a0, s0^2)`` and its random effects ``delta_k`` (``m`` contrasts) to their
population distribution ``N(mean_k, tau^2 B)`` (``B``: 1 on the diagonal, 1/2 off it). The
leave-one-trial-out predictive density then needs, at every posterior draw,

``p(y_k | shared) = ∫ p(y_k | alpha, delta) N(alpha; a0, s0^2) N(delta; mean_k, tau^2 B)``

with the shared parameters only (``d``, ``tau``; a normal outcome's residual SD ``sigma_k``
stays conditioned on, as in the two-arm marginal LOO). In standard coordinates ``x = (w,
v)``, ``alpha = a0 + s0 w`` and ``delta = mean_k + tau L v`` (``L`` the trial's Cholesky
factor), the integrand is ``exp(f(x))``, ``f = loglik + sum log N(x_i; 0, 1)``; it is
integrated by adaptive Gauss-Hermite quadrature (Liu & Pierce 1994): Newton steps to the
mode ``x*`` (analytic gradient and Hessian of the arm log-likelihoods), ``x = x* + C z`` with
``C C' = (-H)^-1``, and a tensor grid of ``n`` probabilists' Gauss-Hermite nodes per
dimension, vectorised over draws. ``mean_k`` is read from each draw as ``delta - tau L
z_delta``, so the consistency, unrelated-mean-effects and node-split models share the code.
Fixed effects: only ``alpha_k`` is integrated (``delta`` is the mean itself).

Families: binomial, poisson, gaussian; the intercept prior must be normal; networks with
contrast-level aggregate data keep the conditional terms (:func:`supports_marginal`).
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product
from typing import Any

import numpy as np
import xarray as xr
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import logsumexp

from bayes_ipd.errors import SpecError
from bayes_ipd.families import REGISTRY
from bayes_ipd.one_stage.network_model import NetworkModel
from bayes_ipd.one_stage.network_summaries import NetworkArms, arm_loglik

__all__ = ["MARGINAL_FAMILIES", "QUADRATURE_NODES", "marginal_trial_loglik", "supports_marginal"]

QUADRATURE_NODES = 7
"""Gauss-Hermite nodes per dimension (7^(m + 1) evaluations for a trial of m contrasts)."""
_NEWTON_STEPS = 30
_LOG_2PI = float(np.log(2.0 * np.pi))


MARGINAL_FAMILIES = tuple(
    name
    for name, family in REGISTRY.items()
    if family.network_arms is not None and family.network_arms.has_eta_derivatives
)
"""Families whose arm-level network plug-in gives the derivatives in ``eta``
(``family.network_arms.eta_derivatives``): gaussian, binomial, poisson."""


def supports_marginal(built: NetworkModel) -> bool:
    """True when the family has the derivatives here, the intercept prior is normal and no
    trial is given as contrast-level aggregate data (its likelihood is not an arm's)."""
    family = REGISTRY.get(built.arms.family)
    hooks = None if family is None else family.network_arms
    return (
        hooks is not None
        and hooks.has_eta_derivatives
        and built.priors.intercept.dist == "normal"
        and built.arms.n_given == 0
    )


def _flat(posterior: Any, name: str, *dims: str) -> np.ndarray:
    values = np.asarray(posterior[name].transpose("chain", "draw", *dims).values, float)
    return values.reshape(-1, *values.shape[2:])


def _trial_layout(arms: NetworkArms, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trial's arms (reference arm first), its contrasts, its Cholesky block (m x m)."""
    contrasts = np.flatnonzero(arms.contrast_study == k)
    ref = np.setdiff1d(np.flatnonzero(arms.arm_study == k), arms.contrast_arm[contrasts])
    trial_arms = np.r_[ref, arms.contrast_arm[contrasts]]
    position = {c: i for i, c in enumerate(contrasts)}
    chol = np.zeros((contrasts.size, contrasts.size))
    for r, c, v in zip(arms.chol_rows, arms.chol_cols, arms.chol_values, strict=True):
        if r in position:
            chol[position[r], position[c]] = v
    return trial_arms, contrasts, chol


def _jacobian(s0: float, tau: np.ndarray | None, chol: np.ndarray, s: int) -> np.ndarray:
    """(S, A_k, D): d eta / d x, ``x = (w, v)``; the reference arm first."""
    m = chol.shape[0]
    jac = np.zeros((s, m + 1, 1 if tau is None else m + 1))
    jac[:, :, 0] = s0
    if tau is not None:
        jac[:, 1:, 1:] = tau[:, None, None] * chol[None]
    return jac


def _trial_marginal(
    arms: NetworkArms,
    trial_arms: np.ndarray,
    base_eta: np.ndarray,
    jac: np.ndarray,
    sigma: np.ndarray | None,
    nodes: int,
) -> np.ndarray:
    """(S,) log ∫ exp(f(x)) dx for one trial (module docstring)."""
    derivatives = arms.model.eta_derivatives  # the family's plug-in
    st = {name: v[trial_arms] for name, v in arms.stats.items()}
    nuisance = None if sigma is None else sigma[:, None]  # (S, 1): per draw, every arm
    s, _, dim = jac.shape
    sub = _subset(arms, trial_arms)
    sig = None if sigma is None else sigma[:, None] * np.ones(sub.k)

    def objective(x: np.ndarray) -> np.ndarray:  # log integrand up to a constant
        eta = base_eta + np.einsum("sad,sd->sa", jac, x)
        return arm_loglik(sub, eta, sig).sum(axis=1) - 0.5 * np.sum(x**2, axis=1)

    x = np.zeros((s, dim))
    eye = np.eye(dim)
    current = objective(x)
    for _ in range(_NEWTON_STEPS):
        eta = base_eta + np.einsum("sad,sd->sa", jac, x)
        g, h = derivatives(st, eta, nuisance)
        grad = np.einsum("sad,sa->sd", jac, g) - x
        hess = np.einsum("sad,sa,sae->sde", jac, h, jac) - eye
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        scale = np.ones(s)  # damped: halve the step until the integrand does not fall
        for _ in range(40):
            trial = objective(x - scale[:, None] * step)
            worse = ~(trial >= current - 1e-12)
            if not worse.any():
                break
            scale = np.where(worse, scale / 2.0, scale)
        x = x - scale[:, None] * step
        current = objective(x)
        if np.max(np.abs(scale[:, None] * step)) < 1e-10:
            break
    eta = base_eta + np.einsum("sad,sd->sa", jac, x)
    _, h = derivatives(st, eta, nuisance)
    neg_hess = eye - np.einsum("sad,sa,sae->sde", jac, h, jac)
    chol = np.linalg.cholesky(np.linalg.inv(neg_hess))  # C C' = (-H)^-1
    z1, w1 = hermegauss(nodes)
    grid = np.array(list(product(z1, repeat=dim)))  # (N, D)
    log_w = np.sum(np.log(np.array(list(product(w1, repeat=dim)))), axis=1)
    points = x[:, None, :] + np.einsum("sde,ne->snd", chol, grid)  # (S, N, D)
    eta_g = base_eta[:, None, :] + np.einsum("sad,snd->sna", jac, points)
    sig_g = None if sig is None else sig[:, None, :]
    ll = arm_loglik(sub, eta_g, sig_g).sum(axis=2)
    log_prior = -0.5 * np.sum(points**2, axis=2) - 0.5 * dim * _LOG_2PI
    log_det = np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    integrand = ll + log_prior + 0.5 * np.sum(grid**2, axis=1)[None]
    return log_det + logsumexp(integrand + log_w[None], axis=1)


def _subset(arms: NetworkArms, trial_arms: np.ndarray) -> NetworkArms:
    """The trial's arms alone (one study, index 0), for :func:`arm_loglik`."""
    return replace(
        arms,
        studies=(arms.studies[int(arms.arm_study[trial_arms[0]])],),
        arm_study=np.zeros(trial_arms.size, dtype=np.int64),
        arm_treatment=arms.arm_treatment[trial_arms],
        stats={name: v[trial_arms] for name, v in arms.stats.items()},
    )


def marginal_trial_loglik(
    built: NetworkModel, posterior: Any, nodes: int = QUADRATURE_NODES
) -> xr.DataArray:
    """Each trial's marginal log-likelihood per draw (module docstring).

    Parameters
    ----------
    built : NetworkModel
        The model the draws come from (its arms, layout and priors).
    posterior : xarray.Dataset
        Its posterior (``alpha``, ``delta``; random effects ``tau``, ``delta_z``; gaussian
        ``sigma``).
    nodes : int
        Gauss-Hermite nodes per dimension.

    Returns
    -------
    xarray.DataArray
        (chain, draw, study).
    """
    if not supports_marginal(built):
        raise SpecError(
            "the marginal leave-one-trial-out terms need a binomial, poisson or gaussian "
            "network model with a normal intercept prior"
        )
    arms = built.arms
    a0, s0 = (float(v) for v in built.priors.intercept.params[:2])
    delta = _flat(posterior, "delta", "contrast")
    random = "delta_z" in posterior
    tau = _flat(posterior, "tau") if random else None
    if random:
        z = _flat(posterior, "delta_z", "contrast")
        spread = np.zeros_like(delta)
        np.add.at(spread.T, arms.chol_rows, (arms.chol_values[:, None] * z.T[arms.chol_cols]))
        delta = delta - tau[:, None] * spread  # each contrast's population mean
    sigma_all = _flat(posterior, "sigma", "study") if "sigma" in posterior else None
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    out = np.empty((delta.shape[0], arms.k))
    for k in range(arms.k):
        trial_arms, contrasts, chol = _trial_layout(arms, k)
        base = np.concatenate([np.full((delta.shape[0], 1), a0), a0 + delta[:, contrasts]], 1)
        jac = _jacobian(s0, tau, chol, delta.shape[0])
        sigma = None if sigma_all is None else sigma_all[:, k]
        out[:, k] = _trial_marginal(arms, trial_arms, base, jac, sigma, nodes)
    return xr.DataArray(
        out.reshape(chains, draws, arms.k),
        dims=("chain", "draw", "study"),
        coords={
            "chain": posterior["chain"],
            "draw": posterior["draw"],
            "study": list(arms.studies),
        },
    )
