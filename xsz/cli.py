"""The ``xsz`` command: argparse front end over xsz's functions; no logic of its own.

Exit codes: 0 success, 1 an error xsz explains (``xsz: error: ...``), 2 bad usage.
``XSZ_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xsz.errors import XszError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from xsz._demo import ATTRIBUTES, DATASETS, demo_reads
    from xsz.api import CompressedFile

    path = Path(args.path or Path(tempfile.mkdtemp(prefix="xsz-demo-")) / "demo.sz")
    reads = list(demo_reads(args.reads, seed=args.seed))
    raw_bytes = sum(r[4].nbytes for r in reads)
    start = time.perf_counter()
    with CompressedFile(
        path, mode="w", header=[("source", "xsz demo"), ("seed", args.seed)],
        attributes=ATTRIBUTES, datasets=DATASETS, overwrite=args.force, n_threads=args.threads,
    ) as sz:
        sz.put_chunk(reads)
    wrote = time.perf_counter() - start
    with CompressedFile(path) as sz:
        start = time.perf_counter()
        back = sz.get(np.arange(len(reads)))
        read_s = time.perf_counter() - start
        idx = sz.idx
    assert idx is not None
    for want, got in zip(reads, back, strict=True):
        if want[0] != got.ID or not np.array_equal(got.Raw, want[4]) or got.Fastq != want[5]:
            raise XszError(f"read {want[0]!r} did not come back as written")
    stored = (path / "dat").stat().st_size
    samples = int(sum(len(r.Raw) for r in back))
    pa = (back[0].Raw.astype(np.float64) + back[0].Offset) * back[0].Raw_unit
    print(f"wrote {len(reads)} reads to {path} and read them back: all equal")
    print(f"  samples      {samples:,} int16 ({raw_bytes / 1e6:.1f} MB raw)")
    print(f"  stored       {stored / 1e6:.1f} MB in dat: {stored / raw_bytes:.2f} of raw int16")
    print(f"  write        {raw_bytes / 1e6 / wrote:.0f} MB/s of signal ({args.threads} threads)")
    print(f"  read         {raw_bytes / 1e6 / read_s:.0f} MB/s of signal")
    print(f"  first read   {back[0].ID}: {len(back[0].Raw):,} samples, "
          f"{len(back[0].Fastq)} bases, median {np.median(pa):.1f} pA")
    print(idx.head().to_string())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xsz", description="Nanopore reads in SZ stores.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="write a generated nanopore-like SZ store, read it back")
    demo.add_argument("path", nargs="?", help="where to write (default: a new temporary folder)")
    demo.add_argument("-n", "--reads", type=int, default=2000, help="reads to generate")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    demo.add_argument("--force", action="store_true", help="replace PATH if it is an SZ store")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``xsz`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (XszError, OSError) as exc:
        if os.environ.get("XSZ_DEBUG"):
            raise
        print(f"xsz: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
