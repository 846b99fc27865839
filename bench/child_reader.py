"""A dropped idea, kept so its figures in BENCHMARKS.md can be reproduced.

    .venv/bin/python bench/child_reader.py bench/out/large.blow5
    .venv/bin/python bench/child_reader.py bench/out/large.pod5

pod5 and pyslow5 hold the GIL while they decode, so xsz's encoder threads
starve during an import (BENCHMARKS.md, "Import"). Here the source is read in a
child process that sends batches of reads through a pipe, and this process
only encodes and writes. Times: reading through the child alone, the import
through the child, `xsz.import_reads` as it is, and reading in-process.
(`bench/bench_import.py` makes the large.* files.)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from multiprocessing.connection import Connection

    from xsz.convert._read_fields import SourceRead

BATCH_BYTES = 1 << 22


def serve(conn: Connection, path: str, fmt: str) -> None:
    from xsz.convert._sources import open_source

    source = open_source(Path(path), fmt)
    batch: list[SourceRead] = []
    size = 0
    for read in source.reads(None):
        batch.append(read)
        size += read.signal.nbytes
        if size >= BATCH_BYTES:
            conn.send(batch)
            batch, size = [], 0
    conn.send(batch)
    conn.send(None)
    conn.close()


def child_reads(path: Path, fmt: str) -> Iterator[SourceRead]:
    ctx = mp.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=serve, args=(sender, str(path), fmt), daemon=True)
    child.start()
    sender.close()
    while (batch := receiver.recv()) is not None:
        yield from batch
    child.join()


def main() -> None:
    from xsz.convert import import_reads
    from xsz.convert._read_fields import import_schema
    from xsz.convert._sources import open_source
    from xsz.format import SZWriter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a pod5 or BLOW5 file")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    fmt = "pod5" if args.path.suffix == ".pod5" else "blow5"
    tmp = Path(tempfile.mkdtemp(prefix="xsz-child-"))
    try:
        for k in range(args.rounds):
            t0 = time.perf_counter()
            for _ in child_reads(args.path, fmt):
                pass
            t1 = time.perf_counter()
            with SZWriter(
                tmp / f"c{k}.sz",
                import_schema(basecalls=False),
                n_threads=2,
                level=1,
                max_pending_bytes=1 << 24,
            ) as writer:
                for read in child_reads(args.path, fmt):
                    writer.put(*read.attributes(), read.signal, copy=False)
            t2 = time.perf_counter()
            import_reads(args.path, tmp / f"i{k}.sz")
            t3 = time.perf_counter()
            source = open_source(args.path, fmt)
            for _ in source.reads(None):
                pass
            source.close()
            t4 = time.perf_counter()
            print(
                f"read through child {t1 - t0:.3f} s | import through child {t2 - t1:.3f} s | "
                f"import_reads {t3 - t2:.3f} s | read in-process {t4 - t3:.3f} s"
            )
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
