"""The ``[ite]`` section of an analysis spec: parsing, round trip, and ``bayes-ipd run``.

The contract: ``run --json`` of a spec with ``[ite]`` holds an ``"ite"`` member equal to
the object ``bayes-ipd ite --json`` prints for the same rows and options, and keeps the
keys it has without the section.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from bayes_ipd.cli import main
from bayes_ipd.errors import SpecError
from bayes_ipd.spec import ITESettings, parse_analysis_spec, read_analysis_spec, write_analysis_spec

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "bayes_ipd" / "datasets"
SMALL = ["--draws", "150", "--tune", "150", "--chains", "2"]
RUN_KEYS = ["spec", "model", "priors", "posterior", "diagnostics", "two_stage"]


def _spec(ite: str, data: str = 'path = "bp.csv"') -> str:
    """A blood-pressure spec (columns of bp_trials.csv) with the given ``[ite]`` body."""
    columns = 'study = "trial"\ntreatment = "treat"\noutcome = "sbp_final"\nfamily = "gaussian"'
    return f'[data]\n{data}\n{columns}\n\n[model]\ncovariates = ["age"]\n\n[ite]\n{ite}\n'


def _parse(ite: str, tmp_path: Path, **kw):
    return parse_analysis_spec(_spec(ite, **kw), tmp_path)


def test_ite_section_defaults_are_the_commands(tmp_path):
    spec = _parse('covariates = ["age"]\nnew = "new.csv"', tmp_path)
    ite = spec.ite
    assert ite.covariates == ("age",) and ite.new == tmp_path / "new.csv"
    assert (ite.stage1, ite.stage2, ite.random, ite.weights, ite.meta, ite.seed, ite.level) == (
        "ols", "mvma", "all", "auxiliary", "T", 0, 0.95,
    )  # fmt: skip
    # the stage-2 default follows the learner, as `bayes-ipd ite` without --stage2
    forest = _parse('covariates = ["age"]\nnew = "new.csv"\nstage1 = "forest"', tmp_path)
    assert forest.ite.stage2 == "weighted"
    bayes = _parse('covariates = ["age"]\nnew = "new.csv"\nstage1 = "bayes"', tmp_path)
    assert bayes.ite.stage2 == "mvma"
    # no [ite]: no ITE analysis
    plain = parse_analysis_spec(_spec("").replace("[ite]", ""), tmp_path)
    assert plain.ite is None and "ite" not in plain.to_dict()


def test_ite_new_path_takes_the_dataset_prefix(tmp_path):
    spec = _parse('covariates = ["age"]\nnew = "dataset:bp_new_patients.csv"', tmp_path)
    assert spec.ite.new == DATASETS / "bp_new_patients.csv"


@pytest.mark.parametrize(
    ("ite", "message"),
    [
        ('covariates = ["age"]\nnew = "n.csv"\nstage2s = "mvma"', "unknown key ite.stage2s"),
        ('covariates = ["age"]\nnew = "n.csv"\nstage1 = "svm"', "ite.stage1 = 'svm'"),
        ('covariates = ["age"]\nnew = "n.csv"\nstage2 = "pool"', "'mvma', 'weighted'"),
        ('covariates = ["age"]\nnew = "n.csv"\nrandom = "none"', "ite.random = 'none'"),
        ('covariates = ["age"]\nnew = "n.csv"\nweights = "equal"', "'auxiliary', 'bootstrap'"),
        ('covariates = ["age"]\nnew = "n.csv"\nmeta = "X"', "ite.meta = 'X'"),
        ('covariates = ["age"]\nnew = "n.csv"\nseed = -1', "ite.seed = -1"),
        ('covariates = ["age"]\nnew = "n.csv"\nlevel = 95', "ite.level = 95"),
        ('covariates = []\nnew = "n.csv"', "ite.covariates names no column"),
        ('covariates = ["age", "age"]\nnew = "n.csv"', "'age' more than once"),
        ('new = "n.csv"', "ite.covariates is required"),
        ('covariates = ["age"]', "ite.new is required"),
        # a combination the method cannot do is refused when the spec is read
        ('covariates = ["age"]\nnew = "n.csv"\nstage1 = "forest"\nstage2 = "mvma"', "has none"),
        ('covariates = ["age"]\nnew = "n.csv"\nstage2 = "mixing"', "needs a Bayesian stage 1"),
    ],
)
def test_bad_ite_keys_and_values_are_named(tmp_path, ite, message):
    with pytest.raises(SpecError, match="ite") as err:
        _parse(ite, tmp_path)
    assert message in str(err.value)


def test_unknown_ite_key_lists_the_allowed_ones(tmp_path):
    with pytest.raises(SpecError) as err:
        _parse('covariates = ["age"]\nnew = "n.csv"\nlearner = "ols"', tmp_path)
    for key in ("covariates", "new", "stage1", "stage2", "random", "weights", "seed"):
        assert key in str(err.value)


def test_ite_needs_participant_rows_with_an_outcome(tmp_path):
    with pytest.raises(SpecError, match=r"\[ite\] needs participant rows"):
        _parse('covariates = ["age"]\nnew = "n.csv"', tmp_path, data='summaries = ["s.csv"]')


def test_ite_section_round_trips(tmp_path):
    text = _spec(
        'covariates = ["sbp_baseline", "age"]\nnew = "patients/new.csv"\nstage1 = "boosting"\n'
        'weights = "bootstrap"\nmeta = "S"\nseed = 3\nlevel = 0.9\nrandom = "treatment"'
    )
    (tmp_path / "spec.toml").write_text(text)
    spec = read_analysis_spec(tmp_path / "spec.toml")
    out = tmp_path / "copy" / "spec.toml"
    out.parent.mkdir()
    write_analysis_spec(spec, out)
    assert 'new = "../patients/new.csv"' in out.read_text()  # relative to the written file
    again = read_analysis_spec(out)
    assert again.ite == spec.ite
    assert again.ite == ITESettings(
        ("sbp_baseline", "age"), tmp_path / "patients" / "new.csv", "boosting", "weighted",
        "treatment", "bootstrap", "S", 3, 0.9,
    )  # fmt: skip


def test_shipped_ite_spec_reads():
    spec = read_analysis_spec(ROOT / "models" / "bp_ite.toml")
    assert spec.ite.new == DATASETS / "bp_new_patients.csv" and spec.ite.new.is_file()
    assert spec.ite.covariates == ("sbp_baseline", "age")


# --------------------------------------------------------------------------- bayes-ipd run


def _main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


READS: Counter = Counter()
"""Tables read by the shipped run, by file name (each input is read once per run)."""


@pytest.fixture(scope="module")
def shipped_run(tmp_path_factory):
    """``bayes-ipd run bp_ite --out DIR`` (few draws): the JSON document ``run --json``
    prints (``summary.json`` holds it, :meth:`AnalysisResult.to_dict`) and the text."""
    import bayes_ipd.data.reading as reading

    read_table = reading.read_table

    def counting_read_table(path, **kwargs):
        READS[Path(path).name] += 1
        return read_table(path, **kwargs)

    out_dir = tmp_path_factory.mktemp("bp_ite")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reading, "read_table", counting_read_table)
        code, text, err = _main(["run", "bp_ite", "--out", str(out_dir), *SMALL])
    assert code == 0, err
    return json.loads((out_dir / "summary.json").read_text()), text


def test_run_reads_the_rows_and_the_new_patients_once(shipped_run):
    # the [ite] step takes the rows and new patients the run already read
    assert READS["bp_trials.csv"] == 1 and READS["bp_new_patients.csv"] == 1, READS


def test_run_json_ite_member_is_the_ite_commands_object(shipped_run):
    payload, _ = shipped_run
    code, out, err = _main(
        [
            "ite", str(DATASETS / "bp_trials.csv"),
            "--study", "trial", "--treatment", "treat", "--outcome", "sbp_final",
            "--covariates", "sbp_baseline,age", "--new", str(DATASETS / "bp_new_patients.csv"),
            "--stage1", "ols", "--stage2", "mvma", "--random", "all", "--seed", "1", "--json",
        ]
    )  # fmt: skip
    assert code == 0, err
    assert payload["ite"] == json.loads(out)
    assert len(payload["ite"]["predictions"]) == 3  # one per row of the patients file


def test_run_json_keeps_its_keys_and_adds_ite_last(shipped_run):
    payload, _ = shipped_run
    assert list(payload) == [*RUN_KEYS, "ite"]
    assert payload["spec"]["ite"]["stage1"] == "ols"


def test_run_prints_the_ite_table_after_the_main_analysis(shipped_run):
    _, text = shipped_run
    main_part, _, ite_part = text.partition("Individualised treatment effects ([ite], same rows)")
    assert "One-stage vs two-stage" in main_part
    assert "Predicted individualised effects (95% CI and PI):" in ite_part
    assert "treat:sbp_baseline" in ite_part


def test_bad_new_patients_file_fails_before_any_fit(tmp_path, monkeypatch):
    import bayes_ipd.analysis as analysis

    def no_fit(*args, **kwargs):
        raise AssertionError("the one-stage model was fitted before the [ite] check")

    monkeypatch.setattr(analysis, "fit", no_fit)
    (tmp_path / "bp.csv").write_bytes((DATASETS / "bp_trials.csv").read_bytes())
    (tmp_path / "new.csv").write_text("sbp_baseline\n150\n")  # no age column
    spec = _spec('covariates = ["sbp_baseline", "age"]\nnew = "new.csv"')
    (tmp_path / "spec.toml").write_text(spec)
    code, _, err = _main(["run", str(tmp_path / "spec.toml"), *SMALL])
    assert code == 2
    assert "error:" in err and "'age'" in err
