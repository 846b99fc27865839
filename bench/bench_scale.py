"""xsz, pod5 and BLOW5 at the size of a run: write, import, open, lookups, read all, RSS.

Run by hand (not part of the tests)::

    .venv/bin/python bench/bench_scale.py --sizes 10000 100000 --rounds 3
    .venv/bin/python bench/bench_scale.py --sizes 1000000 --rounds 1
    .venv/bin/python bench/bench_scale.py --realistic --rounds 1    # ~2 GB more

Corpora (made once under ``--dir``, default ``bench/out/scale``, then reused):
for each size N, N short reads of 1,000 int16 samples (windows of the real
signal of ``../shared/data/signal_sample.npz``, or of a random walk without
it) under random UUIDs, written as an SZ store (`SZWriter`, the schema
`xsz.convert.import_reads` makes), a pod5 file (``pod5.Writer``) and a BLOW5
file (``pyslow5``, zstd records, svb-zd signal); with ``--realistic``, also
2 GB of realistic reads (the 117 real reads, copied under new IDs).

Every measure runs in a fresh child process (modules imported before the clock
starts; page cache warm after the first round), formats interleaved,
``--rounds`` times; the tables give each one's best time, the highest peak RSS
of its rounds (``VmHWM`` of the child, its modules included; for ``pod5
merge``, the larger of that and the merge process's ``ru_maxrss``) and the
ratio peer time / xsz time (above 1: xsz is faster).

- write: every read put through the format's writer (xsz: `SZWriter.put`, 2
  threads; pod5: ``Writer.add_reads`` in batches of 1,000; BLOW5:
  ``write_record_batch``, 2 threads), file closed.
- import: `xsz.convert.import_reads` of the pod5 file against ``pod5 merge``
  of it; of the BLOW5 file against pyslow5 reading every record.
- open: opening the file ready to read (`SZReader`, ``pod5.Reader``,
  ``pyslow5.Open``).
- first lookup: open, then one read's signal by its ID.
- 1,000 lookups: after open and a first lookup, 1,000 random IDs one at a time.
- where the xsz store has a ``table`` file (large stores), open, lookups and
  read all again without it (a copy of its other files: the index parsed).
- read all: every read's signal, one thread (xsz: `SZReader.dataset` in
  batches of 10,000 rows or 2^24 samples (32 MiB), whichever is fewer; pod5:
  ``reads()``; BLOW5: ``seq_reads()``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from _timing import pod5_run_info

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("XSZ_SHARED", ROOT.parent / "shared")) / "data"
OUT = ROOT / "bench" / "out" / "scale"
SAMPLES = 1_000
BATCH = 10_000
BATCH_SAMPLES = 1 << 24
REALISTIC_BYTES = 2 << 30
FORMATS = ("xsz", "pod5", "blow5")
SUFFIX = {"xsz": ".sz", "pod5": ".pod5", "blow5": ".blow5", "xsz-text": ".text.sz"}
TEXT_MEASURES = ("open", "first lookup", "1,000 lookups", "read all")
"""Measured again for xsz without its ``table`` file (the index parsed), where it has one."""


# --- the corpora ----------------------------------------------------------------------


class Corpus:
    """The reads of one corpus, made the same way in every process (seeded)."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "realistic":
            z = np.load(DATA / "signal_sample.npz")
            self.signal = z["signal"].astype(np.int16)
            offsets = z["offsets"]
            per_copy = int(offsets[-1]) * 2
            copies = max(1, REALISTIC_BYTES // per_copy)
            k = len(offsets) - 1
            self.n = k * copies
            starts = np.tile(offsets[:-1], copies)
            ends = np.tile(offsets[1:], copies)
            self.starts, self.ends = starts.astype(np.int64), ends.astype(np.int64)
            self.scale = np.tile(z["scale"], copies).astype(np.float64)
            self.offset = np.tile(z["offset"], copies).astype(np.float64)
            self.range = np.tile(z["range"], copies).astype(np.float64)
            self.digitisation = np.tile(z["digitisation"], copies).astype(np.float64)
        else:
            self.n = int(name)
            rng = np.random.default_rng(self.n)
            if (DATA / "signal_sample.npz").is_file():
                self.signal = np.load(DATA / "signal_sample.npz")["signal"].astype(np.int16)
            else:
                walk = np.cumsum(rng.integers(-20, 21, 1 << 22)) % 1500 + 200
                self.signal = walk.astype(np.int16)
            self.starts = rng.integers(0, len(self.signal) - SAMPLES, self.n).astype(np.int64)
            self.ends = self.starts + SAMPLES
            self.scale = np.full(self.n, 0.1755)
            self.offset = np.full(self.n, 4.0)
            self.range = np.full(self.n, 1437.5)
            self.digitisation = np.full(self.n, 8192.0)
        rng = np.random.default_rng(12345 + self.n)
        raw = rng.integers(0, 256, (self.n, 16), dtype=np.uint8)
        self.ids = [str(uuid.UUID(bytes=bytes(r), version=4)) for r in raw]

    def sig(self, i: int) -> np.ndarray[Any, Any]:
        return self.signal[self.starts[i] : self.ends[i]]

    @property
    def n_samples(self) -> int:
        return int((self.ends - self.starts).sum())


def write_xsz(c: Corpus, path: Path) -> None:
    from xsz.convert import import_schema
    from xsz.format import SZWriter

    with SZWriter(path, import_schema(basecalls=False), overwrite=True) as w:
        for i in range(c.n):
            w.put(
                c.ids[i],
                1 + i % 3000,
                1 + i % 4,
                i,
                float(i * 4000),
                4000.0,
                float(c.offset[i]),
                float(c.scale[i]),
                float(c.range[i]),
                float(c.digitisation[i]),
                200.0,
                "signal_positive",
                "bench",
                *POD5_DEFAULTS,
                c.sig(i),
                copy=False,
            )


POD5_DEFAULTS = ("", 0, 0.0, *[float("nan")] * 4, 0.0, 0.0, *[float("nan")] * 3)
"""The values of `xsz.convert.POD5_READ_FIELDS` a pod5 ``Read`` has by default."""


def _run_info() -> Any:

    return pod5_run_info()


def write_pod5(c: Corpus, path: Path) -> None:
    import pod5

    run = _run_info()
    end = pod5.EndReason.from_reason_with_default_forced(pod5.EndReasonEnum.SIGNAL_POSITIVE)
    path.unlink(missing_ok=True)
    with pod5.Writer(path) as writer:
        for lo in range(0, c.n, 1000):
            writer.add_reads(
                [
                    pod5.Read(
                        read_id=uuid.UUID(c.ids[i]),
                        pore=pod5.Pore(channel=1 + i % 3000, well=1 + i % 4, pore_type="not_set"),
                        calibration=pod5.Calibration(
                            offset=float(c.offset[i]), scale=float(c.scale[i])
                        ),
                        read_number=i,
                        start_sample=i * 4000,
                        median_before=200.0,
                        end_reason=end,
                        run_info=run,
                        signal=c.sig(i),
                    )
                    for i in range(lo, min(c.n, lo + 1000))
                ]
            )


def write_blow5(c: Corpus, path: Path) -> None:
    import pyslow5

    path.unlink(missing_ok=True)
    f = pyslow5.Open(str(path), "w")
    header, labels = f.get_empty_header(aux=True)
    f.write_header(dict.fromkeys(header, "") | {"run_id": "bench"}, end_reason_labels=labels)
    for lo in range(0, c.n, BATCH):
        records, auxes = {}, {}
        for i in range(lo, min(c.n, lo + BATCH)):
            record, aux = f.get_empty_record(aux=True)
            signal = c.sig(i)
            record.update(
                read_id=c.ids[i],
                read_group=0,
                digitisation=float(c.digitisation[i]),
                offset=float(c.offset[i]),
                range=float(c.range[i]),
                sampling_rate=4000.0,
                len_raw_signal=len(signal),
                signal=signal,
            )
            aux.update(
                channel_number=str(1 + i % 3000),
                median_before=200.0,
                read_number=i,
                start_mux=1 + i % 4,
                start_time=i * 4000,
                end_reason=0,
            )
            records[c.ids[i]], auxes[c.ids[i]] = record, aux
        f.write_record_batch(records, threads=2, batchsize=1000, aux=auxes)
    f.close()


WRITERS: dict[str, Callable[[Corpus, Path], None]] = {
    "xsz": write_xsz,
    "pod5": write_pod5,
    "blow5": write_blow5,
}


# --- the measures (each run in a child) ---------------------------------------------


def _open(fmt: str, path: Path) -> Any:
    if fmt.startswith("xsz"):
        from xsz.format import SZReader

        return SZReader(path)
    if fmt == "pod5":
        import pod5

        return pod5.Reader(path)
    import pyslow5

    return pyslow5.Open(str(path), "r")


def _lookup(fmt: str, handle: Any, read_id: str) -> int:
    if fmt.startswith("xsz"):
        return len(handle.read(handle.row(read_id), ["Raw"])["Raw"])
    if fmt == "pod5":
        return len(next(handle.reads(selection=[read_id])).signal)
    return len(handle.get_read(read_id)["signal"])


def _read_all(fmt: str, handle: Any) -> int:
    n = 0
    if fmt.startswith("xsz"):
        counts = handle.counts("Raw")
        ends = np.cumsum(counts)
        lo = 0
        while lo < len(handle):  # up to BATCH rows and BATCH_SAMPLES samples at a time
            hi = int(np.searchsorted(ends, ends[lo] - counts[lo] + BATCH_SAMPLES, "right"))
            hi = min(max(hi, lo + 1), lo + BATCH, len(handle))
            n += sum(len(s) for s in handle.dataset("Raw", np.arange(lo, hi)))
            lo = hi
    elif fmt == "pod5":
        for read in handle.reads():
            n += len(read.signal)
    else:
        for read in handle.seq_reads():
            n += len(read["signal"])
    return n


def _import(fmt: str, src: Path, dest: Path) -> None:
    if fmt == "xsz":
        from xsz.convert import import_reads

        import_reads(src, dest, overwrite=True)
    elif fmt == "pod5":
        dest.unlink(missing_ok=True)
        pod5_cli = Path(sys.executable).with_name("pod5")
        subprocess.run([str(pod5_cli), "merge", str(src), "-o", str(dest)], check=True)
    else:
        _read_all("blow5", _open("blow5", src))


def child(measure: str, fmt: str, corpus: str, root: Path) -> dict[str, Any]:
    """One measure of one format, in this (fresh) process: seconds and peak RSS."""
    path = root / f"{corpus}{SUFFIX[fmt]}"
    if fmt.startswith("xsz"):
        import xsz.format  # noqa: F401
    elif fmt == "pod5":
        import pod5  # noqa: F401
    else:
        import pyslow5  # noqa: F401
    ids: list[str] = []
    if measure in ("first lookup", "1,000 lookups"):
        ids = json.loads((root / f"{corpus}.ids.json").read_text())
    c = Corpus(corpus) if measure == "write" else None
    base = _high_water()
    scratch = root / f"scratch{SUFFIX[fmt]}"
    info: dict[str, Any] = {}
    if measure == "1,000 lookups":
        handle = _open(fmt, path)
        _lookup(fmt, handle, ids[0])
    t = time.perf_counter()
    if measure == "write":
        assert c is not None
        WRITERS[fmt](c, scratch)
    elif measure.startswith("import"):
        src = root / f"{corpus}{'.pod5' if measure == 'import pod5' else '.blow5'}"
        _import(fmt, src, scratch)
    elif measure == "open":
        handle = _open(fmt, path)
    elif measure == "first lookup":
        handle = _open(fmt, path)
        info["samples"] = _lookup(fmt, handle, ids[0])
    elif measure == "1,000 lookups":
        info["samples"] = sum(_lookup(fmt, handle, i) for i in ids[1:1001])
    elif measure == "read all":
        handle = _open(fmt, path)
        info["samples"] = _read_all(fmt, handle)
    seconds = time.perf_counter() - t
    peak = _high_water()
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if scratch.is_dir():
        shutil.rmtree(scratch)
    else:
        scratch.unlink(missing_ok=True)
    return info | {"seconds": seconds, "rss": max(peak, peak_children), "base": base}


def _high_water() -> int:
    """This process's peak RSS so far (``VmHWM``: unlike ``ru_maxrss``, not the
    parent's peak inherited at fork)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # pragma: no cover


MEASURES = ("write", "import pod5", "import blow5", "open", "first lookup", "1,000 lookups")
MEASURES += ("read all",)
PEERS = {
    "import pod5": {"xsz": "xsz import_reads", "pod5": "pod5 merge"},
    "import blow5": {"xsz": "xsz import_reads", "blow5": "pyslow5 reads all"},
}


def run_child(measure: str, fmt: str, corpus: str, root: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", measure, fmt, corpus, "--dir", str(root)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def make(corpus: str, root: Path) -> None:
    """The corpus's three files (kept: made once), and the IDs the lookups ask for."""
    root.mkdir(parents=True, exist_ok=True)
    c = None
    for fmt in FORMATS:
        path = root / f"{corpus}{SUFFIX[fmt]}"
        if not path.exists():
            c = c or Corpus(corpus)
            t = time.perf_counter()
            tmp = root / f"making{SUFFIX[fmt]}"
            WRITERS[fmt](c, tmp)
            tmp.rename(path)
            print(f"made {path} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    text = root / f"{corpus}{SUFFIX['xsz-text']}"
    if (root / f"{corpus}.sz" / "table").exists() and not text.exists():
        text.mkdir()  # the same store without its table
        for name in ("index", "dat", "checksums"):
            os.link(root / f"{corpus}.sz" / name, text / name)
    ids_path = root / f"{corpus}.ids.json"
    if not ids_path.exists():
        c = c or Corpus(corpus)
        pick = np.random.default_rng(7).choice(c.n, min(c.n, 1001), replace=False)
        ids_path.write_text(json.dumps([c.ids[i] for i in pick]))


def measures_of(measure: str, corpus: str, root: Path) -> tuple[str, ...]:
    formats = tuple(PEERS.get(measure, dict.fromkeys(FORMATS)))
    if measure in TEXT_MEASURES and (root / f"{corpus}{SUFFIX['xsz-text']}").exists():
        formats = ("xsz", "xsz-text", *formats[1:])
    return formats


def table(corpus: str, best: dict[tuple[str, str], dict[str, Any]]) -> Iterator[str]:
    text = any(fmt == "xsz-text" for _, fmt in best)
    extra = " xsz, no table (index text) |" if text else ""
    yield f"| {corpus} reads | xsz |{extra} pod5 | BLOW5 | pod5 / xsz | BLOW5 / xsz |"
    yield "| --- | ---: |" + (" ---: |" if text else "") + " ---: | ---: | ---: | ---: |"
    for measure in MEASURES:
        cells, ratios = [], []
        x = best.get((measure, "xsz"))
        for fmt in ("xsz", "xsz-text", "pod5", "blow5") if text else ("xsz", "pod5", "blow5"):
            r = best.get((measure, fmt))
            if r is None:
                cells.append("")
                if fmt in ("pod5", "blow5"):
                    ratios.append("")
                continue
            name = PEERS.get(measure, {}).get(fmt, "")
            name = f" ({name})" if name and fmt != "xsz" else ""
            cells.append(f"{_time(r['seconds'])}, {r['rss'] / 1e6:.0f} MB{name}")
            if fmt in ("pod5", "blow5") and x is not None:
                ratios.append(f"{r['seconds'] / x['seconds']:.2f}x")
        yield f"| {measure} | " + " | ".join(cells + ratios) + " |"


def _time(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--realistic", action="store_true", help="also the ~2 GB corpus")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--measures", nargs="*", default=list(MEASURES), choices=MEASURES)
    parser.add_argument("--dir", type=Path, default=OUT, help="where the corpora are kept")
    parser.add_argument("--out", type=Path, help="also write the markdown here")
    parser.add_argument("--child", nargs=3, metavar=("MEASURE", "FORMAT", "CORPUS"))
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child, args.dir)))
        return 0
    corpora = [str(n) for n in args.sizes] + (["realistic"] if args.realistic else [])
    command = shlex.join([".venv/bin/python", "bench/bench_scale.py", *(argv or sys.argv[1:])])
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    lines = [f"`{command}`; {machine}; load avg before: {os.getloadavg()[0]:.2f}", ""]
    for corpus in corpora:
        make(corpus, args.dir)
        best: dict[tuple[str, str], dict[str, Any]] = {}
        for _ in range(args.rounds):
            for measure in args.measures:
                for fmt in measures_of(measure, corpus, args.dir):
                    r = run_child(measure, fmt, corpus, args.dir)
                    old = best.get((measure, fmt), r)
                    best[(measure, fmt)] = {
                        "seconds": min(r["seconds"], old["seconds"]),
                        "rss": max(r["rss"], old["rss"]),  # the highest peak of any round
                    }
                    print(measure, fmt, corpus, json.dumps(r), file=sys.stderr)
        lines += [*table(corpus, best), ""]
    lines.append(f"load avg after: {os.getloadavg()[0]:.2f}")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
