"""Harmonisation rules as values: the ``[harmonise]`` section of a spec, or the ``rules`` of
:func:`bayes_ipd.data.harmonise.harmonise`.

The TOML shape (every key of a rule listed; ``trial`` is optional everywhere: without it the
rule applies to every trial)::

    [[harmonise.rename]]          # a column under another name
    trial = "T2"
    from = "wt"
    to = "weight"

    [[harmonise.recode]]          # a categorical column's levels coded anew
    trial = "T3"
    column = "sex"
    levels = {M = 1, F = 0}       # every level present in the trial's rows needs a code

    [[harmonise.convert]]         # new = factor * x + offset
    trial = "T2"
    column = "weight"
    units = "lb -> kg"            # a named conversion (bayes_ipd.data.units), or:
    # factor = 0.45359237         # explicit factor (and offset, default 0)
    # substance = "glucose"       # with units = "mg/dL -> mmol/L" (molar conversions)

    [[harmonise.crosswalk]]       # an outcome scale mapped onto another: new = a + b * x
    trial = "T4"
    column = "score"
    a = 1.5
    b = 0.8
    source = "Smith et al. 2010, table 3"   # required: where the equation comes from

    [[harmonise.standardise]]     # outcome / the trial's pooled within-arm SD (SMD scale)
    column = "score"

Rules are applied kind by kind in this order (renames, recodes, conversions, crosswalks,
standardisations), each kind in the order written. Time units are conversions
(``units = "days -> months"``).
"""

from __future__ import annotations

import math
import numbers
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bayes_ipd.data.units import find_conversion
from bayes_ipd.errors import SpecError

__all__ = [
    "KINDS",
    "Convert",
    "Crosswalk",
    "HarmoniseRules",
    "Recode",
    "Rename",
    "Rule",
    "Standardise",
    "read_rules",
]

KINDS = ("rename", "recode", "convert", "crosswalk", "standardise")
"""The rule kinds of ``[harmonise]``, in the order they are applied."""


def _name(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where}.{key} = {value!r} must be a non-empty string")
    return value


