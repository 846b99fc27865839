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
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from xsz import __version__
from xsz.cli._common import IDS_HELP, mb, remote_parent
from xsz.cli._common import read_ids as _read_ids
from xsz.cli._common import storage_options as _storage_options
from xsz.cli._reads import add_commands
from xsz.convert import CODECS, FORMATS, LAYOUTS, TARGETS
from xsz.errors import StoreExistsError, UsageError, XszError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    workdir = Path(args.path or tempfile.mkdtemp(prefix="xsz-demo-"))
    try:
        return _demo_in(args, workdir)
    finally:
        if args.path is None and workdir.exists():  # the files are the demo's, not the user's
            size = sum(p.stat().st_size for p in workdir.rglob("*") if p.is_file())
            shutil.rmtree(workdir, ignore_errors=True)
            print(
                f"removed the temporary folder {workdir} ({mb(size)}); give a PATH "
                "('xsz demo PATH') to keep the files"
            )


def _demo_in(args: argparse.Namespace, workdir: Path) -> int:
    from xsz.cli.demo import run_demo

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
        f"{mb(raw)} raw) in {workdir}:"
    )
    width = max(len(what) for what, *_ in report.steps)
    for what, path, nbytes, seconds in report.steps:
        print(
            f"  {what:<{width}}  {path.name:<18} {mb(nbytes):>9}  {nbytes / raw:5.2f} of raw  "
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
        f"{summary.source} ({summary.source_format}, {mb(summary.nbytes_source)}) -> "
        f"{summary.destination} ({summary.destination_format}, "
        f"{mb(summary.nbytes_destination)}): {summary.n_reads:,} "
        f"read{'' if summary.n_reads == 1 else 's'} in {seconds:.2f} s "
        f"({summary.nbytes_source / 1e6 / seconds:,.0f} MB/s; {' then '.join(summary.steps)})"
    )
    return 0


def _info(args: argparse.Namespace) -> int:
    from xsz.cli._any_format import other_format, print_info
    from xsz.ops import coverage, info

    if (fmt := other_format(args.path)) is not None:  # pod5, BLOW5, SLOW5, FAST5, Zarr
        return print_info(args.path, fmt)

    options = _storage_options(args)
    got = info(args.path, options)
    if args.header:
        print(json.dumps(got.header, ensure_ascii=False, indent=2))
        return 0
    print(f"{got.path}: SZ store, {got.n_reads:,} reads")
    lines = header_lines(got.header)
    print(f"  header   {lines[0] if lines else '{}'}")
    for line in lines[1:]:
        print(f"           {line}")
    columns = textwrap.wrap(" ".join(got.columns), 88, break_on_hyphens=False)
    print("  columns  " + "\n           ".join(columns))
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


HEADER_WIDTH: Final = 88
"""Widest line of `header_lines`."""


def header_lines(header: dict[str, Any], width: int = HEADER_WIDTH) -> list[str]:
    """A store header in short lines: one a key, a long value summarised.

    Examples
    --------
    >>> runs = {"a": {"note": "x" * 90}, "b": {}}
    >>> header_lines({"version": "0.4.0", "runs": runs, "files": ["f"] * 50})
    ['version: "0.4.0"', 'runs: {2 keys: a, b}', 'files: [50 items]', '(xsz info --header: all of it)']
    """
    out = []
    summarised = False
    for key, value in header.items():
        text = json.dumps(value, ensure_ascii=False)
        if len(key) + len(text) + 2 > width:
            summarised = True
            if isinstance(value, dict):
                keys = ", ".join(map(str, value))
                room = width - len(key) - 20
                keys = keys if len(keys) <= room else keys[: max(room - 3, 0)] + "..."
                text = f"{{{len(value)} key{'' if len(value) == 1 else 's'}: {keys}}}"
            elif isinstance(value, list):
                text = f"[{len(value)} item{'' if len(value) == 1 else 's'}]"
            else:
                text = text[: max(width - len(key) - 8, 10)] + "..."
        out.append(f"{key}: {text}")
    if summarised:
        out.append("(xsz info --header: all of it)")
    return out


