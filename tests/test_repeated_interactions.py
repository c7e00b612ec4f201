"""Baseline covariates and their within / across-trial interactions with treatment at the
primary visit in the one-stage MMRM: exact likelihood from pattern statistics, the checks,
the JSON face, recovery of a planted within-trial interaction."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytensor.tensor as pt
import pytest
from scipy import stats

import bayes_ipd as bi
from bayes_ipd.data.visits import repeated_from_frame
from bayes_ipd.families.gaussian import GAUSSIAN, gaussian_loglik
from bayes_ipd.one_stage.fitting import design_for
from bayes_ipd.one_stage.repeated_model import (
    RepeatedOptions,
    build_repeated_model,
    corr_cholesky,
)
from bayes_ipd.one_stage.repeated_summaries import (
    RepeatedSummaries,
    constant_within_trials,
    pattern_loglik_numpy,
    summarise_repeated,
    wide_outcomes,
)
from bayes_ipd.simulate.repeated import simulate_repeated

COLUMNS = {"study": "study", "treatment": "treat", "outcome": "y", "participant": "id"}
COVARIATES = ("baseline", "b2")


def _data(seed: int = 3):
    rows, _ = simulate_repeated(
        4, 30, dropout=0.2, intermittent=0.2, covariate_shift=1.0, interaction=0.8, seed=seed
    )
    rows = rows.assign(b2=rows["baseline"] ** 2 + 100.0)  # an off-centre covariate
    return repeated_from_frame(rows, **COLUMNS, visit="visit", covariates=list(COVARIATES))


def _row_level_loglik(data, mean, beta, cov, treated_beta) -> float:
    """Every participant's MVN log density over its observed visits (scipy), its mean
    ``mean[k, arm] + (beta + arm * treated_beta) (x - xbar_k)``."""
    y, x, trial, arm = wide_outcomes(data)
    xbar = np.stack([x[trial == k].mean(axis=0) for k in range(data.ipd.k)])
    total = 0.0
    for i in range(y.shape[0]):
        o, k = np.isfinite(y[i]), trial[i]
        g = beta + arm[i] * treated_beta
        m = mean[k, arm[i]][o] + g[o] @ (x[i] - xbar[k])
        total += stats.multivariate_normal(m, cov[k][np.ix_(o, o)]).logpdf(y[i][o])
    return float(total)


def test_numpy_statistics_with_an_arm_specific_slope_equal_row_level_mvn():
    data = _data()
    s = summarise_repeated(data)
    assert s.n.size > 2 * s.k  # several missing-visit patterns per trial and arm
    rng = np.random.default_rng(4)
    k, v, p = s.k, len(s.visits), len(COVARIATES)
    for _ in range(3):
        mean = rng.normal(10.0, 2.0, (k, 2, v))
        beta = rng.normal(size=(v, p))
        treated = rng.normal(size=(v, p))
        a = rng.normal(size=(k, v, v))
        cov = a @ a.transpose(0, 2, 1) + np.eye(v)
        reference = _row_level_loglik(data, mean, beta, cov, treated)
        got = pattern_loglik_numpy(s, mean, beta, cov, treated).sum()
        assert got == pytest.approx(reference, abs=1e-8)


def _model_values(model, names, seed):
    """Model quantities at a random point of the unconstrained space (not a prior draw)."""
    point = model.initial_point()
    rng = np.random.default_rng(seed)
    point = {key: val + rng.normal(0, 0.5, np.shape(val)) for key, val in point.items()}
    outs = model.replace_rvs_by_values([model[n] for n in names])
    fn = model.compile_fn(
        outs, inputs=model.value_vars, on_unused_input="ignore", point_fn=True, mode="FAST_COMPILE"
    )
    return dict(zip(names, fn(point), strict=True))


@pytest.mark.parametrize(
    ("residual", "primary", "interactions", "effect_time"),
    [
        ("trial", "8", COVARIATES, "visit"),
        ("common", None, ("b2",), "visit"),
        ("trial", "4", ("baseline",), "slope"),
    ],
)
def test_model_loglik_equals_row_level_mvn(residual, primary, interactions, effect_time):
    data = _data()
    s = summarise_repeated(data)
    options = RepeatedOptions(
        residual=residual,
        primary_visit=primary,
        interactions=interactions,
        effect_time=effect_time,
    )
    built = build_repeated_model(s, options)
    names = ["loglik", "mu", "theta", "beta", "gamma_within", "gamma_across", "sigma"]
    names.append("resid_corr_raw")
    v, p = len(s.visits), len(COVARIATES)
    for seed in (1, 2):
        val = _model_values(built.model, names, seed)
        low = corr_cholesky(pt.as_tensor(2.0 * val["resid_corr_raw"] - 1.0), v).eval()
        sigma = np.broadcast_to(val["sigma"], (s.k, v))
        low = sigma[:, :, None] * np.broadcast_to(low, (s.k, v, v))
        cov = low @ low.transpose(0, 2, 1)
        mean = np.stack([val["mu"], val["mu"] + val["theta"]], axis=1)
        treated = np.zeros((v, p))
        idx = [COVARIATES.index(n) for n in interactions]
        treated[built.primary, idx] = val["gamma_within"]
        # the across-trial part: theta at the primary visit carries gamma_across'(zbar_k - zbar)
        _, x, trial, _ = wide_outcomes(data)
        zbar = np.stack([x[trial == k].mean(axis=0) for k in range(s.k)])[:, idx]
        shift = (zbar - zbar.mean(axis=0)) @ val["gamma_across"]
        assert np.all(val["gamma_across"] != 0) and np.all(np.abs(shift) > 1e-6)
        reference = _row_level_loglik(data, mean, val["beta"], cov, treated)
        assert float(val["loglik"]) == pytest.approx(reference, abs=1e-8)
        if effect_time == "slope":
            continue
        # theta minus the across-trial shift (primary visit only) is the random effect
        z = _model_values(built.model, ["theta_z", "tau_corr_raw", "tau", "effect"], seed)
        u = val["theta"] - z["effect"]
        u[:, built.primary] -= shift
        low_tau = corr_cholesky(pt.as_tensor(2.0 * z["tau_corr_raw"] - 1.0), v).eval()
        np.testing.assert_allclose(u, z["theta_z"] @ (z["tau"][:, None] * low_tau).T, atol=1e-10)


def test_one_visit_with_an_interaction_equals_the_gaussian_one_stage_likelihood():
    # at one visit the within-trial interaction is the ordinary one-stage model's
    # gamma_within on its design column t (z - zbar_k) (one_stage/summaries.design_rows)
    rows, _ = simulate_repeated(
        5,
        40,
        visits=(12,),
        effects=-2.0,
        tau=0.5,
        visit_means=10.0,
        covariate_effects=0.5,
        sd=2.0,
        interaction=0.7,
        covariate_shift=1.0,
        seed=7,
    )
    rows = rows.assign(b2=rows["baseline"] ** 2)
    repeated = repeated_from_frame(rows, **COLUMNS, visit="visit", covariates=list(COVARIATES))
    s = summarise_repeated(repeated)
    ipd = bi.IPD.from_frame(
        rows, study="study", treatment="treat", outcome="y", covariates=list(COVARIATES)
    )
    spec = bi.ModelSpec(family="gaussian", covariates=COVARIATES, interactions=("b2",))
    design = design_for(ipd, spec)
    arrays = GAUSSIAN.data_arrays(design)
    rng = np.random.default_rng(5)
    alpha, theta = rng.normal(10, 1, s.k), rng.normal(-2, 0.5, s.k)
    beta, gamma, sigma = rng.normal(size=2), rng.normal(), rng.uniform(1.0, 3.0, s.k)
    coef = np.column_stack(
        [alpha - arrays["y_centre"], theta, np.tile(beta, (s.k, 1)), np.full(s.k, gamma)]
    )
    gaussian = gaussian_loglik(
        coef, pt.as_tensor(sigma), arrays["n"], arrays["ztz"], arrays["zty"], arrays["yty"]
    ).eval()
    mean = np.stack([alpha, alpha + theta], axis=1)[:, :, None]
    treated = np.array([[0.0, gamma]])
    mmrm = pattern_loglik_numpy(s, mean, beta[None, :], (sigma**2)[:, None, None], treated)
    assert mmrm.sum() == pytest.approx(float(np.sum(gaussian)), abs=1e-8)
    # and the across-trial covariate: the same centred trial means as the ordinary design
    zbar = s.covariate_means[:, 1]
    np.testing.assert_allclose(design.across[:, 0], zbar - zbar.mean(), atol=1e-12)


def test_simulator_defaults_draw_what_they_always_drew():
    # tests/data/repeated_visits.csv (R's reference data) was made before the interaction
    # options existed, with T10's visit-8 rows removed
    rows, _ = simulate_repeated(
        10,
        50,
        tau=(0.8, 1.0, 1.2),
        tau_correlation=0.5,
        dropout=0.15,
        intermittent=0.1,
        dropout_slope=0.5,
        seed=4,
    )
    rows = rows[~((rows["study"] == "T10") & (rows["visit"] == 8))].reset_index(drop=True)
    shipped = pd.read_csv(Path(__file__).parent / "data" / "repeated_visits.csv")
    np.testing.assert_array_equal(rows["id"].to_numpy(), shipped["id"].to_numpy())
    np.testing.assert_array_equal(rows["y"].to_numpy(), shipped["y"].to_numpy())


def test_simulator_plants_the_interaction():
    # 2 trials x 40,000: least squares on the rows at the last visit recovers the planted
    # within-trial interaction (SE ~ 2.5 * 2 / sqrt(80,000) ~ 0.02; tolerance 0.1)
    rows, truth = simulate_repeated(
        2,
        40_000,
        visits=(4, 12),
        dropout=0.0,
        interaction=1.2,
        covariate_shift=1.0,
        effects=(-1.0, -3.0),
        tau=0.3,
        visit_means=(10, 8),
        covariate_effects=(0.5, 0.7),
        sd=(2.0, 2.5),
        seed=3,
    )
    assert truth.interaction == 1.2 and truth.across_interaction == 1.2
    last = rows[rows["visit"] == 12]
    for study, frame in last.groupby("study"):
        x = frame["baseline"] - frame["baseline"].mean()
        t = frame["treat"].to_numpy()
        design = np.column_stack([np.ones(len(frame)), t, x, t * x])
        coef = np.linalg.lstsq(design, frame["y"].to_numpy(), rcond=None)[0]
        assert coef[3] == pytest.approx(1.2, abs=0.1), study


def test_statistics_carry_the_trial_covariate_means_through_json():
    data = _data()
    s = summarise_repeated(data)
    _, x, trial, _ = wide_outcomes(data)
    means = np.stack([x[trial == k].mean(axis=0) for k in range(s.k)])
    np.testing.assert_allclose(s.covariate_means, means, rtol=1e-12)
    again = RepeatedSummaries.from_dict(json.loads(json.dumps(s.to_dict())))
    np.testing.assert_allclose(again.covariate_means, means, rtol=1e-12)
    old = {key: val for key, val in s.to_dict().items() if key != "covariate_means"}
    shared = RepeatedSummaries.from_dict(old)  # summaries shared before the field existed
    assert shared.covariate_means is None
    build_repeated_model(shared)  # fine without interactions
    with pytest.raises(bi.errors.IPDDataError, match="covariate_means"):
        build_repeated_model(shared, RepeatedOptions(interactions=("baseline",)))


def test_interactions_are_checked():
    data = _data()
    s = summarise_repeated(data)
    with pytest.raises(bi.errors.SpecError, match="'age' is not among the covariates"):
        build_repeated_model(s, RepeatedOptions(interactions=("age",)))
    with pytest.raises(bi.errors.SpecError, match="given twice"):
        RepeatedOptions(interactions=("baseline", "baseline"))
    assert RepeatedOptions(interactions="baseline").interactions == ("baseline",)
    # without interactions the options and priors read as they always did
    plain = build_repeated_model(s)
    assert "interactions" not in plain.priors and "interactions" not in RepeatedOptions().to_dict()
    assert not {"gamma_within", "gamma_across"} & set(plain.model.named_vars)


def test_primary_visit_and_data_are_containers_of_one_compiled_program():
    from bayes_ipd.one_stage.fingerprint import model_fingerprint

    s = summarise_repeated(_data())
    other = summarise_repeated(_data(seed=8))  # same trials and visits, other rows
    both = RepeatedOptions(interactions=COVARIATES)

    def key(summaries, **kw):
        return model_fingerprint(build_repeated_model(summaries, replace(both, **kw)).model)

    assert key(s) == key(s, primary_visit="4") == key(other, primary_visit="8")
    assert key(s, interactions=("b2",)) == key(s, interactions=("baseline",))
    assert key(s) != key(s, interactions=("b2",))  # one interaction or two: other layout


def test_covariate_constant_within_a_trial_is_reported_or_refused():
    rows, _ = simulate_repeated(4, 30, seed=2)
    site = rows["study"].map({"T1": 1.0, "T2": 1.0, "T3": 0.0, "T4": 0.0})
    rows = rows.assign(site=site, mixed=np.where(rows["study"] == "T3", 2.0, rows["baseline"]))
    data = repeated_from_frame(
        rows, **COLUMNS, visit="visit", covariates=["baseline", "site", "mixed"]
    )
    s = summarise_repeated(data)
    assert constant_within_trials(s, ("baseline", "site", "mixed")) == {
        "site": ["T1", "T2", "T3", "T4"],
        "mixed": ["T3"],
    }
    with pytest.warns(UserWarning, match=r"'mixed' is constant within trial\(s\) 'T3'"):
        build_repeated_model(s, RepeatedOptions(interactions=("mixed",)))
    with pytest.raises(bi.errors.IPDDataError, match="'site' is constant within every trial"):
        build_repeated_model(s, RepeatedOptions(interactions=("site",)))


# ------------------------------------------------------------------ recovery (small)

TINY = {"draws": 300, "tune": 300, "chains": 2, "progress": False, "seed": 5}
PLANTED = {"interaction": 1.5, "across_interaction": 0.0, "covariate_shift": 0.5}


@pytest.fixture(scope="module")
def fitted():
    rows, truth = simulate_repeated(
        6,
        80,
        visits=(4, 12),
        effects=(-1.0, -3.0),
        tau=(0.3, 0.5),
        visit_means=(10.0, 8.0),
        covariate_effects=(0.5, 0.7),
        sd=(2.0, 2.5),
        dropout=0.15,
        seed=21,
        **PLANTED,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = bi.fit_repeated(
            rows,
            **COLUMNS,
            visit="visit",
            covariates=["baseline"],
            interactions=["baseline"],
            sampler=bi.SamplerSettings(**TINY),
        )
    return res, truth


def test_fit_recovers_the_planted_within_trial_interaction(fitted):
    res, truth = fitted
    post = res.to_json()["posterior"]
    within = post["interactions_within"]["baseline"]
    # planted 1.5 at week 12; within 3 posterior SD + 4 MCSE (MCSE = sd / sqrt(ESS))
    assert within["ess_bulk"] > 100
    tol = 3 * within["sd"] + 4 * within["sd"] / np.sqrt(within["ess_bulk"])
    assert abs(within["mean"] - truth.interaction) < tol
    assert within["q025"] > 0.5  # clearly away from zero: the data inform it
    across = post["interactions_across"]["baseline"]
    assert abs(across["mean"] - truth.across_interaction) < 3 * across["sd"] + 0.1 * across["sd"]
    assert across["sd"] > 2 * within["sd"]  # 6 trial means carry far less than 480 rows


def test_json_names_the_interactions_as_the_one_stage_result(fitted):
    res, _ = fitted
    out = json.loads(json.dumps(res.to_json()))
    post = out["posterior"]
    node_keys = set(bi.conventions.NODE_KEYS)
    assert set(post["interactions_within"]) == {"baseline"}
    assert set(post["interactions_within"]["baseline"]) == node_keys
    assert set(post["interactions_across"]["baseline"]) == node_keys
    assert out["interactions"] == ["baseline"] and out["interaction_visit"] == "12"
    assert out["interaction_constant_within"] == {}
    assert out["options"]["interactions"] == ["baseline"]
    assert len(out["priors"]["interactions"]) == 1
    rows = res.summary().index.get_level_values("parameter")
    assert "interaction within: baseline" in set(rows)
    # the visit-means PPC reads gamma_within for the treated arm at the primary visit
    within = res.ppc_parameters()["within"]
    np.testing.assert_array_equal(within[:, 1, 0], res.draws("gamma_within").reshape(-1))
    assert np.all(within[:, 0, :] == 0)
    ppc = res.ppc_visit_means()
    assert len(ppc) == 6 * 2 * 2 and ppc["p_value"].between(0, 1).all()


@pytest.mark.slow
def test_coverage_of_the_interaction_over_replicates():
    """>= 100 replicates of ``benchmarks/repeated_interaction_coverage.py`` (8 trials of 80,
    planted within-trial interaction 1.0, across-trial 0.0): coverage of the 95% intervals
    of ``gamma_within``, ``gamma_across`` and the mean effect per visit, accepted above
    0.95 - 3 binomial MC errors (sqrt(.95 * .05 / 100) = 0.022; 0.885)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.repeated_interaction_coverage import coverage

    out = coverage(100)
    assert min(out["coverage"].values()) > 0.95 - 3 * out["mc_error"]
    assert abs(out["bias"]["gamma_within"]) < 0.1
