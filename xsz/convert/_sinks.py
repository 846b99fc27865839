"""Where the keys of a Zarr hierarchy go: a directory, a zip file, or any zarr store.

A sink takes ``(key, bytes)`` pairs, each key once, and nothing else: the
conversions decide what the bytes are. `DirectorySink` writes the files of
zarr's ``LocalStore`` layout directly (one ``open``/``write`` per key, none of
``LocalStore``'s per-key temporary file and link); `ZipSink` writes stored zip
entries (`ZipWriter`), their CRC-32s computed in threads while earlier entries
are written; `StoreSink` sets keys through the zarr store API, a batch at a
time, concurrently.
"""

from __future__ import annotations

import asyncio
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Final, Protocol

from zarr.core.buffer import cpu
from zarr.core.sync import sync

from xsz.convert._zip import ZipWriter

if TYPE_CHECKING:
    from collections.abc import Buffer, Iterator, Sequence
    from pathlib import Path

    from zarr.abc.store import Store

__all__ = ["DirectorySink", "Sink", "StoreSink", "ZipSink", "directory_items"]

_CRC_TASK: Final = 1 << 16
"""Entries smaller than this get their CRC-32 in the writing thread (a task costs more)."""


class Sink(Protocol):
    """Takes the keys of a hierarchy, each once."""

    def put_many(self, items: Sequence[tuple[str, Buffer]]) -> None:
        """Store every ``(key, value)`` of `items`."""

    def close(self) -> None:
        """Finish (a sink that failed is closed with `abort`)."""

    def abort(self) -> None:
        """Stop; what was written is the caller's to remove."""


class DirectorySink:
    """Write keys as files under `root` (zarr's ``LocalStore`` layout)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: set[Path] = set()

    def put_many(self, items: Sequence[tuple[str, Buffer]]) -> None:
        # docstring inherited
        for key, value in items:
            path = self.root / key
            parent = path.parent
            if parent not in self._made:
                parent.mkdir(parents=True, exist_ok=True)
                self._made.add(parent)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                view = memoryview(value).cast("B")
                while len(view):
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)

    def close(self) -> None:
        # docstring inherited
        return

    def abort(self) -> None:
        # docstring inherited
        return


class ZipSink:
    """Write keys as stored entries of a new zip file at `path`."""

    def __init__(self, path: Path, *, n_threads: int = 2) -> None:
        self.zip = ZipWriter(path)
        self._pool = (
            ThreadPoolExecutor(n_threads, thread_name_prefix="xsz-crc") if n_threads > 1 else None
        )

    def _crcs(self, views: list[memoryview]) -> Iterator[int]:
        if self._pool is None or sum(len(v) for v in views) < 2 * _CRC_TASK:
            return (zlib.crc32(v) for v in views)
        return self._pool.map(zlib.crc32, views)  # in order, as they finish: writes overlap

    def put_many(self, items: Sequence[tuple[str, Buffer]]) -> None:
        # docstring inherited
        views = [memoryview(value).cast("B") for _, value in items]
        for (key, _), view, crc in zip(items, views, self._crcs(views), strict=True):
            self.zip.add(key, view, crc=crc)

    def close(self) -> None:
        # docstring inherited
        try:
            self.zip.close()
        finally:
            self._shutdown()

    def abort(self) -> None:
        # docstring inherited
        self.zip.abort()
        self._shutdown()

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class StoreSink:
    """Set keys in any zarr store, a batch at a time, concurrently."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def put_many(self, items: Sequence[tuple[str, Buffer]]) -> None:
        # docstring inherited
        async def put_all() -> None:
            await asyncio.gather(
                *(self.store.set(key, cpu.Buffer.from_bytes(bytes(value))) for key, value in items)
            )

        if items:
            sync(put_all())

    def close(self) -> None:
        # docstring inherited
        return

    def abort(self) -> None:
        # docstring inherited
        return


def directory_items(root: Path) -> Iterator[tuple[str, bytes]]:
    """Every file under `root` as ``(key, bytes)``, keys with ``/``, in a stable order."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        base = os.path.relpath(folder, root)
        for name in sorted(files):
            key = name if base == "." else f"{base.replace(os.sep, '/')}/{name}"
            with open(os.path.join(folder, name), "rb") as fh:
                yield key, fh.read()
