"""The svb-zstd payload: one implementation shared by the SZ container and both codec forms.

A frame is one zstd frame (content size recorded, no checksum unless asked for)
of a payload that depends on the element type:

========================  ===================================================
element type              payload before zstd
========================  ===================================================
int16, int32              widened to int32, zigzag-delta, streamvbyte
uint16, uint32            widened to uint32, streamvbyte (no delta)
float16/32/64, float128   the raw little-endian bytes
str                       UTF-8 bytes
========================  ===================================================

streamvbyte is the "standard" layout: ``ceil(n/4)`` control bytes (a 2-bit
key per value, first value in the lowest bits), then the data bytes, each value
in ``key + 1`` little-endian bytes. The element count is not stored; it comes
from the SZ index, from the chunk shape (zarr), or is inferred (see
:func:`svb_count`), which is always possible because the payload length is a
strictly increasing function of the count.

Nothing here keeps a zstd context on an object: contexts live per thread.
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import TYPE_CHECKING, Any, Final, Literal

import libstreamvbyte as _lsvb
import numpy as np
import zstandard

from xsz.errors import CodecError


def _load_kernels() -> Any:
    """The fused C kernels (xsz/_kernels.c), or None if they were not built or
    XSZ_NO_KERNELS is set (then libstreamvbyte + numpy do the same work)."""
    if os.environ.get("XSZ_NO_KERNELS"):
        return None
    try:
        return importlib.import_module("xsz._kernels")
    except ImportError:  # pragma: no cover - exercised by the fallback tests
        return None


_kernels = _load_kernels()

_C_ZSTD: bool = _kernels is not None and _kernels.zstd_version() > 0
"""Whether the kernels decode whole zstd frames themselves (libzstd was found at
run time): then a batch of frames is decoded in one call without the GIL and no
Python object a frame. Without it (or with ``XSZ_NO_LIBZSTD`` set), zstd runs
through python-zstandard and the kernels decode the payloads."""

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    Buffer = bytes | bytearray | memoryview

__all__ = [
    "DEFAULT_LEVEL",
    "STR",
    "ZSTD_MAGIC",
    "Kind",
    "compress",
    "decode_array",
    "decode_bytes",
    "decode_blocks_into",
    "decode_into",
    "decode_payload",
    "decode_text",
    "encode_array",
    "encode_payload",
    "encode_text",
    "frame_content_sizes",
    "kind_of",
    "max_content_size",
    "max_payload_size",
    "normalize_dtype",
    "svb_count",
]

DEFAULT_LEVEL: Final = 3
"""zstd level of pysz 0.4.0 (``zstandard.ZstdCompressor()`` defaults)."""

Kind = Literal["delta", "svb", "raw", "utf8"]
_KIND_CODES: Final = {"svb": 0, "delta": 1, "raw": 2}
"""The kernels' `kind` argument of `decode_frame` / `decode_frames`."""

STR: Final[np.dtype[np.str_]] = np.dtype(str)
"""The dtype that stands for "text" (one Python ``str`` per frame)."""

ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
"""The first four bytes of every zstd frame (RFC 8878)."""

_KINDS: Final[dict[np.dtype[np.generic], Kind]] = {
    np.dtype(np.int16): "delta",
    np.dtype(np.int32): "delta",
    np.dtype(np.uint16): "svb",
    np.dtype(np.uint32): "svb",
    np.dtype(np.float16): "raw",
    np.dtype(np.float32): "raw",
    np.dtype(np.float64): "raw",
    np.dtype(np.longdouble): "raw",
    STR: "utf8",
}
_TEXT_NAMES: Final = frozenset({"str", "S", "utf8", "utf-8", "string"})

_LONGDOUBLE_IS_X87: Final = (
    np.dtype(np.longdouble).itemsize == 16 and np.finfo(np.longdouble).nmant == 63
)


