"""First contact, round three (issue 29), the data layer and the two-stage CLI: repeated
participants, numbers written with commas, piped and damaged files, odd encodings and trial
labels, and messages that name the trial or the CLI option (one test per finding, each failed
before its fix)."""

from __future__ import annotations

import gzip
import lzma
import os
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.cli import main
from bayes_ipd.data import IPD
from bayes_ipd.errors import IPDDataError


def _rows(n_per_arm: int = 20, trials: tuple[str, ...] = ("A", "B", "C"), seed: int = 3):
    rng = np.random.default_rng(seed)
    frames = []
    for label in trials:
        treat = np.r_[np.zeros(n_per_arm), np.ones(n_per_arm)]
        frames.append(
            pd.DataFrame(
                {
                    "trial": label,
                    "arm": treat.astype(int),
                    "y": rng.normal(-0.5 * treat, 1.0),
                    "age": np.round(rng.normal(55, 9, treat.size), 4),
                    "id": [f"{label}{i}" for i in range(treat.size)],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _visits(rows: pd.DataFrame, n_visits: int = 3) -> pd.DataFrame:
    """Every participant's row repeated once per visit, with a new outcome per visit."""
    rng = np.random.default_rng(11)
    out = pd.concat([rows.assign(visit=v) for v in range(n_visits)], ignore_index=True)
    out["y"] = rng.normal(0.0, 1.0, len(out))
    return out


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- item 1: repeated rows per participant ---------------------------------------------------


def test_participant_column_repeated_within_trial_is_refused():
    visits = _visits(_rows())
    with pytest.raises(IPDDataError) as info:
        IPD.from_frame(
            visits, study="trial", treatment="arm", outcome="y", covariates="age", participant="id"
        )
    message = str(info.value)
    assert "'A'" in message and "'A0'" in message and "'id'" in message
    assert "repeated measures are not yet modelled" in message


def test_participant_column_unique_within_trial_is_accepted_and_kept_out_of_the_model():
    rows = _rows()
    rows["id"] = np.tile(np.arange(40), 3)  # the same ids in different trials are fine
    ipd = IPD.from_frame(
        rows, study="trial", treatment="arm", outcome="y", covariates="age", participant="id"
    )
    assert ipd.n == 120 and ipd.covariate_names == ("age",)


def test_repeated_covariate_profiles_warn_without_a_participant_column():
    visits = _visits(_rows())
    with pytest.warns(UserWarning, match=r"repeat.*3 trial"):
        IPD.from_frame(visits, study="trial", treatment="arm", outcome="y", covariates="age")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        IPD.from_frame(_rows(), study="trial", treatment="arm", outcome="y", covariates="age")


def test_cli_participant_option_refuses_repeated_participants(tmp_path, capsys):
    path = tmp_path / "visits.csv"
    _visits(_rows()).to_csv(path, index=False)
    argv = ["two-stage", str(path), "--study", "trial", "--treatment", "arm", "--family"]
    argv += ["gaussian", "--outcome", "y", "--covariates", "age", "--participant", "id"]
    code, _, err = _cli(argv, capsys)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: ")
    assert "repeated measures are not yet modelled" in err


# --- item 15: numbers written with commas ----------------------------------------------------


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        (["1,000", "2,500", "12,000"], "1,000"),  # thousands separators
        (["60,1232", "55,9", "71,02"], "60,1232"),  # decimal commas
    ],
)
def test_numbers_with_commas_in_a_covariate_are_refused_naming_the_column(values, shown):
    rows = _rows()
    rows["income"] = [values[i % 3] for i in range(len(rows))]
    with pytest.raises(IPDDataError, match=rf"'income'.*'{shown}'"):
        IPD.from_frame(rows, study="trial", treatment="arm", outcome="y", covariates="income")


def test_decimal_comma_file_read_as_text_is_refused_naming_the_column(tmp_path):
    rows = _rows()
    path = tmp_path / "eu.csv"
    text = rows.assign(age=rows["age"].map(lambda v: f"{v:.4f}".replace(".", ",")))
    text.to_csv(path, index=False, sep=";")
    with pytest.raises(IPDDataError, match=r"'age'.*comma"):
        IPD.read_csv(path, sep=";", study="trial", treatment="arm", outcome="y", covariates="age")


# --- item 19: piped input --------------------------------------------------------------------


def test_piped_input_is_read_once(tmp_path, capsys):
    path = tmp_path / "bp.csv"
    _rows().to_csv(path, index=False)
    read_end, write_end = os.pipe()
    data = path.read_bytes()
    assert len(data) < 60000  # fits in the pipe's buffer: written before reading
    os.write(write_end, data)
    os.close(write_end)
    try:
        argv = [f"/dev/fd/{read_end}", "--study", "trial", "--treatment", "arm"]
        code, out, err = _cli(
            ["two-stage", *argv, "--family", "gaussian", "--outcome", "y"], capsys
        )
    finally:
        os.close(read_end)
    assert code == 0, err
    assert "pooled" in out.lower() and "120" in out  # every row read, the header first


# --- item 20: damaged compressed files -------------------------------------------------------


def test_truncated_gzip_is_a_data_error_naming_the_file(tmp_path):
    path = tmp_path / "rows.csv.gz"
    whole = gzip.compress(_rows().to_csv(index=False).encode())
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(IPDDataError, match=r"rows\.csv\.gz.*(truncated|damaged)"):
        IPD.read_csv(path, study="trial", treatment="arm", outcome="y")


def test_corrupt_xz_is_a_data_error_naming_the_file(tmp_path):
    path = tmp_path / "rows.csv.xz"
    whole = bytearray(lzma.compress(_rows().to_csv(index=False).encode()))
    whole[40:60] = b"\x00" * 20
    path.write_bytes(bytes(whole))
    with pytest.raises(IPDDataError, match=r"rows\.csv\.xz"):
        IPD.read_csv(path, study="trial", treatment="arm", outcome="y")


def test_zst_file_exits_2_naming_the_file(tmp_path, capsys):
    path = tmp_path / "rows.csv.zst"
    path.write_bytes(b"(\xb5/\xfd" + b"\x00" * 40)
    argv = ["two-stage", str(path), "--study", "trial", "--treatment", "arm"]
    code, _, err = _cli([*argv, "--family", "gaussian", "--outcome", "y"], capsys)
    assert code == 2
    assert "rows.csv.zst" in err.strip().splitlines()[-1]


def test_good_gzip_still_reads(tmp_path):
    path = tmp_path / "rows.csv.gz"
    path.write_bytes(gzip.compress(_rows().to_csv(index=False).encode()))
    assert IPD.read_csv(path, study="trial", treatment="arm", outcome="y").n == 120


# --- item 21: encodings and trial labels -----------------------------------------------------


def test_utf16_file_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "rows16.csv"
    path.write_bytes(_rows().to_csv(index=False).encode("utf-16"))
    assert IPD.read_csv(path, study="trial", treatment="arm", outcome="y").n == 120


def test_utf16_without_byte_order_mark_says_save_as_utf8(tmp_path):
    path = tmp_path / "rows16le.csv"
    path.write_bytes(_rows().to_csv(index=False).encode("utf-16-le"))
    with pytest.raises(IPDDataError, match=r"UTF-16.*UTF-8"):
        IPD.read_csv(path, study="trial", treatment="arm", outcome="y")


def test_nfc_and_nfd_spellings_of_a_label_are_one_trial():
    rows = _rows(trials=("Zürich", "Basel"))
    nfd = unicodedata.normalize("NFD", "Zürich")
    rows.loc[rows.index[::2], "trial"] = rows.loc[rows.index[::2], "trial"].replace("Zürich", nfd)
    ipd = IPD.from_frame(rows, study="trial", treatment="arm", outcome="y")
    assert ipd.studies == ("Zürich", "Basel")


@pytest.mark.parametrize("label", ["bad\nlabel", "red\x1b[31m"])
def test_trial_labels_with_control_characters_are_refused(label):
    rows = _rows(trials=("A", "B"))
    rows.loc[rows["trial"] == "B", "trial"] = label
    with pytest.raises(IPDDataError, match=r"control character") as info:
        IPD.from_frame(rows, study="trial", treatment="arm", outcome="y")
    assert repr(label) in str(info.value)


# --- item 10: messages -----------------------------------------------------------------------


def test_three_arm_refusal_names_the_trial():
    rows = _rows()
    rows.loc[(rows["trial"] == "C") & (rows.index % 3 == 0), "arm"] = 2
    with pytest.raises(IPDDataError, match=r"trial 'C'"):
        IPD.from_frame(rows, study="trial", treatment="arm", outcome="y")


def test_two_stage_help_lists_every_family_taking_outcome(capsys):
    from bayes_ipd.families import REGISTRY

    assert main(["two-stage", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    takes = [
        f.name for f in REGISTRY.values() if any(r.option_name == "outcome" for r in f.responses)
    ]
    assert len(takes) > 2
    for name in takes:
        assert name in text.rsplit("--outcome COL", 1)[1].split("--time", 1)[0]


def test_cli_missing_data_error_names_the_cli_option(tmp_path, capsys):
    rows = _rows()
    rows.loc[3, "y"] = np.nan
    path = tmp_path / "gaps.csv"
    rows.to_csv(path, index=False)
    argv = ["two-stage", str(path), "--study", "trial", "--treatment", "arm"]
    code, _, err = _cli([*argv, "--family", "gaussian", "--outcome", "y"], capsys)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert "--missing drop" in last and "missing='drop'" not in last


def test_piped_input_with_save_aggregate_reads_the_pipe_once(tmp_path, capsys):
    path = tmp_path / "bp.csv"
    _rows().to_csv(path, index=False)
    read_end, write_end = os.pipe()
    os.write(write_end, path.read_bytes())
    os.close(write_end)
    saved = tmp_path / "stage1.csv"
    try:
        argv = ["two-stage", f"/dev/fd/{read_end}", "--study", "trial", "--treatment", "arm"]
        argv += ["--family", "gaussian", "--outcome", "y", "--save-aggregate", str(saved)]
        code, _, err = _cli(argv, capsys)
    finally:
        os.close(read_end)
    assert code == 0, err
    assert len(pd.read_csv(saved)) == 3


def test_pool_reads_a_pipe_once(tmp_path, capsys):
    table = "study,estimate,se\nA,-0.5,0.2\nB,-0.3,0.25\nC,-0.7,0.3\n"
    read_end, write_end = os.pipe()
    os.write(write_end, table.encode())
    os.close(write_end)
    try:
        argv = ["pool", f"/dev/fd/{read_end}", "--estimate", "estimate", "--se", "se"]
        code, out, err = _cli([*argv, "--study", "study", "--json"], capsys)
    finally:
        os.close(read_end)
    assert code == 0, err
    assert '"k": 3' in out or '"k":3' in out


def test_pool_on_a_truncated_gzip_exits_2_naming_the_file(tmp_path, capsys):
    path = tmp_path / "trials.csv.gz"
    whole = gzip.compress(("study,estimate,se\n" + "A,-0.5,0.2\n" * 400).encode())
    path.write_bytes(whole[: len(whole) // 2])
    argv = ["pool", str(path), "--estimate", "estimate", "--se", "se", "--study", "study"]
    code, _, err = _cli(argv, capsys)
    assert code == 2
    assert "trials.csv.gz" in err.strip().splitlines()[-1]


def test_piped_gzip_without_a_suffix_is_decompressed(tmp_path):
    read_end, write_end = os.pipe()
    os.write(write_end, gzip.compress(_rows().to_csv(index=False).encode()))
    os.close(write_end)
    try:
        ipd = IPD.read_csv(f"/dev/fd/{read_end}", study="trial", treatment="arm", outcome="y")
    finally:
        os.close(read_end)
    assert ipd.n == 120


def test_an_endless_device_is_refused_from_its_first_bytes():
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    with pytest.raises(IPDDataError, match=r"/dev/zero is not a text file"):
        IPD.read_csv("/dev/zero", study="trial", treatment="arm", outcome="y")
