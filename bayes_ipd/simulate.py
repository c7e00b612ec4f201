"""Data-generating processes for multi-trial participant data, with their true parameters.

Each generator returns ``(frame, truth)``: participant rows ready for
:meth:`bayes_ipd.data.IPD.from_frame`, and a frozen :class:`Truth` holding the parameters
that generated them, including every trial's own treatment effect. The same ``seed`` gives an
identical frame.

All three share the structure of the one-stage model (see ``ARCHITECTURE.md``). For trial
``k = 1..K`` with ``n_k`` participants, treatment ``t`` allocated 1:1 at random (a random
permutation of ``floor(n_k / 2)`` ones), covariates drawn around trial-specific means, and
``age`` as the effect modifier::

    abar_k  = sample mean of age in trial k,   abar = mean of abar_1..abar_K
    u_k     ~ Normal(0, tau)
    theta_k = mu + u_k + gamma_a * (abar_k - abar)       trial k's effect at its mean age
    effect of treatment on participant i in trial k = theta_k + gamma_w * (age_ik - abar_k)

``gamma_w`` (``interaction_within``) is the within-trial treatment-age interaction and
``gamma_a`` (``interaction_across``) the across-trial (ecological) association; either can be
zero while the other is not. Prognostic covariates enter centred at their sample trial means,
so each trial's intercept is its control-arm value at its own mean covariates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.conventions import readonly
from bayes_ipd.errors import SpecError

__all__ = [
    "BinaryTruth",
    "ContinuousTruth",
    "SurvivalTruth",
    "Truth",
    "simulate_binary",
    "simulate_continuous",
    "simulate_survival",
]

Seed = int | np.random.Generator | None


@dataclass(frozen=True, eq=False)
class Truth:
    """True parameters common to every generator.

    Attributes
    ----------
    studies : tuple of str
        Trial labels as in the frame's ``trial`` column.
    mu, tau : float
        Mean and between-trial SD of the treatment effect (model scale).
    u : ndarray, shape (K,)
        Drawn random deviations ``u_k``.
    theta : ndarray, shape (K,)
        Trial treatment effects at the trial's mean age,
        ``mu + u_k + interaction_across * (abar_k - abar)``.
    beta : Mapping[str, float]
        Prognostic covariate coefficients (model scale, per unit), by column name.
    interaction_within, interaction_across : float
        Within-trial and across-trial treatment-by-``modifier`` interactions.
    modifier : str
        The effect-modifying covariate (``"age"``).
    modifier_mean : ndarray, shape (K,)
        Sample trial means ``abar_k`` of the modifier.
    n_per_study : tuple of int
        Participants per trial.
    seed : int or None
        The seed, when an int was given.
    """

    studies: tuple[str, ...]
    mu: float
    tau: float
    u: np.ndarray
    theta: np.ndarray
    beta: Mapping[str, float]
    interaction_within: float
    interaction_across: float
    modifier: str
    modifier_mean: np.ndarray
    n_per_study: tuple[int, ...]
    seed: int | None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, np.ndarray):
                object.__setattr__(self, item.name, readonly(value))
        object.__setattr__(self, "beta", MappingProxyType(dict(self.beta)))


@dataclass(frozen=True, eq=False)
class ContinuousTruth(Truth):
    """Truth of :func:`simulate_continuous`.

    Attributes
    ----------
    alpha : ndarray, shape (K,)
        Control-arm mean final SBP at the trial's mean covariates.
    sigma : float
        Residual SD.
    """

    alpha: np.ndarray
    sigma: float


@dataclass(frozen=True, eq=False)
class BinaryTruth(Truth):
    """Truth of :func:`simulate_binary`.

    Attributes
    ----------
    alpha : ndarray, shape (K,)
        Control-arm log odds of the event at the trial's mean covariates.
    """

    alpha: np.ndarray


@dataclass(frozen=True, eq=False)
class SurvivalTruth(Truth):
    """Truth of :func:`simulate_survival`.

    Attributes
    ----------
    shape : float
        Weibull shape ``rho`` (1 = constant hazard).
    log_scale : ndarray, shape (K,)
        ``log lambda_k``: log of the trial's Weibull scale at its mean covariates, control arm.
    follow_up : float
        Administrative censoring time.
    dropout : float
        Probability of dropping out before ``follow_up`` (in the absence of an event).
    """

    shape: float
    log_scale: np.ndarray
    follow_up: float
    dropout: float


# --------------------------------------------------------------------------------------------
# shared pieces


def _sizes(n_studies: int, n_per_study: int | Sequence[int]) -> tuple[int, ...]:
    if int(n_studies) != n_studies or n_studies < 1:
        raise SpecError(f"n_studies must be a positive integer; got {n_studies!r}")
    if isinstance(n_per_study, int | np.integer):
        sizes = (int(n_per_study),) * int(n_studies)
    else:
        sizes = tuple(int(n) for n in n_per_study)
        if len(sizes) != n_studies:
            raise SpecError(f"n_per_study has {len(sizes)} entries but n_studies is {n_studies}")
    small = [n for n in sizes if n < 2]
    if small:
        raise SpecError(f"every trial needs at least 2 participants; got n_per_study {small[0]}")
    return sizes


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if not np.isfinite(value) or value < 0:
            raise SpecError(f"{name} must be a finite number >= 0; got {value!r}")


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise SpecError(f"{name} must be > 0; got {value!r}")


def _labels(n_studies: int) -> tuple[str, ...]:
    width = max(2, len(str(n_studies)))
    return tuple(f"T{k:0{width}d}" for k in range(1, n_studies + 1))


def _seed_value(seed: Seed) -> int | None:
    return int(seed) if isinstance(seed, int | np.integer) else None


def _allocation(rng: np.random.Generator, n: int) -> np.ndarray:
    """1:1 allocation: a random permutation of floor(n/2) ones and the rest zeros."""
    return rng.permutation(np.arange(n) < n // 2).astype(np.int64)


def _trial_index(sizes: tuple[int, ...]) -> np.ndarray:
    return np.repeat(np.arange(len(sizes)), sizes)


def _group_mean(values: np.ndarray, index: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(index, weights=values, minlength=k) / np.bincount(index, minlength=k)


def _centred(values: np.ndarray, index: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(values minus their trial sample mean, the trial means)."""
    means = _group_mean(values, index, k)
    return values - means[index], means


