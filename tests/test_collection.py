"""Many stores as one: the read-ID index (`xsz index`, `build_index`), `Collection`,
`subset` over a collection and `open_collection`, locally, from the S3 server and over
HTTP; and the attacks: IDs held twice, stores changed, removed or added after
indexing, a damaged index file, many readers at once."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
import sys
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING

import numpy as np
import pyarrow.parquet as pq
import pytest
import xarray as xr

import xsz
import xsz.collection._build
import xsz.collection._collection
import xsz.collection._index
from tests.conftest import BUCKET, SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads, upload
from xsz.cli import main
from xsz.collection import Collection, IndexFile, build_index, find_stores, subset
from xsz.errors import DuplicateReadError, ReadNotFoundError, StaleIndexError, SZFormatError
from xsz.format import Schema, SZReader, SZWriter
from xsz.ops import merge

if TYPE_CHECKING:
    from pathlib import Path

N_STORES = 6
PER_STORE = 8
LONG = bool(os.environ.get("XSZ_LONG_TESTS"))


def write_tree(root: Path, reads: list[tuple], per_store: int = PER_STORE) -> list[Path]:
    """Stores of `per_store` reads each under `root`, in nested directories."""
    paths = []
    schema = Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)
    for k in range(0, len(reads), per_store):
        path = root / f"flowcell{k // (3 * per_store)}" / f"part{k // per_store:03d}.sz"
        with SZWriter(path, schema, header={"part": k // per_store}) as writer:
            writer.put_many(reads[k : k + per_store])
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def reads() -> list[tuple]:
    return make_reads(N_STORES * PER_STORE, length=300)


@pytest.fixture(scope="module")
def tree(tmp_path_factory, reads) -> tuple[Path, list[Path], Path]:
    """``(root, stores, index)``: a tree of stores and its index."""
    root = tmp_path_factory.mktemp("coll") / "runs"
    stores = write_tree(root, reads)
    (root / ".part-x.sz.partial-1").mkdir()  # a staging directory: not a store
    index = root.parent / "runs.xszi"
    build_index(root, index)
    return root, stores, index


@pytest.fixture(scope="module")
def merged(tree, tmp_path_factory) -> Path:
    """All stores of the tree as one store (what the collection must equal)."""
    _, stores, _ = tree
    out = tmp_path_factory.mktemp("merged") / "all.sz"
    merge(stores, out)
    return out


def copy_tree(tree, tmp_path) -> tuple[Path, list[Path], Path]:
    root, stores, _ = tree
    mine = tmp_path / "runs"
    shutil.copytree(root, mine)
    index = tmp_path / "runs.xszi"
    build_index(mine, index)
    return mine, [mine / s.relative_to(root) for s in stores], index


def read_all(store: Path | str, **options) -> dict[str, dict]:
    with SZReader(store, options or None) as r:
        return {rec["ID"]: rec for rec in r.read_many(range(len(r)))}


def same_records(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key, ra in a.items():
        rb = b[key]
        assert ra.keys() == rb.keys()
        for name in ra:
            assert np.array_equal(np.asarray(ra[name]), np.asarray(rb[name])), (key, name)


# --- finding stores, building the index -------------------------------------------------


def test_find_stores_tree_glob_and_list(tree):
    root, stores, _ = tree
    found = [r.location for r in find_stores(root)]
    assert found == [str(s) for s in stores]  # sorted, depth first, staging skipped
    assert [r.location for r in find_stores(str(root / "flowcell1" / "*.sz"))] == [
        str(s) for s in stores[3:]
    ]
    assert [r.location for r in find_stores([stores[2], root])] == [
        str(s) for s in [stores[2], *stores[:2], *stores[3:]]
    ]
    with pytest.raises(SZFormatError, match="no SZ store"):
        find_stores(root / "nothing")
    with pytest.raises(SZFormatError, match="no SZ store"):
        find_stores(str(root / "*.pod5"))


def test_index_is_every_read_sorted_with_store_row_and_counts(tree, reads):
    _, stores, index = tree
    table = pq.read_table(index)
    ids = table.column("id").to_pylist()
    assert ids == sorted(r[0] for r in reads)
    assert not any(table.column("dup").to_pylist())
    for rid, store, row, n_raw in zip(
        ids,
        table.column("store").to_pylist(),
        table.column("row").to_pylist(),
        table.column("count/Raw").to_pylist(),
        strict=True,
    ):
        with SZReader(stores[store]) as r:
            assert r.ids[row] == rid and int(r.counts("Raw")[row]) == n_raw
    f = IndexFile(index)
    assert [s.n_reads for s in f.stores] == [PER_STORE] * N_STORES
    assert f.duplicates.count == 0
    f.close()


def test_external_sort_bounded_runs_and_merge_rounds(tree, reads, tmp_path, monkeypatch):
    """Small runs, small row groups and a fan-in of 2 force spills and merge rounds;
    the result is the same index, and no run holds more than run_rows + one store."""
    root, _, index = tree
    monkeypatch.setattr(xsz.collection._index, "ROW_GROUP", 5)
    monkeypatch.setattr(xsz.collection._index, "FAN_IN", 2)
    monkeypatch.setattr(xsz.collection._index, "MERGE_ROWS", 4)
    spilled: list[int] = []
    spill = xsz.collection._index._Runs.spill

    def counting(self, tables):
        spilled.append(sum(len(t) for t in tables))
        return spill(self, tables)

    monkeypatch.setattr(xsz.collection._index._Runs, "spill", counting)
    small = tmp_path / "small.xszi"
    build_index(root, small, run_rows=10, threads=3)
    assert len(spilled) == N_STORES // 2 and max(spilled) <= 10 + PER_STORE
    want, got = pq.read_table(index), pq.read_table(small)
    assert got.equals(want.cast(got.schema))
    assert pq.ParquetFile(small).metadata.num_row_groups == -(-len(reads) // 5)
    with Collection(root, index=small) as coll:  # lookups across many row groups
        ids = [r[0] for r in reads[::5]]
        got_ids, positions = coll.locate(ids)
        assert got_ids == sorted(ids)
        assert [reads[p][0] for p in positions] == got_ids


def test_index_is_incremental(tree, reads, tmp_path, capsys):
    root, stores, _ = copy_tree(tree, tmp_path)
    index = tmp_path / "inc.xszi"
    assert main(["index", str(root), "-o", str(index), "-q"]) == 0
    assert "6 read, 0 unchanged" in capsys.readouterr().out
    more = make_reads(3, length=300, seed=7)
    more = [(f"extra_{k}", *r[1:]) for k, r in enumerate(more)]
    write_tree(root / "zz", more, per_store=3)
    shutil.rmtree(stores[1])
    report = build_index(root, index)
    assert report.read == [str(root / "zz" / "flowcell0" / "part000.sz")]
    assert report.kept == N_STORES - 1 and report.dropped == [str(stores[1])]
    assert report.n_reads == len(reads) - PER_STORE + 3
    with Collection(root, index=index) as coll:
        assert coll.locate(["extra_2"])[1].tolist() == [len(reads) - PER_STORE + 2]
        with pytest.raises(ReadNotFoundError, match=reads[PER_STORE][0]):
            coll.locate([reads[PER_STORE][0]])
    # nothing changed: nothing read
    assert build_index(root, index).read == []


# --- reading a collection -----------------------------------------------------------------


def test_open_collection_equals_the_merged_store(tree, merged):
    root, _, index = tree
    want = xr.open_dataset(merged, engine="sz").load()
    for got in (
        xsz.open_collection(root, index=index),
        xsz.open_collection(index=index),
        xsz.open_collection(root),  # no index: one is built on the fly
    ):
        loaded = got.load()
        assert list(loaded.variables) == list(want.variables)
        for name in want.variables:
            assert loaded[name].dims == want[name].dims
            assert loaded[name].attrs == want[name].attrs
            np.testing.assert_array_equal(loaded[name].values, want[name].values)
        got.close()


def test_open_collection_sel_and_dask_chunks(tree, merged, reads):
    root, _, index = tree
    want = xr.open_dataset(merged, engine="sz")
    ids = [reads[k][0] for k in (40, 3, 17, 18)]
    ds = xsz.open_collection(root, index=index)
    sub = ds.sel(read=ids)
    for name in ("Raw", "Move", "Fastq", "Offset", "Raw_unit", "Raw_count"):
        np.testing.assert_array_equal(sub[name].values, want.sel(read=ids)[name].values)
    chunked = xsz.open_collection(root, index=index, chunks={}, chunk_bytes=1)
    edges = np.cumsum((0, *chunked.chunks["read"]))
    assert set(range(0, len(reads) + 1, PER_STORE)) <= set(edges.tolist())  # cut at stores
    assert int(chunked.Raw.sum().compute()) == int(want.Raw.sum())
    medians = chunked.sz.map_reads(np.median, "Raw").compute()
    np.testing.assert_array_equal(
        medians.values, [np.median(r[3]) for r in sorted(reads, key=lambda r: r[0])]
    )
    copy = pickle.loads(pickle.dumps(ds))  # by stores, as dask workers get it
    np.testing.assert_array_equal(copy.sel(read=ids).Raw.values, want.sel(read=ids).Raw.values)
    ds.close()


class StoreOpens:
    """Counts the store directories opened (an audit hook: the real ``os.open`` calls)."""

    def __init__(self, stores: list[Path]) -> None:
        self.stores = {str(s): s for s in stores}
        self.opened: list[str] = []
        self.on = False
        sys.addaudithook(self)

    def __call__(self, event: str, args: tuple) -> None:
        if self.on and event == "open" and isinstance(args[0], str) and args[0] in self.stores:
            self.opened.append(args[0])


def test_sel_opens_only_the_stores_it_needs(tree, reads):
    root, stores, index = tree
    counter = StoreOpens(stores)
    ds = xsz.open_collection(root, index=index, chunks=None)
    counter.opened.clear()
    counter.on = True
    sub = ds.sel(read=[reads[k][0] for k in (41, 44, 2)])  # stores 5 and 0
    assert counter.opened == []  # selecting is a lookup in memory
    assert len(sub.Raw.values) == sum(len(reads[k][3]) for k in (41, 44, 2))
    assert sub.Offset.values.tolist() == [reads[k][1] for k in (41, 44, 2)]
    counter.on = False
    assert sorted(set(counter.opened)) == sorted(str(stores[k]) for k in (0, 5))
    assert len(counter.opened) == 2  # each opened once, then kept
    ds.close()


def test_subset_copies_only_wanted_reads(tree, reads, tmp_path):
    root, stores, index = tree
    wanted = [reads[k][0] for k in (47, 1, 9, 10, 30, 1)]
    counter = StoreOpens(stores)
    counter.on = True
    n = subset(root, wanted, tmp_path / "sub.sz", index=index)
    counter.on = False
    assert n == 5  # an ID listed twice is copied once
    assert sorted(set(counter.opened)) == sorted(str(stores[k]) for k in (0, 1, 3, 5))
    got = read_all(tmp_path / "sub.sz")
    assert list(got) == sorted(set(wanted))  # collection order
    every = {}
    for s in stores:
        every.update(read_all(s))
    same_records(got, {k: every[k] for k in got})
    with pytest.raises(ReadNotFoundError, match="nope"):
        subset(root, ["nope", reads[0][0]], tmp_path / "none.sz", index=index)
    assert not (tmp_path / "none.sz").exists()


def test_cli_index_and_subset(tree, reads, tmp_path, capsys):
    root, _, index = tree
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(reads[k][0] for k in (3, 33, 20)) + "\n")
    assert main(["subset", str(root), "--ids", str(ids), str(tmp_path / "a.sz"), "-q"]) == 0
    assert main(["subset", "--index", str(index), "--ids", str(ids), str(tmp_path / "b.sz")]) == 0
    a, b = read_all(tmp_path / "a.sz"), read_all(tmp_path / "b.sz")
    assert list(a) == list(b) == sorted(reads[k][0] for k in (3, 33, 20))
    same_records(a, b)
    capsys.readouterr()
    assert main(["subset", str(root), "--ids", str(ids), str(tmp_path / "a.sz"), "-q"]) == 1
    assert "--force" in capsys.readouterr().err


# --- the same from object storage ------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_tree(s3_server, tree) -> tuple[str, dict, list[str]]:
    _, options = s3_server
    root, stores, _ = tree
    base = f"s3://{BUCKET}/{root.parent.name}/runs"
    urls = []
    for s in stores:
        url = f"{base}/{s.relative_to(root).as_posix()}"
        upload(s, url, options)
        urls.append(url)
    return base, options, urls


def test_s3_collection_matches_local(s3_tree, tree, merged, reads, tmp_path):
    base, options, urls = s3_tree
    root, _, _ = tree
    index = tmp_path / "s3.xszi"
    report = build_index(base, index, storage_options=options)
    assert report.read == urls
    assert (
        pq.read_table(index)
        .drop_columns(["store"])
        .equals(pq.read_table(tree[2]).drop_columns(["store"]))
    )
    assert build_index(base, index, storage_options=options).read == []  # stamps by listing
    globbed = find_stores(f"{base}/flowcell1/*.sz", options)
    assert [r.location for r in globbed] == urls[3:]
    assert [r.location for r in find_stores(urls[4], options)] == [urls[4]]
    want = xr.open_dataset(merged, engine="sz").load()
    ds = xsz.open_collection(base, index=index, storage_options=options)
    ids = [reads[k][0] for k in (45, 0, 22)]
    for name in ("Raw", "Move", "Fastq", "Offset"):
        np.testing.assert_array_equal(ds.sel(read=ids)[name].values, want.sel(read=ids)[name])
    np.testing.assert_array_equal(ds.Raw.values, want.Raw.values)
    ds.close()
    n = subset(base, ids, tmp_path / "s3.sz", index=index, storage_options=options)
    assert n == 3
    local = tmp_path / "local.sz"
    subset(root, ids, local, index=tree[2])
    assert (tmp_path / "s3.sz" / "dat").read_bytes() == (local / "dat").read_bytes()
    same_records(read_all(tmp_path / "s3.sz"), read_all(local))


def test_s3_store_replaced_after_indexing_is_refused(s3_server, tree, tmp_path, reads):
    _, options = s3_server
    _, stores, _ = tree
    base = f"s3://{BUCKET}/stale-{tmp_path.name}"
    for k, s in enumerate(stores[:3]):
        upload(s, f"{base}/p{k}.sz", options)
    index = tmp_path / "s3.xszi"
    build_index(base, index, storage_options=options)
    ds = xsz.open_collection(base, index=index, storage_options=options)
    upload(stores[4], f"{base}/p1.sz", options)  # p1 is another store now
    with pytest.raises(StaleIndexError, match=r"p1\.sz changed"):
        xsz.open_collection(base, index=index, storage_options=options)
    with pytest.raises(StaleIndexError, match=r"p1\.sz changed"):  # the open Dataset too
        _ = ds.sel(read=[reads[PER_STORE][0]]).Raw.values
    ds.close()


def test_http_collection_costs_requests_of_wanted_stores_only(tree, reads, tmp_path):
    from tests.test_remote import RangeHandler

    root, stores, _ = tree
    log: list[tuple[str, str, str | None]] = []
    handler = type("Handler", (RangeHandler,), {"log": log})
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        urls = [f"{base}/{s.relative_to(root).as_posix()}" for s in stores]
        index = tmp_path / "http.xszi"
        build_index(urls, index)
        log.clear()
        ds = xsz.open_collection(urls, index=index)
        assert log == []  # stores named one by one: checked when opened, not before
        ids = [reads[k][0] for k in (17, 16, 19)]  # all in store 2
        raw = ds.sel(read=ids).Raw.values
        paths = {p.rsplit("/", 1)[0] for _, p, _ in log}
        assert paths == {"/" + stores[2].relative_to(root).as_posix()}
        dat_gets = [r for c, p, r in log if p.endswith("/dat") and c == "GET"]
        assert len(dat_gets) == 1  # three neighbouring reads: one coalesced range GET
        np.testing.assert_array_equal(raw, np.concatenate([reads[k][3] for k in (17, 16, 19)]))
        ds.close()
    finally:
        server.shutdown()
        server.server_close()


# --- attacks ----------------------------------------------------------------------------------


def test_duplicate_id_across_stores(tree, reads, tmp_path, capsys):
    root, _, _ = copy_tree(tree, tmp_path)
    twin = [(reads[3][0], *reads[20][1:])]  # store 0's read 3 again, other values
    schema = Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)
    with SZWriter(root / "zz" / "twin.sz", schema) as writer:
        writer.put_many(twin)
    index = tmp_path / "dup.xszi"
    report = build_index(root, index)
    assert report.duplicates.count == 1
    assert report.duplicates.sample == [(reads[3][0], [0, N_STORES])]
    with pytest.raises(DuplicateReadError, match=r"part000.sz, .*twin.sz"):
        subset(root, [reads[3][0]], tmp_path / "x.sz", index=index)
    assert not (tmp_path / "x.sz").exists()
    subset(root, [reads[3][0], reads[4][0]], tmp_path / "x.sz", index=index, on_duplicate="first")
    got = read_all(tmp_path / "x.sz")
    np.testing.assert_array_equal(got[reads[3][0]]["Raw"], reads[3][3])  # store 0's copy
    with pytest.raises(DuplicateReadError, match="1 read IDs are held more than once"):
        xsz.open_collection(root, index=index)
    assert main(["index", str(root), "-o", str(tmp_path / "cli.xszi"), "-q"]) == 0
    err = capsys.readouterr().err
    assert "1 read IDs are in more than one store" in err and reads[3][0] in err
    ids = tmp_path / "ids.txt"
    ids.write_text(reads[3][0])
    argv = ["subset", str(root), "--ids", str(ids), str(tmp_path / "y.sz"), "-q"]
    assert main([*argv, "--index", str(index)]) == 1
    assert "--first" in capsys.readouterr().err
    assert main([*argv, "--index", str(index), "--first"]) == 0


def test_store_removed_changed_or_added_after_indexing(tree, reads, tmp_path):
    root, stores, index = copy_tree(tree, tmp_path)
    ds = xsz.open_collection(root, index=index)
    # changed: store 2 rewritten with other reads (same path)
    shutil.rmtree(stores[2])
    write_tree(tmp_path / "other", reads[:PER_STORE])
    shutil.copytree(tmp_path / "other" / "flowcell0" / "part000.sz", stores[2])
    with pytest.raises(StaleIndexError, match=r"part002\.sz changed since"):
        xsz.open_collection(root, index=index)
    with pytest.raises(StaleIndexError, match=r"part002\.sz changed since"):
        xsz.open_collection(index=index)
    with pytest.raises(StaleIndexError, match=r"part002\.sz changed since"):
        subset(root, [reads[17][0]], tmp_path / "s.sz", index=index)
    with pytest.raises(StaleIndexError, match=r"part002\.sz changed since"):
        _ = ds.sel(read=[reads[17][0]]).Raw.values  # the Dataset opened before the change
    np.testing.assert_array_equal(ds.sel(read=[reads[1][0]]).Raw.values, reads[1][3])
    ds.close()
    # removed
    shutil.rmtree(stores[2])
    with pytest.raises(StaleIndexError, match="1 indexed but not found"):
        xsz.open_collection(root, index=index)
    with pytest.raises(StaleIndexError, match=r"part002\.sz is indexed"):
        xsz.open_collection(index=index)
    # added
    build_index(root, index)
    write_tree(root / "zz", [(f"new_{k}", *r[1:]) for k, r in enumerate(reads[:2])], 2)
    with pytest.raises(StaleIndexError, match="1 not in the index"):
        subset(root, [reads[0][0]], tmp_path / "s.sz", index=index)
    assert build_index(root, index).read == [str(root / "zz" / "flowcell0" / "part000.sz")]
    subset(root, ["new_1"], tmp_path / "s.sz", index=index)


def flips(n: int) -> range:
    return range(n) if LONG else range(0, n, 17)


def test_damaged_index_file_is_an_error_never_a_wrong_answer(tree, reads, tmp_path):
    root, _, index = tree
    data = index.read_bytes()
    with Collection(root, index=index) as coll:
        want_ids, want_counts = coll.ids_and_counts()
        want_at = coll.locate([r[0] for r in reads])[1]
    bad = tmp_path / "bad.xszi"
    caught = 0
    for at in flips(len(data)):
        damaged = bytearray(data)
        damaged[at] ^= 0x5A
        bad.write_bytes(bytes(damaged))
        try:
            with Collection(index=bad, check=False) as coll:
                ids, counts = coll.ids_and_counts()
                at_ = coll.locate([r[0] for r in reads])[1]
        except SZFormatError:
            caught += 1
            continue
        # a byte no answer depends on (e.g. the writer's name): the answers are the same
        assert ids.tolist() == want_ids.tolist(), at
        assert all(np.array_equal(counts[k], want_counts[k]) for k in counts), at
        assert at_.tolist() == want_at.tolist(), at
    assert caught > len(flips(len(data))) * 0.8
    for damaged in (data[: len(data) // 2], data[:-1], b"", b"PAR1" + data[4:100], b"not parquet"):
        bad.write_bytes(damaged)
        with pytest.raises(SZFormatError, match="not a valid xsz collection index"):
            Collection(index=bad, check=False)
    pq.write_table(pq.read_table(index), bad)  # a Parquet file without xsz's metadata
    with pytest.raises(SZFormatError, match="without xsz's collection metadata"):
        Collection(index=bad, check=False)
    bad.write_bytes(data[:-9] + b"x" + data[-8:])
    assert main(["subset", "--index", str(bad), "--ids", os.devnull, str(tmp_path / "o.sz")]) == 1
    with pytest.raises(SZFormatError, match="not a valid"):
        build_index(root, bad)  # not silently replaced
    assert build_index(root, bad, rebuild=True).read  # unless asked


def _read_sel(ds: xr.Dataset, ids: list[str]) -> np.ndarray:
    return ds.sel(read=ids).Raw.values


def test_many_concurrent_readers_of_one_collection(tree, reads, monkeypatch):
    root, _, index = tree
    monkeypatch.setattr(xsz.collection._collection, "MAX_OPEN", 2)  # stores evicted under load
    by_id = {r[0]: r for r in reads}
    ds = xsz.open_collection(root, index=index)
    rng = np.random.default_rng(3)
    picks = [
        rng.choice(len(reads), size=5, replace=False).tolist()
        for _ in range(24 if not LONG else 400)
    ]

    def work(pick: list[int]) -> None:
        ids = [reads[k][0] for k in pick]
        np.testing.assert_array_equal(
            _read_sel(ds, ids), np.concatenate([by_id[i][3] for i in ids])
        )
        assert ds.sel(read=ids).Offset.values.tolist() == [by_id[i][1] for i in ids]

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, picks))
    ids = [[reads[k][0] for k in pick] for pick in picks[:6]]
    spawn = multiprocessing.get_context("spawn")  # as dask's workers: fresh processes
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:  # each opens stores itself
        got = list(pool.map(_read_sel, [ds] * len(ids), ids))
    for g, i in zip(got, ids, strict=True):
        np.testing.assert_array_equal(g, np.concatenate([by_id[x][3] for x in i]))
    ds.close()


def test_put_frames_many_refuses_a_bad_batch_whole(tree, tmp_path):
    """The batch copy `subset` uses: a bad record refuses its whole batch, nothing of
    it written; the batches before stay."""
    from xsz.errors import RecordError

    _, stores, _ = tree
    with SZReader(stores[0]) as r:
        names = [f.name for f in r.schema.datasets]
        frames = r.frames([0, 1, 2], names)
        attrs = [[r.index.attribute(f.name)[k] for f in r.schema.attributes] for k in range(3)]
        counts = [
            [None if n not in r.index.count else int(r.index.count[n][k]) for n in names]
            for k in range(3)
        ]
        schema, header = r.schema, r.header
        with SZWriter(tmp_path / "b.sz", schema, header=header) as w:
            w.put_frames_many([(attrs[0], frames[0], counts[0])])
            bad = [(attrs[1], frames[1], counts[1]), (attrs[2], frames[2][:1], counts[2])]
            with pytest.raises(RecordError, match="expected 3 frames"):
                w.put_frames_many(bad)
            with pytest.raises(DuplicateReadError):
                w.put_frames_many([(attrs[1], frames[1], counts[1])] * 2)
        with SZReader(tmp_path / "b.sz") as out:
            assert out.ids.tolist() == [r.ids[0]]
            assert np.array_equal(out.read(0)["Raw"], r.read(0)["Raw"])


def test_empty_store_and_schema_mismatch(tree, reads, tmp_path):
    from xsz.errors import SchemaError

    root, _, _ = copy_tree(tree, tmp_path)
    with SZWriter(root / "flowcell0" / "part000b.sz", Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)):
        pass  # a store with no reads
    index = tmp_path / "e.xszi"
    assert build_index(root, index).n_reads == len(reads)
    ds = xsz.open_collection(root, index=index, chunks={})
    assert ds.sizes["read"] == len(reads)
    np.testing.assert_array_equal(ds.sel(read=[reads[9][0]]).Raw.values, reads[9][3])
    ds.close()
    with SZWriter(root / "odd.sz", Schema.build([("ID", str)], [("Raw", np.int16)])) as w:
        w.put_many([("odd", np.arange(3))])
    with pytest.raises(SchemaError, match=r"odd\.sz has the columns"):
        build_index(root, index)
    shutil.rmtree(root / "odd.sz")
    with SZWriter(root / "noid.sz", Schema.build([("Offset", np.int32)], [("Raw", np.int16)])) as w:
        w.put_many([(1, np.arange(3))])
    with pytest.raises(SchemaError, match="no text ID attribute"):
        build_index(tmp_path / "runs" / "noid.sz", tmp_path / "n.xszi")


def test_subset_of_every_type_is_byte_identical_to_one_store_subset(sz_fixtures, tmp_path):
    """Attributes are formatted column by column (each distinct value once) when a
    collection is copied: the same index text and frames as the one-store subset,
    which formats value by value; F128, F16, NaN and extremes included."""
    from xsz.ops import subset as subset_one

    src = sz_fixtures / "alltypes"
    with SZReader(src) as r:
        ids = r.ids.tolist()
    subset_one(src, ids, tmp_path / "one.sz")
    subset([src], ids, tmp_path / "coll.sz")
    for name in ("dat", "index", "checksums"):
        assert (tmp_path / "one.sz" / name).read_bytes() == (
            tmp_path / "coll.sz" / name
        ).read_bytes(), name


def test_put_frames_columns_refuses_bad_columns_whole(tree, tmp_path):
    from xsz.errors import RecordError

    _, stores, _ = tree
    with SZReader(stores[0]) as r:
        names = [f.name for f in r.schema.datasets]
        rows = np.array([0, 1])
        frames = r.frames(rows, names)
        columns = [r.index.attribute(f.name)[rows] for f in r.schema.attributes]
        counts = [
            [None if n not in r.index.count else int(r.index.count[n][k]) for n in names]
            for k in rows
        ]
        with SZWriter(tmp_path / "c.sz", r.schema, header=r.header) as w:
            with pytest.raises(RecordError, match="attribute columns"):
                w.put_frames_columns([c[:1] for c in columns], frames, counts)
            bad = [c.copy() for c in columns]
            bad[1] = np.array([5, 2**40])  # Offset is int32
            with pytest.raises(RecordError, match=r"does not fit int32"):
                w.put_frames_columns(bad, frames, counts)
            w.put_frames_columns(columns, frames, counts)
        with SZReader(tmp_path / "c.sz") as out:
            assert out.ids.tolist() == r.ids[:2].tolist()
            assert out.index.attribute("Offset").tolist() == columns[1].tolist()
