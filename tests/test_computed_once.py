"""Each computation once per run (issue 24): ``bayes-ipd run bcg_hybrid --report R --out D``
fits every IPD trial's stage-one regression once (the IPD-only and the IPD + AD two-stage
analyses and the integrity check share it), computes the posterior predictive check once
(the report and ``--out`` share it, and the PPC and comparison figures are drawn once for
both) and reads the data file once; the ``[ite]`` step takes the rows and new patients the
run already read.

Reusing a result must not change it: the reused stage one gives the same two-stage and
integrity results as fitting again.
"""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_ipd.data.reading as reading
from bayes_ipd.checks.ppc import PPCResult
from bayes_ipd.cli import main
from bayes_ipd.compare import Comparison
from bayes_ipd.datasets import load_bcg_ipd, load_bcg_published
from bayes_ipd.families.binomial import BinomialFamily
from bayes_ipd.models import resolve_spec
from bayes_ipd.one_stage.result import OneStageResult
from bayes_ipd.spec import read_analysis_spec
from bayes_ipd.two_stage import AggregateData, fit_per_study, two_stage
from bayes_ipd.two_stage.integrity import check_integrity

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "bayes_ipd" / "datasets"
SMALL = ["--draws", "100", "--tune", "100", "--chains", "2", "--seed", "7"]


@pytest.fixture(scope="module")
def counted_run(tmp_path_factory):
    """``bayes-ipd run bcg_hybrid --report R --out D`` (few draws) with every stage-one
    regression, posterior predictive check and table read counted."""
    trials: Counter = Counter()
    ppcs: list[int] = []
    reads: Counter = Counter()
    figures: Counter = Counter()
    fit_trial, ppc, read_table = BinomialFamily.fit_trial, OneStageResult.ppc, reading.read_table
    ppc_plot, comparison_plot = PPCResult.plot, Comparison.plot

    def counting_fit_trial(self, responses, x, names, term_index):
        # a trial by its size and events (the nine IPD trials differ in both)
        outcome = np.asarray(responses["outcome"])
        trials[(outcome.size, int(outcome.sum()))] += 1
        return fit_trial(self, responses, x, names, term_index)

    def counting_ppc(self, *args, **kwargs):
        ppcs.append(1)
        return ppc(self, *args, **kwargs)

    def counting_read_table(path, **kwargs):
        reads[Path(path).resolve()] += 1
        return read_table(path, **kwargs)

    def counting_ppc_plot(self, *args, **kwargs):
        figures["ppc"] += 1
        return ppc_plot(self, *args, **kwargs)

    def counting_comparison_plot(self, *args, **kwargs):
        figures["comparison"] += 1
        return comparison_plot(self, *args, **kwargs)

    out = tmp_path_factory.mktemp("bcg_hybrid")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BinomialFamily, "fit_trial", counting_fit_trial)
        patch.setattr(OneStageResult, "ppc", counting_ppc)
        patch.setattr(reading, "read_table", counting_read_table)
        patch.setattr(PPCResult, "plot", counting_ppc_plot)
        patch.setattr(Comparison, "plot", counting_comparison_plot)
        text, err = io.StringIO(), io.StringIO()
        argv = ["run", "bcg_hybrid", "--report", str(out / "r.html"), "--out", str(out / "d")]
        with redirect_stdout(text), redirect_stderr(err):
            code = main([*argv, *SMALL])
    assert code == 0, err.getvalue()
    return trials, ppcs, reads, out, figures


def test_each_ipd_trial_is_fitted_once(counted_run):
    trials, _, _, out, _ = counted_run
    spec = read_analysis_spec(resolve_spec("bcg_hybrid"))
    ipd_trials = pd.read_csv(spec.data.path)["trial"].nunique()
    assert ipd_trials == 9
    assert len(trials) == ipd_trials and set(trials.values()) == {1}, trials
    # the integrity table was still made, from the same fits
    summary = json.loads((out / "d" / "summary.json").read_text())
    assert "hybrid" in summary and "Data integrity" in (out / "r.html").read_text()


