"""The ``[data]``, ``[report]``, ``[ite]`` and ``[sensitivity]`` sections of a TOML spec.

Values checked when the spec is read (:mod:`bayes_ipd.spec` assembles them into an
:class:`~bayes_ipd.spec.AnalysisSpec` and re-exports them): where the data are and which
columns hold what (:class:`DataSection`), the report's extra inputs
(:class:`ReportSettings`), the individualised-treatment-effect analysis run after the
main one (:class:`ITESettings`) and the prior grid of ``run --sensitivity``
(:class:`SensitivityGrid`, swept by :mod:`bayes_ipd.sensitivity`).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bayes_ipd.data.missing import MISSING_POLICIES
from bayes_ipd.errors import SpecError
from bayes_ipd.families import FAMILY_NAMES, get_family
from bayes_ipd.spec_grid import (  # the [sensitivity] grid, re-exported
    GRID_SLOTS,
    NETWORK_GRID_SLOTS,
    SensitivityGrid,
    grid_from_table,
)
from bayes_ipd.spec_values import (
    check_keys,
    choice,
    flag,
    level_list,
    name_value,
    names_value,
    optional_name,
    positive_int,
    spec_path,
)

__all__ = [
    "AGGREGATE_COUNT_KEYS",
    "GRID_SLOTS",
    "ITE_META",
    "ITE_RANDOM",
    "ITE_WEIGHTS",
    "NETWORK_GRID_SLOTS",
    "NETWORK_ROUTES",
    "RESPONSE_KEYS",
    "DataSection",
    "ITESettings",
    "NetworkSettings",
    "ReportSettings",
    "SensitivityGrid",
    "default_ite_stage2",
    "grid_from_table",
]

RESPONSE_KEYS = ("outcome", "time", "event")
AGGREGATE_COUNT_KEYS = (
    "aggregate_events_control",
    "aggregate_n_control",
    "aggregate_events_treated",
    "aggregate_n_treated",
)
"""``[data]`` keys naming the columns of an arm-count aggregate file (``aggregate_counts``)."""
NETWORK_AGGREGATE_FILES = ("aggregate_arms", "aggregate_contrasts")
NETWORK_AGGREGATE_KEYS = (*NETWORK_AGGREGATE_FILES, "allow_overlap")
"""``[data]`` keys of a network's aggregate-data trials (with ``reference``)."""


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
    study : str
        Trial identifier column of the participant rows (the aggregate file's is
        ``study``). Required with participant rows or summaries; ``"study"`` by default
        for aggregate data alone.
    treatment : str or None
        Treatment column of the participant rows; required with rows or summaries, not
        used by aggregate data alone (None).
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
    aggregate_counts : bool
        The aggregate CSV holds each binary trial's published 2x2 counts instead of an
        estimate and SE (exact binomial likelihood in the one-stage model,
        :class:`~bayes_ipd.one_stage.aggregate_trials.ArmCounts`); its columns are
        ``aggregate_events_control``, ``aggregate_n_control``, ``aggregate_events_treated``
        and ``aggregate_n_treated``.
    levels : tuple of str or None
        An ordinal outcome's levels, lowest first (``--levels`` on the command line); None:
        the numeric order of its values.
    participant : str or None
        Participant identifier column (``--participant`` on the command line): refused when
        it repeats within a trial (repeated rows counted as participants); None: not checked.
    visit, visit_order : str or None, tuple of str or None
        Long data (repeated measures, ``docs/longitudinal.md``): the visit column (needs
        ``participant``) and the order of named visits (``--visit``, ``--visit-order``);
        ``bayes-ipd run`` then fits the repeated-measures model on both routes
        (:mod:`bayes_ipd.spec_repeated`).
    primary_visit : str or None
        With ``visit``: the visit reported as the main result (default: the last;
        ``--primary-visit``).
    reference : str or None
        The common comparator of a network of treatments: the treatment column then holds
        any number of levels and ``bayes-ipd run`` fits the network meta-analysis
        (``docs/network.md``; options in ``[network]``, :class:`NetworkSettings`).
    aggregate_arms, aggregate_contrasts : Path or None
        With ``reference``: CSVs of aggregate-data trials of the network, arm-level and
        contrast-level (:mod:`bayes_ipd.data.network_aggregate`; ``bayes-ipd network
        --aggregate-arms / --aggregate-contrasts``).
    allow_overlap : bool
        With ``aggregate_arms``: accept an arm given both as rows and as AD (other
        participants; ``--allow-overlap``).
    """

    path: Path | None
    summaries: tuple[Path, ...]
    study: str
    treatment: str | None
    outcome: str | None
    time: str | None
    event: str | None
    family: str
    experimental: str | None = None
    missing: str = "error"
    aggregate: Path | None = None
    aggregate_estimate: str = "estimate"
    aggregate_se: str = "se"
    aggregate_counts: bool = False
    aggregate_events_control: str = "events_control"
    aggregate_n_control: str = "n_control"
    aggregate_events_treated: str = "events_treated"
    aggregate_n_treated: str = "n_treated"
    levels: tuple[str, ...] | None = None
    participant: str | None = None
    visit: str | None = None
    visit_order: tuple[str, ...] | None = None
    primary_visit: str | None = None
    reference: str | None = None
    aggregate_arms: Path | None = None
    aggregate_contrasts: Path | None = None
    allow_overlap: bool = False

    def __post_init__(self) -> None:
        set_ = self._set
        for key in ("path", "aggregate", *NETWORK_AGGREGATE_FILES):
            value = getattr(self, key)
            set_(key, None if value is None else spec_path(f"data.{key}", value, None))
        for key in ("aggregate_estimate", "aggregate_se", *AGGREGATE_COUNT_KEYS):
            set_(key, name_value(f"data.{key}", getattr(self, key)))
        set_("aggregate_counts", flag("data.aggregate_counts", self.aggregate_counts))
        if self.aggregate_counts and self.aggregate is None:
            raise SpecError("data.aggregate_counts = true needs data.aggregate (the counts file)")
        summaries = self.summaries
        if isinstance(summaries, str | os.PathLike):
            summaries = (summaries,)
        if not isinstance(summaries, list | tuple):
            raise SpecError(f"data.summaries = {summaries!r} must be a list of file paths")
        set_("summaries", tuple(spec_path("data.summaries", s, None) for s in summaries))
        if self.path is None and not self.summaries and self.aggregate is None:
            raise SpecError("data needs path (participant rows), summaries or aggregate")
        set_("study", name_value("data.study", self.study))
        has_rows = self.path is not None or bool(self.summaries)
        treatment = name_value if has_rows else optional_name  # aggregate data has no arm column
        set_("treatment", treatment("data.treatment", self.treatment))
        set_("family", choice("data.family", self.family, FAMILY_NAMES))
        for key in ("outcome", "time", "event", "participant", "visit"):
            set_(key, optional_name(f"data.{key}", getattr(self, key)))
        self._check_visit_keys()
        self._check_outcome_columns()
        if self.experimental is not None and not isinstance(self.experimental, str):
            raise SpecError(
                f"data.experimental = {self.experimental!r} must be a string "
                f'(write experimental = "{self.experimental}")'
            )
        set_("missing", choice("data.missing", self.missing, MISSING_POLICIES))
        self._check_reference()
        self._check_network_aggregate()
        if self.levels is not None:
            set_("levels", level_list("data.levels", self.levels, get_family(self.family)))

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def _check_reference(self) -> None:
        """``reference``: a network of treatments (the treatment column's common comparator;
        ``docs/network.md``): participant rows only, not with ``experimental``."""
        if self.reference is None:
            return
        if not isinstance(self.reference, str) or not self.reference.strip():
            raise SpecError(
                f"data.reference = {self.reference!r} must be a treatment label "
                '(write reference = "No contact")'
            )
        clashes = {
            "experimental": self.experimental is not None,
            "summaries": bool(self.summaries),
            "aggregate": self.aggregate is not None,
            "visit": self.visit is not None,
        }
        for key, given in clashes.items():
            if given:
                raise SpecError(
                    f"data.{key} is not used with data.reference (a network of treatments "
                    "from participant rows; docs/network.md); remove it"
                )
        if self.path is None:
            raise SpecError("data.reference needs participant rows (data.path)")

    def _check_network_aggregate(self) -> None:
        """``aggregate_arms``, ``aggregate_contrasts``, ``allow_overlap``: aggregate-data
        trials of a network (``reference``); ``allow_overlap`` needs ``aggregate_arms``."""
        set_ = self._set
        set_("allow_overlap", flag("data.allow_overlap", self.allow_overlap))
        given = [k for k in NETWORK_AGGREGATE_KEYS if getattr(self, k) not in (None, False)]
        if given and self.reference is None:
            raise SpecError(
                f"data.{given[0]} is for a network of treatments: it needs data.reference "
                "(two-arm aggregate data: data.aggregate)"
            )
        if self.allow_overlap and self.aggregate_arms is None:
            raise SpecError(
                "data.allow_overlap = true needs data.aggregate_arms (an arm given both as "
                "rows and as aggregate data)"
            )

    def _check_visit_keys(self) -> None:
        from bayes_ipd.data.visits import parse_visit_order
        from bayes_ipd.errors import IPDDataError

        if self.visit is not None and self.participant is None:
            raise SpecError("data.visit needs data.participant (whose visits the rows are)")
        self._check_primary_visit()
        if self.visit_order is None:
            return
        if self.visit is None:
            raise SpecError("data.visit_order is for long data: give data.visit too")
        if not isinstance(self.visit_order, list | tuple):
            raise SpecError(f"data.visit_order = {self.visit_order!r} must be a list of names")
        try:
            self._set("visit_order", parse_visit_order(self.visit_order))
        except IPDDataError as exc:
            raise SpecError(f"data.{exc}") from exc

    def _check_primary_visit(self) -> None:
        value = self.primary_visit
        if value is None:
            return
        if self.visit is None:
            raise SpecError("data.primary_visit is for long data: give data.visit too")
        if isinstance(value, bool) or not isinstance(value, str | numbers.Real):
            raise SpecError(f"data.primary_visit = {value!r} must be a visit (a name or number)")
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        self._set("primary_visit", str(value).strip())

    def _check_outcome_columns(self) -> None:
        needed = get_family(self.family).required_response_names
        takes = get_family(self.family).response_names
        # aggregate data alone (no participant rows) needs no response column
        has_rows = self.path is not None or bool(self.summaries)
        for key in needed if has_rows else ():
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
            "participant": self.participant,
        }
        if self.aggregate is not None and self.aggregate_counts:
            d.update(aggregate=str(self.aggregate), aggregate_counts=True)
            d.update({key: getattr(self, key) for key in AGGREGATE_COUNT_KEYS})
        elif self.aggregate is not None:
            d.update(aggregate=str(self.aggregate), aggregate_estimate=self.aggregate_estimate)
            d["aggregate_se"] = self.aggregate_se
        if self.levels is not None:
            d["levels"] = list(self.levels)
        d["visit"] = self.visit
        d["reference"] = self.reference
        if self.visit_order is not None:
            d["visit_order"] = list(self.visit_order)
        d["primary_visit"] = self.primary_visit
        for key in NETWORK_AGGREGATE_FILES:
            d[key] = None if getattr(self, key) is None else str(getattr(self, key))
        d["allow_overlap"] = True if self.allow_overlap else None
        return {k: v for k, v in d.items() if v is not None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], base_dir: Path | None = None) -> DataSection:
        """Build from a ``[data]`` table; relative paths are taken from ``base_dir``."""
        check_keys("data", d, _DATA_FIELDS)
        # aggregate data alone: the study column is "study" unless named, no treatment column
        ad_only = "aggregate" in d and "path" not in d and not d.get("summaries")
        for key in ("family",) if ad_only else ("study", "treatment", "family"):
            if key not in d:
                raise SpecError(f"data.{key} is required")
        if ad_only and "study" not in d:
            d = {**d, "study": "study"}
        _check_aggregate_keys(d)
        defaults = (
            "summaries",
            "missing",
            "aggregate_estimate",
            "aggregate_se",
            "aggregate_counts",
            *AGGREGATE_COUNT_KEYS,
            "allow_overlap",
        )
        values = {k: d.get(k) for k in _DATA_FIELDS if k not in defaults}
        values.update({k: d[k] for k in defaults[2:] if k in d})
        for key in ("path", "aggregate", *NETWORK_AGGREGATE_FILES):
            if values[key] is not None:
                values[key] = spec_path(f"data.{key}", values[key], base_dir)
        summaries = d.get("summaries", ())
        if isinstance(summaries, list | tuple):
            summaries = tuple(spec_path("data.summaries", s, base_dir) for s in summaries)
        return cls(**values, summaries=summaries, missing=d.get("missing", "error"))


_DATA_FIELDS = tuple(f.name for f in dataclasses.fields(DataSection))


def _check_aggregate_keys(d: Mapping[str, Any]) -> None:
    """Column keys of the other kind of aggregate file are refused, not ignored: estimate
    and SE columns with ``aggregate_counts = true``, count columns without it."""
    counts = d.get("aggregate_counts") is True
    unused = ("aggregate_estimate", "aggregate_se") if counts else AGGREGATE_COUNT_KEYS
    for key in unused:
        if key in d:
            hint = (
                "the counts file has no estimate/SE columns"
                if counts
                else "count columns need data.aggregate_counts = true"
            )
            raise SpecError(f"data.{key} is not used here: {hint}; remove it")


NETWORK_ROUTES = ("both", "two-stage", "one-stage")
NETWORK_SPARSE = ("none", "cc")
NETWORK_SMALL_VALUES = ("desirable", "undesirable")


def _classes(value: Any) -> MappingProxyType:
    """``network.classes``: a table of treatment level -> class name (both non-empty text)."""
    if not isinstance(value, Mapping):
        raise SpecError(
            f"network.classes must be a table of treatment level = class name "
            f'(e.g. {{ "B" = "active", "C" = "active" }}), not {value!r}'
        )
    for level, label in value.items():
        if not isinstance(level, str) or not level.strip():
            raise SpecError(f"network.classes: a treatment level must be text, not {level!r}")
        if not isinstance(label, str) or not label.strip():
            raise SpecError(
                f"network.classes: treatment {level!r} needs a class name (text), not {label!r}"
            )
    return MappingProxyType({k.strip(): v.strip() for k, v in value.items()})


@dataclass(frozen=True)
class NetworkSettings:
    """``[network]``: options of a network meta-analysis (``[data] reference``; see
    ``docs/network.md``).

    Parameters
    ----------
    route : {"both", "two-stage", "one-stage"}
        Which routes ``bayes-ipd run`` fits (default both, as ``run`` does for two arms).
    sparse : {"none", "cc"} or None
        Two-stage arms with no events: exclude their trials, or add 0.5 to every cell of
        those trials; None refuses them (``bayes-ipd network --sparse``).
    small_values : {"desirable", "undesirable"}
        Orientation of P-scores, SUCRA and rank probabilities (R netmeta's ``small.values``).
    inconsistency : bool
        One-stage: also fit the unrelated-mean-effects model and the node-splits.
    classes : mapping of str to str
        Treatment level -> class name: the treatments of a class share one
        treatment-covariate interaction (needs ``[model] interactions``; ``bayes-ipd
        network --classes``). Empty: one interaction per treatment.
    """

    route: str = "both"
    sparse: str | None = None
    small_values: str = "desirable"
    inconsistency: bool = False
    classes: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )

    def __post_init__(self) -> None:
        choice("network.route", self.route, NETWORK_ROUTES)
        if self.sparse is not None:
            choice("network.sparse", self.sparse, NETWORK_SPARSE)
        choice("network.small_values", self.small_values, NETWORK_SMALL_VALUES)
        flag("network.inconsistency", self.inconsistency)
        object.__setattr__(self, "classes", _classes(self.classes))

    @property
    def routes(self) -> tuple[str, ...]:
        """The routes fitted, two-stage first."""
        return ("two-stage", "one-stage") if self.route == "both" else (self.route,)

    def to_dict(self) -> dict[str, Any]:
        """Plain TOML/JSON-ready values (``sparse`` left out when None, ``classes`` when
        empty)."""
        out = {
            "route": self.route,
            "sparse": self.sparse,
            "small_values": self.small_values,
            "inconsistency": self.inconsistency,
        }
        out = {k: v for k, v in out.items() if v is not None}
        return out | ({"classes": dict(self.classes)} if self.classes else {})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NetworkSettings:
        """Inverse of :meth:`to_dict`; an unknown key is a SpecError naming it."""
        check_keys("network", d, tuple(f.name for f in dataclasses.fields(cls)))
        return cls(**d)


@dataclass(frozen=True)
class ReportSettings:
    """``[report]``: PRISMA-IPD flow counts and published primary results for ``run --report``
    (integrity differences beyond ``integrity_threshold`` SEs are flagged); ``trials``, a
    CSV of every eligible trial's characteristics, with IPD or not, for the comparison of
    trials that supplied IPD with those that did not (:mod:`bayes_ipd.responders`; the
    flow TOML's ``[[trial]]`` tables serve when it is not given)."""

    flow: Path | None = None
    published: Path | None = None
    integrity_threshold: float | None = None
    trials: Path | None = None

    def __post_init__(self) -> None:
        x = self.integrity_threshold
        # not (x > 0) also refuses nan, which compares false with everything; inf flags nothing
        bad = isinstance(x, bool) or not isinstance(x, int | float)
        if x is not None and (bad or not (0 < x < math.inf)):
            raise SpecError(f"report.integrity_threshold = {x!r} must be a finite number > 0")

    def to_dict(self) -> dict[str, Any]:
        """Plain values (paths as strings); None values left out."""
        d = dataclasses.asdict(self)
        return {k: v if k == "integrity_threshold" else str(v) for k, v in d.items() if v}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], base_dir: Path | None = None) -> ReportSettings:
        """Build from a ``[report]`` table; relative paths are taken from ``base_dir``."""
        check_keys("report", d, ("flow", "published", "integrity_threshold", "trials"))
        paths = {
            k: spec_path(f"report.{k}", d[k], base_dir)
            for k in ("flow", "published", "trials")
            if k in d
        }
        return cls(**{**d, **paths})


