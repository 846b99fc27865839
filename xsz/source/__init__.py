"""Byte sources: the files of one SZ store, read by byte range.

The container code (`xsz.format`) reads ``index``, ``dat`` and ``checksums``
through a `ByteSource` and nothing else, so one copy of it serves every place
a store can live. `LocalSource` is a directory on a local file system, opened
once: every file is opened relative to that one directory handle, so a reader
sees one version of a store even while a writer replaces it.
"""

from __future__ import annotations

from xsz.source._base import ByteSource
from xsz.source._local import LocalSource

__all__ = ["ByteSource", "LocalSource"]
