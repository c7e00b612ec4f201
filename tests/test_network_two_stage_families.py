"""Two-stage network meta-analysis of negative binomial and ordinal outcomes
(``Family.network_contrasts``: families/negative_binomial.py, families/ordinal.py) against
R MASS 7.3 and metafor.

Reference script (R 4.x; the rows are :func:`_nb_rows` / :func:`_ordinal_rows` written to
``nb.csv`` / ``ord.csv``)::

    library(MASS); library(metafor)
    d <- nb[nb$trial == s, ]; d$arm <- factor(d$arm, levels = sort(unique(d$arm)))
    f <- glm.nb(count ~ arm, data = d); coef(f)[-1]; vcov(f)[-1, -1]
    f <- polr(factor(level) ~ arm, data = od[od$trial == s, ], Hess = TRUE)
    coef(f); vcov(f)[1:k, 1:k]
    # pooled: the per-trial contrasts above, B = [arm is B] - [reference is B], C likewise
    rma.mv(yi, V, mods = ~ B + C - 1, random = ~ comp | study, rho = 1/2, method = "REML")
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.cli import main
from bayes_ipd.errors import IPDDataError
from bayes_ipd.families import get_family
from bayes_ipd.two_stage.network import fit_network

NB = {
    ("T1", "A"): [0, 0, 1, 1, 2, 3, 5, 8, 0, 2, 4, 1, 0, 6],
    ("T1", "B"): [1, 3, 0, 7, 2, 9, 4, 0, 5, 2, 11, 3, 1, 6],
    ("T1", "C"): [2, 0, 4, 1, 0, 3, 1, 0, 2, 5, 0, 1, 7, 0],
    ("T2", "A"): [0, 1, 3, 0, 2, 6, 1, 0, 4, 2, 0, 9],
    ("T2", "B"): [4, 2, 8, 1, 0, 6, 3, 12, 2, 5, 1, 7],
    ("T3", "B"): [3, 6, 0, 2, 9, 4, 1, 5, 10, 2],
    ("T3", "C"): [1, 0, 2, 4, 0, 1, 3, 0, 6, 1],
}
"""Counts per (trial, arm)."""

ORDINAL = {
    ("T1", "A"): [8, 6, 4, 2],
    ("T1", "B"): [5, 6, 5, 4],
    ("T1", "C"): [3, 5, 6, 6],
    ("T2", "A"): [7, 7, 4, 2],
    ("T2", "B"): [4, 6, 6, 4],
    ("T3", "B"): [6, 5, 5, 4],
    ("T3", "C"): [2, 5, 7, 6],
}
"""Participants per level 1..4, per (trial, arm)."""

# glm.nb(count ~ arm): coef(f)[-1], vcov(f)[-1, -1] per trial (theta 1.368, 1.490, 2.132)
R_NB = {
    "T1": (
        [0.4924764851, -0.2384110234],
        [[0.15322170157, 0.08250310667], [0.08250310667, 0.17316472149]],
    ),
    "T2": ([0.5996211225], [[0.1671844055]]),
    "T3": ([-0.8472978604], [[0.1731573753]]),
}
# polr(factor(level) ~ arm, Hess = TRUE): coef(f), vcov(f)[1:k, 1:k] (optim's Hessian:
# agreement to about 1e-5)
R_POLR = {
    "T1": (
        [0.6946941923, 1.2886494794],
        [[0.3336210395, 0.1763333669], [0.1763333669, 0.3464724724]],
    ),
    "T2": ([0.8109307791], [[0.3394375252]]),
    "T3": ([0.8383837694], [[0.3373216445]]),
}
# rma.mv(yi, V, mods = ~ B + C - 1, random = ~ comp | study, rho = 1/2, method = "REML")
# on the contrasts above: coef, se (tau2 ~ 1e-12: zero)
R_POOLED = {
    "negative_binomial": ([0.5544468038, -0.2424874737], [0.2751000619, 0.3387560044]),
    "ordinal": ([0.7180046677, 1.4105046161], [0.3977844849, 0.4786939159]),
}


def _nb_rows() -> pd.DataFrame:
    rows = [(s, a, y) for (s, a), ys in NB.items() for y in ys]
    return pd.DataFrame(rows, columns=["trial", "arm", "count"])


def _ordinal_rows() -> pd.DataFrame:
    rows = [
        (s, a, level + 1)
        for (s, a), counts in ORDINAL.items()
        for level, k in enumerate(counts)
        for _ in range(k)
    ]
    return pd.DataFrame(rows, columns=["trial", "arm", "level"])


CASES = {
    "negative_binomial": (_nb_rows, "count", R_NB, 1e-7),
    "ordinal": (_ordinal_rows, "level", R_POLR, 2e-5),
}


def _fit(family: str, rows: pd.DataFrame | None = None, **options):
    make, column, _, _ = CASES[family]
    data = make() if rows is None else rows
    return fit_network(
        data,
        study="trial",
        treatment="arm",
        reference="A",
        family=family,
        outcome=column,
        **options,
    )


@pytest.mark.parametrize("family", list(CASES))
def test_trial_contrasts_match_r(family):
    _, _, reference, tol = CASES[family]
    trials = {t.study: t for t in _fit(family).stage_one.trials}
    assert set(trials) == set(reference)
    for study, (estimate, cov) in reference.items():
        np.testing.assert_allclose(trials[study].estimate, estimate, rtol=tol, atol=tol)
        np.testing.assert_allclose(trials[study].covariance, cov, rtol=tol, atol=tol)


@pytest.mark.parametrize("family", list(CASES))
def test_pooled_effects_match_metafor(family):
    effects = _fit(family).effects()
    estimate, se = R_POOLED[family]
    np.testing.assert_allclose(effects["estimate"].to_numpy(), estimate, rtol=1e-4)
    np.testing.assert_allclose(effects["se"].to_numpy(), se, rtol=1e-4)


@pytest.mark.parametrize("family", list(CASES))
def test_two_arm_trial_agrees_with_the_family_stage_one(family):
    # a two-arm trial: the factor regression is the family's own two-arm fit_trial
    make, column, _, _ = CASES[family]
    rows = make()
    t2 = rows[rows["trial"] == "T2"]
    treat = (t2["arm"] == "B").to_numpy(float)[:, None]
    estimate, se = get_family(family).fit_trial(
        {"outcome": t2[column].to_numpy(float)}, treat, ("treat",), 0
    )
    trial = {t.study: t for t in _fit(family).stage_one.trials}["T2"]
    np.testing.assert_allclose(trial.estimate, [estimate], rtol=1e-6)
    np.testing.assert_allclose(trial.covariance, [[se**2]], rtol=1e-6)


def test_nb_without_overdispersion_is_the_poisson_closed_form():
    # counts constant within each arm: the NB2 maximum is at dispersion 0, the Poisson
    # factor fit: log(e_B / e_A) with variance 1/e_A + 1/e_B (closed form)
    rows = pd.DataFrame(
        [("T1", "A", 2)] * 10 + [("T1", "B", 3)] * 10 + [("T2", "A", 1)] * 8 + [("T2", "B", 2)] * 8,
        columns=["trial", "arm", "count"],
    )
    trials = _fit("negative_binomial", rows).stage_one.trials
    np.testing.assert_allclose(trials[0].estimate, [np.log(30 / 20)], rtol=1e-9)
    np.testing.assert_allclose(trials[0].covariance, [[1 / 20 + 1 / 30]], rtol=1e-9)
    np.testing.assert_allclose(trials[1].estimate, [np.log(16 / 8)], rtol=1e-9)


def test_nb_zero_arm_refused_or_trial_excluded():
    rows = _nb_rows()
    rows.loc[(rows["trial"] == "T3") & (rows["arm"] == "C"), "count"] = 0
    with pytest.raises(IPDDataError, match=r"trial 'T3' arm 'C' \(0 of 10\)"):
        _fit("negative_binomial", rows)
    res = _fit("negative_binomial", rows, sparse="none")
    assert [e["study"] for e in res.excluded()] == ["T3"]
    assert "no continuity correction applies" in res.excluded()[0]["reason"]


def test_ordinal_separated_trial_excluded():
    rows = _ordinal_rows()
    t3 = rows["trial"] == "T3"
    rows.loc[t3, "level"] = np.where(rows.loc[t3, "arm"] == "B", 1, 4)
    res = _fit("ordinal", rows)
    assert [e["study"] for e in res.excluded()] == ["T3"]
    assert "separation" in res.excluded()[0]["reason"]


def test_cli_two_stage_negative_binomial(tmp_path, capsys):
    path = tmp_path / "nb.csv"
    _nb_rows().to_csv(path, index=False)
    argv = ["network", str(path), "--study", "trial", "--treatment", "arm", "--reference", "A"]
    code = main([*argv, "--family", "negative_binomial", "--outcome", "count", "--json"])
    assert code == 0
    effects = json.loads(capsys.readouterr().out)["effects"]
    np.testing.assert_allclose(
        [effects["B"]["estimate"], effects["C"]["estimate"]],
        R_POOLED["negative_binomial"][0],
        rtol=1e-4,
    )


@pytest.mark.parametrize("family", list(CASES))
def test_cli_accepts_the_families_on_both_routes(family):
    from bayes_ipd.cli import build_parser

    for route in ("two-stage", "one-stage", "both"):
        argv = ["network", "x.csv", "--study", "s", "--treatment", "t", "--reference", "A"]
        args = build_parser().parse_args([*argv, "--family", family, "--route", route])
        assert (args.family, args.route) == (family, route)
