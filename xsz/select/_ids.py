"""Lists of read IDs as users keep them: plain text, or a CSV/TSV table with a
``read_id`` column (pod5 ``filter``'s), a header line or not, repeats allowed."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from xsz.errors import UsageError

if TYPE_CHECKING:
    import os

__all__ = ["ID_COLUMNS", "ReadIdList", "parse_read_ids", "read_id_list"]

ID_COLUMNS: Final = ("read_id", "readid", "read", "id", "read_ids", "#read_id")
"""Header names (case-insensitive) of the column holding read IDs, tried in order."""


@dataclass(frozen=True)
class ReadIdList:
    """The read IDs of a list, each once, in the order first listed.

    Attributes
    ----------
    ids
        The distinct IDs.
    repeats
        How many lines repeated an ID listed before (dropped).
    header
        The header line's column names when the list had one, else ``None``.
    """

    ids: list[str]
    repeats: int = 0
    header: list[str] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def describe(self) -> str:
        """``"3 read IDs"``, with the repeats dropped when there were any."""
        text = f"{len(self.ids):,} read ID{'' if len(self.ids) == 1 else 's'}"
        if self.repeats:
            text += f" ({self.repeats:,} repeated line{'' if self.repeats == 1 else 's'} ignored)"
        return text


def _delimiter(line: str) -> str | None:
    return "\t" if "\t" in line else "," if "," in line else None


def parse_read_ids(text: str, *, where: object = "the ID list") -> ReadIdList:
    """Read IDs from the text of a list.

    One ID a line; blank lines and lines starting with ``#`` are skipped, except
    a first line ``#read_id ...`` (a commented header). A first line that
    names a column of `ID_COLUMNS` (``read_id``, ``id`` ...) is a header: with
    TAB or comma separated columns, the IDs are that column of every line (the
    other columns are ignored). A table without such a header is refused. An
    ID repeated is kept once, where first listed, and counted in
    `ReadIdList.repeats`.

    Raises
    ------
    UsageError
        A table without a ``read_id`` column, or a line with too few columns.

    Examples
    --------
    >>> parse_read_ids("read_id,channel\\nr1,5\\nr2,7\\nr1,5\\n")
    ReadIdList(ids=['r1', 'r2'], repeats=1, header=['read_id', 'channel'])
    >>> parse_read_ids("r7\\n# a comment\\nr3\\n").ids
    ['r7', 'r3']
    """
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    header: list[str] | None = None
    column = 0
    sep: str | None = None
    if lines:
        first = lines[0]
        sep = _delimiter(first)
        names = [n.strip().strip('"') for n in (first.split(sep) if sep else [first])]
        lowered = [n.lower() for n in names]
        found = next((lowered.index(c) for c in ID_COLUMNS if c in lowered), None)
        if found is not None:
            header, column, lines = names, found, lines[1:]
        elif sep is not None and not first.startswith("#"):
            raise UsageError(
                f"{where}: a table needs a header line naming its read ID column "
                f"('read_id'); the first line is {first[:80]!r}"
            )
    ids: dict[str, None] = {}
    n_lines = 0
    for number, line in enumerate(lines, start=2 if header else 1):
        if line.startswith("#"):
            continue
        if sep is not None and header is not None:
            cells = line.split(sep)
            if len(cells) <= column:
                raise UsageError(
                    f"{where}: line {number} has {len(cells)} column(s), the read ID "
                    f"is column {column + 1} ({header[column]!r}): {line[:80]!r}"
                )
            line = cells[column].strip().strip('"')
            if not line:
                continue
        n_lines += 1
        ids.setdefault(line)
    return ReadIdList(list(ids), n_lines - len(ids), header)


def read_id_list(source: str | os.PathLike[str]) -> ReadIdList:
    """The read IDs of the file `source` (``"-"``: standard input), as `parse_read_ids`
    reads them."""
    if str(source) == "-":
        return parse_read_ids(sys.stdin.read(), where="standard input")
    path = Path(source)
    return parse_read_ids(path.read_text(encoding="utf-8"), where=path)
