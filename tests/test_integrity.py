"""Checksums, verify, add_checksums and recover: every changed byte is caught, a
damaged store or a killed write is salvaged, a refused record leaves no trace."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import xsz
from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from xsz import ops
from xsz.cli import main
from xsz.codec import compress
from xsz.errors import RecordError, SZFormatError, UsageError, XszError
from xsz.format import SZReader, stale_siblings, with_checksum
from xsz.format._staging import lock_path

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, reads: list[tuple], *, checksum: bool = True) -> Path:
    with xsz.CompressedFile(
        path, mode="w", attributes=SCHEMA_ATTRS, datasets=SCHEMA_DATASETS, checksum=checksum
    ) as f:
        for read in reads:
            f.put(*read)
    return path


def values(path: Path) -> dict[str, dict[str, object]]:
    with SZReader(path) as reader:
        return {r["ID"]: r for r in reader.read_many(np.arange(len(reader)))}


def same(a: dict[str, dict[str, object]], b: dict[str, dict[str, object]]) -> bool:
    def equal(x: object, y: object) -> bool:  # NaN equals NaN (unknown pod5 fields)
        x, y = np.asarray(x), np.asarray(y)
        return np.array_equal(x, y, equal_nan=x.dtype.kind == "f" and y.dtype.kind == "f")

    return a.keys() == b.keys() and all(all(equal(a[k][n], b[k][n]) for n in a[k]) for k in a)


@pytest.fixture
def reads() -> list[tuple]:
    return make_reads(5, length=200)


def test_lone_surrogate_is_refused_and_leaves_no_trace(tmp_path):
    """Issue 9.1: a str that cannot be UTF-8 was refused only after its frame was in
    dat, and every later read came back with the previous read's samples."""
    path = tmp_path / "s.sz"
    f = xsz.CompressedFile(
        path, mode="w", attributes=[("ID", str), ("note", str)], datasets=[("Raw", np.int16)]
    )
    for i, note in enumerate(["ok", "bad\udc80", "ok", "ok", "ok"]):
        if i == 1:
            with pytest.raises(RecordError, match="note"):
                f.put(f"r{i}", note, np.full(50, i, np.int16))
        else:
            f.put(f"r{i}", note, np.full(50, i, np.int16))
    f.close()
    got = values(path)
    assert sorted(got) == ["r0", "r2", "r3", "r4"]
    for rid, read in got.items():
        assert np.array_equal(read["Raw"], np.full(50, int(rid[1:]), np.int16))
    assert ops.verify(path) == []


def test_text_dataset_with_a_lone_surrogate_is_refused(tmp_path):
    with (
        pytest.raises(RecordError, match="Fastq"),
        xsz.CompressedFile(
            tmp_path / "t.sz", mode="w", attributes=SCHEMA_ATTRS, datasets=SCHEMA_DATASETS
        ) as f,
    ):
        f.put("r0", 1, 0.5, np.zeros(3, np.int16), "AC\ud800GT", np.zeros(1, np.uint16))


@pytest.mark.parametrize("name", ["index", "dat", "checksums"])
def test_verify_catches_every_changed_byte(tmp_path, name):
    """Any single changed byte anywhere in an xsz-written store fails verify, and a
    read of a damaged frame raises instead of returning wrong samples."""
    store = write(tmp_path / "a.sz", make_reads(3, length=60))
    original = (store / name).read_bytes()
    damaged = tmp_path / "d.sz"
    shutil.copytree(store, damaged)
    missed = []
    for i in range(len(original)):
        data = bytearray(original)
        data[i] ^= 1 << (i % 8)
        (damaged / name).write_bytes(data)
        if not ops.verify(damaged):
            missed.append(i)
    assert missed == []


