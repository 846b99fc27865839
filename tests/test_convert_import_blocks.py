"""pod5 imported a block of reads at a time (`xsz.convert._blocks`) against read by read.

The block path takes pod5's VBZ chunks as stored and transcodes them in C
(``xsz._kernels.vbz_to_svb``); it must give the very store the plain path
(pod5 decoding each signal, `SZWriter.put`) gives: the same ``index``, ``dat``
and ``checksums`` bytes. Corrupt chunks are refused naming the read, with
nothing committed.
"""

from __future__ import annotations

import datetime
import math
import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xsz.convert._import as import_module
from tests.made_data import SAME_TEN
from xsz.codec import encode_payload
from xsz.convert import import_reads
from xsz.convert._blocks import kernels, uuid_texts
from xsz.errors import ReadNotFoundError, SourceError
from xsz.format import stale_siblings

pod5 = pytest.importorskip("pod5")
zstandard = pytest.importorskip("zstandard")
pytestmark = pytest.mark.skipif(kernels() is None, reason="xsz._kernels was not built")


def svb16(values: np.ndarray) -> bytes:
    """pod5's svb16 of zigzag 16-bit deltas (from 0), written plainly, for the tests."""
    x = values.astype(np.int16).view(np.uint16)
    d = np.diff(x, prepend=np.uint16(0)).astype(np.uint16)  # wraps, as pod5's
    z = ((d.astype(np.uint32) << 1) ^ (0 - (d >> 15).astype(np.uint32))) & 0xFFFF
    two = z > 0xFF
    keys = np.packbits(two, bitorder="little").tobytes()
    data = bytearray()
    for v, t in zip(z.tolist(), two.tolist(), strict=True):
        data += v.to_bytes(2 if t else 1, "little")
    return keys + bytes(data)


def test_svb16_of_the_tests_is_pods():
    rng = np.random.default_rng(1)
    signal = rng.integers(-(2**15), 2**15, 500).astype(np.int16)
    compressed = pod5.signal_tools.vbz_compress_signal(signal)
    assert zstandard.ZstdDecompressor().decompress(compressed.tobytes()) == svb16(signal)


@pytest.mark.parametrize(
    "lengths", [[0], [1], [7, 8, 9], [1000], [3, 0, 5000, 17], [0, 0], list(range(41))]
)
def test_vbz_to_svb_gives_the_payload_of_the_samples(lengths):
    rng = np.random.default_rng(sum(lengths))
    k = kernels()
    reads, chunks, samples, starts = [], [], [], [0]
    for n in lengths:  # each read in 1-3 chunks; extremes, so 16-bit deltas wrap
        signal = rng.integers(-(2**15), 2**15, n).astype(np.int16)
        extreme = rng.random(n) < 0.5
        signal[extreme] = rng.choice(np.array([-(2**15), 2**15 - 1, 0, -1], np.int16), n)[extreme]
        reads.append(signal)
        cuts = sorted(rng.integers(0, n + 1, int(rng.integers(0, 3))).tolist())
        for part in np.split(signal, cuts):
            chunks.append(svb16(part))
            samples.append(len(part))
        starts.append(len(chunks))
    payloads, segments, failed = k.vbz_to_svb(
        chunks, np.array(samples, np.int64), np.array(starts, np.int64)
    )
    assert failed == -1
    segs = np.frombuffer(segments, np.uint64).reshape(-1, 2)
    for signal, (offset, size) in zip(reads, segs.tolist(), strict=True):
        assert payloads[offset : offset + size] == encode_payload(signal)


@pytest.mark.parametrize("damage", ["short", "long", "key"])
def test_vbz_to_svb_names_the_read_whose_chunk_does_not_fit(damage):
    k = kernels()
    good = svb16(np.arange(20, dtype=np.int16) * 300)
    bad = {"short": good[:-1], "long": good + b"\0", "key": bytes([good[0] ^ 1]) + good[1:]}[damage]
    out = k.vbz_to_svb(
        [good, good, bad, good], np.array([20] * 4, np.int64), np.array([0, 1, 3, 4], np.int64)
    )
    assert out == (None, None, 1)


def test_vbz_to_svb_refuses_bad_arguments():
    k = kernels()
    with pytest.raises(ValueError, match="read_chunks"):
        k.vbz_to_svb([b""], np.array([0], np.int64), np.array([0, 2], np.int64))
    with pytest.raises(ValueError, match="sample count"):
        k.vbz_to_svb([b""], np.array([-1], np.int64), np.array([0, 1], np.int64))
    with pytest.raises(ValueError, match="decrease"):
        k.vbz_to_svb([b"", b""], np.array([0, 0], np.int64), np.array([0, 2, 1, 2], np.int64))


