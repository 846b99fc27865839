"""Issue 4 benchmarks: the xarray engine "sz" against xsz.format's direct reads.

    .venv/bin/python bench/bench_xarray.py [--reads N] [--rounds R] [--large-rounds R] [--out FILE]

Two stores, made once under bench/out/ (ignored by git): the 117 real reads of
../shared/data/signal_sample.npz written with SZWriter, and a generated store
of `--reads` short reads (100..700 samples cut from the real signal, written
with SZWriter). For each store, in this one process, best of `--rounds`
(`--large-rounds` for the generated store) interleaved rounds (bench/_timing.py):

- ``xr.open_dataset(path, engine="sz")``: seconds, and the number of ``pread``
  calls it made on ``dat`` (0: only the index is read);
- all of ``Raw`` through the Dataset (``cache=False``, so each round decodes)
  against ``SZReader.dataset("Raw")``, the direct read (a list of arrays);
- ``chunks={}``: ``Raw`` computed by dask's threaded scheduler, 2 threads
  against 1, both loading the whole array (dask assembles it at the end, a
  serial copy) and summing it (each chunk reduced where it is decoded)
  against 1;
- 1,000 random read IDs selected at once (``ds.sel(read=ids).Raw.values``)
  against 1,000 separate ``ds.sel(read=id).Raw.values``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import ROOT, best_times, load_sample, machine

from xsz.format import Schema, SZReader, SZWriter

OUT = ROOT / "bench" / "out"


def make_real(path: Path) -> Path:
    if path.exists():
        return path
    reads, z = load_sample()
    schema = Schema.build(
        [
            ("ID", str),
            ("offset", np.float64),
            ("range", np.float64),
            ("digitisation", np.float64),
            ("scale", np.float64),
            ("sampling_rate", np.float64),
        ],
        [("Raw", np.int16)],
    )
    with SZWriter(path, schema) as w:
        w.put_many(
            zip(
                z["read_id"].tolist(),
                z["offset"],
                z["range"],
                z["digitisation"],
                z["scale"],
                z["sampling_rate"],
                reads,
                strict=True,
            )
        )
    return path


def make_large(path: Path, n: int) -> Path:
    if path.exists():
        return path
    reads, _ = load_sample()
    signal = np.concatenate(reads)
    rng = np.random.default_rng(0)
    lengths = rng.integers(100, 700, n)
    starts = rng.integers(0, len(signal) - 700, n)
    schema = Schema.build(
        [("ID", str), ("offset", np.float32), ("scale", np.float32)], [("Raw", np.int16)]
    )
    t = time.perf_counter()
    with SZWriter(path, schema, n_threads=2) as w:
        for a in range(0, n, 20_000):
            w.put_many(
                (f"read_{i:07d}", 10.0, 0.15, signal[starts[i] : starts[i] + lengths[i]])
                for i in range(a, min(n, a + 20_000))
            )
    print(f"made {path} ({n} reads) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return path


def count_preads(fn):
    calls = []
    real = os.pread

    def pread(fd, size, offset):
        calls.append(size)
        return real(fd, size, offset)

    os.pread = pread
    try:
        fn()
    finally:
        os.pread = real
    return len(calls)


def _ratio(x: float) -> str:
    return f"{x:.0f}x" if x >= 10 else f"{x:.2f}x"


def bench_store(label: str, path: Path, rounds: int) -> list[tuple[str, str, str]]:
    rows = []
    reader = SZReader(path)
    n = len(reader)
    mb = int(reader.counts("Raw").sum()) * 2 / 1e6
    preads = count_preads(lambda: xr.open_dataset(path, engine="sz"))
    t_open = best_times({"open": lambda: xr.open_dataset(path, engine="sz")}, rounds=rounds)["open"]
    rows.append((label, f"open_dataset ({n:,} reads)", f"{t_open:.3f} s, {preads} preads of dat"))

    ds = xr.open_dataset(path, engine="sz", cache=False)
    t = best_times(
        {"xr": lambda: ds.Raw.values, "direct": lambda: reader.dataset("Raw")}, rounds=rounds
    )
    rows.append(
        (
            label,
            f"all Raw ({mb:.0f} MB): Dataset vs SZReader.dataset",
            f"{t['xr']:.3f} s vs {t['direct']:.3f} s: **{t['direct'] / t['xr']:.2f}x**",
        )
    )

    dc = xr.open_dataset(path, engine="sz", chunks={})
    cases = {
        f"{k}": (lambda k=k: dc.Raw.data.compute(scheduler="threads", num_workers=k))
        for k in (1, 2)
    }
    t = best_times(cases, rounds=rounds)
    rows.append(
        (
            label,
            f"chunks={{}} ({len(dc.Raw.chunks[0])} chunks): 2 dask threads vs 1",
            f"{t['2']:.3f} s vs {t['1']:.3f} s: **{t['1'] / t['2']:.2f}x**",
        )
    )
    # the same decoding without assembling one big array at the end (a serial copy)
    total = {
        f"{k}": (
            lambda k=k: dc.Raw.data.sum(dtype=np.int64).compute(scheduler="threads", num_workers=k)
        )
        for k in (1, 2)
    }
    t = best_times(total, rounds=rounds)
    rows.append(
        (
            label,
            "chunks={}: sum of Raw (no assembled result), 2 dask threads vs 1",
            f"{t['2']:.3f} s vs {t['1']:.3f} s: **{t['1'] / t['2']:.2f}x**",
        )
    )

    ids = np.random.default_rng(1).choice(ds["read"].values, min(1000, n), replace=False).tolist()
    ds.sel(read=ids[0])  # the ID hash table is built once per Dataset; not part of either case

    def one_by_one():
        for i in ids:
            ds.sel(read=i).Raw.values  # noqa: B018

    t = best_times(
        {"batch": lambda: ds.sel(read=ids).Raw.values, "single": one_by_one},
        rounds=max(3, rounds // 2),
    )
    rows.append(
        (
            label,
            f"{len(ids):,} random reads by ID: one sel vs {len(ids):,} sels",
            f"{t['batch']:.4f} s vs {t['single']:.3f} s: **{_ratio(t['single'] / t['batch'])}**",
        )
    )
    reader.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reads", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--large-rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    parser.add_argument("--real-only", action="store_true", help="skip the generated store")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rows = bench_store("real", make_real(OUT / "real.sz"), args.rounds)
    if not args.real_only:
        large = make_large(OUT / f"large-{args.reads}.sz", args.reads)
        rows += bench_store("generated", large, args.large_rounds)
    command = " ".join([".venv/bin/python", "bench/bench_xarray.py", *sys.argv[1:]])
    lines = [
        "## xarray engine (issue 4)",
        "",
        f"`{command}` on {machine()}; best of interleaved rounds, ratios within this one run.",
        "",
        "| store | measurement | result |",
        "| --- | --- | --- |",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
