"""Tests of bayes_ipd.datasets: shipped files, loaders and the BCG expansion."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pytest

from bayes_ipd import datasets
from bayes_ipd.data import IPD
from bayes_ipd.datasets import _generate


def test_bcg_aggregate_is_the_published_table():
    table = datasets.load_bcg_aggregate()
    assert table.shape == (13, 11)
    assert list(table.columns) == [
        "trial", "author", "year", "tpos", "tneg", "cpos", "cneg", "ablat", "alloc", "yi", "vi",
    ]  # fmt: skip
    # Colditz et al. 1994 via metadat dat.bcg: trial 1 is Aronson 1948, 4/119 vs 11/128
    first = table.iloc[0]
    assert (first["author"], first["year"]) == ("Aronson", 1948)
    assert (first["tpos"], first["tneg"], first["cpos"], first["cneg"]) == (4, 119, 11, 128)


def test_bcg_yi_is_the_log_risk_ratio_of_the_counts():
    # metafor escalc(measure = "RR"): yi = log(tpos/n1) - log(cpos/n0), vi = 1/tpos - 1/n1 + ...
    t = datasets.load_bcg_aggregate()
    n1, n0 = t["tpos"] + t["tneg"], t["cpos"] + t["cneg"]
    yi = np.log(t["tpos"] / n1) - np.log(t["cpos"] / n0)
    vi = 1 / t["tpos"] - 1 / n1 + 1 / t["cpos"] - 1 / n0
    np.testing.assert_allclose(t["yi"], yi, atol=1e-9)
    np.testing.assert_allclose(t["vi"], vi, atol=1e-9)


def test_bcg_participant_rows_expand_the_counts_exactly():
    rows = datasets.bcg_participant_rows()
    assert list(rows.columns) == ["trial", "treat", "event"]
    # REFERENCES.md (Colditz et al. 1994 counts): 357,347 participants, 2,575 tuberculosis cases
    assert len(rows) == 357_347
    assert int(rows["event"].sum()) == 2_575
    table = datasets.load_bcg_aggregate()
    labels = table["author"] + " " + table["year"].astype(str)
    assert rows["trial"].unique().tolist() == labels.tolist()
    assert labels.is_unique
    cells = rows.groupby(["trial", "treat", "event"], sort=False).size()
    for label, row in zip(labels, table.itertuples(), strict=True):
        assert cells[(label, 1, 1)] == row.tpos
        assert cells[(label, 1, 0)] == row.tneg
        assert cells[(label, 0, 1)] == row.cpos
        assert cells[(label, 0, 0)] == row.cneg


def test_bcg_ipd():
    ipd = datasets.load_bcg_ipd()
    assert isinstance(ipd, IPD)
    assert ipd.family == "binomial"
    assert (ipd.k, ipd.n) == (13, 357_347)
    table = datasets.load_bcg_aggregate()
    summary = ipd.summary_frame()
    np.testing.assert_array_equal(summary["n_treated"], table["tpos"] + table["tneg"])
    np.testing.assert_array_equal(summary["n_control"], table["cpos"] + table["cneg"])
    np.testing.assert_array_equal(summary["events"], table["tpos"] + table["cpos"])
    assert ipd.studies[0] == "Aronson 1948"


def test_shipped_bcg_rows_file_is_the_expansion_of_the_counts():
    from importlib.resources import files

    shipped = pd.read_csv(files("bayes_ipd.datasets") / "bcg_ipd.csv.gz")
    pd.testing.assert_frame_equal(shipped, datasets.bcg_participant_rows(), check_dtype=False)


@pytest.mark.parametrize(
    ("loader", "name", "rows"),
    [
        # row counts from REFERENCES.md
        (datasets.load_huber2000, "huber2000.csv", 601),
        (datasets.load_lanza, "lanza.csv", 198),
        (datasets.load_ovarian, "ovarian.csv", 1_192),
        (datasets.load_bcg_aggregate, "bcg.csv", 13),
    ],
)
def test_real_files_are_shipped_unchanged(loader, name, rows):
    frame = loader()
    assert len(frame) == rows
    pd.testing.assert_frame_equal(frame, pd.read_csv(resources.files("bayes_ipd.datasets") / name))


def test_real_multi_trial_sets_have_their_trials():
    # REFERENCES.md: 5 trials (huber2000), 4 trials I-IV (lanza), 50 centres (ovarian)
    assert datasets.load_huber2000()["study"].nunique() == 5
    assert sorted(datasets.load_lanza()["study"].unique()) == ["I", "II", "III", "IV"]
    assert datasets.load_ovarian()["Center"].nunique() == 50


def test_loaders_return_fresh_objects():
    first = datasets.load_bp_trials()
    first.loc[0, "sbp_final"] = -1.0
    assert datasets.load_bp_trials().loc[0, "sbp_final"] != -1.0


def test_sources_document_every_shipped_file():
    folder = resources.files("bayes_ipd.datasets")
    sources = folder.joinpath("SOURCES.md").read_text(encoding="utf-8")
    shipped = sorted(
        p.name for p in folder.iterdir() if p.name.endswith((".csv", ".csv.gz", ".toml"))
    )
    assert {"bcg.csv", "bp_trials.csv", "huber2000.csv", "lanza.csv", "ovarian.csv",
            "survival_trials.csv", "hackshaw1998.csv"} <= set(shipped)  # fmt: skip
    headings = [line for line in sources.splitlines() if line.startswith("## ")]
    for name in shipped:
        assert any(name in heading for heading in headings), name
    for licence in ("GPL-2+", "GPL≥2", "GPL-2"):
        assert licence in sources
    assert str(_generate.BP_SEED) in sources and str(_generate.SURVIVAL_SEED) in sources


def test_bp_trials_match_their_recipe():
    shipped = datasets.load_bp_trials()
    regenerated, _ = _generate.bp_trials()
    assert list(shipped.columns) == ["trial", "treat", "sbp_baseline", "sbp_final", "age"]
    assert len(shipped) == sum(_generate.BP_SIZES) == 2_000
    pd.testing.assert_frame_equal(shipped, regenerated, check_exact=False, atol=1e-9, rtol=0)


def test_bp_ipd():
    ipd = datasets.load_bp_ipd()
    assert ipd.family == "gaussian" and ipd.k == 10 and ipd.n == 2_000
    assert ipd.columns.outcome == "sbp_final"
    assert ipd.covariate_names == ("sbp_baseline", "age")
    assert list(ipd.n_per_study.values()) == list(_generate.BP_SIZES)


def test_survival_trials_match_their_recipe():
    shipped = datasets.load_survival_trials()
    regenerated, _ = _generate.survival_trials()
    expected_columns = ["trial", "treat", "smoking", "sbp", "age", "bmi", "time", "event"]
    assert list(shipped.columns) == expected_columns
    assert len(shipped) == sum(_generate.SURVIVAL_SIZES)
    pd.testing.assert_frame_equal(shipped, regenerated, check_exact=False, atol=1e-9, rtol=0)
    assert (shipped["time"] > 0).all() and (shipped["time"] <= 5.0).all()
    assert set(shipped["smoking"]) == {0, 1} and set(shipped["event"]) == {0, 1}


def test_survival_file_is_small():
    size = len(resources.files("bayes_ipd.datasets").joinpath("survival_trials.csv").read_bytes())
    assert size < 2_000_000


def test_survival_ipd():
    ipd = datasets.load_survival_ipd()
    assert ipd.family == "survival" and ipd.k == 10
    assert 300 <= min(ipd.n_per_study.values()) <= max(ipd.n_per_study.values()) <= 800
    assert ipd.covariate_names == ("smoking", "sbp", "age", "bmi")
    assert all(events > 0 for events in ipd.events_per_study.values())