def test_damaged_frame_never_reads_as_wrong_samples(tmp_path, reads):
    store = write(tmp_path / "a.sz", reads)
    expected = values(store)
    with SZReader(store) as reader:
        start = int(reader.index.frame_offset["Raw"][2])
        size = int(reader.index.frame_size["Raw"][2])
    data = bytearray((store / "dat").read_bytes())
    for k in range(start, start + size, max(size // 40, 1)):
        data[k] ^= 0x20
        (store / "dat").write_bytes(data)
        try:
            with SZReader(store) as reader:
                got = reader.read(2)
        except XszError:
            pass
        else:  # pragma: no cover - the failure this test exists for
            assert np.array_equal(got["Raw"], expected[reads[2][0]]["Raw"]), k
        data[k] ^= 0x20
    (store / "dat").write_bytes(data)
    assert ops.verify(store) == []


def test_verify_names_read_dataset_and_bytes(tmp_path, reads):
    store = write(tmp_path / "a.sz", reads)
    with SZReader(store) as reader:
        start = int(reader.index.frame_offset["Move"][3])
        stop = start + int(reader.index.frame_size["Move"][3])
        rid = reader.ids[3]
    data = bytearray((store / "dat").read_bytes())
    data[start + 3] ^= 0xFF
    (store / "dat").write_bytes(data)
    (problem,) = ops.verify(store)
    assert problem.row == 3
    text = str(problem)
    assert repr(rid) in text and "'Move'" in text and f"dat[{start}:{stop}]" in text


def test_store_without_checksums_says_what_verify_cannot_see(tmp_path, reads, capsys):
    store = write(tmp_path / "a.sz", reads, checksum=False)
    (store / "checksums").unlink()  # as pysz writes it
    assert "structure only" in ops.coverage(store)
    assert main(["verify", "-q", str(store)]) == 0
    assert "structure only" in capsys.readouterr().out


def test_checksum_false_writes_pysz_frames(tmp_path, reads):
    store = write(tmp_path / "a.sz", reads, checksum=False)
    with SZReader(store) as reader:
        for frames in reader.frames(np.arange(len(reader))):
            assert all(not frame[4] & 0x04 for frame in frames)
        assert not reader.frame_checksums


def test_with_checksum_equals_compressing_with_one():
    for content in [b"", b"A", os.urandom(1000) + b"C" * 5000]:
        assert with_checksum(compress(content)) == compress(content, checksum=True)
    with pytest.raises(XszError, match="follow"):
        with_checksum(compress(b"ACGT") + b"xx")
    with pytest.raises(XszError, match="cut short"):
        with_checksum(compress(b"ACGT" * 99)[:-3])


def test_add_checksums_keeps_every_value_and_frames_gain_only_the_checksum(tmp_path, reads):
    store = write(tmp_path / "a.sz", reads, checksum=False)
    (store / "checksums").unlink()
    before = values(store)
    with SZReader(store) as reader:
        old = [bytes(f) for frames in reader.frames(np.arange(len(reader))) for f in frames]
    assert main(["checksum", "-q", str(store)]) == 0
    assert same(values(store), before)
    with SZReader(store) as reader:
        assert reader.frame_checksums
        new = [bytes(f) for frames in reader.frames(np.arange(len(reader))) for f in frames]
    assert [len(n) - len(o) for o, n in zip(old, new, strict=True)] == [4] * len(old)
    assert all(n[5:-4] == o[5:] for o, n in zip(old, new, strict=True))
    assert "every byte" in ops.coverage(store)


def test_add_checksums_refuses_a_damaged_store(tmp_path, reads):
    store = write(tmp_path / "a.sz", reads, checksum=False)
    with SZReader(store) as reader:
        start = int(reader.index.frame_offset["Raw"][1])
    data = bytearray((store / "dat").read_bytes())
    data[start + 8] ^= 0x10
    (store / "dat").write_bytes(data)
    with pytest.raises(SZFormatError, match="CRC-32"):
        ops.add_checksums(store)
    assert (store / "dat").read_bytes() == bytes(data)  # left as it was


def test_subset_refuses_to_copy_damage(tmp_path, reads):
    store = write(tmp_path / "a.sz", reads, checksum=False)
    with SZReader(store) as reader:
        start = int(reader.index.frame_offset["Raw"][0])
    data = bytearray((store / "dat").read_bytes())
    data[start + 10] ^= 0x01
    (store / "dat").write_bytes(data)
    with pytest.raises(SZFormatError, match="CRC-32"):
        ops.subset(store, [reads[0][0]], tmp_path / "b.sz")
    assert not (tmp_path / "b.sz").exists()


KILLED_WRITER = """
import sys
sys.path.insert(0, {root!r})
from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
import xsz
f = xsz.CompressedFile({path!r}, mode="w", attributes=SCHEMA_ATTRS, datasets=SCHEMA_DATASETS)
for i in range(10**6):
    for r in make_reads(10, seed=i, length=4000):
        f.put(f"{{r[0]}}_{{i}}", *r[1:])
    print(i, flush=True)
"""


def test_recover_salvages_a_killed_write(tmp_path):
    path = tmp_path / "k.sz"
    script = textwrap.dedent(KILLED_WRITER.format(root=str(ROOT), path=str(path)))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    for _ in range(60):  # 600 reads, ~4 MB: some of it is on disk
        child.stdout.readline()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert not path.exists()
    (sibling,) = stale_siblings(path)
    assert sibling.kind == "partial" and not sibling.owned
    got = ops.recover(sibling.path, tmp_path / "r.sz")
    assert got.kept > 0 and got.lost == []
    assert ops.verify(tmp_path / "r.sz") == []
    kept = values(tmp_path / "r.sz")
    for rid, read in kept.items():  # each read is exactly the one that was put
        base, i = rid.rsplit("_", 1)
        (original,) = [r for r in make_reads(10, seed=int(i), length=4000) if r[0] == base]
        assert np.array_equal(read["Raw"], original[3]) and read["Fastq"] == original[4]
    assert main(["recover", "--clean", str(path)]) == 0
    assert stale_siblings(path) == []


def test_recover_lists_what_it_cannot_keep(tmp_path, reads, capsys):
    store = write(tmp_path / "a.sz", reads)
    with SZReader(store) as reader:
        start = int(reader.index.frame_offset["Raw"][1])
    data = bytearray((store / "dat").read_bytes())
    data[start + 9] ^= 0x04
    (store / "dat").write_bytes(data)
    lines = (store / "index").read_bytes().split(b"\n")
    lines[5] = lines[5].replace(b"\t", b"\tx", 1)  # line 6: row 3
    (store / "index").write_bytes(b"\n".join(lines) + b"partial line, cut")
    assert main(["recover", "-q", str(store), str(tmp_path / "r.sz")]) == 0
    err = capsys.readouterr().err
    assert "line 4" in err and "line 6" in err and "cut short" in err
    got = values(tmp_path / "r.sz")
    assert sorted(got) == sorted(reads[k][0] for k in (0, 2, 4))
    assert same(got, {k: v for k, v in values_of(reads).items() if k in got})


def values_of(reads: list[tuple]) -> dict[str, dict[str, object]]:
    fields = SCHEMA_ATTRS + SCHEMA_DATASETS
    return {
        r[0]: {n: v if t is str else np.asarray(v, t) for (n, t), v in zip(fields, r, strict=True)}
        for r in reads
    }


def test_recover_refuses_a_staging_directory_in_use(tmp_path, reads):
    path = tmp_path / "a.sz"
    staging = tmp_path / ".a.sz.partial-0123abcd"
    shutil.copytree(write(tmp_path / "b.sz", reads), staging)
    held = lock_path(staging)
    try:
        (sibling,) = stale_siblings(path)
        assert sibling.owned
        with pytest.raises(UsageError, match="live process"):
            ops.recover(staging, tmp_path / "r.sz")
        assert main(["recover", "--clean", str(path)]) == 0
        assert staging.exists()
    finally:
        os.close(held)
    assert main(["recover", "--clean", str(path)]) == 0
    assert not staging.exists()


def test_info_and_verify_name_stale_siblings(tmp_path, reads, capsys):
    store = write(tmp_path / "a.sz", reads)
    shutil.copytree(store, tmp_path / ".a.sz.partial-0123abcd")
    assert main(["info", str(store)]) == 0
    assert main(["verify", "-q", str(store)]) == 0
    err = capsys.readouterr().err
    assert err.count(".a.sz.partial-0123abcd") == 2 and "recover --clean" in err


KILLED_IMPORT = """
import sys
from xsz.cli import main
sys.exit(main(["convert", "-q", "--threads", "1", {src!r}, {dst!r}]))
"""


def test_convert_resume_keeps_the_reads_a_killed_import_wrote(tmp_path, monkeypatch):
    from xsz.cli.demo import write_demo_pod5

    src, dst = tmp_path / "run.pod5", tmp_path / "run.sz"
    n = 300
    write_demo_pod5(src, n, seed=3)
    assert main(["convert", "-q", str(src), str(tmp_path / "whole.sz")]) == 0
    script = textwrap.dedent(KILLED_IMPORT.format(src=str(src), dst=str(dst)))
    child = subprocess.Popen([sys.executable, "-c", script])
    while child.poll() is None and not any(  # until some reads are on disk
        (s.path / "index").exists() and (s.path / "index").stat().st_size > 20_000
        for s in stale_siblings(dst)
    ):
        time.sleep(0.002)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not dst.exists(), "the import finished before it could be killed"
    (sibling,) = stale_siblings(dst)
    taken = ops.recover(sibling.path, tmp_path / "peek.sz").kept
    assert 0 < taken < n
    encoded = []
    put, put_many = xsz.format.SZWriter.put, xsz.format.SZWriter.put_many

    def counting(self, records, **kw):
        records = list(records)
        encoded.extend(r[0] for r in records)
        return put_many(self, records, **kw)

    def counting_one(self, *fields, **kw):
        encoded.append(fields[0])
        return put(self, *fields, **kw)

    put_encoded = xsz.format.SZWriter.put_encoded

    blocks = []

    def counting_blocks(self, read_ids, *args, **kw):  # pod5 imports a block at a time
        encoded.extend(read_ids)
        blocks.append(len(read_ids))
        return put_encoded(self, read_ids, *args, **kw)

    # reads reach the writer one by one (put), in lists (put_many) or in blocks of
    # finished frames (put_encoded): count all three
    monkeypatch.setattr(xsz.format.SZWriter, "put_many", counting)
    monkeypatch.setattr(xsz.format.SZWriter, "put", counting_one)
    monkeypatch.setattr(xsz.format.SZWriter, "put_encoded", counting_blocks)
    assert main(["convert", "-q", "--resume", str(src), str(dst)]) == 0
    assert len(encoded) == n - taken  # the reads on disk were not encoded again
    assert sum(blocks) == n - taken  # through the pod5 block path
    assert stale_siblings(dst) == []
    assert ops.verify(dst) == []
    assert same(values(dst), values(tmp_path / "whole.sz"))


def test_resume_without_a_killed_import_starts_afresh(tmp_path):
    from xsz.cli.demo import write_demo_pod5

    src = tmp_path / "run.pod5"
    write_demo_pod5(src, 5, seed=1)
    assert main(["convert", "-q", "--resume", str(src), str(tmp_path / "a.sz")]) == 0
    assert ops.verify(tmp_path / "a.sz") == []
    assert main(["convert", "-q", "--resume", str(tmp_path / "a.sz"), str(tmp_path / "a.zip")]) == 1
