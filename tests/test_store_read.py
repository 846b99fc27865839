"""SZStore reading: SZ stores read exactly through zarr and xarray; bad stores refused by key and read."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
import zarr
import zarr.core.sync
from zarr.core.buffer import default_buffer_prototype

from tests import FIXTURE_NAMES
from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from tests.test_format import (
    FIELD_DTYPES,
    expected_attribute,
    expected_dataset,
    load_expected,
    same,
)
from xsz import SZStore
from xsz.codec import CODEC_ID, FLOAT80_NAME, encode_array
from xsz.errors import (
    SZFormatError,
)
from xsz.format import Schema, SZReader, SZWriter
from xsz.store import ENCODING_ATTR, READ_CHUNK

# --- reading: every fixture exactly -------------------------------------------------


def frames_in_dat(path) -> list[dict[str, tuple[int, int, int | None]]]:
    """Per index row: dataset -> (start, size, count), parsed here without xsz."""
    lines = (path / "index").read_text(encoding="utf-8").split("\n")
    columns = lines[1].split("\t")
    rows = []
    for line in lines[2:]:
        if not line:
            continue
        cells = line.split("\t")
        pos, row = int(cells[1]), {}
        for column, cell in zip(columns[2:], cells[2:], strict=True):
            name, group, _ = column.split(":")
            if group == "D":
                size, _, count = cell.partition(":")
                row[name] = (pos, int(size), int(count) if count else None)
                pos += int(size)
        rows.append(row)
    return rows


def check_against_expected(root, name: str, values, text) -> None:
    """The fixture `root`/`name`, as its expected.npz says: `values(var)` gives a variable
    as numpy, `text(var)` a text variable as str."""
    e, pos = load_expected(root, name)
    ids = [str(i) for i in values("read")]
    assert ids == e["index_order"].tolist()
    p = [pos[i] for i in ids]
    for a, code in zip(e["attr_names"].tolist(), e["attr_codes"].tolist(), strict=True):
        if a == "ID":
            continue
        got = text(a) if code == "S" else values(a)
        want = [expected_attribute(e, a, code, k) for k in p]
        if code != "S":
            assert got.dtype == np.dtype(FIELD_DTYPES[code]), a
        assert all(same(g, w) for g, w in zip(got, want, strict=True)), a
    for d, code in zip(e["dataset_names"].tolist(), e["dataset_codes"].tolist(), strict=True):
        if code == "S":
            got = text(d)
            assert list(got) == [expected_dataset(e, d, code, k) for k in p], d
            continue
        counts = values(f"{d}_count")
        flat = values(d)
        assert flat.dtype == np.dtype(FIELD_DTYPES[code]), d
        assert len(flat) == counts.sum()
        parts = np.split(flat, np.cumsum(counts)[:-1]) if len(counts) else []
        for k, part in zip(p, parts, strict=True):
            assert same(part, expected_dataset(e, d, code, k)), (d, k)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_store_fixture_reads_exactly_with_zarr(sz_fixtures, name):
    e, _ = load_expected(sz_fixtures, name)
    with SZStore(sz_fixtures / name) as store:
        group = zarr.open_group(store, mode="r")
        header = json.loads(str(e["header_json"]))
        assert dict(group.attrs) == {**header, "sz_columns": e["columns"].tolist()}

        def text(var):
            return [b.decode("utf-8") if isinstance(b, bytes) else b for b in group[var][:]]

        check_against_expected(sz_fixtures, name, lambda var: group[var][:], text)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_store_fixture_reads_exactly_with_xarray(sz_fixtures, name):
    with SZStore(sz_fixtures / name) as store:
        ds = xr.open_zarr(store)
        assert ds.indexes["read"].size == ds.sizes["read"]
        check_against_expected(
            sz_fixtures, name, lambda var: ds[var].values, lambda var: list(ds[var].values)
        )


@pytest.mark.parametrize("name", ["basic", "alltypes"])
def test_store_chunk_is_the_frame_in_dat(sz_fixtures, name):
    """`get` of a chunk key returns exactly that read's frame, bytes from dat untouched."""
    path = sz_fixtures / name
    dat = (path / "dat").read_bytes()
    rows = frames_in_dat(path)
    columns = (path / "index").read_text(encoding="utf-8").split("\n")[1].split("\t")
    with SZStore(path) as store:
        for dataset in rows[0]:
            text = f"{dataset}:D:S" in columns
            j = 0
            for k, row in enumerate(rows):
                start, size, count = row[dataset]
                if count == 0 or (count is None and not text and size == 9):
                    continue  # no samples: no chunk (9 bytes is the empty frame)
                key = f"{dataset}/c/{k if text else j}"
                frame = dat[start : start + size]
                assert store.get_sync(key).to_bytes() == frame, key
                got = asyncio.run(store.get(key, default_buffer_prototype()))
                assert got.to_bytes() == frame, key
                j += 1


