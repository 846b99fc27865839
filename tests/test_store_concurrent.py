"""Concurrent writers through zarr into one SZStore: nothing lost, conflicts refused.

zarr writes a chunk whole: to set some values of a chunk it reads the chunk,
changes them and writes it back. The attribute arrays of an SZ hierarchy hold
65,536 reads per chunk, so writers of disjoint reads rewrite the same chunks;
the spool keeps every version and `close` merges them (`xsz.store._merge`).
"""

from __future__ import annotations

import multiprocessing
import pickle
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import zarr

import xsz.ops
from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from xsz import SZStore
from xsz.codec import BATCHED_PIPELINE
from xsz.errors import RecordError, XszError
from xsz.format import Schema, SZReader

pytestmark = pytest.mark.filterwarnings("ignore::zarr.errors.UnstableSpecificationWarning")

N_READS = 400
SCHEMA = Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)


def _reads() -> list[tuple]:
    reads = make_reads(N_READS, seed=9, length=40)
    reads[7] = (reads[7][0], 0, 0.0, *reads[7][3:])  # attribute values equal to the fill value
    return reads


def _counts(reads: list[tuple]) -> dict[str, list[int]]:
    return {"Raw": [len(r[3]) for r in reads], "Move": [len(r[5]) for r in reads]}


def _create(path, reads: list[tuple]) -> SZStore:
    store = SZStore(path, read_only=False)
    store.create_hierarchy(SCHEMA, n_reads=len(reads), counts=_counts(reads), header={"run": 1})
    return store


def write_rows(store: SZStore, reads: list[tuple], rows: list[int]) -> None:
    """Write every value of the reads `rows` through zarr, one read at a time."""
    g = zarr.open_group(store, mode="r+")
    arrays = {name: g[name] for name in ("read", "Offset", "Raw_unit", "Raw", "Move", "Fastq")}
    starts = {
        name: np.concatenate([[0], np.cumsum(c)]).tolist() for name, c in _counts(reads).items()
    }
    for k in rows:
        read_id, offset, unit, raw, fastq, move = reads[k]
        arrays["read"][k] = read_id
        arrays["Offset"][k] = offset
        arrays["Raw_unit"][k] = unit
        arrays["Raw"][starts["Raw"][k] : starts["Raw"][k + 1]] = raw
        arrays["Move"][starts["Move"][k] : starts["Move"][k + 1]] = move
        arrays["Fastq"][k] = fastq.encode()


def fill(store: SZStore, reads: list[tuple]) -> None:
    """Write every value of `reads` through zarr, one array at a time (no overlap)."""
    g = zarr.open_group(store, mode="r+")
    g["read"][:] = np.array([r[0] for r in reads])
    g["Offset"][:] = [r[1] for r in reads]
    g["Raw_unit"][:] = [r[2] for r in reads]
    g["Raw"][:] = np.concatenate([r[3] for r in reads])
    g["Move"][:] = np.concatenate([r[5] for r in reads])
    g["Fastq"][:] = np.array([r[4].encode() for r in reads], dtype=object)


def _write_pickled(state: bytes, rows: list[int]) -> None:
    """A process's share: the store arrives pickled, as dask would send it."""
    store = pickle.loads(state)
    write_rows(store, _reads(), rows)
    store.close()  # a copy commits nothing: it closes its files


def _shares(n_writers: int, seed: int) -> list[list[int]]:
    rows = list(range(N_READS))
    random.Random(seed).shuffle(rows)
    return [rows[w::n_writers] for w in range(n_writers)]


