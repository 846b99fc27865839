"""Conversions into SZ stores: nanopore files (pod5, SLOW5/BLOW5, FAST5) with their basecalls.

Pure functions for the ``xsz`` command and for notebooks; no argument parsing
here. `detect_format` recognises files by content; `import_reads` streams a
source's reads into a new SZ store, with one schema for every source format
(`READ_FIELDS`, plus `BASECALL_FIELDS` when a SAM/BAM with move tables is given).
`export_pod5` writes such a store back to pod5. The format packages (pod5,
pyslow5, h5py + vbz-h5py-plugin, pysam) are imported only when a file of theirs
is read or written.
"""

from __future__ import annotations

from xsz.convert._detect import FORMATS, SIGNAL_FORMATS, detect_format
from xsz.convert._export import export_pod5
from xsz.convert._import import ImportSummary, import_reads
from xsz.convert._schema import BASECALL_FIELDS, READ_FIELDS, import_schema

__all__ = [
    "BASECALL_FIELDS",
    "FORMATS",
    "READ_FIELDS",
    "SIGNAL_FORMATS",
    "ImportSummary",
    "detect_format",
    "export_pod5",
    "import_reads",
    "import_schema",
]
