"""Importing pod5 and BLOW5 into SZ, against merely reading them with their own readers.

Run by hand (not part of the tests)::

    .venv/bin/python bench/bench_import.py                 # prints the markdown table
    .venv/bin/python bench/bench_import.py --out /tmp/import.md

For each input, "read" is the format's own Python reader taking every read's
signal (``pod5.Reader(...).reads()`` + ``.signal``; ``pyslow5.Open(...)
.seq_reads()`` + ``["signal"]``) and "import" is ``xsz.convert.import_reads``
into a new SZ store (atomic commit, fsync included). Both run in this process,
interleaved, ``--repeats`` times; the table gives the minimum of each and their
ratio (read time / import time: 1.0 means the import is as fast as reading).

Inputs: every pod5 and BLOW5 file of ``../shared/data`` as it is (small files:
1.3-3.8 MB, where opening and committing cost as much as the reads), and one
pod5 and one BLOW5 file of realistic size written here from the real reads of
``signal_sample.npz`` (all 117 reads, ``--copies`` times under new read IDs).

Peak memory is measured in a fresh process per input, for reading and for
importing: the largest growth of anonymous RSS (sampled every millisecond over
its value before), so the pages of a memory-mapped source are not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from _timing import pod5_run_info

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("XSZ_SHARED", ROOT.parent / "shared")) / "data"
OUT = ROOT / "bench" / "out"

REAL = [
    "pod5-file-format/multi_fast5_zip_v3.pod5",
    "blue-crab/z1.pod5",
    "squigualiser/r9.4_450bps/reads.blow5",
    "squigualiser/r10_f5c_eventalign/reads.blow5",
    "squigualiser/rna_r9.4.1_70bps/reads.blow5",
]


def read_pod5(path: Path) -> int:
    import pod5

    n = 0
    with pod5.Reader(path) as reader:
        for read in reader.reads():
            n += len(read.signal)
    return n


def read_blow5(path: Path) -> int:
    import pyslow5

    f = pyslow5.Open(str(path), "r")
    n = 0
    for read in f.seq_reads():
        n += len(read["signal"])
    f.close()
    return n


def read_blow5_threaded(path: Path) -> int:
    """pyslow5's threaded reader, which xsz does not use (it crashes on a corrupt record)."""
    import pyslow5

    f = pyslow5.Open(str(path), "r")
    n = 0
    for read in f.seq_reads_multi(threads=2, batchsize=32):
        n += len(read["signal"])
    f.close()
    return n


THREADS: dict[str, int] = {}
"""Options for `import_reads` (``--threads``)."""


def import_sz(path: Path, dest: Path) -> int:
    from xsz.convert import import_reads

    return import_reads(path, dest, **THREADS).n_samples


def _signal_sample() -> dict[str, np.ndarray]:
    z = np.load(DATA / "signal_sample.npz")
    return {k: z[k] for k in z.files}


def make_pod5(path: Path, copies: int) -> None:
    """A pod5 file of the real reads, `copies` times under new read IDs."""
    import pod5

    z = _signal_sample()
    run = pod5_run_info()
    path.unlink(missing_ok=True)
    with pod5.Writer(path) as writer:
        for c in range(copies):
            for i in range(len(z["read_id"])):
                writer.add_read(
                    pod5.Read(
                        read_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{z['read_id'][i]}/{c}"),
                        pore=pod5.Pore(channel=1 + i, well=1, pore_type="not_set"),
                        calibration=pod5.Calibration(
                            offset=float(z["offset"][i]), scale=float(z["scale"][i])
                        ),
                        read_number=c,
                        start_sample=0,
                        median_before=100.0,
                        end_reason=pod5.EndReason.from_reason_with_default_forced(
                            pod5.EndReasonEnum.UNKNOWN
                        ),
                        run_info=run,
                        signal=z["signal"][z["offsets"][i] : z["offsets"][i + 1]],
                    )
                )


def make_blow5(path: Path, copies: int) -> None:
    """A BLOW5 file (zstd records, svb-zd signal) of the real reads, `copies` times."""
    import pyslow5

    z = _signal_sample()
    path.unlink(missing_ok=True)
    f = pyslow5.Open(str(path), "w")
    header, labels = f.get_empty_header(aux=True)
    header = dict.fromkeys(header, "") | {"run_id": "bench"}
    f.write_header(header, end_reason_labels=labels)
    for c in range(copies):
        for i in range(len(z["read_id"])):
            record, aux = f.get_empty_record(aux=True)
            signal = z["signal"][z["offsets"][i] : z["offsets"][i + 1]]
            record.update(
                read_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{z['read_id'][i]}/{c}")),
                read_group=0,
                digitisation=float(z["digitisation"][i]),
                offset=float(z["offset"][i]),
                range=float(z["range"][i]),
                sampling_rate=float(z["sampling_rate"][i]),
                len_raw_signal=len(signal),
                signal=signal,
            )
            aux.update(
                channel_number=str(1 + i),
                median_before=100.0,
                read_number=c,
                start_mux=1,
                start_time=0,
                end_reason=0,
            )
            f.write_record(record, aux)
    f.close()


