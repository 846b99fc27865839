"""What the README's write costs for being durable, and for zstd level 3.

    .venv/bin/python bench/bench_write_durability.py [--rounds R]

`SZWriter` fsyncs ``dat``, ``index`` and ``checksums`` (and fdatasyncs ``dat``
every 8 MiB in the background) before a store appears; pod5 and pyslow5 call
neither fsync nor fdatasync (``strace -f -e trace=fsync,fdatasync`` on their
writers shows none). This writes the README's 117 real reads (`run.py`'s
`write_xsz`, 2 threads) at zstd level 3 (pysz's frames) and 1 (what pod5's VBZ
uses), each as it is and with ``os.fsync``/``os.fdatasync`` made no-ops in this
process only, interleaved over R rounds with ``os.sync()`` before each, outside
the timing. Prints each case's best and median time. A measurement, not a mode:
xsz has no way to skip its fsyncs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import load_sample, machine
from run import write_xsz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    reads, z = load_sample()
    tmp = Path(tempfile.mkdtemp(prefix="xsz-durable-"))
    fsync, fdatasync = os.fsync, os.fdatasync
    times: dict[tuple[str, int], list[float]] = {}
    load = os.getloadavg()[0]
    try:
        for _ in range(args.rounds):
            for synced in (True, False):
                for level in (3, 1):
                    os.sync()
                    if not synced:
                        os.fsync = os.fdatasync = lambda fd: None
                    try:
                        start = time.perf_counter()
                        write_xsz(tmp / "a.sz", reads, z, 2, level)
                        seconds = time.perf_counter() - start
                    finally:
                        os.fsync, os.fdatasync = fsync, fdatasync
                    key = ("fsynced" if synced else "fsync and fdatasync skipped", level)
                    times.setdefault(key, []).append(seconds)
                    shutil.rmtree(tmp / "a.sz")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(machine())
    print(
        f"\n117 real reads, 2 encoder threads, {args.rounds} interleaved rounds; load avg "
        f"{load:.2f} -> {os.getloadavg()[0]:.2f}\n"
    )
    print("| store | zstd level | best | median |\n| --- | ---: | ---: | ---: |")
    for (how, level), values in times.items():
        print(
            f"| {how} | {level} | {min(values) * 1e3:.1f} ms | "
            f"{statistics.median(values) * 1e3:.1f} ms |"
        )


if __name__ == "__main__":
    main()
