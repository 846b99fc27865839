"""The ``table`` file (xsz issue 11): a store opened from it reads exactly as from its
index text, and a table that is edited, stale, cut short, forged or foreign is never
trusted: it is ignored at open (the text is parsed), or a read of a section changed
after the open raises `SZFormatError`; never a wrong value, never a crash.
"""

from __future__ import annotations

import os
import shutil
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_index_corrupt import ATTRIBUTES, DATASETS  # every attribute type
from xsz.errors import ReadNotFoundError, SZFormatError, UsageError, XszError
from xsz.format import TABLE, Schema, SZReader, SZWriter, crc32, read_index, write_table
from xsz.format import _table as table_module
from xsz.format import _writer as writer_module

SCHEMA = Schema.build(ATTRIBUTES, DATASETS)
N = 60
BLOCK = 4  # values a block in the tables written here: many blocks, reads across them
LONG_RUN = int(os.environ.get("XSZ_FUZZ_EXAMPLES", "0"))
"""Fuzz examples and edited positions for a long run by hand (CI runs a few)."""


def read_id(k: int) -> str:
    """IDs of many lengths, ASCII and not, one empty."""
    special = {0: "r0", 1: "é", 4: ""}
    return special.get(k, [f"é{k}", f"read_∂_{k}", "x" * (k % 7 + 1) + str(k)][k % 3])


def records() -> list[tuple]:
    rng = np.random.default_rng(11)
    out = []
    for k in range(N):
        n = int(rng.integers(0, 40))
        out.append(
            (
                read_id(k),
                int(rng.integers(-32768, 32767)),
                int(rng.integers(-(2**31), 2**31 - 1)),
                k * 1000 % 65536,
                2**32 - 1 - k,
                [np.inf, 65504.0, -0.0, 1.5][k % 4],
                float(rng.random()) * 1e30,
                float(rng.standard_normal()) / 3,
                np.finfo(np.longdouble).max / (k + 1),
                f"tab-free text ∆ {k}" if k % 3 else "",
                rng.integers(-3000, 3000, n).astype(np.int16),
                "ACGT" * (k % 5),
                rng.integers(0, 2, n).astype(np.uint16),
                rng.random(k % 3).astype(np.float32),
            )
        )
    return out


def write(path, *, table: bool, block_items: int = BLOCK) -> None:
    with SZWriter(path, SCHEMA, table=False) as w:
        for record in records():
            w.put(*record)
    if table:
        add_table(path, block_items=block_items)


def add_table(path, *, block_items: int = BLOCK) -> None:
    data = (path / "index").read_bytes()
    write_table(path, read_index(data), len(data), crc32(data), block_items=block_items)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("table")
    write(root / "text.sz", table=False)
    write(root / "table.sz", table=True)
    return root


@pytest.fixture
def copy(stores, tmp_path):
    """A fresh copy of the store with its table."""
    path = tmp_path / "copy.sz"
    shutil.copytree(stores / "table.sz", path)
    return path


def same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray)
        if a.dtype.kind == "f":
            return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
        return a.dtype == b.dtype and a.tolist() == b.tolist()
    if isinstance(a, float | np.floating) and np.isnan(a):
        return bool(np.isnan(b))
    return type(a) is type(b) and a == b


def assert_reads_as_text(reader: SZReader, text: SZReader) -> None:
    """Everything `reader` gives is what `text` (the index parsed) gives."""
    assert len(reader) == len(text)
    assert reader.header == text.header
    assert reader.schema.columns == text.schema.columns
    for row in range(len(text)):  # one read at a time (blocks), before any column
        for name, value in text.attributes(row).items():
            assert same(reader.attributes(row)[name], value), (row, name)
    for f in SCHEMA.attributes:
        assert same(reader.index.attribute(f.name), text.index.attribute(f.name)), f.name
    for f in SCHEMA.datasets:
        assert same(reader.index.frame_offset[f.name], text.index.frame_offset[f.name])
        assert same(reader.index.frame_size[f.name], text.index.frame_size[f.name])
        assert reader.index.cells(f.name).tolist() == text.index.cells(f.name).tolist()
        if f.has_count:
            assert same(reader.counts(f.name), text.counts(f.name))
    ids = text.ids.tolist()
    assert reader.ids.tolist() == ids
    assert reader.rows(ids).tolist() == text.rows(ids).tolist() == list(range(len(ids)))
    for k in range(len(text)):
        record, expected = reader.read(reader.row(ids[k])), text.read(k)
        assert all(same(record[n], expected[n]) for n in expected)
    for missing in ("nope", "r0\0", "x" * 300, 5, None, b"r0", "\udc80"):
        with pytest.raises(ReadNotFoundError):
            reader.row(missing)
    assert reader.index.ids_unique == text.index.ids_unique


