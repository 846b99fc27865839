"""The SZ container of pysz 0.4.0: an ``index`` text file and a ``dat`` file of frames.

`SZReader` gives random access to reads by row or ID; `SZWriter` writes new
stores that pysz 0.4.0 reads; `Schema` describes their attributes and datasets.
numpy, pandas/pyarrow and `xsz.codec` only: nothing here knows zarr or xarray.
"""

from __future__ import annotations

from xsz.format._checksums import crc32
from xsz.format._coalesce import chunk_plan
from xsz.format._index import SZIndex, format_header, read_index
from xsz.format._pick import PickedStore, pick
from xsz.format._reader import SZReader, check_store
from xsz.format._records import has_checksum, with_checksum
from xsz.format._salvage import Salvage, salvage
from xsz.format._schema import CODES, DEFAULT_HEADER, ID_FIELD, Field, Schema, code_of, parse_header
from xsz.format._staging import (
    Sibling,
    Staging,
    check_replaceable,
    lock_path,
    remove_stale,
    replace_path,
    stale_siblings,
)
from xsz.format._table import MIN_READS as TABLE_MIN_READS
from xsz.format._table import TABLE, write_table
from xsz.format._values import attribute_text
from xsz.format._writer import SZWriter

__all__ = [
    "CODES",
    "DEFAULT_HEADER",
    "ID_FIELD",
    "Field",
    "PickedStore",
    "SZIndex",
    "SZReader",
    "SZWriter",
    "Salvage",
    "Schema",
    "Sibling",
    "Staging",
    "TABLE",
    "TABLE_MIN_READS",
    "attribute_text",
    "check_replaceable",
    "check_store",
    "chunk_plan",
    "code_of",
    "crc32",
    "format_header",
    "lock_path",
    "has_checksum",
    "parse_header",
    "pick",
    "read_index",
    "remove_stale",
    "replace_path",
    "salvage",
    "stale_siblings",
    "with_checksum",
    "write_table",
]
