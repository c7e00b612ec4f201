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
from bayes_ipd.calibration.replicate import draw_truth, replicate_seeds, simulate_rows
from bayes_ipd.calibration.summary import coverage, ecdf_band, rank_chi2_p, rank_counts
from bayes_ipd.cli import main
from bayes_ipd.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
CI_SPEC = ROOT / "models" / "calibration" / "calibration_ci.toml"
N_REPLICATIONS = 12
CLI_REPLICATIONS = 2


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
    # tau ~ half_normal(0.5) (on tau): 2000 replicate seeds, KS test against the prior;
    # the replicate's generator depends only on (study seed, index). Power: the CDFs of
    # half-normals of scale 0.5 and 0.6 differ by up to 0.088, so at n = 2000 the wrong
    # scale's KS p is about 1e-8 even if the sample's distance is 25% smaller.
    study = read_calibration_spec(CI_SPEC)
    taus = [draw_truth(study, replicate_seeds(study.seed, i)[0])["tau"] for i in range(2000)]
    assert stats.kstest(taus, stats.halfnorm(scale=0.5).cdf).pvalue > 1e-3
    assert stats.kstest(taus, stats.halfnorm(scale=0.6).cdf).pvalue < 1e-3
    a = draw_truth(study, replicate_seeds(study.seed, 3)[0])
    b = draw_truth(study, replicate_seeds(study.seed, 3)[0])
    np.testing.assert_array_equal(a["theta"], b["theta"])


@pytest.mark.parametrize(
    ("family", "scale", "expected"),
    [
        # control-arm outcome implied by the design value, in closed form:
        ("binomial", {"control_risk": 0.2}, 0.2),  # P(y = 1) = 0.2
        ("survival", {"control_risk": 0.3}, 0.3),  # P(T <= 1) = 1 - exp(log 0.7)
        ("poisson", {"control_rate": 1.5}, 1.5),  # E(y) = 1.5
    ],
)
def test_simulated_control_arms_match_the_design(family, scale, expected):
    # near-degenerate priors (every trial at the design's centre, no effect): the control
    # arms' mean outcome equals the design value; 2 x 20,000 participants, 4-SE tolerance
    tiny = {"effect": "normal(0, 1e-6)", "tau": "half_normal(1e-6)"}
    study = CalibrationStudy(family, 2, 40_000, intercept_sd=1e-6, priors=tiny, seed=3, **scale)
    rng, _ = replicate_seeds(study.seed, 0)
    rows = simulate_rows(study, draw_truth(study, rng), rng)
    column = "event" if family == "survival" else "outcome"
    y = rows.loc[rows["treat"] == 0, column].to_numpy(dtype=float)
    se = y.std() / np.sqrt(y.size)
    assert abs(y.mean() - expected) < 4 * se
    assert study.model_spec().family == family
    if family == "survival":  # followed to time 1: censored at 1 exactly
        assert rows["time"].max() == 1.0 and (rows.loc[rows["event"] == 0, "time"] == 1).all()
        assert study.model_spec().intervals == 1


def test_shipped_calibration_specs_read_by_name():
    from bayes_ipd.calibration.design import shipped_calibration_specs

    names = set(shipped_calibration_specs())
    assert {"calibration_binomial", "calibration_gaussian", "calibration_survival"} <= names
    for name in names:
        assert read_calibration_spec(name).trials >= 2
    with pytest.raises(SpecError, match="shipped calibration specs"):
        read_calibration_spec("no_such_design")


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


def test_coverage_plot_has_a_panel_per_design():
    from bayes_ipd.plots.sbc import coverage_plot

    rows = {f"design {i}": {"DL CI": (0.91, 0.009), "REML PI": (0.94, 0.007)} for i in range(4)}
    fig = coverage_plot(rows)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title(loc="left") for ax in visible] == list(rows)
    # a dot per interval at its coverage
    (dots,) = [line for line in visible[0].lines if line.get_marker() == "o"]
    assert sorted(np.round(dots.get_xdata(), 3)) == [0.91, 0.94]


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
#
# Cheap on purpose (CI): the 1- and 2-worker studies run on in-process (threaded) Dask
# clusters, so both share the one model the first compiles; the CLI run (2 worker
# processes) loads that model from the session's disk cache and runs a few replicates.


