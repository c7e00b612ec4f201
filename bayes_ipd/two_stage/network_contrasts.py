"""Stage one of a two-stage network meta-analysis: each trial's contrasts and covariance.

Per trial, the family's regression on a treatment factor (covariates: see
:mod:`~bayes_ipd.two_stage.network_covariates`; the family's hook
``Family.network_contrasts``, :mod:`bayes_ipd.families.network_contrasts`) with the trial's
reference arm (:class:`bayes_ipd.data.network.Network`: the network reference when present,
else the trial's first treatment in network order). That regression is saturated, so its
estimates without covariates are closed forms of per-arm sums (exact, not approximations):

* binomial (logistic regression): arm log odds ``l_j = log(a_j / (n_j - a_j))`` with
  variance ``1/a_j + 1/(n_j - a_j)``; contrasts ``l_j - l_ref`` with covariance
  ``v_ref`` off the diagonal and ``v_j + v_ref`` on it (R ``metafor::escalc(measure =
  "OR")`` per pair, the shared arm giving the covariance);
* gaussian (linear regression, OLS): arm means with the pooled within-trial residual
  variance ``s2 = sum_j SS_j / (N - J)``; the contrasts' covariance is ``s2 / n_ref`` off the
  diagonal and ``s2 (1/n_j + 1/n_ref)`` on it (the OLS covariance of the factor's
  coefficients);
* poisson (Poisson regression with a log-exposure offset): arm log rates
  ``log(e_j / E_j)`` with variance ``1 / e_j``;
* survival (Cox regression, Efron ties, statsmodels ``PHReg`` as the survival family's
  two-arm stage one): the factor's log hazard ratios and their inverse-information
  covariance (not a closed form: one fit per trial).

Zero-event (or all-event) arms of a binomial trial: ``sparse=None`` refuses them, naming
trial and arm; ``"none"`` excludes the trial (named, with the reason); ``"cc"`` adds 0.5 to
every cell of that trial (events + 0.5, non-events + 0.5 in every arm). A trial with no
events (or only events) in every arm is excluded under both options. Survival: an arm
without events is refused (``None``) or its trial excluded (``"none"`` and ``"cc"``: no
correction applies to a Cox model). Poisson: as binomial, ``cc`` adding 0.5 to every
arm's events. A family without the hook is refused by name.

Aggregate-data trials (:mod:`bayes_ipd.data.network_aggregate`): an AD arm's sums are
added to its trial's (the same closed forms, so an AD trial gives the contrasts its rows
would; a trial may hold rows and AD arms); a gaussian trial with no rows uses each arm's
``sd^2 / n`` (R ``escalc(measure = "MD")``) instead of the pooled OLS variance.
Contrast-level AD trials are re-expressed against their reference arm in network order by
the exact linear map ``y' = A y``, ``V' = A V A'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from bayes_ipd.conventions import readonly
from bayes_ipd.data.network import Network, check_connected
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families import REGISTRY, get_family
from bayes_ipd.families.network_contrasts import ExcludedTrial, TrialArms, ZeroArms
from bayes_ipd.two_stage.network_covariates import (
    NetworkCovariates,
    split_terms,
    trial_covariates,
)

__all__ = ["SPARSE_OPTIONS", "NetworkStageOne", "TrialContrasts", "network_contrasts"]

SPARSE_OPTIONS = ("none", "cc")
"""Zero-event arms: ``none`` excludes the trial, ``cc`` adds 0.5 to its cells."""


@dataclass(frozen=True, eq=False)
class TrialContrasts:
    """One trial's contrasts against its reference arm.

    Attributes
    ----------
    study : str
    reference : int
        The trial's reference arm (a treatment code of the network).
    arms : tuple of int
        The other arms' treatment codes, in network order (one contrast each).
    estimate : numpy.ndarray
        (m,) contrasts ``arm - reference``.
    covariance : numpy.ndarray
        (m, m) their within-trial covariance.
    design : tuple of int
        Every treatment code of the trial (reference first).
    """

    study: str
    reference: int
    arms: tuple[int, ...]
    estimate: np.ndarray
    covariance: np.ndarray

    @property
    def design(self) -> tuple[int, ...]:
        return (self.reference, *self.arms)


@dataclass(frozen=True, eq=False)
class NetworkStageOne:
    """Every trial's contrasts, with the trials left out and those corrected.

    Attributes
    ----------
    network : Network
    trials : tuple of TrialContrasts
        The trials pooled.
    excluded : Mapping[str, str]
        Reason per excluded trial.
    corrected : tuple of str
        Trials given the 0.5 continuity correction (``sparse="cc"``).
    sparse : str or None
    interactions : Mapping[str, tuple of TrialContrasts]
        With covariates: per interaction covariate, each trial's within-trial interaction
        contrasts (``arm x (x - mean)`` vs its base arm) and their covariance.
    interaction_excluded : Mapping[str, Mapping[str, str]]
        Per interaction covariate, the pooled trials left out of it, with the reason.
    covariates : tuple of str
        The covariates the contrasts are adjusted for (empty: none).
    """

    network: Network
    trials: tuple[TrialContrasts, ...]
    excluded: Mapping[str, str]
    corrected: tuple[str, ...]
    sparse: str | None
    interactions: Mapping[str, tuple[TrialContrasts, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    interaction_excluded: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    covariates: tuple[str, ...] = ()


def _aggregate_sums(network: Network) -> dict[int, dict[str, np.ndarray]]:
    """Per trial with AD arms: the AD sums of each of its arms (zero without AD)."""
    if network.aggregate_arms is None:
        return {}
    sums = network.aggregate_arms.sums()
    s_codes, t_codes = network.aggregate_arm_codes()
    out: dict[int, dict[str, np.ndarray]] = {}
    for i, (s, t) in enumerate(zip(s_codes, t_codes, strict=True)):
        arms = network.trial_treatments[s]
        table = out.setdefault(int(s), {k: np.zeros(len(arms)) for k in sums})
        for key, values in sums.items():
            table[key][arms.index(int(t))] += values[i]
    return out


def _trial_rows(network: Network) -> list[TrialArms]:
    order = np.argsort(network.study_codes, kind="stable")
    bounds = np.searchsorted(network.study_codes[order], np.arange(network.k + 1))
    by_role = {role: network.responses[col] for role, col in network.columns.items()}
    aggregate = _aggregate_sums(network)
    given = set(() if network.aggregate_contrasts is None else network.aggregate_contrasts.studies)
    trials = []
    for s, (study, arms) in enumerate(zip(network.studies, network.trial_treatments, strict=True)):
        if study in given:  # contrast-level AD: :func:`_given_contrasts`
            continue
        rows = order[bounds[s] : bounds[s + 1]]
        position = np.full(len(network.treatments), -1)
        position[list(arms)] = np.arange(len(arms))
        trials.append(
            TrialArms(
                study,
                arms,
                tuple(network.treatments[t] for t in arms),
                position[network.treatment_codes[rows]],
                {role: values[rows] for role, values in by_role.items()},
                aggregate.get(s),
            )
        )
    return trials


def _given_contrasts(network: Network) -> list[TrialContrasts]:
    """Contrast-level AD trials, re-expressed against the trial's reference arm (its first
    treatment in network order): ``y' = A y``, ``V' = A V A'`` (exact linear map)."""
    given = network.aggregate_contrasts
    if given is None:
        return []
    index = {t: i for i, t in enumerate(network.treatments)}
    out = []
    for study, base, others, y, v in zip(
        given.studies, given.bases, given.arms, given.estimates, given.covariances, strict=True
    ):
        codes = [index[base], *(index[t] for t in others)]
        design = sorted(codes)
        # each arm's effect vs the base: 0 for the base itself, y_j for the others
        to_base = np.zeros((len(codes), len(others)))
        to_base[1:] = np.eye(len(others))
        position = {c: i for i, c in enumerate(codes)}
        ref = to_base[position[design[0]]]
        a = np.array([to_base[position[c]] - ref for c in design[1:]])
        out.append(
            TrialContrasts(
                study, design[0], tuple(design[1:]), readonly(a @ y), readonly(a @ v @ a.T)
            )
        )
    return out