ITE_RANDOM = ("all", "treatment")
ITE_WEIGHTS = ("auxiliary", "bootstrap")
ITE_META = ("T", "S")


@dataclass(frozen=True)
class ITESettings:
    """``[ite]``: individualised treatment effects on the spec's participant rows, as
    ``bayes-ipd ite`` computes them (:func:`bayes_ipd.ite.fit_ite`); the keys and defaults
    are the command's options.

    Parameters
    ----------
    covariates : tuple of str
        Numeric covariates (each a main effect and a treatment interaction); at least one.
    new : Path
        CSV of the new patients' covariate profiles (``--new PATIENTS.csv``).
    stage1 : {"ols", "ridge", "lasso", "forest", "boosting", "bayes"}
    stage2 : {"mvma", "weighted", "mvbayes", "mixing"} or None
        None: ``mvma`` for ols / bayes, ``weighted`` for the others (as the command).
    random : {"all", "treatment"}
    weights : {"auxiliary", "bootstrap"}
    meta : {"T", "S"}
        Meta-learner of the machine-learning stage 1.
    seed : int
        Random seed (>= 0).
    level : float
        Interval level, in (0, 1).

    Raises
    ------
    SpecError
        Naming ``ite.<key>``, the value and the allowed values; a stage-1 x stage-2
        combination the method cannot do.
    """

    covariates: tuple[str, ...]
    new: Path
    stage1: str = "ols"
    stage2: str | None = None
    random: str = "all"
    weights: str = "auxiliary"
    meta: str = "T"
    seed: int = 0
    level: float = 0.95

    def __post_init__(self) -> None:
        from bayes_ipd.ite.learners import LEARNER_NAMES, get_learner
        from bayes_ipd.ite.stage2 import STAGE2_NAMES, check_feasible

        set_ = self._set
        set_("covariates", names_value("ite.covariates", self.covariates))
        if not self.covariates:
            raise SpecError("ite.covariates names no column; give at least one covariate")
        set_("new", spec_path("ite.new", self.new, None))
        set_("stage1", choice("ite.stage1", self.stage1, LEARNER_NAMES))
        choice("ite.meta", self.meta, ITE_META)
        learner = get_learner(self.stage1, self.meta)
        if self.stage2 is None:
            set_("stage2", default_ite_stage2(learner))
        choice("ite.stage2", self.stage2, STAGE2_NAMES)
        choice("ite.random", self.random, ITE_RANDOM)
        choice("ite.weights", self.weights, ITE_WEIGHTS)
        set_("seed", positive_int("ite.seed", self.seed, minimum=0))
        x = self.level
        if isinstance(x, bool) or not isinstance(x, numbers.Real) or not 0 < x < 1:
            raise SpecError(f"ite.level = {x!r} must be a number between 0 and 1")
        set_("level", float(x))
        try:
            check_feasible(learner, self.stage2)
        except SpecError as err:
            raise SpecError(f"ite.stage2 = {self.stage2!r}: {err}") from None

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """Plain TOML/JSON-ready values (the path as an absolute string)."""
        return dataclasses.asdict(self) | {
            "covariates": list(self.covariates),
            "new": str(self.new),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], base_dir: Path | None = None) -> ITESettings:
        """Build from an ``[ite]`` table; a relative ``new`` is taken from ``base_dir``."""
        check_keys("ite", d, _ITE_FIELDS)
        for key in ("covariates", "new"):
            if key not in d:
                raise SpecError(f"ite.{key} is required in [ite]")
        return cls(**{**d, "new": spec_path("ite.new", d["new"], base_dir)})


_ITE_FIELDS = tuple(f.name for f in dataclasses.fields(ITESettings))


def default_ite_stage2(learner: Any) -> str:
    """The stage 2 used when none is given: ``mvma`` for a learner with coefficients and
    their covariance (ols, bayes), else ``weighted``
    (:func:`bayes_ipd.ite.stage2.default_ite_stage2`)."""
    from bayes_ipd.ite.stage2 import default_ite_stage2 as rule  # ite owns the rule

    return rule(learner)
