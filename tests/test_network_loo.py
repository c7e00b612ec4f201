"""Leave-one-trial-out LOO of the one-stage network models (consistency, UME, node-split).

The per-trial log-likelihood stored while sampling must be the model's data
log-likelihood split by trial: its sum equals the likelihood term of the model at a point,
and each trial's term equals the participant-level Bernoulli / normal log-likelihood
(scipy) at the same point. LOO runs on a tiny fit; the comparison agrees with
``arviz.compare`` and the table has one row per model.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytensor
import pytest
from scipy import stats
from scipy.special import expit

import bayes_ipd as bi
from bayes_ipd.data.network import network_from_frame
from bayes_ipd.one_stage.network_loo import loo_comparison, loo_table, trial_loo
from bayes_ipd.one_stage.network_model import build_network_model
from bayes_ipd.one_stage.network_summaries import network_arms
from bayes_ipd.one_stage.sampling import sample

BINARY_FE = Path(__file__).parent / "data" / "network_binary_fe.csv"
LOO_KEYS = {"elpd", "se", "p_loo", "pareto_k_max", "pareto_k_high", "pareto_k"}


def _rows(family: str, seed: int = 5) -> pd.DataFrame:
    """A small network (one three-arm trial), 0/1 or normal outcome."""
    rng = np.random.default_rng(seed)
    designs = [("A", "B"), ("A", "C"), ("B", "C"), ("A", "B", "C"), ("A", "B"), ("A", "C")]
    parts = []
    for k, design in enumerate(designs):
        for t in design:
            n = int(rng.integers(20, 40))
            y = rng.integers(0, 2, n) if family == "binomial" else rng.normal(5.0, 2.0, n)
            parts.append(pd.DataFrame({"s": f"S{k}", "t": t, "y": y}))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("family", ["binomial", "gaussian"])
def test_per_trial_loglik_sums_to_the_model_likelihood(family):
    rows = _rows(family)
    network = network_from_frame(rows, study="s", treatment="t", reference="A",
                                 family=family, outcome="y")  # fmt: skip
    arms = network_arms(network)
    model = build_network_model(arms).model
    potential = next(p for p in model.potentials if p.name == "likelihood")
    outs = [model["loglik_trial"], potential, model["alpha"], model["delta"]]
    if family == "gaussian":
        outs.append(model["sigma"])
    outs = model.replace_rvs_by_values(outs)
    f = pytensor.function(model.value_vars, outs, on_unused_input="ignore")
    rng = np.random.default_rng(3)
    start = model.initial_point(random_seed=3)
    point = {k: v + rng.normal(0, 0.4, np.shape(v)) for k, v in start.items()}
    per_trial, total, alpha, delta, *sigma = f(*[point[v.name] for v in model.value_vars])
    assert per_trial.shape == (arms.k,)
    assert float(per_trial.sum()) == pytest.approx(float(total), rel=1e-12)
    # each trial's term from the participant rows (scipy), at the same alpha, delta, sigma
    eta = alpha[arms.arm_study]
    eta[arms.contrast_arm] += delta
    lookup = np.full((arms.k, len(arms.treatments)), -1)
    lookup[arms.arm_study, arms.arm_treatment] = np.arange(arms.n_arms)
    row_eta = eta[lookup[network.study_codes, network.treatment_codes]]
    y = rows["y"].to_numpy(float)
    if family == "binomial":
        row_ll = stats.bernoulli.logpmf(y, expit(row_eta))
    else:
        row_ll = stats.norm.logpdf(y, row_eta, sigma[0][network.study_codes])
    want = np.bincount(network.study_codes, weights=row_ll, minlength=arms.k)
    np.testing.assert_allclose(per_trial, want, rtol=1e-10)


@pytest.fixture(scope="module")
def tiny_fits():
    rows = pd.read_csv(BINARY_FE)
    parts = [
        pd.DataFrame({"study": r.study, "treatment": r.treatment,
                      "y": np.r_[np.ones(r.events), np.zeros(r.n - r.events)].astype(int)})
        for r in rows.itertuples()
    ]  # fmt: skip
    frame = pd.concat(parts, ignore_index=True)
    sampler = bi.SamplerSettings(draws=300, tune=300, chains=2, seed=11, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bi.fit_network_bayes(frame, study="study", treatment="treatment",
                                   reference="A", outcome="y", sampler=sampler,
                                   inconsistency=True)  # fmt: skip
        arms = res.built.arms
        ume = build_network_model(arms, res.built.priors, consistency=False)
        ume_idata, _ = sample(ume.as_built(), sampler)
    return res, ume_idata


def test_loo_of_a_fit_is_arviz_loo_of_its_trial_terms(tiny_fits):
    res, _ = tiny_fits
    out = res.loo(marginal=False)
    assert set(out) == LOO_KEYS | {"terms"} and out["terms"] == "conditional"
    assert res.loo()["terms"] == "marginal"
    assert list(out["pareto_k"]) == list(res.built.arms.studies)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = az.loo(res.idata, var_name="trial")
    assert out["elpd"] == pytest.approx(float(want["elpd_loo"]), rel=1e-12)
    assert out["p_loo"] == pytest.approx(float(want["p_loo"]), rel=1e-12)
    assert out["pareto_k_high"] == [s for s, k in out["pareto_k"].items() if k > 0.7]


def test_consistency_vs_ume_difference_is_arviz_compare(tiny_fits):
    res, ume_idata = tiny_fits
    block = loo_comparison(res.idata, ume_idata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.compare({"consistency": res.idata, "ume": ume_idata}, var_name="trial")
    assert block["elpd_diff"] == pytest.approx(
        table.loc["ume", "elpd_loo"] - table.loc["consistency", "elpd_loo"], rel=1e-10
    )
    assert block["se_diff"] == pytest.approx(float(table["dse"].max()), rel=1e-10)
    assert "leave-one-trial-out" in block["method"]


def test_inconsistency_block_holds_the_loo_comparison(tiny_fits):
    res, _ = tiny_fits
    out = res.to_dict()
    block = out["inconsistency"]
    # the DIC keys stay as they were; LOO is one more member
    assert {"model", "deviance", "n_data", "consistency", "ume", "ume_effects"} <= set(block)
    loo = block["loo"]
    assert loo["terms"] == "marginal" and "integrated out" in loo["method"]
    assert set(loo["consistency"]) == LOO_KEYS
    assert set(loo["ume"]) == LOO_KEYS | {"elpd_diff", "se_diff"}
    assert loo["elpd_diff"] == loo["ume"]["elpd_diff"]
    splits = [s["comparison"] for s in out["node_split"]]
    assert list(loo["node_split"]) == splits and splits
    table = res.network()["loo"]
    assert list(table.index) == ["consistency", "ume", *(f"node split {s}" for s in splits)]
    assert table.loc["consistency", "elpd_diff"] == 0.0
    assert table.loc["ume", "elpd"] == pytest.approx(loo["ume"]["elpd"])
    assert list(table.columns) == ["elpd", "se", "p_loo", "elpd_diff", "se_diff",
                                   "pareto_k_max", "n_pareto_k_high"]  # fmt: skip
    assert "leave-one-trial-out LOO (marginal terms)" in res.summary()
    assert loo_table(loo).equals(table)


def _posterior(arms, rng, draws, random=True, sigma=None):
    """Random draws of the model's variables (delta built from its own Cholesky factor)."""
    import xarray as xr

    c = arms.n_contrasts
    d = np.c_[np.zeros(draws), rng.normal(0, 0.5, (draws, len(arms.treatments) - 1))]
    mean = d[:, arms.contrast_treatment] - d[:, arms.contrast_base]
    tau, z = rng.uniform(0.2, 0.8, draws), rng.normal(size=(draws, c))
    spread = np.zeros((draws, c))
    for r, col, v in zip(arms.chol_rows, arms.chol_cols, arms.chol_values, strict=True):
        spread[:, r] += v * z[:, col]
    delta = mean + (tau[:, None] * spread if random else 0.0)
    cd = ("chain", "draw")
    data = {"delta": ((*cd, "contrast"), delta[None]),
            "alpha": ((*cd, "study"), rng.normal(size=(1, draws, arms.k)))}  # fmt: skip
    if random:
        data |= {"delta_z": ((*cd, "contrast"), z[None]), "tau": (cd, tau[None])}
    if sigma is not None:
        data["sigma"] = ((*cd, "study"), np.full((1, draws, arms.k), sigma))
    return xr.Dataset(data), mean, tau


