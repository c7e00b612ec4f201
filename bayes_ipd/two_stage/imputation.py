"""Two-level multiple imputation of missing covariates, respecting the trials.

Each incomplete covariate is imputed from its own model with trial-specific parameters drawn
from a between-trial distribution, by chained equations: the two-stage method of Resche-Rigon
& White (2018), as R ``micemd``'s ``2l.2stage.norm`` / ``2l.2stage.bin``.

The imputation model of covariate ``x`` in trial ``k`` (rows ``i``)::

    continuous: x_ik = X_ik beta_k + e_ik,  e_ik ~ Normal(0, sigma_k^2)
    binary:     logit P(x_ik = 1) = X_ik beta_k
    beta_kj ~ Normal(mu_j, tau_j^2) (independently per coefficient j),
    log sigma_k^2 ~ Normal(mu_s, tau_s^2)

fitted separately in each randomised arm (so the covariate's relation to the outcome may
differ between arms, as it does when the analysis holds a treatment-covariate interaction:
the imputation stays congenial with it; Sullivan et al. 2018 recommend imputing by arm in
trials), with predictors ``X`` = intercept, the outcome terms and the other covariates (their
current values; a categorical one dummy coded). The outcome terms are the
outcome itself (gaussian, binary, counts, ordinal codes); for a time-to-event outcome the
event indicator and the Nelson-Aalen cumulative hazard at the participant's time, computed
within the trial (White & Royston 2009); with an exposure column also its logarithm.
Predictors are standardised over the arm's rows (so the intercept is the covariate at the
average predictor values and its ``tau_0`` the spread of trial means).

One draw (one cycle for one covariate, in one arm):

1. Stage one, per trial with enough observed values (at least p + 2 rows, p coefficients,
   a full-rank design; the predictors constant in the trial are left out of its fit):
   ordinary least squares (continuous), or logistic regression with a weak Normal(0, 5^2)
   penalty on the standardised coefficients (binary; finite under separation).
2. Stage two: each coefficient pooled across those trials by DerSimonian-Laird random
   effects (``mu_j``, its variance, ``tau_j^2``); ``log s_k^2`` likewise (variance
   ``2 / df_k``).
3. Parameters drawn (proper imputation): ``mu_j* ~ Normal(mu_j, var mu_j)``,
   ``tau_j^2* = tau_j^2 (K_j - 1) / chi2(K_j - 1)`` (``tau_j^2`` below 1e-8 times the
   median within-trial variance counts as 0). A trial fitted in step 1 draws
   ``sigma_k^2* = s_k^2 df_k / chi2(df_k)`` and then ``beta_k*`` from its conditional
   posterior given the prior ``Normal(mu*, tau^2*)`` and its own rows (exact for the
   linear model, a Laplace approximation for the logistic one); a coefficient whose
   ``tau_j^2*`` is 0, or whose predictor is constant in the trial, is set to ``mu_j*``.
   A trial that never recorded the covariate (or has too few values to fit) draws
   ``beta_k* ~ Normal(mu*, tau^2*)`` and ``log sigma_k^2*`` from the pooled
   distribution: it borrows its model from the other trials.
4. Its missing values drawn from the model: ``X beta_k* + sigma_k* e`` or
   ``Bernoulli(expit(X beta_k*))``.

Chained equations: missing values start as draws of the trial's observed values (of all
trials' when it has none), then ``iterations`` cycles update every incomplete covariate in
column order, arm 0 then arm 1. Imputation ``m`` is its own chain with the generator
``numpy.random.default_rng(SeedSequence(seed, spawn_key=(m,)))``: the same ``seed`` gives the
same data sets, whatever M and however the work is split.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from bayes_ipd.data import IPD
from bayes_ipd.data.messages import quoted
from bayes_ipd.errors import IPDDataError, SpecError

__all__ = [
    "DEFAULT_IMPUTATIONS",
    "DEFAULT_ITERATIONS",
    "METHOD",
    "check_imputations",
    "impute_covariates",
    "nelson_aalen",
    "outcome_predictors",
]

METHOD = "two-level chained equations"
"""The method's name in reports and JSON."""
DEFAULT_IMPUTATIONS = 20
"""M when none is given."""
DEFAULT_ITERATIONS = 10
"""Chained-equation cycles per imputation (mice's default is 5)."""
_PRIOR_SD = 5.0
"""SD of the weak Normal penalty on a logistic imputation model's standardised coefficients."""
_NEWTON_STEPS = 50