def test_store_metadata_describes_the_sz_layout(sz_fixtures):
    with SZStore(sz_fixtures / "alltypes") as store, SZReader(sz_fixtures / "alltypes") as reader:
        group = zarr.open_group(store, mode="r")
        counts = reader.counts("d_i16")
        raw = group["d_i16"]
        assert raw.metadata.dimension_names == ("d_i16_sample",)
        assert raw.read_chunk_sizes == (tuple(counts[counts > 0].tolist()),)
        assert [c.to_dict()["name"] for c in raw.metadata.codecs] == [CODEC_ID]
        assert dict(raw.attrs) == {"sz_field": "d_i16", "sz_group": "D", "sz_code": "I16"}
        assert dict(group["d_i16_count"].attrs) == {"sample_dimension": "d_i16_sample"}
        assert group["d_i16_count"][:].tolist() == counts.tolist()
        text = group["d_str"]
        assert text.metadata.dimension_names == ("read",)
        assert text.metadata.chunks == (1,)
        assert text.attrs[ENCODING_ATTR] == "utf-8"
        assert group["read"].metadata.dimension_names == ("read",)
        assert group["read"].attrs["sz_field"] == "ID"
        assert group["read"].metadata.chunks == (min(READ_CHUNK, len(reader)),)
        assert group["a_f128"].metadata.data_type.to_json(zarr_format=3) == FLOAT80_NAME
        assert group["d_f128"].dtype == np.longdouble


def test_store_reads_what_xsz_writes_with_empty_reads(store_path):
    reads = make_reads(30)
    for k in (0, 7, 8, 29):  # reads without samples have no chunk
        reads[k] = (*reads[k][:3], reads[k][3][:0], reads[k][4], reads[k][5])
    with SZWriter(store_path, Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)) as writer:
        writer.put_many(reads)
    with SZStore(store_path) as store:
        group = zarr.open_group(store, mode="r")
        assert group["read"][:].tolist() == [r[0] for r in reads]
        assert group["Offset"][:].tolist() == [r[1] for r in reads]
        assert group["Raw_unit"][:].tolist() == [np.float32(r[2]) for r in reads]
        assert group["Fastq"][:].tolist() == [r[4].encode() for r in reads]
        raw, counts = group["Raw"], group["Raw_count"][:]
        assert counts.tolist() == [len(r[3]) for r in reads]
        assert raw.read_chunk_sizes == (tuple(len(r[3]) for r in reads if len(r[3])),)
        assert np.array_equal(raw[:], np.concatenate([r[3] for r in reads]))
        # rows 1..6 are chunks 0..5, rows 7 and 8 have no samples, so row 9 is chunk 6
        assert np.array_equal(raw.blocks[6], reads[9][3])
        assert store.get_sync("Raw/c/26") is None  # 26 reads have samples: chunks 0..25
        assert store.get_sync("Raw/c/25") is not None


def test_store_all_empty_dataset_is_an_empty_array(store_path):
    schema = Schema.build([("ID", str)], [("Raw", np.int16), ("Move", np.uint16)])
    with SZWriter(store_path, schema) as writer:
        for k in range(3):
            writer.put(f"r{k}", np.zeros(0, np.int16), np.arange(k + 1, dtype=np.uint16))
    with SZStore(store_path) as store:
        ds = xr.open_zarr(store)
        assert ds.sizes["Raw_sample"] == 0
        assert ds.Raw_count.values.tolist() == [0, 0, 0]
        assert ds.Move.values.tolist() == [0, 0, 1, 0, 1, 2]
        assert not [k for k in asyncio.run(_keys(store)) if k.startswith("Raw/c/")]


async def _keys(store):
    return [k async for k in store.list()]


