"""Checked values of the analysis-spec sections: choices, flags, counts, column names,
cut points, priors by slot, file paths (``dataset:NAME`` for shipped data) and section keys.

Each function takes the dotted key it checks (``"sampler.draws"``) for its error message.
"""

from __future__ import annotations

import itertools
import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bayes_ipd.errors import PriorError, SpecError
from bayes_ipd.families import get_family
from bayes_ipd.priors import SLOTS, Prior, as_prior, check_family_slots, check_slot

__all__ = [
    "DATASET_PREFIX",
    "check_keys",
    "choice",
    "flag",
    "intervals",
    "level_list",
    "name_value",
    "names_value",
    "optional_name",
    "positive_int",
    "prior_mapping",
    "rmst_horizons",
    "spec_path",
]


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise SpecError(f"{name} = {value!r} is not allowed; choose one of {options}")
    return value


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"{name} = {value!r} must be true or false")
    return value


def positive_int(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        bound = f"an integer >= {minimum}" if maximum is None else _range(minimum, maximum)
        raise SpecError(f"{name} = {value!r} must be {bound}")
    if maximum is not None and value > maximum:
        raise SpecError(f"{name} = {value!r} must be {_range(minimum, maximum)}")
    return int(value)


def _range(minimum: int, maximum: int) -> str:
    return f"an integer from {minimum:,} to {maximum:,}"


def name_value(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{name} = {value!r} must be a non-empty column name")
    return value


def optional_name(name: str, value: Any) -> str | None:
    return None if value is None else name_value(name, value)


def names_value(name: str, value: Any) -> tuple[str, ...]:
    """A tuple of distinct column names; a lone string counts as one name."""
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, list | tuple):
        raise SpecError(f"{name} = {value!r} must be a list of column names")
    out = tuple(name_value(name, v) for v in value)
    repeated = sorted({v for v in out if out.count(v) > 1})
    if repeated:
        raise SpecError(f"{name} lists {', '.join(map(repr, repeated))} more than once")
    return out


def intervals(value: Any) -> int | tuple[float, ...]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return positive_int("model.intervals", value)
    if not isinstance(value, list | tuple) or not value:
        raise SpecError(
            f"model.intervals = {value!r} must be a number of intervals (integer >= 1) "
            "or a non-empty list of increasing cut points > 0"
        )
    cuts = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise SpecError(f"model.intervals: cut point {v!r} is not a finite number")
        if v <= 0:
            raise SpecError(f"model.intervals: cut point {v!r} must be > 0")
        cuts.append(float(v))
    for a, b in itertools.pairwise(cuts):
        if not a < b:
            raise SpecError(f"model.intervals: cut points must increase, but {b!r} follows {a!r}")
    return tuple(cuts)


def rmst_horizons(value: Any, family: Any) -> tuple[float, ...]:
    """Horizons of the restricted mean survival time: distinct finite times > 0, for a
    family with a baseline hazard (``model.rmst_horizons``)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, list | tuple):
        raise SpecError(f"model.rmst_horizons = {value!r} must be a list of times > 0")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise SpecError(f"model.rmst_horizons: horizon {v!r} is not a finite number")
        if v <= 0:
            raise SpecError(f"model.rmst_horizons: horizon {v!r} must be > 0")
        out.append(float(v))
    repeated = sorted({v for v in out if out.count(v) > 1})
    if repeated:
        raise SpecError(f"model.rmst_horizons lists {repeated[0]!r} more than once")
    if out and not family.has_baseline_hazard:
        raise SpecError(
            f"model.rmst_horizons is for a survival outcome, not family {family.name!r}"
        )
    return tuple(out)


def level_list(name: str, value: Any, family: Any) -> tuple[str, ...]:
    """An ordinal outcome's levels, lowest first: a list of at least two distinct labels
    (numbers written as the data layer labels them, ``1.0`` as ``"1"``), for a family whose
    outcome is ordinal (``family.responses``)."""
    from bayes_ipd.data.levels import level_labels

    if not any(r.coded_from_levels for r in family.responses):
        raise SpecError(f"{name} is for an ordinal outcome, not family {family.name!r}; remove it")
    if isinstance(value, str) or not isinstance(value, list | tuple) or len(value) < 2:
        raise SpecError(
            f"{name} = {value!r} must be a list of at least two levels, lowest first "
            '(e.g. levels = ["mild", "moderate", "severe"])'
        )
    for v in value:
        if isinstance(v, bool) or not isinstance(v, str | numbers.Real):
            raise SpecError(f"{name}: level {v!r} must be a string or a number")
    try:
        return level_labels(list(value))
    except ValueError as err:
        raise SpecError(f"{name}: {err}") from None


def prior_mapping(value: Any, family: str) -> MappingProxyType:
    if not isinstance(value, Mapping):
        raise SpecError(f"priors = {value!r} must be a mapping of slot to prior")
    parsed: dict[str, Prior] = {}
    for slot, text in value.items():
        try:
            prior = as_prior(text)
            check_slot(slot, prior)
        except PriorError as err:
            raise PriorError(f"priors.{slot}: {err}") from None
        parsed[slot] = prior
    check_family_slots(get_family(family), parsed, where="priors.")
    return MappingProxyType({s: parsed[s] for s in SLOTS if s in parsed})


def check_keys(section: str, given: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in given:
        if key not in allowed:
            hint = " (family is set in [data])" if (section, key) == ("model", "family") else ""
            raise SpecError(
                f"unknown key {section}.{key}{hint}; allowed keys in [{section}]: "
                f"{', '.join(allowed)}"
            )


# --------------------------------------------------------------------------- ModelSpec


DATASET_PREFIX = "dataset:"
"""A spec path ``"dataset:bcg_ipd.csv.gz"`` names a file shipped in ``bayes_ipd/datasets``."""


def spec_path(name: str, value: Any, base_dir: Path | None) -> Path:
    """``value`` as a Path; made absolute against ``base_dir`` when relative; a
    ``dataset:NAME`` value is the shipped data file NAME."""
    if not isinstance(value, str | os.PathLike) or not str(value).strip():
        raise SpecError(f"{name} = {value!r} must be a file path")
    if isinstance(value, str) and value.startswith(DATASET_PREFIX):
        from bayes_ipd.datasets.catalogue import CATALOGUE

        shipped = value[len(DATASET_PREFIX) :].strip()
        # Only a file of the catalogue: "dataset:../../etc/passwd" must not leave the folder.
        for entry in CATALOGUE:
            if shipped == entry.file:
                return entry.path
        files = ", ".join(entry.file for entry in CATALOGUE)
        raise SpecError(
            f"{name} = {value!r}: no shipped data file {shipped!r}; {DATASET_PREFIX}NAME "
            f"takes one of: {files}"
        )
    path = Path(value)
    if base_dir is not None and not path.is_absolute():
        path = Path(os.path.abspath(Path(base_dir) / path))
    return path
