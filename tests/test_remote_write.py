"""Writing SZ stores and Zarr stores into object storage: a real S3 server (moto) on
127.0.0.1, started here. Values equal to the local write; nothing at the URL until
the commit; a killed writer leaves no half store; an overwrite never lets a reader
pair one version's index with another's dat; memory stays bounded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from tests.s3 import keys_at, s3_client, s3_prefix_fixture  # noqa: F401
from xsz.cli import main
from xsz.errors import StoreExistsError, SZFormatError, XszError
from xsz.format import Schema, SZReader, SZWriter
from xsz.ops import subset, verify

obstore = pytest.importorskip("obstore")
pytest.importorskip("moto.server")

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)


def assert_same_reads(a: SZReader, b: SZReader) -> None:
    """Every read of `a` and `b` equal, field by field, and the headers too."""
    assert len(a) == len(b)
    assert a.header == b.header
    assert list(a.ids) == list(b.ids)
    for row in range(len(a)):
        x, y = a.read(row), b.read(row)
        assert x.keys() == y.keys()
        for key, value in x.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, y[key], err_msg=f"{row} {key}")
            elif isinstance(value, float | np.floating) and np.isnan(value):
                assert np.isnan(y[key])
            else:
                assert value == y[key], (row, key)


def write(url_or_path, reads, options=None, **kw) -> None:
    with SZWriter(url_or_path, SCHEMA, storage_options=options, **kw) as writer:
        writer.put_many(reads)


# --- SZWriter, subset, CLI ---------------------------------------------------------------


def test_writer_to_s3_gives_the_local_values(s3_server, s3_prefix, tmp_path):
    _, options = s3_server
    reads = make_reads(40, length=3000)
    url = f"{s3_prefix}/run.sz"
    write(url, reads, options, header={"run": "x"})
    write(tmp_path / "run.sz", reads, header={"run": "x"})
    assert keys_at(url, options) == ["checksums", "dat", "index"]
    with SZReader(url, options) as remote, SZReader(tmp_path / "run.sz") as local:
        assert_same_reads(remote, local)
    # the same bytes as the local store: the writer is the same, only where dat goes differs
    store = obstore.store.from_url(url, **options)
    for name in ("index", "dat", "checksums"):
        assert bytes(obstore.get(store, name).bytes()) == (tmp_path / "run.sz" / name).read_bytes()
    assert verify(url, storage_options=options) == []


def test_empty_store_and_many_parts(s3_server, s3_prefix, tmp_path):
    _, options = s3_server
    write(f"{s3_prefix}/empty.sz", [], options)
    with SZReader(f"{s3_prefix}/empty.sz", options) as r:
        assert len(r) == 0
    # dat of several multipart parts (8 MiB each): long reads of random signal
    rng = np.random.default_rng(3)
    reads = [
        (
            f"r{i}",
            0,
            1.0,
            rng.integers(-4096, 4096, 1_500_000).astype(np.int16),
            "A",
            np.zeros(2, np.uint16),
        )
        for i in range(12)
    ]
    url = f"{s3_prefix}/big.sz"
    write(url, reads, options, n_threads=2)
    write(tmp_path / "big.sz", reads)
    assert (tmp_path / "big.sz" / "dat").stat().st_size > 2 * (8 << 20)
    with SZReader(url, options) as remote, SZReader(tmp_path / "big.sz") as local:
        assert_same_reads(remote, local)


def test_nothing_at_the_url_before_close_and_refused_before_any_byte(s3_server, s3_prefix):
    _, options = s3_server
    url = f"{s3_prefix}/run.sz"
    reads = make_reads(10)
    writer = SZWriter(url, SCHEMA, storage_options=options)
    writer.put_many(reads)
    writer._drain(block=True)
    assert keys_at(url, options) == []  # dat is an incomplete multipart upload: invisible
    writer.close()
    before = {
        k: obstore.get(obstore.store.from_url(url, **options), k).bytes() for k in ("index", "dat")
    }
    with pytest.raises(StoreExistsError, match="overwrite=True"):
        SZWriter(url, SCHEMA, storage_options=options)
    after = {
        k: obstore.get(obstore.store.from_url(url, **options), k).bytes() for k in ("index", "dat")
    }
    assert before == after
    # a prefix holding something else is never written into
    other = f"{s3_prefix}/other"
    obstore.put(obstore.store.from_url(other, **options), "zarr.json", b"{}")
    with pytest.raises(StoreExistsError, match="not an SZ store"):
        SZWriter(other, SCHEMA, storage_options=options, overwrite=True)


def test_abort_and_failure_leave_the_old_store(s3_server, s3_prefix):
    _, options = s3_server
    url = f"{s3_prefix}/run.sz"
    old = make_reads(5, seed=1)
    write(url, old, options)

    def fail() -> None:
        with SZWriter(url, SCHEMA, storage_options=options, overwrite=True) as w:
            w.put_many(make_reads(30, seed=2))
            raise RuntimeError("the caller fails")

    with pytest.raises(RuntimeError):
        fail()
    with SZReader(url, options) as r:
        assert list(r.ids) == [x[0] for x in old]
    endpoint, _ = s3_server
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    uploads = s3_client(endpoint).list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    assert not uploads.get("Uploads")  # the aborted upload's parts are discarded


def test_overwrite_invalidates_open_readers_and_never_mixes(s3_server, s3_prefix):
    _, options = s3_server
    url = f"{s3_prefix}/run.sz"
    a, b = make_reads(8, seed=1), make_reads(12, seed=2)
    write(url, a, options)
    reader = SZReader(url, options)
    write(url, b, options, overwrite=True)
    with pytest.raises(SZFormatError, match="changed since the store was opened"):
        reader.read(3)
    with SZReader(url, options) as fresh:
        assert list(fresh.ids) == [x[0] for x in b]


def test_an_index_is_never_paired_with_another_dat(s3_server, s3_prefix, tmp_path, monkeypatch):
    """What a reader would see opening between a writer's steps: the index records the
    ETag of its dat, so an old index over a new dat is refused, not read."""
    from xsz.source import _object

    _, options = s3_server
    url = f"{s3_prefix}/run.sz"
    write(url, make_reads(6, seed=1), options)
    write(tmp_path / "b.sz", make_reads(6, seed=2))  # same reads, other values
    store = obstore.store.from_url(url, **options)
    obstore.put(store, "dat", (tmp_path / "b.sz" / "dat").read_bytes())  # dat of version b
    monkeypatch.setattr(_object, "_ATTEMPTS", 2)
    with pytest.raises(SZFormatError, match="keeps being replaced"):
        SZReader(url, options)


def test_readers_during_overwrites_see_one_version_or_none(s3_server, s3_prefix):
    """Attack: one thread overwrites the store again and again with two versions while
    another opens and reads it: every open gives version A or B whole, or says
    there is no store (between the index's delete and the new index), never a mix."""
    _, options = s3_server
    url = f"{s3_prefix}/run.sz"
    versions = {"A": make_reads(6, seed=11, length=800), "B": make_reads(9, seed=12, length=800)}
    write(url, versions["A"], options)
    stop = threading.Event()
    errors: list[BaseException] = []

    def overwrite() -> None:
        try:
            k = 0
            while not stop.is_set():
                write(url, versions["AB"[k % 2]], options, overwrite=True, n_threads=0)
                k += 1
                stop.wait(0.03)  # a moment with a whole store, for readers to finish in
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=overwrite)
    thread.start()
    seen = {"A": 0, "B": 0, "none": 0, "changed": 0}
    try:
        for _ in range(40):
            try:
                with SZReader(url, options) as r:
                    ids = list(r.ids)
                    name = "A" if len(ids) == 6 else "B"
                    expected = versions[name]
                    assert ids == [x[0] for x in expected]
                    for row in range(len(r)):
                        np.testing.assert_array_equal(r.read(row)["Raw"], expected[row][3])
                    seen[name] += 1
            except SZFormatError as exc:
                text = str(exc)
                if "no SZ store" in text or "no 'index'" in text:
                    seen["none"] += 1
                elif "changed since" in text or "keeps being replaced" in text:
                    seen["changed"] += 1
                else:
                    raise
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert seen["A"] + seen["B"] > 0, seen


