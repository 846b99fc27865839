"""The zarr settings SZStore applies, once, when a store is created.

=============================  ================  ==========================================
zarr setting                   value             why
=============================  ================  ==========================================
``array.rectilinear_chunks``   ``True``          zarr reads and writes no array with a
                                                 rectilinear chunk grid (every ragged array
                                                 of an SZStore) while the flag is off
``codec_pipeline.path``        `FUSED_PIPELINE`  one chunk per read means many small
                                                 chunks; the fused pipeline fetches and
                                                 decodes them synchronously in a thread pool
                                                 instead of scheduling coroutines per chunk
                                                 (measured: BENCHMARKS.md, issue 3)
=============================  ================  ==========================================

Both are process-wide (zarr has no per-store settings). The pipeline is
switched only while it is still zarr's default, and only once per process, so
a pipeline you set yourself, before or after, stays. The fused pipeline falls
back to zarr's batched behaviour for stores without synchronous I/O. An
unpickled store (a dask worker's copy) applies the settings in its process.
"""

from __future__ import annotations

import threading
from typing import Final

import zarr

__all__ = ["BATCHED_PIPELINE", "FUSED_PIPELINE", "apply_zarr_settings"]

FUSED_PIPELINE: Final = "zarr.core.codec_pipeline.FusedCodecPipeline"
BATCHED_PIPELINE: Final = "zarr.core.codec_pipeline.BatchedCodecPipeline"
"""zarr 3.4's default codec pipeline."""

_lock = threading.Lock()
_pipeline_done = False


def apply_zarr_settings() -> None:
    """Apply the settings in the table above (idempotent, thread-safe)."""
    global _pipeline_done
    with _lock:
        updates: dict[str, object] = {}
        if not zarr.config.get("array.rectilinear_chunks"):
            updates["array.rectilinear_chunks"] = True
        if not _pipeline_done:
            _pipeline_done = True
            if zarr.config.get("codec_pipeline.path") == BATCHED_PIPELINE:
                updates["codec_pipeline.path"] = FUSED_PIPELINE
        if updates:
            zarr.config.set(updates)
