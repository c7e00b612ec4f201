"""Depression trials as they arrive: two outcome scales, a unit error, a time unit, covariates
missing sporadically and one trial that never recorded one (the data-preparation example).

Six randomised trials (``D1`` ... ``D6``) of an antidepressant against control. For trial
``k`` and participant ``i`` (the harmonised truth)::

    baseline_ik ~ Normal(22 + b_k, 3.5)          HAM-D-17 at entry, b_k ~ Normal(0, 1)
    female_ik   ~ Bernoulli(0.65)
    age_ik      ~ Normal(45 + g_k, 11)           years, g_k ~ Normal(0, 3)
    weight_ik   ~ Normal(68 + 12 (1 - female) + w_k, s_k)  kg, w_k ~ Normal(0, 2),
                                                 s_k = 11 exp(Normal(0, 0.2))
    duration_ik ~ LogNormal(log 6, 0.6)          months of the current episode
    t_ik        1:1 (a random permutation of floor(n/2) ones)
    alpha_k ~ Normal(16, 1.5),  theta_k ~ Normal(mu, tau)
    hamd_ik = alpha_k + theta_k t_ik + 0.45 (baseline - 22) + 0.06 (weight - 75)
              - 0.8 female + Normal(0, 4)       HAM-D-17 at week 8

with ``mu = -2.5`` HAM-D points and ``tau = 1``. Then the rows are made to look as trials
deliver them:

* ``D5`` and ``D6`` report the outcome on the Beck Depression Inventory (BDI-II):
  ``score = (hamd - A) / B`` with the example's linear crosswalk ``hamd = A + B * bdi``,
  ``A = 1.2``, ``B = 0.6`` (the generator's own map, stated here as its source; a real
  review takes a published linking, e.g. Furukawa et al. 2019, Epidemiol Psychiatr Sci
  29:e24, and says so); scores are rounded to whole points on their own scale;
* ``D3`` records weight in pounds (``kg / 0.45359237``), ``D4`` the episode duration in days
  (``months * 30.4375``);
* ``D2`` codes sex as ``gender`` = ``"F"`` / ``"M"`` (the others: ``sex`` = 1 female, 0 male);
* weight is missing at random given the outcome in ``D1`` to ``D5`` (``logit P(missing) = a +
  1.0 s_ik``, ``s`` the standardised week-8 HAM-D, ``a`` giving about 20% missing), and
  ``D6`` never recorded it; the episode duration is missing completely at random (10%).

The review identified nine eligible trials: the six above supplied IPD; ``D7`` and ``D8``
only their published mean difference (aggregate data), ``D9`` neither. Their
characteristics (:attr:`PreparationExample.trials`): ``year`` (uniform 2000-2020),
``participants``, ``sponsor`` (industry with probability 0.3 for a trial that supplied IPD,
0.9 for one that did not: the planted difference), ``risk_of_bias`` (low / some concerns /
high with probabilities 0.5 / 0.3 / 0.2) and the published effect ``estimate, se``: for
``D1``-``D6`` the unadjusted mean difference of the week-8 HAM-D and its Welch SE computed
from the harmonised rows, for ``D7`` and ``D8`` ``theta_k ~ Normal(mu, tau)`` plus a
sampling error of SD ``se_k = 2 * 4.4 / sqrt(n_k)``, for ``D9`` unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy import optimize, special

__all__ = [
    "CROSSWALK",
    "PreparationExample",
    "simulate_depression_trials",
]

CROSSWALK: Mapping[str, float] = MappingProxyType({"a": 1.2, "b": 0.6})
"""The example's linear crosswalk ``HAM-D = a + b * BDI-II`` (the generator's own map)."""

LB_PER_KG = 1 / 0.45359237
DAYS_PER_MONTH = 365.25 / 12

_SIZES = (160, 140, 180, 150, 170, 130)
_BECK = ("D5", "D6")
_POUNDS = "D3"
_DAYS = "D4"
_LETTERS = "D2"
_NEVER_WEIGHT = "D6"


@dataclass(frozen=True, eq=False)
class PreparationExample:
    """The raw rows, the harmonised truth and the parameters.

    Attributes
    ----------
    raw : DataFrame
        As the trials deliver them: ``trial, treat, score, baseline, age, sex, gender,
        weight, duration`` (see the module docstring).
    clean : DataFrame
        The same participants harmonised and complete: ``trial, treat, hamd, baseline, age,
        sex, weight, duration`` (HAM-D, kg, months; no value missing; ``hamd`` unrounded).
    truth : Mapping[str, float]
        ``mu``, ``tau``, ``beta_baseline``, ``beta_weight``, ``beta_female``, ``sigma``.
    theta : Mapping[str, float]
        The trials' true treatment effects (HAM-D points), the AD-only trials' included.
    trials : DataFrame
        One row per eligible trial (nine): ``study, ipd, year, participants, sponsor,
        risk_of_bias, estimate, se``.
    """

    raw: pd.DataFrame
    clean: pd.DataFrame
    trials: pd.DataFrame
    truth: Mapping[str, float] = field(default_factory=dict)
    theta: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "truth", MappingProxyType(dict(self.truth)))
        object.__setattr__(self, "theta", MappingProxyType(dict(self.theta)))


def _missing_intercept(s: np.ndarray, slope: float, rate: float) -> float:
    """``a`` with mean ``expit(a + slope * s)`` equal to ``rate``."""
    return float(optimize.brentq(lambda a: special.expit(a + slope * s).mean() - rate, -20, 20))


def simulate_depression_trials(
    *, mu: float = -2.5, tau: float = 1.0, seed: int = 20261211
) -> PreparationExample:
    """Simulate the data-preparation example (module docstring).

    Parameters
    ----------
    mu, tau : float
        Mean and SD of the trials' treatment effects on the HAM-D-17 (points).
    seed : int
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    PreparationExample

    Examples
    --------
    >>> ex = simulate_depression_trials()
    >>> ex.raw.shape, sorted(ex.raw["trial"].unique())[:2]
    ((930, 9), ['D1', 'D2'])
    """
    rng = np.random.default_rng(seed)
    spreads = np.random.default_rng([seed, 1])  # the trials' weight SDs, a stream of their own
    truth = {"mu": mu, "tau": tau, "beta_baseline": 0.45, "beta_weight": 0.06}
    truth |= {"beta_female": -0.8, "sigma": 4.0}
    parts, theta = [], {}
    for k, n in enumerate(_SIZES, start=1):
        label = f"D{k}"
        treat = np.zeros(n, dtype=np.int64)
        treat[rng.permutation(n)[: n // 2]] = 1
        female = rng.binomial(1, 0.65, n)
        baseline = np.round(rng.normal(22 + rng.normal(0, 1), 3.5, n))
        age = np.round(rng.normal(45 + rng.normal(0, 3), 11, n))
        spread = 11 * np.exp(spreads.normal(0, 0.2))  # trial populations differ in spread
        weight = np.round(rng.normal(68 + 12 * (1 - female) + rng.normal(0, 2), spread, n), 1)
        duration = np.round(rng.lognormal(np.log(6), 0.6, n), 1)
        alpha, theta[label] = rng.normal(16, 1.5), rng.normal(mu, tau)
        hamd = (
            alpha + theta[label] * treat + 0.45 * (baseline - 22) + 0.06 * (weight - 75)
            - 0.8 * female + rng.normal(0, truth["sigma"], n)
        )  # fmt: skip
        parts.append(
            pd.DataFrame(
                {
                    "trial": label,
                    "treat": treat,
                    "hamd": hamd,
                    "baseline": baseline,
                    "age": age,
                    "sex": female,
                    "weight": weight,
                    "duration": duration,
                }
            )
        )
    clean = pd.concat(parts, ignore_index=True)
    raw = _as_delivered(clean, rng)
    trials = _eligible_trials(clean, theta, rng, mu, tau)
    return PreparationExample(raw, clean, trials, truth, theta)


def _eligible_trials(
    clean: pd.DataFrame, theta: dict[str, float], rng: np.random.Generator, mu: float, tau: float
) -> pd.DataFrame:
    """The nine eligible trials' characteristics (module docstring); adds the AD-only
    trials' true effects to ``theta``."""
    rows = []
    for label, trial in clean.groupby("trial", sort=True):
        treated, control = (trial.loc[trial["treat"] == a, "hamd"] for a in (1, 0))
        se = np.sqrt(treated.var() / len(treated) + control.var() / len(control))
        rows.append((label, "yes", len(trial), treated.mean() - control.mean(), se))
    for label, n in (("D7", 220), ("D8", 260)):
        theta[label] = rng.normal(mu, tau)
        se = 2 * 4.4 / np.sqrt(n)
        rows.append((label, "no", n, theta[label] + rng.normal(0, se), se))
    rows.append(("D9", "no", 180, np.nan, np.nan))
    frame = pd.DataFrame(rows, columns=["study", "ipd", "participants", "estimate", "se"])
    supplied = (frame["ipd"] == "yes").to_numpy()
    frame.insert(2, "year", rng.integers(2000, 2021, len(frame)))
    industry = rng.random(len(frame)) < np.where(supplied, 0.3, 0.9)
    frame.insert(4, "sponsor", np.where(industry, "industry", "academic"))
    bias = rng.choice(["low", "some concerns", "high"], size=len(frame), p=[0.5, 0.3, 0.2])
    frame.insert(5, "risk_of_bias", bias)
    frame[["estimate", "se"]] = frame[["estimate", "se"]].round(4)
    return frame


