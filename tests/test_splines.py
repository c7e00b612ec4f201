"""Restricted cubic splines: the basis, knots, the spec, errors and a planted curve.

The basis is checked against an independent one (patsy's natural cubic regression spline
``cr`` with the same knots spans the same space: cubic between knots, linear beyond the
outer ones) and against hand-computed values; the fit recovers a planted non-linear
within-trial effect modification while an opposite across-trial association stays out of
the within-trial curve (as tests/test_fitting.py checks for linear terms).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import patsy
import pytest
from matplotlib.figure import Figure

from bayes_ipd.cli import main
from bayes_ipd.data import IPD
from bayes_ipd.errors import SpecError
from bayes_ipd.one_stage.design import build_design
from bayes_ipd.one_stage.fitting import fit
from bayes_ipd.plots.effect_curve import effect_curve_plot
from bayes_ipd.spec import ModelSpec, SamplerSettings, parse_analysis_spec
from bayes_ipd.splines import KNOT_QUANTILES, expand_splines, place_knots, rcs_basis

KNOTS = (1.0, 3.0, 4.0, 8.0, 9.5)


def test_basis_values_by_hand():
    # x = 5, knots (1, 5, 9): (5 - 1)^3 / (9 - 1)^2 = 1; x = 10: (729 - 125 * 2 + 1) / 64
    got = rcs_basis(np.array([0.0, 5.0, 10.0]), (1.0, 5.0, 9.0))
    np.testing.assert_allclose(got, [[0.0, 0.0], [5.0, 1.0], [10.0, 7.5]], rtol=1e-12)


def test_basis_spans_the_natural_cubic_spline_space():
    x = np.linspace(-2.0, 12.0, 301)
    ours = np.column_stack([np.ones_like(x), rcs_basis(x, KNOTS)])
    theirs = np.asarray(
        patsy.dmatrix(
            "cr(x, knots=inner, lower_bound=lo, upper_bound=hi) - 1",
            {"x": x, "inner": KNOTS[1:-1], "lo": KNOTS[0], "hi": KNOTS[-1]},
        )
    )
    assert ours.shape[1] == theirs.shape[1] == len(KNOTS)
    coef, *_ = np.linalg.lstsq(ours, theirs, rcond=None)
    assert np.abs(ours @ coef - theirs).max() < 1e-8
    # and a cubic (not in the space: it is not linear beyond the outer knots) is far off
    cubic = x**3
    c, *_ = np.linalg.lstsq(ours, cubic, rcond=None)
    assert np.abs(ours @ c - cubic).max() > 1.0


def test_basis_is_linear_beyond_the_outer_knots():
    for side in (np.linspace(-5, KNOTS[0], 50), np.linspace(KNOTS[-1], 20, 50)):
        second = np.diff(rcs_basis(side, KNOTS), n=2, axis=0)
        assert np.abs(second).max() < 1e-9


def test_knots_at_harrell_quantiles_and_errors():
    values = np.arange(1000.0)
    for n in (3, 4, 5):
        basis = place_knots(values, n, "age")
        np.testing.assert_allclose(basis.knots, np.quantile(values, KNOT_QUANTILES[n]))
        assert len(basis.terms) == n - 1 and basis.terms[0] == "age"
    with pytest.raises(SpecError, match=r"'dose' has 3 distinct value\(s\), fewer than the 4"):
        place_knots(np.repeat([1.0, 2.0, 3.0], 50), 4, "dose")
    with pytest.raises(SpecError, match="3, 4 or 5 knots"):
        ModelSpec("gaussian", covariates=["age"], splines={"age": 6})
    with pytest.raises(SpecError, match=r"'bmi' is not in model\.covariates"):
        ModelSpec("gaussian", covariates=["age"], splines={"bmi": 4})


def test_toml_syntax():
    spec = parse_analysis_spec(
        """
