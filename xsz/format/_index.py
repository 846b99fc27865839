"""The SZ ``index`` file: parse it in bulk (no per-line Python), and write its lines.

The index is TAB-separated text: a ``#``-prefixed JSON header line, a line of
column names, then one row per read. Rows are parsed by Arrow's CSV reader with
every column typed up front; the ``SIZE:COUNT`` cells of datasets are split by
Arrow compute kernels; every number is checked with whole-column operations
before anything is made from it. Any malformed index is an `SZFormatError`
naming the line, the read, the column and the text (`xsz.format._index_rows`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Buffer
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from xsz.codec import max_content_size
from xsz.errors import SchemaError, SZFormatError, TruncatedStoreError
from xsz.format._index_rows import (
    Rows,
    check_float_attributes,
    long_doubles,
    numeric,
    read_rows,
)
from xsz.format._schema import Schema, load_header
from xsz.format._table import IndexTable, Unusable, find_sorted, sorted_ids

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import numpy.typing as npt

    from xsz.format._schema import Field

__all__ = [
    "MAX_BYTES",
    "SZIndex",
    "check_ranges",
    "format_header",
    "index_from_table",
    "read_index",
]

MAX_BYTES: Final = (1 << 62) - 1
"""The largest byte count, offset or element count an index may hold: beyond any
``dat``, and small enough that an offset plus a length, or the sum of a few, fits
int64."""

log = logging.getLogger(__name__)

_MAX_TEXT: Final = "2**62 - 1"

_MAX_FRAME: Final = 3 << 40
"""Frames past 3 TiB bound their element count as one of 3 TiB would (2**57 * 4/5
values): the bound itself would overflow int64 further on."""

_VALUES_PER_BYTE: Final = max_content_size(3) * 4 // 15
"""At least this many values fit each byte of any frame (``max_content_size`` over
1.25 bytes a value): counts under it need no exact bound."""

_LONE_CR: Final = re.compile(rb"\r(?!\n)")


def format_header(header: dict[str, Any], schema: Schema) -> str:
    """The first two lines of an index, as pysz 0.4.0 writes them."""
    return "#" + json.dumps(header) + "\n" + "\t".join(schema.columns) + "\n"


@dataclass(eq=False)
class SZIndex:
    """A parsed index: per-read byte ranges, frame sizes, counts and attributes.

    All per-read arrays are aligned with the rows of the index (file order).
    """

    header: dict[str, Any]
    schema: Schema
    offset: npt.NDArray[np.int64]
    length: npt.NDArray[np.int64]
    frame_size: dict[str, npt.NDArray[np.int64]]
    """Per dataset: the byte size of each read's frame."""
    frame_offset: dict[str, npt.NDArray[np.int64]]
    """Per dataset: where each read's frame starts in ``dat``."""
    count: dict[str, npt.NDArray[np.int64]]
    """Per streamvbyte dataset: each read's element count, from the index."""
    _table: pa.Table | None = field(repr=False)
    """The parsed text (``None`` for an index read from its ``table`` file)."""
    _columns: dict[str, np.ndarray[Any, Any]] = field(default_factory=dict, repr=False)
    _lookup: dict[Any, int] | None = field(default=None, repr=False)
    _binary: IndexTable | None = field(default=None, repr=False)
    """The store's ``table`` file this index was read from, if any."""
    _unique: bool | None = field(default=None, repr=False)
    _sorted_ids: tuple[np.ndarray[Any, Any], npt.NDArray[np.int64]] | Literal[False] | None = field(
        default=None, repr=False
    )

    def __len__(self) -> int:
        return len(self.offset)

    @property
    def n_reads(self) -> int:
        return len(self.offset)

    @property
    def from_table(self) -> bool:
        """Whether this index was read from the store's ``table`` file, not its text."""
        return self._binary is not None

    def part(self, start: int, stop: int) -> SZIndex:
        """Rows ``start:stop`` as an index of their own (views, no copy; no IDs
        looked up yet). Only for an index parsed from text."""
        if self._table is None:
            raise ValueError("only an index parsed from text can be cut")
        at = slice(start, stop)
        return SZIndex(
            self.header,
            self.schema,
            self.offset[at],
            self.length[at],
            {k: v[at] for k, v in self.frame_size.items()},
            {k: v[at] for k, v in self.frame_offset.items()},
            {k: v[at] for k, v in self.count.items()},
            self._table.slice(start, stop - start),
            {k: v[at] for k, v in self._columns.items()},
        )

    def attribute(self, name: str) -> np.ndarray[Any, Any]:
        """One attribute for every read, as its declared dtype (text as object array)."""
        column = self._columns.get(name)
        if column is None:
            f = self.schema[name]
            if f.group != "A":
                raise KeyError(f"{name!r} is a dataset, not an attribute")
            if self._table is None:
                assert self._binary is not None
                column = self._binary.attribute(f)
            else:
                column = _to_numpy(self._table.column(f.column), f)
            self._columns[name] = column
        return column

    def value(self, name: str, row: int) -> Any:
        """One read's attribute (from a ``table`` file, without making the column)."""
        column = self._columns.get(name)
        if column is not None:
            return column[row]
        f = self.schema[name]
        if self._binary is not None:
            return self._binary.value(f, row)
        if f.is_text and self._table is not None and f.group == "A":  # no column of str
            return self._table.column(f.column)[row].as_py()
        return self.attribute(name)[row]

    def arrow_table(self) -> pa.Table:
        """The parsed text of the rows, typed (parsed again for an index read from a
        ``table`` file)."""
        if self._table is None:
            raise ValueError("this index was read from a table file, not parsed from text")
        return self._table

    def cells(self, name: str) -> np.ndarray[Any, Any]:
        """A dataset's index cells for every read, as written (``"SIZE:COUNT"`` text)."""
        f = self.schema[name]
        if f.group != "D":
            raise KeyError(f"{name!r} is an attribute, not a dataset")
        if self._table is None:
            sizes = self.frame_size[name].tolist()
            counts = self.count[name].tolist() if f.has_count else [""] * len(sizes)
            return np.asarray([f"{s}:{c}" for s, c in zip(sizes, counts, strict=True)], object)
        cells: np.ndarray[Any, Any] = self._table.column(f.column).to_numpy(zero_copy_only=False)
        return cells

    def ids(self) -> np.ndarray[Any, Any]:
        """The read IDs (the ``ID`` attribute), or row positions when there is none."""
        id_field = self.schema.id_field
        if id_field is None:
            return np.arange(len(self))
        return self.attribute(id_field)

    def lookup(self) -> dict[Any, int]:
        """Read ID -> row, built on first use (the last row wins for repeated IDs)."""
        if self._lookup is None:
            ids = self.ids().tolist()
            self._lookup = dict(zip(ids, range(len(ids)), strict=True))
        return self._lookup

    def _ids_in_table(self) -> bool:
        return self._binary is not None and self._lookup is None and self._binary.has_ids()

    def _sorted(self) -> tuple[np.ndarray[Any, Any], npt.NDArray[np.int64]] | None:
        """The read IDs sorted and the row of each, made once from the parsed text
        (`None` without text IDs, or IDs `xsz.format._table.fixed_width` cannot hold)."""
        if self._sorted_ids is None:
            id_field = self.schema.id_field
            found = None
            if self._table is not None and id_field is not None:
                found = sorted_ids(self._table.column(self.schema[id_field].column))
            self._sorted_ids = found or False
        return self._sorted_ids if isinstance(self._sorted_ids, tuple) else None

    def find(self, read_ids: Sequence[object]) -> npt.NDArray[np.int64]:
        """The row of each read ID (the last row for repeated IDs), -1 where none is.

        From the IDs sorted (fixed width, for ``np.searchsorted``): those of the
        ``table`` file, or made on first use from the parsed text (no hash and no
        str a read); from `lookup` for IDs of other kinds.
        """
        if self._ids_in_table():
            assert self._binary is not None
            return self._binary.find(read_ids)
        found = self._sorted() if self._lookup is None else None
        if found is not None:
            return find_sorted(*found, read_ids)
        lookup = self.lookup()
        return np.asarray([_get(lookup, i) for i in read_ids], dtype=np.int64).reshape(-1)

    @property
    def ids_unique(self) -> bool:
        if self._unique is None:
            found = self._sorted() if self._binary is None and self._lookup is None else None
            if self._binary is not None:
                self._unique = self._binary.unique_ids
            elif found is not None:
                self._unique = not bool((found[0][1:] == found[0][:-1]).any())
            else:
                self._unique = len(self.lookup()) == len(self)
        return self._unique


