"""The shipped data files by name: what each holds, and writing a copy to a path.

``bayes-ipd datasets list`` prints :data:`CATALOGUE`; ``bayes-ipd datasets export NAME
PATH`` writes the named file as plain CSV (decompressed) so that every example of the
README runs on shipped data from any folder. Sources and licences: ``SOURCES.md``.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bayes_ipd.errors import IPDDataError

__all__ = ["CATALOGUE", "Dataset", "export_dataset", "get_dataset"]


@dataclass(frozen=True)
class Dataset:
    """One shipped file.

    Attributes
    ----------
    name : str
        The name ``bayes-ipd datasets export`` takes.
    file : str
        The file in ``bayes_ipd/datasets``.
    rows : str
        What one row is ("participant", "trial", ...).
    description : str
        One line: content, source, use.
    """

    name: str
    file: str
    rows: str
    description: str

    @property
    def path(self) -> Path:
        """The shipped file's path."""
        return Path(str(resources.files("bayes_ipd.datasets").joinpath(self.file)))

    @property
    def export_suffix(self) -> str:
        """The exported file's extension (compressed files are written decompressed)."""
        return Path(self.file.removesuffix(".gz")).suffix


CATALOGUE: tuple[Dataset, ...] = (
    Dataset(
        "bcg", "bcg.csv", "trial",
        "13 BCG vaccine trials (Colditz 1994; metafor dat.bcg): 2x2 counts, latitude, "
        "log RR yi and variance vi",
    ),
    Dataset(
        "bcg_ipd", "bcg_ipd.csv.gz", "participant",
        "the BCG 2x2 tables expanded to 357,347 rows: trial, treat, event (binary IPD)",
    ),
    Dataset(
        "bp_trials", "bp_trials.csv", "participant",
        "10 simulated blood-pressure trials (2,000 rows): sbp_baseline, sbp_final, age",
    ),
    Dataset(
        "survival_trials", "survival_trials.csv", "participant",
        "simulated time-to-event trials: time, event, smoking, sbp, age, bmi",
    ),
    Dataset(
        "survival_crossing", "survival_crossing.csv", "participant",
        "6 simulated trials with crossing hazards (log HR -0.5, 0, 0.5 in months "
        "[0,12), [12,36), [36,60]): time, event",
    ),
    Dataset(
        "huber2000", "huber2000.csv", "participant",
        "5 trials of Uro-Vaxom vs placebo (Huber 2000): counts of UTI recurrences",
    ),
    Dataset(
        "lanza", "lanza.csv", "participant",
        "4 trials of misoprostol vs placebo (Lanza 1987-89): ordinal damage grade 1-5",
    ),
    Dataset(
        "ovarian", "ovarian.csv", "participant",
        "ovarian cancer meta-analysis data: progression-free and overall survival by centre",
    ),
    Dataset(
        "hackshaw1998", "hackshaw1998.csv", "study",
        "37 studies of passive smoking and lung cancer (Hackshaw 1998; metadat): OR and 95% CI",
    ),
    Dataset(
        "hasselblad1998", "hasselblad1998.csv", "arm",
        "24 smoking-cessation trials of 4 interventions, 2 three-arm (Hasselblad 1998; "
        "metadat): quitters xi of ni per arm, a network (load_hasselblad1998_rows)",
    ),
    Dataset(
        "hasselblad1998_rows", "hasselblad1998_rows.csv.gz", "participant",
        "the Hasselblad (1998) network expanded to 16,740 participant rows: study, "
        "treatment, quit (models/smoking_network.toml)",
    ),
    Dataset(
        "rubin1981", "rubin1981.csv", "school",
        "the eight-schools coaching experiments (Rubin 1981): effect and standard error",
    ),
    Dataset(
        "bcg_hybrid_ipd", "bcg_hybrid_ipd.csv.gz", "participant",
        "BCG rows of the trials that shared IPD in the hybrid (IPD + AD) example",
    ),
    Dataset(
        "bcg_hybrid_ad", "bcg_hybrid_ad.csv", "trial",
        "published estimates and 2x2 counts of the BCG trials that did not share IPD",
    ),
    Dataset(
        "bcg_published", "bcg_published.csv", "trial",
        "each BCG trial's published log OR and SE, for the data-integrity check",
    ),
    Dataset(
        "bcg_flow", "bcg_flow.toml", "count",
        "illustrative PRISMA-IPD flow counts for the BCG review (TOML)",
    ),
    Dataset(
        "bcg_hybrid_flow", "bcg_hybrid_flow.toml", "count",
        "illustrative PRISMA-IPD flow counts of the hybrid (IPD + AD) BCG review (TOML)",
    ),
    Dataset(
        "bcg_hybrid_trials", "bcg_hybrid_trials.csv", "trial",
        "the hybrid BCG review's 15 eligible trials, with IPD or not: year, size, "
        "allocation, latitude, published log OR (responders vs non-responders)",
    ),
    Dataset(
        "depression_trials", "depression_trials.csv", "participant",
        "6 simulated depression trials as they arrive: HAM-D or BDI-II, weight in lb in one "
        "trial, duration in days in one, weight missing (MAR; never in D6)",
    ),
    Dataset(
        "depression_flow", "depression_flow.toml", "count",
        "PRISMA-IPD flow of the simulated depression review, with [[trial]] tables: every "
        "eligible trial's characteristics and published effect (TOML)",
    ),
    Dataset(
        "depression_rules", "depression_rules.toml", "rule",
        "the [harmonise] rules that map depression_trials.csv onto one schema (TOML)",
    ),
    Dataset(
        "hamd_visits", "hamd_visits.csv", "visit",
        "8 simulated depression trials, HAM-D change at weeks 2, 4, 8, 12 (long data, MAR "
        "dropout; planted effects -0.8, -1.5, -2.2, -2.8): repeated measures",
    ),
    Dataset(
        "bp_new_patients", "bp_new_patients.csv", "patient",
        "three new patients' covariate profiles (sbp_baseline, age) for the ITE example",
    ),
)  # fmt: skip
"""Every shipped data file (a test checks that none is left out)."""


