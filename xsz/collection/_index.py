"""The read-ID index of a collection: one Parquet file, read ID -> (store, row).

Layout (`INDEX_VERSION` 1): one table sorted by ``id`` (ties by store and row)
with the columns ``id`` (string), ``store`` (uint32, the store's position in
the collection), ``row`` (uint32, the read's row in that store), ``dup`` (bool,
the ID is in the collection more than once) and ``count/NAME`` (int64) for
every numeric dataset, so the ragged layout of every read is known without
opening a store. Row groups hold `ROW_GROUP` rows. The footer's key-value
metadata ``xsz.collection`` is a JSON document: the stores (location, read
count, version stamp), the schema and header, the duplicated IDs (a sample and
their number), and for every row group its first and last ID, row count and a
CRC-32 of its values; the document carries its own CRC-32. Every row group is
checked against its CRC when read, so a changed byte is an error, never a
wrong answer.

Building (`write_index`) is an external sort: each store's index is read
alone; its rows join an in-memory run of at most `run_rows` rows, which is
sorted and spilled to a temporary Parquet file; the runs are then merged
(`FAN_IN` at a time, batch by batch). Memory is bounded by `run_rows` and the
largest single store's index, not by the number of reads.
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from xsz.errors import DuplicateReadError, ReadNotFoundError, SZFormatError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    import numpy.typing as npt

    from xsz.source import ObjectFile

__all__ = [
    "FAN_IN",
    "Duplicates",
    "digest",
    "INDEX_VERSION",
    "META_KEY",
    "ROW_GROUP",
    "IndexFile",
    "StoreEntry",
    "index_location",
    "write_index",
]

INDEX_VERSION: Final = 1
META_KEY: Final = b"xsz.collection"
ROW_GROUP: Final = 1 << 16
"""Rows per row group: what a lookup reads and checks at a time."""
FAN_IN: Final = 64
"""Runs merged at once (more are merged in rounds)."""
MERGE_ROWS: Final = 1 << 18
"""Rows buffered over all runs of one merge."""
PREFETCH: Final = 8
"""Row groups of an index in object storage fetched at once (concurrent GETs)."""
DUP_SAMPLE: Final = 1000
"""Duplicated IDs the index names (it counts them all)."""
COUNT_PREFIX: Final = "count/"


@dataclass
class StoreEntry:
    """One store of an index: where it is, how many reads, which version."""

    location: str
    n_reads: int
    stamp: list[Any]


@dataclass
class Duplicates:
    """IDs held by more than one row of the collection."""

    count: int = 0
    """Distinct IDs that are duplicated."""
    sample: list[tuple[str, list[int]]] = field(default_factory=list)
    """Up to `DUP_SAMPLE` of them, each with the stores that hold it."""


def _arrow_schema(count_names: Sequence[str]) -> pa.Schema:
    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("store", pa.uint32(), nullable=False),
        pa.field("row", pa.uint32(), nullable=False),
    ]
    fields += [pa.field(COUNT_PREFIX + n, pa.int64(), nullable=False) for n in count_names]
    return pa.schema(fields)


def digest(table: pa.Table) -> int:
    """CRC-32 of a table's values (IDs as lengths and bytes, numbers as int64)."""
    crc = 0
    for name in table.column_names:
        for chunk in table.column(name).chunks:
            if len(chunk) == 0:
                continue
            if pa.types.is_string(chunk.type):
                offsets = np.frombuffer(chunk.buffers()[1], np.int32)[
                    chunk.offset : chunk.offset + len(chunk) + 1
                ]
                crc = zlib.crc32(np.diff(offsets).astype(np.int64).tobytes(), crc)
                data = chunk.buffers()[2]
                if data is not None:
                    crc = zlib.crc32(memoryview(data)[int(offsets[0]) : int(offsets[-1])], crc)
            else:
                values = np.asarray(chunk.to_numpy(zero_copy_only=False)).astype(np.int64)
                crc = zlib.crc32(values.tobytes(), crc)
    return crc


def index_location(path: str | os.PathLike[str]) -> Path | str:
    """Where an index file is: a local `Path` (for a path or a ``file://`` URL), or
    the object storage URL (``s3://``, ``gs://``, ``az://``, ``http(s)://``) as given."""
    from xsz.source import local_path

    local = local_path(path)
    return str(path) if local is None else Path(local)


# --- writing ---------------------------------------------------------------------------


