"""`SvbZstdCodec`: svb-zstd as a zarr v3 array-to-bytes codec (name ``"svb-zstd"``).

The element type comes from the array, so the configuration holds only the
zstd ``level`` (and ``checksum``). Numeric chunks of any shape are flattened in
C order into one frame. Text goes one value per chunk: a ``bytes`` array
(zarr's variable-length bytes) stores each value's bytes as the payload, which
for SZ's ``S`` datasets is their UTF-8. (zarr-python 3.4 lets only its own
``vlen-utf8`` codec serialise its ``string`` data type, so text arrays use
``bytes``.)
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from zarr.abc.codec import ArrayBytesCodec
from zarr.core.buffer import cpu
from zarr.core.common import parse_named_configuration

from xsz.codec._numcodecs import as_values, parse_level
from xsz.codec._svb import (
    DEFAULT_LEVEL,
    STR,
    compress,
    decode_array,
    decode_bytes,
    decode_text,
    encode_array,
    encode_text,
    normalize_dtype,
)
from xsz.codec._zarr_config import enable_rectilinear_chunks
from xsz.errors import CodecError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Self

    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer
    from zarr.core.common import JSON
    from zarr.core.dtype.wrapper import TBaseDType, TBaseScalar, ZDType
    from zarr.core.metadata.v3 import ChunkGridMetadata

__all__ = ["SvbZstdCodec", "TracedBuffer"]


class TracedBuffer(cpu.Buffer):
    r"""A CPU buffer that says where its bytes come from, for the codec's errors.

    A store hands zarr its chunks as `TracedBuffer`\ s whose `origin` is an object
    whose ``str()`` names them (SZStore: the store, zarr key, read and byte
    range); `SvbZstdCodec` quotes it when a chunk fails to decode. When the
    origin's ``utf8`` attribute is true the chunk is a text frame of ``bytes``
    whose payload must be UTF-8. Any other buffer decodes as usual.
    """

    origin: Any = None


def _is_bytes(chunk_spec: ArraySpec) -> bool:
    from zarr.core.dtype import VariableLengthBytes

    return isinstance(chunk_spec.dtype, VariableLengthBytes)


def _check_utf8(payload: bytes) -> None:
    """Refuse the payload of a text frame (an SZ ``S`` dataset's) that is not UTF-8."""
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CodecError(f"text frame is not valid UTF-8: {exc}") from exc


_NAME = "svb-zstd"


def _parse_checksum(checksum: object) -> bool:
    if not isinstance(checksum, bool):
        raise CodecError(f"svb-zstd checksum must be a bool, got {checksum!r}")
    return checksum


@dataclass(frozen=True)
class SvbZstdCodec(ArrayBytesCodec):
    """svb-zstd array-to-bytes codec; the bytes of a chunk are one SZ frame.

    Examples
    --------
    >>> SvbZstdCodec().to_dict()
    {'name': 'svb-zstd', 'configuration': {'level': 3}}
    """

    is_fixed_size = False

    level: int = DEFAULT_LEVEL
    checksum: bool = False

    def __init__(self, *, level: int = DEFAULT_LEVEL, checksum: bool = False) -> None:
        object.__setattr__(self, "level", parse_level(level))
        object.__setattr__(self, "checksum", _parse_checksum(checksum))

    @classmethod
    def from_dict(cls, data: dict[str, JSON]) -> Self:
        _, configuration = parse_named_configuration(data, _NAME, require_configuration=False)
        return cls(**(configuration or {}))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, JSON]:
        configuration: dict[str, JSON] = {"level": self.level}
        if self.checksum:
            configuration["checksum"] = True
        return {"name": _NAME, "configuration": configuration}

    def validate(
        self,
        *,
        shape: tuple[int, ...],
        dtype: ZDType[TBaseDType, TBaseScalar],
        chunk_grid: ChunkGridMetadata,
    ) -> None:
        # docstring inherited
        native = normalize_dtype(dtype.to_native_dtype())
        if native == STR:
            chunk_shape = getattr(chunk_grid, "chunk_shape", None)
            if chunk_shape is None or any(edge != 1 for edge in chunk_shape):
                raise CodecError(
                    "svb-zstd stores one string per frame: a string array needs chunks "
                    f"of one element, got chunk grid {chunk_grid.to_dict()}"
                )

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        # docstring inherited
        raise NotImplementedError("svb-zstd output size depends on the values")

    def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        try:
            return self._decode_chunk(chunk_bytes, chunk_spec)
        except CodecError as exc:
            origin = chunk_bytes.origin if isinstance(chunk_bytes, TracedBuffer) else None
            if origin is None:
                raise
            raise CodecError(f"{origin}: {exc}") from exc

    def _decode_chunk(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        native = chunk_spec.dtype.to_native_dtype()
        frame = memoryview(chunk_bytes.as_numpy_array())
        if normalize_dtype(native) == STR:
            values: np.ndarray[Any, Any] = np.empty(1, dtype=native)
            if _is_bytes(chunk_spec):
                values[0] = payload = decode_bytes(frame)
                if isinstance(chunk_bytes, TracedBuffer) and getattr(
                    chunk_bytes.origin, "utf8", False
                ):
                    _check_utf8(payload)
            else:
                values[0] = decode_text(frame)
        else:
            count = math.prod(chunk_spec.shape)
            values = decode_array(frame, native, count)
        return chunk_spec.prototype.nd_buffer.from_numpy_array(values.reshape(chunk_spec.shape))

    def _encode_sync(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        native = normalize_dtype(chunk_spec.dtype.to_native_dtype())
        values = chunk_array.as_numpy_array()
        if native == STR:
            if values.size != 1:
                raise CodecError(f"svb-zstd stores one string per chunk, got {values.size}")
            value = values.reshape(-1)[0]
            if isinstance(value, np.ndarray) and value.ndim == 0:
                value = value[()]  # zarr wraps a bytes scalar set with `a[i] = b"..."`
            if isinstance(value, bytes):
                frame = compress(value, level=self.level, checksum=self.checksum)
            elif isinstance(value, str):
                frame = encode_text(value, level=self.level, checksum=self.checksum)
            else:
                raise CodecError(f"svb-zstd stores str or bytes, got {type(value).__name__}")
        else:
            frame = encode_array(
                as_values(values, native), level=self.level, checksum=self.checksum
            )
        return chunk_spec.prototype.buffer.from_bytes(frame)

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    async def decode(
        self, chunks_and_specs: Iterable[tuple[Buffer | None, ArraySpec]]
    ) -> Iterable[NDBuffer | None]:
        """Decode a batch in one worker thread: one hop off the event loop per batch."""
        batch = list(chunks_and_specs)
        return await asyncio.to_thread(
            lambda: [None if c is None else self._decode_sync(c, s) for c, s in batch]
        )

    async def encode(
        self, chunks_and_specs: Iterable[tuple[NDBuffer | None, ArraySpec]]
    ) -> Iterable[Buffer | None]:
        """Encode a batch in one worker thread."""
        batch = list(chunks_and_specs)
        return await asyncio.to_thread(
            lambda: [None if c is None else self._encode_sync(c, s) for c, s in batch]
        )


# zarr loads this module (through the "zarr.codecs" entry point) to read an array
# that names svb-zstd: let it read the rectilinear grids of xsz's per-read arrays.
enable_rectilinear_chunks()
