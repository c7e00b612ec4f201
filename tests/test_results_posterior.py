"""The one-stage result as a value (``Posterior``) and its public face (``OneStageResult``);
the estimation below ``fit``; the survival checks split by job.

No MCMC: a "posterior" here is a sample of the model's prior (PyMC's
``sample_prior_predictive``), which exercises every reader the same way. References are the
readers of the public face (the same numbers must come out of the value) and direct sums of
the design's cells.
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest

import bayes_ipd.checks.survival as survival_checks
from bayes_ipd.checks.event_free import event_free_trials
from bayes_ipd.checks.interval_events import expected_interval_events
from bayes_ipd.checks.ppc import (
    posterior_predictive_check,
    replicate_statistics,
    sample_prior,
)
from bayes_ipd.draws import coefficient_draws, log_hazard_draws, model_coefficients
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families.cells import arm_totals
from bayes_ipd.one_stage.builder import build_model
from bayes_ipd.one_stage.design import design_from_summaries
from bayes_ipd.one_stage.estimation import design_for, trial_summaries
from bayes_ipd.one_stage.posterior import Posterior
from bayes_ipd.one_stage.result import OneStageResult
from bayes_ipd.one_stage.summaries import summarise_trial
from bayes_ipd.spec import ModelSpec, SamplerSettings

GAUSSIAN_SPEC = ModelSpec(family="gaussian", covariates=("age",), interactions=("age",))
SURVIVAL_SPEC = ModelSpec(family="survival", covariates=("age",), intervals=(0.5, 1.0))


def gaussian_trials(k: int = 4, n: int = 40, seed: int = 1) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(k):
        t = np.tile([0.0, 1.0], n // 2)
        age = rng.normal(50 + i, 10, n)
        y = 120 - 5 * t + 0.3 * (age - 50) + rng.normal(0, 10, n)
        covariates = pd.DataFrame({"age": age})
        out.append(summarise_trial(f"T{i}", "gaussian", t, covariates, ["age"], ["age"], outcome=y))
    return out


def survival_trials(k: int = 3, n: int = 60, seed: int = 3, empty: int | None = None) -> list:
    """Exponential times censored uniformly; trial ``empty`` (if given) has no events."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(k):
        t = np.tile([0.0, 1.0], n // 2)
        age = rng.normal(60, 8, n)
        time = rng.exponential(1.0 / np.exp(-0.4 * t), n)
        censor = rng.uniform(0.5, 2.5, n)
        event = (time <= censor).astype(float)
        if i == empty:
            event = np.zeros(n)
        out.append(
            summarise_trial(
                f"S{i}",
                "survival",
                t,
                pd.DataFrame({"age": age}),
                ["age"],
                [],
                time=np.minimum(time, censor),
                event=event,
                cutpoints=(0.5, 1.0),
            )
        )
    return out


def prior_posterior(design, spec, draws: int = 30) -> Posterior:
    """A Posterior whose draws are a sample of the model's prior (no MCMC)."""
    built = build_model(design, spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior = pm.sample_prior_predictive(model=built.model, draws=draws, random_seed=5).prior
    idata = az.InferenceData(posterior=prior.drop_vars("loglik_trial"))
    return Posterior(idata, built, SamplerSettings(seed=5, progress=False), None)


@pytest.fixture(scope="module")
def gaussian_posterior() -> Posterior:
    return prior_posterior(design_from_summaries(gaussian_trials()), GAUSSIAN_SPEC)


@pytest.fixture(scope="module")
def survival_posterior() -> Posterior:
    return prior_posterior(design_from_summaries(survival_trials()), SURVIVAL_SPEC)


# ---------------------------------------------------------------- value and face


def test_the_value_carries_no_checks_and_the_face_adds_them():
    for method in ("ppc", "prior_predictive", "loo", "marginal_loglik", "sensitivity"):
        assert not hasattr(Posterior, method)
        assert callable(getattr(OneStageResult, method))
    assert issubclass(OneStageResult, Posterior)


def test_the_face_shares_the_values_fields(gaussian_posterior):
    face = OneStageResult.of(gaussian_posterior)
    assert isinstance(face, OneStageResult)
    assert face.idata is gaussian_posterior.idata and face.built is gaussian_posterior.built
    assert OneStageResult.of(face) is face
    pd.testing.assert_frame_equal(face.summary(), gaussian_posterior.summary())
    pd.testing.assert_frame_equal(face.study_effects(), gaussian_posterior.study_effects())


def test_the_value_is_frozen(gaussian_posterior):
    with pytest.raises(AttributeError):
        gaussian_posterior.idata = None  # type: ignore[misc]


def test_checks_take_the_value(gaussian_posterior):
    # a check of the bare value equals the face's method on the same fields
    face = OneStageResult.of(gaussian_posterior)
    table = posterior_predictive_check(gaussian_posterior, draws=10).table
    pd.testing.assert_frame_equal(table, face.ppc(draws=10).table)


def test_model_coefficients_are_the_coefficient_draws(gaussian_posterior):
    built = gaussian_posterior.built
    got = model_coefficients(built.design, built.spec, gaussian_posterior.idata.posterior)
    np.testing.assert_array_equal(got, coefficient_draws(gaussian_posterior))


def test_prior_check_from_model_values_equals_the_faces(gaussian_posterior):
    # what prior_predictive(data, spec) does before any fit: draws of the model's prior and
    # statistics replicated from them, without a result
    face = OneStageResult.of(gaussian_posterior)
    built = face.built
    params = sample_prior(built.model, 20, 7)
    index = np.arange(20)
    rep = replicate_statistics(built.design, built.spec, params, index, np.random.default_rng(7))
    check = face.prior_predictive(draws=20, seed=7)
    observed = check.table[check.table["statistic"] == "mean"]
    np.testing.assert_allclose(
        observed["rep_mean"].to_numpy(), rep["mean"].mean(axis=0).ravel(), rtol=1e-12
    )


# -------------------------------------------------------------------- estimation


def test_design_for_dispatches_on_the_kind_of_input():
    trials = gaussian_trials(k=3)
    design = design_for(trials, GAUSSIAN_SPEC)
    assert design_for(design, GAUSSIAN_SPEC) is design
    assert design_for(tuple(trials), GAUSSIAN_SPEC).studies == design.studies
    as_dicts = design_for([t.to_dict() for t in trials], GAUSSIAN_SPEC)
    np.testing.assert_array_equal(as_dicts.n_arm, design.n_arm)
    with pytest.raises(IPDDataError, match="the model is for family 'binomial'"):
        design_for(design, ModelSpec(family="binomial"))
    with pytest.raises(IPDDataError, match="cannot fit int: give an IPD, TrialSummary"):
        design_for([3], GAUSSIAN_SPEC)


def test_a_summary_of_another_family_is_refused():
    summary = gaussian_trials(k=1)[0]
    assert trial_summaries(summary, GAUSSIAN_SPEC, None) == [summary]
    with pytest.raises(IPDDataError, match="trial summary 'T0' is 'gaussian'"):
        trial_summaries(summary, ModelSpec(family="binomial"), None)


# ------------------------------------------------------------- survival checks


def test_survival_checks_keep_their_public_names():
    assert set(survival_checks.__all__) == {
        "GRID_POINTS",
        "SEED_OFFSETS",
        "cumulative_baseline_hazard",
        "event_free_trials",
        "expected_interval_events",
        "hazard_ratio_summary",
        "interval_edges",
        "interval_event_ppc",
        "interval_event_ppc_plot",
        "interval_labels",
        "kaplan_meier",
        "km_ppc",
        "observed_km",
        "participant_design_rows",
        "predictive_survival",
        "warn_event_free_trials",
        # beyond proportional hazards (issue 26)
        "hazard_ratio_curve",
        "log_cumulative_hazard_ppc",
        "median_survival",
        "rmst_difference",
        "survival_curves",
    }
    for name in survival_checks.__all__:
        assert hasattr(survival_checks, name)


def test_interval_totals_sum_to_the_arm_totals(survival_posterior):
    design = survival_posterior.built.design
    events, exposure = design.plugin.interval_totals(design)
    shape = (design.k, design.n_intervals, 2)
    np.testing.assert_allclose(events.reshape(shape).sum(axis=1), arm_totals(design, "cell_events"))
    np.testing.assert_allclose(exposure.reshape(shape).sum(axis=1), arm_totals(design, "cell_n"))


def test_expected_interval_events_by_cells(survival_posterior):
    # E_c exp(log h_kj + z_c'b_k) cell by cell, summed into trial x interval x arm
    design = survival_posterior.built.design
    coef = coefficient_draws(survival_posterior)
    log_h = log_hazard_draws(survival_posterior)
    got = expected_interval_events(design, coef, log_h)
    st = design.stats
    want = np.zeros_like(got)
    for c in range(len(st["cell_n"])):
        k, j, arm = st["cell_study"][c], st["cell_interval"][c], int(st["cell_z"][c, 1])
        eta = log_h[:, k, j] + coef[:, k, 1:] @ st["cell_z"][c, 1:]
        want[:, (k * design.n_intervals + j) * 2 + arm] += st["cell_n"][c] * np.exp(eta)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_event_free_trials_from_the_family_totals():
    design = design_from_summaries(survival_trials(empty=1))
    assert event_free_trials(design) == ("S1",)
    assert event_free_trials(design_from_summaries(survival_trials())) == ()
