"""The ``checksums`` file of a store: a CRC-32 of the index and of every stored frame.

pysz's layout has no checksums. xsz adds two kinds, both invisible to pysz:

- zstd's own content checksum in every frame it writes (a header bit and 4
  bytes of XXH64 at the end of the frame; every zstd reader, pysz's included,
  reads such frames, and checks them). Every decode in xsz checks them, so a
  damaged frame raises instead of decoding to wrong samples.
- a ``checksums`` file beside ``index`` and ``dat`` (pysz reads only those
  two): the CRC-32 of the whole index, checked whenever a store is opened,
  and the CRC-32 of every frame's stored bytes, checked by ``verify``. A
  CRC-32 detects every error burst of up to 32 bits, so any one changed byte
  anywhere in the store is caught, whichever frame, cell or header it hits.

The file is one line of JSON, a TAB and the CRC-32 of that JSON in hex, a
newline, then one little-endian ``uint32`` per frame, row by row, each row's
datasets in schema order::

    {"xsz_checksums": 1, "index_bytes": 5120, "index_crc32": 3735928559,
     "datasets": ["Raw", "Move"], "frames": 200, "frames_crc32": 12345678,
     "zstd_checksums": true}\\t1a2b3c4d\\n<800 bytes>
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz.errors import SZFormatError

if TYPE_CHECKING:
    from collections.abc import Buffer, Sequence

    import numpy.typing as npt

    from xsz.source import ByteSource

__all__ = ["CHECKSUMS", "Checksums", "crc32", "format_checksums", "read_checksums"]

CHECKSUMS: Final = "checksums"
"""The file's name inside a store directory."""
VERSION: Final = 1
_HEAD_LIMIT: Final = 1 << 20
"""The JSON line is at most this long (it lists dataset names only)."""


def _crc32_function() -> Any:
    try:  # SIMD CRC-32, the same values as zlib's (the `fast` extra)
        from zlib_ng import zlib_ng

        return zlib_ng.crc32
    except ImportError:  # pragma: no cover - depends on the environment
        return zlib.crc32


_crc32 = _crc32_function()


def crc32(data: Buffer, value: int = 0) -> int:
    """The CRC-32 (zlib's polynomial) of `data`, continuing from `value`.

    Examples
    --------
    >>> crc32(b"123456789") == 0xCBF43926
    True
    """
    return int(_crc32(data, value))


@dataclass(frozen=True)
class Checksums:
    """The head of a ``checksums`` file: what the index and the frames must hash to."""

    index_bytes: int
    index_crc32: int
    datasets: tuple[str, ...]
    frames: int
    frames_crc32: int
    zstd_checksums: bool
    """Whether every frame carries zstd's content checksum."""
    body_offset: int
    """Where the frames' CRCs start in the file."""

    def check_index(self, data: Buffer, where: str) -> None:
        """Raise `SZFormatError` unless `data` is the index these checksums describe."""
        self.check_index_crc(memoryview(data).nbytes, crc32(data), where)

    def check_index_crc(self, size: int, found: int, where: str) -> None:
        """Raise `SZFormatError` unless an index of `size` bytes whose CRC-32 is
        `found` is the index these checksums describe."""
        if size != self.index_bytes:
            raise SZFormatError(
                f"{where}: the index holds {size} bytes, but its checksums file says "
                f"{self.index_bytes}: the index (or the checksums file) was changed"
            )
        if found != self.index_crc32:
            raise SZFormatError(
                f"{where}: the index does not match its CRC-32 "
                f"({found:08x}, expected {self.index_crc32:08x}): the index "
                "(or the checksums file) was changed"
            )

    def frame_crcs(self, source: ByteSource, n_reads: int) -> npt.NDArray[np.uint32]:
        """Every frame's CRC-32, shape ``(n_reads, len(datasets))``, checked against
        ``frames_crc32`` (`SZFormatError` when the file is damaged)."""
        where = f"{source.location}/{CHECKSUMS}"
        n = n_reads * len(self.datasets)
        if n != self.frames:
            raise SZFormatError(
                f"{where}: lists {self.frames} frames, the index has {n} "
                f"({n_reads} reads x {len(self.datasets)} datasets)"
            )
        body = source.read(CHECKSUMS, self.body_offset, 4 * n)
        if crc32(body) != self.frames_crc32:
            raise SZFormatError(f"{where}: the frame CRCs do not match their own CRC-32")
        size = source.size(CHECKSUMS)
        if size != self.body_offset + 4 * n:
            raise SZFormatError(f"{where}: {size} bytes, expected {self.body_offset + 4 * n}")
        return np.frombuffer(body, "<u4").reshape(n_reads, len(self.datasets))


def format_checksums(
    index_bytes: int,
    index_crc32: int,
    datasets: Sequence[str],
    frame_crcs: Buffer,
    *,
    zstd_checksums: bool,
) -> bytes:
    """The content of a ``checksums`` file for an index of `index_bytes` bytes whose
    CRC-32 is `index_crc32`, and frames whose CRC-32s are `frame_crcs`
    (``uint32`` in the machine's order, row by row; stored little-endian)."""
    body = np.asarray(memoryview(frame_crcs), dtype="<u4").tobytes()
    head = json.dumps(
        {
            "xsz_checksums": VERSION,
            "index_bytes": index_bytes,
            "index_crc32": index_crc32,
            "datasets": list(datasets),
            "frames": len(body) // 4,
            "frames_crc32": crc32(body),
            "zstd_checksums": bool(zstd_checksums),
        },
        separators=(",", ":"),
    ).encode()
    return head + b"\t%08x\n" % crc32(head) + body


def read_checksums(source: ByteSource) -> Checksums | None:
    """The head of the store's ``checksums`` file; ``None`` when it has none.

    Raises `SZFormatError` when the file is there but damaged.
    """
    size = source.size(CHECKSUMS)
    if size is None:
        return None
    start = source.read(CHECKSUMS, 0, min(size, _HEAD_LIMIT))
    try:
        return _parse_head(start)
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise SZFormatError(f"{source.location}/{CHECKSUMS} is damaged: {exc}") from None


def _parse_head(start: bytes) -> Checksums:
    end = start.find(b"\n")
    head, tab, check = start[:end].rpartition(b"\t")
    if end < 0 or not tab or not _is_hex8(check) or int(check, 16) != crc32(head):
        raise ValueError("the first line does not match its CRC-32")
    doc = json.loads(head)
    if not isinstance(doc, dict) or doc.get("xsz_checksums") != VERSION:
        raise ValueError(f"not version {VERSION} of the format")
    datasets = doc["datasets"]
    if not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
        raise TypeError("'datasets' is not a list of names")
    numbers = [doc[k] for k in ("index_bytes", "index_crc32", "frames", "frames_crc32")]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in numbers):
        raise TypeError("sizes and CRCs must be non-negative integers")
    return Checksums(
        index_bytes=doc["index_bytes"],
        index_crc32=doc["index_crc32"],
        datasets=tuple(datasets),
        frames=doc["frames"],
        frames_crc32=doc["frames_crc32"],
        zstd_checksums=doc["zstd_checksums"] is True,
        body_offset=end + 1,
    )


def _is_hex8(text: bytes) -> bool:
    return len(text) == 8 and all(c in b"0123456789abcdef" for c in text)
