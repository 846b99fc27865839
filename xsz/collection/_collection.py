"""`Collection`: many SZ stores read as one, through their read-ID index.

A collection's reads are numbered store after store (rows in order): read
``offsets[s] + r`` is row ``r`` of store ``s``. Stores are opened only when a
read of theirs is wanted (at most `MAX_OPEN` at a time, least recently used
closed first), and each is checked, as it is opened, against the version the
index recorded: a store changed since raises `StaleIndexError`, never a read
through an index that no longer describes it.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np

from xsz._progress import progress_counter
from xsz.collection._build import build_index, count_names, parse_schema
from xsz.collection._index import COUNT_PREFIX, IndexFile, StoreEntry, index_location
from xsz.collection._stores import find_stores, local_stamp, stamp_json
from xsz.errors import StaleIndexError, SZFormatError, UsageError
from xsz.format import PickedStore, SZIndex, SZReader, SZWriter, chunk_plan, pick, read_index
from xsz.source import is_url, local_path, open_source

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    import numpy.typing as npt

    from xsz.source import ByteSource

__all__ = ["Collection", "OnDuplicate", "subset"]

MAX_OPEN: Final = 64
"""Stores a collection keeps open at once."""
MAX_PARTS: Final = 4096
"""Stores whose picked rows (parsed lines, frame CRC-32s) a collection keeps ..."""
PART_READS: Final = 262_144
"""... and the rows they may hold in all (a few hundred bytes each)."""
THREADS: Final = 8
"""Stores read at once by one batch (object storage: requests in flight)."""
BATCH: Final = 512
"""Reads per batch when copying from a store read through `SZReader`."""
WINDOW: Final = 64
"""Stores whose picked index lines are parsed together when copying."""
WINDOW_READS: Final = 65_536
"""... and the reads they may hold at most (unless one store wants more)."""
RECORD_BYTES: Final = 1 << 25
"""Bytes of records fetched from one store at once when copying."""

OnDuplicate = Literal["error", "first"]


class Collection:
    """Many SZ stores as one: their reads by position or ID, with one read-ID index.

    Parameters
    ----------
    paths
        The stores (paths, directory trees, globs, URLs: `find_stores`). With
        `index`, they must be the stores it indexes (else `StaleIndexError`);
        without, the index's own list is used.
    index
        An index file made by `build_index`: a path or a URL (``s3://`` ...,
        read by range GETs of the version found at open). Without one, every
        store's index is read now and a temporary index built.
    storage_options
        Settings for obstore, for URLs (the stores' and the index's).
    on_duplicate
        What a lookup of an ID held twice does: ``"error"`` (default) raises
        `DuplicateReadError` naming the stores; ``"first"`` takes the read of
        the first store (in collection order) that has it.
    check
        Check every store's version against the index now (local stores: one
        ``stat`` each; stores found by listing a prefix: their listing).
        Stores are always checked when opened.

    Notes
    -----
    Thread-safe. Pickles by its stores (locations, read counts, version stamps)
    and options, not by the index: a copy in another process reopens stores on
    first use and checks them just the same.
    """

    def __init__(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
        *,
        index: str | os.PathLike[str] | None = None,
        storage_options: Mapping[str, Any] | None = None,
        on_duplicate: OnDuplicate = "error",
        check: bool = True,
    ) -> None:
        if on_duplicate not in ("error", "first"):
            raise UsageError(f"on_duplicate must be 'error' or 'first', got {on_duplicate!r}")
        if paths is None and index is None:
            raise UsageError("a collection needs its stores (paths), an index, or both")
        if paths is not None and not isinstance(paths, str | os.PathLike):
            paths = list(paths)  # read twice without an index
        self.storage_options = dict(storage_options or {})
        self.on_duplicate: OnDuplicate = on_duplicate
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if index is None:
            assert paths is not None
            self._tmp = tempfile.TemporaryDirectory(prefix="xsz-collection-")
            index = Path(self._tmp.name) / "index.parquet"
            build_index(paths, index, storage_options=storage_options)
            check = False  # just read
        self.index_path = index_location(index)
        self.index = IndexFile(self.index_path, self.storage_options)
        self._setup(self.index.stores, self.index.schema_text)
        if paths is not None:
            self._match(paths, check=check)
        elif check:
            self._check_local()

    def _setup(self, stores: list[StoreEntry], schema_text: str) -> None:
        self.stores = stores
        self.schema_text = schema_text
        self.header, self.schema = parse_schema(schema_text)
        self.offsets = np.concatenate(
            [[0], np.cumsum([s.n_reads for s in stores], dtype=np.int64)]
        ).astype(np.int64)
        self._lock = threading.Lock()
        self._open: OrderedDict[int, SZReader] = OrderedDict()
        self._parts: OrderedDict[int, _Part] = OrderedDict()
        """Rows picked of stores read before (no file kept open): `MAX_PARTS` stores and
        `PART_READS` rows at most."""
        self._part_reads = 0
        self._ids: npt.NDArray[Any] | None = None
        self._counts: dict[str, npt.NDArray[np.int64]] | None = None
        """Every read's ID and counts, once `ids_and_counts` has read them."""
        prefix = schema_text.encode("utf-8")
        self._prefix = prefix
        self._columns = prefix[prefix.index(b"\n") + 1 :]
        self._datasets = tuple(f.name for f in self.schema.datasets)
        self._pool: ThreadPoolExecutor | None = None
        self.opens = 0
        """Stores opened so far (each open reads that store's index)."""

    # --- checks ---------------------------------------------------------------------

    def _match(
        self, paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, check: bool
    ) -> None:
        refs = find_stores(paths, self.storage_options)
        indexed = [s.location for s in self.stores]
        found = [r.location for r in refs]
        if found != indexed:
            new = [x for x in found if x not in set(indexed)]
            gone = [x for x in indexed if x not in set(found)]
            what = []
            if new:
                what.append(f"{len(new)} not in the index (first: {new[0]})")
            if gone:
                what.append(f"{len(gone)} indexed but not found (first: {gone[0]})")
            if not what:
                what.append("the same stores in another order")
            raise StaleIndexError(
                f"{self.index_path} does not index these stores: "
                + "; ".join(what)
                + ". Bring it up to date with `xsz index` (xsz.collection.build_index)"
            )
        if not check:
            return
        for k, ref in enumerate(refs):
            if ref.stamp is not None and ref.stamp != self.stores[k].stamp:
                raise self._stale(k)
        self._check_local()

    def _check_local(self) -> None:
        for k, store in enumerate(self.stores):
            if is_url(store.location) and local_path(store.location) is None:
                continue
            path = local_path(store.location)
            assert path is not None
            try:
                stamp = local_stamp(os.fspath(path))
            except OSError as exc:
                raise StaleIndexError(
                    f"{store.location} is indexed in {self.index_path} but is not a store now "
                    f"({exc.strerror}: {exc.filename}); bring the index up to date with "
                    "`xsz index`"
                ) from exc
            if stamp != store.stamp:
                raise self._stale(k)

    def _stale(self, k: int) -> StaleIndexError:
        return StaleIndexError(
            f"{self.stores[k].location} changed since {self.index_path} indexed it; "
            "bring the index up to date with `xsz index` (xsz.collection.build_index)"
        )

    # --- stores ---------------------------------------------------------------------

    def _options(self, k: int) -> Mapping[str, Any] | None:
        location = self.stores[k].location
        if is_url(location) and local_path(location) is None:
            return self.storage_options
        return None

    def _opens_not(self, k: int, exc: Exception) -> StaleIndexError:
        return StaleIndexError(
            f"{self.stores[k].location} is indexed in {self.index_path} but does not open "
            f"now ({exc}); bring the index up to date with `xsz index`"
        )

    def reader(self, k: int) -> SZReader:
        """Store `k`, opened (and checked against the index) on first use."""
        with self._lock:
            found = self._open.get(k)
            if found is not None:
                self._open.move_to_end(k)
                return found
        store = self.stores[k]
        try:
            reader = SZReader(store.location, self._options(k))
        except Exception as exc:
            raise self._opens_not(k, exc) from exc
        if stamp_json(reader.stamp()) != store.stamp or len(reader) != store.n_reads:
            reader.close()
            raise self._stale(k)
        with self._lock:
            if k in self._open:  # another thread was quicker
                reader.close()
                return self._open[k]
            self.opens += 1
            self._open[k] = reader
            while len(self._open) > MAX_OPEN:  # its files close when its last user lets go
                self._open.popitem(last=False)
            return reader

    def _source(self, k: int) -> ByteSource:
        """Store `k`'s files, opened as one version and checked to be the version the
        index recorded (`StaleIndexError` otherwise)."""
        store = self.stores[k]
        try:
            source: ByteSource = open_source(store.location, self._options(k))
        except Exception as exc:
            raise self._opens_not(k, exc) from exc
        if stamp_json(source.stamp()) != store.stamp:
            source.close()
            raise self._stale(k)
        return source

    def pick(
        self,
        k: int,
        rows: npt.NDArray[np.int64],
        *,
        columns: bytes,
        datasets: tuple[str, ...],
    ) -> PickedStore | None:
        """The index lines and frame CRC-32s of `rows` of store `k` (`xsz.format.pick`),
        its version checked against the index; ``None`` when the store must be read
        through `reader` instead. The caller closes the picked store's source."""
        source = self._source(k)
        try:
            picked = pick(
                source, rows, columns=columns, datasets=datasets, n_reads=self.stores[k].n_reads
            )
        except BaseException:
            source.close()
            raise
        if picked is None:
            source.close()
        return picked

    def close(self) -> None:
        """Close every open store and the index; idempotent."""
        with self._lock:
            readers = list(self._open.values())
            self._open.clear()
            self._parts.clear()
            self._part_reads = 0
            pool, self._pool = self._pool, None
        for r in readers:
            r.close()
        if pool is not None:
            pool.shutdown(wait=True)
        if getattr(self, "index", None) is not None:
            self.index.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {
            "stores": self.stores,
            "schema_text": self.schema_text,
            "storage_options": self.storage_options,
            "on_duplicate": self.on_duplicate,
            "index_path": self.index_path,
            "index_kept": self._tmp is None,  # a copy may open it again (not a temporary one)
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.storage_options = state["storage_options"]
        self.on_duplicate = state["on_duplicate"]
        self.index_path = state["index_path"]
        self._index_kept = state.get("index_kept", False)
        self._tmp = None
        self.index = None  # type: ignore[assignment]  # a copy reads stores, not the index
        self._setup(state["stores"], state["schema_text"])

    def __repr__(self) -> str:
        return f"<Collection {len(self.stores)} stores, {len(self)} reads>"

    def __len__(self) -> int:
        return int(self.offsets[-1])

    # --- where reads are ------------------------------------------------------------

    def split(
        self, positions: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """``(stores, rows)`` of collection positions."""
        positions = np.asarray(positions, dtype=np.int64)
        stores = np.searchsorted(self.offsets, positions, side="right") - 1
        return stores, positions - self.offsets[stores]

    def locate(self, read_ids: Iterable[object]) -> tuple[list[str], npt.NDArray[np.int64]]:
        """``(ids, positions)``: the distinct `read_ids`, sorted, and their collection
        positions. Reads only the index row groups that can hold them; opens no store."""
        ids, stores, rows = self._index().lookup(read_ids, on_duplicate=self.on_duplicate)
        return ids, self.offsets[stores] + rows

    def _index(self) -> IndexFile:
        """The index file; a pickled copy opens it again (by path or URL) on first use."""
        if self.index is None:
            if not getattr(self, "_index_kept", False):
                raise UsageError("this copy of the collection has no index (a temporary one)")
            with self._lock:
                if self.index is None:
                    self.index = IndexFile(self.index_path, self.storage_options)
        return self.index

    def ids_and_counts(self) -> tuple[npt.NDArray[Any], dict[str, npt.NDArray[np.int64]]]:
        """Every read's ID and per-dataset counts, in collection order (from the index)."""
        index = self._index()
        n = len(self)
        ids = np.empty(n, dtype=object)
        names = count_names(self.schema)
        counts = {name: np.zeros(n, dtype=np.int64) for name in names}
        for table in index.batches():
            at = self.offsets[table.column("store").to_numpy().astype(np.int64)] + table.column(
                "row"
            ).to_numpy().astype(np.int64)
            ids[at] = table.column("id").to_numpy(zero_copy_only=False)
            for name in names:
                counts[name][at] = table.column(COUNT_PREFIX + name).to_numpy()
        self._ids, self._counts = ids, counts  # what stores read later are checked against
        return ids, counts

    def _by_store(
        self, positions: npt.NDArray[np.int64]
    ) -> list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
        """``(store, rows, where)``: for each store touched, its rows and their places in
        `positions`."""
        stores, rows = self.split(positions)
        order = np.argsort(stores, kind="stable")
        s_sorted = stores[order]
        cuts = np.flatnonzero(np.diff(s_sorted)) + 1
        return [(int(stores[p[0]]), rows[p], p) for p in np.split(order, cuts) if len(p)]

    def _map(self, work: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        if len(items) <= 1:
            return [work(i) for i in items]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="xsz-collection")
            pool = self._pool
        return list(pool.map(work, items))

    # --- what the lazy arrays need (the reader interface of xsz.xarray) -------------

    def read_into(
        self,
        name: str,
        rows: npt.NDArray[np.int64],
        out: npt.NDArray[Any],
        positions: npt.NDArray[np.int64] | None = None,
        *,
        n_threads: int = 1,
    ) -> None:
        """Decode dataset `name` of the collection's reads `rows` into `out` (as
        `SZReader.read_into`), each store touched read with one batch."""
        rows = np.asarray(rows, dtype=np.int64)
        if positions is None:
            counts = self._counts_of(name, rows)
            positions = np.cumsum(counts) - counts
        at = positions

        def work(reader: SZReader, local: npt.NDArray[np.int64], where: Any) -> None:
            reader.read_into(name, local, out, at[where], n_threads=n_threads)

        self._each(rows, work)

    def _counts_of(self, name: str, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        if self._counts is not None and name in self._counts:
            return self._counts[name][rows]  # from the index: no store read
        out = np.zeros(len(rows), dtype=np.int64)

        def work(reader: SZReader, local: npt.NDArray[np.int64], where: Any) -> None:
            out[where] = reader.counts(name)[local]

        self._each(rows, work)
        return out

    def dataset(self, name: str, rows: object = None, *, n_threads: int = 1) -> list[Any]:
        """Dataset `name` decoded for the collection's reads `rows`, in the order asked."""
        positions = np.arange(len(self)) if rows is None else np.asarray(rows, dtype=np.int64)
        result: list[Any] = [None] * len(positions)

        def work(reader: SZReader, local: npt.NDArray[np.int64], where: Any) -> None:
            values = reader.dataset(name, local, n_threads=n_threads)
            for w, v in zip(where.tolist(), values, strict=True):
                result[w] = v

        self._each(positions, work)
        return result

    def attribute(self, name: str, rows: npt.NDArray[np.int64]) -> np.ndarray[Any, Any]:
        """Attribute `name` of the collection's reads `rows`, typed."""
        positions = np.asarray(rows, dtype=np.int64)
        f = self.schema[name]
        dtype = np.dtype(object) if f.is_text else f.dtype
        out = np.empty(len(positions), dtype=dtype)

        def work(held: SZReader | SZIndex, local: npt.NDArray[np.int64], where: Any) -> None:
            index = held.index if isinstance(held, SZReader) else held
            out[where] = index.attribute(name)[local]

        self._each(positions, work, index_only=True)
        return out

    # --- reading some rows of many stores ---------------------------------------------

    def _each(
        self,
        positions: npt.NDArray[np.int64],
        work: Callable[[Any, npt.NDArray[np.int64], npt.NDArray[np.int64]], None],
        *,
        index_only: bool = False,
    ) -> None:
        """``work(reader, rows, where)`` for every store holding some of `positions`:
        a reader holding the store's `rows` of them (``where``: their places in
        `positions`), several stores at once (with `index_only`, work may be given
        the index of those rows instead: no file is opened for rows picked before).

        Stores opened whole are read through the reader kept (`reader`). Others
        are picked a window at a time (`pick`, `_parse_window`: the lines of these
        rows only, checked against the store's ``checksums`` file and parsed
        together, their IDs and counts checked against the index's) and read
        through `SZReader.over_picked`; the rows picked are kept (`MAX_PARTS`
        stores, no file open) and read again from them, the store reopened and its
        version checked. A store that cannot be picked from is opened whole.
        """
        by_store = self._by_store(positions)
        ready: list[tuple[int, SZReader | _Part, npt.NDArray[np.int64], Any]] = []
        todo: list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
        for k, rows, where in by_store:
            held = self._held(k, rows)
            if held is None:
                todo.append((k, rows, where))
            else:
                ready.append((k, held[0], held[1], where))

        def run(item: tuple[int, SZReader | _Part, npt.NDArray[np.int64], Any]) -> None:
            k, held, local, where = item
            if isinstance(held, SZReader):
                work(held, local, where)
            elif index_only:
                work(held.index, local, where)
            else:
                with self._reopen(k, held) as reader:
                    work(reader, local, where)

        def run_picked(item: tuple[SZReader, npt.NDArray[np.int64], Any, bool]) -> None:
            reader, local, where, is_part = item
            try:
                work(reader, local, where)
            finally:
                if is_part:
                    reader.close()  # its rows are kept, not its files

        self._map(run, ready)
        for window in _windows([(k, np.unique(rows), where) for k, rows, where in todo]):
            readers = self._pick_window(window)
            items = []
            for (_, wanted, where), (reader, part) in zip(window, readers, strict=True):
                rows = self.split(positions[where])[1]
                local = rows if part is None else np.searchsorted(wanted, rows)
                items.append((reader, local, where, part is not None))
            try:
                self._map(run_picked, items)
            except BaseException:
                for reader, part in readers:
                    if part is not None:
                        reader.close()
                raise
            with self._lock:
                for (k, _, _), (_, part) in zip(window, readers, strict=True):
                    if part is not None and len(part.rows) <= PART_READS:
                        old = self._parts.pop(k, None)
                        self._part_reads += len(part.rows) - (0 if old is None else len(old.rows))
                        self._parts[k] = part
                while len(self._parts) > MAX_PARTS or self._part_reads > PART_READS:
                    _, old = self._parts.popitem(last=False)
                    self._part_reads -= len(old.rows)

    def _held(
        self, k: int, rows: npt.NDArray[np.int64]
    ) -> tuple[SZReader | _Part, npt.NDArray[np.int64]] | None:
        """What is kept of store `k` holding `rows` (a reader of it whole, or rows
        picked before), and their rows in it."""
        with self._lock:
            whole = self._open.get(k)
            if whole is not None:
                self._open.move_to_end(k)
                return whole, rows
            part = self._parts.get(k)
            if part is None:
                return None
            at = np.searchsorted(part.rows, rows)
            if len(rows) and (
                at.max() >= len(part.rows) or not np.array_equal(part.rows[at], rows)
            ):
                return None
            self._parts.move_to_end(k)
            return part, at

    def _reopen(self, k: int, part: _Part) -> SZReader:
        """A reader of the rows `part` holds of store `k`, its version checked again."""
        source = self._source(k)
        try:
            return SZReader.over_picked(replace(part.picked, source=source), part.index)
        except BaseException:
            source.close()
            raise

    def _pick_window(
        self, window: list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]]
    ) -> list[tuple[SZReader, _Part | None]]:
        """A reader of each store of `window` (``(store, rows, _)``, rows sorted and
        distinct), and what is kept of it when it holds those rows only (picked),
        ``None`` when it holds the whole store."""
        picking = self._map(
            lambda item: _attempt(
                lambda: self.pick(item[0], item[1], columns=self._columns, datasets=self._datasets)
            ),
            window,
        )
        picked: list[PickedStore | None] = [p for p, _ in picking]
        failed = [exc for _, exc in picking if exc is not None]
        try:
            if failed:
                raise failed[0]  # noqa: TRY301  (the others picked are closed below)
            index = _parse_window(self, window, picked, self._prefix)
            out: list[tuple[SZReader, _Part | None]] = []
            start = 0
            for (k, rows, _), p in zip(window, picked, strict=True):
                if p is None:
                    out.append((self.reader(k), None))
                    continue
                assert index is not None
                part = index.part(start, start + len(rows))
                start += len(rows)
                self._check_part(k, rows, part)
                kept = replace(p, lines=[])  # parsed: the lines are not needed again
                out.append((SZReader.over_picked(p, part), _Part(rows, kept, part)))
        except BaseException:
            for p in picked:
                if p is not None:
                    p.source.close()
            raise
        return out

    def _check_part(self, k: int, rows: npt.NDArray[np.int64], part: SZIndex) -> None:
        """Refuse picked lines whose IDs or counts are not those the index holds."""
        at = self.offsets[k] + rows
        if self._ids is not None and not np.array_equal(part.ids(), self._ids[at]):
            raise self._stale(k)
        for name, counts in part.count.items():
            known = None if self._counts is None else self._counts.get(name)
            if known is not None and not np.array_equal(counts, known[at]):
                raise self._stale(k)


@dataclass
class _Part:
    """Rows picked of a store: ``picked`` (its source closed once read) and the
    lines of its ``rows`` parsed (``index``), checked."""

    rows: npt.NDArray[np.int64]
    picked: PickedStore
    index: SZIndex


def _attempt(
    call: Callable[[], PickedStore | None],
) -> tuple[PickedStore | None, BaseException | None]:
    """`call`'s result, or the exception it raised (so that every other result of a
    batch can be closed)."""
    try:
        return call(), None
    except Exception as exc:
        return None, exc


def subset(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None,
    read_ids: Iterable[object],
    dst: str | os.PathLike[str],
    *,
    index: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    on_duplicate: OnDuplicate = "error",
    overwrite: bool = False,
    progress: bool | Callable[[int, int | None], object] = False,
) -> int:
    """Copy the reads `read_ids` of a collection into one new store `dst`.

    The IDs are found in the index (reading only the row groups that can hold
    them); then only the stores holding some of them are opened, each once, and
    only their frames are read (coalesced, several stores at once), checked
    against their checksums and copied as they are. Reads come out in collection
    order (store by store, rows in order); an ID listed twice is copied once.
    Unknown IDs raise `ReadNotFoundError` before anything is written; a store
    changed since it was indexed raises `StaleIndexError` (local stores, and
    stores of a listed prefix, are checked before anything is written; others
    when opened, and `dst` is then left as it was: the new store is committed
    only whole).

    Returns the number of reads written.
    """
    with Collection(
        paths, index=index, storage_options=storage_options, on_duplicate=on_duplicate
    ) as coll:
        ids, positions = coll.locate(read_ids)
        order = np.argsort(positions, kind="stable")
        positions = positions[order]
        by_store = coll._by_store(positions)
        update = progress_counter(progress, len(positions), "subset")
        with SZWriter(dst, coll.schema, header=coll.header, overwrite=overwrite) as writer:
            _copy(coll, by_store, np.asarray(ids, dtype=object)[order], writer, update)
    return len(positions)


def _copy(
    coll: Collection,
    by_store: list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]],
    ids: npt.NDArray[Any],
    writer: SZWriter,
    update: Callable[[int], None],
) -> None:
    """Copy the reads `by_store` (``ids[where]`` their IDs) into `writer`, store by store.

    A window of stores at a time: each store's wanted index lines are picked out
    of its index text (checked against its ``checksums`` file) and the lines of
    the whole window parsed in one go; then their records are fetched (several
    stores at once), checked frame by frame against their CRC-32s and written
    with their lines as they are. A store that cannot be picked from (no
    ``checksums`` file, say) is opened and read as `SZReader` reads it.
    """
    prefix, columns, datasets = coll._prefix, coll._columns, coll._datasets
    windows = list(_windows(by_store))

    def pick_one(item: tuple[int, npt.NDArray[np.int64], Any]) -> PickedStore | None:
        return coll.pick(item[0], item[1], columns=columns, datasets=datasets)

    with ThreadPoolExecutor(THREADS, thread_name_prefix="xsz-subset") as pool:
        picking = [pool.submit(pick_one, item) for item in windows[0]] if windows else []
        for w, window in enumerate(windows):
            picked: list[PickedStore | None] = []
            try:
                picked = [f.result() for f in picking]
                picking = []
                jobs = _jobs(coll, window, picked, prefix, ids)
                fetching = [pool.submit(_fetch, job) for job in jobs]
                if w + 1 < len(windows):  # picked while this window is fetched and written
                    picking = [pool.submit(pick_one, item) for item in windows[w + 1]]
                for job, result in zip(jobs, fetching, strict=True):
                    update(_write(writer, job, result.result()))
            except BaseException:
                _close_picked(picking)
                raise
            finally:
                for p in picked:
                    if p is not None:
                        p.source.close()


