"""Ragged arrays in numpy: where each read's values start, and ranges of them.

A ragged variable holds every read's values back to back on one dimension
(``Raw_sample``), with the number of each read's values on ``read``
(``Raw_count``: the CF contiguous ragged array of `xsz.mapping`). These helpers
turn read positions into value positions and back, without Python loops; the
xarray face's index, lazy arrays, accessor and writer all use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from xsz.mapping import READ_DIM

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["Positions", "as_reads", "pieces", "ragged_arange", "sample_indexer", "starts_of"]

Positions = int | slice | np.ndarray
"""Read positions: one read, a slice of reads, or an int64 array of reads."""


def starts_of(counts: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Where each read's samples start, plus the total: ``[0, c0, c0 + c1, ...]``.

    Examples
    --------
    >>> starts_of([3, 0, 2]).tolist()
    [0, 3, 3, 5]
    """
    counts = np.asarray(counts, dtype=np.int64).reshape(-1)
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def ragged_arange(lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``concatenate([arange(l, h) for l, h in zip(lo, hi)])``, without a Python loop.

    Examples
    --------
    >>> ragged_arange(np.array([5, 0, 9]), np.array([7, 3, 9])).tolist()
    [5, 6, 0, 1, 2]
    """
    keep = hi > lo
    lo, hi = lo[keep], hi[keep]
    lengths = hi - lo
    out = np.ones(int(lengths.sum()), dtype=np.int64)
    if len(out):  # steps of 1, a jump at the head of each range, then one cumsum
        heads = np.cumsum(lengths) - lengths
        out[0] = lo[0]
        out[heads[1:]] = lo[1:] - hi[:-1] + 1
        np.cumsum(out, out=out)
    return out


def sample_indexer(starts: npt.NDArray[np.int64], positions: Positions) -> slice | np.ndarray:
    """The sample-dimension indexer that goes with read `positions`.

    A slice when the reads are neighbours in order (one read, a slice of step
    1, consecutive positions), else an int64 array of sample positions.

    Examples
    --------
    >>> s = starts_of([3, 0, 2, 4])
    >>> sample_indexer(s, 2), sample_indexer(s, slice(1, 3))
    (slice(3, 5, None), slice(3, 5, None))
    >>> sample_indexer(s, np.array([3, 0])).tolist()
    [5, 6, 7, 8, 0, 1, 2]
    """
    n = len(starts) - 1
    if isinstance(positions, int | np.integer):
        p = int(positions)
        return slice(int(starts[p]), int(starts[p + 1]))
    if isinstance(positions, slice):
        first, stop, step = positions.indices(n)
        if step == 1:
            stop = max(stop, first)
            return slice(int(starts[first]), int(starts[stop]))
        positions = np.arange(first, stop, step, dtype=np.int64)
    rows = np.asarray(positions, dtype=np.int64)
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    if rows.size == 1 or bool(np.all(rows[1:] == rows[:-1] + 1)):
        return slice(int(starts[rows[0]]), int(starts[rows[-1] + 1]))
    return ragged_arange(starts[rows], starts[rows + 1])


def pieces(
    starts: npt.NDArray[np.int64], lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Split sample ranges ``[lo, hi)`` at read boundaries.

    Returns ``(rows, first, last)``: each piece is ``read[rows][first:last]``,
    in the order of the ranges.

    Examples
    --------
    >>> s = np.array([0, 3, 3, 5])  # reads of 3, 0 and 2 samples
    >>> [a.tolist() for a in pieces(s, np.array([1]), np.array([5]))]
    [[0, 2], [1, 0], [3, 2]]
    """
    keep = hi > lo
    lo, hi = lo[keep], hi[keep]
    n = len(starts) - 1
    first_row = np.searchsorted(starts, lo, side="right") - 1
    last_row = np.searchsorted(starts, hi - 1, side="right") - 1
    per_range = last_row - first_row + 1
    rows = np.repeat(first_row - np.cumsum(per_range) + per_range, per_range) + np.arange(
        int(per_range.sum()), dtype=np.int64
    )
    rows = np.minimum(rows, n - 1)
    range_lo, range_hi = np.repeat(lo, per_range), np.repeat(hi, per_range)
    first = np.maximum(range_lo, starts[rows]) - starts[rows]
    last = np.minimum(range_hi, starts[rows + 1]) - starts[rows]
    nonempty = last > first
    return rows[nonempty], first[nonempty], last[nonempty]


def as_reads(ds: xr.Dataset) -> xr.Dataset:
    """`ds` with a ``read`` dimension: a Dataset of one selected read becomes one of one read."""
    if READ_DIM in ds.dims:
        return ds

    def lift(var: xr.Variable) -> xr.Variable:
        return var.set_dims((READ_DIM,)) if var.ndim == 0 else var  # type: ignore[no-untyped-call]

    return xr.Dataset(
        {k: lift(v.variable) for k, v in ds.data_vars.items()},
        coords={k: lift(v.variable) for k, v in ds.coords.items()},
        attrs=ds.attrs,
    )
