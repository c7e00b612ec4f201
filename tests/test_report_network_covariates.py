"""The covariate section of the network report (``bayes-ipd run SPEC --report FILE`` with
``[model] covariates``) and ``[model] covariate_effects`` in a network spec (issue 25).

Data: tests/data/network_interactions.csv (binomial ``y``; 6 trials, one with three arms),
its ``age`` column renamed to ``<script>x</script>``, treatment ``C`` renamed to
``<script>t</script>``, ``B`` and that treatment in one class ``<script>c</script>``;
adjusted for age and sex, the interaction with age. For the trials left out of an
interaction, a copy with ``sex`` constant within trial S2 and both interactions.

Reference numbers: R metafor 3.8-1 ``rma.mv`` of the class-shared interaction with age
(tests/data/network_classes_reference.R: per-trial ``glm(y ~ trt * I(age - mean(age)) +
I(sex - mean(sex)), binomial)``, then ``rma.mv(yi, V, mods = ~ act - 1, random = ~ comp |
study, rho = 1/2)``, REML: estimate 0.00298898517029, se 0.0227599180246). One-stage
numbers (1 chain x 100 draws: wiring only) are checked against the fit the report was made
from.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from bayes_ipd.analysis import run_analysis
from bayes_ipd.cli import main
from bayes_ipd.report.network import NETWORK_SECTIONS, render_network_report
from bayes_ipd.report.network_covariates import COVARIATES_SECTION
from bayes_ipd.spec import read_analysis_spec

DATA = Path(__file__).parent / "data"
COV = "<script>x</script>"
TRT = "<script>t</script>"
CLASS = "<script>c</script>"

SPEC = """
[data]
path = "{rows}"
study = "study"
treatment = "treatment"
reference = "A"
outcome = "y"
family = "binomial"

[model]
{model}

[network]
route = "{route}"
{network}

[two_stage]
method = "REML"
hksj = false

