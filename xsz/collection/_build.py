"""`build_index`: the read-ID index of many SZ stores, built or brought up to date."""

from __future__ import annotations

import tempfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa

from xsz._progress import progress_counter
from xsz.collection._index import (
    COUNT_PREFIX,
    Duplicates,
    IndexFile,
    StoreEntry,
    index_location,
    write_index,
)
from xsz.collection._stores import StoreRef, find_stores, stamp_json
from xsz.errors import SchemaError, SZFormatError, UsageError
from xsz.format import Schema, SZReader, format_header, read_index
from xsz.source import open_source, upload_file

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from xsz.collection._index import _Runs

__all__ = ["IndexReport", "build_index", "count_names", "parse_schema"]

RUN_ROWS: Final = 1 << 18
"""Rows sorted in memory before a run is spilled (the build's memory bound)."""
THREADS: Final = 8
"""Stores whose index is read at once (object storage: requests in flight)."""


@dataclass
class IndexReport:
    """What `build_index` did."""

    path: Path | str
    """The index file (a URL for one in object storage)."""
    n_stores: int
    n_reads: int
    read: list[str] = field(default_factory=list)
    """Stores whose index was read (new or changed since the last build)."""
    kept: int = 0
    """Stores taken from the previous index unchanged (not opened again)."""
    dropped: list[str] = field(default_factory=list)
    """Stores of the previous index no longer in the collection."""
    duplicates: Duplicates = field(default_factory=Duplicates)


def parse_schema(text: str) -> tuple[dict[str, Any], Schema]:
    """The header and schema an index file records (the first two lines of an SZ index)."""
    index = read_index(text.encode("utf-8"), where="the collection index's schema")
    return index.header, index.schema


def count_names(schema: Schema) -> list[str]:
    """The datasets whose per-read counts the index keeps (the numeric ones)."""
    return [f.name for f in schema.datasets if not f.is_text]


def build_index(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    storage_options: Mapping[str, Any] | None = None,
    rebuild: bool = False,
    run_rows: int = RUN_ROWS,
    threads: int = THREADS,
    progress: bool | Callable[[int, int | None], object] = False,
) -> IndexReport:
    """Index the read IDs of every store of a collection into the Parquet file `out`.

    Parameters
    ----------
    paths
        The collection: stores, directory trees, globs, local or URLs
        (`xsz.collection.find_stores`); its order is the collection's order.
    out
        The index file: a path, or a URL (``s3://``, ``gs://``, ``az://``,
        ``http(s)://``) where it is uploaded once built locally (one PUT or one
        multipart upload: a reader sees the old index or the new one, whole).
        If it exists, it is brought up to date: only stores new or changed
        since (by their version stamp: inode, size and time of each file, or
        ETag and size in object storage) are read; stores no longer in `paths`
        are dropped.
    storage_options
        Settings for obstore, for URLs (the stores' and `out`'s).
    rebuild
        Read every store again, ignoring (and replacing) an existing `out`,
        also one that is damaged.
    run_rows
        Rows sorted in memory at a time; memory is bounded by this and the
        largest single store's index, whatever the number of reads.
    threads
        Stores read at once.
    progress
        ``True`` for a bar, or ``progress(done, total)`` over stores.

    Returns
    -------
    IndexReport
        Stores read, kept and dropped, and the IDs found more than once
        (the index keeps every copy and flags them; lookups refuse them unless
        told to take the first).

    Raises
    ------
    xsz.errors.SZFormatError
        A path holds no store, a store is damaged, or an existing `out` is
        not a valid index (pass ``rebuild=True``).
    xsz.errors.SchemaError
        Stores with different columns.
    """
    if run_rows < 1 or threads < 1:
        raise UsageError(f"run_rows and threads must be positive, got {run_rows}, {threads}")
    where = index_location(out)
    refs = find_stores(paths, storage_options)
    old = None
    if not rebuild:
        old = IndexFile.if_there(where, storage_options)
    try:
        if isinstance(where, Path):
            return _build(refs, where, old, storage_options, run_rows, threads, progress)
        with tempfile.TemporaryDirectory(prefix="xsz-index-") as tmp:
            local = Path(tmp) / "index.xszi"
            report = _build(refs, local, old, storage_options, run_rows, threads, progress)
            if old is not None:
                old.close()  # read to the end; an upload may replace it now
            upload_file(local, where, storage_options)
            report.path = where
            return report
    finally:
        if old is not None:
            old.close()


