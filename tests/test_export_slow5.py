"""SZ -> BLOW5 / SLOW5 (`export_slow5`, ``xsz convert x.sz x.blow5``), read back by pyslow5
and by xsz's own SLOW5 import, field by field.

Each test runs on the files the tests make (tests/made_data.py) and on the real
files of ../shared/data (skipped, with the reason, without them).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from xsz.cli import main
from xsz.convert import convert, export_slow5, import_reads
from xsz.errors import SchemaError, StoreExistsError, UsageError, XszWarning
from xsz.format import Schema, SZReader, SZWriter

pyslow5 = pytest.importorskip("pyslow5")
pod5 = pytest.importorskip("pod5")

SQ = "squigualiser"
SLOW5_FILES = [
    f"{SQ}/r9.4_450bps/reads.blow5",
    f"{SQ}/r10_f5c_eventalign/reads.blow5",
    f"{SQ}/rna_r9.4.1_70bps/reads.blow5",
    f"{SQ}/r10_hg002_two_reads/reads.slow5",
]
PRIMARY = ("read_id", "read_group", "digitisation", "offset", "range", "sampling_rate")
CORE_AUX = ("channel_number", "median_before", "read_number", "start_mux", "start_time")


@pytest.fixture
def data(source_data):
    """The directory of nanopore files (made by the tests; tests/test_real_data.py
    runs these tests again on the real ones)."""
    return source_data


def slow5_reads(path) -> tuple[list[dict], list[dict], list[str]]:
    """Every record (aux included, end reason as its label), each read group's header,
    and the aux field names."""
    f = pyslow5.Open(str(path), "r")
    try:
        names = f.get_aux_names()
        labels = f.get_aux_enum_labels("end_reason") if "end_reason" in names else []
        headers = [
            {k: v for k, v in f.get_all_headers(read_group=g).items() if v is not None}
            for g in range(f.get_num_read_groups())
        ]
        reads = []
        for rec in f.seq_reads(aux="all" if names else None):
            if "end_reason" in rec:
                rec["end_reason"] = labels[rec["end_reason"]]
            reads.append(rec)
    finally:
        f.close()
    return reads, headers, names


def close(a: object, b: object, *, text: bool) -> bool:
    """Equal; within text SLOW5's 6 decimals for floats when one side is text."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b or (text and abs(a - b) <= 5e-7 * max(1.0, abs(a)))
    return bool(a == b)


def assert_same_records(got: list[dict], want: list[dict], *, text: bool, aux=CORE_AUX) -> None:
    assert [r["read_id"] for r in got] == [r["read_id"] for r in want]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g["signal"], w["signal"])
        assert g["signal"].dtype == np.int16
        assert g["len_raw_signal"] == w["len_raw_signal"] == len(w["signal"])
        for key in (*PRIMARY, *aux, "end_reason"):
            assert close(g[key], w[key], text=text), (w["read_id"], key, g[key], w[key])


@pytest.mark.parametrize("name", SLOW5_FILES)
@pytest.mark.parametrize("suffix", [".blow5", ".slow5"])
def test_export_slow5_reads_back_equal_by_pyslow5(data, name, suffix, tmp_path):
    import_reads(data / name, tmp_path / "a.sz")
    out = tmp_path / f"out{suffix}"
    assert export_slow5(tmp_path / "a.sz", out) == len(slow5_reads(data / name)[0])
    got, got_headers, names = slow5_reads(out)
    want, want_headers, want_names = slow5_reads(data / name)
    text = suffix == ".slow5" and not name.endswith(".slow5")
    assert_same_records(got, want, text=text)
    assert got_headers == want_headers  # the run metadata, key for key
    assert set(want_names) <= set(names)


@pytest.mark.parametrize("name", SLOW5_FILES)
def test_export_slow5_round_trip_through_xsz_import(data, name, tmp_path):
    """SLOW5 -> SZ -> BLOW5 -> SZ: the same store, field by field, header runs included."""
    import_reads(data / name, tmp_path / "a.sz")
    export_slow5(tmp_path / "a.sz", tmp_path / "b.blow5")
    import_reads(tmp_path / "b.blow5", tmp_path / "b.sz")
    with SZReader(tmp_path / "a.sz") as a, SZReader(tmp_path / "b.sz") as b:
        assert a.schema == b.schema
        assert a.header["runs"] == b.header["runs"]
        assert (tmp_path / "a.sz" / "dat").read_bytes() == (tmp_path / "b.sz" / "dat").read_bytes()
        rows_a = (tmp_path / "a.sz" / "index").read_text().splitlines()[1:]
        rows_b = (tmp_path / "b.sz" / "index").read_text().splitlines()[1:]
        assert rows_a == rows_b  # every attribute of every read, as text


