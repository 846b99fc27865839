"""Operations on whole SZ stores: describe, verify, subset and merge them.

Pure functions for `xsz info`, `xsz verify`, `xsz subset` and `xsz merge`
(no argparse, no printing). Subset and merge copy frames as they are: nothing
is decoded or re-encoded, and the destination is committed atomically.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from xsz.errors import DuplicateReadError, SchemaError, SZFormatError, UsageError, XszError
from xsz.format import SZReader, SZWriter
from xsz.format._checksums import crc32

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Sequence
    from pathlib import Path

    import numpy.typing as npt

__all__ = ["Problem", "StoreInfo", "info", "merge", "progress_bar", "subset", "verify"]

BATCH = 512
"""Reads per batch when walking a whole store."""


def progress_bar(progress: object, total: int, desc: str) -> Callable[[int], None]:
    """An ``update(n)`` callable: a tqdm bar if `progress` is True, `progress` itself
    if it is callable, else a no-op."""
    if callable(progress):
        return progress
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=desc, unit="read", leave=False, disable=None)

        def update(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()

        return update
    return lambda n: None


@dataclass
class StoreInfo:
    """What `info` finds out about a store."""

    path: Path
    header: dict[str, Any]
    columns: list[str]
    n_reads: int
    dat_bytes: int
    index_bytes: int
    datasets: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per dataset: ``stored`` (frame bytes), ``raw`` (decoded bytes), ``values``."""

    @property
    def ratio(self) -> float:
        raw = sum(d["raw"] for d in self.datasets.values())
        return self.dat_bytes / raw if raw else float("nan")


