"""B14's row-level baseline is the one-stage network model written on participant rows.

Its log density equals the arm-sum model's at random points (binomial and gaussian; the
Bernoulli and normal row terms sum exactly to the arm statistics' likelihood, no constant),
the full-size network has the size the issue asks for, and the benchmark runs end to end
in a tiny configuration (PyMC's sampler, no first-fit processes).
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

from benchmarks import b14_network_ess as b14  # noqa: E402


@pytest.mark.parametrize("family", b14.FAMILIES)
def test_row_level_model_is_the_arm_sum_model(family):
    import pytensor

    from bayes_ipd.one_stage.network_model import build_network_model
    from bayes_ipd.one_stage.network_summaries import network_arms

    network = b14.network_of(b14.simulated_network(family, 25, n_trials=6), family)
    arms = network_arms(network)
    ours = build_network_model(arms).model
    base = b14.row_level_model(network, arms).model
    names = [v.name for v in base.value_vars]
    assert sorted(names) == sorted(v.name for v in ours.value_vars)
    f_ours = pytensor.function(ours.value_vars, ours.logp(), mode="FAST_COMPILE")
    f_base = pytensor.function(base.value_vars, base.logp(), mode="FAST_COMPILE")
    rng = np.random.default_rng(8)
    start = base.initial_point(random_seed=8)
    for _ in range(3):
        point = {k: v + rng.normal(0, 0.4, np.shape(v)) for k, v in start.items()}
        a = float(f_ours(*[point[v.name] for v in ours.value_vars]))
        b = float(f_base(*[point[n] for n in names]))
        assert np.isfinite(a) and b == pytest.approx(a, rel=1e-10)


def test_full_size_network_has_the_size_of_the_issue():
    rows = b14.simulated_network("binomial", 1000)
    arms = rows.groupby(["study", "treatment"]).size()
    per_trial = arms.groupby(level="study").size()
    assert per_trial.size >= 20 and len(rows) >= 50_000
    assert (per_trial == 3).sum() == 4 and (per_trial == 2).sum() == 20


def test_resampled_rows_keep_trials_and_arms():
    from bayes_ipd.datasets import load_hasselblad1998_rows

    first = load_hasselblad1998_rows()
    other = b14._resampled_rows(Path("."))
    size = ["study", "treatment"]
    assert first.groupby(size).size().equals(other.groupby(size).size())
    assert not first["quit"].equals(other["quit"])


def test_smoke_run_writes_rows_and_json(tmp_path):
    payload = b14.run(per_arm=15, n_trials=6, draws=30, tune=30, chains=1,
                      families=("binomial",), first_fit_draws=None, results_dir=tmp_path,
                      backend="pymc")  # fmt: skip
    rows = payload["rows"]
    assert [r["case"] for r in rows] == [
        "binomial: s per 1000 bulk-ESS(tau)", "binomial: sampling", "binomial: compile"
    ]  # fmt: skip
    case = payload["cases"][0]
    assert case["trials"] == 6 and case["three_arm_trials"] == 0
    for side in ("ours", "row_level"):
        assert case[side]["ess_bulk_tau"] > 0 and case[side]["sampling_seconds"] > 0
    written = json.loads((tmp_path / "b14_network_ess.json").read_text())
    assert written["rows"] == rows and written["first_fit"] is None