def _normal_around_trial_means(
    rng: np.random.Generator, index: np.ndarray, mean: float, between_sd: float, within_sd: float
) -> np.ndarray:
    k = int(index.max()) + 1
    trial_means = rng.normal(mean, between_sd, size=k)
    return rng.normal(trial_means[index], within_sd)


@dataclass(frozen=True)
class _Effects:
    u: np.ndarray
    theta: np.ndarray
    modifier_mean: np.ndarray
    per_person: np.ndarray  # treatment effect for each participant, if treated


def _treatment_effects(
    rng: np.random.Generator,
    age: np.ndarray,
    index: np.ndarray,
    mu: float,
    tau: float,
    interaction_within: float,
    interaction_across: float,
) -> _Effects:
    k = int(index.max()) + 1
    age_within, age_means = _centred(age, index, k)
    u = rng.normal(0.0, tau, size=k) if tau > 0 else np.zeros(k)
    theta = mu + u + interaction_across * (age_means - age_means.mean())
    per_person = theta[index] + interaction_within * age_within
    return _Effects(u, theta, age_means, per_person)


def _truth_kwargs(
    studies: tuple[str, ...],
    sizes: tuple[int, ...],
    mu: float,
    tau: float,
    effects: _Effects,
    beta: Mapping[str, float],
    interaction_within: float,
    interaction_across: float,
    seed: Seed,
) -> dict[str, Any]:
    return {
        "studies": studies,
        "mu": float(mu),
        "tau": float(tau),
        "u": effects.u,
        "theta": effects.theta,
        "beta": dict(beta),
        "interaction_within": float(interaction_within),
        "interaction_across": float(interaction_across),
        "modifier": "age",
        "modifier_mean": effects.modifier_mean,
        "n_per_study": sizes,
        "seed": _seed_value(seed),
    }


# --------------------------------------------------------------------------------------------
# continuous


