"""Stage one: per-trial regressions, checked against independent computations.

References: closed-form OLS (numpy.linalg on the design), the 2x2-table log odds ratio and
its Woolf variance, a direct likelihood maximisation with scipy.optimize, and lifelines'
CoxPHFitter (Efron's method for ties).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from scipy import optimize, special

from bayes_ipd.data import IPD
from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.two_stage.stage1 import fit_per_study


def _continuous_trials(seed: int = 11, sizes: tuple[int, ...] = (30, 46, 60)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for j, n in enumerate(sizes):
        treat = np.tile([0, 1], n // 2)
        age = rng.normal(55, 8, n)
        sex = rng.choice(["F", "M"], n)
        y = 2.0 + 0.5 * treat + 0.05 * age + 0.3 * (sex == "M") + 0.02 * treat * age
        frames.append(
            pd.DataFrame(
                {
                    "trial": f"T{j + 1}",
                    "arm": treat,
                    "age": age,
                    "sex": sex,
                    "y": y + rng.normal(0, 1, n),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """beta = (X'X)^-1 X'y and SE from s^2 (X'X)^-1 (closed form)."""
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ x.T @ y
    resid = y - x @ beta
    s2 = resid @ resid / (len(y) - x.shape[1])
    return beta, np.sqrt(np.diag(s2 * xtx_inv))


def _gaussian_ipd(df: pd.DataFrame, covariates: tuple[str, ...] = ("age", "sex")) -> IPD:
    return IPD.from_frame(df, study="trial", treatment="arm", outcome="y", covariates=covariates)


# --- gaussian ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("covariates", "pool_var", "columns", "term"),
    [
        ((), "treat", ["arm"], 1),
        (("age", "sex"), "treat", ["arm", "age", "male"], 1),
        ((), "treat:age", ["arm", "age", "arm_age"], 3),
        (("sex",), "treat:age", ["arm", "male", "age", "arm_age"], 4),
        (("age",), "treat:sex", ["arm", "age", "male", "arm_male"], 4),
    ],
)
def test_gaussian_matches_closed_form_ols(covariates, pool_var, columns, term):
    df = _continuous_trials()
    agg = fit_per_study(_gaussian_ipd(df), covariates=covariates, pool_var=pool_var)
    assert agg.scale == "MD"
    assert agg.term == ("treat" if pool_var == "treat" else pool_var)
    for i, label in enumerate(agg.studies):
        d = df[df["trial"] == label]
        cols = {
            "arm": d["arm"],
            "age": d["age"],
            "male": (d["sex"] == "M").astype(float),
            "arm_age": d["arm"] * d["age"],
            "arm_male": d["arm"] * (d["sex"] == "M"),
        }
        x = np.column_stack([np.ones(len(d))] + [cols[c] for c in columns])
        beta, se = _ols(x, d["y"].to_numpy())
        assert agg.estimate[i] == pytest.approx(beta[term], rel=1e-9, abs=1e-10)
        assert agg.se[i] == pytest.approx(se[term], rel=1e-9)
        assert agg.n[i] == len(d)
    assert agg.events is None
    assert agg.excluded == (None, None, None)


def test_treatment_column_name_is_accepted_for_pool_var():
    ipd = _gaussian_ipd(_continuous_trials())
    assert fit_per_study(ipd, pool_var="arm") == fit_per_study(ipd, pool_var="treat")
    by_name = fit_per_study(ipd, pool_var="arm:age")
    assert by_name.term == "treat:age"
    assert by_name == fit_per_study(ipd, pool_var="treat:age")


def test_covariate_constant_in_a_trial_is_dropped_there_with_a_warning():
    df = _continuous_trials()
    df.loc[df["trial"] == "T2", "sex"] = "F"
    ipd = _gaussian_ipd(df)
    with pytest.warns(UserWarning, match=r"trial 'T2': covariate 'sex' is constant"):
        agg = fit_per_study(ipd, covariates=["age", "sex"])
    d = df[df["trial"] == "T2"]
    x = np.column_stack([np.ones(len(d)), d["arm"], d["age"]])
    beta, se = _ols(x, d["y"].to_numpy())
    assert agg.estimate[1] == pytest.approx(beta[1], rel=1e-9)
    assert agg.se[1] == pytest.approx(se[1], rel=1e-9)
    assert agg.n_excluded == 0


def test_interaction_covariate_constant_in_a_trial_excludes_it():
    df = _continuous_trials()
    df.loc[df["trial"] == "T1", "age"] = 50.0
    with pytest.warns(UserWarning, match=r"trial 'T1' excluded.*'age' is constant"):
        agg = fit_per_study(_gaussian_ipd(df), pool_var="treat:age")
    assert np.isnan(agg.estimate[0]) and np.isnan(agg.se[0])
    assert "treat:age cannot be estimated" in agg.excluded[0]
    assert agg.excluded[1:] == (None, None)


def test_collinear_covariates_exclude_the_trial_naming_the_column():
    df = _continuous_trials()
    df["age_months"] = 12 * df["age"]
    ipd = _gaussian_ipd(df, covariates=("age", "age_months"))
    with pytest.warns(UserWarning, match="singular design"):
        agg = fit_per_study(ipd, covariates=["age", "age_months"])
    assert all("'age_months' is a linear combination" in r for r in agg.excluded)


def test_fewer_rows_than_parameters_excludes_the_trial():
    df = _continuous_trials()
    # Trial T4 has 4 rows; with intercept, treatment, age and sex there is no residual df.
    tiny = pd.DataFrame(
        {"trial": "T4", "arm": [0, 1, 0, 1], "age": [40.0, 50, 60, 45], "sex": list("FMMF")}
    ).assign(y=[1.0, 2.0, 1.5, 2.5])
    ipd = _gaussian_ipd(pd.concat([df, tiny], ignore_index=True))
    with pytest.warns(UserWarning, match=r"trial 'T4' excluded.*4 rows are too few"):
        agg = fit_per_study(ipd, covariates=["age", "sex"])
    assert agg.excluded[3] is not None and agg.excluded[:3] == (None, None, None)


def test_single_row_arm_with_an_interaction_is_excluded():
    df = _continuous_trials()
    lone = df[df["trial"] == "T1"].copy()
    lone = pd.concat([lone[lone["arm"] == 0], lone[lone["arm"] == 1].iloc[:1]])
    lone["trial"] = "T9"
    ipd = _gaussian_ipd(pd.concat([df, lone], ignore_index=True))
    with pytest.warns(UserWarning, match=r"trial 'T9' excluded.*singular design.*'treat:age'"):
        agg = fit_per_study(ipd, pool_var="treat:age")
    assert np.isnan(agg.estimate[3])


def test_bad_pool_var_and_covariate_names_are_refused():
    ipd = _gaussian_ipd(_continuous_trials())
    with pytest.raises(SpecError, match="pool_var 'age'"):
        fit_per_study(ipd, pool_var="age")
    with pytest.raises(SpecError, match="pool_var 'treat:'"):
        fit_per_study(ipd, pool_var="treat:")
    with pytest.raises(IPDDataError, match="'weight'"):
        fit_per_study(ipd, pool_var="treat:weight")
    with pytest.raises(IPDDataError, match="'bmi'"):
        fit_per_study(ipd, covariates=["bmi"])


def test_interaction_with_a_many_level_categorical_is_refused():
    df = _continuous_trials().assign(site=lambda d: np.resize(["a", "b", "c"], len(d)))
    ipd = _gaussian_ipd(df, covariates=("site",))
    with pytest.raises(IPDDataError, match="'site' is categorical with 3 levels"):
        fit_per_study(ipd, pool_var="treat:site")


# --- binomial ------------------------------------------------------------------------------


def _bcg_ipd_and_counts() -> tuple[IPD, pd.DataFrame]:
    from bayes_ipd.datasets import load_bcg_aggregate, load_bcg_ipd

    return load_bcg_ipd(), load_bcg_aggregate()


def test_bcg_log_odds_ratios_equal_the_2x2_formulas():
    ipd, table = _bcg_ipd_and_counts()
    agg = fit_per_study(ipd)
    a, b = table["tpos"].to_numpy(float), table["tneg"].to_numpy(float)
    c, d = table["cpos"].to_numpy(float), table["cneg"].to_numpy(float)
    # log OR = log(ad / bc), Woolf variance 1/a + 1/b + 1/c + 1/d (closed form, 2x2 table)
    np.testing.assert_allclose(agg.estimate, np.log(a * d / (b * c)), rtol=0, atol=1e-6)
    np.testing.assert_allclose(agg.se**2, 1 / a + 1 / b + 1 / c + 1 / d, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(agg.n, (a + b + c + d).astype(int))
    np.testing.assert_array_equal(agg.events, (a + c).astype(int))
    assert agg.scale == "logOR" and agg.n_excluded == 0


def _logistic_by_direct_maximisation(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """MLE by scipy.optimize.minimize; SE from the inverse of X'WX at the optimum."""

    def negloglik(beta: np.ndarray) -> float:
        eta = x @ beta
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta))

    def gradient(beta: np.ndarray) -> np.ndarray:
        return x.T @ (special.expit(x @ beta) - y)

    fit = optimize.minimize(
        negloglik, np.zeros(x.shape[1]), jac=gradient, method="BFGS", options={"gtol": 1e-10}
    )
    p = special.expit(x @ fit.x)
    info = x.T @ (x * (p * (1 - p))[:, None])
    return fit.x, np.sqrt(np.diag(np.linalg.inv(info)))


def _binary_trials(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for j, n in enumerate((80, 120, 150)):
        treat = np.tile([0, 1], n // 2)
        age = rng.normal(60, 10, n)
        eta = -0.5 - 0.6 * treat + 0.04 * (age - 60) + 0.03 * treat * (age - 60)
        y = (rng.random(n) < special.expit(eta)).astype(int)
        frames.append(pd.DataFrame({"trial": f"B{j}", "arm": treat, "age": age, "y": y}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize(
    ("covariates", "pool_var", "term"), [(("age",), "treat", 1), ((), "treat:age", 3)]
)
def test_logistic_with_a_covariate_matches_direct_maximisation(covariates, pool_var, term):
    df = _binary_trials()
    ipd = IPD.from_frame(
        df, study="trial", treatment="arm", outcome="y", covariates=["age"], family="binomial"
    )
    agg = fit_per_study(ipd, covariates=covariates, pool_var=pool_var)
    for i, label in enumerate(agg.studies):
        d = df[df["trial"] == label]
        columns = [np.ones(len(d)), d["arm"], d["age"] - 60]
        if pool_var != "treat":
            columns.append(d["arm"] * (d["age"] - 60))
        beta, se = _logistic_by_direct_maximisation(np.column_stack(columns), d["y"].to_numpy())
        assert agg.estimate[i] == pytest.approx(beta[term], abs=1e-6)
        assert agg.se[i] == pytest.approx(se[term], abs=1e-6)
        assert agg.events[i] == d["y"].sum()


def test_grouped_logistic_fit_equals_logit_on_every_row():
    # The binomial stage one fits the distinct design rows with their event counts; the
    # reference is statsmodels' Logit (Newton) on all rows: a discrete covariate (6
    # distinct rows of 4,000) and a continuous one (every row distinct).
    from statsmodels.discrete.discrete_model import Logit

    from bayes_ipd.families.binomial import BINOMIAL
    from bayes_ipd.families.regression import with_intercept

    rng = np.random.default_rng(8)
    treat = rng.integers(0, 2, 4000).astype(float)
    for z in (rng.integers(0, 3, 4000).astype(float), rng.normal(size=4000)):
        x = np.column_stack([treat, z])
        eta = -1.5 + 0.6 * treat + 0.4 * z
        y = (rng.random(4000) < special.expit(eta)).astype(float)
        reference = Logit(y, with_intercept(x)).fit(disp=0, method="newton")
        for term in (0, 1):
            estimate, se = BINOMIAL.fit_trial({"outcome": y}, x, ["treat", "z"], term)
            assert estimate == pytest.approx(reference.params[term + 1], rel=1e-8)
            assert se == pytest.approx(reference.bse[term + 1], rel=1e-8)


def _binary_ipd_with_problem_trials() -> IPD:
    df = _binary_trials()
    problems = [
        # no events in the control arm
        pd.DataFrame(
            {"trial": "NoCtrlEvents", "arm": [0] * 10 + [1] * 10, "y": [0] * 10 + [1, 0] * 5}
        ),
        # every treated participant had the event
        pd.DataFrame(
            {"trial": "AllTreated", "arm": [0] * 10 + [1] * 10, "y": [1, 0] * 5 + [1] * 10}
        ),
        # events in both arms, but age > 60 predicts the event exactly: complete separation
        pd.DataFrame(
            {
                "trial": "Separated",
                "arm": [0, 1] * 10,
                "age": np.linspace(40, 80, 20),
                "y": (np.linspace(40, 80, 20) > 60).astype(int),
            }
        ),
        # a single participant in the treated arm
        pd.DataFrame({"trial": "OneTreated", "arm": [0] * 10 + [1], "y": [1, 0] * 5 + [0]}),
    ]
    for frame in problems[:2] + problems[3:]:
        frame["age"] = np.linspace(50, 70, len(frame))
    all_rows = pd.concat([df, *problems], ignore_index=True)
    return IPD.from_frame(
        all_rows,
        study="trial",
        treatment="arm",
        outcome="y",
        covariates=["age"],
        family="binomial",
    )


def test_unfittable_binomial_trials_are_excluded_with_reasons_and_warnings():
    ipd = _binary_ipd_with_problem_trials()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        agg = fit_per_study(ipd, covariates=["age"])
    reasons = dict(zip(agg.studies, agg.excluded, strict=True))
    assert reasons["NoCtrlEvents"] == "no events in the control arm"
    assert reasons["AllTreated"] == "every participant in the treated arm had the event"
    assert reasons["Separated"].startswith("separation")
    assert reasons["OneTreated"] == "no events in the treated arm"
    assert [reasons[s] for s in ("B0", "B1", "B2")] == [None, None, None]
    messages = [str(w.message) for w in caught]
    for label in ("NoCtrlEvents", "AllTreated", "Separated", "OneTreated"):
        assert any(m.startswith(f"trial {label!r} excluded") for m in messages), label
        assert np.isnan(agg.estimate[agg.studies.index(label)])
    assert np.all(np.isfinite(agg.estimate[:3]))


def test_quasi_separation_is_detected():
    # No event below age 60, only events above, both at exactly 60: quasi-complete
    # separation (Albert & Anderson 1984), with events and non-events in both arms
    age = np.r_[np.linspace(40, 58, 9), [60.0] * 4, np.linspace(62, 80, 7)]
    y = np.r_[np.zeros(9), [0, 1, 0, 1], np.ones(7)]
    frame = pd.DataFrame({"trial": "Q", "arm": np.tile([0, 1], 10), "age": age, "y": y})
    df = pd.concat([_binary_trials(), frame], ignore_index=True)
    ipd = IPD.from_frame(
        df, study="trial", treatment="arm", outcome="y", covariates=["age"], family="binomial"
    )
    with pytest.warns(UserWarning, match=r"trial 'Q' excluded.*separation"):
        agg = fit_per_study(ipd, covariates=["age"])
    assert agg.excluded[:3] == (None, None, None)


# --- survival ------------------------------------------------------------------------------


def _survival_trials(seed: int = 21) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for j, n in enumerate((40, 60, 80)):
        treat = np.tile([0, 1], n // 2)
        age = rng.normal(60, 10, n)
        hazard = 0.1 * np.exp(-0.4 * treat + 0.03 * (age - 60) + 0.02 * treat * (age - 60))
        # Whole-month times make many ties, so the tie method matters.
        time = np.ceil(rng.exponential(1 / hazard))
        event = (rng.random(n) < 0.75).astype(int)
        frames.append(
            pd.DataFrame(
                {"trial": f"S{j}", "arm": treat, "age": age, "months": time, "died": event}
            )
        )
    return pd.concat(frames, ignore_index=True)


def _survival_ipd(df: pd.DataFrame) -> IPD:
    return IPD.from_frame(
        df,
        study="trial",
        treatment="arm",
        time="months",
        event="died",
        covariates=["age"],
        family="survival",
    )


@pytest.mark.parametrize(
    ("covariates", "pool_var", "name"),
    [((), "treat", "arm"), (("age",), "treat", "arm"), ((), "treat:age", "arm_age")],
)
def test_cox_efron_matches_lifelines(covariates, pool_var, name):
    df = _survival_trials()
    assert df.duplicated(["trial", "months"]).any()  # ties present
    agg = fit_per_study(_survival_ipd(df), covariates=covariates, pool_var=pool_var)
    assert agg.scale == "logHR"
    for i, label in enumerate(agg.studies):
        d = df[df["trial"] == label].assign(arm_age=lambda t: t["arm"] * t["age"])
        columns = ["arm", *covariates] + (["age", "arm_age"] if pool_var != "treat" else [])
        # lifelines' CoxPHFitter uses Efron's method for ties; tight precision so that its
        # optimiser stops at the maximum to well below the tolerance here
        cph = CoxPHFitter().fit(
            d[[*columns, "months", "died"]], "months", "died", fit_options={"precision": 1e-12}
        )
        assert agg.estimate[i] == pytest.approx(cph.params_[name], abs=1e-5)
        assert agg.se[i] == pytest.approx(cph.standard_errors_[name], abs=1e-5)
        assert agg.events[i] == d["died"].sum()


def test_unfittable_survival_trials_are_excluded():
    df = _survival_trials()
    problems = [
        # no deaths among the controls
        pd.DataFrame(
            {
                "trial": "NoCtrlEvents",
                "arm": [0, 1] * 6,
                "months": np.arange(1.0, 13.0),
                "died": [0, 1] * 6,
            }
        ),
        # every treated participant dies before any control does: monotone likelihood
        pd.DataFrame(
            {
                "trial": "Monotone",
                "arm": [1] * 6 + [0] * 6,
                "months": np.arange(1.0, 13.0),
                "died": [1] * 12,
            }
        ),
        # a single treated participant, censored: no events in that arm
        pd.DataFrame(
            {
                "trial": "OneTreated",
                "arm": [0] * 6 + [1],
                "months": [2.0, 3, 4, 5, 6, 7, 8],
                "died": [1, 1, 0, 1, 0, 1, 0],
            }
        ),
    ]
    for frame in problems:
        frame["age"] = 60.0
    ipd = _survival_ipd(pd.concat([df, *problems], ignore_index=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        agg = fit_per_study(ipd)
    reasons = dict(zip(agg.studies, agg.excluded, strict=True))
    assert reasons["NoCtrlEvents"] == "no events in the control arm"
    assert reasons["Monotone"].startswith("monotone partial likelihood")
    assert reasons["OneTreated"] == "no events in the treated arm"
    assert [reasons[s] for s in ("S0", "S1", "S2")] == [None, None, None]
    messages = " | ".join(str(w.message) for w in caught)
    for label in ("NoCtrlEvents", "Monotone", "OneTreated"):
        assert f"trial {label!r} excluded" in messages


def test_single_treated_row_that_fails_first_gives_a_monotone_likelihood():
    # The lone treated participant dies first; afterwards only controls are at risk, so
    # the partial likelihood increases without bound in the treatment coefficient.
    lone = pd.DataFrame(
        {
            "trial": "Lone",
            "arm": [1, 0, 0, 0, 0, 0],
            "age": 60.0,
            "months": [1.0, 2, 3, 4, 5, 6],
            "died": [1, 1, 0, 1, 0, 1],
        }
    )
    ipd = _survival_ipd(pd.concat([_survival_trials(), lone], ignore_index=True))
    with pytest.warns(UserWarning, match=r"trial 'Lone' excluded.*monotone"):
        agg = fit_per_study(ipd)
    assert np.isnan(agg.se[3])


def test_outcome_reproduced_exactly_excludes_the_trial():
    exact = pd.DataFrame(
        {"trial": "Exact", "arm": [0, 1] * 4, "age": 50.0, "sex": "F", "y": [1.0, 3.0] * 4}
    )
    ipd = _gaussian_ipd(pd.concat([_continuous_trials(), exact], ignore_index=True))
    with pytest.warns(UserWarning, match=r"trial 'Exact' excluded.*zero residual variance"):
        agg = fit_per_study(ipd)
    assert np.isnan(agg.estimate[3]) and agg.excluded[:3] == (None, None, None)


def test_constant_outcome_excludes_the_trial_and_the_rest_are_pooled():
    from bayes_ipd.two_stage import two_stage

    rng = np.random.default_rng(3)
    frames = [
        pd.DataFrame({"trial": "C1", "arm": np.tile([0, 1], 10), "y": rng.normal(0, 1, 20)}),
        pd.DataFrame({"trial": "C2", "arm": np.tile([0, 1], 15), "y": rng.normal(1, 2, 30)}),
        pd.DataFrame({"trial": "Flat", "arm": np.tile([0, 1], 6), "y": 5.0}),
    ]
    df = pd.concat(frames, ignore_index=True)
    ipd = _gaussian_ipd(df, covariates=())
    with pytest.warns(UserWarning, match=r"trial 'Flat' excluded.*constant"):
        agg = fit_per_study(ipd)
    assert agg.excluded[:2] == (None, None)
    assert "constant" in agg.excluded[2] and "5.0" in agg.excluded[2]
    assert np.isnan(agg.estimate[2]) and np.isnan(agg.se[2])
    # Difference in means with the pooled-SD SE (closed form), then the inverse-variance mean
    estimates, variances = [], []
    for frame in frames[:2]:
        y0 = frame.loc[frame["arm"] == 0, "y"].to_numpy()
        y1 = frame.loc[frame["arm"] == 1, "y"].to_numpy()
        n0, n1 = len(y0), len(y1)
        s2 = ((n0 - 1) * y0.var(ddof=1) + (n1 - 1) * y1.var(ddof=1)) / (n0 + n1 - 2)
        estimates.append(y1.mean() - y0.mean())
        variances.append(s2 * (1 / n0 + 1 / n1))
    w = 1 / np.asarray(variances)
    with pytest.warns(UserWarning, match=r"trial 'Flat' excluded"):
        result = two_stage(ipd, method="FE")
    assert result.pooled.k == 2
    assert result.pooled.estimate == pytest.approx(np.sum(w * estimates) / w.sum(), rel=1e-9)
    assert result.pooled.se == pytest.approx(np.sqrt(1 / w.sum()), rel=1e-9)


@pytest.mark.parametrize("level", [0.0, 1e10])
def test_outcome_constant_within_each_arm_is_zero_residual_at_any_scale(level):
    exact = pd.DataFrame(
        {"trial": "Exact", "arm": [0, 1] * 4, "y": level + np.array([0.1, 0.7] * 4)}
    )
    df = pd.concat([_continuous_trials(), exact], ignore_index=True)
    ipd = _gaussian_ipd(df, covariates=())
    with pytest.warns(UserWarning, match=r"trial 'Exact' excluded.*zero residual variance"):
        agg = fit_per_study(ipd)
    assert np.isnan(agg.estimate[3]) and agg.excluded[:3] == (None, None, None)


def test_binomial_trials_with_no_events_or_only_events_in_both_arms():
    extra = pd.DataFrame(
        {
            "trial": ["NoEvents"] * 10 + ["AllEvents"] * 10,
            "arm": [0, 1] * 10,
            "age": np.linspace(50, 70, 20),
            "y": [0] * 10 + [1] * 10,
        }
    )
    df = pd.concat([_binary_trials(), extra], ignore_index=True)
    ipd = IPD.from_frame(
        df, study="trial", treatment="arm", outcome="y", covariates=["age"], family="binomial"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        agg = fit_per_study(ipd)
    reasons = dict(zip(agg.studies, agg.excluded, strict=True))
    assert reasons["NoEvents"] == "no events in either arm"
    assert reasons["AllEvents"] == "every participant in both arms had the event"
    assert [reasons[s] for s in ("B0", "B1", "B2")] == [None, None, None]
    messages = [str(w.message) for w in caught]
    assert "trial 'NoEvents' excluded from pooling: no events in either arm" in messages


def test_survival_trial_with_no_events_in_either_arm():
    none = pd.DataFrame(
        {
            "trial": "NoEvents",
            "arm": [0, 1] * 6,
            "age": 60.0,
            "months": np.arange(1.0, 13.0),
            "died": 0,
        }
    )
    with pytest.warns(UserWarning, match=r"'NoEvents' have no events"):
        ipd = _survival_ipd(pd.concat([_survival_trials(), none], ignore_index=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        agg = fit_per_study(ipd)
    reasons = dict(zip(agg.studies, agg.excluded, strict=True))
    assert reasons["NoEvents"] == "no events in either arm"
    assert [reasons[s] for s in ("S0", "S1", "S2")] == [None, None, None]
    messages = [str(w.message) for w in caught]
    assert "trial 'NoEvents' excluded from pooling: no events in either arm" in messages
