"""SZStore writing: zarr and xarray write SZ stores, in any order and concurrently, through a spool."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import random
import shutil
import subprocess
import sys
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import xarray as xr
import zarr
import zarr.core.sync
from zarr.core.buffer import cpu

from tests import FIXTURE_NAMES, reference
from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from tests.test_format import (
    expected_attribute,
    expected_dataset,
    load_expected,
    same,
)
from tests.test_store_read import _keys, frames_in_dat
from xsz import SZStore
from xsz.codec import SvbZstdCodec
from xsz.errors import (
    RecordError,
    SchemaError,
    StoreExistsError,
    UsageError,
)
from xsz.format import Schema, SZReader, SZWriter

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


def assert_reference_decodes(path, root, name) -> None:
    """The written store, read frame by frame by the fixtures' rules, holds the expected values."""
    e, pos = load_expected(root, name)
    header, columns, reads = reference.read_store(path)
    assert header == json.loads(str(e["header_json"]))
    assert columns == e["columns"].tolist()
    assert [r["ID"] for r in reads] == e["index_order"].tolist()
    for read in reads:
        p = pos[read["ID"]]
        for d, code in zip(e["dataset_names"].tolist(), e["dataset_codes"].tolist(), strict=True):
            assert same(read[d], expected_dataset(e, d, code, p)), (read["ID"], d)
        for a, code in zip(e["attr_names"].tolist(), e["attr_codes"].tolist(), strict=True):
            if code in reference.FLOATS:  # numpy 1 and 2 print floats differently: compare values
                value = reference.FLOATS[code](read[a])
                assert same(value, expected_attribute(e, a, code, p)), (read["ID"], a)
            else:
                assert read[a] == e[f"attrtext__{a}"][p], (read["ID"], a)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_store_write_byte_copy_round_trip(sz_fixtures, name, tmp_path):
    """Keys copied as bytes, concurrently and in any order, make the same SZ store."""
    out = tmp_path / f"{name}.sz"
    with SZStore(sz_fixtures / name) as src:
        dst = SZStore(out, read_only=False)
        copy_keys(src, dst)
        assert not out.exists()  # nothing at the path before close
        dst.close()
    assert_same_reads(sz_fixtures / name, out)
    assert_reference_decodes(out, sz_fixtures, name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.sz"]  # no spool left


def test_store_write_copies_frames_without_reencoding(sz_fixtures, tmp_path):
    out = tmp_path / "copy.sz"
    with SZStore(sz_fixtures / "basic") as src, SZStore(out, read_only=False) as dst:
        copy_keys(src, dst)
    old, new = frames_in_dat(sz_fixtures / "basic"), frames_in_dat(out)
    old_dat, new_dat = (sz_fixtures / "basic" / "dat").read_bytes(), (out / "dat").read_bytes()
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
        offset = g.create_array(
            "Offset", shape=(n,), dtype="int32", chunks=(7,), dimension_names=["read"]
        )
        raw = g.create_array(
            "Raw",
            shape=(int(counts.sum()),),
            dtype="int16",
            chunks=[counts[counts > 0].tolist()],
            serializer=SvbZstdCodec(),
            compressors=None,
            dimension_names=["Raw_sample"],
        )
        g.create_array(
            "Raw_count",
            data=counts,
            chunks=(n,),
            dimension_names=["read"],
            attributes={"sample_dimension": "Raw_sample"},
        )
        fastq = g.create_array(
            "Fastq",
            shape=(n,),
            dtype="variable_length_bytes",
            chunks=(1,),
            serializer=SvbZstdCodec(),
            compressors=None,
            dimension_names=["read"],
            attributes={"sz_group": "D"},
        )
        move = g.create_array(
            "Move",
            shape=(int(moves.sum()),),
            dtype="uint16",
            chunks=(64,),
            dimension_names=["Move_sample"],
        )
        g.create_array(
            "Move_count",
            data=moves,
            chunks=(n,),
            dimension_names=["read"],
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
            "LENGTH",
            "OFFSET",
            "ID:A:S",
            "Offset:A:I32",
            "Raw:D:I16",
            "Fastq:D:S",
            "Move:D:U16",
        ]
        for k, read in enumerate(reads):
            got = reader.read(k)
            assert (got["ID"], got["Offset"], got["Fastq"]) == (read[0], read[1], read[4])
            assert np.array_equal(got["Raw"], read[3]) and np.array_equal(got["Move"], read[5])
    _, _, decoded = reference.read_store(store_path)
    assert [r["Raw"].tolist() for r in decoded] == [r[3].tolist() for r in reads]
    assert [r["Fastq"] for r in decoded] == [r[4] for r in reads]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_store_write_with_xarray_to_zarr(sz_fixtures, name, tmp_path):
    """Regular chunks and zarr's own codecs are split by the counts and re-encoded at close."""
    ds = xr.open_zarr(SZStore(sz_fixtures / name)).load().drop_encoding()
    out = tmp_path / "x.sz"
    with SZStore(out, read_only=False) as store:
        ragged = [v for v in ds.data_vars if ds[v].dims[0] != "read"]
        ds = ds.assign({v: ds[v].chunk(1000) for v in ragged})  # dask: many writers
        ds.to_zarr(store, zarr_format=3, consolidated=False)
    assert_same_reads(sz_fixtures / name, out)
    assert_reference_decodes(out, sz_fixtures, name)


def test_store_spool_closes_its_files_once(tmp_path):
    """Closing a spool twice (a store copy closed twice) leaves other files alone,
    even one opened meanwhile under a number the spool held."""
    from xsz.store._spool import Spool

    spool = Spool(tmp_path / "spool", create=True)
    spool.close()
    others = [open(tmp_path / f"other{k}", "wb") for k in range(4)]  # noqa: SIM115 (reuse the numbers)
    spool.close()
    for k, other in enumerate(others):
        other.write(b"still open")
        other.close()  # raises EBADF if the spool closed its descriptor
        assert (tmp_path / f"other{k}").read_bytes() == b"still open"


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
        "read": {"data": np.array(["a", "b", "c"]), "dimension_names": ["read"]},
        "Raw": {"data": np.arange(6, dtype=np.int16), "dimension_names": ["Raw_sample"]},
        "Raw_count": {
            "data": np.array([1, 2, 3]),
            "dimension_names": ["read"],
            "attributes": {"sample_dimension": "Raw_sample"},
        },
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
        (
            {"Offset": {"data": np.arange(4, dtype=np.int32), "dimension_names": ["read"]}},
            "disagree on the number of reads",
        ),
        ({"image": {"data": np.zeros((3, 2), np.int16), "dimension_names": ["read", "x"]}}, "dims"),
        (
            {"flag": {"data": np.array([True, False, True]), "dimension_names": ["read"]}},
            "variable 'flag' cannot be stored as SZ: .*bool",
        ),
        (
            {"Offset": {"data": np.arange(3, dtype=np.int64), "dimension_names": ["read"]}},
            "variable 'Offset' cannot be stored as SZ: .*int64",
        ),
        (
            {
                "Raw_count": {
                    "data": np.array([1, 2, 2]),
                    "dimension_names": ["read"],
                    "attributes": {"sample_dimension": "Raw_sample"},
                }
            },
            "add up to 5",
        ),
        (
            {
                "Raw_count": {
                    "data": np.array([-1, 4, 3]),
                    "dimension_names": ["read"],
                    "attributes": {"sample_dimension": "Raw_sample"},
                }
            },
            "-1 samples at read 0",
        ),
        ({"Raw_count": None}, "sample_dimension"),
        ({"Offset": {"data": np.arange(3, dtype=np.int32)}}, "dimension_names"),
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
        tmp_path / "bad.sz",
        read={"data": np.array(["a", "b\tc", "d"]), "dimension_names": ["read"]},
    )
    with pytest.raises(
        RecordError, match=r"read 'b\\tc', attribute 'ID' \(S\): 'b\\tc' contains '\\t'"
    ):
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


