"""`StoreUpload`: write an SZ store into object storage, streamed and committed whole.

``dat`` goes up as it is written, one multipart upload fed from a bounded queue
by a background thread (obstore's ``put`` of an iterator): memory holds at
most `QUEUE_PIECES` pieces of `PIECE_BYTES` waiting plus obstore's parts in
flight (`PART_BYTES` x `PARTS_IN_FLIGHT`), whatever the size of the store. An
object store shows a multipart upload only once it is completed, so until the
commit nothing at the URL changes: a store already there stays whole and
readable, and a writer killed meanwhile leaves no object (only an incomplete
upload, which the bucket's lifecycle rule for incomplete multipart uploads
removes, and which no listing or GET shows).

`StoreUpload.commit` is the only step that changes the prefix, in this order:
delete the old ``index`` (when replacing: from here until the new ``index``
there is no store, never an old index over new bytes), complete ``dat``, put
``checksums``, put ``index`` last. ``index`` is put with the ETags of the
``dat`` and ``checksums`` it belongs to as user metadata (`DAT_TAG`,
`CHECKSUMS_TAG`); `xsz.source.ObjectSource` compares them with the objects it
finds, so a reader that fetched an index just before a replace began never
pairs it with the new ``dat`` (it opens again, or reports the change).
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
from typing import TYPE_CHECKING, Any, Final

import obstore
from obstore.exceptions import BaseError

from xsz.errors import StoreExistsError, SZFormatError

if TYPE_CHECKING:
    from collections.abc import Buffer, Iterator, Mapping

    from obstore.store import ObjectStore

__all__ = ["CHECKSUMS_TAG", "DAT_TAG", "StoreUpload", "store_keys"]

DAT_TAG: Final = "xsz-dat-etag"
"""User metadata of ``index``: the ETag of the ``dat`` it describes."""
CHECKSUMS_TAG: Final = "xsz-checksums-etag"
"""User metadata of ``index``: the ETag of its ``checksums`` (absent without one)."""
PIECE_BYTES: Final = 1 << 20
"""``dat`` is handed to the uploader in pieces of about this size."""
QUEUE_PIECES: Final = 8
"""Pieces that may wait for the uploader before `StoreUpload.write` blocks."""
PART_BYTES: Final = 8 << 20
"""Part size of the multipart upload of ``dat`` (S3 wants >= 5 MiB but the last)."""
PARTS_IN_FLIGHT: Final = 4
"""Parts of ``dat`` uploaded at once."""
STORE_FILES: Final = frozenset({"index", "dat", "checksums"})
_END: Final = object()
_WAIT: Final = 0.5


class _Aborted(Exception):
    """Raised into the upload's iterator to make obstore abort the multipart upload."""


def store_keys(store: ObjectStore, limit: int = 100) -> list[str]:
    """Up to `limit` object keys under `store`'s prefix (every key below it)."""
    keys: list[str] = []
    for batch in obstore.list(store, chunk_size=limit):
        keys.extend(str(meta["path"]) for meta in batch)
        if len(keys) >= limit:
            break
    return keys


