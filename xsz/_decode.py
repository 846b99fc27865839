"""Decode many reads' frames of one numeric dataset straight into one output array.

The hot path of the xarray engine. `SZReader.dataset` returns one new array
per read and spends about 10 microseconds of Python per read; here the frame
byte ranges come from the index as arrays, neighbouring frames are fetched
with one ``pread``, and each frame is decompressed and streamvbyte-decoded by
the codec's C kernel directly into its place in the result (no per-read
array, no concatenation). Any frame that fails here is decoded again through
`SZReader`, whose error names the read, the dataset and the byte range.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Final

import numpy as np
import zstandard

from xsz.codec import decode_payload, kind_of
from xsz.codec._svb import _kernels  # the C kernels, or None (not built, or XSZ_NO_KERNELS)
from xsz.errors import SZFormatError

if TYPE_CHECKING:
    import numpy.typing as npt

    from xsz.format import SZReader

__all__ = ["MAX_GAP", "MAX_SPAN", "DatFile", "decode_into"]

MAX_GAP: Final = 1 << 16
"""Frames closer than this are fetched with one ``pread``."""
MAX_SPAN: Final = 1 << 26
"""A ``pread`` grows no larger than this (unless one frame is larger)."""

_local = threading.local()


def _dctx() -> zstandard.ZstdDecompressor:
    dctx: zstandard.ZstdDecompressor | None = getattr(_local, "dctx", None)
    if dctx is None:
        dctx = _local.dctx = zstandard.ZstdDecompressor()
    return dctx


class DatFile:
    """The ``dat`` file of a store, opened on first use; thread-safe ``pread``.

    `inode` and `size` are those of the file the index belongs to: a file
    opened at the path that is not that one (the store was replaced) is refused.
    """

    def __init__(self, path: str | os.PathLike[str], *, inode: int, size: int) -> None:
        self.path = os.fspath(path)
        self.inode, self.size = inode, size
        self._fd: int | None = None
        self._lock = threading.Lock()

    def _open(self) -> int:
        with self._lock:
            if self._fd is None:
                fd = os.open(self.path, os.O_RDONLY)
                st = os.fstat(fd)
                if (st.st_ino, st.st_size) != (self.inode, self.size):
                    os.close(fd)
                    raise SZFormatError(
                        f"{self.path} changed since its store was opened; open the store again"
                    )
                self._fd = fd
            return self._fd

    def pread(self, size: int, offset: int) -> bytes:
        fd = self._fd if self._fd is not None else self._open()
        return os.pread(fd, size, offset)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)  # type: ignore[arg-type]



def _spans(offsets: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]) -> list[tuple[int, int]]:
    """``[a, b)`` index ranges of `offsets` (sorted) fetched together."""
    n = len(offsets)
    if n == 0:
        return []
    reach = np.maximum.accumulate(ends)
    breaks = (np.flatnonzero(offsets[1:] > reach[:-1] + MAX_GAP) + 1).tolist()
    spans = []
    for a, b in zip([0, *breaks], [*breaks, n], strict=True):
        start = a
        for k in range(a + 1, b):  # keep each pread under MAX_SPAN
            if reach[k] - offsets[start] > MAX_SPAN:
                spans.append((start, k))
                start = k
        spans.append((start, b))
    return spans


def decode_into(
    reader: SZReader,
    dat: DatFile,
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
    frame_offset = reader.index.frame_offset[name][rows]
    frame_end = frame_offset + reader.index.frame_size[name][rows]
    order = np.argsort(frame_offset, kind="stable")
    offsets, ends = frame_offset[order], frame_end[order]
    for a, b in _spans(offsets, ends):
        lo = int(offsets[a])
        block = memoryview(dat.pread(int(ends[a:b].max()) - lo, lo))
        for k, start, stop in zip(
            order[a:b].tolist(), offsets[a:b].tolist(), ends[a:b].tolist(), strict=True
        ):
            n, p = int(counts[k]), int(positions[k])
            target = out[p : p + n]
            try:
                _decode_frame(block[start - lo : stop - lo], stop - start, kind, f.dtype, target)
            except Exception:  # decode it again the slow way, which names what is wrong
                (values,) = reader.dataset(name, [int(rows[k])])
                target[:] = values


def _decode_frame(
    frame: memoryview, size: int, kind: str, dtype: np.dtype, target: np.ndarray
) -> None:
    """Decode one frame of `size` bytes into `target` (its length is the read's count)."""
    n, itemsize = len(target), target.dtype.itemsize
    if len(frame) != size:
        raise ValueError("dat is shorter than the index says")
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
