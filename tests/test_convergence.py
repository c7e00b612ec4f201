"""The vectorised R-hat and ESS (bayes_ipd.convergence) against ArviZ's own.

ArviZ 0.x computes each scalar parameter separately (``arviz.rhat``, ``arviz.ess`` with
``method="bulk"`` / ``"tail"``); it is the independent reference here. Draws are
simulated with known structure: white noise, strongly autocorrelated AR(1) chains (long
Geyer sequences), antithetic chains (negative lag-1 autocorrelation, ESS above the draw
count), discrete draws with ties, constant parameters, NaN draws and single chains.
"""

from __future__ import annotations

import logging

import arviz as az
import numpy as np
import pytest
from scipy import stats

from bayes_ipd.convergence import convergence, pooled_ranks
from bayes_ipd.one_stage.sampling import diagnose


def _ar1(rng: np.random.Generator, shape: tuple[int, int, int], phi: float) -> np.ndarray:
    noise = rng.normal(size=shape)
    out = np.empty(shape)
    out[:, :, 0] = noise[:, :, 0]
    for t in range(1, shape[2]):
        out[:, :, t] = phi * out[:, :, t - 1] + noise[:, :, t]
    return out


def _antithetic(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    x = rng.normal(size=shape)
    x[:, :, 1::2] = -0.9 * x[:, :, 0::2][:, :, : x[:, :, 1::2].shape[2]] + 0.1 * rng.normal(
        size=x[:, :, 1::2].shape
    )
    return x


def _cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240601)
    mixed = rng.normal(size=(4, 4, 80))
    mixed[1, 2, 5] = np.nan
    mixed[2, :, :40] = 1.0
    ties = rng.integers(0, 3, size=(6, 3, 57)).astype(float)
    ties[0] += np.arange(3)[:, None]  # chains disagree
    return {
        "white noise": rng.normal(size=(12, 4, 1000)),
        "random walk + noise": rng.normal(size=(8, 4, 400)).cumsum(axis=2) * 0.05
        + rng.normal(size=(8, 4, 400)),
        "AR(1) 0.97, odd draws": _ar1(rng, (6, 4, 501), 0.97),
        "antithetic": _antithetic(rng, (5, 2, 300)),
        "ties": ties,
        "constant": np.ones((2, 4, 100)),
        "one chain": rng.normal(size=(3, 1, 100)),
        "NaN and half constant": mixed,
    }


def _arviz(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rhat = [az.rhat(v) if x.shape[1] > 1 else np.nan for v in x]
    bulk = [az.ess(v, method="bulk") for v in x]
    tail = [az.ess(v, method="tail") for v in x]
    return np.array(rhat, float), np.array(bulk, float), np.array(tail, float)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # arviz, constant draws
@pytest.mark.parametrize("name", list(_cases()))
def test_rhat_and_ess_equal_arviz_for_every_parameter(name: str) -> None:
    x = _cases()[name]
    logging.getLogger("arviz").setLevel(logging.ERROR)  # its NaN warning
    rhat, bulk, tail = _arviz(x)
    got = convergence(x)
    for mine, theirs in ((got.rhat, rhat), (got.ess_bulk, bulk), (got.ess_tail, tail)):
        np.testing.assert_array_equal(np.isnan(mine), np.isnan(theirs))
        ok = ~np.isnan(theirs)
        np.testing.assert_allclose(mine[ok], theirs[ok], rtol=1e-10)


def test_antithetic_draws_give_an_ess_above_the_draw_count() -> None:
    x = _cases()["antithetic"]
    assert (convergence(x).ess_bulk > x.shape[1] * x.shape[2]).all()


def test_autocorrelated_chains_give_a_small_ess_and_chains_apart_a_large_rhat() -> None:
    ar = convergence(_cases()["AR(1) 0.97, odd draws"])
    # AR(1) with phi = 0.97: ESS ~ n (1 - phi) / (1 + phi) ~ 2004 x 0.015 ~ 31
    assert (ar.ess_bulk < 150).all()
    apart = np.random.default_rng(1).normal(size=(1, 4, 200)) + np.arange(4)[None, :, None]
    assert convergence(apart).rhat[0] > 1.5


def test_pooled_ranks_equal_scipy_average_ranks_with_and_without_ties() -> None:
    rng = np.random.default_rng(3)
    for x in (
        rng.normal(size=(5, 40)),
        rng.integers(0, 4, size=(6, 33)).astype(float),
        np.ones((2, 7)),
        np.array([[1.0, 1.0, 2.0, 2.0, 2.0, 3.0], [3.0, 2.0, 1.0, 1.0, 1.0, 1.0]]),
    ):
        np.testing.assert_array_equal(pooled_ranks(x), stats.rankdata(x, axis=1))


def test_diagnose_reports_arviz_extremes_over_all_parameters_of_an_inference_data() -> None:
    rng = np.random.default_rng(7)
    idata = az.from_dict(
        posterior={"mu": _ar1(rng, (1, 4, 300), 0.6)[0], "theta": rng.normal(size=(4, 300, 3))},
        sample_stats={"diverging": np.zeros((4, 300), dtype=bool)},
    )
    names = ["mu", "theta", "absent"]
    div, rhat, ess_b, ess_t, _ = diagnose(idata, names, chains=4)
    kept = ["mu", "theta"]
    assert div == 0
    assert rhat == pytest.approx(float(az.rhat(idata, var_names=kept).to_array().max()), rel=1e-10)
    bulk = float(az.ess(idata, var_names=kept, method="bulk").to_array().min())
    tail = float(az.ess(idata, var_names=kept, method="tail").to_array().min())
    assert ess_b == pytest.approx(bulk, rel=1e-10)
    assert ess_t == pytest.approx(tail, rel=1e-10)
