"""Harmonisation as data (bayes_ipd.data.harmonise): rules, the log, the [harmonise] section,
`bayes-ipd harmonise` and `run` with rules; a harmonised analysis equals the analysis of the
data converted by hand."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bayes_ipd as bi
from bayes_ipd.cli import main
from bayes_ipd.data.harmonise import harmonise, pooled_within_arm_sd
from bayes_ipd.data.harmonise_rules import HarmoniseRules
from bayes_ipd.data.units import CONVERSIONS, find_conversion
from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.spec import parse_analysis_spec, read_analysis_spec, write_analysis_spec

ROOT = Path(__file__).resolve().parents[1]
BP = ROOT / "bayes_ipd" / "datasets" / "bp_trials.csv"
KPA_PER_MMHG = 133.322 / 1000  # the conventional mmHg (bayes_ipd.data.units)
LOGGED_ROWS = [220, 120, 180, 300, 300, 260]  # rows of T02, T05, T03, T04, T04, T06

RULES_TOML = """
[[harmonise.rename]]
trial = "T02"
from = "sbp0"
to = "sbp_baseline"

[[harmonise.recode]]
trial = "T05"
column = "treat"
levels = {active = 1, control = 0}

[[harmonise.convert]]
trial = "T03"
column = "age"
units = "months -> years"

[[harmonise.convert]]
trial = "T04"
column = "sbp_baseline"
units = "kPa -> mmHg"

[[harmonise.convert]]
trial = "T04"
column = "sbp_final"
units = "kPa -> mmHg"

[[harmonise.crosswalk]]
trial = "T06"
column = "sbp_final"
a = 10.0
b = 2.0
source = "simulated: the T06 scale is (mmHg - 10) / 2"
"""


def clean_rows() -> pd.DataFrame:
    return pd.read_csv(BP, dtype={"trial": str})


def messy_rows() -> pd.DataFrame:
    """bp_trials as it might arrive: T02's baseline under another name, T03's age in months,
    T04's blood pressure in kPa, T05's arms as words, T06's outcome on another scale."""
    rows = clean_rows()
    t = rows["trial"]
    rows["sbp0"] = rows["sbp_baseline"].where(t == "T02")
    rows.loc[t == "T02", "sbp_baseline"] = np.nan
    rows.loc[t == "T03", "age"] = rows.loc[t == "T03", "age"] * 12
    for col in ("sbp_baseline", "sbp_final"):
        rows.loc[t == "T04", col] = rows.loc[t == "T04", col] * KPA_PER_MMHG
    rows["treat"] = rows["treat"].astype(object)
    rows.loc[t == "T05", "treat"] = rows.loc[t == "T05", "treat"].map({1: "active", 0: "control"})
    rows.loc[t == "T06", "sbp_final"] = (rows.loc[t == "T06", "sbp_final"] - 10) / 2
    return rows


def by_hand(rows: pd.DataFrame) -> pd.DataFrame:
    """The same conversions written out by hand (the factors of the named table)."""
    out = rows.copy()
    t = out["trial"]
    out["sbp_baseline"] = out["sbp_baseline"].where(t != "T02", out["sbp0"])
    out = out.drop(columns=["sbp0"])
    out.loc[t == "T05", "treat"] = out.loc[t == "T05", "treat"].map({"active": 1, "control": 0})
    out["treat"] = out["treat"].astype(int)
    out.loc[t == "T03", "age"] = (1 / 12) * out.loc[t == "T03", "age"]
    for col in ("sbp_baseline", "sbp_final"):
        out.loc[t == "T04", col] = (1000 / 133.322) * out.loc[t == "T04", col]
    out.loc[t == "T06", "sbp_final"] = 10.0 + 2.0 * out.loc[t == "T06", "sbp_final"]
    return out


def rules() -> HarmoniseRules:
    return parse_analysis_spec(_spec(RULES_TOML, "bp.csv"), Path(".")).harmonise


def _spec(extra: str, path: str, draws: int = 100) -> str:
    return f"""
[data]
path = "{path}"
study = "trial"
treatment = "treat"
outcome = "sbp_final"
family = "gaussian"

[model]
covariates = ["sbp_baseline", "age"]

[sampler]
draws = {draws}
tune = {draws}
chains = 1
seed = 5
progress = false
{extra}
"""


def _two_stage(frame: pd.DataFrame) -> bi.TwoStageResult:
    ipd = bi.IPD.from_frame(
        frame,
        study="trial",
        treatment="treat",
        outcome="sbp_final",
        covariates=["sbp_baseline", "age"],
        family="gaussian",
    )
    return bi.fit_two_stage(ipd, covariates=["sbp_baseline", "age"], method="REML", hksj=True)


