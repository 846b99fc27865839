"""pod5 -> SZ -> pod5 keeps every per-read field pod5 has, field by field.

On pod5 files the test writes (every field set to a value other than pod5's
default), on the real files of ../shared/data, and on a store imported before
xsz kept pod5's other fields (it still exports, with pod5's defaults).
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from tests import DATA, requires_data
from xsz.convert import CORE_READ_FIELDS, POD5_READ_FIELDS, export_pod5, import_reads
from xsz.format import Schema, SZReader, SZWriter

pod5 = pytest.importorskip("pod5")
# pod5 0.3.49 marks the scaling properties of its ReadRecord deprecated ("will be
# removed"): they are still in the file format, and these tests read them
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated function:DeprecationWarning")

REAL = ["blue-crab/z1.pod5", "pod5-file-format/multi_fast5_zip_v3.pod5"]


def _run_info() -> object:
    return pod5.RunInfo(
        acquisition_id="a" * 40,
        acquisition_start_time=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        adc_max=4095,
        adc_min=-4096,
        context_tags={"sample_frequency": "5000", "sequencing_kit": "sqk-lsk114"},
        experiment_name="exp",
        flow_cell_id="PAW00001",
        flow_cell_product_code="FLO-PRO114M",
        protocol_name="sequencing/sequencing_PRO114_DNA_e8_2_400K",
        protocol_run_id="p-1",
        protocol_start_time=datetime(2024, 5, 1, 11, 59, tzinfo=UTC),
        sample_id="sample",
        sample_rate=5000,
        sequencing_kit="sqk-lsk114",
        sequencer_position="1A",
        sequencer_position_type="promethion",
        software="MinKNOW 24.02",
        system_name="PC24A",
        system_type="promethion",
        tracking_id={"run_id": "a" * 40, "flow_cell_id": "PAW00001"},
    )


def made_reads(n: int = 6) -> list[object]:
    """Reads with every field away from pod5's default (forced flags both ways)."""
    rng = np.random.default_rng(13)
    run = _run_info()
    reasons = list(pod5.EndReasonEnum)
    reads = []
    for k in range(n):
        reason = reasons[k % len(reasons)]
        pair = pod5.pod5_types.ShiftScalePair
        reads.append(
            pod5.Read(
                read_id=uuid.UUID(bytes=rng.bytes(16), version=4),
                pore=pod5.Pore(
                    channel=int(rng.integers(1, 3000)), well=k % 4 + 1, pore_type=f"R{k}"
                ),
                calibration=pod5.Calibration(offset=float(-200 - k), scale=0.1825 + k / 1000),
                read_number=int(rng.integers(1, 1 << 31)),
                start_sample=int(rng.integers(0, 1 << 40)),
                median_before=float(np.float32(rng.uniform(150, 250))),
                end_reason=pod5.EndReason(reason, forced=bool(k % 2)),
                run_info=run,
                num_minknow_events=int(rng.integers(1, 1 << 40)),
                tracked_scaling=pair(float(np.float32(60 + k)), float(np.float32(10.5 + k))),
                predicted_scaling=pair(float(np.float32(80 + k)), float(np.float32(17.25 + k))),
                num_reads_since_mux_change=int(rng.integers(1, 1 << 31)),
                time_since_mux_change=float(np.float32(rng.uniform(0, 3600))),
                open_pore_level=float(np.float32(rng.uniform(200, 300))),
                expected_open_pore_level=float(np.float32(rng.uniform(200, 300))),
                selected_read_level=float(np.float32(rng.uniform(50, 100))),
                signal=rng.integers(-300, 800, int(rng.integers(10, 5000))).astype(np.int16),
            )
        )
    return reads


def write(path, reads) -> None:
    with pod5.Writer(path) as writer:
        for read in reads:
            writer.add_read(read)


def pod5_reads(path) -> list[object]:
    with pod5.Reader(path) as reader:
        return [r.to_read() for r in reader.reads()]