[data]
path = "x.csv"
study = "trial"
treatment = "treat"
outcome = "y"
family = "gaussian"
[model]
covariates = ["age"]
interactions = ["age"]
splines = {age = 4}
""",
        base_dir=".",
    )
    assert dict(spec.model.splines) == {"age": 4}
    assert spec.model.to_dict()["splines"] == {"age": 4}


# ------------------------------------------------------------------- planted curve

STUDY_MEAN_AGE = np.linspace(40.0, 70.0, 10)
ACROSS = -0.5  # per year of trial mean age: the ecological association


def within_curve(age):
    """The planted within-trial effect modification (a sigmoid, not a straight line)."""
    return 6.0 * np.tanh((age - 55.0) / 6.0)


def _planted_frame(seed: int = 31, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for k, mean_age in enumerate(STUDY_MEAN_AGE):
        age = rng.normal(mean_age, 9.0, n)
        t = np.tile([0.0, 1.0], n // 2)
        # the trial effect at its mean age follows the across-trial line; within the trial
        # the effect follows within_curve (centred at the trial so the two stay apart)
        trial_effect = -5.0 + ACROSS * (mean_age - 55.0) + rng.normal(0, 0.5)
        modifier = within_curve(age) - within_curve(age).mean()
        y = 120 + rng.normal(0, 5) + 0.3 * (age - 50) + t * (trial_effect + modifier)
        parts.append(
            pd.DataFrame({"trial": f"S{k}", "treat": t, "age": age, "y": y + rng.normal(0, 6, n)})
        )
    return pd.concat(parts, ignore_index=True)


def _ipd(frame):
    return IPD.from_frame(frame, study="trial", treatment="treat", outcome="y", covariates=["age"])


SPLINE_SPEC = ModelSpec(
    "gaussian", covariates=["age"], interactions=["age"], splines={"age": 4}, residual_sd="common"
)


@pytest.fixture(scope="module")
def spline_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(
            _ipd(_planted_frame()),
            SPLINE_SPEC,
            # gamma_across mixes slowly (bulk ESS ~0.07 per draw): 2 x 1000 draws give an
            # ESS near 140, enough for the 97.5% quantile asserted below
            SamplerSettings(draws=1000, tune=1000, chains=2, seed=5, progress=False),
        )


def test_design_has_the_spline_terms_within_and_across():
    frame = _planted_frame()
    ipd = _ipd(frame)
    design = build_design(ipd, SPLINE_SPEC)
    assert design.covariate_terms == ("age", "age'1", "age'2")
    assert design.interaction_terms == design.covariate_terms
    (basis,) = design.splines
    np.testing.assert_allclose(basis.knots, np.quantile(frame["age"], KNOT_QUANTILES[4]))
    # input untouched
    assert list(ipd.covariates.columns) == ["age"]
    assert expand_splines(ipd, SPLINE_SPEC)[1].splines == {}


def test_planted_curve_recovered_and_across_trial_association_kept_out(spline_fit):
    ages = np.array([40.0, 47.0, 55.0, 63.0, 70.0])
    curve = spline_fit.effect_curve("age", x=ages)
    # differences from age 55 (the curve's level belongs to the average trial): the
    # planted sigmoid rises by ~5.5 from 55 to 70, the across-trial line would fall by 7.5
    post = spline_fit.idata.posterior
    from bayes_ipd.splines import effect_curve_draws

    (basis,) = spline_fit.built.design.splines
    gamma = post["gamma_within"].sel(interaction=list(basis.terms)).values.reshape(-1, 3)
    draws = effect_curve_draws(basis, np.zeros(len(gamma)), gamma, np.zeros(3), ages)
    diff = draws - draws[:, [2]]
    truth = within_curve(ages) - within_curve(55.0)
    lo, hi = np.quantile(diff, [0.005, 0.995], axis=0)
    assert np.all((lo - 0.5 < truth) & (truth < hi + 0.5)), (lo, hi, truth)
    rise = diff[:, 4] - diff[:, 0]  # 40 -> 70 within trials: planted +10.9
    assert np.quantile(rise, 0.025) > 5.0  # an ecological leak would pull it towards -15
    # the across-trial association is carried by gamma_across of the linear term. Its
    # posterior (2 x 2000 draws) has q025 = -1.61, q975 = -0.26 and P(< 0) = 0.992: the
    # 99.5% quantile sits at +0.05, so the claim is made at 97.5%; the margin of 0.26 is
    # over 3 Monte Carlo SEs of a 97.5% quantile at ESS 140 (sqrt(.025 * .975 / 140) over
    # the density 0.17 there: 0.08)
    across = post["gamma_across"].sel(interaction="age").values
    lo, hi = np.quantile(across, [0.005, 0.995])
    assert lo < ACROSS < hi
    assert np.quantile(across, 0.975) < 0
    assert np.all(np.diff(curve.median[[0, 2, 4]]) > 0)
    assert isinstance(spline_fit.effect_curve_plot("age"), Figure)


def test_spline_with_too_few_distinct_values_is_an_error_line(tmp_path, capsys):
    frame = _planted_frame().assign(dose=lambda d: np.where(d["age"] > 55, 2.0, 1.0))
    frame.to_csv(tmp_path / "trials.csv", index=False)
    (tmp_path / "spec.toml").write_text(
        """
