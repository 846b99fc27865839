"""Timing helpers for xsz's benchmarks: interleaved repeats, best of N, one run.

These machines are shared and noisy, so every comparison runs its cases in
turn, several rounds, and keeps each case's best time: ratios come from one
process, measured side by side.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("XSZ_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"


def best_times(
    cases: dict[str, Callable[[], object]],
    *,
    rounds: int = 7,
    setup: Callable[[], object] | None = None,
) -> dict[str, float]:
    """Each case's best wall time (seconds) over `rounds` interleaved rounds."""
    best = {name: float("inf") for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            if setup is not None:
                setup()
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"
    )


def load_sample() -> tuple[list, dict]:
    """The 117 real reads of signal_sample.npz as (reads, {array name: array})."""
    import numpy as np

    with np.load(DATA / "signal_sample.npz") as npz:  # every array loaded once, not per access
        z = {key: npz[key] for key in npz.files}
    signal, offsets = z["signal"], z["offsets"]
    reads = [signal[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
    return reads, z
