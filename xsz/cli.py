"""The ``xsz`` command: argparse front end over xsz's functions; no logic of its own.

Exit codes: 0 success, 1 an error xsz explains (``xsz: error: ...``), 2 bad usage.
``XSZ_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def _info(args: argparse.Namespace) -> int:
    from xsz.ops import info

    got = info(args.path)
    print(f"{got.path}: SZ store, {got.n_reads:,} reads")
    print(f"  header   {json.dumps(got.header, ensure_ascii=False)}")
    print(f"  columns  {' '.join(got.columns)}")
    print(f"  dat      {got.dat_bytes:,} bytes; index {got.index_bytes:,} bytes")
    for name, d in got.datasets.items():
        ratio = d["stored"] / d["raw"] if d["raw"] else float("nan")
        print(f"  {name:<8} {d['values']:,} values, {d['raw']:,} bytes decoded, "
              f"{d['stored']:,} stored ({ratio:.3f})")
    print(f"  overall  {got.ratio:.3f} of the decoded size")
    return 0


def _get(args: argparse.Namespace) -> int:
    from xsz.format import SZReader

    with SZReader(args.path) as reader:
        rows = reader.rows(args.read_ids)
        names = args.dataset or None
        reads = reader.read_many(rows, names)
    if args.output:
        id_field = reader.schema.id_field
        arrays: dict[str, Any] = {}
        for row, read in zip(rows.tolist(), reads, strict=True):
            prefix = read[id_field] if id_field else f"#{row}"
            arrays.update({f"{prefix}/{key}": np.asarray(value) for key, value in read.items()})
        np.savez_compressed(args.output, **arrays)
        print(f"saved {len(reads)} reads to {args.output}")
        return 0
    with np.printoptions(threshold=12, edgeitems=4, linewidth=100):
        for read in reads:
            for key, value in read.items():
                shown = str(value) if np.ndim(value) == 0 else f"{np.asarray(value)!r} ({len(value):,})"
                if isinstance(value, str) and len(value) > 80:
                    shown = f"{value[:77]}... ({len(value):,} characters)"
                print(f"{key}\t{shown}")
            print()
    return 0


def _read_ids(source: str) -> list[str]:
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _subset(args: argparse.Namespace) -> int:
    from xsz.ops import subset

    n = subset(args.path, _read_ids(args.ids), args.dst, overwrite=args.force, progress=not args.quiet)
    print(f"wrote {n:,} reads to {args.dst}")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from xsz.ops import merge

    n = merge(args.srcs, args.dst, overwrite=args.force, progress=not args.quiet)
    print(f"wrote {n:,} reads from {len(args.srcs)} stores to {args.dst}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from xsz.ops import verify

    problems = verify(args.path, n_threads=args.threads, progress=not args.quiet,
                      stop_at_first=not args.all)
    if not problems:
        print(f"{args.path}: OK")
        return 0
    for problem in problems:
        print(f"xsz: error: {args.path}: {problem}", file=sys.stderr)
    return 1


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    common.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1),
                        help="worker threads (default: %(default)s)")
    parser = argparse.ArgumentParser(prog="xsz", description="Nanopore reads in SZ stores.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", parents=[common], help="schema, header, read count, sizes")
    p.add_argument("path")
    p.set_defaults(func=_info)

    p = sub.add_parser("get", parents=[common], help="print or save reads by ID")
    p.add_argument("path")
    p.add_argument("read_ids", nargs="+", metavar="READ_ID")
    p.add_argument("-d", "--dataset", action="append", help="only these datasets (repeatable)")
    p.add_argument("-o", "--output", help="save to this .npz instead of printing")
    p.set_defaults(func=_get)

    p = sub.add_parser("subset", parents=[common], help="copy some reads into a new store")
    p.add_argument("path")
    p.add_argument("--ids", required=True, help="file of read IDs, one per line ('-': stdin)")
    p.add_argument("dst")
    p.add_argument("--force", action="store_true", help="replace DST if it is an SZ store")
    p.set_defaults(func=_subset)

    p = sub.add_parser("merge", parents=[common], help="concatenate stores with one schema")
    p.add_argument("srcs", nargs="+", metavar="SRC")
    p.add_argument("dst")
    p.add_argument("--force", action="store_true", help="replace DST if it is an SZ store")
    p.set_defaults(func=_merge)

    p = sub.add_parser("verify", parents=[common], help="decode every frame, check the index")
    p.add_argument("path")
    p.add_argument("--all", action="store_true", help="report every problem, not the first")
    p.set_defaults(func=_verify)

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
