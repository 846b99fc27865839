"""The arrays of the read view: each one's zarr v3 document and the source of its chunks.

`xsz.mapping.layout` names the arrays; this module gives each one its zarr v3
metadata document and says where its chunks come from:

=================  ============================  =====================================
array (role)       chunks                        bytes of a chunk
=================  ============================  =====================================
ragged dataset     rectilinear, one per read     the read's frame in ``dat`` (svb-zstd)
                   with samples (edge = count)
text dataset       one per read                  the read's frame in ``dat`` (svb-zstd)
``read``, counts,  regular, `READ_CHUNK` reads   made from the index (``bytes`` or
attributes                                       ``vlen-utf8``, uncompressed)
=================  ============================  =====================================

Zarr chunk edges are at least 1, so a read with no samples has no chunk: chunk
``j`` of a ragged array is the ``j``-th read with samples, in row order. A
ragged dataset without any sample is an empty array on a regular grid.

Text datasets are zarr ``variable_length_bytes`` arrays whose values are the
frames' payloads (UTF-8), with the CF attribute ``_Encoding: utf-8`` so xarray
decodes them to ``str``. zarr-python 3.4 lets no codec but its own
``vlen-utf8`` serialise its ``string`` type, and a frame holds one bare UTF-8
string, not vlen-utf8's length-prefixed layout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numcodecs.vlen import VLenUTF8

from xsz.codec import CODEC_ID, DEFAULT_LEVEL, STR
from xsz.codec._zdtype import FLOAT80_NAME

if TYPE_CHECKING:
    import numpy.typing as npt

    from xsz.format import SZReader
    from xsz.mapping import VariableSpec

__all__ = [
    "ENCODING_ATTR",
    "READ_CHUNK",
    "ZARR_JSON",
    "ArrayView",
    "Frame",
    "split_chunk_key",
    "zarr_dtype_name",
]

ZARR_JSON: Final = "zarr.json"
READ_CHUNK: Final = 1 << 16
"""Reads per chunk of the arrays made from the index (``read``, counts, attributes)."""
ENCODING_ATTR: Final = "_Encoding"
"""The CF attribute that tells xarray how to decode a bytes array to str."""

_ZARR_DTYPES: Final[dict[np.dtype[Any], str]] = {
    np.dtype(np.int16): "int16",
    np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64",
    np.dtype(np.uint16): "uint16",
    np.dtype(np.uint32): "uint32",
    np.dtype(np.float16): "float16",
    np.dtype(np.float32): "float32",
    np.dtype(np.float64): "float64",
    np.dtype(np.longdouble): FLOAT80_NAME,
    STR: "string",
}
_KEY_ENCODING: Final = {"name": "default", "configuration": {"separator": "/"}}
_SVB: Final = {"name": CODEC_ID, "configuration": {"level": DEFAULT_LEVEL}}
_BYTES: Final = {"name": "bytes", "configuration": {"endian": "little"}}
_VLEN_UTF8: Final = {"name": "vlen-utf8", "configuration": {}}


def zarr_dtype_name(dtype: np.dtype[Any]) -> str:
    """The zarr v3 ``data_type`` of a mapping dtype (``str`` -> ``"string"``)."""
    return _ZARR_DTYPES[dtype]


def split_chunk_key(key: str) -> tuple[str, int] | None:
    """``"Raw/c/12"`` -> ``("Raw", 12)``; ``None`` for a key that is no 1-D chunk key."""
    name, sep, index = key.rpartition("/c/")
    if not sep or not index.isdigit() or (len(index) > 1 and index[0] == "0"):
        return None
    return name, int(index)


@dataclass(frozen=True, slots=True)
class Frame:
    """Where a chunk's bytes lie in ``dat``: one frame of one read."""

    key: str
    name: str
    row: int
    offset: int
    size: int
    limit: int | None
    """The most payload bytes the frame may hold (``None`` for text)."""


