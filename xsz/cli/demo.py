"""A generated, nanopore-like run, and the round trip the README's first command makes of it.

`demo_reads` generates the reads; `write_demo_pod5` writes them as a pod5 file
(the format MinKNOW writes); `run_demo` converts that file the way a user
would, pod5 -> SZ -> Zarr (both layouts) -> SZ, checks every read of every
SZ store against what was generated, and returns what each step wrote and
how long it took (`xsz demo` prints it).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from xsz.errors import UsageError, XszError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

__all__ = ["DemoReport", "demo_reads", "run_demo", "write_demo_pod5"]


def demo_reads(n: int, *, seed: int = 0) -> Iterator[tuple[Any, ...]]:
    """Reads shaped like R10 DNA: a 4 kHz squiggle of ~9-sample dwells around
    90 pA, a basecall, and a stride-5 move table with one move per base.

    Each read is ``(ID, offset, scale, channel, Raw, bases, Move)``: str, int,
    float32, int, int16 array, str, uint16 array.

    Examples
    --------
    >>> read = next(demo_reads(1))
    >>> read[0], read[4].dtype, len(read[6]) * 5 == len(read[4]), read[6].sum() == len(read[5])
    ('demo_000000', dtype('int16'), True, np.True_)
    """
    rng = np.random.default_rng(seed)
    for i in range(n):
        n_bases = int(rng.lognormal(7.5, 0.7)) + 20
        moves = np.zeros(n_bases * 2, dtype=np.uint16)
        moves[0] = 1  # a move table starts with a move
        moves[1 + rng.choice(len(moves) - 1, n_bases - 1, replace=False)] = 1
        n_samples = len(moves) * 5
        levels = rng.normal(0, 12, n_bases)
        starts = np.flatnonzero(moves) * 5
        squiggle = np.repeat(levels, np.diff(np.append(starts, n_samples)))
        offset, scale = int(rng.integers(-250, -150)), 0.18
        pa = 90 + squiggle + rng.normal(0, 2.5, n_samples)
        raw = np.clip(np.round(pa / scale - offset), -32768, 32767).astype(np.int16)
        bases = "".join(rng.choice(list("ACGT"), n_bases))
        yield (
            f"demo_{i:06d}",
            offset,
            np.float32(scale),
            int(rng.integers(1, 513)),
            raw,
            bases,
            moves,
        )


@dataclass(frozen=True)
class DemoRead:
    """What `write_demo_pod5` wrote for one read."""

    read_id: str
    offset: float
    scale: float
    channel: int
    signal: np.ndarray[Any, np.dtype[np.int16]]


def write_demo_pod5(path: Path, n: int, *, seed: int = 0) -> list[DemoRead]:
    """Write `n` generated reads (`demo_reads`) to a new pod5 file at `path`.

    Read IDs are UUIDs drawn from `seed`, as pod5 requires. Returns what was written.
    """
    try:
        import pod5
    except ImportError as exc:
        raise UsageError(
            "the demo writes a pod5 file, which needs pod5: pip install 'xsz[formats]'"
        ) from exc

    rng = np.random.default_rng(seed + 1)
    started = datetime(2026, 1, 1, tzinfo=UTC)
    run = pod5.RunInfo(
        acquisition_id=str(uuid.UUID(bytes=rng.bytes(16), version=4)),
        acquisition_start_time=started,
        adc_max=4095,
        adc_min=-4096,
        context_tags={},
        experiment_name="xsz demo",
        flow_cell_id="DEMO0001",
        flow_cell_product_code="DEMO",
        protocol_name="generated",
        protocol_run_id="demo",
        protocol_start_time=started,
        sample_id="generated",
        sample_rate=4000,
        sequencing_kit="none",
        sequencer_position="",
        sequencer_position_type="",
        software="xsz demo",
        system_name="",
        system_type="",
        tracking_id={},
    )
    written = []
    with pod5.Writer(path, software_name="xsz demo") as writer:
        start = 0
        for number, (_, offset, scale, channel, raw, _, _) in enumerate(demo_reads(n, seed=seed)):
            read_id = uuid.UUID(bytes=rng.bytes(16), version=4)
            writer.add_read(
                pod5.Read(
                    read_id=read_id,
                    pore=pod5.Pore(channel=channel, well=1, pore_type="not_set"),
                    calibration=pod5.Calibration(offset=float(offset), scale=float(scale)),
                    read_number=number,
                    start_sample=start,
                    median_before=200.0,
                    end_reason=pod5.EndReason.from_reason_with_default_forced(
                        pod5.EndReasonEnum.SIGNAL_POSITIVE
                    ),
                    run_info=run,
                    signal=raw,
                )
            )
            start += len(raw) + 400
            written.append(DemoRead(str(read_id), float(offset), float(scale), channel, raw))
    return written


@dataclass
class DemoReport:
    """What `run_demo` did: each step's output, size and time."""

    n_reads: int
    n_samples: int
    steps: list[tuple[str, Path, int, float]] = field(default_factory=list)
    """``(what, path written, bytes, seconds)`` per step."""
    checked: list[Path] = field(default_factory=list)
    """The SZ stores whose every read was checked against the generated reads."""

    @property
    def raw_bytes(self) -> int:
        return 2 * self.n_samples