def sort_run(table: pa.Table) -> pa.Table:
    """`table` sorted by ID, then store, then row."""
    order = pc.sort_indices(
        table, sort_keys=[("id", "ascending"), ("store", "ascending"), ("row", "ascending")]
    )
    return table.take(order)


class _Runs:
    """Sorted runs spilled to a temporary directory."""

    def __init__(self, directory: str, arrow_schema: pa.Schema) -> None:
        self.directory = directory
        self.schema = arrow_schema
        self.paths: list[str] = []

    def spill(self, tables: list[pa.Table]) -> None:
        table = sort_run(pa.concat_tables(tables).cast(self.schema))
        path = os.path.join(self.directory, f"run-{len(self.paths):06d}.parquet")
        pq.write_table(table, path, compression="zstd", row_group_size=ROW_GROUP)
        self.paths.append(path)

    def reduce(self) -> list[str]:
        """Merge runs `FAN_IN` at a time until at most `FAN_IN` remain."""
        paths = self.paths
        level = 0
        while len(paths) > FAN_IN:
            merged = []
            for k in range(0, len(paths), FAN_IN):
                group = paths[k : k + FAN_IN]
                out = os.path.join(self.directory, f"merge-{level}-{k // FAN_IN:06d}.parquet")
                with pq.ParquetWriter(out, self.schema, compression="zstd") as writer:
                    for table in merge_runs([_read_run(p, len(group)) for p in group]):
                        writer.write_table(table, row_group_size=ROW_GROUP)
                for p in group:
                    os.remove(p)
                merged.append(out)
            paths = merged
            level += 1
        return paths


