"""B12: seconds per 1,000 bulk-ESS of the effect, survival models beyond PH, vs row-level PyMC.

Data: ``simulate_survival`` with 6 trials x 300 participants (1,800 rows; Weibull shape 1.5,
true log HR -0.29, tau 0.15, 5 years of follow-up with 10% dropout), no covariates in the
model. Two one-stage models (issue 26):

* **per-period**: a random treatment effect per period, ``theta_{k,p} ~ N(mu_p, tau_p)``,
  periods ``[0, 2)`` and ``[2, inf)`` years (``treatment_by_interval = [2]``), on the
  piecewise-exponential random-walk baseline with 6 intervals (the period cut added to
  them). Effect measured: ``mu_period`` (the smaller bulk ESS of its two elements).
* **spline baseline**: proportional hazards, the baseline log hazard a restricted cubic spline
  in log time with 4 knots (``baseline = "spline"``; constant on each of the ~40 grid
  intervals), trials sharing its shape with a spread. Effect measured: ``mu``.

Sampler: 2 chains x 500 draws after 500 tuning steps (the machine has 2 cores).

* ours: ``bayes_ipd.fit`` (exact collapsed likelihood on cells of (trial, interval, design
  row), arm-weighted exposures for the per-period model, nutpie), timed from the DataFrame
  (``IPD.from_frame``) to the posterior, compile included, each case in a fresh process.
* baseline: the plain row-level PyMC model of the same likelihood: one ``pm.Poisson`` term
  per participant and interval at risk with log exposure as offset ("Poisson trick"), the
  same cut points, spline basis, priors (``priors_for``) and non-centred trial effects,
  sampled with ``pm.sample`` (PyMC's NUTS, default settings), timed from the DataFrame to the
  posterior, compile included. Its log density equals bayes_ipd's model's up to the constant
  ``sum d log E`` (``tests/test_b12_survival_periods.py`` checks it at random points). The
  cut points and spline knots are read from bayes_ipd's design before the clock starts.

Figure: ``1000 * seconds / bulk-ESS(effect)``; ratio = baseline / ours.
Run: ``python benchmarks/b12_survival_periods.py`` (``--smoke`` for a seconds-long check).
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common
from benchmarks.b5_survival_ess import person_interval_rows
from benchmarks.common import Row

NAME = "b12_survival_periods"
INTERVALS = 6
PERIOD_CUTS = (2.0,)
KNOTS = 4
MODELS: dict[str, dict[str, Any]] = {
    "per-period": {"intervals": INTERVALS, "treatment_by_interval": PERIOD_CUTS},
    "spline baseline": {"baseline": "spline", "knots": KNOTS},
}
"""The two models, as ModelSpec keywords."""
EFFECT = {"per-period": "mu_period", "spline baseline": "mu"}
"""The posterior variable whose bulk ESS is measured (minimum over its elements)."""


@dataclass(frozen=True)
class Config:
    """Sizes and sampler settings of one B12 run."""

    n_studies: int = 6
    n_per_study: int = 300
    data_seed: int = 1212
    draws: int = 500
    tune: int = 500
    chains: int = 2
    seed: int = 20261207
    backend: str = "auto"
    models: tuple[str, ...] = tuple(MODELS)
    run_baseline: bool = True


FULL = Config()
SMOKE = Config(
    n_studies=3,
    n_per_study=60,
    draws=30,
    tune=30,
    chains=1,
    backend="pymc",
    run_baseline=False,
)


# --------------------------------------------------------------------------- data, model


def simulated_frame(n_studies: int, n_per_study: int, seed: int) -> Any:
    """Simulated survival trials (proportional hazards; no covariate effects used)."""
    from bayes_ipd.simulate import simulate_survival

    frame, _ = simulate_survival(n_studies, n_per_study, seed=seed)
    return frame


def survival_ipd(frame: Any) -> Any:
    """The frame as a survival IPD without covariates."""
    from bayes_ipd.data import IPD

    return IPD.from_frame(
        frame, study="trial", treatment="treat", time="time", event="event", family="survival"
    )


def model_spec(model: str, parameterisation: str = "auto") -> Any:
    """The ModelSpec of ``model`` (a key of :data:`MODELS`)."""
    from bayes_ipd.spec import ModelSpec

    return ModelSpec("survival", parameterisation=parameterisation, **MODELS[model])


def spline_basis_of(design: Any) -> np.ndarray:
    """(J, m) the spline baseline's basis at the intervals' representative log times, minus
    its first row: what bayes_ipd's ``baseline_spline_basis`` holds."""
    from bayes_ipd.families.survival_time import knot_log_times, representative_log_times
    from bayes_ipd.spline_basis import rcs_basis

    basis = rcs_basis(representative_log_times(design.cutpoints), knot_log_times(design, KNOTS))
    return basis - basis[:1]


