"""xsz against pod5 and BLOW5 (pyslow5) on the same real reads: the README's table.

    .venv/bin/python bench/run.py [--rounds N] [--threads T]

The 117 real reads of ../shared/data/signal_sample.npz (raw int16 signal with
calibration) are written by each library, read back in full (open, read every
signal, close), fetched 1,000 at random by read ID from an open file (one
lookup at a time, and as one batch), and the files' sizes compared. xsz writes
at zstd level 3 by default (pysz's frames); a row shows it at level 1, what
pod5's VBZ uses. Every case runs in this one process, interleaved over several
rounds, best time kept; the ratio column is xsz's speed over the peer's. Before
each write the files of the last one are removed and ``os.sync()`` run, outside
the timing: xsz fsyncs its store before it appears (pod5 and pyslow5 do not),
and on ext4 that fsync would also write back the previous case's files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best_times, load_sample, machine, pod5_run_info

from xsz.format import Schema, SZReader, SZWriter

SCHEMA = Schema.build(
    [
        ("ID", str),
        ("offset", np.float32),
        ("range", np.float32),
        ("digitisation", np.float32),
        ("sampling_rate", np.float32),
    ],
    [("Raw", np.int16)],
)


def write_xsz(path: Path, reads: list, z: dict, threads: int, level: int = 3) -> None:
    with SZWriter(path, SCHEMA, n_threads=threads, level=level) as writer:
        for i, raw in enumerate(reads):
            writer.put(
                str(z["read_id"][i]),
                z["offset"][i],
                z["range"][i],
                z["digitisation"][i],
                z["sampling_rate"][i],
                raw,
            )


def write_pod5(path: Path, reads: list, z: object) -> None:
    import pod5

    run_info = pod5_run_info()
    with pod5.Writer(path) as writer:
        for i, raw in enumerate(reads):
            writer.add_read(
                pod5.Read(
                    read_id=uuid.UUID(str(z["read_id"][i])),
                    pore=pod5.Pore(channel=1, well=1, pore_type="x"),
                    calibration=pod5.Calibration(
                        offset=float(z["offset"][i]), scale=float(z["scale"][i])
                    ),
                    read_number=i,
                    start_sample=0,
                    median_before=0.0,
                    end_reason=pod5.EndReason(reason=pod5.EndReasonEnum.UNKNOWN, forced=False),
                    run_info=run_info,
                    signal=raw,
                )
            )


def write_blow5(path: Path, reads: list, z: object, threads: int) -> None:
    import pyslow5

    s5 = pyslow5.Open(str(path), "w", rec_press="zstd", sig_press="svb_zd")
    header = {k: "bench" if v is None else v for k, v in s5.get_empty_header().items()}
    s5.write_header(header)
    records = {}
    for i, raw in enumerate(reads):
        record = s5.get_empty_record()
        record.update(
            read_id=str(z["read_id"][i]),
            read_group=0,
            digitisation=float(z["digitisation"][i]),
            offset=float(z["offset"][i]),
            range=float(z["range"][i]),
            sampling_rate=float(z["sampling_rate"][i]),
            len_raw_signal=len(raw),
            signal=raw,
        )
        records[record["read_id"]] = record
    s5.write_record_batch(records, threads=threads, batchsize=len(records))
    s5.close()


def clean(tmp: Path) -> None:
    """Remove the files written so far, and have the disk take every byte written
    (outside the timing): xsz's fsync would otherwise also write back the previous
    case's files, which pod5 and pyslow5 leave to the kernel (ext4 commits its
    journal with the data of every file in it)."""
    for p in tmp.glob("w*"):
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    os.sync()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import pod5
    import pyslow5

    reads, z = load_sample()
    ids = [str(i) for i in z["read_id"]]
    mb = sum(r.nbytes for r in reads) / 1e6
    tmp = Path(tempfile.mkdtemp(prefix="xsz-run-"))
    n = iter(range(10**9))
    t = best_times(
        {
            "write xsz": lambda: write_xsz(tmp / f"w{next(n)}.sz", reads, z, args.threads),
            "write, zstd level 1 xsz": lambda: write_xsz(
                tmp / f"w{next(n)}.sz", reads, z, args.threads, 1
            ),
            "write pod5": lambda: write_pod5(tmp / f"w{next(n)}.pod5", reads, z),
            "write blow5": lambda: write_blow5(tmp / f"w{next(n)}.blow5", reads, z, args.threads),
        },
        rounds=args.rounds,
        setup=lambda: clean(tmp),
    )
    paths = {"xsz": tmp / "a.sz", "pod5": tmp / "a.pod5", "blow5": tmp / "a.blow5"}
    write_xsz(paths["xsz"], reads, z, args.threads)
    write_pod5(paths["pod5"], reads, z)
    write_blow5(paths["blow5"], reads, z, args.threads)

    sz = SZReader(paths["xsz"])
    p5 = pod5.Reader(paths["pod5"])
    s5 = pyslow5.Open(str(paths["blow5"]), "r")
    rng = np.random.default_rng(0)
    picks = [ids[k] for k in rng.integers(0, len(ids), 1000)]
    sz.row(picks[0])  # the ID table is built once per open store

    def check(name: str, got: list) -> None:
        want = dict(zip(ids, reads, strict=True))
        assert all(np.array_equal(a, want[i]) for i, a in got), name

    check("xsz", list(zip(ids, sz.dataset("Raw", n_threads=args.threads), strict=True)))
    check("pod5", [(str(r.read_id), r.signal) for r in p5.reads()])
    check("blow5", [(r["read_id"], r["signal"]) for r in s5.seq_reads(pA=False)])

    def read_all_xsz() -> None:
        with SZReader(paths["xsz"]) as reader:
            reader.dataset("Raw", n_threads=args.threads)

    def read_all_pod5() -> None:
        with pod5.Reader(paths["pod5"]) as reader:
            [r.signal for r in reader.reads()]

    def read_all_blow5() -> None:  # a pyslow5 handle reads sequentially once
        handle = pyslow5.Open(str(paths["blow5"]), "r")
        [r["signal"] for r in handle.seq_reads_multi(threads=args.threads, batchsize=100, pA=False)]
        handle.close()

    t.update(
        best_times(
            {
                "read all xsz": read_all_xsz,
                "read all pod5": read_all_pod5,
                "read all blow5": read_all_blow5,
                "1,000 by ID, one at a time xsz": lambda: [
                    sz.read(sz.row(i), ["Raw"]) for i in picks
                ],
                "1,000 by ID, one at a time pod5": lambda: [
                    next(p5.reads(selection=[i])).signal for i in picks
                ],
                "1,000 by ID, one at a time blow5": lambda: [
                    s5.get_read(i, pA=False)["signal"] for i in picks
                ],
                "1,000 by ID, one batch xsz": lambda: sz.dataset(
                    "Raw", sz.rows(picks), n_threads=args.threads
                ),
                "1,000 by ID, one batch pod5": lambda: [
                    r.signal for r in p5.reads(selection=picks)
                ],
                "1,000 by ID, one batch blow5": lambda: [
                    r["signal"]
                    for r in s5.get_read_list_multi(picks, threads=args.threads, pA=False)
                ],
            },
            rounds=args.rounds,
        )
    )

    def size(p: Path) -> int:
        return sum(f.stat().st_size for f in p.iterdir()) if p.is_dir() else p.stat().st_size

    print(f"Machine: {machine()}; {args.threads} threads where a library takes them.")
    print(f"Data: the 117 real reads of signal_sample.npz, {mb:.1f} MB of int16 signal.\n")
    print("| task | xsz | pod5 | BLOW5 (pyslow5) | xsz speed / pod5's | xsz speed / BLOW5's |")
    print("| --- | --- | --- | --- | --- | --- |")
    for task in ("write", "read all", "1,000 by ID, one at a time", "1,000 by ID, one batch"):
        a, b, c = (t[f"{task} {k}"] for k in ("xsz", "pod5", "blow5"))
        print(
            f"| {task} | {a * 1e3:.1f} ms | {b * 1e3:.1f} ms | {c * 1e3:.1f} ms "
            f"| {b / a:.2f}x | {c / a:.2f}x |"
        )
        if task == "write":  # the zstd level pod5 uses for VBZ
            a = t["write, zstd level 1 xsz"]
            print(
                f"| write, xsz at zstd level 1 (as VBZ) | {a * 1e3:.1f} ms | | | {b / a:.2f}x "
                f"| {c / a:.2f}x |"
            )
    sizes = {k: size(p) for k, p in paths.items()}
    print(
        f"| size on disk | {sizes['xsz'] / 1e6:.2f} MB | {sizes['pod5'] / 1e6:.2f} MB "
        f"| {sizes['blow5'] / 1e6:.2f} MB | {sizes['xsz'] / sizes['pod5']:.3f} of pod5 "
        f"| {sizes['xsz'] / sizes['blow5']:.3f} of BLOW5 |"
    )
    sz.close()
    p5.close()
    s5.close()
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
