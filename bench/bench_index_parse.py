"""Time parsing a 1,000,000-read SZ index (`read_index`) and opening its store.

    .venv/bin/python bench/bench_index_parse.py [PATH] [--rounds N] [--reads N]

PATH is an SZ store made by ``make_large.py`` (made there first when it does not
exist; default: a temporary one, removed afterwards). Prints the best time of N
rounds of ``read_index(bytes, dat_size=...)``, then of ``SZReader(PATH)``: run it
with two checkouts on ``PYTHONPATH`` and the same PATH to compare parsers.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best_times
from make_large import make_large

import xsz
from xsz.format import SZReader, read_index


def main(path: Path | None, rounds: int, n_reads: int) -> None:
    tmp = None
    if path is None:
        tmp = Path(tempfile.mkdtemp(prefix="xsz-bench-index-"))
        path = tmp / "large.sz"
    if not path.exists():
        make_large(path, n_reads)
    data = (path / "index").read_bytes()
    dat_size = (path / "dat").stat().st_size
    times = best_times(
        {
            "read_index": lambda: read_index(data, where=path, dat_size=dat_size),
            "SZReader": lambda: SZReader(path).close(),
        },
        rounds=rounds,
    )
    n = len(read_index(data))
    print(f"xsz from {Path(xsz.__file__).parent}; {n:,} rows, {len(data) / 1e6:.0f} MB of index")
    print(f"| read_index (parse only) | {times['read_index']:.3f} s |")
    print(f"| SZReader open | {times['SZReader']:.3f} s |")
    if tmp is not None:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, nargs="?", help="store to time (made if missing)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reads", type=int, default=1_000_000)
    args = parser.parse_args()
    main(args.path, args.rounds, args.reads)
