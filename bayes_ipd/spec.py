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

    [model]      # all optional
    covariates = ["sbp_baseline", "age"]
    interactions = ["age"]       # each also a covariate
    intercepts = "stratified"    # | "random"
    covariate_effects = "common" # | "stratified"
    residual_sd = "per_study"    # | "common" (gaussian SD; negative_binomial dispersion)
    random_interactions = false
    parameterisation = "auto"    # | "centred" | "noncentred"
    intervals = 6                # survival: number of intervals, or a list of cut points
    splines = {age = 4}          # restricted cubic splines: covariate = knots (3-5)

    [priors]     # optional, per slot; defaults in bayes_ipd.priors
    tau = "half_normal(5)"

    [sampler]    # optional
    draws = 1000
    tune = 1000
    chains = 4
    seed = 20240601
    target_accept = 0.9
    backend = "auto"             # | "nutpie" | "pymc"

    [two_stage]  # optional
    method = "REML"              # FE | DL | REML | PM | ML
    hksj = true

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
from bayes_ipd.data.missing import MISSING_POLICIES
from bayes_ipd.errors import PriorError, SpecError
from bayes_ipd.families import FAMILY_NAMES, get_family
from bayes_ipd.priors import SLOTS, Prior
from bayes_ipd.spec_values import (
    check_keys,
    choice,
    flag,
    intervals,
    name_value,
    names_value,
    optional_name,
    positive_int,
    prior_mapping,
    spec_path,
)
from bayes_ipd.splines import check_splines

__all__ = [
    "AnalysisSpec",
    "DataSection",
    "ModelSpec",
    "ReportSettings",
    "SamplerSettings",
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
RESPONSE_KEYS = ("outcome", "time", "event")

SECTIONS = ("data", "model", "priors", "sampler", "two_stage", "report", "sensitivity")


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

    def __post_init__(self) -> None:
        set_ = self._set
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
        return {
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
        } | ({"splines": dict(self.splines)} if self.splines else {})

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


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings.

    Parameters
    ----------
    draws, tune, chains : int
        Posterior draws and tuning steps per chain, and the number of chains (all >= 1).
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
        for name in ("draws", "tune", "chains"):
            object.__setattr__(self, name, positive_int(f"sampler.{name}", getattr(self, name)))
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


@dataclass(frozen=True)
class DataSection:
    """Where the data are and which columns hold what.

    Parameters
    ----------
    path : Path or None
        CSV of participant rows.
    summaries : tuple of Path
        Files of per-trial summaries (no participant rows); ``path`` or ``summaries`` is
        needed, or both.
    study, treatment : str
        Trial identifier and treatment columns.
    outcome : str or None
        Outcome column (gaussian, binomial).
    time, event : str or None
        Follow-up time and event indicator columns (survival).
    family : {"gaussian", "binomial", "survival"}
    experimental : str or None
        Label of the experimental arm when the treatment column is not coded 0/1.
    missing : {"error", "drop"}
        Missing-data policy: stop, or drop incomplete rows (counted and reported).
    aggregate, aggregate_estimate, aggregate_se : Path or None, str, str
        CSV of published results of trials without rows (``study``, estimate and SE on the
        model's scale: hybrid IPD + AD, or AD only), and its estimate and SE columns.
    """

    path: Path | None
    summaries: tuple[Path, ...]
    study: str
    treatment: str
    outcome: str | None
    time: str | None
    event: str | None
    family: str
    experimental: str | None = None
    missing: str = "error"
    aggregate: Path | None = None
    aggregate_estimate: str = "estimate"
    aggregate_se: str = "se"

    def __post_init__(self) -> None:
        set_ = self._set
        for key in ("path", "aggregate"):
            value = getattr(self, key)
            set_(key, None if value is None else spec_path(f"data.{key}", value, None))
        for key in ("aggregate_estimate", "aggregate_se"):
            set_(key, name_value(f"data.{key}", getattr(self, key)))
        summaries = self.summaries
        if isinstance(summaries, str | os.PathLike):
            summaries = (summaries,)
        if not isinstance(summaries, list | tuple):
            raise SpecError(f"data.summaries = {summaries!r} must be a list of file paths")
        set_("summaries", tuple(spec_path("data.summaries", s, None) for s in summaries))
        if self.path is None and not self.summaries and self.aggregate is None:
            raise SpecError("data needs path (participant rows), summaries or aggregate")
        set_("study", name_value("data.study", self.study))
        set_("treatment", name_value("data.treatment", self.treatment))
        set_("family", choice("data.family", self.family, FAMILY_NAMES))
        for key in ("outcome", "time", "event"):
            set_(key, optional_name(f"data.{key}", getattr(self, key)))
        self._check_outcome_columns()
        if self.experimental is not None and not isinstance(self.experimental, str):
            raise SpecError(
                f"data.experimental = {self.experimental!r} must be a string "
                f'(write experimental = "{self.experimental}")'
            )
        set_("missing", choice("data.missing", self.missing, MISSING_POLICIES))

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def _check_outcome_columns(self) -> None:
        needed = get_family(self.family).required_response_names
        takes = get_family(self.family).response_names
        for key in needed:
            if getattr(self, key) is None:
                raise SpecError(f"data.{key} is required for family {self.family!r}")
        for key in RESPONSE_KEYS:
            if key not in takes and getattr(self, key) is not None:
                users = [n for n in FAMILY_NAMES if key in get_family(n).response_names]
                raise SpecError(
                    f"data.{key} = {getattr(self, key)!r} is not used for family "
                    f"{self.family!r} (give {' and '.join(needed)}; {key} is for family "
                    f"{' / '.join(map(repr, users))}); remove it"
                )

    def to_dict(self) -> dict[str, Any]:
        """Plain values (absolute path strings); None values left out."""
        d = {
            "path": None if self.path is None else str(self.path),
            "summaries": [str(s) for s in self.summaries],
            "study": self.study,
            "treatment": self.treatment,
            "outcome": self.outcome,
            "time": self.time,
            "event": self.event,
            "family": self.family,
            "experimental": self.experimental,
            "missing": self.missing,
        }
        if self.aggregate is not None:
            d.update(aggregate=str(self.aggregate), aggregate_estimate=self.aggregate_estimate)
            d["aggregate_se"] = self.aggregate_se
        return {k: v for k, v in d.items() if v is not None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], base_dir: Path | None = None) -> DataSection:
        """Build from a ``[data]`` table; relative paths are taken from ``base_dir``."""
        check_keys("data", d, _DATA_FIELDS)
        for key in ("study", "treatment", "family"):
            if key not in d:
                raise SpecError(f"data.{key} is required")
        defaults = ("summaries", "missing", "aggregate_estimate", "aggregate_se")
        values = {k: d.get(k) for k in _DATA_FIELDS if k not in defaults}
        values.update({k: d[k] for k in defaults[2:] if k in d})
        for key in ("path", "aggregate"):
            if values[key] is not None:
                values[key] = spec_path(f"data.{key}", values[key], base_dir)
        summaries = d.get("summaries", ())
        if isinstance(summaries, list | tuple):
            summaries = tuple(spec_path("data.summaries", s, base_dir) for s in summaries)
        return cls(**values, summaries=summaries, missing=d.get("missing", "error"))