def same_value(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if dataclasses.is_dataclass(a):
        return all(
            same_value(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    return bool(a == b)


def assert_same_reads(got: list[object], want: list[object]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        for field in dataclasses.fields(pod5.Read):  # every field, run info included
            assert same_value(getattr(g, field.name), getattr(w, field.name)), (
                w.read_id,
                field.name,
                getattr(g, field.name),
                getattr(w, field.name),
            )


def test_pod5_roundtrip_fields_every_field_of_made_reads(tmp_path):
    reads = made_reads()
    write(tmp_path / "in.pod5", reads)
    import_reads(tmp_path / "in.pod5", tmp_path / "a.sz")
    export_pod5(tmp_path / "a.sz", tmp_path / "out.pod5")
    assert_same_reads(pod5_reads(tmp_path / "out.pod5"), pod5_reads(tmp_path / "in.pod5"))
    # and the fields are in the store, under pod5's names
    with SZReader(tmp_path / "a.sz") as r:
        first = r.read(0)
    read = reads[0]
    assert first["num_minknow_events"] == read.num_minknow_events
    assert first["tracked_scaling_scale"] == np.float32(read.tracked_scaling.scale)
    assert first["predicted_scaling_shift"] == np.float32(read.predicted_scaling.shift)
    assert first["num_reads_since_mux_change"] == read.num_reads_since_mux_change
    assert first["time_since_mux_change"] == np.float32(read.time_since_mux_change)
    assert (first["pore_type"], first["end_reason_forced"]) == ("R0", 0)


def test_pod5_roundtrip_fields_defaults_stay_defaults(tmp_path):
    """Reads written with pod5's defaults (as its FAST5 converter does) come back so."""
    reads = [
        dataclasses.replace(
            r,
            pore=pod5.Pore(r.pore.channel, r.pore.well, "not_set"),
            end_reason=pod5.EndReason.from_reason_with_default_forced(r.end_reason.reason),
            num_minknow_events=0,
            tracked_scaling=pod5.pod5_types.ShiftScalePair(),
            predicted_scaling=pod5.pod5_types.ShiftScalePair(),
            num_reads_since_mux_change=0,
            time_since_mux_change=0.0,
            open_pore_level=math.nan,
            expected_open_pore_level=math.nan,
            selected_read_level=math.nan,
        )
        for r in made_reads(4)
    ]
    write(tmp_path / "in.pod5", reads)
    import_reads(tmp_path / "in.pod5", tmp_path / "a.sz")
    with SZReader(tmp_path / "a.sz") as r:
        assert set(r.index.attribute("pore_type")) == {""}  # "not_set" is stored as unknown
    export_pod5(tmp_path / "a.sz", tmp_path / "out.pod5")
    assert_same_reads(pod5_reads(tmp_path / "out.pod5"), pod5_reads(tmp_path / "in.pod5"))


def test_pod5_roundtrip_fields_store_imported_before_them_still_exports(tmp_path):
    """A store with only the fields of the first release (no POD5_READ_FIELDS) exports,
    with pod5's defaults for what it lacks."""
    reads = made_reads(4)
    write(tmp_path / "in.pod5", reads)
    import_reads(tmp_path / "in.pod5", tmp_path / "new.sz")
    core = [n for n, _, g in CORE_READ_FIELDS if g == "A"]
    with SZReader(tmp_path / "new.sz") as r:
        schema = Schema.build(
            [(n, c) for n, c, g in CORE_READ_FIELDS if g == "A"],
            [(n, c) for n, c, g in CORE_READ_FIELDS if g == "D"],
        )
        with SZWriter(tmp_path / "old.sz", schema, header=r.header) as w:
            for row in range(len(r)):
                read = r.read(row)
                w.put(*(read[n] for n in core), read["Raw"])
    with SZReader(tmp_path / "old.sz") as r:
        assert not {n for n, _, _ in POD5_READ_FIELDS} & set(r.schema.by_name)
    assert export_pod5(tmp_path / "old.sz", tmp_path / "out.pod5") == 4
    for got, want in zip(pod5_reads(tmp_path / "out.pod5"), reads, strict=True):
        assert got.read_id == want.read_id
        np.testing.assert_array_equal(got.signal, want.signal)
        assert (got.pore.channel, got.pore.well, got.pore.pore_type) == (
            want.pore.channel,
            want.pore.well,
            "not_set",
        )
        assert got.end_reason == pod5.EndReason.from_reason_with_default_forced(
            want.end_reason.reason
        )
        assert (got.num_minknow_events, got.num_reads_since_mux_change) == (0, 0)
        assert got.time_since_mux_change == 0.0
        assert math.isnan(got.tracked_scaling.scale) and math.isnan(got.predicted_scaling.shift)
        assert got.read_number == want.read_number and got.start_sample == want.start_sample


@requires_data
@pytest.mark.parametrize("name", REAL)
def test_pod5_roundtrip_fields_real_files(name, tmp_path):
    import_reads(DATA / name, tmp_path / "a.sz")
    export_pod5(tmp_path / "a.sz", tmp_path / "out.pod5")
    want = pod5_reads(DATA / name)
    assert_same_reads(pod5_reads(tmp_path / "out.pod5"), want)
    if name.startswith("blue-crab"):  # a file with the fields set: not all defaults
        assert {r.num_minknow_events for r in want} != {0}
        assert {r.end_reason.forced for r in want} == {False, True}
