"""The arrays of the SZ layout: each one's zarr v3 document and the source of its chunks.

`xsz.mapping.layout` names the arrays; this module gives each one its zarr v3
metadata document (for the read view, and for `SZStore.create_hierarchy`) and
says where its chunks come from in the view:

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

from xsz.codec import CODEC_ID, DEFAULT_LEVEL, FLOAT80_NAME, STR, max_payload_size
from xsz.errors import SchemaError, UsageError
from xsz.mapping import group_attrs, index_values, layout

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy.typing as npt

    from xsz.format import Schema, SZReader
    from xsz.mapping import VariableSpec

__all__ = [
    "ENCODING_ATTR",
    "READ_CHUNK",
    "ZARR_JSON",
    "ArrayView",
    "Frame",
    "array_document",
    "encode_index_chunk",
    "group_document",
    "hierarchy",
    "index_chunk_length",
    "parse_counts",
    "payload_bounds",
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
    """The dataset (the SZ field; its array may be renamed by the layout)."""
    row: int
    offset: int
    size: int
    limit: int | None
    """The most payload bytes the frame may hold (``None`` for text)."""
    least: int = 0
    """The fewest payload bytes the frame may hold."""
    count: int | None = None
    """The values the frame holds (``None`` for text)."""

    @property
    def text(self) -> bool:
        """Whether the frame holds text (its payload must be UTF-8)."""
        return self.limit is None


def payload_bounds[N: (int, npt.NDArray[np.int64])](
    count: N, itemsize: int, raw: bool
) -> tuple[N, N]:
    """The fewest and the most payload bytes a frame of `count` values may hold:
    exactly ``count * itemsize`` for raw floats; for streamvbyte ``ceil(count / 4)``
    control bytes and 1 to 4 data bytes a value. One count or an array of them.

    Examples
    --------
    >>> payload_bounds(5, 2, raw=False), payload_bounds(5, 4, raw=True)
    ((7, 22), (20, 20))
    """
    most = max_payload_size(count, itemsize, raw)
    return (most if raw else count + (count + 3) // 4), most


def index_chunk_length(n_reads: int) -> int:
    """Reads per chunk of an array made from the index (at least 1, for empty stores)."""
    return max(1, min(READ_CHUNK, n_reads))


def array_document(
    spec: VariableSpec, n_reads: int, counts: npt.NDArray[np.int64] | None = None
) -> dict[str, Any]:
    """The zarr v3 ``zarr.json`` of the array `spec` in a store of `n_reads` reads.

    `counts` (the samples of each read) is needed for a ragged dataset: its chunk
    edges are the counts that are not 0.
    """
    attrs = dict(spec.attrs)
    dtype = zarr_dtype_name(spec.dtype)
    if spec.role == "ragged":
        if counts is None:
            raise UsageError(f"the document of ragged array {spec.name!r} needs its counts")
        edges = counts[counts > 0].tolist()
        grid: dict[str, Any] = (
            {"name": "rectilinear", "configuration": {"kind": "inline", "chunk_shapes": [edges]}}
            if edges
            else _regular(1)
        )
        return _array_doc(int(counts.sum()), dtype, grid, _SVB, 0, attrs, spec.dims)
    if spec.role == "text":
        attrs[ENCODING_ATTR] = "utf-8"
        return _array_doc(n_reads, "variable_length_bytes", _regular(1), _SVB, "", attrs, spec.dims)
    codec, fill = (_VLEN_UTF8, "") if spec.dtype == STR else (_BYTES, 0)
    grid = _regular(index_chunk_length(n_reads))
    return _array_doc(n_reads, dtype, grid, codec, fill, attrs, spec.dims)


def group_document(attrs: dict[str, Any], arrays: dict[str, Any] | None = None) -> bytes:
    """The root ``zarr.json``: the group's attributes, and `arrays`' documents consolidated."""
    doc: dict[str, Any] = {"zarr_format": 3, "node_type": "group", "attributes": attrs}
    if arrays is not None:
        doc["consolidated_metadata"] = {
            "kind": "inline",
            "must_understand": False,
            "metadata": arrays,
        }
    return json.dumps(doc).encode()


def hierarchy(
    schema: Schema, header: dict[str, Any], n_reads: int, counts: Mapping[str, object]
) -> dict[str, bytes]:
    """The keys of an SZ-shaped hierarchy to be written: every document, and the chunks of
    the arrays only the layout knows (the counts, and positions when there are no IDs)."""
    out: dict[str, bytes] = {ZARR_JSON: group_document(group_attrs(header, schema))}
    for name, spec in layout(schema).items():
        values = None
        if spec.role in ("ragged", "count"):
            assert spec.field is not None  # a dataset's spec has its field
            given = counts.get(spec.field.name)
            if given is None:
                raise SchemaError(
                    f"dataset {spec.field.name!r} holds samples: give its counts, one per read"
                )
            values = parse_counts(f"counts of dataset {spec.field.name!r}", given, n_reads)
        elif spec.role == "read_position":
            values = np.arange(n_reads, dtype=np.int64)
        out[f"{name}/{ZARR_JSON}"] = json.dumps(array_document(spec, n_reads, values)).encode()
        if values is not None and spec.role != "ragged":
            length = index_chunk_length(n_reads)
            for index in range(-(-n_reads // length)):
                out[f"{name}/c/{index}"] = encode_index_chunk(values, index, length)
    return out


def parse_counts(label: str, counts: object, n_reads: int) -> npt.NDArray[np.int64]:
    """`counts` as int64, one non-negative count per read, or `SchemaError` naming `label`."""
    arr = np.asarray(counts)
    if arr.shape != (n_reads,) or (arr.size and arr.dtype.kind not in "iu"):
        raise SchemaError(f"{label}: expected {n_reads} integers, got {arr.dtype} {arr.shape}")
    if arr.size and arr.min() < 0:
        row = int(np.argmax(arr < 0))
        raise SchemaError(f"{label}: {arr[row]} samples at read {row}")
    return arr.astype(np.int64)


def encode_index_chunk(values: np.ndarray[Any, Any], index: int, chunk_length: int) -> bytes:
    """Chunk `index` of an array made from the index, padded with the fill value."""
    part = values[index * chunk_length : (index + 1) * chunk_length]
    if values.dtype == object or values.dtype.kind in "UT":
        padded = np.full(chunk_length, "", dtype=object)
        padded[: len(part)] = part
        return bytes(VLenUTF8().encode(padded))
    padded = np.zeros(chunk_length, dtype=values.dtype.newbyteorder("<"))
    padded[: len(part)] = part
    return padded.tobytes()


class ArrayView:
    """One array of the view: its metadata document and the source of its chunks."""

    def __init__(self, spec: VariableSpec, reader: SZReader) -> None:
        self.spec = spec
        n = len(reader)
        self.values: np.ndarray[Any, Any] | None = None
        self.rows: npt.NDArray[np.int64] | None = None  # chunk -> row, for frame chunks
        self.counts: npt.NDArray[np.int64] | None = None
        self.chunk_length = index_chunk_length(n)
        f = spec.field
        if spec.role in ("ragged", "text") and f is not None:  # a dataset has its field
            self.dataset = f.name
            self.offsets = reader.index.frame_offset[f.name]
            self.sizes = reader.index.frame_size[f.name]
            self.raw = not f.has_count and not f.is_text
            self.itemsize = spec.dtype.itemsize
            if f.is_text:
                self.rows = np.arange(n)
            else:
                self.counts = reader.counts(f.name)
                self.rows = np.flatnonzero(self.counts > 0)
        else:
            self.values = index_values(spec, reader)
        self.doc = array_document(spec, n, self.counts)
        self.document = json.dumps(self.doc).encode()

    @property
    def n_chunks(self) -> int:
        if self.rows is not None:
            return len(self.rows)
        assert self.values is not None  # an array made from the index
        return -(-len(self.values) // self.chunk_length)

    def frame(self, key: str, index: int) -> Frame | None:
        """Where chunk `index` (zarr key `key`) of a dataset lies in ``dat``, or ``None``."""
        if self.rows is None or not 0 <= index < len(self.rows):
            return None
        row = int(self.rows[index])
        least, limit, count = 0, None, None
        if self.counts is not None:
            count = int(self.counts[row])
            least, limit = payload_bounds(count, self.itemsize, self.raw)
        offset, size = int(self.offsets[row]), int(self.sizes[row])
        return Frame(key, self.dataset, row, offset, size, limit, least, count)

    def encode(self, index: int) -> bytes | None:
        """The bytes of chunk `index` of an array made from the index."""
        if self.values is None or not 0 <= index < self.n_chunks:
            return None
        return encode_index_chunk(self.values, index, self.chunk_length)


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
