"""Recognise nanopore and SZ files by their content, never by their name.

Each format has a signature at the start and, where the format defines one, an
end marker or a recorded length that shows whether the file is complete:

========  ==========================================  ===================================
format    start                                       complete when
========  ==========================================  ===================================
pod5      ``\\x8bPOD\\r\\n\\x1a\\n`` + a 16-byte section  the same 24 bytes, reversed, close it
blow5     ``BLOW5\\x01``                                it ends with ``5WOLB``
slow5     ``#slow5_version``                           it ends with a line break
fast5     HDF5 ``\\x89HDF\\r\\n\\x1a\\n`` (at 0, 512, ...)  the superblock's end-of-file address
                                                      is within the file
sz        a directory holding ``index`` and ``dat``
zarr      a directory (or zip) holding ``zarr.json`` (v3) or ``.zgroup`` / ``.zarray`` (v2)
========  ==========================================  ===================================
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final, Literal

from xsz.errors import SourceError

if TYPE_CHECKING:
    import os

__all__ = ["FORMATS", "SIGNAL_FORMATS", "Format", "detect_format"]

Format = Literal["pod5", "blow5", "slow5", "fast5", "sz", "zarr"]
FORMATS: Final[tuple[Format, ...]] = ("pod5", "blow5", "slow5", "fast5", "sz", "zarr")
"""Every format `detect_format` names."""
SIGNAL_FORMATS: Final[tuple[Format, ...]] = ("pod5", "blow5", "slow5", "fast5")
"""The nanopore formats `xsz.convert.import_reads` reads."""

POD5_SIGNATURE: Final = b"\x8bPOD\r\n\x1a\n"
BLOW5_MAGIC: Final = b"BLOW5\x01"
BLOW5_EOF: Final = b"5WOLB"
SLOW5_MAGIC: Final = b"#slow5_version"
HDF5_SIGNATURE: Final = b"\x89HDF\r\n\x1a\n"
_HDF5_OFFSETS: Final = (0, 512, 1024, 2048, 4096, 8192)
_ZARR_MARKERS: Final = ("zarr.json", ".zgroup", ".zarray")


def detect_format(path: str | os.PathLike[str]) -> Format:
    """The format of a file or directory, recognised by its content.

    Parameters
    ----------
    path
        A pod5, BLOW5, SLOW5 or FAST5 file, an SZ store or a Zarr store.

    Returns
    -------
    str
        One of ``"pod5"``, ``"blow5"``, ``"slow5"``, ``"fast5"``, ``"sz"``, ``"zarr"``.

    Raises
    ------
    SourceError
        The path holds none of these formats, or a file of one of them that is
        truncated (named in the message).
    FileNotFoundError
        Nothing exists at `path`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "reads.slow5").write_text("#slow5_version\\t0.2.0\\n")
    >>> detect_format(d / "reads.slow5")
    'slow5'
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or directory")
    if p.is_dir():
        return _detect_directory(p)
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(64)
        if head.startswith(POD5_SIGNATURE):
            _check_pod5(p, fh, head, size)
            return "pod5"
        if head.startswith(BLOW5_MAGIC):
            _check_tail(p, fh, size, BLOW5_EOF, "BLOW5", "end-of-file marker '5WOLB'")
            return "blow5"
        if head.startswith(SLOW5_MAGIC):
            _check_tail(p, fh, size, b"\n", "SLOW5", "line break after its last record")
            return "slow5"
        if _hdf5_superblock(p, fh, size) is not None:
            return "fast5"
    if zipfile.is_zipfile(p) and _zip_holds_zarr(p):
        return "zarr"
    if size == 0:
        raise SourceError(f"{p} is empty: not a pod5, BLOW5, SLOW5 or FAST5 file")
    for magic, name in (
        (POD5_SIGNATURE, "pod5"),
        (BLOW5_MAGIC, "BLOW5"),
        (SLOW5_MAGIC, "SLOW5"),
        (HDF5_SIGNATURE, "FAST5 (HDF5)"),
    ):
        if size < len(magic) and magic.startswith(head):
            raise SourceError(f"{p} is truncated: {size} bytes, the start of a {name} signature")
    raise SourceError(
        f"{p}: unknown format (starts with {head[:16]!r}); expected pod5, BLOW5, SLOW5, FAST5, "
        "an SZ store or a Zarr store"
    )


def _detect_directory(p: Path) -> Format:
    names = {child.name for child in p.iterdir()}
    if {"index", "dat"} <= names:
        return "sz"
    if any(marker in names for marker in _ZARR_MARKERS):
        return "zarr"
    raise SourceError(
        f"{p} is a directory but neither an SZ store (index + dat) nor a Zarr store "
        "(zarr.json, .zgroup or .zarray); to import a directory of nanopore files, pass it to "
        "import_reads"
    )


def _check_tail(p: Path, fh: BinaryIO, size: int, marker: bytes, name: str, what: str) -> None:
    fh.seek(max(0, size - len(marker)))
    if fh.read(len(marker)) != marker:
        raise SourceError(f"{p} is a truncated {name} file: it lacks its {what}")


def _check_pod5(p: Path, fh: BinaryIO, head: bytes, size: int) -> None:
    opening = head[:24]
    if size < 48 or len(opening) < 24:
        raise SourceError(f"{p} is a truncated pod5 file: {size} bytes")
    fh.seek(size - 24)
    closing = fh.read(24)
    if closing != opening[8:24] + POD5_SIGNATURE:
        raise SourceError(
            f"{p} is a truncated pod5 file: it does not end with its section marker and signature"
        )


def _hdf5_superblock(p: Path, fh: BinaryIO, size: int) -> int | None:
    """The offset of the HDF5 signature, or ``None``; raise if the file is shorter than
    the end-of-file address its superblock records."""
    for base in _HDF5_OFFSETS:
        if base + 8 > size:
            break
        fh.seek(base)
        block = fh.read(96)
        if not block.startswith(HDF5_SIGNATURE):
            continue
        eof = _hdf5_eof(block)
        if eof is None:
            raise SourceError(f"{p} is a truncated FAST5 (HDF5) file: its superblock is incomplete")
        if base + eof > size:
            raise SourceError(
                f"{p} is a truncated FAST5 (HDF5) file: {size} bytes, its superblock says "
                f"{base + eof}"
            )
        return base
    return None


def _hdf5_eof(block: bytes) -> int | None:
    """The end-of-file address recorded in an HDF5 superblock (versions 0 to 3)."""
    if len(block) < 9:
        return None
    version = block[8]
    if version in (0, 1):
        if len(block) < 24:
            return None
        size_of_offsets = block[13]
        start = 24 + (4 if version == 1 else 0) + 2 * size_of_offsets  # base, free-space
    elif version in (2, 3):
        size_of_offsets = block[9]
        start = 12 + 2 * size_of_offsets  # base, superblock extension
    else:
        return None
    if size_of_offsets not in (2, 4, 8) or len(block) < start + size_of_offsets:
        return None
    return int.from_bytes(block[start : start + size_of_offsets], "little")


def _zip_holds_zarr(p: Path) -> bool:
    try:
        with zipfile.ZipFile(p) as zf:
            return any(name in _ZARR_MARKERS for name in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
