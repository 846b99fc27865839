"""SZ -> multi-read FAST5 with VBZ signals (`export_fast5`, ``xsz convert x.sz x.fast5``),
read back by h5py and by xsz's own FAST5 import, field by field.

Each test runs on the files the tests make (tests/made_data.py) and on the real
files of ../shared/data (skipped, with the reason, without them). ont_fast5_api
is not used: its 4.1.3 imports ``pkg_resources``, which setuptools no longer has.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from xsz.cli import main
from xsz.convert import detect_format, export_fast5, import_reads, import_schema
from xsz.errors import SchemaError, StoreExistsError
from xsz.format import Schema, SZReader, SZWriter

h5py = pytest.importorskip("h5py")
pytest.importorskip("vbz_h5py_plugin")
import vbz_h5py_plugin  # noqa: F401  # the VBZ filter, for the tests' own h5py reads

SOURCES = [
    "ont_fast5_api/batch0.fast5",
    "vbz_compression/multi_fast5_vbz.fast5",
    "squigualiser/r9.4_450bps/reads.blow5",
    "squigualiser/r10_hg002_two_reads/reads.slow5",
    "blue-crab/z1.pod5",
]
VBZ_FILTER = 32020


@pytest.fixture
def data(source_data):
    """The directory of nanopore files (made by the tests; tests/test_real_data.py
    runs these tests again on the real ones)."""
    return source_data


def store_reads(path) -> list[dict]:
    with SZReader(path) as r:
        return r.read_many(np.arange(len(r)))


def same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, float | np.floating) and math.isnan(a):
        return isinstance(b, float | np.floating) and math.isnan(b)
    return bool(a == b)


@pytest.mark.parametrize("name", SOURCES)
def test_export_fast5_round_trip_through_xsz_import(data, name, tmp_path):
    """X -> SZ -> FAST5 -> SZ: every per-read field of every read, in store order."""
    import_reads(data / name, tmp_path / "a.sz")
    assert export_fast5(tmp_path / "a.sz", tmp_path / "out.fast5") == len(
        store_reads(tmp_path / "a.sz")
    )
    assert detect_format(tmp_path / "out.fast5") == "fast5"
    import_reads(tmp_path / "out.fast5", tmp_path / "b.sz")
    a, b = store_reads(tmp_path / "a.sz"), store_reads(tmp_path / "b.sz")
    assert [x["ID"] for x in a] == [y["ID"] for y in b]
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            assert same(x[key], y[key]), (x["ID"], key, x[key], y[key])
    with SZReader(tmp_path / "a.sz") as ra, SZReader(tmp_path / "b.sz") as rb:
        for run_id, run in ra.header["runs"].items():
            back = rb.header["runs"][run_id]
            for key in ("flow_cell_id", "sample_id", "sequencing_kit", "experiment_name"):
                assert back.get(key) == run.get(key), key


@pytest.mark.parametrize(
    "name", ["ont_fast5_api/batch0.fast5", "vbz_compression/multi_fast5_vbz.fast5"]
)
def test_export_fast5_matches_the_source_by_h5py(data, name, tmp_path):
    """FAST5 -> SZ -> FAST5, read by h5py: signal (VBZ), Raw, channel_id, tracking_id and
    context_tags attributes as the source file has them."""
    src = data / name
    import_reads(src, tmp_path / "a.sz")
    export_fast5(tmp_path / "a.sz", tmp_path / "out.fast5")
    with h5py.File(src, "r") as f, h5py.File(tmp_path / "out.fast5", "r") as g:
        assert g.attrs["file_type"] == "multi-read"
        assert sorted(g) == sorted(f)
        for key in f:
            want, got = f[key], g[key]
            signal = got["Raw/Signal"]
            assert VBZ_FILTER in signal._filters or str(VBZ_FILTER) in signal._filters
            np.testing.assert_array_equal(signal[()], want["Raw/Signal"][()])
            assert signal.dtype == np.int16
            for attr in ("read_id", "read_number", "start_mux", "start_time", "duration"):
                assert got["Raw"].attrs[attr] == want["Raw"].attrs[attr], attr
            assert same(got["Raw"].attrs["median_before"], want["Raw"].attrs["median_before"])
            assert dict(got["channel_id"].attrs) == dict(want["channel_id"].attrs)
            for group in ("tracking_id", "context_tags"):
                assert dict(got[group].attrs) == dict(want[group].attrs), group
            assert got.attrs["run_id"] == want.attrs["run_id"]


def test_export_fast5_pod5_fields_and_hard_linked_runs(data, tmp_path):
    """pod5 -> SZ -> FAST5: pod5's extra fields as Raw attributes; one tracking_id group
    per run, hard-linked from every read, as MinKNOW writes them."""
    import_reads(data / "blue-crab/z1.pod5", tmp_path / "a.sz")
    export_fast5(tmp_path / "a.sz", tmp_path / "z.fast5")
    reads = store_reads(tmp_path / "a.sz")
    with h5py.File(tmp_path / "z.fast5", "r") as f:
        assert list(f) == [f"read_{r['ID']}" for r in reads]  # store order kept
        groups = [f[k]["tracking_id"] for k in f]
        assert all(g == groups[0] for g in groups)  # one run: one group, linked from each read
        assert h5py.h5o.get_info(groups[0].id).rc == len(reads)
        for read in reads:
            raw = f[f"read_{read['ID']}/Raw"].attrs
            assert raw["num_minknow_events"] == read["num_minknow_events"]
            labels = h5py.check_enum_dtype(raw.get_id("end_reason").dtype)
            assert {v: k for k, v in labels.items()}[int(raw["end_reason"])] == read["end_reason"]
            assert raw["end_reason_forced"] == read["end_reason_forced"]
            for name in ("tracked_scaling_scale", "time_since_mux_change"):
                assert (name in raw) == (not math.isnan(read[name]))


def test_export_fast5_unknown_values_are_left_out(tmp_path):
    """A read whose well, read number and start are unknown gets no such attribute; an
    empty signal is written (uncompressed: HDF5 chunks cannot be empty) and read back."""
    schema = import_schema(basecalls=False)
    header = {"runs": {"r": {"tracking_id": {"run_id": "r"}, "context_tags": {}}}}
    values = {f.name: None for f in schema.fields}
    with SZWriter(tmp_path / "a.sz", schema, header=header) as w:
        for k, n in enumerate([0, 5]):
            values.update(
                ID=f"{k:08d}-0000-4000-8000-000000000000",
                channel=-1,
                well=-1,
                read_number=-1,
                start_sample=math.nan,
                sampling_rate=4000.0,
                offset=1.0,
                scale=0.5,
                range=1024.0,
                digitisation=2048.0,
                median_before=math.nan,
                end_reason="weird_new_reason",
                run_id="r",
                pore_type="",
                end_reason_forced=-1,
                Raw=np.arange(n, dtype=np.int16),
            )
            for name in schema.by_name:
                if values[name] is None:
                    values[name] = math.nan
            w.put(*(values[f.name] for f in schema.fields))
    export_fast5(tmp_path / "a.sz", tmp_path / "a.fast5")
    with h5py.File(tmp_path / "a.fast5", "r") as f:
        raw = f["read_00000000-0000-4000-8000-000000000000/Raw"]
        assert not {"start_mux", "read_number", "start_time"} & set(raw.attrs)
        assert raw["Signal"].shape == (0,)
    import_reads(tmp_path / "a.fast5", tmp_path / "b.sz")
    for x, y in zip(store_reads(tmp_path / "a.sz"), store_reads(tmp_path / "b.sz"), strict=True):
        for key in x:
            assert same(x[key], y[key]), key


def test_export_fast5_cli_and_refusals(data, tmp_path):
    import_reads(data / "ont_fast5_api/batch0.fast5", tmp_path / "a.sz")
    assert main(["convert", str(tmp_path / "a.sz"), str(tmp_path / "x.fast5"), "-q"]) == 0
    assert main(["convert", str(tmp_path / "a.sz"), str(tmp_path / "x.fast5"), "-q"]) == 1
    assert (
        main(["convert", str(tmp_path / "a.sz"), str(tmp_path / "x.fast5"), "-q", "--force"]) == 0
    )
    with SZReader(tmp_path / "a.sz") as r:
        ids = [str(i) for i in r.ids]
    assert export_fast5(tmp_path / "a.sz", tmp_path / "s.fast5", read_ids=ids[5:1:-2]) == 2
    with h5py.File(tmp_path / "s.fast5", "r") as f:
        assert list(f) == [f"read_{ids[5]}", f"read_{ids[3]}"]
    with SZWriter(tmp_path / "plain.sz", Schema.build([("ID", str)], [("Raw", np.int16)])) as w:
        w.put("r1", np.arange(4))
    with pytest.raises(SchemaError, match="only stores made by import_reads export to FAST5"):
        export_fast5(tmp_path / "plain.sz", tmp_path / "p.fast5")
    (tmp_path / "other.fast5").write_text("not HDF5")
    with pytest.raises(StoreExistsError, match="refusing to replace"):
        export_fast5(tmp_path / "a.sz", tmp_path / "other.fast5", overwrite=True)
    assert (tmp_path / "other.fast5").read_text() == "not HDF5"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.sz",
        "other.fast5",
        "plain.sz",
        "s.fast5",
        "x.fast5",
    ]
