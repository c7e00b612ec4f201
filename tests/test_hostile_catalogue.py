"""Issue 29's hostile items rebuilt as one catalogue, with other data than the issue's.

Each case feeds one hostile or awkward input to the command line (in-process through
:func:`bayes_ipd.cli.main`, or as a subprocess where a pipe or a signal is needed) and holds
it to the contract of the command line (README, ``bayes_ipd.cli``):

* exit 2 on bad input (130 on an interrupt), with the last line on standard error starting
  with ``error: `` and naming the file, column, trial or value at fault;
* no Python traceback, never the "unexpected failure" line of exit 1;
* every input file byte-identical after the run, and nothing written on failure (no partial
  ``--out`` folder or file, no staging folder).

The data are the other shipped data sets (exported with ``bayes-ipd datasets export``) and
small frames made here; the issue's own examples are the unit tests of each item
(``test_first_contact_3_*.py``). No case samples: where a case needs a fit, the check that
fails it comes before sampling.
"""

from __future__ import annotations

import gzip
import json
import lzma
import os
import signal
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.cli import main

#: the shipped data sets the catalogue is built from (none of them is issue 29's example)
DATASETS = ("bp_trials", "huber2000", "lanza", "survival_trials", "hackshaw1998", "rubin1981")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every data set of :data:`DATASETS` written once with ``datasets export``."""
    folder = tmp_path_factory.mktemp("exported")
    paths = {}
    for name in DATASETS:
        path = folder / f"{name}.csv"
        assert main(["datasets", "export", name, str(path)]) == 0
        paths[name] = path
    return paths


@pytest.fixture(scope="module")
def bp_summaries(exported: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Per-trial summaries of bp_trials made by ``bayes-ipd summarise`` (as a site would)."""
    path = tmp_path_factory.mktemp("summaries") / "bp_summaries.json"
    argv = ["summarise", str(exported["bp_trials"]), "--study", "trial", "--treatment"]
    argv += ["treat", "--family", "gaussian", "--outcome", "sbp_final", "--covariates", "age"]
    assert main([*argv, "--out", str(path)]) == 0
    return json.loads(path.read_text())


def _snapshot(folder: Path) -> dict[str, object]:
    """Every entry under ``folder`` (hidden ones too): a file's bytes, a link's target, and
    a marker for folders (an empty ``--out`` folder left behind counts) and special files."""
    entries: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            entries[str(path.relative_to(folder))] = ("link", os.readlink(path))
        elif path.is_file():
            entries[str(path.relative_to(folder))] = path.read_bytes()
        else:  # a folder, a FIFO: never read (a FIFO would block)
            entries[str(path.relative_to(folder))] = ("dir" if path.is_dir() else "special",)
    return entries


def _last_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "nothing on standard error"
    return lines[-1]


def _assert_refused(code: int, err: str, names: tuple[str, ...], exit_code: int = 2) -> None:
    """The contract for bad input: exit code, one ``error:`` line naming the fault."""
    assert "Traceback" not in err, err
    last = _last_error_line(err)
    assert code == exit_code, err
    assert last.startswith("error: "), last
    assert "unexpected failure" not in last, last
    for name in names:
        assert name in last, (name, last)


# --------------------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class Case:
    """One hostile input: the argv (run in ``folder``) and what the error line must name."""

    argv: list[str]
    names: tuple[str, ...]


Builder = Callable[[Path, dict[str, Path], dict], Case]


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _two_stage_survival(path: Path) -> list[str]:
    argv = ["two-stage", str(path), "--study", "trial", "--treatment", "treat", "--family"]
    return [*argv, "survival", "--time", "time", "--event", "event"]


def _two_stage_huber(path: Path) -> list[str]:
    argv = ["two-stage", str(path), "--study", "study", "--treatment", "treatment"]
    argv += ["--family", "poisson", "--outcome", "recurrences", "--experimental", "Uro-Vaxom"]
    return argv


def _two_stage_bp(path: Path, covariates: str = "age") -> list[str]:
    argv = ["two-stage", str(path), "--study", "trial", "--treatment", "treat", "--family"]
    return [*argv, "gaussian", "--outcome", "sbp_final", "--covariates", covariates]


def truncated_gzip_survival(folder: Path, data: dict[str, Path], _: dict) -> Case:
    whole = gzip.compress(data["survival_trials"].read_bytes())
    path = folder / "survival.csv.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    return Case(_two_stage_survival(path), ("survival.csv.gz",))