_DATA_FIELDS = tuple(f.name for f in dataclasses.fields(DataSection))


@dataclass(frozen=True)
class ReportSettings:
    """``[report]``: PRISMA-IPD flow counts and published primary results for ``run --report``
    (integrity differences beyond ``integrity_threshold`` SEs are flagged)."""

    flow: Path | None = None
    published: Path | None = None
    integrity_threshold: float | None = None

    def __post_init__(self) -> None:
        x = self.integrity_threshold
        if x is not None and (isinstance(x, bool) or not isinstance(x, int | float) or x <= 0):
            raise SpecError(f"report.integrity_threshold = {x!r} must be a number > 0")

    def to_dict(self) -> dict[str, Any]:
        """Plain values (paths as strings); None values left out."""
        d = dataclasses.asdict(self)
        return {k: v if k == "integrity_threshold" else str(v) for k, v in d.items() if v}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], base_dir: Path | None = None) -> ReportSettings:
        """Build from a ``[report]`` table; relative paths are taken from ``base_dir``."""
        check_keys("report", d, ("flow", "published", "integrity_threshold"))
        paths = {
            k: spec_path(f"report.{k}", d[k], base_dir) for k in ("flow", "published") if k in d
        }
        return cls(**{**d, **paths})


# --------------------------------------------------------------------------- AnalysisSpec


@dataclass(frozen=True)
class AnalysisSpec:
    """A whole analysis: data, model, sampler and two-stage settings.

    ``model.family`` must equal ``data.family`` (in TOML, the family is given once, in
    ``[data]``). ``source`` is the TOML file it was read from, if any.
    """

    data: DataSection
    model: ModelSpec
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    two_stage: TwoStageSettings = field(default_factory=TwoStageSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    source: Path | None = None

    def __post_init__(self) -> None:
        if self.model.family != self.data.family:
            raise SpecError(
                f"model.family = {self.model.family!r} differs from data.family = "
                f"{self.data.family!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The TOML layout as plain values (absolute path strings, priors as strings)."""
        model = self.model.to_dict()
        del model["family"]
        priors = model.pop("priors")
        return {
            "data": self.data.to_dict(),
            "model": model,
            "priors": priors,
            "sampler": self.sampler.to_dict(),
            "two_stage": self.two_stage.to_dict(),
            **({"report": self.report.to_dict()} if self.report != ReportSettings() else {}),
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
    data = DataSection.from_dict(_table(doc, "data"), base_dir)
    model_table = _table(doc, "model")
    check_keys("model", model_table, tuple(k for k in _MODEL_FIELDS if k not in _NOT_IN_MODEL))
    priors = _table(doc, "priors")
    check_keys("priors", priors, SLOTS)
    for slot, text in priors.items():
        if not isinstance(text, str):
            raise PriorError(f"priors.{slot} = {text!r} must be a string such as 'normal(0, 1)'")
    model = ModelSpec(**model_table, family=data.family, priors=priors)
    return AnalysisSpec(
        data=data,
        model=model,
        sampler=SamplerSettings.from_dict(_table(doc, "sampler")),
        two_stage=TwoStageSettings.from_dict(_table(doc, "two_stage")),
        report=ReportSettings.from_dict(_table(doc, "report"), base_dir),
        source=source,
    )


_NOT_IN_MODEL = ("family", "priors")


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
    try:
        text = path.read_text(encoding="utf-8")
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
    for table, key in (("data", "aggregate"), ("report", "flow"), ("report", "published")):
        if key in doc.get(table, {}):
            doc[table][key] = _relative(doc[table][key], folder)
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
