"""Sparse binary trials in the two-stage route: continuity corrections and Firth.

Expected values: closed forms (the corrected 2x2 log odds ratio and its Woolf SE; Firth's
estimate of a 2x2 table equals the log odds ratio with 0.5 added to every cell, Firth 1993,
Heinze & Schemper 2002) and an independent maximisation of the penalised log-likelihood
``l(b) + ½ log|X'WX|`` with scipy.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special

from bayes_ipd.cli import main
from bayes_ipd.data import IPD
from bayes_ipd.families.sparse import firth_logistic
from bayes_ipd.two_stage import fit_per_study, two_stage


def _trial_rows(label: str, e0: int, n0: int, e1: int, n1: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trial": label,
            "treat": [0] * n0 + [1] * n1,
            "event": [1] * e0 + [0] * (n0 - e0) + [1] * e1 + [0] * (n1 - e1),
        }
    )


TABLES = {  # label: (control events, control n, treated events, treated n)
    "zero-control": (0, 50, 4, 100),
    "zero-treated": (3, 40, 0, 40),
    "double-zero": (0, 30, 0, 30),
    "full": (5, 60, 12, 60),
}


def _ipd(tables=TABLES) -> IPD:
    frame = pd.concat([_trial_rows(k, *v) for k, v in tables.items()], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return IPD.from_frame(
            frame, study="trial", treatment="treat", outcome="event", family="binomial"
        )


def _woolf(e0, n0, e1, n1, k0, k1):
    a, b, c, d = e1 + k1, n1 - e1 + k1, e0 + k0, n0 - e0 + k0
    return np.log(a * d / (b * c)), np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)


def _per_study(method: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agg = fit_per_study(_ipd(), sparse=method)
    return agg.to_frame().set_index("study")


@pytest.mark.parametrize("method", ["cc", "tacc"])
def test_continuity_corrections_match_the_closed_form_only_where_a_cell_is_zero(method):
    frame = _per_study(method)
    for label in ("zero-control", "zero-treated"):
        e0, n0, e1, n1 = TABLES[label]
        k0, k1 = (0.5, 0.5) if method == "cc" else (n0 / (n0 + n1), n1 / (n0 + n1))
        est, se = _woolf(e0, n0, e1, n1, k0, k1)
        assert frame.loc[label, "estimate"] == pytest.approx(est, abs=1e-12)
        assert frame.loc[label, "se"] == pytest.approx(se, abs=1e-12)
    # no zero cell: the uncorrected log odds ratio log(ad / bc)
    est, se = _woolf(*TABLES["full"], 0.0, 0.0)
    assert frame.loc["full", "estimate"] == pytest.approx(est, abs=1e-6)
    assert frame.loc["full", "se"] == pytest.approx(se, abs=1e-6)


def test_treatment_arm_correction_differs_from_constant_with_unequal_arms():
    cc, tacc = _per_study("cc"), _per_study("tacc")
    assert cc.loc["zero-control", "estimate"] != pytest.approx(tacc.loc["zero-control", "estimate"])
    # equal arms: Sweeting's correction is 0.5 in each arm
    assert cc.loc["zero-treated", "estimate"] == pytest.approx(
        tacc.loc["zero-treated", "estimate"], abs=1e-12
    )


@pytest.mark.parametrize("method", ["none", "cc", "tacc", "firth"])
def test_double_zero_trial_is_reported_as_no_events_in_either_arm(method):
    frame = _per_study(method)
    assert frame.loc["double-zero", "excluded"] == "no events in either arm"
    assert np.isnan(frame.loc["double-zero", "estimate"])


def test_without_correction_zero_cells_are_excluded_with_the_arm_named():
    frame = _per_study("none")
    assert frame.loc["zero-control", "excluded"] == "no events in the control arm"
    assert frame.loc["zero-treated", "excluded"] == "no events in the treated arm"


def test_firth_2x2_equals_half_added_to_every_cell():
    frame = _per_study("firth")
    for label in ("zero-control", "zero-treated", "full"):
        e0, n0, e1, n1 = TABLES[label]
        est, _ = _woolf(e0, n0, e1, n1, 0.5, 0.5)
        assert frame.loc[label, "estimate"] == pytest.approx(est, abs=1e-8)
        # Wald SE from X'WX at the penalised fit: p = (e + 0.5) / (n + 1) in each arm
        p0, p1 = (e0 + 0.5) / (n0 + 1), (e1 + 0.5) / (n1 + 1)
        se = np.sqrt(1 / (n0 * p0 * (1 - p0)) + 1 / (n1 * p1 * (1 - p1)))
        assert frame.loc[label, "se"] == pytest.approx(se, rel=1e-8)


def _penalised(beta, x, y):
    """Independent Firth objective: l(b) + 0.5 log det(X' diag(p(1-p)) X)."""
    eta = x @ beta
    p = special.expit(eta)
    info = (x * (p * (1 - p))[:, None]).T @ x
    return np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)) + 0.5 * np.log(np.linalg.det(info))