def test_subset_from_s3_to_s3(s3_server, s3_prefix, tmp_path):
    _, options = s3_server
    reads = make_reads(20)
    write(f"{s3_prefix}/run.sz", reads, options)
    ids = [reads[i][0] for i in (7, 2, 11)]
    assert subset(f"{s3_prefix}/run.sz", ids, f"{s3_prefix}/sub.sz", storage_options=options) == 3
    with SZReader(f"{s3_prefix}/sub.sz", options) as r:
        assert list(r.ids) == ids
        np.testing.assert_array_equal(r.read(1)["Raw"], reads[2][3])


# --- import_reads, convert, to_zarr ------------------------------------------------------


@pytest.fixture(scope="module")
def pod5_file(tmp_path_factory) -> Path:
    from tests.made_data import SAME_TEN, write_data

    pytest.importorskip("pod5")
    root = write_data(tmp_path_factory.mktemp("data"))
    return root / SAME_TEN


def test_import_reads_and_convert_to_s3(s3_server, s3_prefix, pod5_file, tmp_path, capsys):
    from xsz.convert import import_reads

    _, options = s3_server
    url = f"{s3_prefix}/run.sz"
    summary = import_reads(pod5_file, url, storage_options=options)
    assert summary.path == url and summary.n_reads == 10
    import_reads(pod5_file, tmp_path / "run.sz")
    with SZReader(url, options) as remote, SZReader(tmp_path / "run.sz") as local:
        assert_same_reads(remote, local)
    with pytest.raises(StoreExistsError):
        import_reads(pod5_file, url, storage_options=options)
    # the command line, options given with -S
    args = ["convert", str(pod5_file), f"{s3_prefix}/cli.sz", "-q"]
    args += [f"-S{k}={v}" for k, v in options.items() if k != "client_options"]
    args += ["-Sallow_http=true"]  # a client option, given flat
    assert main(args) == 0
    assert "-> s3://" in capsys.readouterr().out
    with SZReader(f"{s3_prefix}/cli.sz", options) as remote, SZReader(tmp_path / "run.sz") as local:
        assert_same_reads(remote, local)
    assert main(args) == 1  # exists: refused, one line
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    flags = args[4:]
    local = xr.open_dataset(tmp_path / "run.sz", engine="sz").load()
    # pod5 -> Zarr in S3 (through an SZ store made in a local scratch directory), and
    # SZ -> Zarr in S3; then Zarr -> SZ in S3 (made locally, uploaded index last)
    for src, name in ((pod5_file, "from_pod5.zarr"), (tmp_path / "run.sz", "from_sz.zarr")):
        assert main(["convert", str(src), f"{s3_prefix}/{name}", "-q", *flags]) == 0
        xr.testing.assert_equal(open_zarr_at(f"{s3_prefix}/{name}", options).load(), local)
    zarr_local = tmp_path / "run.zarr"
    assert main(["convert", str(tmp_path / "run.sz"), str(zarr_local), "-q"]) == 0
    assert main(["convert", str(zarr_local), f"{s3_prefix}/back.sz", "-q", *flags]) == 0
    with SZReader(f"{s3_prefix}/back.sz", options) as remote, SZReader(tmp_path / "run.sz") as sz:
        assert_same_reads(remote, sz)
    capsys.readouterr()
    assert main(["convert", str(tmp_path / "run.sz"), f"{s3_prefix}/x.pod5", "-q", *flags]) == 1
    assert "pod5 files to local paths" in capsys.readouterr().err


