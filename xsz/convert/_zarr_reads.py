"""SZ -> Zarr, ``layout="reads"``: SZStore's hierarchy copied key by key, frames as bytes.

The keys and their bytes are exactly those `xsz.SZStore` shows for the store
(`xsz.store._view.SZView`): the root ``zarr.json`` with every array's metadata
consolidated in it, each array's ``zarr.json``, the chunks of the arrays made
from the index (read IDs, attributes, counts), and one chunk per read for each
dataset, whose bytes are that read's frame in ``dat``. Nothing is re-encoded.
Frames go a block of reads at a time: ``dat`` is mapped over the block
(``mmap``; an SZ store's ``dat`` is never changed in place, writers rename a
new store into place), each frame is checked (`FrameChecker`: against its
CRC-32 in the ``checksums`` file, or decoded where the store has none), so a
damaged store is refused with the read named rather than copied, and the sink
copies the frames, inside the kernel where it can (`xsz.convert._sinks`).
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
from typing import TYPE_CHECKING, Final

import numpy as np

from xsz.codec import decode_array, decode_blocks_into, decode_text, frame_content_sizes
from xsz.convert._sinks import FrameBlock
from xsz.errors import CodecError, SZFormatError, UsageError
from xsz.format import chunk_plan, crc32
from xsz.source import LocalSource
from xsz.store import ZARR_JSON, Frame, Origin, SZView, frame_header_problem, payload_bounds

if TYPE_CHECKING:
    from collections.abc import Buffer, Callable

    import numpy.typing as npt

    from xsz.convert._sinks import Sink
    from xsz.format import SZReader
    from xsz.store import ArrayView

__all__ = ["BLOCK_BYTES", "FrameChecker", "copy_reads"]

_MAP_FLAGS: Final = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
"""Linux maps a block's pages at once: cheaper than a fault per page when all are read."""

BLOCK_BYTES: Final = 1 << 25
"""Frame bytes read at a time (one block of reads, at least one read)."""
DECODE_BYTES: Final = 1 << 24
"""Decoded bytes at a time when frames are checked by decoding them (no checksums)."""


def copy_reads(reader: SZReader, sink: Sink, *, progress: Callable[[int], object]) -> int:
    """Put every key of `reader`'s SZStore hierarchy into `sink`; returns the bytes put.

    `progress` is called with the number of reads copied so far.
    """
    view = SZView(reader)
    arrays: dict[str, ArrayView] = {}
    for name in view.specs:
        found = view.array(name)
        assert found is not None  # every name of the layout has its array
        arrays[name] = found
    framed = [
        (name, a) for name, a in arrays.items() if a.rows is not None and a.spec.field is not None
    ]
    n = len(reader)
    total = _copy_frames(reader, framed, sink, progress) if framed and n else 0
    documents: list[tuple[str, Buffer]] = [(ZARR_JSON, view.root_document())]
    documents += [(f"{name}/{ZARR_JSON}", a.document) for name, a in arrays.items()]
    for name, a in arrays.items():
        if a.rows is None:  # made from the index
            for index in range(a.n_chunks):
                chunk = a.encode(index)
                assert chunk is not None  # index < n_chunks
                documents.append((f"{name}/c/{index}", chunk))
    sink.put_many(documents)
    total += sum(len(memoryview(value)) for _, value in documents)

    progress(n)
    return total


def _copy_frames(
    reader: SZReader,
    framed: list[tuple[str, ArrayView]],
    sink: Sink,
    progress: Callable[[int], object],
) -> int:
    """Put the frames of every read into `sink`, a block of reads at a time."""
    n = len(reader)
    total = 0
    sizes = np.zeros(n, dtype=np.int64)
    for f in reader.schema.datasets:
        sizes += reader.index.frame_size[f.name]
    checker = FrameChecker(reader)
    source = reader.source
    if not isinstance(source, LocalSource):
        raise UsageError(
            f"{reader.path}: converting to Zarr maps the frames of a local store; copy the "
            "store here first"
        )
    fd = source.fileno("dat")  # the dat of the version whose index we have
    for lo, hi in itertools.pairwise(chunk_plan(sizes, BLOCK_BYTES).tolist()):
        keys: list[str] = []
        chunks: list[tuple[ArrayView, int, int]] = []  # per array: its chunks first:last
        for name, a in framed:
            assert a.rows is not None
            first, last = np.searchsorted(a.rows, [lo, hi]).tolist()
            if a.counts is not None and last - first != hi - lo:  # reads without values
                checker.check_empty(a, np.setdiff1d(np.arange(lo, hi), a.rows[first:last]))
            keys += [f"{name}/c/{index}" for index in range(first, last)]
            chunks.append((a, first, last))
        if not keys:
            progress(hi)
            continue
        offsets = np.concatenate([a.offsets[_rows(a)[i:j]] for a, i, j in chunks])
        lengths = np.concatenate([a.sizes[_rows(a)[i:j]] for a, i, j in chunks])
        base = int(offsets.min()) - int(offsets.min()) % mmap.ALLOCATIONGRANULARITY
        stop = int((offsets + lengths).max())
        mapping = mmap.mmap(fd, stop - base, flags=_MAP_FLAGS, prot=mmap.PROT_READ, offset=base)
        try:
            check = checker.block(memoryview(mapping), base, chunks)
        except BaseException:
            with contextlib.suppress(BufferError):  # views in the traceback keep it mapped
                mapping.close()
            raise
        block = FrameBlock(fd, base, mapping, keys, offsets.tolist(), lengths.tolist(), check)
        sink.put_frames(block)  # the sink checks the frames and releases the block
        total += int(lengths.sum())
        progress(hi)
    return total


