"""Every shipped analysis spec samples cleanly at its own settings (issue 29, item 3).

A shipped spec is an example a reader copies: ``bayes-ipd run NAME`` must end without a
divergent transition and with every R-hat at most 1.01, on any machine. Each spec is run
once, as written (its ``[sampler]`` section: draws, tune, chains, seed, target_accept). The
figures of the last run are in ``docs/shipped_specs.md``. Slow (the survival spec samples 4 x
2,000 iterations of a 10-trial piecewise-exponential model): ``pytest -m slow``.
"""

from __future__ import annotations

import warnings

import pytest

from bayes_ipd.analysis import run_analysis
from bayes_ipd.models import shipped_specs
from bayes_ipd.spec import read_analysis_spec

R_HAT_MAX = 1.01
SPECS = sorted(shipped_specs().items())


def test_the_shipped_specs_are_listed():
    names = {name for name, _ in SPECS}
    assert {"bcg_binary", "bcg_hybrid", "huber2000_counts", "survival", "smoking_network"} <= names
    assert "hamd_visits" in names  # repeated measures (issue 27)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "path"), SPECS, ids=[name for name, _ in SPECS])
def test_shipped_spec_samples_cleanly_at_its_own_settings(name, path):
    spec = read_analysis_spec(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_analysis(spec, progress=False)
    # a hybrid spec also fits the IPD-only model; it is reported, so it must be clean too
    fits = [fit for fit in (result.one_stage, result.one_stage_ipd) if fit is not None]
    for fit in fits:
        diagnostics = fit.diagnostics
        assert diagnostics.divergences == 0, (name, diagnostics)
        assert diagnostics.r_hat_max <= R_HAT_MAX, (name, diagnostics)
