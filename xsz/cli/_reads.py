"""The commands that list, select and summarise reads: view, stats, get, filter, split."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz.cli._common import IDS_HELP, output_file, read_ids, remote_parent, storage_options
from xsz.errors import UsageError

if TYPE_CHECKING:
    import argparse

    from xsz.format import SZReader

__all__ = ["add_commands"]

GET_FORMATS: Final = ("text", "npz", "fastq")
_SUFFIX_FORMATS: Final = {".npz": "npz", ".fastq": "fastq", ".fq": "fastq"}


def _open(args: argparse.Namespace) -> SZReader:
    """The store a command reads (`args.path`, a path or a URL)."""
    from xsz.format import SZReader

    return SZReader(args.path, storage_options(args))


def _open_any(args: argparse.Namespace) -> Any:
    """`args.path` in any format xsz reads (SZ, pod5, BLOW5, SLOW5, FAST5, Zarr).

    An SZ store opens as `SZReader`; the other formats through
    `xsz.convert.open_reads`, which has the same ``rows``, ``read_many``,
    ``ids`` and ``schema``.
    """
    from xsz.cli._any_format import other_format
    from xsz.convert import open_reads

    if (fmt := other_format(args.path)) is None:
        return _open(args)
    return open_reads(args.path, format=fmt)


def _columns(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [c.strip() for value in values for c in value.split(",") if c.strip()]


def _view(args: argparse.Namespace) -> int:
    from xsz.select import read_columns, resolve_columns, tsv_lines

    with _open_any(args) as reader:
        if args.list_columns:
            for name, c in read_columns(reader).items():
                kind = "text" if c.text else "number"
                print(f"{name}\t{c.source}\t{kind}")
            return 0
        columns = resolve_columns(reader, _columns(args.columns))
        rows = reader.rows(read_ids(args.ids)) if args.ids else None
        with output_file(args.output, force=args.force) as out:
            for chunk in tsv_lines(reader, columns, rows, header=not args.no_header):
                out.write(chunk)
    return 0


def _stats(args: argparse.Namespace) -> int:
    from xsz.select import read_stats, tsv_text

    with _open(args) as reader:
        got = read_stats(
            reader,
            rows=reader.rows(read_ids(args.ids)) if args.ids else None,
            signal=not args.no_signal,
            n_threads=args.threads,
            progress=not args.quiet,
        )
    if args.per_read:
        per = got.per_read
        unit = "pA" if got.calibration else "raw"
        names = ["read_id", f"{got.dataset}_count", "duration_s", f"{unit}_mean", f"{unit}_sd"]
        with output_file(args.output, force=args.force) as out:
            out.write("\t".join(names) + "\n")
            if per is not None:
                columns = (per.ids, per.samples, per.duration, per.mean, per.sd)
                for start in range(0, len(per.ids), 65_536):
                    out.write(tsv_text([c[start : start + 65_536] for c in columns]))
        if args.output is None:
            return 0
    elif args.output is not None:
        with output_file(args.output, force=args.force) as out:
            out.write("".join(f"{k}\t{v}\n" for k, v in got.rows()))
    print(f"{args.path}: {got.n_reads:,} reads")
    if got.dataset is None:
        print("  no numeric dataset: no samples to count")
        return 0
    s = got.samples
    print(
        f"  samples   {int(s['total']):,} of {got.dataset}; per read mean {s['mean']:,.0f}, "
        f"median {s['median']:,.0f}, N50 {int(s['N50']):,}, min {int(s['min']):,}, "
        f"max {int(s['max']):,}"
    )
    if got.duration is not None:
        d = got.duration
        print(
            f"  duration  {d['total']:,.1f} s ({d['total'] / 3600:,.2f} h) at {got.rate_attribute}; "
            f"per read mean {d['mean']:,.2f} s"
        )
    else:
        print("  duration  unknown: no sampling-rate attribute")
    if got.signal is not None:
        how = got.calibration or "no calibration attributes: raw units"
        unit = "pA" if got.calibration else "raw"
        print(
            f"  signal    mean {got.signal['mean']:,.2f} {unit}, sd {got.signal['sd']:,.2f} "
            f"{unit} over every sample ({how})"
        )
    return 0


def _rows(args: argparse.Namespace, reader: SZReader) -> Any:
    ids = list(args.read_ids) + (read_ids(args.ids) if args.ids else [])
    if args.all:
        if ids:
            raise UsageError("give READ_IDs / --ids, or --all, not both")
        return np.arange(len(reader))
    if not ids:
        raise UsageError("give the reads: READ_ID ..., --ids FILE, or --all")
    return reader.rows(ids)


def _get(args: argparse.Namespace) -> int:
    from xsz.select import FastqCount, fastq_records, record_lines

    fmt = args.format
    if fmt is None and args.output is not None:
        fmt = _SUFFIX_FORMATS.get(Path(args.output).suffix.lower(), "text")
    names = args.dataset or None
    with _open_any(args) as reader:
        rows = _rows(args, reader)
        reader.read_many(rows[:0], names)  # an unknown dataset: named, the others listed
        if fmt is None:
            _print_reads(reader, rows, names)
            return 0
        if fmt == "npz":
            arrays: dict[str, Any] = {}
            id_field = reader.schema.id_field
            for row, read in zip(rows.tolist(), reader.read_many(rows, names), strict=True):
                prefix = read[id_field] if id_field else f"#{row}"
                arrays.update({f"{prefix}/{k}": np.asarray(v) for k, v in read.items()})
            with output_file(args.output, force=args.force, binary=True) as out:
                np.savez_compressed(out, **arrays)
            print(f"saved {len(rows):,} reads to {args.output}", file=sys.stderr)
            return 0
        with output_file(args.output, force=args.force) as out:
            if fmt == "fastq":
                count = FastqCount()
                for chunk in fastq_records(reader, rows, count, n_threads=args.threads):
                    out.write(chunk)
            else:
                for chunk in record_lines(reader, rows, names, n_threads=args.threads):
                    out.write(chunk)
    if fmt == "fastq":
        skipped = f"; {count.skipped:,} without bases skipped" if count.skipped else ""
        where = f" to {args.output}" if args.output else ""
        print(f"wrote {count.written:,} FASTQ records{where}{skipped}", file=sys.stderr)
    elif args.output:
        print(
            f"wrote {len(rows):,} read{'' if len(rows) == 1 else 's'} to {args.output} (text)",
            file=sys.stderr,
        )
    return 0


def _print_reads(reader: SZReader, rows: Any, names: list[str] | None) -> None:
    with np.printoptions(threshold=12, edgeitems=4, linewidth=100):
        for read in reader.read_many(rows, names):
            for key, value in read.items():
                shown = (
                    str(value) if np.ndim(value) == 0 else f"{np.asarray(value)!r} ({len(value):,})"
                )
                if isinstance(value, str) and len(value) > 80:
                    shown = f"{value[:77]}... ({len(value):,} characters)"
                print(f"{key}\t{shown}")
            print()


def _filter(args: argparse.Namespace) -> int:
    from xsz.ops import filter_reads

    if args.expression is None and args.ids is None:
        raise UsageError("filter needs -e EXPRESSION, --ids FILE, or both")
    n = filter_reads(
        args.path,
        args.dst,
        expression=args.expression,
        read_ids=read_ids(args.ids) if args.ids else None,
        overwrite=args.force,
        progress=not args.quiet,
        storage_options=storage_options(args),
    )
    print(f"wrote {n:,} read{'' if n == 1 else 's'} to {args.dst}")
    return 0


def _split(args: argparse.Namespace) -> int:
    from xsz.ops import split

    written = split(
        args.path,
        args.outdir,
        by=args.by,
        count=args.count,
        read_ids=read_ids(args.ids) if args.ids else None,
        overwrite=args.force,
        progress=not args.quiet,
        storage_options=storage_options(args),
    )
    for path, n in written.items():
        print(f"  {path}\t{n:,} reads")
    print(f"wrote {sum(written.values()):,} reads into {len(written):,} stores in {args.outdir}")
    return 0


FILTER_HELP: Final = """\
EXPRESSION is a condition over each read's fields (see 'xsz view --list-columns'):
attributes such as channel, end_reason, run_id, read_id; counts such as Raw_count;
numbers and "quoted text"; == != < <= > >= (chains too), in / not in (a, b, ...),
and / or / not, parentheses, + - * / // %. Text compares with text, numbers
with numbers; nothing else (calls, attributes, subscripts) is allowed.
Examples:
  xsz filter run.sz long.sz -e 'end_reason == "signal_positive" and Raw_count > 4000'
  xsz filter run.sz some.sz -e 'channel in (1, 2, 3)' --ids wanted.txt
  xsz filter run.sz min.sz -e 'Raw_count / sampling_rate > 10'   # longer than 10 s
