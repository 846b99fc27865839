"""The SZ container: the original's files read exactly, ours read by the original's rules."""

from __future__ import annotations

import gc
import json
import os
import pickle
import shutil
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

import numpy as np
import pytest
import zstandard

from tests import FIXTURE_NAMES, reference
from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from xsz.errors import (
    DuplicateReadError,
    ReadNotFoundError,
    RecordError,
    RowOutOfRangeError,
    SchemaError,
    StoreExistsError,
    SZFormatError,
    TruncatedStoreError,
)
from xsz.format import Schema, SZReader, SZWriter

if TYPE_CHECKING:
    from pathlib import Path

FIELD_DTYPES = {
    "S": str,
    "I16": np.int16,
    "I32": np.int32,
    "U16": np.uint16,
    "U32": np.uint32,
    "F16": np.float16,
    "F32": np.float32,
    "F64": np.float64,
    "F128": np.longdouble,
}


def load_expected(root: Path, name: str) -> tuple[dict, dict[str, int]]:
    """`root`/`name`.expected.npz (the values handed to the writer), and read ID -> position."""
    e = dict(np.load(root / f"{name}.expected.npz"))
    pos = {rid: p for p, rid in enumerate(e["ids"].tolist())}
    return e, pos


def expected_dataset(e: dict, name: str, code: str, p: int) -> object:
    o = e[f"ds__{name}__offsets"]
    if code == "S":
        return bytes(e[f"ds__{name}__utf8"][o[p] : o[p + 1]]).decode("utf-8")
    return e[f"ds__{name}__values"][o[p] : o[p + 1]]


def expected_attribute(e: dict, name: str, code: str, p: int) -> object:
    if code == "F128":
        raw = e[f"attrbytes__{name}"][16 * p : 16 * p + 16]
        return np.frombuffer(raw.tobytes(), np.longdouble)[0]
    return e[f"attr__{name}"][p]


def same(a: object, b: object) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))


def schema_of(e: dict) -> Schema:
    return Schema.build(
        [(n, FIELD_DTYPES[c]) for n, c in zip(e["attr_names"], e["attr_codes"], strict=True)],
        [(n, FIELD_DTYPES[c]) for n, c in zip(e["dataset_names"], e["dataset_codes"], strict=True)],
    )


# --- reading the original's stores ---------------------------------------------------


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_format_reads_fixture_exactly(sz_fixtures, name):
    e, pos = load_expected(sz_fixtures, name)
    with SZReader(sz_fixtures / name) as reader:
        assert len(reader) == int(e["n_reads"])
        assert reader.header == json.loads(str(e["header_json"]))
        assert reader.schema.columns == e["columns"].tolist()
        assert reader.ids.tolist() == e["index_order"].tolist()
        for row in range(len(reader)):
            read = reader.read(row)
            p = pos[read["ID"]]
            for f in reader.schema.fields:
                got = read[f.name]
                if f.group == "A":
                    want = expected_attribute(e, f.name, f.code, p)
                else:
                    want = expected_dataset(e, f.name, f.code, p)
                if not f.is_text:  # typed: the declared dtype, not text
                    assert np.asarray(got).dtype == f.dtype, (f.name, type(got))
                assert same(got, want), (read["ID"], f.name, got, want)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_format_batched_read_matches_single_reads(sz_fixtures, name):
    with SZReader(sz_fixtures / name) as reader:
        rows = np.random.default_rng(0).permutation(len(reader))
        batch = reader.read_many(rows, n_threads=2)
        for row, read in zip(rows, batch, strict=True):
            single = reader.read(int(row))
            assert all(same(read[k], single[k]) for k in single)


def test_format_empty_store_has_full_schema(sz_fixtures):
    with SZReader(sz_fixtures / "empty") as reader:
        assert len(reader) == 0
        assert [f.name for f in reader.schema.datasets] == ["Raw", "Fastq", "Move"]
        assert reader.dataset("Raw") == []
        assert reader.counts("Raw").tolist() == []


def test_format_float_counts_come_from_frame_headers(sz_fixtures):
    e, pos = load_expected(sz_fixtures, "alltypes")
    with SZReader(sz_fixtures / "alltypes") as reader:
        for name in ("d_f16", "d_f32", "d_f64", "d_f128"):
            o = e[f"ds__{name}__offsets"]
            want = [o[pos[i] + 1] - o[pos[i]] for i in reader.ids.tolist()]
            assert reader.counts(name).tolist() == want


