"""xsz on dask.distributed with process workers (a LocalCluster started here) reading
from and writing to a real S3 server on loopback (moto): reductions over a store's
lazy Dataset, a distributed subset of many stores, a distributed import of many pod5
files into many stores; every result identical to the single-process run. The
workers get the S3 endpoint and credentials through storage_options only: their
environment has none (checked)."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.conftest import BUCKET, SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from tests.s3 import keys_at, s3_prefix_fixture  # noqa: F401 (fixtures)
from xsz.convert import import_many, locate_reads, subset_many
from xsz.errors import DuplicateReadError, ReadNotFoundError, StoreExistsError
from xsz.format import Schema, SZReader, SZWriter

distributed = pytest.importorskip("distributed")
pytest.importorskip("moto.server")

SCHEMA = Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)
N_STORES = 4


@pytest.fixture(scope="module")
def client():
    """Two worker processes of one thread each, with no AWS settings in their environment."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
    try:
        with (
            distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                host="127.0.0.1",
            ) as cluster,
            distributed.Client(cluster) as c,
        ):
            yield c
    finally:
        os.environ.update(saved)


def same_stores(a: str | Path, b: str | Path, options_a=None, options_b=None) -> None:
    with SZReader(a, options_a) as x, SZReader(b, options_b) as y:
        assert len(x) == len(y) and x.header == y.header and x.schema == y.schema
        assert list(x.ids) == list(y.ids)
        for row in range(len(x)):
            p, q = x.read(row), y.read(row)
            for key, value in p.items():
                if isinstance(value, np.ndarray):
                    np.testing.assert_array_equal(value, q[key])
                elif isinstance(value, float | np.floating) and np.isnan(value):
                    assert np.isnan(q[key])
                else:
                    assert value == q[key], (row, key)


@pytest.fixture(scope="module")
def stores(s3_server, tmp_path_factory):
    """`N_STORES` stores of distinct reads, written to S3 and locally: (urls, paths, reads)."""
    _, options = s3_server
    root = tmp_path_factory.mktemp("stores")
    prefix = f"s3://{BUCKET}/{uuid.uuid4().hex[:8]}"
    urls, paths, every = [], [], []
    for k in range(N_STORES):
        reads = [(f"s{k}_{r[0]}", *r[1:]) for r in make_reads(15, seed=100 + k, length=1200)]
        every += reads
        for target, opts in ((f"{prefix}/run_{k}.sz", options), (root / f"run_{k}.sz", None)):
            with SZWriter(target, SCHEMA, header={"part": k}, storage_options=opts) as w:
                w.put_many(reads)
        urls.append(f"{prefix}/run_{k}.sz")
        paths.append(root / f"run_{k}.sz")
    return urls, paths, every


def test_workers_have_no_s3_environment(client):
    seen = client.run(lambda: sorted(k for k in os.environ if k.startswith("AWS_")))
    assert all(v == [] for v in seen.values()), seen
    assert len(seen) == 2
    pids = client.run(os.getpid)
    assert os.getpid() not in pids.values()  # process workers, not threads of this one


