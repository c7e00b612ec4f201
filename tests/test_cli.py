"""The ``bayes-ipd`` command line: results, output contracts and refusals of bad input."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.cli import main
from bayes_ipd.datasets import bcg_participant_rows, load_bcg_aggregate

REPO = Path(__file__).resolve().parents[1]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


@pytest.fixture
def bcg_aggregate_csv(tmp_path: Path) -> Path:
    path = tmp_path / "bcg.csv"
    table = load_bcg_aggregate().assign(sei=lambda t: np.sqrt(t["vi"]))
    table.to_csv(path, index=False)
    return path


def _gaussian_rows(seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 24
    return pd.DataFrame(
        {
            "trial": np.repeat(["T1", "T2", "T3"], n),
            "arm": np.tile([0, 1], 3 * n // 2),
            "age": rng.normal(50, 10, 3 * n).round(1),
            "y": rng.normal(0, 1, 3 * n).round(3),
        }
    )


def _survival_rows(seed: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 30
    return pd.DataFrame(
        {
            "trial": np.repeat(["S1", "S2", "S3"], n),
            "arm": np.tile([0, 1], 3 * n // 2),
            "months": np.ceil(rng.exponential(12, 3 * n)),
            "died": (rng.random(3 * n) < 0.7).astype(int),
        }
    )


def _write(tmp_path: Path, frame: pd.DataFrame, name: str = "data.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


# --- pool ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spread", [["--var", "vi"], ["--se", "sei"]])
def test_pool_bcg_reml_hksj_reproduces_metafor(bcg_aggregate_csv, capsys, spread):
    before = _digest(bcg_aggregate_csv)
    argv = ["pool", str(bcg_aggregate_csv), "--estimate", "yi", *spread, "--study", "trial"]
    code, out, err = _run([*argv, "--method", "REML", "--hksj", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)  # the whole of stdout is one JSON object
    pooled = result["pooled"]
    # metafor 3.8 rma(yi, vi, method = "REML", test = "knha") on dat.bcg (REFERENCES.md)
    assert pooled["estimate"] == pytest.approx(-0.7145, abs=5e-5)
    assert pooled["se"] == pytest.approx(0.1808, abs=5e-5)
    assert pooled["ci_low"] == pytest.approx(-1.1084, abs=5e-5)
    assert pooled["ci_high"] == pytest.approx(-0.3206, abs=5e-5)
    assert pooled["tau2"] == pytest.approx(0.3132, abs=5e-5)
    assert pooled["i2"] == pytest.approx(92.22, abs=5e-3)
    assert pooled["q"] == pytest.approx(152.2330, abs=5e-4)
    assert [r["study"] for r in result["per_study"]] == [str(i) for i in range(1, 14)]
    assert result["per_study"][0]["estimate"] == pytest.approx(-0.8893113339)
    assert _digest(bcg_aggregate_csv) == before


def test_pool_dl_text_report_and_forest(bcg_aggregate_csv, tmp_path, capsys):
    forest = tmp_path / "figs" / "forest.png"
    argv = ["pool", str(bcg_aggregate_csv), "--estimate", "yi", "--var", "vi", "--method", "dl"]
    code, out, err = _run([*argv, "--scale", "logRR", "--forest", str(forest)], capsys)
    assert code == 0, err
    assert "DerSimonian-Laird" in out
    assert "-0.7141" in out  # metafor rma(method = "DL"): -0.7141 (REFERENCES.md)
    assert "RR [95% CI]" in out
    assert forest.exists() and forest.stat().st_size > 0
    assert str(forest) in out


# --- two-stage -----------------------------------------------------------------------------


def test_two_stage_bcg_rows_give_the_2x2_log_odds_ratios(tmp_path, capsys):
    path = _write(tmp_path, bcg_participant_rows(), "bcg_rows.csv")
    argv = ["two-stage", str(path), "--study", "trial", "--treatment", "treat"]
    code, out, err = _run([*argv, "--family", "binomial", "--outcome", "event", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    t = load_bcg_aggregate()
    # log OR = log(ad / bc) from each trial's 2x2 counts (closed form)
    expected = np.log(t["tpos"] * t["cneg"] / (t["tneg"] * t["cpos"]))
    got = [r["estimate"] for r in result["per_study"]]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert result["pooled"]["scale"] == "logOR" and result["pooled"]["k"] == 13
    assert [r["events"] for r in result["per_study"]] == list(t["tpos"] + t["cpos"])


def test_two_stage_gaussian_interaction_matches_closed_form(tmp_path, capsys):
    df = _gaussian_rows()
    path = _write(tmp_path, df)
    argv = ["two-stage", str(path), "--study", "trial", "--treatment", "arm", "--family"]
    argv += ["gaussian", "--outcome", "y", "--pool-var", "treat:age", "--method", "FE", "--json"]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    result = json.loads(out)
    estimates, variances = [], []
    for label in ("T1", "T2", "T3"):
        d = df[df["trial"] == label]
        x = np.column_stack([np.ones(len(d)), d["arm"], d["age"], d["arm"] * d["age"]])
        xtx_inv = np.linalg.inv(x.T @ x)
        beta = xtx_inv @ x.T @ d["y"]
        s2 = np.sum((d["y"] - x @ beta) ** 2) / (len(d) - 4)
        estimates.append(beta[3])
        variances.append(s2 * xtx_inv[3, 3])
    w = 1 / np.array(variances)
    assert result["pooled"]["estimate"] == pytest.approx(np.sum(w * estimates) / np.sum(w))
    assert result["term"] == "treat:age"


def test_two_stage_text_report_warns_on_stderr_for_an_excluded_trial(tmp_path, capsys):
    df = _survival_rows()
    df.loc[(df["trial"] == "S2") & (df["arm"] == 0), "died"] = 0
    path = _write(tmp_path, df)
    argv = ["two-stage", str(path), "--study", "trial", "--treatment", "arm", "--family"]
    code, out, err = _run([*argv, "survival", "--time", "months", "--event", "died"], capsys)
    assert code == 0, err
    assert "warning: trial 'S2' excluded from pooling: no events in the control arm" in err
    assert "HR [95% CI]" in out and "S2: no events in the control arm" in out
    code, out, err = _run(
        [*argv, "survival", "--time", "months", "--event", "died", "--json"], capsys
    )
    assert code == 0
    result = json.loads(out)
    assert result["per_study"][1]["excluded"] == "no events in the control arm"
    assert result["per_study"][1]["estimate"] is None
    assert "warning: trial 'S2'" in err


def test_two_stage_drop_policy_reports_dropped_rows(tmp_path, capsys):
    df = _gaussian_rows()
    df.loc[5, "y"] = np.nan
    path = _write(tmp_path, df)
    argv = ["two-stage", str(path), "--study", "trial", "--treatment", "arm", "--family"]
    code, out, err = _run([*argv, "gaussian", "--outcome", "y", "--missing", "drop"], capsys)
    assert code == 0, err
    assert "dropped for missing values: 1 (T1: 1)" in out
    assert "warning: dropped 1 of 72 rows" in err


# --- demo ----------------------------------------------------------------------------------


def test_demo_json_writes_the_forest_plot(tmp_path, capsys):
    out_dir = tmp_path / "demo"
    code, out, err = _run(["demo", "--out", str(out_dir), "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    two = result["two_stage"]
    t = load_bcg_aggregate()
    expected = np.log(t["tpos"] * t["cneg"] / (t["tneg"] * t["cpos"]))  # closed form, 2x2
    np.testing.assert_allclose([r["estimate"] for r in two["per_study"]], expected, atol=1e-6)
    assert two["pooled"]["method"] == "REML" and two["pooled"]["hksj"] is True
    forest = out_dir / "bcg_forest.png"
    assert two["forest_plot"] == str(forest) and forest.stat().st_size > 0


# --- refusals: exit 2, last stderr line "error: ..." naming the culprit ------------------

_GAUSSIAN_ARGS = [
    "--study",
    "trial",
    "--treatment",
    "arm",
    "--family",
    "gaussian",
    "--outcome",
    "y",
]
_BINOMIAL_ARGS = [
    "--study",
    "trial",
    "--treatment",
    "arm",
    "--family",
    "binomial",
    "--outcome",
    "y",
]
_SURVIVAL_ARGS = [
    "--study",
    "trial",
    "--treatment",
    "arm",
    "--family",
    "survival",
    "--time",
    "months",
    "--event",
    "died",
]


def _gaussian_with(row: int, column: str, value: object) -> pd.DataFrame:
    df = _gaussian_rows()
    df[column] = df[column].astype(object)
    df.loc[row, column] = value
    return df


def _binary_rows() -> pd.DataFrame:
    df = _gaussian_rows()
    df["y"] = np.tile([0, 1, 1, 0], len(df) // 4)
    return df


def _refusal_cases() -> list[tuple[str, pd.DataFrame | bytes, list[str], list[str]]]:
    """(case id, file content, arguments, names the error line must contain)."""
    gaussian = _gaussian_rows()
    one_arm = gaussian[~((gaussian["trial"] == "T2") & (gaussian["arm"] == 1))]
    one_trial = gaussian[gaussian["trial"] == "T1"]
    not_01 = gaussian.assign(arm=gaussian["arm"] * 2)
    binary_2 = _binary_rows()
    binary_2.loc[7, "y"] = 2
    survival_time = _survival_rows()
    survival_time.loc[4, "months"] = 0
    survival_event = _survival_rows()
    survival_event.loc[9, "died"] = 3
    return [
        ("missing column", gaussian.drop(columns="y"), _GAUSSIAN_ARGS, ["'y'"]),
        ("nan in used column", _gaussian_with(3, "y", np.nan), _GAUSSIAN_ARGS, ["'y'"]),
        ("treatment not 0/1", not_01, _GAUSSIAN_ARGS, ["'arm'", "2"]),
        ("single-arm trial", one_arm, _GAUSSIAN_ARGS, ["'T2'"]),
        ("fewer than two trials", one_trial, _GAUSSIAN_ARGS, ["'trial'", "'T1'"]),
        ("binary outcome outside 0/1", binary_2, _BINOMIAL_ARGS, ["'y'", "2", "'T1'"]),
        ("survival time <= 0", survival_time, _SURVIVAL_ARGS, ["'months'", "0"]),
        ("event outside 0/1", survival_event, _SURVIVAL_ARGS, ["'died'", "3"]),
        ("non-numeric text", _gaussian_with(6, "y", "high"), _GAUSSIAN_ARGS, ["'y'", "'high'"]),
        ("empty file", b"", _GAUSSIAN_ARGS, ["data.csv", "empty"]),
        (
            "binary file",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff",
            _GAUSSIAN_ARGS,
            ["data.csv"],
        ),
        (
            "interaction covariate missing",
            gaussian,
            [*_GAUSSIAN_ARGS, "--pool-var", "treat:bmi"],
            ["'bmi'"],
        ),
    ]


@pytest.mark.parametrize(
    ("content", "args", "names"),
    [case[1:] for case in _refusal_cases()],
    ids=[case[0] for case in _refusal_cases()],
)
def test_two_stage_refuses_bad_data(tmp_path, capsys, content, args, names):
    path = tmp_path / "data.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        content.to_csv(path, index=False)
    before = _digest(path)
    code, out, err = _run(["two-stage", str(path), *args, "--json"], capsys)
    assert code == 2
    assert out == ""
    last = _last_line(err)
    assert last.startswith("error:"), err
    for name in names:
        assert name in last, (name, last)
    assert "Traceback" not in err
    assert _digest(path) == before


@pytest.mark.parametrize(
    ("table", "args", "names"),
    [
        (pd.DataFrame({"yi": [0.1, 0.2]}), ["--se", "sei"], ["'sei'"]),
        (pd.DataFrame({"yi": [0.1, 0.2], "sei": [0.1, -0.2]}), ["--se", "sei"], ["'2'", "-0.2"]),
        (pd.DataFrame({"yi": [0.1, "x"], "sei": [0.1, 0.2]}), ["--se", "sei"], ["'yi'", "'x'"]),
        (
            pd.DataFrame({"yi": [0.1, 0.2], "sei": [0.1, 0.2]}),
            ["--se", "sei", "--method", "XX"],
            ["'XX'"],
        ),
    ],
    ids=["missing column", "negative se", "non-numeric", "unknown method"],
)
def test_pool_refuses_bad_input(tmp_path, capsys, table, args, names):
    path = _write(tmp_path, table, "agg.csv")
    before = _digest(path)
    code, out, err = _run(["pool", str(path), "--estimate", "yi", *args], capsys)
    assert code == 2 and out == ""
    last = _last_line(err)
    assert last.startswith("error:")
    for name in names:
        assert name in last, (name, last)
    assert _digest(path) == before


def test_missing_file_and_usage_errors(tmp_path, capsys):
    missing = tmp_path / "nowhere.csv"
    for argv, name in [
        (["pool", str(missing), "--estimate", "yi", "--se", "sei"], "nowhere.csv"),
        (["two-stage", str(missing), *_GAUSSIAN_ARGS], "nowhere.csv"),
        (["two-stage", str(missing), "--study", "trial"], "--treatment"),
        (["two-stage", str(missing), *_GAUSSIAN_ARGS[:-2], "--time", "t"], "--outcome"),
        (["two-stage", str(missing), *_GAUSSIAN_ARGS, "--family", "weibull"], "'weibull'"),
        (["frobnicate"], "'frobnicate'"),
        ([], "COMMAND"),
    ]:
        code, out, err = _run(argv, capsys)
        assert code == 2, argv
        assert out == ""
        assert _last_line(err).startswith("error:") and name in _last_line(err), (argv, err)


def test_forest_path_is_checked_before_the_analysis(bcg_aggregate_csv, capsys):
    before = _digest(bcg_aggregate_csv)
    base = ["pool", str(bcg_aggregate_csv), "--estimate", "yi", "--var", "vi", "--forest"]
    code, _, err = _run([*base, str(bcg_aggregate_csv)], capsys)
    assert code == 2 and "is the input file" in _last_line(err)
    code, _, err = _run([*base, str(bcg_aggregate_csv.with_suffix(".gif"))], capsys)
    assert code == 2 and "bcg.gif" in _last_line(err)
    assert _digest(bcg_aggregate_csv) == before


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    assert "two-stage" in capsys.readouterr().out


def test_subprocess_bad_input_exits_2_without_traceback(tmp_path):
    path = _write(tmp_path, _gaussian_rows().drop(columns="y"))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bayes_ipd.cli", "two-stage", str(path), *_GAUSSIAN_ARGS, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    last = _last_line(proc.stderr)
    assert last.startswith("error:") and "'y'" in last


@pytest.mark.parametrize("method", ["FE", "DL", "REML"])
def test_pool_refuses_an_se_whose_weight_overflows(tmp_path, capsys, method):
    path = _write(
        tmp_path, pd.DataFrame({"yi": [0.1, 0.5, 0.9], "sei": [0.2, 1e-300, 0.3]}), "agg.csv"
    )
    before = _digest(path)
    argv = ["pool", str(path), "--estimate", "yi", "--se", "sei", "--method", method, "--json"]
    code, out, err = _run(argv, capsys)
    assert code == 2 and out == "", err
    last = _last_line(err)
    assert last.startswith("error:") and "'2'" in last and "1e-300" in last, last
    assert "unexpected failure" not in err
    assert _digest(path) == before


def test_summarise_refuses_an_outcome_whose_square_overflows(tmp_path, capsys):
    path = _write(tmp_path, _gaussian_with(30, "y", 1e300))  # row 30 is in trial 'T2'
    before = _digest(path)
    out_file = tmp_path / "sums.json"
    code, _, err = _run(["summarise", str(path), *_GAUSSIAN_ARGS, "--out", str(out_file)], capsys)
    assert code == 2, err
    last = _last_line(err)
    assert last.startswith("error:") and "'T2'" in last and "'y'" in last, last
    assert "inf" in last
    assert not out_file.exists()
    assert _digest(path) == before
