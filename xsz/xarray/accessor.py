"""The ``ds.sz`` accessor: reads as reads, on any Dataset in `xsz.mapping`'s layout.

Works on what ``xr.open_dataset(path, engine="sz")`` returns and on look-alikes
(``xr.open_zarr(SZStore(path))``, a Dataset built by hand): ragged variables
are found through the ``sample_dimension`` attribute of their counts.

=============================  =============================================
``ds.sz.isel(read=[3, 0])``    select reads by position, samples included
``ds.sz.sel(read=ids)``        the same by ID (what ``ds.sel`` does here)
``ds.sz["Raw"][i]``            one read's values (numpy); a slice -> list
``ds.sz.read(read_id)``        one read as a small loaded Dataset
``ds.sz.to_list("Raw")``       every read's values, a list of numpy arrays
``ds.sz.to_awkward("Raw")``    the same as an awkward array (no copy)
``ds.sz.to_pA("Raw")``         the signal in picoamperes (see `calibration`)
``ds.sz.map_reads(f, "Raw")``  ``f`` of each read, a ``(read,)`` DataArray
``ds.sz.plot(ids)``            squiggles with moves/bases (`xsz.xarray._plot`)
``ds.sz.to_sz(path)``          write the Dataset as an SZ store
=============================  =============================================

``import xsz`` registers the accessor (at once when xarray is loaded, else as
soon as xarray is imported: see `xsz.xarray._register`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import xarray as xr

from xsz.errors import UsageError
from xsz.mapping import CALIBRATIONS, READ_DIM, SAMPLE_DIMENSION
from xsz.xarray._blocks import apply_reads, block_calibration, calibrate, from_blocks
from xsz.xarray._ragged import as_reads, sample_indexer, starts_of
from xsz.xarray.indexes import DetachedReadIndex, SZReadIndex

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Hashable, Iterator


__all__ = ["CALIBRATIONS", "Ragged", "ReadValues", "SZAccessor", "as_reads", "ragged_variables"]


@dataclass(frozen=True)
class Ragged:
    """A ragged variable: its values on `dim`, its per-read counts in `count`."""

    name: Hashable
    dim: Hashable
    count: Hashable


def ragged_variables(ds: xr.Dataset) -> dict[Hashable, Ragged]:
    """The ragged variables of `ds`, by name (found through ``sample_dimension``)."""
    out: dict[Hashable, Ragged] = {}
    for count_name, var in ds.variables.items():
        dim = var.attrs.get(SAMPLE_DIMENSION)
        if dim is None or dim not in ds.dims:
            continue
        for name, data in ds.variables.items():
            if data.dims == (dim,) and name != dim:
                out[name] = Ragged(name, dim, count_name)
    return out


class SZAccessor:
    """Reads of an SZ-shaped Dataset (``ds.sz``); see the module docstring."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds
        self._built: tuple[tuple[Any, ...], SZReadIndex] | None = None

    # --- structure -------------------------------------------------------------------

    @property
    def ragged(self) -> dict[Hashable, Ragged]:
        """The ragged variables, by name."""
        return ragged_variables(self._ds)

    def _ragged(self, name: Hashable) -> Ragged:
        found = self.ragged.get(name)
        if found is None:
            raise UsageError(
                f"{name!r} is not a ragged variable of this Dataset "
                f"(ragged: {list(self.ragged)}; a count variable with attrs "
                f"{{'{SAMPLE_DIMENSION}': ...}} names each one's sample dimension)"
            )
        return found

    @property
    def index(self) -> SZReadIndex:
        """The read index, with sample starts for every ragged variable present.

        The Dataset's own `SZReadIndex` when it has one, else one made from the
        count variables (loaded). Raises `UsageError` when the ragged variables
        do not match the reads (after ``roll``, alignment or ``concat`` along ``read``).
        """
        ds = self._ds
        if READ_DIM not in ds.dims:
            raise UsageError(f"this Dataset has no {READ_DIM!r} dimension (one read was selected)")
        existing = ds.xindexes.get(READ_DIM)
        ragged = self.ragged.values()
        if isinstance(existing, SZReadIndex) and all(
            r.dim in existing.starts and existing.starts[r.dim][-1] == ds.sizes[r.dim]
            for r in ragged
        ):
            return existing
        if isinstance(existing, DetachedReadIndex):
            raise UsageError(
                "the reads of this Dataset were selected with isel (or moved by roll, align, "
                "concat), which leaves ragged variables whole: select reads with "
                "ds.sel(read=...) or ds.sz.isel(read=...) instead"
            )
        key = tuple(ds.variables[v] for r in ragged for v in (r.count, r.name))
        if (
            self._built is not None
            and len(key) == len(self._built[0])
            and all(a is b for a, b in zip(key, self._built[0], strict=True))
        ):
            return self._built[1]
        starts = {}
        for r in ragged:
            s = starts_of(ds[r.count].values)
            if s[-1] != ds.sizes[r.dim]:
                raise UsageError(
                    f"{r.count!r} adds up to {s[-1]} samples but {r.name!r} has "
                    f"{ds.sizes[r.dim]}: the ragged variables do not match the reads"
                )
            starts[r.dim] = s
        ids = ds[READ_DIM].values if READ_DIM in ds.coords else np.arange(ds.sizes[READ_DIM])
        index = SZReadIndex.from_ids(ids, starts, dim=READ_DIM)
        self._built = (key, index)  # ReadValues asks once per batch of reads
        return index

    # --- selecting reads -------------------------------------------------------------

    def isel(self, indexers: dict[str, Any] | None = None, **kwargs: Any) -> xr.Dataset:
        """Select reads by position (int, slice, list/array, mask), samples included."""
        positions = _read_key({**(indexers or {}), **kwargs})
        index = self.index
        n = len(index.index)
        if isinstance(positions, slice):
            pass
        elif np.ndim(positions) == 0:
            positions = int(_in_range(int(positions), n))
        elif np.asarray(positions).dtype == bool:
            positions = index.positions(np.asarray(positions))
        else:
            positions = _in_range(positions, n)
        return self._select(index, positions)

    def sel(self, indexers: dict[str, Any] | None = None, **kwargs: Any) -> xr.Dataset:
        """Select reads by ID (one, a list, a slice), samples included.

        Raises `xsz.errors.ReadNotFoundError` (a `KeyError`) naming a missing ID.
        """
        index = self.index
        return self._select(index, index.positions(_read_key({**(indexers or {}), **kwargs})))

    def _select(self, index: SZReadIndex, positions: Any) -> xr.Dataset:
        index = index.keep_sample_dims(self._ds.dims)
        out = self._ds.isel(index.indexers(positions))
        if isinstance(positions, int) or READ_DIM not in out.coords:
            return out
        new = index.take(positions)
        coords = xr.Coordinates(
            new.create_variables({READ_DIM: out[READ_DIM].variable}), indexes={READ_DIM: new}
        )
        return out.assign_coords(coords)

    # --- values of reads -------------------------------------------------------------

    def __getitem__(self, name: Hashable) -> ReadValues:
        """Per-read access to a variable: ``ds.sz["Raw"][i]`` is read i's samples."""
        if name not in self._ds.variables:
            raise KeyError(f"no variable {name!r}; the Dataset has {list(self._ds.variables)}")
        return ReadValues(self, name)

    def read(self, read_id: Any) -> xr.Dataset:
        """One read (by ID) as a small Dataset, loaded."""
        return self.sel(read=read_id).load()

    def to_list(self, name: Hashable = "Raw") -> list[np.ndarray]:
        """Every read's values of a ragged variable (loads it once; views into one array)."""
        r = self._ragged(name)
        values = self._ds[name].values
        return np.split(values, self.index.starts[r.dim][1:-1])

    def to_awkward(self, name: Hashable = "Raw") -> Any:
        """A ragged variable as an awkward array, ``n_reads * var * dtype`` (awkward needed)."""
        try:
            import awkward as ak
        except ImportError as exc:  # pragma: no cover - awkward is a test dependency
            raise ImportError("to_awkward needs awkward: pip install 'xsz[awkward]'") from exc
        r = self._ragged(name)
        return ak.unflatten(self._ds[name].values, np.diff(self.index.starts[r.dim]))

    # --- calibration -----------------------------------------------------------------

    def calibration(self) -> tuple[xr.DataArray, xr.DataArray]:
        """Per-read ``(offset, scale)`` with ``pA = (raw + offset) * scale``.

        The first rule of `CALIBRATIONS` whose variables the Dataset has wins:
        pysz's ``Offset``/``Raw_unit``; ``offset``/``scale``;
        ``offset``/``range``/``digitisation`` (scale = range / digitisation);
        ``calibration_offset``/``calibration_scale``.
        """
        ds = self._ds
        per_read = (READ_DIM,) if READ_DIM in ds.dims else ()
        for names, _ in CALIBRATIONS:
            if all(n in ds.variables and ds[n].dims == per_read for n in names):
                values = [ds[n].astype(np.float64) for n in names]
                scale = values[1] / values[2] if len(values) == 3 else values[1]
                return values[0], scale
        rules = "; ".join(text for _, text in CALIBRATIONS)
        raise UsageError(
            f"no calibration in this Dataset: it needs per-read variables for one of: {rules}"
        )

    def to_pA(self, name: Hashable = "Raw") -> xr.DataArray:
        """A ragged signal in picoamperes (float32), lazy when the Dataset is chunked."""
        r = self._ragged(name)
        offset, scale = (v.values for v in self.calibration())
        starts = self.index.starts[r.dim]
        data = self._ds[name].data
        if _is_dask(data):
            bounds = np.cumsum((0, *data.chunks[0]))
            values: Any = from_blocks(
                [
                    (calibrate, (block, *block_calibration(starts, offset, scale, a, b)), b - a)
                    for block, a, b in zip(
                        data.to_delayed().ravel(), bounds[:-1], bounds[1:], strict=True
                    )
                ],
                np.float32,
            )
        else:
            values = calibrate(
                np.asarray(data), *block_calibration(starts, offset, scale, 0, len(data))
            )
        attrs = {"units": "pA", "long_name": f"{name} in picoamperes"}
        return xr.DataArray(values, dims=(r.dim,), name=f"{name}_pA", attrs=attrs)

    # --- computing per read ----------------------------------------------------------

    def map_reads(
        self, func: Callable[[np.ndarray], Any], name: Hashable = "Raw", *, dtype: Any = np.float64
    ) -> xr.DataArray:
        """``func(values of read i)`` for every read, as a ``(read,)`` DataArray.

        On a chunked Dataset this is lazy, one dask task per chunk (chunks are
        moved to read boundaries first when they are not on them). The result
        is named ``<func>_<name>`` (``mean_Raw``).
        """
        r = self._ragged(name)
        starts = self.index.starts[r.dim]
        n = len(starts) - 1
        data = self._ds[name].data
        if _is_dask(data):
            bounds = np.cumsum((0, *data.chunks[0]))
            # each chunk bound moved down to the start of the read holding it
            edges = starts[np.searchsorted(starts, bounds, side="right") - 1]
            if not np.array_equal(edges, bounds):  # chunks split reads: rechunk on read starts
                bounds = np.unique(edges)
                data = data.rechunk((tuple(np.diff(bounds).tolist()),))
            rows = np.searchsorted(starts[:-1], bounds, side="left")  # empty reads: later chunk
            rows[-1] = n
            values: Any = from_blocks(
                [
                    (apply_reads, (block, np.diff(starts[a : b + 1]), func, dtype), b - a)
                    for block, a, b in zip(
                        data.to_delayed().ravel(), rows[:-1], rows[1:], strict=True
                    )
                ],
                dtype,
            )
        else:
            values = apply_reads(np.asarray(data), np.diff(starts), func, dtype)
        coords = {READ_DIM: self._ds[READ_DIM]} if READ_DIM in self._ds.coords else None
        label = f"{getattr(func, '__name__', 'func')}_{name}"
        return xr.DataArray(values, dims=(READ_DIM,), coords=coords, name=label)

    # --- output ----------------------------------------------------------------------

    def plot(self, reads: Any = None, **kwargs: Any) -> Any:
        """Plot reads' signals with their moves/bases; see `xsz.xarray._plot.plot_reads`."""
        from xsz.xarray._plot import plot_reads

        return plot_reads(self, reads, **kwargs)

    def to_sz(self, path: str | os.PathLike[str], **kwargs: Any) -> None:
        """Write the Dataset as an SZ store; see `xsz.xarray._to_sz.write_sz`."""
        from xsz.xarray._to_sz import write_sz

        write_sz(self._ds, path, **kwargs)


