"""Marginal leave-one-trial-out terms of negative binomial, ordinal and survival networks.

Each trial's marginal term (``one_stage/network_marginal.py``: adaptive Gauss-Hermite over
the trial's baseline and random effects, the family's nuisance parameter at its draws) is
checked against an independent integral: the participant-level log-likelihood from scipy
(``scipy.stats.nbinom``; the cumulative logit from ``scipy.stats.logistic``; the
piecewise-exponential hazard split at the cuts by hand) integrated on a dense
Gauss-Legendre grid around the integrand's mode (found by ``scipy.optimize``), or, for
survival, as nested one-dimensional integrals (given ``delta``, the baselines of the
intervals are independent). Tolerances are stated beside each check.
"""

from __future__ import annotations

from itertools import product

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import optimize, stats
from scipy.special import logsumexp

from bayes_ipd.data.network import network_from_frame
from bayes_ipd.one_stage.network_loo import loo_terms
from bayes_ipd.one_stage.network_marginal import (
    MARGINAL_FAMILIES,
    marginal_trial_loglik,
    quadrature_nodes,
    supports_marginal,
)
from bayes_ipd.one_stage.network_model import build_network_model
from bayes_ipd.one_stage.network_summaries import multi_arm_cholesky, network_arms

DESIGNS = [("A", "B"), ("A", "C"), ("A", "B", "C"), ("B", "C")]
DRAWS = 2


def _rows(family: str, seed: int) -> pd.DataFrame:
    """A small network (one three-arm trial) of counts with exposure, ordinal codes or
    survival times."""
    rng = np.random.default_rng(seed)
    effect = {"A": 0.0, "B": 0.4, "C": -0.3}
    parts = []
    for k, design in enumerate(DESIGNS):
        base = rng.normal(0.3, 0.3)
        for t in design:
            n = int(rng.integers(25, 40))
            eta = base + effect[t]
            frame = pd.DataFrame({"s": f"S{k}", "t": [t] * n})
            if family == "negative_binomial":
                e = rng.uniform(0.5, 2.0, n)
                mu, a = e * np.exp(eta), 0.5
                frame["y"] = rng.negative_binomial(1 / a, 1 / (1 + a * mu))
                frame["e"] = e
            elif family == "ordinal":
                u = rng.logistic(eta, 1.0, n)
                frame["y"] = np.digitize(u, [0.0, 1.0, 2.0]) + 1
            else:
                frame["time"] = rng.exponential(np.exp(-eta - 1.0), n)
                frame["died"] = (rng.uniform(size=n) < 0.8).astype(int)
            parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def _network(family: str, rows: pd.DataFrame):
    roles = {"negative_binomial": {"outcome": "y", "time": "e"}, "ordinal": {"outcome": "y"},
             "survival": {"time": "time", "event": "died"}}[family]  # fmt: skip
    return network_from_frame(rows, study="s", treatment="t", reference="A", family=family,
                              **roles)  # fmt: skip


def _posterior(arms, rng, nuisance: dict) -> tuple[xr.Dataset, np.ndarray, np.ndarray]:
    """Random draws of the model's variables (delta from its own Cholesky factor)."""
    c = arms.n_contrasts
    d = np.c_[np.zeros(DRAWS), rng.normal(0, 0.5, (DRAWS, len(arms.treatments) - 1))]
    mean = d[:, arms.contrast_treatment] - d[:, arms.contrast_base]
    tau, z = rng.uniform(0.2, 0.6, DRAWS), rng.normal(size=(DRAWS, c))
    spread = np.zeros((DRAWS, c))
    for r, col, v in zip(arms.chol_rows, arms.chol_cols, arms.chol_values, strict=True):
        spread[:, r] += v * z[:, col]
    cd = ("chain", "draw")
    data = {
        "delta": ((*cd, "contrast"), (mean + tau[:, None] * spread)[None]),
        "alpha": ((*cd, "study"), rng.normal(size=(1, DRAWS, arms.k))),
        "delta_z": ((*cd, "contrast"), z[None]),
        "tau": (cd, tau[None]),
        **nuisance,
    }
    return xr.Dataset(data), mean, tau


def _trial(arms, network, k: int):
    """Trial k's contrasts, its rows and each row's position among the trial's arms (the
    reference arm 0, then its contrasts in order)."""
    idx = np.flatnonzero(arms.contrast_study == k)
    order = [network.trial_treatments[k][0], *arms.contrast_treatment[idx]]
    mine = network.study_codes == k
    arm_of_row = np.array([order.index(t) for t in network.treatment_codes[mine]])
    return idx, mine, arm_of_row


