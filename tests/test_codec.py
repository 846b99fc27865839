"""svb-zstd: payload bytes against the reference, round trips, corrupt input, both codec forms."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests import reference
from xsz import codec
from xsz.codec import CODEC_ID, _svb
from xsz.errors import CodecError

INT_CODES = {"I16": np.int16, "I32": np.int32, "U16": np.uint16, "U32": np.uint32}
ALL_DTYPES = [
    np.int16,
    np.int32,
    np.uint16,
    np.uint32,
    np.float16,
    np.float32,
    np.float64,
    np.longdouble,
]


def edge_values(dtype: type) -> np.ndarray:
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        return np.array([info.min, info.max, 0, info.max, info.min, 1, info.min, 0], dtype=dtype)
    info = np.finfo(dtype)
    return np.array(
        [np.nan, np.inf, -np.inf, -0.0, info.tiny, info.max, -info.max, info.smallest_subnormal],
        dtype=dtype,
    )


# --- the payload, byte for byte ------------------------------------------------------


@pytest.mark.parametrize("code", INT_CODES)
@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 257])
def test_codec_payload_matches_reference(code, n, rng):
    dtype = INT_CODES[code]
    info = np.iinfo(dtype)
    values = rng.integers(info.min, int(info.max) + 1, n, dtype=np.int64).astype(dtype)
    assert codec.encode_payload(values) == reference.payload(code, values)


@pytest.mark.parametrize("code", INT_CODES)
def test_codec_payload_matches_reference_at_extremes(code):
    dtype = INT_CODES[code]
    values = edge_values(dtype)
    expected = reference.payload(code, values)
    assert codec.encode_payload(values) == expected
    assert np.array_equal(codec.decode_payload(expected, dtype, len(values)), values)


@pytest.mark.parametrize("code", INT_CODES)
def test_codec_kernels_and_fallback_agree(code, rng):
    """The C kernels and the libstreamvbyte path give the same bytes and values."""
    dtype = INT_CODES[code]
    info = np.iinfo(dtype)
    for n in (0, 1, 3, 4, 5, 1000, 4099):
        values = rng.integers(info.min, int(info.max) + 1, n, dtype=np.int64).astype(dtype)
        delta = code.startswith("I")
        payload = _svb._lib_encode(values, delta)
        assert codec.encode_payload(values) == payload
        assert np.array_equal(_svb._lib_decode(payload, n, np.dtype(dtype), delta), values)


@pytest.mark.skipif(bool(os.environ.get("XSZ_NO_KERNELS")), reason="kernels disabled")
def test_codec_kernels_are_built():
    """A silent build failure would make xsz several times slower; catch it here."""
    assert _svb._kernels is not None, "xsz._kernels did not build (is a C compiler installed?)"


def test_codec_frame_is_pysz_frame():
    values = np.array([510, 498, 503, -4096, 4095], dtype=np.int16)
    frame = codec.encode_array(values)
    assert frame == reference.frame("I16", values)
    params = zstandard.get_frame_parameters(frame)
    assert params.content_size == len(reference.payload("I16", values))
    assert not params.has_checksum


def test_codec_empty_frame_is_nine_bytes():
    assert codec.encode_array(np.zeros(0, np.int16)).hex() == "28b52ffd2000010000"
    assert codec.encode_text("").hex() == "28b52ffd2000010000"


def test_codec_checksum_frames_decode():
    values = np.arange(100, dtype=np.uint32)
    frame = codec.encode_array(values, checksum=True)
    assert zstandard.get_frame_parameters(frame).has_checksum
    assert np.array_equal(codec.decode_array(frame, np.uint32, 100), values)


# --- round trips ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_codec_round_trip_extremes(dtype):
    values = edge_values(dtype)
    out = codec.decode_array(codec.encode_array(values), dtype, len(values))
    assert out.dtype == np.dtype(dtype)
    assert np.array_equal(out, values, equal_nan=True)
    assert out.flags.writeable


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_codec_count_is_inferred(dtype):
    values = np.arange(13).astype(dtype)
    assert np.array_equal(codec.decode_array(codec.encode_array(values), dtype), values)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_codec_round_trip_property(data):
    dtype = data.draw(
        st.sampled_from([np.int16, np.int32, np.uint16, np.uint32, np.float32, np.float64])
    )
    values = data.draw(
        hnp.arrays(
            dtype,
            st.integers(0, 70),
            elements={"allow_nan": True} if np.dtype(dtype).kind == "f" else None,
        )
    )
    step = data.draw(st.integers(1, 3))
    strided = values[::step]  # non-contiguous input
    frame = codec.encode_array(strided)
    out = codec.decode_array(frame, dtype, len(strided))
    assert np.array_equal(out, strided, equal_nan=True)
    if np.dtype(dtype).kind in "iu":
        code = {np.int16: "I16", np.int32: "I32", np.uint16: "U16", np.uint32: "U32"}[dtype]
        assert codec.encode_payload(strided) == reference.payload(code, strided)


@settings(max_examples=40, deadline=None)
@given(st.text())
def test_codec_text_round_trip(text):
    assert codec.decode_text(codec.encode_text(text)) == text


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.uint32, st.integers(0, 200), elements=st.integers(0, 2**32 - 1)))
def test_codec_svb_count_recovers_length(values):
    assert codec.svb_count(codec.encode_payload(values)) == len(values)


# --- corrupt input -------------------------------------------------------------------


def test_codec_rejects_payload_of_wrong_length():
    payload = codec.encode_payload(np.array([1, 70000, 3], dtype=np.uint32))
    frame = codec.compress(payload)
    with pytest.raises(CodecError, match=r"longer|too short|need"):
        codec.decode_array(frame, np.uint32, 2)
    with pytest.raises(CodecError, match=r"too short|need|more than"):
        codec.decode_array(frame, np.uint32, 40)
    with pytest.raises(CodecError):
        codec.decode_array(codec.compress(payload[:-1]), np.uint32, 3)
    with pytest.raises(CodecError):
        codec.decode_array(codec.compress(payload + b"\0"), np.uint32, 3)


def test_codec_rejects_corrupt_frames(rng):
    frame = bytearray(codec.encode_array(rng.integers(0, 1000, 5000).astype(np.int16)))
    with pytest.raises(CodecError):
        codec.decode_array(bytes(frame[: len(frame) // 2]), np.int16, 5000)
    with pytest.raises(CodecError):
        codec.decode_array(b"not a zstd frame at all", np.int16, 5000)
    for position in rng.integers(4, len(frame), 40):
        damaged = bytearray(frame)
        damaged[position] ^= 0xFF
        try:  # a flip inside literals can still decode: then to 5000 int16 values
            out = codec.decode_array(bytes(damaged), np.int16, 5000)
        except CodecError:
            continue
        assert out.shape == (5000,)


def test_codec_rejects_a_frame_that_claims_too_much():
    big = codec.compress(b"\0" * 100_000)
    with pytest.raises(CodecError, match="claims"):
        codec.decode_array(big, np.int16, 10)


def test_codec_rejects_unsupported_dtypes():
    for bad in ("int64", "complex64", ">i2", "bool", "nonsense"):
        with pytest.raises(CodecError):
            codec.normalize_dtype(bad)


# --- numcodecs -----------------------------------------------------------------------


def test_numcodecs_codec_config_round_trip():
    import numcodecs

    c = numcodecs.get_codec({"id": CODEC_ID, "dtype": "int16", "level": 5})
    assert isinstance(c, codec.SvbZstd)
    assert c.get_config() == {"id": "svb-zstd", "dtype": "int16", "level": 5}
    assert numcodecs.get_codec(json.loads(json.dumps(c.get_config()))) == c
    assert repr(c) == "SvbZstd(dtype='int16', level=5)"


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_numcodecs_codec_round_trip(dtype):
    c = codec.SvbZstd(dtype=np.dtype(dtype).name)
    values = edge_values(dtype).reshape(2, 4)  # multi-dimensional: flattened in C order
    encoded = c.encode(values)
    assert np.array_equal(c.decode(encoded).reshape(2, 4), values, equal_nan=True)
    out = np.empty(8, dtype=dtype)
    assert c.decode(encoded, out=out) is out
    assert np.array_equal(out.reshape(2, 4), values, equal_nan=True)


def test_numcodecs_codec_bytes_input_and_non_contiguous():
    c = codec.SvbZstd(dtype="int32")
    values = np.arange(20, dtype=np.int32)
    assert np.array_equal(c.decode(c.encode(values.tobytes())), values)
    assert np.array_equal(c.decode(c.encode(values[::3])), values[::3])


def test_numcodecs_codec_refuses_lossy_input():
    c = codec.SvbZstd(dtype="uint16")
    with pytest.raises(CodecError, match="does not fit"):
        c.encode(np.array([1, -1], dtype=np.int64))
    assert np.array_equal(c.decode(c.encode(np.array([1, 2], dtype=np.int64))), [1, 2])


def test_numcodecs_codec_text():
    c = codec.SvbZstd(dtype="str")
    assert c.decode(c.encode("ACGTΩ")).tolist() == ["ACGTΩ"]
    with pytest.raises(CodecError, match="one string"):
        c.encode(np.array(["a", "b"], dtype=object))


def test_numcodecs_bad_config():
    with pytest.raises(CodecError):
        codec.SvbZstd(dtype="int64")
    with pytest.raises(CodecError):
        codec.SvbZstd(level=99)


def _run_fresh(code: str) -> str:
    """Run `code` in a new interpreter: entry points are found from metadata alone."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_numcodecs_entry_point_in_fresh_process():
    out = _run_fresh(
        "import sys, numpy as np, numcodecs\n"
        "assert 'xsz' not in sys.modules  # found through the entry point, not imported\n"
        "c = numcodecs.get_codec({'id': 'svb-zstd', 'dtype': 'int16'})\n"
        "print(type(c).__module__, c.decode(c.encode(np.array([1, -2], np.int16))).tolist())"
    )
    assert out.split() == ["xsz.codec._numcodecs", "[1,", "-2]"]