def read_index(
    data: Buffer | Path, *, where: object = None, dat_size: int | None = None
) -> SZIndex:
    """Parse an index: its bytes (or the file at a path); check byte ranges against
    `dat_size` if given. `where` names the index in messages (default: the path).

    Raises
    ------
    SZFormatError
        For any index that is not one pysz could have written, naming the line,
        the read, the column and the text that is wrong. Nothing is allocated
        from an unchecked number: byte counts are at most `MAX_BYTES`, and element
        counts no more than their frame can hold.
    """
    if not isinstance(data, Buffer):
        where = data if where is None else where
        try:
            data = data.read_bytes()
        except OSError as exc:
            raise SZFormatError(f"cannot read SZ index {where}: {exc}") from exc
    where = "index" if where is None else where
    raw = data if isinstance(data, bytes) else bytes(data)
    first_end = _line_end(raw, 0)
    second_end = _line_end(raw, first_end)
    header = _parse_header_line(raw[:first_end], where)
    schema = _parse_column_line(raw[first_end:second_end], where)
    rows = Rows(raw, second_end, where, schema)
    table = _read_table(rows)
    offset = _byte_counts(table, "OFFSET", rows)
    length = _byte_counts(table, "LENGTH", rows)
    frame_size: dict[str, npt.NDArray[np.int64]] = {}
    count: dict[str, npt.NDArray[np.int64]] = {}
    for f in schema.datasets:
        size, n = _split_cells(table.column(f.column), f, rows)
        frame_size[f.name] = size
        if n is not None:
            count[f.name] = n
    _check_lengths(length, frame_size, rows)
    frame_offset: dict[str, npt.NDArray[np.int64]] = {}
    cursor = offset  # no overflow: offset + length < 2**63, and the sizes sum to length
    for f in schema.datasets:
        frame_offset[f.name] = cursor
        cursor = cursor + frame_size[f.name]
    columns = check_float_attributes(table, rows)
    index = SZIndex(header, schema, offset, length, frame_size, frame_offset, count, table, columns)
    if dat_size is not None:
        check_ranges(index, dat_size, where)
    return index