def normalize_dtype(dtype: object) -> np.dtype[np.generic]:
    """Return the numpy dtype an svb-zstd frame holds, or raise `CodecError`.

    Accepts numpy dtypes and scalar types, their names (``"int16"``,
    ``"float128"``), and ``str`` / ``"str"`` / any unicode dtype for text,
    which comes back as ``np.dtype(str)``.

    Examples
    --------
    >>> normalize_dtype("int16")
    dtype('int16')
    >>> normalize_dtype(str)
    dtype('<U')
    """
    if isinstance(dtype, np.dtype) and dtype in _KINDS:  # the hot path
        return dtype
    if dtype is str or (isinstance(dtype, str) and dtype in _TEXT_NAMES):
        return STR
    try:
        dt = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError as exc:
        raise CodecError(f"svb-zstd: not a data type: {dtype!r}") from exc
    if dt.kind in "UOT":  # unicode, object (zarr v2 strings), StringDType
        return STR
    if dt not in _KINDS:
        if dt.byteorder in "<>" and dt.newbyteorder("=") in _KINDS:
            raise CodecError(f"svb-zstd stores little-endian values only, got {dt.str!r}")
        supported = "int16, int32, uint16, uint32, float16, float32, float64, float128, str"
        raise CodecError(f"svb-zstd cannot store dtype {dt} (supported: {supported})")
    return dt  # type: ignore[no-any-return]


def kind_of(dtype: object) -> Kind:
    """The payload kind of `dtype`: ``"delta"``, ``"svb"``, ``"raw"`` or ``"utf8"``.

    Examples
    --------
    >>> kind_of("int16"), kind_of("uint32"), kind_of("float32"), kind_of(str)
    ('delta', 'svb', 'raw', 'utf8')
    """
    return _KINDS[normalize_dtype(dtype)]


# --- zstd, one context per thread and level -----------------------------------------

_local = threading.local()


def _compressor(level: int, checksum: bool) -> zstandard.ZstdCompressor:
    key = (level, checksum)
    cache: dict[tuple[int, bool], zstandard.ZstdCompressor] | None = getattr(_local, "cctx", None)
    if cache is None:
        cache = _local.cctx = {}
    cctx = cache.get(key)
    if cctx is None:
        cctx = cache[key] = zstandard.ZstdCompressor(
            level=level, write_content_size=True, write_checksum=checksum
        )
    return cctx


def _decompressor() -> zstandard.ZstdDecompressor:
    dctx: zstandard.ZstdDecompressor | None = getattr(_local, "dctx", None)
    if dctx is None:
        dctx = _local.dctx = zstandard.ZstdDecompressor()
    return dctx


def compress(payload: Buffer, *, level: int = DEFAULT_LEVEL, checksum: bool = False) -> bytes:
    """The zstd frame of a payload (content size recorded, as pysz's frames)."""
    return _compressor(level, checksum).compress(payload)


def _decompress(frame: Buffer, max_size: int | None = None) -> bytes:
    """Decompress one frame; `max_size` bounds what a (corrupt) header may claim.

    Whatever the caller expects, a frame never decodes to more than
    `max_content_size` of its length, so a header claiming more is refused
    before anything is allocated.
    """
    try:
        size = zstandard.frame_content_size(frame)
        if size >= 0:
            if max_size is not None and size > max_size:
                raise CodecError(
                    f"zstd frame claims {size} bytes, more than the {max_size} expected"
                )
            # (any frame of a byte or more may hold one block, ZSTD_BLOCK_MAX bytes)
            if size > ZSTD_BLOCK_MAX and size > max_content_size(_nbytes(frame)):
                raise CodecError(
                    f"zstd frame of {_nbytes(frame)} bytes claims {size} bytes, "
                    f"more than it can hold"
                )
            return _decompressor().decompress(frame)
        limit = max_content_size(_nbytes(frame))
        return _decompress_unsized(frame, limit if max_size is None else min(limit, max_size))
    except zstandard.ZstdError as exc:
        raise CodecError(f"corrupt zstd frame: {exc}") from exc


def _nbytes(frame: Buffer) -> int:
    """The length of a frame in bytes, whatever buffer holds it."""
    return memoryview(frame).nbytes


