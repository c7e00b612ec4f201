"""Per-trial summaries that are exact for the one-stage likelihood and hold no participant row.

A :class:`TrialSummary` is what one trial contributes to a one-stage model. It is computed
from that trial's rows alone, so a trial whose data may not leave its host can compute it
there and send only the summary. The design row of participant ``i`` is

``z_i = [1, t_i, x_i - xbar, t_i (x_i - xbar)]``

with ``xbar`` the trial's own covariate means (every covariate term, categorical covariates
one-hot coded with all their levels). A summary then reveals, per trial:

* always: the trial label, the number of participants per arm, the trial's covariate means
  (``term_means``);
* gaussian: per arm, ``Z'Z`` (counts, covariate sums of squares and cross-products by arm),
  ``Z'y`` (outcome sums and outcome-covariate cross-products by arm) and ``y'y`` (sum of
  squared outcomes), i.e. per-arm means, variances and covariances of outcome and covariates;
* binomial: the number of participants and events in each cell of identical design rows.
  With only categorical or discrete covariates these are counts per covariate pattern;
  **with a continuous covariate each cell is one participant, so the summary then holds each
  participant's (centred) covariate values and outcome: it is not a disclosure control.**
* survival: per cell of identical (interval, design row) the events and the exposure time
  (the same caveat for continuous covariates applies).

Everything the one-stage likelihood needs is in the summary and nothing else is, so fitting
summaries gives exactly the posterior that fitting the rows gives (same seed, same draws).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_ipd.conventions import readonly
from bayes_ipd.covariates import check_spec_columns, expand_covariates
from bayes_ipd.data.missing import refuse_missing_covariates
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families import REGISTRY, Family, get_family

if TYPE_CHECKING:
    from bayes_ipd.data import IPD
    from bayes_ipd.spec import ModelSpec

SUMMARY_FORMAT = "bayes_ipd.trial_summary/1"


def frozen_statistics(stats: Mapping[str, Any], family: Family) -> MappingProxyType:
    """Read-only copies of a family's statistics (indices as integers), in its order."""
    ints = set(family.integer_statistics) | {"cell_study"}
    return MappingProxyType(
        {
            name: readonly(stats[name], np.int64 if name in ints else np.float64)
            for name in (*family.statistics, *(n for n in stats if n not in family.statistics))
        }
    )


