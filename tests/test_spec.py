"""Tests of bayes_ipd.spec: ModelSpec, settings, TOML analysis specs and models/*.toml."""

from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType

import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from bayes_ipd.errors import PriorError, SpecError
from bayes_ipd.priors import Prior
from bayes_ipd.spec import (
    AnalysisSpec,
    DataSection,
    ModelSpec,
    SamplerSettings,
    TwoStageSettings,
    parse_analysis_spec,
    read_analysis_spec,
    write_analysis_spec,
)

MODELS = Path(__file__).resolve().parent.parent / "models"

# --------------------------------------------------------------------------- ModelSpec


def test_model_spec_defaults():
    spec = ModelSpec()
    assert spec.family == "gaussian"
    assert spec.covariates == ()
    assert spec.intercepts == "stratified"
    assert spec.covariate_effects == "common"
    assert spec.residual_sd == "per_study"
    assert spec.random_interactions is False
    assert dict(spec.priors) == {}
    assert spec.parameterisation == "auto"
    assert spec.intervals == 6


def test_model_spec_converts_lists_and_parses_priors():
    spec = ModelSpec(
        "binomial",
        covariates=["age", "sex"],
        interactions=["age"],
        priors={"tau": "half_normal(0.5)", "effect": Prior("normal", (0, 1))},
        intervals=[0.5, 1, 2],
    )
    assert spec.covariates == ("age", "sex")
    assert spec.interactions == ("age",)
    assert spec.priors["tau"] == Prior("half_normal", (0.5,))
    assert isinstance(spec.priors, MappingProxyType)
    assert spec.intervals == (0.5, 1.0, 2.0)
    with pytest.raises(TypeError):
        spec.priors["tau"] = Prior("half_normal", (1,))  # type: ignore[index]


def test_model_spec_lone_string_is_one_covariate():
    assert ModelSpec(covariates="age").covariates == ("age",)


def test_model_spec_is_hashable_and_compares_by_value():
    a = ModelSpec(covariates=["x"], priors={"tau": "half_normal(1)"})
    b = ModelSpec(covariates=("x",), priors={"tau": Prior("half_normal", (1,))})
    assert a == b
    assert hash(a) == hash(b)
    assert a != a.with_(priors={"tau": "half_normal(2)"})


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("family", "weibull", "'gaussian', 'binomial', 'survival'"),
        ("intercepts", "randomised", "'stratified', 'random'"),
        ("covariate_effects", "random", "'common', 'stratified'"),
        ("residual_sd", "pooled", "'per_study', 'common'"),
        ("parameterisation", "non-centred", "'auto', 'centred', 'noncentred'"),
    ],
)
def test_model_spec_bad_enum_names_field_value_and_allowed(field, value, allowed):
    with pytest.raises(SpecError) as info:
        ModelSpec(**{field: value})
    message = str(info.value)
    assert f"model.{field}" in message
    assert repr(value) in message
    assert allowed in message


