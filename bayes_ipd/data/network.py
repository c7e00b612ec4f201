"""Participant rows of a network of trials: a treatment factor with any number of levels.

A two-arm analysis reads its data through :class:`~bayes_ipd.data.IPD` (a 0/1 treatment).
A network (trials comparing two or more of several treatments, multi-arm trials whole) is
read here into a :class:`Network`: the rows coded by trial and by treatment, the network's
structure (treatments, designs, comparisons, arms) and its checks. The value holds no
model: the two-stage network meta-analysis (:mod:`bayes_ipd.two_stage.network`) and a
later one-stage network model both read its per-row codes and per-arm tables.

Treatment order (used for every table, the JSON and each trial's own reference arm): the
network ``reference`` first, then the other levels sorted as text (as R ``netmeta``
sorts them). A trial's reference arm is the network reference when the trial has it,
else the first of its treatments in that order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from bayes_ipd.conventions import readonly
from bayes_ipd.data.checks import VALUE_CHECKS, KeptRows, check_roles
from bayes_ipd.data.messages import index_row_name, quoted
from bayes_ipd.data.network_aggregate import (
    AggregateArms,
    AggregateContrasts,
    aggregate_pairs,
    aggregate_studies,
    as_aggregate_arms,
    as_aggregate_contrasts,
    check_overlap,
)
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families import get_family

__all__ = ["Network", "check_connected", "comparison_label", "network_from_frame"]


def comparison_label(first: str, second: str) -> str:
    """``"second vs first"``: the effect of ``second`` relative to ``first``."""
    return f"{second} vs {first}"


@dataclass(frozen=True, eq=False)
class Network:
    """Participant rows of a connected network of trials (read-only arrays).

    Attributes
    ----------
    family : str
        Outcome family name.
    study, treatment : str
        The trial and treatment columns.
    columns : Mapping[str, str]
        Response column per role of the family (``{"outcome": "quit"}``).
    reference : str
        The network's common comparator.
    treatments : tuple of str
        Every level, the reference first, then the others sorted as text.
    studies : tuple of str
        Trial labels, in order of first appearance.
    study_codes, treatment_codes : numpy.ndarray
        (n,) int: each row's trial (into ``studies``) and treatment (into ``treatments``).
    responses : Mapping[str, numpy.ndarray]
        (n,) float values per response column.
    trial_treatments : tuple of tuple of int
        Each trial's treatment codes, in network order (its first is its reference arm).
    aggregate_arms : AggregateArms, optional
        Arm-level aggregate data (their trials are in ``studies``; an AD-only trial has no
        rows), see :mod:`bayes_ipd.data.network_aggregate`.
    aggregate_contrasts : AggregateContrasts, optional
        Contrast-level aggregate data (trials with neither rows nor AD arms).
    """

    family: str
    study: str
    treatment: str
    columns: Mapping[str, str]
    reference: str
    treatments: tuple[str, ...]
    studies: tuple[str, ...]
    study_codes: np.ndarray
    treatment_codes: np.ndarray
    responses: Mapping[str, np.ndarray]
    trial_treatments: tuple[tuple[int, ...], ...]
    aggregate_arms: AggregateArms | None = None
    aggregate_contrasts: AggregateContrasts | None = None

    @property
    def n(self) -> int:
        """Participants (rows)."""
        return int(self.study_codes.size)

    @property
    def has_aggregate(self) -> bool:
        """Whether any trial enters with aggregate data."""
        return self.aggregate_arms is not None or self.aggregate_contrasts is not None

    def aggregate_arm_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """Each AD arm's trial and treatment code (empty without arm-level AD)."""
        ad = self.aggregate_arms
        if ad is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return (
            pd.Index(self.studies).get_indexer(list(ad.studies)).astype(np.int64),
            pd.Index(self.treatments).get_indexer(list(ad.treatments)).astype(np.int64),
        )

    def trial_sources(self) -> tuple[str, ...]:
        """Per trial: ``"IPD"``, ``"AD"`` (arm-level), ``"IPD+AD"`` (some arms as AD) or
        ``"AD contrasts"``."""
        rows = np.zeros(self.k, dtype=bool)
        rows[self.study_codes] = True
        arms = np.zeros(self.k, dtype=bool)
        arms[self.aggregate_arm_codes()[0]] = True
        contrasts = set(
            () if self.aggregate_contrasts is None else self.aggregate_contrasts.studies
        )
        names = {(True, False): "IPD", (False, True): "AD", (True, True): "IPD+AD"}
        return tuple(
            "AD contrasts" if s in contrasts else names[(bool(r), bool(a))]
            for s, r, a in zip(self.studies, rows, arms, strict=True)
        )

    @property
    def k(self) -> int:
        """Trials."""
        return len(self.studies)

    def trial_reference(self, trial: int) -> str:
        """The reference arm of trial ``trial`` (module docstring)."""
        return self.treatments[self.trial_treatments[trial][0]]

    def design_of(self, trial: int) -> tuple[str, ...]:
        """Trial ``trial``'s treatments in network order."""
        return tuple(self.treatments[t] for t in self.trial_treatments[trial])

    def arm_table(self) -> pd.DataFrame:
        """Participants per arm: columns ``study, treatment, n`` (trials in order, arms in
        network order)."""
        counts = np.zeros((self.k, len(self.treatments)), dtype=int)
        np.add.at(counts, (self.study_codes, self.treatment_codes), 1)
        if self.aggregate_arms is not None:
            np.add.at(
                counts, self.aggregate_arm_codes(), self.aggregate_arms.values["n"].astype(int)
            )
        rows = [
            (self.studies[s], self.treatments[t], int(counts[s, t]))
            for s, arms in enumerate(self.trial_treatments)
            for t in arms
        ]
        table = pd.DataFrame(rows, columns=["study", "treatment", "n"])
        if self.has_aggregate:  # the source column only when AD are present (tables unchanged)
            source = dict(zip(self.studies, self.trial_sources(), strict=True))
            table["source"] = table["study"].map(source)
        return table

    def design_table(self) -> pd.DataFrame:
        """Designs (the set of treatments of a trial, ``"A:B:C"`` in network order) with
        their trials: columns ``design, arms, trials, studies``."""
        found: dict[tuple[str, ...], list[str]] = {}
        for s in range(self.k):
            found.setdefault(self.design_of(s), []).append(self.studies[s])
        table = pd.DataFrame(
            [(":".join(d), len(d), len(trials), tuple(trials)) for d, trials in found.items()],
            columns=["design", "arms", "trials", "studies"],
        )
        if self.has_aggregate:  # trials per design by source, only when AD are present
            source = dict(zip(self.studies, self.trial_sources(), strict=True))
            table["ipd_trials"] = [
                sum(source[s] != "AD" and source[s] != "AD contrasts" for s in t)
                for t in table.studies
            ]
            table["ad_trials"] = table["trials"] - table["ipd_trials"]
        return table

    def comparison_table(self) -> pd.DataFrame:
        """Trials per pairwise comparison (a multi-arm trial counts for each of its pairs):
        columns ``comparison`` (``"B vs A"``, A earlier in network order), ``first``,
        ``second``, ``trials``, ``participants``."""
        arms = self.arm_table().set_index(["study", "treatment"])["n"]
        found: dict[tuple[int, int], list[int]] = {}
        for s, codes in enumerate(self.trial_treatments):
            for a, b in combinations(codes, 2):
                found.setdefault((a, b), []).append(s)
        rows = []
        for (a, b), trials in sorted(found.items()):
            first, second = self.treatments[a], self.treatments[b]
            people = sum(int(arms[(self.studies[s], t)]) for s in trials for t in (first, second))
            rows.append((comparison_label(first, second), first, second, len(trials), people))
        return pd.DataFrame(
            rows, columns=["comparison", "first", "second", "trials", "participants"]
        )

    def participants_per_treatment(self) -> dict[str, int]:
        """Participants randomised to each treatment, over all trials."""
        counts = np.bincount(self.treatment_codes, minlength=len(self.treatments))
        if self.aggregate_arms is not None:
            counts = counts + np.bincount(
                self.aggregate_arm_codes()[1],
                weights=self.aggregate_arms.values["n"],
                minlength=len(self.treatments),
            ).astype(int)
        return {t: int(c) for t, c in zip(self.treatments, counts, strict=True)}

    def summary(self) -> str:
        """A few lines: treatments, trials, designs, comparisons."""
        designs = self.design_table()
        lines = [
            f"network: {len(self.treatments)} treatments, {self.k} trials, "
            f"{sum(self.participants_per_treatment().values())} participants; reference "
            f"{self.reference!r}",
            "treatments: " + ", ".join(self.treatments),
            "designs: "
            + "; ".join(f"{d} ({t})" for d, t in zip(designs.design, designs.trials, strict=True)),
        ]
        if self.has_aggregate:
            sources = pd.Series(self.trial_sources()).value_counts()
            lines.append(
                "trials by source: "
                + ", ".join(f"{name} {int(sources.get(name, 0))}" for name in _SOURCES)
                + "; designs (IPD/AD trials): "
                + "; ".join(
                    f"{d} ({i}/{a})"
                    for d, i, a in zip(
                        designs.design, designs.ipd_trials, designs.ad_trials, strict=True
                    )
                )
            )
        return "\n".join(lines)


