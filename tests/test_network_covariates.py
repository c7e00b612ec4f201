"""Covariates and within-trial treatment x covariate interactions on the two-stage network
route (issue 25; bayes_ipd/two_stage/network_covariates.py, families/network_adjusted.py).

Data: ``tests/data/network_interactions.csv`` (written by
``tests/data/network_interactions_simulate.py``, seed 20261207): 6 trials, S1 with three
arms, planted interactions with ``age``. Reference numbers: R 4.x, metafor 3.8-1, from
``tests/data/network_interactions_reference.R``; the essential lines::

    fit <- glm(y ~ trt * I(age - mean(age)) + I(sex - mean(sex)), binomial, data = x)
    # (lm(score ~ ...) for the gaussian outcome), per trial, trt a factor with the trial's
    # first arm in network order as base; then the interaction contrasts and their vcov:
    rma.mv(yi, V, mods = ~ B + C - 1, random = ~ comp | study, rho = 1/2, method = "REML")
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_ipd as bi
from bayes_ipd.cli import main
from bayes_ipd.errors import BayesIPDError, PoolingError
from bayes_ipd.two_stage.network import fit_network

DATA = Path(__file__).parent / "data"
ROWS = DATA / "network_interactions.csv"

# R: cat(fam, s, "coef", b[c(im, ii)]); vcov(fit)[c(im, ii), c(im, ii)] (S1: B, C, B:age, C:age)
R_TRIAL = {
    ("binomial", "S1"): (
        [0.10891545761, 0.12947991978, 0.00313980345049, -0.0630870426246],
        [
            [0.0580252089571, 0.0288856107416, -5.62033251049e-05, 1.11402294177e-05],
            [0.0288856107416, 0.0559086470812, 3.24061279543e-05, 2.40930246293e-05],
            [-5.62033251049e-05, 3.24061279543e-05, 0.000698558195989, 0.000348315511127],
            [1.11402294177e-05, 2.40930246293e-05, 0.000348315511127, 0.000638171024106],
        ],
    ),
    ("binomial", "S4"): (
        [0.77468891102, -0.0226036804966],
        [[0.0632895129203, -0.000715241557836], [-0.000715241557836, 0.000717579023]],
    ),
    ("gaussian", "S1"): (
        [-1.16265340379, 0.369161540619, 0.113214120861, -0.0424086597245],
        [
            [0.0464550645121, 0.0232028855767, -6.41821392071e-06, 2.95540333069e-05],
            [0.0232028855767, 0.0464009824789, 4.23463035717e-05, 4.11228245008e-05],
            [-6.41821392071e-06, 4.23463035717e-05, 0.000486838995476, 0.000239145694217],
            [2.95540333069e-05, 4.11228245008e-05, 0.000239145694217, 0.00048571344746],
        ],
    ),
    ("gaussian", "S4"): (
        [0.598350916371, -0.137120470789],
        [[0.0503004514906, -2.51986596116e-07], [-2.51986596116e-07, 0.000519925234724]],
    ),
}

# R: rma.mv(...) of the interaction contrasts (estimate B, C; se B, C; tau2) and of the
# adjusted main contrasts
R_POOLED = {
    ("binomial", "interaction", "REML"): (
        [0.0335120373093, -0.0265541948258],
        [0.0180690202665, 0.0173300334495],
        0.000483066488023,
    ),
    ("binomial", "interaction", "ML"): (
        [0.0333716306083, -0.026849993977],
        [0.0153794392337, 0.0145105427344],
        0.000152683718808,
    ),
    ("binomial", "interaction", "FE"): (
        [0.0332824203274, -0.0270682979421],
        [0.0139575047867, 0.0129990602931],
        0.0,
    ),
    ("binomial", "main", "REML"): (
        [-0.379952628444, 0.203262517072],
        [0.240795913902, 0.238026562607],
        0.152212185098,
    ),
    ("gaussian", "interaction", "REML"): (
        [0.0707173478123, -0.0476877303254],
        [0.0208485068242, 0.0207611897712],
        0.00106827311619,
    ),
    ("gaussian", "main", "REML"): (
        [-1.19778166796, -0.102478760353],
        [0.335759430188, 0.335648289908],
        0.365966972141,
    ),
    ("gaussian", "main", "ML"): (
        [-1.19705788842, -0.101635373085],
        [0.283430114086, 0.283299264407],
        0.246336383635,
    ),
}
OUTCOME = {"binomial": "y", "gaussian": "score"}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return pd.read_csv(ROWS)


def _fit(rows: pd.DataFrame, family: str = "binomial", method: str = "REML", **options):
    options = {"covariates": ["age", "sex"], "interactions": ["age"], **options}
    return fit_network(
        rows,
        study="study",
        treatment="treatment",
        reference="A",
        family=family,
        outcome=OUTCOME[family],
        method=method,
        **options,
    )


@pytest.mark.parametrize(("family", "study"), list(R_TRIAL))
def test_trial_regression_matches_r(rows, family, study):
    res = _fit(rows, family)
    main_part = {t.study: t for t in res.stage_one.trials}[study]
    inter = {t.study: t for t in res.stage_one.interactions["age"]}[study]
    estimate, cov = (np.asarray(v) for v in R_TRIAL[family, study])
    m = main_part.estimate.size
    tol = 1e-8 if family == "gaussian" else 1e-6
    np.testing.assert_allclose(main_part.estimate, estimate[:m], rtol=tol, atol=tol)
    np.testing.assert_allclose(inter.estimate, estimate[m:], rtol=tol, atol=tol)
    np.testing.assert_allclose(main_part.covariance, cov[:m, :m], rtol=tol, atol=tol)
    np.testing.assert_allclose(inter.covariance, cov[m:, m:], rtol=tol, atol=tol)
    assert inter.design == main_part.design  # S4: B is the base arm


@pytest.mark.parametrize(("family", "part", "method"), list(R_POOLED))
def test_pooled_matches_metafor(rows, family, part, method):
    res = _fit(rows, family, method)
    fit = res.interactions["age"] if part == "interaction" else res.fit
    estimate, se, tau2 = R_POOLED[family, part, method]
    np.testing.assert_allclose(fit.estimate, estimate, atol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.covariance)), se, atol=1e-4)
    assert fit.tau2 == pytest.approx(tau2, abs=1e-4)


def test_json_members_only_with_covariates(rows):
    plain = fit_network(
        rows, study="study", treatment="treatment", reference="A", outcome="y"
    ).to_dict()
    none = _fit(rows, covariates=None, interactions=None).to_dict()
    assert json.dumps(plain) == json.dumps(none)
    assert "interactions" not in plain and "covariates" not in plain
    out = _fit(rows).to_dict()
    assert list(out)[: len(plain)] == list(plain)
    assert out["covariates"] == ["age", "sex"]
    assert set(out["interactions"]) == {"age"}
    assert set(out["interactions"]["age"]) == {"B", "C"}
    cell = out["interactions"]["age"]["C"]
    assert list(cell) == ["estimate", "se", "ci_low", "ci_high"]
    assert cell["ci_low"] < cell["estimate"] < cell["ci_high"]
    # adjusted without interactions: the main effects move, no interaction is estimated
    adjusted = _fit(rows, interactions=None).to_dict()
    assert adjusted["interactions"] == {}
    assert adjusted["effects"]["B"]["estimate"] != plain["effects"]["B"]["estimate"]


def test_public_api_route_and_two_stage_refusal(rows):
    res = bi.fit_network(
        rows,
        study="study",
        treatment="treatment",
        reference="A",
        outcome="y",
        covariates="age,sex",
        interactions="age",
    )
    assert res.interactions["age"].estimate[1] == pytest.approx(-0.0265541948258, abs=1e-4)
    # the one-stage route takes covariates (tests/test_network_one_stage_covariates.py) and
    # their inconsistency models (tests/test_network_covariate_inconsistency.py); the
    # one-stage covariate_effects option has no meaning on the two-stage route
    with pytest.raises(BayesIPDError, match="belong to route='one-stage'"):
        bi.fit_network(
            rows,
            study="study",
            treatment="treatment",
            reference="A",
            outcome="y",
            covariates=["age"],
            covariate_effects="stratified",
        )


def test_constant_covariate_in_a_trial_leaves_its_interaction_out(rows):
    data = rows.copy()
    data.loc[data.study == "S2", "age"] = 50.0
    res = _fit(data)
    assert res.k == 6
    assert res.interactions["age"].k == 5
    assert "S2" not in {t.study for t in res.stage_one.interactions["age"]}
    excluded = res.to_dict()["excluded"]
    assert [e["study"] for e in excluded] == ["S2"]
    assert "'age' is constant within the trial" in excluded[0]["reason"]


def test_interaction_constant_everywhere_is_refused(rows):
    data = rows.assign(age=50.0)
    with pytest.raises(PoolingError, match="no trial estimates the interaction with 'age'"):
        _fit(data)


@pytest.mark.parametrize(
    ("change", "options", "message"),
    [
        (None, {"covariates": ["weight"], "interactions": None}, "not in the data: 'weight'"),
        ("text", {}, "covariate 'age' is not numeric"),
        ("missing", {}, "'age' has 1 missing"),
        (None, {"interactions": ["sex", "bmi"]}, "'bmi' are not among the covariates"),
        (None, {"covariates": None, "interactions": ["age"]}, "interactions need covariates"),
        (None, {"covariates": ["y"], "interactions": None}, "study, treatment or outcome"),
    ],
)
def test_bad_covariates_are_refused(rows, change, options, message):
    data = rows.copy()
    if change == "text":
        data["age"] = data.age.astype(str)
    elif change == "missing":
        data.loc[7, "age"] = np.nan
    with pytest.raises(BayesIPDError, match=message):
        _fit(data, **options)


def test_aggregate_trials_are_refused_with_covariates(rows):
    arms = pd.DataFrame(
        {"study": ["S9", "S9"], "treatment": ["A", "B"], "events": [10, 12], "n": [50, 50]}
    )
    with pytest.raises(BayesIPDError, match="cannot adjust aggregate-data trials"):
        _fit(rows, aggregate_arms=arms)


def test_input_not_modified(rows):
    before = rows.copy()
    _fit(rows)
    pd.testing.assert_frame_equal(rows, before)


@pytest.mark.parametrize(
    ("family", "file", "columns"),
    [
        ("poisson", "network_counts.csv", ["--outcome", "attacks", "--exposure", "years"]),
        ("survival", "network_survival.csv", ["--time", "months", "--event", "died"]),
        ("gaussian", "network_gaussian.csv", ["--outcome", "score"]),
    ],
)
def test_cli_other_families(tmp_path, capsys, family, file, columns):
    data = pd.read_csv(DATA / file)
    data["x"] = (np.arange(len(data)) * 7) % 13  # R: ((seq_len(nrow(d)) - 1) * 7) %% 13
    path = tmp_path / "rows.csv"
    data.to_csv(path, index=False)
    reference = sorted(data.arm.unique())[0]
    argv = ["network", str(path), "--study", "trial", "--treatment", "arm"]
    argv += ["--reference", reference, "--family", family, *columns]
    assert main([*argv, "--covariates", "x", "--interactions", "x", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["covariates"] == ["x"]
    assert set(out["interactions"]["x"]) == set(out["effects"])
    assert main([*argv, "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert "covariates" not in plain
    assert main([*argv, "--covariates", "x", "--classes", "B=k"]) == 2  # one-stage: built now
    assert "--classes needs --interactions" in capsys.readouterr().err


def test_cli_readable_report(capsys):
    argv = ["network", str(ROWS), "--study", "study", "--treatment", "treatment"]
    argv += ["--reference", "A", "--outcome", "y", "--covariates", "age,sex"]
    assert main([*argv, "--interactions", "age"]) == 0
    text = capsys.readouterr().out
    assert "Within-trial interaction treatment x age" in text
    assert "no across-trial part" in text
    assert main([*argv, "--interactions", "bmi"]) == 2
    assert "error:" in capsys.readouterr().err


# R (network_interactions_reference.R, end): coxph(Surv(months, died) ~ arm * I(x -
# mean(x)), ties = "efron") on trial S1; glm(attacks ~ arm * I(x - mean(x)), poisson,
# offset = log(years)) on trial C1: coef (arm, arm:x) and vcov
R_OTHER = {
    ("survival", "network_survival.csv", "S1"): (
        [-0.597297634314, -0.100733983481],
        [[0.21251634892, 0.010283632689], [0.010283632689, 0.0152639736409]],
        {"time": "months", "event": "died"},
    ),
    ("poisson", "network_counts.csv", "C1"): (
        [-0.534288994892, 0.0686663074821],
        [[0.0986891091073, -0.000864751640033], [-0.000864751640033, 0.00765129991562]],
        {"outcome": "attacks", "time": "years"},
    ),
}


@pytest.mark.parametrize(("family", "file", "study"), list(R_OTHER))
def test_other_families_trial_regression_matches_r(family, file, study):
    estimate, cov, columns = R_OTHER[family, file, study]
    data = pd.read_csv(DATA / file)
    data["x"] = (np.arange(len(data)) * 7) % 13
    res = fit_network(
        data,
        study="trial",
        treatment="arm",
        reference="P",
        family=family,
        covariates=["x"],
        interactions=["x"],
        **columns,
    )
    main_part = {t.study: t for t in res.stage_one.trials}[study]
    inter = {t.study: t for t in res.stage_one.interactions["x"]}[study]
    got = np.concatenate([main_part.estimate, inter.estimate])
    np.testing.assert_allclose(got, estimate, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(main_part.covariance[0, 0], cov[0][0], rtol=1e-5)
    np.testing.assert_allclose(inter.covariance[0, 0], cov[1][1], rtol=1e-5)


@pytest.mark.parametrize("family", ["negative_binomial", "ordinal"])
def test_nb_and_ordinal_adjust_and_interact(family):
    rng = np.random.default_rng(6)  # seeds 7 and 11: an NB2 fit does not converge
    rows = []
    for s, arms in (("T1", "ABC"), ("T2", "AB"), ("T3", "BC"), ("T4", "AC")):
        for j, a in enumerate(arms):
            x = rng.normal(0, 1, 60)
            eta = 0.3 * j + 0.4 * x + 0.3 * j * x
            if family == "ordinal":
                latent = eta + rng.logistic(size=60)
                y = np.digitize(latent, [-0.5, 0.5, 1.5]) + 1
            else:
                y = rng.negative_binomial(2, 2 / (2 + np.exp(1 + eta)))
            rows += [(s, a, int(v), float(w)) for v, w in zip(y, x, strict=True)]
    data = pd.DataFrame(rows, columns=["trial", "arm", "y", "x"])
    options = {"study": "trial", "treatment": "arm", "reference": "A", "family": family}
    plain = fit_network(data, outcome="y", **options)
    res = fit_network(data, outcome="y", covariates=["x"], interactions=["x"], **options)
    assert res.k == plain.k == 4
    assert res.interactions["x"].k == 4
    inter = res.interaction_effects()["x"]
    assert list(inter.index) == ["B", "C"]
    assert np.isfinite(inter.to_numpy()).all()
    # the trials' factor coefficients are adjusted: not those of the factor alone
    assert not np.allclose(res.stage_one.trials[0].estimate, plain.stage_one.trials[0].estimate)


def test_zero_event_arm_with_covariates(rows):
    data = rows.copy()
    data.loc[(data.study == "S2") & (data.treatment == "B"), "y"] = 0
    with pytest.raises(BayesIPDError, match=r"trial 'S2' arm 'B' \(0 of 150\)"):
        _fit(data)
    for sparse in ("none", "cc"):
        res = _fit(data, sparse=sparse)
        assert set(res.stage_one.excluded) == {"S2"}
        assert "no continuity correction applies" in res.stage_one.excluded["S2"]
        assert res.k == 5 and res.interactions["age"].k == 5


# R MASS 7.3 on the rows of tests/test_network_two_stage_families.py with x = ((row - 1)
# * 7) %% 13 over the whole frame (per trial, arm a factor with levels sorted):
#   f <- glm.nb(count ~ arm * I(x - mean(x)), data = d); coef(f)[k]    (k: the arm terms)
#   f <- polr(factor(level) ~ arm * I(x - mean(x)), data = d, Hess = TRUE); coef(f)[k]
# coefficients: arm, then arm:x. Variances: polr's vcov below; glm.nb's vcov is the
# expected information with theta fixed, the family's NB2 fit (statsmodels) the observed
# joint one, which differ once covariates enter (T1 arm:x 0.01041 in R vs 0.00925): only
# the NB estimates are compared.
R_MASS = {
    "negative_binomial": {
        "T1": [0.4612013511, -0.2633441461, 0.03615562164, 0.05558922709],
        "T2": [0.6720114978, -0.07375772451],
        "T3": [-0.900369788, -0.1336830222],
    },
    "ordinal": {
        "T1": [0.6942203934, 1.280820032, -0.07235148798, -0.00477362731],
        "T2": [0.8063645575, -0.009158451057],
        "T3": [0.8351136991, 0.07117392917],
    },
}
R_POLR_VARIANCE = {
    "T1": [0.3365821857, 0.3483375958, 0.02302639228, 0.02317529301],
    "T2": [0.3402228827, 0.02405529801],
    "T3": [0.339755753, 0.02313786319],
}


@pytest.mark.parametrize("family", list(R_MASS))
def test_nb_and_ordinal_trial_regression_match_r_mass(family):
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_network_two_stage_families import _nb_rows, _ordinal_rows

    data = _nb_rows() if family == "negative_binomial" else _ordinal_rows()
    data["x"] = (np.arange(len(data)) * 7) % 13
    res = fit_network(
        data,
        study="trial",
        treatment="arm",
        reference="A",
        family=family,
        outcome="count" if family == "negative_binomial" else "level",
        covariates=["x"],
        interactions=["x"],
    )
    inter = {t.study: t for t in res.stage_one.interactions["x"]}
    tol = 1e-7 if family == "negative_binomial" else 2e-4  # polr: optim's precision
    for t in res.stage_one.trials:
        got = np.concatenate([t.estimate, inter[t.study].estimate])
        np.testing.assert_allclose(got, R_MASS[family][t.study], atol=tol)
        if family == "ordinal":
            variance = np.concatenate([np.diag(t.covariance), np.diag(inter[t.study].covariance)])
            np.testing.assert_allclose(variance, R_POLR_VARIANCE[t.study], rtol=1e-4)


@pytest.mark.parametrize("family", ["binomial", "gaussian"])
def test_collinear_covariate_excludes_the_trial(rows, family):
    in_s2 = (rows.treatment == "B") & (rows.study == "S2")
    data = rows.assign(dose=in_s2.astype(float))  # S2's B indicator; constant elsewhere
    res = _fit(data, family, covariates=["age", "dose"], interactions=None)
    assert set(res.stage_one.excluded) == {"S2"}
    assert "collinear" in res.stage_one.excluded["S2"]
    data = rows.assign(dose=(rows.treatment == "B").astype(float))  # every B arm
    with pytest.raises(BayesIPDError, match="after excluding trial\\(s\\) 'S1', 'S2', 'S4', 'S5'"):
        _fit(data, family, covariates=["age", "dose"], interactions=None)