# --------------------------------------------------------------------------- the rules


def test_named_conversions_hold_their_stated_numbers():
    assert find_conversion("lb -> kg").factor == 0.45359237  # exact (1959)
    assert find_conversion("in -> cm").factor == 2.54
    assert 1 / find_conversion("kg -> lb").factor == pytest.approx(0.45359237, rel=1e-15)
    # mg/dL -> mmol/L = 10 / molar mass: glucose 180.16, cholesterol 386.65 g/mol
    assert find_conversion("mmol/L -> mg/dL", "glucose").factor == pytest.approx(18.016)
    assert find_conversion("mmol/L -> mg/dL", "cholesterol").factor == pytest.approx(38.665)
    assert find_conversion("days -> months").factor == pytest.approx(1 / 30.4375)
    assert find_conversion("months -> years").factor == pytest.approx(1 / 12)
    assert find_conversion("weeks -> months").factor == pytest.approx(7 / 30.4375)
    f_to_c = find_conversion("F -> C")
    assert f_to_c.factor * 212 + f_to_c.offset == pytest.approx(100)
    assert f_to_c.factor * 32 + f_to_c.offset == pytest.approx(0, abs=1e-12)
    c_to_f = find_conversion("°C -> °F")
    assert c_to_f.factor * 37 + c_to_f.offset == pytest.approx(98.6)


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"crosswalk": [{"column": "y", "a": 1, "b": 2}]}, "source is required"),
        ({"crosswalk": [{"column": "y", "a": 1, "b": 2, "source": " "}]}, "needs its source"),
        ({"convert": [{"column": "w", "units": "stone -> kg"}]}, "no such named conversion"),
        ({"convert": [{"column": "g", "units": "mg/dL -> mmol/L"}]}, "substance"),
        ({"convert": [{"column": "w", "units": "lb -> kg", "factor": 2}]}, "not both"),
        ({"convert": [{"column": "w"}]}, "needs units"),
        ({"recode": [{"column": "sex", "levels": {}}]}, "levels"),
        ({"rescale": [{"column": "w"}]}, "unknown key harmonise.rescale"),
        ({"convert": [{"column": "w", "factor": 1, "colour": 1}]}, "harmonise.convert[1].colour"),
        ({}, "holds no rule"),
    ],
)
def test_malformed_rules_are_spec_errors_naming_the_key(table, words):
    with pytest.raises(SpecError, match=None) as err:
        HarmoniseRules.from_dict(table)
    assert words in str(err.value)


def test_spec_section_round_trips(tmp_path):
    spec = parse_analysis_spec(_spec(RULES_TOML, "bp.csv"), tmp_path)
    assert [r.kind for r in spec.harmonise.rules] == [
        "rename", "recode", "convert", "convert", "convert", "crosswalk",
    ]  # fmt: skip
    write_analysis_spec(spec, tmp_path / "again.toml")
    again = read_analysis_spec(tmp_path / "again.toml")
    assert again.harmonise == spec.harmonise
    assert again.to_dict() == spec.to_dict()
    assert "harmonise" not in parse_analysis_spec(_spec("", "bp.csv"), tmp_path).to_dict()


# --------------------------------------------------------------------------- applying


def test_harmonised_rows_equal_the_rows_converted_by_hand_and_the_input_is_kept(tmp_path):
    messy = messy_rows()
    kept = messy.copy()
    frame, _ = bi.harmonise(messy, rules(), study="trial", treatment="treat")
    pd.testing.assert_frame_equal(messy, kept)  # input never modified
    (tmp_path / "rules.toml").write_text(RULES_TOML)
    from_file, _ = bi.harmonise(messy, tmp_path / "rules.toml", study="trial")
    pd.testing.assert_frame_equal(from_file, frame)
    hand = by_hand(messy)
    for col in ("sbp_baseline", "sbp_final", "age", "treat"):
        np.testing.assert_allclose(frame[col].astype(float), hand[col].astype(float), rtol=1e-15)
    # and the original data, up to floating-point rounding of the round trip
    clean = clean_rows()
    for col in ("sbp_baseline", "sbp_final", "age", "treat"):
        np.testing.assert_allclose(frame[col].astype(float), clean[col], rtol=1e-13)
    assert "sbp0" not in frame.columns


