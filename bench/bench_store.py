"""Issue 3 benchmarks: SZStore against xsz.format, reading and writing real reads.

    .venv/bin/python bench/bench_store.py [--rounds 11]

Reads every ``Raw`` chunk through zarr (``zarr.open_array(SZStore(path), path="Raw")[:]``)
and the same reads with ``SZReader.dataset("Raw")``; writes the same reads through zarr
into ``SZStore(path, read_only=False)`` (the hierarchy, by ``SZStore.create_hierarchy`` or
by zarr's ``create_array``; the values with zarr, ``raw[:] = signal``; ``close()``) and
with ``CompressedFile.put_chunk``. Best of N interleaved rounds
(`bench/_timing.py`), so ratios come from one run. The page cache is warm: these are
CPU figures. The same reads four times over show how fixed costs fade with size; a
synthetic store of 2,000 short reads (4,000 samples) shows zarr's cost per chunk
where decoding costs little. Needs ../shared/data/signal_sample.npz.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import zarr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best_times, load_sample, machine

from xsz import SZStore
from xsz.api import CompressedFile
from xsz.codec import BATCHED_PIPELINE, FUSED_PIPELINE, SvbZstdCodec
from xsz.format import Schema, SZReader, SZWriter

if TYPE_CHECKING:
    from collections.abc import Callable

ATTRS = [("ID", str), ("offset", np.float64), ("range", np.float64), ("digitisation", np.float64)]
FUSED = {"codec_pipeline.path": FUSED_PIPELINE}
BATCHED_1 = {"codec_pipeline.path": BATCHED_PIPELINE, "codec_pipeline.batch_size": 1}
BATCHED_16 = {"codec_pipeline.path": BATCHED_PIPELINE, "codec_pipeline.batch_size": 16}
Record = tuple[str, float, float, float, np.ndarray]


def real_reads() -> list[Record]:
    signals, z = load_sample()
    return [
        (
            str(z["read_id"][i]),
            float(z["offset"][i]),
            float(z["range"][i]),
            float(z["digitisation"][i]),
            raw,
        )
        for i, raw in enumerate(signals)
    ]


def short_reads(n: int = 2000, length: int = 4000) -> list[Record]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        levels = np.repeat(rng.normal(550, 80, length // 9 + 1), 9)[:length]
        raw = np.clip(levels + rng.normal(0, 9, length), 300, 900).astype(np.int16)
        out.append((f"short_{i:05d}", 0.0, 1.0, 2048.0, raw))
    return out


def reading(path: Path, rounds: int) -> dict[str, float]:
    """`Raw` of every read: SZReader.dataset, and zarr[:] through SZStore per pipeline."""
    reader = SZReader(path)
    arrays = {}
    for name, settings in [("fused", FUSED), ("batched 1", BATCHED_1), ("batched 16", BATCHED_16)]:
        with zarr.config.set(settings):  # the pipeline is made when the array is opened
            arrays[name] = zarr.open_array(SZStore(path), path="Raw", mode="r")
    best = best_times(
        {
            "SZReader.dataset, 1 thread": lambda: reader.dataset("Raw", n_threads=1),
            "SZReader.dataset, 2 threads": lambda: reader.dataset("Raw", n_threads=2),
            "zarr[:], fused pipeline (xsz's setting)": lambda: arrays["fused"][:],
            "zarr[:], zarr's default pipeline, batch_size 1": lambda: arrays["batched 1"][:],
            "zarr[:], zarr's default pipeline, batch_size 16": lambda: arrays["batched 16"][:],
        },
        rounds=rounds,
    )
    reader.close()
    return best


def writing(
    work: Path, reads: list[Record], rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    """put_chunk, and zarr into a writing SZStore; also the best time spent in close()."""
    n = len(reads)
    ids = np.array([r[0] for r in reads], dtype=object)
    counts = np.array([len(r[4]) for r in reads])
    signal = np.concatenate([r[4] for r in reads])
    closing: dict[str, float] = {}

    def put_chunk() -> None:
        with CompressedFile(
            work / "put_chunk.sz", mode="w", attributes=ATTRS, datasets=[("Raw", np.int16)]
        ) as f:
            f.put_chunk(reads)

    schema = Schema.build(ATTRS, [("Raw", np.int16)])

    def through_zarr(
        name: str, settings: dict[str, object], *, by_xsz: bool = True, empty_chunks: bool = False
    ) -> Callable[[], None]:
        def run() -> None:
            with zarr.config.set(settings):
                store = SZStore(work / "zarr.sz", read_only=False)
                if by_xsz:  # the documents of the SZ layout, written directly
                    store.create_hierarchy(schema, n_reads=n, counts={"Raw": counts})
                    g = zarr.open_group(store, mode="r+")
                    for k, (attr, _) in enumerate(ATTRS[1:], start=1):
                        g[attr][:] = np.array([r[k] for r in reads])
                else:  # the same hierarchy built with zarr's create_array
                    g = zarr.open_group(store, mode="w")
                    g.create_array(
                        "read", shape=(n,), dtype=str, chunks=(n,), dimension_names=["read"]
                    )
                    for k, (attr, _) in enumerate(ATTRS[1:], start=1):
                        g.create_array(
                            attr,
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
                    g.create_array(
                        "Raw",
                        shape=signal.shape,
                        dtype="int16",
                        chunks=[counts.tolist()],
                        serializer=SvbZstdCodec(),
                        compressors=None,
                        dimension_names=["Raw_sample"],
                    )
                g["read"][:] = ids
                raw = zarr.open_array(
                    store, path="Raw", mode="r+", config={"write_empty_chunks": empty_chunks}
                )
                raw[:] = signal
                start = time.perf_counter()
                store.close()
                closing[name] = min(closing.get(name, float("inf")), time.perf_counter() - start)

        return run

    cases = {"CompressedFile.put_chunk": put_chunk}
    for name, settings, options in [
        ("zarr -> SZStore.create_hierarchy, fused pipeline (xsz's setting)", FUSED, {}),
        (
            "zarr -> SZStore.create_hierarchy, fused, Raw write_empty_chunks=True",
            FUSED,
            {"empty_chunks": True},
        ),
        ("zarr -> SZStore, hierarchy by zarr's create_array, fused", FUSED, {"by_xsz": False}),
        ("zarr -> SZStore.create_hierarchy, zarr's default pipeline", BATCHED_1, {}),
    ]:
        cases[name] = through_zarr(name, settings, **options)

    def clean() -> None:
        for path in work.glob("*.sz"):
            shutil.rmtree(path)

    return best_times(cases, rounds=rounds, setup=clean), closing


def table(
    title: str, best: dict[str, float], n_chunks: int, closing: dict[str, float] | None = None
) -> None:
    base = next(iter(best.values()))
    print(f"\n### {title}\n")
    print("| case | best time | of which close() | ratio to the first | extra per chunk |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, seconds in best.items():
        extra = (seconds - base) / n_chunks * 1e6
        shut = f"{closing[name] * 1e3:.1f} ms" if closing and name in closing else ""
        per_chunk = f"{extra:.0f} µs" if "zarr" in name else ""
        print(f"| {name} | {seconds * 1e3:.1f} ms | {shut} | {base / seconds:.2f}x | {per_chunk} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args(argv)
    print(f"Machine: {machine()}; zarr {zarr.__version__}.")
    real = real_reads()
    four = [(f"{r[0]}-{k}", *r[1:]) for k in range(4) for r in real]  # IDs stay unique
    with tempfile.TemporaryDirectory(prefix="xsz-bench-") as tmp:
        work = Path(tmp)
        for label, reads in [
            ("real reads", real),
            ("real reads x4", four),
            ("short reads", short_reads()),
        ]:
            path = work / "reads.sz"
            shutil.rmtree(path, ignore_errors=True)
            with SZWriter(path, Schema.build(ATTRS, [("Raw", np.int16)])) as writer:
                writer.put_many(reads)
            n, samples = len(reads), sum(len(r[4]) for r in reads)
            what = f"{label}: {n} reads, {samples:,} int16 samples, one chunk per read"
            table(f"Reading {what}", reading(path, args.rounds), n)
            out = work / "written"
            out.mkdir(exist_ok=True)
            best, closing = writing(out, reads, args.rounds)
            table(f"Writing {what}", best, n, closing)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"\n(ran in {time.perf_counter() - t0:.0f} s)")
