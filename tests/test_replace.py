"""Replacing a store under readers: each open sees one whole version, never a mix or nothing.

A writer process replaces a store over and over (``overwrite=True``,
alternating two versions with different reads and values) while two reader
processes open it in a loop (`SZReader`, `CompressedFile`) and read every
read. ``XSZ_REPLACE_SECONDS`` / ``XSZ_REPLACE_COUNT`` (3 s / 200 replaces in
CI) make a longer run; ``-s`` prints the figures. Then the fallback of
`xsz.format.replace_path` where ``RENAME_EXCHANGE`` is missing, including a
writer killed between its two renames.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.replace_child import versions, write_version
from xsz.errors import SZFormatError
from xsz.format import Staging, SZReader, _staging, remove_stale, stale_siblings
from xsz.ops import verify

ROOT = Path(__file__).resolve().parent.parent
SECONDS = float(os.environ.get("XSZ_REPLACE_SECONDS", "3"))
COUNT = int(os.environ.get("XSZ_REPLACE_COUNT", "200"))


def _child(*args: object) -> list[str]:
    return [sys.executable, "-m", "tests.replace_child", *map(str, args)]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")


def _ids(path: Path) -> list[str]:
    with SZReader(path) as reader:
        return [str(i) for i in reader.ids.tolist()]


def _version_ids(version: str) -> list[str]:
    return [r[0] for r in versions()[version]]


def test_replace_readers_see_one_whole_version(tmp_path: Path) -> None:
    path, stop = tmp_path / "reads.sz", tmp_path / "stop"
    write_version(path, versions()["A"])
    readers = [
        subprocess.Popen(
            _child("read", path, stop), stdout=subprocess.PIPE, env=_env(), cwd=ROOT, text=True
        )
        for _ in range(2)
    ]
    try:
        for reader in readers:
            assert reader.stdout is not None
            assert json.loads(reader.stdout.readline())["ready"]
        writer = subprocess.run(
            _child("write", path, SECONDS, COUNT, stop, len(readers)),
            capture_output=True,
            env=_env(),
            cwd=ROOT,
            text=True,
            timeout=SECONDS + 180,
            check=False,
        )
    finally:
        stop.touch()
        results = []
        for reader in readers:
            out, _ = reader.communicate(timeout=120)
            results.append(json.loads(out))
    assert writer.returncode == 0, writer.stderr
    replaces = json.loads(writer.stdout)["replaces"]
    opens = sum(r["opens"] for r in results)
    bad = [m for r in results for m in r["messages"]]
    print(
        f"replace: {replaces} replaces, {opens} opens "
        f"(A {sum(r['A'] for r in results)}, B {sum(r['B'] for r in results)}), "
        f"mixed {sum(r['mixed'] for r in results)}, no store/failed "
        f"{sum(r['failed'] for r in results)}"
    )
    assert sum(r["mixed"] + r["failed"] for r in results) == 0, bad
    assert replaces >= 10
    assert opens >= 10
    assert all(r["A"] and r["B"] for r in results), "a reader never saw one of the versions"
    assert _ids(path) in (_version_ids("A"), _version_ids("B"))
    assert stale_siblings(path) == []


@pytest.mark.skipif(not _staging.exchange_supported(), reason="no renameat2(RENAME_EXCHANGE)")
def test_replace_killed_after_the_exchange_leaves_the_new_store(tmp_path: Path) -> None:
    path = tmp_path / "reads.sz"
    write_version(path, versions()["A"])
    child = subprocess.run(
        _child("exchange-killed", path),
        env=_env(),
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -9, child.stderr
    assert _ids(path) == _version_ids("B")
    assert verify(path) == []
    (sibling,) = stale_siblings(path)  # the old store, swapped out, not yet removed
    assert (sibling.kind, sibling.owned) == ("partial", False)
    assert _ids(sibling.path) == _version_ids("A")
    assert remove_stale(path) == [sibling]
    assert os.listdir(tmp_path) == ["reads.sz"]


@pytest.fixture
def no_exchange(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """`replace_path` without RENAME_EXCHANGE; the list collects any exchange tried."""
    tried: list[object] = []
    monkeypatch.setattr(_staging, "exchange_supported", lambda: False)
    monkeypatch.setattr(_staging, "_exchange", lambda *args: tried.append(args) or True)
    return tried


def test_replace_fallback_replaces_by_two_renames(
    tmp_path: Path, no_exchange: list[object]
) -> None:
    path = tmp_path / "reads.sz"
    write_version(path, versions()["A"])
    write_version(path, versions()["B"])
    assert no_exchange == []
    assert _ids(path) == _version_ids("B")
    assert verify(path) == []
    assert os.listdir(tmp_path) == ["reads.sz"]
    # a file destination (pod5 say) staged inside a locked directory, likewise
    target = tmp_path / "reads.pod5"
    target.write_bytes(b"old")
    staging = Staging(target, file=True)
    staging.out.write_bytes(b"new")
    staging.commit()
    assert target.read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["reads.pod5", "reads.sz"]


def test_replace_fallback_killed_between_renames_restores_the_old_store(tmp_path: Path) -> None:
    """Killed between the fallback's two renames: the path is empty, the old store is whole
    at ``.NAME.old-*`` and the new one at ``.NAME.partial-*`` (both listed, unowned), and
    `remove_stale` puts the old one back."""
    path = tmp_path / "reads.sz"
    write_version(path, versions()["A"])
    child = subprocess.run(
        _child("swap-killed", path),
        env=_env(),
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -9, child.stderr
    assert not path.exists()
    with pytest.raises(
        SZFormatError, match=r"interrupted: the old store is at .*\.reads\.sz\.old-"
    ):
        SZReader(path)
    siblings = {s.kind: s for s in stale_siblings(path)}
    assert sorted(siblings) == ["old", "partial"]
    assert not any(s.owned for s in siblings.values())
    assert _ids(siblings["old"].path) == _version_ids("A")
    assert _ids(siblings["partial"].path) == _version_ids("B")  # complete, never moved in
    assert verify(siblings["old"].path) == []

    removed = remove_stale(path)
    assert [s.kind for s in removed] == ["partial"]
    assert _ids(path) == _version_ids("A")
    assert verify(path) == []
    assert os.listdir(tmp_path) == ["reads.sz"]


def test_replace_remove_stale_restores_only_into_a_missing_path(tmp_path: Path) -> None:
    """An ``old`` sibling next to a store that is there is only a leftover: removed."""
    path = tmp_path / "reads.sz"
    write_version(path, versions()["B"])
    aside = _staging.staging_name(path, "old")
    write_version(aside, versions()["A"])
    assert [s.kind for s in remove_stale(path)] == ["old"]
    assert _ids(path) == _version_ids("B")
    assert os.listdir(tmp_path) == ["reads.sz"]
