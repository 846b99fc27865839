"""Operations on whole SZ stores: describe, verify, subset, filter, split, merge,
checksum, recover.

Pure functions for `xsz info`, `verify`, `subset`, `merge`, `checksum` and
`recover` (no argparse, no printing). They copy frames as they are: nothing is
decoded and re-encoded, and the destination is committed atomically. Frames
are checked against the source's checksums as they are copied, so damage is
refused, never copied.

``progress=`` is xsz's one convention (`xsz._progress`): ``True`` for a bar,
or a callable called as ``progress(done, total)``.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xsz._copy import FILL_VALUES, Merged, filter_reads, merge_stores, split
from xsz._copy import copy_rows as _copy_rows
from xsz._progress import progress_counter
from xsz.errors import CodecError, UsageError, XszError
from xsz.format import SZReader, SZWriter, salvage, stale_siblings, with_checksum
from xsz.source import local_path

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Mapping, Sequence

    import numpy.typing as npt

__all__ = [
    "FILL_VALUES",
    "Merged",
    "Problem",
    "Recovered",
    "StoreInfo",
    "add_checksums",
    "coverage",
    "filter_reads",
    "info",
    "merge",
    "merge_stores",
    "recover",
    "split",
    "subset",
    "verify",
]

BATCH = 512
"""Reads per batch when walking a whole store."""


@dataclass
class StoreInfo:
    """What `info` finds out about a store."""

    path: Path | str
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


def info(
    path: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
) -> StoreInfo:
    """Schema, header, read count, sizes and per-dataset compression of a store.

    Decoded sizes come from the index for streamvbyte datasets and from the frame
    headers for the others (one small read per frame).
    """
    with SZReader(path, storage_options) as reader:
        index = reader.index
        out = StoreInfo(
            path=reader.path,
            header=reader.header,
            columns=reader.schema.columns,
            n_reads=len(reader),
            dat_bytes=reader.dat_size,
            index_bytes=reader.source.size("index") or 0,
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
        if self.row is None or f"(row {self.row})" in self.message:  # located already
            return self.message
        return f"read {self.read_id!r} (row {self.row}): {self.message}"


def verify(
    path: str | os.PathLike[str],
    *,
    n_threads: int = 2,
    progress: bool | Callable[[int, int | None], object] = False,
    stop_at_first: bool = True,
    storage_options: Mapping[str, Any] | None = None,
) -> list[Problem]:
    """Check a store: the index against its checksum and ``dat``, then every frame
    against its CRC-32 and by decoding it (which checks zstd's checksum).

    Returns the problems found (empty when the store is sound), in row order;
    with `stop_at_first` only the first one. A store that cannot even be opened
    gives one problem without a row. What the checks can catch depends on the
    store: see `coverage`.
    """
    try:
        reader = SZReader(path, storage_options)
    except XszError as exc:
        return [Problem(None, None, str(exc))]
    problems: list[Problem] = []
    with reader:
        ids = reader.ids
        problems += _layout_problems(reader)
        for whole in (reader.frame_crcs, reader.check_table):
            try:
                whole()
            except XszError as exc:
                problems.append(Problem(None, None, str(exc)))
        if problems and stop_at_first:
            return problems[:1]
        if len(reader) and not reader.index.ids_unique and reader.schema.id_field:
            seen: dict[object, int] = {}
            for row, rid in enumerate(ids.tolist()):
                if rid in seen:
                    problems.append(Problem(row, rid, f"read ID repeats row {seen[rid]}"))
                seen.setdefault(rid, row)
        update = progress_counter(progress, len(reader), "verify")
        batches = [np.arange(a, min(a + BATCH, len(reader))) for a in range(0, len(reader), BATCH)]

        def check(rows: npt.NDArray[np.int64]) -> list[Problem]:
            found = []
            try:
                frames = reader.frames(rows)
            except XszError as exc:
                return [Problem(None, None, str(exc))]
            for row, row_frames in zip(rows.tolist(), frames, strict=True):
                try:
                    reader.check_frames([row], [row_frames])
                    reader.decode(row, row_frames)
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


def coverage(path: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None) -> str:
    """What `verify` can detect in this store, in a sentence."""
    with SZReader(path, storage_options) as reader:
        if reader.checksums is None:
            return (
                "structure only: this store has no checksums file (pysz, or xsz with "
                "checksum=False, wrote it), so a changed byte inside a compressed frame "
                "that still decodes cannot be detected; add_checksums() adds them"
            )
        frames = "CRC-32 and zstd checksum" if reader.frame_checksums else "CRC-32"
        return f"every byte: the index against its CRC-32, every frame against its {frames}"


def add_checksums(
    path: str | os.PathLike[str],
    dst: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
    progress: bool | Callable[[int, int | None], object] = False,
) -> int:
    """Give every frame of a store zstd's content checksum, and the store a
    ``checksums`` file; nothing is re-compressed (a header bit and 4 bytes a frame).

    The result replaces `path` atomically, or goes to `dst`. Frames are checked
    first (by decoding, and against the store's CRC-32s if it has them): a
    damaged store is refused (`SZFormatError`; `recover` salvages it). Returns
    the number of reads.
    """
    target = path if dst is None else dst
    with SZReader(path) as reader:
        update = progress_counter(progress, len(reader), "checksums")
        attrs = [reader.index.attribute(f.name) for f in reader.schema.attributes]
        names = [f.name for f in reader.schema.datasets]
        counts = [reader.index.count.get(n) for n in names]
        with SZWriter(
            target,
            reader.schema,
            header=reader.header,
            overwrite=overwrite or dst is None,
            checksum=True,
        ) as writer:
            for start in range(0, len(reader), BATCH):
                rows = np.arange(start, min(start + BATCH, len(reader)))
                batch = reader.frames(rows)
                reader.check_frames(rows, batch)
                for row, frames in zip(rows.tolist(), batch, strict=True):
                    checked = []
                    for name, frame in zip(names, frames, strict=True):
                        try:
                            checked.append(with_checksum(frame))
                        except CodecError as exc:
                            raise reader.damage(row, name, exc) from exc
                    writer.put_frames(
                        [column[row] for column in attrs],
                        checked,
                        [None if c is None else int(c[row]) for c in counts],
                    )
                update(len(rows))
        return len(reader)


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


def subset(
    src: str | os.PathLike[str],
    read_ids: Iterable[object],
    dst: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: bool | Callable[[int, int | None], object] = False,
    storage_options: Mapping[str, Any] | None = None,
) -> int:
    """Copy the reads `read_ids` (in that order) of `src` into a new store `dst`.

    Frames are copied as they are (and checked against `src`'s checksums). `src`
    and `dst` may be URLs (`storage_options` for obstore, used for both). Unknown IDs raise
    `ReadNotFoundError` before anything is written. Returns the number of reads
    written.
    """
    remote_src, remote_dst = local_path(src) is None, local_path(dst) is None
    if storage_options and not (remote_src or remote_dst):
        raise UsageError(f"storage_options are for object storage URLs; {src} and {dst} are paths")
    with SZReader(src, storage_options if remote_src else None) as reader:
        rows = reader.rows(read_ids)
        with SZWriter(
            dst,
            reader.schema,
            header=reader.header,
            overwrite=overwrite,
            storage_options=storage_options if remote_dst else None,
        ) as writer:
            _copy_rows(reader, rows, writer, progress_counter(progress, len(rows), "subset"))
    return len(rows)


def merge(
    srcs: Sequence[str | os.PathLike[str]],
    dst: str | os.PathLike[str],
    *,
    duplicate_ok: bool = False,
    union: bool = False,
    overwrite: bool = False,
    progress: bool | Callable[[int, int | None], object] = False,
) -> int:
    """Concatenate stores into a new store `dst`; returns the number of reads written.

    The header is the first store's. Without `union` the schemas must be the
    same; read IDs must stay unique across the inputs (`DuplicateReadError`
    names the read and both stores) unless `duplicate_ok` (the first is kept).
    `merge_stores` does the work and also says what was dropped and filled.
    """
    return merge_stores(
        srcs,
        dst,
        duplicate_ok=duplicate_ok,
        union=union,
        overwrite=overwrite,
        progress=progress,
    ).n_reads


@dataclass
class Recovered:
    """What `recover` salvaged: reads kept, reads lost (with why), bytes of ``dat``
    that no surviving index line describes."""

    path: Path
    kept: int
    lost: list[Problem]
    unindexed_bytes: int


def recover(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: bool | Callable[[int, int | None], object] = False,
) -> Recovered:
    """Salvage the reads of a damaged store, or of the staging directory a killed
    writer left (``.NAME.partial-*``), into a new valid store `dst`.

    Every read whose index line parses and whose frames are whole and check (their
    CRC-32 when `src` has a ``checksums`` file that fits, zstd's checksum when the
    frame has one, and a full decode) is copied as it is; the others are listed in
    `Recovered.lost`. A truncated last index line (a write cut short) is dropped.
    Refuses a staging directory that a live writer still holds.
    """
    source = Path(src).absolute()
    if any(s.owned and s.path == source for s in stale_siblings(_store_of(source))):
        raise UsageError(f"{src} is being written by a live process; wait for it to finish")
    salvaged = salvage(source)
    reader = salvaged.reader
    lost = [Problem(line, None, problem) for line, problem in salvaged.bad_lines]
    kept = 0
    with reader, SZWriter(dst, reader.schema, header=reader.header, overwrite=overwrite) as writer:
        attrs = [reader.index.attribute(f.name) for f in reader.schema.attributes]
        names = [f.name for f in reader.schema.datasets]
        counts = [reader.index.count.get(n) for n in names]
        ids = reader.ids
        update = progress_counter(progress, len(reader), "recover")
        for row in range(len(reader)):
            try:
                frames = reader.frames([row])[0]
                salvaged.check_frames(row, frames)
                reader.decode(row, frames)
                writer.put_frames(
                    [column[row] for column in attrs],
                    frames,
                    [None if c is None else int(c[row]) for c in counts],
                )
                kept += 1
            except XszError as exc:
                lost.append(Problem(salvaged.lines[row], ids[row], str(exc)))
            update(1)
    lost.sort(key=lambda p: -1 if p.row is None else p.row)
    return Recovered(Path(dst), kept, lost, salvaged.unindexed_bytes)


def _store_of(path: Path) -> Path:
    """The store a staging sibling ``.NAME.partial-XXXXXXXX`` belongs to (else `path`)."""
    match = re.fullmatch(r"\.(.+)\.(?:partial|spool|old)-[0-9a-f]{8}", path.name)
    return path.with_name(match.group(1)) if match else path
