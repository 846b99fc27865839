"""The zarr settings SZStore needs, applied when a store is created."""

from __future__ import annotations

import zarr

__all__ = ["apply_zarr_settings"]


def apply_zarr_settings() -> None:
    """Turn on zarr's rectilinear chunk grids, process-wide.

    zarr 3.4 checks ``array.rectilinear_chunks`` whenever it reads or writes an
    array document with a rectilinear grid, which every ragged array of an
    SZStore has; with the flag off nothing could be opened. The flag only
    permits such grids: arrays with regular grids behave as before.
    """
    if not zarr.config.get("array.rectilinear_chunks"):
        zarr.config.set({"array.rectilinear_chunks": True})
