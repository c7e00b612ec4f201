"""Writing a figure to a file, the format chosen by the extension."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["PNG_DPI", "SAVE_FORMATS", "close_figure", "png_bytes", "save_figure"]

SAVE_FORMATS: tuple[str, ...] = (".png", ".pdf", ".svg")
"""File extensions :func:`save_figure` writes."""

PNG_DPI = 150
"""Resolution of every PNG the package writes (files and the HTML report's figures)."""


def png_bytes(fig: Figure, *, close: bool = True) -> bytes:
    """``fig`` rendered once as PNG bytes (:data:`PNG_DPI`, tight bounding box): what
    :func:`save_figure` writes to a ``.png`` file, for a caller that also embeds it.

    The figure is closed afterwards (``close=False`` keeps it open in pyplot): the
    package's figures are pyplot-managed, and a report drawing dozens must not leave them
    open."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=PNG_DPI, bbox_inches="tight")
    finally:
        if close:
            close_figure(fig)
    return buffer.getvalue()


def close_figure(fig: Figure) -> None:
    """Release ``fig`` from pyplot (a no-op for a figure pyplot does not hold)."""
    plt.close(fig)


def save_figure(fig: Figure, path: str | Path, *, close: bool = True) -> Path:
    """Write ``fig`` to ``path``; the format follows the extension.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to write.
    path : str or Path
        Ends in ``.png`` (:data:`PNG_DPI`), ``.pdf`` or ``.svg``. Missing parent folders are
        created.
    close : bool
        Close the figure in pyplot once written (default), so that writing many figures
        leaves none open; ``False`` keeps it for ``plt.show()``.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    ValueError
        The extension is not one of :data:`SAVE_FORMATS` (it is named).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise ValueError(
            f"cannot save a figure as {suffix or 'a file without extension'!r} "
            f"({path.name}); use one of {', '.join(SAVE_FORMATS)}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"bbox_inches": "tight", "format": suffix[1:]}
    if suffix == ".png":
        options["dpi"] = PNG_DPI
    try:
        fig.savefig(path, **options)
    finally:
        if close:
            close_figure(fig)
    return path
