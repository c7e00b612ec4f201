"""``[model] covariates``, ``[model] interactions`` and ``[network] classes`` in a network
spec (issue 25 through ``bayes-ipd run``): passed to both routes as ``bayes-ipd network
--covariates / --interactions / --classes`` pass them.

References: the JSON of ``bayes-ipd network`` with the same options (the CLI path) and R
metafor 3.8-1 ``rma.mv`` of the class-shared interaction (tests/test_network_classes.py,
``tests/data/network_classes_reference.R``: ``mods = ~ act - 1, random = ~ comp | study,
rho = 1/2``, REML estimate 0.00298898517029).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bayes_ipd as bi
from bayes_ipd.analysis import run_analysis
from bayes_ipd.cli import main
from bayes_ipd.errors import SpecError
from bayes_ipd.spec import parse_analysis_spec, read_analysis_spec

ROWS = Path(__file__).parent / "data" / "network_interactions.csv"

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
{extra}"""

MODEL = 'covariates = ["age", "sex"]\ninteractions = ["age"]'
CLASSES = 'classes = { B = "act", C = "act" }'
ARGV = ["network", str(ROWS), "--study", "study", "--treatment", "treatment", "--reference",
        "A", "--outcome", "y", "--covariates", "age,sex", "--interactions", "age"]  # fmt: skip


def _spec(tmp_path: Path, model=MODEL, network=CLASSES, route="two-stage", extra="") -> Path:
    path = tmp_path / "spec.toml"
    text = SPEC.format(rows=ROWS, model=model, network=network, route=route, extra=extra)
    path.write_text(text, encoding="utf-8")
    return path


