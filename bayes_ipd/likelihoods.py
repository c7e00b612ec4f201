"""Exact collapsed log-likelihoods, one function per family, returning one term per trial.

Each takes the per-trial coefficient matrix ``B`` (K x m; row k is
``[alpha_k, theta_k + gamma_a'(zbar_k - zbar), beta_k, gamma_w]``) and sufficient
statistics from :class:`~bayes_ipd.design.Design`, and returns a length-K tensor whose sum
equals, to rounding, the row-by-row log-likelihood of the participant data:

* gaussian: ``sum_i log N(y_i | z_i'b_k, sigma_k)`` from ``n, Z'Z, Z'y, y'y``;
* binomial: ``sum_i y_i log p_i + (1 - y_i) log(1 - p_i)`` (Bernoulli rows, logit link) from
  cells of identical design rows;
* survival: the piecewise-exponential log-likelihood
  ``sum_pieces d (log h + z'b) - E exp(log h + z'b)`` from cells of identical
  (interval, design row), i.e. the Poisson kernel without the ``d log E`` constant.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor import TensorVariable

LOG_2PI = float(np.log(2 * np.pi))


def per_trial_sum(values: TensorVariable, cell_study: TensorVariable, k: int) -> TensorVariable:
    """Sum cell terms into trials (duplicate indices accumulate)."""
    return pt.inc_subtensor(pt.zeros(k)[cell_study], values)


def gaussian_loglik(
    coef: TensorVariable,
    sigma: TensorVariable,
    n: TensorVariable,
    ztz: TensorVariable,
    zty: TensorVariable,
    yty: TensorVariable,
) -> TensorVariable:
    """Gaussian log-likelihood per trial from sufficient statistics.

    Parameters
    ----------
    coef : (K, m) coefficients per trial.
    sigma : (K,) residual SD per trial.
    n : (K,) participants; ztz : (K, m, m); zty : (K, m); yty : (K,) summed over arms.
    """
    quad = (coef[:, :, None] * ztz * coef[:, None, :]).sum(axis=(1, 2))
    lin = (coef * zty).sum(axis=1)
    rss = yty - 2.0 * lin + quad
    return -0.5 * n * LOG_2PI - n * pt.log(sigma) - rss / (2.0 * sigma**2)


def cell_linear_predictor(
    coef: TensorVariable, cell_z: TensorVariable, cell_study: TensorVariable
) -> TensorVariable:
    """Linear predictor of each cell: ``z_c' b_{k(c)}``."""
    return (cell_z * coef[cell_study]).sum(axis=1)


def binomial_loglik(
    eta: TensorVariable,
    n: TensorVariable,
    events: TensorVariable,
    cell_study: TensorVariable,
    k: int,
) -> TensorVariable:
    """Logit-link Bernoulli log-likelihood per trial from cells: ``y eta - n log(1 + e^eta)``."""
    return per_trial_sum(events * eta - n * pt.softplus(eta), cell_study, k)


def poisson_exposure_loglik(
    eta: TensorVariable,
    exposure: TensorVariable,
    events: TensorVariable,
    cell_study: TensorVariable,
    k: int,
) -> TensorVariable:
    """Piecewise-exponential log-likelihood per trial: ``d eta - E exp(eta)`` over cells."""
    return per_trial_sum(events * eta - exposure * pt.exp(eta), cell_study, k)
