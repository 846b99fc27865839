"""`SZStore`: an SZ store as a zarr v3 hierarchy that zarr reads and writes.

``zarr.open_group(SZStore(path))`` shows the SZ header as group attributes and
one array per variable of `xsz.mapping.layout`: the read IDs as ``read``,
attributes and ``<dataset>_count`` on the ``read`` dimension, each ragged
dataset as one 1-D array whose chunks are its reads' frames in ``dat``
(rectilinear grid, read bytes untouched), each text dataset as one frame per
read. ``xarray.open_zarr(SZStore(path))`` gives the matching Dataset.

``SZStore(path, read_only=False)`` takes what zarr writes (in any order, from
threads or dask workers) into a spool on disk next to `path`, and
`SZStore.close` lays it out as an SZ store committed atomically. Writers of
different reads may share chunks: every version of a chunk is kept and
`SZStore.close` merges them (`xsz.store._merge`), refusing two different
values written for one read.

zarr settings: creating an SZStore turns on ``array.rectilinear_chunks``
(without it zarr reads and writes no array with a rectilinear chunk grid) and,
while zarr's codec pipeline is its default, selects xsz's
(`xsz.codec.SZCodecPipeline`: zarr's fused pipeline, reading numeric svb-zstd
chunks in bulk through `SZStore.get_blocks_sync`); both process-wide and once
(`xsz.codec.apply_zarr_settings`).

The layout's building blocks are public too, for `xsz.convert`'s ``to_zarr``
and ``from_zarr``, which write and read the same hierarchy outside an SZStore:
`SZView` (an SZ store's zarr keys, read-only), `ArrayView` and `Frame` (an
array and a chunk's frame in ``dat``), `Origin` and `frame_header_problem`
(naming and checking frames), `group_document`, `payload_bounds`, `ZARR_JSON`
and `write_hierarchy` (a zarr hierarchy in the layout, written as an SZ store).
"""

from __future__ import annotations

from xsz.store._arrays import (
    ENCODING_ATTR,
    READ_CHUNK,
    ZARR_JSON,
    ArrayView,
    Frame,
    group_document,
    payload_bounds,
)
from xsz.store._commit import write_hierarchy, zarr_variable
from xsz.store._store import SZStore
from xsz.store._view import Origin, SZView, frame_header_problem

__all__ = [
    "ENCODING_ATTR",
    "READ_CHUNK",
    "ZARR_JSON",
    "ArrayView",
    "Frame",
    "Origin",
    "SZStore",
    "SZView",
    "frame_header_problem",
    "group_document",
    "payload_bounds",
    "write_hierarchy",
    "zarr_variable",
]
