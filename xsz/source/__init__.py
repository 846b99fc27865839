"""Byte sources: the files of one SZ store, read by byte range.

The container code (`xsz.format`) reads ``index``, ``dat`` and ``checksums``
through a `ByteSource` and nothing else, so one copy of it serves every place
a store can live. `LocalSource` is a directory on a local file system, opened
once: every file is opened relative to that one directory handle, so a reader
sees one version of a store even while a writer replaces it. `ObjectSource` is
a prefix in an object store (S3, GCS, Azure, HTTP), read through obstore with
range GETs pinned to the version seen at open. `open_source` picks one for a
path or URL.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from xsz.errors import UsageError
from xsz.source._base import ByteSource
from xsz.source._local import LocalSource

if TYPE_CHECKING:
    from collections.abc import Mapping

    from xsz.source._file import ObjectFile
    from xsz.source._object import ObjectSource
    from xsz.source._upload import StoreUpload

__all__ = [
    "ByteSource",
    "LocalSource",
    "Location",
    "ObjectFile",
    "ObjectSource",
    "StoreUpload",
    "is_url",
    "local_path",
    "open_upload",
    "open_source",
    "store_at",
    "store_keys",
    "upload_file",
    "upload_store",
    "url_size",
]

Location = str | os.PathLike[str]
"""Where a store is: a local path, or a URL (``s3://``, ``gs://``, ``az://``,
``http(s)://``, ``file://``)."""


def is_url(location: object) -> bool:
    """Whether `location` is a URL (``scheme://...``) rather than a local path."""
    from xsz.source._object import is_url as _is_url

    return _is_url(location)


def local_path(location: Location) -> str | os.PathLike[str] | None:
    """The local path `location` names (a path or a ``file://`` URL); ``None`` for
    other URLs."""
    if not is_url(location):
        return location
    parsed = urlparse(str(location))
    if parsed.scheme != "file":
        return None
    if parsed.netloc not in ("", "localhost"):
        raise UsageError(f"{location}: a file:// URL names a path on this machine, not a host")
    return unquote(parsed.path)


def open_source(location: Location, storage_options: Mapping[str, Any] | None = None) -> ByteSource:
    """The byte source of the SZ store at `location`: `LocalSource` for a path or a
    ``file://`` URL, `ObjectSource` (obstore) for other URLs.

    Raises `SZFormatError` when there is no store there, `UsageError` for
    `storage_options` given with a local path or refused by obstore.
    """
    path = local_path(location)
    if path is not None:
        if storage_options:
            raise UsageError(
                f"storage_options are for object storage URLs; {location} is a local path"
            )
        return LocalSource(path)
    from xsz.source._object import ObjectSource

    return ObjectSource(str(location), storage_options)


def upload_store(
    local: str | os.PathLike[str],
    url: str,
    storage_options: Mapping[str, Any] | None = None,
    *,
    overwrite: bool = False,
) -> None:
    """Upload the local SZ store `local` to `url`: ``dat`` first, ``index`` last
    (see `xsz.source._object.upload_store`)."""
    from xsz.source._object import upload_store as _upload_store

    _upload_store(local, url, storage_options, overwrite=overwrite)


def upload_file(
    local: str | os.PathLike[str], url: str, storage_options: Mapping[str, Any] | None = None
) -> str | None:
    """Put the local file `local` at the object storage `url` whole (one PUT or one
    multipart upload: a reader sees the old object or the new one); its ETag
    (see `xsz.source._file.upload_file`)."""
    from xsz.source._file import upload_file as _upload_file

    return _upload_file(local, url, storage_options)


def open_upload(
    url: str, storage_options: Mapping[str, Any] | None = None, *, overwrite: bool = False
) -> StoreUpload:
    """A `StoreUpload` of a new SZ store at the object storage `url`: ``dat`` streamed
    as a multipart upload, nothing visible at `url` until `StoreUpload.commit`.

    Raises `StoreExistsError` when a store is at `url` and not `overwrite` (or the
    prefix holds other objects), `UsageError` when obstore refuses the URL.
    """
    from xsz.source._object import store_at
    from xsz.source._upload import StoreUpload

    return StoreUpload(store_at(url, storage_options), url.rstrip("/"), overwrite=overwrite)


def store_at(url: str, storage_options: Mapping[str, Any] | None = None) -> Any:
    """The obstore store rooted at the object storage `url` (``UsageError`` if obstore
    refuses the URL or the options)."""
    from xsz.source._object import store_at as _store_at

    return _store_at(url, storage_options)


def store_keys(store: Any, limit: int = 100) -> list[str]:
    """Up to `limit` keys of objects under the obstore `store` (relative to its root)."""
    from xsz.source._upload import store_keys as _store_keys

    return _store_keys(store, limit)


def url_size(url: str, storage_options: Mapping[str, Any] | None = None) -> int:
    """Bytes of every object under the object storage prefix `url`."""
    import obstore

    total = 0
    for batch in obstore.list(store_at(url, storage_options)):
        total += sum(int(meta["size"]) for meta in batch)
    return total


def __getattr__(name: str) -> Any:
    if name == "ObjectSource":  # imports obstore only when asked for
        from xsz.source._object import ObjectSource

        return ObjectSource
    if name == "ObjectFile":
        from xsz.source._file import ObjectFile

        return ObjectFile
    if name == "StoreUpload":
        from xsz.source._upload import StoreUpload

        return StoreUpload
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
