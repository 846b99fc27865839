"""SZ -> Zarr, ``layout="regular"``: the same variables in regular chunks, decoded and re-encoded.

Names, dimensions and attributes are `xsz.mapping.layout`'s, as in the reads
layout, so ``xr.open_zarr`` gives the same Dataset. What differs is the chunking
and the codecs:

====================  ===============================  ===================================
arrays                chunks                           codecs
====================  ===============================  ===================================
ragged (``Raw`` ...)  `sample_chunk` samples            svb-zstd, or ``bytes`` + the codec
IDs, attributes,      `READ_CHUNK` reads (65,536)      ``bytes`` / ``vlen-utf8`` + zstd
counts
text datasets         `TEXT_CHUNK` reads (4,096)       ``vlen-utf8`` + zstd
====================  ===============================  ===================================

A regular grid cannot start a chunk at every read, so a read's samples lie in
one chunk or straddle two (or more, for reads longer than a chunk).
`sample_chunk` makes a chunk a few reads long: a read of median length then
touches one or two chunks, and
reading it decodes a few reads' worth of samples, while scanning the whole
array pays zarr's per-chunk cost once per several reads. Every chunk is
written once, whole: reads are decoded a block at a time and samples are
written in runs of whole chunks, the remainder kept for the next block.

Without svb-zstd (a standard `codec`), nothing needs xsz to be read: text is
zarr's ``string`` type, and ``F128`` values (xsz's ``xsz.float80`` data type)
are written as float64, the nearest double, with a warning when that rounds
any value; their ``sz_code`` attribute still says ``F128``, so `from_zarr`
restores the field type.
"""

from __future__ import annotations

import itertools
import json
import warnings
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import zarr
from zarr.codecs import BloscCodec, BytesCodec, GzipCodec, ZstdCodec
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from xsz.codec import CODEC_ID, DEFAULT_LEVEL, STR, SvbZstdCodec
from xsz.convert._options import CODECS
from xsz.errors import UsageError, XszWarning
from xsz.format import chunk_plan
from xsz.mapping import group_attrs, index_values, layout
from xsz.store import READ_CHUNK, ZARR_JSON, group_document

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt
    from zarr.abc.codec import BytesBytesCodec
    from zarr.abc.store import Store

    from xsz.format import SZReader
    from xsz.mapping import VariableSpec

__all__ = ["TEXT_CHUNK", "parse_codec", "sample_chunk", "write_regular"]

TEXT_CHUNK: Final = 1 << 12
"""Reads per chunk of a text dataset."""
BATCH_BYTES: Final = 1 << 26
"""Decoded bytes of reads handled at a time (one read at least)."""
_MIN_CHUNK: Final = 1 << 16
_MAX_CHUNK: Final = 1 << 22

ZSTD_LEVEL: Final = 3


def parse_codec(codec: object) -> str | BytesBytesCodec:
    """`codec` as a name of `CODECS` or a zarr bytes-to-bytes codec, else `UsageError`."""
    from zarr.abc.codec import BytesBytesCodec

    if isinstance(codec, BytesBytesCodec) or (isinstance(codec, str) and codec in CODECS):
        return codec
    raise UsageError(
        f"codec must be one of {', '.join(map(repr, CODECS))} or a zarr bytes-to-bytes codec "
        f"(such as zarr.codecs.ZstdCodec(level=5)), got {codec!r}"
    )


def _compressors(codec: str | BytesBytesCodec) -> list[BytesBytesCodec]:
    """The bytes-to-bytes codecs of a ragged array for `codec` (none for svb-zstd)."""
    if not isinstance(codec, str):
        return [codec]
    if codec == "blosc":
        return [BloscCodec(cname="zstd", clevel=5)]
    if codec == "gzip":
        return [GzipCodec(level=5)]
    if codec == "none":
        return []
    return [ZstdCodec(level=ZSTD_LEVEL)]


def sample_chunk(counts: npt.NDArray[np.int64]) -> int:
    """Samples per chunk for a ragged dataset with these per-read counts.

    The smallest power of two at least four times the median read (reads
    without samples left out), within 65,536 .. 4,194,304.

    Examples
    --------
    >>> sample_chunk(np.array([50_000, 120_000, 90_000]))
    524288
    >>> sample_chunk(np.array([4000, 0, 4000])), sample_chunk(np.array([], dtype=np.int64))
    (65536, 65536)
    """
    filled = counts[counts > 0]
    median = float(np.median(filled)) if len(filled) else 0.0
    want = max(4 * median, 1.0)
    return int(min(_MAX_CHUNK, max(_MIN_CHUNK, 1 << int(np.ceil(np.log2(want))))))


def _dtype(spec: VariableSpec, portable: bool) -> np.dtype[Any]:
    if portable and spec.dtype == np.dtype(np.longdouble):
        return np.dtype(np.float64)
    return spec.dtype


