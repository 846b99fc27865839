"""Coalescing byte ranges: many frames, few ``pread`` calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy.typing as npt

__all__ = ["MAX_GAP", "MAX_SPAN", "chunk_plan", "coalesce"]

MAX_GAP: Final = 1 << 16
"""Neighbouring byte ranges closer than this are fetched with one ``pread``."""
MAX_SPAN: Final = 1 << 26
"""A coalesced ``pread`` grows no larger than this (unless one range is larger)."""


def coalesce(
    starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64], max_gap: int = MAX_GAP
) -> Iterator[tuple[int, int, list[int]]]:
    """Group the ranges ``[starts[i], ends[i])`` into few reads.

    Yields ``(lo, hi, members)``: one read of ``[lo, hi)`` covers the ranges
    ``members`` (positions into `starts`). Ranges may come in any order, repeat
    or overlap; gaps up to `max_gap` are read through, and a read grows past
    `MAX_SPAN` only when a single range is that large.

    Examples
    --------
    >>> import numpy as np
    >>> list(coalesce(np.array([500, 0, 200_000]), np.array([900, 100, 200_010])))
    [(0, 900, [1, 0]), (200000, 200010, [2])]
    """
    n = len(starts)
    if n == 0:
        return
    order = np.argsort(starts, kind="stable")
    s, e = starts[order].tolist(), ends[order].tolist()
    reach = np.maximum.accumulate(ends[order])
    breaks = (np.flatnonzero(starts[order][1:] > reach[:-1] + max_gap) + 1).tolist()
    position = order.tolist()
    for a, b in zip([0, *breaks], [*breaks, n], strict=True):
        for lo_k, hi_k in _pieces(s, e, a, b):
            yield s[lo_k], max(e[lo_k:hi_k]), position[lo_k:hi_k]


def _pieces(s: list[int], e: list[int], a: int, b: int) -> Iterator[tuple[int, int]]:
    """Split the run ``[a, b)`` of sorted, nearby ranges so no piece spans over MAX_SPAN."""
    if max(e[a:b]) - s[a] <= MAX_SPAN:
        yield a, b
        return
    start, top = a, e[a]
    for k in range(a + 1, b):
        if e[k] <= top:
            continue  # inside what this piece reads already
        if e[k] - s[start] > MAX_SPAN:
            yield start, k
            start = k
        top = e[k]
    yield start, b


def chunk_plan(read_bytes: npt.NDArray[np.int64], chunk_bytes: int) -> npt.NDArray[np.int64]:
    """Read boundaries of chunks holding about `chunk_bytes` each (``[0, ..., n_reads]``).

    A read larger than `chunk_bytes` gets a chunk of its own; reads are never split.

    Examples
    --------
    >>> import numpy as np
    >>> chunk_plan(np.array([4, 4, 4, 10, 1, 1]), 8).tolist()
    [0, 2, 3, 4, 6]
    """
    n = len(read_bytes)
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    end = np.cumsum(read_bytes)
    bounds = [0]
    while bounds[-1] < n:
        start = bounds[-1]
        before = int(end[start - 1]) if start else 0
        stop = int(np.searchsorted(end, before + chunk_bytes, side="right"))
        bounds.append(max(stop, start + 1))
    return np.asarray(bounds, dtype=np.int64)