def simulate_continuous(
    n_studies: int = 10,
    n_per_study: int | Sequence[int] = 200,
    mu: float = -5.0,
    tau: float = 2.0,
    sigma: float = 10.0,
    *,
    beta_baseline: float = 0.5,
    beta_age: float = 0.3,
    interaction_within: float = 0.0,
    interaction_across: float = 0.0,
    age_mean: float = 60.0,
    age_between_sd: float = 6.0,
    age_sd: float = 8.0,
    baseline_mean: float = 155.0,
    baseline_between_sd: float = 5.0,
    baseline_sd: float = 15.0,
    control_mean: float = 145.0,
    control_between_sd: float = 5.0,
    seed: Seed = None,
) -> tuple[pd.DataFrame, ContinuousTruth]:
    """Blood-pressure trials: final systolic blood pressure (mmHg) by treatment.

    Data-generating process, trial ``k``, participant ``i`` (``t`` 1:1 at random)::

        age_ik          ~ Normal(a_k, age_sd),       a_k ~ Normal(age_mean, age_between_sd)
        sbp_baseline_ik ~ Normal(s_k, baseline_sd),  s_k ~ Normal(baseline_mean,
                                                                  baseline_between_sd)
        alpha_k         ~ Normal(control_mean, control_between_sd)
        theta_k         = mu + u_k + interaction_across * (abar_k - abar),  u_k ~ Normal(0, tau)
        sbp_final_ik    = alpha_k + beta_baseline * (sbp_baseline_ik - sbar_k)
                          + beta_age * (age_ik - abar_k)
                          + t_ik * (theta_k + interaction_within * (age_ik - abar_k))
                          + e_ik,                          e_ik ~ Normal(0, sigma)

    ``abar_k`` and ``sbar_k`` are the sample trial means, ``abar`` the mean of the ``abar_k``.
    The treatment effect is a mean difference in mmHg.

    Parameters
    ----------
    n_studies : int
        Number of trials ``K``.
    n_per_study : int or sequence of int
        Participants per trial (one value for all, or ``K`` values).
    mu, tau : float
        Mean and between-trial SD of the treatment effect (mmHg).
    sigma : float
        Residual SD (mmHg).
    beta_baseline, beta_age : float
        Prognostic effects per mmHg of baseline SBP and per year of age.
    interaction_within, interaction_across : float
        Treatment-by-age interactions (mmHg per year), within and across trials.
    age_mean, age_between_sd, age_sd : float
        Age distribution: population mean, SD of trial means, SD within a trial.
    baseline_mean, baseline_between_sd, baseline_sd : float
        Baseline SBP distribution, likewise.
    control_mean, control_between_sd : float
        Distribution of the trial control-arm means ``alpha_k``.
    seed : int or numpy Generator, optional
        Passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    frame : DataFrame
        Columns ``trial, treat, sbp_baseline, sbp_final, age``.
    truth : ContinuousTruth

    Examples
    --------
    >>> frame, truth = simulate_continuous(n_studies=3, n_per_study=20, seed=1)
    >>> list(frame.columns), len(frame), truth.mu
    (['trial', 'treat', 'sbp_baseline', 'sbp_final', 'age'], 60, -5.0)
    """
    sizes = _sizes(n_studies, n_per_study)
    _check_non_negative(tau=tau, age_between_sd=age_between_sd, age_sd=age_sd)
    _check_non_negative(baseline_between_sd=baseline_between_sd, baseline_sd=baseline_sd)
    _check_non_negative(control_between_sd=control_between_sd)
    _check_positive(sigma=sigma)
    rng = np.random.default_rng(seed)
    k, index = len(sizes), _trial_index(sizes)
    studies = _labels(k)

    treat = np.concatenate([_allocation(rng, n) for n in sizes])
    age = _normal_around_trial_means(rng, index, age_mean, age_between_sd, age_sd)
    baseline = _normal_around_trial_means(
        rng, index, baseline_mean, baseline_between_sd, baseline_sd
    )
    alpha = rng.normal(control_mean, control_between_sd, size=k)
    effects = _treatment_effects(rng, age, index, mu, tau, interaction_within, interaction_across)
    mean_final = (
        alpha[index]
        + beta_baseline * _centred(baseline, index, k)[0]
        + beta_age * _centred(age, index, k)[0]
        + treat * effects.per_person
    )
    final = mean_final + rng.normal(0.0, sigma, size=index.size)

    frame = pd.DataFrame(
        {
            "trial": np.asarray(studies, dtype=object)[index],
            "treat": treat,
            "sbp_baseline": baseline,
            "sbp_final": final,
            "age": age,
        }
    )
    beta = {"sbp_baseline": beta_baseline, "age": beta_age}
    common = _truth_kwargs(
        studies, sizes, mu, tau, effects, beta, interaction_within, interaction_across, seed
    )
    return frame, ContinuousTruth(**common, alpha=alpha, sigma=float(sigma))