def index_from_table(prefix: bytes, table: IndexTable, where: object) -> SZIndex | None:
    """The index whose text starts with `prefix` (its first two lines at least), read
    from its `table`; ``None`` when `prefix` is short of them or the table cannot
    stand for the index (`read_index` of the text then says what is wrong)."""
    first_end = _line_end(prefix, 0)
    second_end = _line_end(prefix, first_end)
    if prefix[second_end - 1 : second_end] != b"\n":
        return None
    header = _parse_header_line(prefix[:first_end], where)
    schema = _parse_column_line(prefix[first_end:second_end], where)
    if schema.columns != table.head.columns:
        return None
    table.schema = schema
    try:
        length, offset, frame_size, count = table.numbers()
    except Unusable as exc:
        log.warning("%s is ignored: %s", table.where, exc)
        return None
    frame_offset: dict[str, npt.NDArray[np.int64]] = {}
    cursor = offset
    for f in schema.datasets:
        frame_offset[f.name] = cursor
        cursor = cursor + frame_size[f.name]
    return SZIndex(
        header, schema, offset, length, frame_size, frame_offset, count, None, _binary=table
    )


def _line_end(raw: bytes, start: int) -> int:
    """Where the line starting at `start` ends: after its newline, or at the end."""
    end = raw.find(b"\n", start)
    return len(raw) if end < 0 else end + 1


