"""`open_reads` / `verify_reads` and ``xsz info``, ``get``, ``verify`` on every format xsz
reads: SZ, pod5, BLOW5, SLOW5, FAST5 and Zarr (both layouts of `to_zarr`, directory and
zip), without converting first.

What `open_reads` gives must be exactly what an import stores (IDs, attributes, counts,
signals); each test runs on the files the tests make and on the real files of
../shared/data (skipped, with the reason, without them).
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from xsz.cli import main
from xsz.convert import import_reads, open_reads, to_zarr, verify_reads
from xsz.errors import ReadNotFoundError, SchemaError, SourceError
from xsz.format import SZReader

pytest.importorskip("pod5")
pytest.importorskip("pyslow5")
pytest.importorskip("h5py")

FILES = {
    "blue-crab/z1.pod5": "pod5",
    "squigualiser/r9.4_450bps/reads.blow5": "blow5",
    "squigualiser/r10_hg002_two_reads/reads.slow5": "slow5",
    "ont_fast5_api/batch0.fast5": "fast5",
    "vbz_compression/multi_fast5_vbz.fast5": "fast5",
    f"ont_fast5_api/single_reads/{'00031f3e-415c-4ab5-9c16-fb6fe45ff519'}.fast5": "fast5",
}


@pytest.fixture
def data(source_data):
    """The directory of nanopore files (made by the tests; tests/test_real_data.py
    runs these tests again on the real ones)."""
    return source_data


def same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return a.dtype == np.asarray(b).dtype and np.array_equal(a, b)
    if isinstance(a, float | np.floating) and math.isnan(a):
        return isinstance(b, float | np.floating) and math.isnan(b)
    return bool(a == b) and type(a) is type(b)


def assert_same_as_store(reads, store) -> None:
    """`reads` (any format) holds exactly what the SZ store `store` holds."""
    with SZReader(store) as r:
        assert reads.schema == r.schema
        assert reads.ids.tolist() == r.ids.tolist()
        for f in r.schema.attributes:
            got, want = reads.attribute(f.name), r.index.attribute(f.name)
            assert len(got) == len(want)
            assert all(same(g, w) for g, w in zip(want.tolist(), got.tolist(), strict=True)), f
        np.testing.assert_array_equal(reads.counts("Raw"), r.counts("Raw"))
        rows = np.arange(len(r))[::-1]  # backwards, by ID
        got = reads.read_many(reads.rows([str(i) for i in r.ids[rows]]))
        for g, w in zip(got, r.read_many(rows), strict=True):
            assert g.keys() == w.keys()
            for key in w:
                assert same(w[key], g[key]), (w.get("ID"), key)


@pytest.mark.parametrize("name", FILES)
def test_read_any_format_nanopore_file_equals_its_import(data, name, tmp_path):
    import_reads(data / name, tmp_path / "a.sz")
    with open_reads(data / name) as reads:
        assert reads.format == FILES[name]
        assert reads.header["runs"] == SZReader(tmp_path / "a.sz").header["runs"]
        assert_same_as_store(reads, tmp_path / "a.sz")
        assert [x["ID"] for x in reads.reads(["Raw"])] == reads.ids.tolist()


@pytest.mark.parametrize("kind", ["reads.zarr", "reads.zip", "regular.zarr"])
def test_read_any_format_zarr_equals_its_store(data, kind, tmp_path):
    import_reads(data / "squigualiser/r9.4_450bps/reads.blow5", tmp_path / "a.sz")
    layout = kind.split(".")[0]
    to_zarr(tmp_path / "a.sz", tmp_path / kind, layout=layout)
    with open_reads(tmp_path / kind) as reads:
        assert reads.format == "zarr"
        assert_same_as_store(reads, tmp_path / "a.sz")
        every = list(reads.reads())
        assert [x["ID"] for x in every] == reads.ids.tolist()
        assert [len(x["Raw"]) for x in every] == reads.counts("Raw").tolist()
        assert reads.header["runs"] == SZReader(tmp_path / "a.sz").header["runs"]


def test_read_any_format_sz_and_refusals(data, tmp_path):
    import_reads(data / "blue-crab/z1.pod5", tmp_path / "a.sz")
    with open_reads(tmp_path / "a.sz") as reads:
        assert reads.format == "sz"
        assert_same_as_store(reads, tmp_path / "a.sz")
        every = list(reads.reads())
        assert [x["ID"] for x in every] == reads.ids.tolist()
        assert [len(x["Raw"]) for x in every] == reads.counts("Raw").tolist()
    for path in (data / "blue-crab/z1.pod5", tmp_path / "a.sz"):
        with open_reads(path) as reads:
            with pytest.raises(ReadNotFoundError, match="no read with ID 'nope'"):
                reads.rows(["nope"])
            with pytest.raises(SchemaError, match="no dataset 'Foo'"):
                reads.read(0, ["Foo"])
            first = reads.read(0, [])
            assert "Raw" not in first and first["ID"] == reads.ids[0]
    (tmp_path / "junk.bin").write_bytes(b"not a nanopore file")
    with pytest.raises(SourceError):
        open_reads(tmp_path / "junk.bin")


def test_read_any_format_verify_finds_damage(source_data, tmp_path):
    blow5 = source_data / "squigualiser/r9.4_450bps/reads.blow5"
    assert verify_reads(blow5) == (40, [])
    data = bytearray(blow5.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # the end-of-file marker stays
    (tmp_path / "bad.blow5").write_bytes(bytes(data))
    n, problems = verify_reads(tmp_path / "bad.blow5")
    assert 0 < n < 40 and len(problems) == 1
    assert "cannot be read" in str(problems[0]) and "bad.blow5" in str(problems[0])
    # Zarr: a read's chunk gone, and an ID given twice
    import_reads(blow5, tmp_path / "a.sz")
    to_zarr(tmp_path / "a.sz", tmp_path / "a.zarr", layout="regular", codec="zstd")
    assert verify_reads(tmp_path / "a.zarr") == (40, [])
    shutil.copytree(tmp_path / "a.zarr", tmp_path / "dup.zarr")
    import zarr

    ids = zarr.open_array(tmp_path / "dup.zarr" / "read", mode="r+")
    first = str(ids[0])
    ids[3] = first
    n, problems = verify_reads(tmp_path / "dup.zarr", stop_at_first=False)
    assert n == 40
    assert [str(p) for p in problems] == [f"read {first!r} (row 3): the same ID as row 0"]
    to_zarr(tmp_path / "a.sz", tmp_path / "b.zarr")
    chunk = next(
        p for p in (tmp_path / "b.zarr" / "Raw").rglob("*") if p.is_file() and p.name != "zarr.json"
    )
    chunk.write_bytes(chunk.read_bytes()[:-8])
    n, problems = verify_reads(tmp_path / "b.zarr")
    assert n < 40 and problems and "cannot be read" in str(problems[0])
    assert verify_reads(tmp_path / "missing.pod5")[1][0].read_id is None


@pytest.mark.parametrize("name", [*FILES, "zarr"])
def test_read_any_format_cli_info_get_view_verify(data, name, tmp_path, capsys):
    if name == "zarr":
        import_reads(data / "squigualiser/r9.4_450bps/reads.blow5", tmp_path / "a.sz")
        to_zarr(tmp_path / "a.sz", tmp_path / "a.zip")
        path, fmt = tmp_path / "a.zip", "zarr"
    else:
        path, fmt = data / name, FILES[name]
    with open_reads(path) as reads:
        ids = [str(i) for i in reads.ids]
        n, total = len(reads), int(reads.counts("Raw").sum())
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{fmt} " in out and f"{n:,} reads" in out and f"{total:,} values" in out
    assert main(["get", str(path), ids[-1], "-d", "Raw"]) == 0
    out = capsys.readouterr().out
    assert f"ID\t{ids[-1]}" in out and "Raw\t" in out
    assert main(["verify", str(path), "-q"]) == 0
    assert f"OK ({fmt}: {n:,} reads decoded" in capsys.readouterr().out
    assert main(["get", str(path), "no-such-read"]) == 1
    assert "no read with ID 'no-such-read'" in capsys.readouterr().err
    assert main(["view", str(path), "-c", "read_id,channel,Raw_count"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "read_id\tchannel\tRaw_count"
    with open_reads(path) as reads:
        channels, counts = reads.attribute("channel"), reads.counts("Raw")
    assert lines[1:] == [
        f"{rid}\t{c}\t{k}"
        for rid, c, k in zip(ids, channels.tolist(), counts.tolist(), strict=True)
    ]


def test_read_any_format_cli_verify_damaged(source_data, tmp_path, capsys):
    data = bytearray((source_data / "squigualiser/r9.4_450bps/reads.blow5").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    (tmp_path / "bad.blow5").write_bytes(bytes(data))
    assert main(["verify", str(tmp_path / "bad.blow5"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"xsz: error: {tmp_path / 'bad.blow5'}: the read at row ")
    assert "Traceback" not in err
