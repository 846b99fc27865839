"""A collection's read-ID index in object storage: read by range GETs (what
`xsz.collection.IndexFile` does) against fetched whole in one GET (issue 12).

Run by hand (not part of the tests)::

    .venv/bin/python bench/bench_index_remote.py --stores bench/out/collection-1000000-1000-1000/sz
    .venv/bin/python bench/bench_index_remote.py --index some.xszi   # an index already built

The index (built here from ``--stores`` with `build_index`, or given with
``--index``) is uploaded to a moto S3 server on 127.0.0.1 (``ThreadedMotoServer``,
in this process). Every case is a fresh process that opens the index at its
``s3://`` URL and does one thing:

- ``open``: open it (the footer: stores, schema, row-group bounds);
- ``few``: open, look up 10 random IDs (on 1 M reads: 16 row groups, ~9 touched);
- ``many``: open, look up 10 % of the IDs (random: every row group);
- ``all``: open, read every row group (what ``open_collection`` reads for IDs
  and counts, and an incremental ``xsz index`` for the rows it keeps).

each as ``ranges`` (the default: one GET of the last 1 MiB at open, then the row
groups needed, `xsz.collection._index.PREFETCH` at a time, neighbours in one GET,
the others concurrently), ``serial`` (the same, one row group at a time: one
GET each, in turn) and ``whole`` (the first GET takes the whole object, as
`xsz.source._file.TAIL` set past its size does). Cases interleave, ``--rounds``
times, best kept; reported: wall seconds of the operation (interpreter start and
imports excluded), CPU seconds of the process over the same span, GETs, bytes
fetched, and peak RSS of the process (``VmHWM``, imports included, with the
baseline after imports beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_collection import BUCKET, start_s3

ROOT = Path(__file__).resolve().parent.parent
CASES = ("open", "few", "many", "all")
MODES = ("ranges", "serial", "whole")


def _hwm_kb() -> int:
    """Peak resident memory of this process (kB): ``VmHWM``, which, unlike
    ``ru_maxrss``, does not carry the parent's peak across ``exec``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(url: str, case: str, mode: str, ids_file: str) -> None:
    """One case in this (fresh) process; prints a JSON line."""
    import xsz.collection._index
    import xsz.source._file
    from xsz.collection import IndexFile

    options = json.loads(os.environ["XSZ_BENCH_OPTIONS"])
    ids = Path(f"{ids_file}.{case}").read_text().split("\n") if case in ("few", "many") else []
    if mode == "whole":
        xsz.source._file.TAIL = 1 << 40
    elif mode == "serial":
        xsz.collection._index.PREFETCH = 1
    base_rss = _hwm_kb()
    wall, cpu = time.perf_counter(), time.process_time()
    with IndexFile(url, options) as index:
        if case in ("few", "many"):
            got, _, _ = index.lookup(ids)
            assert len(got) == len(set(ids))
        elif case == "all":
            n = sum(len(t) for t in index.batches())
            assert n == index.n_reads
        assert index.remote is not None
        gets, fetched, size = index.remote.gets, index.remote.fetched, index.remote.size
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss = _hwm_kb()
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "gets": gets,
                "fetched": fetched,
                "size": size,
                "rss_mb": rss / 1024,
                "base_mb": base_rss / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stores", help="a collection to index (a directory of stores)")
    parser.add_argument("--index", help="an index file already built")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import numpy as np
    import obstore
    import pyarrow.parquet as pq

    from xsz.collection import build_index

    work = Path(tempfile.mkdtemp(prefix="xsz-bench-index-"))
    if args.index:
        index = Path(args.index)
    else:
        if not args.stores:
            parser.error("give --stores or --index")
        index = work / "index.xszi"
        t = time.perf_counter()
        build_index(args.stores, index, progress=False)
        print(f"built {index} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    ids_file = work / "ids.txt"
    every = pq.read_table(index, columns=["id"]).column("id").to_numpy(zero_copy_only=False)
    rng = np.random.default_rng(1)
    Path(f"{ids_file}.few").write_text("\n".join(rng.choice(every, 10, replace=False)))
    Path(f"{ids_file}.many").write_text(
        "\n".join(rng.choice(every, len(every) // 10, replace=False))
    )
    del every
    server, _, options = start_s3()  # bench_collection's S3 server, bucket BUCKET
    store = obstore.store.from_url(f"s3://{BUCKET}", **options)
    obstore.put(store, "runs.xszi", index.read_bytes())
    url = f"s3://{BUCKET}/runs.xszi"
    env = {**os.environ, "XSZ_BENCH_OPTIONS": json.dumps(options)}
    best: dict[tuple[str, str], dict[str, float]] = {}
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    for _ in range(args.rounds):
        for case in CASES:
            for mode in MODES:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", url, case, mode, str(ids_file)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=ROOT,
                )
                got = json.loads(out.stdout.strip().splitlines()[-1])
                key = (case, mode)
                if key not in best or got["wall"] < best[key]["wall"]:
                    best[key] = got
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    server.stop()
    size = next(iter(best.values()))["size"]
    with pq.ParquetFile(index) as f:
        groups, n = f.metadata.num_row_groups, f.metadata.num_rows
    print(f"index: {n:,} reads, {groups} row groups, {size / 1e6:.1f} MB; best of {args.rounds}")
    print()
    print("| case | mode | seconds | CPU s | GETs | MB fetched | peak RSS (after imports) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for case in CASES:
        for mode in MODES:
            g = best[(case, mode)]
            print(
                f"| {case} | {mode} | {g['wall']:.3f} | {g['cpu']:.3f} | {g['gets']} | "
                f"{g['fetched'] / 1e6:.1f} | {g['rss_mb']:.0f} MB ({g['base_mb']:.0f} MB) |"
            )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
    else:
        main()
