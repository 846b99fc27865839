"""The ``table`` file of a store: its index, parsed, in binary columns, to open it fast.

Parsing a 1 M-read index (150 MB of text) takes about a second, and a dict of its
read IDs half a second more; opening many small stores is mostly parsing. A
writer of a store of `MIN_READS` reads or more therefore also writes ``table``
(of the columns it gathered while writing, `TableColumns`): every column of
the parsed index as a little-endian array, and the read IDs sorted (fixed
width, for ``np.searchsorted``) with the row of each. pysz reads only ``index`` and
``dat``; a store without ``table`` (pysz's, or a small one) opens as before.

The file is never trusted on its own word. Its first line is a JSON head, a
TAB and the CRC-32 of that JSON in hex; the head gives the size, CRC-32 and
file stamp (`index_stamp`) of the index it was made from, the place and type
of every section, and where the CRC-32 of each block of `BLOCK_ITEMS` values
is::

    {"xsz_table": 1, "index_bytes": 146599571, "index_crc32": 3735928559,
     "index_stamp": [146599571, 1234, 1733433600000000000, 1733433600000000000],
     "rows": 1000000, "columns": ["LENGTH", "OFFSET", ...], "unique_ids": true,
     "block_items": 256, "sections": [["OFFSET", "<i8", 0, 8000000, CRC32], ...],
     "crcs": [START, SIZE, CRC32]}\t1a2b3c4d\n<sections><block CRC-32s>

A store is opened from its table only when its index is the one the table was
made from: the very file, unchanged (same stamp: size, inode, mtime and ctime,
which the kernel moves on at every write), or else a file of exactly that size
and CRC-32 (the index is hashed, not parsed, and checked against the
``checksums`` file as any open does); when its column line is the table's;
and when the sections the open needs (byte ranges, frame sizes, counts) match
their CRC-32s and pass the checks `read_index` makes of the same numbers.
Otherwise (an edited, stale, cut or foreign table) the table is ignored and
the index parsed as text, which names whatever is wrong in it. Every other
block is checked against its CRC-32 when it is first read: a table changed in
place after the open raises `SZFormatError`. ``xsz verify`` hashes the index
and compares every section with its text (`SZReader.check_table`).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz.errors import SZFormatError
from xsz.format._checksums import crc32

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    import numpy.typing as npt

    from xsz.format._index import SZIndex
    from xsz.format._schema import Field, Schema
    from xsz.source import ByteSource

__all__ = [
    "BLOCK_ITEMS",
    "index_stamp",
    "MIN_READS",
    "TABLE",
    "IndexTable",
    "TableColumns",
    "Unusable",
    "format_table",
    "read_table_head",
    "write_table",
]

log = logging.getLogger(__name__)

TABLE: Final = "table"
"""The file's name inside a store directory."""
VERSION: Final = 1
MIN_READS: Final = 1000
"""Stores of this many reads or more get a ``table`` by default. The writer makes it
of the columns it gathers anyway (2-4% more CPU for the write), and an open plus
a read by ID takes half the time of parsing the text at 1,000 reads, a quarter
at 10,000 (BENCHMARKS.md, "Issue 11: writing, threads and the table")."""
BLOCK_ITEMS: Final = 256
"""Values per block: every block of a section has its own CRC-32, so one read's
attributes or ID are read (and checked) a few kB at a time, not whole columns."""
_PROMOTE: Final = 16
"""A section is read whole once more than a 16th of its blocks (and this many) were
read alone (then its blocks have cost a 16th of reading it whole, and lookups go
on: 1,000 random lookups of 1 M reads read whole columns after 245); a lookup of
more IDs than this at once reads the sorted IDs whole."""
MAX_ID_BYTES: Final = 256
"""The sorted ID section is left out when an ID is longer (fixed width)."""
CELL_BYTES: Final = 1 << 22
"""`TableColumns` types the attribute cells of the rows it is given this many bytes
at a time (their text is all the memory it holds beyond the columns themselves)."""
_ALIGN: Final = 64
_HEAD_LIMIT: Final = 1 << 24
_MAX_BYTES: Final = (1 << 62) - 1
_NUMERIC: Final = frozenset({"<i2", "<i4", "<u2", "<u4", "<f2", "<f4", "<f8", "<i8", "|u1"})


@dataclass(frozen=True)
class Section:
    name: str
    dtype: np.dtype[Any]
    start: int
    """Where it starts, from the end of the head line."""
    nbytes: int
    first_block: int
    crc32: int
    """Of the whole section (each block has its own too)."""
    """Where its blocks' CRC-32s start in the ``crcs`` section."""

    @property
    def items(self) -> int:
        return self.nbytes // self.dtype.itemsize