def open_zarr_at(url: str, options: dict) -> xr.Dataset:
    import zarr
    from zarr.storage import ObjectStore

    zarr.config.set({"array.rectilinear_chunks": True})
    return xr.open_zarr(ObjectStore(obstore.store.from_url(url, **options), read_only=True))


@pytest.mark.parametrize("layout", ["reads", "regular"])
def test_to_zarr_on_s3_equals_the_engine(s3_server, s3_prefix, tmp_path, layout):
    from xsz.convert import to_zarr

    _, options = s3_server
    reads = make_reads(12, length=1500)
    write(tmp_path / "run.sz", reads)
    url = f"{s3_prefix}/run.zarr"
    codec = "svb-zstd" if layout == "reads" else "zstd"
    to_zarr(tmp_path / "run.sz", url, layout=layout, codec=codec, storage_options=options)
    remote = open_zarr_at(url, options).load()
    local = xr.open_dataset(tmp_path / "run.sz", engine="sz").load()
    xr.testing.assert_equal(remote.drop_encoding(), local.drop_encoding())
    with pytest.raises(StoreExistsError):
        to_zarr(tmp_path / "run.sz", url, storage_options=options)
    to_zarr(tmp_path / "run.sz", url, overwrite=True, storage_options=options)
    xr.testing.assert_equal(open_zarr_at(url, options).load(), local)