[data]
path = "trials.csv"
study = "trial"
treatment = "treat"
outcome = "y"
family = "gaussian"
[model]
covariates = ["dose"]
splines = {dose = 3}
"""
    )
    code = main(["run", str(tmp_path / "spec.toml")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: ") and "'dose' has 2 distinct value(s)" in err[-1]


# ------------------------------------------------------------- the two-stage route


@pytest.fixture(scope="module")
def two_stage_curve():
    from bayes_ipd.two_stage.splines import two_stage_effect_curve

    return two_stage_effect_curve(
        _ipd(_planted_frame()), "age", 4, x=np.array([40.0, 47.0, 55.0, 63.0, 70.0])
    )


def _differences_from_55(curve):
    """Effect at each age minus that at 55 (index 2), with its SE from the pooled
    covariance (the curve is linear in the pooled coefficients)."""
    c = np.column_stack([np.ones(5), rcs_basis(curve.x, curve.knots) - curve.centre])
    diff = c - c[[2]]
    return diff @ curve.coefficients, np.sqrt(
        np.einsum("gi,ij,gj->g", diff, curve.covariance, diff)
    )


def test_two_stage_curve_recovers_the_planted_curve_without_the_across_trial_part(
    two_stage_curve,
):
    est, se = _differences_from_55(two_stage_curve)
    truth = within_curve(two_stage_curve.x) - within_curve(55.0)
    # 4 SE of sampling error plus 0.5 for the 4-knot spline's approximation of the tanh
    # (the margin the one-stage test above allows)
    assert np.all(np.abs(est - truth) < 4 * se + 0.5), (est, se, truth)
    # 40 -> 70 within trials: planted +11.8; the across-trial line alone would give -15
    rise, rise_se = est[4] - est[0], se[4] + se[0]
    assert rise - 4 * rise_se > 5.0
    assert two_stage_curve.studies == tuple(f"S{k}" for k in range(10))
    np.testing.assert_allclose(
        two_stage_curve.upper - two_stage_curve.estimate, 1.959964 * two_stage_curve.se
    )
    assert isinstance(two_stage_curve.plot(), Figure)


@pytest.mark.parametrize("family", ["gaussian", "binomial"])
def test_two_stage_trial_covariance_equals_statsmodels(family):
    import statsmodels.api as sm

    from bayes_ipd.families import get_family
    from bayes_ipd.two_stage.splines import trial_spline_coefficients

    rng = np.random.default_rng(8)
    n = 400
    t = np.tile([0.0, 1.0], n // 2)
    b = rcs_basis(rng.normal(50, 10, n), (38.0, 47.0, 53.0, 62.0))
    bc = (b - b.mean(axis=0)) / b.std(axis=0)
    x = np.column_stack([t, bc, t[:, None] * bc])
    eta = x @ rng.normal(0, 0.3, x.shape[1])
    if family == "gaussian":
        y = 3 + eta + rng.normal(0, 2, n)
        direct = sm.OLS(y, sm.add_constant(x)).fit()
    else:
        y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
        direct = sm.Logit(y, sm.add_constant(x)).fit(disp=0, method="newton", tol=1e-12)
    pooled = [0, 4, 5, 6]
    names = ["treat", "a", "b", "c", "treat:a", "treat:b", "treat:c"]
    est, cov = trial_spline_coefficients(get_family(family), {"outcome": y}, x, names, pooled)
    # independent: statsmodels' own covariance of the one fit (OLS classical, inverse
    # information of the logistic ML)
    idx = [i + 1 for i in pooled]
    np.testing.assert_allclose(est, direct.params[idx], rtol=1e-6)
    np.testing.assert_allclose(cov, direct.cov_params()[np.ix_(idx, idx)], rtol=1e-5, atol=1e-12)


def test_two_stage_curve_agrees_with_the_one_stage_curve(spline_fit, two_stage_curve):
    import arviz as az

    from bayes_ipd.splines import effect_curve_draws

    (basis,) = spline_fit.built.design.splines
    assert basis.knots == two_stage_curve.knots  # the same pooled quantiles
    post = spline_fit.idata.posterior
    gamma = post["gamma_within"].sel(interaction=list(basis.terms)).values
    ages = two_stage_curve.x
    flat = gamma.reshape(-1, 3)
    draws = effect_curve_draws(basis, np.zeros(len(flat)), flat, np.zeros(3), ages)
    diff = (draws - draws[:, [2]]).reshape(gamma.shape[0], gamma.shape[1], -1)
    one_mean = diff.mean(axis=(0, 1))
    mcse = np.array([az.mcse(diff[:, :, g], method="mean").item() if g != 2 else 0.0
                     for g in range(len(ages))])  # fmt: skip
    two, two_se = _differences_from_55(two_stage_curve)
    # Both estimate the same within-trial curve from the same data; they differ by Monte
    # Carlo error and by the routes' own differences (priors, one vs two stages), allowed
    # as a fifth of a two-stage SE (measured: gaps <= 0.016, SEs 0.37-0.52, MCSE <= 0.04).
    off = [0, 1, 3, 4]  # both differences are 0 by construction at age 55
    gap = np.abs(one_mean - two)[off]
    assert np.all(gap < (4 * mcse + 0.2 * two_se)[off]), (one_mean, two, two_se)
    # The levels (effect in the average trial) too: the one-stage level sits at the mean of
    # the trial means, where its across-trial term is 0; measured gaps <= 0.08, SE ~1.5.
    design = spline_fit.built.design
    cols = [design.covariate_terms.index(t) for t in basis.terms]
    centre = np.asarray(design.term_means)[:, cols].mean(axis=0)
    mu = post["mu"].values.reshape(-1)
    level = effect_curve_draws(basis, mu, flat, centre, ages).reshape(diff.shape)
    level_mcse = np.array([az.mcse(level[:, :, g], method="mean").item() for g in range(5)])
    gap = np.abs(level.mean(axis=(0, 1)) - two_stage_curve.estimate)
    assert np.all(gap < 4 * level_mcse + 0.2 * two_stage_curve.se), gap
    fig = effect_curve_plot(
        {"one-stage": spline_fit.effect_curve("age", x=ages).to_frame(),
         "two-stage": two_stage_curve.to_frame()},
        covariate="age",
    )  # fmt: skip
    lines = [line for line in fig.axes[0].get_lines() if line.get_label() == "two-stage"]
    np.testing.assert_allclose(lines[0].get_ydata(), two_stage_curve.estimate)


def test_two_stage_curve_errors():
    from bayes_ipd.errors import IPDDataError
    from bayes_ipd.two_stage.splines import two_stage_effect_curve

    ipd = _ipd(_planted_frame(n=40))
    with pytest.raises(IPDDataError, match="'bmi'"):
        two_stage_effect_curve(ipd, "bmi")
    with pytest.raises(SpecError, match="'age' has 2 distinct"):
        two_stage_effect_curve(
            _ipd(_planted_frame(n=40).assign(age=lambda d: (d["age"] > 55).astype(float))), "age"
        )