def _close_picked(futures: list[Future[PickedStore | None]]) -> None:
    """Close the stores `futures` picked (or cancel those not started)."""
    for f in futures:
        f.cancel()
    for f in futures:
        if f.cancelled() or f.exception() is not None:
            continue
        picked = f.result()
        if picked is not None:
            picked.source.close()


def _windows(
    by_store: list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]],
) -> Iterator[list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]]]:
    """`by_store` in runs of at most `WINDOW` stores and about `WINDOW_READS` reads."""
    window: list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
    n = 0
    for item in by_store:
        if window and (len(window) >= WINDOW or n + len(item[1]) > WINDOW_READS):
            yield window
            window, n = [], 0
        window.append(item)
        n += len(item[1])
    if window:
        yield window


@dataclass
class _Job:
    """Reads of one store to copy: picked (``lines`` of ``index[at]``) or through
    ``reader`` (``rows``)."""

    k: int
    ids: npt.NDArray[Any]
    picked: PickedStore | None = None
    index: SZIndex | None = None
    at: slice = slice(0)
    first: int = 0
    """Where ``index[at]`` starts among the picked store's lines."""
    reader: SZReader | None = None
    rows: npt.NDArray[np.int64] | None = None


def _jobs(
    coll: Collection,
    window: list[tuple[int, npt.NDArray[np.int64], npt.NDArray[np.int64]]],
    picked: list[PickedStore | None],
    prefix: bytes,
    ids: npt.NDArray[Any],
) -> list[_Job]:
    """The window's work in collection order, in pieces of bounded size; the picked
    lines parsed (every check of `read_index`) and their IDs checked against the
    collection index's."""
    index = _parse_window(coll, window, picked, prefix)
    if index is not None:
        id_field = coll.schema.id_field
        assert id_field is not None  # a collection's stores have IDs
        found = index.attribute(id_field)
    jobs: list[_Job] = []
    start = 0
    for (k, rows, where), p in zip(window, picked, strict=True):
        if p is None:
            reader = coll.reader(k)
            jobs.extend(
                _Job(k, ids[where[a : a + BATCH]], reader=reader, rows=rows[a : a + BATCH])
                for a in range(0, len(rows), BATCH)
            )
            continue
        assert index is not None
        stop = start + len(rows)
        if not np.array_equal(found[start:stop], ids[where]):
            raise coll._stale(k)
        bounds = chunk_plan(index.length[start:stop], RECORD_BYTES).tolist()
        for a, b in itertools.pairwise(bounds):
            jobs.append(
                _Job(
                    k,
                    ids[where[a:b]],
                    picked=p,
                    index=index,
                    at=slice(start + a, start + b),
                    first=a,
                )
            )
        start = stop
    return jobs


