"""Import speed at the size of a run: `xsz convert` against `pod5 merge` and the readers.

Run by hand (not part of the tests)::

    .venv/bin/python bench/bench_import_speed.py                       # 1 M short reads, 2 GB
    .venv/bin/python bench/bench_import_speed.py --short 100000 --realistic-mb 300 --rounds 2

Corpora (made once under ``--work``, kept for the next run):

- ``short``: ``--short`` reads of 1,000 samples each, slices of the real reads of
  ``signal_sample.npz`` (so the values, and how they compress, are real), written
  with ``pod5.Writer`` and with pyslow5 (BLOW5: zstd records, svb-zd signal);
- ``realistic``: the 117 real reads of ``signal_sample.npz`` again and again under
  new read IDs, until the pod5 file is ``--realistic-mb`` MB.

For each pod5 corpus, interleaved in one process, ``--rounds`` times (best of each):
``xsz convert x.pod5 x.sz`` (the command, in a child process), ``pod5 merge x.pod5
-o y.pod5`` (pod5's own command, the peer), and reading every signal with
``pod5.Reader`` (in this process). For each BLOW5 corpus: ``xsz convert x.blow5
x.sz`` against reading every signal with pyslow5 (``seq_reads``, and
``seq_reads_multi`` with 2 threads, slow5tools' own way to read a file fast).
Ratios are the peer's time over xsz's (above 1: xsz is faster). CPU is user +
system time of all threads (children included) in the best round: on a machine
shared with other work, wall times stretch with the load, CPU times much less.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from _timing import load_sample, machine, pod5_run_info

BIN = Path(sys.executable).parent
SHORT = 1_000
"""Samples of a short read."""


def _run_info():  # type: ignore[no-untyped-def]

    return pod5_run_info(
        acquisition_id="bench-run",
        context_tags={"sample_frequency": "4000"},
        flow_cell_id="FAK00000",
        flow_cell_product_code="FLO-MIN106",
        sequencing_kit="sqk-lsk109",
        sequencer_position="MN00000",
        sequencer_position_type="minion",
        system_name="",
        system_type="",
        tracking_id={"run_id": "bench-run"},
    )


def _signals(kind: str, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`n` signals: real slices of 1,000 samples (short) or the real reads in turn."""
    reads, _ = load_sample()
    if kind == "realistic":
        return [reads[k % len(reads)] for k in range(n)]
    whole = np.concatenate(reads)
    starts = rng.integers(0, len(whole) - SHORT, n)
    return [whole[s : s + SHORT] for s in starts]


def _reads_needed(kind: str, n_short: int, realistic_mb: int) -> int:
    if kind == "short":
        return n_short
    reads, _ = load_sample()
    per_read = sum(len(r) for r in reads) / len(reads) * 0.8  # pod5 bytes a read, about
    return int(realistic_mb * 1e6 / per_read)


def make_pod5(path: Path, kind: str, n: int) -> None:
    import pod5

    rng = np.random.default_rng(11)
    run = _run_info()
    reason = pod5.EndReason.from_reason_with_default_forced(pod5.EndReasonEnum.SIGNAL_POSITIVE)
    _, z = load_sample()
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with pod5.Writer(tmp) as writer:
        for first in range(0, n, 10_000):
            m = min(10_000, n - first)
            signals = _signals(kind, m, rng) if kind == "short" else None
            batch = []
            for k in range(m):
                i = first + k
                j = i % len(z["read_id"])
                signal = signals[k] if signals is not None else _signals_one(z, j)
                batch.append(
                    pod5.Read(
                        read_id=uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i),
                        pore=pod5.Pore(channel=1 + i % 512, well=1 + i % 4, pore_type="not_set"),
                        calibration=pod5.Calibration(
                            offset=float(z["offset"][j]), scale=float(z["scale"][j])
                        ),
                        read_number=i,
                        start_sample=i * 4000,
                        median_before=180.0 + (i % 100) / 8,
                        end_reason=reason,
                        run_info=run,
                        signal=signal,
                    )
                )
            writer.add_reads(batch)
    tmp.rename(path)


def _signals_one(z: dict, j: int) -> np.ndarray:
    return z["signal"][z["offsets"][j] : z["offsets"][j + 1]]