@dataclass(frozen=True)
class TableHead:
    index_bytes: int
    index_crc32: int
    rows: int
    columns: list[str]
    unique_ids: bool
    block_items: int
    sections: dict[str, Section]
    crcs: tuple[int, int, int]
    """Where the blocks' CRC-32s are (from the end of the head line), their size,
    and their own CRC-32."""
    body_offset: int
    index_stamp: list[int] | None
    """The index file's `index_stamp` when the table was written."""


# --- writing ---------------------------------------------------------------------------


def text_buffers(column: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """A text column of Arrow's as the offset of each value (one more than values)
    and its UTF-8 bytes back to back, without a Python object a value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pc.cast(column, pa.large_binary())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    offsets_buf, data_buf = array.buffers()[1], array.buffers()[2]
    if offsets_buf is None:
        return np.zeros(len(array) + 1, np.int64), np.zeros(0, np.uint8)
    offsets = np.frombuffer(offsets_buf, np.int64, len(array) + 1, array.offset * 8)
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return offsets - offsets[0], data[int(offsets[0]) : int(offsets[-1])]


def _text_sections(index: SZIndex, f: Field) -> list[tuple[str, np.ndarray[Any, Any]]]:
    """A text (or F128) attribute as its UTF-8 bytes back to back and where each starts."""
    offsets, data = text_buffers(index.arrow_table().column(f.column))
    return [(f"offsets:{f.name}", offsets), (f"utf8:{f.name}", data)]


def fixed_width(offsets: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]) -> Any:
    """Text values (as `text_buffers` gives them) as NUL-padded fixed-width bytes;
    ``None`` when one holds a NUL (it would not compare) or is over `MAX_ID_BYTES`."""
    lengths = np.diff(offsets)
    width = int(lengths.max()) if len(lengths) else 0
    if width > MAX_ID_BYTES or (len(data) and not data.all()):
        return None
    width = max(width, 1)
    if len(lengths) and (lengths == width).all():  # all of one length, as UUIDs are
        return data.view(f"S{width}")
    keys = np.zeros((len(lengths), width), np.uint8)
    for size in np.unique(lengths).tolist():  # few lengths: one gather each
        rows = np.flatnonzero(lengths == size)
        keys[rows, :size] = data[offsets[rows, None] + np.arange(size)]
    return keys.reshape(-1).view(f"S{width}")


def sorted_ids(column: Any) -> tuple[Any, npt.NDArray[np.int64]] | None:
    """A text ID column of Arrow's as its IDs sorted (fixed width) and the row of each
    (equal IDs in row order); ``None`` when `fixed_width` cannot hold them."""
    keys = fixed_width(*text_buffers(column))
    if keys is None:
        return None
    order = _sort_order(keys)
    return keys[order], order.astype(np.int64)


def _id_sections(
    index: SZIndex, f: Field, block_items: int
) -> tuple[list[tuple[str, np.ndarray[Any, Any]]], bool]:
    """The read IDs sorted, fixed width (NUL-padded), the row of each (the rows of
    equal IDs in file order) and the first ID of each block; none when an ID holds
    a NUL or is over `MAX_ID_BYTES`. Also whether the IDs are unique."""
    found = sorted_ids(index.arrow_table().column(f.column))
    if found is None:
        return [], index.ids_unique
    ids, rows = found
    unique = not bool((ids[1:] == ids[:-1]).any())
    sections = [("ids", ids), ("id_rows", rows), ("id_fences", ids[::block_items])]
    return sections, unique


def _sort_order(ids: np.ndarray[Any, Any]) -> npt.NDArray[np.intp]:
    """The stable sort order of fixed-width byte strings, 8 bytes at a time (a sort
    of ``uint64``, again only while some IDs share every byte so far): much faster
    than sorting the strings themselves."""
    n, width = len(ids), ids.dtype.itemsize
    words = -(-width // 8)
    padded = np.zeros((n, words * 8), np.uint8)
    padded[:, :width] = ids.view(np.uint8).reshape(n, width)
    columns = padded.view(">u8")
    order = np.argsort(columns[:, 0])
    for j in range(1, words + 1):  # then by the next word, within runs equal so far
        done = columns[order, :j]
        ties = (done[1:] == done[:-1]).all(axis=1)
        if not ties.any():
            break
        runs = np.zeros(len(order), dtype=bool)
        runs[1:] |= ties
        runs[:-1] |= ties
        at = np.flatnonzero(runs)  # only the IDs in runs are sorted again
        group = np.cumsum(np.concatenate([[True], ~ties]))[at]
        sub = order[at]
        last = sub if j == words else columns[sub, j]  # equal IDs: in row order
        order[at] = sub[np.lexsort((last, group))]
    return order


def format_table(
    index: SZIndex,
    index_bytes: int,
    index_crc32: int,
    *,
    block_items: int = BLOCK_ITEMS,
    stamp: Sequence[int] | None = None,
) -> list[bytes | memoryview]:
    """The content of a ``table`` file for `index` (parsed from text of `index_bytes`
    bytes whose CRC-32 is `index_crc32`), as pieces to write one after the other."""
    arrays: list[tuple[str, np.ndarray[Any, Any]]] = [
        ("LENGTH", index.length),
        ("OFFSET", index.offset),
    ]
    for f in index.schema.datasets:
        arrays.append((f"size:{f.name}", index.frame_size[f.name]))
        if f.has_count:
            arrays.append((f"count:{f.name}", index.count[f.name]))
    for f in index.schema.attributes:
        if f.is_text or f.code == "F128":
            arrays += _text_sections(index, f)
        else:
            arrays.append((f"attr:{f.name}", index.attribute(f.name)))
    id_field = index.schema.id_field
    unique = True
    if id_field is not None:
        more, unique = _id_sections(index, index.schema[id_field], block_items)
        arrays += more
    return _format(
        index.schema, len(index), arrays, unique, index_bytes, index_crc32, block_items, stamp
    )


def _format(
    schema: Schema,
    rows: int,
    arrays: list[tuple[str, np.ndarray[Any, Any]]],
    unique: bool,
    index_bytes: int,
    index_crc32: int,
    block_items: int,
    stamp: Sequence[int] | None,
) -> list[bytes | memoryview]:
    """The ``table`` file of `rows` reads whose sections are `arrays`, as pieces."""
    sections: list[list[object]] = []
    body: list[bytes | memoryview] = []  # the arrays' own memory: no copy of the table
    crcs: list[int] = []
    at = 0
    for name, array in arrays:
        dtype = np.dtype(array.dtype).newbyteorder("<") if array.dtype.itemsize > 1 else array.dtype
        data = memoryview(np.ascontiguousarray(array, dtype=dtype).reshape(-1).view(np.uint8))
        pad = -at % _ALIGN
        body.append(b"\0" * pad)
        at += pad
        sections.append([name, dtype.str, at, len(data), crc32(data)])
        step = block_items * dtype.itemsize
        crcs += [crc32(data[k : k + step]) for k in range(0, len(data), step)]
        body.append(data)
        at += len(data)
    crc_bytes = np.asarray(crcs, dtype="<u4").tobytes()
    at += -at % _ALIGN
    body.append(b"\0" * (at - sum(len(b) for b in body)))
    body.append(crc_bytes)
    head = json.dumps(
        {
            "xsz_table": VERSION,
            "index_bytes": index_bytes,
            "index_crc32": index_crc32,
            "index_stamp": list(stamp) if stamp is not None else None,
            "rows": rows,
            "columns": schema.columns,
            "unique_ids": unique,
            "block_items": block_items,
            "sections": sections,
            "crcs": [at, len(crc_bytes), crc32(crc_bytes)],
        },
        separators=(",", ":"),
    ).encode()
    return [head + b"\t%08x\n" % crc32(head), *body]


class TableColumns:
    """The sections of a ``table``, gathered a batch of rows at a time while a writer
    makes the index (no parse of the whole index text at commit, no Arrow table of
    it): byte counts, frame sizes and counts as the writer has them, attributes
    from each batch's cells (as `read_index` types them). Holds the columns
    themselves (8 bytes a number, the text's UTF-8 bytes), the size of the table
    to be written; `arrays` gives the very sections `format_table` makes of the
    index parsed from the same text.
    """

    def __init__(self, schema: Schema, head: bytes, parse: Callable[[bytes], SZIndex]) -> None:
        from xsz.format._index_rows import column_types

        self.schema = schema
        self.head = head  # the index's first two lines (for rows that come as text)
        self._parse = parse  # `read_index`
        self._lines: list[bytes] = []  # rows that came as text, not parsed yet
        self._line_bytes = 0
        types = column_types(schema)
        self._attr_types = {f.column: types[f.column] for f in schema.attributes}
        self.rows = 0
        self._cells: list[bytes] = []  # attribute cells not typed yet, a batch's a piece
        self._cell_bytes = 0
        self._numbers: dict[str, list[np.ndarray[Any, Any]]] = {"LENGTH": [], "OFFSET": []}
        for f in schema.datasets:
            self._numbers[f"size:{f.name}"] = []
            if f.has_count:
                self._numbers[f"count:{f.name}"] = []
        self._texts: dict[str, list[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]]] = {}
        for f in schema.attributes:
            if f.is_text or f.code == "F128":
                self._texts[f.name] = []
            else:
                self._numbers[f"attr:{f.name}"] = []

    def add(
        self,
        lengths: Sequence[int],
        start: int,
        sizes: npt.NDArray[np.int64],
        counts: Sequence[Sequence[int]],
        cells: Sequence[str],
    ) -> None:
        """Rows made by the writer: their byte `lengths` (the first at byte `start` of
        ``dat``), frame `sizes` (a row a read, a column a dataset), the `counts` of
        each streamvbyte dataset and the attribute `cells` of each read (TAB-joined)."""
        self._parse_lines()  # the rows before these first
        n = len(lengths)
        length = np.asarray(lengths, dtype=np.int64).reshape(-1)
        offset = np.empty(n, np.int64)
        if n:
            offset[0] = start
            np.cumsum(length[:-1], out=offset[1:])
            offset[1:] += start
        self._numbers["LENGTH"].append(length)
        self._numbers["OFFSET"].append(offset)
        k = 0
        for j, f in enumerate(self.schema.datasets):
            self._numbers[f"size:{f.name}"].append(np.array(sizes[:, j], np.int64))
            if f.has_count:
                self._numbers[f"count:{f.name}"].append(np.asarray(counts[k], np.int64))
                k += 1
        if self.schema.attributes and n:
            text = ("\n".join(cells) + "\n").encode("utf-8")
            self._cells.append(text)
            self._cell_bytes += len(text)
            if self._cell_bytes >= CELL_BYTES:
                self._parse_cells()
        self.rows += n

    def _parse_cells(self) -> None:
        """Type the attribute cells held back, many batches' at once (each parse
        costs Arrow's CSV reader a few milliseconds however few rows it gets)."""
        import pyarrow as pa

        from xsz.format._index_rows import read_rows

        if not self._cells:
            return
        text = b"".join(self._cells)
        self._cells.clear()
        self._cell_bytes = 0
        table = read_rows(pa.py_buffer(text), self._attr_types)
        for f in self.schema.attributes:
            column = table.column(f.column)
            if f.name in self._texts:
                self._texts[f.name].append(text_buffers(column))
            else:
                self._numbers[f"attr:{f.name}"].append(_attribute_values(f, column))

    def add_lines(self, lines: bytes) -> None:
        """Rows that come as index text (copied from another store, say): parsed as
        `read_index` parses them, `CELL_BYTES` of them at a time."""
        self._parse_cells()  # the rows before these first
        self._lines.append(lines)
        self._line_bytes += len(lines)
        if self._line_bytes >= CELL_BYTES:
            self._parse_lines()

    def _parse_lines(self) -> None:
        if not self._lines:
            return
        text = b"".join(self._lines)
        self._lines.clear()
        self._line_bytes = 0
        index = self._parse(self.head + text)
        self._numbers["LENGTH"].append(index.length)
        self._numbers["OFFSET"].append(index.offset)
        for f in self.schema.datasets:
            self._numbers[f"size:{f.name}"].append(index.frame_size[f.name])
            if f.has_count:
                self._numbers[f"count:{f.name}"].append(index.count[f.name])
        for f in self.schema.attributes:
            if f.name in self._texts:
                self._texts[f.name].append(text_buffers(index.arrow_table().column(f.column)))
            else:
                self._numbers[f"attr:{f.name}"].append(index.attribute(f.name))
        self.rows += len(index)

    def _number(self, name: str, dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
        parts = self._numbers.pop(name)
        return np.concatenate(parts) if parts else np.zeros(0, dtype)

    def _text(self, name: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
        parts = self._texts.pop(name)
        offsets = [np.zeros(1, np.int64)]
        at = 0
        for o, data in parts:
            offsets.append(o[1:] + at)
            at += len(data)
        data = np.concatenate([d for _, d in parts]) if parts else np.zeros(0, np.uint8)
        return np.concatenate(offsets), data

    def arrays(
        self, block_items: int = BLOCK_ITEMS
    ) -> tuple[list[tuple[str, np.ndarray[Any, Any]]], bool]:
        """The table's sections (as `format_table` makes them) and whether the IDs are
        unique; the columns gathered are handed over (call once)."""
        self._parse_lines()
        self._parse_cells()
        i8 = np.dtype(np.int64)
        arrays = [("LENGTH", self._number("LENGTH", i8)), ("OFFSET", self._number("OFFSET", i8))]
        for f in self.schema.datasets:
            arrays.append((f"size:{f.name}", self._number(f"size:{f.name}", i8)))
            if f.has_count:
                arrays.append((f"count:{f.name}", self._number(f"count:{f.name}", i8)))
        id_text = None
        for f in self.schema.attributes:
            if f.name in self._texts:
                offsets, data = self._text(f.name)
                arrays += [(f"offsets:{f.name}", offsets), (f"utf8:{f.name}", data)]
                if f.name == self.schema.id_field:
                    id_text = offsets, data
            else:
                arrays.append((f"attr:{f.name}", self._number(f"attr:{f.name}", f.dtype)))
        unique = True
        if id_text is not None:
            keys = fixed_width(*id_text)
            if keys is None:
                offsets, data = id_text
                text = data.tobytes()
                ids = {text[a:b] for a, b in _pairs(offsets)}
                unique = len(ids) == self.rows
            else:
                order = _sort_order(keys)
                ids = keys[order]
                unique = not bool((ids[1:] == ids[:-1]).any())
                step = ids[::block_items]
                arrays += [("ids", ids), ("id_rows", order.astype(np.int64)), ("id_fences", step)]
        return arrays, unique

    def format(
        self,
        index_bytes: int,
        index_crc32: int,
        *,
        block_items: int = BLOCK_ITEMS,
        stamp: Sequence[int] | None = None,
    ) -> list[bytes | memoryview]:
        """The content of the ``table`` file, as `format_table` makes it of the index."""
        arrays, unique = self.arrays(block_items)
        return _format(
            self.schema, self.rows, arrays, unique, index_bytes, index_crc32, block_items, stamp
        )


def _attribute_values(f: Field, column: Any) -> np.ndarray[Any, Any]:
    """A numeric attribute column of Arrow's as `SZIndex.attribute` gives it."""
    from xsz.format._index_rows import numeric

    values = numeric(column)
    if f.code == "F16":
        with np.errstate(over="ignore"):
            return values.astype(np.float16)
    return values.astype(f.dtype) if values.dtype != f.dtype else values


def write_table(
    directory: Path,
    index: SZIndex | TableColumns,
    index_bytes: int,
    index_crc32: int,
    *,
    block_items: int = BLOCK_ITEMS,
) -> None:
    """Write ``directory/table`` for `index` (fsynced), which must have been parsed from
    ``directory/index`` (`index_bytes` bytes, CRC-32 `index_crc32`), or gathered as
    it was written (`TableColumns`): its file's stamp is recorded, so that an open
    need not hash it again while it is unchanged."""
    stamp = index_stamp(os.stat(directory / "index"))
    if isinstance(index, TableColumns):
        pieces = index.format(index_bytes, index_crc32, block_items=block_items, stamp=stamp)
    else:
        pieces = format_table(index, index_bytes, index_crc32, block_items=block_items, stamp=stamp)
    with open(directory / TABLE, "wb") as fh:
        fh.writelines(pieces)
        fh.flush()
        os.fsync(fh.fileno())


def index_stamp(st: os.stat_result) -> list[int]:
    """What changes whenever the index file does: its size, its inode, and the times
    of its last change (``ctime`` is set by the kernel on every write, and no
    program can set it back)."""
    return [st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns]


# --- reading ---------------------------------------------------------------------------


def read_table_head(source: ByteSource) -> TableHead | None:
    """The head of the store's ``table`` (`None` when it has none, or a damaged one)."""
    size = source.size(TABLE)
    if size is None:
        return None
    start = source.read(TABLE, 0, min(size, _HEAD_LIMIT))
    try:
        return _parse_head(start, size)
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        log.warning("%s/%s is ignored: %s", source.location, TABLE, exc)
        return None


def _parse_head(start: bytes, size: int) -> TableHead:
    end = start.find(b"\n")
    head, tab, check = start[:end].rpartition(b"\t")
    if end < 0 or not tab or len(check) != 8 or check != b"%08x" % crc32(head):
        raise ValueError("the first line does not match its CRC-32")
    doc = json.loads(head)
    if not isinstance(doc, dict) or doc.get("xsz_table") != VERSION:
        raise ValueError(f"not version {VERSION} of the format")
    numbers = [doc[k] for k in ("index_bytes", "index_crc32", "rows", "block_items")]
    crcs = doc["crcs"]
    if not isinstance(crcs, list) or len(crcs) != 3:
        raise TypeError("'crcs' is not [start, size, CRC-32]")
    if not all(type(v) is int and v >= 0 for v in [*numbers, *crcs]) or not numbers[3]:
        raise TypeError("sizes and CRCs must be non-negative integers")
    columns = doc["columns"]
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise TypeError("'columns' is not a list of names")
    stamp = doc.get("index_stamp")
    if stamp is not None and not (
        isinstance(stamp, list) and len(stamp) == 4 and all(type(v) is int for v in stamp)
    ):
        raise TypeError("'index_stamp' is not four integers")
    if not isinstance(doc["unique_ids"], bool):
        raise TypeError("'unique_ids' is not true or false")
    body = size - (end + 1)
    if crcs[0] + crcs[1] != body or crcs[1] % 4:
        raise ValueError("the blocks' CRC-32s are not at the end of the file")
    sections: dict[str, Section] = {}
    first = 0
    for entry in doc["sections"]:
        name, dtype, at, nbytes, crc = entry
        if not isinstance(name, str) or not isinstance(dtype, str):
            raise TypeError("a section's name and type are text")
        if not all(type(v) is int and v >= 0 for v in (at, nbytes, crc)) or at + nbytes > crcs[0]:
            raise ValueError(f"section {name!r} lies outside the file")
        dt = np.dtype(dtype) if dtype in _NUMERIC or _is_id_dtype(dtype) else None
        if dt is None or nbytes % dt.itemsize:
            raise ValueError(f"section {name!r} has the type {dtype!r}")
        section = sections[name] = Section(name, dt, at, nbytes, first, crc)
        first += -(-section.items // numbers[3])
    if first * 4 != crcs[1]:
        raise ValueError(f"{crcs[1] // 4} block CRC-32s for {first} blocks")
    return TableHead(
        numbers[0],
        numbers[1],
        numbers[2],
        columns,
        doc["unique_ids"],
        numbers[3],
        sections,
        (crcs[0], crcs[1], crcs[2]),
        end + 1,
        stamp,
    )


def _is_id_dtype(text: str) -> bool:
    return text[:2] == "|S" and text[2:].isdigit() and 0 < int(text[2:]) <= MAX_ID_BYTES


class Unusable(Exception):
    """The table cannot stand for the index (the index is parsed instead)."""


class IndexTable:
    """The sections of a store's ``table``, read a block at a time or whole; every
    block read is checked against its CRC-32.

    Raises `Unusable` when the blocks' CRC-32s are damaged.
    """

    def __init__(self, source: ByteSource, head: TableHead) -> None:
        self.source, self.head = source, head
        self.schema: Schema | None = None
        """The index's schema (set by `xsz.format._index.index_from_table`)."""
        self.where = f"{source.location}/{TABLE}"
        self._lock = threading.Lock()
        self._whole: dict[str, np.ndarray[Any, Any]] = {}
        self._blocks: dict[tuple[str, int], np.ndarray[Any, Any]] = {}
        self._partial: dict[str, int] = {}
        self._checked: set[str] = set()
        self._sections: dict[tuple[str, str, int | None], Section] = {}
        self._has_ids = all(k in head.sections for k in ("ids", "id_rows", "id_fences"))
        at, nbytes, crc = head.crcs
        data = source.read(TABLE, head.body_offset + at, nbytes)
        if len(data) != nbytes or crc32(data) != crc:
            raise Unusable("the blocks' CRC-32s do not match their own")
        self._crcs = np.frombuffer(data, "<u4").tolist()

    def __len__(self) -> int:
        return self.head.rows

    def _section(self, name: str, dtype: str, items: int | None) -> Section:
        """Section `name`, which must hold `items` values (default: one a row) of `dtype`."""
        key = (name, dtype, items)
        s = self._sections.get(key)
        if s is not None:
            return s
        s = self.head.sections.get(name)
        items = self.head.rows if items is None else items
        if s is None:
            raise Unusable(f"it has no section {name!r}")
        if s.dtype.str != np.dtype(dtype).str or s.items != items:
            raise Unusable(f"section {name!r} is not {items} values of {dtype}")
        self._sections[key] = s
        return s

    def _read(self, s: Section, b0: int, b1: int) -> np.ndarray[Any, Any]:
        """Blocks `b0` to `b1` of `s`, each checked against its CRC-32."""
        step = self.head.block_items * s.dtype.itemsize
        lo, hi = b0 * step, min(b1 * step, s.nbytes)
        data = self.source.read(TABLE, self.head.body_offset + s.start + lo, hi - lo)
        if len(data) != hi - lo:
            raise Unusable(f"section {s.name!r} is cut short")
        if lo == 0 and hi == s.nbytes:  # the whole section: its own CRC-32, at once
            if crc32(data) != s.crc32:
                raise Unusable(f"section {s.name!r} does not match its CRC-32")
        else:
            view = memoryview(data)
            for b in range(b0, b1):
                found = crc32(view[(b - b0) * step : (b - b0 + 1) * step])
                if found != self._crcs[s.first_block + b]:
                    raise Unusable(f"block {b} of section {s.name!r} does not match its CRC-32")
        array = np.frombuffer(data, s.dtype)
        return array.astype(s.dtype.newbyteorder("="), copy=False)

    def array(self, name: str, dtype: str, items: int | None = None) -> np.ndarray[Any, Any]:
        """Section `name`, whole, as `items` values (default: one a row) of `dtype`.

        Raises `Unusable` when the section is missing, of another type or size, or
        a block of it does not match its CRC-32.
        """
        found = self._whole.get(name)
        if found is not None:
            return found
        s = self._section(name, dtype, items)
        array = self._read(s, 0, -(-s.items // self.head.block_items))
        with self._lock:
            self._whole[name] = array
            for key in [k for k in self._blocks if k[0] == name]:
                del self._blocks[key]
        return array

    def items(
        self, name: str, dtype: str, lo: int, hi: int, items: int | None = None
    ) -> np.ndarray[Any, Any]:
        """Items `lo` to `hi` of section `name`: from the blocks that hold them (the
        whole section once many of its blocks were asked for)."""
        found = self._whole.get(name)
        if found is not None:
            return found[lo:hi]
        s = self._section(name, dtype, items)
        if not 0 <= lo <= hi <= s.items:
            raise Unusable(f"section {name!r} has no items {lo}..{hi}")
        per = self.head.block_items
        b0, b1 = lo // per, -(-hi // per)
        if b1 - b0 != 1:
            return self._read(s, b0, b1)[lo - b0 * per : hi - b0 * per]
        block = self._blocks.get((name, b0))
        if block is None:
            with self._lock:
                self._partial[name] = self._partial.get(name, 0) + 1
                whole = self._partial[name] > max(_PROMOTE, -(-s.items // per) // 16)
            if whole:
                return self.array(name, dtype, items)[lo:hi]
            block = self._read(s, b0, b1)
            with self._lock:
                self._blocks[(name, b0)] = block
        return block[lo - b0 * per : hi - b0 * per]

    def has(self, name: str) -> bool:
        return name in self.head.sections

    # --- what the index holds ------------------------------------------------------------

    def numbers(
        self,
    ) -> tuple[
        npt.NDArray[np.int64],
        npt.NDArray[np.int64],
        dict[str, npt.NDArray[np.int64]],
        dict[str, npt.NDArray[np.int64]],
    ]:
        """LENGTH, OFFSET, frame sizes and counts, checked as `read_index` checks them.

        Raises `Unusable` for anything `read_index` would refuse.
        """
        assert self.schema is not None
        length = self.array("LENGTH", "<i8")
        offset = self.array("OFFSET", "<i8")
        for values in (length, offset):
            if len(values) and (values.min() < 0 or values.max() > _MAX_BYTES):
                raise Unusable("a byte count is out of range")
        frame_size, count = {}, {}
        total = np.zeros_like(length)
        for f in self.schema.datasets:
            size = frame_size[f.name] = self.array(f"size:{f.name}", "<i8")
            if len(size) and (size.min() < 0 or size.max() > _MAX_BYTES):
                raise Unusable(f"a frame size of {f.name!r} is out of range")
            if len(self.schema.datasets) > 1:
                np.minimum(total + size, _MAX_BYTES + 1, out=total)
            if f.has_count:  # SZReader refuses counts beyond their frames, by name
                n = count[f.name] = self.array(f"count:{f.name}", "<i8")
                if len(n) and n.min() < 0:
                    raise Unusable(f"a count of {f.name!r} is negative")
        if len(frame_size) == 1:
            total = next(iter(frame_size.values()))
        if frame_size and (total != length).any():
            raise Unusable("frame sizes do not add up to LENGTH")
        return length, offset, frame_size, count

    def attribute(self, f: Field) -> np.ndarray[Any, Any]:
        """A whole attribute column, as `SZIndex.attribute` gives it."""
        try:
            if f.is_text or f.code == "F128":
                offsets = self.array(f"offsets:{f.name}", "<i8", self.head.rows + 1)
                data = self.array(f"utf8:{f.name}", "|u1", self._text_bytes(f, offsets))
                text = data.tobytes()
                values = [text[a:b].decode("utf-8") for a, b in _pairs(offsets)]
                if f.code == "F128":
                    return _long_doubles(values)
                return np.asarray(values, dtype=object) if values else np.zeros(0, dtype=object)
            return self.array(f"attr:{f.name}", _le(f))
        except Unusable as exc:
            raise self._damaged(str(exc)) from None
        except UnicodeDecodeError as exc:
            raise self._damaged(f"attribute {f.name!r} is not UTF-8 ({exc})") from None

    def value(self, f: Field, row: int) -> Any:
        """One read's attribute, from the blocks that hold it."""
        try:
            if f.is_text or f.code == "F128":
                n = self.head.rows + 1
                a, b = self.items(f"offsets:{f.name}", "<i8", row, row + 2, n).tolist()
                total = self._text_bytes(f)
                a, b = (a, b) if 0 <= a <= b <= total else (0, -1)  # refused by items
                text = self.items(f"utf8:{f.name}", "|u1", a, b, total).tobytes().decode()
                return _long_doubles([text])[0] if f.code == "F128" else text
            return self.items(f"attr:{f.name}", _le(f), row, row + 1)[0]
        except Unusable as exc:
            raise self._damaged(str(exc)) from None
        except UnicodeDecodeError as exc:
            raise self._damaged(f"attribute {f.name!r} is not UTF-8 ({exc})") from None

    def _text_bytes(self, f: Field, offsets: npt.NDArray[np.int64] | None = None) -> int:
        """The UTF-8 bytes of attribute `f`; with its `offsets`, checks they are in order."""
        s = self.head.sections.get(f"utf8:{f.name}")
        if s is None:
            raise Unusable(f"it has no section 'utf8:{f.name}'")
        if offsets is not None and (
            offsets[0] != 0 or offsets[-1] != s.nbytes or (np.diff(offsets) < 0).any()
        ):
            raise Unusable(f"the offsets of attribute {f.name!r} are not in order")
        return s.nbytes

    def _damaged(self, problem: str) -> SZFormatError:
        return SZFormatError(
            f"{self.where}: {problem}: the file was changed after it was written "
            f"(remove it, and the store is read from its index)"
        )

    # --- read IDs -----------------------------------------------------------------------

    @property
    def unique_ids(self) -> bool:
        return self.head.unique_ids

    def has_ids(self) -> bool:
        return self._has_ids

    def find(self, read_ids: Sequence[object]) -> npt.NDArray[np.int64]:
        """The row of each of `read_ids` (the last row of equal IDs), -1 for those
        not there (and for anything but a str)."""
        try:
            return self._find(read_ids)
        except Unusable as exc:
            raise self._damaged(str(exc)) from None

    def _find(self, read_ids: Sequence[object]) -> npt.NDArray[np.int64]:
        dtype = self.head.sections["ids"].dtype
        query, valid = _query(read_ids, dtype)
        out = np.full(len(read_ids), -1, dtype=np.int64)
        per, n = self.head.block_items, self.head.rows
        if "ids" in self._whole or len(read_ids) > _PROMOTE:
            keys = self.array("ids", dtype.str)
            rows = self.array("id_rows", "<i8")
            if "sorted" not in self._checked:
                if len(rows) and (
                    rows.min() < 0 or rows.max() >= n or (keys[1:] < keys[:-1]).any()
                ):
                    raise Unusable("its read IDs are not in order")
                self._checked.add("sorted")
            return find_sorted(keys, rows, read_ids)
        fences = self.array("id_fences", dtype.str, -(-n // per))
        blocks = np.searchsorted(fences, query, side="right") - 1
        for k in np.flatnonzero(valid & (blocks >= 0)).tolist():
            lo = int(blocks[k]) * per
            keys = self.items("ids", dtype.str, lo, min(n, lo + per))
            p = int(np.searchsorted(keys, query[k], side="right")) - 1
            if p >= 0 and keys[p] == query[k]:
                row = int(self.items("id_rows", "<i8", lo + p, lo + p + 1)[0])
                if not 0 <= row < n:
                    raise Unusable("a read ID's row is out of range")
                out[k] = row
        return out


def find_sorted(
    keys: np.ndarray[Any, Any], rows: npt.NDArray[np.int64], read_ids: Sequence[object]
) -> npt.NDArray[np.int64]:
    """The row of each of `read_ids` among the sorted fixed-width `keys` (the last row
    of equal IDs), -1 for those not there (and for anything but a str)."""
    query, valid = _query(read_ids, keys.dtype)
    out = np.full(len(read_ids), -1, dtype=np.int64)
    pos = np.searchsorted(keys, query, side="right") - 1
    hit = valid & (pos >= 0)
    hit[hit] = keys[pos[hit]] == query[hit]
    out[hit] = rows[pos[hit]]
    return out


def _le(f: Field) -> str:
    """The little-endian type text of `f`'s values, as its section holds them."""
    text = _LE.get(f.code)
    if text is None:
        text = _LE[f.code] = f.dtype.newbyteorder("<").str if f.dtype.itemsize > 1 else f.dtype.str
    return text


_LE: dict[str, str] = {}


def _query(read_ids: Sequence[object], dtype: np.dtype[Any]) -> tuple[Any, npt.NDArray[np.bool_]]:
    """`read_ids` as `dtype` keys, and which of them can be some stored ID."""
    width = dtype.itemsize
    wanted: list[bytes] = []
    valid = np.zeros(len(read_ids), dtype=bool)
    for k, read_id in enumerate(read_ids):
        b = b""
        if isinstance(read_id, str):
            try:
                b = read_id.encode("utf-8")
            except UnicodeEncodeError:
                pass
            else:
                valid[k] = len(b) <= width and b"\0" not in b
        wanted.append(b if valid[k] else b"")
    return np.array(wanted, dtype=dtype), valid


def _pairs(offsets: npt.NDArray[np.int64]) -> Sequence[tuple[int, int]]:
    return list(itertools.pairwise(offsets.tolist()))


def _long_doubles(values: list[str]) -> np.ndarray[Any, Any]:
    import pyarrow as pa

    from xsz.format._index_rows import long_doubles

    return long_doubles(pa.chunked_array([pa.array(values, type=pa.string())]))
