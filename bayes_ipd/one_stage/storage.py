"""Saving, loading and pickling a one-stage posterior without its PyMC model.

A fit's PyMC model holds compiled functions that neither pickle nor fit in a netCDF file,
so a saved result keeps what rebuilds it instead (:class:`ResultRecord`): the model spec,
the priors in use (exact numbers), the sampler settings and diagnostics, and the design --
the trials' exact sufficient statistics, never participant rows (except for a fit with
``missing="impute"``, whose model needs the covariate model's rows: the incomplete rows and
every row's imputed and fully observed covariates) -- with the fingerprint of the model's
graph (:func:`~bayes_ipd.one_stage.cache.model_fingerprint`). Loading rebuilds
the design and the model (the compiled-model cache makes a later refit cheap) and refuses a
rebuilt model whose fingerprint differs from the saved one, so a loaded result answers
every question (summary, study effects, checks, LOO, figures) as the fitted one did.

The netCDF file is the one :meth:`OneStageResult.to_netcdf` has always written (ArviZ reads
it with :func:`arviz.from_netcdf`), plus one group, :data:`GROUP`, holding the record:
JSON metadata in its attributes and the design's arrays as its variables.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import arviz as az
import numpy as np
import xarray as xr

from bayes_ipd.checks.loo import CONDITIONAL_GROUP, loo_idata
from bayes_ipd.conventions import readonly
from bayes_ipd.errors import BayesIPDError
from bayes_ipd.families import get_family
from bayes_ipd.one_stage.aggregate_trials import AggregateTrials
from bayes_ipd.one_stage.builder import build_aggregate_model, build_model
from bayes_ipd.one_stage.cache import model_fingerprint
from bayes_ipd.one_stage.design import Design
from bayes_ipd.one_stage.imputation import ImputationData
from bayes_ipd.one_stage.posterior import Posterior
from bayes_ipd.one_stage.sampling import SamplingDiagnostics
from bayes_ipd.priors import Prior, PriorSet
from bayes_ipd.spec import ModelSpec, SamplerSettings
from bayes_ipd.spline_basis import SplineBasis

__all__ = [
    "FORMAT",
    "GROUP",
    "ResultFileError",
    "ResultRecord",
    "posterior_of",
    "read_posterior",
    "record_of",
    "write_netcdf",
]

GROUP = "bayes_ipd"
"""The netCDF group holding the record (attributes ``format``, ``version``, ``meta``)."""

FORMAT = "bayes_ipd.one_stage_result"
VERSION = 1
_STATS = "stats__"  # variable-name prefix of the family's statistics in the group
_IMPUTE = "impute__"  # ... of an imputed fit's arrays (ImputationData)
_IMPUTE_RESPONSE = "impute_response__"  # ... of its incomplete rows' responses
_IMPUTE_ARRAYS = (
    "centre",
    "stat_centre",
    "complete",
    "study",
    "regressor_values",
    "values",
    "rows",
    "treat",
    "terms",
)
"""The array fields of :class:`ImputationData`, saved as variables of the record group."""


class ResultFileError(BayesIPDError):
    """A file that is not a saved one-stage result, or one that cannot be rebuilt."""


@dataclass(frozen=True, eq=False)
class ResultRecord:
    """What rebuilds a posterior's model, beside its InferenceData.

    Attributes
    ----------
    meta : str
        JSON text: ``spec``, ``priors``, ``sampler``, ``diagnostics``, ``parameterisation``,
        ``fingerprint`` and the design's labels, cut points, splines, trial-level values and
        aggregate-data trials (NaN written as ``NaN``).
    arrays : Mapping of str to numpy.ndarray
        The design's ``across``, ``term_means``, ``n_arm`` and its statistics
        (``stats__<name>``); an imputed fit's covariate-model arrays (``impute__<field>``,
        ``impute_response__<role>``).
    """

    meta: str
    arrays: Mapping[str, np.ndarray]


# ----------------------------------------------------------------- value -> record


def _prior_dict(prior: Prior) -> dict[str, Any]:
    return {"dist": prior.dist, "params": [float(p) for p in prior.params]}


def _priors_meta(priors: PriorSet) -> dict[str, Any]:
    """Exact priors (floats, not their printed form, which rounds)."""
    return {
        "slots": {slot: _prior_dict(p) for slot, p in priors.items()},
        "per_sd": list(priors.per_sd),
        "outcome_sd": priors.outcome_sd,
    }


def _aggregate_meta(ad: AggregateTrials | None) -> dict[str, Any] | None:
    if ad is None:
        return None
    return {
        "studies": list(ad.studies),
        "estimate": ad.estimate.tolist(),
        "se": ad.se.tolist(),
        "scale": ad.scale,
        "count_studies": list(ad.count_studies),
        "dropped": list(ad.dropped),
        "moderators": {k: v.tolist() for k, v in ad.moderators.items()},
    }


def _imputation_meta(imp: ImputationData) -> dict[str, Any]:
    """The non-array fields of an imputed fit's :class:`ImputationData`."""
    return {
        "imputed": list(imp.imputed),
        "kinds": list(imp.kinds),
        "columns": list(imp.columns),
        "regressors": list(imp.regressors),
        "systematic": {k: list(v) for k, v in imp.systematic.items()},
        "counts": dict(imp.counts),
        "n_rows": imp.n_rows,
        "responses": list(imp.responses),
    }


