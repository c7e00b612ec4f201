"""The three data-generating processes: blood-pressure trials (continuous), trials with a
binary outcome (logistic) and time-to-event trials (Weibull proportional hazards).

The structure they share is described in :mod:`bayes_ipd.simulate`; each returns
``(frame, truth)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayes_ipd.errors import SpecError
from bayes_ipd.simulate.trials import (
    Seed,
    Trials,
    centred,
    check_non_negative,
    check_positive,
    check_share,
    indicator_around_trial_shares,
    normal_around_trial_means,
    treatment_effects,
    trial_sizes,
    truth_fields,
)
from bayes_ipd.simulate.truth import BinaryTruth, ContinuousTruth, SurvivalTruth

__all__ = ["simulate_binary", "simulate_continuous", "simulate_survival"]


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
    sizes = trial_sizes(n_studies, n_per_study)
    check_non_negative(tau=tau, age_between_sd=age_between_sd, age_sd=age_sd)
    check_non_negative(baseline_between_sd=baseline_between_sd, baseline_sd=baseline_sd)
    check_non_negative(control_between_sd=control_between_sd)
    check_positive(sigma=sigma)
    rng = np.random.default_rng(seed)
    trials = Trials.allocate(rng, sizes)
    k, index, treat = trials.k, trials.index, trials.treat
    age = normal_around_trial_means(rng, index, age_mean, age_between_sd, age_sd)
    baseline = normal_around_trial_means(
        rng, index, baseline_mean, baseline_between_sd, baseline_sd
    )
    alpha = rng.normal(control_mean, control_between_sd, size=k)
    effects = treatment_effects(rng, age, index, mu, tau, interaction_within, interaction_across)
    mean_final = (
        alpha[index]
        + beta_baseline * centred(baseline, index, k)[0]
        + beta_age * centred(age, index, k)[0]
        + treat * effects.per_person
    )
    final = mean_final + rng.normal(0.0, sigma, size=index.size)

    frame = trials.frame({"sbp_baseline": baseline, "sbp_final": final, "age": age})
    beta = {"sbp_baseline": beta_baseline, "age": beta_age}
    common = truth_fields(
        trials, mu, tau, effects, beta, interaction_within, interaction_across, seed
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
    sizes = trial_sizes(n_studies, n_per_study)
    check_non_negative(tau=tau, baseline_between_sd=baseline_between_sd, age_sd=age_sd)
    check_non_negative(age_between_sd=age_between_sd)
    if not 0 < baseline_risk < 1:
        raise SpecError(f"baseline_risk must lie in (0, 1); got {baseline_risk!r}")
    low, high = check_share("female_share", female_share)
    rng = np.random.default_rng(seed)
    trials = Trials.allocate(rng, sizes)
    k, index, treat = trials.k, trials.index, trials.treat
    female = indicator_around_trial_shares(rng, index, low, high)
    age = normal_around_trial_means(rng, index, age_mean, age_between_sd, age_sd)
    alpha = rng.normal(_logit(baseline_risk), baseline_between_sd, size=k)
    effects = treatment_effects(rng, age, index, mu, tau, interaction_within, interaction_across)
    eta = (
        alpha[index]
        + beta_female * centred(female.astype(np.float64), index, k)[0]
        + beta_age * centred(age, index, k)[0]
        + treat * effects.per_person
    )
    event = (rng.uniform(size=index.size) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int64)

    frame = trials.frame({"female": female, "age": age, "event": event})
    beta = {"female": beta_female, "age": beta_age}
    common = truth_fields(
        trials, mu, tau, effects, beta, interaction_within, interaction_across, seed
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
    sizes = trial_sizes(n_studies, n_per_study)
    check_non_negative(tau=tau, log_scale_sd=log_scale_sd, dropout=dropout)
    check_positive(shape=shape, follow_up=follow_up)
    if dropout >= 1:
        raise SpecError(f"dropout must lie in [0, 1); got {dropout!r}")
    if dropout > 0 and not np.isfinite(follow_up):
        raise SpecError(
            "dropout > 0 needs a finite follow_up (dropout times are uniform on "
            "(0, follow_up / dropout))"
        )
    low, high = check_share("smoking_share", smoking_share)
    rng = np.random.default_rng(seed)
    trials = Trials.allocate(rng, sizes)
    k, index, treat = trials.k, trials.index, trials.treat
    smoking = indicator_around_trial_shares(rng, index, low, high)
    sbp = normal_around_trial_means(rng, index, sbp_mean, sbp_between_sd, sbp_sd)
    age = normal_around_trial_means(rng, index, age_mean, age_between_sd, age_sd)
    bmi = normal_around_trial_means(rng, index, bmi_mean, bmi_between_sd, bmi_sd)
    log_scale = rng.normal(log_scale_mean, log_scale_sd, size=k)
    effects = treatment_effects(rng, age, index, mu, tau, interaction_within, interaction_across)
    beta = {"smoking": beta_smoking, "sbp": beta_sbp, "age": beta_age, "bmi": beta_bmi}
    covariates = {"smoking": smoking.astype(np.float64), "sbp": sbp, "age": age, "bmi": bmi}
    lp = treat * effects.per_person
    for name, values in covariates.items():
        lp = lp + beta[name] * centred(values, index, k)[0]

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

    frame = trials.frame(
        {
            "smoking": smoking,
            "sbp": sbp,
            "age": age,
            "bmi": bmi,
            "time": time,
            "event": event,
        }
    )
    common = truth_fields(
        trials, mu, tau, effects, beta, interaction_within, interaction_across, seed
    )
    return frame, SurvivalTruth(
        **common,
        shape=float(shape),
        log_scale=log_scale,
        follow_up=float(follow_up),
        dropout=float(dropout),
    )
