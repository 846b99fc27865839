"""The per-read fields of a store as named columns (attributes, sample counts, text
lengths), and those columns as TSV text, written a batch of reads at a time."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from xsz.errors import UsageError
from xsz.mapping import count_name

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import numpy.typing as npt

    from xsz.format import SZReader

__all__ = [
    "READ_ID_ALIAS",
    "Column",
    "column_values",
    "default_columns",
    "format_values",
    "length_name",
    "read_columns",
    "resolve_columns",
    "tsv_lines",
    "tsv_text",
    "unknown_field",
]

READ_ID_ALIAS: Final = "read_id"
"""pod5's and slow5's name for the read ID, accepted for the ``ID`` attribute."""

TSV_BATCH: Final = 65_536
"""Reads formatted at a time by `tsv_lines`."""


def length_name(dataset: str) -> str:
    """The column of a text dataset's per-read length: ``Sequence`` -> ``Sequence_length``."""
    return f"{dataset}_length"


@dataclass(frozen=True)
class Column:
    """One per-read field of a store, by the name users give it.

    Attributes
    ----------
    name
        The column name: an attribute's name, ``<dataset>_count`` (values of a
        numeric dataset), ``<dataset>_length`` (UTF-8 bytes of a text dataset),
        or ``read_id`` (the ``ID`` attribute).
    source
        ``"attribute"``, ``"count"`` or ``"length"``.
    field
        The SZ field it comes from.
    text
        Whether its values are text (else numbers).
    """

    name: str
    source: Literal["attribute", "count", "length"]
    field: str
    text: bool


def read_columns(reader: SZReader) -> dict[str, Column]:
    """Every column of `reader`'s reads, by name, attributes first (schema order),
    then each dataset's count or length, then the ``read_id`` alias."""
    out: dict[str, Column] = {}
    for f in reader.schema.attributes:
        out[f.name] = Column(f.name, "attribute", f.name, f.is_text)
    for f in reader.schema.datasets:
        name = length_name(f.name) if f.is_text else count_name(f.name)
        if name not in out:
            out[name] = Column(name, "length" if f.is_text else "count", f.name, False)
    id_field = reader.schema.id_field
    if id_field is not None and READ_ID_ALIAS not in out:
        out[READ_ID_ALIAS] = Column(READ_ID_ALIAS, "attribute", id_field, True)
    return out


def default_columns(reader: SZReader) -> list[str]:
    """What `xsz view` shows without ``-c``: the ID first, the other attributes, the
    counts of numeric datasets (all from the index: nothing of ``dat`` is read)."""
    columns = read_columns(reader)
    id_field = reader.schema.id_field
    first = [id_field] if id_field else []
    rest = [
        name
        for name, c in columns.items()
        if name != id_field and name != READ_ID_ALIAS and c.source != "length"
    ]
    return first + rest


def unknown_field(name: str, known: Sequence[str], where: object) -> UsageError:
    """The error for a field `name` that `where` lacks, with the nearest names."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return UsageError(f"{where} has no field {name!r}{hint}; its fields: {', '.join(known)}")


def resolve_columns(reader: SZReader, names: Sequence[str] | None = None) -> list[Column]:
    """The columns `names` (default: `default_columns`), in that order.

    Raises
    ------
    UsageError
        A name `read_columns` does not know, with the known ones.
    """
    columns = read_columns(reader)
    wanted = default_columns(reader) if names is None else list(names)
    for name in wanted:
        if name not in columns:
            raise unknown_field(name, list(columns), reader.path)
    return [columns[name] for name in wanted]


def column_values(reader: SZReader, column: Column) -> np.ndarray[Any, Any]:
    """The values of `column` for every read, in row order (text as an object array).

    Attributes and the counts of streamvbyte datasets come from the index; counts
    of float datasets and lengths of text datasets from the frame headers (one
    small read per frame, done once). `reader` may also be an `xsz.convert.Reads`
    (a pod5, SLOW5, BLOW5, FAST5 or Zarr source), whose ``attribute`` gives the
    attributes; such sources hold no text datasets whose lengths could be asked.
    """
    if column.source == "attribute":
        index = getattr(reader, "index", None)
        values: np.ndarray[Any, Any] = (
            reader.attribute(column.field)  # type: ignore[attr-defined]
            if index is None  # not an SZReader: an xsz.convert.Reads
            else index.attribute(column.field)
        )
        return values
    if column.source == "count":
        return reader.counts(column.field)
    return reader.content_sizes(column.field)


def format_values(values: np.ndarray[Any, Any]) -> list[str]:
    """Values as text: integers as such, floats as the shortest text that reads back
    as the same value (``0.1`` for a float32 0.1), text as it is.

    Examples
    --------
    >>> format_values(np.array([0.1, 2.0, np.nan], dtype=np.float32))
    ['0.1', '2', 'nan']
    """
    kind = values.dtype.kind
    if kind in "iub" or values.dtype in (np.float32, np.float64):
        text: list[str] = pa.array(values).cast(pa.string()).to_pylist()
        return text
    if kind == "f":  # float16, longdouble: numpy's own shortest repr
        return [str(v) for v in values]
    return [str(v) for v in values.tolist()]


def _as_text(values: np.ndarray[Any, Any]) -> pa.Array:
    if values.dtype == object:
        return pa.array(values, type=pa.string())
    if values.dtype.kind in "iub" or values.dtype in (np.float32, np.float64):
        return pa.array(values).cast(pa.string())
    return pa.array(format_values(values), type=pa.string())


def tsv_text(columns: Sequence[np.ndarray[Any, Any]]) -> str:
    r"""Lines of TAB-separated values, one per element of the (equally long)
    `columns`, formatted as `format_values` does; joined by pyarrow's kernels.

    Examples
    --------
    >>> tsv_text([np.array(["r1", "r2"], dtype=object), np.array([0.1, 2.0], dtype=np.float32)])
    'r1\t0.1\nr2\t2\n'
    """
    if not columns or not len(columns[0]):
        return "\n" * (len(columns[0]) if columns else 0)
    texts = [_as_text(np.asarray(c)) for c in columns]
    joined = pc.binary_join_element_wise(*texts, "\t") if len(texts) > 1 else texts[0]
    lines = pc.binary_join_element_wise(joined, pa.scalar(""), "\n")  # each + "\n"
    offsets = np.frombuffer(lines.buffers()[1], np.int32)[
        lines.offset : lines.offset + len(lines) + 1
    ]
    data = lines.buffers()[2]
    return data.to_pybytes()[offsets[0] : offsets[-1]].decode("utf-8") if data else ""


def tsv_lines(
    reader: SZReader,
    columns: Sequence[Column],
    rows: npt.NDArray[np.int64] | None = None,
    *,
    header: bool = True,
    batch: int = TSV_BATCH,
) -> Iterator[str]:
    """The TSV text of `columns` for `rows` (default: every read), a batch of
    reads at a time (each item holds whole lines), the header line first."""
    if header:
        yield "\t".join(c.name for c in columns) + "\n"
    values = [column_values(reader, c) for c in columns]
    n = len(reader) if rows is None else len(rows)
    for start in range(0, n, batch):
        part = slice(start, min(start + batch, n))
        if not values:
            yield "\n" * (part.stop - part.start)
            continue
        yield tsv_text([v[part] if rows is None else v[rows[part]] for v in values])
