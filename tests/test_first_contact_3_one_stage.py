"""Issue 29 ("first contact, round three"): the one-stage model and the spec.

Items: 13 and 20 (impossible or malformed summaries refused, naming trial and statistic),
14 (a large outcome offset leaves the one-stage gaussian fit unchanged), 18 (sampler and
sensitivity-grid bounds), the aggregate-data-only spec, 10 (``predict_effect`` takes a
dict) and 21 (``integrity_threshold = nan`` refused up front).
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.cli import main
from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.spec import SamplerSettings, parse_analysis_spec
from bayes_ipd.spec_sections import ReportSettings, SensitivityGrid

# --------------------------------------------------------------------------- item 18


@pytest.mark.parametrize(
    ("key", "value"), [("chains", 1_000_000), ("draws", 10**9), ("tune", 10**7), ("chains", 65)]
)
def test_sampler_settings_beyond_their_bounds_are_refused(key: str, value: int) -> None:
    with pytest.raises(SpecError, match=rf"sampler\.{key} = {value} must be an integer from 1"):
        SamplerSettings(**{key: value})


def test_sampler_bounds_hold_in_a_spec_file(tmp_path: Path) -> None:
    text = '[data]\naggregate = "ad.csv"\nfamily = "gaussian"\n[sampler]\nchains = 1000000\n'
    with pytest.raises(
        SpecError, match=r"sampler\.chains = 1000000 must be an integer from 1 to 64"
    ):
        parse_analysis_spec(text, tmp_path)


def test_largest_sampler_settings_are_accepted() -> None:
    s = SamplerSettings(draws=100_000, tune=100_000, chains=64)
    assert (s.draws, s.tune, s.chains) == (100_000, 100_000, 64)


def test_sensitivity_grid_beyond_100_combinations_is_refused() -> None:
    taus = [f"half_normal({i + 1})" for i in range(101)]
    with pytest.raises(SpecError, match=r"101 prior combinations .* at most 100"):
        SensitivityGrid.from_dict({"tau": taus})
    effects = [f"normal(0, {i + 1})" for i in range(11)]
    with pytest.raises(SpecError, match=r"110 prior combinations \(10 tau x 11 effect\)"):
        SensitivityGrid.from_dict({"tau": taus[:10], "effect": effects})
    assert len(SensitivityGrid.from_dict({"tau": taus[:10], "effect": effects[:10]}).tau) == 10


# --------------------------------------------------------------------------- item 21


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0, 0.0])
def test_integrity_threshold_that_is_no_positive_number_is_refused(value: float) -> None:
    with pytest.raises(SpecError, match=r"report\.integrity_threshold = .* finite number > 0"):
        ReportSettings(integrity_threshold=value)


def test_integrity_threshold_nan_in_a_spec_file_is_refused(tmp_path: Path) -> None:
    text = (
        '[data]\naggregate = "ad.csv"\nfamily = "gaussian"\n[report]\nintegrity_threshold = nan\n'
    )
    with pytest.raises(SpecError, match=r"integrity_threshold = nan"):
        parse_analysis_spec(text, tmp_path)


# --------------------------------------------------------------------------- AD-only spec


def _schools_csv(folder: Path) -> Path:
    path = resources.files("bayes_ipd.datasets").joinpath("rubin1981.csv")
    with path.open("rb") as handle:
        table = pd.read_csv(handle)
    out = folder / "schools.csv"
    table.rename(columns={"school": "study", "effect": "estimate", "stderr": "se"}).to_csv(
        out, index=False
    )
    return out


_AD_ONLY = """
[data]
aggregate = "schools.csv"
family = "gaussian"

[priors]
effect = "normal(0, 50)"
tau = "half_cauchy(25)"

