"""``bayes-ipd network ... --route both`` (issue 25, items 6 and 7): both routes on one
network, both reports printed, ``--plot`` (graph + two-stage forest) and ``--forest`` (the
two routes overlaid), and ``--json`` as ``run --json`` defines it for a network spec
(``"network"``: the one-stage object, ``"two_stage"``: the two-stage one).

References: the JSON of ``--route two-stage`` and ``--route one-stage`` with the same
options (the routes' own commands; their numbers are checked against R in
tests/test_network_two_stage.py and tests/test_network_one_stage.py). MCMC kept tiny
(2 x 100 draws): only equality with the one-route runs is asserted, never a value.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.cli import main

DATA = Path(__file__).parent / "data"
ISSUE_KEYS = {
    "route", "reference", "treatments", "k", "effects", "tau", "league", "ranking",
    "inconsistency", "node_split",
}  # fmt: skip
SAMPLER = ["--draws", "100", "--tune", "100", "--chains", "2", "--seed", "7"]


@pytest.fixture(scope="module")
def rows_csv(tmp_path_factory) -> Path:
    """tests/data/network_binary_fe.csv (9 trials, 4 treatments, one three-arm trial)
    expanded to participant rows."""
    arms = pd.read_csv(DATA / "network_binary_fe.csv")
    parts = [
        pd.DataFrame({"study": r.study, "treatment": r.treatment,
                      "y": np.r_[np.ones(r.events), np.zeros(r.n - r.events)].astype(int)})
        for r in arms.itertuples()
    ]  # fmt: skip
    path = tmp_path_factory.mktemp("rows") / "rows.csv"
    pd.concat(parts, ignore_index=True).to_csv(path, index=False)
    return path


def _args(rows: Path, *extra: str) -> list[str]:
    return ["network", str(rows), "--study", "study", "--treatment", "treatment",
            "--reference", "A", "--outcome", "y", *extra]  # fmt: skip


def _json(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def both(rows_csv, tmp_path_factory):
    """``--route both --json --plot --forest`` run once for the module."""
    folder = tmp_path_factory.mktemp("both")
    graph, forest = folder / "graph.png", folder / "forest.png"
    argv = _args(rows_csv, "--route", "both", *SAMPLER, "--small-values", "undesirable",
                 "--plot", str(graph), "--forest", str(forest), "--json")  # fmt: skip
    out = io.StringIO()  # capsys is per test; the fit is shared by the module
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return json.loads(out.getvalue()), graph, forest


def test_both_json_holds_each_route_as_the_spec_run_does(both):
    doc, _, _ = both
    assert set(doc) == {"network", "two_stage", "diagnostics", "prediction"}
    assert doc["network"]["route"] == "one-stage" and doc["two_stage"]["route"] == "two-stage"
    assert set(doc["network"]) == ISSUE_KEYS
    assert set(doc["two_stage"]) == ISSUE_KEYS | {"tau2", "excluded"}
    assert set(doc["prediction"]) == {"two-stage", "one-stage"}
    assert set(doc["prediction"]["two-stage"]) == {"B", "C", "D"}
    assert doc["diagnostics"]["chains"] == 2 and doc["diagnostics"]["draws"] == 100


def test_both_two_stage_object_is_the_two_stage_commands(both, rows_csv, capsys):
    doc, _, _ = both
    alone = _json(capsys, _args(rows_csv, "--small-values", "undesirable", "--json"))
    assert doc["two_stage"] == alone  # the two-stage JSON as today, unchanged


def test_both_one_stage_object_is_the_one_stage_commands(both, rows_csv, capsys):
    doc, _, _ = both
    argv = _args(rows_csv, "--route", "one-stage", *SAMPLER, "--small-values", "undesirable",
                 "--json")  # fmt: skip
    alone = _json(capsys, argv)
    assert doc["network"] == alone  # same seed, same model, same draws


def test_both_writes_the_graph_and_the_overlay_forest(both):
    _, graph, forest = both
    for path in (graph, forest):
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert graph.read_bytes() != forest.read_bytes()


def test_both_prints_both_reports(rows_csv, capsys, tmp_path):
    argv = _args(rows_csv, "--route", "both", "--method", "FE", *SAMPLER)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Two-stage network meta-analysis (FE" in out
    assert "One-stage Bayesian network meta-analysis (binomial, fixed effects)" in out
    assert "A new trial (two-stage)" in out and "A new trial (one-stage)" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--forest", "f.png"], "--forest"),  # only with --route both
        (["--route", "one-stage", "--forest", "f.png"], "needs --route both"),
        (["--route", "both", "--plot", "same.png", "--forest", "same.png"], "same file"),
        (["--route", "both", "--forest", "f.txt"], "extension"),
    ],
)
def test_forest_option_misuse_is_an_error_line(rows_csv, tmp_path, capsys, extra, message):
    extra = [str(tmp_path / e) if e.endswith((".png", ".txt")) else e for e in extra]
    assert main(_args(rows_csv, *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err
    assert not list(tmp_path.iterdir())  # refused before any fit or file
