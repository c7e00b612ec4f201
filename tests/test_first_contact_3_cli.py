"""Issue 29 (first contact, round three): processes, output folders, progress, cache.

Ctrl-C during sampling (item 11), ``--out`` written as a whole (12), ``cache clear`` and a
user's files (17), what a fit says before its long steps (5), the divergence advice (3),
``--version`` and ``calibrate --help`` (10), ``ite --seed -1`` (20).

Fast: one tiny binomial model is compiled (item 5); everything else fakes the sampler or
the result.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import arviz as az
import numpy as np
import pandas as pd
import pytest

from bayes_ipd.analysis import AnalysisResult, staged_folder
from bayes_ipd.cli import main
from bayes_ipd.cli import run as run_cli
from bayes_ipd.data import IPD
from bayes_ipd.one_stage import cache, sampling
from bayes_ipd.one_stage.builder import build_model
from bayes_ipd.one_stage.design import build_design
from bayes_ipd.one_stage.fitting import fit
from bayes_ipd.spec import ModelSpec, SamplerSettings

ROOT = Path(__file__).resolve().parents[1]
BP = ROOT / "bayes_ipd" / "datasets" / "bp_trials.csv"


def _binary_ipd(seed: int = 3, trials: int = 4) -> IPD:
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(trials):
        for t in (0, 1):
            events = rng.binomial(1, 0.3 if t == 0 else 0.2, 60)
            rows += [{"trial": f"t{k}", "treat": t, "y": int(y)} for y in events]
    frame = pd.DataFrame(rows)
    return IPD.from_frame(frame, study="trial", treatment="treat", outcome="y", family="binomial")


def _short_trace(chains: int, draws: int, pad: int = 0) -> az.InferenceData:
    """What nutpie returns after Ctrl-C: fewer draws than asked (or NaN-padded chains)."""
    mu = np.zeros((chains, draws + pad))
    if pad:
        mu[0, draws:] = np.nan
    return az.from_dict(
        posterior={"mu": mu, "tau": np.ones_like(mu)},
        sample_stats={"diverging": np.zeros(mu.shape, dtype=bool)},
    )


# --------------------------------------------------------------------------- item 11


@pytest.mark.parametrize("draws, pad", [(37, 0), (0, 0), (37, 63)])
def test_interrupted_sampling_raises_instead_of_returning_partial_draws(monkeypatch, draws, pad):
    settings = SamplerSettings(draws=100, tune=100, chains=2, seed=1, progress=False)
    spec = ModelSpec("binomial")
    built = build_model(build_design(_binary_ipd(), spec), spec)
    monkeypatch.setattr(
        sampling, "_sample_nutpie", lambda b, s: (_short_trace(2, draws, pad), 0.0, "memory")
    )
    monkeypatch.setattr(sampling, "_sample_pymc", sampling._sample_nutpie)
    with pytest.raises(KeyboardInterrupt, match="interrupted"):
        sampling.sample(built, settings)


def test_cli_run_interrupted_while_sampling_exits_130_and_writes_nothing(
    monkeypatch, tmp_path, capsys
):
    def interrupted(built, settings):
        return _short_trace(settings.chains, settings.draws // 3), 0.0, "memory"

    monkeypatch.setattr(sampling, "_sample_nutpie", interrupted)
    monkeypatch.setattr(sampling, "_sample_pymc", interrupted)
    out = tmp_path / "out"
    argv = ["run", "bcg_binary", "--draws", "60", "--tune", "60", "--chains", "2"]
    code = main([*argv, "--out", str(out), "--report", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert code == 130
    assert err.strip().splitlines()[-1].startswith("error: interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no folder, no report, no temp


# --------------------------------------------------------------------------- item 12


class _FakeOneStage:
    """What :meth:`AnalysisResult.write` reads of a one-stage result; ``fail`` makes the
    netCDF write stop half-way with ``fail`` (a full disk, Ctrl-C)."""

    built = SimpleNamespace(design=SimpleNamespace(k=0))  # no rows: no PPC figure

    def __init__(self, tag: str, fail: BaseException | None = None) -> None:
        self.tag, self.fail = tag, fail

    def to_dict(self) -> dict:
        return {"model": {}, "priors": {}, "posterior": {"tag": self.tag}, "diagnostics": {}}

    def to_netcdf(self, path: Path) -> Path:
        Path(path).write_text(f"{self.tag} (partial)" if self.fail else self.tag)
        if self.fail is not None:
            raise self.fail
        return Path(path)

    def __repr__(self) -> str:
        return f"fake {self.tag}"


def _result(tag: str, fail: BaseException | None = None) -> AnalysisResult:
    spec = SimpleNamespace(to_dict=lambda: {"tag": tag})
    return AnalysisResult(
        spec=spec, one_stage=_FakeOneStage(tag, fail), two_stage=None, comparison=None
    )


def _tags(folder: Path) -> tuple[str, str]:
    summary = json.loads((folder / "summary.json").read_text())["posterior"]["tag"]
    return summary, (folder / "posterior.nc").read_text()


@pytest.mark.parametrize(
    "fail",
    [OSError(errno.ENOSPC, "No space left on device", "posterior.nc"), KeyboardInterrupt()],
)
def test_out_folder_is_replaced_as_a_whole_or_left_as_it_was(tmp_path, fail):
    out = tmp_path / "out"
    _result("seed 1").write(out)
    (out / "notes.txt").write_text("mine")  # a user's file in the folder stays
    (out / "sensitivity.csv").write_text("seed 1 sweep")  # an earlier run's output goes
    with pytest.raises(type(fail)):
        _result("seed 2", fail).write(out)
    assert _tags(out) == ("seed 1", "seed 1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left
    written = _result("seed 3").write(out)
    assert _tags(out) == ("seed 3", "seed 3")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "posterior.nc", "summary.json"]
    assert written == {"summary": out / "summary.json", "posterior": out / "posterior.nc"}
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # a new folder's, not private
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_out_as_the_working_directory_is_replaced_file_by_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.csv").write_text("the user's")
    (tmp_path / "sensitivity.png").write_text("an earlier run's")
    _result("seed 1").write(".")
    assert _tags(tmp_path) == ("seed 1", "seed 1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "data.csv",
        "posterior.nc",
        "summary.json",
    ]


def test_a_killed_runs_staging_folder_is_removed_by_the_next_run(tmp_path):
    dead = 2**22 + 12345  # above the default pid_max: no such process
    abandoned = tmp_path / f".out.partial-{dead}-abc123"
    abandoned.mkdir()
    (abandoned / "summary.json").write_text("{}")
    running = tmp_path / f".out.partial-{os.getpid()}-def456"  # a run still writing
    running.mkdir()
    _result("seed 1").write(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == [running.name, "out"]


def test_staged_folder_refuses_a_file_as_out(tmp_path):
    target = tmp_path / "out"
    target.write_text("a file")
    with pytest.raises(OSError, match="folder"), staged_folder(target):
        pass
    assert target.read_text() == "a file"


def test_cli_run_on_a_full_disk_exits_2_and_leaves_no_partial_files(monkeypatch, tmp_path, capsys):
    import bayes_ipd.analysis as analysis
    import bayes_ipd.output_folder as output_folder

    fake = _result("full disk")  # a run whose results no longer fit on the disk
    monkeypatch.setattr(analysis, "run_analysis", lambda spec: fake)
    monkeypatch.setattr(
        output_folder.shutil,
        "disk_usage",
        lambda path: shutil._ntuple_diskusage(10**6, 10**6, 10),
    )
    out = tmp_path / "out"
    code = main(["run", "bcg_binary", "--out", str(out)])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("error:") and "free space" in last
    assert last.startswith(f"error: {out}:")  # the folder asked for, not the staging one
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- item 17


def test_cache_clear_removes_only_the_packages_own_files(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    key = "0123456789abcdef" * 4
    cache.write_entry(cache.entry_path(key), {"key": key})
    (tmp_path / f".{key[:16]}.k3_x9abc.tmp").write_bytes(b"left by a killed write")
    mine = ["draft-notes.tmp", "notes.nutpie", ".hidden.tmp", "README"]
    for name in mine:
        (tmp_path / name).write_text("the user's")
    assert main(["cache", "info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 1
    assert main(["cache", "clear", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(mine)


# --------------------------------------------------------------------------- item 5


def test_api_fit_says_what_it_is_doing_unless_progress_is_off(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))  # an empty model cache: compiles
    sampling.clear_compiled_cache()
    ipd, spec = _binary_ipd(), ModelSpec("binomial", parameterisation="noncentred")
    loud = SamplerSettings(draws=150, tune=150, chains=2, seed=5, progress=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit(ipd, spec, loud)
        err = capsys.readouterr().err
        assert "compiling the model (first fit of this structure" in err
        assert "sampling 2 chains x 150 draws" in err
        sampling.clear_compiled_cache()  # compiles again (from disk), quietly
        fit(ipd, spec, SamplerSettings(draws=150, tune=150, chains=2, seed=5, progress=False))
    assert capsys.readouterr().err == ""


def test_run_says_what_it_is_doing_in_a_log_too_but_not_under_json(monkeypatch, capsys):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)  # `run bp_ite 2> log`
    announce = run_cli._announcer(argparse.Namespace(json=False))
    assert announce is not None
    with sampling.reporting(announce):
        sampling.notify("compiling the model ...", progress=False)
    assert capsys.readouterr().err == "compiling the model ...\n"
    assert run_cli._announcer(argparse.Namespace(json=True)) is None


# --------------------------------------------------------------------------- item 3


@pytest.mark.parametrize(
    "forms, suggested, not_suggested",
    [
        ({"theta": "noncentred"}, "parameterisation='centred'", "'noncentred'"),
        ({"theta": "centred"}, "parameterisation='noncentred'", "parameterisation='centred'"),
        ({"theta": "centred", "gamma": "noncentred"}, "one parameterisation", "try param"),
    ],
)
def test_divergence_advice_never_suggests_the_parameterisation_in_use(
    forms, suggested, not_suggested
):
    idata = _short_trace(2, 50)
    idata.sample_stats["diverging"][0, :3] = True
    div, *_, found = sampling.diagnose(idata, ["mu", "tau"], chains=2, forms=forms)
    advice = next(m for m in found if "divergent" in m)
    assert div == 3 and suggested in advice and not_suggested not in advice


# --------------------------------------------------------------------------- item 10, 20


def test_version_flag_prints_the_package_version(capsys):
    from importlib import metadata

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"bayes-ipd {metadata.version('bayes_ipd')}"


def test_calibrate_help_lists_every_shipped_calibration_design(capsys):
    from bayes_ipd.calibration.design import shipped_calibration_specs

    assert main(["calibrate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "calibration_ci" in shipped_calibration_specs()
    for name in shipped_calibration_specs():
        assert name in text


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_ite_refuses_a_seed_out_of_range_with_exit_2(seed, capsys):
    argv = ["ite", str(BP), "--study", "trial", "--treatment", "treat", "--outcome"]
    argv += ["sbp_final", "--covariates", "age", "--new", str(BP), "--seed", seed]
    code = main(argv)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("error: --seed") and seed in last
