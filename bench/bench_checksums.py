"""Issue 9: what checksums cost: writing, reading and verifying, with and without.

    .venv/bin/python bench/bench_checksums.py [--rounds N] [--reads R] [--real]

Writes the same reads as a checksummed store (xsz's default: zstd's content
checksum in every frame, and the ``checksums`` file) and as a store with
``checksum=False`` (pysz's exact frames; the ``checksums`` file still holds the
CRC-32s), then reads every read back and verifies each store. All cases run
interleaved, best of N rounds; the ratios are of two cases of this one run.
Reads are generated (nanopore-like squiggles of 2,000-16,000 samples), or with
``--real`` the 117 reads of ../shared/data/signal_sample.npz.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best_times, load_sample, machine

from xsz import ops
from xsz.format import Schema, SZReader, SZWriter


def squiggles(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    reads = []
    for _ in range(n):
        m = int(rng.integers(2000, 16000))
        levels = rng.normal(550, 80, m // 9 + 1)
        signal = np.repeat(levels, 9)[:m] + rng.normal(0, 9, m)
        reads.append(np.clip(signal, 300, 900).astype(np.int16))
    return reads


def main(rounds: int, n_reads: int, real: bool) -> None:
    reads = load_sample()[0] if real else squiggles(n_reads)
    ids = [f"read_{i:06d}" for i in range(len(reads))]
    mb = sum(r.nbytes for r in reads) / 1e6
    tmp = Path(tempfile.mkdtemp(prefix="xsz-bench-"))
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])

    def write(checksum: bool, n_threads: int) -> None:
        path = tmp / f"w-{checksum}-{n_threads}.sz"
        with SZWriter(path, schema, n_threads=n_threads, checksum=checksum, overwrite=True) as w:
            w.put_many(zip(ids, reads, strict=True))

    stores = {}
    for checksum in (True, False):
        stores[checksum] = tmp / f"s-{checksum}.sz"
        with SZWriter(stores[checksum], schema, checksum=checksum) as w:
            w.put_many(zip(ids, reads, strict=True))
    readers = {k: SZReader(p) for k, p in stores.items()}
    for r in readers.values():
        assert all(np.array_equal(a, b) for a, b in zip(r.dataset("Raw"), reads, strict=True))

    cases = {
        "write, checksums, 0 threads": lambda: write(True, 0),
        "write, pysz frames, 0 threads": lambda: write(False, 0),
        "write, checksums, 2 threads": lambda: write(True, 2),
        "write, pysz frames, 2 threads": lambda: write(False, 2),
        "read all, checksums": lambda: readers[True].dataset("Raw"),
        "read all, pysz frames": lambda: readers[False].dataset("Raw"),
        "open + read all, checksums": lambda: SZReader(stores[True]).dataset("Raw"),
        "open + read all, pysz frames": lambda: SZReader(stores[False]).dataset("Raw"),
        "verify, checksums": lambda: ops.verify(stores[True], n_threads=1),
        "verify, pysz frames": lambda: ops.verify(stores[False], n_threads=1),
    }
    best = best_times(cases, rounds=rounds)
    print(f"{machine()}; {len(reads):,} reads, {mb:,.1f} MB of int16 signal; best of {rounds}\n")
    print("| case | time | MB/s of signal | with / without checksums |")
    print("| --- | ---: | ---: | ---: |")
    names = list(cases)
    for with_, without in zip(names[::2], names[1::2], strict=True):
        for name in (with_, without):
            ratio = f"{best[with_] / best[without]:.3f}x the time" if name == with_ else ""
            print(f"| {name} | {best[name] * 1e3:,.1f} ms | {mb / best[name]:,.0f} | {ratio} |")
    sizes = {k: (p / "dat").stat().st_size for k, p in stores.items()}
    extra = sizes[True] - sizes[False]
    print(f"\ndat: {sizes[True]:,} bytes with checksums, {sizes[False]:,} without (+{extra:,})")
    for r in readers.values():
        r.close()
    shutil.rmtree(tmp)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--real", action="store_true", help="the 117 reads of signal_sample.npz")
    args = parser.parse_args()
    main(args.rounds, args.reads, args.real)