# --- zarr v3 -------------------------------------------------------------------------


def test_zarr_codec_round_trip(tmp_path):
    import zarr

    values = np.arange(-500, 500, dtype=np.int16)
    arr = zarr.create_array(
        tmp_path / "a.zarr",
        shape=values.shape,
        chunks=(300,),
        dtype="int16",
        serializer=codec.SvbZstdCodec(),
        compressors=None,
    )
    arr[:] = values
    again = zarr.open_array(tmp_path / "a.zarr")
    assert np.array_equal(again[:], values)
    meta = json.loads((tmp_path / "a.zarr" / "zarr.json").read_text())
    assert meta["codecs"][0] == {"name": "svb-zstd", "configuration": {"level": 3}}
    # a chunk's bytes are exactly one SZ frame of its values
    chunk = (tmp_path / "a.zarr" / "c" / "1").read_bytes()
    assert chunk == reference.frame("I16", values[300:600])


@pytest.mark.filterwarnings("ignore::zarr.errors.UnstableSpecificationWarning")
def test_zarr_codec_text_as_bytes(tmp_path):
    """Text goes through zarr's variable-length bytes type, one value per chunk."""
    import zarr

    arr = zarr.create_array(
        tmp_path / "s.zarr",
        shape=(3,),
        chunks=(1,),
        dtype="variable_length_bytes",
        serializer=codec.SvbZstdCodec(),
        compressors=None,
    )
    arr[:] = np.array([b"ACGT", b"", "Ωmega".encode()], dtype=object)
    assert zarr.open_array(tmp_path / "s.zarr")[:].tolist() == [b"ACGT", b"", "Ωmega".encode()]
    assert (tmp_path / "s.zarr" / "c" / "2").read_bytes() == reference.frame("S", "Ωmega")
    with pytest.raises(CodecError, match="one string"):
        zarr.create_array(
            tmp_path / "bad.zarr",
            shape=(3,),
            chunks=(2,),
            dtype="variable_length_bytes",
            serializer=codec.SvbZstdCodec(),
            compressors=None,
        )


def test_zarr_entry_point_in_fresh_process(tmp_path):
    import zarr

    path = tmp_path / "e.zarr"
    arr = zarr.create_array(
        path,
        shape=(10,),
        chunks=(4,),
        dtype="uint32",
        serializer=codec.SvbZstdCodec(),
        compressors=None,
    )
    arr[:] = np.arange(10, dtype=np.uint32) * 1000
    out = _run_fresh(f"import zarr; print(zarr.open_array({str(path)!r})[:].tolist())")
    assert out.strip() == str([i * 1000 for i in range(10)])