def _imputation_arrays(imp: ImputationData | None) -> dict[str, np.ndarray]:
    if imp is None:
        return {}
    out = {f"{_IMPUTE}{name}": np.asarray(getattr(imp, name)) for name in _IMPUTE_ARRAYS}
    return out | {f"{_IMPUTE_RESPONSE}{k}": np.asarray(v) for k, v in imp.responses.items()}


def _design_meta(design: Design) -> dict[str, Any]:
    imp = design.imputation
    imputed = {} if imp is None else {"imputed": True, "imputation": _imputation_meta(imp)}
    return {
        **imputed,
        "family": design.family,
        "studies": list(design.studies),
        "covariate_terms": list(design.covariate_terms),
        "interaction_terms": list(design.interaction_terms),
        "cutpoints": [float(c) for c in design.cutpoints],
        "statistics": list(design.stats),
        "splines": [dataclasses.asdict(b) for b in design.splines],
        "trial_level": {k: np.asarray(v).tolist() for k, v in design.trial_level.items()},
        "aggregate": _aggregate_meta(design.aggregate),
    }


def record_of(posterior: Posterior) -> ResultRecord:
    """The record that rebuilds ``posterior``'s model (:func:`posterior_of`)."""
    built = posterior.built
    design = built.design
    sampler = posterior.sampler
    meta = {
        "spec": built.spec.to_dict(),
        "priors": _priors_meta(built.priors),
        "sampler": sampler.to_dict() if isinstance(sampler, SamplerSettings) else None,
        "diagnostics": posterior.diagnostics.to_dict(),
        "parameterisation": dict(built.parameterisation),
        "fingerprint": model_fingerprint(built.model),
        "design": _design_meta(design),
    }
    arrays = {"across": design.across, "term_means": design.term_means, "n_arm": design.n_arm}
    arrays |= {f"{_STATS}{name}": value for name, value in design.stats.items()}
    # an imputed fit also keeps its covariate model's rows (the incomplete rows and every
    # row's imputed and regressor covariates): its model cannot be rebuilt without them
    arrays |= _imputation_arrays(design.imputation)
    # a plain dict, so that the record pickles (a mappingproxy does not)
    return ResultRecord(meta=json.dumps(meta), arrays=dict(arrays))


# ----------------------------------------------------------------- record -> value


def _priors_of(meta: Mapping[str, Any]) -> PriorSet:
    slots = {s: Prior(p["dist"], tuple(p["params"])) for s, p in meta["slots"].items()}
    return PriorSet(**slots, per_sd=tuple(meta["per_sd"]), outcome_sd=meta["outcome_sd"])