def test_join_crc_is_zlibs():
    import zlib

    frames = [b"", b"a", bytes(range(256)) * 9, b"123456789"]
    blob, crcs, sizes = kernels().join_crc(frames)
    assert blob == b"".join(frames)
    assert np.frombuffer(crcs, np.uint32).tolist() == [zlib.crc32(f) for f in frames]
    assert np.frombuffer(sizes, np.int64).tolist() == [len(f) for f in frames]


def test_uuid_texts():
    ids = [uuid.uuid4() for _ in range(50)]
    raw = np.frombuffer(b"".join(u.bytes for u in ids), np.uint8).reshape(50, 16)
    assert uuid_texts(raw) == [str(u) for u in ids]


# --- whole imports: blocks against read by read ----------------------------------------


def _run_info(name: str = "run-a") -> object:
    return pod5.RunInfo(
        acquisition_id=name,
        acquisition_start_time=datetime.datetime(2024, 1, 1),
        adc_max=4095,
        adc_min=-4096,
        context_tags={"sample_frequency": "4000"},
        experiment_name="x",
        flow_cell_id="FAK1",
        flow_cell_product_code="",
        protocol_name="",
        protocol_run_id="",
        protocol_start_time=datetime.datetime(2024, 1, 1),
        sample_id="s",
        sample_rate=4000,
        sequencing_kit="k",
        sequencer_position="",
        sequencer_position_type="",
        software="tests",
        system_name="",
        system_type="",
        tracking_id={},
    )


