"""`SZView`: the zarr keys of one SZ store, and the bytes behind each of them.

Documents and index arrays come from `xsz.store._arrays`; a chunk of a ragged
or text dataset is a `Frame` in ``dat``, read with one ``os.pread`` through
`SZReader.pread` and handed over untouched. Before that, the frame header is
checked against what the index says the read holds, so a damaged index or
``dat`` is refused with the key, the read and the byte range, never decoded
into wrong values; what the header cannot show (a damaged payload) the codec
reports with the same description (`Origin`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np
import zstandard

from xsz.codec import ZSTD_MAGIC
from xsz.errors import SZFormatError, TruncatedStoreError
from xsz.format import read_index
from xsz.mapping import group_attrs, layout
from xsz.store._arrays import ZARR_JSON, ArrayView, Frame, group_document, split_chunk_key

if TYPE_CHECKING:
    from collections.abc import Buffer, Iterator
    from pathlib import Path

    from xsz.format import SZReader

__all__ = ["Origin", "SZView", "frame_header_problem", "name_unreadable_keys"]


class Origin:
    """Where a frame comes from, formatted only when an error needs it."""

    __slots__ = ("frame", "reader")

    def __init__(self, reader: SZReader, frame: Frame) -> None:
        self.reader = reader
        self.frame = frame

    @property
    def utf8(self) -> bool:
        """Whether the frame's payload must be UTF-8 (a text dataset's frame)."""
        return self.frame.text

    def __str__(self) -> str:
        frame = self.frame
        read_id = self.reader.index.ids()[frame.row]
        return (
            f"{self.reader.path}: zarr key {frame.key!r} is read {read_id!r} (row {frame.row}), "
            f"dataset {frame.name!r}, dat[{frame.offset}:{frame.offset + frame.size}]"
        )


class SZView:
    """The zarr keys of an SZ store opened with `SZReader`; thread-safe, built lazily.

    Parameters
    ----------
    reader
        The open store. The view keeps it; closing it is the caller's business.
    """

    def __init__(self, reader: SZReader) -> None:
        self.reader = reader
        self.specs = layout(reader.schema)
        self._attrs = group_attrs(reader.header, reader.schema)
        self._arrays: dict[str, ArrayView] = {}
        self._root: bytes | None = None
        self._lock = threading.Lock()

    def array(self, name: str) -> ArrayView | None:
        """The array `name` (built on first use), or ``None``."""
        found = self._arrays.get(name)
        if found is not None or name not in self.specs:
            return found
        with self._lock:
            found = self._arrays.get(name)
            if found is None:
                found = self._arrays[name] = ArrayView(self.specs[name], self.reader)
        return found

    def root_document(self) -> bytes:
        """The group's ``zarr.json``, with every array's metadata consolidated in it."""
        if self._root is None:
            arrays = {name: self.array(name) for name in self.specs}
            self._root = group_document(
                self._attrs, {name: a.doc for name, a in arrays.items() if a is not None}
            )
        return self._root

    def ready(self, key: str) -> bytes | None:
        """A metadata document already built (no I/O needed), else ``None``."""
        if key == ZARR_JSON:
            return self._root
        found = (
            self._arrays.get(key[: -len(ZARR_JSON) - 1]) if key.endswith("/" + ZARR_JSON) else None
        )
        return None if found is None else found.document

    def resolve(self, key: str) -> bytes | Frame | None:
        """What `key` holds: document or index bytes, a `Frame` in ``dat``, or ``None``."""
        if key == ZARR_JSON:
            return self.root_document()
        name, sep, last = key.rpartition("/")
        if sep and last == ZARR_JSON:
            found = self.array(name)
            return None if found is None else found.document
        parsed = split_chunk_key(key)
        if parsed is None:
            return None
        found = self.array(parsed[0])
        if found is None:
            return None
        if found.rows is not None:
            return found.frame(key, parsed[1])
        return found.encode(parsed[1])

    def keys_under(self, prefix: str = "") -> Iterator[str]:
        """Every key that starts with `prefix`, metadata first."""
        if ZARR_JSON.startswith(prefix):
            yield ZARR_JSON
        names = [n for n in self.specs if f"{n}/".startswith(prefix) or prefix.startswith(f"{n}/")]
        for name in names:
            if f"{name}/{ZARR_JSON}".startswith(prefix):
                yield f"{name}/{ZARR_JSON}"
        for name in names:
            found = self.array(name)
            if found is not None:
                for key in (f"{name}/c/{index}" for index in range(found.n_chunks)):
                    if key.startswith(prefix):
                        yield key

    def children(self, prefix: str) -> list[str]:
        """The names one level below the directory `prefix` (zarr's ``list_dir``)."""
        prefix = prefix.strip("/")
        if not prefix:
            return [ZARR_JSON, *self.specs]
        chunks = prefix.endswith("/c")
        found = self.array(prefix[:-2] if chunks else prefix)
        if found is None:
            return []
        if chunks:
            return [str(index) for index in range(found.n_chunks)]
        return [ZARR_JSON, "c"] if found.n_chunks else [ZARR_JSON]

    def read(self, frame: Frame, start: int, stop: int) -> tuple[bytes, Origin]:
        """Bytes ``start:stop`` of `frame` (checked when whole) and their `Origin`."""
        origin = Origin(self.reader, frame)
        try:
            data = self.reader.pread(stop - start, frame.offset + start)
        except (SZFormatError, OSError, ValueError) as exc:  # truncated or closed meanwhile
            raise SZFormatError(f"{origin}: {exc}") from exc
        if start == 0 and stop == frame.size:
            _check_frame(origin, data)
        return data, origin


def _check_frame(origin: Origin, data: Buffer) -> None:
    """Refuse bytes that cannot be the frame (a damaged index or dat), naming the read."""
    problem = frame_header_problem(data, origin.frame)
    if problem is not None:
        raise SZFormatError(f"{origin}: {problem}")


def frame_header_problem(data: Buffer, frame: Frame) -> str | None:
    """Why `data` cannot be `frame`, whose payload holds ``frame.least`` to
    ``frame.limit`` bytes (``None``: any), as far as its zstd header shows;
    ``None`` when it can be."""
    view = memoryview(data)
    if bytes(view[:4]) != ZSTD_MAGIC:
        return f"not a zstd frame (it starts {bytes(view[:8]).hex()})"
    try:
        content = zstandard.frame_content_size(view)
    except zstandard.ZstdError as exc:
        return f"bad zstd frame header: {exc}"
    least, limit = frame.least, frame.limit
    if limit is None or content < 0:  # text, or a frame that records no size
        return None
    if least <= content <= limit:
        return None
    values = "its read's values" if frame.count is None else f"{frame.count} values"
    take = f"{limit}" if least == limit else f"{least} to {limit}"
    return f"the frame claims {content} bytes, but {values} take {take}"


def name_unreadable_keys(path: Path, exc: TruncatedStoreError) -> SZFormatError:
    """`exc` plus the zarr keys of its first read cut off by the end of ``dat``."""
    row = exc.row
    if row is None:
        return exc
    try:
        index = read_index(path / "index")
    except (SZFormatError, OSError):
        return exc
    keys = []
    for spec in layout(index.schema).values():  # the array names SZStore shows
        f = spec.field
        if f is None or spec.role not in ("ragged", "text"):
            continue
        if f.is_text:
            keys.append(f"{spec.name}/c/{row}")
        elif f.has_count:
            counts = index.count[f.name]
            if counts[row]:
                keys.append(f"{spec.name}/c/{int(np.count_nonzero(counts[:row]))}")
        else:  # float counts live in the frame headers, which may be cut off
            keys.append(f"{spec.name}/c/? (read {row}'s chunk)")
    return SZFormatError(f"{exc}; zarr keys {', '.join(keys)} cannot be read")