def _parse_window(
    coll: Collection,
    window: Sequence[tuple[int, npt.NDArray[np.int64], Any]],
    picked: Sequence[PickedStore | None],
    prefix: bytes,
) -> SZIndex | None:
    """The lines picked of a window's stores (`prefix`: the index's two head lines),
    parsed in one go (every check of `read_index`); ``None`` when none was picked.
    A line refused is refused as opening its store refuses it: naming the store,
    line and cell at fault."""
    lines = [line for p in picked if p is not None for line in p.lines]
    if not lines:
        return None
    try:
        return read_index(prefix + b"".join(lines), where="the index lines picked")
    except SZFormatError:
        for (k, _, _), p in zip(window, picked, strict=True):
            if p is not None:
                coll.reader(k)  # names the store, line and cell at fault
        raise


def _fetch(job: _Job) -> tuple[Any, ...]:
    if job.picked is not None:
        assert job.index is not None
        return job.picked.records(job.index, job.at, job.first)
    assert job.reader is not None and job.rows is not None
    names = [f.name for f in job.reader.schema.datasets]
    frames = job.reader.frames(job.rows, names)
    job.reader.check_frames(job.rows, frames, names)  # damage is refused, never copied
    return (frames,)


def _write(writer: SZWriter, job: _Job, result: tuple[Any, ...]) -> int:
    if job.picked is not None:
        assert job.index is not None
        records, lengths = result
        first, picked = job.first, job.picked
        writer.put_copied(
            job.ids.tolist(),
            picked.lines[first : first + len(job.ids)],
            records,
            lengths,
            picked.crcs[first : first + len(job.ids)].reshape(-1),
            checksummed=picked.zstd_checksums,
        )
        return len(job.ids)
    reader, rows = job.reader, job.rows
    assert reader is not None and rows is not None
    (frames,) = result
    schema = reader.schema
    names = [f.name for f in schema.datasets]
    attrs = [reader.index.attribute(f.name)[rows] for f in schema.attributes]
    counts = [reader.index.count.get(n) for n in names]
    per_read = [[None] * len(rows) if c is None else c[rows].tolist() for c in counts]
    writer.put_frames_columns(attrs, frames, list(zip(*per_read, strict=True)))
    return len(rows)
