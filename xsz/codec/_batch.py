"""svb-zstd for many values at once: payloads and frames of a whole batch of reads.

A writer that calls `encode_array` once per read pays Python's price per read
(dtype lookups, a payload object, a frame object) and holds the GIL for it. Here
one call encodes every payload of a batch (`encode_payloads`, the C kernels with
the GIL released once) and one call compresses them all (`compress_many`,
zstandard's ``multi_compress_to_buffer``, the GIL released once). The frames are
byte-identical to `encode_array`'s: the same payloads, the same zstd parameters
(content size recorded, level, checksum flag); without the C kernels or the
zstandard C backend the same bytes come from the one-read functions.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import zstandard

from xsz.codec._svb import (
    _KINDS,
    _compressor,
    _kernels,
    compress,
    encode_payload,
    normalize_dtype,
)
from xsz.errors import CodecError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    Buffer = bytes | bytearray | memoryview

__all__ = ["MULTI_BELOW", "compress_many", "encode_payloads", "join_frames", "text_payloads"]

MULTI_BELOW: Final = 1 << 15
"""`compress_many` hands frames to zstandard all at once when they average fewer
bytes than this, and one by one (a context kept per thread) otherwise."""


def _segments(lengths: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """(offset, length) rows of payloads of `lengths` bytes laid back to back."""
    out = np.empty((len(lengths), 2), np.uint64)
    if len(lengths):
        ends = np.cumsum(lengths)
        out[:, 0] = ends - lengths
        out[:, 1] = lengths
    return out


def encode_payloads(
    parts: Sequence[Any], counts: npt.NDArray[np.int64], dtype: object
) -> tuple[bytes, npt.NDArray[np.uint64]]:
    """The pre-zstd payloads of many arrays of one numeric `dtype`, back to back.

    Payload ``i`` encodes the next ``counts[i]`` values of the buffers in `parts`
    (arrays or bytearrays of `dtype`'s values, taken in order, each holding whole
    payloads). Returns the payloads and one ``(offset, length)`` row per payload.

    Examples
    --------
    >>> import numpy as np
    >>> a, b = np.array([1, -2, 3], np.int16), np.array([7], np.int16)
    >>> data, segments = encode_payloads([a, b], np.array([2, 1, 1]), np.int16)
    >>> segments.tolist()
    [[0, 3], [3, 2], [5, 2]]
    >>> data[:3] == encode_payload(a[:2])
    True
    """
    dt = normalize_dtype(dtype)
    kind = _KINDS[dt]
    if kind == "utf8":
        raise CodecError("text is encoded with text_payloads, not encode_payloads")
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    if len(counts) and counts.min() < 0:
        raise CodecError(f"a count of values must be >= 0, got {counts.min()}")
    if kind == "raw":
        data = b"".join(np.ascontiguousarray(np.frombuffer(p, dt)).tobytes() for p in parts)
        if counts.sum() * dt.itemsize != len(data):
            raise CodecError(f"{counts.sum()} values of {dt} do not fill {len(data)} bytes")
        return data, _segments(counts * dt.itemsize)
    if _kernels is not None:
        try:
            data, segments = _kernels.encode_many(
                parts, counts, dt.itemsize, dt.kind == "i", kind == "delta"
            )
        except ValueError as exc:
            raise CodecError(str(exc)) from None
        return data, np.frombuffer(segments, np.uint64).reshape(-1, 2)
    values = np.concatenate([np.frombuffer(p, dt) for p in parts]) if parts else np.empty(0, dt)
    if counts.sum() != len(values):
        raise CodecError(f"{counts.sum()} values asked of {len(values)}")
    ends = np.cumsum(counts)
    payloads = [
        encode_payload(values[end - n : end])
        for end, n in zip(ends.tolist(), counts.tolist(), strict=True)
    ]
    return b"".join(payloads), _segments(np.array([len(p) for p in payloads], np.int64))


def text_payloads(texts: Sequence[str]) -> tuple[bytes, npt.NDArray[np.uint64]]:
    """The UTF-8 payloads of many strings, back to back, with their segments."""
    payloads = [t.encode("utf-8") for t in texts]
    return b"".join(payloads), _segments(np.fromiter(map(len, payloads), np.int64, len(payloads)))


def compress_many(
    data: Buffer, segments: npt.NDArray[np.uint64], *, level: int, checksum: bool
) -> tuple[Sequence[Buffer], npt.NDArray[np.int64]]:
    """The zstd frames of the `segments` of `data`, in the order of `segments`,
    and each frame's size. The GIL is released while compressing.

    Examples
    --------
    >>> frames, sizes = compress_many(b"ACGTACGT", np.array([[0, 4], [4, 4]]), level=3,
    ...                               checksum=False)
    >>> b"".join(frames) == compress(b"ACGT") * 2, sizes.tolist()
    (True, [13, 13])
    """
    segments = np.ascontiguousarray(segments, dtype=np.uint64).reshape(-1, 2)
    n = len(segments)
    frames: Sequence[Buffer]
    cctx = _compressor(level, checksum)
    multi = getattr(cctx, "multi_compress_to_buffer", None)
    total = int(segments[:, 1].sum()) if n else 0
    # zstandard makes a new context for every call (its tables allocated and
    # cleared again): worth it for many small frames, not for a few large ones
    if multi is not None and 0 < total < n * MULTI_BELOW:
        try:
            frames = multi(zstandard.BufferWithSegments(data, segments.tobytes()), threads=0)
        except NotImplementedError:  # pragma: no cover - zstandard's cffi backend
            frames = _one_by_one(data, segments, level, checksum)
    else:
        frames = _one_by_one(data, segments, level, checksum)
    return frames, np.fromiter(map(len, frames), np.int64, n)


def _one_by_one(
    data: Buffer, segments: npt.NDArray[np.uint64], level: int, checksum: bool
) -> list[bytes]:
    view = memoryview(data)
    return [
        compress(view[start : start + length], level=level, checksum=checksum)
        for start, length in segments.tolist()
    ]


def join_frames(frames: Sequence[Buffer]) -> tuple[bytes, npt.NDArray[np.uint32]]:
    """`frames` back to back, and the CRC-32 of each: one call into C, without the
    GIL, when xsz's kernels are built; zlib's `crc32` frame by frame otherwise."""
    if _kernels is not None and hasattr(_kernels, "join_crc") and len(frames):
        blob, crc_bytes, _ = _kernels.join_crc(frames)
        return blob, np.frombuffer(crc_bytes, np.uint32)
    return b"".join(frames), np.array([zlib.crc32(f) for f in frames], dtype=np.uint32)
