"""Issue 11, the read side: decode per core and every read face on both cores, xsz vs pod5.

    .venv/bin/python bench/bench_decode.py [--reads 2000] [--short 20000] [--rounds 5]
        [--zarr-only]

Two corpora, made once under bench/out/ (ignored by git) from the real signal of
../shared/data/signal_sample.npz, each written with `SZWriter` and with pod5's
own `pod5.Writer` (VBZ) from the same int16 signals:

- realistic: `--reads` reads (default 2,000, ~110 MB of int16), windows of the
  real signal with lengths drawn from the real reads' lengths, scaled to 27,500
  samples a read on average (the issue's held-out corpus: 2,000 reads, 110 MB);
- short: `--short` reads (default 20,000) of 1,000 samples, windows of it too.

Per corpus, every case interleaved in this one process, best of `--rounds`
rounds (bench/_timing.py), stores open and page cache warm:

- read all `Raw`: `SZReader.read_into` with 1 and 2 threads, `SZReader.dataset`,
  `read_many` in batches of 1,000 reads (2 threads); pod5's `Reader.reads()`
  with `.signal` of each (its one reader thread);
- the bare decode of the same frames from memory (`decode_blocks_into`, 1
  thread), and pod5's VBZ signal decompression alone is part of its reader;
- `xr.open_dataset(path, engine="sz")["Raw"].values` (no dask) with the
  default `n_threads` (a thread a core) against ``n_threads=1``; with
  ``chunks={}``, ``.Raw.data.compute()`` as it comes (dask's threaded
  scheduler, a worker a core; the default `n_threads`) against ``n_threads=1``
  and one dask worker;
- zarr over `SZStore` (``zarr.open_array(SZStore(path), path="Raw")[:]``)
  against `SZReader.dataset` on 1 thread (realistic corpus only), with xsz's
  codec pipeline (what an SZStore selects) on a thread a core and on one, and
  with zarr's own fused pipeline; ``--zarr-only`` runs just these.

Last, `read_into` on one thread against the earlier decode path
(python-zstandard a frame, the scalar loops: what ``XSZ_NO_LIBZSTD=1
XSZ_NO_SIMD=1`` gives), in child processes taking turns, by CPU time.

Each case's best wall time and best process CPU time (all its threads) are
kept; ratios are of two cases of the same run, of wall times, and for the
one-thread cases also of CPU times: on a shared, loaded machine a one-thread
case's CPU time is its cost per core whatever share of a core it got, while
wall-time ratios of two threads need the second core free. "waiting for a
core" is the time the case's threads were runnable but not running in its best
round (``/proc/self/task/*/schedstat``): what other processes took. The load
average is printed with the tables.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import ROOT, load_sample, machine, pod5_run_info

from xsz.codec import decode_blocks_into
from xsz.format import Schema, SZReader, SZWriter

if TYPE_CHECKING:
    from collections.abc import Callable

OUT = ROOT / "bench" / "out"
SCHEMA = Schema.build(
    [("ID", str), ("offset", np.float64), ("scale", np.float64)], [("Raw", np.int16)]
)


def corpus(n: int, length: int | None, seed: int) -> list[np.ndarray]:
    """`n` windows of the real signal: of `length` samples, or of lengths drawn
    from the real reads' lengths."""
    reads, _ = load_sample()
    signal = np.concatenate(reads)
    rng = np.random.default_rng(seed)
    if length is not None:
        lengths = np.full(n, length)
    else:  # the real reads' spread of lengths, scaled to 27,500 samples a read on average
        drawn = rng.choice(np.array([len(r) for r in reads]), n)
        lengths = (drawn * (27_500 / drawn.mean())).astype(np.int64).clip(100, len(signal) // 2)
    starts = rng.integers(0, len(signal) - lengths)
    return [
        signal[s : s + k].copy() for s, k in zip(starts.tolist(), lengths.tolist(), strict=True)
    ]


def write_xsz(path: Path, reads: list[np.ndarray], ids: list[str]) -> None:
    with SZWriter(path, SCHEMA, n_threads=2) as w:
        for rid, raw in zip(ids, reads, strict=True):
            w.put(rid, 0.0, 1.0, raw)


def write_pod5(path: Path, reads: list[np.ndarray], ids: list[str]) -> None:
    import pod5

    run_info = pod5_run_info()
    with pod5.Writer(path) as writer:
        for i, (rid, raw) in enumerate(zip(ids, reads, strict=True)):
            writer.add_read(
                pod5.Read(
                    read_id=uuid.UUID(rid),
                    pore=pod5.Pore(channel=1, well=1, pore_type="x"),
                    calibration=pod5.Calibration(offset=0.0, scale=1.0),
                    read_number=i,
                    start_sample=0,
                    median_before=0.0,
                    end_reason=pod5.EndReason(reason=pod5.EndReasonEnum.UNKNOWN, forced=False),
                    run_info=run_info,
                    signal=raw,
                )
            )


def make(label: str, reads: list[np.ndarray]) -> tuple[Path, Path]:
    """The corpus as an SZ store and a pod5 file (made once; checked to hold `reads`)."""
    OUT.mkdir(parents=True, exist_ok=True)
    name = f"decode-{label}-{len(reads)}"
    sz, p5 = OUT / f"{name}.sz", OUT / f"{name}.pod5"
    ids = [str(uuid.UUID(int=i + 1)) for i in range(len(reads))]
    if not sz.exists():
        write_xsz(sz, reads, ids)
    if not p5.exists():
        write_pod5(p5, reads, ids)
    return sz, p5


def run_delay() -> float:
    """Seconds the threads of this process have waited for a core, runnable but
    not running (the second field of each task's ``/proc/.../schedstat``; 0
    where there is none)."""
    total = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 0.0
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as fh:
                total += int(fh.read().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


def best_wall_cpu(
    cases: dict[str, Callable[[], object]], rounds: int
) -> dict[str, tuple[float, float, float]]:
    """Each case's best wall time, best process CPU time (all threads) and the
    time its threads waited for a core in its best round (`run_delay`), over
    `rounds` interleaved rounds. On a loaded machine the CPU time of a one-thread
    case is its cost per core, whatever share of a core it got, and the wait
    shows how much of the wall time the other processes took."""
    best = {name: (float("inf"), float("inf"), 0.0) for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            wall, cpu, wait = time.perf_counter(), time.process_time(), run_delay()
            fn()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            wait = run_delay() - wait
            w, c, d = best[name]
            best[name] = (wall, min(c, cpu), wait) if wall < w else (w, min(c, cpu), d)
    return best


def bench(
    label: str, reads: list[np.ndarray], rounds: int
) -> list[tuple[str, float | None, str, str, str]]:
    import pod5
    import xarray as xr

    sz, p5 = make(label, reads)
    nbytes = sum(r.nbytes for r in reads)
    reader = SZReader(sz)
    rows = np.arange(len(reader))
    counts = reader.counts("Raw")
    out = np.empty(int(counts.sum()), np.int16)
    want = np.concatenate(reads)
    reader.read_into("Raw", rows, out, n_threads=2)
    assert np.array_equal(out, want), "the store does not hold the corpus"
    p5r = pod5.Reader(p5)
    got = {str(r.read_id): r.signal for r in p5r.reads()}
    assert np.array_equal(got[str(reader.ids[0])], reads[0]), "the pod5 file is not the corpus"

    # the frames in memory, for the bare decode
    offsets, sizes = reader.index.frame_offset["Raw"], reader.index.frame_size["Raw"]
    blob = reader.pread(int(offsets[-1] + sizes[-1] - offsets[0]), int(offsets[0]))
    blocks = [(blob, offsets - offsets[0], sizes)]
    positions = np.cumsum(counts) - counts

    def read_many() -> None:
        for k in range(0, len(rows), 1000):
            reader.read_many(rows[k : k + 1000], ["Raw"], n_threads=2)

    ds_default = xr.open_dataset(sz, engine="sz", cache=False)
    ds_one = xr.open_dataset(sz, engine="sz", cache=False, n_threads=1)
    ds_chunks = xr.open_dataset(sz, engine="sz", chunks={})
    ds_chunks_one = xr.open_dataset(sz, engine="sz", chunks={}, n_threads=1)
    cases = {
        "pod5 Reader, .signal of every read (1 thread)": lambda: [r.signal for r in p5r.reads()],
        "xsz bare decode_blocks_into, 1 thread": lambda: decode_blocks_into(
            blocks, counts, positions, out
        ),
        "xsz SZReader.read_into, 1 thread": lambda: reader.read_into("Raw", rows, out, n_threads=1),
        "xsz SZReader.read_into, 2 threads": lambda: reader.read_into(
            "Raw", rows, out, n_threads=2
        ),
        "xsz SZReader.dataset, 2 threads": lambda: reader.dataset("Raw", n_threads=2),
        "xsz read_many, batches of 1,000, 2 threads": read_many,
        "xr .Raw.values, n_threads=1": lambda: ds_one.Raw.values,
        "xr .Raw.values, default": lambda: ds_default.Raw.values,
        "xr chunks={} .Raw compute, n_threads=1, 1 dask worker": (
            lambda: ds_chunks_one.Raw.data.compute(scheduler="threads", num_workers=1)
        ),
        "xr chunks={} .Raw compute, default": lambda: ds_chunks.Raw.data.compute(),
    }
    if label == "realistic":
        cases.update(zarr_cases(reader, sz))
    both = best_wall_cpu(cases, rounds)
    t = {name: wall for name, (wall, _, _) in both.items()}
    c = {name: cpu for name, (_, cpu, _) in both.items()}
    pod5_case = "pod5 Reader, .signal of every read (1 thread)"
    rows_out: list[tuple[str, float | None, str, str, str]] = []
    for name, (wall, cpu, wait) in both.items():
        rows_out.append(
            (
                name,
                wall,
                f"{cpu * 1e3:.1f} ms",
                f"{wait * 1e3:.1f} ms",
                f"{nbytes / wall / 1e6:,.0f} MB/s",
            )
        )

    def ratio(slow: str, fast: str, cpu: bool = False) -> str:
        wall = f"{t[slow] / t[fast]:.2f}x"
        return f"{wall} (CPU time: {c[slow] / c[fast]:.2f}x)" if cpu else wall

    one, two = "xsz SZReader.read_into, 1 thread", "xsz SZReader.read_into, 2 threads"
    ratios = [
        ("decode per core: read_into 1 thread / pod5", ratio(pod5_case, one, cpu=True)),
        (
            "bare decode 1 thread / pod5",
            ratio(pod5_case, "xsz bare decode_blocks_into, 1 thread", cpu=True),
        ),
        ("read all, read_into 2 threads / pod5 1 reader", ratio(pod5_case, two)),
        ("read_into 2 threads / 1 thread", ratio(one, two)),
        ("dataset 2 threads / pod5", ratio(pod5_case, "xsz SZReader.dataset, 2 threads")),
        (
            "read_many batches 2 threads / pod5",
            ratio(pod5_case, "xsz read_many, batches of 1,000, 2 threads"),
        ),
        (
            "xr default / xr n_threads=1",
            ratio("xr .Raw.values, n_threads=1", "xr .Raw.values, default"),
        ),
        (
            "xr chunks={} default / one thread",
            ratio(
                "xr chunks={} .Raw compute, n_threads=1, 1 dask worker",
                "xr chunks={} .Raw compute, default",
            ),
        ),
    ]
    if label == "realistic":
        ratios.extend(zarr_ratios(ratio))
    for name, r in ratios:
        rows_out.append((name, None, "", "", r))
    reader.close()
    p5r.close()
    return rows_out


ZARR_FUSED = "zarr over SZStore, [:], zarr's fused pipeline"
ZARR_XSZ = "zarr over SZStore, [:]"
ZARR_NOTHING = "zarr over SZStore, [:], a pipeline reading nothing (zarr's own part)"


def zarr_cases(reader: SZReader, sz: Path) -> dict[str, Callable[[], object]]:
    """`SZReader.dataset` on one thread against zarr over `SZStore`: with xsz's
    pipeline (what an SZStore selects, `xsz.codec.SZCodecPipeline`), with zarr's
    own fused one (the pipeline before it), and with xsz's on one worker thread;
    `[:]` and a slice cutting the first and last reads' chunks."""
    import zarr

    from xsz import SZStore
    from xsz.codec import FUSED_PIPELINE, XSZ_PIPELINE

    store = SZStore(sz)
    with zarr.config.set({"codec_pipeline.path": FUSED_PIPELINE}):
        fused = zarr.open_array(store, path="Raw", mode="r")
    with zarr.config.set({"codec_pipeline.path": XSZ_PIPELINE}):
        ours = zarr.open_array(store, path="Raw", mode="r")
    want = np.concatenate(reader.dataset("Raw"))
    assert np.array_equal(ours[:], want) and np.array_equal(fused[:], want)
    cut = slice(12_345, len(want) - 12_345)

    def one_worker() -> object:
        with zarr.config.set({"codec_pipeline.max_workers": 1}):
            return ours[:]

    with zarr.config.set({"codec_pipeline.path": _no_read_pipeline()}):
        nothing = zarr.open_array(store, path="Raw", mode="r")

    return {
        "SZReader.dataset, 1 thread": lambda: reader.dataset("Raw", n_threads=1),
        ZARR_FUSED: lambda: fused[:],
        ZARR_XSZ: lambda: ours[:],
        "zarr over SZStore, [:], xsz's pipeline on 1 worker": one_worker,
        "zarr over SZStore, [12345:-12345], zarr's fused pipeline": lambda: fused[cut],
        "zarr over SZStore, [12345:-12345]": lambda: ours[cut],
        ZARR_NOTHING: lambda: nothing[:],
    }


def _no_read_pipeline() -> str:
    """A pipeline whose reads fetch and decode nothing (registered with zarr; its
    path): what is left of ``[:]`` is zarr's own cost per chunk before the
    pipeline (its indexer, a chunk spec and store path a chunk)."""
    from zarr.registry import fully_qualified_name, register_pipeline

    from xsz.codec import SZCodecPipeline

    class NoReadPipeline(SZCodecPipeline):
        async def read(self, batch_info, out, drop_axes=()):  # type: ignore[no-untyped-def]
            return tuple({"status": "present"} for _ in batch_info)

    register_pipeline(NoReadPipeline)
    return fully_qualified_name(NoReadPipeline)


def zarr_ratios(ratio: Callable[..., str]) -> list[tuple[str, str]]:
    one = "SZReader.dataset, 1 thread"
    return [
        ("zarr over SZStore / SZReader.dataset 1 thread", ratio(one, ZARR_XSZ, cpu=True)),
        ("same, zarr's fused pipeline (before)", ratio(one, ZARR_FUSED, cpu=True)),
        ("zarr, xsz's pipeline / zarr's fused", ratio(ZARR_FUSED, ZARR_XSZ, cpu=True)),
    ]


def bench_zarr(reads: list[np.ndarray], rounds: int) -> None:
    """Only the zarr cases (``--zarr-only``), on the realistic corpus."""
    sz, _ = make("realistic", reads)
    reader = SZReader(sz)
    both = best_wall_cpu(zarr_cases(reader, sz), rounds)
    nbytes = sum(r.nbytes for r in reads)
    print("| case | best wall | best CPU | waiting for a core | speed (wall) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (wall, cpu, wait) in both.items():
        print(
            f"| {name} | {wall * 1e3:.1f} ms | {cpu * 1e3:.1f} ms | {wait * 1e3:.1f} ms "
            f"| {nbytes / wall / 1e6:,.0f} MB/s |"
        )

    def ratio(slow: str, fast: str, cpu: bool = False) -> str:
        (ws, cs, _), (wf, cf, _) = both[slow], both[fast]
        return f"{ws / wf:.2f}x (CPU time: {cs / cf:.2f}x)" if cpu else f"{ws / wf:.2f}x"

    for name, r in zarr_ratios(ratio):
        print(f"| {name} | | | | {r} |")
    reader.close()


EARLIER = {"XSZ_NO_LIBZSTD": "1", "XSZ_NO_SIMD": "1"}
"""The environment that gives the earlier decode path: python-zstandard a frame,
the scalar streamvbyte loops."""
_CHILD = """
import sys, time
import numpy as np
from xsz.format import SZReader
reader = SZReader(sys.argv[1])
rows = np.arange(len(reader))
out = np.empty(int(reader.counts("Raw").sum()), np.int16)
best = float("inf")
for _ in range(int(sys.argv[2])):
    cpu = time.process_time()
    reader.read_into("Raw", rows, out)
    best = min(best, time.process_time() - cpu)
print(best)
"""


def against_earlier(path: Path, rounds: int) -> tuple[float, float]:
    """Best CPU time of `read_into` on one thread, this path and the earlier one
    (`EARLIER`), each in child processes taking turns for `rounds` rounds."""
    import subprocess

    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for k, extra in enumerate(({}, EARLIER)):
            env = {**os.environ, **extra}
            done = subprocess.run(
                [sys.executable, "-c", _CHILD, str(path), "3"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            best[k] = min(best[k], float(done.stdout))
    return best[0], best[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--short", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--zarr-only", action="store_true", help="only zarr over SZStore (realistic corpus)"
    )
    args = parser.parse_args()
    print(f"{machine()}; load avg before: {os.getloadavg()[0]:.2f}")
    if args.zarr_only:
        bench_zarr(corpus(args.reads, None, 11), args.rounds)
        print(f"\nload avg after: {os.getloadavg()[0]:.2f}")
        return
    for label, reads in (
        ("realistic", corpus(args.reads, None, 11)),
        ("short", corpus(args.short, 1000, 12)),
    ):
        n = sum(len(r) for r in reads)
        print(
            f"\n| {label}: {len(reads):,} reads, {n:,} samples ({2 * n / 1e6:.0f} MB) "
            "| best wall | best CPU | waiting for a core | speed (wall) |"
        )
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, s, cpu, wait, speed in bench(label, reads, args.rounds):
            cell = "" if s is None else f"{s * 1e3:.1f} ms"
            print(f"| {name} | {cell} | {cpu} | {wait} | {speed} |")
        now, before = against_earlier(make(label, reads)[0], args.rounds)
        print(
            f"| read_into 1 thread, CPU: this path {now * 1e3:.1f} ms, the earlier one "
            f"(python-zstandard, scalar loops) {before * 1e3:.1f} ms | | | | {before / now:.2f}x |"
        )
    print(f"\nload avg after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