def test_firth_with_covariates_matches_scipy_optimisation_under_separation():
    rng = np.random.default_rng(3)
    n = 40
    treat = np.repeat([0.0, 1.0], n // 2)
    age = rng.normal(0, 1, n)
    y = (treat == 1) & (rng.random(n) < 0.3)  # no control events: ML does not exist
    y = y.astype(float)
    x = np.column_stack([np.ones(n), treat, age])
    fit = firth_logistic(x, y)
    opt = optimize.minimize(
        lambda b: -_penalised(b, x, y), np.zeros(3), method="BFGS", options={"gtol": 1e-10}
    )
    np.testing.assert_allclose(fit.params, opt.x, atol=1e-5)
    assert np.all(np.isfinite(fit.bse))


def _eight_sparse_trials(seed: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(8):
        n0, n1 = rng.integers(20, 60, 2)
        p0 = 0.03
        e0, e1 = rng.binomial(n0, p0), rng.binomial(n1, p0 * 0.5)
        frames.append(_trial_rows(f"S{k + 1}", int(e0), int(n0), int(e1), int(n1)))
    frames.append(_trial_rows("S9", 0, 25, 0, 25))  # certainly a double-zero trial
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("sparse", ["none", "cc", "tacc", "firth"])
@pytest.mark.parametrize("method", ["DL", "REML"])
def test_eight_sparse_trials_pool_without_error(sparse, method):
    frame = _eight_sparse_trials()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ipd = IPD.from_frame(
            frame, study="trial", treatment="treat", outcome="event", family="binomial"
        )
        result = two_stage(ipd, method=method, sparse=sparse)
    table = result.per_study.to_frame().set_index("study")
    assert table.loc["S9", "excluded"] == "no events in either arm"
    assert np.isfinite(result.pooled.estimate)
    if sparse != "none":  # every trial with an event somewhere is estimable
        events = frame.groupby("trial")["event"].sum()
        assert result.per_study.n_excluded == int((events == 0).sum())


def test_cli_sparse_option(tmp_path: Path, capsys):
    path = tmp_path / "sparse.csv"
    _eight_sparse_trials().to_csv(path, index=False)
    argv = ["two-stage", str(path), "--study", "trial", "--treatment", "treat"]
    argv += ["--family", "binomial", "--outcome", "event"]
    assert main([*argv, "--sparse", "firth", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["pooled"]["scale"] == "logOR"
    assert main([*argv, "--sparse", "wrong"]) == 2
    capsys.readouterr()


def test_sparse_method_refused_for_a_family_without_it(tmp_path: Path, capsys):
    rows = pd.DataFrame({"trial": list("AABB"), "treat": [0, 1, 0, 1], "y": [1.0, 2, 3, 5]})
    path = tmp_path / "g.csv"
    rows.to_csv(path, index=False)
    argv = ["two-stage", str(path), "--study", "trial", "--treatment", "treat"]
    code = main([*argv, "--family", "gaussian", "--outcome", "y", "--sparse", "cc"])
    err = capsys.readouterr().err
    assert code == 2
    assert "sparse='cc'" in err.strip().splitlines()[-1]
