"""`SZWriter`: append reads to a new SZ store, encode in threads, commit atomically.

Every record is checked when it is put (`xsz.format._values`) and joins a batch
(`xsz.format._records.Batch`, about `TASK_BYTES` or `TASK_READS`); a whole batch
is encoded by one task of a thread pool in a few calls that release the GIL
(no task, future or index line per read), and appended to ``dat`` in put order
by whichever thread puts or closes. The number and size of batches waiting for
their encoder are bounded, so memory stays flat however fast `put` is called.

A record is checked, encoded and given its index line whole before any byte
of it reaches ``dat``, so a record refused at any step leaves no trace. The
store is built in a hidden staging directory next to `path` (locked while the
writer lives) and moved into place by `close` after ``dat``, ``index`` and
``checksums`` are fsynced (`xsz.format.replace_path`): a crash leaves either
the previous store (or nothing) at `path`, never an index that names bytes
``dat`` does not hold. If writing fails (a full disk, say), nothing is
committed and the staging directory is kept for ``xsz recover``.

A URL (``s3://``, ``gs://``, ``az://`` ...) is written through
`xsz.source.open_upload`: ``dat`` streams up as one multipart upload while
reads are put (memory bounded by a few parts), the index lines go to a local
scratch file, and `close` commits: ``dat`` completed, ``checksums``, ``index``
last. Nothing at the URL changes before `close`; a failed or killed writer
leaves no store there (and an existing one whole).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from array import array
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from math import isnan
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz.codec import DEFAULT_LEVEL, encode_payload
from xsz.errors import (
    DuplicateReadError,
    RecordError,
    SchemaError,
    StoreExistsError,
    UsageError,
    XszError,
)
from xsz.format._checksums import CHECKSUMS, crc32, format_checksums
from xsz.format._index import format_header, read_index
from xsz.format._records import Batch, Done, Prepared, check_frame, done_records, encode_batch
from xsz.format._schema import parse_header
from xsz.format._staging import Staging, check_replaceable
from xsz.format._table import MIN_READS as TABLE_MIN_READS
from xsz.format._table import TableColumns, write_table
from xsz.format._values import attribute_text, dataset_values
from xsz.source import local_path, open_upload

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from xsz.format._schema import Field, Schema
    from xsz.source import StoreUpload

__all__ = ["SZWriter"]

log = logging.getLogger(__name__)

TASK_BYTES: Final = 1 << 20
"""Reads are encoded in batches of about this many input bytes per task..."""
TASK_READS: Final = 4096
"""... or of this many reads, whichever comes first."""
ENCODE_AT_PUT: Final = 1 << 16
"""A streamvbyte dataset's array of at least this many bytes that `SZWriter.put` must
copy is encoded there instead (its payload is the copy; zstd runs in the encoders)."""
_IOV_MAX: Final = 512
"""Buffers handed to one ``writev`` (POSIX guarantees at least 16; Linux takes 1024)."""
DAT_BUFFER: Final = 1 << 20
"""``dat`` is written in pieces of about this size."""
INDEX_BUFFER: Final = 1 << 16
"""Index lines are held back until this many bytes or a `DAT_BUFFER` of frames,
then written after the frames they describe (a killed writer loses at most that)."""
SYNC_BYTES: Final = 1 << 23
"""After this many new bytes in ``dat``, flush them to disk in the background, so
the fsync in `SZWriter.close` has little left to do."""


def _cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_TEXT: Final = "text"
_F64: Final = "F64"
_FLOAT: Final = "float"


def _fast_path(f: Field) -> object:
    """How `SZWriter.put` turns the common values of attribute `f` into text at once:
    `_TEXT`, `_F64`, `_FLOAT` (another float type), the (low, high) range of an
    integer type, or ``None``."""
    if f.is_text:
        return _TEXT
    if f.code == "F64":
        return _F64
    if f.dtype.kind == "f":
        return _FLOAT
    if f.dtype.kind in "iu":
        info = np.iinfo(f.dtype)
        return (int(info.min), int(info.max))
    return None


class SZWriter:
    """Write a new SZ store.

    Parameters
    ----------
    path
        The store to create: a directory, or an object storage URL (``s3://``,
        ``gs://``, ``az://``; ``file://`` is a local path).
    schema
        Attributes and datasets (`xsz.format.Schema`).
    header
        Key/value pairs for the first index line; pysz's ``{"version": "0.4.0"}``
        when ``None``.
    overwrite
        Replace an existing SZ store at `path` (only on a successful `close`).
    n_threads
        Encoder threads; 0 encodes in the calling thread. No more than the CPUs
        the process may run on are started, and batches of many small reads
        (which keep the calling thread busy) use one fewer at once (at least
        one); the calling thread encodes a batch itself when the encoders fall
        behind.
    level
        zstd level (3, as pysz).
    checksum
        Add zstd's content checksum to each frame (pysz, and every zstd reader,
        read such frames too; xsz checks it at every decode). ``False`` writes
        frames byte-identical to pysz's. Either way the store gets a
        ``checksums`` file (which pysz ignores) with the CRC-32 of its index
        and of every frame.
    max_pending_bytes
        Input bytes that may wait for an encoder before `put` blocks.
    table
        Also write a ``table`` file (the index parsed, in binary columns, which
        opens a large store fast; pysz ignores it): ``None`` (default) for
        stores of ``xsz.format.TABLE_MIN_READS`` reads or more.
    storage_options
        For a URL: the settings of ``obstore.store.from_url`` (by default obstore
        reads them from the environment, ``AWS_ENDPOINT_URL`` ...).

    Notes
    -----
    The ``ID`` attribute, when the schema has a text one, must be unique: a
    repeated ID is refused with `DuplicateReadError`. As a context manager the
    store is committed when the block succeeds and discarded when it raises.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        schema: Schema,
        *,
        header: object = None,
        overwrite: bool = False,
        n_threads: int = 2,
        level: int = DEFAULT_LEVEL,
        checksum: bool = True,
        max_pending_bytes: int = 1 << 28,
        table: bool | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._table = table
        local = local_path(path)
        self.location = str(path if local is None else local)
        """The path or URL written, for messages."""
        self.path = Path(local) if local is not None else Path(tempfile.gettempdir())
        """The store's directory; for a URL, the local scratch directory of the index
        lines (`location` is the URL)."""
        self.schema = schema
        self.header = parse_header(header)
        if not schema.fields:
            raise SchemaError("an SZ store needs at least one attribute or dataset")
        self.level = level
        self.checksum = checksum
        self._overwrite = overwrite
        self._upload: StoreUpload | None = None
        self._staging: Staging | None = None
        if local is None:  # object storage: checked there before anything is written
            self._scratch = self.path = Path(tempfile.mkdtemp(prefix="xsz-upload-"))
            try:
                self._index = open(self._scratch / "index", "wb", buffering=0)  # noqa: SIM115
                self._upload = open_upload(self.location, storage_options, overwrite=overwrite)
            except BaseException:
                with contextlib.suppress(AttributeError):
                    self._index.close()
                shutil.rmtree(self._scratch, ignore_errors=True)
                raise
            self._dat: Any = self._upload
        else:
            if storage_options:
                raise UsageError(
                    f"storage_options are for object storage URLs; {self.location} is a local path"
                )
            check_replaceable(self.path, overwrite)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._staging = Staging(self.path)
            self._scratch = self._staging.path
            self._dat = open(self._scratch / "dat", "wb", buffering=DAT_BUFFER)  # noqa: SIM115
            # index lines are written only after the dat bytes they point to (a killed
            # writer leaves an index that `xsz recover` can trust up to its last line)
            self._index = open(self._scratch / "index", "wb", buffering=0)  # noqa: SIM115
        self._lines = bytearray()
        self._lined = 0  # dat bytes that written index lines describe
        head = format_header(self.header, schema).encode("utf-8")
        self._index.write(head)
        self._index_bytes, self._index_crc = len(head), crc32(head)
        # the table's columns, gathered batch by batch (a local store that may get one)
        self._gather = (
            TableColumns(schema, head, read_index) if table is not False and local else None
        )
        self._crcs = array("I")
        self._all_checked = True  # every frame so far carries zstd's content checksum
        self._broken: BaseException | None = None
        self._lock = threading.RLock()
        # Batches of many small reads keep the putting thread busy (a few µs of
        # Python a read), so they get no more encoders than the cores it leaves: on
        # 2 cores, 2 encoders and the putting thread fought for them (2 threads were
        # slower than 1). Batches of larger reads leave it waiting, so they get a
        # core each (their own pool, made when the first comes). Either way the
        # putting thread encodes a batch itself when the encoders fall behind.
        cpus = _cpus()
        self._workers = max(1, min(n_threads, cpus - 1))
        self._workers_large = max(1, min(n_threads, cpus))
        self._pool = (
            ThreadPoolExecutor(self._workers, thread_name_prefix="xsz-encode")
            if n_threads > 0
            else None
        )
        self._pool_large: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[Future[Done], Batch | list[Prepared] | Done, int]] = deque()
        self._pending_bytes = 0
        self._max_pending_bytes = max_pending_bytes
        self._max_pending_tasks = 4 * max(n_threads, 1) + 4
        self._ids: set[str] | None = set() if schema.id_field else None
        self._id_pos = (
            [f.name for f in schema.attributes].index(schema.id_field) if schema.id_field else None
        )
        self._failures: list[RecordError] = []
        # the hot path of put: fields, dtypes and the last text of each float attribute
        self._n_attr, self._n_fields = len(schema.attributes), len(schema.fields)
        self._attrs = schema.attributes
        self._attr_fast = [_fast_path(f) for f in schema.attributes]
        self._attr_types = [None if f.is_text else f.dtype.type for f in schema.attributes]
        self._sets = [(f, f.dtype, f.is_text, f.has_count) for f in schema.datasets]
        self._last_text: list[tuple[object, str]] = [(None, "")] * self._n_attr
        self._batch = Batch(len(schema.datasets), bool(schema.attributes))
        self._taken = 0  # reads accepted so far
        self._syncer: ThreadPoolExecutor | None = None
        self._sync: Future[None] | None = None
        self._synced = 0
        self._closed = False
        self.n_reads = 0
        self.nbytes_out = 0

    # --- putting ---------------------------------------------------------------------

    def put(self, *fields: object, copy: bool = True) -> None:
        """Add one read: its attribute values then its dataset values, in schema order.

        Arrays are copied before `put` returns (they are encoded later, in other
        threads), so the caller may reuse them at once; ``copy=False`` skips that
        for arrays nobody else will touch (fresh ones from a file reader).
        """
        with self._lock:
            if self._closed or self._broken is not None:
                self._check_open()
            read_id, cells, values = self._check(fields, self._taken, copy)
            ids = self._ids
            if ids is not None:
                if read_id in ids:
                    raise self._duplicate(read_id)
                ids.add(read_id)  # type: ignore[arg-type]
            batch = self._batch
            batch.add(read_id, cells, values)
            self._taken += 1
            if batch.nbytes >= TASK_BYTES or len(batch.ids) >= TASK_READS:
                self._flush_batch()

    def put_many(self, records: Iterable[Sequence[object]], *, copy: bool = True) -> None:
        """Add several reads; all are checked first, so either all or none are taken."""
        with self._lock:
            self._check_open()
            base = self._taken
            checked = [self._check(record, base + k, copy) for k, record in enumerate(records)]
            if self._ids is not None:
                batch_ids: set[str] = set()
                for read_id, _, _ in checked:
                    self._claim_id(read_id, batch_ids)
                self._commit_ids(batch_ids)
            for read_id, cells, values in checked:
                self._take(read_id, cells, values)

    def put_frames(
        self,
        attributes: Sequence[object],
        frames: Sequence[bytes | memoryview],
        counts: Sequence[int | None],
    ) -> None:
        """Add one read whose dataset frames are already encoded (copied as they are).

        `counts` holds the element count of each streamvbyte dataset (``None`` for
        the others). Frames are checked to be zstd frames whose declared size fits
        the count; they are not decoded.
        """
        self.put_frames_many([(attributes, frames, counts)])

    def put_frames_many(
        self,
        records: Iterable[
            tuple[Sequence[object], Sequence[bytes | memoryview], Sequence[int | None]]
        ],
    ) -> None:
        """Add several reads as `put_frames` does, ``(attributes, frames, counts)`` each,
        in one batch: a bad record refuses the whole batch, before any of it is written."""
        with self._lock:
            self._check_open()
            position = self._taken
            batch_ids: set[str] = set()
            prepared = []
            for k, (attributes, frames, counts) in enumerate(records):
                read_id = self._read_id(attributes, position + k)
                cells = self._attr_cells(attributes, read_id)
                if len(frames) != len(self.schema.datasets) or len(counts) != len(frames):
                    raise RecordError(
                        f"read {read_id!r}: expected {len(self.schema.datasets)} frames and "
                        f"counts, got {len(frames)} and {len(counts)}",
                        read_id=read_id,
                    )
                for f, frame, n in zip(self.schema.datasets, frames, counts, strict=True):
                    check_frame(f, frame, n, read_id)
                self._claim_id(read_id, batch_ids)
                prepared.append(Prepared(read_id, cells, list(frames), list(counts), encoded=True))
            self._commit_ids(batch_ids)
            self._flush_batch()  # the reads put before these go first
            self._taken += len(prepared)
            self._submit_prepared(prepared)

    def put_frames_columns(
        self,
        attributes: Sequence[np.ndarray[Any, Any]],
        frames: Sequence[Sequence[bytes | memoryview]],
        counts: Sequence[Sequence[int | None]],
    ) -> None:
        """Add reads as `put_frames_many` does, their attributes given column by column
        (one array per attribute, as `SZIndex.attribute` holds them): each distinct
        value of a column is checked and formatted once, which is what copying many
        reads between stores spends most of its time on otherwise. `frames` and
        `counts` hold one sequence per read. Refused whole, before any of it is written.
        """
        n = len(frames)
        if len(attributes) != len(self.schema.attributes) or any(
            len(column) != n for column in attributes
        ):
            raise RecordError(
                f"expected {len(self.schema.attributes)} attribute columns of {n} values, got "
                f"{[len(column) for column in attributes]}"
            )
        if len(counts) != n:
            raise RecordError(f"expected counts for {n} reads, got {len(counts)}")
        ids = (
            [str(v) for v in attributes[self._id_pos]]
            if self._id_pos is not None
            else [f"#{self._taken + k}" for k in range(n)]  # for messages
        )
        texts = [
            _column_cells(f, np.asarray(column), ids)
            for f, column in zip(self.schema.attributes, attributes, strict=True)
        ]
        lines = ["\t".join(parts) for parts in zip(*texts, strict=True)] if texts else [""] * n
        with self._lock:
            self._check_open()
            position = self._taken
            batch_ids: set[str] = set()
            prepared = []
            for k in range(n):
                read_id = ids[k] if self._id_pos is not None else f"#{position + k}"
                if len(frames[k]) != len(self.schema.datasets) or len(counts[k]) != len(frames[k]):
                    raise RecordError(
                        f"read {read_id!r}: expected {len(self.schema.datasets)} frames and "
                        f"counts, got {len(frames[k])} and {len(counts[k])}",
                        read_id=read_id,
                    )
                for f, frame, c in zip(self.schema.datasets, frames[k], counts[k], strict=True):
                    check_frame(f, frame, c, read_id)
                self._claim_id(read_id, batch_ids)
                cells = [lines[k]] if texts else []
                prepared.append(
                    Prepared(read_id, cells, list(frames[k]), list(counts[k]), encoded=True)
                )
            self._commit_ids(batch_ids)
            self._flush_batch()  # the reads put before these go first
            self._taken += n
            self._submit_prepared(prepared)

    def put_encoded(
        self,
        read_ids: Sequence[str],
        cells: Sequence[str],
        frames: bytes,
        sizes: np.ndarray[Any, np.dtype[np.int64]],
        counts: np.ndarray[Any, np.dtype[np.int64]],
        crcs: np.ndarray[Any, np.dtype[np.uint32]],
        *,
        checksummed: bool,
    ) -> None:
        """Add a block of reads of a one-dataset schema whose frames are made already.

        For importers that make frames and index cells a block at a time (no
        Python object per read): `cells` holds each read's attribute cells as
        `attribute_text` makes them, tab-joined; `frames` the reads' frames back
        to back, of `sizes` bytes, of `counts` elements, with CRC-32s `crcs`;
        `checksummed` says whether every frame carries zstd's content checksum.
        The IDs are checked to be new (`DuplicateReadError`, nothing taken); the
        cells and frames are the caller's to get right. Reads put before are
        written first (the pending batch is handed to an encoder, then the block
        queued after it as one task that is done already).
        """
        with self._lock:
            self._check_open()
            n = len(read_ids)
            if len(self.schema.datasets) != 1 or self._ids is None:
                raise UsageError("put_encoded needs a schema with an ID and one dataset")
            if not (len(cells) == len(sizes) == len(counts) == len(crcs) == n):
                raise UsageError(f"put_encoded: {n} read IDs but other lengths differ")
            _check_block_bytes("put_encoded", "frames", frames, sizes)
            self._take_block(read_ids)
            if not n:
                return
            count_cells = (
                counts.astype(str).tolist() if self.schema.datasets[0].has_count else [""] * n
            )
            form, columns = "%d\t%d\t%s\t%d:%s\n", [list(cells), sizes.tolist(), count_cells]
            numbers = (
                np.asarray(sizes, np.int64).reshape(-1, 1),
                [counts.tolist()] if self.schema.datasets[0].has_count else [],
                list(cells),
            )
            self._submit_block(frames, sizes, form, columns, crcs, checksummed, numbers)

    def put_copied(
        self,
        read_ids: Sequence[str],
        lines: Sequence[bytes],
        records: bytes,
        lengths: np.ndarray[Any, np.dtype[np.int64]],
        crcs: np.ndarray[Any, np.dtype[np.uint32]],
        *,
        checksummed: bool,
    ) -> None:
        """Add reads copied whole out of another store of this schema.

        `lines` holds each read's index line as that store has it (parsed and
        checked by the caller, newline included): everything after its
        ``OFFSET`` cell is kept as it is, so attributes, frame sizes and counts
        are copied byte for byte and only the offset changes. `records` holds
        the reads' records (every frame of a read, back to back) back to back,
        of `lengths` bytes; `crcs` the CRC-32 of every frame, read by read;
        `checksummed` whether every frame carries zstd's content checksum. The
        IDs are checked to be new (`DuplicateReadError`, nothing taken).
        """
        with self._lock:
            self._check_open()
            n = len(read_ids)
            if not (len(lines) == len(lengths) == n) or len(crcs) != n * len(self.schema.datasets):
                raise UsageError(f"put_copied: {n} read IDs but other lengths differ")
            _check_block_bytes("put_copied", "records", records, lengths)
            self._take_block(read_ids)
            if not n:
                return
            tails = [line.split(b"\t", 2)[2] for line in lines]
            self._submit_block(records, lengths, b"%d\t%d\t%s", [tails], crcs, checksummed)

    def _take_block(self, read_ids: Sequence[str]) -> None:
        """Take a block of reads made whole by the caller, after the reads put before:
        their IDs checked to be new (`DuplicateReadError`, nothing taken)."""
        if self._ids is not None:
            batch = set(read_ids)
            if len(batch) != len(read_ids) or not self._ids.isdisjoint(batch):
                seen: set[str] = set()
                for read_id in read_ids:
                    self._claim_id(read_id, seen)
            self._commit_ids(batch)
        self._flush_batch()  # the reads put before these go first
        self._taken += len(read_ids)

    def _submit_block(
        self,
        data: bytes,
        lengths: np.ndarray[Any, np.dtype[np.int64]],
        form: str | bytes,
        cells: list[list[Any]],
        crcs: np.ndarray[Any, np.dtype[np.uint32]],
        checksummed: bool,
        numbers: tuple[np.ndarray[Any, np.dtype[np.int64]], list[list[int]], list[str]]
        | None = None,
    ) -> None:
        """Queue a block's records (`data`, of `lengths` bytes each) and index cells,
        done already, to be written in put order as the batches are; `numbers` are
        its frame sizes, counts and attribute cells for the table (`Done.numbers`),
        else the table takes them from its index lines."""
        crc_array = array("I", crcs.astype(np.uint32).tobytes())
        done = Done([data], lengths.tolist(), form, cells, crc_array, checksummed, [], numbers)
        self._submit(len(data), done)

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError(f"SZWriter for {self.location} is closed")
        if self._broken is not None:
            raise XszError(
                f"SZWriter for {self.location} failed earlier ({self._broken}); nothing more is "
                f"taken. {self._kept()}"
            ) from self._broken

    def _read_id(self, attributes: Sequence[object], position: int) -> object:
        if self._id_pos is not None and len(attributes) > self._id_pos:
            return attributes[self._id_pos]
        return f"#{position}"

    def _attr_cells(self, values: Sequence[object], read_id: object) -> list[str]:
        if len(values) != len(self.schema.attributes):
            raise RecordError(
                f"read {read_id!r}: expected {len(self.schema.attributes)} attributes, "
                f"got {len(values)}",
                read_id=read_id,
            )
        return [
            attribute_text(f, v, read_id)
            for f, v in zip(self.schema.attributes, values, strict=True)
        ]

    def _check(
        self, record: Sequence[object], position: int, copy: bool
    ) -> tuple[object, str, list[Any]]:
        """Check one read: its ID, its attribute cells joined by TABs, and its dataset
        values (1-D arrays of their dataset's dtype, copies of the caller's if `copy`,
        or str). Nothing is taken."""
        if type(record) is not tuple:
            try:
                record = tuple(record)
            except TypeError:
                raise RecordError(
                    f"record #{position}: expected a sequence of fields, "
                    f"got {type(record).__name__}",
                    read_id=f"#{position}",
                ) from None
        n_attr = self._n_attr
        if len(record) != self._n_fields:
            read_id = self._read_id(record, position)
            names = ", ".join(f.name for f in self.schema.fields)
            raise RecordError(
                f"read {read_id!r}: expected {self._n_fields} fields ({names}), got {len(record)}",
                read_id=read_id,
            )
        read_id = record[self._id_pos] if self._id_pos is not None else f"#{position}"
        cells: list[str] = []
        last, fast, types, f64 = self._last_text, self._attr_fast, self._attr_types, np.float64
        for k in range(n_attr):
            # the common cases first, each giving exactly `attribute_text`'s cell
            value: Any = record[k]
            kind, how = type(value), fast[k]
            if kind is f64:  # a Python float too, and printed as one
                value, kind = float(value), float
            if kind is str:
                if how is _TEXT and value.isascii() and value.isprintable():  # no TAB/CR/LF
                    cells.append(value)
                    continue
            elif kind is float:
                if how is _F64:
                    cells.append(repr(value))  # numpy 2 prints float64 as Python does
                    continue
                if value == last[k][0] and value:  # same nonzero value: same text
                    cells.append(last[k][1])
                    continue
                if how is _FLOAT and isnan(value):  # any NaN prints so in any float type
                    cells.append("nan")
                    continue
            elif (kind is int and type(how) is tuple and how[0] <= value <= how[1]) or (
                kind is types[k]  # a numpy scalar of the attribute's own type
            ):
                cells.append(str(value))
                continue
            text = attribute_text(self._attrs[k], value, read_id)
            if kind is float:
                last[k] = (value, text)
            cells.append(text)
        values: list[Any] = []
        for (f, dt, is_text, svb), value in zip(self._sets, record[n_attr:], strict=True):
            if (
                not is_text
                and type(value) is np.ndarray
                and value.ndim == 1
                and (value.dtype is dt or value.dtype == dt)
            ):
                if not copy:
                    values.append(
                        value if value.flags.c_contiguous else np.ascontiguousarray(value)
                    )
                elif svb and value.nbytes >= ENCODE_AT_PUT:  # encoding copies it anyway
                    values.append((encode_payload(value), len(value)))
                else:
                    values.append(value.copy())
                continue
            checked = dataset_values(f, value, read_id)
            if isinstance(checked, np.ndarray):
                # Own the values: the caller may reuse its array as soon as put returns.
                if copy and (checked is value or checked.base is not None):
                    checked = checked.copy()
                elif not checked.flags.c_contiguous:
                    checked = np.ascontiguousarray(checked)
            values.append(checked)
        return read_id, "\t".join(cells), values

    def _take(self, read_id: object, cells: str, values: list[Any]) -> None:
        """Add a checked read to the batch; hand the batch to an encoder once full."""
        batch = self._batch
        batch.add(read_id, cells, values)
        self._taken += 1
        if batch.nbytes >= TASK_BYTES or len(batch.ids) >= TASK_READS:
            self._flush_batch()

    def _duplicate(self, read_id: object) -> DuplicateReadError:
        return DuplicateReadError(
            f"read {read_id!r} was already put into {self.location}; read IDs must be unique",
            read_id=read_id,
            field=self.schema.id_field,
        )

    def _claim_id(self, read_id: object, batch: set[str]) -> None:
        if self._ids is None:
            return
        assert isinstance(read_id, str)
        if read_id in self._ids or read_id in batch:
            raise self._duplicate(read_id)
        batch.add(read_id)

    def _commit_ids(self, batch: set[str]) -> None:
        if self._ids is not None:
            self._ids |= batch

    def _flush_batch(self) -> None:
        """Hand the reads gathered so far to an encoder, as one task."""
        batch = self._batch
        if len(batch):
            self._batch = Batch(len(self.schema.datasets), bool(self.schema.attributes))
            if self._pool is not None and batch.small():
                # streamvbyte here, zstd in the encoders: while this thread makes the
                # payloads the GIL is free, so the encoders never wait long for it
                # (the thread that puts holds it otherwise, and each encoder would
                # wait up to the switch interval every time it needs it)
                batch.make_payloads(self.schema.datasets)
            self._submit(batch.nbytes, batch)

    def _submit_prepared(self, items: list[Prepared]) -> None:
        """Hand reads whose frames are made already to the encoders (which copy them
        and make their index cells), in tasks of about `TASK_BYTES` or `TASK_READS`."""
        task: list[Prepared] = []
        nbytes = 0
        for item in items:
            task.append(item)
            nbytes += item.nbytes
            if nbytes >= TASK_BYTES or len(task) >= TASK_READS:
                self._submit(nbytes, task)
                task, nbytes = [], 0
        if task:
            self._submit(nbytes, task)

    def _submit(self, nbytes: int, task: Batch | list[Prepared] | Done) -> None:
        fields = self.schema.datasets
        encode = encode_batch if isinstance(task, Batch) else done_records
        if isinstance(task, Done):  # made whole already (put_encoded): nothing to encode
            done: Future[Done] = Future()
            done.set_result(task)
        elif self._pool is None or self._caller_runs(nbytes, pool := self._encoders(task)):
            done = Future()
            try:
                done.set_result(encode(fields, task, self.level, self.checksum))  # type: ignore[arg-type]
            except Exception as exc:  # reported like a pool failure
                done.set_exception(exc)
        else:
            done = pool[0].submit(encode, fields, task, self.level, self.checksum)  # type: ignore[arg-type]
        self._pending.append((done, task, nbytes))
        self._pending_bytes += nbytes
        self._drain(block=False)
        while self._pending and (
            self._pending_bytes > self._max_pending_bytes
            or len(self._pending) > 2 * self._max_pending_tasks
        ):
            self._drain_one()

    def _encoders(self, task: Batch | list[Prepared]) -> tuple[ThreadPoolExecutor, int]:
        """The pool that encodes `task`, and its number of threads."""
        assert self._pool is not None
        if self._workers_large == self._workers or (isinstance(task, Batch) and task.small()):
            return self._pool, self._workers
        if self._pool_large is None:
            self._pool_large = ThreadPoolExecutor(
                self._workers_large, thread_name_prefix="xsz-encode-large"
            )
        return self._pool_large, self._workers_large

    def _caller_runs(self, nbytes: int, pool: tuple[ThreadPoolExecutor, int]) -> bool:
        """Whether the putting thread should encode the next task itself rather than
        queue it in `pool` and wait: the queue is full and every encoder busy (twice
        the queue's tasks at most, then it waits as before for the first to be done)."""
        pending = self._pending
        if (
            len(pending) < self._max_pending_tasks
            and self._pending_bytes + nbytes <= self._max_pending_bytes
        ) or len(pending) >= 2 * self._max_pending_tasks:
            return False
        return sum(not f.done() for f, _, _ in pending) >= pool[1]

    # --- writing ---------------------------------------------------------------------

    def _drain(self, *, block: bool) -> None:
        while self._pending and (block or self._pending[0][0].done()):
            self._drain_one()

    def _drain_one(self) -> None:
        future, task, nbytes = self._pending.popleft()
        self._pending_bytes -= nbytes
        try:
            done = future.result()
        except Exception as exc:  # the task itself failed
            if isinstance(task, Batch):
                ids = task.ids
            elif isinstance(task, Done):  # pragma: no cover - its future holds it already
                ids = []
            else:
                ids = [item.read_id for item in task]
            done = Done([], [], "", [], array("I"), True, [(read_id, exc) for read_id in ids])
        for read_id, problem in done.failed:  # keep going, report at close
            self._failures.append(
                RecordError(f"read {read_id!r} could not be encoded: {problem}", read_id=read_id)
            )
        if not done.lengths:
            return
        start = self.nbytes_out
        lines = done.lines(start)
        end = start + sum(done.lengths)
        try:
            self._write_frames(done.frames, end - start)
            self._lines += lines
            if len(self._lines) >= INDEX_BUFFER or end - self._lined >= DAT_BUFFER:
                self._write_lines(end)
        except BaseException as exc:  # dat and index may disagree now: take no more
            self._broken = exc
            raise
        self._index_bytes += len(lines)
        self._index_crc = crc32(lines, self._index_crc)
        if self._gather is not None:
            self._gather_rows(done, start, lines)
        self._crcs.extend(done.crcs)
        self._all_checked &= done.checked
        self.nbytes_out = end
        self.n_reads += len(done.lengths)
        if self.nbytes_out - self._synced >= SYNC_BYTES:
            self._sync_in_background()

    def _gather_rows(self, done: Done, start: int, lines: bytes) -> None:
        """Add these rows to the table's columns; should that fail, the table is made
        by parsing the index at commit instead."""
        assert self._gather is not None
        try:
            if done.numbers is None:  # the rows come as text (parsed a few MiB at a time)
                self._gather.add_lines(lines)
            else:
                self._gather.add(done.lengths, start, *done.numbers)
        except Exception:  # pragma: no cover - the rows were checked as they were put
            log.warning("the table of %s is made from its index", self.location, exc_info=True)
            self._gather = None

    def _write_frames(self, frames: list[Any], nbytes: int) -> None:
        """Append `frames` to ``dat``: through its buffer when small, else straight
        to the file in one system call (no copy into the buffer first). An upload
        takes them one by one (it has no file descriptor)."""
        if self._upload is not None:
            for frame in frames:
                self._dat.write(frame)
            return
        if nbytes < DAT_BUFFER or len(frames) == 1:
            self._dat.writelines(frames)
            return
        self._dat.flush()
        fd = self._dat.fileno()
        views = [memoryview(frame).cast("B") for frame in frames]
        while views:
            written = os.writev(fd, views[:_IOV_MAX])
            while views and written >= len(views[0]):
                written -= len(views[0])
                views.pop(0)
            if views and written:  # a short write: the rest of this frame next time
                views[0] = views[0][written:]

    def _write_lines(self, described: int) -> None:
        """Write the index lines held back (describing ``dat[:described]``), once the
        bytes they describe are in ``dat``."""
        if self._upload is None:  # remotely nothing is kept for `xsz recover` to read
            self._dat.flush()
        self._index.write(self._lines)
        self._lines.clear()
        self._lined = described

    def _sync_in_background(self) -> None:
        if self._upload is not None:
            self._synced = self.nbytes_out
            return
        if self._sync is not None and not self._sync.done():
            return
        if self._syncer is None:
            self._syncer = ThreadPoolExecutor(1, thread_name_prefix="xsz-sync")
        self._write_lines(self.nbytes_out)
        self._synced = self.nbytes_out
        self._sync = self._syncer.submit(os.fdatasync, self._dat.fileno())

    # --- finishing -------------------------------------------------------------------

    def close(self) -> None:
        """Encode what is pending, then commit the store at `path`; idempotent.

        Raises `RecordError` afterwards if any record could not be encoded (the
        others are committed). If writing failed, nothing is committed: the
        error says where the staging directory is kept for ``xsz recover``.
        """
        with self._lock:
            if self._closed:
                return
            try:
                if self._broken is None:
                    self._flush_batch()
                    self._drain(block=True)
                    self._finish_files()
            except BaseException as exc:
                self._broken = self._broken or exc
            finally:
                self._closed = True
                self._shutdown(cancel=self._broken is not None)
            if self._broken is not None:
                self._close_files()
                if self._staging is not None:
                    self._staging.keep()
                else:
                    self._discard_upload()
                raise XszError(
                    f"writing {self.location} failed ({self._broken}); nothing was committed. "
                    f"{self._kept()}"
                ) from self._broken
            if self._upload is not None:
                self._commit_upload()
            else:
                self._commit_local()
            if self._failures:
                first = self._failures[0]
                more = f" (and {len(self._failures) - 1} more)" if len(self._failures) > 1 else ""
                raise RecordError(f"{first}{more}", read_id=first.read_id, field=first.field)

    def _kept(self) -> str:
        if self._staging is None:
            return f"Nothing is at {self.location} (a store there before is left as it was)"
        return (
            f"The reads written so far are kept at {self._staging.path}: "
            f"`xsz recover {self._staging.path} DST` salvages them"
        )

    def _commit_upload(self) -> None:
        assert self._upload is not None
        try:
            with open(self._scratch / "index", "rb") as index:
                self._upload.commit((self._scratch / CHECKSUMS).read_bytes(), index)
        finally:
            self._discard_upload()

    def _discard_upload(self) -> None:
        if self._upload is not None:
            self._upload.abort()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def _commit_local(self) -> None:
        assert self._staging is not None
        try:
            check_replaceable(self.path, self._overwrite)
        except StoreExistsError as exc:  # appeared meanwhile: keep our store aside
            self._staging.keep()
            raise StoreExistsError(f"{exc}; the new store is kept at {self._staging.path}") from exc
        self._staging.commit()

    def _finish_files(self) -> None:
        """Flush and fsync ``dat`` and ``index``, then write ``checksums`` (fsynced too)."""
        if self._sync is not None:
            self._sync.result()
        self._write_lines(self.nbytes_out)
        if self._upload is None:
            for fh in (self._dat, self._index):
                fh.flush()
                os.fsync(fh.fileno())
            self._dat.close()
        self._index.close()
        names = [f.name for f in self.schema.datasets]
        content = format_checksums(
            self._index_bytes,
            self._index_crc,
            names,
            self._crcs,
            zstd_checksums=self._all_checked,
        )
        with open(self._scratch / CHECKSUMS, "wb") as fh:
            fh.write(content)
            if self._upload is None:
                fh.flush()
                os.fsync(fh.fileno())
        wanted = self._table or (self._table is None and self.n_reads >= TABLE_MIN_READS)
        if wanted and self._staging is not None:  # a local store (an upload has none)
            # the columns as the rows were made, else the index as readers will parse it
            gathered, self._gather = self._gather, None
            if gathered is not None:
                try:
                    write_table(self._staging.path, gathered, self._index_bytes, self._index_crc)
                except Exception:  # pragma: no cover - the rows were checked as they were put
                    log.warning(
                        "the table of %s is made from its index", self.location, exc_info=True
                    )
                    gathered = None
            if gathered is None:
                index = read_index(self._staging.path / "index")
                write_table(self._staging.path, index, self._index_bytes, self._index_crc)
        self._gather = None

    def _shutdown(self, *, cancel: bool) -> None:
        if cancel:
            self._batch = Batch(len(self.schema.datasets), bool(self.schema.attributes))
            for future, _, _ in self._pending:
                future.cancel()
            self._pending.clear()
        for pool in (self._pool, self._pool_large, self._syncer):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=cancel)

    def _close_files(self) -> None:
        for fh in (self._index,) if self._upload is not None else (self._dat, self._index):
            with contextlib.suppress(OSError):
                fh.close()

    def abort(self) -> None:
        """Discard everything put so far; an existing store at `path` is left alone."""
        with self._lock:
            self._closed = True
            self._shutdown(cancel=True)
            self._close_files()
            if self._staging is not None:
                self._staging.discard()
            else:
                self._discard_upload()

    @property
    def nbytes_store(self) -> int:
        """Bytes of the store's ``dat`` and ``index`` so far (``checksums`` not counted)."""
        return self.nbytes_out + self._index_bytes

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> SZWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<SZWriter {self.location!r} ({state}): {self.n_reads} reads written>"


def _check_block_bytes(
    method: str, what: str, data: bytes, sizes: np.ndarray[Any, np.dtype[np.int64]]
) -> None:
    """Refuse a block whose bytes are not the sum of its parts' `sizes`."""
    if int(sizes.sum()) != len(data):
        raise UsageError(f"{method}: the {what} hold {len(data)} bytes, not {int(sizes.sum())}")


def _column_cells(f: Field, column: np.ndarray[Any, Any], ids: Sequence[str]) -> list[str]:
    """The index cells of one attribute column: each distinct value checked and
    formatted once (`attribute_text`; errors name the first read holding it)."""
    if not len(column):
        return []
    uniq, first, inverse = np.unique(column, return_index=True, return_inverse=True)
    exact = column.dtype.kind in "iu" or column.dtype in (np.float16, np.float32, np.float64)
    values = uniq.tolist() if exact else list(uniq)  # long doubles stay long doubles
    cells = [attribute_text(f, v, ids[i]) for v, i in zip(values, first.tolist(), strict=True)]
    out: list[str] = np.asarray(cells, dtype=object)[inverse.reshape(-1)].tolist()
    return out
