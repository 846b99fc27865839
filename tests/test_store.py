"""SZStore: SZ stores read exactly through zarr and xarray, written through zarr, a good zarr citizen."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import random
import shutil
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import xarray as xr
import zarr
import zarr.core.sync
from zarr.core.buffer import cpu, default_buffer_prototype
from zarr.testing.store import StoreTests

from tests import FIXTURE_NAMES, FIXTURES, reference, requires_shared
from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from tests.test_format import expected_attribute, expected_dataset, load_expected, same
from xsz import SZStore
from xsz.codec import CODEC_ID, SvbZstdCodec, encode_array
from xsz.codec._zdtype import FLOAT80_NAME
from xsz.errors import (
    CodecError,
    RecordError,
    SchemaError,
    StoreExistsError,
    SZFormatError,
    UsageError,
    XszError,
)
from xsz.format import Schema, SZReader, SZWriter
from xsz.store import ENCODING_ATTR, READ_CHUNK

# --- reading: every fixture exactly -------------------------------------------------


def frames_in_dat(path) -> list[dict[str, tuple[int, int, int | None]]]:
    """Per index row: dataset -> (start, size, count), parsed here without xsz."""
    lines = (path / "index").read_text(encoding="utf-8").split("\n")
    columns = lines[1].split("\t")
    rows = []
    for line in lines[2:]:
        if not line:
            continue
        cells = line.split("\t")
        pos, row = int(cells[1]), {}
        for column, cell in zip(columns[2:], cells[2:], strict=True):
            name, group, _ = column.split(":")
            if group == "D":
                size, _, count = cell.partition(":")
                row[name] = (pos, int(size), int(count) if count else None)
                pos += int(size)
        rows.append(row)
    return rows


def check_against_expected(name: str, values, text) -> None:
    """`values(var)` gives a variable as numpy, `text(var)` a text variable as str."""
    e, pos = load_expected(name)
    ids = [str(i) for i in values("read")]
    assert ids == e["index_order"].tolist()
    p = [pos[i] for i in ids]
    for a, code in zip(e["attr_names"].tolist(), e["attr_codes"].tolist(), strict=True):
        if a == "ID":
            continue
        got = text(a) if code == "S" else values(a)
        want = [expected_attribute(e, a, code, k) for k in p]
        if code != "S":
            assert got.dtype == np.dtype(reference.FLOATS.get(code, got.dtype)), a
        assert all(same(g, w) for g, w in zip(got, want, strict=True)), a
    for d, code in zip(e["dataset_names"].tolist(), e["dataset_codes"].tolist(), strict=True):
        if code == "S":
            got = text(d)
            assert [g for g in got] == [expected_dataset(e, d, code, k) for k in p], d
            continue
        counts = values(f"{d}_count")
        flat = values(d)
        assert len(flat) == counts.sum()
        for k, part in zip(p, np.split(flat, np.cumsum(counts)[:-1]), strict=False):
            assert same(part, expected_dataset(e, d, code, k)), (d, k)


@requires_shared
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_store_fixture_reads_exactly_with_zarr(name):
    e, _ = load_expected(name)
    with SZStore(FIXTURES / name) as store:
        group = zarr.open_group(store, mode="r")
        header = json.loads(str(e["header_json"]))
        assert dict(group.attrs) == {**header, "sz_columns": e["columns"].tolist()}

        def text(var):
            return [b.decode("utf-8") if isinstance(b, bytes) else b for b in group[var][:]]

        check_against_expected(name, lambda var: group[var][:], text)


@requires_shared
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_store_fixture_reads_exactly_with_xarray(name):
    with SZStore(FIXTURES / name) as store:
        ds = xr.open_zarr(store)
        assert ds.indexes["read"].size == ds.sizes["read"]
        check_against_expected(name, lambda var: ds[var].values, lambda var: list(ds[var].values))


@requires_shared
@pytest.mark.parametrize("name", ["basic", "alltypes"])
def test_store_chunk_is_the_frame_in_dat(name):
    """`get` of a chunk key returns exactly that read's frame, bytes from dat untouched."""
    path = FIXTURES / name
    dat = (path / "dat").read_bytes()
    rows = frames_in_dat(path)
    with SZStore(path) as store:
        for dataset in rows[0]:
            j = 0
            for k, row in enumerate(rows):
                start, size, count = row[dataset]
                if count == 0 or (count is None and not _is_text(path, dataset) and size == 9):
                    continue  # no samples: no chunk (9 bytes is the empty frame)
                key = f"{dataset}/c/{k if _is_text(path, dataset) else j}"
                assert store.get_sync(key).to_bytes() == dat[start : start + size], key
                j += 1
            got = asyncio.run(store.get(f"{dataset}/c/0", default_buffer_prototype()))
            assert got is not None