def _read_run(path: str, n_runs: int) -> Iterator[pa.Table]:
    batch = max(1024, MERGE_ROWS // max(n_runs, 1))
    # one thread: a generator left unfinished must not leave Arrow's pool reading
    # (a hang was seen in such a reader's Arrow thread once)
    with pq.ParquetFile(path) as run:
        for rb in run.iter_batches(batch_size=batch, use_threads=False):
            yield pa.Table.from_batches([rb])


def merge_runs(runs: Sequence[Iterator[pa.Table]]) -> Iterator[pa.Table]:
    """Merge tables sorted by ID, batch by batch: each batch yielded is sorted and
    every ID in it is at most every ID of the batches after it."""
    buffers: list[pa.Table | None] = [None] * len(runs)
    done = [False] * len(runs)

    def refill(k: int) -> None:
        while not done[k] and (buffers[k] is None or len(buffers[k]) == 0):  # type: ignore[arg-type]
            nxt = next(runs[k], None)
            if nxt is None:
                done[k] = True
                buffers[k] = None
            else:
                buffers[k] = nxt

    for k in range(len(runs)):
        refill(k)
    while True:
        live = [k for k in range(len(runs)) if buffers[k] is not None and len(buffers[k])]  # type: ignore[arg-type]
        if not live:
            return
        # rows up to the smallest last ID among runs that have more to come are final
        pending = [buffers[k].column("id")[-1].as_py() for k in live if not done[k]]  # type: ignore[union-attr]
        bound = min(pending) if pending else None
        taken = []
        for k in live:
            buf = buffers[k]
            assert buf is not None
            if bound is None:
                n = len(buf)
            else:
                n = int(pc.sum(pc.less_equal(buf.column("id"), bound)).as_py() or 0)
            if n:
                taken.append(buf.slice(0, n))
                buffers[k] = buf.slice(n)
            refill(k)
        if taken:
            yield sort_run(pa.concat_tables(taken))


class _Output:
    """Rows in final order -> row groups of `ROW_GROUP` rows with ``dup`` flags,
    their first/last IDs and CRCs, and the duplicate report."""

    def __init__(self, writer: pq.ParquetWriter, arrow_schema: pa.Schema, sample: int) -> None:
        self.writer = writer
        self.schema = arrow_schema
        self.carry: pa.Table | None = None
        self.pending: list[pa.Table] = []
        self.n_pending = 0
        self.groups: list[dict[str, Any]] = []
        self.duplicates = Duplicates()
        self.sample = sample
        self.n_rows = 0

    def add(self, table: pa.Table) -> None:
        if self.carry is not None and len(self.carry):
            table = sort_run(pa.concat_tables([self.carry, table]))
        if not len(table):
            return
        ids = table.column("id")
        last = ids[-1]
        # hold back the rows of the last ID: more of it may come in the next batch
        tail = int(pc.sum(pc.equal(ids, last)).as_py() or 0)
        self.carry = table.slice(len(table) - tail)
        self._flag(table.slice(0, len(table) - tail))

    def _flag(self, table: pa.Table) -> None:
        n = len(table)
        if not n:
            return
        ids = table.column("id").combine_chunks()
        same = np.zeros(n + 1, dtype=bool)  # same[i]: row i has the ID of row i - 1
        if n > 1:
            same[1:n] = pc.equal(ids.slice(1), ids.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        dup = same[:n] | same[1:]
        if dup.any():
            self._report(table, same, dup)
        self.pending.append(
            table.append_column(pa.field("dup", pa.bool_(), nullable=False), pa.array(dup))
        )
        self.n_pending += n
        while self.n_pending >= ROW_GROUP:
            self._write(ROW_GROUP)

    def _report(
        self, table: pa.Table, same: npt.NDArray[np.bool_], dup: npt.NDArray[np.bool_]
    ) -> None:
        starts = np.flatnonzero(dup & ~same[: len(dup)])
        self.duplicates.count += len(starts)
        room = self.sample - len(self.duplicates.sample)
        if room <= 0:
            return
        stores = table.column("store").to_numpy()
        ids = table.column("id")
        for s in starts[:room].tolist():
            e = s + 1
            while e < len(dup) and same[e]:
                e += 1
            self.duplicates.sample.append((ids[s].as_py(), stores[s:e].tolist()))

    def _write(self, n: int) -> None:
        table = pa.concat_tables(self.pending)
        group, rest = table.slice(0, n), table.slice(n)
        self.pending = [rest] if len(rest) else []
        self.n_pending = len(rest)
        group = group.combine_chunks()
        self.writer.write_table(group, row_group_size=n)
        ids = group.column("id")
        self.groups.append(
            {
                "rows": len(group),
                "first": ids[0].as_py(),
                "last": ids[-1].as_py(),
                "crc32": digest(group),
            }
        )
        self.n_rows += len(group)

    def finish(self) -> None:
        if self.carry is not None and len(self.carry):
            carry, self.carry = self.carry, None
            self._flag(carry)
        if self.n_pending:
            self._write(self.n_pending)


def write_index(
    out: Path,
    stores_of: Callable[[], Sequence[StoreEntry]],
    runs_of: Callable[[_Runs], Iterable[Iterator[pa.Table]]],
    *,
    count_names: Sequence[str],
    schema_text: str,
    work_dir: str | None = None,
) -> Duplicates:
    """Write the index file `out` (atomically: a hidden sibling renamed into place).

    `runs_of(spiller)` spills the new stores' rows through ``spiller.spill`` and
    returns extra sorted runs (e.g. the kept rows of an old index); `stores_of()`
    then gives the stores, in collection order.
    """
    arrow_schema = _arrow_schema(count_names)
    full_schema = arrow_schema.append(pa.field("dup", pa.bool_(), nullable=False))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(
        prefix=f".{out.name}.runs-", dir=work_dir or out.parent
    ) as tmp:
        spiller = _Runs(tmp, arrow_schema)
        extra = list(runs_of(spiller))
        stores = stores_of()
        paths = spiller.reduce()
        n_runs = len(paths) + len(extra)
        partial = out.parent / f".{out.name}.partial-{os.getpid()}"
        try:
            with pq.ParquetWriter(
                partial, full_schema, compression="zstd", write_page_checksum=True
            ) as writer:
                output = _Output(writer, full_schema, DUP_SAMPLE)
                iters = [_read_run(p, n_runs) for p in paths] + extra
                for table in merge_runs(iters):
                    output.add(table.select(arrow_schema.names).cast(arrow_schema))
                output.finish()
                meta = {
                    "format": "xsz.collection",
                    "version": INDEX_VERSION,
                    "schema": schema_text,
                    "stores": [
                        {"location": s.location, "n_reads": s.n_reads, "stamp": s.stamp}
                        for s in stores
                    ],
                    "counts": list(count_names),
                    "n_reads": output.n_rows,
                    "row_groups": output.groups,
                    "duplicates": {
                        "count": output.duplicates.count,
                        "sample": [[i, s] for i, s in output.duplicates.sample],
                    },
                }
                writer.add_key_value_metadata({META_KEY: _sealed(meta)})
            expected = sum(s.n_reads for s in stores)
            if output.n_rows != expected:  # pragma: no cover - a bug, not bad input
                raise SZFormatError(
                    f"{out}: the index got {output.n_rows} rows for {expected} reads"
                )
            os.replace(partial, out)
        finally:
            if partial.exists():
                partial.unlink()
    return output.duplicates


def _sealed(meta: dict[str, Any]) -> bytes:
    body = json.dumps(meta, separators=(",", ":"), sort_keys=True)
    return json.dumps(
        {"crc32": zlib.crc32(body.encode()), "body": body}, separators=(",", ":")
    ).encode()


# --- reading ---------------------------------------------------------------------------


class IndexFile:
    """An index file, opened: its metadata checked, its row groups read on demand.

    `path` is a local path or a URL (``s3://``, ``gs://``, ``az://``,
    ``http(s)://``, ``file://``; obstore settings in `storage_options`). In
    object storage it is read through `xsz.source.ObjectFile`: opening is one GET
    of the file's last MiB (the footer is parsed from it), each lookup fetches
    only the row groups it needs (`PREFETCH` at a time), and every GET is pinned
    to the version seen at open, so an index replaced meanwhile raises
    `SZFormatError` ("changed since it was opened").

    Raises `SZFormatError` when `path` is not an xsz collection index, or is
    damaged (the message names what).
    """

    def __init__(
        self, path: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
    ) -> None:
        self.path: Path | str = index_location(path)
        self.remote: ObjectFile | None = None
        """The object read through, for an index in object storage (counts its GETs)."""
        try:
            if isinstance(self.path, str):  # object storage: range GETs of one version
                from xsz.source import ObjectFile

                self.remote = ObjectFile(self.path, storage_options)
                self._file = pq.ParquetFile(
                    self.remote,
                    metadata=_footer(self.remote),
                    page_checksum_verification=True,
                    # no pre_buffer (its reads run on pyarrow's I/O threads, calling into
                    # Python): `_prefetched` fetches each row group's bytes in one GET
                )
            else:
                self._file = pq.ParquetFile(self.path, page_checksum_verification=True)
            raw = (self._file.metadata.metadata or {}).get(META_KEY)
        except FileNotFoundError:
            raise SZFormatError(f"no collection index at {self.path}") from None
        except (OSError, pa.ArrowException) as exc:
            raise self._bad(f"not a Parquet file ({exc})") from exc
        if raw is None:
            raise self._bad("a Parquet file without xsz's collection metadata")
        meta = self._unseal(raw)
        try:
            if meta["format"] != "xsz.collection" or meta["version"] != INDEX_VERSION:
                raise self._bad(f"format {meta['format']!r} version {meta['version']!r}")
            self.schema_text: str = str(meta["schema"])
            self.stores = [
                StoreEntry(str(s["location"]), int(s["n_reads"]), list(s["stamp"]))
                for s in meta["stores"]
            ]
            self.count_names: list[str] = [str(n) for n in meta["counts"]]
            self.n_reads: int = int(meta["n_reads"])
            self.groups: list[dict[str, Any]] = list(meta["row_groups"])
            dup = meta["duplicates"]
            self.duplicates = Duplicates(
                int(dup["count"]), [(str(i), [int(x) for x in s]) for i, s in dup["sample"]]
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad(f"its metadata lacks or garbles {exc}") from exc
        n_rows = sum(int(g["rows"]) for g in self.groups)
        if (
            n_rows != self.n_reads
            or self.n_reads != sum(s.n_reads for s in self.stores)
            or self._file.metadata.num_rows != n_rows
            or self._file.metadata.num_row_groups != len(self.groups)
        ):
            raise self._bad(
                f"it counts {self.n_reads} reads, its stores {sum(s.n_reads for s in self.stores)}, "
                f"its row groups {n_rows} ({self._file.metadata.num_rows} in "
                f"{self._file.metadata.num_row_groups} Parquet row groups)"
            )
        self.arrow_schema = _arrow_schema(self.count_names).append(
            pa.field("dup", pa.bool_(), nullable=False)
        )
        self.firsts = np.array([g["first"] for g in self.groups], dtype=object)
        self.lasts = np.array([g["last"] for g in self.groups], dtype=object)

    def _bad(self, problem: str) -> SZFormatError:
        return SZFormatError(
            f"{self.path} is not a valid xsz collection index: {problem}; build it again "
            "(xsz.collection.build_index with rebuild=True)"
        )

    def _unseal(self, raw: bytes) -> dict[str, Any]:
        try:
            outer = json.loads(raw)
            body = outer["body"]
            sealed = zlib.crc32(body.encode()) == outer["crc32"]
            meta = json.loads(body) if sealed else None
        except (ValueError, KeyError, TypeError, UnicodeError, AttributeError) as exc:
            raise self._bad(f"its metadata is garbled ({exc})") from exc
        if not sealed:
            raise self._bad("its metadata does not match its CRC-32 (changed bytes)")
        if not isinstance(meta, dict):
            raise self._bad("its metadata is not a JSON object")
        return meta

    @classmethod
    def if_there(
        cls, path: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
    ) -> IndexFile | None:
        """The index at `path` opened, ``None`` when there is no file (object) there."""
        try:
            return cls(path, storage_options)
        except SZFormatError as exc:
            if str(exc).startswith("no collection index at "):
                return None
            raise

    def read_group(self, k: int, columns: Sequence[str] | None = None) -> pa.Table:
        """Row group `k`, checked against its CRC-32 (all columns are read for that)."""
        try:
            # a file read through Python (object storage): no decoding threads; pyarrow's
            # pool threads that called into Python can abort the process at its exit
            # ("terminate called without an active exception", 7 runs of 12)
            table = self._file.read_row_group(k, use_threads=self.remote is None)
        except SZFormatError:  # the remote file changed since it was opened
            raise
        except (OSError, pa.ArrowException, KeyError, ValueError, TypeError) as exc:
            raise self._bad(f"row group {k} does not read ({exc})") from exc
        if not table.schema.equals(self.arrow_schema):
            raise self._bad(f"row group {k} has the columns {table.schema.names}")
        group = self.groups[k]
        if len(table) != int(group["rows"]) or digest(table) != int(group["crc32"]):
            raise self._bad(f"row group {k} does not match its CRC-32 (changed bytes)")
        ids = table.column("id")
        if len(table) and (ids[0].as_py() != group["first"] or ids[-1].as_py() != group["last"]):
            raise self._bad(f"row group {k} does not hold the IDs its metadata names")
        stores = table.column("store").to_numpy()
        if len(stores) and int(stores.max()) >= len(self.stores):
            raise self._bad(f"row group {k} names store {int(stores.max())} of {len(self.stores)}")
        return table.select(list(columns)) if columns is not None else table

    def lookup(
        self, read_ids: Iterable[object], *, on_duplicate: str = "error"
    ) -> tuple[list[str], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """``(ids, stores, rows)`` of the distinct `read_ids`, sorted by ID.

        Reads only the row groups that can hold them. Raises `ReadNotFoundError`
        for an ID the collection lacks, `DuplicateReadError` for one it holds
        more than once unless `on_duplicate` is ``"first"`` (the first store of
        the collection that has it).
        """
        wanted = np.array(sorted({str(i) for i in read_ids}), dtype=object)
        n = len(wanted)
        stores = np.zeros(n, dtype=np.int64)
        rows = np.zeros(n, dtype=np.int64)
        if not n:
            return [], stores, rows
        if not len(self.groups):
            raise ReadNotFoundError(
                f"no read with ID {wanted[0]!r} in the collection (it is empty)"
            )
        where = np.searchsorted(self.firsts, wanted, side="left")
        k = where - 1
        at_first = where < len(self.groups)
        at_first[at_first] = self.firsts[where[at_first]] == wanted[at_first]
        back = at_first & (where > 0)
        back[back] = self.lasts[where[back] - 1] == wanted[back]
        k[at_first & ~back] = where[at_first & ~back]
        if (k < 0).any():
            raise self._missing(wanted[k < 0])
        for g in self._prefetched(np.unique(k).tolist()):
            sel = np.flatnonzero(k == g)
            table = self.read_group(g)
            found = _positions(table.column("id"), wanted[sel])
            if (found < 0).any():
                raise self._missing(wanted[sel][found < 0])
            pos = found
            dup = table.column("dup").to_numpy(zero_copy_only=False)[pos]
            if dup.any() and on_duplicate != "first":
                rid = wanted[sel][dup][0]
                holders = self._holders(str(rid), g)
                raise DuplicateReadError(
                    f"read {rid!r} is in more than one store of the collection: "
                    + ", ".join(self.stores[s].location for s in holders)
                    + " (on_duplicate='first' takes the first; `xsz index` lists them all)",
                    read_id=rid,
                )
            stores[sel] = table.column("store").to_numpy()[pos]
            rows[sel] = table.column("row").to_numpy()[pos]
        bad = rows >= np.array([s.n_reads for s in self.stores], dtype=np.int64)[stores]
        if bad.any():
            raise self._bad(f"read {wanted[bad][0]!r} has a row past its store's end")
        return wanted.tolist(), stores, rows

    def _holders(self, rid: str, g: int) -> list[int]:
        holders: list[int] = []
        last = int(np.searchsorted(self.firsts, rid, side="right"))
        for k in self._prefetched(range(g, max(last, g + 1))):
            if self.firsts[k] > rid:
                break
            table = self.read_group(k, ["id", "store"])
            mask = pc.equal(table.column("id"), rid).to_numpy(zero_copy_only=False)
            holders += table.column("store").to_numpy()[mask].tolist()
        return holders

    def _missing(self, ids: npt.NDArray[Any]) -> ReadNotFoundError:
        more = f" (and {len(ids) - 1} more)" if len(ids) > 1 else ""
        return ReadNotFoundError(f"no read with ID {ids[0]!r} in the collection{more}")

    def batches(self) -> Iterator[pa.Table]:
        """Every row group in order, checked."""
        for k in self._prefetched(range(len(self.groups))):
            yield self.read_group(k)

    def _prefetched(self, groups: Iterable[int]) -> Iterator[int]:
        """`groups`, in order; for an index in object storage, the bytes of each window of
        `PREFETCH` of them fetched at once (concurrent range GETs) before they are
        yielded, and dropped after (memory: one window of row groups)."""
        order = list(groups)
        if self.remote is None:
            yield from order
            return
        meta = self._file.metadata
        for at in range(0, len(order), PREFETCH):
            window = order[at : at + PREFETCH]
            spans = [_group_span(meta.row_group(g)) for g in window]
            self.remote.prefetch([a for a, _ in spans], [b for _, b in spans])
            try:
                yield from window
            finally:
                self.remote.drop_prefetched()

    def __enter__(self) -> IndexFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the file; idempotent."""
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()
        if self.remote is not None:
            self.remote.close()


def _group_span(group: pq.RowGroupMetaData) -> tuple[int, int]:
    """The bytes ``[start, stop)`` of a row group's column chunks in the file."""
    starts, stops = [], []
    for c in range(group.num_columns):
        chunk = group.column(c)
        start = chunk.data_page_offset
        if chunk.has_dictionary_page and chunk.dictionary_page_offset is not None:
            start = min(start, chunk.dictionary_page_offset)
        starts.append(start)
        stops.append(start + chunk.total_compressed_size)
    return min(starts), max(stops)


def _footer(remote: ObjectFile) -> pq.FileMetaData | None:
    """The Parquet footer of `remote` parsed from the bytes fetched at open (so that
    opening costs no second GET); ``None`` when it is not all there."""
    tail = remote.tail
    if len(tail) < 12 or tail[-4:] != b"PAR1":
        return None
    size = int.from_bytes(tail[-8:-4], "little") + 8
    if size > len(tail):
        return None
    return pq.read_metadata(pa.BufferReader(b"PAR1" + tail[len(tail) - size :]))


def _positions(ids: pa.ChunkedArray, wanted: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Where each of `wanted` (sorted str) first is among `ids` (a row group's IDs,
    sorted), -1 where it is not. IDs of one length in ASCII (UUIDs, say) are
    searched as fixed-width bytes, without a Python object per ID; others hashed."""
    chunk = ids.combine_chunks() if ids.num_chunks != 1 else ids.chunk(0)
    if len(chunk) and len(wanted):
        offsets = np.frombuffer(chunk.buffers()[1], np.int32)[
            chunk.offset : chunk.offset + len(chunk) + 1
        ]
        width = int(offsets[1] - offsets[0])
        data = chunk.buffers()[2]
        if width > 0 and data is not None and bool((np.diff(offsets) == width).all()):
            try:
                query = np.array(wanted.tolist(), dtype=f"S{width}")
            except UnicodeEncodeError:
                query = None
            if query is not None:
                keys = np.frombuffer(data, f"S{width}", len(chunk), int(offsets[0]))
                ok = np.array([len(w) == width for w in wanted.tolist()])
                at = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
                hit = ok & (keys[at] == query)
                return np.where(hit, at, -1).astype(np.int64)
    found = pc.index_in(pa.array(wanted.tolist(), pa.string()), value_set=ids)
    return np.asarray(pc.fill_null(found, -1).to_numpy(), dtype=np.int64)
