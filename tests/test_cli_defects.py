"""The rough edges a new user hit (issue 13), each fixed: unknown datasets, get -o,
Python keywords in CLI messages, the demo's temporary folder, and no traceback
from any refused command."""

from __future__ import annotations

import ast
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest

from tests.made_reads import write_called
from xsz.cli import main
from xsz.cli._main import for_the_command
from xsz.errors import FieldNotFoundError
from xsz.format import SZReader

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def called(tmp_path):
    path = tmp_path / "called.sz"
    return path, write_called(path, 12)


def test_cli_get_unknown_dataset_lists_the_datasets(called, capsys):
    path, _ = called
    assert main(["get", str(path), "r001", "-d", "Foo"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xsz: error:") and err.count("\n") == 1
    assert "'Foo'" in err and "Raw, Sequence, Quality, Move" in err
    with SZReader(path) as reader, pytest.raises(FieldNotFoundError, match="its datasets: Raw"):
        reader.read(1, ["channel"])  # an attribute is not a dataset either
    with SZReader(path) as reader, pytest.raises(KeyError):  # still a KeyError for callers
        reader.dataset("Foo")


def test_cli_get_output_is_exactly_the_path_and_needs_force(called, tmp_path, capsys):
    path, records = called
    one = tmp_path / "one.txt"
    assert main(["get", str(path), "r003", "-o", str(one)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["called.sz", "one.txt"]
    assert f"wrote 1 read to {one} (text)" in capsys.readouterr().err
    lines = one.read_text().splitlines()
    assert len(lines) == 2 and lines[1].startswith("r003\t")
    assert stat.S_IMODE(one.stat().st_mode) == 0o666 & ~_umask()
    one.write_text("mine")
    assert main(["get", str(path), "r003", "-o", str(one)]) == 1
    err = capsys.readouterr().err
    assert "exists; pass --force" in err and one.read_text() == "mine"
    assert (
        main(["get", str(path), "r003", "r005", "-o", str(one), "--force", "--format", "npz"]) == 0
    )
    saved = np.load(one)  # the format asked, at the name given
    assert np.array_equal(saved["r005/Raw"], records[5][7])
    npz = tmp_path / "two.npz"
    assert main(["get", str(path), "r001", "-o", str(npz)]) == 0
    assert np.array_equal(np.load(npz)["r001/Move"], records[1][10])
    assert main(["get", str(path), "r001", "--format", "npz"]) == 1  # binary: not to a terminal
    assert "give a file with -o" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _raised_messages() -> list[tuple[str, int, str]]:
    """The text of every error the command can show: raise statements outside the
    Python-only faces (api.py pysz's modes, the xarray accessor)."""
    out = []
    for path in sorted((ROOT / "xsz").rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[1] in ("api.py", "xarray"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                text = "".join(
                    c.value
                    for a in node.exc.args
                    for c in ast.walk(a)
                    if isinstance(c, ast.Constant) and isinstance(c.value, str)
                )
                out.append((str(rel), node.lineno, text))
    return out


def test_cli_messages_speak_flags_not_python_keywords():
    keyword = re.compile(r"\b[a-z_]+=(True|False|'[a-z]+'|\s|$)")
    messages = _raised_messages()
    assert any("overwrite=True" in text for _, _, text in messages)  # the scan sees them
    bad = [
        (where, line, for_the_command(text))
        for where, line, text in messages
        if keyword.search(for_the_command(text)) and "split needs one of" not in text
    ]
    assert not bad, bad


def test_cli_existing_destinations_say_force(called, tmp_path, capsys):
    path, _ = called
    ids = tmp_path / "ids.txt"
    ids.write_text("r001\n")
    dst = tmp_path / "dst.sz"
    for args in (
        ["subset", str(path), "--ids", str(ids), str(dst)],
        ["filter", str(path), str(dst), "-e", "channel > 0"],
        ["merge", str(path), str(dst)],
        ["checksum", str(path), str(dst)],
    ):
        dst.mkdir(exist_ok=True)
        (dst / "index").write_text("")
        assert main([*args, "-q"]) == 1, args
        err = capsys.readouterr().err
        assert "--force" in err and "overwrite" not in err, (args, err)
    assert main(["merge", str(path), str(path), str(tmp_path / "m.sz"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "--duplicate-ok keeps the first" in err and "duplicate_ok" not in err
    assert main(["split", str(path), str(tmp_path / "p"), "--count", "0", "-q"]) == 1
    assert "--count is the number of reads" in capsys.readouterr().err


def test_cli_demo_without_a_path_leaves_nothing(tmp_path, monkeypatch, capsys):
    pytest.importorskip("pod5")
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["demo", "-n", "5", "-q"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"removed the temporary folder \S+xsz-demo-\S+ \([\d.,]+ MB\)", out)
    assert "'xsz demo PATH'" in out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["view", "{missing}"],
        ["view", "{store}", "--ids", "{missing}"],
        ["view", "{store}", "--ids", "{table}"],
        ["stats", "{missing}"],
        ["get", "{store}", "nope"],
        ["get", "{store}", "r001", "-d", "Foo"],
        ["get", "{store}", "--all", "--format", "npz"],
        ["get", "{store}", "--all", "-o", "{missing}/x.txt"],
        ["filter", "{store}", "{out}"],
        ["filter", "{store}", "{out}", "-e", "1 +"],
        ["split", "{store}", "{out}", "--by", "nope"],
        ["merge", "{store}", "{store}", "{out}"],
        ["info", "{table}"],
    ],
)
def test_cli_refusals_are_one_line(called, tmp_path, capsys, args):
    path, _ = called
    table = tmp_path / "table.csv"
    table.write_text("a,b\nr1,2\n")
    names = {
        "store": str(path),
        "missing": str(tmp_path / "missing"),
        "table": str(table),
        "out": str(tmp_path / "out"),
    }
    assert main([a.format(**names) for a in args] + ["-q"] * (args[0] not in ("view",))) == 1
    err = capsys.readouterr().err
    assert err.startswith("xsz: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_cli_get_output_is_whole_or_untouched(tmp_path, capsys):
    from tests.made_reads import ATTRS, DATASETS, called_reads
    from xsz.format import Schema, SZWriter

    records = called_reads(200)  # batches of 64 reads: three are written before the bad one
    bad = list(records[151])
    bad[9] = bad[9] + "!"  # one quality too many: found only when read 151 is reached
    records[151] = tuple(bad)
    path = tmp_path / "bad.sz"
    with SZWriter(path, Schema.build(ATTRS, DATASETS)) as writer:
        writer.put_many(records)
    out = tmp_path / "calls.fastq"
    assert main(["get", str(path), "--all", "-o", str(out)]) == 1
    assert "read 'r151' has" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [path]  # no half file, no hidden leftover
    out.write_text("kept")
    assert main(["get", str(path), "--all", "-o", str(out), "--force"]) == 1
    assert out.read_text() == "kept" and sorted(tmp_path.iterdir()) == [path, out]
