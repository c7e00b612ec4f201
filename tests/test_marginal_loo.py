"""Marginal leave-one-trial-out LOO: each trial's (alpha_k, theta_k) integrated out.

The quadrature (bayes_ipd.families.quadrature) is checked against an independent computation:
scipy's adaptive ``dblquad`` of the participant-row likelihood (written out here, not taken
from the package) times the prior / population densities, and, for gaussian, against the
closed form (itself checked against scipy's multivariate normal in test_results.py). The
fits check that a planted outlier trial is the one flagged, and that ``arviz.loo`` on the
saved netCDF equals :meth:`OneStageResult.loo`.
"""

from __future__ import annotations

import math
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import optimize, stats
from scipy.special import logsumexp

from bayes_ipd.families.base import Family
from bayes_ipd.families.quadrature import TrialDraws, adaptive_gauss_hermite
from bayes_ipd.one_stage.design import design_from_summaries
from bayes_ipd.one_stage.fitting import fit
from bayes_ipd.one_stage.summaries import summarise_trial
from bayes_ipd.priors import Prior
from bayes_ipd.spec import ModelSpec, SamplerSettings

SETTINGS = SamplerSettings(draws=300, tune=300, chains=2, seed=7, progress=False)
OUTLIER = "P4"
#: A fit with a planted outlier trial, for every family whose marginal is by quadrature
#: (gaussian: tests/test_results.py).
OUTLIER_FITS = [
    "binomial_outlier_fit",
    "survival_outlier_fit",
    "poisson_outlier_fit",
    "negative_binomial_outlier_fit",
    "ordinal_outlier_fit",
]
SURVIVAL_CUTS = (0.5, 1.2)


def _frame(**columns):
    return pd.DataFrame(columns)


def _posterior(**variables) -> xr.Dataset:
    """A one-chain posterior from (S, ...) arrays; dims named after the trailing axes."""
    data = {}
    for name, (values, dims) in variables.items():
        values = np.asarray(values, dtype=float)
        data[name] = (("chain", "draw", *dims), values[None])
    return xr.Dataset(data)


# --------------------------------------------------------------------- brute force


def _dense_log_integral(loglik_grid, log_prior, start) -> float:
    """log ∫∫ exp(loglik + log prior) on a dense 401 x 401 grid over ±12 SDs of the mode.

    ``loglik_grid(a, b)`` takes (G, 1) and (1, G) grids (a Riemann sum on a uniform grid
    is accurate to far below 1e-6 for a smooth integrand that has decayed at the edges).
    """

    def neg(u):
        a, b = np.array([[u[0]]]), np.array([[u[1]]])
        return -float(loglik_grid(a, b)[0, 0] + log_prior(a, b)[0, 0])

    opt = optimize.minimize(neg, start, method="Nelder-Mead", options={"xatol": 1e-9})
    h = 1e-4  # central-difference Hessian at the mode: the box is ±12 SDs of the integrand
    e = np.eye(2) * h
    hess = np.array(
        [
            [
                (neg(opt.x + e[i] + e[j]) - neg(opt.x + e[i] - e[j])
                 - neg(opt.x - e[i] + e[j]) + neg(opt.x - e[i] - e[j])) / (4 * h * h)
                for j in range(2)
            ]
            for i in range(2)
        ]
    )  # fmt: skip
    sd = np.sqrt(np.diag(np.linalg.inv(hess)))
    a = np.linspace(opt.x[0] - 12 * sd[0], opt.x[0] + 12 * sd[0], 401)[:, None]
    b = np.linspace(opt.x[1] - 12 * sd[1], opt.x[1] + 12 * sd[1], 401)[None, :]
    f = loglik_grid(a, b) + log_prior(a, b)
    cell = (a[1, 0] - a[0, 0]) * (b[0, 1] - b[0, 0])
    return float(logsumexp(f) + math.log(cell))