def many_chunks_pod5(path, n=260, *, seed=5, compression=None):
    """Reads of 0 to 300,000 samples (pod5 cuts signals into chunks of 102,400, and
    its signal table into batches of 100 chunks, so reads span batches), two runs,
    several end reasons, extreme values."""
    rng = np.random.default_rng(seed)
    runs = [_run_info("run-a"), _run_info("run\u00e9-b")]
    reasons = [pod5.EndReasonEnum.SIGNAL_POSITIVE, pod5.EndReasonEnum.MUX_CHANGE]
    kwargs = {} if compression is None else {"signal_compression_type": compression}
    with pod5.Writer(path, **kwargs) as writer:
        for i in range(n):
            m = int(
                rng.choice(
                    [0, 1, 1000, 102_400, 102_401, 300_000], p=[0.05, 0.05, 0.6, 0.1, 0.1, 0.1]
                )
            )
            signal = np.cumsum(rng.integers(-40, 41, m)).astype(np.int16)
            if m and i % 7 == 0:  # jumps that wrap pod5's 16-bit deltas
                signal[:: max(1, m // 5)] = -(2**15)
                signal[1 :: max(1, m // 3)] = 2**15 - 1
            writer.add_read(
                pod5.Read(
                    read_id=uuid.UUID(int=int(rng.integers(0, 2**62)) << 64 | i),
                    pore=pod5.Pore(channel=1 + i % 3000, well=1 + i % 4, pore_type="p"),
                    calibration=pod5.Calibration(
                        offset=float(rng.normal()), scale=float(rng.random())
                    ),
                    read_number=i,
                    start_sample=int(rng.integers(0, 2**40)),
                    median_before=float(rng.normal(200, 30)),
                    end_reason=pod5.EndReason.from_reason_with_default_forced(reasons[i % 2]),
                    run_info=runs[i % 2],
                    signal=signal,
                )
            )
    return path


def store_bytes(path):
    return {name: (path / name).read_bytes() for name in ("index", "dat", "checksums")}


def both_ways(monkeypatch, src, tmp_path, **kwargs):
    out = []
    for blocks in (True, False):
        monkeypatch.setattr(import_module, "BLOCKS", blocks)
        dest = tmp_path / f"{'blocks' if blocks else 'reads'}-{len(list(tmp_path.iterdir()))}.sz"
        import_reads(src, dest, **kwargs)
        out.append(store_bytes(dest))
    return out


@pytest.fixture(scope="module")
def chunky(tmp_path_factory):
    return many_chunks_pod5(tmp_path_factory.mktemp("pod5") / "chunky.pod5")


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"n_threads": 0}, {"n_threads": 1, "level": 3}, {"checksum": False}],
)
def test_blocks_make_the_store_read_by_read_makes(chunky, tmp_path, monkeypatch, kwargs):
    with pod5.Reader(chunky) as reader:  # the file is what the test says it is
        assert reader.signal_table.num_record_batches > 3
        assert max(len(r.signal_rows) for r in reader.reads()) == 3
    blocks, reads = both_ways(monkeypatch, chunky, tmp_path, **kwargs)
    assert blocks == reads


def test_blocks_in_small_pieces(chunky, tmp_path, monkeypatch):
    import xsz.convert._pod5 as pod5_module

    monkeypatch.setattr(pod5_module, "BLOCK_SAMPLES", 5000)
    blocks, reads = both_ways(monkeypatch, chunky, tmp_path)
    assert blocks == reads


def test_blocks_of_the_made_and_real_files(source_data, tmp_path, monkeypatch):
    for name in (SAME_TEN, "blue-crab/z1.pod5"):
        blocks, reads = both_ways(monkeypatch, source_data / name, tmp_path)
        assert blocks == reads, name


def test_blocks_with_a_selection_and_resume(chunky, tmp_path, monkeypatch):
    with pod5.Reader(chunky) as reader:
        ids = [str(r) for r in reader.read_ids]
    chosen = ids[3:200:7]
    blocks, reads = both_ways(monkeypatch, chunky, tmp_path, read_ids=chosen)
    assert blocks == reads
    monkeypatch.setattr(import_module, "BLOCKS", True)
    with pytest.raises(ReadNotFoundError, match="no read with ID 'nope'"):
        import_reads(chunky, tmp_path / "x.sz", read_ids=[*chosen, "nope"])
    assert not (tmp_path / "x.sz").exists()


@pytest.mark.parametrize("lengths", [[1000, 0], [0], [0, 0, 5], [5, 0, 0], [7], [3, 3]])
def test_blocks_of_empty_signals(tmp_path, monkeypatch, lengths):
    src = tmp_path / "empty.pod5"
    with pod5.Writer(src) as writer:
        for i, m in enumerate(lengths):
            writer.add_read(
                pod5.Read(
                    read_id=uuid.UUID(int=i + 1),
                    pore=pod5.Pore(channel=1, well=1, pore_type="p"),
                    calibration=pod5.Calibration(offset=0.0, scale=1.0),
                    read_number=i,
                    start_sample=0,
                    median_before=0.0,
                    end_reason=pod5.EndReason.from_reason_with_default_forced(
                        pod5.EndReasonEnum.UNKNOWN
                    ),
                    run_info=_run_info(),
                    signal=np.arange(m, dtype=np.int16) if i % 2 else np.zeros(m, np.int16),
                )
            )
    blocks, reads = both_ways(monkeypatch, src, tmp_path)
    assert blocks == reads


def test_uncompressed_pod5_is_read_by_read(tmp_path, monkeypatch):
    src = many_chunks_pod5(
        tmp_path / "plain.pod5",
        30,
        compression=pytest.importorskip(
            "lib_pod5"
        ).pod5_format_pybind.SignalType.UncompressedSignal,
    )
    from xsz.convert._pod5 import Pod5Source

    source = Pod5Source(src)
    try:
        assert not source.can_block()
    finally:
        source.close()
    blocks, reads = both_ways(monkeypatch, src, tmp_path)
    assert blocks == reads


# --- attacks -------------------------------------------------------------------------


def _chunk_bytes(src, k):
    """The stored VBZ bytes of read `k`'s first chunk, and that read's ID."""
    with pod5.Reader(src) as reader:
        read = list(reader.reads())[k]
        row = read.signal_rows[0]
        data = reader.signal_table.get_batch(row.batch_index).column("signal")
        return data[row.batch_row_index].as_py(), str(read.read_id)


@pytest.mark.parametrize("damage", ["magic", "content size", "garbage"])
def test_a_corrupt_vbz_chunk_names_the_read_and_commits_nothing(tmp_path, damage, monkeypatch):
    src = many_chunks_pod5(tmp_path / "bad.pod5", 40, seed=9)
    chunk, read_id = _chunk_bytes(src, 25)
    assert len(chunk) > 40
    data = bytearray(src.read_bytes())
    at = data.find(chunk)
    assert at > 0 and data.find(chunk, at + 1) < 0
    if damage == "magic":
        data[at : at + 4] = b"\0\0\0\0"
    elif damage == "content size":  # a frame whose content is not svb16 of its samples
        frame = zstandard.ZstdCompressor().compress(b"\x01" * (len(chunk) - 20))
        data[at : at + len(chunk)] = frame.ljust(len(chunk), b"\0")[: len(chunk)]
    else:
        data[at + 4 : at + len(chunk)] = bytes(range(256)) * ((len(chunk) - 4) // 256) + bytes(
            (len(chunk) - 4) % 256
        )
    src.write_bytes(bytes(data))
    monkeypatch.setattr(import_module, "BLOCKS", True)
    with pytest.raises(SourceError, match=read_id) as info:
        import_reads(src, tmp_path / "out.sz")
    assert "VBZ" in str(info.value)
    assert not (tmp_path / "out.sz").exists()
    assert stale_siblings(tmp_path / "out.sz") == []


def test_a_read_naming_a_missing_signal_row(tmp_path, monkeypatch):
    """A read whose chunk row is past the signal table is refused, naming the file."""
    src = many_chunks_pod5(tmp_path / "ok.pod5", 5, seed=2)
    monkeypatch.setattr(import_module, "BLOCKS", True)
    import xsz.convert._pod5 as pod5_module

    real = pod5_module.Pod5Source.blocks

    def shifted(self, *args, **kwargs):
        self._reader._signal_batch_row_count = 2  # rows from 2 on map past the table
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pod5_module.Pod5Source, "blocks", shifted)
    with pytest.raises(SourceError, match="past the signal table"):
        import_reads(src, tmp_path / "out.sz")
    assert not (tmp_path / "out.sz").exists()