def test_log_lists_every_rule_with_its_row_counts():
    messy = messy_rows()
    _, log = harmonise(messy, rules(), study="trial", treatment="treat")
    n = messy.groupby("trial").size()
    got = [(e.trial, e.column, e.rows) for e in log.entries]
    assert got == [
        ("T02", "sbp_baseline", n["T02"]),
        ("T05", "treat", n["T05"]),
        ("T03", "age", n["T03"]),
        ("T04", "sbp_baseline", n["T04"]),
        ("T04", "sbp_final", n["T04"]),
        ("T06", "sbp_final", n["T06"]),
    ]
    rules_text = [e.rule for e in log.entries]
    assert rules_text[2] == "convert months -> years: x * 0.08333333333"
    assert "source: simulated" in rules_text[5]
    age = messy.loc[messy.trial == "T03", "age"]
    assert log.entries[2].before.startswith(f"n={n['T03']}, median {age.median():.4g}")
    assert log.entries[2].after.startswith(f"n={n['T03']}, median {age.median() / 12:.4g}")
    arms = messy.loc[messy.trial == "T05", "treat"].value_counts()
    want = f"n={n['T05']}: active: {arms['active']}; control: {arms['control']}"
    assert log.entries[1].before == want  # equal counts: in order of the labels
    assert list(log.to_frame().columns) == ["trial", "column", "rule", "rows", "before", "after"]
    assert "months -> years" in str(log)


def test_harmonised_two_stage_analysis_equals_the_hand_converted_one():
    messy = messy_rows()
    frame, _ = harmonise(messy, rules(), study="trial", treatment="treat")
    ours, hand = _two_stage(frame), _two_stage(by_hand(messy))
    assert abs(ours.pooled.estimate - hand.pooled.estimate) < 1e-10
    assert abs(ours.pooled.se - hand.pooled.se) < 1e-10
    assert abs(ours.pooled.tau2 - hand.pooled.tau2) < 1e-10
    clean = _two_stage(clean_rows())  # the data before they were messed up
    assert abs(ours.pooled.estimate - clean.pooled.estimate) < 1e-10


def test_standardise_divides_by_the_pooled_within_arm_sd():
    rows = clean_rows()
    frame, log = harmonise(
        rows, {"standardise": [{"column": "sbp_final"}]}, study="trial", treatment="treat"
    )
    assert len(log) == 10  # every trial
    for trial, group in rows.groupby("trial"):
        arms = [g["sbp_final"].to_numpy() for _, g in group.groupby("treat")]
        # closed form: s_p^2 = sum (n_g - 1) s_g^2 / (N - 2)
        sp = math.sqrt(sum((len(a) - 1) * a.var(ddof=1) for a in arms) / (sum(map(len, arms)) - 2))
        assert pooled_within_arm_sd(group["sbp_final"], group["treat"]) == pytest.approx(sp)
        new = frame.loc[rows.trial == trial, "sbp_final"].to_numpy()
        np.testing.assert_allclose(new, group["sbp_final"].to_numpy() / sp, rtol=1e-14)
    # unadjusted stage one: each trial's estimate is Cohen's d
    ipd = bi.IPD.from_frame(
        frame, study="trial", treatment="treat", outcome="sbp_final", family="gaussian"
    )
    stage_one = bi.fit_per_study(ipd)
    t01 = rows[rows.trial == "T01"]
    diff = t01.loc[t01.treat == 1, "sbp_final"].mean() - t01.loc[t01.treat == 0, "sbp_final"].mean()
    sd = pooled_within_arm_sd(t01["sbp_final"], t01["treat"])
    assert stage_one.estimate[0] == pytest.approx(diff / sd, rel=1e-10)


