"""One calibration replicate: draw truths from the prior, simulate, fit both routes, rank.

Replicate ``i`` of a study with seed ``s`` draws everything from
``numpy.random.SeedSequence([s, i])`` (truths and data from its first child, the sampler's
seed from its second), so its result does not depend on which worker runs it or in which
order. SBC (Talts et al. 2018): the truth of each parameter is ranked among ``L`` posterior
draws thinned evenly from all chains (``L = study.sbc_draws``; with ``chains x draws``
draws, the thinning factor is ``chains x draws / L``, chosen so the kept draws are close to
independent: check ``ess_bulk_min`` against ``L``). ``theta_new`` is the effect in a new
trial: its truth ``~ Normal(mu, tau)`` is ranked among posterior predictive draws.

Coverage: whether each 95% interval holds the truth: the one-stage equal-tailed CrI of
``mu``, ``tau`` and ``theta_new``; two-stage (per-trial regressions of
:func:`bayes_ipd.two_stage.fit_per_study`, pooled by :func:`bayes_ipd.two_stage.pool`) DL,
REML and REML + HKSJ confidence intervals of ``mu`` and the REML prediction interval
(t on k - 2 df; undefined for k < 3) for ``theta_new``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.calibration.design import CalibrationStudy
from bayes_ipd.priors import tau_scale_prior

__all__ = ["PARAMETERS", "TWO_STAGE_METHODS", "ReplicateResult", "run_replicate"]

PARAMETERS = ("mu", "tau", "theta_new")
TWO_STAGE_METHODS = ("DL", "REML", "REML+HKSJ", "REML PI")


@dataclass(frozen=True)
class ReplicateResult:
    """What one replicate found (plain values; one row of the study's table)."""

    index: int
    truth: dict[str, float]
    rank: dict[str, int]
    covered: dict[str, float]
    two_stage: dict[str, float]
    divergences: int
    r_hat_max: float
    ess_bulk_min: float
    excluded_trials: int
    seconds: float

    def row(self) -> dict[str, Any]:
        """Flat record: ``truth_mu, rank_mu, covered_mu, ..., ts_DL, ...``."""
        out: dict[str, Any] = {"replicate": self.index}
        for p in PARAMETERS:
            out[f"truth_{p}"] = self.truth[p]
            out[f"rank_{p}"] = self.rank[p]
            out[f"covered_{p}"] = self.covered[p]
        out.update({f"ts_{m}": v for m, v in self.two_stage.items()})
        out.update(
            divergences=self.divergences,
            r_hat_max=self.r_hat_max,
            ess_bulk_min=self.ess_bulk_min,
            excluded_trials=self.excluded_trials,
            seconds=self.seconds,
        )
        return out


def replicate_seeds(seed: int, index: int) -> tuple[np.random.Generator, int]:
    """The data generator and the sampler seed of replicate ``index``."""
    data_seq, sampler_seq = np.random.SeedSequence([seed, index]).spawn(2)
    return np.random.default_rng(data_seq), int(sampler_seq.generate_state(1)[0] % 2**31)


def draw_truth(study: CalibrationStudy, rng: np.random.Generator) -> dict[str, Any]:
    """Parameters drawn from the model's priors (tau through the tau convention)."""
    priors = study.prior_set()
    k = study.trials
    mu = float(priors.effect.rvs(1, rng)[0])
    tau = float(tau_scale_prior(priors.tau).rvs(1, rng)[0])
    truth: dict[str, Any] = {
        "mu": mu,
        "tau": tau,
        "theta": mu + tau * rng.standard_normal(k),
        "alpha": priors.intercept.rvs(k, rng),
        "theta_new": mu + tau * float(rng.standard_normal()),
    }
    if priors.sigma is not None:
        truth["sigma"] = priors.sigma.rvs(k, rng)
    return truth


Columns = dict[str, np.ndarray]

FOLLOW_UP = 1.0
"""Survival: every participant is followed to time 1 (administrative censoring)."""


def _binary(eta: np.ndarray, truth: dict[str, Any], k: int, rng: np.random.Generator) -> Columns:
    return {"outcome": (rng.random(eta.size) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int64)}


def _normal(eta: np.ndarray, truth: dict[str, Any], k: int, rng: np.random.Generator) -> Columns:
    return {"outcome": eta + truth["sigma"][k] * rng.standard_normal(eta.size)}


def _exponential(
    eta: np.ndarray, truth: dict[str, Any], k: int, rng: np.random.Generator
) -> Columns:
    # constant hazard exp(eta): the one-interval piecewise-exponential model
    t = rng.exponential(1.0, eta.size) * np.exp(-eta)
    return {"time": np.minimum(t, FOLLOW_UP), "event": (t <= FOLLOW_UP).astype(np.int64)}


def _counts(eta: np.ndarray, truth: dict[str, Any], k: int, rng: np.random.Generator) -> Columns:
    return {"outcome": rng.poisson(np.exp(eta)).astype(np.int64)}


#: Outcome columns, named by the family's response keywords (``IPD.from_frame``), by family.
_OUTCOMES = {
    "binomial": _binary,
    "gaussian": _normal,
    "survival": _exponential,
    "poisson": _counts,
}


def simulate_rows(
    study: CalibrationStudy, truth: dict[str, Any], rng: np.random.Generator
) -> pd.DataFrame:
    """Participant rows: 1:1 allocation per trial, outcome from the family's model (columns
    ``trial``, ``treat`` and the family's response keywords: ``outcome``, or ``time`` and
    ``event``)."""
    frames = []
    for k, n in enumerate(study.participants):
        treat = rng.permutation(np.arange(n) % 2)
        eta = truth["alpha"][k] + truth["theta"][k] * treat
        columns = _OUTCOMES[study.family](eta, truth, k, rng)
        frames.append(pd.DataFrame({"trial": f"T{k + 1:02d}", "treat": treat, **columns}))
    return pd.concat(frames, ignore_index=True)


def _rank(truth: float, draws: np.ndarray, keep: int) -> int:
    idx = np.unique(np.linspace(0, draws.size - 1, keep).round().astype(np.int64))
    return int(np.sum(draws[idx] < truth))


def _inside(truth: float, draws: np.ndarray) -> float:
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return float(lo <= truth <= hi)


def _two_stage(ipd: Any, truth: dict[str, Any]) -> tuple[dict[str, float], int]:
    from bayes_ipd.two_stage import fit_per_study, pool

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agg = fit_per_study(ipd)
    keep = np.array([r is None for r in agg.excluded]) & np.isfinite(agg.estimate)
    excluded = int((~keep).sum())
    out = dict.fromkeys(TWO_STAGE_METHODS, math.nan)
    if keep.sum() < 2:
        return out, excluded
    est, se = agg.estimate[keep], agg.se[keep]
    for method, hksj in (("DL", False), ("REML", False), ("REML+HKSJ", True)):
        r = pool(est, se, method=method.split("+")[0], hksj=hksj)
        out[method] = float(r.ci_low <= truth["mu"] <= r.ci_high)
        if method == "REML" and math.isfinite(r.pi_low):
            out["REML PI"] = float(r.pi_low <= truth["theta_new"] <= r.pi_high)
    return out, excluded


def run_replicate(study: CalibrationStudy, index: int) -> ReplicateResult:
    """Simulate, fit and rank replicate ``index`` of ``study`` (deterministic in both)."""
    import time

    from bayes_ipd.data import IPD
    from bayes_ipd.one_stage.fitting import fit

    t0 = time.perf_counter()
    rng, sampler_seed = replicate_seeds(study.seed, index)
    truth = draw_truth(study, rng)
    rows = simulate_rows(study, truth, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        responses = {c: c for c in rows.columns if c not in ("trial", "treat")}
        ipd = IPD.from_frame(
            rows, study="trial", treatment="treat", family=study.family, **responses
        )
        spec = study.model_spec()
        sampler = study.sampler.__class__(
            **{**study.sampler.to_dict(), "seed": sampler_seed, "progress": False}
        )
        result = fit(ipd, spec, sampler, priors=study.prior_set())
    post = result.idata.posterior
    draws = {
        "mu": np.asarray(post["mu"].values, dtype=float).ravel(),
        "tau": np.asarray(post["tau"].values, dtype=float).ravel(),
        "theta_new": np.asarray(result.predict_new_study().values, dtype=float).ravel(),
    }
    two, excluded = _two_stage(ipd, truth)
    d = result.diagnostics
    return ReplicateResult(
        index=index,
        truth={p: float(truth[p]) for p in PARAMETERS},
        rank={p: _rank(truth[p], draws[p], study.sbc_draws) for p in PARAMETERS},
        covered={p: _inside(truth[p], draws[p]) for p in PARAMETERS},
        two_stage=two,
        divergences=int(d.divergences),
        r_hat_max=float(d.r_hat_max),
        ess_bulk_min=float(d.ess_bulk_min),
        excluded_trials=excluded,
        seconds=time.perf_counter() - t0,
    )
