"""Aggregate-data (AD) trials in the one-stage Bayesian model.

A trial known only by its published effect estimate ``y_k`` and standard error ``s_k`` (on
the family's scale: mean difference, log odds ratio, log hazard ratio) enters the same
random-effects distribution as the trials with participant rows:

``y_k ~ Normal(theta_k, s_k)``,  ``theta_k ~ Normal(mu, tau)``

(the variables ``theta_ad`` [``ad_study``] and, for the likelihood, a ``Potential``). A
binary trial published as arm-level counts (events and participants per arm,
:class:`ArmCounts`) instead enters with the exact binomial likelihood: it becomes a trial
summary with one cell per arm, which is the binomial family's own cell likelihood. With no
participant rows at all the model is a Bayesian aggregate-data meta-analysis, as R
``bayesmeta`` computes it (Röver 2020, J Stat Softw 93(6)).

Assumptions, stated because AD cannot show them: an AD trial's ``theta_k`` is its effect at
the average trial's covariate means (its across-trial interaction term is taken as zero),
and its estimate is on the same scale as the model's treatment effect (for log odds ratios
from covariate-adjusted IPD models, the conditional and the crude OR differ: logistic
models are not collapsible).

The AD trials travel on the :class:`~bayes_ipd.one_stage.design.Design` (its ``aggregate``
field); the builder (:mod:`bayes_ipd.one_stage.builder`, which also builds the AD-only
model) asks this module for their data containers, coordinates and log-likelihood. Their
estimates and SEs are data containers, so a compiled model is reused for new AD values, and
their labels are set on the posterior after sampling (:func:`label_aggregate`). This module
holds values and hooks only: it imports neither the builder nor the result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from os import PathLike
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_ipd.conventions import readonly
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families import get_family
from bayes_ipd.one_stage.summaries import TrialSummary, frozen_statistics
from bayes_ipd.two_stage.aggregate import AggregateData

if TYPE_CHECKING:
    import arviz as az

    from bayes_ipd.families import Family
    from bayes_ipd.one_stage.design import Design
    from bayes_ipd.one_stage.posterior import Posterior
    from bayes_ipd.spec import ModelSpec

__all__ = [
    "DUPLICATE_POLICIES",
    "AggregateTrials",
    "ArmCounts",
    "aggregate_arrays",
    "aggregate_coords",
    "aggregate_loglik",
    "label_aggregate",
    "split_aggregate",
    "trial_effects",
]

DUPLICATE_POLICIES = ("error", "prefer_ipd")
"""What to do with a trial given both with participant rows and as AD: refuse, or use the
rows and drop the AD entry (counted and reported)."""

LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True, eq=False)
class AggregateTrials:
    """Trials known only by a published effect estimate and its standard error.

    Parameters
    ----------
    studies : tuple of str
        Unique trial labels (the ``ad_study`` coordinate).
    estimate, se : numpy.ndarray
        Estimate on the model's effect scale and its standard error (finite, SE > 0).
    scale : str or None
        Effect scale code (``"MD"``, ``"logOR"``, ``"logHR"``), or None (taken to be the
        model's).
    count_studies : tuple of str
        Labels of the trials given as arm-level counts (:class:`ArmCounts`); they enter as
        trial summaries, listed here only so reports can mark them as AD.
    dropped : tuple of str
        AD entries left out because the trial also has participant rows
        (``duplicates="prefer_ipd"``).
    moderators : Mapping of str to numpy.ndarray
        Trial-level covariates by name, one value per trial of ``studies`` (NaN: not
        known), for a one-stage meta-regression (``ModelSpec(moderators=...)``).

    Raises
    ------
    IPDDataError
        Unequal lengths, a duplicate label, a missing or non-finite estimate, or an SE that
        is missing, not finite or <= 0 (the trial is named).

    Examples
    --------
    >>> ad = AggregateTrials(("A", "B"), np.array([-0.3, -0.1]), np.array([0.2, 0.15]))
    >>> ad.k
    2
    """

    studies: tuple[str, ...]
    estimate: np.ndarray
    se: np.ndarray
    scale: str | None = None
    count_studies: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    moderators: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        studies = tuple(str(s) for s in self.studies)
        object.__setattr__(self, "studies", studies)
        est = np.asarray(self.estimate, dtype=np.float64).reshape(-1)
        se = np.asarray(self.se, dtype=np.float64).reshape(-1)
        if not (len(est) == len(se) == len(studies)):
            raise IPDDataError(
                f"aggregate data: {len(studies)} trials but {len(est)} estimates and {len(se)} SEs"
            )
        _check_labels(studies, "aggregate data")
        for label, y, s in zip(studies, est, se, strict=True):
            if not np.isfinite(y):
                raise IPDDataError(f"aggregate trial {label!r}: estimate is {y}; need a number")
            if not (np.isfinite(s) and s > 0):
                raise IPDDataError(
                    f"aggregate trial {label!r}: se is {s}; need a positive, finite SE"
                )
        object.__setattr__(self, "estimate", readonly(est))
        object.__setattr__(self, "se", readonly(se))
        object.__setattr__(self, "count_studies", tuple(map(str, self.count_studies)))
        object.__setattr__(self, "dropped", tuple(map(str, self.dropped)))
        mods = {}
        for name, values in dict(self.moderators).items():
            v = np.asarray(values, dtype=np.float64).reshape(-1)
            if len(v) != len(studies):
                raise IPDDataError(
                    f"aggregate data: moderator {name!r} has {len(v)} values for "
                    f"{len(studies)} trials"
                )
            mods[str(name)] = readonly(v)
        object.__setattr__(self, "moderators", MappingProxyType(mods))

    @property
    def k(self) -> int:
        """Number of trials entering with a normal likelihood (estimate, SE)."""
        return len(self.studies)

    @property
    def labels(self) -> tuple[str, ...]:
        """Every AD trial: estimate-and-SE trials, then arm-count trials."""
        return (*self.studies, *self.count_studies)

    @classmethod
    def from_aggregate(
        cls, agg: AggregateData, moderators: pd.DataFrame | None = None
    ) -> AggregateTrials:
        """The included trials of an :class:`~bayes_ipd.two_stage.AggregateData` table.

        ``moderators``: a table indexed by trial label with one column per moderator
        (:func:`read_moderator_columns`); every included trial must be in it.
        """
        kept = agg.included()
        mods = {}
        if moderators is not None:
            missing = [s for s in kept.studies if s not in moderators.index]
            if missing:
                raise IPDDataError(f"aggregate trial {missing[0]!r} has no moderator row")
            mods = {c: moderators.loc[list(kept.studies), c].to_numpy() for c in moderators}
        return cls(kept.studies, kept.estimate, kept.se, scale=agg.scale, moderators=mods)

    @classmethod
    def read_csv(
        cls,
        path: str | PathLike[str],
        *,
        estimate: str = "estimate",
        se: str = "se",
        study: str = "study",
        scale: str | None = None,
        moderators: Sequence[str] = (),
    ) -> AggregateTrials:
        """Read published results (one row per trial) via
        :meth:`~bayes_ipd.two_stage.AggregateData.read_csv`; ``moderators`` names
        trial-level columns of the same file (:func:`read_moderator_columns`)."""
        agg = AggregateData.read_csv(path, estimate=estimate, se=se, study=study, scale=scale)
        table = read_moderator_columns(path, moderators, study) if moderators else None
        return cls.from_aggregate(agg, table)

    def to_frame(self) -> pd.DataFrame:
        """``study, estimate, se`` of the estimate-and-SE trials."""
        return pd.DataFrame({"study": list(self.studies), "estimate": self.estimate, "se": self.se})


@dataclass(frozen=True, eq=False)
class ArmCounts:
    """Binary trials published as arm-level counts (a 2x2 table per trial).

    Parameters
    ----------
    studies : tuple of str
    events, n : numpy.ndarray
        (K, 2) events and participants in the control and treated arm.
    moderators : Mapping of str to numpy.ndarray
        Trial-level covariates by name, one value per trial (a one-stage meta-regression).

    Raises
    ------
    IPDDataError
        Wrong shapes, a duplicate label, counts that are not whole numbers >= 0, events
        above n, or an empty arm (the trial is named).

    Examples
    --------
    >>> counts = ArmCounts(("A",), np.array([[10, 5]]), np.array([[100, 100]]))
    >>> counts.n.tolist()
    [[100, 100]]
    """

    studies: tuple[str, ...]
    events: np.ndarray
    n: np.ndarray
    moderators: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        studies = tuple(str(s) for s in self.studies)
        object.__setattr__(self, "studies", studies)
        _check_labels(studies, "arm counts")
        events = np.asarray(self.events, dtype=np.float64)
        n = np.asarray(self.n, dtype=np.float64)
        if events.shape != (len(studies), 2) or n.shape != (len(studies), 2):
            raise IPDDataError(
                f"arm counts: events and n must have shape ({len(studies)}, 2), one "
                f"(control, treated) pair per trial; got {events.shape} and {n.shape}"
            )
        for label, e, m in zip(studies, events, n, strict=True):
            both = np.r_[e, m]
            whole = np.all(np.isfinite(both)) and np.all(both == np.floor(both))
            if not whole or e.min() < 0:
                raise IPDDataError(f"arm-count trial {label!r}: counts must be whole numbers >= 0")
            if m.min() <= 0:
                raise IPDDataError(f"arm-count trial {label!r} has an arm with no participants")
            if np.any(e > m):
                raise IPDDataError(f"arm-count trial {label!r}: events exceed participants")
        object.__setattr__(self, "events", readonly(events))
        object.__setattr__(self, "n", readonly(n))
        mods = {
            str(k): readonly(np.asarray(v, dtype=np.float64)) for k, v in self.moderators.items()
        }
        for name, v in mods.items():
            if v.shape != (len(studies),):
                raise IPDDataError(
                    f"arm counts: moderator {name!r} has {v.size} values for {len(studies)} trials"
                )
        object.__setattr__(self, "moderators", MappingProxyType(mods))

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        study: str,
        events_control: str,
        n_control: str,
        events_treated: str,
        n_treated: str,
    ) -> ArmCounts:
        """One row per trial; errors name the missing column."""
        cols = (study, events_control, n_control, events_treated, n_treated)
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise IPDDataError(
                f"arm counts: column(s) {', '.join(map(repr, missing))} not found; the table "
                f"has: {', '.join(map(str, df.columns))}"
            )
        numbers = df[list(cols[1:])].apply(pd.to_numeric, errors="coerce")
        if numbers.isna().any().any():
            bad = numbers.columns[numbers.isna().any()][0]
            raise IPDDataError(f"arm counts: column {bad!r} has a missing or non-numeric value")
        values = numbers.to_numpy(dtype=np.float64)
        return cls(
            tuple(df[study].astype(str).str.strip()),
            events=values[:, [0, 2]],
            n=values[:, [1, 3]],
        )

    def with_moderators(self, table: pd.DataFrame) -> ArmCounts:
        """A copy with the moderator columns of ``table`` (indexed by trial label, e.g.
        :func:`read_moderator_columns`); every trial must be in it."""
        missing = [s for s in self.studies if s not in table.index]
        if missing:
            raise IPDDataError(f"arm-count trial {missing[0]!r} has no moderator row")
        mods = {c: table.loc[list(self.studies), c].to_numpy() for c in table.columns}
        return replace(self, moderators=mods)

    def summaries(self, family: Family) -> list[TrialSummary]:
        """One trial summary per trial, one cell per arm (exact binomial likelihood).

        Raises
        ------
        IPDDataError
            The family's likelihood is not per-cell event counts
            (:meth:`~bayes_ipd.families.Family.arm_count_statistics`).
        """
        out = []
        for i, (label, e, m) in enumerate(zip(self.studies, self.events, self.n, strict=True)):
            stats = family.arm_count_statistics(e, m)
            out.append(
                TrialSummary(
                    study=label,
                    family=family.name,
                    terms=(),
                    term_sources=(),
                    interaction_terms=(),
                    term_means=readonly(np.zeros(0)),
                    n_arm=readonly(m.astype(np.int64), np.int64),
                    stats=frozen_statistics(stats, family),
                    trial_level={k: v[i] for k, v in self.moderators.items()},
                )
            )
        return out


def read_moderator_columns(
    path: str | PathLike[str], names: Sequence[str], study: str = "study"
) -> pd.DataFrame:
    """Trial-level moderator columns of an aggregate-data CSV, indexed by trial label.

    Raises
    ------
    IPDDataError
        A moderator column that is not in the file (the file's columns are listed) or
        holds a missing or non-numeric value (the trial is named).
    """
    from bayes_ipd.two_stage.metareg import read_trial_table

    df = read_trial_table(path, study)
    absent = [n for n in names if n not in df.columns]
    if absent:
        raise IPDDataError(
            f"{path}: moderator column {absent[0]!r} not found; the file has: "
            f"{', '.join(map(str, df.columns))}"
        )
    out = pd.DataFrame(index=pd.Index(df[study].astype(str).str.strip(), name="study"))
    for name in names:
        values = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise IPDDataError(
                f"{path}: moderator {name!r} of trial {out.index[bad[0]]!r} is missing or "
                f"not a number ({df[name].iloc[bad[0]]!r})"
            )
        out[name] = values
    return out


def _check_labels(studies: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for label in studies:
        if label in seen:
            raise IPDDataError(f"{what}: trial {label!r} appears more than once")
        seen.add(label)


# ----------------------------------------------------------------- splitting fit input


@dataclass(frozen=True)
class SplitData:
    """A fit's input split into row-level parts, AD trials, and arm-count summaries."""

    parts: tuple[Any, ...]
    aggregate: AggregateTrials | None
    count_summaries: tuple[TrialSummary, ...]


def _as_aggregate(part: Any) -> AggregateTrials | None:
    if isinstance(part, AggregateTrials):
        return part
    if isinstance(part, AggregateData):
        return AggregateTrials.from_aggregate(part)
    return None


def split_aggregate(parts: Sequence[Any], spec: ModelSpec) -> SplitData:
    """Separate AD inputs (:class:`AggregateTrials`, ``AggregateData``, :class:`ArmCounts`)
    from participant rows and trial summaries; check the AD scale against the model's."""
    family = get_family(spec.family, IPDDataError)
    rest: list[Any] = []
    ads: list[AggregateTrials] = []
    counts: list[TrialSummary] = []
    for part in parts:
        ad = _as_aggregate(part)
        if ad is not None:
            if ad.scale is not None and ad.scale != family.scale.code:
                raise IPDDataError(
                    f"aggregate data are on the {ad.scale} scale but the {family.name} model's "
                    f"effect is {family.scale.code}"
                )
            ads.append(ad)
        elif isinstance(part, ArmCounts):
            counts.extend(part.summaries(family))
        else:
            rest.append(part)
    merged = _merge(ads, tuple(s.study for s in counts))
    return SplitData(tuple(rest), merged, tuple(counts))


def _merge(ads: Sequence[AggregateTrials], count_labels: tuple[str, ...]) -> AggregateTrials | None:
    if not ads and not count_labels:
        return None
    names = list(dict.fromkeys(n for a in ads for n in a.moderators))
    mods = {
        n: np.concatenate([a.moderators.get(n, np.full(a.k, np.nan)) for a in ads]) for n in names
    }
    return AggregateTrials(
        moderators=mods,
        studies=tuple(s for a in ads for s in a.studies),
        estimate=np.concatenate([a.estimate for a in ads]) if ads else np.zeros(0),
        se=np.concatenate([a.se for a in ads]) if ads else np.zeros(0),
        scale=ads[0].scale if ads else None,
        count_studies=count_labels,
    )


def drop_duplicates(
    ad: AggregateTrials, ipd_studies: Sequence[str], policy: str = "error"
) -> AggregateTrials:
    """Refuse (``"error"``) or drop (``"prefer_ipd"``) AD entries of trials with rows."""
    if policy not in DUPLICATE_POLICIES:
        raise IPDDataError(f"duplicates = {policy!r}; expected one of {DUPLICATE_POLICIES}")
    both = [s for s in ad.studies if s in set(ipd_studies)]
    if not both:
        return ad
    if policy == "error":
        raise IPDDataError(
            f"trial {both[0]!r} is given both with participant rows and as aggregate data "
            f"({len(both)} such trial(s)); remove it from one source, or use "
            "duplicates='prefer_ipd' to keep the rows"
        )
    keep = np.array([s not in both for s in ad.studies])
    return replace(
        ad,
        studies=tuple(s for s, k in zip(ad.studies, keep, strict=True) if k),
        estimate=ad.estimate[keep],
        se=ad.se[keep],
        dropped=(*ad.dropped, *both),
        moderators={n: v[keep] for n, v in ad.moderators.items()},
    )


# ------------------------------------------------------------------ the builder's hooks


def _estimate_trials(design: Design) -> AggregateTrials | None:
    ad = getattr(design, "aggregate", None)
    return ad if ad is not None and ad.k else None


def aggregate_arrays(design: Design) -> dict[str, np.ndarray]:
    """Data containers of the AD trials: ``ad_estimate``, ``ad_se`` (none without AD)."""
    ad = _estimate_trials(design)
    if ad is None:
        return {}
    return {"ad_estimate": ad.estimate, "ad_se": ad.se}


def aggregate_coords(design: Design) -> dict[str, list]:
    """The ``ad_study`` coordinate (none without AD)."""
    ad = _estimate_trials(design)
    return {} if ad is None else {"ad_study": list(ad.studies)}


def aggregate_loglik(design: Design, mu: Any, tau: Any, data: Mapping[str, Any], form: str) -> Any:
    """Add ``theta_ad`` [ad_study] and the normal likelihood of the AD estimates to the
    current PyMC model; returns the per-trial log-likelihood (None without AD).

    ``form`` is ``"centred"`` or ``"noncentred"`` (the treatment effect's form).
    """
    ad = _estimate_trials(design)
    if ad is None:
        return None
    import pymc as pm

    if form == "centred":
        theta = pm.Normal("theta_ad", mu, tau, dims="ad_study")
    else:
        z = pm.Normal("theta_ad_z", 0.0, 1.0, dims="ad_study")
        theta = pm.Deterministic("theta_ad", mu + tau * z, dims="ad_study")
    y, se = data["ad_estimate"], data["ad_se"]
    loglik = -0.5 * ((y - theta) / se) ** 2 - pm.math.log(se) - 0.5 * LOG_2PI
    pm.Potential("aggregate_likelihood", loglik.sum())
    return loglik


# ------------------------------------------------------------------------ after sampling


def label_aggregate(idata: az.InferenceData, design: Design) -> az.InferenceData:
    """Put the AD trial labels on the posterior's ``ad_study`` coordinate (a reused
    compiled model may carry the labels of the fit it was compiled for)."""
    ad = _estimate_trials(design)
    if ad is None or "ad_study" not in idata.posterior.dims:
        return idata
    idata.posterior = idata.posterior.assign_coords(ad_study=list(ad.studies))
    return idata


def trial_effects(result: Posterior, level: float = 0.95) -> pd.DataFrame:
    """Every trial's posterior effect with where it came from.

    Parameters
    ----------
    result : Posterior
        A one-stage posterior (:class:`~bayes_ipd.one_stage.result.OneStageResult`).
    level : float
        Interval coverage.

    Returns
    -------
    pandas.DataFrame
        Index ``study``; column ``source`` (``"IPD"``, ``"AD"`` for an estimate and SE,
        ``"AD counts"`` for arm-level counts) and the columns of
        :meth:`~bayes_ipd.one_stage.result.OneStageResult.study_effects`. IPD trials
        first, then AD trials.
    """
    from bayes_ipd.draws import chain_draw, posterior_node

    table = result.study_effects(level) if result.built.design.k else pd.DataFrame()
    ad = getattr(result.built.design, "aggregate", None)
    counts = set(ad.count_studies) if ad is not None else set()
    source = ["AD counts" if s in counts else "IPD" for s in table.index]
    table = table.assign(source=source) if len(table) else table
    if _estimate_trials(result.built.design) is None:
        return table
    theta = result.idata.posterior["theta_ad"]
    records = []
    for study in ad.studies:
        node = posterior_node(chain_draw(theta.sel(ad_study=study)), level)
        if result.is_ratio:
            node.update({f"exp_{k}": math.exp(v) for k, v in list(node.items())[2:5]})
        records.append({"study": study, "source": "AD", **node})
    extra = pd.DataFrame.from_records(records).set_index("study")
    return pd.concat([table, extra]) if len(table) else extra
