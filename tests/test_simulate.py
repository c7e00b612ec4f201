"""Tests of bayes_ipd.simulate: reproducibility, structure, and recovery of the truth.

Recovery checks use independent simple estimators (per-trial OLS, logistic regression in
statsmodels, a stratified Cox model in lifelines, closed-form Weibull moments), with bounds of
4 standard errors from sampling theory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.errors import SpecError
from bayes_ipd.simulate import (
    BinaryTruth,
    ContinuousTruth,
    SurvivalTruth,
    Truth,
    simulate_binary,
    simulate_continuous,
    simulate_survival,
)

GENERATORS = [simulate_continuous, simulate_binary, simulate_survival]


def centred(frame: pd.DataFrame, column: str) -> np.ndarray:
    return (frame[column] - frame.groupby("trial")[column].transform("mean")).to_numpy()


def ols(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Coefficients, their standard errors and the residual SD (textbook OLS)."""
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ coef
    dof = x.shape[0] - x.shape[1]
    sigma2 = residual @ residual / dof
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(x.T @ x)))
    return coef, se, float(np.sqrt(sigma2))


# ---------------------------------------------------------------------------------------------
# shared behaviour


@pytest.mark.parametrize("generator", GENERATORS)
def test_same_seed_gives_identical_frame(generator):
    first, truth_1 = generator(n_studies=4, n_per_study=30, seed=11)
    second, truth_2 = generator(n_studies=4, n_per_study=30, seed=11)
    pd.testing.assert_frame_equal(first, second)
    np.testing.assert_array_equal(truth_1.theta, truth_2.theta)
    other, _ = generator(n_studies=4, n_per_study=30, seed=12)
    assert not first.equals(other)


@pytest.mark.parametrize("generator", GENERATORS)
def test_sizes_labels_and_balanced_allocation(generator):
    sizes = (5, 12, 9)
    frame, truth = generator(n_studies=3, n_per_study=sizes, seed=1)
    assert truth.studies == ("T01", "T02", "T03")
    assert truth.n_per_study == sizes
    assert frame["trial"].value_counts().reindex(truth.studies).tolist() == list(sizes)
    treated = frame.groupby("trial", sort=False)["treat"].sum().tolist()
    assert treated == [n // 2 for n in sizes]
    assert frame["treat"].dtype == np.int64


@pytest.mark.parametrize("generator", GENERATORS)
def test_truth_is_consistent_with_the_frame(generator):
    frame, truth = generator(
        n_studies=6, n_per_study=40, interaction_across=0.2, interaction_within=0.1, seed=5
    )
    assert isinstance(truth, Truth)
    age_means = frame.groupby("trial", sort=False)["age"].mean().to_numpy()
    np.testing.assert_allclose(truth.modifier_mean, age_means, rtol=1e-12)
    expected = truth.mu + truth.u + 0.2 * (age_means - age_means.mean())
    np.testing.assert_allclose(truth.theta, expected, rtol=1e-12)
    assert truth.modifier == "age" and truth.seed == 5


def test_truth_is_immutable():
    _, truth = simulate_continuous(n_studies=3, n_per_study=10, seed=1)
    with pytest.raises(ValueError, match="read-only"):
        truth.theta[0] = 0.0
    with pytest.raises(TypeError):
        truth.beta["age"] = 1.0  # type: ignore[index]
    with pytest.raises(AttributeError):
        truth.mu = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_studies": 3, "n_per_study": (10, 10)}, "2 entries but n_studies is 3"),
        ({"n_per_study": 1}, "at least 2 participants"),
        ({"n_studies": 0}, "n_studies must be a positive integer"),
        ({"tau": -1.0}, "tau must be a finite number >= 0"),
    ],
)
@pytest.mark.parametrize("generator", GENERATORS)
def test_bad_settings_are_refused(generator, kwargs, message):
    with pytest.raises(SpecError, match=message):
        generator(**kwargs, seed=1)


def test_bad_survival_settings_are_refused():
    with pytest.raises(SpecError, match=r"dropout must lie in \[0, 1\)"):
        simulate_survival(dropout=1.0)
    with pytest.raises(SpecError, match="shape must be > 0"):
        simulate_survival(shape=0.0)
    with pytest.raises(SpecError, match="finite follow_up"):
        simulate_survival(follow_up=np.inf, dropout=0.1)


# ---------------------------------------------------------------------------------------------
# continuous


def per_trial_ols(frame: pd.DataFrame, with_interaction: bool = False) -> pd.DataFrame:
    rows = []
    for label, trial in frame.groupby("trial", sort=False):
        age_c = (trial["age"] - trial["age"].mean()).to_numpy()
        base_c = (trial["sbp_baseline"] - trial["sbp_baseline"].mean()).to_numpy()
        treat = trial["treat"].to_numpy(float)
        columns = [np.ones(len(trial)), treat, base_c, age_c]
        if with_interaction:
            columns.append(treat * age_c)
        coef, se, sigma = ols(np.column_stack(columns), trial["sbp_final"].to_numpy())
        rows.append({"trial": label, "coef": coef, "se": se, "sigma": sigma})
    return pd.DataFrame(rows).set_index("trial")