def _as_delivered(clean: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The clean rows made to look as the trials deliver them (module docstring)."""
    raw = clean.rename(columns={"hamd": "score"}).copy()
    beck = raw["trial"].isin(_BECK)
    raw["score"] = np.where(
        beck, (raw["score"] - CROSSWALK["a"]) / CROSSWALK["b"], raw["score"]
    ).round()
    pounds = raw["trial"] == _POUNDS
    raw.loc[pounds, "weight"] = (raw.loc[pounds, "weight"] * LB_PER_KG).round(1)
    days = raw["trial"] == _DAYS
    raw.loc[days, "duration"] = (raw.loc[days, "duration"] * DAYS_PER_MONTH).round()
    s = ((clean["hamd"] - clean["hamd"].mean()) / clean["hamd"].std()).to_numpy()
    a = _missing_intercept(s, 1.0, 0.2)
    gone = rng.random(len(raw)) < special.expit(a + 1.0 * s)
    raw["weight"] = raw["weight"].mask(gone | (raw["trial"] == _NEVER_WEIGHT))
    raw["duration"] = raw["duration"].mask(rng.random(len(raw)) < 0.1)
    letters = raw["trial"] == _LETTERS
    raw["gender"] = pd.Series(np.where(raw["sex"] == 1, "F", "M"), dtype=object).where(letters)
    raw["sex"] = raw["sex"].astype("Float64").mask(letters)
    whole = {"score": "Int64", "baseline": "Int64", "age": "Int64", "sex": "Int64"}
    raw = raw.astype(whole)
    columns = ["trial", "treat", "score", "baseline", "age", "sex", "gender", "weight"]
    return raw[[*columns, "duration"]]
