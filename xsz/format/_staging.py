"""Putting a finished store in place: never clobber what is not ours, never half-way.

A store is written into a staging directory next to its destination
(`Staging`, ``.NAME.partial-XXXXXXXX``; a file destination is written inside
one) and moved there by `replace_path`. When the destination exists, the two
are swapped with one ``renameat2(RENAME_EXCHANGE)`` (Linux >= 3.15, on the
file systems that have it), so the path holds the old store or the new one at
every instant, and a reader that opened the old one keeps reading it whole.

Elsewhere (`exchange_supported` false, or a file system without the exchange)
the old store is locked, renamed aside to ``.NAME.old-XXXXXXXX`` and the new
one renamed in: two renames, with a moment in between when the path holds
nothing (a reader opening it then finds no store; it never mixes the two). A
kill in that moment leaves the old store whole at ``.NAME.old-*`` and the new
one whole at ``.NAME.partial-*``, both listed by `stale_siblings`;
`remove_stale` then puts the old one back at the path (the replace never
happened) rather than removing it. So whatever instant a writer dies, the old
or the new store is at the path or, in that one case, found and restored.

Every staging sibling (``partial``, a writer's ``spool``, an ``old`` store
being swapped out) is locked (``flock``) by the process using it for as long
as it does, so `stale_siblings` can tell the leftovers of killed writers
(unlocked) from the work of a live one (locked), and only the former are ever
removed (`remove_stale`). A process forked meanwhile (a multiprocessing
worker or Manager) does not keep the locks: its copies of their descriptors
are closed in it, so a writer's lock ends with the writer.
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
    "unlock",
]

STAGING_KINDS: Final[tuple[Literal["partial", "spool", "old"], ...]] = ("partial", "spool", "old")
"""What a hidden sibling ``.NAME.<kind>-XXXXXXXX`` of a store is: a store (Zarr store,
pod5 file) being written, a writer's scratch data (a writing SZStore's spool, the SZ
store a conversion goes through), an old store being swapped out."""
STORE_FILES: Final = frozenset({"index", "dat", "checksums", "table"})
"""The files an SZ store directory may hold."""
_RENAME_EXCHANGE: Final = 2
_AT_FDCWD: Final = -100


def staging_name(path: Path, kind: str) -> Path:
    """A new hidden sibling of `path` of the given kind (see `STAGING_KINDS`)."""
    return path.parent / f".{path.name}.{kind}-{uuid.uuid4().hex[:8]}"


_HELD: dict[int, int] = {}
"""Lock descriptors this process holds -> the pid that took them (see `_forget_locks`)."""


def _forget_locks() -> None:
    """In a forked child: close the inherited lock descriptors; the parent still holds
    the locks (an ``flock`` lasts while any descriptor of it is open), the child never."""
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks)


def lock_path(path: Path, *, wait: bool = False) -> int:
    """Open `path` (a directory or file) and hold an exclusive ``flock`` on it.

    Returns the descriptor; the lock lasts until `unlock`, or until the
    process ends, however it ends (a forked child does not inherit it).
    Raises ``BlockingIOError`` if another holds it, unless `wait`.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BaseException:
        os.close(fd)
        raise
    _HELD[fd] = os.getpid()
    return fd


def unlock(fd: int) -> None:
    """Let go of a lock `lock_path` took (a no-op in a forked child, which has none)."""
    if _HELD.pop(fd, None) == os.getpid():
        os.close(fd)


