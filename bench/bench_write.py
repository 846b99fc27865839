"""Issue 11: the per-read cost of writing, xsz against BLOW5 (pyslow5) and the bare codec.

    .venv/bin/python bench/bench_write.py [--reads N] [--samples S] [--copies K] [--rounds R]

Two corpora, both cut from the real signal of ../shared/data/signal_sample.npz:

- *short*: N reads (100,000) of S samples (1,000), each a window of the real
  signal (windows overlap when N x S exceeds it), under fresh read IDs;
- *realistic*: the 117 real reads, K times over (4) under new read IDs.

Each read carries what a BLOW5 record needs: its ID and the four calibration
values (``Offset``, ``Digitisation``, ``Range``, ``Sampling_rate``, float64 as
BLOW5 keeps them), and its int16 signal. Cases, run in turn for R interleaved
rounds (best time each), all from the same Python objects:

- ``SZWriter.put`` with 0 (calling thread), 1 and 2 encoder threads, read by read;
- ``CompressedFile.put`` (pysz's interface, 2 threads), read by read;
- pyslow5 writing BLOW5 (zstd records, svb-zd signal), records made per read
  and written with ``write_record_batch`` in batches of 1,000 on 2 threads (its
  fastest way), and on 1 thread;
- the bare codec: ``encode_array`` of every read in a loop, one thread, no I/O.

Prints a markdown table: time, microseconds per read, MB/s of int16 signal and
the ratios the issue asks for; and each case's CPU time over all its threads
(steadier than wall time on a shared machine). The load average is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import load_sample, machine

from xsz.api import CompressedFile
from xsz.codec import encode_array
from xsz.format import Schema, SZWriter

if TYPE_CHECKING:
    from collections.abc import Callable

ATTRIBUTES = [
    ("ID", str),
    ("Offset", np.float64),
    ("Digitisation", np.float64),
    ("Range", np.float64),
    ("Sampling_rate", np.float64),
]
SCHEMA = Schema.build(ATTRIBUTES, [("Raw", np.int16)])


def short_reads(n: int, samples: int, z: dict) -> tuple[list, list]:
    """`n` windows of `samples` samples of the real signal, and their attributes."""
    signal = z["signal"]
    step = max(1, (len(signal) - samples) // n) if n * samples > len(signal) else samples
    span = len(signal) - samples
    reads = [signal[(i * step) % span : (i * step) % span + samples] for i in range(n)]
    attrs = [
        (f"{i:08x}-0000-4000-8000-{i:012x}", float(z["offset"][i % 117]), 8192.0, 1437.7, 4000.0)
        for i in range(n)
    ]
    return reads, attrs


def realistic_reads(copies: int) -> tuple[list, list]:
    sample, z = load_sample()
    reads, attrs = [], []
    for k in range(copies):
        for i, raw in enumerate(sample):
            reads.append(raw)
            attrs.append(
                (
                    f"{z['read_id'][i][:-4]}{k:04x}",
                    float(z["offset"][i]),
                    float(z["digitisation"][i]),
                    float(z["range"][i]),
                    float(z["sampling_rate"][i]),
                )
            )
    return reads, attrs


def write_xsz(path: Path, reads: list, attrs: list, n_threads: int = 2, **options: Any) -> None:
    """`SZWriter.put` of every read, read by read (`options`: the writer's)."""
    with SZWriter(path, SCHEMA, n_threads=n_threads, **options) as writer:
        put = writer.put
        for a, raw in zip(attrs, reads, strict=True):
            put(*a, raw)


def write_compressed_file(path: Path, reads: list, attrs: list) -> None:
    with CompressedFile(
        str(path), mode="w", attributes=ATTRIBUTES, datasets=[("Raw", np.int16)], n_threads=2
    ) as f:
        put = f.put
        for a, raw in zip(attrs, reads, strict=True):
            put(*a, raw)


def write_blow5(path: Path, reads: list, attrs: list, threads: int, batch: int = 1000) -> None:
    import pyslow5

    s5 = pyslow5.Open(str(path), "w", rec_press="zstd", sig_press="svb_zd")
    header = {k: "bench" if v is None else v for k, v in s5.get_empty_header().items()}
    s5.write_header(header)
    records: dict = {}
    for (rid, offset, digitisation, rng, rate), raw in zip(attrs, reads, strict=True):
        record = s5.get_empty_record()
        record.update(
            read_id=rid,
            read_group=0,
            digitisation=digitisation,
            offset=offset,
            range=rng,
            sampling_rate=rate,
            len_raw_signal=len(raw),
            signal=raw,
        )
        records[rid] = record
        if len(records) == batch:
            s5.write_record_batch(records, threads=threads, batchsize=batch)
            records = {}
    if records:
        s5.write_record_batch(records, threads=threads, batchsize=batch)
    s5.close()


def best_times_cpu(
    cases: dict[str, Callable[[], object]], *, rounds: int, setup: Callable[[], object]
) -> tuple[dict[str, float], dict[str, float]]:
    """Each case's best wall time and best CPU time (this process, every thread),
    in seconds, over `rounds` interleaved rounds. On a shared machine the CPU time
    is the steadier of the two: other processes slow a case down without adding to it."""
    wall = dict.fromkeys(cases, float("inf"))
    cpu = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, fn in cases.items():
            setup()
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name] = min(wall[name], time.perf_counter() - start)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
    return wall, cpu


