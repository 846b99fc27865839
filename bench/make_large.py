"""Make a large SZ store fast, for open/index benchmarks: a real index, sparse dat.

    .venv/bin/python bench/make_large.py PATH [N_READS]

The index is written in bulk with numpy (pysz's README schema: ID, Offset,
Raw_unit; Raw:I16, Fastq:S, Move:U16); dat is a sparse file of the right size,
so opening, indexing and ID lookups are real but frames are zeros (reading a
frame fails with a clear error, as for any corrupt store).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from xsz.format import Schema, format_header


def make_large(path: Path, n: int, *, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    schema = Schema.build(
        [("ID", str), ("Offset", np.int32), ("Raw_unit", np.float32)],
        [("Raw", np.int16), ("Fastq", str), ("Move", np.uint16)],
    )
    counts = rng.integers(2_000, 20_000, n)
    raw_size = (counts * 0.42).astype(np.int64) + 9
    fastq_size = counts // 36 + 9
    move_count = counts // 5
    move_size = move_count // 6 + 9
    length = raw_size + fastq_size + move_size
    offset = np.concatenate([[0], np.cumsum(length)[:-1]])
    ids = np.char.add("read_", np.char.zfill(np.arange(n).astype(str), 9))
    columns = [
        length.astype(str),
        offset.astype(str),
        ids,
        rng.integers(-300, -100, n).astype(str),
        np.round(rng.random(n).astype(np.float32), 6).astype(str),
        np.char.add(np.char.add(raw_size.astype(str), ":"), counts.astype(str)),
        np.char.add(fastq_size.astype(str), ":"),
        np.char.add(np.char.add(move_size.astype(str), ":"), move_count.astype(str)),
    ]
    rows = columns[0]
    for col in columns[1:]:
        rows = np.char.add(np.char.add(rows, "\t"), col)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "index", "w", encoding="utf-8") as fh:
        fh.write(format_header({"version": "0.4.0"}, schema))
        fh.write("\n".join(rows.tolist()))
        fh.write("\n")
    with open(path / "dat", "wb") as fh:
        fh.truncate(int(offset[-1] + length[-1]))
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="the store to create")
    parser.add_argument("n_reads", type=int, nargs="?", default=1_000_000)
    args = parser.parse_args()
    target = args.path
    make_large(target, args.n_reads)
    print(f"{target}: index {os.path.getsize(target / 'index') / 1e6:.0f} MB")
