"""Fit of a one-stage network model by residual deviance and DIC (NICE DSU TSD2 / TSD4).

For each posterior draw the arms' log-likelihood is rebuilt from ``alpha``, ``delta`` (and
``sigma``) with :func:`~bayes_ipd.one_stage.network_summaries.arm_loglik`. The deviance is
``D = -2 sum_arms (loglik - loglik_saturated)`` (the residual deviance; binomial and
poisson, the saturated model at each arm's observed rate), or ``-2 loglik`` for a normal
outcome (no saturated model with an unknown residual SD). ``Dbar`` is its posterior mean;
``pD = Dbar - D(plug-in)``, the plug-in at the posterior mean of each arm's fitted mean
(probability, rate or mean; TSD2 section 3.1) and, gaussian, of ``sigma``;
``DIC = Dbar + pD``. Survival: the piecewise-exponential likelihood in its Poisson form,
events and person-time per arm and baseline interval, saturated at each interval's observed
rate ``d / E`` (``sum d log(d / E) - d``), one data point per arm and interval, the
plug-in at the posterior mean of each interval's hazard. TSD4 (Dias et al. 2011) compares
the consistency model with the unrelated-mean-effects model by these numbers: a lower DIC,
or a residual deviance close to the number of data points with fewer parameters, favours a
model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayes_ipd.one_stage.network_summaries import NetworkArms, arm_loglik, saturated_loglik

__all__ = ["arm_eta_draws", "deviance_summary"]


def _flat(posterior: Any, name: str, dim: str) -> np.ndarray:
    da = posterior[name].transpose("chain", "draw", dim)
    values = np.asarray(da.values, dtype=np.float64)
    return values.reshape(-1, values.shape[2])


def arm_eta_draws(posterior: Any, arms: NetworkArms) -> np.ndarray:
    """(S, A) linear predictor of every arm in every draw; (S, A, *baseline) when the
    family's baseline has dims besides ``study`` (survival: (S, A, J), one per interval)."""
    dims = arms.model.baseline_dims
    da = posterior["alpha"].transpose("chain", "draw", "study", *dims)
    alpha = np.asarray(da.values, dtype=np.float64)
    alpha = alpha.reshape(-1, *alpha.shape[2:])
    delta = _flat(posterior, "delta", "contrast")
    eta = alpha[:, arms.arm_study]
    eta[:, arms.contrast_arm] += delta.reshape(*delta.shape, *([1] * len(dims)))
    return eta


def deviance_summary(posterior: Any, arms: NetworkArms) -> dict[str, Any]:
    """``{"deviance", "dbar", "pd", "dic", "n_data"}`` of a fit (module docstring)."""
    eta = arm_eta_draws(posterior, arms)
    sigma = arms.model.nuisance_draws(posterior)  # gaussian sigma, NB dispersion, cut points
    saturated = saturated_loglik(arms)
    offset = 0.0 if saturated is None else float(saturated.sum())
    draws = -2.0 * (arm_loglik(arms, eta, sigma).sum(axis=1) - offset)
    forward, back = arms.model.mean_link()  # the arm's mean from eta and back (plug-in)
    plug_eta = back(forward(eta).mean(axis=0))
    plug_sigma = None if sigma is None else sigma.mean(axis=0)
    plug = -2.0 * (float(arm_loglik(arms, plug_eta, plug_sigma).sum()) - offset)
    dbar = float(draws.mean())
    return {
        "deviance": "-2 log-likelihood" if saturated is None else "residual",
        "dbar": dbar,
        "pd": dbar - plug,
        "dic": 2.0 * dbar - plug,
        # arms with arm-level data (trials given as contrasts have none, and no deviance
        # here), each interval of a survival arm a data point (the Poisson form)
        "n_data": int(np.count_nonzero(~np.isin(arms.arm_study, arms.given_study)))
        * int(np.prod(eta.shape[2:])),
    }
