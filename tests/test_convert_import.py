"""xsz.convert: nanopore files (pod5, SLOW5/BLOW5, FAST5) and SAM/BAM move tables into SZ.

Every read of every file is checked against signal_sample.npz and against the
format's own reader (pod5.Reader, pyslow5.Open, h5py), which the tests call
themselves. The files come from the ``source_data`` fixture: written by the
formats' own writers (tests/made_data.py), named and shaped like ../shared/data,
whose real files test_real_data reads with the same tests.
"""

from __future__ import annotations

import errno
import logging
import math
import re
import shutil
import subprocess
import sys
import tracemalloc
import uuid

import numpy as np
import pytest

from xsz.api import CompressedFile
from xsz.convert import (
    BASECALL_FIELDS,
    POD5_READ_FIELDS,
    READ_FIELDS,
    detect_format,
    export_pod5,
    import_reads,
    import_schema,
)
from xsz.errors import (
    DuplicateReadError,
    ReadNotFoundError,
    SchemaError,
    SourceError,
    StoreExistsError,
    UsageError,
)
from xsz.format import SZReader, SZWriter
from xsz.mapping import layout

pod5 = pytest.importorskip("pod5")
pyslow5 = pytest.importorskip("pyslow5")
h5py = pytest.importorskip("h5py")
pysam = pytest.importorskip("pysam")
import vbz_h5py_plugin  # noqa: F401  # the VBZ filter, for the tests' own h5py reads

SQ = "squigualiser"
FILES = {
    "pod5-file-format/multi_fast5_zip_v3.pod5": "pod5",
    "blue-crab/z1.pod5": "pod5",
    "pod5-file-format/multi_fast5_zip.fast5": "fast5",
    "vbz_compression/multi_fast5_vbz.fast5": "fast5",
    "ont_fast5_api/batch0.fast5": "fast5",
    f"{SQ}/r9.4_450bps/reads.blow5": "blow5",
    f"{SQ}/r10_f5c_eventalign/reads.blow5": "blow5",
    f"{SQ}/rna_r9.4.1_70bps/reads.blow5": "blow5",
    f"{SQ}/r10_hg002_two_reads/reads.slow5": "slow5",
}
SOURCES = [*FILES, "ont_fast5_api/single_reads"]
SAME_TEN = [
    "pod5-file-format/multi_fast5_zip_v3.pod5",
    "pod5-file-format/multi_fast5_zip.fast5",
    "vbz_compression/multi_fast5_vbz.fast5",
]
CALIBRATION = ("offset", "range", "digitisation", "scale", "sampling_rate")


@pytest.fixture(scope="module")
def sample(source_data) -> dict[str, dict[str, object]]:
    """signal_sample.npz by read ID: signal and calibration."""
    with np.load(source_data / "signal_sample.npz") as npz:
        z = dict(npz)  # each npz[key] reads (and inflates) the array again: once is enough
    out = {}
    for i, read_id in enumerate(z["read_id"].tolist()):
        out[read_id] = {"signal": z["signal"][z["offsets"][i] : z["offsets"][i + 1]]}
        out[read_id].update({k: float(z[k][i]) for k in CALIBRATION})
    return out


def reads_of(path) -> list[dict[str, object]]:
    with SZReader(path) as r:
        return r.read_many(np.arange(len(r)))


def content(path) -> tuple[list[str], list[str], bytes]:
    """Schema line, index rows and dat bytes: everything but the header."""
    lines = (path / "index").read_text().splitlines()
    return lines[1:2], lines[2:], (path / "dat").read_bytes()


def same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return a.dtype == np.asarray(b).dtype and np.array_equal(a, b)
    if isinstance(a, float | np.floating) and math.isnan(a):
        return isinstance(b, float | np.floating) and math.isnan(b)
    return bool(a == b)


def leftovers(parent) -> list[str]:
    return [p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name]


# --- recognising formats ---------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), FILES.items())
def test_import_detect_format_by_content(source_data, name, fmt, tmp_path):
    assert detect_format(source_data / name) == fmt
    renamed = tmp_path / "no-extension.dat"
    shutil.copyfile(source_data / name, renamed)
    assert detect_format(renamed) == fmt