def test_export_slow5_from_pod5_keeps_pod5_fields(data, tmp_path):
    """pod5 -> SZ -> BLOW5: read by pyslow5, the fields of pod5's reader (blue-crab's names)."""
    src = data / "blue-crab/z1.pod5"
    convert(src, tmp_path / "z1.blow5")
    got, headers, names = slow5_reads(tmp_path / "z1.blow5")
    with pod5.Reader(src) as reader:
        batch = next(reader.read_batches())
        cols = batch.columns
        want = list(reader.reads())
        run = want[0].run_info
        assert len(got) == len(want) == 3
        for k, (g, w) in enumerate(zip(got, want, strict=True)):
            assert g["read_id"] == str(w.read_id)
            np.testing.assert_array_equal(g["signal"], w.signal)
            assert g["digitisation"] == run.adc_max - run.adc_min + 1
            assert g["offset"] == w.calibration.offset
            assert g["range"] == pytest.approx(w.calibration.scale * g["digitisation"], rel=1e-15)
            assert g["sampling_rate"] == run.sample_rate
            assert g["channel_number"] == str(w.pore.channel)
            assert (g["start_mux"], g["read_number"]) == (w.pore.well, w.read_number)
            assert g["start_time"] == w.start_sample
            assert close(g["median_before"], w.median_before, text=False)
            assert g["end_reason"] == w.end_reason.name
            for field in ("num_minknow_events", "num_reads_since_mux_change"):
                assert g[field] == getattr(cols, field).to_pylist()[k], field
            for field in (
                "tracked_scaling_scale",
                "predicted_scaling_shift",
                "time_since_mux_change",
            ):
                value = getattr(cols, field).to_pylist()[k]
                if math.isnan(value):  # pod5's "not set": not written (or SLOW5's missing)
                    assert field not in names or math.isnan(g[field]), field
                else:
                    assert g[field] == np.float32(value), field
    assert headers[0]["run_id"] == run.acquisition_id
    assert headers[0]["flow_cell_id"] == run.flow_cell_id
    assert headers[0]["sample_frequency"] == str(run.sample_rate)
    assert "num_minknow_events" in names