UNSIZED_STEP: Final = 256
"""Input bytes fed at a time to a frame that records no content size: each step
decodes to at most ~11 MB (`max_content_size`), so a frame that decodes to more
than it may is stopped that soon."""


def _decompress_unsized(frame: Buffer, limit: int) -> bytes:
    """A frame from another writer, without its content size in the header: fed
    in steps so that it never decodes far past `limit`, and refused unless it
    ends (zstd's decompressobj returns a cut frame's first part without error)."""
    dobj = zstandard.ZstdDecompressor().decompressobj()
    view, parts, total = memoryview(frame).cast("B"), [], 0
    for at in range(0, len(view), UNSIZED_STEP):
        part = dobj.decompress(view[at : at + UNSIZED_STEP])
        total += len(part)
        if total > limit:
            raise CodecError(f"zstd frame holds more than the {limit} bytes expected")
        parts.append(part)
        if dobj.eof:
            break
    if not dobj.eof:
        raise CodecError(f"zstd frame of {len(view)} bytes is cut short")
    return b"".join(parts)


# --- streamvbyte ---------------------------------------------------------------------


def _svb_data_length(control: bytes, count: int) -> int:
    """Data bytes that `count` values need, read off their 2-bit keys in `control`."""
    if count == 0:
        return 0
    bits = 2 * count
    keys = int.from_bytes(control, "little") & ((1 << bits) - 1)
    low = ((1 << bits) - 1) // 3  # 0b0101...01: the low bit of every key
    return count + (keys & low).bit_count() + 2 * ((keys >> 1) & low).bit_count()


def max_payload_size[N: (int, npt.NDArray[np.int64])](count: N, itemsize: int, raw: bool) -> N:
    """The most payload bytes `count` values may take: ``count * itemsize`` for raw
    floats; for streamvbyte ``ceil(count / 4)`` control bytes and at most 4 bytes a
    value. Works on one count or an array of them.

    Examples
    --------
    >>> max_payload_size(5, 2, raw=False), max_payload_size(5, 4, raw=True)
    (22, 20)
    """
    return count * itemsize if raw else 4 * count + (count + 3) // 4


ZSTD_BLOCK_MAX: Final = 1 << 17
"""The most bytes one zstd block decodes to (RFC 8878, Block_Maximum_Size)."""


