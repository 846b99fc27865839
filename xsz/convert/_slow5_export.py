"""`export_slow5`: an SZ store made by `import_reads` to a BLOW5 or SLOW5 file (pyslow5's writer).

Each run of the store (``header["runs"]``) becomes a read group, in the order
the exported reads first name them; its header is the SLOW5 header the run
was imported with (``slow5_header``), or, for runs from pod5 and FAST5, the
run's ``tracking_id`` and ``context_tags`` merged, as slow5tools' ``f2s``
writes them. Per read: the primary fields (``read_id``, ``digitisation``,
``offset``, ``range``, ``sampling_rate``, ``len_raw_signal``, the signal) and
the aux fields slow5tools writes (``channel_number``, ``median_before``,
``read_number``, ``start_mux``, ``start_time``, ``end_reason``) plus those of
pod5 that blue-crab writes (`POD5_READ_FIELDS` with a number, under the same
names). Unknown values (-1, NaN) are written as SLOW5's missing value, and so are
empty header values (SLOW5 has no empty text: slow5lib writes ``.``).

pyslow5 1.5.0 declares the aux columns of a file from its first record, so an
aux field the store does not know for the first exported read is left out of
the file (an `XszWarning` names it if a later read has a value). pyslow5 has
no aux field for pod5's pore type or the ``forced`` flag of the end reason.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz._progress import progress_hook
from xsz.convert._dest import staged
from xsz.convert._export import imported_runs, read_batches
from xsz.convert._extras import load
from xsz.convert._read_fields import POD5_READ_FIELDS
from xsz.convert._slow5 import pyslow5_log
from xsz.errors import SourceError, UsageError, XszWarning
from xsz.format import SZReader

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable

__all__ = ["END_REASON_LABELS", "SLOW5_AUX", "export_slow5"]

END_REASON_LABELS: Final = (
    "unknown",
    "partial",
    "mux_change",
    "unblock_mux_change",
    "data_service_unblock_mux_change",
    "signal_positive",
    "signal_negative",
    "api_request",
    "device_data_error",
    "analysis_config_change",
    "paused",
)
"""The end reasons of SLOW5's ``end_reason`` enum (slow5tools' and blue-crab's list);
reasons a store has beyond these are added after them."""

_INT_AUX: Final = {  # aux field -> (store field, pyslow5 wants int)
    "read_number": "read_number",
    "start_mux": "well",
    "start_time": "start_sample",
    "num_minknow_events": "num_minknow_events",
    "num_reads_since_mux_change": "num_reads_since_mux_change",
}
_FLOAT_AUX: Final = {"median_before": "median_before"} | {
    name: name
    for name, code, _ in POD5_READ_FIELDS
    if code.startswith("F") and name not in _INT_AUX
}
SLOW5_AUX: Final = ("channel_number", *_INT_AUX, "end_reason", *_FLOAT_AUX)
"""The aux fields `export_slow5` writes (those the store knows for the first read)."""
_PRESS: Final = {"blow5": ("zlib", "svb_zd"), "slow5": ("none", "none")}


def slow5_kind(path: str | os.PathLike[str]) -> str:
    """``"blow5"`` or ``"slow5"`` from a file name (pyslow5 goes by the name too)."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".blow5", ".slow5"):
        raise UsageError(f"{path}: a SLOW5 file's name ends in .blow5 (binary) or .slow5 (text)")
    return suffix[1:]


def _header(run_id: str, run: dict[str, Any]) -> dict[str, str]:
    if isinstance(run.get("slow5_header"), dict):
        header = dict(run["slow5_header"])
    else:
        header = {**run.get("tracking_id", {}), **run.get("context_tags", {})}
    header.setdefault("run_id", run_id)
    return {str(k): str(v) for k, v in header.items() if v is not None and str(v) != ""}


def _number(value: Any, *, integer: bool) -> int | float | None:
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        return int(value) if integer else float(value)
    number = int(value)
    if integer:
        return None if number < 0 else number
    return float(number)


def _aux(read: dict[str, Any], reasons: dict[str, int]) -> dict[str, Any]:
    """Every aux value of `read` the store knows (None for the unknown ones)."""
    channel = int(read["channel"])
    out: dict[str, Any] = {"channel_number": str(channel) if channel >= 0 else None}
    for aux, name in _INT_AUX.items():
        out[aux] = _number(read[name], integer=True) if name in read else None
    out["end_reason"] = reasons[str(read["end_reason"])]
    for aux, name in _FLOAT_AUX.items():
        out[aux] = _number(read[name], integer=False) if name in read else None
    return out


