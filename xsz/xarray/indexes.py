"""`SZReadIndex`: the index of the ``read`` coordinate, which keeps ragged variables whole.

A ragged dataset (``Raw``) lies on its own sample dimension (``Raw_sample``),
all reads' samples back to back, with ``Raw_count`` on ``read`` (the CF
contiguous ragged array of `xsz.mapping`). Selecting reads must therefore also
select samples. `SZReadIndex` is a `xarray.indexes.PandasIndex` over the read
IDs that knows where each read's samples start on every sample dimension, so
its `sel` returns indexers for the sample dimensions too::

    ds.sel(read=["r7", "r2"])   # Raw holds r7's samples then r2's; Raw_count matches

Positional selection goes through the same index: ``ds.sz.isel(read=[6, 1])``.
A plain ``ds.isel(read=...)`` only reaches the ``read`` dimension (xarray gives
an index no say over other dimensions), so on a Dataset with ragged variables
it is refused with a `UsageError` naming the way out; what else moves reads
without their samples (``roll``, alignment, ``concat``) gets a
`DetachedReadIndex`, which says so and which ``ds.sz`` refuses.

Because `SZReadIndex.sel` returns sample indexers, label selection needs the
sample dimensions to be there: on a DataArray or a Dataset without them
(``ds.Offset``, ``ds[["Offset"]]``), select on the whole Dataset first
(``ds.sel(read=ids).Offset``) or use ``ds.sz.sel``, which only selects the
ragged variables present.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
from xarray import DataArray, Variable
from xarray.core.indexing import IndexSelResult
from xarray.indexes import PandasIndex

from xsz.errors import ReadNotFoundError, UsageError
from xsz.mapping import READ_DIM
from xsz.xarray._ragged import Positions, sample_indexer, starts_of

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable, Sequence
    from types import FrameType

    import numpy.typing as npt

__all__ = ["DetachedReadIndex", "SZReadIndex", "SampleDim"]


class SampleDim(str):
    """The name of a sample dimension, as `SZReadIndex.sel` hands it to xarray.

    Equal to (and hashing as) the plain name, so a Dataset that has the dimension
    selects along it as usual; its ``repr`` is what xarray's "Dimensions {...} do
    not exist" shows when a DataArray lacks it (``ds.offset.sel(read=i)``), and
    says what to do instead.

    Examples
    --------
    >>> d = SampleDim("Raw_sample")
    >>> d == "Raw_sample", hash(d) == hash("Raw_sample"), {d: 1}["Raw_sample"]
    (True, True, 1)
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return (
            f"{str.__repr__(self)}: selecting reads also selects their samples, so select "
            "on the Dataset, ds.sel(read=ids).NAME, not on a DataArray without samples"
        )


class DetachedReadIndex(PandasIndex):
    """The read index of a Dataset whose reads moved without their samples.

    What plain ``isel``, ``roll``, alignment or ``concat`` along ``read`` leave
    behind: per-read variables were reordered or subset, ragged variables were
    not, so their counts no longer describe them. Label selection works as on
    any `PandasIndex` (per-read variables only); ``ds.sz`` refuses ragged work.
    """

    def _repr_inline_(self, max_width: int) -> str:
        return "DetachedReadIndex (ragged variables not selected with the reads)"


