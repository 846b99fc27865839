"""`SZWriter`: append reads to a new SZ store, encode in threads, commit atomically.

Every record is checked when it is put (`xsz.format._values`), then encoded by
a thread pool (zstd releases the GIL) and appended to ``dat`` in put order by
whichever thread puts or closes. The number and size of records waiting for
their encoder are bounded, so memory stays flat however fast `put` is called.

A record is checked, encoded and given its index line whole before any byte
of it reaches ``dat``, so a record refused at any step leaves no trace. The
store is built in a hidden staging directory next to `path` (locked while the
writer lives) and moved into place by `close` after ``dat``, ``index`` and
``checksums`` are fsynced (`xsz.format.replace_path`): a crash leaves either
the previous store (or nothing) at `path`, never an index that names bytes
``dat`` does not hold. If writing fails (a full disk, say), nothing is
committed and the staging directory is kept for ``xsz recover``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from array import array
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz.codec import DEFAULT_LEVEL
from xsz.errors import (
    DuplicateReadError,
    RecordError,
    SchemaError,
    StoreExistsError,
    UsageError,
    XszError,
)
from xsz.format._checksums import CHECKSUMS, crc32, format_checksums
from xsz.format._index import format_header
from xsz.format._records import Encoded, Prepared, check_frame, compress_records
from xsz.format._schema import parse_header
from xsz.format._staging import Staging, check_replaceable
from xsz.format._values import attribute_text, dataset_values

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from xsz.format._schema import Schema

__all__ = ["SZWriter"]

TASK_BYTES: Final = 1 << 20
"""Small records are encoded in groups of about this many input bytes per task."""
DAT_BUFFER: Final = 1 << 20
"""``dat`` is written in pieces of about this size."""
INDEX_BUFFER: Final = 1 << 16
"""Index lines are held back until this many bytes or a `DAT_BUFFER` of frames,
then written after the frames they describe (a killed writer loses at most that)."""
SYNC_BYTES: Final = 1 << 23
"""After this many new bytes in ``dat``, flush them to disk in the background, so
the fsync in `SZWriter.close` has little left to do."""


class SZWriter:
    """Write a new SZ store.

    Parameters
    ----------
    path
        The store to create (a directory).
    schema
        Attributes and datasets (`xsz.format.Schema`).
    header
        Key/value pairs for the first index line; pysz's ``{"version": "0.4.0"}``
        when ``None``.
    overwrite
        Replace an existing SZ store at `path` (only on a successful `close`).
    n_threads
        Encoder threads; 0 encodes in the calling thread.
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
    ) -> None:
        self.path = Path(path)
        self.schema = schema
        self.header = parse_header(header)
        if not schema.fields:
            raise SchemaError("an SZ store needs at least one attribute or dataset")
        self.level = level
        self.checksum = checksum
        self._overwrite = overwrite
        check_replaceable(self.path, overwrite)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._staging = Staging(self.path)
        self._dat = open(self._staging.path / "dat", "wb", buffering=DAT_BUFFER)  # noqa: SIM115
        # index lines are written only after the dat bytes they point to (a killed
        # writer leaves an index that `xsz recover` can trust up to its last line)
        self._index = open(self._staging.path / "index", "wb", buffering=0)  # noqa: SIM115
        self._lines = bytearray()
        self._lined = 0  # dat bytes that written index lines describe
        head = format_header(self.header, schema).encode("utf-8")
        self._index.write(head)
        self._index_bytes, self._index_crc = len(head), crc32(head)
        self._crcs = array("I")
        self._all_checked = True  # every frame so far carries zstd's content checksum
        self._broken: BaseException | None = None
        self._lock = threading.RLock()
        self._pool = (
            ThreadPoolExecutor(n_threads, thread_name_prefix="xsz-encode")
            if n_threads > 0
            else None
        )
        self._pending: deque[tuple[Future[list[Encoded | Exception]], list[Prepared]]] = deque()
        self._pending_bytes = 0
        self._max_pending_bytes = max_pending_bytes
        self._max_pending_tasks = 4 * max(n_threads, 1) + 4
        self._ids: set[str] | None = set() if schema.id_field else None
        self._id_pos = (
            [f.name for f in schema.attributes].index(schema.id_field) if schema.id_field else None
        )
        self._failures: list[RecordError] = []
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
        self.put_many([fields], copy=copy)

    def put_many(self, records: Iterable[Sequence[object]], *, copy: bool = True) -> None:
        """Add several reads; all are checked first, so either all or none are taken."""
        with self._lock:
            self._check_open()
            base = self.n_reads + sum(len(items) for _, items in self._pending)
            prepared: list[Prepared] = []
            batch_ids: set[str] = set()
            for k, record in enumerate(records):
                item = self._prepare(record, base + k, copy)
                self._claim_id(item.read_id, batch_ids)
                prepared.append(item)
            self._commit_ids(batch_ids)
            self._submit(prepared)

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
        with self._lock:
            self._check_open()
            position = self.n_reads + sum(len(items) for _, items in self._pending)
            read_id = self._read_id(attributes, position)
            cells = self._attr_cells(attributes, read_id)
            if len(frames) != len(self.schema.datasets) or len(counts) != len(frames):
                raise RecordError(
                    f"read {read_id!r}: expected {len(self.schema.datasets)} frames and counts, "
                    f"got {len(frames)} and {len(counts)}",
                    read_id=read_id,
                )
            for f, frame, n in zip(self.schema.datasets, frames, counts, strict=True):
                check_frame(f, frame, n, read_id)
            batch_ids: set[str] = set()
            self._claim_id(read_id, batch_ids)
            self._commit_ids(batch_ids)
            self._submit([Prepared(read_id, cells, list(frames), list(counts), encoded=True)])

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
        written first.
        """
        with self._lock:
            self._check_open()
            n = len(read_ids)
            if len(self.schema.datasets) != 1 or self._ids is None:
                raise UsageError("put_encoded needs a schema with an ID and one dataset")
            if not (len(cells) == len(sizes) == len(counts) == len(crcs) == n):
                raise UsageError(f"put_encoded: {n} read IDs but other lengths differ")
            if int(sizes.sum()) != len(frames):
                raise UsageError(
                    f"put_encoded: the frames hold {len(frames)} bytes, not {int(sizes.sum())}"
                )
            batch = set(read_ids)
            if len(batch) != n or not self._ids.isdisjoint(batch):
                seen: set[str] = set()
                for read_id in read_ids:
                    self._claim_id(read_id, seen)
            self._drain(block=True)
            ends = np.cumsum(sizes) + self.nbytes_out
            count_cells = (
                counts.astype(str).tolist() if self.schema.datasets[0].has_count else [""] * n
            )
            lines = "".join(
                [
                    f"{size}\t{end - size}\t{cell}\t{size}:{count}\n"
                    for size, end, cell, count in zip(
                        sizes.tolist(), ends.tolist(), cells, count_cells, strict=True
                    )
                ]
            ).encode("utf-8")
            try:
                self._dat.write(frames)
                self._lines += lines
                if (
                    len(self._lines) >= INDEX_BUFFER
                    or self.nbytes_out + len(frames) - self._lined >= DAT_BUFFER
                ):
                    self._write_lines(self.nbytes_out + len(frames))
            except BaseException as exc:  # dat and index may disagree now: take no more
                self._broken = exc
                raise
            self._ids |= batch
            self._index_bytes += len(lines)
            self._index_crc = crc32(lines, self._index_crc)
            self._crcs.frombytes(crcs.astype(np.uint32).tobytes())
            self._all_checked &= checksummed
            self.nbytes_out += len(frames)
            self.n_reads += n
            if self.nbytes_out - self._synced >= SYNC_BYTES:
                self._sync_in_background()

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError(f"SZWriter for {self.path} is closed")
        if self._broken is not None:
            raise XszError(
                f"SZWriter for {self.path} failed earlier ({self._broken}); nothing more is "
                f"taken. What was written is kept at {self._staging.path} for `xsz recover`"
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

    def _prepare(self, record: Sequence[object], position: int, copy: bool) -> Prepared:
        try:
            record = tuple(record)
        except TypeError:
            raise RecordError(
                f"record #{position}: expected a sequence of fields, got {type(record).__name__}",
                read_id=f"#{position}",
            ) from None
        read_id = self._read_id(record, position)
        n_attr, n_fields = len(self.schema.attributes), len(self.schema.fields)
        if len(record) != n_fields:
            names = ", ".join(f.name for f in self.schema.fields)
            raise RecordError(
                f"read {read_id!r}: expected {n_fields} fields ({names}), got {len(record)}",
                read_id=read_id,
            )
        cells = self._attr_cells(record[:n_attr], read_id)
        values: list[Any] = []
        counts: list[int | None] = []
        for f, value in zip(self.schema.datasets, record[n_attr:], strict=True):
            checked = dataset_values(f, value, read_id)
            if isinstance(checked, np.ndarray):
                # Own the values: the caller may reuse its array as soon as put returns.
                shared = checked is value or checked.base is not None
                values.append(checked.copy() if copy and shared else checked)
                counts.append(len(checked))
            else:
                values.append(checked)
                counts.append(None)
        return Prepared(read_id, cells, values, counts)

    def _claim_id(self, read_id: object, batch: set[str]) -> None:
        if self._ids is None:
            return
        assert isinstance(read_id, str)
        if read_id in self._ids or read_id in batch:
            raise DuplicateReadError(
                f"read {read_id!r} was already put into {self.path}; read IDs must be unique",
                read_id=read_id,
                field=self.schema.id_field,
            )
        batch.add(read_id)

    def _commit_ids(self, batch: set[str]) -> None:
        if self._ids is not None:
            self._ids |= batch

    def _submit(self, items: list[Prepared]) -> None:
        tasks: list[list[Prepared]] = []
        group: list[Prepared] = []
        size = 0
        for item in items:
            group.append(item)
            size += item.nbytes
            if size >= TASK_BYTES:
                tasks.append(group)
                group, size = [], 0
        if group:
            tasks.append(group)
        fields = self.schema.datasets
        for task in tasks:
            if self._pool is None:
                done: Future[list[Encoded | Exception]] = Future()
                try:
                    done.set_result(compress_records(fields, task, self.level, self.checksum))
                except Exception as exc:  # reported like a pool failure
                    done.set_exception(exc)
                self._pending.append((done, task))
            else:
                future = self._pool.submit(
                    compress_records, fields, task, self.level, self.checksum
                )
                self._pending.append((future, task))
            self._pending_bytes += sum(item.nbytes for item in task)
            self._drain(block=False)
            while self._pending and (
                self._pending_bytes > self._max_pending_bytes
                or len(self._pending) > self._max_pending_tasks
            ):
                self._drain_one()

    # --- writing ---------------------------------------------------------------------

    def _drain(self, *, block: bool) -> None:
        while self._pending and (block or self._pending[0][0].done()):
            self._drain_one()

    def _drain_one(self) -> None:
        future, items = self._pending.popleft()
        self._pending_bytes -= sum(item.nbytes for item in items)
        try:
            results = future.result()
        except Exception as exc:  # the task itself failed
            results = [exc] * len(items)
        for item, result in zip(items, results, strict=True):
            if isinstance(result, Exception):  # keep going, report at close
                self._failures.append(
                    RecordError(
                        f"read {item.read_id!r} could not be encoded: {result}",
                        read_id=item.read_id,
                    )
                )
                continue
            blob, cells, crcs, checked = result
            line = b"%d\t%d\t%s\n" % (len(blob), self.nbytes_out, cells)
            try:
                self._dat.write(blob)
                self._lines += line
                if (
                    len(self._lines) >= INDEX_BUFFER
                    or self.nbytes_out + len(blob) - self._lined >= DAT_BUFFER
                ):
                    self._write_lines(self.nbytes_out + len(blob))
            except BaseException as exc:  # dat and index may disagree now: take no more
                self._broken = exc
                raise
            self._index_bytes += len(line)
            self._index_crc = crc32(line, self._index_crc)
            self._crcs.extend(crcs)
            self._all_checked &= checked
            self.nbytes_out += len(blob)
            self.n_reads += 1
        if self.nbytes_out - self._synced >= SYNC_BYTES:
            self._sync_in_background()

    def _write_lines(self, described: int) -> None:
        """Write the index lines held back (describing ``dat[:described]``), once the
        bytes they describe are in ``dat``."""
        self._dat.flush()
        self._index.write(self._lines)
        self._lines.clear()
        self._lined = described

    def _sync_in_background(self) -> None:
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
                    self._drain(block=True)
                    self._finish_files()
            except BaseException as exc:
                self._broken = self._broken or exc
            finally:
                self._closed = True
                self._shutdown(cancel=self._broken is not None)
            if self._broken is not None:
                self._close_files()
                self._staging.keep()
                raise XszError(
                    f"writing {self.path} failed ({self._broken}); nothing was committed. "
                    f"The reads written so far are kept at {self._staging.path}: "
                    f"`xsz recover {self._staging.path} DST` salvages them"
                ) from self._broken
            try:
                check_replaceable(self.path, self._overwrite)
            except StoreExistsError as exc:  # appeared meanwhile: keep our store aside
                self._staging.keep()
                raise StoreExistsError(
                    f"{exc}; the new store is kept at {self._staging.path}"
                ) from exc
            self._staging.commit()
            if self._failures:
                first = self._failures[0]
                more = f" (and {len(self._failures) - 1} more)" if len(self._failures) > 1 else ""
                raise RecordError(f"{first}{more}", read_id=first.read_id, field=first.field)

    def _finish_files(self) -> None:
        """Flush and fsync ``dat`` and ``index``, then write ``checksums`` (fsynced too)."""
        if self._sync is not None:
            self._sync.result()
        self._write_lines(self.nbytes_out)
        for fh in (self._dat, self._index):
            fh.flush()
            os.fsync(fh.fileno())
        self._index.close()
        self._dat.close()
        names = [f.name for f in self.schema.datasets]
        content = format_checksums(
            self._index_bytes,
            self._index_crc,
            names,
            self._crcs,
            zstd_checksums=self._all_checked,
        )
        with open(self._staging.path / CHECKSUMS, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())

    def _shutdown(self, *, cancel: bool) -> None:
        if cancel:
            for future, _ in self._pending:
                future.cancel()
            self._pending.clear()
        for pool in (self._pool, self._syncer):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=cancel)

    def _close_files(self) -> None:
        for fh in (self._dat, self._index):
            with contextlib.suppress(OSError):
                fh.close()

    def abort(self) -> None:
        """Discard everything put so far; an existing store at `path` is left alone."""
        with self._lock:
            self._closed = True
            self._shutdown(cancel=True)
            self._close_files()
            self._staging.discard()

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
        return f"<SZWriter {str(self.path)!r} ({state}): {self.n_reads} reads written>"