def row_level_model(
    frame: Any,
    priors: Any,
    cutpoints: Sequence[float],
    *,
    period_cuts: Sequence[float] = (),
    spline_basis: np.ndarray | None = None,
) -> Any:
    """Plain PyMC model with one Poisson term per person-interval at risk.

    ``d_ij ~ Poisson(E_ij exp(alpha_k + w_kj + logHR_kj t_i))``: ``w`` the free offsets of
    each interval's log hazard from the first (``log_hazard_offset``, Normal(0, 2.5)) or,
    with ``spline_basis``, the spline walk ``(s + sd z_k)' B_j``; ``logHR_kj = theta_k``
    (PH) or, with ``period_cuts``, the effect of interval j's period,
    ``theta_{k,p} = mu_p + tau_p z_{k,p}`` (non-centred).
    """
    import pandas as pd
    import pymc as pm
    import pytensor.tensor as pt

    from bayes_ipd.families.survival_time import interval_periods
    from bayes_ipd.families.survival_time_model import FREE_STEP_SD
    from bayes_ipd.priors import tau_to_pymc

    codes, labels = pd.factorize(frame["trial"], sort=True)
    k, n_int = len(labels), len(cutpoints) + 1
    person, interval, exposure, died = person_interval_rows(
        frame["time"].to_numpy(np.float64), frame["event"].to_numpy(np.int64), cutpoints
    )
    study = codes[person]
    treat = frame["treat"].to_numpy(np.float64)[person]
    coords = {"study": list(labels), "step": list(range(1, n_int))}
    with pm.Model(coords=coords) as model:
        mu = priors.effect.to_pymc("mu")
        tau = tau_to_pymc(priors.tau, name="tau")
        theta_z = pm.Normal("theta_z", 0.0, 1.0, dims="study")
        theta = mu + tau * theta_z
        alpha = priors.intercept.to_pymc("alpha", dims="study")
        if spline_basis is None:
            # a time-varying effect sits on free per-interval offsets of the log hazard
            # (families.survival_time_model.free_walk), not the PH model's random walk
            offset = pm.Normal("log_hazard_offset", 0.0, FREE_STEP_SD, dims=("study", "step"))
            walk = pt.concatenate([pt.zeros((k, 1)), offset], axis=1)
        else:
            model.add_coord("spline_term", list(range(spline_basis.shape[1])))
            mean = pm.Normal("baseline_spline_mean", 0.0, 1.0, dims="spline_term")
            sd = pm.HalfNormal("baseline_spline_sd", 1.0)
            z = pm.Normal("baseline_spline_z", 0.0, 1.0, dims=("study", "spline_term"))
            walk = pt.dot(mean[None, :] + sd * z, spline_basis.T)
        if period_cuts:
            model.add_coord("period", [0.0, *period_cuts])
            model.add_coord("later_period", list(period_cuts))
            mu_later = priors.effect.to_pymc("mu_later", dims="later_period")
            tau_later = tau_to_pymc(priors.tau, name="tau_later", dims="later_period")
            z_later = pm.Normal("theta_later_z", 0.0, 1.0, dims=("study", "later_period"))
            every = pt.concatenate(
                [theta[:, None], mu_later[None, :] + tau_later[None, :] * z_later], axis=1
            )
            pm.Deterministic("mu_period", pt.concatenate([mu[None], mu_later]), dims="period")
            log_hr = every[:, interval_periods(cutpoints, period_cuts)]
        else:
            log_hr = theta[:, None] * pt.ones((1, n_int))
        log_rate = (
            alpha[study]
            + walk[study, interval]
            + log_hr[study, interval] * treat
            + np.log(exposure)
        )
        pm.Poisson("d", mu=pt.exp(log_rate), observed=died)
    return model