[sampler]
draws = 300
tune = 300
chains = 2
progress = false
"""


def test_aggregate_only_spec_names_only_aggregate_and_family(tmp_path: Path) -> None:
    spec = parse_analysis_spec(_AD_ONLY, tmp_path)
    assert spec.data.study == "study"
    assert spec.data.treatment is None
    assert spec.data.path is None
    assert parse_analysis_spec(_AD_ONLY, tmp_path).data.to_dict() == spec.data.to_dict()


def test_rows_still_need_study_and_treatment(tmp_path: Path) -> None:
    text = _AD_ONLY.replace('family = "gaussian"', 'family = "gaussian"\npath = "rows.csv"')
    with pytest.raises(SpecError, match=r"data\.study is required"):
        parse_analysis_spec(text, tmp_path)


def test_aggregate_only_spec_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _schools_csv(tmp_path)
    spec = tmp_path / "ad.toml"
    spec.write_text(_AD_ONLY)
    code = main(["run", str(spec)])
    out = capsys.readouterr().out
    assert code == 0
    assert "k = 8 (8 aggregate-data (AD)" in out
    line = next(row for row in out.splitlines() if row.startswith("effect "))
    # bayesmeta's posterior mean of mu is 7.99 (sd 5.0): 300 x 2 draws, a wide tolerance
    assert abs(float(line.split()[1]) - 7.99) < 2.0


# --------------------------------------------------------------------------- items 13, 20


def _bp_summaries(tmp_path: Path) -> tuple[Path, dict]:
    from bayes_ipd.datasets import load_bp_ipd
    from bayes_ipd.one_stage.summaries import summarise, write_summaries
    from bayes_ipd.spec import ModelSpec

    sums = summarise(load_bp_ipd(), ModelSpec(family="gaussian", covariates=("age",)))
    path = write_summaries(sums, tmp_path / "bp_summaries.json")
    return path, json.loads(path.read_text())


def _tampered(tmp_path: Path, doc: dict, text: str | None = None) -> Path:
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(doc) if text is None else text)
    return path


def test_summaries_built_from_rows_pass_their_checks(tmp_path: Path) -> None:
    from bayes_ipd.one_stage.summaries import read_summaries

    path, _ = _bp_summaries(tmp_path)
    assert [s.study for s in read_summaries(path)][:2] == ["T01", "T02"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t["n_arm"].__setitem__(0, -75), r"'T02'.*n_arm.*non-negative"),
        (
            lambda t: t["n_arm"].__setitem__(0, 750),
            r"'T02' is impossible: ztz\[0\]\[0\]\[0\].*n_arm\[0\] is 750",
        ),
        (lambda t: t["n_arm"].__setitem__(1, 40.5), r"'T02'.*n_arm.*whole"),
        (lambda t: t["yty"].__setitem__(1, 1.0), r"'T02' is impossible: yty\[1\] = 1 is below"),
        (lambda t: t["ztz"][0][2].__setitem__(2, -5.0), r"'T02' is impossible: .*ztz\[0\]"),
        # an outcome-covariate correlation above 1: the Gram matrix is not PSD
        (
            lambda t: t["zty"][1].__setitem__(2, 1e9),
            r"'T02' is impossible: .*not the cross-products",
        ),
    ],
)
def test_impossible_summaries_are_refused_naming_trial_and_statistic(
    tmp_path: Path, edit, message: str
) -> None:
    from bayes_ipd.one_stage.summaries import read_summaries

    _, doc = _bp_summaries(tmp_path)
    edit(doc["trials"][1])
    with pytest.raises(IPDDataError, match=message):
        read_summaries(_tampered(tmp_path, doc))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("yty", "NaN", r"'T02': yty holds .*NaN"),
        ("yty", "null", r"'T02': yty .*null"),
        ("yty", "[1, [1, 2]]", r"'T02': yty is \[1, \[1, 2\]\]; expected numbers"),
        ("n_arm", "[null, 3]", r"'T02': n_arm .*null"),
        ("term_means", "[[1, 2]]", r"'T02' is impossible: term_means has 2 values for 1 terms"),
    ],
)
def test_malformed_summaries_are_refused_naming_trial_and_key(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    from bayes_ipd.one_stage.summaries import read_summaries

    _, doc = _bp_summaries(tmp_path)
    doc["trials"][1][key] = "PLACEHOLDER"
    text = json.dumps(doc).replace('"PLACEHOLDER"', value)
    with pytest.raises(IPDDataError, match=message):
        read_summaries(_tampered(tmp_path, doc, text))


def test_impossible_summaries_exit_2_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, doc = _bp_summaries(tmp_path)
    doc["trials"][1]["n_arm"][0] = 750
    _tampered(tmp_path, doc)
    spec = tmp_path / "s.toml"
    spec.write_text(
        '[data]\nsummaries = ["tampered.json"]\nstudy = "trial"\ntreatment = "treat"\n'
        'outcome = "sbp_final"\nfamily = "gaussian"\n[model]\ncovariates = ["age"]\n'
    )
    code = main(["run", str(spec)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2
    assert err[-1].startswith("error: ") and "'T02'" in err[-1] and "n_arm[0] is 750" in err[-1]


# --------------------------------------------------------------------------- item 14


def _bp_fit(offset: float):
    import bayes_ipd as bi
    from bayes_ipd.datasets import load_bp_trials

    rows = load_bp_trials().assign(sbp_final=lambda t: t["sbp_final"] + offset)
    ipd = bi.IPD.from_frame(
        rows, study="trial", treatment="treat", outcome="sbp_final", family="gaussian"
    )
    sampler = bi.SamplerSettings(draws=500, tune=500, chains=2, seed=3, progress=False)
    return ipd, bi.fit(ipd, bi.ModelSpec(family="gaussian"), sampler=sampler)


def test_large_outcome_offset_leaves_the_one_stage_fit_unchanged() -> None:
    import bayes_ipd as bi

    _, plain = _bp_fit(0.0)
    ipd, shifted = _bp_fit(1e8)
    a, b = plain.summary(), shifted.summary()
    for node in ("effect", "tau"):
        mcse = np.hypot(*(s.loc[node, "sd"] / np.sqrt(s.loc[node, "ess_bulk"]) for s in (a, b)))
        assert abs(a.loc[node, "mean"] - b.loc[node, "mean"]) < 4 * mcse, node
        assert b.loc[node, "r_hat"] < 1.02
    # the two-stage route is origin-free by construction: an independent reference
    pooled = bi.fit_two_stage(ipd).pooled
    assert abs(b.loc["effect", "mean"] - pooled.estimate) < 2 * pooled.se
    # the intercepts keep the outcome's origin: each trial's control-arm level
    alpha = shifted.idata.posterior["alpha"].mean(("chain", "draw")).to_numpy()
    assert np.all(np.abs(alpha - 1e8 - 140) < 40)


# --------------------------------------------------------------------------- item 10


def _fake_posterior():
    """What predict_effect reads of a fit: a real design, posterior draws, seed, scale."""
    from types import SimpleNamespace

    import xarray as xr

    from bayes_ipd.conventions import SCALES
    from bayes_ipd.datasets import load_bp_ipd
    from bayes_ipd.one_stage.design import build_design
    from bayes_ipd.spec import ModelSpec

    spec = ModelSpec(family="gaussian", covariates=("age",), interactions=("age",))
    design = build_design(load_bp_ipd(), spec)
    rng = np.random.default_rng(1)
    post = xr.Dataset(
        {
            "mu": (("chain", "draw"), rng.normal(-5, 1, (2, 50))),
            "tau": (("chain", "draw"), rng.uniform(1, 2, (2, 50))),
            "gamma_within": (("chain", "draw", "interaction"), rng.normal(0.2, 0.05, (2, 50, 1))),
        }
    )
    return SimpleNamespace(
        built=SimpleNamespace(design=design, spec=spec),
        idata=SimpleNamespace(posterior=post),
        derived_seed=lambda what, seed=None: 7 if seed is None else seed,
        scale=SCALES["MD"],
    )


def test_predict_effect_takes_a_dict_of_covariate_values() -> None:
    from bayes_ipd.one_stage.prediction import predict_effect

    fit = _fake_posterior()
    given = {"age": [40.0, 70.0]}
    by_dict = predict_effect(fit, given).summary()
    by_frame = predict_effect(fit, pd.DataFrame(given)).summary()
    pd.testing.assert_frame_equal(by_dict, by_frame)
    assert given == {"age": [40.0, 70.0]}  # never modified
    one = predict_effect(fit, {"age": 55.0}).summary()
    assert len(one) == len(by_dict) // 2
    with pytest.raises(IPDDataError, match=r"differ in length"):
        predict_effect(fit, {"age": [40.0, 70.0], "sex": ["f"]})
    with pytest.raises(IPDDataError, match=r"DataFrame or a dict"):
        predict_effect(fit, [40.0, 70.0])


def test_run_chains_beyond_bound_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _schools_csv(tmp_path)
    spec = tmp_path / "ad.toml"
    spec.write_text(_AD_ONLY)
    code = main(["run", str(spec), "--chains", "1000000"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2
    assert err[-1].startswith("error: ") and "sampler.chains = 1000000" in err[-1]


def test_impossible_binomial_summaries_are_refused(tmp_path: Path) -> None:
    from bayes_ipd.datasets import load_bcg_ipd
    from bayes_ipd.one_stage.summaries import read_summaries, summarise, write_summaries
    from bayes_ipd.spec import ModelSpec

    sums = summarise(load_bcg_ipd(), ModelSpec(family="binomial"))
    doc = json.loads(write_summaries(sums, tmp_path / "bcg.json").read_text())
    assert len(read_summaries(tmp_path / "bcg.json")) == len(sums)
    label = doc["trials"][2]["study"]
    doc["trials"][2]["n_arm"][1] *= 10
    with pytest.raises(IPDDataError, match=rf"'{label}' is impossible: cell_n adds up to"):
        read_summaries(_tampered(tmp_path, doc))
    doc["trials"][2]["n_arm"][1] //= 10
    doc["trials"][2]["cell_events"][0] = -3
    with pytest.raises(IPDDataError, match=rf"'{label}' is impossible: cell_events holds -3"):
        read_summaries(_tampered(tmp_path, doc))
