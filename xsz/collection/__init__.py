"""Many SZ stores as one: a collection and its persistent read-ID index.

A collection is a directory tree, a glob or a list of SZ stores, local or in
object storage (`find_stores`). `build_index` writes its read-ID index, one
Parquet file mapping every read ID to its store and row (sorted, built by an
external sort in bounded memory, brought up to date incrementally, with IDs
held twice flagged). `Collection` reads the stores as one through it, opening
only the stores a request needs and refusing stores changed since they were
indexed (`xsz.errors.StaleIndexError`); `subset` copies reads by ID out of a
collection. ``xsz.open_collection`` is the xarray face (`xsz.xarray`).
"""

from __future__ import annotations

from xsz.collection._build import IndexReport, build_index
from xsz.collection._collection import Collection, OnDuplicate, subset
from xsz.collection._index import Duplicates, IndexFile, StoreEntry
from xsz.collection._stores import StoreRef, find_stores

__all__ = [
    "Collection",
    "Duplicates",
    "IndexFile",
    "IndexReport",
    "OnDuplicate",
    "StoreEntry",
    "StoreRef",
    "build_index",
    "find_stores",
    "subset",
]
