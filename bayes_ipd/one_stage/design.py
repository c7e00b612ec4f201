"""The one-stage design: within-trial centring, the interaction split, sufficient statistics.

For trial ``k`` the linear predictor of participant ``i`` is

``eta = alpha_k + theta_k t + beta_k'(x - xbar_k) + gamma_w' t (z - zbar_k)``

where ``theta_k = mu + gamma_a'(zbar_k - zbar) + u_k`` carries the across-trial
(ecological) interaction ``gamma_a`` (Fisher et al. 2017; Riley et al. 2020) and ``gamma_w``
is the within-trial interaction. Covariates are centred within trial, so ``alpha_k`` is the
control-arm level at the trial's mean covariates and ``theta_k`` the treatment effect there.
Categorical covariates are one-hot coded with the first (sorted) level as reference.

The design is assembled from per-trial :class:`~bayes_ipd.one_stage.summaries.TrialSummary` objects,
whether they were computed here from rows or elsewhere, so the two routes give identical
numbers.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from bayes_ipd.conventions import readonly
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families import Family, get_family
from bayes_ipd.one_stage.summaries import TrialSummary, frozen_statistics, summarise
from bayes_ipd.splines import SplineBasis, expand_splines

if TYPE_CHECKING:
    from bayes_ipd.data import IPD
    from bayes_ipd.spec import ModelSpec


@dataclass(frozen=True)
class Design:
    """Everything the one-stage likelihood needs, trial by trial, without participant rows.

    Attributes
    ----------
    family : str
        Outcome family (a name of :data:`bayes_ipd.families.REGISTRY`).
    studies : tuple of str
        Trial labels (the ``study`` coordinate).
    covariate_terms : tuple of str
        Prognostic covariate terms (the ``covariate`` coordinate).
    interaction_terms : tuple of str
        Effect-modifier terms (the ``interaction`` coordinate).
    across : numpy.ndarray
        (K, q) trial mean of each interaction term minus the mean of the trial means.
    term_means : numpy.ndarray
        (K, p) trial means of the covariate terms.
    n_arm : numpy.ndarray
        (K, 2) participants per arm.
    stats : Mapping of str to numpy.ndarray
        The family's sufficient statistics of all trials, on the global design columns
        (read-only): gaussian ``ztz`` (K, 2, m, m), ``zty`` (K, 2, m), ``yty`` (K, 2) per
        trial and arm; cell families ``cell_study`` (trial index), ``cell_z``, ``cell_n``
        (participants, or exposure time for survival), ``cell_events`` and, for survival,
        ``cell_interval``.
    cutpoints : tuple of float
        Interior cut points of a piecewise baseline hazard (survival).
    aggregate : AggregateTrials or None
        Trials known only by an estimate and SE, in the same random-effects distribution
        (:mod:`bayes_ipd.one_stage.aggregate_trials`); not counted in ``studies`` or ``k``.
    splines : tuple of SplineBasis
        The restricted cubic splines whose basis terms are among the covariate terms
        (:mod:`bayes_ipd.splines`; set by :func:`build_design`).
    trial_level : Mapping of str to numpy.ndarray
        Trial-level covariates (moderators) by name, one value per trial of ``studies``
        (NaN where a trial's summary has none); :func:`moderator_arrays` centres them.
    imputation : ImputationData or None
        Missing covariates imputed inside the model (``missing="impute"``;
        :mod:`bayes_ipd.one_stage.imputation`): the statistics then hold the complete rows
        only and the incomplete rows enter one by one.
    """

    family: str
    studies: tuple[str, ...]
    covariate_terms: tuple[str, ...]
    interaction_terms: tuple[str, ...]
    across: np.ndarray
    term_means: np.ndarray
    n_arm: np.ndarray
    stats: Mapping[str, np.ndarray]
    cutpoints: tuple[float, ...] = ()
    aggregate: Any = None
    splines: tuple[SplineBasis, ...] = ()
    trial_level: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))
    imputation: Any = None

    @property
    def plugin(self) -> Family:
        """The outcome family's plug-in."""
        return get_family(self.family, IPDDataError)

    @property
    def k(self) -> int:
        """Number of trials."""
        return len(self.studies)

    @property
    def width(self) -> int:
        """Design columns m = 2 + p + q."""
        return 2 + len(self.covariate_terms) + len(self.interaction_terms)

    @property
    def n_intervals(self) -> int:
        """Number of baseline-hazard intervals (1 without a piecewise baseline)."""
        return len(self.cutpoints) + 1

    @property
    def n(self) -> int:
        """Participants in all trials."""
        return int(self.n_arm.sum())

    @property
    def column_names(self) -> tuple[str, ...]:
        """Names of the design columns."""
        inter = tuple(f"treat:{t}" for t in self.interaction_terms)
        return ("intercept", "treat", *self.covariate_terms, *inter)

    def moderator_values(self, names: Sequence[str]) -> ModeratorValues:
        """The model's moderators for every trial, centred across trials
        (:func:`moderator_arrays`)."""
        return moderator_arrays(self, names)

    def term_scales(self) -> np.ndarray:
        """Pooled within-trial SD of each covariate term (1 where it is 0 or undefined).

        Weighted by participants (or exposure time); used only to put coefficients on
        comparable scales for the sampler.
        """
        return self.plugin.term_scales(self)


def _global_terms(summaries: Sequence[TrialSummary]) -> tuple[list[str], dict[str, str]]:
    """Union of the trials' terms, in first-seen order, with their source covariates."""
    terms: list[str] = []
    source: dict[str, str] = {}
    for s in summaries:
        for t, src in zip(s.terms, s.term_sources, strict=True):
            if t not in source:
                terms.append(t)
                source[t] = src
    return terms, source


def _reference_terms(terms: Sequence[str], source: dict[str, str]) -> set[str]:
    """The first sorted level of each categorical covariate, dropped as reference."""
    by_cov: dict[str, list[str]] = {}
    for t in terms:
        if t != source[t]:
            by_cov.setdefault(source[t], []).append(t)
    return {sorted(levels)[0] for levels in by_cov.values()}


def _column_map(s: TrialSummary, terms: Sequence[str], inter: Sequence[str]) -> np.ndarray:
    """For each global design column, the trial's local column (or -1 if absent)."""
    local = {t: 2 + i for i, t in enumerate(s.terms)}
    local_inter = {t: 2 + len(s.terms) + i for i, t in enumerate(s.interaction_terms)}
    cols = [0, 1] + [local.get(t, -1) for t in terms] + [local_inter.get(t, -1) for t in inter]
    return np.array(cols, dtype=np.int64)


def _check_consistent(summaries: Sequence[TrialSummary]) -> None:
    labels = [s.study for s in summaries]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise IPDDataError(f"trial {dupes[0]!r} appears more than once")
    families = {s.family for s in summaries}
    if len(families) > 1:
        raise IPDDataError(f"trials of different families cannot be combined: {sorted(families)}")
    inter_sets = {
        tuple(sorted({s.term_sources[s.terms.index(t)] for t in s.interaction_terms}))
        for s in summaries
    }
    if len(inter_sets) > 1:
        raise IPDDataError(
            "trial summaries were made for different interaction sets: "
            + ", ".join(str(list(x)) for x in sorted(inter_sets))
        )
    cuts = {s.cutpoints for s in summaries}
    if len(cuts) > 1:
        raise IPDDataError(
            "trial summaries use different survival cut points; give the model explicit "
            "intervals (cut points) and summarise every trial with them"
        )
    for s in summaries:
        if s.n_arm.min() == 0:
            arm = "treated" if s.n_arm[1] == 0 else "control"
            raise IPDDataError(f"trial {s.study!r} has no {arm} participants")


def _warn_constant(summaries: Sequence[TrialSummary], family: Family) -> None:
    for s in summaries:
        sd_sq = family.term_sums_of_squares(s.stats, len(s.terms))
        for t, v in zip(s.terms, sd_sq, strict=True):
            if v == 0 and t == s.term_sources[s.terms.index(t)]:
                warnings.warn(
                    f"covariate {t!r} is constant within trial {s.study!r}: that trial carries "
                    "no within-trial information on its effect or interaction",
                    stacklevel=3,
                )


def design_from_summaries(summaries: Sequence[TrialSummary], *, minimum: int = 2) -> Design:
    """Assemble the one-stage design from per-trial summaries.

    Parameters
    ----------
    summaries : sequence of TrialSummary
        One per trial; labels must be unique.
    minimum : int
        Fewest trials accepted (1 when aggregate-data trials join them).

    Returns
    -------
    Design
    """
    if len(summaries) < minimum:
        raise IPDDataError(f"a meta-analysis needs at least two trials, got {len(summaries)}")
    _check_consistent(summaries)
    family = get_family(summaries[0].family, IPDDataError)
    _warn_constant(summaries, family)
    terms, source = _global_terms(summaries)
    ref = _reference_terms(terms, source)
    inter_src = {
        src
        for s in summaries
        for t, src in zip(s.terms, s.term_sources, strict=True)
        if t in s.interaction_terms
    }
    cov_terms = [t for t in terms if t not in ref]
    inter_terms = [t for t in cov_terms if source[t] in inter_src]
    k = len(summaries)
    means = np.zeros((k, len(cov_terms)))
    for i, s in enumerate(summaries):
        for j, t in enumerate(cov_terms):
            if t in s.terms:
                means[i, j] = s.term_means[s.terms.index(t)]
    q_idx = [cov_terms.index(t) for t in inter_terms]
    zbar = means[:, q_idx]
    across = zbar - zbar.mean(axis=0) if k else zbar
    maps = [_column_map(s, cov_terms, inter_terms) for s in summaries]
    stats = family.stack_statistics([s.stats for s in summaries], maps)
    return Design(
        family=family.name,
        studies=tuple(s.study for s in summaries),
        covariate_terms=tuple(cov_terms),
        interaction_terms=tuple(inter_terms),
        across=readonly(across),
        term_means=readonly(means),
        n_arm=readonly(np.stack([s.n_arm for s in summaries]), np.int64),
        stats=frozen_statistics(stats, family),
        cutpoints=summaries[0].cutpoints,
        trial_level=_trial_level(summaries),
    )


def _trial_level(summaries: Sequence[TrialSummary]) -> MappingProxyType:
    names = list(dict.fromkeys(n for s in summaries for n in s.trial_level))
    return MappingProxyType(
        {n: readonly([s.trial_level.get(n, np.nan) for s in summaries]) for n in names}
    )


@dataclass(frozen=True)
class ModeratorValues:
    """Trial-level moderators of a one-stage meta-regression, centred across trials.

    ``theta_k = mu + sum_j gamma_j (w_kj - wbar_j) + u_k``: with ``wbar_j`` the mean of
    moderator ``j`` over every trial in the model (IPD and aggregate-data trials, each
    counted once), ``mu`` is the pooled effect at the mean moderator values.

    Attributes
    ----------
    names : tuple of str
    ipd, ad : numpy.ndarray
        (K, r) and (K_ad, r) centred values of the IPD (and arm-count) trials and of the
        estimate-and-SE trials.
    center, scale : numpy.ndarray
        (r,) the mean and SD (ddof 1) of each moderator across trials.
    """

    names: tuple[str, ...]
    ipd: np.ndarray
    ad: np.ndarray
    center: np.ndarray
    scale: np.ndarray

    @property
    def r(self) -> int:
        """Number of moderators."""
        return len(self.names)


def _values_of(labels: Sequence[str], table: Mapping[str, Any], name: str, what: str) -> np.ndarray:
    if name not in table:
        if not labels:
            return np.zeros(0)
        raise IPDDataError(
            f"moderator {name!r}: no value for the {what} trial(s) "
            f"({', '.join(map(repr, labels[:3]))}{', ...' if len(labels) > 3 else ''}); "
            + (
                "give it as a column of the aggregate file"
                if what == "aggregate-data"
                else "read it as a covariate column (constant within each trial)"
            )
        )
    values = np.asarray(table[name], dtype=np.float64)
    missing = [lab for lab, v in zip(labels, values, strict=True) if not np.isfinite(v)]
    if missing:
        raise IPDDataError(f"moderator {name!r}: trial {missing[0]!r} has no value")
    return values


def moderator_arrays(design: Design, names: Sequence[str]) -> ModeratorValues:
    """The model's moderators for every trial, centred across trials (see
    :class:`ModeratorValues`).

    Raises
    ------
    IPDDataError
        A trial without a value (naming the trial and moderator), a moderator constant
        across trials, or too few trials (k <= p = moderators + 1).
    """
    ad = design.aggregate
    ad_labels = tuple(ad.studies) if ad is not None else ()
    ad_table = dict(getattr(ad, "moderators", {}) or {}) if ad is not None else {}
    ipd_cols, ad_cols = [], []
    for name in names:
        ipd_cols.append(_values_of(design.studies, design.trial_level, name, "IPD"))
        ad_cols.append(_values_of(ad_labels, ad_table, name, "aggregate-data"))
    r = len(names)
    w_ipd = np.column_stack(ipd_cols) if r else np.zeros((design.k, 0))
    w_ad = np.column_stack(ad_cols) if r else np.zeros((len(ad_labels), 0))
    every = np.vstack([w_ipd.reshape(-1, r), w_ad.reshape(-1, r)])
    k = every.shape[0]
    if r and k <= r + 1:
        raise IPDDataError(
            f"a meta-regression with {r} moderator(s) needs more than {r + 1} trials "
            f"(k <= p: k = {k}, p = {r + 1})"
        )
    center = every.mean(axis=0) if k else np.zeros(r)
    scale = every.std(axis=0, ddof=1) if k > 1 else np.ones(r)
    for name, sd in zip(names, scale, strict=True):
        if not sd > 0:
            raise IPDDataError(
                f"moderator {name!r} is constant across trials: it cannot explain "
                "between-trial differences"
            )
    return ModeratorValues(
        names=tuple(names),
        ipd=readonly(w_ipd - center),
        ad=readonly(w_ad - center),
        center=readonly(center),
        scale=readonly(scale),
    )


def build_design(ipd: IPD, spec: ModelSpec) -> Design:
    """The one-stage design of an IPD set for a model spec (via exact per-trial summaries).

    Parameters
    ----------
    ipd : IPD
        Validated participant data.
    spec : ModelSpec
        Model description (covariates, interactions, family, survival intervals).

    Returns
    -------
    Design
        With ``splines`` set when the spec has splines (basis columns from the pooled rows,
        knots at pooled quantiles: :func:`bayes_ipd.splines.expand_splines`).
    """
    ipd, spec, bases = expand_splines(ipd, spec)
    design = design_from_summaries(summarise(ipd, spec))
    return dataclasses.replace(design, splines=bases) if bases else design


def crude_effects(design: Design) -> tuple[np.ndarray, np.ndarray]:
    """Per-trial unadjusted treatment effect and its approximate SE, from the design.

    Gaussian: difference in arm means with the pooled SD; binomial: log odds ratio;
    survival: log rate ratio (each family's ``crude_effects``). A 0.5 correction is added to
    every count so that zero cells stay finite. Used only to choose the parameterisation,
    never reported.
    """
    return design.plugin.crude_effects(design)