@dataclass(frozen=True)
class _Target:
    """An incomplete covariate: its name, kind, two levels (categorical) and missing rows."""

    name: str
    binary: bool
    levels: tuple[object, object] | None
    missing: np.ndarray


@dataclass(frozen=True)
class _TrialFit:
    """A trial's own fit: coefficients (0 where inactive), their variances (NaN where
    inactive), active columns, residual variance and df (continuous)."""

    beta: np.ndarray
    var: np.ndarray
    active: np.ndarray
    s2: float
    df: int


@dataclass(frozen=True)
class _Between:
    """Pooled coefficients across trials: mean, its variance, tau^2, trials per coefficient;
    the same for log residual variance (continuous)."""

    mu: np.ndarray
    var_mu: np.ndarray
    tau2: np.ndarray
    count: np.ndarray
    log_s2: tuple[float, float, float, int]


def check_imputations(value: object, what: str = "imputations") -> int:
    """An integer M >= 2, or :class:`SpecError` naming ``what`` and the value."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 2:
        raise SpecError(f"{what}={value!r}: expected a whole number of imputations >= 2")
    return int(value)


def impute_covariates(
    ipd: IPD,
    columns: Sequence[str],
    *,
    imputations: int = DEFAULT_IMPUTATIONS,
    seed: int = 0,
    iterations: int = DEFAULT_ITERATIONS,
) -> tuple[pd.DataFrame, ...]:
    """M completed covariate frames of ``ipd`` by two-level chained equations.

    Parameters
    ----------
    ipd : IPD
        Built with ``missing="impute"`` (missing covariate values are NaN).
    columns : sequence of str
        The covariates of the analysis: the incomplete ones are imputed, all are predictors.
    imputations : int
        M >= 2.
    seed : int
        Seed of the generators (see the module docstring).
    iterations : int
        Chained-equation cycles per imputation.

    Returns
    -------
    tuple of DataFrame
        ``ipd.covariates`` with the missing values of ``columns`` filled in, one per
        imputation (observed values unchanged).

    Raises
    ------
    SpecError
        ``imputations`` is not a whole number >= 2.
    IPDDataError
        A covariate is categorical with more than two levels and incomplete, or no trial
        has enough observed values of a covariate to fit its imputation model.

    Examples
    --------
    >>> from bayes_ipd.simulate.missing_covariates import simulate_missing_covariates
    >>> sim = simulate_missing_covariates(n_trials=4, n_per_trial=60, seed=3)
    >>> ipd = IPD.from_frame(sim.data, study="study", treatment="treat", outcome="y",
    ...                      covariates=["x", "z"], missing="impute")
    >>> frames = impute_covariates(ipd, ["x", "z"], imputations=2, seed=1)
    >>> [int(f[["x", "z"]].isna().sum().sum()) for f in frames]
    [0, 0]
    """
    m_total = check_imputations(imputations)
    columns = list(dict.fromkeys(columns))
    targets = _targets(ipd, columns)
    fixed = outcome_predictors(ipd)
    out = []
    for m in range(m_total):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(m,)))
        out.append(_one_imputation(ipd, columns, targets, fixed, rng, iterations))
    return tuple(out)


def nelson_aalen(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """The Nelson-Aalen cumulative hazard at each participant's own time (ties: all events
    at a time counted before anyone leaves the risk set).

    Examples
    --------
    >>> nelson_aalen(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 1.0])).tolist()
    [0.3333333333333333, 0.3333333333333333, 1.3333333333333333]
    """
    uniq, inverse = np.unique(time, return_inverse=True)
    deaths = np.bincount(inverse, weights=event, minlength=uniq.size)
    leaving = np.bincount(inverse, minlength=uniq.size)
    at_risk = time.shape[0] - np.cumsum(leaving) + leaving
    return np.cumsum(deaths / at_risk)[inverse]


def outcome_predictors(ipd: IPD) -> tuple[np.ndarray, tuple[str, ...]]:
    """The outcome terms of the imputation models, one column each (the treatment enters by
    imputing each arm separately).

    Returns
    -------
    ndarray of float64, shape (n, q), and the column names
    """
    terms: dict[str, np.ndarray] = {}
    if ipd.outcome is not None:
        terms["outcome"] = np.asarray(ipd.outcome, dtype=np.float64)
    if ipd.event is not None and ipd.time is not None:
        hazard = np.empty(ipd.study.shape[0])
        for code in range(len(ipd.studies)):
            rows = ipd.study == code
            hazard[rows] = nelson_aalen(ipd.time[rows], ipd.event[rows])
        terms["event"] = np.asarray(ipd.event, dtype=np.float64)
        terms["cumulative hazard"] = hazard
    elif ipd.time is not None:
        terms["log exposure"] = np.log(ipd.time)
    return np.column_stack(list(terms.values())), tuple(terms)


# ------------------------------------------------------------------------------- the chain


def _targets(ipd: IPD, columns: Sequence[str]) -> list[_Target]:
    targets = []
    for name in columns:
        column = ipd.covariates[name]
        missing = column.isna().to_numpy()
        if not missing.any():
            continue
        if missing.all():
            raise IPDDataError(f"covariate {name!r} has no observed value in any trial")
        if isinstance(column.dtype, pd.CategoricalDtype):
            levels = tuple(column.cat.categories)
            if len(levels) != 2:
                raise IPDDataError(
                    f"covariate {name!r} is categorical with levels {quoted(levels)} and has "
                    "missing values; only continuous and two-level covariates are imputed"
                )
            targets.append(_Target(name, True, (levels[0], levels[1]), missing))
        else:
            observed = column.to_numpy(np.float64)[~missing]
            binary = bool(np.isin(observed, (0.0, 1.0)).all())
            targets.append(_Target(name, binary, None, missing))
    return targets


def _one_imputation(
    ipd: IPD,
    columns: list[str],
    targets: list[_Target],
    fixed: tuple[np.ndarray, tuple[str, ...]],
    rng: np.random.Generator,
    iterations: int,
) -> pd.DataFrame:
    values = {name: _numeric(ipd.covariates[name]) for name in columns}
    for target in targets:
        values[target.name] = _initial(values[target.name], target.missing, ipd.study, rng)
    arms = [ipd.treat == arm for arm in (0.0, 1.0)]
    for _ in range(iterations if targets else 0):
        for target in targets:
            for arm in arms:
                own = {name: v[arm] for name, v in values.items()}
                x = _predictors(fixed[0][arm], own, target.name)
                new = _draw_missing(
                    x, own[target.name], target.missing[arm], target, ipd.study[arm], rng
                )
                values[target.name][arm & target.missing] = new
    frame = ipd.covariates.copy()
    for target in targets:
        frame[target.name] = _as_column(values[target.name], target, frame[target.name])
    return frame


def _numeric(column: pd.Series) -> np.ndarray:
    """A covariate as float columns: numeric as is, two-level categorical 0/1 (NaN missing),
    other categorical as dummy columns (complete: never imputed)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy().astype(np.float64)
        codes[codes < 0] = np.nan
        if len(column.cat.categories) == 2:
            return codes
        k = len(column.cat.categories)
        return np.column_stack([(codes == j).astype(np.float64) for j in range(1, k)])
    return column.to_numpy(np.float64).copy()


