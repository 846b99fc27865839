"""`subset` over a collection picks each store's wanted index lines out of its text
(checked against its ``checksums`` file) and parses the lines of many stores in one
go, instead of opening every store: the output must be what opening them gives, and
every damage the open would refuse must be refused here too, naming the store."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xsz.collection._collection as coll_mod
from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from xsz.collection import build_index, subset
from xsz.collection._index import _positions
from xsz.errors import StaleIndexError, SZFormatError
from xsz.format import Schema, SZReader, SZWriter, crc32
from xsz.format._checksums import CHECKSUMS, format_checksums, read_checksums
from xsz.ops import merge
from xsz.ops import subset as subset_one
from xsz.source import open_source

if TYPE_CHECKING:
    from pathlib import Path

PER_STORE = 10
N_STORES = 7


@pytest.fixture(scope="module")
def reads() -> list[tuple]:
    return make_reads(PER_STORE * N_STORES, length=200, seed=31)


def write_stores(root: Path, reads: list[tuple], *, checksum: bool = True) -> list[Path]:
    schema = Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)
    paths = []
    for k in range(0, len(reads), PER_STORE):
        path = root / f"part{k // PER_STORE:02d}.sz"
        with SZWriter(path, schema, header={"part": k // PER_STORE}, checksum=checksum) as w:
            w.put_many(reads[k : k + PER_STORE])
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def stores(tmp_path_factory, reads) -> tuple[Path, list[Path], Path, Path]:
    """``(root, stores, merged, index)``: the stores, all of them as one, their index."""
    root = tmp_path_factory.mktemp("pick") / "runs"
    paths = write_stores(root, reads)
    merged = root.parent / "merged.sz"
    merge(paths, merged)
    index = root.parent / "runs.xszi"
    build_index(root, index)
    return root, paths, merged, index


def fresh(stores, tmp_path) -> tuple[Path, list[Path], Path]:
    """A copy of the stores and an index of them (for tests that damage stores)."""
    root, paths, _, _ = stores
    mine = tmp_path / "runs"
    shutil.copytree(root, mine)
    index = tmp_path / "runs.xszi"
    build_index(mine, index)
    return mine, [mine / p.name for p in paths], index


def body(path: Path) -> dict[str, bytes]:
    """A store's bytes but its header line (a collection's header is its first store's)."""
    index = (path / "index").read_bytes()
    return {
        "index": index[index.index(b"\n") + 1 :],
        "dat": (path / "dat").read_bytes(),
        "checksums": (path / CHECKSUMS).read_bytes(),
    }


class Opens:
    """The stores opened whole (`SZReader`: their index parsed whole), by name."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[str] = []
        real = SZReader.__init__

        def counting(reader, path, *args, **kwargs):
            self.paths.append(os.path.basename(str(getattr(path, "location", path))))
            real(reader, path, *args, **kwargs)

        monkeypatch.setattr(SZReader, "__init__", counting)

    @property
    def n(self) -> int:
        return len(self.paths)


def same_stamp_edit(path: Path, at: int, new: bytes) -> None:
    """Overwrite bytes of file `path` in place, keeping its inode, size and mtime (the
    version stamp a collection index records): only the content tells."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(new)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("seed", range(6))
def test_picked_subset_is_the_one_store_subset_byte_for_byte(
    stores, reads, tmp_path, monkeypatch, seed
):
    """Random subsets, with windows, batches of records and read counts cut small
    (so every boundary falls somewhere): the same index lines, frames and checksums
    as subsetting the merged store, and no store opened the slow way."""
    root, _, merged, index = stores
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(reads), int(rng.integers(1, len(reads))))
    ids = [reads[k][0] for k in picks]  # some twice, in no order
    if seed % 2:
        monkeypatch.setattr(coll_mod, "WINDOW", int(rng.integers(1, 4)))
        monkeypatch.setattr(coll_mod, "WINDOW_READS", int(rng.integers(1, 12)))
        monkeypatch.setattr(coll_mod, "RECORD_BYTES", int(rng.integers(1, 20_000)))
    opens = Opens(monkeypatch)
    n = subset(root, ids, tmp_path / "coll.sz", index=index)
    assert opens.n == 0
    assert n == len(set(ids))
    subset_one(merged, [reads[k][0] for k in sorted(set(picks))], tmp_path / "one.sz")
    assert body(tmp_path / "coll.sz") == body(tmp_path / "one.sz")