def get_dataset(name: str) -> Dataset:
    """The catalogue entry called ``name``.

    Raises
    ------
    IPDDataError
        No shipped data set has that name (the message lists them).
    """
    for entry in CATALOGUE:
        if entry.name == name:
            return entry
    names = ", ".join(entry.name for entry in CATALOGUE)
    raise IPDDataError(f"no shipped data set named {name!r}; the data sets are: {names}")


def export_dataset(name: str, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write the shipped data set ``name`` to ``path`` (decompressed), atomically.

    Parameters
    ----------
    name : str
        A name of :data:`CATALOGUE`.
    path : path-like
        The file to write; its folder is created.
    overwrite : bool, optional
        Replace an existing file (default: refuse).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    IPDDataError
        Unknown name; ``path`` exists and ``overwrite`` is false; or ``path`` is not a
        regular file (a folder, a device), whatever ``overwrite``.
    """
    entry = get_dataset(name)
    target = Path(path)
    if (target.exists() or target.is_symlink()) and not target.is_file():
        # A folder, device node, socket or broken link is never "an existing file": even
        # with overwrite, replacing it would destroy something that is not a data file.
        kind = "a folder" if target.is_dir() else "not a regular file"
        raise IPDDataError(f"{target} is {kind}; give a file path")
    if target.exists() and not overwrite:
        raise IPDDataError(
            f"{target} exists; choose another path, or overwrite it (--overwrite; "
            "overwrite=True in Python)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if entry.file.endswith(".gz") else open
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with opener(entry.path, "rb") as source, os.fdopen(handle, "wb") as sink:
            shutil.copyfileobj(source, sink)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
