"""One-stage Bayesian network meta-analysis (one_stage/network_*.py, cli/network.py).

References: the row-level log-likelihood (scipy, per participant) for the exact arm-level
sums; R ``glm`` (maximum likelihood of the same fixed-effect model) and the two-stage
fixed-effect network estimate (equal to metafor, tests/test_network_two_stage.py) for the
fixed-effect posterior; NICE DSU TSD2 (Dias et al. 2011, updated 2016), Example 4, for the
random-effects model of Hasselblad (1998) (slow).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats
from scipy.special import expit

import bayes_ipd as bi
from bayes_ipd import families
from bayes_ipd.cli import main
from bayes_ipd.data.network import network_from_frame
from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.one_stage.network_model import build_network_model
from bayes_ipd.one_stage.network_posterior import rank_probabilities, sucra
from bayes_ipd.one_stage.network_summaries import multi_arm_cholesky, network_arms

BINARY_FE = Path(__file__).parent / "data" / "network_binary_fe.csv"
KEYS = {"mean", "sd", "median", "q025", "q975", "ess_bulk", "r_hat"}

# R 4.x, the same model by maximum likelihood (tests/data/network_binary_fe.csv):
#   dat$treatment <- relevel(factor(dat$treatment), ref = "A")
#   glm(cbind(events, n - events) ~ factor(study) + treatment, family = binomial, data = dat)
GLM_FE = {"B": (0.4915800096, 0.0828920745), "C": (0.9096114206, 0.0888187212),
          "D": (-0.0793087014, 0.1534660341)}  # fmt: skip


def _expand(arms: pd.DataFrame) -> pd.DataFrame:
    """Participant rows (0/1) from arm counts."""
    parts = [
        pd.DataFrame({"study": r.study, "treatment": r.treatment,
                      "y": np.r_[np.ones(r.events), np.zeros(r.n - r.events)].astype(int)})
        for r in arms.itertuples()
    ]  # fmt: skip
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def binary_rows() -> pd.DataFrame:
    return _expand(pd.read_csv(BINARY_FE))


def _random_network(family: str, rng: np.random.Generator) -> pd.DataFrame:
    """A small network with a three-arm trial; outcome by family."""
    designs = [("A", "B"), ("A", "C"), ("B", "C"), ("A", "B", "C"), ("A", "B")]
    rows = []
    for k, design in enumerate(designs):
        for t in design:
            n = int(rng.integers(5, 15))
            y = {
                "binomial": lambda n=n: rng.integers(0, 2, n),
                "gaussian": lambda n=n: rng.normal(3.0, 2.0, n),
                "poisson": lambda n=n: rng.poisson(2.0, n),
            }[family]()
            rows.append(pd.DataFrame({"s": f"S{k}", "t": t, "y": y,
                                      "e": rng.uniform(0.5, 2.0, n)}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def _row_loglik(family, rows, network, alpha, d, tau, z, sigma):
    """Each trial's log-likelihood summed over participant rows (scipy), with the random
    effects built here: delta = (d_t - d_b) + tau L z, L the Cholesky factor of B."""
    d_full = np.r_[0.0, d]
    eta = np.empty(len(rows))
    pos = 0
    for k, arms in enumerate(network.trial_treatments):
        base, others = arms[0], arms[1:]
        chol = np.linalg.cholesky(np.full((len(others),) * 2, 0.5) + 0.5 * np.eye(len(others)))
        delta = d_full[list(others)] - d_full[base] + tau * chol @ z[pos : pos + len(others)]
        pos += len(others)
        rows_k = network.study_codes == k
        offset = dict(zip(others, delta, strict=True))
        eta[rows_k] = alpha[k] + np.array(
            [offset.get(t, 0.0) for t in network.treatment_codes[rows_k]]
        )
    y = rows["y"].to_numpy(dtype=float)
    per_row = {
        "binomial": lambda: stats.bernoulli.logpmf(y, expit(eta)),
        "gaussian": lambda: stats.norm.logpdf(y, eta, sigma[network.study_codes]),
        "poisson": lambda: stats.poisson.logpmf(y, rows["e"].to_numpy() * np.exp(eta)),
    }[family]()
    return np.bincount(network.study_codes, weights=per_row, minlength=network.k)


@pytest.mark.parametrize("family", ["binomial", "gaussian", "poisson"])
def test_arm_sums_give_the_row_level_loglik(family):
    rng = np.random.default_rng(11)
    rows = _random_network(family, rng)
    network = network_from_frame(
        rows, study="s", treatment="t", reference="A", family=family, outcome="y",
        time="e" if family == "poisson" else None,
    )  # fmt: skip
    arms = network_arms(network)
    built = build_network_model(arms, {"tau": "half_normal(1)"})
    model = built.model
    values = {
        "alpha": rng.normal(0, 1, network.k),
        "d": rng.normal(0, 1, 2),
        "tau": np.asarray(rng.uniform(0.2, 1.5)),
        "delta_z": rng.normal(0, 1, arms.n_contrasts),
    }
    sigma = rng.uniform(0.5, 3.0, network.k)
    if family == "gaussian":
        values["sigma"] = sigma
    replace = {model[name]: pt.as_tensor(np.asarray(v, dtype=float)) for name, v in values.items()}
    graph = pytensor.clone_replace(model["loglik_trial"], replace)
    got = graph.eval()
    want = _row_loglik(family, rows, network, values["alpha"], values["d"],
                       float(values["tau"]), values["delta_z"], sigma)  # fmt: skip
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8)


def test_survival_arm_sums_give_the_piecewise_exponential_row_loglik():
    rng = np.random.default_rng(12)
    rows = _random_network("binomial", rng).drop(columns="y")
    rows["time"] = rng.exponential(2.0, len(rows))
    rows["died"] = rng.integers(0, 2, len(rows))
    network = network_from_frame(rows, study="s", treatment="t", reference="A",
                                  family="survival", time="time", event="died")  # fmt: skip
    arms = network_arms(network)
    # cut at the quartiles of the event times
    cuts = np.quantile(rows.time[rows.died == 1], [0.25, 0.5, 0.75])
    np.testing.assert_allclose(arms.cutpoints, cuts)
    model = build_network_model(arms, {"tau": "half_normal(1)"}).model
    alpha = rng.normal(-1, 0.5, (network.k, 4))
    d, tau, z = rng.normal(0, 1, 2), 0.7, rng.normal(0, 1, arms.n_contrasts)
    values = {"alpha": alpha, "d": d, "tau": np.asarray(tau), "delta_z": z}
    replace = {model[n]: pt.as_tensor(np.asarray(v, dtype=float)) for n, v in values.items()}
    got = pytensor.clone_replace(model["loglik_trial"], replace).eval()
    # row level: each participant's follow-up split at the cuts, log h = alpha_kj + delta
    edges = np.r_[0.0, cuts, np.inf]
    d_full = np.r_[0.0, d]
    want = np.zeros(network.k)
    pos = 0
    for k, trial_arms in enumerate(network.trial_treatments):
        base, others = trial_arms[0], trial_arms[1:]
        chol = np.linalg.cholesky(np.full((len(others),) * 2, 0.5) + 0.5 * np.eye(len(others)))
        delta = dict(zip(others, d_full[list(others)] - d_full[base]
                         + tau * chol @ z[pos : pos + len(others)], strict=True))  # fmt: skip
        pos += len(others)
        for i in np.flatnonzero(network.study_codes == k):
            t, died = rows.time.iloc[i], rows.died.iloc[i]
            eff = delta.get(int(network.treatment_codes[i]), 0.0)
            for j in range(4):
                exposure = max(0.0, min(t, edges[j + 1]) - edges[j])
                event = died * (edges[j] < t <= edges[j + 1])
                want[k] += event * (alpha[k, j] + eff) - exposure * np.exp(alpha[k, j] + eff)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8)


def test_multi_arm_factor_gives_correlation_one_half():
    for m in (1, 2, 3, 5):
        chol = multi_arm_cholesky(m)
        np.testing.assert_allclose(chol @ chol.T, 0.5 * np.ones((m, m)) + 0.5 * np.eye(m))


def test_arm_sums_of_a_three_arm_trial(binary_rows):
    network = network_from_frame(binary_rows, study="study", treatment="treatment",
                                  reference="A", outcome="y")  # fmt: skip
    arms = network_arms(network)
    counts = pd.read_csv(BINARY_FE)
    assert arms.stats["events"].tolist() == counts.events.astype(float).tolist()
    t07 = [label for label in arms.contrast_labels() if label.startswith("T07")]
    assert t07 == ["T07: B vs A", "T07: C vs A"]
    assert arms.n_contrasts == len(counts) - network.k


def test_rank_probabilities_and_sucra_closed_form():
    # three treatments, draws where C < B < A (= 0) twice and B < C < A once
    draws = np.array([[0.0, -1.0, -2.0], [0.0, -1.0, -2.0], [0.0, -2.0, -1.0]])
    p = rank_probabilities(draws, "desirable")
    np.testing.assert_allclose(p[0], [0, 0, 1])
    np.testing.assert_allclose(p[1], [1 / 3, 2 / 3, 0])
    np.testing.assert_allclose(sucra(p), [0.0, (1 / 3 + 1) / 2, (2 / 3 + 1) / 2])
    np.testing.assert_allclose(rank_probabilities(draws, "undesirable"), p[:, ::-1])


@pytest.fixture(scope="module")
def fe_fit(binary_rows):
    return bi.fit_network(
        binary_rows, study="study", treatment="treatment", reference="A", outcome="y",
        route="one-stage", method="FE",
        priors={"effect": "normal(0, 100)", "intercept": "normal(0, 100)"},
        sampler=bi.SamplerSettings(draws=800, tune=500, chains=2, seed=3, progress=False),
    )  # fmt: skip


def _mcse(node: dict) -> float:
    return node["sd"] / math.sqrt(node["ess_bulk"])


def test_fixed_effect_posterior_matches_glm_and_two_stage(fe_fit, binary_rows):
    effects = fe_fit.to_dict()["effects"]
    two = bi.fit_network(binary_rows, study="study", treatment="treatment", reference="A",
                         outcome="y", method="FE").effects()  # fmt: skip
    for t, (mle, se) in GLM_FE.items():
        node = effects[t]
        # vague priors, 300 per arm: the posterior mean is the MLE up to O(1/n) skew
        assert abs(node["mean"] - mle) < 4 * _mcse(node) + 0.01, t
        assert node["sd"] == pytest.approx(se, rel=0.15), t
        # the two-stage inverse-variance estimate differs from the MLE by O(1/n) too
        assert abs(node["mean"] - two.loc[t, "estimate"]) < 4 * _mcse(node) + 0.02, t


def test_one_stage_json_contract(fe_fit):
    out = fe_fit.to_dict()
    assert list(out) == ["route", "reference", "treatments", "k", "effects", "tau", "league",
                         "ranking", "inconsistency", "node_split"]  # fmt: skip
    assert out["route"] == "one-stage" and out["reference"] == "A" and out["k"] == 9
    assert out["treatments"] == ["A", "B", "C", "D"]
    assert set(out["effects"]) == {"B", "C", "D"}
    assert all(set(node) == KEYS for node in out["effects"].values())
    assert out["tau"] is None  # fixed effects
    league = out["league"]
    assert set(league) == set(out["treatments"]) and set(league["B"]) == {"A", "C", "D"}
    assert league["B"]["A"]["mean"] == pytest.approx(out["effects"]["B"]["mean"])
    assert league["C"]["B"]["mean"] == pytest.approx(-league["B"]["C"]["mean"])
    ranking = out["ranking"]
    assert all(set(v) == {"sucra", "rank_probabilities"} for v in ranking.values())
    for t in out["treatments"]:
        assert sum(ranking[t]["rank_probabilities"]) == pytest.approx(1.0)
    # small values desirable: D (lowest effect) ranks first
    assert max(ranking, key=lambda t: ranking[t]["sucra"]) == "D"
    assert out["inconsistency"] is None and out["node_split"] == []
    json.dumps(out)
    tables = fe_fit.network()
    assert set(tables) == {"effects", "league", "ranking", "rank_probabilities", "prediction",
                           "ppc"}  # fmt: skip
    # fixed effects: a new trial's effect is d_t itself
    np.testing.assert_allclose(tables["prediction"]["mean"], tables["effects"]["mean"])
    assert "fixed effects" in fe_fit.summary()


def test_cli_one_stage_json(tmp_path, binary_rows, capsys, fe_fit):
    path = tmp_path / "rows.csv"
    binary_rows.to_csv(path, index=False)
    argv = ["network", str(path), "--study", "study", "--treatment", "treatment",
            "--reference", "A", "--outcome", "y", "--route", "one-stage", "--method", "FE",
            "--draws", "200", "--tune", "200", "--chains", "1", "--seed", "5",
            "--small-values", "undesirable", "--plot", str(tmp_path / "ranks.png"),
            "--json"]  # fmt: skip
    assert main(argv) == 0
    assert (tmp_path / "ranks.png").stat().st_size > 1000
    out = json.loads(capsys.readouterr().out)
    assert out["route"] == "one-stage" and out["treatments"] == ["A", "B", "C", "D"]
    assert max(out["ranking"], key=lambda t: out["ranking"][t]["sucra"]) == "C"
    node = out["effects"]["C"]
    assert abs(node["mean"] - GLM_FE["C"][0]) < 5 * node["sd"] / math.sqrt(node["ess_bulk"]) + 0.01


def test_refusals(binary_rows, monkeypatch):
    kwargs = {"study": "study", "treatment": "treatment", "reference": "A", "outcome": "y"}
    with pytest.raises(SpecError, match="route"):
        bi.fit_network(binary_rows, route="bayes", **kwargs)
    with pytest.raises(SpecError, match="sparse"):
        bi.fit_network(binary_rows, route="one-stage", sparse="cc", **kwargs)
    with pytest.raises(SpecError, match="one-stage"):
        bi.fit_network(binary_rows, sampler=bi.SamplerSettings(), **kwargs)
    network = network_from_frame(binary_rows, **kwargs)
    with pytest.raises(SpecError, match="effects"):
        build_network_model(network_arms(network), effects="mixed")
    counts = pd.DataFrame({"s": [1, 1, 2, 2], "t": ["A", "B", "A", "B"], "y": [0, 1, 2, 1]})
    # every family now has an arm-level network model (families/network_arms.py): a family
    # without one (network_arms=None) is refused by name
    bare = dataclasses.replace(families.REGISTRY["negative_binomial"], network_arms=None)
    monkeypatch.setitem(families.REGISTRY, "negative_binomial", bare)
    with pytest.raises(IPDDataError, match="not 'negative_binomial' yet"):
        network_arms(network_from_frame(counts, study="s", treatment="t", reference="A",
                                        family="negative_binomial", outcome="y"))  # fmt: skip


# NICE DSU TSD2 (Dias, Welton, Sutton, Ades 2011, last updated 2016), Example 4, smoking
# cessation (Hasselblad 1998), random effects, binomial logit, d ~ N(0, 100^2), mu ~ N(0,
# 100^2), sd ~ U(0, 5); WinBUGS posterior mean (sd) vs no contact. The figures were quoted
# without the table at hand; R multinma's smoking vignette (same data and model, Stan, 4 x
# 1,000 draws, tau ~ half-N(0, 5^2) instead of U(0, 5)) prints group counselling 1.10 (0.44),
# individual counselling 0.84 (0.25), self-help 0.50 (0.41), tau 0.84 (0.19), which agree:
TSD2_RE = {
    "self_help": (0.49, 0.40),
    "ind_counseling": (0.84, 0.24),
    "grp_counseling": (1.10, 0.44),
}
TSD2_SD = (0.82, 0.19)
TSD2_ROUNDING = 0.005  # published to 2 decimals
TSD2_MCSE = 0.01  # their Monte Carlo error (bound; their table gives none)


@pytest.mark.slow
def test_hasselblad_random_effects_agree_with_tsd2():
    res = bi.fit_network_bayes(
        bi.datasets.load_hasselblad1998_rows(), study="study", treatment="treatment",
        reference="no_contact", outcome="quit",
        priors={"effect": "normal(0, 100)", "intercept": "normal(0, 100)",
                "tau": "uniform(0, 5)"},
        sampler=bi.SamplerSettings(draws=5000, tune=2000, chains=4, seed=1, progress=False),
    )  # fmt: skip
    out = res.to_dict()
    for t, (mean, sd) in TSD2_RE.items():
        node = out["effects"][t]
        assert abs(node["mean"] - mean) < 4 * math.hypot(_mcse(node), TSD2_MCSE) + TSD2_ROUNDING
        assert node["sd"] == pytest.approx(sd, abs=0.03)
    tau = out["tau"]
    assert abs(tau["mean"] - TSD2_SD[0]) < 4 * math.hypot(_mcse(tau), TSD2_MCSE) + TSD2_ROUNDING
    assert tau["sd"] == pytest.approx(TSD2_SD[1], abs=0.03)


# Coverage study: planted effects and tau in a fixed design of 12 trials (one three-arm),
# 100 participants per arm, random effects; each replicate draws new baselines, trial
# effects and outcomes. Results and the command: docs/network.md.
COVERAGE_DESIGN = (
    [("A", "B")] * 3
    + [("A", "C")] * 3
    + [("B", "C")] * 2
    + [("A", "D")] * 2
    + [
        ("C", "D"),
        ("A", "B", "C"),
    ]
)
COVERAGE_TRUTH = {"B": 0.5, "C": 0.8, "D": 0.2}
COVERAGE_TAU = 0.3


def _planted_network(rng: np.random.Generator, n: int = 100) -> pd.DataFrame:
    d = {"A": 0.0, **COVERAGE_TRUTH}
    rows = []
    for k, design in enumerate(COVERAGE_DESIGN):
        alpha = rng.normal(-1.0, 0.5)
        m = len(design) - 1
        cov = COVERAGE_TAU**2 * (0.5 * np.ones((m, m)) + 0.5 * np.eye(m))
        delta = rng.multivariate_normal([d[t] - d[design[0]] for t in design[1:]], cov)
        for t, eff in zip(design, np.r_[0.0, delta], strict=True):
            y = rng.binomial(1, expit(alpha + eff), n)
            rows.append(pd.DataFrame({"s": f"S{k:02d}", "t": t, "y": y}))
    return pd.concat(rows, ignore_index=True)


def coverage_study(replicates: int, seed: int = 2026) -> dict:
    """Share of replicates whose 95% CrI holds each planted d_t and tau."""
    import warnings

    rng = np.random.default_rng(seed)
    hits = {t: 0 for t in [*COVERAGE_TRUTH, "tau"]}
    means = {t: [] for t in hits}
    sampler = bi.SamplerSettings(draws=500, tune=500, chains=2, seed=seed, progress=False)
    for _ in range(replicates):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bi.fit_network_bayes(_planted_network(rng), study="s", treatment="t",
                                       reference="A", outcome="y", sampler=sampler)  # fmt: skip
        out = fit.to_dict()
        nodes = {**out["effects"], "tau": out["tau"]}
        for t, truth in [*COVERAGE_TRUTH.items(), ("tau", COVERAGE_TAU)]:
            hits[t] += nodes[t]["q025"] <= truth <= nodes[t]["q975"]
            means[t].append(nodes[t]["mean"])
    return {t: (hits[t] / replicates, float(np.mean(means[t]))) for t in hits}


@pytest.mark.slow
def test_coverage_of_planted_effects():
    replicates = 200
    result = coverage_study(replicates)
    mc_error = math.sqrt(0.95 * 0.05 / replicates)  # 0.0154
    print(result)
    for t in COVERAGE_TRUTH:
        coverage, mean = result[t]
        assert abs(coverage - 0.95) < 3.5 * mc_error, (t, coverage)
        assert abs(mean - COVERAGE_TRUTH[t]) < 0.05, (t, mean)


# R 4.x, maximum likelihood of the same fixed-effect models on the participant rows:
#   d <- read.csv("tests/data/network_counts.csv"); d$arm <- relevel(factor(d$arm), ref = "P")
#   glm(attacks ~ factor(trial) + arm + offset(log(years)), family = poisson, data = d)
POISSON_FE = {"X": (0.0374121623, 0.1328406027), "Y": (-0.5961417467, 0.1544674961)}
#   g <- read.csv("tests/data/network_gaussian.csv"); g$arm <- relevel(factor(g$arm), ref = "A")
#   w <- rep(1, nrow(g))   # per-trial residual SD: ML by iterated weighted least squares
#   for (i in 1:200) { fit <- lm(score ~ factor(trial) + arm, data = g, weights = w)
#     s2 <- tapply(residuals(fit)^2, g$trial, mean); w <- 1 / s2[g$trial] }
GAUSSIAN_FE = {"B": -0.9452256194, "C": -2.6580290055, "D": -1.2634033965}
VAGUE = {"effect": "normal(0, 100)", "intercept": "normal(0, 100)"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "csv", "reference", "columns", "truth", "bias"),
    [
        ("poisson", "network_counts.csv", "P", {"outcome": "attacks", "time": "years"},
         {t: m for t, (m, _) in POISSON_FE.items()}, 0.01),
        # sigma's posterior is wider than its ML value (n - p vs n): a small shift of the
        # trial weights, bounded here by 0.03
        ("gaussian", "network_gaussian.csv", "A", {"outcome": "score"}, GAUSSIAN_FE, 0.03),
    ],
)  # fmt: skip
def test_fixed_effect_counts_and_gaussian_match_r(family, csv, reference, columns, truth, bias):
    rows = pd.read_csv(Path(__file__).parent / "data" / csv)
    res = bi.fit_network_bayes(
        rows, study="trial", treatment="arm", reference=reference, family=family,
        effects="fixed", priors=VAGUE,
        sampler=bi.SamplerSettings(draws=1000, tune=1000, chains=2, seed=4, progress=False),
        **columns,
    )  # fmt: skip
    effects = res.to_dict()["effects"]
    for t, mle in truth.items():
        assert abs(effects[t]["mean"] - mle) < 4 * _mcse(effects[t]) + bias, (t, effects[t])


def test_deviance_of_a_point_posterior_is_the_binomial_residual_deviance(binary_rows):
    import xarray as xr

    from bayes_ipd.one_stage.network_deviance import deviance_summary

    network = network_from_frame(binary_rows, study="study", treatment="treatment",
                                  reference="A", outcome="y")  # fmt: skip
    arms = network_arms(network)
    rng = np.random.default_rng(7)
    alpha, delta = rng.normal(-0.5, 0.3, arms.k), rng.normal(0.5, 0.3, arms.n_contrasts)
    posterior = xr.Dataset({
        "alpha": (("chain", "draw", "study"), np.tile(alpha, (1, 3, 1))),
        "delta": (("chain", "draw", "contrast"), np.tile(delta, (1, 3, 1))),
    })  # fmt: skip
    eta = alpha[arms.arm_study]
    eta[arms.contrast_arm] += delta
    r, n = arms.stats["events"], arms.stats["n"]
    fitted = n * expit(eta)
    # TSD2 eq. for binomial data: dev = 2 sum [r log(r / rhat) + (n - r) log((n - r) / (n - rhat))]
    want = 2 * np.sum(r * np.log(r / fitted) + (n - r) * np.log((n - r) / (n - fitted)))
    got = deviance_summary(posterior, arms)
    assert got["deviance"] == "residual" and got["n_data"] == 19
    assert got["dbar"] == pytest.approx(want, rel=1e-10)
    assert got["pd"] == pytest.approx(0.0, abs=1e-8)  # one point: no spread
    assert got["dic"] == pytest.approx(want, rel=1e-10)


def test_unrelated_mean_effects_model_has_one_effect_per_comparison(binary_rows):
    network = network_from_frame(binary_rows, study="study", treatment="treatment",
                                  reference="A", outcome="y")  # fmt: skip
    built = build_network_model(network_arms(network), consistency=False)
    labels = list(built.model.coords["comparison"])
    # comparisons against each trial's reference arm: B, C, D vs A; C vs B; D vs C
    assert labels == ["B vs A", "C vs A", "D vs A", "C vs B", "D vs C"]
    assert "d" not in built.model.named_vars and "d_ume" in built.model.named_vars


@pytest.mark.slow
def test_hasselblad_consistency_vs_unrelated_mean_effects():
    # TSD4 (Dias et al. 2011) finds no evidence of inconsistency in this network: the
    # random-effects consistency and UME models fit alike (residual deviance near the 50
    # data points, similar DIC). Measured (docs/network.md): Dbar 54.2 vs 53.5, DIC 98.1 vs
    # 98.4 with 4 x 5000 draws.
    res = bi.fit_network_bayes(
        bi.datasets.load_hasselblad1998_rows(), study="study", treatment="treatment",
        reference="no_contact", outcome="quit", inconsistency=True,
        priors={"effect": "normal(0, 100)", "intercept": "normal(0, 100)",
                "tau": "uniform(0, 5)"},
        sampler=bi.SamplerSettings(draws=2000, tune=1000, chains=2, seed=2, progress=False),
    )  # fmt: skip
    block = res.to_dict()["inconsistency"]
    assert block["n_data"] == 50 and block["deviance"] == "residual"
    assert 50 < block["consistency"]["dbar"] < 58 and 50 < block["ume"]["dbar"] < 58
    assert abs(block["consistency"]["dic"] - block["ume"]["dic"]) < 3
    assert len(block["ume_effects"]) == 6


def test_posterior_predictive_check_per_arm(fe_fit):
    ppc = fe_fit.ppc()
    counts = pd.read_csv(BINARY_FE)
    assert list(ppc.study) == list(counts.study) and list(ppc.treatment) == list(counts.treatment)
    assert (ppc.statistic == "events").all()
    assert ppc.observed.tolist() == counts.events.astype(float).tolist()
    assert ppc.p_value.between(0, 1).all() and (ppc.q025 <= ppc.q975).all()
    # trial intercepts (vague priors): each trial's fitted events sum to its observed ones,
    # as the score equations of the logistic model with a trial factor say
    by_trial = ppc.groupby("study")[["observed", "mean"]].sum()
    np.testing.assert_allclose(by_trial["mean"], by_trial["observed"], rtol=0.03)


def test_split_pairs_and_rebased_contrasts():
    from bayes_ipd.one_stage.network_split import split_pairs
    from bayes_ipd.one_stage.network_summaries import rebased

    rows = bi.datasets.load_hasselblad1998_rows()
    network = network_from_frame(rows, study="study", treatment="treatment",
                                  reference="no_contact", outcome="quit")  # fmt: skip
    arms = network_arms(network)
    # every pair of the 4 treatments has direct evidence and indirect evidence (the
    # two-stage back-calculation splits the same six, docs/network.md)
    assert split_pairs(arms) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    three_arm = next(k for k in range(arms.k) if (arms.arm_study == k).sum() == 3)
    labels = rebased(arms, {three_arm: 2}).contrast_labels()
    mine = [label for label in labels if label.startswith(arms.studies[three_arm] + ":")]
    assert all(label.endswith("vs ind_counseling") for label in mine) and len(mine) == 2
    with pytest.raises(ValueError, match="has no arm"):
        rebased(arms, {0: 1})  # Reid et al. 1974 has no group counselling arm


@pytest.mark.slow
def test_hasselblad_node_split():
    res = bi.fit_network_bayes(
        bi.datasets.load_hasselblad1998_rows(), study="study", treatment="treatment",
        reference="no_contact", outcome="quit", inconsistency=True,
        priors={"effect": "normal(0, 100)", "intercept": "normal(0, 100)",
                "tau": "uniform(0, 5)"},
        sampler=bi.SamplerSettings(draws=1000, tune=1000, chains=2, seed=3, progress=False),
    )  # fmt: skip
    splits = res.to_dict()["node_split"]
    assert [s["comparison"] for s in splits] == [
        "grp_counseling vs no_contact", "ind_counseling vs no_contact",
        "self_help vs no_contact", "ind_counseling vs grp_counseling",
        "self_help vs grp_counseling", "self_help vs ind_counseling",
    ]  # fmt: skip
    for s in splits:
        assert set(s) == {"comparison", "direct", "indirect", "difference", "p"}
        diff = s["direct"]["mean"] - s["indirect"]["mean"]
        assert s["difference"]["mean"] == pytest.approx(diff, abs=1e-9)
        # no evidence of inconsistency in this network (TSD4; the two-stage split agrees)
        assert s["p"] > 0.1, s
    # ind vs no contact: 15+ direct trials, the direct estimate is near the network one
    direct = splits[1]["direct"]
    assert abs(direct["mean"] - res.to_dict()["effects"]["ind_counseling"]["mean"]) < 0.15


@pytest.mark.slow
def test_survival_fixed_effects_near_the_cox_network():
    # piecewise-exponential (4 intervals per trial) vs Cox partial likelihood (the
    # two-stage route, equal to R coxph + metafor): close, not equal; bound 0.06 + 4 MCSE.
    # Measured: X -0.562 vs -0.561, Y -0.515 vs -0.471, Z -0.153 vs -0.166.
    rows = pd.read_csv(Path(__file__).parent / "data" / "network_survival.csv")
    kwargs = {"study": "trial", "treatment": "arm", "reference": "P", "family": "survival",
              "time": "months", "event": "died", "method": "FE"}  # fmt: skip
    res = bi.fit_network(rows, route="one-stage", **kwargs,
                         sampler=bi.SamplerSettings(draws=1000, tune=1000, chains=2, seed=1,
                                                    progress=False))  # fmt: skip
    cox = bi.fit_network(rows, **kwargs).effects()
    for t, node in res.to_dict()["effects"].items():
        assert abs(node["mean"] - cox.loc[t, "estimate"]) < 4 * _mcse(node) + 0.06, t
        assert node["sd"] == pytest.approx(cox.loc[t, "se"], rel=0.15), t
