"""Issue 12: writing an SZ store to object storage, streamed, against writing it locally.

    .venv/bin/python bench/bench_remote_write.py [--rounds N] [--reads R]

A moto S3 server runs on 127.0.0.1 in this process; each case runs in a child
process of its own (so the server's work is not the writer's, and its peak RSS
is its own), cases interleaved, best of N rounds:

- ``local``: `SZWriter` to a local directory (fsynced, renamed into place);
- ``s3 streamed``: `SZWriter` to ``s3://`` (``dat`` a multipart upload fed as it
  is written, ``index`` last);
- ``s3 local+upload``: written locally, then `xsz.source.upload_store` (what
  ``CompressedFile(url, "w")`` did before).

Reads are 200 generated squiggles of 2,000-16,000 samples (about 1.6 bytes a
sample once encoded), made in the child before the clock starts and put again
and again under new IDs, one at a time, so the input holds a few MB and the
peak RSS is the writer's. moto keeps objects in
memory and is Python: the figures compare the three paths on one machine, not
what a real object store sustains.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine

CASES = ("local", "s3 streamed", "s3 local+upload")


def squiggles(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    reads = []
    for _ in range(n):
        m = int(rng.integers(2000, 16000))
        levels = rng.normal(550, 80, m // 9 + 1)
        signal = np.repeat(levels, 9)[:m] + rng.normal(0, 9, m)
        reads.append(np.clip(signal, 300, 900).astype(np.int16))
    return reads


def child(case: str, target: str, options: dict, n_reads: int) -> None:
    from xsz.format import Schema, SZWriter
    from xsz.source import upload_store

    pool = squiggles(200)  # cycled under distinct IDs: the input holds a few MB
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])

    def put_all(w: SZWriter) -> None:
        for i in range(n_reads):
            w.put(f"read_{i:07d}", pool[i % len(pool)], copy=False)

    start = time.perf_counter()
    if case == "local":
        with SZWriter(target, schema, n_threads=2) as w:
            put_all(w)
        size = (Path(target) / "dat").stat().st_size
    elif case == "s3 streamed":
        with SZWriter(target, schema, n_threads=2, storage_options=options) as w:
            put_all(w)
        size = w.nbytes_out
    else:
        scratch = Path(tempfile.mkdtemp(prefix="xsz-bench-"))
        with SZWriter(scratch / "s.sz", schema, n_threads=2) as w:
            put_all(w)
        upload_store(scratch / "s.sz", target, options)
        size = w.nbytes_out
        shutil.rmtree(scratch)
    seconds = time.perf_counter() - start
    peak = peak_rss()
    print(json.dumps({"seconds": seconds, "peak": peak, "dat": size}))


def peak_rss() -> int:
    """This process's peak RSS in bytes: ``VmHWM``, which starts afresh at ``exec``
    (``ru_maxrss`` keeps the RSS of the parent it was forked from)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(rounds: int, n_reads: int) -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        region_name="us-east-1",
    ).create_bucket(Bucket="bench")
    options = {
        "endpoint": endpoint,
        "access_key_id": "bench",
        "secret_access_key": "bench",
        "region": "us-east-1",
        "allow_http": True,
    }
    tmp = Path(tempfile.mkdtemp(prefix="xsz-bench-remote-"))
    best: dict[str, dict] = {}
    try:
        for _ in range(rounds):
            for case in CASES:
                target = (
                    str(tmp / f"{uuid.uuid4().hex}.sz")
                    if case == "local"
                    else f"s3://bench/{uuid.uuid4().hex}.sz"
                )
                command = [sys.executable, __file__, "--child", case, target]
                out = subprocess.run(
                    [*command, json.dumps(options), str(n_reads)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                got = json.loads(out.strip().splitlines()[-1])
                was = best.setdefault(case, got)
                was["seconds"] = min(was["seconds"], got["seconds"])
                was["peak"] = min(was["peak"], got["peak"])
                if case == "local":
                    shutil.rmtree(target, ignore_errors=True)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    dat = best["local"]["dat"]
    print(machine())
    print(f"{n_reads:,} reads, dat {dat / 1e6:,.1f} MB, best of {rounds} rounds (interleaved)")
    print("| case | time | MB/s of dat | peak RSS | time / local |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for case in CASES:
        b = best[case]
        print(
            f"| {case} | {b['seconds']:.2f} s | {dat / 1e6 / b['seconds']:,.0f} | "
            f"{b['peak'] / 2**20:,.0f} MiB | {b['seconds'] / best['local']['seconds']:.2f}x |"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), int(sys.argv[5]))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--rounds", type=int, default=3)
        parser.add_argument("--reads", type=int, default=20_000)
        args = parser.parse_args()
        main(args.rounds, args.reads)
