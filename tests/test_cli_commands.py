"""The commands a pod5 / slow5tools user reaches for: --version, view, stats, get
--format, filter, split, merge --duplicate-ok / --union; each against values
computed here from the records written."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.made_reads import ATTRS, END_REASONS, NO_BASES, write_called
from xsz import __version__
from xsz.cli import main
from xsz.cli._main import build_parser
from xsz.format import SZReader

N = 30
FIELDS = [name for name, _ in ATTRS]


@pytest.fixture
def called(tmp_path):
    path = tmp_path / "called.sz"
    return path, write_called(path, N)


def rows_of(records):
    return {
        r[0]: dict(zip([*FIELDS, "Raw", "Sequence", "Quality", "Move"], r, strict=True))
        for r in records
    }


def tsv(text):
    lines = text.splitlines()
    head = lines[0].split("\t")
    return head, [dict(zip(head, line.split("\t"), strict=True)) for line in lines[1:]]


# --- --version, --help ---------------------------------------------------------------


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"xsz {__version__}"


def test_cli_help_lists_every_command(capsys):
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert {"view", "stats", "get", "filter", "split", "merge", "info", "subset"} <= set(commands)
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in commands:
        assert f"\n    {name} " in out, name


# --- view ------------------------------------------------------------------------------


def test_cli_view_default_columns_are_the_index(called, capsys):
    path, records = called
    assert main(["view", str(path)]) == 0
    head, rows = tsv(capsys.readouterr().out)
    assert head == [*FIELDS, "Raw_count", "Move_count"]
    assert len(rows) == N
    for row, record in zip(rows, records, strict=True):
        want = rows_of([record])[record[0]]
        assert row["ID"] == record[0] and row["end_reason"] == want["end_reason"]
        assert int(row["channel"]) == want["channel"]
        assert np.float32(row["scale"]) == want["scale"]  # shortest text of a float32 reads back
        assert float(row["offset"]) == want["offset"]
        assert int(row["Raw_count"]) == len(want["Raw"])
        assert int(row["Move_count"]) == len(want["Move"])


def test_cli_view_columns_ids_header(called, tmp_path, capsys):
    path, records = called
    ids = tmp_path / "ids.csv"
    ids.write_text("read_id,comment\nr005,x\nr002,y\nr005,again\n")
    assert (
        main(
            ["view", str(path), "-c", "read_id,Sequence_length", "-c", "channel", "--ids", str(ids)]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "read_id\tSequence_length\tchannel",
        f"r005\t{len(records[5][8])}\t{records[5][1]}",
        f"r002\t{len(records[2][8])}\t{records[2][1]}",
    ]
    assert "1 repeated line ignored" in captured.err
    assert main(["view", str(path), "--no-header", "-c", "ID"]) == 0
    assert capsys.readouterr().out.split() == [r[0] for r in records]
    assert main(["view", str(path), "-c", "chanel"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xsz: error:") and "'chanel'" in err and "did you mean 'channel'" in err
    assert main(["view", str(path), "--list-columns"]) == 0
    listed = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == [
        *FIELDS,
        "Raw_count",
        "Sequence_length",
        "Quality_length",
        "Move_count",
        "read_id",
    ]


def test_view_streams_in_batches(called):
    from xsz.select import resolve_columns, tsv_lines

    path, _ = called
    with SZReader(path) as reader:
        chunks = list(tsv_lines(reader, resolve_columns(reader), batch=7))
        whole = list(tsv_lines(reader, resolve_columns(reader)))
    assert len(chunks) == 1 + -(-N // 7) and all(c.endswith("\n") for c in chunks)
    assert "".join(chunks) == "".join(whole)


def test_cli_view_into_a_closed_pipe_exits_quietly(tmp_path):
    path = tmp_path / "many.sz"
    write_called(path, 3000)
    code = (
        "import sys; from xsz.cli import main; "
        f"sys.exit(main(['view', {str(path)!r}, '-c', 'ID,channel,Raw_count']))"
    )
    proc = subprocess.run(
        f'{sys.executable} -c "{code}" | head -n 2',
        shell=True,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.stdout.splitlines()[0] == "ID\tchannel\tRaw_count"
    assert "Traceback" not in proc.stderr and "error" not in proc.stderr


# --- stats -----------------------------------------------------------------------------


def pa_stats(records):
    means, sds, pooled = [], [], []
    for r in records:
        pa = (r[7].astype(np.float64) + r[5]) * np.float64(r[6])
        means.append(pa.mean())
        sds.append(pa.std())
        pooled.append(pa)
    return np.array(means), np.array(sds), np.concatenate(pooled)


def test_cli_stats_summary_and_per_read(called, tmp_path, capsys):
    path, records = called
    lengths = np.array([len(r[7]) for r in records])
    means, sds, pooled = pa_stats(records)
    ordered = np.sort(lengths)[::-1]
    n50 = ordered[np.argmax(np.cumsum(ordered) >= lengths.sum() / 2)]
    assert main(["stats", str(path), "-q", "-o", str(tmp_path / "s.tsv")]) == 0
    out = capsys.readouterr().out
    assert f"{lengths.sum():,} of Raw" in out and f"N50 {n50:,}" in out
    summary = dict(line.split("\t") for line in (tmp_path / "s.tsv").read_text().splitlines())
    assert int(summary["reads"]) == N and int(summary["samples_N50"]) == n50
    assert int(summary["samples_median"]) == int(np.median(lengths))
    duration = sum(len(r[7]) / r[4] for r in records)
    assert float(summary["duration_total_s"]) == pytest.approx(duration, rel=1e-5)
    assert float(summary["pA_mean"]) == pytest.approx(pooled.mean(), rel=1e-5)
    assert float(summary["pA_sd"]) == pytest.approx(pooled.std(), rel=1e-5)
    assert main(["stats", str(path), "-q", "--per-read"]) == 0
    head, rows = tsv(capsys.readouterr().out)
    assert head == ["read_id", "Raw_count", "duration_s", "pA_mean", "pA_sd"]
    for row, record, mean, sd in zip(rows, records, means, sds, strict=True):
        assert row["read_id"] == record[0] and int(row["Raw_count"]) == len(record[7])
        assert float(row["duration_s"]) == pytest.approx(len(record[7]) / record[4])
        assert float(row["pA_mean"]) == pytest.approx(mean, rel=1e-9)
        assert float(row["pA_sd"]) == pytest.approx(sd, rel=1e-9)


def test_cli_stats_without_rate_or_calibration(tmp_path, capsys):
    from tests.conftest import SCHEMA_DATASETS, make_reads
    from xsz.format import Schema, SZWriter

    path = tmp_path / "plain.sz"
    reads = make_reads(5)
    with SZWriter(path, Schema.build([("ID", str), ("Other", np.int32)], SCHEMA_DATASETS)) as w:
        w.put_many([(r[0], 1, r[3], r[4], r[5]) for r in reads])
    assert main(["stats", str(path), "-q"]) == 0
    out = capsys.readouterr().out
    raw = np.concatenate([r[3] for r in reads]).astype(np.float64)
    assert "duration  unknown" in out and "raw units" in out
    assert f"mean {raw.mean():,.2f} raw" in out


# --- get --format --------------------------------------------------------------------------


def test_cli_get_text_records_are_whole(called, tmp_path, capsys):
    path, records = called
    assert main(["get", str(path), "r004", "r001", "--format", "text"]) == 0
    head, rows = tsv(capsys.readouterr().out)
    assert head == [*FIELDS, "Raw", "Sequence", "Quality", "Move"]
    for row, record in zip(rows, [records[4], records[1]], strict=True):
        assert row["ID"] == record[0]
        assert np.array_equal(np.array(row["Raw"].split(","), dtype=np.int16), record[7])
        assert row["Sequence"] == record[8] and row["Quality"] == record[9]
        assert len(row["Raw"].split(",")) == len(record[7])  # every sample, nothing elided


def test_cli_get_fastq(called, tmp_path, capsys):
    path, records = called
    out = tmp_path / "calls.fastq"
    assert main(["get", str(path), "--all", "-o", str(out)]) == 0
    assert "without bases skipped" in capsys.readouterr().err
    want = "".join(
        f"@{r[0]}\n{r[8]}\n+\n{r[9]}\n" for i, r in enumerate(records) if i % 7 != NO_BASES
    )
    assert out.read_text() == want
    assert main(["get", str(path), "r000", "--format", "fastq"]) == 0
    assert capsys.readouterr().out == f"@r000\n{records[0][8]}\n+\n{records[0][9]}\n"


def test_cli_get_fastq_without_basecalls_is_a_clear_error(tmp_path, capsys):
    from tests.conftest import SCHEMA_ATTRS, make_reads
    from xsz.format import Schema, SZWriter

    path = tmp_path / "raw.sz"
    with SZWriter(path, Schema.build(SCHEMA_ATTRS, [("Raw", np.int16)])) as w:
        w.put_many([r[:4] for r in make_reads(3)])
    assert main(["get", str(path), "--all", "--format", "fastq", "-o", str(tmp_path / "x.fq")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xsz: error:") and "no basecalls" in err and "Raw" in err
    assert not (tmp_path / "x.fq").exists() and not list(tmp_path.glob(".x.fq*"))


def test_cli_get_needs_reads(called, capsys):
    path, _ = called
    assert main(["get", str(path)]) == 1
    assert "--all" in capsys.readouterr().err


# --- filter ------------------------------------------------------------------------------


def frames_of(path, rows):
    with SZReader(path) as reader:
        return [bytes(b"".join(bytes(f) for f in frames)) for frames in reader.frames(rows)]


def test_cli_filter_expression(called, tmp_path, capsys):
    path, records = called
    dst = tmp_path / "f.sz"
    expr = 'end_reason == "signal_positive" and Raw_count > 1000 or channel in (1, 2)'
    assert main(["filter", str(path), str(dst), "-e", expr, "-q"]) == 0
    want = [
        i
        for i, r in enumerate(records)
        if (r[2] == "signal_positive" and len(r[7]) > 1000) or r[1] in (1, 2)
    ]
    assert f"wrote {len(want)} reads" in capsys.readouterr().out
    with SZReader(dst) as reader:
        assert reader.ids.tolist() == [records[i][0] for i in want]
        assert reader.header == {"run": "made"}
    assert frames_of(dst, np.arange(len(want))) == frames_of(path, np.array(want))  # copied as is
    ids = tmp_path / "ids.txt"
    ids.write_text("read_id\n" + "\n".join(records[i][0] for i in range(0, N, 2)) + "\n")
    assert (
        main(["filter", str(path), str(dst), "-e", expr, "--ids", str(ids), "-q", "--force"]) == 0
    )
    with SZReader(dst) as reader:
        assert reader.ids.tolist() == [records[i][0] for i in want if i % 2 == 0]


@pytest.mark.parametrize(
    ("expr", "said"),
    [
        ("chanel > 3", "no field 'chanel' (did you mean 'channel'?)"),
        ("channel >", "invalid syntax"),
        ('__import__("os").system("touch pwned")', "a function call is not allowed"),
        ("channel.__class__", "an attribute (x.y) is not allowed"),
        ("ID[0] == 'r'", "a subscript"),
        ("(lambda: 1)() == 1", "not allowed"),
        ('channel == "3"', "cannot compare number with text"),
        ("channel", "must be a condition"),
        ("channel > 1 & channel < 3", "'&' (use 'and')"),
        ("end_reason in (1, 2)", "cannot match a text field"),
        ("channel is 3", "'is'"),
    ],
)
def test_cli_filter_refuses_with_a_clear_error(called, tmp_path, capsys, expr, said):
    path, _ = called
    dst = tmp_path / "f.sz"
    assert main(["filter", str(path), str(dst), "-e", expr, "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xsz: error: filter expression") and said in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not dst.exists() and not (tmp_path / "pwned").exists()


# --- split -------------------------------------------------------------------------------


def test_cli_split_by_column_and_count(called, tmp_path, capsys):
    path, records = called
    out = tmp_path / "by"
    assert main(["split", str(path), str(out), "--by", "end_reason", "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"end_reason_{e}.sz" for e in END_REASONS
    )
    for reason in END_REASONS:
        with SZReader(out / f"end_reason_{reason}.sz") as reader:
            assert reader.ids.tolist() == [r[0] for r in records if r[2] == reason]
    assert main(["split", str(path), str(out), "--by", "end_reason", "-q"]) == 1
    assert "--force" in capsys.readouterr().err
    parts = tmp_path / "parts"
    assert main(["split", str(path), str(parts), "--count", "8", "-q"]) == 0
    names = sorted(p.name for p in parts.iterdir())
    assert names == [f"part_{k:05d}.sz" for k in range(4)]
    got = []
    for name in names:
        with SZReader(parts / name) as reader:
            got.append(reader.ids.tolist())
    assert [len(g) for g in got] == [8, 8, 8, 6] and [i for g in got for i in g] == [
        r[0] for r in records
    ]
    with pytest.raises(SystemExit):  # --by or --count, not both
        main(["split", str(path), str(parts), "--count", "8", "--by", "channel"])


def test_split_refuses_before_writing_anything(called, tmp_path):
    from xsz.errors import StoreExistsError
    from xsz.ops import split

    path, _ = called
    out = tmp_path / "by"
    out.mkdir()
    (out / "channel_5.sz").write_text("not a store")
    with pytest.raises(StoreExistsError):
        split(path, out, by="channel")
    assert [p.name for p in out.iterdir()] == ["channel_5.sz"]


# --- merge --duplicate-ok, --union ----------------------------------------------------------


def test_cli_merge_duplicate_ok_keeps_the_first(called, tmp_path, capsys):
    path, records = called
    other = tmp_path / "other.sz"
    more = write_called(other, 10, seed=9, prefix="r")  # r000..r009 again, other values
    dst = tmp_path / "m.sz"
    assert main(["merge", str(path), str(other), str(dst), "-q"]) == 1
    assert "is in both" in capsys.readouterr().err and not dst.exists()
    assert main(["merge", str(other), str(path), str(dst), "-q", "--duplicate-ok"]) == 0
    assert "10 repeated reads left out" in capsys.readouterr().out
    with SZReader(dst) as reader:
        assert reader.ids.tolist() == [r[0] for r in more] + [r[0] for r in records[10:]]
        assert np.array_equal(reader.read(0)["Raw"], more[0][7])  # the first store's r000


def test_cli_merge_union_fills_absent_fields(called, tmp_path, capsys):
    from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
    from xsz.format import Schema, SZWriter

    path, records = called
    pysz = tmp_path / "pysz.sz"
    reads = make_reads(4)
    with SZWriter(pysz, Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)) as w:
        w.put_many(reads)
    dst = tmp_path / "u.sz"
    assert main(["merge", str(path), str(pysz), str(dst), "-q"]) == 1
    assert "columns differ" in capsys.readouterr().err
    assert main(["merge", str(path), str(pysz), str(dst), "-q", "--union"]) == 0
    err = capsys.readouterr().err
    assert "filled Offset, Raw_unit, Fastq" in err
    with SZReader(dst) as reader:
        names = [f.name for f in reader.schema.fields]
        assert names == [
            *FIELDS,
            "Offset",
            "Raw_unit",
            "Raw",
            "Sequence",
            "Quality",
            "Move",
            "Fastq",
        ]
        first, last = reader.read(0), reader.read(N + 3)
    assert first["Offset"] == -1 and np.isnan(first["Raw_unit"]) and first["Fastq"] == ""
    assert last["channel"] == -1 and last["end_reason"] == "" and np.isnan(last["scale"])
    assert last["Sequence"] == "" and len(last["Quality"]) == 0
    assert np.array_equal(last["Raw"], reads[3][3]) and np.array_equal(last["Move"], reads[3][5])
    assert last["Fastq"] == reads[3][4] and np.array_equal(first["Raw"], records[0][7])
    assert main(["verify", str(dst), "-q"]) == 0


def test_merge_union_refuses_a_field_of_two_types(tmp_path):
    from xsz.errors import SchemaError
    from xsz.format import Schema, SZWriter
    from xsz.ops import merge

    for name, code in (("a.sz", np.int32), ("b.sz", np.float32)):
        with SZWriter(tmp_path / name, Schema.build([("ID", str), ("x", code)], [])) as w:
            w.put(f"{name}-1", 1)
    with pytest.raises(SchemaError, match=r"'x' is x:A:I32 in .* but x:A:F32"):
        merge([tmp_path / "a.sz", tmp_path / "b.sz"], tmp_path / "m.sz", union=True)
    assert not (tmp_path / "m.sz").exists()


def test_cli_info_header_is_summarised(tmp_path, capsys):
    from xsz.format import Schema, SZWriter

    header = {"version": "1", "runs": {f"run{i}": {"note": "x" * 200} for i in range(40)}}
    path = tmp_path / "big.sz"
    with SZWriter(path, Schema.build([("ID", str)], [("Raw", np.int16)]), header=header) as w:
        w.put("a", np.arange(3, dtype=np.int16))
    assert len(json.dumps(header)) > 7000
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) < 120
    assert "runs: {40 keys: run0, run1" in out and "xsz info --header" in out
    assert main(["info", str(path), "--header"]) == 0
    assert json.loads(capsys.readouterr().out) == header


def test_stats_agree_with_the_accessor(called):
    import xarray as xr

    import xsz  # noqa: F401  (ds.sz)
    from xsz.select import read_stats

    path, _ = called
    with SZReader(path) as reader:
        got = read_stats(reader)
    with xr.open_dataset(path, engine="sz") as ds:
        pa = ds.sz.to_pA("Raw").values.astype(np.float64)
    assert got.calibration is not None and got.calibration.startswith("pod5 / slow5")
    assert got.signal["mean"] == pytest.approx(pa.mean(), rel=1e-6)
    assert got.signal["sd"] == pytest.approx(pa.std(), rel=1e-5)


def test_cli_stats_of_listed_reads(called, tmp_path, capsys):
    path, records = called
    chosen = [records[i] for i in (7, 2, 19)]
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"{r[0]}\n" for r in chosen))
    assert main(["stats", str(path), "-q", "--ids", str(ids), "--per-read"]) == 0
    _, rows = tsv(capsys.readouterr().out)
    means, sds, pooled = pa_stats(chosen)
    assert [r["read_id"] for r in rows] == [r[0] for r in chosen]
    assert [float(r["pA_mean"]) for r in rows] == pytest.approx(means, rel=1e-9)
    assert [float(r["pA_sd"]) for r in rows] == pytest.approx(sds, rel=1e-9)
    assert main(["stats", str(path), "-q", "--ids", str(ids), "-o", str(tmp_path / "s.tsv")]) == 0
    summary = dict(line.split("\t") for line in (tmp_path / "s.tsv").read_text().splitlines())
    assert int(summary["reads"]) == 3
    assert int(summary["samples_total"]) == sum(len(r[7]) for r in chosen)
    assert float(summary["pA_mean"]) == pytest.approx(pooled.mean(), rel=1e-5)


def test_cli_split_listed_reads(called, tmp_path):
    path, records = called
    listed = [records[i][0] for i in (25, 3, 11, 4, 3)]
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(listed) + "\n")
    out = tmp_path / "by"
    assert main(["split", str(path), str(out), "--by", "run_id", "--ids", str(ids), "-q"]) == 0
    for run in ("run0", "run1"):
        with SZReader(out / f"run_id_{run}.sz") as reader:
            want = [r[0] for i, r in enumerate(records) if i in (3, 4, 11, 25) and r[3] == run]
            assert reader.ids.tolist() == want  # the source's order
    parts = tmp_path / "parts"
    assert main(["split", str(path), str(parts), "--count", "3", "--ids", str(ids), "-q"]) == 0
    with SZReader(parts / "part_00001.sz") as reader:
        assert reader.ids.tolist() == [records[25][0]]
