"""`verify_reads`: decode every read of a file or store that is not SZ, through `open_reads`."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xsz._progress import progress_hook
from xsz.convert._open import SourceReads, ZarrReads, open_reads
from xsz.errors import XszError

if TYPE_CHECKING:
    import os
    from collections.abc import Callable

    import numpy.typing as npt

__all__ = ["ReadProblem", "verify_reads"]


@dataclass(frozen=True)
class ReadProblem:
    """One thing wrong with a read (or with the whole file, when `read_id` is None)."""

    row: int | None
    read_id: object
    message: str

    def __str__(self) -> str:
        if self.row is None:
            return self.message
        if self.read_id is None:
            return f"the read at row {self.row}: {self.message}"
        return f"read {self.read_id!r} (row {self.row}): {self.message}"


def verify_reads(
    path: str | os.PathLike[str],
    *,
    progress: bool | Callable[[int, int | None], object] = False,
    stop_at_first: bool = True,
) -> tuple[int, list[ReadProblem]]:
    """Decode every read of a pod5 / BLOW5 / SLOW5 / FAST5 file or Zarr store and check it.

    Each read must decode through its format's reader; read IDs must be
    unique; a dataset's values must agree with its count (Zarr) and the raw
    signal must be 1-D int16. (For SZ stores, `xsz.ops.verify` checks
    checksums and frames.)

    Returns
    -------
    tuple
        ``(reads decoded, problems)``; with `stop_at_first`, at most one problem.
    """
    problems: list[ReadProblem] = []
    try:
        reads = open_reads(path)
    except (XszError, OSError, ValueError) as exc:
        return 0, [ReadProblem(None, None, str(exc))]
    n = 0
    seen: dict[object, int] = {}
    with reads, contextlib.ExitStack() as stack:
        total = None if isinstance(reads, SourceReads) and not reads.ids_known else len(reads)
        update, close_progress = progress_hook(progress, total, Path(path).name)
        stack.callback(close_progress)
        counts = (
            {f.name: reads.counts(f.name) for f in reads.schema.datasets if not f.is_text}
            if isinstance(reads, ZarrReads)
            else {}
        )
        iterator = reads.reads()
        while True:
            try:
                read = next(iterator)
            except StopIteration:
                break
            except (XszError, OSError, ValueError, KeyError) as exc:
                problems.append(ReadProblem(n, None, f"cannot be read: {exc}"))
                break  # a reader that failed cannot be trusted to go on
            read_id = read.get("ID", n)
            problems += _read_problems(n, read_id, read, counts, seen)
            seen.setdefault(read_id, n)
            n += 1
            update(n)
            if problems and stop_at_first:
                break
    return n, problems[:1] if stop_at_first else problems


def _read_problems(
    row: int,
    read_id: object,
    read: dict[str, Any],
    counts: dict[str, npt.NDArray[np.int64]],
    seen: dict[object, int],
) -> list[ReadProblem]:
    out = []
    if read_id in seen:
        out.append(ReadProblem(row, read_id, f"the same ID as row {seen[read_id]}"))
    raw = read.get("Raw")
    if raw is not None and (np.ndim(raw) != 1 or np.asarray(raw).dtype != np.int16):
        out.append(
            ReadProblem(row, read_id, f"Raw is {np.asarray(raw).dtype} of shape {np.shape(raw)}")
        )
    for name, count in counts.items():
        if len(read[name]) != count[row]:
            out.append(
                ReadProblem(
                    row, read_id, f"{name} has {len(read[name])} values, count says {count[row]}"
                )
            )
    return out