def _as_column(values: np.ndarray, target: _Target, original: pd.Series) -> pd.Series:
    if target.levels is None:
        return pd.Series(values, index=original.index)
    labels = np.where(values > 0.5, target.levels[1], target.levels[0])
    return pd.Series(pd.Categorical(labels, dtype=original.dtype), index=original.index)


def _initial(
    values: np.ndarray, missing: np.ndarray, study: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Missing values replaced by random draws of the trial's observed values (all trials'
    when the trial has none)."""
    out = values.copy()
    pool_all = values[~missing]
    for code in np.unique(study[missing]):
        rows = np.flatnonzero((study == code) & missing)
        own = values[(study == code) & ~missing]
        source = own if own.size else pool_all
        out[rows] = rng.choice(source, size=rows.size)
    return out


def _predictors(fixed: np.ndarray, values: dict[str, np.ndarray], target: str) -> np.ndarray:
    """Intercept and the standardised predictors of ``target`` (constant ones left out)."""
    blocks = [fixed] + [v.reshape(len(v), -1) for name, v in values.items() if name != target]
    x = np.column_stack(blocks)
    sd = x.std(axis=0)
    keep = sd > 0
    z = (x[:, keep] - x[:, keep].mean(axis=0)) / sd[keep]
    return np.column_stack([np.ones(x.shape[0]), z])


# ---------------------------------------------------------------------- one two-level draw


def _draw_missing(
    x: np.ndarray,
    y: np.ndarray,
    missing: np.ndarray,
    target: _Target,
    study: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """New values for the ``missing`` rows (in row order) from one proper draw."""
    observed = ~missing
    k = int(study.max()) + 1
    fits = [
        _trial_fit(x[(study == c) & observed], y[(study == c) & observed], target.binary)
        for c in range(k)
    ]
    between = _between_trials(fits, x.shape[1], target)
    mu, tau2 = _draw_hyper(between, rng)
    log_s2 = _draw_log_s2(between.log_s2, rng)
    out = np.empty(int(missing.sum()))
    slots = np.cumsum(missing) - 1
    for c in range(k):
        rows = (study == c) & missing
        if not rows.any():
            continue
        own = (study == c) & observed
        beta, sigma = _trial_draw(fits[c], x[own], y[own], mu, tau2, log_s2, target.binary, rng)
        eta = x[rows] @ beta
        if target.binary:
            draw = (rng.random(eta.shape[0]) < special.expit(eta)).astype(np.float64)
        else:
            draw = eta + sigma * rng.standard_normal(eta.shape[0])
        out[slots[rows]] = draw
    return out


def _trial_fit(x: np.ndarray, y: np.ndarray, binary: bool) -> _TrialFit | None:
    """A trial's own fit on its observed rows, or None when it has too few of them."""
    if x.shape[0] == 0:
        return None
    active = np.ptp(x, axis=0) > 0
    active[0] = True
    xa = x[:, active]
    p = xa.shape[1]
    if xa.shape[0] < p + 2 or np.linalg.matrix_rank(xa) < p:
        return None
    beta = np.zeros(x.shape[1])
    var = np.full(x.shape[1], np.nan)
    if binary:
        mode, hessian = _logistic_mode(xa, y, np.zeros(p), np.full(p, _PRIOR_SD**-2))
        if mode is None:
            return None
        beta[active], var[active] = mode, np.diag(np.linalg.inv(hessian))
        return _TrialFit(beta, var, active, math.nan, 0)
    xtx_inv = np.linalg.inv(xa.T @ xa)
    coef = xtx_inv @ (xa.T @ y)
    df = xa.shape[0] - p
    s2 = float(np.sum((y - xa @ coef) ** 2) / df)
    if not s2 > 0:
        return None
    beta[active], var[active] = coef, s2 * np.diag(xtx_inv)
    return _TrialFit(beta, var, active, s2, df)


