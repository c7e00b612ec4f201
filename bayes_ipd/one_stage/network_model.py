"""The one-stage Bayesian network meta-analysis model (PyMC) on arm-level sums.

Variables (dims in brackets):

* ``alpha`` [study] — each trial's baseline (its reference arm's log odds, mean or log
  rate), stratified (independent, prior slot ``intercept``);
* ``d`` [treatment] — the basic parameters, each non-reference treatment vs the network
  reference (``d_ref = 0``; prior slot ``effect`` for every one); consistency: the trial
  contrast ``t`` vs ``b`` has mean ``d_t - d_b``;
* random effects: ``tau`` (prior slot ``tau``, common to every comparison) and ``delta``
  [contrast] ``~ N(d_t - d_b, tau^2)`` with correlation 1/2 between the contrasts of a
  multi-arm trial, written non-centred, ``delta = (d_t - d_b) + tau L z``, ``z`` [contrast]
  standard normal and ``L`` the block Cholesky factor of
  :mod:`~bayes_ipd.one_stage.network_summaries` (Dias et al. 2011, NICE DSU TSD2); fixed
  effects: ``delta = d_t - d_b``;
* ``consistency=False``, the unrelated-mean-effects (UME) model of TSD4 (Dias et al.
  2011): ``d_ume`` [comparison], one free effect per comparison ``t vs b`` met in the data
  (``b`` a trial's reference arm), each with the ``effect`` prior; the contrasts' mean is
  ``d_ume`` instead of ``d_t - d_b`` (same random effects). It has no ``d``: it serves the
  deviance comparison (:mod:`~bayes_ipd.one_stage.network_deviance`);
* ``split=(x, y)``, node-splitting (Dias et al. 2010, the SIDE form of R ``multinma``):
  the trials holding both ``x`` and ``y`` are taken against ``x``
  (:func:`~bayes_ipd.one_stage.network_summaries.rebased`) and their ``y vs x`` contrast
  has its own mean ``d_direct`` (``effect`` prior); every other contrast keeps consistency,
  so ``d_y - d_x`` is the indirect estimate;
* gaussian: ``sigma`` [study] (prior slot ``sigma``); survival: ``alpha`` [study,
  interval], each trial's log baseline hazard per interval of a piecewise-exponential model
  (stratified, cut at the quartiles of the event times), the effects log hazard ratios;
* ``loglik_trial`` [study] — each trial's log-likelihood (the ``log_likelihood`` group after
  sampling).

The likelihood of an arm is the row-level likelihood of its participants, summed exactly
through the arm's sufficient statistics. Every array (and each prior's numbers, in the
``prior_<slot>`` containers the two-arm builder also uses) is model data, so a second fit of
a network of the same shape reuses the compiled program (:mod:`~bayes_ipd.one_stage.cache`);
sampling is the package's :func:`~bayes_ipd.one_stage.sampling.sample`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayes_ipd.errors import PriorError, SpecError
from bayes_ipd.one_stage.builder import BuiltModel, hyperparameters
from bayes_ipd.one_stage.network_summaries import NetworkArms
from bayes_ipd.priors import Prior, PriorSet, resolve_priors, tau_to_pymc

__all__ = [
    "EFFECTS",
    "NetworkModel",
    "build_network_model",
    "comparison_pairs",
    "contrast_deltas",
    "contrast_mean",
    "network_priors",
    "network_slots",
]

EFFECTS = ("random", "fixed")
"""Between-trial model of the contrasts: random effects (common tau) or fixed effects."""


def network_slots(priors: PriorSet, effects: str) -> tuple[str, ...]:
    """The prior slots the network model uses (``sigma`` only for a normal outcome)."""
    slots = ("intercept", "effect") + (("tau",) if effects == "random" else ())
    return slots + (("sigma",) if priors.sigma is not None else ())


@dataclass(frozen=True, eq=False)
class NetworkModel:
    """A built network model: what :func:`~bayes_ipd.one_stage.sampling.sample` reads (the
    PyMC model and the form of each random effect) with the arms and priors it was built
    from.

    Attributes
    ----------
    model : pymc.Model
    arms : NetworkArms
    priors : PriorSet
    effects : str
        ``"random"`` or ``"fixed"``.
    consistency : bool
        False: the unrelated-mean-effects model.
    parameterisation : Mapping[str, str]
        ``{"delta": "noncentred"}`` (random effects) or empty.
    """

    model: pm.Model
    arms: NetworkArms
    priors: PriorSet
    effects: str
    parameterisation: Mapping[str, str]
    consistency: bool = True

    def as_built(self) -> BuiltModel:
        """The value the package's sampler takes (no two-arm design or spec: the sampler
        reads only the model and the parameterisation)."""
        return BuiltModel(
            model=self.model,
            design=cast(Any, None),
            spec=cast(Any, None),
            priors=self.priors,
            parameterisation=self.parameterisation,
        )


def network_priors(
    arms: NetworkArms, priors: Mapping[str, str | Prior] | PriorSet | None = None
) -> PriorSet:
    """The priors in use: the user's by slot (``effect`` for every basic parameter,
    ``tau``, ``intercept``; gaussian ``sigma``), the family's defaults elsewhere (gaussian:
    scaled by the outcome's pooled within-arm SD)."""
    scale = arms.outcome_scale()
    if isinstance(priors, PriorSet):
        if scale is not None and priors.sigma is None:
            raise PriorError("a normal outcome needs a prior in the sigma slot (residual SD)")
        return priors
    if scale is None:
        return resolve_priors(arms.family, dict(priors or {}))
    mean, sd = scale
    return resolve_priors(arms.family, dict(priors or {}), outcome_sd=sd, outcome_mean=mean)


