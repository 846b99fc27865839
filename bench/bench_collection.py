"""Subsetting reads by ID out of many stores: ``xsz subset`` over a collection against
``pod5 filter`` over the same reads as pod5 files (issue 12, "many stores as one").

Run by hand (not part of the tests)::

    .venv/bin/python bench/bench_collection.py            # 100,000 reads in 100 stores
    .venv/bin/python bench/bench_collection.py --full     # 1,000,000 reads in 1,000 stores
    .venv/bin/python bench/bench_collection.py --no-s3    # local only

The reads (nanopore-like int16 signals of ``--length`` samples on average, UUID
read IDs) are written once as ``--stores`` pod5 files with pod5's own writer and
imported into as many SZ stores with ``xsz.import_reads`` (kept under
``bench/out/collection-*`` for the next run). A tenth of the read IDs, drawn at
random, is the list to extract.

Every case is a fresh process of the command a user would run, timed from
start to exit, with its peak RSS (``ru_maxrss`` of that process, from
``wait4``); the cases run interleaved, ``--rounds`` times, best time kept:

- ``pod5 filter PODS... --ids IDS --output OUT`` (the pod5 package's CLI);
- ``xsz subset --index INDEX --ids IDS OUT`` on the local stores;
- the same on the stores uploaded to a moto S3 server on 127.0.0.1
  (``ThreadedMotoServer``, started here; the ``xsz`` process gets the
  endpoint and keys from ``AWS_*`` variables, as a user's would).

``xsz index`` (local and from S3) is timed once: it is paid once per
collection, not per subset. Each output is checked: the reads written are
exactly the IDs asked for.
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
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from _timing import pod5_run_info

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
BUCKET = "xsz-bench"


def signal_pool(rng: np.random.Generator, n: int) -> np.ndarray:
    """A long squiggle (levels held ~9 samples, plus noise) to cut reads from."""
    levels = rng.normal(550, 80, n // 9 + 1)
    signal = np.repeat(levels, 9)[:n] + rng.normal(0, 9, n)
    return np.clip(signal, 300, 900).astype(np.int16)


def write_pod5(path: Path, ids: list[str], signals: list[np.ndarray], rng) -> None:
    import pod5

    run = pod5_run_info(
        acquisition_id="bench-run",
        acquisition_start_time=datetime(2026, 1, 1, tzinfo=UTC),
        context_tags={"sample_frequency": "5000"},
        flow_cell_id="FAX00000",
        flow_cell_product_code="FLO-MIN114",
        protocol_start_time=datetime(2026, 1, 1, tzinfo=UTC),
        sample_rate=5000,
        sequencing_kit="SQK-LSK114",
        sequencer_position="MN00000",
        sequencer_position_type="minion",
        software="bench_collection",
        system_name="",
        system_type="",
        tracking_id={"run_id": "bench-run"},
    )
    channels = rng.integers(1, 513, len(ids))
    with pod5.Writer(path) as writer:
        writer.add_reads(
            [
                pod5.Read(
                    read_id=uuid.UUID(rid),
                    pore=pod5.Pore(channel=int(ch), well=1, pore_type="not_set"),
                    calibration=pod5.Calibration(offset=-240.0, scale=0.18),
                    read_number=k,
                    start_sample=k * 10_000,
                    median_before=200.0,
                    end_reason=pod5.EndReason.from_reason_with_default_forced(
                        pod5.EndReasonEnum.SIGNAL_POSITIVE
                    ),
                    run_info=run,
                    signal=sig,
                )
                for k, (rid, sig, ch) in enumerate(zip(ids, signals, channels, strict=True))
            ]
        )


def make_data(where: Path, n_reads: int, n_stores: int, length: int, seed: int) -> list[str]:
    """pod5 files and SZ stores of the same reads (made once); every read ID."""
    import xsz

    done = where / "done"
    if done.exists():
        return (where / "all_ids.txt").read_text().split()
    shutil.rmtree(where, ignore_errors=True)
    (where / "pod5").mkdir(parents=True)
    (where / "sz").mkdir()
    rng = np.random.default_rng(seed)
    pool = signal_pool(rng, 20_000_000)
    all_ids: list[str] = []
    per = n_reads // n_stores
    t0 = time.perf_counter()
    for k in range(n_stores):
        ids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(per)]
        lengths = rng.integers(length // 2, length * 3 // 2, per)
        starts = rng.integers(0, len(pool) - length * 2, per)
        signals = [pool[s : s + m] for s, m in zip(starts, lengths, strict=True)]
        pod = where / "pod5" / f"part{k:04d}.pod5"
        write_pod5(pod, ids, signals, rng)
        xsz.import_reads(pod, where / "sz" / f"part{k:04d}.sz")
        all_ids += ids
        if k % max(1, n_stores // 10) == 0:
            print(
                f"  made {k + 1}/{n_stores} stores ({time.perf_counter() - t0:.0f} s)", flush=True
            )
    (where / "all_ids.txt").write_text("\n".join(all_ids) + "\n")
    done.touch()
    return all_ids


LAUNCH = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
"""
"""Runs a command and reports its peak RSS: a small fresh process in between, since a
child's ``ru_maxrss`` starts from its parent's at fork (this process holds the data
generator and the S3 server; the launcher holds ~10 MB, which the figure includes)."""


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Run a command to its end: ``(seconds, peak RSS in MB, CPU seconds)`` of that
    process (CPU: user + system, which a shared machine's load inflates less than the
    wall time)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, *argv], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    code, rss, cpu = done.stdout.split() if done.stdout.strip() else ("1", "0", "0")
    if done.returncode or int(code):
        raise SystemExit(f"{' '.join(argv)} failed ({code}):\n{done.stderr}")
    return seconds, int(rss) / 1024, float(cpu)  # ru_maxrss: KiB on Linux


