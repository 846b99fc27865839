"""xsz.to_zarr / xsz.from_zarr: SZ stores as Zarr stores (both layouts) and back.

Every layout is compared with ``xr.open_dataset(path, engine="sz")`` variable by
variable, and every round trip with `SZReader`, value by value (and frame by
frame for the reads layout). The regular layout with a standard codec is read
in a process where xsz cannot be imported.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest
import xarray as xr
import zarr
from zarr.storage import LocalStore, MemoryStore, ZipStore

import xsz
from tests import FIXTURE_NAMES
from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from xsz.convert import _sinks, _zarr_reads, _zarr_regular
from xsz.convert._zarr_regular import TEXT_CHUNK, sample_chunk
from xsz.convert._zip import ZipWriter
from xsz.errors import (
    RecordError,
    SchemaError,
    SourceError,
    StoreExistsError,
    SZFormatError,
    UsageError,
    XszWarning,
)
from xsz.format import Schema, SZReader, SZWriter
from xsz.store import READ_CHUNK, SZStore

CONTAINERS = ["directory", "zip"]


@pytest.fixture
def sz(tmp_path):
    """An SZ store of 12 nanopore-like reads, one of them empty."""
    path = tmp_path / "reads.sz"
    reads = make_reads(12, length=3000)
    reads[4] = (reads[4][0], 7, 0.5, np.zeros(0, np.int16), "", np.zeros(0, np.uint16))
    with SZWriter(path, Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS), header={"run": "t"}) as w:
        w.put_many(reads)
    return path


def name_of(container: str) -> str:
    return "out.zip" if container == "zip" else "out.zarr"


def open_zarr(path) -> xr.Dataset:
    store = ZipStore(path, mode="r") if path.suffix == ".zip" else path
    return xr.open_zarr(store, chunks=None).load()


def assert_same_dataset(engine: xr.Dataset, other: xr.Dataset, *, f128_as_float64=False):
    """The same variables, dims, attrs and values (text compared as str)."""
    assert sorted(engine.variables) == sorted(other.variables)
    assert engine.attrs == other.attrs
    for key in engine.variables:
        a, b = engine[key].variable, other[key].variable
        assert a.dims == b.dims, key
        assert a.attrs == {k: v for k, v in b.attrs.items() if k != "_Encoding"}, key
        if a.dtype.kind in "OUT":
            assert b.dtype.kind in "OUT", key
            assert [str(x) for x in a.values] == [str(x) for x in b.values], key
        elif f128_as_float64 and a.dtype == np.longdouble:
            assert b.dtype == np.float64, key
            with np.errstate(over="ignore"):
                assert np.array_equal(a.values.astype(np.float64), b.values, equal_nan=True), key
        else:
            assert a.dtype == b.dtype, key
            assert np.array_equal(a.values, b.values, equal_nan=True), key


def assert_same_store(a_path, b_path, *, frames=True):
    """Same schema, header and every value; with `frames`, the same frame bytes."""
    with SZReader(a_path) as a, SZReader(b_path) as b:
        assert a.schema.columns == b.schema.columns
        assert a.header == b.header
        assert len(a) == len(b)
        rows = np.arange(len(a))
        for x, y in zip(a.read_many(rows), b.read_many(rows), strict=True):
            assert x.keys() == y.keys()
            for key in x:
                assert_same_value(x[key], y[key], key)
        if frames:
            fa = [[bytes(f) for f in row] for row in a.frames(rows)]
            fb = [[bytes(f) for f in row] for row in b.frames(rows)]
            assert fa == fb


def assert_same_value(x, y, key):
    if isinstance(x, np.ndarray):
        assert x.dtype == y.dtype, key
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), key
    else:
        assert type(x) is type(y), key
        both_nan = isinstance(x, float | np.floating) and np.isnan(x) and np.isnan(y)
        assert x == y or both_nan, key


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# --- the reads layout ---------------------------------------------------------------


@pytest.mark.parametrize("container", [*CONTAINERS, "store"])
def test_to_zarr_reads_keys_and_bytes_are_szstores(container, sz, tmp_path):
    """Every key SZStore shows, with the same bytes: chunks of frames are dat's bytes."""
    if container == "store":
        target = MemoryStore()
        xsz.to_zarr(sz, target)
        got = {
            k: zarr.core.sync.sync(
                target.get(k, zarr.core.buffer.default_buffer_prototype())
            ).to_bytes()
            for k in zarr.core.sync.sync(_keys(target))
        }
    elif container == "zip":
        xsz.to_zarr(sz, tmp_path / "out.zip")
        with zipfile.ZipFile(tmp_path / "out.zip") as zf:
            assert zf.testzip() is None  # every CRC-32 right
            got = {name: zf.read(name) for name in zf.namelist()}
    else:
        xsz.to_zarr(sz, tmp_path / "out.zarr")
        root = tmp_path / "out.zarr"
        got = {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }
    view = SZStore(sz)
    want = {k: view.get_sync(k).to_bytes() for k in view._keys_sync()}
    assert got == want
    with SZReader(sz) as reader:  # chunk 3 of Raw is read 3's frame (read 4 has no samples)
        assert got["Raw/c/3"] == bytes(reader.frames([3], ["Raw"])[0][0])
        assert got["Raw/c/4"] == bytes(reader.frames([5], ["Raw"])[0][0])
        assert got["Fastq/c/4"] == bytes(reader.frames([4], ["Fastq"])[0][0])
    assert json.loads(got["zarr.json"])["consolidated_metadata"]["metadata"].keys() == {
        k.split("/")[0] for k in got if k.endswith("/zarr.json")
    }


