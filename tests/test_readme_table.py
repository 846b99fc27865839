"""README's "Coming from pod5 / slow5tools" table: every xsz command in it runs on a
real file of ../shared/data and makes what it names."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from tests import DATA, NO_DATA
from xsz.cli import main
from xsz.cli._main import build_parser

ROOT = Path(__file__).resolve().parent.parent
TITLE = "### Coming from pod5 / slow5tools"
OUTPUTS = {".sz", ".txt", ".fastq", ".pod5", ".tsv", ".npz", ".fast5", ".blow5", ".slow5"}
BLOW5 = DATA / "squigualiser" / "r9.4_450bps"
FAST5 = DATA / "pod5-file-format" / "multi_fast5_zip.fast5"


def table_rows() -> list[tuple[str, list[str]]]:
    """(their commands, our commands) of each row of the README's table."""
    text = (ROOT / "README.md").read_text()
    assert TITLE in text, "the README lost its table"
    lines = text.split(TITLE, 1)[1].lstrip().splitlines()
    rows = []
    for line in lines[2:]:  # after the header and the --- line
        if not line.startswith("|"):
            break
        theirs, ours = (cell.strip() for cell in line.strip("|").split("|"))
        rows.append((theirs, re.findall(r"`(xsz [^`]+)`", ours)))
    return rows


def test_readme_table_names_real_commands():
    rows = table_rows()
    assert len(rows) >= 10
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    named = {shlex.split(c)[1] for _, ours in rows for c in ours}
    assert named <= set(commands), named - set(commands)
    assert {"view", "stats", "get", "filter", "split", "merge", "convert"} <= named
    theirs = " ".join(t for t, _ in rows)
    for peer in ("pod5 view", "pod5 filter", "pod5 merge", "slow5tools skim", "slow5tools get"):
        assert peer in theirs, peer


@pytest.mark.skipif(not (BLOW5 / "reads.blow5").is_file(), reason=NO_DATA)
def test_readme_table_commands_run_on_real_data(tmp_path, monkeypatch, capsys):
    for module in ("pyslow5", "pysam", "pod5", "h5py"):
        pytest.importorskip(module)
    import xsz
    from xsz.format import SZReader
    from xsz.ops import filter_reads

    monkeypatch.chdir(tmp_path)
    shutil.copy(BLOW5 / "reads.blow5", "reads.blow5")
    shutil.copy(BLOW5 / "moves.sam", "moves.sam")
    shutil.copy(FAST5, "reads.fast5")
    xsz.import_reads("reads.blow5", "reads.sz", moves="moves.sam")
    with SZReader("reads.sz") as reader:
        ids = reader.ids.tolist()
    Path("ids.txt").write_text("read_id\n" + "\n".join([*ids[:3], ids[0]]) + "\n")
    filter_reads("reads.sz", "a.sz", read_ids=ids[:20])
    filter_reads("reads.sz", "b.sz", read_ids=ids[20:])
    ran = 0
    for theirs, ours in table_rows():
        for command in ours:
            args = shlex.split(command.replace("READ_ID", ids[5]))[1:]
            new = [a for a in args if Path(a).suffix in OUTPUTS and not Path(a).exists()]
            if args[0] == "split":
                new.append(args[2])
            capsys.readouterr()
            code = main([*args, "-q"] if args[0] not in ("view", "info") else args)
            captured = capsys.readouterr()
            assert code == 0, (theirs, command, captured.err)
            for path in new:
                assert Path(path).exists(), (command, path)
            if not new:
                assert captured.out.strip(), command
            ran += 1
    assert ran >= 15
    with SZReader("again.sz") as reader:
        assert sorted(reader.ids.tolist()) == sorted(ids)  # a.sz's reads once
    assert Path("calls.fastq").read_text().count("\n+\n") == len(ids)
    for exported in ("back.blow5", "back.slow5", "back.fast5"):
        with xsz.open_reads(exported) as reads:
            assert sorted(str(i) for i in reads.ids) == sorted(ids), exported
