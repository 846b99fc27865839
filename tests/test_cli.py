"""The xsz command: exit codes, messages, and each subcommand end to end."""

from __future__ import annotations

import errno

import numpy as np
import pytest
import xarray as xr
import zarr
from zarr.storage import ZipStore

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
    (tmp_path / "broken" / "index").write_text(
        "#{}\nLENGTH\tOFFSET\tID:A:S\tRaw:D:I16\n5\t0\tr1\t5:1\n"
    )
    assert main(["verify", str(tmp_path / "broken"), "-q"]) == 1
    assert "truncated" in capsys.readouterr().err


def test_cli_demo(tmp_path, capsys):
    assert main(["demo", str(tmp_path / "d"), "-n", "20"]) == 0
    out = capsys.readouterr().out
    assert "20 generated nanopore-like reads" in out and "all equal" in out
    for step in (
        "pod5 -> SZ",
        "SZ -> Zarr, reads layout",
        "SZ -> Zarr, regular layout",
        "Zarr (reads) -> SZ",
        "Zarr (regular) -> SZ",
    ):
        assert step in out
    names = {p.name for p in (tmp_path / "d").iterdir()}
    assert names == {
        "demo.pod5",
        "demo.sz",
        "demo-reads.zarr",
        "demo-regular.zarr",
        "back-reads.sz",
        "back-regular.sz",
    }
    assert main(["demo", str(tmp_path / "d"), "-n", "5"]) == 1  # not empty: --force
    assert "not empty" in capsys.readouterr().err
    assert main(["demo", str(tmp_path / "d"), "-n", "5", "--force"]) == 0


# --- xsz convert ---------------------------------------------------------------------


@pytest.fixture
def pod5_file(tmp_path):
    pytest.importorskip("pod5")
    from xsz.cli.demo import write_demo_pod5

    path = tmp_path / "run.pod5"
    reads = write_demo_pod5(path, 6, seed=3)
    return path, reads


def signals(sz_path):
    with SZReader(sz_path) as reader:
        return dict(zip(reader.ids.tolist(), reader.dataset("Raw"), strict=True))


def test_cli_convert_every_direction(pod5_file, tmp_path, capsys):
    src, reads = pod5_file
    want = {r.read_id: r.signal for r in reads}

    def same(path):
        got = signals(path)
        return got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want)

    assert main(["convert", str(src), str(tmp_path / "a.sz"), "-q"]) == 0  # pod5 -> SZ
    out = capsys.readouterr().out
    assert "(pod5," in out and "6 reads" in out and "pod5 -> sz" in out
    assert same(tmp_path / "a.sz")
    assert main(["convert", str(tmp_path / "a.sz"), str(tmp_path / "b.zarr"), "-q"]) == 0
    assert (
        main(
            [
                "convert",
                str(tmp_path / "a.sz"),
                str(tmp_path / "c.zip"),
                "-q",
                "--layout",
                "regular",
                "--codec",
                "zstd",
            ]
        )
        == 0
    )
    codecs = zarr.open_group(ZipStore(tmp_path / "c.zip", mode="r"), mode="r")[
        "Raw"
    ].metadata.codecs
    assert [type(c).__name__ for c in codecs] == ["BytesCodec", "ZstdCodec"]
    for name in ("b.zarr", "c.zip"):  # Zarr -> SZ
        assert main(["convert", str(tmp_path / name), str(tmp_path / f"{name}.sz"), "-q"]) == 0
        assert same(tmp_path / f"{name}.sz")
    assert main(["convert", str(tmp_path / "a.sz"), str(tmp_path / "d.pod5"), "-q"]) == 0
    assert main(["convert", str(tmp_path / "d.pod5"), str(tmp_path / "e.zarr"), "-q"]) == 0
    assert main(["convert", str(tmp_path / "e.zarr"), str(tmp_path / "f.pod5"), "-q"]) == 0
    assert main(["convert", str(tmp_path / "f.pod5"), str(tmp_path / "f.sz"), "-q"]) == 0
    assert same(tmp_path / "f.sz")  # pod5 -> Zarr -> pod5 -> SZ: through SZ each time
    assert (
        main(["convert", str(tmp_path / "a.sz"), str(tmp_path / "out"), "--to", "zarr", "-q"]) == 0
    )
    assert (tmp_path / "out" / "zarr.json").is_file()
    assert (
        main(
            [
                "convert",
                str(tmp_path / "out"),
                str(tmp_path / "g"),
                "--to",
                "sz",
                "--from",
                "zarr",
                "-q",
            ]
        )
        == 0
    )
    assert same(tmp_path / "g")
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries
    capsys.readouterr()


