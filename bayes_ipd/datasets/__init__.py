"""Small data sets shipped with bayes_ipd, and their loaders.

Real data: the BCG vaccine trials (13 trials as 2x2 tables, which expand exactly into
357,347 participant rows), Huber et al. (2000), Lanza et al. (1987-1989) and the ovarian
cancer meta-analysis data. Simulated data with a known truth: blood-pressure trials
(continuous outcome) and survival trials. Sources, licences and the simulation recipes are in
``SOURCES.md`` beside the files.

Every loader returns a fresh object; the files are only read.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_ipd.data import IPD

__all__ = [
    "bcg_participant_rows",
    "dataset_path",
    "load_bcg_aggregate",
    "load_bcg_ipd",
    "load_bcg_published",
    "load_bcg_trial_level",
    "load_bp_ipd",
    "load_bp_trials",
    "load_depression_trials",
    "load_hamd_visits",
    "load_hasselblad1998",
    "load_hasselblad1998_rows",
    "load_huber2000",
    "load_lanza",
    "load_ovarian",
    "load_survival_ipd",
    "load_survival_trials",
]

SURVIVAL_COVARIATES = ("smoking", "sbp", "age", "bmi")


def _read(name: str) -> pd.DataFrame:
    with resources.files(__name__).joinpath(name).open("rb") as handle:
        return pd.read_csv(handle)


def load_bcg_aggregate() -> pd.DataFrame:
    """The 13 BCG vaccine trials as published (Colditz et al. 1994), one row per trial.

    Returns
    -------
    DataFrame
        Columns ``trial, author, year, tpos, tneg, cpos, cneg, ablat, alloc, yi, vi``:
        the 2x2 counts (``tpos``/``tneg`` vaccinated with/without tuberculosis,
        ``cpos``/``cneg`` unvaccinated), absolute latitude, allocation, and the log risk
        ratio ``yi`` with its sampling variance ``vi``.

    Examples
    --------
    >>> load_bcg_aggregate().shape
    (13, 11)
    """
    return _read("bcg.csv")


def bcg_participant_rows() -> pd.DataFrame:
    """The BCG 2x2 counts expanded into one row per participant.

    Returns
    -------
    DataFrame
        357,347 rows with columns ``trial`` (``author`` and ``year``, e.g.
        ``"Aronson 1948"``), ``treat`` (1 = vaccinated) and ``event`` (1 = tuberculosis).
        Rows are ordered by trial, then vaccinated cases, vaccinated non-cases, control
        cases, control non-cases.

    Examples
    --------
    >>> rows = bcg_participant_rows()
    >>> len(rows), int(rows["event"].sum())
    (357347, 2575)
    """
    table = load_bcg_aggregate()
    labels = (table["author"].astype(str) + " " + table["year"].astype(str)).to_numpy()
    # Four cells per trial, in this order: (treat, event) = (1,1), (1,0), (0,1), (0,0).
    counts = table[["tpos", "tneg", "cpos", "cneg"]].to_numpy(dtype=np.int64).ravel()
    cell_trial = np.repeat(labels, 4)
    cell_treat = np.tile(np.array([1, 1, 0, 0], dtype=np.int64), len(table))
    cell_event = np.tile(np.array([1, 0, 1, 0], dtype=np.int64), len(table))
    return pd.DataFrame(
        {
            "trial": np.repeat(cell_trial, counts),
            "treat": np.repeat(cell_treat, counts),
            "event": np.repeat(cell_event, counts),
        }
    )


def load_bcg_ipd() -> IPD:
    """The BCG participant rows as a binomial :class:`~bayes_ipd.data.IPD`.

    Examples
    --------
    >>> load_bcg_ipd().k
    13
    """
    return IPD.from_frame(
        bcg_participant_rows(), study="trial", treatment="treat", outcome="event", family="binomial"
    )


def load_bcg_published() -> pd.DataFrame:
    """Published per-trial results of the 13 BCG trials, for the data-integrity check.

    Returns
    -------
    DataFrame
        Columns ``study`` (as in :func:`load_bcg_ipd`), ``estimate`` (log odds ratio),
        ``se``, ``scale`` (``"logOR"``), ``adjusted_for`` (empty: unadjusted) and ``n``;
        the log odds ratio and its SE are computed in closed form from the published 2x2
        counts (Colditz et al. 1994, via metadat ``dat.bcg``).

    Examples
    --------
    >>> load_bcg_published().shape
    (13, 6)
    """
    return pd.read_csv(dataset_path("bcg_published.csv"), dtype={"study": str})


def load_bcg_trial_level() -> pd.DataFrame:
    """Trial-level covariates of the BCG trials: ``study``, ``ablat``, ``year``, ``alloc``.

    ``study`` is labelled as in :func:`load_bcg_ipd`; the values are those of
    :func:`load_bcg_aggregate`.
    """
    table = load_bcg_aggregate()
    study = table["author"].astype(str) + " " + table["year"].astype(str)
    return pd.DataFrame(
        {"study": study, "ablat": table["ablat"], "year": table["year"], "alloc": table["alloc"]}
    )


def load_depression_trials() -> pd.DataFrame:
    """Six simulated depression trials as they arrive (the data-preparation example).

    Two outcome scales (``score``: HAM-D-17 in D1-D4, BDI-II in D5 and D6), weight in
    pounds in D3, episode duration in days in D4, sex coded ``gender`` = F/M in D2, weight
    missing at random given the outcome and never recorded in D6. The truth and the recipe:
    ``SOURCES.md`` and :mod:`bayes_ipd.simulate.preparation`; the harmonisation rules that
    fix it: ``models/depression_preparation.toml``.

    Examples
    --------
    >>> load_depression_trials().shape
    (930, 9)
    """
    return _read("depression_trials.csv")


def load_hamd_visits() -> pd.DataFrame:
    """Eight simulated depression trials with repeated measures (the longitudinal example).

    Long data, one row per participant and observed visit: ``study, id, treat, week,
    baseline, hamd_change`` (change from baseline in HAM-D-17 at weeks 2, 4, 8, 12;
    ``baseline`` the standardised baseline severity). Monotone dropout missing at random
    given the last observed change, and intermittent missed visits. Planted mean treatment
    effects per week -0.8, -1.5, -2.2, -2.8 HAM-D points; the whole truth and the recipe:
    ``SOURCES.md`` and ``_generate.hamd_visits``.

    Examples
    --------
    >>> load_hamd_visits().shape
    (5700, 6)
    """
    return _read("hamd_visits.csv")


def dataset_path(name: str) -> Path:
    """Path of a shipped file, e.g. ``"bcg_flow.toml"`` (illustrative PRISMA-IPD counts) or
    ``"bcg_published.csv"``.

    Raises
    ------
    FileNotFoundError
        No shipped file has that name.
    """
    path = Path(str(resources.files(__name__).joinpath(name)))
    if not path.is_file():
        raise FileNotFoundError(f"no shipped data file {name!r}")
    return path


def load_huber2000() -> pd.DataFrame:
    """Huber et al. (2000): 601 participants of 5 trials of Uro-Vaxom vs placebo.

    Returns
    -------
    DataFrame
        Columns ``study``, ``treatment`` (``"Uro-Vaxom"`` or ``"Placebo"``) and
        ``recurrences`` (count of urinary-tract-infection recurrences).
    """
    return _read("huber2000.csv")


def load_hasselblad1998() -> pd.DataFrame:
    """Hasselblad (1998): 24 smoking-cessation trials of 4 interventions, one row per arm.

    Returns
    -------
    DataFrame
        Columns ``id, study, authors, year, trt, xi, ni``: ``trt`` one of
        ``no_contact, self_help, ind_counseling, grp_counseling``; ``xi`` of ``ni``
        participants quit smoking (R ``metadat::dat.hasselblad1998``). Two trials have
        three arms; two arms have no events.
    """
    return _read("hasselblad1998.csv")


def load_hasselblad1998_rows() -> pd.DataFrame:
    """The Hasselblad (1998) arm counts expanded to one row per participant (16,740 rows).

    Returns
    -------
    DataFrame
        Columns ``study`` (``authors`` and ``year``, e.g. ``"Reid et al. 1974"``),
        ``treatment`` and ``quit`` (1: stopped smoking, 0: not), for the network route
        (``bi.fit_network(..., reference="no_contact", outcome="quit")``).
    """
    arms = load_hasselblad1998()
    labels = arms["authors"] + " " + arms["year"].astype(str)
    repeat = arms["ni"].to_numpy()
    quit = np.concatenate(
        [
            np.r_[np.ones(x, dtype=int), np.zeros(n - x, dtype=int)]
            for x, n in zip(arms.xi, arms.ni, strict=True)
        ]
    )
    return pd.DataFrame(
        {
            "study": np.repeat(labels.to_numpy(), repeat),
            "treatment": np.repeat(arms["trt"].to_numpy(), repeat),
            "quit": quit,
        }
    )


def load_lanza() -> pd.DataFrame:
    """Lanza et al. (1987-1989): 198 participants of 4 trials of misoprostol vs placebo.

    Returns
    -------
    DataFrame
        Columns ``study`` (I-IV), ``treatment`` (``"Misoprostol"`` or ``"Placebo"``) and
        ``classification`` (gastric damage, ordinal 1-5).
    """
    return _read("lanza.csv")


def load_ovarian() -> pd.DataFrame:
    """Ovarian Cancer Meta-Analysis Project (1991): 1,192 patients in 50 centres.

    Returns
    -------
    DataFrame
        Columns ``Patient, Center, Treat`` (0/1: CP vs CAP), ``Pfs, PfsInd``
        (progression-free survival, years, and its event indicator) and ``Surv, SurvInd``
        (overall survival).
    """
    return _read("ovarian.csv")


def load_bp_trials() -> pd.DataFrame:
    """Simulated blood-pressure trials (continuous outcome, known truth).

    Ten trials, 2,000 participants, generated once by
    :func:`bayes_ipd.simulate.simulate_continuous` (recipe and seed in ``SOURCES.md``):
    true mean difference ``mu = -5`` mmHg, ``tau = 2``, no within-trial treatment-age
    interaction but an across-trial association of -0.3 mmHg per year of mean age.

    Returns
    -------
    DataFrame
        Columns ``trial, treat, sbp_baseline, sbp_final, age``.
    """
    return _read("bp_trials.csv")


def load_bp_ipd() -> IPD:
    """The blood-pressure trials as a gaussian :class:`~bayes_ipd.data.IPD`.

    Outcome ``sbp_final``; covariates ``sbp_baseline`` and ``age``.
    """
    return IPD.from_frame(
        load_bp_trials(),
        study="trial",
        treatment="treat",
        outcome="sbp_final",
        covariates=("sbp_baseline", "age"),
        family="gaussian",
    )


def load_survival_trials() -> pd.DataFrame:
    """Simulated survival trials (Weibull proportional hazards, known truth).

    Ten trials, 5,030 participants, generated once by
    :func:`bayes_ipd.simulate.simulate_survival` (recipe and seed in ``SOURCES.md``):
    Weibull shape 1.5 (rising hazard), true log hazard ratio ``mu = -0.29``, ``tau = 0.15``,
    five years of follow-up and 10% uniform dropout.

    Returns
    -------
    DataFrame
        Columns ``trial, treat, smoking, sbp, age, bmi, time, event`` (time in years).
    """
    return _read("survival_trials.csv")


def load_survival_ipd() -> IPD:
    """The survival trials as a survival :class:`~bayes_ipd.data.IPD`.

    Covariates ``smoking, sbp, age, bmi``.
    """
    return IPD.from_frame(
        load_survival_trials(),
        study="trial",
        treatment="treat",
        time="time",
        event="event",
        covariates=SURVIVAL_COVARIATES,
        family="survival",
    )