def _refuse_zero_arms(network: Network, zero: list[tuple[str, int, int, int]]) -> None:
    named = ", ".join(
        f"trial {s!r} arm {network.treatments[t]!r} ({a} of {n})" for s, t, a, n in zero[:8]
    )
    raise IPDDataError(
        f"{len(zero)} arm(s) with no events (or only events), so their effects are not "
        f"finite: {named}; choose --sparse none (exclude those trials) or, for a binary "
        "outcome, --sparse cc (add 0.5 to every cell of those trials)"
    )


def _contrasts(rows: TrialArms, estimate: np.ndarray, cov: np.ndarray) -> TrialContrasts:
    return TrialContrasts(
        rows.study, rows.arms[0], rows.arms[1:], readonly(estimate), readonly(cov)
    )


def _check_remaining(network: Network, trials: list[TrialContrasts], excluded: dict) -> None:
    if not excluded:
        return
    if not trials:
        raise IPDDataError(
            f"every trial was excluded ({'; '.join(f'{s!r}: {r}' for s, r in excluded.items())})"
        )
    try:
        check_connected(
            tuple(t.study for t in trials), tuple(t.design for t in trials), network.treatments
        )
    except IPDDataError as err:
        raise IPDDataError(
            f"after excluding trial(s) {', '.join(map(repr, excluded))}: {err}"
        ) from None


