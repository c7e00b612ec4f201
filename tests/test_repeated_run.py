"""`bayes-ipd run` of a repeated-measures spec (issue 27): the spec keys and their errors,
the `run --json` document (exact keys), the `--out` files, the PPC of visit means on a fit.

The fits are tiny (1 chain, 40 draws after 40 tuning) on weeks 8 and 12 of the shipped
`hamd_visits` data: two visits compile far faster than four (the model's pattern algebra is
unrolled per visit), and the tests' compiled-model cache starts cold. The shipped spec on
all four weeks at its own settings is run by `tests/test_shipped_specs.py` (slow).
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from bayes_ipd.cli import main
from bayes_ipd.errors import PriorError, SpecError
from bayes_ipd.spec import parse_analysis_spec, read_analysis_spec, write_analysis_spec

NODE = {"mean", "sd", "median", "q025", "q975", "ess_bulk", "r_hat"}
WEEKS = ["8", "12"]
TINY = ["--draws", "40", "--tune", "40", "--chains", "1"]

DATA = """
[data]
path = "dataset:hamd_visits.csv"
study = "study"
treatment = "treat"
outcome = "hamd_change"
family = "gaussian"
participant = "id"
visit = "week"
"""


def _spec(data_extra: str = "", model: str = 'covariates = ["baseline"]\n', rest: str = ""):
    return parse_analysis_spec(f"{DATA}{data_extra}\n[model]\n{model}\n{rest}", Path("."))


# --- spec keys -------------------------------------------------------------------------


def test_spec_keys_are_read_and_written_back(tmp_path):
    spec = _spec(
        "primary_visit = 8\n",
        'covariates = ["baseline"]\ncovariance = "cs"\nbetween = "cs"\neta = 1.5\n'
        'effect_time = "slope"\nresidual_sd = "common"\n',
        '[priors]\ntau = "half_normal(2)"\neffect = "normal(0, 20)"\n',
    )
    assert spec.data.primary_visit == "8"
    repeated = spec.repeated
    assert (repeated.covariance, repeated.between, repeated.eta) == ("cs", "cs", 1.5)
    assert repeated.effect_time == "slope"
    write_analysis_spec(spec, tmp_path / "back.toml")
    back = read_analysis_spec(tmp_path / "back.toml")
    assert back.repeated == spec.repeated and back.data.primary_visit == "8"
    from bayes_ipd.one_stage.repeated_run import repeated_options

    options = repeated_options(spec)
    assert (options.residual, options.eta, options.primary_visit) == ("common", 1.5, "8")
    assert (options.tau_scale, options.effect_sd, options.sigma_scale) == (2.0, 20.0, None)


def test_defaults_without_repeated_keys():
    spec = _spec()
    assert spec.repeated.to_dict() == {
        "effect_time": "visit",
        "eta": 2.0,
        "covariance": "unstructured",
        "between": "unstructured",
    }
    assert spec.data.primary_visit is None


@pytest.mark.parametrize(
    ("data_extra", "model", "rest", "match"),
    [
        ("", 'covariance = "ar2"', "", r"model\.covariance.*'ar2'"),
        ("", 'between = "ar1"', "", r"model\.between"),
        ("", 'effect_time = "spline"', "", r"model\.effect_time"),
        ("", "eta = 0", "", r"model\.eta = 0 must be a positive number"),
        ("", 'eta = "two"', "", r"model\.eta"),
        ("", 'intercepts = "random"', "", r"model\.intercepts is not taken by the repeated"),
        ("", 'covariates = ["baseline"]\nsplines = {baseline = 3}', "", r"model\.splines is not"),
        ("", "foo = 1", "", r"unknown key model\.foo"),
        ("", 'covarince = "cs"', "", r"unknown key model\.covarince;.* between"),
        ("", "", '[priors]\nintercept = "normal(0, 5)"', r"priors\.intercept.*takes priors"),
        ("", "", '[priors]\ntau = "exponential(1)"', r"priors\.tau.*half_normal\(S\)"),
        ("", "", '[priors]\neffect = "normal(1, 5)"', r"priors\.effect.*normal\(0, S\)"),
        ('missing = "impute"\n', "", "", r"data\.missing = \"impute\" is not for repeated"),
        ("primary_visit = true\n", "", "", r"data\.primary_visit = True"),
        ("", "", '[ite]\nnew = "x.csv"', r"\[ite\] is not available with data\.visit"),
    ],
)
def test_bad_repeated_keys_are_refused_naming_the_key(data_extra, model, rest, match):
    with pytest.raises((SpecError, PriorError), match=match):
        _spec(data_extra, model, rest)


def test_repeated_keys_without_visit_are_refused():
    text = DATA.replace('visit = "week"\n', "") + '\n[model]\ncovariance = "cs"\n'
    with pytest.raises(SpecError, match=r"model\.covariance is for repeated measures"):
        parse_analysis_spec(text, Path("."))
    text = DATA.replace('visit = "week"\n', "primary_visit = 12\n")
    with pytest.raises(SpecError, match=r"data\.primary_visit is for long data"):
        parse_analysis_spec(text, Path("."))


def test_another_family_with_visit_is_refused():
    text = DATA.replace('family = "gaussian"', 'family = "poisson"')
    with pytest.raises(SpecError, match=r"data\.visit \(repeated measures\) is for family"):
        parse_analysis_spec(text, Path("."))


# --- the command line ----------------------------------------------------------------------


def _main(argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_sensitivity_is_refused_before_fitting():
    code, _, err = _main(["run", "hamd_visits", "--sensitivity", "--json"])
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: --sensitivity is not available")


def _two_weeks(folder: Path) -> Path:
    """Weeks 8 and 12 of hamd_visits as a CSV, and a spec reading it; the spec's path."""
    from bayes_ipd.datasets import load_hamd_visits

    rows = load_hamd_visits()
    rows = rows[rows.week.isin([8, 12])].replace({"study": {"T1": "T<1>"}})  # escaped in HTML
    rows.to_csv(folder / "weeks.csv", index=False)
    text = DATA.replace("dataset:hamd_visits.csv", "weeks.csv")
    (folder / "spec.toml").write_text(
        f'{text}\n[model]\ncovariates = ["baseline"]\n\n[sampler]\nseed = 5\n'
    )
    return folder / "spec.toml"


