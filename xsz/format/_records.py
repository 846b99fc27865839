"""Records on their way into ``dat``: checked values, their frames, their index cells."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import zstandard

from xsz.codec import ZSTD_MAGIC, compress, encode_payload, kind_of, max_payload_size
from xsz.errors import CodecError
from xsz.format._checksums import crc32
from xsz.format._values import _fail

if TYPE_CHECKING:
    from collections.abc import Sequence

    from xsz.format._schema import Field

__all__ = [
    "Encoded",
    "Prepared",
    "check_frame",
    "compress_records",
    "has_checksum",
    "with_checksum",
]


@dataclass(slots=True)
class Prepared:
    """A checked record: the index cells of its attributes, each dataset's values
    (an array the writer owns, or a str) or finished frame, and element counts."""

    read_id: object
    attr_cells: list[str]
    values: list[Any]
    counts: list[int | None]
    encoded: bool = False  # values are finished frames (put_frames)

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes if isinstance(v, np.ndarray) else len(v) for v in self.values)


def _payload(value: Any) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else encode_payload(value)


Encoded = tuple[bytes, bytes, list[int], bool]
"""A record ready for ``dat``: its frames back to back, its index cells (UTF-8, after
LENGTH and OFFSET), each frame's CRC-32, and whether every frame carries zstd's
content checksum."""


def compress_records(
    fields: Sequence[Field], items: list[Prepared], level: int, checksum: bool
) -> list[Encoded | Exception]:
    """Encode each item whole, index cells included; a failing item yields its
    exception (and nothing of it reaches ``dat``)."""
    out: list[Encoded | Exception] = []
    for item in items:
        try:
            if item.encoded:
                frames = [bytes(v) for v in item.values]
                checked = all(has_checksum(frame) for frame in frames)
            else:
                frames = [
                    compress(_payload(v), level=level, checksum=checksum) for v in item.values
                ]
                checked = checksum
            cells = [
                f"{len(frame)}:{n if f.has_count else ''}"
                for f, frame, n in zip(fields, frames, item.counts, strict=True)
            ]
            line = "\t".join([*item.attr_cells, *cells]).encode("utf-8")
            crcs = [crc32(frame) for frame in frames]
        except Exception as exc:
            out.append(exc)
        else:
            out.append((b"".join(frames), line, crcs, checked))
    return out


def has_checksum(frame: bytes | memoryview) -> bool:
    """Whether a zstd frame's header announces a content checksum."""
    return len(frame) > 4 and bool(frame[4] & 0x04)


def with_checksum(frame: bytes | memoryview) -> bytes:
    """`frame` with zstd's content checksum added: the header's checksum bit set and
    the 4 bytes of the content's XXH64 appended, nothing re-compressed.

    Raises `CodecError` when `frame` is not exactly one zstd frame that decodes.

    Examples
    --------
    >>> from xsz.codec import compress
    >>> plain = compress(b"ACGT" * 100)
    >>> with_checksum(plain) == compress(b"ACGT" * 100, checksum=True)
    True
    """
    if has_checksum(frame):
        return bytes(frame)
    if bytes(frame[:4]) != ZSTD_MAGIC:
        raise CodecError("not a zstd frame")
    content = _one_frame(frame)
    # zstd's checksum is the low 4 bytes of XXH64(content): the last 4 bytes of any
    # checksummed frame of the same content (level 1: the cheapest to make)
    digest = compress(content, level=1, checksum=True)[-4:]
    out = bytearray(frame)
    out[4] |= 0x04
    out += digest
    if _one_frame(out) != content:  # pragma: no cover - zstd checks the digest itself
        raise CodecError("the frame with its checksum does not decode to the same content")
    return bytes(out)


def _one_frame(frame: bytes | bytearray | memoryview) -> bytes:
    """The content of `frame`, which must be exactly one whole zstd frame."""
    dobj = zstandard.ZstdDecompressor().decompressobj()
    try:
        content = dobj.decompress(frame)
    except zstandard.ZstdError as exc:
        raise CodecError(f"corrupt zstd frame: {exc}") from exc
    if not dobj.eof:
        raise CodecError("the zstd frame is cut short")
    if dobj.unused_data:
        raise CodecError(f"{len(dobj.unused_data)} bytes follow the zstd frame")
    return content


def check_frame(f: Field, frame: bytes | memoryview, count: int | None, read_id: object) -> None:
    """Refuse (`RecordError`) a finished frame that cannot be `f`'s frame of `count` values."""
    if bytes(frame[:4]) != ZSTD_MAGIC:
        raise _fail(read_id, f, "not a zstd frame")
    try:
        size = zstandard.frame_content_size(frame)
    except zstandard.ZstdError as exc:
        raise _fail(read_id, f, f"bad zstd frame header: {exc}") from exc
    if f.has_count:
        if count is None or count < 0:
            raise _fail(read_id, f, f"a {f.code} frame needs its element count, got {count!r}")
        low, high = count + (count + 3) // 4, max_payload_size(count, 4, raw=False)
        if size >= 0 and not low <= size <= high:
            raise _fail(
                read_id, f, f"a frame of {size} bytes cannot hold {count} streamvbyte values"
            )
    elif (
        count is not None
        and kind_of(f.dtype) == "raw"
        and size >= 0
        and size != count * f.dtype.itemsize
    ):
        raise _fail(read_id, f, f"a frame of {size} bytes does not hold {count} {f.dtype} values")
