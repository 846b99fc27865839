"""Conversions: nanopore files (pod5, SLOW5/BLOW5, FAST5) into SZ, SZ to Zarr and back.

Pure functions for the ``xsz`` command and for notebooks; no argument parsing
here. `detect_format` recognises files by content; `import_reads` streams a
source's reads into a new SZ store, with one schema for every source format
(`READ_FIELDS`, plus `BASECALL_FIELDS` when a SAM/BAM with move tables is given).
`export_pod5`, `export_slow5` and `export_fast5` write such a store back to
pod5, BLOW5/SLOW5 and FAST5. `open_reads` reads any of these formats (and SZ
and Zarr) through one interface, without converting first. `import_many` and
`subset_many` run one task per file or store, on dask.distributed workers when
a client is given or current. `to_zarr` and `from_zarr` turn
SZ stores into Zarr stores and back (they import zarr, so they load on first
use). The format packages (pod5, pyslow5, h5py + vbz-h5py-plugin, pysam) are
imported only when a file of theirs is read or written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xsz.convert._convert import EXPORTS, TARGETS, ConvertSummary, convert, target_format
from xsz.convert._dest import path_size
from xsz.convert._detect import FORMATS, SIGNAL_FORMATS, detect_format
from xsz.convert._export import export_pod5
from xsz.convert._fast5_export import export_fast5
from xsz.convert._import import ImportSummary, import_reads
from xsz.convert._many import import_many, locate_reads, subset_many
from xsz.convert._open import Reads, open_reads
from xsz.convert._options import CODECS, LAYOUTS
from xsz.convert._read_fields import (
    BASECALL_FIELDS,
    CORE_READ_FIELDS,
    POD5_READ_FIELDS,
    READ_FIELDS,
    import_schema,
)
from xsz.convert._slow5_export import export_slow5
from xsz.convert._verify_reads import ReadProblem, verify_reads

if TYPE_CHECKING:
    from xsz.convert._zarr import ZarrSummary, from_zarr, to_zarr

__all__ = [
    "BASECALL_FIELDS",
    "CODECS",
    "CORE_READ_FIELDS",
    "EXPORTS",
    "FORMATS",
    "READ_FIELDS",
    "SIGNAL_FORMATS",
    "TARGETS",
    "ConvertSummary",
    "ImportSummary",
    "ReadProblem",
    "Reads",
    "LAYOUTS",
    "POD5_READ_FIELDS",
    "ZarrSummary",
    "convert",
    "detect_format",
    "export_fast5",
    "export_pod5",
    "export_slow5",
    "from_zarr",
    "import_many",
    "import_reads",
    "import_schema",
    "open_reads",
    "locate_reads",
    "path_size",
    "subset_many",
    "target_format",
    "to_zarr",
    "verify_reads",
]

_ZARR_NAMES = frozenset({"ZarrSummary", "from_zarr", "to_zarr"})


def __getattr__(name: str) -> object:
    if name in _ZARR_NAMES:  # imports zarr: only on demand
        from xsz.convert import _zarr

        return getattr(_zarr, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
