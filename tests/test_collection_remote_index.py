"""A collection's read-ID index in object storage (issue 12): `build_index` to an
``s3://`` URL (built locally, uploaded whole), read back by range GETs of the
version found at open; the same answers as a local index from `Collection`,
`open_collection`, `subset` and the command line; brought up to date in place; a
damaged, replaced or missing remote index refused by name; pickled copies that
open it again by URL. Against conftest's moto S3 server on loopback."""

from __future__ import annotations

import pickle
import uuid
from typing import TYPE_CHECKING

import numpy as np
import obstore
import pyarrow.parquet as pq
import pytest
import xarray as xr

import xsz
import xsz.collection._index
import xsz.source._file
from tests.conftest import BUCKET, SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads, upload
from xsz.cli import main
from xsz.collection import Collection, IndexFile, build_index, subset
from xsz.errors import SZFormatError, UsageError
from xsz.format import Schema, SZReader, SZWriter
from xsz.ops import merge

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("moto.server")

N_STORES = 5
PER_STORE = 10
SCHEMA = Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)


def write_store(path: Path, reads: list[tuple]) -> Path:
    with SZWriter(path, SCHEMA) as writer:
        writer.put_many(reads)
    return path


@pytest.fixture(scope="module")
def reads() -> list[tuple]:
    return make_reads(N_STORES * PER_STORE, length=300, seed=21)


@pytest.fixture(scope="module")
def local(tmp_path_factory, reads) -> tuple[Path, list[Path], Path, Path]:
    """``(root, stores, index, merged)``: stores on disk, their local index, and all of
    them as one store."""
    base = tmp_path_factory.mktemp("remote-index")
    root = base / "runs"
    stores = [
        write_store(root / f"part{k}.sz", reads[k * PER_STORE : (k + 1) * PER_STORE])
        for k in range(N_STORES)
    ]
    index = base / "runs.xszi"
    build_index(root, index)
    merged = base / "all.sz"
    merge(stores, merged)
    return root, stores, index, merged


@pytest.fixture
def remote(s3_server, local) -> tuple[str, dict, list[str]]:
    """The stores uploaded under a prefix of their own: ``(prefix, options, urls)``."""
    _, options = s3_server
    _, stores, _, _ = local
    base = f"s3://{BUCKET}/{uuid.uuid4().hex[:10]}"
    urls = []
    for k, s in enumerate(stores):
        upload(s, f"{base}/runs/part{k}.sz", options)
        urls.append(f"{base}/runs/part{k}.sz")
    return base, options, urls


def get(url: str, options: dict) -> bytes:
    parent, key = url.rsplit("/", 1)
    return bytes(obstore.get(obstore.store.from_url(parent, **options), key).bytes())


def put(url: str, options: dict, data: bytes) -> None:
    parent, key = url.rsplit("/", 1)
    obstore.put(obstore.store.from_url(parent, **options), key, data)


