"""Hypothesis fuzzing of the svb-zstd codec, and a test for each defect it guards.

Every property runs through the C kernels and through the libstreamvbyte +
numpy fallback (``_svb._kernels = None``, what a build without a compiler
uses), which must agree: the same bytes, the same values, the same verdict.

- Round trips: random arrays of every dtype through every public encode and
  decode function, frames one by one and many into one array.
- Payload bytes: any bytes decode alike on both paths, and a 16-bit decode is
  the 32-bit one when every value fits, else a `CodecError` (never wrapped).
- Damage: valid frames with bit flips, cuts, inserted and overwritten bytes,
  frames without a content size, random bytes, through every decode entry point
  (`decode_array`, `decode_payload`, `decode_into`, `decode_blocks_into`,
  `decode_text`, `decode_bytes`, `svb_count`, `frame_content_sizes`, the
  numcodecs codec, the kernels' ``decode`` and ``decode_many``): the right
  values, or on a frame without a checksum the right number of them, or an
  `xsz.errors` exception. Never a crash, a hang, another exception or an output
  of the wrong size.
- Crafted counts and positions: 0, negative, 2**31, 2**63-1 and the like.

CI runs each property a bounded number of times (the file takes a few seconds).
A long run sets ``XSZ_FUZZ_EXAMPLES``, the examples *per property* (there are
nine: 22000 makes about 200,000 in all, some 10 minutes on one core)::

    XSZ_FUZZ_EXAMPLES=22000 python -m pytest tests/test_fuzz_codec.py \
        -p no:cacheprovider --hypothesis-show-statistics

A crash of the kernels kills the pytest process, which fails the run; the
defect tests that used to crash run their reproducer in a subprocess instead.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import tracemalloc
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from xsz import codec
from xsz.codec import _svb
from xsz.errors import CodecError, XszError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

KERNELS = _svb._kernels
needs_kernels = pytest.mark.skipif(KERNELS is None, reason="xsz._kernels not built or disabled")

LONG_RUN = int(os.environ.get("XSZ_FUZZ_EXAMPLES", "0"))


def fuzz(examples: int) -> Callable[[Any], Any]:
    """Hypothesis settings: `examples` in CI, ``XSZ_FUZZ_EXAMPLES`` in a long run."""
    return settings(
        max_examples=LONG_RUN or examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


INT_DTYPES = [np.dtype(t) for t in (np.int16, np.int32, np.uint16, np.uint32)]
FLOAT_DTYPES = [np.dtype(t) for t in (np.float16, np.float32, np.float64, np.longdouble)]
WIDER = {np.dtype(np.int16): np.dtype(np.int32), np.dtype(np.uint16): np.dtype(np.uint32)}
CRAFTED = [0, 1, 2, 3, 4, 5, -1, -2, 2**31 - 1, 2**31, 2**32, 2**62, 2**63 - 1, -(2**63)]
"""Counts and positions a corrupt or crafted index may hold."""


# --- running both paths ------------------------------------------------------------


@contextlib.contextmanager
def kernels(module: Any) -> Iterator[None]:
    saved, _svb._kernels = _svb._kernels, module
    try:
        yield
    finally:
        _svb._kernels = saved


@contextlib.contextmanager
def c_zstd(on: bool) -> Iterator[None]:
    """Whether the kernels decode zstd themselves (through libzstd, when loaded)."""
    saved, _svb._C_ZSTD = _svb._C_ZSTD, on and saved_c_zstd()
    try:
        yield
    finally:
        _svb._C_ZSTD = saved


def saved_c_zstd() -> bool:
    return KERNELS is not None and KERNELS.zstd_version() > 0


SAME_ZSTD = saved_c_zstd() and (
    KERNELS.zstd_version() == int("".join(f"{v:02d}" for v in zstandard.ZSTD_VERSION))
)
"""Whether the libzstd the kernels loaded is python-zstandard's version: if not,
the two may differ on damage that only a checksum would catch."""


def has_checksum(frame: bytes) -> bool:
    """Whether `frame` starts as a zstd frame header with the checksum flag."""
    return frame[:4] == codec.ZSTD_MAGIC and len(frame) > 4 and bool(frame[4] & 0x04)


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """``("ok", fn())`` or ``("error", exc)`` for an xsz error; anything else fails."""
    try:
        return "ok", fn()
    except XszError as exc:
        return "error", exc


def both(
    fn: Callable[[], Any],
    frame: bytes | None = None,
    check: Callable[[tuple[str, Any]], None] | None = None,
) -> tuple[tuple[str, Any], tuple[str, Any]]:
    """`outcome` of `fn` with the kernels, then with the fallback.

    With the kernels it runs twice: zstd in the kernels (libzstd) and zstd through
    python-zstandard; those two must agree as well, except on a damaged `frame`
    when the two libraries are different versions of zstd: each detects other
    damage (one refuses what the other decodes, rightly when a checksum holds).
    Then the kernels' libzstd outcome must pass `check`, the checks the caller
    makes of the python-zstandard one (returned with the fallback's)."""
    with kernels(KERNELS):
        fast = outcome(fn)
        with c_zstd(False):
            mid = outcome(fn)
    with kernels(None):
        slow = outcome(fn)
    if frame is None or SAME_ZSTD:
        assert fast[0] == mid[0] and same_value(fast[1], mid[1]), f"{fast!r} != {mid!r}"
    elif check is not None:
        check(fast)
    return mid, slow


def same_array(a: np.ndarray, b: np.ndarray) -> bool:
    """Same dtype, shape and bytes (NaN payloads included)."""
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def same_value(a: Any, b: Any) -> bool:
    """Equal results: arrays by `same_array`, tuples item by item, errors by text."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and same_array(a, b)
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(same_value, a, b))
    if isinstance(a, Exception):
        return type(a) is type(b) and str(a) == str(b)
    return bool(a == b)


def agree(results: tuple[tuple[str, Any], tuple[str, Any]]) -> tuple[str, Any]:
    """Both paths gave the same verdict (and equal arrays): return the kernels' one."""
    (k_status, k_value), (f_status, f_value) = results
    assert k_status == f_status, (
        f"kernels: {k_status} {k_value!r}, fallback: {f_status} {f_value!r}"
    )
    if k_status == "ok" and isinstance(k_value, np.ndarray):
        assert same_array(k_value, f_value)
    elif k_status == "ok":
        assert k_value == f_value
    return k_status, k_value


# --- strategies --------------------------------------------------------------------


@st.composite
def int_arrays(draw: st.DrawFn, dtype: np.dtype[Any]) -> np.ndarray:
    """Hypothesis' own arrays (extremes and all) or long seeded ones: full range,
    a nanopore-like walk, or a walk along the edges of the range."""
    if draw(st.booleans()):
        return draw(hnp.arrays(dtype, st.integers(0, 40)))
    info = np.iinfo(dtype)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(0, 3000))
    style = draw(st.sampled_from(["full", "walk", "edge"]))
    if style == "full":
        return rng.integers(info.min, int(info.max) + 1, n, dtype=np.int64).astype(dtype)
    start = int(info.max) - 5 if style == "edge" else int(info.min + info.max) // 2
    walk = start + np.cumsum(rng.integers(-9, 10, n))
    return np.clip(walk, info.min, info.max).astype(dtype)


