"""A TOML spec with ``[data] reference``: ``bayes-ipd run`` fits the network (issue 25, item 7).

References: the JSON object of ``bayes-ipd network --json`` (the same code, so ``run``'s
``"network"`` member must equal it); R metafor 3.8-1 ``predict(rma.mv(...))`` for the
two-stage prediction interval of a new trial (script in the comment beside the numbers).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import bayes_ipd as bi
from bayes_ipd.analysis import run_analysis
from bayes_ipd.cli import main
from bayes_ipd.datasets.catalogue import get_dataset
from bayes_ipd.errors import SpecError
from bayes_ipd.models import shipped_specs
from bayes_ipd.one_stage.network_analysis import NetworkAnalysis
from bayes_ipd.plots.network_forest import network_overlay_forest_plot
from bayes_ipd.spec import parse_analysis_spec, read_analysis_spec

BINARY_FE = Path(__file__).parent / "data" / "network_binary_fe.csv"
ISSUE_KEYS = {
    "route", "reference", "treatments", "k", "effects", "tau", "league", "ranking",
    "inconsistency", "node_split",
}  # fmt: skip
NODE = {"mean", "sd", "median", "q025", "q975", "ess_bulk", "r_hat"}

# R 4.x, metafor 3.8-1: tests/data/network_reference.R's binomial_contrasts(h, lev, cc = TRUE)
# for dat.hasselblad1998, then
#   res <- rma.mv(yi, V, mods = ~ grp_counseling + ind_counseling + self_help - 1,
#                 random = ~ comp | study, rho = 1/2, data = dat, method = "REML")
#   predict(res, newmods = diag(3))       # pi.lb, pi.ub
R_PREDICTION = {
    "grp_counseling": (-0.6350432745, 2.372509969),
    "ind_counseling": (-0.6606569628, 2.078675523),
    "self_help": (-1.0672188824, 1.861555922),
}

SPEC = """
[data]
path = "{path}"
study = "study"
treatment = "treatment"
reference = "{reference}"
outcome = "{outcome}"
family = "binomial"
{extra}
"""


@pytest.fixture(scope="module")
def hasselblad_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rows") / "hasselblad.csv"
    bi.datasets.load_hasselblad1998_rows().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory) -> Path:
    """tests/data/network_binary_fe.csv (9 trials, one three-arm) as participant rows."""
    arms = pd.read_csv(BINARY_FE)
    parts = [
        pd.DataFrame({"study": r.study, "treatment": r.treatment,
                      "y": np.r_[np.ones(r.events), np.zeros(r.n - r.events)].astype(int)})
        for r in arms.itertuples()
    ]  # fmt: skip
    path = tmp_path_factory.mktemp("rows") / "small.csv"
    pd.concat(parts, ignore_index=True).to_csv(path, index=False)
    return path


def _spec_text(path: Path, extra: str = "", reference: str = "no_contact", outcome="quit"):
    return SPEC.format(path=path, reference=reference, outcome=outcome, extra=extra)


def _spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return path


TWO_STAGE_ONLY = """
[network]
route = "two-stage"
sparse = "cc"
small_values = "undesirable"

