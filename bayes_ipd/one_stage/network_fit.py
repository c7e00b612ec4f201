"""Network meta-analysis of participant rows in one call, on either route.

:func:`fit_network_bayes` fits the one-stage Bayesian network model
(:mod:`~bayes_ipd.one_stage.network_model`) to the exact arm-level sums of the rows
(:mod:`~bayes_ipd.one_stage.network_summaries`) with the package's NUTS sampler and
compiled-model cache (:func:`~bayes_ipd.one_stage.sampling.sample`).
:func:`fit_network` (``bayes_ipd.fit_network``) chooses the route: ``"two-stage"`` (the
default, :func:`bayes_ipd.two_stage.network.fit_network`, unchanged) or ``"one-stage"``.
PyMC is imported only when the one-stage route is taken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from bayes_ipd.data.network import Network, network_from_frame
from bayes_ipd.errors import SpecError
from bayes_ipd.two_stage.network import fit_network_data
from bayes_ipd.two_stage.network_covariates import NetworkCovariates, network_covariates

if TYPE_CHECKING:
    from bayes_ipd.one_stage.network_posterior import NetworkPosterior
    from bayes_ipd.priors import Prior, PriorSet
    from bayes_ipd.spec import SamplerSettings

__all__ = ["ROUTES", "fit_network", "fit_network_bayes", "fit_network_bayes_data"]

ROUTES = ("two-stage", "one-stage")


def _fit_with_covariates(
    network: Network,
    arms: Any,
    covariates: NetworkCovariates,
    options: tuple[Any, Any, str, str],
    inconsistency: bool,
    covariate_effects: str,
) -> NetworkPosterior:
    """The covariate network model (:mod:`~bayes_ipd.one_stage.network_covariate_model`)
    sampled; ``options`` are ``(sampler, priors, effects, small_values)``;
    ``inconsistency``: the UME and node-split fits
    (:mod:`~bayes_ipd.one_stage.network_covariate_inconsistency`)."""
    from bayes_ipd.one_stage.network_covariate_inconsistency import (
        build_covariate_variant,
        covariate_inconsistency,
    )
    from bayes_ipd.one_stage.network_covariate_posterior import CovariateNetworkPosterior
    from bayes_ipd.one_stage.sampling import sample
    from bayes_ipd.spec import SamplerSettings

    sampler, priors, effects, small_values = options
    built = build_covariate_variant(network, arms, covariates, (priors, effects, covariate_effects))
    settings = SamplerSettings() if sampler is None else sampler
    idata, diagnostics = sample(built.as_built(), settings)
    block, splits = None, ()
    if inconsistency:
        block, splits = covariate_inconsistency(network, covariates, (built, idata), settings)
    return CovariateNetworkPosterior(
        built, idata, diagnostics, settings, small_values, block, splits
    )


def fit_network_bayes_data(
    network: Network,
    *,
    sampler: SamplerSettings | None = None,
    priors: Mapping[str, str | Prior] | PriorSet | None = None,
    effects: str = "random",
    small_values: str = "desirable",
    inconsistency: bool = False,
    covariates: NetworkCovariates | None = None,
    covariate_effects: str = "common",
) -> NetworkPosterior:
    """One-stage Bayesian network meta-analysis of a
    :class:`~bayes_ipd.data.network.Network`; parameters as :func:`fit_network_bayes`
    (``covariates``: the checked columns of
    :func:`~bayes_ipd.two_stage.network_covariates.network_covariates`)."""
    from bayes_ipd.one_stage.network_model import build_network_model
    from bayes_ipd.one_stage.network_posterior import (
        SMALL_VALUES,
        NetworkPosterior,
        ume_comparison,
    )
    from bayes_ipd.one_stage.network_summaries import network_arms
    from bayes_ipd.one_stage.sampling import sample
    from bayes_ipd.spec import SamplerSettings

    if small_values not in SMALL_VALUES:
        raise SpecError(f"small_values={small_values!r} is not one of {', '.join(SMALL_VALUES)}")
    settings = SamplerSettings() if sampler is None else sampler
    arms = network_arms(network)
    if covariates is None and covariate_effects != "common":
        raise SpecError("covariate_effects= needs covariates")
    if covariates is not None:
        return _fit_with_covariates(
            network, arms, covariates, (sampler, priors, effects, small_values),
            inconsistency, covariate_effects,
        )  # fmt: skip
    built = build_network_model(arms, priors, effects)
    idata, diagnostics = sample(built.as_built(), settings)
    block, splits = None, ()
    if inconsistency:
        from bayes_ipd.one_stage.network_loo import loo_comparison, loo_terms
        from bayes_ipd.one_stage.network_split import split_fits, split_label, split_summary

        ume = build_network_model(arms, built.priors, effects, consistency=False)
        ume_idata, _ = sample(ume.as_built(), settings)
        block = ume_comparison((built, idata), (ume, ume_idata))
        fits = split_fits(arms, built.priors, effects, settings)
        splits = tuple(split_summary(arms, pair, s_idata) for pair, _, s_idata in fits)
        terms, marginal = loo_terms(built, idata)
        by_label = {split_label(arms, p): loo_terms(m, i)[0] for p, m, i in fits}
        ume_terms = loo_terms(ume, ume_idata)[0]
        block["loo"] = loo_comparison(terms, ume_terms, by_label, marginal=marginal)
    return NetworkPosterior(built, idata, diagnostics, settings, small_values, block, splits)


def fit_network_bayes(
    rows: pd.DataFrame,
    *,
    study: str,
    treatment: str,
    reference: str,
    family: str = "binomial",
    outcome: str | None = None,
    time: str | None = None,
    event: str | None = None,
    sampler: SamplerSettings | None = None,
    priors: Mapping[str, str | Prior] | PriorSet | None = None,
    effects: str = "random",
    small_values: str = "desirable",
    inconsistency: bool = False,
    aggregate_arms: pd.DataFrame | None = None,
    aggregate_contrasts: pd.DataFrame | None = None,
    allow_overlap: bool = False,
    covariates: Sequence[str] | str | None = None,
    interactions: Sequence[str] | str | None = None,
    classes: Mapping[str, str] | str | None = None,
    covariate_effects: str = "common",
) -> NetworkPosterior:
    """One-stage Bayesian network meta-analysis of participant rows.

    Trial-specific baselines (stratified), basic parameters ``d_t`` (each treatment vs
    ``reference``), consistency, random effects with a common ``tau`` and the multi-arm
    correlation 1/2 (or fixed effects); the likelihood is the row-level one, summed exactly
    per trial and arm. See ``docs/network.md``.

    Parameters
    ----------
    rows : DataFrame
        One row per participant (only read).
    study, treatment : str
        Columns: trial, treatment (text levels).
    reference : str
        The network's common comparator.
    family : {"binomial", "gaussian", "poisson", "survival", "negative_binomial", "ordinal"}
        Any family whose plug-in has an arm-level network model (``family.network_arms``).
    outcome : str
        The outcome column (0/1, continuous, counts, or ordinal codes in numeric order).
    time : str, optional
        Poisson, negative binomial: the exposure (person-time) column, 1 per row when not
        given; survival: the follow-up time.
    event : str, optional
        Survival: the event indicator (piecewise-exponential model, log hazard ratios).
    sampler : SamplerSettings, optional
        NUTS settings (default ``SamplerSettings()``).
    priors : mapping or PriorSet, optional
        By slot: ``effect`` (every basic parameter), ``tau``, ``intercept`` (the trial
        baselines); gaussian ``sigma`` (residual SD per trial). Other slots: the family's
        defaults.
    effects : {"random", "fixed"}
    small_values : {"desirable", "undesirable"}
        Orientation of the ranking (R ``netmeta``'s ``small.values``).
    inconsistency : bool
        Also fit the unrelated-mean-effects model (same priors, effects and sampler) and
        compare residual deviance and DIC (NICE DSU TSD4; the JSON's ``inconsistency``),
        and split every comparison with direct and indirect evidence (the JSON's
        ``node_split``; one more fit each); all are compared by leave-one-trial-out
        PSIS-LOO too (``inconsistency["loo"]``,
        :func:`~bayes_ipd.one_stage.network_loo.loo_comparison`).

    aggregate_arms, aggregate_contrasts : DataFrame, optional
        Aggregate-data trials (:mod:`bayes_ipd.data.network_aggregate`): arm-level
        summaries enter with their exact likelihood (the arm's sufficient statistics),
        contrast-level estimates with a multivariate normal likelihood given the trial's
        ``delta``.
    allow_overlap : bool
        Accept an arm given both as rows and as AD (other participants of that arm).
    covariates, interactions : list of str or "a,b", optional
        Covariate columns (centred within trial) and those interacting with treatment: the
        covariate network model (:mod:`~bayes_ipd.one_stage.network_covariate_model`),
        within-trial (``interactions``) and across-trial (``interactions_across``)
        interactions of each treatment vs the reference. Not with aggregate-data trials.
        With ``inconsistency=True`` the covariate UME and node-split models are compared
        by LOO on the conditional per-trial terms; deviance and DIC are null (not
        available; :mod:`~bayes_ipd.one_stage.network_covariate_inconsistency`).
    classes : mapping or "LEVEL=CLASS,...", optional
        Treatments of a class share one interaction per covariate (needs
        ``interactions``).
    covariate_effects : {"common", "stratified"}
        The covariates' coefficients common to every trial or one set per trial.

    Returns
    -------
    NetworkPosterior
        ``.to_dict()`` (the JSON), ``.network()`` (tables), ``.summary()``; with
        covariates a ``CovariateNetworkPosterior``
        (:mod:`~bayes_ipd.one_stage.network_covariate_posterior`;
        ``.interaction_effects()``).
    """
    network = network_from_frame(
        rows,
        study=study,
        treatment=treatment,
        reference=reference,
        family=family,
        outcome=outcome,
        time=time,
        event=event,
        aggregate_arms=aggregate_arms,
        aggregate_contrasts=aggregate_contrasts,
        allow_overlap=allow_overlap,
    )
    return fit_network_bayes_data(
        network,
        sampler=sampler,
        priors=priors,
        effects=effects,
        small_values=small_values,
        inconsistency=inconsistency,
        covariates=network_covariates(rows, network, covariates, interactions, classes),
        covariate_effects=covariate_effects,
    )


def fit_network(
    rows: pd.DataFrame,
    *,
    study: str,
    treatment: str,
    reference: str,
    family: str = "binomial",
    outcome: str | None = None,
    time: str | None = None,
    event: str | None = None,
    route: str = "two-stage",
    method: str = "REML",
    sparse: str | None = None,
    small_values: str = "desirable",
    hksj: bool = False,
    sampler: SamplerSettings | None = None,
    priors: Mapping[str, str | Prior] | PriorSet | None = None,
    inconsistency: bool = False,
    aggregate_arms: pd.DataFrame | None = None,
    aggregate_contrasts: pd.DataFrame | None = None,
    allow_overlap: bool = False,
    covariates: Sequence[str] | str | None = None,
    interactions: Sequence[str] | str | None = None,
    classes: Mapping[str, str] | str | None = None,
    covariate_effects: str | None = None,
) -> Any:
    """Network meta-analysis of participant rows on the chosen route.

    ``route="two-stage"`` (default): :func:`bayes_ipd.two_stage.network.fit_network` with
    ``method``, ``sparse``, ``hksj``; returns a ``NetworkResult``. ``route="one-stage"``:
    :func:`fit_network_bayes` with ``sampler``, ``priors`` and ``inconsistency``, random
    effects unless ``method="FE"``; returns a :class:`NetworkPosterior`. Arguments of the
    other route are refused (``sparse``, ``hksj`` on the one-stage route; ``sampler``,
    ``priors``, ``inconsistency`` on the two-stage route). ``aggregate_arms``,
    ``aggregate_contrasts`` and ``allow_overlap`` add aggregate-data trials on either
    route (:func:`fit_network_bayes`; ``docs/network.md``). ``covariates``,
    ``interactions`` and ``classes``: two-stage, each trial's regression adjusted for the
    covariates and the within-trial treatment x covariate interactions pooled per
    treatment or class (:mod:`bayes_ipd.two_stage.network_covariates`); one-stage, the
    covariate network model (:func:`fit_network_bayes`), whose ``covariate_effects``
    (``"common"``, the default, or ``"stratified"``) is refused on the two-stage route
    (stage one always has trial-specific covariate coefficients).

    Examples
    --------
    >>> from bayes_ipd.datasets import load_hasselblad1998_rows
    >>> res = fit_network(load_hasselblad1998_rows(), study="study", treatment="treatment",
    ...                   reference="no_contact", outcome="quit", sparse="cc")
    >>> res.to_dict()["route"]
    'two-stage'
    """
    if route not in ROUTES:
        raise SpecError(f"route={route!r} is not one of {', '.join(ROUTES)}")
    network = network_from_frame(
        rows,
        study=study,
        treatment=treatment,
        reference=reference,
        family=family,
        outcome=outcome,
        time=time,
        event=event,
        aggregate_arms=aggregate_arms,
        aggregate_contrasts=aggregate_contrasts,
        allow_overlap=allow_overlap,
    )
    if route == "two-stage":
        if sampler is not None or priors is not None or inconsistency or covariate_effects:
            raise SpecError(
                "sampler=, priors=, inconsistency= and covariate_effects= belong to "
                "route='one-stage' (two-stage stage one always has trial-specific covariate "
                "coefficients)"
            )
        return fit_network_data(
            network,
            method=method,
            sparse=sparse,
            small_values=small_values,
            hksj=hksj,
            covariates=network_covariates(rows, network, covariates, interactions, classes),
        )
    if sparse is not None or hksj:
        raise SpecError(
            "sparse= and hksj= belong to route='two-stage' (the one-stage model uses the "
            "exact likelihood of every arm, zero-event arms included)"
        )
    if str(method).upper() not in ("REML", "ML", "FE"):
        raise SpecError(f"method={method!r} is not one of REML, ML, FE")
    return fit_network_bayes_data(
        network,
        sampler=sampler,
        priors=priors,
        effects="fixed" if str(method).upper() == "FE" else "random",
        small_values=small_values,
        inconsistency=inconsistency,
        covariates=network_covariates(rows, network, covariates, interactions, classes),
        covariate_effects=covariate_effects or "common",
    )