def corrupt_xz_huber(folder: Path, data: dict[str, Path], _: dict) -> Case:
    whole = bytearray(lzma.compress(data["huber2000"].read_bytes()))
    whole[len(whole) // 2 : len(whole) // 2 + 16] = b"\xff" * 16
    path = folder / "huber.csv.xz"
    path.write_bytes(bytes(whole))
    return Case(_two_stage_huber(path), ("huber.csv.xz",))


def zst_lanza(folder: Path, data: dict[str, Path], _: dict) -> Case:
    path = folder / "lanza.csv.zst"  # zstd's magic number, then a frame no reader can take
    path.write_bytes(b"(\xb5/\xfd" + data["lanza"].read_bytes()[:200])
    argv = ["two-stage", str(path), "--study", "study", "--treatment", "treatment"]
    argv += ["--family", "ordinal", "--outcome", "classification"]
    return Case([*argv, "--experimental", "Misoprostol"], ("lanza.csv.zst",))


def summarise_out_from_truncated_gzip(folder: Path, data: dict[str, Path], _: dict) -> Case:
    whole = gzip.compress(data["bp_trials"].read_bytes())
    path = folder / "bp.csv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    argv = ["summarise", str(path), "--study", "trial", "--treatment", "treat", "--family"]
    argv += ["gaussian", "--outcome", "sbp_final", "--out", str(folder / "sums.json")]
    return Case(argv, ("bp.csv.gz",))


def thousands_separators_survival(folder: Path, data: dict[str, Path], _: dict) -> Case:
    rows = _read(data["survival_trials"])
    # sbp in Pa-like units written with thousands separators: "14,939" for 149.39 mmHg
    rows["sbp"] = [f"{float(v) * 100:,.0f}" for v in rows["sbp"]]
    path = folder / "survival_thousands.csv"
    rows.to_csv(path, index=False)
    return Case([*_two_stage_survival(path), "--covariates", "age,sbp"], ("'sbp'",))


def decimal_commas_bp(folder: Path, data: dict[str, Path], _: dict) -> Case:
    rows = _read(data["bp_trials"])
    rows["sbp_baseline"] = rows["sbp_baseline"].str.replace(".", ",", regex=False)
    path = folder / "bp_decimal_commas.csv"
    rows.to_csv(path, index=False)  # quoted by pandas: the file still has five columns
    return Case(_two_stage_bp(path, "age,sbp_baseline"), ("'sbp_baseline'",))


def decimal_commas_pool_hackshaw(folder: Path, data: dict[str, Path], _: dict) -> Case:
    table = _read(data["hackshaw1998"])
    table["logor"] = [f"{np.log(float(v)):.4f}".replace(".", ",") for v in table["or"]]
    table["se"] = [
        f"{(np.log(float(hi)) - np.log(float(lo))) / 3.92:.4f}"
        for lo, hi in zip(table["ci_lb"], table["ci_ub"], strict=True)
    ]
    path = folder / "hackshaw_commas.csv"
    table.to_csv(path, index=False)
    argv = ["pool", str(path), "--estimate", "logor", "--se", "se", "--study", "author"]
    return Case([*argv, "--scale", "logOR"], ("'logor'",))


def participant_repeated_survival(folder: Path, data: dict[str, Path], _: dict) -> Case:
    rows = _read(data["survival_trials"])
    rows["pid"] = rows.groupby("trial").cumcount().astype(str)
    # the first trial's rows written twice (two visits): pid repeats within that trial
    first = rows["trial"].iloc[0]
    rows = pd.concat([rows, rows[rows["trial"] == first]], ignore_index=True)
    path = folder / "survival_visits.csv"
    rows.to_csv(path, index=False)
    return Case([*_two_stage_survival(path), "--participant", "pid"], ("'pid'", f"'{first}'"))


def newline_in_trial_label_huber(folder: Path, data: dict[str, Path], _: dict) -> Case:
    rows = _read(data["huber2000"])
    label = rows["study"].iloc[-1]
    rows.loc[rows["study"] == label, "study"] = label.replace(" ", "\n")
    path = folder / "huber_newline.csv"
    rows.to_csv(path, index=False)  # the label quoted over two lines, as CSV allows
    return Case(_two_stage_huber(path), (repr(label.replace(" ", "\n")),))


def pool_overflowing_estimates_rubin(folder: Path, data: dict[str, Path], _: dict) -> Case:
    table = _read(data["rubin1981"])
    table.loc[0, "effect"], table.loc[1, "effect"] = "1e308", "-1e308"
    path = folder / "schools_huge.csv"
    table.to_csv(path, index=False)
    argv = ["pool", str(path), "--estimate", "effect", "--se", "stderr", "--study", "school"]
    return Case(argv, (f"'{table.loc[0, 'school']}'",))


def ite_negative_seed_survival(folder: Path, data: dict[str, Path], _: dict) -> Case:
    new = folder / "new.csv"
    pd.DataFrame({"age": [50.0, 70.0], "bmi": [24.0, 31.0]}).to_csv(new, index=False)
    argv = ["ite", str(data["survival_trials"]), "--study", "trial", "--treatment", "treat"]
    argv += ["--outcome", "sbp", "--covariates", "age,bmi", "--new", str(new), "--seed", "-1"]
    return Case(argv, ("--seed", "-1"))


def _spec(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


_HUBER_SPEC = """
[data]
path = "dataset:huber2000.csv"
study = "study"
treatment = "treatment"
outcome = "recurrences"
family = "poisson"
experimental = "Uro-Vaxom"
"""


def chains_beyond_bound(folder: Path, data: dict[str, Path], _: dict) -> Case:
    spec = _spec(folder, "huber.toml", _HUBER_SPEC + "\n[sampler]\nchains = 100000\n")
    argv = ["run", str(spec), "--out", str(folder / "out"), "--report", str(folder / "r.html")]
    return Case(argv, ("sampler.chains = 100000",))


def chains_beyond_bound_on_the_command_line(folder: Path, data: dict[str, Path], _: dict) -> Case:
    argv = ["run", "lanza_ordinal", "--chains", "65", "--out", str(folder / "out")]
    return Case(argv, ("sampler.chains = 65",))


def sensitivity_grid_beyond_bound(folder: Path, data: dict[str, Path], _: dict) -> Case:
    taus = ", ".join(f'"half_normal({0.1 * (i + 1):.1f})"' for i in range(20))
    effects = ", ".join(f'"normal(0, {i + 1})"' for i in range(6))
    grid = f"\n[sensitivity]\ntau = [{taus}]\neffect = [{effects}]\n"
    spec = _spec(folder, "huber_grid.toml", _HUBER_SPEC + grid)
    argv = ["run", str(spec), "--sensitivity", "--out", str(folder / "out")]
    return Case(argv, ("120 prior combinations",))


def integrity_threshold_nan(folder: Path, data: dict[str, Path], _: dict) -> Case:
    spec = _spec(folder, "huber_nan.toml", _HUBER_SPEC + "\n[report]\nintegrity_threshold = nan\n")
    return Case(["run", str(spec), "--out", str(folder / "out")], ("integrity_threshold = nan",))


_SUMMARIES_SPEC = """
[data]
summaries = ["bp_tampered.json"]
study = "trial"
treatment = "treat"
outcome = "sbp_final"
family = "gaussian"

[model]
covariates = ["age"]
"""


def _tampered_summaries(
    trial: int, edit: Callable[[dict], None] | None = None, raw: tuple[str, str] | None = None
) -> Builder:
    """A case: bp_trials' summaries with trial ``trial`` edited (or a key's JSON replaced)."""

    def build(folder: Path, data: dict[str, Path], summaries: dict) -> Case:
        doc = json.loads(json.dumps(summaries))
        entry = doc["trials"][trial]
        if edit is not None:
            edit(entry)
        text = json.dumps(doc)
        if raw is not None:
            key, value = raw
            entry[key] = "PLACEHOLDER"
            text = json.dumps(doc).replace('"PLACEHOLDER"', value)
        (folder / "bp_tampered.json").write_text(text)
        spec = _spec(folder, "from_summaries.toml", _SUMMARIES_SPEC)
        names = (f"'{entry['study']}'",) + ((raw[0],) if raw else ())
        return Case(["run", str(spec), "--out", str(folder / "out")], names)

    return build


def _set(key: str, index: int, value: object) -> Callable[[dict], None]:
    return lambda entry: entry[key].__setitem__(index, value)


def control_character_in_trial_label_lanza(folder: Path, data: dict[str, Path], _: dict) -> Case:
    rows = _read(data["lanza"])
    rows.loc[rows["study"] == "II", "study"] = "II\x1b[31m"  # an ANSI colour escape
    path = folder / "lanza_ansi.csv"
    rows.to_csv(path, index=False)
    argv = ["two-stage", str(path), "--study", "study", "--treatment", "treatment"]
    argv += ["--family", "ordinal", "--outcome", "classification"]
    return Case([*argv, "--experimental", "Misoprostol"], (repr("II\x1b[31m"),))


def spec_with_byte_order_mark(folder: Path, data: dict[str, Path], _: dict) -> Case:
    # read past the BOM: the refusal is the next check's (the chains bound), not "line 1"
    path = folder / "huber_bom.toml"
    path.write_text(_HUBER_SPEC + "\n[sampler]\nchains = 100000\n", encoding="utf-8-sig")
    return Case(["run", str(path)], ("sampler.chains = 100000",))


def spec_escaping_the_datasets_folder(folder: Path, data: dict[str, Path], _: dict) -> Case:
    text = _HUBER_SPEC.replace("dataset:huber2000.csv", "dataset:../../../../etc/passwd")
    spec = _spec(folder, "escape.toml", text)
    return Case(["run", str(spec), "--out", str(folder / "out")], ("../../../../etc/passwd",))


def spec_symlink_loop(folder: Path, data: dict[str, Path], _: dict) -> Case:
    (folder / "a.toml").symlink_to(folder / "b.toml")
    (folder / "b.toml").symlink_to(folder / "a.toml")
    return Case(["run", str(folder / "a.toml")], ("a.toml", "loop"))


def spec_is_a_folder(folder: Path, data: dict[str, Path], _: dict) -> Case:
    (folder / "specs").mkdir()
    return Case(["run", str(folder / "specs")], ("specs", "folder"))


def summarise_out_onto_an_existing_file(folder: Path, data: dict[str, Path], _: dict) -> Case:
    (folder / "huber_sums.json").write_text("a site's earlier summaries")
    argv = ["summarise", str(data["huber2000"]), "--study", "study", "--treatment", "treatment"]
    argv += ["--family", "poisson", "--outcome", "recurrences", "--experimental", "Uro-Vaxom"]
    return Case([*argv, "--out", str(folder / "huber_sums.json")], ("huber_sums.json",))


CATALOGUE: dict[str, Builder] = {
    "truncated .csv.gz (survival_trials)": truncated_gzip_survival,
    "corrupt .csv.xz (huber2000)": corrupt_xz_huber,
    ".csv.zst (lanza)": zst_lanza,
    "summarise --out from a truncated .csv.gz (bp_trials)": summarise_out_from_truncated_gzip,
    "thousands separators in a covariate (survival sbp)": thousands_separators_survival,
    "decimal commas in a covariate (bp sbp_baseline)": decimal_commas_bp,
    "decimal commas in pool's estimates (hackshaw1998)": decimal_commas_pool_hackshaw,
    "participant repeated within a trial (survival)": participant_repeated_survival,
    "newline in a trial label (huber2000)": newline_in_trial_label_huber,
    "pool on estimates of +-1e308 (rubin1981)": pool_overflowing_estimates_rubin,
    "ite --seed -1 (survival_trials)": ite_negative_seed_survival,
    "[sampler] chains beyond the bound (huber2000 spec)": chains_beyond_bound,
    "--chains beyond the bound (lanza_ordinal)": chains_beyond_bound_on_the_command_line,
    "[sensitivity] grid beyond the bound (huber2000 spec)": sensitivity_grid_beyond_bound,
    "integrity_threshold = nan (huber2000 spec)": integrity_threshold_nan,
    "summaries: negative count": _tampered_summaries(3, _set("n_arm", 1, -40)),
    "summaries: count inconsistent with Z'Z": _tampered_summaries(4, _set("n_arm", 0, 1000)),
    "summaries: NaN": _tampered_summaries(2, raw=("yty", "NaN")),
    "summaries: null": _tampered_summaries(5, raw=("n_arm", "[100, null]")),
    "summaries: a list in place of a number": _tampered_summaries(6, raw=("yty", "[[1, 2], 3]")),
    "ANSI escape in a trial label (lanza)": control_character_in_trial_label_lanza,
    "spec with a byte-order mark (huber2000 spec)": spec_with_byte_order_mark,
    "dataset:../ escaping the datasets folder": spec_escaping_the_datasets_folder,
    "spec is a symbolic-link loop": spec_symlink_loop,
    "spec is a folder": spec_is_a_folder,
    "summarise --out onto an existing file (huber2000)": summarise_out_onto_an_existing_file,
}


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_hostile_input_is_refused_by_the_contract(
    name: str, tmp_path: Path, exported: dict[str, Path], bp_summaries: dict, capsys
) -> None:
    case = CATALOGUE[name](tmp_path, exported, bp_summaries)
    before, shipped = _snapshot(tmp_path), _snapshot(exported["bp_trials"].parent)
    code = main(case.argv)
    _assert_refused(code, capsys.readouterr().err, case.names)
    assert _snapshot(tmp_path) == before  # inputs untouched, no partial output of any kind
    assert _snapshot(exported["bp_trials"].parent) == shipped


# --------------------------------------------------------------------------- awkward but valid


#: ``bayes-ipd`` as a subprocess, with the interpreter running these tests
_COMMAND = [sys.executable, "-c", "import sys; from bayes_ipd.cli import main; sys.exit(main())"]


def _bayes_ipd(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*_COMMAND, *argv], capture_output=True, timeout=120, **kwargs)


def _pool_rubin(path: Path) -> list[str]:
    return ["pool", str(path), "--estimate", "effect", "--se", "stderr", "--study", "school"]


@pytest.mark.parametrize(
    ("dataset", "command", "k"),
    [("huber2000", _two_stage_huber, 5), ("rubin1981", _pool_rubin, 8)],
    ids=["two-stage huber2000", "pool rubin1981"],
)
def test_piped_rows_read_as_the_file_is(
    dataset: str, command: Callable[[Path], list[str]], k: int, exported: dict[str, Path], capsys
) -> None:
    """``cat FILE | bayes-ipd ... /dev/stdin``: a real pipe (not seekable), read once."""
    path = exported[dataset]
    before = path.read_bytes()
    argv = [*command(path), "--json"]
    assert main(argv) == 0
    from_file = json.loads(capsys.readouterr().out)
    argv[1] = "/dev/stdin"
    piped = _bayes_ipd(argv, input=before)
    assert piped.returncode == 0, piped.stderr.decode()
    assert b"Traceback" not in piped.stderr
    assert json.loads(piped.stdout) == from_file
    assert from_file["pooled"]["k"] == k  # every trial read, the header first
    assert path.read_bytes() == before


def test_pool_on_50000_studies_is_quick(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(29)
    k = 50_000
    se = rng.uniform(0.05, 0.6, k)
    table = pd.DataFrame(
        {"id": np.arange(k), "yi": rng.normal(0.2, np.sqrt(se**2 + 0.01)), "se": se}
    )
    path = tmp_path / "many.csv"
    table.to_csv(path, index=False)
    before = _snapshot(tmp_path)
    start = time.perf_counter()
    code = main(["pool", str(path), "--estimate", "yi", "--se", "se", "--study", "id", "--json"])
    elapsed = time.perf_counter() - start
    captured = capsys.readouterr()
    assert code == 0, captured.err
    pooled = json.loads(captured.out)["pooled"]
    assert pooled["k"] == k and len(json.loads(captured.out)["per_study"]) == k
    assert abs(pooled["estimate"] - 0.2) < 0.01 and abs(pooled["tau2"] - 0.01) < 0.005
    assert elapsed < 10.0
    assert _snapshot(tmp_path) == before


def test_utf16_huber_with_mixed_nfc_nfd_labels_reads_as_utf8_does(
    tmp_path: Path, exported: dict[str, Path], capsys
) -> None:
    """A UTF-16 file (with its byte-order mark) whose one trial is spelled in NFC and NFD."""
    rows = _read(exported["huber2000"])
    label = rows["study"].iloc[0]
    nfc, nfd = "Zürich (1990)", unicodedata.normalize("NFD", "Zürich (1990)")
    assert nfc != nfd
    rows["study"] = rows["study"].replace(label, nfc)
    rows.loc[rows.index[rows["study"] == nfc][::2], "study"] = nfd
    plain, wide = tmp_path / "huber8.csv", tmp_path / "huber16.csv"
    rows.replace(nfd, nfc).to_csv(plain, index=False)
    rows.to_csv(wide, index=False, encoding="utf-16")
    assert nfd in wide.read_text(encoding="utf-16")  # both spellings in the file read
    before = _snapshot(tmp_path)
    results = []
    for path in (plain, wide):
        assert main([*_two_stage_huber(path), "--json"]) == 0
        results.append(json.loads(capsys.readouterr().out))
    assert results[0]["pooled"]["k"] == 5  # one trial, not two spellings of it
    labels = [row["study"] for row in results[1]["per_study"]]
    assert nfc in labels and nfd not in labels
    assert results[1] == results[0]
    assert _snapshot(tmp_path) == before


def test_ite_patient_far_outside_the_trials_is_flagged(
    tmp_path: Path, exported: dict[str, Path], capsys
) -> None:
    new = tmp_path / "new_far.csv"
    new.write_text("age,bmi\n55,27\n1e300,27\n")
    argv = ["ite", str(exported["survival_trials"]), "--study", "trial", "--treatment", "treat"]
    argv += ["--outcome", "sbp", "--covariates", "age,bmi", "--new", str(new)]
    before = _snapshot(tmp_path)
    code = main(argv)
    captured = capsys.readouterr()
    assert _snapshot(tmp_path) == before
    assert code == 0, captured.err
    assert "Traceback" not in captured.err
    warning = next(line for line in captured.err.splitlines() if line.startswith("warning: "))
    assert "'age'" in warning and "1e+300" in warning and "extrapolation" in warning


def test_datasets_export_refuses_to_replace_a_fifo(tmp_path: Path) -> None:
    """``--overwrite`` onto a named pipe: a subprocess, since a write would block on it."""
    fifo = tmp_path / "schools.csv"
    os.mkfifo(fifo)
    done = _bayes_ipd(["datasets", "export", "rubin1981", str(fifo), "--overwrite"])
    _assert_refused(done.returncode, done.stderr.decode(), (str(fifo), "not a regular file"))
    assert fifo.is_fifo() and [p.name for p in tmp_path.iterdir()] == ["schools.csv"]


def test_covariate_in_tiny_units_excludes_no_trial(
    tmp_path: Path, exported: dict[str, Path], capsys
) -> None:
    """survival_trials' age in units 1e12 times smaller: no false "singular design"."""
    rows = pd.read_csv(exported["survival_trials"])
    years, tiny = tmp_path / "years.csv", tmp_path / "tiny.csv"
    rows.to_csv(years, index=False)
    rows.assign(age=rows["age"] * 1e12).to_csv(tiny, index=False)
    before = _snapshot(tmp_path)
    results = []
    for path in (years, tiny):
        argv = ["two-stage", str(path), "--study", "trial", "--treatment", "treat"]
        argv += ["--family", "gaussian", "--outcome", "sbp", "--covariates", "age,bmi", "--json"]
        assert main(argv) == 0
        results.append(json.loads(capsys.readouterr().out))
    for result in results:
        assert [row["excluded"] for row in result["per_study"]] == [None] * 10
    assert results[1]["pooled"]["estimate"] == pytest.approx(
        results[0]["pooled"]["estimate"], rel=1e-6
    )
    assert _snapshot(tmp_path) == before


def test_cache_clear_leaves_a_users_tmp_files(monkeypatch, tmp_path: Path, capsys) -> None:
    from bayes_ipd.one_stage import cache

    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    key = "fedcba9876543210" * 4
    cache.write_entry(cache.entry_path(key), {"key": key})
    users = {
        "analysis-backup.tmp": b"my half-written analysis",
        "0123456789abcdef.tmp": b"looks like an entry's name but is mine",
        ".~lock.summary.csv#": b"an office lock file",
    }
    for name, content in users.items():
        (tmp_path / name).write_bytes(content)
    assert main(["cache", "clear"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == users


def test_interrupt_while_reading_a_pipe_exits_130_and_writes_nothing(
    tmp_path: Path, exported: dict[str, Path]
) -> None:
    """Ctrl-C while the rows still come through a pipe into ``summarise --out``: exit 130,
    an ``error: interrupted`` line, no summaries file."""
    if not Path("/proc/self/wchan").exists():
        pytest.skip("no /proc/PID/wchan to see the process wait on its pipe")
    argv = ["summarise", "/dev/stdin", "--study", "study", "--treatment", "treatment"]
    argv += ["--family", "poisson", "--outcome", "recurrences", "--experimental", "Uro-Vaxom"]
    argv += ["--out", str(tmp_path / "sums.json")]
    process = subprocess.Popen(
        [*_COMMAND, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert process.stdin is not None
        process.stdin.write(exported["huber2000"].read_bytes()[:300])  # the start of the file
        process.stdin.flush()
        wchan = Path(f"/proc/{process.pid}/wchan")
        deadline = time.monotonic() + 60
        # (anon_)pipe_read: imported, inside main, waiting for the rest of the rows
        while not wchan.read_text().endswith("pipe_read"):
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.skip(f"the process never waited on its pipe ({wchan.read_text()!r})")
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    _assert_refused(process.returncode, err.decode(), ("interrupted",), exit_code=130)
    assert out == b""
    assert list(tmp_path.iterdir()) == []