def test_import_detect_format_of_stores(source_data, tmp_path):
    import_reads(source_data / "blue-crab/z1.pod5", tmp_path / "z1.sz")
    assert detect_format(tmp_path / "z1.sz") == "sz"
    (tmp_path / "z.zarr").mkdir()
    (tmp_path / "z.zarr" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    assert detect_format(tmp_path / "z.zarr") == "zarr"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"@HD\tVN:1.6\n", "unknown format"),
        (b"\x00" * 100, "unknown format"),
        (b"\x8bPO", "truncated"),
    ],
)
def test_import_detect_format_refuses_unknown_files(content, message, tmp_path):
    path = tmp_path / "reads.pod5"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message) as err:
        detect_format(path)
    assert str(path) in str(err.value)
    with pytest.raises(SourceError, match=message):
        import_reads(path, tmp_path / "out.sz")
    assert not (tmp_path / "out.sz").exists()


@pytest.mark.parametrize("name", list(FILES))
def test_import_truncated_source_is_refused(source_data, name, tmp_path):
    data = (source_data / name).read_bytes()
    cut = tmp_path / ("cut-" + name.rsplit("/", 1)[-1])
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="truncated") as err:
        import_reads(cut, tmp_path / "out.sz")
    assert str(cut) in str(err.value)
    assert not (tmp_path / "out.sz").exists()
    assert leftovers(tmp_path) == []


def test_import_missing_source_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.pod5"):
        import_reads(tmp_path / "nope.pod5", tmp_path / "out.sz")


# --- every file, every read ------------------------------------------------------------


@pytest.mark.parametrize("name", SOURCES)
def test_import_every_file_matches_signal_sample(source_data, name, sample, tmp_path):
    summary = import_reads(source_data / name, tmp_path / "out.sz")
    reads = reads_of(tmp_path / "out.sz")
    assert summary.n_reads == len(reads) > 0
    assert summary.n_samples == sum(len(r["Raw"]) for r in reads)
    for read in reads:
        want = sample[read["ID"]]
        assert read["Raw"].dtype == np.int16
        np.testing.assert_array_equal(read["Raw"], want["signal"])
        for key in CALIBRATION:
            assert read[key] == want[key], (read["ID"], key)
    pa = np.concatenate([(r["Raw"] + r["offset"]) * r["scale"] for r in reads])
    assert 50 < np.median(pa) < 110  # the README: "between 54 and 102" per file


def test_import_pod5_matches_pod5_reader(source_data, tmp_path):
    for name in ("pod5-file-format/multi_fast5_zip_v3.pod5", "blue-crab/z1.pod5"):
        import_reads(source_data / name, tmp_path / "out.sz", overwrite=True)
        got = {r["ID"]: r for r in reads_of(tmp_path / "out.sz")}
        with pod5.Reader(source_data / name) as reader:
            records = list(reader.reads())
            assert len(records) == len(got)
            for rec in records:
                read = got[str(rec.read_id)]
                np.testing.assert_array_equal(read["Raw"], rec.signal)
                assert read["offset"] == rec.calibration.offset
                assert read["scale"] == rec.calibration.scale
                assert read["digitisation"] == rec.calibration_digitisation
                assert read["range"] == rec.calibration_range
                assert read["sampling_rate"] == rec.run_info.sample_rate
                assert (read["channel"], read["well"]) == (rec.pore.channel, rec.pore.well)
                assert read["read_number"] == rec.read_number
                assert read["start_sample"] == rec.start_sample
                assert same(read["median_before"], rec.median_before)
                assert read["end_reason"] == rec.end_reason.reason.name.lower()
                assert read["run_id"] == rec.run_info.acquisition_id


@pytest.mark.parametrize("name", [n for n, f in FILES.items() if f in ("blow5", "slow5")])
def test_import_slow5_matches_pyslow5(source_data, name, tmp_path):
    import_reads(source_data / name, tmp_path / "out.sz")
    got = {r["ID"]: r for r in reads_of(tmp_path / "out.sz")}
    f = pyslow5.Open(str(source_data / name), "r")
    labels = f.get_aux_enum_labels("end_reason")
    n = 0
    for rec in f.seq_reads(aux="all"):
        read = got[rec["read_id"]]
        np.testing.assert_array_equal(read["Raw"], rec["signal"])
        for key in ("offset", "range", "digitisation", "sampling_rate"):
            assert read[key] == rec[key]
        assert read["scale"] == rec["range"] / rec["digitisation"]
        assert read["channel"] == int(rec["channel_number"])
        assert (read["well"], read["read_number"]) == (rec["start_mux"], rec["read_number"])
        assert read["start_sample"] == rec["start_time"]
        assert same(read["median_before"], rec["median_before"])
        assert read["end_reason"] == labels[rec["end_reason"]]
        assert read["run_id"] == f.get_header_value("run_id", rec["read_group"])
        n += 1
    f.close()
    assert n == len(got)