class ArrayView:
    """One array of the view: its metadata document and the source of its chunks."""

    def __init__(self, spec: VariableSpec, reader: SZReader) -> None:
        self.spec = spec
        n = len(reader)
        self.values: np.ndarray[Any, Any] | None = None
        self.rows: npt.NDArray[np.int64] | None = None  # chunk -> row, for frame chunks
        self.counts: npt.NDArray[np.int64] | None = None
        attrs = dict(spec.attrs)
        f = spec.field
        if spec.role in ("ragged", "text"):
            assert f is not None  # a dataset always has its field
            self.offsets = reader.index.frame_offset[f.name]
            self.sizes = reader.index.frame_size[f.name]
            self.raw = f.has_count is False and not f.is_text
            self.itemsize = spec.dtype.itemsize
        if spec.role == "ragged":
            assert f is not None
            counts = reader.counts(f.name)
            self.rows = np.flatnonzero(counts > 0)
            self.counts = counts
            edges = counts[self.rows].tolist()
            shape = int(counts.sum())
            grid: dict[str, Any] = (
                {
                    "name": "rectilinear",
                    "configuration": {"kind": "inline", "chunk_shapes": [edges]},
                }
                if edges
                else _regular(1)
            )
            doc = _array_doc(shape, zarr_dtype_name(spec.dtype), grid, _SVB, 0, attrs, spec.dims)
        elif spec.role == "text":
            self.rows = np.arange(n)
            attrs[ENCODING_ATTR] = "utf-8"
            doc = _array_doc(n, "variable_length_bytes", _regular(1), _SVB, "", attrs, spec.dims)
        else:
            self.values = _index_values(spec, reader)
            codec = _VLEN_UTF8 if spec.dtype == STR else _BYTES
            fill: object = "" if spec.dtype == STR else 0
            chunk = max(1, min(READ_CHUNK, n))
            doc = _array_doc(
                n, zarr_dtype_name(spec.dtype), _regular(chunk), codec, fill, attrs, spec.dims
            )
            self.chunk_length = chunk
        self.doc = doc
        self.document = json.dumps(doc).encode()

    @property
    def n_chunks(self) -> int:
        if self.rows is not None:
            return len(self.rows)
        assert self.values is not None
        return -(-len(self.values) // self.chunk_length)

    def frame(self, key: str, name: str, index: int) -> Frame | None:
        if self.rows is None or not 0 <= index < len(self.rows):
            return None
        row = int(self.rows[index])
        limit = None
        if self.counts is not None:
            n = int(self.counts[row])
            limit = n * self.itemsize if self.raw else 4 * n + (n + 3) // 4
        return Frame(key, name, row, int(self.offsets[row]), int(self.sizes[row]), limit)

    def encode(self, index: int) -> bytes | None:
        """The bytes of chunk `index` of an array made from the index."""
        values = self.values
        if values is None or not 0 <= index < self.n_chunks:
            return None
        step = self.chunk_length
        part = values[index * step : (index + 1) * step]
        if self.spec.dtype == STR:
            padded = np.full(step, "", dtype=object)
            padded[: len(part)] = part
            return bytes(VLenUTF8().encode(padded))
        padded = np.zeros(step, dtype=part.dtype.newbyteorder("<"))
        padded[: len(part)] = part
        return padded.tobytes()


def _regular(chunk: int) -> dict[str, Any]:
    return {"name": "regular", "configuration": {"chunk_shape": [chunk]}}


def _array_doc(
    shape: int,
    dtype: str,
    grid: dict[str, Any],
    codec: dict[str, Any],
    fill: object,
    attrs: dict[str, Any],
    dims: tuple[str, ...],
) -> dict[str, Any]:
    return {
        "zarr_format": 3,
        "node_type": "array",
        "shape": [shape],
        "data_type": dtype,
        "chunk_grid": grid,
        "chunk_key_encoding": _KEY_ENCODING,
        "fill_value": fill,
        "codecs": [codec],
        "attributes": attrs,
        "dimension_names": list(dims),
    }


def _index_values(spec: VariableSpec, reader: SZReader) -> np.ndarray[Any, Any]:
    if spec.role == "read_position":
        return np.arange(len(reader), dtype=np.int64)
    assert spec.field is not None
    if spec.role == "count":
        return reader.counts(spec.field.name).astype(np.int64, copy=False)
    return reader.index.attribute(spec.field.name)
