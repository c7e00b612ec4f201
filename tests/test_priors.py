"""Tests of bayes_ipd.priors: grammar, validation, densities, PyMC variables, defaults."""

from __future__ import annotations

import math

import numpy as np
import pymc as pm
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from bayes_ipd.errors import PriorError, SpecError
from bayes_ipd.priors import (
    DISTRIBUTIONS,
    SLOTS,
    TURNER_GENERAL_TAU2,
    Prior,
    PriorSet,
    as_prior,
    check_slot,
    default_priors,
    parse_prior,
    resolve_priors,
    tau_scale_prior,
    tau_to_pymc,
)

# --------------------------------------------------------------------------- grammar


@pytest.mark.parametrize(
    ("text", "dist", "params"),
    [
        ("normal(0, 10)", "normal", (0.0, 10.0)),
        ("  normal ( -1.5 ,2.5e1 ) ", "normal", (-1.5, 25.0)),
        ("normal(+3,.5)", "normal", (3.0, 0.5)),
        ("student_t(3, 0, 2.5)", "student_t", (3.0, 0.0, 2.5)),
        ("t(3, 0, 2.5)", "student_t", (3.0, 0.0, 2.5)),
        ("studentt(4, 1, 2)", "student_t", (4.0, 1.0, 2.0)),
        ("Student-T(4, 1, 2)", "student_t", (4.0, 1.0, 2.0)),
        ("half_normal(1)", "half_normal", (1.0,)),
        ("halfnormal(1E-3)", "half_normal", (0.001,)),
        ("half-normal(2.)", "half_normal", (2.0,)),
        ("half_cauchy(0.5)", "half_cauchy", (0.5,)),
        ("half_t(3, 1)", "half_t", (3.0, 1.0)),
        ("exponential(2)", "exponential", (2.0,)),
        ("uniform(-1e2, 1e+2)", "uniform", (-100.0, 100.0)),
        ("log_normal(-2.56, 1.74)", "log_normal", (-2.56, 1.74)),
        ("lognormal(-2.56,1.74)", "log_normal", (-2.56, 1.74)),
    ],
)
def test_parse_prior_reads_names_aliases_and_numbers(text, dist, params):
    prior = parse_prior(text)
    assert prior.dist == dist
    assert prior.params == params


def test_str_writes_integers_without_decimal_point():
    assert str(Prior("normal", (0, 10))) == "normal(0, 10)"
    assert str(Prior("half_normal", (0.25,))) == "half_normal(0.25)"
    assert str(Prior("uniform", (-1e-7, 3))) == "uniform(-1e-07, 3)"


def test_prior_constructor_accepts_alias_and_stores_canonical_name():
    assert Prior("halfnormal", [1]) == Prior("half_normal", (1.0,))


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("normal 0, 1", ["normal 0, 1", "name(number"]),
        (
            "gamma(2, 1)",
            ["gamma(2, 1)", "unknown distribution 'gamma'", "half_cauchy", "log_normal"],
        ),
        ("flat()", ["unknown distribution 'flat'"]),
        ("normal(0)", ["normal(0)", "normal(mu, sigma)", "got 1"]),
        ("normal(0, 1, 2)", ["normal(mu, sigma)", "got 3"]),
        ("student_t(0, 1)", ["student_t(nu, mu, sigma)"]),
        ("half_normal()", ["half_normal(sigma)", "got 0"]),
        ("normal(0, -1)", ["normal(0, -1)", "sigma must be > 0", "-1"]),
        ("normal(0, 0)", ["sigma must be > 0"]),
        ("half_cauchy(-2)", ["scale must be > 0"]),
        ("half_t(0, 1)", ["nu must be > 0"]),
        ("student_t(-1, 0, 1)", ["nu must be > 0"]),
        ("exponential(0)", ["rate must be > 0"]),
        ("uniform(2, 1)", ["uniform(2, 1)", "lo < hi"]),
        ("uniform(1, 1)", ["lo < hi"]),
        ("normal(0, ten)", ["'ten' is not a number", "normal(mu, sigma)"]),
        ("normal(0, nan)", ["'nan' is not a number"]),
        ("normal(0, inf)", ["'inf' is not a number"]),
        ("normal(0,, 1)", ["'' is not a number"]),
        ("normal(0, 1e400)", ["sigma must be a finite number"]),
    ],
)
def test_parse_prior_errors_quote_the_text_and_say_what_is_wrong(text, fragments):
    with pytest.raises(PriorError) as info:
        parse_prior(text)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_parse_prior_rejects_non_string():
    with pytest.raises(PriorError, match="must be a string"):
        parse_prior(3.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("dist", "params", "fragment"),
    [
        ("normal", (0, -2), "normal(0, -2)"),
        ("uniform", (3, 1), "lo < hi"),
        ("half_normal", (1, 2), "half_normal(sigma)"),
        ("normal", ("a", 1), "'a' is not a number"),
        ("normal", (True, 1), "True is not a number"),
        ("cauchy", (0, 1), "unknown distribution 'cauchy'"),
    ],
)
def test_prior_constructor_validates(dist, params, fragment):
    with pytest.raises(PriorError) as info:
        Prior(dist, params)
    assert fragment in str(info.value)


