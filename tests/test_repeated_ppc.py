"""The one-stage MMRM's posterior predictive check of visit means (issue 27, item 4).

The replicated mean of the participants observed at a visit is exactly normal given the
parameters (``bayes_ipd/one_stage/repeated_ppc.py``). Checked here without a sampler:

* at fixed parameters, its mean and SD equal the closed form computed from the rows
  themselves (the mean over the observed participants of ``mu + t theta + beta (x - xbar_k)``,
  plus the within-trial interaction for the treated at the primary visit; SD
  ``sigma / sqrt(n)``);
* with the true parameters as the "posterior", the 95% predictive intervals cover the
  observed means of data simulated from those parameters at the nominal rate (exact in
  expectation: each observed mean is normal with exactly that mean and SD).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_ipd.data.visits import repeated_from_frame
from bayes_ipd.one_stage.repeated_ppc import cell_means, predictive_moments, visit_means_ppc
from bayes_ipd.one_stage.repeated_summaries import summarise_repeated

VISITS = (4, 8, 12)


def _simulate(rng, k=5, n=40, missing=0.25):
    """Long rows with known parameters: mu (K, V), theta (K, V), beta (V,), residual
    covariance, visits missing completely at random; ``y = mu + t theta + beta (x - xbar_k)
    + e`` with ``xbar_k`` the trial's participant mean of ``x``."""
    v = len(VISITS)
    mu = rng.normal(10, 1, size=(k, v))
    theta = rng.normal(-2, 0.5, size=(k, v))
    beta = np.array([0.5, 0.8, 1.1])
    sd = np.array([2.0, 2.5, 3.0])
    cov = 0.5 * np.outer(sd, sd) + np.diag(0.5 * sd**2)
    parts = []
    for j in range(k):
        t = (np.arange(n) % 2).astype(int)
        x = rng.normal(1.0, 1.0, size=n)
        y = mu[j] + t[:, None] * theta[j] + np.outer(x - x.mean(), beta)
        y = y + rng.multivariate_normal(np.zeros(v), cov, size=n)
        seen = rng.uniform(size=(n, v)) >= missing
        seen[:, 0] = True
        rows, cols = np.nonzero(seen)
        parts.append(pd.DataFrame({
            "study": f"S{j}", "id": [f"S{j}-{i}" for i in rows], "treat": t[rows],
            "visit": np.asarray(VISITS)[cols], "x": x[rows], "y": y[rows, cols],
        }))  # fmt: skip
    truth = {"mu": mu, "theta": theta, "beta": beta[:, None], "sigma": np.tile(sd, (k, 1))}
    return pd.concat(parts, ignore_index=True), truth


def _summaries(rows):
    data = repeated_from_frame(rows, study="study", treatment="treat", outcome="y",
                               participant="id", visit="visit", covariates=["x"])  # fmt: skip
    return summarise_repeated(data)


def test_predictive_moments_equal_the_closed_form_from_the_rows():
    rng = np.random.default_rng(3)
    rows, truth = _simulate(rng)
    s = _summaries(rows)
    gamma = 0.7  # a within-trial interaction at the primary (last) visit
    within = np.zeros((3, 1))
    within[2, 0] = gamma
    mean, sd = predictive_moments(cell_means(s), truth["mu"], truth["theta"], truth["beta"],
                                  truth["sigma"], within)  # fmt: skip
    xbar = rows.drop_duplicates("id").groupby("study")["x"].mean()
    checked = 0
    for k, study in enumerate(s.studies):
        for arm in (0, 1):
            for v, visit in enumerate(VISITS):
                cell = rows[(rows.study == study) & (rows.treat == arm) & (rows.visit == visit)]
                xc = cell["x"].to_numpy() - xbar[study]
                slope = truth["beta"][v, 0] + (gamma if (arm and v == 2) else 0.0)
                each = truth["mu"][k, v] + arm * truth["theta"][k, v] + slope * xc
                assert mean[k, arm, v] == pytest.approx(each.mean(), abs=1e-10)
                assert sd[k, arm, v] == pytest.approx(truth["sigma"][k, v] / np.sqrt(len(cell)))
                checked += 1
    assert checked == s.k * 2 * 3


def test_observed_means_and_standard_errors_are_those_of_the_rows():
    rows, _ = _simulate(np.random.default_rng(5))
    cells = cell_means(_summaries(rows))
    direct = rows.groupby(["study", "treat", "visit"])["y"].agg(["mean", "sem", "size"])
    for (study, arm, visit), row in direct.iterrows():
        k, v = int(study[1:]), VISITS.index(visit)
        assert cells.observed[k, arm, v] == pytest.approx(row["mean"], abs=1e-9)
        assert cells.se[k, arm, v] == pytest.approx(row["sem"], rel=1e-8)
        assert cells.n[k, arm, v] == row["size"]


def test_predictive_intervals_cover_the_observed_means_at_the_nominal_rate():
    # 60 data sets x 5 trials x 2 arms x 3 visits = 1,800 cells; with the true parameters
    # as a point-mass posterior each observed mean falls in its 95% interval with
    # probability 0.95 exactly (cells of one arm share participants, so the binomial MC
    # error 0.0051 understates it a little: tolerance 0.025)
    rng = np.random.default_rng(11)
    hits = []
    for _ in range(60):
        rows, truth = _simulate(rng)
        s = _summaries(rows)
        draws = 2000
        params = {name: np.broadcast_to(value, (draws, *value.shape))
                  for name, value in truth.items()}  # fmt: skip
        frame = visit_means_ppc(s, params, seed=int(rng.integers(1 << 30)))
        hits.append(((frame.observed >= frame.lower) & (frame.observed <= frame.upper)).to_numpy())
    coverage = np.concatenate(hits).mean()
    assert coverage == pytest.approx(0.95, abs=0.025)


def test_frame_columns_and_cells_without_participants_left_out():
    rows, truth = _simulate(np.random.default_rng(2), k=3)
    rows = rows[~((rows.study == "S1") & (rows.treat == 1) & (rows.visit == 12))]
    s = _summaries(rows)
    params = {name: np.broadcast_to(value, (50, *value.shape)) for name, value in truth.items()}
    frame = visit_means_ppc(s, params)
    assert list(frame.columns) == ["study", "arm", "visit", "n", "observed", "se",
                                   "predictive_mean", "predictive_sd", "lower", "upper",
                                   "p_value"]  # fmt: skip
    assert len(frame) == 3 * 2 * 3 - 1
    assert not ((frame.study == "S1") & (frame.arm == "treated") & (frame.visit == "12")).any()
