"""Blocks of reads whose frames are made without a Python object per read.

An importer that can (`Pod5Source.blocks`) hands over its reads a block at a
time: their IDs, their index cells (attribute text, made column by column) and
a task, `Block.encode`, that makes their SZ frames in one go and holds the GIL
only to start and finish. For pod5, the task takes the file's VBZ chunks as
they are stored (zstd frames of svb16 zigzag-deltas): zstd decompresses them
all in one call, ``xsz._kernels.vbz_to_svb`` turns each read's chunks into its
SZ payload (the same bytes `xsz.codec.encode_payload` makes of its samples),
zstd compresses the payloads in one call, and ``xsz._kernels.join_crc`` lays
the frames back to back with their CRC-32s. Reading pod5's signal through
``pod5`` instead costs a Python call, and the GIL, per chunk.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import zstandard

from xsz.errors import SourceError
from xsz.format import crc32

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["Block", "Encoded", "uuid_texts", "kernels"]

LARGE_FRAME = 1 << 16
"""Frames of this many bytes on average get their CRC-32 from `xsz.format.crc32` one
by one (zlib-ng's, when installed, is several times faster than the C loop's), smaller
ones from ``xsz._kernels.join_crc`` all at once."""


@functools.cache
def kernels() -> Any:
    """``xsz._kernels`` if it was built with the import kernels, else ``None``."""
    try:
        from xsz import _kernels
    except ImportError:  # pragma: no cover - built without a C compiler
        return None
    return _kernels if hasattr(_kernels, "vbz_to_svb") else None


def uuid_texts(raw: np.ndarray[Any, np.dtype[np.uint8]]) -> list[str]:
    """Read IDs as text (``str(uuid.UUID(bytes=...))``) from an (n, 16) array of bytes.

    Examples
    --------
    >>> import uuid
    >>> u = uuid.UUID("f39f0d0a-56c1-4c31-9b60-4ab2d1a0b4e8")
    >>> uuid_texts(np.frombuffer(u.bytes, np.uint8).reshape(1, 16)) == [str(u)]
    True
    """
    n = len(raw)
    hexed = np.frombuffer(raw.tobytes().hex().encode("ascii"), np.uint8).reshape(n, 32)
    out = np.full((n, 36), ord("-"), np.uint8)
    out[:, 0:8] = hexed[:, 0:8]
    out[:, 9:13] = hexed[:, 8:12]
    out[:, 14:18] = hexed[:, 12:16]
    out[:, 19:23] = hexed[:, 16:20]
    out[:, 24:36] = hexed[:, 20:32]
    texts: list[str] = out.view("S36").ravel().astype("U36").tolist()
    return texts


@dataclass(slots=True)
class Encoded:
    """The frames of a block: back to back (read order), each one's size and CRC-32."""

    frames: bytes
    sizes: np.ndarray[Any, np.dtype[np.int64]]
    crcs: np.ndarray[Any, np.dtype[np.uint32]]


@dataclass(slots=True)
class Block:
    """Reads of one source, ready to encode: IDs, index cells and their VBZ chunks.

    `chunks` lists ``(buffer, segments)`` of the signal batches the reads take
    their chunks from (``segments`` as uint64 (offset, length) pairs, in read
    order); `samples` holds each chunk's sample count and `read_chunks` where
    each read's chunks start (n + 1 values).
    """

    read_ids: list[str]
    cells: list[str]
    counts: np.ndarray[Any, np.dtype[np.int64]]
    chunks: list[tuple[Any, bytes]]
    samples: np.ndarray[Any, np.dtype[np.int64]]
    read_chunks: np.ndarray[Any, np.dtype[np.int64]]
    reorder: np.ndarray[Any, np.dtype[np.int64]] | None
    """Where each chunk (in read order) is among those of `chunks` taken in turn
    (``None``: in the same order)."""
    locate: Callable[[int], str]
    """Where read k's signal is, for messages."""
    decode_one: Callable[[int], None] = field(repr=False, default=lambda k: None)
    """Raises the `SourceError` that read k's signal earns (used once a block fails)."""

    def encode(self, level: int, checksum: bool) -> Encoded:
        """The SZ frames of the block's reads (``Raw``, I16), in this thread, GIL released
        for the work; raises `SourceError` naming the first read whose signal is corrupt."""
        k = kernels()
        try:
            if not self.chunks:  # reads without signal
                plain: Any = []
            else:
                sources = zstandard.BufferWithSegmentsCollection(  # type: ignore[no-untyped-call]
                    *(zstandard.BufferWithSegments(buf, segs) for buf, segs in self.chunks)
                )
                plain = zstandard.ZstdDecompressor().multi_decompress_to_buffer(sources, threads=0)
        except (zstandard.ZstdError, ValueError):  # ValueError: no content size
            self._blame()
            raise  # pragma: no cover - _blame raises
        svb = [plain[i] for i in range(len(plain))]
        if self.reorder is not None:
            svb = [svb[i] for i in self.reorder.tolist()]
        payloads, segments, failed = k.vbz_to_svb(svb, self.samples, self.read_chunks)
        if failed >= 0:
            self.decode_one(failed)
            raise SourceError(f"{self.locate(failed)}: the VBZ signal does not decode")
        cctx = zstandard.ZstdCompressor(
            level=level, write_content_size=True, write_checksum=checksum
        )
        pieces: list[Any]
        if np.frombuffer(segments, np.uint64)[1::2].any():
            frames = cctx.multi_compress_to_buffer(
                zstandard.BufferWithSegments(payloads, segments), threads=0
            )
            pieces = [frames[i] for i in range(len(frames))]
            size = frames.size()
        else:  # zstd's multi_* take no block of nothing but empty signals
            pieces = [cctx.compress(b"")] * len(self.read_ids)
            size = 0
        if size >= LARGE_FRAME * len(pieces):  # few, large frames
            sizes = np.array([len(p) for p in pieces], np.int64)
            crcs = np.array([crc32(p) for p in pieces], np.uint32)
            return Encoded(b"".join(pieces), sizes, crcs)
        blob, crc_bytes, size_bytes = k.join_crc(pieces)
        return Encoded(
            blob, np.frombuffer(size_bytes, np.int64), np.frombuffer(crc_bytes, np.uint32)
        )

    def _blame(self) -> None:
        for r in range(len(self.read_ids)):
            self.decode_one(r)
        raise SourceError(f"{self.locate(0)} ...: a VBZ chunk of this block does not decode")


def block_sizes(counts: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of runs of reads holding about `budget` samples each (at least
    one read)."""
    out = []
    start, total = 0, 0
    for k, n in enumerate(counts):
        total += n
        if total >= budget:
            out.append((start, k + 1))
            start, total = k + 1, 0
    if start < len(counts):
        out.append((start, len(counts)))
    return out