def _containers(arms: NetworkArms) -> dict[str, Any]:
    """Every array as a data container (a refit of the same shape swaps them)."""
    arrays: dict[str, np.ndarray] = {
        "arm_study": arms.arm_study,
        "arm_treatment": arms.arm_treatment,
        "contrast_arm": arms.contrast_arm,
        "contrast_treatment": arms.contrast_treatment,
        "contrast_base": arms.contrast_base,
        "chol_rows": arms.chol_rows,
        "chol_cols": arms.chol_cols,
        "chol_values": arms.chol_values,
        **arms.stats,
    }
    if arms.n_given:  # contrast-level AD (only then: models without them are unchanged)
        for name in _GIVEN:
            arrays[name] = getattr(arms, name)
    return {name: pm.Data(name, np.asarray(value)) for name, value in arrays.items()}


_GIVEN = (
    "given_arm",
    "given_base",
    "given_study",
    "given_estimate",
    "given_rows",
    "given_cols",
    "given_values",
    "given_const",
)


def _given_loglik(offset: Any, data: Mapping[str, Any], n_given: int, k: int) -> Any:
    """Each trial's log-likelihood of its given contrasts (contrast-level AD): the
    multivariate normal ``N(y | delta_arm - delta_base, V)``, as ``-|U r|^2 / 2 + const``
    with ``U'U = V^-1`` (:class:`~bayes_ipd.one_stage.network_summaries.NetworkArms`)."""
    r = data["given_estimate"] - (offset[data["given_arm"]] - offset[data["given_base"]])
    w = pt.inc_subtensor(
        pt.zeros(n_given)[data["given_rows"]], data["given_values"] * r[data["given_cols"]]
    )
    per = -0.5 * w**2 + data["given_const"]
    return pt.inc_subtensor(pt.zeros(k)[data["given_study"]], per)


