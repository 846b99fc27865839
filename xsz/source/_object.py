"""`ObjectSource`: an SZ store in object storage (S3, GCS, Azure, HTTP), through obstore.

A store at ``s3://bucket/run.sz`` is the objects ``run.sz/index``, ``run.sz/dat``
and (optionally) ``run.sz/checksums``. Opening costs one GET of ``index``, one
HEAD of ``dat`` and one ranged GET of the head of ``checksums``; every later
read of ``dat`` is a range GET made on condition that ``dat`` is still the
object seen at open (``If-Match`` its e_tag), so a store replaced meanwhile
raises `SZFormatError` instead of pairing the old index with new bytes.
Batches of ranges are coalesced (gaps up to `MAX_GAP` read through) and fetched
concurrently.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import obstore
from obstore.exceptions import BaseError, NotFoundError, PreconditionError
from obstore.store import from_url

from xsz.errors import StoreExistsError, SZFormatError, UsageError
from xsz.source._base import ByteSource
from xsz.source._local import OPTIONAL
from xsz.source._upload import CHECKSUMS_TAG, DAT_TAG, put_with_tags

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from obstore.store import ObjectStore

__all__ = ["ObjectSource", "is_url", "store_at", "upload_store"]

MAX_GAP: Final = 1 << 20
"""Ranges of one batch closer than this are fetched with one GET (a GET costs
about what a megabyte takes to transfer)."""
MAX_SPAN: Final = 1 << 26
"""A coalesced GET grows no larger than this (unless one range is larger)."""
THREADS: Final = 16
"""GETs of one batch in flight at once."""
CHECKSUMS_HEAD: Final = 1 << 20
"""Bytes of ``checksums`` fetched at open (its head line and, for stores up to
some 80,000 reads, every frame's CRC-32)."""
_NOT_FOUND: Final = (NotFoundError, FileNotFoundError)
"""What obstore raises for a missing object (the built-in one, in practice)."""
_ATTEMPTS: Final = 20
"""Opens tried while the store keeps being replaced under us."""
_CLIENT_KEYS: Final = frozenset(
    {
        "allow_http",
        "allow_invalid_certificates",
        "connect_timeout",
        "http1_only",
        "http2_only",
        "pool_idle_timeout",
        "proxy_url",
        "timeout",
        "user_agent",
    }
)
"""obstore's client settings, taken flat in `storage_options` too (as ``-S`` gives them)."""
_URL: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(location: object) -> bool:
    """Whether `location` is a URL (``scheme://...``) rather than a local path."""
    return isinstance(location, str) and bool(_URL.match(location))


class ObjectSource(ByteSource):
    """The SZ store at `url` in an object store, opened as one version.

    Parameters
    ----------
    url
        ``s3://``, ``gs://``, ``az://``, ``http(s)://`` ... URL of the store (the
        prefix holding ``index`` and ``dat``); with `store`, the prefix inside it.
    storage_options
        Settings for ``obstore.store.from_url`` (e.g. ``{"region": ...}``); by
        default obstore takes them from the environment (``AWS_ENDPOINT_URL``,
        ``AWS_ACCESS_KEY_ID``, ...).
    store
        An obstore store to read through instead of one made from `url`.

    Raises `SZFormatError` when there is no store at `url`, or it lacks ``index``
    or ``dat``; `UsageError` when obstore refuses the URL or `storage_options`.
    """

    concurrent = True
    gap = MAX_GAP

    def __init__(
        self,
        url: str,
        storage_options: Mapping[str, Any] | None = None,
        *,
        store: ObjectStore | None = None,
    ) -> None:
        self.url = url
        self.location = url.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self._given = store
        if store is not None:
            self._store: ObjectStore = store
            self._prefix = url.strip("/")
        else:
            self._store, self._prefix = _rooted(url, self.storage_options)
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False
        self._sizes: dict[str, int] = {}
        self._tags: dict[str, str | None] = {}
        self._cache: dict[str, bytes] = {}
        self._written: dict[str, str] = {}
        self._open()

    def _key(self, name: str) -> str:
        return f"{self._prefix}/{name}" if self._prefix else name

    def _open(self) -> None:
        for attempt in range(_ATTEMPTS):
            self._sizes.clear()
            self._tags.clear()
            self._cache.clear()
            self._open_once()
            if self._matched():
                return
            time.sleep(0.05 * (attempt + 1))
        raise SZFormatError(
            f"{self.location} keeps being replaced while it is opened: its 'index' names "
            "other 'dat' or 'checksums' objects than those found; try again"
        )

    def _matched(self) -> bool:
        """Whether ``dat`` and ``checksums`` are the objects ``index`` was committed with
        (the ETags xsz's writers record with it; stores uploaded otherwise pass)."""
        for name, key in (("dat", DAT_TAG), ("checksums", CHECKSUMS_TAG)):
            wanted = self._written.get(key)
            if wanted is not None and self._tags.get(name) != wanted:
                return False
        return True

    def _open_once(self) -> None:
        try:
            index = self._get("index")
        except _NOT_FOUND:
            raise SZFormatError(
                f"no SZ store at {self.location}: it has no 'index' object"
            ) from None
        self._remember("index", index.meta)
        self._written = {
            key: str(value)
            for key, value in (index.attributes or {}).items()
            if key in (DAT_TAG, CHECKSUMS_TAG)
        }
        self._cache["index"] = bytes(index.bytes())
        try:
            self._remember("dat", obstore.head(self._store, self._key("dat")))
        except _NOT_FOUND:
            raise SZFormatError(
                f"{self.location} is not an SZ store: it has no 'dat' object"
            ) from None
        except (BaseError, OSError) as exc:
            raise self._unreachable(exc) from exc
        try:
            head = self._get("checksums", (0, CHECKSUMS_HEAD))
        except _NOT_FOUND:
            return
        except SZFormatError:  # an empty object refuses a range: ask for its size
            self._remember("checksums", obstore.head(self._store, self._key("checksums")))
            self._cache["checksums"] = b""
            return
        self._remember("checksums", head.meta)
        self._cache["checksums"] = bytes(head.bytes())

    def _get(self, name: str, byte_range: tuple[int, int] | None = None) -> Any:
        """One GET of `name` (a byte range of it), pinned to the version seen at open."""
        options: dict[str, Any] = {}
        if byte_range is not None:
            options["range"] = byte_range
        tag = self._tags.get(name)
        if tag is not None:
            options["if_match"] = tag
        try:
            return obstore.get(self._store, self._key(name), options=options)  # type: ignore[arg-type]
        except _NOT_FOUND:
            if name in self._sizes:
                raise self._changed(name) from None
            raise
        except PreconditionError:
            raise self._changed(name) from None
        except (BaseError, OSError) as exc:
            raise self._unreachable(exc, name) from exc

    def _remember(self, name: str, meta: Mapping[str, Any]) -> None:
        self._sizes[name] = int(meta["size"])
        self._tags[name] = meta.get("e_tag")

    def _changed(self, name: str) -> SZFormatError:
        return SZFormatError(
            f"{self.location}/{name} changed since the store was opened (it was replaced or "
            "removed); open the store again"
        )

    def _unreachable(self, exc: BaseException, name: str | None = None) -> SZFormatError:
        where = f"{self.location}/{name}" if name else self.location
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return SZFormatError(f"cannot read {where}: {first}")

    def size(self, name: str) -> int | None:
        # docstring inherited
        return self._sizes.get(name)

    def _read(self, name: str, offset: int, size: int) -> bytes:
        self._check_open()
        cached = self._cache.get(name)
        if cached is not None and (
            offset + size <= len(cached) or len(cached) == self._sizes[name]
        ):
            if name == "index" and offset == 0 and size >= len(cached):
                self._cache.pop("index", None)  # parsed once by the reader; not kept twice
            return cached[offset : offset + size]
        end = min(offset + size, self._sizes.get(name, offset + size))
        if end <= offset:
            return b""
        return bytes(self._get(name, (offset, end)).bytes())

    def read_ranges(self, name: str, starts: Sequence[int], stops: Sequence[int]) -> list[bytes]:
        """The bytes ``name[starts[i]:stops[i]]`` for every i: neighbouring ranges are
        coalesced into one GET, and the GETs run concurrently."""
        groups = _coalesce(list(starts), list(stops))
        if len(groups) == 1:
            blocks = [self.read(name, groups[0][0], groups[0][1] - groups[0][0])]
        else:
            blocks = list(
                self._executor().map(lambda g: self.read(name, g[0], g[1] - g[0]), groups)
            )
        out: list[bytes] = [b""] * len(starts)
        for (lo, _, members), block in zip(groups, blocks, strict=True):
            view = memoryview(block)
            for k in members:
                out[k] = bytes(view[starts[k] - lo : stops[k] - lo])
        return out

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            self._check_open()
            if self._pool is None:
                self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="xsz-get")
            return self._pool

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"I/O on closed SZ store {self.location}")

    def stamp(self) -> tuple[object, ...]:
        # docstring inherited
        return tuple((name, self._sizes[name], self._tags[name]) for name in sorted(self._sizes))

    def close(self) -> None:
        # docstring inherited
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            self._cache.clear()
        if pool is not None:
            pool.shutdown(wait=False)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen, (self.url, self.storage_options, self._given))

    def __repr__(self) -> str:
        return f"ObjectSource({self.location!r})"


