"""A TOML spec with ``[data] reference``: the network meta-analysis of ``bayes-ipd run``.

``[data] treatment = "trt"`` and ``reference = "No contact"`` make the treatment column a
factor of any number of levels: :func:`run_network_analysis` reads the rows into a
:class:`~bayes_ipd.data.network.Network` and fits the routes of ``[network] route`` (both by
default, as ``run`` does for two arms): the two-stage network meta-analysis
(:func:`~bayes_ipd.two_stage.network.fit_network_data`; ``[two_stage] method`` REML, ML or
FE, ``hksj``; ``[network] sparse``) and the one-stage Bayesian model
(:func:`~bayes_ipd.one_stage.network_fit.fit_network_bayes_data`; the ``[priors]`` slots
``effect`` for every basic parameter, ``tau``, ``intercept``, gaussian ``sigma``; the
``[sampler]``; fixed effects when the method is FE); ``[model] covariates`` and
``interactions`` (with ``[network] classes``) adjust both routes. The JSON of ``run
--json`` holds the network object of ``bayes-ipd network --json`` as its ``"network"``
member (:meth:`NetworkAnalysis.to_dict`). :func:`network_forest` draws both routes on one forest
plot. ``[data] aggregate_arms``, ``aggregate_contrasts`` and ``allow_overlap`` add
aggregate-data trials to the network both routes fit (:func:`network_aggregate`).
:func:`fit_routes`, :func:`routes_document` and :func:`routes_summary` are shared with
``bayes-ipd network --route both``. :meth:`NetworkAnalysis.sensitivity` is the prior sweep
of ``run --sensitivity`` (:mod:`~bayes_ipd.one_stage.network_sensitivity`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bayes_ipd.conventions import json_ready
from bayes_ipd.data.network import network_from_frame
from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.families import get_family
from bayes_ipd.plots.network_forest import network_overlay_forest_plot
from bayes_ipd.spec import AnalysisSpec, ModelSpec, NetworkSettings
from bayes_ipd.two_stage.network import fit_network_data
from bayes_ipd.two_stage.network_covariates import (
    NetworkCovariates,
    network_covariates,
    treatment_classes,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from bayes_ipd.one_stage.network_posterior import NetworkPosterior
    from bayes_ipd.two_stage.network_result import NetworkResult

__all__ = [
    "NETWORK_FIGURES",
    "NetworkAnalysis",
    "check_network_spec",
    "fit_routes",
    "network_aggregate",
    "network_forest",
    "routes_document",
    "routes_prediction",
    "routes_summary",
    "run_network_analysis",
    "spec_covariates",
]

NETWORK_METHODS = ("REML", "ML", "FE")
NETWORK_MODEL_KEYS = ("priors", "covariates", "interactions", "covariate_effects")
"""The ``[model]`` keys a network spec takes (the others must keep their defaults)."""
NETWORK_FIGURES = {
    "network": "network.png",
    "network_forest": "network_forest.png",
    "rankogram": "rankogram.png",
}
"""The figures ``run --out`` writes for a network spec, by kind: the graph beside the
two-stage forest plot, both routes on one forest plot, the one-stage forest and rankogram."""


def network_forest(
    two_stage: NetworkResult, one_stage: NetworkPosterior, *, prediction: bool = True
) -> Figure:
    """Every treatment vs the reference, the two routes overlaid (one row per treatment).

    Parameters
    ----------
    two_stage : NetworkResult
        ``bi.fit_network(..., route="two-stage")``: estimate and 95% CI (squares).
    one_stage : NetworkPosterior
        ``bi.fit_network(..., route="one-stage")``: posterior median and 95% CrI (circles).
    prediction : bool
        Also draw each route's 95% interval for a new trial (dashed): two-stage
        ``estimate +- z sqrt(se^2 + tau^2)``, one-stage ``d_t + delta_new``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if two_stage.data.reference != one_stage.reference:
        raise SpecError(
            f"the two routes have different references: {two_stage.data.reference!r} and "
            f"{one_stage.reference!r}"
        )
    return network_overlay_forest_plot(
        two_stage.effects(),
        one_stage.effects(),
        one_stage.reference,
        get_family(two_stage.data.family).scale.name,
        two_stage_prediction=two_stage.prediction() if prediction else None,
        one_stage_prediction=one_stage.prediction() if prediction else None,
    )


