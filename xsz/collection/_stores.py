"""Which SZ stores a collection holds: a directory tree, a glob, a list, local or remote.

`find_stores` turns what a user names (paths, globs, prefixes, URLs) into the
ordered list of stores. A store is a directory (or object prefix) holding
``index`` and ``dat``; a directory that is not one is searched, depth first
in name order, for stores (hidden entries such as ``.NAME.partial-*`` staging
directories are skipped, and nothing inside a store is searched). A prefix in
object storage is listed once; the listing also gives each store's version
(sizes and ETags of its objects), so no store has to be opened to tell
whether it changed.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from xsz.errors import SZFormatError
from xsz.source import is_url, local_path, store_at

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["StoreRef", "find_stores", "local_stamp", "stamp_json"]

_FILES: Final = ("checksums", "dat", "index")
_GLOB: Final = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class StoreRef:
    """One store of a collection: where it is and, when a listing told us, its version."""

    location: str
    """Absolute path, or URL without a trailing slash."""
    stamp: list[Any] | None = None
    """Its version as `stamp_json` of its source's stamp, when known without opening it."""


def stamp_json(stamp: object) -> list[Any]:
    """A source's `stamp` as plain JSON lists (what the index file records)."""
    if isinstance(stamp, tuple | list):
        return [stamp_json(s) for s in stamp]
    if stamp is None or isinstance(stamp, str | int | float | bool):
        return stamp  # type: ignore[return-value]
    return str(stamp)  # type: ignore[return-value]


def local_stamp(path: str) -> list[Any]:
    """`stamp_json` of the stamp `xsz.source.LocalSource` gives the store at `path`
    (device, inode, size and mtime of each of its files, by name), from ``stat``
    calls alone: checking a local store's version does not open it.

    Raises `OSError` when `path` lacks ``index`` or ``dat``.
    """
    stamp = []
    for name in _FILES:  # sorted by name, as LocalSource sorts them
        try:
            st = os.stat(os.path.join(path, name))
        except FileNotFoundError:
            if name == "checksums":
                continue
            raise
        stamp.append([st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns])
    return stamp


def find_stores(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    storage_options: Mapping[str, Any] | None = None,
) -> list[StoreRef]:
    """The SZ stores `paths` name, in order, each once.

    An ``http(s)://`` URL names one store (HTTP has no listing); other URLs are
    listed (one LIST request per thousand objects).

    Parameters
    ----------
    paths
        One or several of: a store, a directory or prefix to search for stores
        (a whole tree), a glob (``runs/*/*.sz``, ``s3://bucket/run*/*.sz``;
        ``**`` crosses directories locally), local or as URLs.
    storage_options
        Settings for obstore, for URLs.

    Raises
    ------
    xsz.errors.SZFormatError
        A path names nothing, or a directory or glob holds no store.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    found: list[StoreRef] = []
    seen: set[str] = set()
    for path in paths:
        refs = _remote(str(path), storage_options) if _is_remote(path) else _local(path)
        if not refs:
            raise SZFormatError(f"{path}: no SZ store there (a store holds 'index' and 'dat')")
        for ref in refs:
            if ref.location not in seen:
                seen.add(ref.location)
                found.append(ref)
    return found


def _is_remote(path: str | os.PathLike[str]) -> bool:
    return is_url(path) and local_path(path) is None


def _is_store(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "index")) and os.path.isfile(os.path.join(path, "dat"))


def _local(path: str | os.PathLike[str]) -> list[StoreRef]:
    given = local_path(path)
    assert given is not None
    text = os.path.abspath(os.fspath(given))
    if _GLOB.search(os.fspath(given)):
        out: list[StoreRef] = []
        for match in sorted(glob.glob(text, recursive=True)):
            if os.path.isdir(match):
                out.extend(_walk(match))
        return out
    if not os.path.exists(text):
        raise SZFormatError(f"no SZ store at {path}: the path does not exist")
    if not os.path.isdir(text):
        raise SZFormatError(f"{path} is not an SZ store: an SZ store is a directory")
    return _walk(text)


def _walk(top: str) -> list[StoreRef]:
    if _is_store(top):
        return [StoreRef(top)]
    out: list[StoreRef] = []
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except OSError as exc:
        raise SZFormatError(f"cannot search {top} for SZ stores: {exc}") from exc
    for entry in entries:
        if not entry.name.startswith(".") and entry.is_dir():
            out.extend(_walk(entry.path))
    return out


def _remote(url: str, storage_options: Mapping[str, Any] | None) -> list[StoreRef]:
    import obstore
    from obstore.exceptions import BaseError

    url = url.rstrip("/")
    scheme, _, rest = url.partition("://")
    if scheme in ("http", "https"):  # HTTP has no listing: the URL names one store
        if _GLOB.search(rest):
            raise SZFormatError(f"{url}: an HTTP server cannot be listed; name each store")
        return [StoreRef(url)]
    bucket, _, key = rest.partition("/")
    wild = _GLOB.search(key)
    prefix = key[: wild.start()].rpartition("/")[0] if wild else key
    options = dict(storage_options or {})
    root = f"{scheme}://{bucket}/"
    try:
        store = store_at(root, options)  # flat client settings (-S allow_http=true) too
        objects: dict[str, dict[str, dict[str, Any]]] = {}  # store key -> file name -> meta
        for batch in obstore.list(store, f"{prefix}/" if prefix else None, chunk_size=1000):
            for meta in batch:
                parent, _, name = str(meta["path"]).rpartition("/")
                if name in _FILES:
                    objects.setdefault(parent, {})[name] = dict(meta)
    except (BaseError, OSError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SZFormatError(f"cannot list {url}: {first}") from exc
    out: list[StoreRef] = []
    for parent in sorted(objects):
        files = objects[parent]
        if "index" not in files or "dat" not in files:
            continue
        below = parent.removeprefix(prefix)
        if any(part.startswith(".") for part in below.split("/")):
            continue  # hidden: a staging prefix
        if wild and not fnmatch.fnmatchcase(parent, key):
            continue
        if not wild and parent != prefix and not parent.startswith(f"{prefix}/" if prefix else ""):
            continue
        if any(parent.startswith(f"{o.location.partition(root)[2]}/") for o in out):
            continue  # inside a store
        stamp = [
            [name, int(files[name]["size"]), files[name].get("e_tag")] for name in sorted(files)
        ]
        out.append(StoreRef(f"{root}{parent}", stamp))
    return out


def display(location: str) -> str:
    """A store's location as messages show it (paths relative to the working directory
    when shorter)."""
    if is_url(location):
        return location
    try:
        rel = os.path.relpath(location)
    except ValueError:  # pragma: no cover - another drive on Windows
        return location
    return rel if len(rel) < len(location) else location


def as_location(path: str | os.PathLike[str]) -> str:
    """The canonical location of one store: absolute path or URL without a trailing slash."""
    if _is_remote(path):
        return str(path).rstrip("/")
    given = local_path(path)
    assert given is not None
    return str(Path(os.path.abspath(os.fspath(given))))
