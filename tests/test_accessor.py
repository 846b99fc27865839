"""The ds.sz accessor: reads as reads, calibration, per-read computing, plots, writing SZ."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from tests import FIXTURE_NAMES, ROOT, reference
from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from xsz.errors import RecordError, SchemaError, UsageError
from xsz.format import Schema, SZReader, SZWriter
from xsz.xarray.indexes import SZReadIndex

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


@pytest.fixture
def reads():
    return make_reads(25, length=2000)


@pytest.fixture
def store(tmp_path, reads):
    path = tmp_path / "reads.sz"
    with SZWriter(path, Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)) as w:
        w.put_many(reads)
    return path


@pytest.fixture
def ds(store):
    return xr.open_dataset(store, engine="sz")


def test_accessor_is_registered_whatever_the_import_order():
    code = """
import sys
{first}
import {second}
assert ("xarray" in sys.modules) is True
import xarray as xr
ds = xr.Dataset({{"Raw": ("Raw_sample", [1, 2, 3])}},
                coords={{"read": ["a", "b"]}})
ds["Raw_count"] = ("read", [1, 2], {{"sample_dimension": "Raw_sample"}})
assert [a.tolist() for a in ds.sz.to_list("Raw")] == [[1], [2, 3]]
"""
    for first, second in (
        ("import xsz; assert 'xarray' not in sys.modules", "xarray"),
        ("import xarray", "xsz"),
    ):
        subprocess.run(
            [sys.executable, "-W", "error", "-c", code.format(first=first, second=second)],
            check=True,
            cwd=ROOT,
        )


def test_accessor_per_read_access(ds, reads):
    raw = ds.sz["Raw"]
    assert len(raw) == len(reads)
    assert np.array_equal(raw[3], reads[3][3])
    assert np.array_equal(raw[-1], reads[-1][3])
    assert [a.tolist() for a in raw[[4, 1]]] == [reads[4][3].tolist(), reads[1][3].tolist()]
    assert all(np.array_equal(a, r[3]) for a, r in zip(raw, reads, strict=True))
    assert ds.sz["Fastq"][2] == reads[2][4]
    assert ds.sz["Offset"][5] == reads[5][1]
    one = ds.sz.read("read_00007")
    assert one.Raw_count.item() == len(reads[7][3])
    assert np.array_equal(one.Move.values, reads[7][5])
    assert np.array_equal(ds.sel(read="read_00007").sz["Raw"][0], reads[7][3])
    with pytest.raises(IndexError):
        raw[len(reads)]
    with pytest.raises(KeyError, match="nope"):
        ds.sz["nope"]


def test_accessor_list_and_awkward(ds, reads):
    ak = pytest.importorskip("awkward")
    as_list = ds.sz.to_list("Move")
    assert [a.tolist() for a in as_list] == [r[5].tolist() for r in reads]
    arr = ds.sz.to_awkward("Raw")
    assert len(arr) == len(reads)
    assert ak.to_list(arr[6]) == reads[6][3].tolist()
    assert str(arr.type).endswith("var * int16")
    with pytest.raises(UsageError, match="not a ragged variable"):
        ds.sz.to_list("Offset")


@pytest.mark.parametrize(
    ("names", "scale"),
    [
        (("Offset", "Raw_unit"), lambda v: v["Raw_unit"]),
        (("offset", "scale"), lambda v: v["scale"]),
        (("offset", "range", "digitisation"), lambda v: v["range"] / v["digitisation"]),
    ],
)
def test_accessor_calibration_rules(tmp_path, names, scale):
    rng = np.random.default_rng(4)
    values = {n: rng.uniform(1, 100, 6) for n in names}
    signals = [rng.integers(-50, 900, int(rng.integers(0, 300))).astype(np.int16) for _ in range(6)]
    path = tmp_path / "cal.sz"
    schema = Schema.build([("ID", str), *((n, np.float64) for n in names)], [("Raw", np.int16)])
    with SZWriter(path, schema) as w:
        for i in range(6):
            w.put(f"r{i}", *(values[n][i] for n in names), signals[i])
    for chunks in (None, {}):
        ds = xr.open_dataset(path, engine="sz", chunks=chunks, chunk_bytes=200)
        pa = ds.sz.to_pA("Raw")
        assert pa.attrs["units"] == "pA" and pa.dims == ("Raw_sample",)
        want = np.concatenate(
            [
                (s + values[names[0]][i]) * scale({k: v[i] for k, v in values.items()})
                for i, s in enumerate(signals)
            ]
        )
        assert np.allclose(pa.values, want, rtol=1e-6)
        assert (pa.chunks is not None) == (chunks is not None)


def test_accessor_without_calibration_says_what_it_needs(tmp_path):
    path = tmp_path / "raw.sz"
    with SZWriter(path, Schema.build([("ID", str)], [("Raw", np.int16)])) as w:
        w.put("r", np.arange(3, dtype=np.int16))
    with pytest.raises(UsageError, match=r"Raw_unit.*scale.*digitisation"):
        xr.open_dataset(path, engine="sz").sz.to_pA()


def test_accessor_map_reads(store, reads):
    want = [r[3].max() - r[3].min() for r in reads]
    ds = xr.open_dataset(store, engine="sz")
    eager = ds.sz.map_reads(np.ptp)
    assert eager.values.tolist() == want and eager.name == "ptp_Raw"
    chunked = xr.open_dataset(store, engine="sz", chunks={}, chunk_bytes=20_000)
    lazy = chunked.sz.map_reads(np.ptp, dtype=np.int64)
    assert lazy.chunks is not None and len(lazy.chunks[0]) > 2
    assert lazy.values.tolist() == want
    assert lazy["read"].values.tolist() == [r[0] for r in reads]
    split = chunked.chunk({"Raw_sample": 777})  # chunks that cut reads are moved to read edges
    assert split.sz.map_reads(np.ptp).values.tolist() == want
    sub = chunked.sel(read=["read_00009", "read_00002"])
    assert sub.sz.map_reads(len, "Move").values.tolist() == [len(reads[9][5]), len(reads[2][5])]


def test_accessor_works_on_a_look_alike_dataset(reads):
    """A Dataset in the layout but not from the engine (open_zarr, hand-made)."""
    ds = xr.Dataset(
        {
            "Raw": ("Raw_sample", np.concatenate([r[3] for r in reads])),
            "Raw_count": ("read", [len(r[3]) for r in reads], {"sample_dimension": "Raw_sample"}),
            "Offset": ("read", [r[1] for r in reads]),
        },
        coords={"read": [r[0] for r in reads]},
    )
    assert not isinstance(ds.xindexes["read"], SZReadIndex)
    sub = ds.sz.sel(read=["read_00011", "read_00000"])
    assert np.array_equal(sub.Raw.values, np.concatenate([reads[11][3], reads[0][3]]))
    assert isinstance(sub.xindexes["read"], SZReadIndex)
    assert np.array_equal(sub.sel(read="read_00000").Raw.values, reads[0][3])
    indexed = ds.drop_indexes("read").set_xindex(
        "read", SZReadIndex, counts={"Raw_sample": ds.Raw_count.values}
    )
    assert np.array_equal(indexed.sel(read="read_00011").Raw.values, reads[11][3])
    broken = ds.assign(Raw_count=ds.Raw_count + 1)
    with pytest.raises(UsageError, match="do not match"):
        broken.sz.isel(read=[0])


def test_accessor_plot(tmp_path):
    seq = "ACGTTGCA"
    moves = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 0], dtype=np.uint16)
    schema = Schema.build(
        [("ID", str), ("Offset", np.int32), ("Raw_unit", np.float32)],
        [("Raw", np.int16), ("Fastq", str), ("Move", np.uint16)],
    )
    path = tmp_path / "p.sz"
    with SZWriter(path, schema) as w:
        w.put("a", 10, 0.5, np.arange(70, dtype=np.int16), "@a\n" + seq + "\n+\n" + "!" * 8, moves)
        w.put("b", 0, 1.0, np.arange(40, dtype=np.int16), "AC", moves[:4])
    ds = xr.open_dataset(path, engine="sz")
    axes = ds.sz.plot(["a", "b"])
    assert len(axes) == 2
    (line,) = axes[0].get_lines()
    assert np.allclose(line.get_ydata(), (np.arange(70) + 10) * 0.5)  # picoamperes
    assert axes[0].get_ylabel() == "current (pA)"
    edges = axes[0].collections[0].get_segments()
    assert [int(seg[0][0]) for seg in edges] == [0, 10, 15, 25, 35, 40, 50, 55]  # stride 5
    assert "".join(t.get_text() for t in axes[0].texts) == seq
    assert len(axes[1].texts) == 0  # 2 bases for 3 moves: not drawn
    (raw_ax,) = ds.sz.plot("b", pA=False, moves=None, stride=3)
    assert raw_ax.get_ylabel() == "Raw (ADC)" and not raw_ax.collections
    n_figures = len(matplotlib.pyplot.get_fignums())
    with pytest.raises(KeyError, match="nope"):
        ds.sz.plot(["a", "nope"])
    assert len(matplotlib.pyplot.get_fignums()) == n_figures
    (single,) = ds.sel(read="b").sz.plot()
    assert single.get_title(loc="left") == "b"
    (win,) = ds.sz.plot("a", window=(12, 30), stride=5)
    assert win.get_lines()[0].get_xdata().tolist() == list(range(12, 30))
    assert "".join(t.get_text() for t in win.texts) == "GT"  # bases starting at 15 and 25
    matplotlib.pyplot.close("all")


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_accessor_to_sz_round_trip_of_fixtures(sz_fixtures, name, tmp_path):
    ds = xr.open_dataset(sz_fixtures / name, engine="sz")
    ds.sz.to_sz(tmp_path / "copy.sz", batch_bytes=50_000)
    back = xr.open_dataset(tmp_path / "copy.sz", engine="sz")
    xr.testing.assert_identical(back.load(), ds.load())
    _, columns, rows = reference.read_store(tmp_path / "copy.sz")  # by the original's rules
    assert columns == ds.attrs["sz_columns"]
    assert [r.get("ID") for r in rows] == ds["read"].values.tolist()


def test_accessor_to_sz_of_selections(ds, reads, tmp_path):
    ids = ["read_00020", "read_00003", "read_00011"]
    ds.sel(read=ids).sz.to_sz(tmp_path / "sub.sz")
    back = xr.open_dataset(tmp_path / "sub.sz", engine="sz")
    xr.testing.assert_identical(back.load(), ds.sel(read=ids).load())
    ds.sel(read="read_00005").sz.to_sz(tmp_path / "one.sz")
    with SZReader(tmp_path / "one.sz") as r:
        assert r.ids.tolist() == ["read_00005"]
        assert np.array_equal(r.read(0)["Raw"], reads[5][3])
    extra = ds.sz.isel(read=slice(0, 4)).assign(mean=lambda d: d.sz.map_reads(np.mean))
    extra.sz.to_sz(tmp_path / "extra.sz")
    with SZReader(tmp_path / "extra.sz") as r:
        assert r.schema["mean"].code == "F64"
        assert r.index.attribute("mean").tolist() == [r_[3].mean() for r_ in reads[:4]]


def test_accessor_to_sz_writes_in_bounded_batches(store, tmp_path, monkeypatch):
    batches = []
    real = SZWriter.put_many

    def put_many(self, records):
        records = list(records)
        batches.append(len(records))
        return real(self, records)

    monkeypatch.setattr(SZWriter, "put_many", put_many)
    chunked = xr.open_dataset(store, engine="sz", chunks={})
    chunked.sz.to_sz(tmp_path / "b.sz", batch_bytes=20_000)
    assert sum(batches) == 25 and max(batches) <= 6 and len(batches) > 4
    xr.testing.assert_identical(
        xr.open_dataset(tmp_path / "b.sz", engine="sz").load(), chunked.load()
    )


def test_accessor_to_sz_refuses_what_sz_cannot_hold(ds, tmp_path):
    with pytest.raises(SchemaError, match="variable 'when' cannot be stored as SZ"):
        ds.assign(when=("read", np.zeros(ds.sizes["read"], "datetime64[ns]"))).sz.to_sz(
            tmp_path / "x.sz"
        )
    bad = ds.assign(Offset=ds.Offset.astype(np.int64) + 2**40)
    with pytest.raises(SchemaError, match="Offset"):
        bad.sz.to_sz(tmp_path / "y.sz")
    tabbed = ds.sz.isel(read=[0, 1]).assign_coords(read=["a\tb", "c"])
    with pytest.raises(RecordError, match=r"'a\\tb'.*'ID'"):
        tabbed.sz.to_sz(tmp_path / "z.sz")
    assert not any(p.name.startswith(("x", "y", "z")) for p in tmp_path.iterdir())