def test_failed_to_zarr_leaves_no_group(s3_server, s3_prefix, tmp_path):
    from xsz.convert import to_zarr

    _, options = s3_server
    write(tmp_path / "run.sz", make_reads(12, length=1500))
    dat = tmp_path / "run.sz" / "dat"
    data = bytearray(dat.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a damaged frame: refused when it is copied
    dat.write_bytes(bytes(data))
    url = f"{s3_prefix}/bad.zarr"
    with pytest.raises(XszError):
        to_zarr(tmp_path / "run.sz", url, storage_options=options)
    assert "zarr.json" not in keys_at(url, options)  # no root group: not a Zarr store


# --- killed writers, memory ---------------------------------------------------------------


def child(mode: str, url: str, options: dict, n: int, samples: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.remote_write_child",
            mode,
            url,
            json.dumps(options),
            str(n),
            str(samples),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_9_mid_upload_leaves_no_half_store(s3_server, s3_prefix):
    endpoint, options = s3_server
    fresh = f"{s3_prefix}/fresh.sz"
    proc = child("kill", fresh, options, 200, 400_000)  # ~120 MB, parts going up when killed
    assert proc.stdout.readline().startswith("started")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    with pytest.raises(SZFormatError, match="no SZ store"):
        SZReader(fresh, options)
    assert keys_at(fresh, options) == []
    bucket, _, prefix = fresh.removeprefix("s3://").partition("/")
    uploads = s3_client(endpoint).list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    assert uploads.get("Uploads"), "the killed writer's parts were going up"
    # over an existing store: the old one stays whole
    old_url = f"{s3_prefix}/old.sz"
    old = make_reads(5, seed=4)
    write(old_url, old, options)
    proc = child("kill", old_url, options, 200, 400_000)
    assert proc.stdout.readline().startswith("started")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    with SZReader(old_url, options) as r:
        assert list(r.ids) == [x[0] for x in old]
        np.testing.assert_array_equal(r.read(4)["Raw"], old[4][3])


def test_memory_stays_bounded_while_dat_streams(s3_server, s3_prefix):
    """A writer child uploads a dat several times larger than what it may hold: its
    peak RSS grows by far less than dat (parts in flight and a few queued pieces:
    48 MiB here for 229 MiB of dat; 165 MiB with the upload queue unbounded)."""
    _, options = s3_server
    n = int(os.environ.get("XSZ_TEST_REMOTE_READS", "160"))  # ~ 1.2 MB a read
    base = child("rss", f"{s3_prefix}/base.sz", options, 1, 800_000)
    out, err = base.communicate(timeout=300)
    assert base.returncode == 0, err
    baseline = json.loads(out.strip().splitlines()[-1])["peak_rss"]
    proc = child("rss", f"{s3_prefix}/big.sz", options, n, 800_000)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    got = json.loads(out.strip().splitlines()[-1])
    assert got["dat"] > 150 << 20
    grown = got["peak_rss"] - baseline
    assert grown < 100 << 20, (grown >> 20, got["dat"] >> 20)
    with SZReader(f"{s3_prefix}/big.sz", options) as r:
        assert len(r) == n
