"""Empirical tau priors by name: Turner et al. (2015) and Rhodes et al. (2015).

The tables below are typed here, row per outcome type (as the papers print them), from
R package bayesmeta 3.4, ``R/bayesmeta.R`` (``meanmat``/``sdmat`` for Turner et al. 2015,
Stat Med 34:984-998, Table IV; ``locationmat[.r|.c]``/``scalemat[.r|.c]`` for Rhodes et al.
2015, J Clin Epidemiol 68:52-60, Table 3 and Appendix Tables A.3.1 / A.3.2). They are held
independently of the module's own tables (which are laid out per comparison type).
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from scipy import stats

from bayes_ipd.empirical_priors import (
    RHODES_COMPARISONS,
    RHODES_OUTCOMES,
    TURNER_COMPARISONS,
    TURNER_OUTCOMES,
    rhodes_prior,
    turner_prior,
)
from bayes_ipd.errors import PriorError
from bayes_ipd.priors import parse_prior, resolve_priors, tau_scale_prior
from bayes_ipd.spec import ModelSpec

# Turner 2015 Table IV: rows = outcome types; columns = pharm vs placebo, pharm vs pharm,
# non-pharm vs placebo, non-pharm vs pharm, non-pharm vs non-pharm.
TURNER_MU = (
    (-3.95, -4.18, -4.17, -2.92, -3.50),
    (-3.52, -3.75, -3.74, -2.49, -3.08),
    (-3.71, -3.95, -3.93, -2.68, -3.27),
    (-2.34, -2.58, -2.56, -1.31, -1.90),
    (-2.14, -2.37, -2.36, -1.11, -1.69),
    (-2.99, -3.23, -3.21, -1.96, -2.55),
    (-2.71, -2.94, -2.93, -1.67, -2.26),
    (-2.29, -2.53, -2.51, -1.26, -1.85),
    (-1.87, -2.10, -2.10, -0.84, -1.43),
    (-2.49, -2.73, -2.71, -1.46, -2.05),
    (-2.06, -2.29, -2.28, -1.03, -1.61),
    (-1.83, -2.06, -2.05, -0.80, -1.38),
    (-2.54, -2.78, -2.77, -1.51, -2.10),
    (-2.12, -2.35, -2.34, -1.09, -1.67),
    (-1.77, -2.00, -1.99, -0.74, -1.33),
    (-2.70, -2.93, -2.92, -1.67, -2.26),
)
TURNER_SIGMA = (
    (1.34, 1.41, 1.55, 1.02, 1.26),
    (1.74, 1.79, 1.91, 1.50, 1.68),
    (1.74, 1.79, 1.91, 1.51, 1.68),
    (1.74, 1.79, 1.91, 1.50, 1.68),
    (1.74, 1.79, 1.91, 1.50, 1.68),
    (1.74, 1.79, 1.91, 1.51, 1.68),
    (1.74, 1.79, 1.92, 1.51, 1.68),
    (1.53, 1.58, 1.72, 1.25, 1.46),
    (1.52, 1.58, 1.71, 1.24, 1.45),
    (1.52, 1.58, 1.71, 1.24, 1.45),
    (1.51, 1.58, 1.71, 1.24, 1.45),
    (1.52, 1.58, 1.71, 1.25, 1.45),
    (1.54, 1.60, 1.73, 1.27, 1.47),
    (1.53, 1.60, 1.72, 1.27, 1.47),
    (1.52, 1.58, 1.71, 1.24, 1.45),
    (1.52, 1.58, 1.71, 1.25, 1.45),
)
TURNER_OUTCOME_NAMES = (
    "all-cause mortality",
    "obstetric outcomes",
    "cause-specific mortality / major morbidity event / composite (mortality or morbidity)",
    "resource use / hospital stay / process",
    "surgical / device related success / failure",
    "withdrawals / drop-outs",
    "internal / structure-related outcomes",
    "general physical health indicators",
    "adverse events",
    "infection / onset of new disease",
    "signs / symptoms reflecting continuation / end of condition",
    "pain",
    "quality of life / functioning (dichotomized)",
    "mental health indicators",
    "biological markers (dichotomized)",
    "subjective outcomes (various)",
)
TURNER_COMPARISON_NAMES = (
    "pharmacological vs. placebo / control",
    "pharmacological vs. pharmacological",
    "non-pharmacological vs. placebo / control",
    "non-pharmacological vs. pharmacological",
    "non-pharmacological vs. non-pharmacological",
)

# Rhodes 2015: rows = outcome types; columns = pharm vs placebo, pharm vs pharm, non-pharm.
RHODES_LOCATION = {
    "other": (  # Table 3
        (-4.13, -4.40, -3.99),
        (-2.55, -2.83, -2.41),
        (-2.43, -2.70, -2.29),
        (-3.16, -3.44, -3.02),
        (-3.00, -3.27, -2.86),
        (-2.99, -3.27, -3.85),
        (-3.41, -3.68, -3.27),
        (-2.76, -3.03, -2.62),
    ),
    "respiratory": (  # Table A.3.1
        (-6.03, -6.31, -5.89),
        (-4.46, -4.73, -4.32),
        (-4.33, -4.61, -4.19),
        (-5.07, -5.34, -4.93),
        (-4.90, -5.18, -4.76),
        (-4.90, -5.17, -4.76),
        (-5.31, -5.59, -5.17),
        (-4.66, -4.94, -4.52),
    ),
    "cancer": (  # Table A.3.2
        (-1.57, -1.85, -1.43),
        (0.01, -0.27, 0.15),
        (-0.13, -0.14, 0.27),
        (-0.60, -0.88, -0.46),
        (-0.44, -0.71, -0.30),
        (-0.43, -0.71, -0.29),
        (-0.85, -1.13, -0.71),
        (-0.20, -0.48, -0.06),
    ),
}
RHODES_SCALE = {
    "other": (
        (2.34, 2.31, 2.11),
        (2.73, 2.70, 2.57),
        (2.50, 2.46, 2.32),
        (2.50, 2.44, 2.27),
        (2.50, 2.47, 2.33),
        (2.16, 2.14, 1.93),
        (2.83, 2.78, 2.66),
        (2.58, 2.59, 2.41),
    ),
    "respiratory": (
        (2.36, 2.31, 2.21),
        (2.74, 2.70, 2.57),
        (2.51, 2.46, 2.33),
        (2.51, 2.45, 2.28),
        (2.50, 2.47, 2.33),
        (2.17, 2.14, 1.94),
        (2.83, 2.78, 2.66),
        (2.59, 2.59, 2.41),
    ),
    "cancer": (
        (2.45, 2.41, 2.24),
        (2.83, 2.79, 2.68),
        (2.61, 2.56, 2.45),
        (2.61, 2.55, 2.40),
        (2.60, 2.57, 2.46),
        (2.28, 2.25, 2.08),
        (2.93, 2.87, 2.78),
        (2.68, 2.68, 2.53),
    ),
}
RHODES_OUTCOME_NAMES = (
    "obstetric outcome",
    "resource use and hospital stay / process",
    "internal and external structure-related outcome",
    "general physical health and adverse event and pain and quality of life / functioning",
    "signs / symptoms reflecting continuation / end of condition and infection / onset of new "
    "acute / chronic disease",
    "mental health outcome",
    "biological marker",
    "various subjectively measured outcomes",
)
RHODES_COMPARISON_NAMES = (
    "pharmacological vs. placebo / control",
    "pharmacological vs. pharmacological",
    "non-pharmacological (any)",
)

TURNER_CELLS = [
    (o, c, TURNER_MU[i][j], TURNER_SIGMA[i][j])
    for i, o in enumerate(TURNER_OUTCOME_NAMES)
    for j, c in enumerate(TURNER_COMPARISON_NAMES)
]
RHODES_CELLS = [
    (o, c, area, RHODES_LOCATION[area][i][j], RHODES_SCALE[area][i][j])
    for area in ("other", "respiratory", "cancer")
    for i, o in enumerate(RHODES_OUTCOME_NAMES)
    for j, c in enumerate(RHODES_COMPARISON_NAMES)
]


def test_category_strings_are_bayesmeta_s():
    assert TURNER_OUTCOMES == TURNER_OUTCOME_NAMES
    assert TURNER_COMPARISONS == TURNER_COMPARISON_NAMES
    assert RHODES_OUTCOMES == RHODES_OUTCOME_NAMES
    assert RHODES_COMPARISONS == RHODES_COMPARISON_NAMES
    assert len(TURNER_CELLS) == 80 and len(RHODES_CELLS) == 72


@pytest.mark.parametrize(("outcome", "comparison", "mu", "sigma"), TURNER_CELLS)
def test_every_turner_cell(outcome, comparison, mu, sigma):
    text = f"turner(outcome = '{outcome}', comparison = '{comparison}')"
    prior = parse_prior(text)
    assert prior.dist == "log_normal"
    assert prior.params == (mu, sigma)
    assert prior.effect_scale == "logOR"
    assert parse_prior(str(prior)) == prior  # round trip through the spec text


@pytest.mark.parametrize(("outcome", "comparison", "area", "location", "scale"), RHODES_CELLS)
def test_every_rhodes_cell(outcome, comparison, area, location, scale):
    prior = rhodes_prior(outcome, comparison, area)
    assert prior.dist == "log_student_t"
    assert prior.params == (5.0, location, scale)
    assert parse_prior(str(prior)) == prior


def test_marginal_settings():
    # Turner 2015 p. 993 (any outcome, any comparison): log tau² ~ N(-2.56, 1.74²);
    # Rhodes 2015 Sec. 3.3 (general setting): location -3.44, scale 2.59.
    assert parse_prior("turner()").params == (-2.56, 1.74)
    assert parse_prior("rhodes()").params == (5.0, -3.44, 2.59)


def _printed_quantiles(prior) -> np.ndarray:
    family = "binomial" if prior.effect_scale == "logOR" else "gaussian"
    text = resolve_priors(family, {"tau": prior}, outcome_sd=1.0).describe()
    line = next(x for x in text.splitlines() if x.startswith("tau²"))
    found = re.search(r"2\.5% / 50% / 97\.5%: (\S+) / (\S+) / (\S+)", line)
    assert found, line
    return np.array([float(x) for x in found.groups()])


@pytest.mark.parametrize(("outcome", "comparison", "mu", "sigma"), TURNER_CELLS[::7])
def test_printed_turner_tau_quantiles_match_the_closed_form(outcome, comparison, mu, sigma):
    # tau = exp(X / 2), X ~ N(mu, sigma): q_p = exp((mu + sigma z_p) / 2)
    z = stats.norm.ppf([0.025, 0.5, 0.975])
    expected = np.exp((mu + sigma * z) / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a log-OR prior on a binomial model: no warning
        printed = _printed_quantiles(turner_prior(outcome, comparison))
    np.testing.assert_allclose(printed, expected, rtol=5e-4)  # printed to 4 digits


def test_printed_rhodes_tau_quantiles_match_the_closed_form():
    location, scale = RHODES_LOCATION["other"][5][2], RHODES_SCALE["other"][5][2]
    prior = rhodes_prior(RHODES_OUTCOME_NAMES[5], RHODES_COMPARISON_NAMES[2], outcome_sd=1.0)
    expected = np.exp((location + scale * stats.t.ppf([0.025, 0.5, 0.975], 5)) / 2)
    np.testing.assert_allclose(_printed_quantiles(prior), expected, rtol=5e-4)


def test_rhodes_rescaled_to_a_mean_difference():
    # tau_MD = S tau_SMD: every quantile of tau scales by S.
    smd = rhodes_prior(RHODES_OUTCOME_NAMES[0], RHODES_COMPARISON_NAMES[0])
    md = parse_prior(
        f"rhodes(outcome = '{RHODES_OUTCOME_NAMES[0]}', "
        f"comparison = '{RHODES_COMPARISON_NAMES[0]}', outcome_sd = 12.5)"
    )
    q = [0.025, 0.5, 0.975]
    np.testing.assert_allclose(
        tau_scale_prior(md).ppf(q), 12.5 * tau_scale_prior(smd).ppf(q), rtol=1e-12
    )
    assert md.effect_scale == "MD" and parse_prior(str(md)) == md


@pytest.mark.parametrize(
    ("text", "listed"),
    [
        ("turner(outcome = 'mortality')", "'all-cause mortality'; 'obstetric outcomes'"),
        (
            "turner(outcome = 'pain', comparison = 'drug vs placebo')",
            "'pharmacological vs. placebo / control'",
        ),
        ("rhodes(outcome = 'pain')", "'obstetric outcome'; 'resource use"),
        ("rhodes(area = 'cardiology')", "'other'; 'respiratory'; 'cancer'"),
    ],
)
def test_unknown_category_lists_the_valid_ones(text, listed):
    with pytest.raises(PriorError, match="valid") as err:
        parse_prior(text)
    assert listed in str(err.value)
    assert "\n" not in str(err.value)  # one line: the CLI's last line is 'error: ...'


def test_bad_arguments():
    with pytest.raises(PriorError, match="unknown argument 'area'"):
        parse_prior("turner(area = 'cancer')")
    with pytest.raises(PriorError, match="outcome_sd must be"):
        parse_prior("rhodes(outcome_sd = -2)")


@pytest.mark.parametrize(
    ("family", "prior", "mismatch"),
    [
        ("survival", "turner()", r"logOR scale.*log hazard ratio \(logHR\)"),
        ("gaussian", "turner()", r"logOR scale.*mean difference \(MD\)"),
        ("gaussian", "rhodes()", r"SMD scale.*outcome_sd"),
        ("binomial", "rhodes()", r"SMD scale.*log odds ratio"),
    ],
)
def test_scale_mismatch_warns_naming_it(family, prior, mismatch):
    with pytest.warns(UserWarning, match=mismatch):
        resolve_priors(family, {"tau": prior}, outcome_sd=1.0)


@pytest.mark.parametrize(
    ("family", "prior"), [("binomial", "turner()"), ("gaussian", "rhodes(outcome_sd = 3)")]
)
def test_matching_scale_does_not_warn(family, prior):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_priors(family, {"tau": prior}, outcome_sd=3.0)


def test_toml_model_spec_round_trip():
    text = "turner(outcome = 'pain', comparison = 'pharmacological vs. pharmacological')"
    spec = ModelSpec("binomial", priors={"tau": text})
    assert spec.priors["tau"].params == (-1.83 - 0.23, 1.58)  # Table IV: -2.06, 1.58
    assert ModelSpec.from_dict(spec.to_dict()).priors["tau"] == spec.priors["tau"]


def test_pymc_log_student_t_is_a_prior_on_tau_squared():
    import pymc as pm

    from bayes_ipd.priors import tau_to_pymc

    prior = rhodes_prior()
    with pm.Model() as model:
        tau_to_pymc(prior)
    names = {v.name for v in model.free_RVs}
    assert names == {"tau2_log"}
    assert {d.name for d in model.deterministics} >= {"tau2", "tau"}
    logp = model.compile_logp()({"tau2_log": math.log(0.04)})
    assert logp == pytest.approx(stats.t.logpdf(math.log(0.04), 5, -3.44, 2.59))


def test_warn_scale_mismatch_takes_the_effect_scale_not_a_family():
    from bayes_ipd.conventions import SCALES
    from bayes_ipd.empirical_priors import warn_scale_mismatch

    with pytest.warns(UserWarning, match=r"logOR scale.*survival model's effect.*\(logHR\)"):
        warn_scale_mismatch(SCALES["logHR"], "tau", turner_prior(), model="survival")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_scale_mismatch(SCALES["logOR"], "tau", turner_prior(), model="binomial")
