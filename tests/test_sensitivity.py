"""Prior sensitivity sweeps: a grid of priors refitted without recompiling."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import bayes_ipd as bi
from bayes_ipd.cli import main
from bayes_ipd.data import IPD
from bayes_ipd.errors import SpecError
from bayes_ipd.sensitivity import COLUMNS, grid_from_table, read_grid
from bayes_ipd.simulate import simulate_binary

TAUS = [f"half_normal({s})" for s in (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3)]
SAMPLER = bi.SamplerSettings(draws=200, tune=200, chains=2, seed=5, progress=False)


@pytest.fixture(scope="module")
def base():
    frame, _ = simulate_binary(n_studies=4, n_per_study=80, seed=3)
    ipd = IPD.from_frame(
        frame, study="trial", treatment="treat", outcome="event", family="binomial"
    )
    return bi.fit(ipd, bi.ModelSpec("binomial"), SAMPLER)  # tau ~ half_normal(1), default


@pytest.fixture(scope="module")
def sweep(base):
    from bayes_ipd.one_stage.sampling import cache_stats

    before = cache_stats()
    out = base.sensitivity(tau=TAUS)
    return out, before, cache_stats()


def test_eight_tau_priors_of_one_family_compile_nothing(sweep):
    out, before, after = sweep
    # the compiled-model cache's counters: every refit was a memory hit; the fit's own
    # prior (half_normal(1)) is the fit itself, not sampled again
    assert after.compiles - before.compiles == 0
    assert after.disk_hits - before.disk_hits == 0
    assert after.hits - before.hits == 7
    assert out.compiles == 0
    assert out.refits == 7
    refitted = out.table[out.table["tau_prior"] != "half_normal(1)"]
    assert refitted["reused_compiled"].all()


def test_the_fits_own_priors_are_the_fit_itself(base, sweep):
    out, _, _ = sweep
    rows = out.table[out.table["tau_prior"] == "half_normal(1)"].set_index("parameter")
    own = base.summary()
    for parameter in ("effect", "tau", "new-trial effect"):
        assert rows.loc[parameter, "mean"] == own.loc[parameter, "mean"]
    assert (rows["r_hat_max"] == base.diagnostics.r_hat_max).all()


def test_refit_with_swapped_hyperparameters_equals_the_fresh_fit(base):
    # A fit under tau ~ half_normal(3) reuses the program compiled for the base fit; its
    # sweep's half_normal(1) row swaps those numbers back in: same seed, same posterior as
    # the base fit that compiled it.
    spec = bi.ModelSpec("binomial", priors={"tau": "half_normal(3)"})
    other = bi.fit(base.built.design, spec, SAMPLER)
    out = other.sensitivity(tau=["half_normal(1)"])
    assert out.refits == 1
    rows = out.table.set_index("parameter")
    fresh = base.summary()
    for parameter in ("effect", "tau", "new-trial effect"):
        for col in ("mean", "q025", "q975"):
            assert rows.loc[parameter, col] == pytest.approx(fresh.loc[parameter, col], rel=1e-9)


def test_tidy_table_and_figure(sweep):
    out, _, _ = sweep
    table = out.table
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 8 * 3
    assert list(dict.fromkeys(table["prior"])) == [f"tau ~ {t}" for t in TAUS]
    tau = table[table["parameter"] == "tau"]
    # a tighter prior scale pulls tau down: the 0.1-scale posterior median lies below the
    # 3-scale one by far more than Monte Carlo error (a few % of the medians here)
    assert tau["median"].iloc[0] < 0.5 * tau["median"].iloc[-1]
    assert tau["p_lt_0"].isna().all()
    assert set(out.reference) >= {"estimate", "ci_low", "ci_high", "tau", "label"}
    assert out.reference["label"] == "two-stage REML+HKSJ"
    assert isinstance(out.plot(), Figure)
    json.dumps(out.to_dict(), allow_nan=False)


def test_full_grid_of_two_slots(base):
    out = base.sensitivity(tau=["half_normal(0.5)"], effect=["normal(0, 1)", "normal(0, 5)"])
    assert list(dict.fromkeys(out.table["prior"])) == [
        "tau ~ half_normal(0.5); effect ~ normal(0, 1)",
        "tau ~ half_normal(0.5); effect ~ normal(0, 5)",
    ]
    assert out.compiles == 0


def test_grid_table_errors(tmp_path):
    grid = grid_from_table({"tau": ["half_normal(1)", "turner()"], "effect": ["normal(0, 1)"]})
    assert [str(p) for p in grid["tau"]] == ["half_normal(1)", "turner()"]
    with pytest.raises(SpecError, match=r"unknown key sensitivity\.sigma"):
        grid_from_table({"sigma": ["half_normal(1)"]})
    with pytest.raises(SpecError, match=r"sensitivity\.tau: .*positive"):
        grid_from_table({"tau": ["normal(0, 1)"]})
    with pytest.raises(SpecError, match="non-empty list"):
        grid_from_table({"tau": "half_normal(1)"})
    path = tmp_path / "s.toml"
    path.write_text('[sensitivity]\ntau = ["half_cauchy(0.5)"]\n', encoding="utf-8")
    assert str(read_grid(path)["tau"][0]) == "half_cauchy(0.5)"


def test_cli_bad_grid_fails_before_fitting(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    pd.DataFrame(
        {"trial": np.repeat(["A", "B"], 4), "treat": [0, 1] * 4, "event": [0, 1, 1, 0, 0, 0, 1, 1]}
    ).to_csv(csv, index=False)
    spec = tmp_path / "s.toml"
    spec.write_text(
        f'[data]\npath = "{csv.name}"\nstudy = "trial"\ntreatment = "treat"\n'
        'outcome = "event"\nfamily = "binomial"\n\n[sensitivity]\ntau = ["normal(0, 1)"]\n',
        encoding="utf-8",
    )
    assert main(["run", str(spec), "--sensitivity", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "sensitivity.tau" in err
