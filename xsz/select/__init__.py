"""Reads as a table: ID lists, per-read columns (attributes, counts), filter
expressions over them, and signal statistics.

Pure functions over an open `xsz.format.SZReader`; `xsz.ops` writes the stores
they select (``filter_reads``, ``split``) and ``xsz view`` / ``stats`` print them.
"""

from __future__ import annotations

from xsz.select._columns import (
    READ_ID_ALIAS,
    Column,
    column_values,
    default_columns,
    format_values,
    length_name,
    read_columns,
    resolve_columns,
    tsv_lines,
    tsv_text,
    unknown_field,
)
from xsz.select._expr import ReadFilter, compile_filter, filter_rows
from xsz.select._ids import ID_COLUMNS, ReadIdList, parse_read_ids, read_id_list
from xsz.select._records import FASTQ_DATASETS, FastqCount, fastq_records, record_lines
from xsz.select._stats import SAMPLE_RATES, ReadStats, StoreStats, n50, read_stats, signal_dataset

__all__ = [
    "FASTQ_DATASETS",
    "ID_COLUMNS",
    "READ_ID_ALIAS",
    "SAMPLE_RATES",
    "Column",
    "FastqCount",
    "ReadFilter",
    "ReadIdList",
    "ReadStats",
    "StoreStats",
    "column_values",
    "compile_filter",
    "default_columns",
    "fastq_records",
    "filter_rows",
    "format_values",
    "length_name",
    "n50",
    "parse_read_ids",
    "read_columns",
    "read_id_list",
    "read_stats",
    "record_lines",
    "resolve_columns",
    "signal_dataset",
    "tsv_lines",
    "tsv_text",
    "unknown_field",
]
