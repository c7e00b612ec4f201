"""The issue-25 API contract: ``bi.IPD.from_frame(..., reference=)``, ``bi.ModelSpec(reference=)``,
``bi.fit(network, spec, sampler)`` and ``bi.fit_two_stage(network, ...)``.

Each route must give exactly what its network function gives (``fit_network_bayes_data``,
``fit_network_data``) on the same data: the expected values are those functions' own
results, since the new entry points only dispatch to them; the numbers themselves are
checked against R and TSD2 in ``test_network_two_stage.py`` / ``test_network_one_stage.py``.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pandas as pd
import pytest

import bayes_ipd as bi
from bayes_ipd.data.network import Network, network_from_frame
from bayes_ipd.errors import IPDDataError, PoolingError, SpecError
from bayes_ipd.one_stage.network_fit import fit_network_bayes_data
from bayes_ipd.spec import parse_analysis_spec
from bayes_ipd.two_stage.network import fit_network_data

COLUMNS = {"study": "study", "treatment": "treatment", "outcome": "quit"}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return bi.datasets.load_hasselblad1998_rows()


@pytest.fixture(scope="module")
def network(rows: pd.DataFrame) -> Network:
    return bi.IPD.from_frame(rows, **COLUMNS, family="binomial", reference="no_contact")


# ------------------------------------------------------------------------------ data layer


def test_from_frame_with_reference_is_the_network_of_network_from_frame(rows, network):
    assert isinstance(network, Network)
    same = network_from_frame(
        rows, study="study", treatment="treatment", reference="no_contact", outcome="quit"
    )
    assert network.treatments == same.treatments == (
        "no_contact", "grp_counseling", "ind_counseling", "self_help"
    )  # fmt: skip
    assert network.studies == same.studies and network.k == 24
    assert (network.treatment_codes == same.treatment_codes).all()
    assert (network.responses["quit"] == same.responses["quit"]).all()


def test_read_csv_with_reference_reads_a_network(tmp_path: Path):
    path = tmp_path / "rows.csv"
    small = pd.DataFrame(
        {"study": [1, 1, 2, 2, 2], "treatment": ["A", "B", "A", "B", "C"], "quit": [0, 1, 1, 0, 1]}
    )
    small.to_csv(path, index=False)
    net = bi.IPD.read_csv(path, **COLUMNS, family="binomial", reference="A")
    assert isinstance(net, Network) and net.treatments == ("A", "B", "C")


@pytest.mark.parametrize(
    ("argument", "value", "fragment"),
    [
        ("covariates", ["age"], "bi.fit_network(rows, ..., covariates="),
        ("missing", "drop", "rows must be complete"),
        ("experimental", "self_help", "two-arm spelling"),
        ("levels", "a,b", "outcome's codes"),
        ("min_trials", 1, "connected"),
        ("participant", "id", "participant check"),
    ],
)
def test_from_frame_refuses_two_arm_arguments_with_reference(rows, argument, value, fragment):
    with pytest.raises(IPDDataError, match=rf"^{argument}=.*no meaning.*reference='no_contact'"):
        bi.IPD.from_frame(
            rows, **COLUMNS, family="binomial", reference="no_contact", **{argument: value}
        )
    with pytest.raises(IPDDataError) as err:
        bi.IPD.from_frame(
            rows, **COLUMNS, family="binomial", reference="no_contact", **{argument: value}
        )
    assert fragment in str(err.value)


def test_from_frame_refuses_an_empty_or_unknown_reference(rows):
    with pytest.raises(IPDDataError, match="reference='' must be a non-empty"):
        bi.IPD.from_frame(rows, **COLUMNS, family="binomial", reference="")
    with pytest.raises(IPDDataError, match="'placebo' is not a level of the treatment column"):
        bi.IPD.from_frame(rows, **COLUMNS, family="binomial", reference="placebo")


def test_many_levels_without_reference_keep_their_error_with_a_hint(rows):
    with pytest.raises(IPDDataError, match=r"exactly two values.*found 4") as err:
        bi.IPD.from_frame(rows, **COLUMNS, family="binomial")
    assert "a network of treatments: give reference=LEVEL" in str(err.value)


def test_two_arm_from_frame_is_unchanged():
    df = pd.DataFrame({"trial": ["A", "A", "B", "B"], "arm": [0, 1, 0, 1], "y": [1.0, 2, 3, 5]})
    ipd = bi.IPD.from_frame(df, study="trial", treatment="arm", outcome="y")
    assert isinstance(ipd, bi.IPD) and ipd.studies == ("A", "B")
    assert ipd.treat.tolist() == [0.0, 1.0, 0.0, 1.0]
    two = pd.DataFrame({"trial": ["A", "A"], "arm": [0, 1], "y": [1.0, 2]})
    with pytest.raises(IPDDataError, match="exactly two values") as err:
        bi.IPD.from_frame(df.assign(arm=[0, 1, 2, 1]), study="trial", treatment="arm", outcome="y")
    assert "give reference=LEVEL" in str(err.value)
    with pytest.raises(IPDDataError) as err:  # one level: no network hint
        bi.IPD.from_frame(two.assign(arm=1), study="trial", treatment="arm", outcome="y")
    assert "reference=" not in str(err.value)


# ------------------------------------------------------------------------------ ModelSpec


def test_model_spec_reference_is_omitted_from_to_dict_when_unset():
    assert "reference" not in bi.ModelSpec().to_dict()
    assert "reference" not in bi.ModelSpec(family="binomial", covariates=["age"]).to_dict()
    spec = bi.ModelSpec(family="binomial", reference="no_contact")
    assert spec.to_dict()["reference"] == "no_contact"
    assert bi.ModelSpec.from_dict(spec.to_dict()) == spec
    assert "reference='no_contact'" in repr(spec)


@pytest.mark.parametrize("value", ["", "  ", 3])
def test_model_spec_refuses_a_reference_that_is_not_text(value):
    with pytest.raises(SpecError, match=r"model.reference = .* must be a non-empty"):
        bi.ModelSpec(family="binomial", reference=value)


def test_toml_model_reference_points_to_data_reference(tmp_path):
    text = """