@pytest.mark.parametrize("name", [n for n, f in FILES.items() if f == "fast5"])
def test_import_fast5_matches_h5py(source_data, name, tmp_path):
    import_reads(source_data / name, tmp_path / "out.sz")
    got = reads_of(tmp_path / "out.sz")
    with h5py.File(source_data / name, "r") as f:
        assert [r["ID"] for r in got] == [k.removeprefix("read_") for k in f]
        for read in got:
            group = f[f"read_{read['ID']}"]
            np.testing.assert_array_equal(read["Raw"], group["Raw/Signal"][()])
            channel = group["channel_id"].attrs
            for key in ("offset", "range", "digitisation", "sampling_rate"):
                assert read[key] == channel[key]
            assert read["channel"] == int(channel["channel_number"])
            raw = group["Raw"].attrs
            assert (read["well"], read["read_number"]) == (raw["start_mux"], raw["read_number"])
            assert read["start_sample"] == raw["start_time"]
            assert same(read["median_before"], raw["median_before"])
            assert read["run_id"] == group["tracking_id"].attrs["run_id"].decode()


def test_import_same_reads_give_the_same_store_from_every_format(source_data, tmp_path):
    stores = []
    for k, name in enumerate(SAME_TEN):
        import_reads(source_data / name, tmp_path / f"{k}.sz")
        stores.append(content(tmp_path / f"{k}.sz"))
    assert len(stores[0][1]) == 10
    # pod5 has fields FAST5 lacks (its defaults, here): the other columns are the same
    columns = stores[0][0][0].split("\t")
    pod5_only = {n for n, _, _ in POD5_READ_FIELDS if n != "pore_type"}
    keep = [k for k, c in enumerate(columns) if c.split(":")[0] not in pod5_only]
    assert len(keep) == len(columns) - 11

    def shared(rows: list[str]) -> list[list[str]]:
        return [[row.split("\t")[k] for k in keep] for row in rows]

    for other in stores[1:]:
        assert other[0] == stores[0][0]  # schema
        assert shared(other[1]) == shared(stores[0][1])  # every shared attribute, frame offsets
        assert other[2] == stores[0][2]  # every frame, byte for byte
    fast5 = reads_of(tmp_path / "1.sz")
    for read in reads_of(tmp_path / "0.sz"):  # the pod5 file's defaults, and unknown in FAST5
        assert (read["num_minknow_events"], read["end_reason_forced"]) == (0, 0)
        assert math.isnan(read["tracked_scaling_scale"])
    assert all(math.isnan(r["num_minknow_events"]) and r["end_reason_forced"] == -1 for r in fast5)


def test_import_single_read_fast5_directory_equals_multi_read_file(source_data, tmp_path):
    multi = import_reads(source_data / "ont_fast5_api/batch0.fast5", tmp_path / "multi.sz")
    single = import_reads(source_data / "ont_fast5_api/single_reads", tmp_path / "single.sz")
    assert len(single.sources) == 8
    assert single.n_reads == multi.n_reads == 8
    assert content(tmp_path / "multi.sz") == content(tmp_path / "single.sz")
    with SZReader(tmp_path / "single.sz") as r:
        assert r.header["source_files"] == sorted(p.name for p in single.sources)
        assert len(r.header["runs"]) == 4  # four flow cells
        assert sorted(r.header["flow_cell_id"]) == sorted(
            {run["flow_cell_id"] for run in r.header["runs"].values()}
        )


def test_import_a_list_of_files(source_data, tmp_path):
    files = sorted((source_data / "ont_fast5_api/single_reads").glob("*.fast5"))[:3]
    summary = import_reads([*files, source_data / "blue-crab/z1.pod5"], tmp_path / "out.sz")
    assert summary.n_reads == 6
    assert summary.source_format == "fast5,pod5"


def test_import_header_names_source_and_run(source_data, tmp_path):
    import_reads(source_data / "blue-crab/z1.pod5", tmp_path / "z1.sz")
    with SZReader(tmp_path / "z1.sz") as r:
        h = r.header
        assert h["source_format"] == "pod5"
        assert h["source_files"] == ["z1.pod5"]
        assert re.fullmatch(r"\d+\.\d+.*", h["xsz_version"])
        assert (h["flow_cell_id"], h["sample_id"]) == ("FAW84365", "zymo_hmw_mock_5khz")
        assert (h["experiment_name"], h["sequencing_kit"]) == (
            "2023-06-02_np_FAW84365",
            "sqk-lsk114",
        )
        run = h["runs"]["c6df34f043d40f6f45debe33276597a09b8a14a6"]
        assert run["flow_cell_product_code"] == "FLO-MIN114"
        assert run["tracking_id"]["device_type"] == "gridion"
        assert run["context_tags"]["sample_frequency"] == "5000"
        assert set(r.index.attribute("run_id")) == {"c6df34f043d40f6f45debe33276597a09b8a14a6"}
        assert r.schema == import_schema(basecalls=False)
        assert [r.read(i)["end_reason"] for i in range(3)] == [
            "signal_positive",
            "signal_positive",
            "unblock_mux_change",
        ]


