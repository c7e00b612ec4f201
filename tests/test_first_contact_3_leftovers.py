"""Issue 29 (first contact, round three), item 21 and two leftovers: what is left to fix.

A spec file with a byte-order mark, a folder, a device or a symbolic link loop as the spec;
``dataset:NAME`` outside the catalogue; ``summarise --out`` over an existing file;
``datasets export --overwrite`` onto a folder or device; an ITE patient far outside the
trials' rows; ``run``'s missing-data hint in spec terms; ``[data] participant``.

Fast: nothing is sampled (every run stops at its data check).
"""

from __future__ import annotations

import json
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.cli import main
from bayes_ipd.datasets.catalogue import export_dataset
from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.ite.section import ite_report
from bayes_ipd.models import resolve_spec
from bayes_ipd.spec import read_analysis_spec

ROOT = Path(__file__).resolve().parents[1]
BP = ROOT / "bayes_ipd" / "datasets" / "bp_trials.csv"

_SPEC = """\
[data]
path = "{path}"
study = "trial"
treatment = "treat"
outcome = "y"
family = "gaussian"
"""


def _last_line(err: str) -> str:
    return err.strip().splitlines()[-1]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _rows(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    return path


def _gaussian_rows(trials: int = 3, per_arm: int = 10, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(trials):
        for t in (0, 1):
            parts.append(
                pd.DataFrame(
                    {
                        "trial": f"T{k + 1}",
                        "treat": t,
                        "y": rng.normal(-t, 1, per_arm),
                        "id": np.arange(per_arm) + 100 * t,
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


# -- 1. the spec file: byte-order mark, folder, device, symbolic link loop ----------------


def test_a_spec_with_a_byte_order_mark_is_read(tmp_path):
    rows = _rows(tmp_path, _gaussian_rows())
    spec = tmp_path / "bom.toml"
    spec.write_bytes(b"\xef\xbb\xbf" + _SPEC.format(path=rows.name).encode())
    assert read_analysis_spec(spec).data.outcome == "y"


def test_a_folder_as_the_spec_is_called_a_folder(tmp_path, capsys):
    with pytest.raises(SpecError, match="is a folder"):
        read_analysis_spec(tmp_path)
    with pytest.raises(SpecError, match="is a folder"):
        resolve_spec(str(tmp_path))
    code, _, err = _run(["run", str(tmp_path)], capsys)
    assert code == 2
    last = _last_line(err)
    assert last.startswith("error:") and "is a folder" in last and "not found" not in last, last


def _device_node(folder: Path) -> Path:
    """A character device (the null device's numbers) made in ``folder``, never one in /dev:
    a test of code that wrongly reads or replaces it must not harm the machine."""
    node = folder / "device"
    try:
        os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except (AttributeError, OSError):
        pytest.skip("cannot make a device node here (not root, or not POSIX)")
    return node


def test_a_device_as_the_spec_is_not_a_regular_file(tmp_path, capsys):
    with pytest.raises(SpecError, match="is not a regular file"):
        read_analysis_spec(_device_node(tmp_path))
    if Path("/dev/zero").exists():  # resolved, never read: reading it would never end
        code, _, err = _run(["run", "/dev/zero"], capsys)
        assert code == 2
        assert "is not a regular file" in _last_line(err), err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_as_the_spec_is_not_a_regular_file(tmp_path):
    pipe = tmp_path / "spec.toml"
    os.mkfifo(pipe)
    with pytest.raises(SpecError, match="is not a regular file"):
        resolve_spec(str(pipe))


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges on Windows")
def test_a_symbolic_link_loop_as_the_spec_is_named(tmp_path, capsys):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(SpecError, match="symbolic link loop"):
        read_analysis_spec(a)
    code, _, err = _run(["run", str(a)], capsys)
    assert code == 2
    last = _last_line(err)
    assert "symbolic link loop" in last and "not found" not in last, last


# -- 2. dataset:NAME is a file of the catalogue --------------------------------------------


@pytest.mark.parametrize("name", ["../../etc/passwd", "../__init__.py", "catalogue.py", "nope.csv"])
def test_dataset_names_outside_the_catalogue_are_refused(tmp_path, name):
    spec = tmp_path / "spec.toml"
    spec.write_text(_SPEC.format(path=f"dataset:{name}"), encoding="utf-8")
    with pytest.raises(SpecError, match="no shipped data file") as info:
        read_analysis_spec(spec)
    assert "bp_trials.csv" in str(info.value)  # the message lists what may be named


def test_a_catalogue_file_is_still_found(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(_SPEC.format(path="dataset:bp_trials.csv"), encoding="utf-8")
    assert read_analysis_spec(spec).data.path.read_bytes() == BP.read_bytes()


# -- 3. summarise --out refuses an existing file unless --overwrite ------------------------

_SUMMARISE = ["--study", "trial", "--treatment", "treat", "--family", "gaussian"]
_SUMMARISE += ["--outcome", "y"]


def test_summarise_refuses_to_overwrite_without_the_flag(tmp_path, capsys):
    rows = _rows(tmp_path, _gaussian_rows())
    out = tmp_path / "sums.json"
    out.write_text("earlier summaries", encoding="utf-8")
    code, _, err = _run(["summarise", str(rows), *_SUMMARISE, "--out", str(out)], capsys)
    assert code == 2
    last = _last_line(err)
    assert last.startswith("error:") and "exists" in last and "--overwrite" in last, last
    assert out.read_text(encoding="utf-8") == "earlier summaries"
    argv = ["summarise", str(rows), *_SUMMARISE, "--out", str(out), "--overwrite"]
    code, _, err = _run(argv, capsys)
    assert code == 0, err
    assert out.read_text(encoding="utf-8") != "earlier summaries"


# -- 4. datasets export --overwrite replaces regular files only ---------------------------


def test_export_overwrite_refuses_a_folder(tmp_path, capsys):
    folder = tmp_path / "bp.csv"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(IPDDataError, match="is a folder"):
        export_dataset("bp_trials", folder, overwrite=True)
    code, _, err = _run(["datasets", "export", "bp_trials", str(folder), "--overwrite"], capsys)
    assert code == 2
    assert "is a folder" in _last_line(err), err
    assert (folder / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_export_overwrite_refuses_a_device_node(tmp_path, capsys):
    node = _device_node(tmp_path)  # in tmp_path: the unfixed code replaced /dev/null itself
    with pytest.raises(IPDDataError, match="not a regular file"):
        export_dataset("bp_trials", node, overwrite=True)
    code, _, err = _run(["datasets", "export", "bp_trials", str(node), "--overwrite"], capsys)
    assert code == 2
    assert "not a regular file" in _last_line(err), err
    assert node.is_char_device()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_export_overwrite_refuses_a_named_pipe(tmp_path):
    pipe = tmp_path / "bp.csv"
    os.mkfifo(pipe)
    with pytest.raises(IPDDataError, match="not a regular file"):
        export_dataset("bp_trials", pipe, overwrite=True)
    assert pipe.is_fifo()


def test_export_overwrite_still_replaces_a_file(tmp_path):
    target = tmp_path / "bp.csv"
    target.write_text("old", encoding="utf-8")
    export_dataset("bp_trials", target, overwrite=True)
    assert target.read_bytes() == BP.read_bytes()


# -- 5. an ITE far outside the trials' rows is flagged -------------------------------------


def _new_patients(tmp_path: Path) -> Path:
    path = tmp_path / "new.csv"
    pd.DataFrame({"age": [55.0, 1e300, 60.0]}).to_csv(path, index=False)
    return path


def test_ite_warns_when_a_patient_lies_outside_the_trials(tmp_path):
    rows = pd.read_csv(BP)
    patients = pd.read_csv(_new_patients(tmp_path))
    kw = {"study": "trial", "treatment": "treat", "outcome": "sbp_final", "covariates": ["age"]}
    with pytest.warns(UserWarning, match="row 2 .*'age'.*outside the range") as caught:
        report = ite_report(rows, patients, **kw)
    assert len([w for w in caught if "outside the range" in str(w.message)]) == 1
    assert len(report.warnings) == 1 and "row 2 " in report.warnings[0]
    assert report.to_dict()["warnings"] == list(report.warnings)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # within the range: no warning, no member
        inside = ite_report(rows, patients.iloc[[0, 2]], **kw)
    assert inside.warnings == () and "warnings" not in inside.to_dict()


def test_ite_cli_prints_the_warning_and_adds_it_to_json(tmp_path, capsys):
    new = _new_patients(tmp_path)
    argv = ["ite", str(BP), "--study", "trial", "--treatment", "treat"]
    argv += ["--outcome", "sbp_final", "--covariates", "age", "--new", str(new)]
    code, out, err = _run([*argv, "--json"], capsys)
    assert code == 0, err
    payload = json.loads(out)
    assert len(payload["predictions"]) == 3
    assert len(payload["warnings"]) == 1 and "'age'" in payload["warnings"][0]
    assert "warning:" in err and "outside the range" in err
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert "warning:" in err and "row 2 " in err and "'age'" in err


# -- 6. run's missing-data refusal speaks the spec's language ------------------------------


def test_run_missing_data_hint_names_the_spec_key(tmp_path, capsys):
    frame = _gaussian_rows()
    frame.loc[4, "y"] = np.nan
    rows = _rows(tmp_path, frame)
    spec = tmp_path / "spec.toml"
    spec.write_text(_SPEC.format(path=rows.name), encoding="utf-8")
    code, _, err = _run(["run", str(spec)], capsys)
    assert code == 2
    last = _last_line(err)
    assert last.startswith("error:") and '[data] missing = "drop"' in last, last
    assert "missing='drop'" not in last and "--missing" not in last


# -- 7. [data] participant -----------------------------------------------------------------


def test_spec_participant_column_repeated_within_a_trial_is_refused(tmp_path, capsys):
    frame = _gaussian_rows()
    frame.loc[frame.index[-1], "id"] = frame.loc[frame.index[-2], "id"]  # repeated in T3
    rows = _rows(tmp_path, frame)
    spec = tmp_path / "spec.toml"
    spec.write_text(_SPEC.format(path=rows.name) + 'participant = "id"\n', encoding="utf-8")
    assert read_analysis_spec(spec).data.participant == "id"
    code, _, err = _run(["run", str(spec)], capsys)
    assert code == 2
    last = _last_line(err)
    assert last.startswith("error:") and "'T3'" in last and "'id'" in last, last


def test_spec_participant_is_optional_and_written_back(tmp_path):
    from bayes_ipd.spec import write_analysis_spec

    rows = _rows(tmp_path, _gaussian_rows())
    spec = tmp_path / "spec.toml"
    spec.write_text(_SPEC.format(path=rows.name), encoding="utf-8")
    assert read_analysis_spec(spec).data.participant is None
    spec.write_text(_SPEC.format(path=rows.name) + 'participant = "id"\n', encoding="utf-8")
    again = tmp_path / "again.toml"
    write_analysis_spec(read_analysis_spec(spec), again)
    assert read_analysis_spec(again).data.participant == "id"