# --- writing what the original reads ------------------------------------------------


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_format_rewrites_fixture_as_the_original_would(sz_fixtures, name, tmp_path):
    """Every frame we write decodes, by the reference rules, to the original's payload."""
    e, pos = load_expected(sz_fixtures, name)
    schema = schema_of(e)
    header = json.loads(str(e["header_json"]))
    with SZWriter(tmp_path / name, schema, header=header, n_threads=2, checksum=False) as writer:
        for rid in e["ids"].tolist():
            p = pos[rid]
            writer.put(
                *[expected_attribute(e, f.name, f.code, p) for f in schema.attributes],
                *[expected_dataset(e, f.name, f.code, p) for f in schema.datasets],
            )
    lines = (tmp_path / name / "index").read_text(encoding="utf-8").split("\n")
    assert lines[0] == "#" + str(e["header_json"])
    assert lines[1].split("\t") == e["columns"].tolist()
    got_header, _, reads = reference.read_store(tmp_path / name)
    assert got_header == header
    assert [r["ID"] for r in reads] == e["ids"].tolist()  # put order, whatever the threads
    offset = 0
    for read in reads:
        p = pos[read["ID"]]
        assert read["OFFSET"] == offset
        offset += read["LENGTH"]
        for f in schema.attributes:
            text = read[f.name]
            want_text = str(e[f"attrtext__{f.name}"][p])
            if f.is_text:
                assert text == want_text
            else:  # numpy 2 prints some floats differently; the value is what counts
                assert same(
                    np.array([text]).astype(f.dtype)[0], np.array([want_text]).astype(f.dtype)[0]
                )
        for f in schema.datasets:
            want = expected_dataset(e, f.name, f.code, p)
            assert same(read[f.name], want), (read["ID"], f.name)
            cell = read[f.name + ":cell"]
            size, _, count = cell.partition(":")
            assert count == (str(len(want)) if f.has_count else "")
            if f.code != "F128":  # F128 padding bytes are uninitialised in the original
                frame = reference.frame(f.code, want)
                assert int(size) == len(frame)
    assert offset == (tmp_path / name / "dat").stat().st_size


def test_format_writer_rows_keep_put_order_with_threads(store_path):
    reads = make_reads(60)
    schema = Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)
    with SZWriter(store_path, schema, n_threads=3) as writer:
        for k in range(0, 60, 7):
            writer.put_many(reads[k : k + 7])
    with SZReader(store_path) as reader:
        assert reader.ids.tolist() == [r[0] for r in reads]
        for row, read in enumerate(reads):
            got = reader.read(row)
            assert np.array_equal(got["Raw"], read[3])
            assert got["Fastq"] == read[4]
            assert np.array_equal(got["Move"], read[5])
            assert got["Offset"] == read[1] and got["Offset"].dtype == np.int32
            assert got["Raw_unit"] == np.float32(read[2])


def test_format_writer_copies_caller_buffers(store_path):
    """put returns before the frame is written; reusing the array must not change it."""
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])
    buffer = np.zeros(100_000, dtype=np.int16)
    with SZWriter(store_path, schema, n_threads=2) as writer:
        for i in range(20):
            buffer[:] = i
            writer.put(f"r{i}", buffer)
    with SZReader(store_path) as reader:
        assert [int(a[0]) for a in reader.dataset("Raw")] == list(range(20))


def test_format_writer_back_pressure_bounds_memory(store_path):
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])
    writer = SZWriter(store_path, schema, n_threads=1, max_pending_bytes=1 << 20)
    peak = 0
    for i in range(200):
        writer.put(f"r{i}", np.arange(100_000, dtype=np.int16))
        peak = max(peak, writer._pending_bytes)
    writer.close()
    assert peak <= (1 << 20) + 250_000  # the bound plus one record's payload
    with SZReader(store_path) as reader:
        assert len(reader) == 200


def test_format_store_appears_only_on_close(store_path):
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])
    writer = SZWriter(store_path, schema)
    writer.put("a", np.arange(10, dtype=np.int16))
    assert not store_path.exists()
    writer.close()
    assert sorted(p.name for p in store_path.iterdir()) == ["checksums", "dat", "index"]
    assert [p.name for p in store_path.parent.iterdir()] == [store_path.name]


