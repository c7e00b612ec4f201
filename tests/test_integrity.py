"""Data-integrity check: recomputed vs published per-trial results."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.cli import main
from bayes_ipd.data import IPD
from bayes_ipd.datasets import bcg_participant_rows, load_bcg_published, load_bp_trials
from bayes_ipd.errors import IPDDataError
from bayes_ipd.two_stage.integrity import (
    DEFAULT_THRESHOLD,
    TABLE_COLUMNS,
    check_integrity,
    read_published,
)

SMALL_BCG = ["Aronson 1948", "Ferguson & Simes 1949", "Rosenthal et al 1960"]


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return load_bp_trials()


@pytest.fixture(scope="module")
def bp(rows) -> IPD:
    return IPD.from_frame(
        rows,
        study="trial",
        treatment="treat",
        outcome="sbp_final",
        covariates=["sbp_baseline", "age"],
        family="gaussian",
    )


def _ols(rows: pd.DataFrame, trial: str, covariates: list[str]) -> tuple[float, float]:
    """Treatment coefficient and classical SE by least squares, written out."""
    part = rows[rows["trial"] == trial]
    x = np.column_stack([np.ones(len(part)), part["treat"], *(part[c] for c in covariates)])
    y = part["sbp_final"].to_numpy()
    beta, rss, *_ = np.linalg.lstsq(x, y, rcond=None)
    sigma2 = float(rss[0]) / (len(y) - x.shape[1])
    return float(beta[1]), math.sqrt(sigma2 * np.linalg.inv(x.T @ x)[1, 1])


@pytest.fixture(scope="module")
def bp_published(rows) -> pd.DataFrame:
    records = []
    for i, trial in enumerate(sorted(rows["trial"].unique())[:6]):
        covariates = ["sbp_baseline"] if i % 2 else []
        est, se = _ols(rows, trial, covariates)
        records.append(
            {
                "study": trial,
                "estimate": est,
                "se": se,
                "scale": "MD",
                "adjusted_for": ";".join(covariates),
                "n": int((rows["trial"] == trial).sum()),
            }
        )
    return pd.DataFrame(records)


def test_shipped_bcg_results_are_reproduced_exactly():
    # a 2x2 table's logistic MLE is the closed-form log odds ratio, its SE Woolf's
    rows = bcg_participant_rows()
    rows = rows[rows["trial"].isin(SMALL_BCG)]
    ipd = IPD.from_frame(rows, study="trial", treatment="treat", outcome="event", family="binomial")
    result = check_integrity(ipd, load_bcg_published())
    table = result.table()
    assert list(table.columns) == list(TABLE_COLUMNS)
    compared = table[table["study"].isin(SMALL_BCG)]
    assert np.abs(compared["difference_se_units"]).max() < 1e-4
    assert np.allclose(compared["se_ratio"], 1.0, atol=1e-5)
    assert list(compared["ipd_n"]) == list(compared["published_n"])
    assert result.flagged == ()
    others = table[~table["study"].isin(SMALL_BCG)]
    assert len(others) == 10 and set(others["note"]) == {"not in the IPD"}
    assert result.threshold == DEFAULT_THRESHOLD == 0.5


def test_adjusted_and_unadjusted_analyses_are_recomputed_as_published(bp, bp_published):
    table = check_integrity(bp, bp_published).table().set_index("study")
    published = bp_published.set_index("study")
    np.testing.assert_allclose(
        table.loc[published.index, "recomputed_estimate"], published["estimate"], rtol=1e-9
    )
    np.testing.assert_allclose(
        table.loc[published.index, "recomputed_se"], published["se"], rtol=1e-9
    )
    assert table.loc["T02", "adjusted_for"] == "sbp_baseline"
    # IPD trials without a published result are listed, not compared
    assert table.loc["T10", "note"] == "no published result"
    assert not table["flagged"].any()


def test_a_discrepancy_beyond_the_threshold_is_flagged(bp, bp_published):
    shifted = bp_published.copy()
    shifted.loc[1, "estimate"] += 0.8 * shifted.loc[1, "se"]  # T02 published 0.8 SE higher
    result = check_integrity(bp, shifted)
    row = result.table().set_index("study").loc["T02"]
    assert row["difference_se_units"] == pytest.approx(-0.8, abs=1e-8)
    assert result.flagged == ("T02",)
    assert check_integrity(bp, shifted, threshold=1.0).flagged == ()
    assert "T02" in str(result) and "FLAG" in str(result)


def test_published_ratio_with_a_confidence_interval_is_log_transformed():
    bcg = load_bcg_published().iloc[:3]
    z = 1.959963984540054
    natural = pd.DataFrame(
        {
            "study": bcg["study"],
            "estimate": np.exp(bcg["estimate"]),
            "ci_low": np.exp(bcg["estimate"] - z * bcg["se"]),
            "ci_high": np.exp(bcg["estimate"] + z * bcg["se"]),
            "scale": "OR",
        }
    )
    entries = read_published(natural)
    assert [e.scale for e in entries] == ["logOR"] * 3
    np.testing.assert_allclose([e.se for e in entries], bcg["se"], rtol=1e-12)
    np.testing.assert_allclose([e.estimate for e in entries], bcg["estimate"], rtol=1e-12)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scale": "logOR"}, "on the logOR scale; the gaussian stage-one model estimates a MD"),
        ({"adjusted_for": "bmi"}, "adjusted for 'bmi', not among the IPD covariates"),
        ({"se": -1.0}, "se is -1; it must be positive"),
        ({"se": "big"}, "se is 'big', not a number"),
        ({"scale": "SMD"}, "unknown scale 'SMD'"),
    ],
)
def test_bad_published_rows_are_refused_by_trial(bp, bp_published, change, message):
    bad = bp_published.copy().astype({"se": object})
    for column, value in change.items():
        bad.loc[0, column] = value
    with pytest.raises(IPDDataError, match=message):
        check_integrity(bp, bad)


def test_bad_published_tables_are_refused(bp, bp_published):
    with pytest.raises(IPDDataError, match=r"se \(or ci_low and ci_high\)"):
        check_integrity(bp, bp_published.drop(columns="se"))
    with pytest.raises(IPDDataError, match="'T01' is listed twice"):
        check_integrity(bp, pd.concat([bp_published, bp_published.iloc[:1]]))
    with pytest.raises(IPDDataError, match="threshold must be a positive"):
        check_integrity(bp, bp_published, threshold=0)


def test_cli_check_integrity(rows, bp_published, tmp_path, capsys):
    data, published = tmp_path / "ipd.csv", tmp_path / "published.csv"
    rows.to_csv(data, index=False)
    shifted = bp_published.copy()
    shifted.loc[2, "estimate"] -= 2.0 * shifted.loc[2, "se"]
    shifted.to_csv(published, index=False)
    argv = [
        "check-integrity",
        str(data),
        "--study",
        "trial",
        "--treatment",
        "treat",
        "--family",
        "gaussian",
        "--outcome",
        "sbp_final",
        "--published",
        str(published),
    ]
    code = main([*argv, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["flagged"] == ["T03"] and out["threshold"] == 0.5
    assert out["trials"][2]["difference_se_units"] == pytest.approx(2.0, abs=1e-8)
    code = main([*argv, "--threshold", "3"])
    assert code == 0 and "0 trial(s) flagged" in capsys.readouterr().out
    shifted.assign(se=shifted["se"].where(shifted.index != 1, 0.0)).to_csv(published, index=False)
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        code == 2 and err == "error: published results: trial 'T02': se is 0; it must be positive"
    )