def routes_prediction(two_stage: Any, one_stage: Any) -> dict[str, pd.DataFrame]:
    """A new trial's effect of each treatment vs the reference, by route fitted (two-stage
    ``estimate, se, pi_low, pi_high``; one-stage a posterior node per treatment)."""
    out = {}
    if two_stage is not None:
        out["two-stage"] = two_stage.prediction()
    if one_stage is not None:
        out["one-stage"] = one_stage.prediction()
    return out


def routes_document(two_stage: Any, one_stage: Any) -> dict[str, Any]:
    """The routes' part of the ``run --json`` document (also ``bayes-ipd network --route
    both --json``): ``"network"`` the one-stage object when fitted, else the two-stage one;
    ``"two_stage"`` the two-stage object (null when not fitted); ``"diagnostics"`` the
    one-stage sampler's (null without it); ``"prediction"`` a new trial's effects by route."""
    prediction = {
        route: {str(t): dict(row) for t, row in frame.iterrows()}
        for route, frame in routes_prediction(two_stage, one_stage).items()
    }
    primary = one_stage if one_stage is not None else two_stage
    return json_ready(
        {
            "network": primary.to_dict(),
            "two_stage": None if two_stage is None else two_stage.to_dict(),
            "diagnostics": None if one_stage is None else one_stage.diagnostics.to_dict(),
            "prediction": prediction,
        }
    )


def routes_summary(two_stage: Any, one_stage: Any) -> str:
    """The network and each fitted route's report, and a new trial's effects by route."""
    parts = []
    if two_stage is not None:
        parts += [two_stage.data.summary(), two_stage.summary()]
    if one_stage is not None:
        parts.append(one_stage.summary())
    reference = one_stage.reference if one_stage is not None else two_stage.data.reference
    for route, frame in routes_prediction(two_stage, one_stage).items():
        lines = [f"A new trial ({route}), each treatment vs {reference}:"]
        low, high = ("pi_low", "pi_high") if route == "two-stage" else ("q025", "q975")
        point = "estimate" if route == "two-stage" else "median"
        lines += [
            f"  {t:<24} {row[point]:8.4f} (95% interval {row[low]:.4f} to {row[high]:.4f})"
            for t, row in frame.iterrows()
        ]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def fit_routes(
    network: Any,
    routes: tuple[str, ...],
    *,
    method: str = "REML",
    sparse: str | None = None,
    small_values: str = "desirable",
    hksj: bool = False,
    sampler: Any = None,
    priors: Any = None,
    inconsistency: bool = False,
    covariates: NetworkCovariates | None = None,
    covariate_effects: str = "common",
) -> tuple[Any, Any]:
    """Fit the ``routes`` (``"two-stage"``, ``"one-stage"``) to one network.

    The two-stage route takes ``method``, ``sparse`` and ``hksj``; the one-stage route
    ``sampler``, ``priors`` and ``inconsistency``, fixed effects when ``method`` is FE;
    both ``covariates`` (:func:`~bayes_ipd.two_stage.network_covariates.network_covariates`:
    the adjustment, the interactions and their treatment classes); the one-stage route
    ``covariate_effects`` (``"common"`` or ``"stratified"`` covariate coefficients; the
    two-stage stage one always has trial-specific ones).

    Returns
    -------
    (NetworkResult or None, NetworkPosterior or None)
        None for a route not asked for.
    """
    from bayes_ipd.one_stage.network_fit import fit_network_bayes_data

    two = one = None
    if "two-stage" in routes:
        two = fit_network_data(
            network,
            method=method,
            sparse=sparse,
            small_values=small_values,
            hksj=hksj,
            covariates=covariates,
        )
    if "one-stage" in routes:
        adjusted = (
            {}
            if covariates is None
            else {"covariates": covariates, "covariate_effects": covariate_effects}
        )
        one = fit_network_bayes_data(
            network,
            sampler=sampler,
            priors=priors,
            effects="fixed" if method == "FE" else "random",
            small_values=small_values,
            inconsistency=inconsistency,
            **adjusted,
        )
    return two, one


