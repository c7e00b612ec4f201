"""Model descriptions and TOML analysis specs.

:class:`ModelSpec` describes a one-stage model (family, covariates, interactions, options,
user priors); :class:`SamplerSettings` how to sample it; :class:`AnalysisSpec` a whole
analysis read from a TOML file:

.. code-block:: toml

    [data]       # path and/or summaries; study, treatment; outcome, or time + event
    path = "trials.csv"
    study = "trial"
    treatment = "treat"
    outcome = "sbp_final"
    family = "gaussian"          # | binomial | survival | poisson | negative_binomial | ordinal
    # levels = ["mild", "moderate", "severe"]  # ordinal: lowest first (default: numeric order)
    # participant = "id"         # refused if repeated within a trial (one row per person)
    # missing = "drop"             # drop incomplete rows, counted (default: refuse them)
    # aggregate = "published.csv"  # AD trials: study, estimate, se (aggregate_estimate/_se),
    # aggregate_counts = true      # or 2x2 counts (aggregate_events_control, _n_control, ...)
    # aggregate data alone: [data] needs only aggregate and family (no path, treatment or
    # outcome; the aggregate file's trial column is "study", its others the aggregate_* keys)


    [model]      # all optional
    covariates = ["sbp_baseline", "age"]
    interactions = ["age"]       # each also a covariate
    intercepts = "stratified"    # | "random"
    covariate_effects = "common" # | "stratified"
    residual_sd = "per_study"    # | "common" (gaussian SD; negative_binomial dispersion)
    random_interactions = false
    parameterisation = "auto"    # | "centred" | "noncentred"
    intervals = 6                # survival: number of intervals, or a list of cut points
    # treatment_by_interval = [12, 36]  # survival: a random effect per period (or:
    # treatment_time = "log")           #   a treatment-by-log-time interaction)
    # baseline = "spline"               # survival: spline baseline in log time,
    # knots = 4                         #   3-5 knots or knot times
    splines = {age = 4}          # restricted cubic splines: covariate = knots (3-5)
    moderators = ["ablat"]       # trial-level covariates of a one-stage meta-regression
    rmst_horizons = [24, 36]     # survival: RMST differences up to these times (one-stage)

    [priors]     # optional, per slot; defaults in bayes_ipd.priors
    tau = "half_normal(5)"

    [sampler]    # optional; draws and tune 1 to 100,000 per chain, chains 1 to 64
    draws = 1000
    tune = 1000
    chains = 4
    seed = 20240601
    target_accept = 0.9
    backend = "auto"             # | "nutpie" | "pymc"

    [two_stage]  # optional
    method = "REML"              # FE | DL | REML | PM | ML
    hksj = true

    [ite]        # optional: individualised treatment effects (bayes-ipd ite) on the same rows
    covariates = ["sbp_baseline", "age"]
    new = "new_patients.csv"     # covariate profiles of the patients to predict for
    stage1 = "ols"               # | ridge | lasso | forest | boosting | bayes
    stage2 = "mvma"              # | weighted | mvbayes | mixing (default: by stage1)

    [[harmonise.convert]]  # optional: rules applied to the rows before anything else, logged
    trial = "T2"                 # (bayes_ipd.data.harmonise_rules: rename, recode, convert,
    column = "weight"            #  crosswalk, standardise; docs/data_preparation.md)
    units = "lb -> kg"

    [sensitivity]  # optional: the prior grid of `bayes-ipd run --sensitivity` (<= 100 pairs)
    tau = ["half_normal(0.5)", "half_cauchy(0.5)", "turner()"]
    effect = ["normal(0, 1)", "normal(0, 10)"]

Relative paths are read relative to the spec file's folder. Unknown sections and keys are
errors naming ``section.key``; nothing is ignored silently.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import tomli_w

from bayes_ipd.conventions import METHODS
from bayes_ipd.data.harmonise_rules import HarmoniseRules
from bayes_ipd.errors import PriorError, SpecError
from bayes_ipd.families import FAMILY_NAMES, get_family
from bayes_ipd.families.survival_time import check_time_settings, time_settings
from bayes_ipd.models import spec_file_problem
from bayes_ipd.priors import SLOTS, Prior
from bayes_ipd.spec_repeated import REPEATED_MODEL_KEYS, RepeatedSettings, check_repeated_spec
from bayes_ipd.spec_sections import (
    DataSection,
    ITESettings,
    NetworkSettings,
    ReportSettings,
    SensitivityGrid,
)
from bayes_ipd.spec_values import (
    check_keys,
    choice,
    flag,
    intervals,
    names_value,
    positive_int,
    prior_mapping,
    rmst_horizons,
)
from bayes_ipd.spline_basis import check_splines

__all__ = [
    "AnalysisSpec",
    "DataSection",
    "ITESettings",
    "ModelSpec",
    "NetworkSettings",
    "ReportSettings",
    "SamplerSettings",
    "SensitivityGrid",
    "TwoStageSettings",
    "parse_analysis_spec",
    "read_analysis_spec",
    "write_analysis_spec",
]

INTERCEPTS = ("stratified", "random")
COVARIATE_EFFECTS = ("common", "stratified")
RESIDUAL_SDS = ("per_study", "common")
PARAMETERISATIONS = ("auto", "centred", "noncentred")
BACKENDS = ("auto", "nutpie", "pymc")
POOLING_METHODS = METHODS
SECTIONS = (
    "data",
    "model",
    "priors",
    "sampler",
    "two_stage",
    "report",
    "sensitivity",
    "ite",
    "harmonise",
    "network",
)


@dataclass(frozen=True, repr=False)
class ModelSpec:
    """Description of a one-stage IPD meta-analysis model.

    Parameters
    ----------
    family : {"gaussian", "binomial", "survival"}
        Outcome family; the effect is a mean difference, log odds ratio or log hazard ratio.
    covariates : tuple of str
        Prognostic covariates, centred within trial (coefficients per unit).
    interactions : tuple of str
        Effect modifiers (each also in ``covariates``); split into within- and
        across-trial treatment interactions.
    intercepts : {"stratified", "random"}
        Trial-specific fixed intercepts, or intercepts drawn from a normal distribution.
    covariate_effects : {"common", "stratified"}
        One coefficient per covariate, or one per covariate and trial.
    residual_sd : {"per_study", "common"}
        Gaussian residual SD (negative binomial: NB2 dispersion) per trial or shared
        (ignored for other families).
    random_interactions : bool
        Within-trial interactions vary between trials (needs ``interactions``).
    priors : mapping of slot to str or Prior
        User priors by slot (see :data:`bayes_ipd.priors.SLOTS`); the other slots take
        the defaults of :func:`bayes_ipd.priors.default_priors`. Stored parsed.
    parameterisation : {"auto", "centred", "noncentred"}
        Of the random treatment effect; ``"auto"`` chooses from the data.
    intervals : int or tuple of float
        Survival only: the number of piecewise-exponential intervals (cut at event-time
        quantiles), or explicit interior cut points (increasing, > 0).
    splines : mapping of str to int
        Covariates modelled by a restricted cubic spline, with its number of knots (3-5,
        at Harrell's quantiles of the pooled values; :mod:`bayes_ipd.splines`). A spline
        covariate that is also in ``interactions`` is a spline effect modifier.
    moderators : tuple of str
        Trial-level covariates of a one-stage meta-regression: ``theta_k = mu +
        sum_j gamma_j (w_kj - mean_j w) + u_k`` with moderators centred across trials (so
        ``mu`` is the effect at the mean moderator). A column constant within each trial
        (IPD) or of the aggregate file (AD trials); an across-trial (ecological)
        association, not a treatment-covariate interaction.
    rmst_horizons : tuple of float
        Survival only: horizons (times > 0) of the restricted mean survival time; the
        one-stage result then reports the posterior RMST difference (experimental minus
        control) up to each, per trial and averaged over trials
        (:mod:`bayes_ipd.checks.rmst`).
    treatment_by_interval : tuple of float
        Survival only: interior cut points of periods with a random treatment effect each
        (``(12, 36)``: ``[0, 12), [12, 36), [36, inf)``); ``mu``, ``tau``, ``theta`` are
        then the first period's. Added to the baseline cut points.
    treatment_time : {"constant", "log"}
        Survival only: ``"log"`` adds a treatment-by-log-time interaction.
    baseline : {"piecewise", "spline"}
        Survival only: the baseline log hazard as a random walk over intervals, or a
        restricted cubic spline in log time held constant on a fine grid
        (:mod:`bayes_ipd.families.survival_time`).
    knots : int or tuple of float
        Spline baseline: 3, 4 or 5 knots at event-time quantiles, or the knot times.
    reference : str, optional
        A network of treatments: the common comparator (a treatment level). ``bi.fit``
        then fits the one-stage network model to a
        :class:`~bayes_ipd.data.network.Network` whose reference it must equal (build it
        with ``bi.IPD.from_frame(..., reference=...)``). Omitted from :meth:`to_dict`
        when unset; in a TOML spec it is ``[data] reference``.

    Raises
    ------
    SpecError
        Naming the field (``model.intercepts``), the bad value and the allowed values.

    Examples
    --------
    >>> spec = ModelSpec("gaussian", covariates=["age"], interactions=["age"])
    >>> spec.with_(priors={"tau": "half_normal(5)"}).to_dict()["priors"]
    {'tau': 'half_normal(5)'}
    """

    family: str = "gaussian"
    covariates: tuple[str, ...] = ()
    interactions: tuple[str, ...] = ()
    intercepts: str = "stratified"
    covariate_effects: str = "common"
    residual_sd: str = "per_study"
    random_interactions: bool = False
    priors: Mapping[str, Prior] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    parameterisation: str = "auto"
    intervals: int | tuple[float, ...] = 6
    splines: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    moderators: tuple[str, ...] = ()
    rmst_horizons: tuple[float, ...] = ()
    treatment_by_interval: tuple[float, ...] = ()
    treatment_time: str = "constant"
    baseline: str = "piecewise"
    knots: int | tuple[float, ...] = 4
    reference: str | None = None

    def __post_init__(self) -> None:
        set_ = self._set
        if self.reference is not None and (
            not isinstance(self.reference, str) or not self.reference.strip()
        ):
            raise SpecError(
                f"model.reference = {self.reference!r} must be a non-empty treatment level "
                "(text), the network's common comparator"
            )
        set_("family", choice("model.family", self.family, FAMILY_NAMES))
        set_("covariates", names_value("model.covariates", self.covariates))
        set_("interactions", names_value("model.interactions", self.interactions))
        for name in self.interactions:
            if name not in self.covariates:
                raise SpecError(
                    f"model.interactions: {name!r} is not in model.covariates "
                    f"{list(self.covariates)}; an effect modifier must also be a covariate"
                )
        set_("intercepts", choice("model.intercepts", self.intercepts, INTERCEPTS))
        set_(
            "covariate_effects",
            choice("model.covariate_effects", self.covariate_effects, COVARIATE_EFFECTS),
        )
        set_("residual_sd", choice("model.residual_sd", self.residual_sd, RESIDUAL_SDS))
        set_("random_interactions", flag("model.random_interactions", self.random_interactions))
        if self.random_interactions and not self.interactions:
            raise SpecError("model.random_interactions = true needs at least one interaction")
        set_("priors", prior_mapping(self.priors, self.family))
        set_(
            "parameterisation",
            choice("model.parameterisation", self.parameterisation, PARAMETERISATIONS),
        )
        set_("intervals", intervals(self.intervals))
        set_("splines", check_splines(self.splines, self.covariates))
        set_("moderators", names_value("model.moderators", self.moderators))
        for name in self.moderators:
            if name in self.covariates:
                raise SpecError(
                    f"model.moderators: {name!r} is also in model.covariates; a moderator is "
                    "a trial-level covariate (constant within each trial), not a "
                    "within-trial one"
                )
        set_("rmst_horizons", rmst_horizons(self.rmst_horizons, get_family(self.family)))
        times = check_time_settings(
            get_family(self.family),
            self.treatment_by_interval,
            self.treatment_time,
            self.baseline,
            self.knots,
            covariates_ok=not (self.interactions or self.moderators),
        )
        for name, value in dataclasses.asdict(times).items():
            set_(name, value)

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def with_(self, **changes: Any) -> ModelSpec:
        """A copy with ``changes`` applied (and validated)."""
        unknown = [k for k in changes if k not in _MODEL_FIELDS]
        if unknown:
            raise SpecError(
                f"unknown ModelSpec field {unknown[0]!r}; fields: {', '.join(_MODEL_FIELDS)}"
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain TOML/JSON-ready values (lists, priors as strings)."""
        out = {
            "family": self.family,
            "covariates": list(self.covariates),
            "interactions": list(self.interactions),
            "intercepts": self.intercepts,
            "covariate_effects": self.covariate_effects,
            "residual_sd": self.residual_sd,
            "random_interactions": self.random_interactions,
            "priors": {slot: str(p) for slot, p in self.priors.items()},
            "parameterisation": self.parameterisation,
            "intervals": self.intervals
            if isinstance(self.intervals, int)
            else list(self.intervals),
        }
        out |= {"splines": dict(self.splines)} if self.splines else {}
        out |= {"moderators": list(self.moderators)} if self.moderators else {}
        out |= time_settings(self).to_dict()  # only the keys that differ from the defaults
        out |= {"rmst_horizons": list(self.rmst_horizons)} if self.rmst_horizons else {}
        return out | ({"reference": self.reference} if self.reference is not None else {})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`; an unknown key is a SpecError naming it."""
        check_keys("model", d, _MODEL_FIELDS)
        return cls(**d)

    def __repr__(self) -> str:
        d = self.to_dict()
        d["covariates"] = self.covariates
        d["interactions"] = self.interactions
        d["intervals"] = self.intervals
        body = ", ".join(f"{k}={v!r}" for k, v in d.items())
        return f"ModelSpec({body})"


_MODEL_FIELDS = tuple(f.name for f in dataclasses.fields(ModelSpec))


# --------------------------------------------------------------------------- other sections


SAMPLER_BOUNDS = {"draws": 100_000, "tune": 100_000, "chains": 64}
"""The largest accepted ``[sampler]`` draws, tune and chains (the smallest is 1)."""


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings.

    Parameters
    ----------
    draws, tune, chains : int
        Posterior draws and tuning steps per chain (each 1 to 100,000), and the number of
        chains (1 to 64): beyond these a run exhausts memory or time long before it ends,
        so they are refused up front (:data:`SAMPLER_BOUNDS`).
    seed : int
        Random seed (>= 0); the same seed, data and spec give identical draws.
    target_accept : float
        Target acceptance rate, in [0.5, 1).
    backend : {"auto", "nutpie", "pymc"}
        ``"auto"``: nutpie when importable, else PyMC's sampler.
    progress : bool
        Show a progress bar.
    """

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int = 20240601
    target_accept: float = 0.9
    backend: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        for name, most in SAMPLER_BOUNDS.items():
            value = positive_int(f"sampler.{name}", getattr(self, name), maximum=most)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "seed", positive_int("sampler.seed", self.seed, minimum=0))
        ta = self.target_accept
        if isinstance(ta, bool) or not isinstance(ta, numbers.Real) or not 0.5 <= ta < 1:
            raise SpecError(f"sampler.target_accept = {ta!r} must be a number in [0.5, 1)")
        object.__setattr__(self, "target_accept", float(ta))
        choice("sampler.backend", self.backend, BACKENDS)
        flag("sampler.progress", self.progress)

    def to_dict(self) -> dict[str, Any]:
        """Plain TOML/JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SamplerSettings:
        """Inverse of :meth:`to_dict`; an unknown key is a SpecError naming it."""
        check_keys("sampler", d, _SAMPLER_FIELDS)
        return cls(**d)


_SAMPLER_FIELDS = tuple(f.name for f in dataclasses.fields(SamplerSettings))


@dataclass(frozen=True)
class TwoStageSettings:
    """Two-stage pooling: the tau² estimator (case-insensitive) and the HKSJ adjustment."""

    method: str = "REML"
    hksj: bool = True

    def __post_init__(self) -> None:
        method = self.method.upper() if isinstance(self.method, str) else self.method
        object.__setattr__(self, "method", choice("two_stage.method", method, POOLING_METHODS))
        flag("two_stage.hksj", self.hksj)

    def to_dict(self) -> dict[str, Any]:
        """Plain TOML/JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TwoStageSettings:
        """Inverse of :meth:`to_dict`; an unknown key is a SpecError naming it."""
        check_keys("two_stage", d, _TWO_STAGE_FIELDS)
        return cls(**d)


_TWO_STAGE_FIELDS = tuple(f.name for f in dataclasses.fields(TwoStageSettings))


# --------------------------------------------------------------------------- AnalysisSpec


@dataclass(frozen=True)
class AnalysisSpec:
    """A whole analysis: data, model, sampler and two-stage settings.

    ``model.family`` must equal ``data.family`` (in TOML, the family is given once, in
    ``[data]``). ``source`` is the TOML file it was read from, if any. ``sensitivity`` is
    the ``[sensitivity]`` prior grid (None without the section). ``harmonise`` holds the
    ``[harmonise]`` rules, applied to the participant rows before anything else (None
    without the section; :func:`bayes_ipd.data.harmonise.harmonise`).
    """

    data: DataSection
    model: ModelSpec
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    two_stage: TwoStageSettings = field(default_factory=TwoStageSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    source: Path | None = None
    ite: ITESettings | None = None
    sensitivity: SensitivityGrid | None = None
    harmonise: HarmoniseRules | None = None
    network: NetworkSettings | None = None
    repeated: RepeatedSettings | None = None

    def __post_init__(self) -> None:
        if self.data.visit is not None and self.repeated is None:
            object.__setattr__(self, "repeated", RepeatedSettings())
        if self.repeated is not None and self.data.visit is None:
            raise SpecError(
                f"model.{', model.'.join(REPEATED_MODEL_KEYS)} are for repeated measures "
                "(data.visit)"
            )
        if self.network is not None and self.data.reference is None:
            raise SpecError("[network] needs data.reference (the network's common comparator)")
        if self.network is not None and self.network.classes and not self.model.interactions:
            raise SpecError(
                "network.classes needs model.interactions: treatment classes share "
                "treatment-covariate interactions"
            )
        if self.harmonise is not None and self.data.path is None:
            raise SpecError("[harmonise] needs participant rows (data.path) to apply its rules to")
        if self.model.reference is not None and self.model.reference != self.data.reference:
            raise SpecError(
                f"model.reference = {self.model.reference!r} differs from data.reference = "
                f"{self.data.reference!r}"
            )
        if self.model.family != self.data.family:
            raise SpecError(
                f"model.family = {self.model.family!r} differs from data.family = "
                f"{self.data.family!r}"
            )
        if self.ite is not None and (self.data.path is None or self.data.outcome is None):
            raise SpecError(
                "[ite] needs participant rows with an outcome column (data.path and data.outcome)"
            )

    def to_dict(self) -> dict[str, Any]:
        """The TOML layout as plain values (absolute path strings, priors as strings)."""
        model = self.model.to_dict()
        del model["family"]
        model.pop("reference", None)  # a network's reference is [data] reference
        priors = model.pop("priors")
        model |= {} if self.repeated is None else self.repeated.to_dict()
        return {
            "data": self.data.to_dict(),
            "model": model,
            "priors": priors,
            "sampler": self.sampler.to_dict(),
            "two_stage": self.two_stage.to_dict(),
            **({"report": self.report.to_dict()} if self.report != ReportSettings() else {}),
            **({"ite": self.ite.to_dict()} if self.ite is not None else {}),
            **({"sensitivity": self.sensitivity.to_dict()} if self.sensitivity is not None else {}),
            **({"harmonise": self.harmonise.to_dict()} if self.harmonise is not None else {}),
            **({"network": self.network.to_dict()} if self.network is not None else {}),
        }


def _table(doc: Mapping[str, Any], section: str) -> dict[str, Any]:
    value = doc.get(section, {})
    if not isinstance(value, Mapping):
        raise SpecError(f"[{section}] must be a table, got {value!r}")
    return dict(value)


def _spec_from_document(
    doc: Mapping[str, Any], base_dir: Path, source: Path | None
) -> AnalysisSpec:
    for section in doc:
        if section not in SECTIONS:
            raise SpecError(f"unknown section [{section}]; sections: {', '.join(SECTIONS)}")
    if "data" not in doc:
        raise SpecError("the [data] section is required")
    # checked first, and whether or not `run --sensitivity` is given
    network = _table(doc, "data").get("reference") is not None  # a network's slots
    grid = (
        SensitivityGrid.from_dict(_table(doc, "sensitivity"), network=network)
        if "sensitivity" in doc
        else None
    )
    data = DataSection.from_dict(_table(doc, "data"), base_dir)
    model_table = _table(doc, "model")
    written = set(model_table)
    repeated_table = {k: model_table.pop(k) for k in REPEATED_MODEL_KEYS if k in model_table}
    if repeated_table and data.visit is None:
        raise SpecError(f"model.{next(iter(repeated_table))} is for repeated measures (data.visit)")
    if "reference" in model_table:
        raise SpecError(
            "model.reference: a network's common comparator is set in [data] reference "
            "(with [data] treatment), not in [model]"
        )
    model_keys = tuple(k for k in _MODEL_FIELDS if k not in _NOT_IN_MODEL)
    model_keys += REPEATED_MODEL_KEYS if data.visit is not None else ()
    check_keys("model", model_table, model_keys)
    priors = _table(doc, "priors")
    check_keys("priors", priors, SLOTS)
    for slot, text in priors.items():
        if not isinstance(text, str):
            raise PriorError(f"priors.{slot} = {text!r} must be a string such as 'normal(0, 1)'")
    model = ModelSpec(**model_table, family=data.family, priors=priors)
    repeated = None
    if data.visit is not None:  # long data: the repeated-measures model's keys only
        check_repeated_spec(data, model, written, set(doc))
        repeated = RepeatedSettings.from_dict(repeated_table)
    return AnalysisSpec(
        repeated=repeated,
        data=data,
        model=model,
        sampler=SamplerSettings.from_dict(_table(doc, "sampler")),
        two_stage=TwoStageSettings.from_dict(_table(doc, "two_stage")),
        report=ReportSettings.from_dict(_table(doc, "report"), base_dir),
        source=source,
        ite=ITESettings.from_dict(_table(doc, "ite"), base_dir) if "ite" in doc else None,
        sensitivity=grid,
        harmonise=_harmonise(doc),
        network=NetworkSettings.from_dict(_table(doc, "network")) if "network" in doc else None,
    )


def _harmonise(doc: Mapping[str, Any]) -> HarmoniseRules | None:
    """The ``[harmonise]`` rules (None without the section)."""
    return HarmoniseRules.from_dict(doc["harmonise"]) if "harmonise" in doc else None


_NOT_IN_MODEL = ("family", "priors", "reference")


def parse_analysis_spec(text: str, base_dir: Path) -> AnalysisSpec:
    """Read an analysis spec from TOML text; relative paths are taken from ``base_dir``.

    Raises
    ------
    SpecError
        Bad TOML (with tomllib's message), an unknown section or key (``model.foo``, with
        the allowed keys), or an invalid value (naming ``section.key``).
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"invalid TOML: {err}") from None
    return _spec_from_document(doc, Path(base_dir), None)


def read_analysis_spec(path: str | os.PathLike) -> AnalysisSpec:
    """Read an analysis spec from a TOML file (relative paths: from the file's folder).

    Errors name the file. See :func:`parse_analysis_spec`.

    Examples
    --------
    >>> spec = read_analysis_spec("models/bcg_binary.toml")  # doctest: +SKIP
    >>> spec.model.family  # doctest: +SKIP
    'binomial'
    """
    path = Path(path)
    problem = spec_file_problem(path)
    if problem == "not found":
        raise SpecError(f"analysis spec file not found: {path}")
    if problem is not None:  # checked first: reading a device such as /dev/zero never ends
        raise SpecError(f"analysis spec {path} {problem}")
    try:
        # utf-8-sig: editors on Windows save TOML with a byte-order mark, which tomllib refuses
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SpecError(f"analysis spec file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: cannot read analysis spec: {err}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: invalid TOML: {err}") from None
    source = Path(os.path.abspath(path))
    try:
        return _spec_from_document(doc, source.parent, source)
    except SpecError as err:
        raise type(err)(f"{path}: {err}") from None


def _relative(p: str, folder: Path) -> str:
    """``p`` relative to ``folder`` when possible (portable spec files), POSIX style."""
    try:
        return Path(os.path.relpath(p, folder)).as_posix()
    except ValueError:  # another drive on Windows
        return p


def write_analysis_spec(spec: AnalysisSpec, path: str | os.PathLike) -> None:
    """Write ``spec`` as TOML; data paths are written relative to the file's folder.

    ``read_analysis_spec`` of the written file gives back an equal spec (``source`` aside).
    """
    path = Path(path)
    folder = Path(os.path.abspath(path)).parent
    doc = spec.to_dict()
    data = doc["data"]
    if "path" in data:
        data["path"] = _relative(data["path"], folder)
    data["summaries"] = [_relative(s, folder) for s in data["summaries"]]
    for table, key in (
        ("data", "aggregate"),
        ("report", "flow"),
        ("report", "published"),
        ("report", "trials"),
        ("ite", "new"),
    ):
        if key in doc.get(table, {}):
            doc[table][key] = _relative(doc[table][key], folder)
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
