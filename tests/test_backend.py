"""The xarray engine "sz": the Dataset of a store, lazily, and selections that keep reads whole."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import xarray as xr
from xarray.backends import list_engines

from tests import FIXTURE_NAMES
from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from tests.test_convert_zarr import assert_same_dataset
from tests.test_format import expected_attribute, expected_dataset, load_expected, same
from xsz.errors import ReadNotFoundError, SZFormatError, UsageError
from xsz.format import Schema, SZReader, SZWriter
from xsz.format._coalesce import chunk_plan
from xsz.mapping import layout
from xsz.xarray import backend
from xsz.xarray._lazy import RaggedArray
from xsz.xarray.backend import ENGINE, SZBackendEntrypoint
from xsz.xarray.indexes import DetachedReadIndex, SZReadIndex

N_READS = 40


@pytest.fixture
def reads():
    return make_reads(N_READS, length=3000)


@pytest.fixture
def store(tmp_path, reads):
    path = tmp_path / "reads.sz"
    with SZWriter(path, Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS), header={"run": "t1"}) as w:
        w.put_many(reads)
    return path


def by_id(reads):
    return {r[0]: r for r in reads}


def check_reads(ds, expected):
    """`ds` holds exactly the reads `expected` (records of make_reads), in that order."""
    assert ds["read"].values.tolist() == [r[0] for r in expected]
    assert ds.Raw_count.values.tolist() == [len(r[3]) for r in expected]
    assert ds.Move_count.values.tolist() == [len(r[5]) for r in expected]
    assert np.array_equal(ds.Raw.values, np.concatenate([r[3] for r in expected]))
    assert np.array_equal(ds.Move.values, np.concatenate([r[5] for r in expected]))
    assert ds.Fastq.values.tolist() == [r[4] for r in expected]
    assert ds.Offset.values.tolist() == [r[1] for r in expected]


# --- the engine ----------------------------------------------------------------------


def test_backend_engine_is_registered(store, tmp_path):
    engine = list_engines()[ENGINE]
    assert isinstance(engine, SZBackendEntrypoint)
    assert type(engine).__module__ == "xsz.xarray.backend"
    assert engine.description and engine.url
    assert set(engine.open_dataset_parameters) >= {"filename_or_obj", "drop_variables"}
    assert engine.guess_can_open(store)
    assert engine.guess_can_open(str(store))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "index").write_text("LENGTH\tOFFSET\n")
    (tmp_path / "other" / "dat").write_bytes(b"")
    for path in (tmp_path / "other", tmp_path / "missing", store / "index", 42):
        assert not engine.guess_can_open(path)
    ds = xr.open_dataset(store)  # no engine: guessed
    assert isinstance(ds.xindexes["read"], SZReadIndex)


def test_backend_dataset_follows_the_mapping(store, reads):
    ds = xr.open_dataset(store, engine="sz")
    with SZReader(store) as reader:
        specs = layout(reader.schema)
        assert ds.attrs == {"run": "t1", "sz_columns": reader.schema.columns}
    assert set(ds.variables) == set(specs)
    for name, spec in specs.items():
        var = ds[name].variable
        assert var.dims == spec.dims, name
        assert var.attrs == spec.attrs, name
        if not spec.is_text:
            assert var.dtype == spec.dtype, name
    assert list(ds.coords) == ["read"]
    check_reads(ds, reads)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_backend_reads_fixture_exactly(sz_fixtures, name):
    e, pos = load_expected(sz_fixtures, name)
    ds = xr.open_dataset(sz_fixtures / name, engine="sz")
    header = json.loads(str(e["header_json"]))
    assert ds.attrs == {**header, "sz_columns": e["columns"].tolist()}
    ids = ds["read"].values.tolist()
    assert ids == e["index_order"].tolist()
    order = [pos[i] for i in ids]
    with SZReader(sz_fixtures / name) as reader:
        schema = reader.schema
    for f in schema.attributes:
        if f.name == "ID":
            continue
        var = ds[f.name]
        assert var.dtype == f.dtype or f.is_text, (f.name, var.dtype)
        for got, p in zip(var.values, order, strict=True):
            assert same(got, expected_attribute(e, f.name, f.code, p)), (f.name, p)
    for f in schema.datasets:
        if f.is_text:
            assert ds[f.name].values.tolist() == [
                expected_dataset(e, f.name, f.code, p) for p in order
            ]
            continue
        var = ds[f.name]
        assert var.dtype == f.dtype
        want = [expected_dataset(e, f.name, f.code, p) for p in order]
        assert ds[f"{f.name}_count"].values.tolist() == [len(w) for w in want]
        if want:
            assert same(var.values, np.concatenate(want)), f.name
        else:
            assert var.shape == (0,)
        for k in np.random.default_rng(1).permutation(len(order))[:5].tolist():  # by ID
            assert same(ds.sel(read=ids[k])[f.name].values, want[k])


# --- laziness ------------------------------------------------------------------------


@pytest.fixture
def io_log(monkeypatch):
    """Record every pread of dat and every decoded (row, dataset)."""
    log = {"pread": [], "decoded": []}
    real_pread, real_decode, real_into = os.pread, SZReader._decode, SZReader.read_into

    def pread(fd, size, offset):
        if os.readlink(f"/proc/self/fd/{fd}").endswith("/dat"):
            log["pread"].append((offset, offset + size))
        return real_pread(fd, size, offset)

    def decode(self, f, frame, row):  # the reader's own path (text, fallbacks)
        log["decoded"].append((row, f.name))
        return real_decode(self, f, frame, row)

    def read_into(reader, name, rows, *args, **kwargs):  # the batched path
        log["decoded"].extend((row, name) for row in np.asarray(rows).tolist())
        return real_into(reader, name, rows, *args, **kwargs)

    monkeypatch.setattr(os, "pread", pread)
    monkeypatch.setattr(SZReader, "_decode", decode)
    monkeypatch.setattr(SZReader, "read_into", read_into)
    return log


def test_backend_open_reads_only_the_index(store, io_log):
    ds = xr.open_dataset(store, engine="sz")
    repr(ds)
    ds.Offset.values, ds.Raw_count.values, ds.sel(read=["read_00003"])
    ds.sz.index  # noqa: B018
    assert io_log["pread"] == [] and io_log["decoded"] == []


def test_backend_slicing_decodes_only_overlapping_reads(store, reads, io_log):
    ds = xr.open_dataset(store, engine="sz")
    starts = np.cumsum([0] + [len(r[3]) for r in reads])
    lo, hi = int(starts[5]) + 10, int(starts[8]) - 10  # reads 5, 6, 7
    assert np.array_equal(ds.Raw[lo:hi].values, np.concatenate([r[3] for r in reads])[lo:hi])
    assert sorted(io_log["decoded"]) == [(5, "Raw"), (6, "Raw"), (7, "Raw")]
    with SZReader(store) as reader:
        first = int(reader.index.frame_offset["Raw"][5])
        last = int(reader.index.frame_offset["Raw"][7] + reader.index.frame_size["Raw"][7])
    assert all(first <= a and b <= last for a, b in io_log["pread"])
    io_log["decoded"].clear()
    sub = ds.sel(read=["read_00031", "read_00002"])
    assert io_log["decoded"] == []  # still lazy
    assert not sub.Raw.variable._in_memory
    sub.Raw.values  # noqa: B018
    assert sorted(io_log["decoded"]) == [(2, "Raw"), (31, "Raw")]


def test_backend_ragged_indexing_matches_numpy(store, reads):
    ds = xr.open_dataset(store, engine="sz")
    raw = np.concatenate([r[3] for r in reads])
    rng = np.random.default_rng(3)
    for key in (
        slice(None),
        slice(100, 20_000, 7),
        slice(-500, None),
        slice(50, 40),
        -1,
        12345,
        rng.integers(0, len(raw), 300),
        np.array([5, 5, 4, -3]),
        np.array([], dtype=int),
    ):
        assert np.array_equal(ds.Raw[key].values, raw[key]), key
    key2d = xr.DataArray(np.array([[0, 9], [len(raw) - 1, 3]]), dims=("a", "b"))
    assert np.array_equal(ds.Raw[key2d].values, raw[key2d.values])
    assert ds.Fastq[[3, 1]].values.tolist() == [reads[3][4], reads[1][4]]
    with pytest.raises(IndexError):
        ds.Raw[len(raw)].values  # noqa: B018


# --- dask ----------------------------------------------------------------------------


def test_backend_chunks_follow_read_boundaries(store, reads):
    ds = xr.open_dataset(store, engine="sz", chunks={}, chunk_bytes=40_000)
    starts = np.cumsum([0] + [len(r[3]) for r in reads])
    bounds = np.cumsum((0, *ds.Raw.chunks[0]))
    assert 1 < len(ds.Raw.chunks[0]) < N_READS // 2  # several reads per chunk
    read_bounds = np.cumsum((0, *ds.Offset.chunks[0]))
    assert np.array_equal(bounds, starts[read_bounds])  # chunk k of every variable: same reads
    move_starts = np.cumsum([0] + [len(r[5]) for r in reads])
    assert np.array_equal(np.cumsum((0, *ds.Move.chunks[0])), move_starts[read_bounds])
    assert ds.Fastq.chunks == ds.Offset.chunks
    ds.chunks  # noqa: B018  (consistent along every dimension)
    check_reads(ds.compute(), reads)
    sub = ds.sel(read=["read_00017", "read_00004", "read_00030"])
    assert sub.Raw.chunks is not None
    check_reads(
        sub.compute(), [by_id(reads)[i] for i in ("read_00017", "read_00004", "read_00030")]
    )


def test_backend_default_chunks_group_many_reads(tmp_path):
    path = tmp_path / "many.sz"
    rng = np.random.default_rng(0)
    with SZWriter(path, Schema.build([("ID", str)], [("Raw", np.int16)])) as w:
        w.put_many((f"r{i}", rng.integers(0, 999, 20_000).astype(np.int16)) for i in range(1000))
    ds = xr.open_dataset(path, engine="sz", chunks={})
    assert len(ds.Raw.chunks[0]) == 8  # 40 MB: an eighth each
    assert all(c % 20_000 == 0 for c in ds.Raw.chunks[0])
    assert chunk_plan(np.full(10, 5), 12).tolist() == [0, 2, 4, 6, 8, 10]
    assert chunk_plan(np.array([], dtype=np.int64), 12).tolist() == [0]


# --- selecting reads -----------------------------------------------------------------


def test_backend_sel_keeps_ragged_variables_whole(store, reads):
    ds = xr.open_dataset(store, engine="sz")
    ids = ["read_00022", "read_00003", "read_00039", "read_00003"]
    sub = ds.sel(read=ids)
    check_reads(sub, [by_id(reads)[i] for i in ids])
    assert isinstance(sub.xindexes["read"], SZReadIndex)
    again = sub.sel(read=["read_00039"])  # chained selections stay consistent
    check_reads(again, [by_id(reads)["read_00039"]])
    one = ds.sel(read="read_00011")
    assert "read" not in one.dims and one["read"].item() == "read_00011"
    assert np.array_equal(one.Raw.values, reads[11][3])
    assert np.array_equal(one.Move.values, reads[11][5])
    assert one.Raw_count.item() == len(reads[11][3])
    check_reads(ds.sel(read=slice("read_00005", "read_00008")), reads[5:9])
    mask = np.zeros(N_READS, bool)
    mask[[1, 30]] = True
    check_reads(ds.sel(read=mask), [reads[1], reads[30]])
    check_reads(ds.sel(read=xr.DataArray(["read_00007"], dims="read")), [reads[7]])


def test_backend_positional_selection_through_the_accessor(store, reads):
    ds = xr.open_dataset(store, engine="sz")
    check_reads(ds.sz.isel(read=[9, 0, -1]), [reads[9], reads[0], reads[-1]])
    check_reads(ds.sz.isel(read=slice(30, 10, -5)), reads[30:10:-5])
    assert np.array_equal(ds.sz.isel(read=-2).Raw.values, reads[-2][3])
    check_reads(ds.sz.sel(read=["read_00004"]), [reads[4]])
    with pytest.raises(IndexError):
        ds.sz.isel(read=N_READS)
    with pytest.raises(IndexError, match=str(-N_READS - 1)):
        ds.sz.isel(read=[0, -N_READS - 1])


def test_backend_unknown_read_id_is_a_keyerror_naming_it(store):
    ds = xr.open_dataset(store, engine="sz")
    with pytest.raises(KeyError, match="nope"):
        ds.sel(read=["read_00001", "nope", "nada"])
    with pytest.raises(ReadNotFoundError, match="'nope'"):
        ds.sel(read="nope")
    with pytest.raises(ReadNotFoundError, match="nope"):
        ds.sz.sel(read=["nope"])


def test_backend_plain_isel_detaches_ragged_variables(store, reads):
    ds = xr.open_dataset(store, engine="sz")
    with pytest.raises(UsageError, match=r"would move the reads but not their samples"):
        ds.isel(read=[1, 0])  # xarray cannot move samples with reads here: refused
    assert ds.Offset.isel(read=[1, 0]).values.tolist() == [reads[1][1], reads[0][1]]
    moved = ds.roll(read=1, roll_coords=True)  # roll: the samples stay, the index says so
    assert isinstance(moved.xindexes["read"], DetachedReadIndex)
    assert moved.sizes["Raw_sample"] == ds.sizes["Raw_sample"]
    with pytest.raises(UsageError, match=r"ds.sz.isel"):
        moved.sz.index  # noqa: B018
    with pytest.raises(UsageError):
        moved.sz.to_sz(store.parent / "no.sz")
    assert not (store.parent / "no.sz").exists()
    assert isinstance(ds.isel(read=slice(None)).xindexes["read"], SZReadIndex)


def test_backend_selection_without_sample_dims(store, reads):
    ds = xr.open_dataset(store, engine="sz")
    # A sub-Dataset or DataArray lacks the sample dimensions: xarray refuses the
    # sample indexers; ds.sz.sel selects what is there.
    with pytest.raises(ValueError, match="Raw_sample"):
        ds.Offset.sel(read="read_00002")
    assert ds.sel(read="read_00002").Offset.item() == reads[2][1]
    no_move = ds.drop_vars(["Move", "Move_count"])
    sub = no_move.sz.sel(read=["read_00005", "read_00001"])
    assert np.array_equal(sub.Raw.values, np.concatenate([reads[5][3], reads[1][3]]))
    # the new index only knows the dims it has
    assert np.array_equal(sub.sel(read="read_00001").Raw.values, reads[1][3])


def test_backend_drop_variables(store, reads):
    ds = xr.open_dataset(store, engine="sz", drop_variables=["Move", "Fastq"])
    assert "Move" not in ds and "Fastq" not in ds and "Move_count" in ds
    assert ds.xindexes["read"].starts.keys() == {"Raw_sample"}
    assert np.array_equal(ds.sel(read="read_00006").Raw.values, reads[6][3])
    no_ids = xr.open_dataset(store, engine="sz", drop_variables="read")
    assert "read" not in no_ids.coords
    assert np.array_equal(no_ids.sz.isel(read=[6]).Raw.values, reads[6][3])


# --- pickling, processes -------------------------------------------------------------


def test_backend_pickles_lazily(store, reads):
    ds = xr.open_dataset(store, engine="sz")
    sub = ds.sel(read=["read_00008", "read_00001"])
    copy = pickle.loads(pickle.dumps(sub))
    assert not copy.Raw.variable._in_memory  # the copy opens the store itself, as in a new process
    check_reads(copy, [reads[8], reads[1]])
    chunked = pickle.loads(pickle.dumps(xr.open_dataset(store, engine="sz", chunks={})))
    check_reads(chunked.compute(), reads)


def test_backend_refuses_a_store_replaced_after_opening(store, reads):
    ds = xr.open_dataset(store, engine="sz")
    blob = pickle.dumps(ds)
    with SZWriter(store, Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS), overwrite=True) as w:
        w.put_many(reads[::-1])
    copy = pickle.loads(blob)
    with pytest.raises(SZFormatError, match="changed since"):
        copy.Raw.values  # noqa: B018  (a copy opens the store: it is not the one pickled)
    check_reads(ds, reads)  # the Dataset opened before keeps reading the store it opened


def test_backend_dask_distributed_process_workers(store, reads):
    distributed = pytest.importorskip("distributed")
    ds = xr.open_dataset(store, engine="sz", chunks={}, chunk_bytes=30_000)
    assert len(ds.Raw.chunks[0]) > 2
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        means = ds.sz.map_reads(np.mean, "Raw").compute()
        total = client.compute(ds.Raw.astype(np.int64).sum()).result()
    assert np.allclose(means.values, [r[3].mean() for r in reads])
    assert means["read"].values.tolist() == [r[0] for r in reads]
    assert int(total) == sum(int(r[3].astype(np.int64).sum()) for r in reads)


# --- bad input -----------------------------------------------------------------------


def test_backend_not_an_sz_store_is_named(tmp_path):
    with pytest.raises(SZFormatError, match="does not exist"):
        xr.open_dataset(tmp_path / "missing.sz", engine="sz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SZFormatError, match="no 'index' and no 'dat'"):
        xr.open_dataset(tmp_path / "empty", engine="sz")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "index").write_text('#{"version": "0.4.0"}\nLENGTH\tOFFSET\n')
    with pytest.raises(SZFormatError, match="no 'dat'"):
        xr.open_dataset(tmp_path / "half", engine="sz")
    (tmp_path / "file").write_text("x")
    with pytest.raises(SZFormatError, match="is a directory"):
        xr.open_dataset(tmp_path / "file", engine="sz")


@pytest.mark.parametrize("chunks", [None, {}])
def test_backend_corrupt_frame_names_the_read(store, tmp_path, chunks):
    bad = tmp_path / "bad.sz"
    shutil.copytree(store, bad)
    with SZReader(bad) as reader:
        start = int(reader.index.frame_offset["Raw"][13])
    with open(bad / "dat", "r+b") as fh:
        fh.seek(start)
        fh.write(b"\0\0\0\0")  # the zstd magic of read 13's Raw frame
    ds = xr.open_dataset(bad, engine="sz", chunks=chunks)
    assert np.array_equal(
        ds.sel(read="read_00012").Raw.values, make_reads(N_READS, length=3000)[12][3]
    )
    with pytest.raises(SZFormatError, match=r"read 'read_00013'.*'Raw'"):
        ds.Raw.values  # noqa: B018


def test_backend_options_are_checked(store):
    with pytest.raises(UsageError, match="n_threads"):
        xr.open_dataset(store, engine="sz", n_threads=0)
    ds = xr.open_dataset(store, engine="sz", n_threads=3)
    data = ds.Raw.variable._data
    while not isinstance(data, RaggedArray):
        data = data.array
    assert data.n_threads == 3
    assert backend.default_chunk_bytes(0) == backend.MIN_CHUNK_BYTES


def test_backend_is_thread_safe(store, reads):
    ds = xr.open_dataset(store, engine="sz", cache=False)
    raw = np.concatenate([r[3] for r in reads])
    rng = np.random.default_rng(5)
    keys = [np.sort(rng.integers(0, len(raw), 2)) for _ in range(64)]

    def check(key):
        a, b = key.tolist()
        return np.array_equal(ds.Raw[a:b].values, raw[a:b])

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(check, keys))


def test_backend_close_releases_files(store):
    psutil = pytest.importorskip("psutil")
    me = psutil.Process()
    ds = xr.open_dataset(store, engine="sz")
    ds.Raw.values  # noqa: B018
    assert any(str(store) in f.path for f in me.open_files())
    ds.close()
    assert not any(str(store) in f.path for f in me.open_files())


def test_backend_empty_store_with_chunks(sz_fixtures):
    ds = xr.open_dataset(sz_fixtures / "empty", engine="sz", chunks={})
    assert ds.sizes == {"read": 0, "Raw_sample": 0, "Move_sample": 0}
    assert ds.Raw.compute().shape == (0,) and ds.Fastq.compute().shape == (0,)
    assert ds.sel(read=[]).sizes["read"] == 0


@pytest.mark.parametrize("name", ["basic", "alltypes", "signal_int16", "empty"])
def test_backend_same_layout_as_open_zarr_of_szstore(sz_fixtures, name):
    """One mapping, two faces: the engine and xr.open_zarr(SZStore) agree."""
    import xsz

    path = sz_fixtures / name
    engine = xr.open_dataset(path, engine="sz").load()
    zarr_face = xr.open_zarr(xsz.SZStore(path), chunks=None).load()
    assert_same_dataset(engine, zarr_face)  # text: object (engine) or StringDType (zarr)
