"""CompressedFile: pysz 0.4.0's interface, following its README example by example."""

from __future__ import annotations

import pickle
from multiprocessing import Pool

import numpy as np
import pandas as pd
import pytest

from tests import FIXTURE_NAMES, reference
from xsz import CompressedFile
from xsz.api import CompressedFile as ApiCompressedFile
from xsz.api import error_callback
from xsz.errors import RecordError, StoreExistsError, SZFormatError, UsageError

HEADER = [("version", "0.0.1"), ("date", "2023-04-03")]
ATTR = [("ID", str), ("Offset", np.int32), ("Raw_unit", np.float32)]
DATASETS = [("Raw", np.uint32), ("Fastq", str), ("Move", np.uint16)]


def readme_read(rng: np.random.Generator, name: str, n_fields: int = 6) -> tuple:
    """A record as the pysz README makes them (n_fields=7 adds its stray 7th value)."""
    read = (
        name,
        0,
        rng.random(),
        rng.integers(70, 150, 4000),
        "".join(rng.choice(["A", "T", "C", "G"], 450)),
        rng.integers(0, 1, 4000),
    )
    return (*read, rng.random(4000)) if n_fields == 7 else read


def test_api_is_the_same_class():
    assert CompressedFile is ApiCompressedFile


def test_api_readme_write_and_read(store_path, rng):
    sz = CompressedFile(
        store_path,
        mode="w",
        header=HEADER,
        attributes=ATTR,
        datasets=DATASETS,
        overwrite=True,
        n_threads=8,
    )
    written = []
    for i in range(30):  # single-read mode
        read = readme_read(rng, f"read_{i}")
        sz.put(*read)
        written.append(read)
    for i in range(3):  # chunk mode
        chunk = [readme_read(rng, f"read_{i}_{j}") for j in range(10)]
        sz.put_chunk(chunk)
        written.extend(chunk)
    sz.close()

    sz = CompressedFile(store_path, mode="r", allow_multiprocessing=True)
    assert isinstance(sz.idx, pd.DataFrame)
    assert list(sz.idx.columns) == [
        "LENGTH",
        "OFFSET",
        "ID",
        "Offset",
        "Raw_unit",
        "Raw",
        "Fastq",
        "Move",
    ]
    assert sz.idx.shape[0] == 60
    # dataset columns hold the index cells as pysz wrote them: "SIZE:COUNT" ("SIZE:" for text)
    cells = sz.idx[["Raw", "Fastq", "Move"]].map(lambda c: c.split(":"))
    assert [int(c[1]) for c in cells["Raw"]] == [len(r[3]) for r in written]
    assert {c[1] for c in cells["Fastq"]} == {""}
    sizes = cells.map(lambda c: int(c[0])).sum(axis=1)
    assert sizes.tolist() == sz.idx["LENGTH"].tolist()
    assert sz.header == dict(HEADER)
    assert list(sz.attr.items()) == ATTR
    assert list(sz.datasets.items()) == DATASETS

    read = sz.get(0)
    assert (read.ID, read.Offset, read.Fastq) == (written[0][0], 0, written[0][4])
    assert read.Raw_unit == np.float32(written[0][2])
    assert read.Raw.dtype == np.uint32 and np.array_equal(read.Raw, written[0][3])
    assert read.Move.dtype == np.uint16 and np.array_equal(read.Move, written[0][5])

    reads = sz.get(np.arange(10))
    assert [r.ID for r in reads] == [w[0] for w in written[:10]]

    idx = sz.idx.index[sz.idx["ID"].isin(["read_0", "read_1"])]
    assert sorted(r.ID for r in sz.get(idx)) == ["read_0", "read_1"]
    sz.close()


def test_api_get_keeps_requested_order_and_types(store_path, rng):
    with CompressedFile(store_path, mode="w", attributes=ATTR, datasets=DATASETS) as sz:
        for i in range(12):
            sz.put(*readme_read(rng, f"r{i}"))
    sz = CompressedFile(store_path)
    assert [r.ID for r in sz.get([7, 2, 7, -1])] == ["r7", "r2", "r7", "r11"]
    assert [r.ID for r in sz.get(slice(2, 5))] == ["r2", "r3", "r4"]
    assert [r.ID for r in sz.get(range(10, 12))] == ["r10", "r11"]
    assert sz.get(np.int64(3)).ID == "r3"
    record = sz.get(1)
    assert isinstance(record.Offset, np.int32) and isinstance(record.Raw_unit, np.float32)
    assert sz.idx["Offset"].dtype == np.int32
    clone = pickle.loads(pickle.dumps(record))  # Records cross process boundaries
    assert type(clone) is type(record) and clone._fields == record._fields
    assert clone.ID == record.ID and np.array_equal(clone.Raw, record.Raw)
    with pytest.raises(IndexError):
        sz.get(12)
    sz.close()


def _pool_writer(queue, chunk_id, n_fields):
    rng = np.random.default_rng(chunk_id)
    for i in range(5):
        queue.put((False, readme_read(rng, f"read_{chunk_id}_{i}", n_fields)))
    queue.put((True, [readme_read(rng, f"chunk_{chunk_id}_{i}", n_fields) for i in range(5)]))