def test_format_abort_leaves_existing_store_intact(store_path):
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])
    with SZWriter(store_path, schema) as writer:
        writer.put("old", np.arange(5, dtype=np.int16))
    with pytest.raises(RuntimeError), SZWriter(store_path, schema, overwrite=True) as writer:  # noqa: PT012
        writer.put("new", np.arange(5, dtype=np.int16))
        raise RuntimeError("interrupted")
    with SZReader(store_path) as reader:
        assert reader.ids.tolist() == ["old"]
    assert [p.name for p in store_path.parent.iterdir()] == [store_path.name]


def test_format_crash_mid_write_leaves_no_store(tmp_path):
    """A process killed before close leaves nothing that looks like a store."""
    path = tmp_path / "crash.sz"
    code = (
        "import os, numpy as np\n"
        "from xsz.format import Schema, SZWriter\n"
        f"w = SZWriter({str(path)!r}, Schema.build([('ID', str)], [('Raw', np.int16)]))\n"
        "for i in range(50): w.put(f'r{i}', np.arange(50_000, dtype=np.int16))\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert not path.exists()
    leftovers = list(tmp_path.iterdir())
    assert all(p.name.startswith(".crash.sz.partial-") for p in leftovers)


def test_format_overwrite_refuses_foreign_directories(tmp_path):
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("years of work")
    with pytest.raises(StoreExistsError, match="not an SZ store"):
        SZWriter(precious, schema, overwrite=True)
    with pytest.raises(StoreExistsError, match="overwrite=True"):
        SZWriter(precious, schema)
    assert (precious / "chapter1.tex").read_text() == "years of work"


# --- random access ------------------------------------------------------------------


@pytest.fixture
def written(store_path):
    reads = make_reads(40)
    with SZWriter(store_path, Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)) as writer:
        writer.put_many(reads)
    return store_path, reads


def test_format_access_by_id_and_row(written):
    path, _ = written
    with SZReader(path) as reader:
        assert reader.row("read_00017") == 17
        assert reader.rows(["read_00003", "read_00001"]).tolist() == [3, 1]
        assert reader.read(-1)["ID"] == "read_00039"
        with pytest.raises(ReadNotFoundError, match="nope"):
            reader.row("nope")
        with pytest.raises(KeyError):  # also a KeyError, for code that expects one
            reader.rows(["read_00001", "nope"])
        with pytest.raises(RowOutOfRangeError):
            reader.read(40)
        with pytest.raises(IndexError):
            reader.read_many([0, -41])


def test_format_batched_reads_coalesce_and_keep_order(written, monkeypatch):
    path, reads = written
    with SZReader(path) as reader:
        calls = []
        original = reader._pread
        monkeypatch.setattr(reader, "_pread", lambda n, o: calls.append((n, o)) or original(n, o))
        rows = [5, 3, 4, 39, 0, 3]
        monkeypatch.setattr(reader.source, "gap", 1 << 16)
        got = reader.dataset("Raw", rows)
        assert all(np.array_equal(g, reads[r][3]) for g, r in zip(got, rows, strict=True))
        # rows 0, 3, 4, 5 (repeats included) in one pread; row 39 lies beyond the gap
        assert len(calls) == 2
        assert calls[0][1] == 0 and calls[1][1] == reader.index.offset[39]
        calls.clear()
        monkeypatch.setattr(reader.source, "gap", 0)  # nothing read through
        got = reader.dataset("Raw", rows)
        assert all(np.array_equal(g, reads[r][3]) for g, r in zip(got, rows, strict=True))
        assert len(calls) == 5  # one a distinct row: other datasets' frames lie between
        assert sum(n for n, _ in calls) == sum(
            int(reader.index.frame_size["Raw"][r]) for r in set(rows)
        )
        calls.clear()
        monkeypatch.setattr(reader.source, "gap", 1 << 16)
        moves = reader.dataset("Move", [1, 2])
        assert all(np.array_equal(m, reads[r][5]) for m, r in zip(moves, [1, 2], strict=True))
        assert len(calls) == 1  # neighbouring reads: one pread


def test_format_reader_is_thread_safe(written):
    path, reads = written
    errors = []
    with SZReader(path) as reader:

        def work(seed: int) -> None:
            rng = np.random.default_rng(seed)
            for _ in range(50):
                row = int(rng.integers(40))
                if not np.array_equal(reader.read(row)["Raw"], reads[row][3]):
                    errors.append(row)

        threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_format_reader_pickles(written):
    import pickle

    path, reads = written
    with SZReader(path) as reader:
        clone = pickle.loads(pickle.dumps(reader))
    assert np.array_equal(clone.read(7)["Raw"], reads[7][3])
    clone.close()
    clone.close()  # idempotent


