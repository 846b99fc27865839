"""A small store shaped like an import with basecalls (`xsz convert --moves`): the
per-read fields pod5 / slow5 users filter on, a signal, bases and qualities."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from xsz.format import Schema, SZWriter

if TYPE_CHECKING:
    from pathlib import Path

ATTRS = [
    ("ID", str),
    ("channel", np.int32),
    ("end_reason", str),
    ("run_id", str),
    ("sampling_rate", np.float64),
    ("offset", np.float64),
    ("scale", np.float32),
]
DATASETS = [("Raw", np.int16), ("Sequence", str), ("Quality", str), ("Move", np.uint16)]
END_REASONS = ("signal_positive", "unblock_mux_change", "signal_negative")
NO_BASES = 3
"""Every read ``i % 7 == NO_BASES`` has no basecalls (empty Sequence and Quality)."""


def called_reads(n: int, *, seed: int = 1, prefix: str = "r") -> list[tuple]:
    """`n` records in the order of `ATTRS` + `DATASETS`."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        m = int(rng.integers(100, 3000))
        raw = rng.integers(-500, 1500, m).astype(np.int16)
        nb = 0 if i % 7 == NO_BASES else int(rng.integers(5, 50))
        seq = "".join(rng.choice(list("ACGT"), nb))
        qual = "".join(chr(33 + int(q)) for q in rng.integers(0, 40, nb))
        records.append(
            (
                f"{prefix}{i:03d}",
                int(rng.integers(1, 9)),
                END_REASONS[i % 3],
                f"run{i % 2}",
                4000.0 if i % 2 else 5000.0,
                float(rng.integers(-300, 10)),
                np.float32(rng.random() * 0.3 + 0.1),
                raw,
                seq,
                qual,
                (rng.random(m // 5) < 0.3).astype(np.uint16),
            )
        )
    return records


def write_called(path: Path, n: int = 30, *, seed: int = 1, prefix: str = "r") -> list[tuple]:
    """Write `called_reads` to a new store `path`; returns the records."""
    records = called_reads(n, seed=seed, prefix=prefix)
    with SZWriter(path, Schema.build(ATTRS, DATASETS), header={"run": "made"}) as writer:
        writer.put_many(records)
    return records
