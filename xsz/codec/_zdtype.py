"""`Float80`: SZ's ``F128`` (x87 80-bit extended precision) as a zarr v3 data type.

zarr-python has no data type for numpy's ``longdouble``, and SZ's ``F128`` is not
IEEE binary128 either: it is the x87 80-bit extended format that numpy calls
``float128`` on x86-64, 10 significant bytes in a 16-byte little-endian slot.
Rounding such values to float64 would lose up to 11 bits of mantissa and the
exponent range beyond 1e308, so xsz registers this data type (name
``"xsz.float80"``, entry point group ``zarr.data_type``) and arrays of it hold
numpy ``longdouble`` values, exactly.

Fill values are JSON numbers when float64 holds them exactly, ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``, and otherwise ``"0x"`` + the 20 hex digits
of the 10-byte value, most significant byte first (zarr's convention for exact
float bit patterns). The data type exists only where numpy's ``longdouble`` is
the x87 format (x86-64 Linux and macOS on Intel); elsewhere it refuses to load
with a clear error rather than reinterpret the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self, TypeGuard

import numpy as np
from zarr.core.dtype.common import HasItemSize
from zarr.core.dtype.wrapper import ZDType
from zarr.errors import DataTypeValidationError

from xsz.codec._svb import _LONGDOUBLE_IS_X87
from xsz.codec._zarr_config import enable_rectilinear_chunks

if TYPE_CHECKING:
    from zarr.core.common import JSON, ZarrFormat
    from zarr.core.dtype.common import DTypeJSON

__all__ = ["FLOAT80_NAME", "Float80"]

FLOAT80_NAME: Final = "xsz.float80"
"""The zarr v3 ``data_type`` name of `Float80`."""

_SPECIAL: Final = {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}
_SIGNIFICANT: Final = 10  # bytes of an x87 extended value; the other 6 are padding


def _require_x87() -> None:
    if not _LONGDOUBLE_IS_X87:
        raise DataTypeValidationError(
            f"{FLOAT80_NAME}: numpy's longdouble on this platform is not the x87 80-bit "
            f"format ({np.finfo(np.longdouble).dtype}, {np.dtype(np.longdouble).itemsize} "
            "bytes), so these values cannot be held exactly"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Float80(ZDType[np.dtype[np.longdouble], np.longdouble], HasItemSize):
    """x87 80-bit extended precision floats (numpy ``longdouble`` on x86-64).

    Examples
    --------
    >>> dt = Float80()
    >>> dt.to_json(zarr_format=3)
    'xsz.float80'
    >>> dt.to_json_scalar(np.longdouble(1) / 3, zarr_format=3)
    '0x3ffdaaaaaaaaaaaaaaab'
    >>> bool(dt.from_json_scalar('0x3ffdaaaaaaaaaaaaaaab', zarr_format=3) == np.longdouble(1) / 3)
    True
    """

    dtype_cls: ClassVar[type[np.dtype[np.generic]]] = type(np.dtype(np.longdouble))
    _zarr_v3_name: ClassVar[str] = FLOAT80_NAME

    @classmethod
    def from_native_dtype(cls, dtype: np.dtype[np.generic]) -> Self:
        # docstring inherited
        if cls._check_native_dtype(dtype) and _LONGDOUBLE_IS_X87:
            return cls()
        raise DataTypeValidationError(f"{FLOAT80_NAME} wraps x87 numpy longdouble, not {dtype}")

    def to_native_dtype(self) -> np.dtype[np.longdouble]:
        # docstring inherited
        _require_x87()
        return np.dtype(np.longdouble)

    @classmethod
    def _from_json_v2(cls, data: DTypeJSON) -> Self:
        raise DataTypeValidationError(f"{FLOAT80_NAME} is a zarr v3 data type; got v2 {data!r}")

    @classmethod
    def _from_json_v3(cls, data: DTypeJSON) -> Self:
        if data == FLOAT80_NAME:
            _require_x87()
            return cls()
        raise DataTypeValidationError(f"expected {FLOAT80_NAME!r}, got {data!r}")

    def to_json(self, zarr_format: ZarrFormat) -> str:  # type: ignore[override]
        # docstring inherited
        if zarr_format != 3:
            raise ValueError(f"{FLOAT80_NAME} exists in zarr format 3 only, not {zarr_format}")
        return FLOAT80_NAME

    @property
    def item_size(self) -> int:
        # docstring inherited
        return 16

    def _check_scalar(self, data: object) -> TypeGuard[float | np.floating[Any] | int | str]:
        if isinstance(data, str):
            return data in _SPECIAL or _is_hex(data) or _parses(data)
        return isinstance(data, float | int | np.floating | np.integer) and not isinstance(
            data, bool
        )

    def cast_scalar(self, data: object) -> np.longdouble:
        # docstring inherited
        if not self._check_scalar(data):
            raise TypeError(f"cannot convert {data!r} ({type(data).__name__}) to {FLOAT80_NAME}")
        if isinstance(data, str):
            return self._from_text(data)
        return np.longdouble(data)

    def default_scalar(self) -> np.longdouble:
        # docstring inherited
        return np.longdouble(0)

    def _from_text(self, data: str) -> np.longdouble:
        if data in _SPECIAL:
            return np.longdouble(_SPECIAL[data])
        if _is_hex(data):
            raw = bytes.fromhex(data[2:])[::-1] + bytes(16 - _SIGNIFICANT)
            return np.frombuffer(raw, np.longdouble)[0]  # type: ignore[no-any-return]
        return np.longdouble(data)

    def from_json_scalar(self, data: JSON, *, zarr_format: ZarrFormat) -> np.longdouble:
        # docstring inherited
        if isinstance(data, str | float | int) and not isinstance(data, bool):
            return self.cast_scalar(data)
        raise TypeError(f"invalid {FLOAT80_NAME} fill value {data!r}")

    def to_json_scalar(self, data: object, *, zarr_format: ZarrFormat) -> JSON:
        # docstring inherited
        value = self.cast_scalar(data)
        if np.isnan(value):
            return "NaN"
        if np.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        as_float = float(value)
        if np.longdouble(as_float) == value:
            return as_float
        significant = np.array([value], np.longdouble).tobytes()[:_SIGNIFICANT]
        return "0x" + significant[::-1].hex()


def _is_hex(text: str) -> bool:
    if not text.startswith("0x") or len(text) != 2 + 2 * _SIGNIFICANT:
        return False
    try:
        bytes.fromhex(text[2:])
    except ValueError:
        return False
    return True


def _parses(text: str) -> bool:
    try:
        np.longdouble(text)
    except ValueError:
        return False
    return True


# zarr loads this module (the "zarr.data_type" entry point) when it first reads
# metadata, before any array document: let it read xsz's per-read chunk grids.
enable_rectilinear_chunks()
