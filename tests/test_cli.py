"""The xsz command: exit codes, messages, and each subcommand end to end."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from xsz.cli import main
from xsz.format import Schema, SZReader, SZWriter


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "a.sz"
    with SZWriter(path, Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)) as writer:
        writer.put_many(make_reads(8))
    return path


def test_cli_info(store, capsys):
    assert main(["info", str(store)]) == 0
    out = capsys.readouterr().out
    assert "8 reads" in out and "Raw:D:I16" in out and "overall" in out


def test_cli_get_prints_and_saves(store, tmp_path, capsys):
    assert main(["get", str(store), "read_00003", "-d", "Raw"]) == 0
    out = capsys.readouterr().out
    assert "read_00003" in out and "int16" in out and "Fastq" not in out
    target = tmp_path / "r.npz"
    assert main(["get", str(store), "read_00003", "read_00001", "-o", str(target)]) == 0
    saved = np.load(target)
    with SZReader(store) as reader:
        assert np.array_equal(saved["read_00001/Raw"], reader.read(1)["Raw"])
        assert str(saved["read_00003/Fastq"]) == reader.read(3)["Fastq"]


def test_cli_subset_merge_verify(store, tmp_path, capsys):
    ids = tmp_path / "ids.txt"
    ids.write_text("read_00005\n# a comment\nread_00002\n")
    sub = tmp_path / "sub.sz"
    assert main(["subset", str(store), "--ids", str(ids), str(sub), "-q"]) == 0
    assert main(["subset", str(store), "--ids", str(ids), str(sub), "-q"]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["subset", str(store), "--ids", str(ids), str(sub), "-q", "--force"]) == 0
    with SZReader(sub) as reader:
        assert reader.ids.tolist() == ["read_00005", "read_00002"]
    assert main(["verify", str(sub), "-q"]) == 0
    assert main(["merge", str(sub), str(store), str(tmp_path / "m.sz"), "-q"]) == 1
    assert "read 'read_00002' is in both" in capsys.readouterr().err  # refused


def test_cli_errors_are_one_line_with_exit_codes(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xsz: error: ") and err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["info"])
    assert exit_info.value.code == 2
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "index").write_text("#{}\nLENGTH\tOFFSET\tID:A:S\n")
    (tmp_path / "broken" / "dat").write_bytes(b"")
    assert main(["verify", str(tmp_path / "broken"), "-q"]) == 0
    (tmp_path / "broken" / "index").write_text("#{}\nLENGTH\tOFFSET\tID:A:S\tRaw:D:I16\n5\t0\tr1\t5:1\n")
    assert main(["verify", str(tmp_path / "broken"), "-q"]) == 1
    assert "truncated" in capsys.readouterr().err


def test_cli_demo(tmp_path, capsys):
    assert main(["demo", str(tmp_path / "d.sz"), "-n", "20"]) == 0
    out = capsys.readouterr().out
    assert "all equal" in out and "20 reads" in out
