"""``fit_repeated``: the one-stage Bayesian MMRM end to end, and its frozen result.

Data (long rows with their column names, a validated
:class:`~bayes_ipd.data.visits.RepeatedIPD`, or shared
:class:`~bayes_ipd.one_stage.repeated_summaries.RepeatedSummaries`) -> exact pattern
statistics -> the model of :mod:`~bayes_ipd.one_stage.repeated_model` -> NUTS draws through
the package's sampler (:func:`~bayes_ipd.one_stage.sampling.sample`: nutpie or PyMC, the
compiled-model cache, diagnostics) -> :class:`RepeatedOneStageResult`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import arviz as az
import numpy as np
import pandas as pd

from bayes_ipd.conventions import json_ready
from bayes_ipd.data.visits import RepeatedIPD, repeated_from_frame
from bayes_ipd.draws import posterior_node
from bayes_ipd.errors import IPDDataError
from bayes_ipd.one_stage.repeated_model import (
    RepeatedBuilt,
    RepeatedOptions,
    build_repeated_model,
)
from bayes_ipd.one_stage.repeated_ppc import visit_means_ppc
from bayes_ipd.one_stage.repeated_summaries import (
    RepeatedSummaries,
    constant_within_trials,
    summarise_repeated,
)
from bayes_ipd.one_stage.sampling import SamplingDiagnostics, sample
from bayes_ipd.plots.visits import visit_means_plot
from bayes_ipd.spec import SamplerSettings

__all__ = ["RepeatedOneStageResult", "fit_repeated", "repeated_summaries_of"]


@dataclass(frozen=True, eq=False)
class RepeatedOneStageResult:
    """A fitted one-stage MMRM (immutable).

    Attributes
    ----------
    idata : arviz.InferenceData
    diagnostics : SamplingDiagnostics
    summaries : RepeatedSummaries
        The exact statistics the model saw.
    options : RepeatedOptions
    primary : int
        Index of the primary visit (``effect`` in JSON).
    priors : Mapping
        The priors' numbers (``normal(mean, sd)``; half-normal scales).
    dropped : Mapping[str, int]
        Rows dropped per trial before summarising (``missing="drop"``).
    """

    idata: az.InferenceData
    diagnostics: SamplingDiagnostics
    summaries: RepeatedSummaries
    options: RepeatedOptions
    primary: int
    priors: Mapping[str, tuple[float, ...]]
    dropped: Mapping[str, int]

    @property
    def visits(self) -> tuple[str, ...]:
        """Visit labels in order."""
        return self.summaries.visits

    def draws(self, name: str) -> np.ndarray:
        """(chain, draw, ...) draws of a posterior variable."""
        da = self.idata.posterior[name]
        other = [d for d in da.dims if d not in ("chain", "draw")]
        return np.asarray(da.transpose("chain", "draw", *other).values, dtype=np.float64)

    def _by_visit(self, name: str) -> list[dict[str, Any]]:
        values = self.draws(name)
        return [
            {"visit": visit, **posterior_node(values[:, :, j])}
            for j, visit in enumerate(self.visits)
        ]

    def interaction_nodes(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{"interactions_within": {COV: node}, "interactions_across": {COV: node}}``
        at the primary visit, named as the one-stage result names them; empty without
        interactions."""
        names = self.options.interactions
        if not names:
            return {}
        return {
            f"interactions_{part}": {
                name: posterior_node(self.draws(f"gamma_{part}")[:, :, j])
                for j, name in enumerate(names)
            }
            for part in ("within", "across")
        }

    def effect_frame(self, level: float = 0.95) -> pd.DataFrame:
        """The pooled effect per visit as ``visit, estimate, lower, upper`` (posterior mean
        and central interval): the overlay frame of the two-stage result's
        ``plot_effect(overlay={"one-stage posterior": frame})``."""
        values = self.draws("effect")
        flat = values.reshape(-1, values.shape[-1])
        lower, upper = np.quantile(flat, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return pd.DataFrame(
            {
                "visit": list(self.visits),
                "estimate": flat.mean(axis=0),
                "lower": lower,
                "upper": upper,
            }
        )

    def summary(self) -> pd.DataFrame:
        """One row per visit: the pooled effect and tau (posterior mean, SD, 95% interval)."""
        rows = []
        for name in ("effect", "tau"):
            for node in self._by_visit(name):
                rows.append({"parameter": name, **node})
        primary = self.visits[self.primary]
        for key, nodes in self.interaction_nodes().items():
            part = key.removeprefix("interactions_")
            for cov, node in nodes.items():
                rows.append({"parameter": f"interaction {part}: {cov}", "visit": primary, **node})
        return pd.DataFrame(rows).set_index(["parameter", "visit"])

    def _interaction_report(self) -> dict[str, Any]:
        names = self.options.interactions
        if not names:
            return {}
        return {
            "interactions": list(names),
            "interaction_visit": self.visits[self.primary],
            "interaction_constant_within": constant_within_trials(self.summaries, names),
        }

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dictionary: ``posterior.effect_by_visit``, ``tau_by_visit`` and the
        primary visit's ``effect`` and ``tau`` (nodes of ``conventions.NODE_KEYS``); with
        interactions also ``posterior.interactions_within`` / ``interactions_across``
        (``{COV: node}`` at the primary visit, the one-stage result's names) and top-level
        ``interactions``, ``interaction_visit``, ``interaction_constant_within``
        (``{COV: [STUDY, ...]}``: trials without within-trial information)."""
        effect = self._by_visit("effect")
        tau = self._by_visit("tau")
        primary = self.visits[self.primary]
        posterior = {
            "effect": {k: v for k, v in effect[self.primary].items() if k != "visit"},
            "tau": {k: v for k, v in tau[self.primary].items() if k != "visit"},
            "effect_by_visit": effect,
            "tau_by_visit": tau,
            **self.interaction_nodes(),
        }
        s = self.summaries
        return json_ready(
            {
                "route": "one_stage",
                "model": "repeated_measures",
                "family": "gaussian",
                "visit": primary,
                "visits": list(self.visits),
                "studies": list(s.studies),
                "covariates": list(s.covariates),
                "options": self.options.to_dict(),
                "priors": {k: list(v) for k, v in self.priors.items()},
                "n_participants": s.n_participants,
                "n_observations": s.n_observations,
                "n_patterns": int(s.n.size),
                "visit_counts": s.counts().to_dict(orient="records"),
                "dropped": dict(self.dropped),
                **self._interaction_report(),
                "posterior": posterior,
                "sampler": self.diagnostics.to_dict(),
            }
        )

    def _flat(self, name: str) -> np.ndarray:
        values = self.draws(name)
        return values.reshape(-1, *values.shape[2:])

    def ppc_parameters(self) -> dict[str, Any]:
        """Flat posterior draws (S, ...) of what a visit mean's predictive reads
        (:func:`~bayes_ipd.one_stage.repeated_ppc.visit_means_ppc`): ``mu``, ``theta``,
        ``sigma`` (S, K, V), ``beta`` and ``within`` (S, V, p) or None."""
        s = self.summaries
        k, v, p = s.k, len(s.visits), len(s.covariates)
        sigma = self._flat("sigma")
        sigma = np.broadcast_to(sigma[:, None, :], (len(sigma), k, v)) if sigma.ndim == 2 else sigma
        beta = self._flat("beta") if p else None
        within = None
        names = tuple(getattr(self.options, "interactions", ()) or ())
        if names:
            gamma = self._flat("gamma_within")  # (S, len(names)) at the primary visit
            within = np.zeros((len(gamma), v, p))
            for j, name in enumerate(names):
                within[:, self.primary, s.covariates.index(name)] = gamma[:, j]
        return {
            "mu": self._flat("mu"),
            "theta": self._flat("theta"),
            "sigma": sigma,
            "beta": beta,
            "within": within,
        }

    def ppc_visit_means(self, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
        """Posterior predictive check of the mean outcome per trial, arm and visit.

        Each posterior draw replicates the participants observed at each visit from the
        model; their mean is exactly normal given the parameters
        (:mod:`~bayes_ipd.one_stage.repeated_ppc`, which also says how to read late visits
        under MAR dropout).

        Returns
        -------
        DataFrame
            ``study, arm, visit, n, observed, se, predictive_mean, predictive_sd, lower,
            upper, p_value``, one row per cell with participants observed.
        """
        return visit_means_ppc(self.summaries, self.ppc_parameters(), level=level, seed=seed)

    def plot_ppc_visit_means(self, level: float = 0.95, seed: int = 0, **kw: Any) -> Any:
        """The observed visit means per trial and arm (error bars) over the posterior
        predictive intervals (bands) of :meth:`ppc_visit_means`
        (:func:`bayes_ipd.plots.visits.visit_means_plot`; keywords passed on)."""
        frame = self.ppc_visit_means(level=level, seed=seed)
        means = frame.rename(columns={"observed": "mean"})
        kw.setdefault("visits", self.visits)
        kw.setdefault("level", level)
        kw.setdefault("predicted_label", "posterior predictive")
        return visit_means_plot(means, predicted=frame[["study", "arm", "visit", "lower", "upper"]],
                                **kw)  # fmt: skip

    def to_netcdf(self, path: Any) -> Any:
        """Write the draws (``idata``) to a netCDF file; the path written."""
        self.idata.to_netcdf(str(path))
        return path

    def __repr__(self) -> str:
        lines = [
            f"One-stage Bayesian MMRM: {self.summaries.k} trials, "
            f"{self.summaries.n_participants:,} participants, "
            f"{self.summaries.n_observations:,} participant-visits; effect over time "
            f"{self.options.effect_time!r}, residual covariance {self.options.residual!r}",
            self.summary().round(3).to_string(),
            f"primary visit: {self.visits[self.primary]}",
        ]
        return "\n".join(lines)


def repeated_summaries_of(
    data: pd.DataFrame | RepeatedIPD | RepeatedSummaries | Mapping[str, Any], **columns: Any
) -> tuple[RepeatedSummaries, Mapping[str, int]]:
    """The exact statistics of any accepted input, and the rows dropped per trial."""
    if isinstance(data, pd.DataFrame):
        data = repeated_from_frame(data, **columns)
    elif columns:
        raise IPDDataError(
            f"column names ({', '.join(sorted(columns))}) are for a data frame of rows; "
            f"got a {type(data).__name__}"
        )
    if isinstance(data, RepeatedIPD):
        return summarise_repeated(data), dict(data.ipd.dropped)
    if isinstance(data, RepeatedSummaries):
        return data, {}
    if isinstance(data, Mapping):
        return RepeatedSummaries.from_dict(data), {}
    raise IPDDataError(
        f"cannot fit {type(data).__name__}: give long rows (a DataFrame), a RepeatedIPD or "
        "RepeatedSummaries"
    )


def fit_repeated(
    data: pd.DataFrame | RepeatedIPD | RepeatedSummaries | Mapping[str, Any],
    *,
    study: str | None = None,
    treatment: str | None = None,
    outcome: str | None = None,
    participant: str | None = None,
    visit: str | None = None,
    covariates: str | Iterable[str] = (),
    interactions: str | Iterable[str] = (),
    visit_order: str | Iterable[Any] | None = None,
    missing: str = "error",
    experimental: Any = None,
    options: RepeatedOptions | None = None,
    sampler: SamplerSettings | None = None,
    **option_values: Any,
) -> RepeatedOneStageResult:
    """Fit the one-stage Bayesian MMRM (:mod:`~bayes_ipd.one_stage.repeated_model`).

    Parameters
    ----------
    data : DataFrame, RepeatedIPD, RepeatedSummaries or its dict
        Long rows (one per participant and visit; give the column names), validated rows,
        or exact statistics shared by sites.
    study, treatment, outcome, participant, visit, covariates, visit_order, missing, experimental
        Columns and reading options of :func:`~bayes_ipd.data.visits.repeated_from_frame`
        (rows only).
    interactions : str or sequence of str
        Covariates (each also in ``covariates``) interacting with treatment at the primary
        visit, split into within-trial (``gamma_within``) and across-trial
        (``gamma_across``) parts, as ``ModelSpec.interactions``; the options' field.
    options : RepeatedOptions, optional
        Or its fields as keywords (``effect_time="slope"``, ``residual="common"``,
        ``primary_visit="8"``, ``eta=2``, prior scales).
    sampler : SamplerSettings, optional

    Returns
    -------
    RepeatedOneStageResult

    Examples
    --------
    >>> import bayes_ipd as bi
    >>> from bayes_ipd.simulate.repeated import simulate_repeated
    >>> rows, truth = simulate_repeated(6, 60, seed=1)
    >>> res = bi.fit_repeated(rows, study="study", treatment="treat", outcome="y",
    ...                       participant="id", visit="visit", covariates=["baseline"],
    ...                       sampler=bi.SamplerSettings(draws=200, tune=200, chains=2,
    ...                                                  progress=False))  # doctest: +SKIP
    >>> res.to_json()["posterior"]["effect_by_visit"]  # doctest: +SKIP
    """
    if interactions:
        option_values["interactions"] = interactions
    if options is not None and option_values:
        raise IPDDataError("give options= or option keywords, not both")
    options = options or RepeatedOptions(**option_values)
    columns: dict[str, Any] = {}
    if isinstance(data, pd.DataFrame):
        columns = {
            "study": study,
            "treatment": treatment,
            "outcome": outcome,
            "participant": participant,
            "visit": visit,
            "covariates": covariates,
            "visit_order": visit_order,
            "missing": missing,
            "experimental": experimental,
        }
        absent = [
            k
            for k in ("study", "treatment", "outcome", "participant", "visit")
            if columns[k] is None
        ]
        if absent:
            raise IPDDataError(f"long rows need the column names: {', '.join(absent)}")
    summaries, dropped = repeated_summaries_of(data, **columns)
    built = build_repeated_model(summaries, options)
    idata, diagnostics = sample_repeated(built, sampler or SamplerSettings())
    return RepeatedOneStageResult(
        idata=idata,
        diagnostics=diagnostics,
        summaries=summaries,
        options=options,
        primary=built.primary,
        priors=built.priors,
        dropped=dropped,
    )


def sample_repeated(
    built: RepeatedBuilt, sampler: SamplerSettings
) -> tuple[az.InferenceData, SamplingDiagnostics]:
    """NUTS draws of a built MMRM through the package's sampler and compiled-model cache
    (``sample`` reads only the built value's ``model`` and ``parameterisation``)."""
    return sample(cast(Any, built), sampler)
