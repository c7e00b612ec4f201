"""Inconsistency of the one-stage network model with covariates: the unrelated-mean-effects
model and node-splitting, compared with the consistency model by leave-one-trial-out LOO.

* UME (Dias et al. 2011, NICE DSU TSD4): every comparison ``t vs b`` met in the data (``b``
  a trial's base arm) has its own mean ``d_ume[t vs b]`` instead of ``d_t - d_b``; the
  across-trial interaction ``sum_j (gA_{c(t),j} - gA_{c(b),j}) (xbar_kj - xbar_j)``, the
  within-trial interactions, ``beta``, baselines and random effects are the consistency
  model's (:func:`~bayes_ipd.one_stage.network_covariate_model.build_covariate_network_model`
  with ``consistency=False``).
* Node-splitting (Dias et al. 2010, the SIDE split of R ``multinma``): for each comparison
  ``y vs x`` of :func:`~bayes_ipd.one_stage.network_split.split_pairs`, the trials holding
  both are rebased on ``x`` (:func:`~bayes_ipd.one_stage.network_summaries.rebased`; the
  covariate design is rebuilt on the rebased arms, so ``x`` is their base arm, slot 0, and
  their design rows follow) and their ``y vs x`` contrast has its own mean ``d_direct``
  (plus the across-trial term); ``d_y - d_x`` is the indirect estimate.

Comparison: the residual deviance and DIC of the model without covariates are **not
available** here (its saturated model is one per arm; with participant covariates it would
be one per cell of identical design rows, a continuous covariate making every participant
a cell, so ``Dbar`` would not be a residual deviance comparable with the number of data
points): the JSON's ``deviance``, ``n_data`` and every ``dbar``, ``pd``, ``dic`` are null.
The models are compared by leave-one-trial-out PSIS-LOO on the conditional per-trial terms
``loglik_trial`` (:func:`~bayes_ipd.one_stage.network_loo.loo_comparison`; the marginal
integration is not built for this model).
"""

from __future__ import annotations

from typing import Any

from bayes_ipd.draws import chain_draw, posterior_node
from bayes_ipd.one_stage.network_covariate_design import covariate_design
from bayes_ipd.one_stage.network_covariate_model import (
    CovariateNetworkModel,
    build_covariate_network_model,
)
from bayes_ipd.one_stage.network_summaries import NetworkArms, rebased
from bayes_ipd.priors import PriorSet

__all__ = ["NOT_AVAILABLE", "build_covariate_variant", "covariate_inconsistency", "split_bases"]

NOT_AVAILABLE = {"dbar": None, "pd": None, "dic": None}
"""The deviance entries of a covariate model (module docstring: not available)."""


def split_bases(arms: NetworkArms, pair: tuple[int, int]) -> dict[int, int]:
    """``{trial: x}`` for every trial holding both treatments of ``pair = (x, y)``."""
    x, y = pair
    return {
        k: x
        for k in range(arms.k)
        if {x, y} <= set(arms.arm_treatment[arms.arm_study == k].tolist())
    }


def build_covariate_variant(
    network: Any,
    arms: NetworkArms,
    covariates: Any,
    options: tuple[PriorSet, str, str],
    consistency: bool = True,
    split: tuple[int, int] | None = None,
) -> CovariateNetworkModel:
    """The covariate network model of ``network`` (``options``: ``(priors, effects,
    covariate_effects)``): consistency, UME (``consistency=False``) or the node-split of
    ``split = (x, y)`` (the arms rebased on ``x`` in the trials holding both, the design
    rebuilt on them)."""
    priors, effects, covariate_effects = options
    if split is not None:
        arms = rebased(arms, split_bases(arms, split))
    design, layout = covariate_design(
        network,
        arms,
        covariates.values,
        covariates.names,
        covariates.interactions,
        covariates.classes,
    )
    return build_covariate_network_model(
        arms, design, layout, priors, effects, covariate_effects, consistency, split
    )


def _ume_effects(idata: Any) -> dict[str, Any]:
    d_ume = idata.posterior["d_ume"]
    return {
        str(label): posterior_node(chain_draw(d_ume.sel(comparison=label)))
        for label in d_ume.coords["comparison"].values
    }


def covariate_inconsistency(
    network: Any,
    covariates: Any,
    fit: tuple[CovariateNetworkModel, Any],
    settings: Any,
) -> tuple[dict[str, Any], tuple[dict[str, Any], ...]]:
    """The UME and node-split fits of a covariate network model, with the consistency fit
    ``fit = (built, idata)``'s priors, effects, covariate effects and ``settings``.

    Returns
    -------
    (dict, tuple of dict)
        The JSON's ``inconsistency`` (``{"model", "deviance": null, "n_data": null,
        "consistency": {"dbar": null, "pd": null, "dic": null}, "ume": {... null},
        "ume_effects": {"t vs b": node}, "loo": {...}}``, ``loo`` on the conditional
        terms) and ``node_split`` (``[{"comparison", "direct", "indirect", "difference",
        "p"}]``).
    """
    from bayes_ipd.one_stage.network_loo import loo_comparison
    from bayes_ipd.one_stage.network_split import split_label, split_pairs, split_summary
    from bayes_ipd.one_stage.sampling import sample

    built, idata = fit
    arms = built.arms
    options = (built.priors, built.effects, built.covariate_effects)
    ume = build_covariate_variant(network, arms, covariates, options, consistency=False)
    ume_idata, _ = sample(ume.as_built(), settings)
    splits, by_label = [], {}
    for pair in split_pairs(arms):
        model = build_covariate_variant(network, arms, covariates, options, split=pair)
        s_idata, _ = sample(model.as_built(), settings)
        splits.append(split_summary(arms, pair, s_idata))
        by_label[split_label(arms, pair)] = s_idata
    block = {
        "model": "unrelated mean effects",
        "deviance": None,
        "n_data": None,
        "consistency": dict(NOT_AVAILABLE),
        "ume": dict(NOT_AVAILABLE),
        "ume_effects": _ume_effects(ume_idata),
        "loo": loo_comparison(idata, ume_idata, by_label, marginal=False),
    }
    return block, tuple(splits)