def test_import_store_opens_with_compressedfile(source_data, tmp_path):
    import_reads(source_data / f"{SQ}/r10_hg002_two_reads/reads.slow5", tmp_path / "out.sz")
    with CompressedFile(tmp_path / "out.sz") as sz:
        assert list(sz.idx["ID"]) == [
            "40a8cd14-e5ab-45f9-aef8-90c2742caa49",
            "35142bde-548d-4f55-bf50-21c4cdd254da",
        ]
        read = sz.get(0)
        assert len(read.Raw) == 2552
        assert read.end_reason == "unblock_mux_change"


# --- what the formats leave out --------------------------------------------------------


def test_import_slow5_without_aux_fields_gets_unknown_values(tmp_path):
    path = tmp_path / "plain.blow5"
    f = pyslow5.Open(str(path), "w")
    header = f.get_empty_header()
    f.write_header(dict.fromkeys(header, "") | {"run_id": "r1", "flow_cell_id": "FC1"})
    record = f.get_empty_record()
    signal = np.array([500, 501, -3, 700], np.int16)
    record.update(
        read_id="plain-read",
        read_group=0,
        digitisation=2048.0,
        offset=-10.0,
        range=500.0,
        sampling_rate=4000.0,
        len_raw_signal=4,
        signal=signal,
    )
    f.write_record(record)
    f.close()
    import_reads(path, tmp_path / "out.sz")
    (read,) = reads_of(tmp_path / "out.sz")
    np.testing.assert_array_equal(read["Raw"], signal)
    assert (read["channel"], read["well"], read["read_number"]) == (-1, -1, -1)
    assert math.isnan(read["start_sample"])
    assert math.isnan(read["median_before"])
    assert (read["end_reason"], read["run_id"], read["scale"]) == ("unknown", "r1", 500 / 2048)
    with SZReader(tmp_path / "out.sz") as r:
        assert r.header["flow_cell_id"] == "FC1"


def test_import_fast5_end_reason_enum_is_a_label(source_data, tmp_path):
    path = tmp_path / "reasons.fast5"
    with (
        h5py.File(source_data / "ont_fast5_api/batch0.fast5", "r") as src,
        h5py.File(path, "w") as dst,
    ):
        dst.attrs["file_version"] = "2.2"
        names = list(src)[:2]
        for name in names:
            src.copy(src[name], dst, name=name)
        labels = {
            "unknown": 0,
            "partial": 1,
            "mux_change": 2,
            "unblock_mux_change": 3,
            "signal_positive": 4,
            "signal_negative": 5,
        }
        kind = h5py.enum_dtype(labels, basetype="u1")
        dst[f"{names[0]}/Raw"].attrs.create("end_reason", 4, dtype=kind)
        dst[f"{names[1]}/Raw"].attrs.create("end_reason", 3, dtype=kind)
    import_reads(path, tmp_path / "out.sz")
    assert [r["end_reason"] for r in reads_of(tmp_path / "out.sz")] == [
        "signal_positive",
        "unblock_mux_change",
    ]


