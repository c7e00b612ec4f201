"""Aggregate-data trials in the one-stage model (bayes_ipd/one_stage/aggregate_trials.py).

Reference values:

* bayesmeta's vignette (Röver 2020, J Stat Softw 93(6); R package ``bayesmeta``, file
  ``inst/doc/bayesmeta.html``, "schools.example.1"): the eight schools (Rubin 1981) with
  ``mu ~ Normal(0, 50)`` and ``tau ~ half-Cauchy(25)`` give the marginal posterior
  mu: mean 7.985729, sd 4.995762, median 7.962961; tau: mean 5.884511, sd 4.869904,
  median 4.758539.
* an independent closed form: the same posterior by numerical integration (scipy) of
  p(tau | y) with mu integrated out analytically.
* simulation truth, and the IPD fit of the same trials.

MCMC tolerances: |posterior mean - reference| < 4 MCSE (+ a stated bias bound), with
MCSE = posterior sd / sqrt(bulk ESS).
"""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import bayes_ipd as bi
from bayes_ipd.errors import BayesIPDError, IPDDataError, PoolingError, PriorError
from bayes_ipd.one_stage.aggregate_trials import (
    AggregateTrials,
    ArmCounts,
    trial_effects,
)
from bayes_ipd.one_stage.fitting import design_for
from bayes_ipd.spec import parse_analysis_spec

PRIORS = {"effect": "normal(0, 50)", "tau": "half_cauchy(25)"}
# non-centred throughout: every AD-only fit then has one graph (one compile)
SPEC = bi.ModelSpec(family="gaussian", priors=PRIORS, parameterisation="noncentred")
SAMPLER = bi.SamplerSettings(draws=1000, tune=600, chains=2, seed=20240601, progress=False)

# bayesmeta vignette, schools.example.1 (see module docstring)
BAYESMETA_MU = {"mean": 7.985729, "sd": 4.995762, "median": 7.962961}
BAYESMETA_TAU = {"mean": 5.884511, "sd": 4.869904, "median": 4.758539}


def _schools() -> pd.DataFrame:
    path = resources.files("bayes_ipd.datasets").joinpath("rubin1981.csv")
    with path.open("rb") as handle:
        return pd.read_csv(handle)


def _schools_ad() -> AggregateTrials:
    d = _schools()
    return AggregateTrials(tuple(d["school"]), d["effect"].to_numpy(), d["stderr"].to_numpy())


def _mcse(node: pd.Series) -> float:
    return float(node["sd"]) / math.sqrt(float(node["ess_bulk"]))


# --------------------------------------------------------------- independent reference


def _log_marginal(tau: float, y: np.ndarray, s: np.ndarray, m0: float, s0: float) -> float:
    cov = np.diag(s**2 + tau**2) + s0**2
    return float(stats.multivariate_normal(np.full(len(y), m0), cov).logpdf(y))


def numeric_posterior(y, s, m0=0.0, s0=50.0, scale=25.0) -> dict[str, float]:
    """Posterior means and sds of mu and tau by quadrature (normal-normal model)."""
    y, s = np.asarray(y, float), np.asarray(s, float)
    logp0 = _log_marginal(0.0, y, s, m0, s0)

    def dens(t: float) -> float:
        prior = 2 * stats.cauchy.pdf(t, scale=scale)
        return prior * math.exp(_log_marginal(t, y, s, m0, s0) - logp0)

    def mu_moments(t: float) -> tuple[float, float]:
        w = 1 / (s**2 + t**2)
        prec = w.sum() + 1 / s0**2
        mean = (np.sum(w * y) + m0 / s0**2) / prec
        return mean, 1 / prec

    inf = np.inf
    z = integrate.quad(dens, 0, inf, limit=200)[0]
    t1 = integrate.quad(lambda t: t * dens(t), 0, inf, limit=200)[0] / z
    t2 = integrate.quad(lambda t: t * t * dens(t), 0, inf, limit=200)[0] / z
    m1 = integrate.quad(lambda t: mu_moments(t)[0] * dens(t), 0, inf, limit=200)[0] / z
    m2 = integrate.quad(lambda t: (mu_moments(t)[1] + mu_moments(t)[0] ** 2) * dens(t), 0, inf)[0]
    return {
        "mu_mean": m1,
        "mu_sd": math.sqrt(m2 / z - m1**2),
        "tau_mean": t1,
        "tau_sd": math.sqrt(t2 - t1**2),
    }


