"""The one-stage design: within-trial centring, the interaction split, sufficient statistics.

For trial ``k`` the linear predictor of participant ``i`` is

``eta = alpha_k + theta_k t + beta_k'(x - xbar_k) + gamma_w' t (z - zbar_k)``

where ``theta_k = mu + gamma_a'(zbar_k - zbar) + u_k`` carries the across-trial
(ecological) interaction ``gamma_a`` (Fisher et al. 2017; Riley et al. 2020) and ``gamma_w``
is the within-trial interaction. Covariates are centred within trial, so ``alpha_k`` is the
control-arm level at the trial's mean covariates and ``theta_k`` the treatment effect there.
Categorical covariates are one-hot coded with the first (sorted) level as reference.

The design is assembled from per-trial :class:`~bayes_ipd.summaries.TrialSummary` objects,
whether they were computed here from rows or elsewhere, so the two routes give identical
numbers.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayes_ipd.errors import IPDDataError
from bayes_ipd.summaries import TrialSummary, summarise


def _frozen(a: Any, dtype: type = np.float64) -> np.ndarray:
    out = np.array(a, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class Design:
    """Everything the one-stage likelihood needs, trial by trial, without participant rows.

    Attributes
    ----------
    family : str
        Outcome family.
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
    ztz, zty, yty : numpy.ndarray or None
        Gaussian: (K, 2, m, m), (K, 2, m), (K, 2) per trial and arm.
    cell_study, cell_z, cell_n, cell_events, cell_interval : numpy.ndarray or None
        Binomial and survival cells: trial index, design row, participants (binomial) or
        exposure (survival), events, and interval (survival).
    cutpoints : tuple of float
        Survival: interior cut points of the baseline hazard.
    """

    family: str
    studies: tuple[str, ...]
    covariate_terms: tuple[str, ...]
    interaction_terms: tuple[str, ...]
    across: np.ndarray
    term_means: np.ndarray
    n_arm: np.ndarray
    ztz: np.ndarray | None = None
    zty: np.ndarray | None = None
    yty: np.ndarray | None = None
    cell_study: np.ndarray | None = None
    cell_z: np.ndarray | None = None
    cell_n: np.ndarray | None = None
    cell_events: np.ndarray | None = None
    cell_interval: np.ndarray | None = None
    cutpoints: tuple[float, ...] = ()

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
        """Survival: number of baseline-hazard intervals."""
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

    def events_arm(self) -> np.ndarray:
        """(K, 2) events per trial and arm (binomial, survival)."""
        if self.cell_events is None:
            raise ValueError("events exist only for binomial and survival designs")
        arm = self.cell_z[:, 1].astype(np.int64)
        idx = self.cell_study * 2 + arm
        return np.bincount(idx, weights=self.cell_events, minlength=2 * self.k).reshape(self.k, 2)

    def exposure_arm(self) -> np.ndarray:
        """(K, 2) participants (binomial) or exposure time (survival) per trial and arm."""
        arm = self.cell_z[:, 1].astype(np.int64)
        idx = self.cell_study * 2 + arm
        return np.bincount(idx, weights=self.cell_n, minlength=2 * self.k).reshape(self.k, 2)

    def term_scales(self) -> np.ndarray:
        """Pooled within-trial SD of each covariate term (1 where it is 0 or undefined).

        Weighted by participants (gaussian, binomial) or exposure time (survival); used only
        to put coefficients on comparable scales for the sampler.
        """
        p = len(self.covariate_terms)
        if self.ztz is not None:
            sq = np.diagonal(self.ztz.sum(axis=(0, 1)))[2 : 2 + p]
            var = sq / self.n
        else:
            w = self.cell_n / self.cell_n.sum()
            var = (w[:, None] * self.cell_z[:, 2 : 2 + p] ** 2).sum(axis=0)
        sd = np.sqrt(var)
        return np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)

    def outcome_moments(self) -> tuple[float, float]:
        """Gaussian: grand mean and pooled within-trial-arm SD of the outcome."""
        if self.zty is None:
            raise ValueError("outcome moments exist only for gaussian designs")
        sums = self.zty[:, :, 0]
        n = self.n_arm.astype(np.float64)
        ss = self.yty - np.divide(sums**2, n, out=np.zeros_like(sums), where=n > 0)
        df = n.sum() - np.count_nonzero(n)
        sd = float(np.sqrt(max(ss.sum(), 0.0) / max(df, 1.0)))
        return float(sums.sum() / n.sum()), sd


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


def _take(a: np.ndarray, cols: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Select ``cols`` along ``axes`` of ``a``, with zeros where the column is -1."""
    out = a
    for ax in axes:
        padded = np.concatenate([out, np.zeros_like(out.take([0], axis=ax))], axis=ax)
        out = padded.take(np.where(cols < 0, out.shape[ax], cols), axis=ax)
    return out


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


