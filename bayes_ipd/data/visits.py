"""Repeated-measures (long) participant data: one row per participant and visit.

:func:`repeated_from_frame` validates long data and returns a :class:`RepeatedIPD`: the
kept rows as an :class:`~bayes_ipd.data.IPD` (gaussian; every row one participant-visit),
each row's participant and visit, the visits in order and the counts of observed visits per
trial, arm and visit.

Visits are ordered levels: numeric visits in numeric order; named visits in the order given
by ``visit_order`` (required for names, refused for numeric visits, which are ordered by
value). Refused, each naming the trial, participant and visit (:class:`IPDDataError`):

* a participant in two trials, or in both arms of a trial;
* two rows of one participant at one visit;
* a visit in ``visit_order`` that no trial has, or a visit of the data not in it;
* a covariate that changes between a participant's visits (covariates are baseline values);
* a missing participant or visit.

A participant with some visits missing stays in (the likelihood uses the observed visits,
valid under missing at random). Rows dropped under ``missing="drop"`` (a missing outcome or
covariate) are counted per trial in ``ipd.dropped``, as for one-row-per-participant data.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.conventions import ARMS, readonly
from bayes_ipd.data.columns import Columns
from bayes_ipd.data.ipd import IPD
from bayes_ipd.data.messages import RowName, index_row_name, quoted, value_label
from bayes_ipd.data.parsing import missing_mask
from bayes_ipd.data.reading import build_ipd
from bayes_ipd.errors import IPDDataError

__all__ = ["RepeatedIPD", "parse_visit_order", "repeated_from_frame"]


@dataclass(frozen=True, eq=False)
class RepeatedIPD:
    """Validated long data: several visits per participant.

    Attributes
    ----------
    ipd : IPD
        The kept rows (one per participant and visit), gaussian family; ``ipd.covariates``
        hold baseline values (constant within a participant).
    participant : ndarray of str (object)
        Participant label per kept row.
    visit : ndarray of int64
        Index into ``visits`` per kept row.
    visits : tuple of str
        Visit labels in order (numeric visits written as :func:`value_label` writes them).
    participant_column, visit_column : str
        Source column names.
    counts : DataFrame
        Observed visits: columns ``study, arm, visit, n`` (participants with an outcome at
        that visit), one row per trial, arm (``control``, ``treated``) and visit, in order.
    """

    ipd: IPD
    participant: np.ndarray
    visit: np.ndarray
    visits: tuple[str, ...]
    participant_column: str
    visit_column: str
    counts: pd.DataFrame

    def __post_init__(self) -> None:
        object.__setattr__(self, "participant", readonly(self.participant, object))
        object.__setattr__(self, "visit", readonly(self.visit, np.int64))
        object.__setattr__(self, "counts", self.counts.copy())

    @property
    def studies(self) -> tuple[str, ...]:
        """Trial labels, in order of first appearance."""
        return self.ipd.studies

    @property
    def n_participants(self) -> int:
        """Distinct participants."""
        return int(pd.unique(self.participant).size)

    def observed(self, study: int) -> np.ndarray:
        """(V,) observed participant count per visit in trial ``study`` (index)."""
        rows = self.ipd.study == study
        return np.bincount(self.visit[rows], minlength=len(self.visits))

    def counts_table(self) -> pd.DataFrame:
        """:attr:`counts` wide: one row per trial and arm, one column per visit."""
        table = self.counts.pivot_table(
            index=["study", "arm"], columns="visit", values="n", sort=False, observed=False
        )
        return table.reindex(columns=list(self.visits)).fillna(0).astype(np.int64)

    def __repr__(self) -> str:
        return (
            f"RepeatedIPD({self.ipd.k} trials, {self.n_participants:,} participants, "
            f"{self.ipd.n:,} participant-visits; visits {', '.join(self.visits)})"
        )


def parse_visit_order(text: str | Iterable[Any] | None) -> tuple[str, ...] | None:
    """``"a,b,c"`` or a sequence -> ``("a", "b", "c")``; None stays None.

    Raises
    ------
    IPDDataError
        Empty, blank or repeated names.
    """
    if text is None:
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(value_label(v).strip() for v in items)
    if not names or any(not n for n in names):
        raise IPDDataError(f"visit_order {text!r}: give the visit names, comma-separated")
    repeated = [n for n in dict.fromkeys(names) if names.count(n) > 1]
    if repeated:
        raise IPDDataError(f"visit_order names visit(s) {quoted(repeated)} more than once")
    return names


def repeated_from_frame(
    df: pd.DataFrame,
    *,
    study: str,
    treatment: str,
    outcome: str,
    participant: str,
    visit: str,
    covariates: str | Iterable[str] = (),
    visit_order: str | Iterable[Any] | None = None,
    missing: str = "error",
    experimental: Any = None,
    row_name: RowName | None = None,
) -> RepeatedIPD:
    """Validate long data (one row per participant and visit; module docstring).

    Parameters
    ----------
    df : DataFrame
        The rows. Never modified.
    study, treatment, outcome, covariates, missing, experimental
        As in :meth:`bayes_ipd.data.IPD.from_frame` (gaussian outcome; ``missing`` is
        ``"error"`` or ``"drop"``).
    participant, visit : str
        Participant-identifier and visit columns.
    visit_order : str or sequence, optional
        The visits in order (``"wk4,wk8,wk12"``); required for named visits.
    row_name : RowName, optional
        Names a source row in messages.

    Returns
    -------
    RepeatedIPD

    Raises
    ------
    IPDDataError
        Any refusal of the module docstring, or of :meth:`IPD.from_frame`.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"trial": ["A"] * 4 + ["B"] * 4, "id": [1, 1, 2, 2, 3, 3, 4, 4],
    ...                      "t": [0, 0, 1, 1, 0, 0, 1, 1], "wk": [4, 8] * 4,
    ...                      "y": [1.0, 2.0, 1.5, 2.5, 0.5, 1.0, 1.0, 2.0]})
    >>> data = repeated_from_frame(rows, study="trial", treatment="t", outcome="y",
    ...                            participant="id", visit="wk")
    >>> data.visits
    ('4', '8')
    """
    if missing not in ("error", "drop"):
        raise IPDDataError(
            f"missing={missing!r}: repeated-measures data take missing='error' or 'drop' "
            "(a missing visit needs no imputation: the likelihood uses the observed visits)"
        )
    for role, name in (("participant", participant), ("visit", visit)):
        if not isinstance(name, str) or name not in df.columns:
            raise IPDDataError(f"{role} column {name!r} is not in the data")
    row_name = row_name or index_row_name(df.index)
    names = [covariates] if isinstance(covariates, str) else list(covariates)
    _refuse_missing_keys(df, participant, visit, row_name)
    with warnings.catch_warnings():  # the repeated-profile warning is about this very case
        warnings.filterwarnings("ignore", message="rows repeat participants")
        ipd = build_ipd(
            IPD,
            Columns,
            df,
            study=study,
            treatment=treatment,
            outcome=outcome,
            covariates=names,
            family="gaussian",
            missing=missing,
            experimental=experimental,
            row_name=row_name,
        )
    kept = _kept_rows(df, [study, treatment, outcome, *names])
    if kept.size != ipd.n:  # the same rule as the missing-data policy
        raise AssertionError("kept rows differ from the data layer's")
    ids = np.array([value_label(v).strip() for v in df[participant].iloc[kept]], dtype=object)
    codes, visits = visit_codes(df[visit].iloc[kept], visit, parse_visit_order(visit_order))
    _check_unseen_visits(codes, visits, visit_order)
    checks = _Rows(ipd, ids, codes, visits)
    checks.one_trial_one_arm()
    checks.one_row_per_visit()
    checks.baseline_covariates()
    return RepeatedIPD(
        ipd=ipd,
        participant=ids,
        visit=codes,
        visits=visits,
        participant_column=participant,
        visit_column=visit,
        counts=visit_counts(ipd, codes, visits),
    )


def visit_codes(
    values: pd.Series, column: str, order: Sequence[str] | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Index of each row's visit and the visits in order (module docstring).

    Raises
    ------
    IPDDataError
        Named visits without ``order``; numeric visits with ``order``; a visit of the
        data not in ``order``.
    """
    numeric = pd.to_numeric(values, errors="coerce")
    all_numeric = bool(np.isfinite(numeric.to_numpy(np.float64)).all())
    if order is None:
        if not all_numeric:
            named = [v for v in pd.unique(values.astype(object)) if _not_number(v)]
            raise IPDDataError(
                f"visit column {column!r} holds named visits ({quoted(named, 5)}): give their "
                "order with visit_order= (--visit-order a,b,c; [data] visit_order)"
            )
        levels = np.sort(pd.unique(numeric.to_numpy(np.float64)))
        codes = np.searchsorted(levels, numeric.to_numpy(np.float64))
        return codes.astype(np.int64), tuple(value_label(float(v)) for v in levels)
    if all_numeric:
        raise IPDDataError(
            f"visit column {column!r} is numeric: its visits are ordered by value; "
            "visit_order is for named visits (drop it)"
        )
    labels = np.array([value_label(v).strip() for v in values], dtype=object)
    index = {name: i for i, name in enumerate(order)}
    unknown = [v for v in pd.unique(labels) if v not in index]
    if unknown:
        raise IPDDataError(
            f"visit(s) {quoted(unknown, 5)} of column {column!r} are not in visit_order "
            f"({', '.join(order)}); add them in their place, or correct the data"
        )
    return np.array([index[v] for v in labels], dtype=np.int64), tuple(order)


