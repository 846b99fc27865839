"""Issue 11: what the ``table`` file costs a writer, and what it saves an open, by store size.

    .venv/bin/python bench/bench_table.py [--sizes 1000 10000 100000] [--rounds R]

For each size N: N short reads (1,000 samples of the real signal) with
bench_write's attributes (ID and four float64 calibration values). Cases, interleaved,
best of R rounds, wall and CPU time (all threads) each:

- *write*: ``SZWriter`` with ``table=False``; with ``table=True`` (the table
  made of the columns gathered as the rows were made); and the old way, the
  store written without a table and the table made at commit by parsing the
  index back (``read_index`` + ``write_table``, what ``SZWriter`` did before);
- *open*: ``SZReader(path)`` and one read by ID (its attributes and signal),
  on a store written with its table and on one written without (the index
  parsed as text), page cache warm; and, up to 10,000 reads, the same for 20
  such stores opened one after the other, as ``xsz subset`` over many small
  stores does.

The load average is printed; figures taken under load say so.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import load_sample, machine
from bench_write import best_times_cpu, short_reads, write_xsz

from xsz.format import TABLE, SZReader, crc32, read_index, write_table


def write(path: Path, reads: list, attrs: list, table: bool) -> None:
    write_xsz(path, reads, attrs, table=table)


def write_then_parse(path: Path, reads: list, attrs: list) -> None:
    write(path, reads, attrs, table=False)
    data = (path / "index").read_bytes()
    write_table(path, read_index(data), len(data), crc32(data))


def open_lookup(paths: list[Path], read_id: str) -> None:
    for path in paths:
        with SZReader(path) as reader:
            reader.read(reader.row(read_id))


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.2f} s"


def run(n: int, rounds: int, tmp: Path, z: dict) -> list[str]:
    reads, attrs = short_reads(n, 1000, z)
    out = tmp / str(n)
    out.mkdir()
    counter = iter(range(10**9))

    def fresh() -> Path:
        return out / f"w{next(counter)}.sz"

    def clean() -> None:
        for p in out.glob("w*.sz"):
            shutil.rmtree(p)

    load = os.getloadavg()[0]
    writes = {
        "write, no table": lambda: write(fresh(), reads, attrs, False),
        "write, table of the gathered columns": lambda: write(fresh(), reads, attrs, True),
        "write, table of the index parsed back (before)": lambda: write_then_parse(
            fresh(), reads, attrs
        ),
    }
    w_wall, w_cpu = best_times_cpu(writes, rounds=rounds, setup=clean)
    many = 20 if n <= 10_000 else 1
    with_table = [out / f"t{k}.sz" for k in range(many)]
    without = [out / f"x{k}.sz" for k in range(many)]
    for p, q in zip(with_table, without, strict=True):
        write(p, reads, attrs, True)  # written in place: the table's stamp is the index's
        write(q, reads, attrs, False)
    rid = attrs[n // 2][0]
    opens = {
        "open + 1 read by ID, table": lambda: open_lookup(with_table[:1], rid),
        "open + 1 read by ID, text": lambda: open_lookup(without[:1], rid),
    }
    if many > 1:
        opens[f"{many} stores: open + 1 read by ID each, table"] = lambda: open_lookup(
            with_table, rid
        )
        opens[f"{many} stores: open + 1 read by ID each, text"] = lambda: open_lookup(without, rid)
    o_wall, o_cpu = best_times_cpu(opens, rounds=max(rounds, 5), setup=lambda: None)
    load = max(load, os.getloadavg()[0])
    table_bytes = (with_table[0] / TABLE).stat().st_size
    index_bytes = (with_table[0] / "index").stat().st_size
    rows = [
        (
            f"\n{n:,} reads (index {index_bytes / 1e6:.2f} MB, table {table_bytes / 1e6:.2f} "
            f"MB); best of {rounds} interleaved rounds (opens: {max(rounds, 5)}), load avg up "
            f"to {load:.1f}.\n"
        ),
        "| case | wall | CPU (all threads) |",
        "| --- | ---: | ---: |",
    ]
    rows += [f"| {k} | {ms(w_wall[k])} | {ms(w_cpu[k])} |" for k in writes]
    rows += [f"| {k} | {ms(o_wall[k])} | {ms(o_cpu[k])} |" for k in opens]
    base = w_cpu["write, no table"]
    rows += [
        "",
        "| ratio | value |",
        "| --- | --- |",
        f"| write CPU: gathered table / no table | {w_cpu['write, table of the gathered columns'] / base:.3f}x |",
        f"| write CPU: parsed table / no table | {w_cpu['write, table of the index parsed back (before)'] / base:.3f}x |",
        f"| open + read, text / table (wall) | {o_wall['open + 1 read by ID, text'] / o_wall['open + 1 read by ID, table']:.2f}x |",
    ]
    if many > 1:
        t, x = (o_wall[f"{many} stores: open + 1 read by ID each, {k}"] for k in ("table", "text"))
        rows.append(f"| {many} stores, text / table (wall) | {x / t:.2f}x |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    _, z = load_sample()
    tmp = Path(tempfile.mkdtemp(prefix="xsz-bench-table-"))
    rows = [f"Machine: {machine()}."]
    try:
        for n in args.sizes:
            rows += run(n, args.rounds, tmp, z)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
