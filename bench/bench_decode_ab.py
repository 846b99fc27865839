"""Decode speed of two xsz checkouts side by side: 2000 reads x 4000 samples.

Times `decode_array` (one call a read), `decode_into` and `decode_blocks_into`
(one block) on int16 nanopore-like signals (`tests.conftest.nanopore_signal`)
and on sparse uint16 values, each checkout in its own child process, the two
alternating for `--rounds` rounds; each figure is the best of them all.

To compare a change against an earlier commit, its kernels built as setup.py
builds them::

    mkdir /tmp/xsz-before && git archive COMMIT | tar -x -C /tmp/xsz-before
    cd /tmp/xsz-before
    INC=$(python -c "import sysconfig;print(sysconfig.get_paths()['include'])")
    EXT=$(python -c "import sysconfig;print(sysconfig.get_config_var('EXT_SUFFIX'))")
    gcc -O3 -std=c99 -shared -fPIC -I$INC xsz/_kernels.c -o xsz/_kernels$EXT
    cd - && python bench/bench_decode_ab.py /tmp/xsz-before .
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import timeit
from pathlib import Path
from typing import Any

READS, SAMPLES = 2000, 4000


def measure(repeat: int) -> dict[str, float]:
    """Best-of-`repeat` seconds of each decode path, in the checkout on sys.path."""
    import numpy as np

    from tests.conftest import nanopore_signal

    rng = np.random.default_rng(1)
    signal = [nanopore_signal(rng, SAMPLES) for _ in range(READS)]
    sparse = [
        ((rng.random(SAMPLES) < 0.3) * rng.integers(0, 60000, SAMPLES)).astype(np.uint16)
        for _ in range(READS)
    ]
    return time_paths(signal, "i16", repeat) | time_paths(sparse, "u16", repeat)


def time_paths(reads: list[Any], name: str, repeat: int) -> dict[str, float]:
    """Best-of-`repeat` seconds of decoding the frames of `reads` each way."""
    import numpy as np

    from xsz import codec

    frames = [codec.encode_array(r) for r in reads]
    sizes = np.array([len(f) for f in frames], np.int64)
    block, starts = b"".join(frames), np.cumsum(sizes) - sizes
    counts = np.full(READS, SAMPLES, np.int64)
    positions = np.arange(READS, dtype=np.int64) * SAMPLES
    want, out = np.concatenate(reads), np.empty(READS * SAMPLES, reads[0].dtype)
    dtype = reads[0].dtype

    def per_read() -> None:
        for i, f in enumerate(frames):
            out[i * SAMPLES : (i + 1) * SAMPLES] = codec.decode_array(f, dtype, SAMPLES)

    def into() -> None:
        for i, f in enumerate(frames):
            codec.decode_into(f, out[i * SAMPLES : (i + 1) * SAMPLES])

    def blocks() -> None:
        codec.decode_blocks_into([(block, starts, sizes)], counts, positions, out)

    times = {}
    for label, fn in (("decode_array", per_read), ("decode_into", into), ("blocks", blocks)):
        out[:] = 0
        fn()
        assert np.array_equal(out, want)
        times[f"{label} {name}"] = min(timeit.repeat(fn, number=1, repeat=repeat))
    return times


def child(checkout: Path, repeat: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    cmd = [sys.executable, __file__, "--child", "--repeat", str(repeat)]
    run = subprocess.run(cmd, env=env, cwd=checkout, capture_output=True, text=True, check=True)
    return json.loads(run.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", nargs="?", type=Path)
    parser.add_argument("after", nargs="?", type=Path, default=Path())
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.repeat)))
        return
    if args.before is None:
        parser.error("give the checkout to compare against")
    best: dict[str, dict[str, float]] = {"before": {}, "after": {}}
    for _ in range(args.rounds):
        for side, times in best.items():
            checkout = getattr(args, side).resolve()
            for key, value in child(checkout, args.repeat).items():
                times[key] = min(times.get(key, value), value)
    for key, before in best["before"].items():
        after = best["after"][key]
        print(
            f"{key:18s} before {before * 1e3:7.2f} ms  after {after * 1e3:7.2f} ms  "
            f"{100 * (after / before - 1):+5.1f}%"
        )


if __name__ == "__main__":
    main()