class ReadValues(Sequence[Any]):
    """``ds.sz[name]``: one variable read by read (int -> values; slice/list -> list)."""

    def __init__(self, accessor: SZAccessor, name: Hashable) -> None:
        self._sz = accessor
        self._name = name

    def __len__(self) -> int:
        ds = self._sz._ds
        return ds.sizes[READ_DIM] if READ_DIM in ds.dims else 1

    @overload
    def __getitem__(self, key: int) -> Any: ...
    @overload
    def __getitem__(self, key: slice | Sequence[int]) -> list[Any]: ...

    def __getitem__(self, key: Any) -> Any:
        ds, name = self._sz._ds, self._name
        if READ_DIM not in ds.dims:  # one read selected: the variable is that read
            if key not in (0, -1):
                raise IndexError(f"read {key} of a Dataset holding one read")
            return ds[name].values
        ragged = self._sz.ragged.get(name)
        if ragged is None:  # a per-read variable
            values = ds[name].isel({READ_DIM: key}).values
            return values.item() if np.ndim(values) == 0 and values.dtype == object else values
        starts = self._sz.index.starts[ragged.dim]
        n = len(starts) - 1
        if np.ndim(key) == 0 and not isinstance(key, slice):
            i = int(_in_range(int(key), n))
            return ds[name].isel({ragged.dim: slice(int(starts[i]), int(starts[i + 1]))}).values
        rows = np.arange(n)[key]
        lengths = starts[rows + 1] - starts[rows]
        values = ds[name].isel({ragged.dim: sample_indexer(starts, rows)}).values
        return np.split(values, np.cumsum(lengths)[:-1])

    def __iter__(self) -> Iterator[Any]:
        step = 1024
        for start in range(0, len(self), step):
            yield from self[slice(start, min(start + step, len(self)))]


def _in_range(positions: Any, n: int) -> np.ndarray:
    """Read positions (an int or ints) checked against `n` reads; negative ones count from the end."""
    arr = np.asarray(positions)
    if arr.size and (arr.min() < -n or arr.max() >= n):
        bad = arr[(arr < -n) | (arr >= n)].flat[0]
        raise IndexError(f"read position {bad} is out of range for {n} reads")
    return np.where(arr < 0, arr + n, arr).astype(np.int64)


def _read_key(indexers: dict[str, Any]) -> Any:
    if set(indexers) != {READ_DIM}:
        raise UsageError(f"select reads with {READ_DIM}=...; got {sorted(map(str, indexers))}")
    return indexers[READ_DIM]


def _is_dask(data: Any) -> bool:
    return type(data).__module__.startswith("dask.")