class StoreUpload:
    """The objects of a new SZ store at `url` (``dat`` streamed), committed by `commit`.

    Parameters
    ----------
    store
        An obstore store rooted at the store's prefix (the URL of the store).
    where
        The URL, for messages.
    overwrite
        Whether an SZ store already at the prefix may be replaced (at `commit`).

    Raises `StoreExistsError` (before anything is uploaded) when the prefix holds
    an SZ store and not `overwrite`, or holds objects that are not an SZ store's;
    `SZFormatError` when the object store cannot be reached.
    """

    def __init__(self, store: ObjectStore, where: str, *, overwrite: bool) -> None:
        self.store = store
        self.where = where
        self.overwrite = overwrite
        self.check()
        self.nbytes = 0
        self._piece = bytearray()
        self._queue: queue.Queue[object] = queue.Queue(QUEUE_PIECES)
        self._result: dict[str, Any] | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._upload, name="xsz-upload", daemon=True)
        self._thread.start()

    # --- checks -----------------------------------------------------------------------

    def check(self) -> bool:
        """Whether an SZ store (an ``index``) is at the prefix now; raises
        `StoreExistsError` when it may not be replaced."""
        try:
            keys = store_keys(self.store)
        except (BaseError, OSError) as exc:
            raise SZFormatError(f"cannot reach {self.where}: {_first_line(exc)}") from exc
        foreign = sorted(k for k in keys if k not in STORE_FILES)
        if foreign:
            raise StoreExistsError(
                f"{self.where} holds objects that are not an SZ store's ({foreign[:5]}); "
                "refusing to write there"
            )
        exists = "index" in keys
        if exists and not self.overwrite:
            raise StoreExistsError(
                f"{self.where} is an SZ store already; pass overwrite=True to replace it"
            )
        return exists

    # --- dat ------------------------------------------------------------------------

    def _pieces(self) -> Iterator[Buffer]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Aborted):
                raise item
            assert isinstance(item, bytes)
            yield item

    def _upload(self) -> None:
        try:
            result = obstore.put(
                self.store,
                "dat",
                self._pieces(),
                chunk_size=PART_BYTES,
                max_concurrency=PARTS_IN_FLIGHT,
            )
            self._result = dict(result)
        except BaseException as exc:  # reported by write / commit
            self._error = exc
        finally:
            self._done.set()
            with contextlib.suppress(queue.Empty):  # unblock a writer waiting on a full queue
                while True:
                    self._queue.get_nowait()

    def _send(self, item: object) -> None:
        while True:
            if self._done.is_set():
                self._raise_failed()
            try:
                self._queue.put(item, timeout=_WAIT)
                return
            except queue.Full:
                continue

    def _raise_failed(self) -> None:
        exc = self._error
        if exc is None or isinstance(exc, _Aborted):
            raise SZFormatError(f"the upload of {self.where}/dat ended early")
        raise SZFormatError(
            f"cannot upload {self.where}/dat: {_first_line(exc)}; nothing was committed"
        ) from exc

    def write(self, data: Buffer) -> int:
        """Append `data` to ``dat`` (queued for the uploader; blocks while the queue is full)."""
        view = memoryview(data).cast("B")
        self._piece += view
        self.nbytes += len(view)
        if len(self._piece) >= PIECE_BYTES:
            self.flush()
        return len(view)

    def flush(self) -> None:
        """Hand what is buffered to the uploader."""
        if self._piece:
            piece, self._piece = bytes(self._piece), bytearray()
            self._send(piece)

    def _finish_dat(self) -> str | None:
        self.flush()
        self._send(_END)
        self._done.wait()
        if self._error is not None or self._result is None:
            self._raise_failed()
        assert self._result is not None
        tag = self._result.get("e_tag")
        return str(tag) if tag is not None else None

    # --- commit ------------------------------------------------------------------------

    def commit(self, checksums: bytes | None, index: Any) -> None:
        """Make the store visible: old ``index`` deleted (if any), ``dat`` completed,
        ``checksums`` put, `index` (bytes or a binary file) put last.

        Raises `StoreExistsError` (and uploads nothing) if an SZ store appeared at the
        prefix meanwhile and not `overwrite`; `SZFormatError` if an upload fails.
        """
        if self._closed:
            raise SZFormatError(f"the upload of {self.where} is closed")
        try:
            exists = self.check()
            if self._done.is_set():  # the upload of dat failed: keep the old store
                self._raise_failed()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        try:
            if exists:
                obstore.delete(self.store, "index")  # from here: no store, never a mix
            attributes = {}
            dat_tag = self._finish_dat()
            if dat_tag is not None:
                attributes[DAT_TAG] = dat_tag
            if checksums is not None:
                tag = obstore.put(self.store, "checksums", checksums).get("e_tag")
                if tag is not None:
                    attributes[CHECKSUMS_TAG] = str(tag)
            else:
                with contextlib.suppress(FileNotFoundError, BaseError):
                    obstore.delete(self.store, "checksums")
            _put(self.store, "index", index, attributes=attributes)
        except (BaseError, OSError) as exc:
            raise SZFormatError(
                f"cannot upload {self.where}: {_first_line(exc)}; no store is at "
                f"{self.where} now (its 'index' is put last)"
            ) from exc
        finally:
            self._stop()

    def abort(self) -> None:
        """Stop the upload of ``dat``: the object store discards its parts; nothing at
        the prefix changes. Idempotent."""
        self._closed = True
        self._piece = bytearray()
        self._stop()

    def _stop(self) -> None:
        if not self._done.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_Aborted("aborted"))
            while not self._done.wait(_WAIT):
                with contextlib.suppress(queue.Full):
                    self._queue.put_nowait(_Aborted("aborted"))
        self._thread.join()

    @property
    def closed(self) -> bool:
        return self._closed


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def put_with_tags(store: ObjectStore, files: Mapping[str, Any], *, replace: bool) -> None:
    """Put the files of a finished store (``dat`` and optional ``checksums`` first,
    ``index`` last with the others' ETags), deleting an old ``index`` first when
    `replace`. `files` maps names to what ``obstore.put`` takes."""
    if replace:
        obstore.delete(store, "index")
    attributes: dict[str, str] = {}
    for name, tag_key in (("dat", DAT_TAG), ("checksums", CHECKSUMS_TAG)):
        if name in files:
            tag = _put(store, name, files[name]).get("e_tag")
            if tag is not None:
                attributes[tag_key] = str(tag)
        elif name == "checksums":
            with contextlib.suppress(FileNotFoundError, BaseError):
                obstore.delete(store, name)
    _put(store, "index", files["index"], attributes=attributes)


def _put(store: ObjectStore, name: str, data: Any, **kwargs: Any) -> Any:
    """``obstore.put`` of bytes or a binary file; a file goes in pieces, `PARTS_IN_FLIGHT`
    parts at a time (obstore's own reading of a file object buffers many more)."""
    if hasattr(data, "read"):
        data = iter(functools.partial(data.read, PIECE_BYTES), b"")
    return obstore.put(
        store, name, data, chunk_size=PART_BYTES, max_concurrency=PARTS_IN_FLIGHT, **kwargs
    )
