"""Two-stage route: aggregate-data trials beside the IPD trials (ipdmetan's ad()) and the
stage-one results saved for `pool` and `metareg` (ipdmetan's saving())."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.cli import main
from bayes_ipd.data import IPD
from bayes_ipd.datasets import load_bp_trials
from bayes_ipd.errors import BayesIPDError, IPDDataError, PoolingError
from bayes_ipd.two_stage import AggregateData, fit_per_study, pool_aggregate, two_stage
from bayes_ipd.two_stage.metareg import meta_regression
from bayes_ipd.two_stage.saving import trial_level_frame

AD_TRIALS = ("T08", "T09", "T10")


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    table = load_bp_trials()
    labels = sorted(table["trial"].unique())
    # a trial-level column (one value per trial) and a participant-level one
    return table.assign(year=table["trial"].map({t: 1990 + 2 * i for i, t in enumerate(labels)}))


def _ipd(frame: pd.DataFrame) -> IPD:
    return IPD.from_frame(
        frame,
        study="trial",
        treatment="treat",
        outcome="sbp_final",
        covariates=["sbp_baseline"],
        family="gaussian",
    )


@pytest.fixture(scope="module")
def full(rows):
    return two_stage(_ipd(rows), covariates=["sbp_baseline"])


@pytest.fixture(scope="module")
def published(full) -> AggregateData:
    """Trials T08-T10 as aggregate data: exactly their stage-one estimates and SEs."""
    agg = full.per_study
    keep = np.isin(agg.studies, AD_TRIALS)
    return AggregateData(
        tuple(np.array(agg.studies)[keep]), agg.estimate[keep], agg.se[keep], term=agg.term
    )


# --- aggregate-data trials -------------------------------------------------------------------


def test_ad_trials_pool_as_their_ipd_would(rows, full, published):
    ipd_part = _ipd(rows[~rows["trial"].isin(AD_TRIALS)])
    hybrid = two_stage(ipd_part, covariates=["sbp_baseline"], aggregate=published)
    # the same ten (estimate, se) pairs: the pooled result is the all-IPD one
    assert hybrid.pooled.estimate == pytest.approx(full.pooled.estimate, rel=1e-12)
    assert hybrid.pooled.tau2 == pytest.approx(full.pooled.tau2, rel=1e-9)
    assert hybrid.pooled.k == 10
    assert [hybrid.sources[s] for s in AD_TRIALS] == ["AD"] * 3
    assert hybrid.sources["T01"] == "IPD"
    assert "Aggregate data only (no participant rows): T08, T09, T10" in str(hybrid)
    assert hybrid.to_dict()["sources"]["T09"] == "AD"


def test_forest_marks_ad_only_trials(rows, published):
    hybrid = two_stage(
        _ipd(rows[~rows["trial"].isin(AD_TRIALS)]), covariates=["sbp_baseline"], aggregate=published
    )
    fig = hybrid.plot_forest()
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "Data" in texts
    assert texts.count("AD only") == 3
    assert texts.count("IPD") == 7


def test_a_trial_in_both_is_refused_unless_asked(rows, published):
    ipd = _ipd(rows)  # holds T08-T10 too
    with pytest.raises(
        PoolingError, match="'T08', 'T09', 'T10' given both as IPD and as aggregate"
    ):
        two_stage(ipd, covariates=["sbp_baseline"], aggregate=published)
    shifted = AggregateData(published.studies, published.estimate + 5.0, published.se)
    keep_ipd = two_stage(ipd, covariates=["sbp_baseline"], aggregate=shifted, overlap="ipd")
    keep_ad = two_stage(ipd, covariates=["sbp_baseline"], aggregate=shifted, overlap="aggregate")
    i = keep_ipd.per_study.studies.index("T08")
    j = keep_ad.per_study.studies.index("T08")
    assert keep_ad.per_study.estimate[j] == pytest.approx(keep_ipd.per_study.estimate[i] + 5.0)
    assert keep_ipd.sources["T08"] == "IPD" and keep_ad.sources["T08"] == "AD"
    assert keep_ipd.pooled.k == keep_ad.pooled.k == 10


def test_ad_on_another_scale_or_term_is_refused(rows, published):
    ipd = _ipd(rows[~rows["trial"].isin(AD_TRIALS)])
    other = AggregateData(published.studies, published.estimate, published.se, scale="logOR")
    with pytest.raises(PoolingError, match="logOR scale"):
        two_stage(ipd, aggregate=other)
    term = AggregateData(published.studies, published.estimate, published.se, term="treat:age")
    with pytest.raises(PoolingError, match="'treat:age'"):
        two_stage(ipd, aggregate=term)


def _write_rows(rows: pd.DataFrame, tmp_path, trials_out=AD_TRIALS) -> str:
    path = tmp_path / "ipd.csv"
    rows[~rows["trial"].isin(trials_out)].to_csv(path, index=False)
    return str(path)


def _two_stage_argv(path: str) -> list[str]:
    return [
        "two-stage",
        path,
        "--study",
        "trial",
        "--treatment",
        "treat",
        "--family",
        "gaussian",
        "--outcome",
        "sbp_final",
        "--covariates",
        "sbp_baseline",
    ]


@pytest.mark.parametrize(
    ("se", "message"),
    [(0.0, "trial 'T09': se is 0.0"), (np.nan, "trial 'T09' has a missing value")],
)
def test_cli_refuses_ad_rows_without_a_positive_se(rows, published, tmp_path, capsys, se, message):
    ad = pd.DataFrame(
        {
            "study": published.studies,
            "estimate": published.estimate,
            "se": np.where(np.array(published.studies) == "T09", se, published.se),
        }
    )
    ad_path = tmp_path / "ad.csv"
    ad.to_csv(ad_path, index=False)
    code = main([*_two_stage_argv(_write_rows(rows, tmp_path)), "--aggregate", str(ad_path)])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and err.startswith("error: ") and message in err


def test_cli_overlap_exit_2_and_allowed_on_request(rows, published, tmp_path, capsys):
    ad_path = tmp_path / "ad.csv"
    pd.DataFrame(
        {"study": published.studies, "estimate": published.estimate, "se": published.se}
    ).to_csv(ad_path, index=False)
    path = _write_rows(rows, tmp_path, trials_out=())
    code = main([*_two_stage_argv(path), "--aggregate", str(ad_path)])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "given both as IPD and as aggregate data" in err
    code = main([*_two_stage_argv(path), "--aggregate", str(ad_path), "--overlap", "ipd", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["pooled"]["k"] == 10 and set(out["sources"].values()) == {"IPD"}


# --- saved stage-one results -----------------------------------------------------------------


def test_saved_aggregate_round_trips_through_pool_and_metareg(rows, full, tmp_path, capsys):
    path = _write_rows(rows, tmp_path, trials_out=())
    saved = tmp_path / "stage1.csv"
    code = main([*_two_stage_argv(path), "--save-aggregate", str(saved), "--json"])
    two = json.loads(capsys.readouterr().out)
    assert code == 0 and two["saved_aggregate"] == str(saved)
    table = pd.read_csv(saved)
    assert list(table.columns) == [
        "study",
        "estimate",
        "se",
        "n",
        "events",
        "term",
        "scale",
        "year",
    ]
    # read back: the same per-trial numbers
    back = AggregateData.read_csv(saved, estimate="estimate", se="se", study="study", n="n")
    np.testing.assert_allclose(back.estimate, full.per_study.estimate, rtol=1e-15)
    np.testing.assert_allclose(back.se, full.per_study.se, rtol=1e-15)
    assert list(back.n) == list(full.per_study.n)
    # `pool` gives the two-stage pooled result
    code = main(
        ["pool", str(saved), "--estimate", "estimate", "--se", "se", "--study", "study", "--json"]
    )
    pooled = json.loads(capsys.readouterr().out)["pooled"]
    assert code == 0
    assert pooled["estimate"] == pytest.approx(two["pooled"]["estimate"], rel=1e-12)
    assert pooled["tau2"] == pytest.approx(two["pooled"]["tau2"], rel=1e-9)
    # `metareg` on the saved trial-level column = meta_regression on the stage-one table
    code = main(
        [
            "metareg",
            str(saved),
            "--estimate",
            "estimate",
            "--se",
            "se",
            "--study",
            "study",
            "--mods",
            "year",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    years = rows.groupby("trial")["year"].first().reindex(full.per_study.studies)
    direct = meta_regression(full.per_study, {"year": years.to_numpy()})
    assert code == 0
    assert out["coefficients"]["year"]["estimate"] == pytest.approx(direct.coef[1], rel=1e-10)
    assert out["tau2"] == pytest.approx(direct.tau2, rel=1e-9)


def test_api_save_with_excluded_trials(rows, tmp_path):
    # T03 keeps one participant per arm: too few rows, stage one excludes it with a reason
    one_each = rows[rows["trial"] == "T03"].groupby("treat").head(1)
    broken = pd.concat([rows[rows["trial"] != "T03"], one_each])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = two_stage(_ipd(broken), covariates=["sbp_baseline"])
    assert res.per_study.excluded[res.per_study.studies.index("T03")] is not None
    trial_columns = trial_level_frame(broken, "trial")
    assert list(trial_columns.columns) == ["study", "year"]
    plain = res.to_aggregate_frame(trial_columns)
    assert "T03" not in set(plain["study"]) and "excluded" not in plain.columns
    path = res.save_aggregate(tmp_path / "s.csv", trial_columns, include_excluded=True)
    back = AggregateData.read_csv(
        path, estimate="estimate", se="se", study="study", excluded="excluded"
    )
    assert back.n_excluded == 1
    assert pool_aggregate(back).estimate == pytest.approx(res.pooled.estimate, rel=1e-12)


def test_trial_level_columns_must_be_constant_within_trials(rows):
    with pytest.raises(IPDDataError, match="'sbp_baseline' is not trial-level"):
        trial_level_frame(rows, "trial", ["sbp_baseline"])
    with pytest.raises(IPDDataError, match="'nope' not found"):
        trial_level_frame(rows, "trial", ["nope"])


def test_inputs_are_not_modified(rows, published):
    before = rows.copy()
    agg = fit_per_study(_ipd(rows[~rows["trial"].isin(AD_TRIALS)]))
    assert isinstance(agg, AggregateData)
    two_stage(_ipd(rows[~rows["trial"].isin(AD_TRIALS)]), aggregate=published)
    pd.testing.assert_frame_equal(rows, before)
    assert issubclass(PoolingError, BayesIPDError)
