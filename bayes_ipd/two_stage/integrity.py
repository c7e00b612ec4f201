"""Data-integrity check: do the supplied IPD reproduce each trial's published result?

PRISMA-IPD (Stewart et al. 2015, item 18) asks whether the participant rows a team
supplied reproduce the primary analysis the trial published. :func:`check_integrity`
refits each trial's stage-one model (the family's ``fit_trial``: OLS, logistic, Cox) with
the covariates the published analysis adjusted for, and reports the difference from the
published estimate in units of the published standard error,
``(recomputed - published) / published_se``. A trial whose absolute difference exceeds the
threshold is flagged.

The published table (:func:`read_published`) has one row per trial: ``study``,
``estimate`` and either ``se`` or ``ci_low`` / ``ci_high`` (with ``level``, default 0.95),
``scale`` (the family's scale, e.g. ``logOR``, or its natural form ``OR`` whose estimate
and interval are then log-transformed), optionally ``adjusted_for`` (covariates separated
by ``;`` or ``,``; empty for an unadjusted analysis) and ``n``.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayes_ipd.conventions import SCALES, json_ready
from bayes_ipd.data import IPD
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families import get_family
from bayes_ipd.two_stage.aggregate import AggregateData
from bayes_ipd.two_stage.stage1 import fit_per_study

__all__ = [
    "DEFAULT_THRESHOLD",
    "TABLE_COLUMNS",
    "IntegrityResult",
    "PublishedResult",
    "check_integrity",
    "read_published",
]

DEFAULT_THRESHOLD = 0.5
"""Flag a trial whose recomputed estimate differs from the published one by more than half
a published standard error. Rounding of published figures moves an estimate by a few
hundredths of an SE; half an SE is a difference no rounding or software convention explains
(a missing block of participants, a recoded arm or outcome)."""

TABLE_COLUMNS: tuple[str, ...] = (
    "study",
    "scale",
    "adjusted_for",
    "published_estimate",
    "published_se",
    "recomputed_estimate",
    "recomputed_se",
    "difference",
    "difference_se_units",
    "se_ratio",
    "published_n",
    "ipd_n",
    "flagged",
    "note",
)
"""Columns of :meth:`IntegrityResult.table`."""

_SPLIT = re.compile(r"[;,]")


@dataclass(frozen=True)
class PublishedResult:
    """One trial's published primary result, on the analysis (log) scale.

    Attributes
    ----------
    study : str
        Trial label, as in the IPD.
    estimate, se : float
        Published estimate and standard error (from the CI when no SE was published).
    scale : str
        Effect scale code (``"MD"``, ``"logOR"``, ...).
    adjusted_for : tuple of str
        Covariates of the published analysis (empty: unadjusted).
    n : int or None
        Participants in the published analysis, when given.
    """

    study: str
    estimate: float
    se: float
    scale: str
    adjusted_for: tuple[str, ...] = ()
    n: int | None = None


@dataclass(frozen=True)
class _Row:
    published: PublishedResult | None
    study: str
    recomputed: float = math.nan
    recomputed_se: float = math.nan
    ipd_n: int | None = None
    note: str = ""


@dataclass(frozen=True, eq=False)
class IntegrityResult:
    """Published against recomputed per-trial results.

    Attributes
    ----------
    rows : tuple
        One entry per trial (published trials first, then IPD trials with no published
        result); read them through :meth:`table`.
    threshold : float
        Flagging threshold in published-SE units.
    family : str
        Outcome family of the IPD.
    """

    rows: tuple[_Row, ...]
    threshold: float
    family: str

    def table(self) -> pd.DataFrame:
        """One row per trial, columns :data:`TABLE_COLUMNS`.

        ``difference = recomputed - published``, ``difference_se_units = difference /
        published_se``, ``se_ratio = recomputed_se / published_se``; ``flagged`` is True
        when ``|difference_se_units| > threshold``; ``note`` says why a trial could not be
        compared (not in the IPD, no published result, stage one could not fit it).
        """
        records = [_record(row, self.threshold) for row in self.rows]
        frame = pd.DataFrame(records, columns=list(TABLE_COLUMNS))
        for column in ("published_n", "ipd_n"):
            frame[column] = frame[column].astype("Int64")
        return frame

    @property
    def flagged(self) -> tuple[str, ...]:
        """Trials beyond the threshold."""
        table = self.table()
        return tuple(table.loc[table["flagged"], "study"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``threshold``, ``family``, ``flagged`` and ``trials`` (table records)."""
        return {
            "threshold": self.threshold,
            "family": self.family,
            "flagged": list(self.flagged),
            "trials": [json_ready(r) for r in self.table().to_dict(orient="records")],
        }

    def __str__(self) -> str:
        table = self.table()
        lines = [
            f"Data-integrity check ({self.family} outcome): recomputed vs published per-trial "
            f"estimates; flagged beyond {self.threshold:g} published SE",
            "",
        ]
        width = max(12, *(len(str(s)) for s in table["study"])) + 2
        lines.append(
            f"{'study':<{width}}{'published':>11}{'recomputed':>12}{'diff':>9}{'diff/SE':>9}"
            f"{'SE ratio':>9}  flag"
        )
        for row in table.itertuples(index=False):
            lines.append(
                f"{row.study!s:<{width}}{_num(row.published_estimate):>11}"
                f"{_num(row.recomputed_estimate):>12}{_num(row.difference):>9}"
                f"{_num(row.difference_se_units, 2):>9}{_num(row.se_ratio, 2):>9}  "
                f"{'FLAG' if row.flagged else ''}{'  ' + row.note if row.note else ''}"
            )
        flagged = self.flagged
        lines += [
            "",
            f"{len(flagged)} trial(s) flagged" + (f": {', '.join(flagged)}" if flagged else ""),
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()


def _num(value: Any, digits: int = 4) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"


def _record(row: _Row, threshold: float) -> dict[str, Any]:
    pub = row.published
    published = math.nan if pub is None else pub.estimate
    published_se = math.nan if pub is None else pub.se
    difference = row.recomputed - published
    units = difference / published_se
    return {
        "study": row.study,
        "scale": None if pub is None else pub.scale,
        "adjusted_for": None if pub is None else ";".join(pub.adjusted_for),
        "published_estimate": published,
        "published_se": published_se,
        "recomputed_estimate": row.recomputed,
        "recomputed_se": row.recomputed_se,
        "difference": difference,
        "difference_se_units": units,
        "se_ratio": row.recomputed_se / published_se,
        "published_n": None if pub is None else pub.n,
        "ipd_n": row.ipd_n,
        "flagged": bool(np.isfinite(units) and abs(units) > threshold),
        "note": row.note,
    }


# --- the published table ----------------------------------------------------------------------


def read_published(
    source: pd.DataFrame | str | PathLike[str], *, level: float = 0.95
) -> tuple[PublishedResult, ...]:
    """Published per-trial results from a CSV path or a DataFrame (see the module docstring).

    Parameters
    ----------
    source : DataFrame or path
        One row per trial; only read.
    level : float
        Coverage of ``ci_low`` / ``ci_high`` when the table has no ``level`` column.

    Raises
    ------
    IPDDataError
        A required column is missing, a trial is listed twice, a value is missing or not a
        number, an SE is not positive, a CI is not ordered (or not positive on a ratio
        scale), or a scale is unknown; the trial and column are named.
    """
    frame = _published_frame(source)
    missing = [c for c in ("study", "estimate", "scale") if c not in frame.columns]
    has_se = "se" in frame.columns
    has_ci = {"ci_low", "ci_high"} <= set(frame.columns)
    if missing or not (has_se or has_ci):
        need = missing + ([] if has_se or has_ci else ["se (or ci_low and ci_high)"])
        raise IPDDataError(
            f"the published-results table needs column(s) {', '.join(need)}; it has: "
            f"{', '.join(map(str, frame.columns))}"
        )
    results = tuple(_published_row(row, level) for row in frame.to_dict(orient="records"))
    seen: set[str] = set()
    for result in results:
        if result.study in seen:
            raise IPDDataError(f"published results: trial {result.study!r} is listed twice")
        seen.add(result.study)
    return results


def _published_frame(source: pd.DataFrame | str | PathLike[str]) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    try:
        return pd.read_csv(
            source, dtype={"study": str, "adjusted_for": str}, keep_default_na=False, na_values=[""]
        )
    except FileNotFoundError as exc:
        raise IPDDataError(f"{source}: file not found") from exc
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise IPDDataError(f"{source}: cannot be read as CSV ({exc})") from exc


def _number(row: Mapping[str, Any], column: str, study: str) -> float:
    value = row.get(column)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise IPDDataError(
            f"published results: trial {study!r}: {column} is {value!r}, not a number"
        ) from None
    if not math.isfinite(number):
        raise IPDDataError(f"published results: trial {study!r}: {column} is missing")
    return number


def _published_row(row: Mapping[str, Any], default_level: float) -> PublishedResult:
    study = "" if pd.isna(row.get("study")) else str(row["study"]).strip()
    if not study:
        raise IPDDataError("published results: a row has no trial label (column 'study')")
    scale, natural = _scale(row.get("scale"), study)
    estimate = _number(row, "estimate", study)
    se_given = row.get("se")
    if se_given is not None and not pd.isna(se_given):
        se = _number(row, "se", study)
        if natural:
            raise IPDDataError(
                f"published results: trial {study!r}: an SE on the natural {row['scale']} "
                f"scale is ambiguous; give the SE of {scale}, or the confidence interval"
            )
    else:
        low, high = _number(row, "ci_low", study), _number(row, "ci_high", study)
        level_value = row.get("level")
        level = default_level if level_value is None or pd.isna(level_value) else float(level_value)
        if natural:
            if min(low, high, estimate) <= 0:
                raise IPDDataError(
                    f"published results: trial {study!r}: a {row['scale']} and its interval "
                    "must be positive"
                )
            low, high = math.log(low), math.log(high)
        if not low < high:
            raise IPDDataError(
                f"published results: trial {study!r}: ci_low ({low:g}) is not below ci_high "
                f"({high:g})"
            )
        se = (high - low) / (2.0 * float(stats.norm.isf((1.0 - level) / 2.0)))
    if natural:
        if estimate <= 0:
            raise IPDDataError(
                f"published results: trial {study!r}: {row['scale']} must be positive"
            )
        estimate = math.log(estimate)
    if not se > 0:
        raise IPDDataError(f"published results: trial {study!r}: se is {se:g}; it must be positive")
    adjusted = row.get("adjusted_for")
    names = (
        ()
        if adjusted is None or pd.isna(adjusted)
        else tuple(n.strip() for n in _SPLIT.split(str(adjusted)) if n.strip())
    )
    n_value = row.get("n")
    n = None if n_value is None or pd.isna(n_value) else int(_number(row, "n", study))
    return PublishedResult(study, estimate, se, scale, names, n)


def _scale(value: Any, study: str) -> tuple[str, bool]:
    """The scale code and whether the row was written on the natural (exponentiated) scale."""
    text = "" if value is None or pd.isna(value) else str(value).strip()
    if text in SCALES:
        return text, False
    if f"log{text}" in SCALES and SCALES[f"log{text}"].is_ratio:
        return f"log{text}", True
    natural = [code[3:] for code, s in SCALES.items() if s.is_ratio]
    raise IPDDataError(
        f"published results: trial {study!r}: unknown scale {text!r}; expected one of "
        f"{', '.join(SCALES)} or {', '.join(natural)}"
    )


# --- the check ----------------------------------------------------------------------------


def check_integrity(
    ipd: IPD,
    published: pd.DataFrame | str | PathLike[str] | tuple[PublishedResult, ...],
    threshold: float = DEFAULT_THRESHOLD,
    *,
    level: float = 0.95,
    stage_one: Mapping[tuple[str, ...], AggregateData] | None = None,
) -> IntegrityResult:
    """Recompute each trial's published result from its IPD and compare.

    Parameters
    ----------
    ipd : IPD
        The supplied participant rows, with every covariate a published analysis adjusted
        for among its covariates.
    published : DataFrame, path or tuple of PublishedResult
        The published results (see :func:`read_published`).
    threshold : float
        Flag a trial when ``|recomputed - published| / published_se`` exceeds it
        (default :data:`DEFAULT_THRESHOLD`, half a standard error).
    level : float
        Coverage of published confidence intervals without a ``level`` column.
    stage_one : mapping, optional
        Stage-one fits already made on ``ipd``, by covariate tuple: ``{covariates:
        fit_per_study(ipd, covariates=covariates)}`` (treatment effect, no sparse method),
        e.g. the two-stage route's. A published analysis adjusted for exactly those
        covariates, in that order, reads its trial from there instead of a new fit; the
        result is the same.

    Returns
    -------
    IntegrityResult

    Raises
    ------
    IPDDataError
        A published scale differs from the family's, a published analysis adjusted for a
        covariate the IPD does not hold (trial and covariate named), the threshold is not
        positive, or the published table is malformed (see :func:`read_published`).

    Examples
    --------
    >>> from bayes_ipd.datasets import load_bcg_ipd, load_bcg_published
    >>> ipd = load_bcg_ipd().select_studies(["Aronson 1948", "Rosenthal et al 1960"])
    >>> res = check_integrity(ipd, load_bcg_published())
    >>> res.flagged
    ()
    """
    if not (isinstance(threshold, int | float) and threshold > 0 and math.isfinite(threshold)):
        raise IPDDataError(f"threshold must be a positive number of SEs, got {threshold!r}")
    entries = published if isinstance(published, tuple) else read_published(published, level=level)
    scale = get_family(ipd.family).scale.code
    for entry in entries:
        if entry.scale != scale:
            raise IPDDataError(
                f"published results: trial {entry.study!r} is on the {entry.scale} scale; the "
                f"{ipd.family} stage-one model estimates a {scale}"
            )
        absent = [c for c in entry.adjusted_for if c not in ipd.covariate_names]
        if absent:
            raise IPDDataError(
                f"published results: trial {entry.study!r} was adjusted for "
                f"{', '.join(map(repr, absent))}, not among the IPD covariates "
                f"({', '.join(ipd.covariate_names) or 'none'})"
            )
    fits = _recompute(ipd, entries, stage_one or {})
    n_per = ipd.n_per_study
    rows = []
    for entry in entries:
        if entry.study not in n_per:
            rows.append(_Row(entry, entry.study, note="not in the IPD"))
            continue
        estimate, se, reason = fits[entry.study]
        rows.append(_Row(entry, entry.study, estimate, se, n_per[entry.study], reason or ""))
    listed = {e.study for e in entries}
    rows += [
        _Row(None, s, ipd_n=n_per[s], note="no published result")
        for s in ipd.studies
        if s not in listed
    ]
    return IntegrityResult(rows=tuple(rows), threshold=float(threshold), family=ipd.family)


def _recompute(
    ipd: IPD,
    entries: tuple[PublishedResult, ...],
    stage_one: Mapping[tuple[str, ...], AggregateData],
) -> dict[str, tuple[float, float, str | None]]:
    """Stage-one estimate, SE and exclusion reason per trial, one fit per covariate set
    (none for a set ``stage_one`` holds)."""
    out: dict[str, tuple[float, float, str | None]] = {}
    sets = {e.adjusted_for for e in entries if e.study in set(ipd.studies)}
    for covariates in sorted(sets):
        agg = _fitted(ipd, covariates, stage_one.get(covariates))
        by_study = dict(
            zip(agg.studies, zip(agg.estimate, agg.se, agg.excluded, strict=True), strict=True)
        )
        for entry in entries:
            if entry.adjusted_for == covariates and entry.study in by_study:
                est, se, reason = by_study[entry.study]
                out[entry.study] = (float(est), float(se), reason)
    return out


def _fitted(ipd: IPD, covariates: tuple[str, ...], given: AggregateData | None) -> AggregateData:
    """The treatment effect per trial adjusted for ``covariates``: ``given`` when it is such
    a fit of ``ipd``'s trials, else a new one."""
    if given is not None and given.term == "treat" and tuple(given.studies) == ipd.studies:
        return given
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unfittable trials are reported in the table
        return fit_per_study(ipd, covariates=list(covariates))
