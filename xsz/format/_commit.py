"""Putting a finished store in place: never clobber what is not ours, never half-way.

A store is written into a staging directory next to its destination
(`Staging`, ``.NAME.partial-XXXXXXXX``) and moved there by `replace_path`.
When the destination exists, the two directories are swapped with one
``renameat2(RENAME_EXCHANGE)`` (Linux >= 3.15, on the file systems that have
it), so the path holds the old store or the new one at every instant, and a
reader that opened the old one keeps reading it whole. Elsewhere the old store
is renamed aside and the new one renamed in: two renames, with a moment in
between when the path holds nothing (a reader then retries or fails; it never
mixes the two).

A staging directory is locked (``flock``) by the process writing it for as
long as it does, so `stale_siblings` can tell the leftovers of killed writers
(unlocked) from the work of a live one (locked), and only the former are ever
removed (`remove_stale`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from xsz.errors import StoreExistsError

__all__ = [
    "STAGING_KINDS",
    "Sibling",
    "Staging",
    "check_replaceable",
    "exchange_supported",
    "lock_path",
    "remove_stale",
    "replace_path",
    "stale_siblings",
    "staging_name",
]

STAGING_KINDS: Final[tuple[Literal["partial", "spool", "old"], ...]] = ("partial", "spool", "old")
"""What a hidden sibling ``.NAME.<kind>-XXXXXXXX`` of a store is: a store (or Zarr
store) being written, a writing SZStore's spool, an old store being removed."""
STORE_FILES: Final = frozenset({"index", "dat", "checksums"})
"""The files an SZ store directory may hold."""
_RENAME_EXCHANGE: Final = 2
_AT_FDCWD: Final = -100


def staging_name(path: Path, kind: str) -> Path:
    """A new hidden sibling of `path` of the given kind (see `STAGING_KINDS`)."""
    return path.parent / f".{path.name}.{kind}-{uuid.uuid4().hex[:8]}"


def lock_path(path: Path) -> int:
    """Open `path` (a directory or file) and hold an exclusive ``flock`` on it.

    Returns the descriptor: the lock lasts until it is closed, or the process
    ends (however it ends). Raises ``BlockingIOError`` if another holds it.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


class Staging:
    """A staging directory next to `path`, made and locked for one writer.

    `commit` moves it to `path` (`replace_path`); `discard` removes it; `keep`
    leaves it (for ``xsz recover``) and lets go of the lock.
    """

    def __init__(self, path: Path, kind: str = "partial") -> None:
        self.target = path
        self.path = staging_name(path, kind)
        self.path.mkdir()
        self._fd: int | None = lock_path(self.path)

    def commit(self) -> None:
        replace_path(self.path, self.target)
        self._release()

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self._release()

    def keep(self) -> None:
        self._release()

    def _release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _renameat2() -> object:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):  # pragma: no cover - not glibc >= 2.28
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _renameat2()


def _exchange(a: Path, b: Path) -> bool:
    """Swap `a` and `b` atomically; ``False`` where the system or file system cannot."""
    if _RENAMEAT2 is None:  # pragma: no cover - not Linux/glibc
        return False
    result = _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)  # type: ignore[operator]
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False  # pragma: no cover - file systems without RENAME_EXCHANGE
    raise OSError(code, f"cannot exchange {a} and {b}: {os.strerror(code)}")


def exchange_supported() -> bool:
    """Whether this system has ``renameat2(RENAME_EXCHANGE)`` (the file system may still lack it)."""
    return _RENAMEAT2 is not None


def replace_path(staged: Path, path: Path) -> None:
    """Move the finished `staged` (a directory or file) to `path`, replacing what is there.

    With an exchange (see the module notes) `path` is never without a store;
    the old one ends at `staged`'s name and is removed. A kill at any instant
    leaves the old or the new store at `path`, and at worst a stale sibling.
    """
    if path.exists() or path.is_symlink():
        if not _exchange(staged, path):  # pragma: no cover - exercised where unsupported
            aside = staging_name(path, "old")
            os.rename(path, aside)
            os.rename(staged, path)
            staged = aside
        _fsync_dir(path.parent)
        _remove(staged)
    else:
        os.rename(staged, path)
        _fsync_dir(path.parent)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_replaceable(path: Path, overwrite: bool) -> None:
    """Refuse to clobber `path` unless asked, and never clobber something that is not SZ."""
    if not (path.exists() or path.is_symlink()):
        return
    if not overwrite:
        raise StoreExistsError(f"{path} exists; pass overwrite=True to replace it")
    if path.is_dir():
        content = {p.name for p in path.iterdir()}
        if content and not content <= STORE_FILES:
            raise StoreExistsError(
                f"{path} exists and is not an SZ store (it holds {sorted(content)[:5]}); "
                "refusing to replace it"
            )
    else:
        raise StoreExistsError(
            f"{path} exists and is a file, not an SZ store; refusing to replace it"
        )


@dataclass(frozen=True)
class Sibling:
    """A hidden staging sibling of a store, and whether a live writer holds it."""

    path: Path
    kind: Literal["partial", "spool", "old"]
    owned: bool

    @property
    def size(self) -> int:
        if self.path.is_dir():
            return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return self.path.stat().st_size if self.path.exists() else 0


def stale_siblings(path: str | os.PathLike[str]) -> list[Sibling]:
    """The hidden staging siblings of `path` (``.NAME.partial-*``, ``.spool-*``, ``.old-*``),
    each marked ``owned`` when a live writer holds its lock."""
    path = Path(path)
    return [
        Sibling(candidate, kind, _owned(candidate))
        for kind in STAGING_KINDS
        for candidate in sorted(path.parent.glob(f".{_glob_escape(path.name)}.{kind}-*"))
    ]


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _owned(path: Path) -> bool:
    try:
        fd = lock_path(path)
    except BlockingIOError:
        return True
    except OSError:  # gone meanwhile, or unreadable: not ours to touch
        return True
    os.close(fd)
    return False


def remove_stale(path: str | os.PathLike[str]) -> list[Sibling]:
    """Remove the staging siblings of `path` that no live writer holds; return them.

    A sibling is locked while it is removed, so a writer cannot start on it meanwhile.
    """
    removed = []
    for sibling in stale_siblings(path):
        if sibling.owned:
            continue
        try:
            fd = lock_path(sibling.path)
        except OSError:
            continue
        try:
            _remove(sibling.path)
        finally:
            os.close(fd)
        removed.append(sibling)
    return removed