# --- a store opened from its table reads as from its text ------------------------------


def test_table_reads_as_the_text(stores):
    with SZReader(stores / "table.sz") as reader, SZReader(stores / "text.sz") as text:
        assert reader.index._binary is not None and text.index._binary is None
        assert reader.index._table is None  # nothing parsed
        assert_reads_as_text(reader, text)


@pytest.mark.parametrize("block_items", [1, 3, 4096])
def test_table_blocks_of_any_size(stores, tmp_path, block_items):
    path = tmp_path / "s.sz"
    shutil.copytree(stores / "text.sz", path)
    add_table(path, block_items=block_items)
    with SZReader(path) as reader, SZReader(stores / "text.sz") as text:
        assert reader.index._binary is not None
        assert_reads_as_text(reader, text)


def test_table_lookups_read_blocks_then_whole_sections(copy, stores):
    add_table(copy, block_items=1)  # 60 blocks a section
    with SZReader(copy) as reader, SZReader(stores / "text.sz") as text:
        table = reader.index._binary
        ids = text.ids.tolist()
        assert reader.row(ids[7]) == 7
        assert "ids" not in table._whole  # one block of the sorted IDs was read
        for k in range(N):
            reader.attributes(k)
            assert reader.row(ids[k]) == k
        assert "ids" in table._whole and "attr:a_f64" in table._whole  # read whole since
        assert not [key for key in table._blocks if key[0] == "attr:a_f64"]
        assert reader.rows(ids).tolist() == list(range(N))


def test_table_many_threads(copy, stores):
    with SZReader(stores / "text.sz") as text:
        ids = text.ids.tolist()
        expected = [text.attributes(k) for k in range(N)]
    with SZReader(copy) as reader:
        errors = []

        def work(seed: int) -> None:
            order = np.random.default_rng(seed).permutation(N).tolist()
            try:
                for k in order:
                    assert reader.row(ids[k]) == k
                    got = reader.attributes(k)
                    assert all(same(got[n], v) for n, v in expected[k].items())
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[0]


def test_table_without_an_id_table(tmp_path):
    """IDs a fixed width cannot hold (over 256 bytes, or with a NUL): no sorted IDs
    in the table, lookups by a hash, as for the text."""
    schema = Schema.build([("ID", str), ("n", np.int32)], [("Raw", np.int16)])
    path = tmp_path / "long.sz"
    ids = ["a" * 300, "b\0c", "c", "b"]
    with SZWriter(path, schema, table=True) as w:
        for k, rid in enumerate(ids):
            w.put(rid, k, np.arange(k, dtype=np.int16))
    with SZReader(path) as reader:
        assert reader.index._binary is not None and not reader.index._binary.has_ids()
        assert reader.rows(ids).tolist() == [0, 1, 2, 3]
        assert reader.read(reader.row("b\0c"))["n"] == 1
        with pytest.raises(ReadNotFoundError):
            reader.row("d")


def test_table_of_a_store_without_ids(tmp_path):
    schema = Schema.build([("n", np.int32)], [("Raw", np.int16)])
    path = tmp_path / "noid.sz"
    with SZWriter(path, schema, table=True) as w:
        for k in range(10):
            w.put(k, np.arange(k, dtype=np.int16))
    with SZReader(path) as reader:
        assert reader.index._binary is not None
        assert reader.row(3) == 3 and reader.read(3)["n"] == 3
        assert reader.ids.tolist() == list(range(10))


def test_table_of_an_empty_store(tmp_path):
    path = tmp_path / "empty.sz"
    with SZWriter(path, SCHEMA, table=True):
        pass
    with SZReader(path) as reader:
        assert reader.index._binary is not None and len(reader) == 0
        with pytest.raises(ReadNotFoundError):
            reader.row("x")
        assert reader.index.attribute("a_f128").dtype == np.longdouble


