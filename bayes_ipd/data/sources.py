"""Reading a data file's text once: decompression, encodings, and refusals that name the
file and the cause.

A file is read once, as bytes, before anything looks at it, because a pipe or a process
substitution (``<(cat rows.csv)``, ``/dev/stdin``) cannot be read twice; an endless device
(``/dev/zero``) is refused from its first bytes.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import IO

from bayes_ipd.errors import BayesIPDError, IPDDataError

__all__ = ["COMPRESSED_SUFFIXES", "read_source_text", "rereadable"]

COMPRESSED_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar")
"""Compression file suffixes: :func:`read_source_text` decompresses all but ``.zst``, which
it refuses with the reason."""


def read_source_text(path: str | PathLike[str]) -> str:
    """All the text of a data file, read once.

    Parameters
    ----------
    path : path-like
        A file, a pipe or a process substitution. By suffix, ``.gz``, ``.bz2``, ``.xz``,
        ``.zip`` and ``.tar`` (one member) are decompressed here; ``.zst`` is refused (no
        Zstandard decoder is installed with the package).

    Returns
    -------
    str
        The text, decoded as UTF-8 (a UTF-8 byte-order mark is dropped), or as UTF-16 /
        UTF-32 when the file starts with their byte-order mark.

    Raises
    ------
    IPDDataError
        Naming the file and the cause: not found, a directory, unreadable, damaged or
        truncated compressed data, NUL bytes (binary, or UTF-16 without a byte-order mark),
        or bytes that are not UTF-8.
    """
    path = Path(path)
    if not path.exists():
        raise IPDDataError(f"file not found: {path}")
    if path.is_dir():
        raise IPDDataError(f"{path} is a directory, not a data file")
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
            # an endless device (/dev/zero, /dev/urandom) is refused from its first bytes
            if not _compression(path, head) and not _has_bom(head):
                _refuse_nul_bytes(path, head)
            raw = head + handle.read()
    except OSError as exc:
        raise IPDDataError(f"{path} could not be read: {exc}") from exc
    return _decoded(path, _decompressed(path, raw))


def rereadable(
    path: str | PathLike[str], error: type[BayesIPDError] = IPDDataError
) -> Callable[[], str | PathLike[str] | IO[str]]:
    """A source that pandas may read several times (header, then rows).

    An uncompressed regular file (or a missing path, or a directory: left to the caller's
    own message) is given back as it is; a pipe, ``/dev/stdin``, a process substitution or
    a compressed file is read once, by :func:`read_source_text` (so that damaged compressed
    data are a clear error), and each call returns a fresh text stream of it.

    Parameters
    ----------
    path : path-like
    error : type of BayesIPDError
        Raised with :func:`read_source_text`'s message (the caller's own error type).

    Returns
    -------
    callable
        No arguments; returns what to pass to :func:`pandas.read_csv`.

    Raises
    ------
    BayesIPDError
        ``error``, as :func:`read_source_text` refuses the file.
    """
    target = Path(path)
    if not target.exists() or target.is_dir():
        return lambda: path
    if target.is_file() and target.suffix.lower() not in COMPRESSED_SUFFIXES:
        return lambda: path
    try:
        text = read_source_text(target)
    except IPDDataError as exc:
        raise error(str(exc)) from exc
    return lambda: io.StringIO(text)


_MAGIC_SUFFIXES = ((b"\x1f\x8b", ".gz"), (b"\xfd7zXZ\x00", ".xz"), (b"(\xb5/\xfd", ".zst"))
"""Leading bytes of gzip, xz and Zstandard data: how a compressed pipe (which has no
suffix: ``<(cat rows.csv.gz)``) is recognised. Text never starts with these bytes."""


def _compression(path: Path, raw: bytes) -> str:
    """The compression suffix of a file: its own, else the one its leading bytes show."""
    kind = path.suffix.lower()
    if kind in COMPRESSED_SUFFIXES:
        return kind
    return next((suffix for magic, suffix in _MAGIC_SUFFIXES if raw.startswith(magic)), "")


def _decompressed(path: Path, raw: bytes) -> bytes:
    """The bytes of a compressed file (by suffix, or leading bytes) decompressed; others as
    they are."""
    kind = _compression(path, raw)
    if kind == ".zst":
        raise IPDDataError(
            f"{path}: Zstandard (.zst) compression is not supported; decompress the file "
            "(zstd -d) or compress it with gzip (.gz) or xz (.xz)"
        )
    readers: dict[str, Callable[[bytes], bytes]] = {
        ".gz": gzip.decompress,
        ".bz2": bz2.decompress,
        ".xz": lzma.decompress,
        ".zip": _zip_member,
        ".tar": _tar_member,
    }
    reader = readers.get(kind)
    if reader is None:
        return raw
    try:
        return reader(raw)
    except IPDDataError as exc:
        raise IPDDataError(f"{path}: {exc}") from exc
    except (EOFError, OSError, ValueError, lzma.LZMAError, zlib.error, zipfile.BadZipFile,
            tarfile.TarError) as exc:  # fmt: skip
        cause = str(exc) or type(exc).__name__
        raise IPDDataError(
            f"{path}: the {kind} compressed data are damaged or truncated ({cause})"
        ) from exc


def _zip_member(raw: bytes) -> bytes:
    """The one file in a zip archive."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
        if len(names) != 1:
            raise IPDDataError(f"a .zip must hold exactly one file; it holds {len(names)}")
        return archive.read(names[0])


def _tar_member(raw: bytes) -> bytes:
    """The one regular file in a tar archive."""
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        members = [m for m in archive.getmembers() if m.isfile()]
        if len(members) != 1:
            raise IPDDataError(f"a .tar must hold exactly one file; it holds {len(members)}")
        handle = archive.extractfile(members[0])
        assert handle is not None  # a regular file always has one
        return handle.read()


_UNICODE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


_SNIFF_BYTES = 65536
"""Leading bytes looked at for NUL bytes (a text file has none)."""


def _has_bom(data: bytes) -> bool:
    return any(data.startswith(bom) for bom, _ in _UNICODE_BOMS)


def _refuse_nul_bytes(path: Path, data: bytes) -> None:
    """Refuse data whose leading bytes hold a NUL byte, saying so when it looks like UTF-16."""
    head = data[:_SNIFF_BYTES]
    if b"\x00" not in head:
        return
    hint = ""
    if head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4:
        hint = "; it looks like UTF-16 text without a byte-order mark: save it as UTF-8"
    raise IPDDataError(f"{path} is not a text file (it holds NUL bytes){hint}")


def _decoded(path: Path, data: bytes) -> str:
    """UTF-8 text (or UTF-16/32 announced by a byte-order mark); NUL bytes refused."""
    for bom, encoding in _UNICODE_BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise IPDDataError(f"{path} is not {encoding.upper()} text: {exc.reason}") from exc
    _refuse_nul_bytes(path, data)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IPDDataError(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
