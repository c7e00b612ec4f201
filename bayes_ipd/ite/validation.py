"""Internal-external cross-validation of ITE methods: calibration for benefit, c-for-benefit.

Each trial in turn is held out; every method is fitted on the other trials and predicts
the ITE of the held-out trial's patients. In the held-out trial the patients are split into
``groups`` equal-sized groups by predicted ITE; in each group the observed effect is the
difference in arm means (for a 0/1 outcome, the risk difference) with SE
``sqrt(s1^2/n1 + s0^2/n0)``, beside the mean predicted ITE. A method is calibrated for
benefit when observed and predicted agree across groups (van Klaveren et al. 2018, J Clin
Epidemiol 94:59). Reported per method: the mean absolute and root-mean-square difference
between observed and predicted effects over groups (weighted by group size), the
calibration slope (weighted least squares of observed on predicted, weights ``1/se^2``) and,
for a 0/1 outcome, the c-for-benefit.

c-for-benefit (van Klaveren et al. 2018): within each held-out trial, treated and control
patients are sorted by predicted ITE and matched 1:1 by rank (the larger arm is thinned to
evenly spaced ranks); a pair's predicted benefit is the mean of its two predictions and its
observed benefit ``y_treated - y_control``; c is the probability that of two pairs with
different observed benefit, the one with the larger observed benefit has the larger
predicted benefit (ties in prediction count 1/2), over all pairs of pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_ipd.errors import IPDDataError
from bayes_ipd.ite.data import ITEData
from bayes_ipd.ite.fit import fit_ite
from bayes_ipd.ite.simulation import Method
from bayes_ipd.plots.benefit import calibration_benefit_plot

__all__ = ["IECV_METHODS", "IECVResult", "c_for_benefit", "internal_external"]

IECV_METHODS: tuple[Method, ...] = (
    Method("ols", "mvma"),
    Method("bayes", "mvbayes"),
    Method("bayes", "mixing"),
    Method("ridge", "weighted"),
    Method("forest", "weighted"),
    Method("boosting", "weighted"),
)


def _matched_pairs(
    pred: np.ndarray, treat: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, observed) benefit of rank-matched treated-control pairs."""
    t_idx = np.flatnonzero(treat == 1)
    c_idx = np.flatnonzero(treat == 0)
    t_idx = t_idx[np.argsort(pred[t_idx], kind="stable")]
    c_idx = c_idx[np.argsort(pred[c_idx], kind="stable")]
    m = min(t_idx.size, c_idx.size)
    if m == 0:
        return np.zeros(0), np.zeros(0)
    pick = lambda idx: idx[np.round(np.linspace(0, idx.size - 1, m)).astype(int)]  # noqa: E731
    t_idx, c_idx = pick(t_idx), pick(c_idx)
    return (pred[t_idx] + pred[c_idx]) / 2.0, y[t_idx] - y[c_idx]


def _concordance(pred: np.ndarray, obs: np.ndarray) -> float:
    """P(pred_i > pred_j | obs_i > obs_j), ties in pred 1/2, over all pairs."""
    levels = np.unique(obs)
    concordant = 0.0
    total = 0.0
    for i, hi in enumerate(levels):
        upper = pred[obs == hi]
        for lo in levels[:i]:
            lower = np.sort(pred[obs == lo])
            below = np.searchsorted(lower, upper, side="left")
            equal = np.searchsorted(lower, upper, side="right") - below
            concordant += float(below.sum() + 0.5 * equal.sum())
            total += float(upper.size * lower.size)
    return concordant / total if total else float("nan")


def c_for_benefit(
    predicted: np.ndarray, treat: np.ndarray, y: np.ndarray, study: np.ndarray | None = None
) -> float:
    """The c-for-benefit of predicted ITEs (module docstring); ``study`` matches within trials.

    Examples
    --------
    >>> c_for_benefit(np.array([0.1, 0.9, 0.1, 0.9]), np.array([1, 1, 0, 0]),
    ...               np.array([0, 1, 0, 0]))
    1.0
    """
    predicted, treat, y = (np.asarray(a, dtype=float) for a in (predicted, treat, y))
    groups = np.zeros(len(y)) if study is None else np.asarray(study)
    preds, obs = [], []
    for g in dict.fromkeys(groups.tolist()):
        rows = groups == g
        p, o = _matched_pairs(predicted[rows], treat[rows], y[rows])
        preds.append(p)
        obs.append(o)
    return _concordance(np.concatenate(preds), np.concatenate(obs))


def _group_rows(frame: pd.DataFrame, groups: int) -> list[dict[str, Any]]:
    """Calibration rows of one method in one held-out trial."""
    order = np.argsort(frame["predicted"].to_numpy(), kind="stable")
    rows = []
    for g, idx in enumerate(np.array_split(order, groups)):
        part = frame.iloc[idx]
        arm = part["treat"].to_numpy() == 1
        y = part["y"].to_numpy()
        n1, n0 = int(arm.sum()), int((~arm).sum())
        observed = se = float("nan")
        if n1 >= 2 and n0 >= 2:
            observed = float(y[arm].mean() - y[~arm].mean())
            se = float(np.sqrt(y[arm].var(ddof=1) / n1 + y[~arm].var(ddof=1) / n0))
        rows.append(
            {
                "group": g + 1,
                "n": len(part),
                "n_treated": n1,
                "n_control": n0,
                "predicted": float(part["predicted"].mean()),
                "observed": observed,
                "observed_se": se,
            }
        )
    return rows