def test_vbz_to_svb_without_simd_gives_the_same_bytes():
    """XSZ_NO_SIMD takes the plain svb16 loop (what CPUs without SSSE3 run)."""
    import subprocess
    import sys

    script = (
        "import numpy as np, sys\n"
        "from tests.test_convert_import_blocks import "
        "test_vbz_to_svb_gives_the_payload_of_the_samples as check\n"
        "for lengths in ([0], [7, 8, 9], [3, 0, 5000, 17], list(range(41))):\n"
        "    check(lengths)\n"
        "print('ok')\n"
    )
    root = __import__("pathlib").Path(__file__).resolve().parent.parent
    env = {**__import__("os").environ, "XSZ_NO_SIMD": "1", "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "ok"


def test_float_cells_keep_signed_zeros_and_nans():
    from xsz.convert._pod5 import _reprs

    values = np.array([0.0, -0.0, np.nan, 1.5, -1.5] * 20 + [1e300, 5e-324], np.float64)
    assert _reprs(values) == [repr(v) for v in values.tolist()]
    assert _reprs(values[:10]) == [repr(v) for v in values[:10].tolist()]


_UINT64 = st.integers(0, 2**64 - 1)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["uint64", "uint32", "float32", "float64", "int16"]),
    values=st.lists(
        st.one_of(st.none(), _UINT64, st.floats(allow_nan=True, width=32)), max_size=40
    ),
)
def test_column_floats_are_number_of_each_value(kind, values):
    """A block's numeric columns become floats without a Python object a value: the
    same float64s (bit for bit, but for which NaN stands for none) as `_number` of
    each of pod5's values, nulls, huge uint64s and float32 NaNs included."""
    import pyarrow as pa

    from xsz.convert._pod5 import _floats, _number

    typ = getattr(pa, kind)()
    fitted = []
    for v in values:
        if v is None:
            fitted.append(None)
        elif pa.types.is_integer(typ):
            if isinstance(v, float):
                v = 0 if math.isnan(v) or math.isinf(v) else int(abs(v)) % 1000
            info = np.iinfo(typ.to_pandas_dtype())
            fitted.append(int(min(max(v, info.min), info.max)))
        else:
            fitted.append(float(v))
    column = pa.array(fitted, type=typ)
    got = _floats(column)
    want = np.array([_number(v) for v in column.to_pylist()], np.float64)
    assert got.dtype == np.float64 and len(got) == len(want)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(got[~np.isnan(got)], want[~np.isnan(want)])


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.none(), st.sampled_from(["not_set", "R10", "", "é x"])), max_size=30
    ),
    as_dictionary=st.booleans(),
    flags=st.lists(st.one_of(st.none(), st.booleans()), max_size=30),
)
def test_pore_types_and_flags_are_those_of_each_value(values, as_dictionary, flags):
    import pyarrow as pa

    from xsz.convert._pod5 import _ints_or_minus_one, _pore_types
    from xsz.convert._read_fields import pore_type

    column = pa.array(values, type=pa.string())
    if as_dictionary:
        column = column.dictionary_encode()
    assert _pore_types(column) == [pore_type(v) for v in values]
    flag_column = pa.array(flags, type=pa.bool_())
    assert _ints_or_minus_one(flag_column) == [-1 if v is None else int(v) for v in flags]