def test_export_slow5_from_fast5_one_read_group_per_run(data, tmp_path):
    """batch0.fast5 holds reads of four runs: four read groups, each with its run's header."""
    src = data / "ont_fast5_api/batch0.fast5"
    import_reads(src, tmp_path / "a.sz")
    export_slow5(tmp_path / "a.sz", tmp_path / "a.blow5")
    got, headers, names = slow5_reads(tmp_path / "a.blow5")
    assert len(headers) == 4
    with SZReader(tmp_path / "a.sz") as r:
        reads = r.read_many(np.arange(len(r)))
        runs = r.header["runs"]
    order = list(dict.fromkeys(x["run_id"] for x in reads))
    for g, x in zip(got, reads, strict=True):
        assert g["read_group"] == order.index(x["run_id"])
        assert headers[g["read_group"]]["run_id"] == x["run_id"]
        np.testing.assert_array_equal(g["signal"], x["Raw"])
    for k, run_id in enumerate(order):
        run = runs[run_id]
        # SLOW5 headers cannot hold "": such values (FAST5 has some) are missing
        merged = {**run["tracking_id"], **run["context_tags"]}
        assert headers[k] == {key: v for key, v in merged.items() if v != ""}
    assert "num_minknow_events" not in names  # FAST5 lacks it: no column of missing values
    import_reads(tmp_path / "a.blow5", tmp_path / "b.sz")
    with SZReader(tmp_path / "b.sz") as b:
        back = b.read_many(np.arange(len(b)))
    for x, y in zip(reads, back, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            if isinstance(x[key], np.ndarray):
                np.testing.assert_array_equal(x[key], y[key])
            elif not (isinstance(x[key], float) and math.isnan(x[key])):
                assert x[key] == y[key] or (math.isnan(x[key]) and math.isnan(y[key])), key


def test_export_slow5_selection_in_order_asked(data, tmp_path):
    import_reads(data / SLOW5_FILES[0], tmp_path / "a.sz")
    with SZReader(tmp_path / "a.sz") as r:
        ids = [str(i) for i in r.ids]
    wanted = [ids[7], ids[2], ids[30]]
    assert export_slow5(tmp_path / "a.sz", tmp_path / "s.blow5", read_ids=wanted) == 3
    assert [x["read_id"] for x in slow5_reads(tmp_path / "s.blow5")[0]] == wanted


def test_export_slow5_cli_convert(data, tmp_path):
    import_reads(data / SLOW5_FILES[3], tmp_path / "a.sz")
    assert main(["convert", str(tmp_path / "a.sz"), str(tmp_path / "x.blow5"), "-q"]) == 0
    assert main(["convert", str(tmp_path / "a.sz"), str(tmp_path / "x.slow5"), "-q"]) == 0
    want = slow5_reads(data / SLOW5_FILES[3])[0]
    for name in ("x.blow5", "x.slow5"):
        assert_same_records(slow5_reads(tmp_path / name)[0], want, text=False)
    # pod5 -> BLOW5 in one step, through a hidden SZ store that is removed
    assert main(["convert", str(data / "blue-crab/z1.pod5"), str(tmp_path / "z.blow5"), "-q"]) == 0
    assert len(slow5_reads(tmp_path / "z.blow5")[0]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["a.sz", "x.blow5", "x.slow5", "z.blow5"]
    )


def test_export_slow5_refusals_leave_nothing(source_data, tmp_path):
    import_reads(source_data / SLOW5_FILES[3], tmp_path / "a.sz")
    with SZWriter(tmp_path / "plain.sz", Schema.build([("ID", str)], [("Raw", np.int16)])) as w:
        w.put("r1", np.arange(4))
    with pytest.raises(SchemaError, match="only stores made by import_reads export to BLOW5"):
        export_slow5(tmp_path / "plain.sz", tmp_path / "p.blow5")
    with pytest.raises(UsageError, match=r"\.blow5 \(binary\) or \.slow5"):
        export_slow5(tmp_path / "a.sz", tmp_path / "p.txt")
    with pytest.raises(UsageError, match="text"):
        export_slow5(tmp_path / "a.sz", tmp_path / "p.slow5", compression=("zlib", "svb_zd"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.sz", "plain.sz"]
    (tmp_path / "other.blow5").write_text("not a blow5 file")
    with pytest.raises(StoreExistsError, match="overwrite=True"):
        export_slow5(tmp_path / "a.sz", tmp_path / "other.blow5")
    with pytest.raises(StoreExistsError, match="refusing to replace"):
        export_slow5(tmp_path / "a.sz", tmp_path / "other.blow5", overwrite=True)
    assert (tmp_path / "other.blow5").read_text() == "not a blow5 file"
    export_slow5(tmp_path / "a.sz", tmp_path / "ok.blow5")
    with pytest.raises(UsageError, match="cannot write an empty file"):
        export_slow5(tmp_path / "a.sz", tmp_path / "ok.blow5", overwrite=True, read_ids=[])
    assert len(slow5_reads(tmp_path / "ok.blow5")[0]) == 2


def test_export_slow5_compression_choices(source_data, tmp_path):
    import_reads(source_data / SLOW5_FILES[0], tmp_path / "a.sz")
    want = slow5_reads(source_data / SLOW5_FILES[0])[0]
    sizes = {}
    for press in (("zlib", "svb_zd"), ("zstd", "svb_zd"), ("none", "none")):
        out = tmp_path / f"{'-'.join(press)}.blow5"
        export_slow5(tmp_path / "a.sz", out, compression=press)
        assert_same_records(slow5_reads(out)[0], want, text=False)
        sizes[press] = out.stat().st_size
    assert sizes[("none", "none")] > 1.5 * sizes[("zlib", "svb_zd")]


def test_export_slow5_field_unknown_for_the_first_read_is_named(source_data, tmp_path):
    """pyslow5 declares aux fields from the first record: a field the first read lacks
    but later reads have is left out, with a warning naming it."""
    import_reads(source_data / "blue-crab/z1.pod5", tmp_path / "z.sz")
    with SZReader(tmp_path / "z.sz") as r:
        reads = r.read_many(np.arange(len(r)))
        with SZWriter(tmp_path / "m.sz", r.schema, header=r.header) as w:
            for k, read in enumerate(reads):
                read["tracked_scaling_scale"] = np.float32(1.5 + k)
                if k == 0:
                    read["num_minknow_events"] = math.nan
                w.put(*(read[f.name] for f in r.schema.fields))
    with pytest.warns(XszWarning, match=r"\['num_minknow_events'\]"):
        export_slow5(tmp_path / "m.sz", tmp_path / "m.blow5")
    got, _, names = slow5_reads(tmp_path / "m.blow5")
    assert "num_minknow_events" not in names
    assert "tracked_scaling_scale" in names
    assert [g["read_id"] for g in got] == [r["ID"] for r in reads]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        export_slow5(tmp_path / "z.sz", tmp_path / "z.blow5")  # every field known: no warning
