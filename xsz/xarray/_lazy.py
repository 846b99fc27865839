"""Lazy arrays over an SZ store for xarray: ragged datasets, text datasets, attributes.

Each array reads only what an indexing key needs. A ragged dataset maps the
sample positions asked for to the reads that hold them (through the
cumulative counts) and decodes those reads straight into the result
(`SZReader.read_into`: coalesced ``pread``s, the codec's C kernel, no per-read arrays).
Arrays are thread-safe and pickle by store path: an unpickled copy (in a dask
worker, say) opens the store once per process and shares it.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np
from xarray.backends import BackendArray
from xarray.core import indexing

from xsz.errors import SZFormatError
from xsz.format import SZReader
from xsz.source import is_url
from xsz.xarray._ragged import pieces, ragged_arange

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping

    import numpy.typing as npt

    from xsz.format import Schema

__all__ = ["AttributeArray", "Handle", "RaggedArray", "Rows", "StoreHandle", "TextArray"]


class Rows(Protocol):
    """What the ragged and text arrays read through: an `SZReader`, or many stores
    read as one (`xsz.collection.Collection`)."""

    @property
    def schema(self) -> Schema: ...

    def read_into(
        self,
        name: str,
        rows: npt.NDArray[np.int64],
        out: npt.NDArray[Any],
        positions: npt.NDArray[np.int64] | None = None,
        *,
        n_threads: int = 1,
    ) -> None: ...

    def dataset(self, name: str, rows: object = None, *, n_threads: int = 1) -> list[Any]: ...


class Handle(Protocol):
    """The store (or stores) behind an opened Dataset, picklable."""

    @property
    def reader(self) -> Rows: ...

    def close(self) -> None: ...


_OPEN_STORES: Final = 32
"""Stores kept open per process for unpickled sources (least recently used dropped)."""


class _OpenStores:
    """Stores this process opened for unpickled sources, by source token (an LRU)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stores: OrderedDict[str, SZReader] = OrderedDict()

    def get(self, token: str) -> SZReader | None:
        with self.lock:
            found = self.stores.get(token)
            if found is not None:
                self.stores.move_to_end(token)
            return found

    def put(self, token: str, store: SZReader) -> None:
        with self.lock:
            self.stores[token] = store
            while len(self.stores) > _OPEN_STORES:
                self.stores.popitem(last=False)  # its files close when the last user lets go

    def pop(self, token: str) -> SZReader | None:
        with self.lock:
            return self.stores.pop(token, None)


_OPEN: Final = _OpenStores()


