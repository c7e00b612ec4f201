"""OneStageResult.predict_effect (bayes_ipd/one_stage/prediction.py): the conditional
treatment effect at new patients' covariates, for every family.

The posterior is planted (known draws in an InferenceData on a real design), so the
expected effects are closed-form functions of those draws."""

from __future__ import annotations

import math
from types import SimpleNamespace

import arviz as az
import numpy as np
import pandas as pd
import pytest

from bayes_ipd.data import IPD
from bayes_ipd.errors import IPDDataError
from bayes_ipd.one_stage.design import build_design
from bayes_ipd.one_stage.result import OneStageResult
from bayes_ipd.simulate import simulate_binary, simulate_continuous, simulate_survival
from bayes_ipd.spec import ModelSpec, SamplerSettings

CHAINS, DRAWS = 2, 200


def _ipd(family: str) -> IPD:
    if family == "gaussian":
        frame, _ = simulate_continuous(n_studies=4, n_per_study=40, seed=1)
        return IPD.from_frame(
            frame,
            study="trial",
            treatment="treat",
            outcome="sbp_final",
            covariates=["age"],
            family="gaussian",
        )
    if family == "binomial":
        frame, _ = simulate_binary(n_studies=4, n_per_study=60, seed=2)
        return IPD.from_frame(
            frame,
            study="trial",
            treatment="treat",
            outcome="event",
            covariates=["age"],
            family="binomial",
        )
    frame, _ = simulate_survival(n_studies=4, n_per_study=60, seed=3)
    return IPD.from_frame(
        frame,
        study="trial",
        treatment="treat",
        time="time",
        event="event",
        covariates=["age"],
        family="survival",
    )


def _planted(family: str, random_interactions: bool = False) -> OneStageResult:
    ipd = _ipd(family)
    spec = ModelSpec(
        family, covariates=("age",), interactions=("age",), random_interactions=random_interactions
    )
    design = build_design(ipd, spec)
    rng = np.random.default_rng(0)
    k = design.k
    posterior = {
        "mu": rng.normal(-0.3, 0.1, (CHAINS, DRAWS)),
        "tau": np.abs(rng.normal(0.2, 0.05, (CHAINS, DRAWS))),
        "gamma_within": rng.normal(0.05, 0.01, (CHAINS, DRAWS, 1)),
        "theta": rng.normal(-0.3, 0.2, (CHAINS, DRAWS, k)),
    }
    dims = {"gamma_within": ["interaction"], "theta": ["study"]}
    if random_interactions:
        posterior["tau_interaction"] = np.abs(rng.normal(0.02, 0.005, (CHAINS, DRAWS, 1)))
        posterior["gamma_within_trial"] = rng.normal(0.05, 0.02, (CHAINS, DRAWS, k, 1))
        dims |= {"tau_interaction": ["interaction"], "gamma_within_trial": ["study", "interaction"]}
    idata = az.from_dict(
        posterior=posterior,
        coords={"study": list(design.studies), "interaction": list(design.interaction_terms)},
        dims=dims,
    )
    return OneStageResult(
        idata=idata,
        built=SimpleNamespace(design=design),
        sampler=SamplerSettings(seed=5),
        diagnostics=None,
    )


PATIENTS = pd.DataFrame({"age": [40.0, 60.0, 75.0], "id": ["a", "b", "c"]})


@pytest.mark.parametrize("family", ["gaussian", "binomial", "survival"])
def test_mean_trial_effect_is_mu_plus_within_interaction(family):
    result = _planted(family)
    design = result.built.design
    zbar = float(np.asarray(design.term_means)[:, 0].mean())  # mean of the trial mean ages
    pred = result.predict_effect(PATIENTS)
    post = result.idata.posterior
    mu = post["mu"].values.reshape(-1)
    gamma = post["gamma_within"].values.reshape(-1)
    expected = mu[:, None] + gamma[:, None] * (PATIENTS["age"].to_numpy() - zbar)[None, :]
    np.testing.assert_allclose(pred.draws["mean trial"], expected, rtol=1e-12)
    table = pred.summary()
    assert len(table) == 2 * len(PATIENTS)
    assert (table["kind"].unique() == ["mean trial", "new trial"]).all()


