"""`export_fast5`: an SZ store made by `import_reads` to a multi-read FAST5 file (h5py + VBZ).

The layout is that of MinKNOW's multi-read FAST5 2.0 files (as in
``ont_fast5_api``'s test data):

=================================  =============================================================
HDF5 object                        what
=================================  =============================================================
``/`` attrs                        ``file_version`` ``"2.0"``, ``file_type`` ``"multi-read"``
``/read_<id>`` attrs               ``run_id``; ``pore_type`` when the store knows it
``/read_<id>/Raw/Signal``          the raw int16 signal, VBZ-compressed (HDF5 filter 32020), one
                                   chunk
``/read_<id>/Raw`` attrs           ``read_id``, ``duration``, ``read_number``, ``start_mux``,
                                   ``start_time``, ``median_before``, ``end_reason`` (enum), and
                                   the numeric fields of `POD5_READ_FIELDS` the store knows,
                                   under pod5's names (``end_reason_forced`` as uint8)
``/read_<id>/channel_id`` attrs    ``channel_number``, ``digitisation``, ``offset``, ``range``,
                                   ``sampling_rate``
``/read_<id>/tracking_id``,        the run's metadata: hard links to one group per run, as
``/read_<id>/context_tags``        MinKNOW writes them
=================================  =============================================================

Attributes the store marks unknown (-1, NaN) are left out, as FAST5 readers
expect of optional attributes. A run imported from SLOW5 has one flat header;
its keys go to ``context_tags`` when MinKNOW keeps them there, else to
``tracking_id``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz._progress import progress_hook
from xsz.convert._dest import staged
from xsz.convert._export import imported_runs, read_batches
from xsz.convert._extras import load
from xsz.convert._read_fields import POD5_READ_FIELDS
from xsz.convert._slow5_export import END_REASON_LABELS
from xsz.format import SZReader

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable

__all__ = ["VBZ", "export_fast5"]

VBZ: Final = {"compression": 32020, "compression_opts": (0, 2, 1, 1)}
"""h5py options of ONT's VBZ filter: version 0, 2-byte integers, delta, zstd level 1."""
CONTEXT_KEYS: Final = frozenset(
    {
        "barcoding_enabled",
        "basecall_config_filename",
        "experiment_duration_set",
        "experiment_kit",
        "experiment_type",
        "fast5_output_fastq_in_hdf",
        "fast5_raw",
        "fast5_reads_per_folder",
        "fastq_enabled",
        "fastq_reads_per_file",
        "filename",
        "flowcell_type",
        "kit_classification",
        "local_basecalling",
        "local_bc_comp_model",
        "local_bc_temp_model",
        "package",
        "package_version",
        "sample_frequency",
        "selected_speed_bases_per_second",
        "sequencing_kit",
        "user_filename_input",
    }
)
"""Keys of a flat SLOW5 header that MinKNOW's FAST5 files keep in ``context_tags``."""
_TYPES: Final = {  # numeric POD5_READ_FIELDS -> the HDF5 type written
    "num_minknow_events": np.uint64,
    "num_reads_since_mux_change": np.uint32,
}


def _ascii(text: str) -> np.bytes_:
    return np.bytes_(text.encode())