def _trial(where: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SpecError(f"{where}.trial = {value!r} must be a trial label (a string)")
    return str(value)


def _number(where: str, key: str, value: Any) -> float:
    bad = isinstance(value, bool) or not isinstance(value, numbers.Real)
    if bad or not math.isfinite(float(value)):
        raise SpecError(f"{where}.{key} = {value!r} must be a finite number")
    return float(value)


def _scope(trial: str | None) -> str:
    return "every trial" if trial is None else f"trial {trial!r}"


def _num_text(x: float) -> str:
    return f"{x:.10g}"


@dataclass(frozen=True)
class Rename:
    """Column ``source`` is read as ``target`` (in one trial's rows, or as a whole)."""

    source: str
    target: str
    trial: str | None = None
    kind = "rename"

    @property
    def column(self) -> str:
        return self.source

    @property
    def label(self) -> str:
        return f"rename {self.source!r} -> {self.target!r} ({_scope(self.trial)})"

    @property
    def text(self) -> str:
        return f"rename {self.source} -> {self.target}"

    def to_dict(self) -> dict[str, Any]:
        return _with_trial(self.trial, {"from": self.source, "to": self.target})


@dataclass(frozen=True)
class Recode:
    """Levels of ``column`` replaced by codes (``{"M": 1, "F": 0}``)."""

    column: str
    levels: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    trial: str | None = None
    kind = "recode"

    @property
    def label(self) -> str:
        return f"recode {self.column!r} ({_scope(self.trial)})"

    @property
    def text(self) -> str:
        pairs = ", ".join(f"{k} = {v}" for k, v in self.levels.items())
        return f"recode {{{pairs}}}"

    def to_dict(self) -> dict[str, Any]:
        return _with_trial(self.trial, {"column": self.column, "levels": dict(self.levels)})


@dataclass(frozen=True)
class Convert:
    """``new = factor * x + offset``; named (``units``) or explicit."""

    column: str
    factor: float
    offset: float = 0.0
    units: str | None = None
    substance: str | None = None
    trial: str | None = None
    kind = "convert"

    @property
    def label(self) -> str:
        return f"convert {self.column!r} {self.how} ({_scope(self.trial)})"

    @property
    def how(self) -> str:
        if self.units is not None:
            return self.units + (f" ({self.substance})" if self.substance else "")
        offset = f" + {_num_text(self.offset)}" if self.offset else ""
        return f"x * {_num_text(self.factor)}{offset}"

    @property
    def text(self) -> str:
        if self.units is None:
            return f"convert {self.how}"
        offset = f" + {_num_text(self.offset)}" if self.offset else ""
        return f"convert {self.how}: x * {_num_text(self.factor)}{offset}"

    def to_dict(self) -> dict[str, Any]:
        if self.units is not None:
            d: dict[str, Any] = {"column": self.column, "units": self.units}
            if self.substance is not None:
                d["substance"] = self.substance
        else:
            d = {"column": self.column, "factor": self.factor}
            if self.offset:
                d["offset"] = self.offset
        return _with_trial(self.trial, d)


@dataclass(frozen=True)
class Crosswalk:
    """An outcome scale mapped onto another by a stated linear equation ``a + b * x``."""

    column: str
    a: float
    b: float
    source: str
    trial: str | None = None
    kind = "crosswalk"

    @property
    def label(self) -> str:
        return f"crosswalk {self.column!r} ({_scope(self.trial)})"

    @property
    def text(self) -> str:
        return f"crosswalk {_num_text(self.a)} + {_num_text(self.b)} * x (source: {self.source})"

    def to_dict(self) -> dict[str, Any]:
        d = {"column": self.column, "a": self.a, "b": self.b, "source": self.source}
        return _with_trial(self.trial, d)


@dataclass(frozen=True)
class Standardise:
    """The outcome divided by the trial's pooled within-arm SD (effects become SMDs)."""

    column: str
    trial: str | None = None
    kind = "standardise"

    @property
    def label(self) -> str:
        return f"standardise {self.column!r} ({_scope(self.trial)})"

    @property
    def text(self) -> str:
        return "standardise: x / pooled within-arm SD"

    def to_dict(self) -> dict[str, Any]:
        return _with_trial(self.trial, {"column": self.column})


Rule = Rename | Recode | Convert | Crosswalk | Standardise


def _with_trial(trial: str | None, d: dict[str, Any]) -> dict[str, Any]:
    return d if trial is None else {"trial": trial, **d}


_KEYS: dict[str, tuple[str, ...]] = {
    "rename": ("trial", "from", "to"),
    "recode": ("trial", "column", "levels"),
    "convert": ("trial", "column", "units", "substance", "factor", "offset"),
    "crosswalk": ("trial", "column", "a", "b", "source"),
    "standardise": ("trial", "column"),
}


def _check_keys(where: str, table: Mapping[str, Any], kind: str) -> None:
    allowed = _KEYS[kind]
    for key in table:
        if key not in allowed:
            raise SpecError(f"unknown key {where}.{key}; allowed keys: {', '.join(allowed)}")
    required = {"rename": ("from", "to"), "crosswalk": ("column", "a", "b", "source")}
    for key in required.get(kind, ("column",)):
        if key not in table:
            hint = " (where the equation comes from)" if key == "source" else ""
            raise SpecError(f"{where}.{key} is required{hint}")


def _level_code(where: str, level: str, code: Any) -> Any:
    if isinstance(code, bool) or not isinstance(code, str | numbers.Real):
        raise SpecError(f"{where}.levels.{level} = {code!r} must be a number or a string")
    if isinstance(code, float) and not math.isfinite(code):
        raise SpecError(f"{where}.levels.{level} = {code!r} must be finite")
    return code


def _rule(kind: str, where: str, table: Any) -> Rule:
    if not isinstance(table, Mapping):
        raise SpecError(f"{where} must be a table (write [[harmonise.{kind}]]), got {table!r}")
    _check_keys(where, table, kind)
    trial = _trial(where, table.get("trial"))
    if kind == "rename":
        source, target = _name(where, "from", table["from"]), _name(where, "to", table["to"])
        if source == target:
            raise SpecError(f"{where}: from and to are both {source!r}")
        return Rename(source, target, trial)
    column = _name(where, "column", table["column"])
    if kind == "recode":
        return Recode(column, _levels(where, table.get("levels")), trial)
    if kind == "convert":
        return _convert(where, column, table, trial)
    if kind == "crosswalk":
        source = table["source"]
        if not isinstance(source, str) or not source.strip():
            raise SpecError(
                f"{where}.source = {source!r}: a crosswalk needs its source (the publication "
                "or table the equation a + b * x comes from)"
            )
        a, b = _number(where, "a", table["a"]), _number(where, "b", table["b"])
        if b == 0:
            raise SpecError(f"{where}.b = 0 maps every value onto one")
        return Crosswalk(column, a, b, source.strip(), trial)
    return Standardise(column, trial)


def _levels(where: str, levels: Any) -> Mapping[str, Any]:
    if not isinstance(levels, Mapping) or not levels:
        raise SpecError(f"{where}.levels = {levels!r} must be a table such as {{M = 1, F = 0}}")
    return MappingProxyType({str(k): _level_code(where, str(k), v) for k, v in levels.items()})


def _convert(where: str, column: str, table: Mapping[str, Any], trial: str | None) -> Convert:
    units, substance = table.get("units"), table.get("substance")
    if units is not None and ("factor" in table or "offset" in table):
        raise SpecError(f"{where}: give units or factor (and offset), not both")
    if units is not None:
        try:
            conversion = find_conversion(units, substance)
        except SpecError as err:
            raise SpecError(f"{where}.{err}") from None
        return Convert(
            column, conversion.factor, conversion.offset, units.strip(), substance, trial
        )
    if substance is not None:
        raise SpecError(f"{where}.substance is used with units only")
    if "factor" not in table:
        raise SpecError(f'{where} needs units (e.g. "lb -> kg") or factor (and offset)')
    factor = _number(where, "factor", table["factor"])
    if factor == 0:
        raise SpecError(f"{where}.factor = 0 maps every value onto one")
    return Convert(
        column, factor, _number(where, "offset", table.get("offset", 0.0)), None, None, trial
    )


@dataclass(frozen=True)
class HarmoniseRules:
    """Every rule of a ``[harmonise]`` section, by kind.

    Examples
    --------
    >>> rules = HarmoniseRules.from_dict(
    ...     {"convert": [{"trial": "T2", "column": "weight", "units": "lb -> kg"}]}
    ... )
    >>> rules.convert[0].factor
    0.45359237
    >>> rules.to_dict()
    {'convert': [{'trial': 'T2', 'column': 'weight', 'units': 'lb -> kg'}]}
    """

    rename: tuple[Rename, ...] = ()
    recode: tuple[Recode, ...] = ()
    convert: tuple[Convert, ...] = ()
    crosswalk: tuple[Crosswalk, ...] = ()
    standardise: tuple[Standardise, ...] = ()

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule, in the order applied."""
        return tuple(rule for kind in KINDS for rule in getattr(self, kind))

    def __len__(self) -> int:
        return len(self.rules)

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        """The ``[harmonise]`` table as plain values (kinds without rules left out)."""
        return {
            kind: [rule.to_dict() for rule in getattr(self, kind)]
            for kind in KINDS
            if getattr(self, kind)
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "harmonise") -> HarmoniseRules:
        """Build from a ``[harmonise]`` table.

        Raises
        ------
        SpecError
            An unknown kind or key, a missing required key (a crosswalk without
            ``source``), a bad value or an unknown named conversion, naming
            ``harmonise.<kind>[<i>].<key>``.
        """
        if not isinstance(d, Mapping):
            raise SpecError(f"[{where}] must be a table, got {d!r}")
        out: dict[str, tuple[Any, ...]] = {}
        for kind, tables in d.items():
            if kind not in KINDS:
                raise SpecError(
                    f"unknown key {where}.{kind}; rule kinds: {', '.join(KINDS)} "
                    f"(each written [[{where}.KIND]])"
                )
            if isinstance(tables, Mapping):
                tables = [tables]
            if isinstance(tables, str) or not isinstance(tables, Sequence):
                raise SpecError(f"{where}.{kind} must be a list of tables ([[{where}.{kind}]])")
            out[kind] = tuple(
                _rule(kind, f"{where}.{kind}[{i}]", t) for i, t in enumerate(tables, start=1)
            )
        if not any(out.values()):
            raise SpecError(f"[{where}] holds no rule; remove the section or add rules")
        return cls(**out)


def read_rules(path: str | os.PathLike[str]) -> HarmoniseRules:
    """The ``[harmonise]`` table of a TOML file (a rules file, or a whole analysis spec whose
    other sections are left aside).

    Raises
    ------
    SpecError
        The file missing or unreadable, bad TOML, no ``[harmonise]`` table, or bad rules;
        naming the file.
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise SpecError(f"rules file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: cannot read the rules: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: invalid TOML: {err}") from None
    if "harmonise" not in doc:
        raise SpecError(f"{path}: no [harmonise] table (write rules as [[harmonise.convert]] ...)")
    try:
        return HarmoniseRules.from_dict(doc["harmonise"])
    except SpecError as err:
        raise SpecError(f"{path}: {err}") from None
