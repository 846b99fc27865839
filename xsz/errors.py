"""Exceptions and warnings raised by xsz, and nothing else.

Every error xsz raises on purpose is an :class:`XszError`. Each one also inherits
the built-in exception a caller would expect (``ValueError``, ``KeyError``,
``FileExistsError`` ...), so ``except KeyError`` keeps working for code that does
not know about xsz. Messages say what was expected, what was found and where:
the read, the field and the value.
"""

from __future__ import annotations

__all__ = [
    "CodecError",
    "DuplicateReadError",
    "FieldNotFoundError",
    "ReadNotFoundError",
    "RecordError",
    "RowOutOfRangeError",
    "SZFormatError",
    "SchemaError",
    "SourceError",
    "StaleIndexError",
    "StoreExistsError",
    "TruncatedStoreError",
    "UsageError",
    "XszError",
    "XszWarning",
]


class XszError(Exception):
    """Base class of every exception xsz raises on purpose."""


class SZFormatError(XszError, ValueError):
    """An SZ store on disk is missing, malformed, truncated or corrupt."""


class TruncatedStoreError(SZFormatError):
    """``dat`` ends before bytes the index names.

    Attributes
    ----------
    row
        The first read whose bytes run past the end (``None`` when a read of
        ``dat`` came back short and the row was not known).
    """

    def __init__(self, message: str, *, row: int | None = None):
        super().__init__(message)
        self.row = row


class StaleIndexError(SZFormatError):
    """A collection's read-ID index no longer describes its stores: one changed, was
    removed or added since it was built (run ``xsz index`` again)."""


class SchemaError(XszError, ValueError):
    """A schema (attributes, datasets, header) cannot be stored as SZ."""


class SourceError(XszError, ValueError):
    """A file to import cannot be used: an unknown format, a truncated or malformed
    pod5 / SLOW5 / BLOW5 / FAST5 / SAM / BAM file, or basecalls that do not fit the reads."""


class CodecError(XszError, ValueError):
    """An invalid svb-zstd configuration, or a frame that does not decode."""


class RecordError(XszError, ValueError):
    """A record handed to a writer does not fit the schema.

    Attributes
    ----------
    read_id
        The read the record belongs to (its ``ID`` value, or its position in the
        put sequence when it has no usable ID).
    field
        The attribute or dataset name, or ``None`` for record-level problems
        (such as a wrong number of fields).
    """

    def __init__(self, message: str, *, read_id: object = None, field: str | None = None):
        super().__init__(message)
        self.read_id = read_id
        self.field = field


class DuplicateReadError(RecordError):
    """A read ID was put twice into one store."""


class ReadNotFoundError(XszError, KeyError):
    """A read ID (or row) that the store does not hold."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


class FieldNotFoundError(XszError, KeyError):
    """An attribute or dataset name that the schema does not have."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


class RowOutOfRangeError(XszError, IndexError):
    """A read position outside ``0 .. n_reads - 1``."""


class StoreExistsError(XszError, FileExistsError):
    """The destination already exists and overwriting was not asked for."""


class UsageError(XszError, ValueError):
    """An argument that cannot work: an unknown mode, a closed object, a bad option."""


class XszWarning(UserWarning):
    """Something xsz did that you probably want to know about."""
