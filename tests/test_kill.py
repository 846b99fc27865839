"""kill -9 of a writer at random moments, for every writing path.

Each writing path of `tests.kill_child` writes version B of the reads over an
existing store of version A (``overwrite=True``), or to a free path, in a
child process that is sent SIGKILL at a seeded random moment of its write
(stratified over the write's measured duration, a little past its end, so
early, middle, late and finished writes all come up). Then:

- the destination is exactly the old store, exactly the new one, or absent
  when there was no old one; an SZ destination passes `xsz.ops.verify`;
- every other entry left next to it is a staging sibling that
  `stale_siblings` lists, none owned (only the writer was killed; helpers it
  started, such as q_in's Manager, are still alive at that point);
- `remove_stale` removes exactly those and leaves the destination alone.

``XSZ_KILL_ROUNDS`` sets the kills per path (3 in CI); ``XSZ_KILL_SEED`` the
seed. ``pytest tests/test_kill.py -s`` prints the kills per path.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.conftest import SEED
from tests.kill_child import ATTRIBUTES, DATASETS, HOLDERS, WRITERS, reads, write_slow5
from xsz.format import Schema, SZReader, SZWriter
from xsz.format._staging import Sibling, remove_stale, stale_siblings
from xsz.ops import verify

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the fork server uses pidfd_open and prctl"
)

ROUNDS = int(os.environ.get("XSZ_KILL_ROUNDS", "3"))
KILL_SEED = int(os.environ.get("XSZ_KILL_SEED", str(SEED)))
ROOT = Path(__file__).resolve().parent.parent
SUFFIX = {
    "sz": ".sz",
    "zarr": ".zarr",
    "zip": ".zip",
    "pod5": ".pod5",
    "blow5": ".blow5",
    "fast5": ".fast5",
}
NEEDS = {
    "import_reads": "pyslow5",
    "convert slow5->zarr": "pyslow5",
    "export_pod5": "pod5",
    "export_slow5": "pyslow5",
    "export_fast5": "h5py",
}
TALLY: dict[str, dict[str, int]] = {}


def _write_sz(path: Path, records: list[tuple[object, ...]]) -> None:
    with SZWriter(path, Schema.build(ATTRIBUTES, DATASETS)) as writer:
        writer.put_many(records)


def _have(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version A and B of the reads in every form a writing path reads or replaces."""
    from xsz.convert import export_fast5, export_pod5, export_slow5, import_reads, to_zarr

    src = tmp_path_factory.mktemp("sources")
    b = reads("B")
    _write_sz(src / "A.sz", reads("A"))
    _write_sz(src / "B.sz", b)
    _write_sz(src / "B1.sz", b[: len(b) // 2])
    _write_sz(src / "B2.sz", b[len(b) // 2 :])
    for v in "AB":
        to_zarr(src / f"{v}.sz", src / f"{v}.zarr")
    to_zarr(src / "A.sz", src / "A.zip", layout="regular")
    with xr.open_dataset(src / "B.sz", engine="sz") as ds:
        (src / "B.ds.pickle").write_bytes(pickle.dumps(ds.load()))
    if _have("pyslow5"):
        for v in "AB":
            write_slow5(src / f"{v}.slow5", v)
            import_reads(src / f"{v}.slow5", src / f"{v}_imported.sz")
        if _have("pod5"):
            export_pod5(src / "A_imported.sz", src / "A.pod5")
        export_slow5(src / "A_imported.sz", src / "A.blow5")
        if _have("h5py"):
            export_fast5(src / "A_imported.sz", src / "A.fast5")
    return src


class Server:
    """The fork server of `tests.kill_child`, one JSON line in, one out."""

    def __init__(self, sources: Path, log: Path) -> None:
        env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
        env["OPENBLAS_NUM_THREADS"] = "1"  # no native threads in a process that forks
        self.log = log
        self._err = open(log, "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.kill_child", str(sources)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env=env,
            cwd=ROOT,
        )
        assert json.loads(self._line())["ready"]

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"the fork server died:\n{self.tail()}")
        return line.decode()

    def call(self, **command: object) -> dict[str, object]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        self.process.stdin.flush()
        answer: dict[str, object] = json.loads(self._line())
        return answer

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def close(self) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.process.stdout.close()
        self._err.close()


@pytest.fixture(scope="module")
def server(sources: Path, tmp_path_factory: pytest.TempPathFactory):
    srv = Server(sources, tmp_path_factory.mktemp("server") / "stderr.log")
    yield srv
    srv.close()


def content(path: Path, kind: str) -> object:
    """What `path` holds, comparable across copies (file bytes, or what pod5 reads back)."""
    if kind == "pod5":
        import pod5

        with pod5.Reader(path) as reader:
            return [(str(r.read_id), r.signal.tobytes()) for r in reader.reads()]
    if kind in ("blow5", "fast5"):  # what xsz's import reads back, every field
        from xsz.convert import open_reads

        with open_reads(path) as reads:
            return [
                sorted(
                    (k, v.tobytes() if isinstance(v, np.ndarray) else repr(v)) for k, v in r.items()
                )
                for r in reads.reads()
            ]
    if kind == "zip":
        with zipfile.ZipFile(path) as z:
            return sorted((i.filename, hashlib.sha256(z.read(i)).hexdigest()) for i in z.infolist())
    return sorted(
        (str(p.relative_to(path)), hashlib.sha256(_comparable(p)).hexdigest())
        for p in path.rglob("*")
        if p.is_file()
    )


def _comparable(p: Path) -> bytes:
    """A file's bytes; a ``table``'s without the stamp of its index file (its inode and
    times differ between two writes of the same store, nothing else does)."""
    data = p.read_bytes()
    if p.name != "table":
        return data
    head, _, body = data.partition(b"\n")
    doc = json.loads(head.rpartition(b"\t")[0])
    assert doc.pop("index_stamp")[0] == (p.parent / "index").stat().st_size
    return json.dumps(doc).encode() + b"\n" + body


def _settled_siblings(dest: Path) -> list[Sibling]:
    """`stale_siblings` once no sibling is owned, or after 2 s.

    A child the writer forked just before it was killed (q_in's Manager) holds
    copies of its lock descriptors until it runs its after-fork hook, which
    closes them: a moment later, under load.
    """
    end = time.monotonic() + 2
    while True:
        siblings = stale_siblings(dest)
        if not any(s.owned for s in siblings) or time.monotonic() > end:
            return siblings
        time.sleep(0.01)


def _holders(path: Path) -> list[str]:
    """The processes with `path` open, and their command lines (for failure messages)."""
    found = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == str(path) for fd in fd_dir.iterdir()):
                cmd = (fd_dir.parent / "cmdline").read_bytes().replace(b"\0", b" ")
                found.append(f"{fd_dir.parent.name}: {cmd.decode(errors='replace')[:80]}")
        except OSError:
            continue
    return found


def _read_ids(path: Path) -> list[str]:
    with SZReader(path) as reader:
        return [str(i) for i in reader.ids.tolist()]


def _place_old(sources: Path, kind: str, dest: Path) -> None:
    old = sources / f"A{SUFFIX[kind]}"
    if old.is_dir():
        shutil.copytree(old, dest)
    else:
        shutil.copyfile(old, dest)


def _check_round(kind: str, dest: Path, old: object, new: object, where: str) -> str:
    """The assertions after one kill (see the module notes); what the path holds."""
    siblings = _settled_siblings(dest)
    owned = [s.path.name for s in siblings if s.owned]
    assert not owned, (
        f"{where}: staging siblings still owned after the kill: {owned}, "
        f"open in {[_holders(s.path) for s in siblings if s.owned]}"
    )
    left = set(os.listdir(dest.parent)) - {dest.name}
    listed = {s.path.name for s in siblings}
    assert left == listed, f"{where}: left next to the store but not listed: {left - listed}"
    outcome = "absent"
    if dest.exists():
        found = content(dest, kind)
        outcome = "new" if found == new else "old"
        assert found == new or (old is not None and found == old), (
            f"{where}: {dest} is neither the old nor the new store"
        )
        if kind == "sz":
            assert verify(dest) == [], f"{where}: {dest} fails verify"
            assert {i[0] for i in _read_ids(dest)} <= {"a", "b"}
    else:
        assert old is None, f"{where}: the old store is gone and no new one is in its place"
    before = content(dest, kind) if dest.exists() else None
    remove_stale(dest)
    assert set(os.listdir(dest.parent)) == ({dest.name} if dest.exists() else set())
    assert (content(dest, kind) if dest.exists() else None) == before
    return outcome


@pytest.mark.parametrize("name", list(WRITERS))
def test_kill_leaves_old_new_or_nothing(
    name: str, server: Server, sources: Path, tmp_path: Path
) -> None:
    if name in NEEDS and not _have(NEEDS[name]):
        pytest.skip(f"{name} needs {NEEDS[name]}")
    kind = WRITERS[name][0]
    suffix = SUFFIX[kind]
    old = content(sources / f"A{suffix}", kind)

    # one write to the end: the new store, and how long a write takes
    reference = tmp_path / "reference" / f"out{suffix}"
    reference.parent.mkdir()
    _place_old(sources, kind, reference)
    answer = server.call(op="run", path=name, dest=str(reference), delay=None)
    server.call(op="cleanup", pid=answer["pid"])
    assert answer["code"] == 0, f"{name} failed:\n{server.tail()}"
    new = content(reference, kind)
    assert new != old
    if kind == "sz":
        assert verify(reference) == []
    duration = float(answer["seconds"])  # type: ignore[arg-type]

    rng = np.random.default_rng([KILL_SEED, sorted(WRITERS).index(name)])
    tally = TALLY.setdefault(
        name, {"killed": 0, "finished": 0, "no old": 0, "old": 0, "new": 0, "absent": 0}
    )
    for k in range(ROUNDS):
        dest = tmp_path / f"round{k}" / f"out{suffix}"
        dest.parent.mkdir()
        has_old = k % 3 != 1
        if has_old:
            _place_old(sources, kind, dest)
        else:
            tally["no old"] += 1
        delay = 1.1 * duration * (k + rng.random()) / ROUNDS
        answer = server.call(op="run", path=name, dest=str(dest), delay=delay)
        where = f"{name}, round {k} (kill {delay:.3f} s into the write: {answer})"
        try:
            if not answer["killed"]:
                assert answer["code"] == 0, f"{where} failed:\n{server.tail()}"
            tally[_check_round(kind, dest, old if has_old else None, new, where)] += 1
        finally:
            server.call(op="cleanup", pid=answer["pid"])
        tally["killed" if answer["killed"] else "finished"] += 1
        if not answer["killed"]:
            assert content(dest, kind) == new
            duration = min(duration, float(answer["seconds"]))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(HOLDERS))
def test_kill_live_writers_siblings_are_owned_and_kept(
    name: str, server: Server, sources: Path, tmp_path: Path
) -> None:
    """A writer alive in another process holds every staging sibling it made: listed as
    owned, never removed; once it is killed they are stale and `remove_stale` takes them."""
    need = NEEDS.get(name) if name != "import_reads" else None
    if need and not _have(need):
        pytest.skip(f"{name} needs {need}")
    kind = HOLDERS[name][0]
    dest = tmp_path / f"out{SUFFIX[kind]}"
    _place_old(sources, kind, dest)
    old = content(dest, kind)
    answer = server.call(op="start", path=name, dest=str(dest))
    try:
        assert answer["started"], f"{name} failed:\n{server.tail()}"
        siblings = stale_siblings(dest)
        assert siblings, f"{name} made no staging sibling"
        assert all(s.owned for s in siblings), f"{name}: a live writer's sibling unowned"
        assert remove_stale(dest) == []
        assert all(s.path.exists() for s in siblings)
        left = set(os.listdir(tmp_path)) - {dest.name}
        assert left == {s.path.name for s in siblings}, f"{name}: unlisted siblings"
    finally:
        server.call(op="cleanup", pid=answer["pid"])
    assert not any(s.owned for s in stale_siblings(dest))
    assert {s.path for s in remove_stale(dest)} == {s.path for s in siblings}
    assert os.listdir(tmp_path) == [dest.name]
    assert content(dest, kind) == old


def test_kill_tally() -> None:
    """Print the kills per path (run with ``-s``); at least one landed mid-write somewhere."""
    for name, counts in TALLY.items():
        print(f"kill -9: {name}: {counts}")
    if TALLY:
        assert sum(c["killed"] for c in TALLY.values()) > 0