@st.composite
def any_arrays(draw: st.DrawFn, dtypes: list[np.dtype[Any]] | None = None) -> np.ndarray:
    dtype = draw(st.sampled_from(dtypes or INT_DTYPES + FLOAT_DTYPES))
    if dtype.kind in "iu":
        return draw(int_arrays(dtype))
    return draw(hnp.arrays(dtype, st.integers(0, 60), elements={"allow_nan": True}))


def frame_of(values: np.ndarray, form: str) -> bytes:
    """A frame of `values`: as xsz and pysz write it, checksummed, or with no
    content size in its header (as another zstd writer may)."""
    if form == "unsized":
        payload = codec.encode_payload(values)
        return zstandard.ZstdCompressor(write_content_size=False).compress(payload)
    return codec.encode_array(values, checksum=form == "checksum")


FORMS = st.sampled_from(["plain", "checksum", "unsized"])


@st.composite
def damaged(draw: st.DrawFn, frame: bytes) -> tuple[bytes, bool]:
    """`frame` damaged in one of several ways, and whether that was one small change
    (which a checksummed frame must detect or survive with its values intact)."""
    buf = bytearray(frame)
    kind = draw(st.sampled_from(["flip", "flips", "cut", "drop", "insert", "overwrite", "header"]))
    if kind == "flip":
        at = draw(st.integers(0, len(buf) - 1))
        buf[at] ^= 1 << draw(st.integers(0, 7))
    elif kind == "flips":
        for _ in range(draw(st.integers(2, 8))):
            buf[draw(st.integers(0, len(buf) - 1))] ^= draw(st.integers(1, 255))
    elif kind == "cut":
        del buf[draw(st.integers(0, len(buf) - 1)) :]
    elif kind == "drop":
        at = draw(st.integers(0, len(buf) - 1))
        del buf[at : at + draw(st.integers(1, 8))]
    elif kind == "insert":
        at = draw(st.integers(0, len(buf)))
        buf[at:at] = draw(st.binary(min_size=1, max_size=8))
    elif kind == "overwrite":
        at = draw(st.integers(0, len(buf) - 1))
        chunk = draw(st.binary(min_size=1, max_size=16))
        buf[at : at + len(chunk)] = chunk
    else:  # the frame header: descriptor, window, content size
        at = draw(st.integers(4, min(len(buf) - 1, 13)))
        buf[at] = draw(st.integers(0, 255))
    return bytes(buf), kind in ("flip", "cut")


