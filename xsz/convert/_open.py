"""`open_reads`: the reads of any file or store xsz reads, without converting it first.

One interface over an SZ store, a pod5, BLOW5, SLOW5 or FAST5 file and a Zarr
store in `xsz.mapping`'s layout (what `to_zarr` writes): the schema, the
header, the read IDs, the per-read attributes and counts, and reads by row or
ID, decoded. It mirrors the read side of `xsz.format.SZReader` (``ids``,
``row``, ``rows``, ``read``, ``read_many``, ``counts``), so code written for
SZ stores (``xsz info``, ``get``, ``verify``, ``view``) takes the other
formats too.

A nanopore file is read through its format's reader with the schema of
`import_reads` (`READ_FIELDS`), exactly the values an import would store.
Per-read attributes and counts need one pass over the file (every signal
decoded once), made on first use and kept; reads by ID are found in one more
pass (pod5 and FAST5 go straight to them, SLOW5 without an index reads up to
them). A Zarr store is read through zarr (one chunk per read and dataset in
the ``reads`` layout).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz.convert._detect import SIGNAL_FORMATS, detect_format
from xsz.convert._read_fields import READ_FIELDS, import_schema
from xsz.convert._sources import open_source
from xsz.errors import ReadNotFoundError, RowOutOfRangeError, SchemaError
from xsz.format import SZReader

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from types import TracebackType

    import numpy.typing as npt

    from xsz.format import Schema

__all__ = ["Reads", "SourceReads", "ZarrReads", "open_reads"]

_ATTRIBUTES: Final = [n for n, _, g in READ_FIELDS if g == "A"]
_BATCH: Final = 256
"""Reads decoded at a time by `Reads.reads` of an SZ store."""


class Reads:
    """The reads of one file or store, open for reading (use `open_reads`).

    Attributes
    ----------
    path
        The path or URL opened.
    format
        ``"sz"``, ``"pod5"``, ``"blow5"``, ``"slow5"``, ``"fast5"`` or ``"zarr"``.
    schema
        The SZ schema of the reads (for nanopore files, `import_reads`'s).
    header
        The SZ header (for nanopore files: ``source_format``, ``source_files``
        and ``runs``, as an import writes them; for Zarr, the group attributes).
    """

    path: str
    format: str
    schema: Schema
    header: dict[str, Any]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def ids(self) -> np.ndarray[Any, Any]:
        """Read IDs in file order (positions when the schema has no ``ID``)."""
        raise NotImplementedError

    def attribute(self, name: str) -> np.ndarray[Any, Any]:
        """One attribute of every read, typed as the schema says."""
        raise NotImplementedError

    def counts(self, name: str) -> npt.NDArray[np.int64]:
        """Element counts of a numeric dataset for every read."""
        raise NotImplementedError

    def read_many(
        self, rows: object, names: Sequence[str] | None = None, *, n_threads: int = 1
    ) -> list[dict[str, Any]]:
        """Reads at `rows`, in the order asked: attributes and datasets `names` (default all)."""
        raise NotImplementedError

    def reads(self, names: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """Every read in file order, one at a time."""
        for row in range(len(self)):
            yield from self.read_many([row], names)

    def close(self) -> None:
        """Release the file (idempotent)."""

    # -- shared --------------------------------------------------------------------

    def row(self, read_id: object) -> int:
        """The row of one read ID; `ReadNotFoundError` if there is none."""
        return int(self.rows([read_id])[0])

    def rows(self, read_ids: Iterable[object]) -> npt.NDArray[np.int64]:
        """The rows of several read IDs, in the order given."""
        lookup = self._lookup()
        ids = list(read_ids)
        missing = [i for i in ids if i not in lookup]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise ReadNotFoundError(f"{self.path}: no read with ID {missing[0]!r}{more}")
        return np.asarray([lookup[i] for i in ids], dtype=np.int64)

    def read(self, row: int, names: Sequence[str] | None = None) -> dict[str, Any]:
        """One read by row."""
        return self.read_many([row], names)[0]

    def attributes(self) -> dict[str, np.ndarray[Any, Any]]:
        """Every attribute of every read, by name, in schema order."""
        return {f.name: self.attribute(f.name) for f in self.schema.attributes}

    def _lookup(self) -> dict[object, int]:
        cached: dict[object, int] | None = getattr(self, "_ids_by_value", None)
        if cached is None:
            cached = {}
            for k, i in enumerate(self.ids.tolist()):
                cached.setdefault(i, k)
            self._ids_by_value = cached
        return cached

    def _check_rows(self, rows: object) -> list[int]:
        arr = np.asarray(rows).reshape(-1)
        if arr.size and arr.dtype.kind not in "iu":
            raise TypeError(f"rows must be integers, got {arr.dtype}")
        n = len(self)
        out = []
        for row in arr.tolist():
            if not -n <= row < n:
                raise RowOutOfRangeError(f"{self.path}: row {row} is out of range for {n} reads")
            out.append(row % n)
        return out

    def _datasets(self, names: Sequence[str] | None) -> list[str]:
        if names is None:
            return [f.name for f in self.schema.datasets]
        for name in names:
            if name not in self.schema.by_name or self.schema.by_name[name].group != "D":
                raise SchemaError(
                    f"{self.path} has no dataset {name!r}; its datasets are "
                    f"{[f.name for f in self.schema.datasets]}"
                )
        return list(names)

    def __enter__(self) -> Reads:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.format} {self.path!r}>"


class _SZReads(Reads):
    """An SZ store: `SZReader` itself, under this interface."""

    def __init__(self, path: str, storage_options: Mapping[str, Any] | None) -> None:
        self.reader = SZReader(path, storage_options)
        self.path, self.format = str(self.reader.path), "sz"
        self.schema, self.header = self.reader.schema, self.reader.header

    @property
    def ids(self) -> np.ndarray[Any, Any]:
        return self.reader.ids

    def __len__(self) -> int:
        return len(self.reader)

    def rows(self, read_ids: Iterable[object]) -> npt.NDArray[np.int64]:
        return self.reader.rows(read_ids)

    def attribute(self, name: str) -> np.ndarray[Any, Any]:
        return self.reader.index.attribute(name)

    def counts(self, name: str) -> npt.NDArray[np.int64]:
        return self.reader.counts(name)

    def read_many(
        self, rows: object, names: Sequence[str] | None = None, *, n_threads: int = 1
    ) -> list[dict[str, Any]]:
        return self.reader.read_many(rows, self._datasets(names), n_threads=n_threads)

    def reads(self, names: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        datasets = self._datasets(names)
        for lo in range(0, len(self), _BATCH):
            rows = np.arange(lo, min(lo + _BATCH, len(self)))
            yield from self.reader.read_many(rows, datasets, n_threads=2)

    def close(self) -> None:
        self.reader.close()


class SourceReads(Reads):
    """A pod5, SLOW5/BLOW5 or FAST5 file, through its format's reader (`xsz.convert._sources`)."""

    def __init__(self, path: Path, fmt: str) -> None:
        self._path = path
        self.path, self.format = str(path), fmt
        self.schema = import_schema(basecalls=False)
        source = open_source(path, fmt)
        try:
            listed = source.read_ids()
            self.header = {
                "source_format": fmt,
                "source_files": [path.name],
                "runs": source.runs(),
            }
        finally:
            source.close()
        self._ids = None if listed is None else np.asarray(listed, dtype=object)
        self._table: dict[str, list[Any]] | None = None

    def _scan(self) -> dict[str, list[Any]]:
        if self._table is None:
            table: dict[str, list[Any]] = {name: [] for name in (*_ATTRIBUTES, "Raw")}
            for read in self._source_reads(None):
                for name, value in zip(_ATTRIBUTES, read.attributes(), strict=True):
                    table[name].append(value)
                table["Raw"].append(len(read.signal))
            self._table = table
            self._ids = np.asarray(table["ID"], dtype=object)
        return self._table

    def _source_reads(self, selection: frozenset[str] | None) -> Iterator[Any]:
        source = open_source(self._path, self.format)  # a fresh reader: each pass from the start
        try:
            yield from source.reads(selection)
        finally:
            source.close()

    @property
    def ids_known(self) -> bool:
        """Whether the read IDs are known without reading the whole file (pod5, FAST5)."""
        return self._ids is not None

    @property
    def ids(self) -> np.ndarray[Any, Any]:
        if self._ids is None:
            self._scan()
        assert self._ids is not None
        return self._ids

    def attribute(self, name: str) -> np.ndarray[Any, Any]:
        field = self.schema.by_name.get(name)
        if field is None or field.group != "A":
            raise SchemaError(f"{self.path} has no attribute {name!r}")
        values = self._scan()[name]
        return np.asarray(values, dtype=object if field.is_text else field.dtype)

    def counts(self, name: str) -> npt.NDArray[np.int64]:
        self._datasets([name])
        return np.asarray(self._scan()["Raw"], dtype=np.int64)

    def read_many(
        self, rows: object, names: Sequence[str] | None = None, *, n_threads: int = 1
    ) -> list[dict[str, Any]]:
        wanted = self._check_rows(rows)
        datasets = self._datasets(names)
        ids = self.ids
        selection = frozenset(str(ids[r]) for r in wanted)
        found: dict[str, dict[str, Any]] = {}
        for read in self._source_reads(selection):
            found.setdefault(read.read_id, self._record(read, datasets))
            if len(found) == len(selection):
                break
        return [dict(found[str(ids[r])]) for r in wanted]

    def reads(self, names: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        datasets = self._datasets(names)
        for read in self._source_reads(None):
            yield self._record(read, datasets)

    def _record(self, read: Any, datasets: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f, value in zip(self.schema.attributes, read.attributes(), strict=True):
            out[f.name] = value if f.is_text else f.dtype.type(value)
        if "Raw" in datasets:
            out["Raw"] = read.signal
        return out


class ZarrReads(Reads):
    """A Zarr store in `xsz.mapping`'s layout (either layout of `to_zarr`), through zarr."""

    def __init__(self, path: Path) -> None:
        import zarr
        from zarr.storage import LocalStore, ZipStore

        from xsz.codec import apply_zarr_settings
        from xsz.mapping import schema_from_variables
        from xsz.store import zarr_variable

        apply_zarr_settings()
        self.path, self.format = str(path), "zarr"
        self._store = (
            ZipStore(path, mode="r") if path.is_file() else LocalStore(path, read_only=True)
        )
        try:
            group = zarr.open_group(self._store, mode="r")
            self._arrays = {n: a for n, a in group.members() if isinstance(a, zarr.Array)}
            variables = {n: zarr_variable(n, a) for n, a in self._arrays.items()}
            self.schema, self.header, self._names = schema_from_variables(
                variables, dict(group.attrs)
            )
            self._count_of: dict[str, str] = {}
            for f in self.schema.datasets:
                if not f.is_text:
                    dim = variables[self._names[f.name]].dims[0]
                    self._count_of[f.name] = next(
                        n for n, v in variables.items() if v.attrs.get("sample_dimension") == dim
                    )
            self._ids = np.asarray(self._arrays["read"][:])
            if self._ids.dtype.kind in "SO":
                self._ids = np.asarray([_text(i) for i in self._ids.tolist()], dtype=object)
        except BaseException:
            self._store.close()
            raise
        self._starts: dict[str, npt.NDArray[np.int64]] = {}
        self._attributes: dict[str, np.ndarray[Any, Any]] = {}  # read once, kept

    @property
    def ids(self) -> np.ndarray[Any, Any]:
        return self._ids

    def attribute(self, name: str) -> np.ndarray[Any, Any]:
        field = self.schema.by_name.get(name)
        if field is None or field.group != "A":
            raise SchemaError(f"{self.path} has no attribute {name!r}")
        cached = self._attributes.get(name)
        if cached is None:
            values = np.asarray(self._arrays[self._names[name]][:])
            if field.is_text:
                texts: list[object] = [_text(v) for v in values.tolist()]
                cached = np.asarray(texts, dtype=object)
            else:
                cached = np.asarray(values, dtype=field.dtype)
            self._attributes[name] = cached
        return cached

    def counts(self, name: str) -> npt.NDArray[np.int64]:
        self._datasets([name])
        if name not in self._count_of:
            raise TypeError(f"dataset {name!r} holds text (one str per read), not counts")
        return np.asarray(self._arrays[self._count_of[name]][:], dtype=np.int64)

    def _start(self, name: str) -> npt.NDArray[np.int64]:
        if name not in self._starts:
            counts = self.counts(name)
            self._starts[name] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return self._starts[name]

    def read_many(
        self, rows: object, names: Sequence[str] | None = None, *, n_threads: int = 1
    ) -> list[dict[str, Any]]:
        wanted = self._check_rows(rows)
        datasets = self._datasets(names)
        attrs = {f.name: self.attribute(f.name) for f in self.schema.attributes}
        out = []
        for row in wanted:
            record: dict[str, Any] = {name: values[row] for name, values in attrs.items()}
            for name in datasets:
                array = self._arrays[self._names[name]]
                if self.schema.by_name[name].is_text:
                    record[name] = _text(array[row])
                else:
                    start = self._start(name)
                    record[name] = np.asarray(array[int(start[row]) : int(start[row + 1])])
            out.append(record)
        return out

    def close(self) -> None:
        self._store.close()


def _text(value: object) -> str:
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8")
    if isinstance(value, np.ndarray):
        return _text(value.item())
    return str(value)


def open_reads(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Reads:
    """Open the reads of an SZ store, a pod5 / BLOW5 / SLOW5 / FAST5 file or a Zarr store.

    Parameters
    ----------
    path
        The file or store (recognised by content, `detect_format`); a URL opens
        an SZ store in object storage.
    format
        Read it as this format instead (`xsz.convert.FORMATS`).
    storage_options
        For an SZ store at a URL (see `xsz.format.SZReader`).

    Returns
    -------
    Reads
        Use it in a ``with`` block (or call ``close()``).

    Raises
    ------
    SourceError
        Not a format xsz reads, or a file its reader refuses.
    SZFormatError, SchemaError
        A damaged SZ store, or a Zarr hierarchy that is not SZ-shaped.

    Examples
    --------
    >>> import numpy as np
    >>> from xsz.format import Schema, SZWriter
    >>> tmp = getfixture("tmp_path")
    >>> with SZWriter(tmp / "a.sz", Schema.build([("ID", str)], [("Raw", np.int16)])) as w:
    ...     w.put_many([("r1", np.arange(3)), ("r2", np.arange(5))])
    >>> from xsz.convert import to_zarr
    >>> _ = to_zarr(tmp / "a.sz", tmp / "a.zarr")
    >>> with open_reads(tmp / "a.zarr") as reads:
    ...     reads.format, len(reads), reads.counts("Raw").tolist(), reads.read(reads.row("r2"))
    ('zarr', 2, [3, 5], {'ID': 'r2', 'Raw': array([0, 1, 2, 3, 4], dtype=int16)})
    """
    from xsz.source import is_url

    if is_url(str(path)):
        return _SZReads(str(path), storage_options)
    p = Path(path)
    fmt = format or detect_format(p)
    if fmt == "sz":
        return _SZReads(str(p), storage_options)
    if fmt == "zarr":
        return ZarrReads(p)
    if fmt in SIGNAL_FORMATS:
        return SourceReads(p, fmt)
    raise SchemaError(f"{p}: xsz does not read {fmt!r}")