def test_map_reads_and_reductions_on_the_cluster(client, s3_server, stores):
    _, options = s3_server
    urls, paths, _ = stores
    ds = xr.open_dataset(
        urls[0], engine="sz", chunks={}, chunk_bytes=8_000, storage_options=options
    )
    assert ds.Raw.data.npartitions > 2  # many tasks, on both workers
    local = xr.open_dataset(paths[0], engine="sz")
    medians = ds.sz.map_reads(np.median, "Raw")
    got = client.compute(medians.data).result()
    np.testing.assert_array_equal(got, local.sz.map_reads(np.median, "Raw").values)
    total = client.compute(ds.Raw.astype(np.int64).sum().data).result()
    assert total == int(local.Raw.values.astype(np.int64).sum())
    # a list of stores analysed together: one graph, every store's reads
    opened = [
        xr.open_dataset(u, engine="sz", chunks={}, chunk_bytes=8_000, storage_options=options)
        for u in urls
    ]
    lengths = client.compute([o.sz.map_reads(len, "Raw").data for o in opened], sync=True)
    expected = [xr.open_dataset(p, engine="sz").Raw_count.values for p in paths]
    for a, b in zip(lengths, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_subset_many_on_the_cluster_equals_one_process(client, s3_server, s3_prefix, stores):
    _, options = s3_server
    urls, paths, every = stores
    rng = np.random.default_rng(5)
    wanted = [every[i][0] for i in rng.choice(len(every), 20, replace=False)]
    with distributed.get_task_stream(client) as tasks:
        got = subset_many(urls, wanted, f"{s3_prefix}/sub", client=client, storage_options=options)
    ran = [t["key"] for t in tasks.data]
    assert sum("_held" in str(k) for k in ran) == N_STORES  # the indexes, read by workers
    assert sum("_subset_one" in str(k) for k in ran) == len(got)
    here = subset_many(paths, wanted, Path(str(paths[0].parent) + "-sub"), client=False)
    assert sum(got.values()) == 20 == sum(here.values())
    assert sorted(Path(k).name for k in got) == sorted(Path(k).name for k in here)
    for remote in got:
        same_stores(remote, Path(str(paths[0].parent) + "-sub") / Path(remote).name, options)
    # every wanted read once, in the order asked within each store
    seen = []
    for remote in got:
        with SZReader(remote, options) as r:
            ids = list(r.ids)
            assert ids == [i for i in wanted if i in set(ids)]
            seen += ids
    assert sorted(seen) == sorted(wanted)
    # refused before anything is written: unknown IDs, IDs in two stores, existing stores
    with pytest.raises(ReadNotFoundError, match="none of the 4 stores"):
        subset_many(
            urls, [*wanted, "nope"], f"{s3_prefix}/x", client=client, storage_options=options
        )
    with pytest.raises(DuplicateReadError):
        locate_reads([urls[0], urls[0]], [every[0][0]], client=client, storage_options=options)
    with pytest.raises(StoreExistsError):
        subset_many(urls, wanted, f"{s3_prefix}/sub", client=client, storage_options=options)


@pytest.fixture(scope="module")
def pod5_files(tmp_path_factory) -> list[Path]:
    pytest.importorskip("pod5")
    from tests.made_data import _reads, _runs, _uuids, write_pod5

    rng = np.random.default_rng(9)
    root = tmp_path_factory.mktemp("pod5s")
    run = _runs()["r10"]
    files = []
    for k in range(N_STORES):
        reads = _reads(
            rng,
            _uuids(rng, 6),
            rng.integers(2000, 9000, 6).tolist(),
            run,
            digitisation=8192,
            range_=1500.0,
            rate=4000,
            end_reasons=["signal_positive"],
        )
        write_pod5(root / f"batch_{k}.pod5", reads)
        files.append(root / f"batch_{k}.pod5")
    return files


def test_import_many_on_the_cluster_equals_one_process(
    client, s3_server, s3_prefix, pod5_files, tmp_path
):
    _, options = s3_server
    with distributed.get_task_stream(client) as tasks:
        remote = import_many(
            pod5_files, f"{s3_prefix}/stores", client=client, storage_options=options
        )
    assert sum("_import_one" in str(t["key"]) for t in tasks.data) == N_STORES
    workers = set(client.scheduler_info()["workers"])
    assert {t["worker"] for t in tasks.data} <= workers  # run by the worker processes
    local = import_many(pod5_files, tmp_path / "stores", client=False)  # in this process
    assert [s.path for s in remote] == [f"{s3_prefix}/stores/batch_{k}.sz" for k in range(N_STORES)]
    assert [s.n_reads for s in remote] == [s.n_reads for s in local] == [6] * N_STORES
    for r, loc in zip(remote, local, strict=True):
        same_stores(r.path, loc.path, options)
    with pytest.raises(StoreExistsError):
        import_many(pod5_files[:1], f"{s3_prefix}/stores", client=client, storage_options=options)
    again = import_many(
        pod5_files[:1],
        f"{s3_prefix}/stores",
        client=client,
        storage_options=options,
        overwrite=True,
    )
    same_stores(again[0].path, local[0].path, options)


def test_import_many_failures(client, s3_server, s3_prefix, pod5_files, tmp_path):
    """A truncated file is refused before any task runs; a task that fails (its store
    exists) fails alone: every other store is committed whole, the old one untouched."""
    from xsz.errors import SourceError

    _, options = s3_server
    bad = tmp_path / "batch_bad.pod5"
    data = pod5_files[0].read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="truncated"):
        import_many([*pod5_files, bad], f"{s3_prefix}/s", client=client, storage_options=options)
    assert keys_at(f"{s3_prefix}/s", options) == []
    old = make_reads(3, seed=8)
    with SZWriter(f"{s3_prefix}/s/batch_1.sz", SCHEMA, storage_options=options) as w:
        w.put_many(old)
    with pytest.raises(StoreExistsError, match=r"batch_1\.sz"):
        import_many(pod5_files, f"{s3_prefix}/s", client=client, storage_options=options)
    with SZReader(f"{s3_prefix}/s/batch_1.sz", options) as r:
        assert list(r.ids) == [x[0] for x in old]
    local = import_many(pod5_files, tmp_path / "ok", client=False)
    for k in (0, 2, 3):  # every other task ran to its end, its store whole
        same_stores(f"{s3_prefix}/s/batch_{k}.sz", local[k].path, options)