async def _keys(store):
    return [key async for key in store.list()]


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_to_zarr_reads_opens_like_the_engine_and_round_trips(
    sz_fixtures, name, container, tmp_path
):
    src = sz_fixtures / name
    dest = tmp_path / name_of(container)
    summary = xsz.to_zarr(src, dest)
    assert summary.n_reads == len(SZReader(src)) and summary.nbytes > 0
    assert_same_dataset(xr.open_dataset(src, engine="sz").load(), open_zarr(dest))
    back = tmp_path / "back.sz"
    assert xsz.from_zarr(dest, back).n_reads == summary.n_reads
    assert_same_store(src, back)  # the very same frames


def test_to_zarr_reads_opens_in_a_fresh_process(sz, tmp_path):
    """xsz installed, not imported: zarr loads its codec through the entry point, and
    importing xsz.codec turns on the rectilinear-chunks flag in time (xsz/__init__)."""
    xsz.to_zarr(sz, tmp_path / "out.zarr")
    code = (
        "import sys, xarray as xr\n"
        f"ds = xr.open_zarr({str(tmp_path / 'out.zarr')!r}, chunks=None).load()\n"
        "print(int(ds.Raw.sum()), list(ds.Raw_count.values), ds.Fastq.values[0][:10])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ZARR_ARRAY__RECTILINEAR_CHUNKS"}
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    engine = xr.open_dataset(sz, engine="sz")
    assert int(out[0]) == int(engine.Raw.sum())
    assert out[-1] == str(engine.Fastq.values[0])[:10]


# --- the regular layout ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "container"),
    [
        ("svb-zstd", "directory"),
        ("zstd", "zip"),
        ("blosc", "directory"),
        ("none", "directory"),
        ("gzip", "zip"),
    ],
)
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_to_zarr_regular_opens_like_the_engine_and_round_trips(
    sz_fixtures, name, codec, container, tmp_path
):
    src = sz_fixtures / name
    dest = tmp_path / name_of(container)
    rounds = name == "alltypes" and codec != "svb-zstd"
    if rounds:  # F128 beyond float64: said, not silent
        with pytest.warns(XszWarning) as warned:
            xsz.to_zarr(src, dest, layout="regular", codec=codec)
        assert sorted(str(w.message).split("'")[1] for w in warned) == ["a_f128", "d_f128"]
        assert all("rounded to float64" in str(w.message) for w in warned)
    else:
        xsz.to_zarr(src, dest, layout="regular", codec=codec)
    engine = xr.open_dataset(src, engine="sz").load()
    assert_same_dataset(engine, open_zarr(dest), f128_as_float64=rounds)
    back = tmp_path / "back.sz"
    xsz.from_zarr(dest, back)
    if not rounds:
        assert_same_store(src, back, frames=False)
    else:  # same schema (F128 again), every other value exact
        with SZReader(src) as a, SZReader(back) as b:
            assert a.schema.columns == b.schema.columns
            for x, y in zip(a.read_many(range(len(a))), b.read_many(range(len(b))), strict=True):
                for key in x:
                    if "f128" not in key:
                        assert_same_value(x[key], y[key], key)


