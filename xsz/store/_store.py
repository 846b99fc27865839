"""`SZStore`: one SZ store as a zarr v3 hierarchy, read-only or being written.

Reading, the keys come from `SZView` (documents made from the index, frames
read from ``dat`` with one ``os.pread`` each). Writing, what zarr sets goes to
a `Spool` on disk, over the view of the store already at the path if there is
one, and `SZStore.close` lays the hierarchy out as a new SZ store
(`xsz.store._commit`). Blocking work runs in worker threads, never on zarr's
event loop; the synchronous ``*_sync`` methods let zarr's fused codec pipeline
read and write without an event loop at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import uuid
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zstandard
from zarr.abc.store import OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.core.buffer import Buffer, cpu, default_buffer_prototype

from xsz.codec._zarr import ORIGIN_ATTR
from xsz.errors import StoreExistsError, SZFormatError, UsageError
from xsz.format import SZReader, check_replaceable, check_store
from xsz.store._config import apply_zarr_settings
from xsz.store._spool import DELETED, Spool
from xsz.store._view import Frame, SZView

if TYPE_CHECKING:
    import os
    from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence

    from zarr.abc.store import ByteRequest
    from zarr.core.buffer import BufferPrototype

__all__ = ["SZStore"]

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class _TracedBuffer(cpu.Buffer):
    """A CPU buffer that knows which read and frame its bytes are (for decode errors)."""

    xsz_origin: _Origin | None = None  # the codec reads it as ORIGIN_ATTR


class _Origin:
    """Where a frame comes from, formatted only when an error needs it."""

    __slots__ = ("frame", "store")

    def __init__(self, store: SZStore, frame: Frame) -> None:
        self.store = store
        self.frame = frame

    def __str__(self) -> str:
        frame, reader = self.frame, self.store._reader
        read_id = "?" if reader is None else repr(reader.index.ids()[frame.row])
        return (
            f"{self.store.path}: zarr key {frame.key!r} is read {read_id} (row {frame.row}), "
            f"dataset {frame.name!r}, dat[{frame.offset}:{frame.offset + frame.size}]"
        )


def _span(size: int, byte_range: ByteRequest | None) -> tuple[int, int]:
    """``(start, stop)`` of `byte_range` within a value of `size` bytes."""
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


class SZStore(Store):
    """An SZ store (pysz 0.4.0's ``index`` + ``dat``) as a zarr v3 hierarchy.

    Parameters
    ----------
    path
        The SZ store, a directory.
    read_only
        ``True`` (default): view an existing store. ``False``: write one. On a
        new path zarr creates the hierarchy; on an existing SZ store the
        writes overlay its content. Either way `close` checks the hierarchy
        and commits it atomically as an SZ store at `path`, or raises and
        leaves `path` as it was.

    Raises
    ------
    SZFormatError
        Reading a path that is missing or holds no readable SZ store.
    StoreExistsError
        Writing to a path that exists and is not an SZ store.

    Notes
    -----
    Creating an SZStore turns on zarr's rectilinear chunk grids
    (``array.rectilinear_chunks``), which its ragged arrays use; see
    `xsz.store` for that and the other zarr settings. The store pickles by
    path (copies reopen the files); a copy of a writing store, in any process,
    writes into the same spool, and only the original commits.

    Examples
    --------
    >>> import zarr
    >>> group = zarr.open_group(SZStore("tests/data/tiny.sz"), mode="r")  # doctest: +SKIP
    """

    supports_listing = True

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = True) -> None:
        super().__init__(read_only=read_only)
        apply_zarr_settings()
        self.path = Path(path)
        self._lock = threading.RLock()
        self._reader: SZReader | None = None
        self._view: SZView | None = None
        self._spool: Spool | None = None
        self._owner = False
        self._finished = self._committing = False
        self._has_base = True
        if read_only:
            self._open_reader()
        else:
            self._has_base = self._check_writable_path()
            if self._has_base:
                self._open_reader()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            staging = self.path.parent / f".{self.path.name}.spool-{uuid.uuid4().hex[:8]}"
            self._spool = Spool(staging, create=True)
            self._owner = True

    def _check_writable_path(self) -> bool:
        """Whether `path` holds an SZ store to overlay; refuse anything else that exists."""
        try:
            check_replaceable(self.path, overwrite=True)
        except StoreExistsError as exc:
            raise StoreExistsError(f"cannot write an SZ store at {self.path}: {exc}") from exc
        return (self.path / "index").is_file()

    def _open_reader(self) -> None:
        try:
            self._reader = SZReader(self.path)
        except SZFormatError as exc:
            raise _name_truncated_keys(self.path, exc) from exc
        self._view = SZView(self._reader)

    # --- identity, pickling, modes ---------------------------------------------------

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SZStore)
            and self.path == other.path
            and self.read_only == other.read_only
        )

    def __hash__(self) -> int:
        return hash((self.path, self.read_only))

    def __repr__(self) -> str:
        mode = "r" if self.read_only else "w"
        return f"SZStore({str(self.path)!r}, mode={mode!r})"

    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            if self._spool is not None:
                if self._finished:
                    raise UsageError(f"{self!r} is closed; a closed writing store cannot be copied")
                self._spool.shared = True
            return {
                "path": self.path,
                "read_only": self.read_only,
                "spool": None if self._spool is None else self._spool.directory,
                "has_base": self._has_base,
            }

    def __setstate__(self, state: dict[str, Any]) -> None:
        Store.__init__(self, read_only=state["read_only"])
        apply_zarr_settings()
        self.path = state["path"]
        self._lock = threading.RLock()
        self._reader = self._view = self._spool = None
        self._owner = self._finished = self._committing = False
        self._has_base = state["has_base"]
        if self._has_base:
            self._open_reader()
        if state["spool"] is not None:
            self._spool = Spool(state["spool"], create=False)

    def with_read_only(self, read_only: bool = False) -> SZStore:
        """A new store on the same path.

        ``with_read_only(False)`` of a read-only store is a writer whose writes
        overlay this store and replace it, atomically, when it is closed.
        """
        return type(self)(self.path, read_only=read_only)

    @property
    def supports_writes(self) -> bool:
        return not self.read_only

    @property
    def supports_deletes(self) -> bool:
        return not self.read_only

    @property
    def supports_consolidated_metadata(self) -> bool:
        # the read view consolidates its own metadata; written metadata goes to SZ
        return False

    # --- life cycle ------------------------------------------------------------------

    async def _open(self) -> None:
        # docstring inherited
        if self._is_open:
            raise ValueError("store is already open")
        await asyncio.to_thread(self._acquire)
        await super()._open()

    async def _ensure_open(self) -> None:
        # docstring inherited
        if not self._is_open:
            await asyncio.to_thread(self._ensure_open_sync)

    def _ensure_open_sync(self) -> None:
        if not self._is_open:
            self._acquire()
            self._is_open = True

    def _acquire(self) -> None:
        """(Re)open the files a closed store released."""
        with self._lock:
            if self._finished:
                raise UsageError(f"{self!r} was closed: its hierarchy is committed or discarded")
            if self._has_base and self._reader is None:
                self._open_reader()

    def close(self) -> None:
        """Release the files; a writing store first commits its hierarchy as SZ.

        Raises an `xsz.errors.XszError` when the written hierarchy cannot be an
        SZ store; the path is then left as it was. Closing twice is a no-op.
        """
        from xsz.store._commit import commit

        with self._lock:
            committing = self._owner and not self._finished and not self._committing
            self._committing = committing
        try:
            if committing:  # without the lock: zarr reads the hierarchy from other threads
                spool = self._spool
                assert spool is not None
                if spool.shared:
                    spool.refresh()
                if spool.changed:
                    self._ensure_open_sync()
                    commit(self)
        finally:
            with self._lock:
                if committing:
                    self._finished = True
                    self._discard_spool()
                elif self._spool is not None and not self._owner:
                    self._spool.close()
                self._release_reader()
                super().close()

    def discard(self) -> None:
        """Drop everything written, leaving the path as it was (a writing store)."""
        with self._lock:
            if self._owner:
                self._finished = True
                self._discard_spool()
            self._release_reader()
            super().close()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()

    def _discard_spool(self) -> None:
        if self._spool is not None:
            self._spool.close()
            shutil.rmtree(self._spool.directory, ignore_errors=True)

    def _release_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __del__(self) -> None:
        if getattr(self, "_owner", False) and not getattr(self, "_finished", True):
            if self._spool is not None and self._spool.changed:
                warnings.warn(
                    f"{self!r} was never closed, so what was written to it is discarded; "
                    "close() it (or use it in a `with` block) to commit an SZ store",
                    ResourceWarning,
                    stacklevel=2,
                )
            with contextlib.suppress(Exception):
                self._discard_spool()

    # --- bytes, synchronously --------------------------------------------------------

    def _reader_for(self) -> SZReader:
        self._ensure_open_sync()
        assert self._reader is not None
        return self._reader

    def _value(self, key: str) -> bytes | Frame | tuple[int, int, int] | None:
        """Where the value of `key` is: bytes, a frame in dat, a spool location, or nowhere."""
        if not self._is_open:
            self._ensure_open_sync()
        if self._spool is not None:
            found = self._spool.lookup(key)
            if found == DELETED:
                return None
            if found is not None:
                return found
        if self._view is None:
            return None
        return self._view.resolve(key)

    def _fetch(
        self, key: str, byte_range: ByteRequest | None
    ) -> tuple[bytes, _Origin | None] | None:
        value = self._value(key)
        if value is None:
            return None
        if isinstance(value, bytes):
            start, stop = _span(len(value), byte_range)
            return value[start:stop], None
        if isinstance(value, Frame):
            return self._read_frame(value, byte_range)
        assert self._spool is not None
        start, stop = _span(value[2], byte_range)
        return self._spool.read(value, start, stop), None

    def _read_frame(self, frame: Frame, byte_range: ByteRequest | None) -> tuple[bytes, _Origin]:
        start, stop = _span(frame.size, byte_range)
        reader = self._reader_for()
        origin = _Origin(self, frame)
        try:
            data = reader.pread(stop - start, frame.offset + start)
        except (SZFormatError, OSError, ValueError) as exc:
            raise SZFormatError(f"{origin}: {exc}") from exc
        if byte_range is None:
            self._check_frame(origin, data)
        return data, origin

    def _check_frame(self, origin: _Origin, data: bytes) -> None:
        """Refuse bytes that cannot be the frame (a damaged index or dat), naming the read."""
        problem = None
        if data[:4] != _ZSTD_MAGIC:
            problem = f"not a zstd frame (starts {data[:8].hex()})"
        else:
            try:
                content = zstandard.frame_content_size(data)
            except zstandard.ZstdError as exc:
                problem = f"bad zstd frame header: {exc}"
            else:
                limit = origin.frame.limit
                if limit is not None and content > limit:
                    problem = f"the frame claims {content} bytes, more than its read's {limit}"
        if problem is not None:
            raise SZFormatError(f"{origin}: {problem}")

    def _buffer(self, prototype: BufferPrototype, found: tuple[bytes, _Origin | None]) -> Buffer:
        data, origin = found
        if origin is not None and prototype.buffer is cpu.Buffer:
            traced = _TracedBuffer(np.frombuffer(data, dtype="B"))
            setattr(traced, ORIGIN_ATTR, origin)
            return traced
        return prototype.buffer.from_bytes(data)

    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """`get` without an event loop (zarr's ``SupportsGetSync``)."""
        found = self._fetch(key, byte_range)
        if found is None:
            return None
        return self._buffer(prototype or default_buffer_prototype(), found)

    def value_bytes(self, key: str) -> bytes | None:
        """The whole value of `key` as bytes (no Buffer), or ``None``."""
        found = self._fetch(key, None)
        return None if found is None else found[0]

    def set_sync(self, key: str, value: Buffer) -> None:
        """`set` without an event loop (zarr's ``SupportsSetSync``)."""
        self._writable_spool().set(key, value.as_buffer_like())

    def delete_sync(self, key: str) -> None:
        """`delete` without an event loop (zarr's ``SupportsDeleteSync``)."""
        self._writable_spool().delete(key)

    def _writable_spool(self) -> Spool:
        self._check_writable()
        if self._committing:
            raise UsageError(f"{self!r} is being closed: no more writes")
        self._ensure_open_sync()
        assert self._spool is not None
        return self._spool

    def _keys(self, prefix: str = "") -> list[str]:
        """Every key starting with `prefix`: the spool's, then the view's it leaves."""
        self._ensure_open_sync()
        spool = self._spool
        keys = [] if spool is None else [k for k in spool.keys() if k.startswith(prefix)]
        if self._view is not None:
            seen = set(keys)
            for key in self._view.keys(prefix):
                if key not in seen and (spool is None or spool.lookup(key) != DELETED):
                    keys.append(key)
        return keys

    def _children(self, prefix: str) -> list[str]:
        if self._spool is None and self._view is not None:
            self._ensure_open_sync()
            return self._view.children(prefix)
        base = prefix.rstrip("/")
        base = base + "/" if base else ""
        seen: dict[str, None] = {}
        for key in self._keys(base):
            if key != base:
                seen.setdefault(key[len(base) :].split("/", 1)[0])
        return list(seen)

    # --- the async Store API ---------------------------------------------------------

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        # docstring inherited
        prototype = prototype or default_buffer_prototype()
        if self._spool is None and self._view is not None and self._is_open:
            ready = self._view.metadata_ready(key)  # built already: no I/O to wait for
            if ready is not None:
                return self._buffer(prototype, (ready[slice(*_span(len(ready), byte_range))], None))
        return await asyncio.to_thread(
            self.get_sync, key, prototype=prototype, byte_range=byte_range
        )

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        # docstring inherited; one thread hop for the whole batch
        batch = list(requests)

        def work() -> list[tuple[str, Buffer | None]]:
            return [(k, self.get_sync(k, prototype=p, byte_range=r)) for k, p, r in batch]

        for item in await asyncio.to_thread(work):
            yield item

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        # docstring inherited
        batch = list(key_ranges)
        return await asyncio.to_thread(
            lambda: [self.get_sync(k, prototype=prototype, byte_range=r) for k, r in batch]
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
        # docstring inherited; SZ values are single frames: one thread hop, one read each
        ranges = list(byte_ranges)
        results = await asyncio.to_thread(
            self.get_ranges_sync,
            key,
            ranges,
            prototype=prototype,
            max_gap_bytes=max_gap_bytes,
            max_coalesced_bytes=max_coalesced_bytes,
        )
        yield results

    async def exists(self, key: str) -> bool:
        # docstring inherited
        return await asyncio.to_thread(lambda: self._value(key) is not None)

    async def getsize(self, key: str) -> int:
        # docstring inherited
        def size() -> int:
            value = self._value(key)
            if value is None:
                raise FileNotFoundError(key)
            if isinstance(value, bytes):
                return len(value)
            return value.size if isinstance(value, Frame) else value[2]

        return await asyncio.to_thread(size)

    async def set(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self._check_writable()
        if not isinstance(value, Buffer):
            raise TypeError(f"SZStore.set: value must be a zarr Buffer, got {type(value).__name__}")
        await asyncio.to_thread(self.set_sync, key, value)

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        # docstring inherited
        self._check_writable()

        def work() -> None:
            with self._lock:
                if self._value(key) is None:
                    self.set_sync(key, value)

        await asyncio.to_thread(work)

    async def delete(self, key: str) -> None:
        # docstring inherited
        self._check_writable()
        await asyncio.to_thread(self.delete_sync, key)

    async def delete_dir(self, prefix: str) -> None:
        # docstring inherited
        self._check_writable()
        await asyncio.to_thread(lambda: self._writable_spool().wipe(prefix))

    async def clear(self) -> None:
        # docstring inherited
        await self.delete_dir("")

    async def list(self) -> AsyncIterator[str]:
        # docstring inherited
        for key in await asyncio.to_thread(self._keys):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        for key in await asyncio.to_thread(self._keys, prefix):
            yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        # docstring inherited
        for name in await asyncio.to_thread(self._children, prefix):
            yield name


def _name_truncated_keys(path: Path, exc: SZFormatError) -> SZFormatError:
    """Add the zarr keys of the first read whose bytes run past the end of ``dat``."""
    if "truncated" not in str(exc):
        return exc
    try:
        check_store(path)
        from xsz.format import read_index

        index = read_index(path / "index")
        size = (path / "dat").stat().st_size
    except (SZFormatError, OSError):
        return exc
    ends = index.offset + index.length
    bad = np.flatnonzero(ends > size)
    if not len(bad):
        return exc
    row = int(bad[0])
    keys = []
    for f in index.schema.datasets:
        if f.is_text:
            keys.append(f"{f.name}/c/{row}")
        elif f.has_count:
            counts = index.count[f.name]
            if counts[row]:
                keys.append(f"{f.name}/c/{int(np.count_nonzero(counts[:row]))}")
        else:
            keys.append(f"{f.name} (the chunk of row {row})")
    return SZFormatError(f"{exc}; zarr keys {', '.join(keys)} cannot be read")
