"""PRISMA-IPD flow of trials and participants (Stewart et al. 2015, JAMA 313:1657).

A review's own counts (trials identified, IPD sought, IPD obtained, aggregate data only,
neither, and the reasons) come from a small TOML or CSV file; what the data layer knows is
added to them: participants supplied per trial, rows dropped for missing values per trial,
and trials that stage one could not fit, with the reason. :func:`read_flow` checks that
the parts add up and returns a :class:`PrismaFlow`, whose :meth:`~PrismaFlow.table` is the
flow as a table and which :func:`bayes_ipd.plots.flow.flow_diagram` draws.

TOML::

    [records]                 # optional: the search
    identified = 412
    screened = 160
    excluded = 145

    [trials]
    identified = 15           # eligible trials
    ipd_sought = 15
    ipd_obtained = 13
    aggregate_only = 1        # IPD not obtained, published estimate used
    neither = 1

    [not_sought]              # optional: reason = trials (identified - sought in all)
    [not_obtained]            # optional: reason = trials (aggregate_only + neither in all)
    "investigators did not respond" = 1

    [[trial]]                 # optional: one table per eligible trial, with IPD or not
    study = "Aronson 1948"    # (its characteristics: bayes_ipd.responders)
    ipd = true
    year = 1948

CSV: columns ``section, item, count`` with the same sections and keys (one row per count
or reason).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pandas as pd

from bayes_ipd.errors import SpecError

if TYPE_CHECKING:
    from bayes_ipd.data import IPD
    from bayes_ipd.two_stage import TwoStageResult

__all__ = ["FLOW_TABLE_COLUMNS", "PrismaFlow", "flow_from_counts", "read_flow"]

FLOW_TABLE_COLUMNS: tuple[str, ...] = ("step", "trials", "participants", "detail")
"""Columns of :meth:`PrismaFlow.table`."""

_TRIAL_KEYS = ("identified", "ipd_sought", "ipd_obtained", "aggregate_only", "neither")
_RECORD_KEYS = ("identified", "screened", "excluded")
_REASON_SECTIONS = ("not_sought", "not_obtained")


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class PrismaFlow:
    """Counts of a PRISMA-IPD flow diagram.

    Attributes
    ----------
    identified, ipd_sought, ipd_obtained, aggregate_only, neither : int
        Trials: eligible, IPD sought, IPD obtained, IPD not obtained but a published
        estimate used, neither.
    not_sought, not_obtained : Mapping[str, int]
        Reasons (trials per reason) for not seeking / not obtaining IPD.
    records : Mapping[str, int]
        Optional search counts: ``identified``, ``screened``, ``excluded``.
    participants : Mapping[str, int]
        Participant rows supplied per IPD trial (before rows were dropped); empty when the
        data were not given.
    rows_dropped : Mapping[str, int]
        Rows dropped for missing values per trial.
    excluded_trials : Mapping[str, str]
        IPD trials left out of stage one, with the reason.
    aggregate_trials : tuple of str
        Trials pooled from a published estimate (from a two-stage result), when known.
    """

    identified: int
    ipd_sought: int
    ipd_obtained: int
    aggregate_only: int
    neither: int
    not_sought: Mapping[str, int] = field(default_factory=dict)
    not_obtained: Mapping[str, int] = field(default_factory=dict)
    records: Mapping[str, int] = field(default_factory=dict)
    participants: Mapping[str, int] = field(default_factory=dict)
    rows_dropped: Mapping[str, int] = field(default_factory=dict)
    excluded_trials: Mapping[str, str] = field(default_factory=dict)
    aggregate_trials: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in (
            "not_sought",
            "not_obtained",
            "records",
            "participants",
            "rows_dropped",
            "excluded_trials",
        ):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        object.__setattr__(self, "aggregate_trials", tuple(self.aggregate_trials))
        _check_counts(self)

    @property
    def participants_supplied(self) -> int | None:
        """Participant rows supplied in all (None when the data were not given)."""
        return sum(self.participants.values()) if self.participants else None

    @property
    def analysed_trials(self) -> int:
        """IPD trials in the analysis: obtained minus excluded from stage one."""
        return self.ipd_obtained - len(self.excluded_trials)

    @property
    def analysed_participants(self) -> int | None:
        """Participants of the analysed IPD trials after dropped rows (None without data)."""
        if not self.participants:
            return None
        kept = [s for s in self.participants if s not in self.excluded_trials]
        return sum(self.participants[s] - self.rows_dropped.get(s, 0) for s in kept)

    def table(self) -> pd.DataFrame:
        """The flow as a table: columns :data:`FLOW_TABLE_COLUMNS`, one row per box."""
        rows: list[tuple[str, float, float, str]] = []
        nan = math.nan
        if self.records:
            detail = ", ".join(f"{k}: {v}" for k, v in self.records.items())
            rows.append(("Records (search)", nan, nan, detail))
        rows.append(("Eligible trials identified", self.identified, nan, ""))
        if self.identified > self.ipd_sought:
            rows.append(
                (
                    "IPD not sought",
                    self.identified - self.ipd_sought,
                    nan,
                    _reasons(self.not_sought),
                )
            )
        rows.append(("IPD sought", self.ipd_sought, nan, ""))
        rows.append(
            (
                "IPD not obtained",
                self.aggregate_only + self.neither,
                nan,
                _reasons(self.not_obtained),
            )
        )
        if self.aggregate_only:
            names = ", ".join(self.aggregate_trials)
            rows.append(("  aggregate data used instead", self.aggregate_only, nan, names))
        if self.neither:
            rows.append(("  neither IPD nor aggregate data", self.neither, nan, ""))
        rows.append(("IPD obtained", self.ipd_obtained, _or_nan(self.participants_supplied), ""))
        dropped = sum(self.rows_dropped.values())
        if dropped:
            detail = ", ".join(f"{s}: {n}" for s, n in self.rows_dropped.items() if n)
            rows.append(("Rows dropped for missing values", nan, dropped, detail))
        if self.excluded_trials:
            detail = "; ".join(f"{s}: {r}" for s, r in self.excluded_trials.items())
            lost = sum(self.participants.get(s, 0) for s in self.excluded_trials)
            rows.append(
                (
                    "IPD trials excluded from stage one",
                    len(self.excluded_trials),
                    lost if self.participants else nan,
                    detail,
                )
            )
        rows.append(
            ("IPD trials analysed", self.analysed_trials, _or_nan(self.analysed_participants), "")
        )
        if self.aggregate_only:
            rows.append(("Aggregate-data trials analysed", self.aggregate_only, nan, ""))
        frame = pd.DataFrame(rows, columns=list(FLOW_TABLE_COLUMNS))
        for column in ("trials", "participants"):
            frame[column] = frame[column].astype("Int64")
        return frame

    def per_trial_table(self) -> pd.DataFrame:
        """Per IPD trial: ``study, participants, rows_dropped, analysed, excluded``."""
        return pd.DataFrame(
            [
                {
                    "study": s,
                    "participants": n,
                    "rows_dropped": self.rows_dropped.get(s, 0),
                    "analysed": 0 if s in self.excluded_trials else n - self.rows_dropped.get(s, 0),
                    "excluded": self.excluded_trials.get(s),
                }
                for s, n in self.participants.items()
            ],
            columns=["study", "participants", "rows_dropped", "analysed", "excluded"],
        )


def _or_nan(value: int | None) -> float:
    return math.nan if value is None else value


def _reasons(reasons: Mapping[str, int]) -> str:
    return "; ".join(f"{reason} ({count})" for reason, count in reasons.items())


def _check_counts(flow: PrismaFlow) -> None:
    counts = {key: getattr(flow, key) for key in _TRIAL_KEYS}
    for key, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise SpecError(f"flow counts: trials.{key} must be a whole number >= 0, got {value!r}")
    if flow.ipd_sought > flow.identified:
        raise SpecError(
            f"flow counts: ipd_sought ({flow.ipd_sought}) exceeds the trials identified "
            f"({flow.identified})"
        )
    parts = flow.ipd_obtained + flow.aggregate_only + flow.neither
    if parts != flow.ipd_sought:
        raise SpecError(
            f"flow counts: ipd_obtained + aggregate_only + neither = {parts}, but ipd_sought = "
            f"{flow.ipd_sought}; every trial whose IPD was sought ends in one of the three"
        )
    _check_reasons(
        flow.not_sought, flow.identified - flow.ipd_sought, "not_sought", "identified - ipd_sought"
    )
    _check_reasons(
        flow.not_obtained,
        flow.aggregate_only + flow.neither,
        "not_obtained",
        "aggregate_only + neither",
    )
    if flow.participants and len(flow.participants) != flow.ipd_obtained:
        raise SpecError(
            f"flow counts: ipd_obtained = {flow.ipd_obtained}, but the participant data hold "
            f"{len(flow.participants)} trial(s) ({', '.join(flow.participants)})"
        )
    if flow.aggregate_trials and len(flow.aggregate_trials) != flow.aggregate_only:
        raise SpecError(
            f"flow counts: aggregate_only = {flow.aggregate_only}, but the analysis pooled "
            f"{len(flow.aggregate_trials)} aggregate-data trial(s) "
            f"({', '.join(flow.aggregate_trials)})"
        )


def _check_reasons(reasons: Mapping[str, int], total: int, section: str, what: str) -> None:
    for reason, count in reasons.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise SpecError(f"flow counts: [{section}] {reason!r} must be a whole number >= 0")
    if reasons and sum(reasons.values()) != total:
        raise SpecError(
            f"flow counts: the [{section}] reasons add up to {sum(reasons.values())}, but "
            f"{what} = {total}"
        )


# --- reading ---------------------------------------------------------------------------------


def read_flow(
    path: str | PathLike[str],
    ipd: IPD | None = None,
    two_stage: TwoStageResult | None = None,
) -> PrismaFlow:
    """Read the review's flow counts and add what the data layer knows.

    Parameters
    ----------
    path : str or path
        A ``.toml`` or ``.csv`` file of counts (see the module docstring).
    ipd : IPD, optional
        The participant data: participants supplied per trial (rows before dropping) and
        rows dropped per trial.
    two_stage : TwoStageResult, optional
        Trials excluded from stage one (with reasons) and the aggregate-data trials pooled.

    Returns
    -------
    PrismaFlow

    Raises
    ------
    SpecError
        The file is missing or malformed, a count is not a whole number, or the parts do
        not add up (including against the data: the trials supplying IPD, the AD trials).
    """
    counts = _read_counts(Path(path))
    return flow_from_counts(counts, ipd=ipd, two_stage=two_stage, source=str(path))


def flow_from_counts(
    counts: Mapping[str, Mapping[str, Any]],
    *,
    ipd: IPD | None = None,
    two_stage: TwoStageResult | None = None,
    source: str = "flow counts",
) -> PrismaFlow:
    """:class:`PrismaFlow` from a mapping of sections (``trials``, ``records``,
    ``not_sought``, ``not_obtained``) as :func:`read_flow` reads them."""
    # [[trial]] tables: each eligible trial's characteristics (bayes_ipd.responders)
    unknown = [s for s in counts if s not in ("trials", "trial", "records", *_REASON_SECTIONS)]
    if unknown:
        raise SpecError(f"{source}: unknown section(s) {', '.join(map(repr, unknown))}")
    trials = dict(counts.get("trials", {}))
    missing = [k for k in _TRIAL_KEYS if k not in trials]
    extra = [k for k in trials if k not in _TRIAL_KEYS]
    if missing or extra:
        raise SpecError(
            f"{source}: [trials] needs {', '.join(_TRIAL_KEYS)}"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; unknown: {', '.join(extra)}" if extra else "")
        )
    records = dict(counts.get("records", {}))
    bad = [k for k in records if k not in _RECORD_KEYS]
    if bad:
        raise SpecError(f"{source}: unknown [records] key(s) {', '.join(bad)}")
    data: dict[str, Any] = {}
    if ipd is not None:
        kept = ipd.n_per_study
        data["participants"] = {s: kept.get(s, 0) + ipd.dropped.get(s, 0) for s in ipd.studies}
        data["rows_dropped"] = {s: ipd.dropped.get(s, 0) for s in ipd.studies}
    if two_stage is not None:
        agg = two_stage.per_study
        sources = dict(getattr(two_stage, "sources", {}) or {})
        data["excluded_trials"] = {
            s: r for s, r in zip(agg.studies, agg.excluded, strict=True) if r is not None
        }
        data["aggregate_trials"] = tuple(s for s in agg.studies if sources.get(s, "IPD") != "IPD")
    try:
        return PrismaFlow(
            **{k: _whole(trials[k], f"trials.{k}", source) for k in _TRIAL_KEYS},
            not_sought=_reason_counts(counts.get("not_sought", {}), "not_sought", source),
            not_obtained=_reason_counts(counts.get("not_obtained", {}), "not_obtained", source),
            records={k: _whole(v, f"records.{k}", source) for k, v in records.items()},
            **data,
        )
    except SpecError as exc:
        raise SpecError(f"{source}: {exc}") from exc


def _whole(value: Any, what: str, source: str) -> int:
    if isinstance(value, bool):
        raise SpecError(f"{source}: {what} must be a whole number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{source}: {what} must be a whole number, got {value!r}") from None
    if not (math.isfinite(number) and number == int(number) and number >= 0):
        raise SpecError(f"{source}: {what} must be a whole number >= 0, got {value!r}")
    return int(number)


def _reason_counts(section: Any, name: str, source: str) -> dict[str, int]:
    if not isinstance(section, Mapping):
        raise SpecError(f"{source}: [{name}] must map reasons to trial counts")
    return {str(k): _whole(v, f"{name}.{k!r}", source) for k, v in section.items()}


def _read_counts(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        raise SpecError(f"{path}: flow-count file not found")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            with path.open("rb") as handle:
                return tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"{path}: not valid TOML ({exc})") from exc
    if suffix == ".csv":
        return _csv_counts(path)
    raise SpecError(f"{path}: the flow counts must be a .toml or .csv file")


def _csv_counts(path: Path) -> dict[str, dict[str, Any]]:
    try:
        frame = pd.read_csv(path, dtype={"section": str, "item": str}, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot be read as CSV ({exc})") from exc
    missing = [c for c in ("section", "item", "count") if c not in frame.columns]
    if missing:
        raise SpecError(
            f"{path}: the flow CSV needs columns section, item, count; missing: "
            f"{', '.join(missing)}"
        )
    counts: dict[str, dict[str, Any]] = {}
    for row in frame.itertuples(index=False):
        section, item = str(row.section).strip(), str(row.item).strip()
        if item in counts.setdefault(section, {}):
            raise SpecError(f"{path}: {section}.{item} is given twice")
        counts[section][item] = row.count
    return counts