def test_table_with_repeated_ids(stores, tmp_path):
    """A pysz store may repeat an ID: the table keeps every row, and a lookup of a
    repeated ID is refused, as from the text."""
    path = tmp_path / "dup.sz"
    shutil.copytree(stores / "text.sz", path)
    (path / "checksums").unlink()
    lines = (path / "index").read_bytes().split(b"\n")
    cells = lines[5].split(b"\t")
    cells[2] = lines[3].split(b"\t")[2]  # row 3 takes row 1's ID
    lines[5] = b"\t".join(cells)
    (path / "index").write_bytes(b"\n".join(lines))
    add_table(path)
    with SZReader(path) as reader:
        assert reader.index._binary is not None and not reader.index.ids_unique
        with pytest.raises(SZFormatError, match=r"rows \[1, 3\]"):
            reader.row(read_id(1))
        assert reader.row(read_id(2)) == 2
    (path / TABLE).unlink()
    with SZReader(path) as text:
        assert text.index._binary is None and not text.index.ids_unique
        with pytest.raises(SZFormatError, match=r"rows \[1, 3\]"):
            text.row(read_id(1))


def test_writer_makes_a_table_for_large_stores(tmp_path, monkeypatch):
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])
    for n, wanted in ((4, False), (5, True)):
        path = tmp_path / f"{n}.sz"
        monkeypatch.setattr(writer_module, "TABLE_MIN_READS", 5)
        with SZWriter(path, schema) as w:
            for k in range(n):
                w.put(f"r{k}", np.zeros(k, np.int16))
        assert (path / TABLE).exists() == wanted
        with SZReader(path) as reader:
            assert (reader.index._binary is not None) == wanted
            assert reader.row(f"r{n - 1}") == n - 1
    with SZWriter(tmp_path / "4.sz", schema, overwrite=True) as w:  # replaces the table
        w.put("z", np.zeros(3, np.int16))
    assert not (tmp_path / "4.sz" / TABLE).exists()
    with SZWriter(tmp_path / "5.sz", schema, overwrite=True, table=False) as w:
        w.put("z", np.zeros(3, np.int16))
    assert not (tmp_path / "5.sz" / TABLE).exists()
    assert SZReader(tmp_path / "5.sz").ids.tolist() == ["z"]


# --- never trusted on its own word -------------------------------------------------------


def opened_from_table(path) -> bool:
    with SZReader(path) as reader:
        return reader.index._binary is not None


def check_never_wrong(path, text_path) -> str:
    """Open `path` and read everything: what it gives is the text's, or it raises
    `SZFormatError`. Which of ``"ignored"``, ``"trusted"``, ``"refused"`` happened."""
    with SZReader(text_path) as text:
        try:
            reader = SZReader(path)
        except XszError as exc:  # pragma: no cover - a damaged table is never an open error
            raise AssertionError(f"open refused: {exc}") from exc
        with reader:
            used = reader.index._binary is not None
            try:
                assert_reads_as_text(reader, text)
            except SZFormatError as exc:
                refusal = str(exc)
            else:
                return "trusted" if used else "ignored"
    assert used, refusal
    assert TABLE in refusal
    return "refused"


def test_table_edited_anywhere_is_ignored_or_refused(copy, stores):
    """A byte changed anywhere in the table: the store reads as its text, or a read of
    the changed section raises; never a wrong value."""
    original = (copy / TABLE).read_bytes()
    head_end = original.index(b"\n") + 1
    step, body = (7, 400) if LONG_RUN else (61, 30)
    positions = sorted(
        {*range(0, head_end, step), *np.linspace(head_end, len(original) - 1, body).astype(int)}
    )
    outcomes = set()
    for position in positions:
        data = bytearray(original)
        data[position] ^= 0x41
        (copy / TABLE).write_bytes(bytes(data))
        outcomes.add(check_never_wrong(copy, stores / "text.sz"))
    assert outcomes >= {"ignored", "refused"}


@pytest.mark.parametrize("section", ["ids", "id_rows", "id_fences", "offsets:ID", "utf8:note"])
def test_table_section_edited_is_refused_when_read(copy, stores, section):
    """One lookup reads a block of the sorted IDs, their rows and the fences; one
    read's attributes, a block of each: a changed byte in any of them is refused."""
    data = bytearray((copy / TABLE).read_bytes())
    head = table_module._parse_head(bytes(data), len(data))
    s = head.sections[section]
    data[head.body_offset + s.start + s.nbytes // 2] ^= 0x10
    (copy / TABLE).write_bytes(bytes(data))
    ids = SZReader(stores / "text.sz").ids.tolist()

    def read_all(reader: SZReader) -> None:
        for k in range(N):
            reader.attributes(reader.row(ids[k]))

    with SZReader(copy) as reader, pytest.raises(SZFormatError, match=TABLE):
        read_all(reader)


@settings(
    max_examples=LONG_RUN or 15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.data())
def test_fuzz_table_bytes(copy, stores, data):
    original = (copy / TABLE).read_bytes()
    edited = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(edited) - 1))
        edited[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(edited))))
    (copy / TABLE).write_bytes(bytes(edited[:cut]))
    try:
        check_never_wrong(copy, stores / "text.sz")
    finally:
        (copy / TABLE).write_bytes(original)


