"""Analysis specs (TOML) shipped with bayes_ipd, runnable by name from any folder.

``bayes-ipd run bcg_binary`` runs ``bcg_binary.toml`` from this folder when no file of that
name exists where it is typed. The specs name their data as ``dataset:FILE`` (a file of
:mod:`bayes_ipd.datasets`), so they work wherever the package is installed; the top-level
``models/`` folder of a source checkout links to the same files.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from bayes_ipd.errors import SpecError

__all__ = ["resolve_spec", "shipped_specs"]


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
    if path.is_file():
        return path
    shipped = shipped_specs()
    name = path.name[: -len(".toml")] if path.name.endswith(".toml") else path.name
    if path.parent == Path(".") and name in shipped:
        return shipped[name]
    raise SpecError(
        f"analysis spec file not found: {given} (shipped specs, runnable by name: "
        f"{', '.join(shipped) or 'none'})"
    )