def _trial_rows_index(network: Network) -> dict[str, np.ndarray]:
    """Each trial's row positions in the network."""
    order = np.argsort(network.study_codes, kind="stable")
    bounds = np.searchsorted(network.study_codes[order], np.arange(network.k + 1))
    return {s: order[bounds[i] : bounds[i + 1]] for i, s in enumerate(network.studies)}


def network_contrasts(
    network: Network, sparse: str | None = None, covariates: NetworkCovariates | None = None
) -> NetworkStageOne:
    """Each trial's contrasts against its reference arm, with their covariance.

    Parameters
    ----------
    network : Network
    sparse : {None, "none", "cc"}
        Zero-event arms (binomial): refused (None), trial excluded, or 0.5 added to
        every cell of the trial (module docstring).
    covariates : NetworkCovariates, optional
        Adjust each trial's regression for these covariates (centred at the trial's
        means) and estimate the within-trial interactions
        (:mod:`bayes_ipd.two_stage.network_covariates`); None: today's saturated fits.

    Returns
    -------
    NetworkStageOne

    Raises
    ------
    IPDDataError
        A family without a network stage one here, zero-event arms with ``sparse=None``
        (naming trial and arm), a network that exclusions disconnect.
    """
    if sparse is not None and sparse not in SPARSE_OPTIONS:
        raise IPDDataError(f"sparse={sparse!r} is not one of {', '.join(SPARSE_OPTIONS)}")
    trial_fit = get_family(network.family, IPDDataError).network_contrasts
    if trial_fit is None:
        supported = sorted(name for name, fam in REGISTRY.items() if fam.network_contrasts)
        raise IPDDataError(
            f"the two-stage network meta-analysis supports the families "
            f"{', '.join(supported)}; not {network.family!r} yet"
        )
    trials, excluded, corrected, zero = [], {}, [], []
    names = () if covariates is None else covariates.interactions
    inter: dict[str, list] = {c: [] for c in names}
    inter_out: dict[str, dict[str, str]] = {c: {} for c in names}
    positions = {} if covariates is None else _trial_rows_index(network)
    for trial in _trial_rows(network):
        given, constant = None, ()
        if covariates is not None:
            given, constant = trial_covariates(covariates, positions[trial.study])
        try:
            if given is None:
                estimate, variance, was_corrected = trial_fit(trial, sparse)
            else:
                estimate, variance, was_corrected = trial_fit(trial, sparse, given)
        except ExcludedTrial as reason:
            excluded[trial.study] = str(reason)
            continue
        except ZeroArms as arms:
            zero.extend((trial.study, *arm) for arm in arms.arms)
            continue
        if given is not None:
            (estimate, variance), blocks = split_terms(estimate, variance, len(trial.arms), given)
            for c in names:
                if c in blocks:
                    inter[c].append(_contrasts(trial, *blocks[c]))
                elif c in constant:
                    inter_out[c][trial.study] = f"{c!r} is constant within the trial"
        trials.append(_contrasts(trial, estimate, variance))
        if was_corrected:
            corrected.append(trial.study)
    trials += _given_contrasts(network)
    if zero:
        _refuse_zero_arms(network, zero)
    _check_remaining(network, trials, excluded)
    return NetworkStageOne(
        network,
        tuple(trials),
        MappingProxyType(excluded),
        tuple(corrected),
        sparse,
        MappingProxyType({c: tuple(v) for c, v in inter.items()}),
        MappingProxyType({c: MappingProxyType(v) for c, v in inter_out.items()}),
        () if covariates is None else covariates.names,
    )