def comparison_pairs(arms: NetworkArms) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The comparisons ``(b, t)`` met in the data (a trial's reference arm ``b``), sorted,
    and each contrast's index into them (the UME model's ``comparison`` coordinate)."""
    keys = list(zip(arms.contrast_base.tolist(), arms.contrast_treatment.tolist(), strict=True))
    pairs = sorted(set(keys))
    index = {pair: i for i, pair in enumerate(pairs)}
    return pairs, np.array([index[k] for k in keys], dtype=np.int64)


def contrast_mean(data: Mapping[str, Any], priors: PriorSet) -> Any:
    """Each contrast's mean: ``d_t - d_b`` (consistency), the UME model's ``d_ume`` (when
    ``data`` holds ``contrast_pair``), and with ``split_mask`` in ``data`` the node-split's
    ``d_direct`` in the split contrasts (slots ``effect`` and ``split``)."""
    h = hyperparameters("effect", priors.effect)
    if "contrast_pair" in data:
        d_ume = priors.effect.to_pymc("d_ume", dims="comparison", params=h)
        mean = d_ume[data["contrast_pair"]]
    else:
        d = priors.effect.to_pymc("d", dims="treatment", params=h)
        d_full = pt.concatenate([pt.zeros(1), d])
        mean = d_full[data["contrast_treatment"]] - d_full[data["contrast_base"]]
    if "split_mask" in data:
        h_split = hyperparameters("split", priors.effect)
        direct = priors.effect.to_pymc("d_direct", params=h_split)
        mean = mean + data["split_mask"] * (direct - mean)
    return mean


def contrast_deltas(
    arms: NetworkArms, mean: Any, data: Mapping[str, Any], priors: PriorSet, effects: str
) -> Any:
    """Each trial contrast's ``delta`` about ``mean``: ``mean`` itself (fixed effects), or
    ``mean + tau L z`` (random effects, non-centred; ``L`` the block Cholesky factor of the
    multi-arm correlation 1/2)."""
    if effects == "fixed":
        return pm.Deterministic("delta", mean, dims="contrast")
    tau = tau_to_pymc(priors.tau, params=hyperparameters("tau", priors.tau))
    z = pm.Normal("delta_z", 0.0, 1.0, dims="contrast")
    spread = pt.zeros(arms.n_contrasts)
    spread = pt.inc_subtensor(spread[data["chol_rows"]], data["chol_values"] * z[data["chol_cols"]])
    return pm.Deterministic("delta", mean + tau * spread, dims="contrast")


def build_network_model(
    arms: NetworkArms,
    priors: Mapping[str, str | Prior] | PriorSet | None = None,
    effects: str = "random",
    consistency: bool = True,
    split: tuple[int, int] | None = None,
) -> NetworkModel:
    """The one-stage network model of ``arms`` (module docstring).

    Parameters
    ----------
    arms : NetworkArms
    priors : mapping of slot to prior, or PriorSet, optional
        ``effect`` (every basic parameter), ``tau``, ``intercept``; gaussian ``sigma``.
    effects : {"random", "fixed"}
    consistency : bool
        False: the unrelated-mean-effects model (module docstring).
    split : (int, int), optional
        Treatment codes ``(x, y)``: node-splitting of ``y vs x`` (module docstring; the
        arms must already be :func:`~bayes_ipd.one_stage.network_summaries.rebased`).

    Returns
    -------
    NetworkModel
    """
    if effects not in EFFECTS:
        raise SpecError(f"effects={effects!r} is not one of {', '.join(EFFECTS)}")
    resolved = network_priors(arms, priors)
    coords = {
        "study": list(arms.studies),
        "treatment": list(arms.treatments[1:]),
        "contrast": arms.contrast_labels(),
    }
    family = arms.model  # the family's plug-in: its arm statistics and likelihood
    coords |= family.coords(arms.stats, arms.cutpoints)
    by_interval = bool(family.baseline_dims)  # survival: a baseline log hazard per interval
    pairs, contrast_pair = comparison_pairs(arms)
    if not consistency:
        names = arms.treatments
        coords["comparison"] = [f"{names[t]} vs {names[b]}" for b, t in pairs]
    with pm.Model(coords=coords) as model:
        data = _containers(arms)
        if not consistency:
            data["contrast_pair"] = pm.Data("contrast_pair", contrast_pair)
        alpha = resolved.intercept.to_pymc(
            "alpha",
            dims=("study", *family.baseline_dims) if by_interval else "study",
            params=hyperparameters("intercept", resolved.intercept),
        )
        if split is not None:
            x, y = split
            mask = (arms.contrast_base == x) & (arms.contrast_treatment == y)
            data["split_mask"] = pm.Data("split_mask", mask.astype(float))
        delta = contrast_deltas(arms, contrast_mean(data, resolved), data, resolved, effects)
        offset = pt.set_subtensor(pt.zeros(arms.n_arms)[data["contrast_arm"]], delta)
        eta = alpha[data["arm_study"]] + (offset[:, None] if by_interval else offset)
        per_arm = family.loglik(eta, data, resolved, hyperparameters)
        loglik = pt.inc_subtensor(pt.zeros(arms.k)[data["arm_study"]], per_arm)
        if arms.n_given:
            loglik = loglik + _given_loglik(offset, data, arms.n_given, arms.k)
        pm.Deterministic("loglik_trial", loglik, dims="study")
        pm.Potential("likelihood", loglik.sum())
    forms = {"delta": "noncentred"} if effects == "random" else {}
    return NetworkModel(model, arms, resolved, effects, forms, consistency)
