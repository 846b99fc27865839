"""xsz: nanopore reads in SZ stores, as a first-class citizen of the scientific Python stack.

`CompressedFile` is pysz 0.4.0's interface; `xsz.format` the SZ container
itself; `xsz.codec` the svb-zstd codec (numcodecs and zarr v3 forms).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from xsz import errors
from xsz.api import CompressedFile
from xsz.format import Schema, SZReader, SZWriter

if TYPE_CHECKING:
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
    "errors",
]


def __getattr__(name: str) -> object:
    if name == "SZStore":  # imports zarr: only on demand
        from xsz.store import SZStore

        return SZStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
