"""The compiled-model cache: keys, prior numbers as data, the disk store, the survival
fast path, progress messages and ``bayes-ipd cache``.

Fast: one tiny binomial model (4 trials x 60 rows) compiled twice; everything else
builds graphs or files without compiling.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_ipd.cli import main
from bayes_ipd.cli.common import progress_reporter
from bayes_ipd.data import IPD
from bayes_ipd.one_stage import cache
from bayes_ipd.one_stage.builder import build_model
from bayes_ipd.one_stage.callbacks import CALLBACKS
from bayes_ipd.one_stage.design import build_design
from bayes_ipd.one_stage.fitting import fit
from bayes_ipd.one_stage.sampling import (
    cache_stats,
    clear_compiled_cache,
    reporting,
    reset_cache_stats,
    structure_key,
)
from bayes_ipd.simulate import simulate_survival
from bayes_ipd.spec import ModelSpec, SamplerSettings

TINY = SamplerSettings(draws=150, tune=150, chains=2, seed=5, progress=False)


def _binary_ipd(seed: int, trials: int = 4) -> IPD:
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(trials):
        for t in (0, 1):
            events = rng.binomial(1, 0.3 if t == 0 else 0.2, 60)
            rows += [{"trial": f"t{k}", "treat": t, "y": int(y)} for y in events]
    frame = pd.DataFrame(rows)
    return IPD.from_frame(frame, study="trial", treatment="treat", outcome="y", family="binomial")


def _spec(tau: str) -> ModelSpec:
    return ModelSpec("binomial", priors={"tau": tau}, parameterisation="noncentred")


def _key(ipd: IPD, spec: ModelSpec) -> str:
    return structure_key(build_model(build_design(ipd, spec), spec), CALLBACKS)


def _fit(ipd: IPD, spec: ModelSpec):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(ipd, spec, TINY)


def _draws(result) -> np.ndarray:
    post = result.idata.posterior
    return np.concatenate([post[n].values.reshape(-1) for n in ("mu", "tau", "theta")])


# --------------------------------------------------------------------------- keys


def test_key_ignores_prior_numbers_and_data_but_not_structure():
    a, b = _binary_ipd(1), _binary_ipd(2)
    base = _key(a, _spec("half_normal(1)"))
    assert _key(a, _spec("half_normal(0.25)")) == base  # a prior's scale is data
    assert _key(b, _spec("half_normal(1)")) == base  # other data, same shapes
    assert _key(a, _spec("half_cauchy(1)")) != base  # another distribution
    assert _key(_binary_ipd(1, trials=5), _spec("half_normal(1)")) != base  # other shapes
    centred = ModelSpec("binomial", priors={"tau": "half_normal(1)"}, parameterisation="centred")
    assert _key(a, centred) != base


def test_prior_numbers_are_data_containers():
    spec = ModelSpec("binomial", priors={"tau": "half_normal(0.3)", "effect": "normal(0.1, 2)"})
    built = build_model(build_design(_binary_ipd(1), spec), spec)
    values = {v.name: v.get_value() for v in built.model.data_vars}
    np.testing.assert_array_equal(values["prior_tau"], [0.3])
    np.testing.assert_array_equal(values["prior_effect"], [0.1, 2.0])
    assert "prior_tau" in built.data_names


# --------------------------------------------------------------------------- disk entries


def _payload(key: str, size: int = 1000) -> dict:
    return {"key": key, "versions": cache.versions(), "blob": os.urandom(size)}


def test_entry_round_trip_and_corrupt_or_stale_entries_are_rejected(tmp_path):
    path = tmp_path / "k.nutpie"
    payload = _payload("k")
    cache.write_entry(path, payload)
    assert cache.read_entry(path, "k") == payload
    assert cache.read_entry(path, "other key") is None  # written for another key
    assert not path.exists()  # ... and deleted

    cache.write_entry(path, payload)
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF  # one flipped byte in the payload
    path.write_bytes(bytes(raw))
    reset_cache_stats()
    assert cache.read_entry(path, "k") is None
    assert not path.exists()
    assert cache_stats().rejected == 1

    cache.write_entry(path, payload)
    path.write_bytes(path.read_bytes()[:-100])  # truncated
    assert cache.read_entry(path, "k") is None

    stale = {**payload, "versions": {**payload["versions"], "numba": "0.0.1"}}
    cache.write_entry(path, stale)
    assert cache.read_entry(path, "k") is None  # another numba wrote it

    path.write_bytes(b"not an entry")
    assert cache.read_entry(path, "k") is None


_WRITER = """
import os, sys
from pathlib import Path
from bayes_ipd.one_stage import cache
path = Path(sys.argv[1])
for i in range(25):
    cache.write_entry(path, {"key": "k", "versions": cache.versions(),
                             "blob": bytes([int(sys.argv[2])]) * 2_000_000})
