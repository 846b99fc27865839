"""Issue 11: the writer's table at the size of a run (1 M short reads), by hand.

    .venv/bin/python bench/bench_table_run.py --reads 1000000 --how gathered|parsed

Writes N short reads (bench_write's corpus and schema) and reports the time of
the writer's commit (``close``) and the process's peak RSS (``VmHWM``) before
and after it: ``gathered`` is the writer's own table (columns gathered as rows
are made), ``parsed`` the table made by parsing the index back after a write
without one (what the writer did before). Run each in its own process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import load_sample
from bench_write import SCHEMA, short_reads

from xsz.format import SZWriter, crc32, read_index, write_table


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reads", type=int, default=1_000_000)
    parser.add_argument("--how", choices=["gathered", "parsed"], required=True)
    args = parser.parse_args()
    _, z = load_sample()
    reads, attrs = short_reads(args.reads, 1000, z)
    tmp = Path(tempfile.mkdtemp(prefix="xsz-bench-table-run-"))
    path = tmp / "out.sz"
    try:
        load = os.getloadavg()[0]
        start = time.perf_counter()
        writer = SZWriter(path, SCHEMA, table=args.how == "gathered")
        put = writer.put
        for a, raw in zip(attrs, reads, strict=True):
            put(*a, raw)
        before = peak_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        writer.close()
        if args.how == "parsed":
            data = (path / "index").read_bytes()
            write_table(path, read_index(data), len(data), crc32(data))
            del data
        t1, c1 = time.perf_counter(), time.process_time()
        print(
            f"{args.how}: {args.reads:,} reads; write {t0 - start:.2f} s; commit + table "
            f"{t1 - t0:.2f} s wall, {c1 - c0:.2f} s CPU; peak RSS {before:.0f} MB before the "
            f"commit, {peak_mb():.0f} MB after; load avg {load:.1f} -> {os.getloadavg()[0]:.1f}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