def test_rename_for_every_trial_and_recode_of_numbers():
    rows = pd.DataFrame(
        {"trial": ["A", "A", "B", "B"], "wt": [1.0, 2.0, 3.0, 4.0], "sex": [1, 2, 0, 1]}
    )
    table = {
        "rename": [{"from": "wt", "to": "weight"}],
        "recode": [{"trial": "A", "column": "sex", "levels": {"1": 0, "2": 1}}],
    }
    frame, log = harmonise(rows, table, study="trial")
    assert list(frame.columns) == ["trial", "weight", "sex"]
    assert frame["sex"].tolist() == [0, 1, 0, 1]
    assert [(e.trial, e.rows) for e in log.entries] == [("(all trials)", 4), ("A", 2)]


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"convert": [{"trial": "T99", "column": "age", "factor": 2}]}, "no trial 'T99'"),
        ({"convert": [{"trial": "T01", "column": "weight", "factor": 2}]}, "no column 'weight'"),
        ({"recode": [{"trial": "T01", "column": "treat", "levels": {"M": 1}}]}, "level 'M'"),
        (
            {"recode": [{"trial": "T01", "column": "treat", "levels": {"1": 1}}]},
            "'0' of column 'treat' in trial 'T01' has no code",
        ),
        (
            {
                "convert": [
                    {"trial": "T01", "column": "age", "factor": 2},
                    {"column": "age", "factor": 3},
                ]
            },
            "would be changed twice",
        ),
        (
            {
                "convert": [{"trial": "T01", "column": "age", "factor": 2}],
                "crosswalk": [{"trial": "T01", "column": "age", "a": 0, "b": 2, "source": "x"}],
            },
            "would be changed twice",
        ),
        ({"rename": [{"from": "age", "to": "sbp_final"}]}, "'sbp_final' is already present"),
        (
            {"rename": [{"trial": "T01", "from": "age", "to": "sbp_final"}]},
            "already holds values in trial 'T01'",
        ),
        ({"rename": [{"from": "trial", "to": "study"}]}, "trial column"),
        ({"standardise": [{"column": "sbp_final"}]}, "needs the treatment column"),
    ],
)
def test_rules_that_match_nothing_or_apply_twice_are_errors_naming_the_rule(table, words):
    with pytest.raises(IPDDataError) as err:
        harmonise(clean_rows(), table, study="trial")
    assert words in str(err.value)
    assert "harmonise rule" in str(err.value)


# --------------------------------------------------------------------------- command line


def _write_messy(tmp_path: Path) -> Path:
    path = tmp_path / "messy.csv"
    messy_rows().to_csv(path, index=False)
    return path