[sampler]
draws = 100
tune = 100
chains = 1
seed = 5
"""

MODEL = 'covariates = ["<script>x</script>", "sex"]\ninteractions = ["<script>x</script>"]'
CLASSES = 'classes = { B = "<script>c</script>", "<script>t</script>" = "<script>c</script>" }'
R_ESTIMATE, R_SE = 0.00298898517029, 0.0227599180246  # network_classes_reference.R, REML


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("covreport")
    rows = pd.read_csv(DATA / "network_interactions.csv").rename(columns={"age": COV})
    rows["treatment"] = rows.treatment.replace({"C": TRT})
    rows.to_csv(folder / "rows.csv", index=False)
    rows.loc[rows.study == "S2", "sex"] = 0
    rows.to_csv(folder / "rows_sex.csv", index=False)
    return folder


def _spec(
    folder: Path,
    name: str,
    route: str,
    model: str = MODEL,
    network: str = CLASSES,
    rows: str = "rows.csv",
) -> Path:
    path = folder / f"{name}.toml"
    text = SPEC.format(rows=folder / rows, model=model, route=route, network=network)
    path.write_text(text, encoding="utf-8")
    return path


def _section(text: str, sid: str) -> str:
    found = re.search(rf'<section id="{sid}">.*?</section>', text, re.S)
    assert found is not None, sid
    return found.group(0)


def _tables(text: str) -> dict[str, list[list[str]]]:
    """Each table under its caption: rows of unescaped cells (the header first)."""
    out = {}
    for caption, body in re.findall(
        r"<h3>(.*?)</h3>\s*<div class=\"table-wrap\">(.*?)</table>", text, re.S
    ):
        rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
        out[html.unescape(caption)] = [
            [html.unescape(c) for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", r, re.S)] for r in rows
        ]
    return out


@pytest.fixture(scope="module")
def two(folder):
    """``run SPEC --report FILE --json`` on the two-stage route, and its analysis."""
    import contextlib
    import io

    spec, report = _spec(folder, "two", "two-stage"), folder / "two.html"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["run", str(spec), "--report", str(report), "--json"]) == 0
    analysis = run_analysis(read_analysis_spec(spec))
    return json.loads(out.getvalue()), report.read_text(encoding="utf-8"), analysis


def test_the_section_follows_the_effects(two):
    _, text, _ = two
    sid, title = COVARIATES_SECTION
    assert f'<section id="{sid}">' in text and f"<h2>{title}</h2>" in text
    order = re.findall(r'<section id="([a-z-]+)">', text)
    assert order.index(sid) == order.index("effects") + 1
    assert order.index("league") == order.index(sid) + 1
    for nid, _ in NETWORK_SECTIONS:
        assert f'<section id="{nid}">' in text


def test_user_text_is_escaped(two):
    _, text, _ = two
    assert "<script" not in text.lower()
    for name in (COV, TRT, CLASS):
        assert html.escape(name) in text and name not in text


def test_interaction_table_equals_r_metafor(two):
    doc, text, _ = two
    tables = _tables(_section(text, "covariates"))
    rows = tables[f"Interaction of each treatment vs A with {COV}"]
    assert rows[0] == ["Treatment", "Class", "Two-stage estimate", "Two-stage SE",
                       "Two-stage 95% CI low", "Two-stage 95% CI high"]  # fmt: skip
    body = {r[0]: r for r in rows[1:]}
    assert set(body) == {"B", TRT}
    for treatment in ("B", TRT):
        row = body[treatment]
        assert row[1] == CLASS
        # one decimals rule over the table (3 here): within half a unit of the last one
        assert float(row[2]) == pytest.approx(R_ESTIMATE, abs=5e-4)
        assert float(row[3]) == pytest.approx(R_SE, abs=5e-4)
        assert float(row[4]) == pytest.approx(R_ESTIMATE - 1.959964 * R_SE, abs=5e-4)
        assert float(row[5]) == pytest.approx(R_ESTIMATE + 1.959964 * R_SE, abs=5e-4)
    assert doc["two_stage"]["interactions"][COV]["B"]["estimate"] == pytest.approx(
        R_ESTIMATE, abs=1e-4
    )
    assert "One-stage route not fitted." in _section(text, "covariates")


def test_classes_and_trials_left_out(two, folder):
    _, text, _ = two
    section = _section(text, "covariates")
    tables = _tables(section)
    assert "Two-stage: every pooled trial enters each interaction." in section
    assert html.escape(f"Effects adjusted for (centred within each trial): {COV}, sex.") in section
    plan = _tables(_section(text, "plan"))["Analysis spec"]
    assert ["model.covariate_effects", "common"] in plan
    classes = tables["Treatment classes"]
    assert classes[:2] == [
        ["Treatment", "Class", "Interaction"],
        ["A", "A", "0 (the reference's class)"],
    ]
    assert sorted(classes[2:]) == sorted([["B", CLASS, "estimated"], [TRT, CLASS, "estimated"]])
    model = MODEL.replace(
        'interactions = ["<script>x</script>"]', 'interactions = ["sex", "<script>x</script>"]'
    )
    spec = _spec(folder, "sex", "two-stage", model=model, rows="rows_sex.csv")
    section = _section(render_network_report(run_analysis(read_analysis_spec(spec))), "covariates")
    tables = _tables(section)
    left = tables["Two-stage: trials left out of an interaction (main contrasts pooled)"]
    assert left[0] == ["Trial", "Covariate", "Reason"]
    assert [r[:2] for r in left[1:]] == [["S2", "sex"]]
    assert "constant within the trial" in left[1][2]
    assert "Interaction of each treatment vs A with sex" in tables
    assert "Two-stage interaction with sex: 5 trials pooled" in section


def test_without_covariates_the_report_has_no_covariate_section(folder):
    spec = _spec(folder, "plain", "two-stage", model="", network="")
    text = render_network_report(run_analysis(read_analysis_spec(spec)))
    order = re.findall(r'<section id="([a-z-]+)">', text)
    assert order == [sid for sid, _ in NETWORK_SECTIONS]
    assert COVARIATES_SECTION[1] not in text and "model.covariates" not in text


def test_covariates_without_interactions(folder):
    spec = _spec(folder, "adjusted", "two-stage", model='covariates = ["sex"]', network="")
    section = _section(render_network_report(run_analysis(read_analysis_spec(spec))), "covariates")
    assert "Effects adjusted for (centred within each trial): sex." in section
    assert "No treatment-covariate interactions asked for" in section
    assert "<table>" not in section  # no interaction table, no one-stage coefficients


def test_covariate_effects_needs_covariates(folder, capsys):
    spec = _spec(folder, "bad", "two-stage", model='covariate_effects = "stratified"', network="")
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "model.covariate_effects = 'stratified' needs" in err


def test_two_stage_route_is_the_same_for_stratified_coefficients(folder, two):
    """Stage one always has trial-specific covariate coefficients."""
    model = MODEL + '\ncovariate_effects = "stratified"'
    spec = read_analysis_spec(_spec(folder, "strat2", "two-stage", model=model))
    assert spec.model.covariate_effects == "stratified"
    assert spec.to_dict()["model"]["covariate_effects"] == "stratified"
    assert run_analysis(spec).two_stage.to_dict() == two[2].two_stage.to_dict()


@pytest.fixture(scope="module")
def both(folder):
    """Both routes, stratified one-stage covariate coefficients (1 chain x 100 draws)."""
    model = MODEL + '\ncovariate_effects = "stratified"'
    analysis = run_analysis(
        read_analysis_spec(_spec(folder, "both", "both", model=model)), progress=False
    )
    return render_network_report(analysis), analysis


def test_stratified_coefficients_reach_the_one_stage_model(both):
    text, analysis = both
    one = analysis.one_stage
    assert one.built.covariate_effects == "stratified"
    assert "study" in one.idata.posterior["beta"].dims
    section = _section(text, "covariates")
    assert "covariate coefficients one per trial (stratified)" in section
    beta = _tables(section)[
        "One-stage covariate coefficients (β; mean over trials; in the reference's class)"
    ]
    assert [r[0] for r in beta[1:]] == [COV, "sex"]
    medians = one.coefficients()["median"]
    for row in beta[1:]:
        assert float(row[3]) == pytest.approx(medians[row[0]], abs=5e-4)


def test_both_routes_and_the_ecological_part_in_the_table(both):
    text, analysis = both
    section = _section(text, "covariates")
    rows = _tables(section)[f"Interaction of each treatment vs A with {COV}"]
    header = rows[0]
    assert header[2:6] == ["Two-stage estimate", "Two-stage SE", "Two-stage 95% CI low",
                           "Two-stage 95% CI high"]  # fmt: skip
    assert header[6:] == [
        "One-stage within-trial median", "One-stage within-trial 2.5%",
        "One-stage within-trial 97.5%", "One-stage across-trial (ecological) median",
        "One-stage across-trial (ecological) 2.5%", "One-stage across-trial (ecological) 97.5%",
    ]  # fmt: skip
    one = analysis.one_stage
    for which, start in (("within", 6), ("across", 9)):
        nodes = one.interaction_effects(which).loc[COV]
        for row in rows[1:]:
            expected = nodes.loc[row[0], ["median", "q025", "q975"]].to_numpy(float)
            got = [float(c) for c in row[start : start + 3]]
            assert got == pytest.approx(expected, abs=5e-4)
    assert float(rows[1][2]) == pytest.approx(R_ESTIMATE, abs=5e-4)
    assert "ecological" in section and "<script" not in text.lower()
    nodes = one.interaction_effects("within")
    assert (
        f"largest R-hat {max(nodes.r_hat.max(), one.interaction_effects('across').r_hat.max()):.3f}"
        in section
    )
    # the one-stage predictive check per trial and arm of the covariate model: one table row
    # per arm (each participant replicated from its own linear predictor) and its figure
    ppc = _section(text, "ppc")
    assert "Not available" not in ppc and "<img" in ppc
    table = one.ppc()
    assert len(table) == one.built.arms.n_arms
    assert len(re.findall(r"<tr>", ppc)) == len(table) + 1
    assert html.escape(str(table["study"].iloc[0])) in ppc
