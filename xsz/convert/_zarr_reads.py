"""SZ -> Zarr, ``layout="reads"``: SZStore's hierarchy copied key by key, frames as bytes.

The keys and their bytes are exactly those `xsz.SZStore` shows for the store
(`xsz.store._view.SZView`): the root ``zarr.json`` with every array's metadata
consolidated in it, each array's ``zarr.json``, the chunks of the arrays made
from the index (read IDs, attributes, counts), and one chunk per read for each
dataset, whose bytes are that read's frame in ``dat``. Nothing is decoded or
encoded. Frames are read a block of reads at a time with coalesced ``pread``
calls (`SZReader.frames`), and each frame's zstd header is checked against the
index first, as SZStore checks it, so a damaged store is refused with the
read named rather than copied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np

from xsz.store._arrays import ZARR_JSON
from xsz.store._view import Origin, SZView, _check_frame

if TYPE_CHECKING:
    from collections.abc import Buffer, Callable

    from xsz.convert._sinks import Sink
    from xsz.format import SZReader
    from xsz.store._arrays import ArrayView

__all__ = ["BLOCK_BYTES", "copy_reads"]

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
    documents: list[tuple[str, Buffer]] = [(ZARR_JSON, view.root_document())]
    documents += [(f"{name}/{ZARR_JSON}", a.document) for name, a in arrays.items()]
    for name, a in arrays.items():
        if a.rows is None:  # made from the index
            for index in range(a.n_chunks):
                chunk = a.encode(index)
                assert chunk is not None  # index < n_chunks
                documents.append((f"{name}/c/{index}", chunk))
    sink.put_many(documents)
    total = sum(len(memoryview(value)) for _, value in documents)

    datasets = [f.name for f in reader.schema.datasets]
    framed = [
        (name, a, datasets.index(a.spec.field.name))
        for name, a in arrays.items()
        if a.rows is not None and a.spec.field is not None
    ]
    n = len(reader)
    if not framed or not n:
        progress(n)
        return total
    sizes = sum(reader.index.frame_size[f].astype(np.int64) for f in datasets)
    for lo, hi in _blocks(np.cumsum(sizes), n):
        frames = reader.frames(np.arange(lo, hi))
        items: list[tuple[str, Buffer]] = []
        for name, a, k in framed:
            assert a.rows is not None
            first, last = np.searchsorted(a.rows, [lo, hi]).tolist()
            for index, row in zip(range(first, last), a.rows[first:last].tolist(), strict=True):
                key = f"{name}/c/{index}"
                frame = a.frame(key, name, index)
                assert frame is not None  # index < n_chunks
                data = frames[row - lo][k]
                _check_frame(Origin(reader, frame), data)
                items.append((key, data))
                total += len(data)
        sink.put_many(items)
        progress(hi)
    return total


def _blocks(ends: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Consecutive row ranges whose frames hold about `BLOCK_BYTES` each (one row at least)."""
    out = []
    lo = 0
    while lo < n:
        base = int(ends[lo - 1]) if lo else 0
        hi = int(np.searchsorted(ends, base + BLOCK_BYTES, side="right"))
        hi = min(n, max(hi, lo + 1))
        out.append((lo, hi))
        lo = hi
    return out
