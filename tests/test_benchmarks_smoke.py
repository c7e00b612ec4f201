"""The speed benchmarks run end to end in their tiny "smoke" configuration.

No timing is asserted: each benchmark must produce its table rows (case, ours, baseline,
ratio) and its JSON file. The smoke configurations sample with PyMC's own NUTS (1 chain x
50 draws) to avoid a numba compile per case, and leave out the slow row-level baselines;
the baselines are instead checked to be the same model as bayes_ipd's: their log
posterior density equals that of the collapsed model at random points.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the benchmarks folder is not an installed package
    sys.path.insert(0, str(REPO))

from benchmarks import (  # noqa: E402
    b1_continuous_ess,
    b2_scaling,
    b3_bcg_cli,
    b4_refits,
    b5_survival_ess,
    b7_prior_sweep,
    b9_ite_grid,
    b11_pool_cli,
    common,
)

BENCHMARKS = [b1_continuous_ess, b2_scaling, b3_bcg_cli, b4_refits, b5_survival_ess, b9_ite_grid]
ROW_KEYS = {"case", "ours", "baseline", "ratio", "unit"}


def _is_number_or_none(x: object) -> bool:
    return x is None or (isinstance(x, int | float) and not isinstance(x, bool))


@pytest.mark.parametrize("bench", BENCHMARKS, ids=lambda m: m.NAME)
def test_benchmark_smoke_produces_table_rows(bench, tmp_path):
    payload = bench.run(bench.SMOKE, isolate=False, results_dir=tmp_path, verbose=False)
    rows = payload["rows"]
    assert rows, "a benchmark prints at least one row"
    for row in rows:
        assert set(row) == ROW_KEYS
        assert isinstance(row["case"], str) and row["case"]
        assert _is_number_or_none(row["ours"])
        assert _is_number_or_none(row["baseline"])
        assert _is_number_or_none(row["ratio"])
    assert rows[0]["ours"] is not None
    written = json.loads((tmp_path / f"{bench.NAME}.json").read_text())
    assert written["rows"] == rows
    assert "targets" in written and "machine" in written


def test_format_table_has_one_line_per_row():
    rows = [common.Row("a", 1.0, 20.0, 20.0), common.Row("b", None, None, None, "MiB")]
    text = common.format_table("title", rows)
    lines = text.splitlines()
    assert len(lines) == 3 + len(rows)
    assert lines[3].startswith("a [s]") and lines[3].rstrip().endswith("20x")
    assert lines[4].startswith("b [MiB]")


# --------------------------------------------------------------------------- baselines


def _logp_function(model):
    """The model's joint log density (value variables in), compiled without C code."""
    import pytensor

    return pytensor.function(model.value_vars, model.logp(), mode="FAST_COMPILE")


def _same_logp(ours_model, baseline_model, seed: int, points: int = 3, scales=None) -> list[tuple]:
    """(ours, baseline) log densities at random points of the baseline's value space.

    bayes_ipd samples coefficients per covariate SD (``beta_std = beta * scale``, see
    ``builder.scaled_coefficients``); at the matching point its log density is the
    baseline's minus the log Jacobian ``sum(log scale)`` of each rescaled variable.
    """
    rng = np.random.default_rng(seed)
    f_ours, f_base = _logp_function(ours_model), _logp_function(baseline_model)
    start = baseline_model.initial_point(random_seed=seed)
    base_vars = {v.name for v in baseline_model.value_vars}
    ours_names = {v.name.removesuffix("_std") for v in ours_model.value_vars}
    assert base_vars == ours_names
    scales = np.ones(1) if scales is None else np.asarray(scales)
    out = []
    for _ in range(points):
        point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in start.items()}
        base_args = [point[v.name] for v in baseline_model.value_vars]
        ours_args, jacobian = [], 0.0
        for v in ours_model.value_vars:
            shape = ours_model.initial_point()[v.name].shape
            value = np.reshape(point[v.name.removesuffix("_std")], shape)
            if v.name.endswith("_std"):
                value = value * scales
                jacobian += float(np.sum(np.log(np.broadcast_to(scales, shape))))
            ours_args.append(value)
        out.append((float(f_ours(*ours_args)) + jacobian, float(f_base(*base_args))))
    return out


def test_row_level_gaussian_baseline_is_the_collapsed_model():
    # Reference: the row-by-row normal log density summed over participants, which the
    # exact collapsed likelihood must reproduce (bayes_ipd.likelihoods, module docstring).
    from bayes_ipd.one_stage.builder import build_model
    from bayes_ipd.one_stage.design import build_design

    frame = common.simulated_continuous(3, 40, seed=5)
    ipd = common.continuous_ipd(frame)
    spec = common.continuous_spec("centred")
    design = build_design(ipd, spec)
    built = build_model(design, spec)
    priors = common.resolved_priors(ipd, spec)  # the same priors, per raw unit of age
    baseline = common.row_level_gaussian_model(frame, priors, parameterisation="centred")
    scales = design.term_scales()
    for ours, base in _same_logp(built.model, baseline, seed=1, scales=scales):
        assert ours == pytest.approx(base, rel=1e-9, abs=1e-6)


def test_row_level_bernoulli_baseline_is_the_collapsed_model():
    # Reference: the row-by-row Bernoulli log density, as above.
    from bayes_ipd.data import IPD
    from bayes_ipd.one_stage.builder import build_model
    from bayes_ipd.one_stage.design import build_design
    from bayes_ipd.simulate import simulate_binary
    from bayes_ipd.spec import ModelSpec

    frame, _ = simulate_binary(n_studies=4, n_per_study=60, seed=3)
    ipd = IPD.from_frame(
        frame, study="trial", treatment="treat", outcome="event", family="binomial"
    )
    spec = ModelSpec("binomial", parameterisation="centred")
    built = build_model(build_design(ipd, spec), spec)
    priors = common.resolved_priors(ipd, spec)  # no covariates: the priors as they are
    baseline = common.row_level_bernoulli_model(frame, priors, parameterisation="centred")
    for ours, base in _same_logp(built.model, baseline, seed=2):
        assert ours == pytest.approx(base, rel=1e-9, abs=1e-6)


def test_pool_benchmark_times_both_processes_and_writes_its_ratio(tmp_path):
    payload = b11_pool_cli.run(repeats=1, results_dir=tmp_path)
    (row,) = payload["rows"]
    assert set(row) >= ROW_KEYS
    assert row["ratio"] == pytest.approx(row["ours"] / row["baseline"])
    assert row["ours"] > 0 and row["baseline"] > 0
    saved = json.loads((tmp_path / "b11_pool_cli.json").read_text())
    assert saved["pool_over_import_target"] == 1.5


def test_sweep_benchmark_runs_both_cli_cases_and_checks_the_sweep_reused_one_model(tmp_path):
    # the session's compiled-model cache (cold=False): the contract, not the timing
    payload = b7_prior_sweep.run(draws=30, results_dir=tmp_path, in_process=False, cold=False)
    (row,) = payload["rows"]
    assert set(row) >= ROW_KEYS
    assert row["ratio"] == pytest.approx(row["ours"] / row["baseline"])
    sweep = payload["cli"]["cases"]["sweep"]
    assert sweep["sweep_priors"] == len(b7_prior_sweep.SCALES)
    assert sweep["sweep_compiles"] == 0
    saved = json.loads((tmp_path / "b7_prior_sweep.json").read_text())
    assert saved["sweep_over_first_target"] == 1.5
