"""xsz's codec pipeline (`SZCodecPipeline`) against zarr's own on SZStore and other stores:
the same values, fill values, errors and writes, with numeric svb-zstd chunks read in bulk."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zarr.storage import LocalStore, MemoryStore

from tests import FIXTURE_NAMES
from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from xsz import SZStore
from xsz.codec import FUSED_PIPELINE, XSZ_PIPELINE, SvbZstdCodec, SZCodecPipeline
from xsz.errors import CodecError, SZFormatError
from xsz.format import Schema, SZReader, SZWriter


def open_arrays(store, pipeline: str) -> dict[str, zarr.Array]:
    """Every array of the group in `store`, opened with `pipeline` (zarr fixes an
    array's pipeline when it opens it)."""
    with zarr.config.set({"codec_pipeline.path": pipeline}):
        group = zarr.open_group(store, mode="r")
        return {name: group[name] for name in group.array_keys()}


def same(x, y) -> bool:
    x, y = np.asarray(x), np.asarray(y)
    return (
        x.dtype == y.dtype
        and x.shape == y.shape
        and np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")
    )


@pytest.fixture
def bulk_only(monkeypatch):
    """Fail a test whose svb-zstd reads leave the bulk path for zarr's (the fallback
    is for damaged frames only); counts the bulk fetches."""
    calls = {"bulk": 0}
    original = SZStore.get_blocks_sync
    read_parts = SZCodecPipeline._read_parts

    def counted(self, keys):
        calls["bulk"] += 1
        return original(self, keys)

    def no_fallback(self, *args, **kwargs):
        try:
            return read_parts(self, *args, **kwargs)
        except Exception as exc:
            raise AssertionError(f"the bulk path fell back to zarr's: {exc!r}") from exc

    monkeypatch.setattr(SZStore, "get_blocks_sync", counted)
    monkeypatch.setattr(SZCodecPipeline, "_read_parts", no_fallback)
    return calls


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_bulk_pipeline_reads_every_fixture_array_as_zarr_does(sz_fixtures, name, bulk_only):
    store = SZStore(sz_fixtures / name)
    ours, zarrs = open_arrays(store, XSZ_PIPELINE), open_arrays(store, FUSED_PIPELINE)
    assert ours.keys() == zarrs.keys()
    with SZReader(sz_fixtures / name) as reader:
        for array_name, array in ours.items():
            assert isinstance(array._async_array.codec_pipeline, SZCodecPipeline)
            assert same(array[:], zarrs[array_name][:]), array_name
            field = next((f for f in reader.schema.datasets if f.name == array_name), None)
            if field is not None and not field.is_text and len(reader):
                values = reader.dataset(array_name)
                assert same(array[:], np.concatenate(values).astype(array.dtype)), array_name
    if name == "signal_int16":
        assert bulk_only["bulk"] > 0


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    """Reads of every numeric kind and some empty ones (no chunk in zarr)."""
    path = tmp_path_factory.mktemp("bulk") / "sample.sz"
    schema = Schema.build(
        [("ID", str)],
        [("Raw", np.int16), ("Move", np.uint16), ("Q", np.float32), ("Wide", np.uint32)],
    )
    rng = np.random.default_rng(7)
    with SZWriter(path, schema) as writer:
        for i in range(60):
            n = int(rng.integers(0, 300)) if i % 7 else 0
            writer.put(
                f"r{i}",
                rng.integers(-2000, 2000, n).astype(np.int16),
                rng.integers(0, 60000, n // 2).astype(np.uint16),
                rng.normal(size=n % 50).astype(np.float32),
                rng.integers(0, 2**32, n // 3, dtype=np.uint64).astype(np.uint32),
            )
    return path


ARRAYS = ("Raw", "Move", "Q", "Wide")


@st.composite
def selections(draw, length: int):
    """A selection zarr takes on a 1-D array of `length`: with `[]`, `.oindex`,
    `.vindex` or `.blocks`-free forms."""
    kind = draw(st.sampled_from(["slice", "int", "oindex", "mask", "vindex"]))
    if kind == "slice":
        a = draw(st.integers(-length - 2, length + 2))
        b = draw(st.integers(-length - 2, length + 2))
        step = draw(st.sampled_from([None, 1, 2, 7, 101]))
        return "basic", slice(a, b, step)
    if kind == "int":
        return "basic", draw(st.integers(-length, length - 1))
    if kind == "mask":
        seed = draw(st.integers(0, 2**32 - 1))
        return "oindex", np.random.default_rng(seed).random(length) < 0.3
    picks = draw(st.lists(st.integers(0, length - 1), min_size=1, max_size=40))
    if kind == "oindex":
        return "oindex", np.array(sorted(set(picks)))
    return "vindex", np.array(picks)


def take(array, how: str, selection):
    if how == "oindex":
        return array.oindex[selection]
    if how == "vindex":
        return array.vindex[selection]
    return array[selection]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_bulk_pipeline_random_selections_match_zarrs(sample_store, bulk_only, data):
    store = SZStore(sample_store)
    ours, zarrs = open_arrays(store, XSZ_PIPELINE), open_arrays(store, FUSED_PIPELINE)
    name = data.draw(st.sampled_from(ARRAYS))
    length = ours[name].shape[0]
    if not length:
        return
    how, selection = data.draw(selections(length))
    assert same(take(ours[name], how, selection), take(zarrs[name], how, selection))


def test_bulk_pipeline_reads_with_one_worker_and_many(sample_store, bulk_only):
    store = SZStore(sample_store)
    zarrs = open_arrays(store, FUSED_PIPELINE)
    for workers in (1, 2, 5):
        with zarr.config.set({"codec_pipeline.max_workers": workers}):
            ours = open_arrays(store, XSZ_PIPELINE)
            for name in ARRAYS:
                assert same(ours[name][:], zarrs[name][:])
                assert same(ours[name][3:-5], zarrs[name][3:-5])


def test_bulk_pipeline_into_out_buffer_and_blocks(sample_store, bulk_only):
    from zarr.core.buffer import default_buffer_prototype

    store = SZStore(sample_store)
    ours, zarrs = open_arrays(store, XSZ_PIPELINE), open_arrays(store, FUSED_PIPELINE)
    raw = ours["Raw"]
    out = default_buffer_prototype().nd_buffer.empty(shape=raw.shape, dtype=raw.dtype)
    raw.get_basic_selection(slice(None), out=out)
    assert same(out.as_numpy_array(), zarrs["Raw"][:])
    for k in range(raw.cdata_shape[0]):
        assert same(raw.blocks[k], zarrs["Raw"].blocks[k])


@pytest.mark.parametrize("kind", ["memory", "local"])
def test_bulk_pipeline_other_stores_missing_chunks_and_2d(tmp_path, kind, bulk_only):
    """Any store with synchronous I/O: regular grids, 2-D chunks, missing chunks (the
    fill value), partial edge chunks; the same values as zarr's pipeline."""
    rng = np.random.default_rng(5)
    values = rng.integers(-500, 500, (37, 23)).astype(np.int32)
    for pipeline in (FUSED_PIPELINE, XSZ_PIPELINE):
        store = MemoryStore() if kind == "memory" else LocalStore(tmp_path / pipeline)
        with zarr.config.set({"codec_pipeline.path": pipeline}):
            array = zarr.create_array(
                store,
                name="two",
                shape=values.shape,
                chunks=(8, 5),
                dtype=np.int32,
                serializer=SvbZstdCodec(),
                compressors=None,
                fill_value=-7,
            )
            array[:30, 2:] = values[:30, 2:]  # chunks of the last rows stay missing
            one_d = zarr.create_array(
                store,
                name="one",
                shape=(101,),
                chunks=(10,),
                dtype=np.float64,
                serializer=SvbZstdCodec(),
                compressors=None,
                fill_value=np.nan,
            )
            one_d[5:63] = np.linspace(0, 1, 58)
        if pipeline == FUSED_PIPELINE:
            want = (array[:], array[3:35:2, 1:20], array.oindex[[0, 9, 33], [4, 22]], one_d[:])
            want += (one_d[7:90:3], one_d[64], one_d.vindex[[99, 0, 50]])
        else:
            assert isinstance(array._async_array.codec_pipeline, SZCodecPipeline)
            got = (array[:], array[3:35:2, 1:20], array.oindex[[0, 9, 33], [4, 22]], one_d[:])
            got += (one_d[7:90:3], one_d[64], one_d.vindex[[99, 0, 50]])
    assert all(same(g, w) for g, w in zip(got, want, strict=True))
    assert np.isnan(one_d[0]) and (array[35:] == -7).all()


def test_bulk_pipeline_leaves_other_codecs_to_zarr(monkeypatch):
    """An array with zarr's own codecs, or svb-zstd beside another codec, is read by
    zarr's fused pipeline as it is."""
    calls = []
    original = SZCodecPipeline._read_bulk
    monkeypatch.setattr(
        SZCodecPipeline, "_read_bulk", lambda self, *a: calls.append(1) or original(self, *a)
    )
    with zarr.config.set({"codec_pipeline.path": XSZ_PIPELINE}):
        plain = zarr.create_array(MemoryStore(), shape=(50,), chunks=(7,), dtype=np.int16)
        plain[:] = np.arange(50)
        shuffled = zarr.create_array(
            MemoryStore(),
            shape=(50,),
            chunks=(7,),
            dtype=np.int16,
            serializer=SvbZstdCodec(),
            compressors=[zarr.codecs.ZstdCodec()],
        )
        shuffled[:] = np.arange(50)
        assert plain[:].tolist() == shuffled[:].tolist() == list(range(50))
    assert not calls


def test_bulk_pipeline_writes_through_zarr(tmp_path):
    """Writing goes through zarr's fused path: an SZStore written with the pipeline on
    reads back the same."""
    reads = make_reads(6)
    schema = Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)
    path = tmp_path / "w.sz"
    counts = {"Raw": [len(r[3]) for r in reads], "Move": [len(r[5]) for r in reads]}
    with zarr.config.set({"codec_pipeline.path": XSZ_PIPELINE}):
        with SZStore(path, read_only=False) as store:
            store.create_hierarchy(schema, n_reads=len(reads), counts=counts)
            group = zarr.open_group(store, mode="r+")
            group["read"][:] = np.array([r[0] for r in reads])
            group["Offset"][:] = np.array([r[1] for r in reads], np.int32)
            group["Raw_unit"][:] = np.array([r[2] for r in reads], np.float32)
            group["Raw"][:] = np.concatenate([r[3] for r in reads])
            group["Fastq"][:] = np.array([r[4].encode() for r in reads], dtype=object)
            group["Move"][:] = np.concatenate([r[5] for r in reads])
            group["Raw"][10:20] = np.arange(10, dtype=np.int16)  # a partial rewrite
            assert group["Raw"][8:22].tolist()[2:12] == list(range(10))
        with SZReader(path) as reader:
            raw = np.concatenate(reader.dataset("Raw"))
    want = np.concatenate([r[3] for r in reads])
    want[10:20] = np.arange(10)
    assert same(raw, want)


def test_bulk_pipeline_damaged_frames_refused_as_before(written):
    """A damaged frame makes the bulk path hand the batch to zarr's, whose errors name
    the key and read; the same for a dat cut short after opening."""
    with SZReader(written) as reader:
        start = int(reader.index.frame_offset["Move"][5])
        middle = int(reader.index.frame_offset["Raw"][7] + reader.index.frame_size["Raw"][7] // 2)
    data = bytearray((written / "dat").read_bytes())
    data[start : start + 4] = b"XXXX"
    data[middle : middle + 64] = bytes(64)
    (written / "dat").write_bytes(bytes(data))
    arrays = open_arrays(SZStore(written), XSZ_PIPELINE)
    with pytest.raises(SZFormatError, match=r"'Move/c/5' is read 'read_00005'.*not a zstd"):
        arrays["Move"][:]
    with pytest.raises(CodecError, match=r"'Raw/c/7' is read 'read_00007' \(row 7\)"):
        arrays["Raw"][:]
    assert arrays["Raw"][: int(arrays["Raw_count"][:7].sum())].size  # reads 0-6 are fine
    os.truncate(written / "dat", 100)
    with pytest.raises(SZFormatError, match=r"zarr key 'Raw/c/4' is read 'read_00004'.*truncated"):
        arrays["Raw"].blocks[4]
    with pytest.raises(SZFormatError, match=r"zarr key 'Raw/c/0' is read 'read_00000'.*truncated"):
        arrays["Raw"][:]


def test_apply_zarr_settings_selects_the_bulk_pipeline_once(tmp_path):
    """Run in a child: the pipeline switches from zarr's default only, once a store is made."""
    code = f"""
import zarr
from xsz.codec import XSZ_PIPELINE, FUSED_PIPELINE
from xsz.format import Schema, SZWriter
from xsz import SZStore
default = zarr.config.get("codec_pipeline.path")
with SZWriter({str(tmp_path / "a.sz")!r}, Schema.build([("ID", str)], [("Raw", "int16")])) as w:
    w.put("r", [1, 2, 3])
assert zarr.config.get("codec_pipeline.path") == default
store = SZStore({str(tmp_path / "a.sz")!r})
assert zarr.config.get("codec_pipeline.path") == XSZ_PIPELINE
assert zarr.open_array(store, path="Raw")[:].tolist() == [1, 2, 3]
zarr.config.set({{"codec_pipeline.path": FUSED_PIPELINE}})
SZStore({str(tmp_path / "a.sz")!r})
assert zarr.config.get("codec_pipeline.path") == FUSED_PIPELINE
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZARR_")}
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True, env=env)
