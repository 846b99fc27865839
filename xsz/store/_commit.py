"""Lay out a zarr hierarchy in SZ's layout as a new SZ store: `write_hierarchy`.

The hierarchy is read back through zarr itself, so whatever codecs and chunks
the writer chose are understood. `xsz.mapping.schema_from_variables` turns the
arrays into an SZ schema (refusing 2-D arrays and types SZ has no code for);
then every ``(read,)`` array must have the same length, and every count array
non-negative integers adding up to its ragged array's length.

Records are written in order with `SZWriter.put_frames`. A dataset whose
chunks are already SZ frames (the svb-zstd codec alone, one chunk per read
with samples, or per read for text) is copied chunk by chunk without being
decoded, except that text frames are checked to hold UTF-8. Any other layout
(regular chunks from ``xarray.Dataset.to_zarr``, other codecs) is read through
zarr a block of reads at a time, split by the counts and encoded. Chunks zarr
never wrote (it skips chunks that are all fill value) hold the fill value.

`write_hierarchy` does the same for any zarr group, such as a Zarr store on
disk (`xsz.convert.from_zarr`): chunks are fetched from its store as bytes,
and zarr format 2 arrays name their dimensions with ``_ARRAY_DIMENSIONS``.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import zarr
from zarr.core.metadata.v3 import RectilinearChunkGridMetadata, RegularChunkGridMetadata

from xsz.codec import SvbZstdCodec, compress, decode_text, encode_array, encode_text
from xsz.errors import CodecError, RecordError, SchemaError
from xsz.format import CODES, SZWriter, has_checksum
from xsz.mapping import READ_DIM, SAMPLE_DIMENSION, Variable, schema_from_variables
from xsz.store._arrays import parse_counts

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    import numpy.typing as npt

    from xsz.format import Field

__all__ = ["Fetch", "write_hierarchy", "zarr_variable"]

Array = zarr.Array[Any]
type Fetch = Callable[[Sequence[str]], list[bytes | memoryview | None]]
"""The bytes of several chunk keys as stored (``None`` for a key never written)."""

BLOCK_VALUES: Final = 1 << 24
"""Decoded values held at once while re-encoding (per dataset)."""
BLOCK_READS: Final = 4096
"""Reads handled per block."""
_EMPTY_FRAMES: Final = {ck: compress(b"", checksum=ck) for ck in (False, True)}
"""The frame of no values, with and without zstd's checksum: reads without samples have
no chunk, so their frame is made again, in the style of the frames around it (a store
that pysz wrote comes back with the very same frames)."""


def write_hierarchy(
    group: zarr.Group,
    path: Path,
    *,
    fetch: Fetch,
    where: str,
    created: Callable[[str], int] | None = None,
    overwrite: bool = False,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Write the SZ-shaped hierarchy `group` as a new SZ store at `path`.

    Parameters
    ----------
    group
        One group of 1-D arrays in `xsz.mapping`'s layout (zarr format 3, or 2
        with ``_ARRAY_DIMENSIONS``).
    path
        The SZ store to create, atomically (`SZWriter`).
    fetch
        The stored bytes of chunk keys of `group`'s store, for datasets whose
        chunks are already SZ frames (copied, not decoded).
    where
        How error messages name the hierarchy.
    created
        The creation rank of an array by name (orders the columns when the
        group has no ``sz_columns``); by name when ``None``.
    overwrite
        Replace an SZ store at `path`.
    progress
        Called with the number of reads written so far, after each block.

    Returns
    -------
    int
        The number of reads written.
    """
    arrays: dict[str, Array] = {}
    # zarr lists members in no fixed order: take them in the order they were created,
    # which gives the SZ columns their order when the group names none (sz_columns)
    rank = created or (lambda name: -1)
    for name, node in sorted(group.members(), key=lambda m: (rank(m[0]), m[0])):
        if not isinstance(node, zarr.Array):
            raise SchemaError(
                f"{where}: {name!r} is a group; an SZ hierarchy is one group of 1-D arrays"
            )
        arrays[name] = node
    if not arrays:
        raise SchemaError(f"{where}: the hierarchy has no arrays, so there is no SZ schema")
    variables = {name: zarr_variable(name, a) for name, a in arrays.items()}
    schema, header, names = schema_from_variables(variables, dict(group.attrs))
    n = _n_reads(arrays, variables)
    counts = {
        f.name: _counts(f, names[f.name], arrays, variables, n)
        for f in schema.datasets
        if not f.is_text
    }
    attributes = [_attribute_values(arrays[names[f.name]], f) for f in schema.attributes]
    id_field = schema.id_field
    reads = _Reads(
        attributes[[f.name for f in schema.attributes].index(id_field)] if id_field else None
    )
    sources = [
        _source(f, arrays[names[f.name]], counts.get(f.name), fetch, reads) for f in schema.datasets
    ]
    with (
        SZWriter(path, schema, header=header, overwrite=overwrite, n_threads=0) as writer,
        ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="xsz-commit") as pool,
    ):
        for lo in range(0, n, BLOCK_READS):
            hi = min(n, lo + BLOCK_READS)
            frames = [source(lo, hi, pool) for source in sources]
            for row in range(lo, hi):
                writer.put_frames(
                    [values[row] for values in attributes],
                    [block[row - lo] for block in frames],
                    [None if f.is_text else int(counts[f.name][row]) for f in schema.datasets],
                )
            if progress is not None:
                progress(hi)
    return n


