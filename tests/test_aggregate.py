"""Tests of bayes_ipd.two_stage.aggregate: per-trial (estimate, SE) tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.errors import PoolingError
from bayes_ipd.two_stage.aggregate import SCALES, AggregateData

# First three BCG trials (Colditz et al. 1994; metadat::dat.bcg, metafor escalc "RR"):
# trial, tpos + tneg (vaccinated n), events tpos, yi, vi.
BCG3 = pd.DataFrame(
    {
        "trial": [1, 2, 3],
        "author": ["Aronson", "Ferguson & Simes", "Rosenthal et al"],
        "n": [123, 306, 231],
        "events": [4, 6, 3],
        "yi": [-0.8893113339, -1.5853886572, -1.3480731483],
        "sei": np.sqrt([0.325584765, 0.1945811214, 0.4153679654]),
    }
)


def make(**kw) -> AggregateData:
    base = {
        "studies": ("A", "B", "C"),
        "estimate": np.array([0.1, 0.2, 0.3]),
        "se": np.array([0.1, 0.2, 0.3]),
    }
    base.update(kw)
    return AggregateData(**base)


def test_from_frame_reads_columns_and_labels() -> None:
    agg = AggregateData.from_frame(
        BCG3, estimate="yi", se="sei", study="author", n="n", events="events", scale="logRR"
    )
    assert agg.studies == ("Aronson", "Ferguson & Simes", "Rosenthal et al")
    np.testing.assert_array_equal(agg.estimate, BCG3["yi"].to_numpy())
    np.testing.assert_array_equal(agg.se, BCG3["sei"].to_numpy())
    np.testing.assert_array_equal(agg.n, [123, 306, 231])
    assert agg.n.dtype == np.int64 and agg.events.dtype == np.int64
    assert agg.excluded == (None, None, None)
    assert agg.scale == "logRR" and agg.term == "treat" and agg.k == 3


def test_labels_are_strings_and_default_to_row_numbers() -> None:
    numbered = AggregateData.from_frame(BCG3, estimate="yi", se="sei", study="trial")
    assert numbered.studies == ("1", "2", "3")
    unnamed = AggregateData.from_frame(BCG3, estimate="yi", se="sei")
    assert unnamed.studies == ("1", "2", "3")


def test_from_frame_leaves_the_input_alone() -> None:
    before = BCG3.copy(deep=True)
    agg = AggregateData.from_frame(BCG3, estimate="yi", se="sei")
    pd.testing.assert_frame_equal(BCG3, before)
    assert not agg.estimate.flags.writeable and not agg.se.flags.writeable


def test_arrays_are_copied_and_read_only() -> None:
    est = np.array([0.1, 0.2, 0.3])
    agg = make(estimate=est)
    est[0] = 99.0
    assert agg.estimate[0] == 0.1
    with pytest.raises(ValueError):
        agg.estimate[0] = 1.0


def test_missing_column_lists_existing_columns() -> None:
    with pytest.raises(PoolingError, match=r"'logrr'.*not found.*trial, author, n, events, yi"):
        AggregateData.from_frame(BCG3, estimate="logrr", se="sei")


def test_non_numeric_column_names_column_and_value() -> None:
    df = BCG3.assign(sei=["0.57", "n/a", "0.64"])
    with pytest.raises(PoolingError, match=r"column 'sei' is not numeric.*'n/a'"):
        AggregateData.from_frame(df, estimate="yi", se="sei")


def test_missing_value_names_the_trial() -> None:
    df = BCG3.assign(yi=[-0.89, np.nan, -1.35])
    with pytest.raises(PoolingError, match=r"column 'yi': trial 'Ferguson & Simes'"):
        AggregateData.from_frame(df, estimate="yi", se="sei", study="author")


def test_excluded_rows_may_lack_an_estimate() -> None:
    df = BCG3.assign(yi=[-0.89, np.nan, -1.35], why=[None, "no events", ""])
    agg = AggregateData.from_frame(df, estimate="yi", se="sei", excluded="why")
    assert agg.excluded == (None, "no events", None)
    assert agg.n_excluded == 1
    kept = agg.included()
    assert kept.studies == ("1", "3") and kept.excluded == (None, None)
    np.testing.assert_array_equal(kept.estimate, [-0.89, -1.35])


@pytest.mark.parametrize("bad_se", [0.0, -0.2, np.nan, np.inf])
def test_bad_se_names_trial_and_value(bad_se: float) -> None:
    with pytest.raises(PoolingError, match=r"trial 'B': se is"):
        make(se=np.array([0.1, bad_se, 0.3]))


def test_non_finite_estimate_names_the_trial() -> None:
    with pytest.raises(PoolingError, match=r"trial 'C': estimate is inf"):
        make(estimate=np.array([0.1, 0.2, np.inf]))


def test_unequal_lengths_duplicates_scale_and_counts() -> None:
    with pytest.raises(PoolingError, match=r"se has shape \(2,\); expected \(3,\)"):
        make(se=np.array([0.1, 0.2]))
    with pytest.raises(PoolingError, match="'A' appears more than once"):
        make(studies=("A", "B", "A"))
    with pytest.raises(PoolingError, match="unknown effect scale 'OR'"):
        make(scale="OR")
    with pytest.raises(PoolingError, match=r"excluded has 2 entries"):
        make(excluded=(None, "x"))
    with pytest.raises(PoolingError, match=r"trial 'B': n is 2.5"):
        make(n=np.array([10, 2.5, 7]))
    with pytest.raises(PoolingError, match=r"trial 'C': events \(9\) exceed n \(7\)"):
        make(n=np.array([10, 10, 7]), events=np.array([1, 2, 9]))


def test_every_declared_scale_is_accepted() -> None:
    for scale in SCALES:
        assert make(scale=scale).scale == scale


def test_to_frame_columns_and_round_trip() -> None:
    agg = make(n=np.array([10, 20, 30]), excluded=(None, "separation", None))
    frame = agg.to_frame()
    assert list(frame.columns) == ["study", "estimate", "se", "n", "events", "excluded"]
    assert frame["events"].isna().all()
    back = AggregateData.from_frame(
        frame, estimate="estimate", se="se", study="study", n="n", excluded="excluded"
    )
    assert back == agg


def test_read_csv_round_trip(tmp_path) -> None:
    path = tmp_path / "trials.csv"
    BCG3.to_csv(path, index=False)
    agg = AggregateData.read_csv(path, estimate="yi", se="sei", study="author", scale="logRR")
    assert agg.studies[0] == "Aronson"
    np.testing.assert_allclose(agg.se, BCG3["sei"].to_numpy())


def test_read_csv_errors_name_the_path(tmp_path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(PoolingError, match=r"empty\.csv: the file is empty"):
        AggregateData.read_csv(empty, estimate="yi", se="sei")
    with pytest.raises(PoolingError, match=r"absent\.csv: file not found"):
        AggregateData.read_csv(tmp_path / "absent.csv", estimate="yi", se="sei")
    header_only = tmp_path / "header.csv"
    header_only.write_text("yi,sei\n")
    with pytest.raises(PoolingError, match=r"header\.csv: .*no rows"):
        AggregateData.read_csv(header_only, estimate="yi", se="sei")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    with pytest.raises(PoolingError, match=r"wrong\.csv: column\(s\) 'yi'"):
        AggregateData.read_csv(wrong, estimate="yi", se="sei")


def test_from_frame_strips_trial_labels() -> None:
    df = pd.DataFrame({"trial": [" A", "B ", "\tC "], "yi": [0.1, 0.2, 0.3], "sei": [0.1] * 3})
    before = df.copy(deep=True)
    agg = AggregateData.from_frame(df, estimate="yi", se="sei", study="trial")
    assert agg.studies == ("A", "B", "C")
    pd.testing.assert_frame_equal(df, before)


def test_labels_equal_after_stripping_are_duplicates() -> None:
    df = pd.DataFrame({"trial": ["A", " A", "B"], "yi": [0.1, 0.2, 0.3], "sei": [0.1] * 3})
    with pytest.raises(PoolingError, match=r"trial label 'A' appears more than once"):
        AggregateData.from_frame(df, estimate="yi", se="sei", study="trial")


def test_read_csv_refuses_a_duplicated_column_name(tmp_path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("trial,yi,sei,yi\nA,0.1,0.1,0.5\nB,0.2,0.1,0.6\n")
    with pytest.raises(
        PoolingError,
        match=r"dup\.csv: the header names column 'yi' twice; column names must be unique",
    ):
        AggregateData.read_csv(path, estimate="yi", se="sei", study="trial")


def test_read_csv_keeps_trial_labels_as_written(tmp_path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("trial,yi,sei\nNA,0.1,0.1\nNone,0.2,0.1\n007,0.3,0.1\n7,0.4,0.1\n1e3,0.5,0.1\n")
    agg = AggregateData.read_csv(path, estimate="yi", se="sei", study="trial")
    assert agg.studies == ("NA", "None", "007", "7", "1e3")


def test_read_csv_empty_trial_label_is_missing(tmp_path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("trial,yi,sei\nA,0.1,0.1\n,0.2,0.1\n")
    with pytest.raises(PoolingError, match=r"column 'trial': row 2 has no trial label"):
        AggregateData.read_csv(path, estimate="yi", se="sei", study="trial")
