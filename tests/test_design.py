"""Design: within-trial centring, the interaction split and exact sufficient statistics.

Reference values are computed independently from the participant rows with plain numpy.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.errors import IPDDataError
from bayes_ipd.families.survival import default_cutpoints, split_exposure
from bayes_ipd.one_stage.design import build_design, crude_effects, design_from_summaries
from bayes_ipd.one_stage.summaries import TrialSummary, summarise_trial


def _trial(rng: np.random.Generator, n: int, shift: float, levels=("a", "b", "c")):
    treat = rng.integers(0, 2, n).astype(float)
    treat[:2] = [0.0, 1.0]
    age = rng.normal(50 + shift, 8, n)
    grp = pd.Categorical(rng.choice(levels, n), categories=sorted(levels))
    y = 1.0 + 0.5 * treat + 0.1 * age + rng.normal(0, 1, n)
    return treat, pd.DataFrame({"age": age, "grp": grp}), y


def test_gaussian_statistics_equal_rowwise_products():
    rng = np.random.default_rng(3)
    treat, cov, y = _trial(rng, 40, 0.0)
    s = summarise_trial("A", "gaussian", treat, cov, ["age", "grp"], ["age"], outcome=y)
    # Independent: build z = [1, t, x - xbar, t (age - agebar)] by hand.
    age_c = cov["age"] - cov["age"].mean()
    dummies = pd.get_dummies(cov["grp"]).to_numpy(float)
    dummies_c = dummies - dummies.mean(axis=0)
    z = np.column_stack([np.ones(40), treat, age_c, dummies_c, treat * age_c])
    for arm in (0, 1):
        rows = treat == arm
        np.testing.assert_allclose(s.stats["ztz"][arm], z[rows].T @ z[rows], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(s.stats["zty"][arm], z[rows].T @ y[rows], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(s.stats["yty"][arm], y[rows] @ y[rows], rtol=1e-12)
    assert s.terms == ("age", "grp[a]", "grp[b]", "grp[c]")
    assert s.interaction_terms == ("age",)
    assert s.n_arm.tolist() == [int((treat == 0).sum()), int((treat == 1).sum())]


def test_design_drops_reference_level_and_splits_interaction():
    rng = np.random.default_rng(4)
    sums = []
    for k, shift in enumerate([0.0, 10.0, -5.0]):
        treat, cov, y = _trial(rng, 30, shift)
        sums.append(
            summarise_trial(f"T{k}", "gaussian", treat, cov, ["age", "grp"], ["age"], outcome=y)
        )
    d = design_from_summaries(sums)
    assert d.covariate_terms == ("age", "grp[b]", "grp[c]")  # first sorted level dropped
    assert d.interaction_terms == ("age",)
    means = np.array([s.term_means[0] for s in sums])
    # across-trial term: trial mean minus the mean of trial means (Fisher et al. 2017)
    np.testing.assert_allclose(d.across[:, 0], means - means.mean())
    assert d.width == 2 + 3 + 1
    assert d.stats["ztz"].shape == (3, 2, 6, 6)
    assert d.stats["zty"].shape == (3, 2, 6)
    # centred within trial: age - its trial mean sums to zero over both arms of every trial
    np.testing.assert_allclose(d.stats["ztz"][:, :, 0, 2].sum(axis=1), 0.0, atol=1e-9)


def test_binomial_cells_collapse_exactly():
    rng = np.random.default_rng(5)
    n = 500
    treat = rng.integers(0, 2, n).astype(float)
    smoker = rng.integers(0, 2, n).astype(float)
    y = rng.binomial(1, 0.3, n).astype(float)
    s = summarise_trial(
        "A", "binomial", treat, pd.DataFrame({"smoker": smoker}), ["smoker"], [], outcome=y
    )
    assert len(s.stats["cell_n"]) == 4  # 2 arms x 2 smoking levels
    assert s.stats["cell_n"].sum() == n and s.stats["cell_events"].sum() == y.sum()
    for row, cnt, ev in zip(
        s.stats["cell_z"], s.stats["cell_n"], s.stats["cell_events"], strict=True
    ):
        match = (treat == row[1]) & np.isclose(smoker - smoker.mean(), row[2])
        assert cnt == match.sum() and ev == y[match].sum()


def test_split_exposure_totals():
    time = np.array([0.5, 1.0, 2.5, 4.0, 0.1])
    event = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    row, interval, ee = split_exposure(time, event, [1.0, 3.0])
    np.testing.assert_allclose(np.bincount(row, weights=ee[:, 0]), time)  # exposure adds up
    assert ee[:, 1].sum() == event.sum()
    # an event at 2.5 falls in interval 1 = (1, 3]; 4.0 in interval 2; the event at 1.0? none
    assert set(zip(row[ee[:, 1] > 0], interval[ee[:, 1] > 0], strict=True)) == {
        (0, 0),
        (2, 1),
        (3, 2),
    }


def test_default_cutpoints_are_event_time_quantiles():
    times = np.arange(1.0, 101.0)
    assert default_cutpoints(times, 4) == (25.75, 50.5, 75.25)  # numpy linear quantiles
    with pytest.raises(IPDDataError, match="no events"):
        default_cutpoints(np.array([]), 4)


def test_summary_json_round_trip_is_exact():
    rng = np.random.default_rng(6)
    treat, cov, y = _trial(rng, 25, 1.0)
    s = summarise_trial("A", "gaussian", treat, cov, ["age"], ["age"], outcome=y)
    back = TrialSummary.from_dict(json.loads(json.dumps(s.to_dict())))
    for name in ("ztz", "zty", "yty"):
        assert np.array_equal(back.stats[name], s.stats[name])
    for name in ("term_means", "n_arm"):
        assert np.array_equal(getattr(back, name), getattr(s, name))


def test_summary_refuses_bad_documents():
    with pytest.raises(IPDDataError, match="format"):
        TrialSummary.from_dict({"format": "other"})
    with pytest.raises(IPDDataError, match="'family'"):
        TrialSummary.from_dict({"format": "bayes_ipd.trial_summary/1", "study": "A"})


def test_design_refuses_duplicate_and_single_trials():
    rng = np.random.default_rng(7)
    treat, cov, y = _trial(rng, 20, 0.0)
    s = summarise_trial("A", "gaussian", treat, cov, [], [], outcome=y)
    with pytest.raises(IPDDataError, match="at least two trials"):
        design_from_summaries([s])
    with pytest.raises(IPDDataError, match="'A' appears more than once"):
        design_from_summaries([s, s])


def test_constant_covariate_within_trial_is_warned():
    rng = np.random.default_rng(8)
    sums = []
    for k in range(2):
        treat, cov, y = _trial(rng, 20, 0.0)
        if k == 1:
            cov = cov.assign(age=60.0)
        sums.append(summarise_trial(f"T{k}", "gaussian", treat, cov, ["age"], [], outcome=y))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        design_from_summaries(sums)
    assert any("'age' is constant within trial 'T1'" in str(w.message) for w in caught)


def test_crude_binomial_effects_are_log_odds_ratios():
    from bayes_ipd.datasets import load_bcg_aggregate, load_bcg_ipd
    from bayes_ipd.spec import ModelSpec

    d = build_design(load_bcg_ipd(), ModelSpec(family="binomial"))
    agg = load_bcg_aggregate()
    est, se = crude_effects(d)
    a, b, c, dd = (agg[x].to_numpy(float) + 0.5 for x in ("tpos", "tneg", "cpos", "cneg"))
    np.testing.assert_allclose(est, np.log(a * dd / (b * c)), rtol=1e-12)
    np.testing.assert_allclose(se, np.sqrt(1 / a + 1 / b + 1 / c + 1 / dd), rtol=1e-12)
    assert len(d.stats["cell_n"]) == 26  # 13 trials x 2 arms: the 357,347 rows collapse to 26 cells


def test_summarise_trial_refuses_an_overflowing_statistic():
    rng = np.random.default_rng(8)
    treat, cov, y = _trial(rng, 30, 0.0)
    y[4] = 1e300  # y'y overflows to inf
    with pytest.raises(IPDDataError, match=r"trial 'T01'.*yty.*outcome 'y'.*inf"):
        summarise_trial(
            "T01", "gaussian", treat, cov, ["age"], [], outcome=y, columns={"outcome": "y"}
        )
    with pytest.raises(IPDDataError, match=r"trial 'T01'.*yty.*outcome.*inf"):
        summarise_trial("T01", "gaussian", treat, cov, ["age"], [], outcome=y)


def test_write_summaries_never_writes_a_non_finite_number(tmp_path):
    from bayes_ipd.one_stage.summaries import write_summaries

    rng = np.random.default_rng(9)
    treat, cov, y = _trial(rng, 30, 0.0)
    s = summarise_trial("T01", "gaussian", treat, cov, ["age"], [], outcome=y)
    # a non-finite statistic is refused when read (issue 29, item 13), so it never reaches
    # write_summaries, whose allow_nan=False stays as a second guard
    with pytest.raises(IPDDataError, match="'T01': yty holds"):
        TrialSummary.from_dict({**s.to_dict(), "yty": [float("inf"), 1.0]})
    write_summaries([s], tmp_path / "s.json")