# --- bad input: refused, named, and nothing accepted is lost ------------------------


BAD_RECORDS = [
    (("r_bad", 0, 0.5, np.zeros(3, np.int16), "ACGT"), None, "expected 6 fields"),
    (
        ("r_bad", 0, 0.5, np.zeros(3, np.int16), "A", np.zeros(2, np.uint16), 7),
        None,
        "expected 6 fields",
    ),
    (
        ("r_bad", 0, 0.5, np.zeros(3, np.int16), "A", np.array([-1])),
        "Move",
        "-1 .* does not fit uint16",
    ),
    (
        ("r_bad", 0, 0.5, np.array([70000]), "A", np.zeros(1, np.uint16)),
        "Raw",
        "70000 .* does not fit int16",
    ),
    (
        ("r_bad", 0, 0.5, np.array([1.0, np.nan]), "A", np.zeros(1, np.uint16)),
        "Raw",
        "nan .* not an integer",
    ),
    (
        ("r_bad", 2**31, 0.5, np.zeros(1, np.int16), "A", np.zeros(1, np.uint16)),
        "Offset",
        "does not fit int32",
    ),
    (
        ("r_bad", float("nan"), 0.5, np.zeros(1, np.int16), "A", np.zeros(1, np.uint16)),
        "Offset",
        "not an integer",
    ),
    (("r_bad", 0, 0.5, np.zeros((2, 2), np.int16), "A", np.zeros(1, np.uint16)), "Raw", "1-D"),
    (("r_bad", 0, 0.5, np.int16(3), "A", np.zeros(1, np.uint16)), "Raw", "1-D"),
    (
        ("r_bad", 0, 0.5, np.zeros(1, np.int16), b"ACGT", np.zeros(1, np.uint16)),
        "Fastq",
        "expected str, got bytes",
    ),
    (
        (b"r_bad", 0, 0.5, np.zeros(1, np.int16), "A", np.zeros(1, np.uint16)),
        "ID",
        "expected str, got bytes",
    ),
    (
        ("r\tbad", 0, 0.5, np.zeros(1, np.int16), "A", np.zeros(1, np.uint16)),
        "ID",
        "contains '\\\\t'",
    ),
    (
        ("r_bad\n", 0, 0.5, np.zeros(1, np.int16), "A", np.zeros(1, np.uint16)),
        "ID",
        "contains '\\\\n'",
    ),
    (
        ("r\rbad", 0, 0.5, np.zeros(1, np.int16), "A", np.zeros(1, np.uint16)),
        "ID",
        "contains '\\\\r'",
    ),
    (
        ("r_bad", 0, 1e39, np.zeros(1, np.int16), "A", np.zeros(1, np.uint16)),
        "Raw_unit",
        "overflows float32",
    ),
    (
        ("r_bad", 0, "0.5", np.zeros(1, np.int16), "A", np.zeros(1, np.uint16)),
        "Raw_unit",
        "expected a number",
    ),
]


@pytest.mark.parametrize(("record", "field", "message"), BAD_RECORDS)
def test_format_bad_record_is_refused_and_nothing_is_lost(store_path, record, field, message):
    good = make_reads(3)
    with SZWriter(store_path, Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)) as writer:
        writer.put_many(good[:2])
        with pytest.raises(RecordError, match=message) as info:
            writer.put(*record)
        assert info.value.field == field
        if field is not None:
            assert repr(info.value.field) in str(info.value)
        assert (
            "r_bad" in str(info.value)
            or "r\\tbad" in str(info.value)
            or "r\\rbad" in str(info.value)
        )
        with pytest.raises(RecordError):  # a chunk with one bad record is refused whole
            writer.put_many([good[2], record])
        writer.put(*good[2])
    with SZReader(store_path) as reader:
        assert reader.ids.tolist() == [r[0] for r in good]
        assert np.array_equal(reader.read(2)["Raw"], good[2][3])


