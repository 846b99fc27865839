"""Decode many reads' frames of one numeric dataset straight into one output array.

The hot path of the xarray engine. `SZReader.dataset` returns one new array
per read and spends about 10 microseconds of Python per read; here the frame
byte ranges come from the index as arrays, neighbouring frames are fetched
with one ``pread`` (the reader's coalescing fetch), and each frame is
decompressed and streamvbyte-decoded by the codec's C kernel directly into
its place in the result: no per-read array, no concatenation. Any frame that
fails here is decoded again through `SZReader`, whose error names the read,
the dataset and the byte range.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np
import zstandard

from xsz.codec import decode_payload, kind_of
from xsz.codec._svb import _kernels  # the C kernels, or None (not built, or XSZ_NO_KERNELS)

if TYPE_CHECKING:
    import numpy.typing as npt

    from xsz.format import SZReader

__all__ = ["decode_into"]

_local = threading.local()


def _dctx() -> zstandard.ZstdDecompressor:
    dctx: zstandard.ZstdDecompressor | None = getattr(_local, "dctx", None)
    if dctx is None:
        dctx = _local.dctx = zstandard.ZstdDecompressor()
    return dctx


def decode_into(
    reader: SZReader,
    name: str,
    rows: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    out: np.ndarray,
    positions: npt.NDArray[np.int64],
) -> None:
    """Decode read ``rows[i]``'s `name` frame into ``out[positions[i]:][:counts[i]]``.

    `counts` are the reads' element counts (``counts[i]`` for ``rows[i]``).
    Rows may come in any order and repeat.
    """
    if not len(rows):
        return
    f = reader.schema[name]
    kind = kind_of(f.dtype)
    starts = reader.index.frame_offset[name][rows]
    frames = reader._fetch(starts, starts + reader.index.frame_size[name][rows])
    for k, (frame, n, p) in enumerate(zip(frames, counts.tolist(), positions.tolist(), strict=True)):
        target = out[p : p + n]
        try:
            _decode_frame(frame, kind, f.dtype, target)
        except Exception:  # decode it again the slow way, which names what is wrong
            (values,) = reader.dataset(name, [int(rows[k])])
            target[:] = values


def _decode_frame(frame: memoryview, kind: str, dtype: np.dtype, target: np.ndarray) -> None:
    """Decode one frame into `target` (its length is the read's count)."""
    n, itemsize = len(target), target.dtype.itemsize
    claimed = zstandard.frame_content_size(frame)
    if claimed < 0 or claimed > (n * itemsize if kind == "raw" else 5 * n + 4):
        raise ValueError(f"frame claims {claimed} bytes")
    payload = _dctx().decompress(frame)
    if kind == "raw":
        if len(payload) != n * itemsize:
            raise ValueError(f"{len(payload)} bytes for {n} values")
        target[:] = np.frombuffer(payload, target.dtype)
    elif _kernels is not None:
        _kernels.decode(payload, n, target, itemsize, kind == "delta")
    else:  # pragma: no cover - exercised without the C kernels
        target[:] = decode_payload(payload, dtype, n)