def _hessian(f, x, h=1e-4):
    """Central-difference Hessian of a scalar function."""
    n = x.size
    out = np.zeros((n, n))
    for i, j in product(range(n), repeat=2):
        ei, ej = np.eye(n)[i] * h, np.eye(n)[j] * h
        total = f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)
        out[i, j] = total / (4 * h * h)
    return out


def _dense_integral(log_f, start, n: int) -> float:
    """log ∫ exp(log_f) on a Gauss-Legendre tensor grid of ``n`` nodes per dimension over
    the mode +- 9 SD (mode and curvature from scipy; independent of the package)."""
    scalar = lambda x: float(log_f(np.asarray(x)[None])[0])  # noqa: E731
    res = optimize.minimize(lambda x: -scalar(x), start, method="Nelder-Mead",
                            options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20000})  # fmt: skip
    res = optimize.minimize(lambda x: -scalar(x), res.x, method="BFGS")
    sd = np.sqrt(np.diag(np.linalg.inv(-_hessian(scalar, res.x))))
    x, w = np.polynomial.legendre.leggauss(n)
    axes = [c + 9 * s * x for c, s in zip(res.x, sd, strict=True)]
    pts = np.array(list(product(*axes)))
    logw = np.sum(np.log(np.array(list(product(*[w * 9 * s for s in sd])))), axis=1)
    return float(logsumexp(log_f(pts) + logw))


def _row_loglik(family: str, y: np.ndarray, extra: np.ndarray, eta: np.ndarray, nuis) -> np.ndarray:
    """(P,) participant-level log-likelihood summed over the rows (scipy); ``eta`` (P, R)."""
    if family == "negative_binomial":
        r = 1.0 / nuis
        mu = extra * np.exp(eta)
        return stats.nbinom.logpmf(y, r, r / (r + mu)).sum(axis=1)
    cuts = np.r_[-np.inf, nuis, np.inf]  # ordinal: P(Y <= j) = F(c_j - eta)
    codes = y.astype(int)  # 1..J
    upper = stats.logistic.cdf(cuts[codes] - eta)
    lower = stats.logistic.cdf(cuts[codes - 1] - eta)
    return np.log(upper - lower).sum(axis=1)


@pytest.mark.parametrize("family", ["negative_binomial", "ordinal"])
def test_marginal_term_equals_a_dense_integral_over_the_trials_own_parameters(family):
    rows = _rows(family, seed=21)
    network = _network(family, rows)
    arms = network_arms(network)
    a0, s0 = 0.0, 2.0
    built = build_network_model(arms, {"intercept": f"normal({a0}, {s0})"})
    rng = np.random.default_rng(8)
    if family == "negative_binomial":
        disp = rng.uniform(0.3, 0.8, (1, DRAWS, arms.k))
        nuisance = {"dispersion": (("chain", "draw", "study"), disp)}
    else:
        gaps = rng.uniform(0.7, 1.3, (1, DRAWS, arms.k, 2))
        nuisance = {"cutpoint_gap": (("chain", "draw", "study", "gap"), gaps)}
    posterior, mean, tau = _posterior(arms, rng, nuisance)
    got = marginal_trial_loglik(built, posterior).values.reshape(DRAWS, arms.k)
    y = rows["y"].to_numpy(float)
    extra = rows["e"].to_numpy(float) if "e" in rows else None
    for k in (0, 2):  # a two-arm trial and the three-arm trial
        idx, mine, arm_of_row = _trial(arms, network, k)
        m = idx.size
        for s in range(DRAWS):
            if family == "negative_binomial":
                nuis = disp[0, s, k]
            else:
                nuis = np.r_[0.0, np.cumsum(gaps[0, s, k])]
            cov = tau[s] ** 2 * multi_arm_cholesky(m) @ multi_arm_cholesky(m).T
            x_extra = None if extra is None else extra[mine]

            def log_f(pts, nuis=nuis, cov=cov, idx=idx, mine=mine, arm_of_row=arm_of_row,
                      x_extra=x_extra, s=s):  # fmt: skip
                alpha, dl = pts[:, :1], pts[:, 1:]
                eta = alpha + np.c_[np.zeros(len(pts)), dl][:, arm_of_row]
                ll = _row_loglik(family, y[mine], x_extra, eta, nuis)
                prior = stats.norm.logpdf(alpha[:, 0], a0, s0)
                return ll + prior + stats.multivariate_normal(mean[s, idx], cov).logpdf(dl)

            want = _dense_integral(log_f, np.r_[0.3, mean[s, idx]], 48 if m == 1 else 40)
            # 7 Gauss-Hermite nodes per dimension vs the dense grid: measured within 2e-8
            assert got[s, k] == pytest.approx(want, abs=1e-6), (family, k, s)


