"""The batched write path (issue 11): reads gather in batches, each encoded by one task.

Attacks on what batching could break: the bytes (every frame and index line must
be what encoding each read on its own gives, whatever mix of sizes, types and
threads), validation before anything is taken (a bad read in the middle of a
batch), the reads kept when an encoder fails, caller buffers reused at once,
concurrency, and the batch codec itself (`encode_payloads`, `compress_many`,
the ``encode_many`` kernel) against the one-read functions, kernels or not.
Kills mid-batch are in tests/test_kill.py (the "SZWriter, many batches" path).
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xsz.codec._batch as batch_codec
import xsz.format._records as records_module
from xsz.codec import (
    compress,
    compress_many,
    encode_array,
    encode_payload,
    encode_payloads,
    encode_text,
    text_payloads,
)
from xsz.errors import CodecError, DuplicateReadError, RecordError, UsageError
from xsz.format import Schema, SZReader, SZWriter, crc32, format_header, parse_header
from xsz.format._schema import CODES
from xsz.format._values import attribute_text
from xsz.ops import verify

ATTRS = [("ID", str), ("Offset", np.int32), ("Scale", np.float32), ("Rate", np.float64)]
SETS = [
    ("Raw", np.int16),
    ("Fastq", str),
    ("Move", np.uint16),
    ("Wide", np.int32),
    ("Big", np.uint32),
    ("Cal", np.float32),
]
SCHEMA = Schema.build(ATTRS, SETS)


def _reads(seed: int, n: int, *, big_every: int = 7) -> list[tuple]:
    """Reads of every type: empty ones, short ones, and some large enough (> 64 KiB of
    int16) to be encoded at put; the same float values over and over (the writer
    caches their text), and -0.0 next to 0.0 (which must not share it)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        m = 0 if i % 11 == 3 else int(rng.integers(1, 3000))
        if big_every and i % big_every == 5:
            m = int(rng.integers(33_000, 60_000))
        raw = rng.normal(500, 90, m).astype(np.int16)
        out.append(
            (
                f"r{seed}-{i:05d}",
                int(rng.integers(-(2**31), 2**31)),
                [0.5, -0.0, 0.0, 1e7, float(rng.random())][i % 5],
                [4000.0, 0.1, -0.0][i % 3],
                raw,
                "".join(rng.choice(list("ACGT"), m // 9)),
                (rng.random(m // 5) < 0.3).astype(np.uint16),
                rng.integers(-(2**31), 2**31, m // 3, dtype=np.int64).astype(np.int32),
                rng.integers(0, 2**32, m // 7, dtype=np.uint64).astype(np.uint32),
                rng.normal(0, 1, m % 50).astype(np.float32),
            )
        )
    return out


def _expected(schema: Schema, reads: list[tuple], checksum: bool) -> tuple[bytes, bytes]:
    """``dat`` and ``index`` as encoding each read on its own defines them."""
    n_attr = len(schema.attributes)
    dat, lines = bytearray(), [format_header(parse_header(None), schema).encode()]
    for record in reads:
        cells = [
            attribute_text(f, v, record[0]) for f, v in zip(schema.attributes, record, strict=False)
        ]
        frames = []
        for f, value in zip(schema.datasets, record[n_attr:], strict=True):
            if f.is_text:
                frame = encode_text(value, checksum=checksum)
            else:
                frame = encode_array(np.asarray(value, f.dtype), checksum=checksum)
            frames.append(frame)
            cells.append(f"{len(frame)}:{len(value) if f.has_count else ''}")
        blob = b"".join(frames)
        lines.append(f"{len(blob)}\t{len(dat)}\t{chr(9).join(cells)}\n".encode())
        dat += blob
    return bytes(dat), b"".join(lines)


def _files(path) -> tuple[bytes, bytes]:
    return (path / "dat").read_bytes(), (path / "index").read_bytes()


@pytest.mark.parametrize("n_threads", [0, 1, 2])
@pytest.mark.parametrize("checksum", [True, False])
@pytest.mark.parametrize("how", ["put", "put copy=False", "put_many"])
def test_batched_store_is_byte_for_byte_what_each_read_alone_gives(
    tmp_path, n_threads, checksum, how
):
    reads = _reads(n_threads * 10 + checksum, 160)
    path = tmp_path / "s.sz"
    with SZWriter(path, SCHEMA, n_threads=n_threads, checksum=checksum) as writer:
        if how == "put_many":
            for k in range(0, len(reads), 37):
                writer.put_many(reads[k : k + 37])
        else:
            for record in reads:
                writer.put(*record, copy=how == "put")
    assert _files(path) == _expected(SCHEMA, reads, checksum)
    assert verify(path) == []


@pytest.mark.parametrize(
    ("attrs", "sets"),
    [
        ([("ID", str)], [("Raw", np.int16)]),  # one dataset: no interleaving
        ([], [("Raw", np.int16), ("Move", np.uint16)]),  # no attributes at all
        ([("ID", str), ("Note", str)], []),  # no datasets at all
        ([("Note", str)], [("Fastq", str)]),  # text only, no ID field
    ],
)
def test_batched_store_of_any_shape_of_schema(tmp_path, attrs, sets):
    schema = Schema.build(attrs, sets)
    rng = np.random.default_rng(5)
    reads = []
    for i in range(3000):  # several batches of tiny reads (TASK_READS)
        record = []
        for name, _ in attrs:
            record.append(f"r{i}" if name == "ID" else ["", "x y", "é"][i % 3])
        for _, kind in sets:
            m = int(rng.integers(0, 40))
            record.append("AC" * m if kind is str else rng.integers(0, 900, m).astype(kind))
        reads.append(tuple(record))
    path = tmp_path / "s.sz"
    with SZWriter(path, schema, n_threads=2) as writer:
        for record in reads:
            writer.put(*record)
    assert _files(path) == _expected(schema, reads, True)
    assert verify(path) == []


BAD = [
    (lambda r: (r[0] + "\tx", *r[1:]), "ID", "contains"),
    (lambda r: (r[0], 2**31, *r[2:]), "Offset", "does not fit"),
    (lambda r: (r[0], r[1], "0.5", *r[3:]), "Scale", "expected a number"),
    (lambda r: (*r[:4], r[4].astype(np.int32) + 40_000, *r[5:]), "Raw", "does not fit"),
    (lambda r: (*r[:5], b"ACGT", *r[6:]), "Fastq", "expected str"),
    (lambda r: (*r[:6], -r[6].astype(np.int32) - 1, *r[7:]), "Move", "does not fit"),
    (lambda r: (*r[:4], r[4].reshape(1, -1), *r[5:]), "Raw", "1-D"),
    (lambda r: r[:-1], None, "expected 10 fields"),
]


@pytest.mark.parametrize(("spoil", "field", "message"), BAD)
@pytest.mark.parametrize("n_threads", [0, 2])
def test_bad_read_mid_batch_is_refused_whole_and_the_others_kept(
    tmp_path, spoil, field, message, n_threads
):
    reads = _reads(3, 60, big_every=0)
    bad = spoil(reads[30])
    path = tmp_path / "s.sz"
    with SZWriter(path, SCHEMA, n_threads=n_threads) as writer:
        for record in reads[:30]:
            writer.put(*record)
        with pytest.raises(RecordError, match=message) as info:
            writer.put(*bad)
        assert info.value.read_id == bad[0]
        assert info.value.field == field
        assert reads[30][0] in str(info.value)
        # a chunk with the bad read in its middle: none of the chunk is taken
        with pytest.raises(RecordError, match=message):
            writer.put_many([reads[30], bad, reads[31]])
        for record in reads[30:]:  # the bad read's ID was not claimed
            writer.put(*record)
    assert _files(path) == _expected(SCHEMA, reads, True)


def test_duplicate_mid_batch_names_the_read_and_keeps_the_rest(tmp_path):
    reads = _reads(4, 20, big_every=0)
    path = tmp_path / "s.sz"
    with SZWriter(path, SCHEMA, n_threads=2) as writer:
        for record in reads[:10]:
            writer.put(*record)
        with pytest.raises(DuplicateReadError, match=reads[4][0]):
            writer.put(*reads[4])
        with pytest.raises(DuplicateReadError, match=reads[12][0]):
            writer.put_many([reads[11], reads[12], reads[12]])
        for record in reads[10:]:
            writer.put(*record)
    assert _files(path) == _expected(SCHEMA, reads, True)


@pytest.mark.parametrize("big_every", [0, 7])
def test_writer_batches_survive_an_encoder_that_fails(tmp_path, monkeypatch, big_every):
    """A batch whose encoding fails is encoded again read by read: the read at fault
    is named by close, every other read is committed, in order; in the encoders of
    small reads' batches and of large ones' alike."""
    import xsz.format._writer as writer_module

    monkeypatch.setattr(writer_module, "_cpus", lambda: 2)
    reads = _reads(6, 200, big_every=big_every)
    assert len(reads[77][4]) < 30_000  # encoded by the encoder, not at put
    victim = reads[77][0]
    real = records_module.encode_payload

    def broken_batch(*args, **kwargs):
        raise MemoryError("no room for the batch")

    def broken_read(values):
        if len(values) == len(reads[77][4]) and np.array_equal(values, reads[77][4]):
            raise ValueError("this read is cursed")
        return real(values)

    monkeypatch.setattr(records_module, "_encode_batch", broken_batch)
    monkeypatch.setattr(records_module, "encode_payload", broken_read)
    path = tmp_path / "s.sz"
    writer = SZWriter(path, SCHEMA, n_threads=2)
    for record in reads:
        writer.put(*record)
    assert (writer._pool_large is not None) == bool(big_every)
    with pytest.raises(RecordError, match="cursed") as info:
        writer.close()
    assert info.value.read_id == victim
    kept = [r for r in reads if r[0] != victim]
    assert _files(path) == _expected(SCHEMA, kept, True)
    assert verify(path) == []


def test_put_copies_every_kind_of_array_before_returning(tmp_path):
    """Small arrays are copied, large int arrays encoded at put, views and
    non-contiguous arrays made contiguous: reusing the caller's buffers at once
    changes nothing written."""
    schema = Schema.build([("ID", str)], [("Raw", np.int16), ("Cal", np.float32)])
    small, large = np.zeros(1000, np.int16), np.zeros(50_000, np.int16)
    base = np.zeros(8000, np.float32)
    path = tmp_path / "s.sz"
    expected = []
    with SZWriter(path, schema, n_threads=2) as writer:
        for i in range(400):
            raw = large if i % 9 == 0 else small
            raw[:] = i
            cal = base[:: 1 + i % 3]  # strided views too
            base[:] = i
            writer.put(f"r{i}", raw, cal)
            expected.append((i, len(raw), len(cal)))
            raw[:] = -1  # reused at once
            base[:] = -1
    with SZReader(path) as reader:
        got = reader.dataset("Raw")
        cals = reader.dataset("Cal")
    assert [(int(a[0]), len(a), len(c)) for a, c in zip(got, cals, strict=True)] == expected
    assert all((a == a[0]).all() and (c == c[0]).all() for a, c in zip(got, cals, strict=True))


def test_put_from_many_threads_keeps_every_read(tmp_path):
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])
    path = tmp_path / "s.sz"
    rng = np.random.default_rng(9)
    signal = rng.integers(-500, 500, 3000).astype(np.int16)

    with SZWriter(path, schema, n_threads=2) as writer:

        def work(t: int) -> None:
            for i in range(1500):
                writer.put(f"t{t}-{i}", signal[: (i * 7 + t) % 3000])

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    with SZReader(path) as reader:
        assert len(reader) == 6000
        for rid, raw in zip(reader.ids, reader.dataset("Raw"), strict=True):
            t, i = map(int, rid[1:].split("-"))
            assert np.array_equal(raw, signal[: (i * 7 + t) % 3000])
    assert verify(path) == []


# --- the batch codec -----------------------------------------------------------------

INT_TYPES = [np.int16, np.int32, np.uint16, np.uint32]


@st.composite
def _arrays_in_parts(draw):
    dtype = draw(st.sampled_from(INT_TYPES))
    info = np.iinfo(dtype)
    sizes = draw(st.lists(st.integers(0, 300), max_size=12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    arrays = [
        rng.integers(info.min, int(info.max) + 1, n, dtype=np.int64).astype(dtype) for n in sizes
    ]
    # group consecutive arrays into parts (a part holds whole payloads back to back)
    cuts = sorted(draw(st.sets(st.integers(1, max(len(arrays) - 1, 1)), max_size=4)))
    parts, start = [], 0
    for cut in [*cuts, len(arrays)]:
        if cut > start:
            group = arrays[start:cut]
            parts.append(np.concatenate(group) if group else np.empty(0, dtype))
            start = cut
    kind = draw(st.sampled_from(["array", "bytearray", "bytes"]))
    if kind != "array":
        make = bytearray if kind == "bytearray" else bytes
        parts = [make(p.tobytes()) for p in parts]
    return dtype, arrays, parts


@settings(max_examples=150, deadline=None)
@given(_arrays_in_parts(), st.booleans())
def test_encode_payloads_is_encode_payload_of_each(case, kernels):
    dtype, arrays, parts = case
    saved = batch_codec._kernels
    if not kernels:
        batch_codec._kernels = None
    try:
        data, segments = encode_payloads(parts, np.array([len(a) for a in arrays], np.int64), dtype)
    finally:
        batch_codec._kernels = saved
    assert segments.shape == (len(arrays), 2)
    assert [bytes(data[a : a + b]) for a, b in segments.tolist()] == [
        encode_payload(a) for a in arrays
    ]
    assert int(segments[:, 1].sum()) == len(data)


@pytest.mark.parametrize("kernels", [True, False])
def test_encode_payloads_refuses_counts_that_do_not_match(kernels, monkeypatch):
    if kernels and batch_codec._kernels is None:
        pytest.skip("xsz was built without its C kernels (or XSZ_NO_KERNELS is set)")
    if not kernels:
        monkeypatch.setattr(batch_codec, "_kernels", None)
    a = np.arange(10, dtype=np.int16)
    for counts in ([11], [5], [5, 6], [-1, 11]):
        with pytest.raises(CodecError):
            encode_payloads([a], np.array(counts, np.int64), np.int16)
    if kernels:  # the kernel also refuses a payload across two parts
        with pytest.raises(CodecError, match="do not fit"):
            encode_payloads([a[:4], a[4:]], np.array([6, 4], np.int64), np.int16)
        with pytest.raises(CodecError, match=r"aligned|whole"):
            encode_payloads([bytearray(b"abc")], np.array([1], np.int64), np.int16)


@pytest.mark.parametrize("checksum", [True, False])
def test_compress_many_is_compress_of_each(checksum, monkeypatch):
    rng = np.random.default_rng(1)
    payloads = [rng.integers(0, 4, n, dtype=np.uint8).tobytes() for n in (0, 5, 9000, 0, 70_000, 1)]
    data = b"".join(payloads)
    lengths = np.array([len(p) for p in payloads], np.int64)
    segments = np.stack([np.cumsum(lengths) - lengths, lengths], axis=1).astype(np.uint64)
    expected = [compress(p, checksum=checksum) for p in payloads]
    # in another order than the bytes lie, as the writer asks for several datasets
    order = [4, 0, 2, 1, 5, 3]
    for one_call in (True, False):
        monkeypatch.setattr(batch_codec, "MULTI_BELOW", 1 << 30 if one_call else 1)
        frames, sizes = compress_many(data, segments[order], level=3, checksum=checksum)
        assert [bytes(f) for f in frames] == [expected[i] for i in order]
        assert sizes.tolist() == [len(expected[i]) for i in order]
    frames, sizes = compress_many(b"", np.zeros((2, 2), np.uint64), level=3, checksum=checksum)
    assert [bytes(f) for f in frames] == [compress(b"", checksum=checksum)] * 2


def test_text_payloads_are_utf8_back_to_back():
    data, segments = text_payloads(["", "ACGT", "é", ""])
    assert data == "ACGTé".encode()
    assert segments.tolist() == [[0, 0], [0, 4], [4, 2], [6, 0]]


@pytest.mark.parametrize("short_writes", [False, True])
def test_large_frames_go_to_dat_whole_even_through_short_writes(
    tmp_path, monkeypatch, short_writes
):
    """Batches of large frames are written with writev, straight to the file: every
    byte lands in order, also when the system writes only part of what it is given."""
    import xsz.format._writer as writer_module

    calls = []
    if short_writes:
        real = writer_module.os.writev

        def stingy(fd, buffers):
            calls.append(len(buffers))
            first = memoryview(buffers[0]).cast("B")
            return real(fd, [first[: max(1, len(first) // 3)]])

        monkeypatch.setattr(writer_module.os, "writev", stingy)
    schema = Schema.build([("ID", str)], [("Raw", np.int16), ("Wide", np.int32)])
    rng = np.random.default_rng(2)
    reads = [
        (
            f"r{i}",
            rng.integers(-(2**15), 2**15, n).astype(np.int16),
            rng.integers(0, 9, n // 2, dtype=np.int32),
        )
        for i, n in enumerate([400_000, 10, 300_000, 0, 500_000])
    ]
    path = tmp_path / "s.sz"
    with SZWriter(path, schema, n_threads=2) as writer:
        for record in reads:
            writer.put(*record)
    assert _files(path) == _expected(schema, reads, True)
    assert verify(path) == []
    assert not short_writes or len(calls) > 10


@pytest.mark.parametrize("n_threads", [0, 2])
def test_batches_of_small_reads_take_the_one_call_path(tmp_path, monkeypatch, n_threads):
    """Small reads of any schema are encoded a batch at a time, never read by read
    (the path kept for finding a read at fault): the fast path must not fail
    quietly into the slow one."""

    def refuse(*args, **kwargs):
        raise AssertionError("a batch fell back to encoding read by read")

    monkeypatch.setattr(records_module, "done_records", refuse)
    reads = _reads(8, 400, big_every=0)
    path = tmp_path / "s.sz"
    with SZWriter(path, SCHEMA, n_threads=n_threads) as writer:
        for record in reads:
            writer.put(*record)
    assert _files(path) == _expected(SCHEMA, reads, True)


def test_put_frames_between_puts_keeps_put_order(tmp_path):
    """A finished frame put between batched reads lands after them and before the
    next ones (the batch is handed over first)."""
    schema = Schema.build([("ID", str)], [("Raw", np.int16)])
    reads = [(f"r{i}", np.arange(i * 10, dtype=np.int16)) for i in range(60)]
    path = tmp_path / "s.sz"
    with SZWriter(path, schema, n_threads=2) as writer:
        for i, (rid, raw) in enumerate(reads):
            if i % 7 == 3:
                writer.put_frames([rid], [encode_array(raw, checksum=True)], [len(raw)])
            else:
                writer.put(rid, raw)
    assert _files(path) == _expected(schema, reads, True)


@pytest.mark.parametrize("n_threads", [0, 2])
def test_finished_frames_of_every_kind_keep_put_order_between_batched_puts(tmp_path, n_threads):
    """put_frames_many, put_frames_columns and put_encoded (the integ merge of the
    batched writer with the copying and import paths) each hand the pending batch
    over first, so the store holds the reads in put order, byte for byte; a bad or
    repeated read refuses the whole call and leaves the IDs free."""
    schema = Schema.build([("ID", str), ("Offset", np.int32)], [("Raw", np.int16)])
    reads = [(f"r{i}", i - 30, np.arange(i * 7, dtype=np.int16) - i) for i in range(108)]
    frames = [encode_array(raw, checksum=True) for _, _, raw in reads]
    path = tmp_path / "s.sz"
    with SZWriter(path, schema, n_threads=n_threads) as writer:
        i = 0
        while i < len(reads):
            kind = [0, 1, 0, 2, 0, 3][(i // 3) % 6]  # batched puts before each other kind
            group = range(i, min(i + 3, len(reads)))
            if kind == 0:
                for k in group:
                    writer.put(*reads[k])
            elif kind == 1:
                bad = [(["r0", 1], [frames[0]], [len(reads[0][2])])]  # r0 is taken
                with pytest.raises(DuplicateReadError):
                    writer.put_frames_many(
                        [
                            ([reads[k][0], reads[k][1]], [frames[k]], [len(reads[k][2])])
                            for k in group
                        ]
                        + bad
                    )
                writer.put_frames_many(
                    [([reads[k][0], reads[k][1]], [frames[k]], [len(reads[k][2])]) for k in group]
                )
            elif kind == 2:
                columns = [
                    np.array([reads[k][0] for k in group]),
                    np.array([reads[k][1] for k in group], np.int32),
                ]
                with pytest.raises(RecordError):  # a frame that cannot hold its count
                    writer.put_frames_columns(
                        columns, [[frames[k]] for k in group], [[10**6] for k in group]
                    )
                writer.put_frames_columns(
                    columns, [[frames[k]] for k in group], [[len(reads[k][2])] for k in group]
                )
            else:
                ids = [reads[k][0] for k in group]
                sizes = np.array([len(frames[k]) for k in group], np.int64)
                counts = np.array([len(reads[k][2]) for k in group], np.int64)
                crcs = np.array([crc32(frames[k]) for k in group], np.uint32)
                cells = [f"{reads[k][0]}\t{reads[k][1]}" for k in group]
                blob = b"".join(frames[k] for k in group)
                with pytest.raises(UsageError, match="put_encoded: the frames hold"):
                    writer.put_encoded(ids, cells, blob[:-1], sizes, counts, crcs, checksummed=True)
                with pytest.raises(DuplicateReadError):
                    writer.put_encoded(
                        [*ids[:-1], "r0"], cells, blob, sizes, counts, crcs, checksummed=True
                    )
                writer.put_encoded(ids, cells, blob, sizes, counts, crcs, checksummed=True)
            i += len(group)
        with pytest.raises(DuplicateReadError):
            writer.put(*reads[-1])
    assert _files(path) == _expected(schema, reads, True)
    assert verify(path) == []


@pytest.mark.parametrize("cpus", [1, 2, 8])
def test_encoders_behind_the_putting_thread_encode_in_put_order(tmp_path, monkeypatch, cpus):
    """Slow encoders and a short queue: the putting thread encodes batches itself
    (caller runs) between those of the encoders, and the store is still byte for
    byte what each read alone gives. No more encoders than the CPUs leave."""
    import xsz.format._writer as writer_module

    monkeypatch.setattr(writer_module, "_cpus", lambda: cpus)
    monkeypatch.setattr(writer_module, "TASK_READS", 3)
    real = writer_module.encode_batch
    where: list[str] = []

    def slow(fields, batch, level, checksum):
        name = threading.current_thread().name
        where.append(name)
        if name.startswith("xsz-encode"):
            threading.Event().wait(0.01)
        return real(fields, batch, level, checksum)

    monkeypatch.setattr(writer_module, "encode_batch", slow)
    reads = _reads(5, 90, big_every=0)
    path = tmp_path / "s.sz"
    with SZWriter(path, SCHEMA, n_threads=4) as writer:
        assert writer._workers == max(1, min(4, cpus - 1))
        assert writer._pool is not None and writer._pool._max_workers == writer._workers
        for record in reads:
            writer.put(*record)
    assert _files(path) == _expected(SCHEMA, reads, True)
    here = threading.current_thread().name
    assert here in where  # some batches were encoded by the putting thread
    assert any(name.startswith("xsz-encode") for name in where)
    assert verify(path) == []


def _max_overlap(monkeypatch, writer_module, prefix: str) -> tuple[list[int], list[str]]:
    """Slow every encoder down and count how many threads named `prefix...` encode
    at once; returns [most at once] and the names of every thread that encoded."""
    real = writer_module.encode_batch
    lock = threading.Lock()
    now, most, where = [0], [0], []

    def slow(fields, batch, level, checksum):
        name = threading.current_thread().name
        ours = name.startswith(prefix)
        with lock:
            where.append(name)
            if ours:
                now[0] += 1
                most[0] = max(most[0], now[0])
        try:
            threading.Event().wait(0.02)
            return real(fields, batch, level, checksum)
        finally:
            if ours:
                with lock:
                    now[0] -= 1

    monkeypatch.setattr(writer_module, "encode_batch", slow)
    return most, where


@pytest.mark.parametrize("cpus", [1, 2, 3])
def test_batches_of_large_reads_get_an_encoder_a_cpu(tmp_path, monkeypatch, cpus):
    """Reads large enough to be encoded at put leave the putting thread waiting: their
    batches go to a pool of an encoder a CPU, which does encode that many at once;
    the bytes are what each read alone gives."""
    import xsz.format._writer as writer_module

    monkeypatch.setattr(writer_module, "_cpus", lambda: cpus)
    monkeypatch.setattr(writer_module, "TASK_READS", 1)
    most, where = _max_overlap(monkeypatch, writer_module, "xsz-encode")
    rng = np.random.default_rng(7)
    reads = [  # every read > 64 KiB of int16
        (*r[:4], rng.normal(500, 90, 40_000).astype(np.int16), *r[5:])
        for r in _reads(7, 24, big_every=0)
    ]
    path = tmp_path / "s.sz"
    with SZWriter(path, SCHEMA, n_threads=4) as writer:
        for record in reads:
            writer.put(*record)
        large = writer._pool_large
    assert _files(path) == _expected(SCHEMA, reads, True)
    assert most[0] == min(4, cpus)
    if cpus > 1:  # a pool of its own, with a thread a CPU
        assert large is not None and large._max_workers == min(4, cpus)
        assert any(name.startswith("xsz-encode-large") for name in where)
    else:  # one CPU: the one encoder does every batch
        assert large is None
    assert verify(path) == []


@pytest.mark.parametrize("cpus", [2, 3])
def test_batches_of_small_reads_leave_the_putting_thread_a_cpu(tmp_path, monkeypatch, cpus):
    """Many small reads keep the putting thread busy: never more than CPUs - 1
    encoders on their batches at once, even with large batches between them (which
    use the other pool); every byte as each read alone gives."""
    import xsz.format._writer as writer_module

    monkeypatch.setattr(writer_module, "_cpus", lambda: cpus)
    monkeypatch.setattr(writer_module, "TASK_READS", 2)
    most, where = _max_overlap(monkeypatch, writer_module, "xsz-encode_")
    reads = _reads(8, 80, big_every=9)  # mostly small batches, now and then a large read
    path = tmp_path / "s.sz"
    with SZWriter(path, SCHEMA, n_threads=4) as writer:
        for record in reads:
            writer.put(*record)
    assert _files(path) == _expected(SCHEMA, reads, True)
    assert most[0] == cpus - 1
    assert any(name.startswith("xsz-encode-large") for name in where)
    assert verify(path) == []


_NUMERIC_CODES = [code for code in CODES if code != "S"]
_SCALAR_TYPES = [
    np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.float16, np.float32, np.float64, np.longdouble, np.bool_, float, int,
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    code=st.sampled_from(_NUMERIC_CODES),
    kind=st.sampled_from(_SCALAR_TYPES),
    number=st.one_of(
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([0.0, -0.0, 0.1, 1e-45, 65504.0, 65520.0, 3.4028235e38, 2.0**31]),
    ),
)
def test_numpy_scalar_attributes_give_the_cell_of_their_value(code, kind, number):
    """`put`'s fast paths (numpy scalars of the attribute's own type, float64 taken
    as a Python float, NaN in any float type, Python ints and floats) give exactly
    the cell of the checked slow path, ``str(dtype(value))``, and refuse what it
    refuses."""
    from xsz.format._values import _scalar

    with np.errstate(all="ignore"):
        try:
            value = kind(number)
        except (OverflowError, ValueError):
            return
    schema = Schema.build([("ID", str), ("A", CODES[code])], [("Raw", np.int16)])
    field = schema.attributes[1]
    raw = np.zeros(3, np.int16)
    with tempfile.TemporaryDirectory() as tmp:
        writer = SZWriter(Path(tmp) / "s.sz", schema, n_threads=0)
        try:
            try:
                want = str(_scalar(field, value, "r"))
            except RecordError:
                with pytest.raises(RecordError, match="'A'"):
                    writer.put("r", value, raw)
                with pytest.raises(RecordError, match="'A'"):
                    attribute_text(field, value, "r")
                return
            writer.put("r", value, raw)
            writer.close()
            assert (Path(tmp) / "s.sz" / "index").read_text().splitlines()[2].split("\t")[2:4] == [
                "r",
                want,
            ]
            assert attribute_text(field, value, "r") == want
        finally:
            writer.abort()


@pytest.mark.parametrize("code", ["F16", "F32", "F64", "F128"])
def test_every_nan_is_the_cell_nan_in_every_float_type(tmp_path, code):
    """NaN of any sign and payload, as a Python float or a numpy scalar, first or
    repeated: the cell is ``nan``, as ``str(dtype(value))`` prints it."""
    import struct

    nans = [
        struct.unpack("<d", struct.pack("<Q", bits))[0]
        for bits in (0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001, 0xFFFFFFFFFFFFFFFF)
    ]
    values = [*nans, *map(np.float64, nans), np.float32("nan"), 1.5, *nans]
    schema = Schema.build([("ID", str), ("A", CODES[code])], [("Raw", np.int16)])
    path = tmp_path / "s.sz"
    with SZWriter(path, schema, n_threads=0) as writer:
        for i, value in enumerate(values):
            writer.put(f"r{i}", value, np.zeros(2, np.int16))
    cells = [line.split("\t")[3] for line in (path / "index").read_text().splitlines()[2:]]
    with np.errstate(invalid="ignore"):  # a signalling NaN cast to a narrower type
        want = [str(CODES[code].type(v)) for v in values]
    assert cells == want and want.count("nan") == len(values) - 1
