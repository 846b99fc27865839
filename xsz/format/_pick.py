"""Reads picked out of stores by row, without parsing the rest of their indexes.

Copying some reads out of each of many stores costs little per read; what costs
is opening each store, whose index is parsed whole (a few milliseconds for a
store of 1,000 reads, most of it the parser's fixed cost). `pick` takes only
the lines of the wanted rows out of a store's index text, once that text is
checked against the store's ``checksums`` file; the lines of many stores of one
schema are then parsed together by one `read_index` call (every check of the
parser applies to each line), and `PickedStore.records` fetches and checks
their frames. What `pick` cannot vouch for (no ``checksums`` file, another
schema, an index of a shape it does not expect) it leaves to `SZReader`, by
returning ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from xsz.codec import join_frames
from xsz.errors import SZFormatError, TruncatedStoreError
from xsz.format._checksums import Checksums, read_checksums
from xsz.format._coalesce import coalesce

if TYPE_CHECKING:
    import numpy.typing as npt

    from xsz.format._index import SZIndex
    from xsz.source import ByteSource

__all__ = ["PickedStore", "pick"]


@dataclass
class PickedStore:
    """The wanted rows of one store: their index lines and their frames' CRC-32s."""

    source: ByteSource
    rows: npt.NDArray[np.int64]
    """The rows picked, as asked."""
    lines: list[bytes]
    """Each row's index line, its newline included."""
    crcs: npt.NDArray[np.uint32]
    """The CRC-32 of each picked row's frames, shape ``(len(rows), n_datasets)``."""
    zstd_checksums: bool
    """Whether the store promises zstd's content checksum in every frame."""
    dat_size: int
    checksums: Checksums | None = None
    """The store's ``checksums`` file (what `SZReader.over_picked` needs of it)."""

    def records(self, index: SZIndex, at: slice, first: int) -> tuple[bytes, npt.NDArray[np.int64]]:
        """The records (every frame of a read, back to back) of the picked reads that
        rows `at` of `index` describe, and their lengths: fetched with coalesced
        reads, their byte ranges checked against ``dat`` and each frame against its
        CRC-32. Row ``at.start + j`` of `index` must be the line of
        ``self.rows[first + j]``.

        Raises `SZFormatError` naming the store, read, dataset and bytes at fault.
        """
        names = [f.name for f in index.schema.datasets]
        rows = self.rows[first : first + at.stop - at.start]
        expected = self.crcs[first : first + len(rows)].reshape(-1)
        offset, length = index.offset[at], index.length[at]
        ends = offset + length
        beyond = np.flatnonzero(ends > self.dat_size)
        if len(beyond):
            j = int(beyond[0])
            raise SZFormatError(
                f"{self.source.location}: read {self._name(index, at, j)} (row "
                f"{int(rows[j])}) lies at bytes {int(offset[j])}..{int(ends[j])} of dat, "
                f"which holds {self.dat_size}"
            )
        regions = self._fetch(offset, ends)
        if len(names) == 1:  # a record is its one frame
            pieces = regions
        else:
            sizes = np.stack([index.frame_size[name][at] for name in names], axis=1)
            starts = (np.cumsum(sizes, axis=1) - sizes).tolist()
            pieces = [
                region[a : a + b]
                for region, row_starts, row_sizes in zip(
                    regions, starts, sizes.tolist(), strict=True
                )
                for a, b in zip(row_starts, row_sizes, strict=True)
            ]
        blob, crcs = join_frames(pieces)
        bad = np.flatnonzero(crcs != expected)
        if len(bad):
            j, d = divmod(int(bad[0]), len(names))
            raise SZFormatError(
                f"{self.source.location}: read {self._name(index, at, j)} (row "
                f"{int(rows[j])}), dataset {names[d]!r}: the frame does not match its "
                f"CRC-32 ({int(crcs[bad[0]]):08x}, expected {int(expected[bad[0]]):08x}): "
                "these bytes were changed"
            )
        return blob, length

    def _fetch(self, starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]) -> list[Any]:
        groups = list(coalesce(starts, ends, self.source.gap))
        if self.source.concurrent and len(groups) > 1:
            blocks = self.source.read_ranges(
                "dat", [lo for lo, _, _ in groups], [hi for _, hi, _ in groups]
            )
        else:
            blocks = [self.source.read("dat", lo, hi - lo) for lo, hi, _ in groups]
        out: list[Any] = [b""] * len(starts)
        first, last = starts.tolist(), ends.tolist()
        for (lo, hi, members), data in zip(groups, blocks, strict=True):
            if len(data) != hi - lo:
                raise TruncatedStoreError(
                    f"{self.source.location}/dat is truncated: wanted bytes {lo}..{hi}"
                )
            view = memoryview(data)
            for k in members:
                out[k] = view[first[k] - lo : last[k] - lo]
        return out

    @staticmethod
    def _name(index: SZIndex, at: slice, j: int) -> str:
        field = index.schema.id_field
        if field is None:
            return f"#{at.start + j}"
        return repr(index.attribute(field)[at.start + j])


def pick(
    source: ByteSource,
    rows: npt.NDArray[np.int64],
    *,
    columns: bytes,
    datasets: tuple[str, ...],
    n_reads: int,
) -> PickedStore | None:
    """The index lines and frame CRC-32s of `rows` of the store `source`, without
    parsing its index; ``None`` when the store cannot be picked from safely (it has
    no ``checksums`` file, its column line is not `columns` (with `datasets` the
    names of its datasets), or its index is not
    ``n_reads`` plain ``\\n``-ended lines after its two head lines): `SZReader`
    then reads it (and says what is wrong, if anything is).

    Raises `SZFormatError` when the index does not match its checksums.
    """
    checksums = read_checksums(source)
    if checksums is None or checksums.datasets != datasets:
        return None
    data = source.read("index")
    checksums.check_index(data, f"{source.location}/index")
    if not data.endswith(b"\n") or b"\r" in data:
        return None
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n"))
    if len(ends) != n_reads + 2 or data[int(ends[0]) + 1 : int(ends[1]) + 1] != columns:
        return None
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) and (rows.min() < 0 or rows.max() >= n_reads):
        return None
    begin = (ends[rows + 1] + 1).tolist()
    stop = (ends[rows + 2] + 1).tolist()
    lines = [data[a:b] for a, b in zip(begin, stop, strict=True)]
    table = checksums.frame_crcs(source, n_reads)
    return PickedStore(
        source,
        rows,
        lines,
        table[rows],
        checksums.zstd_checksums,
        source.size("dat") or 0,
        checksums,
    )