def test_the_ppc_is_computed_once_for_report_and_files(counted_run):
    _, ppcs, _, out, _ = counted_run
    assert len(ppcs) == 1
    assert (out / "d" / "ppc.png").stat().st_size > 0


def test_the_shared_figures_are_drawn_once_for_report_and_files(counted_run):
    *_, out, figures = counted_run
    assert figures == {"ppc": 1, "comparison": 1}, figures
    html = (out / "r.html").read_text()
    for name in ("ppc.png", "comparison_forest.png"):
        png = (out / "d" / name).read_bytes()
        assert base64.b64encode(png).decode("ascii") in html  # the same image, embedded


def test_the_data_file_is_read_once(counted_run):
    _, _, reads, _, _ = counted_run
    spec = read_analysis_spec(resolve_spec("bcg_hybrid"))
    assert reads[Path(spec.data.path).resolve()] == 1, reads


# --------------------------------------------------------------------- reuse changes nothing


def _same(a: AggregateData, b: AggregateData) -> None:
    assert a.studies == b.studies and a.excluded == b.excluded
    np.testing.assert_array_equal(a.estimate, b.estimate)
    np.testing.assert_array_equal(a.se, b.se)


def test_two_stage_on_a_reused_stage_one_is_identical():
    ipd = load_bcg_ipd()
    stage_one = fit_per_study(ipd)
    est, se = np.array([-0.5, 0.1]), np.array([0.3, 0.4])
    ad = AggregateData(("Extra 1", "Extra 2"), est, se, scale="logOR")
    for kw in ({}, {"aggregate": ad}):
        fresh = two_stage(ipd, method="REML", hksj=True, **kw)
        reused = two_stage(ipd, method="REML", hksj=True, stage_one=stage_one, **kw)
        _same(fresh.per_study, reused.per_study)
        assert json.dumps(fresh.to_dict()) == json.dumps(reused.to_dict())


def test_two_stage_refuses_a_stage_one_of_other_trials():
    from bayes_ipd.errors import PoolingError

    ipd = load_bcg_ipd()
    other = fit_per_study(ipd.select_studies(list(ipd.studies[:5])))
    with pytest.raises(PoolingError, match="stage_one"):
        two_stage(ipd, stage_one=other)


def test_integrity_on_a_reused_stage_one_is_identical(monkeypatch):
    ipd = load_bcg_ipd()
    published = load_bcg_published()
    fresh = check_integrity(ipd, published)
    stage_one = fit_per_study(ipd)
    calls: list[int] = []

    def counted(*args, **kwargs):
        calls.append(1)
        return fit_per_study(*args, **kwargs)

    monkeypatch.setattr("bayes_ipd.two_stage.integrity.fit_per_study", counted)
    reused = check_integrity(ipd, published, stage_one={(): stage_one})
    assert calls == []  # no stage-one fit
    pd.testing.assert_frame_equal(fresh.table(), reused.table())
    # fits of another covariate set are not this one's: fitted afresh
    again = check_integrity(ipd, published, stage_one={("age",): stage_one})
    assert calls == [1]
    pd.testing.assert_frame_equal(fresh.table(), again.table())


def test_ite_section_reads_no_file_when_given_rows_and_patients(tmp_path, monkeypatch):
    from bayes_ipd.ite.section import ite_patients, read_rows, run_ite_section

    spec = read_analysis_spec(resolve_spec("bp_ite"))
    fresh = run_ite_section(spec)
    rows, patients = read_rows(spec.data.path, spec.data.study), ite_patients(spec)

    def no_read(*args, **kwargs):
        raise AssertionError("a file was read again")

    monkeypatch.setattr(reading, "read_table", no_read)
    reused = run_ite_section(spec, rows=rows, patients=patients)
    assert reused.to_dict() == fresh.to_dict()