# --- a worker killed mid-job -------------------------------------------------------------


def _hold_before_index(marker: str) -> None:
    """In a worker: the first upload of a store's ``index`` (its commit) on this machine
    writes this process's pid to `marker` and waits to be killed; later ones (the
    marker exists) go ahead. ``dat`` and ``checksums`` are up by then: the worst
    moment to die."""
    import time

    import xsz.source._upload as upload_module

    real = getattr(upload_module, "_real_put", upload_module._put)
    upload_module._real_put = real  # type: ignore[attr-defined]

    def put(store, name, data, **kwargs):
        if name == "index":
            mine = f"{marker}.{os.getpid()}"
            with open(mine, "w") as f:  # pid, and the store's key prefix in the bucket
                f.write(f"{os.getpid()}\n{getattr(store, 'prefix', '')}")
            try:
                os.link(mine, marker)  # atomic: one worker holds, with its pid written
            except FileExistsError:
                pass
            else:
                time.sleep(60)  # killed here
        return real(store, name, data, **kwargs)

    upload_module._put = put


def _release() -> None:
    import xsz.source._upload as upload_module

    real = getattr(upload_module, "_real_put", None)
    if real is not None:
        upload_module._put = real


def _wait_for(path: Path, timeout: float = 30.0) -> str:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"no worker reached the commit of a store in {timeout} s")


