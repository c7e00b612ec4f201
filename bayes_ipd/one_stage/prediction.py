"""The conditional treatment effect of a one-stage fit at new patients' covariate profiles.

For a patient with effect-modifier values ``z`` the one-stage model (``ARCHITECTURE.md``)
gives the treatment effect, on the family's scale (mean difference, log odds ratio, log
hazard ratio), as

* **mean trial** (a trial at the mean of the trial means, ``zbar_k = zbar``, ``u_k = 0``):
  ``mu + gamma_w' (z - zbar)``;
* **new trial**: ``mu + tau e + (gamma_w + d)' (z - zbar)`` with ``e ~ N(0, 1)`` drawn once
  per posterior draw and, with random interactions, ``d ~ N(0, tau_interaction^2)``; the
  ``e`` draws are those of :meth:`OneStageResult.predict_new_study` (same seed), so at
  ``z = zbar`` the two agree draw for draw;
* **trial k** (``study=``): ``theta_k + gamma_w,k' (z - zbar_k)``.

Only the within-trial interaction ``gamma_w`` enters: it is the patient-level effect
modification (the across-trial term is a trial-level association). Covariates are on their
original scale; a categorical effect modifier ``c`` enters through its terms ``c[level]``
(the patient's column ``c`` compared with each level). The prediction works for every
family because it uses only the design's interaction terms and the shared parameters.

With trial-level moderators (``ModelSpec(moderators=...)``) the mean and new trial are
trials at the mean moderator values (moderators are centred across trials, so ``mu`` is the
effect there); the effect at other moderator values is
:meth:`OneStageResult.predict_theta` (:mod:`bayes_ipd.one_stage.metareg`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_ipd.conventions import EffectScale
from bayes_ipd.draws import quantile_labels
from bayes_ipd.errors import IPDDataError

if TYPE_CHECKING:
    from bayes_ipd.one_stage.posterior import Posterior

__all__ = ["EffectPrediction", "interaction_values", "predict_effect"]

_LEVEL_TERM = re.compile(r"^(?P<source>.+)\[(?P<level>.*)\]$")


@dataclass(frozen=True, eq=False)
class EffectPrediction:
    """Posterior draws of the conditional treatment effect, one column per patient.

    Attributes
    ----------
    patients : DataFrame
        The new patients' effect-modifier values (their own copy).
    draws : Mapping of str to numpy.ndarray
        ``"mean trial"``, ``"new trial"`` and, when asked for, ``"trial <label>"``:
        (draws, patients) arrays on the effect scale.
    scale : EffectScale
        The family's effect scale.
    """

    patients: pd.DataFrame
    draws: dict[str, np.ndarray]
    scale: EffectScale

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """One row per patient and kind: ``patient`` (row number), ``kind``, ``mean, sd,
        median, q025, q975`` and on a log-ratio scale ``exp_median, exp_q025, exp_q975``
        (the odds or hazard ratio), and ``p_lt_0``."""
        lo, hi = quantile_labels(level)
        tail = (1.0 - level) / 2.0
        records: list[dict[str, Any]] = []
        for kind, draws in self.draws.items():
            q = np.quantile(draws, [tail, 0.5, 1.0 - tail], axis=0)
            for i in range(draws.shape[1]):
                rec: dict[str, Any] = {
                    "patient": i,
                    "kind": kind,
                    "mean": float(draws[:, i].mean()),
                    "sd": float(draws[:, i].std(ddof=1)),
                    "median": float(q[1, i]),
                    lo: float(q[0, i]),
                    hi: float(q[2, i]),
                }
                if self.scale.is_ratio:
                    for col in ("median", lo, hi):
                        rec[f"exp_{col}"] = math.exp(rec[col])
                rec["p_lt_0"] = float(np.mean(draws[:, i] < 0))
                records.append(rec)
        return pd.DataFrame.from_records(records)

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """JSON-ready: ``effect_scale`` and ``predictions`` (the :meth:`summary` rows)."""
        return {
            "effect_scale": self.scale.code,
            "predictions": self.summary(level).to_dict(orient="records"),
        }


def _term_column(patients: pd.DataFrame, term: str) -> np.ndarray:
    """A design term's values for the patients: a numeric column, or ``source[level]``."""
    if term in patients.columns:
        values = pd.to_numeric(patients[term], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise IPDDataError(
                f"new patients: effect modifier {term!r} has a non-numeric or missing value "
                f"{patients[term].iloc[int(bad[0])]!r} in row {int(bad[0]) + 1}"
            )
        return values
    match = _LEVEL_TERM.match(term)
    if match and match["source"] in patients.columns:
        column = patients[match["source"]]
        if column.isna().any():
            row = int(np.flatnonzero(column.isna().to_numpy())[0])
            raise IPDDataError(
                f"new patients: effect modifier {match['source']!r} is missing in row {row + 1}"
            )
        return (column.astype(str).str.strip() == match["level"]).to_numpy(dtype=np.float64)
    wanted = match["source"] if match else term
    raise IPDDataError(
        f"new patients lack effect-modifier column {wanted!r}; columns: {list(patients.columns)}"
    )


def interaction_values(design: Any, patients: pd.DataFrame) -> np.ndarray:
    """(patients, q) values of the design's interaction terms."""
    if len(patients) == 0:
        raise IPDDataError("the new-patient table has no rows")
    columns = [_term_column(patients, t) for t in design.interaction_terms]
    return np.column_stack(columns) if columns else np.zeros((len(patients), 0))


def _flat(post: Any, name: str, *dims: str) -> np.ndarray:
    """(S, ...) draws of a posterior variable, chains stacked."""
    da = post[name].transpose("chain", "draw", *dims)
    values = np.asarray(da.values, dtype=np.float64)
    return values.reshape(-1, *values.shape[2:])


def patient_table(new_patients: pd.DataFrame | Mapping[str, Any]) -> pd.DataFrame:
    """New patients as a table: a DataFrame as given (copied), or a mapping of column to
    values (``{"age": [40, 60]}``, one scalar for one patient), as ``predict_theta`` takes.

    Raises
    ------
    IPDDataError
        Neither a table nor a mapping, or columns of different lengths (named).
    """
    if isinstance(new_patients, pd.DataFrame):
        return new_patients.copy(deep=True).reset_index(drop=True)
    if not isinstance(new_patients, Mapping):
        raise IPDDataError(
            "new patients must be a DataFrame or a dict of covariate values "
            f"(e.g. {{'age': [40, 60]}}), got {type(new_patients).__name__}"
        )
    listed = (list, tuple, np.ndarray, pd.Series, pd.Index)
    columns = {str(k): list(v) if isinstance(v, listed) else [v] for k, v in new_patients.items()}
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise IPDDataError(f"new patients: the covariate value lists differ in length: {lengths}")
    return pd.DataFrame(columns)


def predict_effect(
    result: Posterior,
    new_patients: pd.DataFrame | Mapping[str, Any],
    *,
    study: str | None = None,
    seed: int | None = None,
) -> EffectPrediction:
    """Posterior draws of the treatment effect at each new patient's covariate profile.

    Parameters
    ----------
    result : Posterior
    new_patients : DataFrame or dict
        One row per patient with a column per effect modifier of the model (a
        categorical one as its levels); other columns are ignored. Never modified. A dict
        maps each column to its values, ``{"age": [40, 60]}`` (:func:`patient_table`).
    study : str, optional
        Also give the effect within this trial of the fit.
    seed : int, optional
        Seed of the new-trial draws; by default the sampler's seed + 1, as
        :meth:`OneStageResult.predict_new_study`.

    Returns
    -------
    EffectPrediction
    """
    design = result.built.design
    patients = patient_table(new_patients)
    z = interaction_values(design, patients)
    q_idx = [design.covariate_terms.index(t) for t in design.interaction_terms]
    zbar_k = np.asarray(design.term_means)[:, q_idx]
    zbar = zbar_k.mean(axis=0) if zbar_k.size else np.zeros(0)
    post = result.idata.posterior
    mu = _flat(post, "mu")
    n_chain, n_draw = post["mu"].sizes["chain"], post["mu"].sizes["draw"]
    gamma = _flat(post, "gamma_within", "interaction") if q_idx else np.zeros((mu.size, 0))
    dz = z - zbar
    mean_trial = mu[:, None] + gamma @ dz.T
    rng = np.random.default_rng(result.derived_seed("new_study", seed))
    e = rng.standard_normal((n_chain, n_draw)).reshape(-1)
    slope = gamma
    if "tau_interaction" in post and q_idx:
        tau_i = _flat(post, "tau_interaction", "interaction")
        slope = gamma + tau_i * rng.standard_normal(gamma.shape)
    new_trial = mu[:, None] + (_flat(post, "tau") * e)[:, None] + slope @ dz.T
    draws = {"mean trial": mean_trial, "new trial": new_trial}
    if study is not None:
        draws[f"trial {study}"] = _trial_effect(result, design, study, z, zbar_k, q_idx)
    return EffectPrediction(patients, draws, result.scale)


def _trial_effect(
    result: Posterior, design: Any, study: str, z: np.ndarray, zbar_k: np.ndarray, q_idx: list
) -> np.ndarray:
    if study not in design.studies:
        raise IPDDataError(f"unknown trial {study!r}; trials: {list(design.studies)}")
    k = design.studies.index(study)
    post = result.idata.posterior
    theta = _flat(post.sel(study=study), "theta")
    if not q_idx:
        return np.repeat(theta[:, None], z.shape[0], axis=1)
    if "gamma_within_trial" in post:
        gamma = _flat(post.sel(study=study), "gamma_within_trial", "interaction")
    else:
        gamma = _flat(post, "gamma_within", "interaction")
    return theta[:, None] + gamma @ (z - zbar_k[k]).T
