"""The prior sweep of a network spec (``bayes-ipd run SPEC --sensitivity`` with ``[data]
reference``): refits of the one-stage network model, one per prior scenario.

Independent expectations: a plain ``fit_network_bayes`` with the scenario's priors and the
same seed (the refit must equal it exactly); a very tight ``normal(m, s)`` effect prior
pulls every ``d_t`` to ``m`` (conjugate normal: the posterior mean lies
``w |est - m|`` from ``m``, ``w = se^-2 / (se^-2 + s^-2)``; here ``s = 0.005`` and each
``se`` of the data alone ~0.1, so ``w < 0.003`` and the mean is within 0.003 of ``m``,
beside a posterior SD of about 0.005).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import bayes_ipd as bi
from bayes_ipd.cli import main
from bayes_ipd.errors import SpecError
from bayes_ipd.one_stage.network_fit import fit_network_bayes
from bayes_ipd.one_stage.network_sensitivity import (
    COLUMNS,
    check_network_sweep,
    network_sensitivity,
)
from bayes_ipd.one_stage.sampling import cache_stats
from bayes_ipd.spec import parse_analysis_spec, read_analysis_spec, write_analysis_spec

BINARY_FE = Path(__file__).parent / "data" / "network_binary_fe.csv"
SAMPLER = bi.SamplerSettings(draws=150, tune=150, chains=2, seed=11, progress=False)
PRIORS = {"tau": "half_normal(1)", "intercept": "normal(0, 10)"}
TIGHT = "normal(0.3, 0.005)"


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """tests/data/network_binary_fe.csv (9 trials, treatments A-D, one three-arm) as rows."""
    arms = pd.read_csv(BINARY_FE)
    parts = [
        pd.DataFrame({"study": r.study, "treatment": r.treatment,
                      "y": np.r_[np.ones(r.events), np.zeros(r.n - r.events)].astype(int)})
        for r in arms.itertuples()
    ]  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def _fit(rows: pd.DataFrame, priors: dict[str, str]):
    return fit_network_bayes(
        rows, study="study", treatment="treatment", reference="A", outcome="y",
        sampler=SAMPLER, priors=priors,
    )  # fmt: skip


@pytest.fixture(scope="module")
def base(rows):
    return _fit(rows, PRIORS)


@pytest.fixture(scope="module")
def sweep(base):
    before = cache_stats()
    messages: list[str] = []
    out = network_sensitivity(
        base,
        {"tau": ["half_normal(0.5)", "half_normal(1)"], "effect": ["normal(0, 2.5)", TIGHT]},
        say=messages.append,
    )
    return out, before, cache_stats(), messages


def test_base_and_a_scenario_equal_plain_fits_with_the_same_seed(rows, base, sweep):
    out, _, _, _ = sweep
    table = out.table
    own = base.effects()
    first = table[table["prior"] == table["prior"].iloc[0]].set_index("treatment")
    assert table["prior"].iloc[0] == "base: tau ~ half_normal(1); effect ~ normal(0, 2.5)"
    for t in ("B", "C", "D"):
        assert first.loc[t, "median"] == own.loc[t, "median"]
    # a refitted scenario equals a fresh fit with its priors and the same seed, exactly
    plain = _fit(rows, {**PRIORS, "tau": "half_normal(0.5)"})
    label = "tau ~ half_normal(0.5); effect ~ normal(0, 2.5)"
    rows_ = table[table["prior"] == label]
    effects = rows_[rows_["parameter"] == "effect"].set_index("treatment")
    expected = plain.effects()
    for t in ("B", "C", "D"):
        for col in ("mean", "median", "q025", "q975"):
            assert effects.loc[t, col] == expected.loc[t, col]
    tau = rows_[rows_["parameter"] == "tau"].iloc[0]
    assert tau["median"] == plain.tau_node()["median"]
    assert bool(rows_["reused_compiled"].all())


def test_scenarios_of_one_family_compile_nothing_and_say_their_progress(sweep):
    out, before, after, messages = sweep
    # 4 combinations; tau ~ half_normal(1), effect ~ normal(0, 2.5) is the fit itself
    assert out.refits == 3
    assert out.compiles == 0
    assert after.compiles - before.compiles == 0
    assert after.hits - before.hits == 3  # every refit a memory hit of the fit's program
    assert messages == [
        "sensitivity 1/4: tau ~ half_normal(0.5); effect ~ normal(0, 2.5)",
        f"sensitivity 2/4: tau ~ half_normal(0.5); effect ~ {TIGHT}",
        "sensitivity 3/4: tau ~ half_normal(1); effect ~ normal(0, 2.5) (the fit itself)",
        f"sensitivity 4/4: tau ~ half_normal(1); effect ~ {TIGHT}",
    ]


def test_a_tight_effect_prior_pulls_every_d_to_its_mean(sweep):
    out, _, _, _ = sweep
    table = out.table
    tight = table[table["prior"].str.endswith(TIGHT) & (table["parameter"] == "effect")]
    assert len(tight) == 2 * 3
    # conjugate normal bound (module docstring): |median - 0.3| < 0.003 + MC error
    assert np.abs(tight["median"] - 0.3).max() < 0.01
    base_d = table[(table["prior"] == table["prior"].iloc[0]) & (table["parameter"] == "effect")]
    assert np.abs(base_d["median"] - 0.3).max() > 0.2  # the data alone are far from 0.3
    largest = out.largest_shift()["effect"]
    assert largest["prior"].endswith(TIGHT)
    assert abs(largest["shift"]) == pytest.approx(np.abs(tight["shift"]).max())


def test_table_json_and_figure(sweep):
    out, _, _, _ = sweep
    assert list(out.table.columns) == list(COLUMNS)
    assert len(out.table) == 5 * 4  # base + 4 scenarios, each B, C, D and tau
    doc = out.to_dict()
    json.dumps(doc, allow_nan=False)
    assert set(doc) == {"rows", "reference", "compiles", "refits", "largest_shift"}
    assert set(doc["largest_shift"]) == {"effect", "tau"}
    assert doc["rows"][0]["sigma_prior"] is None  # binomial: no residual SD
    fig = out.plot()
    assert isinstance(fig, Figure)
    assert sum(ax.get_visible() for ax in fig.axes) == 4  # B, C, D and tau


# ------------------------------------------------------------------ the spec and the CLI

SPEC = """
[data]
path = "{path}"
study = "study"
treatment = "treatment"
reference = "A"
outcome = "y"
family = "binomial"