def assert_every_value(path, reads: list[tuple]) -> None:
    """Every value of every read is the one written, and the store verifies."""
    with SZReader(path) as reader:
        assert reader.schema == SCHEMA and reader.header == {"run": 1}
        assert len(reader) == len(reads)
        wrong = []
        for k, (read_id, offset, unit, raw, fastq, move) in enumerate(reads):
            got = reader.read(k)
            expected = {"ID": read_id, "Offset": offset, "Raw_unit": np.float32(unit)}
            wrong += [(k, name) for name, value in expected.items() if got[name] != value]
            if got["Fastq"] != fastq:
                wrong.append((k, "Fastq"))
            for name, values in (("Raw", raw), ("Move", move)):
                if not np.array_equal(got[name], values):
                    wrong.append((k, name))
    assert wrong == []
    assert xsz.ops.verify(path, stop_at_first=False) == []


def test_store_concurrent_threads_lose_nothing(store_path):
    reads = _reads()
    store = _create(store_path, reads)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda rows: write_rows(store, reads, rows), _shares(8, seed=1)))
    store.close()
    assert_every_value(store_path, reads)


def test_store_concurrent_processes_lose_nothing(store_path):
    reads = _reads()
    store = _create(store_path, reads)
    state = pickle.dumps(store)
    ctx = multiprocessing.get_context("forkserver")  # a fresh process, like a dask worker's
    ctx.set_forkserver_preload(["xsz", "zarr", __name__])
    workers = [ctx.Process(target=_write_pickled, args=(state, rows)) for rows in _shares(4, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0] * 4
    store.close()
    assert_every_value(store_path, reads)


class _Together:
    """Holds each writer's write of an `array` chunk until every writer has read it.

    Wraps ``set_sync`` of the stores (the calls zarr's pipeline makes), so the
    writers' read-modify-writes overlap however the threads are scheduled.
    """

    def __init__(self, stores: list[SZStore], array: str) -> None:
        self.barrier = threading.Barrier(len(stores), timeout=20)
        for store in stores:
            self._wrap(store, array)

    def _wrap(self, store: SZStore, array: str) -> None:
        set_sync = store.set_sync

        def held(key, value):
            if key.startswith(f"{array}/c/"):
                self.barrier.wait()
            set_sync(key, value)

        store.set_sync = held


def _overlapping(store_path, values: list[tuple[int, int]]) -> tuple[SZStore, list[tuple]]:
    """Two writers (the store and a pickled copy) setting `Offset` at (row, value) at once."""
    reads = _reads()
    store = _create(store_path, reads)
    fill(store, reads)
    copy = pickle.loads(pickle.dumps(store))
    _Together([store, copy], "Offset")

    def put(job):
        writer, (row, value) = job
        zarr.open_group(writer, mode="r+")["Offset"][row] = value

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(put, zip([store, copy], values, strict=True)))
    copy.close()
    return store, reads


def test_store_concurrent_overlapping_read_modify_writes_merge(store_path):
    """Both writers read the chunk before either writes it back: both values survive."""
    store, reads = _overlapping(store_path, [(5, 1111), (6, 2222)])
    store.close()
    reads[5] = (reads[5][0], 1111, *reads[5][2:])
    reads[6] = (reads[6][0], 2222, *reads[6][2:])
    assert_every_value(store_path, reads)


def test_store_concurrent_conflict_is_refused(store_path):
    """Two writers giving the same read different values: close names both and commits nothing."""
    store, _ = _overlapping(store_path, [(5, 1111), (5, 2222)])
    named = r"array 'Offset', read 5 \('read_00005'\): (1111, then 2222|2222, then 1111)"
    with pytest.raises(RecordError, match=named) as info:
        store.close()
    assert (info.value.read_id, info.value.field) == ("read_00005", "Offset")
    assert not store_path.exists()