def _rows(a: ArrayView) -> npt.NDArray[np.int64]:
    """The row of each chunk of a dataset's array."""
    assert a.rows is not None  # a dataset's array
    return a.rows


def _no_check(k: int, data: memoryview) -> None:
    """The check of a frame already checked (its CRC-32 unknown)."""


class FrameChecker:
    """Checks that each frame copied is the one the store wrote, so that no damage is copied.

    A store with a ``checksums`` file (xsz writes one) has the CRC-32 of every
    frame: a frame must match it, which any changed byte fails. Without one
    (pysz's stores), the frames are decoded as a read decodes them: each
    header against the values the index gives the read (`SZStore`'s check),
    zstd's content checksum where a frame has one, the number of values, UTF-8
    for text. What a read of the SZ store refuses is never copied. (A changed
    byte that still decodes to the right number of values can be told by no
    one without a checksum.)
    """

    def __init__(self, reader: SZReader) -> None:
        self.reader = reader
        self.crcs = reader.frame_crcs()
        self.columns = {f.name: k for k, f in enumerate(reader.schema.datasets)}

    def block(
        self, view: memoryview, base: int, chunks: list[tuple[ArrayView, int, int]]
    ) -> Callable[[int, memoryview], int | None]:
        """The check of frame `k` of a block: chunks ``first:last`` of each array in
        `chunks`, in ``dat`` mapped from offset `base` in `view`; it returns the
        frame's CRC-32 when it matched the checksums file. Without CRCs the frames
        are all decoded here (any damage raises now) and the check is none."""
        if self.crcs is None:
            for a, first, last in chunks:
                self._decode_all(view, base, a, first, last)
            return _no_check
        where = [(a, index) for a, first, last in chunks for index in range(first, last)]
        expected = np.concatenate(
            [self.crcs[_rows(a)[i:j], self.columns[a.dataset]] for a, i, j in chunks]
        ).tolist()

        def check(k: int, data: memoryview) -> int:
            found = crc32(data)
            if found != expected[k]:
                a, index = where[k]
                self._check_chunk(a, index, data)  # raises, naming the read
                raise AssertionError("the frame checks disagree")  # pragma: no cover
            return found

        return check

    def _check_chunk(self, a: ArrayView, index: int, data: Buffer) -> None:
        frame = a.frame(f"{a.spec.name}/c/{index}", index)
        assert frame is not None  # a chunk of the array
        self.check(Origin(self.reader, frame), data)

    def check(self, origin: Origin, data: Buffer) -> None:
        """Raise `SZFormatError` naming `origin` unless `data` is its frame."""
        frame = origin.frame
        problem = frame_header_problem(data, frame)
        if self.crcs is not None:
            expected = int(self.crcs[frame.row, self.columns[frame.name]])
            found = crc32(data)
            if found != expected and problem is None:
                problem = (
                    f"the frame does not match its CRC-32 in the checksums file "
                    f"({found:08x}, expected {expected:08x}): these bytes were changed"
                )
        elif problem is None:
            try:
                if frame.count is None:
                    decode_text(memoryview(data))
                else:
                    decode_array(
                        memoryview(data), self.reader.schema[frame.name].dtype, frame.count
                    )
            except CodecError as exc:
                problem = str(exc)
        if problem is not None:
            raise SZFormatError(f"{origin}: {problem}")

    def _decode_all(self, view: memoryview, base: int, a: ArrayView, first: int, last: int) -> None:
        """Decode chunks ``first:last`` of `a` (many numeric frames at a time, in C)."""
        rows = _rows(a)[first:last]
        starts, sizes = a.offsets[rows] - base, a.sizes[rows]
        if a.counts is None:  # text: each frame on its own
            for index, start, size in zip(
                range(first, last), starts.tolist(), sizes.tolist(), strict=True
            ):
                self._check_chunk(a, index, bytes(view[start : start + size]))
            return
        counts = a.counts[rows]
        least, most = payload_bounds(counts, a.itemsize, a.raw)
        claimed = frame_content_sizes(view, starts)
        bad = np.flatnonzero((claimed >= 0) & ((claimed < least) | (claimed > most)))
        if len(bad):
            k = int(bad[0])
            self._check_chunk(a, first + k, bytes(view[starts[k] : starts[k] + sizes[k]]))
        for i, j in itertools.pairwise(chunk_plan(counts * a.itemsize, DECODE_BYTES).tolist()):
            scratch = np.empty(int(counts[i:j].sum()), dtype=a.spec.dtype)
            positions = np.cumsum(counts[i:j]) - counts[i:j]
            failed = decode_blocks_into(
                [(view, starts[i:j], sizes[i:j])], counts[i:j], positions, scratch
            )
            if failed >= 0:
                k = i + failed
                self._check_chunk(a, first + k, bytes(view[starts[k] : starts[k] + sizes[k]]))
                where = f"{a.spec.name}/c/{first + k}"
                raise AssertionError(f"{where}: the decoders disagree")  # pragma: no cover

    def check_empty(self, a: ArrayView, rows: npt.NDArray[np.int64]) -> None:
        """Check the frames of `rows`, reads without values (their frames have no chunk)."""
        for row in rows.tolist():
            offset, size = int(a.offsets[row]), int(a.sizes[row])
            key = f"(no chunk: no {a.dataset} values)"
            frame = Frame(key, a.dataset, row, offset, size, 0, 0, 0)
            self.check(Origin(self.reader, frame), self.reader.pread(size, offset))
