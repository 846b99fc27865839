"""`SZCodecPipeline`: zarr's fused codec pipeline, with svb-zstd chunks read in bulk.

zarr's `FusedCodecPipeline` reads a batch chunk by chunk: a store ``get`` a
chunk, the codec decoding each into a new array, that array copied into the
result. An array whose only codec is svb-zstd and whose values are numbers is
read here instead as SZReader reads: the batch's chunks fetched together (a
store with ``get_blocks_sync``, such as `SZStore`, fetches the frames of
neighbouring reads with one coalesced pread; any other store with synchronous
I/O gives its chunks one ``get_sync`` each), then decoded with one
`decode_blocks_into` call per part (the C kernels, without the GIL, on a
thread a core): a whole chunk that is a contiguous run of a 1-D result is
decoded straight into it, any other chunk into a scratch array and taken from
there with the same numpy indexing zarr applies.

Everything else goes to `FusedCodecPipeline` unchanged: writing, arrays with
other codecs (or with array-array or bytes-bytes codecs beside svb-zstd),
text, stores without synchronous I/O, other output buffers. When a frame does
not decode (or the bulk fetch fails) the whole batch is read again by zarr's
own path, which raises the error that names the chunk, as before.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from zarr.abc.store import SupportsSyncStore
from zarr.core.buffer import cpu
from zarr.core.chunk_utils import fill_value_or_default
from zarr.core.codec_pipeline import FusedCodecPipeline
from zarr.core.config import config
from zarr.registry import register_pipeline
from zarr.storage._common import StorePath

from xsz.codec._svb import STR, decode_blocks_into, normalize_dtype
from xsz.errors import XszError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import numpy.typing as npt
    from zarr.abc.codec import GetResult
    from zarr.abc.store import ByteGetter
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import NDBuffer
    from zarr.core.indexing import SelectorTuple

    Item = tuple[ByteGetter, ArraySpec, SelectorTuple, SelectorTuple, bool]

__all__ = ["PARTS_PER_WORKER", "SZCodecPipeline"]

PARTS_PER_WORKER: Final = 2
"""A batch is split into this many parts a worker thread (about equal values each)."""

_CODEC_NAME: Final = "svb-zstd"  # (xsz.codec.CODEC_ID; the codec's module imports this one's)
_PRESENT: Final[GetResult] = {"status": "present"}
_MISSING: Final[GetResult] = {"status": "missing"}

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _max_workers() -> int:
    """zarr's ``codec_pipeline.max_workers`` (default: a thread a core)."""
    default = os.cpu_count() or 1
    try:
        return max(1, int(config.get("codec_pipeline.max_workers", default=None) or default))
    except (TypeError, ValueError):
        return default


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < workers:
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="xsz-zarr")
        return _pool


def _reset_after_fork() -> None:  # pragma: no cover - runs in a forked child
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _sync_io(store: object) -> bool:
    """Whether `store` serves zarr's synchronous I/O now (zarr's own test, inlined:
    a wrapper store may have the methods without a store under it that has them)."""
    return isinstance(store, SupportsSyncStore) and getattr(store, "_supports_sync_io", True)


class _Fallback(Exception):
    """The bulk path cannot take this batch: zarr's own path reads it."""


def _only(selection: object) -> object:
    """The selection of the one axis of a 1-tuple, else `selection` itself."""
    if isinstance(selection, tuple) and len(selection) == 1:
        return selection[0]
    return selection


def _whole(selection: object, n: int) -> bool:
    """Whether `selection` (one axis) is ``0:n`` with step 1."""
    return (
        isinstance(selection, slice)
        and selection.start == 0
        and selection.stop == n
        and selection.step in (1, None)
    )