def test_index_built_to_s3_answers_as_the_local_one(remote, local, reads, tmp_path):
    base, options, urls = remote
    root, _, local_index, merged = local
    url = f"{base}/runs.xszi"
    report = build_index(f"{base}/runs", url, storage_options=options)
    assert report.path == url and report.read == urls and report.n_reads == len(reads)
    # the object is an index file; rows equal the local index's (same stores, same order)
    (tmp_path / "got.xszi").write_bytes(get(url, options))
    assert pq.read_table(tmp_path / "got.xszi").equals(pq.read_table(local_index))
    assert not list(tmp_path.glob("xsz-index-*"))  # nothing left behind locally
    # open_collection: every variable the same as the merged store's
    want = xr.open_dataset(merged, engine="sz").load()
    for got in (
        xsz.open_collection(f"{base}/runs", index=url, storage_options=options),
        xsz.open_collection(index=url, storage_options=options),
    ):
        ids = [reads[k][0] for k in (41, 3, 27)]
        for name in ("Raw", "Move", "Fastq", "Offset"):
            np.testing.assert_array_equal(got.sel(read=ids)[name].values, want.sel(read=ids)[name])
        np.testing.assert_array_equal(got.Raw.values, want.Raw.values)
        np.testing.assert_array_equal(got.read.values, want.read.values)
        got.close()
    # subset through the remote index: the same bytes as through the local one
    ids = [reads[k][0] for k in (7, 48, 20, 21)]
    assert subset(None, ids, tmp_path / "a.sz", index=url, storage_options=options) == 4
    subset(root, ids, tmp_path / "b.sz", index=local_index)
    for name in ("dat", "index"):
        assert (tmp_path / "a.sz" / name).read_bytes() == (tmp_path / "b.sz" / name).read_bytes()
    # file:// names a local index
    as_file = (tmp_path / "f.xszi").as_uri()
    assert build_index(root, as_file).path == tmp_path / "f.xszi"
    with Collection(index=as_file) as coll:
        assert coll.locate([reads[5][0]])[1].tolist() == [5]


def test_remote_index_reads_only_the_row_groups_a_lookup_needs(remote, reads, monkeypatch):
    base, options, _ = remote
    monkeypatch.setattr(xsz.collection._index, "ROW_GROUP", 8)  # 7 row groups
    url = f"{base}/small-groups.xszi"
    build_index(f"{base}/runs", url, storage_options=options)
    data = get(url, options)
    footer = int.from_bytes(data[-8:-4], "little") + 8
    assert footer < len(data) - 1000  # the rows are before it
    monkeypatch.setattr(xsz.source._file, "TAIL", footer)  # the footer only, not the rows
    with IndexFile(url, options) as index:
        assert index.remote is not None and len(index.groups) == 7
        assert index.remote.gets == 1  # opening: one GET of the tail
        wanted = sorted(r[0] for r in reads)[20]  # in row group 2
        ids, stores, rows = index.lookup([wanted])
        assert index.remote.gets == 2  # one row group, its column chunks in one GET
        assert ids == [wanted]
        at = [r[0] for r in reads].index(wanted)
        assert (stores[0], rows[0]) == divmod(at, PER_STORE)
        # every row group: contiguous, fetched in one GET per window of PREFETCH groups
        assert len(index.lookup([r[0] for r in reads])[0]) == len(reads)
        assert index.remote.gets == 3
        monkeypatch.setattr(xsz.collection._index, "PREFETCH", 2)
        assert sum(len(t) for t in index.batches()) == len(reads)
        assert index.remote.gets == 3 + 4  # 7 groups, 2 at a time
    monkeypatch.setattr(xsz.source._file, "TAIL", 1 << 20)
    with IndexFile(url, options) as index:  # a small file: all of it in the first GET
        assert index.remote is not None and index.remote.size == len(data)
        index.lookup([r[0] for r in reads])
        assert index.remote.gets == 1


