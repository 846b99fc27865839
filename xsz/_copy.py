"""Stores made by copying frames of others: filter, split and merge (`xsz.ops` exports
them). Nothing is decoded and re-encoded; every frame is checked against its
source's checksums on the way, and each destination is committed atomically."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz._progress import progress_counter
from xsz.codec import compress, encode_payload
from xsz.errors import DuplicateReadError, SchemaError, UsageError
from xsz.format import Field, Schema, SZReader, SZWriter, check_replaceable
from xsz.select import column_values, filter_rows, read_columns, unknown_field

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Mapping, Sequence

    import numpy.typing as npt

__all__ = ["FILL_VALUES", "Merged", "copy_rows", "filter_reads", "merge_stores", "split"]

BATCH: Final = 512
"""Reads per batch of frames read."""

FILL_VALUES: Final = {"S": "", "I16": -1, "I32": -1, "U16": 0, "U32": 0}
"""What `merge_stores(union=True)` gives a read for an attribute its store lacks, by
type code: ``""`` for text, -1 for signed and 0 for unsigned integers, NaN for
floats. A dataset its store lacks is empty (no values, or ``""``)."""


def copy_rows(
    reader: SZReader,
    rows: npt.NDArray[np.int64],
    writer: SZWriter,
    update: Callable[[int], None],
    schema: Schema | None = None,
) -> None:
    """Copy `rows` of `reader` into `writer`, frames as they are.

    With `schema` (the writer's, a superset of the reader's: `merge_stores`), the
    fields the reader lacks get `FILL_VALUES` and empty frames.
    """
    own = {f.name for f in reader.schema.fields}
    target = schema or reader.schema
    attrs = [
        reader.index.attribute(f.name) if f.name in own else _fill(f) for f in target.attributes
    ]
    names = [f.name for f in reader.schema.datasets]
    empty = {f.name: _empty_frame(f) for f in target.datasets if f.name not in own}
    counts = {n: reader.index.count.get(n) for n in names}
    for start in range(0, len(rows), BATCH):
        part = rows[start : start + BATCH]
        batch = reader.frames(part, names)
        reader.check_frames(part, batch, names)  # damage is refused, never copied
        for row, frames in zip(part.tolist(), batch, strict=True):
            by_name = dict(zip(names, frames, strict=True))
            out_frames: list[bytes | memoryview] = []
            out_counts: list[int | None] = []
            for f in target.datasets:
                if f.name in empty:
                    out_frames.append(empty[f.name])
                    out_counts.append(0 if f.has_count else None)
                else:
                    out_frames.append(by_name[f.name])
                    c = counts[f.name]
                    out_counts.append(None if c is None else int(c[row]))
            values = [a.value if isinstance(a, _Fill) else a[row] for a in attrs]
            writer.put_frames(values, out_frames, out_counts)
        update(len(part))


@dataclass(frozen=True)
class _Fill:
    value: object


def _fill(f: Field) -> _Fill:
    return _Fill(FILL_VALUES.get(f.code, np.nan))


def _empty_frame(f: Field) -> bytes:
    payload = b"" if f.is_text else encode_payload(np.empty(0, dtype=f.dtype))
    return compress(payload, checksum=True)


def filter_reads(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    expression: str | None = None,
    read_ids: Iterable[object] | None = None,
    overwrite: bool = False,
    progress: bool | Callable[[int, int | None], object] = False,
    storage_options: Mapping[str, Any] | None = None,
) -> int:
    """Copy the reads of `src` that pass `expression` (`xsz.select.compile_filter`)
    and are among `read_ids` into a new store `dst`, in `src`'s order.

    Give either or both. Frames are copied as they are. An expression naming
    an unknown field, or an ID `src` lacks, raises (`UsageError`,
    `ReadNotFoundError`) before anything is written. Returns the number of
    reads written (0 gives an empty store).
    """
    if expression is None and read_ids is None:
        raise UsageError("filter needs an expression, read IDs, or both")
    with SZReader(src, storage_options) as reader:
        keep = np.ones(len(reader), dtype=bool)
        if expression is not None:
            keep[:] = False
            keep[filter_rows(reader, expression)] = True
        if read_ids is not None:
            listed = np.zeros(len(reader), dtype=bool)
            listed[reader.rows(read_ids)] = True
            keep &= listed
        rows = np.flatnonzero(keep).astype(np.int64)
        with SZWriter(dst, reader.schema, header=reader.header, overwrite=overwrite) as writer:
            copy_rows(reader, rows, writer, progress_counter(progress, len(rows), "filter"))
    return len(rows)


def _file_part(value: object) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(value)).strip(".") or "_"


def split(
    src: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    *,
    by: str | None = None,
    count: int | None = None,
    read_ids: Iterable[object] | None = None,
    overwrite: bool = False,
    progress: bool | Callable[[int, int | None], object] = False,
    storage_options: Mapping[str, Any] | None = None,
) -> dict[Path, int]:
    """Split `src` (or its reads `read_ids`) into stores in `outdir` (made if
    missing), each read in one.

    ``by=COLUMN`` (an attribute, or a `read_columns` name) gives one store per
    value, ``COLUMN_VALUE.sz`` (characters other than letters, digits, ``.``,
    ``_`` and ``-`` in the value become ``_``), values in sorted order;
    ``count=N`` gives stores of N reads each (the last may hold fewer),
    ``part_00000.sz`` ... in `src`'s order. Reads keep `src`'s order. Every
    destination is checked before anything is written (an existing one needs
    `overwrite`). Returns each store's path and its number of reads.
    """
    if (by is None) == (count is None):
        raise UsageError("split needs one of by= (a column) or count= (reads per store)")
    if count is not None and count < 1:
        raise UsageError(f"count= is the number of reads per store, at least 1; got {count}")
    out = Path(outdir)
    with SZReader(src, storage_options) as reader:
        chosen = np.arange(len(reader))
        if read_ids is not None:
            chosen = np.unique(reader.rows(read_ids))  # in src's order
        n = len(chosen)
        groups: list[tuple[str, npt.NDArray[np.int64]]] = []
        if count is not None:
            width = max(5, len(str(max(n - 1, 0) // count)))
            for k, start in enumerate(range(0, n, count)):
                groups.append((f"part_{k:0{width}d}", chosen[start : start + count]))
        else:
            assert by is not None
            columns = read_columns(reader)
            if by not in columns:
                raise unknown_field(by, list(columns), reader.path)
            values = column_values(reader, columns[by])[chosen]
            uniques, inverse = np.unique(values, return_inverse=True)
            order = chosen[np.argsort(inverse, kind="stable")]
            bounds = np.searchsorted(np.sort(inverse, kind="stable"), np.arange(len(uniques) + 1))
            for k, value in enumerate(uniques.tolist()):
                groups.append((f"{by}_{_file_part(value)}", order[bounds[k] : bounds[k + 1]]))
        paths: dict[str, Path] = {}
        for name, _ in groups:
            if name in paths:
                raise UsageError(
                    f"two values of {by!r} give the same file name {name}.sz; split by another column"
                )
            paths[name] = out / f"{name}.sz"
            check_replaceable(paths[name], overwrite)
        out.mkdir(parents=True, exist_ok=True)
        update = progress_counter(progress, n, "split")
        written: dict[Path, int] = {}
        for name, rows in groups:
            rows = rows.astype(np.int64)
            with SZWriter(
                paths[name], reader.schema, header=reader.header, overwrite=overwrite
            ) as w:
                copy_rows(reader, rows, w, update)
            written[paths[name]] = len(rows)
    return written


@dataclass
class Merged:
    """What `merge_stores` wrote: reads, repeated reads dropped, fields filled."""

    n_reads: int
    duplicates: int = 0
    """Reads left out because an earlier store (or row) had their ID (``duplicate_ok``)."""
    filled: dict[str, list[str]] = field(default_factory=dict)
    """Per source store (``union``): the fields it lacked, filled with `FILL_VALUES`."""


def _union(readers: Sequence[SZReader]) -> Schema:
    seen: dict[str, tuple[Field, object]] = {}
    for reader in readers:
        for f in reader.schema.fields:
            first = seen.setdefault(f.name, (f, reader.path))
            if (first[0].group, first[0].code) != (f.group, f.code):
                raise SchemaError(
                    f"cannot merge: field {f.name!r} is {first[0].column} in {first[1]} "
                    f"but {f.column} in {reader.path}"
                )
    fields = [f for f, _ in seen.values()]
    return Schema(
        tuple(f for f in fields if f.group == "A"), tuple(f for f in fields if f.group == "D")
    )


def merge_stores(
    srcs: Sequence[str | os.PathLike[str]],
    dst: str | os.PathLike[str],
    *,
    duplicate_ok: bool = False,
    union: bool = False,
    overwrite: bool = False,
    progress: bool | Callable[[int, int | None], object] = False,
) -> Merged:
    """Concatenate stores into a new store `dst` (the first store's header).

    Without `union` the schemas must be the same (`SchemaError`); with it the
    result has every field of every store (the first store's order, then new
    ones as met), a field missing from a store filled as `FILL_VALUES` says; a
    field with two types is refused. A read ID in two stores (or twice in
    one) raises `DuplicateReadError` naming both, or with `duplicate_ok` the
    first one is kept and the others counted. Everything is checked before a
    byte is written.
    """
    if not srcs:
        raise UsageError("merge needs at least one source store, got none")
    readers = [SZReader(s) for s in srcs]
    try:
        first = readers[0]
        schema = _union(readers) if union else first.schema
        for other in readers[1:]:
            if not union and other.schema != first.schema:
                raise SchemaError(
                    f"cannot merge {other.path} into {first.path}: columns differ "
                    f"({other.schema.columns} vs {first.schema.columns}); union=True "
                    "takes every field of both"
                )
        if schema.id_field and any(r.schema.id_field is None for r in readers):
            lacking = next(r.path for r in readers if r.schema.id_field is None)
            raise SchemaError(f"cannot merge: {lacking} has no text ID attribute, others do")
        keep = [np.arange(len(r)) for r in readers]
        duplicates = 0
        if schema.id_field:
            owner: dict[object, Path | str] = {}
            for k, reader in enumerate(readers):
                mask = np.ones(len(reader), dtype=bool)
                for row, rid in enumerate(reader.ids.tolist()):
                    if rid in owner:
                        if not duplicate_ok:
                            raise DuplicateReadError(
                                f"read {rid!r} is in both {owner[rid]} and {reader.path}; "
                                "duplicate_ok=True keeps the first",
                                read_id=rid,
                                field=schema.id_field,
                            )
                        mask[row] = False
                    else:
                        owner[rid] = reader.path
                keep[k] = np.flatnonzero(mask).astype(np.int64)
                duplicates += len(reader) - len(keep[k])
        total = sum(len(rows) for rows in keep)
        update = progress_counter(progress, total, "merge")
        filled = {
            str(r.path): [f.name for f in schema.fields if f.name not in r.schema.by_name]
            for r in readers
        }
        with SZWriter(dst, schema, header=first.header, overwrite=overwrite) as writer:
            for reader, rows in zip(readers, keep, strict=True):
                copy_rows(reader, rows, writer, update, schema)
        return Merged(total, duplicates, {k: v for k, v in filled.items() if v})
    finally:
        for reader in readers:
            reader.close()
