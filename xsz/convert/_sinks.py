"""Where the keys of a Zarr hierarchy go: a directory, a zip file, or any zarr store.

A sink takes each key once, as bytes (`Sink.put_many`) or, for SZ frames, as
byte ranges of ``dat`` (`Sink.put_frames`, a `FrameBlock`), so that the bytes
need not pass through Python: `DirectorySink` writes the files of zarr's
``LocalStore`` layout directly (one ``open``, and ``os.copy_file_range`` for a
frame; none of ``LocalStore``'s per-key temporary file and link); `ZipSink`
writes stored zip entries (`ZipWriter`): each frame is checked and its CRC-32
computed from the mapping of ``dat``, then a block's headers and frames go out
from that mapping in a few ``writev`` calls; `StoreSink` sets keys through the
zarr store API, a batch at a time, concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from typing import TYPE_CHECKING, Protocol

from zarr.core.buffer import cpu
from zarr.core.sync import sync

from xsz.convert._zip import ZipWriter, crc32
from xsz.errors import SZFormatError

if TYPE_CHECKING:
    import mmap
    from collections.abc import Buffer, Callable, Iterator, Sequence
    from pathlib import Path

    from zarr.abc.store import Store

__all__ = [
    "copy_range",
    "DirectorySink",
    "FrameBlock",
    "Sink",
    "StoreSink",
    "ZipSink",
    "directory_items",
]


def copy_range(src: int, dst: int, offset: int, count: int) -> int:
    """Copy up to `count` bytes of `src` from `offset` to `dst` at its position; 0 at EOF.

    ``os.copy_file_range`` (inside the kernel) where the files allow it, else
    ``pread`` + ``write``.
    """
    try:
        return os.copy_file_range(src, dst, count, offset)
    except OSError as exc:  # not between these files (or this kernel): copy plainly
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    data = memoryview(os.pread(src, min(count, 1 << 24), offset))
    done = 0
    while done < len(data):
        done += os.write(dst, data[done:])
    return done


class FrameBlock:
    """Frames of a block of reads: keys and byte ranges in ``dat``, and ``dat`` mapped.

    The sink it is given owns it and calls `release` once done with the bytes.
    """

    def __init__(
        self,
        fd: int,
        base: int,
        mapping: mmap.mmap,
        keys: list[str],
        offsets: list[int],
        sizes: list[int],
        check: Callable[[int, memoryview], int | None],
    ) -> None:
        self.fd = fd
        """``dat``, open for reading."""
        self.base = base
        """The offset in ``dat`` of the mapping's first byte."""
        self.keys = keys
        self.offsets = offsets
        self.sizes = sizes
        self._check = check
        self._mapping = mapping
        self._view = memoryview(mapping)

    def data(self, k: int) -> memoryview:
        """The bytes of frame `k` (release the view when done)."""
        start = self.offsets[k] - self.base
        return self._view[start : start + self.sizes[k]]

    def checked(self, k: int) -> memoryview:
        """`data` of frame `k`, checked to be the frame the index describes (else
        `SZFormatError` naming the read)."""
        return self.checked_crc(k)[0]

    def checked_crc(self, k: int) -> tuple[memoryview, int]:
        """`checked`, and the CRC-32 of the frame (the one its check matched, else
        computed here)."""
        view = self.data(k)
        crc = self._check(k, view)
        return view, crc32(view) if crc is None else crc

    def release(self) -> None:
        """Unmap ``dat``; idempotent (views still held keep it mapped until released)."""
        self._view.release()
        with contextlib.suppress(BufferError):
            self._mapping.close()


class Sink(Protocol):
    """Takes the keys of a hierarchy, each once."""

    def put_many(self, items: Sequence[tuple[str, Buffer]]) -> None:
        """Store every ``(key, value)`` of `items`."""

    def put_frames(self, block: FrameBlock) -> None:
        """Store the frames of `block` under their keys, and release it."""

    def close(self) -> None:
        """Finish (a sink that failed is closed with `abort`)."""

    def abort(self) -> None:
        """Stop; what was written is the caller's to remove."""


class DirectorySink:
    """Write keys as files under `root` (zarr's ``LocalStore`` layout), a new directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dirs: dict[str, int] = {}  # folder of keys -> its open descriptor

    def _open(self, key: str) -> int:
        folder, _, name = key.rpartition("/")
        dir_fd = self._dirs.get(folder)
        if dir_fd is None:
            path = self.root / folder
            path.mkdir(parents=True, exist_ok=True)
            dir_fd = self._dirs[folder] = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dir_fd)

    def put_many(self, items: Sequence[tuple[str, Buffer]]) -> None:
        # docstring inherited
        for key, value in items:
            fd = self._open(key)
            try:
                view = memoryview(value).cast("B")
                while len(view):
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)

    def put_frames(self, block: FrameBlock) -> None:
        # docstring inherited
        try:
            for k in range(len(block.keys)):
                block.checked(k).release()
        finally:
            block.release()  # copied from the file, not from the mapping
        for key, offset, size in zip(block.keys, block.offsets, block.sizes, strict=True):
            fd = self._open(key)
            try:
                done = 0
                while done < size:
                    step = copy_range(block.fd, fd, offset + done, size - done)
                    if not step:
                        raise SZFormatError(f"dat ended at byte {offset + done} copying {key}")
                    done += step
            finally:
                os.close(fd)

    def close(self) -> None:
        # docstring inherited
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()

    def abort(self) -> None:
        # docstring inherited
        self.close()


class ZipSink:
    """Write keys as stored entries of a new zip file at `path`."""

    def __init__(self, path: Path) -> None:
        self.zip = ZipWriter(path)

    def put_many(self, items: Sequence[tuple[str, Buffer]]) -> None:
        # docstring inherited
        for key, value in items:
            self.zip.add(key, value)

    def put_frames(self, block: FrameBlock) -> None:
        # docstring inherited
        views: list[memoryview] = []
        crcs: list[int] = []
        try:
            for k in range(len(block.keys)):  # all, or raise
                view, crc = block.checked_crc(k)
                views.append(view)
                crcs.append(crc)
            self.zip.add_many(list(zip(block.keys, views, crcs, strict=True)))
        finally:
            for view in views:
                view.release()
            block.release()

    def close(self) -> None:
        # docstring inherited
        self.zip.close()

    def abort(self) -> None:
        # docstring inherited
        self.zip.abort()


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

    def put_frames(self, block: FrameBlock) -> None:
        # docstring inherited
        try:
            items = []
            for k, key in enumerate(block.keys):
                with block.checked(k) as view:
                    items.append((key, bytes(view)))
        finally:
            block.release()
        self.put_many(items)

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
