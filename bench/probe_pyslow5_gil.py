"""Does pyslow5 hold the GIL while it reads? (Why a BLOW5 import cannot overlap it.)

    .venv/bin/python bench/probe_pyslow5_gil.py FILE.blow5 [--reads N] [--rounds R]

Reads the first N records (3,000) of FILE with ``seq_reads``, alone and then with
a second thread spinning in pure Python, R times each, interleaved; prints the
best times. On 2 free cores a reader that releases the GIL while it decompresses
is not slowed by the spinner; one that holds it shares the interpreter with it.
An import runs its own Python (checks, index cells, the encoders' bookkeeping)
beside the reader, and waits likewise.
"""

from __future__ import annotations

import argparse
import os
import threading
import time


def read(path: str, n: int) -> float:
    import pyslow5

    start = time.perf_counter()
    handle = pyslow5.Open(path, "r")
    for k, _ in enumerate(handle.seq_reads(), 1):
        if k == n:
            break
    handle.close()
    return time.perf_counter() - start


def with_spinner(path: str, n: int) -> tuple[float, int]:
    stop = threading.Event()
    spins = [0]

    def spin() -> None:
        while not stop.is_set():
            spins[0] += 1

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        return read(path, n), spins[0]
    finally:
        stop.set()
        thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path")
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    alone, shared = float("inf"), float("inf")
    for _ in range(args.rounds):
        alone = min(alone, read(args.path, args.reads))
        shared = min(shared, with_spinner(args.path, args.reads)[0])
    print(
        f"{args.reads:,} records of {args.path}: alone {alone:.2f} s, beside a Python "
        f"thread {shared:.2f} s ({shared / alone:.2f}x); load avg {load:.2f} -> "
        f"{os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