class SZReadIndex(PandasIndex):
    """A `PandasIndex` over read IDs that also selects the samples of ragged variables.

    Parameters
    ----------
    array
        The read IDs (or positions, for stores without an ``ID`` attribute).
    dim
        The read dimension (``"read"``).
    coord_dtype
        The coordinate's dtype.
    starts
        For each sample dimension, where each read's samples start (length
        ``n_reads + 1``, see `xsz.xarray._ragged.starts_of`).

    Notes
    -----
    A plain ``isel`` of reads on a Dataset with ragged variables is refused
    (`UsageError`); anything else that moves reads without the samples
    (``roll``, alignment, ``concat``) gives a `DetachedReadIndex`; `sel` and
    ``ds.sz.isel`` give a new `SZReadIndex` for the reads they select.
    Set one on a Dataset of the same layout with
    ``ds.drop_indexes("read").set_xindex("read", SZReadIndex,
    counts={"Raw_sample": ds.Raw_count.values})``.
    """

    def __init__(
        self,
        array: Any,
        dim: Hashable,
        coord_dtype: Any = None,
        *,
        fastpath: bool = False,
        starts: Mapping[Hashable, npt.NDArray[np.int64]] | None = None,
    ) -> None:
        super().__init__(array, dim, coord_dtype, fastpath=fastpath)
        self.starts: dict[Hashable, npt.NDArray[np.int64]] = dict(starts or {})
        for sample_dim, s in self.starts.items():
            if len(s) != len(self.index) + 1:
                raise UsageError(
                    f"{sample_dim!r}: {len(s) - 1} read counts for {len(self.index)} reads"
                )

    @classmethod
    def from_variables(
        cls, variables: Mapping[Any, Variable], *, options: Mapping[str, Any]
    ) -> SZReadIndex:
        """The index of one read coordinate; ``options["counts"]`` maps sample dims to counts."""
        base = PandasIndex.from_variables(variables, options={})
        counts = options.get("counts") or {}
        starts = {dim: starts_of(np.asarray(c)) for dim, c in counts.items()}
        return cls(base.index, base.dim, base.coord_dtype, fastpath=True, starts=starts)

    @classmethod
    def from_ids(
        cls,
        ids: npt.ArrayLike,
        starts: Mapping[Any, npt.NDArray[np.int64]],
        *,
        dim: Hashable = READ_DIM,
    ) -> SZReadIndex:
        """An index over `ids` (positions: any integer array) with the given sample starts."""
        values = np.asarray(ids)
        dtype = values.dtype if values.dtype.kind in "iu" else np.dtype(object)
        index = pd.Index(values, dtype=dtype, name=dim)
        return cls(index, dim, dtype, fastpath=True, starts=starts)

    # --- what other operations make of it --------------------------------------------

    def _replace(
        self, index: pd.Index, dim: Hashable = None, coord_dtype: Any = None
    ) -> PandasIndex:
        # Reached by the positional operations PandasIndex implements (isel, roll,
        # __getitem__): they move reads but not samples.
        return DetachedReadIndex(
            index,
            self.dim if dim is None else dim,
            self.coord_dtype if coord_dtype is None else coord_dtype,
            fastpath=True,
        )

    def isel(self, indexers: Mapping[Any, Any]) -> PandasIndex | None:
        # docstring inherited
        indexer = indexers.get(self.dim)
        if self.starts and not (isinstance(indexer, slice) and indexer == slice(None)):
            _refuse_plain_isel(self)
        return super().isel(indexers)

    @classmethod
    def concat(  # type: ignore[override]
        cls,
        indexes: Sequence[PandasIndex],
        dim: Hashable,
        positions: Any = None,
    ) -> PandasIndex:
        return DetachedReadIndex.concat(indexes, dim, positions)  # type: ignore[arg-type]

    def join(self, other: PandasIndex, how: str = "inner") -> PandasIndex:  # type: ignore[override]
        return self._replace(self.index).join(other, how)

    def _copy(self, deep: bool = True, memo: dict[int, Any] | None = None) -> SZReadIndex:
        index = self.index.copy(deep=True) if deep else self.index
        starts = {k: v.copy() for k, v in self.starts.items()} if deep else self.starts
        return SZReadIndex(index, self.dim, self.coord_dtype, fastpath=True, starts=starts)

    def rename(
        self, name_dict: Mapping[Any, Hashable], dims_dict: Mapping[Any, Hashable]
    ) -> SZReadIndex:
        name = self.index.name
        if name not in name_dict and not any(d in dims_dict for d in (self.dim, *self.starts)):
            return self
        index = self.index.rename(name_dict.get(name, name))
        starts = {dims_dict.get(d, d): s for d, s in self.starts.items()}
        return SZReadIndex(
            index, dims_dict.get(self.dim, self.dim), self.coord_dtype, fastpath=True, starts=starts
        )

    def _repr_inline_(self, max_width: int) -> str:
        dims = ", ".join(str(d) for d in self.starts)
        return f"SZReadIndex (samples on {dims})" if dims else "SZReadIndex"

    def __repr__(self) -> str:
        return f"SZReadIndex({self.index!r}, sample_dims={list(self.starts)})"

    # --- selecting reads -------------------------------------------------------------

    def keep_sample_dims(self, dims: Iterable[Hashable]) -> SZReadIndex:
        """This index with the sample starts of `dims` only (those a Dataset still has)."""
        keep = set(dims)
        if keep >= set(self.starts):
            return self
        starts = {d: s for d, s in self.starts.items() if d in keep}
        return SZReadIndex(self.index, self.dim, self.coord_dtype, fastpath=True, starts=starts)

    def take(self, positions: Positions) -> SZReadIndex:
        """The index of the reads at `positions` (a slice or an array), samples re-based."""
        if isinstance(positions, int | np.integer):
            raise UsageError("take() keeps the read dimension: give a slice or an array")
        index = self.index[positions]
        starts = {d: starts_of(np.diff(s)[positions]) for d, s in self.starts.items()}
        return SZReadIndex(index, self.dim, self.coord_dtype, fastpath=True, starts=starts)

    def indexers(self, positions: Positions) -> dict[Hashable, Any]:
        """Indexers for ``Dataset.isel``: `positions` on ``read`` and the matching samples."""
        out: dict[Hashable, Any] = {self.dim: positions}
        for sample_dim, s in self.starts.items():
            out[sample_dim] = sample_indexer(s, positions)
        return out

    def _sel_indexers(self, positions: Positions) -> dict[Hashable, Any]:
        """`indexers`, the sample dimensions named by `SampleDim` keys: xarray gives an
        index no view of the object it selects in, so on a DataArray without them
        (``ds.offset.sel(read=i)``) its "Dimensions ... do not exist" says what to do."""
        return {
            SampleDim(d) if d in self.starts else d: v for d, v in self.indexers(positions).items()
        }

    def positions(
        self, label: Any, *, method: str | None = None, tolerance: Any = None
    ) -> Positions:
        """Read positions of a label query: one ID, a list/array of IDs, a slice or a mask.

        Raises `ReadNotFoundError` (a `KeyError`) naming the first ID not found.
        """
        name = self.index.name
        if isinstance(label, Variable | DataArray):
            if label.ndim and label.dims != (self.dim,):
                raise UsageError(
                    f"select reads with IDs along {self.dim!r} (a list or 1-D array); "
                    f"a label array on dims {label.dims} would leave ragged variables behind"
                )
            label = label.values
        if isinstance(label, slice):
            try:
                reads: slice = self.index.slice_indexer(label.start, label.stop, label.step)
                return reads
            except KeyError as exc:
                raise ReadNotFoundError(f"no read with ID {exc.args[0]!r} in {name!r}") from None
        values = np.asarray(label)
        if values.dtype == bool and values.ndim == 1:
            if len(values) != len(self.index):
                raise UsageError(f"a mask of {len(values)} values for {len(self.index)} reads")
            return np.flatnonzero(values).astype(np.int64)
        if values.ndim == 0:
            found = self._lookup(values.reshape(1), method, tolerance)
            return int(found[0]) if len(found) == 1 else found
        if values.ndim != 1:
            raise UsageError(f"select reads with a 1-D list of IDs, got shape {values.shape}")
        return self._lookup(values, method, tolerance)

    def _lookup(self, values: np.ndarray, method: str | None, tolerance: Any) -> np.ndarray:
        """Positions of `values`; a repeated ID in the index matches all its reads."""
        if values.dtype.kind not in "iu" and self.index.dtype.kind in "iu":
            values = values.astype(object)
        if self.index.is_unique:
            found = self.index.get_indexer(values, method=method, tolerance=tolerance)
            missing = np.flatnonzero(found < 0)
        else:
            found, missing = self.index.get_indexer_non_unique(values)
        if len(missing):
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            first = values[missing[0]]
            first = first.item() if isinstance(first, np.generic) else first
            raise ReadNotFoundError(f"no read with ID {first!r} in {self.index.name!r}{more}")
        return np.asarray(found, dtype=np.int64)

    def sel(
        self, labels: dict[Any, Any], method: str | None = None, tolerance: Any = None
    ) -> IndexSelResult:
        # docstring inherited
        ((name, label),) = labels.items()
        positions = self.positions(label, method=method, tolerance=tolerance)
        if isinstance(positions, int):
            return IndexSelResult(self._sel_indexers(positions))
        new = self.take(positions)
        return IndexSelResult(
            self._sel_indexers(positions),
            indexes={name: new},
            variables=new.create_variables(),
        )