def zarr_variable(name: str, array: Array) -> Variable:
    """What `xsz.mapping.schema_from_variables` needs of a zarr array: dims, dtype, attrs."""
    metadata = array.metadata
    if metadata.zarr_format == 3:
        dims = metadata.dimension_names
    else:  # zarr format 2 (xarray's convention)
        listed = array.attrs.get("_ARRAY_DIMENSIONS")
        dims = tuple(listed) if isinstance(listed, list) else None
    if dims is None or None in dims:
        raise SchemaError(
            f"array {name!r} does not name its dimensions (zarr dimension_names); SZ arrays "
            f"lie on {READ_DIM!r} or on a '<dataset>_sample' dimension"
        )
    attrs = {k: v for k, v in array.attrs.items() if k != "_ARRAY_DIMENSIONS"}
    dtype = np.dtype(array.dtype)
    code = attrs.get("sz_code")
    if array.size == 0 and isinstance(code, str) and code in CODES:
        dtype = CODES[code]  # no values: writers (xarray) guess the type, SZ knew it
    elif code == "F128" and dtype == np.float64:
        dtype = CODES[code]  # F128 written as float64 for readers without xsz.float80
    return Variable(tuple(str(d) for d in dims), dtype, attrs)


def _n_reads(arrays: dict[str, Array], variables: dict[str, Variable]) -> int:
    lengths = {
        name: arrays[name].shape[0] for name, v in variables.items() if v.dims == (READ_DIM,)
    }
    if not lengths:
        raise SchemaError(f"no array lies on the {READ_DIM!r} dimension, so there are no reads")
    if len(set(lengths.values())) > 1:
        raise SchemaError(f"the arrays on {READ_DIM!r} disagree on the number of reads: {lengths}")
    return next(iter(lengths.values()))


def _counts(
    f: Field, name: str, arrays: dict[str, Array], variables: dict[str, Variable], n: int
) -> npt.NDArray[np.int64]:
    dim = variables[name].dims[0]
    count_name = next(k for k, v in variables.items() if v.attrs.get(SAMPLE_DIMENSION) == dim)
    counts = parse_counts(f"count array {count_name!r}", arrays[count_name][:], n)
    total, length = int(counts.sum()), arrays[name].shape[0]
    if total != length:
        raise SchemaError(
            f"the counts in {count_name!r} add up to {total} samples, but {name!r} "
            f"(dataset {f.name!r}) holds {length}"
        )
    return counts


class _Reads:
    """Names reads in errors: by ID when the schema has IDs, else by position."""

    def __init__(self, ids: list[Any] | None) -> None:
        self.ids = ids

    def fail(self, row: int, f: Field, problem: str) -> RecordError:
        read_id = self.ids[row] if self.ids is not None else f"#{row}"
        what = "attribute" if f.group == "A" else "dataset"
        return RecordError(
            f"read {read_id!r}, {what} {f.name!r}: {problem}", read_id=read_id, field=f.name
        )


def _attribute_values(array: Array, f: Field) -> list[Any]:
    values = np.asarray(array[:])
    if not f.is_text:
        return list(values)
    out = []
    for row, value in enumerate(values.astype(object).tolist()):
        if isinstance(value, bytes):  # text stored as bytes: it must be UTF-8
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _Reads(None).fail(row, f, f"{value[:40]!r} is not UTF-8") from exc
        out.append(value)
    return out


def _source(
    f: Field, array: Array, counts: npt.NDArray[np.int64] | None, fetch: Fetch, reads: _Reads
) -> Callable[[int, int, ThreadPoolExecutor], list[bytes | memoryview]]:
    """A function giving the frames of reads ``lo:hi`` of dataset `f`."""
    metadata = array.metadata
    as_frames = (
        metadata.zarr_format == 3
        and len(metadata.codecs) == 1
        and isinstance(metadata.codecs[0], SvbZstdCodec)
    )
    grid = metadata.chunk_grid if metadata.zarr_format == 3 else None
    if f.is_text:
        if as_frames and array.dtype.kind == "O" and isinstance(grid, RegularChunkGridMetadata):
            return _text_frames(f, array, fetch, reads)
        return _text_values(f, array, reads)
    assert counts is not None
    filled = counts[counts > 0]
    if as_frames and _edges(grid, len(filled)) == tuple(filled.tolist()):
        return _ragged_frames(f, array, counts, fetch)
    return _ragged_values(f, array, counts)