def test_store_write_overlays_an_existing_store(sz_fixtures, tmp_path):
    """A writer on an existing store sees it, adds to it, and replaces it on close."""
    path = tmp_path / "basic.sz"
    shutil.copytree(sz_fixtures / "basic", path)
    old_frames = frames_in_dat(path)
    old_dat = (path / "dat").read_bytes()
    with SZStore(path).with_read_only(False) as store:
        g = zarr.open_group(store, mode="r+")
        assert g["Raw"].shape[0] == int(g["Raw_count"][:].sum())
        g.create_array(
            "quality", data=np.linspace(0, 1, 300, dtype=np.float32), dimension_names=["read"]
        )
        assert (path / "index").read_text() == (sz_fixtures / "basic" / "index").read_text()
    with SZReader(path) as reader:
        assert reader.schema.columns[-4:] == [
            "quality:A:F32",
            "Raw:D:U32",
            "Fastq:D:S",
            "Move:D:U16",
        ]
        assert (
            reader.index.attribute("quality").tolist()
            == np.linspace(0, 1, 300, dtype=np.float32).tolist()
        )
    new_frames, new_dat = frames_in_dat(path), (path / "dat").read_bytes()
    for a, b in zip(old_frames, new_frames, strict=True):
        for d in a:  # the datasets are copied frame for frame
            assert old_dat[a[d][0] : a[d][0] + a[d][1]] == new_dat[b[d][0] : b[d][0] + b[d][1]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["basic.sz"]


def test_store_write_copies_in_other_processes_share_the_spool(tmp_path):
    """An unpickled copy of a writing store writes into the same spool; the original commits."""
    store = _hierarchy(tmp_path / "x.sz")
    copy = pickle.loads(pickle.dumps(store))
    assert copy == store and copy._spool.directory == store._spool.directory
    raw = zarr.open_array(copy, path="Raw", mode="r+")
    raw[:3] = np.arange(10, 13, dtype=np.int16)
    copy.close()  # a copy's close commits nothing
    raw[3:] = np.arange(13, 16, dtype=np.int16)  # and a closed copy reopens on use
    copy.close()
    assert not (tmp_path / "x.sz").exists()
    store.close()
    with SZReader(tmp_path / "x.sz") as reader:
        assert [x.tolist() for x in reader.dataset("Raw")] == [[10], [11, 12], [13, 14, 15]]


def test_store_write_shared_overlay_reads_other_logs_once_not_per_key(written, monkeypatch):
    """Listing, and committing, a writer with copies over an SZ store reads the copies'
    logs once, not once for every key of the store underneath (which the spool lacks)."""
    from xsz.store._spool import Spool

    calls = []
    original = Spool.refresh

    def spy(self):
        calls.append(self)
        return original(self)

    monkeypatch.setattr(Spool, "refresh", spy)
    store = SZStore(written).with_read_only(False)
    copy = pickle.loads(pickle.dumps(store))  # the spool is shared from now on
    keys = store._keys_sync("")
    assert len(keys) > 60 and len(calls) == 1
    zarr.open_group(copy, mode="r+").create_array(
        "quality", data=np.arange(20, dtype=np.float32), dimension_names=["read"]
    )
    copy.close()
    calls.clear()
    store.close()
    assert 1 <= len(calls) <= 3  # the refresh of close, and of listing the hierarchy
    with SZReader(written) as reader:
        assert reader.index.attribute("quality").tolist() == list(range(20))


def test_store_write_unclosed_store_warns_and_leaves_nothing(tmp_path):
    """Run in a fresh interpreter: when a store is finalized depends on what else
    the process holds (zarr keeps objects alive between tests)."""
    code = (
        "import gc, warnings, numpy as np, zarr, xsz\n"
        "warnings.simplefilter('always')\n"
        f"store = xsz.SZStore({str(tmp_path / 'x.sz')!r}, read_only=False)\n"
        "g = zarr.open_group(store, mode='w')\n"
        "g.create_array('read', data=np.array(['a']), dimension_names=['read'])\n"
        "del g, store\n"
        "gc.collect()\n"
        "print('collected')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "collected"
    assert "ResourceWarning" in done.stderr and "never closed" in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("ignore::zarr.errors.UnstableSpecificationWarning")
def test_store_write_refuses_text_frames_that_are_not_utf8(tmp_path):
    store = _hierarchy(
        tmp_path / "bad.sz",
        Fastq={
            "shape": (3,),
            "dtype": "variable_length_bytes",
            "chunks": (1,),
            "serializer": SvbZstdCodec(),
            "compressors": None,
            "dimension_names": ["read"],
            "attributes": {"sz_group": "D"},
        },
    )
    fastq = zarr.open_array(store, path="Fastq", mode="r+")
    fastq[:] = np.array([b"ACGT", b"\xff\xfe", b""], dtype=object)
    with pytest.raises(
        RecordError, match=r"read 'b', dataset 'Fastq': chunk Fastq/c/1 is no UTF-8"
    ):
        store.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("attributes", "datasets"),
    [
        ([("n", np.uint16)], [("Raw", np.int16)]),  # no ID: the read coordinate is positions
        ([("ID", str), ("Raw_count", np.int32), ("read", np.float64)], [("Raw", np.int16)]),
        ([("ID", str)], [("Fastq", str), ("q", np.float32), ("x", np.longdouble)]),
    ],
    ids=["no-id", "name-collisions", "text-and-floats"],
)
def test_store_round_trips_any_schema(tmp_path, attributes, datasets):
    """View -> byte copy -> commit gives the same SZ store, whatever the names and types."""
    schema = Schema.build(attributes, datasets)
    rng = np.random.default_rng(5)
    with SZWriter(tmp_path / "a.sz", schema) as writer:
        for k in range(9):
            record = []
            for f in schema.fields:
                n = int(rng.integers(0, 6))
                if f.is_text:
                    record.append(f"r{k}" if f.group == "A" else "ACGT"[: n % 5])
                elif f.group == "A":
                    record.append(f.dtype.type(k))
                else:
                    record.append(
                        rng.normal(size=n).astype(f.dtype)
                        if f.dtype.kind == "f"
                        else rng.integers(-50, 50, n).astype(f.dtype)
                    )
            writer.put(*record)
    with SZStore(tmp_path / "a.sz") as src, SZStore(tmp_path / "b.sz", read_only=False) as dst:
        copy_keys(src, dst)
        ds = xr.open_zarr(src, chunks=None).load().drop_encoding()
    assert ds.sizes["read"] == 9
    with SZStore(tmp_path / "c.sz", read_only=False) as dst:
        ds.to_zarr(dst, zarr_format=3, consolidated=False)
    assert_same_reads(tmp_path / "a.sz", tmp_path / "b.sz")
    assert_same_reads(tmp_path / "a.sz", tmp_path / "c.sz")


def test_store_write_any_chunk_number_and_key(tmp_path):
    """Chunk numbers far beyond the others stay cheap; keys the spool log cannot hold are refused."""
    store = SZStore(tmp_path / "x.sz", read_only=False)
    value = cpu.Buffer.from_bytes(b"frame")
    for key in ("Raw/c/3", "Raw/c/123456789012", "odd/c/0.0", "odd/zarr.json"):
        store.set_sync(key, value)
        assert store.get_sync(key).to_bytes() == b"frame"
    assert sorted(asyncio.run(_keys(store))) == [
        "Raw/c/123456789012",
        "Raw/c/3",
        "odd/c/0.0",
        "odd/zarr.json",
    ]
    with pytest.raises(UsageError, match="TAB or newline"):
        store.set_sync("bad\tkey", value)
    store.discard()


@pytest.mark.filterwarnings("ignore::zarr.errors.UnstableSpecificationWarning")
def test_store_create_hierarchy_then_write_concurrently(store_path):
    """The documents come from the SZ layout; zarr then writes every value, any order, threads."""
    reads = make_reads(24)
    reads[5] = (*reads[5][:3], np.zeros(0, np.int16), "", reads[5][5][:0])
    schema = Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)
    counts = {"Raw": [len(r[3]) for r in reads], "Move": [len(r[5]) for r in reads]}
    with SZStore(store_path, read_only=False) as store:
        store.create_hierarchy(schema, n_reads=24, counts=counts, header={"run": 7})
        g = zarr.open_group(store, mode="r+")
        assert g["Raw_count"][:].tolist() == counts["Raw"]  # written with the documents
        g["read"][:] = np.array([r[0] for r in reads])
        g["Offset"][:] = [r[1] for r in reads]
        g["Raw_unit"][:] = [r[2] for r in reads]
        starts = {d: np.concatenate([[0], np.cumsum(c)]) for d, c in counts.items()}

        def put(k):
            for name, column in (("Raw", 3), ("Move", 5)):
                lo, hi = int(starts[name][k]), int(starts[name][k + 1])
                g[name][lo:hi] = reads[k][column]
            g["Fastq"][k] = reads[k][4].encode()

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(put, random.Random(3).sample(range(24), 24)))
    with SZReader(store_path) as reader:
        assert reader.header == {"run": 7}
        assert reader.schema == schema
        for k, read in enumerate(reads):
            got = reader.read(k)
            assert [got[f.name] for f in schema.attributes] == [
                read[0],
                read[1],
                np.float32(read[2]),
            ]
            assert got["Fastq"] == read[4]
            assert np.array_equal(got["Raw"], read[3]) and np.array_equal(got["Move"], read[5])


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({}, "dataset 'Raw' holds samples: give its counts"),
        ({"Raw": [1, 2]}, r"expected 3 integers, got int64 \(2,\)"),
        ({"Raw": [1.5, 2, 3]}, "expected 3 integers, got float64"),
        ({"Raw": [1, -2, 3]}, "-2 samples at read 1"),
    ],
)
def test_store_create_hierarchy_refuses_bad_counts(tmp_path, counts, message):
    store = SZStore(tmp_path / "x.sz", read_only=False)
    with pytest.raises(SchemaError, match=message):
        store.create_hierarchy(
            Schema.build([("ID", str)], [("Raw", np.int16)]), n_reads=3, counts=counts
        )
    store.discard()
    with SZWriter(tmp_path / "r.sz", Schema.build([("ID", str)], [])) as writer:
        writer.put("r0")
    with pytest.raises(ValueError, match="read-only"):
        SZStore(tmp_path / "r.sz").create_hierarchy(Schema.build([("ID", str)], []), n_reads=0)
