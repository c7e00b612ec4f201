"""``ModelSpec`` + ``Design`` -> a labelled PyMC model.

Variables (dims in brackets) of every model:

* ``mu`` — pooled treatment effect (mean difference, log OR or log HR);
* ``tau`` — between-trial SD of the treatment effect;
* ``theta`` [study] — each trial's treatment effect at its mean covariates,
  ``theta_k ~ Normal(mu + gamma_across'(zbar_k - zbar), tau)``;
* ``alpha`` [study] — trial intercepts (control-arm level at the trial's mean covariates;
  survival: log baseline hazard of the first interval), stratified (independent) by default,
  or random (``alpha_mu``, ``alpha_sd``);
* ``beta`` [covariate] or [study, covariate] — prognostic covariate effects;
* ``gamma_within`` [interaction], ``gamma_across`` [interaction] — the within-trial and the
  across-trial treatment-covariate interaction (random interactions add
  ``tau_interaction`` [interaction] and ``gamma_within_trial`` [study, interaction]);
* gaussian: ``sigma`` [study] or scalar; survival: ``log_hazard_step`` [study, step] and
  ``hazard_smoothing`` — the baseline log hazard follows a random walk across intervals,
  ``log h_kj = alpha_k + sum_{l<=j} hazard_smoothing * step_kl`` with standard-normal steps
  and ``hazard_smoothing ~ half_normal(1)``, which shrinks neighbouring intervals together;
* with trial-level moderators (``spec.moderators``, a one-stage meta-regression),
  ``gamma_moderator`` [moderator]: ``theta_k`` (and an AD trial's ``theta_ad``) has mean
  ``mu + gamma_across'(zbar_k - zbar) + gamma_moderator'(w_k - wbar)``, moderators centred
  across all trials (:func:`~bayes_ipd.one_stage.design.moderator_arrays`), so ``mu`` is the
  effect at the mean moderator values (:func:`moderator_shift`);
* ``loglik_trial`` [study] — each trial's log-likelihood (moved to the ``log_likelihood``
  group after sampling, for leave-one-trial-out LOO).

Every prior's numbers are model data, not constants: the data container ``prior_<slot>``
(``prior_tau``, ``prior_effect``, ``prior_intercept``, ``prior_coefficients``,
``prior_interactions``, ``prior_sigma``, ``prior_alpha_sd``) holds them, so a model with
another prior scale or location is the same compiled program with other data (a refit;
:mod:`bayes_ipd.one_stage.cache`). The prior's distribution is structure.

Parameterisation rule (``spec.parameterisation="auto"``): a random effect is written
centred when the data are informative about each trial's value and non-centred otherwise
(Papaspiliopoulos, Roberts & Sköld 2007; Betancourt & Girolami 2015). For the treatment
effect, "informative" means the median squared SE of the trials' crude effects is below the
DerSimonian-Laird τ² of those crude effects (with moderators, the residual DL τ² of their
meta-regression on the moderators: :func:`residual_tau2`); for random intercepts, the same
comparison for the control-arm levels. Random interactions are always non-centred. ``"centred"`` or
``"noncentred"`` force one form for every random effect. One function, :func:`effect_form`,
decides the treatment effect's form of every model: an aggregate-data (AD) trial's
``theta_ad`` takes the IPD trials' form in a hybrid model, and an AD-only model
(:func:`build_aggregate_model`, no participant rows) applies the rule to the published
estimates and SEs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayes_ipd.conventions import readonly
from bayes_ipd.errors import IPDDataError, PriorError
from bayes_ipd.families import get_family
from bayes_ipd.one_stage.aggregate_trials import (
    AggregateTrials,
    aggregate_arrays,
    aggregate_coords,
    aggregate_loglik,
)
from bayes_ipd.one_stage.design import Design, crude_effects, moderator_arrays
from bayes_ipd.one_stage.imputation_model import (
    covariate_model,
    imputation_arrays,
    imputation_coords,
    imputed_loglik,
)
from bayes_ipd.priors import (
    SLOTS,
    Prior,
    PriorSet,
    default_priors,
    resolve_priors,
    tau_to_pymc,
    with_moderator_prior,
)
from bayes_ipd.two_stage.estimators import dl_tau2
from bayes_ipd.two_stage.metareg_estimators import metareg_tau2

if TYPE_CHECKING:
    from bayes_ipd.spec import ModelSpec

INTERCEPT_SD_SCALE = 2.5  # half_normal scale of alpha_sd: x outcome SD (gaussian) or x 1

FORMS = ("centred", "noncentred")
"""The forms of a random effect; ``spec.parameterisation`` may force one (else ``"auto"``)."""


@dataclass(frozen=True)
class BuiltModel:
    """A PyMC model with the design, spec and priors it was built from.

    Attributes
    ----------
    model : pymc.Model
    design : Design
    spec : ModelSpec
    priors : PriorSet
        The priors in use (user choices with defaults filled in).
    parameterisation : Mapping[str, str]
        ``"centred"`` or ``"noncentred"`` for each random effect.
    data_names : tuple of str
        Names of the model's data containers, prior numbers included (replaced on refits).
    """

    model: pm.Model
    design: Design
    spec: ModelSpec
    priors: PriorSet
    parameterisation: Mapping[str, str]
    data_names: tuple[str, ...] = field(default=())

    @property
    def prior_slots(self) -> tuple[str, ...]:
        """The prior slots the model uses, in :data:`~bayes_ipd.priors.SLOTS` order: those
        with a ``prior_<slot>`` data container (an aggregate-data-only model uses ``effect``
        and ``tau`` alone; a model without covariates has no ``coefficients``)."""
        return tuple(s for s in SLOTS if f"{HYPER_PREFIX}{s}" in self.data_names)


def choose_parameterisation(design: Design, spec: ModelSpec) -> dict[str, str]:
    """Centred or non-centred form for each random effect (rule in the module docstring).

    An aggregate-data-only design (no participant rows) has the treatment effect alone,
    ``{"theta": form}`` (the form of its ``theta_ad``).
    """
    if spec.parameterisation in FORMS:
        form = spec.parameterisation
        return {"theta": form, "alpha": form, "gamma_within": form}
    theta = effect_form(design, spec)
    if not design.k:
        return {"theta": theta}
    lev, lse = design.plugin.control_levels(design)
    return {"theta": theta, "alpha": _form(lse, dl_tau2(lev, lse)), "gamma_within": "noncentred"}


def effect_form(design: Design, spec: ModelSpec) -> str:
    """The treatment effect's form, ``"centred"`` or ``"noncentred"``: the one rule of IPD,
    hybrid and aggregate-data-only models.

    The spec's explicit choice wins; else centred when the trials are informative about
    their own effects: the median squared SE below the residual τ² (:func:`residual_tau2`)
    of the trials' crude effects (IPD trials; an AD trial's ``theta_ad`` shares the form)
    or, with no participant rows, of the published estimates.
    """
    if spec.parameterisation in FORMS:
        return spec.parameterisation
    if design.k:
        est, se = crude_effects(design)
    else:  # AD only: the published estimates are the trials' effects
        est, se = design.aggregate.estimate, design.aggregate.se
    w = None
    if spec.moderators:
        values = moderator_arrays(design, spec.moderators)
        w = values.ipd if design.k else values.ad
    return _form(se, residual_tau2(est, se, w))


def _form(se: np.ndarray, tau2: float) -> str:
    return "centred" if np.median(se**2) < tau2 else "noncentred"


def residual_tau2(est: np.ndarray, se: np.ndarray, moderators: np.ndarray | None = None) -> float:
    """DerSimonian-Laird τ² of the trials' effects ``est`` (SEs ``se``); with moderators
    ((K, r) values), the residual τ² of their DL meta-regression on the moderators (the
    between-trial SD left to the random effect), when there are more trials than
    coefficients and the moderators are finite and not collinear."""
    k = len(est)
    if moderators is None or not moderators.shape[1] or k <= moderators.shape[1] + 1:
        return dl_tau2(est, se)
    x = np.column_stack([np.ones(k), moderators])
    if not np.all(np.isfinite(x)) or np.linalg.matrix_rank(x) < x.shape[1]:
        return dl_tau2(est, se)
    return metareg_tau2(est, se**2, x, "DL")


def priors_for(design: Design, spec: ModelSpec) -> PriorSet:
    """The priors in use: the spec's, with scale-aware defaults for the other slots."""
    scale = design.plugin.outcome_scale(design)
    if scale is None:
        return moderator_priors(resolve_priors(design.plugin, spec.priors), design, spec)
    mean, sd = scale
    priors = resolve_priors(design.plugin, spec.priors, outcome_sd=sd, outcome_mean=mean)
    return moderator_priors(priors, design, spec)


