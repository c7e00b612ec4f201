"""``bayes-ipd two-stage --spline``: the two-stage effect curve from the command line.

The curve itself is checked against statsmodels and the one-stage curve in
``tests/test_splines.py``; here: the CLI gives the API's curve
(:func:`bayes_ipd.two_stage.splines.two_stage_effect_curve`) at the printed values, its JSON
contract, the default values (percentiles of the pooled covariate, numpy's), the plot, and
the refusals of bad options.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bayes_ipd.cli import main
from bayes_ipd.datasets import load_bp_ipd, load_bp_trials
from bayes_ipd.two_stage.splines import two_stage_effect_curve

BP = ["--study", "trial", "--treatment", "treat", "--family", "gaussian", "--outcome"]
CURVE_KEYS = {
    "covariate",
    "knots",
    "level",
    "scale",
    "method",
    "terms",
    "coefficients",
    "covariance",
    "between",
    "centre",
    "studies",
    "excluded",
    "points",
    "at",
}


@pytest.fixture
def bp_csv(tmp_path: Path) -> Path:
    path = tmp_path / "bp.csv"
    load_bp_trials().to_csv(path, index=False)
    return path


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    return [line for line in err.splitlines() if line.strip()][-1]


def test_cli_curve_is_the_api_curve_at_the_given_values(bp_csv, capsys):
    argv = ["two-stage", str(bp_csv), *BP, "sbp_final", "--covariates", "sbp_baseline"]
    payload = _json(
        [*argv, "--spline", "age:3", "--spline-at", "45,60.5", "--level", "0.9"], capsys
    )
    curve = payload["effect_curve"]
    assert set(curve) == CURVE_KEYS
    assert curve["at"] == "given" and curve["method"] == "multivariate REML"
    api = two_stage_effect_curve(
        load_bp_ipd(), "age", 3, covariates=["sbp_baseline"], x=np.array([45.0, 60.5]), level=0.9
    )
    points = curve["points"]
    assert [p["x"] for p in points] == [45.0, 60.5]
    for column in ("estimate", "se", "lower", "upper"):
        np.testing.assert_allclose([p[column] for p in points], getattr(api, column), rtol=1e-10)
    assert curve["knots"] == pytest.approx(list(api.knots), rel=1e-12)
    assert list(curve["coefficients"]) == ["treat", "treat:age", "treat:age'1"]
    assert curve["studies"] == list(api.studies) and curve["excluded"] == {}
    # the single pooled effect is still there, adjusted for sbp_baseline only
    assert payload["pooled"]["estimate"] == pytest.approx(
        _json(argv, capsys)["pooled"]["estimate"], rel=1e-12
    )


def test_cli_curve_defaults_to_percentiles_of_the_pooled_values(bp_csv, capsys, tmp_path):
    png = tmp_path / "curve.png"
    payload = _json(
        ["two-stage", str(bp_csv), *BP, "sbp_final", "--spline", "age", "--curve", str(png)],
        capsys,
    )
    curve = payload["effect_curve"]
    assert set(curve) == CURVE_KEYS | {"percentiles", "curve_plot"}
    assert curve["at"] == "percentiles" and curve["percentiles"] == [5, 25, 50, 75, 95]
    expected = np.percentile(load_bp_trials()["age"].to_numpy(), [5, 25, 50, 75, 95])
    np.testing.assert_allclose([p["x"] for p in curve["points"]], expected, rtol=1e-12)
    assert len(curve["knots"]) == 4  # the default
    assert curve["curve_plot"] == str(png) and png.stat().st_size > 10_000


def test_cli_curve_text_report(bp_csv, capsys):
    code = main(["two-stage", str(bp_csv), *BP, "sbp_final", "--spline", "age:5"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Two-stage effect curve of 'age' (5-knot restricted cubic spline, 10 trials" in out
    assert "(at the 5th, 25th, 50th, 75th, 95th percentiles of the pooled 'age' values)" in out
    table = out.split("Two-stage effect curve of 'age'")[1].splitlines()
    assert table[2].split() == ["age", "estimate", "se", "lower", "upper"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--spline", "age:6"], "--spline 'age:6': a restricted cubic spline takes 3, 4 or 5"),
        (["--spline", ":3"], "--spline ':3' names no covariate"),
        (["--spline-at", "40"], "--spline-at is for the effect curve of --spline COVARIATE"),
        (["--curve", "c.png"], "--curve is for the effect curve of --spline COVARIATE"),
        (["--spline", "age", "--spline-at", "40,old"], "--spline-at '40,old': expected finite"),
        (["--spline", "age", "--spline-at", "nan"], "--spline-at 'nan': expected finite"),
        (["--spline", "age", "--curve", "c.txt"], "--curve 'c.txt': the figure format"),
        (["--spline", "weight"], "weight"),
    ],
)
def test_cli_curve_refuses_bad_options(bp_csv, capsys, extra, message):
    last = _refused(["two-stage", str(bp_csv), *BP, "sbp_final", *extra], capsys)
    assert last.startswith("error:") and message in last


def test_cli_curve_refuses_aggregate_trials(bp_csv, capsys, tmp_path):
    published = tmp_path / "published.csv"
    published.write_text("study,estimate,se\nP1,-4.0,1.5\n")
    argv = ["two-stage", str(bp_csv), *BP, "sbp_final", "--spline", "age"]
    last = _refused([*argv, "--aggregate", str(published)], capsys)
    assert "--spline needs participant rows in every trial" in last


def test_curve_at_other_values_equals_a_refit_there():
    """``TwoStageEffectCurve.at`` (algebra on the pooled fit) against a refit of every trial
    evaluated at the same values."""
    ipd = load_bp_ipd()
    x = np.array([35.0, 50.0, 58.25, 80.0])
    moved = two_stage_effect_curve(ipd, "age", 4, points=7).at(x)
    refit = two_stage_effect_curve(ipd, "age", 4, x=x)
    for column in ("x", "estimate", "se", "lower", "upper"):
        np.testing.assert_allclose(getattr(moved, column), getattr(refit, column), rtol=1e-12)
