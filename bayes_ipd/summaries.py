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

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.errors import IPDDataError

SUMMARY_FORMAT = "bayes_ipd.trial_summary/1"
FAMILIES = ("gaussian", "binomial", "survival")


def _frozen(a: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    out = np.array(a, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class TrialSummary:
    """Exact one-stage sufficient statistics of one trial.

    Attributes
    ----------
    study : str
        Trial label.
    family : str
        ``"gaussian"``, ``"binomial"`` or ``"survival"``.
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
    ztz, zty, yty : numpy.ndarray or None
        Gaussian only: per arm ``Z'Z`` (2, m, m), ``Z'y`` (2, m), ``y'y`` (2,).
    cell_z, cell_n, cell_events : numpy.ndarray or None
        Binomial: design rows (C, m), participants (C,) and events (C,) per cell.
        Survival: ``cell_n`` holds exposure time, ``cell_interval`` the interval index.
    cell_interval : numpy.ndarray or None
        Survival only: the interval of each cell.
    cutpoints : tuple of float
        Survival only: interior cut points of the piecewise-constant baseline hazard.
    event_times : numpy.ndarray or None
        Survival only, and only when built from rows: the observed event times (used to
        place default cut points; never written by :meth:`to_dict`).
    """

    study: str
    family: str
    terms: tuple[str, ...]
    term_sources: tuple[str, ...]
    interaction_terms: tuple[str, ...]
    term_means: np.ndarray
    n_arm: np.ndarray
    ztz: np.ndarray | None = None
    zty: np.ndarray | None = None
    yty: np.ndarray | None = None
    cell_z: np.ndarray | None = None
    cell_n: np.ndarray | None = None
    cell_events: np.ndarray | None = None
    cell_interval: np.ndarray | None = None
    cutpoints: tuple[float, ...] = ()
    event_times: np.ndarray | None = field(default=None, compare=False)

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
        for name in ("ztz", "zty", "yty", "cell_z", "cell_n", "cell_events", "cell_interval"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.tolist()
        if self.cutpoints:
            out["cutpoints"] = list(self.cutpoints)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrialSummary:
        """Rebuild a summary from :meth:`to_dict` output; errors name the missing key."""
        if d.get("format") != SUMMARY_FORMAT:
            raise IPDDataError(
                f"not a trial summary: 'format' is {d.get('format')!r}, expected {SUMMARY_FORMAT!r}"
            )
        try:
            study = str(d["study"])
            family = str(d["family"])
            kwargs: dict[str, Any] = {
                "terms": tuple(d["terms"]),
                "term_sources": tuple(d["term_sources"]),
                "interaction_terms": tuple(d["interaction_terms"]),
                "term_means": _frozen(d["term_means"]),
                "n_arm": _frozen(d["n_arm"], np.int64),
            }
        except KeyError as exc:
            raise IPDDataError(f"trial summary lacks the key {exc.args[0]!r}") from None
        if family not in FAMILIES:
            raise IPDDataError(f"trial summary of {study!r} has unknown family {family!r}")
        for name in ("ztz", "zty", "yty", "cell_z", "cell_n", "cell_events"):
            if name in d:
                kwargs[name] = _frozen(d[name])
        if "cell_interval" in d:
            kwargs["cell_interval"] = _frozen(d["cell_interval"], np.int64)
        kwargs["cutpoints"] = tuple(float(c) for c in d.get("cutpoints", ()))
        needed = {
            "gaussian": ("ztz", "zty", "yty"),
            "binomial": ("cell_z", "cell_n", "cell_events"),
            "survival": ("cell_z", "cell_n", "cell_events", "cell_interval"),
        }[family]
        for name in needed:
            if name not in kwargs:
                raise IPDDataError(f"trial summary of {study!r} ({family}) lacks {name!r}")
        return cls(study=study, family=family, **kwargs)


def expand_covariates(
    covariates: pd.DataFrame, names: Sequence[str], n: int
) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """One column per covariate term: numeric as is, categorical one-hot with every level.

    Returns the (n, p) matrix, the term names and, per term, its source covariate.
    """
    blocks: list[np.ndarray] = []
    terms: list[str] = []
    sources: list[str] = []
    for name in names:
        col = covariates[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            for level in col.cat.categories:
                blocks.append((col == level).to_numpy(dtype=np.float64))
                terms.append(f"{name}[{level}]")
                sources.append(name)
        else:
            blocks.append(col.to_numpy(dtype=np.float64))
            terms.append(name)
            sources.append(name)
    x = np.column_stack(blocks) if blocks else np.zeros((n, 0))
    return x, tuple(terms), tuple(sources)


def design_rows(
    treat: np.ndarray, x: np.ndarray, interaction_idx: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Design rows ``[1, t, x - xbar, t (z - zbar)]`` of one trial, and its term means."""
    means = x.mean(axis=0) if x.shape[0] else np.zeros(x.shape[1])
    xc = x - means
    zc = xc[:, list(interaction_idx)]
    z = np.column_stack([np.ones_like(treat), treat, xc, treat[:, None] * zc])
    return z, means


def _unique_cells(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique rows (sorted) and, per input row, the index of its unique row."""
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    return uniq, inverse.reshape(-1)


def default_cutpoints(event_times: np.ndarray, intervals: int) -> tuple[float, ...]:
    """Interior cut points at the ``j / intervals`` quantiles of the event times.

    The intervals then hold roughly equal numbers of events. Ties among quantiles are
    merged, so fewer intervals may result when events are few.
    """
    if intervals < 1:
        raise IPDDataError(f"intervals must be at least 1, got {intervals}")
    if event_times.size == 0:
        raise IPDDataError("no events in the data: cannot place survival cut points")
    probs = np.arange(1, intervals) / intervals
    cuts = np.unique(np.quantile(event_times, probs))
    cuts = cuts[(cuts > 0) & (cuts < event_times.max())]
    return tuple(float(c) for c in cuts)


def split_exposure(
    time: np.ndarray, event: np.ndarray, cutpoints: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split follow-up into intervals: (row index, interval, exposure, event) per piece.

    Returns ``row`` (P,), ``interval`` (P,), and a (P, 2) array of exposure and event.
    """
    edges = np.concatenate([[0.0], np.asarray(cutpoints, dtype=np.float64), [np.inf]])
    n_int = edges.size - 1
    start = edges[:-1][None, :]
    stop = edges[1:][None, :]
    exposure = np.clip(np.minimum(time[:, None], stop) - start, 0.0, None)
    last = np.searchsorted(edges, time, side="left") - 1
    last = np.clip(last, 0, n_int - 1)
    at_risk = exposure > 0
    row, interval = np.nonzero(at_risk)
    ev = ((interval == last[row]) & (event[row] > 0)).astype(np.float64)
    return row, interval, np.column_stack([exposure[row, interval], ev])


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
) -> TrialSummary:
    """Exact one-stage summary of one trial's rows (see the module docstring)."""
    x, terms, sources = expand_covariates(covariates, covariate_names, len(treat))
    inter = [i for i, s in enumerate(sources) if s in set(interaction_names)]
    z, means = design_rows(treat, x, inter)
    arm = treat.astype(np.int64)
    n_arm = np.bincount(arm, minlength=2).astype(np.int64)
    common: dict[str, Any] = {
        "study": study,
        "family": family,
        "terms": terms,
        "term_sources": sources,
        "interaction_terms": tuple(terms[i] for i in inter),
        "term_means": _frozen(means),
        "n_arm": _frozen(n_arm, np.int64),
    }
    if family == "gaussian":
        assert outcome is not None
        ztz = np.stack([z[arm == a].T @ z[arm == a] for a in (0, 1)])
        zty = np.stack([z[arm == a].T @ outcome[arm == a] for a in (0, 1)])
        yty = np.array([outcome[arm == a] @ outcome[arm == a] for a in (0, 1)])
        return TrialSummary(ztz=_frozen(ztz), zty=_frozen(zty), yty=_frozen(yty), **common)
    if family == "binomial":
        assert outcome is not None
        cells, inverse = _unique_cells(z)
        n_cell = np.bincount(inverse, minlength=len(cells)).astype(np.float64)
        events = np.bincount(inverse, weights=outcome, minlength=len(cells))
        return TrialSummary(
            cell_z=_frozen(cells), cell_n=_frozen(n_cell), cell_events=_frozen(events), **common
        )
    assert time is not None and event is not None
    row, interval, expo_ev = split_exposure(time, event, cutpoints)
    keys = np.column_stack([interval.astype(np.float64), z[row]])
    cells, inverse = _unique_cells(keys)
    exposure = np.bincount(inverse, weights=expo_ev[:, 0], minlength=len(cells))
    events = np.bincount(inverse, weights=expo_ev[:, 1], minlength=len(cells))
    return TrialSummary(
        cell_z=_frozen(cells[:, 1:]),
        cell_n=_frozen(exposure),
        cell_events=_frozen(events),
        cell_interval=_frozen(cells[:, 0], np.int64),
        cutpoints=tuple(float(c) for c in cutpoints),
        event_times=_frozen(time[event > 0]),
        **common,
    )


def summarise(
    ipd: Any, spec: Any, *, cutpoints: Sequence[float] | None = None
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
    cuts: tuple[float, ...] = ()
    if ipd.family == "survival":
        cuts = tuple(cutpoints) if cutpoints is not None else survival_cutpoints(ipd, spec)
    out = []
    for k, label in enumerate(ipd.studies):
        rows = np.flatnonzero(ipd.study == k)
        out.append(
            summarise_trial(
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
            )
        )
    return out


def survival_cutpoints(ipd: Any, spec: Any) -> tuple[float, ...]:
    """Cut points of the spec: explicit ones, or event-time quantiles of ``ipd``."""
    if isinstance(spec.intervals, int):
        return default_cutpoints(ipd.time[ipd.event > 0], spec.intervals)
    return tuple(float(c) for c in spec.intervals)


def check_spec_columns(ipd: Any, spec: Any) -> None:
    """Every covariate of the spec is a covariate of the data; the families agree."""
    if spec.family != ipd.family:
        raise IPDDataError(
            f"the model is for family {spec.family!r} but the data are {ipd.family!r}"
        )
    have = set(ipd.covariates.columns)
    for name in (*spec.covariates, *spec.interactions):
        if name not in have:
            raise IPDDataError(
                f"covariate {name!r} of the model is not among the data's covariates "
                f"{sorted(have)}; pass it in covariates= when reading the data"
            )


def write_summaries(summaries: Sequence[TrialSummary], path: str | Path) -> Path:
    """Write summaries as one JSON document ``{"format": ..., "trials": [...]}``."""
    path = Path(path)
    doc = {"format": SUMMARY_FORMAT, "trials": [s.to_dict() for s in summaries]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
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
    return [TrialSummary.from_dict(t) for t in trials]