"""


def test_two_processes_writing_one_entry_never_leave_a_torn_file(tmp_path):
    path = tmp_path / "k.nutpie"
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(i)]) for i in (1, 2)]
    seen = set()
    reset_cache_stats()
    while any(w.poll() is None for w in writers):
        payload = cache.read_entry(path, "k") if path.exists() else None
        if payload is not None:
            blob = payload["blob"]
            assert blob == bytes([blob[0]]) * 2_000_000  # one writer's whole entry
            seen.add(blob[0])
    assert [w.returncode for w in writers] == [0, 0]
    assert cache_stats().rejected == 0  # no reader ever saw a half-written entry
    final = cache.read_entry(path, "k")
    assert final is not None and final["blob"][0] in (1, 2)
    assert not list(tmp_path.glob("*.tmp"))  # no temporary file left behind


def test_cache_folder_follows_environment_variable_and_platform(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "mine"))
    assert cache.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(cache.ENV_VAR)
    expected = Path(platformdirs.user_cache_dir("bayes_ipd", appauthor=False)) / "compiled"
    assert cache.cache_dir() == expected


def test_cli_cache_info_and_clear(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    for key in ("a" * 64, "b" * 64):  # entries are named by their key, a sha256
        cache.write_entry(cache.entry_path(key), _payload(key))
    assert main(["cache", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["entries"] == 2 and info["folder"] == str(tmp_path) and info["bytes"] > 2000
    assert main(["cache", "clear", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == 2
    assert not list(tmp_path.iterdir())


def test_progress_reporter_is_quiet_under_json_and_off_a_terminal(monkeypatch):
    assert progress_reporter(argparse.Namespace(json=True)) is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert progress_reporter(argparse.Namespace(json=False)) is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert progress_reporter(argparse.Namespace(json=False)) is not None


# --------------------------------------------------------------------------- fits


def test_prior_sweep_reuses_one_program_with_the_draws_of_a_fresh_build(monkeypatch, tmp_path):
    """A new tau scale is a refit of the compiled program; the draws equal those of a
    fresh compile with that prior, in memory and after loading the program from disk."""
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    monkeypatch.delenv("BAYES_IPD_NO_DISK_CACHE", raising=False)
    ipd = _binary_ipd(1)
    clear_compiled_cache()
    reset_cache_stats()
    messages: list[str] = []
    with reporting(messages.append):
        wide = _fit(ipd, _spec("half_normal(1)"))
    assert wide.diagnostics.compiled_from == "compiled"
    assert any(m.startswith("compiling the model") for m in messages)
    assert any(m.startswith("sampling 2 chains") for m in messages)
    assert cache.disk_info(tmp_path).entries == 1

    narrow_reused = _fit(ipd, _spec("half_normal(0.1)"))
    assert narrow_reused.diagnostics.compiled_from == "memory"
    stats = cache_stats()
    assert (stats.compiles, stats.hits) == (1, 1)
    # the prior took effect: tau's posterior is pulled towards 0 (mean of half_normal(0.1)
    # is 0.08; the wide prior's posterior mean is several times larger)
    assert float(narrow_reused.idata.posterior["tau"].mean()) < 0.5 * float(
        wide.idata.posterior["tau"].mean()
    )

    clear_compiled_cache(disk=True)
    narrow_fresh = _fit(ipd, _spec("half_normal(0.1)"))
    assert narrow_fresh.diagnostics.compiled_from == "compiled"
    np.testing.assert_array_equal(_draws(narrow_reused), _draws(narrow_fresh))

    clear_compiled_cache()  # memory only: the next fit loads the program from disk
    wide_loaded = _fit(ipd, _spec("half_normal(1)"))
    assert wide_loaded.diagnostics.compiled_from == "disk"
    np.testing.assert_array_equal(_draws(wide_loaded), _draws(wide))
    assert cache_stats().compiles == 2


def test_corrupt_disk_entry_is_rebuilt_not_used(monkeypatch, tmp_path):
    """A damaged entry on disk is detected, deleted, and the model compiled again."""
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    ipd, spec = _binary_ipd(3), _spec("half_normal(0.5)")
    key = _key(ipd, spec)
    path = cache.entry_path(key, tmp_path)
    cache.write_entry(path, {"key": key, "versions": cache.versions(), "logp": "garbage"})
    clear_compiled_cache()
    reset_cache_stats()
    result = _fit(ipd, spec)
    assert result.diagnostics.compiled_from == "compiled"
    assert cache_stats().rejected == 1
    assert cache.read_entry(path, key) is not None  # rewritten whole


# --------------------------------------------------------------------------- survival


def test_survival_fast_path_equals_the_cell_wise_likelihood():
    """The by-row likelihood equals ``sum_c d_c eta_c - E_c exp(eta_c)`` over the exposure
    cells (written out in numpy), at a random point, with a continuous covariate."""
    frame, _ = simulate_survival(n_studies=3, n_per_study=40, seed=3)
    ipd = IPD.from_frame(
        frame,
        study="trial",
        treatment="treat",
        time="time",
        event="event",
        covariates=("age",),
        family="survival",
    )
    spec = ModelSpec("survival", covariates=("age",), intervals=3)
    design = build_design(ipd, spec)
    built = build_model(design, spec)
    model = built.model
    rng = np.random.default_rng(0)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in model.initial_point().items()}
    names = ["loglik_trial", "alpha", "theta", "beta", "hazard_smoothing", "log_hazard_step"]
    outs = model.replace_rvs_by_values([model[n] for n in names])
    fn = model.compile_fn(
        outs, inputs=model.value_vars, mode="FAST_COMPILE", on_unused_input="ignore"
    )
    values = dict(zip(names, fn(point), strict=True))
    st = design.stats
    k, j = design.k, design.n_intervals
    coef = np.column_stack([values["alpha"], values["theta"], np.tile(values["beta"], (k, 1))])
    walk = np.concatenate(
        [np.zeros((k, 1)), np.cumsum(values["hazard_smoothing"] * values["log_hazard_step"], 1)],
        axis=1,
    )
    eta = np.einsum("cm,cm->c", st["cell_z"], coef[st["cell_study"]])
    eta = eta + walk[st["cell_study"], st["cell_interval"]]
    terms = st["cell_events"] * eta - st["cell_n"] * np.exp(eta)
    expected = np.bincount(st["cell_study"], weights=terms, minlength=k)
    rows = built.design.plugin.data_arrays(design)["row_z"].shape[0]
    assert rows < len(st["cell_n"])  # fewer exp(z'b) than person-intervals
    assert j == 3
    np.testing.assert_allclose(values["loglik_trial"], expected, rtol=1e-10)


def test_initial_point_function_is_compiled_once_per_structure_and_equals_a_fresh_one(
    monkeypatch,
):
    """A second model of the same structure (another tau scale) reuses the first model's
    initial-point function on its own prior numbers: no new PyTensor function, the same
    jittered points as PyMC's own function of that model, and the first model's data
    containers keep their values."""
    import pymc.initial_point as initial_point

    from bayes_ipd.one_stage import initial_point as ours

    ipd = _binary_ipd(4)
    first, second = (
        build_model(build_design(ipd, _spec(tau)), _spec(tau))
        for tau in ("half_normal(1)", "half_normal(0.2)")
    )
    cache.clear_memory()
    cache.initial_point_function(first.model, "structure")
    fresh = initial_point.make_initial_point_fn(
        model=second.model,
        default_strategy="support_point",
        jitter_rvs=set(second.model.free_RVs),
        return_transformed=True,
    )
    made: list[int] = []
    original = ours.initial_point_fn
    monkeypatch.setattr(
        ours, "initial_point_fn", lambda *a, **kw: made.append(1) or original(*a, **kw)
    )
    reused = cache.initial_point_function(second.model, "structure")
    assert made == []
    for seed in (1, 2):
        got, want = reused(seed), fresh(seed)
        assert got.keys() == want.keys()
        for name in got:
            np.testing.assert_array_equal(got[name], want[name])
    tau_prior = {v.name: v for v in first.model.data_vars}["prior_tau"]
    np.testing.assert_array_equal(tau_prior.get_value(), [1.0])
