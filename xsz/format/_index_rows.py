"""The rows of an SZ index: read in bulk by Arrow's CSV reader, and named when wrong.

`read_rows` types every column up front and parses all rows at once;
`check_float_attributes` refuses float text Arrow took but their type cannot
hold. `Rows` runs only on the way to an error: it finds the line Arrow refused
(by halving the rows, with Arrow itself, so its verdict and ours agree) and
names the line, the read, the column and the cell's text.
"""

from __future__ import annotations

import threading
import warnings
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from xsz.errors import SZFormatError

if TYPE_CHECKING:
    import numpy.typing as npt

    from xsz.format._schema import Field, Schema

__all__ = [
    "MAX_LINE_BYTES",
    "Rows",
    "check_float_attributes",
    "column_types",
    "long_doubles",
    "numeric",
    "read_rows",
]

MAX_LINE_BYTES: Final = 1 << 24
"""The longest line Arrow reads in one block (16 MiB); no index line is longer."""

_ARROW_TYPES: Final[dict[str, pa.DataType]] = {
    "S": pa.string(),
    "I16": pa.int16(),
    "I32": pa.int32(),
    "U16": pa.uint16(),
    "U32": pa.uint32(),
    "F16": pa.float32(),  # Arrow parses no float16; the float32 is rounded later
    "F32": pa.float32(),
    "F64": pa.float64(),
    "F128": pa.string(),  # long double text needs numpy's parser
}

_WHAT: Final[dict[str, str]] = {
    "S": "UTF-8 text",
    "I16": "an I16 (int16) value",
    "I32": "an I32 (int32) value",
    "U16": "a U16 (uint16) value",
    "U32": "a U32 (uint32) value",
    "F16": "an F16 (float16) value",
    "F32": "an F32 (float32) value",
    "F64": "an F64 (float64) value",
    "F128": "UTF-8 text",
}
"""What a cell Arrow refused should have been, by type code."""

_INF_TEXT: Final = frozenset({"inf", "infinity"})
"""How a float cell may spell an infinity (Arrow's and numpy's parsers take these)."""

_F128_TEXT: Final = 64
"""The longest F128 cell, in bytes: ``str()`` of a long double takes at most 30."""

_WARNINGS: Final = threading.Lock()
"""Held while numpy's warnings are silenced (``catch_warnings`` saves and restores
the process's filters: two threads inside at once could leave them changed)."""


_NUMPY_TYPES: Final[dict[pa.DataType, type[np.generic]]] = {
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint16(): np.uint16,
    pa.uint32(): np.uint32,
    pa.float32(): np.float32,
    pa.float64(): np.float64,
}


def numeric(column: pa.ChunkedArray | pa.Array) -> np.ndarray[Any, Any]:
    """A numeric Arrow column without nulls as numpy values, read from its buffers
    (Arrow's ``to_numpy`` imports pandas, half a second, the first time)."""
    dtype = _NUMPY_TYPES.get(column.type)
    if dtype is None or column.null_count:
        return column.to_numpy()  # type: ignore[no-any-return]
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    size = np.dtype(dtype).itemsize
    parts = [
        np.frombuffer(c.buffers()[1], dtype, len(c), c.offset * size) for c in chunks if len(c)
    ]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def column_types(schema: Schema) -> dict[str, pa.DataType]:
    """The Arrow type of every index column: byte counts, typed attributes, and
    dataset cells as text (``SIZE:COUNT``, split later)."""
    types = {"LENGTH": pa.int64(), "OFFSET": pa.int64()}
    types.update({f.column: _ARROW_TYPES[f.code] for f in schema.attributes})
    types.update({f.column: pa.string() for f in schema.datasets})
    return types


def read_rows(
    data: pa.Buffer, types: dict[str, pa.DataType], include: list[str] | None = None
) -> pa.Table:
    """Parse TAB-separated rows, every column of the type given (only the columns
    `include`, if given); `pa.ArrowInvalid` for a row Arrow refuses (empty lines
    included: no index has one)."""
    return pa_csv.read_csv(
        pa.BufferReader(data),
        read_options=pa_csv.ReadOptions(
            column_names=list(types),
            block_size=MAX_LINE_BYTES,
            # one block, no threads: Arrow's pool, started and left at once, can
            # abort the process at its exit ("terminate called without an active
            # exception", pyarrow 22)
            use_threads=data.size > MAX_LINE_BYTES,
        ),
        parse_options=pa_csv.ParseOptions(
            delimiter="\t",
            quote_char=False,
            escape_char=False,
            double_quote=False,
            ignore_empty_lines=False,
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types=types,
            include_columns=include,
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            check_utf8=True,
        ),
    )