[network]
route = "both"

[sampler]
draws = 100
tune = 100
chains = 2
seed = 3
{extra}
"""


@pytest.fixture(scope="module")
def csv(rows, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rows") / "small.csv"
    rows.to_csv(path, index=False)
    return path


def _spec(tmp_path: Path, csv: Path, extra: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(path=csv, extra=extra), encoding="utf-8")
    return path


def test_run_sensitivity_json_out_and_progress(csv, tmp_path, capsys):
    grid = '[sensitivity]\ntau = ["half_normal(0.5)"]\nintercept = ["normal(0, 5)"]\n'
    spec = _spec(tmp_path, csv, grid)
    out = tmp_path / "out"
    assert main(["run", str(spec), "--sensitivity", "--json", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    sweep = doc["sensitivity"]
    assert set(sweep) == {"rows", "reference", "compiles", "refits", "largest_shift", "files"}
    assert sweep["refits"] == 1 and sweep["compiles"] == 0
    assert set(sweep["reference"]) == {"B", "C", "D"}  # one entry per treatment
    assert sweep["reference"]["B"]["label"] == "two-stage REML+HKSJ"  # the spec defaults
    assert sweep["reference"]["B"]["estimate"] == pytest.approx(
        doc["two_stage"]["effects"]["B"]["estimate"]
    )
    assert [r["prior"] for r in sweep["rows"]][::4] == [
        "base: tau ~ half_normal(1); intercept ~ normal(0, 10)",
        "tau ~ half_normal(0.5); intercept ~ normal(0, 5)",
    ]
    assert sweep["rows"][-1]["intercept_prior"] == "normal(0, 5)"
    assert "sensitivity 1/1: tau ~ half_normal(0.5); intercept ~ normal(0, 5)" in captured.err
    assert Path(sweep["files"]["table"]).name == "sensitivity.csv"
    table = pd.read_csv(out / "sensitivity.csv")
    assert list(table.columns) == list(COLUMNS) and len(table) == 8
    assert (out / "sensitivity.png").stat().st_size > 0
    assert (out / "summary.json").exists()


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ('[sensitivity]\nmoderator = ["normal(0, 1)"]\n', r"unknown key sensitivity\.moderator"),
        ('[sensitivity]\ntau = ["normal(0, 1)"]\n', r"sensitivity\.tau: .*positive"),
    ],
)
def test_a_bad_network_grid_is_a_spec_error_naming_the_slot(csv, tmp_path, extra, fragment):
    with pytest.raises(SpecError, match=fragment):
        parse_analysis_spec(SPEC.format(path=csv, extra=extra), tmp_path)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ('[sensitivity]\nsigma = ["half_normal(1)"]\n', "sensitivity.sigma: the binomial"),
        ('[sensitivity]\ncoefficients = ["normal(0, 1)"]\n', "sensitivity.coefficients"),
        ('[sensitivity]\ninteractions = ["normal(0, 1)"]\n', "sensitivity.interactions"),
        ('[two_stage]\nmethod = "FE"\n[sensitivity]\ntau = ["half_normal(1)"]\n',
         "sensitivity.tau: the fixed-effect"),
        ('[two_stage]\nmethod = "FE"\n', r"\[sensitivity\]: the default grid varies tau"),
    ],
)  # fmt: skip
def test_a_grid_the_model_lacks_is_refused_before_fitting(csv, tmp_path, capsys, extra,
                                                           fragment):  # fmt: skip
    spec_path = _spec(tmp_path, csv, extra)
    with pytest.raises(SpecError, match=fragment):
        check_network_sweep(read_analysis_spec(spec_path))
    assert main(["run", str(spec_path), "--sensitivity", "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "sensitivity" in err


def test_two_stage_route_only_is_refused(csv, tmp_path, capsys):
    spec_path = _spec(tmp_path, csv, "")
    text = spec_path.read_text(encoding="utf-8").replace('route = "both"', 'route = "two-stage"')
    spec_path.write_text(text, encoding="utf-8")
    assert main(["run", str(spec_path), "--sensitivity"]) == 2
    assert "--sensitivity: the prior sweep refits the one-stage" in capsys.readouterr().err


def test_network_slots_round_trip_and_stay_refused_for_two_arms(csv, tmp_path):
    grid = '[sensitivity]\nintercept = ["normal(0, 5)"]\neffect = ["normal(0, 1)"]\n'
    spec = parse_analysis_spec(SPEC.format(path=csv, extra=grid), tmp_path)
    assert spec.sensitivity.to_dict() == {"effect": ["normal(0, 1)"], "intercept": ["normal(0, 5)"]}
    out = tmp_path / "copy.toml"
    write_analysis_spec(spec, out)
    assert read_analysis_spec(out).sensitivity == spec.sensitivity
    two_arm = SPEC.format(path=csv, extra=grid).replace('reference = "A"\n', "")
    with pytest.raises(SpecError, match=r"unknown key sensitivity\.intercept"):
        parse_analysis_spec(two_arm, tmp_path)


def test_gaussian_sigma_slot(rows):
    # a normal outcome on the same network: the sigma slot is swept, the effects and tau
    # reported; a new half-normal scale reuses the fit's program
    rng = np.random.default_rng(4)
    shift = rows["treatment"].map({"A": 0.0, "B": 0.4, "C": -0.3, "D": 0.2})
    gaussian = rows.assign(y=shift + rng.normal(0.0, 1.0, len(rows)))
    fit = fit_network_bayes(
        gaussian, study="study", treatment="treatment", reference="A", family="gaussian",
        outcome="y", sampler=SAMPLER,
    )  # fmt: skip
    out = network_sensitivity(fit, {"sigma": ["half_normal(2)"]})
    assert out.refits == 1 and out.compiles == 0
    table = out.table
    assert list(dict.fromkeys(table["sigma_prior"])) == [
        str(fit.built.priors.sigma),
        "half_normal(2)",
    ]
    assert list(dict.fromkeys(table["prior"]))[1] == "sigma ~ half_normal(2)"
    assert set(table["parameter"]) == {"effect", "tau"}
