"""Both stages in one call: :func:`fit_ite` returns an :class:`ITEResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.ite.data import ITEData, patient_matrix
from bayes_ipd.ite.learners import FittedTrial, Learner, TrialNotFittable, get_learner
from bayes_ipd.ite.prediction import ITEPrediction
from bayes_ipd.ite.stage2 import RANDOM, check_feasible, pool_stage2

__all__ = ["ITEResult", "fit_ite", "trial_seeds"]

UNFITTABLE = ("error", "exclude")


def trial_seeds(seed: int, k: int) -> tuple[int, ...]:
    """One seed per trial from one study seed (``SeedSequence([seed, i])``), so a trial's
    fit does not depend on which other trials are fitted with it."""
    return tuple(int(np.random.SeedSequence([int(seed), i]).generate_state(1)[0]) for i in range(k))


@dataclass(frozen=True, eq=False)
class ITEResult:
    """A two-stage ITE model: the per-trial fits and the stage-2 pooled model.

    Attributes
    ----------
    data : ITEData
        The trials that were fitted (excluded ones removed).
    stage1, stage2 : str
        Method names.
    fits : tuple
        One fitted learner per trial of ``data``.
    model : object
        The stage-2 model (``predict(x, level)``, ``coefficients()``).
    excluded : Mapping of str to str
        Trials left out, with the reason.
    """

    data: ITEData
    stage1: str
    stage2: str
    fits: tuple[FittedTrial, ...]
    model: Any
    excluded: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    @property
    def k(self) -> int:
        """Trials pooled."""
        return self.data.k

    def predict(self, patients: pd.DataFrame | np.ndarray, level: float = 0.95) -> ITEPrediction:
        """ITE, SE, CI and PI of each new patient (a frame with the covariate columns, or
        an (n, p) array in :attr:`ITEData.covariates` order)."""
        if isinstance(patients, pd.DataFrame):
            x = patient_matrix(patients, self.data.covariates)
        else:
            x = np.atleast_2d(np.asarray(patients, dtype=np.float64))
            if x.shape[1] != len(self.data.covariates):
                raise IPDDataError(
                    f"new patients have {x.shape[1]} columns; expected "
                    f"{len(self.data.covariates)} ({', '.join(self.data.covariates)})"
                )
        return self.model.predict(x, level)

    def coefficients(self) -> dict[str, Any] | None:
        """``pooled``, ``between_trial_sd``, ``between_trial_cor`` where stage 2 has
        coefficients (mvma, mvbayes), else None."""
        return self.model.coefficients()

    def to_dict(self, patients: pd.DataFrame | None = None, level: float = 0.95) -> dict[str, Any]:
        """The CLI's JSON contract (``predictions`` only when ``patients`` is given)."""
        out: dict[str, Any] = {"stage1": self.stage1, "stage2": self.stage2, "k": self.k}
        coefs = self.coefficients()
        if coefs is not None:
            out.update(coefs)
        if patients is not None:
            out["predictions"] = self.predict(patients, level).records(self.data.covariates)
        return out

    def __repr__(self) -> str:
        lines = [
            f"Two-stage ITE model: stage 1 {self.stage1}, stage 2 {self.stage2}; k = {self.k}",
            f"ITE terms: {', '.join(self.data.terms)}",
        ]
        lines += [f"Excluded trial {s!r}: {why}" for s, why in self.excluded.items()]
        coefs = self.coefficients()
        if coefs is not None:
            for term, node in coefs["pooled"].items():
                sd = coefs["between_trial_sd"][term]
                lines.append(
                    f"  {term:<24} {node['estimate']: .4f} (SE {node['se']:.4f}); "
                    f"between-trial SD {sd:.4f}"
                )
        return "\n".join(lines)


def _fit_trials(
    data: ITEData, learner: Learner, seeds: tuple[int, ...], on_unfittable: str
) -> tuple[list[FittedTrial], list[int], dict[str, str]]:
    fits, kept, excluded = [], [], {}
    for i, (trial, s) in enumerate(zip(data.trials, seeds, strict=True)):
        try:
            fits.append(learner.fit(trial, s))
            kept.append(i)
        except TrialNotFittable as exc:
            if on_unfittable == "error":
                raise
            excluded[trial.study] = str(exc)
    return fits, kept, excluded


def fit_ite(
    data: ITEData,
    stage1: str | Learner = "ols",
    stage2: str = "mvma",
    *,
    random: str = "all",
    weights: str = "auxiliary",
    meta: str = "T",
    n_boot: int = 20,
    seed: int = 0,
    on_unfittable: str = "error",
) -> ITEResult:
    """Fit a stage-1 learner in every trial and pool them by a stage-2 method.

    Parameters
    ----------
    data : ITEData
        From :func:`~bayes_ipd.ite.data.ite_data`.
    stage1 : {"ols", "ridge", "lasso", "forest", "boosting", "bayes"} or Learner
    stage2 : {"mvma", "weighted", "mvbayes", "mixing"}
        ``mvma`` needs a linear learner (ols, bayes); ``mvbayes`` and ``mixing`` a
        Bayesian one (bayes); ``weighted`` takes any.
    random : {"all", "treatment", "diagonal"}
        Between-trial covariance of the coefficients: ``all`` unstructured (mvma;
        diagonal for mvbayes), ``treatment`` only the main effect random.
    weights : {"auxiliary", "bootstrap"}
        Variances of the trials' predictions for ``weighted``.
    meta : {"T", "S"}
        Meta-learner of ``forest`` / ``boosting``.
    n_boot : int
        Bootstrap refits per trial for ``weights="bootstrap"``.
    seed : int
        Study seed; trial ``i`` uses ``SeedSequence([seed, i])``.
    on_unfittable : {"error", "exclude"}
        A trial the learner cannot fit (one arm, fewer rows than parameters): raise, or
        leave it out with its reason in :attr:`ITEResult.excluded`.

    Returns
    -------
    ITEResult

    Examples
    --------
    >>> from bayes_ipd.ite import Scenario, simulate_ite, ite_data
    >>> frame, truth = simulate_ite(Scenario(n_trials=5, n_per_trial=200), seed=3)
    >>> data = ite_data(frame, study="trial", treatment="treat", outcome="y",
    ...                 covariates=["x1", "x2"])
    >>> result = fit_ite(data, "ols", "mvma")
    >>> result.predict(frame[["x1", "x2"]].head(2)).ite.shape
    (2,)
    """
    learner = get_learner(stage1, meta)
    check_feasible(learner, stage2)
    if random not in RANDOM:
        raise SpecError(f"random {random!r}: use one of {', '.join(RANDOM)}")
    if on_unfittable not in UNFITTABLE:
        raise SpecError(f"on_unfittable {on_unfittable!r}: use 'error' or 'exclude'")
    seeds = trial_seeds(seed, data.k)
    fits, kept, excluded = _fit_trials(data, learner, seeds, on_unfittable)
    if len(fits) < 2:
        raise IPDDataError(
            f"only {len(fits)} trial(s) could be fitted by {learner.name!r}; excluded: "
            + "; ".join(f"{s}: {r}" for s, r in excluded.items())
        )
    used = data.select(data.studies[i] for i in kept) if excluded else data
    model = pool_stage2(
        stage2,
        fits,
        used,
        learner,
        random=random,
        weights=weights,
        n_boot=n_boot,
        seeds=[seeds[i] for i in kept],
        seed=int(np.random.SeedSequence([int(seed), 10**6]).generate_state(1)[0]),
    )
    return ITEResult(used, learner.name, stage2, tuple(fits), model, MappingProxyType(excluded))
