"""Basecalls and move tables from a SAM/BAM file, looked up by read ID (``pysam``).

A first pass indexes the file: read ID -> position of its record. Records are
then fetched one at a time as the reads stream by, so memory holds the index
(about a hundred bytes per read), never the sequences.

Which records count: primary ones (not secondary 0x100, not supplementary
0x800), carrying an ``mv`` tag. Records of reads split by the basecaller (a
``pi`` tag naming the parent read) are left out: their signal is part of
another read. Reverse-strand alignments are turned back to the read's own
orientation (``get_forward_sequence``), the orientation of the move table.

Tags used: ``mv:B:c`` (stride, then one 0/1 per stride of signal), ``ts``
(samples trimmed from the start of the signal before calling; 0 when absent,
as dorado and squigualiser read it), ``ns`` (the signal length called from,
checked against the read when present) and ``qs`` (mean q-score).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xsz.convert._extras import load
from xsz.convert._read_fields import Basecalls
from xsz.errors import SourceError

if TYPE_CHECKING:
    import os
    from collections.abc import Collection

__all__ = ["MoveSource", "check_basecalls"]

_SKIP_FLAGS = 0x100 | 0x800


class MoveSource:
    """The basecalls of a SAM/BAM file, by read ID.

    Parameters
    ----------
    path
        An unaligned (or aligned) SAM or BAM file written with move tables.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such SAM/BAM file")
        pysam = load("pysam", "reading SAM/BAM files")
        try:
            self._file = pysam.AlignmentFile(str(self.path), "r", check_sq=False)
        except (OSError, ValueError) as exc:
            raise SourceError(f"{self.path}: pysam cannot open this as SAM/BAM: {exc}") from exc
        try:
            self._iter = self._file.fetch(until_eof=True)
            self._where, self.n_split = self._index()
        except (OSError, ValueError) as exc:
            self.close()
            raise SourceError(f"{self.path}: cannot read the SAM/BAM records: {exc}") from exc
        except BaseException:
            self.close()
            raise
        if not self._where:
            self.close()
            raise SourceError(f"{self.path}: no primary record with a move table (mv tag)")

    def _index(self) -> tuple[dict[str, int], int]:
        where: dict[str, int] = {}
        split = 0
        position = self._file.tell()
        for rec in self._iter:
            start, position = position, self._file.tell()
            if rec.flag & _SKIP_FLAGS or not rec.has_tag("mv"):
                continue
            if rec.has_tag("pi"):
                split += 1
                continue
            name = rec.query_name
            if name in where:
                raise SourceError(
                    f"{self.path}: read {name!r} has two primary records with a move table"
                )
            where[name] = start
        return where, split

    def close(self) -> None:
        f = getattr(self, "_file", None)
        if f is not None:
            f.close()
            self._file = None

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, read_id: object) -> bool:
        return read_id in self._where

    @property
    def read_ids(self) -> Collection[str]:
        return self._where.keys()

    def programs(self) -> list[dict[str, str]]:
        """The ``@PG`` lines: id, name and version of the programs that made the file."""
        header = self._file.header.to_dict()
        keys = {"ID": "id", "PN": "name", "VN": "version"}
        return [
            {keys[k]: str(v) for k, v in pg.items() if k in keys} for pg in header.get("PG", [])
        ]

    def get(self, read_id: str) -> Basecalls | None:
        """The basecalls of one read, or ``None`` if the file has no record for it."""
        start = self._where.get(read_id)
        if start is None:
            return None
        self._file.seek(start)
        rec = next(self._iter)
        if rec.query_name != read_id:  # pragma: no cover - the index is made from this file
            raise SourceError(
                f"{self.path}: record at {start} is {rec.query_name!r}, not {read_id!r}"
            )
        mv = np.asarray(rec.get_tag("mv"))
        if len(mv) < 1:
            raise SourceError(f"{self.path}: read {read_id!r} has an empty mv tag (no stride)")
        moves = mv[1:]
        if moves.size and (moves.min() < 0 or moves.max() > 1):
            raise SourceError(f"{self.path}: read {read_id!r} has move values other than 0 and 1")
        quality = rec.get_forward_qualities()
        return Basecalls(
            sequence=rec.get_forward_sequence() or "",
            quality=""
            if quality is None
            else bytes(np.asarray(quality, np.uint8) + 33).decode("ascii"),
            stride=int(mv[0]),
            moves=moves.astype(np.uint16),
            trimmed_samples=int(rec.get_tag("ts")) if rec.has_tag("ts") else 0,
            mean_qscore=float(rec.get_tag("qs")) if rec.has_tag("qs") else math.nan,
            num_samples=int(rec.get_tag("ns")) if rec.has_tag("ns") else None,
        )


def check_basecalls(calls: Basecalls, read_id: str, n_samples: int, path: Path) -> None:
    """Refuse basecalls that cannot belong to a signal of `n_samples` samples."""
    problems = []
    if calls.num_samples is not None and calls.num_samples != n_samples:
        problems.append(f"its ns tag says {calls.num_samples} samples, the signal has {n_samples}")
    n_moves = int(calls.moves.sum())
    if n_moves != len(calls.sequence):
        problems.append(f"{n_moves} moves but {len(calls.sequence)} bases")
    end = calls.trimmed_samples + calls.stride * len(calls.moves)
    if calls.stride <= 0 or end > n_samples:
        problems.append(
            f"ts {calls.trimmed_samples} + stride {calls.stride} x {len(calls.moves)} moves = {end} "
            f"samples, the signal has {n_samples}"
        )
    if calls.quality and len(calls.quality) != len(calls.sequence):
        problems.append(f"{len(calls.quality)} quality values for {len(calls.sequence)} bases")
    if problems:
        raise SourceError(
            f"{path}: the record of read {read_id!r} does not fit its signal: "
            + "; ".join(problems)
        )