def max_content_size[N: (int, npt.NDArray[np.int64])](frame_size: N) -> N:
    """The most bytes a zstd frame of `frame_size` bytes can decode to, whatever it
    claims: each block takes at least its 3-byte header and yields at most 128 KiB.
    Bounds what an untrusted count may make a reader allocate.

    Examples
    --------
    >>> max_content_size(9), max_content_size(12)
    (393216, 524288)
    """
    return -(-frame_size // 3) * ZSTD_BLOCK_MAX


def svb_count(payload: Buffer) -> int:
    """Infer the number of values in a streamvbyte payload.

    The total length ``ceil(n/4) + sum(key_i + 1)`` grows strictly with ``n``
    whatever the bytes hold, so at most one ``n`` fits; `CodecError` when none does.

    Examples
    --------
    >>> import numpy as np
    >>> svb_count(encode_payload(np.arange(7, dtype=np.uint32)))
    7
    """
    buf = np.frombuffer(payload, np.uint8)
    size = len(buf)
    if size == 0:
        return 0
    # n <= size, so the keys come from the first ceil(size/4) bytes at most.
    head = buf[: -(-size // 4)]
    keys = np.stack([(head >> s) & 3 for s in (0, 2, 4, 6)], axis=1).ravel()
    n = np.arange(1, len(keys) + 1)
    total = -(-n // 4) + n + np.cumsum(keys, dtype=np.int64)
    hit = int(np.searchsorted(total, size))
    if hit < len(total) and total[hit] == size:
        return hit + 1
    raise CodecError(f"{size} bytes are not a streamvbyte payload of any length")


def _check_svb(payload: bytes, count: int) -> None:
    n_control = -(-count // 4)
    if len(payload) < n_control:
        raise CodecError(
            f"streamvbyte payload of {len(payload)} bytes is too short for {count} values"
        )
    expected = n_control + _svb_data_length(payload[:n_control], count)
    if len(payload) != expected:
        raise CodecError(
            f"streamvbyte payload holds {len(payload)} bytes, but {count} values need {expected}"
        )


# --- payloads ------------------------------------------------------------------------


def _svb_encode(values: npt.NDArray[np.generic], delta: bool) -> bytes:
    """streamvbyte (+ zigzag-delta) of int16/int32/uint16/uint32 values."""
    values = np.require(values, requirements=("C", "A"))  # the kernels need both
    if _kernels is not None:
        return _kernels.encode(values, values.itemsize, values.dtype.kind == "i", delta)  # type: ignore[no-any-return]
    return _lib_encode(values, delta)


def _lib_encode(values: npt.NDArray[np.generic], delta: bool) -> bytes:
    """libstreamvbyte + numpy: the same bytes as the kernels, for platforms without them."""
    if delta:
        x = np.ascontiguousarray(values, dtype=np.int32)
        d = np.empty_like(x)
        if len(x):
            d[0] = x[0]
            np.subtract(x[1:], x[:-1], out=d[1:])  # int32 wrap-around, as in C
        u = (d << 1) ^ (d >> 31)
        return _lsvb.encode(u.view(np.uint32)).tobytes()  # type: ignore[no-any-return]
    return _lsvb.encode(np.ascontiguousarray(values, dtype=np.uint32)).tobytes()  # type: ignore[no-any-return]


def _svb_decode(
    payload: bytes, count: int, dtype: np.dtype[np.generic], delta: bool
) -> npt.NDArray[np.generic]:
    # every value takes at least one byte: a larger count is refused unallocated
    if count < 0:
        raise CodecError(f"a count of values must be >= 0, got {count}")
    if count > len(payload):
        raise CodecError(
            f"streamvbyte payload of {len(payload)} bytes is too short for {count} values"
        )
    if _kernels is not None:
        out = np.empty(count, dtype=dtype)
        try:
            _kernels.decode(payload, count, out, dtype.itemsize, delta)
        except ValueError as exc:
            raise CodecError(str(exc)) from None
        return out
    return _lib_decode(payload, count, dtype, delta)


def _lib_decode(
    payload: bytes, count: int, dtype: np.dtype[np.generic], delta: bool
) -> npt.NDArray[np.generic]:
    _check_svb(payload, count)
    u = _lsvb.decode(np.frombuffer(payload, np.uint8), count)
    if not delta:
        _check_fits(u, dtype)
        out: npt.NDArray[np.generic] = u if dtype == np.uint32 else u.astype(dtype)
        return out
    d = _lsvb.zigzag_decode(u)
    np.cumsum(d, dtype=np.int32, out=d)  # wraps modulo 2**32, as the encoder did
    _check_fits(d, dtype)
    out = d if dtype == np.int32 else d.astype(dtype)
    return out


def _check_fits(values: npt.NDArray[np.integer[Any]], dtype: np.dtype[np.generic]) -> None:
    """Refuse decoded 32-bit values that `dtype` (16-bit) cannot hold, as the kernels
    do: a corrupt or crafted payload is never wrapped into wrong samples."""
    if dtype.itemsize == 4 or not len(values):
        return
    info = np.iinfo(dtype)  # type: ignore[type-var]
    bad = np.flatnonzero((values < info.min) | (values > info.max))
    if len(bad):
        i = int(bad[0])
        raise CodecError(
            f"streamvbyte value {int(values[i])} (item {i} of {len(values)}) does not fit {dtype}"
        )


def encode_payload(values: npt.NDArray[np.generic]) -> bytes:
    """The pre-zstd payload of a 1-D array of a supported numeric dtype.

    Values are taken as they are: range checks belong to the caller (the SZ
    writer refuses lossy casts before it gets here).
    """
    dt = normalize_dtype(values.dtype)
    kind = _KINDS[dt]
    if kind == "raw":
        return np.ascontiguousarray(values, dtype=dt).tobytes()
    if kind == "utf8":
        raise CodecError("text is encoded with encode_text, not encode_payload")
    return _svb_encode(values, kind == "delta")


def decode_payload(
    payload: bytes, dtype: object, count: int | None = None
) -> npt.NDArray[np.generic]:
    """Decode a pre-zstd payload into a new, writable 1-D array of `dtype`.

    `count` is required knowledge for nothing (it is inferred when ``None``) but
    is checked when given, so a payload never silently decodes to another length.
    """
    dt = normalize_dtype(dtype)
    kind = _KINDS[dt]
    if kind == "raw":
        if dt == np.dtype(np.longdouble) and not _LONGDOUBLE_IS_X87:
            raise CodecError("float128 frames hold x87 long doubles, which this platform lacks")
        if len(payload) % dt.itemsize:
            raise CodecError(f"{len(payload)} payload bytes are not a whole number of {dt} values")
        n = len(payload) // dt.itemsize
        if count is not None and n != count:
            raise CodecError(f"frame holds {n} {dt} values, expected {count}")
        return np.frombuffer(payload, dt).copy()
    if kind == "utf8":
        raise CodecError("text is decoded with decode_text, not decode_payload")
    if count is None:
        count = svb_count(payload)
    return _svb_decode(payload, count, dt, kind == "delta")


# --- frames --------------------------------------------------------------------------


def encode_array(
    values: npt.NDArray[np.generic], *, level: int = DEFAULT_LEVEL, checksum: bool = False
) -> bytes:
    """One svb-zstd frame of a 1-D numeric array (its dtype picks the payload).

    Examples
    --------
    >>> import numpy as np
    >>> frame = encode_array(np.array([-3, 0, 7], dtype=np.int16))
    >>> decode_array(frame, "int16", 3)
    array([-3,  0,  7], dtype=int16)
    """
    return compress(encode_payload(values), level=level, checksum=checksum)


def encode_text(text: str, *, level: int = DEFAULT_LEVEL, checksum: bool = False) -> bytes:
    """One svb-zstd frame of a string: its UTF-8 bytes.

    Examples
    --------
    >>> decode_text(encode_text("ACGT"))
    'ACGT'
    """
    return compress(text.encode("utf-8"), level=level, checksum=checksum)


def decode_array(frame: Buffer, dtype: object, count: int | None = None) -> npt.NDArray[np.generic]:
    """Decode one frame of a numeric type (see `decode_payload` for `count`)."""
    dt = normalize_dtype(dtype)
    max_size = None
    if count is not None:
        if count < 0:
            raise CodecError(f"a count of values must be >= 0, got {count}")
        if _C_ZSTD and _kernels is not None and _in_c(dt) and _fills(frame, count, dt):
            out = np.empty(count, dtype=dt)
            if _kernels.decode_frame(frame, count, out, _KIND_CODES[_KINDS[dt]], dt.itemsize):
                return out
        max_size = count * dt.itemsize if _KINDS[dt] == "raw" else 5 * count + 4
    return decode_payload(_decompress(frame, max_size), dt, count)


def decode_into(frame: Buffer, out: npt.NDArray[np.generic]) -> None:
    """Decode one numeric frame straight into `out` (its dtype and length are the
    frame's): no intermediate array, for filling one large result from many frames.

    Examples
    --------
    >>> import numpy as np
    >>> out = np.zeros(5, dtype=np.int16)
    >>> decode_into(encode_array(np.array([3, 1, 4], dtype=np.int16)), out[1:4])
    >>> out
    array([0, 3, 1, 4, 0], dtype=int16)
    """
    dt = normalize_dtype(out.dtype)
    kind, n = _KINDS[dt], len(out)
    if (
        _C_ZSTD
        and _kernels is not None
        and _in_c(dt)
        and _kernel_ready(out)
        and _kernels.decode_frame(frame, n, out, _KIND_CODES[kind], dt.itemsize)
    ):
        return
    # (not decoded in C: the Python path names the damage, or decodes what C refused)
    payload = _decompress(frame, n * dt.itemsize if kind == "raw" else 5 * n + 4)
    flags = out.flags  # (inline _kernel_ready: this runs once a frame)
    if kind == "raw" or _kernels is None or not (flags.c_contiguous and flags.aligned):
        out[:] = decode_payload(payload, dt, n)
        return
    try:
        _kernels.decode(payload, n, out, dt.itemsize, kind == "delta")
    except ValueError as exc:
        raise CodecError(str(exc)) from None


def _fills(frame: Buffer, count: int, dt: np.dtype[np.generic]) -> bool:
    """Whether the content size in `frame`'s header can hold `count` values of `dt`
    (a streamvbyte value takes a byte at least): checked before `decode_array`
    allocates them, so that a crafted count allocates no more than the frame
    claims (the Python path refuses what this does not take, or decodes it)."""
    try:
        size = zstandard.frame_content_size(frame)
    except zstandard.ZstdError:
        return False
    if size < 0:  # not recorded (another writer's frame): the Python path
        return False
    return count * dt.itemsize == size if _KINDS[dt] == "raw" else count <= size


def _in_c(dt: np.dtype[np.generic]) -> bool:
    """Whether `decode_frame` / `decode_frames` take frames of `dt`: numbers, but
    not float128 where it is not the x87 type the frames hold."""
    kind = _KINDS[dt]
    return kind != "utf8" and (dt != np.dtype(np.longdouble) or _LONGDOUBLE_IS_X87)


def _kernel_ready(out: npt.NDArray[np.generic]) -> bool:
    """Whether the kernels may write `out` in place (one C-contiguous, aligned row)."""
    return out.ndim == 1 and out.flags.c_contiguous and out.flags.aligned


def frame_content_sizes(block: Buffer, starts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The content size recorded in the header of each zstd frame at ``block[starts[i]:]``,
    read with numpy for all frames at once; -1 where a header records none or is
    not a zstd frame header (its checks are left to the frame's decoder).

    Examples
    --------
    >>> import numpy as np
    >>> a, b = encode_text("ACGT"), encode_text("A" * 1000)
    >>> frame_content_sizes(a + b, np.array([0, len(a)])).tolist()
    [4, 1000]
    """
    buf = np.frombuffer(block, np.uint8)
    starts = np.asarray(starts, dtype=np.int64)
    if not len(starts):
        return np.zeros(0, dtype=np.int64)
    if not len(buf):
        return np.full(len(starts), -1, dtype=np.int64)
    # headers take at most 18 bytes; past the end of `block` the last byte repeats (a
    # frame cut there fails when it is decoded, whatever its header seems to say)
    at = np.clip(starts, 0, len(buf) - 1)  # also a start out of the block: no overflow
    head = buf[np.minimum(at[:, None] + np.arange(18), len(buf) - 1)]
    magic = head[:, :4].copy().view("<u4").ravel() == 0xFD2FB528
    fhd = head[:, 4].astype(np.int64)
    fcs_flag, single, dict_flag = fhd >> 6, (fhd >> 5) & 1, fhd & 3
    at = 5 + (1 - single) + np.array([0, 1, 2, 4])[dict_flag]
    width = np.where(fcs_flag == 0, single, np.array([0, 2, 4, 8])[fcs_flag])
    fields = head[np.arange(len(starts))[:, None], np.minimum(at[:, None] + np.arange(8), 17)]
    fields = np.where(np.arange(8) < width[:, None], fields, 0).astype(np.uint64)
    value = (fields << (np.arange(8, dtype=np.uint64) * np.uint64(8))).sum(axis=1).astype(np.int64)
    value = np.where(width == 2, value + 256, value)
    return np.where(magic & (width > 0) & ((fhd & 0x08) == 0), value, -1)


def decode_blocks_into(
    blocks: Sequence[tuple[Buffer, npt.NDArray[np.int64], npt.NDArray[np.int64]]],
    counts: npt.NDArray[np.int64],
    positions: npt.NDArray[np.int64],
    out: npt.NDArray[np.generic],
) -> int:
    """Decode many frames into one array, a few calls per batch and no GIL held
    for the work: each block is ``(bytes, frame starts, frame sizes)``, its
    frames numbered on from the previous block's; frame ``i`` holds ``counts[i]``
    values that go to ``out[positions[i]:]``.

    Returns -1 when every frame decoded, else the index of a frame that did not
    (`decode_into` on it says why; others may be written or not). `CodecError`
    when the arguments do not fit together: a frame's values not within `out`,
    its bytes not within its block, or not one count and position a frame.
    """
    dt = normalize_dtype(out.dtype)
    kind = _KINDS[dt]
    fast = kind in ("delta", "svb") and _kernels is not None and _kernel_ready(out)
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    positions = np.ascontiguousarray(positions, dtype=np.int64)
    _check_spans(blocks, counts, positions, len(out))
    if _C_ZSTD and _kernels is not None and _in_c(dt) and _kernel_ready(out):
        return _decode_frames_c(blocks, counts, positions, out)
    dctx, first = _decompressor(), 0
    for block, starts, sizes in blocks:
        k = slice(first, first + len(starts))
        first += len(starts)
        if fast and len(starts) >= GROUP_MIN_FRAMES:
            _check_frames(block, starts, sizes, k.start)
            claimed = frame_content_sizes(block, starts)
            bad = np.flatnonzero((claimed < 0) | (claimed > 5 * counts[k] + 4))
            # grouping pays for short reads; long ones decode as fast one by one
            if not len(bad) and claimed.sum() < len(starts) * (GROUP_BYTES // 8):
                failed = _decode_groups(
                    dctx,
                    block,
                    starts,
                    sizes,
                    claimed,
                    counts[k],
                    positions[k],
                    out,
                    dt.itemsize,
                    kind == "delta",
                )
                if failed is None:
                    continue
                if failed >= 0:
                    return k.start + failed
        view = memoryview(block)
        for i, (a, b) in enumerate(zip(starts.tolist(), sizes.tolist(), strict=True)):
            if a < 0 or b < 0 or a > len(view) - b:
                _check_frames(block, starts, sizes, k.start)  # raises, naming it
            p, n = int(positions[k.start + i]), int(counts[k.start + i])
            try:
                decode_into(view[a : a + b], out[p : p + n])
            except CodecError:
                return k.start + i
    return -1


def _decode_frames_c(
    blocks: Sequence[tuple[Buffer, npt.NDArray[np.int64], npt.NDArray[np.int64]]],
    counts: npt.NDArray[np.int64],
    positions: npt.NDArray[np.int64],
    out: npt.NDArray[np.generic],
) -> int:
    """`decode_blocks_into` with zstd in the kernels: all frames in one call, the
    GIL released for the batch. A frame the kernels do not decode is taken by
    `decode_into`, which names its damage (then its index is returned) or
    decodes what the kernels refuse (such as a frame of a skippable header);
    then the kernels go on with the next."""
    assert _kernels is not None
    dt = out.dtype
    n = len(counts)
    table = np.empty((n, 5), dtype=np.int64)
    if n:
        lengths = [len(starts) for _, starts, _ in blocks]
        table[:, 0] = np.repeat(np.arange(len(blocks)), lengths)
        table[:, 1] = np.concatenate([starts for _, starts, _ in blocks])
        table[:, 2] = np.concatenate([sizes for _, _, sizes in blocks])
        table[:, 3] = counts
        table[:, 4] = positions
    data = [block for block, _, _ in blocks]
    code, first = _KIND_CODES[_KINDS[normalize_dtype(dt)]], 0
    while first < n:
        try:
            failed = _kernels.decode_frames(data, table, out, code, dt.itemsize, first)
        except ValueError as exc:
            at = 0
            for block, starts, sizes in blocks:  # the frame outside its block, named
                _check_frames(block, starts, sizes, at)
                at += len(starts)
            raise CodecError(str(exc)) from None
        if failed < 0:
            return -1
        b, a, size, count, p = table[failed].tolist()
        try:
            decode_into(memoryview(data[b])[a : a + size], out[p : p + count])
        except CodecError:
            return int(failed)
        first = failed + 1
    return -1


def _check_spans(
    blocks: Sequence[tuple[Buffer, npt.NDArray[np.int64], npt.NDArray[np.int64]]],
    counts: npt.NDArray[np.int64],
    positions: npt.NDArray[np.int64],
    size: int,
) -> None:
    """`decode_blocks_into`'s frames against its counts, positions and an `out` of
    `size` items: one count and position a frame, each span inside `out`
    (overflow-free: the values may come from a corrupt index)."""
    n_frames = 0
    for _, starts, sizes in blocks:
        if len(sizes) != len(starts):
            raise CodecError(f"a block has {len(starts)} frame starts but {len(sizes)} sizes")
        n_frames += len(starts)
    if counts.shape != (n_frames,) or positions.shape != (n_frames,):
        raise CodecError(
            f"{n_frames} frames need as many counts and positions, "
            f"got {counts.shape} and {positions.shape}"
        )
    bad = np.flatnonzero(
        (counts < 0) | (positions < 0) | (positions > size) | (counts > size - positions)
    )
    if len(bad):
        i = int(bad[0])
        raise CodecError(
            f"frame {i}: {int(counts[i])} values at position {int(positions[i])} "
            f"do not fit an output of {size}"
        )


def _check_frames(
    block: Buffer, starts: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64], first: int
) -> None:
    """Refuse a block whose frames (numbered from `first`) are not within its bytes
    (as many `starts` as `sizes`: checked by `_check_spans`)."""
    n = len(memoryview(block))
    bad = np.flatnonzero((starts < 0) | (sizes < 0) | (starts > n - sizes))
    if len(bad):
        i = int(bad[0])
        raise CodecError(
            f"frame {first + i}: bytes [{int(starts[i])}, +{int(sizes[i])}) "
            f"are not within its block of {n}"
        )


GROUP_BYTES: Final = 1 << 18
"""Payload bytes decompressed before the kernel decodes them: enough frames to pay
for the call, few enough to be decoded while they are still in the cache."""
GROUP_MIN_FRAMES: Final = 32
"""Blocks of fewer frames (such as reads picked at random) decode one frame at a
time: for them the grouped path's numpy work per block costs more than it saves
(on ~1 KB frames it breaks even at 32-64 frames a block)."""


def _decode_groups(
    dctx: zstandard.ZstdDecompressor,
    block: Buffer,
    starts: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
    claimed: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    positions: npt.NDArray[np.int64],
    out: npt.NDArray[np.generic],
    itemsize: int,
    delta: bool,
) -> int | None:
    """The fast path of `decode_blocks_into` for one block: zstd one frame at a time
    (it releases the GIL), the kernel once per group of about `GROUP_BYTES`.
    ``None``: all decoded; -1: a frame that zstd refused (not located); else the
    index in the block of a frame the kernel refused. (zstandard's
    multi_decompress_to_buffer would do the zstd part in C, but 0.25 corrupts the
    heap on a frame of nothing: not used.)"""
    view, decompress = memoryview(block), dctx.decompress
    first, last = starts.tolist(), (starts + sizes).tolist()
    cuts = np.flatnonzero(np.diff(np.cumsum(claimed) // GROUP_BYTES)) + 1
    for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(first)], strict=True):
        try:
            payloads = [decompress(view[first[i] : last[i]]) for i in range(lo, hi)]
        except zstandard.ZstdError:
            return -1
        try:
            failed = _kernels.decode_many(
                payloads, counts[lo:hi], positions[lo:hi], out, itemsize, delta
            )
        except ValueError as exc:  # checked by _check_spans: not reached
            raise CodecError(str(exc)) from None
        if failed >= 0:
            return lo + int(failed)
    return None


def decode_bytes(frame: Buffer) -> bytes:
    """Decode one frame to its payload bytes (a text frame's UTF-8)."""
    return _decompress(frame)


def decode_text(frame: Buffer) -> str:
    """Decode one frame of text."""
    payload = _decompress(frame)
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CodecError(f"text frame is not valid UTF-8: {exc}") from exc
