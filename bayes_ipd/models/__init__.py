"""Analysis specs (TOML) shipped with bayes_ipd, runnable by name from any folder.

``bayes-ipd run bcg_binary`` runs ``bcg_binary.toml`` from this folder when no file of that
name exists where it is typed. The specs name their data as ``dataset:FILE`` (a file of
:mod:`bayes_ipd.datasets`), so they work wherever the package is installed; the top-level
``models/`` folder of a source checkout links to the same files.
"""

from __future__ import annotations

import errno
import os
import stat
from importlib import resources
from pathlib import Path

from bayes_ipd.errors import SpecError

__all__ = ["resolve_spec", "shipped_specs", "spec_file_problem"]


def spec_file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a spec file, or None when it is a regular file.

    ``Path.is_file`` says False alike for a missing file, a folder, a device and a
    symbolic link loop; a user needs to know which (and reading ``/dev/zero`` never ends).
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "not found"
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "is a symbolic link loop"
        return f"cannot be read: {err.strerror}"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None


def shipped_specs() -> dict[str, Path]:
    """Shipped spec names (file stems) and their paths, sorted by name."""
    folder = resources.files(__name__)
    paths = sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".toml"))
    return {path.stem: path for path in paths}


def resolve_spec(given: str) -> Path:
    """The spec file ``given`` names: an existing file, else a shipped spec of that name.

    Parameters
    ----------
    given : str
        A path (``models/bcg_binary.toml``) or a shipped spec's name (``bcg_binary``, with
        or without ``.toml``).

    Raises
    ------
    SpecError
        Neither a file nor a shipped spec; the message lists the shipped names.
    """
    path = Path(given)
    problem = spec_file_problem(path)
    if problem is None:
        return path
    shipped = shipped_specs()
    name = path.name[: -len(".toml")] if path.name.endswith(".toml") else path.name
    if path.parent == Path(".") and name in shipped:
        return shipped[name]
    if problem != "not found":
        raise SpecError(f"analysis spec {given} {problem}")
    raise SpecError(
        f"analysis spec file not found: {given} (shipped specs, runnable by name: "
        f"{', '.join(shipped) or 'none'})"
    )
