"""`LocalSource`: an SZ store in a directory of a local file system.

The directory is opened once and its files relative to that handle, one right
after the other. A writer replaces a store by exchanging two directories
(`xsz.format.replace_path`), so a handle on the directory names one version;
if the old version's files are already being removed when we open them (the
path holds the new version by then), the open starts again from the path.
Reads are ``os.pread`` calls: no shared file position, any number of threads.
"""

from __future__ import annotations

import contextlib
import glob
import os
import stat
import threading
from pathlib import Path
from typing import Any, Final

from xsz.errors import SZFormatError
from xsz.source._base import ByteSource

__all__ = ["LocalSource"]

REQUIRED: Final = ("index", "dat")
OPTIONAL: Final = ("checksums", "table")
_ATTEMPTS: Final = 50
"""Opens tried while the path keeps being replaced under us."""
_FLAGS: Final = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


class LocalSource(ByteSource):
    """The files of the SZ store in directory `path`, opened as one version.

    Raises `SZFormatError` when `path` is missing, not a directory, or lacks
    ``index`` or ``dat``.
    """

    gap = 1 << 13
    """A ``pread`` more costs less than reading a larger gap through (from disk)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self._lock = threading.Lock()
        self._fds: dict[str, int] = {}
        self._sizes: dict[str, int] = {}
        self._stamp: tuple[object, ...] = ()
        self._open()

    def _open(self) -> None:
        for _ in range(_ATTEMPTS):
            dir_fd = _open_directory(self.path)
            try:
                fds, missing = _open_files(dir_fd)
                if not missing:
                    self._fds = fds
                    break
                for fd in fds.values():
                    os.close(fd)
                if not _replaced(self.path, dir_fd):
                    names = " and no ".join(repr(m) for m in missing)
                    raise SZFormatError(f"{self.path} is not an SZ store: it has no {names} file")
            finally:
                os.close(dir_fd)
        else:  # pragma: no cover - a path replaced 50 times in a row
            raise SZFormatError(f"{self.path}: the store kept being replaced while it was opened")
        stats = {name: os.fstat(fd) for name, fd in self._fds.items()}
        self._sizes = {name: st.st_size for name, st in stats.items()}
        self._stamp = tuple(
            (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) for _, st in sorted(stats.items())
        )

    def size(self, name: str) -> int | None:
        # docstring inherited
        return self._sizes.get(name)

    def _read(self, name: str, offset: int, size: int) -> bytes:
        fd = self.fileno(name)
        data = os.pread(fd, size, offset)
        if len(data) < size and data:  # a short read before the end: ask for the rest
            parts = [data]
            got = len(data)
            while got < size:
                more = os.pread(fd, size - got, offset + got)
                if not more:
                    break
                parts.append(more)
                got += len(more)
            data = b"".join(parts)
        return data

    def fileno(self, name: str) -> int:
        """The open file descriptor of `name` (for ``sendfile``-style copies)."""
        fd = self._fds.get(name)
        if fd is None:
            if not self._fds:
                raise ValueError(f"I/O on closed SZ store {self.location}")
            raise SZFormatError(f"{self.location}: the store has no {name!r} file")
        return fd

    def stamp(self) -> tuple[object, ...]:
        # docstring inherited
        return self._stamp

    def close(self) -> None:
        # docstring inherited
        with self._lock:
            fds, self._fds = self._fds, {}
        for fd in fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self) -> None:
        for fd in getattr(self, "_fds", {}).values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path,))

    def __repr__(self) -> str:
        return f"LocalSource({self.location!r})"


def _open_directory(path: Path) -> int:
    try:
        return os.open(path, _FLAGS | os.O_DIRECTORY)
    except FileNotFoundError:
        raise SZFormatError(
            f"no SZ store at {path}: the path does not exist{_interrupted(path)}"
        ) from None
    except NotADirectoryError:
        raise SZFormatError(f"{path} is not an SZ store: an SZ store is a directory") from None
    except OSError as exc:
        raise SZFormatError(f"cannot open the SZ store {path}: {exc}") from exc


def _interrupted(path: Path) -> str:
    """A note on the old store a replace killed half-way left aside, if there is one."""
    try:
        olds = sorted(path.parent.glob(f".{glob.escape(path.name)}.old-*"))
    except OSError:
        return ""
    if not olds:
        return ""
    return (
        f" (a replace of it was interrupted: the old store is at {olds[-1]}; "
        f"xsz.format.remove_stale({str(path)!r}) puts it back)"
    )


def _open_files(dir_fd: int) -> tuple[dict[str, int], list[str]]:
    """Open the store's files relative to `dir_fd`: ``(fds, required names missing)``."""
    fds: dict[str, int] = {}
    missing: list[str] = []
    try:
        for name in (*REQUIRED, *OPTIONAL):
            try:
                fd = os.open(name, _FLAGS, dir_fd=dir_fd)
            except (FileNotFoundError, IsADirectoryError):
                if name in REQUIRED:
                    missing.append(name)
                continue
            if not _is_file(fd):
                os.close(fd)
                if name in REQUIRED:
                    missing.append(name)
                continue
            fds[name] = fd
    except BaseException:
        for fd in fds.values():
            os.close(fd)
        raise
    return fds, missing


def _is_file(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)


def _replaced(path: Path, dir_fd: int) -> bool:
    """Whether `path` no longer names the directory `dir_fd` (a writer replaced it)."""
    held = os.fstat(dir_fd)
    try:
        now = os.stat(path)
    except OSError:
        return held.st_nlink == 0
    return (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino)
