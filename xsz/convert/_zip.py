"""`ZipWriter`: a zip file of stored (uncompressed) entries, the container zarr's ``ZipStore`` reads.

Why not `zipfile`: the CRC-32 of every entry is the one per-byte cost a stored
zip adds over a plain copy. `crc32` here is zlib-ng's (SIMD, about 30 GB/s on
this project's machines, five times zlib's) when the ``zlib-ng`` package is
installed (the ``fast`` extra), else zlib's; and an entry is written with one
``writev`` of header and data, where `zipfile` writes the header, the data,
then seeks back to rewrite the header.

The layout is PKWARE's APPNOTE: per entry a local file header then the data;
then the central directory and its end record. Entry names are UTF-8 (flag
bit 11). Sizes and offsets past `ZIP64_LIMIT` and entry counts past
`COUNT_LIMIT` use the zip64 extra field and end records, as `zipfile` does.
"""

from __future__ import annotations

import os
import struct
import time
from typing import TYPE_CHECKING, Final

try:  # SIMD CRC-32 (PCLMUL / VPCLMUL, NEON): the `fast` extra
    from zlib_ng.zlib_ng import crc32
except ImportError:  # pragma: no cover - depends on what is installed
    from zlib import crc32

from xsz.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Buffer, Sequence
    from pathlib import Path

__all__ = ["ZipWriter", "crc32"]

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_UTF8: Final = 0x0800
_IOV_MAX: Final = min(os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024, 1024)
_MAX32: Final = 0xFFFFFFFF
_MAX16: Final = 0xFFFF


def _dos_time() -> tuple[int, int]:
    t = time.localtime()
    return (
        (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2),
        ((max(t.tm_year, 1980) - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday,
    )


class ZipWriter:
    """Write a new zip file of stored entries.

    Parameters
    ----------
    path
        The file to create (it must not exist).

    Examples
    --------
    >>> import zipfile, zlib
    >>> path = getfixture("tmp_path") / "a.zip"
    >>> with ZipWriter(path) as zw:
    ...     zw.add("zarr.json", b"{}")
    ...     zw.add("a/c/0", b"frame", crc=zlib.crc32(b"frame"))
    >>> with zipfile.ZipFile(path) as zf:
    ...     zf.testzip(), zf.read("a/c/0")
    (None, b'frame')
    """

    ZIP64_LIMIT = (1 << 31) - 1
    """Sizes and offsets above this go to the zip64 extra field (as `zipfile` does)."""
    COUNT_LIMIT = _MAX16 - 1
    """More entries than this need the zip64 end records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._position = 0
        self._central = bytearray()  # the central directory, built as entries are added
        self._count = 0
        self._time, self._date = _dos_time()

    def _check_open(self) -> int:
        if self._fd is None:
            raise UsageError(f"zip file {self.path} is closed")
        return self._fd

    def _write(self, *parts: Buffer) -> None:
        fd = self._check_open()
        views = [memoryview(p).cast("B") for p in parts]
        for start in range(0, len(views), _IOV_MAX):  # writev takes at most IOV_MAX buffers
            group = views[start : start + _IOV_MAX]
            written = os.writev(fd, group)
            if written < sum(len(v) for v in group):  # short (rare for files): the rest plainly
                rest = memoryview(b"".join(group))[written:]
                while len(rest):
                    rest = rest[os.write(fd, rest) :]

    def _header(self, name: str, size: int, crc: int) -> bytes:
        """The local file header of a new entry, recorded for the central directory (its
        header and data are to be written next, at the current end of the file)."""
        encoded = name.encode("utf-8")
        offset = self._position
        big = size > self.ZIP64_LIMIT
        extra = struct.pack("<HHQQ", 1, 16, size, size) if big else b""
        version = 45 if big or offset > self.ZIP64_LIMIT else 20
        size32 = _MAX32 if big else size
        self._central += self._central_record(encoded, size, crc, offset)
        self._count += 1
        self._position += _LOCAL.size + len(encoded) + len(extra) + size
        return (
            _LOCAL.pack(
                0x04034B50,
                version,
                _UTF8,
                0,
                self._time,
                self._date,
                crc,
                size32,
                size32,
                len(encoded),
                len(extra),
            )
            + encoded
            + extra
        )

    def add(self, name: str, data: Buffer, *, crc: int | None = None) -> None:
        """Add the entry `name` holding `data` (stored); `crc` is its CRC-32 if known."""
        view = memoryview(data).cast("B")
        self._write(self._header(name, len(view), crc32(view) if crc is None else crc), view)

    def add_many(self, entries: Sequence[tuple[str, memoryview, int]]) -> None:
        """Add entries ``(name, bytes, CRC-32)``: headers and data in few ``writev`` calls."""
        parts: list[Buffer] = []
        for name, view, crc in entries:
            parts.append(self._header(name, len(view), crc))
            parts.append(view)
        self._write(*parts)

    def close(self) -> None:
        """Write the central directory and close the file; idempotent."""
        if self._fd is None:
            return
        start, count = self._position, self._count
        self._write(self._central)
        size = len(self._central)
        zip64 = count > self.COUNT_LIMIT or start > self.ZIP64_LIMIT or size > self.ZIP64_LIMIT
        if zip64:
            end64 = start + size
            self._write(
                _END64.pack(0x06064B50, _END64.size - 12, 45, 45, 0, 0, count, count, size, start),
                _LOCATOR64.pack(0x07064B50, 0, end64, 1),
            )
        self._write(
            _END.pack(
                0x06054B50,
                0,
                0,
                min(count, _MAX16),
                min(count, _MAX16),
                _MAX32 if zip64 else size,
                _MAX32 if zip64 else start,
                0,
            )
        )
        fd, self._fd = self._fd, None
        os.close(fd)

    def _central_record(self, encoded: bytes, size: int, crc: int, offset: int) -> bytes:
        big = size > self.ZIP64_LIMIT
        fields = [size, size] if big else []
        if offset > self.ZIP64_LIMIT:
            fields.append(offset)
        extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
        version = 45 if fields else 20
        size32 = _MAX32 if big else size
        return (
            _CENTRAL.pack(
                0x02014B50,
                (3 << 8) | version,
                version,
                _UTF8,
                0,
                self._time,
                self._date,
                crc,
                size32,
                size32,
                len(encoded),
                len(extra),
                0,
                0,
                0,
                0o100644 << 16,
                _MAX32 if offset > self.ZIP64_LIMIT else offset,
            )
            + encoded
            + extra
        )

    def abort(self) -> None:
        """Close the file without finishing it (the caller removes it)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> ZipWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