def run_demo(
    workdir: Path,
    *,
    n_reads: int = 1000,
    seed: int = 0,
    n_threads: int = 2,
    progress: bool | Callable[[int, int | None], object] = False,
) -> DemoReport:
    """Generate a pod5 file in `workdir` and convert it pod5 -> SZ -> Zarr -> SZ.

    The Zarr stores are one of each layout: ``reads`` (SZ frames as chunks) and
    ``regular`` with the standard zstd codec (readable without xsz). Both are
    converted back to SZ; every read of the three SZ stores must equal the
    generated one (ID, calibration, channel, signal), and the store made from
    the ``reads`` layout must hold the very frames of the first one.

    Raises
    ------
    XszError
        A read did not come back as generated (the message names it).
    """
    from xsz.convert import from_zarr, import_reads, path_size, to_zarr

    workdir.mkdir(parents=True, exist_ok=True)
    pod5_path = workdir / "demo.pod5"
    start = time.perf_counter()
    reads = write_demo_pod5(pod5_path, n_reads, seed=seed)
    report = DemoReport(n_reads, int(sum(len(r.signal) for r in reads)))

    def step(
        what: str, path: Path, run: Callable[[], object], started: float | None = None
    ) -> None:
        began = time.perf_counter() if started is None else started
        run()
        report.steps.append((what, path, path_size(path), time.perf_counter() - began))

    step("generate, write pod5", pod5_path, lambda: None, start)
    sz = workdir / "demo.sz"
    step(
        "pod5 -> SZ",
        sz,
        lambda: import_reads(pod5_path, sz, n_threads=n_threads, progress=progress),
    )
    zarr_reads, zarr_regular = workdir / "demo-reads.zarr", workdir / "demo-regular.zarr"
    step(
        "SZ -> Zarr, reads layout",
        zarr_reads,
        lambda: to_zarr(sz, zarr_reads, n_threads=n_threads, progress=progress),
    )
    step(
        "SZ -> Zarr, regular layout (zstd)",
        zarr_regular,
        lambda: to_zarr(
            sz, zarr_regular, layout="regular", codec="zstd", n_threads=n_threads, progress=progress
        ),
    )
    back_reads, back_regular = workdir / "back-reads.sz", workdir / "back-regular.sz"
    step(
        "Zarr (reads) -> SZ",
        back_reads,
        lambda: from_zarr(zarr_reads, back_reads, progress=progress),
    )
    step(
        "Zarr (regular) -> SZ",
        back_regular,
        lambda: from_zarr(zarr_regular, back_regular, progress=progress),
    )
    for path in (sz, back_reads, back_regular):
        _check(path, reads)
        report.checked.append(path)
    _check_frames(sz, back_reads)
    return report


def _check(path: Path, reads: list[DemoRead]) -> None:
    from xsz.format import SZReader

    with SZReader(path) as reader:
        if len(reader) != len(reads):
            raise XszError(f"{path}: {len(reader)} reads, {len(reads)} were generated")
        rows = reader.rows([r.read_id for r in reads])
        signals = reader.dataset("Raw", rows, n_threads=2)
        offset, scale = reader.index.attribute("offset"), reader.index.attribute("scale")
        channel = reader.index.attribute("channel")
        for read, row, signal in zip(reads, rows.tolist(), signals, strict=True):
            wrong = [
                what
                for what, ok in (
                    ("signal", np.array_equal(signal, read.signal)),
                    ("offset", offset[row] == read.offset),
                    ("scale", np.float32(scale[row]) == np.float32(read.scale)),
                    ("channel", channel[row] == read.channel),
                )
                if not ok
            ]
            if wrong:
                raise XszError(
                    f"{path}: read {read.read_id!r} came back with a different {', '.join(wrong)}"
                )


def _check_frames(first: Path, second: Path) -> None:
    from xsz.format import SZReader

    with SZReader(first) as a, SZReader(second) as b:
        rows = np.arange(len(a))
        for row, (x, y) in enumerate(zip(a.frames(rows), b.frames(rows), strict=True)):
            if [bytes(f) for f in x] != [bytes(f) for f in y]:
                raise XszError(f"{second}: the frames of read {a.ids[row]!r} differ from {first}'s")
