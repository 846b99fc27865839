"""Destinations of conversions: refuse to clobber, build aside, rename into place at the end.

Every conversion writes into a hidden, locked staging directory next to its
destination, ``.NAME.partial-XXXXXXXX`` (`xsz.format.Staging`): a directory
destination is that directory, a file destination a file inside it (so what
the file's writer puts next to it, pod5's temporary files say, stays inside
too). It is moved to NAME only once everything is written. A conversion that
fails (an error, a full disk, Ctrl-C) removes its staging directory; one that
is killed leaves only that hidden, unlocked sibling, which
`xsz.format.stale_siblings` lists, never a destination that looks finished.
Replacing an existing destination (``overwrite=True``) swaps the two
atomically (`xsz.format.replace_path`), and replaces only what is of the kind
being written, never an unrelated file or directory.

Unlike `xsz.format.SZWriter`, which fsyncs an SZ store's two files before the
rename, a Zarr destination's files are not fsynced (a directory of a million
chunk files would take minutes; ``cp`` does not either): the rename makes the
result appear whole to every process, and what survives a power cut is the
file system's business.
"""

from __future__ import annotations

import contextlib
import shutil
from typing import TYPE_CHECKING

from xsz.convert._detect import detect_format
from xsz.errors import SourceError, StoreExistsError
from xsz.format import Staging

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["check_destination", "path_size", "remove_path", "staged"]


def check_destination(path: Path, *, overwrite: bool, kind: str) -> None:
    """Refuse `path` if it exists, unless `overwrite` and it holds a `kind` store or file.

    `kind` is a format of `detect_format` (``"zarr"``, ``"pod5"`` ...).
    """
    if not (path.exists() or path.is_symlink()):
        return
    if not overwrite:
        raise StoreExistsError(f"{path} exists; pass overwrite=True to replace it")
    try:
        found: str | None = detect_format(path)
    except (SourceError, OSError):
        found = None
    if found != kind:
        what = f"a {found} store or file" if found else "not a format xsz writes"
        raise StoreExistsError(f"{path} exists and is {what}, not {kind}; refusing to replace it")


def path_size(path: Path) -> int:
    """Bytes of a file, or of every file under a directory."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def remove_path(path: Path) -> None:
    """Remove a file or directory tree, quietly."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def staged(dest: Path, *, directory: bool, overwrite: bool, kind: str) -> Iterator[Path]:
    """A hidden staging path next to `dest`, moved to `dest` when the block succeeds.

    Parameters
    ----------
    dest
        The destination.
    directory
        Make the staging path a directory (else the block creates a file there).
    overwrite, kind
        As for `check_destination`, checked before and again at the end.

    Examples
    --------
    >>> dest = getfixture("tmp_path") / "out.zarr"
    >>> with staged(dest, directory=True, overwrite=False, kind="zarr") as tmp:
    ...     _ = (tmp / "zarr.json").write_text("{}")
    ...     tmp.name.startswith(".out.zarr.partial-"), dest.exists()
    (True, False)
    >>> sorted(p.name for p in dest.iterdir())
    ['zarr.json']
    """
    check_destination(dest, overwrite=overwrite, kind=kind)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Staging(dest, file=not directory)
    try:
        yield staging.out
    except BaseException:
        staging.discard()
        raise
    try:
        check_destination(dest, overwrite=overwrite, kind=kind)
    except StoreExistsError as exc:  # appeared meanwhile: keep ours aside, and say where
        staging.keep()
        raise StoreExistsError(f"{exc}; the new one is kept at {staging.out}") from exc
    try:
        staging.commit()
    except BaseException:
        staging.discard()
        raise
