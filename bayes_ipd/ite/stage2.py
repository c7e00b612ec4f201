"""Stage-2 poolers: from one fitted model per trial to the ITE of a new patient.

(a) ``mvma`` — multivariate random-effects meta-analysis (REML) of the ITE coefficients
    ``[t, t x]`` with each trial's full within-trial covariance
    (:func:`~bayes_ipd.two_stage.mvma.mvma`);
    ITE ``c(x)' beta``, SE ``sqrt(c' V c)``, prediction SD ``sqrt(c' (V + Psi) c)``.
(b) ``weighted`` — for any learner, a random-effects weighted average of the trials'
    predicted ITEs at each patient: the variance of trial ``k``'s prediction at ``x`` comes
    from an auxiliary OLS model of that trial (``weights="auxiliary"``) or from refitting
    the learner on ``n_boot`` bootstrap resamples, stratified by arm (``"bootstrap"``); the
    between-trial variance at ``x`` is DerSimonian-Laird's, weights ``1 / (v_k + tau^2)``.
(c) ``mvbayes`` — Bayesian multivariate meta-analysis of the conjugate posteriors' ITE
    coefficients (normal approximation of each trial's posterior): flat prior on the pooled
    vector, half-normal priors on the between-trial SDs (diagonal, or the treatment effect
    only), sampled by a random-walk Metropolis chain on the log SDs with the pooled vector
    integrated out exactly (its conditional posterior is normal), then drawn given each SD.
(d) ``mixing`` — a mixture of the trials' posterior distributions of the ITE at ``x``,
    weights proportional to each trial's posterior precision at ``x``: the ITE is the
    mixture mean, its SE ``sqrt(sum w^2 var_k)``, and the prediction interval the mixture's
    equal-tailed quantiles.

Intervals: normal quantiles for (a), (b) and the CI of (d); posterior quantiles for (c).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayes_ipd.errors import SpecError
from bayes_ipd.ite.data import ITEData, TrialData
from bayes_ipd.ite.learners import FittedTrial, Learner, LinearFit, OLSLearner, contrast
from bayes_ipd.ite.prediction import ITEPrediction, from_draws, from_normal
from bayes_ipd.two_stage.mvma import MultivariateMA, _gls, mvma, restricted_loglik

__all__ = [
    "STAGE2_NAMES",
    "MVBayesModel",
    "MVMAModel",
    "MixingModel",
    "WeightedModel",
    "check_feasible",
    "default_ite_stage2",
    "pool_stage2",
]

STAGE2_NAMES = ("mvma", "weighted", "mvbayes", "mixing")
RANDOM = {
    "all": "unstructured",
    "unstructured": "unstructured",
    "diagonal": "diagonal",
    "treatment": "treatment",
}
VARIANCE_FLOOR = 1e-12
MCMC_ITER = 3000
MCMC_BURN = 1000
MCMC_THIN = 2
MIX_DRAWS = 4000


# ------------------------------------------------------------------------ (a) mvma


@dataclass(frozen=True, eq=False)
class MVMAModel:
    """(a) The multivariate REML meta-analysis of the ITE coefficients."""

    fit: MultivariateMA
    method: str = "mvma"

    def coefficients(self) -> dict[str, Any]:
        return self.fit.to_dict()

    def predict(self, x: np.ndarray, level: float = 0.95) -> ITEPrediction:
        c = contrast(x)
        ite = c @ self.fit.estimate
        se = np.sqrt(np.einsum("ij,jk,ik->i", c, self.fit.covariance, c))
        total = self.fit.covariance + self.fit.between
        pi_sd = np.sqrt(np.einsum("ij,jk,ik->i", c, total, c))
        return from_normal(np.atleast_2d(x), ite, se, pi_sd, level)


def _stack(fits: Sequence[LinearFit]) -> tuple[np.ndarray, np.ndarray]:
    return np.stack([f.coefficients for f in fits]), np.stack([f.covariance for f in fits])


def pool_mvma(fits: Sequence[LinearFit], terms: Sequence[str], random: str) -> MVMAModel:
    y, s = _stack(fits)
    structure = RANDOM[random]
    if structure == "unstructured" and len(fits) <= y.shape[1]:
        structure = "diagonal"  # REML cannot identify a full d x d matrix from k <= d trials
    return MVMAModel(mvma(y, s, structure=structure, terms=terms))


# -------------------------------------------------------------------- (b) weighted


def dl_pool(f: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise DerSimonian-Laird pooling of (K, n) predictions and variances:
    estimate, SE and tau^2, each (n,)."""
    w = 1.0 / v
    sw = w.sum(axis=0)
    fe = (w * f).sum(axis=0) / sw
    q = (w * (f - fe) ** 2).sum(axis=0)
    c = sw - (w**2).sum(axis=0) / sw
    tau2 = np.maximum(0.0, (q - (f.shape[0] - 1)) / c)
    ws = 1.0 / (v + tau2)
    est = (ws * f).sum(axis=0) / ws.sum(axis=0)
    return est, 1.0 / np.sqrt(ws.sum(axis=0)), tau2