def _warn_constant(summaries: Sequence[TrialSummary]) -> None:
    for s in summaries:
        if s.family == "gaussian":
            sd_sq = np.diagonal(s.ztz.sum(axis=0))[2 : 2 + len(s.terms)]
        else:
            sd_sq = (s.cell_z[:, 2 : 2 + len(s.terms)] ** 2).max(axis=0) if len(s.terms) else []
        for t, v in zip(s.terms, sd_sq, strict=True):
            if v == 0 and t == s.term_sources[s.terms.index(t)]:
                warnings.warn(
                    f"covariate {t!r} is constant within trial {s.study!r}: that trial carries "
                    "no within-trial information on its effect or interaction",
                    stacklevel=3,
                )


def design_from_summaries(summaries: Sequence[TrialSummary]) -> Design:
    """Assemble the one-stage design from per-trial summaries.

    Parameters
    ----------
    summaries : sequence of TrialSummary
        One per trial; labels must be unique.

    Returns
    -------
    Design
    """
    if len(summaries) < 2:
        raise IPDDataError(f"a meta-analysis needs at least two trials, got {len(summaries)}")
    _check_consistent(summaries)
    _warn_constant(summaries)
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
    family = summaries[0].family
    common: dict[str, Any] = {
        "family": family,
        "studies": tuple(s.study for s in summaries),
        "covariate_terms": tuple(cov_terms),
        "interaction_terms": tuple(inter_terms),
        "across": _frozen(across),
        "term_means": _frozen(means),
        "n_arm": _frozen(np.stack([s.n_arm for s in summaries]), np.int64),
        "cutpoints": summaries[0].cutpoints,
    }
    maps = [_column_map(s, cov_terms, inter_terms) for s in summaries]
    if family == "gaussian":
        ztz = np.stack([_take(s.ztz, c, (1, 2)) for s, c in zip(summaries, maps, strict=True)])
        zty = np.stack([_take(s.zty, c, (1,)) for s, c in zip(summaries, maps, strict=True)])
        yty = np.stack([s.yty for s in summaries])
        return Design(ztz=_frozen(ztz), zty=_frozen(zty), yty=_frozen(yty), **common)
    cell_z = np.concatenate(
        [_take(s.cell_z, c, (1,)) for s, c in zip(summaries, maps, strict=True)]
    )
    cell_study = np.concatenate([np.full(len(s.cell_n), i) for i, s in enumerate(summaries)])
    extra: dict[str, Any] = {}
    if family == "survival":
        extra["cell_interval"] = _frozen(
            np.concatenate([s.cell_interval for s in summaries]), np.int64
        )
    return Design(
        cell_study=_frozen(cell_study, np.int64),
        cell_z=_frozen(cell_z),
        cell_n=_frozen(np.concatenate([s.cell_n for s in summaries])),
        cell_events=_frozen(np.concatenate([s.cell_events for s in summaries])),
        **extra,
        **common,
    )


def build_design(ipd: Any, spec: Any) -> Design:
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
    """
    return design_from_summaries(summarise(ipd, spec))


def crude_effects(design: Design) -> tuple[np.ndarray, np.ndarray]:
    """Per-trial unadjusted treatment effect and its approximate SE, from the design.

    Gaussian: difference in arm means with the pooled SD; binomial: log odds ratio;
    survival: log rate ratio. A 0.5 correction is added to every count so that zero cells
    stay finite. Used only to choose the parameterisation, never reported.
    """
    if design.family == "gaussian":
        n = design.n_arm.astype(np.float64)
        sums = design.zty[:, :, 0]
        mean = sums / n
        ss = design.yty - sums**2 / n
        s2 = ss.sum(axis=1) / np.maximum(n.sum(axis=1) - 2, 1)
        return mean[:, 1] - mean[:, 0], np.sqrt(s2 * (1 / n[:, 0] + 1 / n[:, 1]))
    ev = design.events_arm() + 0.5
    at_risk = design.exposure_arm()
    if design.family == "binomial":
        non = at_risk - ev + 1.0
        est = np.log(ev[:, 1] / non[:, 1]) - np.log(ev[:, 0] / non[:, 0])
        return est, np.sqrt((1 / ev + 1 / non).sum(axis=1))
    est = np.log(ev[:, 1] / at_risk[:, 1]) - np.log(ev[:, 0] / at_risk[:, 0])
    return est, np.sqrt((1 / ev).sum(axis=1))
