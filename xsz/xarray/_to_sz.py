"""``ds.sz.to_sz(path)``: write a Dataset in `xsz.mapping`'s layout as an SZ store.

The schema, header and field order come from `xsz.mapping.schema_from_variables`
(the ``sz_*`` attributes an SZ-opened Dataset carries make them exact; a
look-alike built by hand works too). Reads are written in batches of about
`batch_bytes` of decoded data: each batch loads (or computes, for dask) only
its own slice of every variable, so memory stays bounded however large the
Dataset. `SZWriter` checks every value (no lossy casts) and commits atomically.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz.format import SZWriter, chunk_plan
from xsz.mapping import READ_DIM, Variable, schema_from_variables
from xsz.xarray._ragged import as_reads

if TYPE_CHECKING:
    import os

    import xarray as xr

__all__ = ["write_sz"]

BATCH_BYTES: Final = 64 << 20


def write_sz(
    ds: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    n_threads: int = 2,
    batch_bytes: int = BATCH_BYTES,
) -> None:
    """Write `ds` as an SZ store at `path` (what ``ds.sz.to_sz`` does).

    Parameters
    ----------
    ds
        A Dataset in `xsz.mapping`'s layout: for example one opened with
        ``engine="sz"``, a selection of its reads, or one with new per-read
        variables (they become attributes) or ragged variables (datasets).
    path
        The new store.
    overwrite
        Replace an existing SZ store at `path`.
    n_threads
        Encoder threads.
    batch_bytes
        Decoded bytes of reads loaded at a time.

    Raises
    ------
    xsz.errors.SchemaError
        A variable an SZ store cannot hold (the message names it).
    xsz.errors.UsageError
        Ragged variables that do not match the reads (after a plain ``isel``).
    xsz.errors.RecordError
        A value that does not fit its field; nothing is written.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from xsz.format import Schema, SZReader, SZWriter
    >>> src, dst = getfixture("tmp_path") / "a.sz", getfixture("tmp_path") / "b.sz"
    >>> with SZWriter(src, Schema.build([("ID", str)], [("Raw", np.int16)])) as w:
    ...     w.put_many([("a", np.arange(3)), ("b", np.arange(2)), ("c", np.arange(4))])
    >>> xr.open_dataset(src, engine="sz").sel(read=["c", "a"]).sz.to_sz(dst)
    >>> with SZReader(dst) as r:
    ...     r.ids.tolist(), r.counts("Raw").tolist()
    (['c', 'a'], [4, 3])
    """
    ds = as_reads(ds)
    sz = ds.sz
    index = sz.index  # raises when ragged variables do not match the reads
    ragged = sz.ragged
    variables: dict[str, Variable] = {}
    for name, var in ds.variables.items():
        variables[str(name)] = Variable(tuple(map(str, var.dims)), var.dtype, var.attrs)
    schema, header, fields = schema_from_variables(variables, ds.attrs)
    n = ds.sizes[READ_DIM]
    read_bytes = np.zeros(n, dtype=np.int64)
    for r in ragged.values():
        read_bytes += np.diff(index.starts[r.dim]) * ds[r.name].dtype.itemsize
    # 1 KiB a read for its attributes and text, which are not measured up front
    bounds = chunk_plan(read_bytes + 1024, batch_bytes).tolist()
    order = [fields[f.name] for f in schema.fields]
    with SZWriter(path, schema, header=header, overwrite=overwrite, n_threads=n_threads) as writer:
        for a, b in itertools.pairwise(bounds):
            columns = [_batch(ds, name, ragged, index.starts, a, b) for name in order]
            writer.put_many(zip(*columns, strict=True))


def _batch(
    ds: xr.Dataset, name: str, ragged: dict[Any, Any], starts: dict[Any, np.ndarray], a: int, b: int
) -> list[Any]:
    """The values of variable `name` for reads ``a .. b - 1``, one per read."""
    if name in ragged:
        s = starts[ragged[name].dim]
        values = ds[name].isel({ragged[name].dim: slice(int(s[a]), int(s[b]))}).values
        return np.split(values, (s[a + 1 : b] - s[a]).tolist())
    values = ds[name].isel({READ_DIM: slice(a, b)}).values
    return list(values)