def check_sz(path: Path, wanted: set[str]) -> None:
    from xsz.format import SZReader

    with SZReader(path) as r:
        got = set(r.ids.tolist())
    assert got == wanted, f"{path}: {len(got)} reads, {len(got ^ wanted)} differ from the list"


def check_pod5(path: Path, wanted: set[str]) -> None:
    import pod5

    with pod5.Reader(path) as r:
        got = {str(rid) for rid in r.read_ids}
    assert got == wanted, f"{path}: {len(got)} reads, {len(got ^ wanted)} differ from the list"


def start_s3() -> tuple[object, dict[str, str], dict[str, object]]:
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request

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
    ).create_bucket(Bucket=BUCKET)
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }
    options: dict[str, object] = {
        "endpoint": endpoint,
        "access_key_id": "bench",
        "secret_access_key": "bench",
        "region": "us-east-1",
        "client_options": {"allow_http": True},
    }
    return server, env, options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="1,000,000 reads in 1,000 stores")
    parser.add_argument("--reads", type=int, help="reads in all (default 100,000; --full 1e6)")
    parser.add_argument("--stores", type=int, help="stores (default 100; --full 1,000)")
    parser.add_argument("--length", type=int, default=1000, help="mean samples per read")
    parser.add_argument("--fraction", type=float, default=0.1, help="share of IDs extracted")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 server cases")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    n_reads = args.reads or (1_000_000 if args.full else 100_000)
    n_stores = args.stores or (1_000 if args.full else 100)
    where = OUT / f"collection-{n_reads}-{n_stores}-{args.length}"
    print(f"data: {n_reads:,} reads in {n_stores:,} stores under {where}", flush=True)
    all_ids = make_data(where, n_reads, n_stores, args.length, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    wanted = rng.choice(np.array(all_ids), int(len(all_ids) * args.fraction), replace=False)
    ids_file = where / "ids.txt"
    ids_file.write_text("\n".join(wanted.tolist()) + "\n")
    wanted_set = set(wanted.tolist())
    work = where / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    pods = sorted(str(p) for p in (where / "pod5").glob("*.pod5"))
    xsz_bin, pod5_bin = str(BIN / "xsz"), str(BIN / "pod5")
    load_before = os.getloadavg()

    rows: dict[str, tuple[float, float, float]] = {}
    index = work / "local.xszi"
    rows["xsz index (local, once)"] = run(
        [xsz_bin, "index", str(where / "sz"), "-o", str(index), "-q"]
    )
    cases = {
        "pod5 filter (local pod5 files)": (
            [
                pod5_bin,
                "filter",
                *pods,
                "--ids",
                str(ids_file),
                "--output",
                str(work / "out.pod5"),
                "--force-overwrite",
            ],
            None,
            lambda: check_pod5(work / "out.pod5", wanted_set),
        ),
        "xsz subset (local stores)": (
            [
                xsz_bin,
                "subset",
                "--index",
                str(index),
                "--ids",
                str(ids_file),
                str(work / "out.sz"),
                "--force",
                "-q",
            ],
            None,
            lambda: check_sz(work / "out.sz", wanted_set),
        ),
    }
    server = None
    if not args.no_s3:
        from xsz.source import upload_store

        server, s3_env, options = start_s3()
        env = {**os.environ, **s3_env}
        base = f"s3://{BUCKET}/runs"
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda p: upload_store(p, f"{base}/{p.name}", options),
                    sorted((where / "sz").iterdir()),
                )
            )
        print(f"uploaded {n_stores} stores to the S3 server in {time.perf_counter() - t0:.0f} s")
        s3_index = work / "s3.xszi"
        rows["xsz index (S3 server, once)"] = run(
            [xsz_bin, "index", base, "-o", str(s3_index), "-q"], env
        )
        cases["xsz subset (S3 server)"] = (
            [
                xsz_bin,
                "subset",
                "--index",
                str(s3_index),
                "--ids",
                str(ids_file),
                str(work / "s3.sz"),
                "--force",
                "-q",
            ],
            env,
            lambda: check_sz(work / "s3.sz", wanted_set),
        )
    best = {name: (float("inf"), 0.0, 0.0) for name in cases}
    served: dict[str, float] = {}  # CPU of this process (the S3 server) in the best round
    for _ in range(args.rounds):
        for name, (argv, env_, check) in cases.items():
            before = resource.getrusage(resource.RUSAGE_SELF)
            seconds, rss, cpu = run(argv, env_)
            after = resource.getrusage(resource.RUSAGE_SELF)
            check()
            server_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            if seconds < best[name][0]:
                best[name] = (seconds, rss, cpu)
                served[name] = server_cpu
            print(f"  {name}: {seconds:.2f} s ({cpu:.2f} s CPU), {rss:.0f} MB", flush=True)
    if server is not None:
        server.stop()  # type: ignore[attr-defined]
    load_after = os.getloadavg()
    rows.update(best)
    pod5_time, _, pod5_cpu = best["pod5 filter (local pod5 files)"]
    n = len(wanted)
    print()
    print(
        f"{n:,} IDs out of {n_reads:,} reads in {n_stores:,} stores (mean {args.length:,} "
        f"samples a read); best of {args.rounds} interleaved rounds; load avg "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after; "
        f"{os.cpu_count()} cores"
    )
    print()
    print(
        "| command | seconds | reads/s | speed vs pod5 filter | CPU s | CPU vs pod5 filter "
        "| peak RSS |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, (seconds, rss, cpu) in rows.items():
        once = "once" in name
        rate = "" if once else f"{n / seconds:,.0f}"
        ratio = "" if once else f"{pod5_time / seconds:.1f}x"
        cpu_ratio = "" if once else f"{pod5_cpu / cpu:.1f}x"
        print(
            f"| {name} | {seconds:.2f} | {rate} | {ratio} | {cpu:.2f} | {cpu_ratio} "
            f"| {rss:,.0f} MB |"
        )
    peak = max(rss for _, rss, _ in rows.values())
    print(f"\nlargest peak RSS of any xsz or pod5 process: {peak:,.0f} MB")
    for name, cpu in served.items():
        if "S3" in name:
            print(f"CPU of the S3 server (moto, in this process) during {name}: {cpu:.2f} s")


if __name__ == "__main__":
    main()
