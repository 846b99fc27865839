"""Encode reads into SZ frames in worker threads and hand them to an `SZWriter` in order.

The thread that reads the source only gathers reads; streamvbyte and zstd,
which release the GIL, run in the pool. Small reads travel in groups of about
`GROUP_BYTES` so the pool's per-task cost does not dominate, and at most
`n_threads` groups wait at any time, so memory stays at a few reads however
large the source. How much encoding overlaps reading depends on the reader:
pod5 and pyslow5 decode holding the GIL, and an encoder thread waits for it
each time it comes back from C (see bench/results-import.md).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Final

from xsz.codec import encode_array, encode_text
from xsz.errors import RecordError

if TYPE_CHECKING:
    from collections.abc import Callable

    from xsz.format import Field, SZWriter

__all__ = ["FramePipeline"]

GROUP_BYTES: Final = 1 << 19
"""Reads are sent to the pool in groups of about this many input bytes."""

_Record = tuple[Sequence[object], Sequence[object]]  # attributes, dataset values
_Frames = list[tuple[list[bytes], list[int | None]]]


def _encode(fields: Sequence[Field], records: list[_Record], level: int) -> _Frames:
    out: _Frames = []
    for _, values in records:
        frames: list[bytes] = []
        counts: list[int | None] = []
        for f, value in zip(fields, values, strict=True):
            if f.is_text:
                frames.append(encode_text(value, level=level))  # type: ignore[arg-type]
                counts.append(None)
            else:
                frames.append(encode_array(value, level=level))  # type: ignore[arg-type]
                counts.append(len(value))  # type: ignore[arg-type]
        out.append((frames, counts))
    return out


class FramePipeline:
    """Encode records in `n_threads` threads; put them into `writer` in the order given.

    Parameters
    ----------
    writer
        The open writer; records reach it through `SZWriter.put_frames`.
    n_threads
        Encoder threads; 0 encodes in the calling thread.
    level
        zstd level.
    on_written
        Called with the number of records written so far, after each one.
    """

    def __init__(
        self,
        writer: SZWriter,
        *,
        n_threads: int,
        level: int,
        on_written: Callable[[int], None] | None = None,
    ) -> None:
        self._writer = writer
        self._fields = writer.schema.datasets
        self._level = level
        self._on_written = on_written
        self._pool = (
            ThreadPoolExecutor(n_threads, thread_name_prefix="xsz-import") if n_threads > 0 else None
        )
        self._max_groups = max(n_threads, 1)
        self._group: list[_Record] = []
        self._group_bytes = 0
        self._pending: deque[tuple[list[_Record], Future[_Frames]]] = deque()
        self.n_written = 0

    def put(self, attributes: Sequence[object], datasets: Sequence[object], nbytes: int) -> None:
        """Queue one record (attribute values, dataset values, their size in bytes).

        Numeric datasets must already have their field's dtype: frames are made
        from the arrays as they are (the writer checks attributes, not frames).
        """
        for f, value in zip(self._fields, datasets, strict=True):
            if not f.is_text and getattr(value, "dtype", None) != f.dtype:
                raise RecordError(
                    f"read {attributes[0]!r}, dataset {f.name!r}: expected a {f.dtype} array, got "
                    f"{getattr(value, 'dtype', type(value).__name__)}",
                    read_id=attributes[0], field=f.name,
                )
        self._group.append((attributes, datasets))
        self._group_bytes += nbytes
        if self._group_bytes >= GROUP_BYTES:
            self._submit()

    def _submit(self) -> None:
        group, self._group, self._group_bytes = self._group, [], 0
        if not group:
            return
        if self._pool is None:
            done: Future[_Frames] = Future()
            done.set_result(_encode(self._fields, group, self._level))
            self._pending.append((group, done))
        else:
            self._pending.append((group, self._pool.submit(_encode, self._fields, group, self._level)))
        while self._pending and (len(self._pending) > self._max_groups or self._pending[0][1].done()):
            self._write_one()

    def _write_one(self) -> None:
        group, future = self._pending.popleft()
        for (attributes, _), (frames, counts) in zip(group, future.result(), strict=True):
            self._writer.put_frames(attributes, frames, counts)
            self.n_written += 1
            if self._on_written is not None:
                self._on_written(self.n_written)

    def finish(self) -> None:
        """Encode and write everything queued; the pool is shut down."""
        try:
            self._submit()
            while self._pending:
                self._write_one()
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Drop what is queued (nothing more reaches the writer); idempotent."""
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._group = []
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
