"""The SZ ``index`` file: parse it in bulk (no per-line Python), and write its lines.

The index is TAB-separated text: a ``#``-prefixed JSON header line, a line of
column names, then one row per read. Rows are parsed by Arrow's CSV reader with
every column typed up front; the ``SIZE:COUNT`` cells of datasets are split by
Arrow compute kernels. A malformed index is reported with its line number.
"""

from __future__ import annotations

import json
from collections.abc import Buffer
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from xsz.errors import SchemaError, SZFormatError, TruncatedStoreError
from xsz.format._schema import Schema

if TYPE_CHECKING:
    from pathlib import Path

    import numpy.typing as npt

    from xsz.format._schema import Field

__all__ = ["SZIndex", "format_header", "read_index"]

_ARROW_TYPES: Final[dict[str, pa.DataType]] = {
    "S": pa.string(),
    "I16": pa.int16(),
    "I32": pa.int32(),
    "U16": pa.uint16(),
    "U32": pa.uint32(),
    "F16": pa.float32(),  # Arrow parses no float16; the float32 is rounded below
    "F32": pa.float32(),
    "F64": pa.float64(),
    "F128": pa.string(),  # long double text needs numpy's parser
}


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
    _table: pa.Table = field(repr=False)
    _columns: dict[str, np.ndarray[Any, Any]] = field(default_factory=dict, repr=False)
    _lookup: dict[Any, int] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.offset)

    @property
    def n_reads(self) -> int:
        return len(self.offset)

    def attribute(self, name: str) -> np.ndarray[Any, Any]:
        """One attribute for every read, as its declared dtype (text as object array)."""
        column = self._columns.get(name)
        if column is None:
            f = self.schema[name]
            if f.group != "A":
                raise KeyError(f"{name!r} is a dataset, not an attribute")
            column = self._columns[name] = _to_numpy(self._table.column(f.column), f)
        return column

    def cells(self, name: str) -> np.ndarray[Any, Any]:
        """A dataset's index cells for every read, as written (``"SIZE:COUNT"`` text)."""
        f = self.schema[name]
        if f.group != "D":
            raise KeyError(f"{name!r} is an attribute, not a dataset")
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

    @property
    def ids_unique(self) -> bool:
        return len(self.lookup()) == len(self)


