"""Stage one of a two-stage network meta-analysis: each trial's contrasts and covariance.

Per trial, the family's regression on a treatment factor (no covariates) with the trial's
reference arm (:class:`bayes_ipd.data.network.Network`: the network reference when present,
else the trial's first treatment in network order). That regression is saturated, so its
estimates are closed forms of per-arm sums (exact, not approximations):

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
arm's events. Other families (negative binomial, ordinal) are refused by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from bayes_ipd.conventions import readonly
from bayes_ipd.data.network import Network, check_connected
from bayes_ipd.errors import IPDDataError

__all__ = ["SPARSE_OPTIONS", "NetworkStageOne", "TrialContrasts", "network_contrasts"]

SPARSE_OPTIONS = ("none", "cc")
"""Zero-event arms: ``none`` excludes the trial, ``cc`` adds 0.5 to its cells."""

CONTINUITY = 0.5


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
    """

    network: Network
    trials: tuple[TrialContrasts, ...]
    excluded: Mapping[str, str]
    corrected: tuple[str, ...]
    sparse: str | None


@dataclass(frozen=True)
class _TrialRows:
    """One trial's rows: each row's arm (position in ``arms``) and response values by role."""

    study: str
    arms: tuple[int, ...]
    labels: tuple[str, ...]
    arm_index: np.ndarray
    responses: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class _ArmSums:
    """Per-arm sums of one trial's rows (arms in network order)."""

    study: str
    arms: tuple[int, ...]
    labels: tuple[str, ...]
    n: np.ndarray
    total: np.ndarray
    squares: np.ndarray


class _Excluded(Exception):
    """A trial left out of the pooling, with the reason."""


class _ZeroArms(Exception):
    """Arms with no events (or only events) and no ``sparse`` option chosen."""

    def __init__(self, arms: list[tuple[int, int, int]]) -> None:
        super().__init__("zero-event arms")
        self.arms = arms  # (arm code, events, n)


def _binomial_arms(sums: _ArmSums, sparse: str | None) -> tuple[np.ndarray, np.ndarray, bool]:
    a, n = sums.total, sums.n
    zero = (a == 0) | (a == n)
    if zero.all():
        raise _Excluded("every arm has no events (or only events): no odds ratio is estimable")
    corrected = False
    if zero.any():
        if sparse is None:
            raise _ZeroArms(
                [
                    (arm, int(e), int(m))
                    for arm, e, m, z in zip(sums.arms, a, n, zero, strict=True)
                    if z
                ]
            )
        if sparse == "none":
            named = ", ".join(
                f"{label!r} ({int(e)} of {int(m)})"
                for label, e, m, z in zip(sums.labels, a, n, zero, strict=True)
                if z
            )
            raise _Excluded(
                f"arm(s) with no events (or only events): {named}; --sparse none excludes the trial"
            )
        a, n, corrected = a + CONTINUITY, n + 2 * CONTINUITY, True
    return np.log(a / (n - a)), 1.0 / a + 1.0 / (n - a), corrected


def _gaussian_arms(sums: _ArmSums, sparse: str | None) -> tuple[np.ndarray, np.ndarray, bool]:
    n = sums.n
    means = sums.total / n
    within = float(np.sum(sums.squares - n * means**2))
    df = float(n.sum()) - n.size
    scale = max(float(np.sum(sums.squares)), 1e-300)
    if df < 1 or within <= 1e-12 * scale:
        raise _Excluded("no spread of the outcome within the arms: no residual variance")
    return means, (within / df) / n, False


def _sums(rows: _TrialRows) -> _ArmSums:
    y = rows.responses["outcome"]
    m = len(rows.arms)
    return _ArmSums(
        rows.study,
        rows.arms,
        rows.labels,
        np.bincount(rows.arm_index, minlength=m).astype(float),
        np.bincount(rows.arm_index, weights=y, minlength=m),
        np.bincount(rows.arm_index, weights=y * y, minlength=m),
    )


TrialFit = Callable[[_TrialRows, str | None], tuple[np.ndarray, np.ndarray, bool]]
"""A trial's rows and the ``sparse`` option -> contrasts vs its first arm, their covariance,
whether a continuity correction was applied."""


def _from_arms(
    arm_estimates: Callable[[_ArmSums, str | None], tuple[np.ndarray, np.ndarray, bool]],
) -> TrialFit:
    """A trial fit from per-arm estimates and variances (independent arms)."""

    def fit(rows: _TrialRows, sparse: str | None) -> tuple[np.ndarray, np.ndarray, bool]:
        estimate, variance, corrected = arm_estimates(_sums(rows), sparse)
        contrasts = estimate[1:] - estimate[0]
        cov = np.full((contrasts.size, contrasts.size), variance[0]) + np.diag(variance[1:])
        return contrasts, cov, corrected

    return fit