def _grid_integral(log_f, centres, widths, n=64):
    """log of a d-dimensional integral on a Gauss-Legendre tensor grid."""
    from itertools import product

    x, w = np.polynomial.legendre.leggauss(n)
    axes = [c + h * x for c, h in zip(centres, widths, strict=True)]
    pts = np.array(list(product(*axes)))
    logw = np.sum(np.log(np.array(list(product(*[w * h for h in widths])))), axis=1)
    from scipy.special import logsumexp

    return float(logsumexp(log_f(pts) + logw))


@pytest.mark.parametrize("family", ["binomial", "gaussian"])
def test_marginal_terms_equal_the_integral_over_baseline_and_random_effects(family):
    from bayes_ipd.one_stage.network_marginal import marginal_trial_loglik
    from bayes_ipd.one_stage.network_summaries import multi_arm_cholesky

    rows = _rows(family, seed=9)
    network = network_from_frame(rows, study="s", treatment="t", reference="A",
                                 family=family, outcome="y")  # fmt: skip
    arms = network_arms(network)
    a0, s0 = (0.0, 2.0) if family == "binomial" else (5.0, 3.0)
    built = build_network_model(arms, {"intercept": f"normal({a0}, {s0})",
                                       **({"sigma": "half_normal(5)"} if family == "gaussian"
                                          else {})})  # fmt: skip
    rng = np.random.default_rng(4)
    sigma = 2.0 if family == "gaussian" else None
    posterior, mean, tau = _posterior(arms, rng, 2, sigma=sigma)
    got = marginal_trial_loglik(built, posterior).values.reshape(2, arms.k)
    y = rows["y"].to_numpy(float)
    for k in (0, 3):  # a two-arm and the three-arm trial
        idx = np.flatnonzero(arms.contrast_study == k)
        m = idx.size
        treat = np.r_[network.trial_treatments[k][0], arms.contrast_treatment[idx]]
        mine = network.study_codes == k
        arm_of_row = np.searchsorted(treat, network.treatment_codes[mine])
        for s in range(2):
            cov = tau[s] ** 2 * multi_arm_cholesky(m) @ multi_arm_cholesky(m).T

            def log_f(pts, s=s, cov=cov, idx=idx, mine=mine, arm_of_row=arm_of_row):
                alpha, dl = pts[:, :1], pts[:, 1:]
                eta = alpha + np.c_[np.zeros(len(pts)), dl][:, arm_of_row]
                if family == "binomial":
                    ll = stats.bernoulli.logpmf(y[mine], expit(eta)).sum(axis=1)
                else:
                    ll = stats.norm.logpdf(y[mine], eta, sigma).sum(axis=1)
                prior = stats.norm.logpdf(alpha[:, 0], a0, s0)
                return ll + prior + stats.multivariate_normal(mean[s, idx], cov).logpdf(dl)

            # a grid over the region where the integrand lives (the trial's own fit)
            base = y[mine][arm_of_row == 0].mean()
            centre = [np.log(base / (1 - base)) if family == "binomial" else base,
                      *mean[s, idx]]  # fmt: skip
            widths = [3.0 if family == "binomial" else 2.0, *([6 * tau[s]] * m)]
            n = 64 if m == 1 else 32
            want = _grid_integral(log_f, centre, widths, n)
            assert got[s, k] == pytest.approx(want, abs=2e-4), (k, s)


