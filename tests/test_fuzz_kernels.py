"""The decode kernels' two ways of working, fuzzed: SIMD against scalar, zstd in C.

- The SIMD streamvbyte loops (SSSE3/SSE4.1, chosen at run time) and the scalar
  ones give the same verdict and the same values on any payload, and those
  values are the pure-Python reference's (`tests.reference`).
- `decode_frame` / `decode_frames` (zstd through libzstd, without the GIL) on
  good, cut and damaged frames: the same verdict with either loop, the right
  values when they decode, nothing written outside `out`, and crafted tables of
  blocks, starts, sizes, counts and positions refused with a ValueError before
  anything is read.
- Without libzstd (``XSZ_NO_LIBZSTD``) and without SIMD (``XSZ_NO_SIMD``) xsz
  decodes the same values through python-zstandard and the scalar loops.

CI runs each property a bounded number of times; ``XSZ_FUZZ_EXAMPLES`` (see
test_fuzz_codec.py) makes a long run.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import reference
from tests.test_fuzz_codec import CRAFTED, KERNELS, damaged, frame_of, fuzz, int_arrays, payloads
from xsz import codec
from xsz.errors import CodecError

SIMD = KERNELS is not None and KERNELS.simd_supported()
ZSTD = KERNELS is not None and KERNELS.zstd_version() > 0
needs_simd = pytest.mark.skipif(not SIMD, reason="no kernels, or a CPU without SSSE3/SSE4.1")
needs_zstd = pytest.mark.skipif(not ZSTD, reason="no kernels, or libzstd not found")
WAYS = [(2, False), (2, True), (4, False), (4, True)]
"""(itemsize, delta) of the four decode loops."""


def out_dtype(itemsize: int, delta: bool) -> np.dtype[Any]:
    return np.dtype(f"{'i' if delta else 'u'}{itemsize}")


def decode_with(payload: bytes, n: int, itemsize: int, delta: bool, impl: int) -> tuple[str, Any]:
    """("ok", bytes decoded) or ("error", message), with guard items around `out`
    that must stay untouched."""
    guarded = np.full(n + 16, 0x5A5A, out_dtype(itemsize, delta))
    out = guarded[8:-8]
    try:
        KERNELS.decode(payload, n, out, itemsize, delta, impl)
        result: tuple[str, Any] = ("ok", out.tobytes())
    except ValueError as exc:
        result = ("error", str(exc))
    assert (guarded[:8] == 0x5A5A).all() and (guarded[-8:] == 0x5A5A).all()
    return result


def reference_values(payload: bytes, n: int, delta: bool) -> list[int]:
    values = reference.svb_decode(payload, n)
    return reference.unzigzag_delta(values) if delta else values


@needs_simd
@fuzz(200)
@given(payload=payloads(), data=st.data())
def test_fuzz_simd_loops_are_the_scalar_ones_and_the_reference(payload, data):
    try:
        n = codec.svb_count(payload)
    except CodecError:
        n = data.draw(st.integers(0, len(payload)))
    n = max(0, n + data.draw(st.sampled_from([0, 0, 0, -1, 1, -4, 4])))
    for itemsize, delta in WAYS:
        scalar = decode_with(payload, n, itemsize, delta, 0)
        simd = decode_with(payload, n, itemsize, delta, 1)
        assert scalar == simd, (itemsize, delta, n)
        if scalar[0] == "ok":
            got = np.frombuffer(scalar[1], out_dtype(itemsize, delta)).tolist()
            assert got == reference_values(payload, n, delta)
        elif itemsize == 2 and "does not fit" in scalar[1]:
            # refused for its width only: the 32-bit loops decode it
            assert decode_with(payload, n, 4, delta, 1)[0] == "ok"


@needs_simd
@fuzz(100)
@given(data=st.data())
def test_fuzz_simd_loops_decode_long_arrays(data):
    """Arrays of thousands of values (the SIMD loops' main path), every dtype."""
    dtype = data.draw(st.sampled_from([np.int16, np.int32, np.uint16, np.uint32]))
    values = data.draw(int_arrays(np.dtype(dtype)))
    payload = codec.encode_payload(values)
    delta = values.dtype.kind == "i"
    for impl in (0, 1):
        assert decode_with(payload, len(values), values.itemsize, delta, impl) == (
            "ok",
            values.tobytes(),
        )
    if values.itemsize == 4 and len(values):  # into 16 bits: both refuse or both decode
        assert decode_with(payload, len(values), 2, delta, 0) == decode_with(
            payload, len(values), 2, delta, 1
        )


def frame_with(frame: bytes, n: int, dtype: np.dtype[Any], impl: int) -> tuple[bool, bytes]:
    """`decode_frame`'s verdict and what it wrote, guard items untouched."""
    guarded = np.zeros(n + 16, dtype)
    guarded[:8] = guarded[-8:] = 7
    out = guarded[8:-8]
    kind = codec._svb._KIND_CODES[codec.kind_of(dtype)]
    ok = KERNELS.decode_frame(frame, n, out, kind, dtype.itemsize, impl)
    assert (guarded[:8] == 7).all() and (guarded[-8:] == 7).all()
    return ok, out.tobytes()


@needs_zstd
@fuzz(200)
@given(data=st.data())
def test_fuzz_frames_in_c_good_cut_and_damaged(data):
    dtype = np.dtype(data.draw(st.sampled_from([np.int16, np.int32, np.uint16, np.uint32])))
    values = data.draw(int_arrays(dtype))
    form = data.draw(st.sampled_from(["plain", "checksum", "unsized"]))
    frame = frame_of(values, form)
    n = len(values)
    impls = (0, 1) if SIMD else (0,)
    for impl in impls:
        assert frame_with(frame, n, dtype, impl) == (True, values.tobytes())
    bad, small = data.draw(damaged(frame))
    count = max(0, n + data.draw(st.sampled_from([0, 0, -1, 1, 1000])))
    verdicts = {
        (ok, got if ok else None)  # (what a refused frame leaves in out is not defined)
        for ok, got in (frame_with(bad, count, dtype, impl) for impl in impls)
    }
    assert len(verdicts) == 1  # the SIMD and scalar loops agree
    ok, got = verdicts.pop()
    if ok and form == "checksum" and small and count == n:
        assert got == values.tobytes()  # a checksummed frame survives only intact
    # the public functions: the values, or a CodecError naming the damage
    try:
        decoded = codec.decode_array(bad, dtype, count)
    except CodecError:
        return
    assert decoded.dtype == dtype and decoded.shape == (count,)


@needs_zstd
@fuzz(150)
@given(
    payload_values=st.lists(st.integers(0, 3000), max_size=30),
    rows=st.lists(
        st.tuples(*[st.sampled_from(CRAFTED) | st.integers(-2, 60) for _ in range(5)]),
        min_size=1,
        max_size=4,
    ),
    size=st.sampled_from([0, 1, 4, 50]),
    first=st.integers(-1, 5),
    kind=st.sampled_from([0, 1, 2]),
)
def test_fuzz_decode_frames_takes_any_table(payload_values, rows, size, first, kind):
    """Blocks, starts, sizes, counts and positions as a corrupt index may give them:
    a ValueError before anything is read, or a verdict, and nothing written
    outside out."""
    frame = codec.encode_array(np.array(payload_values, dtype=np.uint16))
    blocks = [frame, frame[:5]]
    table = np.array(rows, dtype=np.int64)
    guarded = np.full(size + 16, 0xA5A5, np.uint16)
    out = guarded[8:-8]
    n_blocks = len(blocks)
    within = all(
        0 <= b < n_blocks
        and a >= 0
        and s >= 0
        and a <= len(blocks[b]) - s
        and p >= 0
        and 0 <= c <= size - p
        for b, a, s, c, p in rows
    )
    if within and 0 <= first <= len(rows):
        failed = KERNELS.decode_frames(blocks, table, out, kind, 2, first)
        assert failed == -1 or first <= failed < len(rows)
    else:
        with pytest.raises(ValueError, match=r"not within|do not fit|first must"):
            KERNELS.decode_frames(blocks, table, out, kind, 2, first)
    assert (guarded[:8] == 0xA5A5).all() and (guarded[-8:] == 0xA5A5).all()


@needs_zstd
def test_decode_frames_refuses_bad_arguments():
    frame = codec.encode_array(np.arange(4, dtype=np.int16))
    table = np.array([[0, 0, len(frame), 4, 0]], dtype=np.int64)
    out = np.zeros(4, np.int16)
    assert KERNELS.decode_frames([frame], table, out, 1, 2, 0) == -1
    assert out.tolist() == [0, 1, 2, 3]
    for args, match in [
        (([frame], table, out, 3, 2, 0), "kind"),
        (([frame], table, out, 1, 8, 0), "itemsize"),
        (([frame], table[:, :4].copy(), out, 1, 2, 0), "5 int64"),
        (([frame], table, out, 1, 2, 2), "first"),
        (([frame], table, np.zeros(3, np.int16), 1, 2, 0), "do not fit"),
        (([frame[:-1]], table, out, 1, 2, 0), "not within"),
        (([], table, out, 1, 2, 0), "not within"),
    ]:
        with pytest.raises(ValueError, match=match):
            KERNELS.decode_frames(*args)
    with pytest.raises(TypeError):
        KERNELS.decode_frames([object()], table, out, 1, 2, 0)


@needs_zstd
def test_decode_frames_names_the_damaged_frame_among_many():
    """A damaged frame among good ones: decode_blocks_into returns its index, the
    others decode, whether it is first, last or between."""
    reads = [np.arange(k * 50, dtype=np.int16) - k for k in range(1, 9)]
    for at in (0, 3, 7):
        frames = [codec.encode_array(r, checksum=True) for r in reads]
        frames[at] = frames[at][:-6] + bytes([frames[at][-6] ^ 1]) + frames[at][-5:]
        sizes = np.array([len(f) for f in frames], np.int64)
        counts = np.array([len(r) for r in reads], np.int64)
        out = np.zeros(int(counts.sum()), np.int16)
        positions = np.cumsum(counts) - counts
        blocks = [(b"".join(frames), np.cumsum(sizes) - sizes, sizes)]
        assert codec.decode_blocks_into(blocks, counts, positions, out) == at
        with pytest.raises(CodecError):
            codec.decode_array(frames[at], np.int16, len(reads[at]))


FALLBACK = """
import numpy as np
from xsz import _kernels, codec
from xsz.codec import _svb
assert _kernels.zstd_version() == 0 and not _svb._C_ZSTD
assert not _kernels.simd_enabled()
try:
    _kernels.decode_frame(b"", 0, np.zeros(0, np.int16), 1, 2)
except ValueError as exc:
    assert "libzstd" in str(exc)
else:
    raise AssertionError("decode_frame ran without libzstd")
values = (np.cumsum(np.random.default_rng(1).integers(-300, 300, 5000)) % 30000).astype(np.int16)
frames = [codec.encode_array(values), codec.encode_array(values[:77])]
assert np.array_equal(codec.decode_array(frames[0], np.int16, 5000), values)
sizes = np.array([len(f) for f in frames], np.int64)
counts = np.array([5000, 77], np.int64)
out = np.zeros(5077, np.int16)
blocks = [(b"".join(frames), np.cumsum(sizes) - sizes, sizes)]
assert codec.decode_blocks_into(blocks, counts, np.cumsum(counts) - counts, out) == -1
assert np.array_equal(out, np.concatenate([values, values[:77]]))
print("ok")
"""


@pytest.mark.skipif(KERNELS is None, reason="xsz._kernels not built or disabled")
def test_without_libzstd_and_simd_the_same_values():
    env = dict(os.environ, XSZ_NO_LIBZSTD="1", XSZ_NO_SIMD="1")
    done = subprocess.run(
        [sys.executable, "-c", FALLBACK], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@needs_zstd
def test_frames_in_c_and_through_python_zstandard_alike():
    """Good frames of every numeric type decode to the same values both ways."""
    rng = np.random.default_rng(5)
    for dtype, n in itertools.product(
        [np.int16, np.int32, np.uint16, np.uint32, np.float16, np.float32, np.float64],
        [0, 1, 3, 4, 17, 1000, 40_000],
    ):
        if np.dtype(dtype).kind == "f":
            values = rng.standard_normal(n).astype(dtype)
        else:
            info = np.iinfo(dtype)
            values = rng.integers(info.min, int(info.max) + 1, n, dtype=np.int64).astype(dtype)
        for checksum in (False, True):
            frame = codec.encode_array(values, checksum=checksum)
            c_side = codec.decode_array(frame, dtype, n)
            with contextlib.ExitStack() as stack:
                stack.enter_context(_python_zstd())
                py_side = codec.decode_array(frame, dtype, n)
            assert c_side.tobytes() == py_side.tobytes() == values.tobytes()


@contextlib.contextmanager
def _python_zstd():
    saved, codec._svb._C_ZSTD = codec._svb._C_ZSTD, False
    try:
        yield
    finally:
        codec._svb._C_ZSTD = saved


@pytest.mark.skipif(KERNELS is None, reason="xsz._kernels not built or disabled")
def test_kernels_find_libzstd_where_it_is_installed():
    """A libzstd the dynamic loader knows is loaded (else batches would quietly
    decode through python-zstandard, slower and holding the GIL longer)."""
    import ctypes.util

    if os.environ.get("XSZ_NO_LIBZSTD") or ctypes.util.find_library("zstd") is None:
        pytest.skip("no libzstd on this machine (or XSZ_NO_LIBZSTD is set)")
    assert KERNELS.zstd_version() >= 10400
    assert codec._svb._C_ZSTD