def baseline_inputs(frame: Any, model: str) -> tuple[Any, dict[str, Any]]:
    """bayes_ipd's resolved priors, and the cut points (and spline basis) of its design."""
    from bayes_ipd.one_stage.estimation import design_for

    ipd, spec = survival_ipd(frame), model_spec(model)
    priors = common.resolved_priors(ipd, spec)
    design = design_for(ipd, spec)
    extra: dict[str, Any] = {"cutpoints": tuple(design.cutpoints)}
    if MODELS[model].get("baseline") == "spline":
        extra["spline_basis"] = spline_basis_of(design)
    else:
        extra["period_cuts"] = PERIOD_CUTS
    return priors, extra


# --------------------------------------------------------------------------- cases


def _min_ess(idata: Any, name: str) -> float:
    import arviz as az

    return float(np.min(az.ess(idata, var_names=[name], method="bulk")[name].values))


def _posterior_means(idata: Any, name: str) -> list[float]:
    return np.atleast_1d(idata.posterior[name].mean(("chain", "draw")).values).tolist()


def ours_case(
    model: str,
    n_studies: int,
    n_per_study: int,
    data_seed: int,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    backend: str,
) -> dict[str, Any]:
    """One bayes_ipd fit; timed from the DataFrame on, compile included."""
    from bayes_ipd.one_stage.fitting import fit
    from bayes_ipd.one_stage.sampling import clear_compiled_cache

    clear_compiled_cache()
    frame = simulated_frame(n_studies, n_per_study, data_seed)
    t1 = time.perf_counter()
    ipd = survival_ipd(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(
            ipd,
            model_spec(model),
            common.sampler_settings(draws, tune, chains, seed, backend),
        )
    total = time.perf_counter() - t1
    d = result.diagnostics
    name = EFFECT[model]
    ess = _min_ess(result.idata, name)
    return {
        "model": model,
        "backend": d.backend,
        "rows": int(ipd.n),
        "cells": len(result.built.design.stats["cell_n"]),
        "intervals": int(result.built.design.n_intervals),
        "compile_seconds": d.compile_seconds,
        "sampling_seconds": d.sampling_seconds,
        "total_seconds": total,
        "ess_bulk_effect": ess,
        "r_hat_effect": common.r_hat(result.idata, name),
        "divergences": d.divergences,
        "seconds_per_1000_ess": common.seconds_per_kess(total, ess),
        "effect_mean": _posterior_means(result.idata, name),
    }


def baseline_case(
    model: str,
    n_studies: int,
    n_per_study: int,
    data_seed: int,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
) -> dict[str, Any]:
    """The row-level PyMC model with bayes_ipd's priors and cut points, ``pm.sample``."""
    import pymc  # noqa: F401  (the import a user pays, before the clock as in B5)

    frame = simulated_frame(n_studies, n_per_study, data_seed)
    priors, extra = baseline_inputs(frame, model)
    t1 = time.perf_counter()
    built = row_level_model(frame, priors, **extra)
    times, events = frame["time"].to_numpy(np.float64), frame["event"].to_numpy(np.int64)
    n_rows = int(person_interval_rows(times, events, extra["cutpoints"])[0].size)
    t2 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = common.sample_pymc_default(built, draws, tune, chains, seed)
    total = time.perf_counter() - t1
    name = EFFECT[model]
    ess = _min_ess(idata, name)
    return {
        "model": model,
        "rows": len(frame),
        "person_interval_rows": n_rows,
        "intervals": len(extra["cutpoints"]) + 1,
        "build_seconds": t2 - t1,
        "sample_seconds": total - (t2 - t1),
        "total_seconds": total,
        "ess_bulk_effect": ess,
        "r_hat_effect": common.r_hat(idata, name),
        "divergences": common.divergences(idata),
        "seconds_per_1000_ess": common.seconds_per_kess(total, ess),
        "effect_mean": _posterior_means(idata, name),
    }


# --------------------------------------------------------------------------- report


def table_rows(ours: dict[str, dict], baseline: dict[str, dict]) -> list[Row]:
    """Seconds per 1,000 ESS and bulk ESS of the effect, per model."""
    rows = []
    for model, r in ours.items():
        b = baseline.get(model, {})
        s_ours, s_base = r["seconds_per_1000_ess"], b.get("seconds_per_1000_ess")
        rows.append(
            Row(f"{model}: s per 1000 ESS({EFFECT[model]})", s_ours, s_base,
                common.ratio(s_base, s_ours))
        )  # fmt: skip
        e_ours, e_base = r["ess_bulk_effect"], b.get("ess_bulk_effect")
        rows.append(
            Row(f"{model}: bulk ESS", e_ours, e_base, common.ratio(e_ours, e_base), "draws")
        )
        t_ours, t_base = r["total_seconds"], b.get("total_seconds")
        rows.append(Row(f"{model}: wall time", t_ours, t_base, common.ratio(t_base, t_ours)))
    return rows


def detail_lines(ours: dict[str, dict], baseline: dict[str, dict]) -> str:
    """Where the time goes, and the posterior means of the effect on both sides."""
    lines = []
    for model, r in ours.items():
        lines.append(
            f"ours {model}: {r['rows']} rows -> {r['cells']} cells, {r['intervals']} intervals; "
            f"compile {_secs(r['compile_seconds'])} s, sampling {_secs(r['sampling_seconds'])} s; "
            f"R-hat {_secs(r['r_hat_effect'], 3)}, {r['divergences']} divergences; "
            f"mean {np.round(r['effect_mean'], 3).tolist()}"
        )
        b = baseline.get(model)
        if b:
            lines.append(
                f"row-level {model}: {b['person_interval_rows']} person-interval rows; "
                f"build {b['build_seconds']:.1f} s, sample {b['sample_seconds']:.1f} s; "
                f"R-hat {_secs(b['r_hat_effect'], 3)}, {b['divergences']} divergences; "
                f"mean {np.round(b['effect_mean'], 3).tolist()}"
            )
    return "\n".join(lines)


def _secs(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def run(
    config: Config = FULL,
    *,
    isolate: bool = True,
    results_dir: Path | None = None,
    wait_load: float | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run B12 and write ``<results_dir>/b12_survival_periods.json``; returns the payload."""
    info = common.machine_info()
    data = {
        "n_studies": config.n_studies,
        "n_per_study": config.n_per_study,
        "data_seed": config.data_seed,
    }
    sampler = {"draws": config.draws, "tune": config.tune, "chains": config.chains}
    sampler["seed"] = config.seed
    ours: dict[str, dict] = {}
    baseline: dict[str, dict] = {}
    for model in config.models:
        common.wait_for_quiet(wait_load)
        ours[model] = common.call_case(
            f"benchmarks.{Path(__file__).stem}:ours_case",
            {**data, **sampler, "model": model, "backend": config.backend},
            isolate,
        )
        if config.run_baseline:
            common.wait_for_quiet(wait_load)
            baseline[model] = common.call_case(
                f"benchmarks.{Path(__file__).stem}:baseline_case",
                {**data, **sampler, "model": model},
                isolate,
            )
    rows = table_rows(ours, baseline)
    payload = {
        "benchmark": NAME,
        "config": asdict(config),
        "machine": info,
        "load_average_at_end": common.load_average(),
        "rows": [r.to_dict() for r in rows],
        "ours": ours,
        "baseline": baseline,
    }
    path = common.write_results(NAME, payload, results_dir)
    if verbose:
        title = (
            f"B12 survival beyond PH, {config.n_studies} x {config.n_per_study:,}, "
            f"{config.chains} chains x {config.draws} draws (tune {config.tune})"
        )
        print(common.format_table(title, rows))
        print()
        print(detail_lines(ours, baseline))
        print(f"\nload average {info['load_average_at_start']} -> {payload['load_average_at_end']}")
        print(f"written {path}")
    return payload


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line: ``python benchmarks/b12_survival_periods.py [--smoke] [--no-isolate]``."""
    return common.standard_main(run, SMOKE, FULL, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
