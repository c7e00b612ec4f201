"""B13: the one-stage MMRM on exact pattern statistics vs the same model written on rows.

Data: ``simulate_repeated`` with 20 trials and N participants each, visits 4, 8, 12, MAR
dropout and intermittent missed visits, one baseline covariate (>= 50,000 participant-
visits by default). Both models are the model of :mod:`bayes_ipd.one_stage.repeated_model`
with the same priors and parameterisation (stratified visit means, per-visit effects with
an LKJ correlation, unstructured residual covariance per trial): ours evaluates the
likelihood from the per-(trial, arm, pattern) statistics; the baseline evaluates every
participant's multivariate normal density over its observed visits (the residual vector
of each participant, the covariance's Cholesky inverse per trial and pattern). Both are
sampled by the package's sampler (nutpie when installed), in one run, one after the other.

Reported: compile and sampling seconds, the smallest bulk ESS of ``effect`` (per visit)
and sampling seconds per 1,000 ESS; ``ratio`` = baseline / ours.

Run: ``python benchmarks/b13_repeated_ess.py [--per-study 1100] [--draws 300] [--tune 300]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pymc as pm

from bayes_ipd.convergence import convergence
from bayes_ipd.data.visits import repeated_from_frame
from bayes_ipd.one_stage.repeated_model import (
    LOG_2PI,
    RepeatedBuilt,
    RepeatedOptions,
    _cholesky_inverse,
    _residual_covariance,
    _treatment_effects,
    build_repeated_model,
    default_priors,
)
from bayes_ipd.one_stage.repeated_result import sample_repeated
from bayes_ipd.one_stage.repeated_summaries import summarise_repeated, wide_outcomes
from bayes_ipd.simulate.repeated import simulate_repeated
from bayes_ipd.spec import SamplerSettings

COLUMNS = {"study": "study", "treatment": "treat", "outcome": "y", "participant": "id"}


def row_level_model(data, summaries, options: RepeatedOptions) -> RepeatedBuilt:
    """The same MMRM with one density per participant (the baseline)."""
    s = summaries
    y, x, trial, arm = wide_outcomes(data)
    observed = np.isfinite(y)
    x = x - np.stack([x[trial == k].mean(axis=0) for k in range(s.k)])[trial]
    bits = observed @ (1 << np.arange(y.shape[1]))
    keys = np.stack([trial, bits], axis=1)
    groups, group_of = np.unique(keys, axis=0, return_inverse=True)
    mask_g = ((groups[:, 1:2] >> np.arange(y.shape[1])) & 1).astype(np.float64)
    priors = default_priors(s, options)
    coords = {"study": list(s.studies), "visit": list(s.visits), "covariate": list(s.covariates)}
    v = len(s.visits)
    coords["visit_pair"] = [f"{s.visits[i]}:{s.visits[j]}" for i in range(v) for j in range(i)]
    coords["term"], coords["term_pair"] = ["intercept", "slope"], ["slope:intercept"]
    with pm.Model(coords=coords) as model:
        h = {name: pm.Data(f"prior_{name}", np.asarray(val)) for name, val in priors.items()}
        centre = pm.Data("centre", s.centre)
        yc = pm.Data("y", np.where(observed, y - s.centre[trial], 0.0))
        mask = pm.Data("mask", observed.astype(np.float64))
        xs = pm.Data("x", x)
        tr, a = pm.Data("trial", trial), pm.Data("arm", arm.astype(np.float64))
        gi, gt = pm.Data("group", group_of.ravel()), pm.Data("group_trial", groups[:, 0])
        mg = pm.Data("group_mask", mask_g)
        offset = pm.Normal(
            "mu_offset", h["intercept"][0] - centre, h["intercept"][1], dims=("study", "visit")
        )
        theta = _treatment_effects(options, h, s, s.k, v)
        beta = pm.Normal("beta", 0.0, h["coefficients"][None, :], dims=("visit", "covariate"))
        cov = _residual_covariance(options, h, s.k, v)[gt]
        padded = cov * mg[:, :, None] * mg[:, None, :] + (1 - mg)[:, :, None] * np.eye(v)
        inv, logdet = _cholesky_inverse(padded, v)
        resid = mask * (yc - offset[tr] - a[:, None] * theta[tr] - xs @ beta.T)
        w = (inv[gi] * resid[:, None, :]).sum(axis=-1)  # L^-1 r per participant
        ll = -0.5 * (mask.sum(axis=1) * LOG_2PI + logdet[gi] + (w**2).sum(axis=1))
        pm.Potential("loglik", ll.sum())
    return RepeatedBuilt(model=model, summaries=s, options=options, primary=v - 1, priors=priors)


def _case(built: RepeatedBuilt, sampler: SamplerSettings) -> dict[str, Any]:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata, diag = sample_repeated(built, sampler)
    total = time.perf_counter() - t0
    draws = np.asarray(idata.posterior["effect"].transpose("chain", "draw", "visit").values)
    ess = float(convergence(np.moveaxis(draws, 2, 0)).ess_bulk.min())
    return {
        "compile_seconds": diag.compile_seconds,
        "sampling_seconds": diag.sampling_seconds,
        "total_seconds": total,
        "ess_bulk_effect_min": ess,
        "sampling_seconds_per_1000_ess": 1000.0 * diag.sampling_seconds / ess,
        "divergences": diag.divergences,
        "effect_mean": draws.mean(axis=(0, 1)).tolist(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=20)
    parser.add_argument("--per-study", type=int, default=1100)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--tune", type=int, default=300)
    parser.add_argument("--chains", type=int, default=2)
    args = parser.parse_args(argv)
    rows, _ = simulate_repeated(
        args.studies, args.per_study, dropout=0.15, intermittent=0.1, seed=13
    )
    data = repeated_from_frame(rows, **COLUMNS, visit="visit", covariates=["baseline"])
    t0 = time.perf_counter()
    summaries = summarise_repeated(data)
    summary_seconds = time.perf_counter() - t0
    options = RepeatedOptions()
    sampler = SamplerSettings(
        draws=args.draws, tune=args.tune, chains=args.chains, progress=False, seed=5
    )
    ours = _case(build_repeated_model(summaries, options), sampler)
    ours["summary_seconds"] = summary_seconds
    baseline = _case(row_level_model(data, summaries, options), sampler)
    out = {
        "trials": summaries.k,
        "participants": summaries.n_participants,
        "participant_visits": summaries.n_observations,
        "groups": int(summaries.n.size),
        "ours": ours,
        "row_level": baseline,
        "ratio_seconds_per_1000_ess": baseline["sampling_seconds_per_1000_ess"]
        / ours["sampling_seconds_per_1000_ess"],
    }
    print(f"{'case':<28}{'ours':>12}{'row-level':>12}{'ratio':>8}")
    for key in ("compile_seconds", "sampling_seconds", "sampling_seconds_per_1000_ess"):
        a, b = ours[key], baseline[key]
        print(f"{key:<28}{a:>12.2f}{b:>12.2f}{b / a:>8.1f}")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