def test_a_primary_visit_that_is_no_visit_is_refused(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(f'{DATA}primary_visit = 6\n[model]\ncovariates = ["baseline"]\n')
    code, _, err = _main(["run", str(path), *TINY, "--json"])
    assert code == 2
    assert "primary visit" in err and "'6'" in err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hamd")
    spec = _two_weeks(folder)
    out_dir = folder / "out"
    report = folder / "report.html"
    argv = ["run", str(spec), *TINY, "--json", "--out", str(out_dir), "--report", str(report)]
    code, out, err = _main(argv)
    assert code == 0, err
    return json.loads(out), out_dir, spec


def test_run_json_keys_are_exact(tiny_run):
    doc, _, _ = tiny_run
    assert set(doc) == {
        "spec", "model", "priors", "posterior", "diagnostics", "two_stage", "files", "report"
    }  # fmt: skip
    assert set(doc["posterior"]) == {"effect", "tau", "effect_by_visit", "tau_by_visit"}
    for key in ("effect_by_visit", "tau_by_visit"):
        assert [node["visit"] for node in doc["posterior"][key]] == WEEKS
        assert all(set(node) == NODE | {"visit"} for node in doc["posterior"][key])
    # the primary visit (the last, week 12) is `effect`
    last = {k: v for k, v in doc["posterior"]["effect_by_visit"][-1].items() if k != "visit"}
    assert doc["posterior"]["effect"] == last
    assert set(doc["posterior"]["tau"]) == NODE
    assert doc["model"]["visit"] == "12" and doc["model"]["visits"] == WEEKS
    assert doc["model"]["model"] == "repeated_measures"
    # hamd_visits: 1,342 and 1,192 participants observed at weeks 8 and 12 (SOURCES.md)
    assert doc["model"]["n_observations"] == 1342 + 1192
    two = doc["two_stage"]  # the `two-stage --visit --json` object
    assert [b["visit"] for b in two["by_visit"]] == WEEKS
    assert set(two["by_visit"][0]) == {"visit", "pooled", "per_study"}
    assert {"covariance", "n"} <= set(two["by_visit"][0]["per_study"][0])
    assert {"estimates", "tau2", "correlation"} <= set(two["multivariate"])
    assert list(two["multivariate"]["estimates"]) == WEEKS
    assert two["visit"] == "12"
    assert doc["spec"]["model"]["covariance"] == "unstructured"
    assert {"divergences", "r_hat_max"} <= set(doc["diagnostics"])


def test_out_folder_holds_the_summary_draws_and_figures(tiny_run):
    doc, out_dir, _ = tiny_run
    names = {
        "summary.json",
        "posterior.nc",
        "effect_over_visits.png",
        "forest_by_visit.png",
        "visit_means.png",
        "ppc_visit_means.png",
    }
    assert {p.name for p in out_dir.iterdir()} == names
    assert {Path(p).name for p in doc["files"].values()} == names
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["posterior"]["effect"] == doc["posterior"]["effect"]
    assert (out_dir / "ppc_visit_means.png").read_bytes()[:4] == b"\x89PNG"


def test_html_report_of_both_routes(tiny_run):
    import re

    doc, _, spec = tiny_run
    html = Path(doc["report"]).read_text(encoding="utf-8")
    assert re.findall(r'<section id="([^"]+)"', html) == [
        "plan", "counts", "one-stage", "two-stage", "comparison", "figures", "ppc", "diagnostics"
    ]  # fmt: skip
    assert html.count("data:image/png;base64,") == 4
    assert "T&lt;1&gt;" in html and "T<1>" not in html  # autoescaped
    assert Path(doc["report"]) == spec.parent / "report.html"


def test_ppc_of_visit_means_on_a_fit(tiny_run, tmp_path):
    import dataclasses

    from bayes_ipd.analysis import run_analysis
    from bayes_ipd.spec import SamplerSettings

    spec = read_analysis_spec(tiny_run[2])  # compiled by the fixture's run
    sampler = SamplerSettings(draws=40, tune=40, chains=1, seed=3, progress=False)
    result = run_analysis(dataclasses.replace(spec, sampler=sampler))
    frame = result.one_stage.ppc_visit_means()
    assert len(frame) == 8 * 2 * 2  # every trial, arm and week observed
    assert (frame.lower < frame.predictive_mean).all()
    assert (frame.predictive_mean < frame.upper).all()
    counts = result.two_stage.counts.set_index(["study", "arm", "visit"])["n"]
    got = frame.set_index(["study", "arm", "visit"])["n"]
    assert (got == counts.reindex(got.index)).all()
    inside = ((frame.observed >= frame.lower) & (frame.observed <= frame.upper)).mean()
    assert inside >= 0.8  # 95% intervals; MAR dropout may shift late weeks (repeated_ppc)
    fig = result.one_stage.plot_ppc_visit_means()
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 8
    assert result.comparison.frame["visit"].tolist() == WEEKS
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("kept")
    written = result.write(tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "notes.txt", *(p.name for p in written.values())
    }  # fmt: skip
    assert len(written) == 6