def export_slow5(
    sz_path: str | os.PathLike[str],
    slow5_path: str | os.PathLike[str],
    *,
    read_ids: Iterable[str] | None = None,
    compression: tuple[str, str] | None = None,
    overwrite: bool = False,
    progress: bool | Callable[[int, int | None], object] = False,
) -> int:
    """Write the reads of an imported SZ store to a new BLOW5 or SLOW5 file.

    Parameters
    ----------
    sz_path
        An SZ store written by `import_reads` (any source format).
    slow5_path
        The file to create: ``.blow5`` (binary) or ``.slow5`` (text).
    read_ids
        Export only these reads, in this order (default: all, in store order).
    compression
        ``(record, signal)`` compression of a BLOW5 file, as pyslow5 names them
        (default ``("zlib", "svb_zd")``, slow5tools' default; also ``"zstd"``,
        ``"none"``). A SLOW5 file is text, uncompressed.
    overwrite
        Replace an existing file of the same kind at `slow5_path` (only once the
        new one is complete); anything else at the path is never replaced.
    progress
        As for `import_reads`.

    Returns
    -------
    int
        The number of reads written.

    Raises
    ------
    SchemaError
        The store was not made by `import_reads`.
    ReadNotFoundError
        A read in `read_ids` is not in the store.
    StoreExistsError
        `slow5_path` exists and `overwrite` is false, or holds another kind of file.
    SourceError
        pyslow5 refused a record or the header (its message is given).
    UsageError
        No reads to write (pyslow5 writes a file's header with its first record,
        so it cannot write a file without reads), or a name that is not
        ``.blow5`` / ``.slow5``.
    """
    pyslow5 = load("pyslow5", "writing SLOW5/BLOW5 files")
    dest = Path(slow5_path)
    kind = slow5_kind(dest)
    if kind == "slow5" and compression not in (None, ("none", "none")):
        raise UsageError(f"{dest}: a SLOW5 file is text; compression applies to .blow5 files")
    rec_press, sig_press = compression or _PRESS[kind]
    with (
        staged(dest, directory=False, overwrite=overwrite, kind=kind) as staging,
        SZReader(sz_path) as reader,
    ):
        runs = imported_runs(reader, kind.upper())
        rows = np.arange(len(reader)) if read_ids is None else reader.rows(read_ids)
        if not len(rows):  # pyslow5 writes the header with the first record
            raise UsageError(f"no reads to write to {dest}: pyslow5 cannot write an empty file")
        run_of = reader.index.attribute("run_id")
        groups = {str(r): k for k, r in enumerate(dict.fromkeys(run_of[rows].tolist()))}
        stored = dict.fromkeys(str(e) for e in reader.index.attribute("end_reason")[rows])
        labels = [*END_REASON_LABELS, *(e for e in stored if e not in END_REASON_LABELS)]
        reasons = {label: k for k, label in enumerate(labels)}
        headers = [_header(run_id, runs.get(run_id, {})) for run_id in groups]
        keys = list(dict.fromkeys(k for h in headers for k in h))
        update, close_progress = progress_hook(progress, len(rows), dest.name)
        try:
            with pyslow5_log(dest, "write"):
                out = pyslow5.Open(str(staging), "w", rec_press=rec_press, sig_press=sig_press)
            try:
                for k, header in enumerate(headers):
                    # every read group has every key (the first declares them); "" is missing
                    full = {key: header.get(key, "") for key in keys} if k == 0 else header
                    with pyslow5_log(dest, "write"):
                        status = out.write_header(full, read_group=k, end_reason_labels=labels)
                    if status != 0:
                        raise SourceError(f"{dest}: pyslow5 refused the header of run {k}")
                _write_reads(out, reader, rows, groups, reasons, dest, update)
            finally:
                out.close()
        finally:
            close_progress()
    return len(rows)


def _write_reads(
    out: Any,
    reader: SZReader,
    rows: np.ndarray[Any, Any],
    groups: dict[str, int],
    reasons: dict[str, int],
    dest: Path,
    update: Callable[[int], None],
) -> None:
    declared: set[str] | None = None
    dropped: set[str] = set()
    for done, read in enumerate(read_batches(reader, rows), 1):
        aux = _aux(read, reasons)
        if declared is None:  # pyslow5 declares the aux fields of the first record
            declared = {k for k, v in aux.items() if v is not None}
        dropped.update(k for k, v in aux.items() if v is not None and k not in declared)
        signal = read["Raw"]
        record = {
            "read_id": str(read["ID"]),
            "read_group": groups[str(read["run_id"])],
            "digitisation": float(read["digitisation"]),
            "offset": float(read["offset"]),
            "range": float(read["range"]),
            "sampling_rate": float(read["sampling_rate"]),
            "len_raw_signal": len(signal),
            "signal": signal,
        }
        with pyslow5_log(dest, "write"):
            status = out.write_record(record, {k: v for k, v in aux.items() if k in declared})
        if status != 0:
            raise SourceError(f"{dest}: pyslow5 refused read {record['read_id']!r}")
        update(done)
    if dropped:
        warnings.warn(
            f"{dest}: the first read has no value for {sorted(dropped)}, so the file has no "
            "such aux field (pyslow5 declares them from the first record); later reads' "
            "values of them are not written",
            XszWarning,
            stacklevel=3,
        )