def _cox_trial(rows: _TrialRows, sparse: str | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Cox regression on the treatment factor (Efron ties, statsmodels ``PHReg``, as the
    survival family's two-arm stage one); an arm without events has no finite log hazard
    ratio: refused (``sparse=None``) or its trial excluded (no correction applies)."""
    from statsmodels.duration.hazard_regression import PHReg

    time, event = rows.responses["time"], rows.responses["event"]
    m = len(rows.arms)
    events = np.bincount(rows.arm_index, weights=event, minlength=m)
    sizes = np.bincount(rows.arm_index, minlength=m)
    if not events.any():
        raise _Excluded("no events in any arm: no hazard ratio is estimable")
    if (events == 0).any():
        if sparse is None:
            raise _ZeroArms(
                [(a, 0, int(n)) for a, e, n in zip(rows.arms, events, sizes, strict=True) if e == 0]
            )
        named = ", ".join(
            repr(label) for label, e in zip(rows.labels, events, strict=True) if e == 0
        )
        raise _Excluded(
            f"arm(s) without events: {named}; the log hazard ratio is not finite and no "
            "continuity correction applies to a Cox model, so the trial is excluded"
        )
    x = (rows.arm_index[:, None] == np.arange(1, m)[None, :]).astype(float)
    fit = PHReg(time, x, status=event, ties="efron").fit()
    return np.asarray(fit.params, dtype=float), np.asarray(fit.cov_params(), dtype=float), False


def _poisson_trial(rows: _TrialRows, sparse: str | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Poisson regression on the treatment factor with a log-exposure offset, saturated:
    arm log rates ``log(e_j / E_j)`` with variance ``1 / e_j`` (``cc``: 0.5 added to every
    arm's events, R ``escalc(measure = "IRR")``'s correction)."""
    m = len(rows.arms)
    exposure = rows.responses.get("time", np.ones(rows.arm_index.size))
    events = np.bincount(rows.arm_index, weights=rows.responses["outcome"], minlength=m)
    person_time = np.bincount(rows.arm_index, weights=exposure, minlength=m)
    zero = events == 0
    if zero.all():
        raise _Excluded("no events in any arm: no rate ratio is estimable")
    corrected = False
    if zero.any():
        if sparse is None:
            raise _ZeroArms(
                [
                    (a, 0, int(n))
                    for a, n, z in zip(
                        rows.arms, np.bincount(rows.arm_index, minlength=m), zero, strict=True
                    )
                    if z
                ]
            )
        if sparse == "none":
            named = ", ".join(repr(lab) for lab, z in zip(rows.labels, zero, strict=True) if z)
            raise _Excluded(f"arm(s) without events: {named}; --sparse none excludes the trial")
        events, corrected = events + CONTINUITY, True
    log_rate, variance = np.log(events / person_time), 1.0 / events
    cov = np.full((m - 1, m - 1), variance[0]) + np.diag(variance[1:])
    return log_rate[1:] - log_rate[0], cov, corrected


_TRIAL_FITS: Mapping[str, TrialFit] = MappingProxyType(
    {
        "binomial": _from_arms(_binomial_arms),
        "gaussian": _from_arms(_gaussian_arms),
        "poisson": _poisson_trial,
        "survival": _cox_trial,
    }
)
"""Per family: a trial's contrasts and covariance from its rows (the family's regression
on the treatment factor)."""


def _trial_rows(network: Network) -> list[_TrialRows]:
    order = np.argsort(network.study_codes, kind="stable")
    bounds = np.searchsorted(network.study_codes[order], np.arange(network.k + 1))
    by_role = {role: network.responses[col] for role, col in network.columns.items()}
    trials = []
    for s, (study, arms) in enumerate(zip(network.studies, network.trial_treatments, strict=True)):
        rows = order[bounds[s] : bounds[s + 1]]
        position = np.full(len(network.treatments), -1)
        position[list(arms)] = np.arange(len(arms))
        trials.append(
            _TrialRows(
                study,
                arms,
                tuple(network.treatments[t] for t in arms),
                position[network.treatment_codes[rows]],
                {role: values[rows] for role, values in by_role.items()},
            )
        )
    return trials


def _refuse_zero_arms(network: Network, zero: list[tuple[str, int, int, int]]) -> None:
    named = ", ".join(
        f"trial {s!r} arm {network.treatments[t]!r} ({a} of {n})" for s, t, a, n in zero[:8]
    )
    raise IPDDataError(
        f"{len(zero)} arm(s) with no events (or only events), so their effects are not "
        f"finite: {named}; choose --sparse none (exclude those trials) or, for a binary "
        "outcome, --sparse cc (add 0.5 to every cell of those trials)"
    )


def _contrasts(rows: _TrialRows, estimate: np.ndarray, cov: np.ndarray) -> TrialContrasts:
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


def network_contrasts(network: Network, sparse: str | None = None) -> NetworkStageOne:
    """Each trial's contrasts against its reference arm, with their covariance.

    Parameters
    ----------
    network : Network
    sparse : {None, "none", "cc"}
        Zero-event arms (binomial): refused (None), trial excluded, or 0.5 added to
        every cell of the trial (module docstring).

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
    trial_fit = _TRIAL_FITS.get(network.family)
    if trial_fit is None:
        raise IPDDataError(
            f"the two-stage network meta-analysis supports the families "
            f"{', '.join(_TRIAL_FITS)}; not {network.family!r} yet"
        )
    trials, excluded, corrected, zero = [], {}, [], []
    for trial in _trial_rows(network):
        try:
            estimate, variance, was_corrected = trial_fit(trial, sparse)
        except _Excluded as reason:
            excluded[trial.study] = str(reason)
            continue
        except _ZeroArms as arms:
            zero.extend((trial.study, *arm) for arm in arms.arms)
            continue
        trials.append(_contrasts(trial, estimate, variance))
        if was_corrected:
            corrected.append(trial.study)
    if zero:
        _refuse_zero_arms(network, zero)
    _check_remaining(network, trials, excluded)
    return NetworkStageOne(
        network, tuple(trials), MappingProxyType(excluded), tuple(corrected), sparse
    )