def read_index(
    data: Buffer | Path, *, where: object = None, dat_size: int | None = None
) -> SZIndex:
    """Parse an index: its bytes (or the file at a path); check byte ranges against
    `dat_size` if given. `where` names the index in messages (default: the path)."""
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
    second = raw[first_end:second_end]
    if not second:
        raise SZFormatError(f"{where}: index has no column line (line 2)")
    try:
        columns = second.decode("utf-8").rstrip("\r\n").split("\t")
        schema = Schema.from_columns(columns)
    except (UnicodeDecodeError, SchemaError) as exc:
        raise SZFormatError(f"{where}: line 2: {exc}") from exc

    table = _read_rows(raw, second_end, where, schema)
    offset = _int_column(table, "OFFSET", where)
    length = _int_column(table, "LENGTH", where)
    frame_size: dict[str, npt.NDArray[np.int64]] = {}
    frame_offset: dict[str, npt.NDArray[np.int64]] = {}
    count: dict[str, npt.NDArray[np.int64]] = {}
    cursor = offset.copy()
    for f in schema.datasets:
        size, n = _split_cells(table.column(f.column), f, where)
        frame_size[f.name] = size
        frame_offset[f.name] = cursor.copy()
        cursor += size
        if n is not None:
            count[f.name] = n
    index = SZIndex(header, schema, offset, length, frame_size, frame_offset, count, table)
    _validate(index, where, dat_size)
    return index


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
        header = json.loads(line[1:].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SZFormatError(f"{where}: line 1 is not '#' + a JSON object: {exc}") from exc
    if not isinstance(header, dict):
        raise SZFormatError(f"{where}: line 1 holds {type(header).__name__}, not a JSON object")
    return header


def _read_rows(raw: bytes, start: int, where: object, schema: Schema) -> pa.Table:
    columns = schema.columns
    types = {"LENGTH": pa.int64(), "OFFSET": pa.int64()}
    types.update({f.column: _ARROW_TYPES[f.code] for f in schema.attributes})
    types.update({f.column: pa.string() for f in schema.datasets})
    try:
        return pa_csv.read_csv(
            pa.BufferReader(pa.py_buffer(raw)[start:]),
            read_options=pa_csv.ReadOptions(column_names=columns, block_size=1 << 24),
            parse_options=pa_csv.ParseOptions(
                delimiter="\t", quote_char=False, escape_char=False, double_quote=False
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=types,
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return pa.table({c: pa.array([], type=types[c]) for c in columns})
        raise _locate_bad_line(raw, start, where, schema, exc) from exc


def _locate_bad_line(
    raw: bytes, start: int, where: object, schema: Schema, exc: Exception
) -> SZFormatError:
    """Find the first line Arrow refused, with a (slow) pass over the rows."""
    n_columns = len(schema.columns)
    for number, line in enumerate(raw[start:].split(b"\n"), start=3):
        if not line.strip(b"\r"):
            continue
        cells = line.rstrip(b"\r").split(b"\t")
        if len(cells) != n_columns:
            return SZFormatError(
                f"{where}: line {number} has {len(cells)} cells, expected {n_columns} "
                f"({' '.join(schema.columns)}): {line[:80]!r}"
            )
        for name, cell in zip(schema.columns, cells, strict=True):
            problem = _cell_problem(name, cell, schema)
            if problem:
                read = cells[2][:60] if n_columns > 2 else b""
                return SZFormatError(
                    f"{where}: line {number} (read {read!r}), column {name!r}: {problem}"
                )
    return SZFormatError(f"{where}: malformed index: {exc}")


def _cell_problem(column: str, cell: bytes, schema: Schema) -> str | None:
    try:
        text = cell.decode("utf-8")
    except UnicodeDecodeError:
        return f"{cell!r} is not UTF-8"
    if column in ("LENGTH", "OFFSET"):
        return None if text.isdigit() else f"{text!r} is not a byte count"
    f = schema[column.split(":")[0]]
    if f.group == "D":
        size, sep, _ = text.partition(":")
        return None if sep and size.isdigit() else f"{text!r} is not SIZE:COUNT"
    if f.is_text or f.code == "F128":
        return None
    try:
        with np.errstate(all="ignore"):
            value = f.dtype.type(text)
        if f.dtype.kind in "iu" and str(value) != text.lstrip("+"):
            return f"{text!r} does not fit {f.dtype}"
    except (ValueError, OverflowError):
        return f"{text!r} is not a {f.dtype} value"
    return None


def _int_column(table: pa.Table, name: str, where: object) -> npt.NDArray[np.int64]:
    values = np.asarray(table.column(name).to_numpy(), dtype=np.int64)
    if len(values) and values.min() < 0:
        row = int(np.argmax(values < 0))
        raise SZFormatError(f"{where}: line {row + 3}: {name} is negative ({values[row]})")
    return values


def _split_cells(
    column: pa.ChunkedArray, f: Field, where: object
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64] | None]:
    """Split ``SIZE:COUNT`` cells into integer arrays (COUNT only for streamvbyte types)."""
    parts = pc.split_pattern(column, ":", max_splits=1)
    size = count = None
    try:
        whole = not len(column) or pc.min(pc.list_value_length(parts)).as_py() == 2
        size = pc.cast(pc.list_element(parts, 0), pa.int64()).to_numpy() if whole else None
        if whole and f.has_count:
            count = pc.cast(pc.list_element(parts, 1), pa.int64()).to_numpy()
    except pa.ArrowInvalid:
        whole = False
    if whole and size is not None and len(size):
        negative = (size < 0) | (count < 0 if count is not None else False)
        whole = not negative.any()
    if not whole or size is None:
        for row, cell in enumerate(column.to_pylist()):
            size_text, sep, count_text = cell.partition(":")
            if not (sep and size_text.isdigit() and (count_text.isdigit() or not f.has_count)):
                raise SZFormatError(
                    f"{where}: line {row + 3}, dataset {f.name!r}: cell {cell!r} is not SIZE:COUNT"
                )
        raise SZFormatError(f"{where}: dataset {f.name!r}: malformed cells")
    return np.asarray(size, dtype=np.int64), (
        None if count is None else np.asarray(count, dtype=np.int64)
    )


def _validate(index: SZIndex, where: object, dat_size: int | None) -> None:
    if not index.schema.datasets:
        return
    total = np.sum(list(index.frame_size.values()), axis=0, dtype=np.int64)
    bad = np.flatnonzero(total != index.length)
    if len(bad):
        row = int(bad[0])
        raise SZFormatError(
            f"{where}: line {row + 3} (read {_name(index, row)}): LENGTH is "
            f"{index.length[row]} but its frames add up to {total[row]} bytes"
        )
    if dat_size is not None:
        check_ranges(index, dat_size, where)


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


def _name(index: SZIndex, row: int) -> str:
    return repr(index.ids()[row]) if index.schema.id_field else f"#{row}"


def _to_numpy(column: pa.ChunkedArray, f: Field) -> np.ndarray[Any, Any]:
    if f.is_text:
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
    if f.code == "F128":
        text = np.asarray(column.to_numpy(zero_copy_only=False), dtype=str)
        return text.astype(np.longdouble)
    values: np.ndarray[Any, Any] = column.to_numpy()
    return values.astype(f.dtype) if values.dtype != f.dtype else values
