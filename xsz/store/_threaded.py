"""`ThreadedStore`: a zarr Store whose async methods run its synchronous ones in threads.

zarr calls a store's async methods on its event loop thread. Everything here
that may block (a read, a write, a listing) goes to a worker thread with
``asyncio.to_thread``, one hop per call or per batch, so the loop never waits
on the disk. Subclasses implement the synchronous surface: ``get_sync``,
``set_sync`` and ``delete_sync`` (zarr's ``SupportsSyncStore``, which its
fused codec pipeline uses without any event loop), plus the few methods below.
The async ``get``, ``set`` and ``delete`` go through ``_get_on_loop``,
``_set_on_loop`` and ``_delete_on_loop``, so a subclass can tell the two
kinds of caller apart.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from typing import TYPE_CHECKING

from zarr.abc.store import OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.core.buffer import Buffer, default_buffer_prototype

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence

    from zarr.abc.store import ByteRequest
    from zarr.core.buffer import BufferPrototype

__all__ = ["ThreadedStore", "span"]


def span(size: int, byte_range: ByteRequest | None) -> tuple[int, int]:
    """``(start, stop)`` of `byte_range` within a value of `size` bytes (clipped)."""
    if byte_range is None:
        return 0, size
    if isinstance(byte_range, RangeByteRequest):
        start, stop = byte_range.start, byte_range.end
    elif isinstance(byte_range, OffsetByteRequest):
        start, stop = byte_range.offset, size
    elif isinstance(byte_range, SuffixByteRequest):
        start, stop = size - byte_range.suffix, size
    else:
        raise TypeError(f"Unexpected byte_range, got {byte_range!r}")
    stop = min(max(stop, 0), size)
    return min(max(start, 0), stop), stop


class ThreadedStore(Store):
    """The async half of a store, over a synchronous, thread-safe half."""

    @abstractmethod
    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """The value of `key` (or part of it), or ``None`` if there is none."""

    @abstractmethod
    def set_sync(self, key: str, value: Buffer) -> None:
        """Store `value` under `key`."""

    @abstractmethod
    def delete_sync(self, key: str) -> None:
        """Delete `key`; no error if it does not exist."""

    @abstractmethod
    def _acquire_sync(self) -> None:
        """Open what a store not opened yet (or closed) needs; idempotent."""

    @abstractmethod
    def _size_sync(self, key: str) -> int | None:
        """The size of the value of `key`, or ``None`` if there is none."""

    @abstractmethod
    def _set_if_absent_sync(self, key: str, value: Buffer) -> None:
        """`set_sync` unless `key` exists, atomically for this process."""

    @abstractmethod
    def _delete_dir_sync(self, prefix: str) -> None:
        """Delete every key under the directory `prefix`."""

    @abstractmethod
    def _keys_sync(self, prefix: str = "") -> list[str]:
        """Every key starting with `prefix`."""

    @abstractmethod
    def _children_sync(self, prefix: str) -> list[str]:
        """The names one level below the directory `prefix`."""

    def _ready(self, key: str) -> bytes | None:
        """A value at hand without any I/O (say, a cached document), else ``None``."""
        return None

    def _get_on_loop(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None
    ) -> Buffer | None:
        """`get_sync` for a call that came through the async API (in a worker thread)."""
        return self.get_sync(key, prototype=prototype, byte_range=byte_range)

    def _set_on_loop(self, key: str, value: Buffer) -> None:
        """`set_sync` for a call that came through the async API (in a worker thread)."""
        self.set_sync(key, value)

    def _delete_on_loop(self, key: str) -> None:
        """`delete_sync` for a call that came through the async API (in a worker thread)."""
        self.delete_sync(key)

    # --- life cycle ------------------------------------------------------------------

    def _ensure_open_sync(self) -> None:
        """Open the store if it is not open yet (the sync twin of `_ensure_open`)."""
        if not self._is_open:
            self._acquire_sync()
            self._is_open = True

    async def _open(self) -> None:
        # docstring inherited
        if self._is_open:
            raise ValueError("store is already open")
        await asyncio.to_thread(self._acquire_sync)
        await super()._open()

    async def _ensure_open(self) -> None:
        # docstring inherited
        if not self._is_open:
            await asyncio.to_thread(self._ensure_open_sync)

    # --- reading ---------------------------------------------------------------------

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        # docstring inherited
        prototype = prototype or default_buffer_prototype()
        ready = self._ready(key) if self._is_open else None
        if ready is not None:  # no I/O to wait for: skip the thread hop
            start, stop = span(len(ready), byte_range)
            return prototype.buffer.from_bytes(ready[start:stop])
        return await asyncio.to_thread(self._get_on_loop, key, prototype, byte_range)

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        # docstring inherited; one thread hop for the whole batch
        batch = list(requests)

        def work() -> list[tuple[str, Buffer | None]]:
            return [(k, self._get_on_loop(k, p, r)) for k, p, r in batch]

        for item in await asyncio.to_thread(work):
            yield item

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        # docstring inherited; one thread hop for the whole batch
        batch = list(key_ranges)
        return await asyncio.to_thread(
            lambda: [self._get_on_loop(k, prototype, r) for k, r in batch]
        )

    async def get_ranges(
        self,
        key: str,
        byte_ranges: Sequence[ByteRequest | None],
        *,
        prototype: BufferPrototype,
        max_concurrency: int = 10,
        max_gap_bytes: int = 1 << 20,
        max_coalesced_bytes: int = 16 << 20,
    ) -> AsyncIterator[Sequence[tuple[int, Buffer | None]]]:
        # docstring inherited; the coalescing sync version, in one thread hop
        yield await asyncio.to_thread(
            self.get_ranges_sync,
            key,
            list(byte_ranges),
            prototype=prototype,
            max_gap_bytes=max_gap_bytes,
            max_coalesced_bytes=max_coalesced_bytes,
        )

    async def exists(self, key: str) -> bool:
        # docstring inherited
        return await asyncio.to_thread(lambda: self._size_sync(key) is not None)

    async def getsize(self, key: str) -> int:
        # docstring inherited
        size = await asyncio.to_thread(self._size_sync, key)
        if size is None:
            raise FileNotFoundError(key)
        return size

    # --- writing ---------------------------------------------------------------------

    async def set(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self._check_writable()
        if not isinstance(value, Buffer):
            raise TypeError(f"{type(self).__name__}.set: expected a zarr Buffer, got {value!r}")
        await asyncio.to_thread(self._set_on_loop, key, value)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self._check_writable()
        await asyncio.to_thread(self._set_if_absent_sync, key, value)

    async def delete(self, key: str) -> None:
        # docstring inherited
        self._check_writable()
        await asyncio.to_thread(self._delete_on_loop, key)

    async def delete_dir(self, prefix: str) -> None:
        # docstring inherited
        self._check_writable()
        await asyncio.to_thread(self._delete_dir_sync, prefix)

    async def clear(self) -> None:
        # docstring inherited
        await self.delete_dir("")

    # --- listing ---------------------------------------------------------------------

    async def list(self) -> AsyncIterator[str]:
        # docstring inherited
        for key in await asyncio.to_thread(self._keys_sync):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        for key in await asyncio.to_thread(self._keys_sync, prefix):
            yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        for name in await asyncio.to_thread(self._children_sync, prefix):
            yield name