def test_ppc_plot_per_trial_and_arm(tiny_fits):
    import matplotlib

    matplotlib.use("Agg")
    res, _ = tiny_fits
    fig = res.ppc_plot()
    assert fig.axes and len(res.ppc()) == res.built.arms.n_arms


def test_trial_loo_of_a_point_posterior_has_no_spread():
    # every draw equal: the LOO terms are the log-likelihood itself, p_loo = 0
    import xarray as xr

    ll = np.tile(np.array([-3.0, -5.0, -2.5]), (2, 50, 1))
    idata = az.InferenceData(
        posterior=xr.Dataset({"mu": (("chain", "draw"), np.zeros((2, 50)))}),
        log_likelihood=xr.Dataset({"trial": (("chain", "draw", "study"), ll)},
                                  coords={"study": ["a", "b", "c"]}),
    )  # fmt: skip
    out = trial_loo(idata)
    assert out["elpd"] == pytest.approx(-10.5)
    assert out["p_loo"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.slow
def test_hasselblad_loo_favours_consistency_with_reliable_pareto_k():
    # docs/network.md: 2 x 2000 draws, seed 1, marginal terms: consistency elpd -5920.9,
    # p_loo 3.6, every Pareto k < 0.7; UME - consistency -5.3 (SE 2.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bi.fit_network_bayes(
            bi.datasets.load_hasselblad1998_rows(), study="study", treatment="treatment",
            reference="no_contact", outcome="quit", inconsistency=True,
            priors={"effect": "normal(0, 100)", "intercept": "normal(0, 100)",
                    "tau": "uniform(0, 5)"},
            sampler=bi.SamplerSettings(draws=1000, tune=1000, chains=2, seed=4, progress=False),
        )  # fmt: skip
    loo = res.to_dict()["inconsistency"]["loo"]
    assert loo["terms"] == "marginal" and loo["elpd_diff"] < 2 * loo["se_diff"]
    assert len(loo["consistency"]["pareto_k"]) == 24 and len(loo["node_split"]) == 6
    assert len(loo["consistency"]["pareto_k_high"]) <= 2
    assert 2.0 < loo["consistency"]["p_loo"] < 6.0  # about the 4 shared parameters