_SOURCES = ("IPD", "IPD+AD", "AD", "AD contrasts")


def _labels(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    """A text column's values as labels; missing or empty values refused naming rows."""
    values = frame[column]
    missing = values.isna().to_numpy()
    if missing.any():
        first = index_row_name(frame.index)(int(np.flatnonzero(missing)[0]))
        raise IPDDataError(
            f"{what} column {column!r} has {int(missing.sum())} missing value(s) (first at {first})"
        )
    labels = values.astype(str).str.strip().to_numpy(dtype=object)
    empty = labels == ""
    if empty.any():
        first = index_row_name(frame.index)(int(np.flatnonzero(empty)[0]))
        raise IPDDataError(
            f"{what} column {column!r} holds an empty level in {int(empty.sum())} row(s) "
            f"(first at {first}); every row needs a named {what}"
        )
    return labels


def _order(levels: list[str], reference: str, column: str) -> tuple[str, ...]:
    if reference not in levels:
        raise IPDDataError(
            f"reference {reference!r} is not a level of the treatment column {column!r}; "
            f"its levels are {quoted(sorted(levels), limit=20)}"
        )
    return (reference, *sorted(t for t in levels if t != reference))


def _trial_treatments(
    studies: tuple[str, ...], s_codes: np.ndarray, t_codes: np.ndarray, n_t: int
) -> tuple[tuple[int, ...], ...]:
    present = np.zeros((len(studies), n_t), dtype=bool)
    present[s_codes, t_codes] = True
    return tuple(tuple(int(t) for t in np.flatnonzero(row)) for row in present)


def _check_arms(
    studies: tuple[str, ...], arms: tuple[tuple[int, ...], ...], treatments: tuple[str, ...]
) -> None:
    single = [(s, treatments[a[0]]) for s, a in zip(studies, arms, strict=True) if len(a) < 2]
    if single:
        named = ", ".join(f"{s!r} (only {t!r})" for s, t in single[:8])
        raise IPDDataError(
            f"{len(single)} trial(s) have one arm, so they compare nothing: {named}; a trial "
            "enters a network with two or more treatments"
        )


def check_connected(
    studies: tuple[str, ...], arms: tuple[tuple[int, ...], ...], treatments: tuple[str, ...]
) -> None:
    """Refuse a network whose treatments fall into separate parts, naming each part.

    Parameters
    ----------
    studies : tuple of str
        Trial labels.
    arms : tuple of tuple of int
        Each trial's treatment codes (two or more).
    treatments : tuple of str
        Labels of the codes.
    """
    pairs = [(a, b) for codes in arms for a, b in combinations(codes, 2)]
    rows, cols = zip(*pairs, strict=True)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(treatments),) * 2)
    n_parts, label = connected_components(graph, directed=False)
    if n_parts == 1:
        return
    parts = []
    for part in range(n_parts):
        names = [treatments[t] for t in np.flatnonzero(label == part)]
        trials = [s for s, codes in zip(studies, arms, strict=True) if label[codes[0]] == part]
        parts.append(f"{{{', '.join(names)}}} (trials {quoted(trials)})")
    raise IPDDataError(
        f"the network is disconnected: {n_parts} parts share no treatment: "
        + "; ".join(parts)
        + ". Effects between parts are not estimable; analyse each part on its own"
    )


