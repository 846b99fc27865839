"""The benchmarks in bench/ still run: each one's corpus, writers and readers at a
small size, their results checked against each other. (bench_scale's xsz writer
once put 14 fields to a 26-field schema and nobody knew until its run failed.)
Timing is not tested: the figures are made by hand (BENCHMARKS.md)."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from tests import ROOT, requires_data
from xsz.convert import import_schema
from xsz.format import SZReader

pytest.importorskip("pod5")
pytest.importorskip("pyslow5")


@pytest.fixture
def bench(monkeypatch):
    """Import a module of bench/ as its scripts import each other."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    return importlib.import_module


def test_bench_scale_every_measure_of_every_format(bench, tmp_path, monkeypatch):
    """A 300-read corpus made in the three formats, every measure run in this
    process; the formats agree on the samples each measure reads."""
    scale = bench("bench_scale")
    monkeypatch.setattr(scale, "SAMPLES", 200)
    scale.make("300", tmp_path)
    ids = json.loads((tmp_path / "300.ids.json").read_text())
    with SZReader(tmp_path / "300.sz") as reader:
        assert len(reader) == 300 and sorted(reader.ids.tolist()) == sorted(ids)
        assert reader.schema.columns == import_schema(basecalls=False).columns
    seen: dict[str, set[int]] = {}
    for measure in scale.MEASURES:
        for fmt in scale.measures_of(measure, "300", tmp_path):
            info = scale.child(measure, fmt, "300", tmp_path)
            assert info["seconds"] >= 0 and info["rss"] > 0, (measure, fmt)
            if "samples" in info:
                seen.setdefault(measure, set()).add(info["samples"])
    assert set(seen) == {"first lookup", "1,000 lookups", "read all"}
    assert all(len(values) == 1 for values in seen.values()), seen  # every format alike
    assert seen["read all"] == {300 * 200}


@requires_data
def test_bench_writers_of_the_real_reads(bench, tmp_path):
    """run.py's, bench_write.py's and bench_convert.py's writers make stores that
    hold the real reads they were given."""
    run, write, convert = bench("run"), bench("bench_write"), bench("bench_convert")
    timing = bench("_timing")
    reads, z = timing.load_sample()
    run.write_xsz(tmp_path / "run.sz", reads, z, 2)
    short, short_attrs = write.short_reads(500, 1000, z)
    write.write_xsz(tmp_path / "short.sz", short, short_attrs, 2)
    write.write_compressed_file(tmp_path / "cf.sz", short[:50], short_attrs[:50])
    n_reads, _ = convert.write_store(tmp_path / "convert.sz", 1)
    for name, want in (("run.sz", reads), ("short.sz", short), ("cf.sz", short[:50])):
        with SZReader(tmp_path / name) as reader:
            got = reader.dataset("Raw")
            assert len(got) == len(want), name
            assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True)), name
    with SZReader(tmp_path / "convert.sz") as reader:
        assert len(reader) == n_reads == len(reads)
