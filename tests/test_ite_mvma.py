"""Multivariate random-effects meta-analysis (bayes_ipd/two_stage/mvma.py) against published
metafor figures and an independent REML written out here and maximised by scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import linalg, optimize

from bayes_ipd.datasets import load_bcg_aggregate
from bayes_ipd.errors import PoolingError
from bayes_ipd.ite import Scenario, fit_ite, ite_data, mvma, simulate_ite

# Berkey et al. (1998), Table I, as printed in metafor's dat.berkey1998 (metafor-project.org,
# analyses:berkey1998): per trial (PD, AL) mean differences and their 2x2 covariance.
BERKEY_Y = np.array([[0.47, -0.32], [0.20, -0.60], [0.40, -0.12], [0.26, -0.31], [0.56, -0.39]])
BERKEY_V = np.array(
    [
        [[0.0075, 0.0030], [0.0030, 0.0077]],
        [[0.0057, 0.0009], [0.0009, 0.0008]],
        [[0.0021, 0.0007], [0.0007, 0.0014]],
        [[0.0029, 0.0009], [0.0009, 0.0015]],
        [[0.0148, 0.0072], [0.0072, 0.0304]],
    ]
)


def test_berkey_ml_matches_metafor_published():
    # metafor tests/testthat/test_analysis_example_berkey1998.r, rma.mv(..., struct="UN",
    # method="ML"): coef (AL, PD) = (-0.3379, 0.3448), se (0.0798, 0.0495),
    # tau2 (0.0261, 0.0070), rho 0.6992 (printed to 4 decimals).
    fit = mvma(BERKEY_Y, BERKEY_V, method="ML", terms=["PD", "AL"])
    np.testing.assert_allclose(fit.estimate, [0.3448, -0.3379], atol=6e-5)
    np.testing.assert_allclose(fit.se, [0.0495, 0.0798], atol=6e-5)
    np.testing.assert_allclose(np.diag(fit.between), [0.0070, 0.0261], atol=6e-5)
    assert fit.between_cor[0, 1] == pytest.approx(0.6992, abs=6e-5)


def test_univariate_case_matches_metafor_reml_on_bcg():
    # metafor 3.8 rma(yi, vi, method="REML") on dat.bcg: -0.7145 (SE 0.1798), tau2 0.3132
    # (shared/data/REFERENCES.md).
    agg = load_bcg_aggregate()
    fit = mvma(agg["yi"].to_numpy(), agg["vi"].to_numpy())
    assert fit.estimate[0] == pytest.approx(-0.7145, abs=6e-5)
    assert fit.se[0] == pytest.approx(0.1798, abs=6e-5)
    assert fit.between[0, 0] == pytest.approx(0.3132, abs=6e-5)


# ------------------------------------------------- independent REML (long form, scipy)


def _psi_from(params: np.ndarray, structure: str, d: int) -> np.ndarray:
    """Between-trial covariance from (log SDs, Fisher-z correlations)."""
    if structure == "treatment":
        psi = np.zeros((d, d))
        psi[0, 0] = np.exp(2 * params[0])
        return psi
    sd = np.exp(params[:d])
    cor = np.eye(d)
    if structure == "unstructured":
        cor[np.triu_indices(d, 1)] = np.tanh(params[d:])
        cor = np.triu(cor) + np.triu(cor, 1).T
    return cor * np.outer(sd, sd)


def _long_form_reml(params, y, v, structure):
    k, d = y.shape
    psi = _psi_from(params, structure, d)
    big_v = linalg.block_diag(*[v[i] + psi for i in range(k)])
    if np.linalg.eigvalsh(big_v).min() <= 0:
        return 1e10
    x = np.tile(np.eye(d), (k, 1))
    vi = np.linalg.inv(big_v)
    xtvix = x.T @ vi @ x
    beta = np.linalg.solve(xtvix, x.T @ vi @ y.ravel())
    r = y.ravel() - x @ beta
    nll = 0.5 * (np.linalg.slogdet(big_v)[1] + np.linalg.slogdet(xtvix)[1] + r @ vi @ r)
    return nll


def _independent_fit(y, v, structure):
    k, d = y.shape
    n_par = {"unstructured": d + d * (d - 1) // 2, "diagonal": d, "treatment": 1}[structure]
    best = None
    for start_sd in (0.1, 0.4):
        start = np.concatenate(
            [np.full(min(n_par, d), np.log(start_sd)), np.zeros(n_par - min(n_par, d))]
        )
        res = optimize.minimize(
            _long_form_reml,
            start,
            args=(y, v, structure),
            method="Powell",
            options={"xtol": 1e-9, "ftol": 1e-13, "maxfev": 50000},
        )
        if best is None or res.fun < best.fun:
            best = res
    psi = _psi_from(best.x, structure, d)
    x = np.tile(np.eye(d), (k, 1))
    vi = np.linalg.inv(linalg.block_diag(*[v[i] + psi for i in range(k)]))
    cov = np.linalg.inv(x.T @ vi @ x)
    beta = cov @ x.T @ vi @ y.ravel()
    return beta, cov, psi


@pytest.fixture(scope="module")
def ols_coefficients():
    """ITE coefficients (treat, treat:x1, treat:x2) of 10 simulated trials with a
    heterogeneous main effect and interactions, and their within-trial covariances."""
    scenario = Scenario(n_trials=10, n_per_trial=300, tau=0.4, tau_interaction=0.25)
    frame, _ = simulate_ite(scenario, seed=11)
    data = ite_data(frame, study="trial", treatment="treat", outcome="y", covariates=["x1", "x2"])
    fits = fit_ite(data, "ols", "weighted").fits
    return np.stack([f.coefficients for f in fits]), np.stack([f.covariance for f in fits])


@pytest.mark.parametrize("structure", ["unstructured", "diagonal", "treatment"])
def test_reml_matches_independent_long_form_maximisation(ols_coefficients, structure):
    y, v = ols_coefficients
    fit = mvma(y, v, structure=structure)
    beta, cov, psi = _independent_fit(y, v, structure)
    se = np.sqrt(np.diag(cov))
    # the tolerances: pooled vector to 1e-4 of its SE, between-trial SDs to 1e-3
    assert np.all(np.abs(fit.estimate - beta) <= 1e-4 * se)
    np.testing.assert_allclose(fit.se, se, rtol=1e-4)
    np.testing.assert_allclose(fit.between_sd, np.sqrt(np.diag(psi)), atol=1e-3)


def test_berkey_reml_matches_independent_fit():
    fit = mvma(BERKEY_Y, BERKEY_V, method="REML")
    beta, cov, psi = _independent_fit(BERKEY_Y, BERKEY_V, "unstructured")
    assert np.all(np.abs(fit.estimate - beta) <= 1e-4 * np.sqrt(np.diag(cov)))
    np.testing.assert_allclose(fit.between_sd, np.sqrt(np.diag(psi)), atol=1e-3)
    assert fit.between_cor[0, 1] == pytest.approx(
        psi[0, 1] / np.sqrt(psi[0, 0] * psi[1, 1]), abs=1e-3
    )


def test_loglik_is_the_maximum_of_the_written_out_likelihood(ols_coefficients):
    y, v = ols_coefficients
    fit = mvma(y, v, structure="diagonal")
    _, _, psi = _independent_fit(y, v, "diagonal")
    params = np.log(np.sqrt(np.diag(psi)))
    assert -_long_form_reml(params, y, v, "diagonal") <= fit.loglik + 1e-6


def test_to_dict_has_the_cli_keys():
    out = mvma(BERKEY_Y, BERKEY_V, terms=["PD", "AL"]).to_dict()
    assert set(out) == {"pooled", "between_trial_sd", "between_trial_cor"}
    assert set(out["pooled"]["PD"]) == {"estimate", "se"}
    assert np.shape(out["between_trial_cor"]) == (2, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"structure": "banded"}, "structure"),
        ({"method": "DL"}, "estimator"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(PoolingError, match=message):
        mvma(BERKEY_Y, BERKEY_V, **kwargs)


def test_too_few_trials_and_bad_covariance_are_refused():
    with pytest.raises(PoolingError, match="at least two trials"):
        mvma(BERKEY_Y[:1], BERKEY_V[:1])
    bad = BERKEY_V.copy()
    bad[2] = [[0.001, 0.01], [0.01, 0.001]]
    with pytest.raises(PoolingError, match="trial 3"):
        mvma(BERKEY_Y, bad)
    with pytest.raises(PoolingError, match="cannot estimate"):
        mvma(BERKEY_Y[:2], BERKEY_V[:2])


def test_input_arrays_are_not_modified():
    y, v = BERKEY_Y.copy(), BERKEY_V.copy()
    mvma(y, v)
    assert np.array_equal(y, BERKEY_Y) and np.array_equal(v, BERKEY_V)
    assert isinstance(pd.DataFrame(y), pd.DataFrame)
