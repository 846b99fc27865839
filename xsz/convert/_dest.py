"""Destinations of conversions: refuse to clobber, build aside, rename into place at the end.

Every conversion writes into a hidden sibling of its destination,
``.NAME.partial-XXXXXXXX`` (a directory or a file), and renames it to NAME only
once everything is written. A conversion that fails (an error, a full disk,
Ctrl-C) removes its staging path; one that is killed leaves only that hidden,
oddly named sibling, never a destination that looks finished. Replacing an
existing destination (``overwrite=True``) renames the old one aside first and
removes it after the new one is in place (`xsz.format.replace_path`), and
replaces only what is of the kind being written, never an unrelated file or
directory.

Unlike `xsz.format.SZWriter`, which fsyncs an SZ store's two files before the
rename, a Zarr destination's files are not fsynced (a directory of a million
chunk files would take minutes; ``cp`` does not either): the rename makes the
result appear whole to every process, and what survives a power cut is the
file system's business.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from typing import TYPE_CHECKING

from xsz.convert._detect import detect_format
from xsz.errors import SourceError, StoreExistsError
from xsz.format import replace_path

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
        raise StoreExistsError(f"{path} exists; pass overwrite=True (xsz: --force) to replace it")
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
    """A hidden staging path next to `dest`, renamed to `dest` when the block succeeds.

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
    staging = dest.parent / f".{dest.name}.partial-{uuid.uuid4().hex[:8]}"
    if directory:
        staging.mkdir()
    try:
        yield staging
    except BaseException:
        remove_path(staging)
        raise
    try:
        check_destination(dest, overwrite=overwrite, kind=kind)
    except StoreExistsError as exc:  # appeared meanwhile: keep ours aside, and say where
        raise StoreExistsError(f"{exc}; the new one is kept at {staging}") from exc
    try:
        if dest.exists() or dest.is_symlink():
            replace_path(staging, dest)  # the old one renamed aside, removed once ours is in
        else:
            os.rename(staging, dest)  # nothing fsynced (see above): no need to sync the folder
    except BaseException:
        remove_path(staging)
        raise
