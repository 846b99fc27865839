"""Reads of a pod5 file, through the ``pod5`` package's own reader.

Per-read fields come from the read table a batch at a time (Arrow columns to
Python lists, not one property lookup per field per read); each signal is
decoded by ``pod5`` itself (`ReadRecord.signal`), one read at a time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from xsz.convert._extras import load
from xsz.convert._read_fields import POD5_READ_FIELDS, SourceRead, run_info
from xsz.convert._read_fields import pore_type as as_pore_type
from xsz.errors import SourceError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["Pod5Source"]

_EXTRA: Final = tuple(
    name for name, _, _ in POD5_READ_FIELDS if name not in ("pore_type", "end_reason_forced")
)
"""The numeric columns of pod5's read table kept as they are (`POD5_READ_FIELDS`)."""


def _number(value: object) -> float:
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


class Pod5Source:
    """One pod5 file, open for reading.

    Parameters
    ----------
    path
        The pod5 file.
    """

    format = "pod5"

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._reader = load("pod5", "reading pod5 files").Reader(path)
            self._runs = self._read_runs()
        except SourceError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise SourceError(f"{path}: pod5 cannot read this file: {exc}") from exc

    def close(self) -> None:
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.close()
            self._reader = None

    def _read_runs(self) -> dict[str, dict[str, Any]]:
        table = self._reader.run_info_table
        runs: dict[str, dict[str, Any]] = {}
        for k in range(table.num_record_batches):
            for row in table.get_batch(k).to_pylist():
                tracking = dict(row.pop("tracking_id") or ())
                context = dict(row.pop("context_tags") or ())
                runs[row["acquisition_id"]] = run_info(
                    tracking_id=tracking, context_tags=context, **row
                )
        return runs

    def runs(self) -> dict[str, dict[str, Any]]:
        """Run metadata by acquisition ID (pod5's run info table)."""
        return self._runs

    def read_ids(self) -> list[str]:
        """Every read ID, in file order."""
        return [str(r) for r in self._reader.read_ids]

    def count(self) -> int:
        return int(self._reader.num_reads)

    def reads(self, selection: frozenset[str] | None = None) -> Iterator[SourceRead]:
        """The reads in file order (only those in `selection` when given)."""
        digitisation: dict[str, float] = {}
        for run_id, info in self._runs.items():
            try:
                digitisation[run_id] = float(info["adc_max"] - info["adc_min"] + 1)
            except (KeyError, TypeError):
                digitisation[run_id] = math.nan
        for batch in self._reader.read_batches():
            cols = batch.columns
            ids = [str(UUID(bytes=b)) for b in cols.read_id.to_pylist()]
            wanted = [r for r, i in enumerate(ids) if selection is None or i in selection]
            if not wanted:
                continue
            channel = cols.channel_32bit.to_pylist()
            well = cols.well.to_pylist()
            read_number = cols.read_number.to_pylist()
            start = cols.start.to_pylist()
            median_before = cols.median_before.to_pylist()
            offset = cols.calibration_offset.to_pylist()
            scale = cols.calibration_scale.to_pylist()
            end_reason = cols.end_reason.to_pylist()
            run = cols.run_info.to_pylist()
            extra = {
                name: getattr(cols, name).to_pylist() for name in _EXTRA if hasattr(cols, name)
            }
            pores = cols.pore_type.to_pylist()
            forced = cols.end_reason_forced.to_pylist()
            for r in wanted:
                run_id = run[r]
                meta = self._runs.get(run_id)
                if meta is None:
                    raise SourceError(
                        f"{self.path}: read {ids[r]!r} names run {run_id!r}, which the run "
                        "info table lacks"
                    )
                dig = digitisation[run_id]
                yield SourceRead(
                    read_id=ids[r],
                    signal=batch.get_read(r).signal,
                    offset=offset[r],
                    scale=scale[r],
                    range=scale[r] * dig,
                    digitisation=dig,
                    sampling_rate=float(meta.get("sample_rate", math.nan)),
                    channel=channel[r],
                    well=well[r],
                    read_number=read_number[r],
                    start_sample=float(start[r]),
                    median_before=median_before[r],
                    end_reason=end_reason[r] or "unknown",
                    run_id=run_id,
                    pore_type=as_pore_type(pores[r]),
                    end_reason_forced=-1 if forced[r] is None else int(forced[r]),
                    **{name: _number(values[r]) for name, values in extra.items()},
                )