def _is_text(path, dataset) -> bool:
    columns = (path / "index").read_text(encoding="utf-8").split("\n")[1].split("\t")
    return f"{dataset}:D:S" in columns


@requires_shared
def test_store_metadata_describes_the_sz_layout():
    with SZStore(FIXTURES / "alltypes") as store:
        group = zarr.open_group(store, mode="r")
        reader = SZReader(FIXTURES / "alltypes")
        counts = reader.counts("d_i16")
        raw = group["d_i16"]
        assert raw.metadata.dimension_names == ("d_i16_sample",)
        assert raw.read_chunk_sizes == (tuple(counts[counts > 0].tolist()),)
        assert [c.to_dict()["name"] for c in raw.metadata.codecs] == [CODEC_ID]
        assert dict(raw.attrs) == {"sz_field": "d_i16", "sz_group": "D", "sz_code": "I16"}
        assert dict(group["d_i16_count"].attrs) == {"sample_dimension": "d_i16_sample"}
        assert group["d_i16_count"][:].tolist() == counts.tolist()
        text = group["d_str"]
        assert text.metadata.dimension_names == ("read",)
        assert text.metadata.chunks == (1,)
        assert text.attrs[ENCODING_ATTR] == "utf-8"
        assert group["read"].metadata.dimension_names == ("read",)
        assert group["read"].attrs["sz_field"] == "ID"
        assert group["read"].metadata.chunks == (min(READ_CHUNK, len(reader)),)
        assert group["a_f128"].metadata.data_type.to_json(zarr_format=3) == FLOAT80_NAME
        assert group["d_f128"].dtype == np.longdouble
        reader.close()


def test_store_reads_what_xsz_writes_with_empty_reads(store_path):
    reads = make_reads(30)
    for k in (0, 7, 8, 29):  # reads without samples have no chunk
        reads[k] = (*reads[k][:3], reads[k][3][:0], reads[k][4], reads[k][5])
    with SZWriter(store_path, Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)) as writer:
        writer.put_many(reads)
    with SZStore(store_path) as store:
        group = zarr.open_group(store, mode="r")
        assert group["read"][:].tolist() == [r[0] for r in reads]
        assert group["Offset"][:].tolist() == [r[1] for r in reads]
        assert group["Raw_unit"][:].tolist() == [np.float32(r[2]) for r in reads]
        assert group["Fastq"][:].tolist() == [r[4].encode() for r in reads]
        raw, counts = group["Raw"], group["Raw_count"][:]
        assert counts.tolist() == [len(r[3]) for r in reads]
        assert raw.read_chunk_sizes == (tuple(len(r[3]) for r in reads if len(r[3])),)
        assert np.array_equal(raw[:], np.concatenate([r[3] for r in reads]))
        # rows 1..6 are chunks 0..5, rows 7 and 8 have no samples, so row 9 is chunk 6
        assert np.array_equal(raw.blocks[6], reads[9][3])
        assert store.get_sync(f"Raw/c/{26}") is None  # 26 reads have samples: chunks 0..25
        assert store.get_sync("Raw/c/25") is not None


