"""The SZ schema of imported reads: one set of fields for every source format.

Every importer fills a `SourceRead` (read ID, raw signal and the per-read
fields the formats share) and the run metadata of its file in pod5's
vocabulary (`run_info`), so stores made from pod5, SLOW5/BLOW5 and FAST5 have
the same columns and can be merged. `READ_FIELDS` and `BASECALL_FIELDS` are the
reference; `xsz.convert.import_reads` documents them as a table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz.format import Schema

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy.typing as npt

__all__ = [
    "BASECALL_FIELDS",
    "CORE_READ_FIELDS",
    "POD5_READ_FIELDS",
    "NOT_SET",
    "NO_BASECALLS",
    "READ_FIELDS",
    "UNKNOWN_END_REASON",
    "Basecalls",
    "SourceRead",
    "as_text",
    "import_schema",
    "pore_type",
    "run_info",
]

CORE_READ_FIELDS: Final[tuple[tuple[str, str, str], ...]] = (
    ("ID", "S", "A"),
    ("channel", "I32", "A"),
    ("well", "I16", "A"),
    ("read_number", "I32", "A"),
    ("start_sample", "F64", "A"),
    ("sampling_rate", "F64", "A"),
    ("offset", "F64", "A"),
    ("scale", "F64", "A"),
    ("range", "F64", "A"),
    ("digitisation", "F64", "A"),
    ("median_before", "F64", "A"),
    ("end_reason", "S", "A"),
    ("run_id", "S", "A"),
    ("Raw", "I16", "D"),
)
"""The fields every store `import_reads` made has had since the first release (what the
exports need)."""

POD5_READ_FIELDS: Final[tuple[tuple[str, str, str], ...]] = (
    ("pore_type", "S", "A"),
    ("end_reason_forced", "I16", "A"),
    ("num_minknow_events", "F64", "A"),
    ("tracked_scaling_scale", "F32", "A"),
    ("tracked_scaling_shift", "F32", "A"),
    ("predicted_scaling_scale", "F32", "A"),
    ("predicted_scaling_shift", "F32", "A"),
    ("num_reads_since_mux_change", "F64", "A"),
    ("time_since_mux_change", "F32", "A"),
    ("open_pore_level", "F32", "A"),
    ("expected_open_pore_level", "F32", "A"),
    ("selected_read_level", "F32", "A"),
)
"""The other per-read fields of pod5 (and of the SLOW5 files blue-crab writes), kept so
that an export gives them back: after ``run_id``, in this order. Stores imported before
they were added lack them; the exports then write pod5's defaults."""

READ_FIELDS: Final[tuple[tuple[str, str, str], ...]] = (
    CORE_READ_FIELDS[:-1] + POD5_READ_FIELDS + CORE_READ_FIELDS[-1:]
)
"""``(name, SZ code, group)`` of the fields every imported store has, in column order."""

BASECALL_FIELDS: Final[tuple[tuple[str, str, str], ...]] = (
    ("move_stride", "I32", "A"),
    ("trimmed_samples", "I32", "A"),
    ("mean_qscore", "F32", "A"),
    ("Move", "U16", "D"),
    ("Sequence", "S", "D"),
    ("Quality", "S", "D"),
)
"""The fields added when basecalls are attached (``moves=``): attributes after the
read attributes, datasets after ``Raw``."""

UNKNOWN_END_REASON: Final = "unknown"
NOT_SET: Final = "not_set"
"""pod5's (and FAST5's) pore type when none is set; stored as ``""``."""


def pore_type(value: object) -> str:
    """A pore type as stored: text, ``""`` for none or `NOT_SET`.

    Examples
    --------
    >>> pore_type(b"not_set"), pore_type(None), pore_type("R10.4.1")
    ('', '', 'R10.4.1')
    """
    text = as_text(value)
    return "" if text == NOT_SET else text


def import_schema(*, basecalls: bool) -> Schema:
    """The SZ schema of an import, with or without the basecall fields.

    Examples
    --------
    >>> import_schema(basecalls=False).columns[2:6]
    ['ID:A:S', 'channel:A:I32', 'well:A:I16', 'read_number:A:I32']
    """
    fields = READ_FIELDS + (BASECALL_FIELDS if basecalls else ())
    return Schema.build(
        [(n, c) for n, c, g in fields if g == "A"], [(n, c) for n, c, g in fields if g == "D"]
    )