def moderator_priors(priors: PriorSet, design: Design, spec: ModelSpec) -> PriorSet:
    """``priors`` with the moderator slot filled when the model has moderators."""
    if not spec.moderators:
        return priors
    scale = design.plugin.outcome_scale(design) if design.k else None
    return with_moderator_prior(priors, design.plugin, None if scale is None else scale[1])


def intercept_sd_scale(design: Design) -> float:
    """Scale of the half-normal prior on ``alpha_sd`` (random intercepts): 2.5 outcome SDs
    (gaussian) or 2.5 on the log odds / log hazard scale."""
    scale = design.plugin.outcome_scale(design)
    return INTERCEPT_SD_SCALE * (1.0 if scale is None else scale[1])


def _interaction_index(design: Design) -> tuple[int, ...]:
    return tuple(design.covariate_terms.index(t) for t in design.interaction_terms)


SCALABLE = ("normal", "student_t", "uniform")


HYPER_PREFIX = "prior_"
"""Data containers ``prior_<slot>`` hold each prior's hyperparameters (a refit with other
numbers swaps the data; the compiled model is kept)."""


def hyperparameters(slot: str, prior: Prior) -> list[Any]:
    """The numbers of ``prior`` as entries of the data container ``prior_<slot>``.

    Created in the current model on first use and shared by every variable of the slot
    (``tau`` and ``tau_interaction``; ``gamma_within`` and ``gamma_across``).
    """
    model = pm.modelcontext(None)
    name = f"{HYPER_PREFIX}{slot}"
    box = model.named_vars.get(name)
    if box is None:
        box = pm.Data(name, np.asarray(prior.params, dtype=float))
    return [box[i] for i in range(len(prior.params))]


