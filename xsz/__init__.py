"""xsz: nanopore reads in SZ stores, as a first-class citizen of the scientific Python stack.

`CompressedFile` is pysz 0.4.0's interface; `xsz.format` the SZ container
itself; `xsz.codec` the svb-zstd codec (numcodecs and zarr v3 forms);
``xr.open_dataset(path, engine="sz")`` and the ``ds.sz`` accessor the xarray
face (`xsz.xarray`); `SZStore` the zarr face (`xsz.store`);
`import_reads` brings pod5, SLOW5/BLOW5 and FAST5 files into SZ, and `to_zarr` /
`from_zarr` turn SZ stores into Zarr stores and back (`xsz.convert`);
`build_index` and `open_collection` read many stores as one (`xsz.collection`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from xsz import errors
from xsz.api import CompressedFile
from xsz.convert import (
    detect_format,
    export_fast5,
    export_pod5,
    export_slow5,
    import_reads,
    open_reads,
)
from xsz.format import Schema, SZReader, SZWriter
from xsz.xarray import register_accessor

register_accessor()  # ds.sz, without importing xarray here (see xsz.xarray)

if TYPE_CHECKING:
    from xsz.collection import build_index
    from xsz.convert import from_zarr, to_zarr
    from xsz.store import SZStore
    from xsz.xarray import open_collection

try:
    __version__ = version("xsz")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "CompressedFile",
    "SZReader",
    "SZStore",
    "SZWriter",
    "Schema",
    "__version__",
    "build_index",
    "detect_format",
    "errors",
    "export_fast5",
    "export_pod5",
    "export_slow5",
    "from_zarr",
    "import_reads",
    "open_collection",
    "open_reads",
    "to_zarr",
]


def __getattr__(name: str) -> object:
    if name == "SZStore":  # imports zarr: only on demand
        from xsz.store import SZStore

        return SZStore
    if name == "build_index":
        from xsz.collection import build_index

        return build_index
    if name == "open_collection":  # imports xarray: only on demand
        from xsz.xarray import open_collection

        return open_collection
    if name in ("to_zarr", "from_zarr"):  # import zarr: only on demand
        from xsz import convert

        return getattr(convert, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
