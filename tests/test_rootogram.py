"""Hanging rootogram of count and ordinal predictive checks (plots/rootogram.py).

The observed frequencies drawn are read back from the figure's bars and compared with
frequencies counted here from the shipped participant rows (huber2000 counts, lanza
ordinal grades) with pandas, not with the package's sufficient statistics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.checks.ppc import PPCResult, ppc_table
from bayes_ipd.data import IPD
from bayes_ipd.datasets import load_huber2000, load_lanza
from bayes_ipd.one_stage.design import build_design
from bayes_ipd.plots.rootogram import rootogram_plot
from bayes_ipd.spec import ModelSpec


def _bars(fig):
    """{(trial, arm): (heights, bottoms)} of the observed bars, panel by panel."""
    out = {}
    for ax in fig.axes:
        bars = [p for p in ax.patches if p.get_gid() == "observed"]
        if bars:
            study, arm = ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start
            out[(study, arm)] = (
                np.array([b.get_height() for b in bars]),
                np.array([b.get_y() for b in bars]),
            )
    return out


def test_bars_hang_from_the_replicated_mean():
    table = pd.DataFrame(
        {
            "study": ["T1"] * 6,
            "arm": ["control"] * 3 + ["treated"] * 3,
            "category": ["0", "1", "2+"] * 2,
            "observed": [0.5, 0.3, 0.2, 0.7, 0.2, 0.1],
            "rep_mean": [0.45, 0.35, 0.2, 0.6, 0.25, 0.15],
            "rep_q025": [0.3, 0.2, 0.1, 0.5, 0.15, 0.05],
            "rep_q975": [0.6, 0.5, 0.3, 0.7, 0.35, 0.25],
        }
    )
    before = table.copy()
    bars = _bars(rootogram_plot(table))
    pd.testing.assert_frame_equal(table, before)  # input only read
    for arm, rows in enumerate((table.iloc[:3], table.iloc[3:])):
        height, bottom = bars[(0, arm)]
        np.testing.assert_allclose(height, np.sqrt(rows["observed"]))
        np.testing.assert_allclose(bottom, np.sqrt(rows["rep_mean"]) - np.sqrt(rows["observed"]))


def test_bad_tables_are_refused():
    good = pd.DataFrame(
        {"study": "T", "arm": "control", "category": ["0"], "observed": [0.2], "rep_mean": [0.3]}
    )
    with pytest.raises(ValueError, match=r"lacks column.*'category'"):
        rootogram_plot(good.drop(columns="category"))
    with pytest.raises(ValueError, match=r"'observed' must hold non-negative numbers.*-0.2"):
        rootogram_plot(good.assign(observed=-0.2))


def _check_of(design, observed):
    """A predictive check whose replicates differ from the observed values (so bars drawn
    from the replicates would fail the comparison with the observed frequencies)."""
    rep = {name: np.repeat(0.5 * value[None] + 0.05, 3, axis=0) for name, value in observed.items()}
    return PPCResult(
        ppc_table(design.studies, observed, rep),
        "mean",
        draws=3,
        frequencies=design.plugin.frequency_statistics(design),
    )


def _observed_shares(frame, study, arm, outcome, categories):
    """(K, arms, J) share of participants in each category, counted from the rows."""
    share = frame.groupby([study, arm])[outcome].value_counts(normalize=True).unstack(fill_value=0)
    return share.reindex(columns=categories, fill_value=0.0)


# (loader, outcome column, family, experimental arm, outcome -> category, categories)
CASES = {
    "counts": (
        load_huber2000, "recurrences", "poisson", "Uro-Vaxom",
        lambda y: np.minimum(y, 3), ["0", "1", "2", "3+"],
    ),
    "ordinal": (
        load_lanza, "classification", "ordinal", "Misoprostol",
        lambda y: y, ["1", "2", "3", "4", "5"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_rootogram_draws_the_observed_frequencies(case):
    load, outcome, family, experimental, to_category, labels = CASES[case]
    frame = load()
    ipd = IPD.from_frame(
        frame,
        study="study",
        treatment="treatment",
        outcome=outcome,
        family=family,
        experimental=experimental,
    )
    design = build_design(ipd, ModelSpec(family=family))
    check = _check_of(design, design.plugin.observed_statistics(design))
    assert [c for _, c in check.frequencies] == labels
    categories = sorted(to_category(frame[outcome]).unique())
    assert len(categories) == len(labels)
    share = _observed_shares(
        frame.assign(category=to_category(frame[outcome])), "study", "treatment", "category",
        categories,
    )  # fmt: skip
    bars = _bars(check.rootogram())
    control = frame["treatment"][frame["treatment"] != experimental].iloc[0]
    for k, study in enumerate(design.studies):
        for a, arm in enumerate((control, experimental)):
            height, _ = bars[(k, a)]
            want = share.loc[(study, arm)].to_numpy(float)
            np.testing.assert_allclose(height, np.sqrt(want), atol=1e-12)


def test_families_without_categories_say_so():
    check = PPCResult(pd.DataFrame({"statistic": ["mean"]}), "mean")
    with pytest.raises(ValueError, match=r"no category frequencies.*'mean'"):
        check.rootogram()
