"""Writing with two xsz checkouts side by side: the README's 117 reads, short and realistic.

    .venv/bin/python bench/bench_write_ab.py OLD NEW [--rounds R]

OLD and NEW are xsz source trees (each with its C kernels built: copy
``xsz/_kernels*.so`` into a checkout made with ``git worktree add OLD COMMIT``
when the C code did not change). Each round runs one child process per tree,
alternating, with the tree first on ``sys.path``; a child times, best of a few
calls, with ``os.sync()`` before each (outside the timing), `SZWriter.put` with
2 encoder threads of

- the 117 real reads of ``signal_sample.npz`` (`run.py`'s `write_xsz`),
- 100,000 short reads of 1,000 samples (`bench_write.py`'s corpus), with 2
  threads and with 1,
- the 468 realistic reads of `bench_write.py`,

and prints wall and CPU milliseconds of each. The table gives the best of all
rounds for each tree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def measure() -> dict[str, tuple[float, float]]:
    """(wall, CPU) milliseconds of each case, best of a few, in this process's xsz."""
    sys.path.insert(1, str(BENCH))
    import bench_write
    import run
    from _timing import load_sample

    reads, z = load_sample()
    short, short_attrs = bench_write.short_reads(100_000, 1000, z)
    real, real_attrs = bench_write.realistic_reads(4)
    tmp = Path(tempfile.mkdtemp(prefix="xsz-ab-"))
    cases = {
        "117 real reads, 2 threads": (5, lambda p: run.write_xsz(p, reads, z, 2)),
        "100,000 short reads, 2 threads": (2, lambda p: bench_write.write_xsz(p, short, short_attrs, 2)),
        "100,000 short reads, 1 thread": (2, lambda p: bench_write.write_xsz(p, short, short_attrs, 1)),
        "468 realistic reads, 2 threads": (3, lambda p: bench_write.write_xsz(p, real, real_attrs, 2)),
    }  # fmt: skip
    out = {}
    try:
        for name, (calls, write) in cases.items():
            best = (float("inf"), float("inf"))
            for _ in range(calls):
                os.sync()
                start, cpu = time.perf_counter(), time.process_time()
                write(tmp / "a.sz")
                took = (time.perf_counter() - start, time.process_time() - cpu)
                best = (min(best[0], took[0]), min(best[1], took[1]))
                shutil.rmtree(tmp / "a.sz")
            out[name] = (best[0] * 1e3, best[1] * 1e3)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure()))
        return
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    best: dict[str, dict[str, tuple[float, float]]] = {k: {} for k in trees}
    load = os.getloadavg()[0]
    for _ in range(args.rounds):
        for which, tree in trees.items():
            env = dict(os.environ, PYTHONPATH=str(tree))
            result = subprocess.run(
                [sys.executable, __file__, str(tree), str(tree), "--child"],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            for name, (wall, cpu) in json.loads(result.stdout.splitlines()[-1]).items():
                was = best[which].get(name, (float("inf"), float("inf")))
                best[which][name] = (min(was[0], wall), min(was[1], cpu))
    print(
        f"old: {trees['old']}\nnew: {trees['new']}\n{args.rounds} rounds, load avg "
        f"{load:.2f} -> {os.getloadavg()[0]:.2f}\n"
    )
    print("| case | old: wall / CPU | new: wall / CPU | old / new (wall) |")
    print("| --- | ---: | ---: | ---: |")
    for name, (wall, cpu) in best["old"].items():
        new_wall, new_cpu = best["new"][name]
        print(
            f"| {name} | {wall:.1f} / {cpu:.1f} ms | {new_wall:.1f} / {new_cpu:.1f} ms | "
            f"{wall / new_wall:.2f}x |"
        )


if __name__ == "__main__":
    main()