# --------------------------------------------------------------------------------------------
# binary


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def simulate_binary(
    n_studies: int = 10,
    n_per_study: int | Sequence[int] = 300,
    mu: float = -0.5,
    tau: float = 0.3,
    *,
    baseline_risk: float = 0.2,
    baseline_between_sd: float = 0.5,
    beta_female: float = 0.3,
    beta_age: float = 0.03,
    interaction_within: float = 0.0,
    interaction_across: float = 0.0,
    female_share: tuple[float, float] = (0.3, 0.7),
    age_mean: float = 60.0,
    age_between_sd: float = 6.0,
    age_sd: float = 8.0,
    seed: Seed = None,
) -> tuple[pd.DataFrame, BinaryTruth]:
    """Trials with a binary outcome: logistic model with a random log odds ratio.

    Data-generating process, trial ``k``, participant ``i`` (``t`` 1:1 at random)::

        female_ik ~ Bernoulli(p_k),                  p_k ~ Uniform(female_share)
        age_ik    ~ Normal(a_k, age_sd),             a_k ~ Normal(age_mean, age_between_sd)
        alpha_k   ~ Normal(logit(baseline_risk), baseline_between_sd)
        theta_k   = mu + u_k + interaction_across * (abar_k - abar),   u_k ~ Normal(0, tau)
        logit P(event_ik = 1) = alpha_k + beta_female * (female_ik - fbar_k)
                                + beta_age * (age_ik - abar_k)
                                + t_ik * (theta_k + interaction_within * (age_ik - abar_k))

    ``fbar_k``, ``abar_k`` are sample trial means, ``abar`` the mean of the ``abar_k``. The
    treatment effect is a (conditional) log odds ratio.

    Parameters
    ----------
    n_studies, n_per_study
        Number of trials and participants per trial (int or ``K`` values).
    mu, tau : float
        Mean and between-trial SD of the log odds ratio.
    baseline_risk, baseline_between_sd : float
        Typical control-arm risk and the SD of the trial control log odds ``alpha_k``.
    beta_female, beta_age : float
        Log odds ratios for female sex and per year of age (0 switches a covariate off).
    interaction_within, interaction_across : float
        Treatment-by-age interactions (log odds ratio per year), within and across trials.
    female_share : (float, float)
        Range of the trials' shares of women.
    age_mean, age_between_sd, age_sd : float
        Age distribution: population mean, SD of trial means, SD within a trial.
    seed : int or numpy Generator, optional

    Returns
    -------
    frame : DataFrame
        Columns ``trial, treat, female, age, event``.
    truth : BinaryTruth

    Examples
    --------
    >>> frame, truth = simulate_binary(n_studies=4, n_per_study=50, seed=2)
    >>> sorted(frame["event"].unique().tolist())
    [0, 1]
    """
    sizes = _sizes(n_studies, n_per_study)
    _check_non_negative(tau=tau, baseline_between_sd=baseline_between_sd, age_sd=age_sd)
    _check_non_negative(age_between_sd=age_between_sd)
    if not 0 < baseline_risk < 1:
        raise SpecError(f"baseline_risk must lie in (0, 1); got {baseline_risk!r}")
    low, high = female_share
    if not 0 <= low <= high <= 1:
        raise SpecError(f"female_share must be (low, high) within [0, 1]; got {female_share!r}")
    rng = np.random.default_rng(seed)
    k, index = len(sizes), _trial_index(sizes)
    studies = _labels(k)

    treat = np.concatenate([_allocation(rng, n) for n in sizes])
    share = rng.uniform(low, high, size=k)
    female = (rng.uniform(size=index.size) < share[index]).astype(np.int64)
    age = _normal_around_trial_means(rng, index, age_mean, age_between_sd, age_sd)
    alpha = rng.normal(_logit(baseline_risk), baseline_between_sd, size=k)
    effects = _treatment_effects(rng, age, index, mu, tau, interaction_within, interaction_across)
    eta = (
        alpha[index]
        + beta_female * _centred(female.astype(np.float64), index, k)[0]
        + beta_age * _centred(age, index, k)[0]
        + treat * effects.per_person
    )
    event = (rng.uniform(size=index.size) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int64)

    frame = pd.DataFrame(
        {
            "trial": np.asarray(studies, dtype=object)[index],
            "treat": treat,
            "female": female,
            "age": age,
            "event": event,
        }
    )
    beta = {"female": beta_female, "age": beta_age}
    common = _truth_kwargs(
        studies, sizes, mu, tau, effects, beta, interaction_within, interaction_across, seed
    )
    return frame, BinaryTruth(**common, alpha=alpha)


