"""The zarr settings xsz needs, in one place: `apply_zarr_settings`.

Importing xsz changes no zarr setting. They are applied when xsz makes a
zarr-facing store: an `SZStore` (created or unpickled), `to_zarr` and
`from_zarr` (both settings). The rectilinear-chunks flag alone
(`enable_rectilinear_chunks`) is also set when zarr loads xsz's plug-ins (its
``xsz.float80`` data type, which zarr loads before it reads any array
document, and the ``svb-zstd`` codec): so ``zarr.open`` and ``xr.open_zarr``
read the one-chunk-per-read arrays of ``to_zarr(layout="reads")`` with xsz
installed but not imported.
Elsewhere turn it on yourself: ``zarr.config.set({"array.rectilinear_chunks": True})``.

=============================  ================  ==========================================
zarr setting                   value             why
=============================  ================  ==========================================
``array.rectilinear_chunks``   ``True``          zarr reads and writes no array with a
                                                 rectilinear chunk grid (every ragged array
                                                 of an SZStore) while the flag is off
``codec_pipeline.path``        `XSZ_PIPELINE`    one chunk per read means many small
                                                 chunks; `SZCodecPipeline` is zarr's fused
                                                 pipeline (chunks fetched and decoded
                                                 synchronously, not a coroutine each:
                                                 BENCHMARKS.md, issue 3) that reads the
                                                 chunks of numeric svb-zstd arrays in bulk
                                                 (BENCHMARKS.md, "Issue 11: zarr over
                                                 SZStore")
=============================  ================  ==========================================

Both are process-wide (zarr has no per-store settings). The pipeline is
switched only while it is still zarr's default, and only once per process, so
a pipeline you set yourself, before or after, stays. Arrays that are not
numeric svb-zstd ones go through zarr's `FusedCodecPipeline` unchanged, which
falls back to zarr's batched behaviour for stores without synchronous I/O. An
unpickled store (a dask worker's copy) applies the settings in its process.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Final

__all__ = [
    "BATCHED_PIPELINE",
    "FUSED_PIPELINE",
    "XSZ_PIPELINE",
    "apply_zarr_settings",
    "enable_rectilinear_chunks",
]

FUSED_PIPELINE: Final = "zarr.core.codec_pipeline.FusedCodecPipeline"
XSZ_PIPELINE: Final = "xsz.codec.SZCodecPipeline"
"""xsz's pipeline (`SZCodecPipeline`), registered with zarr once it is imported."""
BATCHED_PIPELINE: Final = "zarr.core.codec_pipeline.BatchedCodecPipeline"
"""zarr 3.4's default codec pipeline."""

_lock = threading.Lock()
_pipeline_done = False


def apply_zarr_settings(*, pipeline: bool = True) -> None:
    """Apply the settings in the table above (idempotent, thread-safe); with
    ``pipeline=False`` only the rectilinear-chunks flag."""
    import zarr

    global _pipeline_done
    with _lock:
        updates: dict[str, object] = {}
        if not zarr.config.get("array.rectilinear_chunks"):
            updates["array.rectilinear_chunks"] = True
        if pipeline and not _pipeline_done:
            _pipeline_done = True
            if zarr.config.get("codec_pipeline.path") == BATCHED_PIPELINE:
                updates["codec_pipeline.path"] = XSZ_PIPELINE
        if updates:
            zarr.config.set(updates)


def enable_rectilinear_chunks() -> None:
    """Let zarr read rectilinear chunk grids (xsz's one chunk per read), without
    importing zarr: through its config when zarr is loaded, else through the
    environment variable zarr reads when it loads (unless that is set already)."""
    if "zarr" in sys.modules:
        import zarr

        if not zarr.config.get("array.rectilinear_chunks"):
            zarr.config.set({"array.rectilinear_chunks": True})
    else:
        os.environ.setdefault("ZARR_ARRAY__RECTILINEAR_CHUNKS", "True")