def test_prior_is_immutable():
    prior = Prior("normal", (0, 1))
    with pytest.raises(AttributeError):
        prior.dist = "half_normal"  # type: ignore[misc]


def test_as_prior():
    prior = Prior("normal", (0, 1))
    assert as_prior(prior) is prior
    assert as_prior("normal(0, 1)") == prior
    with pytest.raises(PriorError, match="string or a Prior"):
        as_prior(1.0)  # type: ignore[arg-type]


_finite = st.floats(allow_nan=False, allow_infinity=False)
_positive = st.floats(min_value=0.0, exclude_min=True, allow_nan=False, allow_infinity=False)


@st.composite
def priors(draw) -> Prior:
    dist = draw(st.sampled_from(sorted(DISTRIBUTIONS)))
    if dist == "uniform":
        lo, hi = sorted(draw(st.lists(_finite, min_size=2, max_size=2, unique=True)))
        return Prior(dist, (lo, hi))
    names = DISTRIBUTIONS[dist]
    params = tuple(draw(_finite if n == "mu" else _positive) for n in names)
    return Prior(dist, params)


@given(priors())
def test_str_round_trips_through_parse(prior):
    assert parse_prior(str(prior)) == prior


@given(
    priors(),
    st.sampled_from(["", " ", "  "]),
    st.sampled_from(["{!r}", "{:.17e}", "{:.17E}"]),
)
def test_parse_accepts_any_spacing_and_exact_number_formats(prior, space, number_format):
    numbers = f"{space},{space}".join(number_format.format(p) for p in prior.params)
    text = f"{space}{prior.dist}{space}({space}{numbers}{space}){space}"
    assert parse_prior(text) == prior


# --------------------------------------------------------------------------- support and slots


@pytest.mark.parametrize(
    ("text", "support"),
    [
        ("normal(0, 1)", "real"),
        ("student_t(3, 0, 1)", "real"),
        ("half_normal(1)", "positive"),
        ("half_cauchy(1)", "positive"),
        ("half_t(3, 1)", "positive"),
        ("exponential(1)", "positive"),
        ("log_normal(0, 1)", "positive"),
        ("uniform(0, 1)", "interval"),
    ],
)
def test_support(text, support):
    assert parse_prior(text).support == support


@pytest.mark.parametrize("slot", ["tau", "sigma"])
@pytest.mark.parametrize("text", ["normal(0, 1)", "student_t(3, 0, 1)", "uniform(-1, 1)"])
def test_check_slot_rejects_priors_with_negative_values_for_sd_slots(slot, text):
    with pytest.raises(PriorError) as info:
        check_slot(slot, parse_prior(text))
    assert repr(slot) in str(info.value)
    assert text in str(info.value)


@pytest.mark.parametrize("slot", ["tau", "sigma"])
@pytest.mark.parametrize(
    "text",
    [
        "half_normal(1)",
        "half_cauchy(1)",
        "half_t(3, 1)",
        "exponential(1)",
        "log_normal(0, 1)",
        "uniform(0, 5)",
    ],
)
def test_check_slot_accepts_positive_priors_for_sd_slots(slot, text):
    check_slot(slot, parse_prior(text))


def test_check_slot_accepts_any_prior_for_location_slots():
    for slot in ("intercept", "effect", "coefficients", "interactions"):
        check_slot(slot, parse_prior("uniform(-3, 3)"))


