"""The writers `tests/test_kill.py` kills, and the fork server that runs them.

Run as ``python -m tests.kill_child SOURCES`` it imports xsz, zarr and xarray
once, then reads one JSON command a line from stdin and answers one a line on
stdout:

``{"op": "run", "path": NAME, "dest": PATH, "delay": SECONDS or null}``
    Fork a child that writes version B of the reads to ``dest`` with
    ``overwrite=True`` through the writing path ``NAME`` (see `WRITERS`). The
    child sets up (opens its sources), says so through a pipe, then writes.
    ``delay`` seconds after that it is sent SIGKILL, unless it has finished;
    ``null`` lets it finish. Answer: ``{"pid", "killed", "code", "seconds"}``
    (``seconds`` from the start of the write to its end or to the kill).
``{"op": "start", "path": NAME, "dest": PATH}``
    Fork a child that writes part of version B through ``NAME`` of `HOLDERS`
    and then waits, holding its staging siblings; answer ``{"pid", "started"}``
    once it is waiting. ``cleanup`` kills it.
``{"op": "cleanup", "pid": PID}``
    Kill what the child started (its process group: the q_in Manager, say)
    and reap it. Only the child itself is killed by ``run``, as a ``kill -9``
    of the writer would, so what its helpers still hold is seen by the test.

Forking from a process that has imported everything makes a write start in a
few milliseconds, so many kills fit in the CI budget. The reads of both
versions are made by `reads`, which the test shares.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pickle
import select
import signal
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

ATTRIBUTES = [("ID", str), ("Offset", np.int32)]
DATASETS = [("Raw", np.int16), ("Fastq", str)]
N_READS = 48
"""Reads of each version; enough for a write of some tens of milliseconds."""


def reads(version: str, n: int = N_READS) -> list[tuple[Any, ...]]:
    """The reads of `version` (``"A"`` or ``"B"``): different IDs, lengths and values.

    IDs are UUIDs (pod5 needs them) starting with the version's letter.
    """
    rng = np.random.default_rng(ord(version))
    out = []
    for _ in range(n):
        m = int(rng.integers(1500, 4500))
        raw = (rng.normal(550, 60, m)).astype(np.int16)
        fastq = "".join(rng.choice(list("ACGT"), m // 20).tolist())
        read_id = version.lower() + str(uuid.UUID(bytes=rng.bytes(16)))[1:]
        out.append((read_id, int(rng.integers(-100, 100)), raw, fastq))
    return out


def write_slow5(path: Path, version: str) -> None:
    """A SLOW5 file of the raw signals of `version`."""
    import pyslow5

    f = pyslow5.Open(str(path), "w")
    header = f.get_empty_header()
    f.write_header(dict.fromkeys(header, "") | {"run_id": f"run{version}", "flow_cell_id": "FC1"})
    for read_id, offset, raw, _ in reads(version):
        record = f.get_empty_record()
        record.update(
            read_id=read_id,
            read_group=0,
            digitisation=2048.0,
            offset=float(offset),
            range=500.0,
            sampling_rate=4000.0,
            len_raw_signal=len(raw),
            signal=raw,
        )
        f.write_record(record)
    f.close()


# --- the writing paths: each prepares (opens its sources) and returns the write ----------


def _compressed_file(dest: Path, how: str) -> Callable[[], object]:
    from xsz.api import CompressedFile

    data = reads("B")

    def write() -> None:
        f = CompressedFile(
            dest, mode="w", attributes=ATTRIBUTES, datasets=DATASETS, overwrite=True, n_threads=2
        )
        if how == "put":
            for record in data:
                f.put(*record)
        elif how == "put_chunk":
            for k in range(0, len(data), 8):
                f.put_chunk(data[k : k + 8])
        else:
            queue = f.q_in
            for k in range(0, len(data), 8):
                queue.put((True, data[k : k + 8]))
        f.close()

    return write


def _sz_writer(dest: Path, n: int = N_READS, samples: int | None = None) -> Callable[[], object]:
    from xsz.format import Schema, SZWriter

    data = reads("B", n)
    if samples is not None:  # each signal repeated to `samples` values
        data = [(rid, off, np.resize(raw, samples), fastq) for rid, off, raw, fastq in data]
    schema = Schema.build(ATTRIBUTES, DATASETS)

    def write() -> None:
        with SZWriter(dest, schema, overwrite=True, n_threads=2) as writer:
            for record in data:
                writer.put(*record)

    return write


def _szstore_zarr(dest: Path) -> Callable[[], object]:
    import zarr

    from xsz.format import Schema
    from xsz.store import SZStore

    data = reads("B")
    schema = Schema.build(ATTRIBUTES, [("Raw", np.int16)])

    def write() -> None:
        store = SZStore(dest, read_only=False)
        group = zarr.open_group(store, mode="w")
        store.create_hierarchy(schema, n_reads=len(data), counts={"Raw": [len(r[2]) for r in data]})
        group["read"][:] = np.array([r[0] for r in data])
        group["Offset"][:] = np.array([r[1] for r in data], np.int32)
        group["Raw"][:] = np.concatenate([r[2] for r in data])
        store.close()

    return write


def _dataset(sources: Path) -> Any:
    """Version B opened with ``engine="sz"`` and loaded (by the test: unpickled here)."""
    return pickle.loads((sources / "B.ds.pickle").read_bytes())


def _xarray_to_zarr(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.store import SZStore

    ds = _dataset(sources).drop_encoding()

    def write() -> None:
        store = SZStore(dest, read_only=False)
        ds.to_zarr(store, zarr_format=3, consolidated=False, mode="w")
        store.close()

    return write


def _to_sz(dest: Path, sources: Path) -> Callable[[], object]:
    ds = _dataset(sources)
    return lambda: ds.sz.to_sz(dest, overwrite=True)


def _import(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.convert import import_reads

    return lambda: import_reads(sources / "B.slow5", dest, overwrite=True)


def _convert(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.convert import convert

    return lambda: convert(sources / "B.slow5", dest, overwrite=True)


def _to_zarr(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.convert import to_zarr

    return lambda: to_zarr(sources / "B.sz", dest, overwrite=True)


def _to_zarr_regular_zip(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.convert import to_zarr

    return lambda: to_zarr(sources / "B.sz", dest, layout="regular", overwrite=True)


def _from_zarr(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.convert import from_zarr

    return lambda: from_zarr(sources / "B.zarr", dest, overwrite=True)


def _export_pod5(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.convert import export_pod5

    return lambda: export_pod5(sources / "B_imported.sz", dest, overwrite=True)


def _export_slow5(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.convert import export_slow5

    return lambda: export_slow5(sources / "B_imported.sz", dest, overwrite=True)


def _export_fast5(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.convert import export_fast5

    return lambda: export_fast5(sources / "B_imported.sz", dest, overwrite=True)


def _merge(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.ops import merge

    return lambda: merge([sources / "B1.sz", sources / "B2.sz"], dest, overwrite=True)


def _subset(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.ops import subset

    ids = [r[0] for r in reads("B")][::-2]
    return lambda: subset(sources / "B.sz", ids, dest, overwrite=True)


def _collection_subset(dest: Path, sources: Path) -> Callable[[], object]:
    """A collection's subset (stores picked from, lines copied by `put_copied`)."""
    from xsz.collection import subset

    ids = [r[0] for r in reads("B")][::-2]
    return lambda: subset([sources / "B1.sz", sources / "B2.sz"], ids, dest, overwrite=True)