def test_continuous_columns():
    frame, truth = simulate_continuous(seed=3)
    assert list(frame.columns) == ["trial", "treat", "sbp_baseline", "sbp_final", "age"]
    assert len(frame) == 2_000 and isinstance(truth, ContinuousTruth)
    assert (truth.mu, truth.tau, truth.sigma) == (-5.0, 2.0, 10.0)


def test_continuous_trial_effects_are_recovered_by_ols():
    frame, truth = simulate_continuous(n_studies=10, n_per_study=2_000, seed=21)
    fits = per_trial_ols(frame)
    theta_hat = np.array([c[1] for c in fits["coef"]])
    se = np.array([s[1] for s in fits["se"]])
    # each trial's OLS treatment coefficient is unbiased for its theta_k
    assert np.all(np.abs(theta_hat - truth.theta) < 4 * se)
    # the mean of the per-trial estimates is near mu: var = (tau^2 + mean se^2) / K
    k = len(theta_hat)
    assert abs(theta_hat.mean() - truth.mu) < 4 * np.sqrt((truth.tau**2 + np.mean(se**2)) / k)
    # the intercepts are the control means alpha_k (covariates centred within trial)
    alpha_hat = np.array([c[0] for c in fits["coef"]])
    alpha_se = np.array([s[0] for s in fits["se"]])
    assert np.all(np.abs(alpha_hat - truth.alpha) < 4 * alpha_se)


def test_continuous_covariate_effects_and_sigma_are_recovered():
    frame, truth = simulate_continuous(n_studies=10, n_per_study=400, seed=22)
    y = frame["sbp_final"].to_numpy()
    dummies = pd.get_dummies(frame["trial"]).to_numpy(float)
    x = np.column_stack(
        [dummies, frame["treat"].to_numpy(float)[:, None] * dummies, centred(frame, "sbp_baseline"),
         centred(frame, "age")]
    )  # fmt: skip
    coef, se, sigma = ols(x, y)
    assert abs(coef[-2] - truth.beta["sbp_baseline"]) < 4 * se[-2]
    assert abs(coef[-1] - truth.beta["age"]) < 4 * se[-1]
    # SD of the residual SD estimate is about sigma / sqrt(2 * dof)
    assert abs(sigma - truth.sigma) < 4 * truth.sigma / np.sqrt(2 * (len(y) - x.shape[1]))


def test_continuous_within_and_across_interactions_are_separated():
    frame, truth = simulate_continuous(
        n_studies=40, n_per_study=300, tau=0.0, interaction_within=0.5,
        interaction_across=-0.4, age_between_sd=8.0, seed=23,
    )  # fmt: skip
    fits = per_trial_ols(frame, with_interaction=True)
    within = np.array([c[4] for c in fits["coef"]])
    within_se = np.array([s[4] for s in fits["se"]])
    weights = 1 / within_se**2
    pooled = np.sum(weights * within) / weights.sum()
    assert abs(pooled - 0.5) < 4 / np.sqrt(weights.sum())
    # across: meta-regression of trial effects on centred trial mean age (OLS)
    theta_hat = np.array([c[1] for c in fits["coef"]])
    mean_age = truth.modifier_mean - truth.modifier_mean.mean()
    coef, se, _ = ols(np.column_stack([np.ones_like(mean_age), mean_age]), theta_hat)
    assert abs(coef[1] - (-0.4)) < 4 * se[1]
    assert abs(coef[0] - truth.mu) < 4 * se[0]


def test_across_association_without_within_interaction():
    frame, truth = simulate_continuous(
        n_studies=40, n_per_study=300, tau=0.0, interaction_across=-0.4, seed=24
    )
    fits = per_trial_ols(frame, with_interaction=True)
    within = np.array([c[4] for c in fits["coef"]])
    weights = 1 / np.array([s[4] for s in fits["se"]]) ** 2
    assert abs(np.sum(weights * within) / weights.sum()) < 4 / np.sqrt(weights.sum())
    assert truth.interaction_within == 0.0


# ---------------------------------------------------------------------------------------------
# binary


def test_binary_columns():
    frame, truth = simulate_binary(seed=4)
    assert list(frame.columns) == ["trial", "treat", "female", "age", "event"]
    assert set(frame["female"]) == {0, 1} and set(frame["event"]) == {0, 1}
    assert isinstance(truth, BinaryTruth) and truth.alpha.shape == (10,)