def test_marginal_term_of_a_large_trial_far_from_its_population_mean():
    # Jamrozik et al. 1984 (Hasselblad): 58/549 vs 237/1561; a draw whose population mean
    # sits far from the trial's own contrast made plain Newton steps diverge (-5.8e9)
    import xarray as xr

    from bayes_ipd.one_stage.network_marginal import marginal_trial_loglik

    counts = [("J", "A", 58, 549), ("J", "B", 237, 1561), ("K", "A", 10, 50), ("K", "B", 12, 50)]
    frame = pd.concat(
        [pd.DataFrame({"s": s, "t": t, "y": np.r_[np.ones(r), np.zeros(n - r)].astype(int)})
         for s, t, r, n in counts], ignore_index=True,
    )  # fmt: skip
    arms = network_arms(network_from_frame(frame, study="s", treatment="t", reference="A",
                                           outcome="y"))  # fmt: skip
    built = build_network_model(arms, {"intercept": "normal(0, 100)"})
    mean, tau, z = -2.5, 1.2, 1.5  # delta = mean + tau z
    cd = ("chain", "draw")
    posterior = xr.Dataset({
        "alpha": ((*cd, "study"), np.zeros((1, 1, 2))),
        "delta": ((*cd, "contrast"), np.full((1, 1, 2), mean + tau * z)),
        "delta_z": ((*cd, "contrast"), np.full((1, 1, 2), z)),
        "tau": (cd, np.full((1, 1), tau)),
    })  # fmt: skip
    got = float(marginal_trial_loglik(built, posterior).values[0, 0, 0])

    def log_f(pts):
        a, dl = pts[:, 0], pts[:, 1]
        ll = 58 * a - 549 * np.logaddexp(0, a) + 237 * (a + dl) - 1561 * np.logaddexp(0, a + dl)
        return ll + stats.norm.logpdf(a, 0, 100) + stats.norm.logpdf(dl, mean, tau)

    want = _grid_integral(log_f, [np.log(58 / 491), 0.4], [0.8, 0.8], 96)
    assert np.isfinite(got) and got == pytest.approx(want, abs=1e-4)