def _binomial_rows():
    rng = np.random.default_rng(3)
    rows = []
    for n in (60, 90):
        t = np.tile([0.0, 1.0], n // 2)
        x = rng.normal(0, 1, n)
        y = rng.binomial(1, 1 / (1 + np.exp(-(-1.0 - 0.6 * t + 0.5 * x)))).astype(float)
        rows.append((t, x, y))
    return rows


def _binomial_design(rows):
    return design_from_summaries(
        [
            summarise_trial(f"B{i}", "binomial", t, _frame(x=x), ["x"], [], outcome=y)
            for i, (t, x, y) in enumerate(rows)
        ]
    )


def _draws(s, k, coef, loc, scale, params=None, prior=None):
    return TrialDraws(
        params=params,
        coef=np.asarray(coef, float),
        loc=np.asarray(loc, float),
        scale=np.asarray(scale, float),
        intercept_prior=prior,
    )


def _random_draws(rng, s, k, m, *, alpha=(-1.0, 10.0), theta=(-0.5, 0.4)):
    coef = rng.normal(0, 0.3, (s, k, m))
    coef[:, :, 0] += alpha[0]
    coef[:, :, 1] += theta[0]
    loc = np.stack([np.full((s, k), alpha[0]), rng.normal(theta[0], 0.2, (s, k))], axis=2)
    scale = np.stack([np.full((s, k), alpha[1]), rng.uniform(0.05, theta[1], (s, k))], axis=2)
    return coef, loc, scale


@pytest.mark.parametrize("prior", [None, Prior("student_t", (3.0, 0.0, 2.5))])
def test_binomial_quadrature_equals_dense_integration(prior):
    rows = _binomial_rows()
    design = _binomial_design(rows)
    rng = np.random.default_rng(5)
    coef, loc, scale = _random_draws(rng, 2, 2, design.width)
    if prior is not None:
        loc[:, :, 0], scale[:, :, 0] = 0.0, 1.0
    draws = _draws(2, 2, coef, loc, scale, prior=prior)
    for k, (t, x, y) in enumerate(rows):
        got = design.plugin.marginal_trial_loglik(design, k, draws)
        xc = x - x.mean()  # the design centres covariates within trial
        for s in range(2):
            beta = coef[s, k, 2]

            def loglik_rows(a, b, beta=beta, t=t, xc=xc, y=y):
                total = np.zeros(np.broadcast_shapes(a.shape, b.shape))
                for ti, xi, yi in zip(t, xc, y, strict=True):  # participant by participant
                    eta = a + b * ti + beta * xi
                    total += yi * eta - np.logaddexp(0.0, eta)
                return total

            def log_prior(a, b, s=s, k=k):
                la = (
                    stats.norm.logpdf(a, loc[s, k, 0], scale[s, k, 0])
                    if prior is None
                    else prior.logpdf(a)
                )
                return la + stats.norm.logpdf(b, loc[s, k, 1], scale[s, k, 1])

            want = _dense_log_integral(loglik_rows, log_prior, coef[s, k, :2])
            assert got[s] == pytest.approx(want, abs=1e-6)


def _survival_design(rows, cuts):
    return design_from_summaries(
        [
            summarise_trial(
                f"S{i}", "survival", t, _frame(), [], [], time=tt, event=ev, cutpoints=cuts
            )
            for i, (t, tt, ev) in enumerate(rows)
        ]
    )


def _survival_rows():
    rng = np.random.default_rng(12)
    rows = []
    for n in (50, 70):
        t = np.tile([0.0, 1.0], n // 2)
        rate = 0.8 * np.exp(-0.5 * t)
        time = rng.exponential(1 / rate)
        censor = rng.uniform(0.3, 2.5, n)
        rows.append((t, np.minimum(time, censor), (time <= censor).astype(float)))
    return rows


def test_survival_conditional_quadrature_equals_dense_integration():
    # the quadrature over (alpha_k, theta_k) given the walk steps (Family's default path)
    cuts = (0.6,)
    rows = _survival_rows()
    design = _survival_design(rows, cuts)
    rng = np.random.default_rng(6)
    s = 2
    coef, loc, scale = _random_draws(rng, s, 2, design.width)
    smooth = rng.uniform(0.1, 0.8, s)
    steps = rng.normal(0, 1, (s, 2, 1))
    params = _posterior(hazard_smoothing=(smooth, ()), log_hazard_step=(steps, ("study", "step")))
    draws = _draws(s, 2, coef, loc, scale, params=params)
    for k, (t, time, event) in enumerate(rows):
        got = Family.marginal_trial_loglik(design.plugin, design, k, draws)
        in_second = time > cuts[0]
        for d in range(s):
            jump = smooth[d] * steps[d, k, 0]

            def loglik_rows(a, b, jump=jump, t=t, time=time, event=event, late=in_second):
                # piecewise-constant hazard h0 = e^a on [0, 0.6), e^(a + jump) after it
                total = np.zeros(np.broadcast_shapes(a.shape, b.shape))
                for ti, tt, ev, lt in zip(t, time, event, late, strict=True):
                    log_h = a + b * ti + (jump if lt else 0.0)
                    exposure = min(tt, cuts[0]) + math.exp(jump) * max(tt - cuts[0], 0.0)
                    total += ev * log_h - np.exp(a + b * ti) * exposure
                return total

            def log_prior(a, b, d=d, k=k):
                return stats.norm.logpdf(a, loc[d, k, 0], scale[d, k, 0]) + stats.norm.logpdf(
                    b, loc[d, k, 1], scale[d, k, 1]
                )

            want = _dense_log_integral(loglik_rows, log_prior, coef[d, k, :2])
            assert got[d] == pytest.approx(want, abs=1e-6)


def _tiny_survival_rows():
    """Two small trials (12 and 16 rows, 6-10 events), cut at 0.6: two intervals."""
    rng = np.random.default_rng(12)
    rows = []
    for n in (12, 16):
        t = np.tile([0.0, 1.0], n // 2)
        time = rng.exponential(1 / (0.8 * np.exp(-0.5 * t)))
        censor = rng.uniform(0.3, 2.5, n)
        rows.append((t, np.minimum(time, censor), (time <= censor).astype(float)))
    return rows


def _survival_brute_force(t, time, event, cut, smooth, prior, grid=161):
    """log ∫∫∫ p(rows | a, b, u) N(a) N(b) N(u | 0, 1) on a dense grid (Riemann sum).

    Participant rows written out: hazard e^(a + b t) on [0, cut), e^(a + b t + smooth u)
    after it. The box (a in [-6, 5], b in [-3, 2], u in [-7, 7]) holds the whole mass of
    the integrand for these trials; 161 and 241 points per axis agree to 1e-10.
    """
    (a_loc, a_sd), (b_loc, b_sd) = prior
    a = np.linspace(-6.0, 5.0, grid)[:, None, None]
    b = np.linspace(-3.0, 2.0, grid)[None, :, None]
    u = np.linspace(-7.0, 7.0, grid)[None, None, :]
    w = smooth * u
    total = np.zeros((grid, grid, grid))
    for ti, tt, ev in zip(t, time, event, strict=True):
        late = tt > cut
        total += ev * (a + b * ti + (w if late else 0.0)) - np.exp(a + b * ti) * (
            min(tt, cut) + np.exp(w) * max(tt - cut, 0.0)
        )
    log_prior = (
        stats.norm.logpdf(a, a_loc, a_sd) + stats.norm.logpdf(b, b_loc, b_sd) + stats.norm.logpdf(u)
    )
    cell = (a[1, 0, 0] - a[0, 0, 0]) * (b[0, 1, 0] - b[0, 0, 0]) * (u[0, 0, 1] - u[0, 0, 0])
    return float(logsumexp(total + log_prior) + math.log(cell))


def test_survival_marginal_integrates_the_hazard_steps_out():
    cuts = (0.6,)
    rows = _tiny_survival_rows()
    design = _survival_design(rows, cuts)
    rng = np.random.default_rng(6)
    s, k = 2, 0
    coef = rng.normal(0, 0.3, (s, 2, design.width))
    loc = np.stack([np.zeros((s, 2)), np.full((s, 2), -0.5)], axis=2)
    scale = np.stack([np.full((s, 2), 2.0), np.full((s, 2), 0.4)], axis=2)
    smooth = np.array([0.3, 0.9])
    steps = np.full((s, 2, 1), 1.5)  # a step at 1.5 prior SDs, to be integrated out
    params = _posterior(hazard_smoothing=(smooth, ()), log_hazard_step=(steps, ("study", "step")))
    draws = _draws(s, 2, coef, loc, scale, params=params)
    got = design.plugin.marginal_trial_loglik(design, k, draws)
    conditional = Family.marginal_trial_loglik(design.plugin, design, k, draws)
    t, time, event = rows[k]
    for d in range(s):
        prior = ((loc[d, k, 0], scale[d, k, 0]), (loc[d, k, 1], scale[d, k, 1]))
        want = _survival_brute_force(t, time, event, cuts[0], smooth[d], prior)
        # the Laplace approximation over the step: measured error 1e-3 (smoothing 0.3) and
        # 3e-3 (0.9) on this 12-row trial with 7 events (docs/loo.md)
        assert got[d] == pytest.approx(want, abs=0.01)
        # conditioning on the drawn step instead is a different number
        assert abs(conditional[d] - want) > 0.05


def test_survival_laplace_is_exact_without_a_walk():
    # hazard_smoothing -> 0: the steps leave the likelihood, and the marginal equals the
    # quadrature of the conditional log-likelihood (checked against dense integration of
    # the rows above), here with a continuous covariate (every participant a cell)
    rng = np.random.default_rng(9)
    design = design_from_summaries(
        [
            summarise_trial(
                f"S{i}", "survival", t, _frame(x=rng.normal(0, 1, t.size)), ["x"], [],
                time=tt, event=ev, cutpoints=(0.5, 1.2),
            )
            for i, (t, tt, ev) in enumerate(_tiny_survival_rows())
        ]
    )  # fmt: skip
    assert design.width == 3
    s = 3
    coef, loc, scale = _random_draws(rng, s, 2, design.width, alpha=(0.0, 3.0))
    params = _posterior(
        hazard_smoothing=(np.full(s, 1e-12), ()),
        log_hazard_step=(rng.normal(0, 1, (s, 2, 2)), ("study", "step")),
    )
    draws = _draws(s, 2, coef, loc, scale, params=params)
    for k in range(2):
        np.testing.assert_allclose(
            design.plugin.marginal_trial_loglik(design, k, draws),
            Family.marginal_trial_loglik(design.plugin, design, k, draws),
            rtol=0,
            atol=1e-8,
        )


def test_gaussian_quadrature_equals_the_closed_form():
    rng = np.random.default_rng(4)
    sums = []
    for i in range(3):
        t = np.tile([0.0, 1.0], 20)
        age = rng.normal(50, 10, 40)
        y = 100 - 4 * t + 0.3 * (age - 50) + rng.normal(0, 8, 40)
        sums.append(
            summarise_trial(f"G{i}", "gaussian", t, _frame(age=age), ["age"], [], outcome=y)
        )
    design = design_from_summaries(sums)
    s = 4
    coef, loc, scale = _random_draws(rng, s, 3, design.width, alpha=(100.0, 30.0), theta=(-4, 3))
    scale[0, 1, 1] = 0.0  # tau = 0: the theta integral degenerates to a point
    params = _posterior(sigma=(rng.uniform(6, 10, (s, 3)), ("study",)))
    draws = _draws(s, 3, coef, loc, scale, params=params)
    for k in range(3):
        exact = design.plugin.marginal_trial_loglik(design, k, draws)
        quad = Family.marginal_trial_loglik(design.plugin, design, k, draws)
        np.testing.assert_allclose(quad, exact, rtol=0, atol=1e-6)


def test_quadrature_is_exact_for_a_gaussian_integrand_and_can_fail():
    # log ∫∫ exp(-½ v'P v) dv = log(2π) - ½ log|P|, for a strongly correlated P
    prec = np.array([[50.0, 49.0], [49.0, 50.0]])

    def logf(v):
        return -0.5 * np.einsum("sni,ij,snj->sn", v, prec, v)

    want = math.log(2 * math.pi) - 0.5 * math.log(np.linalg.det(prec))
    got = adaptive_gauss_hermite(logf, np.array([[3.0, -2.0]]), nodes=3)
    assert got[0] == pytest.approx(want, abs=1e-9)
    # A bimodal integrand is not what the quadrature is for: it misses one mode.
    mix = lambda v: np.logaddexp(logf(v - 4.0), logf(v + 4.0))  # noqa: E731
    wrong = adaptive_gauss_hermite(mix, np.array([[3.0, 3.0]]), nodes=5)
    assert abs(wrong[0] - (want + math.log(2))) > 0.5


# ---------------------------------------------------------------------------- fits


def _quiet_fit(data, spec):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(data, spec, SETTINGS)


def _planted_arms(rng, study: str, n: int, far: float, spread: float):
    """Alternating 0/1 arms of ``n`` rows and the trial's effect: ``far`` for the planted
    outlier trial, else -0.5 plus normal noise of SD ``spread``."""
    theta = far if study == OUTLIER else -0.5 + rng.normal(0, spread)
    return np.tile([0.0, 1.0], n // 2), theta


def _binomial_outlier_trials():
    """Seven trials with log OR -0.5 ± 0.2 and trial P4 with log OR +2.5 (far outside)."""
    rng = np.random.default_rng(21)
    out = []
    for i in range(8):
        n = 400
        t, theta = _planted_arms(rng, f"P{i}", n, far=2.5, spread=0.2)
        eta = -1.5 + rng.normal(0, 0.5) + theta * t
        y = rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
        out.append(summarise_trial(f"P{i}", "binomial", t, _frame(), [], [], outcome=y))
    return out


def _survival_outlier_trials():
    """Seven trials with log HR -0.5 ± 0.1 and trial P4 with log HR +2 (far outside), on
    three baseline-hazard intervals (cut at 0.5 and 1.2): each trial's random-walk steps are
    integrated out with its intercept and effect."""
    rng = np.random.default_rng(22)
    out = []
    for i in range(8):
        n = 200
        t, theta = _planted_arms(rng, f"P{i}", n, far=2.0, spread=0.1)
        time = rng.exponential(1 / (0.5 * np.exp(rng.normal(0, 0.3) + theta * t)))
        censor = rng.uniform(0.5, 3.0, n)
        out.append(
            summarise_trial(
                f"P{i}", "survival", t, _frame(), [], [],
                time=np.minimum(time, censor), event=(time <= censor).astype(float),
                cutpoints=SURVIVAL_CUTS,
            )
        )  # fmt: skip
    return out


def _count_outlier_trials(family: str, dispersion: float | None = None):
    """Seven trials with log rate ratio -0.5 ± 0.1 and trial P4 with +2 (far outside);
    Poisson counts, or NB2 (gamma-Poisson with ``dispersion`` = 1/shape) ones."""
    rng = np.random.default_rng(23)
    out = []
    for i in range(8):
        n = 200
        t, theta = _planted_arms(rng, f"P{i}", n, far=2.0, spread=0.1)
        mean = np.exp(rng.normal(0, 0.3) + theta * t)
        if dispersion is not None:
            mean = mean * rng.gamma(1 / dispersion, dispersion, n)
        y = rng.poisson(mean).astype(float)
        out.append(summarise_trial(f"P{i}", family, t, _frame(), [], [], outcome=y))
    return out


def _ordinal_outlier_trials():
    """Four ordered levels (three cut points, two gaps integrated out per trial); seven
    trials with log cumulative OR -0.5 ± 0.1 and trial P4 with +2.5 (far outside)."""
    rng = np.random.default_rng(24)
    out = []
    for i in range(8):
        n = 200
        t, theta = _planted_arms(rng, f"P{i}", n, far=2.5, spread=0.1)
        latent = rng.normal(0, 0.3) + theta * t + rng.logistic(size=n)
        y = np.searchsorted([-1.0, 0.5, 2.0], latent).astype(float)  # levels 0..3
        out.append(summarise_trial(f"P{i}", "ordinal", t, _frame(), [], [], outcome=y))
    return out


@pytest.fixture(scope="module")
def poisson_outlier_fit():
    return _quiet_fit(_count_outlier_trials("poisson"), ModelSpec(family="poisson"))


@pytest.fixture(scope="module")
def negative_binomial_outlier_fit():
    # one dispersion for all trials: a per-trial dispersion is held at its draw in the
    # marginal (docs/loo.md), which leaves every trial influential
    spec = ModelSpec(family="negative_binomial", residual_sd="common")
    return _quiet_fit(_count_outlier_trials("negative_binomial", dispersion=0.5), spec)


@pytest.fixture(scope="module")
def ordinal_outlier_fit():
    return _quiet_fit(_ordinal_outlier_trials(), ModelSpec(family="ordinal"))


@pytest.fixture(scope="module")
def binomial_outlier_fit():
    return _quiet_fit(_binomial_outlier_trials(), ModelSpec(family="binomial"))


@pytest.fixture(scope="module")
def survival_outlier_fit():
    return _quiet_fit(
        _survival_outlier_trials(), ModelSpec(family="survival", intervals=SURVIVAL_CUTS)
    )


@pytest.mark.parametrize("name", OUTLIER_FITS)
def test_marginal_loo_flags_the_planted_outlier(name, request):
    result = request.getfixturevalue(name)
    loo = result.loo()
    assert loo.method == "marginal"
    # Leaving the far-off trial out moves mu and tau far (k > 0.7); the seven similar
    # trials barely move them.
    assert loo.influential == (OUTLIER,), loo.pareto_k.round(2).to_dict()
    similar = loo.pareto_k.drop(OUTLIER)
    assert similar.max() < 0.7
    # The conditional terms cannot tell: they flag trials that identify their own
    # intercept, the outlier among them or not.
    assert len(result.loo(marginal=False).influential) >= 1


@pytest.mark.parametrize("name", OUTLIER_FITS)
def test_saved_log_likelihood_gives_the_same_loo(name, request, tmp_path):
    result = request.getfixturevalue(name)
    path = result.to_netcdf(tmp_path / "posterior.nc")
    saved = az.from_netcdf(path)
    assert "conditional_log_likelihood" in saved.groups()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = az.loo(saved, pointwise=True)
    loo = result.loo()
    assert float(res["elpd_loo"]) == pytest.approx(loo.elpd, abs=1e-9)
    np.testing.assert_allclose(res["pareto_k"].values, loo.pareto_k.to_numpy(), atol=1e-12)
    np.testing.assert_allclose(
        saved.conditional_log_likelihood["trial"].values,
        result.idata.log_likelihood["trial"].values,
    )


@pytest.mark.slow
def test_bcg_marginal_loo_has_no_influential_trial():
    # measured in docs/loo.md: every k <= 0.65 with 4 x 1000 draws (conditional: all > 0.8)
    from bayes_ipd.datasets import load_bcg_ipd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(
            load_bcg_ipd(),
            ModelSpec(family="binomial"),
            SamplerSettings(draws=1000, tune=1000, chains=4, seed=1, progress=False),
        )
    loo = result.loo()
    assert loo.influential == (), loo.pareto_k.round(2).to_dict()