def test_stores_without_checksums_are_opened_and_copied_alike(stores, reads, tmp_path, monkeypatch):
    """pysz's stores (no checksums file) cannot be picked from safely: they are opened
    and read as before, in the same output, in collection order."""
    root = tmp_path / "mixed"
    schema_reads = reads[: 3 * PER_STORE]
    paths = write_stores(root, schema_reads)
    (paths[1] / CHECKSUMS).unlink()  # as pysz writes them
    index = tmp_path / "mixed.xszi"
    build_index(root, index)
    ids = [r[0] for r in schema_reads[::3]]
    opens = Opens(monkeypatch)
    subset(root, ids, tmp_path / "out.sz", index=index)
    assert opens.n == 1  # the store without checksums, and no other
    with SZReader(tmp_path / "out.sz") as got:
        assert got.ids.tolist() == ids
        for k, rid in enumerate(ids):
            want = next(r for r in schema_reads if r[0] == rid)
            rec = got.read(k)
            np.testing.assert_array_equal(rec["Raw"], want[3])
            assert rec["Fastq"] == want[4]
            np.testing.assert_array_equal(rec["Move"], want[5])


def test_flipped_frame_byte_is_refused_naming_store_read_and_dataset(
    stores, reads, tmp_path, monkeypatch
):
    root, paths, index = fresh(stores, tmp_path)
    victim = paths[2]
    with SZReader(victim) as r:
        row = 4
        start = int(r.index.frame_offset["Move"][row])
        rid = r.ids[row]
    old = (victim / "dat").read_bytes()[start + 5]
    same_stamp_edit(victim / "dat", start + 5, bytes([old ^ 0x10]))
    ids = [reads[2 * PER_STORE + row][0], *(r[0] for r in reads[::7])]
    assert ids[0] == rid
    monkeypatch.setattr(coll_mod, "WINDOW", 2)  # other windows picked while it fails
    fds = len(os.listdir("/proc/self/fd"))
    with pytest.raises(SZFormatError) as err:
        subset(root, ids, tmp_path / "out.sz", index=index)
    assert len(os.listdir("/proc/self/fd")) == fds  # every store picked is closed
    message = str(err.value)
    assert str(victim) in message and repr(rid) in message
    assert "'Move'" in message and "CRC-32" in message
    assert not (tmp_path / "out.sz").exists()


def test_edited_index_cell_is_refused_by_the_index_crc(stores, reads, tmp_path):
    root, paths, index = fresh(stores, tmp_path)
    victim = paths[5]
    text = (victim / "index").read_bytes()
    digit = text.rindex(b"\t") - 1  # a digit of the last line's Fastq frame size
    same_stamp_edit(victim / "index", digit, b"9" if text[digit : digit + 1] != b"9" else b"8")
    with pytest.raises(SZFormatError, match="does not match its CRC-32") as err:
        subset(root, [reads[5 * PER_STORE][0]], tmp_path / "out.sz", index=index)
    assert str(victim) in str(err.value)
    assert not (tmp_path / "out.sz").exists()


def test_bad_line_with_matching_checksums_is_named_as_the_open_names_it(stores, reads, tmp_path):
    """A line the parser refuses, in a store whose checksums were made to match it (so
    only parsing tells): the whole window's parse fails, and the error is the one
    opening that store gives, naming its path, line and column."""
    root, paths, index = fresh(stores, tmp_path)
    victim = paths[3]
    text = bytearray((victim / "index").read_bytes())
    line_start = text.index(b"\n", text.index(b"\n") + 1) + 1  # the first read's line
    cells = bytes(text[line_start:]).split(b"\t", 4)
    offset_cell = line_start + len(cells[0]) + 1 + len(cells[1]) + 1 + len(cells[2]) + 1
    text[offset_cell : offset_cell + 1] = b"x"  # the Offset attribute (int32) is no number
    same_stamp_edit(victim / "index", 0, bytes(text))
    with open_source(victim) as source:
        head = read_checksums(source)
        assert head is not None
        crcs = head.frame_crcs(source, PER_STORE)
    fixed = format_checksums(
        len(text), crc32(bytes(text)), head.datasets, crcs.copy(), zstd_checksums=True
    )
    assert len(fixed) == (victim / CHECKSUMS).stat().st_size
    same_stamp_edit(victim / CHECKSUMS, 0, fixed)
    ids = [reads[0][0], reads[3 * PER_STORE][0]]  # the edited line is picked
    with pytest.raises(SZFormatError) as err:
        subset(root, ids, tmp_path / "out.sz", index=index)
    assert str(victim) in str(err.value) and "Offset" in str(err.value)
    assert not (tmp_path / "out.sz").exists()