def test_format_duplicate_id_is_refused(store_path):
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])
    with SZWriter(store_path, schema) as writer:
        writer.put("a", np.zeros(2, np.int16))
        with pytest.raises(DuplicateReadError, match="'a' was already put"):
            writer.put("a", np.ones(2, np.int16))
        with pytest.raises(DuplicateReadError):
            writer.put_many([("b", np.zeros(1, np.int16)), ("b", np.zeros(1, np.int16))])
        writer.put("b", np.ones(2, np.int16))
    with SZReader(store_path) as reader:
        assert reader.ids.tolist() == ["a", "b"]
        assert reader.read(0)["Raw"].tolist() == [0, 0]


def test_format_put_frames_refuses_frames_that_cannot_be_the_dataset(store_path):
    """Finished frames are not decoded, but their headers must fit the dataset and count."""
    from xsz import codec

    schema = Schema.build([("ID", str)], [("Raw", np.int16), ("Fastq", str), ("Scale", np.float32)])
    raw = codec.encode_array(np.arange(10, dtype=np.int16))
    fastq, scale = codec.encode_text("ACGT"), codec.encode_array(np.ones(3, np.float32))
    reserved_bit = raw[:4] + bytes([raw[4] | 0x08]) + raw[5:]
    with SZWriter(store_path, schema) as writer:
        for frames, counts, field, message in [
            ((b"XXXX" + raw[4:], fastq, scale), (10, None, 3), "Raw", "not a zstd frame"),
            ((reserved_bit, fastq, scale), (10, None, 3), "Raw", "bad zstd frame header"),
            ((raw, fastq, scale), (None, None, 3), "Raw", "needs its element count"),
            ((raw, fastq, scale), (1000, None, 3), "Raw", "cannot hold 1000 streamvbyte values"),
            ((raw, fastq, scale), (10, None, 4), "Scale", "does not hold 4 float32 values"),
        ]:
            with pytest.raises(RecordError, match=message) as info:
                writer.put_frames(["r_bad"], frames, counts)
            assert (info.value.read_id, info.value.field) == ("r_bad", field)
            assert f"read 'r_bad', dataset {field!r}" in str(info.value)
        writer.put_frames(["r_ok"], [raw, fastq, scale], [10, None, 3])
    with SZReader(store_path) as reader:
        assert reader.ids.tolist() == ["r_ok"]
        assert reader.read(0)["Raw"].tolist() == list(range(10))


@pytest.mark.parametrize(
    ("attributes", "datasets", "message"),
    [
        ([("ID", str)], [("Raw", np.int64)], "cannot store data type int64"),
        ([("ID", str)], [("Raw", "I8")], "unknown SZ data type|cannot store"),
        ([("ID", object)], [], "cannot store"),
        ([("ID", str), ("ID", str)], [], "appears twice"),
        ([("a:b", str)], [], "contains ':'"),
        ([("LENGTH", np.int32)], [], "reserved"),
    ],
)
def test_format_bad_schema_is_refused(attributes, datasets, message):
    with pytest.raises(SchemaError, match=message):
        Schema.build(attributes, datasets)


def test_format_missing_store_is_named(tmp_path):
    with pytest.raises(SZFormatError, match="does not exist"):
        SZReader(tmp_path / "nowhere")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "index").write_text("#{}\nLENGTH\tOFFSET\n")
    with pytest.raises(SZFormatError, match="no 'dat' file"):
        SZReader(tmp_path / "half")


def test_format_truncated_dat_names_the_read(written, tmp_path):
    path, _ = written
    copy = tmp_path / "copy.sz"
    shutil.copytree(path, copy)
    size = (copy / "dat").stat().st_size
    os.truncate(copy / "dat", size - 10)
    with pytest.raises(
        TruncatedStoreError, match=r"truncated: read 'read_00039' \(row 39\)"
    ) as err:
        SZReader(copy)
    assert err.value.row == 39 and isinstance(err.value, SZFormatError)
    copied = pickle.loads(pickle.dumps(err.value))  # crosses process boundaries whole
    assert copied.row == 39 and str(copied) == str(err.value)


def test_format_failed_open_closes_its_file_once(written, tmp_path):
    """A reader that failed to open keeps no claim on its file descriptor: when the
    exception (and with it the half-made reader) is collected later, a file opened
    meanwhile under the same descriptor number stays open."""
    path, _ = written
    copy = tmp_path / "copy.sz"
    shutil.copytree(path, copy)
    os.truncate(copy / "dat", 10)
    try:
        SZReader(copy)
    except TruncatedStoreError as exc:
        kept = exc  # its traceback holds the half-made reader
    with open(tmp_path / "other", "wb") as other:
        del kept
        gc.collect()
        other.write(b"still open")
        other.flush()
        os.fstat(other.fileno())
    assert (tmp_path / "other").read_bytes() == b"still open"


