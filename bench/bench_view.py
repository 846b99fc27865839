"""`xsz view` on many reads: its memory beside the index's, and its speed against
`pod5 view` on the same reads.

    .venv/bin/python bench/bench_view.py [--reads 1000000] [--peer-reads 100000]

1. Memory: a store of ``--reads`` reads (bench/make_large.py: a real index, a
   sparse dat) is listed by ``xsz view`` (every default column, to /dev/null)
   in a child process; its peak RSS is set beside the peak RSS of a child that
   only opens the store and loads the same columns (the index held in
   memory, which every command pays). The difference is what streaming the
   TSV costs: a batch of 65,536 reads, not the whole table.
2. Speed: ``--peer-reads`` short reads written as pod5 (pod5's writer) and
   imported to SZ; ``pod5 view FILE`` and ``xsz view STORE`` (all their
   default columns, to /dev/null) timed in turn, best of 3 rounds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from _timing import machine, pod5_run_info

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent

LOAD_ONLY = """
import sys
from xsz.format import SZReader
from xsz.select import column_values, resolve_columns
with SZReader(sys.argv[1]) as reader:
    values = [column_values(reader, c) for c in resolve_columns(reader)]
"""


def run(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child, its output to /dev/null."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{argv} failed ({proc.returncode})")
    return time.perf_counter() - start, usage.ru_maxrss * 1024


def write_pod5(path: Path, n: int, samples: int) -> None:
    import pod5

    rng = np.random.default_rng(0)
    run_info = pod5_run_info()
    with pod5.Writer(path) as writer:
        for i in range(n):
            writer.add_read(
                pod5.Read(
                    read_id=uuid.UUID(bytes=rng.bytes(16), version=4),
                    pore=pod5.Pore(channel=int(rng.integers(1, 513)), well=1, pore_type="x"),
                    calibration=pod5.Calibration(offset=-200.0, scale=0.18),
                    read_number=i,
                    start_sample=i * samples,
                    median_before=200.0,
                    end_reason=pod5.EndReason.from_reason_with_default_forced(
                        pod5.EndReasonEnum.SIGNAL_POSITIVE
                    ),
                    run_info=run_info,
                    signal=rng.integers(300, 700, samples).astype(np.int16),
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=1_000_000)
    parser.add_argument("--peer-reads", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200, help="per read, for the peer part")
    args = parser.parse_args()
    print(f"machine: {machine()}; load: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="xsz-bench-view-") as tmp:
        store = Path(tmp) / "large.sz"  # made in a child: a peak RSS survives fork and exec
        subprocess.run(
            [sys.executable, str(HERE / "make_large.py"), str(store), str(args.reads)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        index_mb = (store / "index").stat().st_size / 1e6
        view_s, view_rss = run([str(BIN / "xsz"), "view", str(store)])
        load_s, load_rss = run([sys.executable, "-c", LOAD_ONLY, str(store)])
        print(
            f"memory, {args.reads:,} reads (index {index_mb:,.0f} MB): xsz view {view_s:.1f} s, "
            f"peak RSS {view_rss / 1e6:,.0f} MB; loading the same columns only "
            f"{load_s:.1f} s, {load_rss / 1e6:,.0f} MB; view adds "
            f"{(view_rss - load_rss) / 1e6:,.0f} MB"
        )
        pod5_path, sz_path = Path(tmp) / "peer.pod5", Path(tmp) / "peer.sz"
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--write-peer",
                str(pod5_path),
                str(args.peer_reads),
                str(args.samples),
            ],
            check=True,
        )
        subprocess.run(
            [str(BIN / "xsz"), "convert", str(pod5_path), str(sz_path), "-q"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        best = {"pod5 view": float("inf"), "xsz view": float("inf")}
        rss = {}
        for _ in range(3):
            for name, argv in (
                ("pod5 view", [str(BIN / "pod5"), "view", str(pod5_path)]),
                ("xsz view", [str(BIN / "xsz"), "view", str(sz_path)]),
            ):
                seconds, peak = run(argv)
                best[name] = min(best[name], seconds)
                rss[name] = peak
        print(
            f"speed, {args.peer_reads:,} reads of {args.samples} samples: "
            + ", ".join(f"{k} {v:.2f} s ({rss[k] / 1e6:,.0f} MB)" for k, v in best.items())
            + f"; xsz / pod5 = {best['xsz view'] / best['pod5 view']:.2f}"
        )
        print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write-peer"]:
        write_pod5(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