def test_api_readme_multiprocessing_writer(store_path):
    sz = CompressedFile(
        store_path,
        mode="w",
        header=HEADER,
        attributes=ATTR,
        datasets=DATASETS,
        overwrite=True,
        n_threads=2,
    )
    with Pool(2) as pool:
        jobs = [pool.apply_async(_pool_writer, (sz.q_in, i, 6)) for i in range(4)]
        for job in jobs:
            job.get(timeout=120)
    sz.close()
    with CompressedFile(store_path) as sz:
        assert sorted(sz.idx["ID"]) == sorted(
            [f"read_{c}_{i}" for c in range(4) for i in range(5)]
            + [f"chunk_{c}_{i}" for c in range(4) for i in range(5)]
        )


def test_api_bad_records_from_q_in_are_reported_at_close_without_hanging(store_path, rng):
    """The README's own example puts 7 fields into a 6-field schema: pysz hangs."""
    sz = CompressedFile(store_path, mode="w", attributes=ATTR, datasets=DATASETS, n_threads=2)
    sz.put(*readme_read(rng, "kept"))
    with Pool(2) as pool:
        pool.apply_async(_pool_writer, (sz.q_in, 0, 7)).get(timeout=120)
        pool.apply_async(_pool_writer, (sz.q_in, 1, 6)).get(timeout=120)
    with pytest.raises(
        RecordError, match=r"expected 6 fields .* got 7 .*and 5 more records from q_in"
    ):
        sz.close()
    with CompressedFile(store_path) as sz:
        assert sorted(sz.idx["ID"]) == sorted(
            ["kept"] + [f"read_1_{i}" for i in range(5)] + [f"chunk_1_{i}" for i in range(5)]
        )


def _pool_reader(file_name, idx):
    sz = CompressedFile(file_name, mode="r", allow_multiprocessing=True)
    reads = sz.get(idx)
    sz.close()
    return reads


def test_api_readme_pool_reader(store_path, rng):
    with CompressedFile(store_path, mode="w", attributes=ATTR, datasets=DATASETS) as sz:
        for i in range(25):
            sz.put(*readme_read(rng, f"r{i}"))
    sz = CompressedFile(store_path, mode="r")
    index = sz.idx
    sz.close()
    with Pool(2) as pool:
        jobs = [
            pool.apply_async(
                _pool_reader,
                (str(store_path), list(index.index[k : k + 10])),
                error_callback=error_callback,
            )
            for k in range(0, 25, 10)
        ]
        reads = [r for job in jobs for r in job.get(timeout=120)]
    assert [r.ID for r in reads] == [f"r{i}" for i in range(25)]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_api_reads_fixtures(sz_fixtures, name):
    e = np.load(sz_fixtures / f"{name}.expected.npz")
    with CompressedFile(sz_fixtures / name) as sz:
        assert sz.idx.shape[0] == int(e["n_reads"])
        assert sz.idx["ID"].tolist() == e["index_order"].tolist()
        if len(sz.idx):
            records = sz.get(np.arange(len(sz.idx)))
            assert [r.ID for r in records] == e["index_order"].tolist()


def test_api_files_it_writes_follow_the_original_layout(store_path, rng):
    with CompressedFile(
        store_path, mode="w", header=HEADER, attributes=ATTR, datasets=DATASETS
    ) as sz:
        reads = [readme_read(rng, f"r{i}") for i in range(5)]
        sz.put_chunk(reads)
    header, columns, got = reference.read_store(store_path)
    assert header == dict(HEADER)
    assert columns == [
        "LENGTH",
        "OFFSET",
        "ID:A:S",
        "Offset:A:I32",
        "Raw_unit:A:F32",
        "Raw:D:U32",
        "Fastq:D:S",
        "Move:D:U16",
    ]
    for want, have in zip(reads, got, strict=True):
        assert have["ID"] == want[0]
        assert np.array_equal(have["Raw"], want[3]) and have["Fastq"] == want[4]


def test_api_default_schema_and_header(store_path):
    with CompressedFile(store_path, mode="w") as sz:
        sz.put("r0", 0, 7, np.arange(3), "ACG", np.zeros(3, dtype=np.uint16))
    with CompressedFile(store_path) as sz:
        assert sz.header == {"version": "0.4.0"}
        assert list(sz.attr) == ["ID", "Offset", "Raw_unit"]
        assert list(sz.datasets) == ["Raw", "Fastq", "Move"]


def test_api_misuse_is_explained(store_path, tmp_path):
    with pytest.raises(UsageError, match="mode"):
        CompressedFile(store_path, mode="a")
    with pytest.raises(SZFormatError, match="does not exist"):
        CompressedFile(tmp_path / "missing")
    with CompressedFile(
        store_path, mode="w", attributes=[("ID", str)], datasets=[("Raw", np.int16)]
    ) as sz:
        sz.put("a", np.zeros(2, np.int16))
        with pytest.raises(UsageError, match="writing"):
            sz.get(0)
    with pytest.raises(StoreExistsError):
        CompressedFile(store_path, mode="w")
    with CompressedFile(store_path) as sz, pytest.raises(UsageError, match="reading"):
        sz.put("b", np.zeros(2, np.int16))


def test_api_context_manager_keeps_accepted_reads_on_error(store_path):
    with (  # noqa: PT012
        pytest.raises(RecordError),
        CompressedFile(
            store_path, mode="w", attributes=[("ID", str)], datasets=[("Raw", np.int16)]
        ) as sz,
    ):
        sz.put("good", np.arange(4, dtype=np.int16))
        sz.put("bad", np.array([1e9]))
    with CompressedFile(store_path) as sz:
        assert sz.idx["ID"].tolist() == ["good"]