def test_store_all_empty_dataset_is_an_empty_array(store_path):
    schema = Schema.build([("ID", str)], [("Raw", np.int16), ("Move", np.uint16)])
    with SZWriter(store_path, schema) as writer:
        for k in range(3):
            writer.put(f"r{k}", np.zeros(0, np.int16), np.arange(k + 1, dtype=np.uint16))
    with SZStore(store_path) as store:
        ds = xr.open_zarr(store)
        assert ds.sizes["Raw_sample"] == 0
        assert ds.Raw_count.values.tolist() == [0, 0, 0]
        assert ds.Move.values.tolist() == [0, 0, 1, 0, 1, 2]
        assert not [k for k in asyncio.run(_keys(store)) if k.startswith("Raw/c/")]


async def _keys(store):
    return [k async for k in store.list()]


@pytest.mark.slow
def test_store_a_million_reads(tmp_path):
    """Index-made arrays are chunked regularly; opening and reading them stays quick."""
    n = 1_000_000
    frame = encode_array(np.array([5, 6, 7], dtype=np.int16))
    path = tmp_path / "million.sz"
    path.mkdir()
    (path / "dat").write_bytes(frame * n)
    rows = np.arange(n)
    lines = np.char.add(np.char.add(f"{len(frame)}\t", (rows * len(frame)).astype(str)), "\t")
    lines = np.char.add(np.char.add(lines, np.char.add("r", rows.astype(str))), f"\t{len(frame)}:3")
    (path / "index").write_text(
        '#{"version": "0.4.0"}\nLENGTH\tOFFSET\tID:A:S\tRaw:D:I16\n' + "\n".join(lines) + "\n"
    )
    with SZStore(path) as store:
        group = zarr.open_group(store, mode="r")
        assert group["read"].metadata.chunks == (READ_CHUNK,)
        ids = group["read"][:]
        assert ids[0] == "r0" and ids[-1] == f"r{n - 1}"
        assert group["Raw_count"][:].sum() == 3 * n
        raw = group["Raw"]
        assert raw.shape == (3 * n,)
        assert raw[3 * (n - 2) : 3 * n].tolist() == [5, 6, 7, 5, 6, 7]


# --- writing -------------------------------------------------------------------------


def copy_keys(src: SZStore, dst: SZStore, *, threads: int = 4, seed: int = 0) -> None:
    """Every key of `src` into `dst`, metadata first, chunks shuffled over `threads` threads."""
    keys = asyncio.run(_keys(src))
    meta = [k for k in keys if k.endswith("zarr.json")]
    chunks = [k for k in keys if not k.endswith("zarr.json")]
    random.Random(seed).shuffle(chunks)
    for key in meta:
        dst.set_sync(key, src.get_sync(key))
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda k: dst.set_sync(k, src.get_sync(k)), chunks))


def assert_same_reads(path_a, path_b) -> None:
    with SZReader(path_a) as a, SZReader(path_b) as b:
        assert a.schema == b.schema and a.header == b.header and len(a) == len(b)
        for row in range(len(a)):
            ra, rb = a.read(row), b.read(row)
            assert all(same(ra[k], rb[k]) for k in ra), row


def assert_reference_decodes(path, name) -> None:
    """The written store, read frame by frame by the fixtures' rules, holds the expected values."""
    e, pos = load_expected(name)
    header, columns, reads = reference.read_store(path)
    assert columns == e["columns"].tolist()
    assert [r["ID"] for r in reads] == e["index_order"].tolist()
    for read in reads:
        p = pos[read["ID"]]
        for d, code in zip(e["dataset_names"].tolist(), e["dataset_codes"].tolist(), strict=True):
            assert same(read[d], expected_dataset(e, d, code, p)), (read["ID"], d)
        for a in e["attr_names"].tolist():
            assert read[a] == e[f"attrtext__{a}"][p] or a.endswith(("f16", "f32", "f128")), a


