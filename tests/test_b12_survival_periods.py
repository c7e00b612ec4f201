"""B12's row-level baselines fit the same likelihood as bayes_ipd's one-stage models.

The row-level "Poisson trick" model (one Poisson term per person-interval, log exposure as
offset) has the collapsed model's log density up to the constant ``sum d log E`` of the
Poisson kernel (Holford 1980; Laird & Olivier 1981), at random parameter values, for the
per-period treatment effect and for the spline baseline.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the benchmarks folder is not an installed package
    sys.path.insert(0, str(REPO))

from benchmarks.b5_survival_ess import person_interval_rows  # noqa: E402
from benchmarks.b12_survival_periods import (  # noqa: E402
    MODELS,
    baseline_inputs,
    model_spec,
    row_level_model,
    simulated_frame,
    survival_ipd,
)


@pytest.mark.parametrize("model", list(MODELS))
def test_row_level_model_is_the_collapsed_model(model: str) -> None:
    import pytensor

    from bayes_ipd.one_stage.builder import build_model
    from bayes_ipd.one_stage.estimation import design_for

    frame = simulated_frame(3, 60, seed=4)
    spec = model_spec(model, "noncentred")
    built = build_model(design_for(survival_ipd(frame), spec), spec)
    priors, extra = baseline_inputs(frame, model)
    assert extra["cutpoints"] == tuple(built.design.cutpoints)
    baseline = row_level_model(frame, priors, **extra)
    _, _, exposure, died = person_interval_rows(
        frame["time"].to_numpy(float), frame["event"].to_numpy(int), extra["cutpoints"]
    )
    constant = float(np.sum(died * np.log(exposure)))
    names = [v.name for v in baseline.value_vars]
    assert sorted(names) == sorted(v.name for v in built.model.value_vars)
    ours_f = pytensor.function(built.model.value_vars, built.model.logp(), mode="FAST_COMPILE")
    base_f = pytensor.function(baseline.value_vars, baseline.logp(), mode="FAST_COMPILE")
    rng = np.random.default_rng(12)
    start = baseline.initial_point(random_seed=12)
    for _ in range(3):
        point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in start.items()}
        ours = float(ours_f(*[point[v.name] for v in built.model.value_vars]))
        base = float(base_f(*[point[n] for n in names]))
        assert base - ours == pytest.approx(constant, rel=1e-9, abs=1e-6)