def _reopen(url: str, storage_options: dict[str, Any], store: ObjectStore | None) -> ObjectSource:
    return ObjectSource(url, storage_options, store=store)


def store_at(url: str, storage_options: Mapping[str, Any] | None = None) -> ObjectStore:
    """The obstore store rooted at `url` (`UsageError` if obstore refuses it)."""
    return _from_url(url, dict(storage_options or {}))


_SHARED: OrderedDict[tuple[object, ...], ObjectStore] = OrderedDict()
_SHARED_LOCK = threading.Lock()
_SHARED_MAX: Final = 32
_ROOTED = re.compile(r"^(s3|s3a|gs|https?)://([^/?#]+)/([A-Za-z0-9._~/+=@,:-]*)$")
"""URLs whose store is the bucket's (or host's) with the path as a key prefix: the
path's characters are the same as a key and in a URL (nothing percent-encoded)."""
_ENVIRONMENT: Final = ("AWS_", "GOOGLE_", "AZURE_")


def _rooted(url: str, storage_options: dict[str, Any]) -> tuple[ObjectStore, str]:
    """An obstore store for `url` and the prefix of `url`'s objects in it.

    Making a store costs ~15 ms of CPU (a new HTTP client, settings read from the
    environment): reading many stores of one bucket makes one, shared by every
    source of this process with the same settings (and environment), and keeps
    its connections open between stores. Other URLs get a store of their own.
    """
    match = _ROOTED.match(url.rstrip("/"))
    if match is None or not match[3]:
        return _from_url(url, storage_options), ""
    root = f"{match[1]}://{match[2]}"
    environment = sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENVIRONMENT))
    settings = json.dumps(storage_options, sort_keys=True, default=repr)
    key: tuple[object, ...] = (os.getpid(), root, settings, tuple(environment))
    with _SHARED_LOCK:
        store = _SHARED.get(key)
        if store is not None:
            _SHARED.move_to_end(key)
            return store, match[3]
    store = _from_url(root, storage_options)
    with _SHARED_LOCK:
        store = _SHARED.setdefault(key, store)
        while len(_SHARED) > _SHARED_MAX:
            _SHARED.popitem(last=False)
    return store, match[3]


