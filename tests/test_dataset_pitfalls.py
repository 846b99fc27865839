"""The Dataset pitfalls a new user hits, each working as an xarray user expects or failing
with a message that says what to do:

- ``ds.offset.sel(read=i)`` (a DataArray without the samples the read index also
  selects): xarray's error names the sample dimension with the advice;
- a plain ``ds.isel(read=...)`` would move the reads but not their samples (xarray
  gives an index no say over other dimensions): refused with the way out,
  ``ds.sz.isel`` / ``ds.sel``, which select the samples;
- writing a dask-chunked Dataset with zarr needs regular chunks on ``read`` too: the
  README's advice, ``ds.chunk({"read": -1, "Raw_sample": ...})``, round-trips.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from tests import ROOT
from tests.conftest import make_reads
from xsz import SZStore
from xsz.errors import UsageError
from xsz.format import Schema, SZReader, SZWriter

xr = pytest.importorskip("xarray")
pytest.importorskip("dask")

SCHEMA = Schema.build(
    [("ID", str), ("offset", np.float64), ("channel", np.int32)],
    [("Raw", np.int16), ("Move", np.uint16)],
)


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "r.sz"
    rng = np.random.default_rng(5)
    with SZWriter(path, SCHEMA) as w:
        for k, (read_id, *_rest) in enumerate(make_reads(12, length=300)):
            n = int(rng.integers(50, 400))
            w.put(
                read_id,
                float(k),
                k + 100,
                rng.integers(-500, 500, n).astype(np.int16),
                rng.integers(0, 2, n // 5).astype(np.uint16),
            )
    return path


def test_dataset_pitfalls_dataarray_sel_says_what_to_do(store):
    ds = xr.open_dataset(store, engine="sz")
    read_id = str(ds.read.values[4])
    assert float(ds.sel(read=read_id).offset) == 4.0  # the Dataset route works
    with pytest.raises(ValueError, match=re.escape("select on the Dataset, ds.sel(read=ids)")):
        ds.offset.sel(read=read_id)
    with pytest.raises(ValueError, match="'Raw_sample': selecting reads also selects"):
        ds.channel.sel(read=[read_id])
    # a Dataset that has the samples selects them with the reads
    one = ds.sel(read=[read_id, str(ds.read.values[0])])
    with SZReader(store) as r:
        want = r.read_many([4, 0])
    np.testing.assert_array_equal(one.Raw.values, np.concatenate([x["Raw"] for x in want]))
    np.testing.assert_array_equal(one.Move.values, np.concatenate([x["Move"] for x in want]))


def test_dataset_pitfalls_plain_isel_is_refused_with_the_way_out(store):
    ds = xr.open_dataset(store, engine="sz")
    for select in (
        lambda: ds.isel(read=[3, 1]),
        lambda: ds.isel(read=2),
        lambda: ds.head(read=2),
        lambda: ds.isel(read=xr.DataArray([3, 1], dims="read")),  # xarray's fancy path
    ):
        with pytest.raises(UsageError, match=r"use ds\.sz\.isel\(read=\.\.\.\)"):
            select()
    # what has no samples to leave behind is selected as usual
    assert ds.offset.isel(read=[3, 1]).values.tolist() == [3.0, 1.0]
    assert ds[["offset", "channel"]].isel(read=[2]).channel.values.tolist() == [102]
    assert ds.isel(read=slice(None)).sizes == ds.sizes
    assert ds.isel(Raw_sample=slice(0, 5)).sizes["Raw_sample"] == 5
    # roll moves reads without samples too: the index says so and ds.sz refuses it
    moved = ds.roll(read=1, roll_coords=True)
    assert "ragged variables not selected" in moved.xindexes["read"]._repr_inline_(80)
    with pytest.raises(UsageError, match=r"ds\.sz\.isel\(read=\.\.\.\) instead"):
        moved.sz["Raw"][0]
    right = ds.sz.isel(read=[3, 1])
    with SZReader(store) as r:
        want = r.read_many([3, 1])
    np.testing.assert_array_equal(right.Raw.values, np.concatenate([x["Raw"] for x in want]))
    assert right.Raw_count.values.tolist() == [len(x["Raw"]) for x in want]


def test_dataset_pitfalls_dask_to_zarr_with_the_readme_advice(store, tmp_path):
    # on a large store the engine's dask chunks follow read edges, so they are irregular
    ds = xr.open_dataset(store, engine="sz", chunks={}).chunk({"read": (5, 4, 3)})
    readme = (ROOT / "README.md").read_text()
    assert 'ds.chunk({"read": -1, "Raw_sample": 1_000_000})' in readme
    samples = {"Raw_sample": 1_000_000, "Move_sample": 1_000_000}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xr.SerializationWarning)  # text IDs loaded to type them
        with (
            pytest.raises(ValueError, match="uniform chunk sizes"),
            SZStore(tmp_path / "bad.sz", read_only=False) as out,
        ):
            ds.chunk(samples).drop_encoding().to_zarr(out, zarr_format=3, consolidated=False)
        with SZStore(tmp_path / "copy.sz", read_only=False) as out:
            ds.chunk({"read": -1, **samples}).drop_encoding().to_zarr(
                out, zarr_format=3, consolidated=False
            )
    with SZReader(store) as a, SZReader(tmp_path / "copy.sz") as b:
        assert list(b.ids) == list(a.ids)
        for x, y in zip(a.read_many(range(len(a))), b.read_many(range(len(b))), strict=True):
            assert x.keys() == y.keys()
            for key in x:
                assert np.array_equal(x[key], y[key]), key
