"""The aggregate-data parts of a network's arm-level sums (one-stage NMA).

* :func:`with_aggregate_arms` adds arm-level AD to the arms' sums: an AD arm's ``events,
  n`` / ``n, mean, sd`` / ``events, exposure`` are the exact sufficient statistics of its
  rows (:meth:`bayes_ipd.data.network_aggregate.AggregateArms.sums`), so the model's
  likelihood of the arm is its rows' likelihood (the poisson constant ``sum y log e -
  log y!`` of an AD arm is unknown and left out: a constant);
* :func:`given_contrast_layout` lays out contrast-level AD for the model's multivariate
  normal likelihood ``y_k ~ MVN(delta_arm - delta_base, V_k)``: each given contrast's arm
  and base arm (indices into the arms, so node-splitting's rebasing leaves them valid),
  and the triplets of ``U`` with ``U'U = V^-1``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from bayes_ipd.conventions import readonly
from bayes_ipd.data.network import Network

__all__ = ["given_contrast_layout", "with_aggregate_arms"]


def with_aggregate_arms(
    stats: dict[str, np.ndarray], ad_arm: np.ndarray, ad: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The arms' sums with their arm-level AD added (module docstring).

    Parameters
    ----------
    stats : dict of str to numpy.ndarray
        (A,) sums of the rows per arm (the family's statistics; only read).
    ad_arm : numpy.ndarray
        (D,) int: the arm of each AD entry.
    ad : Mapping[str, numpy.ndarray]
        (D,) ``n, total, squares, ss`` (and ``exposure``) per AD entry.

    Returns
    -------
    dict of str to numpy.ndarray
        New arrays: counts, totals and exposures added; gaussian ``ss`` pooled about the
        merged mean and ``mean`` recomputed.
    """
    out = {name: values.copy() for name, values in stats.items()}
    add = {
        "n": "n",
        "events": "total",
        "exposure": "exposure",
        "total": "total",
        "squares": "squares",
    }
    n_rows = stats["n"][ad_arm]
    for name, source in add.items():
        if name in out:
            np.add.at(out[name], ad_arm, ad[source])
    if "ss" in out:  # pooled within-arm SS of rows and AD (the between-part term added)
        mean_rows = np.where(n_rows > 0, stats["mean"][ad_arm], 0.0)
        mean_ad = ad["total"] / ad["n"]
        between = n_rows * ad["n"] / (n_rows + ad["n"]) * (mean_rows - mean_ad) ** 2
        np.add.at(out["ss"], ad_arm, ad["ss"] + between)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["mean"] = out["total"] / out["n"]
    return out


def given_contrast_layout(
    network: Network, arm_study: np.ndarray, arm_treatment: np.ndarray
) -> dict[str, np.ndarray]:
    """The contrast-level AD of ``network`` in the layout of
    :class:`~bayes_ipd.one_stage.network_summaries.NetworkArms` (module docstring).

    Parameters
    ----------
    network : Network
    arm_study, arm_treatment : numpy.ndarray
        (A,) each arm's trial and treatment code.

    Returns
    -------
    dict of str to numpy.ndarray
        The ``given_*`` fields of ``NetworkArms`` (empty without contrast-level AD).
    """
    given = network.aggregate_contrasts
    if given is None:
        return {}
    arm_of = {
        (int(s), int(t)): i for i, (s, t) in enumerate(zip(arm_study, arm_treatment, strict=True))
    }
    study_code = {s: i for i, s in enumerate(network.studies)}
    t_code = {t: i for i, t in enumerate(network.treatments)}
    cols: dict[str, list] = {k: [] for k in ("arm", "base", "study", "y", "r", "c", "v", "const")}
    for study, base, others, y, v in zip(
        given.studies, given.bases, given.arms, given.estimates, given.covariances, strict=True
    ):
        s, m, offset = study_code[study], len(others), len(cols["arm"])
        upper = np.linalg.cholesky(np.linalg.inv(v)).T  # U'U = V^-1
        r, c = np.triu_indices(m)
        logdet = np.linalg.slogdet(v)[1]
        cols["arm"] += [arm_of[(s, t_code[t])] for t in others]
        cols["base"] += [arm_of[(s, t_code[base])]] * m
        cols["study"] += [s] * m
        cols["y"] += list(y)
        cols["r"] += list(offset + r)
        cols["c"] += list(offset + c)
        cols["v"] += list(upper[r, c])
        cols["const"] += [-0.5 * (np.log(2.0 * np.pi) + logdet / m)] * m
    ints = {
        "given_arm": "arm",
        "given_base": "base",
        "given_study": "study",
        "given_rows": "r",
        "given_cols": "c",
    }
    floats = {"given_estimate": "y", "given_values": "v", "given_const": "const"}
    out = {k: readonly(np.array(cols[v], dtype=np.int64), np.int64) for k, v in ints.items()}
    return out | {k: readonly(np.array(cols[v], dtype=float)) for k, v in floats.items()}