def _run_groups(run: dict[str, Any], run_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """``(tracking_id, context_tags)`` of a run of the store's header."""
    if isinstance(run.get("slow5_header"), dict):
        flat = {str(k): str(v) for k, v in run["slow5_header"].items()}
        tracking = {k: v for k, v in flat.items() if k not in CONTEXT_KEYS}
        context = {k: v for k, v in flat.items() if k in CONTEXT_KEYS}
    else:
        tracking = {str(k): str(v) for k, v in run.get("tracking_id", {}).items()}
        context = {str(k): str(v) for k, v in run.get("context_tags", {}).items()}
    tracking.setdefault("run_id", run_id)
    return tracking, context


def _known(value: Any) -> bool:
    if isinstance(value, float | np.floating):
        return not math.isnan(value)
    return int(value) >= 0


def export_fast5(
    sz_path: str | os.PathLike[str],
    fast5_path: str | os.PathLike[str],
    *,
    read_ids: Iterable[str] | None = None,
    overwrite: bool = False,
    progress: bool | Callable[[int, int | None], object] = False,
) -> int:
    """Write the reads of an imported SZ store to a new multi-read FAST5 file (VBZ signals).

    Parameters
    ----------
    sz_path
        An SZ store written by `import_reads` (any source format).
    fast5_path
        The FAST5 file to create.
    read_ids
        Export only these reads, in this order (default: all, in store order).
    overwrite
        Replace an existing FAST5 file at `fast5_path` (only once the new one is
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
        The store was not made by `import_reads`.
    ReadNotFoundError
        A read in `read_ids` is not in the store.
    StoreExistsError
        `fast5_path` exists and `overwrite` is false, or is not a FAST5 file.
    """
    h5py = load("h5py", "writing FAST5 files", "vbz_h5py_plugin")
    dest = Path(fast5_path)
    with (
        staged(dest, directory=False, overwrite=overwrite, kind="fast5") as staging,
        SZReader(sz_path) as reader,
    ):
        runs = imported_runs(reader, "FAST5")
        rows = np.arange(len(reader)) if read_ids is None else reader.rows(read_ids)
        stored = dict.fromkeys(str(e) for e in reader.index.attribute("end_reason")[rows])
        labels = [*END_REASON_LABELS, *(e for e in stored if e not in END_REASON_LABELS)]
        enum = h5py.enum_dtype({label: k for k, label in enumerate(labels)}, basetype="u1")
        reasons = {label: k for k, label in enumerate(labels)}
        update, close_progress = progress_hook(progress, len(rows), dest.name)
        try:
            with h5py.File(staging, "w", libver="earliest", track_order=True) as f:
                f.attrs["file_version"] = "2.0"
                f.attrs["file_type"] = "multi-read"
                first: dict[str, str] = {}  # run ID -> the read group holding its metadata
                for done, read in enumerate(read_batches(reader, rows), 1):
                    _write_read(f, read, runs, first, enum, reasons)
                    update(done)
        finally:
            close_progress()
    return len(rows)


def _write_read(
    f: Any,
    read: dict[str, Any],
    runs: dict[str, Any],
    first: dict[str, str],
    enum: Any,
    reasons: dict[str, int],
) -> None:
    read_id = str(read["ID"])
    run_id = str(read["run_id"])
    group = f.create_group(f"read_{read_id}")
    group.attrs["run_id"] = _ascii(run_id)
    if read.get("pore_type"):
        group.attrs["pore_type"] = _ascii(str(read["pore_type"]))
    signal = np.ascontiguousarray(read["Raw"], dtype=np.int16)
    raw = group.create_group("Raw")
    if len(signal):
        raw.create_dataset("Signal", data=signal, chunks=(len(signal),), **VBZ)
    else:  # HDF5 chunks cannot be empty
        raw.create_dataset("Signal", data=signal)
    attrs = raw.attrs
    attrs["read_id"] = _ascii(read_id)
    attrs["duration"] = np.uint32(len(signal))
    if _known(read["read_number"]):
        attrs["read_number"] = np.int32(read["read_number"])
    if _known(read["well"]):
        attrs["start_mux"] = np.uint8(read["well"])
    if _known(read["start_sample"]):
        attrs["start_time"] = np.uint64(read["start_sample"])
    attrs["median_before"] = np.float64(read["median_before"])
    attrs.create("end_reason", reasons[str(read["end_reason"])], dtype=enum)
    if read.get("end_reason_forced", -1) in (0, 1):
        attrs["end_reason_forced"] = np.uint8(read["end_reason_forced"])
    for name, code, _ in POD5_READ_FIELDS:
        if code.startswith("F") and name in read and _known(read[name]):
            attrs[name] = _TYPES.get(name, np.float32)(read[name])
    channel = group.create_group("channel_id")
    channel.attrs["channel_number"] = _ascii(str(int(read["channel"])))
    for key in ("digitisation", "offset", "range", "sampling_rate"):
        channel.attrs[key] = np.float64(read[key])
    if run_id in first:  # hard links to the run's groups, as MinKNOW writes them
        for name in ("tracking_id", "context_tags"):
            group[name] = f[f"{first[run_id]}/{name}"]
        return
    first[run_id] = group.name
    tracking, context = _run_groups(runs.get(run_id, {}), run_id)
    for name, values in (("tracking_id", tracking), ("context_tags", context)):
        sub = group.create_group(name)
        for key, value in values.items():
            sub.attrs[key] = _ascii(value)