WRITERS: dict[str, tuple[str, Callable[[Path, Path], Callable[[], object]]]] = {
    "CompressedFile.put": ("sz", lambda d, s: _compressed_file(d, "put")),
    "CompressedFile.put_chunk": ("sz", lambda d, s: _compressed_file(d, "put_chunk")),
    "CompressedFile.q_in": ("sz", lambda d, s: _compressed_file(d, "q_in")),
    "SZWriter": ("sz", lambda d, s: _sz_writer(d)),
    # thousands of reads: many batches in flight, kills land mid-batch and mid-dat
    "SZWriter, many batches": ("sz", lambda d, s: _sz_writer(d, 3000)),
    # reads over 64 KiB: encoded at put, their batches on an encoder a CPU
    "SZWriter, large reads": ("sz", lambda d, s: _sz_writer(d, 150, 40_000)),
    "SZStore+zarr": ("sz", lambda d, s: _szstore_zarr(d)),
    "ds.to_zarr(SZStore)": ("sz", _xarray_to_zarr),
    "ds.sz.to_sz": ("sz", _to_sz),
    "import_reads": ("sz", _import),
    "convert slow5->zarr": ("zarr", _convert),
    "to_zarr": ("zarr", _to_zarr),
    "to_zarr regular .zip": ("zip", _to_zarr_regular_zip),
    "from_zarr": ("sz", _from_zarr),
    "export_pod5": ("pod5", _export_pod5),
    "export_slow5": ("blow5", _export_slow5),
    "export_fast5": ("fast5", _export_fast5),
    "ops.merge": ("sz", _merge),
    "ops.subset": ("sz", _subset),
    "collection subset": ("sz", _collection_subset),
}
"""Writing path -> (what it writes, ``prepare(dest, sources)`` returning the write)."""


# --- writers held mid-write: prepare writes part, then the "write" waits to be killed ----


_HELD: list[object] = []
"""The writers held mid-write (not collected while the child waits)."""


_GO: list[int] = []
"""The pipe a held writer says it is waiting through."""


def _block(*_: object) -> None:
    """Say that the writer is held (the first time), then wait to be killed."""
    while _GO:
        os.write(_GO.pop(), b"g")
    time.sleep(3600)


