"""Aggregate-data trials in a network spec (issue 25, item 4 through ``bayes-ipd run``):
``[data] aggregate_arms``, ``aggregate_contrasts`` and ``allow_overlap`` with ``reference``,
passed to both routes as ``bayes-ipd network --aggregate-arms / --aggregate-contrasts /
--allow-overlap`` pass them.

References: the all-rows analysis of the shipped Hasselblad 1998 rows (the AD arms are the
published counts of the same trials, so their sums are the rows' own: exact, 1e-6; that
analysis equals R metafor 3.8-1 ``rma.mv`` to 1e-4 in tests/test_network_two_stage.py), and
the JSON of ``bayes-ipd network`` with the same options (the CLI path).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_ipd as bi
from bayes_ipd.analysis import run_analysis
from bayes_ipd.cli import main
from bayes_ipd.errors import SpecError
from bayes_ipd.spec import parse_analysis_spec, read_analysis_spec

AD_TRIALS = ("Reid et al. 1974", "Cottraux et al. 1983", "Rabkin et al. 1984")
"""Two-arm, three-arm and a zero-event arm (Rabkin: 0.5 added under ``sparse = "cc"``)."""
SPLIT_TRIAL, SPLIT_ARM, SPLIT_KEEP = "Sanders et al. 1989", "ind_counseling", 400

SPEC = """
[data]
path = "{rows}"
study = "study"
treatment = "treatment"
reference = "no_contact"
outcome = "quit"
family = "binomial"
{data}

[network]
route = "{route}"
sparse = "cc"
small_values = "undesirable"