@requires_shared
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_store_write_byte_copy_round_trip(name, tmp_path):
    """Keys copied as bytes, concurrently and in any order, make the same SZ store."""
    out = tmp_path / f"{name}.sz"
    with SZStore(FIXTURES / name) as src:
        dst = SZStore(out, read_only=False)
        copy_keys(src, dst)
        assert not out.exists()  # nothing at the path before close
        dst.close()
    assert_same_reads(FIXTURES / name, out)
    assert_reference_decodes(out, name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.sz"]  # no spool left


@requires_shared
def test_store_write_copies_frames_without_reencoding(tmp_path):
    out = tmp_path / "copy.sz"
    with SZStore(FIXTURES / "basic") as src, SZStore(out, read_only=False) as dst:
        copy_keys(src, dst)
    old, new = frames_in_dat(FIXTURES / "basic"), frames_in_dat(out)
    old_dat, new_dat = (FIXTURES / "basic" / "dat").read_bytes(), (out / "dat").read_bytes()
    for a, b in zip(old, new, strict=True):
        for d in a:
            (sa, na, _), (sb, nb, _) = a[d], b[d]
            assert old_dat[sa : sa + na] == new_dat[sb : sb + nb]


def write_with_zarr(path, reads, *, threads: int = 4) -> None:
    """Build the SZ-shaped hierarchy by hand and write every read concurrently."""
    counts = np.array([len(r[3]) for r in reads])
    moves = np.array([len(r[5]) for r in reads])
    with SZStore(path, read_only=False) as store:
        g = zarr.open_group(store, mode="w", attributes={"run": "test"})
        n = len(reads)
        ids = g.create_array("read", shape=(n,), dtype=str, chunks=(7,), dimension_names=["read"])
        offset = g.create_array("Offset", shape=(n,), dtype="int32", chunks=(7,), dimension_names=["read"])
        raw = g.create_array(
            "Raw", shape=(int(counts.sum()),), dtype="int16", chunks=[counts[counts > 0].tolist()],
            serializer=SvbZstdCodec(), compressors=None, dimension_names=["Raw_sample"],
        )
        g.create_array(
            "Raw_count", data=counts, chunks=(n,), dimension_names=["read"],
            attributes={"sample_dimension": "Raw_sample"},
        )
        fastq = g.create_array(
            "Fastq", shape=(n,), dtype="variable_length_bytes", chunks=(1,),
            serializer=SvbZstdCodec(), compressors=None, dimension_names=["read"],
            attributes={"sz_group": "D"},
        )
        move = g.create_array(
            "Move", shape=(int(moves.sum()),), dtype="uint16", chunks=(64,),
            dimension_names=["Move_sample"],
        )
        g.create_array(
            "Move_count", data=moves, chunks=(n,), dimension_names=["read"],
            attributes={"sample_dimension": "Move_sample"},
        )
        ids[:] = np.array([r[0] for r in reads], dtype=object)
        offset[:] = [r[1] for r in reads]
        move[:] = np.concatenate([r[5] for r in reads])
        starts = np.concatenate([[0], np.cumsum(counts)])

        def put(k):
            raw[int(starts[k]) : int(starts[k + 1])] = reads[k][3]
            fastq[k] = reads[k][4].encode()

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, random.Random(1).sample(range(n), n)))


@pytest.mark.filterwarnings("ignore::zarr.errors.UnstableSpecificationWarning")
def test_store_write_with_zarr_concurrently(store_path):
    reads = make_reads(25)
    reads[3] = (*reads[3][:3], np.zeros(0, np.int16), "", reads[3][5])  # nothing at all
    reads[4] = (*reads[4][:3], np.zeros(50, np.int16), *reads[4][4:])  # all fill: zarr skips it
    write_with_zarr(store_path, reads)
    with SZReader(store_path) as reader:
        assert reader.header == {"run": "test"}
        assert reader.schema.columns == [
            "LENGTH", "OFFSET", "ID:A:S", "Offset:A:I32", "Raw:D:I16", "Fastq:D:S", "Move:D:U16",
        ]
        for k, read in enumerate(reads):
            got = reader.read(k)
            assert (got["ID"], got["Offset"], got["Fastq"]) == (read[0], read[1], read[4])
            assert np.array_equal(got["Raw"], read[3]) and np.array_equal(got["Move"], read[5])
    _, _, decoded = reference.read_store(store_path)
    assert [r["Raw"].tolist() for r in decoded] == [r[3].tolist() for r in reads]
    assert [r["Fastq"] for r in decoded] == [r[4] for r in reads]