def test_numeric_reference_reproduces_bayesmeta():
    """The quadrature reference agrees with bayesmeta's printed figures (4 decimals)."""
    d = _schools()
    ref = numeric_posterior(d["effect"], d["stderr"])
    assert ref["mu_mean"] == pytest.approx(BAYESMETA_MU["mean"], abs=2e-3)
    assert ref["mu_sd"] == pytest.approx(BAYESMETA_MU["sd"], abs=2e-3)
    assert ref["tau_mean"] == pytest.approx(BAYESMETA_TAU["mean"], abs=2e-3)
    assert ref["tau_sd"] == pytest.approx(BAYESMETA_TAU["sd"], abs=2e-3)


# --------------------------------------------------------------- simulated trials


def simulate_gaussian(seed: int, k: int = 8, n: int = 100, mu: float = 10.0, tau: float = 5.0):
    """k two-arm trials (n per arm), outcome SD 40: rows and each trial's exact AD."""
    rng = np.random.default_rng(seed)
    frames, est, se = [], [], []
    for i in range(k):
        theta = mu + tau * rng.standard_normal()
        treat = np.repeat([0, 1], n)
        y = 100 + 10 * rng.standard_normal() + theta * treat + 40 * rng.standard_normal(2 * n)
        frames.append(pd.DataFrame({"trial": f"S{i + 1:02d}", "treat": treat, "y": y}))
        y0, y1 = y[treat == 0], y[treat == 1]
        pooled = math.sqrt(((n - 1) * y0.var(ddof=1) + (n - 1) * y1.var(ddof=1)) / (2 * n - 2))
        est.append(y1.mean() - y0.mean())
        se.append(pooled * math.sqrt(2 / n))
    rows = pd.concat(frames, ignore_index=True)
    labels = tuple(f"S{i + 1:02d}" for i in range(k))
    return rows, AggregateTrials(labels, np.array(est), np.array(se))


def _ipd(rows: pd.DataFrame) -> bi.IPD:
    return bi.IPD.from_frame(rows, study="trial", treatment="treat", outcome="y", family="gaussian")


def _subset(ad: AggregateTrials, labels) -> AggregateTrials:
    keep = np.array([s in labels for s in ad.studies])
    return AggregateTrials(tuple(np.array(ad.studies)[keep]), ad.estimate[keep], ad.se[keep])


# ------------------------------------------------------------------------ MCMC tests


@pytest.fixture(scope="module")
def schools_fit():
    return bi.fit(_schools_ad(), SPEC, SAMPLER)


def test_ad_only_matches_bayesmeta_eight_schools(schools_fit):
    table = schools_fit.summary()
    mu, tau = table.loc["effect"], table.loc["tau"]
    # eight schools' tau near 0 is a funnel: a stray divergence or two is expected with 2 x
    # 1,000 draws (how many varies with the CPU's floating point); more than 0.5% is not
    draws = SAMPLER.draws * SAMPLER.chains
    assert schools_fit.diagnostics.divergences <= 0.005 * draws
    assert abs(mu["mean"] - BAYESMETA_MU["mean"]) < 4 * _mcse(mu)
    assert abs(tau["mean"] - BAYESMETA_TAU["mean"]) < 4 * _mcse(tau)
    # posterior SDs: within 10% (the SD's Monte Carlo error at ESS >= 400 is ~ 5%)
    assert mu["sd"] == pytest.approx(BAYESMETA_MU["sd"], rel=0.10)
    assert tau["sd"] == pytest.approx(BAYESMETA_TAU["sd"], rel=0.15)
    effects = trial_effects(schools_fit)
    assert list(effects.index) == list("ABCDEFGH")
    assert set(effects["source"]) == {"AD"}
    # school A (y = 28.39) is shrunk towards mu: bayesmeta's shrinkage estimate lies
    # between mu and y_A
    assert BAYESMETA_MU["mean"] < effects.loc["A", "mean"] < 28.39


def test_ad_only_printout_lists_the_model_and_priors_it_uses(schools_fit):
    """Aggregate data alone: mu and tau are the whole model, so the printout (text and
    HTML) lists their priors only and names no intercepts or residual SD."""
    text = repr(schools_fit)
    priors = text.split("Priors:\n")[1].split("\n\n")[0].splitlines()
    assert priors == ["  effect (mu) ~ normal(0, 50)", "  tau ~ half_cauchy(25)"]
    model = next(line for line in text.splitlines() if line.startswith("Model: "))
    assert "intercepts" not in model and "residual SD" not in model
    html = schools_fit._repr_html_()
    assert "sigma ~" not in html and "intercept (alpha)" not in html


