"""The processes of `tests/test_replace.py`: one replaces a store over and over, others read it.

``python -m tests.replace_child write PATH SECONDS COUNT``
    Replace the store at PATH with version B, A, B ... of `versions`
    (``overwrite=True``, through `SZWriter` and `CompressedFile` in turn) until
    COUNT replaces are done or SECONDS have passed; print ``{"replaces": N}``.
``python -m tests.replace_child read PATH STOP``
    Print ``{"ready": true}``, then open the store (`SZReader` and
    `CompressedFile` in turn) and read every read, until the file STOP
    exists; print the opens by version, and the opens that saw a mix of the
    two versions or no store at all, with the first few messages.
``python -m tests.replace_child exchange-killed PATH``
    Replace PATH by version B, killing this process right after the exchange
    of the two directories, before the old one (now staged) is removed.
``python -m tests.replace_child swap-killed PATH``
    Replace PATH by version B with the fallback of `xsz.format.replace_path`
    (no ``RENAME_EXCHANGE``), killing this process (SIGKILL) right after the
    first of its two renames.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from tests.kill_child import ATTRIBUTES, DATASETS, reads

N_READS = 12


MIN_REPLACES = 20
WAIT_SECONDS = 60


def versions() -> dict[str, list[tuple[Any, ...]]]:
    """Two versions with different read IDs, read counts and values."""
    return {"A": reads("A", N_READS), "B": reads("B", N_READS + 5)}


def write_version(path: Path, records: list[tuple[Any, ...]], *, api: bool = False) -> None:
    """Write `records` over `path` (``overwrite=True``)."""
    from xsz.api import CompressedFile
    from xsz.format import Schema, SZWriter

    if api:
        with CompressedFile(
            path, "w", attributes=ATTRIBUTES, datasets=DATASETS, overwrite=True, n_threads=1
        ) as f:
            f.put_chunk(records)
        return
    with SZWriter(path, Schema.build(ATTRIBUTES, DATASETS), overwrite=True, n_threads=0) as w:
        w.put_many(records)


def _key(record: tuple[Any, ...]) -> tuple[Any, ...]:
    read_id, offset, raw, fastq = record
    return (str(read_id), int(offset), bytes(memoryview(raw).cast("B")), str(fastq))


def _open_and_read(path: Path, api: bool) -> list[tuple[Any, ...]]:
    """Every read of the store at `path`, through one of the two faces."""
    from xsz.api import CompressedFile
    from xsz.format import SZReader

    names = [n for n, _ in ATTRIBUTES + DATASETS]
    if api:
        f = CompressedFile(path)
        try:
            return [_key(tuple(getattr(r, n) for n in names)) for r in f.get(range(len(f)))]
        finally:
            f.close()
    with SZReader(path) as reader:
        return [_key(tuple(reader.read(row)[n] for n in names)) for row in range(len(reader))]


def read_loop(path: Path, stop: Path) -> dict[str, Any]:
    """Open and read `path` until `stop` exists; tally versions, mixes and failures.

    Once this reader has seen both versions it says so with a file beside `stop`
    (`seen_marker`), which the writer waits for."""
    expected = {v: [_key(r) for r in records] for v, records in versions().items()}
    counts = {"A": 0, "B": 0, "mixed": 0, "failed": 0}
    messages: list[str] = []
    api = False
    print(json.dumps({"ready": True}), flush=True)
    while not stop.exists():
        api = not api
        try:
            got = _open_and_read(path, api)
        except Exception as exc:
            counts["failed"] += 1
            messages.append(f"{type(exc).__name__}: {exc}")
            continue
        version = next((v for v, want in expected.items() if got == want), None)
        if version is None:
            counts["mixed"] += 1
            messages.append(f"a mix: {len(got)} reads, first {got[0][0] if got else None!r}")
        else:
            counts[version] += 1
            if counts["A"] and counts["B"]:
                seen_marker(stop, os.getpid()).touch()
    return {"opens": sum(counts.values()), **counts, "messages": messages[:5]}


def seen_marker(stop: Path, pid: int) -> Path:
    """The file by which reader `pid` says it has seen both versions."""
    return stop.with_name(f"{stop.name}.seen-{pid}")


def write_loop(
    path: Path, seconds: float, count: int, stop: Path | None = None, readers: int = 0
) -> dict[str, Any]:
    """Replace `path` with B, A, B ... until `count` replaces or `seconds` have passed.

    At least `MIN_REPLACES` replaces whatever the time, and, given the `stop` file
    of `readers` readers, on (for up to `WAIT_SECONDS` more) until each has seen
    both versions: a machine starved of CPU still gives every reader both.
    """
    all_versions = versions()
    end = time.monotonic() + seconds

    def readers_waiting() -> bool:
        if stop is None or time.monotonic() > end + WAIT_SECONDS:
            return False
        return len(list(stop.parent.glob(f"{stop.name}.seen-*"))) < readers

    done = 0
    while done < count and (time.monotonic() < end or done < MIN_REPLACES or readers_waiting()):
        write_version(path, all_versions["BA"[done % 2]], api=done % 4 >= 2)
        done += 1
    return {"replaces": done}


def swap_killed(path: Path) -> None:
    """Replace `path` by version B through the two-rename fallback; die between the renames."""
    from xsz.format import _staging

    _staging.exchange_supported = lambda: False  # type: ignore[assignment]
    rename = os.rename

    def rename_then_die(src: Any, dst: Any) -> None:
        rename(src, dst)
        if Path(src) == path:  # the old store is aside, the new one not yet in
            os.kill(os.getpid(), signal.SIGKILL)

    os.rename = rename_then_die  # type: ignore[assignment]
    write_version(path, versions()["B"])


def exchange_killed(path: Path) -> None:
    """Replace `path` by version B; die right after the exchange, before the old is removed."""
    from xsz.format import _staging

    remove = _staging._remove

    def die_before_removing(staged: Path) -> None:
        if staged.name.startswith(f".{path.name}.partial-"):  # it holds the old store now
            os.kill(os.getpid(), signal.SIGKILL)
        remove(staged)

    _staging._remove = die_before_removing  # type: ignore[assignment]
    write_version(path, versions()["B"])


def main(argv: list[str]) -> None:
    what, path = argv[0], Path(argv[1])
    if what == "write":
        stop, readers = (Path(argv[4]), int(argv[5])) if len(argv) > 4 else (None, 0)
        print(json.dumps(write_loop(path, float(argv[2]), int(argv[3]), stop, readers)), flush=True)
    elif what == "read":
        print(json.dumps(read_loop(path, Path(argv[2]))), flush=True)
    elif what == "swap-killed":
        swap_killed(path)
    else:
        exchange_killed(path)


if __name__ == "__main__":
    main(sys.argv[1:])
