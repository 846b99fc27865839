"""Per-read computing on ragged arrays, block by block: what ``ds.sz.to_pA`` and
``ds.sz.map_reads`` run, on numpy arrays or as one dask task per chunk."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from xsz.xarray._ragged import pieces

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

__all__ = ["apply_reads", "block_calibration", "calibrate", "from_blocks"]


def from_blocks(
    tasks: list[tuple[Callable[..., np.ndarray], tuple[Any, ...], int]], dtype: Any
) -> Any:
    """A 1-D dask array of one task per block: ``(function, arguments, length)``."""
    import dask.array as da
    from dask.delayed import delayed

    from_delayed: Callable[..., Any] = da.from_delayed
    blocks = [from_delayed(delayed(fn)(*args), shape=(n,), dtype=dtype) for fn, args, n in tasks]
    concatenate: Callable[..., Any] = da.concatenate
    return concatenate(blocks) if blocks else da.zeros(0, dtype=dtype)


def block_calibration(
    starts: npt.NDArray[np.int64], offset: np.ndarray, scale: np.ndarray, a: int, b: int
) -> tuple[np.ndarray, np.ndarray, npt.NDArray[np.int64]]:
    rows, first, last = pieces(starts, np.array([a]), np.array([b]))
    return offset[rows], scale[rows], last - first


def calibrate(
    values: np.ndarray, offset: np.ndarray, scale: np.ndarray, lengths: npt.NDArray[np.int64]
) -> np.ndarray:
    """``(values + offset) * scale`` with per-read offset/scale repeated over `lengths`.

    Computed in float64 (an offset near ``-values`` must not lose its digits), stored as float32.
    """
    out = np.asarray(values, dtype=np.float64) + np.repeat(offset, lengths)
    out *= np.repeat(scale, lengths)
    return np.asarray(out, dtype=np.float32)


def apply_reads(
    values: np.ndarray, counts: np.ndarray, func: Callable[[np.ndarray], Any], dtype: Any
) -> np.ndarray:
    parts = np.split(np.asarray(values), np.cumsum(counts)[:-1]) if len(counts) else []
    return np.array([func(p) for p in parts], dtype=dtype).reshape(len(counts))
