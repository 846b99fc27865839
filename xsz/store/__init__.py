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
while zarr's codec pipeline is its default, selects zarr's fused pipeline;
both process-wide and once (`xsz.store._config`).
"""

from __future__ import annotations

from xsz.store._arrays import ENCODING_ATTR, READ_CHUNK
from xsz.store._store import SZStore

__all__ = ["ENCODING_ATTR", "READ_CHUNK", "SZStore"]
