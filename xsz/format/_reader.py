"""`SZReader`: random access to the reads of an SZ store, by row or by read ID.

Reads are located through the parsed index and fetched from the store's byte
source (`xsz.source`): ``os.pread`` on a local store, range GETs on object
storage; any number of threads may read at once. A batch of reads is fetched
with few requests: the byte ranges of neighbouring reads are coalesced into one
read when the gap between them is small.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import zstandard

from xsz.codec import (
    decode_array,
    decode_blocks_into,
    decode_into,
    decode_text,
    max_content_size,
)
from xsz.errors import (
    CodecError,
    FieldNotFoundError,
    ReadNotFoundError,
    RowOutOfRangeError,
    SZFormatError,
)
from xsz.format._checksums import crc32, read_checksums
from xsz.format._coalesce import coalesce
from xsz.format._index import check_ranges, index_from_table, read_index
from xsz.format._records import has_checksum
from xsz.format._table import TABLE, IndexTable, Unusable, index_stamp, read_table_head
from xsz.source import ByteSource, LocalSource, open_source

if TYPE_CHECKING:
    from collections.abc import Buffer, Callable, Iterable, Mapping, Sequence
    from pathlib import Path

    import numpy.typing as npt

    from xsz.format._checksums import Checksums
    from xsz.format._index import SZIndex
    from xsz.format._pick import PickedStore
    from xsz.format._schema import Field, Schema
    from xsz.source import Location

__all__ = ["SZReader", "check_store"]

log = logging.getLogger(__name__)

_HEADER_BYTES: Final = 18  # the largest zstd frame header
_NO_CHECKSUM: Final = "the frame carries no zstd checksum, though every frame of this store does"
_MAX_FRAME: Final = 3 << 40
_VALUES_PER_BYTE: Final = max_content_size(3) * 4 // 15
"""At least this many values fit each byte of any frame (1.25 bytes a value):
counts under it need no exact bound."""
_HASH_BLOCK: Final = 1 << 23
"""Bytes of the index read at a time to hash it (without holding it all)."""
PARTS_PER_THREAD = 2
"""`SZReader.read_into` with threads cuts the reads into this many parts of about
equal bytes per thread, heaviest first: enough that one long read does not leave
a thread idle; more cost more than they balance (``bench/bench_format.py
--parts-per-thread``)."""
PART_BYTES = 1 << 23
"""Nor are more frame bytes than this fetched and decoded at a time (unless one read
has more): the frames of a selection of gigabytes are not all held in memory
beside the values they decode to."""


def check_store(path: Location, storage_options: Mapping[str, Any] | None = None) -> None:
    """Raise `SZFormatError` unless `path` is a store holding ``index`` and ``dat``."""
    open_source(path, storage_options).close()


class SZReader:
    """Read an SZ store: attributes, frames and decoded datasets, by row or ID.

    Parameters
    ----------
    path
        The SZ store: a directory holding ``index`` and ``dat``, or the URL of
        one in object storage (``s3://``, ``gs://``, ``az://``, ``http(s)://``,
        ``file://``), or an open `xsz.source.ByteSource`.
    storage_options
        Settings for obstore when `path` is a URL (by default, the environment's).

    Notes
    -----
    Rows are the lines of the index in file order. Thread-safe; pickles by
    location (path or URL + options; the copy re-opens the store). Use as a
    context manager or call `close`.
    """

    def __init__(
        self, path: Location | ByteSource, storage_options: Mapping[str, Any] | None = None
    ) -> None:
        self._start(path, storage_options)
        try:
            self.dat_size: int = self.source.size("dat") or 0
            self.checksums: Checksums | None = read_checksums(self.source)
            """The store's ``checksums`` file (``None`` for stores without one, as pysz's)."""
            index = self._index_from_table()
            if index is None:
                data = self.source.read("index")
                if self.checksums is not None:
                    self.checksums.check_index(data, f"{self.path}/index")
                index = read_index(data, where=f"{self.path}/index")
            self.index: SZIndex = index
            if self.checksums is not None:
                self._check_checksums(self.checksums)
            check_ranges(self.index, self.dat_size, self.path)
            self._check_counts()
        except BaseException:
            self.source.close()
            raise

    def _index_from_table(self) -> SZIndex | None:
        """The index read from the store's ``table`` file, when it has one that stands
        for its index (`xsz.format._table`); the index is hashed, not parsed."""
        if not isinstance(self.source, LocalSource):
            return None
        head = read_table_head(self.source)
        if head is None:
            return None
        fd, where = self.source.fileno("index"), f"{self.path}/index"
        unchanged = index_stamp(os.fstat(fd)) == head.index_stamp
        with ThreadPoolExecutor(1, thread_name_prefix="xsz-hash") as pool:
            # the index is hashed (while the table is read here) unless its file is
            # the very one the table was made from
            hashed = None if unchanged else pool.submit(_hash_file, fd)
            try:
                index = index_from_table(_first_lines(fd), IndexTable(self.source, head), where)
            except (Unusable, SZFormatError) as exc:  # the text then says what is wrong
                log.warning("%s/%s is ignored: %s", self.path, TABLE, exc)
                index = None
            size, crc = hashed.result() if hashed else (head.index_bytes, head.index_crc32)
        if self.checksums is not None:
            self.checksums.check_index_crc(size, crc, where)
        if (size, crc) != (head.index_bytes, head.index_crc32):
            log.warning("%s/%s is ignored: it was made from another index", self.path, TABLE)
            return None
        return index

    def check_table(self) -> None:
        """Raise `SZFormatError` unless the store's ``table`` file, which this reader
        was opened from, holds exactly what its index text does (the text parsed,
        every section of the table read and checked against its CRC-32s). Nothing
        to check for a reader opened from the text."""
        if not self.index.from_table:
            return
        data = self.source.read("index")
        if self.checksums is not None:  # an open from the table need not hash the index
            self.checksums.check_index(data, f"{self.path}/index")
        text = read_index(data, where=f"{self.path}/index")
        ours = self.index
        pairs = [("LENGTH", ours.length, text.length), ("OFFSET", ours.offset, text.offset)]
        for f in self.schema.datasets:
            pairs.append((f"{f.name} sizes", ours.frame_size[f.name], text.frame_size[f.name]))
            if f.has_count:
                pairs.append((f"{f.name} counts", ours.count[f.name], text.count[f.name]))
        pairs += [
            (f"attribute {f.name!r}", ours.attribute(f.name), text.attribute(f.name))
            for f in self.schema.attributes
        ]
        ids = text.ids().tolist()
        pairs.append(("the rows of its read IDs", ours.find(ids), text.find(ids)))
        for what, a, b in pairs:
            same = a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
            if not same:
                raise SZFormatError(
                    f"{self.path}/{TABLE}: {what} differ from the index's: the table was "
                    "changed (remove it, and the store is read from its index)"
                )
        if ours.ids_unique != text.ids_unique:
            raise SZFormatError(f"{self.path}/{TABLE}: says its read IDs are unique wrongly")

    def _start(
        self, path: Location | ByteSource, storage_options: Mapping[str, Any] | None = None
    ) -> None:
        self.source = path if isinstance(path, ByteSource) else open_source(path, storage_options)
        self.path: Path | str = (
            self.source.path if isinstance(self.source, LocalSource) else self.source.location
        )
        """The store's path (a `Path`), or its URL (a str) in object storage."""
        self._lock = threading.RLock()
        self._pool: ThreadPoolExecutor | None = None
        self._float_counts: dict[str, npt.NDArray[np.int64]] = {}
        self._frame_crcs: npt.NDArray[np.uint32] | None = None
        self._rows: npt.NDArray[np.int64] | None = None
        """The store's row of each row of `index`, when it holds some rows only."""

    @classmethod
    def over_index(cls, path: Location, index: SZIndex) -> SZReader:
        """A reader of `path`'s ``dat`` through `index` (parsed by the caller, e.g.
        the lines of a damaged index that survive), trusting nothing else of the
        store: its ``checksums`` file is ignored, and no read's byte range or
        counts are checked until it is read (`frames` and `decode` check them)."""
        self = cls.__new__(cls)
        self._start(path)
        self.dat_size = self.source.size("dat") or 0
        self.checksums = None
        self.index = index
        return self

    @classmethod
    def over_picked(cls, picked: PickedStore, index: SZIndex) -> SZReader:
        """A reader of the rows `pick` took out of a store: `index` is their lines
        parsed (its row ``j`` is the store's row ``picked.rows[j]``, which messages
        name). Every check of opening the store is made on them: byte ranges
        against ``dat``, counts against frame sizes, and, when the store promises
        them, zstd checksums in every frame decoded (`check_frames` checks the
        CRC-32s of the ``checksums`` file). The reader takes over
        ``picked.source`` (`close` closes it).
        """
        if len(index) != len(picked.rows) or picked.checksums is None:
            raise ValueError("the index must be the picked rows' lines, of a store picked")
        self = cls.__new__(cls)
        self._start(picked.source)
        self.dat_size = picked.dat_size
        self.checksums = picked.checksums
        self.index = index
        self._frame_crcs = picked.crcs
        self._rows = picked.rows
        check_ranges(self.index, self.dat_size, self.path)
        self._check_counts()
        return self

    def _check_checksums(self, checksums: Checksums) -> None:
        names = tuple(f.name for f in self.schema.datasets)
        if checksums.datasets != names:
            raise SZFormatError(
                f"{self.path}/checksums lists the datasets {list(checksums.datasets)}, "
                f"the index {list(names)}"
            )

    def _check_counts(self) -> None:
        """Refuse element counts no frame of its size can hold, before anything is
        allocated for them, and zero counts whose frame is not empty."""
        for f in self.schema.datasets:
            if not f.has_count:
                continue
            counts, sizes = self.index.count[f.name], self.index.frame_size[f.name]
            frames = np.minimum(sizes, _MAX_FRAME)  # bounded as `read_index` bounds them
            suspect = np.flatnonzero(counts > frames * _VALUES_PER_BYTE)  # a quick sieve
            bad = suspect[counts[suspect] > max_content_size(frames[suspect]) * 4 // 5]
            if len(bad):
                row = int(bad[0])
                raise self._corrupt(
                    row, f, f"{counts[row]} values cannot fit a frame of {sizes[row]} bytes"
                )
            # an empty frame takes 9 bytes (13 with its checksum); others must decode to nothing
            for row in np.flatnonzero((counts == 0) & (sizes != 9) & (sizes != 13)).tolist():
                try:
                    decode_array(self._fetch_one(row, f), f.dtype, 0)
                except CodecError as exc:
                    raise self._corrupt(
                        row, f, f"the index gives it 0 values, but its frame is not empty ({exc})"
                    ) from exc

    @property
    def frame_checksums(self) -> bool:
        """Whether the store promises zstd's content checksum in every frame."""
        return self.checksums is not None and self.checksums.zstd_checksums

    def frame_crcs(self) -> npt.NDArray[np.uint32] | None:
        """The CRC-32 of every frame, shape ``(n_reads, n_datasets)``, from the
        ``checksums`` file (read once, then kept); ``None`` without one."""
        if self.checksums is None:
            return None
        with self._lock:
            if self._frame_crcs is None:
                self._frame_crcs = self.checksums.frame_crcs(self.source, len(self))
            return self._frame_crcs

    def check_frames(
        self, rows: object, frames: Sequence[Sequence[Buffer]], names: Sequence[str] | None = None
    ) -> None:
        """Raise `SZFormatError` naming the read, dataset and byte range of the first
        of `frames` (as `frames` returns them) whose bytes do not match the CRC-32
        the ``checksums`` file holds for them. Nothing to check without one."""
        table = self.frame_crcs()
        if table is None:
            return
        fields = self._fields(names)
        columns = [[f.name for f in self.schema.datasets].index(f.name) for f in fields]
        for row, row_frames in zip(self.check_rows(rows).tolist(), frames, strict=True):
            for f, column, frame in zip(fields, columns, row_frames, strict=True):
                found = crc32(frame)
                if found != int(table[row, column]):
                    raise self._corrupt(
                        row,
                        f,
                        f"the frame does not match its CRC-32 ({found:08x}, expected "
                        f"{int(table[row, column]):08x}): these bytes were changed",
                    )

    def stamp(self) -> tuple[object, ...]:
        """What identifies the version of the store this reader has open."""
        return self.source.stamp()

    # --- life cycle ------------------------------------------------------------------

    def close(self) -> None:
        """Release the files and threads; idempotent."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            self.source.close()

    def __enter__(self) -> SZReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"source": self.source}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["source"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"<SZReader {str(self.path)!r}: {len(self)} reads>"

    # --- what the store holds --------------------------------------------------------

    def __len__(self) -> int:
        return self.index.n_reads

    @property
    def header(self) -> dict[str, Any]:
        return self.index.header

    @property
    def schema(self) -> Schema:
        return self.index.schema

    @property
    def ids(self) -> np.ndarray[Any, Any]:
        """Read IDs in row order (row positions when the schema has no ``ID``)."""
        return self.index.ids()

    def row(self, read_id: object) -> int:
        """The row of one read ID; `ReadNotFoundError` if the store has none."""
        return int(self.rows([read_id])[0])

    def rows(self, read_ids: Iterable[object]) -> npt.NDArray[np.int64]:
        """The rows of several read IDs, in the order given."""
        ids = list(read_ids)
        found = self.index.find(ids)
        if len(found) and found.min() < 0:
            missing = [ids[k] for k in np.flatnonzero(found < 0).tolist()]
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise ReadNotFoundError(f"{self.path}: no read with ID {missing[0]!r}{more}")
        if not self.index.ids_unique:
            self._refuse_duplicates(ids)
        return found

    def _refuse_duplicates(self, ids: list[object]) -> None:
        all_ids = self.ids
        for read_id in ids:
            hits = np.flatnonzero(all_ids == read_id)
            if len(hits) > 1:
                raise SZFormatError(
                    f"{self.path}: read ID {read_id!r} appears at rows {hits.tolist()[:10]}; "
                    "address these reads by row"
                )

    def check_rows(self, rows: object) -> npt.NDArray[np.int64]:
        """Rows as an int64 array (negative counts from the end); range-checked."""
        arr = np.asarray(rows)
        if arr.dtype == bool:
            if arr.shape != (len(self),):
                raise RowOutOfRangeError(
                    f"boolean mask of length {arr.size} for a store of {len(self)} reads"
                )
            return np.flatnonzero(arr).astype(np.int64)
        if arr.size and arr.dtype.kind not in "iu":
            raise TypeError(f"rows must be integers, got {arr.dtype}")
        arr = arr.astype(np.int64, copy=False).reshape(-1)
        n = len(self)
        if arr.size and (arr.min() < -n or arr.max() >= n):
            bad = int(arr[(arr < -n) | (arr >= n)][0])
            raise RowOutOfRangeError(f"{self.path}: row {bad} is out of range for {n} reads")
        return np.where(arr < 0, arr + n, arr)

    def check_row(self, row: object) -> int:
        """One row as a non-negative int; range-checked."""
        if isinstance(row, int | np.integer) and not isinstance(row, bool | np.bool_):
            n = len(self)
            if -n <= row < n:
                return int(row) % n
            raise RowOutOfRangeError(f"{self.path}: row {row} is out of range for {n} reads")
        raise TypeError(f"a row is an int, got {type(row).__name__}")

    def attributes(self, row: int) -> dict[str, Any]:
        """The attributes of one read, typed."""
        return {f.name: self.index.value(f.name, row) for f in self.schema.attributes}

    def counts(self, name: str) -> npt.NDArray[np.int64]:
        """Element counts of a numeric dataset for every read.

        Streamvbyte types have them in the index; float datasets are counted from
        the content size in each frame's header, read once and cached.
        """
        f = self._dataset(name)
        if f.has_count:
            return self.index.count[name]
        if f.is_text:
            raise TypeError(f"dataset {name!r} holds text (one str per read), not counts")
        cached = self._float_counts.get(name)
        if cached is None:
            sizes = self.content_sizes(name)
            bad = np.flatnonzero(sizes % f.dtype.itemsize)
            if len(bad):
                row = int(bad[0])
                raise self._corrupt(row, f, f"{sizes[row]} bytes is not a whole number of values")
            cached = self._float_counts[name] = sizes // f.dtype.itemsize
        return cached

    def content_sizes(self, name: str) -> npt.NDArray[np.int64]:
        """Decoded payload bytes of every read's `name` frame, from the frame headers
        (one small coalesced read per frame; frames without a recorded size are
        decoded)."""
        f = self._dataset(name)
        starts = self.index.frame_offset[name]
        ends = starts + np.minimum(self.index.frame_size[name], _HEADER_BYTES)
        out = np.empty(len(self), dtype=np.int64)
        for row, view in enumerate(self.fetch(starts, ends)):
            try:
                size = zstandard.frame_content_size(view)
            except zstandard.ZstdError as exc:
                raise self._corrupt(row, f, f"bad zstd frame header: {exc}") from exc
            if size < 0:  # not recorded: decode to know
                value = self._decode(f, self._fetch_one(row, f), row)
                size = len(value.encode("utf-8")) if f.is_text else value.nbytes
            out[row] = size
        return out

    def _dataset(self, name: str) -> Field:
        f = self.schema.by_name.get(name)
        if f is None or f.group != "D":
            what = "an attribute, not a dataset" if f is not None else "not a dataset of it"
            names = ", ".join(d.name for d in self.schema.datasets) or "none"
            raise FieldNotFoundError(f"{self.path}: {name!r} is {what}; its datasets: {names}")
        return f

    # --- bytes -----------------------------------------------------------------------

    def pread(self, size: int, offset: int) -> bytes:
        """The bytes ``dat[offset:offset + size]``: one ``os.pread`` (one range GET
        in object storage), thread-safe.

        Raises `SZFormatError` when ``dat`` ends before them.
        """
        return self._pread(size, offset)

    def _pread(self, size: int, offset: int) -> bytes:
        return self.source.read("dat", offset, size)

    def _preads(self, groups: list[tuple[int, int, list[int]]]) -> list[bytes]:
        """The bytes of the coalesced reads `groups` (as `coalesce` yields them): one
        batch for a source that fetches concurrently, one `_pread` each otherwise."""
        if self.source.concurrent and len(groups) > 1:
            return self.source.read_ranges(
                "dat", [lo for lo, _, _ in groups], [hi for _, hi, _ in groups]
            )
        return [self._pread(hi - lo, lo) for lo, hi, _ in groups]

    def fetch(self, starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]) -> list[memoryview]:
        """The bytes ``dat[starts[i]:ends[i]]`` for every i, with coalesced preads."""
        out: list[memoryview] = [memoryview(b"")] * len(starts)
        first, last = starts.tolist(), ends.tolist()
        groups = list(coalesce(starts, ends, self.source.gap))
        for (lo, _, members), data in zip(groups, self._preads(groups), strict=True):
            block = memoryview(data)
            for k in members:
                out[k] = block[first[k] - lo : last[k] - lo]
        return out

    def fetch_blocks(
        self, starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
    ) -> tuple[
        list[tuple[bytes, npt.NDArray[np.int64], npt.NDArray[np.int64]]], npt.NDArray[np.int64]
    ]:
        """Like `fetch`, but whole coalesced reads: ``[(bytes, starts in it, sizes)]``
        and the order of the ranges across them (``order[j]``: which range is j-th)."""
        blocks, order = [], []
        groups = list(coalesce(starts, ends, self.source.gap))
        for (lo, _, members), data in zip(groups, self._preads(groups), strict=True):
            m = np.asarray(members, dtype=np.int64)
            blocks.append((data, starts[m] - lo, ends[m] - starts[m]))
            order.append(m)
        return blocks, (np.concatenate(order) if order else np.zeros(0, dtype=np.int64))

    def _fetch_one(self, row: int, f: Field) -> bytes:
        start = int(self.index.frame_offset[f.name][row])
        return self._pread(int(self.index.frame_size[f.name][row]), start)

    def frames(self, rows: object, names: Sequence[str] | None = None) -> list[list[memoryview]]:
        """The raw frames of `names` (default: every dataset) for each of `rows`."""
        rows_ = self.check_rows(rows)
        fields = self._fields(names)
        if not fields or not len(rows_):
            return [[] for _ in rows_]
        first, last = fields[0].name, fields[-1].name
        starts = self.index.frame_offset[first][rows_]
        ends = self.index.frame_offset[last][rows_] + self.index.frame_size[last][rows_]
        regions = self.fetch(starts, ends)
        result = []
        for row, region in zip(rows_.tolist(), regions, strict=True):
            base = int(self.index.frame_offset[first][row])
            frames = []
            for f in fields:
                lo = int(self.index.frame_offset[f.name][row]) - base
                frames.append(region[lo : lo + int(self.index.frame_size[f.name][row])])
            result.append(frames)
        return result

    def _fields(self, names: Sequence[str] | None) -> list[Field]:
        if names is None:
            return list(self.schema.datasets)
        wanted = {self._dataset(n).name for n in names}
        return [f for f in self.schema.datasets if f.name in wanted]

    # --- decoded reads ---------------------------------------------------------------

    def damage(self, row: int, name: str, problem: object) -> SZFormatError:
        """The error for a damaged frame: `problem`, located by store, read, dataset
        and byte range."""
        return self._corrupt(self.check_row(row), self._dataset(name), problem)

    def _corrupt(self, row: int, f: Field, problem: object) -> SZFormatError:
        rid = self.index.ids()[row]
        start = int(self.index.frame_offset[f.name][row])
        stop = start + int(self.index.frame_size[f.name][row])
        shown = row if self._rows is None else int(self._rows[row])
        return SZFormatError(
            f"{self.path}: read {rid!r} (row {shown}), dataset {f.name!r}, "
            f"dat[{start}:{stop}]: {problem}"
        )

    def _decode(self, f: Field, frame: memoryview | bytes, row: int) -> Any:
        if self.frame_checksums and not has_checksum(frame):
            raise self._corrupt(row, f, _NO_CHECKSUM)
        try:
            if f.is_text:
                return decode_text(frame)
            count = int(self.index.count[f.name][row]) if f.has_count else None
            return decode_array(frame, f.dtype, count)
        except CodecError as exc:
            raise self._corrupt(row, f, exc) from exc

    def _check_flags(
        self,
        blocks: list[tuple[bytes, npt.NDArray[np.int64], npt.NDArray[np.int64]]],
        rows: npt.NDArray[np.int64],
        f: Field,
    ) -> None:
        """Refuse a frame whose header lost the checksum flag the store promises (its
        checksum would go unread: zstd takes the 4 bytes for trailing data)."""
        first = 0
        for data, starts, sizes in blocks:
            head = np.frombuffer(data, np.uint8)[np.minimum(starts + 4, len(data) - 1)]
            bad = np.flatnonzero(((head & 0x04) == 0) | (sizes < 5))
            if len(bad):
                raise self._corrupt(int(rows[first + int(bad[0])]), f, _NO_CHECKSUM)
            first += len(starts)

    def decode(
        self, row: int, frames: Sequence[memoryview | bytes], names: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """Read `row` from its `frames` (as `frames` returns them for `names`):
        attributes and decoded datasets, every check of `read` made."""
        r = self.check_row(row)
        out = self.attributes(r)
        for f, frame in zip(self._fields(names), frames, strict=True):
            out[f.name] = self._decode(f, frame, r)
        return out

    def read(self, row: int, names: Sequence[str] | None = None) -> dict[str, Any]:
        """One read: its attributes and the decoded datasets `names` (default all)."""
        r = self.check_row(row)
        fields = self._fields(names)
        out = self.attributes(r)
        if not fields:
            return out
        offsets, sizes = self.index.frame_offset, self.index.frame_size
        base = int(offsets[fields[0].name][r])
        end = int(offsets[fields[-1].name][r] + sizes[fields[-1].name][r])
        region = memoryview(self._pread(end - base, base))
        for f in fields:
            lo = int(offsets[f.name][r]) - base
            out[f.name] = self._decode(f, region[lo : lo + int(sizes[f.name][r])], r)
        return out

    def read_many(
        self, rows: object, names: Sequence[str] | None = None, *, n_threads: int = 1
    ) -> list[dict[str, Any]]:
        """Several reads, in the order asked, decoded by up to `n_threads` threads."""
        rows_ = self.check_rows(rows)
        fields = self._fields(names)
        decoded = self._decode_rows(rows_, fields, n_threads)
        out = []
        for k, row in enumerate(rows_.tolist()):
            record = self.attributes(row)
            for f, value in zip(fields, decoded[k], strict=True):
                record[f.name] = value
            out.append(record)
        return out

    def dataset(self, name: str, rows: object = None, *, n_threads: int = 1) -> list[Any]:
        """One dataset decoded for `rows` (default: all), in the order asked.

        Numeric datasets come back as views into one array filled by `read_into`.
        """
        rows_ = np.arange(len(self)) if rows is None else self.check_rows(rows)
        f = self._dataset(name)
        if f.is_text:
            return [values[0] for values in self._decode_rows(rows_, [f], n_threads)]
        counts = self.counts(name)[rows_]
        out = np.empty(int(counts.sum()), dtype=f.dtype)
        self.read_into(name, rows_, out, n_threads=n_threads)
        ends = np.cumsum(counts).tolist()
        return [out[a:b] for a, b in zip([0, *ends], ends, strict=False)]

    def read_into(
        self,
        name: str,
        rows: npt.NDArray[np.int64],
        out: npt.NDArray[Any],
        positions: npt.NDArray[np.int64] | None = None,
        *,
        n_threads: int = 1,
    ) -> None:
        """Decode the numeric dataset `name` of `rows` straight into `out`.

        Read ``rows[i]`` goes to ``out[positions[i]:][:count]`` (default: one after
        another). Frames are fetched with coalesced preads and decoded in place by
        up to `n_threads` threads; no per-read arrays. Rows may repeat.
        """
        f = self._dataset(name)
        rows = np.asarray(rows, dtype=np.int64)
        counts = self.counts(name)[rows]
        if positions is None:
            positions = np.cumsum(counts) - counts
        offsets, sizes = self.index.frame_offset[name], self.index.frame_size[name]

        def work(k: slice) -> None:
            part = rows[k]
            blocks, order = self.fetch_blocks(offsets[part], offsets[part] + sizes[part])
            self._decode_blocks(f, blocks, part[order], counts[k][order], positions[k][order], out)

        threads = n_threads if len(rows) >= 2 * n_threads else 1
        parts, weight = _parts(sizes[rows], threads)
        if threads <= 1:
            for k in parts:
                work(k)
            return
        parts.sort(key=weight, reverse=True)  # heaviest first: no long part left for the end
        for _ in self._executor(n_threads).map(work, parts):
            pass

    def _decode_blocks(
        self,
        f: Field,
        blocks: list[tuple[bytes, npt.NDArray[np.int64], npt.NDArray[np.int64]]],
        rows: npt.NDArray[np.int64],
        counts: npt.NDArray[np.int64],
        positions: npt.NDArray[np.int64],
        out: npt.NDArray[Any],
    ) -> None:
        """Decode the fetched frames of `f` (`blocks`, as `fetch_blocks` gives them;
        frame i is row ``rows[i]``'s) into ``out[positions[i]:][:counts[i]]``: the
        checksum flags checked, then one batch; a frame that does not decode is
        fetched and decoded alone for the error that names it."""
        if self.frame_checksums:
            self._check_flags(blocks, rows, f)
        try:
            failed = decode_blocks_into(blocks, counts, positions, out)
        except CodecError as exc:  # a frame not within the bytes fetched for its read
            first = 0
            for data, starts, lengths in blocks:
                bad = np.flatnonzero((starts < 0) | (lengths < 0) | (starts > len(data) - lengths))
                if len(bad):
                    raise self._corrupt(int(rows[first + int(bad[0])]), f, exc) from exc
                first += len(starts)
            raise
        if failed >= 0:  # decode it alone, for the error that names it
            row = int(rows[failed])
            p, n = int(positions[failed]), int(counts[failed])
            try:
                decode_into(self._fetch_one(row, f), out[p : p + n])
            except CodecError as exc:
                raise self._corrupt(row, f, exc) from exc
            raise self._corrupt(row, f, "frame did not decode")

    def _decode_rows(
        self, rows: npt.NDArray[np.int64], fields: list[Field], n_threads: int
    ) -> list[list[Any]]:
        # one fetch a part for every field (coalesced: a GET or a few in object
        # storage); streamvbyte datasets decoded a part at a time (one call without
        # the GIL) into one array, a view a read; floats and text read by read
        offsets, sizes = self.index.frame_offset, self.index.frame_size

        def work(part: npt.NDArray[np.int64]) -> list[list[Any]]:
            if not fields or not len(part):
                return [[] for _ in part]
            first, last = fields[0].name, fields[-1].name
            ends = offsets[last][part] + sizes[last][part]
            blocks, order = self.fetch_blocks(offsets[first][part], ends)
            ordered = part[order]  # the rows as the blocks hold them
            which = np.repeat(np.arange(len(blocks)), [len(b[1]) for b in blocks])
            base = np.concatenate([b[1] for b in blocks])  # each region's start in its block
            at = np.empty(len(part), dtype=np.int64)  # where part[i] is among them
            at[order] = np.arange(len(part))
            values: dict[str, list[Any]] = {}
            for f in fields:
                starts = base + offsets[f.name][ordered] - offsets[first][ordered]
                lengths = sizes[f.name][ordered]
                if f.has_count:
                    counts = self.index.count[f.name][part]  # checked against frames at open
                    flat = np.empty(int(counts.sum()), dtype=f.dtype)
                    positions = np.cumsum(counts) - counts
                    split = np.cumsum([0, *[len(b[1]) for b in blocks]])
                    f_blocks = [
                        (data, starts[a:b], lengths[a:b])
                        for (data, _, _), a, b in zip(blocks, split[:-1], split[1:], strict=True)
                    ]
                    self._decode_blocks(f, f_blocks, ordered, counts[order], positions[order], flat)
                    ends_ = np.cumsum(counts).tolist()
                    values[f.name] = [flat[a:b] for a, b in zip([0, *ends_], ends_, strict=False)]
                else:
                    views = [memoryview(data) for data, _, _ in blocks]
                    values[f.name] = [
                        self._decode(
                            f,
                            views[which[j]][starts[j] : starts[j] + lengths[j]],
                            int(ordered[j]),
                        )
                        for j in at.tolist()
                    ]
            return [[values[f.name][i] for f in fields] for i in range(len(part))]

        if not fields:
            return work(rows)
        first, last = fields[0].name, fields[-1].name
        weights = offsets[last][rows] + sizes[last][rows] - offsets[first][rows]
        parts, _ = _parts(weights, n_threads if len(rows) >= 2 else 1, per_thread=4)
        if n_threads <= 1 or len(parts) <= 1:
            return [values for k in parts for values in work(rows[k])]
        result: list[list[Any]] = []
        for chunk in self._executor(n_threads).map(lambda k: work(rows[k]), parts):
            result.extend(chunk)
        return result

    def _executor(self, n_threads: int) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None or self._pool._max_workers != n_threads:
                if self._pool is not None:
                    self._pool.shutdown(wait=False)
                self._pool = ThreadPoolExecutor(n_threads, thread_name_prefix="xsz-read")
            return self._pool


def _parts(
    sizes: npt.NDArray[np.int64], n_threads: int, *, per_thread: int = PARTS_PER_THREAD
) -> tuple[list[slice], Callable[[slice], int]]:
    """Reads whose frames have `sizes` cut into runs of about equal bytes: at least
    `per_thread` a thread when threads share them, none over `PART_BYTES` unless one
    read is; and the bytes of a run."""
    n = len(sizes)
    if not n:
        return [], lambda k: 0
    weight = np.cumsum(sizes)
    total = int(weight[-1])
    n_parts = max(-(-total // PART_BYTES), per_thread * n_threads if n_threads > 1 else 1)
    n_parts = min(n_parts, n)
    cuts = np.searchsorted(weight, np.linspace(0, total, n_parts + 1)[1:-1])
    bounds = [0, *np.unique(cuts + 1).tolist(), n]
    parts = [slice(a, b) for a, b in itertools.pairwise(bounds) if b > a]
    return parts, lambda k: int(weight[k.stop - 1] - (weight[k.start - 1] if k.start else 0))


def _hash_file(fd: int) -> tuple[int, int]:
    """The size and CRC-32 of the file open at `fd`, read a block at a time into one
    buffer (never all of it in memory)."""
    buffer = bytearray(_HASH_BLOCK)
    view = memoryview(buffer)
    size = crc = 0
    while True:
        n = os.preadv(fd, [view], size)
        if not n:
            return size, crc
        crc = crc32(view[:n], crc)
        size += n


def _first_lines(fd: int) -> bytes:
    """The start of the file open at `fd`, up to its second line end (or all of it)."""
    size = 1 << 16
    while True:
        data = os.pread(fd, size, 0)
        first = data.find(b"\n")
        second = data.find(b"\n", first + 1) if first >= 0 else -1
        if second >= 0:
            return data[: second + 1]
        if len(data) < size:
            return data
        size *= 4