def test_worker_killed_mid_import_leaves_no_half_store(
    client, s3_server, s3_prefix, pod5_files, tmp_path
):
    """A worker process SIGKILLed while it commits a store (``dat`` up, ``index`` not):
    meanwhile the destination shows no store there; the scheduler runs the task again on
    a live worker and import_many returns every store whole, equal to a local import;
    running it again (``overwrite=True``) gives the same."""
    import signal
    from concurrent.futures import ThreadPoolExecutor

    from xsz.collection import find_stores
    from xsz.errors import SZFormatError
    from xsz.ops import verify

    _, options = s3_server
    dst = f"{s3_prefix}/stores"
    marker = tmp_path / "holding"
    before = set(client.run(os.getpid).values())
    client.run(_hold_before_index, str(marker))
    try:
        with ThreadPoolExecutor(1) as pool:
            job = pool.submit(import_many, pod5_files, dst, client=client, storage_options=options)
            text, key = _wait_for(marker).split("\n")
            pid = int(text)
            try:
                assert pid in before
                # the store being committed: dat is up, index is not, so it is no store
                held = f"{dst}/{key.rsplit('/', 1)[-1]}"
                assert held.endswith(".sz") and key.endswith(held.split(f"s3://{BUCKET}/")[1])
                keys = keys_at(held, options)
                assert "dat" in keys and "index" not in keys, keys
                with pytest.raises(SZFormatError, match="no 'index'"):
                    SZReader(held, options)
                assert held not in {r.location for r in find_stores(dst, options)}
            finally:
                os.kill(pid, signal.SIGKILL)
            remote = job.result(timeout=90)
    finally:
        client.run(_release)
    client.wait_for_workers(2, timeout=60)
    assert pid not in set(client.run(os.getpid).values())  # the nanny started a new one
    local = import_many(pod5_files, tmp_path / "local", client=False)
    assert [s.path for s in remote] == [f"{dst}/batch_{k}.sz" for k in range(N_STORES)]
    found = [r.location for r in find_stores(dst, options)]
    assert found == [s.path for s in remote]  # every store there, each whole
    for r, loc in zip(remote, local, strict=True):
        assert verify(r.path, storage_options=options) == []
        same_stores(r.path, loc.path, options)
    again = import_many(pod5_files, dst, client=client, storage_options=options, overwrite=True)
    for r, loc in zip(again, local, strict=True):
        same_stores(r.path, loc.path, options)


def test_worker_killed_with_no_retries_left_raises_clearly(
    client, s3_server, s3_prefix, pod5_files, tmp_path
):
    """The same kill when the scheduler allows no retry (``allowed-failures`` 0): dask's
    KilledWorker, with a note naming the files and stores lost; every other store whole,
    none half-way; running the lost file again completes the set."""
    import signal
    from concurrent.futures import ThreadPoolExecutor

    from xsz.collection import find_stores

    _, options = s3_server
    dst = f"{s3_prefix}/stores"
    marker = tmp_path / "holding"
    scheduler = client.cluster.scheduler  # in this process (LocalCluster)
    allowed = scheduler.allowed_failures
    scheduler.allowed_failures = 0
    client.run(_hold_before_index, str(marker))
    try:
        with ThreadPoolExecutor(1) as pool:
            job = pool.submit(import_many, pod5_files, dst, client=client, storage_options=options)
            os.kill(int(_wait_for(marker).split("\n")[0]), signal.SIGKILL)
            with pytest.raises(distributed.KilledWorker) as caught:
                job.result(timeout=90)
    finally:
        scheduler.allowed_failures = allowed
        client.run(_release)
    client.wait_for_workers(2, timeout=60)
    note = "\n".join(getattr(caught.value, "__notes__", []))
    # the tasks on the killed worker (the held one, and any queued there) are named
    pairs = re.findall(r"([^\s(]+\.pod5) -> ([^\s,)]+\.sz)", note)
    assert f"the workers running {len(pairs)} of {N_STORES} tasks died" in note, note
    assert "none of theirs is at the destination" in note
    lost = [src for src, _ in pairs]
    assert set(lost) <= {str(p) for p in pod5_files} and lost
    found = [r.location for r in find_stores(dst, options)]
    assert sorted(found + [store for _, store in pairs]) == [
        f"{dst}/batch_{k}.sz" for k in range(N_STORES)
    ]
    local = {s.path.name: s for s in import_many(pod5_files, tmp_path / "local", client=False)}
    for url in found:  # every other store whole
        same_stores(url, local[url.rsplit("/", 1)[1]].path, options)
    import_many(lost, dst, client=client, storage_options=options)  # the lost ones again
    found = [r.location for r in find_stores(dst, options)]
    assert found == [f"{dst}/batch_{k}.sz" for k in range(N_STORES)]
    for url in found:
        same_stores(url, local[url.rsplit("/", 1)[1]].path, options)