class Staging:
    """A staging directory next to `path`, made and locked for one writer.

    Parameters
    ----------
    path
        The destination.
    kind
        ``"partial"`` (a new store) or ``"spool"`` (a writer's scratch data).
    file
        The destination is a file: it is written at `out`, inside the staging
        directory (so whatever its writer puts next to it stays inside too).

    Notes
    -----
    `out` is where to write: the staging directory itself, or the file in
    it. `commit` moves `out` to `path` (`replace_path`) and removes the
    staging directory; `discard` removes it; `keep` leaves it (for
    ``xsz recover``) and lets go of the lock.

    Examples
    --------
    >>> dest = getfixture("tmp_path") / "reads.pod5"
    >>> staging = Staging(dest, file=True)
    >>> _ = staging.out.write_bytes(b"new")
    >>> [s.owned for s in stale_siblings(dest)]
    [True]
    >>> staging.commit()
    >>> dest.read_bytes(), stale_siblings(dest)
    (b'new', [])
    """

    def __init__(self, path: Path, kind: str = "partial", *, file: bool = False) -> None:
        self.target = path
        self.path = staging_name(path, kind)
        self.path.mkdir()
        try:
            self._fd: int | None = lock_path(self.path)
        except BaseException:
            self.path.rmdir()
            raise
        self.out = self.path / path.name if file else self.path

    def commit(self) -> None:
        replace_path(self.out, self.target)
        if self.out != self.path:  # a file moved out (or the old one, swapped in, removed)
            _remove(self.path)
        self._release()

    def discard(self) -> None:
        _remove(self.path)
        self._release()

    def keep(self) -> None:
        self._release()

    def _release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            unlock(fd)

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            with contextlib.suppress(Exception):  # at interpreter exit: the process ends anyway
                unlock(fd)


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
    the old one ends at `staged`'s name and is removed. Without one the old
    store is locked, renamed aside (``.NAME.old-*``) and the new one renamed
    in. A kill at any instant leaves the old or the new store at `path` and
    at worst stale siblings, except between the two renames of the fallback:
    then `path` is empty, the old store whole at ``.NAME.old-*``, and
    `remove_stale` puts it back.
    """
    if path.exists() or path.is_symlink():
        if not (exchange_supported() and _exchange(staged, path)):
            _swap_by_renames(staged, path)
        else:
            _fsync_dir(path.parent)
            _remove(staged)
    else:
        os.rename(staged, path)
        _fsync_dir(path.parent)


def _swap_by_renames(staged: Path, path: Path) -> None:
    """The fallback: rename the old `path` aside, locked, then `staged` in; remove the old."""
    aside = staging_name(path, "old")
    fd = lock_path(path, wait=True)  # locked before it is aside: never taken for stale
    try:
        os.rename(path, aside)
        try:
            os.rename(staged, path)
        except BaseException:
            os.rename(aside, path)
            raise
        _fsync_dir(path.parent)
        _remove(aside)
    finally:
        unlock(fd)


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
    unlock(fd)
    return False


def remove_stale(path: str | os.PathLike[str]) -> list[Sibling]:
    """Remove the staging siblings of `path` that no live writer holds; return them.

    A sibling is locked while it is removed, so a writer cannot start on it
    meanwhile; one a live writer holds is never touched. When `path` itself is
    missing and an unheld ``.NAME.old-*`` sibling is there, a replace by two
    renames was killed between them (see `replace_path`): that old store is
    renamed back to `path` (the latest one, if several) instead of removed,
    and is not in the list returned.
    """
    path = Path(path)
    siblings = stale_siblings(path)
    restore = _to_restore(path, siblings)
    removed = []
    for sibling in siblings:
        if sibling.owned:
            continue
        try:
            fd = lock_path(sibling.path)
        except OSError:
            continue
        try:
            if sibling.path == restore:
                with contextlib.suppress(OSError):  # failing that, it stays where it is
                    os.rename(sibling.path, path)
                    _fsync_dir(path.parent)
                continue
            _remove(sibling.path)
        finally:
            unlock(fd)
        removed.append(sibling)
    return removed


def _to_restore(path: Path, siblings: list[Sibling]) -> Path | None:
    """The old store to put back at a missing `path`: the unheld ``old`` sibling renamed last."""
    if path.exists() or path.is_symlink():
        return None
    olds = []
    for sibling in siblings:
        if sibling.kind == "old" and not sibling.owned:
            with contextlib.suppress(OSError):
                olds.append((sibling.path.lstat().st_ctime_ns, sibling.path))
    return max(olds)[1] if olds else None
