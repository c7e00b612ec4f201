"""Distributed execution of a calibration study on Dask (``dask.distributed``).

Every replicate is one task (:func:`~bayes_ipd.calibration.replicate.run_replicate`). By
default the study runs on a :class:`distributed.LocalCluster` with one single-threaded
worker process per core; ``scheduler="tcp://host:8786"`` (or ``client=``) sends it to any
Dask cluster. A worker process keeps the compiled models it built (and the disk cache
shares them between processes, :mod:`bayes_ipd.one_stage.cache`), so a study costs about
``replications x sampling`` plus one compile per model structure and worker. Seeds derive
from the study seed and the replicate index only: 1 or 20 workers give identical tables.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from bayes_ipd.calibration.design import CalibrationStudy
from bayes_ipd.calibration.replicate import run_replicate
from bayes_ipd.errors import BayesIPDError

__all__ = ["CONNECT_TIMEOUT", "SchedulerError", "connect", "run_rows"]

CONNECT_TIMEOUT = 10.0
"""Seconds to wait for a Dask scheduler before giving up (``--scheduler``)."""


class SchedulerError(BayesIPDError):
    """The Dask scheduler could not be reached."""


def connect(
    workers: int | None = None, scheduler: str | None = None, timeout: float = CONNECT_TIMEOUT
) -> tuple[Any, Any]:
    """A Dask client: to ``scheduler`` (within ``timeout`` seconds), else a new LocalCluster
    of ``workers`` single-threaded processes (default: the machine's cores).

    Returns
    -------
    (client, cluster)
        ``cluster`` is None for a remote scheduler; close both when done.
    """
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return Client(scheduler, timeout=timeout), None
        except (OSError, TimeoutError) as err:
            raise SchedulerError(
                f"cannot reach the Dask scheduler at {scheduler!r} within {timeout:g} s "
                f"({type(err).__name__}: {err})"
            ) from None
    n = int(workers or os.cpu_count() or 1)
    if n < 1:
        raise BayesIPDError(f"workers = {workers!r} must be >= 1")
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    return Client(cluster), cluster


def _task(study: CalibrationStudy, index: int) -> dict[str, Any]:
    """A replicate as a record; a failure is recorded, never lost."""
    try:
        return run_replicate(study, index).row()
    except Exception as err:  # the study reports every failed replicate
        return {"replicate": index, "error": f"{type(err).__name__}: {err}"}


def run_rows(
    study: CalibrationStudy,
    replications: int,
    client: Any,
    say: Callable[[str], None] | None = None,
    start: int = 0,
) -> list[dict[str, Any]]:
    """Run replicates ``start .. start + replications - 1`` as Dask tasks on ``client``;
    records in index order (a long study can be run, and saved, in chunks)."""
    from distributed import as_completed

    indices = range(start, start + replications)
    futures = client.map(functools.partial(_task, study), indices, pure=False)
    t0 = time.perf_counter()
    for done, _ in enumerate(as_completed(futures), start=1):
        if say is not None and (done == replications or done % max(1, replications // 20) == 0):
            rate = done / (time.perf_counter() - t0) * 60
            say(f"calibration: {done}/{replications} replicates ({rate:.1f} per minute)")
    rows = client.gather(futures)
    return sorted(rows, key=lambda r: r["replicate"])
