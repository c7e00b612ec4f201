"""Aggregate-data (AD) trials of a network: arm-level summaries and contrast-level estimates.

Two long tables enter a network beside the participant rows
(:func:`bayes_ipd.data.network.network_from_frame`, ``aggregate_arms=`` and
``aggregate_contrasts=``):

* **arms** — one row per arm: ``study, treatment`` and the family's columns
  (:data:`ARM_COLUMNS`): binomial ``events, n``; gaussian ``mean, sd, n``; poisson
  ``events, exposure`` (``n`` optional, participants for the tables only). These are the
  exact sufficient statistics of the arm's rows, so an AD arm enters the one-stage model
  with its exact likelihood and the two-stage route with the contrasts its rows would give.
* **contrasts** — one row per contrast of a trial against the trial's base arm:
  ``study, treatment, comparator, estimate, se`` and, for a trial with two or more
  contrasts, ``cov_with_base``: the covariance between any two of the trial's contrasts
  (the variance of the base arm's estimate, as metafor's ``vcalc`` or netmeta's
  ``pairwise`` give it), the same on every row of the trial. Every row of a trial names the
  same ``comparator`` (its base arm).

Refused, each naming the trial, treatment and column (:class:`~bayes_ipd.errors.IPDDataError`):
a missing column or label, a non-numeric value, negative counts, events above ``n``, a
non-positive ``n``, ``sd``, ``exposure`` or ``se``, a duplicated arm or contrast, a
trial whose rows name different comparators or a contrast of a treatment with itself, a
multi-arm trial without ``cov_with_base`` (or with a covariance that is not positive
definite). The checks that need the participant rows too (one-arm trials, arms given both
as IPD and AD, unknown treatments) are :func:`bayes_ipd.data.network.network_from_frame`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from bayes_ipd.conventions import readonly
from bayes_ipd.data.messages import quoted
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families import REGISTRY

__all__ = [
    "ARM_COLUMNS",
    "CONTRAST_COLUMNS",
    "AggregateArms",
    "AggregateContrasts",
    "aggregate_pairs",
    "aggregate_studies",
    "as_aggregate_arms",
    "as_aggregate_contrasts",
    "check_overlap",
    "read_aggregate_arms",
    "read_aggregate_contrasts",
]

ARM_COLUMNS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        name: plugin.network_arms.aggregate_columns
        for name, plugin in sorted(REGISTRY.items())
        if plugin.network_arms is not None and plugin.network_arms.aggregate_columns
    }
)
"""The columns of an arm-level AD table per family (besides ``study, treatment``): what
each family's arm-level network plug-in reads (``family.network_arms.aggregate_columns``;
binomial, gaussian, poisson)."""

CONTRAST_COLUMNS = ("study", "treatment", "comparator", "estimate", "se")
"""The columns of a contrast-level AD table (``cov_with_base`` for multi-arm trials)."""

_COUNTS = frozenset({"events", "n"})
_POSITIVE = frozenset({"n", "sd", "exposure", "se"})


@dataclass(frozen=True, eq=False)
class AggregateArms:
    """Arm-level aggregate data (read-only; one entry per arm, in file order).

    Attributes
    ----------
    family : str
    studies, treatments : tuple of str
        Each arm's trial and treatment.
    values : Mapping[str, numpy.ndarray]
        The family's columns (:data:`ARM_COLUMNS`), and ``n`` (poisson: 0 when not
        given).
    """

    family: str
    studies: tuple[str, ...]
    treatments: tuple[str, ...]
    values: Mapping[str, np.ndarray]

    def sums(self) -> dict[str, np.ndarray]:
        """Per arm, the sums the participant rows of the arm would give: ``n``, ``total``
        (sum of outcomes), ``squares`` (sum of squared outcomes; binomial: the events),
        ``ss`` (within-arm sum of squares about the mean), ``exposure`` (poisson),
        ``variance`` (gaussian: ``sd^2``)."""
        v = self.values
        n = v["n"]
        if "mean" in v:
            ss = (n - 1.0) * v["sd"] ** 2
            total = n * v["mean"]
            return {
                "n": n,
                "total": total,
                "ss": ss,
                "squares": ss + total * v["mean"],
                "variance": v["sd"] ** 2,
            }
        events = v["events"]
        out = {"n": n, "total": events, "squares": events, "ss": np.zeros_like(n)}
        if "exposure" in v:
            out["exposure"] = v["exposure"]
        return out


@dataclass(frozen=True, eq=False)
class AggregateContrasts:
    """Contrast-level aggregate data: per trial, contrasts against its base arm.

    Attributes
    ----------
    studies : tuple of str
    bases : tuple of str
        Each trial's base arm (the ``comparator`` of its rows).
    arms : tuple of tuple of str
        Each trial's other arms (one contrast each, in file order).
    estimates, covariances : tuple of numpy.ndarray
        (m,) contrasts ``arm - base`` and their (m, m) within-trial covariance.
    """

    studies: tuple[str, ...]
    bases: tuple[str, ...]
    arms: tuple[tuple[str, ...], ...]
    estimates: tuple[np.ndarray, ...]
    covariances: tuple[np.ndarray, ...]


def _missing_columns(frame: pd.DataFrame, needed: tuple[str, ...], what: str) -> None:
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise IPDDataError(
            f"the {what} table has no column(s) {quoted(absent)}; it needs "
            f"{quoted(needed)} (its columns are {quoted(map(str, frame.columns), limit=20)})"
        )


def _text(frame: pd.DataFrame, column: str, what: str) -> tuple[str, ...]:
    values = frame[column]
    labels = values.astype(str).str.strip()
    bad = values.isna().to_numpy() | (labels == "").to_numpy()
    if bad.any():
        raise IPDDataError(
            f"the {what} table's column {column!r} is missing or empty in "
            f"{int(bad.sum())} row(s) (first at row {int(np.flatnonzero(bad)[0]) + 1})"
        )
    return tuple(labels.tolist())


def _where(studies: tuple[str, ...], treatments: tuple[str, ...], i: int) -> str:
    return f"trial {studies[i]!r}, treatment {treatments[i]!r}"


def _numbers(
    frame: pd.DataFrame,
    column: str,
    studies: tuple[str, ...],
    treatments: tuple[str, ...],
    what: str,
) -> np.ndarray:
    """A numeric column, checked: finite; counts whole and non-negative; positive sizes."""
    x = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    checks = (
        (~np.isfinite(x), "is missing or not a number"),
        (np.isfinite(x) & (x < 0), "is negative"),
        (
            np.isfinite(x) & (x != np.round(x)) & (column in _COUNTS),
            "is not a whole number (a count)",
        ),
        (np.isfinite(x) & (x == 0) & (column in _POSITIVE), "is zero (it must be positive)"),
    )
    for bad, problem in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            shown = frame[column].iloc[i]
            raise IPDDataError(
                f"the {what} table's column {column!r} {problem} at "
                f"{_where(studies, treatments, i)} (value {shown!r}; {int(bad.sum())} row(s))"
            )
    return x


def _duplicates(keys: list[tuple[str, ...]], what: str, names: tuple[str, ...]) -> None:
    seen: set[tuple[str, ...]] = set()
    for key in keys:
        if key in seen:
            shown = ", ".join(f"{n} {v!r}" for n, v in zip(names, key, strict=True))
            raise IPDDataError(f"the {what} table has {shown} twice (one row per {what[:-1]})")
        seen.add(key)


def read_aggregate_arms(frame: pd.DataFrame, family: str) -> AggregateArms:
    """Read and check an arm-level AD table (module docstring).

    Parameters
    ----------
    frame : DataFrame
        One row per arm: ``study, treatment`` and the family's :data:`ARM_COLUMNS`
        (only read).
    family : str
        ``binomial``, ``gaussian`` or ``poisson``.

    Returns
    -------
    AggregateArms

    Raises
    ------
    IPDDataError
        A family without arm-level AD, a missing column, a bad value (named by trial,
        treatment and column), a duplicated arm.

    Examples
    --------
    >>> arms = pd.DataFrame({"study": ["S1", "S1"], "treatment": ["A", "B"],
    ...                      "events": [3, 5], "n": [20, 21]})
    >>> read_aggregate_arms(arms, "binomial").values["events"].tolist()
    [3.0, 5.0]
    """
    columns = ARM_COLUMNS.get(family)
    if columns is None:
        raise IPDDataError(
            f"arm-level aggregate data are read for the families {', '.join(ARM_COLUMNS)}; "
            f"not {family!r} (give its trials as contrasts: aggregate_contrasts=)"
        )
    what = "aggregate arms"
    _missing_columns(frame, ("study", "treatment", *columns), what)
    studies = _text(frame, "study", what)
    treatments = _text(frame, "treatment", what)
    _duplicates(list(zip(studies, treatments, strict=True)), "aggregate arms", ("trial", "arm"))
    present = [c for c in (*columns, "n") if c in frame.columns]
    values = {c: _numbers(frame, c, studies, treatments, what) for c in dict.fromkeys(present)}
    if "n" not in values:
        values["n"] = np.zeros(len(frame))
    if "events" in values and "exposure" not in values:
        over = values["events"] > values["n"]
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise IPDDataError(
                f"the aggregate arms table has more events than participants at "
                f"{_where(studies, treatments, i)}: events {values['events'][i]:g} > "
                f"n {values['n'][i]:g}"
            )
    return AggregateArms(
        family,
        studies,
        treatments,
        MappingProxyType({c: readonly(v) for c, v in values.items()}),
    )


def _trial_covariance(study: str, se: np.ndarray, cov: np.ndarray | None) -> np.ndarray:
    m = se.size
    if m == 1:
        return np.array([[se[0] ** 2]])
    if cov is None or not np.all(np.isfinite(cov)):
        raise IPDDataError(
            f"trial {study!r} has {m} contrasts but no cov_with_base value: a multi-arm "
            "trial needs the covariance of its contrasts (the base arm's variance, the same "
            "on each of its rows)"
        )
    if np.ptp(cov) > 1e-12 * max(1.0, float(np.abs(cov).max())):
        raise IPDDataError(
            f"trial {study!r}: cov_with_base differs between its rows "
            f"({', '.join(f'{c:g}' for c in cov)}); it is one value per trial"
        )
    full = np.full((m, m), float(cov[0])) + np.diag(se**2 - float(cov[0]))
    if np.linalg.eigvalsh(full).min() <= 0:
        raise IPDDataError(
            f"trial {study!r}: the contrasts' covariance (se {', '.join(f'{s:g}' for s in se)}, "
            f"cov_with_base {float(cov[0]):g}) is not positive definite"
        )
    return full


def read_aggregate_contrasts(frame: pd.DataFrame) -> AggregateContrasts:
    """Read and check a contrast-level AD table (module docstring).

    Parameters
    ----------
    frame : DataFrame
        One row per contrast ``treatment - comparator`` (only read).

    Returns
    -------
    AggregateContrasts

    Raises
    ------
    IPDDataError
        A missing column, a bad value, a trial with several comparators, a duplicated
        contrast, a multi-arm trial without a valid ``cov_with_base``.

    Examples
    --------
    >>> c = pd.DataFrame({"study": ["S1"], "treatment": ["B"], "comparator": ["A"],
    ...                   "estimate": [0.4], "se": [0.2]})
    >>> read_aggregate_contrasts(c).covariances[0].tolist()
    [[0.04000000000000001]]
    """
    what = "aggregate contrasts"
    _missing_columns(frame, CONTRAST_COLUMNS, what)
    studies = _text(frame, "study", what)
    treatments = _text(frame, "treatment", what)
    comparators = _text(frame, "comparator", what)
    estimate = _numbers_signed(frame, "estimate", studies, treatments)
    se = _numbers(frame, "se", studies, treatments, what)
    cov = (
        pd.to_numeric(frame["cov_with_base"], errors="coerce").to_numpy(dtype=float)
        if "cov_with_base" in frame.columns
        else None
    )
    _duplicates(
        list(zip(studies, treatments, strict=True)), "aggregate contrasts", ("trial", "treatment")
    )
    out: dict[str, list] = {"studies": [], "bases": [], "arms": [], "est": [], "cov": []}
    for study in dict.fromkeys(studies):
        rows = np.flatnonzero(np.asarray(studies) == study)
        bases = sorted({comparators[i] for i in rows})
        if len(bases) > 1:
            raise IPDDataError(
                f"trial {study!r} names several comparators ({quoted(bases)}); each row of a "
                "trial is a contrast against the same base arm"
            )
        arms = tuple(treatments[i] for i in rows)
        if bases[0] in arms:
            raise IPDDataError(f"trial {study!r} has a contrast of {bases[0]!r} against itself")
        out["studies"].append(study)
        out["bases"].append(bases[0])
        out["arms"].append(arms)
        out["est"].append(readonly(estimate[rows]))
        out["cov"].append(
            readonly(_trial_covariance(study, se[rows], None if cov is None else cov[rows]))
        )
    return AggregateContrasts(
        tuple(out["studies"]),
        tuple(out["bases"]),
        tuple(out["arms"]),
        tuple(out["est"]),
        tuple(out["cov"]),
    )


def _numbers_signed(
    frame: pd.DataFrame, column: str, studies: tuple[str, ...], treatments: tuple[str, ...]
) -> np.ndarray:
    x = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(x)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise IPDDataError(
            f"the aggregate contrasts table's column {column!r} is missing or not a number at "
            f"{_where(studies, treatments, i)} (value {frame[column].iloc[i]!r})"
        )
    return x


def as_aggregate_arms(
    value: pd.DataFrame | AggregateArms | None, family: str
) -> AggregateArms | None:
    """A table read by :func:`read_aggregate_arms` (a value or None passed through)."""
    if value is None or isinstance(value, AggregateArms):
        return value
    return read_aggregate_arms(value, family)


def as_aggregate_contrasts(
    value: pd.DataFrame | AggregateContrasts | None,
) -> AggregateContrasts | None:
    """A table read by :func:`read_aggregate_contrasts` (a value or None passed through)."""
    if value is None or isinstance(value, AggregateContrasts):
        return value
    return read_aggregate_contrasts(value)


def aggregate_studies(
    ipd: tuple[str, ...], arms: AggregateArms | None, contrasts: AggregateContrasts | None
) -> tuple[str, ...]:
    """IPD trials, then trials with AD arms only, then contrast-level trials (which may
    not also hold rows or AD arms)."""
    arm_studies = () if arms is None else tuple(dict.fromkeys(arms.studies))
    if contrasts is not None:
        both = [s for s in contrasts.studies if s in set(ipd) | set(arm_studies)]
        if both:
            raise IPDDataError(
                f"trial(s) {quoted(both)} are given as contrasts and also as participant rows "
                "or AD arms; give each trial one way"
            )
    extra = tuple(s for s in arm_studies if s not in set(ipd))
    return ipd + extra + (() if contrasts is None else contrasts.studies)


def aggregate_pairs(
    arms: AggregateArms | None, contrasts: AggregateContrasts | None
) -> list[tuple[str, str]]:
    """(trial, treatment) of every AD arm, and of every arm of a contrast-level trial."""
    pairs = [] if arms is None else list(zip(arms.studies, arms.treatments, strict=True))
    if contrasts is not None:
        for s, base, others in zip(contrasts.studies, contrasts.bases, contrasts.arms, strict=True):
            pairs += [(s, base)] + [(s, t) for t in others]
    return pairs


def check_overlap(arms: AggregateArms, ipd_arms: set[tuple[str, str]], allowed: bool) -> None:
    """Refuse AD arms that are also IPD arms of the same trial, unless ``allowed``."""
    both = [
        (s, t) for s, t in zip(arms.studies, arms.treatments, strict=True) if (s, t) in ipd_arms
    ]
    if both and not allowed:
        named = ", ".join(f"trial {s!r} treatment {t!r}" for s, t in both[:8])
        raise IPDDataError(
            f"{len(both)} arm(s) are given both as participant rows and as aggregate data: "
            f"{named}; the same participants would count twice. Drop one, or pass "
            "allow_overlap=True (--allow-overlap) if the AD are other participants of that arm"
        )
