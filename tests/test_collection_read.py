"""Values of ``xsz.open_collection`` read through rows picked out of each store's
index text (`Collection._each`), a window of stores parsed at once, instead of each
store opened whole: the values must be those of the merged store, and every damage
opening a store refuses must be refused here too, naming the store."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import pytest
import xarray as xr

import xsz
import xsz.collection._collection as coll_mod
from tests.conftest import make_reads
from tests.test_collection_pick import (
    PER_STORE,
    Opens,
    fresh,
    s3_collection,
    same_stamp_edit,
    write_stores,
)
from xsz.collection import Collection, build_index
from xsz.errors import StaleIndexError, SZFormatError
from xsz.format import SZReader
from xsz.format._checksums import CHECKSUMS
from xsz.ops import merge

if TYPE_CHECKING:
    from pathlib import Path

N_STORES = 9


@pytest.fixture(scope="module")
def reads() -> list[tuple]:
    return make_reads(PER_STORE * N_STORES, length=150, seed=47)


@pytest.fixture(scope="module")
def stores(tmp_path_factory, reads) -> tuple[Path, list[Path], Path, Path]:
    """``(root, stores, merged, index)``; stores 2 and 6 without checksums (pysz's)."""
    root = tmp_path_factory.mktemp("read") / "runs"
    paths = write_stores(root, reads)
    for k in (2, 6):
        (paths[k] / CHECKSUMS).unlink()
    merged = root.parent / "merged.sz"
    merge(paths, merged)
    index = root.parent / "runs.xszi"
    build_index(root, index)
    return root, paths, merged, index


def same_values(got: xr.Dataset, want: xr.Dataset) -> None:
    assert list(got.variables) == list(want.variables)
    for name in want.variables:
        np.testing.assert_array_equal(got[name].values, want[name].values, err_msg=name)


@pytest.mark.parametrize("seed", range(8))
def test_selections_equal_the_merged_store(stores, reads, monkeypatch, seed):
    """Random selections (any order), windows and the stores kept cut small so that
    every boundary falls somewhere, and each variable read twice (the second time
    through what the first kept, or picked again): the merged store's values; only
    the stores without checksums opened whole."""
    root, _, merged, index = stores
    rng = np.random.default_rng(seed)
    monkeypatch.setattr(coll_mod, "WINDOW", int(rng.integers(1, 5)))
    monkeypatch.setattr(coll_mod, "MAX_OPEN", int(rng.integers(1, 6)))
    monkeypatch.setattr(coll_mod, "MAX_PARTS", int(rng.integers(1, 6)))
    monkeypatch.setattr(coll_mod, "PART_READS", int(rng.integers(1, 3 * PER_STORE)))
    picks = rng.choice(len(reads), int(rng.integers(1, len(reads))), replace=False)
    ids = [reads[k][0] for k in picks]
    want = xr.open_dataset(merged, engine="sz").sel(read=ids).load()
    opens = Opens(monkeypatch)
    ds = xsz.open_collection(root, index=index)
    fds = len(os.listdir("/proc/self/fd"))
    sub = ds.sel(read=ids)
    same_values(sub, want)
    same_values(sub, want)  # again, some stores kept, others not
    assert len(os.listdir("/proc/self/fd")) <= fds + 2 * coll_mod.MAX_OPEN * 3  # whole ones
    touched = {f"part{k // PER_STORE:02d}.sz" for k in picks}
    assert set(opens.paths) == touched & {"part02.sz", "part06.sz"}
    # pieces of reads and single reads, as indexing a variable asks them
    got_raw = sub.Raw.values
    assert sub.Raw[3:-3].values.tolist() == got_raw[3:-3].tolist()
    ds.close()


def test_collection_faces_equal_one_store(stores, reads, monkeypatch):
    """`attribute`, `dataset` and `read_into` with rows repeated and in no order, and
    counts from the index without any store read."""
    root, _, merged, index = stores
    monkeypatch.setattr(coll_mod, "WINDOW", 2)
    rows = np.array([5, 88, 5, 0, 41, 89, 23, 23, 60, 12])
    with Collection(root, index=index) as coll, SZReader(merged) as one:
        coll.ids_and_counts()
        opens = Opens(monkeypatch)
        assert coll._counts_of("Raw", rows).tolist() == one.counts("Raw")[rows].tolist()
        assert opens.n == 0
        for name in ("ID", "Offset", "Raw_unit"):
            got, want = coll.attribute(name, rows), one.index.attribute(name)[rows]
            assert got.dtype == want.dtype and got.tolist() == want.tolist()
        assert coll.dataset("Fastq", rows) == one.dataset("Fastq", rows)
        for g, w in zip(coll.dataset("Move", rows), one.dataset("Move", rows), strict=True):
            np.testing.assert_array_equal(g, w)
        counts = one.counts("Raw")[rows]
        out = np.full(int(counts.sum()), -1, dtype=np.int16)
        coll.read_into("Raw", rows, out)
        np.testing.assert_array_equal(out, np.concatenate(one.dataset("Raw", rows)))


def test_rows_picked_are_kept_without_files_and_reread(stores, reads, tmp_path, monkeypatch):
    """Rows picked once are kept with no file open: an attribute of them again opens
    nothing; their values again reopen the store (its version checked) and close it."""
    merged = stores[2]
    root, paths, index = fresh(stores, tmp_path)
    ids = [reads[k][0] for k in (1, 12, 33, 34, 55, 80)]  # no store without checksums
    want = xr.open_dataset(merged, engine="sz").sel(read=ids).load()
    ds = xsz.open_collection(root, index=index)
    sub = ds.sel(read=ids)
    np.testing.assert_array_equal(sub.Raw.values, want.Raw.values)
    fds = len(os.listdir("/proc/self/fd"))
    opened: list[str] = []
    real = coll_mod.open_source
    monkeypatch.setattr(
        coll_mod, "open_source", lambda loc, *a: opened.append(loc) or real(loc, *a)
    )
    np.testing.assert_array_equal(sub.Offset.values, want.Offset.values)
    assert opened == []
    np.testing.assert_array_equal(sub.Move.values, want.Move.values)
    assert sorted(set(opened)) == sorted(str(paths[k]) for k in (0, 1, 3, 5, 8))
    assert len(os.listdir("/proc/self/fd")) == fds
    same_stamp_edit(paths[0] / "dat", 0, b"X")  # no version change: the stamp is kept
    os.utime(paths[3] / "dat")  # a new version
    with pytest.raises(StaleIndexError, match="part03"):
        sub.Raw.values  # noqa: B018
    ds.close()


def test_pickled_collection_counts_from_stores(stores, reads):
    """A copy of the collection in another process has no index at hand: counts come
    from the stores, picked."""
    import pickle

    root, _, merged, index = stores
    rows = np.array([3, 50, 71, 29])
    with Collection(root, index=index) as coll, SZReader(merged) as one:
        copy = pickle.loads(pickle.dumps(coll))
        assert copy._counts_of("Move", rows).tolist() == one.counts("Move")[rows].tolist()
        copy.close()


def test_flipped_frame_byte_is_refused_naming_store_read_and_row(stores, reads, tmp_path):
    root, paths, index = fresh(stores, tmp_path)
    victim = paths[4]
    row = 7
    with SZReader(victim) as r:
        start = int(r.index.frame_offset["Raw"][row])
        size = int(r.index.frame_size["Raw"][row])
        rid = r.ids[row]
    at = start + size // 2
    old = (victim / "dat").read_bytes()[at]
    same_stamp_edit(victim / "dat", at, bytes([old ^ 0x10]))
    ids = [rid, reads[0][0], reads[-1][0]]
    ds = xsz.open_collection(root, index=index)
    fds = len(os.listdir("/proc/self/fd"))
    with pytest.raises(SZFormatError) as err:
        ds.sel(read=ids).Raw.values  # noqa: B018
    message = str(err.value)
    assert str(victim) in message and repr(rid) in message and f"(row {row})" in message
    assert "'Raw'" in message
    ds.close()
    assert len(os.listdir("/proc/self/fd")) <= fds


def test_edited_index_cell_is_refused_by_the_index_crc(stores, reads, tmp_path):
    root, paths, index = fresh(stores, tmp_path)
    victim = paths[5]
    text = (victim / "index").read_bytes()
    digit = text.rindex(b"\t") - 1
    same_stamp_edit(victim / "index", digit, b"9" if text[digit : digit + 1] != b"9" else b"8")
    ds = xsz.open_collection(root, index=index)
    with pytest.raises(SZFormatError, match="does not match its CRC-32") as err:
        ds.sel(read=[reads[5 * PER_STORE + 1][0]]).Offset.values  # noqa: B018
    assert str(victim) in str(err.value)
    ds.close()


def test_store_swapped_under_the_same_stamp_is_stale(tmp_path):
    """A store's bytes replaced by its twin's (other IDs) under the same stamp: the IDs
    of the lines picked are not those of the Dataset, and that is refused."""
    from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS
    from xsz.format import Schema, SZWriter

    base = make_reads(PER_STORE, length=200, seed=5)
    twin = [(f"Z{r[0][1:]}", *r[1:]) for r in base]
    schema = Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)
    root = tmp_path / "runs"
    for name, recs in (("a.sz", base), ("b.sz", twin)):
        with SZWriter(root / name, schema) as w:
            w.put_many(recs)
    index = tmp_path / "runs.xszi"
    build_index(root, index)
    ds = xsz.open_collection(root, index=index)
    for name in ("index", "dat", CHECKSUMS):
        same_stamp_edit(root / "b.sz" / name, 0, (root / "a.sz" / name).read_bytes())
    with pytest.raises(StaleIndexError, match=r"b\.sz"):
        ds.sel(read=[twin[3][0]]).Raw.values  # noqa: B018
    ds.close()


def test_s3_collection_values_equal_local(s3_server, stores, reads, tmp_path, monkeypatch):
    _, paths, merged, _ = stores
    _, options = s3_server
    base, index = s3_collection(paths, options, tmp_path)
    monkeypatch.setattr(coll_mod, "WINDOW", 3)
    ids = [r[0] for r in reads[1::4]]
    want = xr.open_dataset(merged, engine="sz").sel(read=ids).load()
    opens = Opens(monkeypatch)
    ds = xsz.open_collection(base, index=index, storage_options=options)
    same_values(ds.sel(read=ids), want)
    assert sorted(opens.paths) == ["part02.sz", "part06.sz"]  # the stores without checksums
    picks: list[int] = []
    real = Collection.pick
    monkeypatch.setattr(
        Collection, "pick", lambda c, k, *a, **kw: picks.append(k) or real(c, k, *a, **kw)
    )
    same_values(ds.sel(read=ids), want)  # again: the stores picked reopened, not re-picked
    assert picks == []
    ds.close()