def test_remote_index_is_brought_up_to_date_in_place(remote, local, reads, tmp_path, capsys):
    base, options, urls = remote
    url = f"{base}/inc.xszi"
    first = build_index(f"{base}/runs", url, storage_options=options)
    assert first.read == urls
    # a store added, one removed: only the new one is read, the old rows are kept
    extra = [(f"extra_{k}", *r[1:]) for k, r in enumerate(make_reads(3, length=300, seed=3))]
    write_store(tmp_path / "extra.sz", extra)
    upload(tmp_path / "extra.sz", f"{base}/runs/zz.sz", options)
    store = obstore.store.from_url(f"{base}/runs/part1.sz", **options)
    for name in ("index", "dat", "checksums"):
        obstore.delete(store, name)
    report = build_index(f"{base}/runs", url, storage_options=options)
    assert report.read == [f"{base}/runs/zz.sz"]
    assert report.kept == N_STORES - 1 and report.dropped == [urls[1]]
    assert report.n_reads == len(reads) - PER_STORE + 3
    with Collection(f"{base}/runs", index=url, storage_options=options) as coll:
        assert coll.locate(["extra_2"])[1].tolist() == [len(reads) - PER_STORE + 2]
        ids, _ = coll.ids_and_counts()
        assert sorted(ids) == sorted(
            [r[0] for r in reads[:PER_STORE] + reads[2 * PER_STORE :]] + [r[0] for r in extra]
        )
    assert build_index(f"{base}/runs", url, storage_options=options).read == []
    # the same from the command line, options with -S
    flags = [x for k, v in cli_options(options).items() for x in ("-S", f"{k}={v}")]
    assert main(["index", f"{base}/runs", "-o", url, "-q", *flags]) == 0
    assert "0 read, 5 unchanged, 0 dropped" in capsys.readouterr().out
    assert main(["index", f"{base}/runs", "-o", url, "-q", "--rebuild", *flags]) == 0
    assert "5 read, 0 unchanged" in capsys.readouterr().out


def cli_options(options: dict) -> dict[str, str]:
    flat = {k: v for k, v in options.items() if k != "client_options"}
    return {**flat, "allow_http": "true"}


def test_cli_index_and_subset_with_a_remote_index(
    remote, local, reads, tmp_path, capsys, s3_server
):
    base, options, _ = remote
    root, _, local_index, _ = local
    url = f"{base}/cli.xszi"
    flags = [x for k, v in cli_options(options).items() for x in ("-S", f"{k}={v}")]
    assert main(["index", f"{base}/runs", "-o", url, "-q", *flags]) == 0
    assert f"{url}: {len(reads)} reads in {N_STORES} stores" in capsys.readouterr().out
    ids = tmp_path / "ids.txt"
    wanted = [reads[k][0] for k in (3, 33, 20, 49)]
    ids.write_text("\n".join(wanted) + "\n")
    args = ["subset", "--index", url, "--ids", str(ids), "-q"]
    assert main([*args, str(tmp_path / "a.sz"), *flags]) == 0
    # the stores named too: checked against the index's list
    assert main([*args, f"{base}/runs", str(tmp_path / "b.sz"), *flags]) == 0
    subset(root, wanted, tmp_path / "want.sz", index=local_index)
    for name in ("a.sz", "b.sz"):
        assert (tmp_path / name / "dat").read_bytes() == (tmp_path / "want.sz" / "dat").read_bytes()


def test_cli_remote_index_with_options_from_the_environment(
    remote, reads, tmp_path, capsys, s3_env
):
    base, _, _ = remote
    url = f"{base}/env.xszi"
    assert main(["index", f"{base}/runs", "-o", url, "-q"]) == 0
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{reads[12][0]}\n{reads[40][0]}\n")
    assert main(["subset", "--index", url, "--ids", str(ids), str(tmp_path / "o.sz"), "-q"]) == 0
    with SZReader(tmp_path / "o.sz") as r:
        assert sorted(r.ids) == sorted([reads[12][0], reads[40][0]])
    capsys.readouterr()
    # no index there: one line naming it, exit code of a format error
    missing = f"{base}/nothing.xszi"
    assert main(["subset", "--index", missing, "--ids", str(ids), str(tmp_path / "x.sz")]) != 0
    assert f"no collection index at {missing}" in capsys.readouterr().err