def visit_counts(ipd: IPD, codes: np.ndarray, visits: Sequence[str]) -> pd.DataFrame:
    """Observed participant-visits per trial, arm and visit (``study, arm, visit, n``)."""
    k, v = ipd.k, len(visits)
    arm = ipd.treat.astype(np.int64)
    cells = np.bincount((ipd.study * 2 + arm) * v + codes, minlength=k * 2 * v)
    index = pd.MultiIndex.from_product(
        [list(ipd.studies), list(ARMS), list(visits)], names=["study", "arm", "visit"]
    )
    return pd.Series(cells, index=index, name="n").reset_index()


class _Rows:
    """The checks of the kept rows, each naming trial, participant and visit."""

    def __init__(self, ipd: IPD, ids: np.ndarray, codes: np.ndarray, visits: Sequence[str]):
        self.ipd, self.ids, self.codes, self.visits = ipd, ids, codes, visits

    def _where(self, row: int) -> str:
        return (
            f"trial {self.ipd.studies[int(self.ipd.study[row])]!r}, participant "
            f"{self.ids[row]!r}, visit {self.visits[int(self.codes[row])]!r}"
        )

    def one_trial_one_arm(self) -> None:
        frame = pd.DataFrame({"id": self.ids, "trial": self.ipd.study, "arm": self.ipd.treat})
        for column, what in (("trial", "two trials"), ("arm", "both arms")):
            first = frame.groupby("id", sort=False)[column].transform("first")
            bad = np.flatnonzero(frame[column].to_numpy() != first.to_numpy())
            if bad.size:
                row = int(bad[0])
                other = np.flatnonzero(self.ids == self.ids[row])[0]
                hint = (
                    " (identifiers must be unique across trials: if they are numbered within "
                    "each trial, prefix the trial)"
                    if column == "trial"
                    else " (a participant's treatment is constant: one arm per participant)"
                )
                raise IPDDataError(
                    f"participant {self.ids[row]!r} is in {what}: {self._where(int(other))} "
                    f"and {self._where(row)}{hint}"
                )

    def one_row_per_visit(self) -> None:
        frame = pd.DataFrame({"id": self.ids, "visit": self.codes})
        repeated = np.flatnonzero(frame.duplicated(keep="first").to_numpy())
        if repeated.size:
            n_pairs = int(frame.duplicated(keep="first").sum())
            raise IPDDataError(
                f"two rows of one participant at one visit: {self._where(int(repeated[0]))} "
                f"({n_pairs} repeated row(s) in all); keep one row per participant and visit"
            )

    def baseline_covariates(self) -> None:
        covs = self.ipd.covariates
        for name in covs.columns:
            values = covs[name]
            first = values.groupby(self.ids, sort=False).transform("first")
            differs = (values.astype(object) != first.astype(object)).to_numpy()
            if differs.any():
                row = int(np.flatnonzero(differs)[0])
                raise IPDDataError(
                    f"covariate {name!r} changes between a participant's visits: "
                    f"{self._where(row)} has {value_label(values.iloc[row])!r}, an earlier "
                    f"row {value_label(first.iloc[row])!r}; covariates must be baseline "
                    "values, the same at every visit"
                )


