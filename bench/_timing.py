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


def pod5_run_info(**fields: object) -> object:
    """A `pod5.RunInfo` for the files the benchmarks write (`fields` replace the defaults)."""
    import datetime

    import pod5

    start = datetime.datetime(2024, 1, 1)
    defaults: dict[str, object] = {
        "acquisition_id": "bench",
        "acquisition_start_time": start,
        "adc_max": 4095,
        "adc_min": -4096,
        "context_tags": {},
        "experiment_name": "bench",
        "flow_cell_id": "FC",
        "flow_cell_product_code": "FLO",
        "protocol_name": "bench",
        "protocol_run_id": "bench",
        "protocol_start_time": start,
        "sample_id": "bench",
        "sample_rate": 4000,
        "sequencing_kit": "SQK",
        "sequencer_position": "X1",
        "sequencer_position_type": "x",
        "software": "xsz bench",
        "system_name": "x",
        "system_type": "x",
        "tracking_id": {},
    }
    return pod5.RunInfo(**{**defaults, **fields})
