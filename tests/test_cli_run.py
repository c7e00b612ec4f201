"""`bayes-ipd run` and `bayes-ipd summarise`: the JSON contract, bad specs, exact summaries."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from bayes_ipd.cli import main

ROOT = Path(__file__).resolve().parents[1]
BP = ROOT / "bayes_ipd" / "datasets" / "bp_trials.csv"
NODE = {"mean", "sd", "median", "q025", "q975", "ess_bulk", "r_hat"}
SMALL = ["--draws", "200", "--tune", "200", "--chains", "2"]


def _spec_text(data_lines: str, extra: str = "") -> str:
    return f"""
[data]
{data_lines}
study = "trial"
treatment = "treat"
outcome = "sbp_final"
family = "gaussian"

[model]
covariates = ["sbp_baseline", "age"]
interactions = ["age"]

[sampler]
seed = 11
{extra}
"""


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    shutil.copy(BP, d / "bp.csv")
    (d / "spec.toml").write_text(_spec_text('path = "bp.csv"'))
    return d


@pytest.fixture(scope="module")
def run_json(workdir):
    import io
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(
            ["run", str(workdir / "spec.toml"), "--json", "--out", str(workdir / "out"), *SMALL]
        )
    return code, out.getvalue(), err.getvalue()


def test_run_json_contract(run_json, workdir):
    code, out, _ = run_json
    assert code == 0
    doc = json.loads(out)  # exactly one JSON object on stdout
    post = doc["posterior"]
    for key in ("effect", "tau", "new_study_effect"):
        assert set(post[key]) == NODE
    assert set(post["coefficients"]) == {"sbp_baseline", "age"}
    assert set(post["interactions_within"]) == {"age"}
    assert set(post["interactions_across"]) == {"age"}
    for node in (*post["coefficients"].values(), *post["interactions_within"].values()):
        assert set(node) == NODE
    diag = doc["diagnostics"]
    assert {"divergences", "r_hat_max", "ess_bulk_min", "seconds"} <= set(diag)
    assert diag["seconds"] == pytest.approx(diag["compile_seconds"] + diag["sampling_seconds"])
    assert doc["spec"]["model"]["interactions"] == ["age"]
    assert doc["two_stage"]["pooled"]["method"] == "REML"
    assert len(doc["two_stage"]["per_study"]) == 10
    for name in ("summary.json", "posterior.nc", "comparison_forest.png", "ppc.png"):
        assert (workdir / "out" / name).stat().st_size > 0


def test_run_is_reproducible_and_input_untouched(run_json, workdir, capsys):
    before = hashlib.sha256((workdir / "bp.csv").read_bytes()).hexdigest()
    code, out, _ = _run(["run", str(workdir / "spec.toml"), "--json", *SMALL], capsys)
    assert code == 0
    assert json.loads(out)["posterior"] == json.loads(run_json[1])["posterior"]
    assert hashlib.sha256((workdir / "bp.csv").read_bytes()).hexdigest() == before


def _summarise_args(workdir: Path, out: Path) -> list[str]:
    """``bayes-ipd summarise`` of the shipped BP rows in ``workdir`` into ``out``."""
    return [
        "summarise",
        str(workdir / "bp.csv"),
        "--study",
        "trial",
        "--treatment",
        "treat",
        "--family",
        "gaussian",
        "--outcome",
        "sbp_final",
        "--covariates",
        "sbp_baseline,age",
        "--interactions",
        "age",
        "--out",
        str(out),
    ]


def test_summaries_route_gives_identical_posterior(run_json, workdir, capsys):
    code, _, _ = _run(
        _summarise_args(workdir, workdir / "sums.json"),
        capsys,
    )
    assert code == 0
    text = (workdir / "sums.json").read_text()
    assert "sbp_final" not in text and "T01,0," not in text  # no participant rows
    (workdir / "sums.toml").write_text(_spec_text('summaries = ["sums.json"]'))
    code, out, _ = _run(["run", str(workdir / "sums.toml"), "--json", *SMALL], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["posterior"] == json.loads(run_json[1])["posterior"]
    assert doc["two_stage"] is None  # no participant rows here: no two-stage route


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("[sampler2]\ndraws = 10", "sampler2"),
        ('[priors]\neffect = "normal(0, -1)"', "normal(0, -1)"),
        ('[priors]\ntau = "gamma(2, 1)"', "gamma"),
        ('[priors]\ntau = "normal(0, 1)"', "tau"),
    ],
)
def test_bad_spec_exits_2_naming_the_fault(workdir, capsys, extra, needle):
    path = workdir / "bad.toml"
    text = _spec_text('path = "bp.csv"', "").replace("[sampler]\nseed = 11", extra)
    path.write_text(text)
    code, out, err = _run(["run", str(path), "--json"], capsys)
    assert code == 2 and out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith("error:") and needle in last


def test_unknown_key_in_model_section(workdir, capsys):
    path = workdir / "badkey.toml"
    path.write_text(_spec_text('path = "bp.csv"').replace("[model]", "[model]\ncovariate = 1"))
    code, _, err = _run(["run", str(path)], capsys)
    assert code == 2 and "covariate" in err.strip().splitlines()[-1]


def test_covariate_missing_from_data(workdir, capsys):
    path = workdir / "badcov.toml"
    path.write_text(
        _spec_text('path = "bp.csv"').replace('["sbp_baseline", "age"]', '["bmi", "age"]')
    )
    code, _, err = _run(["run", str(path), "--json"], capsys)
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("error:") and "bmi" in last


def test_out_refuses_to_overwrite_an_input_before_fitting(workdir, capsys, monkeypatch):
    import bayes_ipd.analysis

    def no_fit(*args, **kwargs):
        raise AssertionError("run_analysis called: it sampled before refusing --out")

    res = workdir / "res"
    code, _, err = _run(
        _summarise_args(workdir, res / "summary.json"),
        capsys,
    )
    assert code == 0, err
    before = hashlib.sha256((res / "summary.json").read_bytes()).hexdigest()
    (workdir / "clash.toml").write_text(_spec_text('summaries = ["res/summary.json"]'))
    monkeypatch.setattr(bayes_ipd.analysis, "run_analysis", no_fit)
    code, out, err = _run(
        ["run", str(workdir / "clash.toml"), "--json", "--out", str(res), *SMALL], capsys
    )
    assert code == 2 and out == "", err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: --out") and "would overwrite the input file" in last, last
    assert "summary.json" in last
    assert hashlib.sha256((res / "summary.json").read_bytes()).hexdigest() == before
    # the spec file and the data file are inputs too
    (workdir / "self.toml").write_text(_spec_text('path = "bp.csv"'))
    for name in ("summary.json", "ppc.png"):
        spec = workdir / "selfdir" / name
        spec.parent.mkdir(exist_ok=True)
        spec.write_text(_spec_text('path = "../bp.csv"'))
        code, _, err = _run(["run", str(spec), "--out", str(spec.parent)], capsys)
        assert code == 2 and name in err.strip().splitlines()[-1]


def test_out_and_report_check_one_list_of_inputs():
    from bayes_ipd.cli.run import _spec_inputs
    from bayes_ipd.models import resolve_spec
    from bayes_ipd.spec import read_analysis_spec

    path = resolve_spec("bcg_hybrid")
    spec = read_analysis_spec(path)
    inputs = _spec_inputs(str(path), spec)
    expected = [path, spec.data.path, spec.data.aggregate, spec.report.flow, spec.report.published]
    assert inputs == [Path(p) for p in expected]
