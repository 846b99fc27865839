"""svb-zstd frames written by an earlier xsz (tests/fixtures/codec) still decode, by every face.

The numcodecs way of keeping a codec compatible with its past: the fixtures
were encoded once by ``tests/fixtures/codec/make.py`` and are committed; this
test only reads them. Each frame is decoded by the plain functions, the
numcodecs codec (found through numcodecs' registry) and the zarr v3 codec, and
its payload is checked against what xsz writes today, so neither the reader nor
the writer can drift. The zstd bytes themselves are not compared: another
libzstd may compress differently, and any zstd frame is fine to read.
"""

from __future__ import annotations

import json
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import zarr
import zstandard
from zarr.core.buffer import default_buffer_prototype
from zarr.storage import MemoryStore

from xsz.codec import (
    SvbZstdCodec,
    decode_array,
    decode_text,
    encode_payload,
    normalize_dtype,
)

CODEC_FIXTURES = Path(__file__).parent / "fixtures" / "codec"
DTYPES = ["int16", "int32", "uint16", "uint32", "float16", "float32", "float64", "float128", "str"]
X87 = np.dtype(np.longdouble).itemsize == 16 and np.finfo(np.longdouble).nmant == 63


def codec_dirs() -> list[Path]:
    return sorted(CODEC_FIXTURES.glob("*/codec.*"))


def expected_values(folder: Path) -> list:
    """The values of a dtype's fixtures, in file order."""
    if folder.name == "str":
        return json.loads((folder / "strings.json").read_text(encoding="utf-8"))
    return [np.load(p, allow_pickle=False) for p in sorted(folder.glob("array.*.npy"))]


def same_values(got: np.ndarray, want: np.ndarray) -> bool:
    """Same dtype and the very same bits (NaN payloads, -0.0, float128's zero padding)."""
    return got.dtype == want.dtype and got.tobytes() == want.tobytes()


def zarr_decode(frame: bytes, codec: SvbZstdCodec, dtype: object, shape: tuple[int]):
    """The frame as the only chunk of a zarr v3 array that has `codec` as serializer."""
    store = MemoryStore()
    array = zarr.create_array(
        store, shape=shape, chunks=shape, dtype=dtype, serializer=codec, compressors=None
    )
    prototype = default_buffer_prototype()
    zarr.core.sync.sync(store.set("c/0", prototype.buffer.from_bytes(frame)))
    return array[:]


def test_codec_fixtures_cover_every_dtype_and_config():
    """A deleted or never-made directory fails here, not silently."""
    assert sorted(p.name for p in CODEC_FIXTURES.iterdir() if p.is_dir()) == sorted(DTYPES)
    for name in DTYPES:
        normalize_dtype(name)  # each is a dtype the codec takes
        folders = sorted((CODEC_FIXTURES / name).glob("codec.*"))
        assert len(folders) >= 4, name
        n = len(expected_values(CODEC_FIXTURES / name))
        assert n >= 4, name
        for folder in folders:
            assert len(list(folder.glob("encoded.*.bin"))) == n, folder
    configs = {json.loads((p / "config.json").read_text())["checksum"] for p in codec_dirs()}
    assert configs == {False, True}


@pytest.mark.filterwarnings("ignore::zarr.errors.UnstableSpecificationWarning")
@pytest.mark.parametrize("folder", codec_dirs(), ids=lambda p: f"{p.parent.name}-{p.name}")
def test_codec_fixture_frames_decode(folder):
    config = json.loads((folder / "config.json").read_text())
    name, level, checksum = config["dtype"], config["level"], config["checksum"]
    assert name == folder.parent.name
    if name == "float128" and not X87:
        pytest.skip("float128 frames hold x87 long doubles, which this platform lacks")
    numcodec = numcodecs.get_codec({"id": "svb-zstd", "dtype": name, "level": level})
    zarr_codec = SvbZstdCodec.from_dict(
        {"name": "svb-zstd", "configuration": {"level": level, "checksum": checksum}}
    )
    for i, want in enumerate(expected_values(folder.parent)):
        frame = (folder / f"encoded.{i:02d}.bin").read_bytes()
        where = f"{folder.relative_to(CODEC_FIXTURES)}/encoded.{i:02d}.bin"
        assert zstandard.get_frame_parameters(frame).has_checksum == checksum, where
        payload = zstandard.ZstdDecompressor().decompress(frame)
        if name == "str":
            assert payload == want.encode("utf-8"), where
            assert decode_text(frame) == want, where
            assert numcodec.decode(frame).tolist() == [want], where
            got = zarr_decode(frame, zarr_codec, "variable_length_bytes", (1,))
            assert got.tolist() == [payload], where  # text in zarr: bytes, one per chunk
            continue
        assert payload == encode_payload(want), where  # today's writer: the same payload
        assert same_values(decode_array(frame, want.dtype, len(want)), want), where
        assert same_values(decode_array(frame, want.dtype), want), where
        assert same_values(numcodec.decode(frame), want), where
        if len(want):  # zarr has no chunk of an empty array
            assert same_values(zarr_decode(frame, zarr_codec, want.dtype, want.shape), want), where