@pytest.mark.slow
def test_store_a_million_reads(tmp_path):
    """Index-made arrays are chunked regularly; opening and reading them stays quick."""
    n = 1_000_000
    frame = encode_array(np.array([5, 6, 7], dtype=np.int16))
    path = tmp_path / "million.sz"
    path.mkdir()
    (path / "dat").write_bytes(frame * n)
    rows = np.arange(n)
    lines = np.char.add(np.char.add(f"{len(frame)}\t", (rows * len(frame)).astype(str)), "\t")
    lines = np.char.add(np.char.add(lines, np.char.add("r", rows.astype(str))), f"\t{len(frame)}:3")
    (path / "index").write_text(
        '#{"version": "0.4.0"}\nLENGTH\tOFFSET\tID:A:S\tRaw:D:I16\n' + "\n".join(lines) + "\n"
    )
    with SZStore(path) as store:
        group = zarr.open_group(store, mode="r")
        assert group["read"].metadata.chunks == (READ_CHUNK,)
        ids = group["read"][:]
        assert ids[0] == "r0" and ids[-1] == f"r{n - 1}"
        assert group["Raw_count"][:].sum() == 3 * n
        raw = group["Raw"]
        assert raw.shape == (3 * n,)
        assert raw[3 * (n - 2) : 3 * n].tolist() == [5, 6, 7, 5, 6, 7]


# --- bad input -----------------------------------------------------------------------


def test_store_missing_or_foreign_path_is_refused(tmp_path):
    with pytest.raises(SZFormatError, match="does not exist"):
        SZStore(tmp_path / "nowhere")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    with pytest.raises(SZFormatError, match="not an SZ store"):
        SZStore(tmp_path / "notes")
    with pytest.raises(SZFormatError, match="not an SZ store"):
        SZStore(tmp_path / "notes" / "todo.txt")


def test_store_truncated_dat_names_keys_and_read(written, tmp_path):
    size = (written / "dat").stat().st_size
    os.truncate(written / "dat", size - 10)
    with pytest.raises(
        SZFormatError, match=r"read 'read_00019' \(row 19\).*Raw/c/19, Fastq/c/19, Move/c/19"
    ):
        SZStore(written)


def test_store_truncated_dat_names_the_keys_of_renamed_arrays(store_path):
    """A dataset whose name the layout gives to another array: errors name its array's keys
    as SZStore shows them, and the dataset by its SZ name."""
    schema = Schema.build(
        [("ID", str)], [("read", np.int16), ("Raw", np.int16), ("Raw_count", str)]
    )
    with SZWriter(store_path, schema) as writer:
        for k in range(3):
            writer.put(f"r{k}", np.arange(5, dtype=np.int16), np.arange(3, dtype=np.int16), "AC")
    with SZReader(store_path) as reader:
        start = int(reader.index.frame_offset["read"][1])
    with open(store_path / "dat", "r+b") as dat:
        dat.seek(start)
        dat.write(b"XXXX")  # the magic number of read 1's frame of dataset 'read'
    with pytest.raises(
        SZFormatError, match=r"key 'read_/c/1' is read 'r1' \(row 1\), dataset 'read', dat"
    ):
        SZStore(store_path).get_sync("read_/c/1")
    os.truncate(store_path / "dat", (store_path / "dat").stat().st_size - 5)
    with pytest.raises(SZFormatError, match=r"keys read_/c/2, Raw/c/2, Raw_count_/c/2 cannot"):
        SZStore(store_path)


def test_store_frame_header_claiming_too_much_is_refused(written):
    with SZReader(written) as reader:
        start = int(reader.index.frame_offset["Raw"][2])
    data = bytearray((written / "dat").read_bytes())
    data[start + 4] = 0xE0  # frame header: single segment, an 8-byte content size follows
    data[start + 5 : start + 13] = (1 << 40).to_bytes(8, "little")
    (written / "dat").write_bytes(bytes(data))
    with pytest.raises(SZFormatError, match=r"'Raw/c/2' is read 'read_00002'.*claims"):
        SZStore(written).get_sync("Raw/c/2")


def test_store_importing_xsz_imports_no_zarr():
    code = "import sys, xsz; print('zarr' in sys.modules, xsz.SZStore.__module__, 'zarr' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "xsz.store._store", "True"]
