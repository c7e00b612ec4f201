"""Builder and collapsed likelihoods.

The model's per-trial log-likelihood (computed from sufficient statistics) is compared, at
random parameter points, with an independent row-by-row computation in numpy/scipy from the
participant rows: they must agree to 1e-8 relative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from bayes_ipd.families.survival import default_cutpoints
from bayes_ipd.one_stage.aggregate_trials import AggregateTrials
from bayes_ipd.one_stage.builder import (
    aggregate_only_design,
    build_aggregate_model,
    build_model,
    choose_parameterisation,
    effect_form,
    residual_tau2,
)
from bayes_ipd.one_stage.design import design_from_summaries
from bayes_ipd.one_stage.summaries import summarise_trial
from bayes_ipd.spec import ModelSpec

K = 4


def _rows(family: str, seed: int = 11):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(K):
        n = 60 + 10 * k
        treat = rng.integers(0, 2, n).astype(float)
        treat[:2] = [0.0, 1.0]
        age = rng.normal(50 + 3 * k, 9, n)
        smoker = rng.integers(0, 2, n).astype(float)
        cov = pd.DataFrame({"age": age, "smoker": smoker})
        if family == "gaussian":
            y = 100 + 3 * treat + 0.4 * age + rng.normal(0, 5, n)
            out.append((treat, cov, {"outcome": y}))
        elif family == "binomial":
            y = rng.binomial(1, special.expit(-1 + 0.5 * treat + 0.02 * (age - 50))).astype(float)
            out.append((treat, cov, {"outcome": y}))
        else:
            time = rng.weibull(1.5, n) * 5 + 0.01
            event = (rng.random(n) < 0.7).astype(float)
            out.append((treat, cov, {"time": time, "event": event}))
    return out


def _spec(family: str, **kw) -> ModelSpec:
    return ModelSpec(family=family, covariates=("age", "smoker"), interactions=("age",), **kw)


def _summaries(family, rows, spec, cuts=()):
    return [
        summarise_trial(
            f"T{k}", family, t, cov, spec.covariates, spec.interactions, cutpoints=cuts, **y
        )
        for k, (t, cov, y) in enumerate(rows)
    ]


def _random_point(model, rng):
    point = model.initial_point()
    return {name: value + rng.normal(0, 0.3, np.shape(value)) for name, value in point.items()}


def _row_loglik(family, rows, vals, spec, cuts):
    """Independent row-level log-likelihood per trial (numpy / scipy)."""
    out = []
    for k, (t, cov, y) in enumerate(rows):
        x = cov[list(spec.covariates)].to_numpy(float)
        xc = x - x.mean(axis=0)
        beta = vals["beta"][k] if vals["beta"].ndim == 2 else vals["beta"]
        eta = vals["alpha"][k] + vals["theta"][k] * t + xc @ beta
        eta = eta + t * xc[:, 0] * vals["gamma_within"][0]
        if family == "gaussian":
            sigma = vals["sigma"][k] if np.ndim(vals["sigma"]) else vals["sigma"]
            out.append(stats.norm.logpdf(y["outcome"], eta, sigma).sum())
        elif family == "binomial":
            out.append(stats.bernoulli.logpmf(y["outcome"], special.expit(eta)).sum())
        else:
            edges = np.concatenate([[0.0], cuts, [np.inf]])
            log_h = np.concatenate([[0.0], np.cumsum(vals["step"][k])])
            ll = np.zeros(len(t))
            for j in range(len(edges) - 1):
                expo = np.clip(np.minimum(y["time"], edges[j + 1]) - edges[j], 0, None)
                in_j = (y["time"] > edges[j]) & (y["time"] <= edges[j + 1])
                rate = np.exp(log_h[j] + eta)
                ll += y["event"] * in_j * np.log(rate) - expo * rate
            out.append(ll.sum())
    return np.array(out)


@pytest.mark.parametrize(
    ("family", "options"),
    [
        ("gaussian", {}),
        ("gaussian", {"residual_sd": "common", "covariate_effects": "stratified"}),
        ("binomial", {}),
        ("binomial", {"intercepts": "random", "parameterisation": "noncentred"}),
        ("survival", {"intervals": 3}),
    ],
)
def test_collapsed_loglik_equals_row_level(family, options):
    rows = _rows(family)
    spec = _spec(family, **options)
    cuts: tuple[float, ...] = ()
    if family == "survival":
        times = np.concatenate([y["time"][y["event"] > 0] for _, _, y in rows])
        cuts = default_cutpoints(times, 3)
    built = build_model(design_from_summaries(_summaries(family, rows, spec, cuts)), spec)
    model = built.model
    names = ["loglik_trial", "alpha", "theta", "beta", "gamma_within"]
    if family == "gaussian":
        names.append("sigma")
    if family == "survival":
        names.append("smooth_steps")
    outs = [
        model["loglik_trial"],
        model["alpha"],
        model["theta"],
        model["beta"],
        model["gamma_within"],
    ]
    if family == "gaussian":
        outs.append(model["sigma"])
    if family == "survival":
        outs.append(model["hazard_smoothing"] * model["log_hazard_step"])
    outs = model.replace_rvs_by_values(outs)
    fn = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")
    rng = np.random.default_rng(1)
    for _ in range(5):
        values = fn(_random_point(model, rng))
        vals = dict(zip(names, values, strict=True))
        if family == "survival":
            vals["step"] = vals["smooth_steps"]
        expected = _row_loglik(family, rows, vals, spec, np.array(cuts))
        np.testing.assert_allclose(vals["loglik_trial"], expected, rtol=1e-8)


def test_model_is_labelled():
    rows = _rows("gaussian")
    spec = _spec("gaussian")
    built = build_model(design_from_summaries(_summaries("gaussian", rows, spec)), spec)
    coords = built.model.coords
    assert list(coords["study"]) == ["T0", "T1", "T2", "T3"]
    assert list(coords["covariate"]) == ["age", "smoker"]
    assert list(coords["interaction"]) == ["age"]
    assert built.model.named_vars_to_dims["theta"] == ("study",)


@pytest.mark.parametrize(
    ("family", "options", "slots"),
    [
        (
            "gaussian",
            {},
            ("intercept", "effect", "tau", "coefficients", "interactions", "sigma"),
        ),
        ("binomial", {"covariates": (), "interactions": ()}, ("intercept", "effect", "tau")),
        ("binomial", {"interactions": ()}, ("intercept", "effect", "tau", "coefficients")),
    ],
)
def test_prior_slots_are_those_the_model_uses(family, options, slots):
    """A slot is in use when its prior is a term of the model: no coefficient priors
    without covariates, no sigma outside the gaussian family (the printouts list these)."""
    rows = _rows(family)
    spec = ModelSpec(
        family=family,
        covariates=options.get("covariates", ("age", "smoker")),
        interactions=options.get("interactions", ("age",)),
    )
    built = build_model(design_from_summaries(_summaries(family, rows, spec)), spec)
    assert built.prior_slots == slots
    described = built.priors.describe(built.prior_slots).splitlines()
    assert [line.split(" ~ ")[0].split(" (")[0] for line in described] == list(slots)


def test_parameterisation_rule():
    """Precise trials and large heterogeneity -> centred; imprecise ones -> non-centred."""
    rng = np.random.default_rng(2)

    def design(n, tau):
        sums = []
        for k in range(6):
            t = np.repeat([0.0, 1.0], n // 2)
            y = rng.normal(0, 1, n) + t * rng.normal(0, tau)
            sums.append(summarise_trial(f"T{k}", "gaussian", t, pd.DataFrame(), [], [], outcome=y))
        return design_from_summaries(sums)

    spec = ModelSpec(family="gaussian")
    # se ~ 2/sqrt(n): n = 4000 -> se 0.03 << tau = 1 ; n = 20 -> se 0.45 >> tau = 0.01
    assert choose_parameterisation(design(4000, 1.0), spec)["theta"] == "centred"
    assert choose_parameterisation(design(20, 0.01), spec)["theta"] == "noncentred"
    forced = ModelSpec(family="gaussian", parameterisation="noncentred")
    assert choose_parameterisation(design(4000, 1.0), forced)["theta"] == "noncentred"


def test_one_rule_decides_the_aggregate_only_form():
    """An AD-only model applies the IPD rule (:func:`effect_form`) to the published
    estimates: precise, heterogeneous trials -> centred; imprecise, alike ones -> not."""
    spec = ModelSpec(family="binomial")
    studies = tuple(f"T{k}" for k in range(6))
    spread = np.array([-1.0, -0.5, 0.0, 0.3, 0.8, 1.2])
    precise = aggregate_only_design(spec, AggregateTrials(studies, spread, np.full(6, 0.05)))
    vague = aggregate_only_design(spec, AggregateTrials(studies, spread / 50, np.full(6, 1.0)))
    assert effect_form(precise, spec) == "centred"
    assert effect_form(vague, spec) == "noncentred"
    assert choose_parameterisation(precise, spec) == {"theta": "centred"}
    built = build_aggregate_model(precise, spec)
    assert dict(built.parameterisation) == {"theta_ad": "centred"}
    forced = ModelSpec(family="binomial", parameterisation="noncentred")
    assert effect_form(precise, forced) == "noncentred"


def test_residual_tau2_given_moderators():
    """A moderator that explains the spread leaves no residual τ²; a collinear or too
    short one leaves the plain DerSimonian-Laird τ²."""
    se = np.full(6, 0.1)
    w = np.linspace(-1.0, 1.0, 6)
    est = 0.8 * w
    assert residual_tau2(est, se) > 0.2
    assert residual_tau2(est, se, w[:, None]) == pytest.approx(0.0, abs=1e-12)
    assert residual_tau2(est, se, np.c_[w, 2 * w]) == residual_tau2(est, se)
    assert residual_tau2(est[:2], se[:2], w[:2, None]) == residual_tau2(est[:2], se[:2])
