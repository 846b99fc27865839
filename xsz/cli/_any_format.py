"""``xsz info`` and ``xsz verify`` on the files that are not SZ stores (pod5, BLOW5,
SLOW5, FAST5, Zarr), through `xsz.convert.open_reads`; ``xsz get`` uses
`open_reads` for every format."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from xsz.convert import detect_format, open_reads, verify_reads
from xsz.errors import SourceError

__all__ = ["other_format", "print_info", "print_verify"]


def other_format(path: str) -> str | None:
    """The format of a local file or store that is not SZ; None for SZ stores and URLs."""
    from xsz.source import is_url

    if is_url(path) or not Path(path).exists():
        return None
    try:
        fmt = detect_format(path)
    except SourceError:
        return None  # the SZ code path says what is wrong
    return None if fmt == "sz" else fmt


def _runs(header: dict[str, Any]) -> str:
    runs = header.get("runs")
    if not isinstance(runs, dict):
        return ""
    cells = []
    for run_id, run in runs.items():
        facts = [run.get(k) for k in ("flow_cell_id", "sample_id", "sequencing_kit")]
        cells.append(f"{run_id or '(no run ID)'} ({', '.join(str(f) for f in facts if f)})")
    return "; ".join(cells)


def print_info(path: str, fmt: str) -> int:
    """What ``xsz info`` prints for a file of format `fmt` (not SZ)."""
    with open_reads(path, format=fmt) as reads:
        n = len(reads)
        print(f"{path}: {fmt} {'store' if fmt == 'zarr' else 'file'}, {n:,} reads")
        print(f"  columns  {' '.join(reads.schema.columns)}")
        runs = _runs(reads.header)
        if runs:
            print(f"  runs     {runs}")
        others = sorted(k for k in reads.header if k not in ("runs", "sz_columns"))
        if others:
            print(f"  header   {', '.join(others)}")
        for f in reads.schema.datasets:
            if f.is_text:
                continue
            counts = reads.counts(f.name)
            if n:
                print(
                    f"  {f.name:<8} {int(counts.sum()):,} values; per read "
                    f"{int(counts.min()):,} / {int(np.median(counts)):,} / {int(counts.max()):,} "
                    "(min / median / max)"
                )
        size = _size(Path(path))
        print(f"  size     {size:,} bytes")
    return 0


def print_verify(path: str, fmt: str, *, quiet: bool, every: bool) -> int:
    """What ``xsz verify`` does for a file of format `fmt` (not SZ): decode every read."""
    n, problems = verify_reads(path, progress=not quiet, stop_at_first=not every)
    if not problems:
        print(f"{path}: OK ({fmt}: {n:,} reads decoded by its reader; IDs unique, signals int16)")
        return 0
    for problem in problems:
        print(f"xsz: error: {path}: {problem}", file=sys.stderr)
    return 1


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