def _parse_header_line(line: bytes, where: object) -> dict[str, Any]:
    if not line:
        raise SZFormatError(f"{where}: index is empty (expected a '#{{...}}' header line)")
    if not line.startswith(b"#"):
        raise SZFormatError(f"{where}: line 1 must start with '#', found {line[:40]!r}")
    try:
        return load_header(line[1:].rstrip(b"\r\n"))
    except SchemaError as exc:
        raise SZFormatError(f"{where}: line 1: {exc}") from exc


def _parse_column_line(line: bytes, where: object) -> Schema:
    if not line:
        raise SZFormatError(f"{where}: index has no column line (line 2)")
    try:
        return Schema.from_columns(line.decode("utf-8").rstrip("\r\n").split("\t"))
    except (UnicodeDecodeError, SchemaError) as exc:
        raise SZFormatError(f"{where}: line 2: {exc}") from exc


def _read_table(rows: Rows) -> pa.Table:
    """Every row, typed; refuse a last line cut short and lone CRs first (Arrow would
    take a CR for a line end, and line numbers would no longer be rows)."""
    raw, start = rows.raw, rows.start
    if len(raw) == start:
        return pa.table({c: pa.array([], type=t) for c, t in rows.types.items()})
    if raw[-1:] != b"\n":
        row = raw.count(b"\n", start)
        raise SZFormatError(
            f"{rows.where}: line {row + 3} ({rows.read(row)}) has no line end: "
            f"the index is cut short after {rows.line(row)[-40:]!r}"
        )
    if raw.find(b"\r", start) >= 0:
        lone = _LONE_CR.search(raw, start)
        if lone is not None:
            row = raw.count(b"\n", start, lone.start())
            raise SZFormatError(
                f"{rows.where}: line {row + 3} ({rows.read(row)}) holds a CR (\\r) that "
                f"does not end it: {rows.line(row)[:80]!r}"
            )
    try:
        return read_rows(pa.py_buffer(raw)[start:], rows.types)
    except pa.ArrowInvalid as exc:
        raise rows.refused(exc) from exc


def _byte_counts(table: pa.Table, name: str, rows: Rows) -> npt.NDArray[np.int64]:
    values = np.asarray(numeric(table.column(name)), dtype=np.int64)
    bad = np.flatnonzero((values < 0) | (values > MAX_BYTES))
    if len(bad):
        row = int(bad[0])
        raise rows.error(row, name, f"{values[row]} is not a byte count (0 .. {_MAX_TEXT})")
    return values


def _split_cells(
    column: pa.ChunkedArray, f: Field, rows: Rows
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64] | None]:
    """Split ``SIZE:COUNT`` cells into integer arrays (COUNT only for streamvbyte
    types, whose COUNT must fit the frame; the others have none: ``SIZE:``)."""
    numbers = _numbers(column, f.has_count)
    if numbers is None or (len(numbers) and numbers.min() < 0):
        raise _first_bad_cell(column, f, rows)
    size = np.ascontiguousarray(numbers[:, 0])
    for row in np.flatnonzero(size > MAX_BYTES)[:1].tolist():
        raise rows.error(row, f.column, f"{column[row].as_py()!r}: SIZE is over {_MAX_TEXT} bytes")
    if not f.has_count:
        return size, None
    count = np.ascontiguousarray(numbers[:, 1])
    frame = np.minimum(size, _MAX_FRAME)
    for row in np.flatnonzero(count > frame * _VALUES_PER_BYTE).tolist():  # a quick sieve
        if count[row] > max_content_size(int(frame[row])) * 4 // 5:  # 1.25 bytes a value
            raise rows.error(
                row,
                f.column,
                f"dataset {f.name!r}: {count[row]} values cannot fit a frame of {size[row]} bytes",
            )
    return size, count


