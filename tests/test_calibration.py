"""Calibration studies: SBC ranks, coverage, Dask execution, the CLI contract."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_ipd.calibration import CalibrationStudy, read_calibration_spec, run_calibration
from bayes_ipd.calibration.replicate import draw_truth, replicate_seeds
from bayes_ipd.calibration.summary import coverage, ecdf_band, rank_chi2_p, rank_counts
from bayes_ipd.cli import main
from bayes_ipd.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
CI_SPEC = ROOT / "models" / "calibration" / "calibration_ci.toml"
N_REPLICATIONS = 8


# ---------------------------------------------------------------- fast checks


def test_design_needs_two_trials(tmp_path):
    with pytest.raises(SpecError, match="at least two trials"):
        CalibrationStudy("binomial", 1, 50, control_risk=0.2)
    spec = tmp_path / "one.toml"
    spec.write_text(
        CI_SPEC.read_text(encoding="utf-8").replace("trials = 4", "trials = 1"), encoding="utf-8"
    )
    assert main(["calibrate", str(spec), "--replications", "2", "--json"]) == 2


def test_design_errors_name_the_key(tmp_path):
    with pytest.raises(SpecError, match="control_risk is required"):
        CalibrationStudy("binomial", 3, 50)
    with pytest.raises(SpecError, match="outcome_sd is required"):
        CalibrationStudy("gaussian", 3, 50)
    with pytest.raises(SpecError, match="rank_bins"):
        CalibrationStudy("binomial", 3, 50, control_risk=0.2, sbc_draws=99, rank_bins=7)
    spec = tmp_path / "bad.toml"
    spec.write_text('[design]\nfamily = "binomial"\ntrials = 3\nparticipants = 9\nfoo = 1\n')
    with pytest.raises(SpecError, match=r"unknown key design\.foo"):
        read_calibration_spec(spec)


def test_truths_are_drawn_from_the_priors():
    # tau ~ half_normal(0.5) (on tau): 4000 replicate seeds, KS test against the prior;
    # the replicate's generator depends only on (study seed, index).
    study = read_calibration_spec(CI_SPEC)
    taus = [draw_truth(study, replicate_seeds(study.seed, i)[0])["tau"] for i in range(4000)]
    assert stats.kstest(taus, stats.halfnorm(scale=0.5).cdf).pvalue > 1e-3
    assert stats.kstest(taus, stats.halfnorm(scale=0.6).cdf).pvalue < 1e-3
    a = draw_truth(study, replicate_seeds(study.seed, 3)[0])
    b = draw_truth(study, replicate_seeds(study.seed, 3)[0])
    np.testing.assert_array_equal(a["theta"], b["theta"])


def test_rank_uniformity_and_coverage_statistics():
    rng = np.random.default_rng(1)
    uniform = rng.integers(0, 100, 2000)  # ranks 0..99 of 99 thinned draws
    skewed = np.minimum(99, (rng.beta(2, 1, 2000) * 100).astype(int))
    assert rank_counts(uniform, 99, 20).sum() == 2000
    assert rank_chi2_p(uniform, 99, 20) > 0.01
    assert rank_chi2_p(skewed, 99, 20) < 1e-10
    p, mcse, n = coverage([1, 1, 0, 1, np.nan])
    assert (p, n) == (0.75, 4) and mcse == pytest.approx(np.sqrt(0.75 * 0.25 / 4))


def test_simultaneous_ecdf_band_holds_95_percent_of_uniform_rank_sets():
    # Säilynoja et al. 2022: the band is simultaneous, so about 5% of uniform rank sets
    # leave it anywhere (pointwise bands would be left far more often). 400 sets:
    # MC SE of the exit share sqrt(.05 * .95 / 400) = 0.011.
    n, draws = 50, 19
    z, lower, upper = ecdf_band(n, draws)
    rng = np.random.default_rng(2)
    exits = 0
    for _ in range(400):
        u = (rng.integers(0, draws + 1, n) + 1) / (draws + 1)
        diff = np.searchsorted(np.sort(u), z, side="right") / n - z
        exits += bool(np.any(diff < lower - 1e-12) or np.any(diff > upper + 1e-12))
    assert 0.01 <= exits / 400 <= 0.10


def test_unreachable_scheduler_fails_fast(capsys):
    t0 = time.perf_counter()
    code = main(["calibrate", str(CI_SPEC), "--replications", "2", "--scheduler",
                 "tcp://127.0.0.1:9", "--json"])  # fmt: skip
    seconds = time.perf_counter() - t0
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'")
    assert seconds < 30  # the stated timeout is 10 s


# ---------------------------------------------------------------- Dask runs


@pytest.fixture(scope="module")
def one_worker():
    return run_calibration(read_calibration_spec(CI_SPEC), N_REPLICATIONS, workers=1)


def test_cli_two_workers_json_contract_and_identical_tables(one_worker, tmp_path, capsys):
    code = main(["calibrate", str(CI_SPEC), "--replications", str(N_REPLICATIONS),
                 "--workers", "2", "--json", "--out", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    payload = json.loads(out)
    for key in ("replications", "engine", "workers", "parameters", "two_stage",
                "divergent_replications", "seconds"):  # fmt: skip
        assert key in payload
    assert payload["engine"] == "dask" and payload["workers"] == 2
    assert payload["replications"] == N_REPLICATIONS
    for name in ("mu", "tau"):
        node = payload["parameters"][name]
        assert set(node) >= {"rank_chi2_p", "coverage_95", "coverage_mcse", "mean_rank"}
    for method in ("DL", "REML", "REML+HKSJ"):
        assert set(payload["two_stage"][method]) >= {"coverage_95", "coverage_mcse"}
    # same study seed: the 2-worker table equals the 1-worker table exactly
    two = pd.read_csv(tmp_path / "replicates.csv")
    one = one_worker.table.drop(columns=["seconds"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(two.drop(columns=["seconds"]), one, check_dtype=False)
    assert one_worker.workers == 1
    for name in ("ranks.png", "ecdf.png", "summary.json"):
        assert (tmp_path / name).stat().st_size > 0


def test_result_figures_and_summary(one_worker):
    s = one_worker.summary()
    assert s["parameters"]["mu"]["n"] == N_REPLICATIONS
    ranks = one_worker.table["rank_mu"]
    assert ranks.between(0, 19).all()
    assert one_worker.rank_plot() is not None and one_worker.ecdf_plot() is not None