def _subset(args: argparse.Namespace) -> int:
    *args.paths, args.dst = args.items
    if not args.paths and args.index is None:
        raise UsageError("subset needs PATH... DST (or --index INDEX DST)")
    if len(args.paths) == 1 and args.index is None and not args.first and _one_store(args):
        from xsz.ops import subset

        n = subset(
            args.paths[0],
            _read_ids(args.ids),
            args.dst,
            overwrite=args.force,
            progress=not args.quiet,
            storage_options=_storage_options(args),
        )
        print(f"wrote {n:,} reads to {args.dst}")
        return 0
    from xsz.collection import subset as subset_collection

    n = subset_collection(
        args.paths or None,
        _read_ids(args.ids),
        args.dst,
        index=args.index,
        on_duplicate="first" if args.first else "error",
        overwrite=args.force,
        progress=not args.quiet,
        storage_options=_storage_options(args),
    )
    print(f"wrote {n:,} reads to {args.dst}")
    return 0


def _one_store(args: argparse.Namespace) -> bool:
    """Whether the one PATH of ``subset`` is a store (not a tree, glob or prefix)."""
    from xsz.collection import find_stores

    path = args.paths[0]
    stores = find_stores(path, _storage_options(args))
    return len(stores) == 1 and stores[0].location.rstrip("/") in (
        str(path).rstrip("/"),
        os.path.abspath(path),
    )


def _index(args: argparse.Namespace) -> int:
    from xsz.collection import build_index

    report = build_index(
        args.paths,
        args.output,
        storage_options=_storage_options(args),
        rebuild=args.rebuild,
        threads=args.threads,
        progress=not args.quiet,
    )
    print(
        f"{report.path}: {report.n_reads:,} reads in {report.n_stores:,} stores "
        f"({len(report.read):,} read, {report.kept:,} unchanged, {len(report.dropped):,} dropped)"
    )
    dup = report.duplicates
    if dup.count:
        print(
            f"xsz: warning: {dup.count:,} read IDs are in more than one store "
            "(subset refuses them unless --first):",
            file=sys.stderr,
        )
        for rid, stores in dup.sample[:20]:
            print(f"  {rid}\t" + " ".join(str(s) for s in stores), file=sys.stderr)
        if dup.count > 20:
            print(f"  ... and {dup.count - 20:,} more", file=sys.stderr)
    return 0