@dataclass(frozen=True)
class SZCodecPipeline(FusedCodecPipeline):
    """zarr's `FusedCodecPipeline`, reading numeric svb-zstd arrays in bulk.

    Select it with ``zarr.config.set({"codec_pipeline.path":
    "xsz.codec.SZCodecPipeline"})`` once ``xsz.codec.SZCodecPipeline`` is
    imported (zarr finds it by that name); `apply_zarr_settings` does so in
    place of zarr's default pipeline. Values, missing chunks and errors are those of
    zarr's pipelines.
    """

    def _bulk_dtype(self, batch: list[Item], out: NDBuffer) -> np.dtype[Any] | None:
        """The dtype of a batch the bulk path takes, else ``None``."""
        if (
            self.array_array_codecs
            or self.bytes_bytes_codecs
            or self.array_bytes_codec.to_dict().get("name") != _CODEC_NAME
            or type(out) is not cpu.NDBuffer
        ):
            return None
        first_bg, first_spec = batch[0][0], batch[0][1]
        if not isinstance(first_bg, StorePath) or not _sync_io(first_bg.store):
            return None
        if first_spec.prototype.buffer is not cpu.Buffer:
            return None
        native = first_spec.dtype.to_native_dtype()
        if not isinstance(native, np.dtype) or native.kind not in "iuf" or not native.isnative:
            return None
        if normalize_dtype(native) == STR or out.dtype != native:
            return None
        return native

    async def read(
        self,
        batch_info: Iterable[Item],
        out: NDBuffer,
        drop_axes: tuple[int, ...] = (),
    ) -> tuple[GetResult, ...]:
        # docstring inherited
        batch = list(batch_info)
        if not batch:
            return ()
        dtype = self._bulk_dtype(batch, out)
        if dtype is None:
            return await super().read(batch, out, drop_axes)
        return await asyncio.to_thread(self._read_bulk, batch, out, drop_axes, dtype)

    def _read_bulk(
        self, batch: list[Item], out: NDBuffer, drop_axes: tuple[int, ...], dtype: np.dtype[Any]
    ) -> tuple[GetResult, ...]:
        """Read `batch` in bulk; zarr's path when a frame does not decode."""
        workers = _max_workers()
        try:
            return self._read_parts(batch, out, drop_axes, dtype, workers)
        except (_Fallback, XszError, OSError, ValueError):
            return self.read_sync(batch, out, drop_axes, max_workers=workers)

    def _read_parts(
        self,
        batch: list[Item],
        out: NDBuffer,
        drop_axes: tuple[int, ...],
        dtype: np.dtype[Any],
        workers: int,
    ) -> tuple[GetResult, ...]:
        target = out.as_numpy_array()
        if not target.flags.writeable:
            raise _Fallback
        n = len(batch)
        counts = np.fromiter((math.prod(item[1].shape) for item in batch), np.int64, n)
        # a chunk decodes straight into the result when it is a whole 1-D chunk
        # that fills a contiguous run of a 1-D result: positions[i] >= 0
        positions = np.full(n, -1, dtype=np.int64)
        if target.ndim == 1 and target.flags.c_contiguous and not drop_axes:
            for i, (_, spec, chunk_sel, out_sel, _) in enumerate(batch):
                c = _only(chunk_sel)
                o = _only(out_sel)
                if (
                    len(spec.shape) == 1
                    and _whole(c, spec.shape[0])
                    and isinstance(o, slice)
                    and isinstance(o.start, int)
                    and isinstance(o.stop, int)
                    and o.step in (1, None)
                    and o.stop - o.start == counts[i]
                ):
                    positions[i] = o.start
        n_parts = min(n, workers * PARTS_PER_WORKER) if workers > 1 else 1
        if n_parts <= 1:
            return tuple(self._read_part(batch, 0, n, counts, positions, target, drop_axes, dtype))
        weight = np.cumsum(counts)
        cuts = np.searchsorted(weight, np.linspace(0, weight[-1], n_parts + 1)[1:-1], "right")
        bounds = sorted({0, n, *cuts.tolist()})
        spans = [(a, b) for a, b in itertools.pairwise(bounds) if b > a]
        pool = _executor(workers)
        results: list[GetResult] = []
        for part in pool.map(
            lambda s: self._read_part(
                batch, s[0], s[1], counts, positions, target, drop_axes, dtype
            ),
            spans,
        ):
            results.extend(part)
        return tuple(results)

    def _read_part(
        self,
        batch: list[Item],
        lo: int,
        hi: int,
        counts: npt.NDArray[np.int64],
        positions: npt.NDArray[np.int64],
        target: npt.NDArray[Any],
        drop_axes: tuple[int, ...],
        dtype: np.dtype[Any],
    ) -> list[GetResult]:
        """Fetch and decode chunks ``lo:hi`` of `batch` into `target`."""
        items = batch[lo:hi]
        blocks, table = _fetch(items)
        counts, positions = counts[lo:hi], positions[lo:hi].copy()
        present = table[:, 0] >= 0
        direct = present & (positions >= 0)
        scattered = present & (positions < 0)
        scratch = np.empty(int(counts[scattered].sum()), dtype=dtype)
        spots = np.cumsum(counts) - counts  # (of the scattered chunks only, below)
        spots[scattered] = np.cumsum(counts[scattered]) - counts[scattered]
        for mask, out, where in ((direct, target, positions), (scattered, scratch, spots)):
            if mask.any():
                _decode(blocks, table[mask], counts[mask], where[mask], out)
        results: list[GetResult] = []
        for k, (_, spec, chunk_sel, out_sel, _) in enumerate(items):
            if direct[k]:
                results.append(_PRESENT)
                continue
            if not present[k]:
                target[out_sel] = fill_value_or_default(spec)  # as zarr's scatter_chunk
                results.append(_MISSING)
                continue
            spot = int(spots[k])
            chunk = scratch[spot : spot + int(counts[k])].reshape(spec.shape)
            selected = np.asanyarray(chunk[chunk_sel])
            if drop_axes:
                selected = np.squeeze(selected, axis=drop_axes)
            target[out_sel] = selected
            results.append(_PRESENT)
        return results