def _edges(grid: object, n_chunks: int) -> tuple[int, ...] | None:
    if isinstance(grid, RectilinearChunkGridMetadata):
        edges = grid.chunk_shapes[0]
        return (edges,) * n_chunks if isinstance(edges, int) else tuple(edges)
    if isinstance(grid, RegularChunkGridMetadata):
        return (grid.chunk_shape[0],) * n_chunks
    return None


def _ragged_frames(
    f: Field, array: Array, counts: npt.NDArray[np.int64], fetch: Fetch
) -> Callable[[int, int, ThreadPoolExecutor], list[bytes | memoryview]]:
    chunk_of = np.cumsum(counts > 0) - 1  # row -> its chunk (for rows with samples)
    prefix = array.path

    checked = [True]  # the style of the frames seen last

    def frames(lo: int, hi: int, pool: ThreadPoolExecutor) -> list[bytes | memoryview]:
        filled = [row for row in range(lo, hi) if counts[row]]
        found = dict(
            zip(filled, fetch([f"{prefix}/c/{int(chunk_of[row])}" for row in filled]), strict=True)
        )
        seen = next((frame for frame in found.values() if frame is not None), None)
        if seen is not None:
            checked[0] = has_checksum(seen)
        out: list[bytes | memoryview] = []
        for row in range(lo, hi):
            n = int(counts[row])
            frame = found.get(row)
            if n == 0:
                out.append(_EMPTY_FRAMES[checked[0]])
            elif frame is None:  # all fill value: zarr did not store it
                out.append(encode_array(np.full(n, array.fill_value, dtype=f.dtype), checksum=True))
            else:
                out.append(frame)
        return out

    return frames


def _ragged_values(
    f: Field, array: Array, counts: npt.NDArray[np.int64]
) -> Callable[[int, int, ThreadPoolExecutor], list[bytes | memoryview]]:
    starts = np.concatenate([[0], np.cumsum(counts)])

    def frames(lo: int, hi: int, pool: ThreadPoolExecutor) -> list[bytes | memoryview]:
        out: list[bytes | memoryview] = []
        row = lo
        while row < hi:  # sub-blocks of at most BLOCK_VALUES values (or one read)
            stop = max(
                row + 1, int(np.searchsorted(starts, starts[row] + BLOCK_VALUES, "right")) - 1
            )
            stop = min(stop, hi)
            values = np.asarray(array[int(starts[row]) : int(starts[stop])], dtype=f.dtype)
            base = int(starts[row])
            parts = [
                values[int(starts[r]) - base : int(starts[r + 1]) - base] for r in range(row, stop)
            ]
            out.extend(pool.map(functools.partial(encode_array, checksum=True), parts))
            row = stop
        return out

    return frames


def _text_frames(
    f: Field, array: Array, fetch: Fetch, reads: _Reads
) -> Callable[[int, int, ThreadPoolExecutor], list[bytes | memoryview]]:
    prefix = array.path

    def frames(lo: int, hi: int, pool: ThreadPoolExecutor) -> list[bytes | memoryview]:
        out: list[bytes | memoryview] = []
        keys = [f"{prefix}/c/{row}" for row in range(lo, hi)]
        for row, key, frame in zip(range(lo, hi), keys, fetch(keys), strict=True):
            if frame is None:  # the fill value: zarr did not store it
                out.append(_text_frame(f, row, array.fill_value, reads))
                continue
            try:
                decode_text(frame)
            except CodecError as exc:
                raise reads.fail(row, f, f"chunk {key} is no UTF-8 text frame: {exc}") from exc
            out.append(frame)
        return out

    return frames


def _text_values(
    f: Field, array: Array, reads: _Reads
) -> Callable[[int, int, ThreadPoolExecutor], list[bytes | memoryview]]:
    def frames(lo: int, hi: int, pool: ThreadPoolExecutor) -> list[bytes | memoryview]:
        values = np.asarray(array[lo:hi]).astype(object).tolist()
        return [_text_frame(f, lo + k, v, reads) for k, v in enumerate(values)]

    return frames


def _text_frame(f: Field, row: int, value: object, reads: _Reads) -> bytes:
    if isinstance(value, bytes):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise reads.fail(row, f, f"{value[:40]!r} is not UTF-8") from exc
        return compress(value, checksum=True)
    if not isinstance(value, str):
        raise reads.fail(row, f, f"expected text, got {type(value).__name__} {value!r:.40}")
    return encode_text(value, checksum=True)
