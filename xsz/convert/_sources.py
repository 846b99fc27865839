"""Which files an import reads, and the one interface every format's reader offers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from xsz.convert._detect import SIGNAL_FORMATS, detect_format
from xsz.convert._fast5 import Fast5Source
from xsz.convert._pod5 import Pod5Source
from xsz.convert._slow5 import Slow5Source
from xsz.errors import SourceError, UsageError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from xsz.convert._read_fields import SourceRead

__all__ = ["SUFFIXES", "Source", "open_source", "source_files", "source_names"]

SUFFIXES: Final = (".pod5", ".blow5", ".slow5", ".fast5")
"""File name endings looked for when a directory is imported."""


class Source(Protocol):
    """An open pod5, SLOW5/BLOW5 or FAST5 file (`Pod5Source`, `Slow5Source`, `Fast5Source`)."""

    path: Path
    format: str

    def runs(self) -> dict[str, dict[str, Any]]:
        """Run metadata by run ID, in pod5's vocabulary (`xsz.convert._read_fields.run_info`)."""

    def read_ids(self) -> list[str] | None:
        """Every read ID in file order, or ``None`` if only reading the file tells."""

    def count(self) -> int | None:
        """The number of reads, or ``None`` if only reading the file tells."""

    def reads(self, selection: frozenset[str] | None = None) -> Iterator[SourceRead]:
        """The reads in file order, only those in `selection` when given."""

    def close(self) -> None: ...


def open_source(path: Path, fmt: str) -> Source:
    """Open `path` with the reader of `fmt` (its package is imported on first use)."""
    if fmt == "pod5":
        return Pod5Source(path)
    if fmt in ("blow5", "slow5"):
        return Slow5Source(path, fmt)
    return Fast5Source(path)


def source_files(src: object, fmt: str | None) -> list[tuple[Path, str]]:
    """``(file, format)`` of every file to import, in order.

    `src` is a file, a directory (its files ending in `SUFFIXES`, recursively,
    in name order) or a list of those; `fmt` overrides recognition by content.
    """
    if fmt is not None and fmt not in SIGNAL_FORMATS:
        raise UsageError(f"format must be one of {list(SIGNAL_FORMATS)} or None, got {fmt!r}")
    items = [src] if isinstance(src, str | os.PathLike) else list(src)  # type: ignore[call-overload]
    if not items:
        raise UsageError("no source given: pass a file, a directory or a list of files")
    out: list[tuple[Path, str]] = []
    for item in items:
        p = Path(item)
        if not p.is_dir():
            out.append((p, fmt or detect_format(p)))
            continue
        if {"index", "dat"} <= {c.name for c in p.iterdir()}:
            raise UsageError(f"{p} is already an SZ store")
        found = sorted(
            f
            for f in p.rglob("*")
            if f.suffix.lower() in SUFFIXES and f.is_file() and not f.name.startswith(".")
        )
        if not found:
            raise SourceError(f"{p}: no {', '.join(SUFFIXES)} file in this directory")
        out.extend((f, fmt or detect_format(f)) for f in found)
    for p, kind in out:
        if kind not in SIGNAL_FORMATS:
            hint = "; Zarr converts with from_zarr" if kind == "zarr" else ""
            raise UsageError(f"{p} is {kind}, not a nanopore file to import{hint}")
    return out


def source_names(src: object, files: Sequence[Path]) -> list[str]:
    """How the header names the files: relative to `src` when it is a directory."""
    if isinstance(src, str | os.PathLike) and Path(src).is_dir():
        return [f.relative_to(src).as_posix() for f in files]
    return [f.name for f in files]
