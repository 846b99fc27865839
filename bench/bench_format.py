"""Issue 2 benchmarks: the SZ container and the svb-zstd codec on real reads.

    .venv/bin/python bench/bench_format.py [--rounds N] [--repeat K] [--parts-per-thread P]

Prints a markdown table of ratios measured in this one run (best of N
interleaved rounds), and the time to open a generated 1,000,000-read store.
``--repeat K`` writes and reads the 117 real reads K times over (new read IDs);
``--parts-per-thread P`` sets how `SZReader` splits a threaded read
(``xsz.format._reader.PARTS_PER_THREAD``).
Needs ../shared/data/signal_sample.npz.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best_times, load_sample, machine

from xsz.codec import decode_array, encode_array
from xsz.format import Schema, SZReader, SZWriter, _reader


def main(rounds: int, repeat: int) -> None:
    sample, z = load_sample()
    reads = sample * repeat
    ids = [f"{rid}-{k}" if k else str(rid) for k in range(repeat) for rid in z["read_id"]]
    mb = sum(r.nbytes for r in reads) / 1e6
    tmp = Path(tempfile.mkdtemp(prefix="xsz-bench-"))
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])
    counter = iter(range(10**9))

    closing: dict[int, float] = {}  # best time of close(): what is still encoding, the commit

    def write(n_threads: int) -> None:
        path = tmp / f"w{next(counter)}.sz"
        with SZWriter(path, schema, n_threads=n_threads) as writer:
            for rid, raw in zip(ids, reads, strict=True):
                writer.put(rid, raw)
            start = time.perf_counter()
        closing[n_threads] = min(closing.get(n_threads, float("inf")), time.perf_counter() - start)

    frames = [encode_array(r) for r in reads]
    pool = ThreadPoolExecutor(2)  # the ceiling two threads give the bare codec

    def decode_one(frame: bytes, read: np.ndarray) -> np.ndarray:
        return decode_array(frame, np.int16, len(read))

    store = tmp / "sample.sz"
    with SZWriter(store, schema, n_threads=2) as writer:
        writer.put_many(zip(ids, reads, strict=True))
    reader = SZReader(store)

    # writes and reads in separate tables: a write's file removal and writeback
    # would otherwise fall into the reads' timings
    t = best_times(
        {
            "bare encode, 1 thread": lambda: [encode_array(r) for r in reads],
            "bare encode, 2 threads (in put order, no I/O)": lambda: list(
                pool.map(encode_array, reads)
            ),
            "SZWriter, 1 thread": lambda: write(1),
            "SZWriter, 2 threads": lambda: write(2),
        },
        rounds=rounds,
        setup=lambda: [shutil.rmtree(p) for p in tmp.glob("w*.sz")],
    )
    os.sync()
    t |= best_times(
        {
            "bare decode, 1 thread": lambda: [
                decode_array(f, np.int16, len(r)) for f, r in zip(frames, reads, strict=True)
            ],
            "bare decode, 2 threads (no I/O)": lambda: list(pool.map(decode_one, frames, reads)),
            "SZReader.dataset, 1 thread": lambda: reader.dataset("Raw", n_threads=1),
            "SZReader.dataset, 2 threads": lambda: reader.dataset("Raw", n_threads=2),
        },
        rounds=rounds,
    )

    # random single reads by ID, 4,000-sample reads cut from the real signal
    rng = np.random.default_rng(0)
    signal = z["signal"]
    short = tmp / "short.sz"
    with SZWriter(short, schema, n_threads=2) as writer:
        for i in range(20_000):
            start = int(rng.integers(0, len(signal) - 4000))
            writer.put(f"r{i}", signal[start : start + 4000])
    small = SZReader(short)
    queries = [f"r{i}" for i in rng.integers(0, 20_000, 20_000)]
    small.row(queries[0])  # builds the ID lookup once
    rt = best_times({"random": lambda: [small.read(small.row(q)) for q in queries]}, rounds=3)

    # size: ours vs the original's payloads (reference: zstd level 3 of the same
    # payload, which is what pysz wrote) and pod5's VBZ of the same signal
    from pod5.signal_tools import vbz_compress_signal

    ours = (store / "dat").stat().st_size
    vbz = sum(len(vbz_compress_signal(r)) for r in reads)
    vbz_t = best_times({"vbz": lambda: [vbz_compress_signal(r) for r in reads]}, rounds=5)["vbz"]

    enc1, dec1 = t["bare encode, 1 thread"], t["bare decode, 1 thread"]
    print(
        f"Machine: {machine()}. Data: {len(reads)} real reads, {mb:.1f} MB of int16 signal. "
        f"SZReader: {_reader.PARTS_PER_THREAD} parts per thread.\n"
    )
    print("| measure | time | MB/s of int16 | ratio |")
    print("| --- | --- | --- | --- |")
    for name in (
        "bare encode, 1 thread",
        "bare encode, 2 threads (in put order, no I/O)",
        "SZWriter, 1 thread",
        "SZWriter, 2 threads",
    ):
        print(
            f"| {name} | {t[name] * 1e3:.1f} ms | {mb / t[name]:.0f} | {enc1 / t[name]:.2f}x bare encode |"
        )
    print(
        f"| SZWriter, 2 threads: of which close() (the encoding still pending, the commit) "
        f"| {closing[2] * 1e3:.1f} ms | | |"
    )
    for name in (
        "bare decode, 1 thread",
        "bare decode, 2 threads (no I/O)",
        "SZReader.dataset, 1 thread",
        "SZReader.dataset, 2 threads",
    ):
        print(
            f"| {name} | {t[name] * 1e3:.1f} ms | {mb / t[name]:.0f} | {dec1 / t[name]:.2f}x bare decode |"
        )
    print(
        f"| random single reads by ID (4,000 samples) | {rt['random'] / len(queries) * 1e6:.1f} us/read"
        f" | | {len(queries) / rt['random']:,.0f} reads/s |"
    )
    print(f"| size: xsz dat / int16 bytes | {ours / 1e6:.2f} MB | | {ours / (mb * 1e6):.3f} |")
    print(
        f"| size: pod5 VBZ / int16 bytes (reference) | {vbz / 1e6:.2f} MB | {mb / vbz_t:.0f} (VBZ encode) | {vbz / (mb * 1e6):.3f} |"
    )
    # opening a 1,000,000-read index (real index, sparse dat: see make_large.py)
    from make_large import make_large

    large = make_large(tmp / "large.sz", 1_000_000)
    opened = best_times({"open": lambda: SZReader(large).close()}, rounds=5)["open"]
    lookup = best_times({"ids": lambda: SZReader(large).row("read_000500000")}, rounds=3)["ids"]
    print(f"| open a 1,000,000-read store (parse the index) | {opened:.3f} s | | target < 1 s |")
    print(f"| open + first lookup by ID (builds the ID table) | {lookup:.3f} s | | |")
    reader.close()
    small.close()
    shutil.rmtree(tmp)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=9, help="interleaved rounds of the throughput cases"
    )
    parser.add_argument("--repeat", type=int, default=1, help="the real reads this many times over")
    parser.add_argument(
        "--parts-per-thread",
        type=int,
        default=None,
        help="override xsz.format._reader.PARTS_PER_THREAD",
    )
    args = parser.parse_args()
    if args.parts_per_thread is not None:
        _reader.PARTS_PER_THREAD = args.parts_per_thread
    t0 = time.perf_counter()
    main(args.rounds, args.repeat)
    print(f"\n(ran in {time.perf_counter() - t0:.0f} s)")