def test_interaction_must_be_a_covariate():
    with pytest.raises(SpecError) as info:
        ModelSpec(covariates=["age"], interactions=["bmi"])
    assert "'bmi'" in str(info.value)
    assert "model.interactions" in str(info.value)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"covariates": ["age", "age"]}, "'age' more than once"),
        ({"covariates": ["age", ""]}, "model.covariates"),
        ({"covariates": [1]}, "model.covariates = 1"),
        ({"covariates": 3}, "model.covariates = 3"),
        ({"random_interactions": True}, "needs at least one interaction"),
        ({"random_interactions": 1}, "model.random_interactions = 1"),
        ({"intervals": 0}, "model.intervals = 0"),
        ({"intervals": True}, "model.intervals = True"),
        ({"intervals": 2.5}, "model.intervals = 2.5"),
        ({"intervals": []}, "model.intervals = []"),
        ({"intervals": [0, 1]}, "cut point 0 must be > 0"),
        ({"intervals": [1, 1]}, "must increase"),
        ({"intervals": [2, 1]}, "must increase"),
        ({"intervals": [1, float("nan")]}, "not a finite number"),
        ({"intervals": ["1"]}, "not a finite number"),
        ({"priors": "tau"}, "priors = 'tau'"),
    ],
)
def test_model_spec_invalid_values(changes, fragment):
    with pytest.raises(SpecError) as info:
        ModelSpec(**changes)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("priors", "fragments"),
    [
        ({"tau": "normal(0, 1)"}, ["priors.tau", "normal(0, 1)", "positive"]),
        ({"sigma": "student_t(3, 0, 1)"}, ["priors.sigma", "positive"]),
        ({"effect": "normal(0, -2)"}, ["priors.effect", "normal(0, -2)", "sigma must be > 0"]),
        ({"effect": "gamma(1, 1)"}, ["priors.effect", "unknown distribution 'gamma'"]),
        ({"effect": "normal 0 1"}, ["priors.effect", "normal 0 1"]),
        ({"mu": "normal(0, 1)"}, ["priors.mu", "unknown prior slot 'mu'", "interactions"]),
        ({"effect": 3}, ["priors.effect", "string or a Prior"]),
    ],
)
def test_model_spec_bad_priors_raise_prior_error_naming_slot(priors, fragments):
    with pytest.raises(PriorError) as info:
        ModelSpec(priors=priors)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_sigma_prior_rejected_outside_gaussian():
    with pytest.raises(PriorError, match=r"priors\.sigma"):
        ModelSpec("survival", priors={"sigma": "half_normal(1)"})


def test_with_revalidates_and_rejects_unknown_fields():
    spec = ModelSpec(covariates=["age"])
    assert spec.with_(interactions=["age"]).interactions == ("age",)
    assert spec.covariates == ("age",)
    with pytest.raises(SpecError, match=r"model\.intercepts"):
        spec.with_(intercepts="none")
    with pytest.raises(SpecError) as info:
        spec.with_(covariate="age")
    assert "'covariate'" in str(info.value)
    assert "covariates" in str(info.value)


def test_model_spec_dict_round_trip_and_unknown_key():
    spec = ModelSpec(
        "survival",
        covariates=["age", "bmi"],
        interactions=["bmi"],
        intercepts="random",
        covariate_effects="stratified",
        random_interactions=True,
        priors={"tau": "log_normal(-2.56, 1.74)"},
        parameterisation="noncentred",
        intervals=[1.5, 3.0],
    )
    d = spec.to_dict()
    assert d["priors"] == {"tau": "log_normal(-2.56, 1.74)"}
    assert d["intervals"] == [1.5, 3.0]
    assert d["covariates"] == ["age", "bmi"]
    assert ModelSpec.from_dict(d) == spec
    with pytest.raises(SpecError) as info:
        ModelSpec.from_dict({**d, "link": "logit"})
    assert "model.link" in str(info.value)


def test_model_spec_repr_is_readable():
    text = repr(ModelSpec(covariates=["age"], priors={"tau": "half_normal(2)"}))
    assert text.startswith("ModelSpec(family='gaussian', covariates=('age',)")
    assert "priors={'tau': 'half_normal(2)'}" in text
    assert "mappingproxy" not in text


_names = st.lists(st.sampled_from(["age", "bmi", "sbp", "smoking"]), unique=True, max_size=4)
_prior_texts = st.dictionaries(
    st.sampled_from(["intercept", "effect", "tau", "coefficients"]),
    st.sampled_from(["normal(0, 1)", "half_normal(2.5)", "log_normal(-1, 0.5)", "exponential(3)"]),
)


@st.composite
def model_specs(draw) -> ModelSpec:
    covariates = draw(_names)
    interactions = draw(st.lists(st.sampled_from(covariates), unique=True)) if covariates else []
    priors = {
        slot: text
        for slot, text in draw(_prior_texts).items()
        if slot != "tau" or not text.startswith("normal")
    }
    return ModelSpec(
        family=draw(st.sampled_from(["gaussian", "binomial", "survival"])),
        covariates=covariates,
        interactions=interactions,
        intercepts=draw(st.sampled_from(["stratified", "random"])),
        covariate_effects=draw(st.sampled_from(["common", "stratified"])),
        residual_sd=draw(st.sampled_from(["per_study", "common"])),
        random_interactions=bool(interactions) and draw(st.booleans()),
        priors=priors,
        parameterisation=draw(st.sampled_from(["auto", "centred", "noncentred"])),
        intervals=draw(
            st.one_of(
                st.integers(1, 20),
                st.lists(st.floats(0.01, 100), min_size=1, max_size=5, unique=True).map(sorted),
            )
        ),
    )