[two_stage]
method = "{method}"
hksj = false
{extra}"""

CONTRASTS = """study,treatment,comparator,estimate,se,cov_with_base
Mothersill et al. 1988,ind_counseling,self_help,0.0012,0.4504,0.1058
Mothersill et al. 1988,grp_counseling,self_help,0.2253,0.3839,0.1058
"""  # docs/network.md's contrast example (rounded; compared with the CLI, not with rows)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """All rows; the rows without the AD trials; those trials' published arm counts; the
    rows with part of one arm given as AD counts (the other participants of that arm)."""
    folder = tmp_path_factory.mktemp("ad")
    rows = bi.datasets.load_hasselblad1998_rows()
    counts = bi.datasets.load_hasselblad1998()
    counts["study"] = counts.authors + " " + counts.year.astype(str)
    arms = counts[counts.study.isin(AD_TRIALS)].rename(
        columns={"trt": "treatment", "xi": "events", "ni": "n"}
    )[["study", "treatment", "events", "n"]]
    in_arm = (rows.study == SPLIT_TRIAL) & (rows.treatment == SPLIT_ARM)
    rest = rows[in_arm].iloc[SPLIT_KEEP:]
    overlap = pd.DataFrame({"study": [SPLIT_TRIAL], "treatment": [SPLIT_ARM],
                            "events": [int(rest.quit.sum())], "n": [len(rest)]})  # fmt: skip
    out = {
        "all": folder / "all.csv",
        "ipd": folder / "ipd.csv",
        "arms": folder / "arms.csv",
        "split_rows": folder / "split_rows.csv",
        "overlap": folder / "overlap.csv",
        "contrasts": folder / "contrasts.csv",
    }
    rows.to_csv(out["all"], index=False)
    rows[~rows.study.isin(AD_TRIALS)].to_csv(out["ipd"], index=False)
    arms.to_csv(out["arms"], index=False)
    rows.drop(index=rest.index).to_csv(out["split_rows"], index=False)
    overlap.to_csv(out["overlap"], index=False)
    out["contrasts"].write_text(CONTRASTS, encoding="utf-8")
    return out


def _spec(tmp_path: Path, rows: Path, data: str = "", route="two-stage", method="REML",
          extra: str = "") -> Path:  # fmt: skip
    path = tmp_path / "spec.toml"
    text = SPEC.format(rows=rows, data=data, route=route, method=method, extra=extra)
    path.write_text(text, encoding="utf-8")
    return path


def _two_stage(spec_path: Path):
    return run_analysis(read_analysis_spec(spec_path)).two_stage


def _assert_same_fit(a, b, tol=1e-6):
    np.testing.assert_allclose(a.fit.estimate, b.fit.estimate, rtol=0, atol=tol)
    np.testing.assert_allclose(a.fit.covariance, b.fit.covariance, rtol=0, atol=tol)
    assert a.fit.tau2 == pytest.approx(b.fit.tau2, abs=tol)
    qa, qb = a.inconsistency, b.inconsistency
    assert (qa.q_total, qa.q_between) == pytest.approx((qb.q_total, qb.q_between), abs=tol)
    assert a.k == b.k


@pytest.mark.parametrize("method", ["REML", "ML", "FE"])
def test_ad_arms_in_a_spec_give_the_all_rows_network(files, tmp_path, method):
    full = _two_stage(_spec(tmp_path, files["all"], method=method))
    data = f'aggregate_arms = "{files["arms"]}"'
    mixed = _two_stage(_spec(tmp_path, files["ipd"], data, method=method))
    _assert_same_fit(mixed, full)
    assert full.k == 24 and not mixed.excluded()
    # REML, 0.5 added to Rabkin's cells: metafor 3.8-1 tau2 0.4502296205 (docs/network.md)
    if method == "REML":
        assert mixed.fit.tau2 == pytest.approx(0.4502296205, abs=1e-4)
    sources = mixed.data.arm_table().set_index(["study", "treatment"])["source"]
    assert (sources.loc[list(AD_TRIALS)] == "AD").all()


def test_allow_overlap_adds_the_ad_participants_to_the_arm(files, tmp_path, capsys):
    full = _two_stage(_spec(tmp_path, files["all"]))
    data = f'aggregate_arms = "{files["overlap"]}"'
    refused = _spec(tmp_path, files["split_rows"], data)
    assert main(["run", str(refused)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and SPLIT_TRIAL in err and "allow_overlap" in err
    mixed = _two_stage(_spec(tmp_path, files["split_rows"], data + "\nallow_overlap = true"))
    _assert_same_fit(mixed, full)


def test_run_json_equals_the_network_command_with_the_same_ad(files, tmp_path, capsys):
    data = f'aggregate_arms = "{files["arms"]}"\naggregate_contrasts = "{files["contrasts"]}"'
    rows = files["ipd"]
    mothersill = pd.read_csv(rows).query("study != 'Mothersill et al. 1988'")
    no_mothersill = tmp_path / "rows.csv"
    mothersill.to_csv(no_mothersill, index=False)
    assert main(["run", str(_spec(tmp_path, no_mothersill, data)), "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    argv = ["network", str(no_mothersill), "--study", "study", "--treatment", "treatment",
            "--reference", "no_contact", "--outcome", "quit", "--sparse", "cc",
            "--small-values", "undesirable", "--aggregate-arms", str(files["arms"]),
            "--aggregate-contrasts", str(files["contrasts"]), "--json"]  # fmt: skip
    assert main(argv) == 0
    assert run["network"] == json.loads(capsys.readouterr().out) == run["two_stage"]
    assert run["network"]["k"] == 24
    assert run["spec"]["data"]["aggregate_arms"] == str(files["arms"])
    assert run["spec"]["data"]["aggregate_contrasts"] == str(files["contrasts"])


def test_the_one_stage_route_gets_the_ad_trials_too(files, tmp_path):
    data = f'aggregate_arms = "{files["arms"]}"'
    sampler = "\n[sampler]\ndraws = 30\ntune = 30\nchains = 1\nseed = 3\n"
    spec = read_analysis_spec(_spec(tmp_path, files["ipd"], data, route="both", extra=sampler))
    result = run_analysis(spec, progress=False)
    arms = result.one_stage.built.arms
    assert arms.k == result.two_stage.k == 24 and arms.n_arms == 50
    assert set(AD_TRIALS) <= set(arms.studies)


@pytest.mark.parametrize(
    ("data", "drop_reference", "message"),
    [
        ('aggregate_arms = "arms.csv"', True, "data.aggregate_arms"),
        ('aggregate_contrasts = "c.csv"', True, "data.aggregate_contrasts"),
        ("allow_overlap = true", True, "data.allow_overlap"),
        ("allow_overlap = true", False, "data.allow_overlap = true needs data.aggregate_arms"),
        ('aggregate_arms = "arms.csv"\nallow_overlap = "yes"', False, "data.allow_overlap"),
        ('aggregate = "ad.csv"', False, "data.aggregate is not used with data.reference"),
    ],
)
def test_unknown_combinations_are_refused_naming_the_key(files, tmp_path, data, drop_reference,
                                                          message):  # fmt: skip
    text = SPEC.format(rows=files["ipd"], data=data, route="two-stage", method="REML", extra="")
    if drop_reference:
        text = text.replace('reference = "no_contact"', 'experimental = "self_help"')
        text = text[: text.index("[network]")]
    with pytest.raises(SpecError, match=message):
        parse_analysis_spec(text, tmp_path)


def test_the_keys_are_written_back_and_relative_paths_read_from_the_spec_folder(files, tmp_path):
    import shutil

    shutil.copy(files["overlap"], tmp_path / "overlap.csv")
    data = 'aggregate_arms = "overlap.csv"\nallow_overlap = true'
    spec = read_analysis_spec(_spec(tmp_path, files["split_rows"], data))
    assert spec.data.aggregate_arms == tmp_path / "overlap.csv" and spec.data.allow_overlap
    assert spec.data.aggregate_contrasts is None
    doc = spec.to_dict()["data"]
    assert doc["aggregate_arms"] == str(tmp_path / "overlap.csv") and doc["allow_overlap"]
    assert "aggregate_contrasts" not in doc
    out = tmp_path / "again" / "spec.toml"
    out.parent.mkdir()
    bi.spec.write_analysis_spec(spec, out)
    again = read_analysis_spec(out)
    assert again.data == spec.data
    plain = read_analysis_spec(_spec(tmp_path, files["all"]))
    assert "allow_overlap" not in plain.to_dict()["data"] and not plain.data.allow_overlap


def test_run_out_may_not_overwrite_an_ad_file(files, tmp_path, capsys):
    arms = tmp_path / "summary.json"  # the name of a file run --out writes
    pd.read_csv(files["arms"]).to_csv(arms, index=False)
    spec = _spec(tmp_path, files["ipd"], f'aggregate_arms = "{arms}"')
    assert main(["run", str(spec), "--out", str(tmp_path)]) == 2
    assert "overwrite the input file" in capsys.readouterr().err