def test_damaged_remote_index_is_refused_by_name(remote, local, reads, tmp_path):
    base, options, _ = remote
    url = f"{base}/bad.xszi"
    good = f"{base}/good.xszi"
    build_index(f"{base}/runs", good, storage_options=options)
    data = get(good, options)
    with Collection(index=good, storage_options=options) as coll:
        want_ids, want_counts = coll.ids_and_counts()
    # a byte of the rows (a data page) and a byte of the footer's own metadata (an ID
    # the metadata names as a row group's first)
    first_id = min(r[0] for r in reads).encode()
    in_meta = data.rindex(first_id) + 3
    positions = [*range(8, len(data) - 8, max(len(data) // 40, 1)), in_meta]
    caught: list[str] = []
    for at in positions:
        damaged = bytearray(data)
        damaged[at] ^= 0x5A
        put(url, options, bytes(damaged))
        try:
            with Collection(index=url, storage_options=options, check=False) as coll:
                ids, counts = coll.ids_and_counts()
        except SZFormatError as exc:
            caught.append(str(exc))
            continue
        # a byte no answer depends on (the writer's name, say): the same answers
        assert ids.tolist() == want_ids.tolist(), at
        assert all(np.array_equal(counts[k], want_counts[k]) for k in counts), at
    assert len(caught) >= len(positions) * 0.8
    assert all(url in message for message in caught), caught
    damaged = bytearray(data)
    damaged[in_meta] ^= 0x01
    put(url, options, bytes(damaged))
    with pytest.raises(SZFormatError, match=f"{url} is not a valid xsz collection index"):
        xsz.open_collection(index=url, storage_options=options)
    with pytest.raises(SZFormatError, match=f"{url} is not a valid"):
        subset(None, [reads[0][0]], tmp_path / "o.sz", index=url, storage_options=options)
    assert not (tmp_path / "o.sz").exists()
    with pytest.raises(SZFormatError, match=f"{url} is not a valid"):
        build_index(f"{base}/runs", url, storage_options=options)  # not silently replaced
    assert get(url, options) == bytes(damaged)
    assert build_index(f"{base}/runs", url, storage_options=options, rebuild=True).read
    assert get(url, options) == data  # unless asked
    put(url, options, data[: len(data) // 2])
    with pytest.raises(SZFormatError, match=f"{url} is not a valid"):
        IndexFile(url, options)
    with pytest.raises(UsageError, match="names no object"):
        build_index(f"{base}/runs", f"s3://{BUCKET}/", storage_options=options)


def test_remote_index_replaced_while_open_is_refused(remote, reads, monkeypatch):
    base, options, _ = remote
    url = f"{base}/moving.xszi"
    monkeypatch.setattr(xsz.collection._index, "ROW_GROUP", 8)
    build_index(f"{base}/runs", url, storage_options=options)
    data = get(url, options)
    # the footer at open; the rows are read after
    monkeypatch.setattr(xsz.source._file, "TAIL", int.from_bytes(data[-8:-4], "little") + 8)
    coll = Collection(index=url, storage_options=options, check=False)
    assert coll.locate([reads[0][0]])[1].tolist() == [0]
    build_index(f"{base}/runs/part[0-2].sz", url, storage_options=options)  # replaced
    with pytest.raises(SZFormatError, match=f"{url} changed since it was opened"):
        coll.locate([r[0] for r in reads])
    coll.close()
    with Collection(index=url, storage_options=options, check=False) as again:  # opened anew
        assert len(again) == 3 * PER_STORE


def test_pickled_collection_carries_the_index_url(remote, reads, tmp_path):
    base, options, _ = remote
    url = f"{base}/pickled.xszi"
    build_index(f"{base}/runs", url, storage_options=options)
    with Collection(f"{base}/runs", index=url, storage_options=options) as coll:
        copy = pickle.loads(pickle.dumps(coll))
    try:
        assert copy.index_path == url and copy.storage_options == options
        wanted = [reads[k][0] for k in (44, 9)]
        ids, at = copy.locate(wanted)
        assert ids == sorted(wanted) and at.tolist() == [
            44 if i == reads[44][0] else 9 for i in ids
        ]
    finally:
        copy.close()
    # an index built on the fly is temporary: a copy has none to open
    with Collection(f"{base}/runs", storage_options=options) as coll:
        copy = pickle.loads(pickle.dumps(coll))
    with pytest.raises(UsageError, match="no index"):
        copy.locate([reads[0][0]])