def _aggregate_of(meta: Mapping[str, Any] | None) -> AggregateTrials | None:
    if meta is None:
        return None
    return AggregateTrials(
        tuple(meta["studies"]),
        np.asarray(meta["estimate"], dtype=np.float64),
        np.asarray(meta["se"], dtype=np.float64),
        scale=meta["scale"],
        count_studies=tuple(meta["count_studies"]),
        dropped=tuple(meta["dropped"]),
        moderators=meta["moderators"],
    )


def _imputation_of(
    meta: Mapping[str, Any] | None, arrays: Mapping[str, np.ndarray]
) -> ImputationData | None:
    if meta is None:
        return None
    values = {}
    for name in _IMPUTE_ARRAYS:
        value = np.asarray(arrays[f"{_IMPUTE}{name}"])
        values[name] = readonly(value, value.dtype)
    responses = {
        k: readonly(np.asarray(arrays[f"{_IMPUTE_RESPONSE}{k}"], dtype=np.float64))
        for k in meta["responses"]
    }
    return ImputationData(
        imputed=tuple(meta["imputed"]),
        kinds=tuple(meta["kinds"]),
        columns=tuple(int(c) for c in meta["columns"]),
        regressors=tuple(int(c) for c in meta["regressors"]),
        responses=MappingProxyType(responses),
        systematic=MappingProxyType({k: tuple(v) for k, v in meta["systematic"].items()}),
        counts=MappingProxyType({k: int(v) for k, v in meta["counts"].items()}),
        n_rows=int(meta["n_rows"]),
        **values,
    )