def make_blow5(path: Path, kind: str, n: int) -> None:
    import pyslow5

    rng = np.random.default_rng(11)
    _, z = load_sample()
    tmp = path.with_suffix(".tmp.blow5")
    tmp.unlink(missing_ok=True)
    f = pyslow5.Open(str(tmp), "w")
    header, labels = f.get_empty_header(aux=True)
    header = dict.fromkeys(header, "") | {"run_id": "bench-run", "sample_frequency": "4000"}
    f.write_header(header, end_reason_labels=labels)
    for first in range(0, n, 10_000):
        m = min(10_000, n - first)
        signals = _signals(kind, m, rng) if kind == "short" else None
        records, auxes = {}, {}
        for k in range(m):
            i = first + k
            j = i % len(z["read_id"])
            signal = signals[k] if signals is not None else _signals_one(z, j)
            record, aux = f.get_empty_record(aux=True)
            read_id = str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i))
            record.update(
                read_id=read_id,
                read_group=0,
                digitisation=float(z["digitisation"][j]),
                offset=float(z["offset"][j]),
                range=float(z["range"][j]),
                sampling_rate=4000.0,
                len_raw_signal=len(signal),
                signal=signal,
            )
            aux.update(
                channel_number=str(1 + i % 512),
                median_before=180.0,
                read_number=i,
                start_mux=1 + i % 4,
                start_time=i * 4000,
                end_reason=0,
            )
            records[read_id], auxes[read_id] = record, aux
        f.write_record_batch(records, threads=2, batchsize=1000, aux=auxes)
    f.close()
    tmp.rename(path)


def corpus(work: Path, kind: str, fmt: str, n: int) -> Path:
    path = work / f"{kind}-{n}.{fmt}"
    if not path.exists():
        t = time.perf_counter()
        (make_pod5 if fmt == "pod5" else make_blow5)(path, kind, n)
        print(
            f"made {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s"
        )
    return path


# --- what is timed --------------------------------------------------------------------


