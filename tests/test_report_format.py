"""Readable reports (issue item 17): one number of decimals per column chosen from the data,
R-hat with three decimals, ESS as integers, P(<0) bounded at the ends, no stray pandas index
line, no count column that no trial fills, and the `run` two-stage header naming its
covariates.

Expected decimals follow the rule stated in :func:`bayes_ipd.plots.text.decimals_for`: the
smallest standard error (or posterior SD, or interval half-width) of a column gets two
significant digits, at least two decimals. The tests recompute that from the inputs (the
per-trial SEs of the shipped BCG table, the posterior draws), never from the printed text.
The one-stage result is built from prior draws of the model (no MCMC) whose mean effect
is shifted far below zero, so that P(effect < 0) is exactly 1 in the draws.
"""

from __future__ import annotations

import math
import re
import warnings
from types import SimpleNamespace

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr

from bayes_ipd.compare import TABLE_COLUMNS, Comparison
from bayes_ipd.datasets import load_bcg_aggregate, load_bp_ipd
from bayes_ipd.one_stage.builder import build_model
from bayes_ipd.one_stage.design import design_from_summaries
from bayes_ipd.one_stage.result import OneStageResult
from bayes_ipd.one_stage.sampling import SamplingDiagnostics
from bayes_ipd.one_stage.summaries import summarise_trial
from bayes_ipd.spec import ModelSpec, SamplerSettings
from bayes_ipd.two_stage import AggregateData, TwoStageResult, pool_aggregate, two_stage

NUMBER = re.compile(r"-?\d[\d,]*\.?\d*")


