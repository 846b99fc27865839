"""Putting a finished store in place: never clobber what is not ours, never half-way.

A store is written into a staging directory next to its destination and moved
there by `replace_path`; `check_replaceable` decides whether the destination
may be replaced at all.
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import TYPE_CHECKING

from xsz.errors import StoreExistsError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["check_replaceable", "replace_path"]


def replace_path(staged: Path, path: Path) -> None:
    """Move the finished directory `staged` to `path`, replacing what is there.

    The old content is renamed aside first and removed only once `staged` is in
    place, so at every instant `path` holds either the old or the new store.
    """
    if path.exists() or path.is_symlink():
        aside = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(path, aside)
        os.rename(staged, path)
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside)
        else:
            aside.unlink()
    else:
        os.rename(staged, path)
    _fsync_dir(path.parent)


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
        if content and not content <= {"index", "dat"}:
            raise StoreExistsError(
                f"{path} exists and is not an SZ store (it holds {sorted(content)[:5]}); "
                "refusing to replace it"
            )
    else:
        raise StoreExistsError(
            f"{path} exists and is a file, not an SZ store; refusing to replace it"
        )