@dataclass(frozen=True, eq=False)
class NetworkAnalysis:
    """The network meta-analysis of a spec (frozen).

    Attributes
    ----------
    spec : AnalysisSpec
    two_stage : NetworkResult or None
        None when ``[network] route = "one-stage"``.
    one_stage : NetworkPosterior or None
        None when ``[network] route = "two-stage"``.
    harmonisation : HarmonisationLog or None
        The ``[harmonise]`` rules applied to the rows first.
    flow : PrismaFlow or None
        The PRISMA-IPD flow counts of ``[report] flow`` (read by
        :func:`bayes_ipd.analysis.run_analysis`; drawn by ``run --report``).
    network : Network or None
        The network both routes were fitted to (IPD and aggregate-data trials).
    """

    spec: AnalysisSpec
    two_stage: Any
    one_stage: Any
    harmonisation: Any = None
    flow: Any = None
    network: Any = None

    one_stage_ipd = None  # the fields a two-arm AnalysisResult has and a network lacks
    comparison = None
    hybrid = None
    ite = None

    @property
    def settings(self) -> NetworkSettings:
        return self.spec.network or NetworkSettings()

    @property
    def primary(self) -> Any:
        """The result whose object is ``"network"``: one-stage when fitted, else two-stage."""
        return self.one_stage if self.one_stage is not None else self.two_stage

    def prediction(self) -> dict[str, pd.DataFrame]:
        """A new trial's effect of each treatment vs the reference, by route: two-stage
        ``estimate, se, pi_low, pi_high``; one-stage a posterior node per treatment."""
        return routes_prediction(self.two_stage, self.one_stage)

    def plot_forest(self, *, prediction: bool = True) -> Figure:
        """Both routes on one forest plot (:func:`network_forest`; both routes needed)."""
        if self.two_stage is None or self.one_stage is None:
            raise SpecError('the both-routes forest plot needs [network] route = "both"')
        return network_forest(self.two_stage, self.one_stage, prediction=prediction)

    def figures(self) -> dict[str, Figure]:
        """The figures of ``run --out`` by kind (:data:`NETWORK_FIGURES`) for the routes fitted."""
        figures = {}
        if self.two_stage is not None:
            figures["network"] = self.two_stage.plot()
        if self.two_stage is not None and self.one_stage is not None:
            figures["network_forest"] = self.plot_forest()
        if self.one_stage is not None:
            figures["rankogram"] = self.one_stage.plot()
        return figures

    def to_dict(self) -> dict[str, Any]:
        """The ``run --json`` document of a network spec.

        ``"network"``: the object ``bayes-ipd network --json`` prints, of the one-stage
        route when fitted (``--route one-stage``), else of the two-stage route;
        ``"two_stage"``: the two-stage object (null when not fitted); ``"diagnostics"``: the
        one-stage sampler's (null without it); ``"prediction"``: a new trial's effects by
        route."""
        return json_ready(
            {"spec": self.spec.to_dict(), **routes_document(self.two_stage, self.one_stage)}
        )

    def summary(self) -> str:
        """The network and each route's report, as ``run`` prints them."""
        return routes_summary(self.two_stage, self.one_stage)

    def sensitivity(self, say: Any = None) -> Any:
        """The prior sweep of ``run --sensitivity``: the one-stage fit refitted over the
        spec's ``[sensitivity]`` grid (:mod:`~bayes_ipd.one_stage.network_sensitivity`;
        ``say``: progress, one message per scenario); a ``NetworkSensitivityResult``."""
        from bayes_ipd.one_stage.network_sensitivity import network_sweep_for_analysis

        return network_sweep_for_analysis(self, say=say)


