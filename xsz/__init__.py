"""xsz: nanopore reads in SZ stores, as a first-class citizen of the scientific Python stack.

`CompressedFile` is pysz 0.4.0's interface; `xsz.format` the SZ container
itself; `xsz.codec` the svb-zstd codec (numcodecs and zarr v3 forms);
``xr.open_dataset(path, engine="sz")`` and the ``ds.sz`` accessor the xarray
face (`xsz.xarray.backend`, `xsz.xarray.accessor`); `SZStore` the zarr face (`xsz.store`);
`import_reads` brings pod5, SLOW5/BLOW5 and FAST5 files into SZ, and `to_zarr` /
`from_zarr` turn SZ stores into Zarr stores and back (`xsz.convert`).
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from xsz import errors
from xsz.api import CompressedFile
from xsz.convert import detect_format, export_pod5, import_reads
from xsz.format import Schema, SZReader, SZWriter
from xsz.xarray._register import register_accessor

register_accessor()  # ds.sz, without importing xarray here (see xsz.xarray._register)


def _enable_rectilinear_chunks() -> None:
    """Let zarr read SZ's one-chunk-per-read layout (SZStore, ``to_zarr(layout="reads")``).

    zarr 3.4 gates rectilinear chunk grids behind ``array.rectilinear_chunks``
    and checks it before any plug-in of xsz's is loaded, so importing xsz turns
    it on: through zarr's config when zarr is loaded already, else through the
    environment variable zarr reads when it loads (unless that is set already).
    Nothing else about zarr changes; regular arrays are unaffected.
    """
    if "zarr" in sys.modules:
        import zarr

        if not zarr.config.get("array.rectilinear_chunks"):
            zarr.config.set({"array.rectilinear_chunks": True})
    else:
        os.environ.setdefault("ZARR_ARRAY__RECTILINEAR_CHUNKS", "True")


_enable_rectilinear_chunks()

if TYPE_CHECKING:
    from xsz.convert import from_zarr, to_zarr
    from xsz.store import SZStore

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
    "detect_format",
    "errors",
    "export_pod5",
    "from_zarr",
    "import_reads",
    "to_zarr",
]


def __getattr__(name: str) -> object:
    if name == "SZStore":  # imports zarr: only on demand
        from xsz.store import SZStore

        return SZStore
    if name in ("to_zarr", "from_zarr"):  # import zarr: only on demand
        from xsz import convert

        return getattr(convert, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