@pytest.mark.parametrize("family", ["gaussian", "binomial", "survival"])
def test_new_trial_at_the_mean_covariates_equals_predict_new_study(family):
    result = _planted(family)
    zbar = float(np.asarray(result.built.design.term_means)[:, 0].mean())
    pred = result.predict_effect(pd.DataFrame({"age": [zbar]}))
    theta_new = result.predict_new_study().values.reshape(-1)
    np.testing.assert_allclose(pred.draws["new trial"][:, 0], theta_new, rtol=1e-12)
    # the new-trial spread adds tau: its SD exceeds the mean trial's
    assert pred.draws["new trial"].std() > pred.draws["mean trial"].std()


def test_ratio_scales_are_exponentiated():
    result = _planted("binomial")
    table = result.predict_effect(PATIENTS).summary()
    np.testing.assert_allclose(table["exp_median"], np.exp(table["median"]))
    np.testing.assert_allclose(table["exp_q975"], np.exp(table["q975"]))
    assert result.effect_scale == "logOR"
    gaussian = _planted("gaussian").predict_effect(PATIENTS).summary()
    assert "exp_median" not in gaussian.columns


def test_trial_specific_effect_uses_that_trials_centre_and_slopes():
    result = _planted("gaussian", random_interactions=True)
    design = result.built.design
    study = design.studies[1]
    pred = result.predict_effect(PATIENTS, study=study)
    post = result.idata.posterior
    theta = post["theta"].sel(study=study).values.reshape(-1)
    gamma = post["gamma_within_trial"].sel(study=study).values.reshape(-1)
    zbar_k = float(np.asarray(design.term_means)[1, 0])
    expected = theta[:, None] + gamma[:, None] * (PATIENTS["age"].to_numpy() - zbar_k)
    np.testing.assert_allclose(pred.draws[f"trial {study}"], expected, rtol=1e-12)
    # random interactions widen the new-trial effect away from the mean age
    far = result.predict_effect(pd.DataFrame({"age": [95.0]}))
    assert far.draws["new trial"].std() > far.draws["mean trial"].std()


def test_same_seed_same_draws_and_input_untouched():
    result = _planted("survival")
    before = PATIENTS.copy()
    a = result.predict_effect(PATIENTS, seed=3).draws["new trial"]
    b = result.predict_effect(PATIENTS, seed=3).draws["new trial"]
    assert np.array_equal(a, b)
    pd.testing.assert_frame_equal(PATIENTS, before)


def test_bad_patients_are_named():
    result = _planted("gaussian")
    with pytest.raises(IPDDataError, match="'age'"):
        result.predict_effect(pd.DataFrame({"weight": [70.0]}))
    with pytest.raises(IPDDataError, match="row 2"):
        result.predict_effect(pd.DataFrame({"age": ["50", "old"]}))
    with pytest.raises(IPDDataError, match="unknown trial"):
        result.predict_effect(PATIENTS, study="nope")


@pytest.mark.slow
def test_real_gaussian_fit_recovers_the_planted_interaction():
    from bayes_ipd import fit

    frame, truth = simulate_continuous(
        n_studies=6, n_per_study=200, interaction_within=-0.3, seed=4
    )
    ipd = IPD.from_frame(
        frame,
        study="trial",
        treatment="treat",
        outcome="sbp_final",
        covariates=["age"],
        family="gaussian",
    )
    spec = ModelSpec("gaussian", covariates=("age",), interactions=("age",))
    result = fit(ipd, spec, SamplerSettings(draws=300, tune=300, chains=2, seed=1, progress=False))
    table = result.predict_effect(pd.DataFrame({"age": [50.0, 70.0]})).summary()
    mean = table[table["kind"] == "mean trial"]["mean"].to_numpy()
    slope = (mean[1] - mean[0]) / 20.0
    assert math.isfinite(slope) and abs(slope - truth.interaction_within) < 0.2
