"""`Spool`: the keys zarr writes into an SZStore, kept on disk until the store is committed.

A spool is a staging directory. Each `Spool` object (the writing store, and
every copy of it unpickled in another process, such as a dask worker) appends
the values it is given to its own segment file ``<id>.seg`` and records each
change as one line of its own log ``<id>.log``::

    <sequence> TAB <offset> TAB <length> TAB <key>

A length of -1 deletes the key; -2 deletes every key under the prefix ``key``
(``""``: all keys). Sequences are nanosecond clock readings made strictly
increasing per writer; for each key the change with the highest sequence
wins. A spool reads the other writers' logs when a key is missing (and when
listing or committing), so a key written in one process is visible in all.

Memory holds only the index: chunk keys of 1-D arrays (``<array>/c/<i>``)
sit in numpy tables, 28 bytes per chunk; other keys in a dict.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

import numpy as np

from xsz.errors import UsageError
from xsz.store._arrays import split_chunk_key

if TYPE_CHECKING:
    from collections.abc import Buffer, Iterator
    from pathlib import Path

    import numpy.typing as npt

__all__ = ["DELETED", "Spool"]

DELETED: Final = "deleted"
"""What `Spool.lookup` returns for a key whose latest change deleted it."""
_DELETE: Final = -1
_WIPE: Final = -2
_TABLE_LIMIT: Final = 1 << 26
"""Chunk numbers from here on are kept in the dict: a table that large would be mostly empty."""


def _check_key(key: str) -> None:
    if "\n" in key or "\t" in key:
        raise UsageError(
            f"zarr key {key!r} contains a TAB or newline, which the spool log cannot hold"
        )


def _wiped_after(wipes: list[tuple[str, int]], key: str, seq: int) -> bool:
    """Whether a wipe of `wipes` (``(prefix, sequence)``) later than `seq` deletes `key`."""
    return any(
        wipe_seq > seq and (not prefix or key.startswith(prefix + "/"))
        for prefix, wipe_seq in wipes
    )


@dataclass(slots=True)
class _Table:
    """The chunk keys ``<prefix>/c/<i>`` of one array: per chunk sequence, segment, range."""

    seq: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    seg: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    offset: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    length: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    def grow(self, index: int) -> None:
        size = max(2 * len(self.seq), index + 1, 64)
        for name in ("seq", "seg", "offset", "length"):
            old = getattr(self, name)
            new = np.zeros(size, old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)


class Spool:
    """A thread-safe key/value spool in `directory`, shared by writers in several processes.

    Parameters
    ----------
    directory
        The staging directory, made (if missing) by the first writer (``create=True``).
    create
        Make `directory`; otherwise join a spool another process made.
    """

    def __init__(self, directory: Path, *, create: bool) -> None:
        self.directory = directory
        if create:
            directory.mkdir(exist_ok=True)
        elif not directory.is_dir():
            raise UsageError(
                f"the spool {directory} of a writing SZStore is gone: the store was "
                "closed (committed or discarded) before this copy wrote to it"
            )
        self.name = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._fd = os.open(directory / f"{self.name}.seg", os.O_RDWR | os.O_CREAT | os.O_EXCL)
        self._log = os.open(
            directory / f"{self.name}.log", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND
        )
        self._end = 0
        self._last_seq = 0
        self._segments: dict[str, int] = {self.name: 0}
        self._fds: list[int] = [self._fd]
        self._log_positions: dict[str, int] = {}
        self._entries: dict[str, tuple[int, int, int, int]] = {}
        self._created: dict[str, int] = {}  # non-chunk key -> its first write
        self._tables: dict[str, _Table] = {}
        self._wipes: list[tuple[str, int]] = []
        self.shared = not create
        self.changed = False
        self.closed = False

    # --- writing ---------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._last_seq = max(time.time_ns(), self._last_seq + 1)
        return self._last_seq

    def set(self, key: str, data: Buffer) -> None:
        """Store `data` under `key` (a copy on disk)."""
        _check_key(key)
        view = memoryview(data).cast("B")
        with self._lock:
            seq = self._next_seq()
            offset = self._end
            self._end += len(view)
        done = 0
        while done < len(view):  # pwrite may write less than asked
            done += os.pwrite(self._fd, view[done:], offset + done)
        self._record(seq, offset, len(view), key)

    def delete(self, key: str) -> None:
        """Delete `key` (no error if it is missing)."""
        _check_key(key)
        with self._lock:
            seq = self._next_seq()
        self._record(seq, 0, _DELETE, key)

    def wipe(self, prefix: str) -> None:
        """Delete every key under `prefix` (a directory; ``""`` for everything)."""
        _check_key(prefix)
        with self._lock:
            seq = self._next_seq()
        self._record(seq, 0, _WIPE, prefix.rstrip("/"))

    def _record(self, seq: int, offset: int, length: int, key: str) -> None:
        line = f"{seq}\t{offset}\t{length}\t{key}\n".encode()
        with self._lock:
            os.write(self._log, line)
            self._apply(key, seq, 0, offset, length)
            self.changed = True

    def _apply(self, key: str, seq: int, seg: int, offset: int, length: int) -> None:
        if length == _WIPE:
            self._wipes.append((key, seq))
            return
        chunk = split_chunk_key(key)
        if chunk is None or chunk[1] >= _TABLE_LIMIT:
            old = self._entries.get(key)
            if old is None or old[0] < seq:
                self._entries[key] = (seq, seg, offset, length)
            if length >= 0 and seq < self._created.get(key, seq + 1):
                self._created[key] = seq
            return
        table = self._tables.get(chunk[0])
        if table is None:
            table = self._tables[chunk[0]] = _Table()
        index = chunk[1]
        if index >= len(table.seq):
            table.grow(index)
        if table.seq[index] < seq:
            table.seq[index], table.seg[index] = seq, seg
            table.offset[index], table.length[index] = offset, length

    # --- reading ---------------------------------------------------------------------

    def _entry(self, key: str) -> tuple[int, int, int, int] | None:
        chunk = split_chunk_key(key)
        if chunk is None or chunk[1] >= _TABLE_LIMIT:
            return self._entries.get(key)
        table = self._tables.get(chunk[0])
        index = chunk[1]
        if table is None or index >= len(table.seq) or table.seq[index] == 0:
            return None
        return (
            int(table.seq[index]),
            int(table.seg[index]),
            int(table.offset[index]),
            int(table.length[index]),
        )

    def lookup(
        self, key: str, *, refresh: bool = True
    ) -> tuple[int, int, int] | Literal["deleted"] | None:
        """``(segment, offset, length)`` of `key`, `DELETED`, or ``None`` if never written.

        A shared spool missing `key` reads the other writers' logs first, unless
        `refresh` is false (the caller has just refreshed, or wants no more changes).
        """
        found = self._lookup(key)
        if found is None and refresh and self.shared:
            self.refresh()
            found = self._lookup(key)
        return found

    def _lookup(self, key: str) -> tuple[int, int, int] | Literal["deleted"] | None:
        with self._lock:
            entry = self._entry(key)
            if _wiped_after(self._wipes, key, 0 if entry is None else entry[0]):
                return DELETED
            if entry is None:
                return None
            return DELETED if entry[3] < 0 else (entry[1], entry[2], entry[3])

    def created(self, key: str) -> int | None:
        """When `key` (not a chunk key) was first written: its sequence, or ``None``."""
        with self._lock:
            return self._created.get(key)

    def read(self, where: tuple[int, int, int], start: int = 0, stop: int | None = None) -> bytes:
        """The bytes ``[start:stop]`` of a value `lookup` found."""
        seg, offset, length = where
        stop = length if stop is None else min(stop, length)
        start = min(start, stop)
        with self._lock:
            fd = self._fds[seg]
        data = os.pread(fd, stop - start, offset + start)
        if len(data) != stop - start:
            raise UsageError(
                f"spool segment {seg} of {self.directory} is shorter than its log says"
            )
        return data

    def live_keys(self) -> Iterator[str]:
        """Every key whose latest change wrote it (a snapshot)."""
        if self.shared:
            self.refresh()
        with self._lock:
            wipes = list(self._wipes)
            entries = [(k, e[0]) for k, e in self._entries.items() if e[3] >= 0]
            for prefix, table in self._tables.items():
                live = np.flatnonzero((table.seq > 0) & (table.length >= 0))
                entries.extend((f"{prefix}/c/{i}", int(table.seq[i])) for i in live.tolist())
        for key, seq in entries:
            if not _wiped_after(wipes, key, seq):
                yield key

    # --- other writers ---------------------------------------------------------------

    def refresh(self) -> None:
        """Read what other writers (other processes) logged since the last refresh."""
        logs = sorted(p for p in self.directory.glob("*.log") if p.stem != self.name)
        for path in logs:
            with self._lock:
                seg = self._segments.get(path.stem)
                if seg is None:
                    seg = self._segments[path.stem] = len(self._fds)
                    self._fds.append(os.open(path.with_suffix(".seg"), os.O_RDONLY))
                position = self._log_positions.get(path.stem, 0)
            with open(path, "rb") as fh:
                fh.seek(position)
                data = fh.read()
            end = data.rfind(b"\n") + 1  # a line being written is read next time
            with self._lock:
                for line in data[:end].decode().splitlines():
                    seq, offset, length, key = line.split("\t", 3)
                    self._apply(key, int(seq), seg, int(offset), int(length))
                self._log_positions[path.stem] = position + end
                if end:
                    self.changed = True

    def close(self) -> None:
        """Close this writer's files (the directory stays)."""
        with self._lock:
            if self.closed:  # idempotent: closing a number twice could close another file
                return
            self.closed = True
            for fd in [*self._fds, self._log]:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._fds = []