def test_ad_only_study_effects_point_to_trial_effects(schools_fit):
    """No IPD trial, no theta per trial: a clear error naming where the AD effects are,
    and trial_effects lists all eight schools."""
    with pytest.raises(ValueError, match=r"no IPD trial.*bayes_ipd\.trial_effects"):
        schools_fit.study_effects()
    table = bi.trial_effects(schools_fit)
    assert len(table) == 8 and set(table["source"]) == {"AD"}


def test_ipd_and_exact_ad_give_agreeing_posteriors(schools_fit):
    """Every trial as rows (gaussian) and as its exact AD: the posteriors of mu and tau
    agree (the rows' per-trial residual SD is estimated, which widens the IPD posterior
    of each theta_k by ~ 1/(2n) relative: bias bound 2% of the posterior SD)."""
    rows, ad = simulate_gaussian(seed=3)
    ipd_fit = bi.fit(_ipd(rows), SPEC, SAMPLER)
    ad_fit = bi.fit(ad, SPEC, SAMPLER)  # same structure as schools_fit: reused compile
    a, b = ipd_fit.summary(), ad_fit.summary()
    for row in ("effect", "tau"):
        mcse = math.hypot(_mcse(a.loc[row]), _mcse(b.loc[row]))
        bound = 4 * mcse + 0.02 * a.loc[row, "sd"]
        assert abs(a.loc[row, "mean"] - b.loc[row, "mean"]) < bound, row
    assert a.loc["effect", "sd"] == pytest.approx(b.loc["effect", "sd"], rel=0.12)
    theta_ipd = ipd_fit.study_effects()["mean"]
    theta_ad = trial_effects(ad_fit)["mean"]
    assert np.allclose(theta_ipd.to_numpy(), theta_ad.loc[theta_ipd.index].to_numpy(), atol=1.5)


def test_hybrid_recovers_planted_effect():
    """Half the trials as rows, half as published estimates: the posterior of mu covers
    the planted mu = 10 and the AD trials enter the same random-effects distribution."""
    rows, ad = simulate_gaussian(seed=11, mu=10.0, tau=5.0)
    ipd_labels = ("S01", "S02", "S03", "S04")
    ipd = _ipd(rows[rows["trial"].isin(ipd_labels)])
    ad_part = _subset(ad, ("S05", "S06", "S07", "S08"))
    hybrid = bi.fit([ipd, ad_part], SPEC, SAMPLER)
    effect = hybrid.summary().loc["effect"]
    assert abs(effect["mean"] - 10.0) < 3 * effect["sd"]
    assert effect["q025"] < 10.0 < effect["q975"]
    effects = trial_effects(hybrid)
    assert list(effects["source"]) == ["IPD"] * 4 + ["AD"] * 4
    # each AD trial's theta is shrunk from its published estimate towards mu
    for s, y in zip(ad_part.studies, ad_part.estimate, strict=True):
        lo, hi = sorted((y, effect["mean"]))
        assert lo - 1.0 < effects.loc[s, "mean"] < hi + 1.0


# ------------------------------------------------------------ exactness without MCMC


def test_arm_counts_give_the_binomial_cells_of_the_rows():
    """A 2x2 table entered as ArmCounts is the same one-cell-per-arm likelihood as the
    trial's participant rows (BCG trial Aronson 1948: 4/123 vaccinated, 11/139 not)."""
    rows = bi.datasets.bcg_participant_rows()
    rows = rows[rows["trial"].isin(["Aronson 1948", "Ferguson & Simes 1949"])]
    ipd = bi.IPD.from_frame(
        rows, study="trial", treatment="treat", outcome="event", family="binomial"
    )
    spec = bi.ModelSpec(family="binomial")
    from_rows = design_for(ipd, spec)
    counts = ArmCounts(
        ("Aronson 1948", "Ferguson & Simes 1949"),
        events=np.array([[11, 4], [29, 6]]),
        n=np.array([[139, 123], [303, 306]]),
    )
    from_counts = design_for(counts, spec)
    for name in ("cell_study", "cell_z", "cell_n", "cell_events"):
        assert np.array_equal(from_rows.stats[name], from_counts.stats[name]), name
    assert from_counts.aggregate.count_studies == counts.studies