@dataclass(frozen=True, eq=False)
class IECVResult:
    """Held-out predictions of every method, and what is derived from them.

    Attributes
    ----------
    predictions : DataFrame
        One row per method and held-out patient: ``method, study, treat, y, predicted``.
    groups : int
        Groups of predicted benefit per held-out trial.
    binary : bool
        Whether the outcome is 0/1 (then the c-for-benefit is reported).
    """

    predictions: pd.DataFrame = field(repr=False)
    groups: int = 4
    binary: bool = False

    def calibration(self) -> pd.DataFrame:
        """One row per method, held-out trial and group: ``method, study, group, n,
        n_treated, n_control, predicted, observed, observed_se``."""
        records = []
        for (method, study), part in self.predictions.groupby(["method", "study"], sort=False):
            for row in _group_rows(part, self.groups):
                records.append({"method": method, "study": study, **row})
        return pd.DataFrame.from_records(records)

    def summary(self) -> pd.DataFrame:
        """Per method: ``calibration_mae``, ``calibration_rmse`` (observed - predicted over
        groups, weighted by size), ``calibration_slope``, ``groups_without_estimate`` and
        ``c_for_benefit`` (NaN unless the outcome is 0/1)."""
        cal = self.calibration()
        records = []
        for method, part in cal.groupby("method", sort=False):
            ok = part[np.isfinite(part["observed"])]
            diff = (ok["observed"] - ok["predicted"]).to_numpy()
            w = ok["n"].to_numpy(dtype=float)
            slope = float("nan")
            if len(ok) > 1 and (ok["observed_se"] > 0).all():
                wt = 1.0 / ok["observed_se"].to_numpy() ** 2
                xp, yo = ok["predicted"].to_numpy(), ok["observed"].to_numpy()
                xm, ym = np.average(xp, weights=wt), np.average(yo, weights=wt)
                denom = float(np.sum(wt * (xp - xm) ** 2))
                slope = float(np.sum(wt * (xp - xm) * (yo - ym)) / denom) if denom > 0 else slope
            c = float("nan")
            if self.binary:
                pred = self.predictions[self.predictions["method"] == method]
                c = c_for_benefit(pred["predicted"], pred["treat"], pred["y"], pred["study"])
            records.append(
                {
                    "method": method,
                    "calibration_mae": float(np.average(np.abs(diff), weights=w))
                    if w.size
                    else np.nan,
                    "calibration_rmse": float(np.sqrt(np.average(diff**2, weights=w)))
                    if w.size
                    else np.nan,
                    "calibration_slope": slope,
                    "groups_without_estimate": int(len(part) - len(ok)),
                    "c_for_benefit": c,
                }
            )
        return pd.DataFrame.from_records(records).set_index("method")

    def plot(self, title: str | None = None) -> Figure:
        """:func:`bayes_ipd.plots.benefit.calibration_benefit_plot` of :meth:`calibration`."""
        return calibration_benefit_plot(self.calibration(), title=title)


def internal_external(
    data: ITEData,
    methods: Sequence[Method] = IECV_METHODS,
    *,
    groups: int = 4,
    seed: int = 0,
    n_boot: int = 10,
    progress: Callable[[str], None] | None = None,
) -> IECVResult:
    """Leave each trial out, fit every method on the rest, predict the held-out trial.

    Parameters
    ----------
    data : ITEData
        At least three trials (each fit needs two).
    methods : sequence of Method
    groups : int
        Groups of predicted benefit per held-out trial (>= 2).
    seed : int
        Study seed of every fit.
    progress : callable, optional
        Called with a line per held-out trial.

    Returns
    -------
    IECVResult
    """
    if data.k < 3:
        raise IPDDataError(
            f"internal-external cross-validation needs at least 3 trials, got {data.k}"
        )
    if groups < 2:
        raise IPDDataError(f"groups of predicted benefit: need at least 2, got {groups}")
    frames = []
    for trial in data.trials:
        train = data.without(trial.study)
        for method in methods:
            result = fit_ite(
                train,
                method.stage1,
                method.stage2,
                random=method.random,
                weights=method.weights,
                meta=method.meta,
                n_boot=n_boot,
                seed=seed,
            )
            frames.append(
                pd.DataFrame(
                    {
                        "method": method.label,
                        "study": trial.study,
                        "treat": trial.treat,
                        "y": trial.y,
                        "predicted": result.predict(trial.x).ite,
                    }
                )
            )
        if progress is not None:
            progress(f"held out trial {trial.study!r}: {len(methods)} methods fitted")
    return IECVResult(pd.concat(frames, ignore_index=True), groups, data.binary)
