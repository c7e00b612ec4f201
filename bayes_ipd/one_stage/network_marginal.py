"""Each trial's log-likelihood with its own baseline and random effects integrated out.

Leaving trial ``k`` out of a network model sends its stratified baseline ``alpha_k`` back
to its prior ``N(a0, s0^2)`` and its random effects ``delta_k`` (``m`` contrasts) to their
population distribution ``N(mean_k, tau^2 B)`` (``B``: 1 on the diagonal, 1/2 off it). The
leave-one-trial-out predictive density then needs, at every posterior draw,

``p(y_k | shared) = ∫ p(y_k | alpha, delta) N(alpha; a0, s0^2) N(delta; mean_k, tau^2 B)``

with the shared parameters only (``d``, ``tau``; a normal outcome's residual SD ``sigma_k``
stays conditioned on, as in the two-arm marginal LOO; so do a negative binomial trial's
dispersion ``a_k`` and an ordinal trial's cut points ``c_k``, at their draws). In standard
coordinates ``x = (w, v)``, ``alpha = a0 + s0 w`` and ``delta = mean_k + tau L v`` (``L``
the trial's Cholesky factor), the integrand is ``exp(f(x))``, ``f = loglik + sum log
N(x_i; 0, 1)``; it is integrated by adaptive Gauss-Hermite quadrature (Liu & Pierce 1994):
Newton steps to the mode ``x*`` (analytic gradient and Hessian of the arm log-likelihoods),
``x = x* + C z`` with ``C C' = (-H)^-1``, and a tensor grid of ``n`` probabilists'
Gauss-Hermite nodes per dimension (fewer when the grid would pass :data:`MAX_POINTS` or,
times the size of the trial's statistics, :data:`MAX_WORK`: e.g. a negative binomial trial
of many distinct counts and exposures; one node is the Laplace approximation), vectorised
over draws. ``mean_k`` is read from each draw as ``delta - tau L z_delta``, so the
consistency, unrelated-mean-effects and node-split models share the code.
Fixed effects: only ``alpha_k`` is integrated (``delta`` is the mean itself).

A baseline with dims besides ``study`` (the plug-in's ``baseline_dims``; survival: one log
hazard per interval, ``alpha_k`` (J,) with the intercept prior on each) is integrated whole:
``x = (w_1 ... w_J, v)``, ``D = J + m``, each arm and interval a cell ``eta_{a,j} = a0 + s0
w_j + delta_a`` (a survival trial of 2 arms: ``D = 5``, 4 nodes per dimension).

Families: those whose plug-in gives ``eta_derivatives`` (binomial, poisson, gaussian,
negative binomial, ordinal, survival); the intercept prior must be normal; networks with
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

__all__ = [
    "MARGINAL_FAMILIES",
    "MAX_POINTS",
    "MAX_WORK",
    "QUADRATURE_NODES",
    "marginal_trial_loglik",
    "quadrature_nodes",
    "supports_marginal",
]

QUADRATURE_NODES = 7
"""Gauss-Hermite nodes per dimension (7^(m + 1) evaluations for a trial of m contrasts)."""
MAX_POINTS = QUADRATURE_NODES**4
"""Largest tensor grid per trial and draw (2,401: a four-arm trial at 7 nodes)."""
MAX_WORK = MAX_POINTS * 12
"""Largest grid size times the trial's statistics (the largest array of its arms, e.g. a
negative binomial trial's cells): 28,812 (a three-arm survival trial, 12 arm-intervals,
stays within it at any grid of :data:`MAX_POINTS`)."""
_CHUNK = 2_000_000  # grid values (draws x points x cells) evaluated at once
_NEWTON_STEPS = 30
_LOG_2PI = float(np.log(2.0 * np.pi))


MARGINAL_FAMILIES = tuple(
    name
    for name, family in REGISTRY.items()
    if family.network_arms is not None and family.network_arms.has_eta_derivatives
)
"""Families whose arm-level network plug-in gives the derivatives in ``eta``
(``family.network_arms.eta_derivatives``)."""


def quadrature_nodes(dim: int, nodes: int = QUADRATURE_NODES, work: int = 1) -> int:
    """Nodes per dimension for a ``dim``-dimensional trial whose statistics hold ``work``
    values: ``nodes``, or fewer so that the grid holds at most :data:`MAX_POINTS` points
    and ``points x work <= MAX_WORK`` (at least 1: the Laplace approximation)."""
    n = max(1, nodes)
    while n > 1 and (n**dim > MAX_POINTS or n**dim * work > MAX_WORK):
        n -= 1
    return n


def _baseline_shape(arms: NetworkArms) -> tuple[int, ...]:
    """One trial's baseline dims besides ``study`` (survival: (J,)), from the plug-in."""
    coords = arms.model.coords(arms.stats, arms.cutpoints)
    return tuple(len(coords[dim]) for dim in arms.model.baseline_dims)


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


