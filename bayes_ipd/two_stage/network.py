"""Two-stage network meta-analysis of participant rows in one call.

Stage one: per trial, the family's regression on a treatment factor gives the contrasts
against the trial's reference arm and their covariance
(:mod:`~bayes_ipd.two_stage.network_contrasts`). Stage two: the consistency model with a
common ``tau^2`` and the multi-arm correlation 1/2, REML, ML or fixed effect
(:mod:`~bayes_ipd.two_stage.network_pooling`; R ``metafor::rma.mv(..., random = ~
comparison | study, rho = 1/2)``). Then the league table, P-scores, the design-by-treatment
Q decomposition and node-splitting (:mod:`~bayes_ipd.two_stage.network_inconsistency`).

This is a separate entry point from :func:`bayes_ipd.two_stage.two_stage` (the two-arm
route, left unchanged): ``bi.fit_network(rows, study=, treatment=, reference=, family=,
outcome=)``; ``two_stage(network, ...)`` (``bi.fit_two_stage``) of a ``Network`` from
``bi.IPD.from_frame(..., reference=...)`` reaches :func:`fit_network_data` too
(:mod:`~bayes_ipd.two_stage.network_entry`). See ``docs/network.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import pandas as pd

from bayes_ipd.data.network import Network, check_connected, network_from_frame
from bayes_ipd.errors import IPDDataError, PoolingError, SpecError
from bayes_ipd.two_stage.network_classes import pool_classes
from bayes_ipd.two_stage.network_contrasts import NetworkStageOne, network_contrasts
from bayes_ipd.two_stage.network_covariates import NetworkCovariates, network_covariates
from bayes_ipd.two_stage.network_inconsistency import decompose_q, node_split
from bayes_ipd.two_stage.network_pooling import NetworkFit, pool_network, stack
from bayes_ipd.two_stage.network_result import SMALL_VALUES, NetworkResult

__all__ = ["fit_network", "fit_network_data"]


def pool_interactions(
    stage_one: NetworkStageOne, method: str, hksj: bool, classes: tuple[str, ...] = ()
) -> tuple[dict[str, NetworkFit], dict[str, NetworkFit]]:
    """Per interaction covariate: its within-trial interaction contrasts pooled "per
    treatment" by the consistency model of the main effects (basic parameters vs the
    reference, common ``tau^2``, correlation 1/2), or with ``classes`` one parameter per
    non-reference class (:mod:`~bayes_ipd.two_stage.network_classes`).

    Returns
    -------
    by_treatment : dict
        Per covariate, each non-reference treatment's interaction vs the reference.
    by_class : dict
        Per covariate, each non-reference class's (empty without ``classes``).
    """
    network = stage_one.network
    out, by_class = {}, {}
    for name, trials in stage_one.interactions.items():
        if not trials:
            raise PoolingError(
                f"no trial estimates the interaction with {name!r} (constant within every trial)"
            )
        contrasts = stack(trials, len(network.treatments))
        if classes:
            try:
                by_class[name], out[name] = pool_classes(contrasts, classes, method, hksj)
            except PoolingError as err:
                raise PoolingError(f"the interaction with {name!r}: {err}") from None
            continue
        try:
            check_connected(
                tuple(t.study for t in trials), tuple(t.design for t in trials), network.treatments
            )
        except IPDDataError as err:
            raise PoolingError(f"the interaction with {name!r}: {err}") from None
        out[name] = pool_network(contrasts, method, hksj)
    return out, by_class


def fit_network_data(
    network: Network,
    *,
    method: str = "REML",
    sparse: str | None = None,
    small_values: str = "desirable",
    hksj: bool = False,
    covariates: NetworkCovariates | None = None,
) -> NetworkResult:
    """Two-stage network meta-analysis of a :class:`~bayes_ipd.data.network.Network`.

    Parameters as :func:`fit_network` (after the data arguments); ``covariates`` the
    checked covariate values (:func:`~bayes_ipd.two_stage.network_covariates.
    network_covariates`).
    """
    if small_values not in SMALL_VALUES:
        raise SpecError(f"small_values={small_values!r} is not one of {', '.join(SMALL_VALUES)}")
    stage_one = network_contrasts(network, sparse, covariates)
    contrasts = stack(stage_one.trials, len(network.treatments))
    fit = pool_network(contrasts, method, hksj)
    classes = () if covariates is None else covariates.classes
    by_treatment, by_class = pool_interactions(stage_one, method, hksj, classes)
    return NetworkResult(
        data=network,
        stage_one=stage_one,
        fit=fit,
        inconsistency=decompose_q(contrasts, stage_one.trials),
        splits=node_split(stage_one.trials, fit, network.treatments),
        small_values=small_values,
        interactions=MappingProxyType(by_treatment),
        classes=classes,
        class_interactions=MappingProxyType(by_class),
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
    method: str = "REML",
    sparse: str | None = None,
    small_values: str = "desirable",
    hksj: bool = False,
    aggregate_arms: pd.DataFrame | None = None,
    aggregate_contrasts: pd.DataFrame | None = None,
    allow_overlap: bool = False,
    covariates: Sequence[str] | str | None = None,
    interactions: Sequence[str] | str | None = None,
    classes: Mapping[str, str] | str | None = None,
) -> NetworkResult:
    """Two-stage network meta-analysis of participant rows (any number of treatments).

    Parameters
    ----------
    rows : DataFrame
        One row per participant (only read).
    study, treatment : str
        Columns: trial, treatment (text levels).
    outcome : str, optional
        The outcome column (binomial 0/1, gaussian, poisson counts).
    time, event : str, optional
        Follow-up time and event indicator (survival); ``time`` is the exposure of a
        poisson outcome (default 1 per row).
    reference : str
        The network's common comparator (a level of ``treatment``).
    family : {"binomial", "gaussian", "poisson", "survival"}
        Log odds ratios, mean differences, log rate ratios or log hazard ratios (Cox,
        Efron ties).
    method : {"REML", "ML", "FE"}
        Estimator of ``tau^2`` (``FE``: none).
    sparse : {None, "none", "cc"}
        Arms with no events: refused (None), trial excluded, or 0.5 added to every cell
        of the trial.
    small_values : {"desirable", "undesirable"}
        Orientation of the P-scores (R ``netmeta``'s ``small.values``).
    hksj : bool
        Hartung-Knapp-Sidik-Jonkman intervals (t on ``N - (T - 1)`` df, covariance times
        the generalised ``Q / df``); default z intervals as metafor's.
    aggregate_arms, aggregate_contrasts : DataFrame, optional
        Aggregate-data trials (:mod:`bayes_ipd.data.network_aggregate`): arm-level
        summaries (converted to contrasts as their rows would be; gaussian AD-only trials:
        ``sd^2 / n`` per arm) and contrast-level estimates with their covariance.
    allow_overlap : bool
        Accept an arm given both as rows and as AD (other participants of that arm).
    covariates : list of str, optional
        Numeric columns each trial's regression adjusts for (centred at the trial's means);
        refused with aggregate-data trials. The JSON then holds ``"covariates"``.
    interactions : list of str, optional
        Covariates (among ``covariates``) whose within-trial interaction with each
        treatment is estimated per trial and pooled per treatment vs the reference
        (``"interactions"``: ``{covariate: {treatment: {estimate, se, ci_low, ci_high}}}``;
        no across-trial part on this route). See
        :mod:`~bayes_ipd.two_stage.network_covariates`.
    classes : Mapping[str, str] or str, optional
        Treatment level -> class name (or ``"LEVEL=CLASS,LEVEL=CLASS"``; needs
        ``interactions``): the treatments of a class share one interaction per covariate,
        the reference's class has none (``"classes"`` is added to the JSON).

    Returns
    -------
    NetworkResult
        ``.to_dict()`` (the JSON), ``.network()`` (tables), ``.summary()``.

    Examples
    --------
    >>> from bayes_ipd.datasets import load_hasselblad1998_rows
    >>> res = fit_network(load_hasselblad1998_rows(), study="study", treatment="treatment",
    ...                   reference="no_contact", outcome="quit", sparse="cc")
    >>> round(res.fit.tau2, 4)
    0.4502
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
    return fit_network_data(
        network,
        method=method,
        sparse=sparse,
        small_values=small_values,
        hksj=hksj,
        covariates=network_covariates(rows, network, covariates, interactions, classes),
    )