[two_stage]
method = "REML"
hksj = false
"""


# ------------------------------------------------------------------ the spec's keys


def test_reference_and_network_section_are_read_and_written_back(hasselblad_csv, tmp_path):
    spec = parse_analysis_spec(_spec_text(hasselblad_csv, TWO_STAGE_ONLY), tmp_path)
    assert spec.data.reference == "no_contact"
    assert spec.network.route == "two-stage" and spec.network.routes == ("two-stage",)
    assert spec.network.sparse == "cc" and spec.network.small_values == "undesirable"
    doc = spec.to_dict()
    assert doc["data"]["reference"] == "no_contact"
    assert doc["network"] == {
        "route": "two-stage", "sparse": "cc", "small_values": "undesirable",
        "inconsistency": False,
    }  # fmt: skip
    out = tmp_path / "again.toml"
    bi.spec.write_analysis_spec(spec, out)
    again = read_analysis_spec(out)
    assert again.data.reference == "no_contact" and again.network == spec.network


def test_a_two_arm_spec_has_no_reference_and_no_network_key(tmp_path):
    spec = read_analysis_spec(shipped_specs()["bcg_binary"])
    assert spec.data.reference is None and spec.network is None
    doc = spec.to_dict()
    assert "reference" not in doc["data"] and "network" not in doc


@pytest.mark.parametrize(
    ("extra", "reference", "message"),
    [
        ('experimental = "self_help"', "no_contact", "data.experimental is not used"),
        ("", "   ", "data.reference"),
        ('[network]\nroute = "three-stage"', "no_contact", "network.route"),
        ('[network]\nsparse = "tacc"', "no_contact", "network.sparse"),
        ('[network]\nsmall_values = "bad"', "no_contact", "network.small_values"),
        ('[network]\ncolour = "red"', "no_contact", "network.colour"),
    ],
)
def test_bad_network_keys_are_refused_naming_them(hasselblad_csv, tmp_path, extra, reference,
                                                  message):  # fmt: skip
    text = _spec_text(hasselblad_csv, reference=reference)
    if extra.startswith("experimental"):
        text = text.replace('family = "binomial"', f'family = "binomial"\n{extra}')
    else:
        text += extra
    with pytest.raises(SpecError, match=message):
        parse_analysis_spec(text, tmp_path)


def test_a_network_section_needs_a_reference(hasselblad_csv, tmp_path):
    text = _spec_text(hasselblad_csv).replace('reference = "no_contact"\n', "")
    text = text.replace('study = "study"', 'study = "study"\nexperimental = "self_help"')
    with pytest.raises(SpecError, match=r"\[network\] needs data.reference"):
        parse_analysis_spec(text + '[network]\nroute = "both"\n', tmp_path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[model]\ncovariates = ["age"]', "model.covariates"),
        ('[two_stage]\nmethod = "DL"', "two_stage.method"),
        ('[model]\nintercepts = "random"', "model.intercepts"),
        ('missing = "drop"', "data.missing"),
    ],
)
def test_what_a_network_run_cannot_take_is_refused_before_fitting(
    hasselblad_csv, tmp_path, capsys, extra, message
):
    spec = _spec_file(tmp_path, _spec_text(hasselblad_csv, extra))
    assert main(["run", str(spec)]) == 2
    assert message in capsys.readouterr().err


def test_unknown_reference_is_an_error_line(hasselblad_csv, tmp_path, capsys):
    spec = _spec_file(tmp_path, _spec_text(hasselblad_csv, TWO_STAGE_ONLY, reference="Placebo"))
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Placebo" in err


def test_sensitivity_is_refused_for_a_network(hasselblad_csv, tmp_path, capsys):
    # --report is built for a network spec (tests/test_report_network.py)
    spec = _spec_file(tmp_path, _spec_text(hasselblad_csv, TWO_STAGE_ONLY))
    report = tmp_path / "r.html"
    assert main(["run", str(spec), "--sensitivity", "--report", str(report)]) == 2
    assert "--sensitivity" in capsys.readouterr().err
    assert not report.exists()


# ------------------------------------------------------------------ two-stage through run


def test_run_json_network_member_is_the_network_commands_object(hasselblad_csv, tmp_path,
                                                                  capsys):  # fmt: skip
    spec = _spec_file(tmp_path, _spec_text(hasselblad_csv, TWO_STAGE_ONLY))
    assert main(["run", str(spec), "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    args = ["network", str(hasselblad_csv), "--study", "study", "--treatment", "treatment",
            "--reference", "no_contact", "--outcome", "quit", "--sparse", "cc",
            "--small-values", "undesirable", "--json"]  # fmt: skip
    assert main(args) == 0
    network = json.loads(capsys.readouterr().out)
    assert run["network"] == network == run["two_stage"]
    assert ISSUE_KEYS <= set(run["network"]) and set(run["network"]) - ISSUE_KEYS == {
        "tau2", "excluded"
    }  # fmt: skip
    assert run["network"]["treatments"][0] == "no_contact" and run["network"]["k"] == 24
    assert run["diagnostics"] is None and "one-stage" not in run["prediction"]
    assert set(run) == {"spec", "network", "two_stage", "diagnostics", "prediction"}


def test_two_stage_prediction_equals_metafor(hasselblad_csv, tmp_path):
    spec = read_analysis_spec(_spec_file(tmp_path, _spec_text(hasselblad_csv, TWO_STAGE_ONLY)))
    result = run_analysis(spec)
    assert isinstance(result, NetworkAnalysis) and result.one_stage is None
    pred = result.prediction()["two-stage"]
    for treatment, (low, high) in R_PREDICTION.items():
        assert pred.loc[treatment, "pi_low"] == pytest.approx(low, abs=1e-4)
        assert pred.loc[treatment, "pi_high"] == pytest.approx(high, abs=1e-4)
    assert "prediction" in result.two_stage.network()
    assert pred.loc["self_help", "estimate"] == pytest.approx(0.3971685199, abs=1e-4)
    with pytest.raises(SpecError, match="route"):
        result.plot_forest()


def test_hksj_prediction_uses_the_t_quantile(hasselblad_csv, tmp_path):
    text = _spec_text(hasselblad_csv, TWO_STAGE_ONLY.replace("hksj = false", "hksj = true"))
    result = run_analysis(read_analysis_spec(_spec_file(tmp_path, text)))
    fit = result.two_stage.fit
    pred = result.two_stage.prediction()
    from scipy import stats

    t = stats.t.ppf(0.975, fit.df)
    se = math.sqrt(fit.covariance[0, 0])
    half = t * math.sqrt(se**2 + fit.tau2)
    assert fit.df == 26 - 3
    assert pred.iloc[0].pi_high - pred.iloc[0].estimate == pytest.approx(half, rel=1e-12)


# ------------------------------------------------------------------ one-stage through run

ONE_STAGE = """
[network]
route = "both"

