"""SZStore against xsz.format, reading and writing the real nanopore reads (run by hand).

    .venv/bin/python bench/bench_store.py [--repeats 9] [--data ../shared/data/signal_sample.npz]

Reads every ``Raw`` chunk through zarr (``zarr.open_array(SZStore(path), path="Raw")[:]``)
and the same reads with ``SZReader.dataset("Raw")``; writes the same reads through zarr
into ``SZStore(path, read_only=False)`` (hierarchy, ``raw[:] = signal``, ``close()``) and
with ``CompressedFile.put_chunk``. Each case runs `--repeats` times, interleaved with the
others, and the minimum counts, so ratios come from one run on one machine state. The
page cache is warm: these are CPU figures. The same reads four times over show how
fixed costs fade with size; a synthetic store of 2,000 short reads (4,000 samples)
shows zarr's cost per chunk where decoding costs little.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zarr

from xsz import SZStore
from xsz.api import CompressedFile
from xsz.codec import SvbZstdCodec
from xsz.format import Schema, SZReader, SZWriter
from xsz.store._config import BATCHED_PIPELINE, FUSED_PIPELINE

ROOT = Path(__file__).resolve().parent.parent
ATTRS = [("ID", str), ("offset", np.float64), ("range", np.float64), ("digitisation", np.float64)]
PIPELINES = {
    "zarr, fused pipeline (xsz's setting)": {"codec_pipeline.path": FUSED_PIPELINE},
    "zarr, default pipeline, batch_size 1": {
        "codec_pipeline.path": BATCHED_PIPELINE,
        "codec_pipeline.batch_size": 1,
    },
    "zarr, default pipeline, batch_size 16": {
        "codec_pipeline.path": BATCHED_PIPELINE,
        "codec_pipeline.batch_size": 16,
    },
}


def load_reads(npz: Path) -> list[tuple[object, ...]]:
    z = np.load(npz)
    signal, offsets = z["signal"], z["offsets"]
    return [
        (
            str(z["read_id"][i]),
            float(z["offset"][i]),
            float(z["range"][i]),
            float(z["digitisation"][i]),
            signal[offsets[i] : offsets[i + 1]],
        )
        for i in range(len(z["read_id"]))
    ]


def short_reads(n: int = 2000, length: int = 4000) -> list[tuple[object, ...]]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        levels = np.repeat(rng.normal(550, 80, length // 9 + 1), 9)[:length]
        raw = np.clip(levels + rng.normal(0, 9, length), 300, 900).astype(np.int16)
        out.append((f"short_{i:05d}", 0.0, 1.0, 2048.0, raw))
    return out


def write_sz(path: Path, reads: list[tuple[object, ...]]) -> None:
    with SZWriter(path, Schema.build(ATTRS, [("Raw", np.int16)])) as writer:
        writer.put_many(reads)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start, 0.0


Case = Callable[[], tuple[float, float]]
"""A benchmark case: returns (seconds in all, seconds of them in SZStore.close)."""


def read_cases(path: Path) -> dict[str, Case]:
    def direct(n_threads: int) -> Case:
        def run() -> tuple[float, float]:
            with SZReader(path) as reader:
                return timed(lambda: reader.dataset("Raw", n_threads=n_threads))

        return run

    def through_zarr(settings: dict[str, object]) -> Case:
        def run() -> tuple[float, float]:
            with zarr.config.set(settings), SZStore(path) as store:
                array = zarr.open_array(store, path="Raw", mode="r")
                return timed(lambda: array[:])

        return run

    cases = {"SZReader.dataset (1 thread)": direct(1), "SZReader.dataset (2 threads)": direct(2)}
    return cases | {name: through_zarr(settings) for name, settings in PIPELINES.items()}


def write_cases(work: Path, reads: list[tuple[object, ...]]) -> dict[str, Case]:
    ids = np.array([r[0] for r in reads], dtype=object)
    counts = np.array([len(r[4]) for r in reads])
    signal = np.concatenate([r[4] for r in reads])

    def with_put_chunk() -> tuple[float, float]:
        path = work / "put_chunk.sz"
        shutil.rmtree(path, ignore_errors=True)
        start = time.perf_counter()
        with CompressedFile(path, mode="w", attributes=ATTRS, datasets=[("Raw", np.int16)]) as f:
            f.put_chunk(reads)
        return time.perf_counter() - start, 0.0

    def through_zarr(settings: dict[str, object], *, empty_chunks: bool = False) -> Case:
        def run() -> tuple[float, float]:
            path = work / "zarr.sz"
            shutil.rmtree(path, ignore_errors=True)
            n = len(reads)
            with zarr.config.set(settings):
                start = time.perf_counter()
                store = SZStore(path, read_only=False)
                try:
                    g = zarr.open_group(store, mode="w")
                    read = g.create_array(
                        "read", shape=(n,), dtype=str, chunks=(n,), dimension_names=["read"]
                    )
                    for k, (name, _) in enumerate(ATTRS[1:], start=1):
                        g.create_array(
                            name,
                            data=np.array([r[k] for r in reads]),
                            chunks=(n,),
                            dimension_names=["read"],
                        )
                    g.create_array(
                        "Raw_count",
                        data=counts,
                        chunks=(n,),
                        dimension_names=["read"],
                        attributes={"sample_dimension": "Raw_sample"},
                    )
                    raw = g.create_array(
                        "Raw",
                        shape=signal.shape,
                        dtype="int16",
                        chunks=[counts.tolist()],
                        serializer=SvbZstdCodec(),
                        compressors=None,
                        dimension_names=["Raw_sample"],
                        config={"write_empty_chunks": empty_chunks},
                    )
                    read[:] = ids
                    raw[:] = signal
                except BaseException:
                    store.discard()
                    raise
                closing = time.perf_counter()
                store.close()
                end = time.perf_counter()
            return end - start, end - closing

        return run

    fused, batched = (settings for name, settings in PIPELINES.items() if "16" not in name)
    return {
        "CompressedFile.put_chunk": with_put_chunk,
        "zarr, fused pipeline (xsz's setting)": through_zarr(fused),
        "zarr, fused pipeline, Raw with write_empty_chunks=True": through_zarr(
            fused, empty_chunks=True
        ),
        "zarr, default pipeline, batch_size 1": through_zarr(batched),
    }


def run(cases: dict[str, Case], repeats: int) -> dict[str, tuple[float, float]]:
    best = dict.fromkeys(cases, (float("inf"), 0.0))
    for _ in range(repeats):
        for name, case in cases.items():  # interleaved: drifts hit every case alike
            best[name] = min(best[name], case())
    return best


def report(title: str, best: dict[str, tuple[float, float]], base: str, n_chunks: int) -> None:
    print(f"\n### {title}\n")
    print("| case | min time | of which close() | ratio to first | extra per chunk |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (seconds, closing) in best.items():
        ratio = best[base][0] / seconds
        extra = (seconds - best[base][0]) / n_chunks * 1e6
        ours = not name.startswith(("SZReader", "Compressed"))
        print(
            f"| {name} | {seconds * 1e3:.1f} ms | {f'{closing * 1e3:.1f} ms' if closing else ''} "
            f"| {ratio:.2f}x | {f'{extra:.0f} µs' if ours else ''} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/signal_sample.npz")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, zarr {zarr.__version__}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="xsz-bench-") as tmp:
        work = Path(tmp)
        real = load_reads(args.data)
        four = [(f"{r[0]}-{k}", *r[1:]) for k in range(4) for r in real]  # IDs stay unique
        datasets = [("real reads", real), ("real reads x4", four), ("short reads", short_reads())]
        for label, reads in datasets:
            path = work / "reads.sz"
            shutil.rmtree(path, ignore_errors=True)
            write_sz(path, reads)
            n, samples = len(reads), sum(len(r[4]) for r in reads)
            what = f"{label}: {n} reads, {samples:,} int16 samples, one chunk per read"
            best = run(read_cases(path), args.repeats)
            report(f"Reading {what}", best, "SZReader.dataset (1 thread)", n)
            best = run(write_cases(work, reads), args.repeats)
            report(f"Writing {what}", best, "CompressedFile.put_chunk", n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
