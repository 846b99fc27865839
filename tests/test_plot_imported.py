"""``ds.sz.plot`` on imported reads: the bases of a SAM/BAM's ``Sequence`` are drawn by
default, on the files the tests make and on the real ones (skipped without ../shared)."""

from __future__ import annotations

import numpy as np
import pytest

from tests import DATA, requires_data
from xsz.convert import import_reads

xr = pytest.importorskip("xarray")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
pytest.importorskip("pysam")

SQ = "squigualiser/r9.4_450bps"


@pytest.fixture(params=["made", pytest.param("real", marks=requires_data)])
def data(request, source_data):
    return source_data if request.param == "made" else DATA


def test_plot_imported_reads_show_their_bases(data, tmp_path):
    import_reads(data / f"{SQ}/reads.blow5", tmp_path / "a.sz", moves=data / f"{SQ}/moves.sam")
    ds = xr.open_dataset(tmp_path / "a.sz", engine="sz")
    assert "Sequence" in ds and "Fastq" not in ds
    read_id = next(str(i) for i, s in zip(ds.read.values, ds.Sequence.values, strict=True) if s)
    one = ds.sel(read=read_id)
    seq = str(one.Sequence.values.item())
    stride, trim = int(one.move_stride), int(one.trimmed_samples)
    moves = one.Move.values
    assert int(moves.sum()) == len(seq)  # one base per move: they can be labelled
    edges = trim + np.flatnonzero(moves) * stride
    window = (int(edges[0]), int(edges[40]))  # the first 40 bases
    (ax,) = ds.sz.plot(read_id, window=window)
    labels = [t.get_text() for t in ax.texts]
    assert "".join(labels) == seq[:40]
    (none,) = ds.sz.plot(read_id, window=window, bases=None, moves=None)
    assert len(none.texts) == 0
    matplotlib.pyplot.close("all")
