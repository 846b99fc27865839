"""SZStore under zarr's machinery: both codec pipelines, the event loop, threads, dask workers."""

from __future__ import annotations

import asyncio
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import xarray as xr
import zarr
import zarr.core.sync
from zarr.core.buffer import cpu

from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from tests.test_store_write import assert_same_reads, copy_keys
from xsz import SZStore
from xsz.codec import XSZ_PIPELINE
from xsz.errors import (
    CodecError,
    SZFormatError,
    XszError,
)
from xsz.format import Schema, SZReader, SZWriter


def test_store_blocking_io_runs_off_the_event_loop(store_path, monkeypatch):
    """No pread of dat and no spool write happens on zarr's event loop thread."""
    from xsz.store._spool import Spool

    threads = set()
    for cls, name in [(SZReader, "_pread"), (Spool, "set"), (Spool, "read")]:
        original = getattr(cls, name)

        def spy(self, *args, _original=original, **kwargs):
            threads.add(threading.current_thread())
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, spy)
    with SZWriter(store_path, Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)) as writer:
        writer.put_many(make_reads(12))
    for pipeline in ("BatchedCodecPipeline", "FusedCodecPipeline"):
        with zarr.config.set({"codec_pipeline.path": f"zarr.core.codec_pipeline.{pipeline}"}):
            assert len(xr.open_zarr(SZStore(store_path)).load().Raw) > 0
            out = store_path.parent / f"{pipeline}.sz"
            with SZStore(out, read_only=False) as store:
                copy_keys(SZStore(store_path), store, threads=1)
                asyncio.run(store.set("extra/zarr.json", cpu.Buffer.from_bytes(b"{}")))
                asyncio.run(store.delete("extra/zarr.json"))
    loop_thread = zarr.core.sync.iothread[0]
    assert threads and loop_thread is not None and loop_thread not in threads


def test_store_concurrent_readers_agree(store_path):
    reads = make_reads(40)
    with SZWriter(store_path, Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)) as writer:
        writer.put_many(reads)
    store = SZStore(store_path)
    raw = zarr.open_array(store, path="Raw", mode="r")

    def check(k):
        return (
            np.array_equal(raw.blocks[k], reads[k][3])
            and store.get_sync(f"Fastq/c/{k}") is not None
        )

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(check, random.Random(2).choices(range(40), k=400)))


@pytest.fixture(scope="module")
def cluster_client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            processes=True, n_workers=2, threads_per_worker=2, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def test_store_dask_distributed_workers_read_and_write(sz_fixtures, cluster_client, tmp_path):
    """Workers in other processes unpickle the store, read frames, and write into the spool."""
    path = sz_fixtures / "signal_int16"
    with SZReader(path) as reader:
        expected = [int(x.astype(np.int64).sum()) for x in reader.dataset("Raw")]
    ds = xr.open_zarr(SZStore(path))
    per_read = ds.Raw.data.map_blocks(lambda b: np.array([b.astype(np.int64).sum()]), chunks=(1,))
    sums = per_read.compute()
    counts = ds.Raw_count.values
    assert sums.tolist() == [e for e, c in zip(expected, counts, strict=True) if c > 0]
    out = tmp_path / "written.sz"
    with SZStore(out, read_only=False) as store:
        ds.drop_encoding().chunk({"Raw_sample": 50_000}).to_zarr(
            store, zarr_format=3, consolidated=False
        )
    assert_same_reads(path, out)


PIPELINES = pytest.mark.parametrize(
    "pipeline",
    [
        "zarr.core.codec_pipeline.BatchedCodecPipeline",
        "zarr.core.codec_pipeline.FusedCodecPipeline",
        XSZ_PIPELINE,
    ],
    ids=["batched", "fused", "xsz"],
)


@pytest.fixture
def pipeline_config(pipeline):
    with zarr.config.set({"codec_pipeline.path": pipeline}):
        yield


@PIPELINES
@pytest.mark.usefixtures("pipeline_config")
def test_store_dat_truncated_after_opening_names_key_and_read(written):
    store = SZStore(written)
    raw = zarr.open_array(store, path="Raw", mode="r")
    os.truncate(written / "dat", 100)
    with pytest.raises(
        SZFormatError, match=r"zarr key 'Raw/c/4' is read 'read_00004' \(row 4\).*truncated"
    ):
        raw.blocks[4]


@PIPELINES
@pytest.mark.usefixtures("pipeline_config")
def test_store_corrupt_frame_names_key_and_read(written):
    with SZReader(written) as reader:
        start = int(reader.index.frame_offset["Move"][5])
        middle = int(reader.index.frame_offset["Raw"][7] + reader.index.frame_size["Raw"][7] // 2)
    data = bytearray((written / "dat").read_bytes())
    data[start : start + 4] = b"XXXX"  # the magic number of read 5's Move frame
    data[middle : middle + 64] = bytes(64)  # the compressed payload of read 7's Raw frame
    (written / "dat").write_bytes(bytes(data))
    store = SZStore(written)
    with pytest.raises(
        SZFormatError, match=r"'Move/c/5' is read 'read_00005' \(row 5\).*not a zstd frame"
    ):
        zarr.open_array(store, path="Move", mode="r")[:]
    with pytest.raises(
        CodecError, match=r"'Raw/c/7' is read 'read_00007' \(row 7\), dataset 'Raw'"
    ):
        _ = zarr.open_array(store, path="Raw", mode="r").blocks[7]
    with pytest.raises(XszError, match="read_00007"):
        _ = xr.open_zarr(store).Raw.values
