"""Treatment-covariate interactions shared across a class of treatments on the two-stage
network route (issue 25, item 2; bayes_ipd/two_stage/network_classes.py, the ``classes``
of network_covariates.py, ``bayes-ipd network --classes``).

Data: ``tests/data/network_interactions.csv`` (6 trials, S1 three arms A/B/C; see
test_network_covariates.py) and a four-treatment variant (S6's C arm relabelled D).
Reference numbers: R 4.x, metafor 3.8-1, ``tests/data/network_classes_reference.R``; the
essential lines::

    fit <- glm(y ~ trt * I(age - mean(age)) + I(sex - mean(sex)), binomial, data = x)
    # (lm(score ~ ...) for the gaussian outcome), per trial; the trt x age coefficients and
    # their vcov; for each non-reference class c a column
    dat[[c]] <- (classes[dat$t1] == c) - (classes[dat$t2] == c)
    rma.mv(yi, V, mods = ~ <class columns> - 1, random = ~ comp | study, rho = 1/2,
           method = "REML")       # "ML"; FE: rma.mv(yi, V, mods = ~ ... - 1)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.cli import main
from bayes_ipd.errors import IPDDataError, PoolingError
from bayes_ipd.two_stage.network import fit_network

DATA = Path(__file__).parent / "data"
ROWS = DATA / "network_interactions.csv"

ACT = {"B": "act", "C": "act"}  # B and C share one interaction
CTL = {"A": "ctl", "B": "ctl"}  # B in the reference's class: C alone
TWO = {"B": "x", "C": "x", "D": "y"}  # four treatments, two non-reference classes

# R: cat(label, m, "estimate", coef(res), "se", res$se, "tau2", res$tau2)
R_CLASSES = {
    ("binomial", "act", "REML"): ([0.00298898517029], [0.0227599180246], 0.00208797014227),
    ("binomial", "act", "ML"): ([0.00279982657182], [0.021075285371], 0.00169462795908),
    ("binomial", "act", "FE"): ([-0.000356492127079], [0.0111749322694], 0.0),
    ("binomial", "ctl", "REML"): ([-0.0388640211838], [0.0190249249173], 0.000941015779619),
    ("binomial", "ctl", "ML"): ([-0.0388743130922], [0.017465432121], 0.000694701417396),
    ("binomial", "ctl", "FE"): ([-0.0389158449231], [0.0120120784044], 0.0),
    ("gaussian", "act", "REML"): ([0.011112914231], [0.0394810914398], 0.00777852680603),
    ("gaussian", "act", "ML"): ([0.0111121699977], [0.0365684755509], 0.00659722448629),
    ("gaussian", "act", "FE"): ([0.0112191436031], [0.00997708591172], 0.0),
    ("gaussian", "ctl", "REML"): ([-0.0749219921374], [0.0317228124543], 0.0038420802527),
    ("gaussian", "ctl", "ML"): ([-0.0749298038303], [0.0293768089933], 0.00322096113303),
    ("gaussian", "ctl", "FE"): ([-0.0752442805994], [0.0109312932956], 0.0),
    ("binomial", "two", "REML"): (
        [0.00476290514359, -0.00343681644445],
        [0.0277700174179, 0.0568063489368],
        0.00264432741802,
    ),
    ("binomial", "two", "ML"): (
        [0.00430803309238, -0.00343681644445],
        [0.0234683142688, 0.0476739478501],
        0.0016901714421,
    ),
    ("binomial", "two", "FE"): (
        [0.000483844675114, -0.00343681644445],
        [0.0126074231731, 0.0241378097911],
        0.0,
    ),
    ("gaussian", "two", "REML"): (
        [0.0263246472126, -0.0549830940083],
        [0.0453080812432, 0.0944450898787],
        0.00836525064585,
    ),
    ("gaussian", "two", "ML"): (
        [0.0263059170174, -0.0549830940083],
        [0.0383424692443, 0.0799691616698],
        0.00584044246182,
    ),
    ("gaussian", "two", "FE"): (
        [0.0256998692864, -0.0549830940083],
        [0.0110143354162, 0.0235504640369],
        0.0,
    ),
}
CLASSES = {"act": ACT, "ctl": CTL, "two": TWO}
OUTCOME = {"binomial": "y", "gaussian": "score"}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return pd.read_csv(ROWS)


def _four(rows: pd.DataFrame) -> pd.DataFrame:
    data = rows.copy()
    data.loc[(data.study == "S6") & (data.treatment == "C"), "treatment"] = "D"
    return data


def _fit(rows, family="binomial", method="REML", classes=None, **options):
    kwargs = {"covariates": ["age", "sex"], "interactions": ["age"], "classes": classes}
    kwargs |= options
    return fit_network(
        rows,
        study="study",
        treatment="treatment",
        reference="A",
        family=family,
        outcome=OUTCOME[family],
        method=method,
        **kwargs,
    )


@pytest.mark.parametrize("method", ["REML", "ML", "FE"])
@pytest.mark.parametrize("family", ["binomial", "gaussian"])
@pytest.mark.parametrize("config", ["act", "ctl", "two"])
def test_class_pooling_matches_metafor(rows, config, family, method):
    data = _four(rows) if config == "two" else rows
    res = _fit(data, family, method, CLASSES[config])
    fit = res.class_interactions["age"]
    estimate, se, tau2 = R_CLASSES[family, config, method]
    np.testing.assert_allclose(fit.estimate, estimate, rtol=0, atol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.covariance)), se, rtol=0, atol=1e-4)
    assert fit.tau2 == pytest.approx(tau2, abs=1e-4)
    # each treatment reads its class's value (0 for the reference's class)
    labels = dict(zip(res.treatments, res.classes, strict=True))
    table = res.interaction_effects()["age"]
    by_class = res.class_effects()["age"]
    for treatment, row in table.iterrows():
        if labels[treatment] == labels["A"]:
            assert (row.estimate, row.se) == (0.0, 0.0)
        else:
            assert row.estimate == by_class.loc[labels[treatment], "estimate"]
            assert row.se == by_class.loc[labels[treatment], "se"]


def test_own_classes_equal_the_per_treatment_pooling(rows):
    per_treatment = _fit(rows)
    own = _fit(rows, classes={"B": "b", "C": "c"})
    for a, b in ((own.interactions["age"], per_treatment.interactions["age"]),):
        np.testing.assert_allclose(a.estimate, b.estimate, rtol=0, atol=1e-10)
        np.testing.assert_allclose(a.covariance, b.covariance, rtol=0, atol=1e-12)
        assert a.tau2 == pytest.approx(b.tau2, abs=1e-10)
    # R (network_interactions_reference.R): per-treatment REML B 0.0335120373093
    assert own.class_effects()["age"].loc["b", "estimate"] == pytest.approx(0.0335120373, abs=1e-4)
    # the main effects do not depend on the classes
    np.testing.assert_array_equal(own.fit.estimate, per_treatment.fit.estimate)


def test_json_keys(rows):
    plain = _fit(rows).to_dict()
    assert "classes" not in plain
    assert json.dumps(plain) == json.dumps(_fit(rows, classes={}).to_dict())
    assert json.dumps(plain) == json.dumps(_fit(rows, classes="").to_dict())
    out = _fit(rows, classes="B=act, C=act").to_dict()
    assert list(out) == [*plain, "classes"]
    assert out["classes"] == {"A": "A", "B": "act", "C": "act"}
    assert list(out["interactions"]["age"]) == ["B", "C"]
    assert out["interactions"]["age"]["B"] == out["interactions"]["age"]["C"]
    assert list(out["interactions"]["age"]["B"]) == ["estimate", "se", "ci_low", "ci_high"]
    # unchanged by the classes: every key but the interactions
    for key in plain:
        if key != "interactions":
            assert out[key] == plain[key], key
    ctl = _fit(rows, classes=CTL).to_dict()
    assert ctl["classes"] == {"A": "ctl", "B": "ctl", "C": "C"}
    assert ctl["interactions"]["age"]["B"] == dict.fromkeys(
        ["estimate", "se", "ci_low", "ci_high"], 0.0
    )


def test_summary_names_the_classes(rows):
    text = _fit(rows, classes=ACT).summary()
    assert (
        "Treatment classes (interactions shared within a class): A (reference's class): A; "
        "act: B, C" in text
    )
    assert "per class vs the reference's class" in text
    assert "\n  act " in text


@pytest.mark.parametrize(
    ("classes", "options", "error", "message"),
    [
        (
            "D=x",
            {},
            IPDDataError,
            r"'D' is not a treatment of the network \(levels: 'A', 'B', 'C'\)",
        ),
        ({"B": " "}, {}, IPDDataError, "treatment 'B' has an empty class name"),
        ("B=", {}, IPDDataError, "treatment 'B' has an empty class name"),
        ("B", {}, IPDDataError, "'B' is not LEVEL=CLASS"),
        ("B=x,B=y", {}, IPDDataError, "'B' is given a class twice"),
        ("B=C", {}, IPDDataError, "class name\\(s\\) 'C' are also treatments"),
        ("A=r,B=r,C=r", {}, IPDDataError, "every treatment in the reference's class"),
        (["B"], {}, IPDDataError, "classes must map treatment levels"),
        ("B=x", {"interactions": None}, IPDDataError, "classes need interactions"),
        ("B=x", {"covariates": None, "interactions": None}, IPDDataError, "need interactions"),
    ],
)
def test_bad_classes_are_refused(rows, classes, options, error, message):
    with pytest.raises(error, match=message):
        _fit(rows, classes=classes, **options)


def test_a_class_no_trial_identifies_is_refused(rows):
    data = _four(rows)
    data.loc[data.study == "S6", "age"] = 50.0  # S6 (A vs D) leaves the interaction
    with pytest.raises(PoolingError, match="the interaction with 'age': the classes'"):
        _fit(data, classes=TWO)


def test_input_not_modified(rows):
    before = rows.copy()
    classes = dict(ACT)
    _fit(rows, classes=classes)
    pd.testing.assert_frame_equal(rows, before)
    assert classes == ACT


ARGV = ["network", str(ROWS), "--study", "study", "--treatment", "treatment", "--reference",
        "A", "--outcome", "y", "--covariates", "age,sex"]  # fmt: skip


def test_cli_classes(capsys):
    assert main([*ARGV, "--interactions", "age", "--classes", "B=act,C=act", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["classes"] == {"A": "A", "B": "act", "C": "act"}
    assert out["interactions"]["age"]["B"]["estimate"] == pytest.approx(
        R_CLASSES["binomial", "act", "REML"][0][0], abs=1e-4
    )
    assert main([*ARGV, "--interactions", "age", "--classes", "B=act,C=act"]) == 0
    assert "act: B, C" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--classes", "B=act"], "--classes needs --interactions"),
        (["--interactions", "age", "--classes", "D=act"], "'D' is not a treatment"),
        (["--classes", "B=act", "--route", "both"], "--classes needs --interactions"),
        (["--interactions", "age", "--classes", "B=", "--route", "one-stage"], "empty class"),
    ],
)
def test_cli_errors(capsys, extra, message):
    assert main([*ARGV, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err


def test_classes_without_covariates_on_the_command_line(capsys):
    argv = ARGV[: ARGV.index("--covariates")]
    assert main([*argv, "--classes", "B=act"]) == 2
    assert "--classes needs --interactions" in capsys.readouterr().err


def test_hksj_counts_the_class_parameters(rows):
    # 7 interaction contrasts (S1 two, the others one), one class parameter: t on 6 df
    plain = _fit(rows, classes=ACT).class_interactions["age"]
    fit = _fit(rows, classes=ACT, hksj=True).class_interactions["age"]
    assert fit.df == 6 and fit.n_contrasts == 7
    assert fit.estimate[0] == pytest.approx(plain.estimate[0], abs=1e-12)
    assert fit.covariance[0, 0] == pytest.approx(plain.covariance[0, 0] * fit.scale, rel=1e-10)