[priors]
effect = "normal(0, 10)"
intercept = "normal(0, 10)"
tau = "half_normal(1)"

[sampler]
draws = 500
tune = 500
chains = 2
seed = 11
"""


@pytest.fixture(scope="module")
def both_routes(small_csv, tmp_path_factory):
    folder = tmp_path_factory.mktemp("both")
    text = SPEC.format(path=small_csv, reference="A", outcome="y", extra=ONE_STAGE)
    spec = read_analysis_spec(_spec_file(folder, text))
    return run_analysis(spec, progress=False)


def test_both_routes_run_and_the_priors_come_from_the_spec(both_routes):
    one, two = both_routes.one_stage, both_routes.two_stage
    assert one is not None and two is not None
    priors = one.built.priors
    assert str(priors.effect) == "normal(0, 10)" and str(priors.tau) == "half_normal(1)"
    assert str(priors.intercept) == "normal(0, 10)"
    doc = both_routes.to_dict()
    assert set(doc["network"]) == ISSUE_KEYS and doc["network"]["route"] == "one-stage"
    assert doc["network"] == one.to_dict() and doc["two_stage"] == two.to_dict()
    for node in doc["network"]["effects"].values():
        assert set(node) == NODE
    assert set(doc["prediction"]) == {"two-stage", "one-stage"}
    assert doc["diagnostics"]["divergences"] == one.diagnostics.divergences
    # a new trial's interval is wider than the mean effect's, on both routes
    effects, pred = two.effects(), two.prediction()
    assert (pred.pi_high - pred.pi_low >= effects.ci_high - effects.ci_low - 1e-12).all()
    one_pred = one.prediction()
    assert (one_pred.q975 - one_pred.q025 > one.effects().q975 - one.effects().q025).all()


def test_both_routes_forest_draws_one_row_per_treatment(both_routes):
    fig = both_routes.plot_forest()
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["D", "C", "B"]  # network order top down
    squares = [ln for ln in ax.get_lines() if ln.get_marker() == "s" and len(ln.get_xdata())]
    circles = [ln for ln in ax.get_lines() if ln.get_marker() == "o" and len(ln.get_xdata())]
    assert len(squares[0].get_xdata()) == 3 and len(circles[0].get_xdata()) == 3
    np.testing.assert_allclose(
        squares[0].get_xdata(), both_routes.two_stage.effects().estimate.to_numpy()
    )
    np.testing.assert_allclose(circles[0].get_xdata(), both_routes.one_stage.effects()["median"])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("two-stage" in t for t in legend) and any("one-stage" in t for t in legend)
    assert "a new trial, 95%" in legend
    same = bi.network_forest(both_routes.two_stage, both_routes.one_stage, prediction=False)
    assert "a new trial, 95%" not in [t.get_text() for t in same.axes[0].get_legend().get_texts()]
    plt.close("all")


def test_run_out_writes_the_summary_and_the_figures(small_csv, tmp_path, capsys):
    text = SPEC.format(path=small_csv, reference="A", outcome="y", extra=ONE_STAGE)
    spec = _spec_file(tmp_path, text)
    out = tmp_path / "out"
    assert main(["run", str(spec), "--out", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    names = {p.name for p in out.iterdir()}
    assert names == {"summary.json", "network.png", "network_forest.png", "rankogram.png"}
    written = json.loads((out / "summary.json").read_text())
    assert written["network"] == doc["network"]
    assert set(doc["files"]) == {"summary", "network", "network_forest", "rankogram"}


# ------------------------------------------------------------------ the figure alone


def test_overlay_forest_labels_are_plain_text_and_rows_counted():
    names = ["$x$ & <b>", "Drug_A", "50% dose"]
    two = pd.DataFrame({"estimate": [0.1, 0.2, 0.3], "ci_low": [0.0, 0.1, 0.2],
                        "ci_high": [0.2, 0.3, 0.4]}, index=names)  # fmt: skip
    one = pd.DataFrame({"median": [0.15, 0.25, 0.35], "q025": [0.0, 0.1, 0.2],
                        "q975": [0.3, 0.4, 0.5]}, index=names)  # fmt: skip
    fig = network_overlay_forest_plot(two, one, "$ref$", "mean difference")
    ax = fig.axes[0]
    ticks = ax.get_yticklabels()
    assert [t.get_text() for t in ticks] == names[::-1]
    assert not any(t.get_parse_math() for t in ticks)
    assert not ax.title.get_parse_math() and "$ref$" in ax.get_title()
    fig.canvas.draw()  # mathtext would fail or render the dollar signs away
    with pytest.raises(bi.IPDDataError, match="ci_high"):
        network_overlay_forest_plot(two.drop(columns="ci_high"), one, "A", "x")
    plt.close("all")


def test_the_shipped_rows_file_is_the_expanded_counts():
    shipped = pd.read_csv(get_dataset("hasselblad1998_rows").path)
    pd.testing.assert_frame_equal(shipped, bi.datasets.load_hasselblad1998_rows())
    assert len(shipped) == 16_740 and int(shipped.quit.sum()) == int(
        bi.datasets.load_hasselblad1998().xi.sum()
    )


def test_the_shipped_network_spec_reads(tmp_path):
    spec = read_analysis_spec(shipped_specs()["smoking_network"])
    assert spec.data.reference == "no_contact" and spec.network.routes == (
        "two-stage", "one-stage"
    )  # fmt: skip
    assert str(spec.model.priors["tau"]) == "uniform(0, 5)"
    assert Path(spec.data.path).is_file()


def test_the_documented_spec_is_the_shipped_one(tmp_path):
    import re

    docs = Path(__file__).resolve().parents[1] / "docs" / "network.md"
    if not docs.is_file():
        pytest.skip("not a source checkout")
    blocks = re.findall(r"^```toml\n(.*?)^```", docs.read_text(encoding="utf-8"), re.M | re.S)
    documented = parse_analysis_spec(blocks[0], tmp_path)
    shipped = read_analysis_spec(shipped_specs()["smoking_network"])
    assert documented.to_dict() == shipped.to_dict()


DATA = Path(__file__).parent / "data"
OTHER_FAMILIES = {
    # family: (file, reference, [data] response keys, the same on the command line)
    "gaussian": ("network_gaussian.csv", "A", {"outcome": "score"}, ["--outcome", "score"]),
    "poisson": ("network_counts.csv", "P", {"outcome": "attacks", "time": "years"},
                ["--outcome", "attacks", "--exposure", "years"]),
    "survival": ("network_survival.csv", "P", {"time": "months", "event": "died"},
                 ["--time", "months", "--event", "died"]),
}  # fmt: skip


@pytest.mark.parametrize("family", sorted(OTHER_FAMILIES))
def test_other_families_run_from_a_spec_as_the_network_command(family, tmp_path, capsys):
    file, reference, responses, options = OTHER_FAMILIES[family]
    keys = "\n".join(f'{k} = "{v}"' for k, v in responses.items())
    text = (
        f'[data]\npath = "{DATA / file}"\nstudy = "trial"\ntreatment = "arm"\n'
        f'reference = "{reference}"\nfamily = "{family}"\n{keys}\n\n'
        '[network]\nroute = "two-stage"\n\n[two_stage]\nmethod = "ML"\nhksj = false\n'
    )
    assert main(["run", str(_spec_file(tmp_path, text)), "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    args = ["network", str(DATA / file), "--study", "trial", "--treatment", "arm",
            "--reference", reference, "--family", family, "--method", "ML", *options,
            "--json"]  # fmt: skip
    assert main(args) == 0
    assert run["network"] == json.loads(capsys.readouterr().out)
    assert run["network"]["treatments"][0] == reference