def scaled_coefficients(
    prior: Prior, name: str, scale: Any, dims: Any, slot: str = "", per_sd: bool = False
) -> Any:
    """Coefficients per unit of the raw covariate, sampled per within-trial SD.

    The sampler works on ``name_std = name * scale`` (``scale`` = the covariate's pooled
    within-trial SD), whose prior is the user's prior rescaled exactly (location-scale
    families); ``name`` itself is a deterministic on the raw-unit scale, so the model and
    its prior are unchanged. This evens out posterior scales (a coefficient per mmHg and one
    per smoking status differ by orders of magnitude) and so helps NUTS adapt. Priors of
    other families are used on the raw scale directly. ``slot`` names the data container of
    the prior's numbers (:func:`hyperparameters`); empty: the numbers are constants. With
    ``per_sd`` the prior is stated per SD of the covariate (the defaults,
    :data:`~bayes_ipd.priors.PER_SD_SLOTS`) and applies to ``name_std`` as it is.
    """
    h = hyperparameters(slot, prior) if slot else list(prior.params)
    if prior.dist not in SCALABLE:
        if per_sd:
            std = prior.to_pymc(f"{name}_std", dims=dims, params=h)
            return pm.Deterministic(name, std / scale, dims=dims)
        return prior.to_pymc(name, dims=dims, params=h)
    c = 1.0 if per_sd else scale
    if prior.dist == "normal":
        std = pm.Normal(f"{name}_std", h[0] * c, h[1] * c, dims=dims)
    elif prior.dist == "student_t":
        std = pm.StudentT(f"{name}_std", h[0], h[1] * c, h[2] * c, dims=dims)
    else:
        std = pm.Uniform(f"{name}_std", h[0] * c, h[1] * c, dims=dims)
    return pm.Deterministic(name, std / scale, dims=dims)


