"""PRISMA-IPD flow: counts from TOML / CSV, what the data layer adds, the checks, the figure."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from bayes_ipd.data import IPD
from bayes_ipd.datasets import dataset_path, load_bp_trials
from bayes_ipd.errors import SpecError
from bayes_ipd.plots.flow import flow_diagram
from bayes_ipd.prisma import FLOW_TABLE_COLUMNS, PrismaFlow, read_flow
from bayes_ipd.two_stage import AggregateData, two_stage

TOML = """
[records]
identified = 300
screened = 40
excluded = 28

[trials]
identified = 12
ipd_sought = 11
ipd_obtained = 10
aggregate_only = 1
neither = 0

[not_sought]
"trial registered, never run" = 1

[not_obtained]
"investigators declined" = 1
"""


@pytest.fixture()
def toml_path(tmp_path):
    path = tmp_path / "flow.toml"
    path.write_text(TOML, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data():
    """bp trials with missing baselines in T02 (3 rows) and T05 (1 row), and T07 cut to one
    participant per arm so that stage one cannot fit it."""
    rows = load_bp_trials()
    rows.loc[rows.index[rows["trial"] == "T02"][:3], "sbp_baseline"] = np.nan
    rows.loc[rows.index[rows["trial"] == "T05"][:1], "sbp_baseline"] = np.nan
    t07 = rows[rows["trial"] == "T07"].groupby("treat").head(1)
    rows = pd.concat([rows[rows["trial"] != "T07"], t07])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ipd = IPD.from_frame(
            rows,
            study="trial",
            treatment="treat",
            outcome="sbp_final",
            covariates=["sbp_baseline"],
            family="gaussian",
            missing="drop",
        )
        ad = AggregateData(("X11",), np.array([-4.0]), np.array([2.0]))
        result = two_stage(ipd, covariates=["sbp_baseline"], aggregate=ad)
    return rows, ipd, result


def test_counts_alone(toml_path):
    flow = read_flow(toml_path)
    table = flow.table()
    assert list(table.columns) == list(FLOW_TABLE_COLUMNS)
    steps = dict(zip(table["step"], table["trials"], strict=True))
    assert steps["Eligible trials identified"] == 12
    assert steps["IPD not sought"] == 1 and steps["IPD sought"] == 11
    assert steps["IPD not obtained"] == 1 and steps["IPD obtained"] == 10
    assert "investigators declined (1)" in set(table["detail"])
    assert flow.participants_supplied is None and flow.analysed_trials == 10


def test_data_layer_counts_are_added(toml_path, data):
    rows, ipd, result = data
    flow = read_flow(toml_path, ipd=ipd, two_stage=result)
    # counted independently from the rows given
    supplied = rows.groupby("trial").size()
    assert dict(flow.participants) == {t: int(n) for t, n in supplied.items()}
    assert flow.rows_dropped["T02"] == 3 and flow.rows_dropped["T05"] == 1
    assert sum(flow.rows_dropped.values()) == int(rows["sbp_baseline"].isna().sum())
    assert list(flow.excluded_trials) == ["T07"]
    assert flow.aggregate_trials == ("X11",)
    complete = rows.dropna(subset=["sbp_baseline"])
    assert flow.analysed_participants == int((complete["trial"] != "T07").sum())
    assert flow.analysed_trials == 9
    table = flow.table().set_index("step")
    assert table.loc["IPD obtained", "participants"] == len(rows)
    assert table.loc["Rows dropped for missing values", "participants"] == 4
    assert table.loc["IPD trials excluded from stage one", "trials"] == 1
    assert table.loc["  aggregate data used instead", "detail"] == "X11"
    per_trial = flow.per_trial_table().set_index("study")
    assert per_trial.loc["T02", "analysed"] == supplied["T02"] - 3
    assert per_trial.loc["T07", "analysed"] == 0


def test_csv_counts_equal_toml_counts(toml_path, tmp_path):
    lines = [
        "section,item,count",
        "records,identified,300",
        "records,screened,40",
        "records,excluded,28",
        "trials,identified,12",
        "trials,ipd_sought,11",
        "trials,ipd_obtained,10",
        "trials,aggregate_only,1",
        "trials,neither,0",
        'not_sought,"trial registered, never run",1',
        "not_obtained,investigators declined,1",
    ]
    path = tmp_path / "flow.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read_flow(path) == read_flow(toml_path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "ipd_obtained = 10",
            "ipd_obtained = 9",
            "ipd_obtained \\+ aggregate_only \\+ neither = 10",
        ),
        ("ipd_sought = 11", "ipd_sought = 13", "exceeds the trials identified"),
        ('"investigators declined" = 1', '"investigators declined" = 2', "add up to 2"),
        ("neither = 0", "neither = 0.5", "whole number"),
        ("[records]", "[recrods]", "unknown section"),
        ("neither = 0", "", "missing: neither"),
    ],
)
def test_inconsistent_counts_are_refused(tmp_path, old, new, message):
    path = tmp_path / "bad.toml"
    path.write_text(TOML.replace(old, new), encoding="utf-8")
    with pytest.raises(SpecError, match=message):
        read_flow(path)


def test_counts_must_agree_with_the_data(tmp_path, data):
    _, ipd, result = data
    path = tmp_path / "flow.toml"
    path.write_text(
        TOML.replace("ipd_obtained = 10", "ipd_obtained = 9")
        .replace("neither = 0", "neither = 1")
        .replace('"investigators declined" = 1', '"investigators declined" = 2'),
        encoding="utf-8",
    )
    with pytest.raises(SpecError, match="ipd_obtained = 9, but the participant data hold 10"):
        read_flow(path, ipd=ipd)
    path.write_text(
        TOML.replace("aggregate_only = 1", "aggregate_only = 0").replace(
            "neither = 0", "neither = 1"
        ),
        encoding="utf-8",
    )
    with pytest.raises(SpecError, match="aggregate_only = 0, but the analysis pooled 1"):
        read_flow(path, two_stage=result)


def test_missing_or_unknown_file(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        read_flow(tmp_path / "none.toml")
    other = tmp_path / "flow.json"
    other.write_text("{}", encoding="utf-8")
    with pytest.raises(SpecError, match=r"\.toml or \.csv"):
        read_flow(other)


def test_flow_is_frozen(toml_path):
    flow = read_flow(toml_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        flow.identified = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        flow.not_obtained["x"] = 1  # type: ignore[index]


def test_diagram_and_shipped_example(data):
    ipd = data[1]
    shipped = read_flow(dataset_path("bcg_flow.toml"))
    assert (shipped.ipd_obtained, shipped.aggregate_only, shipped.neither) == (13, 1, 1)
    fig = flow_diagram(shipped)
    assert isinstance(fig, Figure)
    texts = "\n".join(t.get_text() for t in fig.axes[0].texts)
    assert "IPD obtained: 13 trial(s)" in texts and "IPD not obtained: 2 trial(s)" in texts
    flow = PrismaFlow(
        identified=10,
        ipd_sought=10,
        ipd_obtained=10,
        aggregate_only=0,
        neither=0,
        participants={s: 1 for s in ipd.studies},
        excluded_trials={"T07": "too few rows"},
    )
    texts = "\n".join(t.get_text() for t in flow_diagram(flow).axes[0].texts)
    assert "Trials excluded from stage one: 1" in texts and "T07: too few rows" in texts
