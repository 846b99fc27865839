"""Reading SZ stores from object storage: a real S3 server (moto) and an HTTP
server with byte ranges, both on 127.0.0.1, started here. Every face must give
the same values remotely as locally, and the integrity checks must hold."""

from __future__ import annotations

import email.utils
import pickle
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.conftest import BUCKET, SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads, upload
from xsz.api import CompressedFile
from xsz.cli import main
from xsz.errors import SZFormatError, UsageError
from xsz.format import Schema, SZReader, SZWriter
from xsz.ops import info, verify
from xsz.source import LocalSource, ObjectSource, open_source

obstore = pytest.importorskip("obstore")
moto_server = pytest.importorskip("moto.server")

N_READS = 24


@pytest.fixture(scope="module")
def local_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("remote") / "run.sz"
    schema = Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)
    with SZWriter(path, schema, header={"run": "remote"}) as writer:
        writer.put_many(make_reads(N_READS, length=600))
    return path


@pytest.fixture(scope="module")
def s3_store(s3_server, local_store) -> tuple[str, dict]:
    _, options = s3_server
    url = f"s3://{BUCKET}/{local_store.parent.name}/run.sz"
    upload(local_store, url, options)
    return url, options


class RangeHandler(SimpleHTTPRequestHandler):
    """Static files with ``Range: bytes=a-b`` and an ETag; counts requests."""

    log: list[tuple[str, str, str | None]]

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, *, body: bool) -> None:
        self.log.append((self.command, self.path, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        st = path.stat()
        start, stop, status = 0, len(data), 200
        wanted = self.headers.get("Range")
        if wanted:
            a, _, b = wanted.removeprefix("bytes=").partition("-")
            start, stop, status = int(a), min(int(b) + 1 if b else len(data), len(data)), 206
            if start >= len(data):
                self.send_error(416)
                return
        self.send_response(status)
        self.send_header("Content-Length", str(stop - start))
        self.send_header("ETag", f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"')
        self.send_header("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
        self.end_headers()
        if body:
            self.wfile.write(data[start:stop])


@pytest.fixture(scope="module")
def http_store(local_store):
    """``(url, request log)`` of the store served over HTTP on loopback."""
    log: list = []
    handler = type("Handler", (RangeHandler,), {"log": log})
    root = str(local_store.parent)
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/run.sz", log
    server.shutdown()
    server.server_close()


def same_read(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, np.ndarray):
            assert value.dtype == b[key].dtype and np.array_equal(value, b[key]), key
        else:
            assert value == b[key], key


@pytest.mark.parametrize("part_bytes", [1 << 23, 3_000])
def test_remote_reader_matches_local(s3_store, local_store, monkeypatch, part_bytes):
    """Every read face over S3 gives the local store's values; with parts of a few
    frames too (each its own coalesced GETs)."""
    import xsz.format._reader as reader_module

    monkeypatch.setattr(reader_module, "PART_BYTES", part_bytes)
    url, options = s3_store
    with SZReader(local_store) as local, SZReader(url, options) as remote:
        assert isinstance(remote.source, ObjectSource)
        assert remote.path == url and len(remote) == len(local) == N_READS
        assert remote.header == local.header
        assert remote.ids.tolist() == local.ids.tolist()
        assert remote.checksums is not None  # the sidecar was read, and the index checked by it
        for row in (0, 7, N_READS - 1):
            same_read(remote.read(row), local.read(row))
        for a, b in zip(
            remote.read_many([5, 1, 5, 20]), local.read_many([5, 1, 5, 20]), strict=True
        ):
            same_read(a, b)
        for name in ("Raw", "Move"):
            for n_threads in (1, 3):
                got, want = remote.dataset(name, n_threads=n_threads), local.dataset(name)
                assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
        rows = np.random.default_rng(part_bytes).integers(0, N_READS, 30)
        for a, b in zip(remote.read_many(rows, n_threads=2), local.read_many(rows), strict=True):
            same_read(a, b)
        assert remote.dataset("Fastq", [3, 2]) == local.dataset("Fastq", [3, 2])
        frames = remote.frames([4, 9])
        remote.check_frames([4, 9], frames)  # the sidecar's CRC-32s match the remote bytes


def test_remote_compressed_file_and_engine_match_local(s3_store, local_store):
    url, options = s3_store
    with (
        CompressedFile(url, storage_options=options) as remote,
        CompressedFile(local_store) as local,
    ):
        for a, b in zip(remote.get(slice(None)), local.get(slice(None)), strict=True):
            assert a.ID == b.ID and a.Fastq == b.Fastq and np.array_equal(a.Raw, b.Raw)
        assert remote.get(3).Offset == local.get(3).Offset
    want = xr.open_dataset(local_store, engine="sz")
    for chunks in (None, {}):
        got = xr.open_dataset(url, engine="sz", storage_options=options, chunks=chunks)
        xr.testing.assert_identical(got.load(), want.load())
        got.close()
    lazy = xr.open_dataset(url, engine="sz", storage_options=options, chunks={})
    copy = pickle.loads(pickle.dumps(lazy))  # by URL + options, like a dask worker gets it
    assert np.array_equal(copy.sel(read="read_00011").Raw.values, want.sel(read="read_00011").Raw)
    lazy.close()


def test_remote_info_verify_and_cli(s3_store, local_store, s3_env, capsys):
    url, options = s3_store
    assert verify(url, storage_options=options) == []
    got, want = info(url, options), info(local_store)
    assert got.path == url
    assert (got.n_reads, got.dat_bytes, got.index_bytes, got.datasets) == (
        want.n_reads,
        want.dat_bytes,
        want.index_bytes,
        want.datasets,
    )
    # the command line has no options: obstore takes them from the environment
    assert main(["info", url]) == 0
    assert f"{N_READS:,} reads" in capsys.readouterr().out
    assert main(["verify", "-q", url]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["get", url, "read_00002", "-d", "Fastq"]) == 0
    assert SZReader(local_store).read(2)["Fastq"][:40] in capsys.readouterr().out


def test_remote_flipped_byte_is_caught(s3_server, local_store):
    _, options = s3_server
    url = f"s3://{BUCKET}/flipped/run.sz"
    with SZReader(local_store) as local:
        row = 13
        at = int(local.index.frame_offset["Raw"][row]) + 20
        rid = local.ids[row]
    upload(local_store, url, options, flip=at)
    problems = verify(url, storage_options=options)
    assert len(problems) == 1 and problems[0].row == row and rid in str(problems[0])
    with SZReader(url, options) as remote, pytest.raises(SZFormatError, match=str(rid)):
        remote.read(row)


def test_remote_store_replaced_after_open_is_refused(s3_server, local_store):
    _, options = s3_server
    url = f"s3://{BUCKET}/replaced/run.sz"
    upload(local_store, url, options)
    with SZReader(url, options) as reader:
        same_read(reader.read(1), SZReader(local_store).read(1))
        upload(local_store, url, options, flip=0)  # a new version of dat (and index)
        with pytest.raises(SZFormatError, match="changed since the store was opened"):
            reader.read(1)


def test_remote_missing_store_and_bad_options(s3_server):
    _, options = s3_server
    with pytest.raises(SZFormatError, match="no SZ store at s3://"):
        SZReader(f"s3://{BUCKET}/nothing/here.sz", options)
    with pytest.raises(UsageError, match="obstore"):
        SZReader(f"s3://{BUCKET}/x.sz", {"no_such_option": 1})
    with pytest.raises(UsageError, match="local path"):
        open_source("some/dir.sz", {"region": "us-east-1"})


def test_object_source_pickles_by_location(s3_store):
    url, options = s3_store
    with ObjectSource(url, options) as source:
        copy = pickle.loads(pickle.dumps(source))
        assert copy.stamp() == source.stamp()
        assert copy.read("dat", 100, 50) == source.read("dat", 100, 50)
        assert "index" in dict.fromkeys(name for name, *_ in source.stamp())
        copy.close()
        with pytest.raises(ValueError, match="closed"):
            copy.read("dat", 0, 1)
    with SZReader(url, options) as reader:
        again = pickle.loads(pickle.dumps(reader))
        assert again.ids.tolist() == reader.ids.tolist()
        again.close()
    # an obstore store given, the URL then names the prefix in it
    bucket = obstore.store.from_url(f"s3://{BUCKET}", **options)
    prefix = url.removeprefix(f"s3://{BUCKET}/")
    with SZReader(ObjectSource(prefix, store=bucket)) as reader, SZReader(url, options) as by_url:
        same_read(reader.read(3), by_url.read(3))
        copy = pickle.loads(pickle.dumps(reader))
        same_read(copy.read(3), by_url.read(3))
        copy.close()


def test_sources_of_one_bucket_share_one_client(s3_store, local_store, monkeypatch):
    """Making an obstore store costs ~15 ms of CPU: stores of one bucket read with the
    same settings (and environment) share one; other settings, another environment or
    a URL whose path is percent-encoded get their own, and every one reads right."""
    from xsz.source._object import _rooted

    url, options = s3_store
    a, b = ObjectSource(url, options), ObjectSource(url, dict(options))
    assert a._store is b._store and a._prefix == url.removeprefix(f"s3://{BUCKET}/")
    other = dict(options, region="eu-west-1")
    c = ObjectSource(url, other)
    assert c._store is not a._store
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")  # another environment: another client
    d = ObjectSource(url, options)
    assert d._store is not a._store
    want = (local_store / "dat").read_bytes()[10:30]
    for source in (a, b, c, d):
        assert source.read("dat", 10, 20) == want
        source.close()
    encoded = f"s3://{BUCKET}/with%20space/run.sz"
    assert _rooted(encoded, options)[1] == ""  # a store of its own, at the URL as given
    with pytest.raises(SZFormatError, match="no SZ store"):
        ObjectSource(encoded, options)  # its own store, and nothing there


def test_http_reads_cost_one_get_each(http_store, local_store, monkeypatch):
    import xsz.format._coalesce

    url, log = http_store
    log.clear()
    with SZReader(url) as remote, SZReader(local_store) as local:
        opened = list(log)
        # one GET of index, one HEAD of dat, one ranged GET of the checksums' head
        assert sorted(c for c, _, _ in opened) == ["GET", "GET", "HEAD"], opened
        log.clear()
        same_read(remote.read(6), local.read(6))
        assert [(c, r is not None) for c, _, r in log] == [("GET", True)]
        log.clear()
        rows = [20, 2, 3, 11]  # neighbours within the gap: one coalesced GET
        for a, b in zip(remote.read_many(rows), local.read_many(rows), strict=True):
            same_read(a, b)
        assert len(log) == 1
        log.clear()
        # the container asks for three separate ranges; the object source, for which a
        # GET costs what a megabyte does, still coalesces them into one
        monkeypatch.setattr(xsz.format._coalesce, "MAX_GAP", 0)
        for a, b in zip(remote.read_many(rows), local.read_many(rows), strict=True):
            same_read(a, b)
        assert len(log) == 1
        log.clear()
        # ranges too far apart are separate GETs, in flight together, in the order asked
        monkeypatch.setattr(xsz.source._object, "MAX_GAP", 0)
        got = remote.source.read_ranges("dat", [900, 0, 30], [950, 10, 40])
        dat = (local_store / "dat").read_bytes()
        assert got == [dat[900:950], dat[0:10], dat[30:40]]
        assert len(log) == 3
    assert verify(url) == []


def test_file_url_is_a_local_store(local_store):
    with open_source(local_store.as_uri()) as source:
        assert isinstance(source, LocalSource)
    with SZReader(local_store.as_uri()) as reader:
        assert len(reader) == N_READS
    with pytest.raises(UsageError, match="host"):
        open_source("file://elsewhere/run.sz")


def test_remote_write_uploads_dat_first_and_index_last(s3_server, monkeypatch):
    from xsz.errors import StoreExistsError

    _, options = s3_server
    url = f"s3://{BUCKET}/written/run.sz"
    reads = make_reads(6, seed=3, length=300)
    order: list[str] = []
    put = obstore.put
    monkeypatch.setattr(
        obstore, "put", lambda s, name, *a, **k: order.append(name) or put(s, name, *a, **k)
    )

    def write(records, **kwargs):
        with CompressedFile(
            url,
            mode="w",
            attributes=SCHEMA_ATTRS,
            datasets=SCHEMA_DATASETS,
            storage_options=options,
            **kwargs,
        ) as sz:
            for record in records:
                sz.put(*record)

    write(reads)
    assert order == ["dat", "checksums", "index"]
    with SZReader(url, options) as reader:
        assert reader.ids.tolist() == [r[0] for r in reads]
        assert np.array_equal(reader.read(4)["Raw"], reads[4][3])
        assert verify(url, storage_options=options) == []
        order.clear()
        with pytest.raises(StoreExistsError, match="overwrite=True"):
            write(reads[:2])  # refused when opened, before a read is taken or a byte put
        assert order == []
        write(reads[:2], overwrite=True)
        with pytest.raises(SZFormatError, match="changed since the store was opened"):
            reader.read(4)  # the old version's dat is gone: no new bytes through the old index
    with SZReader(url, options) as reader:
        assert len(reader) == 2


def test_remote_szstore_and_subset_match_local(s3_store, local_store, tmp_path, s3_env):
    import zarr

    from xsz import SZStore
    from xsz.ops import subset

    url, options = s3_store
    remote = xr.open_zarr(SZStore(url, storage_options=options), chunks=None)
    xr.testing.assert_identical(
        remote.load(), xr.open_zarr(SZStore(local_store), chunks=None).load()
    )
    group = zarr.open_group(
        pickle.loads(pickle.dumps(SZStore(url, storage_options=options))), mode="r"
    )
    local_group = zarr.open_group(SZStore(local_store), mode="r")
    assert dict(group.attrs) == dict(local_group.attrs) and group.attrs["run"] == "remote"
    assert np.array_equal(group["Raw"][:], local_group["Raw"][:])
    with pytest.raises(UsageError, match="local paths only"):
        SZStore(url, read_only=False)
    ids = ["read_00009", "read_00001"]
    assert subset(url, ids, tmp_path / "a.sz", storage_options=options) == 2
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids))
    assert main(["subset", "-q", url, "--ids", str(ids_file), str(tmp_path / "b.sz")]) == 0
    with (
        SZReader(tmp_path / "a.sz") as a,
        SZReader(tmp_path / "b.sz") as b,
        SZReader(local_store) as src,
    ):
        assert a.ids.tolist() == b.ids.tolist() == ids
        same_read(a.read(0), src.read(9))