def bare(reads: list) -> None:
    for raw in reads:
        encode_array(raw)


def run(name: str, reads: list, attrs: list, rounds: int, tmp: Path) -> list[str]:
    mb = sum(r.nbytes for r in reads) / 1e6
    counter = iter(range(10**9))

    def fresh(suffix: str) -> Path:
        return tmp / f"{next(counter)}{suffix}"

    cases = {
        "bare `encode_array` loop, 1 thread": lambda: bare(reads),
        "`SZWriter.put`, 0 threads": lambda: write_xsz(fresh(".sz"), reads, attrs, 0),
        "`SZWriter.put`, 1 thread": lambda: write_xsz(fresh(".sz"), reads, attrs, 1),
        "`SZWriter.put`, 2 threads": lambda: write_xsz(fresh(".sz"), reads, attrs, 2),
        "`CompressedFile.put`, 2 threads": lambda: write_compressed_file(
            fresh(".sz"), reads, attrs
        ),
        "BLOW5 (pyslow5), 1 thread": lambda: write_blow5(fresh(".blow5"), reads, attrs, 1),
        "BLOW5 (pyslow5), 2 threads": lambda: write_blow5(fresh(".blow5"), reads, attrs, 2),
    }

    def clean() -> None:  # and the disk takes every byte written (see run.py's clean)
        for p in tmp.iterdir():
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        os.sync()

    load = os.getloadavg()[0]
    t, cpu = best_times_cpu(cases, rounds=rounds, setup=clean)
    load = max(load, os.getloadavg()[0])
    n = len(reads)
    rows = [
        (
            f"\n{name}: {n:,} reads, {mb:.1f} MB of int16 signal; best of {rounds} "
            f"interleaved rounds, taken under load (load avg up to {load:.1f}).\n"
        ),
        "| case | time | µs/read | MB/s | CPU µs/read (all threads) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for case, seconds in t.items():
        rows.append(
            f"| {case} | {seconds:.2f} s | {seconds / n * 1e6:.1f} | {mb / seconds:.0f} | "
            f"{cpu[case] / n * 1e6:.1f} |"
        )
    x2 = t["`SZWriter.put`, 2 threads"]
    ratios = {
        "BLOW5 2 threads / `put` 2 threads (>= 1.2 wanted)": t["BLOW5 (pyslow5), 2 threads"],
        "bare codec 1 thread / `put` 2 threads": t["bare `encode_array` loop, 1 thread"],
        "`put` 1 thread / `put` 2 threads (>= 1 wanted)": t["`SZWriter.put`, 1 thread"],
        "`put` 0 threads / `put` 2 threads": t["`SZWriter.put`, 0 threads"],
    }
    rows += ["", "| ratio | value |", "| --- | --- |"]
    rows += [f"| {what} | {other / x2:.2f}x |" for what, other in ratios.items()]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reads", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["short", "realistic"], default=None)
    args = parser.parse_args()

    _, z = load_sample()
    tmp = Path(tempfile.mkdtemp(prefix="xsz-bench-write-"))
    start = time.perf_counter()
    rows = [f"Machine: {machine()}."]
    try:
        if args.only in (None, "short"):
            reads, attrs = short_reads(args.reads, args.samples, z)
            rows += run(f"Short reads ({args.samples:,} samples)", reads, attrs, args.rounds, tmp)
        if args.only in (None, "realistic"):
            reads, attrs = realistic_reads(args.copies)
            rows += run(
                f"Realistic reads (signal_sample.npz x {args.copies})",
                reads,
                attrs,
                args.rounds,
                tmp,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(rows))
    print(f"\n({time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