def test_harmonise_command_writes_rows_and_log(tmp_path, capsys):
    data = _write_messy(tmp_path)
    (tmp_path / "rules.toml").write_text(RULES_TOML)
    argv = ["harmonise", str(data), "--rules", str(tmp_path / "rules.toml"), "--study", "trial"]
    argv += ["--out", str(tmp_path / "clean.csv"), "--log", str(tmp_path / "log.csv"), "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"log", "rows", "out", "log_file"}
    assert [e["rows"] for e in doc["log"]] == LOGGED_ROWS
    written = pd.read_csv(tmp_path / "clean.csv", dtype={"trial": str})
    np.testing.assert_allclose(written["age"], clean_rows()["age"], rtol=1e-12)
    with open(tmp_path / "log.csv", encoding="utf-8") as fh:
        log = list(csv.DictReader(fh))
    assert [row["trial"] for row in log] == ["T02", "T05", "T03", "T04", "T04", "T06"]


def test_harmonise_command_reads_a_spec(tmp_path, capsys):
    """`bayes-ipd harmonise SPEC`: rows, columns and rules from the spec, as `run` applies
    them; an output naming an input is refused."""
    _write_messy(tmp_path)
    (tmp_path / "spec.toml").write_text(_spec(RULES_TOML, "messy.csv"))
    out = tmp_path / "clean.csv"
    assert main(["harmonise", str(tmp_path / "spec.toml"), "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["rows"] for e in doc["log"]] == LOGGED_ROWS
    written = pd.read_csv(out, dtype={"trial": str})
    np.testing.assert_allclose(written["sbp_baseline"], clean_rows()["sbp_baseline"], rtol=1e-13)
    argv = ["harmonise", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "messy.csv")]
    assert main(argv) == 2
    assert "is an input file" in capsys.readouterr().err
    (tmp_path / "plain.toml").write_text(_spec("", "messy.csv"))
    assert main(["harmonise", str(tmp_path / "plain.toml")]) == 2
    assert "no [harmonise] section" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("rules_text", "words"),
    [
        (
            '[[harmonise.convert]]\ntrial = "T99"\ncolumn = "age"\nfactor = 2\n',
            "no trial 'T99'",
        ),
        (
            '[[harmonise.convert]]\ntrial = "T01"\ncolumn = "bmi"\nfactor = 2\n',
            "no column 'bmi'",
        ),
        (
            '[[harmonise.crosswalk]]\ncolumn = "sbp_final"\na = 1\nb = 2\n',
            "source is required",
        ),
    ],
)
def test_bad_rules_exit_2_with_an_error_line(tmp_path, capsys, rules_text, words):
    (tmp_path / "rules.toml").write_text(rules_text)
    argv = ["harmonise", str(BP), "--rules", str(tmp_path / "rules.toml"), "--study", "trial"]
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:") and words in last
    # the same rules in a spec: `run` refuses them before any fitting
    (tmp_path / "spec.toml").write_text(_spec(rules_text, str(BP)))
    assert main(["run", str(tmp_path / "spec.toml")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:") and words in last


def test_run_with_harmonise_equals_the_run_on_hand_converted_rows(tmp_path, capsys):
    """`run` applies [harmonise] before anything else: the same figures as a run on the rows
    converted by hand (both routes), the log printed, in summary.json, harmonisation_log.csv
    and a report section."""
    data = _write_messy(tmp_path)
    by_hand(messy_rows()).to_csv(tmp_path / "hand.csv", index=False)
    (tmp_path / "spec.toml").write_text(_spec(RULES_TOML, data.name))
    (tmp_path / "hand.toml").write_text(_spec("", "hand.csv"))
    report = tmp_path / "report.html"
    argv = ["run", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "out")]
    assert main([*argv, "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Harmonisation log (6 rule applications)")
    assert main(["run", str(tmp_path / "hand.toml"), "--json"]) == 0
    hand = json.loads(capsys.readouterr().out)
    ours = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [e["rows"] for e in ours["harmonisation"]] == LOGGED_ROWS
    assert "harmonisation" not in hand
    for key in ("estimate", "se", "tau2"):
        assert abs(ours["two_stage"]["pooled"][key] - hand["two_stage"]["pooled"][key]) < 1e-10
    # the same seed on the same numbers: the same draws
    for key in ("mean", "sd", "q025", "q975"):
        got, want = ours["posterior"]["effect"][key], hand["posterior"]["effect"][key]
        assert abs(got - want) < 1e-10
    log = pd.read_csv(tmp_path / "out" / "harmonisation_log.csv")
    assert log["rows"].tolist() == LOGGED_ROWS
    html = report.read_text()
    assert 'id="harmonisation"' in html and "kPa -&gt; mmHg" in html


def test_the_worked_example_of_the_docs_runs_as_written(tmp_path, capsys, monkeypatch):
    """docs/data_preparation.md: the Python block makes arrived.csv, the TOML block is the
    spec, and `bayes-ipd harmonise` prints the log shown there."""
    text = (ROOT / "docs" / "data_preparation.md").read_text(encoding="utf-8")
    example = text.split("### A worked example", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("\n", 1) for b in example.split("```")[1::2]]
    code = {lang.strip(): body for lang, body in blocks if lang.strip() in ("python", "toml")}
    shown = next(body for lang, body in blocks if body.startswith("$ bayes-ipd harmonise"))
    monkeypatch.chdir(tmp_path)
    exec(compile(code["python"], "data_preparation.md", "exec"), {})
    (tmp_path / "analysis.toml").write_text(code["toml"])
    spec = read_analysis_spec(tmp_path / "analysis.toml")
    assert len(spec.harmonise) == 6
    argv = shown.splitlines()[0].removeprefix("$ bayes-ipd ").split()
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.strip() == shown.split("\n", 1)[1].strip()
    frame = pd.read_csv(tmp_path / "harmonised.csv", dtype={"trial": str})
    for col in ("sbp_baseline", "sbp_final", "age", "treat"):
        np.testing.assert_allclose(frame[col], clean_rows()[col], rtol=1e-13)


@given(
    pair=st.sampled_from([c for c in CONVERSIONS if c.substance is None]),
    values=st.lists(
        st.floats(min_value=0.01, max_value=1e4, allow_nan=False), min_size=1, max_size=20
    ),
)
@settings(max_examples=60, deadline=None)
def test_a_conversion_and_its_inverse_give_the_values_back(pair, values):
    """Property: converting a trial's column there and back is the identity (to rounding),
    the other trial is untouched, and each log entry counts the trial's values."""
    rows = pd.DataFrame({"trial": ["A"] * len(values) + ["B"], "x": [*values, 5.0]})
    there = {"trial": "A", "column": "x", "units": f"{pair.source} -> {pair.target}"}
    frame, log = harmonise(rows, {"convert": [there]}, study="trial")
    back = {"trial": "A", "column": "x", "units": f"{pair.target} -> {pair.source}"}
    again, _ = harmonise(frame, {"convert": [back]}, study="trial")
    np.testing.assert_allclose(again["x"], rows["x"], rtol=1e-9, atol=1e-9)
    assert again["x"].iloc[-1] == 5.0
    assert [(e.trial, e.rows) for e in log.entries] == [("A", len(values))]
