"""The network data value (bayes_ipd/data/network.py): structure and refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.data.network import network_from_frame
from bayes_ipd.datasets import load_hasselblad1998, load_hasselblad1998_rows
from bayes_ipd.errors import IPDDataError


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return load_hasselblad1998_rows()


@pytest.fixture(scope="module")
def network(rows):
    return network_from_frame(
        rows, study="study", treatment="treatment", reference="no_contact", outcome="quit"
    )


def tiny(designs: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """Two rows (one event, one not) per arm of each trial."""
    return pd.DataFrame(
        [(s, t, y) for s, arms in designs.items() for t in arms for y in (0, 1)],
        columns=["s", "t", "y"],
    )


def test_rows_expand_the_arm_counts_exactly(rows):
    arms = load_hasselblad1998()
    assert len(rows) == arms.ni.sum() == 16740
    assert rows.quit.sum() == arms.xi.sum()


def test_treatments_reference_first_then_sorted(network):
    assert network.treatments == ("no_contact", "grp_counseling", "ind_counseling", "self_help")
    assert network.k == 24 and network.n == 16740


def test_arms_designs_and_comparisons(network):
    arms = network.arm_table()
    published = load_hasselblad1998()
    assert len(arms) == 50
    assert sorted(arms.n) == sorted(published.ni)
    designs = network.design_table().set_index("design").trials
    # counted by hand from dat.hasselblad1998: 14 two-arm no_contact vs ind_counseling, ...
    assert designs.to_dict() == {
        "no_contact:ind_counseling": 14,
        "no_contact:grp_counseling:ind_counseling": 1,
        "ind_counseling:self_help": 1,
        "grp_counseling:ind_counseling:self_help": 1,
        "no_contact:self_help": 3,
        "grp_counseling:ind_counseling": 2,
        "grp_counseling:self_help": 1,
        "no_contact:grp_counseling": 1,
    }
    assert designs.sum() == 24
    comparisons = network.comparison_table().set_index("comparison").trials
    assert comparisons["ind_counseling vs no_contact"] == 15  # 14 + the three-arm trial
    assert comparisons["ind_counseling vs grp_counseling"] == 4  # 2 + both three-arm trials
    assert comparisons.sum() == 22 * 1 + 2 * 3


def test_trial_reference_arm(network):
    reid = network.studies.index("Reid et al. 1974")
    mothersill = network.studies.index("Mothersill et al. 1988")  # grp, ind, self: no no_contact
    assert network.trial_reference(reid) == "no_contact"
    assert network.trial_reference(mothersill) == "grp_counseling"


def test_input_not_modified(rows):
    before = rows.copy()
    network_from_frame(
        rows, study="study", treatment="treatment", reference="no_contact", outcome="quit"
    )
    pd.testing.assert_frame_equal(rows, before)


def test_codes_are_read_only(network):
    with pytest.raises(ValueError):
        network.study_codes[0] = 3


def test_one_arm_trial_refused_naming_it():
    data = tiny({"T1": ("A", "B"), "T2": ("B",), "T3": ("A", "C")})
    with pytest.raises(IPDDataError, match=r"one arm.*'T2' \(only 'B'\)"):
        network_from_frame(data, study="s", treatment="t", reference="A", outcome="y")


def test_disconnected_network_names_its_parts():
    data = tiny({"T1": ("A", "B"), "T2": ("C", "D"), "T3": ("D", "E")})
    with pytest.raises(IPDDataError, match="disconnected") as err:
        network_from_frame(data, study="s", treatment="t", reference="A", outcome="y")
    text = str(err.value)
    assert "{A, B} (trials 'T1')" in text and "{C, D, E} (trials 'T2', 'T3')" in text


def test_unknown_reference_lists_the_levels():
    data = tiny({"T1": ("A", "B")})
    with pytest.raises(IPDDataError, match=r"reference 'Placebo' is not a level.*'A', 'B'"):
        network_from_frame(data, study="s", treatment="t", reference="Placebo", outcome="y")


@pytest.mark.parametrize("bad", ["", "  ", None])
def test_empty_or_missing_treatment_level_refused(bad):
    data = tiny({"T1": ("A", "B"), "T2": ("A", "B")})
    data.loc[2, "t"] = bad
    with pytest.raises(IPDDataError, match="treatment column 't'"):
        network_from_frame(data, study="s", treatment="t", reference="A", outcome="y")


def test_bad_outcome_and_missing_column_refused():
    data = tiny({"T1": ("A", "B")})
    data.loc[0, "y"] = 2
    with pytest.raises(IPDDataError, match="must be 0 or 1"):
        network_from_frame(data, study="s", treatment="t", reference="A", outcome="y")
    with pytest.raises(IPDDataError, match="outcome='z'"):
        network_from_frame(data, study="s", treatment="t", reference="A", outcome="z")


def test_row_order_does_not_change_the_structure(rows, network):
    shuffled = rows.sample(frac=1.0, random_state=np.random.default_rng(1))
    other = network_from_frame(
        shuffled, study="study", treatment="treatment", reference="no_contact", outcome="quit"
    )
    assert other.treatments == network.treatments
    pd.testing.assert_frame_equal(
        other.design_table().sort_values("design").reset_index(drop=True)[["design", "trials"]],
        network.design_table().sort_values("design").reset_index(drop=True)[["design", "trials"]],
    )