@dataclass(slots=True)
class SourceRead:
    """One read as an importer hands it over: the fields of `READ_FIELDS`.

    Integers a source lacks are -1, floats NaN, the end reason ``"unknown"`` and
    the run ID and pore type ``""``.
    """

    read_id: str
    signal: npt.NDArray[np.int16]
    offset: float
    scale: float
    range: float
    digitisation: float
    sampling_rate: float
    channel: int = -1
    well: int = -1
    read_number: int = -1
    start_sample: float = math.nan
    median_before: float = math.nan
    end_reason: str = UNKNOWN_END_REASON
    run_id: str = ""
    pore_type: str = ""
    end_reason_forced: int = -1
    num_minknow_events: float = math.nan
    tracked_scaling_scale: float = math.nan
    tracked_scaling_shift: float = math.nan
    predicted_scaling_scale: float = math.nan
    predicted_scaling_shift: float = math.nan
    num_reads_since_mux_change: float = math.nan
    time_since_mux_change: float = math.nan
    open_pore_level: float = math.nan
    expected_open_pore_level: float = math.nan
    selected_read_level: float = math.nan

    def attributes(self) -> tuple[object, ...]:
        """The attribute values in `READ_FIELDS` order."""
        return (
            self.read_id,
            self.channel,
            self.well,
            self.read_number,
            self.start_sample,
            self.sampling_rate,
            self.offset,
            self.scale,
            self.range,
            self.digitisation,
            self.median_before,
            self.end_reason,
            self.run_id,
            *(getattr(self, name) for name, _, _ in POD5_READ_FIELDS),
        )


@dataclass(slots=True)
class Basecalls:
    """What a SAM/BAM record gives one read: the fields of `BASECALL_FIELDS`."""

    sequence: str
    quality: str
    stride: int
    moves: npt.NDArray[np.uint16]
    trimmed_samples: int
    mean_qscore: float
    num_samples: int | None
    """The record's ``ns`` tag (the signal length it was called from), if any."""

    def attributes(self) -> tuple[object, ...]:
        return (self.stride, self.trimmed_samples, self.mean_qscore)

    def datasets(self) -> tuple[object, ...]:
        return (self.moves, self.sequence, self.quality)


NO_BASECALLS: Final = Basecalls("", "", -1, np.zeros(0, np.uint16), -1, math.nan, None)
"""What a read without a SAM/BAM record gets."""

_RUN_KEYS: Final = (
    "acquisition_id",
    "acquisition_start_time",
    "adc_max",
    "adc_min",
    "experiment_name",
    "flow_cell_id",
    "flow_cell_product_code",
    "protocol_name",
    "protocol_run_id",
    "protocol_start_time",
    "sample_id",
    "sample_rate",
    "sequencing_kit",
    "sequencer_position",
    "sequencer_position_type",
    "software",
    "system_name",
    "system_type",
)


def as_text(value: object) -> str:
    """A metadata value as text: bytes decoded (UTF-8), datetimes in ISO format."""
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else str(value)


def _plain(value: object) -> object:
    """A JSON-able copy of a metadata value (numpy scalars, bytes and datetimes made plain)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes | np.bytes_ | datetime):
        return as_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_info(
    *,
    tracking_id: Mapping[str, object],
    context_tags: Mapping[str, object],
    **known: object,
) -> dict[str, Any]:
    """Run metadata in pod5's ``RunInfo`` vocabulary, JSON-able.

    pod5 files give every key (`known`); FAST5 and SLOW5 files give their
    ``tracking_id`` and ``context_tags`` and the keys are read from those the way
    pod5's FAST5 converter does (``protocol_group_id`` is MinKNOW's experiment
    name). Keys neither source has are left out.

    Examples
    --------
    >>> info = run_info(tracking_id={"run_id": b"abc", "flow_cell_id": b"FAK1"},
    ...                 context_tags={"sequencing_kit": b"sqk-lsk109"})
    >>> info["acquisition_id"], info["flow_cell_id"], info["sequencing_kit"]
    ('abc', 'FAK1', 'sqk-lsk109')
    """
    tracking = {str(k): as_text(v) for k, v in tracking_id.items()}
    context = {str(k): as_text(v) for k, v in context_tags.items()}
    derived = {
        "acquisition_id": tracking.get("run_id"),
        "acquisition_start_time": tracking.get("exp_start_time"),
        "experiment_name": tracking.get("protocol_group_id"),
        "flow_cell_id": tracking.get("flow_cell_id"),
        "flow_cell_product_code": tracking.get("flow_cell_product_code"),
        "protocol_name": tracking.get("exp_script_name"),
        "protocol_run_id": tracking.get("protocol_run_id"),
        "protocol_start_time": tracking.get("protocol_start_time"),
        "sample_id": tracking.get("sample_id"),
        "sample_rate": _int(context.get("sample_frequency")),
        "sequencing_kit": context.get("sequencing_kit"),
        "sequencer_position": tracking.get("device_id"),
        "sequencer_position_type": tracking.get("device_type"),
        "system_name": tracking.get("host_product_serial_number"),
        "system_type": tracking.get("host_product_code"),
    }
    out: dict[str, Any] = {}
    for key in _RUN_KEYS:
        value = known.get(key, derived.get(key))
        if value is not None:
            out[key] = _plain(value)
    out["context_tags"] = context
    out["tracking_id"] = tracking
    return out


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None