class StoreHandle:
    """The store behind one opened Dataset: its `SZReader` (parsed index, open ``dat``).

    Pickles as location (path or URL + storage options) + token + stamp. A copy in another process opens the store
    on first use (parsing the index once per process: copies with the same
    token share it) after checking it is still the version that was opened; a
    store replaced since raises `SZFormatError` rather than reading the new
    store's bytes through the old index. After `close`, a read opens it again.
    """

    def __init__(
        self, path: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
    ) -> None:
        self.path = path if is_url(path) else Path(path)
        self.storage_options = dict(storage_options or {})
        self.token = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._reader: SZReader | None = SZReader(self.path, self.storage_options)
        self.stamp = self._reader.stamp()

    @property
    def reader(self) -> SZReader:
        reader = self._reader
        if reader is not None:
            return reader
        with self._lock:
            reader = self._reader or _OPEN.get(self.token)
            if reader is None:
                reader = SZReader(self.path, self.storage_options)
                if reader.stamp() != self.stamp:  # the version opened, not the one at the path now
                    reader.close()
                    raise SZFormatError(
                        f"{self.path}: the SZ store changed since it was opened; open it again"
                    )
                _OPEN.put(self.token, reader)
            self._reader = reader
            return reader

    def close(self) -> None:
        """Close the store's files; idempotent."""
        with self._lock:
            reader, self._reader = self._reader, None
            _OPEN.pop(self.token)
        if reader is not None:
            reader.close()

    def __getstate__(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "storage_options": self.storage_options,
            "token": self.token,
            "stamp": self.stamp,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._reader = None


def _runs(positions: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Runs of consecutive values in `positions`, as ``[lo, hi)`` ranges."""
    if positions.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    lo = positions[np.concatenate([[0], breaks])]
    hi = positions[np.concatenate([breaks - 1, [positions.size - 1]])] + 1
    return lo, hi


Ranges = slice | tuple[np.ndarray, np.ndarray]
"""A positive-step slice, or runs ``(lo, hi)``: positions ``lo[i] .. hi[i] - 1`` in order."""


def _ranges(key: Any, size: int) -> Ranges:
    """A 1-D key as a positive-step slice or as runs of positions, range-checked.

    The checks look at the runs' ends only, not at every position.
    """
    if isinstance(key, slice):
        start, stop, step = key.indices(size)
        if step > 0:
            return slice(start, max(start, stop), step)
        key = np.arange(start, stop, step, dtype=np.int64)
    arr = np.asarray(key)
    if arr.dtype.kind not in "iu":
        raise IndexError(f"SZ arrays take integer or slice keys, got {arr.dtype}")
    flat = arr.reshape(-1).astype(np.int64, copy=False)
    lo, hi = _runs(flat)
    if len(lo) and lo.min() < 0:  # negative positions count from the end
        lo, hi = _runs(np.where(flat < 0, flat + size, flat))
    if len(lo) and (lo.min() < 0 or hi.max() > size):
        bad = int(lo.min()) if lo.min() < 0 else int(hi.max()) - 1
        raise IndexError(f"index {bad} is out of bounds for a dimension of size {size}")
    return lo, hi


class _SZArray(BackendArray):
    """Shared plumbing: a 1-D array over one field of an SZ store."""

    def __init__(self, source: Handle, name: str, dtype: np.dtype[Any], size: int) -> None:
        self.source = source
        self.name = name
        self.dtype = dtype
        self.shape = (size,)

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(  # type: ignore[no-any-return]
            key, self.shape, indexing.IndexingSupport.VECTORIZED, self._getitem
        )

    def _getitem(self, key: tuple[Any, ...]) -> np.ndarray:
        (k,) = key
        if isinstance(k, int | np.integer):
            return self._take(_ranges(np.array([k]), self.shape[0])).reshape(())
        out = self._take(_ranges(k, self.shape[0]))
        return out if isinstance(k, slice) else out.reshape(np.shape(k))

    def _take(self, ranges: Ranges) -> np.ndarray:
        """The values at `ranges`, in order."""
        raise NotImplementedError


class RaggedArray(_SZArray):
    """All reads' samples of one numeric dataset, back to back (``Raw`` on ``Raw_sample``).

    Parameters
    ----------
    source
        The store.
    name
        The dataset.
    starts
        Where each read's samples start, plus the total (`xsz.xarray._ragged.starts_of`).
    n_threads
        Decoder threads per indexing call.
    """

    def __init__(
        self, source: Handle, name: str, starts: npt.NDArray[np.int64], *, n_threads: int = 1
    ) -> None:
        dtype = source.reader.schema[name].dtype
        super().__init__(source, name, dtype, int(starts[-1]))
        self.starts = starts
        self.n_threads = n_threads

    def _take(self, ranges: Ranges) -> np.ndarray:
        if isinstance(ranges, slice):
            if ranges.step != 1:
                whole = self._take(slice(ranges.start, ranges.stop, 1))
                return whole[:: ranges.step]
            lo, hi = np.array([ranges.start]), np.array([ranges.stop])
        else:
            lo, hi = ranges
        return self.read_pieces(*pieces(self.starts, lo, hi))

    def read_pieces(
        self,
        rows: npt.NDArray[np.int64],
        first: npt.NDArray[np.int64],
        last: npt.NDArray[np.int64],
    ) -> np.ndarray:
        """``concatenate([read(row)[a:b] ...])`` for the pieces ``(rows, first, last)``.

        Whole reads are decoded straight into the result; reads only partly
        wanted (at the ends of a slice, or scattered samples) are decoded once
        each into a scratch array and the wanted samples gathered from it.
        """
        lengths = last - first
        out = np.empty(int(lengths.sum()), dtype=self.dtype)
        if not len(rows):
            return out
        starts = self.starts  # counts of the rows at hand only: np.diff(starts) is O(n_reads)
        positions = np.cumsum(lengths) - lengths
        whole = (first == 0) & (last == starts[rows + 1] - starts[rows])
        reader = self.source.reader
        reader.read_into(self.name, rows[whole], out, positions[whole], n_threads=self.n_threads)
        part = ~whole
        if part.any():
            wanted, inverse = np.unique(rows[part], return_inverse=True)
            sizes = starts[wanted + 1] - starts[wanted]
            base = np.cumsum(sizes) - sizes
            scratch = np.empty(int(sizes.sum()), dtype=self.dtype)
            reader.read_into(self.name, wanted, scratch, base, n_threads=self.n_threads)
            src = ragged_arange(base[inverse] + first[part], base[inverse] + last[part])
            dst = ragged_arange(positions[part], positions[part] + lengths[part])
            out[dst] = scratch[src]
        return out


class TextArray(_SZArray):
    """A text dataset, one string per read (``Fastq`` on ``read``)."""

    def __init__(self, source: Handle, name: str, n_reads: int, *, n_threads: int = 1) -> None:
        super().__init__(source, name, np.dtype(object), n_reads)
        self.n_threads = n_threads

    def _take(self, ranges: Ranges) -> np.ndarray:
        rows = (
            np.arange(ranges.start, ranges.stop, ranges.step)
            if isinstance(ranges, slice)
            else ragged_arange(*ranges)
        )
        out = np.empty(len(rows), dtype=object)
        if len(rows):
            wanted, inverse = np.unique(rows, return_inverse=True)
            values = self.source.reader.dataset(self.name, wanted, n_threads=self.n_threads)
            out[:] = [values[i] for i in inverse.tolist()]
        return out


class AttributeArray(_SZArray):
    """An attribute of every read, typed, converted from the parsed index on first use."""

    def _take(self, ranges: Ranges) -> np.ndarray:
        key = ranges if isinstance(ranges, slice) else ragged_arange(*ranges)
        reader = self.source.reader
        assert isinstance(reader, SZReader)
        return np.asarray(reader.index.attribute(self.name)[key])