def _threaded_run(workers: int, replications: int):
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=False, dashboard_address=None
    )
    with Client(cluster) as client:
        result = run_calibration(read_calibration_spec(CI_SPEC), replications, client=client)
    cluster.close()
    return result


@pytest.fixture(scope="module")
def one_worker():
    return _threaded_run(1, N_REPLICATIONS)


@pytest.fixture(scope="module")
def two_workers(one_worker):  # after one_worker: the model is compiled once
    return _threaded_run(2, N_REPLICATIONS)


def _without_seconds(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["seconds"]).reset_index(drop=True)


def test_one_and_two_workers_give_identical_tables(one_worker, two_workers):
    assert (one_worker.workers, two_workers.workers) == (1, 2)
    assert len(one_worker.table) == N_REPLICATIONS and not one_worker.failures
    pd.testing.assert_frame_equal(
        _without_seconds(two_workers.table), _without_seconds(one_worker.table)
    )
    # replicates differ from each other (a constant table would also be "identical")
    assert one_worker.table["truth_mu"].nunique() == N_REPLICATIONS


def test_cli_two_worker_processes_json_contract(one_worker, tmp_path, capsys):
    n = CLI_REPLICATIONS
    code = main(["calibrate", str(CI_SPEC), "--replications", str(n),
                 "--workers", "2", "--json", "--out", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    payload = json.loads(out)
    for key in ("replications", "engine", "workers", "parameters", "two_stage",
                "divergent_replications", "seconds"):  # fmt: skip
        assert key in payload
    assert payload["engine"] == "dask" and payload["workers"] == 2
    assert payload["replications"] == n
    for name in ("mu", "tau"):
        node = payload["parameters"][name]
        assert set(node) >= {"rank_chi2_p", "coverage_95", "coverage_mcse", "mean_rank"}
    for method in ("DL", "REML", "REML+HKSJ"):
        assert set(payload["two_stage"][method]) >= {"coverage_95", "coverage_mcse"}
    # worker processes reproduce the threaded run's first replicates exactly
    table = pd.read_csv(tmp_path / "replicates.csv")
    pd.testing.assert_frame_equal(
        _without_seconds(table), _without_seconds(one_worker.table.head(n)), check_dtype=False
    )
    for name in ("ranks.png", "ecdf.png", "summary.json"):
        assert (tmp_path / name).stat().st_size > 0


def test_result_figures_and_summary(one_worker):
    s = one_worker.summary()
    assert s["parameters"]["mu"]["n"] == N_REPLICATIONS
    # coverage is the mean of the replicate flags (an independent recount)
    assert s["parameters"]["mu"]["coverage_95"] == one_worker.table["covered_mu"].mean()
    ranks = one_worker.table["rank_mu"]
    assert ranks.between(0, 19).all()
    assert one_worker.rank_plot() is not None and one_worker.ecdf_plot() is not None


# ---------------------------------------------------------------- full runs (slow)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gaussian", "binomial"])
def test_full_sbc_is_calibrated(family):
    # The done-means (docs/calibration.md, "Measured results"): 1,000 replicates of
    # the shipped design; rank chi-square p > 0.01 for mu and tau, 95% CrI coverage of mu
    # in [93, 97]% (its MCSE at 95% and n = 1000 is 0.7 points).
    spec = ROOT / "models" / "calibration" / f"calibration_{family}.toml"
    result = run_calibration(read_calibration_spec(spec), 1000, workers=2)
    s = result.summary()
    assert s["replications"] == 1000 and not result.failures
    for name in ("mu", "tau"):
        assert s["parameters"][name]["rank_chi2_p"] > 0.01
    assert 0.93 <= s["parameters"]["mu"]["coverage_95"] <= 0.97
