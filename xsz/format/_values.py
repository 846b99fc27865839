"""Check and convert values handed to a writer; refuse anything lossy, with names.

pysz cast with ``astype`` and wrote ``str(dtype(value))`` unchecked, so a
negative number in a uint32 dataset or a TAB in an ID corrupted the store
silently. Here each value is converted to its declared type only when nothing
is lost; otherwise `RecordError` names the read, the field and the value.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from xsz.errors import RecordError

if TYPE_CHECKING:
    import numpy.typing as npt

    from xsz.format._schema import Field

__all__ = ["attribute_text", "dataset_values"]

_FORBIDDEN = ("\t", "\n", "\r")


def _fail(read_id: object, f: Field, problem: str) -> RecordError:
    what = "attribute" if f.group == "A" else "dataset"
    return RecordError(
        f"read {read_id!r}, {what} {f.name!r} ({f.code}): {problem}", read_id=read_id, field=f.name
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def attribute_text(f: Field, value: object, read_id: object) -> str:
    """The index cell of an attribute value: ``str(dtype(value))``, checked.

    Examples
    --------
    >>> from xsz.format._schema import Field
    >>> attribute_text(Field("Offset", "I32", "A"), 7, "r1")
    '7'
    >>> attribute_text(Field("Offset", "I16", "A"), 70000, "r1")
    Traceback (most recent call last):
    ...
    xsz.errors.RecordError: read 'r1', attribute 'Offset' (I16): 70000 does not fit int16 \
(-32768..32767)
    """
    if f.is_text:
        if not isinstance(value, str):
            raise _fail(read_id, f, f"expected str, got {type(value).__name__} {_short(value)}")
        for ch in _FORBIDDEN:
            if ch in value:
                raise _fail(
                    read_id, f, f"{_short(value)} contains {ch!r}, which the index cannot hold"
                )
        _check_utf8(f, value, read_id)
        return value
    # Fast paths, same text as str(dtype(value)): Python ints; Python floats as float64
    # (numpy 2 prints float64 scalars exactly as Python's repr does).
    kind = type(value)
    if kind is f.dtype.type:  # a numpy scalar of the attribute's own type
        return str(value)
    if kind is np.float64:  # a Python float too, and printed as one
        value, kind = float(value), float  # type: ignore[arg-type]
    if kind is int and f.code in _INT_RANGE:
        low, high = _INT_RANGE[f.code]
        if low <= value <= high:  # type: ignore[operator]
            return str(value)
    elif kind is float and f.code == "F64":
        return repr(value)
    elif kind is float and f.code in _FLOAT_MAX and not abs(value) > _FLOAT_MAX[f.code]:  # type: ignore[arg-type]
        return str(f.dtype.type(value))  # in range, or NaN: the cast cannot overflow
    return str(_scalar(f, value, read_id))


_INT_RANGE: dict[str, tuple[int, int]] = {
    code: (int(np.iinfo(dt).min), int(np.iinfo(dt).max))
    for code, dt in (("I16", np.int16), ("I32", np.int32), ("U16", np.uint16), ("U32", np.uint32))
}

_FLOAT_MAX: dict[str, float] = {
    "F16": float(np.finfo(np.float16).max),
    "F32": float(np.finfo(np.float32).max),
}


def _scalar(f: Field, value: object, read_id: object) -> np.generic:
    dt = f.dtype
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, str | bytes) or not isinstance(value, numbers.Number):
        raise _fail(read_id, f, f"expected a number, got {type(value).__name__} {_short(value)}")
    if dt.kind in "iu":
        if not isinstance(value, numbers.Integral):
            try:
                integral = float(value).is_integer()  # type: ignore[arg-type]
            except (TypeError, ValueError, OverflowError):
                integral = False
            if not integral:
                raise _fail(read_id, f, f"{_short(value)} is not an integer")
            value = int(float(value))  # type: ignore[arg-type]
        low, high = _INT_RANGE[f.code]
        number = int(value)
        if not low <= number <= high:
            raise _fail(read_id, f, f"{value} does not fit {dt} ({low}..{high})")
        return dt.type(number)  # type: ignore[no-any-return]
    if isinstance(value, complex | np.complexfloating):
        raise _fail(read_id, f, f"complex value {value} for a real attribute")
    try:
        with np.errstate(over="ignore"):
            out = dt.type(value)
        overflow = bool(np.isinf(out) and not np.isinf(value))  # type: ignore[call-overload]
    except (OverflowError, TypeError, ValueError):
        overflow = True
    if overflow:
        raise _fail(read_id, f, f"{_short(value)} overflows {dt}")
    return out  # type: ignore[no-any-return]


def _check_utf8(f: Field, value: str, read_id: object) -> None:
    """Refuse text that has no UTF-8 form (lone surrogates, as ``"\\udc80"``)."""
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = value[exc.start : exc.end]
        raise _fail(
            read_id,
            f,
            f"{_short(value)} holds {bad!r} at position {exc.start}, which UTF-8 cannot encode",
        ) from None


def dataset_values(f: Field, value: object, read_id: object) -> npt.NDArray[Any] | str:
    """A dataset value as a 1-D array of its declared dtype (or a str), checked."""
    if f.is_text:
        if not isinstance(value, str):
            raise _fail(read_id, f, f"expected str, got {type(value).__name__} {_short(value)}")
        _check_utf8(f, value, read_id)
        return value
    if isinstance(value, str | bytes):
        raise _fail(read_id, f, f"expected a 1-D array, got {type(value).__name__}")
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise _fail(read_id, f, f"expected a 1-D array, got shape {arr.shape}")
    dt = f.dtype
    if arr.dtype == dt:
        return arr
    if arr.dtype.kind not in "biuf":
        raise _fail(read_id, f, f"cannot store {arr.dtype} values as {dt}")
    if np.can_cast(arr.dtype, dt, "safe") or arr.size == 0:
        return arr.astype(dt)
    if dt.kind in "iu":
        return _to_int(f, arr, read_id)
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(dt)
    overflow = np.isinf(out) & np.isfinite(arr)
    if overflow.any():
        pos = int(np.argmax(overflow))
        raise _fail(read_id, f, f"value {arr[pos]} at position {pos} overflows {dt}")
    return out


def _to_int(f: Field, arr: npt.NDArray[Any], read_id: object) -> npt.NDArray[Any]:
    dt = f.dtype
    info = np.iinfo(dt)
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        whole = finite & (np.floor(arr) == arr)
        if not whole.all():
            pos = int(np.argmin(whole))
            raise _fail(read_id, f, f"value {arr[pos]} at position {pos} is not an integer")
    low, high = arr.min(), arr.max()
    if low < info.min or high > info.max:
        bad = low if low < info.min else high
        pos = int(np.argmax(arr == bad))
        raise _fail(
            read_id, f, f"value {bad} at position {pos} does not fit {dt} ({info.min}..{info.max})"
        )
    return arr.astype(dt)