@given(model_specs())
def test_model_spec_round_trips_through_dict_and_toml(spec):
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    data = {"path": "/d/x.csv", "study": "trial", "treatment": "treat", "family": spec.family}
    data.update({"time": "t", "event": "e"} if spec.family == "survival" else {"outcome": "y"})
    model = spec.to_dict()
    del model["family"]
    priors = model.pop("priors")
    text = tomli_w.dumps({"data": data, "model": model, "priors": priors})
    assert parse_analysis_spec(text, Path("/d")).model == spec


# --------------------------------------------------------------------------- settings


def test_sampler_defaults():
    s = SamplerSettings()
    assert (s.draws, s.tune, s.chains, s.seed) == (1000, 1000, 4, 20240601)
    assert s.target_accept == 0.9
    assert s.backend == "auto"
    assert s.progress is True


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("draws", 0),
        ("draws", -5),
        ("draws", 10.5),
        ("draws", True),
        ("draws", "1000"),
        ("tune", 0),
        ("chains", 0),
        ("seed", -1),
        ("seed", 1.0),
        ("target_accept", 0.4),
        ("target_accept", 1.0),
        ("target_accept", 1),
        ("target_accept", "0.9"),
        ("backend", "stan"),
        ("progress", "yes"),
    ],
)
def test_sampler_bad_values_name_the_field_and_value(field, value):
    with pytest.raises(SpecError) as info:
        SamplerSettings(**{field: value})
    assert f"sampler.{field}" in str(info.value)
    assert repr(value) in str(info.value)


def test_sampler_accepts_boundaries():
    s = SamplerSettings(draws=1, tune=1, chains=1, seed=0, target_accept=0.5, backend="pymc")
    assert s.seed == 0
    assert s.target_accept == 0.5


def test_two_stage_settings():
    assert TwoStageSettings("reml").method == "REML"
    assert TwoStageSettings("dl", hksj=False) == TwoStageSettings("DL", False)
    assert TwoStageSettings("sj").method == "SJ"  # Sidik-Jonkman, as metafor's
    with pytest.raises(SpecError) as info:
        TwoStageSettings("HS")
    assert "two_stage.method = 'HS'" in str(info.value)
    assert "'REML'" in str(info.value)
    with pytest.raises(SpecError, match=r"two_stage\.hksj"):
        TwoStageSettings(hksj="yes")  # type: ignore[arg-type]


def _data(**changes) -> DataSection:
    values = {
        "path": "/data/trials.csv",
        "summaries": (),
        "study": "trial",
        "treatment": "treat",
        "outcome": "y",
        "time": None,
        "event": None,
        "family": "gaussian",
    }
    values.update(changes)
    return DataSection(**values)


def test_data_section_converts_paths():
    data = _data(summaries=["/s/a.csv"])
    assert data.path == Path("/data/trials.csv")
    assert data.summaries == (Path("/s/a.csv"),)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"path": None}, "data needs path"),
        ({"outcome": None}, "data.outcome is required"),
        ({"family": "survival", "outcome": None, "event": "e"}, "data.time is required"),
        ({"family": "survival", "outcome": None, "time": "t"}, "data.event is required"),
        ({"family": "survival", "time": "t", "event": "e"}, "data.outcome = 'y'"),
        ({"time": "t"}, "data.time = 't'"),
        ({"family": "weibull"}, "data.family = 'weibull'"),
        ({"study": ""}, "data.study"),
        ({"treatment": None}, "data.treatment"),
        ({"experimental": 1}, "data.experimental = 1"),
        ({"missing": "skip"}, "data.missing = 'skip'"),  # 'impute' is a policy (issue 28)
        ({"path": 3}, "data.path = 3"),
        ({"summaries": 3}, "data.summaries = 3"),
    ],
)
def test_data_section_invalid(changes, fragment):
    with pytest.raises(SpecError) as info:
        _data(**changes)
    assert fragment in str(info.value)


