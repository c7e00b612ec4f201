"""A spec of aggregate data alone needs no outcome column; participant rows still do."""

from __future__ import annotations

from pathlib import Path

import pytest

from bayes_ipd.errors import SpecError
from bayes_ipd.spec import parse_analysis_spec

_AD_ONLY = """
[data]
aggregate = "published.csv"
study = "study"
treatment = "treat"
family = "gaussian"
"""


def test_aggregate_data_alone_needs_no_outcome(tmp_path: Path) -> None:
    spec = parse_analysis_spec(_AD_ONLY, tmp_path)
    assert spec.data.outcome is None
    assert spec.data.aggregate == tmp_path / "published.csv"


def test_participant_rows_still_need_their_outcome(tmp_path: Path) -> None:
    text = _AD_ONLY.replace('aggregate = "published.csv"', 'path = "rows.csv"')
    with pytest.raises(SpecError, match=r"data\.outcome is required for family 'gaussian'"):
        parse_analysis_spec(text, tmp_path)