def _refuses(data: bytes, types: dict[str, pa.DataType]) -> bool:
    try:
        read_rows(pa.py_buffer(data), types)
    except pa.ArrowInvalid:
        return True
    return False


def _text(cell: bytes) -> str:
    """A cell for a message: its text, quoted (bytes when it is not UTF-8)."""
    try:
        return repr(cell.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(cell)


class Rows:
    """The rows of an index (its bytes from line 3 on), to name what is wrong in them.

    Row ``r`` is line ``r + 3``: the parser refuses empty lines and lone CRs, so
    Arrow's rows are the lines of the file.
    """

    def __init__(self, raw: bytes, start: int, where: object, schema: Schema) -> None:
        self.raw, self.start, self.where, self.schema = raw, start, where, schema
        self.columns = schema.columns
        self.types = column_types(schema)

    @cached_property
    def _ends(self) -> npt.NDArray[np.int64]:
        """Where each row's ``\\n`` is in `raw` (a line cut short ends at the end)."""
        body = np.frombuffer(self.raw, np.uint8, offset=self.start)
        ends = np.flatnonzero(body == ord("\n")) + self.start
        if len(self.raw) > self.start and self.raw[-1:] != b"\n":
            ends = np.append(ends, len(self.raw))
        return ends

    def line(self, row: int) -> bytes:
        """Row `row`'s text, without its line end."""
        begin = self.start if row == 0 else int(self._ends[row - 1]) + 1
        end = int(self._ends[row]) if row < len(self._ends) else begin
        return self.raw[begin:end].rstrip(b"\r")

    def cell(self, row: int, column: str) -> bytes:
        cells = self.line(row).split(b"\t")
        k = self.columns.index(column)
        return cells[k] if k < len(cells) else b""

    def column_text(self, column: str) -> pa.ChunkedArray:
        """One column of every row, as the text it holds (the rows parsed again)."""
        types = dict.fromkeys(self.columns, pa.string())
        data = pa.py_buffer(self.raw)[self.start :]
        return read_rows(data, types, [column]).column(column)

    def read(self, row: int) -> str:
        """Which read a row holds: ``read 'ID'``, or ``row N`` without IDs."""
        id_field = self.schema.id_field
        if id_field is None:
            return f"row {row}"
        rid = self.cell(row, self.schema[id_field].column)
        return f"read {rid[:60].decode('utf-8', 'replace')!r}"

    def error(self, row: int, column: str, problem: str) -> SZFormatError:
        """`problem` with the cell in `column` of `row`, located."""
        return SZFormatError(
            f"{self.where}: line {row + 3} ({self.read(row)}), column {column!r}: {problem}"
        )

    def bad_cell(self, row: int, column: str, what: str) -> SZFormatError:
        return self.error(row, column, f"{_text(self.cell(row, column))} is not {what}")

    def refused(self, exc: Exception) -> SZFormatError:
        """The first row Arrow refused, named: a line longer than Arrow's blocks, or
        else the one line left when the rows are halved again and again."""
        starts = np.concatenate([[self.start], self._ends[:-1] + 1])
        lengths = self._ends - starts
        if len(lengths) and lengths.max() >= MAX_LINE_BYTES:
            row = int(np.argmax(lengths >= MAX_LINE_BYTES))
            return SZFormatError(
                f"{self.where}: line {row + 3} is {lengths[row]} bytes long, "
                f"more than an index line may be ({MAX_LINE_BYTES})"
            )
        lo, hi = self.start, len(self.raw)
        while True:
            mid = self.raw.rfind(b"\n", lo, (lo + hi) // 2) + 1
            if not mid:
                mid = self.raw.find(b"\n", (lo + hi) // 2, hi - 1) + 1
            if not mid:
                break  # one line left
            if _refuses(self.raw[lo:mid], self.types):
                hi = mid
            elif _refuses(self.raw[mid:hi], self.types):
                lo = mid
            else:  # pragma: no cover - each half parses alone but not together
                return SZFormatError(f"{self.where}: malformed index: {str(exc)[:200]!r}")
        row = self.raw.count(b"\n", self.start, lo)
        return self._diagnose(row, self.raw[lo:hi].rstrip(b"\n").rstrip(b"\r"), exc)

    def _diagnose(self, row: int, line: bytes, exc: Exception) -> SZFormatError:
        number, n = row + 3, len(self.columns)
        if not line:
            return SZFormatError(f"{self.where}: line {number} is empty")
        cells = line.split(b"\t")
        if len(cells) != n:
            names = " ".join(self.columns)
            names = names if len(names) <= 100 else names[:100] + " ..."
            return SZFormatError(
                f"{self.where}: line {number} has {len(cells)} cells, expected {n} "
                f"({names!r}): {line[:80]!r}"
            )
        suspects = self.columns  # halved until one is left: the column Arrow refuses
        while len(suspects) > 1:
            half = suspects[: len(suspects) // 2]
            suspects = half if self._refuses_in(line, half) else suspects[len(half) :]
        if self._refuses_in(line, suspects):
            return self.bad_cell(row, suspects[0], self._what(suspects[0]))
        return SZFormatError(  # pragma: no cover - every cell parses alone
            f"{self.where}: line {number}: malformed: {str(exc)[:200]!r}"
        )

    def _refuses_in(self, line: bytes, columns: list[str]) -> bool:
        """Whether Arrow refuses `line` with only `columns` typed (the rest as bytes)."""
        types = dict.fromkeys(self.columns, pa.binary())
        types.update({c: self.types[c] for c in columns})
        return _refuses(line + b"\n", types)

    def _what(self, column: str) -> str:
        if column in ("LENGTH", "OFFSET"):
            return "a byte count"
        f: Field = self.schema[column.split(":")[0]]
        return "UTF-8 text" if f.group == "D" else _WHAT[f.code]


def check_float_attributes(table: pa.Table, rows: Rows) -> dict[str, np.ndarray[Any, Any]]:
    """Refuse float attributes beyond their type's range (text Arrow or numpy turned
    into an infinity) and F128 text that is no number; return the F16, F32 and
    F64 columns, converted on the way (F128 ones convert on first use)."""
    converted: dict[str, np.ndarray[Any, Any]] = {}
    for f in rows.schema.attributes:
        column = table.column(f.column)
        if f.code == "F128":
            _check_long_doubles(column, f, rows)
        elif f.code in ("F16", "F32", "F64"):
            values = numeric(column)
            if f.code == "F16":
                with np.errstate(over="ignore"):
                    values = values.astype(np.float16)
            infinite = np.flatnonzero(np.isinf(values))
            if len(infinite):
                _check_infinities(rows.column_text(f.column).take(infinite), infinite, f, rows)
            converted[f.name] = values
    return converted


def _check_infinities(
    text: pa.ChunkedArray, infinite: npt.NDArray[np.intp], f: Field, rows: Rows
) -> None:
    """Refuse cells that parsed to an infinity without spelling one (``1e39``)."""
    spelled = pc.utf8_ltrim(pc.utf8_lower(pc.utf8_trim_whitespace(text)), characters="+-")
    ok = pc.is_in(spelled, value_set=pa.array(sorted(_INF_TEXT))).to_numpy(zero_copy_only=False)
    for k in np.flatnonzero(~ok)[:1].tolist():
        row = int(infinite[k])
        raise rows.error(row, f.column, f"{text[k].as_py()!r} is out of the range of {f.dtype}")


def _check_long_doubles(column: pa.ChunkedArray, f: Field, rows: Rows) -> None:
    """Refuse F128 cells longer than `_F128_TEXT`, not numbers to Arrow (whose float
    syntax numpy's long double parser takes too), or beyond long double's range:
    only cells beyond float64's range are parsed as long doubles here."""
    lengths = numeric(pc.binary_length(column))
    for row in np.flatnonzero(lengths > _F128_TEXT)[:1].tolist():
        text = column[row].as_py()
        raise rows.error(row, f.column, f"{text[:40]!r}... ({len(text)} characters) is too long")
    try:
        values = numeric(pc.cast(column, pa.float64()))
    except pa.ArrowInvalid:
        row = _first_refused(column, pa.float64())
        raise rows.error(row, f.column, f"{column[row].as_py()!r} is not an F128 value") from None
    beyond = np.flatnonzero(np.isinf(values))
    if len(beyond):
        text = column.take(beyond)
        infinite = np.flatnonzero(np.isinf(long_doubles(text)))
        if len(infinite):
            _check_infinities(text.take(infinite), beyond[infinite], f, rows)


def _first_refused(column: pa.ChunkedArray, to: pa.DataType) -> int:
    """The first element of `column` that does not cast to `to` (by halving)."""
    lo, hi = 0, len(column)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            pc.cast(column.slice(lo, mid - lo), to)
        except pa.ArrowInvalid:
            hi = mid
        else:
            lo = mid
    return lo


def long_doubles(text: pa.ChunkedArray) -> np.ndarray[Any, Any]:
    """F128 text as long doubles. Text beyond their range becomes inf or 0, as
    Arrow makes of other floats; numpy's warnings about it are not shown."""
    values = np.asarray(text.to_numpy(zero_copy_only=False), dtype=str)
    with _WARNINGS, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return values.astype(np.longdouble)