def test_summaries_alone_suffice():
    assert _data(path=None, summaries=["/s/a.csv"]).path is None


def test_analysis_spec_family_must_agree():
    with pytest.raises(SpecError, match=r"model\.family = 'binomial'"):
        AnalysisSpec(data=_data(), model=ModelSpec("binomial"))


# --------------------------------------------------------------------------- TOML

_VALID = """
[data]
path = "data/trials.csv"
summaries = ["sums/a.csv", "/abs/b.csv"]
study = "trial"
treatment = "arm"
outcome = "sbp_final"
family = "gaussian"
experimental = "drug"
missing = "drop"

[model]
covariates = ["sbp_baseline", "age"]
interactions = ["age"]
intercepts = "random"
covariate_effects = "stratified"
residual_sd = "common"
random_interactions = true
parameterisation = "centred"
intervals = 4

[priors]
intercept = "normal(150, 200)"
effect = "normal(0, 20)"
tau = "half-normal(5)"
coefficients = "normal(0, 10)"
interactions = "normal(0, 5)"
sigma = "half_cauchy(10)"

[sampler]
draws = 300
tune = 200
chains = 2
seed = 7
target_accept = 0.95
backend = "pymc"

[two_stage]
method = "DL"
hksj = false
"""


def test_parse_full_spec(tmp_path):
    spec = parse_analysis_spec(_VALID, tmp_path)
    assert spec.data.path == tmp_path / "data" / "trials.csv"
    assert spec.data.summaries == (tmp_path / "sums" / "a.csv", Path("/abs/b.csv"))
    assert spec.data.treatment == "arm"
    assert spec.data.experimental == "drug"
    assert spec.data.missing == "drop"
    assert spec.model.family == "gaussian"
    assert spec.model.interactions == ("age",)
    assert spec.model.intercepts == "random"
    assert spec.model.random_interactions is True
    assert spec.model.intervals == 4
    assert spec.model.priors["tau"] == Prior("half_normal", (5,))
    assert str(spec.model.priors["sigma"]) == "half_cauchy(10)"
    assert spec.sampler == SamplerSettings(300, 200, 2, 7, 0.95, "pymc")
    assert spec.two_stage == TwoStageSettings("DL", hksj=False)
    assert spec.source is None


def test_parse_minimal_spec_uses_defaults(tmp_path):
    text = """
    [data]
    path = "x.csv"
    study = "trial"
    treatment = "treat"
    time = "t"
    event = "d"
    family = "survival"
    """
    spec = parse_analysis_spec(text, tmp_path)
    assert spec.model == ModelSpec("survival")
    assert spec.sampler == SamplerSettings()
    assert spec.two_stage == TwoStageSettings()


def test_relative_paths_resolve_against_the_spec_folder(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "a.toml").write_text(_VALID.replace("data/trials.csv", "../data/trials.csv"))
    spec = read_analysis_spec(folder / "a.toml")
    assert spec.data.path == tmp_path / "data" / "trials.csv"
    assert spec.data.path.is_absolute()
    assert spec.source == folder / "a.toml"


def _replace_line(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("section", "line"),
    [
        ("data", 'outcome = "sbp_final"'),
        ("model", 'intercepts = "random"'),
        ("priors", 'tau = "half-normal(5)"'),
        ("sampler", "chains = 2"),
        ("two_stage", "hksj = false"),
    ],
)
def test_unknown_key_in_each_section_names_it_and_lists_allowed(tmp_path, section, line):
    text = _replace_line(_VALID, line, line + "\nbogus = 1")
    path = tmp_path / "spec.toml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        read_analysis_spec(path)
    message = str(info.value)
    assert f"{section}.bogus" in message
    assert str(path) in message
    allowed_example = {
        "data": "treatment",
        "model": "covariate_effects",
        "priors": "coefficients",
        "sampler": "target_accept",
        "two_stage": "method",
    }[section]
    assert allowed_example in message


