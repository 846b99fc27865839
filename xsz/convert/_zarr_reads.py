"""SZ -> Zarr, ``layout="reads"``: SZStore's hierarchy copied key by key, frames as bytes.

The keys and their bytes are exactly those `xsz.SZStore` shows for the store
(`xsz.store._view.SZView`): the root ``zarr.json`` with every array's metadata
consolidated in it, each array's ``zarr.json``, the chunks of the arrays made
from the index (read IDs, attributes, counts), and one chunk per read for each
dataset, whose bytes are that read's frame in ``dat``. Nothing is decoded or
encoded. Frames go a block of reads at a time: ``dat`` is mapped over the
block (``mmap``; an SZ store's ``dat`` is never changed in place, writers
rename a new store into place), each frame's zstd header is checked against
the index as SZStore checks it, so a damaged store is refused with the read
named rather than copied, and the sink copies the frames, inside the kernel
where it can (`xsz.convert._sinks`).
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
from typing import TYPE_CHECKING, Final

import numpy as np
import zstandard

from xsz.codec import ZSTD_MAGIC, max_payload_size
from xsz.convert._sinks import FrameBlock
from xsz.format._coalesce import chunk_plan
from xsz.store._arrays import ZARR_JSON
from xsz.store._view import Origin, SZView, _check_frame

if TYPE_CHECKING:
    from collections.abc import Buffer, Callable

    from xsz.convert._sinks import Sink
    from xsz.format import SZReader
    from xsz.store._arrays import ArrayView

__all__ = ["BLOCK_BYTES", "copy_reads"]

_MAP_FLAGS: Final = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
"""Linux maps a block's pages at once: cheaper than a fault per page when all are read."""

BLOCK_BYTES: Final = 1 << 25
"""Frame bytes read at a time (one block of reads, at least one read)."""


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
    fd = os.open(reader.path / "dat", os.O_RDONLY)
    try:
        for lo, hi in itertools.pairwise(chunk_plan(sizes, BLOCK_BYTES).tolist()):
            keys: list[str] = []
            parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
            where: list[tuple[str, ArrayView]] = []  # each frame's array
            for name, a in framed:
                assert a.rows is not None
                first, last = np.searchsorted(a.rows, [lo, hi]).tolist()
                rows = a.rows[first:last]
                keys += [f"{name}/c/{index}" for index in range(first, last)]
                parts.append((a.offsets[rows], a.sizes[rows], _limits(a, rows)))
                where += [(name, a)] * len(rows)
            if not keys:
                progress(hi)
                continue
            offsets = np.concatenate([p[0] for p in parts]).astype(np.int64)
            lengths = np.concatenate([p[1] for p in parts]).astype(np.int64)
            limits = np.concatenate([p[2] for p in parts])
            base = int(offsets.min()) - int(offsets.min()) % mmap.ALLOCATIONGRANULARITY
            stop = int((offsets + lengths).max())
            mapping = mmap.mmap(fd, stop - base, flags=_MAP_FLAGS, prot=mmap.PROT_READ, offset=base)
            check = _checker(reader, keys, where, limits.tolist())
            block = FrameBlock(fd, base, mapping, keys, offsets.tolist(), lengths.tolist(), check)
            sink.put_frames(block)  # the sink checks the frames and releases the block
            total += int(lengths.sum())
            progress(hi)
    finally:
        os.close(fd)
    return total


def _limits(a: ArrayView, rows: np.ndarray) -> np.ndarray:
    """The most payload bytes each frame of `rows` may declare (-1: any, for text)."""
    if a.counts is None:
        return np.full(len(rows), -1, dtype=np.int64)
    return max_payload_size(a.counts[rows].astype(np.int64), a.itemsize, a.raw)


def _checker(
    reader: SZReader,
    keys: list[str],
    where: list[tuple[str, ArrayView]],
    limits: list[int],
) -> Callable[[int, memoryview], None]:
    """Check frame `k` of a block as SZStore does: a zstd frame no larger than its read
    allows. The error, when there is one, comes from SZStore's own check."""

    def check(k: int, data: memoryview) -> None:
        if bytes(data[:4]) == ZSTD_MAGIC:
            limit = limits[k]
            if limit < 0:
                return
            with contextlib.suppress(zstandard.ZstdError):
                if zstandard.frame_content_size(data) <= limit:
                    return
        _, a = where[k]
        index = int(keys[k].rsplit("/", 1)[1])
        frame = a.frame(keys[k], index)
        assert frame is not None  # a chunk of the array
        _check_frame(Origin(reader, frame), data)  # type: ignore[arg-type]
        raise AssertionError(f"{keys[k]}: frame check disagrees")  # pragma: no cover

    return check