def _between_trials(fits: list[_TrialFit | None], p: int, target: _Target) -> _Between:
    usable = [f for f in fits if f is not None]
    if not usable:
        raise IPDDataError(
            f"covariate {target.name!r}: no trial has enough observed values to fit its "
            "imputation model"
        )
    mu, var_mu, tau2, count = np.zeros(p), np.zeros(p), np.zeros(p), np.zeros(p, dtype=int)
    for j in range(p):
        est = np.array([f.beta[j] for f in usable if f.active[j]])
        var = np.array([f.var[j] for f in usable if f.active[j]])
        if est.size:
            mu[j], var_mu[j], tau2[j] = _dersimonian_laird(est, var)
            count[j] = est.size
    log_s2 = (math.nan, 0.0, 0.0, 0)
    if not target.binary:
        est = np.log([f.s2 for f in usable])
        var = np.array([2.0 / f.df for f in usable])
        log_s2 = (*_dersimonian_laird(est, var), est.size)
    return _Between(mu, var_mu, tau2, count, log_s2)


def _dersimonian_laird(est: np.ndarray, var: np.ndarray) -> tuple[float, float, float]:
    """Random-effects mean, its variance and tau^2 (DerSimonian & Laird 1986)."""
    w = 1.0 / var
    if est.size < 2:
        return float(est[0]), float(var[0]), 0.0
    fixed = np.sum(w * est) / w.sum()
    q = float(np.sum(w * (est - fixed) ** 2))
    c = float(w.sum() - np.sum(w**2) / w.sum())
    tau2 = max(0.0, (q - (est.size - 1)) / c) if c > 0 else 0.0
    if tau2 < 1e-8 * float(np.median(var)):
        tau2 = 0.0
    w_re = 1.0 / (var + tau2)
    return float(np.sum(w_re * est) / w_re.sum()), float(1.0 / w_re.sum()), tau2