def _numbers(column: pa.ChunkedArray, has_count: bool) -> npt.NDArray[np.int64] | None:
    """``SIZE:COUNT`` cells as rows of two ints (``SIZE:`` as rows of one), or
    ``None`` when some cell is not of that form."""
    if not len(column):
        return np.zeros((0, 2), dtype=np.int64)
    if has_count:
        parts = pc.split_pattern(column, ":", max_splits=1).combine_chunks()
        if pc.min(pc.list_value_length(parts)).as_py() != 2:
            return None
        numbers = parts.flatten()
    elif pc.all(pc.ends_with(column, ":")).as_py():
        numbers = pc.utf8_slice_codeunits(column, 0, -1)
    else:
        return None
    try:
        values = numeric(pc.cast(numbers, pa.int64()))
    except pa.ArrowInvalid:
        return None
    return np.asarray(values, dtype=np.int64).reshape(len(column), -1)


def _first_bad_cell(column: pa.ChunkedArray, f: Field, rows: Rows) -> SZFormatError:
    """The first cell that is not ``SIZE:COUNT`` (``SIZE:`` without a count), named."""
    expected = "SIZE:COUNT" if f.has_count else f"SIZE: ({f.code} cells have no COUNT)"
    for row, cell in enumerate(column.to_pylist()):
        size, sep, count = cell.partition(":")
        if not (sep and _is_number(size) and (_is_number(count) if f.has_count else not count)):
            return rows.error(row, f.column, f"{cell[:80]!r} is not {expected}")
    return SZFormatError(f"{rows.where}: column {f.column!r}: malformed cells")  # pragma: no cover


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_BYTES


def _check_lengths(
    length: npt.NDArray[np.int64], frame_size: dict[str, npt.NDArray[np.int64]], rows: Rows
) -> None:
    """Refuse rows whose frames do not add up to their LENGTH (summed with a ceiling:
    no sum of sizes up to `MAX_BYTES` each can overflow)."""
    if not frame_size:
        return
    total = np.zeros_like(length)
    for size in frame_size.values():
        np.minimum(total + size, MAX_BYTES + 1, out=total)
    bad = np.flatnonzero(total != length)
    if len(bad):
        row = int(bad[0])
        added = "more than that" if total[row] > MAX_BYTES else f"{total[row]} bytes"
        raise rows.error(row, "LENGTH", f"LENGTH is {length[row]} but its frames add up to {added}")


def check_ranges(index: SZIndex, dat_size: int, where: object) -> None:
    """Raise `TruncatedStoreError` for the first read whose bytes run past the end of ``dat``."""
    ends = index.offset + index.length
    bad = np.flatnonzero(ends > dat_size)
    if len(bad):
        row = int(bad[0])
        raise TruncatedStoreError(
            f"{where}: dat is truncated: read {_name(index, row)} (row {row}) "
            f"needs bytes {index.offset[row]}..{ends[row]} but dat holds {dat_size} bytes",
            row=row,
        )


def _get(lookup: dict[Any, int], read_id: object) -> int:
    try:
        return lookup.get(read_id, -1)
    except TypeError:  # unhashable
        return -1


def _name(index: SZIndex, row: int) -> str:
    return repr(index.ids()[row]) if index.schema.id_field else f"#{row}"


def _to_numpy(column: pa.ChunkedArray, f: Field) -> np.ndarray[Any, Any]:
    if f.is_text:
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
    if f.code == "F128":  # its text was checked by _check_long_doubles
        return long_doubles(column)
    values = numeric(column)
    return values.astype(f.dtype) if values.dtype != f.dtype else values
