"""``bayes-ipd datasets list / export`` and shipped specs run by name."""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from bayes_ipd.cli import main
from bayes_ipd.datasets.catalogue import CATALOGUE

DATA_SUFFIXES = (".csv", ".csv.gz", ".toml")


def _shipped_files() -> set[str]:
    folder = resources.files("bayes_ipd.datasets")
    return {e.name for e in folder.iterdir() if e.name.endswith(DATA_SUFFIXES)}


def test_every_shipped_data_file_is_in_the_catalogue():
    assert {entry.file for entry in CATALOGUE} == _shipped_files()
    assert len({entry.name for entry in CATALOGUE}) == len(CATALOGUE)


def test_list_names_every_data_set(capsys):
    assert main(["datasets", "list", "--json"]) == 0
    listed = {d["name"] for d in json.loads(capsys.readouterr().out)["datasets"]}
    assert listed == {entry.name for entry in CATALOGUE}


def test_export_writes_the_shipped_rows_decompressed(tmp_path, capsys):
    out = tmp_path / "sub" / "bcg_ipd.csv"
    assert main(["datasets", "export", "bcg_ipd", str(out)]) == 0
    shipped = resources.files("bayes_ipd.datasets").joinpath("bcg_ipd.csv.gz")
    with gzip.open(str(shipped), "rt") as handle:
        expected = pd.read_csv(handle)
    got = pd.read_csv(out)
    pd.testing.assert_frame_equal(got, expected)
    assert len(got) == 357_347  # Colditz et al. (1994): the 13 trials' participants


def test_export_refuses_to_overwrite_and_unknown_names(tmp_path, capsys):
    out = tmp_path / "bcg.csv"
    out.write_text("mine\n")
    assert main(["datasets", "export", "bcg", str(out)]) == 2
    assert out.read_text() == "mine\n"
    assert main(["datasets", "export", "no_such_set", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "'no_such_set'" in err and "bcg_ipd" in err
    assert main(["datasets", "export", "bcg", str(out), "--overwrite"]) == 0
    assert out.read_text().startswith('"trial"')


def test_shipped_spec_is_found_by_name_from_any_folder(tmp_path, monkeypatch):
    from bayes_ipd.models import resolve_spec, shipped_specs

    monkeypatch.chdir(tmp_path)
    assert "bcg_binary" in shipped_specs()
    assert resolve_spec("bcg_binary") == shipped_specs()["bcg_binary"]
    assert resolve_spec("bcg_binary.toml") == shipped_specs()["bcg_binary"]


def test_unknown_spec_name_lists_the_shipped_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "no_such_model"]) == 2
    err = capsys.readouterr().err
    assert "no_such_model" in err and "bcg_binary" in err


def test_shipped_specs_read_from_any_folder(tmp_path, monkeypatch):
    from bayes_ipd.models import shipped_specs
    from bayes_ipd.spec import read_analysis_spec

    monkeypatch.chdir(tmp_path)
    for name, path in shipped_specs().items():
        spec = read_analysis_spec(path)
        data = spec.data.path
        if data is not None:
            assert Path(data).is_file(), name


def test_top_level_models_folder_holds_the_shipped_specs():
    root = Path(__file__).resolve().parents[1] / "models"
    if not root.is_dir():
        pytest.skip("not a source checkout")
    from bayes_ipd.models import shipped_specs

    assert {p.stem for p in root.glob("*.toml")} == set(shipped_specs())