@dataclass(frozen=True, eq=False)
class TrialSummary:
    """Exact one-stage sufficient statistics of one trial.

    Attributes
    ----------
    study : str
        Trial label.
    family : str
        Outcome family (a name of :data:`bayes_ipd.families.REGISTRY`).
    terms : tuple of str
        Covariate terms (categorical covariates one-hot coded, ``"name[level]"``).
    term_sources : tuple of str
        For each term, the covariate it comes from.
    interaction_terms : tuple of str
        The terms that also enter as treatment interactions (a subset of ``terms``).
    term_means : numpy.ndarray
        The trial's mean of each term.
    n_arm : numpy.ndarray
        Participants in the control and treated arm, shape (2,).
    stats : Mapping of str to numpy.ndarray
        The family's sufficient statistics (read-only), e.g. gaussian per arm ``ztz``
        (2, m, m), ``zty`` (2, m), ``yty`` (2,); binomial per cell ``cell_z`` (C, m),
        ``cell_n``, ``cell_events``; survival also ``cell_interval`` (``cell_n`` holds
        exposure time).
    cutpoints : tuple of float
        Survival only: interior cut points of the piecewise-constant baseline hazard.
    trial_level : Mapping of str to float
        Trial-level covariates (moderators of a one-stage meta-regression): one value per
        trial, e.g. ``{"ablat": 44.0}`` (:func:`trial_level_values`).

    Raises
    ------
    IPDDataError
        Summaries no trial's rows could give, checked whenever one is built or read:
        negative counts, a count in ``stats`` that differs from ``n_arm``, impossible
        moments (gaussian ``y'y < (1'y)² / n``), non-finite values; the trial and the
        statistic are named (the family's part: :meth:`Family.statistics_problem`).
    """

    study: str
    family: str
    terms: tuple[str, ...]
    term_sources: tuple[str, ...]
    interaction_terms: tuple[str, ...]
    term_means: np.ndarray
    n_arm: np.ndarray
    stats: Mapping[str, np.ndarray]
    cutpoints: tuple[float, ...] = ()
    trial_level: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        values = {str(k): float(v) for k, v in dict(self.trial_level).items()}
        for name, v in values.items():
            if not np.isfinite(v):
                raise IPDDataError(
                    f"trial {self.study!r}: trial-level covariate {name!r} is {v}; need a number"
                )
        object.__setattr__(self, "trial_level", MappingProxyType(values))
        problem = self._problem()
        if problem is not None:
            raise IPDDataError(f"trial summary of {self.study!r} is impossible: {problem}")

    def _problem(self) -> str | None:
        """Why these summaries cannot come from any trial's rows (None: they can). Checked
        when a summary is read or built, so an impossible file never reaches a fit."""
        n_arm = np.asarray(self.n_arm)
        if n_arm.shape != (2,):
            return f"n_arm has shape {n_arm.shape}, expected (2,) (control, treated)"
        if np.any(n_arm < 0):
            return f"n_arm {n_arm.tolist()} holds a negative count"
        if np.shape(self.term_means) != (len(self.terms),):
            return f"term_means has {np.size(self.term_means)} values for {len(self.terms)} terms"
        if not np.all(np.isfinite(self.term_means)):
            return "term_means holds a value that is not a finite number"
        family = get_family(self.family, IPDDataError)
        return family.statistics_problem(self.stats, n_arm, self.width)

    @property
    def n(self) -> int:
        """Participants in the trial."""
        return int(self.n_arm.sum())

    @property
    def width(self) -> int:
        """Number of design columns m = 2 + terms + interaction terms."""
        return 2 + len(self.terms) + len(self.interaction_terms)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (floats round-trip exactly through :mod:`json`)."""
        out: dict[str, Any] = {
            "format": SUMMARY_FORMAT,
            "study": self.study,
            "family": self.family,
            "terms": list(self.terms),
            "term_sources": list(self.term_sources),
            "interaction_terms": list(self.interaction_terms),
            "term_means": self.term_means.tolist(),
            "n_arm": self.n_arm.tolist(),
        }
        out.update({name: value.tolist() for name, value in self.stats.items()})
        if self.cutpoints:
            out["cutpoints"] = list(self.cutpoints)
        if self.trial_level:
            out["trial_level"] = dict(self.trial_level)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialSummary:
        """Rebuild a summary from :meth:`to_dict` output.

        Raises
        ------
        IPDDataError
            A key missing, a value that is not what the key holds (NaN, ``null``, a list
            where a number belongs, a count that is negative or not whole), or statistics no
            data could give (:meth:`Family.statistics_problem`); the trial and the key are
            named.
        """
        if d.get("format") != SUMMARY_FORMAT:
            raise IPDDataError(
                f"not a trial summary: 'format' is {d.get('format')!r}, expected {SUMMARY_FORMAT!r}"
            )
        missing = [
            k for k in ("study", "family", *_LABEL_KEYS, "term_means", "n_arm") if k not in d
        ]
        if missing:
            raise IPDDataError(f"trial summary lacks the key {missing[0]!r}")
        study = d["study"]
        if isinstance(study, bool) or not isinstance(study, str | int):
            raise IPDDataError(f"trial summary's 'study' is {study!r}; expected a trial label")
        study = str(study)
        family_name = str(d["family"])
        if family_name not in REGISTRY:
            raise IPDDataError(f"trial summary of {study!r} has unknown family {family_name!r}")
        family = REGISTRY[family_name]
        for name in family.statistics:
            if name not in d:
                raise IPDDataError(f"trial summary of {study!r} ({family_name}) lacks {name!r}")
        kwargs: dict[str, Any] = {k: _labels(study, k, d[k]) for k in _LABEL_KEYS}
        kwargs["term_means"] = readonly(_numbers(study, "term_means", d["term_means"]))
        kwargs["n_arm"] = readonly(_numbers(study, "n_arm", d["n_arm"], whole=True), np.int64)
        stats = {
            n: _numbers(study, n, d[n], whole=n in family.integer_statistics)
            for n in family.statistics
        }
        kwargs["stats"] = frozen_statistics(stats, family)
        kwargs["cutpoints"] = tuple(_numbers(study, "cutpoints", d.get("cutpoints", [])).ravel())
        level = d.get("trial_level", {})
        if not isinstance(level, Mapping):
            raise IPDDataError(f"trial summary of {study!r}: trial_level is {level!r}, not a table")
        kwargs["trial_level"] = {
            k: float(_numbers(study, f"trial_level.{k}", v, scalar=True)) for k, v in level.items()
        }
        return cls(study=study, family=family_name, **kwargs)


_LABEL_KEYS = ("terms", "term_sources", "interaction_terms")


def _labels(study: str, key: str, value: Any) -> tuple[str, ...]:
    """A summary's list of term labels, or an error naming the trial and the key."""
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise IPDDataError(
            f"trial summary of {study!r}: {key} is {value!r:.80}; need a list of names"
        )
    return tuple(value)