[data]
path = "rows.csv"
study = "study"
treatment = "treatment"
reference = "no_contact"
outcome = "quit"
family = "binomial"

[model]
reference = "no_contact"
"""
    with pytest.raises(SpecError, match=r"model.reference.*\[data\] reference"):
        parse_analysis_spec(text, tmp_path)
    spec = parse_analysis_spec(text.replace('[model]\nreference = "no_contact"\n', ""), tmp_path)
    assert spec.model.reference is None and spec.data.reference == "no_contact"
    same = dataclasses.replace(spec, model=spec.model.with_(reference="no_contact"))
    assert "reference" not in same.to_dict()["model"]  # [data] reference holds it
    with pytest.raises(SpecError, match=r"'self_help' differs from data\.reference = 'no_contact'"):
        dataclasses.replace(spec, model=spec.model.with_(reference="self_help"))


# ------------------------------------------------------------------------------ bi.fit


def test_fit_of_a_network_equals_fit_network_bayes_data(network):
    sampler = bi.SamplerSettings(draws=100, tune=100, chains=1, seed=3, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 100 draws: ESS and R-hat warnings expected
        res = bi.fit(network, bi.ModelSpec(family="binomial", reference="no_contact"), sampler)
        ref = fit_network_bayes_data(network, sampler=sampler)
        plain = bi.fit(network, None, sampler)  # the spec's default: the network's family
        prior = {"effect": "normal(0, 10)"}
        given = bi.fit(network, bi.ModelSpec(family="binomial", priors=prior), sampler)
        given_ref = fit_network_bayes_data(network, sampler=sampler, priors=prior)
    assert res.to_dict() == ref.to_dict() == plain.to_dict()
    assert given.to_dict() == given_ref.to_dict() != ref.to_dict()
    assert res.to_dict()["route"] == "one-stage"
    tables = res.network()
    assert {"effects", "league", "ranking"} <= set(tables)
    assert list(tables["effects"].index) == ["grp_counseling", "ind_counseling", "self_help"]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"covariates": ("age",)}, "model.covariates"),
        ({"intercepts": "random"}, "model.intercepts = 'random' has no meaning"),
        ({"parameterisation": "centred"}, "model.parameterisation"),
        ({"moderators": ("year",)}, "model.moderators"),
        ({"covariate_effects": "stratified"}, "model.covariate_effects"),
    ],
)
def test_fit_refuses_spec_fields_the_network_model_does_not_read(network, changes, fragment):
    spec = bi.ModelSpec(family="binomial", reference="no_contact", **changes)
    with pytest.raises(SpecError) as err:
        bi.fit(network, spec)
    assert fragment in str(err.value)
    if "covariates" in changes:
        assert "bi.fit_network(rows, ..., covariates=" in str(err.value)
        assert "route='one-stage'" in str(err.value)


def test_fit_refuses_a_reference_or_family_other_than_the_network_s(network):
    with pytest.raises(SpecError, match="'self_help' differs from the network's reference"):
        bi.fit(network, bi.ModelSpec(family="binomial", reference="self_help"))
    with pytest.raises(SpecError, match="'gaussian' differs from the network's family"):
        bi.fit(network, bi.ModelSpec(reference="no_contact"))


def test_fit_of_two_arm_rows_with_a_reference_says_how_to_build_the_network():
    ipd = bi.datasets.load_bcg_ipd()
    spec = bi.ModelSpec(family=ipd.family, reference="control")
    with pytest.raises(SpecError, match=r"bi.IPD.from_frame\(.*reference='control'\)"):
        bi.fit(ipd, spec)


# ------------------------------------------------------------------------------ fit_two_stage


@pytest.mark.parametrize("method", ["REML", "FE"])
def test_fit_two_stage_of_a_network_equals_fit_network_data(network, method):
    res = bi.fit_two_stage(network, method=method, sparse="cc")
    assert res.to_dict() == fit_network_data(network, method=method, sparse="cc").to_dict()
    assert {"effects", "league", "ranking", "node_split"} <= set(res.network())


def test_fit_two_stage_default_excludes_zero_event_trials_and_names_them(network):
    with pytest.warns(UserWarning, match="excluded from pooling") as caught:
        res = bi.fit_two_stage(network, hksj=True)
    said = " ".join(str(w.message) for w in caught)
    assert "'Rabkin et al. 1984'" in said and "'Williams and Hall 1988'" in said
    assert res.to_dict() == fit_network_data(network, sparse="none", hksj=True).to_dict()
    excluded = {e["study"] for e in res.to_dict()["excluded"]}
    assert excluded == {"Rabkin et al. 1984", "Williams and Hall 1988"}


@pytest.mark.parametrize(
    ("keyword", "value", "fragment"),
    [
        ("covariates", ("age",), "bi.fit_network(rows, ..., covariates="),
        ("level", 0.9, "95%"),
        ("effect", "rmst", "leave it out"),
        ("ph_test", True, "leave it out"),
        ("pool_var", "age", "leave it out"),
    ],
)
def test_fit_two_stage_refuses_two_arm_keywords_for_a_network(network, keyword, value, fragment):
    with pytest.raises(PoolingError, match=rf"^{keyword}=.*no meaning for a network") as err:
        bi.fit_two_stage(network, sparse="cc", **{keyword: value})
    assert fragment in str(err.value)