def test_check_slot_unknown_slot_lists_slots():
    with pytest.raises(PriorError) as info:
        check_slot("beta", parse_prior("normal(0, 1)"))
    assert "'beta'" in str(info.value)
    for slot in SLOTS:
        assert slot in str(info.value)


# --------------------------------------------------------------------------- densities


def _closed_form_logpdf(dist: str, p: tuple[float, ...], x: float) -> float:
    """Textbook log densities, written out independently of scipy and PyMC."""
    log2pi = math.log(2 * math.pi)
    if dist == "normal":
        mu, s = p
        return -0.5 * log2pi - math.log(s) - 0.5 * ((x - mu) / s) ** 2
    if dist == "half_normal":
        (s,) = p
        return math.log(2) - 0.5 * log2pi - math.log(s) - 0.5 * (x / s) ** 2
    if dist in ("student_t", "half_t"):
        nu, mu, s = p if dist == "student_t" else (p[0], 0.0, p[1])
        z = (x - mu) / s
        log_t = (
            math.lgamma((nu + 1) / 2)
            - math.lgamma(nu / 2)
            - 0.5 * math.log(nu * math.pi)
            - math.log(s)
            - (nu + 1) / 2 * math.log1p(z * z / nu)
        )
        return log_t + (math.log(2) if dist == "half_t" else 0.0)
    if dist == "half_cauchy":
        (s,) = p
        return math.log(2 / (math.pi * s * (1 + (x / s) ** 2)))
    if dist == "exponential":
        (rate,) = p
        return math.log(rate) - rate * x
    if dist == "uniform":
        lo, hi = p
        return -math.log(hi - lo)
    if dist == "log_normal":
        mu, s = p
        return -0.5 * log2pi - math.log(s) - math.log(x) - 0.5 * ((math.log(x) - mu) / s) ** 2
    raise AssertionError(dist)


_DENSITY_CASES = [
    ("normal", (1.0, 2.0), 0.3),
    ("student_t", (3.0, -1.0, 2.5), 1.7),
    ("half_normal", (2.5,), 1.1),
    ("half_cauchy", (0.5,), 0.8),
    ("half_t", (4.0, 1.5), 2.2),
    ("exponential", (2.0,), 0.7),
    ("uniform", (-1.0, 3.0), 0.4),
    ("log_normal", (-2.56, 1.74), 0.05),
]


@pytest.mark.parametrize(("dist", "params", "x"), _DENSITY_CASES)
def test_logpdf_matches_closed_form(dist, params, x):
    prior = Prior(dist, params)
    assert prior.logpdf(np.array([x]))[0] == pytest.approx(
        _closed_form_logpdf(dist, params, x), rel=1e-10
    )


@pytest.mark.parametrize("dist", ["half_normal", "half_cauchy", "half_t", "exponential"])
def test_logpdf_is_minus_infinity_below_zero_for_positive_priors(dist):
    params = (3.0, 1.0) if dist == "half_t" else (1.0,)
    assert Prior(dist, params).logpdf(np.array([-0.5]))[0] == -np.inf


@pytest.mark.parametrize(("dist", "params", "x"), _DENSITY_CASES)
def test_to_pymc_logp_matches_scipy(dist, params, x):
    # scipy.stats as the independent reference for PyMC's parameterisation.
    p = params
    reference = {
        "normal": lambda: stats.norm(p[0], p[1]).logpdf(x),
        "student_t": lambda: stats.t(p[0], p[1], p[2]).logpdf(x),
        "half_normal": lambda: stats.halfnorm(scale=p[0]).logpdf(x),
        "half_cauchy": lambda: stats.halfcauchy(scale=p[0]).logpdf(x),
        "half_t": lambda: math.log(2) + stats.t(p[0], 0, p[1]).logpdf(x),
        "exponential": lambda: stats.expon(scale=1 / p[0]).logpdf(x),
        "uniform": lambda: stats.uniform(p[0], p[1] - p[0]).logpdf(x),
        "log_normal": lambda: stats.lognorm(s=p[1], scale=math.exp(p[0])).logpdf(x),
    }[dist]()
    with pm.Model():
        rv = Prior(dist, params).to_pymc("x")
    assert float(pm.logp(rv, x).eval()) == pytest.approx(reference, rel=1e-6)


