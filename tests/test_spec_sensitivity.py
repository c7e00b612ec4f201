"""The ``[sensitivity]`` section is the spec's: parsed once, held, written back."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import bayes_ipd.sensitivity as sensitivity_module
from bayes_ipd.errors import SpecError
from bayes_ipd.priors import as_prior
from bayes_ipd.spec import (
    SensitivityGrid,
    parse_analysis_spec,
    read_analysis_spec,
    write_analysis_spec,
)

_DATA = """
[data]
path = "trials.csv"
study = "trial"
treatment = "treat"
outcome = "event"
family = "binomial"
"""

_GRID = """
[sensitivity]
tau = ["half_normal(0.5)", "half_cauchy(0.5)", "turner()"]
effect = ["normal(0, 1)", "normal(0, 10)"]
"""


def test_grid_survives_parse_write_read(tmp_path):
    spec = parse_analysis_spec(_DATA + _GRID, tmp_path)
    assert spec.source is None
    grid = spec.sensitivity
    assert grid is not None
    assert [str(p) for p in grid.tau] == ["half_normal(0.5)", "half_cauchy(0.5)", "turner()"]
    assert grid.effect == (as_prior("normal(0, 1)"), as_prior("normal(0, 10)"))
    out = tmp_path / "copy.toml"
    write_analysis_spec(spec, out)
    assert "[sensitivity]" in out.read_text(encoding="utf-8")
    back = read_analysis_spec(out)
    assert back.sensitivity == grid
    assert (back.data, back.model) == (spec.data, spec.model)


def test_spec_without_the_section_round_trips_with_none(tmp_path):
    spec = parse_analysis_spec(_DATA, tmp_path)
    assert spec.sensitivity is None
    assert "sensitivity" not in spec.to_dict()
    out = tmp_path / "copy.toml"
    write_analysis_spec(spec, out)
    assert "sensitivity" not in out.read_text(encoding="utf-8")
    assert read_analysis_spec(out).sensitivity is None


def test_one_slot_and_empty_section_round_trip(tmp_path):
    for grid_text, expected in (
        ('[sensitivity]\ntau = ["half_normal(1)"]\n', SensitivityGrid(tau=("half_normal(1)",))),
        ("[sensitivity]\n", SensitivityGrid()),
    ):
        spec = parse_analysis_spec(_DATA + grid_text, tmp_path)
        assert spec.sensitivity == expected
        out = tmp_path / "copy.toml"
        write_analysis_spec(spec, out)
        assert read_analysis_spec(out).sensitivity == expected


@pytest.mark.parametrize(
    ("grid_text", "fragment"),
    [
        ('sigma = ["half_normal(1)"]', r"unknown key sensitivity\.sigma"),
        ('tau = ["normal(0, 1)"]', r"sensitivity\.tau: .*positive"),
        ('tau = "half_normal(1)"', "non-empty list"),
        ("tau = []", "non-empty list"),
    ],
)
def test_bad_grid_is_a_spec_error_before_the_data(tmp_path, grid_text, fragment):
    # checked first: the grid's error wins over a missing data column
    text = _DATA.replace('outcome = "event"\n', "") + "[sensitivity]\n" + grid_text + "\n"
    with pytest.raises(SpecError, match=fragment):
        parse_analysis_spec(text, tmp_path)


def test_grid_value_checks_its_priors():
    grid = SensitivityGrid(tau=["half_normal(1)"], effect=("normal(0, 2)",))
    assert grid.tau == (as_prior("half_normal(1)"),)
    assert grid.to_dict() == {"tau": ["half_normal(1)"], "effect": ["normal(0, 2)"]}
    assert SensitivityGrid.from_dict(grid.to_dict()) == grid
    assert grid.by_slot() == {"tau": grid.tau, "effect": grid.effect}
    with pytest.raises(SpecError, match=r"sensitivity\.tau"):
        SensitivityGrid(tau=("normal(0, 1)",))


def test_sweep_takes_the_grid_of_a_spec_parsed_from_text(tmp_path, monkeypatch):
    seen = {}

    def fake_sensitivity(result, tau=None, effect=None, say=None):
        seen.update(tau=tau, effect=effect)
        return "swept"

    monkeypatch.setattr(sensitivity_module, "sensitivity", fake_sensitivity)
    result = SimpleNamespace(built=SimpleNamespace(priors=SimpleNamespace(tau=None)))
    spec = parse_analysis_spec(_DATA + _GRID, tmp_path)
    assert sensitivity_module.sweep_for_spec(spec, result) == "swept"
    assert seen == {"tau": spec.sensitivity.tau, "effect": spec.sensitivity.effect}

    # without the section: the default grid around the fit's tau prior
    result.built.priors.tau = as_prior("half_normal(1)")
    sensitivity_module.sweep_for_spec(parse_analysis_spec(_DATA, tmp_path), result)
    assert seen["tau"] == sensitivity_module.default_grid(result.built.priors.tau)["tau"]
    assert seen["effect"] is None