# --------------------------------------------------------------------------------------------
# survival


def simulate_survival(
    n_studies: int = 10,
    n_per_study: int | Sequence[int] = 500,
    mu: float = -0.29,
    tau: float = 0.15,
    *,
    shape: float = 1.5,
    log_scale_mean: float = -3.2,
    log_scale_sd: float = 0.3,
    beta_smoking: float = 0.4,
    beta_sbp: float = 0.01,
    beta_age: float = 0.03,
    beta_bmi: float = 0.02,
    interaction_within: float = 0.0,
    interaction_across: float = 0.0,
    follow_up: float = 5.0,
    dropout: float = 0.1,
    smoking_share: tuple[float, float] = (0.15, 0.45),
    age_mean: float = 62.0,
    age_between_sd: float = 5.0,
    age_sd: float = 9.0,
    sbp_mean: float = 140.0,
    sbp_between_sd: float = 6.0,
    sbp_sd: float = 18.0,
    bmi_mean: float = 27.0,
    bmi_between_sd: float = 1.5,
    bmi_sd: float = 4.0,
    seed: Seed = None,
) -> tuple[pd.DataFrame, SurvivalTruth]:
    """Time-to-event trials: Weibull proportional hazards with a random log hazard ratio.

    Data-generating process, trial ``k``, participant ``i`` (``t`` 1:1 at random)::

        smoking_ik ~ Bernoulli(p_k),             p_k ~ Uniform(smoking_share)
        sbp_ik     ~ Normal(m_k, sbp_sd),        m_k ~ Normal(sbp_mean, sbp_between_sd)
        age_ik     ~ Normal(a_k, age_sd),        a_k ~ Normal(age_mean, age_between_sd)
        bmi_ik     ~ Normal(b_k, bmi_sd),        b_k ~ Normal(bmi_mean, bmi_between_sd)
        log lambda_k ~ Normal(log_scale_mean, log_scale_sd)
        theta_k    = mu + u_k + interaction_across * (abar_k - abar),   u_k ~ Normal(0, tau)
        lp_ik      = sum_j beta_j * (x_ikj - xbar_kj)              (smoking, sbp, age, bmi)
                     + t_ik * (theta_k + interaction_within * (age_ik - abar_k))
        hazard     h_ik(s) = lambda_k * shape * s^(shape - 1) * exp(lp_ik)
        T_ik       = (-log V_ik / (lambda_k * exp(lp_ik)))^(1 / shape),  V_ik ~ Uniform(0, 1)
        D_ik       ~ Uniform(0, follow_up / dropout)               (dropout; none if dropout=0)
        time_ik    = min(T_ik, D_ik, follow_up),   event_ik = 1 if T_ik <= min(D_ik, follow_up)

    ``xbar_kj`` are sample trial means and ``abar`` the mean of the ``abar_k``. With
    ``shape != 1`` the baseline hazard changes with time (rising for ``shape > 1``). The
    treatment effect is a log hazard ratio. ``follow_up=inf`` and ``dropout=0`` give
    uncensored times.

    Parameters
    ----------
    n_studies, n_per_study
        Number of trials and participants per trial (int or ``K`` values).
    mu, tau : float
        Mean and between-trial SD of the log hazard ratio.
    shape : float
        Weibull shape ``rho``.
    log_scale_mean, log_scale_sd : float
        Distribution of the trials' log Weibull scales ``log lambda_k``.
    beta_smoking, beta_sbp, beta_age, beta_bmi : float
        Log hazard ratios per unit of each covariate.
    interaction_within, interaction_across : float
        Treatment-by-age interactions (log hazard ratio per year), within and across trials.
    follow_up : float
        Administrative censoring time (years).
    dropout : float
        Probability, in ``[0, 1)``, of dropping out before ``follow_up``.
    smoking_share, age_*, sbp_*, bmi_*
        Covariate distributions (range of smoking shares; population mean, SD of trial
        means and SD within a trial of the others).
    seed : int or numpy Generator, optional

    Returns
    -------
    frame : DataFrame
        Columns ``trial, treat, smoking, sbp, age, bmi, time, event``.
    truth : SurvivalTruth

    Examples
    --------
    >>> frame, truth = simulate_survival(n_studies=3, n_per_study=40, seed=3)
    >>> bool((frame["time"] > 0).all()), truth.shape
    (True, 1.5)
    """
    sizes = _sizes(n_studies, n_per_study)
    _check_non_negative(tau=tau, log_scale_sd=log_scale_sd, dropout=dropout)
    _check_positive(shape=shape, follow_up=follow_up)
    if dropout >= 1:
        raise SpecError(f"dropout must lie in [0, 1); got {dropout!r}")
    if dropout > 0 and not np.isfinite(follow_up):
        raise SpecError(
            "dropout > 0 needs a finite follow_up (dropout times are uniform on "
            "(0, follow_up / dropout))"
        )
    low, high = smoking_share
    if not 0 <= low <= high <= 1:
        raise SpecError(f"smoking_share must be (low, high) within [0, 1]; got {smoking_share!r}")
    rng = np.random.default_rng(seed)
    k, index = len(sizes), _trial_index(sizes)
    studies = _labels(k)

    treat = np.concatenate([_allocation(rng, n) for n in sizes])
    share = rng.uniform(low, high, size=k)
    smoking = (rng.uniform(size=index.size) < share[index]).astype(np.int64)
    sbp = _normal_around_trial_means(rng, index, sbp_mean, sbp_between_sd, sbp_sd)
    age = _normal_around_trial_means(rng, index, age_mean, age_between_sd, age_sd)
    bmi = _normal_around_trial_means(rng, index, bmi_mean, bmi_between_sd, bmi_sd)
    log_scale = rng.normal(log_scale_mean, log_scale_sd, size=k)
    effects = _treatment_effects(rng, age, index, mu, tau, interaction_within, interaction_across)
    beta = {"smoking": beta_smoking, "sbp": beta_sbp, "age": beta_age, "bmi": beta_bmi}
    covariates = {"smoking": smoking.astype(np.float64), "sbp": sbp, "age": age, "bmi": bmi}
    lp = treat * effects.per_person
    for name, values in covariates.items():
        lp = lp + beta[name] * _centred(values, index, k)[0]

    event_time = (-np.log(rng.uniform(size=index.size)) / np.exp(log_scale[index] + lp)) ** (
        1.0 / shape
    )
    dropout_time = (
        rng.uniform(0.0, follow_up / dropout, size=index.size)
        if dropout > 0
        else np.full(index.size, np.inf)
    )
    censor_time = np.minimum(dropout_time, follow_up)
    event = (event_time <= censor_time).astype(np.int64)
    time = np.minimum(event_time, censor_time)

    frame = pd.DataFrame(
        {
            "trial": np.asarray(studies, dtype=object)[index],
            "treat": treat,
            "smoking": smoking,
            "sbp": sbp,
            "age": age,
            "bmi": bmi,
            "time": time,
            "event": event,
        }
    )
    common = _truth_kwargs(
        studies, sizes, mu, tau, effects, beta, interaction_within, interaction_across, seed
    )
    return frame, SurvivalTruth(
        **common,
        shape=float(shape),
        log_scale=log_scale,
        follow_up=float(follow_up),
        dropout=float(dropout),
    )
