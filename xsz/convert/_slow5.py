"""Reads of a SLOW5 (text) or BLOW5 (binary) file, through ``pyslow5``.

Reads are taken in file order with ``seq_reads`` (no index is built, so
nothing is written next to the source). pyslow5 reports problems by logging
on its ``pyslow5`` logger and stopping, not by raising: while a file is read
here, that logger's records are taken (not shown) and an error among them
becomes a `SourceError`, so a damaged file never imports as a shorter one.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from xsz.convert._extras import load
from xsz.convert._read_fields import POD5_READ_FIELDS, SourceRead, run_info
from xsz.errors import SourceError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["Slow5Source", "pyslow5_log"]

log = logging.getLogger(__name__)

# The pyslow5 aux fields and the SourceRead fields they fill.
_AUX_INT = {"channel_number": "channel", "start_mux": "well", "read_number": "read_number"}
_AUX_FLOAT = {"start_time": "start_sample", "median_before": "median_before"} | {
    name: name
    for name, code, _ in POD5_READ_FIELDS
    if code.startswith("F")  # blue-crab's aux fields, named as pod5 names them
}


_MISSING = {0: 2**7 - 1, 1: 2**15 - 1, 2: 2**31 - 1, 3: 2**63 - 1}
_MISSING |= {4: 2**8 - 1, 5: 2**16 - 1, 6: 2**32 - 1, 7: 2**64 - 1}
"""SLOW5's missing value of each integer aux type (slow5lib's type code -> the type's maximum)."""


class _Taken(logging.Filter):
    """Keeps pyslow5's log records from being shown; remembers its errors."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            self.errors.append(record.getMessage())
        log.debug("pyslow5: %s", record.getMessage())
        return False


@contextlib.contextmanager
def pyslow5_log(path: Path, verb: str = "read") -> Iterator[None]:
    """Take pyslow5's log records while the block runs; raise `SourceError` on its errors."""
    logger = logging.getLogger("pyslow5")
    taken = _Taken()
    logger.addFilter(taken)
    try:
        yield
    finally:
        logger.removeFilter(taken)
    if taken.errors:
        raise SourceError(f"{path}: pyslow5 could not {verb} the file: {taken.errors[0]}")


class Slow5Source:
    """One SLOW5 or BLOW5 file, open for reading.

    Parameters
    ----------
    path
        The file.
    format
        ``"slow5"`` or ``"blow5"`` (only used in messages and the summary).
    """

    def __init__(self, path: Path, format: str = "blow5") -> None:
        self.path = path
        self.format = format
        self._file: Any = None
        with pyslow5_log(path):
            try:
                self._file = load("pyslow5", "reading SLOW5/BLOW5 files").Open(str(path), "r")
            except MemoryError:  # pyslow5's way of saying "slow5_open failed"
                raise SourceError(
                    f"{path}: pyslow5 cannot open this {format.upper()} file"
                ) from None
            try:
                self._runs, self._run_of_group = self._read_runs()
                names = self._file.get_aux_names()
                self._aux = set(names)
                self._missing = {
                    name: _MISSING[code]
                    for name, code in zip(names, self._file.get_aux_types(), strict=False)
                    if code in _MISSING
                }
                labels = (
                    self._file.get_aux_enum_labels("end_reason")
                    if "end_reason" in self._aux
                    else []
                )
            except Exception as exc:
                self.close()
                raise SourceError(f"{path}: pyslow5 cannot read the header: {exc}") from exc
        self._end_reasons = [str(label).lower() for label in labels]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _read_runs(self) -> tuple[dict[str, dict[str, Any]], list[str]]:
        runs: dict[str, dict[str, Any]] = {}
        run_of_group: list[str] = []
        for group in range(self._file.get_num_read_groups()):
            header = {
                k: v
                for k, v in self._file.get_all_headers(read_group=group).items()
                if v is not None
            }
            info = run_info(tracking_id=header, context_tags=header)
            info.pop("context_tags")  # SLOW5 keeps one flat header per read group
            info["slow5_header"] = info.pop("tracking_id")
            run_id = info.get("acquisition_id", "")
            runs.setdefault(run_id, info)
            run_of_group.append(run_id)
        return runs, run_of_group

    def runs(self) -> dict[str, dict[str, Any]]:
        """Run metadata by run ID (the read groups' headers)."""
        return self._runs

    def read_ids(self) -> None:
        """Not known without reading the whole file."""

    def count(self) -> None:
        """Not known without reading the whole file."""

    def reads(self, selection: frozenset[str] | None = None) -> Iterator[SourceRead]:
        """The reads in file order (only those in `selection` when given).

        ``seq_reads``, not the faster ``seq_reads_multi``: pyslow5 1.5.0's threaded
        reader crashes the process (segmentation fault) on a corrupt record, where
        ``seq_reads`` reports it.
        """
        aux = "all" if self._aux else None
        with pyslow5_log(self.path):
            for rec in self._file.seq_reads(aux=aux):
                read_id = rec["read_id"]
                if selection is not None and read_id not in selection:
                    continue
                yield self._read(rec)

    def _read(self, rec: dict[str, Any]) -> SourceRead:
        read = SourceRead(
            read_id=rec["read_id"],
            signal=rec["signal"],
            offset=rec["offset"],
            scale=rec["range"] / rec["digitisation"],
            range=rec["range"],
            digitisation=rec["digitisation"],
            sampling_rate=rec["sampling_rate"],
            run_id=self._run_of_group[rec["read_group"]],
        )
        for key, name in _AUX_INT.items():
            value = rec.get(key)
            if value is not None and value != "" and value != self._missing.get(key):
                try:
                    setattr(read, name, int(value))
                except ValueError:
                    raise SourceError(
                        f"{self.path}: read {read.read_id!r} has {key} {value!r}, not an integer"
                    ) from None
        for key, name in _AUX_FLOAT.items():
            value = rec.get(key)
            if value is not None and value != self._missing.get(key):
                setattr(read, name, float(value))
        reason = rec.get("end_reason")
        if reason is not None and 0 <= reason < len(self._end_reasons):
            read.end_reason = self._end_reasons[reason]
        return read