def timings(inputs: list[tuple[str, Path, str]], repeats: int) -> dict[str, dict[str, float]]:
    readers = {"pod5": read_pod5, "blow5": read_blow5}
    best: dict[str, dict[str, float]] = {
        name: {"read": 1e9, "import": 1e9} for name, _, _ in inputs
    }
    dest = OUT / "bench.sz"
    for k in range(repeats + 1):  # round 0 warms up (module imports, page cache)
        for name, path, fmt in inputs:
            shutil.rmtree(dest, ignore_errors=True)  # each import makes a new store
            t = time.perf_counter()
            n_read = readers[fmt](path)
            t_read = time.perf_counter() - t
            t = time.perf_counter()
            n_import = import_sz(path, dest)
            t_import = time.perf_counter() - t
            assert n_read == n_import, (name, n_read, n_import)
            if k:
                best[name]["read"] = min(best[name]["read"], t_read)
                best[name]["import"] = min(best[name]["import"], t_import)
            best[name]["samples"] = n_read
    shutil.rmtree(dest, ignore_errors=True)
    return best


_MEMORY_PROBE = """
import json, sys, threading, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
import bench_import
from bench_import import import_sz, read_blow5, read_pod5
bench_import.THREADS.update(json.loads(sys.argv[4]))

def anon():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024

def peak_growth(work):
    base = peak = anon()
    done = threading.Event()
    def sample():
        nonlocal peak
        while not done.wait(0.001):
            peak = max(peak, anon())
    t = threading.Thread(target=sample)
    t.start()
    work()
    done.set()
    t.join()
    return max(peak, anon()) - base

src, dest = Path(sys.argv[1]), Path(sys.argv[2])
reader = read_pod5 if src.suffix == ".pod5" else read_blow5
reader(src)  # loads the modules
out = {"read": peak_growth(lambda: reader(src)), "import": peak_growth(lambda: import_sz(src, dest))}
print(json.dumps(out))
"""