"""


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add view, stats, filter and split, and get, to the subparsers `sub`."""
    import argparse

    remote = remote_parent()
    p = sub.add_parser(
        "view",
        parents=[remote],
        help="list reads: one TSV line of fields per read (like pod5 view, slow5tools skim)",
        description="Print per-read fields (attributes and per-dataset counts) as TSV, "
        "streamed a batch of reads at a time. Default columns: every attribute and the "
        "count of every numeric dataset, all from the index.",
    )
    p.add_argument("path")
    p.add_argument("-c", "--columns", action="append", help="columns, comma-separated (repeatable)")
    p.add_argument("--no-header", action="store_true", help="no header line")
    p.add_argument("--ids", metavar="FILE", help=f"only these reads, in this order: {IDS_HELP}")
    p.add_argument("--list-columns", action="store_true", help="list the columns and exit")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(func=_view)

    p = sub.add_parser(
        "stats",
        parents=[common, remote],
        help="summary: reads, samples (N50), duration, signal mean/sd in pA",
        description="Summarise a store: reads; samples per read (total, mean, median, N50, "
        "min, max) of the signal dataset (Raw); duration, with a sampling_rate attribute; "
        "the signal's mean and sd in pA (pysz's Offset/Raw_unit or offset/scale or "
        "offset/range/digitisation; raw units without them), which decodes every read.",
    )
    p.add_argument("path")
    p.add_argument("--ids", metavar="FILE", help=f"only these reads: {IDS_HELP}")
    p.add_argument("--per-read", action="store_true", help="a TSV line per read instead")
    p.add_argument("--no-signal", action="store_true", help="skip mean/sd (read the index only)")
    p.add_argument("-o", "--output", help="write the TSV (summary or --per-read) to this file")
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(func=_stats)

    p = sub.add_parser(
        "get",
        parents=[common, remote],
        help="print or save reads by ID: whole records, .npz, FASTQ",
        description="Print reads (a summary of each), or with --format write them whole: "
        "text (a TSV line per read, every value; arrays comma-separated), npz (numpy, "
        "needs -o), fastq (basecalled reads, from the Sequence and Quality datasets). "
        "With -o and no --format, the format follows the suffix (.npz, .fastq/.fq, else "
        "text); the file is written whole, and replaced only with --force.",
    )
    p.add_argument("path")
    p.add_argument("read_ids", nargs="*", metavar="READ_ID")
    p.add_argument("--ids", metavar="FILE", help=IDS_HELP)
    p.add_argument("--all", action="store_true", help="every read of the store")
    p.add_argument("-d", "--dataset", action="append", help="only these datasets (repeatable)")
    p.add_argument("--format", choices=GET_FORMATS, help="write whole reads in this format")
    p.add_argument("-o", "--output", help="write to this file (default: stdout)")
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    p.set_defaults(func=_get)

    p = sub.add_parser(
        "filter",
        parents=[common, remote],
        help="copy the reads that pass an expression (and/or an ID list) into a new store",
        description="Copy the reads of PATH that pass EXPRESSION, and are listed in --ids "
        "if given, into a new store DST, in PATH's order; frames are copied, not "
        "re-encoded, and DST is written atomically.",
        epilog=FILTER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="SRC")
    p.add_argument("dst", metavar="DST")
    p.add_argument("-e", "--expression", help="condition over fields, see below")
    p.add_argument("--ids", metavar="FILE", help=IDS_HELP)
    p.add_argument("--force", action="store_true", help="replace DST if it is an SZ store")
    p.set_defaults(func=_filter)

    p = sub.add_parser(
        "split",
        parents=[common, remote],
        help="split a store by a column's values or into stores of N reads",
        description="Write the reads of SRC into new stores in OUTDIR: one per value of "
        "COLUMN (COLUMN_VALUE.sz), or of N reads each (part_00000.sz ...). Frames are "
        "copied, not re-encoded.",
    )
    p.add_argument("path", metavar="SRC")
    p.add_argument("outdir", metavar="OUTDIR")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--by", metavar="COLUMN", help="e.g. run_id, channel, end_reason")
    how.add_argument("--count", type=int, metavar="N", help="reads per store")
    p.add_argument("--ids", metavar="FILE", help=f"only these reads: {IDS_HELP}")
    p.add_argument("--force", action="store_true", help="replace stores already in OUTDIR")
    p.set_defaults(func=_split)