def _build(
    refs: list[StoreRef],
    out: Path,
    old: IndexFile | None,
    storage_options: Mapping[str, Any] | None,
    run_rows: int,
    threads: int,
    progress: object,
) -> IndexReport:
    before = {s.location: (k, s) for k, s in enumerate(old.stores)} if old else {}
    header: dict[str, Any] | None = None
    schema: Schema | None = None
    if old is not None:
        header, schema = parse_schema(old.schema_text)
    entries: list[StoreEntry | None] = [None] * len(refs)
    remap = np.full(len(old.stores) if old else 0, -1, dtype=np.int64)
    to_read: list[int] = []
    for k, ref in enumerate(refs):
        prior = before.get(ref.location)
        now = None if prior is None else (ref.stamp or _stamp(ref, storage_options))
        if prior is not None and now == prior[1].stamp:
            entries[k] = prior[1]
            remap[prior[0]] = k
        else:
            to_read.append(k)
    report = IndexReport(out, len(refs), 0, kept=len(refs) - len(to_read))
    report.dropped = [
        s.location
        for s in (old.stores if old else [])
        if s.location not in {r.location for r in refs}
    ]
    advance = progress_counter(progress, len(to_read), "index")

    def runs_of(spiller: _Runs) -> list[Iterator[pa.Table]]:
        nonlocal header, schema
        pending: list[pa.Table] = []
        n_pending = 0
        for k, (entry, table, store_header, store_schema) in zip(
            to_read,
            _read_stores([refs[k] for k in to_read], to_read, storage_options, threads),
            strict=True,
        ):
            if schema is None:
                header, schema = store_header, store_schema
            elif store_schema != schema:
                first = next((e.location for e in entries if e is not None), "the collection")
                raise SchemaError(
                    f"{entry.location} has the columns {store_schema.columns}, "
                    f"{first} {schema.columns}: a collection's stores share one schema"
                )
            entries[k] = entry
            report.read.append(entry.location)
            pending.append(table)
            n_pending += len(table)
            if n_pending >= run_rows:
                spiller.spill(pending)
                pending, n_pending = [], 0
            advance(1)
        if pending:
            spiller.spill(pending)
        extra = []
        if old is not None and (remap >= 0).any():
            extra.append(_kept_rows(old, remap, spiller.schema))
        return extra

    if not refs:
        raise SZFormatError("a collection needs at least one store")
    # the schema must be known before the output's columns are: read the first new store
    if schema is None:
        with SZReader(refs[to_read[0]].location, storage_options) as first:
            header, schema = first.header, first.schema
    if schema.id_field is None:
        raise SchemaError(
            f"{refs[0].location} has no text ID attribute: a collection indexes reads by ID"
        )
    report.duplicates = write_index(
        out,
        lambda: _complete(entries),
        runs_of,
        count_names=count_names(schema),
        schema_text=format_header(header or {}, schema),
    )
    report.n_reads = sum(e.n_reads for e in _complete(entries))
    return report


def _complete(entries: list[StoreEntry | None]) -> list[StoreEntry]:
    missing = [k for k, e in enumerate(entries) if e is None]
    if missing:  # pragma: no cover - a bug
        raise SZFormatError(f"stores {missing} were neither kept nor read")
    return [e for e in entries if e is not None]


def _stamp(ref: StoreRef, storage_options: Mapping[str, Any] | None) -> list[Any]:
    """The current version stamp of a store (opening its source)."""
    options = storage_options if ref.location.find("://") > 0 else None
    with open_source(ref.location, options) as source:
        return stamp_json(source.stamp())


def _read_one(
    ref: StoreRef, k: int, storage_options: Mapping[str, Any] | None
) -> tuple[StoreEntry, pa.Table, dict[str, Any], Schema]:
    options = storage_options if ref.location.find("://") > 0 else None
    with SZReader(ref.location, options) as reader:
        schema = reader.schema
        if schema.id_field is None:
            raise SchemaError(
                f"{ref.location} has no text ID attribute: a collection indexes reads by ID"
            )
        n = len(reader)
        if n >= 1 << 32:  # pragma: no cover - 4 billion reads in one store
            raise SZFormatError(f"{ref.location}: {n} reads is more than an index row holds")
        columns: dict[str, Any] = {
            "id": pa.array(reader.ids.tolist(), pa.string()),
            "store": pa.array(np.full(n, k, dtype=np.uint32)),
            "row": pa.array(np.arange(n, dtype=np.uint32)),
        }
        for name in count_names(schema):
            columns[COUNT_PREFIX + name] = pa.array(reader.counts(name).astype(np.int64))
        entry = StoreEntry(ref.location, n, stamp_json(reader.stamp()))
        return entry, pa.table(columns), reader.header, schema


def _read_stores(
    refs: list[StoreRef],
    numbers: list[int],
    storage_options: Mapping[str, Any] | None,
    threads: int,
) -> Iterator[tuple[StoreEntry, pa.Table, dict[str, Any], Schema]]:
    """Each store's rows, in order, `threads` stores read at a time (no more ahead)."""
    if threads <= 1 or len(refs) <= 1:
        for ref, k in zip(refs, numbers, strict=True):
            yield _read_one(ref, k, storage_options)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="xsz-index") as pool:
        window: deque[Future[tuple[StoreEntry, pa.Table, dict[str, Any], Schema]]] = deque()
        todo = iter(zip(refs, numbers, strict=True))
        try:
            for ref, k in todo:
                window.append(pool.submit(_read_one, ref, k, storage_options))
                if len(window) >= threads:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:
            for f in window:
                f.cancel()


def _kept_rows(
    old: IndexFile, remap: np.ndarray[Any, Any], arrow_schema: pa.Schema
) -> Iterator[pa.Table]:
    """The rows of the old index whose stores are kept, renumbered, still sorted."""
    for table in old.batches():
        stores = remap[table.column("store").to_numpy()]
        keep = stores >= 0
        if not keep.any():
            continue
        part = table.filter(pa.array(keep)).drop_columns(["dup"])
        part = part.set_column(
            part.schema.get_field_index("store"),
            "store",
            pa.array(stores[keep].astype(np.uint32)),
        )
        yield part.select(arrow_schema.names).cast(arrow_schema)