def test_store_concurrent_ragged_array_with_regular_chunks(store_path):
    """Reads share the chunks of a ragged array chunked regularly: every sample arrives."""
    reads = _reads()[:60]
    counts = np.array([len(r[3]) for r in reads])
    starts = np.concatenate([[0], np.cumsum(counts)]).tolist()
    store = SZStore(store_path, read_only=False)
    g = zarr.open_group(store, mode="w", attributes={"run": 1})
    g.create_array("read", data=np.array([r[0] for r in reads]), dimension_names=["read"])
    g.create_array(
        "Raw_count",
        data=counts,
        dimension_names=["read"],
        attributes={"sample_dimension": "Raw_sample"},
    )
    raw = g.create_array(
        "Raw", shape=(starts[-1],), dtype="int16", chunks=(500,), dimension_names=["Raw_sample"]
    )

    def put(k):
        raw[starts[k] : starts[k + 1]] = reads[k][3]

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, random.Random(4).sample(range(60), 60)))
    store.close()
    with SZReader(store_path) as reader:
        assert [x.tolist() for x in reader.dataset("Raw")] == [r[3].tolist() for r in reads]


def test_store_concurrent_overlay_of_an_existing_store(store_path):
    """Writers changing attributes of a committed store: the untouched values stay."""
    reads = _reads()
    store = _create(store_path, reads)
    fill(store, reads)
    store.close()
    store = SZStore(store_path, read_only=False)
    g = zarr.open_group(store, mode="r+")
    shares = _shares(8, seed=5)

    def put(rows):
        for k in rows:
            g["Offset"][k] = -k - 1

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, shares))
    store.close()
    for k in range(N_READS):
        reads[k] = (reads[k][0], -k - 1, *reads[k][2:])
    assert_every_value(store_path, reads)


def test_store_concurrent_one_writer_rewrites_and_resets(store_path):
    """One writer's later writes win over its earlier ones, down to the fill value."""
    reads = _reads()
    store = _create(store_path, reads)
    fill(store, reads)
    g = zarr.open_group(store, mode="r+")
    g["Offset"][3] = 77
    g["Offset"][3] = 0  # back to the fill value
    g["Offset"][4] = 12
    g["Offset"][:] = np.array([r[1] for r in reads])  # the whole chunk, no read of it
    g["Offset"][5] = 55
    store.close()
    reads[5] = (reads[5][0], 55, *reads[5][2:])
    assert_every_value(store_path, reads)


def test_store_concurrent_writes_after_an_array_is_deleted(store_path):
    """Deleting an array (zarr deletes its keys) drops its earlier versions."""
    reads = _reads()
    store = _create(store_path, reads)
    fill(store, reads)
    g = zarr.open_group(store, mode="r+")
    g["Offset"][9] = 999
    del g["Offset"]
    offset = g.create_array(
        "Offset", shape=(N_READS,), dtype="int32", chunks=(100,), dimension_names=["read"]
    )
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda k: offset.__setitem__(k, reads[k][1]), range(N_READS)))
    store.close()
    assert_every_value(store_path, reads)


def test_store_concurrent_batched_pipeline_one_writer(store_path):
    """zarr's asynchronous pipeline: one writer's rewrites and resets still commit exactly."""
    reads = _reads()
    with zarr.config.set({"codec_pipeline.path": BATCHED_PIPELINE}):
        store = _create(store_path, reads)
        fill(store, reads)
        g = zarr.open_group(store, mode="r+")
        g["Offset"][3] = 77
        g["Offset"][3] = 0
        store.close()
    reads[3] = (reads[3][0], 0, *reads[3][2:])
    assert_every_value(store_path, reads)


def test_store_concurrent_batched_pipeline_never_loses_silently(store_path):
    """zarr's asynchronous pipeline hides which version a write was made from: overlapping
    writers either all arrive or close refuses; never a silent loss."""
    reads = _reads()
    with zarr.config.set({"codec_pipeline.path": BATCHED_PIPELINE}):
        store = _create(store_path, reads)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda rows: write_rows(store, reads, rows), _shares(8, seed=6)))
        try:
            store.close()
        except XszError as exc:
            refused = exc
        else:
            refused = None
    if refused is None:
        assert_every_value(store_path, reads)
    else:
        assert "asynchronous codec pipeline" in str(refused)
        assert not store_path.exists()
