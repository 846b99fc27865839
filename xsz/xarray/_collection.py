"""``xsz.open_collection``: many SZ stores as one lazy Dataset.

The Dataset has the variables, dimensions and attributes engine ``"sz"`` gives
one store (`xsz.mapping.layout`), over every read of the collection, store
after store. Opening reads the collection's index only (IDs and counts); no
store is opened until values are read, and then only the stores (and frames)
the selection holds: ``ds.sel(read=ids)`` is a lookup in memory, and reading
its ``Raw`` opens the stores of those reads and fetches their frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from xsz.collection import Collection
from xsz.errors import DuplicateReadError, UsageError
from xsz.format import chunk_plan
from xsz.mapping import READ_DIM, group_attrs, layout
from xsz.xarray._lazy import Ranges, _SZArray
from xsz.xarray._ragged import ragged_arange, starts_of
from xsz.xarray.backend import default_chunk_bytes, lazy_dataset

if TYPE_CHECKING:
    import os
    from collections.abc import Hashable, Iterable, Mapping

    import numpy.typing as npt
    import xarray as xr

__all__ = ["CollectionHandle", "open_collection"]


class CollectionHandle:
    """The `Collection` behind a Dataset (pickles by its stores, not by open files)."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    @property
    def reader(self) -> Collection:
        return self.collection

    def close(self) -> None:
        self.collection.close()


class CollectionAttributeArray(_SZArray):
    """An attribute of every read of a collection, read from the stores' indexes."""

    def _take(self, ranges: Ranges) -> np.ndarray:
        rows = (
            np.arange(ranges.start, ranges.stop, ranges.step)
            if isinstance(ranges, slice)
            else ragged_arange(*ranges)
        )
        collection = self.source.reader
        assert isinstance(collection, Collection)
        return collection.attribute(self.name, rows)


def open_collection(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    index: str | os.PathLike[str] | None = None,
    *,
    chunks: Mapping[Hashable, Any] | None = None,
    chunk_bytes: int | None = None,
    drop_variables: str | Iterable[str] | None = None,
    n_threads: int = 1,
    storage_options: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Every read of many SZ stores as one lazy Dataset.

    Parameters
    ----------
    paths
        The stores: paths, directory trees, globs or URLs
        (`xsz.collection.find_stores`). With `index`, they must be the stores it
        indexes; ``None`` takes the index's own list.
    index
        An index file from ``xsz index`` / `xsz.collection.build_index`. Without
        one, every store's index is read now.
    chunks
        ``None`` (default): lazy arrays, no dask. ``{}``: dask arrays whose chunks
        follow read boundaries and never span two stores, about `chunk_bytes`
        of decoded data each. Any other mapping is passed to ``Dataset.chunk``.
    chunk_bytes
        Decoded bytes per dask chunk with ``chunks={}`` (default: as engine
        ``"sz"`` chooses for a store of the collection's size).
    drop_variables
        Variable names to leave out.
    n_threads
        Decoder threads per store read.
    storage_options
        Settings for obstore, for URLs.

    Returns
    -------
    xarray.Dataset
        The variables of engine ``"sz"``; ``ds.sel(read=ids)`` and the ``ds.sz``
        accessor work as on one store.

    Raises
    ------
    xsz.errors.StaleIndexError
        A store changed, appeared or went away since `index` was built (also
        when values are read later from a store changed meanwhile).
    xsz.errors.DuplicateReadError
        An ID is held by more than one read (a Dataset's ``read`` coordinate is
        unique; `xsz.collection.subset` can take the first copy).

    Examples
    --------
    >>> import numpy as np, xsz
    >>> from xsz.format import Schema, SZWriter
    >>> runs = getfixture("tmp_path") / "runs"
    >>> schema = Schema.build([("ID", str)], [("Raw", np.int16)])
    >>> for k in range(2):
    ...     with SZWriter(runs / f"part{k}.sz", schema) as w:
    ...         w.put_many([(f"r{k}a", np.arange(3)), (f"r{k}b", np.arange(2))])
    >>> report = xsz.build_index(runs, runs.parent / "runs.xszi")
    >>> ds = xsz.open_collection(runs, index=runs.parent / "runs.xszi")
    >>> ds.sel(read=["r1b", "r0a"]).Raw.values
    array([0, 1, 0, 1, 2], dtype=int16)
    """
    if n_threads < 1:
        raise UsageError(f"n_threads must be at least 1, got {n_threads}")
    if isinstance(drop_variables, str):
        drop_variables = [drop_variables]
    drop = set(drop_variables or ())
    collection = Collection(paths, index=index, storage_options=storage_options)
    try:
        _refuse_duplicates(collection)
        ds = _dataset(CollectionHandle(collection), drop, chunk_bytes, n_threads, chunks)
    except BaseException:
        collection.close()
        raise
    ds.set_close(collection.close)
    return ds


def _refuse_duplicates(collection: Collection) -> None:
    duplicates = collection.index.duplicates
    if duplicates.count:
        rid, stores = duplicates.sample[0]
        raise DuplicateReadError(
            f"{duplicates.count} read IDs are held more than once in the collection, e.g. "
            f"{rid!r} in "
            + ", ".join(collection.stores[s].location for s in stores)
            + "; a Dataset needs unique IDs (xsz.collection.subset can take the first copy)",
            read_id=rid,
        )


def _dataset(
    handle: CollectionHandle,
    drop: set[str],
    chunk_bytes: int | None,
    n_threads: int,
    chunks: Mapping[Hashable, Any] | None,
) -> xr.Dataset:
    coll = handle.collection
    specs = [s for s in layout(coll.schema).values() if s.name not in drop]
    ids, counts = coll.ids_and_counts()
    n = len(ids)
    starts = {name: starts_of(c) for name, c in counts.items()}

    ds = lazy_dataset(
        handle,
        specs,
        n,
        lambda: ids,
        starts,
        CollectionAttributeArray,
        n_threads=n_threads,
        attrs=group_attrs(coll.header, coll.schema),
    )
    if chunks is None:
        return ds
    if chunks:
        return ds.chunk(dict(chunks))
    return ds.chunk(_read_chunks(coll, specs, counts, starts, chunk_bytes, n))


def _read_chunks(
    coll: Collection,
    specs: list[Any],
    counts: dict[str, npt.NDArray[np.int64]],
    starts: dict[str, npt.NDArray[np.int64]],
    chunk_bytes: int | None,
    n: int,
) -> dict[Hashable, Any]:
    """Dask chunks on read boundaries, cut at every store boundary too."""
    if not n:
        return {}
    read_bytes = np.zeros(n, dtype=np.int64)
    for spec in specs:
        if spec.role == "ragged" and spec.field is not None:
            read_bytes += counts[spec.field.name] * spec.field.dtype.itemsize
    target = chunk_bytes or default_chunk_bytes(int(read_bytes.sum()))
    bounds = np.union1d(chunk_plan(read_bytes, target), coll.offsets)
    out: dict[Hashable, Any] = {READ_DIM: tuple(np.diff(bounds).tolist())}
    for spec in specs:
        if spec.role == "ragged" and spec.field is not None:
            out[spec.dims[0]] = tuple(np.diff(starts[spec.field.name][bounds]).tolist())
    return out