@requires_shared
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_store_write_with_xarray_to_zarr(name, tmp_path):
    """Regular chunks and zarr's own codecs are split by the counts and re-encoded at close."""
    ds = xr.open_zarr(SZStore(FIXTURES / name)).load().drop_encoding()
    out = tmp_path / "x.sz"
    with SZStore(out, read_only=False) as store:
        ragged = [v for v in ds.data_vars if ds[v].dims[0] != "read"]
        ds = ds.assign({v: ds[v].chunk(1000) for v in ragged})  # dask: many writers
        ds.to_zarr(store, zarr_format=3, consolidated=False)
    assert_same_reads(FIXTURES / name, out)
    assert_reference_decodes(out, name)


def test_store_write_spools_to_disk_not_memory(tmp_path):
    """Chunk bytes go to the staging directory; memory holds only the key index."""
    store = SZStore(tmp_path / "big.sz", read_only=False)
    chunk = cpu.Buffer.from_bytes(os.urandom(1 << 20))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for k in range(64):
            store.set_sync(f"Raw/c/{k}", chunk)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    spooled = sum(p.stat().st_size for p in store._spool.directory.iterdir())
    assert spooled >= 64 << 20
    assert grown < 4 << 20
    assert store.get_sync("Raw/c/17").to_bytes() == chunk.to_bytes()
    store.discard()
    assert list(tmp_path.iterdir()) == []


def _hierarchy(path, **changes):
    """A small valid hierarchy, with `changes` applied: name -> create_array kwargs or None."""
    arrays = {
        "read": dict(data=np.array(["a", "b", "c"]), dimension_names=["read"]),
        "Raw": dict(data=np.arange(6, dtype=np.int16), dimension_names=["Raw_sample"]),
        "Raw_count": dict(
            data=np.array([1, 2, 3]), dimension_names=["read"],
            attributes={"sample_dimension": "Raw_sample"},
        ),
    } | changes
    store = SZStore(path, read_only=False)
    g = zarr.open_group(store, mode="w")
    for name, kwargs in arrays.items():
        if kwargs is not None:
            g.create_array(name, **kwargs)
    return store


def test_store_write_valid_hierarchy_commits(tmp_path):
    _hierarchy(tmp_path / "ok.sz").close()
    with SZReader(tmp_path / "ok.sz") as reader:
        assert reader.ids.tolist() == ["a", "b", "c"]
        assert [x.tolist() for x in reader.dataset("Raw")] == [[0], [1, 2], [3, 4, 5]]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"Offset": dict(data=np.arange(4, dtype=np.int32), dimension_names=["read"])},
         "disagree on the number of reads"),
        ({"image": dict(data=np.zeros((3, 2), np.int16), dimension_names=["read", "x"])},
         "dims"),
        ({"flag": dict(data=np.array([True, False, True]), dimension_names=["read"])}, "bool"),
        ({"Offset": dict(data=np.arange(3, dtype=np.int64), dimension_names=["read"])}, "int64"),
        ({"Raw_count": dict(data=np.array([1, 2, 2]), dimension_names=["read"],
                            attributes={"sample_dimension": "Raw_sample"})}, "add up to 5"),
        ({"Raw_count": dict(data=np.array([-1, 4, 3]), dimension_names=["read"],
                            attributes={"sample_dimension": "Raw_sample"})}, "-1 at read 0"),
        ({"Raw_count": None}, "sample_dimension"),
        ({"Offset": dict(data=np.arange(3, dtype=np.int32))}, "dimension_names"),
    ],
)
def test_store_write_refuses_what_sz_cannot_hold(tmp_path, changes, message):
    store = _hierarchy(tmp_path / "bad.sz", **changes)
    with pytest.raises(SchemaError, match=message):
        store.close()
    assert list(tmp_path.iterdir()) == []  # no store, no spool, no staging
    with pytest.raises(UsageError, match="closed"):
        store.set_sync("x", cpu.Buffer.from_bytes(b"1"))