def svb_payload(values: np.ndarray, extra: np.ndarray | None = None) -> bytes:
    """streamvbyte bytes of uint32 `values`, each in its minimal size plus `extra`
    bytes (up to 4 in all): the non-minimal form a crafted payload may use."""
    values = np.asarray(values, dtype=np.int64)
    need = 1 + (values >= 2**8).astype(int) + (values >= 2**16) + (values >= 2**24)
    sizes = need if extra is None else np.minimum(4, need + extra)
    keys = np.zeros(-(-len(values) // 4), dtype=np.uint8)
    for i, size in enumerate(sizes.tolist()):
        keys[i // 4] |= (size - 1) << (2 * (i % 4))
    data = b"".join(int(v).to_bytes(int(s), "little") for v, s in zip(values, sizes, strict=True))
    return keys.tobytes() + data


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    """Streamvbyte payloads: random bytes, or values of any 32-bit size (often
    past 16 bits, in deltas or in values) in minimal or non-minimal form."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.binary(max_size=200))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(0, 400))
    style = draw(st.sampled_from(["small", "wide", "zigzag-walk", "any"]))
    if style == "small":
        values = rng.integers(0, 2**16, n)
    elif style == "wide":  # a few values past 16 bits
        values = rng.integers(0, 2**16, n)
        values[rng.random(n) < draw(st.sampled_from([0.001, 0.05]))] = 2**16 + rng.integers(0, 9)
    elif style == "zigzag-walk":  # small deltas from near an int16 bound
        deltas = rng.integers(-3, 4, n)
        deltas[:1] = draw(st.sampled_from([32760, -32760, 32767, -32768, 0]))
        values = (deltas << 1) ^ (deltas >> 63)  # zigzag
    else:
        values = rng.integers(0, 2**32, n)
    extra = rng.integers(0, 3, n) if draw(st.booleans()) else None
    return svb_payload(values, extra)


# --- round trips -------------------------------------------------------------------


@fuzz(80)
@given(data=st.data())
def test_fuzz_round_trip_every_function(data):
    values = data.draw(any_arrays())
    dtype, n = values.dtype, len(values)
    if data.draw(st.booleans()) and n > 1:
        values = values[:: data.draw(st.integers(1, 3))]  # not contiguous
        n = len(values)
    (_, p_fast), (_, p_slow) = both(lambda: codec.encode_payload(values))
    assert p_fast == p_slow  # the kernels' bytes are the reference encoder's
    checksum = data.draw(st.booleans())
    frame = agree(both(lambda: codec.encode_array(values, checksum=checksum)))[1]
    assert agree(both(lambda: codec.decode_payload(p_fast, dtype, n)))[0] == "ok"
    for count in (n, None):
        status, out = agree(both(lambda count=count: codec.decode_array(frame, dtype, count)))
        assert status == "ok" and same_array(out, values)
    for layout in ("whole", "strided", "unaligned"):
        status, out = agree(both(lambda layout=layout: decode_into(frame, dtype, n, layout)))
        assert status == "ok" and same_array(out, values)


def decode_into(frame: bytes, dtype: np.dtype[Any], n: int, layout: str) -> np.ndarray:
    """`codec.decode_into` a new output array of n items: contiguous, strided, or
    not aligned (which the kernels leave to the fallback); a copy of it."""
    if layout == "strided":
        out = np.zeros(2 * n, dtype)[::2]
    elif layout == "unaligned":
        out = np.frombuffer(bytearray(n * dtype.itemsize + 1), dtype, n, offset=1)
    else:
        out = np.zeros(n, dtype)
    codec.decode_into(frame, out)
    return out.copy()


@fuzz(30)
@given(data=st.data())
def test_fuzz_round_trip_many_frames_into_one_array(data):
    dtype = data.draw(st.sampled_from(INT_DTYPES + FLOAT_DTYPES[1:3]))
    n_frames = data.draw(st.sampled_from([1, 3, 33, 70]))  # 33+: the grouped kernel path
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    reads = [data.draw(any_arrays([dtype])) if k < 2 else None for k in range(n_frames)]
    reads = [
        r if r is not None else rng.integers(0, 100, rng.integers(0, 300)).astype(dtype)
        for r in reads
    ]
    frames = [codec.encode_array(r) for r in reads]
    counts = np.array([len(r) for r in reads], dtype=np.int64)
    order = rng.permutation(n_frames)  # where each read goes in out: any layout
    positions = np.empty(n_frames, dtype=np.int64)
    positions[order] = np.cumsum(counts[order]) - counts[order]
    expected = np.zeros(int(counts.sum()), dtype)
    for r, p in zip(reads, positions.tolist(), strict=True):
        expected[p : p + len(r)] = r
    blocks = split_blocks(frames, data.draw(st.integers(1, 3)))

    def run() -> np.ndarray:
        out = np.zeros(len(expected), dtype)
        assert codec.decode_blocks_into(blocks, counts, positions, out) == -1
        return out

    status, out = agree(both(run))
    assert status == "ok" and same_array(out, expected)


def split_blocks(frames: list[bytes], parts: int) -> list[tuple[bytes, np.ndarray, np.ndarray]]:
    """`frames` as `decode_blocks_into` takes them, in up to `parts` blocks."""
    cuts = np.linspace(0, len(frames), parts + 1).astype(int)
    blocks = []
    for a, b in itertools.pairwise(cuts):
        sizes = np.array([len(f) for f in frames[a:b]], dtype=np.int64)
        blocks.append((b"".join(frames[a:b]), np.cumsum(sizes) - sizes, sizes))
    return blocks


# --- payload bytes: kernels = fallback, and 16-bit values never wrap ------------------


@fuzz(150)
@given(payload=payloads(), data=st.data())
def test_fuzz_payload_bytes_decode_alike_and_never_wrap(payload, data):
    count = data.draw(st.one_of(st.none(), st.integers(0, len(payload) + 2)))
    for narrow, wide in WIDER.items():
        r16 = agree(both(lambda narrow=narrow: codec.decode_payload(payload, narrow, count)))
        r32 = agree(both(lambda wide=wide: codec.decode_payload(payload, wide, count)))
        if r32[0] == "error":
            assert r16[0] == "error"
            continue
        info = np.iinfo(narrow)
        if ((r32[1] >= info.min) & (r32[1] <= info.max)).all():
            assert r16[0] == "ok" and same_array(r16[1], r32[1].astype(narrow))
        else:
            assert r16[0] == "error" and "does not fit" in str(r16[1])


# --- damaged frames and random bytes through every entry point ----------------------


@fuzz(120)
@given(data=st.data())
def test_fuzz_damaged_frames_through_every_entry_point(data):
    values = data.draw(any_arrays())
    form = data.draw(FORMS)
    frame, small = data.draw(damaged(frame_of(values, form)))
    exact = form == "checksum" and small  # then: the right values or an error
    check_every_entry_point(frame, values.dtype, len(values), values if exact else None, data)


@fuzz(100)
@given(data=st.data())
def test_fuzz_random_bytes_through_every_entry_point(data):
    dtype = data.draw(st.sampled_from(INT_DTYPES + FLOAT_DTYPES))
    head = data.draw(st.sampled_from([b"", codec.ZSTD_MAGIC]))
    frame = head + data.draw(st.binary(max_size=120))
    count = data.draw(st.integers(0, 64))
    check_every_entry_point(frame, dtype, count, None, data)


def check_every_entry_point(
    frame: bytes, dtype: np.dtype[Any], n: int, expected: np.ndarray | None, data: Any
) -> None:
    """Decode `frame` (n values of dtype) every way xsz can: each gives n values of
    dtype (`expected` ones, when given) or an xsz error, alike on both paths."""

    def checked(status_value: tuple[str, Any]) -> None:
        status, value = status_value
        if status == "ok":
            assert value.dtype == dtype and value.shape == (n,)
            if expected is not None:
                assert same_array(value, expected)

    def any_length(status_value: tuple[str, Any]) -> None:
        status, value = status_value
        assert status == "error" or (value.dtype == dtype and value.ndim == 1)

    checked(agree(both(lambda: codec.decode_array(frame, dtype, n), frame, checked)))
    any_length(agree(both(lambda: codec.decode_array(frame, dtype), frame, any_length)))
    layout = data.draw(st.sampled_from(["whole", "strided", "unaligned"]))
    checked(agree(both(lambda: decode_into(frame, dtype, n, layout), frame, checked)))
    checked(agree(both(lambda: numcodecs_decode(frame, dtype, n), frame, checked)))
    for decode in (codec.decode_bytes, codec.decode_text):
        assert outcome(lambda decode=decode: decode(frame))[0] in ("ok", "error")
    check_among_good_frames(frame, dtype, n, expected, data)


def numcodecs_decode(frame: bytes, dtype: np.dtype[Any], n: int) -> np.ndarray:
    from xsz.codec import SvbZstd

    out = np.zeros(n, dtype)
    return SvbZstd(dtype=dtype).decode(frame, out=out)  # type: ignore[no-any-return]


def check_among_good_frames(
    frame: bytes, dtype: np.dtype[Any], n: int, expected: np.ndarray | None, data: Any
) -> None:
    """`frame` among good ones in blocks (sometimes enough for the grouped kernel
    path): `decode_blocks_into` names it or decodes it, and every good frame right."""
    good = [np.arange(k % 7, dtype=dtype) + k for k in range(data.draw(st.sampled_from([2, 40])))]
    at = data.draw(st.integers(0, len(good)))
    frames = [codec.encode_array(g) for g in good]
    frames.insert(at, frame)
    counts = np.array([len(g) for g in good[:at]] + [n] + [len(g) for g in good[at:]], np.int64)
    positions = np.cumsum(counts) - counts
    blocks = split_blocks(frames, data.draw(st.integers(1, 2)))

    def run() -> tuple[int, np.ndarray | None]:
        out = np.zeros(int(counts.sum()), dtype)
        failed = codec.decode_blocks_into(blocks, counts, positions, out)
        return failed, (out if failed == -1 else None)  # else out is partly written

    def check(status_value: tuple[str, Any]) -> None:
        status, (failed, out) = status_value
        assert status == "ok"  # a bad frame is returned, not raised
        assert failed in (-1, at)
        if failed == -1:
            if expected is not None:
                assert same_array(out[positions[at] :][:n], expected)
            for g, p in zip(good, np.delete(positions, at).tolist(), strict=True):
                assert same_array(out[p : p + len(g)], g)

    (k_status, (k_failed, k_out)), (f_status, (f_failed, f_out)) = both(run, frame, check)
    check((k_status, (k_failed, k_out)))
    assert k_status == f_status and k_failed == f_failed
    if k_failed == -1:
        assert same_array(k_out, f_out)


@fuzz(80)
@given(
    block=st.binary(max_size=60), starts=st.lists(st.sampled_from(CRAFTED) | st.integers(-5, 80))
)
def test_fuzz_frame_content_sizes_of_any_block(block, starts):
    sizes = codec.frame_content_sizes(block, np.array(starts, dtype=np.int64))
    assert sizes.shape == (len(starts),) and sizes.dtype == np.int64


@fuzz(60)
@given(payload=payloads())
def test_fuzz_svb_count_of_any_payload(payload):
    status, n = outcome(lambda: codec.svb_count(payload))
    if status == "ok":  # the one count that fits decodes
        assert codec.decode_payload(payload, np.uint32, n).shape == (n,)


# --- crafted counts and positions --------------------------------------------------


@fuzz(80)
@given(data=st.data())
def test_fuzz_crafted_counts_through_the_public_functions(data):
    values = data.draw(int_arrays(data.draw(st.sampled_from(INT_DTYPES))))
    dtype, n = values.dtype, len(values)
    frame, payload = codec.encode_array(values), codec.encode_payload(values)
    count = data.draw(st.sampled_from([*CRAFTED, n, n + 1, n - 1, len(payload), len(payload) + 1]))
    for fn in (
        lambda: codec.decode_array(frame, dtype, count),
        lambda: codec.decode_payload(payload, dtype, count),
    ):
        status, value = agree(both(fn))
        assert (status == "ok") == (count == n)
        if status == "ok":
            assert same_array(value, values)
    size = data.draw(st.sampled_from([0, n, n + 3, 2 * n + 1]))
    position = data.draw(st.sampled_from([*CRAFTED, 0, size - n, size - n + 1]))

    def run() -> int:
        out = np.zeros(size, dtype)
        blocks = split_blocks([frame] * 40, 1)  # enough frames for the grouped path
        counts = np.full(40, count if -(2**63) <= count < 2**63 else 0, dtype=np.int64)
        positions = np.full(40, position, dtype=np.int64)
        return codec.decode_blocks_into(blocks, counts, positions, out)

    status, value = agree(both(run))
    fits = position >= 0 and 0 <= count <= size - position
    assert status == ("ok" if fits else "error")
    if status == "error":
        assert "do not fit" in str(value)


@needs_kernels
@fuzz(150)
@given(
    payload=payloads(),
    counts=st.lists(st.sampled_from(CRAFTED) | st.integers(0, 50), min_size=1, max_size=4),
    positions=st.lists(st.sampled_from(CRAFTED) | st.integers(0, 50), min_size=1, max_size=4),
    size=st.sampled_from([0, 1, 4, 50, 200]),
    itemsize=st.sampled_from([2, 4]),
    delta=st.booleans(),
)
def test_fuzz_kernels_take_any_counts_and_positions(
    payload, counts, positions, size, itemsize, delta
):
    """The kernels themselves: a ValueError (the wrappers' CodecError) or a result,
    and nothing written outside out (guard items around it stay untouched)."""
    k = min(len(counts), len(positions))
    counts_a = np.array(counts[:k], dtype=np.int64)
    positions_a = np.array(positions[:k], dtype=np.int64)
    dtype = np.dtype(f"u{itemsize}")
    guarded = np.full(size + 16, 0xA5A5, dtype)
    out = guarded[8:-8]
    fits = all(p >= 0 and 0 <= c <= size - p for c, p in zip(counts_a, positions_a, strict=True))
    if fits:
        failed = KERNELS.decode_many([payload] * k, counts_a, positions_a, out, itemsize, delta)
        assert -1 <= failed < k
    else:
        with pytest.raises(ValueError, match="do not fit"):
            KERNELS.decode_many([payload] * k, counts_a, positions_a, out, itemsize, delta)
    assert (guarded[:8] == 0xA5A5).all() and (guarded[-8:] == 0xA5A5).all()
    count = counts[0]
    guarded = np.full((count if 0 <= count <= 10**5 else size) + 16, 0xA5A5, dtype)
    with contextlib.suppress(ValueError):  # a payload that does not fit the count
        KERNELS.decode(payload, count, guarded[8:-8], itemsize, delta)
    assert (guarded[:8] == 0xA5A5).all() and (guarded[-8:] == 0xA5A5).all()


# --- one test per defect -----------------------------------------------------------

HEAP_OVERWRITE = """
import numpy as np
from xsz import _kernels
cases = [
    ([1], [2**63 - 1]),       # the issue's reproducer: position + count wraps negative
    ([2**63 - 1], [1]),       # count + position wraps negative
    ([1], [2**62]),           # position * itemsize wraps
    ([2**62], [0]),           # a count far past out
    ([2, 1], [0, 2**63 - 1]), # the second payload of two
]
for counts, positions in cases:
    payloads = [b"\\x00\\x01\\x02"] * len(counts)
    try:
        result = _kernels.decode_many(payloads, np.array(counts), np.array(positions),
                                      np.zeros(4, np.uint16), 2, False)
    except ValueError as exc:
        print("refused:", exc)
    else:
        print("accepted:", counts, positions, "->", result)
"""


@needs_kernels
def test_defect_decode_many_bounds_check_overflowed():
    """Issue 9 item 5: ``positions[i] + counts[i] > capacity`` overflowed int64, and
    decode_many wrote outside `out` (heap corruption: abort or segfault)."""
    run = subprocess.run(
        [sys.executable, "-c", HEAP_OVERWRITE],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert run.returncode == 0, f"crashed ({run.returncode}): {run.stderr[-2000:]}"
    lines = run.stdout.splitlines()
    assert len(lines) == 5 and all(line.startswith("refused:") for line in lines), run.stdout
    assert "payload 0: 1 values at position 9223372036854775807 do not fit" in lines[0]
    assert "payload 1:" in lines[4]


def test_defect_decode_blocks_into_refuses_spans_outside_out():
    """The same spans through the public function: a CodecError naming the frame."""
    frame = codec.encode_array(np.array([7], np.uint16))
    blocks = split_blocks([frame] * 40, 1)
    out = np.zeros(4, np.uint16)
    for count, position in ((1, 2**63 - 1), (2**63 - 1, 1), (1, -1), (-1, 0), (5, 0)):
        counts = np.full(40, count, np.int64)
        positions = np.full(40, position, np.int64)
        with pytest.raises(CodecError, match=f"frame 0: {count} values at position {position}"):
            codec.decode_blocks_into(blocks, counts, positions, out)


WIDE_CASES = {
    # dtype, the 32-bit values the payload holds, the first that does not fit
    "int16 past the top": (np.int16, [5, 32767, 32768, 3], 32768),
    "int16 out and back in": (np.int16, [32767, 40000, 32767], 40000),
    "int16 below the bottom": (np.int16, [-32768, -32769], -32769),
    "int16 far": (np.int16, [2**31 - 1], 2**31 - 1),
    "uint16 one past": (np.uint16, [65535, 65536], 65536),
    "uint16 far": (np.uint16, [1, 2, 3, 2**32 - 1], 2**32 - 1),
}


def payload_of(dtype: type, values: list[int]) -> bytes:
    """The payload of `values` as their 32-bit type writes it (what a crafted or
    corrupt 16-bit stream may hold)."""
    wide = np.int32 if dtype == np.int16 else np.uint32
    return codec.encode_payload(np.array(values, dtype=np.int64).astype(wide))


@pytest.mark.parametrize("case", WIDE_CASES)
@pytest.mark.parametrize("path", ["kernels", "fallback"])
@pytest.mark.parametrize("where", [0, 1000])  # in the tail loop, in the fast loop
def test_defect_16_bit_values_were_wrapped(case, path, where):
    """Issue 9 item 7b: values outside 16 bits in an I16/U16 stream decoded wrapped."""
    if path == "kernels" and KERNELS is None:
        pytest.skip("xsz._kernels not built or disabled")
    dtype, values, bad = WIDE_CASES[case]
    head = [100] * where if dtype == np.uint16 else [0] * where
    payload = payload_of(dtype, head + values)
    frame = codec.compress(payload)
    n = where + len(values)
    with kernels(KERNELS if path == "kernels" else None):
        message = f"value {bad} \\(item {where + values.index(bad)} of {n}\\) does not fit"
        with pytest.raises(CodecError, match=message):
            codec.decode_array(frame, dtype, n)
        with pytest.raises(CodecError, match=message):
            codec.decode_into(frame, np.zeros(n, dtype))
        blocks = split_blocks([frame] * 40, 1)
        counts = np.full(40, n, np.int64)
        assert (
            codec.decode_blocks_into(blocks, counts, counts.cumsum() - n, np.zeros(40 * n, dtype))
            == 0
        )


@pytest.mark.parametrize("path", ["kernels", "fallback"])
def test_defect_16_bit_check_keeps_every_valid_value(path, rng):
    """The check refuses nothing valid: the int16/uint16 extremes, big jumps, and
    values in a longer form than needed (crafted, but in range)."""
    if path == "kernels" and KERNELS is None:
        pytest.skip("xsz._kernels not built or disabled")
    with kernels(KERNELS if path == "kernels" else None):
        for dtype in (np.int16, np.uint16):
            info = np.iinfo(dtype)
            values = rng.choice([info.min, info.max, 0, 1, -1 % (info.max + 1)], 5000).astype(dtype)
            frame = codec.encode_array(values)
            assert codec.encode_payload(values) == payload_of(dtype, values.tolist())  # pysz bytes
            assert same_array(codec.decode_array(frame, dtype, len(values)), values)
        values = rng.integers(0, 2**16, 999)
        long_form = svb_payload(values, np.full(999, 2))  # 3- and 4-byte forms of 16-bit values
        assert same_array(codec.decode_payload(long_form, np.uint16, 999), values.astype(np.uint16))


def test_defect_unsized_frame_cut_short_decoded_to_part(rng):
    """A frame with no content size in its header, cut short, decoded to its first
    part without error (text silently truncated, counts inferred wrong)."""
    text = "".join(rng.choice(list("ACGT"), 300_000))
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(text.encode())
    assert codec.decode_text(frame) == text
    for cut in (len(frame) - 1, len(frame) // 2):
        with pytest.raises(CodecError, match="cut short"):
            codec.decode_text(frame[:cut])
    values = rng.integers(0, 2**32, 100_000).astype(np.uint32)
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(
        codec.encode_payload(values)
    )
    with pytest.raises(CodecError):
        codec.decode_array(frame[: len(frame) * 3 // 4], np.uint32)


def test_defect_unsized_frame_stops_at_its_limit():
    """An unsized frame that decodes to far more than expected was decoded whole
    before its size was checked: now it is stopped within a step."""
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(bytes(50_000_000))
    tracemalloc.start()
    try:
        with pytest.raises(CodecError, match="more than the 24"):
            codec.decode_array(frame, np.int16, 4)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000


def test_defect_huge_claimed_size_or_count_allocated_first():
    """A header claiming 2**60 bytes, or a count of 2**40, made the decoder allocate
    before it checked (MemoryError); a negative count gave a bare ValueError."""
    header = codec.ZSTD_MAGIC + bytes([0xC0]) + (2**60).to_bytes(8, "little")
    frame = header + bytes(20)
    for decode in (codec.decode_text, codec.decode_bytes):
        with pytest.raises(CodecError, match="more than it can hold"):
            decode(frame)
    payload = codec.encode_payload(np.arange(10, dtype=np.int16))
    for count in (2**40, 2**62, -1):
        with pytest.raises(CodecError):
            codec.decode_payload(payload, np.int16, count)
        with pytest.raises(CodecError):
            codec.decode_array(codec.compress(payload), np.int16, count)


def test_defect_frame_content_sizes_of_starts_outside_the_block():
    """A start far outside the block overflowed into a bare IndexError."""
    frame = codec.encode_text("ACGT")
    sizes = codec.frame_content_sizes(frame, np.array([0, -100, 2**63 - 1, 2**62], np.int64))
    assert sizes[0] == 4 and sizes.shape == (4,)


@needs_kernels
def test_defect_kernels_refuse_unaligned_buffers():
    """The kernels read and write whole items: an unaligned buffer is refused there
    and decoded by the fallback through the public functions."""
    raw = np.frombuffer(bytearray(9), np.uint16, 4, offset=1)
    with pytest.raises(ValueError, match="aligned"):
        KERNELS.decode(codec.encode_payload(np.arange(4, dtype=np.uint16)), 4, raw, 2, False)
    with pytest.raises(ValueError, match="aligned"):
        KERNELS.encode(raw, 2, False, False)
    values = np.frombuffer(bytearray(9), np.int16, 4, offset=1)
    values[:] = [3, -1, 4, 1]
    frame = codec.encode_array(values)  # encoded from an aligned copy
    assert codec.decode_array(frame, np.int16, 4).tolist() == [3, -1, 4, 1]
    codec.decode_into(frame, values[::-1])
    assert values.tolist() == [1, 4, -1, 3]