def _sd_variable(prior: Prior, name: str, dims: str | None = None) -> Any:
    """A positive SD variable with the tau slot's convention (log_normal is a prior on SD²)."""
    h = hyperparameters("tau", prior)
    if prior.dist == "log_normal":
        var = prior.to_pymc(f"{name}_sq", dims=dims, params=h)
        return pm.Deterministic(name, pt.sqrt(var), dims=dims)
    return prior.to_pymc(name, dims=dims, params=h)


def _random_vector(name: str, mean: Any, sd: Any, form: str, dims: Any) -> Any:
    if form == "centred":
        return pm.Normal(name, mean, sd, dims=dims)
    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=dims)
    return pm.Deterministic(name, mean + sd * z, dims=dims)


def _coords(design: Design, moderators: tuple[str, ...] = ()) -> dict[str, list]:
    coords: dict[str, list] = {"study": list(design.studies)}
    if moderators:
        coords["moderator"] = list(moderators)
    if design.covariate_terms:
        coords["covariate"] = list(design.covariate_terms)
    if design.interaction_terms:
        coords["interaction"] = list(design.interaction_terms)
    coords.update(design.plugin.coords(design))
    coords.update(aggregate_coords(design))
    coords.update(imputation_coords(design))
    return coords


def data_arrays(design: Design, moderators: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The values of the model's data containers, by name (a refit replaces them).

    ``across`` is present only when the model has interactions (an unused container would
    be pruned from the compiled model and could not be replaced); ``moderators`` (IPD
    trials), ``ad_moderators`` (AD trials) and ``moderator_scale`` only with moderators.
    """
    out = design.plugin.data_arrays(design) if design.k else {}
    out.update(aggregate_arrays(design))
    out.update(imputation_arrays(design))
    if moderators:
        values = moderator_arrays(design, moderators)
        out["moderator_scale"] = values.scale
        if design.k:
            out["moderators"] = values.ipd
        if len(values.ad):
            out["ad_moderators"] = values.ad
    if design.covariate_terms:
        out["term_scale"] = design.term_scales()
    if design.interaction_terms and design.imputation is None:  # imputed: modelled centres
        out["across"] = design.across
    return out


def moderator_shift(
    priors: PriorSet, data: Mapping[str, Any], moderators: tuple[str, ...]
) -> tuple[Any, Any]:
    """Add ``gamma_moderator`` [moderator] to the current model; return the shift of the
    trials' mean effect, ``gamma'(w_k - wbar)``, for the IPD and the AD trials (None without
    moderators or without trials of that kind: nothing is added to the graph).

    The prior (slot ``moderator``) is per SD of each moderator across trials when it is the
    default, per raw unit when given (:func:`scaled_coefficients`).
    """
    if not moderators:
        return None, None
    gamma = scaled_coefficients(
        priors.moderator,
        "gamma_moderator",
        data["moderator_scale"],
        "moderator",
        "moderator",
        "moderator" in priors.per_sd,
    )
    ipd = pt.dot(data["moderators"], gamma) if "moderators" in data else None
    ad = pt.dot(data["ad_moderators"], gamma) if "ad_moderators" in data else None
    return ipd, ad


def shifted(mean: Any, shift: Any) -> Any:
    """``mean + shift``, or ``mean`` itself when there is no shift (None)."""
    return mean if shift is None else mean + shift


def build_model(design: Design, spec: ModelSpec, *, priors: PriorSet | None = None) -> BuiltModel:
    """Build the one-stage PyMC model.

    Parameters
    ----------
    design : Design
        From :func:`~bayes_ipd.one_stage.design.build_design` or
        :func:`~bayes_ipd.one_stage.design.design_from_summaries`.
    spec : ModelSpec
        Model description; ``spec.family`` must equal ``design.family``.
    priors : PriorSet, optional
        Priors in use; by default :func:`priors_for` (the spec's, defaults elsewhere).

    Returns
    -------
    BuiltModel
    """
    priors = priors if priors is not None else priors_for(design, spec)
    priors = moderator_priors(priors, design, spec)
    form = choose_parameterisation(design, spec)
    k, p, q = design.k, len(design.covariate_terms), len(design.interaction_terms)
    arrays = data_arrays(design, spec.moderators)
    with pm.Model(coords=_coords(design, spec.moderators)) as model:
        data = {name: pm.Data(name, value) for name, value in arrays.items()}
        mu = priors.effect.to_pymc("mu", params=hyperparameters("effect", priors.effect))
        tau = tau_to_pymc(priors.tau, name="tau", params=hyperparameters("tau", priors.tau))
        # missing covariates imputed in the model: their trial centres are parameters
        covariates = covariate_model(design, data) if design.imputation is not None else None
        shift_ipd, shift_ad = moderator_shift(priors, data, spec.moderators)
        theta_mean = shifted(mu * pt.ones(k), shift_ipd)
        gamma_w: Any = None
        if q:
            iscale = data["term_scale"][list(_interaction_index(design))]
            per_sd = "interactions" in priors.per_sd
            gamma_w = scaled_coefficients(
                priors.interactions, "gamma_within", iscale, "interaction", "interactions", per_sd
            )
            gamma_a = scaled_coefficients(
                priors.interactions, "gamma_across", iscale, "interaction", "interactions", per_sd
            )
            across = data["across"] if covariates is None else covariates.across(design)
            theta_mean = theta_mean + pt.dot(across, gamma_a)
        theta = _random_vector("theta", theta_mean, tau, form["theta"], "study")
        if spec.intercepts == "random":
            h = hyperparameters("intercept", priors.intercept)
            alpha_mu = priors.intercept.to_pymc("alpha_mu", params=h)
            sd_prior = Prior("half_normal", (intercept_sd_scale(design),))
            alpha_sd = sd_prior.to_pymc("alpha_sd", params=hyperparameters("alpha_sd", sd_prior))
            alpha = _random_vector("alpha", alpha_mu * pt.ones(k), alpha_sd, form["alpha"], "study")
        else:
            h = hyperparameters("intercept", priors.intercept)
            alpha = priors.intercept.to_pymc("alpha", dims="study", params=h)
        columns = [alpha[:, None], theta[:, None]]
        if p:
            if spec.covariate_effects == "stratified":
                beta = scaled_coefficients(
                    priors.coefficients,
                    "beta",
                    data["term_scale"],
                    ("study", "covariate"),
                    "coefficients",
                    "coefficients" in priors.per_sd,
                )
            else:
                beta = scaled_coefficients(
                    priors.coefficients,
                    "beta",
                    data["term_scale"],
                    "covariate",
                    "coefficients",
                    "coefficients" in priors.per_sd,
                )
                beta = pt.ones((k, 1)) * beta[None, :]
            columns.append(beta)
        if q:
            if spec.random_interactions:
                tau_int = _sd_variable(priors.tau, "tau_interaction", dims="interaction")
                gw = _random_vector(
                    "gamma_within_trial",
                    gamma_w[None, :],
                    tau_int[None, :],
                    form["gamma_within"],
                    ("study", "interaction"),
                )
            else:
                gw = pt.ones((k, 1)) * gamma_w[None, :]
            columns.append(gw)
        coef = pt.concatenate(columns, axis=1)
        if priors.sigma is not None:
            data["prior_sigma"] = hyperparameters("sigma", priors.sigma)
        if covariates is None:
            loglik = design.plugin.loglik(design, spec, priors, coef, data)
        else:
            loglik = imputed_loglik(design, spec, priors, coef, data, covariates)
        pm.Deterministic("loglik_trial", loglik, dims="study")
        pm.Potential("likelihood", loglik.sum())
        aggregate_loglik(design, shifted(mu, shift_ad), tau, data, form["theta"])
    return BuiltModel(
        model=model,
        design=design,
        spec=spec,
        priors=priors,
        parameterisation=MappingProxyType(_forms_in_use(form, spec, q)),
        data_names=tuple(v.name for v in model.data_vars),
    )


def _forms_in_use(form: Mapping[str, str], spec: ModelSpec, q: int) -> dict[str, str]:
    out = {"theta": form["theta"]}
    if spec.intercepts == "random":
        out["alpha"] = form["alpha"]
    if q and spec.random_interactions:
        out["gamma_within_trial"] = form["gamma_within"]
    return out


# -------------------------------------------------------------- AD-only (no rows at all)


def aggregate_only_design(spec: ModelSpec, ad: AggregateTrials) -> Design:
    """A design with no participant rows, carrying the aggregate-data trials ``ad``.

    Raises
    ------
    IPDDataError
        Fewer than two trials, or a spec with covariates or interactions (AD carry the
        treatment effect alone), or an unknown family.
    """
    family = get_family(spec.family, IPDDataError)
    if ad.k < 2:
        raise IPDDataError(f"a meta-analysis needs at least two trials, got {ad.k}")
    if spec.covariates or spec.interactions:
        raise IPDDataError(
            "covariates and interactions need participant rows or trial summaries; an "
            "aggregate-data-only model has the treatment effect alone"
        )
    return Design(
        family=family.name,
        studies=(),
        covariate_terms=(),
        interaction_terms=(),
        across=readonly(np.zeros((0, 0))),
        term_means=readonly(np.zeros((0, 0))),
        n_arm=readonly(np.zeros((0, 2)), np.int64),
        stats=MappingProxyType({}),
        aggregate=ad,
    )


def aggregate_priors(design: Design, spec: ModelSpec) -> PriorSet:
    """Priors of an AD-only model: the spec's; for a family whose defaults are per outcome
    SD (gaussian), the effect and tau priors must be given (AD carry no outcome SD).

    Raises
    ------
    PriorError
        Such a family without an effect or tau prior.
    """
    family = design.plugin
    if not family.needs_outcome_scale:
        return resolve_priors(family, spec.priors)
    missing = [s for s in ("effect", "tau") if s not in spec.priors]
    if missing:
        raise PriorError(
            f"an aggregate-data-only {family.name} model has no outcome SD for default "
            f"priors; give priors for: {', '.join(missing)}"
        )
    filler = default_priors(family, outcome_sd=1.0).to_dict()  # slots not in the model
    return PriorSet(**{**filler, **dict(spec.priors)})


def build_aggregate_model(
    design: Design, spec: ModelSpec, *, priors: PriorSet | None = None
) -> BuiltModel:
    """The AD-only model: ``mu``, ``tau``, ``theta_ad`` [ad_study] and the AD likelihood
    (with moderators, ``gamma_moderator`` [moderator]).

    Parameters
    ----------
    design : Design
        From :func:`aggregate_only_design` (no participant rows).
    spec : ModelSpec
    priors : PriorSet, optional
        By default :func:`aggregate_priors`.

    Returns
    -------
    BuiltModel
    """
    priors = priors if priors is not None else aggregate_priors(design, spec)
    priors = moderator_priors(priors, design, spec)
    form = choose_parameterisation(design, spec)["theta"]
    arrays = data_arrays(design, spec.moderators)
    coords = aggregate_coords(design)
    if spec.moderators:
        coords["moderator"] = list(spec.moderators)
    with pm.Model(coords=coords) as model:
        data = {name: pm.Data(name, value) for name, value in arrays.items()}
        # prior numbers as data containers, as in build_model (a refit swaps them)
        mu = priors.effect.to_pymc("mu", params=hyperparameters("effect", priors.effect))
        tau = tau_to_pymc(priors.tau, name="tau", params=hyperparameters("tau", priors.tau))
        _, shift = moderator_shift(priors, data, spec.moderators)
        aggregate_loglik(design, shifted(mu, shift), tau, data, form)
    return BuiltModel(
        model=model,
        design=design,
        spec=spec,
        priors=priors,
        parameterisation=MappingProxyType({"theta_ad": form}),
        data_names=tuple(v.name for v in model.data_vars),
    )