def check_network_spec(spec: AnalysisSpec) -> None:
    """Refuse, naming the key, what a network spec cannot take yet: ``[model]`` keys other
    than ``covariates``, ``interactions`` and ``covariate_effects`` (which needs
    covariates), ``[ite]``, ``[report]`` keys other than ``flow`` (the integrity and
    responders checks are two-arm), a pooling method other than REML, ML or FE."""
    data = spec.data  # a family without a network model is refused by the route's code
    given = {k: v for k, v in spec.model.to_dict().items() if k not in NETWORK_MODEL_KEYS}
    default = ModelSpec(family=data.family).to_dict()
    changed = sorted(k for k, v in given.items() if default.get(k) != v)
    if changed:
        raise SpecError(
            f"model.{changed[0]}: not used by the network meta-analysis yet (it takes "
            "model.covariates, model.interactions and model.covariate_effects; stratified "
            "baselines); remove it"
        )
    if spec.model.covariate_effects != "common" and not spec.model.covariates:
        raise SpecError(
            f"model.covariate_effects = {spec.model.covariate_effects!r} needs "
            "model.covariates (the covariates whose coefficients are per trial)"
        )
    if data.missing != "error" or data.participant is not None:
        key = "missing" if data.missing != "error" else "participant"
        raise SpecError(f"data.{key}: not used by the network meta-analysis yet; remove it")
    if spec.ite is not None:
        raise SpecError("[ite] is not available for a network spec (data.reference) yet")
    report = {k: v for k, v in spec.report.to_dict().items() if k != "flow"}
    if report:  # the flow diagram is drawn; the integrity and responders checks are two-arm
        key = sorted(report)[0]
        raise SpecError(f"report.{key} is not available for a network spec yet; report.flow is")
    if spec.two_stage.method not in NETWORK_METHODS:
        raise SpecError(
            f"two_stage.method = {spec.two_stage.method!r}: a network is pooled by "
            f"{', '.join(NETWORK_METHODS)}"
        )


def network_aggregate(data: Any) -> dict[str, Any]:
    """The aggregate-data arguments of :func:`~bayes_ipd.data.network.network_from_frame`
    from a network spec's ``[data]`` (``aggregate_arms``, ``aggregate_contrasts`` CSVs read
    as written, ``allow_overlap``), as ``bayes-ipd network`` passes its options."""
    from bayes_ipd.data.reading import read_rows

    def table(path: Any) -> pd.DataFrame | None:
        return None if path is None else read_rows(path, "study")

    return {
        "aggregate_arms": table(data.aggregate_arms),
        "aggregate_contrasts": table(data.aggregate_contrasts),
        "allow_overlap": data.allow_overlap,
    }


def spec_covariates(
    spec: AnalysisSpec, rows: pd.DataFrame, network: Any
) -> NetworkCovariates | None:
    """The checked ``[model] covariates``, ``interactions`` and ``[network] classes`` of a
    network spec (:func:`~bayes_ipd.two_stage.network_covariates.network_covariates`);
    an error names the key (``network.classes: ...``, ``model.covariates: ...``)."""
    classes = dict((spec.network or NetworkSettings()).classes)
    try:
        treatment_classes(network, classes)
    except IPDDataError as err:
        raise IPDDataError(f"network.{err}") from None
    try:
        return network_covariates(
            rows, network, spec.model.covariates, spec.model.interactions, classes
        )
    except IPDDataError as err:
        raise IPDDataError(f"model.covariates: {err}") from None


def run_network_analysis(
    spec: AnalysisSpec,
    rows: pd.DataFrame,
    *,
    harmonisation: Any = None,
    progress: bool | None = None,
) -> NetworkAnalysis:
    """Fit the routes of a network spec to its participant rows (module docstring).

    Parameters
    ----------
    spec : AnalysisSpec
        With ``data.reference`` set.
    rows : DataFrame
        ``data.path`` as read (and harmonised); only read.
    harmonisation : HarmonisationLog, optional
    progress : bool, optional
        Override the sampler's progress bar setting.

    Returns
    -------
    NetworkAnalysis
    """
    check_network_spec(spec)
    data, settings = spec.data, spec.network or NetworkSettings()
    network = network_from_frame(
        rows,
        study=data.study,
        treatment=data.treatment,
        reference=data.reference,
        family=data.family,
        outcome=data.outcome,
        time=data.time,
        event=data.event,
        **network_aggregate(data),
    )
    covariates = spec_covariates(spec, rows, network)
    sampler = spec.sampler
    if progress is not None and progress != sampler.progress:
        sampler = replace(sampler, progress=progress)
    two, one = fit_routes(
        network,
        settings.routes,
        method=spec.two_stage.method,
        sparse=settings.sparse,
        small_values=settings.small_values,
        hksj=spec.two_stage.hksj,
        sampler=sampler,
        priors=dict(spec.model.priors),
        inconsistency=settings.inconsistency,
        covariates=covariates,
        covariate_effects=spec.model.covariate_effects,
    )
    return NetworkAnalysis(
        spec=spec, two_stage=two, one_stage=one, harmonisation=harmonisation, network=network
    )