def test_to_pymc_uses_dims_and_shape():
    with pm.Model(coords={"study": ["A", "B", "C"]}) as model:
        Prior("normal", (0, 1)).to_pymc("theta", dims="study")
        Prior("half_normal", (1,)).to_pymc("s", shape=2)
    assert model.named_vars_to_dims["theta"] == ("study",)
    assert pm.draw(model["theta"], random_seed=1).shape == (3,)
    assert pm.draw(model["s"], random_seed=1).shape == (2,)


@pytest.mark.parametrize(
    ("text", "q", "expected"),
    [
        # Standard normal quantile z(0.975) = 1.959963984540054 (Abramowitz & Stegun table 26.5).
        ("normal(1, 2)", 0.975, 1 + 2 * 1.959963984540054),
        # Half-normal median = sigma * z(0.75), z(0.75) = 0.6744897501960817.
        ("half_normal(3)", 0.5, 3 * 0.6744897501960817),
        # Half-Cauchy quantile: scale * tan(pi q / 2) (inverting F(x) = 2/pi atan(x/s)).
        ("half_cauchy(2)", 0.8, 2 * math.tan(math.pi * 0.8 / 2)),
        # half-t with nu = 1 is the half-Cauchy: median = sigma.
        ("half_t(1, 1.5)", 0.5, 1.5),
        # Exponential quantile: -log(1 - q) / rate.
        ("exponential(4)", 0.3, -math.log(0.7) / 4),
        ("uniform(-1, 3)", 0.25, 0.0),
        # Log-normal median = exp(mu).
        ("log_normal(-2.56, 1.74)", 0.5, math.exp(-2.56)),
        # Student-t with nu = 1 is Cauchy: quantile mu + sigma * tan(pi (q - 1/2)).
        ("student_t(1, 2, 3)", 0.9, 2 + 3 * math.tan(math.pi * 0.4)),
    ],
)
def test_ppf_matches_closed_form(text, q, expected):
    assert parse_prior(text).ppf(q) == pytest.approx(expected, rel=1e-9)