def test_store_swapped_under_the_same_stamp_is_stale(tmp_path):
    """Two stores alike in every size but their IDs; one's bytes written over the
    other's in place with its stamp kept: the IDs of the lines picked are not the
    IDs the collection index holds for those rows, and that is refused."""
    base = make_reads(2 * PER_STORE, length=200, seed=5)
    twin = [(f"Z{r[0][1:]}", *r[1:]) for r in base[:PER_STORE]]
    schema = Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)
    root = tmp_path / "runs"
    for name, recs in (("a.sz", base[:PER_STORE]), ("b.sz", twin)):
        with SZWriter(root / name, schema) as w:
            w.put_many(recs)
    index = tmp_path / "runs.xszi"
    build_index(root, index)
    for name in ("index", "dat", CHECKSUMS):
        assert (root / "a.sz" / name).stat().st_size == (root / "b.sz" / name).stat().st_size
        same_stamp_edit(root / "b.sz" / name, 0, (root / "a.sz" / name).read_bytes())
    with pytest.raises(StaleIndexError, match=r"b\.sz"):
        subset(root, [twin[3][0]], tmp_path / "out.sz", index=index)
    assert not (tmp_path / "out.sz").exists()


def s3_collection(paths: list[Path], options: dict, tmp_path: Path) -> tuple[str, Path]:
    """The stores `paths` uploaded to the S3 server under a prefix of their own, and
    an index of them: ``(prefix URL, index path)``."""
    from tests.conftest import BUCKET, upload

    base = f"s3://{BUCKET}/{tmp_path.name}"
    for p in paths:
        upload(p, f"{base}/{p.name}", options)
    index = tmp_path / "s3.xszi"
    build_index(base, index, storage_options=options)
    return base, index


def test_picked_from_s3_equals_local(s3_server, stores, reads, tmp_path, monkeypatch):
    """The same picking over range GETs: the same bytes as locally, no store opened
    the slow way."""
    _, paths, merged, _ = stores
    _, options = s3_server
    base, index = s3_collection(paths, options, tmp_path)
    ids = [r[0] for r in reads[1::4]]
    opens = Opens(monkeypatch)
    subset(base, ids, tmp_path / "s3.sz", index=index, storage_options=options)
    assert opens.n == 0
    subset_one(merged, ids, tmp_path / "one.sz")
    assert body(tmp_path / "s3.sz") == body(tmp_path / "one.sz")


ID_TEXT = st.text(
    alphabet=st.sampled_from(["a", "b", "Z", "0", "\x00", "é", "\u4e00", "-"]), max_size=5
)


@settings(max_examples=300, deadline=None)
@given(
    held=st.lists(ID_TEXT, max_size=30),
    asked=st.lists(ID_TEXT, max_size=10),
    same_length=st.booleans(),
)
def test_id_positions_match_a_dict_lookup(held, asked, same_length):
    """`_positions` (fixed-width bytes when every ID is as long and ASCII, hashing
    otherwise) against a plain dict, over NULs, non-ASCII and IDs of any length;
    the first of IDs held twice, as the index's row order makes it."""
    if same_length:
        held = [(h + "pad")[:3] for h in held]
        asked = [(a + "pad")[:3] for a in asked]
    held = sorted(held)
    column = pa.chunked_array([pa.array(held, pa.string())])
    wanted = np.array(sorted(set(asked)), dtype=object)
    first = {}
    for k, h in enumerate(held):
        first.setdefault(h, k)
    got = _positions(column, wanted)
    assert got.tolist() == [first.get(w, -1) for w in wanted.tolist()]