def copy_without_checksums(path, copy):
    """A copy of a store as pysz would have written it (no checksums file), and whether
    the checksummed original refuses the same edit (see `refuses_edit`)."""
    shutil.copytree(path, copy)
    (copy / "checksums").unlink()
    return copy


def refuses_edit(copy, original):
    """The checksummed original, given `copy`'s edited index, refuses it by its CRC-32."""
    checked = copy.with_name(copy.name + ".checked")
    shutil.copytree(original, checked)
    shutil.copy(copy / "index", checked / "index")
    with pytest.raises(SZFormatError, match="index"):
        SZReader(checked)


def test_format_truncated_index_is_refused(written, tmp_path):
    path, _ = written
    copy = copy_without_checksums(path, tmp_path / "copy.sz")
    text = (copy / "index").read_bytes()
    (copy / "index").write_bytes(text[: len(text) - 25])  # cut inside the last line
    with pytest.raises(SZFormatError, match="line 42"):
        SZReader(copy)
    refuses_edit(copy, path)


def test_format_index_line_with_wrong_cell_count(written, tmp_path):
    path, _ = written
    copy = copy_without_checksums(path, tmp_path / "copy.sz")
    lines = (copy / "index").read_text().split("\n")
    lines[7] = lines[7] + "\textra"
    (copy / "index").write_text("\n".join(lines))
    with pytest.raises(SZFormatError, match="line 8 has 9 cells, expected 8"):
        SZReader(copy)
    refuses_edit(copy, path)


def test_format_bad_cells_are_named(written, tmp_path):
    path, _ = written
    for column, bad, message in [
        (3, "x12", "Offset"),
        (5, "12", "SIZE:COUNT"),
        (0, "-5", "LENGTH"),
    ]:
        copy = copy_without_checksums(path, tmp_path / f"copy{column}.sz")
        lines = (copy / "index").read_text().split("\n")
        cells = lines[4].split("\t")
        cells[column] = bad
        lines[4] = "\t".join(cells)
        (copy / "index").write_text("\n".join(lines))
        with pytest.raises(SZFormatError, match=message):
            SZReader(copy)
        refuses_edit(copy, path)


def test_format_corrupt_frame_names_read_and_dataset(written, tmp_path):
    path, _ = written
    copy = tmp_path / "copy.sz"
    shutil.copytree(path, copy)
    with SZReader(copy) as reader:
        start = int(reader.index.frame_offset["Move"][5])
    data = bytearray((copy / "dat").read_bytes())
    data[start : start + 4] = b"XXXX"  # the frame's magic number
    (copy / "dat").write_bytes(bytes(data))
    with (
        SZReader(copy) as reader,
        pytest.raises(SZFormatError, match=r"read 'read_00005' .*'Move'"),
    ):
        reader.read(5)


def test_format_index_is_parsed_in_bulk(written):
    """Attributes come back as typed arrays for all reads at once."""
    path, reads = written
    with SZReader(path) as reader:
        offsets = reader.index.attribute("Offset")
        assert offsets.dtype == np.int32
        assert offsets.tolist() == [r[1] for r in reads]
        assert reader.counts("Raw").tolist() == [len(r[3]) for r in reads]
        assert zstandard.frame_content_size(reader.frames([0], ["Raw"])[0][0]) > 0


def test_format_coalesce_splits_long_runs(monkeypatch):
    from xsz.format import _coalesce

    monkeypatch.setattr(_coalesce, "MAX_SPAN", 1000)
    starts = np.arange(0, 5000, 400, dtype=np.int64)  # 13 ranges 10 bytes apart
    ends = starts + 390
    reads = list(_coalesce.coalesce(starts[::-1].copy(), ends[::-1].copy()))
    assert all(hi - lo <= 1000 for lo, hi, _ in reads)
    covered = sorted(k for _, _, members in reads for k in members)
    assert covered == list(range(13))
    one_big = list(_coalesce.coalesce(np.array([0, 10]), np.array([5000, 20])))
    assert one_big == [(0, 5000, [0, 1])]  # a single range may exceed the span