def test_import_hdf5_that_is_not_fast5_is_refused(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["values"] = np.arange(3)
    assert detect_format(path) == "fast5"
    with pytest.raises(SourceError, match="not FAST5"):
        import_reads(path, tmp_path / "out.sz")


# --- basecalls and move tables ---------------------------------------------------------


def sam_records(path) -> dict[str, object]:
    with pysam.AlignmentFile(str(path), "r", check_sq=False) as f:
        return {rec.query_name: rec for rec in f.fetch(until_eof=True)}


def test_import_moves_attach_basecalls(source_data, tmp_path):
    sam = source_data / f"{SQ}/r9.4_450bps/moves.sam"
    summary = import_reads(
        source_data / f"{SQ}/r9.4_450bps/reads.blow5", tmp_path / "out.sz", moves=sam
    )
    assert summary.n_basecalled == summary.n_reads == 40
    records = sam_records(sam)
    with SZReader(tmp_path / "out.sz") as r:
        assert r.schema == import_schema(basecalls=True)
        assert r.header["basecalls"]["file"] == "moves.sam"
        assert {"id": "basecaller", "name": "guppy", "version": "6.3.7"} in r.header["basecalls"][
            "programs"
        ]
        for read in r.read_many(np.arange(len(r))):
            rec = records[read["ID"]]
            mv = np.asarray(rec.get_tag("mv"))
            assert read["Sequence"] == rec.query_sequence
            assert read["Quality"] == pysam.qualities_to_qualitystring(rec.query_qualities)
            assert read["Move"].dtype == np.uint16
            np.testing.assert_array_equal(read["Move"], mv[1:])
            assert (read["move_stride"], read["trimmed_samples"]) == (mv[0], rec.get_tag("ts"))
            assert read["mean_qscore"] == rec.get_tag("qs")
            assert rec.get_tag("ns") == len(read["Raw"])  # the README's two facts
            assert read["Move"].sum() == len(read["Sequence"])


@pytest.mark.parametrize(("sam", "ts"), [("buttery_eel.sam", 0), ("slow5-dorado.sam", 10)])
def test_import_moves_from_both_basecallers(source_data, sam, ts, tmp_path):
    folder = source_data / f"{SQ}/r10_hg002_two_reads"
    import_reads(folder / "reads.slow5", tmp_path / "out.sz", moves=folder / sam)
    records = sam_records(folder / sam)
    for read in reads_of(tmp_path / "out.sz"):
        assert read["Sequence"] == records[read["ID"]].query_sequence
        assert read["trimmed_samples"] == ts  # buttery-eel writes no ts tag: 0
        assert read["trimmed_samples"] + read["move_stride"] * len(read["Move"]) <= len(read["Raw"])


def write_sam(path, records, header) -> None:
    with pysam.AlignmentFile(str(path), "w", header=header) as out:
        for rec in records:
            out.write(rec)


def test_import_moves_from_bam_equal_moves_from_sam(source_data, tmp_path):
    folder = source_data / f"{SQ}/r9.4_450bps"
    with pysam.AlignmentFile(str(folder / "moves.sam"), "r", check_sq=False) as f:
        records = list(f.fetch(until_eof=True))
        with pysam.AlignmentFile(str(tmp_path / "moves.bam"), "wb", header=f.header) as out:
            for rec in reversed(records):  # another order than the signal file's
                out.write(rec)
    import_reads(folder / "reads.blow5", tmp_path / "sam.sz", moves=folder / "moves.sam")
    import_reads(folder / "reads.blow5", tmp_path / "bam.sz", moves=tmp_path / "moves.bam")
    assert content(tmp_path / "sam.sz") == content(tmp_path / "bam.sz")


def test_import_reads_without_a_record_get_empty_basecalls(source_data, tmp_path):
    folder = source_data / f"{SQ}/r10_hg002_two_reads"
    with pysam.AlignmentFile(str(folder / "slow5-dorado.sam"), "r", check_sq=False) as f:
        header = f.header
        first = next(f.fetch(until_eof=True))
    write_sam(tmp_path / "one.sam", [first], header)
    summary = import_reads(folder / "reads.slow5", tmp_path / "out.sz", moves=tmp_path / "one.sam")
    assert (summary.n_reads, summary.n_basecalled) == (2, 1)
    with_call, without = sorted(
        reads_of(tmp_path / "out.sz"), key=lambda r: r["ID"] != first.query_name
    )
    assert with_call["Sequence"] == first.query_sequence
    assert (without["Sequence"], without["Quality"], len(without["Move"])) == ("", "", 0)
    assert (without["move_stride"], without["trimmed_samples"]) == (-1, -1)
    assert math.isnan(without["mean_qscore"])


def test_import_moves_matching_no_read_is_an_error(source_data, tmp_path):
    sam = source_data / f"{SQ}/r10_hg002_two_reads/buttery_eel.sam"
    for source in (
        source_data / f"{SQ}/r9.4_450bps/reads.blow5",
        source_data / "blue-crab/z1.pod5",
    ):
        with pytest.raises(SourceError, match="none of its 2 read IDs") as err:
            import_reads(source, tmp_path / "out.sz", moves=sam)
        assert "buttery_eel.sam" in str(err.value)
        assert not (tmp_path / "out.sz").exists()
        assert leftovers(tmp_path) == []


def test_import_moves_that_do_not_fit_the_signal_are_refused(source_data, tmp_path):
    folder = source_data / f"{SQ}/r10_hg002_two_reads"
    with pysam.AlignmentFile(str(folder / "slow5-dorado.sam"), "r", check_sq=False) as f:
        header = f.header
        records = list(f.fetch(until_eof=True))
    records[1].set_tag("ns", 1234, value_type="i")
    write_sam(tmp_path / "bad.sam", records, header)
    with pytest.raises(
        SourceError, match=r"ns tag says 1234 samples, the signal has 239827"
    ) as err:
        import_reads(folder / "reads.slow5", tmp_path / "out.sz", moves=tmp_path / "bad.sam")
    assert records[1].query_name in str(err.value)
    assert not (tmp_path / "out.sz").exists()


def test_import_moves_file_that_is_not_sam(source_data, tmp_path):
    bogus = tmp_path / "moves.sam"
    bogus.write_text("this is not a SAM file\n")
    with pytest.raises(SourceError, match=r"moves\.sam"):
        import_reads(source_data / "blue-crab/z1.pod5", tmp_path / "out.sz", moves=bogus)
    assert not (tmp_path / "out.sz").exists()


# --- choosing reads, destinations, failures --------------------------------------------


def test_import_read_ids_selects_reads_in_source_order(source_data, tmp_path):
    source = source_data / "pod5-file-format/multi_fast5_zip_v3.pod5"
    with pod5.Reader(source) as reader:
        ids = [str(i) for i in reader.read_ids]
    summary = import_reads(source, tmp_path / "out.sz", read_ids=[ids[7], ids[2], ids[5]])
    assert summary.n_reads == 3
    assert [r["ID"] for r in reads_of(tmp_path / "out.sz")] == [ids[2], ids[5], ids[7]]


@pytest.mark.parametrize(
    "name", ["blue-crab/z1.pod5", f"{SQ}/r9.4_450bps/reads.blow5", "ont_fast5_api/batch0.fast5"]
)
def test_import_read_ids_the_source_lacks_are_named(source_data, name, tmp_path):
    missing = str(uuid.UUID(int=7))
    with pytest.raises(ReadNotFoundError, match=missing) as err:
        import_reads(
            source_data / name, tmp_path / "out.sz", read_ids=[missing, str(uuid.UUID(int=8))]
        )
    assert "2 of the 2 reads asked for are missing" in str(err.value)
    assert not (tmp_path / "out.sz").exists()
    assert leftovers(tmp_path) == []


def test_import_empty_selection_makes_an_empty_store(source_data, tmp_path):
    import_reads(source_data / "blue-crab/z1.pod5", tmp_path / "out.sz", read_ids=[])
    with SZReader(tmp_path / "out.sz") as r:
        assert len(r) == 0
        assert r.schema == import_schema(basecalls=False)


def test_import_existing_destination_needs_overwrite(source_data, tmp_path):
    dest = tmp_path / "out.sz"
    import_reads(source_data / "blue-crab/z1.pod5", dest)
    before = content(dest)
    with pytest.raises(StoreExistsError, match="overwrite=True"):
        import_reads(source_data / f"{SQ}/r10_hg002_two_reads/reads.slow5", dest)
    assert content(dest) == before
    import_reads(source_data / f"{SQ}/r10_hg002_two_reads/reads.slow5", dest, overwrite=True)
    assert len(reads_of(dest)) == 2


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("exc", [Interrupted, KeyboardInterrupt])
def test_import_interrupted_leaves_nothing_half_written(source_data, exc, tmp_path):
    def stop_after_five(done, total):
        if done == 5:
            raise exc("stop")

    dest = tmp_path / "out.sz"
    with pytest.raises(exc):
        import_reads(source_data / f"{SQ}/r9.4_450bps/reads.blow5", dest, progress=stop_after_five)
    assert not dest.exists()
    assert leftovers(tmp_path) == []
    # an existing store survives a failed overwrite
    import_reads(source_data / "blue-crab/z1.pod5", dest)
    before = content(dest)
    with pytest.raises(exc):
        import_reads(
            source_data / f"{SQ}/r9.4_450bps/reads.blow5",
            dest,
            overwrite=True,
            progress=stop_after_five,
        )
    assert content(dest) == before
    assert leftovers(tmp_path) == []


def test_import_disk_full_midway_leaves_nothing(source_data, tmp_path, monkeypatch):
    real_put = SZWriter.put
    calls = []

    def put(self, *fields, copy=True):
        calls.append(fields[0])
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_put(self, *fields, copy=copy)

    monkeypatch.setattr(SZWriter, "put", put)
    with pytest.raises(OSError, match="No space left"):
        import_reads(source_data / f"{SQ}/r10_f5c_eventalign/reads.blow5", tmp_path / "out.sz")
    assert len(calls) == 4
    assert not (tmp_path / "out.sz").exists()
    assert leftovers(tmp_path) == []


def test_import_corrupt_record_midway_is_an_error(source_data, tmp_path):
    data = bytearray((source_data / f"{SQ}/r9.4_450bps/reads.blow5").read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # the end-of-file marker stays
    bad = tmp_path / "bad.blow5"
    bad.write_bytes(bytes(data))
    assert detect_format(bad) == "blow5"
    with pytest.raises(SourceError, match=r"bad\.blow5"):
        import_reads(bad, tmp_path / "out.sz")
    assert not (tmp_path / "out.sz").exists()
    assert logging.getLogger("pyslow5").filters == []


def test_import_same_read_twice_is_refused(source_data, tmp_path):
    with pytest.raises(DuplicateReadError, match="00031f3e-415c-4ab5-9c16-fb6fe45ff519"):
        import_reads(
            [
                source_data / "ont_fast5_api/batch0.fast5",
                source_data / "ont_fast5_api/single_reads",
            ],
            tmp_path / "out.sz",
        )
    assert not (tmp_path / "out.sz").exists()


def test_import_refuses_stores_and_bad_options(source_data, tmp_path):
    import_reads(source_data / "blue-crab/z1.pod5", tmp_path / "z1.sz")
    with pytest.raises(UsageError, match="already an SZ store"):
        import_reads(tmp_path / "z1.sz", tmp_path / "out.sz")
    with pytest.raises(UsageError, match="format must be one of"):
        import_reads(source_data / "blue-crab/z1.pod5", tmp_path / "out.sz", format="bam")
    with pytest.raises(UsageError, match="progress"):
        import_reads(source_data / "blue-crab/z1.pod5", tmp_path / "out.sz", progress="yes")
    with pytest.raises(SourceError, match="h5py cannot open"):
        import_reads(source_data / "blue-crab/z1.pod5", tmp_path / "out.sz", format="fast5")
    assert not (tmp_path / "out.sz").exists()


def test_import_progress_reports_every_read(source_data, tmp_path, capsys):
    seen = []
    import_reads(
        source_data / "pod5-file-format/multi_fast5_zip_v3.pod5",
        tmp_path / "a.sz",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(k, 10) for k in range(1, 11)]
    seen.clear()
    import_reads(
        source_data / f"{SQ}/r10_hg002_two_reads/reads.slow5",
        tmp_path / "b.sz",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(1, None), (2, None)]  # SLOW5 does not say how many reads it holds
    import_reads(source_data / "blue-crab/z1.pod5", tmp_path / "c.sz", progress=True)
    assert "3/3" in capsys.readouterr().err


@pytest.mark.parametrize("n_threads", [0, 1, 3])
def test_import_rows_keep_source_order_with_any_threads(source_data, n_threads, tmp_path):
    name = f"{SQ}/r10_f5c_eventalign/reads.blow5"
    import_reads(source_data / name, tmp_path / "out.sz", n_threads=n_threads)
    f = pyslow5.Open(str(source_data / name), "r")
    want = [rec["read_id"] for rec in f.seq_reads()]
    f.close()
    assert [r["ID"] for r in reads_of(tmp_path / "out.sz")] == want


def test_import_memory_stays_at_a_few_reads(source_data, tmp_path):
    """Twenty copies of z1.pod5's reads (93 MB of signal, 20 reads of 4.4 MB): the
    import holds a few reads at a time, not the file."""
    big = tmp_path / "big.pod5"
    with pod5.Reader(source_data / "blue-crab/z1.pod5") as reader, pod5.Writer(big) as writer:
        for copy in range(20):
            for rec in reader.reads():
                writer.add_read(
                    pod5.Read(
                        read_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{rec.read_id}/{copy}"),
                        pore=rec.pore,
                        calibration=rec.calibration,
                        read_number=rec.read_number,
                        start_sample=rec.start_sample,
                        median_before=rec.median_before,
                        end_reason=rec.end_reason,
                        run_info=rec.run_info,
                        signal=rec.signal,
                    )
                )
        largest = max(rec.signal.nbytes for rec in reader.reads())
    tracemalloc.start()
    try:
        summary = import_reads(big, tmp_path / "out.sz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert summary.n_samples * 2 > 90e6
    assert peak < 10 * largest, (peak, largest)


# --- pod5 export and the documented schema ---------------------------------------------


def test_import_export_pod5_round_trips(source_data, tmp_path):
    source = source_data / "blue-crab/z1.pod5"
    import_reads(source, tmp_path / "a.sz")
    assert export_pod5(tmp_path / "a.sz", tmp_path / "back.pod5") == 3
    with pod5.Reader(source) as want, pod5.Reader(tmp_path / "back.pod5") as got:
        ids = [str(i) for i in got.read_ids]
        for a, b in zip(want.reads(), got.reads(), strict=True):
            assert a.read_id == b.read_id
            np.testing.assert_array_equal(a.signal, b.signal)
            assert (a.calibration, a.pore, a.end_reason) == (b.calibration, b.pore, b.end_reason)
            assert (a.read_number, a.start_sample) == (b.read_number, b.start_sample)
            assert same(a.median_before, b.median_before)
            assert a.run_info == b.run_info
    import_reads(tmp_path / "back.pod5", tmp_path / "b.sz")
    assert content(tmp_path / "a.sz") == content(tmp_path / "b.sz")
    with pytest.raises(StoreExistsError):
        export_pod5(tmp_path / "a.sz", tmp_path / "back.pod5")
    assert (
        export_pod5(tmp_path / "a.sz", tmp_path / "back.pod5", read_ids=ids[:1], overwrite=True)
        == 1
    )
    with pod5.Reader(tmp_path / "back.pod5") as got:
        assert [str(i) for i in got.read_ids] == ids[:1]
    (tmp_path / "notes.pod5").write_text("mine")
    with pytest.raises(StoreExistsError, match="refusing to replace"):
        export_pod5(tmp_path / "a.sz", tmp_path / "notes.pod5", overwrite=True)
    assert (tmp_path / "notes.pod5").read_text() == "mine"

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_pod5(tmp_path / "a.sz", tmp_path / "cut.pod5", progress=interrupt)
    assert not (tmp_path / "cut.pod5").exists()
    assert leftovers(tmp_path) == []


def test_import_export_pod5_from_other_formats(source_data, tmp_path):
    import_reads(source_data / f"{SQ}/r9.4_450bps/reads.blow5", tmp_path / "a.sz")
    ids = [r["ID"] for r in reads_of(tmp_path / "a.sz")]
    assert export_pod5(tmp_path / "a.sz", tmp_path / "out.pod5", read_ids=ids[:5]) == 5
    import_reads(tmp_path / "out.pod5", tmp_path / "b.sz")
    pod5_defaults = {"num_minknow_events": 0.0}
    pod5_defaults |= {"num_reads_since_mux_change": 0.0, "time_since_mux_change": 0.0}
    for a, b in zip(reads_of(tmp_path / "a.sz")[:5], reads_of(tmp_path / "b.sz"), strict=True):
        # what BLOW5 lacks comes back as pod5's default; the rest as it was
        assert all(same(a[k], b[k]) for k in a if k not in {*pod5_defaults, "end_reason_forced"}), (
            a["ID"]
        )
        assert {k: b[k] for k in pod5_defaults} == pod5_defaults
        default = pod5.EndReason.from_reason_with_default_forced(
            pod5.EndReasonEnum[a["end_reason"].upper()]
        )
        assert b["end_reason_forced"] == default.forced
        assert a["end_reason_forced"] == -1 and math.isnan(a["num_minknow_events"])


def test_import_export_pod5_refuses_other_stores(tmp_path):
    with CompressedFile(tmp_path / "pysz.sz", mode="w") as sz:
        sz.put("read_0", 0, 1, np.arange(10, dtype=np.uint32), "ACGT", np.ones(2, np.uint16))
    with pytest.raises(SchemaError, match="only stores made by import_reads"):
        export_pod5(tmp_path / "pysz.sz", tmp_path / "out.pod5")
    assert not (tmp_path / "out.pod5").exists()


def test_import_schema_table_documents_every_field():
    doc = import_reads.__doc__
    for name, code, _ in READ_FIELDS + BASECALL_FIELDS:
        assert re.search(rf"``{name}``\s+{code}\s", doc), name
    assert import_schema(basecalls=True).columns[2:] == [
        f"{n}:{g}:{c}" for n, c, g in sorted(READ_FIELDS + BASECALL_FIELDS, key=lambda f: f[2])
    ]


def test_import_xsz_loads_no_format_package():
    code = (
        "import sys, xsz; xsz.import_reads; "
        "print(sorted(m for m in ('pod5', 'pyslow5', 'h5py', 'pysam', 'tqdm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_import_field_names_are_the_xarray_variable_names():
    names = [v.name for v in layout(import_schema(basecalls=True)).values()]
    fields = [n for n, _, _ in READ_FIELDS + BASECALL_FIELDS if n != "ID"]
    assert names == [
        "read",
        *(n for n in fields if n not in ("Raw", "Move", "Sequence", "Quality")),
        "Raw",
        "Raw_count",
        "Move",
        "Move_count",
        "Sequence",
        "Quality",
    ]
    assert all(n.isidentifier() for n in names)