_ISEL_FRAMES: Final = {"isel": "indexers", "_isel_fancy": "valid_indexers"}
"""xarray's Dataset methods that select by position, and their local holding the indexers."""


def _refuse_plain_isel(index: SZReadIndex) -> None:
    """Raise `UsageError` when a Dataset with ragged variables selects reads by position
    without their samples (a plain ``ds.isel(read=...)``).

    xarray gives an index only its own dimension's indexer, so the Dataset and its
    other indexers are found in the calling frames (xarray's ``Dataset.isel`` or
    ``Dataset._isel_fancy``, a few frames up). Where they are not found (another
    xarray, a DataArray) nothing is refused: the result then gets a
    `DetachedReadIndex`, which ``ds.sz`` refuses.
    """
    from xarray import Dataset

    frame: FrameType | None = sys._getframe(2)
    for _ in range(6):
        if frame is None:
            return
        name = _ISEL_FRAMES.get(frame.f_code.co_name)
        ds = frame.f_locals.get("self")
        if name is not None and isinstance(ds, Dataset):
            given = frame.f_locals.get(name)
            if not isinstance(given, Mapping):
                return
            left = [d for d in index.starts if d in ds.dims and d not in given]
            if left:
                ragged = [str(n) for n, v in ds.data_vars.items() if set(v.dims) & set(left)]
                raise UsageError(
                    f"ds.isel({index.dim}=...) would move the reads but not their samples "
                    f"({', '.join(ragged)} on {', '.join(map(str, left))}): use "
                    f"ds.sz.isel({index.dim}=...), or ds.sel({index.dim}=ids)"
                )
            return
        frame = frame.f_back
