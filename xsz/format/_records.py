"""Records on their way into ``dat``: checked values, their frames, their index cells.

Reads put one by one gather in a `Batch`, column by column, and `encode_batch` encodes a whole
batch in a few calls that release the GIL (`xsz.codec.encode_payloads`,
`xsz.codec.compress_many`): no Python work per read beyond checking it. Frames
that come finished (`SZWriter.put_frames`) go through `compress_records`, one
`Prepared` record at a time.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Any

import numpy as np
import zstandard

from xsz.codec import (
    MULTI_BELOW,
    ZSTD_MAGIC,
    compress,
    compress_many,
    encode_payload,
    encode_payloads,
    kind_of,
    max_payload_size,
    text_payloads,
)
from xsz.errors import CodecError
from xsz.format._checksums import crc32
from xsz.format._values import _fail

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from xsz.format._schema import Field

__all__ = [
    "Batch",
    "Done",
    "Encoded",
    "Prepared",
    "check_frame",
    "compress_records",
    "done_records",
    "encode_batch",
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
    if isinstance(value, str):
        return value.encode("utf-8")
    return value if isinstance(value, bytes) else encode_payload(value)  # bytes: made already


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


class Batch:
    """Checked reads waiting for their encoder, column by column.

    ``cells[i]`` is read i's attribute cells joined by TABs; ``columns[j][i]`` is
    read i's value of dataset j: a 1-D array of the dataset's dtype, its
    streamvbyte payload already made (bytes), or a str; ``counts[j][i]`` its
    number of values (0 for text).
    """

    __slots__ = (
        "cells",
        "columns",
        "counts",
        "encoded",
        "has_attributes",
        "ids",
        "made",
        "nbytes",
    )

    def __init__(self, n_datasets: int, has_attributes: bool) -> None:
        self.has_attributes = has_attributes
        self.ids: list[object] = []
        self.cells: list[str] = []
        self.columns: list[list[Any]] = [[] for _ in range(n_datasets)]
        self.counts: list[list[int]] = [[] for _ in range(n_datasets)]
        self.encoded = 0  # reads whose payload came made (large arrays encoded at put)
        self.made: list[tuple[bytes, npt.NDArray[np.uint64]] | None] = [None] * n_datasets
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, read_id: object, cells: str, values: list[Any]) -> None:
        """Take one checked read: numeric values as C-contiguous 1-D arrays of their
        dataset's dtype that nobody else will change, or as ``(payload, count)``;
        text as str."""
        nbytes = 0
        for column, counts, value in zip(self.columns, self.counts, values, strict=True):
            kind = type(value)
            if kind is str:
                column.append(value)
                counts.append(0)
                nbytes += len(value)
            elif kind is tuple:
                payload, n = value
                column.append(payload)
                counts.append(n)
                nbytes += len(payload)
                self.encoded += 1
            else:
                column.append(value)
                counts.append(len(value))
                nbytes += value.nbytes
        self.ids.append(read_id)
        self.cells.append(cells)
        self.nbytes += nbytes

    def small(self) -> bool:
        """Whether this batch is many small reads (encoded best all at once)."""
        return not self.encoded and self.nbytes < len(self.ids) * MULTI_BELOW

    def make_payloads(self, fields: Sequence[Field]) -> None:
        """Make the streamvbyte payloads of every numeric dataset now, in the calling
        thread (the GIL released meanwhile); the encoder then only compresses."""
        for j, f in enumerate(fields):
            if f.is_text or self.made[j] is not None:
                continue
            try:
                self.made[j] = encode_payloads(
                    self.columns[j], np.array(self.counts[j], np.int64), f.dtype
                )
            except Exception:  # the encoder tries again, read by read
                return

    def records(self, fields: Sequence[Field]) -> list[Prepared]:
        """The reads one by one (to find which one an encoder cannot take)."""
        cells = [[c] if self.has_attributes else [] for c in self.cells]
        counts = [
            [n if f.has_count else None for f, n in zip(fields, row, strict=True)]
            for row in zip(*self.counts, strict=True)
        ] or [[] for _ in self.ids]
        values = [list(row) for row in zip(*self.columns, strict=True)] or [[] for _ in self.ids]
        return [Prepared(*record) for record in zip(self.ids, cells, values, counts, strict=True)]


@dataclass(slots=True)
class Done:
    """Encoded reads, ready for ``dat``: their frames in order (whole records back
    to back, to be written as they are), each read's byte length, each frame's
    CRC-32, whether every frame carries zstd's content checksum, and the reads
    that could not be encoded (read ID, error). Each read's index line is
    ``form % (LENGTH, OFFSET, *cells)``, its cells one per list of `cells`."""

    frames: list[Any]
    lengths: list[int]
    form: str | bytes
    cells: list[list[Any]]
    crcs: array[int]
    checked: bool
    failed: list[tuple[object, BaseException]]
    numbers: tuple[npt.NDArray[np.int64], list[list[int]], list[str]] | None = None
    """Each read's frame sizes (a column a dataset), the counts of each streamvbyte
    dataset and the attribute cells: what the ``table`` file is made of (`None`:
    it is made of the index lines instead)."""

    def lines(self, start: int) -> bytes:
        """The index lines of these reads, the first at byte `start` of ``dat``."""
        offsets = accumulate(self.lengths[:-1], initial=start)
        rows = zip(self.lengths, offsets, *self.cells, strict=True)
        if isinstance(self.form, bytes):  # cells given as the bytes of the index
            return b"".join(map(self.form.__mod__, rows))
        return "".join(map(self.form.__mod__, rows)).encode("utf-8")


def _form(fields: Sequence[Field], has_attributes: bool) -> str:
    """`Done.form` for a batch: its cells are the attribute text, then each
    dataset's frame size (and count, for streamvbyte datasets)."""
    cells = ["%s"] if has_attributes else []
    cells += ["%d:%d" if f.has_count else "%d:" for f in fields]
    return "%d\t%d\t" + "\t".join(cells) + "\n"


