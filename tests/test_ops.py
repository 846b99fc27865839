"""info, verify, subset, merge: whole-store operations."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from xsz.errors import DuplicateReadError, ReadNotFoundError, SchemaError, UsageError
from xsz.format import Schema, SZReader, SZWriter
from xsz.ops import info, merge, subset, verify


def write(path, reads):
    with SZWriter(path, Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)) as writer:
        writer.put_many(reads)
    return path


def test_ops_info_sizes(tmp_path):
    reads = make_reads(10)
    path = write(tmp_path / "a.sz", reads)
    got = info(path)
    assert got.n_reads == 10
    assert got.columns[2:] == [
        "ID:A:S",
        "Offset:A:I32",
        "Raw_unit:A:F32",
        "Raw:D:I16",
        "Fastq:D:S",
        "Move:D:U16",
    ]
    assert got.datasets["Raw"]["values"] == sum(len(r[3]) for r in reads)
    assert got.datasets["Raw"]["raw"] == 2 * sum(len(r[3]) for r in reads)
    assert got.datasets["Fastq"]["raw"] == sum(len(r[4]) for r in reads)
    assert sum(d["stored"] for d in got.datasets.values()) == got.dat_bytes
    assert 0 < got.ratio < 1


def test_ops_verify_sound_and_corrupt(tmp_path):
    path = write(tmp_path / "a.sz", make_reads(30))
    assert verify(path, progress=True) == []
    bad = tmp_path / "bad.sz"
    shutil.copytree(path, bad)
    with SZReader(bad) as reader:
        start = int(reader.index.frame_offset["Raw"][17])
    data = bytearray((bad / "dat").read_bytes())
    data[start + 6 : start + 40] = bytes(34)
    (bad / "dat").write_bytes(bytes(data))
    problems = verify(bad, stop_at_first=False)
    assert problems and problems[0].row == 17
    assert "read_00017" in str(problems[0]) and "'Raw'" in str(problems[0])
    missing = verify(tmp_path / "nope")
    assert len(missing) == 1 and "does not exist" in str(missing[0])


@pytest.mark.parametrize("name", ["basic", "alltypes", "signal_int16", "empty"])
def test_ops_verify_fixtures(sz_fixtures, name):
    assert verify(sz_fixtures / name) == []


def test_ops_subset_copies_frames_in_order(tmp_path):
    reads = make_reads(20)
    src = write(tmp_path / "a.sz", reads)
    assert subset(src, ["read_00011", "read_00002"], tmp_path / "b.sz") == 2
    with SZReader(tmp_path / "b.sz") as out, SZReader(src) as whole:
        assert out.ids.tolist() == ["read_00011", "read_00002"]
        assert out.header == whole.header
        assert bytes(out.frames([0])[0][0]) == bytes(whole.frames([11])[0][0])
        assert np.array_equal(out.read(1)["Move"], reads[2][5])
        assert out.read(0)["Raw_unit"] == whole.read(11)["Raw_unit"]
    with pytest.raises(ReadNotFoundError, match="nope"):
        subset(src, ["read_00001", "nope"], tmp_path / "c.sz")
    assert not (tmp_path / "c.sz").exists()


def test_ops_merge(tmp_path):
    reads = make_reads(12)
    a = write(tmp_path / "a.sz", reads[:5])
    b = write(tmp_path / "b.sz", reads[5:])
    assert merge([a, b], tmp_path / "m.sz", progress=True) == 12
    with SZReader(tmp_path / "m.sz") as m:
        assert m.ids.tolist() == [r[0] for r in reads]
        assert np.array_equal(m.read(7)["Raw"], reads[7][3])
    with pytest.raises(DuplicateReadError, match="read_00000"):
        merge([a, a], tmp_path / "dup.sz")
    other = tmp_path / "o.sz"
    with SZWriter(other, Schema.build([("ID", str)], [("Raw", np.int16)])) as writer:
        writer.put("x", np.zeros(3, np.int16))
    with pytest.raises(SchemaError, match="columns differ"):
        merge([a, other], tmp_path / "bad.sz")
    with pytest.raises(UsageError, match="at least one source"):
        merge([], tmp_path / "none.sz")
    assert not (tmp_path / "dup.sz").exists() and not (tmp_path / "bad.sz").exists()
    assert not (tmp_path / "none.sz").exists()


def test_ops_progress_reports_done_and_total(tmp_path):
    """ops speaks the library's one progress convention: ``progress(done, total)``."""
    import numpy as np

    from xsz import ops
    from xsz.format import Schema, SZWriter

    path = tmp_path / "p.sz"
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])
    with SZWriter(path, schema) as writer:
        writer.put_many((f"r{i}", np.arange(i + 1, dtype=np.int16)) for i in range(1100))
    seen: list[tuple[int, int | None]] = []
    assert ops.verify(path, progress=lambda done, total: seen.append((done, total))) == []
    assert seen[-1] == (1100, 1100)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    with pytest.raises(UsageError, match="progress"):
        ops.verify(path, progress="yes")