def test_store_write_refuses_bad_values_and_leaves_nothing(tmp_path):
    store = _hierarchy(
        tmp_path / "bad.sz", read=dict(data=np.array(["a", "b\tc", "d"]),
                                       dimension_names=["read"]),
    )
    with pytest.raises(RecordError, match=r"'b\\tc'.*TAB|contains '\\t'"):
        store.close()
    assert list(tmp_path.iterdir()) == []


def test_store_write_nothing_leaves_the_path_alone(tmp_path):
    SZStore(tmp_path / "none.sz", read_only=False).close()
    assert list(tmp_path.iterdir()) == []


def test_store_write_exception_in_with_block_discards(tmp_path):
    with pytest.raises(KeyError), _hierarchy(tmp_path / "x.sz"):
        raise KeyError("boom")
    assert list(tmp_path.iterdir()) == []


def test_store_write_refuses_foreign_directory(tmp_path):
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "chapter1.tex").write_text("years of work")
    with pytest.raises(StoreExistsError, match="not an SZ store"):
        SZStore(tmp_path / "thesis", read_only=False)
    assert (tmp_path / "thesis" / "chapter1.tex").read_text() == "years of work"


@requires_shared
def test_store_write_overlays_an_existing_store(tmp_path):
    """A writer on an existing store sees it, adds to it, and replaces it on close."""
    path = tmp_path / "basic.sz"
    shutil.copytree(FIXTURES / "basic", path)
    old_frames = frames_in_dat(path)
    old_dat = (path / "dat").read_bytes()
    with SZStore(path).with_read_only(False) as store:
        g = zarr.open_group(store, mode="r+")
        assert g["Raw"].shape[0] == int(g["Raw_count"][:].sum())
        g.create_array("quality", data=np.linspace(0, 1, 300, dtype=np.float32),
                       dimension_names=["read"])
        assert (path / "index").read_text() == (FIXTURES / "basic" / "index").read_text()
    with SZReader(path) as reader:
        assert reader.schema.columns[-4:] == ["quality:A:F32", "Raw:D:U32", "Fastq:D:S", "Move:D:U16"]
        assert reader.index.attribute("quality").tolist() == np.linspace(0, 1, 300, dtype=np.float32).tolist()
    new_frames, new_dat = frames_in_dat(path), (path / "dat").read_bytes()
    for a, b in zip(old_frames, new_frames, strict=True):
        for d in a:  # the datasets are copied frame for frame
            assert old_dat[a[d][0] : a[d][0] + a[d][1]] == new_dat[b[d][0] : b[d][0] + b[d][1]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["basic.sz"]


def test_store_write_copies_in_other_processes_share_the_spool(tmp_path):
    """An unpickled copy of a writing store writes into the same spool; the original commits."""
    reads = make_reads(6)
    store = _hierarchy(tmp_path / "x.sz")
    copy = pickle.loads(pickle.dumps(store))
    assert copy == store and copy._spool.directory == store._spool.directory
    zarr.open_array(copy, path="Raw", mode="r+")[:] = np.arange(10, 16, dtype=np.int16)
    copy.close()  # a copy's close commits nothing
    assert not (tmp_path / "x.sz").exists()
    store.close()
    with SZReader(tmp_path / "x.sz") as reader:
        assert [x.tolist() for x in reader.dataset("Raw")] == [[10], [11, 12], [13, 14, 15]]
    assert reads  # (records unused: the hierarchy holds its own values)
