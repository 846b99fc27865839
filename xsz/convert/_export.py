"""`export_pod5`: an SZ store made by `import_reads` back to a pod5 file (``pod5.Writer``).

The raw signal, read ID, channel, well, read number, start sample, median
before, end reason and its ``forced`` flag, pore type, the other per-read
fields of pod5 (`POD5_READ_FIELDS`: MinKNOW events, tracked and predicted
scaling, reads and time since the mux change, pore levels) and the run
metadata go back as they came. What pod5 stores differently: calibration as
float32 ``offset`` and ``scale``. What the store marks unknown (integers -1,
floats NaN, text ``""``, and every field of `POD5_READ_FIELDS` in stores
imported before xsz kept them) gets pod5's default: 0 (NaN for scalings and
levels), the reason's default ``forced`` flag, pore type ``"not_set"``. Runs
imported from FAST5 or SLOW5 get the ADC range pod5's FAST5 converter assumes
for their digitisation.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz._progress import progress_hook
from xsz.convert._dest import staged
from xsz.convert._extras import load
from xsz.convert._read_fields import CORE_READ_FIELDS, NOT_SET
from xsz.errors import SchemaError
from xsz.format import SZReader

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Iterator

__all__ = ["export_pod5", "imported_runs", "read_batches"]

BATCH_SAMPLES: Final = 1 << 24
"""Reads are taken from the store in batches of about this many samples."""
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_TEXT_KEYS: Final = (
    "experiment_name",
    "flow_cell_id",
    "flow_cell_product_code",
    "protocol_name",
    "protocol_run_id",
    "sample_id",
    "sequencing_kit",
    "sequencer_position",
    "sequencer_position_type",
    "software",
    "system_name",
    "system_type",
)


def _time(text: object) -> datetime:
    if not isinstance(text, str) or not text:
        return _EPOCH
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return _EPOCH
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _adc(run: dict[str, Any], digitisation: float) -> tuple[int, int]:
    if "adc_min" in run and "adc_max" in run:
        return int(run["adc_min"]), int(run["adc_max"])
    if digitisation == 8192:  # the rule of pod5's FAST5 converter
        return -4096, 4095
    return 0, int(digitisation) - 1


def _run_info(pod5: Any, run_id: str, run: dict[str, Any], read: dict[str, Any]) -> Any:
    tracking = run.get("tracking_id", run.get("slow5_header", {}))
    adc_min, adc_max = _adc(run, float(read["digitisation"]))
    rate = run.get("sample_rate") or read["sampling_rate"]
    return pod5.RunInfo(
        acquisition_id=run_id,
        acquisition_start_time=_time(run.get("acquisition_start_time")),
        adc_max=adc_max,
        adc_min=adc_min,
        context_tags={str(k): str(v) for k, v in run.get("context_tags", {}).items()},
        protocol_start_time=_time(run.get("protocol_start_time")),
        sample_rate=int(rate),
        tracking_id={str(k): str(v) for k, v in tracking.items()},
        **{key: str(run.get(key, "")) for key in _TEXT_KEYS},
    )


def _int(value: Any) -> int:
    return max(int(value), 0)


def _float(read: dict[str, Any], name: str, default: float) -> float:
    """`name` of `read` as pod5 wants it: `default` if the store lacks it or has NaN."""
    value = read.get(name)
    return default if value is None or math.isnan(value) else float(value)


def imported_runs(reader: SZReader, to: str) -> dict[str, Any]:
    """The ``runs`` header of a store `import_reads` made; `SchemaError` for other stores."""
    missing = [n for n, _, _ in CORE_READ_FIELDS if n not in reader.schema.by_name]
    runs = reader.header.get("runs")
    if missing or not isinstance(runs, dict):
        what = f"fields {missing}" if missing else "the 'runs' header"
        raise SchemaError(
            f"{reader.path} lacks {what}: only stores made by import_reads export to {to}"
        )
    return runs


def export_pod5(
    sz_path: str | os.PathLike[str],
    pod5_path: str | os.PathLike[str],
    *,
    read_ids: Iterable[str] | None = None,
    overwrite: bool = False,
    progress: bool | Callable[[int, int | None], object] = False,
) -> int:
    """Write the reads of an imported SZ store to a new pod5 file.

    Parameters
    ----------
    sz_path
        An SZ store written by `import_reads` (it needs the read fields of
        ``CORE_READ_FIELDS`` and the ``runs`` header).
    pod5_path
        The pod5 file to create.
    read_ids
        Export only these reads, in this order (default: all, in store order).
    overwrite
        Replace an existing pod5 file at `pod5_path` (only once the new one is
        complete); anything else at the path is never replaced.
    progress
        As for `import_reads`.

    Returns
    -------
    int
        The number of reads written.

    Raises
    ------
    SchemaError
        The store lacks fields or run metadata pod5 needs.
    ReadNotFoundError
        A read in `read_ids` is not in the store.
    StoreExistsError
        `pod5_path` exists and `overwrite` is false, or is not a pod5 file.
    """
    pod5 = load("pod5", "writing pod5 files")
    dest = Path(pod5_path)
    with (
        staged(dest, directory=False, overwrite=overwrite, kind="pod5") as staging,
        SZReader(sz_path) as reader,
    ):
        runs = imported_runs(reader, "pod5")
        rows = np.arange(len(reader)) if read_ids is None else reader.rows(read_ids)
        update, close_progress = progress_hook(progress, len(rows), dest.name)
        infos: dict[str, Any] = {}
        try:
            with pod5.Writer(staging, software_name="xsz") as writer:
                for done, read in enumerate(read_batches(reader, rows), 1):
                    run_id = read["run_id"]
                    if run_id not in infos:
                        infos[run_id] = _run_info(pod5, run_id, runs.get(run_id, {}), read)
                    writer.add_read(_pod5_read(pod5, read, infos[run_id]))
                    update(done)
        finally:
            close_progress()
    return len(rows)


def read_batches(reader: SZReader, rows: np.ndarray[Any, Any]) -> Iterator[dict[str, Any]]:
    """The reads at `rows`, in order, decoded a batch of about `BATCH_SAMPLES` at a time."""
    for batch in _batches(rows, reader.counts("Raw")[rows]):
        yield from reader.read_many(batch, n_threads=2)


def _batches(rows: np.ndarray[Any, Any], counts: np.ndarray[Any, Any]) -> Iterator[list[int]]:
    """Consecutive runs of `rows` holding about `BATCH_SAMPLES` samples each."""
    batch: list[int] = []
    total = 0
    for row, n in zip(rows.tolist(), counts.tolist(), strict=True):
        batch.append(row)
        total += n
        if total >= BATCH_SAMPLES:
            yield batch
            batch, total = [], 0
    if batch:
        yield batch


def _pod5_read(pod5: Any, read: dict[str, Any], run: Any) -> Any:
    try:
        reason = pod5.EndReasonEnum[str(read["end_reason"]).upper()]
    except KeyError:
        reason = pod5.EndReasonEnum.UNKNOWN
    start = read["start_sample"]
    median = float(read["median_before"])
    try:
        read_id = uuid.UUID(read["ID"])
    except ValueError:
        raise SchemaError(f"read {read['ID']!r}: pod5 read IDs are UUIDs") from None
    forced = int(read.get("end_reason_forced", -1))
    end_reason = (
        pod5.EndReason(reason, bool(forced))
        if forced in (0, 1)
        else pod5.EndReason.from_reason_with_default_forced(reason)
    )
    nan = math.nan
    return pod5.Read(
        read_id=read_id,
        pore=pod5.Pore(
            channel=_int(read["channel"]),
            well=_int(read["well"]),
            pore_type=read.get("pore_type") or NOT_SET,
        ),
        calibration=pod5.Calibration(offset=float(read["offset"]), scale=float(read["scale"])),
        read_number=_int(read["read_number"]),
        start_sample=0 if math.isnan(start) else int(start),
        median_before=median,
        end_reason=end_reason,
        run_info=run,
        num_minknow_events=int(_float(read, "num_minknow_events", 0)),
        tracked_scaling=pod5.pod5_types.ShiftScalePair(
            _float(read, "tracked_scaling_shift", nan), _float(read, "tracked_scaling_scale", nan)
        ),
        predicted_scaling=pod5.pod5_types.ShiftScalePair(
            _float(read, "predicted_scaling_shift", nan),
            _float(read, "predicted_scaling_scale", nan),
        ),
        num_reads_since_mux_change=int(_float(read, "num_reads_since_mux_change", 0)),
        time_since_mux_change=_float(read, "time_since_mux_change", 0.0),
        open_pore_level=_float(read, "open_pore_level", nan),
        expected_open_pore_level=_float(read, "expected_open_pore_level", nan),
        selected_read_level=_float(read, "selected_read_level", nan),
        signal=read["Raw"],
    )