def _jacobian(s0: float, tau: np.ndarray | None, chol: np.ndarray, s: int, b: int) -> np.ndarray:
    """(S, A_k b, D): d eta / d x, ``x = (w_1 .. w_b, v)``, per cell (arm-major, the
    reference arm first; ``b`` baseline values per trial)."""
    m = chol.shape[0]
    jac = np.zeros((s, m + 1, b, b + (0 if tau is None else m)))
    jac[:, :, np.arange(b), np.arange(b)] = s0
    if tau is not None:
        jac[:, 1:, :, b:] = tau[:, None, None, None] * chol[None, :, None, :]
    return jac.reshape(s, (m + 1) * b, -1)


def _apply(jac: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(S, cells) ``jac @ x`` per draw."""
    return (jac @ x[..., None])[..., 0]


def _curvature(jac: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(S, D, D) ``J' diag(h) J`` per draw."""
    return np.swapaxes(jac, 1, 2) @ (h[..., None] * jac)


def _trial_marginal(
    arms: NetworkArms,
    trial_arms: np.ndarray,
    base_eta: np.ndarray,
    jac: np.ndarray,
    nuisance: np.ndarray | None,
    nodes: int,
) -> np.ndarray:
    """(S,) log ∫ exp(f(x)) dx for one trial (module docstring); ``base_eta`` (S, cells),
    ``nuisance`` the trial's nuisance draws (S, 1, ...) or None."""
    family = arms.model  # the family's plug-in
    st = family.select(arms.stats, trial_arms)
    s, _, dim = jac.shape
    sub = _subset(arms, trial_arms)
    shape = (trial_arms.size, *_baseline_shape(arms))  # eta of the trial's arms

    def derivatives(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g, h = family.eta_derivatives(st, eta.reshape(s, *shape), nuisance)
        return g.reshape(s, -1), h.reshape(s, -1)

    def objective(x: np.ndarray) -> np.ndarray:  # log integrand up to a constant
        eta = (base_eta + _apply(jac, x)).reshape(s, *shape)
        return arm_loglik(sub, eta, nuisance).sum(axis=1) - 0.5 * np.sum(x**2, axis=1)

    x = np.zeros((s, dim))
    eye = np.eye(dim)
    current = objective(x)
    for _ in range(_NEWTON_STEPS):
        g, h = derivatives(base_eta + _apply(jac, x))
        grad = (np.swapaxes(jac, 1, 2) @ g[..., None])[..., 0] - x
        hess = _curvature(jac, h) - eye
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
    _, h = derivatives(base_eta + _apply(jac, x))
    neg_hess = eye - _curvature(jac, h)
    chol = np.linalg.cholesky(np.linalg.inv(neg_hess))  # C C' = (-H)^-1
    work = max(int(np.size(v)) for v in st.values())
    z1, w1 = hermegauss(quadrature_nodes(dim, nodes, work))
    grid = np.array(list(product(z1, repeat=dim)))  # (N, D)
    log_w = np.sum(np.log(np.array(list(product(w1, repeat=dim)))), axis=1)
    points = x[:, None, :] + grid[None] @ np.swapaxes(chol, 1, 2)  # (S, N, D)
    ll = np.empty(points.shape[:2])
    step = max(1, _CHUNK // (grid.shape[0] * base_eta.shape[1]))
    for lo in range(0, s, step):  # draws in chunks (memory)
        part = slice(lo, lo + step)
        eta_g = base_eta[part, None, :] + points[part] @ np.swapaxes(jac[part], 1, 2)
        nuis = None if nuisance is None else nuisance[part, None]
        ll[part] = arm_loglik(sub, eta_g.reshape(*eta_g.shape[:2], *shape), nuis).sum(axis=2)
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
        stats=arms.model.select(arms.stats, trial_arms),
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
        Its posterior (``alpha``, ``delta``; random effects ``tau``, ``delta_z``; the
        family's nuisance parameter: gaussian ``sigma``, negative binomial
        ``dispersion``, ordinal ``cutpoint_gap``).
    nodes : int
        Gauss-Hermite nodes per dimension.

    Returns
    -------
    xarray.DataArray
        (chain, draw, study).
    """
    if not supports_marginal(built):
        raise SpecError(
            "the marginal leave-one-trial-out terms need a network model of "
            f"{', '.join(MARGINAL_FAMILIES)} with a normal intercept prior and no "
            "contrast-level aggregate data"
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
    nuisance = arms.model.nuisance_draws(posterior)  # (S, K, ...) or None
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    s = delta.shape[0]
    b = int(np.prod(_baseline_shape(arms)))
    out = np.empty((s, arms.k))
    for k in range(arms.k):
        trial_arms, contrasts, chol = _trial_layout(arms, k)
        base = np.concatenate([np.full((s, 1), a0), a0 + delta[:, contrasts]], 1)
        jac = _jacobian(s0, tau, chol, s, b)
        own = None if nuisance is None else np.asarray(nuisance)[:, k : k + 1]
        out[:, k] = _trial_marginal(arms, trial_arms, np.repeat(base, b, axis=1), jac, own, nodes)
    return xr.DataArray(
        out.reshape(chains, draws, arms.k),
        dims=("chain", "draw", "study"),
        coords={
            "chain": posterior["chain"],
            "draw": posterior["draw"],
            "study": list(arms.studies),
        },
    )
