"""Validation of the arguments and of the kept rows of participant data.

Every function here refuses by raising :class:`~bayes_ipd.errors.IPDDataError` naming the
column, trial, value or row at fault. Nothing here names an outcome family: what differs
between families (which response columns, which value check, whether trials without events
deserve a warning) is asked of the :class:`~bayes_ipd.families.Family` plug-in.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.data.messages import RowName, number_text, quoted, value_label
from bayes_ipd.data.missing import MISSING_POLICIES
from bayes_ipd.data.parsing import Treatment
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families import REGISTRY, Family

__all__ = [
    "RESPONSE_KEYWORDS",
    "VALUE_CHECKS",
    "KeptRows",
    "ValueCheck",
    "arm_names",
    "check_binary",
    "check_both_arms",
    "check_column_names",
    "check_columns_exist",
    "check_count",
    "check_enough_trials",
    "check_finite",
    "check_missing_policy",
    "check_positive",
    "check_responses",
    "check_roles",
    "covariate_tuple",
    "treatment_levels",
    "warn_event_free_trials",
]

RESPONSE_KEYWORDS: tuple[str, ...] = tuple(
    dict.fromkeys(name for plugin in REGISTRY.values() for name in plugin.response_names)
)
"""Every response keyword some family reads (``"outcome"``, ``"time"``, ``"event"``)."""


# --------------------------------------------------------------------------------------------
# argument checks


def check_missing_policy(missing: str) -> None:
    """Refuse a ``missing=`` that is not one of :data:`MISSING_POLICIES`."""
    if missing not in MISSING_POLICIES:
        raise IPDDataError(
            f"missing={missing!r} is not a missing-data policy; use one of "
            f"{quoted(MISSING_POLICIES)}"
        )


def check_roles(family: Family, given: Mapping[str, str | None]) -> None:
    """Exactly the family's response keywords were given.

    Parameters
    ----------
    family : Family
    given : Mapping[str, str or None]
        Column name per response keyword of :meth:`~bayes_ipd.data.IPD.from_frame` (None
        when the keyword was not given).

    Raises
    ------
    IPDDataError
        Naming the first keyword the family needs that is absent, else the keywords given
        that the family does not take (with the family that takes them, when only one does).
    """
    for role in family.responses:
        if given.get(role.role) is None and not role.optional:
            raise IPDDataError(
                f"family {family.name!r} needs {role.role}= ({role.description}); it was not given"
            )
    extra = {k: v for k, v in given.items() if v is not None and k not in family.response_names}
    if extra:
        takes = _and_list([f"{name}=" for name in family.response_names])
        refused = "/".join(f"{name}=" for name in extra)
        raise IPDDataError(
            f"family {family.name!r} takes {takes}, not {refused}{_roles_hint(family, extra)}"
        )


def _and_list(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _roles_hint(family: Family, extra: Mapping[str, str]) -> str:
    """The one family that takes the refused keywords, else the refused arguments."""
    takers = [
        other
        for other in REGISTRY.values()
        if other is not family and set(extra) <= set(other.response_names)
    ]
    if len(takers) == 1:
        other = takers[0]
        return f"; use family={other.name!r} for {other.data_kind}"
    return f" (got {', '.join(f'{name}={value!r}' for name, value in extra.items())})"


def covariate_tuple(covariates: str | Iterable[str]) -> tuple[str, ...]:
    """The covariate names as a tuple (one string is one covariate); no name twice."""
    names = (covariates,) if isinstance(covariates, str) else tuple(covariates)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise IPDDataError(f"covariate {name!r} is listed more than once")
        seen.add(name)
    return names


def check_column_names(roles: Mapping[str, str]) -> None:
    """Every used column is a string and plays one role only.

    Parameters
    ----------
    roles : Mapping[str, str]
        Column name per role (``"study"``, ``"outcome"``, ``"covariate 'age'"``, ...).
    """
    for role, name in roles.items():
        if not isinstance(name, str):
            raise IPDDataError(f"{role}= must be a column name (str); got {name!r}")
    by_name: dict[str, list[str]] = {}
    for role, name in roles.items():
        by_name.setdefault(name, []).append(role)
    for name, used_as in by_name.items():
        if len(used_as) > 1:
            raise IPDDataError(
                f"column {name!r} is used for more than one role ({', '.join(used_as)})"
            )


def check_columns_exist(df: pd.DataFrame, roles: Mapping[str, str]) -> None:
    """Every used column is in ``df``, once.

    Parameters
    ----------
    df : DataFrame
    roles : Mapping[str, str]
        Column name per role.
    """
    absent = [f"{name!r} ({role})" for role, name in roles.items() if name not in df.columns]
    if absent:
        raise IPDDataError(
            f"column(s) not found: {', '.join(absent)}; the data have columns "
            f"{quoted(map(str, df.columns), limit=40)}"
        )
    duplicated = [name for name in roles.values() if int((df.columns == name).sum()) > 1]
    if duplicated:
        raise IPDDataError(f"column(s) {quoted(duplicated)} appear more than once in the data")


# --------------------------------------------------------------------------------------------
# checks on the kept rows


@dataclass(frozen=True)
class KeptRows:
    """Where the kept rows come from, to name an offending row.

    Attributes
    ----------
    codes : ndarray of int64
        Trial code per kept row.
    studies : tuple of str
        Trial labels of the codes.
    row_name : RowName
        Names a source row by its position in the input.
    kept : ndarray of int
        Input position of each kept row.
    """

    codes: np.ndarray
    studies: tuple[str, ...]
    row_name: RowName
    kept: np.ndarray

    def first_bad(self, bad: np.ndarray, values: np.ndarray) -> str:
        """``2 in trial 'T3' (row 17; 4 such row(s))`` for the first offending row."""
        positions = np.flatnonzero(bad)
        first = int(positions[0])
        trial = self.studies[int(self.codes[first])]
        return (
            f"{number_text(values[first])} in trial {trial!r} "
            f"({self.row_name(int(self.kept[first]))}; {positions.size} such row(s))"
        )


ValueCheck = Callable[[np.ndarray, str, str, KeptRows], None]
"""``check(values, column, label, rows)``: refuse the values of one column."""


def check_finite(values: np.ndarray, column: str, label: str, rows: KeptRows) -> None:
    """Refuse a NaN or infinite value.

    Parameters
    ----------
    values : ndarray of float64
        The kept rows of the column.
    column, label : str
        The column's name and what it holds (``"outcome"``, ``"covariate"``).
    rows : KeptRows
    """
    bad = ~np.isfinite(values)
    if bad.any():
        where = rows.first_bad(bad, values)
        raise IPDDataError(f"column {column!r} ({label}) holds a non-finite value: {where}")


def check_binary(values: np.ndarray, column: str, label: str, rows: KeptRows) -> None:
    """Refuse a value other than 0 or 1 (parameters as :func:`check_finite`)."""
    bad = (values != 0.0) & (values != 1.0)
    if bad.any():
        where = rows.first_bad(bad, values)
        raise IPDDataError(f"{label} {column!r} must be 0 or 1; found {where}")


def check_positive(values: np.ndarray, column: str, label: str, rows: KeptRows) -> None:
    """Refuse a non-finite value or one <= 0 (parameters as :func:`check_finite`)."""
    check_finite(values, column, label, rows)
    bad = values <= 0.0
    if bad.any():
        where = rows.first_bad(bad, values)
        raise IPDDataError(f"{label} {column!r} must be > 0; found {where}")


def check_count(values: np.ndarray, column: str, label: str, rows: KeptRows) -> None:
    """Refuse a non-finite, negative or non-integer value (parameters as :func:`check_finite`)."""
    check_finite(values, column, label, rows)
    bad = (values < 0.0) | (values != np.round(values))
    if bad.any():
        where = rows.first_bad(bad, values)
        raise IPDDataError(f"{label} {column!r} must be a count (0, 1, 2, ...); found {where}")


VALUE_CHECKS: Mapping[str, ValueCheck] = MappingProxyType(
    {
        "finite": check_finite,
        "binary": check_binary,
        "positive": check_positive,
        "count": check_count,
        "ordinal": check_finite,  # coded 0..J-1 from its levels when parsed
    }
)
"""The value check of each :attr:`bayes_ipd.families.ResponseRole.check`."""


def check_responses(
    family: Family,
    columns: Mapping[str, str],
    responses: Mapping[str, np.ndarray],
    rows: KeptRows,
) -> None:
    """Apply each response column's value check (finite, 0/1, > 0) as its family says.

    Parameters
    ----------
    family : Family
    columns : Mapping[str, str]
        Column name per response keyword of the family.
    responses : Mapping[str, ndarray of float64]
        Kept values per column name.
    rows : KeptRows
    """
    for role in family.responses:
        if role.role not in columns:
            continue  # an optional column not given
        check = VALUE_CHECKS.get(role.check)
        if check is None:
            raise IPDDataError(
                f"family {family.name!r}: {role.role}= has an unknown value check "
                f"{role.check!r}; known checks are {quoted(VALUE_CHECKS)}"
            )
        column = columns[role.role]
        check(responses[column], column, role.label, rows)


def treatment_levels(
    treatment: Treatment,
    column: str,
    experimental: Any,
    trials: tuple[np.ndarray, tuple[str, ...]] | None = None,
) -> tuple[Any, Any]:
    """(experimental level, control level) among the present values, or an error.

    Parameters
    ----------
    treatment : Treatment
        The kept rows of the parsed treatment column.
    column : str
    experimental : object or None
        The level the user named as experimental.
    trials : (codes, labels), optional
        Trial code per kept row and the trial labels: a refusal of more than two levels
        then names the trials holding them.

    Returns
    -------
    tuple
        The levels coded 1 and 0.
    """
    values = treatment.values
    if treatment.kind == "numeric":
        levels = sorted(set(np.unique(values).tolist()))
        shown = [number_text(v) for v in levels]
    else:
        levels = sorted(set(values.tolist()))
        shown = list(levels)
    if len(levels) != 2:
        where = "" if trials is None else _trials_with_extra_levels(values, levels, shown, trials)
        hint = (
            "; a network of treatments: give reference=LEVEL, the common comparator "
            "(CLI: bayes-ipd network --reference LEVEL)"
            if len(levels) > 2
            else ""
        )
        raise IPDDataError(
            f"treatment {column!r} must take exactly two values (0 = control, 1 = experimental); "
            f"found {len(levels)}: {quoted(shown)}{where}{hint}"
        )
    if experimental is not None:
        wanted = value_label(experimental)
        if wanted not in shown:
            raise IPDDataError(
                f"experimental={experimental!r} is not a level of treatment {column!r}; "
                f"its two levels are {quoted(shown)}"
            )
        position = shown.index(wanted)
        return levels[position], levels[1 - position]
    if treatment.kind == "numeric" and levels == [0.0, 1.0]:
        return 1.0, 0.0
    kind = "text levels" if treatment.kind == "text" else "values"
    raise IPDDataError(
        f"treatment {column!r} has two {kind} {shown[0]!r} and {shown[1]!r}, not 0/1; say which "
        f"is the experimental arm with experimental={shown[0]!r} or experimental={shown[1]!r} "
        "(the other level is the control)"
    )


def _trials_with_extra_levels(
    values: np.ndarray,
    levels: list[Any],
    shown: list[str],
    trials: tuple[np.ndarray, tuple[str, ...]],
) -> str:
    """``"; trial 'C' has 3 levels ('0', '1', '2')"``: the trials with more than two levels,
    else the trials of each level (two-level trials that disagree on the levels)."""
    codes, labels = trials
    per_trial: dict[int, list[int]] = {}
    for index, level in enumerate(levels):
        for code in np.unique(codes[values == level]).tolist():
            per_trial.setdefault(int(code), []).append(index)
    many = [(code, found) for code, found in per_trial.items() if len(found) > 2]
    if many:
        parts = [
            f"trial {labels[code]!r} has {len(found)} levels ({quoted([shown[i] for i in found])})"
            for code, found in many[:5]
        ]
        more = f" and {len(many) - 5} more trial(s)" if len(many) > 5 else ""
        note = " (a multi-arm trial: choose two arms, or split it into two-arm comparisons)"
        return "; " + "; ".join(parts) + more + note
    by_level = {
        shown[i]: [labels[code] for code, found in per_trial.items() if i in found]
        for i in range(len(levels))
    }
    return "; trials per level: " + "; ".join(
        f"{level!r} in {quoted(names, 5)}" for level, names in by_level.items()
    )


def arm_names(kind: str, level_1: Any, level_0: Any, experimental: Any) -> dict[int, str]:
    """How the arms are named in messages (``"control arm ('Placebo')"``), by code 1 and 0."""
    if experimental is None and kind == "numeric":
        return {1: "treated arm (treatment = 1)", 0: "control arm (treatment = 0)"}
    shown_1 = number_text(level_1) if kind == "numeric" else level_1
    shown_0 = number_text(level_0) if kind == "numeric" else level_0
    return {1: f"experimental arm ({shown_1!r})", 0: f"control arm ({shown_0!r})"}


def check_both_arms(
    treat: np.ndarray,
    codes: np.ndarray,
    studies: tuple[str, ...],
    arm_names: Mapping[int, str],
    dropped: Mapping[str, int],
) -> None:
    """Every trial has participants in both arms.

    Parameters
    ----------
    treat : ndarray of float64
        0/1 per kept row.
    codes : ndarray of int64
        Trial code per kept row.
    studies : tuple of str
    arm_names : Mapping[int, str]
        :func:`arm_names` of the treatment.
    dropped : Mapping[str, int]
        Rows dropped per trial, to say so when a trial lost an arm to the policy.
    """
    k = len(studies)
    n = np.bincount(codes, minlength=k)
    n_treated = np.bincount(codes, weights=treat, minlength=k).astype(np.int64)
    for index in range(k):
        if n_treated[index] in (0, n[index]):
            label = studies[index]
            arm = 1 if n_treated[index] else 0
            after = f" after dropping {dropped[label]} row(s)" if dropped.get(label) else ""
            raise IPDDataError(
                f"trial {label!r} has only one arm{after}: all {n[index]} participant(s) are "
                f"in the {arm_names[arm]}; every trial needs both a treated and a control arm"
            )


def check_enough_trials(studies: tuple[str, ...], column: str, minimum: int = 2) -> None:
    """At least ``minimum`` trials (``column`` is the study column, for the message).

    A meta-analysis needs two; one site summarising its own trial needs one.
    """
    if len(studies) < minimum:
        raise IPDDataError(
            f"an IPD meta-analysis needs at least two trials; column {column!r} holds "
            f"{len(studies)} ({quoted(studies)})"
        )


def warn_event_free_trials(
    family: Family, event: np.ndarray, codes: np.ndarray, studies: tuple[str, ...]
) -> None:
    """Warn about trials without events, when the family asks for it.

    Parameters
    ----------
    family : Family
        Warns only if :attr:`~bayes_ipd.families.Family.warn_event_free`.
    event : ndarray of float64
        The family's event indicator per kept row.
    codes : ndarray of int64
        Trial code per kept row.
    studies : tuple of str
    """
    if not family.warn_event_free:
        return
    events = np.bincount(codes, weights=event, minlength=len(studies))
    empty = [studies[i] for i in np.flatnonzero(events == 0)]
    if empty:
        # stacklevel 5: here, the builder's validation, the builder, IPD.from_frame (or
        # IPD.read_csv), its caller
        warnings.warn(
            f"trial(s) {quoted(empty)} have no events; a {family.name} model may not estimate "
            "their effects",
            UserWarning,
            stacklevel=5,
        )
