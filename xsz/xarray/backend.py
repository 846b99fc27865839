"""The xarray engine ``"sz"``: ``xr.open_dataset(path, engine="sz")``.

The Dataset is `xsz.mapping`'s layout of the store, the one SZStore serves to
zarr: the ``read`` dimension coordinate holds the read IDs (indexed by
`xsz.xarray.indexes.SZReadIndex`, so ``ds.sel(read=...)`` selects ragged samples too),
attributes are ``(read,)`` variables of their declared dtypes, each numeric
dataset is a CF contiguous ragged array (``Raw`` on ``Raw_sample`` with
``Raw_count``), text datasets are ``(read,)`` strings and the header is in
``ds.attrs``.

Opening parses the index only (float datasets, whose counts the index lacks,
also read each frame's 18-byte header). Variables are lazy `xsz.xarray._lazy`
arrays that decode only the reads an indexing key touches. With ``chunks={}``
dask chunks follow read boundaries: reads are grouped so that a chunk holds
about `chunk_bytes` of decoded data, and chunk k of every variable (samples
and per-read values alike) covers the same reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

import numpy as np
import xarray as xr
from xarray.backends import BackendEntrypoint
from xarray.core import indexing

from xsz.errors import UsageError
from xsz.format import chunk_plan
from xsz.mapping import READ_DIM, group_attrs, layout
from xsz.source import is_url
from xsz.xarray._lazy import AttributeArray, RaggedArray, StoreHandle, TextArray
from xsz.xarray._ragged import starts_of
from xsz.xarray.indexes import SZReadIndex

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable, Mapping

    import numpy.typing as npt

    from xsz.format import SZReader
    from xsz.mapping import VariableSpec

__all__ = ["ENGINE", "SZBackendEntrypoint", "chunk_plan", "default_threads", "open_sz"]

ENGINE: Final = "sz"
"""The engine name: ``xr.open_dataset(path, engine=ENGINE)``."""
MAX_CHUNK_BYTES: Final = 32 << 20
MIN_CHUNK_BYTES: Final = 1 << 20
TEXT_EXPANSION: Final = 4
"""Text frames are sized for chunking as this many times their compressed size."""


def default_chunk_bytes(total: int) -> int:
    """Decoded bytes per dask chunk: an eighth of the store, within 1..32 MiB.

    Small stores still split into several chunks (so threads have work), large
    ones into tens of MB (so there are not too many tasks).

    Examples
    --------
    >>> default_chunk_bytes(26 << 20) == (26 << 20) // 8, default_chunk_bytes(10 << 30) == 32 << 20
    (True, True)
    """
    return int(min(MAX_CHUNK_BYTES, max(MIN_CHUNK_BYTES, total // 8)))


class SZBackendEntrypoint(BackendEntrypoint):
    """xarray's entry point for SZ stores (pysz 0.4.0 containers).

    Examples
    --------
    >>> from xarray.backends import list_engines
    >>> list_engines()["sz"].description
    'Nanopore reads in SZ stores (pysz 0.4.0): lazy ragged variables, ds.sz accessor'
    """

    description = "Nanopore reads in SZ stores (pysz 0.4.0): lazy ragged variables, ds.sz accessor"
    url = "README.md#the-xarray-engine (xsz has no public home page yet)"
    open_dataset_parameters: ClassVar[tuple[str, ...]] = (
        "filename_or_obj",
        "drop_variables",
        "chunk_bytes",
        "n_threads",
        "storage_options",
    )

    def open_dataset(  # type: ignore[override]
        self,
        filename_or_obj: str | os.PathLike[str],
        *,
        drop_variables: str | Iterable[str] | None = None,
        chunk_bytes: int | None = None,
        n_threads: int | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> xr.Dataset:
        """Open an SZ store lazily; see `open_sz`."""
        return open_sz(
            filename_or_obj,
            drop_variables=drop_variables,
            chunk_bytes=chunk_bytes,
            n_threads=n_threads,
            storage_options=storage_options,
        )

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        """True for a directory holding ``dat`` and an ``index`` that starts with ``#{``
        (URLs are not guessed: name ``engine="sz"``)."""
        if is_url(filename_or_obj):
            return False
        try:
            path = Path(os.fspath(filename_or_obj))
            with open(path / "index", "rb") as fh:
                head = fh.read(2)
            return head == b"#{" and (path / "dat").is_file()
        except (TypeError, OSError):
            return False


def open_sz(
    path: str | os.PathLike[str],
    *,
    drop_variables: str | Iterable[str] | None = None,
    chunk_bytes: int | None = None,
    n_threads: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """The Dataset of an SZ store, lazily (what ``engine="sz"`` returns).

    Parameters
    ----------
    path
        The SZ store (a directory holding ``index`` and ``dat``), or its URL in
        object storage (``s3://``, ``gs://``, ``az://``, ``http(s)://``, ``file://``).
    drop_variables
        Variable names to leave out.
    chunk_bytes
        Decoded bytes per dask chunk when opened with ``chunks={}``; by
        default `default_chunk_bytes` of the store's size.
    n_threads
        Decoder threads used by each read of a variable; by default one a core
        (`default_threads`). With dask (``chunks={}``) the chunks read at once
        share them: one pool a store, whatever the number of dask workers.
    storage_options
        Settings for obstore when `path` is a URL (by default, the environment's).

    Raises
    ------
    xsz.errors.SZFormatError
        `path` is not an SZ store (the message names what is missing) or is corrupt.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from xsz.format import Schema, SZWriter
    >>> path = getfixture("tmp_path") / "run.sz"
    >>> with SZWriter(path, Schema.build([("ID", str)], [("Raw", np.int16)])) as w:
    ...     w.put_many([("a", np.arange(3)), ("b", np.arange(2))])
    >>> ds = xr.open_dataset(path, engine="sz")
    >>> ds.sel(read="b").Raw.values
    array([0, 1], dtype=int16)
    """
    if n_threads is None:
        n_threads = default_threads()
    if n_threads < 1:
        raise UsageError(f"n_threads must be at least 1, got {n_threads}")
    if isinstance(drop_variables, str):
        drop_variables = [drop_variables]
    drop = set(drop_variables or ())
    source = StoreHandle(path, storage_options)
    try:
        ds = _dataset(source, drop, chunk_bytes, n_threads)
    except BaseException:
        source.close()
        raise
    ds.set_close(source.close)
    return ds


def default_threads() -> int:
    """Decoder threads `open_sz` uses by default: the cores this process may run on.

    Examples
    --------
    >>> default_threads() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def _dataset(
    source: StoreHandle, drop: set[str], chunk_bytes: int | None, n_threads: int
) -> xr.Dataset:
    reader = source.reader
    specs = [s for s in layout(reader.schema).values() if s.name not in drop]
    n = len(reader)

    starts: dict[str, npt.NDArray[np.int64]] = {}  # per numeric dataset (SZ name)
    for spec in specs:
        f = spec.field
        if spec.role in ("ragged", "count") and f is not None and f.name not in starts:
            starts[f.name] = starts_of(reader.counts(f.name))

    read_bytes = _read_bytes(reader, specs, starts)
    bounds = chunk_plan(read_bytes, chunk_bytes or default_chunk_bytes(int(read_bytes.sum())))

    return lazy_dataset(
        source,
        specs,
        n,
        reader.index.ids,
        starts,
        AttributeArray,
        n_threads=n_threads,
        attrs=group_attrs(reader.header, reader.schema),
        bounds=bounds if n else None,
    )


def lazy_dataset(
    handle: Any,
    specs: list[VariableSpec],
    n: int,
    ids: Callable[[], np.ndarray[Any, Any]],
    starts: Mapping[str, npt.NDArray[np.int64]],
    attribute_array: Callable[[Any, str, np.dtype[Any], int], Any],
    *,
    n_threads: int,
    attrs: dict[str, Any],
    bounds: npt.NDArray[np.int64] | None = None,
) -> xr.Dataset:
    """The lazy Dataset of the variables `specs` over the reads of `handle` (one store's
    `StoreHandle`, or a collection's handle: the engine and `open_collection` alike).

    `n` reads; `ids` gives their IDs when the read coordinate is made; `starts` holds each
    numeric dataset's sample starts (SZ name); `attribute_array(handle, name, dtype,
    n)` makes an attribute's lazy array. With `bounds` (read boundaries of the chunk
    plan) the variables carry them as ``preferred_chunks``.
    """
    read_chunks = tuple(np.diff(bounds).tolist()) if bounds is not None else None
    variables: dict[str, xr.Variable] = {}
    index: SZReadIndex | None = None
    for spec in specs:
        spec_attrs = dict(spec.attrs)
        f = spec.field
        if spec.role in ("read_id", "read_position"):
            read_ids = ids()
            ragged: dict[Hashable, npt.NDArray[np.int64]] = {
                s.dims[0]: starts[s.field.name] for s in specs if s.role == "ragged" and s.field
            }
            index = SZReadIndex.from_ids(read_ids, ragged, dim=READ_DIM)
            variables[spec.name] = xr.Variable(spec.dims, read_ids, spec_attrs)
            continue
        assert f is not None
        encoding: dict[str, Any] = {}
        if spec.role != "ragged" and read_chunks:
            encoding["preferred_chunks"] = {READ_DIM: read_chunks}
        if spec.role == "count":
            counts = np.diff(starts[f.name])
            variables[spec.name] = xr.Variable(spec.dims, counts, spec_attrs, encoding=encoding)
            continue
        if spec.role == "ragged":
            s = starts[f.name]
            array: Any = RaggedArray(handle, f.name, s, n_threads=n_threads)
            if bounds is not None:
                encoding["preferred_chunks"] = {spec.dims[0]: tuple(np.diff(s[bounds]).tolist())}
        elif spec.role == "text":
            array = TextArray(handle, f.name, n, n_threads=n_threads)
        else:  # text comes back as Python str objects, as for text datasets
            dtype = np.dtype(object) if spec.is_text else spec.dtype
            array = attribute_array(handle, f.name, dtype, n)
        data = indexing.LazilyIndexedArray(array)
        variables[spec.name] = xr.Variable(spec.dims, data, spec_attrs, encoding=encoding)

    coords = xr.Coordinates()
    if index is not None:
        read_var = variables.pop(READ_DIM)
        coords = xr.Coordinates(
            index.create_variables({READ_DIM: read_var}), indexes={READ_DIM: index}
        )
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _read_bytes(
    reader: SZReader, specs: list[VariableSpec], starts: dict[str, npt.NDArray[np.int64]]
) -> npt.NDArray[np.int64]:
    """Decoded bytes of each read over the variables kept: what chunking balances."""
    total = np.zeros(len(reader), dtype=np.int64)
    for spec in specs:
        f = spec.field
        if f is None:
            continue
        if spec.role == "ragged":
            total += np.diff(starts[f.name]) * f.dtype.itemsize
        elif spec.role == "text":
            total += reader.index.frame_size[f.name] * TEXT_EXPANSION
    return total