def test_family_in_model_section_points_to_data(tmp_path):
    text = _replace_line(_VALID, 'intercepts = "random"', 'intercepts = "random"\nfamily = "x"')
    with pytest.raises(SpecError, match=r"model.family \(family is set in \[data\]\)"):
        parse_analysis_spec(text, tmp_path)


def test_unknown_section_names_it(tmp_path):
    with pytest.raises(SpecError) as info:
        parse_analysis_spec(_VALID + "\n[mcmc]\ndraws = 5\n", tmp_path)
    assert "[mcmc]" in str(info.value)
    assert "two_stage" in str(info.value)


def test_missing_data_section(tmp_path):
    with pytest.raises(SpecError, match=r"\[data\] section is required"):
        parse_analysis_spec("[model]\ncovariates = []\n", tmp_path)


def test_section_must_be_a_table(tmp_path):
    with pytest.raises(SpecError, match=r"\[sampler\] must be a table"):
        parse_analysis_spec("sampler = 3\n" + _VALID.split("[sampler]")[0], tmp_path)


def test_bad_toml_names_file_and_tomllib_message(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[data]\npath = "x.csv\n')
    with pytest.raises(SpecError) as info:
        read_analysis_spec(path)
    assert str(path) in str(info.value)
    assert "invalid TOML" in str(info.value)
    assert "line 2" in str(info.value)  # tomllib's own message gives the position


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        read_analysis_spec(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("old", "new", "error", "fragments"),
    [
        ('tau = "half-normal(5)"', 'tau = "half-normal(5"', PriorError, ["priors.tau"]),
        (
            'effect = "normal(0, 20)"',
            'effect = "normal(0, -20)"',
            PriorError,
            ["priors.effect", "normal(0, -20)", "sigma must be > 0"],
        ),
        (
            'effect = "normal(0, 20)"',
            'effect = "laplace(0, 20)"',
            PriorError,
            ["priors.effect", "'laplace'", "student_t"],
        ),
        ('tau = "half-normal(5)"', 'tau = "normal(0, 5)"', PriorError, ["priors.tau", "positive"]),
        ('effect = "normal(0, 20)"', "effect = 20", PriorError, ["priors.effect = 20"]),
        (
            'interactions = ["age"]',
            'interactions = ["bmi"]',
            SpecError,
            ["model.interactions", "'bmi'"],
        ),
        (
            'intercepts = "random"',
            'intercepts = "fixed"',
            SpecError,
            ["model.intercepts = 'fixed'", "'stratified', 'random'"],
        ),
        (
            'covariate_effects = "stratified"',
            'covariate_effects = "mixed"',
            SpecError,
            ["model.covariate_effects = 'mixed'"],
        ),
        ('residual_sd = "common"', 'residual_sd = "shared"', SpecError, ["model.residual_sd"]),
        (
            'parameterisation = "centred"',
            'parameterisation = "centered"',
            SpecError,
            ["model.parameterisation = 'centered'", "'noncentred'"],
        ),
        ("intervals = 4", "intervals = -4", SpecError, ["model.intervals = -4"]),
        ('family = "gaussian"', 'family = "normal"', SpecError, ["data.family = 'normal'"]),
        ('outcome = "sbp_final"', "", SpecError, ["data.outcome is required"]),
        ('study = "trial"', "", SpecError, ["data.study is required"]),
        ('missing = "drop"', 'missing = "ignore"', SpecError, ["data.missing = 'ignore'"]),
        ("draws = 300", "draws = 0", SpecError, ["sampler.draws = 0"]),
        ("chains = 2", "chains = 2.5", SpecError, ["sampler.chains = 2.5"]),
        ("seed = 7", "seed = -7", SpecError, ["sampler.seed = -7"]),
        ("target_accept = 0.95", "target_accept = 1.5", SpecError, ["sampler.target_accept"]),
        ('backend = "pymc"', 'backend = "blackjax"', SpecError, ["sampler.backend = 'blackjax'"]),
        ('method = "DL"', 'method = "HS"', SpecError, ["two_stage.method = 'HS'"]),
        ("hksj = false", 'hksj = "no"', SpecError, ["two_stage.hksj"]),
    ],
)
def test_bad_values_in_toml_name_the_key(tmp_path, old, new, error, fragments):
    path = tmp_path / "spec.toml"
    path.write_text(_replace_line(_VALID, old, new))
    with pytest.raises(error) as info:
        read_analysis_spec(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message


def test_sigma_prior_in_binomial_spec_is_rejected(tmp_path):
    text = _VALID.replace('family = "gaussian"', 'family = "binomial"')
    with pytest.raises(PriorError, match=r"priors\.sigma"):
        parse_analysis_spec(text, tmp_path)


def test_write_then_read_round_trips(tmp_path):
    spec = parse_analysis_spec(_VALID, tmp_path / "project")
    out = tmp_path / "project" / "specs" / "copy.toml"
    out.parent.mkdir(parents=True)
    write_analysis_spec(spec, out)
    back = read_analysis_spec(out)
    assert back.data == spec.data
    assert back.model == spec.model
    assert back.sampler == spec.sampler
    assert back.two_stage == spec.two_stage
    assert back.source == out
    # Paths inside the written file are relative to its folder (portable spec files).
    assert 'path = "../data/trials.csv"' in out.read_text()


def test_write_then_read_round_trips_survival_cut_points(tmp_path):
    spec = AnalysisSpec(
        data=DataSection(
            path=None,
            summaries=(tmp_path / "s.csv",),
            study="trial",
            treatment="treat",
            outcome=None,
            time="t",
            event="d",
            family="survival",
        ),
        model=ModelSpec(
            "survival",
            covariates=["age"],
            priors={"tau": "log_normal(-2.56, 1.74)"},
            intervals=[0.5, 1.25, 3],
        ),
        sampler=SamplerSettings(draws=10, tune=10, chains=1, seed=3, progress=False),
    )
    out = tmp_path / "surv.toml"
    write_analysis_spec(spec, out)
    back = read_analysis_spec(out)
    assert (back.data, back.model, back.sampler, back.two_stage) == (
        spec.data,
        spec.model,
        spec.sampler,
        spec.two_stage,
    )


def test_analysis_to_dict_has_the_toml_layout(tmp_path):
    d = parse_analysis_spec(_VALID, tmp_path).to_dict()
    assert list(d) == ["data", "model", "priors", "sampler", "two_stage"]
    assert "family" not in d["model"]
    assert d["priors"]["tau"] == "half_normal(5)"
    assert d["data"]["path"] == os.path.join(tmp_path, "data", "trials.csv")


# --------------------------------------------------------------------------- models/


def test_models_folder_has_the_shipped_specs():
    names = {p.name for p in MODELS.glob("*.toml")}
    assert {"bcg_binary.toml", "bp_continuous.toml", "survival.toml"} <= names


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.toml")), ids=lambda p: p.name)
def test_every_model_file_parses(path):
    spec = read_analysis_spec(path)
    assert spec.source == path
    assert spec.data.path is not None
    assert spec.data.path.is_absolute()
    assert path.read_text().startswith("#"), "each model file opens with a comment header"


def test_model_files_describe_the_intended_analyses():
    datasets = MODELS.parent / "bayes_ipd" / "datasets"
    bcg = read_analysis_spec(MODELS / "bcg_binary.toml")
    assert bcg.data.path == datasets / "bcg_ipd.csv.gz"
    assert (bcg.data.study, bcg.data.treatment, bcg.data.outcome) == ("trial", "treat", "event")
    assert bcg.model.family == "binomial"
    assert bcg.two_stage == TwoStageSettings("REML", hksj=True)
    assert (bcg.sampler.draws, bcg.sampler.tune, bcg.sampler.chains) == (1000, 1000, 4)

    bp = read_analysis_spec(MODELS / "bp_continuous.toml")
    assert bp.data.path == datasets / "bp_trials.csv"
    assert bp.data.outcome == "sbp_final"
    assert bp.model.covariates == ("sbp_baseline", "age")
    assert bp.model.interactions == ("age",)

    surv = read_analysis_spec(MODELS / "survival.toml")
    assert surv.data.path == datasets / "survival_trials.csv"
    assert (surv.data.time, surv.data.event) == ("time", "event")
    assert surv.model.covariates == ("smoking", "sbp", "age", "bmi")
    assert surv.model.interactions == ("smoking",)