@pytest.mark.parametrize(
    "content",
    [b"", b"\n", b"garbage", b'{"xsz_table": 1}\t00000000\n', b"\0" * 4096],
    ids=["empty", "newline", "garbage", "wrong-head", "zeros"],
)
def test_table_that_is_no_table_is_ignored(copy, stores, content):
    (copy / TABLE).write_bytes(content)
    assert check_never_wrong(copy, stores / "text.sz") == "ignored"


def test_table_cut_short_is_ignored(copy, stores):
    data = (copy / TABLE).read_bytes()
    for size in (len(data) - 1, len(data) // 2, 100):
        (copy / TABLE).write_bytes(data[:size])
        assert check_never_wrong(copy, stores / "text.sz") == "ignored"


def test_stale_table_of_another_index_is_ignored(copy, stores, tmp_path):
    """Another store's index, dat and checksums beside this table: the table was made
    from another index (its size and CRC-32 differ), so the text is read."""
    other = tmp_path / "other.sz"
    with SZWriter(other, SCHEMA, table=False) as w:
        for record in records()[::-1]:
            w.put(*record)
    for name in ("index", "dat", "checksums"):
        shutil.copy(other / name, copy / name)
    assert check_never_wrong(copy, other) == "ignored"


def test_index_edited_beside_its_table(copy, stores):
    """The index changed, with or without its checksums file: the change is caught
    as without a table (checksums), or the table is not trusted (no checksums)."""
    index = bytearray((copy / "index").read_bytes())
    at = index.index(b"\t", index.index(b"\n", index.index(b"\n") + 1)) + 3
    index[at : at + 1] = b"7" if index[at : at + 1] != b"7" else b"8"
    (copy / "index").write_bytes(bytes(index))
    with pytest.raises(SZFormatError, match="does not match its CRC-32"):
        SZReader(copy)
    (copy / "checksums").unlink()
    with SZReader(copy) as reader:
        assert reader.index._binary is None


def test_table_of_the_same_index_without_checksums(copy, stores):
    """pysz's stores have no checksums file: a table made for the index is trusted on
    the index's own size and CRC-32."""
    (copy / "checksums").unlink()
    assert check_never_wrong(copy, stores / "text.sz") == "trusted"


def test_table_changed_after_the_open_is_refused(copy, stores):
    data = bytearray((copy / TABLE).read_bytes())
    head = table_module._parse_head(bytes(data), len(data))
    s = head.sections["attr:a_f64"]
    with SZReader(copy) as reader:
        assert reader.index._binary is not None
        with open(copy / TABLE, "r+b") as fh:  # the same file, changed in place
            fh.seek(head.body_offset + s.start + 3)
            fh.write(b"\x55")
        with pytest.raises(SZFormatError, match=r"'attr:a_f64' does not match its CRC-32"):
            reader.index.attribute("a_f64")
        with pytest.raises(SZFormatError, match="changed after it was written"):
            reader.attributes(0)


def test_forged_table_with_right_crcs_cannot_crash(stores, tmp_path):
    """A table whose CRC-32s were made again over wrong numbers (forged, not damaged):
    numbers `read_index` would refuse make the table ignored; byte ranges past ``dat``
    are refused as for any index. Nothing is allocated from them."""
    path = tmp_path / "forged.sz"
    shutil.copytree(stores / "text.sz", path)
    data = (path / "index").read_bytes()
    good = read_index(data)

    def forge(**arrays: np.ndarray) -> None:
        index = read_index(data)
        for name, value in arrays.items():
            if name in ("offset", "length"):
                setattr(index, name, value)
            else:
                index.count["Raw"] = value
        write_table(path, index, len(data), crc32(data), block_items=BLOCK)

    forge(length=good.length + 1)  # sizes no longer add up
    assert opened_from_table(path) is False
    forge(offset=-good.offset - 1)
    assert opened_from_table(path) is False
    forge(count=good.count["Raw"] - good.count["Raw"] - 1)
    assert opened_from_table(path) is False
    forge(count=np.full(N, 2**62))  # beyond what a frame can hold: refused, named
    with pytest.raises(SZFormatError, match="cannot fit a frame"):
        SZReader(path)
    forge(offset=good.offset + 2**40)  # past the end of dat
    with pytest.raises(XszError, match="dat is truncated"):
        SZReader(path)


def test_verify_reads_the_whole_table(copy, stores, capsys):
    """``xsz verify`` compares every section of the table with the index text: a forged
    table (right CRC-32s, wrong values) is a problem it names."""
    from xsz.cli import main
    from xsz.ops import verify

    assert verify(copy) == []
    with SZReader(copy) as reader:
        reader.check_table()
    data = (copy / "index").read_bytes()
    index = read_index(data)
    index._columns["a_f64"] = index.attribute("a_f64") + 1
    write_table(copy, index, len(data), crc32(data), block_items=BLOCK)
    assert opened_from_table(copy)
    problems = verify(copy)
    assert len(problems) == 1 and "attribute 'a_f64' differ" in problems[0].message
    assert main(["verify", "-q", str(copy)]) == 1
    assert "table" in capsys.readouterr().err


def test_open_from_table_hashes_the_index_only_when_its_file_changed(tmp_path, monkeypatch):
    """The table records the stamp of the index file it was made from (size, inode,
    mtime, ctime): while it is the same file, unchanged, the open does not read it;
    a copy, or the file written since (ctime moves on), is hashed again."""
    import time

    from xsz.format import _reader

    path = tmp_path / "s.sz"
    write(path, table=True)
    hashed = []
    real = _reader._hash_file
    monkeypatch.setattr(_reader, "_hash_file", lambda fd: hashed.append(fd) or real(fd))
    assert opened_from_table(path) and not hashed
    copy = tmp_path / "copy.sz"
    shutil.copytree(path, copy)  # new files, same bytes: hashed, then trusted
    assert opened_from_table(copy) and len(hashed) == 1
    time.sleep(0.05)  # past the file system's clock tick: the write moves ctime on
    index = bytearray((path / "index").read_bytes())
    at = index.rindex(b"\t") - 2
    index[at : at + 1] = b"7" if index[at : at + 1] != b"7" else b"8"
    with open(path / "index", "r+b") as fh:  # in place: same inode, same size
        fh.write(bytes(index))
    with pytest.raises(SZFormatError, match="does not match its CRC-32"):
        SZReader(path)
    assert len(hashed) == 2
    (path / "checksums").unlink()  # as pysz's: the table is not trusted, the text is read
    with pytest.raises(SZFormatError, match=r"s\.sz/index: line 62 .* is not SIZE:COUNT"):
        SZReader(path)


# --- the writer's table, made of the rows as they were made ------------------------------


def table_of_text(path, block_items: int = table_module.BLOCK_ITEMS) -> bytes:
    """The table `format_table` makes of the store's index parsed as text."""
    data = (path / "index").read_bytes()
    stamp = table_module.index_stamp(os.stat(path / "index"))
    pieces = table_module.format_table(
        read_index(data), len(data), crc32(data), block_items=block_items, stamp=stamp
    )
    return b"".join(bytes(p) for p in pieces)


def test_writer_table_is_the_table_of_its_text(tmp_path, monkeypatch):
    """Every attribute type (infinities, -0.0, long doubles, empty and non-ASCII text),
    in batches of a few reads: the table gathered while writing is byte for byte the
    table of the index text parsed back, and nothing parses it."""
    monkeypatch.setattr(writer_module, "TASK_READS", 7)  # many batches
    parsed = []
    real = writer_module.read_index
    monkeypatch.setattr(
        writer_module, "read_index", lambda *a, **k: parsed.append(1) or real(*a, **k)
    )
    for n_threads in (0, 2):
        path = tmp_path / f"{n_threads}.sz"
        with SZWriter(path, SCHEMA, table=True, n_threads=n_threads) as w:
            put = w.put
            for record in records():
                put(*record)
        assert (path / TABLE).read_bytes() == table_of_text(path)
    assert not parsed
    with SZReader(tmp_path / "2.sz") as reader, SZReader(tmp_path / "0.sz") as other:
        assert reader.index._binary is not None
        assert_reads_as_text(reader, other)


@pytest.mark.parametrize("how", ["frames", "copied", "encoded", "failed", "empty", "no ids"])
def test_writer_table_of_every_path_is_the_table_of_its_text(tmp_path, monkeypatch, how):
    """Rows put as frames, copied from a store, put encoded, left by a read that
    cannot be encoded, none at all, or without IDs: the same bytes again."""
    monkeypatch.setattr(writer_module, "TASK_READS", 5)
    schema = SCHEMA
    path = tmp_path / "out.sz"
    source = tmp_path / "src.sz"
    if how in ("frames", "copied"):
        write(source, table=False)
    with SZWriter(path, schema, table=True) as w:
        if how == "frames":
            with SZReader(source) as reader:
                attrs = [reader.index.attribute(f.name) for f in schema.attributes]
                for row, frames in enumerate(reader.frames(range(len(reader)))):
                    counts = [
                        int(reader.index.count[f.name][row]) if f.has_count else None
                        for f in schema.datasets
                    ]
                    w.put_frames([a[row] for a in attrs], frames, counts)
        elif how == "copied":
            data = (source / "index").read_bytes()
            index = read_index(data)
            lines = data.splitlines(keepends=True)[2:]
            dat = (source / "dat").read_bytes()
            crcs = np.asarray([crc32(dat[o : o + s]) for o, s in _frames(index)], dtype=np.uint32)
            w.put("before", *records()[0][1:])  # rows made by the writer on either side
            ids = index.ids().tolist()
            with pytest.raises(UsageError, match="put_copied: the records hold"):  # none taken
                w.put_copied(ids, lines, dat[:-1], index.length, crcs, checksummed=True)
            w.put_copied(ids, lines, dat, index.length, crcs, checksummed=True)
            w.put("after", *records()[1][1:])
        elif how == "encoded":
            schema = Schema.build([("ID", str), ("a_f32", np.float32)], [("Raw", np.int16)])
            w.abort()
            w = SZWriter(path, schema, table=True)
            from xsz.codec import compress, encode_payload

            raws = [np.arange(k, dtype=np.int16) for k in range(9)]
            frames = [compress(encode_payload(r), checksum=True) for r in raws]
            w.put("first", 0.5, np.ones(3, np.int16))
            w.put_encoded(
                [f"e{k}" for k in range(9)],
                [f"e{k}\t{np.float32(k / 7)}" for k in range(9)],
                b"".join(frames),
                np.asarray([len(f) for f in frames], np.int64),
                np.asarray([len(r) for r in raws], np.int64),
                np.asarray([crc32(f) for f in frames], np.uint32),
                checksummed=True,
            )
            w.put("last", -2.0, np.ones(1, np.int16))
            w.close()
        elif how == "failed":
            from xsz.format import _records

            real = _records._encode_batch

            def flaky(fields, batch, level, checksum):  # the batch path fails: read by read
                if any(i == read_id(12) for i in batch.ids):
                    raise ValueError("no")
                return real(fields, batch, level, checksum)

            monkeypatch.setattr(_records, "_encode_batch", flaky)
            for record in records():
                w.put(*record)
        elif how == "no ids":
            schema = Schema.build([("a_i16", np.int16)], [("Raw", np.int16)])
            w.abort()
            w = SZWriter(path, schema, table=True)
            for k in range(11):
                w.put(k, np.arange(k, dtype=np.int16))
            w.close()
    assert (path / TABLE).exists()
    assert (path / TABLE).read_bytes() == table_of_text(path)


def _frames(index):
    """(offset, size) of every frame, read by read."""
    out = []
    for row in range(len(index)):
        at = int(index.offset[row])
        for f in index.schema.datasets:
            size = int(index.frame_size[f.name][row])
            out.append((at, size))
            at += size
    return out


def test_writer_table_of_ids_it_cannot_sort(tmp_path):
    """IDs too long for the sorted section: no ID sections, as the text's table."""
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])
    path = tmp_path / "long.sz"
    with SZWriter(path, schema, table=True) as w:
        for k in range(5):
            w.put("x" * (table_module.MAX_ID_BYTES + k), np.zeros(2, np.int16))
    assert (path / TABLE).read_bytes() == table_of_text(path)
    assert "ids" not in table_module.read_table_head(_source(path)).sections


def _source(path):
    from xsz.source import open_source

    return open_source(path)