def encode_batch(fields: Sequence[Field], batch: Batch, level: int, checksum: bool) -> Done:
    """Encode a whole `Batch` in a few calls; should that fail, read by read, so
    only the reads that cannot be encoded are left out (and named)."""
    try:
        return _encode_batch(fields, batch, level, checksum)
    except Exception:  # find the read(s) at fault, and keep the others
        return done_records(fields, batch.records(fields), level, checksum)


def _column_payloads(
    f: Field,
    column: list[Any],
    counts: list[int],
    encoded: bool,
    made: tuple[bytes, npt.NDArray[np.uint64]] | None,
) -> tuple[bytes, npt.NDArray[np.uint64], list[int], list[bytes]]:
    """A column's payloads: those made here (or by `Batch.make_payloads`), back to
    back, with their segments; and the reads whose payload came made at put, with
    those payloads."""
    if made is not None:
        return made[0], made[1], [], []
    if f.is_text:
        data, segs = text_payloads(column)
        return data, segs, [], []
    if not encoded:
        data, segs = encode_payloads(column, np.array(counts, np.int64), f.dtype)
        return data, segs, [], []
    ready = [i for i, v in enumerate(column) if type(v) is bytes]
    todo = [i for i, v in enumerate(column) if type(v) is not bytes]
    data, part = encode_payloads(
        [column[i] for i in todo], np.array([counts[i] for i in todo], np.int64), f.dtype
    )
    segs = np.zeros((len(column), 2), np.uint64)
    segs[todo] = part
    return data, segs, ready, [column[i] for i in ready]


def _encode_batch(fields: Sequence[Field], batch: Batch, level: int, checksum: bool) -> Done:
    n, k = len(batch), len(fields)
    columns = [
        _column_payloads(f, column, counts, bool(batch.encoded), made)
        for f, column, counts, made in zip(
            fields, batch.columns, batch.counts, batch.made, strict=True
        )
    ]
    frames: Any
    if not batch.encoded and k and sum(len(c[0]) for c in columns) < n * k * MULTI_BELOW:
        # many small payloads: all compressed in one call, from one buffer, in record
        # order (read 0's datasets, then read 1's, ...)
        if k == 1:
            data, segs = columns[0][0], columns[0][1]
        else:
            bases = np.cumsum([0] + [len(c[0]) for c in columns[:-1]], dtype=np.uint64)
            data = b"".join(c[0] for c in columns)
            segs = np.stack(
                [
                    c[1] + np.array([base, 0], np.uint64)
                    for c, base in zip(columns, bases, strict=True)
                ],
                axis=1,
            ).reshape(-1, 2)
        many, sizes = compress_many(data, segs, level=level, checksum=checksum)
        crcs = array("I", map(crc32, many))
        frames = [b"".join(many)]
    else:  # large payloads (or some made already): one by one, nothing copied again
        payloads: list[list[Any]] = []
        for data, segs, made, made_payloads in columns:
            view = memoryview(data)
            these: list[Any] = [view[a : a + b] for a, b in segs.tolist()]
            for i, payload in zip(made, made_payloads, strict=True):
                these[i] = payload
            payloads.append(these)
        frames = [
            compress(p, level=level, checksum=checksum)
            for row in zip(*payloads, strict=True)
            for p in row
        ]
        sizes = np.fromiter(map(len, frames), np.int64, len(frames))
        crcs = array("I", map(crc32, frames))
    sizes = sizes.reshape(n, k)
    cells: list[list[Any]] = [batch.cells] if batch.has_attributes else []
    for j, f in enumerate(fields):
        cells.append(sizes[:, j].tolist())
        if f.has_count:
            cells.append(batch.counts[j])
    form = _form(fields, batch.has_attributes)
    counts = [batch.counts[j] for j, f in enumerate(fields) if f.has_count]
    numbers = (sizes, counts, batch.cells)
    return Done(frames, sizes.sum(axis=1).tolist(), form, cells, crcs, checksum, [], numbers)


def done_records(
    fields: Sequence[Field], items: list[Prepared], level: int, checksum: bool
) -> Done:
    """`compress_records` as a `Done`: the reads that failed are left out, named."""
    blobs: list[bytes] = []
    lengths: list[int] = []
    rest: list[str] = []
    crcs = array("I")
    checked = True
    failed: list[tuple[object, BaseException]] = []
    for item, result in zip(items, compress_records(fields, items, level, checksum), strict=True):
        if isinstance(result, Exception):
            failed.append((item.read_id, result))
            continue
        blob, line, frame_crcs, frames_checked = result
        blobs.append(blob)
        lengths.append(len(blob))
        rest.append(line.decode("utf-8"))
        crcs.extend(frame_crcs)
        checked &= frames_checked
    return Done(blobs, lengths, "%d\t%d\t%s\n", [rest], crcs, checked, failed)


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