def test_ad_only_design_carries_no_rows():
    design = design_for(_schools_ad(), SPEC)
    assert design.k == 0 and design.aggregate.k == 8


def test_arm_counts_are_the_family_answer():
    """The family says what a 2x2 table becomes; families without per-cell event counts
    refuse (naming what to give instead)."""
    from bayes_ipd.families import get_family

    stats = get_family("binomial").arm_count_statistics(
        np.array([3.0, 5.0]), np.array([40.0, 42.0])
    )
    assert np.array_equal(stats["cell_z"], [[1.0, 0.0], [1.0, 1.0]])
    assert stats["cell_n"].tolist() == [40.0, 42.0]
    assert stats["cell_events"].tolist() == [3.0, 5.0]
    for name in ("gaussian", "survival", "poisson", "ordinal"):
        with pytest.raises(IPDDataError, match="estimate and SE instead"):
            get_family(name).arm_count_statistics(np.ones(2), np.full(2, 9.0))


def test_aggregate_trials_imports_neither_builder_nor_result():
    """The AD values and hooks sit below the builder and the result (issue 24)."""
    import ast
    from pathlib import Path

    import bayes_ipd.one_stage.aggregate_trials as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"bayes_ipd.one_stage.builder", "bayes_ipd.one_stage.result"}


# ------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("se", "message"),
    [(0.0, "se is 0.0"), (-1.0, "se is -1.0"), (np.nan, "se is nan")],
)
def test_bad_se_is_refused_naming_the_trial(se, message):
    with pytest.raises(IPDDataError, match=f"'B'.*{message}"):
        AggregateTrials(("A", "B"), np.array([0.1, 0.2]), np.array([0.1, se]))


def test_study_given_as_ipd_and_ad_is_refused_unless_asked():
    rows, ad = simulate_gaussian(seed=5, k=3)
    ipd = _ipd(rows)
    with pytest.raises(IPDDataError, match="'S01' is given both"):
        design_for([ipd, ad], SPEC)
    extra = AggregateTrials(("S01", "X9"), np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    from bayes_ipd.one_stage.fitting import design_for as df

    design = df([ipd, extra], SPEC, duplicates="prefer_ipd")
    assert design.aggregate.studies == ("X9",)
    assert design.aggregate.dropped == ("S01",)


def test_scale_mismatch_and_count_family_are_refused():
    agg = bi.AggregateData(("A", "B"), np.array([0.1, 0.2]), np.array([0.1, 0.2]), scale="logOR")
    with pytest.raises(IPDDataError, match="logOR scale"):
        design_for(agg, SPEC)
    counts = ArmCounts(("A",), np.array([[1, 2]]), np.array([[10, 10]]))
    with pytest.raises(IPDDataError, match="per-cell event counts"):
        design_for(counts, SPEC)


def test_ad_only_gaussian_needs_effect_and_tau_priors():
    with pytest.raises(PriorError, match="effect, tau"):
        bi.fit(_schools_ad(), bi.ModelSpec(family="gaussian"), SAMPLER)


def test_toml_aggregate_key_path_optional(tmp_path):
    (tmp_path / "pub.csv").write_text("study,yi,sei\nA,0.1,0.2\nB,0.3,0.4\n")
    text = (
        '[data]\naggregate = "pub.csv"\naggregate_estimate = "yi"\naggregate_se = "sei"\n'
        'study = "trial"\ntreatment = "treat"\noutcome = "y"\nfamily = "binomial"\n'
    )
    spec = parse_analysis_spec(text, tmp_path)
    assert spec.data.path is None
    assert spec.data.aggregate == tmp_path / "pub.csv"
    from bayes_ipd.analysis import load_analysis_data

    data = load_analysis_data(spec.data, spec.model)
    assert data.aggregate.studies == ("A", "B") and data.ipd is None


def test_cli_refuses_nonpositive_se(tmp_path, capsys):
    from bayes_ipd.cli import main

    (tmp_path / "pub.csv").write_text("study,estimate,se\nA,0.1,0.2\nB,0.3,0\n")
    (tmp_path / "s.toml").write_text(
        '[data]\naggregate = "pub.csv"\nstudy = "trial"\ntreatment = "treat"\n'
        'outcome = "y"\nfamily = "binomial"\n'
    )
    assert main(["run", str(tmp_path / "s.toml")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:") and "'B'" in last and "se" in last


def test_errors_are_package_errors():
    assert issubclass(IPDDataError, BayesIPDError) and issubclass(PoolingError, BayesIPDError)
