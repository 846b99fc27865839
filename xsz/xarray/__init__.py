"""The xarray face of xsz: the ``sz`` engine, the read index and the ``ds.sz`` accessor.

``xr.open_dataset(path, engine="sz")`` (`SZBackendEntrypoint`, `open_sz`) opens
an SZ store as a Dataset of lazy ragged variables indexed by read ID
(`SZReadIndex`); `open_collection` does the same for many stores as one;
``ds.sz`` (`SZAccessor`) selects, calibrates, maps over, plots
and writes reads.

Modules, each importing only those below it: `_ragged` (numpy helpers for
ragged arrays: starts, ranges, pieces of reads), `indexes` (the read index),
`_lazy` (xarray's lazily indexed arrays over an SZ store), `_blocks`, `_plot`,
`_to_sz`, then `accessor` and `backend`. `register_accessor` (light: it does not
import xarray) makes ``ds.sz`` exist as soon as xarray is imported; ``import
xsz`` calls it, and that is the only thing importing xsz does to the process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xsz.xarray._register import register_accessor

if TYPE_CHECKING:
    from xsz.xarray._collection import open_collection
    from xsz.xarray.accessor import SZAccessor
    from xsz.xarray.backend import ENGINE, SZBackendEntrypoint, open_sz
    from xsz.xarray.indexes import DetachedReadIndex, SZReadIndex

__all__ = [
    "ENGINE",
    "DetachedReadIndex",
    "SZAccessor",
    "SZBackendEntrypoint",
    "SZReadIndex",
    "open_collection",
    "open_sz",
    "register_accessor",
]

_MODULES = {
    "SZAccessor": "accessor",
    "ENGINE": "backend",
    "SZBackendEntrypoint": "backend",
    "open_sz": "backend",
    "DetachedReadIndex": "indexes",
    "SZReadIndex": "indexes",
    "open_collection": "_collection",
}


def __getattr__(name: str) -> object:
    if name in _MODULES:  # these import xarray: only on demand
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
