"""Reading values of ``xsz.open_collection`` over many small stores (issue 12).

One run of one xsz (whatever ``import xsz`` finds: run it again with
``PYTHONPATH=<another checkout>`` for the code to compare with). Prints wall and
CPU seconds of: opening the Dataset from the collection index (``chunks=None``),
then for the first N IDs of ``ids.txt``: ``ds.sel(read=ids).Raw.values`` (stores
touched for the first time), ``.channel.values`` of the same selection (an
attribute: stores touched again), and ``.Raw.values`` once more.

Run (corpus from bench/bench_collection.py; read-only here)::

    .venv/bin/python bench/bench_collection_read.py \\
        bench/out/collection-1000000-1000-1000 --n 1000 10000 100000
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import xsz


def timed(what: str, fn):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    print(
        f"{what:<28} wall {time.perf_counter() - wall:7.3f} s   "
        f"cpu {time.process_time() - cpu:7.3f} s",
        flush=True,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--index", type=Path, help="default: <corpus>/work/local.xszi")
    args = parser.parse_args()
    index = args.index or args.corpus / "work" / "local.xszi"
    ids = (args.corpus / "ids.txt").read_text().split()
    print(f"xsz from {Path(xsz.__file__).parent}; load {os.getloadavg()[0]:.1f}")
    ds = timed("open_collection", lambda: xsz.open_collection(index=index, chunks=None))
    for n in args.n:
        sub = ds.sel(read=ids[:n])
        raw = timed(f"{n} reads: Raw", lambda sub=sub: sub.Raw.values)
        timed(f"{n} reads: channel", lambda sub=sub: sub.channel.values)
        again = timed(f"{n} reads: Raw again", lambda sub=sub: sub.Raw.values)
        assert (raw == again).all()
        print(f"  ({raw.nbytes / 1e6:.1f} MB of Raw)")
    ds.close()


if __name__ == "__main__":
    main()