def _draw_tau2(tau2: float, count: int, rng: np.random.Generator) -> float:
    if count < 2 or tau2 <= 0:
        return tau2
    return tau2 * (count - 1) / rng.chisquare(count - 1)


def _draw_hyper(between: _Between, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    mu = between.mu + np.sqrt(between.var_mu) * rng.standard_normal(between.mu.shape[0])
    tau2 = np.array(
        [_draw_tau2(t, c, rng) for t, c in zip(between.tau2, between.count, strict=True)]
    )
    return mu, tau2


def _draw_log_s2(
    log_s2: tuple[float, float, float, int], rng: np.random.Generator
) -> tuple[float, float]:
    mean, var_mean, tau2, count = log_s2
    if math.isnan(mean):
        return mean, 0.0
    return mean + math.sqrt(var_mean) * rng.standard_normal(), _draw_tau2(tau2, count, rng)


def _trial_draw(
    fit: _TrialFit | None,
    x: np.ndarray,
    y: np.ndarray,
    mu: np.ndarray,
    tau2: np.ndarray,
    log_s2: tuple[float, float],
    binary: bool,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    """A trial's coefficients (and residual SD) drawn given the hyperparameters."""
    if fit is None:  # borrows: its model drawn from the between-trial distribution
        beta = mu + np.sqrt(tau2) * rng.standard_normal(mu.shape[0])
        sigma = math.exp(0.5 * (log_s2[0] + math.sqrt(log_s2[1]) * rng.standard_normal()))
        return beta, sigma
    free = fit.active & (tau2 > 0)
    beta = mu.copy()  # fixed coefficients: tau^2* = 0, or a predictor constant in the trial
    offset = x[:, ~free] @ mu[~free]
    xf, prec = x[:, free], 1.0 / tau2[free]
    if binary:
        mode, hessian = _logistic_mode(xf, y, mu[free], prec, offset)
        if mode is None:
            raise IPDDataError("the logistic imputation model did not converge")
        beta[free] = mode + _normal_from_precision(hessian, rng)
        return beta, math.nan
    sigma2 = fit.s2 * fit.df / rng.chisquare(fit.df)
    precision = np.diag(prec) + xf.T @ xf / sigma2
    mean = np.linalg.solve(precision, prec * mu[free] + xf.T @ (y - offset) / sigma2)
    beta[free] = mean + _normal_from_precision(precision, rng)
    return beta, math.sqrt(sigma2)


def _normal_from_precision(precision: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A Normal(0, precision^-1) draw (via the Cholesky factor of the precision)."""
    if precision.shape[0] == 0:
        return np.zeros(0)
    chol = np.linalg.cholesky(precision)
    return np.linalg.solve(chol.T, rng.standard_normal(precision.shape[0]))


def _logistic_mode(
    x: np.ndarray,
    y: np.ndarray,
    prior_mean: np.ndarray,
    prior_prec: np.ndarray,
    offset: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Mode and Hessian of a logistic log-likelihood plus a Normal log-prior (Newton with
    step halving; the objective is strictly concave)."""
    offset = np.zeros(x.shape[0]) if offset is None else offset
    beta = prior_mean.copy()

    def objective(b: np.ndarray) -> float:
        eta = offset + x @ b
        loglik = np.sum(y * eta - np.logaddexp(0.0, eta))
        return float(loglik - 0.5 * np.sum(prior_prec * (b - prior_mean) ** 2))

    def hessian_at(b: np.ndarray) -> np.ndarray:
        p = special.expit(offset + x @ b)
        return (x * (p * (1 - p))[:, None]).T @ x + np.diag(prior_prec)

    if x.shape[1] == 0:
        return beta, np.zeros((0, 0))
    current = objective(beta)
    for _ in range(_NEWTON_STEPS):
        grad = x.T @ (y - special.expit(offset + x @ beta)) - prior_prec * (beta - prior_mean)
        step = np.linalg.solve(hessian_at(beta), grad)
        for _ in range(30):
            proposal = objective(beta + step)
            if proposal >= current - 1e-12 * abs(current):
                break
            step = step / 2
        beta, change, current = beta + step, current - proposal, proposal
        if float(grad @ step) < 1e-16 * max(1.0, abs(current)) or abs(change) < 1e-14:
            return beta, hessian_at(beta)
    return None, hessian_at(beta)