def _responses(
    frame: pd.DataFrame, family_name: str, columns: Mapping[str, str], kept: KeptRows
) -> dict[str, np.ndarray]:
    family = get_family(family_name, IPDDataError)
    values: dict[str, np.ndarray] = {}
    for role in family.responses:
        if role.role not in columns:
            continue
        column = columns[role.role]
        numbers = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(numbers)
        if bad.any():
            raise IPDDataError(
                f"{role.label} column {column!r} holds a missing or non-numeric value: "
                f"{kept.first_bad(bad, frame[column].to_numpy(dtype=object))}"
            )
        VALUE_CHECKS[role.check](numbers, column, role.label, kept)
        values[column] = readonly(numbers)
    return values


def network_from_frame(
    frame: pd.DataFrame,
    *,
    study: str,
    treatment: str,
    reference: str,
    family: str = "binomial",
    aggregate_arms: pd.DataFrame | AggregateArms | None = None,
    aggregate_contrasts: pd.DataFrame | AggregateContrasts | None = None,
    allow_overlap: bool = False,
    **responses: str,
) -> Network:
    """Read participant rows (and aggregate-data trials) as a network of trials.

    Parameters
    ----------
    frame : DataFrame
        One row per participant (only read).
    study, treatment : str
        The trial column and the treatment column (any number of text levels).
    reference : str
        The network's common comparator: a level of ``treatment``.
    family : str
        Outcome family name.
    aggregate_arms : DataFrame or AggregateArms, optional
        Arm-level aggregate data (:mod:`bayes_ipd.data.network_aggregate`): trials, or
        arms of IPD trials, given as summaries. AD trials may bring treatments the rows do
        not hold, if they connect to the network.
    aggregate_contrasts : DataFrame or AggregateContrasts, optional
        Contrast-level aggregate data (trials given as estimates against a base arm).
    allow_overlap : bool
        Accept an arm given both as rows and as AD in the same trial (its AD participants
        are then added to the arm's rows: they must be other participants); refused by
        default, naming trial and treatment.
    **responses : str
        The family's response columns by role (``outcome="quit"``; survival:
        ``time=, event=``).

    Returns
    -------
    Network

    Raises
    ------
    IPDDataError
        A missing column, a missing or empty study or treatment label, an unknown
        reference, a trial with one arm, a disconnected network (each part named),
        response values the family refuses.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"s": [1, 1, 2, 2], "t": ["A", "B", "B", "C"], "y": [0, 1, 1, 0]})
    >>> network_from_frame(rows, study="s", treatment="t", reference="A",
    ...                    outcome="y").treatments
    ('A', 'B', 'C')
    """
    responses = {role: name for role, name in responses.items() if name is not None}
    fam = get_family(family, IPDDataError)
    check_roles(fam, responses)
    needed = {"study": study, "treatment": treatment, **responses}
    absent = [f"{role}={name!r}" for role, name in needed.items() if name not in frame.columns]
    if absent:
        raise IPDDataError(
            f"column(s) not in the data: {', '.join(absent)}; columns are "
            f"{quoted(map(str, frame.columns), limit=20)}"
        )
    study_labels = _labels(frame, study, "study")
    treat_labels = _labels(frame, treatment, "treatment")
    ad_arms = as_aggregate_arms(aggregate_arms, fam.name)
    ad_contrasts = as_aggregate_contrasts(aggregate_contrasts)
    ipd_studies = tuple(str(s) for s in pd.unique(study_labels))
    studies = aggregate_studies(ipd_studies, ad_arms, ad_contrasts)
    s_codes = pd.Index(studies).get_indexer(study_labels).astype(np.int64)
    ad_pairs = aggregate_pairs(ad_arms, ad_contrasts)
    ad_levels = [t for _, t in ad_pairs]
    treatments = _order(
        list(dict.fromkeys([*pd.unique(treat_labels), *ad_levels])), str(reference), treatment
    )
    t_codes = pd.Index(treatments).get_indexer(treat_labels).astype(np.int64)
    ad_s = pd.Index(studies).get_indexer([s for s, _ in ad_pairs]).astype(np.int64)
    ad_t = pd.Index(treatments).get_indexer(ad_levels).astype(np.int64)
    if ad_arms is not None:
        check_overlap(
            ad_arms,
            set(zip(study_labels.tolist(), treat_labels.tolist(), strict=True)),
            allow_overlap,
        )
    arms = _trial_treatments(studies, np.r_[s_codes, ad_s], np.r_[t_codes, ad_t], len(treatments))
    _check_arms(studies, arms, treatments)
    _check_connected_with_ad(studies, arms, treatments, set(ad_levels) - set(treat_labels))
    kept = KeptRows(s_codes, studies, index_row_name(frame.index), np.arange(len(frame)))
    return Network(
        family=fam.name,
        study=study,
        treatment=treatment,
        columns=MappingProxyType(dict(responses)),
        reference=str(reference),
        treatments=treatments,
        studies=studies,
        study_codes=readonly(s_codes, np.int64),
        treatment_codes=readonly(t_codes, np.int64),
        responses=MappingProxyType(_responses(frame, fam.name, responses, kept)),
        trial_treatments=arms,
        aggregate_arms=ad_arms,
        aggregate_contrasts=ad_contrasts,
    )


def _check_connected_with_ad(
    studies: tuple[str, ...],
    arms: tuple[tuple[int, ...], ...],
    treatments: tuple[str, ...],
    ad_only: set[str],
) -> None:
    try:
        check_connected(studies, arms, treatments)
    except IPDDataError as err:
        if not ad_only:
            raise
        raise IPDDataError(
            f"{err} (treatment(s) {quoted(sorted(ad_only))} appear only in the aggregate "
            "data: a misspelt level, or trials that do not connect to the rest)"
        ) from None