def test_to_zarr_regular_chunks(sz, tmp_path):
    xsz.to_zarr(sz, tmp_path / "a.zarr", layout="regular")
    xsz.to_zarr(sz, tmp_path / "b.zarr", layout="regular", codec="zstd", chunk_samples=5000)
    counts = SZReader(sz).counts("Raw")
    a, b = (
        zarr.open_group(tmp_path / "a.zarr", mode="r"),
        zarr.open_group(tmp_path / "b.zarr", mode="r"),
    )
    assert a["Raw"].chunks == (min(int(counts.sum()), sample_chunk(counts)),)
    assert b["Raw"].chunks == (5000,)
    assert b["Raw"].nchunks == -(-int(counts.sum()) // 5000)
    assert a["read"].chunks == (min(12, READ_CHUNK),) and a["Fastq"].chunks == (
        min(12, TEXT_CHUNK),
    )
    assert [type(c).__name__ for c in a["Raw"].metadata.codecs] == ["SvbZstdCodec"]
    assert [type(c).__name__ for c in b["Raw"].metadata.codecs] == ["BytesCodec", "ZstdCodec"]
    files = sorted(p.name for p in (tmp_path / "b.zarr" / "Raw" / "c").iterdir())
    assert files == [str(i) for i in range(b["Raw"].nchunks)]  # every chunk written, once


def test_to_zarr_regular_writes_each_chunk_once_in_blocks(sz, tmp_path, monkeypatch):
    """Blocks of a few reads, chunks straddling them: written whole, once, values right."""
    monkeypatch.setattr(_zarr_regular, "BATCH_BYTES", 10_000)
    written = []
    real = LocalStore.set

    async def record(self, key, value):
        written.append(key)
        await real(self, key, value)

    monkeypatch.setattr(LocalStore, "set", record)
    xsz.to_zarr(sz, tmp_path / "out.zarr", layout="regular", codec="zstd", chunk_samples=7000)
    chunks = [k for k in written if "/c/" in k]
    assert len(chunks) == len(set(chunks))
    assert_same_dataset(xr.open_dataset(sz, engine="sz").load(), open_zarr(tmp_path / "out.zarr"))


@pytest.mark.parametrize(
    "chunks", [(0, 65536), (100, 65536), (50_000, 262144), (2_000_000, 1 << 22)]
)
def test_to_zarr_sample_chunk_is_a_few_median_reads(chunks):
    median, want = chunks
    assert sample_chunk(np.array([median // 2, median, median * 3, 0])) == want


_WITHOUT_XSZ = """
import importlib.metadata as md, json, sys
sys.modules["xsz"] = None  # `import xsz` fails
real = md.entry_points
def entry_points(**params):  # and its entry points are gone, as if it were not installed
    eps = md.EntryPoints(e for e in real() if not e.value.startswith("xsz"))
    return eps.select(**params) if params else eps
md.entry_points = entry_points
import numpy as np, xarray as xr, zarr
try:
    import xsz
except ImportError:
    pass
else:
    raise SystemExit("xsz imported")
path, expected = sys.argv[1], np.load(sys.argv[2], allow_pickle=False)
store = zarr.storage.ZipStore(path, mode="r") if path.endswith(".zip") else path
ds = xr.open_zarr(store, chunks=None).load()
for key in expected.files:
    want, got = expected[key], ds[key].values
    if want.dtype.kind == "U":
        assert [str(x) for x in got] == want.tolist(), key
    else:
        assert got.dtype == want.dtype, (key, got.dtype, want.dtype)
        assert np.array_equal(got, want, equal_nan=True), key
print("ok", len(expected.files), sorted(ds.data_vars) == sorted(set(expected.files) - {"read"}))
"""


@pytest.mark.parametrize(("name", "container"), [("basic", "directory"), ("alltypes", "zip")])
def test_to_zarr_regular_standard_codec_reads_without_xsz(sz_fixtures, name, container, tmp_path):
    src = sz_fixtures / name
    dest = tmp_path / name_of(container)
    with pytest.warns(XszWarning) if name == "alltypes" else contextlib.nullcontext():
        xsz.to_zarr(src, dest, layout="regular", codec="zstd")
    engine = xr.open_dataset(src, engine="sz").load()
    expected = {}
    for key in engine.variables:
        values = engine[key].values
        if values.dtype.kind in "OT":
            values = values.astype(str)
        elif values.dtype == np.longdouble:
            with np.errstate(over="ignore"):
                values = values.astype(np.float64)  # what a reader without xsz gets
        expected[str(key)] = values
    np.savez(tmp_path / "expected.npz", **expected)
    run = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-c",
            _WITHOUT_XSZ,
            str(dest),
            str(tmp_path / "expected.npz"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["ok", str(len(expected)), "True"]


# --- from_zarr ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "zarr_format"),
    [("basic", 3), ("alltypes", 3), ("empty", 3), ("basic", 2), ("empty", 2)],
)  # F128: v3 only
def test_from_zarr_of_a_dataset_written_by_xarray(sz_fixtures, name, zarr_format, tmp_path):
    src = sz_fixtures / name
    ds = xr.open_dataset(src, engine="sz")
    ds.drop_encoding().to_zarr(tmp_path / "ds.zarr", zarr_format=zarr_format, consolidated=False)
    xsz.from_zarr(tmp_path / "ds.zarr", tmp_path / "back.sz")
    assert_same_store(src, tmp_path / "back.sz", frames=False)


def test_from_zarr_of_a_store_object_and_progress(sz, tmp_path):
    store = MemoryStore()
    xsz.to_zarr(sz, store)
    seen = []
    summary = xsz.from_zarr(
        store, tmp_path / "back.sz", progress=lambda done, total: seen.append((done, total))
    )
    assert summary.n_reads == 12 and seen[-1] == (12, 12)
    assert_same_store(sz, tmp_path / "back.sz")


def test_from_zarr_copies_frames_in_blocks(sz, tmp_path, monkeypatch):
    from xsz.store import _commit

    monkeypatch.setattr(_commit, "BLOCK_READS", 5)
    xsz.to_zarr(sz, tmp_path / "out.zip")
    seen = []
    xsz.from_zarr(tmp_path / "out.zip", tmp_path / "back.sz", progress=lambda d, t: seen.append(d))
    assert seen == [5, 10, 12]
    assert_same_store(sz, tmp_path / "back.sz")


def test_from_zarr_refuses_what_is_not_sz_shaped(sz, tmp_path):
    with pytest.raises(SourceError, match="not a Zarr store"):
        xsz.from_zarr(sz, tmp_path / "x.sz")
    group = zarr.open_group(tmp_path / "two_d.zarr", mode="w")
    group.create_array("read", data=np.array(["a", "b"]), dimension_names=["read"])
    group.create_array("image", shape=(2, 3), dtype="i2", dimension_names=["read", "x"])
    with pytest.raises(SchemaError, match="'image' has dims"):
        xsz.from_zarr(tmp_path / "two_d.zarr", tmp_path / "x.sz")
    group = zarr.open_group(tmp_path / "bad.zarr", mode="w")
    group.create_array("read", data=np.array(["a", "b"]), dimension_names=["read"])
    group.create_array("note", data=np.array(["fine", "a\tTAB"]), dimension_names=["read"])
    with pytest.raises(RecordError, match=r"read 'b'.*'note'"):
        xsz.from_zarr(tmp_path / "bad.zarr", tmp_path / "x.sz")
    assert not (tmp_path / "x.sz").exists() and leftovers(tmp_path) == []
    (tmp_path / "x.sz").mkdir()
    with pytest.raises(StoreExistsError):
        xsz.from_zarr(tmp_path / "two_d.zarr", tmp_path / "x.sz")


# --- destinations, options, bad input -------------------------------------------------


@pytest.mark.parametrize("container", CONTAINERS)
def test_to_zarr_existing_destination(container, sz, tmp_path):
    dest = tmp_path / name_of(container)
    xsz.to_zarr(sz, dest)
    with pytest.raises(StoreExistsError, match="exists"):
        xsz.to_zarr(sz, dest)
    xsz.to_zarr(sz, dest, layout="regular", overwrite=True)  # a Zarr store: replaced
    assert (
        zarr.open_group(ZipStore(dest, mode="r") if container == "zip" else dest, mode="r")[
            "Raw"
        ].metadata.chunk_grid.to_dict()["name"]
        == "regular"
    )
    other = tmp_path / ("notes.zip" if container == "zip" else "notes")
    if container == "zip":
        other.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip, holding no Zarr
    else:
        other.mkdir()
        (other / "keep.txt").write_text("mine")
    with pytest.raises(StoreExistsError, match="refusing to replace"):
        xsz.to_zarr(sz, other, overwrite=True)
    assert other.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("layout", ["reads", "regular"])
def test_to_zarr_into_a_zip_store_object(layout, sz, tmp_path):
    """Every key set once: zarr's ZipStore takes either layout without a duplicate entry."""
    with ZipStore(tmp_path / "z.zip", mode="w") as store:
        xsz.to_zarr(sz, store, layout=layout, codec="zstd" if layout == "regular" else "svb-zstd")
    with zipfile.ZipFile(tmp_path / "z.zip") as zf:
        names = zf.namelist()
    assert len(names) == len(set(names)) and "zarr.json" in names
    assert_same_dataset(xr.open_dataset(sz, engine="sz").load(), open_zarr(tmp_path / "z.zip"))


def test_to_zarr_store_object_must_be_empty(sz):
    store = MemoryStore()
    xsz.to_zarr(sz, store)
    with pytest.raises(StoreExistsError, match="not empty"):
        xsz.to_zarr(sz, store)
    xsz.to_zarr(sz, store, layout="regular", overwrite=True)
    assert (
        zarr.open_group(store, mode="r")["Raw"].metadata.chunk_grid.to_dict()["name"] == "regular"
    )


def test_to_zarr_bad_options(sz, tmp_path):
    with pytest.raises(UsageError, match="layout must be one of"):
        xsz.to_zarr(sz, tmp_path / "a.zarr", layout="rows")
    with pytest.raises(UsageError, match="codec must be one of"):
        xsz.to_zarr(sz, tmp_path / "a.zarr", layout="regular", codec="lz77")
    with pytest.raises(UsageError, match="needs layout='regular'"):
        xsz.to_zarr(sz, tmp_path / "a.zarr", codec="zstd")
    with pytest.raises(SZFormatError, match="does not exist"):
        xsz.to_zarr(tmp_path / "missing.sz", tmp_path / "a.zarr")
    assert list(tmp_path.iterdir()) == [sz]
    xsz.to_zarr(sz, tmp_path / "a.zarr", layout="regular", codec=zarr.codecs.ZstdCodec(level=9))
    assert zarr.open_group(tmp_path / "a.zarr", mode="r")["Raw"].metadata.codecs[1].level == 9


class Stop(Exception):
    pass


@pytest.mark.parametrize("layout", ["reads", "regular"])
@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize(
    "failure",
    [Stop("midway"), KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left on device")],
)
def test_to_zarr_failing_midway_leaves_nothing(
    failure, container, layout, sz, tmp_path, monkeypatch
):
    monkeypatch.setattr(_zarr_reads, "BLOCK_BYTES", 20_000)  # several blocks of reads
    monkeypatch.setattr(_zarr_regular, "BATCH_BYTES", 20_000)
    dest = tmp_path / name_of(container)

    def stop_at_five(done, total):
        if done >= 5:
            raise failure

    with pytest.raises(type(failure)):
        xsz.to_zarr(sz, dest, layout=layout, progress=stop_at_five)
    assert not dest.exists() and leftovers(tmp_path) == []
    xsz.to_zarr(sz, dest)  # an existing store survives a failed overwrite
    before = sorted((p.name, p.stat().st_size) for p in tmp_path.rglob("*"))
    with pytest.raises(type(failure)):
        xsz.to_zarr(sz, dest, layout=layout, overwrite=True, progress=stop_at_five)
    assert sorted((p.name, p.stat().st_size) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("container", CONTAINERS)
def test_to_zarr_disk_full_while_copying_frames(container, sz, tmp_path, monkeypatch):
    monkeypatch.setattr(_zarr_reads, "BLOCK_BYTES", 20_000)
    calls = []
    real = _sinks.copy_range if container == "directory" else os.writev

    def full(*args):
        calls.append(args)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args)

    if container == "directory":  # a frame copied into its file
        monkeypatch.setattr(_sinks, "copy_range", full)
    else:  # headers and frames written into the zip
        monkeypatch.setattr(os, "writev", full)
    with pytest.raises(OSError, match="No space left"):
        xsz.to_zarr(sz, tmp_path / name_of(container))
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == [sz]


@pytest.mark.parametrize("container", CONTAINERS)
def test_to_zarr_corrupt_frame_is_refused_and_named(container, sz, tmp_path):
    with SZReader(sz) as reader:
        start = int(reader.index.frame_offset["Raw"][7])
    data = bytearray((sz / "dat").read_bytes())
    data[start : start + 4] = b"\0\0\0\0"  # the zstd magic of read 7's Raw frame
    (sz / "dat").write_bytes(bytes(data))
    with pytest.raises(SZFormatError, match=r"'Raw/c/6' is read 'read_00007'.*not a zstd frame"):
        xsz.to_zarr(sz, tmp_path / name_of(container))
    assert list(tmp_path.iterdir()) == [sz]


def test_zip_writer_zip64_records(tmp_path, monkeypatch):
    """Past its limits (lowered here) the writer uses zip64 fields that zip readers follow."""
    monkeypatch.setattr(ZipWriter, "ZIP64_LIMIT", 100)
    monkeypatch.setattr(ZipWriter, "COUNT_LIMIT", 5)
    values = {f"a/c/{i}": bytes([i]) * (50 + 40 * i) for i in range(8)}
    with ZipWriter(tmp_path / "big.zip") as zw:
        for key, value in list(values.items())[:4]:
            zw.add(key, value)
        zw.add_many([(k, memoryview(v), zlib.crc32(v)) for k, v in list(values.items())[4:]])
    with zipfile.ZipFile(tmp_path / "big.zip") as zf:
        assert zf.testzip() is None
        assert {n: zf.read(n) for n in zf.namelist()} == values
        assert max(i.header_offset for i in zf.infolist()) > 100
        assert max(i.file_size for i in zf.infolist()) > 100
    raw = (tmp_path / "big.zip").read_bytes()
    assert b"PK\x06\x06" in raw and b"PK\x06\x07" in raw  # zip64 end records


def test_zip_writer_many_entries_in_few_writes(tmp_path, monkeypatch):
    """More entries than writev takes buffers at once: still each in its place."""
    from xsz.convert import _zip

    monkeypatch.setattr(_zip, "_IOV_MAX", 7)
    values = {f"k{i}": os.urandom(i * 3) for i in range(40)}
    with ZipWriter(tmp_path / "x.zip") as zw:
        zw.add_many([(k, memoryview(v), zlib.crc32(v)) for k, v in values.items()])
    with zipfile.ZipFile(tmp_path / "x.zip") as zf:
        assert zf.testzip() is None and {n: zf.read(n) for n in zf.namelist()} == values
    with ZipStore(tmp_path / "x.zip", mode="r") as store:  # zarr reads it too
        got = zarr.core.sync.sync(store.get("k39", zarr.core.buffer.default_buffer_prototype()))
        assert got.to_bytes() == values["k39"]


# --- nanopore signals (signal_sample.npz) --------------------------------------------


@pytest.mark.parametrize(
    ("layout", "codec"), [("reads", "svb-zstd"), ("regular", "svb-zstd"), ("regular", "zstd")]
)
def test_to_zarr_real_reads_round_trip(source_data, layout, codec, tmp_path):
    z = np.load(source_data / "signal_sample.npz")
    signals = np.split(z["signal"], z["offsets"][1:-1])
    schema = Schema.build(
        [("ID", str), ("offset", np.float64), ("range", np.float64)], [("Raw", np.int16)]
    )
    with SZWriter(tmp_path / "real.sz", schema) as w:
        for i, signal in enumerate(signals):
            w.put(str(z["read_id"][i]), float(z["offset"][i]), float(z["range"][i]), signal)
    dest = tmp_path / "real.zip"
    xsz.to_zarr(tmp_path / "real.sz", dest, layout=layout, codec=codec)
    ds = open_zarr(dest)
    assert np.array_equal(ds.Raw.values, z["signal"])
    assert ds.read.values.tolist() == z["read_id"].tolist()
    xsz.from_zarr(dest, tmp_path / "back.sz")
    assert_same_store(tmp_path / "real.sz", tmp_path / "back.sz", frames=layout == "reads")