def memory(path: Path) -> dict[str, int]:
    """Peak growth of anonymous RSS (sampled every ms) while reading, then importing, `path`,
    in a fresh process; file-backed pages (pod5 maps its file) are not counted."""
    dest = OUT / "memory.sz"
    shutil.rmtree(dest, ignore_errors=True)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEMORY_PROBE,
            str(path),
            str(dest),
            str(Path(__file__).parent),
            json.dumps(THREADS),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    shutil.rmtree(dest, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def breakdown(repeats: int, copies: int) -> str:
    """Where an import's time goes, in ns per sample over the 117 real reads: the
    readers' decoding against SZ's encoding (streamvbyte, then zstd at levels 1 and 3)."""
    import zstandard

    from xsz.codec import encode_payload

    z = _signal_sample()
    reads = np.split(z["signal"], z["offsets"][1:-1])
    n = len(z["signal"])

    def best(work: Callable[[], object]) -> float:
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            work()
            times.append(time.perf_counter() - t)
        return min(times) / n * 1e9

    payloads = [encode_payload(r) for r in reads]
    rows = [
        (
            "pod5: `Reader.reads()` + `.signal` (large.pod5)",
            best(lambda: read_pod5(OUT / "large.pod5")) / copies,
            "",
        ),
        (
            "pyslow5: `seq_reads()` (large.blow5)",
            best(lambda: read_blow5(OUT / "large.blow5")) / copies,
            "",
        ),
        (
            "pyslow5: `seq_reads_multi(threads=2, batchsize=32)` (large.blow5)",
            best(lambda: read_blow5_threaded(OUT / "large.blow5")) / copies,
            "",
        ),
        (
            "SZ: streamvbyte + zigzag-delta (`encode_payload`)",
            best(lambda: [encode_payload(r) for r in reads]),
            "",
        ),
    ]
    for level in (1, 3):
        c = zstandard.ZstdCompressor(level=level)
        size = sum(len(c.compress(p)) for p in payloads) / n
        rows.append(
            (
                f"SZ: zstd level {level} of those payloads",
                best(lambda c=c: [c.compress(p) for p in payloads]),
                f"{size:.3f}",
            )
        )
    lines = ["| step | ns / sample | bytes / sample |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {ns:.2f} | {size} |" for name, ns, size in rows]
    head = "| while the main thread reads | a zstd thread does, of what it does alone (median) |"
    lines += ["", head, "| --- | ---: |"]
    for name, reader in (("large.pod5", read_pod5), ("large.blow5", read_blow5)):
        share = statistics.median(
            starved(lambda r=reader, n=name: r(OUT / n), payloads) for _ in range(repeats)
        )
        lines.append(f"| {name} ({reader.__name__}) | {share:.0%} |")
    return "\n".join(lines)


def starved(read: Callable[[], object], payloads: list[bytes]) -> float:
    """How much work a thread compressing with zstd (which releases the GIL) gets done
    while `read` runs in the main thread, against the same thread running alone."""
    import threading

    import zstandard

    c = zstandard.ZstdCompressor(level=1)
    t = time.perf_counter()
    for p in payloads:
        c.compress(p)
    per_byte = (time.perf_counter() - t) / sum(len(p) for p in payloads)
    stop = threading.Event()
    done = [0]  # bytes compressed, counted per payload (a whole pass is too coarse)

    def loop() -> None:
        while not stop.is_set():
            for p in payloads:
                c.compress(p)
                done[0] += len(p)
                if stop.is_set():
                    break

    worker = threading.Thread(target=loop)
    t = time.perf_counter()
    worker.start()
    read()
    wall = time.perf_counter() - t
    stop.set()
    worker.join()
    return done[0] * per_byte / wall


def largest_read(path: Path, fmt: str) -> int:
    if fmt == "pod5":
        import pod5

        with pod5.Reader(path) as reader:
            return max(r.num_samples for r in reader.reads())
    import pyslow5

    f = pyslow5.Open(str(path), "r")
    n = max(r["len_raw_signal"] for r in f.seq_reads())
    f.close()
    return int(n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--copies", type=int, default=20, help="copies of the 117 real reads in the large files"
    )
    parser.add_argument("--threads", type=int, help="encoder threads (default: import_reads's)")
    parser.add_argument("--breakdown", action="store_true", help="also time the steps (ns/sample)")
    parser.add_argument("--out", type=Path, help="also write the markdown here")
    args = parser.parse_args(argv)
    if args.threads is not None:
        THREADS["n_threads"] = args.threads
    if not (DATA / "signal_sample.npz").is_file():
        print(f"needs the real data at {DATA} (set XSZ_SHARED)", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    large_pod5, large_blow5 = OUT / "large.pod5", OUT / "large.blow5"
    make_pod5(large_pod5, args.copies)
    make_blow5(large_blow5, args.copies)
    inputs = [(p, DATA / p, "pod5" if p.endswith(".pod5") else "blow5") for p in REAL]
    inputs += [
        (f"large.pod5 (117 real reads x {args.copies})", large_pod5, "pod5"),
        (f"large.blow5 (117 real reads x {args.copies})", large_blow5, "blow5"),
    ]
    best = timings(inputs, args.repeats)
    rows = []
    for name, path, fmt in inputs:
        b = best[name]
        mem = memory(path)
        rows.append(
            f"| {name} | {path.stat().st_size / 1e6:.1f} | {int(b['samples']):,} | "
            f"{b['read'] * 1e3:.1f} | {b['import'] * 1e3:.1f} | **{b['read'] / b['import']:.2f}** | "
            f"{largest_read(path, fmt) * 2 / 1e6:.1f} | {mem['read'] / 1e6:.1f} | "
            f"{mem['import'] / 1e6:.1f} |"
        )
    command = "python bench/bench_import.py " + " ".join(argv if argv is not None else sys.argv[1:])
    import pod5
    import pyslow5  # noqa: F401

    text = "\n".join(
        [
            "## Import: pod5 / BLOW5 -> SZ against reading with pod5 / pyslow5",
            "",
            (
                f"Command: `{command.strip()}` (min of {args.repeats} interleaved repeats; "
                f"import = `xsz.convert.import_reads({', '.join(f'{k}={v}' for k, v in THREADS.items())})`)."
            ),
            (
                f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
                f"{platform.python_version()}, pod5 {pod5.__version__}, pyslow5 1.5.0, numpy {np.__version__}."
            ),
            "",
            (
                "| input | MB | samples | read ms | import ms | read / import | largest read MB "
                "(int16) | read: peak memory MB | import: peak memory MB |"
            ),
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
        ]
    )
    if args.breakdown:
        text += "\n" + breakdown(args.repeats, args.copies) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