def _design_of(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Design:
    family = get_family(meta["family"], ResultFileError)
    # as saved, in the saved order and dtypes (an AD-only design has none)
    stats = {}
    for name in meta["statistics"]:
        value = np.asarray(arrays[f"{_STATS}{name}"])
        stats[name] = readonly(value, value.dtype)
    trial_level = {
        k: readonly(np.asarray(v, dtype=np.float64)) for k, v in meta["trial_level"].items()
    }
    return Design(
        family=family.name,
        studies=tuple(meta["studies"]),
        covariate_terms=tuple(meta["covariate_terms"]),
        interaction_terms=tuple(meta["interaction_terms"]),
        across=readonly(np.asarray(arrays["across"], dtype=np.float64)),
        term_means=readonly(np.asarray(arrays["term_means"], dtype=np.float64)),
        n_arm=readonly(np.asarray(arrays["n_arm"]), np.int64),
        stats=MappingProxyType(stats),
        cutpoints=tuple(meta["cutpoints"]),
        aggregate=_aggregate_of(meta["aggregate"]),
        splines=tuple(
            SplineBasis(b["covariate"], tuple(b["knots"]), b["lower"], b["upper"])
            for b in meta["splines"]
        ),
        trial_level=MappingProxyType(trial_level),
        imputation=_imputation_of(meta.get("imputation"), arrays),
    )


def _diagnostics_of(meta: Mapping[str, Any]) -> SamplingDiagnostics:
    names = {f.name for f in dataclasses.fields(SamplingDiagnostics)}
    values = {k: v for k, v in meta.items() if k in names}
    values["warnings"] = tuple(values.get("warnings", ()))
    return SamplingDiagnostics(**values)


def posterior_of(idata: az.InferenceData, record: ResultRecord) -> Posterior:
    """Rebuild the posterior of ``idata`` from its record: the design, the PyMC model.

    Raises
    ------
    ResultFileError
        A record of another format, missing keys, or a rebuilt model whose graph
        fingerprint, parameterisation or priors differ from the saved ones (the file was
        written by another version of the model code).
    """
    try:
        meta = json.loads(record.meta)
        design = _design_of(meta["design"], record.arrays)
        spec = ModelSpec.from_dict(meta["spec"])
        priors = _priors_of(meta["priors"])
        sampler = None if meta["sampler"] is None else SamplerSettings.from_dict(meta["sampler"])
        diagnostics = _diagnostics_of(meta["diagnostics"])
        expected = (meta["fingerprint"], meta["parameterisation"], _priors_meta(priors))
    except (KeyError, TypeError, ValueError) as err:  # BayesIPDError is a ValueError
        raise ResultFileError(f"the saved result's record cannot be read: {err}") from err
    if meta["design"].get("imputed") and design.imputation is None:  # an older record
        raise ResultFileError(
            "the saved result imputed missing covariates inside the model "
            "(missing='impute') but its record holds no covariate-model rows (written by an "
            "older version of bayes_ipd), so it cannot be loaded: refit it from the data"
        )
    builder = build_model if design.k else build_aggregate_model
    try:
        built = builder(design, spec, priors=priors)
    except BayesIPDError as err:
        raise ResultFileError(f"the saved result's model cannot be rebuilt: {err}") from err
    rebuilt = (model_fingerprint(built.model), dict(built.parameterisation))
    if rebuilt != expected[:2] or _priors_meta(built.priors) != expected[2]:
        raise ResultFileError(
            "the saved result's model does not rebuild to the same model (its graph "
            "fingerprint, parameterisation or priors differ): it was written by another "
            "version of bayes_ipd; refit it from the data"
        )
    return Posterior(idata=idata, built=built, sampler=sampler, diagnostics=diagnostics)


# ------------------------------------------------------------------------- netCDF


def write_netcdf(posterior: Posterior, path: str | Path) -> Path:
    """Write the InferenceData (with the default leave-one-trial-out terms,
    :func:`~bayes_ipd.checks.loo.loo_idata`) and the record group to ``path``."""
    path = Path(path)
    record = record_of(posterior)
    loo_idata(posterior).to_netcdf(str(path), engine="h5netcdf")
    variables = {
        name: ([f"{name}_{i}" for i in range(np.ndim(a))], np.asarray(a))
        for name, a in record.arrays.items()
    }
    attrs = {"format": FORMAT, "version": VERSION, "meta": record.meta}
    group = xr.Dataset(variables, attrs=attrs)
    group.to_netcdf(str(path), mode="a", group=GROUP, engine="h5netcdf")
    return path


def _groups(path: Path) -> tuple[list[str], dict[str, Any]]:
    import h5netcdf

    with h5netcdf.File(str(path), mode="r") as handle:
        return list(handle.groups), dict(handle.attrs)


def _read_group(path: Path, group: str) -> xr.Dataset:
    with xr.open_dataset(str(path), group=group, engine="h5netcdf") as data:
        return data.load()


def read_posterior(path: str | Path) -> Posterior:
    """The posterior saved in ``path`` by :func:`write_netcdf` (or ``run --out``).

    The InferenceData is read into memory as it was fitted (the conditional per-trial
    log-likelihood back in ``log_likelihood``); the model is rebuilt by
    :func:`posterior_of`.

    Raises
    ------
    ResultFileError
        The file is missing, not netCDF, or a netCDF file without a one-stage result
        (e.g. written by ArviZ alone), naming the path.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"{path}: no such file")
    try:
        names, root_attrs = _groups(path)
    except (OSError, ValueError) as err:
        raise ResultFileError(f"{path}: not a netCDF file of a bayes_ipd result ({err})") from err
    if GROUP not in names or "posterior" not in names:
        raise ResultFileError(
            f"{path}: not a saved bayes_ipd one-stage result (no {GROUP!r} group beside "
            "'posterior'); save a result with result.save(path) or `run --out`"
        )
    try:
        record_group = _read_group(path, GROUP)
        if record_group.attrs.get("format") != FORMAT:
            raise ResultFileError(f"{path}: group {GROUP!r} is not a {FORMAT} record")
        groups = {g: _read_group(path, g) for g in names if g != GROUP}
    except (OSError, ValueError) as err:
        if isinstance(err, ResultFileError):
            raise
        raise ResultFileError(f"{path}: the file cannot be read ({err})") from err
    if CONDITIONAL_GROUP in groups:  # undo loo_idata: the fit's own terms
        groups["log_likelihood"] = groups.pop(CONDITIONAL_GROUP)
    arrays = {name: record_group[name].values for name in record_group.data_vars}
    record = ResultRecord(meta=str(record_group.attrs["meta"]), arrays=arrays)
    idata = az.InferenceData(attrs=root_attrs, **groups)
    return posterior_of(idata, record)