def test_cli_convert_selected_reads(pod5_file, tmp_path, capsys):
    src, reads = pod5_file
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{reads[4].read_id}\n{reads[1].read_id}\n")
    assert main(["convert", str(src), str(tmp_path / "a.sz"), "--ids", str(ids), "-q"]) == 0
    assert list(signals(tmp_path / "a.sz")) == [reads[1].read_id, reads[4].read_id]  # file order
    capsys.readouterr()
    ids.write_text(f"{reads[4].read_id}\n")
    assert (
        main(["convert", str(tmp_path / "a.sz"), str(tmp_path / "a.pod5"), "--ids", str(ids), "-q"])
        == 0
    )
    assert (
        "(pod5, " in (out := capsys.readouterr().out) and ": 1 read in " in out
    )  # not the store's 2
    ids.write_text(f"{reads[4].read_id}\n00000000-0000-4000-8000-000000000000\n")
    assert main(["convert", str(src), str(tmp_path / "b.sz"), "--ids", str(ids), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xsz: error: ") and err.count("\n") == 1
    assert "00000000-0000-4000-8000-000000000000" in err and not (tmp_path / "b.sz").exists()


def test_cli_convert_refuses_to_overwrite_without_force(pod5_file, tmp_path, capsys):
    src, _ = pod5_file
    for dst in ("a.sz", "a.zarr", "a.zip", "a.pod5"):
        assert (
            main(
                [
                    "convert",
                    str(src if dst != "a.pod5" else tmp_path / "a.sz"),
                    str(tmp_path / dst),
                    "-q",
                ]
            )
            == 0
        )
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        assert (
            main(
                [
                    "convert",
                    str(src if dst != "a.pod5" else tmp_path / "a.sz"),
                    str(tmp_path / dst),
                    "-q",
                ]
            )
            == 1
        )
        err = capsys.readouterr().err
        assert "exists" in err and "--force" in err, err
        assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
        assert (
            main(
                [
                    "convert",
                    str(src if dst != "a.pod5" else tmp_path / "a.sz"),
                    str(tmp_path / dst),
                    "-q",
                    "--force",
                ]
            )
            == 0
        )
    (tmp_path / "notes.zarr").mkdir()
    (tmp_path / "notes.zarr" / "mine.txt").write_text("keep")
    assert main(["convert", str(src), str(tmp_path / "notes.zarr"), "-q", "--force"]) == 1
    assert "refusing to replace" in capsys.readouterr().err
    assert (tmp_path / "notes.zarr" / "mine.txt").read_text() == "keep"


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda p: p.write_bytes(b"\x00garbage" * 10), [], "unknown format"),
        (lambda p: None, [], "no such file"),
        (None, ["--moves", "{sam}"], "none of its 1 read IDs"),
        (None, ["--layout", "regular"], "apply to Zarr destinations"),
        (None, ["--codec", "zstd"], "apply to Zarr destinations"),
    ],
)
def test_cli_convert_bad_input_is_one_line(make, args, message, pod5_file, tmp_path, capsys):
    src, _ = pod5_file
    if make is not None:
        src = tmp_path / "bad.pod5"
        make(src)
    sam = tmp_path / "calls.sam"
    sam.write_text("@HD\tVN:1.6\nnobody\t4\t*\t0\t0\t*\t*\t0\t0\tACGT\t****\tmv:B:c,5,1,0,1\n")
    code = main(
        ["convert", str(src), str(tmp_path / "out.sz"), "-q", *[a.format(sam=sam) for a in args]]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("xsz: error: ") and err.count("\n") == 1, err
    assert message in err
    assert not (tmp_path / "out.sz").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_convert_truncated_pod5(pod5_file, tmp_path, capsys):
    src, _ = pod5_file
    cut = tmp_path / "cut.pod5"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    assert main(["convert", str(cut), str(tmp_path / "out.zarr"), "-q"]) == 1
    assert "truncated pod5" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.pod5", "run.pod5"]


def test_cli_convert_usage_errors(pod5_file, tmp_path, capsys):
    src, _ = pod5_file
    for argv in (
        ["convert", str(src)],
        ["convert", str(src), "x.sz", "--to", "bam"],
        ["convert", str(src), "x.zarr", "--layout", "rows"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    assert main(["convert", str(src), str(tmp_path / "x.dat")]) == 1
    assert "cannot tell which format" in capsys.readouterr().err
    assert main(["convert", str(src), str(tmp_path / "x.pod5")]) == 1
    assert "already pod5" in capsys.readouterr().err


def failing_third_call(real, failure, at=3):
    """`real` (a method) failing on its third call (or `at`: Ctrl-C or a full disk);
    `.calls` counts."""
    calls = []

    def fail(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == at:
            if failure == "interrupt":
                raise KeyboardInterrupt
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    fail.calls = calls
    return fail


@pytest.mark.parametrize("failure", ["interrupt", "disk full"])
@pytest.mark.parametrize("dst", ["out.sz", "out.zarr", "out.zip"])
def test_cli_convert_interrupted_or_disk_full_leaves_nothing(
    failure, dst, pod5_file, tmp_path, monkeypatch, capsys
):
    src, _ = pod5_file
    from xsz.format import SZWriter as Writer

    fail = failing_third_call(Writer.put_frames if dst != "out.sz" else Writer.put, failure)
    if dst == "out.sz":
        monkeypatch.setattr(Writer, "put", fail)
        # pod5 with VBZ signal is put a block of reads at a time
        monkeypatch.setattr(
            Writer, "put_encoded", failing_third_call(Writer.put_encoded, failure, 1)
        )
        source = src
    else:  # Zarr -> SZ goes through put_frames; make the Zarr first
        assert main(["convert", str(src), str(tmp_path / "in.zarr"), "-q"]) == 0
        monkeypatch.setattr(Writer, "put_frames", fail)
        source, dst = tmp_path / "in.zarr", "out.sz"
    code = main(["convert", str(source), str(tmp_path / dst), "-q"])
    err = capsys.readouterr().err
    if failure == "interrupt":
        assert code == 130 and err == "xsz: interrupted\n"
    else:
        assert code == 1 and "No space left on device" in err and err.count("\n") == 1
    assert not (tmp_path / dst).exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("failure", ["interrupt", "disk full"])
@pytest.mark.parametrize("dst", ["out.zarr", "out.zip"])
def test_cli_convert_to_zarr_interrupted_or_disk_full(
    failure, dst, store, tmp_path, monkeypatch, capsys
):
    from xsz.convert import _zarr_reads

    monkeypatch.setattr(_zarr_reads, "BLOCK_BYTES", 10_000)
    fail = failing_third_call(_zarr_reads.FrameBlock.__init__, failure)
    monkeypatch.setattr(_zarr_reads.FrameBlock, "__init__", fail)
    code = main(["convert", str(store), str(tmp_path / dst), "-q"])
    err = capsys.readouterr().err
    assert code == (130 if failure == "interrupt" else 1), err
    assert len(fail.calls) == 3
    assert not (tmp_path / dst).exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_convert_blow5_with_moves(source_data, tmp_path, capsys):
    blow5 = source_data / "squigualiser" / "r9.4_450bps" / "reads.blow5"
    sam = source_data / "squigualiser" / "r9.4_450bps" / "moves.sam"
    assert main(["convert", str(blow5), str(tmp_path / "a.zarr"), "--moves", str(sam), "-q"]) == 0
    ds = xr.open_zarr(tmp_path / "a.zarr", chunks=None)
    assert ds.sizes["read"] == 40 and int((ds.Move_count > 0).sum()) == 40
    assert (
        main(
            [
                "convert",
                str(blow5),
                str(tmp_path / "b.sz"),
                "--moves",
                str(source_data / "squigualiser" / "r10_hg002_two_reads" / "buttery_eel.sam"),
                "-q",
            ]
        )
        == 1
    )
    assert "none of its" in capsys.readouterr().err


def test_cli_errors_name_flags_where_the_library_names_keywords(store, tmp_path, capsys):
    """The library's messages speak Python (``overwrite=True``); the command's, its flags."""
    from xsz import ops
    from xsz.errors import StoreExistsError

    dst = tmp_path / "copy.sz"
    ids = tmp_path / "ids.txt"
    ids.write_text("read_00001\n")
    assert main(["subset", str(store), str(dst), "--ids", str(ids), "-q"]) == 0
    capsys.readouterr()
    with pytest.raises(StoreExistsError, match=r"pass overwrite=True"):
        ops.subset(store, ["read_00001"], dst)
    assert main(["subset", str(store), str(dst), "--ids", str(ids), "-q"]) == 1
    err = capsys.readouterr().err
    assert "--force" in err
    assert "overwrite=True" not in err
    assert main(["convert", str(store), str(tmp_path / "x.unknown"), "-q"]) == 1
    err = capsys.readouterr().err
    assert "--to" in err
    assert "to=" not in err