def test_rvs_is_reproducible_and_has_the_right_mean():
    prior = parse_prior("half_normal(2)")
    a = prior.rvs(20_000, np.random.default_rng(7))
    b = prior.rvs(20_000, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    # Half-normal mean sigma*sqrt(2/pi), SD sigma*sqrt(1 - 2/pi); tolerance 4 standard errors.
    mean, sd = 2 * math.sqrt(2 / math.pi), 2 * math.sqrt(1 - 2 / math.pi)
    assert abs(a.mean() - mean) < 4 * sd / math.sqrt(a.size)
    assert a.min() >= 0


def test_half_t_rvs_are_positive_with_right_median():
    draws = parse_prior("half_t(3, 1)").rvs(20_000, np.random.default_rng(3))
    assert draws.min() >= 0
    # Median of |T_3| = t_3 quantile at 0.75 = 0.7648923284 (standard t tables).
    assert np.median(draws) == pytest.approx(0.7648923284, abs=0.03)


# --------------------------------------------------------------------------- tau convention


def test_turner_prior_numbers():
    # Turner et al. 2012, Int J Epidemiol 41:818, general setting: tau² ~ LN(-2.56, 1.74²).
    assert TURNER_GENERAL_TAU2 == parse_prior("log_normal(-2.56, 1.74)")


def test_tau_to_pymc_log_normal_is_a_prior_on_tau_squared():
    with pm.Model() as model:
        tau = tau_to_pymc(TURNER_GENERAL_TAU2)
    assert [v.name for v in model.free_RVs] == ["tau2"]
    assert [v.name for v in model.deterministics] == ["tau"]
    tau2_draws, tau_draws = pm.draw([model["tau2"], tau], draws=4000, random_seed=11)
    np.testing.assert_allclose(tau_draws, np.sqrt(tau2_draws), rtol=1e-12)
    # Median of tau² is exp(m) = exp(-2.56) (Turner et al. 2012). On the log scale the
    # sample median has SE sqrt(pi/2) * s / sqrt(n) = 0.0345; tolerance 4 SE.
    log_median = math.log(np.median(tau2_draws))
    assert abs(log_median - (-2.56)) < 4 * math.sqrt(math.pi / 2) * 1.74 / math.sqrt(4000)


def test_tau_to_pymc_other_priors_are_on_tau_itself():
    with pm.Model() as model:
        tau_to_pymc(parse_prior("half_normal(0.5)"))
    assert [v.name for v in model.free_RVs] == ["tau"]
    assert model.deterministics == []


def test_tau_to_pymc_custom_name_and_dims():
    with pm.Model(coords={"covariate": ["age", "bmi"]}) as model:
        tau_to_pymc(parse_prior("log_normal(0, 1)"), "tau_gamma", dims="covariate")
    assert model.named_vars_to_dims["tau_gamma"] == ("covariate",)
    assert model.named_vars_to_dims["tau_gamma2"] == ("covariate",)


def test_tau_to_pymc_rejects_real_support():
    with pm.Model(), pytest.raises(PriorError, match="'tau'"):
        tau_to_pymc(parse_prior("normal(0, 1)"))


def test_tau_scale_prior_of_log_normal_gives_the_same_quantiles_on_tau():
    # P(tau <= x) = P(tau² <= x²): tau quantiles are the square roots of tau² quantiles.
    on_tau = tau_scale_prior(TURNER_GENERAL_TAU2)
    q = np.array([0.025, 0.25, 0.5, 0.75, 0.975])
    np.testing.assert_allclose(on_tau.ppf(q) ** 2, TURNER_GENERAL_TAU2.ppf(q), rtol=1e-10)


def test_tau_scale_prior_leaves_other_priors_alone():
    prior = parse_prior("half_cauchy(0.5)")
    assert tau_scale_prior(prior) is prior


# --------------------------------------------------------------------------- defaults


def test_default_priors_binomial_and_survival():
    for family in ("binomial", "survival"):
        priors = default_priors(family)
        assert priors.to_dict() == {
            "intercept": "normal(0, 10)",
            "effect": "normal(0, 2.5)",
            "tau": "half_normal(1)",
            "coefficients": "normal(0, 2.5) per SD",
            "interactions": "normal(0, 2.5) per SD",
        }
        assert priors.sigma is None


def test_default_priors_gaussian_scale_with_outcome_sd():
    # Hand arithmetic: s = 12.3456 -> 10 s = 123.456 -> 123.5 (4 significant digits);
    # s -> 12.35; 5 s = 61.728 -> 61.73; m = 150.04 -> 150.0; coefficients per SD of the
    # covariate: 2.5 s = 30.864 -> 30.86.
    priors = default_priors("gaussian", outcome_sd=12.3456, outcome_mean=150.04)
    assert priors.to_dict() == {
        "intercept": "normal(150, 123.5)",
        "effect": "normal(0, 123.5)",
        "tau": "half_normal(12.35)",
        "coefficients": "normal(0, 30.86) per SD",
        "interactions": "normal(0, 30.86) per SD",
        "sigma": "half_normal(61.73)",
    }
    assert priors.per_sd == ("coefficients", "interactions")


def test_default_priors_gaussian_large_and_small_scales_round_trip():
    # Hand arithmetic: s = 98766 -> 10 s = 987660 -> 987700; s = 0.0012346 -> 5 s = 0.006173.
    big = default_priors("gaussian", outcome_sd=98766.0)
    assert str(big.effect) == "normal(0, 987700)"
    small = default_priors("gaussian", outcome_sd=0.0012346)
    assert str(small.sigma) == "half_normal(0.006173)"
    for priors in (big, small):
        for _slot, prior in priors.items():
            assert parse_prior(str(prior)) == prior


def test_default_priors_gaussian_mean_defaults_to_zero():
    assert str(default_priors("gaussian", outcome_sd=1.0).intercept) == "normal(0, 10)"


@pytest.mark.parametrize("sd", [None, 0.0, -1.0, float("nan"), float("inf")])
def test_default_priors_gaussian_needs_a_valid_outcome_sd(sd):
    with pytest.raises(PriorError, match="outcome_sd"):
        default_priors("gaussian", outcome_sd=sd)


def test_default_priors_unknown_family():
    with pytest.raises(SpecError) as info:
        default_priors("weibull")
    assert "'weibull'" in str(info.value)
    assert "gaussian, binomial, survival" in str(info.value)


# --------------------------------------------------------------------------- PriorSet


def test_describe_lines():
    text = default_priors("gaussian", outcome_sd=2.0).describe()
    lines = text.splitlines()
    # each default is also written as a multiple of the outcome SD (issue 14, item 19)
    assert "effect (mu) ~ normal(0, 20)  [scale 10 × outcome SD; outcome SD 2]" in lines
    assert "tau ~ half_normal(2)  [scale 1 × outcome SD; outcome SD 2]" in lines
    assert "sigma ~ half_normal(10)  [scale 5 × outcome SD; outcome SD 2]" in lines
    assert len(lines) == 6


def test_describe_names_tau_squared_for_log_normal_and_drops_empty_sigma():
    priors = resolve_priors("binomial", {"tau": TURNER_GENERAL_TAU2})
    text = priors.describe()
    assert "tau² ~ log_normal(-2.56, 1.74)" in text
    assert "sigma" not in text
    assert len(text.splitlines()) == 5


def test_prior_set_to_dict_round_trips():
    priors = default_priors("gaussian", outcome_sd=3.3, outcome_mean=-1.0)
    again = PriorSet(**priors.to_dict())
    assert again.to_dict() == priors.to_dict()
    assert again.per_sd == priors.per_sd == ("coefficients", "interactions")


def test_prior_set_checks_slots():
    good = default_priors("binomial").to_dict()
    with pytest.raises(PriorError, match="'tau'"):
        PriorSet(**{**good, "tau": "normal(0, 1)"})
    with pytest.raises(PriorError, match="'sigma'"):
        PriorSet(**{**good, "sigma": "uniform(-1, 1)"})


def test_resolve_priors_overrides_only_given_slots():
    priors = resolve_priors("survival", {"effect": "normal(0, 1)", "tau": "half_cauchy(0.5)"})
    assert str(priors.effect) == "normal(0, 1)"
    assert str(priors.tau) == "half_cauchy(0.5)"
    assert str(priors.intercept) == "normal(0, 10)"


def test_resolve_priors_gaussian_needs_outcome_sd_only_for_missing_slots():
    full = {
        "intercept": "normal(0, 100)",
        "effect": "normal(0, 10)",
        "tau": "half_normal(5)",
        "coefficients": "normal(0, 10)",
        "interactions": "normal(0, 10)",
        "sigma": "half_normal(20)",
    }
    assert resolve_priors("gaussian", full).to_dict() == full
    partial = {k: v for k, v in full.items() if k not in ("tau", "sigma")}
    with pytest.raises(PriorError) as info:
        resolve_priors("gaussian", partial)
    assert "outcome_sd" in str(info.value)
    assert "tau, sigma" in str(info.value)


def test_resolve_priors_rejects_sigma_outside_gaussian():
    with pytest.raises(PriorError, match="binomial family has no residual SD"):
        resolve_priors("binomial", {"sigma": "half_normal(1)"})


def test_resolve_priors_rejects_unknown_slot_and_bad_prior():
    with pytest.raises(PriorError, match="unknown prior slot 'mu'"):
        resolve_priors("binomial", {"mu": "normal(0, 1)"})
    with pytest.raises(PriorError, match=r"normal\(0, -1\)"):
        resolve_priors("binomial", {"effect": "normal(0, -1)"})


def test_prior_values_are_the_priors_names_and_load_no_family():
    """``bayes_ipd.prior_values`` holds the values (``bayes_ipd.priors`` re-exports them)
    and loads no outcome family, route or sampler (issue 24)."""
    import subprocess
    import sys

    import bayes_ipd.prior_values as values
    import bayes_ipd.priors as priors

    for name in ("Prior", "PriorSet", "parse_prior", "as_prior", "check_slot", "SLOTS"):
        assert getattr(priors, name) is getattr(values, name)
    above = ("bayes_ipd.families", "bayes_ipd.empirical_priors", "bayes_ipd.priors", "pymc")
    code = (
        "import sys, bayes_ipd.prior_values; "
        f"print(' '.join(sorted(m for m in sys.modules if m.startswith({above!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_prior_set_round_trips_a_named_empirical_prior():
    priors = resolve_priors("binomial", {"tau": "turner(outcome = 'pain')"})
    again = PriorSet(**priors.to_dict())
    assert again == priors
    assert str(again.tau) == "turner(outcome = 'pain', comparison = " + (
        "'pharmacological vs. placebo / control')"
    )