def _from_url(url: str, storage_options: dict[str, Any]) -> ObjectStore:
    options = dict(storage_options)
    client = dict(options.get("client_options") or {})
    for key in _CLIENT_KEYS & options.keys():  # flat settings (``-S allow_http=true``)
        client[key] = options.pop(key)
    if url.startswith("http://"):  # asked for by name: plain HTTP is what is wanted
        client = {"allow_http": True, **client}
    if client:
        options["client_options"] = client
    try:
        return from_url(url.rstrip("/"), **options)
    except (BaseError, ValueError, TypeError) as exc:
        raise UsageError(f"cannot open {url} through obstore: {exc}") from exc
    except BaseException as exc:  # obstore panics on some unknown settings
        if type(exc).__name__ != "PanicException":
            raise
        raise UsageError(f"cannot open {url} through obstore: {exc}") from None


def _coalesce(starts: list[int], stops: list[int]) -> list[tuple[int, int, list[int]]]:
    """Group ranges into ``(lo, hi, members)`` GETs: gaps up to `MAX_GAP` read through."""
    order = sorted(range(len(starts)), key=starts.__getitem__)
    groups: list[tuple[int, int, list[int]]] = []
    for k in order:
        if groups:
            lo, hi, members = groups[-1]
            if starts[k] <= hi + MAX_GAP and max(hi, stops[k]) - lo <= MAX_SPAN:
                members.append(k)
                groups[-1] = (lo, max(hi, stops[k]), members)
                continue
        groups.append((starts[k], stops[k], [k]))
    return groups


def upload_store(
    local: str | os.PathLike[str],
    url: str,
    storage_options: Mapping[str, Any] | None = None,
    *,
    overwrite: bool = False,
) -> None:
    """Upload the local SZ store `local` to `url`, committed so that no reader sees
    half a store: ``dat`` first (a multipart upload when large), then ``checksums``,
    ``index`` last. A store already at `url` is replaced only with `overwrite`, and
    its ``index`` is deleted first (between the two versions there is no store,
    never an old index over new bytes).

    Raises `StoreExistsError` when a store is at `url` and not `overwrite`;
    `SZFormatError` when `local` is not a store or the upload fails.
    """
    root = Path(local)
    if not (root / "index").is_file() or not (root / "dat").is_file():
        raise SZFormatError(f"{root} is not an SZ store: it needs 'index' and 'dat' files")
    store = _from_url(url, dict(storage_options or {}))
    where = url.rstrip("/")
    try:
        exists = _exists(store, "index")
    except (BaseError, OSError) as exc:
        raise SZFormatError(f"cannot reach {where}: {exc}") from exc
    if exists and not overwrite:
        raise StoreExistsError(
            f"{where} is an SZ store already; pass overwrite=True to replace it "
            f"(the store written is kept at {root})"
        )
    try:
        with contextlib.ExitStack() as stack:
            files = {
                name: stack.enter_context(open(root / name, "rb"))
                for name in ("dat", *OPTIONAL, "index")
                if (root / name).is_file()
            }
            put_with_tags(store, files, replace=exists)
    except (BaseError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SZFormatError(
            f"cannot upload {root} to {where}: {first} (the store written is kept at {root})"
        ) from exc


def _exists(store: ObjectStore, name: str) -> bool:
    try:
        obstore.head(store, name)
    except _NOT_FOUND:
        return False
    return True