def xsz_convert(src: Path, dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    subprocess.run([str(BIN / "xsz"), "convert", "-q", str(src), str(dest)], check=True)


def import_in_process(src: Path, dest: Path, *, blocks: bool) -> None:
    """`import_reads` in this process, pod5 a block at a time or read by read (the
    path before issue 11, `xsz.convert._import.BLOCKS`)."""
    import xsz.convert._import as im
    from xsz.convert import import_reads

    im.BLOCKS = blocks
    try:
        import_reads(src, dest, overwrite=True)
    finally:
        im.BLOCKS = True


def pod5_merge(src: Path, dest: Path) -> None:
    dest.unlink(missing_ok=True)
    subprocess.run(
        [str(BIN / "pod5"), "merge", str(src), "-o", str(dest)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def pod5_read(src: Path) -> int:
    import pod5

    n = 0
    with pod5.Reader(src) as reader:
        for read in reader.reads():
            n += len(read.signal)
    return n


def blow5_read(src: Path, threads: int = 0) -> int:
    import pyslow5

    f = pyslow5.Open(str(src), "r")
    n = 0
    reads = f.seq_reads_multi(threads=threads, batchsize=1000) if threads else f.seq_reads()
    for read in reads:
        n += len(read["signal"])
    f.close()
    return n


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its finished children."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def best(cases: dict[str, Callable[[], object]], rounds: int) -> dict[str, tuple[float, float]]:
    """Each case's best wall time over `rounds` interleaved rounds, and the CPU time
    (all threads, children included) of that round."""
    out = {name: (float("inf"), 0.0) for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            c = _cpu()
            t = time.perf_counter()
            fn()
            wall = time.perf_counter() - t
            if wall < out[name][0]:
                out[name] = (wall, _cpu() - c)
    return out


def breakdown(src: Path, work: Path) -> list[str]:
    """Where an import of `src` spends its CPU, stage by stage, one thread (process
    time): the main thread's blocks (IDs, index cells) and `SZWriter.put_encoded`,
    and each step of `Block.encode` (the encoding threads' work)."""
    import zstandard

    from xsz.convert._blocks import kernels
    from xsz.convert._pod5 import Pod5Source
    from xsz.convert._read_fields import import_schema
    from xsz.format import SZWriter

    k = kernels()
    spent = dict.fromkeys(
        [
            "blocks (main)",
            "zstd decompress",
            "vbz_to_svb",
            "zstd compress",
            "join_crc",
            "put_encoded (main)",
        ],
        0.0,
    )
    source = Pod5Source(src)
    t = time.process_time()
    blocks = [b for _, _, b in source.blocks() if b is not None]
    spent["blocks (main)"] = time.process_time() - t
    dest = work / "breakdown.sz"
    shutil.rmtree(dest, ignore_errors=True)
    writer = SZWriter(dest, import_schema(basecalls=False), n_threads=0)
    n_samples = n_reads = 0
    for b in blocks:
        n_samples += int(b.counts.sum())
        n_reads += len(b.read_ids)
        t = time.process_time()
        sources = zstandard.BufferWithSegmentsCollection(
            *(zstandard.BufferWithSegments(buf, segs) for buf, segs in b.chunks)
        )
        plain = zstandard.ZstdDecompressor().multi_decompress_to_buffer(sources, threads=0)
        svb = [plain[i] for i in range(len(plain))]
        if b.reorder is not None:
            svb = [svb[i] for i in b.reorder.tolist()]
        t = _step(spent, "zstd decompress", t)
        payloads, segments, _ = k.vbz_to_svb(svb, b.samples, b.read_chunks)
        t = _step(spent, "vbz_to_svb", t)
        cctx = zstandard.ZstdCompressor(level=1, write_content_size=True, write_checksum=True)
        frames = cctx.multi_compress_to_buffer(
            zstandard.BufferWithSegments(payloads, segments), threads=0
        )
        t = _step(spent, "zstd compress", t)
        blob, crcs, sizes = k.join_crc([frames[i] for i in range(len(frames))])
        t = _step(spent, "join_crc", t)
        writer.put_encoded(
            b.read_ids,
            b.cells,
            blob,
            np.frombuffer(sizes, np.int64),
            b.counts,
            np.frombuffer(crcs, np.uint32),
            checksummed=True,
        )
        _step(spent, "put_encoded (main)", t)
    writer.close()
    shutil.rmtree(dest, ignore_errors=True)
    source.close()
    rows = [
        f"| {src.name}: {name} | {sec / n_samples * 1e9:.2f} | {sec / n_reads * 1e6:.2f} |"
        for name, sec in spent.items()
    ]
    total = sum(spent.values())
    rows.append(
        f"| {src.name}: all (one thread) | {total / n_samples * 1e9:.2f} | "
        f"{total / n_reads * 1e6:.2f} |"
    )
    return rows


def _step(spent: dict[str, float], name: str, t: float) -> float:
    now = time.process_time()
    spent[name] += now - t
    return now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=1_000_000, help="short reads (1,000 samples)")
    parser.add_argument("--realistic-mb", type=int, default=2_000, help="MB of realistic pod5")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/xsz-bench-import"))
    parser.add_argument("--only", choices=["pod5", "blow5"], default=None)
    parser.add_argument(
        "--plain", action="store_true", help="also import_reads read by read (pod5), in process"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="only the CPU of each stage (pod5 corpora)"
    )
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    dest = args.work / "out.sz"
    merged = args.work / "merged.pod5"
    print(f"# {machine()}; load {os.getloadavg()[0]:.1f} at start")
    if args.breakdown:
        print("| stage | ns / sample | µs / read |\n| --- | ---: | ---: |")
        for kind in ("short", "realistic"):
            src = corpus(
                args.work, kind, "pod5", _reads_needed(kind, args.short, args.realistic_mb)
            )
            print("\n".join(breakdown(src, args.work)), flush=True)
        return 0
    rows = []
    for kind in ("short", "realistic"):
        n = _reads_needed(kind, args.short, args.realistic_mb)
        for fmt in ("pod5", "blow5"):
            if args.only and fmt != args.only:
                continue
            src = corpus(args.work, kind, fmt, n)
            if fmt == "pod5":
                cases: dict[str, Callable[[], object]] = {
                    "xsz convert": lambda s=src: xsz_convert(s, dest),
                    "pod5 merge": lambda s=src: pod5_merge(s, merged),
                    "pod5 read all": lambda s=src: pod5_read(s),
                }
                if args.plain:
                    cases["import_reads, blocks (in process)"] = lambda s=src: import_in_process(
                        s, dest, blocks=True
                    )
                    cases["import_reads, read by read (in process)"] = lambda s=src: (
                        import_in_process(s, dest, blocks=False)
                    )
            else:
                cases = {
                    "xsz convert": lambda s=src: xsz_convert(s, dest),
                    "pyslow5 seq_reads": lambda s=src: blow5_read(s),
                    "pyslow5 seq_reads_multi 2 threads": lambda s=src: blow5_read(s, 2),
                }
            t = best(cases, args.rounds)
            mine, mine_cpu = t["xsz convert"]
            for name, (sec, cpu) in t.items():
                rows.append(
                    f"| {kind} | {fmt} | {n:,} | {src.stat().st_size / 1e6:,.0f} | {name} | "
                    f"{sec:.2f} | **{sec / mine:.2f}x** | {cpu:.2f} | {cpu / mine_cpu:.2f}x |"
                )
            print("\n".join(rows[-len(t) :]), flush=True)
    print(f"\nload {os.getloadavg()[0]:.1f} at end\n")
    print(
        "| corpus | format | reads | MB | what | best s | its time / xsz convert's | "
        "CPU s | its CPU / xsz convert's |"
    )
    print("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    shutil.rmtree(dest, ignore_errors=True)
    merged.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
