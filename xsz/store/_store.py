"""`SZStore`: one SZ store as a zarr v3 hierarchy, read-only or being written.

Reading, the keys come from `SZView`: documents made from the index, frames
read from ``dat`` with one ``os.pread`` each. Writing, what zarr sets goes to
a `Spool` on disk, over the view of the store already at the path if there is
one, and `SZStore.close` lays the hierarchy out as a new SZ store
(`xsz.store._commit`). The async half of the zarr Store API runs the
synchronous half in worker threads (`ThreadedStore`).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr
from zarr.core.buffer import cpu, default_buffer_prototype

from xsz.codec import TracedBuffer, apply_zarr_settings
from xsz.errors import StoreExistsError, SZFormatError, TruncatedStoreError, UsageError
from xsz.format import Staging, SZReader, check_replaceable, parse_header
from xsz.source import is_url
from xsz.store._arrays import Frame, hierarchy
from xsz.store._commit import write_hierarchy
from xsz.store._lineage import Lineage
from xsz.store._merge import merge_versions
from xsz.store._spool import DELETED, UNDER, Spool
from xsz.store._threaded import ThreadedStore, span
from xsz.store._view import SZView, name_unreadable_keys

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping, Sequence

    import numpy.typing as npt
    from zarr.abc.store import ByteRequest
    from zarr.core.buffer import Buffer, BufferPrototype

    from xsz.format import Schema
    from xsz.store._spool import VersionToken
    from xsz.store._view import Origin

__all__ = ["SZStore"]


def _holds_sz_store(path: Path) -> bool:
    """Whether `path` holds an SZ store for a writer to overlay; refuse anything else there."""
    try:
        check_replaceable(path, overwrite=True)
    except StoreExistsError as exc:
        raise StoreExistsError(f"cannot write an SZ store at {path}: {exc}") from exc
    return (path / "index").is_file()


class SZStore(ThreadedStore):
    """An SZ store (pysz 0.4.0's ``index`` + ``dat``) as a zarr v3 hierarchy.

    Parameters
    ----------
    path
        The SZ store, a directory; to view one, also its URL in object storage
        (``s3://``, ``gs://``, ``az://``, ``http(s)://``, ``file://``).
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
    Creating an SZStore applies the zarr settings of `xsz.store` (rectilinear
    chunk grids on; xsz's codec pipeline, zarr's fused one with bulk reads of
    svb-zstd chunks, `xsz.codec.SZCodecPipeline`). The store pickles by path
    and reopens its files; a copy of a writing store, in any process, writes
    into the same spool, and only the original commits. zarr rewrites a chunk
    whole to change part of it; the spool keeps each version and what it was
    read from (`xsz.store._lineage`), and `close` merges a chunk that
    writers of different reads rewrote at once (`xsz.store._merge`).

    Examples
    --------
    >>> import numpy as np, tempfile, os, zarr
    >>> from xsz.format import Schema, SZWriter
    >>> path = os.path.join(tempfile.mkdtemp(), "reads.sz")
    >>> with SZWriter(path, Schema.build([("ID", str)], [("Raw", np.int16)])) as w:
    ...     w.put("read_0", np.array([510, 498, 503], dtype=np.int16))
    >>> group = zarr.open_group(SZStore(path), mode="r")
    >>> group["read"][:].tolist(), group["Raw"][:].tolist(), group["Raw_count"][:].tolist()
    (['read_0'], [510, 498, 503], [3])
    """

    supports_listing = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        read_only: bool = True,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._staging: Staging | None = None
        self._storage_options = dict(storage_options or {})
        if is_url(path):
            if not read_only:
                raise UsageError(
                    f"SZStore writes to local paths only; {path} is a URL (write here, "
                    "then xsz.source.upload_store)"
                )
            self._setup(str(path), read_only, True, None, owner=True)
            return
        path = Path(path)
        has_base = read_only or _holds_sz_store(path)
        if read_only:
            self._setup(path, read_only, has_base, None, owner=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # the spool: a locked staging sibling, so stale_siblings tells it from a killed one's
        self._staging = Staging(path, "spool")
        try:
            self._setup(path, read_only, has_base, self._staging.path, owner=True)
        except BaseException:
            self._staging.discard()
            raise

    def _setup(
        self, path: Path | str, read_only: bool, has_base: bool, spool: Path | None, *, owner: bool
    ) -> None:
        """The state of a store, new (the `owner` has made the spool) or unpickled."""
        ThreadedStore.__init__(self, read_only=read_only)
        apply_zarr_settings()
        self.path = path
        self._lock = threading.RLock()
        self._reader: SZReader | None = None
        self._view: SZView | None = None
        self._spool: Spool | None = None
        self._lineage = Lineage()
        self._owner = self._finished = self._committing = False
        self._has_base = has_base
        if has_base:
            self._open_reader()
        if spool is not None:
            self._spool = Spool(spool, create=owner)
            self._owner = owner

    def _open_reader(self) -> None:
        try:
            self._reader = SZReader(self.path, self._storage_options)
        except TruncatedStoreError as exc:
            if isinstance(self.path, str):  # a URL
                raise
            raise name_unreadable_keys(self.path, exc) from exc
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
        return f"SZStore({str(self.path)!r}, mode={'r' if self.read_only else 'w'!r})"

    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            if self._spool is not None:
                if self._finished:
                    raise UsageError(f"{self!r} is closed; its copies would have no spool")
                self._spool.shared = True  # copies write into it: read their logs
            return {
                "path": self.path,
                "storage_options": self._storage_options,
                "read_only": self.read_only,
                "spool": None if self._spool is None else self._spool.directory,
                "has_base": self._has_base,
            }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._staging = None  # the original holds the spool's lock
        self._storage_options = state.get("storage_options", {})
        self._setup(
            state["path"], state["read_only"], state["has_base"], state["spool"], owner=False
        )

    def create_hierarchy(
        self,
        schema: Schema,
        *,
        n_reads: int,
        counts: Mapping[str, object] | None = None,
        header: object = None,
    ) -> None:
        """Write the zarr hierarchy of an SZ store with `schema` into this writing store.

        The arrays are those of `xsz.mapping.layout`, with the documents the read
        view has: a ragged dataset gets one chunk per read with samples, so every
        chunk zarr writes into it is an SZ frame that `close` copies as it is;
        a text dataset one chunk (one ``bytes`` value) per read. The count arrays
        are written too. Write the other values with zarr afterwards, in any
        order, from any thread or pickled copy: writers of different reads
        that share a chunk are merged at `close`, and different values
        written for one read are refused there (`xsz.store._merge`).

        Parameters
        ----------
        schema
            The attributes and datasets (`xsz.format.Schema`).
        n_reads
            The number of reads.
        counts
            The samples of each read, for every dataset that holds samples.
        header
            The SZ header; pysz's ``{"version": "0.4.0"}`` when ``None``.

        Examples
        --------
        >>> import numpy as np, tempfile, os, zarr
        >>> from xsz.format import Schema, SZReader
        >>> path = os.path.join(tempfile.mkdtemp(), "reads.sz")
        >>> schema = Schema.build([("ID", str)], [("Raw", np.int16)])
        >>> with SZStore(path, read_only=False) as store:
        ...     store.create_hierarchy(schema, n_reads=2, counts={"Raw": [3, 2]})
        ...     group = zarr.open_group(store, mode="r+")
        ...     group["read"][:] = np.array(["r0", "r1"])
        ...     group["Raw"][:] = np.array([5, 6, 7, 8, 9], dtype=np.int16)
        >>> [x.tolist() for x in SZReader(path).dataset("Raw")]
        [[5, 6, 7], [8, 9]]
        """
        keys = hierarchy(schema, parse_header(header), n_reads, counts or {})
        spool = self._writable_spool()
        for key, value in keys.items():
            spool.set(key, value)

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
        # The view consolidates its documents into the root one (one read opens the
        # group); a writer has no use for consolidation, which SZ cannot hold.
        return self._spool is None

    # --- life cycle ------------------------------------------------------------------

    def _acquire_sync(self) -> None:
        # docstring inherited
        with self._lock:
            if self._finished:
                raise UsageError(f"{self!r} was closed: its hierarchy is committed or discarded")
            if self._has_base and self._reader is None:
                self._open_reader()
            if self._spool is not None and self._spool.closed and not self._owner:
                self._spool = Spool(self._spool.directory, create=False)  # a copy used again

    def close(self) -> None:
        """Release the files; a writing store first commits its hierarchy as SZ.

        Raises an `xsz.errors.XszError` when the written hierarchy cannot be an
        SZ store; the path is then left as it was. Closing twice is a no-op.
        """
        with self._lock:
            committing = self._owner and not self._finished and not self._committing
            self._committing = committing
        try:
            if committing and self._spool is not None:
                if self._spool.shared:
                    self._spool.refresh()
                if self._spool.changed:  # zarr reads the hierarchy from other threads: no lock
                    self._ensure_open_sync()
                    self._commit()
        finally:
            with self._lock:
                if committing:
                    self._finished = True
                    self._discard_spool()
                elif self._spool is not None and not self._owner:
                    self._spool.close()
                self._release_reader()
                super().close()

    def _commit(self) -> None:
        """Write the hierarchy zarr wrote here as an SZ store at this store's path.

        Chunks that concurrent writers rewrote are merged first (`merge_versions`).
        Raises `SchemaError` for a hierarchy that cannot be an SZ store and
        `RecordError` for a value that cannot be stored, or that concurrent writers
        gave different values; the path is then untouched.
        """
        assert self._spool is not None  # a writing store
        group = zarr.open_group(self, mode="r+", use_consolidated=False)
        merge_versions(
            self._spool,
            group,
            where=str(self.path),
            value=self._value_bytes,
            underlying=self._underlying,
        )
        write_hierarchy(
            group,
            Path(self.path),  # a writing store is local
            fetch=lambda keys: [self._value_bytes(key) for key in keys],
            where=str(self.path),
            created=self._created,
            overwrite=True,
        )

    def discard(self) -> None:
        """Drop everything written to a writing store; its path stays as it was."""
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
        if self._staging is not None:  # the owner's: the spool's directory
            self._staging.discard()

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

    # --- the synchronous surface -----------------------------------------------------

    def _locate(self, key: str) -> tuple[bytes | Frame | tuple[int, int, int] | None, VersionToken]:
        """What holds `key` (bytes at hand, a frame in dat, a spool location, or nothing),
        and which version of it that is."""
        self._ensure_open_sync()
        if self._spool is not None:
            # committing, the spool was refreshed once (close): no other writer's changes count
            found, version = self._spool.find(key, refresh=not self._committing)
            if found is not None:
                return (None if found == DELETED else found), version
        return (None if self._view is None else self._view.resolve(key)), UNDER

    def _value(self, key: str) -> bytes | Frame | tuple[int, int, int] | None:
        """What holds `key`: bytes at hand, a frame in dat, a spool location, or nothing."""
        return self._locate(key)[0]

    def _fetch(
        self, key: str, byte_range: ByteRequest | None, *, on_loop: bool | None = None
    ) -> tuple[bytes, Origin | None] | None:
        """The bytes of `key`; a read by zarr (`on_loop` says through which API) is noted
        as the base of the next write of `key` (`Lineage`)."""
        value, version = self._locate(key)
        if on_loop is not None and self._spool is not None:
            if on_loop:
                self._lineage.read_on_loop(key, version)
            else:
                self._lineage.read_in_thread(key, version)
        if value is None:
            return None
        if isinstance(value, bytes):
            start, stop = span(len(value), byte_range)
            return value[start:stop], None
        if isinstance(value, Frame):
            assert self._view is not None  # frames come from the view
            return self._view.read(value, *span(value.size, byte_range))
        assert self._spool is not None  # spool locations come from the spool
        return self._spool.read(value, *span(value[2], byte_range)), None

    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """`get` without an event loop (zarr's ``SupportsGetSync``)."""
        return self._get(key, prototype, byte_range, on_loop=False)

    def get_blocks_sync(self, keys: Sequence[str]) -> tuple[list[bytes], npt.NDArray[np.int64]]:
        """The whole values of many `keys` at once, for a reader that takes them in
        bulk (xsz's codec pipeline, `xsz.codec.SZCodecPipeline`).

        Returns ``(blocks, table)``: the value of ``keys[i]`` is
        ``blocks[b][start:start + size]`` for ``b, start, size = table[i]``, and
        ``b == -1`` where there is none. In a read-only store the frames in
        ``dat`` are fetched with coalesced preads (`SZReader.fetch_blocks`) and
        handed over unchecked: the caller decodes them, and a frame that does not
        decode must be read again with `get_sync`, whose checks name it. A
        writing store reads key by key, as `get_sync` does.
        """
        self._ensure_open_sync()
        n = len(keys)
        table = np.zeros((n, 3), dtype=np.int64)
        table[:, 0] = -1
        blocks: list[bytes] = []
        view = self._view
        if self._spool is not None or view is None:
            for i, key in enumerate(keys):
                one = self._fetch(key, None, on_loop=False)
                if one is not None:
                    table[i] = len(blocks), 0, len(one[0])
                    blocks.append(one[0])
            return blocks, table
        wanted: dict[str, tuple[list[int], list[int]]] = {}
        for i, key in enumerate(keys):
            name, sep, index = key.rpartition("/c/")
            array = view.array(name) if sep and index.isascii() and index.isdigit() else None
            if array is not None and array.rows is not None and str(int(index)) == index:
                rows_at, chunks_at = wanted.setdefault(name, ([], []))
                rows_at.append(i)
                chunks_at.append(int(index))
                continue
            value = view.resolve(key)  # a document or an index chunk, or nothing
            if isinstance(value, bytes):
                table[i] = len(blocks), 0, len(value)
                blocks.append(value)
            elif value is not None:  # (a frame of an odd key: read alone)
                table[i] = len(blocks), 0, value.size
                blocks.append(view.read(value, 0, value.size)[0])
        for name, (where_list, chunk_list) in wanted.items():
            frames = view.array(name)
            assert frames is not None and frames.rows is not None  # a frame array, as above
            chunks = np.asarray(chunk_list, np.int64)
            inside = chunks < len(frames.rows)
            where, rows = np.asarray(where_list, np.int64)[inside], frames.rows[chunks[inside]]
            starts, sizes = frames.offsets[rows], frames.sizes[rows]
            fetched, order = self._reader_or_closed().fetch_blocks(starts, starts + sizes)
            first = 0
            for data, block_starts, block_sizes in fetched:
                members = where[order[first : first + len(block_starts)]]
                first += len(block_starts)
                table[members, 0] = len(blocks)
                table[members, 1] = block_starts
                table[members, 2] = block_sizes
                blocks.append(data)
        return blocks, table

    def _reader_or_closed(self) -> SZReader:
        if self._reader is None:
            raise SZFormatError(f"{self!r} has no open reader")
        return self._reader

    def _get_on_loop(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None
    ) -> Buffer | None:
        # docstring inherited
        return self._get(key, prototype, byte_range, on_loop=True)

    def _get(
        self,
        key: str,
        prototype: BufferPrototype | None,
        byte_range: ByteRequest | None,
        *,
        on_loop: bool,
    ) -> Buffer | None:
        found = self._fetch(key, byte_range, on_loop=on_loop)
        if found is None:
            return None
        data, origin = found
        buffer_class = (prototype or default_buffer_prototype()).buffer
        if origin is None or buffer_class is not cpu.Buffer:
            return buffer_class.from_bytes(data)
        traced = TracedBuffer(np.frombuffer(data, dtype="B"))
        traced.origin = origin
        return traced

    def _underlying(self, key: str) -> bytes | None:
        """The bytes of `key` in the store under the spool (``None``: none, or deleted)."""
        if self._view is None or (self._spool is not None and self._spool.wiped_at(key)):
            return None
        value = self._view.resolve(key)
        if value is None or isinstance(value, bytes):
            return value
        return self._view.read(value, 0, value.size)[0]

    def _created(self, name: str) -> int:
        """Creation rank of the array `name`: arrays of the store underneath first (-1),
        then those written here, in the order their documents were first written."""
        created = None if self._spool is None else self._spool.created(f"{name}/zarr.json")
        return -1 if created is None else created

    def _value_bytes(self, key: str) -> bytes | None:
        """The whole value of `key` as bytes, or ``None``."""
        found = self._fetch(key, None)
        return None if found is None else found[0]

    def set_sync(self, key: str, value: Buffer) -> None:
        """`set` without an event loop (zarr's ``SupportsSetSync``)."""
        spool = self._writable_spool()
        spool.set(key, value.as_buffer_like(), base=self._lineage.write_in_thread(key))

    def delete_sync(self, key: str) -> None:
        """`delete` without an event loop (zarr's ``SupportsDeleteSync``)."""
        self._writable_spool().delete(key, base=self._lineage.write_in_thread(key))

    def _set_on_loop(self, key: str, value: Buffer) -> None:
        # docstring inherited
        spool = self._writable_spool()
        spool.set(key, value.as_buffer_like(), base=self._lineage.write_on_loop(key))

    def _delete_on_loop(self, key: str) -> None:
        # docstring inherited
        self._writable_spool().delete(key, base=self._lineage.write_on_loop(key))

    def _writable_spool(self) -> Spool:
        self._check_writable()
        if self._committing:
            raise UsageError(f"{self!r} is being closed: no more writes")
        self._ensure_open_sync()
        assert self._spool is not None  # a writable store has its spool
        return self._spool

    def _ready(self, key: str) -> bytes | None:
        # docstring inherited
        return None if self._spool is not None or self._view is None else self._view.ready(key)

    def _size_sync(self, key: str) -> int | None:
        # docstring inherited
        value = self._value(key)
        if value is None or isinstance(value, bytes):
            return None if value is None else len(value)
        return value.size if isinstance(value, Frame) else value[2]

    def _set_if_absent_sync(self, key: str, value: Buffer) -> None:
        # docstring inherited
        with self._lock:
            if self._value(key) is None:
                self.set_sync(key, value)

    def _delete_dir_sync(self, prefix: str) -> None:
        # docstring inherited
        self._writable_spool().wipe(prefix)

    def _keys_sync(self, prefix: str = "") -> list[str]:
        # docstring inherited; the spool's keys (refreshed), then the view's the spool leaves
        self._ensure_open_sync()
        spool = self._spool
        keys = [] if spool is None else [k for k in spool.live_keys() if k.startswith(prefix)]
        if self._view is not None:
            seen = set(keys)
            keys.extend(
                key
                for key in self._view.keys_under(prefix)
                if key not in seen
                and (spool is None or spool.lookup(key, refresh=False) != DELETED)
            )
        return keys

    def _children_sync(self, prefix: str) -> list[str]:
        # docstring inherited
        self._ensure_open_sync()
        if self._spool is None and self._view is not None:
            return self._view.children(prefix)  # without listing every chunk
        base = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
        seen: dict[str, None] = {}
        for key in self._keys_sync(base):
            seen.setdefault(key[len(base) :].split("/", 1)[0])
        return list(seen)