def test_run_json_carries_the_covariate_keys_as_the_network_command(tmp_path, capsys):
    assert main(["run", str(_spec(tmp_path)), "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert main([*ARGV, "--classes", "B=act,C=act", "--json"]) == 0
    network = json.loads(capsys.readouterr().out)
    assert run["network"] == network == run["two_stage"]
    assert network["covariates"] == ["age", "sex"]
    assert network["classes"] == {"A": "A", "B": "act", "C": "act"}
    # R metafor (network_classes_reference.R): REML 0.00298898517029 (se 0.0227599180246)
    cell = network["interactions"]["age"]["C"]
    assert cell["estimate"] == pytest.approx(0.00298898517029, abs=1e-4)
    assert cell["se"] == pytest.approx(0.0227599180246, abs=1e-4)
    assert run["spec"]["model"]["covariates"] == ["age", "sex"]
    assert run["spec"]["model"]["interactions"] == ["age"]
    assert run["spec"]["network"]["classes"] == {"B": "act", "C": "act"}


def test_covariates_without_classes_and_without_covariates(tmp_path, capsys):
    assert main(["run", str(_spec(tmp_path, network="")), "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert main([*ARGV, "--json"]) == 0
    assert run["network"] == json.loads(capsys.readouterr().out)
    assert "classes" not in run["network"] and "classes" not in run["spec"]["network"]
    assert main(["run", str(_spec(tmp_path, model="", network="")), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert "covariates" not in plain["network"] and "interactions" not in plain["network"]
    assert plain["spec"]["model"]["covariates"] == []


def test_the_keys_are_written_back(tmp_path):
    spec = read_analysis_spec(_spec(tmp_path))
    assert spec.model.covariates == ("age", "sex") and spec.model.interactions == ("age",)
    assert dict(spec.network.classes) == {"B": "act", "C": "act"}
    out = tmp_path / "again" / "spec.toml"
    out.parent.mkdir()
    bi.spec.write_analysis_spec(spec, out)
    again = read_analysis_spec(out)
    assert again.to_dict() == spec.to_dict()
    assert again.network == spec.network and again.model == spec.model
    plain = read_analysis_spec(_spec(tmp_path, network=""))
    assert "classes" not in plain.to_dict()["network"]


def test_the_analysis_value_holds_the_class_fit(tmp_path):
    result = run_analysis(read_analysis_spec(_spec(tmp_path)))
    two = result.two_stage
    assert two.classes == ("A", "act", "act")
    assert two.class_effects()["age"].loc["act", "estimate"] == pytest.approx(
        0.00298898517029, abs=1e-4
    )
    assert "act: B, C" in result.summary()


@pytest.mark.parametrize(
    ("model", "network", "message"),
    [
        ('covariates = ["age"]', CLASSES, "network.classes needs model.interactions"),
        (MODEL, 'classes = ["B"]', "network.classes must be a table"),
        (MODEL, 'classes = { B = "" }', "treatment 'B' needs a class name"),
        (MODEL, "classes = { B = 1 }", "treatment 'B' needs a class name"),
        ('covariates = ["age"]\ninteractions = ["sex"]', "", "model.interactions: 'sex'"),
    ],
)
def test_bad_keys_are_refused_when_read(tmp_path, model, network, message):
    text = SPEC.format(rows=ROWS, model=model, network=network, route="two-stage", extra="")
    with pytest.raises(SpecError, match=message):
        parse_analysis_spec(text, tmp_path)


@pytest.mark.parametrize(
    ("model", "network", "message"),
    [
        (MODEL + '\nintercepts = "random"', "", "model.intercepts: not used by the network"),
        (MODEL + "\nrandom_interactions = true", "", "model.random_interactions: not used"),
        ('moderators = ["age"]', "", "model.moderators: not used"),
        (MODEL, 'classes = { D = "act" }', "network.classes: 'D' is not a treatment"),
        (MODEL, 'classes = { B = "C" }', "network.classes: class name(s) 'C'"),
        ('covariates = ["bmi"]', "", "model.covariates: covariate column(s) not in the data"),
        ('covariates = ["y"]', "", "model.covariates: covariate(s) 'y' are the study"),
    ],
)
def test_bad_keys_are_refused_before_fitting(tmp_path, capsys, model, network, message):
    assert main(["run", str(_spec(tmp_path, model, network, route="two-stage"))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err


SAMPLER = "\n[sampler]\ndraws = 60\ntune = 60\nchains = 1\nseed = 5\n"
SAMPLING = ["--draws", "60", "--tune", "60", "--chains", "1", "--seed", "5"]


def test_both_routes_get_the_covariates_as_the_network_command(tmp_path, capsys):
    """The one-stage wiring (tiny MCMC: only the plumbing is checked here; the covariate
    model itself is tested in tests/test_network_one_stage_covariates*.py)."""
    spec = _spec(tmp_path, route="both", extra=SAMPLER)
    assert main(["run", str(spec), "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    argv = [*ARGV, "--classes", "B=act,C=act", *SAMPLING]
    assert main([*argv, "--route", "both", "--json"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert main([*argv, "--route", "one-stage", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert run["network"] == both["network"] == one
    assert run["two_stage"] == both["two_stage"]
    assert one["route"] == "one-stage" and run["two_stage"]["route"] == "two-stage"
    for member in (one, run["two_stage"]):
        assert member["covariates"] == ["age", "sex"]
        assert member["classes"] == {"A": "A", "B": "act", "C": "act"}
        assert member["interactions"]["age"]["B"] == member["interactions"]["age"]["C"]
    assert set(one["interactions_across"]["age"]) == {"B", "C"}
    assert run["diagnostics"] is not None


def test_one_stage_route_alone_from_a_spec(tmp_path):
    spec = read_analysis_spec(_spec(tmp_path, network="", route="one-stage", extra=SAMPLER))
    result = run_analysis(spec, progress=False)
    assert result.two_stage is None
    doc = result.to_dict()
    assert doc["network"]["covariates"] == ["age", "sex"] and "classes" not in doc["network"]
    assert set(doc["network"]["interactions"]["age"]) == {"B", "C"}


NO_COVARIATES = ARGV[: ARGV.index("--covariates")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([*ARGV, "--covariate-effects", "stratified"], "belongs to the one-stage route"),
        ([*NO_COVARIATES, "--route", "one-stage", "--covariate-effects", "common"],
         "--covariate-effects needs --covariates"),
    ],
)  # fmt: skip
def test_covariate_effects_option_refused_where_it_has_no_meaning(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_covariate_effects_option_gives_stratified_coefficients(capsys):
    """``--covariate-effects stratified``: one covariate coefficient per trial in the
    one-stage model, equal to the spec key's and the API's."""
    argv = [*ARGV, *SAMPLING, "--route", "one-stage", "--covariate-effects", "stratified"]
    assert main([*argv, "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    rows = __import__("pandas").read_csv(ROWS)
    api = bi.fit_network(
        rows, study="study", treatment="treatment", reference="A", outcome="y",
        covariates="age,sex", interactions="age", route="one-stage",
        covariate_effects="stratified", sampler=bi.SamplerSettings(
            draws=60, tune=60, chains=1, seed=5, progress=False),
    )  # fmt: skip
    assert api.idata.posterior["beta"].dims[-2:] == ("study", "covariate")
    assert cli == api.to_dict()