def _refuse_missing_keys(df: pd.DataFrame, participant: str, visit: str, row_name: RowName) -> None:
    for role, name in (("participant", participant), ("visit", visit)):
        absent = np.flatnonzero(missing_mask(df[name]))
        if absent.size:
            raise IPDDataError(
                f"{role} column {name!r} is missing in {absent.size} row(s), first "
                f"{row_name(int(absent[0]))}; every row needs its {role}"
            )


def _kept_rows(df: pd.DataFrame, used: Sequence[str]) -> np.ndarray:
    """Rows without a missing value in a used column (the ``missing`` policy's rule)."""
    absent = np.zeros(len(df), dtype=bool)
    for name in dict.fromkeys(used):
        absent |= missing_mask(df[name])
    return np.flatnonzero(~absent)


def _check_unseen_visits(
    codes: np.ndarray, visits: Sequence[str], order: str | Iterable[Any] | None
) -> None:
    if order is None:
        return
    seen = np.bincount(codes, minlength=len(visits)) > 0
    unseen = [v for v, s in zip(visits, seen, strict=True) if not s]
    if unseen:
        raise IPDDataError(
            f"visit(s) {quoted(unseen)} of visit_order are seen in no trial (no kept row); "
            "drop them from visit_order or correct the visit column"
        )


def _not_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return True
    return False
