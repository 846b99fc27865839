"""Where the time of a write through zarr into SZStore goes (BENCHMARKS.md, issue 3).

    .venv/bin/python bench/profile_store_write.py [--rounds 5]

The 117 real reads written as in ``bench/bench_store.py`` (the hierarchy by
``SZStore.create_hierarchy``, ``Raw`` with ``write_empty_chunks=True``): prints,
per round, the time of the hierarchy, of ``raw[:] = signal`` and of
``store.close()``, beside the bare single-thread encode; then a cProfile of one
``close()``, by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import load_sample

from xsz import SZStore
from xsz.codec import encode_array
from xsz.format import Schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    reads, _ = load_sample()
    counts = np.array([len(r) for r in reads])
    signal = np.concatenate(reads)
    ids = np.array([f"read-{i}" for i in range(len(reads))], dtype=object)
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])
    work = Path(tempfile.mkdtemp(prefix="xsz-profile-"))

    def open_and_fill(path: Path) -> tuple[SZStore, float, float]:
        start = time.perf_counter()
        store = SZStore(path, read_only=False)
        store.create_hierarchy(schema, n_reads=len(reads), counts={"Raw": counts})
        zarr.open_group(store, mode="r+")["read"][:] = ids
        made = time.perf_counter()
        raw = zarr.open_array(store, path="Raw", mode="r+", config={"write_empty_chunks": True})
        raw[:] = signal
        return store, made - start, time.perf_counter() - made

    try:
        for k in range(args.rounds):
            store, made, written = open_and_fill(work / f"w{k}.sz")
            start = time.perf_counter()
            store.close()
            closed = time.perf_counter() - start
            start = time.perf_counter()
            for r in reads:
                encode_array(r)
            bare = time.perf_counter() - start
            print(
                f"hierarchy {made * 1e3:.1f} ms | raw[:] = signal {written * 1e3:.1f} ms | "
                f"close() {closed * 1e3:.1f} ms | bare encode, 1 thread {bare * 1e3:.1f} ms"
            )
        store, _, _ = open_and_fill(work / "profiled.sz")
        profile = cProfile.Profile()
        profile.enable()
        store.close()
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
