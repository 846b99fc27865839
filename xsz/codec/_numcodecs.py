"""`SvbZstd`: svb-zstd as a numcodecs codec (id ``"svb-zstd"``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_contiguous_ndarray, ndarray_copy

from xsz.codec._svb import (
    DEFAULT_LEVEL,
    STR,
    decode_array,
    decode_text,
    encode_array,
    encode_text,
    normalize_dtype,
)
from xsz.errors import CodecError

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["SvbZstd", "as_values", "parse_level"]


def parse_level(level: object) -> int:
    """Check a zstd level: an int from -131072 (fastest) to 22."""
    if isinstance(level, bool) or not isinstance(level, int | np.integer):
        raise CodecError(f"svb-zstd level must be an int, got {level!r}")
    if not -(1 << 17) <= int(level) <= 22:
        raise CodecError(f"svb-zstd level must be between -131072 and 22, got {level}")
    return int(level)


def _dtype_name(dtype: np.dtype[Any]) -> str:
    return "str" if dtype == STR else dtype.name


def as_values(data: object, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """`data` as a contiguous 1-D array of `dtype`, refusing lossy conversions.

    Raw buffers (bytes, uint8 arrays of another dtype's worth of bytes) are
    reinterpreted, as numcodecs codecs do; typed arrays are converted only when
    every value survives the conversion.
    """
    arr = np.asarray(data) if isinstance(data, np.ndarray | np.generic | list) else None
    if arr is None or (arr.dtype == np.uint8 and dtype != np.uint8):
        arr = ensure_contiguous_ndarray(data)
        if arr.nbytes % dtype.itemsize:
            raise CodecError(f"{arr.nbytes} bytes are not a whole number of {dtype} values")
        viewed: npt.NDArray[Any] = arr.view(dtype)
        return viewed
    arr = arr.ravel()
    if arr.dtype == dtype:
        return np.ascontiguousarray(arr)
    if arr.dtype.kind not in "biuf":
        raise CodecError(f"svb-zstd({_dtype_name(dtype)}) cannot encode {arr.dtype} data")
    with np.errstate(all="ignore"):
        cast = arr.astype(dtype)
    same = cast == arr
    if dtype.kind == "f" and arr.dtype.kind == "f":
        same |= np.isnan(arr) & np.isnan(cast)
        same |= np.isfinite(arr) & np.isfinite(cast)  # rounding is what floats do
    if not same.all():
        bad = arr[~same][0]
        raise CodecError(f"svb-zstd({_dtype_name(dtype)}): value {bad!r} does not fit {dtype}")
    return cast


class SvbZstd(Codec):  # type: ignore[misc]
    """svb-zstd: streamvbyte (+ zigzag-delta for signed ints) and zstd, as in SZ stores.

    Parameters
    ----------
    dtype
        The element type: ``int16``, ``int32``, ``uint16``, ``uint32``,
        ``float16``, ``float32``, ``float64``, ``float128`` or ``str``.
    level
        zstd compression level (3, pysz's, by default).

    Examples
    --------
    >>> import numpy as np
    >>> codec = SvbZstd(dtype="int16")
    >>> codec.decode(codec.encode(np.array([5, -7, 32767], dtype=np.int16)))
    array([    5,    -7, 32767], dtype=int16)
    >>> codec.get_config()
    {'id': 'svb-zstd', 'dtype': 'int16', 'level': 3}
    """

    codec_id = "svb-zstd"

    def __init__(self, dtype: object = "int16", level: int = DEFAULT_LEVEL) -> None:
        self._dtype = normalize_dtype(dtype)
        self.dtype = _dtype_name(self._dtype)
        self.level = parse_level(level)

    def encode(self, buf: object) -> bytes:
        """One frame of `buf`: an array (any shape, flattened in C order) or a str."""
        if self._dtype == STR:
            return encode_text(_one_text(buf), level=self.level)
        return encode_array(as_values(buf, self._dtype), level=self.level)

    def decode(self, buf: object, out: object = None) -> Any:
        """Decode one frame; the element count comes from `out` or from the payload."""
        frame = ensure_contiguous_ndarray(buf)
        if self._dtype == STR:
            result: npt.NDArray[Any] = np.array([decode_text(frame)], dtype=object)
            if out is not None:
                return ndarray_copy(result, out)
            return result
        count = None
        if out is not None:
            count = ensure_contiguous_ndarray(out).nbytes // self._dtype.itemsize
        values = decode_array(frame, self._dtype, count)
        return values if out is None else ndarray_copy(values, out)


def _one_text(buf: object) -> str:
    if isinstance(buf, str):
        return buf
    arr = np.asarray(buf)
    if arr.size != 1 or arr.dtype.kind not in "UOT":
        raise CodecError(
            f"svb-zstd(str) encodes exactly one string per frame, got {arr.size} "
            f"values of dtype {arr.dtype}"
        )
    text = arr.reshape(-1)[0]
    if not isinstance(text, str):
        raise CodecError(f"svb-zstd(str) encodes str, got {type(text).__name__}")
    return text