@pytest.mark.parametrize("damage", ["magic", "payload", "claims"])
def test_format_batched_decode_names_the_corrupt_read(written, tmp_path, damage):
    """dataset()/read_into decode whole blocks at once; a bad frame is still named."""
    path, reads = written
    copy = tmp_path / "copy.sz"
    shutil.copytree(path, copy)
    with SZReader(copy) as reader:
        start = int(reader.index.frame_offset["Raw"][23])
        size = int(reader.index.frame_size["Raw"][23])
    data = bytearray((copy / "dat").read_bytes())
    if damage == "magic":
        data[start : start + 4] = b"XXXX"
    elif damage == "payload":  # keep the header, wreck the compressed blocks
        data[start + 12 : start + size] = bytes(size - 12)
    else:  # the header claims far more bytes than 4,000 values can take
        data[start + 4] = 0xA0  # single segment, 4-byte content size
        data[start + 5 : start + 9] = (1 << 30).to_bytes(4, "little")
    (copy / "dat").write_bytes(bytes(data))
    with SZReader(copy) as reader:
        assert np.array_equal(reader.dataset("Raw", [22])[0], reads[22][3])
        for n_threads in (1, 2):
            with pytest.raises(SZFormatError, match=r"read 'read_00023' \(row 23\), dataset 'Raw'"):
                reader.dataset("Raw", n_threads=n_threads)


@pytest.mark.parametrize("part_bytes", [1, 5_000, 40_000, 1 << 23])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_format_reads_in_parts_of_bounded_bytes_are_the_reads(
    written, monkeypatch, part_bytes, n_threads
):
    """Large selections are fetched and decoded `PART_BYTES` at a time (one read a
    part at the smallest): every read comes out whole and in place, in any order,
    repeated or not, through `read_into`, `dataset` and `read_many`; and a damaged
    frame is still named whichever part it falls in."""
    import xsz.format._reader as reader_module

    monkeypatch.setattr(reader_module, "PART_BYTES", part_bytes)
    path, reads = written
    rng = np.random.default_rng(part_bytes + n_threads)
    by_id = {r[0]: r for r in reads}
    with SZReader(path) as reader:
        for rows in (np.arange(40), rng.permutation(40), rng.integers(0, 40, 90), np.array([7])):
            raw = reader.dataset("Raw", rows, n_threads=n_threads)
            move = reader.dataset("Move", rows, n_threads=n_threads)
            fastq = reader.dataset("Fastq", rows, n_threads=n_threads)
            many = reader.read_many(rows, n_threads=n_threads)
            for k, row in enumerate(rows.tolist()):
                want = reads[row]
                assert np.array_equal(raw[k], want[3]) and np.array_equal(move[k], want[5])
                assert fastq[k] == want[4]
                got = many[k]
                assert got["ID"] == want[0] and np.array_equal(got["Raw"], by_id[got["ID"]][3])
                assert got["Fastq"] == want[4] and np.array_equal(got["Move"], want[5])
            gaps = np.arange(len(rows), dtype=np.int64) * 9_000  # out of order, spaced out
            out = np.full(len(rows) * 9_000, -1, np.int16)
            reader.read_into("Raw", rows[::-1].copy(), out, gaps, n_threads=n_threads)
            for k, row in enumerate(rows[::-1].tolist()):
                n = len(reads[row][3])
                assert np.array_equal(out[gaps[k] : gaps[k] + n], reads[row][3])
                assert (out[gaps[k] + n : gaps[k] + 9_000] == -1).all()


@pytest.mark.parametrize("n_threads", [1, 2])
def test_format_a_damaged_frame_is_named_in_any_part(written, tmp_path, monkeypatch, n_threads):
    import xsz.format._reader as reader_module

    monkeypatch.setattr(reader_module, "PART_BYTES", 20_000)
    path, _ = written
    copy = tmp_path / "copy.sz"
    shutil.copytree(path, copy)
    for row in (0, 17, 39):
        shutil.copy(path / "dat", copy / "dat")
        with SZReader(copy) as reader:
            start = int(reader.index.frame_offset["Raw"][row])
            size = int(reader.index.frame_size["Raw"][row])
        with open(copy / "dat", "r+b") as fh:
            fh.seek(start + 12)
            fh.write(bytes(size - 12))
        with SZReader(copy) as reader:
            named = rf"read 'read_{row:05d}' \(row {row}\), dataset 'Raw'"
            with pytest.raises(SZFormatError, match=named):
                reader.dataset("Raw", n_threads=n_threads)
            with pytest.raises(SZFormatError, match=named):
                reader.read_many(np.arange(40), n_threads=n_threads)
