"""`Spool`: the keys zarr writes into an SZStore, kept on disk until the store is committed.

A spool is a staging directory. Each `Spool` object (the writing store, and
every copy of it unpickled in another process, such as a dask worker) appends
the values it is given to its own segment file ``<id>.seg`` and records each
change as one line of its own log ``<id>.log``::

    <sequence> TAB <offset> TAB <length> TAB <base> TAB <key>

A length of -1 deletes the key; -2 deletes every key under the prefix ``key``
(``""``: all keys). Sequences are nanosecond clock readings made strictly
increasing per writer, and past every version of the key the writer has seen;
for each key the change with the highest sequence is what readers get. A
spool reads the other writers' logs when a key is missing (and when listing
or committing), so a key written in one process is visible in all.

Every version of a value stays in the segments, and ``base`` says which
version the writer made it from (`VersionToken`): zarr rewrites a chunk whole,
reading it, changing some values and writing it back, so two writers of
different values of one chunk each write a version that lacks the other's
values. The spool marks a key whose versions are not one line of descent
(`forked_keys`); `history` gives its versions for `xsz.store._merge`.

Memory holds only the index of the latest versions: chunk keys of 1-D arrays
(``<array>/c/<i>``) sit in numpy tables, 29 bytes per chunk; other keys in a
dict. Older versions are found again in the logs on disk.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal, NamedTuple

import numpy as np

from xsz.errors import UsageError
from xsz.store._arrays import ZARR_JSON, split_chunk_key

if TYPE_CHECKING:
    from collections.abc import Buffer, Collection, Iterator
    from pathlib import Path

    import numpy.typing as npt

__all__ = [
    "DELETED",
    "UNDER",
    "UNKNOWN",
    "WHOLE",
    "Spool",
    "Version",
    "VersionToken",
    "is_document",
]

DELETED: Final = "deleted"
"""What `Spool.lookup` returns for a key whose latest change deleted it."""

type VersionToken = str
"""Which version of a key a value was made from: ``"<writer>:<sequence>"``, or one of:"""
WHOLE: Final = "-"
"""Made from no earlier value: written whole (a complete chunk, a document, a delete)."""
UNDER: Final = "u"
"""Made from what lies under the spool: the committed store's value, or nothing."""
UNKNOWN: Final = "?"
"""Made from one of several versions, and which one is not known."""

_DELETE: Final = -1
_WIPE: Final = -2
_TABLE_LIMIT: Final = 1 << 26
"""Chunk numbers from here on are kept in the dict: a table that large would be mostly empty."""
_DOCUMENTS: Final = (ZARR_JSON, ".zarray", ".zattrs", ".zgroup", ".zmetadata")
"""Metadata documents: written whole, the latest wins; never merged."""


class Version(NamedTuple):
    """One change of a key in the logs."""

    seq: int
    writer: str
    seg: int
    offset: int
    length: int
    """Bytes of the value; negative for a delete."""
    base: VersionToken

    @property
    def token(self) -> VersionToken:
        return f"{self.writer}:{self.seq}"


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


def is_document(key: str) -> bool:
    """Whether `key` is a metadata document (written whole; never merged)."""
    return key.rpartition("/")[2] in _DOCUMENTS