def _numbers(
    study: str, key: str, value: Any, *, whole: bool = False, scalar: bool = False
) -> np.ndarray:
    """A summary value as a float array: finite (no NaN, null or nested list where a number
    belongs), whole and non-negative for counts; errors name the trial and the key."""
    where = f"trial summary of {study!r}: {key}"
    text = json.dumps(value, default=str)[:80]
    if isinstance(value, bool) or (scalar and not isinstance(value, int | float)):
        raise IPDDataError(f"{where} is {text}; expected a number")
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise IPDDataError(f"{where} is {text}; expected numbers (an array of its shape)") from None
    if array.dtype != np.float64 or not np.all(np.isfinite(array)):
        raise IPDDataError(f"{where} holds {text}: null, NaN or infinity where a number belongs")
    if whole and (np.any(array != np.round(array)) or np.any(array < 0)):
        raise IPDDataError(f"{where} is {text}; counts must be whole and non-negative")
    return array


def design_rows(
    treat: np.ndarray, x: np.ndarray, interaction_idx: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Design rows ``[1, t, x - xbar, t (z - zbar)]`` of one trial, and its term means."""
    means = x.mean(axis=0) if x.shape[0] else np.zeros(x.shape[1])
    xc = x - means
    zc = xc[:, list(interaction_idx)]
    z = np.column_stack([np.ones_like(treat), treat, xc, treat[:, None] * zc])
    return z, means


def summarise_trial(
    study: str,
    family: str,
    treat: np.ndarray,
    covariates: pd.DataFrame,
    covariate_names: Sequence[str],
    interaction_names: Sequence[str],
    *,
    outcome: np.ndarray | None = None,
    time: np.ndarray | None = None,
    event: np.ndarray | None = None,
    cutpoints: Sequence[float] = (),
    columns: Mapping[str, str] | None = None,
) -> TrialSummary:
    """Exact one-stage summary of one trial's rows (see the module docstring).

    ``columns`` (response role to source column name) labels error messages.

    Raises
    ------
    IPDDataError
        A response is missing, or a statistic is not finite (it overflows: the trial, the
        statistic and the column are named).
    """
    fam = get_family(family, IPDDataError)
    x, terms, sources = expand_covariates(covariates, covariate_names, len(treat))
    inter = [i for i, s in enumerate(sources) if s in set(interaction_names)]
    z, means = design_rows(treat, x, inter)
    arm = treat.astype(np.int64)
    given = {"outcome": outcome, "time": time, "event": event}
    responses = {name: given[name] for name in fam.response_names if given[name] is not None}
    missing = [name for name in fam.required_response_names if given[name] is None]
    if missing:
        raise IPDDataError(f"trial {study!r}: the {family} family needs {', '.join(missing)}")
    with np.errstate(over="ignore", invalid="ignore"):
        stats = fam.trial_statistics(z, arm, responses, cutpoints)  # type: ignore[arg-type]
    check_finite_statistics(study, stats, responses, covariate_names, columns)
    return TrialSummary(
        study=study,
        family=fam.name,
        terms=terms,
        term_sources=sources,
        interaction_terms=tuple(terms[i] for i in inter),
        term_means=readonly(means),
        n_arm=readonly(np.bincount(arm, minlength=2), np.int64),
        stats=frozen_statistics(stats, fam),
        cutpoints=tuple(float(c) for c in cutpoints),
    )


def check_finite_statistics(
    study: str,
    stats: Mapping[str, Any],
    responses: Mapping[str, np.ndarray | None],
    covariate_names: Sequence[str],
    columns: Mapping[str, str] | None = None,
) -> None:
    """Refuse a summary whose statistics are not finite (e.g. an outcome of 1e300 squared),
    naming the trial, the statistic and the columns it is built from.

    ``columns`` maps a response role (``"outcome"``, ``"time"``, ``"event"``) to its source
    column name; without it the role is named.
    """
    columns = columns or {}
    for name, value in stats.items():
        array = np.asarray(value, dtype=np.float64)
        if np.all(np.isfinite(array)):
            continue
        bad = array[~np.isfinite(array)].flat[0]
        sources = [f"{role} {columns.get(role, role)!r}" for role in responses]
        if covariate_names:
            sources.append(f"covariates {list(covariate_names)!r}")
        raise IPDDataError(
            f"trial {study!r}: the summary statistic {name} of {' and '.join(sources)} "
            f"overflows ({bad}); rescale the "
            f"{'outcome' if len(responses) == 1 else 'response columns'} (or covariates)"
        )


def summarise(
    ipd: IPD, spec: ModelSpec, *, cutpoints: Sequence[float] | None = None
) -> list[TrialSummary]:
    """Exact per-trial summaries of an IPD set for a one-stage model.

    Parameters
    ----------
    ipd : IPD
        Validated participant data.
    spec : ModelSpec
        The model the summaries are for (its covariates and interactions; for survival,
        its ``intervals``).
    cutpoints : sequence of float, optional
        Survival only: interior cut points. By default those of ``spec.intervals`` (explicit
        cut points, or quantiles of this data set's event times).

    Returns
    -------
    list of TrialSummary
        One per trial, in the order of ``ipd.studies``. ``[s.to_dict() for s in ...]`` is
        JSON-serialisable and contains no participant row (see the module docstring for what
        it does reveal).

    Examples
    --------
    >>> from bayes_ipd.datasets import load_bcg_ipd
    >>> from bayes_ipd.spec import ModelSpec
    >>> sums = summarise(load_bcg_ipd(), ModelSpec(family="binomial"))
    >>> sums[0].study, int(sums[0].n)
    ('Aronson 1948', 262)
    """
    check_spec_columns(ipd, spec)
    # missing covariates (missing="impute") are imputed by the one-stage fit of the rows
    refuse_missing_covariates(
        ipd.covariates, spec.covariates, "exact trial summaries (fit the rows to impute)"
    )
    cuts = tuple(cutpoints) if cutpoints is not None else survival_cutpoints(ipd, spec)
    names = {
        role: name
        for role, name in (
            ("outcome", ipd.columns.outcome),
            ("time", ipd.columns.time),
            ("event", ipd.columns.event),
        )
        if name is not None
    }
    out = []
    for k, label in enumerate(ipd.studies):
        rows = np.flatnonzero(ipd.study == k)
        summary = summarise_trial(
            label,
            ipd.family,
            ipd.treat[rows],
            ipd.covariates.iloc[rows].reset_index(drop=True),
            spec.covariates,
            spec.interactions,
            outcome=None if ipd.outcome is None else ipd.outcome[rows],
            time=None if ipd.time is None else ipd.time[rows],
            event=None if ipd.event is None else ipd.event[rows],
            cutpoints=cuts,
            columns=names,
        )
        level = trial_level_values(ipd, rows, label, spec.moderators)
        out.append(dataclasses.replace(summary, trial_level=level) if level else summary)
    return out


def trial_level_values(
    ipd: IPD, rows: np.ndarray, study: str, names: Sequence[str]
) -> dict[str, float]:
    """The value of each trial-level covariate (moderator) in one trial's rows.

    Raises
    ------
    IPDDataError
        A column that is categorical, or not constant within the trial (the trial, the
        column and two of its values are named).
    """
    out: dict[str, float] = {}
    for name in names:
        col = ipd.covariates[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            raise IPDDataError(
                f"moderator {name!r} is categorical; a moderator must be a numeric "
                "trial-level column (code it as 0/1 columns)"
            )
        values = np.unique(col.to_numpy(dtype=np.float64)[rows])
        if len(values) > 1:
            raise IPDDataError(
                f"moderator {name!r} is not constant within trial {study!r} (values "
                f"{values[0]:g} and {values[1]:g}, ...); a moderator is a trial-level "
                "column: one value per trial"
            )
        out[name] = float(values[0])
    return out


def survival_cutpoints(ipd: IPD, spec: ModelSpec) -> tuple[float, ...]:
    """Cut points of the spec for a family with a piecewise baseline (none otherwise):
    explicit ones, or event-time quantiles of ``ipd``."""
    family = get_family(ipd.family, IPDDataError)
    if not family.has_baseline_hazard:
        return ()
    return family.model_cutpoints(ipd.time[ipd.event > 0], spec)


def write_summaries(summaries: Sequence[TrialSummary], path: str | Path) -> Path:
    """Write summaries as one JSON document ``{"format": ..., "trials": [...]}``."""
    path = Path(path)
    doc = {"format": SUMMARY_FORMAT, "trials": [s.to_dict() for s in summaries]}
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=1, allow_nan=False)  # a non-finite value is an error
    path.write_text(text)
    return path


def read_summaries(path: str | Path) -> list[TrialSummary]:
    """Read summaries written by :func:`write_summaries` (or a single trial's dict)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise IPDDataError(f"summary file not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IPDDataError(f"summary file {path} is not JSON: {exc}") from None
    trials = doc.get("trials", [doc]) if isinstance(doc, dict) else doc
    if not isinstance(trials, list) or not all(isinstance(t, dict) for t in trials):
        raise IPDDataError(f"summary file {path}: 'trials' must be a list of trial summaries")
    return [TrialSummary.from_dict(t) for t in trials]