@dataclass(frozen=True, eq=False)
class WeightedModel:
    """(b) Random-effects weighted average of the trials' predicted ITEs."""

    fits: tuple[FittedTrial, ...]
    variances: tuple[Callable[[np.ndarray], np.ndarray], ...]
    weights: str
    method: str = "weighted"

    def coefficients(self) -> None:
        return None

    def trial_predictions(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(K, n) predictions and their variances."""
        f = np.stack([fit.predict(x) for fit in self.fits])
        v = np.stack([np.maximum(var(x), VARIANCE_FLOOR) for var in self.variances])
        return f, v

    def predict(self, x: np.ndarray, level: float = 0.95) -> ITEPrediction:
        x = np.atleast_2d(x)
        est, se, tau2 = dl_pool(*self.trial_predictions(x))
        return from_normal(x, est, se, np.sqrt(se**2 + tau2), level)


def _bootstrap_variance(
    learner: Learner, trial: TrialData, n_boot: int, seed: int
) -> Callable[[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    arms = [np.flatnonzero(trial.treat == a) for a in (0, 1)]
    refits = []
    for b in range(n_boot):
        index = np.concatenate([rng.choice(a, size=a.size, replace=True) for a in arms])
        refits.append(learner.fit(trial.take(index), seed + 1 + b))

    def variance(x: np.ndarray) -> np.ndarray:
        return np.stack([r.predict(x) for r in refits]).var(axis=0, ddof=1)

    return variance


def pool_weighted(
    fits: Sequence[FittedTrial],
    data: ITEData,
    learner: Learner,
    weights: str,
    n_boot: int,
    seeds: Sequence[int],
) -> WeightedModel:
    if weights == "auxiliary":
        variances = tuple(OLSLearner().fit(t).prediction_variance for t in data.trials)
    elif weights == "bootstrap":
        variances = tuple(
            _bootstrap_variance(learner, t, n_boot, s)
            for t, s in zip(data.trials, seeds, strict=True)
        )
    else:
        raise SpecError(f"weights {weights!r}: use 'auxiliary' or 'bootstrap'")
    return WeightedModel(tuple(fits), variances, weights)


# --------------------------------------------------------------------- (c) mvbayes


@dataclass(frozen=True, eq=False)
class MVBayesModel:
    """(c) Posterior draws of the pooled ITE coefficients and the between-trial covariance."""

    terms: tuple[str, ...]
    beta: np.ndarray  # (S, d)
    psi: np.ndarray  # (S, d, d)
    acceptance: float
    seed: int
    method: str = "mvbayes"

    def coefficients(self) -> dict[str, Any]:
        sd = np.sqrt(np.diagonal(self.psi, axis1=1, axis2=2))
        between_sd = np.median(sd, axis=0)
        return {
            "pooled": {
                t: {
                    "estimate": float(self.beta[:, i].mean()),
                    "se": float(self.beta[:, i].std(ddof=1)),
                }
                for i, t in enumerate(self.terms)
            },
            "between_trial_sd": {t: float(s) for t, s in zip(self.terms, between_sd, strict=True)},
            "between_trial_cor": np.eye(len(self.terms)).tolist(),
        }

    def predict(self, x: np.ndarray, level: float = 0.95) -> ITEPrediction:
        x = np.atleast_2d(x)
        c = contrast(x)
        rng = np.random.default_rng(self.seed)
        sd = np.sqrt(np.diagonal(self.psi, axis1=1, axis2=2))
        u = rng.standard_normal(self.beta.shape) * sd
        return from_draws(x, self.beta @ c.T, (self.beta + u) @ c.T, level)


def _half_normal_scale(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Default prior scale of each between-trial SD: the spread of the trials' estimates
    plus their typical SE (weakly informative, on the data's own scale)."""
    spread = y.std(axis=0, ddof=1) if y.shape[0] > 1 else np.zeros(y.shape[1])
    return spread + np.sqrt(np.median(np.diagonal(s, axis1=1, axis2=2), axis=0))


def pool_mvbayes(
    fits: Sequence[LinearFit],
    terms: Sequence[str],
    random: str,
    seed: int,
    tau_scale: np.ndarray | None = None,
) -> MVBayesModel:
    y, s = _stack(fits)
    d = y.shape[1]
    structure = "treatment" if random == "treatment" else "diagonal"
    n_free = 1 if structure == "treatment" else d
    scale = np.asarray(tau_scale if tau_scale is not None else _half_normal_scale(y, s))[:n_free]

    def psi_of(eta: np.ndarray) -> np.ndarray:
        psi = np.zeros((d, d))
        idx = np.arange(n_free)
        psi[idx, idx] = np.exp(2.0 * eta)
        return psi

    def log_post(eta: np.ndarray) -> float:
        sd = np.exp(eta)
        prior = float(np.sum(-0.5 * (sd / scale) ** 2 + eta))  # half-normal with Jacobian
        return restricted_loglik(y, s, psi_of(eta), "REML") + prior

    rng = np.random.default_rng(seed)
    start = mvma(y, s, structure=structure, terms=terms).between_sd[:n_free]
    eta = np.log(np.maximum(start, 0.05 * scale))
    current, step = log_post(eta), 0.7 / np.sqrt(n_free)
    accepted, window = 0, 0
    kept: list[np.ndarray] = []
    for it in range(MCMC_ITER):
        proposal = eta + step * rng.standard_normal(n_free)
        value = log_post(proposal)
        if np.log(rng.random()) < value - current:
            eta, current = proposal, value
            window += 1
            accepted += it >= MCMC_BURN
        if it < MCMC_BURN and it % 100 == 99:  # adapt the step during burn-in only
            step *= float(np.exp(window / 100 - 0.35))
            window = 0
        if it >= MCMC_BURN and (it - MCMC_BURN) % MCMC_THIN == 0:
            kept.append(eta.copy())
    psis = np.stack([psi_of(e) for e in kept])
    betas = np.empty((len(kept), d))
    for i, psi in enumerate(psis):
        mean, cov, _, _ = _gls(y, s, psi)
        betas[i] = mean + np.linalg.cholesky(cov) @ rng.standard_normal(d)
    rate = accepted / (MCMC_ITER - MCMC_BURN)
    return MVBayesModel(tuple(terms), betas, psis, rate, seed + 1)


# ---------------------------------------------------------------------- (d) mixing


@dataclass(frozen=True, eq=False)
class MixingModel:
    """(d) Precision-weighted mixture of the trials' posterior ITE distributions."""

    fits: tuple[FittedTrial, ...]
    seed: int
    draws: int = MIX_DRAWS
    method: str = "mixing"

    def coefficients(self) -> None:
        return None

    def predict(self, x: np.ndarray, level: float = 0.95) -> ITEPrediction:
        x = np.atleast_2d(x)
        rng = np.random.default_rng(self.seed)
        all_draws = np.stack([f.draws(x, self.draws, rng) for f in self.fits])  # (K, S, n)
        means, var = all_draws.mean(axis=1), all_draws.var(axis=1, ddof=1)
        w = (1.0 / var) / (1.0 / var).sum(axis=0)
        ite = (w * means).sum(axis=0)
        se = np.sqrt((w**2 * var).sum(axis=0))
        u = rng.random((self.draws, x.shape[0]))
        trial = (u[None] > np.cumsum(w, axis=0)[:, None, :]).sum(axis=0)
        trial = np.minimum(trial, len(self.fits) - 1)
        mix = np.take_along_axis(all_draws, trial[None], axis=0)[0]
        tail = (1.0 - level) / 2.0
        pi = np.quantile(mix, [tail, 1.0 - tail], axis=0)
        normal = from_normal(x, ite, se, se, level)
        return ITEPrediction(x, ite, se, normal.ci_low, normal.ci_high, pi[0], pi[1], level)


# -------------------------------------------------------------------- dispatch


def default_ite_stage2(learner: Learner) -> str:
    """The stage 2 used when none is given: ``mvma`` for a learner with coefficients and
    their covariance (ols, bayes), else ``weighted`` (``bayes-ipd ite`` and ``[ite]``)."""
    return "mvma" if learner.linear else "weighted"


def check_feasible(learner: Learner, stage2: str) -> None:
    """Refuse a stage-1 x stage-2 combination the method cannot do."""
    if stage2 not in STAGE2_NAMES:
        raise SpecError(
            f"unknown stage-2 method {stage2!r}; choose one of {', '.join(STAGE2_NAMES)}"
        )
    if stage2 == "mvma" and not learner.linear:
        raise SpecError(
            f"stage 2 'mvma' pools coefficients with their covariance; stage 1 {learner.name!r} "
            "has none (use ols or bayes, or stage 2 'weighted')"
        )
    if stage2 in ("mvbayes", "mixing") and not learner.bayesian:
        raise SpecError(
            f"stage 2 {stage2!r} needs a Bayesian stage 1 (bayes); got {learner.name!r}"
        )


def pool_stage2(
    stage2: str,
    fits: Sequence[FittedTrial],
    data: ITEData,
    learner: Learner,
    *,
    random: str = "all",
    weights: str = "auxiliary",
    n_boot: int = 20,
    seeds: Sequence[int] = (),
    seed: int = 0,
) -> Any:
    """Run stage 2 ``stage2`` on the per-trial fits (in ``data.trials`` order)."""
    check_feasible(learner, stage2)
    if random not in RANDOM:
        raise SpecError(f"random {random!r}: use one of {', '.join(RANDOM)}")
    terms = data.terms
    if stage2 == "mvma":
        return pool_mvma(fits, terms, random)  # type: ignore[arg-type]
    if stage2 == "weighted":
        return pool_weighted(fits, data, learner, weights, n_boot, seeds)
    if stage2 == "mvbayes":
        return pool_mvbayes(fits, terms, random, seed)  # type: ignore[arg-type]
    return MixingModel(tuple(fits), seed)