def test_binary_log_odds_ratio_and_covariates_are_recovered():
    sm = pytest.importorskip("statsmodels.api")
    frame, truth = simulate_binary(
        n_studies=8, n_per_study=2_500, mu=-0.6, tau=0.0, beta_female=0.4, beta_age=0.04, seed=31
    )
    dummies = pd.get_dummies(frame["trial"]).to_numpy(float)
    x = np.column_stack(
        [dummies, frame["treat"], centred(frame, "female"), centred(frame, "age")]
    ).astype(float)
    fit = sm.GLM(frame["event"].to_numpy(float), x, family=sm.families.Binomial()).fit()
    coef, se = fit.params, fit.bse
    assert abs(coef[8] - truth.mu) < 4 * se[8]
    assert abs(coef[9] - 0.4) < 4 * se[9]
    assert abs(coef[10] - 0.04) < 4 * se[10]
    # the trial intercepts are the control log odds alpha_k at the trial's mean covariates
    assert np.all(np.abs(coef[:8] - truth.alpha) < 4 * se[:8])


def test_binary_between_trial_sd_is_recovered_by_moments():
    frame, truth = simulate_binary(n_studies=400, n_per_study=10, tau=0.5, seed=32)
    # u_k ~ Normal(0, tau): the drawn u_k have SD tau, SE of SD about tau / sqrt(2K)
    assert abs(np.std(truth.u, ddof=1) - 0.5) < 4 * 0.5 / np.sqrt(2 * 400)
    assert len(frame) == 4_000


# ---------------------------------------------------------------------------------------------
# survival


def test_survival_columns():
    frame, truth = simulate_survival(seed=5)
    assert list(frame.columns) == [
        "trial", "treat", "smoking", "sbp", "age", "bmi", "time", "event",
    ]  # fmt: skip
    assert isinstance(truth, SurvivalTruth) and truth.shape == 1.5
    assert (frame["time"] > 0).all() and (frame["time"] <= truth.follow_up).all()
    assert set(frame["event"]) == {0, 1}


def test_survival_log_hazard_ratios_are_recovered_by_stratified_cox():
    lifelines = pytest.importorskip("lifelines")
    frame, truth = simulate_survival(n_studies=8, n_per_study=700, mu=-0.3, tau=0.0, seed=41)
    fitter = lifelines.CoxPHFitter().fit(
        frame, duration_col="time", event_col="event", strata=["trial"]
    )
    coef, se = fitter.params_, fitter.standard_errors_
    assert abs(coef["treat"] - truth.mu) < 4 * se["treat"]
    for name, value in truth.beta.items():
        assert abs(coef[name] - value) < 4 * se[name], name


def test_survival_weibull_shape_and_scales_by_closed_form_moments():
    # No covariate effects, no censoring: log T = (log E - log lambda_k) / shape with
    # E ~ Exp(1), so within a trial SD(log T) = pi / (sqrt(6) * shape) and
    # mean(log T) = (-euler_gamma - log lambda_k) / shape (Gumbel moments).
    frame, truth = simulate_survival(
        n_studies=10, n_per_study=600, mu=0.0, tau=0.0, shape=1.5, beta_smoking=0.0,
        beta_sbp=0.0, beta_age=0.0, beta_bmi=0.0, follow_up=np.inf, dropout=0.0, seed=42,
    )  # fmt: skip
    assert frame["event"].all()
    log_t = np.log(frame["time"])
    within_sd = np.sqrt(
        (log_t - log_t.groupby(frame["trial"]).transform("mean")).pow(2).sum() / (len(frame) - 10)
    )
    shape_hat = np.pi / (np.sqrt(6) * within_sd)
    # relative SE of a sample SD with excess kurtosis 2.4 (Gumbel): sqrt((2 + 2.4) / (4 n))
    assert abs(shape_hat - 1.5) < 4 * 1.5 * np.sqrt(4.4 / (4 * len(frame)))
    assert abs(shape_hat - 1.0) > 0.3  # the baseline hazard is not constant
    mean_log_t = log_t.groupby(frame["trial"], sort=False).mean().to_numpy()
    log_scale_hat = -np.euler_gamma - 1.5 * mean_log_t
    # SE of mean(log T) * shape is (pi / sqrt(6)) / sqrt(n)
    assert np.all(np.abs(log_scale_hat - truth.log_scale) < 4 * np.pi / np.sqrt(6 * 600))


def test_survival_censoring_mechanisms():
    # Hazard so small that events are absent: every time is a censoring time, D ~ U(0, 5 / 0.2)
    frame, truth = simulate_survival(
        n_studies=5, n_per_study=2_000, log_scale_mean=-40.0, dropout=0.2, follow_up=5.0, seed=43
    )
    assert frame["event"].sum() == 0
    dropped_out = (frame["time"] < 5.0).mean()
    assert abs(dropped_out - 0.2) < 4 * np.sqrt(0.2 * 0.8 / len(frame))
    # before follow-up the dropout times are uniform: P(D < 2.5 | D < 5) = 1/2
    early = (frame["time"] < 2.5).sum() / (frame["time"] < 5.0).sum()
    assert abs(early - 0.5) < 4 * np.sqrt(0.25 / (frame["time"] < 5.0).sum())
    assert truth.dropout == 0.2 and truth.follow_up == 5.0
