"""A generated, nanopore-like run: the built-in example the README's first command uses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["ATTRIBUTES", "DATASETS", "demo_reads"]

ATTRIBUTES: list[tuple[str, Any]] = [
    ("ID", str), ("Offset", np.int32), ("Raw_unit", np.float32), ("channel", np.uint16),
]
DATASETS: list[tuple[str, Any]] = [("Raw", np.int16), ("Fastq", str), ("Move", np.uint16)]


def demo_reads(n: int, *, seed: int = 0) -> Iterator[tuple[Any, ...]]:
    """Reads shaped like R10 DNA: a 4 kHz squiggle of ~9-sample dwells around
    90 pA, a basecall, and a stride-5 move table with one move per base.

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
        yield (f"demo_{i:06d}", offset, np.float32(scale), int(rng.integers(1, 513)), raw, bases, moves)
