"""The source distribution ships the licence and a test suite that runs from it."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    pytest.importorskip("setuptools", reason="building the sdist needs setuptools (the test extra)")
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip(f"no pyproject.toml at {ROOT}: not a source tree")
    out = tmp_path_factory.mktemp("sdist")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, setuptools.build_meta as b; print(b.build_sdist(sys.argv[1]))",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    name = proc.stdout.strip().splitlines()[-1]
    with tarfile.open(out / name) as tar:
        tar.extractall(out, filter="data")
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    return out / name.removesuffix(".tar.gz"), members


def test_sdist_has_the_licence_and_the_tests(sdist):
    root, members = sdist
    assert "LICENSE" in members and "MIT License" in (root / "LICENSE").read_text()
    assert "xsz developers" in (root / "LICENSE").read_text()
    assert "License-File: LICENSE" in (root / "PKG-INFO").read_text()
    for needed in ("conftest.py", "__init__.py", "made.py", "made_data.py", "reference.py"):
        assert f"tests/{needed}" in members, needed
    ours = {f"tests/{p.name}" for p in (ROOT / "tests").glob("*.py")}
    assert ours <= members, sorted(ours - members)
    fixtures = {
        str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "fixtures").rglob("*") if p.is_file()
    }
    assert fixtures <= members, sorted(fixtures - members)[:5]
    assert "xsz/_kernels.c" in members and "xsz/cli/_main.py" in members
    assert not [m for m in members if "__pycache__" in m or m.endswith(".so")]


def test_sdist_tests_run_from_it(sdist):
    root, _ = sdist
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-n",
            "0",
            "-p",
            "no:cacheprovider",
            "tests/test_select.py",
            "-k",
            "parse_read_ids or n50",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "error" not in proc.stdout.lower()