def _hold_sz_writer(dest: Path) -> Callable[[], object]:
    from xsz.format import Schema, SZWriter

    writer = SZWriter(dest, Schema.build(ATTRIBUTES, DATASETS), overwrite=True)
    writer.put_many(reads("B")[:8])
    _HELD.append(writer)
    return _block


def _hold_q_in(dest: Path) -> Callable[[], object]:
    from xsz.api import CompressedFile

    f = CompressedFile(dest, mode="w", attributes=ATTRIBUTES, datasets=DATASETS, overwrite=True)
    f.q_in.put((True, reads("B")[:8]))  # the q_in Manager is a forked child of the writer
    _HELD.append(f)
    return _block


def _hold_sz_store(dest: Path) -> Callable[[], object]:
    import zarr

    from xsz.store import SZStore

    store = SZStore(dest, read_only=False)
    zarr.open_group(store, mode="w").attrs["written"] = True
    _HELD.append(store)
    return _block


def _hold_convert(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.convert import convert

    return lambda: convert(sources / "B.slow5", dest, overwrite=True, progress=_block)


def _hold_to_zarr(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.convert import to_zarr

    return lambda: to_zarr(sources / "B.sz", dest, overwrite=True, progress=_block)


def _hold_export_pod5(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.convert import export_pod5

    return lambda: export_pod5(sources / "B_imported.sz", dest, overwrite=True, progress=_block)


def _hold_export_slow5(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.convert import export_slow5

    return lambda: export_slow5(sources / "B_imported.sz", dest, overwrite=True, progress=_block)


def _hold_export_fast5(dest: Path, sources: Path) -> Callable[[], object]:
    from xsz.convert import export_fast5

    return lambda: export_fast5(sources / "B_imported.sz", dest, overwrite=True, progress=_block)


HOLDERS: dict[str, tuple[str, Callable[[Path, Path], Callable[[], object]]]] = {
    "SZWriter": ("sz", lambda d, s: _hold_sz_writer(d)),
    "CompressedFile.q_in": ("sz", lambda d, s: _hold_q_in(d)),
    "SZStore": ("sz", lambda d, s: _hold_sz_store(d)),
    "convert slow5->zarr": ("zarr", _hold_convert),
    "to_zarr": ("zarr", _hold_to_zarr),
    "export_pod5": ("pod5", _hold_export_pod5),
    "export_slow5": ("blow5", _hold_export_slow5),
    "export_fast5": ("fast5", _hold_export_fast5),
}
"""Writers that stop part-way and wait (``{"op": "start"}``), their staging siblings held."""


# --- the fork server -------------------------------------------------------------------


def _child(name: str, dest: Path, sources: Path, go: int, *, hold: bool) -> None:
    """In the forked child: its own process group, prepare, say go, write, exit."""
    code = 1
    try:
        os.setpgid(0, 0)
        os.dup2(2, 1)  # stdout is the server's answer channel
        if hold:
            _GO.append(go)  # said by _block, once the writer is held part-way
            HOLDERS[name][1](dest, sources)()
        write = WRITERS[name][1](dest, sources)
        os.write(go, b"g")
        write()
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def _start(command: dict[str, Any], sources: Path) -> tuple[int, bool]:
    """Fork the child of `command`; return once it is set up: ``(pid, started)``."""
    read_end, go = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(command["path"], Path(command["dest"]), sources, go, hold=command["op"] == "start")
    os.close(go)
    with contextlib.closing(os.fdopen(read_end, "rb", buffering=0)) as started:
        return pid, started.read(1) == b"g"  # b"" if the child failed before it started


def _run(command: dict[str, Any], sources: Path) -> dict[str, Any]:
    pid, _ = _start(command, sources)
    start = time.perf_counter()
    pidfd = os.pidfd_open(pid)
    try:
        delay = command["delay"]
        finished, _, _ = select.select([pidfd], [], [], delay)
        killed = not finished
        if killed:
            os.kill(pid, signal.SIGKILL)
        seconds = time.perf_counter() - start
    finally:
        os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return {"pid": pid, "killed": killed, "code": code, "seconds": seconds}


def _cleanup(pid: int) -> dict[str, Any]:
    """Kill and reap the rest of a child's process group (orphans come to us, the subreaper)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    reaped = 0
    while True:
        try:
            got, _ = os.waitpid(-pid, 0)
        except ChildProcessError:
            break
        reaped += got > 0
    return {"reaped": reaped}


def serve(sources: Path) -> None:
    """Answer the commands on stdin (see the module notes) until it closes."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans of our children come to us
    import xarray  # everything a writer needs, imported once before forking
    import xarray.backends.zarr
    import zarr  # noqa: F401

    xarray.backends.list_engines()  # found once (no threads are started before a fork)

    with contextlib.suppress(ImportError):
        import pod5  # noqa: F401
        import pyslow5  # noqa: F401
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "run":
            answer = _run(command, sources)
        elif command["op"] == "start":
            pid, started = _start(command, sources)
            answer = {"pid": pid, "started": started}
        else:
            answer = _cleanup(int(command["pid"]))
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