def _merge(args: argparse.Namespace) -> int:
    from xsz.ops import merge_stores

    got = merge_stores(
        args.srcs,
        args.dst,
        duplicate_ok=args.duplicate_ok,
        union=args.union,
        overwrite=args.force,
        progress=not args.quiet,
    )
    for src, names in got.filled.items():
        print(f"  {src}: filled {', '.join(names)}", file=sys.stderr)
    dropped = f"; {got.duplicates:,} repeated reads left out" if got.duplicates else ""
    print(f"wrote {got.n_reads:,} reads from {len(args.srcs)} stores to {args.dst}{dropped}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from xsz.cli._any_format import other_format, print_verify
    from xsz.ops import coverage, verify

    if (fmt := other_format(args.path)) is not None:  # pod5, BLOW5, SLOW5, FAST5, Zarr
        return print_verify(args.path, fmt, quiet=args.quiet, every=args.all)

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
            f"  note: {sibling.path} ({sibling.kind}, {mb(sibling.size)}) is {state}"
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
            print(f"removed {sibling.path} ({sibling.kind}, {mb(sibling.size)})")
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


def build_parser() -> argparse.ArgumentParser:
    remote = remote_parent()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    common.add_argument(
        "--threads",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="worker threads (default: %(default)s)",
    )
    parser = argparse.ArgumentParser(prog="xsz", description="Nanopore reads in SZ stores.")
    parser.add_argument("--version", action="version", version=f"xsz {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_commands(sub, common)

    p = sub.add_parser("info", parents=[common, remote], help="schema, header, read count, sizes")
    p.add_argument("path")
    p.add_argument("--header", action="store_true", help="print the whole header (JSON) only")
    p.set_defaults(func=_info)

    p = sub.add_parser(
        "subset",
        parents=[common, remote],
        help="copy some reads of a store or a collection into a new store",
        description="Copy the reads listed in --ids into DST. One store: reads in the order "
        "listed. Several PATHS (stores, directory trees, globs, URLs) or --index: the reads "
        "of a collection, found through its index (built on the fly without --index), "
        "in collection order.",
    )
    p.add_argument("items", nargs="+", metavar="PATH... DST", help="the stores, then DST")
    p.add_argument("--ids", required=True, help=IDS_HELP)
    p.add_argument(
        "--index", help="the collection's index (from `xsz index`): a path or URL (s3://...)"
    )
    p.add_argument(
        "--first", action="store_true", help="an ID in several stores: take the first store's"
    )
    p.add_argument("--force", action="store_true", help="replace DST if it is an SZ store")
    p.set_defaults(func=_subset)

    p = sub.add_parser(
        "index",
        parents=[common, remote],
        help="index the read IDs of many stores (a collection)",
        description="Write the read-ID index of a collection: every read ID of the stores "
        "PATHS (stores, directory trees, globs, URLs) with its store and row, sorted, as one "
        "Parquet file. If OUTPUT exists, only stores new or changed since are read.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="the index file to write or update: a path or URL (s3://..., uploaded whole)",
    )
    p.add_argument("--rebuild", action="store_true", help="read every store again")
    p.set_defaults(func=_index)

    p = sub.add_parser(
        "merge",
        parents=[common],
        help="concatenate stores",
        description="Concatenate the SRC stores into a new store DST (the first one's "
        "header). The schemas must be the same unless --union; a read ID in two stores is "
        "refused unless --duplicate-ok. Frames are copied, not re-encoded.",
    )
    p.add_argument("srcs", nargs="+", metavar="SRC")
    p.add_argument("dst")
    p.add_argument(
        "--duplicate-ok",
        action="store_true",
        help="keep the first read of an ID found twice, leave out the others (counted)",
    )
    p.add_argument(
        "--union",
        action="store_true",
        help="stores with differing fields: DST has every field; a read whose store lacks "
        "a field gets '' (text), -1 (signed integers), 0 (unsigned), NaN (floats), or no "
        "values (a dataset)",
    )
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
        help="pod5/BLOW5/SLOW5/FAST5 -> SZ, SZ <-> Zarr, SZ -> pod5/BLOW5/SLOW5/FAST5",
        description="Convert between formats, recognised by content (SRC) and by name (DST: "
        ".sz, .zarr or .zip, .pod5, .blow5, .slow5, .fast5). Nanopore files and Zarr stores "
        "become SZ; SZ stores become Zarr, pod5, BLOW5, SLOW5 or FAST5; other directions go "
        "through a temporary SZ store.",
    )
    p.add_argument("src", metavar="SRC", help="file or store to read")
    p.add_argument("dst", metavar="DST", help="file or store to write")
    p.add_argument("--from", dest="src_format", choices=FORMATS, help="read SRC as this format")
    p.add_argument("--to", dest="dst_format", choices=TARGETS, help="write DST as this format")
    p.add_argument("--moves", metavar="SAM", help="SAM/BAM with move tables (nanopore sources)")
    p.add_argument(
        "--ids",
        metavar="FILE",
        help=f"only these reads, for nanopore sources and SZ -> pod5: {IDS_HELP}",
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
    ("union=True", "--union"),
    ("duplicate_ok=True", "--duplicate-ok"),
    ("count= is", "--count is"),
    ("layout='reads'", "--layout reads"),
    ("layout='regular'", "--layout regular"),
    ("codec= needs", "--codec needs"),
    ("on_duplicate='first'", "--first"),
    ("rebuild=True", "--rebuild"),
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
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # positionals after an option (``subset A --ids F DST``) come back here
        if getattr(args, "items", None) is None or any(e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.items += extra
    try:
        return int(args.func(args))
    except BrokenPipeError:  # 'xsz view ... | head': the reader left, as with cat
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
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