def _expected_decimals(spread_min: float) -> int:
    """Two significant digits of the smallest spread, at least two decimals (closed form)."""
    return max(2, 1 - math.floor(math.log10(spread_min)))


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def _table(text: str) -> list[str]:
    """The lines of the per-trial table: from its header to the last rule."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("study"))
    last = max(i for i, line in enumerate(lines) if line and set(line) == {"-"})
    return lines[start : last + 1]


def _interval_numbers(line: str) -> list[str]:
    return re.findall(r"-?\d+\.\d+(?= \[|,|\])", line)


# ----------------------------------------------------------------------- two-stage


def test_pool_report_has_no_count_columns_and_one_decimals_per_column():
    bcg = load_bcg_aggregate()
    agg = AggregateData(
        tuple(bcg["trial"].astype(str)),
        bcg["yi"].to_numpy(),
        np.sqrt(bcg["vi"].to_numpy()),
        scale="logRR",
    )
    text = str(TwoStageResult(agg, pool_aggregate(agg, method="REML")))
    table = _table(text)
    header = table[0].split()
    assert "n" not in header and "events" not in header  # no trial has counts
    # logRR column: smallest SE of the 13 trials is sqrt(min vi) (trial 8, TPT Madras).
    expected = _expected_decimals(float(np.sqrt(bcg["vi"].min())))
    rows = [line for line in table[2:] if line and set(line) != {"-"}]
    assert len(rows) == 14  # 13 trials and the pooled row
    for line in rows:
        numbers = _interval_numbers(line)
        assert len(numbers) == 6, line  # logRR and RR, each estimate [low, high]
        assert {_decimals(x) for x in numbers[:3]} == {expected}, line


def test_gaussian_report_has_n_but_no_events_column():
    res = two_stage(load_bp_ipd(), covariates=["sbp_baseline"], method="REML")
    header = _table(str(res))[0].split()
    assert "n" in header and "events" not in header


def test_binary_report_counts_have_thousands_separators():
    bcg = load_bcg_aggregate()
    n = (bcg[["tpos", "tneg", "cpos", "cneg"]]).sum(axis=1).to_numpy()
    events = (bcg["tpos"] + bcg["cpos"]).to_numpy()
    agg = AggregateData(
        tuple(bcg["trial"].astype(str)),
        bcg["yi"].to_numpy(),
        np.sqrt(bcg["vi"].to_numpy()),
        n=n,
        events=events,
        scale="logRR",
    )
    text = str(TwoStageResult(agg, pool_aggregate(agg, method="REML")))
    pooled_line = next(line for line in text.splitlines() if line.startswith("pooled"))
    # Colditz et al. (1994): 357,347 participants and 2,575 tuberculosis cases in 13 trials.
    assert "357,347" in pooled_line and "2,575" in pooled_line


# ----------------------------------------------------------------------- one-stage


def _binomial_summaries(k: int = 5, n: int = 200, seed: int = 3) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(k):
        t = np.tile([0.0, 1.0], n // 2)
        y = rng.binomial(1, 1 / (1 + np.exp(-(-1.0 - 0.5 * t)))).astype(float)
        out.append(
            summarise_trial(f"S{i}", "binomial", t, pd.DataFrame(index=range(n)), [], [], outcome=y)
        )
    return out


@pytest.fixture(scope="module")
def prior_result() -> OneStageResult:
    """Prior draws as a two-chain 'posterior', the mean effect shifted to about -40."""
    built = build_model(design_from_summaries(_binomial_summaries()), ModelSpec(family="binomial"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prior = pm.sample_prior_predictive(model=built.model, draws=400, random_seed=7).prior
    prior = prior.drop_vars([v for v in prior.data_vars if v.startswith("loglik")])
    halves = [prior.isel(draw=slice(0, 200)), prior.isel(draw=slice(200, 400))]
    halves = [h.isel(chain=0, drop=True).assign_coords(draw=np.arange(200)) for h in halves]
    post = xr.concat(halves, dim="chain").assign_coords(chain=[0, 1])
    post["mu"] = post["mu"] - 40.0  # every draw below zero: P(effect < 0) = 1
    diagnostics = SamplingDiagnostics(
        "nutpie", 200, 200, 2, 7, 0, 1.0, 400.0, 400.0, 1.0, 1.0, False
    )
    return OneStageResult(
        idata=az.InferenceData(posterior=post),
        built=built,
        sampler=SamplerSettings(draws=200, tune=200, chains=2, seed=7, progress=False),
        diagnostics=diagnostics,
    )


def _posterior_block(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("Posterior (95% equal-tailed credible intervals):") + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].strip())
    return lines[start:end]


def test_one_stage_report_cells(prior_result):
    block = _posterior_block(repr(prior_result))
    assert not any(line.strip() == "parameter" or line.startswith("parameter") for line in block)
    header = block[0].split()
    assert header[:5] == ["mean", "sd", "median", "q025", "q975"]
    rows = {line.split()[0]: line for line in block[2:]}  # labels of one word: effect, tau
    table = prior_result.summary()
    expected = _expected_decimals(float(table["sd"].min()))
    for label in ("effect", "tau"):
        cells = rows[label].split()[1:]
        assert {_decimals(c) for c in cells[:5]} == {expected}, rows[label]
        r_hat, ess = cells[-1], cells[-2]
        assert re.fullmatch(r"\d\.\d{3}", r_hat), r_hat  # 1.000, never 1
        assert re.fullmatch(r"\d+", ess), ess  # an integer
    # every draw of the effect is negative: P(<0) is written as a bound, not as 1
    assert float(np.mean(prior_result.idata.posterior["mu"].values < 0)) == 1.0
    assert ">0.999" in rows["effect"].split()
    assert "OR" in header and "P(<0)" in header and "R-hat" in header


def test_one_stage_html_has_the_same_cells(prior_result):
    html = prior_result._repr_html_()
    assert "&gt;0.999" in html and "<th>parameter</th>" not in html


def test_probability_bounds():
    from bayes_ipd.plots.text import fmt_probability

    # P estimated from S draws is a multiple of 1/S: 3999/4000 = 0.99975 rounds to 1.000.
    assert fmt_probability(3999 / 4000) == ">0.999"
    assert fmt_probability(1 / 4000) == "<0.001"
    assert fmt_probability(0.5) == "0.500"


def test_decimals_rule():
    from bayes_ipd.plots.text import decimals_for

    assert decimals_for([0.0631, 0.5]) == _expected_decimals(0.0631) == 3
    assert decimals_for([1.35, 2.0]) == 2 and decimals_for([]) == 2


# ----------------------------------------------------------------------- comparison


def _comparison() -> Comparison:
    rows = [
        ["pooled effect", "pooled", -0.7452, -1.152, -0.3383, -0.7577, -1.167, -0.3429],
        ["tau", "tau", 0.5812, 0.361, 1.087, 0.622, 0.3772, 1.076],
        ["prediction interval", "prediction", -0.7452, -2.089, 0.5984, -0.746, -2.171, 0.6532],
        ["A", "study", -0.03238, -0.05, -0.0148, -0.03, -0.046, -0.01525],
    ]
    table = pd.DataFrame(
        [[*r, math.nan, math.nan, None] for r in rows], columns=list(TABLE_COLUMNS)
    )
    return Comparison(table, "logOR", 0.95, "REML + HKSJ", SimpleNamespace())


def test_comparison_report_uses_one_decimals_per_scale():
    comparison = _comparison()
    table = comparison.table
    z = 1.959963984540054  # standard normal 97.5% quantile
    half = []
    for route in ("two_stage", "one_stage"):
        half += list((table[f"{route}_high"] - table[f"{route}_low"]) / (2 * z))
    expected = _expected_decimals(min(half))
    lines = repr(comparison).splitlines()
    body = [line for line in lines[lines.index("") + 3 :] if line and set(line) != {"-"}]
    assert len(body) == 4
    for line in body:
        numbers = _interval_numbers(line)
        assert {_decimals(x) for x in numbers[:6]} == {expected}, line


# ----------------------------------------------------------------------- run header


def test_run_header_names_the_adjustment_covariates():
    from bayes_ipd.cli.run import _two_stage_header

    spec = SimpleNamespace(model=SimpleNamespace(covariates=("sbp_baseline", "age")))
    assert _two_stage_header(spec) == "Two-stage route (same data; adjusted for sbp_baseline, age)"
    spec = SimpleNamespace(model=SimpleNamespace(covariates=()))
    assert _two_stage_header(spec) == "Two-stage route (same data; unadjusted)"