def _survival_reference(arms, k, a0, s0, mean, tau) -> float:
    """Trial k (two arms) as nested integrals: given delta, each interval's baseline is
    integrated alone (Gauss-Legendre, 200 nodes on [-12, 6]); then delta ~ N(mean, tau^2)
    (Gauss-Legendre, 200 nodes over mean +- 9 tau; 400 nodes change it by < 1e-12).
    Kernel ``sum d eta - E e^eta``."""
    trial_arms = np.flatnonzero(arms.arm_study == k)
    ref = next(a for a in trial_arms if a not in arms.contrast_arm)
    other = next(a for a in trial_arms if a != ref)
    d, e = arms.stats["events"], arms.stats["exposure"]
    xa, wa = np.polynomial.legendre.leggauss(200)
    a, log_wa = -3.0 + 9.0 * xa, np.log(9.0 * wa)
    dl, log_wd = mean + 9 * tau * xa, np.log(9 * tau * wa)
    total = stats.norm.logpdf(dl, mean, tau)
    log_prior = stats.norm.logpdf(a, a0, s0)
    for j in range(d.shape[1]):
        eta_r, eta_t = a[None, :], a[None, :] + dl[:, None]
        kern = (d[ref, j] * eta_r - e[ref, j] * np.exp(eta_r)
                + d[other, j] * eta_t - e[other, j] * np.exp(eta_t))  # fmt: skip
        total = total + logsumexp(kern + log_prior[None] + log_wa, axis=1)
    return float(logsumexp(total + log_wd))


def test_survival_marginal_term_equals_nested_integrals_over_baselines_and_effect():
    rows = _rows("survival", seed=5)
    network = _network("survival", rows)
    arms = network_arms(network)
    a0, s0 = -1.0, 1.5
    built = build_network_model(arms, {"intercept": f"normal({a0}, {s0})"})
    posterior, mean, tau = _posterior(arms, np.random.default_rng(2), {})
    got = marginal_trial_loglik(built, posterior).values.reshape(DRAWS, arms.k)
    # a two-arm trial: 4 baselines + 1 contrast, D = 5, 4 nodes per dimension (1,024)
    assert quadrature_nodes(5) == 4 and quadrature_nodes(6) == 3
    for k in (0, 1, 3):
        c = int(np.flatnonzero(arms.contrast_study == k)[0])
        for s in range(DRAWS):
            want = _survival_reference(arms, k, a0, s0, mean[s, c], tau[s])
            # measured within 9.2e-4 (1 to 13 events per arm and interval: skewed kernels at
            # 4 nodes per dimension; 7 nodes: 5e-5; the Laplace approximation: 0.03)
            assert got[s, k] == pytest.approx(want, abs=2e-3), (k, s)


@pytest.mark.parametrize("family", ["negative_binomial", "ordinal", "survival"])
def test_loo_terms_pick_the_marginal_terms(family):
    assert family in MARGINAL_FAMILIES
    network = _network(family, _rows(family, seed=3))
    arms = network_arms(network)
    built = build_network_model(arms, {"intercept": "normal(0, 3)"})
    assert supports_marginal(built)
    rng = np.random.default_rng(1)
    nuisance = {
        "negative_binomial": {"dispersion": (("chain", "draw", "study"),
                                             rng.uniform(0.3, 0.8, (1, DRAWS, arms.k)))},
        "ordinal": {"cutpoint_gap": (("chain", "draw", "study", "gap"),
                                     rng.uniform(0.7, 1.3, (1, DRAWS, arms.k, 2)))},
        "survival": {},
    }[family]  # fmt: skip
    posterior, _, _ = _posterior(arms, rng, nuisance)
    import arviz as az

    idata = az.InferenceData(posterior=posterior)
    terms, marginal = loo_terms(built, idata)
    assert marginal
    np.testing.assert_allclose(
        terms.log_likelihood["trial"].values, marginal_trial_loglik(built, posterior).values
    )
    # a non-normal intercept prior keeps the conditional terms
    other = build_network_model(arms, {"intercept": "student_t(3, 0, 3)"})
    assert not supports_marginal(other)
