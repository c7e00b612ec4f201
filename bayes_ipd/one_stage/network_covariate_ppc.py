"""The posterior predictive check per trial and arm of the one-stage network model with
covariates: the same statistic and table as the model without covariates
(:meth:`~bayes_ipd.one_stage.network_posterior.NetworkPosterior.ppc`: events; the arm mean
of a normal outcome; an ordinal outcome's mean level), each participant (cell of identical
design rows) replicated from its own linear predictor.

Every trial's design row is ``z = [1, D_1..D_S, xc, xc_j D_s]``
(:mod:`~bayes_ipd.one_stage.network_covariate_design`) and its coefficient row, per draw,
``[alpha_k, delta_{k,slot}, beta + gW_{c(b)}, gW_{c(t_s)} - gW_{c(b)}]`` (formed here in
numpy as the model forms it in PyTensor, :func:`coefficient_draws`). The family's plug-in
(:meth:`~bayes_ipd.families.base.Family.arm_replicates`) replicates the cells and sums them
into each trial's arms ``g`` (0: the base arm, all slot dummies 0; ``1 + s``: slot ``s``);
this module maps the (trial, slot) arms onto the network's arms (:func:`arm_slots`). No
family is named.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bayes_ipd.errors import SpecError
from bayes_ipd.one_stage.network_covariate_design import CovariateLayout
from bayes_ipd.one_stage.network_summaries import NetworkArms

__all__ = ["arm_slots", "coefficient_draws", "covariate_arm_replicates"]


def _flat(posterior: Any, name: str, *dims: str) -> np.ndarray:
    """(S, ...) draws of ``name`` (chain-major), its other dims in the order ``dims``."""
    da = posterior[name].transpose("chain", "draw", *dims)
    values = np.asarray(da.values, dtype=np.float64)
    return values.reshape(-1, *values.shape[2:])


def coefficient_draws(posterior: Any, arms: NetworkArms, layout: CovariateLayout) -> np.ndarray:
    """(S, K, m) each trial's coefficient row per draw (module docstring; the model's
    ``_coefficients``): ``alpha``, ``delta`` by slot (0 where a trial has no arm in the
    slot), the base arm's covariate slopes ``beta + gW_{c(b)}`` (``beta`` common or per
    trial) and each slot's interaction difference ``gW_{c(t_s)} - gW_{c(b)}`` (columns
    interaction-major, slot-minor, as :func:`design_rows`)."""
    alpha = _flat(posterior, "alpha", "study")  # (S, K)
    delta = _flat(posterior, "delta", "contrast")  # (S, C)
    s, k = alpha.shape
    padded = np.concatenate([delta, np.zeros((s, 1))], axis=1)
    delta_slot = padded[:, layout.slot_contrast]  # (S, K, slots)
    if "study" in posterior["beta"].dims:
        slopes = _flat(posterior, "beta", "study", "covariate")
    else:
        slopes = np.repeat(_flat(posterior, "beta", "covariate")[:, None, :], k, axis=1)
    columns = [alpha[:, :, None], delta_slot]
    q = len(layout.interactions)
    if q:
        within = _flat(posterior, "gamma_within", "treatment_class", "interaction")
        g = np.concatenate([np.zeros((s, 1, q)), within], axis=1)  # (S, classes, q)
        base = g[:, layout.base_class, :]  # (S, K, q)
        slopes = slopes.copy()
        slopes[:, :, list(layout.interaction_index)] += base
        diff = g[:, layout.slot_class, :] - base[:, :, None, :]  # (S, K, slots, q)
        columns += [slopes, diff.transpose(0, 1, 3, 2).reshape(s, k, q * layout.slots)]
    else:
        columns.append(slopes)
    return np.concatenate(columns, axis=2)


def arm_slots(arms: NetworkArms, layout: CovariateLayout) -> np.ndarray:
    """(A,) each network arm's arm index within its trial's design rows: 0 for the trial's
    base arm, ``1 + s`` for the arm in slot ``s``."""
    out = np.zeros(arms.n_arms, dtype=np.int64)
    for trial in range(arms.k):
        for s, c in enumerate(layout.slot_contrast[trial]):
            if c < arms.n_contrasts:
                out[arms.contrast_arm[c]] = 1 + s
    return out


def covariate_arm_replicates(
    built: Any, posterior: Any, rng: np.random.Generator
) -> tuple[str, np.ndarray, np.ndarray]:
    """Posterior predictive replicates of each network arm's statistic under the covariate
    model: its name, the observed values (A,) and the replicates (S, A), arms in the
    network's order (:class:`~bayes_ipd.one_stage.network_summaries.NetworkArms`).

    Parameters
    ----------
    built : CovariateNetworkModel
        Its ``arms``, ``design`` and ``layout``.
    posterior : xarray.Dataset
        Draws of ``alpha``, ``delta``, ``beta``, ``gamma_within`` and the family's nuisance
        parameters.
    rng : numpy.random.Generator

    Raises
    ------
    SpecError
        The family has no :meth:`~bayes_ipd.families.base.Family.arm_replicates`.
    """
    arms, design, layout = built.arms, built.design, built.layout
    family = design.plugin
    if not family.supports_arm_replicates:
        raise SpecError(
            f"the posterior predictive check per trial and arm is not built for the "
            f"{family.name} network model with covariates"
        )
    coef = coefficient_draws(posterior, arms, layout)
    columns = tuple(range(1, 1 + layout.slots))
    checked = family.arm_replicates(design, posterior, coef, columns, rng)
    slot = arm_slots(arms, layout)
    observed = checked.observed[arms.arm_study, slot]
    return checked.statistic, observed, checked.replicates[:, arms.arm_study, slot]