def _fetch(items: Sequence[Item]) -> tuple[list[Any], npt.NDArray[np.int64]]:
    """The stored bytes of `items`' chunks: ``(blocks, table)`` as
    ``SZStore.get_blocks_sync`` gives them (row ``i``: block, start, size;
    block -1 where the chunk is missing)."""
    store = items[0][0].store  # type: ignore[attr-defined]
    keys = [item[0].path for item in items]  # type: ignore[attr-defined]
    bulk = getattr(store, "get_blocks_sync", None)
    if bulk is not None and all(item[0].store is store for item in items):  # type: ignore[attr-defined]
        blocks, table = bulk(keys)
        return list(blocks), np.asarray(table, dtype=np.int64).reshape(-1, 3)
    table = np.zeros((len(items), 3), dtype=np.int64)
    table[:, 0] = -1
    found: list[Any] = []
    for i, (getter, spec, *_) in enumerate(items):
        value = getter.get_sync(prototype=spec.prototype)  # type: ignore[attr-defined]
        if value is not None:
            data = value.as_numpy_array()
            table[i] = len(found), 0, len(data)
            found.append(data)
    return found, table


def _decode(
    blocks: list[Any],
    table: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
    positions: npt.NDArray[np.int64],
    out: npt.NDArray[Any],
) -> None:
    """Decode the frames of `table` (rows: block, start, size) into `out`, one
    `decode_blocks_into` call; `_Fallback` when one does not decode."""
    order = np.argsort(table[:, 0], kind="stable")
    table, counts, positions = table[order], counts[order], positions[order]
    used, first = np.unique(table[:, 0], return_index=True)
    ends = [*first[1:].tolist(), len(table)]
    grouped = [
        (blocks[b], table[a:z, 1], table[a:z, 2])
        for b, a, z in zip(used.tolist(), first.tolist(), ends, strict=True)
    ]
    if decode_blocks_into(grouped, counts, positions, out) >= 0:
        raise _Fallback


SZCodecPipeline.__module__ = "xsz.codec"  # its public name, and zarr's registry key
register_pipeline(SZCodecPipeline)
