"""The ``xsz`` command: argparse front end over xsz's functions; no logic of its own.

Exit codes: 0 success, 1 an error xsz explains (``xsz: error: ...``), 2 bad usage.
``XSZ_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz.convert import CODECS, FORMATS, LAYOUTS, TARGETS
from xsz.errors import StoreExistsError, UsageError, XszError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:,.1f} MB"


def _demo(args: argparse.Namespace) -> int:
    from xsz.cli.demo import run_demo

    workdir = Path(args.path or tempfile.mkdtemp(prefix="xsz-demo-"))
    if workdir.exists() and any(workdir.iterdir()):
        if not args.force:
            raise StoreExistsError(f"{workdir} exists and is not empty; pass --force to reuse it")
        for name in (
            "demo.pod5",
            "demo.sz",
            "demo-reads.zarr",
            "demo-regular.zarr",
            "back-reads.sz",
            "back-regular.sz",
        ):
            target = workdir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    report = run_demo(workdir, n_reads=args.reads, seed=args.seed, n_threads=args.threads)
    raw = report.raw_bytes
    print(
        f"{report.n_reads:,} generated nanopore-like reads ({report.n_samples:,} int16 samples, "
        f"{_mb(raw)} raw) in {workdir}:"
    )
    width = max(len(what) for what, *_ in report.steps)
    for what, path, nbytes, seconds in report.steps:
        print(
            f"  {what:<{width}}  {path.name:<18} {_mb(nbytes):>9}  {nbytes / raw:5.2f} of raw  "
            f"{seconds:6.2f} s  {raw / 1e6 / max(seconds, 1e-9):7,.0f} MB/s of signal"
        )
    print(
        f"every read of {', '.join(p.name for p in report.checked)} checked: all equal to the "
        "generated reads (ID, calibration, channel, signal); the SZ store made back from the "
        "reads layout holds the very same frames"
    )
    return 0


def _convert(args: argparse.Namespace) -> int:
    from xsz.convert import convert

    summary = convert(
        args.src,
        args.dst,
        src_format=args.src_format,
        dst_format=args.dst_format,
        moves=args.moves,
        read_ids=_read_ids(args.ids) if args.ids else None,
        layout=args.layout,
        codec=args.codec,
        overwrite=args.force,
        n_threads=args.threads,
        checksum=args.checksum,
        resume=args.resume,
        progress=not args.quiet,
        storage_options=_storage_options(args),
    )
    seconds = max(summary.seconds, 1e-9)
    print(
        f"{summary.source} ({summary.source_format}, {_mb(summary.nbytes_source)}) -> "
        f"{summary.destination} ({summary.destination_format}, "
        f"{_mb(summary.nbytes_destination)}): {summary.n_reads:,} "
        f"read{'' if summary.n_reads == 1 else 's'} in {seconds:.2f} s "
        f"({summary.nbytes_source / 1e6 / seconds:,.0f} MB/s; {' then '.join(summary.steps)})"
    )
    return 0


def _info(args: argparse.Namespace) -> int:
    from xsz.ops import coverage, info

    options = _storage_options(args)
    got = info(args.path, options)
    print(f"{got.path}: SZ store, {got.n_reads:,} reads")
    print(f"  header   {json.dumps(got.header, ensure_ascii=False)}")
    print(f"  columns  {' '.join(got.columns)}")
    print(f"  dat      {got.dat_bytes:,} bytes; index {got.index_bytes:,} bytes")
    for name, d in got.datasets.items():
        ratio = d["stored"] / d["raw"] if d["raw"] else float("nan")
        print(
            f"  {name:<8} {d['values']:,} values, {d['raw']:,} bytes decoded, "
            f"{d['stored']:,} stored ({ratio:.3f})"
        )
    print(f"  overall  {got.ratio:.3f} of the decoded size")
    print(f"  checks   {coverage(args.path, options)}")
    _print_stale(args.path)
    return 0


def _get(args: argparse.Namespace) -> int:
    from xsz.format import SZReader

    with SZReader(args.path, _storage_options(args)) as reader:
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
                shown = (
                    str(value) if np.ndim(value) == 0 else f"{np.asarray(value)!r} ({len(value):,})"
                )
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

    n = subset(
        args.path,
        _read_ids(args.ids),
        args.dst,
        overwrite=args.force,
        progress=not args.quiet,
        storage_options=_storage_options(args),
    )
    print(f"wrote {n:,} reads to {args.dst}")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from xsz.ops import merge

    n = merge(args.srcs, args.dst, overwrite=args.force, progress=not args.quiet)
    print(f"wrote {n:,} reads from {len(args.srcs)} stores to {args.dst}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from xsz.ops import coverage, verify

    options = _storage_options(args)
    problems = verify(
        args.path,
        n_threads=args.threads,
        progress=not args.quiet,
        stop_at_first=not args.all,
        storage_options=options,
    )
    _print_stale(args.path)
    if not problems:
        print(f"{args.path}: OK ({coverage(args.path, options)})")
        return 0
    for problem in problems:
        print(f"xsz: error: {args.path}: {problem}", file=sys.stderr)
    return 1


def _print_stale(path: str) -> None:
    """Name the staging siblings that writers left beside `path` (a local one)."""
    from xsz.format import stale_siblings
    from xsz.source import is_url

    if is_url(path):
        return

    for sibling in stale_siblings(path):
        state = "in use by a live writer" if sibling.owned else "left by a killed writer"
        print(
            f"  note: {sibling.path} ({sibling.kind}, {_mb(sibling.size)}) is {state}"
            + ("" if sibling.owned else f"; 'xsz recover --clean {path}' removes it"),
            file=sys.stderr,
        )


def _checksum(args: argparse.Namespace) -> int:
    from xsz.ops import add_checksums

    n = add_checksums(args.path, args.dst, overwrite=args.force, progress=not args.quiet)
    print(f"{args.dst or args.path}: {n:,} reads, every frame checksummed")
    return 0


def _recover(args: argparse.Namespace) -> int:
    from xsz.format import remove_stale
    from xsz.ops import recover

    if args.clean:
        if args.dst is not None:
            raise UsageError("recover --clean takes one store: the one whose leftovers to remove")
        removed = remove_stale(args.src)
        for sibling in removed:
            print(f"removed {sibling.path} ({sibling.kind}, {_mb(sibling.size)})")
        _print_stale(args.src)  # what is left is in use
        print(f"{len(removed)} stale staging director{'y' if len(removed) == 1 else 'ies'} removed")
        return 0
    if args.dst is None:
        raise UsageError("recover needs SRC and DST (or --clean STORE)")
    got = recover(args.src, args.dst, overwrite=args.force, progress=not args.quiet)
    for problem in got.lost:
        line = f"line {problem.row}: " if problem.row is not None else ""
        print(f"  lost: {line}{problem.message}", file=sys.stderr)
    if got.unindexed_bytes:
        print(
            f"  lost: {got.unindexed_bytes:,} bytes at the end of dat that no index line "
            "describes (the writer was killed before it wrote them)",
            file=sys.stderr,
        )
    print(f"{args.dst}: {got.kept:,} reads recovered, {len(got.lost):,} lost")
    return 0


def _storage_options(args: argparse.Namespace) -> dict[str, str] | None:
    """The ``--storage-option KEY=VALUE`` settings, for obstore."""
    options = {}
    for item in args.storage_option or ():
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"--storage-option takes KEY=VALUE, got {item!r}")
        options[key] = value
    return options or None


def build_parser() -> argparse.ArgumentParser:
    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument(
        "-S",
        "--storage-option",
        action="append",
        metavar="KEY=VALUE",
        help="obstore setting for a URL PATH, e.g. region=eu-west-1 (repeatable; "
        "default: from the environment, AWS_ENDPOINT_URL ...)",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    common.add_argument(
        "--threads",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="worker threads (default: %(default)s)",
    )
    parser = argparse.ArgumentParser(prog="xsz", description="Nanopore reads in SZ stores.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", parents=[common, remote], help="schema, header, read count, sizes")
    p.add_argument("path")
    p.set_defaults(func=_info)

    p = sub.add_parser("get", parents=[common, remote], help="print or save reads by ID")
    p.add_argument("path")
    p.add_argument("read_ids", nargs="+", metavar="READ_ID")
    p.add_argument("-d", "--dataset", action="append", help="only these datasets (repeatable)")
    p.add_argument("-o", "--output", help="save to this .npz instead of printing")
    p.set_defaults(func=_get)

    p = sub.add_parser("subset", parents=[common, remote], help="copy some reads into a new store")
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

    p = sub.add_parser(
        "verify", parents=[common, remote], help="decode every frame, check the index"
    )
    p.add_argument("path")
    p.add_argument("--all", action="store_true", help="report every problem, not the first")
    p.set_defaults(func=_verify)

    p = sub.add_parser(
        "checksum",
        parents=[common],
        help="give a store's frames checksums (no re-compression)",
        description="Add zstd's content checksum to every frame of a store (pysz's, or "
        "written with --no-checksum) and a checksums file, so verify catches any changed "
        "byte. Nothing is re-compressed. The store is replaced atomically, or written to DST.",
    )
    p.add_argument("path")
    p.add_argument("dst", nargs="?", help="write here instead of replacing PATH")
    p.add_argument("--force", action="store_true", help="replace DST if it is an SZ store")
    p.set_defaults(func=_checksum)

    p = sub.add_parser(
        "recover",
        parents=[common],
        help="salvage a damaged store or a killed write; remove leftovers",
        description="Copy every read of SRC (a damaged store, or the .NAME.partial-* "
        "directory a killed writer left) whose index line and frames are whole and check "
        "into a new store DST, listing the rest. With --clean, remove the staging "
        "directories that killed writers left beside the store SRC (never one in use).",
    )
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST", nargs="?")
    p.add_argument("--clean", action="store_true", help="remove SRC's stale staging siblings")
    p.add_argument("--force", action="store_true", help="replace DST if it is an SZ store")
    p.set_defaults(func=_recover)

    p = sub.add_parser(
        "convert",
        parents=[common, remote],
        help="pod5/BLOW5/SLOW5/FAST5 -> SZ, SZ <-> Zarr, SZ -> pod5",
        description="Convert between formats, recognised by content (SRC) and by name (DST: "
        ".sz, .zarr or .zip, .pod5). Nanopore files and Zarr stores become SZ; SZ stores "
        "become Zarr or pod5; other directions go through a temporary SZ store.",
    )
    p.add_argument("src", metavar="SRC", help="file or store to read")
    p.add_argument("dst", metavar="DST", help="file or store to write")
    p.add_argument("--from", dest="src_format", choices=FORMATS, help="read SRC as this format")
    p.add_argument("--to", dest="dst_format", choices=TARGETS, help="write DST as this format")
    p.add_argument("--moves", metavar="SAM", help="SAM/BAM with move tables (nanopore sources)")
    p.add_argument(
        "--ids",
        metavar="FILE",
        help="only the reads listed in FILE, one per line "
        "('-': stdin), for nanopore sources and SZ -> pod5",
    )
    p.add_argument("--layout", choices=LAYOUTS, help="Zarr layout (default: reads)")
    p.add_argument(
        "--codec", choices=CODECS, help="codec of the regular layout (default: svb-zstd)"
    )
    p.add_argument("--force", action="store_true", help="replace DST if it has DST's format")
    p.add_argument(
        "--no-checksum",
        dest="checksum",
        action="store_false",
        help="SZ frames without zstd's checksum, byte-identical to pysz's",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="take up a killed import into DST: keep the reads it wrote, import the rest",
    )
    p.set_defaults(func=_convert)

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="convert a generated run pod5 -> SZ -> Zarr -> SZ, check every read",
    )
    demo.add_argument("path", nargs="?", help="folder to work in (default: a new temporary one)")
    demo.add_argument("-n", "--reads", type=int, default=1000, help="reads to generate")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--force", action="store_true", help="work in PATH even if not empty")
    demo.set_defaults(func=_demo)
    return parser


_FLAGS: Final = (
    ("overwrite=True", "--force"),
    ("pass to= one of", "pass --to one of"),
    ("moves= adds", "--moves adds"),
    ("resume=True", "--resume"),
    ("layout= and codec=", "--layout and --codec"),
    ("checksum=False", "--no-checksum"),
)
"""The library's messages speak Python; the command's speak its flags."""


def for_the_command(message: str) -> str:
    """`message` of a library error with its Python keywords as the command's flags.

    Examples
    --------
    >>> for_the_command("out.sz exists; pass overwrite=True to replace it")
    'out.sz exists; pass --force to replace it'
    """
    for python, flag in _FLAGS:
        message = message.replace(python, flag)
    return message


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``xsz`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (XszError, OSError, ImportError) as exc:
        if os.environ.get("XSZ_DEBUG"):
            raise
        print(f"xsz: error: {for_the_command(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if os.environ.get("XSZ_DEBUG"):
            raise
        print("xsz: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
