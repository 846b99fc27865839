"""`to_zarr` and `from_zarr`: SZ stores to Zarr stores and back.

Two layouts, both with the variables, dimensions and attributes of
`xsz.mapping.layout` (what ``xr.open_dataset(path, engine="sz")`` shows):

- ``"reads"``: SZStore's hierarchy copied key by key, every read's frame as
  its bytes (`xsz.convert._zarr_reads`). Nothing is re-encoded; each frame is
  checked against its CRC-32 in the store's ``checksums`` file, or decoded
  where the store has none (pysz's), so damage is refused, never copied.
- ``"regular"``: regular chunks re-encoded with svb-zstd or a standard codec
  (`xsz.convert._zarr_regular`); with a standard codec any zarr v3 reader
  reads it, without xsz.

Either goes to a directory (zarr's ``LocalStore`` layout), a ``.zip`` file
(one file however many reads; zarr's ``ZipStore`` reads it), or any zarr store
object. Paths are written aside and renamed into place at the end
(`xsz.convert._dest`). `from_zarr` writes any SZ-shaped Zarr hierarchy back as
an SZ store: chunks that are SZ frames are copied, others decoded a block of
reads at a time (`xsz.store._commit.write_hierarchy`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zarr
from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore, ZipStore

from xsz._progress import progress_hook
from xsz.codec import CODEC_ID, apply_zarr_settings
from xsz.convert._dest import path_size, remove_path, staged
from xsz.convert._detect import detect_format
from xsz.convert._options import LAYOUTS, Layout
from xsz.convert._sinks import DirectorySink, Sink, StoreSink, ZipSink, directory_items
from xsz.convert._zarr_reads import copy_reads
from xsz.convert._zarr_regular import parse_codec, write_regular
from xsz.errors import SourceError, StoreExistsError, SZFormatError, UsageError
from xsz.format import SZReader, check_replaceable
from xsz.source import is_url, local_path, store_at, store_keys
from xsz.store import ZARR_JSON, write_hierarchy

if TYPE_CHECKING:
    import os
    from collections.abc import Buffer, Callable, Iterator, Mapping, Sequence

    from zarr.abc.codec import BytesBytesCodec

__all__ = ["ZarrSummary", "from_zarr", "to_zarr"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ZarrSummary:
    """What `to_zarr` or `from_zarr` did."""

    source: str
    destination: str
    n_reads: int
    nbytes: int
    """Bytes of the keys written (frames, chunks and metadata; -1 for a store object
    written in the regular layout)."""
    seconds: float


def to_zarr(
    sz_path: str | os.PathLike[str],
    zarr_path_or_store: str | os.PathLike[str] | Store,
    *,
    layout: Layout = "reads",
    codec: str | BytesBytesCodec = CODEC_ID,
    chunk_samples: int | None = None,
    overwrite: bool = False,
    n_threads: int = 2,
    progress: bool | Callable[[int, int | None], object] = False,
    storage_options: Mapping[str, Any] | None = None,
) -> ZarrSummary:
    """Write an SZ store as a Zarr (v3) store.

    Parameters
    ----------
    sz_path
        The SZ store.
    zarr_path_or_store
        A path: a ``.zip`` file, else a directory. An object storage URL
        (``s3://bucket/run.zarr``): written through zarr's own
        ``zarr.storage.ObjectStore`` over obstore, the root ``zarr.json`` last
        (a prefix without it is no Zarr group; replacing one deletes its root
        ``zarr.json`` first, then its other keys). Or a zarr store object
        (written in place, so no atomic rename: it must be empty unless
        `overwrite`, which clears it; each key is set once, so a ``ZipStore``
        works too; the regular layout is first written to a temporary
        directory).
    layout
        ``"reads"`` (default): one chunk per read, the SZ frames copied as bytes;
        fast, and it reads back with the svb-zstd codec of xsz. ``"regular"``:
        regular chunks, decoded and re-encoded with `codec`.
    codec
        For ``"regular"``: ``"svb-zstd"`` (default; readers need xsz),
        ``"zstd"``, ``"blosc"``, ``"gzip"``, ``"none"`` or a zarr bytes-to-bytes
        codec object: then every array uses standard zarr codecs and data
        types, readable by any zarr v3 implementation without xsz. ``F128``
        fields become float64 then (see `xsz.convert._zarr_regular`).
    chunk_samples
        For ``"regular"``: samples per chunk of the ragged arrays (default: a
        power of two about four times the median read, see `sample_chunk`).
    overwrite
        Replace an existing Zarr store at the path (only once the new one is
        complete); anything else at the path is never replaced.
    n_threads
        Threads decoding reads (``"regular"``).
    progress
        ``True`` for a tqdm bar; a callable gets ``(reads_done, n_reads)``.
    storage_options
        For a URL destination: settings of ``obstore.store.from_url`` (by default
        from the environment, ``AWS_ENDPOINT_URL`` ...).

    Returns
    -------
    ZarrSummary

    Raises
    ------
    SZFormatError
        `sz_path` is not a readable SZ store, or a frame is damaged (named).
    StoreExistsError
        The destination exists and `overwrite` is false, or is not a Zarr store.
    UsageError
        An unknown layout or codec, or a codec other than svb-zstd with ``"reads"``.

    Notes
    -----
    Like `xsz.SZStore`, this applies xsz's zarr settings to the process
    (`xsz.codec.apply_zarr_settings`: rectilinear chunk grids on, xsz's codec
    pipeline). Reading the ``"reads"`` layout needs the first in the reading
    process too: ``zarr.config.set({"array.rectilinear_chunks": True})``, the
    environment variable ``ZARR_ARRAY__RECTILINEAR_CHUNKS=True``, or any
    `xsz.SZStore` or `to_zarr` call there. A ``.zip`` result opens with
    ``xr.open_zarr(zarr.storage.ZipStore(path, mode="r"))``; it is written
    fastest with the ``fast`` extra (zlib-ng's SIMD CRC-32).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from xsz.format import Schema, SZWriter
    >>> tmp = getfixture("tmp_path")
    >>> with SZWriter(tmp / "a.sz", Schema.build([("ID", str)], [("Raw", np.int16)])) as w:
    ...     w.put_many([("r1", np.arange(3)), ("r2", np.arange(5))])
    >>> to_zarr(tmp / "a.sz", tmp / "a.zarr").n_reads
    2
    >>> xr.open_zarr(tmp / "a.zarr").Raw_count.values.tolist()
    [3, 5]
    """
    if layout not in LAYOUTS:
        raise UsageError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    codec = parse_codec(codec)
    if layout == "reads" and codec != CODEC_ID:
        raise UsageError(
            f"layout='reads' copies the SZ frames, which are svb-zstd; codec={codec!r} "
            "needs layout='regular'"
        )
    apply_zarr_settings()
    start = time.perf_counter()
    with SZReader(sz_path) as reader:
        n = len(reader)
        update, close_progress = progress_hook(progress, n, f"{Path(sz_path).name} -> zarr")
        try:
            with _destination(
                zarr_path_or_store,
                overwrite=overwrite,
                layout=layout,
                storage_options=storage_options,
            ) as (
                sink,
                store,
            ):
                nbytes = -1
                if sink is not None:
                    nbytes = copy_reads(reader, sink, progress=update)
                else:
                    assert store is not None
                    write_regular(
                        reader,
                        store,
                        codec=codec,
                        chunk_samples=chunk_samples,
                        n_threads=n_threads,
                        progress=update,
                    )
        finally:
            close_progress()
    where = str(zarr_path_or_store)
    if nbytes < 0 and not isinstance(zarr_path_or_store, Store) and not is_url(where):
        nbytes = path_size(Path(zarr_path_or_store))
    summary = ZarrSummary(str(sz_path), where, n, nbytes, time.perf_counter() - start)
    log.info(
        "wrote %d reads from %s to %s (layout %r) in %.2f s",
        n,
        sz_path,
        where,
        layout,
        summary.seconds,
    )
    return summary


@contextlib.contextmanager
def _destination(
    target: str | os.PathLike[str] | Store,
    *,
    overwrite: bool,
    layout: str,
    storage_options: Mapping[str, Any] | None = None,
) -> Iterator[tuple[Sink | None, Store | None]]:
    """``(sink, None)`` for the reads layout, ``(None, store)`` for the regular one."""
    if not isinstance(target, Store) and local_path(target) is None:
        with _remote_destination(str(target), storage_options, overwrite=overwrite) as sink:
            if layout == "reads":
                yield sink, None
                return
            with tempfile.TemporaryDirectory(prefix="xsz-regular-") as scratch:
                with LocalStore(scratch) as local:
                    yield None, local
                _put_files(Path(scratch), sink, batch=64)
        return
    if storage_options:
        raise UsageError(f"storage_options are for object storage URLs, not {target}")
    if not isinstance(target, Store):
        target = local_path(target) or target
    if isinstance(target, Store):
        _prepare_store(target, overwrite=overwrite)
        if layout == "reads":
            yield StoreSink(target), None
            return
        # zarr writes some keys twice (zarr.json), which a zip store cannot take:
        # written in a temporary directory first, then each key set once
        with tempfile.TemporaryDirectory(prefix="xsz-regular-") as scratch:
            with LocalStore(scratch) as local:
                yield None, local
            _put_files(Path(scratch), StoreSink(target), batch=64)
        return
    dest = Path(target)
    zipped = dest.suffix.lower() == ".zip"
    with staged(dest, directory=not zipped, overwrite=overwrite, kind="zarr") as path:
        if layout == "reads":
            with _closing(ZipSink(path) if zipped else DirectorySink(path)) as sink:
                yield sink, None
            return
        work = path if not zipped else path.parent / f"{path.name}.d"
        try:
            with LocalStore(work) as store:
                yield None, store
            if zipped:  # written as a directory (zarr rewrites zarr.json), packed once done
                with _closing(ZipSink(path)) as packer:
                    _put_files(work, packer, batch=1)
        finally:
            if zipped:
                remove_path(work)


@contextlib.contextmanager
def _closing(sink: Sink) -> Iterator[Sink]:
    """`sink`, closed when the block succeeds, aborted when it fails."""
    try:
        yield sink
    except BaseException:
        sink.abort()
        raise
    sink.close()


def _put_files(root: Path, sink: Sink, *, batch: int) -> None:
    """Every file under `root` into `sink`, `batch` files at a time."""
    items = directory_items(root)
    while part := list(itertools.islice(items, batch)):
        sink.put_many(part)


class _RootLast(StoreSink):
    """`StoreSink` that holds the root ``zarr.json`` back until `close`."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.root: Buffer | None = None

    def put_many(self, items: Sequence[tuple[str, Buffer]]) -> None:
        # docstring inherited
        rest = []
        for key, value in items:
            if key == ZARR_JSON:
                self.root = value
            else:
                rest.append((key, value))
        super().put_many(rest)

    def close(self) -> None:
        # docstring inherited
        if self.root is None:
            raise SZFormatError("the Zarr hierarchy written has no root zarr.json")
        super().put_many([(ZARR_JSON, self.root)])


@contextlib.contextmanager
def _remote_destination(
    url: str, storage_options: Mapping[str, Any] | None, *, overwrite: bool
) -> Iterator[Sink]:
    """A sink into zarr's ``ObjectStore`` at `url`, the root ``zarr.json`` put last.

    An existing Zarr group there is replaced only with `overwrite` (its root
    ``zarr.json`` deleted first, so it is no group from then on); anything else
    there is refused.
    """
    from obstore.exceptions import BaseError
    from zarr.storage import ObjectStore

    raw = store_at(url, storage_options)
    where = url.rstrip("/")
    try:
        keys = store_keys(raw, limit=1)
        group = bool(keys) and _has(raw, ZARR_JSON)
    except (BaseError, OSError) as exc:
        raise SZFormatError(f"cannot reach {where}: {exc}") from exc
    if keys:
        if not overwrite:
            raise StoreExistsError(f"{where} exists; pass overwrite=True to replace it")
        if not group:
            raise StoreExistsError(
                f"{where} holds objects ({keys[0]!r} ...) but no root zarr.json: not a Zarr "
                "group; refusing to replace it"
            )
    store = ObjectStore(raw)
    if keys:
        sync(store.delete(ZARR_JSON))  # no group from here on, never a mix of two
        sync(store.clear())
    sink = _RootLast(store)
    yield sink  # a failure leaves keys but no root zarr.json: no group
    sink.close()


def _has(store: Any, key: str) -> bool:
    import obstore

    try:
        obstore.head(store, key)
    except FileNotFoundError:
        return False
    return True


def _prepare_store(store: Store, *, overwrite: bool) -> None:
    async def first_key() -> str | None:
        async for key in store.list():
            return key
        return None

    if store.read_only:
        raise UsageError(f"cannot write a Zarr hierarchy into the read-only store {store}")
    if sync(first_key()) is not None:
        if not overwrite:
            raise StoreExistsError(f"{store} is not empty; pass overwrite=True to clear it first")
        sync(store.clear())


def from_zarr(
    zarr_path_or_store: str | os.PathLike[str] | Store,
    sz_path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: bool | Callable[[int, int | None], object] = False,
) -> ZarrSummary:
    """Write a Zarr hierarchy in `xsz.mapping`'s layout as a new SZ store.

    Parameters
    ----------
    zarr_path_or_store
        A Zarr store (a directory, a ``.zip`` file or a zarr store object)
        whose root group holds the variables of an SZ store: what `to_zarr`
        writes (either layout), what ``ds.to_zarr`` writes for a Dataset opened
        with ``engine="sz"``, or a look-alike (see
        `xsz.mapping.schema_from_variables`). Zarr format 3, or 2 with
        xarray's ``_ARRAY_DIMENSIONS``.
    sz_path
        The SZ store to create (atomically).
    overwrite
        Replace an SZ store at `sz_path` (only once the new one is complete).
    progress
        ``True`` for a tqdm bar; a callable gets ``(reads_done, n_reads)``.

    Returns
    -------
    ZarrSummary

    Raises
    ------
    SourceError
        The source is not a Zarr store.
    SchemaError
        The hierarchy cannot be an SZ store (the message names the array).
    RecordError
        A value that does not fit its field (the message names the read).
    StoreExistsError
        `sz_path` exists and `overwrite` is false, or is not an SZ store.

    Notes
    -----
    Datasets whose chunks are SZ frames (the svb-zstd codec alone, one chunk per
    read, as in the ``"reads"`` layout) are copied frame by frame, so the SZ
    store gets exactly the frames it came from. Other layouts are read through
    zarr a block of reads at a time and encoded. Memory holds the per-read
    arrays (IDs, attributes, counts) and one block of reads.

    Examples
    --------
    >>> import numpy as np
    >>> from xsz.format import Schema, SZReader, SZWriter
    >>> tmp = getfixture("tmp_path")
    >>> with SZWriter(tmp / "a.sz", Schema.build([("ID", str)], [("Raw", np.int16)])) as w:
    ...     w.put_many([("r1", np.arange(3)), ("r2", np.arange(5))])
    >>> _ = to_zarr(tmp / "a.sz", tmp / "a.zarr", layout="regular", codec="zstd")
    >>> from_zarr(tmp / "a.zarr", tmp / "b.sz").n_reads
    2
    >>> with SZReader(tmp / "b.sz") as r:
    ...     [x.tolist() for x in r.dataset("Raw")]
    [[0, 1, 2], [0, 1, 2, 3, 4]]
    """
    apply_zarr_settings()
    start = time.perf_counter()
    check_replaceable(Path(sz_path), overwrite)
    with _open_source(zarr_path_or_store) as store:
        try:
            group = zarr.open_group(store, mode="r")
        except (zarr.errors.GroupNotFoundError, FileNotFoundError) as exc:
            raise SourceError(f"{zarr_path_or_store}: no Zarr group at its root") from exc
        n = _n_reads(group)
        update, close_progress = progress_hook(progress, n, f"zarr -> {Path(sz_path).name}")
        try:
            n = write_hierarchy(
                group,
                Path(sz_path),
                fetch=_fetcher(store),
                where=str(zarr_path_or_store),
                overwrite=overwrite,
                progress=update,
            )
        finally:
            close_progress()
    dest = Path(sz_path)
    summary = ZarrSummary(
        str(zarr_path_or_store), str(dest), n, path_size(dest), time.perf_counter() - start
    )
    log.info("wrote %d reads from %s to %s in %.2f s", n, summary.source, dest, summary.seconds)
    return summary


@contextlib.contextmanager
def _open_source(source: str | os.PathLike[str] | Store) -> Iterator[Store]:
    if isinstance(source, Store):
        yield source
        return
    path = Path(source)
    fmt = detect_format(path)
    if fmt != "zarr":
        raise SourceError(f"{path} is a {fmt} file or store, not a Zarr store")
    store: Store = ZipStore(path, mode="r") if path.is_file() else LocalStore(path, read_only=True)
    try:
        yield store
    finally:
        store.close()


def _n_reads(group: zarr.Group) -> int | None:
    try:
        found = group["read"]
    except KeyError:
        return None
    return int(found.shape[0]) if isinstance(found, zarr.Array) else None


def _fetcher(store: Store) -> Callable[[Sequence[str]], list[bytes | memoryview | None]]:
    prototype = default_buffer_prototype()

    async def get_all(keys: Sequence[str]) -> list[Any]:
        return await asyncio.gather(*(store.get(key, prototype=prototype) for key in keys))

    def fetch(keys: Sequence[str]) -> list[bytes | memoryview | None]:
        if not keys:
            return []
        return [None if b is None else b.to_bytes() for b in sync(get_all(keys))]

    return fetch
