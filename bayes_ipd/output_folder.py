"""An output folder replaced as a whole: a command's files are written into a temporary folder
beside the target and moved into place together, so an interrupted or failed write (Ctrl-C,
a full disk, ``kill -9``) never leaves a folder that mixes two runs or looks complete.

Used by ``bayes-ipd run --out`` (:meth:`bayes_ipd.analysis.AnalysisResult.write`) and
``bayes-ipd calibrate --out``; standard library only.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["check_free_space", "staged_folder"]


def check_free_space(folder: Path, needed: int) -> None:
    """Raise ``OSError(ENOSPC)`` naming ``folder`` when its disk has less than ``needed``
    bytes (plus a 1 MiB margin) free."""
    free = shutil.disk_usage(folder).free
    if free < needed + 2**20:
        raise OSError(
            errno.ENOSPC,
            f"not enough free space to write the results ({needed / 1e6:.1f} MB needed, "
            f"{free / 1e6:.1f} MB free); nothing was written",
            str(folder),
        )


@contextmanager
def staged_folder(out_dir: str | Path, own: Collection[str]) -> Iterator[Path]:
    """A temporary folder beside ``out_dir`` to write a run's outputs into; on leaving the
    block it replaces ``out_dir`` as a whole.

    Files in ``out_dir`` other than the command's own outputs (``own``, file names) are
    carried over, so a report or notes kept there stay; the previous run's outputs do not,
    so two runs never mix. An exception (a full disk, Ctrl-C) removes the temporary folder
    and leaves ``out_dir`` untouched.
    """
    target = Path(out_dir).absolute()
    if target.exists() and not target.is_dir():
        raise OSError(errno.ENOTDIR, "--out must name a folder", str(out_dir))
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(target)
    prefix = f".{target.name}.partial-{os.getpid()}-"
    stage = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)  # mkdtemp's folder is private: give it a new folder's permissions
    stage.chmod(target.stat().st_mode & 0o7777 if target.exists() else 0o777 & ~umask)
    try:
        yield stage
        _swap_in(stage, target, frozenset(own))
    except BaseException as exc:
        shutil.rmtree(stage, ignore_errors=True)
        where = getattr(exc, "filename", None)
        if isinstance(exc, OSError) and where and Path(where).is_relative_to(stage):
            # name the folder the user asked for, not the staging folder
            named = target / Path(where).relative_to(stage)
            raise OSError(exc.errno, exc.strerror, str(named)) from exc
        raise


def _remove_abandoned(target: Path) -> None:
    """Delete the staging folders ``.<name>.partial-<pid>-...`` of ``target`` whose process
    is gone (``kill -9``); a running process's folder is left alone."""
    for entry in target.parent.glob(f".{target.name}.partial-*-*"):
        pid = entry.name[len(f".{target.name}.partial-") :].split("-", 1)[0]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except (OSError, ValueError):  # alive under another user, or not our name
            continue


def _swap_in(stage: Path, target: Path, own: frozenset[str]) -> None:
    """Replace ``target`` by ``stage``: two renames, the old folder deleted after; file by
    file (each replaced atomically) where the folder cannot move (the working directory or
    a folder holding it, a mount point)."""
    if not target.exists():
        stage.rename(target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    try:
        if Path.cwd().is_relative_to(target):
            raise OSError(errno.EBUSY, "the working directory", str(target))
        target.rename(old / target.name)
    except OSError:
        old.rmdir()
        for name in own - {p.name for p in stage.iterdir()}:  # the previous run's
            (target / name).unlink(missing_ok=True)
        for entry in stage.iterdir():
            os.replace(entry, target / entry.name)
        stage.rmdir()
        return
    for entry in (old / target.name).iterdir():  # the user's own files stay
        if entry.name not in own and not (stage / entry.name).exists():
            entry.rename(stage / entry.name)
    stage.rename(target)
    shutil.rmtree(old, ignore_errors=True)
