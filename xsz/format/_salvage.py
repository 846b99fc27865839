"""Reading what survives of a damaged store, or of a killed writer's staging directory.

The index is parsed line by line where it must be: the lines that parse are
kept, the others reported with the reason, a last line cut short (a write that
stopped half-way) dropped. A CRC-32 from the store's ``checksums`` file is used
for a frame only when the file is intact and lists exactly the index's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from xsz.codec import max_content_size
from xsz.errors import SZFormatError, XszError
from xsz.format._checksums import crc32, read_checksums
from xsz.format._index import read_index
from xsz.format._reader import SZReader
from xsz.source import LocalSource

if TYPE_CHECKING:
    import os
    from collections.abc import Buffer, Sequence

    import numpy.typing as npt


__all__ = ["Salvage", "salvage"]


@dataclass
class Salvage:
    """The readable part of a store: a reader over the index lines that parse."""

    reader: SZReader
    lines: list[int]
    """The index line number (1-based) of each of the reader's rows."""
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    """``(line number, problem)`` of every line that was dropped."""
    unindexed_bytes: int = 0
    """Bytes at the end of ``dat`` that no kept line reaches (their index lines
    were lost, e.g. never written by a killed writer)."""
    crcs: npt.NDArray[np.uint32] | None = None
    """The frames' CRC-32s by row of the reader, when the store had them for every line."""

    def check_frames(self, row: int, frames: Sequence[Buffer]) -> None:
        """Raise `SZFormatError` unless the frames of `row` are plausible for their
        counts and match their CRC-32s (when known)."""
        reader = self.reader
        for k, (f, frame) in enumerate(zip(reader.schema.datasets, frames, strict=True)):
            size = memoryview(frame).nbytes
            if f.has_count:
                count = int(reader.index.count[f.name][row])
                if count > int(max_content_size(np.array([size]))[0]) * 4 // 5:
                    raise reader.damage(row, f.name, f"{count} values cannot fit {size} bytes")
            if self.crcs is not None and crc32(frame) != int(self.crcs[row, k]):
                raise reader.damage(row, f.name, "the frame does not match its CRC-32")


def salvage(path: str | os.PathLike[str]) -> Salvage:
    """Open what can be read of the store (or staging directory) at `path`.

    Raises `SZFormatError` when not even the header and column lines of the
    index survive, or ``dat`` is missing.
    """
    with LocalSource(path) as source:
        raw = source.read("index")
        try:
            checksums = read_checksums(source)
        except SZFormatError:
            checksums = None
        crc_table = None
        if checksums is not None:
            n_lines = raw.count(b"\n") - 2
            try:
                crc_table = checksums.frame_crcs(source, n_lines)
            except XszError:
                crc_table = None
    lines = raw.split(b"\n")
    if len(lines) < 3:
        raise SZFormatError(f"{path}/index: not even the header and column lines survive")
    head = lines[0] + b"\n" + lines[1] + b"\n"
    read_index(head, where=f"{path}/index")  # the header and columns must parse
    bad: list[tuple[int, str]] = []
    if lines[-1]:
        bad.append((len(lines), "the last line is cut short (no newline)"))
    body = [(number, line) for number, line in enumerate(lines[2:-1], start=3) if line]
    good = _parsing_lines(head, body, bad, path)
    index = read_index(head + b"".join(line + b"\n" for _, line in good), where=f"{path}/index")
    reader = SZReader.over_index(path, index)
    numbers = [number for number, _ in good]
    crcs = None
    if crc_table is not None and len(body) == len(crc_table) and len(good) == len(body):
        crcs = crc_table
    reach = int((index.offset + index.length).max()) if len(index) else 0
    bad.sort()
    return Salvage(reader, numbers, bad, max(reader.dat_size - reach, 0), crcs)


def _parsing_lines(
    head: bytes, body: list[tuple[int, bytes]], bad: list[tuple[int, str]], where: object
) -> list[tuple[int, bytes]]:
    """The lines of `body` that parse: all at once when they do, else by halves
    down to the single lines that do not (those go to `bad`)."""
    if not body:
        return []
    try:
        read_index(head + b"".join(line + b"\n" for _, line in body), where=where)
    except XszError as exc:
        if len(body) == 1:
            bad.append((body[0][0], str(exc).replace("line 3", f"line {body[0][0]}", 1)))
            return []
        half = len(body) // 2
        return _parsing_lines(head, body[:half], bad, where) + _parsing_lines(
            head, body[half:], bad, where
        )
    return body
