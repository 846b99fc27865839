"""pysz 0.4.0's interface, drop-in: ``from xsz.api import CompressedFile``.

This is the only module that speaks pysz's spellings (`CompressedFile`,
`put_chunk`, `idx`, `attr`, `q_in`, the default ``ID``/``Raw`` schema). It is a
thin layer over `xsz.format`, and fixes the original's faults on the way:
attributes come back typed, `get` keeps the order asked for (and returns one
record for one int), bad records are refused with a clear error instead of
hanging `close`, reading starts no helper processes, and empty stores open.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict, namedtuple
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xsz.errors import RecordError, SchemaError, UsageError, XszError
from xsz.format import Schema, SZReader, SZWriter
from xsz.source import is_url

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from multiprocessing.managers import SyncManager

    import pandas as pd

__all__ = ["CompressedFile", "error_callback"]

log = logging.getLogger(__name__)

# pysz 0.4.0's defaults, from its source (its README shows Raw_unit as float32).
ATTRIBUTES: list[tuple[str, type]] = [("ID", str), ("Offset", np.int32), ("Raw_unit", np.uint32)]
DATASETS: list[tuple[str, type]] = [("Raw", np.uint32), ("Fastq", str), ("Move", np.uint16)]

_QUEUE_DONE = None  # what close() puts into q_in to stop its consumer


@cache
def _record_type(fields: tuple[str, ...]) -> Any:
    """A namedtuple class per field list, which pickles by field names (for Pools).

    Raises `SchemaError` for names a namedtuple cannot take (as pysz's records could not).
    """
    try:
        base = namedtuple("Record", fields)  # type: ignore[misc]
    except ValueError as exc:
        raise SchemaError(
            f"CompressedFile gives each read as a namedtuple, which cannot have the "
            f"fields {list(fields)}: {exc}; read this store with xsz.format.SZReader"
        ) from None

    def reduce(self: Any) -> tuple[Any, ...]:
        return _rebuild_record, (self._fields, tuple(self))

    return type("Record", (base,), {"__slots__": (), "__reduce__": reduce, "__module__": __name__})


def _rebuild_record(fields: tuple[str, ...], values: tuple[Any, ...]) -> Any:
    return _record_type(fields)._make(values)


def error_callback(exc: BaseException) -> None:
    """Log an exception raised in a worker (pysz's ``pysz.utils.error_callback``)."""
    log.error("worker failed: %r", exc, exc_info=exc)


class CompressedFile:
    """An SZ store with pysz 0.4.0's interface.

    Parameters
    ----------
    data_dir
        The SZ store, a directory, or its URL in object storage (``s3://``,
        ``gs://``, ``az://``, ``http(s)://``, ``file://``). A store written to a
        URL streams ``dat`` up as it is written and commits on `close`
        (``index`` last; see `xsz.format.SZWriter`).
    mode
        ``"r"`` to read, ``"w"`` to write a new store.
    header
        ``(key, value)`` pairs (or a dict) for a new store's header.
    attributes, datasets
        ``(name, dtype)`` pairs for a new store; dtypes as pysz takes them
        (``str``, ``np.int16`` ... ``np.float128``). Default: pysz's schema.
    overwrite
        Replace an existing store (on `close`; until then it stays intact).
    n_threads
        Encoder threads when writing, decoder threads for large `get` batches.
    allow_multiprocessing
        Accepted for compatibility: readers are always safe to open in each
        worker process, and none starts helper processes.
    checksum
        Give each frame zstd's content checksum (pysz reads such frames too);
        ``False`` writes frames byte-identical to pysz's. Either way the store
        gets a ``checksums`` file (see `xsz.format.SZWriter`).
    storage_options
        Settings for obstore when `data_dir` is a URL (by default, the environment's).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "reads.sz")
    >>> with CompressedFile(path, mode="w", attributes=[("ID", str)],
    ...                     datasets=[("Raw", np.int16)]) as sz:
    ...     sz.put("read_0", np.array([510, 498, 503], dtype=np.int16))
    >>> read = CompressedFile(path).get(0)
    >>> read.ID, read.Raw
    ('read_0', array([510, 498, 503], dtype=int16))
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        mode: str = "r",
        header: Any = None,
        attributes: Sequence[tuple[str, Any]] | None = None,
        datasets: Sequence[tuple[str, Any]] | None = None,
        overwrite: bool = False,
        n_threads: int = 8,
        allow_multiprocessing: bool = True,
        *,
        checksum: bool = True,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.dir: Path | str = str(data_dir) if is_url(data_dir) else Path(data_dir)
        self.mode = mode
        self.threads = max(int(n_threads), 1)
        self._reader: SZReader | None = None
        self._writer: SZWriter | None = None
        self._idx: pd.DataFrame | None = None
        self._manager: SyncManager | None = None
        self._queue: Any = None
        self._consumer: threading.Thread | None = None
        self._queue_errors: list[Exception] = []
        self._closed = False
        if mode == "r":
            self._reader = SZReader(self.dir, storage_options)
            schema = self._reader.schema
            self.header: dict[str, Any] = self._reader.header
            try:
                self.record: Any = _record_type(tuple(f.name for f in schema.fields))
            except SchemaError:
                self._reader.close()
                raise
        elif mode == "w":
            schema = Schema.build(
                ATTRIBUTES if attributes is None else attributes,
                DATASETS if datasets is None else datasets,
            )
            self.record = _record_type(tuple(f.name for f in schema.fields))
            self._writer = SZWriter(
                self.dir,
                schema,
                header=header,
                overwrite=overwrite,
                n_threads=min(self.threads, os.cpu_count() or 1),
                checksum=checksum,
                storage_options=storage_options,
            )
            self.header = self._writer.header
            # put is the writer's own: no layer of Python between a read and SZWriter
            self.put = self._writer.put  # type: ignore[method-assign]
        else:
            raise UsageError(f"mode should be either 'w' or 'r', got {mode!r}")
        self._schema = schema
        self.attr: OrderedDict[str, type] = OrderedDict(
            (f.name, f.python_type) for f in schema.attributes
        )
        self.datasets: OrderedDict[str, type] = OrderedDict(
            (f.name, f.python_type) for f in schema.datasets
        )

    # --- reading ---------------------------------------------------------------------

    @property
    def idx(self) -> pd.DataFrame | None:
        """The index as a DataFrame: LENGTH, OFFSET, one column per field (typed
        attributes; ``"SIZE:COUNT"`` text for datasets). ``None`` while writing."""
        if self._reader is None:
            return None
        if self._idx is None:
            import pandas as pd

            index = self._reader.index
            columns: dict[str, Any] = {"LENGTH": index.length, "OFFSET": index.offset}
            for f in self._schema.attributes:
                columns[f.name] = index.attribute(f.name)
            for f in self._schema.datasets:
                columns[f.name] = index.cells(f.name)
            self._idx = pd.DataFrame(columns)
        return self._idx

    def get(self, idx: Any) -> Any:
        """Read by row position: one ``Record`` for an int, a list of them otherwise.

        Positions are rows of `idx` (``iloc``), negative ones count from the end;
        a list, array, range, slice or pandas Index gives records in that order.
        """
        reader = self._need_reader()
        if isinstance(idx, int | np.integer) and not isinstance(idx, bool):
            read = reader.read(int(idx))
            return self.record._make(read[name] for name in self.record._fields)
        if isinstance(idx, slice):
            idx = range(len(reader))[idx]
        rows = reader.check_rows(np.asarray(list(idx) if isinstance(idx, range) else idx))
        n_threads = self.threads if len(rows) >= 8 else 1
        reads = reader.read_many(rows, n_threads=min(n_threads, os.cpu_count() or 1))
        make = self.record._make
        return [make(read[name] for name in self.record._fields) for read in reads]

    def _need_reader(self) -> SZReader:
        if self._reader is None:
            raise UsageError(f"{self.dir} is open for writing; reopen it with mode='r' to read")
        return self._reader

    # --- writing ---------------------------------------------------------------------

    def _need_writer(self) -> SZWriter:
        if self._writer is None:
            raise UsageError(f"{self.dir} is open for reading; writing needs mode='w'")
        return self._writer

    def put(self, *data: Any) -> None:
        """Add one read: attribute values, then dataset values, in schema order.

        Open for writing, this is `SZWriter.put` of the writer itself (bound when
        the file is opened), so a read costs what it costs there.
        """
        self._need_writer().put(*data)

    def put_chunk(self, chunk: Sequence[Sequence[Any]]) -> None:
        """Add several reads; if any is refused, none of the chunk is taken."""
        self._need_writer().put_many(chunk)

    @property
    def q_in(self) -> Any:
        """A multiprocessing queue for worker processes: ``put((False, read))`` or
        ``put((True, chunk))``. Records refused from it are reported by `close`."""
        self._need_writer()
        if self._queue is None:
            from multiprocessing import Manager

            self._manager = Manager()
            self._queue = self._manager.Queue()
            self._consumer = threading.Thread(target=self._consume, name="xsz-q_in", daemon=True)
            self._consumer.start()
        return self._queue

    def _consume(self) -> None:
        writer = self._need_writer()
        while True:
            try:
                item = self._queue.get()
            except (EOFError, OSError) as exc:  # the manager went away
                self._queue_errors.append(XszError(f"q_in stopped: {exc}"))
                return
            if item is _QUEUE_DONE:
                return
            try:
                is_chunk, payload = item
                if is_chunk:
                    writer.put_many(payload)
                else:
                    writer.put(*payload)
            except XszError as exc:
                self._queue_errors.append(exc)
            except Exception as exc:
                self._queue_errors.append(
                    RecordError(f"q_in item is not (is_chunk, data): {exc!r}", read_id=None)
                )

    # --- closing ---------------------------------------------------------------------

    def close(self) -> None:
        """Finish: drain `q_in`, write what is pending, commit the store. Idempotent.

        Records refused from `q_in` are reported here, as one `RecordError`,
        after everything else has been committed.
        """
        if self._closed:
            return
        self._closed = True
        if self._reader is not None:
            self._reader.close()
            return
        writer = self._need_writer()
        try:
            self._stop_queue()
        finally:
            writer.close()
        if self._queue_errors:
            first = self._queue_errors[0]
            more = len(self._queue_errors) - 1
            text = f"{first}" + (f" (and {more} more records from q_in)" if more else "")
            raise RecordError(
                text, read_id=getattr(first, "read_id", None), field=getattr(first, "field", None)
            ) from first

    def _stop_queue(self) -> None:
        if self._queue is None or self._consumer is None:
            return
        try:
            self._queue.put(_QUEUE_DONE)
            self._consumer.join()
        except (EOFError, OSError) as exc:
            self._queue_errors.append(XszError(f"q_in stopped: {exc}"))
        finally:
            if self._manager is not None:
                self._manager.shutdown()

    def __enter__(self) -> CompressedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        # Like pysz's explicit close(): what was accepted is committed, even if the
        # block raised (for instance a refused record).
        self.close()

    def __len__(self) -> int:
        return len(self._need_reader())

    def __repr__(self) -> str:
        n = len(self._reader) if self._reader is not None else "?"
        return f"<CompressedFile {str(self.dir)!r} mode={self.mode!r}: {n} reads>"
