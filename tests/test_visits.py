"""Long data (issue 27, item 1): ``bayes_ipd.data.visits.repeated_from_frame`` — visit
order, counts, and each refusal naming trial, participant and visit."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.data.visits import repeated_from_frame
from bayes_ipd.errors import IPDDataError

KW = {"study": "trial", "treatment": "t", "outcome": "y", "participant": "id", "visit": "wk"}


def _rows(visits=(4, 8, 12)) -> pd.DataFrame:
    """Two trials, two participants per arm, every visit; participant p4 misses the last."""
    out = []
    for trial in ("A", "B"):
        for j in range(4):
            for v in visits:
                out.append(
                    {
                        "trial": trial,
                        "id": f"{trial}{j}",
                        "t": j % 2,
                        "wk": v,
                        "y": float(j + len(out) % 3),
                        "age": 40.0 + j,
                    }
                )
    frame = pd.DataFrame(out)
    return frame[~((frame["id"] == "B3") & (frame["wk"] == visits[-1]))].reset_index(drop=True)


def test_numeric_visits_in_numeric_order_and_counts():
    rows = _rows((12, 4, 8))  # order of appearance is not the order of visits
    data = repeated_from_frame(rows, covariates=["age"], **KW)
    assert data.visits == ("4", "8", "12")
    table = data.counts_table()
    assert table.loc[("B", "treated"), "8"] == 1  # B3 (treated) has no visit 8 (the last)
    assert table.loc[("A", "control"), "12"] == 2
    assert data.counts["n"].sum() == len(rows)
    assert data.n_participants == 8


def test_named_visits_need_their_order():
    rows = _rows(("base", "mid", "end"))
    with pytest.raises(IPDDataError, match=r"named visits.*visit_order"):
        repeated_from_frame(rows, **KW)
    data = repeated_from_frame(rows, visit_order="base,mid,end", **KW)
    assert data.visits == ("base", "mid", "end")
    assert data.visit[:3].tolist() == [0, 1, 2]


def test_visit_order_refusals():
    rows = _rows(("base", "mid", "end"))
    with pytest.raises(IPDDataError, match=r"'late'.*seen in no trial"):
        repeated_from_frame(rows, visit_order=["base", "mid", "end", "late"], **KW)
    with pytest.raises(IPDDataError, match=r"'end'.*not in visit_order"):
        repeated_from_frame(rows, visit_order="base,mid", **KW)
    with pytest.raises(IPDDataError, match="more than once"):
        repeated_from_frame(rows, visit_order="base,mid,mid,end", **KW)
    with pytest.raises(IPDDataError, match="visit_order is for named visits"):
        repeated_from_frame(_rows(), visit_order="4,8,12", **KW)


def test_participant_in_two_trials_is_refused_naming_both():
    rows = _rows()
    rows.loc[rows["id"] == "B0", "id"] = "A0"
    with pytest.raises(IPDDataError) as info:
        repeated_from_frame(rows, **KW)
    message = str(info.value)
    assert "'A0' is in two trials" in message and "trial 'A'" in message
    assert "trial 'B'" in message and "visit '4'" in message


def test_participant_in_two_arms_is_refused():
    rows = _rows()
    rows.loc[(rows["id"] == "A1") & (rows["wk"] == 8), "t"] = 0
    with pytest.raises(IPDDataError, match=r"'A1' is in both arms.*trial 'A'.*visit '8'"):
        repeated_from_frame(rows, **KW)


def test_duplicated_participant_visit_is_refused():
    rows = _rows()
    rows = pd.concat([rows, rows.iloc[[5]]], ignore_index=True)
    with pytest.raises(
        IPDDataError,
        match=r"two rows of one participant at one visit: trial "
        r"'A', participant 'A1', visit '12'",
    ):
        repeated_from_frame(rows, **KW)


def test_covariate_varying_within_participant_is_refused():
    rows = _rows()
    rows.loc[(rows["id"] == "B2") & (rows["wk"] == 12), "age"] = 99.0
    with pytest.raises(
        IPDDataError,
        match=r"covariate 'age' changes.*trial 'B', participant "
        r"'B2', visit '12' has '99'.*baseline",
    ):
        repeated_from_frame(rows, covariates=["age"], **KW)


def test_missing_keys_refused_and_missing_outcome_dropped_counted():
    rows = _rows()
    bad = rows.copy()
    bad.loc[3, "wk"] = np.nan
    with pytest.raises(IPDDataError, match="visit column 'wk' is missing in 1 row"):
        repeated_from_frame(bad, **KW)
    gap = rows.copy()
    gap.loc[2, "y"] = np.nan
    with pytest.raises(IPDDataError):
        repeated_from_frame(gap, **KW)
    data = repeated_from_frame(gap, missing="drop", **KW)
    assert dict(data.ipd.dropped) == {"A": 1} and data.ipd.n == len(rows) - 1
    with pytest.raises(IPDDataError, match="missing='error' or 'drop'"):
        repeated_from_frame(rows, missing="impute", **KW)


def test_long_data_raise_no_repeated_profile_warning_and_input_unchanged():
    rows = _rows()
    before = rows.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        repeated_from_frame(rows, covariates=["age"], **KW)
    pd.testing.assert_frame_equal(rows, before)


# --- [data] visit, visit_order (checked; a run fits them: tests/test_repeated_run.py) -------


def _data_table(**extra):
    from pathlib import Path

    from bayes_ipd.spec import DataSection

    base = {"path": "rows.csv", "study": "trial", "treatment": "t", "outcome": "y"}
    return DataSection.from_dict({**base, "family": "gaussian", **extra}, Path("/tmp"))


def test_spec_visit_keys_are_checked_and_written_back():
    from bayes_ipd.errors import SpecError

    section = _data_table(participant="id", visit="wk", visit_order=["base", "end"])
    assert section.visit_order == ("base", "end")
    assert section.to_dict()["visit_order"] == ["base", "end"]
    assert "visit" not in _data_table().to_dict()
    with pytest.raises(SpecError, match=r"data\.visit needs data\.participant"):
        _data_table(visit="wk")
    with pytest.raises(SpecError, match=r"give data\.visit too"):
        _data_table(participant="id", visit_order=["a", "b"])
    with pytest.raises(SpecError, match="more than once"):
        _data_table(participant="id", visit="wk", visit_order=["a", "a"])


def test_long_rows_are_not_read_as_participant_rows():
    from bayes_ipd.analysis import load_analysis_data
    from bayes_ipd.errors import SpecError
    from bayes_ipd.spec import ModelSpec

    section = _data_table(participant="id", visit="wk")
    with pytest.raises(SpecError, match=r"long data are not participant rows.*repeated"):
        load_analysis_data(section, ModelSpec(), rows=_rows())