def info(path: str | os.PathLike[str]) -> StoreInfo:
    """Schema, header, read count, sizes and per-dataset compression of a store.

    Decoded sizes come from the index for streamvbyte datasets and from the frame
    headers for the others (one small read per frame).
    """
    with SZReader(path) as reader:
        index = reader.index
        out = StoreInfo(
            path=reader.path,
            header=reader.header,
            columns=reader.schema.columns,
            n_reads=len(reader),
            dat_bytes=reader.dat_size,
            index_bytes=(reader.path / "index").stat().st_size,
        )
        for f in reader.schema.datasets:
            stored = int(index.frame_size[f.name].sum())
            if f.is_text:
                sizes = reader.content_sizes(f.name)
                values, raw = int(sizes.sum()), int(sizes.sum())
            else:
                counts = reader.counts(f.name)
                values, raw = int(counts.sum()), int(counts.sum()) * f.dtype.itemsize
            out.datasets[f.name] = {"stored": stored, "raw": raw, "values": values}
    return out


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a store, located."""

    row: int | None
    read_id: object
    message: str

    def __str__(self) -> str:
        where = f"read {self.read_id!r} (row {self.row}): " if self.row is not None else ""
        return where + self.message


def verify(
    path: str | os.PathLike[str],
    *,
    n_threads: int = 2,
    progress: object = False,
    stop_at_first: bool = True,
) -> list[Problem]:
    """Check a store: the index against ``dat``, then decode every frame.

    Returns the problems found (empty when the store is sound), in row order;
    with `stop_at_first` only the first one. A store that cannot even be opened
    gives one problem without a row.
    """
    try:
        reader = SZReader(path)
    except XszError as exc:
        return [Problem(None, None, str(exc))]
    problems: list[Problem] = []
    with reader:
        ids = reader.ids
        problems += _layout_problems(reader)
        if problems and stop_at_first:
            return problems[:1]
        if len(reader) and not reader.index.ids_unique and reader.schema.id_field:
            seen: dict[object, int] = {}
            for row, rid in enumerate(ids.tolist()):
                if rid in seen:
                    problems.append(Problem(row, rid, f"read ID repeats row {seen[rid]}"))
                seen.setdefault(rid, row)
        try:
            crcs = (
                None
                if reader.checksums is None
                else reader.checksums.frame_crcs(reader.source, len(reader))
            )
        except XszError as exc:
            problems.append(Problem(None, None, str(exc)))
            if stop_at_first:
                return problems[:1]
            crcs = None
        update = progress_bar(progress, len(reader), "verify")
        batches = [np.arange(a, min(a + BATCH, len(reader))) for a in range(0, len(reader), BATCH)]

        def check(rows: npt.NDArray[np.int64]) -> list[Problem]:
            found = []
            frames = None if crcs is None else reader.frames(rows)
            for k, row in enumerate(rows.tolist()):
                try:
                    if frames is not None and crcs is not None:
                        _check_crcs(reader, row, frames[k], crcs[row])
                    reader.read(row)
                except XszError as exc:
                    found.append(Problem(row, ids[row], str(exc)))
            update(len(rows))
            return found

        with ThreadPoolExecutor(max(n_threads, 1)) as pool:
            for found in pool.map(check, batches):
                problems += found
                if problems and stop_at_first:
                    break
    problems.sort(key=lambda p: -1 if p.row is None else p.row)
    return problems[:1] if stop_at_first else problems


def _check_crcs(
    reader: SZReader, row: int, frames: Sequence[memoryview], crcs: npt.NDArray[np.uint32]
) -> None:
    """Raise `SZFormatError` naming the dataset and byte range of the first of `row`'s
    frames whose CRC-32 is not the one the ``checksums`` file holds for it."""
    for f, frame, expected in zip(reader.schema.datasets, frames, crcs.tolist(), strict=True):
        found = crc32(frame)
        if found != expected:
            start = int(reader.index.frame_offset[f.name][row])
            raise SZFormatError(
                f"{reader.path}: dataset {f.name!r}, dat[{start}:{start + len(frame)}]: the "
                f"frame does not match its CRC-32 in the checksums file ({found:08x}, "
                f"expected {expected:08x}): these bytes were changed"
            )


def _layout_problems(reader: SZReader) -> list[Problem]:
    """Regions that overlap or leave gaps (pysz writes them back to back)."""
    index = reader.index
    order = np.argsort(index.offset, kind="stable")
    starts, ends = index.offset[order], (index.offset + index.length)[order]
    problems = []
    overlap = np.flatnonzero(starts[1:] < ends[:-1])
    for k in overlap[:10]:
        row = int(order[k + 1])
        problems.append(Problem(row, reader.ids[row], f"its bytes overlap row {int(order[k])}'s"))
    covered = int(index.length.sum())
    if not len(overlap) and covered != reader.dat_size:
        problems.append(
            Problem(None, None, f"dat holds {reader.dat_size - covered} bytes no read uses")
        )
    return problems


def _copy_rows(
    reader: SZReader, rows: npt.NDArray[np.int64], writer: SZWriter, update: Callable[[int], None]
) -> None:
    attrs = [reader.index.attribute(f.name) for f in reader.schema.attributes]
    names = [f.name for f in reader.schema.datasets]
    counts = [reader.index.count.get(n) for n in names]
    for start in range(0, len(rows), BATCH):
        part = rows[start : start + BATCH]
        for row, frames in zip(part.tolist(), reader.frames(part, names), strict=True):
            writer.put_frames(
                [column[row] for column in attrs],
                frames,
                [None if c is None else int(c[row]) for c in counts],
            )
        update(len(part))


def subset(
    src: str | os.PathLike[str],
    read_ids: Iterable[object],
    dst: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: object = False,
) -> int:
    """Copy the reads `read_ids` (in that order) of `src` into a new store `dst`.

    Frames are copied as they are. Unknown IDs raise `ReadNotFoundError` before
    anything is written. Returns the number of reads written.
    """
    with SZReader(src) as reader:
        rows = reader.rows(read_ids)
        with SZWriter(dst, reader.schema, header=reader.header, overwrite=overwrite) as writer:
            _copy_rows(reader, rows, writer, progress_bar(progress, len(rows), "subset"))
    return len(rows)


def merge(
    srcs: Sequence[str | os.PathLike[str]],
    dst: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: object = False,
) -> int:
    """Concatenate stores with the same schema into a new store `dst`.

    The header is the first store's. Read IDs must stay unique across the
    inputs (`DuplicateReadError` names the read and both stores). Returns the
    number of reads written.
    """
    if not srcs:
        raise UsageError("merge needs at least one source store, got none")
    readers = [SZReader(s) for s in srcs]
    try:
        first = readers[0]
        for other in readers[1:]:
            if other.schema != first.schema:
                raise SchemaError(
                    f"cannot merge {other.path} into {first.path}: columns differ "
                    f"({other.schema.columns} vs {first.schema.columns})"
                )
        if first.schema.id_field:
            owner: dict[object, Path] = {}
            for reader in readers:
                for rid in reader.ids.tolist():
                    if rid in owner:
                        raise DuplicateReadError(
                            f"read {rid!r} is in both {owner[rid]} and {reader.path}",
                            read_id=rid,
                            field=first.schema.id_field,
                        )
                    owner[rid] = reader.path
        total = sum(len(r) for r in readers)
        update = progress_bar(progress, total, "merge")
        with SZWriter(dst, first.schema, header=first.header, overwrite=overwrite) as writer:
            for reader in readers:
                _copy_rows(reader, np.arange(len(reader)), writer, update)
        return total
    finally:
        for reader in readers:
            reader.close()