class _Rounding:
    """Casts F128 values to float64 for portable output; warns once per variable."""

    def __init__(self, portable: bool) -> None:
        self.portable = portable
        self.warned: set[str] = set()

    def __call__(self, name: str, values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        if not self.portable or values.dtype != np.dtype(np.longdouble):
            return values
        with np.errstate(over="ignore"):  # beyond float64's range: +-inf, warned below
            out = values.astype(np.float64)
        if name not in self.warned and not np.array_equal(
            out.astype(np.longdouble), values, equal_nan=True
        ):
            self.warned.add(name)
            warnings.warn(
                f"variable {name!r} (SZ type F128): some values are rounded to float64 "
                "(or, beyond its range, to infinity), "
                "which a zarr reader without xsz understands; use codec='svb-zstd' to "
                "keep them exactly (xsz's xsz.float80 data type)",
                XszWarning,
                stacklevel=4,
            )
        return out


def write_regular(
    reader: SZReader,
    store: Store,
    *,
    codec: str | BytesBytesCodec,
    chunk_samples: int | None,
    n_threads: int,
    progress: Callable[[int], object],
) -> None:
    """Write `reader`'s reads into the empty zarr `store` in the regular layout."""
    portable = codec != CODEC_ID
    schema = reader.schema
    n = len(reader)
    specs = layout(schema)
    group = zarr.open_group(store, mode="w", zarr_format=3, attributes={})
    counts = {f.name: reader.counts(f.name) for f in schema.datasets if not f.is_text}
    compressors = _compressors(codec)
    rounding = _Rounding(portable)
    arrays: dict[str, zarr.Array[Any]] = {}
    lengths: dict[str, int] = {}
    for name, spec in specs.items():
        dtype = _dtype(spec, portable)
        if spec.role == "ragged":
            assert spec.field is not None
            length = chunk_samples or sample_chunk(counts[spec.field.name])
            serializer: Any = SvbZstdCodec(level=DEFAULT_LEVEL) if not portable else BytesCodec()
            shape, used = int(counts[spec.field.name].sum()), [] if not portable else compressors
        else:
            length = TEXT_CHUNK if spec.role == "text" else READ_CHUNK
            serializer, shape = "auto", n
            used = [ZstdCodec(level=ZSTD_LEVEL)]
        lengths[name] = length = max(1, min(length, shape))
        arrays[name] = group.create_array(
            name,
            shape=(shape,),
            dtype=str if dtype == STR else dtype,
            chunks=(length,),
            serializer=serializer,
            compressors=used,
            dimension_names=list(spec.dims),
            attributes=dict(spec.attrs),
            config={"write_empty_chunks": True},
        )
        if spec.role not in ("ragged", "text"):
            arrays[name][:] = rounding(name, index_values(spec, reader))

    streams = {
        name: _Stream(arrays[name], lengths[name])
        for name, spec in specs.items()
        if spec.role in ("ragged", "text")
    }
    fields = {
        name: spec.field.name for name, spec in specs.items() if name in streams and spec.field
    }
    read_bytes = np.full(n, 1024, dtype=np.int64)  # text and attributes: not known up front
    for f in schema.datasets:
        if not f.is_text:
            read_bytes += counts[f.name] * f.dtype.itemsize
    bounds = chunk_plan(read_bytes, BATCH_BYTES).tolist()
    for lo, hi in itertools.pairwise(bounds):
        rows = np.arange(lo, hi)
        for name, stream in streams.items():
            values = reader.dataset(fields[name], rows, n_threads=n_threads)
            if specs[name].role == "text":
                stream.add(np.array(values, dtype=object))
            elif values:
                stream.add(rounding(name, np.concatenate(values)))
        progress(hi)
    for stream in streams.values():
        stream.finish()
    _consolidate(store, group_attrs(reader.header, schema), list(specs))
    progress(n)


class _Stream:
    """Values of one array arriving in order, written in runs of whole chunks."""

    def __init__(self, array: zarr.Array[Any], chunk: int) -> None:
        self.array = array
        self.chunk = chunk
        self.written = 0
        self.pending: list[np.ndarray[Any, Any]] = []
        self.n_pending = 0

    def add(self, values: np.ndarray[Any, Any]) -> None:
        self.pending.append(values)
        self.n_pending += len(values)
        whole = self.n_pending - self.n_pending % self.chunk
        if whole >= self.chunk:
            self._write(whole)

    def finish(self) -> None:
        if self.n_pending:
            self._write(self.n_pending)
        if self.written != self.array.shape[0]:
            raise UsageError(
                f"array {self.array.path!r}: wrote {self.written} values, expected "
                f"{self.array.shape[0]} (the store changed while being converted?)"
            )

    def _write(self, count: int) -> None:
        joined = np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0]
        self.array[self.written : self.written + count] = joined[:count]
        self.written += count
        rest = joined[count:]
        self.pending = [rest] if len(rest) else []
        self.n_pending = len(rest)


def _consolidate(store: Store, attrs: dict[str, Any], names: list[str]) -> None:
    """Rewrite the root ``zarr.json`` with the group's attributes and every array's
    metadata inline (zarr's consolidated metadata, the form SZStore's view has)."""
    prototype = default_buffer_prototype()

    async def documents() -> list[Any]:
        import asyncio

        return await asyncio.gather(
            *(store.get(f"{name}/{ZARR_JSON}", prototype=prototype) for name in names)
        )

    found = sync(documents())
    docs = {name: json.loads(buf.to_bytes()) for name, buf in zip(names, found, strict=True) if buf}
    sync(store.set(ZARR_JSON, prototype.buffer.from_bytes(group_document(attrs, docs))))
