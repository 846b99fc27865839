"""One object in object storage as a file: read by range GETs pinned to one version,
or replaced whole by one upload.

`ObjectFile` is a read-only, seekable binary file over the object at a URL
(what ``pyarrow.parquet.ParquetFile`` reads a collection's index through):
opening costs one GET of the object's last `TAIL` bytes (the whole object
when it is smaller), which also gives its size and ETag; every other read is
a range GET on condition that the object is still that version (``If-Match``),
so an object replaced while open raises `ObjectChangedError` instead of mixing
two versions' bytes. `upload_file` puts a local file at a URL as one PUT (a
multipart upload for a large one), which an object store shows only once
complete: a reader sees the old object or the new one, never part of either.
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

import obstore
from obstore.exceptions import BaseError, NotFoundError, PreconditionError

from xsz.errors import SZFormatError, UsageError
from xsz.source._object import THREADS, _coalesce, store_at
from xsz.source._upload import _first_line, _put

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping, Sequence

    from obstore.store import ObjectStore

__all__ = ["TAIL", "ObjectChangedError", "ObjectFile", "split_url", "upload_file"]

TAIL: Final = 1 << 20
"""Bytes fetched from the end of the object at open (a Parquet file's footer and,
for files up to this size, all of it)."""
_NOT_FOUND: Final = (NotFoundError, FileNotFoundError)


class ObjectChangedError(SZFormatError):
    """The object was replaced or removed since it was opened."""


def split_url(url: str) -> tuple[str, str]:
    """``(prefix URL, key)`` of the object at `url`: ``s3://b/a/x`` -> ``(s3://b/a, x)``.

    Raises `UsageError` for a URL that names no object (no key after the bucket or
    host, or ending in ``/``).
    """
    scheme, sep, rest = url.partition("://")
    parent, slash, key = rest.rpartition("/")
    if not sep or not slash or not key or not parent:
        raise UsageError(f"{url} names no object (give a URL of a file, e.g. s3://bucket/x)")
    return f"{scheme}://{parent}", key


class ObjectFile(io.RawIOBase):
    """The object at `url`, opened read-only as one version (see the module).

    Raises ``FileNotFoundError`` when there is no object at `url`, `SZFormatError`
    when it cannot be reached, `UsageError` when obstore refuses the URL or
    `storage_options`.
    """

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.url = url
        prefix, self._key = split_url(url)
        self._store: ObjectStore = store_at(prefix, storage_options)
        self._lock = threading.Lock()
        self._pos = 0
        self.gets = 0
        """GETs made so far."""
        self.fetched = 0
        """Bytes fetched so far."""
        try:
            got = obstore.get(self._store, self._key, options={"range": {"suffix": TAIL}})
            tail = bytes(got.bytes())
        except _NOT_FOUND as exc:
            raise FileNotFoundError(f"no object at {url}") from exc
        except (BaseError, OSError) as exc:
            # an empty object refuses a suffix range: ask for the whole of it
            try:
                got = obstore.get(self._store, self._key)
                tail = bytes(got.bytes())
            except _NOT_FOUND as missing:
                raise FileNotFoundError(f"no object at {url}") from missing
            except (BaseError, OSError):
                raise SZFormatError(f"cannot read {url}: {_first_line(exc)}") from exc
        self.gets += 1
        self.fetched += len(tail)
        self.size = int(got.meta["size"])
        tag = got.meta.get("e_tag")
        self.e_tag: str | None = str(tag) if tag is not None else None
        self._tail = tail
        self._tail_at = self.size - len(tail)
        self._blocks: list[tuple[int, bytes]] = []

    # --- io.RawIOBase ---------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read_at(self._pos, len(view))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(self.size - self._pos, 0)
        data = self.read_at(self._pos, size)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    # --- reads --------------------------------------------------------------------------

    def read_at(self, offset: int, size: int) -> bytes:
        """``size`` bytes from `offset` (fewer at the end): from the tail fetched at open,
        else one range GET of that version of the object."""
        if self.closed:
            raise ValueError(f"I/O on closed {self.url}")
        end = min(offset + size, self.size)
        if end <= offset:
            return b""
        if offset >= self._tail_at:
            return self._tail[offset - self._tail_at : end - self._tail_at]
        for start, block in self._blocks:
            if start <= offset and end <= start + len(block):
                return block[offset - start : end - start]
        return self._get(offset, end)

    def prefetch(self, starts: Sequence[int], stops: Sequence[int]) -> None:
        """Fetch the ranges ``[starts[i], stops[i])`` now (neighbours coalesced, the GETs
        concurrent) and keep them for the reads that follow, until `drop_prefetched`."""
        ranges = [  # what the tail fetched at open holds is not fetched again
            (a, min(b, self.size))
            for a, b in zip(starts, stops, strict=True)
            if a < b and a < self._tail_at
        ]
        if not ranges:
            return
        groups = _coalesce([a for a, _ in ranges], [b for _, b in ranges])
        spans = [(lo, hi) for lo, hi, _ in groups]
        if len(spans) == 1:
            blocks = [self._get(*spans[0])]
        else:
            with ThreadPoolExecutor(min(len(spans), THREADS)) as pool:
                blocks = list(pool.map(lambda span: self._get(*span), spans))
        self._blocks = [(lo, block) for (lo, _), block in zip(spans, blocks, strict=True)]

    def drop_prefetched(self) -> None:
        """Forget what `prefetch` fetched."""
        self._blocks = []

    def _get(self, offset: int, end: int) -> bytes:
        """One range GET of bytes ``[offset, end)`` of the version opened."""
        options: dict[str, Any] = {"range": (offset, end)}
        if self.e_tag is not None:
            options["if_match"] = self.e_tag
        try:
            got = obstore.get(self._store, self._key, options=options)  # type: ignore[arg-type]
            data = bytes(got.bytes())
        except (*_NOT_FOUND, PreconditionError):
            raise ObjectChangedError(
                f"{self.url} changed since it was opened (it was replaced or removed); "
                "open it again"
            ) from None
        except (BaseError, OSError) as exc:
            raise SZFormatError(f"cannot read {self.url}: {_first_line(exc)}") from exc
        with self._lock:
            self.gets += 1
            self.fetched += len(data)
        if len(data) != end - offset:  # pragma: no cover - a server not honouring ranges
            raise SZFormatError(
                f"{self.url}: asked for bytes {offset}-{end}, got {len(data)} bytes"
            )
        return data

    @property
    def tail(self) -> bytes:
        """The last bytes of the object, fetched at open (at most `TAIL`)."""
        return self._tail

    def close(self) -> None:
        self._tail = b""
        self._blocks = []
        super().close()

    def __repr__(self) -> str:
        return f"ObjectFile({self.url!r}, size={self.size})"


def upload_file(
    local: str | os.PathLike[str],
    url: str,
    storage_options: Mapping[str, Any] | None = None,
) -> str | None:
    """Put the local file `local` at `url`, replacing what is there: one PUT, or one
    multipart upload for a large file (`xsz.source._upload`), so that a reader sees
    the old object or the new one whole. Returns the new object's ETag.

    Raises `SZFormatError` when the upload fails (nothing at `url` changes then);
    `UsageError` when obstore refuses the URL or `storage_options`.
    """
    prefix, key = split_url(url)
    store = store_at(prefix, storage_options)
    try:
        with open(local, "rb") as file:
            result = _put(store, key, file)
    except (BaseError, OSError) as exc:
        raise SZFormatError(
            f"cannot upload {local} to {url}: {_first_line(exc)} (nothing at {url} changed)"
        ) from exc
    tag = result.get("e_tag")
    return str(tag) if tag is not None else None