@dataclass(slots=True)
class _Table:
    """The chunk keys ``<prefix>/c/<i>`` of one array: per chunk sequence, segment, range,
    and whether its versions fork."""

    seq: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    seg: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    offset: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    length: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    forked: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, np.bool_))

    def grow(self, index: int) -> None:
        size = max(2 * len(self.seq), index + 1, 64)
        for name in ("seq", "seg", "offset", "length", "forked"):
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
        self._names: list[str] = [self.name]  # segment number -> writer
        self._fds: list[int] = [self._fd]
        self._log_positions: dict[str, int] = {}
        self._entries: dict[str, tuple[int, int, int, int]] = {}
        self._forked: set[str] = set()  # keys of `_entries` whose versions fork
        self._created: dict[str, int] = {}  # non-chunk key -> its first write
        self._tables: dict[str, _Table] = {}
        self._wipes: list[tuple[str, int]] = []
        self.shared = not create
        self.changed = False
        self.closed = False

    # --- writing ---------------------------------------------------------------------

    def _next_seq(self, floor: int = 0) -> int:
        self._last_seq = max(time.time_ns(), self._last_seq + 1, floor + 1)
        return self._last_seq

    def set(self, key: str, data: Buffer, *, base: VersionToken = WHOLE) -> None:
        """Store `data` under `key` (a copy on disk), made from the version `base`."""
        _check_key(key)
        view = memoryview(data).cast("B")
        with self._lock:
            seq = self._next_seq(self._latest_seq(key))
            offset = self._end
            self._end += len(view)
        done = 0
        while done < len(view):  # pwrite may write less than asked
            done += os.pwrite(self._fd, view[done:], offset + done)
        self._record(seq, offset, len(view), key, base)

    def delete(self, key: str, *, base: VersionToken = WHOLE) -> None:
        """Delete `key` (no error if it is missing); `base` as for `set`."""
        _check_key(key)
        with self._lock:
            seq = self._next_seq(self._latest_seq(key))
        self._record(seq, 0, _DELETE, key, base)

    def wipe(self, prefix: str) -> None:
        """Delete every key under `prefix` (a directory; ``""`` for everything)."""
        _check_key(prefix)
        with self._lock:
            seq = self._next_seq()
        self._record(seq, 0, _WIPE, prefix.rstrip("/"), WHOLE)

    def _record(self, seq: int, offset: int, length: int, key: str, base: VersionToken) -> None:
        line = f"{seq}\t{offset}\t{length}\t{base}\t{key}\n".encode()
        with self._lock:
            os.write(self._log, line)
            self._apply(key, seq, 0, offset, length, base)
            self.changed = True

    def _apply(
        self, key: str, seq: int, seg: int, offset: int, length: int, base: VersionToken
    ) -> None:
        if length == _WIPE:
            self._wipes.append((key, seq))
            return
        chunk = split_chunk_key(key)
        if chunk is None or chunk[1] >= _TABLE_LIMIT:
            old = self._entries.get(key)
            if old is not None and self._forks(key, old[0], old[1], seq, base):
                self._forked.add(key)
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
        old_seq = int(table.seq[index])
        if old_seq and self._forks(key, old_seq, int(table.seg[index]), seq, base):
            table.forked[index] = True
        if old_seq < seq:
            table.seq[index], table.seg[index] = seq, seg
            table.offset[index], table.length[index] = offset, length

    def _forks(self, key: str, old_seq: int, old_seg: int, seq: int, base: VersionToken) -> bool:
        """Whether a change `seq` made from `base` leaves the versions of `key` (the latest
        so far `old_seq` of segment `old_seg`) other than one line of descent."""
        if is_document(key):
            return False
        if seq <= old_seq:  # arrives after a later version: neither saw the other
            return True
        if base == WHOLE or _wiped_after(self._wipes, key, old_seq):
            return False
        return base != f"{self._names[old_seg]}:{old_seq}"

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

    def _latest_seq(self, key: str) -> int:
        entry = self._entry(key)
        return 0 if entry is None else entry[0]

    def lookup(
        self, key: str, *, refresh: bool = True
    ) -> tuple[int, int, int] | Literal["deleted"] | None:
        """``(segment, offset, length)`` of `key`, `DELETED`, or ``None`` if never written.

        A shared spool missing `key` reads the other writers' logs first, unless
        `refresh` is false (the caller has just refreshed, or wants no more changes).
        """
        return self.find(key, refresh=refresh)[0]

    def find(
        self, key: str, *, refresh: bool = True
    ) -> tuple[tuple[int, int, int] | Literal["deleted"] | None, VersionToken]:
        """`lookup`, and the version found (`UNDER` when the spool has none that counts)."""
        found = self._find(key)
        if found[0] is None and refresh and self.shared:
            self.refresh()
            found = self._find(key)
        return found

    def _find(
        self, key: str
    ) -> tuple[tuple[int, int, int] | Literal["deleted"] | None, VersionToken]:
        with self._lock:
            entry = self._entry(key)
            if _wiped_after(self._wipes, key, 0 if entry is None else entry[0]):
                return DELETED, UNDER
            if entry is None:
                return None, UNDER
            token = f"{self._names[entry[1]]}:{entry[0]}"
            return (DELETED if entry[3] < 0 else (entry[1], entry[2], entry[3])), token

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

    # --- versions --------------------------------------------------------------------

    def forked_keys(self) -> list[str]:
        """The keys whose versions are not one line of descent (to be merged)."""
        with self._lock:
            keys = list(self._forked)
            for prefix, table in self._tables.items():
                keys.extend(f"{prefix}/c/{i}" for i in np.flatnonzero(table.forked).tolist())
        return keys

    def wiped_at(self, key: str) -> int:
        """The sequence of the latest wipe that deleted `key`, or 0."""
        with self._lock:
            return max((s for p, s in self._wipes if not p or key.startswith(p + "/")), default=0)

    def history(self, keys: Collection[str]) -> dict[str, list[Version]]:
        """Every change of `keys` that the writers have logged, oldest first, read from
        the logs on disk (memory holds only the latest versions)."""
        wanted = set(keys)
        out: dict[str, list[Version]] = {key: [] for key in wanted}
        for path in sorted(self.directory.glob("*.log")):
            seg = self._segment(path.stem)
            with open(path, "rb") as fh:
                for raw in fh:
                    if not raw.endswith(b"\n"):  # a line being written
                        break
                    seq, offset, length, base, key = raw[:-1].decode().split("\t", 4)
                    if key in wanted:
                        version = Version(int(seq), path.stem, seg, int(offset), int(length), base)
                        out[key].append(version)
        for versions in out.values():
            versions.sort()
        return out

    # --- other writers ---------------------------------------------------------------

    def _segment(self, name: str) -> int:
        """The number of writer `name`'s segment, opening it on first use."""
        with self._lock:
            seg = self._segments.get(name)
            if seg is None:
                seg = self._segments[name] = len(self._fds)
                self._fds.append(os.open(self.directory / f"{name}.seg", os.O_RDONLY))
                self._names.append(name)
            return seg

    def refresh(self) -> None:
        """Read what other writers (other processes) logged since the last refresh."""
        logs = sorted(p for p in self.directory.glob("*.log") if p.stem != self.name)
        for path in logs:
            seg = self._segment(path.stem)
            with self._lock:
                position = self._log_positions.get(path.stem, 0)
            with open(path, "rb") as fh:
                fh.seek(position)
                data = fh.read()
            end = data.rfind(b"\n") + 1  # a line being written is read next time
            with self._lock:
                for line in data[:end].decode().splitlines():
                    seq, offset, length, base, key = line.split("\t", 4)
                    self._apply(key, int(seq), seg, int(offset), int(length), base)
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
