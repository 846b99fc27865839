"""A writer to object storage that the tests kill or measure, in a process of its own.

``python -m tests.remote_write_child MODE URL OPTIONS_JSON N_READS READ_SAMPLES``

Every read is the same ready-made frame of ``READ_SAMPLES`` samples of random
int16 signal (about 1.5 bytes each), put with `SZWriter.put_frames` under its own ID (so the write
costs upload, not encoding). Modes:

``kill``
    Overwrite the store at URL; after half the reads print ``started`` and the
    bytes handed to the uploader, then keep writing slowly until killed.
``rss``
    Write the whole store, then print a JSON line with the peak RSS (bytes) and
    the bytes of ``dat``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from xsz.codec import encode_array
from xsz.format import Schema, SZWriter


def peak_rss() -> int:
    """This process's peak RSS in bytes: ``VmHWM``, which starts afresh at ``exec``
    (``ru_maxrss`` keeps the RSS of the parent it was forked from)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    mode, url, options, n_reads, read_samples = sys.argv[1:6]
    storage_options = json.loads(options)
    n, samples = int(n_reads), int(read_samples)
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])
    signal = np.random.default_rng(7).integers(-4096, 4096, samples, dtype=np.int16)
    frame = encode_array(signal, checksum=True)
    writer = SZWriter(url, schema, overwrite=True, n_threads=0, storage_options=storage_options)
    for i in range(n):
        writer.put_frames([f"read_{i:06d}"], [frame], [len(signal)])
        if mode == "kill" and i == n // 2:
            print("started", writer.nbytes_out, flush=True)
        if mode == "kill" and i > n // 2:
            time.sleep(0.01)
    writer.close()
    peak = peak_rss()
    print(json.dumps({"peak_rss": peak, "dat": writer.nbytes_out}), flush=True)


if __name__ == "__main__":
    main()
