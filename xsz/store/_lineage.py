"""`Lineage`: which version of a key each write into a writing SZStore was made from.

zarr writes part of a chunk by reading the chunk, changing some values and
writing it whole (a read-modify-write). The version it read is the base of
the version it writes; `xsz.store._merge` needs it to tell the values a writer
changed from those it merely carried over. zarr never says which read a write
belongs to, so the store works it out from the order of its calls:

- zarr's fused codec pipeline (xsz's default, `xsz.codec.apply_zarr_settings`) makes both
  calls of a read-modify-write in one thread, one after the other, through the
  synchronous API (``get_sync``, then ``set_sync`` or ``delete_sync``). A
  write's base is the version the same thread read last, if that was the
  same key; otherwise the write read nothing and is whole (`WHOLE`).
- zarr's asynchronous pipelines make the two calls in different tasks, on
  threads any task may use. Per key, the store counts the reads not yet
  followed by a write: a write with none outstanding is whole; a write after
  reads that all found one version is made from it; after reads that found
  different versions, which one is `UNKNOWN`, until every outstanding read
  has had its write.
"""

from __future__ import annotations

import threading
from typing import Final

from xsz.store._spool import UNKNOWN, WHOLE, VersionToken, is_document

__all__ = ["Lineage"]

_MAX_OUTSTANDING: Final = 1 << 16
"""Keys whose asynchronous reads are counted; past it, an uncounted key's writes are
`UNKNOWN` rather than whole, since a read of it may have gone uncounted."""


class Lineage:
    """The bases of the writes made through one store object (thread-safe)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._outstanding: dict[str, tuple[int, VersionToken]] = {}
        self._overflowed = False

    def read_in_thread(self, key: str, found: VersionToken) -> None:
        """This thread read `key` through the synchronous API and found version `found`."""
        self._local.last = (key, found)

    def write_in_thread(self, key: str) -> VersionToken:
        """The base of this thread's synchronous write of `key`."""
        last = getattr(self._local, "last", None)
        self._local.last = None
        return last[1] if last is not None and last[0] == key else WHOLE

    def read_on_loop(self, key: str, found: VersionToken) -> None:
        """A task read `key` through the asynchronous API and found version `found`."""
        if is_document(key):
            return
        with self._lock:
            count, token = self._outstanding.get(key, (0, found))
            if not count and len(self._outstanding) >= _MAX_OUTSTANDING:
                self._overflowed = True
                return
            self._outstanding[key] = (count + 1, token if token == found else UNKNOWN)

    def write_on_loop(self, key: str) -> VersionToken:
        """The base of a task's asynchronous write of `key`."""
        if is_document(key):
            return WHOLE
        with self._lock:
            count, token = self._outstanding.pop(key, (0, WHOLE))
            if not count:
                return UNKNOWN if self._overflowed else WHOLE
            if count > 1:
                self._outstanding[key] = (count - 1, token)
            return token
